//! Load: 8 containers with 200 resources each, applied at once. Every host converges in
//! its exchange budget, every file is there with its content (checked on each host, not
//! through converge), and the second run changes nothing in one exchange per host.

use converge::sandbox::Container;

use crate::kinds::boot;
use crate::support::Project;

const HOSTS: usize = 8;

/// 200 resources: a group and a user, 11 directories, 150 files, 19 symlinks, 10 lines
/// in one file, 8 cron files.
fn playbook() -> String {
    let mut pb = String::from(
        "group \"load\" system=#true\nuser \"load\" group=\"load\" system=#true home=\"/srv/load\" create-home=#false\n",
    );
    pb.push_str("directory \"/srv/load\" owner=\"load\" group=\"load\" mode=\"0755\"\n");
    for d in 0..10 {
        pb.push_str(&format!("directory \"/srv/load/d{d}\" owner=\"load\" group=\"load\" mode=\"0750\"\n"));
    }
    for f in 0..150 {
        pb.push_str(&format!(
            "file \"/srv/load/d{}/f{f}\" content=\"{{{{ host.name }}}} file {f}\\n\" owner=\"load\" mode=\"0640\"\n",
            f % 10
        ));
    }
    for l in 0..19 {
        pb.push_str(&format!("symlink \"/srv/load/l{l}\" target=\"/srv/load/d{}/f{l}\"\n", l % 10));
    }
    for n in 0..10 {
        pb.push_str(&format!(
            "line \"k{n}\" path=\"/etc/load-lines\" line=\"k{n}=v{n}\" match=\"^k{n}=\" create=#true\n"
        ));
    }
    for c in 0..8 {
        pb.push_str(&format!("cron \"load-{c}\" schedule=\"{c} 4 * * *\" command=\"true {c}\"\n"));
    }
    pb
}

#[test]
fn eight_hosts_with_two_hundred_resources_each_converge_at_once() {
    let hosts: Vec<Container> = std::thread::scope(|s| {
        let booting: Vec<_> = (0..HOSTS).map(|i| s.spawn(move || boot(&format!("load{i}")))).collect();
        booting.into_iter().map(|b| b.join().expect("boot thread")).collect()
    });
    let p = Project::new();
    p.file("playbook.kdl", &playbook());
    let names: Vec<String> = (0..HOSTS).map(|i| format!("load{i}")).collect();
    let pairs: Vec<(&str, &Container)> = names.iter().map(String::as_str).zip(hosts.iter()).collect();
    let args = p.target(&pairs);
    let check = p.converge(&["check", "playbook.kdl", "--inventory", "inventory.kdl"]);
    check.expect(0);
    assert!(check.stdout.contains("1600 resources in all"), "{}", check.stdout);
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = vec!["apply", "playbook.kdl", "--format", "json", "--forks", "8"];
        a.extend(args.iter().map(String::as_str));
        a.extend(extra);
        p.converge(&a)
    };
    let first = run(&[]);
    first.expect(0);
    let report = first.json();
    assert_eq!(report["summary"]["changed"], (200 * HOSTS) as u64, "{}", first.stdout);
    for h in report["hosts"].as_array().expect("hosts") {
        assert_eq!(h["status"], "converged", "{h}");
        assert!(h["exchanges"].as_u64().unwrap_or(99) <= 3, "exchange budget: {h}");
    }
    // nothing lost: every host holds every file with its own content
    for (name, c) in names.iter().zip(&hosts) {
        let sums = c.sh_ok("cd /srv/load && find . -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -d' ' -f1");
        let mut files: Vec<(String, String)> =
            (0..150).map(|f| (format!("./d{}/f{f}", f % 10), format!("{name} file {f}\n"))).collect();
        files.sort();
        let want: String = files.iter().map(|(_, content)| content.as_str()).collect();
        assert_eq!(sums.trim(), sha256_hex(want.as_bytes()), "{name}: file contents");
        assert_eq!(
            c.sh_ok("find /srv/load -type f | wc -l; find /srv/load -type l | wc -l; find /srv/load -type d | wc -l"),
            "150\n19\n11\n",
            "{name}"
        );
        assert_eq!(c.sh_ok("stat -c '%U %a' /srv/load/d3/f13"), "load 640\n");
        assert_eq!(c.sh_ok("wc -l < /etc/load-lines; ls /etc/cron.d | grep -c '^load-'"), "10\n8\n");
    }
    let second = run(&[]);
    second.expect(0);
    let report = second.json();
    assert_eq!(report["summary"]["changed"], 0, "{}", second.stdout);
    for h in report["hosts"].as_array().expect("hosts") {
        assert_eq!(h["exchanges"], 1, "{h}");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
