//! The differential check of a rewrite: two builds of converge, the one named by
//! `CONVERGE_OLD_BIN` (the release before the rewrite) and this one, run `diff` and
//! `apply`, fresh and converged, for each seed playbook, each on its own fresh container of
//! the same name. Their JSON reports, masked as the seed baselines are (timings, step
//! durations, addresses, package versions, commit and image ids), must be equal.
//!
//!     scripts/differential OLD_COMMIT
//!
//! builds OLD_COMMIT and runs this. It is a program, like the benchmarks, not a test:
//! it needs a second build, so it is run when the engine is rewritten, not on every
//! change. It exits non-zero, naming the seed and the stage, at the first difference.

#[path = "../tests/common/masked.rs"]
mod masked;
#[path = "common/seed_list.rs"]
mod seed_list;
#[path = "../tests/common/world.rs"]
mod world;

use std::path::Path;
use std::process::Command;

use converge::sandbox::{Container, ContainerOptions, testbed_rootfs, write_ssh_config};

use seed_list::{SEEDS, Seed};

/// Seeds checked at once (each boots two containers).
const AT_ONCE: usize = 3;

/// A run's exit code and JSON report.
fn run(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(i32, serde_json::Value), String> {
    let out = Command::new(bin)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {bin}: {e}"))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{bin} {args:?}: no JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)))?;
    Ok((out.status.code().unwrap_or(-1), json))
}

/// One seed, both builds: `Ok` when every stage's masked reports are equal.
fn differential(seed: &Seed, old: &str, new: &str) -> Result<(), String> {
    let mut sides = Vec::new();
    for bin in [old, new] {
        let c = Container::boot(testbed_rootfs(), ContainerOptions::new(seed.host))
            .map_err(|e| format!("testbed cannot start: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let cfg = write_ssh_config(dir.path(), &[(seed.host, &c)]).display().to_string();
        sides.push((bin, c, dir, cfg));
    }
    let root = world::repo_root();
    let playbook = root.join("playbooks").join(format!("{}.kdl", seed.name)).display().to_string();
    let inventory = root.join("playbooks").join(format!("{}.sandbox.kdl", seed.name)).display().to_string();
    for (stage, cmd) in [("fresh", "diff"), ("fresh", "apply"), ("converged", "diff"), ("converged", "apply")] {
        let mut reports = Vec::new();
        for (bin, c, dir, cfg) in &sides {
            let args = [cmd, &playbook, "--inventory", &inventory, "--ssh-config", cfg, "--format", "json"];
            let (code, json) = run(bin, dir.path(), &args, seed.env)?;
            reports.push(format!("exit {code}\n{}", masked::masked(&json, &c.address().to_string())));
        }
        if reports[0] != reports[1] {
            return Err(format!(
                "{}: {stage} {cmd}: the old build and the new one differ\n--- old\n{}\n--- new\n{}",
                seed.name, reports[0], reports[1]
            ));
        }
        eprintln!("{}: {stage} {cmd}: equal", seed.name);
    }
    Ok(())
}

fn main() {
    let Some(old) = std::env::var("CONVERGE_OLD_BIN").ok().filter(|b| !b.is_empty()) else {
        eprintln!("differential: CONVERGE_OLD_BIN is not set: run scripts/differential OLD_COMMIT");
        std::process::exit(1);
    };
    let new = env!("CARGO_BIN_EXE_converge");
    let mut failures = Vec::new();
    for chunk in SEEDS.chunks(AT_ONCE) {
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|seed| s.spawn(|| differential(seed, &old, new))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panicked".into()))).collect()
        });
        failures.extend(results.into_iter().filter_map(Result::err));
    }
    if failures.is_empty() {
        println!("differential: the {} seeds' reports are equal at every stage", SEEDS.len());
    } else {
        for f in &failures {
            eprintln!("{f}");
        }
        std::process::exit(1);
    }
}
