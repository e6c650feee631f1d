//! The apt provider (Debian, Ubuntu): `dpkg-query` for what is installed, `apt-cache
//! policy` for the candidates in the local lists, `apt-get` to change anything.
//!
//! `apt-get update` runs before an install only when a wanted package or version has no
//! candidate in the local lists, or with `update-cache=#true`. A missing candidate is
//! looked for again at apply time, just before the install: an `apt-repository` applied
//! earlier in the run has fetched its own lists by then, and a host-wide update (every
//! mirror of the host) is run only if the package is still not in them. Installs keep existing
//! configuration files (`--force-confold`) and wait for the dpkg lock up to two minutes.

use std::collections::BTreeMap;

use super::{Package, State, Want};
use crate::resources::record::Record;
use crate::resources::{Diff, ProbeError};
use crate::script::Sh;

/// Installed versions, then candidates when something is missing (`present`) or always
/// (`latest`).
pub fn probe(names: &[String], present: bool, candidates: bool, sh: &mut Sh) {
    // one process: the prefix is in dpkg-query's own format, the count in shell builtins
    sh.raw("q=$(dpkg-query -W -f='pkg=${Package}|${db:Status-Status}|${Version}\\n'");
    for n in names {
        sh.sp().q(n);
    }
    sh.raw(" 2>/dev/null)\nif [ -n \"$q\" ]; then printf '%s\\n' \"$q\"; fi\n");
    if !candidates {
        return;
    }
    if present {
        sh.raw("i=0\nwhile IFS= read -r l; do case \"$l\" in *'|installed|'*) i=$((i + 1));; esac; done <<CV_EOF\n$q\nCV_EOF\n");
        sh.raw("if [ \"$i\" -lt ").num(names.len() as u64).raw(" ]; then\n");
    } else {
        sh.raw("if true; then\n");
    }
    sh.raw("apt-cache policy");
    for n in names {
        sh.sp().q(n);
    }
    sh.raw(" 2>/dev/null | sed -n -e 's/^\\([^ ].*\\):$/policy=\\1/p' -e 's/^  Candidate: /candidate=/p'\nfi\n");
}

type Versions = BTreeMap<String, String>;

/// `pkg=NAME|STATUS|VERSION` lines, then `policy=NAME` / `candidate=VERSION` pairs.
pub fn parse(rec: &Record) -> Result<(Versions, Versions), ProbeError> {
    let mut installed = BTreeMap::new();
    let mut candidate = BTreeMap::new();
    for line in rec.all("pkg") {
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        let [name, status, version] = parts.as_slice() else {
            return Err(ProbeError(format!("malformed dpkg-query line {line:?}")));
        };
        if *status == "installed" {
            installed.insert(name.to_string(), version.to_string());
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
                    candidate.insert(name, value.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((installed, candidate))
}

pub fn steps(p: &Package, state: &State, diff: &Diff, sh: &mut Sh) {
    sh.raw("export DEBIAN_FRONTEND=noninteractive\n");
    let names = Package::changed(diff);
    if p.state == Want::Absent {
        sh.raw(if p.purge { "apt-get purge" } else { "apt-get remove" });
        sh.raw(" -y -q -o DPkg::Lock::Timeout=120");
        for n in names {
            sh.sp().q(n);
        }
        sh.nl();
        return;
    }
    if p.update_cache {
        sh.raw("apt-get update -q -o DPkg::Lock::Timeout=120\n");
    } else if p.needs_refresh(state, &names) {
        // checked again at apply time: an `apt-repository` earlier in the run has fetched
        // its own lists, and a host-wide update would contact every other mirror too
        sh.raw("u=\n");
        for n in &names {
            match &p.version {
                Some(v) => sh.raw("apt-cache show ").q(&format!("{n}={v}")).raw(" >/dev/null 2>&1 || u=1\n"),
                None => sh.raw("c=$(apt-cache policy ").q(n).raw(
                    " 2>/dev/null | sed -n 's/^  Candidate: //p'); [ -n \"$c\" ] && [ \"$c\" != '(none)' ] || u=1\n",
                ),
            };
        }
        sh.raw("if [ -n \"$u\" ]; then apt-get update -q -o DPkg::Lock::Timeout=120; fi\n");
    }
    sh.raw("apt-get install -y -q -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold");
    if !p.recommends {
        sh.raw(" --no-install-recommends");
    }
    if p.version.is_some() {
        sh.raw(" --allow-downgrades");
    }
    for n in names {
        match &p.version {
            Some(v) => sh.sp().q(&format!("{n}={v}")),
            None => sh.sp().q(n),
        };
    }
    sh.nl();
}

#[cfg(test)]
mod tests {
    use super::super::tests::pkg;
    use super::*;
    use crate::resources::{Action, Change, Kind, PlanCx};

    const PROBE: &str = "provider=apt\npkg=tree|installed|2.1.0-1\npkg=jq|not-installed|\npolicy=tree\ncandidate=2.1.0-1\npolicy=jq\ncandidate=1.6-2.1\n";

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
        let s = p.parse("provider=apt\npkg=\n").expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        assert!(sh.text().contains("apt-get update"));
        // only if the candidate is still missing at apply time
        assert!(sh.text().contains("c=$(apt-cache policy newpkg 2>/dev/null"), "{}", sh.text());
        assert!(sh.text().contains("if [ -n \"$u\" ]; then apt-get update"), "{}", sh.text());
    }

    #[test]
    fn absent_and_latest() {
        let p = pkg(&["tree", "jq"], Want::Absent);
        let s = p.parse(PROBE).expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::new("tree", Some("2.1.0-1".into()), None)]);
        let p = pkg(&["tree"], Want::Latest);
        let s = p.parse("provider=apt\npkg=tree|installed|2.0\npolicy=tree\ncandidate=2.1\n").expect("parse");
        assert_eq!(p.diff(&s, &PlanCx::default()).changes, vec![Change::set("tree", "2.0", "2.1")]);
    }

    #[test]
    fn garbage_is_refused() {
        let p = pkg(&["tree"], Want::Present);
        assert!(p.parse("provider=apt\npkg=tree|installed\n").is_err());
        assert!(p.parse("provider=apt\ncandidate=1.0\n").is_err());
    }
}
