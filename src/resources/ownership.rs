//! Owner, group and mode of a path: read, probed, diffed and set the same way for every
//! kind that manages a path (`file`, `directory`, `unit`).
//!
//! The probe prints one line, `stat=OWNER:UID:GROUP:GID:MODE` (user and group names
//! cannot contain `:`), so it works with GNU and busybox `stat` alike. A wanted owner may
//! be a name or a numeric id.

use super::group::read_account;
use super::record::Record;
use super::{Change, Implicit, ProbeError};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<u32>,
    /// The owner comes from `become-user` and no group is given: whenever the owner is
    /// set, the group becomes the owner's login group (`chown USER:`), as for a file the
    /// user makes.
    pub login_group: bool,
}

/// What `stat` said about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub owner: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
    pub mode: u32,
}

impl Ownership {
    /// Reads `owner`, `group` and `mode`; without `owner`, the `become-user` in force
    /// owns the path, with its login group unless `group` is given.
    pub fn read(r: &mut NodeReader) -> Ownership {
        let become_user = r.become_user();
        let owner = read_account(r, "owner", "user name");
        let group = read_account(r, "group", "group name");
        let mode = r.mode("mode");
        let login_group = owner.is_none() && group.is_none() && become_user.is_some() && !r.has("owner");
        Ownership { owner: owner.or(become_user), group, mode, login_group }
    }

    /// The `chown` argument for the wanted owner and group, if any.
    pub fn chown_spec(&self) -> Option<String> {
        match (&self.owner, &self.group) {
            (Some(o), Some(g)) => Some(format!("{o}:{g}")),
            (Some(o), None) if self.login_group => Some(format!("{o}:")),
            (Some(o), None) => Some(o.clone()),
            (None, Some(g)) => Some(format!(":{g}")),
            (None, None) => None,
        }
    }

    /// What the plan shows for the owner's login group.
    fn login_group_of(owner: &str) -> String {
        format!("(login group of {owner})")
    }

    /// The managed user and group this path needs first.
    pub fn deps(&self) -> Vec<Implicit> {
        let mut out = Vec::new();
        if let Some(o) = &self.owner {
            out.push(Implicit::new("user", o.clone(), "owner"));
        }
        if let Some(g) = &self.group {
            out.push(Implicit::new("group", g.clone(), "group"));
        }
        out
    }

    /// Prints the `stat=` line for the path in `$p`: the probe's batched line in
    /// `$cv_stat` when it has one (see [`crate::facts::STAT`]), else its own `stat`.
    pub fn probe(sh: &mut Sh) {
        sh.raw("if [ -n \"${cv_stat-}\" ]; then printf '%s\\n' \"stat=$cv_stat\"; else stat -c 'stat=%U:%u:%G:%g:%a' -- \"$p\"; fi\n");
    }

    pub fn parse(rec: &Record) -> Result<Observed, ProbeError> {
        let line = rec.req("stat")?;
        let parts: Vec<&str> = line.split(':').collect();
        let bad = || ProbeError(format!("malformed stat output {line:?}"));
        let [owner, uid, group, gid, mode] = parts.as_slice() else { return Err(bad()) };
        Ok(Observed {
            owner: owner.to_string(),
            uid: uid.parse().map_err(|_| bad())?,
            group: group.to_string(),
            gid: gid.parse().map_err(|_| bad())?,
            mode: u32::from_str_radix(mode, 8).map_err(|_| bad())?,
        })
    }

    /// Field changes against what exists; `None` = the path is being created, so every
    /// wanted value is shown as new (a new path without a wanted mode gets `default_mode`).
    pub fn diff(&self, observed: Option<&Observed>, default_mode: u32) -> Vec<Change> {
        let mut out = Vec::new();
        match observed {
            None => {
                if let Some(o) = &self.owner {
                    out.push(Change::new("owner", None, Some(o.clone())));
                    if self.login_group {
                        out.push(Change::new("group", None, Some(Self::login_group_of(o))));
                    }
                }
                if let Some(g) = &self.group {
                    out.push(Change::new("group", None, Some(g.clone())));
                }
                out.push(Change::new("mode", None, Some(format_mode(self.mode.unwrap_or(default_mode)))));
            }
            Some(obs) => {
                if let Some(o) = self.owner.as_deref().filter(|o| !same_id(o, &obs.owner, obs.uid)) {
                    out.push(Change::set("owner", obs.owner.clone(), o));
                    if self.login_group {
                        out.push(Change::set("group", obs.group.clone(), Self::login_group_of(o)));
                    }
                }
                if let Some(g) = self.group.as_deref().filter(|g| !same_id(g, &obs.group, obs.gid)) {
                    out.push(Change::set("group", obs.group.clone(), g));
                }
                if let Some(m) = self.mode.filter(|m| *m != obs.mode) {
                    out.push(Change::set("mode", format_mode(obs.mode), format_mode(m)));
                }
            }
        }
        out
    }

    /// Every wanted field, as changes to apply to a freshly written file.
    pub fn explicit(&self) -> Vec<Change> {
        let mut out = self.diff(None, 0);
        if self.mode.is_none() {
            out.retain(|c| c.field() != "mode");
        }
        out
    }

    /// `chown` / `chmod` the path named by `target` (shell text such as `"$p"`), for
    /// exactly the fields in `changes`.
    pub fn steps(&self, changes: &[Change], target: &'static str, sh: &mut Sh) {
        let wants = |f: &str| changes.iter().any(|c| c.field() == f);
        match (self.owner.as_deref().filter(|_| wants("owner")), self.group.as_deref().filter(|_| wants("group"))) {
            (Some(o), Some(g)) => {
                sh.raw("chown -- ").q(&format!("{o}:{g}")).sp().raw(target).nl();
            }
            (Some(o), None) if self.login_group => {
                sh.raw("chown -- ").q(&format!("{o}:")).sp().raw(target).nl();
            }
            (Some(o), None) => {
                sh.raw("chown -- ").q(o).sp().raw(target).nl();
            }
            (None, Some(g)) => {
                sh.raw("chgrp -- ").q(g).sp().raw(target).nl();
            }
            (None, None) => {}
        }
        if let Some(c) = changes.iter().find(|c| c.field() == "mode") {
            let mode = self.mode.or_else(|| c.after().and_then(crate::syntax::kdl::parse_mode));
            if let Some(m) = mode {
                sh.raw("chmod ").mode(m).sp().raw(target).nl();
            }
        }
    }
}

/// A wanted owner matches by name, or by number when written as a number.
fn same_id(wanted: &str, name: &str, id: u32) -> bool {
    wanted == name || wanted.parse::<u32>().is_ok_and(|n| n == id)
}

pub fn format_mode(mode: u32) -> String {
    format!("{mode:04o}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> Observed {
        Observed { owner: "root".into(), uid: 0, group: "adm".into(), gid: 4, mode: 0o640 }
    }

    #[test]
    fn parses_stat_line() {
        let rec = Record::parse("stat=root:0:adm:4:640\n").expect("record");
        assert_eq!(Ownership::parse(&rec).expect("stat"), obs());
        let rec = Record::parse("stat=root:0:adm\n").expect("record");
        assert!(Ownership::parse(&rec).is_err());
    }

    #[test]
    fn diffs_only_what_is_wanted_and_different() {
        let want = Ownership {
            owner: Some("0".into()),
            group: Some("www-data".into()),
            mode: Some(0o644),
            login_group: false,
        };
        let changes = want.diff(Some(&obs()), 0o644);
        assert_eq!(changes, vec![Change::set("group", "adm", "www-data"), Change::set("mode", "0640", "0644")]);
        let mut sh = Sh::new();
        want.steps(&changes, "\"$p\"", &mut sh);
        assert_eq!(sh.text(), "chgrp -- www-data \"$p\"\nchmod 0644 \"$p\"\n");
        assert!(Ownership::default().diff(Some(&obs()), 0o644).is_empty());
    }

    #[test]
    fn a_become_user_owner_brings_its_login_group_whenever_the_owner_is_set() {
        let want = Ownership { owner: Some("deploy".into()), login_group: true, ..Ownership::default() };
        let new = want.diff(None, 0o644);
        assert_eq!(new[1], Change::new("group", None, Some("(login group of deploy)".into())));
        let mut sh = Sh::new();
        want.steps(&new, "\"$p\"", &mut sh);
        assert_eq!(sh.text(), "chown -- deploy: \"$p\"\nchmod 0644 \"$p\"\n");
        assert_eq!(want.chown_spec().as_deref(), Some("deploy:"));
        // owned by root: both change; owned by deploy already: the group is left as it is
        let changes = want.diff(Some(&obs()), 0o644);
        assert_eq!(
            changes,
            vec![Change::set("owner", "root", "deploy"), Change::set("group", "adm", "(login group of deploy)")]
        );
        let theirs = Observed { owner: "deploy".into(), uid: 1001, ..obs() };
        assert!(want.diff(Some(&theirs), 0o644).is_empty());
    }
}
