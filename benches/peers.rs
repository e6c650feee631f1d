//! converge side by side with Ansible (stock and tuned), pyinfra and a hand-written POSIX sh
//! floor, on the same scenario (benches/peers/README.md), on fresh local containers, in one
//! run; the tables go into BENCHMARKS.md between its `peers` markers.
//!
//!     cargo bench --bench peers                      # N = 1, 4, 8; median of 3
//!     cargo bench --bench peers -- --hosts 8 --runs 1 --tools converge,floor
//!
//! For each tool and N: a cold apply on N fresh containers (RUNS times, a fresh set each
//! time), then on the first set RUNS no-op re-applies and RUNS dry runs; for converge also
//! RUNS no-op re-applies with its fact cache cold (below). Measured per run:
//! wall time of the whole tool; peak RSS of the controller's process tree (sampled every
//! 10 ms, the sum over the tool and every descendant still attached to it); SSH
//! connections and sessions per host, counted from sshd's own log at LogLevel VERBOSE
//! (`Accepted publickey` and `Starting session:` lines); CPU time spent in each host's
//! cgroup. A no-op or dry run that reports a change makes the row invalid (marked so).
//!
//! The scenario reads a host fact (the packages only on a Debian-family host), so converge
//! keeps facts per host on the controller. Its runs get `CONVERGE_FACT_CACHE` in the fleet's
//! own directory, never the user's cache: the cold apply, a first contact, starts it empty
//! and fills it; the no-op and dry runs after it find it warm (the probe re-reads the facts
//! used: 1 ssh session per host); the "facts cold" no-op gets an empty directory of its
//! own each run (a facts exchange, then the probe: 2 sessions). A converge no-op with more
//! sessions than that on some host, or a dry run with more than 1, makes the row invalid.
//! The other tools keep no facts between runs: they gather them (Ansible, pyinfra) or read
//! /etc/os-release (the floor) in every run, and have no cold row.
//!
//! The Python tools are installed into target/peers-venv from benches/peers/requirements.txt.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use converge::sandbox::{Container, ContainerOptions, testbed_rootfs, write_ssh_config};

#[path = "common/measure.rs"]
mod measure;
#[path = "common/report.rs"]
mod report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tool {
    Converge,
    ConvergeFresh,
    AnsibleStock,
    AnsibleTuned,
    Pyinfra,
    Floor,
}

impl Tool {
    const ALL: [Tool; 6] =
        [Tool::Converge, Tool::ConvergeFresh, Tool::AnsibleStock, Tool::AnsibleTuned, Tool::Pyinfra, Tool::Floor];

    fn name(self) -> &'static str {
        match self {
            Tool::Converge => "converge",
            Tool::ConvergeFresh => "converge-cp0",
            Tool::AnsibleStock => "ansible-stock",
            Tool::AnsibleTuned => "ansible-tuned",
            Tool::Pyinfra => "pyinfra",
            Tool::Floor => "floor",
        }
    }

    /// Whether the tool keeps host facts between runs (converge's fact cache), so that a
    /// no-op with the cache cold is a phase of its own.
    fn keeps_facts(self) -> bool {
        matches!(self, Tool::Converge | Tool::ConvergeFresh)
    }

    fn parse(s: &str) -> Tool {
        *Tool::ALL.iter().find(|t| t.name() == s).unwrap_or_else(|| panic!("unknown tool {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Cold,
    /// A no-op re-apply; converge's fact cache is warm (filled by the runs before).
    Noop,
    /// A no-op re-apply with converge's fact cache empty (converge only).
    NoopCold,
    Dry,
}

impl Phase {
    const ALL: [Phase; 4] = [Phase::Cold, Phase::Noop, Phase::NoopCold, Phase::Dry];

    fn name(self) -> &'static str {
        match self {
            Phase::Cold => "cold apply",
            Phase::Noop => "no-op apply",
            Phase::NoopCold => "no-op apply, facts cold",
            Phase::Dry => "dry run",
        }
    }

    /// The phase as the table shows it for `tool`: converge's warm no-op says so, beside
    /// its cold one.
    fn label(self, tool: Tool) -> &'static str {
        if self == Phase::Noop && tool.keeps_facts() { "no-op apply, facts warm" } else { self.name() }
    }

    /// The most ssh sessions per host a converge run of this phase may take: one exchange
    /// (the probe) when the facts are cached, two (facts, then the probe) when not. None
    /// for a phase with no such bound (a cold apply also applies and verifies).
    fn converge_sessions_bound(self) -> Option<u64> {
        match self {
            Phase::Noop | Phase::Dry => Some(1),
            Phase::NoopCold => Some(2),
            Phase::Cold => None,
        }
    }
}

/// One timed run of one tool on a fleet.
#[derive(Debug, Clone)]
struct Run {
    wall: Duration,
    rss_kb: u64,
    pss_kb: u64,
    connections: Vec<u64>,
    sessions: Vec<u64>,
    host_cpu: Duration,
    changes: u64,
}

struct Paths {
    repo: PathBuf,
    peers: PathBuf,
    venv: PathBuf,
    converge: PathBuf,
}

/// N booted containers and the inventories every tool reads.
struct Fleet {
    hosts: Vec<Container>,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn boot(n: usize, tag: &str) -> Fleet {
        let hosts: Vec<Container> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let name = format!("{tag}-{i}");
                    s.spawn(move || Container::boot(testbed_rootfs(), ContainerOptions::new(name)).expect("boot"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("boot thread")).collect()
        });
        // sshd logs to a file the benchmark reads from outside (no session of its own)
        std::thread::scope(|s| {
            for c in &hosts {
                s.spawn(move || {
                    c.sh_ok(
                        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-apt >/dev/null && \
                         mkdir -p /etc/systemd/system/ssh.service.d && \
                         printf '[Service]\\nExecStart=\\nExecStart=/usr/sbin/sshd -D -E /var/log/sshd-bench.log $SSHD_OPTS\\n' \
                           > /etc/systemd/system/ssh.service.d/bench.conf && \
                         systemctl daemon-reload && systemctl restart ssh",
                    );
                });
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        // ssh config entries are keyed by address, which is what every tool connects to
        let aliases: Vec<String> = hosts.iter().map(|c| c.address().to_string()).collect();
        let pairs: Vec<(&str, &Container)> = aliases.iter().map(String::as_str).zip(hosts.iter()).collect();
        let ssh_config = write_ssh_config(dir.path(), &pairs);
        let known_hosts = dir.path().join("known_hosts");
        // every host key known up front, so no tool pays for (or trips on) a first contact
        for c in &hosts {
            let out = Command::new("ssh")
                .arg("-F")
                .arg(&ssh_config)
                .arg(c.address().to_string())
                .arg("true")
                .stdin(Stdio::null())
                .output()
                .expect("ssh");
            assert!(out.status.success(), "ssh {}: {}", c.hostname(), String::from_utf8_lossy(&out.stderr));
        }
        let mut kdl = String::new();
        let mut ini = String::from("[ranch]\n");
        let ini_vars = format!("[all:vars]\nansible_ssh_common_args=-F {}\n", ssh_config.display());
        let mut py = String::from("hosts = [\n");
        for c in &hosts {
            let _ = writeln!(kdl, "host \"{}\" address=\"{}\" user=\"root\"", c.hostname(), c.address());
            let _ = writeln!(
                ini,
                "{} ansible_host={} ansible_user=root ansible_ssh_private_key_file={}",
                c.hostname(),
                c.address(),
                c.key().display()
            );
            let _ = writeln!(
                py,
                "    (\"{}\", {{\"ssh_hostname\": \"{}\", \"ssh_user\": \"root\", \"ssh_key\": \"{}\", \
                 \"ssh_known_hosts_file\": \"{}\", \"ssh_strict_host_key_checking\": \"accept-new\"}}),",
                c.hostname(),
                c.address(),
                c.key().display(),
                known_hosts.display()
            );
        }
        py.push_str("]\n");
        ini.push_str(&ini_vars);
        std::fs::write(dir.path().join("inventory.kdl"), kdl).expect("inventory.kdl");
        std::fs::write(dir.path().join("hosts.ini"), ini).expect("hosts.ini");
        std::fs::write(dir.path().join("inventory.py"), py).expect("inventory.py");
        Fleet { hosts, dir }
    }

    fn ssh_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// converge's fact cache for this fleet: empty until the first run (the cold apply)
    /// fills it, warm for every run after.
    fn fact_cache(&self) -> PathBuf {
        self.dir.path().join("facts")
    }

    /// (connections, sessions) sshd logged so far, per host.
    fn sshd_counts(&self) -> Vec<(u64, u64)> {
        self.hosts
            .iter()
            .map(|c| {
                let log = std::fs::read_to_string(c.root_dir().join("var/log/sshd-bench.log")).unwrap_or_default();
                let conns = log.lines().filter(|l| l.contains("Accepted publickey")).count() as u64;
                let sessions = log.lines().filter(|l| l.contains("Starting session:")).count() as u64;
                (conns, sessions)
            })
            .collect()
    }

    /// CPU time used so far by all of each host's processes (its cgroup).
    fn host_cpu(&self) -> Vec<Duration> {
        self.hosts
            .iter()
            .map(|c| {
                let p = Path::new("/sys/fs/cgroup/cpuacct/converge-testbed").join(c.name()).join("cpuacct.usage");
                let ns: u64 = std::fs::read_to_string(&p).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
                Duration::from_nanos(ns)
            })
            .collect()
    }

    fn stop(self) {
        for c in self.hosts {
            c.stop().expect("stop container");
        }
    }
}

/// What to run for one tool and phase: program, arguments, working directory, environment.
struct Invocation {
    program: PathBuf,
    args: Vec<String>,
    dir: Option<PathBuf>,
    env: Vec<(String, String)>,
}

/// `facts` is converge's fact cache for this run (the others keep none).
fn invocation(tool: Tool, phase: Phase, fleet: &Fleet, paths: &Paths, facts: &Path) -> Invocation {
    let dir = fleet.dir.path();
    let n = fleet.hosts.len();
    let s = |p: &Path| p.display().to_string();
    match tool {
        Tool::Converge | Tool::ConvergeFresh => {
            let mut args = vec![
                if phase == Phase::Dry { "diff" } else { "apply" }.to_string(),
                s(&paths.peers.join("converge/scenario.kdl")),
                "--inventory".into(),
                s(&dir.join("inventory.kdl")),
                "--ssh-config".into(),
                s(&fleet.ssh_config()),
                "--format".into(),
                "json".into(),
                "--forks".into(),
                n.max(1).to_string(),
            ];
            if tool == Tool::ConvergeFresh {
                args.extend(["--control-persist".to_string(), "0".to_string()]);
            }
            let env = vec![("CONVERGE_FACT_CACHE".to_string(), s(facts))];
            Invocation { program: paths.converge.clone(), args, dir: None, env }
        }
        Tool::AnsibleStock | Tool::AnsibleTuned => {
            let cfg = if tool == Tool::AnsibleStock { "stock.cfg" } else { "tuned.cfg" };
            let mut args = vec!["-i".to_string(), s(&dir.join("hosts.ini")), "site.yml".to_string()];
            if tool == Tool::AnsibleTuned {
                // only the facts the play's `when` reads (see tuned.cfg: ansible.cfg can no
                // longer say it)
                args.extend([
                    "-e".to_string(),
                    r#"{"ranch_gather_subset": ["!all", "!min", "distribution"]}"#.to_string(),
                ]);
            }
            if phase == Phase::Dry {
                args.extend(["--check".to_string(), "--diff".to_string()]);
            }
            let env = vec![
                ("ANSIBLE_CONFIG".to_string(), s(&paths.peers.join("ansible").join(cfg))),
                ("ANSIBLE_NOCOLOR".to_string(), "1".to_string()),
            ];
            Invocation {
                program: paths.venv.join("bin/ansible-playbook"),
                args,
                dir: Some(paths.peers.join("ansible")),
                env,
            }
        }
        Tool::Pyinfra => {
            // `-y` skips the change-detection pass; with `--dry` it would skip everything
            let mut args = vec![if phase == Phase::Dry { "--dry" } else { "-y" }.to_string(), "--json".to_string()];
            args.extend([s(&dir.join("inventory.py")), "deploy.py".to_string()]);
            Invocation {
                program: paths.venv.join("bin/pyinfra"),
                args,
                dir: Some(paths.peers.join("pyinfra")),
                env: vec![],
            }
        }
        Tool::Floor => {
            // one ssh per host, all hosts at once, from one sh (the process tree measured)
            let script = paths.peers.join("floor/floor.sh");
            let dry = if phase == Phase::Dry { " --dry" } else { "" };
            let mut line = String::from("fail=0; ");
            for (i, h) in fleet.hosts.iter().enumerate() {
                let _ = write!(
                    line,
                    "ssh -F '{}' '{}' sh -s --{dry} < '{}' > '{}/floor-{}.out' 2>&1 & p{i}=$!; ",
                    fleet.ssh_config().display(),
                    h.address(),
                    script.display(),
                    dir.display(),
                    h.hostname()
                );
            }
            for i in 0..fleet.hosts.len() {
                let _ = write!(line, "wait $p{i} || fail=1; ");
            }
            for h in &fleet.hosts {
                let _ = write!(line, "cat '{}/floor-{}.out'; ", dir.display(), h.hostname());
            }
            line.push_str("exit $fail");
            Invocation { program: PathBuf::from("/bin/sh"), args: vec!["-c".to_string(), line], dir: None, env: vec![] }
        }
    }
}

/// The number of changes the tool reported, from its stdout; None when it cannot tell.
fn changes(tool: Tool, phase: Phase, stdout: &str) -> Option<u64> {
    match tool {
        Tool::Converge | Tool::ConvergeFresh => {
            let v: serde_json::Value = serde_json::from_str(stdout).ok()?;
            let s = &v["summary"];
            if phase == Phase::Dry {
                Some(["create", "update", "delete"].iter().map(|k| s[*k].as_u64().unwrap_or(0)).sum())
            } else {
                s["changed"].as_u64()
            }
        }
        Tool::AnsibleStock | Tool::AnsibleTuned => {
            // PLAY RECAP: `host : ok=20 changed=0 unreachable=0 failed=0 ...`
            let mut total = None;
            for line in stdout.lines().filter(|l| l.contains(" changed=") && l.contains(" ok=")) {
                let n: u64 = line.split("changed=").nth(1)?.split_whitespace().next()?.parse().ok()?;
                total = Some(total.unwrap_or(0) + n);
            }
            total
        }
        Tool::Pyinfra => pyinfra_changes(stdout, phase == Phase::Dry),
        Tool::Floor => {
            let mut total = None;
            for line in stdout.lines().filter(|l| l.starts_with("changed=")) {
                total = Some(total.unwrap_or(0) + line["changed=".len()..].trim().parse::<u64>().ok()?);
            }
            total
        }
    }
}

/// From pyinfra's `--json` output: the hosts each operation changed (`results.operations[].
/// success`: pyinfra's "success" means it ran commands), or on a dry run the hosts each
/// would change (`plan[].hosts_with_change`; `hosts_with_conditional_change` lists every
/// `_if=` operation whatever happened and is not a change).
fn pyinfra_changes(stdout: &str, dry: bool) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(stdout).ok()?;
    let count = |list: &serde_json::Value, field: &str| -> Option<u64> {
        Some(list.as_array()?.iter().map(|op| op[field].as_array().map_or(0, |h| h.len() as u64)).sum())
    };
    if dry { count(&v["plan"], "hosts_with_change") } else { count(&v["results"]["operations"], "success") }
}

fn run_once(tool: Tool, phase: Phase, fleet: &Fleet, paths: &Paths) -> Run {
    let before = fleet.sshd_counts();
    let cpu_before = fleet.host_cpu();
    // facts cold: an empty cache of the run's own, gone with it
    let cold_cache = (phase == Phase::NoopCold).then(|| tempfile::tempdir_in(fleet.dir.path()).expect("tempdir"));
    let facts = cold_cache.as_ref().map_or_else(|| fleet.fact_cache(), |d| d.path().to_path_buf());
    let inv = invocation(tool, phase, fleet, paths, &facts);
    let m = measure::run(&inv.program, &inv.args, inv.dir.as_deref(), &inv.env);
    // sshd writes its log lines as sessions close; give the last ones a moment
    std::thread::sleep(Duration::from_millis(200));
    let after = fleet.sshd_counts();
    let cpu_after = fleet.host_cpu();
    let output = format!("{}\n--- stderr ---\n{}", m.stdout, m.stderr);
    assert!(m.ok, "{} {} failed:\n{output}", tool.name(), phase.name());
    let changes = changes(tool, phase, &m.stdout)
        .unwrap_or_else(|| panic!("cannot tell the changes of {} {}:\n{output}", tool.name(), phase.name()));
    let host_cpu: Duration = cpu_after.iter().zip(&cpu_before).map(|(a, b)| a.saturating_sub(*b)).sum();
    Run {
        wall: m.wall,
        rss_kb: m.rss_kb,
        pss_kb: m.pss_kb,
        connections: after.iter().zip(&before).map(|(a, b)| a.0 - b.0).collect(),
        sessions: after.iter().zip(&before).map(|(a, b)| a.1 - b.1).collect(),
        host_cpu: host_cpu / fleet.hosts.len().max(1) as u32,
        changes,
    }
}

fn ensure_venv(paths: &Paths) -> BTreeMap<String, String> {
    let pip = paths.venv.join("bin/pip");
    if !pip.exists() {
        let ok = Command::new("python3").arg("-m").arg("venv").arg(&paths.venv).status().expect("python3 -m venv");
        assert!(ok.success(), "python3 -m venv failed");
    }
    let ok = Command::new(&pip)
        .args(["install", "-q", "-r"])
        .arg(paths.peers.join("requirements.txt"))
        .status()
        .expect("pip install");
    assert!(ok.success(), "pip install -r benches/peers/requirements.txt failed");
    let mut versions = BTreeMap::new();
    let first_line = |cmd: &mut Command| {
        cmd.output()
            .map(|o| {
                let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                text.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_else(|e| format!("unknown ({e})"))
    };
    versions.insert("converge".into(), first_line(Command::new(&paths.converge).arg("--version")));
    versions.insert("ansible-core".into(), first_line(Command::new(paths.venv.join("bin/ansible")).arg("--version")));
    versions.insert("pyinfra".into(), first_line(Command::new(paths.venv.join("bin/pyinfra")).arg("--version")));
    versions.insert("python".into(), first_line(Command::new(paths.venv.join("bin/python")).arg("--version")));
    versions.insert("openssh (controller)".into(), first_line(Command::new("ssh").arg("-V")));
    versions
}

struct Args {
    hosts: Vec<usize>,
    runs: usize,
    /// Cold runs (each on a fresh set of containers); `runs` unless given.
    cold_runs: Option<usize>,
    tools: Vec<Tool>,
    write: bool,
}

fn args() -> Args {
    let mut a = Args { hosts: vec![1, 4, 8], runs: 3, cold_runs: None, tools: Tool::ALL.to_vec(), write: true };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let next = || argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--hosts" => {
                a.hosts = next().split(',').map(|s| s.parse().expect("--hosts 1,4,8")).collect();
                i += 1;
            }
            "--runs" => {
                a.runs = next().parse().expect("--runs N");
                i += 1;
            }
            "--cold-runs" => {
                a.cold_runs = Some(next().parse().expect("--cold-runs N"));
                i += 1;
            }
            "--tools" => {
                a.tools = next().split(',').map(Tool::parse).collect();
                i += 1;
            }
            "--no-write" => a.write = false,
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    a
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn secs(d: Duration) -> String {
    if d.as_secs_f64() < 10.0 { format!("{:.2}", d.as_secs_f64()) } else { format!("{:.1}", d.as_secs_f64()) }
}

fn main() {
    let a = args();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let paths = Paths {
        peers: repo.join("benches/peers"),
        venv: repo.join("target/peers-venv"),
        converge: PathBuf::from(env!("CARGO_BIN_EXE_converge")),
        repo,
    };
    let versions = ensure_venv(&paths);
    measure::sweep();
    let started = Instant::now();
    let mut results: BTreeMap<(usize, Tool, Phase), Vec<Run>> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for &n in &a.hosts {
        for &tool in &a.tools {
            // a tool that fails is reported and the others go on; what ran so far is kept
            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for round in 0..a.cold_runs.unwrap_or(a.runs) {
                    let fleet = Fleet::boot(n, &format!("p{}{round}", &tool.name()[..2]));
                    let cold = run_once(tool, Phase::Cold, &fleet, &paths);
                    eprintln!("N={n} {} cold #{round}: {:?} ({} changes)", tool.name(), cold.wall, cold.changes);
                    results.entry((n, tool, Phase::Cold)).or_default().push(cold);
                    if round == 0 {
                        for _ in 0..a.runs {
                            for phase in [Phase::Noop, Phase::NoopCold, Phase::Dry] {
                                if phase == Phase::NoopCold && !tool.keeps_facts() {
                                    continue;
                                }
                                let r = run_once(tool, phase, &fleet, &paths);
                                eprintln!(
                                    "N={n} {} {}: {:?} ({} changes)",
                                    tool.name(),
                                    phase.name(),
                                    r.wall,
                                    r.changes
                                );
                                results.entry((n, tool, phase)).or_default().push(r);
                            }
                        }
                    }
                    fleet.stop();
                }
            }));
            if done.is_err() {
                eprintln!("N={n} {}: FAILED (see the panic above); going on", tool.name());
                failures.push(format!("N={n} {} failed; its rows are partial or missing", tool.name()));
            }
            write_report(&a, &results, &versions, started.elapsed(), &failures, &paths);
        }
    }
}

/// Renders what has run so far and writes it into BENCHMARKS.md (unless --no-write).
fn write_report(
    a: &Args,
    results: &BTreeMap<(usize, Tool, Phase), Vec<Run>>,
    versions: &BTreeMap<String, String>,
    took: Duration,
    failures: &[String],
    paths: &Paths,
) {
    let mut report = render(a, results, versions, took);
    for f in failures {
        let _ = writeln!(report, "**{f}.**\n");
    }
    print!("{report}");
    if a.write {
        let path = paths.repo.join("BENCHMARKS.md");
        report::write_section(&path, "peers", &report);
        eprintln!("wrote {}", path.display());
    }
}

fn render(
    a: &Args,
    results: &BTreeMap<(usize, Tool, Phase), Vec<Run>>,
    versions: &BTreeMap<String, String>,
    took: Duration,
) -> String {
    let mut out = String::new();
    let cpu = report::cpu_model();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) / 1024 / 1024)
        })
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let cmd = format!(
        "cargo bench --bench peers -- --hosts {} --runs {}{} --tools {}",
        a.hosts.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","),
        a.runs,
        a.cold_runs.map(|c| format!(" --cold-runs {c}")).unwrap_or_default(),
        a.tools.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
    );
    let _ =
        writeln!(out, "Made by `{cmd}` in {:.0} min on {cores} cores ({cpu}), {mem} GiB.\n", took.as_secs_f64() / 60.0);
    let _ = writeln!(
        out,
        "Versions: {}.\n",
        versions.iter().map(|(k, v)| format!("{k}: `{v}`")).collect::<Vec<_>>().join("; ")
    );
    let _ = writeln!(
        out,
        "Wall time in seconds, median of the runs (min–max): {} no-op and dry runs, {} cold runs (each on fresh containers). RSS / PSS = peak of the summed RSS / PSS of every \
         process the tool started on the controller, daemons included (its own cgroup), highest over the runs. \
         ssh = new connections / sessions per host, most over the hosts, in the last run (from sshd's log). \
         host CPU = CPU time per host (its cgroup), median. changes = what the tool reported in each run \
         (a no-op or dry run must report 0). converge = default settings (ssh masters persist 60 s, as \
         Ansible's ControlPersist); converge-cp0 = `--control-persist 0` (a new connection every run). \
         The scenario installs its packages only on a Debian-family host, a condition on a host fact in \
         every tool. converge keeps facts on the controller (a cache of the benchmark's own per set of \
         containers): its cold apply is a first contact (facts gathered, one ssh session more), its \
         no-op and dry runs find the facts cached (facts warm: 1 session per host), and \
         `no-op apply, facts cold` starts each run with an empty cache (2 sessions per host); more \
         sessions than that make a converge row invalid. The other tools keep no facts between runs \
         (Ansible gathers them, stock every fact and tuned only the distribution subset; pyinfra reads \
         its LinuxDistribution fact; the floor reads /etc/os-release), so they have no cold row.\n",
        a.runs,
        a.cold_runs.unwrap_or(a.runs)
    );
    for &n in &a.hosts {
        let _ = writeln!(out, "### N = {n}\n");
        let _ = writeln!(
            out,
            "| tool | phase | wall s | RSS MB | PSS MB | ssh conn / sessions per host | host CPU ms | changes |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for &tool in &a.tools {
            for phase in Phase::ALL {
                let Some(runs) = results.get(&(n, tool, phase)) else { continue };
                let (med, min, max) = median(runs.iter().map(|r| r.wall).collect());
                let rss = runs.iter().map(|r| r.rss_kb).max().unwrap_or(0);
                let pss = runs.iter().map(|r| r.pss_kb).max().unwrap_or(0);
                let last = runs.last().expect("a run");
                let conns = last.connections.iter().max().copied().unwrap_or(0);
                let sessions = last.sessions.iter().max().copied().unwrap_or(0);
                let cpu = median(runs.iter().map(|r| r.host_cpu).collect()).0;
                let changes: Vec<String> = runs.iter().map(|r| r.changes.to_string()).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} ({}–{}) | {:.1} | {:.1} | {conns} / {sessions} | {:.0} | {}{} |",
                    tool.name(),
                    phase.label(tool),
                    secs(med),
                    secs(min),
                    secs(max),
                    rss as f64 / 1024.0,
                    pss as f64 / 1024.0,
                    cpu.as_secs_f64() * 1000.0,
                    changes.join(", "),
                    invalid(tool, phase, runs)
                );
            }
        }
        out.push('\n');
        targets(&mut out, n, results);
    }
    out
}

/// What makes a row invalid, as a marker for its last cell (empty when valid): a no-op or
/// dry run that changed something; a converge run with more ssh sessions on some host
/// than its phase allows (facts warm: the probe alone; cold: facts, then the probe).
fn invalid(tool: Tool, phase: Phase, runs: &[Run]) -> String {
    let mut why = Vec::new();
    if phase != Phase::Cold && runs.iter().any(|r| r.changes != 0) {
        why.push("not a no-op".to_string());
    }
    if let Some(bound) = phase.converge_sessions_bound().filter(|_| tool.keeps_facts()) {
        let most = runs.iter().flat_map(|r| r.sessions.iter().copied()).max().unwrap_or(0);
        if most > bound {
            why.push(format!("{most} ssh sessions on a host, want at most {bound}"));
        }
    }
    if why.is_empty() { String::new() } else { format!(" **INVALID: {}**", why.join("; ")) }
}

/// The issue's targets for this N, each checked against the same run's numbers, for
/// converge with its default settings and with `--control-persist 0`.
fn targets(out: &mut String, n: usize, results: &BTreeMap<(usize, Tool, Phase), Vec<Run>>) {
    let med =
        |tool, phase| results.get(&(n, tool, phase)).map(|runs| median(runs.iter().map(|r: &Run| r.wall).collect()).0);
    let mut rows = Vec::new();
    let mut check = |what: String, got: Option<f64>, want: f64, higher_better: bool| {
        if let Some(got) = got {
            let met = if higher_better { got >= want } else { got <= want };
            rows.push(format!(
                "| {what} | {got:.2} | {} {want} | {} |",
                if higher_better { "≥" } else { "≤" },
                if met { "met" } else { "**not met**" }
            ));
        }
    };
    let ratio = |a: Option<Duration>, b: Option<Duration>| Some(a?.as_secs_f64() / b?.as_secs_f64());
    for c in [Tool::Converge, Tool::ConvergeFresh] {
        let name = c.name();
        check(
            format!("no-op: tuned Ansible / {name}"),
            ratio(med(Tool::AnsibleTuned, Phase::Noop), med(c, Phase::Noop)),
            40.0,
            true,
        );
        check(
            format!("no-op: pyinfra / {name}"),
            ratio(med(Tool::Pyinfra, Phase::Noop), med(c, Phase::Noop)),
            8.0,
            true,
        );
        check(
            format!("dry run: pyinfra / {name}"),
            ratio(med(Tool::Pyinfra, Phase::Dry), med(c, Phase::Dry)),
            8.0,
            true,
        );
        check(format!("cold: {name} / floor"), ratio(med(c, Phase::Cold), med(Tool::Floor, Phase::Cold)), 1.15, false);
        let most = |phase, f: fn(&Run) -> &Vec<u64>| {
            results
                .get(&(n, c, phase))
                .map(|runs| runs.iter().flat_map(|r| f(r).iter().copied()).max().unwrap_or(0) as f64)
        };
        // a cold apply is a first contact: the facts exchange, then probe, apply, verify
        check(format!("{name}: ssh sessions per host, cold apply"), most(Phase::Cold, |r| &r.sessions), 4.0, false);
        check(
            format!("{name}: ssh sessions per host, no-op apply, facts warm"),
            most(Phase::Noop, |r| &r.sessions),
            1.0,
            false,
        );
        check(
            format!("{name}: ssh sessions per host, no-op apply, facts cold"),
            most(Phase::NoopCold, |r| &r.sessions),
            2.0,
            false,
        );
        check(format!("{name}: ssh sessions per host, dry run"), most(Phase::Dry, |r| &r.sessions), 1.0, false);
        let peak = |f: fn(&Run) -> u64| {
            results
                .iter()
                .filter(|((m, t, _), _)| *m == n && *t == c)
                .flat_map(|(_, runs)| runs.iter().map(f))
                .max()
                .map(|kb| kb as f64 / 1024.0)
        };
        check(format!("{name}: controller peak RSS (summed), MB"), peak(|r| r.rss_kb), 30.0, false);
        check(format!("{name}: controller peak PSS (summed), MB"), peak(|r| r.pss_kb), 30.0, false);
    }
    if !rows.is_empty() {
        let _ = writeln!(out, "| target (N = {n}) | measured | wanted | |\n|---|---|---|---|");
        for r in rows {
            let _ = writeln!(out, "{r}");
        }
        out.push('\n');
    }
}
