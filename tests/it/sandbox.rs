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

/// The README's promise for every seed, run as a new user would: `converge sandbox
/// playbooks/NAME.kdl --keep`, then the `converge diff` it prints reports nothing to
/// change, and the app answers from outside converge with its real entry point.
#[test]
fn a_kept_sandbox_is_in_sync_and_serves_the_app() {
    use std::io::BufRead;
    use std::sync::mpsc;
    use std::time::Duration;

    let child = std::process::Command::new(env!("CARGO_BIN_EXE_converge"))
        .current_dir(repo())
        .env("CONVERGE_FACT_CACHE", crate::support::fact_cache(&repo()))
        .args(["sandbox", "playbooks/jacow.kdl", "--keep", "--no-color"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("converge sandbox");
    let mut child = crate::support::KillOnDrop(child);
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut address, mut again) = (None, None);
    let mut seen = String::new();
    while again.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(600))
            .unwrap_or_else(|e| panic!("no `converge again` line ({e}); stderr so far:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.strip_prefix("sandbox: booted jacow at ") {
            address = rest.split_whitespace().next().and_then(|a| a.parse::<std::net::Ipv4Addr>().ok());
        }
        again = line.strip_prefix("sandbox: converge again: converge ").map(str::to_string);
    }
    let args: Vec<&str> = again.as_deref().unwrap_or("").split_whitespace().collect();
    let diff = converge_in(&repo(), &args);
    diff.expect(0);
    assert!(diff.stdout.contains("nothing to change"), "{}", diff.stdout);
    let address = address.unwrap_or_else(|| panic!("no boot line in:\n{seen}"));
    let page = crate::support::http_get_until(address, 80, "jacow", "/upload", "JACoW validator [");
    assert!(page.starts_with("HTTP/1.0 200"), "{page}");
    // Ctrl-C stops it, and its container
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    for _ in 0..120 {
        if child.0.try_wait().expect("wait").is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("converge sandbox did not end within a minute of Ctrl-C");
}
