//! `apt-repository` on a real container, against a repository built and signed on the
//! controller with apt's own tools (a throwaway key in a temporary GNUPGHOME, a small
//! `.deb` from `dpkg-deb`, indexes and Release from `apt-ftparchive`), copied into the
//! container and served there by busybox's httpd on 127.0.0.1. A second httpd serves a
//! decoy source, declared on the host by hand, and logs every request: a host-wide
//! `apt-get update` would ask it for its Release file, a scoped one never does.
//!
//! Controller tools: `gpg`, `dpkg-deb` and `apt-ftparchive` (apt-utils, installed here
//! with apt-get when missing).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::kinds::OnHost;

const PKG: &str = "converge-hello";

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn sh(script: &str, env: &[(&str, &Path)]) -> Vec<u8> {
    let mut cmd = Command::new("sh");
    cmd.arg("-ec").arg(script);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// Installs apt-utils on the controller when `apt-ftparchive` is missing.
fn ensure_controller_tools() {
    sh(
        "command -v apt-ftparchive >/dev/null || { apt-get install -y -q apt-utils >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q apt-utils >/dev/null; }; }\n\
         command -v apt-ftparchive && command -v gpg && command -v dpkg-deb",
        &[],
    );
}

/// A throwaway signing key in its own GNUPGHOME; returns (armored, binary) public key.
fn new_key(home: &Path) -> (String, Vec<u8>) {
    sh(
        "chmod 700 \"$GNUPGHOME\"\n\
         gpg --batch -q --pinentry-mode loopback --passphrase '' --quick-gen-key 'converge test <test@example.invalid>' ed25519 sign never",
        &[("GNUPGHOME", home)],
    );
    let armored = sh("gpg --batch -q --armor --export", &[("GNUPGHOME", home)]);
    let binary = sh("gpg --batch -q --export", &[("GNUPGHOME", home)]);
    (String::from_utf8(armored).expect("armored key"), binary)
}

/// A signed repository with one package, `stable/main`, in `repo`.
fn build_repo(repo: &Path, home: &Path, work: &Path) {
    sh(
        "arch=$(dpkg --print-architecture)\n\
         mkdir -p \"$W/pkg/DEBIAN\" \"$W/pkg/usr/share/converge-hello\" \"$R/pool\" \"$R/dists/stable/main/binary-$arch\"\n\
         printf 'Package: converge-hello\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: converge <test@example.invalid>\\nDescription: a package from a test repository\\n' > \"$W/pkg/DEBIAN/control\"\n\
         echo hello > \"$W/pkg/usr/share/converge-hello/hello.txt\"\n\
         dpkg-deb --root-owner-group -Zgzip --build \"$W/pkg\" \"$R/pool/converge-hello_1.0_all.deb\" >/dev/null\n\
         cd \"$R\"\n\
         apt-ftparchive packages pool > \"dists/stable/main/binary-$arch/Packages\"\n\
         apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
           -o APT::FTPArchive::Release::Architectures=\"$arch\" -o APT::FTPArchive::Release::Components=main \
           release dists/stable > \"$W/Release\"\n\
         mv \"$W/Release\" dists/stable/Release\n\
         gpg --batch -q --yes --clearsign -o dists/stable/InRelease dists/stable/Release\n\
         gpg --batch -q --yes -abs -o dists/stable/Release.gpg dists/stable/Release",
        &[("GNUPGHOME", home), ("R", repo), ("W", work)],
    );
}

/// Copies `dir` to `/srv/NAME` in the container (tar over ssh).
fn push(h: &OnHost, dir: &Path, name: &str) {
    let tar = run(Command::new("tar").arg("-C").arg(dir).args(["-cf", "-", "."]));
    let mut cmd = h.container.ssh_command();
    cmd.arg(format!("mkdir -p /srv/{name} && tar -C /srv/{name} -xf -")).stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("ssh");
    child.stdin.take().expect("stdin").write_all(&tar).expect("send tar");
    assert!(child.wait().expect("ssh").success(), "copying {name} into the container");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_signed_repository_serves_a_package_in_one_apply_and_updates_alone() {
    ensure_controller_tools();
    let tmp = tempfile::Builder::new().prefix("cv-apt").tempdir_in("/tmp").expect("tempdir");
    let (home, other_home, repo, work) =
        (tmp.path().join("g"), tmp.path().join("o"), tmp.path().join("repo"), tmp.path().join("w"));
    for d in [&home, &other_home, &repo, &work] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let (armored, binary) = new_key(&home);
    build_repo(&repo, &home, &work);
    std::fs::write(repo.join("key.gpg"), &binary).expect("key.gpg");

    let playbook = format!(
        "apt-repository \"local\" uris=\"http://127.0.0.1:8080/\" suites=\"stable\" components=\"main\" key-source=\"files/local.asc\"\n\
         package \"{PKG}\"\n"
    );
    let h = OnHost::new(&playbook);
    h.project.file("files/local.asc", &armored);
    push(&h, &repo, "repo");
    // the repository's server, and a decoy source whose server logs every request
    h.sh(
        "export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q busybox-static >/dev/null\n\
         mkdir -p /srv/decoy\n\
         busybox httpd -p 127.0.0.1:8080 -h /srv/repo\n\
         setsid busybox httpd -f -vv -p 127.0.0.1:8081 -h /srv/decoy </dev/null >/var/log/decoy.log 2>&1 &\n\
         printf 'Types: deb\\nURIs: http://127.0.0.1:8081/\\nSuites: decoy\\nComponents: main\\nTrusted: yes\\n' > /etc/apt/sources.list.d/decoy.sources\n\
         i=0; until busybox wget -q -O /dev/null http://127.0.0.1:8080/dists/stable/InRelease; do\n\
           i=$((i + 1)); [ $i -lt 50 ] || { echo 'the repository server did not start' >&2; exit 1; }; sleep 0.1; done\n\
         i=0; until grep -q ready /var/log/decoy.log; do busybox wget -q -O /dev/null http://127.0.0.1:8081/ready || true\n\
           i=$((i + 1)); [ $i -lt 50 ] || { echo 'the decoy server does not log' >&2; exit 1; }; sleep 0.1; done\n\
         grep -q ready /var/log/decoy.log",
    );
    assert!(h.sh("apt-cache policy converge-hello").is_empty(), "not known before the repository");

    h.four_steps();
    let sources = "# managed by converge\nTypes: deb\nURIs: http://127.0.0.1:8080/\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/local.asc\n";
    assert_eq!(h.sh("cat /etc/apt/sources.list.d/local.sources"), sources);
    assert_eq!(h.sh("sha256sum < /etc/apt/keyrings/local.asc"), format!("{}  -\n", sha256(armored.as_bytes())));
    assert_eq!(h.sh("stat -c %a /etc/apt/keyrings/local.asc /etc/apt/sources.list.d/local.sources"), "644\n644\n");
    let policy = h.sh("apt-cache policy converge-hello");
    assert!(policy.contains("Candidate: 1.0") && policy.contains("http://127.0.0.1:8080 stable/main"), "{policy}");
    assert_eq!(h.sh("dpkg-query -W -f='${db:Status-Status} ${Version}' converge-hello"), "installed 1.0");
    assert_eq!(h.sh("cat /usr/share/converge-hello/hello.txt"), "hello\n");
    let decoy = h.sh("cat /var/log/decoy.log");
    assert!(!decoy.contains("dists"), "a host-wide update asked the decoy source:\n{decoy}");

    // drift by hand: another component, the key gone, this source's lists deleted
    h.sh("sed -i 's/^Components: main/Components: contrib/' /etc/apt/sources.list.d/local.sources\n\
          rm /etc/apt/keyrings/local.asc\n\
          rm /var/lib/apt/lists/127.0.0.1:8080_*");
    h.run("diff", &[]).expect(2);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("cat /etc/apt/sources.list.d/local.sources"), sources);
    assert_eq!(h.sh("sha256sum < /etc/apt/keyrings/local.asc"), format!("{}  -\n", sha256(armored.as_bytes())));
    assert!(h.sh("apt-cache policy converge-hello").contains("Candidate: 1.0"), "lists fetched again");
    // only the lists are gone: fetched again, nothing else changes
    h.sh("rm /var/lib/apt/lists/127.0.0.1:8080_*");
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(plan.stdout.contains("lists") && plan.stdout.contains("not fetched"), "{}", plan.stdout);
    h.run("apply", &[]).expect(0);
    assert!(h.sh("ls /var/lib/apt/lists/").contains("127.0.0.1:8080_dists_stable_InRelease"));

    // the key from a URL, checked against its hash, as a binary keyring: the .asc goes
    h.playbook(&format!(
        "apt-repository \"local\" uris=\"http://127.0.0.1:8080/\" suites=\"stable\" components=\"main\" key-url=\"http://127.0.0.1:8080/key.gpg\" key-sha256=\"{}\"\n",
        sha256(&binary)
    ));
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("sha256sum < /etc/apt/keyrings/local.gpg"), format!("{}  -\n", sha256(&binary)));
    assert_eq!(h.sh("test -e /etc/apt/keyrings/local.asc && echo there || echo gone"), "gone\n");
    assert!(h.sh("cat /etc/apt/sources.list.d/local.sources").contains("Signed-By: /etc/apt/keyrings/local.gpg\n"));

    // a key that did not sign the repository: the scoped update fails the apply
    let (wrong, _) = new_key(&other_home);
    h.project.file("files/wrong.asc", &wrong);
    h.playbook(
        "apt-repository \"local\" uris=\"http://127.0.0.1:8080/\" suites=\"stable\" components=\"main\" key-source=\"files/wrong.asc\"\n",
    );
    let failed = h.run("apply", &[]);
    failed.expect(1);
    assert!(
        failed.stdout.contains("NO_PUBKEY")
            || failed.stdout.contains("not signed")
            || failed.stderr.contains("NO_PUBKEY"),
        "{}\n{}",
        failed.stdout,
        failed.stderr
    );
    // put back as it was: the binary key, and the source that names it
    assert_eq!(h.sh("sha256sum < /etc/apt/keyrings/local.gpg"), format!("{}  -\n", sha256(&binary)));
    assert_eq!(h.sh("test -e /etc/apt/keyrings/local.asc && echo there || echo gone"), "gone\n");
    assert!(h.sh("cat /etc/apt/sources.list.d/local.sources").contains("Signed-By: /etc/apt/keyrings/local.gpg\n"));
    h.sh("apt-get update -q -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/local.sources -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 -o APT::Update::Error-Mode=any");
    // and planned again by the next run
    h.run("diff", &[]).expect(2);

    // absent: both files go (the package first, while apt still knows it)
    h.playbook(&format!("package \"{PKG}\" state=\"absent\"\napt-repository \"local\" state=\"absent\"\n"));
    h.run("diff", &[]).expect(2);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(
        h.sh("ls /etc/apt/sources.list.d/ /etc/apt/keyrings/ | grep local || echo none"),
        "none\n",
        "the source and its keys are gone"
    );
    let decoy = h.sh("cat /var/log/decoy.log");
    assert!(!decoy.contains("dists"), "a host-wide update asked the decoy source:\n{decoy}");

    // values the shell would read are written literally (never updated: apt cannot use them)
    h.playbook(
        r#"apt-repository "odd" uris="http://127.0.0.1:9/a;b'c\"d`id`$HOME" suites="{a,b}" update-cache=#false {
    components "*" "~root"
    options { X-Note "$(touch /tmp/converge-canary) 'q' \"d\" `id` \\ end"; }
}
"#,
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(
        h.sh("cat /etc/apt/sources.list.d/odd.sources"),
        "# managed by converge\nTypes: deb\nURIs: http://127.0.0.1:9/a;b'c\"d`id`$HOME\nSuites: {a,b}\nComponents: * ~root\nX-Note: $(touch /tmp/converge-canary) 'q' \"d\" `id` \\ end\n"
    );
    assert_eq!(h.sh("test -e /tmp/converge-canary && echo ran || echo literal"), "literal\n");
    h.playbook("apt-repository \"odd\" state=\"absent\"\n");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("test -e /etc/apt/sources.list.d/odd.sources && echo there || echo gone"), "gone\n");
}
