//! Security defaults, checked on real runs: no secret in the argv of any process (on this
//! machine or the host) while converge runs; temp files made 0600 in the target directory
//! and removed when a step fails; `become` that needs a password fails at once instead
//! of waiting for a TTY. (Host key checking is in engine.rs, secrets in output in
//! secrets.rs.)

use std::time::{Duration, Instant};

use crate::kinds::OnHost;
use crate::support::KillOnDrop;

const SECRET: &str = "Zq7-argv-canary-55102";
const VAR: &str = "CONVERGE_TEST_ARGV_SECRET";

/// Every process's argv on this machine, containers included (their PID namespaces are
/// children of this one), that holds `needle`.
fn argv_holding(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return found };
    for e in dir.flatten() {
        if !e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            if text.contains(needle) {
                found.push(format!("{}: {text}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn no_secret_in_any_process_argv_during_a_run() {
    // the secret goes into a file, an exec's environment, its command line and its guard
    let h = OnHost::new(&format!(
        "secrets {{ token env=\"{VAR}\" }}\n\
         file \"/srv/token\" content=\"{{{{ token }}}}\\n\" mode=\"0600\"\n\
         exec \"use-token\" command=\"test \\\"$TOKEN\\\" = '{{{{ token }}}}' && sleep 2 && echo ok > /srv/used\" \
         unless=\"test -e /srv/used && test '{{{{ token }}}}' != ''\" {{\n    env {{ TOKEN \"{{{{ token }}}}\"; }}\n}}\n"
    ));
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("converge"));
    cmd.current_dir(h.project.path()).arg("apply").arg("playbook.kdl").args(h.project_args()).env(VAR, SECRET);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().expect("spawn converge"));
    // sample every process's argv until converge exits (bounded)
    let until = Instant::now() + Duration::from_secs(180);
    let mut samples = 0;
    let mut seen = Vec::new();
    while child.0.try_wait().expect("try_wait").is_none() && Instant::now() < until {
        seen.extend(argv_holding(SECRET));
        samples += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    // (still running after the bound: killed, so that reading its output ends)
    if child.0.try_wait().expect("try_wait").is_none() {
        let _ = child.0.kill();
    }
    let stdout = read_all(child.0.stdout.take());
    let stderr = read_all(child.0.stderr.take());
    let status = child.0.wait().expect("converge");
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(samples > 50, "sampled the process list only {samples} times");
    assert!(seen.is_empty(), "a secret in argv: {seen:?}");
    // the secret did reach the host, through each path
    assert_eq!(h.sh("cat /srv/token; cat /srv/used; stat -c %a /srv/token"), format!("{SECRET}\nok\n600\n"));
}

#[test]
fn temp_files_are_private_in_the_target_directory_and_removed_when_a_step_fails() {
    // `validate` sees the temp file before it replaces the target: where it is, its mode
    let h = OnHost::new(
        "directory \"/srv/t\"\n\
         line \"probe-temp\" path=\"/srv/t/conf\" line=\"a=1\" create=#true validate=\"sh -c 'stat -c \\\"%n %a\\\" \\\"$1\\\" > /srv/temp-seen' x %s\"\n",
    );
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /srv/t/conf; ls -A /srv/t"), "a=1\nconf\n");
    // a private file: the temp file holding its next content is never more open than it
    // (mktemp makes it 0600; it takes the target's mode before it is validated and renamed)
    h.sh("chmod 0600 /srv/t/conf");
    h.playbook(
        "directory \"/srv/t\"\n\
         line \"probe-temp\" path=\"/srv/t/conf\" line=\"a=3\" match=\"^a=\" validate=\"sh -c 'stat -c \\\"%n %a\\\" \\\"$1\\\" > /srv/temp-seen' x %s\"\n",
    );
    h.run("apply", &[]).expect(0);
    let seen = h.sh("cat /srv/temp-seen");
    let (path, mode) = seen.trim().rsplit_once(' ').expect("path and mode");
    assert!(path.starts_with("/srv/t/.converge."), "in the target's directory: {seen}");
    assert_eq!(mode, "600", "{seen}");
    assert_eq!(h.sh("cat /srv/t/conf; stat -c %a /srv/t/conf; ls -A /srv/t"), "a=3\n600\nconf\n");
    // a validation that fails: the file is untouched, the temp file gone
    h.playbook(
        "line \"probe-temp\" path=\"/srv/t/conf\" line=\"a=2\" match=\"^a=\" validate=\"false %s\"\n\
         file \"/srv/t/other\" content=\"x\\n\"\n",
    );
    h.run("apply", &[]).expect(1);
    assert_eq!(h.sh("cat /srv/t/conf; ls -A /srv/t"), "a=3\nconf\nother\n");
}

#[test]
fn become_that_needs_a_password_fails_at_once() {
    let h = OnHost::new("");
    h.log_in_as("asks", "/bin/sh", Some("ALL=(ALL) ALL"), true);
    h.playbook("file \"/root/never\" content=\"x\"\n");
    let started = Instant::now();
    let run = h.run("apply", &["--format", "json", "--control-persist", "0"]);
    run.expect(1);
    assert!(started.elapsed() < Duration::from_secs(30), "waited {:?}", started.elapsed());
    let text = run.stdout.clone();
    assert!(text.contains("password"), "sudo's own reason is shown: {text}");
    assert_eq!(h.sh("test -e /root/never && echo yes || echo no"), "no\n");
}

fn read_all(r: Option<impl std::io::Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}
