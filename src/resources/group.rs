//! `group`: a Unix group.
//!
//! ```kdl
//! group "viewbovis" system=#true
//! group "deploy" gid=2001
//! group "games" state="absent"
//! ```
//!
//! Probed with `getent group`, so groups from any NSS source count; created with
//! `groupadd`, changed with `groupmod`, removed with `groupdel`. `system` only matters
//! when the group is created.

use super::record::Record;
use super::{Action, Change, Diff, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Group {
    name: String,
    present: bool,
    gid: Option<u32>,
    system: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    Present { gid: u32 },
}

/// Unix user and group names: what `useradd` accepts without `--badname` (a numeric ID
/// too, where one is allowed).
pub fn is_account_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && !n.starts_with('-')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-$".contains(&b))
}

/// `Some(value)` when `v` is an account name; otherwise an error on its token.
pub fn account(r: &mut NodeReader, v: Spanned<String>, what: &str) -> Option<String> {
    if !is_account_name(&v.value) {
        r.error(
            Diag::new(Code::Name, format!("`{}` is not a valid {what}", v.value), &v.at, "invalid name")
                .help("use letters, digits, `_`, `-` and `.`, at most 32 characters, not starting with `-`"),
        );
        return None;
    }
    Some(v.value)
}

/// The node's name argument, a user or group name.
pub fn read_account_name(r: &mut NodeReader, what: &str) -> Option<String> {
    let n = r.arg(what)?;
    account(r, n, what)
}

/// A property naming a user or group (`owner`, `group`, `user`).
pub fn read_account(r: &mut NodeReader, key: &'static str, what: &str) -> Option<String> {
    let v = r.nonempty(key)?;
    account(r, v, what)
}

impl Kind for Group {
    const KIND: &'static str = "group";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Group> {
        let name = read_account_name(r, "group name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let gid = r.int::<u32>("gid").map(|g| g.value);
        let system = r.bool("system").unwrap_or(false);
        Some(Group { name: name?, present, gid, system })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("n", &self.name);
        sh.raw("if e=$(getent group -- \"$n\"); then echo present=1; e=${e#*:*:}; printf '%s\\n' \"gid=${e%%:*}\"; else echo present=0; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(match rec.req("present")? {
            "0" => State::Absent,
            "1" => State::Present { gid: rec.num("gid")? },
            other => return Err(ProbeError(format!("unexpected present={other:?}"))),
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        match (state, self.present) {
            (State::Absent, false) => Diff::ok(),
            (State::Present { .. }, false) => {
                Diff::new(Action::Remove, vec![Change::new("state", Some("present".into()), None)])
            }
            (State::Absent, true) => {
                let mut c = vec![Change::new("state", None, Some("present".into()))];
                if let Some(g) = self.gid {
                    c.push(Change::new("gid", None, Some(g.to_string())));
                }
                Diff::new(Action::Create, c)
            }
            (State::Present { gid }, true) => {
                let c = self.gid.filter(|g| g != gid).map(|g| Change::set("gid", gid.to_string(), g.to_string()));
                Diff::new(Action::Change, c.into_iter().collect())
            }
        }
    }

    fn steps(&self, state: &State, _diff: &Diff, sh: &mut Sh) {
        sh.set("n", &self.name);
        match (state, self.present) {
            (_, false) => {
                sh.raw("groupdel -- \"$n\"\n");
            }
            (State::Absent, true) => {
                sh.raw("groupadd");
                if self.system {
                    sh.raw(" --system");
                }
                if let Some(g) = self.gid {
                    sh.raw(" --gid ").num(g);
                }
                sh.raw(" -- \"$n\"\n");
            }
            (State::Present { .. }, true) => {
                if let Some(g) = self.gid {
                    sh.raw("groupmod --gid ").num(g).raw(" -- \"$n\"\n");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_change_and_sync() {
        let g = Group { name: "deploy".into(), present: true, gid: Some(2001), system: true };
        let absent = g.parse("present=0\n").expect("parse");
        let diff = g.diff(&absent, &PlanCx::default());
        let mut sh = Sh::new();
        g.steps(&absent, &diff, &mut sh);
        assert_eq!(sh.text(), "n=deploy\ngroupadd --system --gid 2001 -- \"$n\"\n");
        let other = g.parse("present=1\ngid=1500\n").expect("parse");
        assert_eq!(g.diff(&other, &PlanCx::default()).changes, vec![Change::set("gid", "1500", "2001")]);
        assert!(g.diff(&g.parse("present=1\ngid=2001\n").expect("p"), &PlanCx::default()).is_ok());
        assert!(g.parse("present=1\n").is_err());
    }
}
