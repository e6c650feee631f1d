//! Every kind on a real systemd container, with Ansible's four steps: `diff` shows
//! changes (exit 2), `apply` makes them, `diff` shows none (exit 0), `apply` changes
//! nothing. After applying, the host is checked directly (stat, getent, dpkg-query,
//! systemctl, sha256sum), not through converge.

use converge::sandbox::{Container, ContainerOptions, testbed_rootfs};

use crate::support::{Project, Run};

pub fn boot(hostname: &str) -> Container {
    Container::boot(testbed_rootfs(), ContainerOptions::new(hostname))
        .unwrap_or_else(|e| panic!("testbed cannot start: {e}"))
}

/// A project whose playbook targets one fresh container, named `t`.
pub struct OnHost {
    pub project: Project,
    pub container: Container,
    args: Vec<String>,
}

impl OnHost {
    pub fn new(playbook: &str) -> OnHost {
        let container = boot("t");
        let project = Project::new();
        project.file("playbook.kdl", playbook);
        let args = project.target(&[("t", &container)]);
        OnHost { project, container, args }
    }

    /// The arguments that point a run at the container (inventory, ssh config).
    pub fn project_args(&self) -> Vec<String> {
        self.args.clone()
    }

    pub fn run(&self, cmd: &str, extra: &[&str]) -> Run {
        let mut args: Vec<&str> = vec![cmd, "playbook.kdl"];
        args.extend(self.args.iter().map(String::as_str));
        args.extend(extra);
        self.project.converge(&args)
    }

    /// Replaces the playbook (for a second convergence with other wishes).
    pub fn playbook(&self, text: &str) {
        self.project.file("playbook.kdl", text);
    }

    /// The four steps; returns the first apply's report for further checks.
    pub fn four_steps(&self) -> serde_json::Value {
        self.run("diff", &[]).expect(2);
        let applied = self.run("apply", &["--format", "json"]);
        applied.expect(0);
        let report = applied.json();
        assert!(report["summary"]["changed"].as_u64().unwrap_or(0) > 0, "{}", applied.stdout);
        let diff = self.run("diff", &[]);
        diff.expect(0);
        assert!(diff.stdout.contains("nothing to change"), "{}", diff.stdout);
        let again = self.run("apply", &["--format", "json"]);
        again.expect(0);
        let again = again.json();
        assert_eq!(again["summary"]["changed"], 0, "second apply changed something: {again}");
        assert_eq!(again["hosts"][0]["exchanges"], 1, "a no-op apply is one exchange");
        report
    }

    pub fn sh(&self, script: &str) -> String {
        self.container.sh_ok(script)
    }

    /// Converges a login for `user` (the testbed's key, this shell, optionally a sudoers
    /// line), then points the inventory at it: the next runs log in as `user`,
    /// through sudo when `become`.
    pub fn log_in_as(&self, user: &str, shell: &str, sudoers: Option<&str>, become_: bool) {
        let pubkey = std::fs::read_to_string(self.container.key().with_extension("pub")).expect("testbed public key");
        let mut pb = format!(
            "user \"{user}\" shell=\"{shell}\"\n\
             directory \"/home/{user}/.ssh\" owner=\"{user}\" mode=\"0700\"\n\
             file \"/home/{user}/.ssh/authorized_keys\" owner=\"{user}\" mode=\"0600\" content=\"{}\\n\"\n",
            pubkey.trim()
        );
        if let Some(rule) = sudoers {
            pb.push_str(&format!("file \"/etc/sudoers.d/{user}\" content=\"{user} {rule}\\n\" mode=\"0440\"\n"));
        }
        self.playbook(&pb);
        self.run("apply", &[]).expect(0);
        let inv = std::fs::read_to_string(self.project.path().join("inventory.kdl")).expect("inventory");
        let login = if become_ { format!("user=\"{user}\" become=#true") } else { format!("user=\"{user}\"") };
        self.project.file("inventory.kdl", &inv.replace("user=\"root\"", &login));
    }
}

#[test]
fn package_installs_pins_and_removes() {
    let h = OnHost::new("package \"tree\" \"jq\"\n");
    h.four_steps();
    let installed = h.sh("dpkg-query -W -f='${Package} ${db:Status-Status}\\n' tree jq");
    assert_eq!(installed, "jq installed\ntree installed\n");
    let version = h.sh("dpkg-query -W -f='${Version}' tree");
    h.playbook(&format!("package \"tree\" version=\"{version}\"\npackage \"jq\" state=\"absent\"\n"));
    h.run("diff", &[]).expect(2);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("dpkg-query -W -f='${db:Status-Status}' jq 2>/dev/null | grep -qx installed && echo installed || echo absent"), "absent\n");
}

#[test]
fn users_and_groups() {
    let h = OnHost::new(
        "group \"deploy\" gid=2001\n\
         user \"app\" system=#true home=\"/srv/app\" shell=\"/usr/sbin/nologin\" comment=\"The app\" {\n    groups \"deploy\" \"adm\"\n}\n\
         user \"ops\" uid=2100 group=\"deploy\"\n",
    );
    h.four_steps();
    assert_eq!(h.sh("getent group deploy | cut -d: -f1,3"), "deploy:2001\n");
    let passwd = h.sh("getent passwd app");
    assert!(passwd.ends_with(":The app:/srv/app:/usr/sbin/nologin\n"), "{passwd}");
    let uid: u32 = passwd.split(':').nth(2).and_then(|u| u.parse().ok()).expect("uid");
    assert!(uid < 1000, "a system user: {passwd}");
    assert_eq!(h.sh("id -Gn app | tr ' ' '\\n' | sort | tr '\\n' ' '"), "adm app deploy ");
    assert_eq!(h.sh("id -u ops; id -gn ops"), "2100\ndeploy\n");
    assert_eq!(h.sh("stat -c '%U %F' /srv/app"), "app directory\n");
    // exact groups: dropping one removes it
    h.playbook("user \"app\" {\n    groups \"adm\"\n}\n");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("id -Gn app"), "app adm\n");
}

#[test]
fn directories_files_and_symlinks() {
    let h = OnHost::new(
        "vars { app \"demo\" }\n\
         user \"demo\" system=#true\n\
         directory \"/srv/{{ app }}/releases/1\" owner=\"demo\" mode=\"0750\"\n\
         file \"/srv/{{ app }}/releases/1/app.conf\" template=\"templates/app.conf.j2\" owner=\"demo\" mode=0o640\n\
         file \"/srv/{{ app }}/releases/1/blob\" source=\"files/blob\"\n\
         file \"/etc/motd\" content=\"managed by converge\\n\" backup=#true\n\
         symlink \"/srv/{{ app }}/current\" target=\"/srv/{{ app }}/releases/1\"\n",
    );
    h.project.file("templates/app.conf.j2", "[app]\nname = {{ app }}\nhost = {{ host.name }}\n");
    h.project.file("files/blob", "\u{1}\u{2}binary\u{0}\n");
    let before_motd = h.sh("sha256sum < /etc/motd");
    h.four_steps();
    assert_eq!(h.sh("stat -c '%U %G %a' /srv/demo/releases/1"), "demo root 750\n");
    assert_eq!(h.sh("stat -c '%U %a' /srv/demo/releases/1/app.conf"), "demo 640\n");
    assert_eq!(h.sh("cat /srv/demo/releases/1/app.conf"), "[app]\nname = demo\nhost = t\n");
    assert_eq!(h.sh("od -An -c /srv/demo/releases/1/blob | tr -s ' '"), " 001 002 b i n a r y \\0 \\n\n");
    assert_eq!(h.sh("stat -c %a /srv/demo/releases/1/blob"), "644\n");
    assert_eq!(h.sh("readlink /srv/demo/current"), "/srv/demo/releases/1\n");
    assert_eq!(h.sh("cat /etc/motd"), "managed by converge\n");
    // the replaced motd was kept, byte for byte, outside /etc
    assert_eq!(h.sh("cat /var/lib/converge/backup/etc/motd.* | sha256sum"), before_motd);
    // no temp files left behind
    assert_eq!(h.sh("find /srv/demo /etc -maxdepth 3 -name '.converge.*' | wc -l"), "0\n");
}

#[test]
fn drift_is_shown_as_a_unified_diff_and_put_back() {
    let h = OnHost::new("file \"/etc/app.conf\" content=\"a = 1\\nb = 2\\nc = 3\\n\" mode=\"0644\"\n");
    h.four_steps();
    h.sh("sed -i 's/b = 2/b = 20/' /etc/app.conf; chmod 600 /etc/app.conf");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    insta::assert_snapshot!(diff.stdout.replace(&h.container.address().to_string(), "ADDR"), @r"
    t (ADDR)
      ~ file /etc/app.conf
          content: sha256:7380666e3afc → sha256:9e85b40cfd7b
            --- /etc/app.conf (on host)
            +++ /etc/app.conf (wanted)
            @@ -1,3 +1,3 @@
             a = 1
            -b = 20
            +b = 2
             c = 3
          mode: 0600 → 0644
      0 to create, 1 to change, 0 to remove, 0 to refresh, 0 in sync

    Plan 1 host: 0 to create, 1 to change, 0 to remove, 0 to refresh, 0 in sync
    ");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("cat /etc/app.conf; stat -c %a /etc/app.conf"), "a = 1\nb = 2\nc = 3\n644\n");
}

#[test]
fn units_and_services_with_restart_on_notify() {
    let unit = |desc: &str| {
        format!(
            "unit \"demo\" notify=\"service:demo\" content=\"[Unit]\\nDescription={desc}\\n[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n\"\n\
             service \"demo\" enabled=#true state=\"running\"\n"
        )
    };
    let h = OnHost::new(&unit("demo one"));
    h.four_steps();
    assert_eq!(h.sh("systemctl is-enabled demo; systemctl is-active demo"), "enabled\nactive\n");
    assert_eq!(h.sh("stat -c '%U %a' /etc/systemd/system/demo.service"), "root 644\n");
    let pid = h.sh("systemctl show -p MainPID --value demo");
    h.playbook(&unit("demo two"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("restart (notified by unit:demo.service)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("systemctl show -p Description --value demo"), "demo two\n");
    assert_ne!(h.sh("systemctl show -p MainPID --value demo"), pid, "restarted");
    assert_eq!(h.sh("ls /var/lib/converge/owed | wc -l"), "0\n", "no restart left owed");
    // stop and disable
    h.playbook("service \"demo\" enabled=#false state=\"stopped\"\n");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("systemctl is-enabled demo || true; systemctl is-active demo || true"), "disabled\ninactive\n");
}

/// `file validate=`: the new content is checked in its temp file before the rename
/// (`visudo -cf %s`, sudo's own check); refused content leaves the old file and fails
/// the step with the command's message. A unit systemd-analyze refuses (a command that
/// is not there) leaves the old unit and never reaches daemon-reload.
#[test]
fn refused_content_leaves_the_old_file_and_unit() {
    let sudoers = |rule: &str| {
        format!(
            "file \"/etc/sudoers.d/deploy\" content=\"{rule}\\n\" mode=\"0440\" validate=\"visudo -cf %s\"\n\
             unit \"demo\" content=\"[Service]\\nExecStart=/bin/sleep infinity\\n\"\n"
        )
    };
    let h = OnHost::new(&sudoers("deploy ALL=(ALL) NOPASSWD: /usr/bin/systemctl"));
    h.four_steps();
    assert_eq!(
        h.sh("stat -c '%a' /etc/sudoers.d/deploy; cat /etc/sudoers.d/deploy"),
        "440\ndeploy ALL=(ALL) NOPASSWD: /usr/bin/systemctl\n"
    );
    // a rule sudo cannot parse: the step fails with visudo's message, the old rule stays
    h.playbook(&sudoers("deploy ALL=(ALL NOPASSWD /usr/bin/systemctl"));
    let refused = h.run("apply", &["--format", "json"]);
    refused.expect(1);
    let report = refused.json();
    let error = report["hosts"][0]["resources"][0]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("syntax error") && error.contains("validate refused the new content"), "{report}");
    assert_eq!(
        h.sh("cat /etc/sudoers.d/deploy; ls -a /etc/sudoers.d | grep -c converge || true"),
        "deploy ALL=(ALL) NOPASSWD: /usr/bin/systemctl\n0\n"
    );
    // a unit whose command is not there: refused by systemd-analyze, the old unit stays
    h.playbook("unit \"demo\" content=\"[Service]\\nExecStart=/usr/local/bin/not-installed --serve\\n\"\n");
    let refused = h.run("apply", &["--format", "json"]);
    refused.expect(1);
    let report = refused.json();
    let error = report["hosts"][0]["resources"][0]["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("/usr/local/bin/not-installed is not executable")
            && error.contains("systemd-analyze verify refused the new unit"),
        "{report}"
    );
    assert_eq!(h.sh("cat /etc/systemd/system/demo.service"), "[Service]\nExecStart=/bin/sleep infinity\n");
}
