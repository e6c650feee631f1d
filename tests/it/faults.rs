//! Faults injected into real runs on containers: hosts that cannot be reached in three
//! different ways, a connection that drops in the middle of an apply, converge killed in
//! the middle of an apply, a disk that fills during a write, a restart owed across a
//! failed run, and a file changed behind the plan's back. Each checks the host directly
//! afterwards, and that the next run converges. (A failed step skipping only its
//! dependents, host keys and a broken nginx site are in engine.rs and nginx.rs.)

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::kinds::{OnHost, boot};
use crate::support::{KillOnDrop, Project};

/// Accepts TCP connections on loopback and never says a word (no SSH banner), until the
/// guard is dropped or a minute has passed.
struct Silent {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            let until = Instant::now() + Duration::from_secs(60);
            while !flag.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < until {
                if let Ok((s, _)) = listener.accept() {
                    held.push(s);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Silent { port, stop, thread: Some(thread) }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback port nothing listens on: bound, then closed.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn unreachable_hosts_are_reported_within_the_timeout_while_the_others_converge() {
    let live = boot("t");
    // a host that has gone off its network: its address answers nothing (ARP fails), so
    // the kernel says "no route to host"
    let gone = boot("gone");
    // (in the background: the link carries this very ssh session)
    gone.sh_ok("setsid sh -c 'sleep 1; ip link set host0 down' >/dev/null 2>&1 </dev/null &");
    std::thread::sleep(Duration::from_secs(3));
    let silent = Silent::start();
    let p = Project::new();
    p.file("playbook.kdl", "file \"/etc/reached\" content=\"yes\\n\"\n");
    let args = p.target(&[("t", &live), ("gone", &gone)]);
    let inv = std::fs::read_to_string(p.path().join("inventory.kdl")).expect("inventory");
    p.file(
        "inventory.kdl",
        &format!(
            "{inv}host \"closed\" address=\"127.0.0.1\" port={}\nhost \"silent\" address=\"127.0.0.1\" port={}\n",
            closed_port(),
            silent.port
        ),
    );
    let timeout = 5;
    let mut full: Vec<String> = vec![
        "apply".into(),
        "playbook.kdl".into(),
        "--format".into(),
        "json".into(),
        "--connect-timeout".into(),
        timeout.to_string(),
    ];
    full.extend(args);
    let argv: Vec<&str> = full.iter().map(String::as_str).collect();
    let started = Instant::now();
    let run = p.converge(&argv);
    let took = started.elapsed();
    run.expect(1);
    // hosts are reached in parallel: the whole run is about one timeout, with slack for a
    // loaded CI machine
    assert!(took < Duration::from_secs(timeout + 20), "took {took:?}");
    let report = run.json();
    let host = |name: &str| {
        report["hosts"].as_array().expect("hosts").iter().find(|h| h["host"] == name).cloned().expect("host")
    };
    assert_eq!(host("t")["status"], "converged", "{report}");
    for name in ["gone", "closed", "silent"] {
        let h = host(name);
        assert_eq!(h["status"], "unreachable", "{name}: {h}");
        assert!(h["error"].as_str().unwrap_or("").contains(name), "the error names the host: {h}");
    }
    assert_eq!(report["summary"]["unreachable"], 3);
    assert_eq!(live.sh_ok("cat /etc/reached"), "yes\n");
}

/// An exec that kills the sshd process carrying its own session: the connection drops
/// in the middle of the apply, once (it leaves a marker).
const DROP: &str = r#"exec "drop" creates="/var/tmp/dropped" command="touch /var/tmp/dropped; p=$$; while [ \"$p\" -gt 1 ]; do if [ \"$(cat /proc/$p/comm)\" = sshd ]; then kill -9 \"$p\"; sleep 5; exit 0; fi; p=$(cut -d' ' -f4 /proc/$p/stat); done; exit 1""#;

#[test]
fn a_connection_dropped_mid_apply_is_reported_and_the_next_run_converges() {
    let h = OnHost::new(&format!(
        "file \"/srv/before\" content=\"b\\n\"\n{DROP}\nfile \"/srv/after\" content=\"a\\n\" require=\"exec:drop\"\n"
    ));
    let run = h.run("apply", &["--format", "json"]);
    run.expect(1);
    let report = run.json();
    assert_ne!(report["hosts"][0]["status"], "converged", "{report}");
    assert!(!report["hosts"][0]["error"].as_str().unwrap_or("").is_empty(), "the drop is reported: {report}");
    assert_eq!(h.sh("cat /srv/before"), "b\n");
    // the next run reconnects (the persisted master died with the connection)
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /srv/before /srv/after"), "b\na\n");
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0);
}

#[test]
fn converge_killed_mid_apply_leaves_no_half_written_file() {
    // 2 MiB of content after a slow command: converge is killed while the host works
    let big: String = (0..(2 << 20) / 64).map(|i| format!("{i:063}\n")).collect();
    let h = OnHost::new(&format!(
        "directory \"/srv/k\"\n\
         file \"/srv/k/old\" content=\"old\\n\"\n\
         exec \"slow\" command=\"touch /srv/k/started; sleep 3; touch /srv/k/done\" creates=\"/srv/k/done\"\n\
         file \"/srv/k/big\" content=\"{}\" require=\"exec:slow\"\n",
        big.replace('\n', "\\n")
    ));
    // a first state to overwrite
    h.sh("mkdir -p /srv/k && printf 'before\\n' > /srv/k/big");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("converge"));
    cmd.current_dir(h.project.path()).arg("apply").arg("playbook.kdl").args(h.project_args());
    let log = h.project.path().join("converge.log");
    let out = std::fs::File::create(&log).expect("log");
    cmd.stdout(out.try_clone().expect("log")).stderr(out);
    let mut child = KillOnDrop(cmd.spawn().expect("spawn converge"));
    let started = h.container.root_dir().join("srv/k/started");
    let until = Instant::now() + Duration::from_secs(300);
    while !started.exists() && Instant::now() < until {
        if child.0.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.exists(), "the slow command never started:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    // SIGKILL, by the PID this test started
    child.0.kill().expect("kill converge");
    child.0.wait().expect("wait");
    // whatever the host still does ends within the command's own time; then look
    std::thread::sleep(Duration::from_secs(5));
    let content = std::fs::read(h.container.root_dir().join("srv/k/big")).expect("big");
    assert!(content == b"before\n" || content == big.as_bytes(), "half-written: {} bytes", content.len());
    // the next run converges and leaves nothing of converge's behind
    h.run("apply", &[]).expect(0);
    assert_eq!(std::fs::read(h.container.root_dir().join("srv/k/big")).expect("big"), big.as_bytes());
    assert_eq!(h.sh("ls -A /srv/k"), "big\ndone\nold\nstarted\n");
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0);
}

#[test]
fn a_full_disk_during_a_write_keeps_the_original_file() {
    let h = OnHost::new("file \"/srv/small/conf\" content=\"PLACEHOLDER\"\n");
    h.sh(
        "mkdir -p /srv/small && mount -t tmpfs -o size=256k tmpfs /srv/small && printf 'original\\n' > /srv/small/conf",
    );
    let big: String = "x".repeat(1 << 20);
    h.playbook(&format!("file \"/srv/small/conf\" content=\"{big}\"\n"));
    let run = h.run("apply", &["--format", "json"]);
    run.expect(1);
    let report = run.json();
    let err = report["hosts"][0]["resources"][0]["error"].as_str().unwrap_or("").to_string();
    assert!(err.contains("No space left"), "{report}");
    assert_eq!(h.sh("cat /srv/small/conf"), "original\n");
    // the temp file was removed with the failure
    assert_eq!(h.sh("ls -A /srv/small"), "conf\n");
}

/// The `InvocationID` of a unit: a new one for every start.
fn invocation(h: &OnHost, unit: &str) -> String {
    h.sh(&format!("systemctl show -p InvocationID --value {unit}")).trim().to_string()
}

#[test]
fn a_restart_owed_by_a_change_survives_a_failed_run() {
    let unit = |v: &str| {
        format!(
            "unit \"owed\" content=\"[Service]\\nExecStart=/bin/sleep infinity\\nEnvironment=V={v}\\n\" notify=\"service:owed\"\n\
             exec \"gate\" command=\"false\" unless=\"test -e /srv/gate-open\"\n\
             service \"owed\" state=\"running\" require=\"exec:gate\"\n"
        )
    };
    let h = OnHost::new(&unit("1"));
    h.sh("mkdir -p /srv && touch /srv/gate-open");
    h.run("apply", &[]).expect(0);
    let first = invocation(&h, "owed.service");
    assert!(!first.is_empty());
    // the unit changes; the gate before the restart fails: the restart is owed
    h.sh("rm /srv/gate-open");
    h.playbook(&unit("2"));
    let failed = h.run("apply", &["--format", "json"]);
    failed.expect(1);
    assert_eq!(invocation(&h, "owed.service"), first, "not restarted yet");
    // the gate opens; nothing else changes, and the owed restart happens
    h.sh("touch /srv/gate-open");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("owed by an earlier run"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    let after = invocation(&h, "owed.service");
    assert_ne!(after, first, "restarted");
    assert_eq!(h.sh("systemctl show -p Environment --value owed.service"), "V=2\n");
    // and only once
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0);
    assert_eq!(invocation(&h, "owed.service"), after);
}

#[test]
fn a_file_changed_between_plan_and_step_is_refused() {
    // someone else edits the file after the probe, just before the apply script runs (a
    // login shell that does it when it sees an apply script, while /etc/meddle is there):
    // the file's step meets content the plan never saw, with no earlier step of the run
    // to account for it, and refuses
    let h = OnHost::new("");
    std::fs::write(h.container.root_dir().join("usr/local/bin/meddler"), MEDDLER).expect("meddler shell");
    h.sh("chmod 0755 /usr/local/bin/meddler && echo /usr/local/bin/meddler >> /etc/shells");
    h.log_in_as("meddler", "/usr/local/bin/meddler", None, false);
    h.sh("echo original > /home/meddler/race && chown meddler:meddler /home/meddler/race && touch /etc/meddle");
    h.playbook("file \"/home/meddler/race\" content=\"wanted\\n\"\n");
    let run = h.run("apply", &[]);
    run.expect(1);
    assert!(run.stdout.contains("changed since plan: /home/meddler/race"), "{}", run.stdout);
    assert_eq!(h.sh("cat /home/meddler/race"), "edited by hand\n");
    // the next run plans from what is there now, and converges
    h.sh("rm /etc/meddle");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /home/meddler/race"), "wanted\n");
}

/// A login shell that runs what it is asked, but first edits ~/race when the script it is
/// given on stdin is an apply script and /etc/meddle exists.
const MEDDLER: &str = r##"#!/bin/sh
[ "$1" = "-c" ] || exit 2
script=$(cat)
case "$script" in *"# block "*) [ -e /etc/meddle ] && echo edited by hand > "$HOME/race" ;; esac
printf '%s\n' "$script" | sh -c "$2"
"##;

/// A login shell that runs what it is asked and then lies about the output, as
/// /etc/liar-mode says: cut short, garbage values, every frame twice, junk lines.
const LIAR: &str = r#"#!/bin/sh
mode=$(cat /etc/liar-mode 2>/dev/null)
[ "$1" = "-c" ] || exit 2
out=$(sh -c "$2"); rc=$?
case "$mode" in
truncate) printf '%s' "$out" | head -c 300 ;;
garbage) printf '%s\n' "$out" | sed -e 's/^type=.*/type=banana/' -e 's/^stat=.*/stat=no:such:thing/' -e 's/^sha256=.*/sha256=xyz/' -e 's/^present=.*/present=maybe/' ;;
repeat) printf '%s\n' "$out"; printf '%s\n' "$out" ;;
junk) printf '%s\n' "$out" | awk '{ print; print "\001\002 junk ==" }' ;;
binary) printf '%s\n' "$out" | head -c 200; head -c 4096 /dev/urandom ;;
*) printf '%s\n' "$out" ;;
esac
exit $rc
"#;

#[test]
fn a_lying_host_gets_errors_never_a_wrong_plan() {
    let h = OnHost::new("");
    std::fs::write(h.container.root_dir().join("usr/local/bin/liar"), LIAR).expect("liar shell");
    h.sh("chmod 0755 /usr/local/bin/liar && echo /usr/local/bin/liar >> /etc/shells");
    // the liar logs in as a user whose login shell is the liar; what it manages it can read
    h.log_in_as("liar", "/usr/local/bin/liar", None, false);
    h.playbook(
        "directory \"/home/liar/app\" mode=\"0750\"\n\
         file \"/home/liar/app/a.conf\" content=\"a = 1\\n\" mode=\"0640\"\n\
         file \"/home/liar/app/b.conf\" content=\"b = 2\\n\" mode=\"0600\"\n\
         symlink \"/home/liar/app/current\" target=\"a.conf\"\n\
         group \"liar\"\n",
    );
    // honest first: converge, then nothing to do
    h.run("apply", &["--control-persist", "0"]).expect(0);
    h.run("diff", &["--control-persist", "0"]).expect(0);
    for mode in ["truncate", "garbage", "repeat", "junk", "binary"] {
        h.sh(&format!("echo {mode} > /etc/liar-mode"));
        let run = h.run("diff", &["--format", "json", "--control-persist", "0"]);
        let report = run.json();
        let resources = report["hosts"][0]["resources"].as_array().cloned().unwrap_or_default();
        // whatever the lie, no resource is planned to change: the host is converged
        for r in &resources {
            assert_eq!(r["action"], "ok", "{mode}: a wrong plan from a lying host: {r}");
        }
        let errors: Vec<&serde_json::Value> = resources.iter().filter(|r| !r["error"].is_null()).collect();
        let host_error = report["hosts"][0]["error"].as_str().unwrap_or("");
        if mode == "junk" && errors.is_empty() && host_error.is_empty() {
            // lines that mean nothing were ignored, and the truth came through
            run.expect(0);
            continue;
        }
        run.expect(1);
        assert!(!errors.is_empty() || !host_error.is_empty(), "{mode}: the lie went unnoticed: {report}");
        // the human output names the host and the resource
        let text = h.run("diff", &["--control-persist", "0"]);
        text.expect(1);
        assert!(text.stdout.contains("t (") || text.stderr.contains("t:"), "{mode}: {}\n{}", text.stdout, text.stderr);
        if let Some(first) = errors.first() {
            let name = first["name"].as_str().unwrap_or("");
            assert!(text.stdout.contains(name), "{mode}: {name} named in:\n{}", text.stdout);
        }
    }
    h.sh("echo honest > /etc/liar-mode");
    h.run("diff", &["--control-persist", "0"]).expect(0);
}
