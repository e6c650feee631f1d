//! playbooks/jacow.kdl (seed 000) with the inventory `converge sandbox` uses
//! (playbooks/jacow.sandbox.kdl), nothing set up by the test: the playbook makes its
//! upstream repository and the references CSV on the host. Checked from outside
//! converge: a paper uploaded through port 80 (the iptables redirect to gunicorn) is
//! found in the references CSV by the `jacowvalidator` app, which shows the upstream
//! commit it read when it started; the hourly cron's command, run once as cron runs it,
//! brings a paper the conference just published into the CSV the app then checks
//! against; a new revision of the app upstream reaches the running app in one apply, as
//! a new process; after a reboot, with no converge run, /run/gunicorn is back with its
//! owner and the journey passes again. After each step, `converge diff` has nothing to do.

use converge::sandbox::{Container, write_ssh_config};

use crate::kinds::boot;
use crate::support::{Project, converge_in, copy_playbooks, http_get_until, http_post_file};

/// The paper every journey checks, and its title in the references CSV.
const PAPER: (&str, &str) = ("MOPAB001", "THE STAND-IN LINAC");

#[test]
fn jacow_converges_serves_port_80_updates_and_survives_a_reboot() {
    let mut c = boot("jacow");
    let p = Project::new();
    copy_playbooks(p.path());
    let cfg = write_ssh_config(p.path(), &[("jacow", &c)]).display().to_string();
    let run = |cmd: &str, format: &str| {
        let args = [cmd, "playbooks/jacow.kdl", "--inventory", "playbooks/jacow.sandbox.kdl", "--ssh-config", &cfg];
        converge_in(p.path(), &[&args[..], &["--format", format]].concat())
    };
    crate::seeds::baseline("jacow", &c.address().to_string(), run);

    let nothing_to_do = |after: &str| {
        let diff = run("diff", "human");
        assert_eq!(diff.code, 0, "after {after}, converge diff has changes:\n{}", diff.stdout);
    };
    let addr = c.address();
    let upstream = |c: &Container| {
        c.sh_ok("runuser -u ec2-user -- git -C /srv/upstream/jacow-validator log -1 --format=%h").trim().to_string()
    };
    assert!(http_get_until(addr, 80, "jacow", "/", "302").contains("Location: /upload"));
    let first = journey(&c, &upstream(&c), PAPER);
    assert_eq!(c.sh_ok("systemctl is-enabled jacow"), "enabled\n");
    assert_eq!(c.sh_ok("stat -c '%U %a' /run/gunicorn"), "ec2-user 755\n");
    assert!(c.sh_ok("iptables -t nat -S PREROUTING").contains("--dport 80"), "redirect rule");
    // installed as pipenv would: the checkout's package, editable
    assert_eq!(
        c.sh_ok("cd /home/ec2-user/jacow-validator && env/bin/python -c 'import jacowvalidator; print(jacowvalidator.__file__)'"),
        "/home/ec2-user/jacow-validator/src/jacowvalidator/__init__.py\n"
    );
    let keys = c.sh_ok("stat -c '%U %a' /home/ec2-user/.ssh/authorized_keys; cat /home/ec2-user/.ssh/authorized_keys");
    assert!(
        keys.starts_with("ec2-user 600\n") && keys.contains("alice@jacow-dev") && keys.contains("bob@jacow-dev"),
        "{keys}"
    );

    // the conference publishes a new paper (the sandbox's stand-in for jacow.org takes it
    // in one apply); the app does not know it until the hourly cron has run
    let csv = p.path().join("playbooks/files/jacow/references.csv");
    let text = std::fs::read_to_string(&csv).expect("references.csv");
    std::fs::write(&csv, format!("{text}WEPAB123,A PAPER PUBLISHED THIS HOUR,\"D. Author\"\n")).expect("write");
    assert_eq!(run("apply", "json").code, 0);
    let unknown = upload(&c, "WEPAB123");
    assert!(unknown.contains("has no corresponding entry in the SPMS references list"), "{unknown}");
    // the cron's command, as /etc/cron.d/references runs it: its user, its command line
    let cron = c.sh_ok("grep -v '^#' /etc/cron.d/references | grep .");
    let mut fields = cron.trim().splitn(3, ' ');
    assert_eq!(fields.next(), Some("@hourly"), "{cron}");
    let user = fields.next().expect("a user");
    let command = fields.next().expect("a command");
    assert!(command.starts_with("/usr/local/bin/update-jacow-references "), "{cron}");
    c.sh_ok(&format!("cd / && runuser -u {user} -- sh -c {}", shlex::try_quote(command).expect("quoted")));
    let published = upload(&c, "WEPAB123");
    assert!(published.contains("title: A PAPER PUBLISHED THIS HOUR"), "{published}");
    nothing_to_do("the cron's run");

    // a new revision upstream: one apply moves the checkout and restarts the app on it
    let before = upstream(&c);
    let wsgi = p.path().join("playbooks/files/jacow/app/wsgi.py");
    let text = std::fs::read_to_string(&wsgi).expect("wsgi.py");
    std::fs::write(&wsgi, format!("{text}# the next revision\n")).expect("write");
    let applied = run("apply", "json");
    assert_eq!(applied.code, 0, "{}", applied.stdout);
    assert_ne!(upstream(&c), before, "a new commit upstream");
    let updated = journey(&c, &upstream(&c), PAPER);
    assert_ne!(updated, first, "gunicorn restarted on the new revision");
    nothing_to_do("the update");

    // a reboot: the runtime directory and the redirect come back without converge
    c.reboot().expect("reboot");
    assert_eq!(c.sh_ok("stat -c '%U' /run/gunicorn"), "ec2-user\n");
    journey(&c, &upstream(&c), ("WEPAB123", "A PAPER PUBLISHED THIS HOUR"));
    nothing_to_do("the reboot");
}

/// A paper uploaded through port 80, as a browser does; the whole response.
fn upload(c: &Container, paper: &str) -> String {
    http_post_file(c.address(), 80, "jacow", "/upload", "document", &format!("{paper}.docx"), b"PK\x03\x04 stand-in")
}

/// The app at work, from outside: through port 80 (the redirect to gunicorn), the upload
/// page names the `commit` the app read when it started, and an uploaded paper is found
/// in the references CSV, an unknown one is not. Returns gunicorn's PID.
fn journey(c: &Container, commit: &str, (paper, title): (&str, &str)) -> u32 {
    let page = http_get_until(c.address(), 80, "jacow", "/upload", &format!("[{commit}]"));
    assert!(page.starts_with("HTTP/1.0 200") && page.contains("JACoW validator"), "{page}");
    let checked = upload(c, paper);
    assert!(checked.contains(&format!("[{commit}]")) && checked.contains(&format!("title: {title}")), "{checked}");
    let unknown = upload(c, "XXX999");
    assert!(unknown.contains("has no corresponding entry in the SPMS references list"), "{unknown}");
    assert_eq!(c.sh_ok("systemctl is-active jacow"), "active\n");
    c.sh_ok("systemctl show -p MainPID --value jacow").trim().parse().expect("a pid")
}
