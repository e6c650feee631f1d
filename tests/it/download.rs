//! `download` and `unarchive` on a real container, served by an HTTP server the test
//! starts inside the container on 127.0.0.1 (busybox httpd, or python3's http.server),
//! with Ansible's four steps, drift by hand put back, and the host checked from outside
//! converge (sha256sum, stat, ls).

use crate::kinds::OnHost;
use crate::support::{Project, Run};

/// Starts an HTTP server on 127.0.0.1:8000 in the container, serving /srv/www, as a
/// transient systemd unit; waits (at most 10 s) until it listens.
fn serve(h: &OnHost, command: &str) {
    h.sh(&format!("mkdir -p /srv/www && systemd-run --quiet --unit=web -p WorkingDirectory=/srv/www {command}"));
    h.sh("for i in $(seq 100); do ss -ltn | grep -q '127.0.0.1:8000 ' && exit 0; sleep 0.1; done; echo 'the server did not listen' >&2; exit 1");
}

fn apt_install(h: &OnHost, packages: &str) {
    h.sh(&format!("DEBIAN_FRONTEND=noninteractive apt-get install -y -q {packages} >/dev/null"));
}

/// The sha256 of a file in the container.
fn sum(h: &OnHost, path: &str) -> String {
    h.sh(&format!("sha256sum < {path} | cut -d' ' -f1")).trim().to_string()
}

fn all_output(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

fn download(path: &str, file: &str, sha: &str, extra: &str) -> String {
    format!("download \"{path}\" url=\"http://127.0.0.1:8000/{file}\" checksum=\"sha256:{sha}\" {extra}\n")
}

/// A host with no fetch tool fails with what to install; busybox wget, then python3's
/// urllib fetch; four steps; drift by hand (content, mode) is fetched again; a wrong
/// checksum fails naming both sums and leaves the old file as it was; a 404 fails.
#[test]
fn download_fetches_verifies_and_is_idempotent_by_checksum() {
    let h = OnHost::new("");
    apt_install(&h, "busybox-static");
    h.sh("mkdir -p /srv/www && head -c 300000 /dev/urandom > /srv/www/blob && printf 'v2\\n' > /srv/www/other");
    serve(&h, "/bin/busybox httpd -f -p 127.0.0.1:8000 -h /srv/www");
    let blob = sum(&h, "/srv/www/blob");
    let pb = format!(
        "user \"fetcher\" system=#true\ndirectory \"/opt/dl\"\n{}",
        download("/opt/dl/blob.bin", "blob", &blob, "owner=\"fetcher\" mode=\"0640\"")
    );
    h.playbook(&pb);

    // none of curl, wget, python3
    assert_eq!(h.sh("command -v curl wget python3 || true"), "");
    let failed = h.run("apply", &[]);
    failed.expect(1);
    assert!(
        all_output(&failed)
            .contains("the host has none of curl, wget or python3 to fetch it with; install one (package \"curl\")"),
        "{}",
        all_output(&failed)
    );
    assert_eq!(h.sh("ls -A /opt/dl"), "", "nothing left behind");
    assert_eq!(h.sh("stat -c %U /opt/dl"), "root\n", "the directory was made before the download");

    // busybox wget
    h.sh("ln -s /bin/busybox /usr/local/bin/wget");
    h.four_steps();
    assert_eq!(sum(&h, "/opt/dl/blob.bin"), blob);
    assert_eq!(h.sh("stat -c '%U %a %s' /opt/dl/blob.bin"), "fetcher 640 300000\n");

    // drift: content and mode by hand; apply puts both back
    h.sh("echo tampered >> /opt/dl/blob.bin; chmod 0666 /opt/dl/blob.bin");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains("checksum: sha256:") && diff.stdout.contains(&format!("→ sha256:{}", &blob[..12])),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("mode: 0666 → 0640"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(sum(&h, "/opt/dl/blob.bin"), blob);
    assert_eq!(h.sh("stat -c '%U %a' /opt/dl/blob.bin"), "fetcher 640\n");
    h.run("diff", &[]).expect(0);

    // python3's urllib, when there is no wget
    h.sh("rm /usr/local/bin/wget");
    apt_install(&h, "python3");
    let other = sum(&h, "/srv/www/other");
    h.playbook(&format!("{pb}{}", download("/opt/dl/other.txt", "other", &other, "")));
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /opt/dl/other.txt; stat -c '%U %a' /opt/dl/other.txt"), "v2\nroot 644\n");
    h.run("diff", &[]).expect(0);

    // a wrong checksum: both sums named, the old file untouched, no temp file left
    // another checksum for sure: its first hex digit changed
    let wanted = format!("{}{}", if blob.starts_with('0') { "1" } else { "0" }, &blob[1..]);
    h.playbook(&download("/opt/dl/blob.bin", "other", &wanted, ""));
    let before = h.sh("stat -c '%i %Y' /opt/dl/blob.bin");
    let wrong = h.run("apply", &[]);
    wrong.expect(1);
    let text = all_output(&wrong);
    assert!(
        text.contains(&format!(
            "checksum mismatch for http://127.0.0.1:8000/other: wanted sha256:{wanted}, the download has sha256:{other}; /opt/dl/blob.bin is left as it was"
        )),
        "{text}"
    );
    assert_eq!(sum(&h, "/opt/dl/blob.bin"), blob);
    assert_eq!(h.sh("stat -c '%i %Y' /opt/dl/blob.bin"), before);
    assert_eq!(h.sh("ls -A /opt/dl"), "blob.bin\nother.txt\n", "no temp file left");

    // a 404
    h.playbook(&download("/opt/dl/missing", "missing", &blob, ""));
    let missing = h.run("apply", &[]);
    missing.expect(1);
    assert!(all_output(&missing).contains("404"), "{}", all_output(&missing));
    assert_eq!(h.sh("ls -A /opt/dl"), "blob.bin\nother.txt\n");
}

/// Builds, in the container, `/srv/www/app-VERSION.tar.gz` (top directory `app-VERSION/`,
/// an executable `bin/app` and `etc/app.conf`), the same tree as a zip and a tar.xz, with
/// python3 (which writes all three without xz or zip installed).
fn build_archives(h: &OnHost, version: &str) {
    h.sh(&format!(
        r#"set -e
rm -rf /tmp/src && mkdir -p /tmp/src/app-{v}/bin /tmp/src/app-{v}/etc
printf '#!/bin/sh\necho app {v}\n' > /tmp/src/app-{v}/bin/app
chmod 0755 /tmp/src/app-{v}/bin/app
printf 'version = {v}\n' > /tmp/src/app-{v}/etc/app.conf
cd /tmp/src
python3 - <<'EOF'
import os, tarfile, zipfile
v = "{v}"
for ext, mode in (("tar.gz", "w:gz"), ("tar.xz", "w:xz")):
    with tarfile.open("/srv/www/app-%s.%s" % (v, ext), mode) as t:
        t.add("app-" + v)
with zipfile.ZipFile("/srv/www/app-%s.zip" % v, "w") as z:
    for root, dirs, files in os.walk("app-" + v):
        for f in files:
            z.write(os.path.join(root, f))
EOF
"#,
        v = version
    ));
}

fn unarchive_playbook(h: &OnHost, version: &str, xz_package: bool) -> String {
    let mut pb = String::from(
        "group \"app\" system=#true\nuser \"app\" system=#true group=\"app\"\ndirectory \"/var/cache/app\"\n",
    );
    if xz_package {
        pb.push_str("package \"xz-utils\"\n");
    }
    for ext in ["tar.gz", "tar.xz", "zip"] {
        let file = format!("app-{version}.{ext}");
        pb.push_str(&download(&format!("/var/cache/app/{file}"), &file, &sum(h, &format!("/srv/www/{file}")), ""));
    }
    pb.push_str(&format!(
        "unarchive \"/opt/app\" src=\"/var/cache/app/app-{version}.tar.gz\" strip-components=1 owner=\"app\" group=\"app\"\n\
         unarchive \"/opt/xz\" src=\"/var/cache/app/app-{version}.tar.xz\"\n\
         unarchive \"/opt/zip\" src=\"/var/cache/app/app-{version}.zip\" strip-components=1\n"
    ));
    pb
}

/// tar.gz (strip-components, owner and group), tar.xz (after its package, which a missing
/// xz names) and zip (python3's zipfile, modes kept) from downloads in the same run; four
/// steps; a file edited and one removed by hand are put back, a file of the user's own
/// left alone; a new version downloaded and extracted in one apply.
#[test]
fn unarchive_extracts_tar_and_zip_and_puts_back_drift() {
    let h = OnHost::new("");
    apt_install(&h, "python3");
    h.sh("mkdir -p /srv/www");
    build_archives(&h, "1.0");
    serve(&h, "/usr/bin/python3 -m http.server 8000 --bind 127.0.0.1");
    let want_app = h.sh("sha256sum /tmp/src/app-1.0/bin/app | cut -d' ' -f1");

    // no xz on the host: that resource fails, naming the package; the others converge
    h.playbook(&unarchive_playbook(&h, "1.0", false));
    let failed = h.run("apply", &["--format", "json"]);
    failed.expect(1);
    let text = all_output(&failed);
    assert!(text.contains("extracting /var/cache/app/app-1.0.tar.xz needs xz: install package xz-utils"), "{text}");
    assert_eq!(h.sh("cat /opt/app/etc/app.conf 2>&1 || true"), "version = 1.0\n", "{text}");

    // with the package, four steps (from a clean host for the first diff to show changes)
    h.sh("rm -rf /opt/app /opt/xz /opt/zip /var/cache/app");
    h.playbook(&unarchive_playbook(&h, "1.0", true));
    h.four_steps();
    for dir in ["/opt/app", "/opt/zip"] {
        assert_eq!(
            h.sh(&format!("cd {dir} && find . -path ./.converge-unarchive -prune -o -print | sort")),
            ".\n./bin\n./bin/app\n./etc\n./etc/app.conf\n",
            "{dir}"
        );
        assert_eq!(h.sh(&format!("sha256sum < {dir}/bin/app | cut -d' ' -f1")), want_app, "{dir}");
        assert_eq!(h.sh(&format!("stat -c %a {dir}/bin/app")), "755\n", "{dir}: the mode stored in the archive");
    }
    assert_eq!(h.sh("/opt/app/bin/app; /opt/zip/bin/app"), "app 1.0\napp 1.0\n");
    assert_eq!(h.sh("stat -c '%U:%G' /opt/app/bin/app /opt/app/etc /opt/app/etc/app.conf | sort -u"), "app:app\n");
    assert_eq!(h.sh("stat -c '%U:%G' /opt/zip/bin/app"), "root:root\n", "not the uids stored in the archive");
    assert_eq!(h.sh("cat /opt/xz/app-1.0/etc/app.conf"), "version = 1.0\n", "no strip-components");
    assert_eq!(h.sh("ls -A /opt/app"), ".converge-unarchive\nbin\netc\n", "no stage left behind");

    // drift: an edited file, a removed one, a chowned one; a file of the user's own stays
    h.sh("echo edited > /opt/app/etc/app.conf; rm /opt/zip/bin/app; chown root /opt/app/bin/app; echo mine > /opt/app/local.txt");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("files: 1 changed or missing: ./etc/app.conf → as in the archive"), "{}", diff.stdout);
    assert!(diff.stdout.contains("files: 1 changed or missing: ./bin/app → as in the archive"), "{}", diff.stdout);
    assert!(diff.stdout.contains("ownership: "), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /opt/app/etc/app.conf; cat /opt/app/local.txt"), "version = 1.0\nmine\n");
    assert_eq!(h.sh("sha256sum < /opt/zip/bin/app | cut -d' ' -f1"), want_app);
    assert_eq!(h.sh("stat -c '%U:%G' /opt/app/bin/app"), "app:app\n");
    h.run("diff", &[]).expect(0);

    // a new version: downloaded and extracted in the same apply
    build_archives(&h, "2.0");
    h.playbook(&unarchive_playbook(&h, "2.0", true));
    let applied = h.run("apply", &["--format", "json"]);
    applied.expect(0);
    // the extraction followed its download at its turn: no second round
    assert_eq!(applied.json()["hosts"][0]["exchanges"], 3, "{}", applied.stdout);
    assert_eq!(h.sh("/opt/app/bin/app; cat /opt/app/etc/app.conf"), "app 2.0\nversion = 2.0\n");
    assert_eq!(h.sh("/opt/zip/bin/app"), "app 2.0\n");
    h.run("diff", &[]).expect(0);
}

/// What a playbook gets wrong about these kinds is refused before any connection, at the
/// token.
#[test]
fn download_and_unarchive_mistakes_are_labelled() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        "host \"a\"\n\
         download \"/opt/x\" url=\"ftp://example.org/x\" checksum=\"md5:0123\"\n\
         download \"/opt/y\" url=\"https://example.org/y\"\n\
         unarchive \"/opt/z\" src=\"/var/cache/z.bin\"\n",
    );
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(1);
    insta::assert_snapshot!("download_and_unarchive_mistakes", run.stderr);
}

/// Every payload of the hostile catalogue as a file name: downloads to those paths, the
/// archive (whose members are named with the catalogue too, a line break included)
/// extracted into directories named with them. Read back from outside with the names
/// quoted; a second apply changes nothing, in one exchange; an edited member with a
/// hostile name is drift put back; nothing ran.
#[test]
fn download_and_unarchive_take_hostile_paths() {
    use crate::hostile::{PAYLOADS, kdl_str, untemplated};
    use converge::script::quote;
    let names: Vec<String> = PAYLOADS.iter().map(|p| untemplated(p).replace('/', "_")).collect();
    let h = OnHost::new("");
    apt_install(&h, "python3");
    // the archive: one member per payload under `top/`
    let members: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{i}-{n}")).collect();
    let list = members.iter().map(|m| quote(m)).collect::<Vec<_>>().join(" ");
    h.sh(&format!(
        "set -e\nmkdir -p /tmp/t/top /srv/www\ncd /tmp/t/top\nfor m in {list}; do printf '%s\\n' \"$m\" > \"./$m\"; done\n\
         cd /tmp/t && tar -czf /srv/www/a.tar.gz top"
    ));
    serve(&h, "/usr/bin/python3 -m http.server 8000 --bind 127.0.0.1");
    let sha = sum(&h, "/srv/www/a.tar.gz");
    let mut pb = String::from("directory \"/srv/h\"\ndirectory \"/srv/u\"\n");
    for (i, n) in names.iter().enumerate() {
        let file = format!("/srv/h/{i}-{n}");
        pb.push_str(&format!(
            "download {} url=\"http://127.0.0.1:8000/a.tar.gz\" checksum=\"sha256:{sha}\"\n",
            kdl_str(&file)
        ));
        pb.push_str(&format!(
            "unarchive {} src={} format=\"tar.gz\" strip-components=1\n",
            kdl_str(&format!("/srv/u/{i}-{n}")),
            kdl_str(&file)
        ));
    }
    h.playbook(&pb);
    let first = h.run("apply", &["--format", "json"]);
    let failures: Vec<String> = first.json()["hosts"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter(|r| r["result"] == "failed")
        .map(|r| format!("{}: {}", r["id"], r["error"]))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    first.expect(0);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    let again = again.json();
    assert_eq!(again["summary"]["changed"], 0, "{again}");
    assert_eq!(again["hosts"][0]["exchanges"], 1);
    // read back, one exchange per directory: the download's sum and every member
    for (i, n) in names.iter().enumerate() {
        let mut script = format!("sha256sum < {} | cut -d' ' -f1\n", quote(&format!("/srv/h/{i}-{n}")));
        let mut want = format!("{sha}\n");
        for m in &members {
            script.push_str(&format!("cat {}\n", quote(&format!("/srv/u/{i}-{n}/{m}"))));
            want.push_str(&format!("{m}\n"));
        }
        assert_eq!(h.sh(&script), want, "{n:?}");
    }
    // a member with a line break in its name, edited by hand, is drift put back
    let (k, odd) = members.iter().enumerate().find(|(_, m)| m.contains('\n')).expect("a name with a line break");
    let edited = quote(&format!("/srv/u/0-{}/{odd}", names[0]));
    h.sh(&format!("echo edited > {edited}"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("files: 1 changed or missing"), "member {k}: {}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh(&format!("cat {edited}")), format!("{odd}\n"));
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("find / -xdev -name cv-canary | wc -l"), "0\n", "a payload ran as a command");
}
