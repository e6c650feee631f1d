//! Secrets never show: not in plans, diffs, JSON, errors or diagnostics. Every output
//! stream of every run is searched for the value.

use crate::kinds::OnHost;
use crate::support::{Project, Run};

const SECRET: &str = "s3cr3t-Zebra-9041";
const VAR: &str = "CONVERGE_TEST_SECRET_VALUE";

fn assert_hidden(run: &Run, what: &str) {
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "{what} printed the secret:\n{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn a_secret_reaches_the_host_and_no_output() {
    // SAFETY of the test: the variable is only read by the converge child processes
    let playbook = format!(
        "secrets {{ api_key env=\"{VAR}\" }}\n\
         directory \"/etc/app\"\n\
         file \"/etc/app/settings.py\" content=\"API_KEY = '{{{{ api_key }}}}'\\nDEBUG = False\\n\" mode=\"0600\"\n\
         unit \"leaky\" content=\"[Service]\\nType=oneshot\\nExecStart=/bin/sh -c 'echo key={{{{ api_key }}}}; exit 3'\\n\"\n\
         service \"leaky\" state=\"running\"\n"
    );
    let h = OnHost::new(&playbook);
    let run = |cmd: &str, extra: &[&str]| {
        let mut args: Vec<String> = vec![cmd.into(), "playbook.kdl".into()];
        args.extend(h.project_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::converge_env(h.project.path(), &argv, &[(VAR, SECRET)])
    };
    let check = crate::support::converge_env(h.project.path(), &["check", "playbook.kdl"], &[(VAR, SECRET)]);
    check.expect(0);
    let diff = run("diff", &[]);
    diff.expect(2);
    assert_hidden(&diff, "diff");
    assert!(diff.stdout.contains("content (sensitive)"), "{}", diff.stdout);
    assert_hidden(&run("diff", &["--format", "json"]), "diff --format json");
    let apply = run("apply", &[]);
    apply.expect(1);
    assert_hidden(&apply, "apply");
    assert!(apply.stdout.contains("********"), "the failure output was masked, not dropped:\n{}", apply.stdout);
    assert_hidden(&run("apply", &["--format", "json"]), "apply --format json");
    // the secret did reach the host, in a 0600 file
    assert_eq!(
        h.sh("stat -c %a /etc/app/settings.py; cat /etc/app/settings.py"),
        format!("600\nAPI_KEY = '{SECRET}'\nDEBUG = False\n")
    );
    // drift in a sensitive file: still no content in the plan
    h.sh("echo 'DEBUG = True' >> /etc/app/settings.py");
    let drift = run("diff", &[]);
    assert_hidden(&drift, "diff after drift");
    assert!(!drift.stdout.contains("DEBUG"), "{}", drift.stdout);
}

#[test]
fn diagnostics_mask_secrets_and_missing_ones_are_errors() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        &format!("host \"a\"\nsecrets {{ api_key env=\"{VAR}\" }}\npackage \"{{{{ api_key }}}}/x\"\n"),
    );
    let bad = crate::support::converge_env(p.path(), &["check", "playbook.kdl"], &[(VAR, SECRET)]);
    bad.expect(1);
    assert_hidden(&bad, "check");
    assert!(bad.stderr.contains("`********/x` is not a package name"), "{}", bad.stderr);
    let missing = crate::support::converge_env(p.path(), &["check", "playbook.kdl"], &[]);
    missing.expect(1);
    insta::assert_snapshot!(missing.stderr);
}

/// A resource named by a secret (a path rendered from it) shows masked in the plan, its
/// unified diff header, the JSON report, progress lines and a saved plan (a read-only
/// diff of this machine).
#[test]
fn a_resource_named_by_a_secret_shows_masked() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        &format!(
            "secrets {{ tok env=\"{VAR}\" }}\nhost \"here\" connection=\"local\"\nfile \"/tmp/cv-secret-named/{{{{ tok }}}}.env\" content=\"x\\n\"\n"
        ),
    );
    let run = |args: &[&str]| crate::support::converge_env(p.path(), args, &[(VAR, SECRET)]);
    let human = run(&["diff", "playbook.kdl"]);
    human.expect(2);
    assert_hidden(&human, "the plan");
    assert!(human.stdout.contains("+ file /tmp/cv-secret-named/********.env"), "{}", human.stdout);
    let json = run(&["diff", "playbook.kdl", "--format", "json", "-v", "--out", "plan.json"]);
    json.expect(2);
    assert_hidden(&json, "the JSON plan");
    assert_eq!(json.json()["hosts"][0]["resources"][0]["id"], "file:/tmp/cv-secret-named/********.env");
    let saved = std::fs::read_to_string(p.path().join("plan.json")).expect("the saved plan");
    assert!(!saved.contains(SECRET), "the saved plan holds the secret:\n{saved}");
}
