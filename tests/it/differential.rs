//! The differential test of a rewrite: two builds of converge (`CONVERGE_OLD_BIN`, the
//! release before it, and `CONVERGE_NEW_BIN`) run `diff` and `apply`, fresh and
//! converged, for each seed playbook on two fresh containers of the same name, one each;
//! their JSON reports, masked as the seed baselines are (timings, addresses, package
//! versions, commit and image ids), must be equal. `scripts/differential OLD_COMMIT`
//! builds both and runs it; it is not part of `scripts/test` (it needs the old build).

use std::path::Path;

use converge::sandbox::write_ssh_config;

use crate::kinds::boot;
use crate::support::{Project, copy_playbooks};

/// A seed: its host's name, its playbook, the secrets its runs need.
struct Seed {
    host: &'static str,
    playbook: &'static str,
    env: &'static [(&'static str, &'static str)],
}

fn bin(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run scripts/differential"))
}

fn run(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let out = std::process::Command::new(bin)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{bin} {args:?}: no JSON report ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

fn differential(seed: &Seed) {
    let (old, new) = (bin("CONVERGE_OLD_BIN"), bin("CONVERGE_NEW_BIN"));
    let sides: Vec<_> = [old, new]
        .into_iter()
        .map(|b| {
            let c = boot(seed.host);
            let p = Project::new();
            copy_playbooks(p.path());
            let cfg = write_ssh_config(p.path(), &[(seed.host, &c)]).display().to_string();
            (b, c, p, cfg)
        })
        .collect();
    let playbook = format!("playbooks/{}.kdl", seed.playbook);
    let inventory = format!("playbooks/{}.sandbox.kdl", seed.playbook);
    for (stage, cmd) in [("fresh", "diff"), ("fresh", "apply"), ("converged", "diff"), ("converged", "apply")] {
        let reports: Vec<(i32, String)> = sides
            .iter()
            .map(|(b, c, p, cfg)| {
                let args = [cmd, &playbook, "--inventory", &inventory, "--ssh-config", cfg, "--format", "json"];
                let (code, json) = run(b, p.path(), &args, seed.env);
                (code, crate::seeds::masked(&json, &c.address().to_string()))
            })
            .collect();
        assert_eq!(
            reports[0], reports[1],
            "{}: {stage} {cmd}: the old build (left) and the new one (right) differ",
            seed.playbook
        );
    }
}

#[test]
#[ignore = "needs two builds: scripts/differential OLD_COMMIT"]
fn jacow() {
    differential(&Seed { host: "jacow", playbook: "jacow", env: &[] });
}

#[test]
#[ignore = "needs two builds: scripts/differential OLD_COMMIT"]
fn ramascene() {
    differential(&Seed {
        host: "ramascene",
        playbook: "ramascene",
        env: &[("RAMASCENE_SECRET_KEY", "ramascene-django-key")],
    });
}

#[test]
#[ignore = "needs two builds: scripts/differential OLD_COMMIT"]
fn elife_bot() {
    differential(&Seed {
        host: "elife-bot",
        playbook: "elife-bot",
        env: &[
            ("ELIFE_AWS_ACCESS_KEY_ID", "AKIAEXAMPLEID"),
            ("ELIFE_AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"),
        ],
    });
}

#[test]
#[ignore = "needs two builds: scripts/differential OLD_COMMIT"]
fn kano_konnect() {
    differential(&Seed {
        host: "kano-konnect-webserver",
        playbook: "kano-konnect",
        env: &[("KANO_DB_PASSWORD", "kano-db-S3cret"), ("KANO_DJANGO_SECRET_KEY", "kano-django-key")],
    });
}

#[test]
#[ignore = "needs two builds: scripts/differential OLD_COMMIT"]
fn ranch() {
    differential(&Seed { host: "ranch-869", playbook: "ranch", env: &[] });
}
