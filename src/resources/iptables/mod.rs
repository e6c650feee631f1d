//! `iptables`: one iptables (or ip6tables) rule, present or absent, and kept across reboots.
//!
//! ```kdl
//! package "iptables-persistent"
//! iptables "http-to-gunicorn" table="nat" chain="PREROUTING" rule="-p tcp --dport 80 -j REDIRECT --to-ports 8080"
//! iptables "ssh-first" chain="INPUT" rule="-p tcp --dport 22 -j ACCEPT" position=1
//! iptables "web6" family="ipv6" chain="INPUT" rule="-p tcp --dport 443 -j ACCEPT"
//! iptables "lab-only" chain="INPUT" rule="-p udp --dport 5353 -j DROP" persist=#false
//! iptables "old-redirect" state="absent"
//! ```
//!
//! **Identity: a comment tag.** Every rule converge adds carries `-m comment --comment
//! converge:NAME`. The tag is what makes a rule addressable by its resource name: when
//! the playbook changes a rule (port 80 becomes 81), the old rule is found by its tag and
//! removed instead of staying open forever; `state="absent"` needs only the name; and a
//! rule that appears twice is noticed. An identical rule without the tag (added by hand,
//! as seed 000's runbook did) is adopted: removed and added again with the tag, never
//! duplicated. Rules converge does not manage are never touched.
//!
//! **Probe.** Presence is asked of iptables itself: `iptables -C` with the wanted words
//! and the tag is an exact semantic check (iptables canonicalises rules, adding `-m tcp`
//! and reordering, so comparing the text of `-S` with what was written would never
//! match). `iptables-save` lists every rule carrying the tag, in every table, with its
//! chain and position; `-C` without the tag looks for an untagged copy. The saved rules
//! file is read for the same tag, and the restore-at-boot unit's enablement is asked of
//! systemd. A rule iptables refuses (`-C` exits 2: an unknown option, a missing chain) is
//! shown in the plan with iptables' words; applying it fails with them.
//!
//! **Apply.** Only when the live rule differs: every tagged copy is deleted (exactly, by
//! feeding `iptables-save`'s own lines back as `-D` lines to `iptables-restore
//! --noflush`), an untagged copy too, and the rule is added with `-A`, or `-I CHAIN N`
//! with `position=N`. A missing user-defined chain is created first.
//!
//! **Persistence** (`persist.rs`): by default the rule is also saved, by editing its line
//! in the file the host restores at boot (Debian's `netfilter-persistent`, RHEL's
//! `iptables-services`).
//!
//! What `rule` may hold (words split on the controller, each quoted again; command words
//! refused at the token) and a rule's line as `iptables-save` prints it: `rule.rs`.

mod persist;
mod rule;

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag};
use crate::script::{Sh, quote};
use crate::syntax::reader::NodeReader;
pub use persist::{Backend, Saved};
pub use rule::Entry;
use rule::{AWK_DELETE, AWK_LIST, AWK_TAGGED_FN, TABLES, builtin_chain};

#[derive(Debug)]
pub struct Iptables {
    name: String,
    family: Family,
    table: &'static str,
    chain: Option<String>,
    /// The rule's words, as split on the controller.
    words: Vec<String>,
    present: bool,
    position: Option<u32>,
    persist: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// Sets `$ipt`, `$ipt_save` and `$ipt_restore`.
    fn set_tools(self, sh: &mut Sh) {
        sh.raw(match self {
            Family::V4 => "ipt=iptables; ipt_save=iptables-save; ipt_restore=iptables-restore\n",
            Family::V6 => "ipt=ip6tables; ipt_save=ip6tables-save; ipt_restore=ip6tables-restore\n",
        });
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The iptables tool is installed.
    pub tool: bool,
    /// `-C` found the wanted rule with its tag.
    pub exact: bool,
    /// `-C` found the wanted rule without the tag.
    pub untagged: bool,
    /// iptables refused the rule when checking it (its first line of complaint).
    pub refused: Option<String>,
    /// The user-defined chain does not exist.
    pub chain_missing: bool,
    /// Every live rule carrying the tag.
    pub live: Vec<Entry>,
    /// Persistence, when managed.
    pub saved: Option<Saved>,
}

impl Iptables {
    fn tag(&self) -> String {
        format!("converge:{}", self.name)
    }

    /// The rule as the plan shows it: `-t nat -A PREROUTING -p tcp ...`.
    fn display(&self) -> String {
        let mut out = format!("-t {} ", self.table);
        let chain = self.chain.as_deref().unwrap_or("");
        match self.position {
            Some(n) => out.push_str(&format!("-I {chain} {n}")),
            None => out.push_str(&format!("-A {chain}")),
        }
        for w in &self.words {
            out.push(' ');
            out.push_str(&quote(w));
        }
        out
    }

    fn user_chain(&self) -> Option<&str> {
        self.chain.as_deref().filter(|c| !builtin_chain(self.table, c))
    }

    /// `"$ipt" -w 5 -t "$t"`, then the caller's operation.
    fn ipt(sh: &mut Sh) {
        sh.raw("\"$ipt\" -w 5 -t \"$t\" ");
    }

    fn words(&self, sh: &mut Sh) {
        for w in &self.words {
            sh.sp().q(w);
        }
    }

    fn set_vars(&self, sh: &mut Sh) {
        self.family.set_tools(sh);
        sh.set("t", self.table);
        sh.set("c", self.chain.as_deref().unwrap_or(""));
        sh.set("tag", &self.tag());
    }

    /// `"$ipt" -w 5 -t "$t" -C "$c" WORDS [TAG]`, quiet, as a condition.
    fn check(&self, tagged: bool, sh: &mut Sh) {
        Self::ipt(sh);
        sh.raw("-C \"$c\"");
        self.words(sh);
        if tagged {
            sh.raw(" -m comment --comment \"$tag\"");
        }
    }

    fn live_in_sync(&self, s: &State) -> bool {
        let [only] = s.live.as_slice() else { return false };
        s.exact
            && !s.untagged
            && only.table == self.table
            && Some(only.chain.as_str()) == self.chain.as_deref()
            && self.position.is_none_or(|p| only.index == p)
    }

    fn live_changes(&self, s: &State) -> Option<Change> {
        let before: Vec<String> = s.live.iter().map(Entry::show).collect();
        if !self.present {
            let mut before = before;
            if s.untagged {
                before.push(format!("{} (untagged)", self.display()));
            }
            return (!before.is_empty()).then(|| Change::new("rule", Some(before.join("; ")), None));
        }
        if self.live_in_sync(s) {
            return None;
        }
        let mut before = before;
        if s.untagged {
            before.push(format!("{} (untagged)", self.display()));
        }
        let mut before = (!before.is_empty()).then(|| before.join("; "));
        if let Some(why) = &s.refused {
            before = Some(format!("{} (iptables says: {why})", before.as_deref().unwrap_or("(absent)")));
        }
        Some(Change::new("rule", before, Some(self.display())))
    }
}

impl Kind for Iptables {
    const KIND: &'static str = "iptables";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Iptables> {
        let name = r.arg("a rule name");
        let family = match r.choice("family", &["ipv4", "ipv6"]) {
            Some("ipv6") => Family::V6,
            _ => Family::V4,
        };
        let table = r.choice("table", TABLES).unwrap_or("filter");
        let chain = r.nonempty("chain");
        let rule = r.nonempty("rule");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let position = r.int::<u32>("position");
        let persist = r.bool("persist").unwrap_or(true);
        let name = name?;
        rule::check_name(r, &name);
        if let Some(c) = &chain {
            rule::check_chain(r, c);
        }
        let words = rule.as_ref().map(|text| rule::split(r, text)).unwrap_or_default();
        if present {
            if chain.is_none() || rule.is_none() {
                let at = r.at();
                r.error(
                    Diag::new(Code::Missing, "a present iptables rule needs `chain` and `rule`", &at, "incomplete")
                        .help("e.g. `chain=\"INPUT\" rule=\"-p tcp --dport 22 -j ACCEPT\"`"),
                );
            }
        } else {
            if let Some(p) = &position {
                r.error(Diag::new(Code::Conflict, "an absent rule has no position", &p.at, "remove this"));
            }
            if let (Some(rule), None) = (&rule, &chain) {
                r.error(Diag::new(
                    Code::Missing,
                    "removing a rule by its words needs its `chain`",
                    &rule.at,
                    "no chain given",
                ));
            }
        }
        if let Some(p) = &position
            && p.value == 0
        {
            r.error(Diag::new(Code::Range, "positions start at 1", &p.at, "out of range"));
        }
        if r.failed() {
            return None;
        }
        Some(Iptables {
            name: name.value,
            family,
            table,
            chain: chain.map(|c| c.value),
            words,
            present,
            position: position.map(|p| p.value),
            persist,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = vec![Implicit::new("package", "iptables", "iptables tools")];
        if self.persist {
            for p in ["iptables-persistent", "netfilter-persistent", "iptables-services"] {
                d.push(Implicit::new("package", p, "restores rules at boot"));
            }
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        self.set_vars(sh);
        sh.raw("if ! command -v \"$ipt\" >/dev/null 2>&1; then echo tool=missing; else echo tool=ok\n");
        if self.chain.is_some() && !self.words.is_empty() {
            sh.raw("if e=$(");
            self.check(true, sh);
            sh.raw(" 2>&1); then echo exact=1; else rc=$?; echo exact=0; if [ $rc -ne 1 ]; then printf '%s\\n' \"refused=$(printf '%s\\n' \"$e\" | grep -v '^#' | head -n 1)\"; fi; fi\n");
            sh.raw("if ");
            self.check(false, sh);
            sh.raw(" >/dev/null 2>&1; then echo untagged=1; else echo untagged=0; fi\n");
        }
        if self.present && self.user_chain().is_some() {
            sh.raw("if ! \"$ipt\" -w 5 -t \"$t\" -n -L \"$c\" >/dev/null 2>&1; then echo chain=missing; fi\n");
        }
        sh.raw("lv=$(\"$ipt_save\" | CV_TAG=\"$tag\" CV_PRE=live= awk '")
            .raw(AWK_TAGGED_FN)
            .raw(AWK_LIST)
            .raw("'); [ -z \"$lv\" ] || printf '%s\\n' \"$lv\"\nfi\n");
        if self.persist {
            self.family.detect_backend(sh);
            sh.raw("printf '%s\\n' \"persist=$backend\"; printf '%s\\n' \"file=$f\"\n");
            sh.raw("if [ -n \"$unit\" ]; then printf '%s\\n' \"boot=$(systemctl is-enabled -- \"$unit\" 2>/dev/null)\"; fi\n");
            sh.raw("if [ -n \"$f\" ] && [ -f \"$f\" ]; then CV_LIVE=$(printf '%s\\n' \"${lv:-}\" | sed -n '1s/^live=//p') CV_TAG=\"$tag\" CV_PRE=saved= awk '")
                .raw(AWK_TAGGED_FN)
                .raw(AWK_LIST)
                .raw("' \"$f\"; fi\n");
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let tool = rec.tool()?;
        let flag = |key: &str| -> Result<bool, ProbeError> {
            match rec.get(key) {
                None | Some("0") => Ok(false),
                Some("1") => Ok(true),
                Some(other) => Err(ProbeError(format!("unexpected {key}={other:?}"))),
            }
        };
        if tool && self.chain.is_some() && !self.words.is_empty() && !rec.has("exact") {
            return Err(ProbeError("probe output lacks `exact`".into()));
        }
        let live = rec.all("live").into_iter().map(Entry::parse).collect::<Result<Vec<_>, _>>()?;
        let saved = if self.persist {
            Some(Saved {
                backend: Backend::parse(rec.req("persist")?)?,
                file: rec.req("file")?.to_string(),
                boot: rec.get("boot").unwrap_or("").to_string(),
                entries: rec.all("saved").into_iter().map(Entry::parse).collect::<Result<Vec<_>, _>>()?,
                untagged: rec.all("saved_untagged").into_iter().map(Entry::parse).collect::<Result<Vec<_>, _>>()?,
            })
        } else {
            None
        };
        Ok(State {
            tool,
            exact: flag("exact")?,
            untagged: flag("untagged")?,
            refused: rec.get("refused").filter(|s| !s.is_empty()).map(str::to_string),
            chain_missing: rec.get("chain") == Some("missing"),
            live,
            saved,
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        if self.present
            && state.chain_missing
            && let Some(c) = self.user_chain()
        {
            changes.push(Change::new("chain", None, Some(format!("-t {} -N {c}", self.table))));
        }
        let live = self.live_changes(state);
        let creates = live.as_ref().is_some_and(|c| c.before().is_none());
        let live_changes = live.is_some();
        changes.extend(live);
        changes.extend(self.persist_changes(state, live_changes));
        let action = match () {
            _ if !self.present => Action::Remove,
            _ if creates || state.live.is_empty() && !state.untagged => Action::Create,
            _ => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, _state: &State, diff: &Diff, sh: &mut Sh) {
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f || c.field().starts_with(&format!("{f} ")));
        let live = has("rule");
        let saves = has("saved");
        let boot = has("restored at boot");
        self.set_vars(sh);
        if self.present || live {
            sh.raw(
                "command -v \"$ipt\" >/dev/null 2>&1 || { printf '%s\\n' \"$ipt is not installed\" >&2; exit 1; }\n",
            );
        }
        if saves || boot {
            self.family.detect_backend(sh);
            if self.present {
                sh.raw("case $backend in debian|rhel) ;; *) echo \"cannot keep the rule across reboots: install iptables-persistent (Debian) or iptables-services (RHEL), or set persist=#false\" >&2; exit 1;; esac\n");
            }
        }
        if has("chain") {
            Self::ipt(sh);
            sh.raw("-N \"$c\"\n");
        }
        if live {
            sh.raw("\"$ipt_save\" | CV_TAG=\"$tag\" awk '")
                .raw(AWK_TAGGED_FN)
                .raw(AWK_DELETE)
                .raw("' | \"$ipt_restore\" -w 5 --noflush\n");
            if self.chain.is_some() && !self.words.is_empty() {
                sh.raw("n=0; while ");
                self.check(false, sh);
                sh.raw(" 2>/dev/null && [ $n -lt 100 ]; do ");
                Self::ipt(sh);
                sh.raw("-D \"$c\"");
                self.words(sh);
                sh.raw("; n=$((n + 1)); done\n");
            }
            if self.present {
                Self::ipt(sh);
                match self.position {
                    Some(p) => sh.raw("-I \"$c\" ").num(p),
                    None => sh.raw("-A \"$c\""),
                };
                self.words(sh);
                sh.raw(" -m comment --comment \"$tag\"\n");
            }
        }
        if saves {
            self.save(sh);
        }
        if boot {
            sh.raw("systemctl enable --quiet -- \"$unit\"\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn redirect() -> Iptables {
        Iptables {
            name: "http-to-gunicorn".into(),
            family: Family::V4,
            table: "nat",
            chain: Some("PREROUTING".into()),
            words: shlex::split("-p tcp --dport 80 -j REDIRECT --to-ports 8080").expect("words"),
            present: true,
            position: None,
            persist: true,
        }
    }

    const LIVE: &str = "-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:http-to-gunicorn\" -j REDIRECT --to-ports 8080";

    fn probe_out(exact: bool, live: &[&str], persist: &str, saved: &[&str]) -> String {
        let mut out = format!("tool=ok\nexact={}\nuntagged=0\n", u8::from(exact));
        for l in live {
            out.push_str(&format!("live={l}\n"));
        }
        out.push_str(persist);
        for l in saved {
            out.push_str(&format!("saved={l}\n"));
        }
        out
    }

    const DEBIAN: &str = "persist=debian\nfile=/etc/iptables/rules.v4\nboot=enabled\n";
    const RHEL: &str = "persist=rhel\nfile=/etc/sysconfig/iptables\nboot=disabled\n";

    fn plan(k: &Iptables, out: &str) -> (Diff, String) {
        crate::resources::plan_of(k, out)
    }

    #[test]
    fn a_new_rule_is_added_tagged_and_saved() {
        let k = redirect();
        let (diff, sh) = plan(&k, &probe_out(false, &[], DEBIAN, &[]));
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::new(
                    "rule",
                    None,
                    Some("-t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080".into())
                ),
                Change::new("saved", None, Some("/etc/iptables/rules.v4".into())),
            ]
        );
        assert!(
            sh.contains(
                "\"$ipt\" -w 5 -t \"$t\" -A \"$c\" -p tcp --dport 80 -j REDIRECT --to-ports 8080 -m comment --comment \"$tag\"\n"
            ),
            "{sh}"
        );
        assert!(sh.contains("tag=converge:http-to-gunicorn\n"), "{sh}");
        assert!(sh.contains("f=/etc/iptables/rules.v4"), "{sh}");
        assert!(sh.contains("--test < \"$new\""), "{sh}");
        assert!(!sh.contains("systemctl enable"), "already enabled: {sh}");
    }

    #[test]
    fn in_sync_when_live_and_saved_agree() {
        let k = redirect();
        let entry = format!("nat PREROUTING 1 {LIVE}");
        let (diff, _) = plan(&k, &probe_out(true, &[&entry], DEBIAN, &[&entry]));
        assert!(diff.is_ok(), "{diff:?}");
        // saved differently (an older version of the rule): only the file is rewritten
        let old = entry.replace("8080", "8081");
        let (diff, sh) = plan(&k, &probe_out(true, &[&entry], DEBIAN, &[&old]));
        assert_eq!(diff.changes.len(), 1, "{diff:?}");
        assert_eq!(diff.changes[0].field(), "saved");
        assert!(!sh.contains("-A \"$c\""), "the live rule is left alone: {sh}");
        assert!(sh.contains("mv -f -- \"$new\" \"$f\""), "{sh}");
    }

    #[test]
    fn a_changed_rule_replaces_the_old_one_found_by_its_tag() {
        let k = redirect();
        let old = format!("nat PREROUTING 1 {}", LIVE.replace("8080", "8081"));
        let (diff, sh) = plan(&k, &probe_out(false, &[&old], DEBIAN, &[&old]));
        assert_eq!(diff.action, Action::Change);
        assert_eq!(
            diff.changes[0].before(),
            Some(
                "-t nat -A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:http-to-gunicorn\" -j REDIRECT --to-ports 8081"
            )
        );
        let delete = sh.find("--noflush").expect("tagged rules deleted");
        let add = sh.find("-A \"$c\"").expect("added");
        assert!(delete < add, "{sh}");
    }

    #[test]
    fn an_untagged_copy_is_adopted_not_duplicated() {
        let k = redirect();
        let out = "tool=ok\nexact=0\nuntagged=1\n".to_string() + DEBIAN;
        let (diff, sh) = plan(&k, &out);
        assert_eq!(diff.action, Action::Change);
        assert!(diff.changes[0].before().is_some_and(|b| b.ends_with("(untagged)")), "{diff:?}");
        assert!(sh.contains("-D \"$c\" -p tcp --dport 80"), "{sh}");
    }

    #[test]
    fn position_is_checked_and_inserted() {
        let mut k = redirect();
        k.position = Some(1);
        let entry = format!("nat PREROUTING 2 {LIVE}");
        let (diff, sh) = plan(&k, &probe_out(true, &[&entry], DEBIAN, &[&entry]));
        assert_eq!(diff.changes[0].after().map(|a| a.starts_with("-t nat -I PREROUTING 1 ")), Some(true));
        assert!(sh.contains("-I \"$c\" 1 -p tcp"), "{sh}");
    }

    #[test]
    fn the_rhel_path_saves_to_sysconfig_and_enables_iptables_service() {
        let k = redirect();
        let (diff, sh) = plan(&k, &probe_out(false, &[], RHEL, &[]));
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["rule", "saved", "restored at boot"]);
        assert_eq!(diff.changes[1].after(), Some("/etc/sysconfig/iptables"));
        assert_eq!(diff.changes[2].after(), Some("enabled (iptables.service)"));
        assert!(sh.contains("f=/etc/sysconfig/iptables; unit=iptables.service"), "{sh}");
        assert!(sh.contains("systemctl enable --quiet -- \"$unit\""), "{sh}");
        // a missing package is named
        let missing = "persist=rhel-missing\nfile=/etc/sysconfig/iptables\nboot=\n";
        let (diff, _) = plan(&k, &probe_out(false, &[], missing, &[]));
        assert_eq!(diff.changes[1].after(), Some("/etc/sysconfig/iptables (needs iptables-services)"));
    }

    #[test]
    fn absent_removes_by_tag_live_and_saved() {
        let k = Iptables { present: false, words: Vec::new(), chain: None, ..redirect() };
        let entry = format!("nat PREROUTING 1 {LIVE}");
        let out = format!("tool=ok\nlive={entry}\n{DEBIAN}saved={entry}\n");
        let (diff, sh) = plan(&k, &out);
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes[0].after(), None);
        assert_eq!(diff.changes[1].field(), "saved in /etc/iptables/rules.v4");
        assert!(sh.contains("--noflush"), "{sh}");
        assert!(!sh.contains("-A \"$c\""), "{sh}");
        assert!(!sh.contains("case $backend"), "removing needs no backend check: {sh}");
        let (diff, _) = plan(&k, &format!("tool=ok\n{DEBIAN}"));
        assert!(diff.is_ok());
    }

    #[test]
    fn malformed_probe_output_is_an_error() {
        let k = redirect();
        assert!(k.parse("tool=ok\n").is_err(), "no exact=");
        assert!(k.parse(&probe_out(true, &["nat PREROUTING x -A PREROUTING"], DEBIAN, &[])).is_err());
        assert!(k.parse(&probe_out(true, &[], "persist=bsd\nfile=\n", &[])).is_err());
        assert!(k.parse("tool=maybe\n").is_err());
    }

    #[test]
    fn the_probe_lists_tagged_rules_with_their_position() {
        let save = format!(
            "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j ACCEPT\n{}\nCOMMIT\n",
            LIVE.replace("http-to-gunicorn", "web")
        );
        let program = format!("{AWK_TAGGED_FN}{AWK_LIST}");
        let out = Command::new("sh")
            .arg("-c")
            .arg("printf '%s' \"$1\" | CV_TAG=converge:web CV_PRE=live= awk \"$2\"")
            .args(["sh", &save, &program])
            .output()
            .expect("sh");
        let out = String::from_utf8(out.stdout).expect("utf8");
        assert_eq!(out, format!("live=nat PREROUTING 2 {}\n", LIVE.replace("http-to-gunicorn", "web")));
        let k = redirect();
        let state = k.parse(&format!("tool=ok\nexact=0\nuntagged=0\n{out}{DEBIAN}")).expect("parse");
        assert_eq!(state.live[0].index, 2);
    }

    #[test]
    fn the_probe_and_steps_quote_every_word() {
        let mut k = redirect();
        k.words = vec!["-m".into(), "comment".into(), "--comment".into(), "it's $(here)".into()];
        let mut sh = Sh::new();
        k.probe(&mut sh);
        assert!(sh.text().contains(&format!("--comment {} ", quote("it's $(here)"))), "{}", sh.text());
        assert!(!sh.text().contains(" it's $(here)"), "{}", sh.text());
    }
}
