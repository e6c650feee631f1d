//! playbooks/jacow.kdl (seed 000): gunicorn under systemd behind an iptables redirect,
//! hourly CSV cron, the developers' keys; updated by a new upstream commit; after a
//! reboot, /run/gunicorn is back with its owner and port 80 still reaches the app.

use crate::seeds::{Seed, upstream_commit, upstream_repo};
use crate::support::http_get_until;

const BARE: &str = "/srv/upstream/jacow.git";

#[test]
fn jacow_converges_serves_port_80_updates_and_survives_a_reboot() {
    let mut seed = Seed::new("jacow.kdl", "jacow", &format!("        repo \"file://{BARE}\""));
    upstream_repo(&seed.container, "jacow/app", BARE, "master");
    seed.converge_twice("jacow");

    // port 80 is redirected to gunicorn on 8080
    let page = http_get_until(seed.container.address(), 80, "jacow", "/check", "JACoW validator");
    assert!(page.starts_with("HTTP/1.0 200") && page.contains("JACoW validator 1.0"), "{page}");
    assert_eq!(seed.sh("systemctl is-enabled jacow; systemctl is-active jacow"), "enabled\nactive\n");
    assert_eq!(seed.sh("stat -c '%U %a' /run/gunicorn"), "ec2-user 755\n");
    assert!(seed.sh("iptables -t nat -S PREROUTING").contains("--dport 80"), "redirect rule");
    let cron = seed.sh("cat /etc/cron.d/spms-csv");
    assert!(
        cron.contains("@hourly ec2-user /usr/bin/python3 /home/ec2-user/jacow-validator/update-spms-csv.py"),
        "{cron}"
    );
    let keys = seed.sh("stat -c '%U %a' /home/ec2-user/.ssh/authorized_keys; cat /home/ec2-user/.ssh/authorized_keys");
    assert!(
        keys.starts_with("ec2-user 600\n") && keys.contains("alice@jacow-dev") && keys.contains("bob@jacow-dev"),
        "{keys}"
    );

    // an update is a new revision upstream: the checkout moves and the app restarts
    upstream_commit(&seed.container, BARE, "master", "VERSION", "1.1\n");
    let diff = seed.run("diff");
    diff.expect(2);
    let plan = diff.json();
    let ids: Vec<&str> = plan["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["action"] != "ok" && r["action"] != "recheck")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["git:/home/ec2-user/jacow-validator", "service:jacow"], "{plan}");
    seed.run("apply").expect(0);
    http_get_until(seed.container.address(), 80, "jacow", "/", "JACoW validator 1.1");

    // a reboot: the runtime directory and the redirect come back without converge
    seed.container.reboot().expect("reboot");
    assert_eq!(seed.sh("systemctl is-active jacow; stat -c '%U' /run/gunicorn"), "active\nec2-user\n");
    http_get_until(seed.container.address(), 80, "jacow", "/", "JACoW validator 1.1");
    assert_eq!(seed.run("diff").json()["summary"]["create"], 0);
}
