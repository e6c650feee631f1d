//! Saved plans on a container: `diff --out FILE` then `apply FILE` applies exactly what
//! was saved (probe, apply, verify: 3 exchanges); a hand edit, a secret changed, the
//! playbook edited or a plan too old is refused, naming what differs, and the host is left
//! as it was; what would need planning at apply time ends "needs a new plan". The host is
//! checked with `cat` and `stat`, not through converge.

use crate::kinds::OnHost;

const SECRET: &str = "tok-5f2b9c1e7d";

fn playbook() -> String {
    "secrets { api_token file=\"token.txt\" }\n\
     directory \"/srv/app\"\n\
     file \"/srv/app/app.conf\" content=\"listen 8080\\n\" notify=\"exec:reload\"\n\
     file \"/srv/app/token.env\" content=\"TOKEN={{ api_token }}\\n\" mode=\"0600\"\n\
     exec \"reload\" command=\"date +%s%N >> /srv/app/reloads\" refresh-only=#true\n"
        .to_string()
}

fn host() -> OnHost {
    let h = OnHost::new(&playbook());
    h.project.file("token.txt", SECRET);
    h
}

fn save(h: &OnHost, name: &str) -> serde_json::Value {
    let run = h.run("diff", &["--out", name]);
    run.expect(2);
    assert!(
        run.stdout.contains(&format!("Saved the plan to {name}. To apply exactly it: converge apply {name}")),
        "{}",
        run.stdout
    );
    let path = h.project.path().join(name);
    let text = std::fs::read_to_string(&path).expect("the plan");
    assert!(!text.contains(SECRET), "the plan holds the secret:\n{text}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).expect("plan").permissions().mode() & 0o777, 0o600);
    serde_json::from_str(&text).expect("the plan is JSON")
}

fn apply_saved(h: &OnHost, name: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["apply", name, "--ssh-config"];
    let cfg = h.project_args();
    let at = cfg.iter().position(|a| a == "--ssh-config").expect("ssh config");
    args.push(&cfg[at + 1]);
    args.extend(["--format", "json"]);
    args.extend(extra);
    h.project.converge(&args)
}

#[test]
fn a_saved_plan_is_applied_exactly_or_refused_naming_what_drifted() {
    let h = host();
    let plan = save(&h, "plan.json");
    let resources = plan["hosts"][0]["resources"].as_array().expect("resources");
    let token = resources.iter().find(|r| r["id"] == "file:/srv/app/token.env").expect("token.env");
    assert_eq!(token["secret"], true, "{token}");
    assert!(token.get("steps").is_none(), "no steps kept for a secret-bearing file: {token}");
    let conf = resources.iter().find(|r| r["id"] == "file:/srv/app/app.conf").expect("app.conf");
    assert!(conf["steps"].as_str().is_some_and(|s| s.contains("mv")), "{conf}");
    assert_eq!(h.sh("test -e /srv/app && echo yes || echo no"), "no\n", "a diff changes nothing");

    // applied as saved: three exchanges, the host as planned
    let applied = apply_saved(&h, "plan.json", &[]);
    applied.expect(0);
    let report = applied.json();
    assert_eq!(report["hosts"][0]["exchanges"], 3, "{report}");
    assert_eq!(
        h.sh("cat /srv/app/app.conf /srv/app/token.env; wc -l < /srv/app/reloads"),
        format!("listen 8080\nTOKEN={SECRET}\n1\n")
    );
    assert_eq!(h.sh("stat -c %a /srv/app/token.env"), "600\n");
    h.run("diff", &[]).expect(0);

    // a hand edit after the plan: refused, naming the resource and the field; nothing applied
    h.playbook(&playbook().replace("listen 8080", "listen 9090"));
    save(&h, "plan2.json");
    h.sh("echo 'edited by hand' > /srv/app/app.conf");
    let refused = apply_saved(&h, "plan2.json", &[]);
    refused.expect(1);
    let error = refused.json()["hosts"][0]["error"].as_str().unwrap_or("").to_string();
    assert!(error.contains("refused: the host differs from the saved plan"), "{error}");
    assert!(error.contains("file:/srv/app/app.conf: content drifted: sha256:"), "{error}");
    assert_eq!(h.sh("cat /srv/app/app.conf; wc -l < /srv/app/reloads"), "edited by hand\n1\n");

    // a secret changed since the plan: refused by its hash, never shown
    save(&h, "plan3.json");
    h.project.file("token.txt", "tok-changed-0a9e");
    let refused = apply_saved(&h, "plan3.json", &[]);
    refused.expect(1);
    assert!(
        refused
            .stdout
            .contains("file:/srv/app/token.env: its secret-bearing content no longer matches the plan's hash"),
        "{}",
        refused.stdout
    );
    assert!(!refused.stdout.contains("tok-changed") && !refused.stderr.contains("tok-changed"));
    assert_eq!(h.sh("cat /srv/app/app.conf /srv/app/token.env"), format!("edited by hand\nTOKEN={SECRET}\n"));
    h.project.file("token.txt", SECRET);

    // the playbook edited since the plan; a plan too old; selection options on apply
    save(&h, "plan4.json");
    h.playbook(&(playbook().replace("listen 8080", "listen 9090") + "file \"/srv/app/extra\" content=\"x\\n\"\n"));
    let edited = apply_saved(&h, "plan4.json", &[]);
    edited.expect(1);
    assert!(edited.stderr.contains("changed since the plan was made (its KDL sources differ)"), "{}", edited.stderr);
    h.playbook(&playbook().replace("listen 8080", "listen 9090"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let old = apply_saved(&h, "plan4.json", &["--max-age", "1s"]);
    old.expect(1);
    assert!(old.stderr.contains("more than --max-age 1s"), "{}", old.stderr);
    let limited = apply_saved(&h, "plan4.json", &["--limit", "t"]);
    limited.expect(1);
    assert!(limited.stderr.contains("--limit is part of the saved plan"), "{}", limited.stderr);
    // and applied when nothing drifted: exactly the saved change, its notification too
    apply_saved(&h, "plan4.json", &["--max-age", "1h"]).expect(0);
    assert_eq!(h.sh("cat /srv/app/app.conf; wc -l < /srv/app/reloads"), "listen 9090\n2\n");
    h.run("diff", &[]).expect(0);
}

/// A `line` in a directory the same run makes is planned from the host once the
/// directory exists (a second round): a saved plan does not cover it, so the saved steps
/// run and the host ends "needs a new plan"; a new plan finishes the job.
#[test]
fn what_needs_planning_at_apply_time_ends_needs_a_new_plan() {
    let h = OnHost::new("directory \"/srv/conf\"\nline \"/srv/conf/app.ini\" line=\"port=2\" create=#true\n");
    let run = h.run("diff", &["--out", "plan.json"]);
    run.expect(2);
    let applied = apply_saved(&h, "plan.json", &[]);
    applied.expect(1);
    let report = applied.json();
    assert_eq!(report["hosts"][0]["status"], "needs_new_plan", "{report}");
    assert!(report["hosts"][0]["error"].as_str().unwrap_or("").contains("needs a new plan"), "{report}");
    assert_eq!(
        h.sh("test -d /srv/conf && test ! -e /srv/conf/app.ini && echo 'only the directory'"),
        "only the directory\n"
    );
    h.run("diff", &["--out", "again.json"]).expect(2);
    apply_saved(&h, "again.json", &[]).expect(0);
    assert_eq!(h.sh("cat /srv/conf/app.ini"), "port=2\n");
}
