//! `ufw`: one ufw rule, present or absent.
//!
//! ```kdl
//! package "ufw" "nginx-light"
//! ufw "OpenSSH"
//! ufw "Nginx Full" require="package:nginx-light"
//! ufw "8080/tcp"
//! ufw "ssh-limit" app="OpenSSH" action="limit"
//! ufw "postgres-from-lan" port=5432 proto="tcp" from="10.0.0.0/8"
//! ufw "smtp-out" action="deny" direction="out" port=25 proto="tcp"
//! ufw "old-web" state="absent"
//! ```
//!
//! Without rule properties the name is the rule, as on ufw's command line: an application
//! profile (`"Nginx Full"`, seed 002's `ufw allow 'Nginx Full'`) or a port
//! (`"8080/tcp"`, `"60000:61000/udp"`). With `port`, `app`, `proto`, `from`, `to`,
//! `direction` or `interface` the name is only a label and the rule is ufw's long form
//! (`allow in on IFACE proto P from A to B port N`). `action` is `allow` (default),
//! `deny`, `reject` or `limit`. Whether ufw itself is enabled, and its default policies,
//! belong to [`ufw-firewall`](super::ufw_firewall); rules can be added while ufw is
//! disabled (they take effect when it is enabled) and are added before it is enabled.
//!
//! **Identity: a comment tag.** Every rule converge adds carries ufw's `comment
//! 'converge:NAME'`, as `iptables` rules carry theirs. When the playbook changes a rule
//! (port 8080 becomes 8081), the old one is found by its tag and deleted instead of
//! staying open; `state="absent"` removes whatever carries the tag (and an untagged copy
//! of the named rule). A rule added by hand without the tag is adopted: ufw updates the
//! comment of an identical rule in place instead of adding a second one.
//!
//! **Probe.** `ufw --dry-run RULE comment TAG` asks ufw itself whether the rule exists
//! ("Skipping adding existing rule"): ufw normalises rules (`8080/tcp` is `proto tcp to
//! any port 8080`; an application is its ports), so comparing text would be wrong, and a
//! dry run neither needs ufw to be enabled (`ufw status` does) nor changes anything.
//! `ufw show added` lists the rules carrying the tag. A rule ufw refuses (an unknown
//! application profile: its package is not installed yet) is shown in the plan with ufw's
//! words, and applying it fails with them unless an earlier step fixed the cause.

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::{Sh, quote};
use crate::syntax::reader::NodeReader;

const ACTIONS: &[&str] = &["allow", "deny", "reject", "limit"];
const PROTOS: &[&str] = &["tcp", "udp", "ah", "esp", "gre", "ipv6", "igmp"];

#[derive(Debug)]
pub struct Ufw {
    name: String,
    action: &'static str,
    /// The rule's words after the action.
    words: Vec<String>,
    present: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub tool: bool,
    /// The dry run of the tagged rule says it exists (for IPv4 and, where enabled, IPv6).
    pub exact: bool,
    /// ufw refused the rule in the dry run.
    pub refused: Option<String>,
    /// An identical rule without the tag exists.
    pub untagged: bool,
    /// How many rules (IPv4 and IPv6 count apart) carry the tag in ufw's rule files.
    pub tuples: usize,
    /// How many the wanted rule makes (the dry run's "Skipping" lines).
    pub wanted_tuples: usize,
    /// Every rule carrying the tag, as `ufw show added` prints it (read only when some
    /// rule carrying the tag is not the wanted one).
    pub tagged: Vec<String>,
}

/// Letters, digits, space and `._:/,+-`: a name survives as a ufw comment and in `show
/// added`'s quoting unchanged.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.trim() == s
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b" ._:/,+-".contains(&b))
}

/// An address, network or `any` for `from`/`to`.
fn valid_address(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.bytes().all(|b| b.is_ascii_hexdigit() || b"./:any".contains(&b))
}

/// `22`, `80,443`, `6000:6007` (ufw checks the rest).
fn valid_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b",:".contains(&b))
}

/// Lines of a dry run, each kept as ufw printed it.
fn dry_present(lines: &[&str]) -> bool {
    lines.iter().any(|l| l.starts_with("Skipping adding existing rule")) && !lines.iter().any(|l| l.starts_with("Rule"))
}

impl Ufw {
    fn tag(&self) -> String {
        format!("converge:{}", self.name)
    }

    /// `ufw allow 'Nginx Full'`, as the plan shows it.
    fn display(&self) -> String {
        let mut out = format!("ufw {}", self.action);
        for w in &self.words {
            out.push(' ');
            out.push_str(&quote(w));
        }
        out
    }

    /// `ufw [--dry-run] ACTION WORDS`.
    fn command(&self, dry: bool, sh: &mut Sh) {
        sh.raw(if dry { "ufw --dry-run " } else { "ufw " }).raw(self.action);
        for w in &self.words {
            sh.sp().q(w);
        }
    }

    fn in_sync(&self, s: &State) -> bool {
        if self.present { s.exact && s.tuples == s.wanted_tuples } else { s.tuples == 0 && !s.untagged }
    }

    /// The tag as ufw stores it in its rule files: `comment=` and the hex of its bytes.
    fn stored_tag(&self) -> String {
        let hex: String = self.tag().bytes().map(|b| format!("{b:02x}")).collect();
        format!(" comment={hex}")
    }

    fn read_words(r: &mut NodeReader, name: &Spanned<String>) -> Vec<String> {
        let app = r.nonempty("app");
        let port = r.string_or_int("port");
        let proto = r.choice("proto", PROTOS);
        let from = r.nonempty("from");
        let to = r.nonempty("to");
        let direction = r.choice("direction", &["in", "out"]);
        let interface = r.nonempty("interface");
        let long = app.is_some()
            || port.is_some()
            || proto.is_some()
            || from.is_some()
            || to.is_some()
            || direction.is_some()
            || interface.is_some();
        if !long {
            return vec![name.value.clone()];
        }
        if let (Some(a), Some(_)) = (&app, &port) {
            r.exclusive(a, "app", "port");
        }
        if let (Some(a), Some(_)) = (&app, proto) {
            r.exclusive(a, "app", "proto");
        }
        for a in [&from, &to].into_iter().flatten() {
            if !valid_address(&a.value) {
                r.error(
                    Diag::new(Code::Ufw, format!("`{}` is not an address", a.value), &a.at, "invalid address")
                        .help("give an address, a network like 10.0.0.0/8, or \"any\""),
                );
            }
        }
        if let Some(p) = &port
            && !valid_port(&p.value)
        {
            r.error(
                Diag::new(Code::Ufw, format!("`{}` is not a port", p.value), &p.at, "invalid port")
                    .help("a port, a list `80,443` or a range `6000:6007` (with proto)"),
            );
        }
        if let Some(i) = &interface
            && !i.value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
        {
            r.error(Diag::new(Code::Ufw, format!("`{}` is not an interface", i.value), &i.at, "invalid"));
        }
        if let Some(a) = &app
            && !valid_name(&a.value)
        {
            r.error(Diag::new(Code::Ufw, format!("`{}` is not an application", a.value), &a.at, "invalid"));
        }
        let mut w: Vec<String> = Vec::new();
        if direction.is_some() || interface.is_some() {
            w.push(direction.unwrap_or("in").to_string());
        }
        if let Some(i) = interface {
            w.extend(["on".to_string(), i.value]);
        }
        if let Some(p) = proto {
            w.extend(["proto".to_string(), p.to_string()]);
        }
        w.extend(["from".to_string(), from.map_or("any".into(), |f| f.value)]);
        w.extend(["to".to_string(), to.map_or("any".into(), |t| t.value)]);
        if let Some(p) = port {
            w.extend(["port".to_string(), p.value]);
        }
        if let Some(a) = app {
            w.extend(["app".to_string(), a.value]);
        }
        w
    }
}

impl Kind for Ufw {
    const KIND: &'static str = "ufw";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Ufw> {
        let name = r.arg("a rule name")?;
        let action = r.choice("action", ACTIONS).unwrap_or("allow");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let words = Self::read_words(r, &name);
        if !valid_name(&name.value) {
            r.error(
                Diag::new(
                    Code::Ufw,
                    format!("`{}` cannot name a ufw rule", name.value),
                    &name.at,
                    "invalid name",
                )
                .help(
                    "a name is up to 64 letters, digits, spaces and `._:/,+-` (it becomes the comment converge:NAME)",
                ),
            );
        }
        if r.failed() {
            return None;
        }
        Some(Ufw { name: name.value, action, words, present })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        vec![Implicit::new("package", "ufw", "ufw")]
    }

    fn probe(&self, sh: &mut Sh) {
        let tag = self.tag();
        sh.set("tag", &tag);
        sh.set("pat", &format!(" comment '{tag}'"));
        sh.set("stored", &self.stored_tag());
        sh.raw("if ! command -v ufw >/dev/null 2>&1; then echo tool=missing; else echo tool=ok\n");
        // counting the tagged rules in ufw's files needs no python; `ufw show added`
        // (their command form, to delete them) runs only when one is not the wanted rule
        sh.raw("n=$(cat /etc/ufw/user.rules /etc/ufw/user6.rules 2>/dev/null | grep -c -e \"$stored\\$\"); printf '%s\\n' \"tuples=$n\"\n");
        if self.present {
            sh.raw("d=$(");
            self.command(true, sh);
            sh.raw(" comment \"$tag\" 2>&1 | grep -E '^(Skipping|Rule|ERROR)')\nprintf '%s\\n' \"$d\" | sed -n '/./s/^/dry=/p'\n");
            sh.raw("k=$(printf '%s\\n' \"$d\" | grep -c '^Skipping'); case $d in *Rule*|*ERROR*) k=-1;; esac\n");
        } else {
            sh.raw("k=0\n");
        }
        sh.raw("if [ \"$n\" -gt 0 ] && [ \"$n\" -ne \"$k\" ]; then ufw show added 2>&1 | grep -F -- \"$pat\" | sed 's/^/tagged=/'; fi\n");
        if self.present {
            // an untagged copy matters only when the tagged rule is not there
            sh.raw("case $d in *Rule*|*ERROR*|'') ");
            self.command(true, sh);
            sh.raw(" 2>&1 | grep -E '^(Skipping|Rule|ERROR)' | sed 's/^/plain=/';; esac\n");
        } else {
            self.command(true, sh);
            sh.raw(" 2>&1 | grep -E '^(Skipping|Rule|ERROR)' | sed 's/^/plain=/'\n");
        }
        sh.raw("fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let tool = rec.tool()?;
        let dry = rec.all("dry");
        if tool && self.present && dry.is_empty() {
            return Err(ProbeError("ufw's dry run printed nothing".into()));
        }
        let pat = format!(" comment '{}'", self.tag());
        let tagged: Vec<String> = rec.all("tagged").into_iter().map(str::to_string).collect();
        for t in &tagged {
            if !t.starts_with("ufw ") || !t.ends_with(&pat) || shlex::split(t).is_none() {
                return Err(ProbeError(format!("unexpected rule in `ufw show added`: {t:?}")));
            }
        }
        let plain = rec.all("plain");
        Ok(State {
            tool,
            exact: dry_present(&dry),
            refused: dry.iter().find(|l| l.starts_with("ERROR")).map(|l| l.to_string()),
            untagged: dry_present(&plain),
            tuples: if tool { rec.num("tuples")? } else { 0 },
            wanted_tuples: dry.iter().filter(|l| l.starts_with("Skipping")).count(),
            tagged,
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        if self.in_sync(state) {
            return Diff::ok();
        }
        let mut before: Vec<String> = state.tagged.clone();
        if state.untagged {
            before.push(format!("{} (without the converge comment)", self.display()));
        }
        let before = (!before.is_empty()).then(|| before.join("; "));
        if !self.present {
            return Diff::new(Action::Remove, vec![Change::new("rule", before, None)]);
        }
        let action = if before.is_none() { Action::Create } else { Action::Change };
        let before = match (&state.refused, before) {
            (Some(why), b) => Some(format!("{} (ufw says: {why})", b.as_deref().unwrap_or("(absent)"))),
            (None, b) => b,
        };
        Diff::new(action, vec![Change::new("rule", before, Some(self.display()))])
    }

    fn steps(&self, state: &State, _diff: &Diff, sh: &mut Sh) {
        sh.raw("command -v ufw >/dev/null 2>&1 || { echo 'ufw is not installed' >&2; exit 1; }\n");
        sh.set("tag", &self.tag());
        for t in &state.tagged {
            let words = shlex::split(t).unwrap_or_default();
            sh.raw("ufw --force delete");
            for w in words.iter().skip(1) {
                sh.sp().q(w);
            }
            sh.nl();
        }
        if self.present {
            // an untagged copy gets the tag in place
            self.command(false, sh);
            sh.raw(" comment \"$tag\"\n");
        } else if state.untagged {
            sh.raw("ufw --force delete ").raw(self.action);
            for w in &self.words {
                sh.sp().q(w);
            }
            sh.nl();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, words: &[&str]) -> Ufw {
        Ufw { name: name.into(), action: "allow", words: words.iter().map(|w| w.to_string()).collect(), present: true }
    }

    fn plan(k: &Ufw, out: &str) -> (Diff, String) {
        crate::resources::plan_of(k, out)
    }

    const NEW: &str = "tool=ok\ntuples=0\ndry=Rules updated\ndry=Rules updated (v6)\n";
    const THERE: &str =
        "tool=ok\ntuples=2\ndry=Skipping adding existing rule\ndry=Skipping adding existing rule (v6)\n";

    #[test]
    fn seed_002_nginx_full_is_added_with_its_tag() {
        let k = rule("Nginx Full", &["Nginx Full"]);
        let (diff, sh) = plan(&k, NEW);
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes, vec![Change::new("rule", None, Some("ufw allow 'Nginx Full'".into()))]);
        assert_eq!(
            sh,
            "command -v ufw >/dev/null 2>&1 || { echo 'ufw is not installed' >&2; exit 1; }\ntag='converge:Nginx Full'\nufw allow 'Nginx Full' comment \"$tag\"\n"
        );
        assert!(plan(&k, THERE).0.is_ok());
        // a second rule carrying the tag (an older version): read, deleted, the rule re-added
        let two = THERE.replace("tuples=2", "tuples=3")
            + "tagged=ufw allow 8080/tcp comment 'converge:Nginx Full'\ntagged=ufw allow 'Nginx Full' comment 'converge:Nginx Full'\n";
        let (diff, sh) = plan(&k, &two);
        assert_eq!(diff.action, Action::Change);
        assert!(sh.contains("ufw --force delete allow 8080/tcp comment 'converge:Nginx Full'\n"), "{sh}");
        assert!(sh.ends_with("ufw allow 'Nginx Full' comment \"$tag\"\n"), "{sh}");
    }

    #[test]
    fn probe_asks_ufw_with_a_dry_run() {
        let k = rule("Nginx Full", &["Nginx Full"]);
        let mut sh = Sh::new();
        k.probe(&mut sh);
        let text = sh.text();
        assert!(text.contains("ufw --dry-run allow 'Nginx Full' comment \"$tag\""), "{text}");
        assert!(text.contains("ufw show added"), "{text}");
        assert!(text.contains("stored=' comment=636f6e76657267653a4e67696e782046756c6c'"), "{text}");
        assert!(text.contains(&format!("pat={}\n", quote(" comment 'converge:Nginx Full'"))), "{text}");
    }

    #[test]
    fn a_changed_rule_deletes_the_old_tagged_one() {
        let k = rule("web", &["from", "any", "to", "any", "port", "8081"]);
        let out = "tool=ok\ntuples=1\ntagged=ufw allow 8080/tcp comment 'converge:web'\ndry=Rules updated\n";
        let (diff, sh) = plan(&k, out);
        assert_eq!(diff.action, Action::Change);
        assert_eq!(diff.changes[0].before(), Some("ufw allow 8080/tcp comment 'converge:web'"));
        assert_eq!(diff.changes[0].after(), Some("ufw allow from any to any port 8081"));
        assert!(sh.contains("ufw --force delete allow 8080/tcp comment converge:web\n"), "{sh}");
        assert!(sh.ends_with("ufw allow from any to any port 8081 comment \"$tag\"\n"), "{sh}");
    }

    #[test]
    fn an_untagged_rule_is_adopted_in_place() {
        let k = rule("Nginx Full", &["Nginx Full"]);
        let out = "tool=ok\ntuples=0\ndry=Rules updated\nplain=Skipping adding existing rule\nplain=Skipping adding existing rule (v6)\n";
        let (diff, sh) = plan(&k, out);
        assert_eq!(diff.action, Action::Change);
        assert!(!sh.contains("delete"), "ufw updates the comment of the same rule: {sh}");
    }

    #[test]
    fn absent_deletes_tagged_and_untagged_copies() {
        let k = Ufw { present: false, ..rule("Nginx Full", &["Nginx Full"]) };
        let out = "tool=ok\ntuples=2\ntagged=ufw allow 'Nginx Full' comment 'converge:Nginx Full'\nplain=Skipping adding existing rule\n";
        let (diff, sh) = plan(&k, out);
        assert_eq!(diff.action, Action::Remove);
        assert!(sh.contains("ufw --force delete allow 'Nginx Full' comment 'converge:Nginx Full'\n"), "{sh}");
        assert!(sh.ends_with("ufw --force delete allow 'Nginx Full'\n"), "{sh}");
        assert!(plan(&k, "tool=ok\ntuples=0\nplain=ERROR: Could not find a profile matching 'Nginx Full'\n").0.is_ok());
        assert!(plan(&k, "tool=missing\n").0.is_ok());
    }

    #[test]
    fn a_refused_rule_shows_why() {
        let k = rule("Nginx Full", &["Nginx Full"]);
        let out = "tool=ok\ntuples=0\ndry=ERROR: Could not find a profile matching 'Nginx Full'\n";
        let (diff, _) = plan(&k, out);
        assert_eq!(
            diff.changes[0].before(),
            Some("(absent) (ufw says: ERROR: Could not find a profile matching 'Nginx Full')")
        );
    }

    #[test]
    fn malformed_output_is_an_error() {
        let k = rule("web", &["8080/tcp"]);
        assert!(k.parse("tool=ok\n").is_err(), "no dry run");
        assert!(k.parse("tool=ok\ntuples=x\ndry=Rules updated\n").is_err());
        assert!(k.parse("tool=ok\ntuples=1\ndry=Rules updated\ntagged=rm -rf / comment 'converge:web'\n").is_err());
        assert!(k.parse("tool=ok\ntuples=1\ndry=Rules updated\ntagged=ufw allow 'x comment 'converge:web'\n").is_err());
        // a missing tool: the package comes first in the same run
        let (diff, _) = plan(&k, "tool=missing\n");
        assert_eq!(diff.action, Action::Create);
    }

    #[test]
    fn names_and_values_are_checked() {
        assert!(valid_name("Nginx Full") && valid_name("8080/tcp") && valid_name("6000:6007/tcp"));
        assert!(!valid_name("it's") && !valid_name(" x") && !valid_name("-x") && !valid_name("a$b"));
        assert!(valid_address("10.0.0.0/8") && valid_address("any") && valid_address("2001:db8::/32"));
        assert!(!valid_address("10.0.0.0/8; rm") && !valid_address("--help"));
        assert!(valid_port("80,443") && valid_port("6000:6007") && !valid_port("80/tcp"));
    }
}
