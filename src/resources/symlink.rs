//! `symlink`: a symbolic link pointing at a target.
//!
//! ```kdl
//! symlink "/etc/nginx/sites-enabled/viewbovis" target="/etc/nginx/sites-available/viewbovis"
//! symlink "/srv/app/current" target="releases/42" force=#true
//! symlink "/etc/nginx/sites-enabled/default" state="absent"
//! ```
//!
//! The link is replaced atomically (a new link renamed over the old one), so a `current`
//! link never points nowhere. A regular file in the way is replaced only with
//! `force=#true`; a directory in the way is always refused. A link depends on the
//! resource that manages its target, if any.

use std::path::Path;

use super::file::read_path;
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Symlink {
    path: String,
    target: Option<String>,
    force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    Link(String),
    File,
    Directory,
}

impl Kind for Symlink {
    const KIND: &'static str = "symlink";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Symlink> {
        let path = read_path(r);
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let target = r.nonempty("target");
        let force = r.bool("force").unwrap_or(false);
        let target = match (present, target) {
            (true, None) => {
                let at = r.at();
                r.error(
                    Diag::new(Code::Missing, "a symlink needs a `target`", &at, "no target")
                        .help("write `target=\"/path\"`"),
                );
                return None;
            }
            (false, Some(t)) => {
                r.error(Diag::new(Code::Conflict, "an absent symlink has no target", &t.at, "remove this"));
                return None;
            }
            (_, Some(t)) if t.value.contains(['\n', '\r']) => {
                // the probe reads the link back as one line
                r.error(
                    Diag::new(Code::Target, "a symlink target cannot hold a line break", &t.at, "line break here")
                        .help("write the target on one line"),
                );
                return None;
            }
            (_, t) => t.map(|t| t.value),
        };
        Some(Symlink { path: path?, target, force })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        if let Some(t) = &self.target {
            let dir = Path::new(&self.path).parent().unwrap_or(Path::new("/"));
            let full = dir.join(t).to_string_lossy().into_owned();
            d.push(Implicit::new("file", full.clone(), "link target"));
            d.push(Implicit::new("directory", full, "link target"));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.raw("if [ -L \"$p\" ]; then echo type=symlink; printf '%s\\n' \"target=$(readlink -- \"$p\")\"\n");
        sh.raw("elif [ -d \"$p\" ]; then echo type=directory\nelif [ -e \"$p\" ]; then echo type=file\nelse echo type=absent\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(match rec.req("type")? {
            "absent" => State::Absent,
            "symlink" => State::Link(rec.req("target")?.to_string()),
            "directory" => State::Directory,
            "file" => State::File,
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let Some(want) = &self.target else {
            return match state {
                State::Absent => Diff::ok(),
                State::Link(t) => Diff::new(Action::Remove, vec![Change::new("target", Some(t.clone()), None)]),
                State::File => Diff::new(Action::Remove, vec![Change::new("type", Some("file".into()), None)]),
                State::Directory => {
                    Diff::new(Action::Remove, vec![Change::new("type", Some("directory".into()), None)])
                }
            };
        };
        match state {
            State::Link(t) if t == want => Diff::ok(),
            State::Link(t) => Diff::new(Action::Change, vec![Change::set("target", t.clone(), want.clone())]),
            State::Absent => Diff::new(Action::Create, vec![Change::new("target", None, Some(want.clone()))]),
            State::File => Diff::new(Action::Change, vec![Change::set("type", "file", format!("symlink to {want}"))]),
            State::Directory => {
                Diff::new(Action::Change, vec![Change::set("type", "directory", format!("symlink to {want}"))])
            }
        }
    }

    fn recheck(&self, sh: &mut Sh) -> bool {
        if self.target.is_some() {
            return false;
        }
        sh.set("p", &self.path);
        sh.raw("if [ -L \"$p\" ]; then rm -f -- \"$p\"; : > \"$CV_A\"; fi\n");
        true
    }

    fn steps(&self, state: &State, _diff: &Diff, sh: &mut Sh) {
        sh.set("p", &self.path);
        let Some(target) = &self.target else {
            match state {
                State::Directory => sh.raw("printf '%s\\n' \"refusing to remove a directory in place of a symlink: $p\" >&2; exit 1\n"),
                State::File if !self.force => sh.raw("printf '%s\\n' \"refusing to remove a regular file in place of a symlink (force=#true allows it): $p\" >&2; exit 1\n"),
                _ => sh.raw("rm -f -- \"$p\"\n"),
            };
            return;
        };
        match state {
            State::Directory => {
                sh.raw("printf '%s\\n' \"refusing to replace a directory with a symlink: $p\" >&2; exit 1\n");
                return;
            }
            State::File if !self.force => {
                sh.raw("printf '%s\\n' \"refusing to replace a regular file with a symlink (force=#true allows it): $p\" >&2; exit 1\n");
                return;
            }
            _ => {}
        }
        sh.set("t", target);
        sh.raw("tmp=\"$(dirname -- \"$p\")/.converge.$$.link\"\nrm -f -- \"$tmp\"\n");
        sh.raw("ln -s -- \"$t\" \"$tmp\"\nmv -Tf -- \"$tmp\" \"$p\"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(force: bool) -> Symlink {
        Symlink {
            path: "/etc/nginx/sites-enabled/app".into(),
            target: Some("/etc/nginx/sites-available/app".into()),
            force,
        }
    }

    #[test]
    fn retargets_atomically() {
        let l = link(false);
        let state = l.parse("type=symlink\ntarget=/elsewhere\n").expect("parse");
        let diff = l.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("target", "/elsewhere", "/etc/nginx/sites-available/app")]);
        let mut sh = Sh::new();
        l.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("mv -Tf -- \"$tmp\" \"$p\""));
    }

    #[test]
    fn in_sync_and_refusals() {
        let l = link(false);
        assert!(
            l.diff(&l.parse("type=symlink\ntarget=/etc/nginx/sites-available/app\n").expect("p"), &PlanCx::default())
                .is_ok()
        );
        let mut sh = Sh::new();
        let state = l.parse("type=file\n").expect("p");
        l.steps(&state, &l.diff(&state, &PlanCx::default()), &mut sh);
        assert!(sh.text().contains("refusing"));
        let mut sh = Sh::new();
        link(true).steps(&state, &l.diff(&state, &PlanCx::default()), &mut sh);
        assert!(!sh.text().contains("refusing"));
    }

    #[test]
    fn depends_on_a_managed_target() {
        let deps = link(false).deps();
        assert!(deps.contains(&Implicit::new("file", "/etc/nginx/sites-available/app", "link target")));
    }
}
