//! A sudo password for `become`: from a secret (`become-password="NAME"`) or asked once
//! (`--ask-become-pass`, read from standard input when it is not a terminal). It travels
//! only as the first line of stdin, never in a command line or any output; where sudo does
//! not ask for it (NOPASSWD, a cached timestamp) the line is dropped before the script's
//! shell could run it. The password here is itself a command: were it ever run by a
//! shell, it would leave /tmp/pwned-by-password behind.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::kinds::OnHost;

const PASSWORD: &str = "S3cret pw; touch /tmp/pwned-by-password";

/// A login `user` whose sudo rule is `rule` (and `defaults`, a sudoers Defaults line), with
/// PASSWORD as its password; the project's later runs log in as it with become=#true and
/// `inventory_extra` on the host.
fn login(h: &OnHost, user: &str, rule: &str, defaults: Option<&str>, inventory_extra: &str) {
    h.log_in_as(user, "/bin/sh", Some(rule), false);
    h.sh(&format!("echo '{user}:{PASSWORD}' | chpasswd"));
    if let Some(d) = defaults {
        h.sh(&format!("echo '{d}' > /etc/sudoers.d/defaults-{user} && chmod 0440 /etc/sudoers.d/defaults-{user}"));
    }
    let inv = std::fs::read_to_string(h.project.path().join("inventory.kdl")).expect("inventory");
    let inv = inv.replace(&format!("user=\"{user}\""), &format!("user=\"{user}\" become=#true {inventory_extra}"));
    h.project.file("inventory.kdl", &inv);
}

const PLAYBOOK: &str =
    "secrets { sudo_pw env=\"BECOME_TEST_PW\" }\nfile \"/etc/become-test\" content=\"as root\\n\" mode=\"0600\"\n";

fn apply(h: &OnHost, stdin: Option<&str>, extra: &[&str]) -> crate::support::Run {
    let mut args: Vec<String> = vec!["apply".into(), "playbook.kdl".into(), "--format".into(), "json".into()];
    args.extend(h.project_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let facts = crate::support::fact_cache(h.project.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_converge"))
        .args(&args)
        .current_dir(h.project.path())
        .env("NO_COLOR", "1")
        .env("CONVERGE_FACT_CACHE", facts)
        .env("BECOME_TEST_PW", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("converge");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("converge");
    let run = crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stdout.contains("S3cret") && !run.stderr.contains("S3cret"), "the password was printed:\n{run:?}");
    run
}

fn converged_as_root(h: &OnHost) {
    assert_eq!(h.sh("stat -c '%U %a' /etc/become-test; cat /etc/become-test"), "root 600\nas root\n");
    assert_eq!(h.sh("test -e /tmp/pwned-by-password && echo ran || echo never ran"), "never ran\n");
}

#[test]
fn a_password_from_a_secret_where_sudo_asks_for_it() {
    let h = OnHost::new("");
    login(&h, "alice", "ALL=(ALL) ALL", None, "become-password=\"sudo_pw\"");
    h.playbook(PLAYBOOK);
    apply(&h, None, &[]).expect(0);
    converged_as_root(&h);
    // again, with nothing to do: every exchange asks sudo again (no cached timestamp)
    let again = apply(&h, None, &[]).expect(0).json();
    assert_eq!(again["summary"]["changed"], 0);
    converged_as_root(&h);
}

#[test]
fn a_password_where_sudo_does_not_ask_is_dropped_unread() {
    // NOPASSWD: sudo never reads the line
    let h = OnHost::new("");
    login(&h, "bob", "ALL=(ALL) NOPASSWD: ALL", None, "become-password=\"sudo_pw\"");
    h.playbook(PLAYBOOK);
    apply(&h, None, &[]).expect(0);
    converged_as_root(&h);
    // a cached timestamp: the first exchange gives the password, later ones find it cached
    let h = OnHost::new("");
    login(
        &h,
        "carol",
        "ALL=(ALL) ALL",
        Some("Defaults:carol timestamp_type=global, timestamp_timeout=10"),
        "become-password=\"sudo_pw\"",
    );
    h.playbook(PLAYBOOK);
    apply(&h, None, &[]).expect(0);
    assert_eq!(h.sh("ls /run/sudo/ts | grep -c carol"), "1\n", "sudo keeps a timestamp for carol");
    apply(&h, None, &[]).expect(0);
    converged_as_root(&h);
}

#[test]
fn ask_become_pass_reads_it_once_and_a_wrong_one_fails_without_showing_it() {
    let h = OnHost::new("");
    login(&h, "dave", "ALL=(ALL) ALL", None, "");
    h.playbook(PLAYBOOK);
    // without a password sudo -n refuses
    let refused = apply(&h, None, &[]);
    refused.expect(1);
    // asked once, read from stdin (no terminal here)
    apply(&h, Some(&format!("{PASSWORD}\n")), &["--ask-become-pass"]).expect(0);
    converged_as_root(&h);
    // a wrong one: sudo's refusal, the host unchanged, the password never shown
    h.sh("rm /etc/become-test");
    let wrong = apply(&h, Some("S3cret but wrong\n"), &["-K"]);
    wrong.expect(1);
    assert!(wrong.stdout.contains("incorrect password") || wrong.stdout.contains("Sorry"), "{}", wrong.stdout);
    assert_eq!(h.sh("test -e /etc/become-test && echo yes || echo no"), "no\n");
    assert_eq!(h.sh("test -e /tmp/pwned-by-password && echo ran || echo never ran"), "never ran\n");
}

/// `become-user` on a block: what the block makes belongs to the user (with its login
/// group), its commands and its cron job run as the user, while
/// what converge keeps on the host (backups, owed refreshes) stays under root's
/// /var/lib/converge, whoever the resources act as.
#[test]
fn become_user_acts_as_the_user_and_state_stays_root_owned() {
    let h = OnHost::new("");
    login(&h, "erin", "ALL=(ALL) NOPASSWD: ALL", None, "");
    let playbook = |settings: &str| {
        format!(
            "package \"cron\"\nuser \"deploy\" shell=\"/bin/sh\" home=\"/home/deploy\"\n\
             on \"all\" become-user=\"deploy\" {{\n\
             \x20   directory \"/srv/app\"\n\
             \x20   file \"/srv/app/settings.py\" content=\"{settings}\" backup=#true notify=\"exec:reload\"\n\
             \x20   file \"/srv/app/shared.conf\" content=\"x\\n\" group=\"adm\"\n\
             \x20   exec \"whoami\" command=\"id -un > /srv/app/whoami\" creates=\"/srv/app/whoami\"\n\
             \x20   exec \"reload\" command=\"id -un >> /srv/app/reloads\" refresh-only=#true\n\
             \x20   cron \"report\" schedule=\"@daily\" command=\"/bin/true report\"\n\
             }}\n"
        )
    };
    h.playbook(&playbook("DEBUG = False\\n"));
    let report = h.four_steps();
    let plan = report.to_string();
    assert!(plan.contains("login group of deploy"), "the plan says the group: {plan}");
    assert_eq!(
        h.sh("stat -c '%U:%G %a %n' /srv/app /srv/app/settings.py /srv/app/shared.conf /srv/app/whoami"),
        "deploy:deploy 755 /srv/app\ndeploy:deploy 644 /srv/app/settings.py\ndeploy:adm 644 /srv/app/shared.conf\ndeploy:deploy 644 /srv/app/whoami\n"
    );
    assert_eq!(h.sh("cat /srv/app/whoami /srv/app/reloads"), "deploy\ndeploy\n");
    assert_eq!(h.sh("grep -v '^#' /etc/cron.d/report | grep -c '^@daily deploy /bin/true report$'"), "1\n");
    // a change: the old file is backed up, the reload owed and done, as the user
    h.playbook(&playbook("DEBUG = True\\n"));
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /srv/app/settings.py; cat /srv/app/reloads"), "DEBUG = True\ndeploy\ndeploy\n");
    assert_eq!(h.sh("cat /var/lib/converge/backup/srv/app/settings.py.*"), "DEBUG = False\n");
    // one place, root's: nothing under it belongs to anyone else, nothing kept elsewhere
    assert_eq!(h.sh("stat -c %U /var/lib/converge /var/lib/converge/owed"), "root\nroot\n");
    // every directory of it is root's; a backup keeps its file's owner and mode, so that
    // putting it back restores the file exactly
    assert_eq!(h.sh("find /var/lib/converge -type d ! -user root -printf '%u %p\\n'"), "");
    assert_eq!(h.sh("stat -c '%U:%G %a' /var/lib/converge/backup/srv/app/settings.py.*"), "deploy:deploy 644\n");
    assert_eq!(
        h.sh("ls -d /home/deploy/.local/state /home/erin/.local/state /root/.local/state 2>/dev/null || true"),
        ""
    );
    h.run("diff", &[]).expect(0);
    // without become the exchange is erin's, who cannot act as deploy: said so, on the step
    let inv = std::fs::read_to_string(h.project.path().join("inventory.kdl")).expect("inventory");
    h.project.file("inventory.kdl", &inv.replace(" become=#true", ""));
    h.playbook("exec \"as-deploy\" command=\"true\" creates=\"/srv/as-deploy\" become-user=\"deploy\"\n");
    let refused = h.run("apply", &[]);
    refused.expect(1);
    assert!(refused.stdout.contains("acting as deploy needs root: give the host become=#true"), "{refused:?}");
}
