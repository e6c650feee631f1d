//! `postgres-database`: a PostgreSQL database, its owner, encoding and locale.
//!
//! ```kdl
//! postgres-role "kano" login=#true
//! postgres-database "kano_konnect" owner="kano" encoding="UTF8" template="template0"
//! postgres-database "scratch" lc-collate="C" lc-ctype="C"
//! postgres-database "old_db" state="absent"
//! ```
//!
//! Probed from `pg_database` as the `postgres` OS user (the SQL on stdin, values as psql
//! variables, one session for every `postgres-*` resource of a host: see `psql.rs`). Created with `CREATE DATABASE`; a changed owner is set with
//! `ALTER DATABASE ... OWNER TO`. `owner`, `encoding`, `lc-collate` and `lc-ctype` are
//! managed only when given; `template` only matters when the database is created, and
//! defaults to `template0` when an encoding or locale is given (PostgreSQL refuses another
//! encoding or locale than `template1`'s otherwise). Encodings compare as PostgreSQL reads
//! them (`utf-8` is `UTF8`); locales compare exactly, as `pg_database` shows them.
//!
//! The encoding and locale of an existing database cannot change: the plan shows the
//! difference and the step fails, saying so, without touching the data (dump, drop and
//! recreate it by hand). `state="absent"` drops the database (`DROP DATABASE`, which fails
//! while sessions are connected to it).
//!
//! A database depends on its managed owner role (`postgres-role:OWNER`), on the managed
//! `package:postgresql` and `service:postgresql`; its steps wait up to 30 s for the server
//! to accept connections.

use super::psql::{self, Psql, Server};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::facts::Need;
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct PostgresDatabase {
    name: String,
    present: bool,
    owner: Option<String>,
    encoding: Option<String>,
    lc_collate: Option<String>,
    lc_ctype: Option<String>,
    template: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No such database, or no PostgreSQL yet.
    Absent,
    /// The server does not answer.
    Unknown,
    Present(Database),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub owner: String,
    pub encoding: String,
    pub collate: String,
    pub ctype: String,
}

/// An encoding name as PostgreSQL compares them: case and punctuation do not count.
fn encoding_key(e: &str) -> String {
    e.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect()
}

fn read_name(r: &mut NodeReader, v: Option<Spanned<String>>, what: &str) -> Option<String> {
    let v = v?;
    if !psql::valid_name(&v.value) {
        r.error(Diag::new(
            Code::Postgres,
            format!("`{}` is not a PostgreSQL {what} name", v.value),
            &v.at,
            "1 to 63 bytes",
        ));
        return None;
    }
    Some(v.value)
}

impl PostgresDatabase {
    /// What the probe asks of `pg_database`.
    fn query(&self) -> Psql {
        let mut q = Psql::new();
        q.var("name", &self.name);
        q.sql("SELECT 'present=' || count(*) FROM pg_database WHERE datname = :'name';\n");
        q.sql("SELECT concat_ws(E'\\n', 'owner=' || encode(convert_to(pg_get_userbyid(datdba), 'UTF8'), 'hex'), 'encoding=' || pg_encoding_to_char(encoding), 'collate=' || datcollate, 'ctype=' || datctype) FROM pg_database WHERE datname = :'name';\n");
        q
    }
}

impl Kind for PostgresDatabase {
    const KIND: &'static str = "postgres-database";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<PostgresDatabase> {
        let name = r.arg("a database name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let owner = r.nonempty("owner");
        let encoding = r.nonempty("encoding");
        let lc_collate = r.nonempty("lc-collate");
        let lc_ctype = r.nonempty("lc-ctype");
        let template = r.nonempty("template");
        let name = read_name(r, name, "database");
        let owner = read_name(r, owner, "role");
        let template = read_name(r, template, "database");
        if let Some(e) = &encoding
            && (encoding_key(&e.value).is_empty()
                || !e.value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b)))
        {
            r.error(Diag::new(
                Code::Postgres,
                format!("`{}` is not an encoding name", e.value),
                &e.at,
                "like \"UTF8\"",
            ));
        }
        for l in [&lc_collate, &lc_ctype].into_iter().flatten() {
            if !l.value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b)) {
                r.error(Diag::new(
                    Code::Postgres,
                    format!("`{}` is not a locale name", l.value),
                    &l.at,
                    "like \"C.UTF-8\" or \"en_US.UTF-8\"",
                ));
            }
        }
        if r.failed() {
            return None;
        }
        Some(PostgresDatabase {
            name: name?,
            present,
            owner,
            encoding: encoding.map(|e| e.value),
            lc_collate: lc_collate.map(|l| l.value),
            lc_ctype: lc_ctype.map(|l| l.value),
            template,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = vec![
            Implicit::new("package", "postgresql", "package"),
            Implicit::new("service", "postgresql", "the server"),
        ];
        if let (Some(o), true) = (&self.owner, self.present) {
            d.push(Implicit::new("postgres-role", o.clone(), "owner"));
        }
        d
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
        Ok(State::Present(Database {
            owner: psql::unhex(rec.req("owner")?)
                .ok_or_else(|| ProbeError("the owner is not a hex-encoded name".to_string()))?,
            encoding: rec.req("encoding")?.to_string(),
            collate: rec.req("collate")?.to_string(),
            ctype: rec.req("ctype")?.to_string(),
        }))
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        const UNKNOWN: &str = "unknown (PostgreSQL does not answer)";
        match (state, self.present) {
            (State::Absent, false) => Diff::ok(),
            (State::Present(_), false) => {
                Diff::new(Action::Remove, vec![Change::new("state", Some("present".into()), None)])
            }
            (State::Unknown, false) => {
                Diff::new(Action::Remove, vec![Change::new("state", Some(UNKNOWN.into()), None)])
            }
            (State::Absent | State::Unknown, true) => {
                let before = matches!(state, State::Unknown).then(|| UNKNOWN.to_string());
                let mut c = vec![Change::new("state", before, Some("present".into()))];
                for (field, v) in [
                    ("owner", &self.owner),
                    ("encoding", &self.encoding),
                    ("lc-collate", &self.lc_collate),
                    ("lc-ctype", &self.lc_ctype),
                    ("template", &self.template),
                ] {
                    if let Some(v) = v {
                        c.push(Change::new(field, None, Some(v.clone())));
                    }
                }
                Diff::new(Action::Create, c)
            }
            (State::Present(db), true) => {
                let mut c = Vec::new();
                if let Some(o) = self.owner.as_ref().filter(|o| **o != db.owner) {
                    c.push(Change::set("owner", db.owner.clone(), o.clone()));
                }
                if let Some(e) = self.encoding.as_ref().filter(|e| encoding_key(e) != encoding_key(&db.encoding)) {
                    c.push(Change::set("encoding", db.encoding.clone(), e.clone()));
                }
                if let Some(l) = self.lc_collate.as_ref().filter(|l| **l != db.collate) {
                    c.push(Change::set("lc-collate", db.collate.clone(), l.clone()));
                }
                if let Some(l) = self.lc_ctype.as_ref().filter(|l| **l != db.ctype) {
                    c.push(Change::set("lc-ctype", db.ctype.clone(), l.clone()));
                }
                Diff::new(Action::Change, c)
            }
        }
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        let fixed: Vec<&str> = diff
            .changes
            .iter()
            .map(|c| c.field())
            .filter(|f| matches!(state, State::Present(_)) && ["encoding", "lc-collate", "lc-ctype"].contains(f))
            .collect();
        if !fixed.is_empty() {
            sh.set("d", &self.name);
            sh.raw("printf '%s\\n' \"the encoding and locale of database $d cannot change once it exists: dump it, drop it and create it again\" >&2; exit 1\n");
            return;
        }
        psql::wait_for_server(sh);
        psql::run(sh, &self.statements(state, diff));
        sh.nl();
    }
}

impl PostgresDatabase {
    /// The SQL that makes the changes in `diff`. `CREATE DATABASE` cannot run inside a
    /// transaction, so each statement stands alone.
    fn statements(&self, state: &State, diff: &Diff) -> Psql {
        let mut q = Psql::new();
        q.var("name", &self.name);
        if !self.present {
            q.sql("DROP DATABASE IF EXISTS :\"name\";\n");
            return q;
        }
        if let Some(o) = &self.owner {
            q.var("owner", o);
        }
        if let State::Present(_) = state {
            if diff.changes.iter().any(|c| c.field() == "owner") {
                q.sql("ALTER DATABASE :\"name\" OWNER TO :\"owner\";\n");
            }
            return q;
        }
        let template = self.template.clone().or_else(|| {
            (self.encoding.is_some() || self.lc_collate.is_some() || self.lc_ctype.is_some())
                .then(|| "template0".to_string())
        });
        // every value is set before the statement that uses it
        let options: [(&'static str, Option<&String>, &'static str); 4] = [
            ("template", template.as_ref(), " TEMPLATE :\"template\""),
            ("encoding", self.encoding.as_ref(), " ENCODING :'encoding'"),
            ("lc_collate", self.lc_collate.as_ref(), " LC_COLLATE :'lc_collate'"),
            ("lc_ctype", self.lc_ctype.as_ref(), " LC_CTYPE :'lc_ctype'"),
        ];
        for (var, value, _) in &options {
            if let Some(v) = value {
                q.var(var, v);
            }
        }
        // the server did not answer the probe: the database may exist by now
        if matches!(state, State::Unknown) {
            q.sql("SELECT count(*) = 0 AS missing FROM pg_database WHERE datname = :'name' \\gset\n\\if :missing\n");
        }
        q.sql("CREATE DATABASE :\"name\"");
        if self.owner.is_some() {
            q.sql(" OWNER :\"owner\"");
        }
        for (_, value, clause) in &options {
            if value.is_some() {
                q.sql(clause);
            }
        }
        q.sql(";\n");
        if matches!(state, State::Unknown) {
            if self.owner.is_some() {
                q.sql("\\else\nALTER DATABASE :\"name\" OWNER TO :\"owner\";\n");
            }
            q.sql("\\endif\n");
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> PostgresDatabase {
        PostgresDatabase {
            name: "kano_konnect".into(),
            present: true,
            owner: Some("kano".into()),
            encoding: Some("utf-8".into()),
            lc_collate: None,
            lc_ctype: None,
            template: None,
        }
    }

    const PRESENT: &str = "server=up\npresent=1\nowner=6b616e6f\nencoding=UTF8\ncollate=C.UTF-8\nctype=C.UTF-8\n";

    #[test]
    fn creates_with_owner_encoding_and_template0() {
        let d = db();
        let state = d.parse("server=up\npresent=0\n").expect("parse");
        let diff = d.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let sql = d.statements(&state, &diff);
        assert!(
            sql.text()
                .ends_with("CREATE DATABASE :\"name\" OWNER :\"owner\" TEMPLATE :\"template\" ENCODING :'encoding';\n"),
            "{}",
            sql.text()
        );
        assert!(sql.text().contains("\\set template 'template0'\n"), "{}", sql.text());
    }

    #[test]
    fn in_sync_encodings_compare_loosely() {
        let d = db();
        let state = d.parse(PRESENT).expect("parse");
        assert!(d.diff(&state, &PlanCx::default()).is_ok());
    }

    #[test]
    fn an_owner_name_with_a_line_break_is_read_whole() {
        // "a\nb;" hex-encoded by the probe: one line however the name looks
        let state = db().parse(&PRESENT.replace("owner=6b616e6f", "owner=610a623b")).expect("parse");
        let State::Present(d) = state else { panic!("present") };
        assert_eq!(d.owner, "a\nb;");
        assert!(db().parse(&PRESENT.replace("owner=6b616e6f", "owner=kano")).is_err(), "not hex");
    }

    #[test]
    fn owner_changes_encoding_cannot() {
        let d = db();
        let state = d.parse(&PRESENT.replace("owner=6b616e6f", "owner=706f737467726573")).expect("parse");
        let diff = d.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("owner", "postgres", "kano")]);
        assert!(d.statements(&state, &diff).text().ends_with("ALTER DATABASE :\"name\" OWNER TO :\"owner\";\n"));
        let state = d.parse(&PRESENT.replace("UTF8", "SQL_ASCII")).expect("parse");
        let diff = d.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("encoding", "SQL_ASCII", "utf-8")]);
        let mut sh = Sh::new();
        d.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("cannot change once it exists") && !sh.text().contains("psql"), "{}", sh.text());
    }

    #[test]
    fn unknown_server_creates_only_if_missing_and_absent_drops() {
        let mut d = db();
        let state = d.parse("server=down\n").expect("parse");
        let diff = d.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes[0].before(), Some("unknown (PostgreSQL does not answer)"));
        let sql = d.statements(&state, &diff);
        assert!(sql.text().contains("\\if :missing\nCREATE DATABASE"), "{}", sql.text());
        d.present = false;
        assert!(d.diff(&State::Absent, &PlanCx::default()).is_ok());
        let state = d.parse(PRESENT).expect("parse");
        let diff = d.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Remove);
        assert!(d.statements(&state, &diff).text().ends_with("DROP DATABASE IF EXISTS :\"name\";\n"));
        assert!(d.parse("server=up\npresent=1\nowner=6b616e6f\n").is_err());
    }
}
