//! `cron`, `authorized-key` and `exec` on real containers: the four idempotence steps,
//! then the host checked directly (`cat` of the cron.d file, `crontab -l`, `stat`,
//! `ssh-keygen -lf`, an ssh login with the managed key, files the commands write to count
//! their runs), drift put back, and the failure paths. Bad schedules and keys are refused
//! at check time, every one at once.

use crate::kinds::OnHost;
use crate::support::Project;

#[test]
fn cron_jobs_in_cron_d_and_in_a_crontab() {
    let h = OnHost::new(
        "package \"cron\"\n\
         user \"jacow\" shell=\"/bin/bash\"\n\
         cron \"power-off\" schedule=\"0 22 * * *\" command=\"/sbin/shutdown -h now\"\n\
         cron \"spms-csv\" schedule=\"@hourly\" user=\"jacow\" command=\"cd /tmp && touch spms-$(date +%F).csv\" {\n\
             env { MAILTO \"\"; }\n\
         }\n\
         cron \"elife-dev\" schedule=\"*/5 * * * *\" user=\"jacow\" crontab=#true command=\"cd /tmp && echo dev > /dev/null\"\n\
         cron \"elife-live\" schedule=\"*/5 * * * *\" user=\"jacow\" crontab=#true command=\"cd /tmp && echo live > /dev/null\"\n",
    );
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(plan.stdout.contains("+ cron elife-dev"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("crontab of jacow: (absent) → */5 * * * * cd /tmp && echo dev > /dev/null"),
        "{}",
        plan.stdout
    );
    h.four_steps();
    assert_eq!(
        h.sh("cat /etc/cron.d/power-off; stat -c '%U %G %a' /etc/cron.d/power-off"),
        "# converge: power-off\n# Managed by converge: changes made here are overwritten.\n\
         0 22 * * * root /sbin/shutdown -h now\nroot root 644\n"
    );
    assert_eq!(
        h.sh("cat /etc/cron.d/spms-csv"),
        "# converge: spms-csv\n# Managed by converge: changes made here are overwritten.\nMAILTO=\"\"\n\
         @hourly jacow cd /tmp && touch spms-$(date +\\%F).csv\n"
    );
    let tab = "# converge: elife-dev\n*/5 * * * * cd /tmp && echo dev > /dev/null\n\
               # converge: elife-live\n*/5 * * * * cd /tmp && echo live > /dev/null\n";
    assert_eq!(h.sh("crontab -u jacow -l"), tab);
    // cron itself accepts what was written: no complaint in its log (a bad minute shows as
    // "Error: bad minute; while reading /etc/cron.d/NAME", a bad mode as "INSECURE MODE")
    h.sh("systemctl restart cron");
    assert!(h.sh("journalctl -u cron --no-pager -o cat").contains("(CRON) INFO"), "cron's log is readable");
    let log = h.sh("sleep 1; journalctl -u cron --no-pager -o cat | grep -iE 'error|bad|ignor|wrong|insecure' || true");
    assert_eq!(log, "", "cron complained");

    // drift: a hand-made entry is kept, a hand-edited one put back
    h.sh("(crontab -u jacow -l | sed 's/echo live/echo LIVE/'; echo '0 1 * * * /bin/hand') | crontab -u jacow -");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("-*/5 * * * * cd /tmp && echo LIVE > /dev/null"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("crontab -u jacow -l"), format!("{tab}0 1 * * * /bin/hand\n"));

    // removal: the file goes, the entry goes, the rest of the crontab stays
    h.playbook(
        "cron \"power-off\" state=\"absent\"\n\
         cron \"elife-dev\" user=\"jacow\" crontab=#true state=\"absent\"\n",
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(
        h.sh("ls /etc/cron.d/power-off 2>&1 || true"),
        "ls: cannot access '/etc/cron.d/power-off': No such file or directory\n"
    );
    assert_eq!(
        h.sh("crontab -u jacow -l"),
        "# converge: elife-live\n*/5 * * * * cd /tmp && echo live > /dev/null\n0 1 * * * /bin/hand\n"
    );
}

#[test]
fn bad_schedules_and_keys_are_refused_at_check_time() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        "host \"a\"\n\
         cron \"power.off\" schedule=\"60 24 * * mon-fry\" command=\"/sbin/shutdown -h now\"\n\
         cron \"weekly\" schedule=\"0 5 * *\" command=\"clean\"\n\
         cron \"every\" schedule=\"*/0 5/10 * 0-13 *\" command=\"x\"\n\
         cron \"boot\" schedule=\"@rebot\" command=\"x\"\n\
         cron \"tab\" schedule=\"@daily\" command=\"x\" crontab=#true {\n    env { MAILTO \"\"; }\n}\n\
         exec \"migrate\" command=\"./manage.py migrate\" cwd=\"/srv/app\"\n\
         authorized-key \"jacow\" key=\"ssh-ed2551 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m alice\"\n",
    );
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(1);
    insta::assert_snapshot!(run.stderr);
}

const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m alice@laptop";
const CAROL: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJWjwuQz8nFjC8axpvPHdgMoO9COxLrhxpXbYk5vGrNgy5x2BOE89x+Pc7L6X8ntuMpqUg0adheGS46gPGIeGQI= carol";

#[test]
fn authorized_keys_with_modes_fingerprints_a_login_and_exclusive() {
    // a key of our own, to log in with
    let p = Project::new();
    let key = p.path().join("id_ed25519");
    let bob = crate::support::new_key(&key, "bob@ci");
    let playbook = |exclusive: &str| {
        format!(
            "user \"jacow\" shell=\"/bin/bash\"\n\
             authorized-key \"jacow\" {exclusive}{{\n    key \"{ALICE}\"\n    key \"{bob}\"\n}}\n"
        )
    };
    let h = OnHost::new(&playbook(""));
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(
        plan.stdout
            .contains("key: (absent) → ssh-ed25519 SHA256:pLKFCMkAM5Vop33euDFUnGl+F84ay09uytiBtWd/G9U alice@laptop"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("AAAAC3"), "no key body in the plan: {}", plan.stdout);
    h.four_steps();
    assert_eq!(
        h.sh("cd /home/jacow && stat -c '%U %G %a %n' .ssh .ssh/authorized_keys"),
        "jacow jacow 700 .ssh\njacow jacow 600 .ssh/authorized_keys\n"
    );
    let fingerprints = h.sh("ssh-keygen -lf /home/jacow/.ssh/authorized_keys | cut -d' ' -f2,3");
    let local = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .expect("ssh-keygen");
    let bob_fp = String::from_utf8_lossy(&local.stdout).split(' ').nth(1).expect("fingerprint").to_string();
    assert_eq!(
        fingerprints,
        format!("SHA256:pLKFCMkAM5Vop33euDFUnGl+F84ay09uytiBtWd/G9U alice@laptop\n{bob_fp} bob@ci\n")
    );
    // sshd accepts the file: log in as jacow with the key
    let login = std::process::Command::new("ssh")
        .args(["-F", "none", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-i"])
        .arg(&key)
        .arg(format!("jacow@{}", h.container.address()))
        .arg("id -un")
        .output()
        .expect("ssh");
    assert_eq!(String::from_utf8_lossy(&login.stdout), "jacow\n", "{}", String::from_utf8_lossy(&login.stderr));

    // drift: modes put back; a hand-added key is left alone...
    h.sh(&format!("chmod 755 /home/jacow/.ssh; chmod 644 /home/jacow/.ssh/authorized_keys; echo '{CAROL}' >> /home/jacow/.ssh/authorized_keys"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains(".ssh mode: 0755 → 0700"), "{}", diff.stdout);
    assert!(!diff.stdout.contains("carol"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("stat -c %a /home/jacow/.ssh /home/jacow/.ssh/authorized_keys"), "700\n600\n");
    assert_eq!(h.sh("grep -c carol /home/jacow/.ssh/authorized_keys"), "1\n");
    // ...until the resource is exclusive
    h.playbook(&playbook("exclusive=#true "));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("key: ecdsa-sha2-nistp256 SHA256:"), "{}", diff.stdout);
    assert!(diff.stdout.contains(" carol → (absent)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    let left = h.sh("ssh-keygen -lf /home/jacow/.ssh/authorized_keys | cut -d' ' -f3");
    assert_eq!(left, "alice@laptop\nbob@ci\n");
}

/// The number of lines of a file on the host (0 when it does not exist).
fn runs(h: &OnHost, file: &str) -> usize {
    h.sh(&format!("cat {file} 2>/dev/null | wc -l")).trim().parse().expect("count")
}

#[test]
fn exec_runs_once_when_its_guards_say_so_and_when_notified() {
    let playbook = |version: &str| {
        format!(
            "user \"app\" system=#true home=\"/srv/app\" shell=\"/bin/sh\"\n\
             directory \"/srv/app\" owner=\"app\"\n\
             exec \"migrate\" cwd=\"/srv/app\" user=\"app\" creates=\"/srv/app/.migrated\" \
               command=\"echo run >> runs; touch .migrated; echo \\\"$GREETING|$(id -un)|$(pwd)\\\" > env\" {{\n\
                 env {{ GREETING \"it's $HOME\"; }}\n\
             }}\n\
             file \"/srv/app/version\" content=\"{version}\\n\" notify=\"exec:collectstatic\"\n\
             exec \"collectstatic\" cwd=\"/srv/app\" user=\"app\" refresh-only=#true command=\"echo run >> static-runs\"\n\
             exec \"unless\" unless=\"test -e /srv/unless-done\" command=\"echo run >> /srv/unless-runs; touch /srv/unless-done\"\n\
             exec \"only-if\" only-if=\"test -e /srv/go\" command=\"echo run >> /srv/only-if-runs; rm /srv/go\"\n"
        )
    };
    let h = OnHost::new(&playbook("1"));
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(plan.stdout.contains("run (as app: /srv/app/.migrated does not exist)"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("↻ exec collectstatic\n      run (as app: notified by file:/srv/app/version)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("run (unless failed (exit status 1))"), "{}", plan.stdout);
    // its only-if fails: it will not run, but its guards are evaluated again at its turn,
    // after the changes declared before it
    assert!(
        plan.stdout.contains("? exec only-if\n      recheck (checked again after user:app, directory:/srv/app, exec:migrate and 3 more change)"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("run (only-if"), "its only-if fails: {}", plan.stdout);
    let report = h.four_steps();
    let results: Vec<String> = report["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| format!("{} {}", r["id"].as_str().unwrap_or(""), r["result"].as_str().unwrap_or("")))
        .collect();
    assert!(results.contains(&"exec:migrate changed".to_string()), "{results:?}");
    assert!(results.contains(&"exec:only-if ok".to_string()), "{results:?}");
    // each ran exactly once over the four steps, as its user, in its directory, with its env
    assert_eq!((runs(&h, "/srv/app/runs"), runs(&h, "/srv/app/static-runs")), (1, 1));
    assert_eq!((runs(&h, "/srv/unless-runs"), runs(&h, "/srv/only-if-runs")), (1, 0));
    assert_eq!(h.sh("cat /srv/app/env; stat -c %U /srv/app/runs"), "it's $HOME|app|/srv/app\napp\n");

    // refresh-only runs again only when what notifies it changes
    h.playbook(&playbook("2"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("run (as app: notified by file:/srv/app/version)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("apply", &[]).expect(0);
    assert_eq!(runs(&h, "/srv/app/static-runs"), 2);

    // only-if: runs once the condition holds; unless: runs again once it no longer holds
    h.sh("touch /srv/go; rm /srv/unless-done");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("run (only-if succeeded)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!((runs(&h, "/srv/unless-runs"), runs(&h, "/srv/only-if-runs")), (2, 1));
    assert_eq!((runs(&h, "/srv/app/runs"), runs(&h, "/srv/app/static-runs")), (1, 2));
}

#[test]
fn exec_guards_are_checked_again_at_apply_time_and_by_the_verify() {
    // an earlier step of the same run creates the path: the command does not run
    let h = OnHost::new(
        "file \"/srv/marker\" content=\"made by an earlier step\\n\"\n\
         exec \"m\" creates=\"/srv/marker\" command=\"echo ran >> /srv/ran\" require=\"file:/srv/marker\"\n",
    );
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(plan.stdout.contains("run (/srv/marker does not exist)"), "{}", plan.stdout);
    let applied = h.run("apply", &["--format", "json"]);
    applied.expect(0);
    let report = applied.json();
    assert_eq!(report["summary"]["changed"], 1, "only the file changed: {report}");
    assert_eq!(report["hosts"][0]["resources"][1]["result"], "ok", "{report}");
    assert_eq!(runs(&h, "/srv/ran"), 0);
    // a command that ran while its guard still says it should run did not converge
    h.playbook("exec \"never\" creates=\"/srv/never\" command=\"echo ran >> /srv/never-ran\"\n");
    let applied = h.run("apply", &[]);
    applied.expect(1);
    assert!(applied.stdout.contains("NOT CONVERGED did not converge: still differs in run"), "{}", applied.stdout);
    assert_eq!(runs(&h, "/srv/never-ran"), 1);
}

#[test]
fn a_failing_exec_shows_its_output_skips_its_dependents_and_owes_its_refresh() {
    let h = OnHost::new(
        "exec \"fail\" creates=\"/srv/none\" command=\"echo 'something broke' >&2; exit 3\"\n\
         file \"/srv/after\" content=\"x\" require=\"exec:fail\"\n\
         file \"/srv/independent\" content=\"y\"\n\
         file \"/srv/version\" content=\"1\" notify=\"exec:refresh\"\n\
         exec \"refresh\" refresh-only=#true command=\"test -e /srv/ok && echo run >> /srv/refresh-runs\"\n",
    );
    let applied = h.run("apply", &[]);
    applied.expect(1);
    let out = &applied.stdout;
    assert!(out.contains("FAILED something broke\n        the command failed with exit status 3"), "{out}");
    assert!(out.contains("SKIPPED needs exec:fail, which failed"), "{out}");
    assert_eq!(h.sh("ls /srv"), "independent\nversion\n");
    // the notified command failed: the next run still owes it, and runs it once it can
    h.sh("touch /srv/ok");
    h.playbook(
        "file \"/srv/version\" content=\"1\" notify=\"exec:refresh\"\n\
         exec \"refresh\" refresh-only=#true command=\"test -e /srv/ok && echo run >> /srv/refresh-runs\"\n",
    );
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("run (owed by an earlier run)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(runs(&h, "/srv/refresh-runs"), 1);
}
