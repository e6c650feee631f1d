//! The engine's promises on real containers: a constant number of exchanges per host, a
//! dry run that changes nothing, a failed step that skips only its dependents, an
//! unreachable host that does not stop the others, host keys checked, `become` through
//! sudo.

use std::fmt::Write as _;

use crate::kinds::{OnHost, boot};
use crate::support::{Project, Run};

/// A playbook of `n` resources or more: groups, users, directories and files.
fn big_playbook(n: usize) -> String {
    let mut pb = String::new();
    for g in 0..3 {
        let _ = writeln!(pb, "group \"team{g}\"");
        let _ = writeln!(pb, "user \"user{g}\" group=\"team{g}\" create-home=#false");
    }
    let dirs = 5;
    for d in 0..dirs {
        let _ = writeln!(pb, "directory \"/srv/big/d{d}\" owner=\"user{}\" mode=\"0750\"", d % 3);
    }
    let mut i = 0;
    while 6 + dirs + i < n {
        let _ = writeln!(pb, "file \"/srv/big/d{}/f{i}.conf\" content=\"value = {i}\\n\" mode=\"0640\"", i % dirs);
        i += 1;
    }
    pb
}

/// "Starting session" lines sshd logged so far (LogLevel VERBOSE in the testbed image),
/// the counting command's own session included.
fn ssh_sessions(h: &OnHost) -> usize {
    ssh_counts(h).1
}

#[test]
fn exchanges_per_host_are_constant_whatever_the_resource_count() {
    let h = OnHost::new(&big_playbook(40));
    let check = h.project.converge(&["check", "playbook.kdl"]);
    check.expect(0);
    assert!(check.stdout.contains("40 resources"), "{}", check.stdout);

    let before = ssh_sessions(&h);
    let diff = h.run("diff", &["--format", "json"]);
    diff.expect(2);
    assert_eq!(diff.json()["hosts"][0]["exchanges"], 1, "diff = one probe");
    let after_diff = ssh_sessions(&h);
    // the counting command's own session is the +1
    assert_eq!(after_diff - before, 1 + 1, "sshd saw one session for the diff");

    let apply = h.run("apply", &["--format", "json"]);
    apply.expect(0);
    let report = apply.json();
    assert_eq!(report["hosts"][0]["exchanges"], 3, "apply = probe + apply + verify");
    assert_eq!(report["summary"]["changed"], 40);
    let after_apply = ssh_sessions(&h);
    assert_eq!(after_apply - after_diff, 3 + 1, "sshd saw three sessions for the apply");

    let noop = h.run("apply", &["--format", "json"]);
    noop.expect(0);
    assert_eq!(noop.json()["hosts"][0]["exchanges"], 1, "a no-op apply is one probe");
    assert_eq!(ssh_sessions(&h) - after_apply, 1 + 1);
    assert_eq!(h.sh("ls /srv/big/d*/ | grep -c conf"), "29\n");
}

/// Everything a dry run could touch, hashed: /etc and /srv (names, modes, owners,
/// contents), the dpkg database, unit files and unit states, converge's state directory.
fn host_fingerprint(h: &OnHost) -> String {
    h.sh(
        "{ find /etc /srv /var/lib/converge -xdev \\( -type f -o -type d -o -type l \\) -printf '%p %m %U %G %l\\n' 2>/dev/null | sort; \
           find /etc /srv -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum; \
           sha256sum /var/lib/dpkg/status; \
           systemctl list-unit-files --no-legend --no-pager; \
           systemctl list-units --all --no-legend --no-pager --plain | awk '{print $1, $2, $3}'; } | sha256sum",
    )
}

#[test]
fn a_dry_run_changes_nothing() {
    let h = OnHost::new(
        "package \"tree\"\n\
         user \"app\" system=#true home=\"/srv/app\"\n\
         directory \"/srv/app/data\" owner=\"app\"\n\
         file \"/etc/app.conf\" content=\"x = 1\\n\"\n\
         file \"/etc/hostname\" content=\"renamed\\n\"\n\
         symlink \"/srv/current\" target=\"/srv/app\"\n\
         unit \"app\" content=\"[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n\" notify=\"service:ssh\"\n\
         service \"app\" enabled=#true state=\"running\"\n\
         service \"ssh\" state=\"running\"\n\
         service \"cron\" state=\"stopped\"\n",
    );
    let before = host_fingerprint(&h);
    h.run("diff", &[]).expect(2);
    h.run("diff", &["--dry-run"]).expect(2);
    h.run("apply", &["--dry-run"]).expect(2);
    assert_eq!(host_fingerprint(&h), before, "the host changed during a dry run");
    assert_eq!(h.sh("test -e /var/lib/converge && echo exists || echo absent"), "absent\n");
}

#[test]
fn a_failed_step_skips_only_its_dependents() {
    let h = OnHost::new(
        "unit \"broken\" content=\"[Service]\\nType=oneshot\\nExecStart=/bin/false\\n\"\n\
         service \"broken\" state=\"running\"\n\
         file \"/etc/after-broken\" content=\"1\" require=\"service:broken\"\n\
         file \"/etc/after-after\" content=\"2\" require=\"file:/etc/after-broken\"\n\
         file \"/etc/independent\" content=\"3\"\n",
    );
    let run = h.run("apply", &["--format", "json"]);
    run.expect(1);
    let report = run.json();
    let result = |id: &str| {
        report["hosts"][0]["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {report}"))
    };
    assert_eq!(result("unit:broken.service")["result"], "changed");
    assert_eq!(result("service:broken")["result"], "failed");
    assert!(result("service:broken")["error"].as_str().unwrap_or("").contains("broken.service"), "{report}");
    assert_eq!(result("file:/etc/after-broken")["result"], "skipped");
    assert_eq!(result("file:/etc/after-after")["result"], "skipped");
    assert_eq!(result("file:/etc/after-after")["error"], "skipped: needs service:broken, which failed");
    assert_eq!(result("file:/etc/independent")["result"], "changed");
    assert_eq!(report["hosts"][0]["status"], "failed");
    assert_eq!(
        h.sh("ls /etc/independent /etc/after-broken /etc/after-after 2>/dev/null || true"),
        "/etc/independent\n"
    );
    let text = h.run("apply", &[]);
    text.expect(1);
    assert!(text.stdout.contains("SKIPPED needs service:broken, which failed"), "{}", text.stdout);
    assert!(text.stdout.contains("FAILED"), "{}", text.stdout);
}

#[test]
fn an_unreachable_host_is_reported_while_the_others_converge() {
    let c = boot("t");
    let p = Project::new();
    p.file("playbook.kdl", "file \"/etc/reached\" content=\"yes\\n\"\n");
    let args = p.target(&[("t", &c)]);
    // a closed port on loopback: refused at once
    let inv = std::fs::read_to_string(p.path().join("inventory.kdl")).expect("inventory");
    p.file("inventory.kdl", &format!("host \"gone\" address=\"127.0.0.1\" port=1\n{inv}"));
    let mut full: Vec<&str> = vec!["apply", "playbook.kdl", "--format", "json", "--connect-timeout", "3"];
    full.extend(args.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let run = p.converge(&full);
    run.expect(1);
    assert!(started.elapsed().as_secs() < 30);
    let report = run.json();
    assert_eq!(report["hosts"][0]["host"], "gone");
    assert_eq!(report["hosts"][0]["status"], "unreachable");
    assert!(report["hosts"][0]["error"].as_str().unwrap_or("").contains("gone"), "{report}");
    assert_eq!(report["hosts"][1]["status"], "converged");
    assert_eq!(report["summary"]["unreachable"], 1);
    assert_eq!(c.sh_ok("cat /etc/reached"), "yes\n");
}

#[test]
fn host_keys_are_checked() {
    let h = OnHost::new("file \"/etc/k\" content=\"k\"\n");
    let known = h.project.path().join("known_hosts");
    let _ = std::fs::remove_file(&known);
    // unknown key + --strict-host-keys: refused. The runs here close their masters: a
    // resumed master carries a connection whose key was checked when it was made.
    let strict = h.run("diff", &["--strict-host-keys", "--format", "json", "--control-persist", "0"]);
    strict.expect(1);
    let err = strict.json()["hosts"][0]["error"].as_str().unwrap_or("").to_string();
    assert!(err.contains("host key") && err.contains("t:"), "{err}");
    // default: accepted and recorded
    h.run("diff", &["--control-persist", "0"]).expect(2);
    let recorded = std::fs::read_to_string(&known).expect("known_hosts written");
    assert!(recorded.contains(&h.container.address().to_string()), "{recorded}");
    // a changed key is always refused
    let other = h.project.path().join("other_key");
    let pubkey = crate::support::new_key(&other, "");
    let fake: String = recorded
        .lines()
        .map(|l| {
            let host = l.split_whitespace().next().unwrap_or("");
            format!("{host} {}\n", pubkey.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        })
        .collect();
    std::fs::write(&known, fake).expect("rewrite known_hosts");
    let changed = h.run("apply", &["--format", "json", "--control-persist", "0"]);
    changed.expect(1);
    let err = changed.json()["hosts"][0]["error"].as_str().unwrap_or("").to_string();
    assert!(err.contains("CHANGED") && err.starts_with("host key refused: t:"), "{err}");
    assert_eq!(h.sh("test -e /etc/k && echo yes || echo no"), "no\n");
}

#[test]
fn become_runs_every_exchange_through_sudo() {
    let h = OnHost::new("");
    // the same container, now as `deploy`
    h.log_in_as("deploy", "/bin/sh", Some("ALL=(ALL) NOPASSWD: ALL"), true);
    h.playbook("file \"/root/proof\" content=\"as root\\n\" mode=\"0600\"\n");
    let run = h.run("apply", &["--format", "json"]);
    run.expect(0);
    assert_eq!(run.json()["hosts"][0]["exchanges"], 3);
    assert_eq!(h.sh("stat -c '%U %a' /root/proof"), "root 600\n");
    // without become, the same wish fails with the host's own error
    let inv = std::fs::read_to_string(h.project.path().join("inventory.kdl")).expect("inventory");
    h.project.file("inventory.kdl", &inv.replace(" become=#true", ""));
    h.playbook("file \"/root/other\" content=\"x\"\n");
    let denied = h.run("apply", &[]);
    denied.expect(1);
    assert!(denied.stdout.contains("Permission denied"), "{}", denied.stdout);
}

#[test]
fn limit_selects_hosts_and_groups() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        "inventory {\n    host \"a\" address=\"127.0.0.1\" port=1\n    host \"b\" address=\"127.0.0.1\" port=1\n    group \"web\" {\n        host \"b\"\n    }\n}\nfile \"/x\" content=\"\"\n",
    );
    for (limit, hosts) in [("a", vec!["a"]), ("web", vec!["b"]), ("*", vec!["a", "b"])] {
        let run = p.converge(&["diff", "playbook.kdl", "--limit", limit, "--format", "json", "--connect-timeout", "2"]);
        run.expect(1);
        let names: Vec<String> = run.json()["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h["host"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(names, hosts, "--limit {limit}");
    }
    let none = p.converge(&["diff", "playbook.kdl", "--limit", "wbe"]);
    none.expect(1);
    assert!(none.stderr.contains("matches no host or group (did you mean `web`?)"), "{}", none.stderr);
}

#[test]
fn a_change_that_does_not_hold_is_reported_as_not_converged() {
    // a oneshot unit without RemainAfterExit starts fine and is inactive again at once
    let h = OnHost::new(
        "unit \"flash\" content=\"[Service]\\nType=oneshot\\nExecStart=/bin/true\\n\"\n\
         service \"flash\" state=\"running\"\n",
    );
    let run = h.run("apply", &["--format", "json"]);
    run.expect(1);
    let report = run.json();
    let svc = &report["hosts"][0]["resources"][1];
    assert_eq!(svc["id"], "service:flash");
    assert_eq!(svc["result"], "not_converged");
    assert_eq!(svc["error"], "did not converge: still differs in state");
    assert_eq!(report["summary"]["not_converged"], 1);
    assert_eq!(report["summary"]["changed"], 1, "only the unit counts as changed");
    let text = h.run("apply", &[]);
    text.expect(1);
    assert!(text.stdout.contains("NOT CONVERGED did not converge: still differs in state"), "{}", text.stdout);
}

#[test]
fn the_json_report_shape() {
    let h = OnHost::new(
        "group \"g\"\nfile \"/etc/j\" content=\"a\\n\" group=\"g\" mode=\"0640\"\nservice \"ssh\" state=\"running\"\n",
    );
    let run = h.run("diff", &["--format", "json"]);
    run.expect(2);
    let mut report = run.json();
    report["hosts"][0]["address"] = "ADDR".into();
    report["hosts"][0]["timings_ms"] = serde_json::json!({});
    insta::assert_snapshot!(serde_json::to_string_pretty(&report).expect("json"));
}

#[test]
fn the_local_connection_converges_this_machine() {
    // only inside a fresh temporary directory
    let p = Project::new();
    let dir = p.path().join("local");
    p.file(
        "playbook.kdl",
        &format!(
            "host \"here\" connection=\"local\"\nvars {{ d \"{}\" }}\ndirectory \"{{{{ d }}}}\" mode=\"0700\"\nfile \"{{{{ d }}}}/x\" content=\"local\\n\"\nsymlink \"{{{{ d }}}}/y\" target=\"x\"\n",
            dir.display()
        ),
    );
    p.converge(&["diff", "playbook.kdl"]).expect(2);
    let run = p.converge(&["apply", "playbook.kdl", "--format", "json"]);
    run.expect(0);
    assert_eq!(run.json()["hosts"][0]["exchanges"], 3);
    assert_eq!(std::fs::read_to_string(dir.join("y")).expect("through the link"), "local\n");
    let noop = p.converge(&["apply", "playbook.kdl", "--format", "json"]);
    noop.expect(0);
    assert_eq!(noop.json()["summary"]["changed"], 0);
}

/// The probe stats and hashes many paths with one command each; every line must land on
/// its own resource. Distinct modes and contents make a line given to the wrong resource
/// show up as a change; a missing path, a name the batch leaves out (a backslash) and a
/// FIFO where a file should be make the probe fall back on one command per resource.
#[test]
fn batched_probe_facts_land_on_their_own_resources() {
    let p = Project::new();
    let dir = p.path().join("b");
    p.file(
        "playbook.kdl",
        &format!(
            r#"host "here" connection="local"
vars {{ d "{}" }}
directory "{{{{ d }}}}/a" mode="0700"
directory "{{{{ d }}}}/b" mode="0751"
file "{{{{ d }}}}/a/one" content="one\n" mode="0600"
file "{{{{ d }}}}/b/two words" content="two\n" mode="0640"
file "{{{{ d }}}}/b/back\\slash" content="three\n" mode="0604"
file "{{{{ d }}}}/b/four" content="four\n" mode="0644"
"#,
            dir.display()
        ),
    );
    let changed = |run: &Run| -> Vec<String> {
        let json = run.json();
        json["hosts"][0]["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter(|r| r["action"] != "ok")
            .map(|r| format!("{} {}", r["action"].as_str().unwrap_or("?"), r["name"].as_str().unwrap_or("?")))
            .collect()
    };
    let name = |rel: &str| format!("{}/{rel}", dir.display());
    p.converge(&["apply", "playbook.kdl"]).expect(0);
    let run = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    assert_eq!(changed(run.expect(0)), Vec::<String>::new());

    // one mode and one content (same length) changed by hand: exactly those two resources
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("a/one"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(dir.join("b/four"), "FOUR\n").expect("write");
    let run = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    assert_eq!(changed(run.expect(2)), vec![format!("change {}", name("a/one")), format!("change {}", name("b/four"))]);
    p.converge(&["apply", "playbook.kdl"]).expect(0);

    // a missing path fails the batch: each resource probes itself, with the same answers
    std::fs::remove_file(dir.join("b/two words")).expect("rm");
    let run = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    assert_eq!(changed(run.expect(2)), vec![format!("create {}", name("b/two words"))]);
    p.converge(&["apply", "playbook.kdl"]).expect(0);

    // a FIFO is never hashed (it would block the probe for ever)
    std::fs::remove_file(dir.join("b/four")).expect("rm");
    let status = std::process::Command::new("mkfifo").arg(dir.join("b/four")).status().expect("mkfifo");
    assert!(status.success());
    let run = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let json = run.json();
    let four = json["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == name("b/four").as_str())
        .expect("b/four in the report")
        .clone();
    assert_ne!(four["action"], "ok", "{four}");
    assert_eq!(changed(&run).len(), 1, "{}", run.stdout);
}

/// (connections, sessions) sshd logged so far, read in one session (counted itself).
/// sshd's monitor writes the lines of a session asynchronously (the session process hands
/// them over a pipe), so the counting session first waits, bounded, for its own "Starting
/// session" line, found by its source port, and counts in that same read of the journal:
/// the count of CI's run of 2026-12-02 missed the line.
pub fn ssh_counts(h: &OnHost) -> (usize, usize) {
    let out = h.sh("port=${SSH_CLIENT#* }; port=${port%% *}; i=0; \
         while [ $i -lt 100 ]; do \
           journalctl --sync; \
           log=$(journalctl -q -u ssh --no-pager); \
           printf '%s\\n' \"$log\" | grep -q \"Starting session: command for .* port $port \" && break; \
           sleep 0.1; i=$((i+1)); \
         done; \
         [ $i -lt 100 ] || { echo \"no line for our own session (port $port) in 10 s\" >&2; exit 1; }; \
         printf '%s\\n' \"$log\" | grep -c 'Accepted publickey' || true; \
         printf '%s\\n' \"$log\" | grep -c 'Starting session: command' || true");
    let n: Vec<usize> = out.split_whitespace().map(|s| s.parse().expect("count")).collect();
    (n[0], n[1])
}

#[test]
fn masters_persist_between_runs_and_survive_a_reboot() {
    let mut h = OnHost::new(r#"file "/etc/persisted" content="p\n""#);
    h.run("apply", &[]).expect(0);
    // the next runs resume the first run's master: no new connection, one session each
    let (logins, sessions) = ssh_counts(&h);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    // (each counting command logs in once itself)
    assert_eq!(ssh_counts(&h), (logins + 1, sessions + 2 + 1), "resumed masters: no new connection");
    // the host reboots under a persisted master: the probe notices and connects afresh
    h.container.reboot().expect("reboot");
    h.sh("rm /etc/persisted");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /etc/persisted"), "p\n");
    // --control-persist 0: a connection of its own, whatever was recorded
    let (before, _) = ssh_counts(&h);
    h.run("diff", &["--control-persist", "0"]).expect(0);
    assert_eq!(ssh_counts(&h).0, before + 2, "a fresh connection (and the counting command's)");
}

/// The engine's events are a live stream: a step's "started" event arrives while the step
/// still runs on the host (here this machine, `connection="local"`, in a temporary
/// directory), its "finished" event after it with its duration, and the report, built
/// from the events, carries that duration.
#[test]
fn a_step_started_event_arrives_while_the_step_still_runs() {
    use converge::apply::Step;
    use converge::events::{self, What};
    let p = Project::new();
    let dir = p.path().join("live");
    let done = dir.join("done");
    p.file(
        "playbook.kdl",
        &format!(
            "host \"here\" connection=\"local\"\nvars {{ d \"{}\" }}\n\
             directory \"{{{{ d }}}}\" mode=\"0700\"\n\
             exec \"slow\" command=\"sleep 2; touch {{{{ d }}}}/done\" creates=\"{{{{ d }}}}/done\" require=\"directory:{{{{ d }}}}\"\n",
            dir.display()
        ),
    );
    let prepared = converge::prepare::prepare(&p.path().join("playbook.kdl"), None, None).expect("a valid playbook");
    let opts = converge::engine::Options {
        mode: converge::engine::Mode::Apply,
        ssh: converge::transport::ssh::SshOptions {
            config_file: None,
            strict_host_keys: false,
            connect_timeout: std::time::Duration::from_secs(5),
            persist: None,
        },
        forks: 1,
        plan_file: None,
        serial: Vec::new(),
        max_fail_percentage: 0,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut seen: Vec<(std::time::Instant, String, bool)> = Vec::new();
    let (_, reports) = runtime.block_on(async {
        tokio::join!(
            converge::engine::run_streamed(prepared.jobs, &opts, tx),
            events::collect(rx, |e| {
                // whether the step had done its work when the event arrived
                let name = match &e.what {
                    What::Connecting => "connecting".to_string(),
                    What::Connected => "connected".to_string(),
                    What::Probed { .. } => "probed".to_string(),
                    What::Planned { pending } => format!("planned {pending}"),
                    What::Applying { round, steps } => format!("applying {round}: {steps}"),
                    What::StepStarted { resource, .. } => format!("started {resource}"),
                    What::StepFinished { resource, outcome, duration, .. } => {
                        assert!(matches!(outcome, Step::Changed), "{outcome:?}");
                        if resource == "exec:slow" {
                            assert!(duration.is_some_and(|d| d.as_millis() >= 1500), "{duration:?}");
                        }
                        format!("finished {resource}")
                    }
                    What::Verifying { round } => format!("verifying {round}"),
                    What::Verified { round } => format!("verified {round}"),
                    What::Facts { news } => format!("facts {news}"),
                    What::Failed { error } => format!("failed {error}"),
                    What::Done(_) => "done".to_string(),
                };
                seen.push((std::time::Instant::now(), name, done.exists()));
            })
        )
    });
    let names: Vec<&str> = seen.iter().map(|(_, n, _)| n.as_str()).collect();
    let d = format!("directory:{}", dir.display());
    assert_eq!(
        names,
        [
            "connecting",
            "connected",
            "probed",
            "planned 2",
            "applying 1: 2",
            &format!("started {d}"),
            &format!("finished {d}"),
            "started exec:slow",
            "finished exec:slow",
            "verifying 1",
            "verified 1",
            "done"
        ]
    );
    let at = |name: &str| seen.iter().find(|(_, n, _)| n == name).expect(name);
    let (started, _, done_when_started) = at("started exec:slow");
    let (finished, _, done_when_finished) = at("finished exec:slow");
    assert!(!done_when_started, "the started event came after the step had ended");
    assert!(*done_when_finished, "the finished event came before the step had ended");
    assert!(finished.duration_since(*started).as_millis() >= 1500, "started and finished arrived together");
    let slow = &reports[0].resources.iter().find(|r| r.id == "exec:slow").expect("exec:slow");
    assert!(slow.duration_ms.is_some_and(|ms| ms >= 1500), "{:?}", slow.duration_ms);
}
