//! Cold and no-op `converge apply` of each seed playbook on one fresh local container,
//! with the resource count and the exchanges, written to benches/seed-timings.md.
//!
//!     cargo bench --bench seeds
//!
//! Each playbook gets a fresh container from the project's testbed and its sandbox
//! inventory (playbooks/NAME.sandbox.kdl), exactly as `converge sandbox` runs it: the
//! playbook makes its own stand-ins on the host; only the secrets come from the
//! environment. Cold = the first apply on the fresh host (packages installed from the
//! image's offline apt cache); no-op = median of RUNS applies after it (min-max), each of
//! which must change nothing.

#[path = "common/seed_list.rs"]
mod seed_list;
#[path = "../tests/common/world.rs"]
mod world;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use converge::sandbox::{Container, ContainerOptions, testbed_rootfs, write_ssh_config};

use seed_list::{SEEDS, Seed};

const RUNS: usize = 5;

fn apply(dir: &Path, args: &[String], env: &[(&str, &str)]) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_converge"))
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("converge");
    let took = started.elapsed();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(json["summary"]["failed"], 0, "{json}");
    (took, json)
}

fn row(seed: &Seed) -> String {
    let c = Container::boot(testbed_rootfs(), ContainerOptions::new(seed.host)).expect("boot");
    let dir = tempfile::tempdir().expect("tempdir");
    let playbook = world::repo_root().join("playbooks").join(format!("{}.kdl", seed.name));
    let inventory = world::repo_root().join("playbooks").join(format!("{}.sandbox.kdl", seed.name));
    let cfg = write_ssh_config(dir.path(), &[(seed.host, &c)]);
    let args: Vec<String> = vec![
        "apply".into(),
        playbook.display().to_string(),
        "--inventory".into(),
        inventory.display().to_string(),
        "--ssh-config".into(),
        cfg.display().to_string(),
        "--format".into(),
        "json".into(),
    ];
    let (cold, json) = apply(dir.path(), &args, seed.env);
    let resources = json["hosts"][0]["resources"].as_array().map_or(0, Vec::len);
    let cold_exchanges = json["hosts"][0]["exchanges"].clone();
    let mut noop = Vec::new();
    let mut noop_exchanges = serde_json::Value::Null;
    for _ in 0..RUNS {
        let (t, json) = apply(dir.path(), &args, seed.env);
        assert_eq!(json["summary"]["changed"], 0, "not a no-op: {json}");
        noop_exchanges = json["hosts"][0]["exchanges"].clone();
        noop.push(t);
    }
    noop.sort();
    c.stop().expect("stop");
    let ms = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    format!(
        "| {}.kdl | {resources} | {} | {} ({}–{}) | {cold_exchanges} / {noop_exchanges} |\n",
        seed.name,
        ms(cold),
        ms(noop[RUNS / 2]),
        ms(noop[0]),
        ms(noop[RUNS - 1])
    )
}

fn main() {
    let mut table = String::new();
    for seed in SEEDS {
        let _ = write!(table, "{}", row(seed));
    }
    let out = format!(
        "# Seed playbooks: cold and no-op apply\n\n\
         Made by `cargo bench --bench seeds` (release build) on {} cores. One fresh local\n\
         systemd-nspawn container per playbook; wall time of the whole `converge apply` in ms;\n\
         no-op: median of {RUNS} (min–max). Cold runs install packages from the image's offline\n\
         apt cache, so they are dominated by dpkg.\n\n\
         | playbook | resources | cold apply | no-op apply | exchanges cold / no-op |\n|---|---|---|---|---|\n{table}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    std::fs::write(world::repo_root().join("benches/seed-timings.md"), &out).expect("write");
    print!("{out}");
}
