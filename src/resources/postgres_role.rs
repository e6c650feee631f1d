//! `postgres-role`: a PostgreSQL role (a user, when it can log in), its attributes and its
//! password.
//!
//! ```kdl
//! secrets { db_password env="KANO_DB_PASSWORD" }
//! postgres-role "kano" login=#true password="{{ db_password }}" createdb=#false
//! postgres-role "reporting" login=#false
//! postgres-role "old_app" state="absent"
//! ```
//!
//! Probed from `pg_authid` as the `postgres` OS user (`runuser -u postgres -- psql`, the
//! SQL on stdin, values as psql variables, one session for every `postgres-*` resource of
//! a host: see `psql.rs`). `login` defaults to `#true`;
//! `superuser`, `createdb`, `createrole`, `replication`, `inherit` and `connection-limit`
//! are managed only when given.
//!
//! The password is never sent to the host: converge computes a SCRAM-SHA-256 verifier on
//! the controller (random salt, 4096 iterations) and PostgreSQL stores it as it is. The
//! probe reads the stored verifier back and converge recomputes it with its salt, so a
//! password changed by hand shows as a change. `password-update="always"` (default) keeps
//! the password as written; `"on-create"` sets it only when the role is created. A stored
//! md5 hash is replaced by a SCRAM verifier. Passwords must be ASCII (PostgreSQL runs other
//! passwords through SASLprep, which converge does not reimplement). The password is
//! sensitive: plans show `password (sensitive)` and nothing of it, and it is masked in every
//! output.
//!
//! A role depends on the managed `package:postgresql` and `service:postgresql`; its steps
//! wait up to 30 s for the server to accept connections (it may just have been
//! installed). Dropping a role that still owns a database fails with PostgreSQL's message:
//! drop the database first (`require="postgres-database:NAME"` on the absent role).

use super::psql::{self, Psql, Server};
use super::record::Record;
use super::{Action, Change, Content, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag};
use crate::facts::Need;
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct PostgresRole {
    name: String,
    present: bool,
    /// (attribute, its `pg_authid` column, keyword when true, keyword when false, wanted)
    flags: Vec<Flag>,
    connection_limit: Option<i32>,
    password: Option<Password>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flag {
    field: &'static str,
    on: &'static str,
    off: &'static str,
    want: bool,
}

const FLAGS: &[(&str, &str, &str)] = &[
    ("login", "LOGIN", "NOLOGIN"),
    ("superuser", "SUPERUSER", "NOSUPERUSER"),
    ("createdb", "CREATEDB", "NOCREATEDB"),
    ("createrole", "CREATEROLE", "NOCREATEROLE"),
    ("replication", "REPLICATION", "NOREPLICATION"),
    ("inherit", "INHERIT", "NOINHERIT"),
];

struct Password {
    clear: String,
    /// The verifier sent to the host, salted at build time.
    verifier: String,
    always: bool,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Password").field("always", &self.always).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No such role, or no PostgreSQL yet.
    Absent,
    /// The server does not answer.
    Unknown,
    Present(Role),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Attribute values by field name (`login=true`...).
    pub flags: Vec<(String, bool)>,
    pub connection_limit: i32,
    /// The stored verifier or hash; empty when there is none.
    pub password: String,
}

impl PostgresRole {
    /// What the probe asks of `pg_authid`.
    fn query(&self) -> Psql {
        let mut q = Psql::new();
        q.var("name", &self.name);
        q.sql("SELECT 'present=' || count(*) FROM pg_authid WHERE rolname = :'name';\n");
        q.sql("SELECT concat_ws(E'\\n', 'login=' || rolcanlogin, 'superuser=' || rolsuper, 'createdb=' || rolcreatedb, 'createrole=' || rolcreaterole, 'replication=' || rolreplication, 'inherit=' || rolinherit, 'connection_limit=' || rolconnlimit");
        if self.password.as_ref().is_some_and(|p| p.always) {
            q.sql(", 'password=' || coalesce(rolpassword, '')");
        }
        q.sql(") FROM pg_authid WHERE rolname = :'name';\n");
        q
    }
}

impl Kind for PostgresRole {
    const KIND: &'static str = "postgres-role";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<PostgresRole> {
        let name = r.arg("a role name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let mut flags = Vec::new();
        for &(field, on, off) in FLAGS {
            let want = r.bool(field).or((field == "login").then_some(true));
            if let Some(want) = want {
                flags.push(Flag { field, on, off, want });
            }
        }
        let connection_limit = r.int::<i32>("connection-limit");
        let password = r.string("password");
        let always = r.choice("password-update", &["always", "on-create"]) != Some("on-create");
        let name = name?;
        if !psql::valid_name(&name.value) {
            r.error(Diag::new(
                Code::Postgres,
                format!("`{}` is not a PostgreSQL role name", name.value),
                &name.at,
                "1 to 63 bytes",
            ));
        }
        if let Some(l) = &connection_limit
            && l.value < -1
        {
            r.error(Diag::new(Code::Range, "`connection-limit` is -1 (no limit) or more", &l.at, "too small"));
        }
        if let Some(p) = &password
            && (p.value.is_empty() || !p.value.is_ascii() || p.value.contains('\0'))
        {
            r.error(
                Diag::new(Code::Postgres, "this password cannot be used", &p.at, "empty or not ASCII")
                    .help("converge sends PostgreSQL a SCRAM verifier of an ASCII password"),
            );
        }
        if r.failed() {
            return None;
        }
        let password = password.map(|p| {
            let verifier = psql::scram_verifier(&p.value, &psql::random_salt(), psql::SCRAM_ITERATIONS);
            Password { clear: p.value, verifier, always }
        });
        Some(PostgresRole {
            name: name.value,
            present,
            flags,
            connection_limit: connection_limit.map(|l| l.value),
            password,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        vec![Implicit::new("package", "postgresql", "package"), Implicit::new("service", "postgresql", "the server")]
    }

    fn secrets(&self) -> Vec<String> {
        self.password.iter().flat_map(|p| [p.clear.clone(), p.verifier.clone()]).collect()
    }

    fn facts(&self) -> Vec<Need> {
        vec![Need::new(&psql::SESSION, self.query().text())]
    }

    fn probe(&self, sh: &mut Sh) {
        psql::probe(sh, &self.query());
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        match psql::server(&rec)? {
            Server::Absent => return Ok(State::Absent),
            Server::Down => return Ok(State::Unknown),
            Server::Up => {}
        }
        if rec.req("present")? == "0" {
            return Ok(State::Absent);
        }
        let mut flags = Vec::new();
        for &(field, _, _) in FLAGS {
            let v = match rec.req(field)? {
                "true" => true,
                "false" => false,
                other => return Err(ProbeError(format!("`{field}` is not a boolean: {other:?}"))),
            };
            flags.push((field.to_string(), v));
        }
        Ok(State::Present(Role {
            flags,
            connection_limit: rec.num("connection_limit")?,
            password: rec.get("password").unwrap_or("").to_string(),
        }))
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let role = match (state, self.present) {
            (State::Absent, false) => return Diff::ok(),
            (State::Present(_), false) => {
                return Diff::new(Action::Remove, vec![Change::new("state", Some("present".into()), None)]);
            }
            (State::Unknown, false) => {
                return Diff::new(
                    Action::Remove,
                    vec![Change::new("state", Some("unknown (PostgreSQL does not answer)".into()), None)],
                );
            }
            (State::Absent | State::Unknown, true) => None,
            (State::Present(role), true) => Some(role),
        };
        let mut changes = Vec::new();
        if role.is_none() {
            let before = matches!(state, State::Unknown).then(|| "unknown (PostgreSQL does not answer)".to_string());
            changes.push(Change::new("state", before, Some("present".into())));
        }
        for f in &self.flags {
            let have = role.and_then(|r| r.flags.iter().find(|(k, _)| k == f.field).map(|(_, v)| *v));
            if have != Some(f.want) {
                changes.push(Change::new(f.field, have.map(|h| h.to_string()), Some(f.want.to_string())));
            }
        }
        if let Some(l) = self.connection_limit
            && role.map(|r| r.connection_limit) != Some(l)
        {
            changes.push(Change::new(
                "connection-limit",
                role.map(|r| r.connection_limit.to_string()),
                Some(l.to_string()),
            ));
        }
        if let Some(p) = &self.password {
            let sets = match role {
                None => true,
                Some(r) => p.always && !psql::scram_matches(&r.password, &p.clear),
            };
            if sets {
                // like sensitive file content: no before, no after, not even a hash
                changes.push(Change::content("password", None, None, Content::Sensitive));
            }
        }
        Diff::new(if role.is_none() { Action::Create } else { Action::Change }, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        psql::wait_for_server(sh);
        psql::run(sh, &self.statements(state, diff));
        sh.nl();
    }
}

impl PostgresRole {
    /// The SQL that makes the changes in `diff`.
    fn statements(&self, state: &State, diff: &Diff) -> Psql {
        let mut q = Psql::new();
        q.var("name", &self.name);
        if !self.present {
            q.sql("DROP ROLE IF EXISTS :\"name\";\n");
            return q;
        }
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        let sets_password = has("password");
        if let (Some(p), true) = (&self.password, sets_password) {
            q.var("password", &p.verifier);
        }
        if let Some(l) = self.connection_limit {
            q.var("connection_limit", &l.to_string());
        }
        // a role the probe could not see (server down) or saw absent may exist by now (the
        // package that was just installed made `postgres`): create it only if it does not,
        // then set every attribute
        let creates = matches!(state, State::Absent);
        q.sql("BEGIN;\n");
        if creates || matches!(state, State::Unknown) {
            q.sql("SELECT count(*) = 0 AS missing FROM pg_roles WHERE rolname = :'name' \\gset\n\\if :missing\nCREATE ROLE :\"name\";\n\\endif\n");
        }
        let mut attrs = false;
        for f in &self.flags {
            if creates || has(f.field) || matches!(state, State::Unknown) {
                if !attrs {
                    q.sql("ALTER ROLE :\"name\" WITH");
                    attrs = true;
                }
                q.sql(" ").sql(if f.want { f.on } else { f.off });
            }
        }
        if self.connection_limit.is_some() && (creates || has("connection-limit") || matches!(state, State::Unknown)) {
            if !attrs {
                q.sql("ALTER ROLE :\"name\" WITH");
                attrs = true;
            }
            q.sql(" CONNECTION LIMIT :connection_limit");
        }
        if attrs {
            q.sql(";\n");
        }
        if sets_password {
            q.sql("ALTER ROLE :\"name\" PASSWORD :'password';\n");
        }
        q.sql("COMMIT;\n");
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(password: Option<&str>, always: bool) -> PostgresRole {
        PostgresRole {
            name: "kano".into(),
            present: true,
            flags: vec![
                Flag { field: "login", on: "LOGIN", off: "NOLOGIN", want: true },
                Flag { field: "createdb", on: "CREATEDB", off: "NOCREATEDB", want: false },
            ],
            connection_limit: None,
            password: password.map(|p| Password {
                clear: p.into(),
                verifier: psql::scram_verifier(p, b"fixed-salt-16byt", 4096),
                always,
            }),
        }
    }

    fn present(password: &str) -> String {
        format!(
            "server=up\npresent=1\nlogin=true\nsuperuser=false\ncreatedb=false\ncreaterole=false\nreplication=false\ninherit=true\nconnection_limit=-1\npassword={password}\n"
        )
    }

    #[test]
    fn creates_with_a_verifier_never_the_password() {
        let r = role(Some("hunter2"), true);
        let state = r.parse("server=up\npresent=0\n").expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["state", "login", "createdb", "password"]);
        assert_eq!(diff.changes[3].content_shown(), Some(&Content::Sensitive));
        assert_eq!((diff.changes[3].before(), diff.changes[3].after()), (None, None));
        let mut sh = Sh::new();
        r.steps(&state, &diff, &mut sh);
        let text = sh.text();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1"), "{text}");
        let sql = r.statements(&state, &diff);
        let sql = sql.text();
        assert!(sql.contains("\\set password 'SCRAM-SHA-256$4096:"), "{sql}");
        // created only if missing by then: installing PostgreSQL in the same run makes `postgres`
        assert!(sql.contains("BEGIN;\nSELECT count(*) = 0 AS missing FROM pg_roles WHERE rolname = :'name' \\gset\n\\if :missing\nCREATE ROLE :\"name\";\n\\endif\nALTER ROLE :\"name\" WITH LOGIN NOCREATEDB;\nALTER ROLE :\"name\" PASSWORD :'password';\nCOMMIT;\n"), "{sql}");
        assert!(r.secrets().iter().any(|s| s == "hunter2"));
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn in_sync_when_the_stored_verifier_is_the_password() {
        let r = role(Some("hunter2"), true);
        let stored = psql::scram_verifier("hunter2", b"another-salt-xyz", 4096);
        let state = r.parse(&present(&stored)).expect("parse");
        assert!(r.diff(&state, &PlanCx::default()).is_ok());
        // changed by hand
        let other = psql::scram_verifier("hunter3", b"another-salt-xyz", 4096);
        let state = r.parse(&present(&other)).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["password"]);
        let sql = r.statements(&state, &diff);
        assert_eq!(
            sql.text().lines().skip(3).collect::<Vec<_>>(),
            ["BEGIN;", "ALTER ROLE :\"name\" PASSWORD :'password';", "COMMIT;"],
            "{}",
            sql.text()
        );
        // on-create leaves an existing password alone
        let r = role(Some("hunter2"), false);
        assert!(r.diff(&state, &PlanCx::default()).is_ok());
    }

    #[test]
    fn attributes_and_md5() {
        let r = role(Some("hunter2"), true);
        let out = present("md5a3556571e93b0d20722ba62be61e8c2d").replace("login=true", "login=false");
        let state = r.parse(&out).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes[0], Change::set("login", "false", "true"));
        assert_eq!(diff.changes[1].field(), "password", "an md5 hash is replaced");
        let sql = r.statements(&state, &diff);
        assert!(sql.text().contains("ALTER ROLE :\"name\" WITH LOGIN;\n"), "{}", sql.text());
    }

    #[test]
    fn absent_down_and_malformed() {
        let mut r = role(None, true);
        assert_eq!(r.parse("server=absent\n").expect("parse"), State::Absent);
        assert_eq!(r.parse("server=down\n").expect("parse"), State::Unknown);
        assert!(r.parse("server=error 3\n").is_err());
        assert!(r.parse("server=up\npresent=1\nlogin=maybe\n").is_err());
        r.present = false;
        assert!(r.diff(&State::Absent, &PlanCx::default()).is_ok());
        let state = r.parse(&present("")).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(
            r.statements(&state, &diff).text(),
            "\\set VERBOSITY terse\n\\set name 'kano'\nDROP ROLE IF EXISTS :\"name\";\n"
        );
    }
}
