//! converge's no-op apply from 1 to 100 hosts: wall time and controller memory against the
//! number of hosts, on local containers booted from the project's testbed, with the
//! per-phase timings converge reports itself (`--format json`: `timings_ms` per host).
//! The table goes into BENCHMARKS.md between its `scale` markers, the numbers into
//! benches/scale.csv and the plot into benches/scale.png.
//!
//!     cargo bench --bench scale                         # 1 → 100 hosts, median of 3
//!     cargo bench --bench scale -- --steps 1,10,50 --runs 1
//!
//! The hosts are fully booted systemd containers (memory allows it here: each takes about
//! what its systemd, journald and sshd use) running benches/scale/scale.kdl, 20 resources
//! that need no package download. Each step is run twice: with converge's defaults (ssh
//! masters persist 60 s, so a repeated run reuses its connections) and with
//! `--control-persist 0` (every run connects afresh).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use converge::sandbox::{Container, ContainerOptions, testbed_rootfs, write_ssh_config};

#[path = "common/measure.rs"]
mod measure;
#[path = "common/report.rs"]
#[allow(dead_code)] // cpu_model is for the benchmarks that name the machine
mod report;

struct Point {
    hosts: usize,
    mode: &'static str,
    wall: Vec<Duration>,
    rss_kb: u64,
    pss_kb: u64,
    /// Medians over hosts and runs, ms.
    connect: u64,
    probe: u64,
    plan: u64,
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut steps = vec![1usize, 10, 25, 50, 75, 100];
    let mut runs = 3usize;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for (i, a) in argv.iter().enumerate() {
        match a.as_str() {
            "--steps" => steps = argv[i + 1].split(',').map(|s| s.parse().expect("--steps 1,10,100")).collect(),
            "--runs" => runs = argv[i + 1].parse().expect("--runs N"),
            _ => {}
        }
    }
    let max = *steps.iter().max().expect("a step");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let playbook = repo.join("benches/scale/scale.kdl");
    let converge = PathBuf::from(env!("CARGO_BIN_EXE_converge"));
    measure::sweep();

    // every booted systemd holds inotify instances; the default of 128 per user runs out
    // near 30 containers
    let limit = Path::new("/proc/sys/fs/inotify/max_user_instances");
    let current: usize = std::fs::read_to_string(limit).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    if current < 16 * max {
        std::fs::write(limit, (16 * max).to_string()).expect("raise fs.inotify.max_user_instances");
        eprintln!("fs.inotify.max_user_instances: {current} -> {}", 16 * max);
    }

    let mem_before = available_mib();
    let boot_started = Instant::now();
    let hosts: Vec<Container> = {
        let mut all = Vec::new();
        // a few at a time: boots are CPU-bound on a small machine
        for chunk in (0..max).collect::<Vec<_>>().chunks(8) {
            let booted: Vec<Container> = std::thread::scope(|s| {
                let hs: Vec<_> = chunk
                    .iter()
                    .map(|&i| {
                        s.spawn(move || {
                            Container::boot(testbed_rootfs(), ContainerOptions::new(format!("s{i:03}"))).expect("boot")
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().expect("boot thread")).collect()
            });
            all.extend(booted);
            eprintln!("booted {} of {max}", all.len());
        }
        all
    };
    let boot_took = boot_started.elapsed();
    let per_host_mib = mem_before.saturating_sub(available_mib()) / max.max(1) as u64;
    let dir = tempfile::tempdir().expect("tempdir");
    // ssh config entries are keyed by address, which is what converge connects to
    let names: Vec<String> = hosts.iter().map(|c| c.address().to_string()).collect();
    let pairs: Vec<(&str, &Container)> = names.iter().map(String::as_str).zip(hosts.iter()).collect();
    let ssh_config = write_ssh_config(dir.path(), &pairs);
    let inventory = |n: usize| {
        let path = dir.path().join(format!("inventory-{n}.kdl"));
        let text: String = hosts[..n]
            .iter()
            .map(|c| format!("host \"{}\" address=\"{}\" user=\"root\"\n", c.hostname(), c.address()))
            .collect();
        std::fs::write(&path, text).expect("inventory");
        path
    };
    let args = |cmd: &str, inv: &Path, n: usize, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = vec![
            cmd.into(),
            playbook.display().to_string(),
            "--inventory".into(),
            inv.display().to_string(),
            "--ssh-config".into(),
            ssh_config.display().to_string(),
            "--format".into(),
            "json".into(),
            "--forks".into(),
            n.to_string(),
            // a hundred logins at once queue for the hosts' two cores (sshd, PAM, logind
            // each take their share): more than the default 10 s for the last ones
            "--connect-timeout".into(),
            "60".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let all = inventory(max);
    let cold = measure::run(&converge, &args("apply", &all, max, &[]), None, &[]);
    assert!(cold.ok, "cold apply failed:\n{}\n{}", cold.stdout, cold.stderr);
    let json: serde_json::Value = serde_json::from_str(&cold.stdout).expect("json");
    assert_eq!(json["summary"]["failed"], 0, "cold apply failed: {}", cold.stdout);
    eprintln!("cold apply of {max} hosts: {:?}", cold.wall);

    let mut points = Vec::new();
    for &n in &steps {
        let inv = inventory(n);
        for (mode, extra) in [("default", &[][..]), ("--control-persist 0", &["--control-persist", "0"][..])] {
            let mut p = Point { hosts: n, mode, wall: vec![], rss_kb: 0, pss_kb: 0, connect: 0, probe: 0, plan: 0 };
            let (mut connect, mut probe, mut plan) = (vec![], vec![], vec![]);
            if mode == "default" {
                // masters of hosts an earlier step left idle for over 60 s have ended: one
                // unmeasured run starts them again, as any earlier run would have
                let warm = measure::run(&converge, &args("apply", &inv, n, extra), None, &[]);
                assert!(warm.ok, "no-op apply failed:\n{}\n{}", warm.stdout, warm.stderr);
            }
            for _ in 0..runs {
                let m = measure::run(&converge, &args("apply", &inv, n, extra), None, &[]);
                assert!(m.ok, "no-op apply failed:\n{}\n{}", m.stdout, m.stderr);
                let json: serde_json::Value =
                    serde_json::from_str(&m.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", m.stdout, m.stderr));
                assert_eq!(json["summary"]["changed"], 0, "not a no-op: {}", m.stdout);
                assert_eq!(json["summary"]["failed"], 0, "{}", m.stdout);
                for h in json["hosts"].as_array().expect("hosts") {
                    let t = &h["timings_ms"];
                    connect.push(t["connect"].as_u64().unwrap_or(0));
                    probe.push(t["probe"].as_u64().unwrap_or(0));
                    plan.push(t["plan"].as_u64().unwrap_or(0));
                }
                p.wall.push(m.wall);
                p.rss_kb = p.rss_kb.max(m.rss_kb);
                p.pss_kb = p.pss_kb.max(m.pss_kb);
            }
            p.connect = median(connect);
            p.probe = median(probe);
            p.plan = median(plan);
            eprintln!("{n} hosts, {mode}: {:?}, RSS {} KiB", median(p.wall.clone()), p.rss_kb);
            points.push(p);
        }
    }
    for c in hosts {
        c.stop().expect("stop");
    }

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Made by `cargo bench --bench scale -- --steps {} --runs {runs}` on {cores} cores. {max} booted systemd \
         containers (booted in {:.0} s, about {per_host_mib} MiB each), benches/scale/scale.kdl (20 resources); \
         the cold apply of all {max} took {:.1} s. No-op `converge apply`, wall time of the whole process in \
         seconds, median of {runs} (min–max); RSS / PSS = peak summed over every process converge started, \
         ssh masters included; connect / probe / plan = converge's own per-host timings (median over hosts and runs, ms).\n",
        steps.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        boot_took.as_secs_f64(),
        cold.wall.as_secs_f64()
    );
    let _ = writeln!(out, "| hosts | ssh masters | wall s | RSS MB | PSS MB | connect ms | probe ms | plan ms |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let mut csv = String::from("hosts,mode,wall_s,rss_mb,pss_mb,connect_ms,probe_ms,plan_ms\n");
    for p in &points {
        let mut w = p.wall.clone();
        w.sort();
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} ({:.2}–{:.2}) | {:.1} | {:.1} | {} | {} | {} |",
            p.hosts,
            if p.mode == "default" { "resumed (default)" } else { "new each run (`--control-persist 0`)" },
            w[w.len() / 2].as_secs_f64(),
            w[0].as_secs_f64(),
            w[w.len() - 1].as_secs_f64(),
            p.rss_kb as f64 / 1024.0,
            p.pss_kb as f64 / 1024.0,
            p.connect,
            p.probe,
            p.plan
        );
        let _ = writeln!(
            csv,
            "{},{},{:.3},{:.1},{:.1},{},{},{}",
            p.hosts,
            p.mode,
            w[w.len() / 2].as_secs_f64(),
            p.rss_kb as f64 / 1024.0,
            p.pss_kb as f64 / 1024.0,
            p.connect,
            p.probe,
            p.plan
        );
    }
    print!("{out}");
    std::fs::write(repo.join("benches/scale.csv"), &csv).expect("write scale.csv");
    let venv_python = repo.join("target/peers-venv/bin/python");
    let plotted = Command::new(&venv_python)
        .arg(repo.join("benches/scale/plot.py"))
        .arg(repo.join("benches/scale.csv"))
        .arg(repo.join("benches/scale.png"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !plotted {
        eprintln!("could not plot: run `cargo bench --bench peers` once (it makes target/peers-venv with matplotlib)");
    }
    report::write_section(&repo.join("BENCHMARKS.md"), "scale", &out);
}

fn available_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
