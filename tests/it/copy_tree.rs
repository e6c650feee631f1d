//! `copy-tree` on a real container: a tree of 3000 small files generated here, with
//! Ansible's four steps, the exchange count (probe, apply, verify, whatever the number of
//! files), drift by hand put back, and the host checked from outside converge
//! (`sha256sum` of every file against the controller's own, `find -printf` for types,
//! owners and modes).

use std::process::Command;
use std::time::Instant;

use crate::kinds::OnHost;

const FILES: usize = 3000;

/// `FILES` small files in 30 directories (some empty, some executable, one with a space
/// and quotes in its name), under `files/site/` of the project.
fn generate(h: &OnHost) {
    for i in 0..FILES {
        let dir = format!("d{:02}", i % 30);
        let name = if i == 7 { "it's a \"name\".txt".to_string() } else { format!("f{i:04}.txt") };
        h.project.file(&format!("files/site/{dir}/{name}"), &format!("file {i}\nline two\n"));
    }
    h.project.file("files/site/empty/", "");
    h.project.file("files/site/bin/run.sh", "#!/bin/sh\necho run\n");
    let run = h.project.path().join("files/site/bin/run.sh");
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
}

/// `sha256sum` of every file under a directory, as `HASH  ./path` lines in order.
fn manifest_here(dir: &std::path::Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg("cd \"$1\" && find . -type f -exec sha256sum -- {} + | LC_ALL=C sort")
        .arg("sh")
        .arg(dir)
        .output()
        .expect("sha256sum here");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf8")
}

fn manifest_there(h: &OnHost) -> String {
    h.sh("cd /srv/site && find . -type f ! -name '*.log' -exec sha256sum -- {} + | LC_ALL=C sort")
}

#[test]
fn three_thousand_files_in_three_exchanges_and_drift_put_back() {
    let h = OnHost::new(
        "copy-tree \"/srv/site\" source=\"files/site/\" owner=\"www-data\" group=\"www-data\" purge=#true exclude=\"*.log\"\n",
    );
    generate(&h);
    let started = Instant::now();
    let report = h.four_steps();
    eprintln!("four steps on {FILES} files: {:?}", started.elapsed());
    assert_eq!(report["hosts"][0]["exchanges"], 3, "probe, apply, verify: {}", report["hosts"][0]);
    let want = manifest_here(&h.project.path().join("files/site"));
    assert_eq!(want.lines().count(), FILES + 1);
    assert_eq!(manifest_there(&h), want, "every file, byte for byte");
    // owners, modes and types, from outside
    let meta = h.sh("cd /srv/site && find . -printf '%y %u:%g %m\\n' | LC_ALL=C sort | uniq -c | sed 's/^ *//'");
    assert_eq!(
        meta,
        format!("33 d www-data:www-data 755\n{FILES} f www-data:www-data 644\n1 f www-data:www-data 755\n")
    );
    assert_eq!(h.sh("stat -c %U:%a /srv/site/bin/run.sh; /srv/site/bin/run.sh"), "www-data:755\nrun\n");
    assert_eq!(h.sh("find /srv/site -name '.converge.*' | wc -l"), "0\n", "no staging left behind");

    // drift by hand: content, a mode, an owner, a file gone, extras, an excluded log
    h.sh(
        "cd /srv/site && echo changed > d01/f0001.txt && printf 'x' >> d02/f0002.txt && chmod 600 d03/f0003.txt \
         && chown root d04/f0004.txt && rm d05/f0005.txt && rm -r empty && mkdir -p stray/deeper && touch stray/deeper/x extra.txt \
         && echo keep > d06/app.log && ln -s /etc d07/link",
    );
    let diff = h.run("diff", &["--format", "json"]);
    diff.expect(2);
    let plan = diff.json();
    let fields: Vec<String> = plan["hosts"][0]["resources"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["field"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        fields,
        [
            "/srv/site/d01/f0001.txt",
            "/srv/site/d02/f0002.txt",
            "/srv/site/d03/f0003.txt mode",
            "/srv/site/d04/f0004.txt owner",
            "/srv/site/d05/f0005.txt",
            "/srv/site/empty/",
            "/srv/site/d07/link",
            "/srv/site/extra.txt",
            "/srv/site/stray",
        ],
        "{plan}"
    );
    let text = h.run("diff", &[]);
    assert!(text.stdout.contains("--- /srv/site/d01/f0001.txt (on host)\n"), "{}", text.stdout);
    assert!(text.stdout.contains("-changed\n"), "{}", text.stdout);
    let applied = h.run("apply", &["--format", "json"]);
    applied.expect(0);
    assert_eq!(applied.json()["hosts"][0]["exchanges"], 3);
    assert_eq!(manifest_there(&h), want, "drift put back");
    assert_eq!(h.sh("stat -c '%U %a' /srv/site/d03/f0003.txt /srv/site/d04/f0004.txt"), "www-data 644\nwww-data 644\n");
    assert_eq!(
        h.sh("cd /srv/site && ls -d stray extra.txt d07/link 2>/dev/null | wc -l; cat d06/app.log; stat -c %F empty"),
        "0\nkeep\ndirectory\n"
    );
    h.run("diff", &[]).expect(0);
    eprintln!("with the drift: {:?}", started.elapsed());
}

/// The "changed since plan" guard and `purge=#false`: extras stay, and a file changed
/// between the plan and the apply is refused (nothing written), as `file` does.
#[test]
fn without_purge_extras_stay_and_a_directory_in_the_way_is_refused() {
    let h = OnHost::new(
        "copy-tree \"/srv/app\" source=\"files/app/\" mode=\"0640\" dir-mode=\"0750\"\n\
         copy-tree \"/srv/it's $(touch /tmp/cv-canary) `id` dir\" source=\"files/app/\"\n",
    );
    h.project.file("files/app/conf/app.ini", "[app]\nport = 3000\n");
    h.project.file("files/app/README", "hello\n");
    h.sh("mkdir -p /srv/app/README.d /srv/app/uploads && touch /srv/app/uploads/a.png && mkdir /srv/app/README2");
    h.four_steps();
    assert_eq!(
        h.sh("cd /srv/app && find . -printf '%y %m %P\\n' | LC_ALL=C sort"),
        "d 750 \nd 750 conf\nd 755 README.d\nd 755 README2\nd 755 uploads\nf 640 README\nf 640 conf/app.ini\nf 644 uploads/a.png\n"
    );
    // a hostile destination is taken literally
    let hostile = converge::script::quote("/srv/it's $(touch /tmp/cv-canary) `id` dir");
    assert_eq!(
        h.sh(&format!("cat {hostile}/conf/app.ini; ls /tmp/cv-canary 2>/dev/null | wc -l")),
        "[app]\nport = 3000\n0\n"
    );
    // a directory where the source has a file: refused, and the rest is not half-done
    h.sh("rm /srv/app/README && mkdir /srv/app/README && echo changed > /srv/app/conf/app.ini");
    let applied = h.run("apply", &[]);
    applied.expect(1);
    assert!(
        applied.stdout.contains("refusing to replace what is in the way (purge=#true replaces it): /srv/app/README"),
        "{}",
        applied.stdout
    );
    assert_eq!(h.sh("cat /srv/app/conf/app.ini"), "changed\n");
}
