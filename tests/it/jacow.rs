//! playbooks/jacow.kdl (seed 000) with the inventory `converge sandbox` uses
//! (playbooks/jacow.sandbox.kdl), nothing set up by the test: the playbook makes its
//! upstream repository and the references CSV on the host. Checked from outside
//! converge: a paper uploaded through port 80 (the iptables redirect to gunicorn) is
//! found in the references CSV by the `jacowvalidator` app, which shows the upstream
//! commit it runs; a new revision of the app upstream reaches the running app in one
//! apply; after a reboot, /run/gunicorn is back with its owner and port 80 still answers.

use converge::sandbox::{Container, write_ssh_config};

use crate::kinds::boot;
use crate::support::{Project, converge_in, copy_playbooks, http_get_until, http_post_file};

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

    // the app, through port 80: / redirects to /upload, which names the commit it runs
    let addr = c.address();
    let upstream = |c: &Container| {
        c.sh_ok("runuser -u ec2-user -- git -C /srv/upstream/jacow-validator log -1 --format=%h").trim().to_string()
    };
    let page = http_get_until(addr, 80, "jacow", "/upload", "JACoW validator");
    assert!(page.starts_with("HTTP/1.0 200") && page.contains(&format!("[{}]", upstream(&c))), "{page}");
    assert!(http_get_until(addr, 80, "jacow", "/", "302").contains("Location: /upload"));
    // a paper is checked against the references CSV the unit points the app at
    let checked = http_post_file(addr, 80, "jacow", "/upload", "document", "MOPAB001.docx", b"PK\x03\x04 stand-in");
    assert!(checked.contains("title: THE STAND-IN LINAC"), "{checked}");
    let unknown = http_post_file(addr, 80, "jacow", "/upload", "document", "XXX999.docx", b"PK");
    assert!(unknown.contains("has no corresponding entry in the SPMS references list"), "{unknown}");
    assert_eq!(c.sh_ok("systemctl is-enabled jacow; systemctl is-active jacow"), "enabled\nactive\n");
    assert_eq!(c.sh_ok("stat -c '%U %a' /run/gunicorn"), "ec2-user 755\n");
    assert!(c.sh_ok("iptables -t nat -S PREROUTING").contains("--dport 80"), "redirect rule");
    // installed as pipenv would: the checkout's package, editable
    assert_eq!(
        c.sh_ok("cd /home/ec2-user/jacow-validator && env/bin/python -c 'import jacowvalidator; print(jacowvalidator.__file__)'"),
        "/home/ec2-user/jacow-validator/src/jacowvalidator/__init__.py\n"
    );
    let cron = c.sh_ok("cat /etc/cron.d/references");
    assert!(cron.contains("@hourly ec2-user /usr/local/bin/update-jacow-references"), "{cron}");
    let keys = c.sh_ok("stat -c '%U %a' /home/ec2-user/.ssh/authorized_keys; cat /home/ec2-user/.ssh/authorized_keys");
    assert!(
        keys.starts_with("ec2-user 600\n") && keys.contains("alice@jacow-dev") && keys.contains("bob@jacow-dev"),
        "{keys}"
    );

    // a new revision upstream: one apply moves the checkout and restarts the app on it
    let before = upstream(&c);
    let wsgi = p.path().join("playbooks/files/jacow/app/wsgi.py");
    let text = std::fs::read_to_string(&wsgi).expect("wsgi.py");
    std::fs::write(&wsgi, format!("{text}# the next revision\n")).expect("write");
    let applied = run("apply", "json");
    assert_eq!(applied.code, 0, "{}", applied.stdout);
    assert_ne!(upstream(&c), before, "a new commit upstream");
    http_get_until(addr, 80, "jacow", "/upload", &format!("[{}]", upstream(&c)));
    assert_eq!(run("diff", "json").code, 0);

    // a reboot: the runtime directory and the redirect come back without converge
    c.reboot().expect("reboot");
    assert_eq!(c.sh_ok("systemctl is-active jacow; stat -c '%U' /run/gunicorn"), "active\nec2-user\n");
    http_get_until(addr, 80, "jacow", "/upload", &format!("[{}]", upstream(&c)));
    assert_eq!(run("diff", "json").code, 0);
}
