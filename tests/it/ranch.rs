//! playbooks/ranch.kdl (seed 001, ViewBovis on ranch-869) converges a fresh container,
//! a second apply changes nothing, and the system works as the runbook says, checked
//! from outside converge.

use crate::kinds::boot;
use crate::support::{Project, converge_in, http_get, repo};

#[test]
fn ranch_converges_and_serves_both_names() {
    let c = boot("ranch-869");
    let p = Project::new();
    let mut args: Vec<String> = vec!["apply".into(), repo().join("playbooks/ranch.kdl").display().to_string()];
    args.extend(p.target(&[("ranch-869", &c)]));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = converge_in(p.path(), &argv);
    first.expect(0);
    assert!(first.stdout.contains("Applied 1 host: 22 changed, 0 failed"), "{}", first.stdout);
    let mut again = argv.clone();
    again.extend(["--format", "json"]);
    let second = converge_in(p.path(), &again);
    second.expect(0);
    assert_eq!(second.json()["summary"]["changed"], 0, "{}", second.stdout);

    // the runbook's checks, made from outside converge
    let units = c.sh_ok(
        "for u in download_viewbovis_data viewbovis nextstrain viewbovis_analytics nginx cron; do \
         echo \"$u $(systemctl is-enabled $u) $(systemctl is-active $u)\"; done",
    );
    assert_eq!(
        units,
        "download_viewbovis_data enabled active\nviewbovis enabled active\nnextstrain enabled active\n\
         viewbovis_analytics enabled active\nnginx enabled active\ncron enabled active\n"
    );
    let app = http_get(c.address(), 80, "viewbovis-beta.int.sce.network", "/sample");
    assert!(app.starts_with("HTTP/1.1 200") && app.contains("ViewBovis\ndata: stand-in"), "{app}");
    let dash = http_get(c.address(), 80, "nextstrain-beta.int.sce.network", "/");
    assert!(dash.contains("Nextstrain"), "{dash}");
    assert_eq!(
        c.sh_ok("stat -c '%U %G %a' /var/log/viewbovis-access.log /ViewBovis"),
        "ranch-869 adm 640\nranch-869 ranch-869 755\n"
    );
    assert!(c.sh_ok("cat /var/log/viewbovis-access.log").contains("GET /sample"));
    assert_eq!(c.sh_ok("grep -v '^#' /etc/cron.d/viewbovis-power-off"), "0 22 * * * root /sbin/shutdown -h now\n");
    assert_eq!(c.sh_ok("test -e /etc/nginx/sites-enabled/default && echo present || echo absent"), "absent\n");
    // the analytics unit runs its job when stopped, as at shutdown
    c.sh_ok("systemctl stop viewbovis_analytics");
    let counts = c.sh_ok("cat /var/log/viewbovis_requests_$(date +%F)");
    assert!(counts.contains("\"/sample\": 1"), "{counts}");
}
