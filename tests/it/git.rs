//! `git` on a real container, with no network: an upstream bare repository is made on the
//! container itself and checked out from `file:///srv/up.git` as `nobody`. The host is
//! checked directly with git (as the checkout's owner) and `stat`.

use crate::kinds::OnHost;
use crate::support::Project;

/// Installs git, makes `/srv/up.git` (default branch `main`) readable by every user, and a
/// work tree `/root/w` to commit from.
fn upstream(h: &OnHost) {
    h.sh("set -e\n\
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null\n\
         git config --system --add safe.directory /srv/up.git\n\
         git init -q --bare -b main /srv/up.git\n\
         git clone -q /srv/up.git /root/w 2>/dev/null\n");
}

/// Writes `text` to `app.py` upstream, commits, pushes to `main`; returns the commit hash.
fn push(h: &OnHost, text: &str) -> String {
    let script = format!(
        "set -e\ncd /root/w\nexport GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t\n\
         printf '%s\\n' '{text}' > app.py\ngit add app.py\ngit commit -q -m '{text}'\ngit push -q origin HEAD:main\n\
         git rev-parse HEAD\n"
    );
    h.sh(&script).trim().to_string()
}

/// HEAD of a checkout, read as its owner.
fn head(h: &OnHost, dir: &str) -> String {
    h.sh(&format!("runuser -u \"$(stat -c %U {dir})\" -- git -C {dir} rev-parse HEAD")).trim().to_string()
}

fn playbook(version: &str, force: bool) -> String {
    format!(
        "package \"git\"\n\
         directory \"/srv/app\" owner=\"nobody\"\n\
         git \"/srv/app/src\" repo=\"file:///srv/up.git\" version=\"{version}\" user=\"nobody\" force=#{force} notify=\"service:app\"\n\
         unit \"app\" content=\"[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n\"\n\
         service \"app\" enabled=#true state=\"running\"\n\
         user \"deploy\" home=\"/home/deploy\"\n\
         git \"/home/deploy/app\" repo=\"file:///srv/up.git\" user=\"deploy\"\n"
    )
}

#[test]
fn git_checkout_as_nobody_follows_upstream_and_notifies() {
    let h = OnHost::new(&playbook("main", false));
    upstream(&h);
    let one = push(&h, "one");
    // `deploy` does not exist before the first apply: its checkout is resolved at apply time
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains(&format!("revision: (absent) → {} (main)", &one[..7])), "{}", diff.stdout);
    assert!(diff.stdout.contains("HEAD (resolved at apply: user deploy does not exist yet)"), "{}", diff.stdout);
    h.four_steps();
    assert_eq!(head(&h, "/srv/app/src"), one);
    assert_eq!(head(&h, "/home/deploy/app"), one);
    assert_eq!(h.sh("stat -c %U /srv/app/src /srv/app/src/.git /srv/app/src/app.py"), "nobody\nnobody\nnobody\n");
    assert_eq!(h.sh("stat -c %U /home/deploy/app/app.py"), "deploy\n");
    // a local branch tracking origin, so a `git pull` by hand still works
    assert_eq!(
        h.sh("runuser -u nobody -- git -C /srv/app/src rev-parse --abbrev-ref HEAD '@{upstream}'"),
        "main\norigin/main\n"
    );
    let pid = h.sh("systemctl show -p MainPID --value app");

    // a new upstream commit: the plan shows it, the apply moves the checkout and restarts
    let two = push(&h, "two");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    let line = format!("revision: {} (main) → {} (main)", &one[..7], &two[..7]);
    assert!(diff.stdout.contains(&line), "{}", diff.stdout);
    assert!(diff.stdout.contains("restart (notified by git:/srv/app/src)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(head(&h, "/srv/app/src"), two);
    assert_eq!(head(&h, "/home/deploy/app"), two);
    assert_eq!(h.sh("cat /srv/app/src/app.py"), "two\n");
    assert_ne!(h.sh("systemctl show -p MainPID --value app"), pid, "restarted after the move");
    h.run("diff", &[]).expect(0);
}

#[test]
fn git_pins_tags_and_commits_and_refuses_local_changes() {
    let h = OnHost::new(&playbook("v1", false));
    upstream(&h);
    let one = push(&h, "one");
    h.sh("cd /root/w && git -c user.name=t -c user.email=t@t tag -a v1 -m v1 && git push -q origin v1");
    let two = push(&h, "two");
    h.four_steps();
    // the annotated tag's commit, detached
    assert_eq!(head(&h, "/srv/app/src"), one);
    assert_eq!(h.sh("runuser -u nobody -- git -C /srv/app/src symbolic-ref -q HEAD || echo detached"), "detached\n");

    // a commit pin
    h.playbook(&playbook(&two, false));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains(&format!("revision: {} (detached) → {}\n", &one[..7], &two[..7])), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(head(&h, "/srv/app/src"), two);
    h.run("diff", &[]).expect(0);

    // a modified tracked file is drift, and moving over it is refused without force
    h.sh("echo hotfix >> /srv/app/src/app.py");
    h.playbook(&playbook("main", false));
    let three = push(&h, "three");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains("local changes: 1 file: app.py → refused (force=#true discards them)"),
        "{}",
        diff.stdout
    );
    let apply = h.run("apply", &[]);
    apply.expect(1);
    assert!(apply.stdout.contains("local changes in /srv/app/src; force=#true discards them"), "{}", apply.stdout);
    assert_eq!(head(&h, "/srv/app/src"), two, "not moved");
    assert_eq!(h.sh("cat /srv/app/src/app.py"), "two\nhotfix\n", "local change kept");

    // force=#true discards them
    h.playbook(&playbook("main", true));
    h.run("apply", &[]).expect(0);
    assert_eq!(head(&h, "/srv/app/src"), three);
    assert_eq!(h.sh("cat /srv/app/src/app.py"), "three\n");
    assert_eq!(h.sh("runuser -u nobody -- git -C /srv/app/src status --porcelain"), "");
    h.run("diff", &[]).expect(0);

    // a checkout owned by someone else is refused, never chowned
    h.sh("chown -R root /srv/app/src");
    let apply = h.run("apply", &[]);
    apply.expect(1);
    assert!(
        apply.stdout.contains("refusing to run git as nobody in /srv/app/src, which belongs to root"),
        "{}",
        apply.stdout
    );
    assert_eq!(h.sh("stat -c %U /srv/app/src"), "root\n");
}

#[test]
fn invalid_git_venv_and_pip_nodes_are_refused_before_any_host() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        "host \"a\"\n\
         git \"/srv/a\" repo=\"--upload-pack=touch /tmp/x\" version=\"a..b\" user=\"-root\"\n\
         git \"/srv/c\"\n\
         venv \"/srv/env\" python=\"python3\"\n\
         pip \"/srv/env\" index=#false index-url=\"https://x\" {\n    requirement \"flask>=2\"\n}\n\
         pip \"/srv/env2\"\n",
    );
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(1);
    for msg in [
        "`--upload-pack=touch /tmp/x` is not a repository URL",
        "`a..b` is not a branch, tag or commit",
        "`-root` is not a valid user name",
        "a git checkout needs a `repo`",
        "`python3` is not an absolute path",
        "`flask>=2` is not a pinned requirement",
        "`index-url` and `index=#false` cannot be given together",
        "`pip` needs requirements",
    ] {
        assert!(run.stderr.contains(msg), "missing {msg:?} in:\n{}", run.stderr);
    }
}
