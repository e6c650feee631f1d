//! The container testbed itself, against real systemd-nspawn containers: boot, offline apt,
//! parallel slots, NAT rule bookkeeping, and teardown on stop and on panic.

use std::path::Path;
use std::time::Instant;

use converge::sandbox::{Container, ContainerOptions, reap_stale, testbed_rootfs, write_ssh_config};

fn boot(hostname: &str) -> Container {
    boot_with(ContainerOptions::new(hostname))
}

fn boot_with(opts: ContainerOptions) -> Container {
    match Container::boot(testbed_rootfs(), opts) {
        Ok(container) => container,
        Err(e) => panic!("booting a container failed: {e}"),
    }
}

fn is_mounted(path: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let wanted = path.to_string_lossy();
    table.lines().any(|line| line.split(' ').nth(4) == Some(&*wanted))
}

fn interface_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Everything a stopped container held must be gone.
struct Leftovers {
    slot: u32,
    name: String,
    veth: String,
    root: std::path::PathBuf,
    state_dir: std::path::PathBuf,
    pid: Option<u32>,
}

impl Leftovers {
    fn of(c: &Container) -> Self {
        Leftovers {
            slot: c.slot(),
            name: c.name().to_string(),
            veth: c.veth().to_string(),
            root: c.root_dir().to_path_buf(),
            state_dir: c.state_dir().to_path_buf(),
            pid: c.nspawn_pid(),
        }
    }

    /// Checks while holding the slot's lock, so a container that another test (or test
    /// process) booted in the same slot meanwhile is not mistaken for a leftover.
    fn assert_gone(&self) {
        self.assert_nspawn_gone();
        let lock_path = format!("{}/slot-{}.lock", converge::sandbox::RUN_DIR, self.slot);
        let lock = std::fs::File::open(&lock_path).expect("slot lock file");
        for _ in 0..100 {
            if lock.try_lock().is_ok() {
                self.assert_slot_empty();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The slot stayed busy: someone else's container lives there now; ours is gone.
        eprintln!("{} was reused at once; checked only that its nspawn is gone", self.name);
    }

    fn assert_nspawn_gone(&self) {
        if let Some(pid) = self.pid {
            let alive =
                std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|stat| !stat.contains(") Z")).unwrap_or(false);
            assert!(!alive, "systemd-nspawn pid {pid} is still running");
        }
    }

    fn assert_slot_empty(&self) {
        assert!(!interface_exists(&self.veth), "{} still exists", self.veth);
        assert!(!is_mounted(&self.root), "{} is still mounted", self.root.display());
        assert!(!self.root.exists(), "{} still exists", self.root.display());
        assert!(!self.state_dir.exists(), "{} still exists", self.state_dir.display());
        let nat_rule = format!("--comment converge-testbed-{} ", self.name);
        assert!(!nat_rules().contains(&nat_rule), "NAT rule of {} survived", self.name);
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").expect("cgroup mounts").flatten() {
            let group = hierarchy.path().join("converge-testbed").join(&self.name);
            assert!(!group.exists(), "cgroup {} still exists", group.display());
        }
    }
}

#[test]
fn one_container_boots_installs_offline_and_stops_cleanly() {
    let started = Instant::now();
    let web = boot("web1");
    eprintln!("boot to ready: {:?} ({} at {})", web.boot_time(), web.name(), web.address());

    let state = web.sh_ok("systemctl is-system-running").trim().to_string();
    assert!(state == "running" || state == "degraded", "state {state}");
    assert_eq!(web.sh_ok("hostname").trim(), "web1");
    assert_eq!(web.sh_ok("cat /etc/hostname").trim(), "web1");
    assert!(web.sh_ok("getent hosts web1").starts_with("127.0.1.1"));

    // No NAT: the pre-downloaded packages install without any network.
    let no_route = web.sh("ip route get 192.0.2.1");
    assert!(!no_route.status.success(), "container without NAT has a route out");
    web.sh_ok("DEBIAN_FRONTEND=noninteractive apt-get install -y tree");
    assert!(web.sh_ok("tree /etc/ssh").contains("sshd_config"));

    // The container sits in its own cgroup, not in the launching process's.
    let pid = web.nspawn_pid().expect("nspawn pid");
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    assert!(cgroups.contains(&format!("/converge-testbed/{}", web.name())), "{cgroups}");

    let leftovers = Leftovers::of(&web);
    let stopping = Instant::now();
    web.stop().expect("stop");
    eprintln!("stop: {:?}; whole test {:?}", stopping.elapsed(), started.elapsed());
    leftovers.assert_gone();
}

#[test]
fn two_containers_at_once_get_their_own_addresses() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| boot("alpha"));
        let b = s.spawn(|| boot_with(ContainerOptions { hostname: "beta.example.test".to_string(), nat: true }));
        (a.join().expect("alpha"), b.join().expect("beta"))
    });
    assert_ne!(a.address(), b.address());
    assert_ne!(a.name(), b.name());
    assert_eq!(a.sh_ok("hostname").trim(), "alpha");
    assert_eq!(b.sh_ok("hostname").trim(), "beta.example.test");

    // Through the generated ssh_config, as converge will reach them.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_ssh_config(dir.path(), &[("alpha", &a), ("beta", &b)]);
    for (alias, expected) in [("alpha", "alpha"), ("beta", "beta.example.test")] {
        let out = std::process::Command::new("ssh")
            .args(["-F"])
            .arg(&config)
            .args([alias, "hostname"])
            .output()
            .expect("ssh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    }

    // NAT: beta's rule exists exactly while beta runs, and it got the host's resolver.
    let comment = format!("--comment converge-testbed-{} ", b.name());
    assert!(nat_rules().contains(&comment), "no NAT rule for {}", b.name());
    assert!(!nat_rules().contains(&format!("--comment converge-testbed-{} ", a.name())));
    b.sh_ok("test -s /etc/resolv.conf");
    assert!(b.sh_ok("ip route").contains(&format!("default via 10.231.{}.1", b.slot())));
    a.sh_ok("test ! -e /etc/resolv.conf");

    let (la, lb) = (Leftovers::of(&a), Leftovers::of(&b));
    std::thread::scope(|s| {
        s.spawn(|| a.stop().expect("stop alpha"));
        s.spawn(|| b.stop().expect("stop beta"));
    });
    la.assert_gone();
    lb.assert_gone();
}

fn nat_rules() -> String {
    let out = std::process::Command::new("iptables")
        .args(["-w", "5", "-t", "nat", "-S", "POSTROUTING"])
        .output()
        .expect("iptables");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_panicking_test_still_tears_its_container_down() {
    let leftovers = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let c = boot("doomed");
        *leftovers.lock().unwrap() = Some(Leftovers::of(&c));
        c.sh_ok("exit 3");
    });
    assert!(result.is_err(), "sh_ok should have panicked");
    let leftovers = leftovers.lock().unwrap().take().expect("container booted");
    leftovers.assert_gone();
}

/// Set in the environment of the helper process that boots a container and is then killed.
const ABANDON_ENV: &str = "CONVERGE_TESTBED_ABANDON_HELPER";

/// The helper of `a_container_left_by_a_killed_run_is_cleaned_up`: only when started by it
/// (with ABANDON_ENV set) does it boot a container, announce it, and wait to be SIGKILLed.
/// In a normal run it has nothing to do.
#[test]
fn killed_run_helper() {
    if std::env::var_os(ABANDON_ENV).is_none() {
        return;
    }
    let c = boot("abandoned");
    println!("ABANDONED {} {}", c.slot(), c.nspawn_pid().expect("pid"));
    use std::io::Write as _;
    std::io::stdout().flush().expect("flush");
    // The parent kills this process long before; should it not, Drop cleans up.
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn a_container_left_by_a_killed_run_is_cleaned_up() {
    use std::io::BufRead as _;
    testbed_rootfs();
    // /proc/self/exe still runs this binary when a concurrent build has replaced the file.
    let exe = Path::new("/proc/self/exe");
    let mut helper = std::process::Command::new(exe)
        .args(["--exact", "testbed::killed_run_helper", "--nocapture", "--test-threads=1"])
        .env(ABANDON_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the helper process: {e}"));
    let stdout = helper.stdout.take().expect("helper stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints "test NAME ... " on the same line first.
            if let Some((_, rest)) = line.split_once("ABANDONED ") {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    let announced = rx.recv_timeout(std::time::Duration::from_secs(120));
    helper.kill().expect("kill helper");
    helper.wait().expect("reap helper");
    let announced = announced.expect("the helper never announced its container");
    let mut words = announced.split(' ').map(|w| w.parse::<u32>().expect("number"));
    let (slot, pid) = (words.next().expect("slot"), words.next().expect("pid"));

    // Its nspawn outlived the killed process (it runs in its own session).
    assert!(nspawn_alive(pid), "the abandoned nspawn {pid} is already gone");

    let started = Instant::now();
    let report = reap_stale();
    eprintln!("reap_stale after {:?}: {report:?}", started.elapsed());
    assert!(!nspawn_alive(pid), "the abandoned nspawn {pid} still runs");
    // Another test may have taken the slot in the meantime (and cleaned it up itself);
    // either way nothing of the abandoned container may remain.
    let name = format!("cvg{slot}");
    let record = Path::new("/run/converge-testbed").join(&name).join("record.json");
    if let Ok(text) = std::fs::read_to_string(&record) {
        assert!(!text.contains(&format!("\"nspawn_pid\": {pid}")), "record of {name} survived");
    } else {
        assert!(!interface_exists(&format!("ve-{name}")), "ve-{name} survived");
        let root = Path::new("/var/tmp/converge-testbed").join(&name).join("root");
        assert!(!is_mounted(&root), "{} is still mounted", root.display());
    }
}

fn nspawn_alive(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline).contains("systemd-nspawn") && !stat.contains(") Z")
}

#[test]
fn a_reboot_keeps_the_disk_and_starts_with_a_fresh_run() {
    let mut c = boot("reboots");
    let (slot, address) = (c.slot(), c.address());
    let first_pid = c.nspawn_pid();
    c.sh_ok("echo kept > /root/written-before-reboot; echo gone > /run/written-before-reboot");
    let boot_id = c.sh_ok(
        "cat /proc/sys/kernel/random/boot_id; systemctl show -p ActiveEnterTimestampMonotonic --value init.scope",
    );
    let started = Instant::now();
    c.reboot().unwrap_or_else(|e| panic!("reboot failed: {e}"));
    eprintln!("reboot to ready: {:?}", started.elapsed());
    assert_eq!((c.slot(), c.address()), (slot, address), "same slot and address");
    assert_ne!(c.nspawn_pid(), first_pid, "a new systemd-nspawn");
    assert_eq!(c.sh_ok("cat /root/written-before-reboot"), "kept\n");
    assert_eq!(c.sh_ok("ls /run/written-before-reboot 2>/dev/null | wc -l"), "0\n", "/run is fresh");
    assert_ne!(
        c.sh_ok(
            "cat /proc/sys/kernel/random/boot_id; systemctl show -p ActiveEnterTimestampMonotonic --value init.scope"
        ),
        boot_id,
        "systemd started again"
    );
    let state = c.sh_ok("systemctl is-system-running").trim().to_string();
    assert!(state == "running" || state == "degraded", "state {state}");
    assert!(c.console_log().contains("rebooting"), "the console log keeps both boots");
    let leftovers = Leftovers::of(&c);
    c.stop().expect("stop");
    leftovers.assert_gone();
}
