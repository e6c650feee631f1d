//! `venv` and `pip` on a real container, with no network: two versions of a tiny
//! pure-Python wheel are built on the container itself into `/srv/wheels`, and installed
//! with `index=#false find-links="/srv/wheels"`. The host is checked directly: the venv's
//! own Python imports the package and prints its version; `stat` shows the owner.

use crate::kinds::OnHost;

/// Builds `demo-pkg` 1.0 and 2.0 (module `demo`) into `/srv/wheels`.
fn wheels(h: &OnHost) {
    h.sh(
        "set -e\n\
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-setuptools python3-wheel >/dev/null\n\
         for v in 1.0 2.0; do\n\
           d=/tmp/demo-$v; mkdir -p $d; cd $d\n\
           printf 'from setuptools import setup\\nsetup(name=\"demo-pkg\", version=\"%s\", py_modules=[\"demo\"])\\n' $v > setup.py\n\
           printf '__version__ = \"%s\"\\n' $v > demo.py\n\
           python3 setup.py -q bdist_wheel -d /srv/wheels >/dev/null 2>&1\n\
         done\n\
         ls /srv/wheels\n",
    );
}

fn playbook(version: &str) -> String {
    format!(
        "package \"python3-venv\"\n\
         user \"app\" system=#true home=\"/srv/app\"\n\
         directory \"/srv/app\" owner=\"app\"\n\
         venv \"/srv/app/env\" python=\"/usr/bin/python3\" owner=\"app\" system-site-packages=#false\n\
         pip \"/srv/app/env\" find-links=\"/srv/wheels\" index=#false {{\n    requirement \"demo-pkg=={version}\"\n}}\n"
    )
}

fn imported(h: &OnHost) -> String {
    h.sh("cd / && /srv/app/env/bin/python -c 'import demo; print(demo.__version__)'")
}

#[test]
fn venv_and_pinned_wheels_as_the_owner() {
    let h = OnHost::new(&playbook("1.0"));
    wheels(&h);
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("demo-pkg: (absent) → 1.0"), "{}", diff.stdout);
    h.four_steps();
    assert_eq!(imported(&h), "1.0\n");
    assert_eq!(
        h.sh("stat -c %U /srv/app/env /srv/app/env/bin/pip /srv/app/env/lib/python3*/site-packages/demo.py"),
        "app\napp\napp\n"
    );
    assert_eq!(
        h.sh("grep include-system-site-packages /srv/app/env/pyvenv.cfg"),
        "include-system-site-packages = false\n"
    );

    // a version bump shows per package and applies
    h.playbook(&playbook("2.0"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("demo-pkg: 1.0 → 2.0"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(imported(&h), "2.0\n");
    h.run("diff", &[]).expect(0);

    // a downgrade by hand is drift
    h.sh("cd / && runuser -u app -- /srv/app/env/bin/pip install -q --no-index --find-links /srv/wheels demo-pkg==1.0");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("demo-pkg: 1.0 → 2.0"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(imported(&h), "2.0\n");

    // the venv's Python changed under it (as after a Python upgrade): made again, and the
    // packages installed again in the same run
    h.sh("sed -i -e 's/^version = .*/version = 3.10.9/' -e 's|^executable = .*|executable = /usr/bin/python3.10|' /srv/app/env/pyvenv.cfg");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("python: 3.10 (/usr/bin/python3.10) → 3.11 (/usr/bin/python3.11)"), "{}", diff.stdout);
    assert!(diff.stdout.contains("? pip /srv/app/env"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("sed -n 's/^version = //p' /srv/app/env/pyvenv.cfg"), "3.11.2\n");
    assert_eq!(imported(&h), "2.0\n");
    h.run("diff", &[]).expect(0);

    // something that is not a venv is never replaced
    h.sh("mkdir -p /srv/data && echo keep > /srv/data/file");
    h.playbook("venv \"/srv/data\"\n");
    let apply = h.run("apply", &[]);
    apply.expect(1);
    assert!(apply.stdout.contains("refusing to make a virtualenv in /srv/data"), "{}", apply.stdout);
    assert_eq!(h.sh("cat /srv/data/file"), "keep\n");
}

#[test]
fn pip_requirements_follow_a_git_checkout() {
    let h = OnHost::new(
        "package \"git\" \"python3-venv\"\n\
         user \"app\" system=#true home=\"/srv/app\"\n\
         directory \"/srv/app\" owner=\"app\"\n\
         git \"/srv/app/src\" repo=\"file:///srv/up.git\" version=\"main\" user=\"app\"\n\
         venv \"/srv/app/env\" owner=\"app\"\n\
         pip \"/srv/app/env\" requirements=\"/srv/app/src/requirements.txt\" find-links=\"/srv/wheels\" index=#false\n",
    );
    wheels(&h);
    let push = |req: &str| {
        h.sh(&format!(
            "set -e\ncd /root/w\nexport GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t\n\
             printf '# pinned\\n{req}\\n' > requirements.txt\ngit add requirements.txt\ngit commit -q -m '{req}'\n\
             git push -q origin HEAD:main\n"
        ))
    };
    h.sh("set -e\nDEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null\n\
         git config --system --add safe.directory /srv/up.git\n\
         git init -q --bare -b main /srv/up.git\ngit clone -q /srv/up.git /root/w 2>/dev/null\n");
    push("demo-pkg==1.0");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains("requirements: (absent) → /srv/app/src/requirements.txt (not on the host yet)"),
        "{}",
        diff.stdout
    );
    h.four_steps();
    assert_eq!(imported(&h), "1.0\n");

    // new requirements upstream: the checkout moves, and pip installs them in the same run
    push("demo-pkg==2.0");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("? pip /srv/app/env"), "{}", diff.stdout);
    let applied = h.run("apply", &["--format", "json"]);
    applied.expect(0);
    let report = applied.json();
    let pip = report["hosts"][0]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == "pip:/srv/app/env"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(pip["result"], "changed", "{report}");
    assert_eq!(imported(&h), "2.0\n");
    assert_eq!(h.sh("stat -c %U /srv/app/env/lib/python3*/site-packages/demo.py"), "app\n");
    h.run("diff", &[]).expect(0);
}
