//! `directory`: a directory with owner, group and mode.
//!
//! ```kdl
//! directory "/srv/viewbovis" owner="viewbovis" group="viewbovis" mode="0755"
//! directory "/var/log/viewbovis" mode=0o750
//! directory "/tmp/scratch" state="absent"
//! ```
//!
//! Missing parents are created (`mkdir -p`) unless `parents=#false`; only the directory
//! itself gets the owner and mode. `state="absent"` removes it with its contents.

use super::file::read_path;
use super::ownership::{self, Ownership};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::facts::{self, Need};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Directory {
    path: String,
    present: bool,
    ownership: Ownership,
    parents: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    Directory(ownership::Observed),
    Other(String),
}

impl Kind for Directory {
    const KIND: &'static str = "directory";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Directory> {
        let path = read_path(r);
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let ownership = Ownership::read(r);
        let parents = r.bool("parents").unwrap_or(true);
        Some(Directory { path: path?, present, ownership, parents })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        d.extend(self.ownership.deps());
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.raw("if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then echo type=directory\n");
        Ownership::probe(sh);
        sh.raw("elif [ -L \"$p\" ]; then echo type=symlink\nelif [ -e \"$p\" ]; then echo type=other\nelse echo type=absent\nfi\n");
    }

    fn facts(&self) -> Vec<Need> {
        vec![Need::new(&facts::STAT, &self.path)]
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(match rec.req("type")? {
            "absent" => State::Absent,
            "directory" => State::Directory(Ownership::parse(&rec)?),
            t @ ("symlink" | "other") => State::Other(t.to_string()),
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        match (state, self.present) {
            (State::Absent, false) => Diff::ok(),
            (State::Directory(_), false) => {
                Diff::new(Action::Remove, vec![Change::new("state", Some("directory".into()), None)])
            }
            (State::Other(t), false) => Diff::new(Action::Remove, vec![Change::new("state", Some(t.clone()), None)]),
            (State::Other(t), true) => Diff::new(Action::Change, vec![Change::set("type", t.clone(), "directory")]),
            (State::Absent, true) => {
                let mut changes = vec![Change::new("state", None, Some("directory".into()))];
                changes.extend(self.ownership.diff(None, 0o755));
                Diff::new(Action::Create, changes)
            }
            (State::Directory(obs), true) => Diff::new(Action::Change, self.ownership.diff(Some(obs), 0o755)),
        }
    }

    fn recheck(&self, sh: &mut Sh) -> bool {
        if self.present {
            return false;
        }
        sh.set("p", &self.path);
        sh.raw("if [ -e \"$p\" ] || [ -L \"$p\" ]; then rm -rf -- \"$p\"; : > \"$CV_A\"; fi\n");
        true
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("p", &self.path);
        match (state, self.present) {
            (_, false) => {
                sh.raw("rm -rf -- \"$p\"\n");
            }
            (State::Other(_), true) => {
                sh.raw("printf '%s\\n' \"refusing to replace something that is not a directory: $p\" >&2; exit 1\n");
            }
            (State::Absent, true) => {
                if self.parents {
                    sh.raw("mkdir -p -- \"$p\"\n");
                } else {
                    sh.raw("mkdir -- \"$p\"\n");
                }
                self.ownership.steps(&diff.changes, "\"$p\"", sh);
            }
            (State::Directory(_), true) => self.ownership.steps(&diff.changes, "\"$p\"", sh),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Directory {
        Directory {
            path: "/srv/app".into(),
            present: true,
            ownership: Ownership {
                owner: Some("app".into()),
                group: Some("app".into()),
                mode: Some(0o750),
                login_group: false,
            },
            parents: true,
        }
    }

    #[test]
    fn creates_with_owner_and_mode() {
        let d = dir();
        let state = d.parse("type=absent\n").expect("parse");
        let diff = d.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let mut sh = Sh::new();
        d.steps(&state, &diff, &mut sh);
        assert_eq!(sh.text(), "p=/srv/app\nmkdir -p -- \"$p\"\nchown -- app:app \"$p\"\nchmod 0750 \"$p\"\n");
    }

    #[test]
    fn existing_in_sync_and_drifted() {
        let d = dir();
        let ok = d.parse("type=directory\nstat=app:999:app:999:750\n").expect("parse");
        assert!(d.diff(&ok, &PlanCx::default()).is_ok());
        let drift = d.parse("type=directory\nstat=root:0:app:999:755\n").expect("parse");
        let diff = d.diff(&drift, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("owner", "root", "app"), Change::set("mode", "0755", "0750")]);
    }

    #[test]
    fn missing_stat_is_a_probe_error() {
        assert!(dir().parse("type=directory\n").is_err());
        assert!(dir().parse("").is_err());
    }
}
