//! Every string of every kind, hostile: each string value (argument or property, at any
//! depth) of every KDL example in docs/kinds/ is replaced, one at a time, by each payload
//! of the hostile catalogue (and, for an absolute path, by that path with the payload as
//! a file name under it), and the playbook is checked as `converge check` does. A
//! value is either taken (and then the container tests of `hostile` and of each kind show
//! it reaches the host literally) or refused with a diagnostic whose label is on that
//! very token; never a panic, never an error somewhere else.

use std::ops::Range;

use converge::diag::Diags;
use converge::prepare::check_file;

use crate::hostile::{PAYLOADS, kdl_str, untemplated};
use crate::kinds::OnHost;
use crate::markdown::kdl_blocks;
use crate::support::{Project, repo};

/// A string entry of a document: its node's name, its key (empty for an argument), its
/// value and its span.
struct Entry {
    node: String,
    key: String,
    value: String,
    span: Range<usize>,
}

/// The string entries of a document, at any depth.
fn strings(doc: &kdl::KdlDocument, out: &mut Vec<Entry>) {
    for node in doc.nodes() {
        for entry in node.entries() {
            if let kdl::KdlValue::String(value) = entry.value() {
                let span = entry.span();
                out.push(Entry {
                    node: node.name().value().to_string(),
                    key: entry.name().map(|n| n.value().to_string()).unwrap_or_default(),
                    value: value.clone(),
                    span: span.offset()..span.offset() + span.len(),
                });
            }
        }
        if let Some(children) = node.children() {
            strings(children, out);
        }
    }
}

/// `converge check`, in process: load, expand for every host, build the graph.
fn check(project: &Project, text: &str) -> Result<(), Diags> {
    let path = project.path().join("playbook.kdl");
    std::fs::write(&path, text).expect("write playbook");
    check_file(&path, None).map(|_| ())
}

/// Whether a diagnostic (or one related to it) labels bytes `at` of the playbook.
fn labels(diags: &Diags, at: &Range<usize>) -> bool {
    fn on(d: &converge::diag::Diag, at: &Range<usize>) -> bool {
        let here = d.src.as_ref().is_none_or(|s| s.name().ends_with("playbook.kdl"));
        (here
            && d.labels.iter().any(|l| {
                let (o, n) = (l.offset(), l.len());
                o < at.end && at.start < o + n.max(1)
            }))
            || d.related.iter().any(|r| on(r, at))
    }
    diags.iter().any(|d| on(d, at))
}

/// `env="NAME"` of a secret made `file="secret"`.
fn from_file(block: &str) -> String {
    let mut parts = block.split("env=\"");
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("file=\"secret");
        out.push_str(&part[part.find('"').unwrap_or(0)..]);
    }
    out
}

#[test]
fn every_string_of_every_kind_is_taken_or_refused_at_its_token() {
    let project = Project::new();
    project.file("secret", "stand-in secret\n");
    let (mut tried, mut taken, mut refused) = (0, 0, 0);
    let mut wrong = Vec::new();
    let mut docs: Vec<_> =
        std::fs::read_dir(repo().join("docs/kinds")).expect("docs/kinds").map(|e| e.expect("entry").path()).collect();
    docs.sort();
    for doc in &docs {
        let markdown = std::fs::read_to_string(doc).expect("doc");
        for block in kdl_blocks(&markdown) {
            // secrets from the environment come from a file here (tests share one process)
            let block = from_file(&block);
            // files the examples name get empty stand-ins
            for key in ["template=\"", "source=\""] {
                for part in block.split(key).skip(1) {
                    let path = part.split('"').next().unwrap_or("");
                    if !path.contains("{{") && !path.starts_with('/') {
                        project.file(path, "");
                    }
                }
            }
            // a key must look like one (`apt-repository`)
            for part in block.split("key-source=\"").skip(1) {
                project.file(part.split('"').next().unwrap_or(""), crate::support::STAND_IN_KEY);
            }
            assert!(check(&project, &block).is_ok(), "{}: the example itself does not check:\n{block}", doc.display());
            let parsed: kdl::KdlDocument = block.parse().expect("the example parses");
            let mut entries = Vec::new();
            strings(&parsed, &mut entries);
            for Entry { node, key, value: was, span } in entries {
                // keep `key=` of a property, replace the value
                let original = &block[span.clone()];
                let value_at = if key.is_empty() { 0 } else { original.find('=').map_or(0, |i| i + 1) };
                // each payload alone, and under an absolute path as a file name
                let under = |p: &str| {
                    was.starts_with('/').then(|| format!("{}/{}", was.trim_end_matches('/'), p.replace('/', "_")))
                };
                let values =
                    PAYLOADS.iter().map(|p| untemplated(p)).flat_map(|p| [Some(p.clone()), under(&p)]).flatten();
                for payload in values {
                    let value = kdl_str(&payload);
                    let start = span.start + value_at;
                    let text = format!("{}{value}{}", &block[..start], &block[span.end..]);
                    let at = start..start + value.len();
                    tried += 1;
                    match check(&project, &text) {
                        Ok(()) => {
                            taken += 1;
                            if std::env::var_os("CV_TAKEN").is_some() {
                                eprintln!("TAKEN {} {node} {key} {payload:?}", doc.file_name().unwrap().display());
                            }
                        }
                        Err(d) if labels(&d, &at) => refused += 1,
                        // a renamed resource that another one names: that name is labelled
                        Err(d) if d.iter().all(|d| d.code == converge::diag::Code::UnknownReference) => refused += 1,
                        Err(d) => wrong.push(format!(
                            "{} `{node}` {key:?} = {payload:?}: refused, but not at the value:\n{}",
                            doc.display(),
                            converge::diag::render(&d, false, 100)
                        )),
                    }
                }
            }
        }
    }
    eprintln!("{tried} hostile values tried: {taken} taken, {refused} refused at their token");
    assert!(wrong.is_empty(), "{} of {tried}:\n{}", wrong.len(), wrong.join("\n"));
    assert!(tried > 3000, "only {tried} cases");
}

/// The payloads a small playbook takes: `node(payload)` is the playbook.
fn taken(node: impl Fn(&str) -> String) -> Vec<String> {
    let project = Project::new();
    PAYLOADS.iter().map(|p| untemplated(p)).filter(|v| check(&project, &node(v)).is_ok()).collect()
}

/// Runs SQL as postgres; every output line is hex, decoded.
fn psql_hex(h: &OnHost, sql: &str) -> Vec<String> {
    let out = h.sh(&format!("cd / && runuser -u postgres -- psql -X -At -c {}", converge::script::quote(sql)));
    out.lines()
        .map(|l| {
            l.split(' ')
                .map(|w| converge::resources::psql::unhex(w).expect("hex of UTF-8"))
                .collect::<Vec<_>>()
                .join("\u{0}")
        })
        .collect()
}

/// A process's environment, read from /proc as bytes (values may hold newlines).
fn environ(h: &OnHost, pid: &str) -> Vec<String> {
    let b64 = h.sh(&format!("base64 -w0 < /proc/{}/environ", pid.trim()));
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim()).expect("base64");
    raw.split(|b| *b == 0).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

/// What the service kinds take from the catalogue reaches the host literally: role and
/// database names and owners and role passwords in PostgreSQL (read back as hex, and a
/// login over TCP with each password), a supervisor program's environment and working
/// directory (read from /proc), git checkouts of repositories at hostile paths (read with
/// git itself). Nothing ran: no canary anywhere on the container's file system.
#[test]
fn service_kinds_take_hostile_values_literally_on_a_container() {
    let path_of = |v: &str| format!("/srv/{}", v.replace('/', "_"));
    let roles = taken(|v| format!("postgres-role {}\n", kdl_str(v)));
    let passwords = taken(|v| format!("postgres-role \"r\" password={}\n", kdl_str(v)));
    let databases = taken(|v| {
        let (r, d) = (kdl_str(v), kdl_str(&format!("d {v}")));
        format!("postgres-role {r}\npostgres-database {d} owner={r}\n")
    });
    let envs = taken(|v| {
        format!("supervisor-program \"p\" command=\"/bin/sleep 1\" {{\n    env {{ V {}; }}\n}}\n", kdl_str(v))
    });
    let dirs = taken(|v| {
        format!(
            "supervisor-program \"p\" command=\"/bin/sleep 1\" directory={}\n",
            kdl_str(&path_of(&format!("0-{v}")))
        )
    });
    let gits = taken(|v| {
        let n = format!("0-{}", v.replace('/', "_"));
        format!("git {} repo={}\n", kdl_str(&format!("/srv/co/{n}")), kdl_str(&format!("/srv/up/{n}")))
    });
    eprintln!(
        "taken: {} role names, {} passwords, {} database names, {} env values, {} directories, {} git paths",
        roles.len(),
        passwords.len(),
        databases.len(),
        envs.len(),
        dirs.len(),
        gits.len()
    );
    assert!(roles.len() >= 30 && passwords.len() >= 30 && databases.len() >= 30, "too few taken");
    assert!(envs.len() >= 25 && dirs.len() >= 20 && gits.len() >= 25, "too few taken");

    let mut pb = String::from("package \"postgresql\" \"supervisor\" \"git\"\n");
    for r in &roles {
        pb.push_str(&format!("postgres-role {} login=#false\n", kdl_str(r)));
    }
    for r in &databases {
        pb.push_str(&format!("postgres-database {} owner={}\n", kdl_str(&format!("d {r}")), kdl_str(r)));
    }
    for (i, p) in passwords.iter().enumerate() {
        pb.push_str(&format!("postgres-role \"pw{i}\" login=#true password={}\n", kdl_str(p)));
    }
    pb.push_str("supervisor-program \"hostile\" command=\"/bin/sleep 100000\" {\n    env {\n");
    for (i, v) in envs.iter().enumerate() {
        pb.push_str(&format!("        V{i} {}\n", kdl_str(v)));
    }
    pb.push_str("    }\n}\n");
    for (i, d) in dirs.iter().enumerate() {
        let path = path_of(&format!("{i}-{d}"));
        pb.push_str(&format!("directory {}\n", kdl_str(&path)));
        pb.push_str(&format!(
            "supervisor-program \"d{i}\" command=\"/bin/sleep 100000\" startsecs=0 directory={}\n",
            kdl_str(&path)
        ));
    }
    pb.push_str("directory \"/srv/co\"\n");
    for (i, g) in gits.iter().enumerate() {
        let name = format!("{i}-{}", g.replace('/', "_"));
        pb.push_str(&format!(
            "git {} repo={}\n",
            kdl_str(&format!("/srv/co/{name}")),
            kdl_str(&format!("/srv/up/{name}"))
        ));
    }
    let h = OnHost::new(&pb);
    // the upstream repositories, at the same hostile names, one commit each
    let mut setup = String::from(
        "set -e\nmkdir -p /srv/up\nexport GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t\n\
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null\n",
    );
    for (i, g) in gits.iter().enumerate() {
        let up = converge::script::quote(&format!("/srv/up/{i}-{}", g.replace('/', "_")));
        setup.push_str(&format!(
            "git init -q -b main {up}\ngit -C {up} commit -q --allow-empty -m {}\n",
            converge::script::quote(&format!("c{i}"))
        ));
    }
    h.sh(&setup);
    // apply, then a second apply that changes nothing in one exchange (the dry run is
    // the same probe and plan; the catalogue's diffs are shown by `hostile`)
    h.run("apply", &[]).expect(0);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    let again = again.json();
    assert_eq!(again["summary"]["changed"], 0, "second apply changed something: {again}");
    assert_eq!(again["hosts"][0]["exchanges"], 1, "a no-op apply is one exchange");
    eprintln!("the no-op apply's timings (ms): {}", again["hosts"][0]["timings_ms"]);

    // PostgreSQL: names, owners, passwords
    let names: std::collections::BTreeSet<String> = psql_hex(
        &h,
        "select encode(convert_to(rolname, 'UTF8'), 'hex') from pg_roles where rolname !~ '^(pg_|postgres$|pw[0-9]+$)'",
    )
    .into_iter()
    .collect();
    assert_eq!(names, roles.iter().cloned().collect(), "role names");
    let dbs: std::collections::BTreeSet<String> = psql_hex(
        &h,
        "select encode(convert_to(datname, 'UTF8'), 'hex') || ' ' || encode(convert_to(pg_get_userbyid(datdba), 'UTF8'), 'hex') \
         from pg_database where datname like 'd %'",
    )
    .into_iter()
    .collect();
    assert_eq!(dbs, databases.iter().map(|r| format!("d {r}\u{0}{r}")).collect(), "database names and owners");
    for (i, p) in passwords.iter().enumerate() {
        let who = h.sh(&format!(
            "PGPASSWORD={} psql -X -At -h 127.0.0.1 -U pw{i} -d postgres -c 'select current_user'",
            converge::script::quote(p)
        ));
        assert_eq!(who, format!("pw{i}\n"), "login with password {p:?}");
    }

    // supervisor: the environment and the working directories, from /proc
    let pid = h.sh("supervisorctl pid hostile");
    let vars = environ(&h, &pid);
    for (i, v) in envs.iter().enumerate() {
        assert!(vars.contains(&format!("V{i}={v}")), "V{i}={v:?} not in {vars:?}");
    }
    for (i, d) in dirs.iter().enumerate() {
        let pid = h.sh(&format!("supervisorctl pid d{i}"));
        let cwd = h.sh(&format!("readlink /proc/{}/cwd", pid.trim()));
        assert_eq!(cwd, format!("{}\n", path_of(&format!("{i}-{d}"))), "working directory of d{i}");
    }

    // git: each checkout at its path, of its repository
    for (i, g) in gits.iter().enumerate() {
        let name = format!("{i}-{}", g.replace('/', "_"));
        let co = converge::script::quote(&format!("/srv/co/{name}"));
        let got = h.sh(&format!("git -C {co} log -1 --format=%s; git -C {co} config --get remote.origin.url"));
        assert_eq!(got, format!("c{i}\n/srv/up/{name}\n"), "checkout {name:?}");
    }
    assert_eq!(h.sh("find / -xdev -name cv-canary | wc -l"), "0\n", "a payload ran as a command");
}

/// One path component made of the catalogue (what a file name can hold: no `/`, no line
/// break), at most 200 bytes.
fn hostile_component() -> String {
    let mut c = String::new();
    for p in PAYLOADS.iter().map(|p| untemplated(p)) {
        let p = p.replace(['/', '\n'], "_");
        if c.len() + p.len() > 200 {
            break;
        }
        c.push_str(&p);
    }
    c
}

/// `venv`, `pip` and `nginx-site` with every path under a directory named with the
/// catalogue: the virtualenv is made there and a wheel installed from a `find-links`
/// there (the venv's own Python imports it), and nginx serves a file from an alias there
/// (HTTP from this machine; in nginx's values `$` is a variable, as documented, so its
/// directory has `_` for `$`). A second apply changes nothing; nothing ran.
#[test]
fn venv_pip_and_nginx_take_hostile_paths_on_a_container() {
    let dir = format!("/srv/{}", hostile_component());
    let served = format!("/srv/www-{}", hostile_component().replace('$', "_"));
    let pb = format!(
        "package \"python3-venv\" \"nginx-light\"\n\
         nginx-site \"default\" state=\"absent\"\n\
         directory {d}\n\
         directory {www}\n\
         file {page} content=\"served from a hostile path\\n\"\n\
         venv {env}\n\
         pip {env} find-links={wheels} index=#false {{\n    requirement \"demo-pkg==1.0\"\n}}\n\
         nginx-site \"h\" {{\n    server \"h.test\" listen=80 {{\n        static \"/files/\" alias={alias}\n    }}\n}}\n",
        d = kdl_str(&dir),
        www = kdl_str(&served),
        page = kdl_str(&format!("{served}/page.txt")),
        env = kdl_str(&format!("{dir}/env")),
        wheels = kdl_str(&format!("{dir}/wheels")),
        alias = kdl_str(&format!("{served}/")),
    );
    let h = OnHost::new(&pb);
    // a wheel of `demo-pkg` 1.0, built on the container into the hostile directory
    let q = converge::script::quote(&format!("{dir}/wheels"));
    h.sh(&format!(
        "set -e\nDEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-setuptools python3-wheel >/dev/null\n\
         mkdir -p /tmp/demo {q}; cd /tmp/demo\n\
         printf 'from setuptools import setup\\nsetup(name=\"demo-pkg\", version=\"1.0\", py_modules=[\"demo\"])\\n' > setup.py\n\
         printf '__version__ = \"1.0\"\\n' > demo.py\n\
         python3 setup.py -q bdist_wheel -d {q} >/dev/null 2>&1\n"
    ));
    let first = h.run("apply", &[]);
    first.expect(0);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0, "{}", again.stdout);
    let python = converge::script::quote(&format!("{dir}/env/bin/python"));
    assert_eq!(h.sh(&format!("cd / && {python} -c 'import demo; print(demo.__version__)'")), "1.0\n");
    let page = crate::support::http_get_until(h.container.address(), 80, "h.test", "/files/page.txt", "hostile");
    assert!(page.ends_with("served from a hostile path\n"), "{page}");
    assert_eq!(h.sh("find / -xdev -name cv-canary | wc -l"), "0\n", "a payload ran as a command");
}
