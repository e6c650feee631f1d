//! playbooks/ranch.kdl (seed 001, ViewBovis on ranch-869) on a fresh container, with the
//! inventory `converge sandbox` uses (playbooks/ranch.sandbox.kdl): it converges, a second
//! apply changes nothing, and the system works as the runbook says, checked from outside
//! converge: both names answer through nginx, the app's container on the host network
//! with its data and logs mounted, the analytics at shutdown. A new image pushed behind
//! the tag reaches the app in one apply, as a new container process reporting the
//! release it read when it started; after a reboot, with no converge run, the data is
//! downloaded before the app starts and both names answer. After each step, `converge
//! diff` has nothing to do.

use converge::sandbox::write_ssh_config;

use crate::kinds::boot;
use crate::support::{Project, converge_in, http_get_until, repo};

#[test]
fn ranch_converges_serves_both_names_takes_a_new_image_and_survives_a_reboot() {
    let mut c = boot("ranch-869");
    let p = Project::new();
    // the sandbox inventory names the host without an address: ssh finds it by that name
    let cfg = write_ssh_config(p.path(), &[("ranch-869", &c)]);
    let playbook = repo().join("playbooks/ranch.kdl").display().to_string();
    let inventory = repo().join("playbooks/ranch.sandbox.kdl").display().to_string();
    let cfg = cfg.display().to_string();
    let run = |cmd: &str, format: &str| {
        converge_in(p.path(), &[cmd, &playbook, "--inventory", &inventory, "--ssh-config", &cfg, "--format", format])
    };
    let nothing_to_do = |after: &str| {
        let diff = run("diff", "human");
        assert_eq!(diff.code, 0, "after {after}, converge diff has changes:\n{}", diff.stdout);
    };
    let first = crate::seeds::baseline("ranch", &c.address().to_string(), run);
    assert_eq!(first["summary"]["failed"], 0);

    // the runbook's checks, made from outside converge
    let units = c.sh_ok(
        "for u in download_viewbovis_data nextstrain viewbovis_analytics nginx cron; do \
         echo \"$u $(systemctl is-enabled $u) $(systemctl is-active $u)\"; done",
    );
    assert_eq!(
        units,
        "download_viewbovis_data enabled active\nnextstrain enabled active\n\
         viewbovis_analytics enabled active\nnginx enabled active\ncron enabled active\n"
    );
    // the app runs in a container, on the host's network, with the data and logs mounted
    assert_eq!(c.sh_ok("podman ps --format '{{.Names}} {{.Image}}'"), "viewbovis 127.0.0.1:5000/viewbovis:prod\n");
    assert_eq!(
        c.sh_ok("podman inspect --format '{{.HostConfig.NetworkMode}} {{.HostConfig.RestartPolicy.Name}}' viewbovis"),
        "host always\n"
    );
    let released = both_names(&c, "v1");
    http_get_until(c.address(), 80, "viewbovis-beta.int.sce.network", "/sample", "HTTP/1.1 404");
    // logs land in /var/log: the container writes the access log through its bind mount
    assert_eq!(
        c.sh_ok("stat -c '%U %G %a' /var/log/viewbovis-access.log /var/log/viewbovis-error.log /ViewBovis"),
        "ranch-869 adm 640\nranch-869 adm 640\nranch-869 ranch-869 755\n"
    );
    let log = c.sh_ok("cat /var/log/viewbovis-access.log");
    assert!(log.contains("/sample"), "{log}");
    assert_eq!(c.sh_ok("grep -v '^#' /etc/cron.d/viewbovis-power-off"), "0 22 * * * root /sbin/shutdown -h now\n");
    assert_eq!(c.sh_ok("test -e /etc/nginx/sites-enabled/default && echo present || echo absent"), "absent\n");
    // the analytics unit runs its job when stopped, as at shutdown
    c.sh_ok("systemctl stop viewbovis_analytics");
    let counts = c.sh_ok("cat /var/log/viewbovis_requests_$(date +%F)");
    assert!(counts.contains("\"/sample\": 1"), "{counts}");
    c.sh_ok("systemctl start viewbovis_analytics");
    nothing_to_do("the journey");

    // a release: a new image behind the same tag in the registry (as the project's CI
    // pushes :prod); one apply pulls it and re-creates the container on it
    let image = |c: &converge::sandbox::Container| c.sh_ok("podman inspect --format '{{.Image}}' viewbovis");
    let before = image(&c);
    c.sh_ok(
        "d=$(mktemp -d) && mkdir -p $d/bin $d/data $d/ViewBovis && cp /bin/busybox $d/bin/ && echo v2 > $d/RELEASE && \
         tar -C $d -c . | podman import -q - localhost/viewbovis-next && \
         podman push -q localhost/viewbovis-next docker://127.0.0.1:5000/viewbovis:prod",
    );
    let applied = converge_in(p.path(), &["apply", &playbook, "--inventory", &inventory, "--ssh-config", &cfg]);
    assert_eq!(applied.code, 0, "{}", applied.stdout);
    assert_ne!(image(&c), before, "the container runs the new image");
    let updated = both_names(&c, "v2");
    assert_ne!(updated, released, "a new container process");
    nothing_to_do("the release");

    // a reboot: the data is downloaded before the app's container starts
    c.reboot().expect("reboot");
    both_names(&c, "v2");
    let at = |unit: &str, what: &str| -> u64 {
        c.sh_ok(&format!("systemctl show -p {what} --value {unit}")).trim().parse().expect("a timestamp")
    };
    let downloaded = at("download_viewbovis_data", "ExecMainExitTimestampMonotonic");
    let started = at("podman-restart", "ExecMainStartTimestampMonotonic");
    assert!(
        downloaded > 0 && started >= downloaded,
        "the app started at {started}, the download ended at {downloaded}"
    );
    nothing_to_do("the reboot");
}

/// Both names through nginx on port 80: the app (in its container) serving the
/// downloaded data and the image's `release` it read when the container started, and the
/// dashboard. Returns the container's main PID.
fn both_names(c: &converge::sandbox::Container, release: &str) -> u32 {
    let app = http_get_until(c.address(), 80, "viewbovis-beta.int.sce.network", "/", "ViewBovis\ndata: stand-in");
    assert!(app.starts_with("HTTP/1.1 200"), "{app}");
    http_get_until(c.address(), 80, "viewbovis-beta.int.sce.network", "/release", &format!("release: {release}\n"));
    let dash = http_get_until(c.address(), 80, "nextstrain-beta.int.sce.network", "/", "Nextstrain");
    assert!(dash.starts_with("HTTP/1.1 200") && dash.contains("data: stand-in"), "{dash}");
    c.sh_ok("podman inspect --format '{{.State.Pid}}' viewbovis").trim().parse().expect("a pid")
}
