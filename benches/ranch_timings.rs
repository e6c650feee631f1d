//! Wall time of `converge diff` and of a no-op `converge apply` of playbooks/ranch.kdl on
//! 1 and 4 local containers, and the exchanges per host, written to
//! benches/ranch-timings.md.
//!
//!     cargo bench --bench ranch_timings
//!
//! Containers come from the project's testbed (systemd-nspawn); each run boots fresh ones,
//! applies once cold, then times RUNS diffs and RUNS no-op applies (median, min-max).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use converge::sandbox::{Container, ContainerOptions, testbed_rootfs, write_ssh_config};

#[path = "common/report.rs"]
#[allow(dead_code)] // write_section is for the benchmarks that write into BENCHMARKS.md
mod report;

const RUNS: usize = 7;

struct Timed {
    median: Duration,
    min: Duration,
    max: Duration,
    exchanges: Vec<u64>,
}

fn converge(dir: &Path, args: &[&str]) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_converge")).current_dir(dir).args(args).output().expect("run converge");
    let took = started.elapsed();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    (took, json)
}

fn timed(dir: &Path, args: &[&str], want_exit_changes: bool) -> Timed {
    let mut times = Vec::new();
    let mut exchanges = Vec::new();
    for _ in 0..RUNS {
        let (t, json) = converge(dir, args);
        assert_eq!(json["summary"]["changed"], 0, "not a no-op: {json}");
        assert_eq!(json["summary"]["failed"], 0, "{json}");
        if !want_exit_changes {
            assert_eq!(json["summary"]["create"], 0);
        }
        times.push(t);
        exchanges =
            json["hosts"].as_array().expect("hosts").iter().map(|h| h["exchanges"].as_u64().unwrap_or(0)).collect();
    }
    times.sort();
    Timed { median: times[RUNS / 2], min: times[0], max: times[RUNS - 1], exchanges }
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/ranch.kdl");
    let playbook = playbook.to_str().expect("utf8 path");
    let mut table = String::new();
    for n in [1usize, 4] {
        let containers: Vec<Container> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..n)
                .map(|i| {
                    s.spawn(move || {
                        Container::boot(testbed_rootfs(), ContainerOptions::new(format!("ranch-{i}"))).expect("boot")
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("boot thread")).collect()
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let inv: String = containers
            .iter()
            .map(|c| format!("host \"{}\" address=\"{}\" user=\"root\"\n", c.hostname(), c.address()))
            .collect();
        std::fs::write(dir.path().join("inventory.kdl"), inv).expect("inventory");
        let addrs: Vec<String> = containers.iter().map(|c| c.address().to_string()).collect();
        let pairs: Vec<(&str, &Container)> = addrs.iter().map(String::as_str).zip(containers.iter()).collect();
        let cfg = write_ssh_config(dir.path(), &pairs);
        let cfg = cfg.to_str().expect("utf8");
        let base = ["--inventory", "inventory.kdl", "--ssh-config", cfg, "--format", "json"];
        let cold_args: Vec<&str> = ["apply", playbook].into_iter().chain(base).collect();
        let (cold, json) = converge(dir.path(), &cold_args);
        assert_eq!(json["summary"]["failed"], 0, "{json}");
        let cold_exchanges: Vec<u64> =
            json["hosts"].as_array().expect("hosts").iter().map(|h| h["exchanges"].as_u64().unwrap_or(0)).collect();
        let diff_args: Vec<&str> = ["diff", playbook].into_iter().chain(base).collect();
        let diff = timed(dir.path(), &diff_args, false);
        let noop_args: Vec<&str> = ["apply", playbook].into_iter().chain(base).collect();
        let noop = timed(dir.path(), &noop_args, false);
        let _ = writeln!(
            table,
            "| {n} | {} | {} ({}–{}) | {} ({}–{}) | cold {:?}, diff {:?}, no-op {:?} |",
            ms(cold),
            ms(diff.median),
            ms(diff.min),
            ms(diff.max),
            ms(noop.median),
            ms(noop.min),
            ms(noop.max),
            cold_exchanges,
            diff.exchanges,
            noop.exchanges
        );
        for c in containers {
            c.stop().expect("stop");
        }
    }
    let cpu = report::cpu_model();
    let out = format!(
        "# ranch.kdl timings\n\n\
         Made by `cargo bench --bench ranch_timings` (release build) on {} cores ({cpu}).\n\
         playbooks/ranch.kdl (23 resources) against fresh local systemd-nspawn containers;\n\
         wall time of the whole `converge` process in ms, median of {RUNS} (min–max).\n\n\
         | hosts | cold apply | diff | no-op apply | exchanges per host |\n|---|---|---|---|---|\n{table}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ranch-timings.md");
    std::fs::write(&path, &out).expect("write results");
    print!("{out}");
}
