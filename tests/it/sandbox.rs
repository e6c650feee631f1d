//! `converge sandbox`: the README's first command. It boots its own container for the
//! playbook's host, applies, prints the result and tears the container down.

use crate::support::{converge_in, repo};

#[test]
fn sandbox_converges_ranch_and_cleans_up() {
    let run = converge_in(&repo(), &["sandbox", "playbooks/ranch.kdl", "--format", "json"]);
    run.expect(0);
    let report = run.json();
    let host = &report["hosts"][0];
    assert_eq!(host["host"], "ranch-869");
    assert_eq!(host["status"], "converged");
    assert_eq!(host["exchanges"], 3);
    assert_eq!(report["summary"]["failed"], 0);
    assert!(run.stderr.contains("sandbox: booted ranch-869 at 10.231."), "{}", run.stderr);
    // the container is gone: its veth (ve-cvgK for address 10.231.K.2) no longer exists
    let address = host["address"].as_str().expect("address");
    let slot = address.split('.').nth(2).expect("slot");
    assert!(
        !std::path::Path::new(&format!("/sys/class/net/ve-cvg{slot}")).exists(),
        "container {address} left running"
    );
}

#[test]
fn sandbox_refuses_an_invalid_playbook_before_booting() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.kdl"), "host \"a\"\nfile \"/x\" mode=0644\n").expect("write");
    let run = converge_in(dir.path(), &["sandbox", "bad.kdl"]);
    run.expect(1);
    assert!(run.stderr.contains("decimal integer"), "{}", run.stderr);
    assert!(!run.stderr.contains("booted"), "{}", run.stderr);
}
