//! `apply --detailed-exitcode` on a real container: 2 when something changed, 0 when
//! nothing needed to, 1 when anything failed (even beside a change); and the command
//! line's own errors exit 1, never the 2 a script would read as "changed".

use crate::kinds::OnHost;
use crate::support::Project;

#[test]
fn detailed_exitcode_says_changed_nothing_to_do_or_failed() {
    let h = OnHost::new("file \"/etc/converge-exit\" content=\"one\\n\"\n");
    // a plan with changes under --dry-run: 2, as `diff` says it, and nothing written
    h.run("apply", &["--dry-run", "--detailed-exitcode"]).expect(2);
    assert_eq!(h.sh("test -e /etc/converge-exit && echo there || echo absent"), "absent\n");
    let first = h.run("apply", &["--detailed-exitcode", "--format", "json"]);
    first.expect(2);
    assert_eq!(first.json()["summary"]["changed"], 1, "{}", first.stdout);
    assert_eq!(h.sh("cat /etc/converge-exit"), "one\n");
    let again = h.run("apply", &["--detailed-exitcode", "--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0, "{}", again.stdout);
    // without the option, a converged apply is 0 whether or not it changed anything
    h.playbook("file \"/etc/converge-exit\" content=\"two\\n\"\n");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /etc/converge-exit"), "two\n");
    // a failing step beside a change that went through: 1
    h.playbook(
        "file \"/etc/converge-exit\" content=\"three\\n\"\n\
         exec \"fails\" command=\"echo no >&2; exit 3\" creates=\"/etc/converge-exit-never\"\n",
    );
    let failed = h.run("apply", &["--detailed-exitcode", "--format", "json"]);
    failed.expect(1);
    let report = failed.json();
    assert_eq!((report["summary"]["changed"].as_u64(), report["summary"]["failed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(h.sh("cat /etc/converge-exit"), "three\n");
}

#[test]
fn detailed_exitcode_is_refused_on_diff_and_usage_errors_exit_1() {
    let p = Project::new();
    p.file("site.kdl", "host \"web-1\" address=\"127.0.0.1\"\n");
    // `diff` already says 0 / 2 / 1: the option is apply's alone
    let run = p.converge(&["diff", "site.kdl", "--detailed-exitcode"]);
    run.expect(1);
    assert!(run.stderr.contains("unexpected argument '--detailed-exitcode'"), "{}", run.stderr);
    p.converge(&["apply", "site.kdl", "--detailed-exitcode", "--no-such-option"]).expect(1);
    p.converge(&["apply"]).expect(1);
    p.converge(&["--version"]).expect(0);
}
