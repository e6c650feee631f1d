//! `ufw-firewall`: whether ufw is enabled, its default policies and its logging level.
//!
//! ```kdl
//! package "ufw"
//! ufw "OpenSSH"
//! ufw "Nginx Full"
//! ufw-firewall state="enabled" incoming="deny" outgoing="allow" routed="deny" logging="low"
//! ```
//!
//! A host has one ufw, so the node has no name (it is `ufw-firewall:ufw` in `require`).
//! `state` is `"enabled"` (default) or `"disabled"`; `incoming`, `outgoing` and `routed`
//! (`"allow"`, `"deny"`, `"reject"`) and `logging` (`"off"`, `"low"`, `"medium"`,
//! `"high"`, `"full"`) are managed only when given. A separate kind rather than a property
//! of every rule: enabling is one decision per host, with its own safety check, and rules
//! are worth declaring (and adding) while ufw is still off.
//!
//! **Not locking converge out.** Every `ufw` rule of the host is applied before ufw is
//! enabled (an implicit dependency on all of them), whatever the declaration order, so an
//! `ufw "OpenSSH"` in the same playbook is in place first. Enabling keeps established
//! connections (ufw accepts related and established traffic), so the run itself goes on;
//! it is the *next* connection that a missing ssh rule would refuse. So before enabling
//! ufw, or switching `incoming` to deny or reject while it is enabled, the step checks
//! that some rule allows (or limits) the port sshd listens on (`sshd -T`, else 22) over
//! tcp from anywhere, in ufw's own rule files; if none does, it refuses with that reason
//! and changes nothing. `guard-ssh=#false` turns the check off (a source-restricted ssh
//! rule, or a host not reached over ssh).
//!
//! Probed from ufw's own files (`/etc/ufw/ufw.conf`, `/etc/default/ufw`) and `ufw status`
//! for whether the firewall is loaded; applied with `ufw default`, `ufw logging` and
//! `ufw --force enable` / `ufw disable`.

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

const POLICIES: &[&str] = &["allow", "deny", "reject"];
const LEVELS: &[&str] = &["off", "low", "medium", "high", "full"];
/// (property, ufw's word for the direction).
const DIRECTIONS: [(&str, &str); 3] = [("incoming", "incoming"), ("outgoing", "outgoing"), ("routed", "routed")];

#[derive(Debug)]
pub struct UfwFirewall {
    enabled: bool,
    /// Wanted policies for incoming, outgoing, routed.
    policies: [Option<&'static str>; 3],
    logging: Option<&'static str>,
    guard_ssh: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub tool: bool,
    /// `ufw status` says active.
    pub active: bool,
    /// ufw.conf says `ENABLED=yes` (started at boot).
    pub at_boot: bool,
    /// Current policies for incoming, outgoing, routed (`allow`, `deny`, `reject`).
    pub policies: [String; 3],
    pub logging: String,
}

/// ufw's rule files in, exit 0 when a rule allows or limits tcp port `CV_PORT` incoming
/// from anywhere (`### tuple ### ACTION PROTO DPORT DST SPORT SRC [DAPP SAPP] DIR [comment=]`).
const AWK_SSH_ALLOWED: &str = "function covers(spec, p,   parts, k, i, r) {\n\
  if (spec == \"any\") return 1\n\
  k = split(spec, parts, \",\")\n\
  for (i = 1; i <= k; i++) {\n\
    if (index(parts[i], \":\")) { split(parts[i], r, \":\"); if (p >= r[1] + 0 && p <= r[2] + 0) return 1 }\n\
    else if (parts[i] + 0 == p) return 1\n\
  }\n\
  return 0\n\
}\n\
BEGIN { p = ENVIRON[\"CV_PORT\"] + 0 }\n\
$1 == \"###\" && $2 == \"tuple\" && $3 == \"###\" {\n\
  n = NF; if ($n ~ /^comment=/) n--\n\
  if ($n !~ /^in/) next\n\
  if ($4 != \"allow\" && $4 != \"limit\") next\n\
  if ($5 != \"tcp\" && $5 != \"any\") next\n\
  if ($9 != \"0.0.0.0/0\" && $9 != \"::/0\") next\n\
  if (covers($6, p)) { found = 1; exit }\n\
}\n\
END { exit !found }\n";

fn policy_word(raw: &str) -> Result<String, ProbeError> {
    Ok(match raw {
        "ACCEPT" => "allow",
        "DROP" => "deny",
        "REJECT" => "reject",
        other => return Err(ProbeError(format!("unknown ufw policy {other:?}"))),
    }
    .to_string())
}

impl UfwFirewall {
    /// Writes the ssh check: fails the step unless a rule lets ssh in.
    fn guard(sh: &mut Sh) {
        sh.raw("ports=$(sshd -T 2>/dev/null | awk '$1 == \"port\" { print $2 }'); [ -n \"$ports\" ] || ports=22\n");
        sh.raw("for p in $ports; do if ! cat /etc/ufw/user.rules /etc/ufw/user6.rules 2>/dev/null | CV_PORT=$p awk '")
            .raw(AWK_SSH_ALLOWED)
            .raw("'; then printf '%s\\n' \"refusing to enable ufw with incoming traffic denied: no ufw rule allows ssh (tcp port $p) from anywhere, so the next connection would be refused; add e.g. ufw \\\"OpenSSH\\\", or set guard-ssh=#false\" >&2; exit 1; fi; done\n");
    }
}

impl Kind for UfwFirewall {
    const KIND: &'static str = "ufw-firewall";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<UfwFirewall> {
        for extra in r.rest_args("a name") {
            r.error(
                Diag::new(Code::Ufw, "`ufw-firewall` takes no name", &extra.at, "remove this")
                    .help("a host has one ufw; refer to it as `ufw-firewall:ufw`"),
            );
        }
        let enabled = r.choice("state", &["enabled", "disabled"]).is_none_or(|s| s == "enabled");
        let policies = DIRECTIONS.map(|(key, _)| r.choice(key, POLICIES));
        let logging = r.choice("logging", LEVELS);
        let guard_ssh = r.bool("guard-ssh").unwrap_or(true);
        if r.failed() {
            return None;
        }
        Some(UfwFirewall { enabled, policies, logging, guard_ssh })
    }

    fn name(&self) -> &str {
        "ufw"
    }

    fn deps(&self) -> Vec<Implicit> {
        vec![Implicit::new("package", "ufw", "ufw"), Implicit::every("ufw", "rules are in place before ufw is enabled")]
    }

    fn probe(&self, sh: &mut Sh) {
        sh.raw("if ! command -v ufw >/dev/null 2>&1; then echo tool=missing; else echo tool=ok\n");
        sh.raw("printf '%s\\n' \"status=$(ufw status 2>&1 | head -n 1)\"\n");
        sh.raw("sed -n -e 's/^ENABLED=/enabled=/p' -e 's/^LOGLEVEL=/logging=/p' /etc/ufw/ufw.conf\n");
        sh.raw("sed -n -e 's/^DEFAULT_INPUT_POLICY=/incoming=/p' -e 's/^DEFAULT_OUTPUT_POLICY=/outgoing=/p' -e 's/^DEFAULT_FORWARD_POLICY=/routed=/p' /etc/default/ufw | tr -d '\"'\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        if !rec.tool()? {
            return Ok(State {
                tool: false,
                active: false,
                at_boot: false,
                policies: Default::default(),
                logging: String::new(),
            });
        }
        let active = match rec.req("status")? {
            "Status: active" => true,
            "Status: inactive" => false,
            other => return Err(ProbeError(format!("unexpected `ufw status`: {other:?}"))),
        };
        Ok(State {
            tool: true,
            active,
            at_boot: rec.get("enabled") == Some("yes"),
            policies: [
                policy_word(rec.req("incoming")?)?,
                policy_word(rec.req("outgoing")?)?,
                policy_word(rec.req("routed")?)?,
            ],
            logging: rec.get("logging").unwrap_or("").to_string(),
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        for (i, (key, _)) in DIRECTIONS.iter().enumerate() {
            if let Some(want) = self.policies[i]
                && state.policies[i] != want
            {
                let before = (!state.policies[i].is_empty()).then(|| state.policies[i].clone());
                changes.push(Change::new(*key, before, Some(want.to_string())));
            }
        }
        if let Some(want) = self.logging
            && state.logging != want
        {
            let before = (!state.logging.is_empty()).then(|| state.logging.clone());
            changes.push(Change::new("logging", before, Some(want.to_string())));
        }
        let now = match (state.active, state.at_boot) {
            (true, true) => "enabled",
            (false, false) => "disabled",
            (true, false) => "active, not started at boot",
            (false, true) => "started at boot, not active",
        };
        let want = if self.enabled { "enabled" } else { "disabled" };
        if now != want {
            let before = state.tool.then(|| now.to_string());
            changes.push(Change::new("state", before, Some(want.to_string())));
        }
        let action = if state.tool { Action::Change } else { Action::Create };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.raw("command -v ufw >/dev/null 2>&1 || { echo 'ufw is not installed' >&2; exit 1; }\n");
        let changes = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        // a host without ufw yet gets Debian's default: incoming denied
        let incoming = self.policies[0].unwrap_or(if state.tool { state.policies[0].as_str() } else { "deny" });
        let denies = incoming != "allow";
        let enables = self.enabled && changes("state");
        if self.guard_ssh && denies && self.enabled && (enables || changes("incoming")) {
            Self::guard(sh);
        }
        for (i, (key, word)) in DIRECTIONS.iter().enumerate() {
            if let Some(want) = self.policies[i]
                && changes(key)
            {
                sh.raw("ufw default ").raw(want).raw(" ").raw(word).nl();
            }
        }
        if let Some(level) = self.logging
            && changes("logging")
        {
            sh.raw("ufw logging ").raw(level).nl();
        }
        if changes("state") {
            sh.raw(if self.enabled { "ufw --force enable\n" } else { "ufw disable\n" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn fw() -> UfwFirewall {
        UfwFirewall { enabled: true, policies: [Some("deny"), Some("allow"), None], logging: None, guard_ssh: true }
    }

    const INACTIVE: &str =
        "tool=ok\nstatus=Status: inactive\nenabled=no\nlogging=low\nincoming=DROP\noutgoing=ACCEPT\nrouted=DROP\n";
    const ACTIVE: &str =
        "tool=ok\nstatus=Status: active\nenabled=yes\nlogging=low\nincoming=DROP\noutgoing=ACCEPT\nrouted=DROP\n";

    fn plan(k: &UfwFirewall, out: &str) -> (Diff, String) {
        crate::resources::plan_of(k, out)
    }

    #[test]
    fn enabling_checks_ssh_first() {
        let (diff, sh) = plan(&fw(), INACTIVE);
        assert_eq!(diff.changes, vec![Change::set("state", "disabled", "enabled")]);
        let guard = sh.find("sshd -T").expect("guard");
        let enable = sh.find("ufw --force enable").expect("enable");
        assert!(guard < enable, "{sh}");
        assert!(plan(&fw(), ACTIVE).0.is_ok());
        // no guard when asked, or when incoming stays open
        let (_, sh) = plan(&UfwFirewall { guard_ssh: false, ..fw() }, INACTIVE);
        assert!(!sh.contains("sshd -T"), "{sh}");
        let open = UfwFirewall { policies: [Some("allow"), None, None], ..fw() };
        let (_, sh) = plan(&open, INACTIVE);
        assert!(sh.contains("ufw default allow incoming\n") && !sh.contains("sshd -T"), "{sh}");
    }

    #[test]
    fn policies_and_logging_change_alone() {
        let k = UfwFirewall { policies: [Some("reject"), None, Some("allow")], logging: Some("medium"), ..fw() };
        let (diff, sh) = plan(&k, ACTIVE);
        assert_eq!(
            diff.changes,
            vec![
                Change::set("incoming", "deny", "reject"),
                Change::set("routed", "deny", "allow"),
                Change::set("logging", "low", "medium"),
            ]
        );
        assert!(sh.contains("ufw default reject incoming\nufw default allow routed\nufw logging medium\n"), "{sh}");
        assert!(sh.contains("sshd -T"), "tightening incoming is checked too: {sh}");
        assert!(!sh.contains("ufw --force enable"), "{sh}");
    }

    #[test]
    fn disabling_and_a_missing_tool() {
        let off = UfwFirewall { enabled: false, policies: [None; 3], ..fw() };
        let (diff, sh) = plan(&off, ACTIVE);
        assert_eq!(diff.changes, vec![Change::set("state", "enabled", "disabled")]);
        assert!(sh.ends_with("ufw disable\n"), "{sh}");
        let (diff, _) = plan(&fw(), "tool=missing\n");
        assert_eq!(diff.action, Action::Create);
        assert!(fw().parse("tool=ok\nstatus=ERROR: You need to be root to run this script\n").is_err());
        assert!(
            fw().parse("tool=ok\nstatus=Status: inactive\nincoming=SOMETIMES\noutgoing=ACCEPT\nrouted=DROP\n").is_err()
        );
    }

    fn ssh_allowed(rules: &str, port: u16) -> bool {
        Command::new("awk")
            .arg(AWK_SSH_ALLOWED)
            .env("CV_PORT", port.to_string())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().expect("stdin").write_all(rules.as_bytes())?;
                child.wait()
            })
            .expect("awk")
            .success()
    }

    #[test]
    fn the_ssh_check_reads_ufw_tuples() {
        let openssh = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n";
        assert!(ssh_allowed(openssh, 22));
        assert!(!ssh_allowed(openssh, 2222));
        assert!(!ssh_allowed("### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 Nginx%20Full - in\n", 22));
        assert!(ssh_allowed("### tuple ### limit tcp 2000:2300 0.0.0.0/0 any 0.0.0.0/0 in_eth0\n", 2222));
        assert!(ssh_allowed("### tuple ### allow any 22 ::/0 any ::/0 in comment=636f6e76\n", 22));
        // from a network only, outgoing, or denied: not enough
        assert!(!ssh_allowed("### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in\n", 22));
        assert!(!ssh_allowed("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 out\n", 22));
        assert!(!ssh_allowed("### tuple ### deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", 22));
        assert!(!ssh_allowed("", 22));
    }
}
