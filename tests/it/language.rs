//! The language of fleets, as a user runs it: `check` with both outcomes of every
//! condition, conditions and loops decided per host, `--tags`/`--skip-tags`, and
//! `converge facts`. Runs against this machine through `connection="local"` are
//! read-only (`diff`, `facts`); converging containers is the seeds' and the modelled
//! host's (tests/model/facts.rs).

use crate::support::Project;

/// One text per item of a JSON array (a report's resources).
fn column(list: &serde_json::Value, f: impl Fn(&serde_json::Value) -> String) -> Vec<String> {
    list.as_array().expect("an array").iter().map(f).collect()
}

/// The ids of the first host's resources in a JSON report, in apply order.
fn ids(report: &serde_json::Value) -> Vec<String> {
    column(&report["hosts"][0]["resources"], |r| r["id"].as_str().unwrap_or("").to_string())
}

#[test]
fn check_builds_both_outcomes_of_every_condition_and_contacts_no_host() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        r#"host "web-1" address="192.0.2.10"
host "web-2" address="192.0.2.11"
vars { admins "alice" "bob" }
package "nginx" when="host.facts.os.family == 'RedHat'"
package "nginx-light" when="host.facts.os.family == 'Debian'"
file "/etc/nginx/conf.d/rhel.conf" content="" when="host.facts.os.family == 'RedHat'" require="package:nginx"
package "nginx" when="host.facts.os.major == '8'" version="1.14"
for "a" in="admins" tags="users" {
    user "{{ a }}" home="/home/{{ a }}"
}
"#,
    );
    // no host answers at these addresses: check never tries
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(0);
    // per host: both nginx packages, the RHEL file, the two users; the third declaration
    // of nginx is the first's other outcome, not a duplicate
    assert_eq!(run.stdout.trim(), "playbook.kdl: valid (2 hosts, 10 resources in all)");
}

#[test]
fn diff_shows_what_a_condition_leaves_out_and_selects_by_tags() {
    let p = Project::new();
    let root = p.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    let r = root.display();
    p.file(
        "playbook.kdl",
        &format!(
            r#"host "me" connection="local"
vars {{ sites "a" "b" }}
directory "{r}/www" tags="web"
for "s" in="sites" tags="web" {{
    file "{r}/www/{{{{ s }}}}.html" content="{{{{ s }}}} on {{{{ host.facts.os.family }}}}\n"
}}
file "{r}/never" content="" when="host.facts.os.family == 'Plan9'"
file "{r}/db.conf" content="x\n" tags="db"
file "{r}/skipped" content="" tags="web slow"
"#
        ),
    );
    let all = p.converge(&["diff", "playbook.kdl"]);
    all.expect(2);
    assert!(all.stdout.contains("facts gathered (first contact): os"), "{}", all.stdout);
    assert!(
        all.stdout.contains(&format!("⊘ file {r}/never  (when host.facts.os.family == 'Plan9' is false)")),
        "{}",
        all.stdout
    );
    let json = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    let doc = json.json();
    let host = &doc["hosts"][0];
    assert_eq!(host["exchanges"], 1, "the facts are cached now: one exchange");
    assert_eq!(host["facts"]["source"], "cache");
    assert_eq!(host["skipped_by_condition"][0]["id"], format!("file:{r}/never"));
    assert_eq!(ids(&doc).len(), 5);
    // --tags web: the web resources only, the slow one skipped
    let web = p.converge(&["diff", "playbook.kdl", "--tags", "web", "--skip-tags", "slow", "--format", "json"]);
    let web = web.json();
    assert_eq!(
        ids(&web),
        [format!("directory:{r}/www"), format!("file:{r}/www/a.html"), format!("file:{r}/www/b.html")]
    );
    // --tags db keeps nothing else; a file under a web directory would be kept for it
    let db = p.converge(&["diff", "playbook.kdl", "--tags", "db", "--format", "json"]);
    assert_eq!(ids(&db.json()), [format!("file:{r}/db.conf")]);
    assert!(!root.join("www").exists(), "a diff changes nothing");
}

#[test]
fn a_selected_resource_keeps_what_it_needs_and_skip_tags_wins() {
    let p = Project::new();
    let r = p.path().join("root");
    let r = r.display();
    p.file(
        "playbook.kdl",
        &format!(
            r#"host "me" connection="local"
directory "{r}" tags="base"
file "{r}/app.conf" content="x\n" tags="app" notify="exec:reload"
exec "reload" command="true" refresh-only=#true tags="ops"
"#
        ),
    );
    let kept = p.converge(&["diff", "playbook.kdl", "--tags", "app"]);
    kept.expect(2);
    assert!(kept.stdout.contains(&format!("+ directory {r}  (kept for file:{r}/app.conf)")), "{}", kept.stdout);
    assert!(kept.stdout.contains("↻ exec reload  (kept for file:"), "{}", kept.stdout);
    let skipped = p.converge(&["diff", "playbook.kdl", "--tags", "app", "--skip-tags", "ops", "--format", "json"]);
    assert_eq!(ids(&skipped.json()), [format!("directory:{r}"), format!("file:{r}/app.conf")]);
    let typo = p.converge(&["diff", "playbook.kdl", "--tags", "ap"]);
    typo.expect(1);
    insta::assert_snapshot!("an_unknown_tag_is_refused_before_any_host", typo.stderr);
}

#[test]
fn facts_prints_every_fact_and_keeps_them_for_the_next_run() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        "host \"me\" connection=\"local\"\nfile \"/tmp/never\" content=\"\" when=\"host.facts.os.family == 'Plan9'\"\n",
    );
    let run = p.converge(&["facts", "me", "--playbook", "playbook.kdl", "--format", "json"]);
    run.expect(0);
    let doc = run.json();
    let facts = &doc["hosts"][0]["facts"];
    let os = std::fs::read_to_string("/etc/os-release").expect("this machine's os-release");
    let id = os.lines().find_map(|l| l.strip_prefix("ID=")).expect("ID").trim_matches('"');
    assert_eq!(facts["os"]["id"], id);
    assert_eq!(facts["cpus"], std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    for name in converge::host_facts::SCHEMA.iter().map(|(n, _)| *n) {
        assert!(facts.get(name).is_some(), "{name} missing from {facts}");
    }
    let human = p.converge(&["facts", "me", "--playbook", "playbook.kdl"]);
    human.expect(0);
    assert!(human.stdout.starts_with("me\n  arch: "), "{}", human.stdout);
    // the cache is warm: a diff is one exchange
    let diff = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    assert_eq!(diff.json()["hosts"][0]["exchanges"], 1);
    assert_eq!(diff.json()["hosts"][0]["facts"]["source"], "cache");
}

#[test]
fn when_and_tags_on_a_module_use_and_an_on_block_reach_every_resource_inside() {
    let p = Project::new();
    let r = p.path().join("root");
    let r = r.display();
    p.file(
        "logdir.kdl",
        "params {\n    dir\n}\ndirectory \"{{ dir }}\"\nfile \"{{ dir }}/README\" content=\"logs\\n\"\n",
    );
    p.file(
        "playbook.kdl",
        &format!(
            r#"host "me" connection="local"
vars {{ backups #false }}
directory "{r}"
use "logdir.kdl" dir="{r}/logs" tags="logs" when="host.facts.os.family != 'Plan9'"
use "logdir.kdl" dir="{r}/plan9" when="host.facts.os.family == 'Plan9'"
on "me" when="backups" tags="backup" {{
    file "{r}/backup.conf" content="daily\n"
}}
"#
        ),
    );
    let doc = p.converge(&["diff", "playbook.kdl", "--format", "json"]).json();
    let host = &doc["hosts"][0];
    assert_eq!(ids(&doc), [format!("directory:{r}"), format!("directory:{r}/logs"), format!("file:{r}/logs/README")]);
    let skipped = column(&host["skipped_by_condition"], |x| x["id"].as_str().unwrap_or("").to_string());
    assert_eq!(
        skipped,
        [format!("directory:{r}/plan9"), format!("file:{r}/plan9/README"), format!("file:{r}/backup.conf")]
    );
    // the module's resources carry the use's tag
    let logs = p.converge(&["diff", "playbook.kdl", "--tags", "logs", "--format", "json"]).json();
    let kept = column(&logs["hosts"][0]["resources"], |x| {
        format!("{} {}", x["id"].as_str().unwrap_or(""), x["kept_for"].as_str().unwrap_or("-"))
    });
    assert_eq!(
        kept,
        [
            format!("directory:{r} directory:{r}/logs"),
            format!("directory:{r}/logs -"),
            format!("file:{r}/logs/README -")
        ]
    );
}

/// `become-user` on the host, a block and a resource: the innermost wins, an explicit
/// `owner` wins over it, kinds that act as root are left to root, and the plan says whom
/// each acts as (read-only diff against this machine).
#[test]
fn become_user_the_innermost_wins_and_the_plan_says_whom_each_acts_as() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        r#"host "h" connection="local" become-user="nobody"
package "coreutils"
file "/tmp/cv-become-absent/host-level" content="x\n"
on "all" become-user="daemon" {
    exec "who" command="id -un > /tmp/cv-become-absent/who" creates="/tmp/cv-become-absent/who"
    directory "/tmp/cv-become-absent/d" become-user="bin"
    file "/tmp/cv-become-absent/f" content="x\n" owner="root"
    venv "/tmp/cv-become-absent/venv"
}
"#,
    );
    let run = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    run.expect(2);
    let report = run.json();
    let changes = |id: &str| -> Vec<String> {
        let res = report["hosts"][0]["resources"].as_array().expect("resources");
        let r = res.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} in {report}"));
        column(&r["changes"], |c| {
            format!("{}={}", c["field"].as_str().unwrap_or(""), c["after"].as_str().unwrap_or(""))
        })
    };
    assert!(changes("package:coreutils").is_empty());
    let host_level = changes("file:/tmp/cv-become-absent/host-level");
    assert!(host_level.contains(&"owner=nobody".to_string()), "{host_level:?}");
    assert!(host_level.contains(&"group=(login group of nobody)".to_string()), "{host_level:?}");
    assert_eq!(changes("exec:who"), ["run=as daemon: /tmp/cv-become-absent/who does not exist"]);
    let d = changes("directory:/tmp/cv-become-absent/d");
    assert!(d.contains(&"owner=bin".to_string()) && d.contains(&"group=(login group of bin)".to_string()), "{d:?}");
    let f = changes("file:/tmp/cv-become-absent/f");
    assert!(f.contains(&"owner=root".to_string()) && !f.iter().any(|c| c.starts_with("group=")), "{f:?}");
    assert!(changes("venv:/tmp/cv-become-absent/venv").contains(&"owner=daemon".to_string()));
}
