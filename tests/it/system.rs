//! `sysctl`, `mount`, `hostname`, `timezone` and `locale` on real containers: Ansible's
//! four steps, then the host checked from outside converge (`sysctl -n`, `findmnt`,
//! `cat /etc/fstab`, `hostname`, `readlink /etc/localtime`, `locale -a`), drift made by
//! hand and converged back.

use crate::kinds::OnHost;
use crate::support::Project;

/// Every mistake of these kinds at once, each labelled at its token (no container).
#[test]
fn system_kinds_mistakes_are_refused_at_check_time() {
    let p = Project::new();
    p.file(
        "playbook.kdl",
        "host \"a\"\n\
         sysctl \"net/../../etc/passwd\" value=1\n\
         sysctl \"net.core.somaxconn\" value=4096 file=\"/etc/sysctl.d/web\"\n\
         sysctl \"vm.swappiness\"\n\
         mount \"/mnt/data\" src=\"/srv/data\" fstype=\"none\" opts=\"bind, ro\"\n\
         mount \"/mnt/nas\" fstype=\"nfs\"\n\
         mount \"/mnt/old\" state=\"absent\" src=\"/dev/sdb1\"\n\
         swap-file \"/swapfile\" size=\"2T\"\n\
         hostname \"Web_1\"\n\
         timezone \"../etc/shadow\"\n\
         locale \"en US.UTF-8\"\n\
         locale \"fr_FR.UTF-8\" state=\"absent\" default=#true\n",
    );
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(1);
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn sysctl_sets_live_values_and_persists_them() {
    let h = OnHost::new(
        "sysctl \"net.ipv4.ip_forward\" value=1\n\
         sysctl \"net.core.somaxconn\" value=4096 file=\"/etc/sysctl.d/60-web.conf\"\n\
         sysctl \"net.ipv4.ip_local_port_range\" value=\"10000 65000\" file=\"/etc/sysctl.d/60-web.conf\"\n\
         sysctl \"vm.swappiness\" value=10 live=#false\n",
    );
    h.sh("printf '# web tuning\\nnet.ipv4.tcp_syncookies = 1\\n' > /etc/sysctl.d/60-web.conf");
    let swappiness = h.sh("sysctl -n vm.swappiness");
    h.four_steps();
    assert_eq!(
        h.sh("sysctl -n net.ipv4.ip_forward net.core.somaxconn net.ipv4.ip_local_port_range"),
        "1\n4096\n10000\t65000\n"
    );
    assert_eq!(h.sh("sysctl -n vm.swappiness"), swappiness, "live=#false leaves the kernel alone");
    assert_eq!(
        h.sh("cat /etc/sysctl.d/99-converge-net.ipv4.ip_forward.conf; stat -c '%U %a' /etc/sysctl.d/99-converge-net.ipv4.ip_forward.conf"),
        "# Managed by converge: changes made here are overwritten.\nnet.ipv4.ip_forward = 1\nroot 644\n"
    );
    assert_eq!(
        h.sh("cat /etc/sysctl.d/60-web.conf"),
        "# web tuning\nnet.ipv4.tcp_syncookies = 1\nnet.core.somaxconn = 4096\nnet.ipv4.ip_local_port_range = 10000 65000\n",
        "both keys landed in the shared file, its own line kept"
    );
    assert_eq!(h.sh("cat /etc/sysctl.d/99-converge-vm.swappiness.conf | tail -1"), "vm.swappiness = 10\n");
    // systemd-sysctl reads what was written: reset the live values, then let it apply them
    h.sh("sysctl -q -w net.ipv4.ip_forward=0 net.core.somaxconn=128");
    h.sh("/lib/systemd/systemd-sysctl /etc/sysctl.d/99-converge-net.ipv4.ip_forward.conf /etc/sysctl.d/60-web.conf");
    assert_eq!(h.sh("sysctl -n net.ipv4.ip_forward net.core.somaxconn"), "1\n4096\n");

    // drift: the live value and the shared file changed by hand, put back
    h.sh("sysctl -q -w net.core.somaxconn=256; sed -i 's/^net.core.somaxconn.*/net.core.somaxconn=512/' /etc/sysctl.d/60-web.conf; echo 'net.core.somaxconn = 64' >> /etc/sysctl.d/60-web.conf");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("value: 256 → 4096"), "{}", diff.stdout);
    assert!(diff.stdout.contains("persisted in /etc/sysctl.d/60-web.conf: 64 (set 2 times) → 4096"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("sysctl -n net.core.somaxconn; grep -c somaxconn /etc/sysctl.d/60-web.conf"), "4096\n1\n");

    // absent: the key's own file goes, a shared file loses only the key's line
    h.playbook(
        "sysctl \"net.ipv4.ip_forward\" state=\"absent\"\n\
         sysctl \"net.core.somaxconn\" state=\"absent\" file=\"/etc/sysctl.d/60-web.conf\"\n",
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("ls /etc/sysctl.d/99-converge-net.ipv4.ip_forward.conf 2>/dev/null | wc -l"), "0\n");
    assert_eq!(
        h.sh("cat /etc/sysctl.d/60-web.conf"),
        "# web tuning\nnet.ipv4.tcp_syncookies = 1\nnet.ipv4.ip_local_port_range = 10000 65000\n"
    );
}

#[test]
fn sysctl_on_a_parameter_the_host_lacks_fails_and_says_why() {
    let h = OnHost::new("sysctl \"net.ipv4.no_such_parameter\" value=1\n");
    let run = h.run("apply", &[]);
    run.expect(1);
    assert!(run.stdout.contains("does not exist (is its module loaded?)"), "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn mount_binds_and_tmpfs_in_fstab_and_mounted() {
    let h = OnHost::new(
        "directory \"/srv/data\"\n\
         directory \"/srv/data/up loads\"\n\
         mount \"/mnt/data\" src=\"/srv/data\" fstype=\"none\" opts=\"bind\"\n\
         mount \"/var/www/up loads\" src=\"/srv/data/up loads\" fstype=\"none\" opts=\"bind,ro\"\n\
         mount \"/mnt/scratch\" src=\"tmpfs\" fstype=\"tmpfs\" opts=\"size=16m,mode=0755\"\n\
         mount \"/mnt/later\" src=\"tmpfs\" fstype=\"tmpfs\" state=\"present\"\n",
    );
    h.sh("echo '# hand-made entry' >> /etc/fstab; echo 'tmpfs /mnt/hand tmpfs defaults 0 0' >> /etc/fstab");
    let fstab_before = h.sh("cat /etc/fstab");
    h.four_steps();
    assert_eq!(
        h.sh("cat /etc/fstab"),
        format!(
            "{fstab_before}/srv/data /mnt/data none bind 0 0\n\
             /srv/data/up\\040loads /var/www/up\\040loads none bind,ro 0 0\n\
             tmpfs /mnt/scratch tmpfs size=16m,mode=0755 0 0\n\
             tmpfs /mnt/later tmpfs defaults 0 0\n"
        )
    );
    assert_eq!(
        h.sh("findmnt -n -o TARGET,FSTYPE,OPTIONS /mnt/scratch | tr -s ' '"),
        "/mnt/scratch tmpfs rw,relatime,size=16384k,mode=755\n"
    );
    assert_eq!(h.sh("findmnt -n -o TARGET '/var/www/up loads' >/dev/null && echo mounted"), "mounted\n");
    assert_eq!(h.sh("findmnt -n -o OPTIONS '/var/www/up loads' | cut -d, -f1"), "ro\n");
    assert_eq!(h.sh("findmnt -n /mnt/later >/dev/null || echo not mounted"), "not mounted\n", "present only");
    // the bind mount is the directory: a file written on one side is on the other
    h.sh("echo hello > /srv/data/probe.txt");
    assert_eq!(h.sh("cat /mnt/data/probe.txt"), "hello\n");

    // drift: unmounted by hand, the entry edited: both put back (the entry replaced, the
    // bind mounted again)
    h.sh("umount /mnt/data; sed -i 's|^/srv/data /mnt/data none bind 0 0$|/srv/data /mnt/data none bind,ro 0 0|' /etc/fstab");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout
            .contains("entry in /etc/fstab: /srv/data /mnt/data none bind,ro 0 0 → /srv/data /mnt/data none bind 0 0"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("mounted: (absent) → yes"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("cat /mnt/data/probe.txt; grep -c ' /mnt/data ' /etc/fstab"), "hello\n1\n");

    // a changed entry of a mounted filesystem is mounted again with it
    h.playbook(
        "mount \"/mnt/scratch\" src=\"tmpfs\" fstype=\"tmpfs\" opts=\"size=32m,mode=0755\"\n\
         mount \"/mnt/data\" state=\"unmounted\"\n\
         mount \"/var/www/up loads\" state=\"absent\"\n",
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("findmnt -n -o OPTIONS /mnt/scratch"), "rw,relatime,size=32768k,mode=755\n");
    assert_eq!(h.sh("findmnt -n /mnt/data >/dev/null || echo not mounted"), "not mounted\n");
    assert_eq!(h.sh("grep -c ' /mnt/data ' /etc/fstab"), "1\n", "unmounted keeps the entry");
    assert_eq!(h.sh("findmnt -n '/var/www/up loads' >/dev/null || echo not mounted"), "not mounted\n");
    assert_eq!(h.sh("grep -c 'up.040loads' /etc/fstab || true"), "0\n", "absent removes the entry");
    assert!(h.sh("cat /etc/fstab").contains("# hand-made entry\ntmpfs /mnt/hand tmpfs defaults 0 0\n"));
}

#[test]
fn hostname_renames_the_host_and_what_names_it_follows_in_the_same_apply() {
    let h = OnHost::new(
        "hostname \"web-1.example.org\"\n\
         file \"/etc/motd\" content=\"{{ host.facts.hostname }}\\n\"\n",
    );
    let hosts_before = h.sh("grep -v '^127.0.1.1' /etc/hosts");
    let first = h.four_steps();
    assert_eq!(h.sh("hostname; cat /etc/hostname"), "web-1.example.org\nweb-1.example.org\n");
    assert_eq!(h.sh("grep '^127.0.1.1' /etc/hosts"), "127.0.1.1\tweb-1.example.org web-1\n");
    assert_eq!(h.sh("grep -v '^127.0.1.1' /etc/hosts"), hosts_before, "the rest of /etc/hosts is kept");
    assert_eq!(h.sh("hostname -f"), "web-1.example.org\n", "the name resolves through /etc/hosts");
    // the file naming the host followed the new name in the same run
    assert_eq!(h.sh("cat /etc/motd"), "web-1\n", "{first}");

    // drift: renamed by hand, the hosts line edited: put back
    h.sh("hostname other; echo other > /etc/hostname; sed -i 's/^127.0.1.1.*/127.0.1.1 other/' /etc/hosts");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("running: other → web-1.example.org"), "{}", diff.stdout);
    assert!(diff.stdout.contains("/etc/hosts: 127.0.1.1 other → 127.0.1.1 web-1.example.org web-1"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("hostname; cat /etc/hostname /etc/motd"), "web-1.example.org\nweb-1.example.org\nweb-1\n");
}

#[test]
fn timezone_links_localtime_and_names_the_zone() {
    let h = OnHost::new("package \"tzdata\"\ntimezone \"Europe/Berlin\"\n");
    h.four_steps();
    assert_eq!(
        h.sh("readlink /etc/localtime; cat /etc/timezone"),
        "/usr/share/zoneinfo/Europe/Berlin\nEurope/Berlin\n"
    );
    // the C library reads it: a summer date in Berlin is two hours ahead of UTC
    assert_eq!(h.sh("date -d '2026-07-01 12:00 UTC' '+%H:%M %Z'"), "14:00 CEST\n");

    // drift: a copied zone file in place of the link, /etc/timezone edited: put back
    h.sh("rm /etc/localtime; cp /usr/share/zoneinfo/America/New_York /etc/localtime; echo America/New_York > /etc/timezone");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("/etc/localtime: a regular file → Europe/Berlin"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(
        h.sh("readlink /etc/localtime; cat /etc/timezone"),
        "/usr/share/zoneinfo/Europe/Berlin\nEurope/Berlin\n"
    );

    // systemd's own tool agrees, and what it writes counts as in sync
    h.playbook("timezone \"UTC\"\n");
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("timedatectl show -p Timezone --value"), "UTC\n");
    h.sh("timedatectl set-timezone Europe/Berlin; echo Europe/Berlin > /etc/timezone");
    h.playbook("timezone \"Europe/Berlin\"\n");
    h.run("diff", &[]).expect(0);
}

#[test]
fn locale_is_generated_made_default_and_removed() {
    let h = OnHost::new(
        "package \"locales\"\n\
         locale \"en_US.UTF-8\" default=#true\n\
         locale \"de_DE.UTF-8\"\n",
    );
    h.four_steps();
    assert_eq!(h.sh("locale -a | grep -E '^(en_US|de_DE)' | sort"), "de_DE.utf8\nen_US.utf8\n");
    assert_eq!(h.sh("grep -E '^(en_US|de_DE)' /etc/locale.gen | sort"), "de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n");
    assert_eq!(h.sh("grep '^LANG=' /etc/default/locale"), "LANG=en_US.UTF-8\n");
    // the generated locale works: German month names
    assert_eq!(h.sh("LC_ALL=de_DE.UTF-8 date -d 2026-03-01 +%B"), "März\n");

    // drift: the line commented out by hand and the archive rebuilt without it
    h.sh("sed -i 's/^de_DE.UTF-8/# de_DE.UTF-8/' /etc/locale.gen; locale-gen >/dev/null");
    assert_eq!(h.sh("locale -a | grep -c de_DE || true"), "0\n");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("generated: no → yes"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("locale -a | grep -c de_DE"), "1\n");

    // absent: commented out, no longer generated; the default stays
    h.playbook("locale \"de_DE.UTF-8\" state=\"absent\"\nlocale \"en_US.UTF-8\" default=#true\n");
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("locale -a | grep -E '^(en_US|de_DE)'"), "en_US.utf8\n");
    assert_eq!(h.sh("grep 'de_DE.UTF-8 UTF-8' /etc/locale.gen"), "# de_DE.UTF-8 UTF-8\n");
}

/// Mount points and bind sources named with every payload of the hostile catalogue: each
/// reaches fstab escaped as fstab escapes (read back by mount itself, which mounts each
/// one), each mount is the very directory it binds (a file written in the source is read
/// through the mount point); a sysctl persisted in a file named with the catalogue; a
/// second apply changes nothing, and nothing ran.
#[test]
fn mount_and_sysctl_take_hostile_paths_literally() {
    use crate::hostile::{PAYLOADS, kdl_str, untemplated};
    let names: Vec<String> =
        PAYLOADS.iter().enumerate().map(|(i, p)| format!("{i}-{}", untemplated(p).replace('/', "_"))).collect();
    let mut pb = String::new();
    for n in &names {
        let (src, at) = (format!("/srv/h/{n}"), format!("/mnt/h/{n}"));
        pb.push_str(&format!("directory {}\n", kdl_str(&src)));
        pb.push_str(&format!("mount {} src={} fstype=\"none\" opts=\"bind\"\n", kdl_str(&at), kdl_str(&src)));
    }
    pb.push_str("directory \"/srv/h\"\n");
    // a sysctl persisted in a file named with the whole catalogue (a name holds no `/`)
    let joined: String = names.iter().map(|n| n.replace('\n', "_")).collect::<String>().chars().take(200).collect();
    let conf = format!("/etc/sysctl.d/{joined}.conf");
    pb.push_str(&format!("sysctl \"net.core.somaxconn\" value=1024 file={}\n", kdl_str(&conf)));
    let h = OnHost::new(&pb);
    h.run("apply", &[]).expect(0);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0, "{}", again.stdout);
    for (i, n) in names.iter().enumerate() {
        let (src, at) =
            (converge::script::quote(&format!("/srv/h/{n}/f")), converge::script::quote(&format!("/mnt/h/{n}/f")));
        assert_eq!(h.sh(&format!("echo {i} > {src}; cat {at}")), format!("{i}\n"), "{n:?}");
    }
    assert_eq!(h.sh("grep -c ' none bind 0 0$' /etc/fstab"), format!("{}\n", names.len()));
    assert_eq!(h.sh("awk '$5 ~ \"^/mnt/h/\"' /proc/self/mountinfo | wc -l"), format!("{}\n", names.len()));
    assert_eq!(
        h.sh(&format!("tail -n 1 {}; sysctl -n net.core.somaxconn", converge::script::quote(&conf))),
        "net.core.somaxconn = 1024\n1024\n"
    );
    assert_eq!(h.sh("find / -xdev -name cv-canary | wc -l"), "0\n", "a payload ran as a command");
}
