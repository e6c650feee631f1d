//! Declaration order as a promise: a playbook written as the docs show, with no `require`
//! between a package and what it installs, converges in one apply, and a diff after it
//! is empty. The package creates the default site a later resource removes, a file a later
//! resource writes and a file a later `line` edits: the verify after the first round finds
//! them changed by the run, and a second round, planned from that verify, converges them.
//! Checked on the host directly, with the exchanges counted from sshd's own log.

use crate::engine::ssh_counts;
use crate::kinds::OnHost;

const PACKAGE_THEN_WHAT_IT_INSTALLS: &str = r#"package "nginx-light"
symlink "/etc/nginx/sites-enabled/default" state="absent"
file "/etc/nginx/proxy_params" content="proxy_set_header Host $http_host;\nproxy_set_header X-Converge yes;\n"
line "/etc/nginx/uwsgi_params" line="uwsgi_param  CONVERGE  yes;"
"#;

#[test]
fn what_a_package_installs_is_converged_in_the_same_apply_without_require() {
    let h = OnHost::new(PACKAGE_THEN_WHAT_IT_INSTALLS);
    let plan = h.run("diff", &[]);
    plan.expect(2);
    let (_, sessions) = ssh_counts(&h);
    let apply = h.run("apply", &[]);
    assert_eq!(apply.code, 0, "{}", apply.stdout);
    // probe, apply, verify, then the second round: apply and verify (and the count's own)
    assert_eq!(ssh_counts(&h).1 - sessions, 5 + 1, "five exchanges for a run with a second round");
    let addr = h.container.address().to_string();
    insta::assert_snapshot!("package_then_what_it_installs_plan", plan.stdout.replace(&addr, "ADDR"));
    insta::assert_snapshot!("package_then_what_it_installs_apply", apply.stdout.replace(&addr, "ADDR"));

    // on the host itself
    assert_eq!(h.sh("dpkg-query -W -f='${db:Status-Status}' nginx-light"), "installed");
    assert_eq!(h.sh("ls -A /etc/nginx/sites-enabled"), "");
    assert_eq!(
        h.sh("cat /etc/nginx/proxy_params"),
        "proxy_set_header Host $http_host;\nproxy_set_header X-Converge yes;\n"
    );
    assert_eq!(
        h.sh("grep -c CONVERGE /etc/nginx/uwsgi_params; tail -n 1 /etc/nginx/uwsgi_params"),
        "1\nuwsgi_param  CONVERGE  yes;\n"
    );
    // the rest of the file is the package's own, as dpkg recorded it
    let shipped =
        h.sh("dpkg-query -W -f='${Conffiles}' nginx-common | awk '$1 == \"/etc/nginx/uwsgi_params\" {print $2}'");
    let rest = h.sh("grep -v CONVERGE /etc/nginx/uwsgi_params | md5sum | cut -d' ' -f1");
    assert_eq!(rest, shipped, "the package's lines are kept");

    let diff = h.run("diff", &[]);
    diff.expect(0);
    assert!(diff.stdout.contains("nothing to change"), "{}", diff.stdout);
    let (_, sessions) = ssh_counts(&h);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0);
    assert_eq!(ssh_counts(&h).1 - sessions, 1 + 1, "a no-op is one exchange");
}
