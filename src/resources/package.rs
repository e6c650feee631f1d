//! `package`: system packages, installed, at the latest version, pinned, or removed.
//!
//! ```kdl
//! package "nginx-light"
//! package "cron" "python3-venv"        // several packages, one apt-get call
//! package "jq" version="1.6-2.1"
//! package "tree" state="latest"
//! package "telnet" state="absent" purge=#true
//! ```
//!
//! Provider: apt (Debian, Ubuntu). One `dpkg-query` reads every named package; `apt-cache
//! policy` (the candidate versions) runs only when something is missing or `latest` is
//! asked, so a no-op probe stays cheap. `apt-get update` runs before an install only when a
//! wanted package or version has no candidate in the local lists, or with
//! `update-cache=#true`. Each name is addressable on its own: `require="package:cron"`.

use std::collections::BTreeMap;

use super::record::Record;
use super::{Action, Change, Diff, Kind, PlanCx, ProbeError};
use crate::diag::Diag;
use crate::playbook::reader::NodeReader;
use crate::script::Sh;

#[derive(Debug)]
pub struct Package {
    names: Vec<String>,
    state: Want,
    version: Option<String>,
    update_cache: bool,
    purge: bool,
    recommends: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Present,
    Latest,
    Absent,
}

/// What the host has, per package name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// Installed version, per name (only installed packages).
    pub installed: BTreeMap<String, String>,
    /// Candidate version from the local lists, per name (when asked for).
    pub candidate: BTreeMap<String, String>,
}

fn valid_name(n: &str) -> bool {
    n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.:".contains(&b))
}

impl Kind for Package {
    const KIND: &'static str = "package";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Package> {
        let first = r.arg("a package name");
        let rest = r.rest_args("a package name");
        let state = match r.choice("state", &["present", "latest", "absent"]) {
            Some("latest") => Want::Latest,
            Some("absent") => Want::Absent,
            _ => Want::Present,
        };
        let version = r.nonempty("version");
        let update_cache = r.bool("update-cache").unwrap_or(false);
        let purge = r.bool("purge").unwrap_or(false);
        let recommends = r.bool("recommends").unwrap_or(true);
        let names: Vec<_> = first.into_iter().chain(rest).collect();
        for n in &names {
            if !valid_name(&n.value) {
                r.error(
                    Diag::new(
                        "converge::package",
                        format!("`{}` is not a package name", n.value),
                        &n.at,
                        "invalid name",
                    )
                    .help("package names are lowercase letters, digits and + - . :"),
                );
            }
        }
        if let Some(v) = &version {
            if names.len() > 1 {
                r.error(
                    Diag::new("converge::package", "`version` pins one package", &v.at, "several packages named")
                        .help("write one `package` node per pinned version"),
                );
            } else if state != Want::Present {
                r.error(Diag::new(
                    "converge::package",
                    "`version` needs state=\"present\"",
                    &v.at,
                    "conflicts with `state`",
                ));
            }
            if v.value.contains(char::is_whitespace) {
                r.error(Diag::new("converge::package", "a version has no spaces", &v.at, "invalid version"));
            }
        }
        if names.is_empty() || r.failed() {
            return None;
        }
        Some(Package {
            names: names.into_iter().map(|n| n.value).collect(),
            state,
            version: version.map(|v| v.value),
            update_cache,
            purge,
            recommends,
        })
    }

    fn name(&self) -> &str {
        &self.names[0]
    }

    fn aliases(&self) -> Vec<String> {
        self.names[1..].to_vec()
    }

    fn probe(&self, sh: &mut Sh) {
        sh.raw("q=$(dpkg-query -W -f='${Package}|${db:Status-Status}|${Version}\\n'");
        for n in &self.names {
            sh.sp().q(n);
        }
        sh.raw(" 2>/dev/null)\nprintf '%s\\n' \"$q\" | sed -n 's/^/pkg=/p'\n");
        // candidates only when something may be installed
        if self.state == Want::Absent {
            return;
        }
        if self.state == Want::Present {
            sh.raw("if [ \"$(printf '%s\\n' \"$q\" | grep -c '|installed|')\" -lt ")
                .num(self.names.len() as u64)
                .raw(" ]; then\n");
        } else {
            sh.raw("if true; then\n");
        }
        sh.raw("apt-cache policy");
        for n in &self.names {
            sh.sp().q(n);
        }
        sh.raw(" 2>/dev/null | sed -n -e 's/^\\([^ ].*\\):$/policy=\\1/p' -e 's/^  Candidate: /candidate=/p'\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let mut state = State::default();
        for line in rec.all("pkg") {
            if line.is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split('|').collect();
            let [name, status, version] = parts.as_slice() else {
                return Err(ProbeError(format!("malformed dpkg-query line {line:?}")));
            };
            if *status == "installed" {
                state.installed.insert(name.to_string(), version.to_string());
            }
        }
        // `policy=NAME` then `candidate=VERSION`, in order
        let mut current: Option<String> = None;
        for (key, value) in rec.pairs() {
            match key {
                "policy" => current = Some(value.split(':').next().unwrap_or(value).to_string()),
                "candidate" => {
                    let name = current.take().ok_or_else(|| ProbeError("candidate without a package".into()))?;
                    if value != "(none)" {
                        state.candidate.insert(name, value.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(state)
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        let mut creates = false;
        for n in &self.names {
            let have = state.installed.get(n);
            let candidate = state.candidate.get(n);
            let want: Option<String> = match self.state {
                Want::Absent => None,
                Want::Present => match (&self.version, have) {
                    (Some(v), Some(h)) if v == h => continue,
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(_)) => continue,
                    (None, None) => {
                        Some(candidate.cloned().unwrap_or_else(|| "present (not in the local lists yet)".into()))
                    }
                },
                Want::Latest => match (candidate, have) {
                    (Some(c), Some(h)) if c == h => continue,
                    (Some(c), _) => Some(c.clone()),
                    (None, Some(_)) => continue,
                    (None, None) => Some("latest (not in the local lists yet)".into()),
                },
            };
            if want.is_none() && have.is_none() {
                continue;
            }
            creates |= have.is_none();
            changes.push(Change::new(n.clone(), have.cloned(), want));
        }
        let action = match self.state {
            Want::Absent => Action::Remove,
            _ if creates => Action::Create,
            _ => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.raw("export DEBIAN_FRONTEND=noninteractive\n");
        let names: Vec<&str> = diff.changes.iter().map(|c| c.field.as_str()).collect();
        if self.state == Want::Absent {
            sh.raw(if self.purge { "apt-get purge" } else { "apt-get remove" });
            sh.raw(" -y -q -o DPkg::Lock::Timeout=120");
            for n in names {
                sh.sp().q(n);
            }
            sh.nl();
            return;
        }
        let missing = names.iter().any(|n| match &self.version {
            Some(v) => state.candidate.get(*n) != Some(v) && state.installed.get(*n) != Some(v),
            None => !state.candidate.contains_key(*n),
        });
        if self.update_cache || missing {
            sh.raw("apt-get update -q -o DPkg::Lock::Timeout=120\n");
        }
        sh.raw("apt-get install -y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold");
        if !self.recommends {
            sh.raw(" --no-install-recommends");
        }
        if self.version.is_some() {
            sh.raw(" --allow-downgrades");
        }
        for n in names {
            match &self.version {
                Some(v) => sh.sp().q(&format!("{n}={v}")),
                None => sh.sp().q(n),
            };
        }
        sh.nl();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(names: &[&str], state: Want) -> Package {
        Package {
            names: names.iter().map(|s| s.to_string()).collect(),
            state,
            version: None,
            update_cache: false,
            purge: false,
            recommends: true,
        }
    }

    const PROBE: &str = "pkg=tree|installed|2.1.0-1\npkg=jq|not-installed|\npolicy=tree\ncandidate=2.1.0-1\npolicy=jq\ncandidate=1.6-2.1\n";

    #[test]
    fn parses_installed_and_candidates() {
        let p = pkg(&["tree", "jq"], Want::Present);
        let s = p.parse(PROBE).expect("parse");
        assert_eq!(s.installed.get("tree").map(String::as_str), Some("2.1.0-1"));
        assert!(!s.installed.contains_key("jq"));
        assert_eq!(s.candidate.get("jq").map(String::as_str), Some("1.6-2.1"));
    }

    #[test]
    fn installs_only_what_is_missing_without_update() {
        let p = pkg(&["tree", "jq"], Want::Present);
        let s = p.parse(PROBE).expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes, vec![Change::new("jq", None, Some("1.6-2.1".into()))]);
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        assert!(!sh.text().contains("apt-get update"), "{}", sh.text());
        assert!(sh.text().ends_with("--force-confold jq\n"), "{}", sh.text());
    }

    #[test]
    fn unknown_candidate_updates_first() {
        let p = pkg(&["newpkg"], Want::Present);
        let s = p.parse("pkg=\n").expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        assert!(sh.text().contains("apt-get update"));
    }

    #[test]
    fn absent_and_latest() {
        let p = pkg(&["tree", "jq"], Want::Absent);
        let s = p.parse(PROBE).expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::new("tree", Some("2.1.0-1".into()), None)]);
        let p = pkg(&["tree"], Want::Latest);
        let s = p.parse("pkg=tree|installed|2.0\npolicy=tree\ncandidate=2.1\n").expect("parse");
        assert_eq!(p.diff(&s, &PlanCx::default()).changes, vec![Change::set("tree", "2.0", "2.1")]);
    }

    #[test]
    fn garbage_is_refused() {
        let p = pkg(&["tree"], Want::Present);
        assert!(p.parse("pkg=tree|installed\n").is_err());
        assert!(p.parse("candidate=1.0\n").is_err());
    }
}
