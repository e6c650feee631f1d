//! `converge run PATTERN -- COMMAND ARGS…`: one command on the hosts a pattern selects,
//! each host's output and exit status, checked against the hosts themselves; an
//! unreachable host is reported while the others run; the words reach the host as they
//! are (no shell reads them), with no standard input; `become` runs it as root.

use crate::kinds::{OnHost, boot};
use crate::support::{Project, Run};

/// Runs `converge run ARGS` in `p` against its inventory and ssh config.
fn run(p: &Project, target: &[String], args: &[&str]) -> Run {
    let mut full: Vec<&str> = vec!["run"];
    full.extend(args.iter().take_while(|a| **a != "--"));
    full.extend(target.iter().map(String::as_str));
    full.extend(args.iter().skip_while(|a| **a != "--"));
    p.converge(&full)
}

#[test]
fn a_command_runs_on_the_selected_hosts_and_each_says_how_it_ended() {
    let (a, b) = (boot("web-1"), boot("web-2"));
    let p = Project::new();
    let target = p.target(&[("web-1", &a), ("web-2", &b)]);
    // a closed port on loopback: refused at once
    let inv = std::fs::read_to_string(p.path().join("inventory.kdl")).expect("inventory");
    p.file("inventory.kdl", &format!("host \"gone\" address=\"127.0.0.1\" port=1\n{inv}"));

    // every host: the two answer with their own hostname, the third is unreachable
    let all = run(&p, &target, &["all", "--format", "json", "--connect-timeout", "3", "--", "hostname"]);
    all.expect(1);
    let report = all.json();
    assert_eq!(report["command"], serde_json::json!(["hostname"]));
    assert_eq!(report["hosts"][0]["host"], "gone");
    assert!(report["hosts"][0]["error"].as_str().is_some_and(|e| !e.is_empty()), "{report}");
    assert_eq!((&report["hosts"][1]["stdout"], &report["hosts"][1]["exit_code"]), (&"web-1\n".into(), &0.into()));
    assert_eq!((&report["hosts"][2]["stdout"], &report["hosts"][2]["exit_code"]), (&"web-2\n".into(), &0.into()));

    // a pattern, forks, the words as they are: no shell on the host reads them
    let words = run(
        &p,
        &target,
        &["web-*:!web-2", "--forks", "1", "--", "printf", "%s|", "a; touch /tmp/pwned", "$HOME", "it's"],
    );
    words.expect(0);
    insta::assert_snapshot!(words.stdout, @r"
    web-1 | exit 0
      a; touch /tmp/pwned|$HOME|it's|

    Ran on 1 host: 1 ok, 0 failed
    ");
    assert_eq!(a.sh_ok("test -e /tmp/pwned && echo yes || echo no"), "no\n");

    // a failing command: its status and stderr, exit 1; standard input is closed (`cat`
    // would otherwise read the rest of converge's script)
    let failed = run(&p, &target, &["web-2", "--format", "json", "--", "sh", "-c", "cat; echo broken >&2; exit 3"]);
    failed.expect(1);
    let report = failed.json();
    assert_eq!(report["hosts"][0]["exit_code"], 3);
    assert_eq!(report["hosts"][0]["stdout"], "");
    assert_eq!(report["hosts"][0]["stderr"], "broken\n");
    let human = run(&p, &target, &["web-2", "--", "sh", "-c", "exit 3"]);
    human.expect(1);
    assert!(human.stdout.starts_with("web-2 | FAILED, exit 3\n"), "{}", human.stdout);

    // a pattern that names nothing is an error before any connection
    let none = run(&p, &target, &["db", "--", "true"]);
    none.expect(1);
    assert!(none.stderr.contains("db"), "{}", none.stderr);
}

#[test]
fn become_runs_the_command_as_root() {
    let h = OnHost::new("");
    h.log_in_as("deploy", "/bin/sh", Some("ALL=(ALL) NOPASSWD: ALL"), true);
    let mut args = vec!["run", "all"];
    let target = h.project_args();
    args.extend(target.iter().map(String::as_str));
    args.extend(["--", "id", "-un"]);
    let run = h.project.converge(&args);
    run.expect(0);
    assert!(run.stdout.starts_with("t | exit 0\n  root\n"), "{}", run.stdout);
}

/// With a playbook, its secrets are masked in what the hosts print, as in every report.
#[test]
fn the_playbooks_secrets_are_masked_in_what_hosts_print() {
    let c = boot("t");
    let p = Project::new();
    let target = p.target(&[("t", &c)]);
    p.file(
        "playbook.kdl",
        "secrets { token env=\"ADHOC_TOKEN\" }\nfile \"/etc/token\" content=\"{{ token }}\\n\" mode=\"0600\"\n",
    );
    let mut args = vec!["run", "all", "-p", "playbook.kdl"];
    args.extend(target.iter().map(String::as_str));
    args.extend(["--format", "json", "--", "sh", "-c", "echo token=tok-3f9a-secret; echo tok-3f9a-secret >&2"]);
    let run = crate::support::converge_env(p.path(), &args, &[("ADHOC_TOKEN", "tok-3f9a-secret")]);
    run.expect(0);
    assert!(!run.stdout.contains("tok-3f9a-secret") && !run.stderr.contains("tok-3f9a-secret"), "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["hosts"][0]["stdout"], "token=********\n");
    assert_eq!(report["hosts"][0]["stderr"], "********\n");
}
