//! docs/porting-from-ansible.md's role, `examples/web-role.kdl`, applied as it is written
//! on a container, with an inventory that only points its variables at a repository the
//! test serves: the vendor's repository stands here as a signed repository built on the
//! controller with apt's own tools (Debian's own nginx .deb from the image's cache, in a
//! `bookworm`/`nginx` suite), served in the container with its key. Checked from outside:
//! apt takes nginx from that repository, nginx answers on port 80 with the role's
//! nginx.conf and site, the admins have their keys, the kernel is tuned live and for the
//! next boot; a second apply changes nothing; an nginx.conf nginx refuses is never
//! written.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use converge::sandbox::{Container, testbed_rootfs, write_ssh_config};

use crate::kinds::boot;
use crate::support::{Project, http_get_until, repo};

fn sh(script: &str, env: &[(&str, &Path)]) -> Vec<u8> {
    let mut cmd = Command::new("sh");
    cmd.arg("-ec").arg(script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("sh");
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A repository signed by a throwaway key: the image's cached nginx .deb in `bookworm`
/// `nginx`, and the armored key as `key.asc` at its root.
fn vendor_repository(dir: &Path) {
    let archives = testbed_rootfs().dir.join("var/cache/apt/archives");
    let (home, repo) = (dir.join("gnupg"), dir.join("repo"));
    sh(
        "command -v apt-ftparchive >/dev/null || apt-get install -y -q apt-utils >/dev/null\n\
         mkdir -p \"$G\" \"$R/pool\" && chmod 700 \"$G\" && export GNUPGHOME=\"$G\"\n\
         cp \"$A\"/nginx_*.deb \"$R/pool/\"\n\
         gpg --batch -q --pinentry-mode loopback --passphrase '' --quick-gen-key 'vendor <vendor@example.invalid>' ed25519 sign never\n\
         gpg --batch -q --armor --export > \"$R/key.asc\"\n\
         arch=$(dpkg --print-architecture); mkdir -p \"$R/dists/bookworm/nginx/binary-$arch\"\n\
         cd \"$R\" && apt-ftparchive packages pool > \"dists/bookworm/nginx/binary-$arch/Packages\"\n\
         apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm -o APT::FTPArchive::Release::Codename=bookworm \
           -o APT::FTPArchive::Release::Architectures=\"$arch\" -o APT::FTPArchive::Release::Components=nginx \
           release dists/bookworm > ../Release && mv ../Release dists/bookworm/Release\n\
         gpg --batch -q --yes --clearsign -o dists/bookworm/InRelease dists/bookworm/Release",
        &[("G", &home), ("R", &repo), ("A", &archives)],
    );
}

/// Copies `dir` to `/srv/vendor` in the container and serves it on 127.0.0.1:8080.
fn serve(c: &Container, dir: &Path) {
    let tar = Command::new("tar").arg("-C").arg(dir).args(["-cf", "-", "."]).output().expect("tar");
    let mut cmd = c.ssh_command();
    cmd.arg("mkdir -p /srv/vendor && tar -C /srv/vendor -xf -").stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("ssh");
    child.stdin.take().expect("stdin").write_all(&tar.stdout).expect("send");
    assert!(child.wait().expect("ssh").success());
    c.sh_ok(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null\n\
         busybox httpd -p 127.0.0.1:8080 -h /srv/vendor\n\
         i=0; until busybox wget -q -O /dev/null http://127.0.0.1:8080/key.asc; do\n\
           i=$((i + 1)); [ $i -lt 50 ] || { echo 'the repository server did not start' >&2; exit 1; }; sleep 0.1; done",
    );
}

#[test]
fn the_porting_guides_role_converges_as_written() {
    let c = boot("web-1");
    let tmp = tempfile::Builder::new().prefix("cv-port").tempdir_in("/tmp").expect("tempdir");
    vendor_repository(tmp.path());
    serve(&c, &tmp.path().join("repo"));
    let key = std::fs::read(tmp.path().join("repo/key.asc")).expect("key");
    let key_sha256: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&key).iter().map(|b| format!("{b:02x}")).collect()
    };

    let p = Project::new();
    let cfg = write_ssh_config(p.path(), &[(&c.address().to_string(), &c)]).display().to_string();
    // the role's own inventory replaced: this container, the repository the test serves
    p.file(
        "test.inventory.kdl",
        &format!(
            "host \"web-1\" address=\"{}\" user=\"root\" {{\n    vars {{\n        nginx_repo_deb \"http://127.0.0.1:8080/\"\n        \
             nginx_key_url \"http://127.0.0.1:8080/key.asc\"\n        nginx_key_sha256 \"{key_sha256}\"\n    }}\n}}\n",
            c.address()
        ),
    );
    let playbook = repo().join("examples/web-role.kdl").display().to_string();
    let run = |cmd: &str| {
        p.converge(&[cmd, &playbook, "--inventory", "test.inventory.kdl", "--ssh-config", &cfg, "--format", "json"])
    };
    run("diff").expect(2);
    let applied = run("apply");
    applied.expect(0);
    let again = run("apply");
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0, "{}", again.stdout);
    assert_eq!(again.json()["hosts"][0]["exchanges"], 1);

    // nginx from the vendor's repository, running the role's configuration
    let policy = c.sh_ok("apt-cache policy nginx");
    assert!(policy.contains("http://127.0.0.1:8080 bookworm/nginx"), "{policy}");
    assert_eq!(
        c.sh_ok("cat /etc/apt/sources.list.d/nginx.sources | grep -c 'Signed-By: /etc/apt/keyrings/nginx.asc'"),
        "1\n"
    );
    assert_eq!(c.sh_ok("systemctl is-enabled nginx; systemctl is-active nginx"), "enabled\nactive\n");
    let conf = c.sh_ok("cat /etc/nginx/nginx.conf");
    assert!(conf.contains("user www-data;") && conf.contains("worker_connections 4096;"), "{conf}");
    let page = http_get_until(c.address(), 80, "www.example.org", "/", "nginx");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    // the admins and their keys
    for (name, comment) in [("alice", "alice@laptop"), ("bob", "bob@laptop")] {
        assert_eq!(c.sh_ok(&format!("getent passwd {name} | cut -d: -f7")), "/bin/bash\n");
        assert!(c.sh_ok(&format!("cat /home/{name}/.ssh/authorized_keys")).contains(comment));
    }
    // the kernel: live and for the next boot
    assert_eq!(c.sh_ok("sysctl -n net.core.somaxconn net.ipv4.tcp_fin_timeout"), "4096\n15\n");
    assert_eq!(c.sh_ok("sysctl -n net.ipv4.ip_local_port_range | tr -s '\\t ' ' '"), "10000 65000\n");
    let persisted = c.sh_ok("cat /etc/sysctl.d/60-web.conf");
    assert!(
        persisted.contains("net.core.somaxconn = 4096") && persisted.contains("net.ipv4.tcp_fin_timeout = 15"),
        "{persisted}"
    );

    // an nginx.conf nginx refuses: the step fails with nginx's message, the old one stays
    let text = std::fs::read_to_string(&playbook).expect("playbook");
    p.file("web-role.kdl", &text.replace("worker_connections 4096", "worker_connections \"lots\""));
    let templates = repo().join("examples/templates");
    let copied = Command::new("cp").arg("-a").arg(&templates).arg(p.path()).status().expect("cp");
    assert!(copied.success());
    let refused = p.converge(&[
        "apply",
        "web-role.kdl",
        "--inventory",
        "test.inventory.kdl",
        "--ssh-config",
        &cfg,
        "--format",
        "json",
    ]);
    refused.expect(1);
    assert!(refused.stdout.contains("validate refused the new content"), "{}", refused.stdout);
    assert!(c.sh_ok("cat /etc/nginx/nginx.conf").contains("worker_connections 4096;"));
    assert_eq!(c.sh_ok("systemctl is-active nginx"), "active\n");
}
