//! `hostname`: the host's name, now and at boot, and its `127.0.1.1` line in /etc/hosts.
//!
//! ```kdl
//! hostname "web-1"
//! hostname "web-1.example.org" hosts=#false
//! ```
//!
//! Three places hold a Debian host's name, and all three are converged:
//!
//! - the **running** name, read from `/proc/sys/kernel/hostname`, set with `hostnamectl
//!   set-hostname` where systemd runs (bounded by `timeout`), else `hostname(1)`, else
//!   written to `/proc/sys/kernel/hostname`;
//! - the **static** name, `/etc/hostname` (one line, written atomically) that the next
//!   boot reads;
//! - the line `127.0.1.1 FQDN SHORT` (or `127.0.1.1 NAME`) in `/etc/hosts`, as Debian's
//!   installer writes it, so that `hostname -f` and `sudo` resolve the name without DNS.
//!   Only lines whose address is `127.0.1.1` are touched (the first replaced, the others
//!   removed, one appended when there is none), edited at apply time like `sysctl`'s file.
//!   `hosts=#false` leaves /etc/hosts alone (a host whose name resolves to a real address).
//!
//! The name is checked as RFC 1123 and the kernel take it: dot-separated labels of lower
//! case letters, digits and `-` (not first or last), at most 63 each and 64 in all.
//!
//! `host.facts.hostname` may change in the run: the engine reads the facts the playbook
//! uses again at verify, and converges what depends on them in the same `apply`.

use super::record::Record;
use super::{Action, Change, Diff, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

/// The address Debian gives the host's own name.
const LOOPBACK: &str = "127.0.1.1";

#[derive(Debug)]
pub struct Hostname {
    name: String,
    hosts: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub live: String,
    /// `/etc/hostname`'s name; `None`: no such file (or no name in it).
    pub static_name: Option<String>,
    /// /etc/hosts; `None`: no such file.
    pub hosts: Option<String>,
}

impl Hostname {
    /// `127.0.1.1 FQDN SHORT`, or `127.0.1.1 NAME`.
    fn hosts_line(&self) -> String {
        match self.name.split_once('.') {
            Some((short, _)) => format!("{LOOPBACK}\t{} {short}", self.name),
            None => format!("{LOOPBACK}\t{}", self.name),
        }
    }
}

/// The names of every `127.0.1.1` line of a hosts file.
fn loopback_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let mut f = l.split_whitespace();
            (f.next() == Some(LOOPBACK)).then(|| f.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

/// The hosts file with its `127.0.1.1` lines made `line`. The same edit as [`edit_script`].
pub fn edit(text: &str, line: &str) -> String {
    super::content::replace_lines(text, Some(line), |l| l.split_whitespace().next() == Some(LOOPBACK))
}

/// Writes to `$tmp` the file `$f` edited as [`edit`] does, `$l` the line.
fn edit_script(sh: &mut Sh) {
    super::content::replace_lines_awk(sh, "f", "", "$1 == \"127.0.1.1\"");
}

/// Whether `name` is a host name RFC 1123 and the kernel take (in lower case).
fn valid(name: &str) -> bool {
    name.len() <= 64
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn check(r: &mut NodeReader, name: &Spanned<String>) -> bool {
    if valid(&name.value) {
        return true;
    }
    let help = if valid(&name.value.to_ascii_lowercase()) {
        "host names are case-insensitive: write it in lower case"
    } else {
        "dot-separated labels of a-z, 0-9 and `-` (not first or last), 63 characters each, 64 in all"
    };
    r.error(
        Diag::new(Code::Hostname, format!("`{}` is not a host name", name.value), &name.at, "not a host name")
            .help(help),
    );
    false
}

impl Kind for Hostname {
    const KIND: &'static str = "hostname";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Hostname> {
        let name = r.arg("a host name");
        let hosts = r.bool("hosts").unwrap_or(true);
        let name = name?;
        if !check(r, &name) {
            return None;
        }
        Some(Hostname { name: name.value, hosts })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn probe(&self, sh: &mut Sh) {
        sh.raw("printf '%s\\n' \"live=$(cat /proc/sys/kernel/hostname 2>/dev/null || uname -n)\"\n");
        sh.raw("if [ -f /etc/hostname ]; then printf '%s\\n' \"static=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' /etc/hostname | grep -m1 .)\"; fi\n");
        if self.hosts {
            sh.raw("if [ -f /etc/hosts ]; then echo hosts=present; echo --body--; head -c 1048576 /etc/hosts | base64; else echo hosts=absent; fi\n");
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let live = rec.req("live")?.to_string();
        let static_name = rec.get("static").filter(|s| !s.is_empty()).map(str::to_string);
        let hosts = match (self.hosts, rec.get("hosts")) {
            (false, _) => None,
            (true, Some("absent")) => None,
            (true, Some("present")) => {
                let body = rec.body()?.ok_or_else(|| ProbeError("/etc/hosts's content is missing".into()))?;
                Some(String::from_utf8_lossy(&body).into_owned())
            }
            (true, other) => return Err(ProbeError(format!("unexpected hosts={other:?}"))),
        };
        Ok(State { live, static_name, hosts })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        if state.live != self.name {
            changes.push(Change::set("running", state.live.clone(), self.name.clone()));
        }
        if state.static_name.as_deref() != Some(self.name.as_str()) {
            changes.push(Change::new("/etc/hostname", state.static_name.clone(), Some(self.name.clone())));
        }
        if self.hosts {
            let want = self.hosts_line();
            let want_names = want.split_whitespace().skip(1).collect::<Vec<_>>().join(" ");
            let found = loopback_names(state.hosts.as_deref().unwrap_or(""));
            if found.len() != 1 || found[0] != want_names {
                let before = found.first().map(|n| {
                    let more = if found.len() > 1 { format!(" (and {} more)", found.len() - 1) } else { String::new() };
                    format!("{LOOPBACK} {n}{more}")
                });
                changes.push(Change::new("/etc/hosts", before, Some(format!("{LOOPBACK} {want_names}"))));
            }
        }
        Diff::new(Action::Change, changes)
    }

    fn steps(&self, _state: &State, diff: &Diff, sh: &mut Sh) {
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        sh.set("n", &self.name);
        if has("/etc/hostname") {
            sh.raw("tmp=$(mktemp /etc/.converge.XXXXXXXX)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
            sh.raw(
                "printf '%s\\n' \"$n\" > \"$tmp\"\nchmod 0644 \"$tmp\"\nmv -f -- \"$tmp\" /etc/hostname\ntrap - EXIT\n",
            );
        }
        if has("running") {
            sh.raw("if [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null 2>&1 && timeout 20 hostnamectl set-hostname \"$n\"; then :\n");
            sh.raw("elif command -v hostname >/dev/null 2>&1 && hostname \"$n\"; then :\n");
            sh.raw("else printf '%s\\n' \"$n\" > /proc/sys/kernel/hostname || exit 1; fi\n");
            sh.raw("[ \"$(cat /proc/sys/kernel/hostname)\" = \"$n\" ] || { echo 'the running host name did not change' >&2; exit 1; }\n");
        }
        if has("/etc/hosts") {
            sh.set("f", "/etc/hosts");
            sh.set("l", &self.hosts_line());
            sh.raw("tmp=$(mktemp /etc/.converge.XXXXXXXX)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
            edit_script(sh);
            sh.raw("if [ -f \"$f\" ]; then chown --reference=\"$f\" -- \"$tmp\"; chmod --reference=\"$f\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
            sh.raw("mv -f -- \"$tmp\" \"$f\"\ntrap - EXIT\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{b64, build_from, plan_of};

    const HOSTS: &str = "127.0.0.1\tlocalhost\n127.0.1.1\told.example.org old\n\n::1 localhost ip6-localhost\n";

    fn out(live: &str, st: &str, hosts: &str) -> String {
        format!("live={live}\nstatic={st}\nhosts=present\n--body--\n{}\n", b64(hosts))
    }

    #[test]
    fn a_rename_sets_all_three() {
        let h = build_from::<Hostname>("hostname \"web-1.example.org\"").expect("builds");
        let (diff, steps) = plan_of(&h, &out("old", "old", HOSTS));
        assert_eq!(
            diff.changes,
            vec![
                Change::set("running", "old", "web-1.example.org"),
                Change::set("/etc/hostname", "old", "web-1.example.org"),
                Change::set("/etc/hosts", "127.0.1.1 old.example.org old", "127.0.1.1 web-1.example.org web-1"),
            ]
        );
        assert!(steps.contains("hostnamectl set-hostname \"$n\""), "{steps}");
        assert!(steps.contains("mv -f -- \"$tmp\" /etc/hostname"), "{steps}");
        assert_eq!(
            edit(HOSTS, &h.hosts_line()),
            "127.0.0.1\tlocalhost\n127.0.1.1\tweb-1.example.org web-1\n\n::1 localhost ip6-localhost\n"
        );
    }

    #[test]
    fn in_sync_and_partial_drift() {
        let h = build_from::<Hostname>("hostname \"web-1\"").expect("builds");
        let hosts = "127.0.0.1 localhost\n127.0.1.1   web-1 # mine\n";
        assert!(plan_of(&h, &out("web-1", "web-1", hosts)).0.is_ok());
        let (diff, steps) = plan_of(&h, &out("t", "web-1", hosts));
        assert_eq!(diff.changes, vec![Change::set("running", "t", "web-1")]);
        assert!(!steps.contains("/etc/hostname") && !steps.contains("awk"), "{steps}");
        let (diff, _) = plan_of(&h, "live=web-1\nhosts=present\n--body--\n\n");
        assert_eq!(diff.changes[0], Change::new("/etc/hostname", None, Some("web-1".into())));
        assert_eq!(diff.changes[1], Change::new("/etc/hosts", None, Some("127.0.1.1 web-1".into())));
        let h = build_from::<Hostname>("hostname \"web-1\" hosts=#false").expect("builds");
        assert!(plan_of(&h, "live=web-1\nstatic=web-1\n").0.is_ok());
        assert!(h.parse("static=x\n").is_err(), "no live name");
    }

    #[test]
    fn the_host_side_edit_matches_the_plan() {
        for text in [HOSTS, "", "127.0.0.1 localhost\n", "127.0.1.1 a\n127.0.1.1 b\n# 127.0.1.1 c\n"] {
            let line = "127.0.1.1\tweb-1.example.org web-1";
            let out = super::super::content::run_edit_script("f", Some(text), &[("l", line)], edit_script);
            assert_eq!(out, edit(text, line), "{text:?}");
        }
    }

    #[test]
    fn names_are_checked_at_their_token() {
        for good in ["web-1", "a", "web-1.example.org", "0web", &"a".repeat(63)] {
            assert!(valid(good), "{good}");
        }
        for bad in ["", "-web", "web-", "web_1", "web..x", "web 1", "WEB", &"a".repeat(64), &"a.".repeat(33)] {
            assert!(!valid(bad), "{bad}");
        }
        assert_eq!(
            build_from::<Hostname>("hostname \"Web-1\"").expect_err("refused"),
            ["`Web-1` is not a host name @ not a host name"]
        );
    }
}
