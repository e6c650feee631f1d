//! `user`: a Unix account.
//!
//! ```kdl
//! user "viewbovis" system=#true home="/srv/viewbovis" shell="/usr/sbin/nologin" {
//!     groups "adm" "systemd-journal"
//! }
//! user "deploy" uid=2001 group="deploy" comment="Deploys" append=#true {
//!     groups "sudo"
//! }
//! user "olduser" state="absent" remove-home=#true
//! ```
//!
//! Probed with `getent passwd` and `id`; created with `useradd`, changed with `usermod`,
//! removed with `userdel`. `groups` is the exact set of supplementary groups unless
//! `append=#true` (then groups are only added). The home directory is created with the
//! account unless `create-home=#false`; `system` only matters at creation. A user depends
//! on the managed groups it names.

use super::group::{account, read_account, read_account_name};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

#[derive(Debug)]
pub struct User {
    name: String,
    present: bool,
    system: bool,
    uid: Option<u32>,
    group: Option<String>,
    groups: Option<Vec<String>>,
    append: bool,
    home: Option<String>,
    shell: Option<String>,
    comment: Option<String>,
    create_home: bool,
    remove_home: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    Present(Account),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub comment: String,
    pub home: String,
    pub shell: String,
    pub group: String,
    pub groups: Vec<String>,
}

/// A field of `/etc/passwd` (`home`, `shell`, `comment`): one line, no `:` (the field
/// separator); a home or shell is an absolute path.
fn passwd_field(r: &mut NodeReader, key: &'static str, path: bool) -> Option<String> {
    let v = if path { r.nonempty(key)? } else { r.string(key)? };
    let problem = if v.value.contains(':') {
        Some("`:` separates the fields of /etc/passwd")
    } else if v.value.chars().any(char::is_control) {
        Some("a field of /etc/passwd is one line, without control characters")
    } else if path && !PathRule::Absolute.admits(&v.value) {
        Some("an absolute path starts with `/`")
    } else {
        None
    };
    if let Some(p) = problem {
        r.error(Diag::new(Code::User, format!("`{key}` cannot be {:?}", v.value), &v.at, p));
        return None;
    }
    Some(v.value)
}

impl Kind for User {
    const KIND: &'static str = "user";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<User> {
        let name = read_account_name(r, "user name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let system = r.bool("system").unwrap_or(false);
        let uid = r.int::<u32>("uid").map(|u| u.value);
        let group = read_account(r, "group", "group name");
        let has_groups = r.has("groups") || !r.children("groups").is_empty();
        let listed = r.list("groups");
        let groups: Vec<String> = listed.into_iter().filter_map(|g| account(r, g, "group name")).collect();
        let append = r.bool("append").unwrap_or(false);
        let home = passwd_field(r, "home", true);
        let shell = passwd_field(r, "shell", true);
        let comment = passwd_field(r, "comment", false);
        let create_home = r.bool("create-home").unwrap_or(true);
        let remove_home = r.bool("remove-home").unwrap_or(false);
        let mut groups = has_groups.then_some(groups);
        if let Some(g) = groups.as_mut() {
            g.sort();
            g.dedup();
        }
        Some(User {
            name: name?,
            present,
            system,
            uid,
            group,
            groups,
            append,
            home,
            shell,
            comment,
            create_home,
            remove_home,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d: Vec<Implicit> =
            self.group.iter().map(|g| Implicit::new("group", g.clone(), "primary group")).collect();
        for g in self.groups.iter().flatten() {
            d.push(Implicit::new("group", g.clone(), "supplementary group"));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("n", &self.name);
        sh.raw("if e=$(getent passwd -- \"$n\"); then echo present=1; printf '%s\\n' \"passwd=$e\"; ");
        // `id -Gn` lists the primary group first
        sh.raw("g=$(id -Gn -- \"$n\") && printf '%s\\n' \"group=${g%% *}\" && printf '%s\\n' \"groups=$g\"; else echo present=0; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        if rec.req("present")? == "0" {
            return Ok(State::Absent);
        }
        let line = rec.req("passwd")?;
        let f: Vec<&str> = line.split(':').collect();
        let [_, _, uid, _, comment, home, shell] = f.as_slice() else {
            return Err(ProbeError(format!("malformed passwd entry {line:?}")));
        };
        let group = rec.req("group")?.to_string();
        let mut groups: Vec<String> =
            rec.req("groups")?.split_whitespace().filter(|g| *g != group).map(str::to_string).collect();
        groups.sort();
        groups.dedup();
        Ok(State::Present(Account {
            uid: uid.parse().map_err(|_| ProbeError(format!("malformed uid in {line:?}")))?,
            comment: comment.to_string(),
            home: home.to_string(),
            shell: shell.to_string(),
            group,
            groups,
        }))
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        match (state, self.present) {
            (State::Absent, false) => Diff::ok(),
            (State::Present(_), false) => {
                Diff::new(Action::Remove, vec![Change::new("state", Some("present".into()), None)])
            }
            (State::Absent, true) => {
                let mut c = vec![Change::new(
                    "state",
                    None,
                    Some(if self.system { "present (system)" } else { "present" }.into()),
                )];
                let mut add = |f: &str, v: Option<String>| {
                    if let Some(v) = v {
                        c.push(Change::new(f, None, Some(v)));
                    }
                };
                add("uid", self.uid.map(|u| u.to_string()));
                add("group", self.group.clone());
                add("groups", self.groups.as_ref().map(|g| g.join(",")));
                add("home", self.home.clone());
                add("shell", self.shell.clone());
                add("comment", self.comment.clone());
                Diff::new(Action::Create, c)
            }
            (State::Present(acct), true) => Diff::new(Action::Change, self.changes(acct)),
        }
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("n", &self.name);
        match (state, self.present) {
            (_, false) => {
                sh.raw(if self.remove_home { "userdel --remove -- \"$n\"\n" } else { "userdel -- \"$n\"\n" });
            }
            (State::Absent, true) => {
                sh.raw("useradd");
                if self.system {
                    sh.raw(" --system");
                }
                sh.raw(if self.create_home { " --create-home" } else { " --no-create-home" });
                self.options(&diff.changes, sh);
                sh.raw(" -- \"$n\"\n");
            }
            (State::Present(_), true) => {
                sh.raw("usermod");
                if self.append && diff.changes.iter().any(|c| c.field() == "groups") {
                    sh.raw(" --append");
                }
                self.options(&diff.changes, sh);
                sh.raw(" -- \"$n\"\n");
            }
        }
    }
}

impl User {
    fn changes(&self, acct: &Account) -> Vec<Change> {
        let mut c = Vec::new();
        if let Some(u) = self.uid.filter(|u| *u != acct.uid) {
            c.push(Change::set("uid", acct.uid.to_string(), u.to_string()));
        }
        if let Some(g) = self.group.as_ref().filter(|g| **g != acct.group) {
            c.push(Change::set("group", acct.group.clone(), g.clone()));
        }
        if let Some(want) = &self.groups {
            let missing = want.iter().any(|g| !acct.groups.contains(g));
            let extra = !self.append && acct.groups.iter().any(|g| !want.contains(g));
            if missing || extra {
                let after = if self.append {
                    let mut all = acct.groups.clone();
                    all.extend(want.iter().filter(|g| !acct.groups.contains(g)).cloned());
                    all.sort();
                    all
                } else {
                    want.clone()
                };
                c.push(Change::set("groups", acct.groups.join(","), after.join(",")));
            }
        }
        for (field, want, have) in [
            ("home", &self.home, &acct.home),
            ("shell", &self.shell, &acct.shell),
            ("comment", &self.comment, &acct.comment),
        ] {
            if let Some(w) = want.as_ref().filter(|w| *w != have) {
                c.push(Change::set(field, have.clone(), w.clone()));
            }
        }
        c
    }

    /// `--uid`, `--gid`, ... for the fields that change.
    fn options(&self, changes: &[Change], sh: &mut Sh) {
        let has = |f: &str| changes.iter().any(|c| c.field() == f);
        if let Some(u) = self.uid.filter(|_| has("uid")) {
            sh.raw(" --uid ").num(u);
        }
        if let Some(g) = self.group.as_deref().filter(|_| has("group")) {
            sh.raw(" --gid ").q(g);
        }
        if let Some(groups) = self.groups.as_ref().filter(|_| has("groups")) {
            sh.raw(" --groups ").q(&groups.join(","));
        }
        if let Some(h) = self.home.as_deref().filter(|_| has("home")) {
            sh.raw(" --home-dir ").q(h);
        }
        if let Some(s) = self.shell.as_deref().filter(|_| has("shell")) {
            sh.raw(" --shell ").q(s);
        }
        if let Some(c) = self.comment.as_deref().filter(|_| has("comment")) {
            sh.raw(" --comment ").q(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            name: "app".into(),
            present: true,
            system: true,
            uid: None,
            group: None,
            groups: Some(vec!["adm".into(), "audio".into()]),
            append: false,
            home: Some("/srv/app".into()),
            shell: Some("/usr/sbin/nologin".into()),
            comment: None,
            create_home: true,
            remove_home: false,
        }
    }

    const PRESENT: &str =
        "present=1\npasswd=app:x:998:998:App,,,:/srv/app:/usr/sbin/nologin\ngroup=app\ngroups=app audio adm\n";

    #[test]
    fn creates_a_system_user() {
        let u = user();
        let state = u.parse("present=0\n").expect("parse");
        let diff = u.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        u.steps(&state, &diff, &mut sh);
        assert_eq!(
            sh.text(),
            "n=app\nuseradd --system --create-home --groups 'adm,audio' --home-dir /srv/app --shell /usr/sbin/nologin -- \"$n\"\n"
        );
    }

    #[test]
    fn parses_and_is_in_sync() {
        let u = user();
        let state = u.parse(PRESENT).expect("parse");
        assert!(u.diff(&state, &PlanCx::default()).is_ok(), "{:?}", u.diff(&state, &PlanCx::default()));
    }

    #[test]
    fn exact_groups_remove_extras_append_does_not() {
        let mut u = user();
        u.groups = Some(vec!["adm".into()]);
        let state = u.parse(PRESENT).expect("parse");
        let diff = u.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("groups", "adm,audio", "adm")]);
        u.append = true;
        assert!(u.diff(&state, &PlanCx::default()).is_ok());
        u.groups = Some(vec!["sudo".into()]);
        let diff = u.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        u.steps(&state, &diff, &mut sh);
        assert_eq!(sh.text(), "n=app\nusermod --append --groups sudo -- \"$n\"\n");
    }

    #[test]
    fn malformed_passwd_is_an_error() {
        assert!(user().parse("present=1\npasswd=app:x\ngroup=app\ngroups=app\n").is_err());
    }
}
