//! `converge sandbox PLAYBOOK`: converge a playbook against local systemd containers
//! that converge boots itself, one per host of the playbook, named like them. Nothing to
//! set up: as root on Debian, the host tools are installed when missing and a Debian root
//! filesystem is built once and cached. The hosts are those of the playbook's inventory,
//! or of `NAME.sandbox.kdl` beside `NAME.kdl` when there is one (an inventory for local
//! containers: say, a group whose variables pick podman over docker); each is reached as
//! `root` over ssh with a throwaway key. The plan and the result are printed, and the
//! containers are torn down, or kept until Ctrl-C with `--keep`.

use std::time::Duration;

use crate::cli::SandboxArgs;
use crate::commands::run::{emit, execute, exit_code};
use crate::engine::{Job, Mode, Options};
use crate::error;
use crate::playbook;
use crate::playbook::inventory::Connection;
use crate::sandbox::{self, Container, ContainerOptions};
use crate::transport::ssh::SshOptions;

pub fn run(args: &SandboxArgs) -> i32 {
    let say = |msg: &str| super::print_err(&format!("sandbox: {msg}\n"), args.no_color);
    // what goes well is progress, which --quiet silences; what goes wrong is always said
    let note = |msg: &str| {
        if !args.progress.quiet {
            say(msg)
        }
    };
    // the whole playbook is checked, for every host, before anything boots
    let inventory = sandbox_inventory(&args.playbook);
    if let Some(inv) = &inventory {
        note(&format!("inventory: {}", inv.display()));
    }
    let loaded = playbook::load_all(&args.playbook, inventory.as_deref());
    let prepared = match loaded.and_then(|(pb, diags)| {
        crate::prepare::prepare_loaded(pb, diags, args.select.limit.as_deref(), &args.select.selection())
    }) {
        Ok(p) => p,
        Err(diags) => {
            super::print_diags(&diags, args.no_color);
            return error::FAILURE;
        }
    };
    let names: Vec<String> = prepared.jobs.iter().map(|j| j.host.name.clone()).collect();
    note(&format!(
        "preparing the container image (the first run builds it under {}, about a minute)",
        sandbox::cache_dir().display()
    ));
    let rootfs = match sandbox::prepare(args.mirror.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            say(&format!("cannot start: {e}"));
            return error::FAILURE;
        }
    };
    let booted: Vec<Result<Container, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let rootfs = &rootfs;
                s.spawn(move || {
                    Container::boot(rootfs, ContainerOptions::new(n.clone())).map_err(|e| format!("{n}: {e}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("boot thread panicked".into()))).collect()
    });
    let mut containers = Vec::new();
    for b in booted {
        match b {
            Ok(c) => {
                note(&format!("booted {} at {} in {:.1} s", c.hostname(), c.address(), c.boot_time().as_secs_f64()));
                containers.push(c);
            }
            Err(e) => say(&format!("cannot boot {e}")),
        }
    }
    let code =
        if containers.len() == names.len() { converge(args, prepared.jobs, &containers) } else { error::FAILURE };
    if args.keep && containers.len() == names.len() {
        keep(args, inventory.as_deref(), &containers, &say);
    }
    for c in containers {
        let name = c.hostname().to_string();
        if let Err(e) = c.stop() {
            say(&format!("stopping {name}: {e}"));
        }
    }
    code
}

/// `NAME.sandbox.kdl` beside `NAME.kdl`: the inventory a playbook's author wrote for local
/// containers (groups and variables a throwaway container needs that production does not).
pub fn sandbox_inventory(playbook: &std::path::Path) -> Option<std::path::PathBuf> {
    let stem = playbook.file_stem()?.to_str()?;
    let path = playbook.with_file_name(format!("{stem}.sandbox.kdl"));
    path.is_file().then_some(path)
}

/// Points every job at its container (root over ssh, with the testbed's key) and applies.
fn converge(args: &SandboxArgs, mut jobs: Vec<Job>, containers: &[Container]) -> i32 {
    let dir = match tempfile::Builder::new().prefix("converge-sandbox").tempdir() {
        Ok(d) => d,
        Err(e) => {
            super::print_err(&format!("sandbox: cannot create a temp dir: {e}\n"), args.no_color);
            return error::FAILURE;
        }
    };
    let addrs: Vec<String> = containers.iter().map(|c| c.address().to_string()).collect();
    for (job, addr) in jobs.iter_mut().zip(&addrs) {
        let h = &mut job.host;
        h.address = Some(addr.clone());
        h.user = Some("root".into());
        h.port = None;
        h.identity = None;
        h.become_root = false;
        h.connection = Connection::Ssh;
    }
    let pairs: Vec<(&str, &Container)> = addrs.iter().map(String::as_str).zip(containers.iter()).collect();
    let ssh_config = match sandbox::try_write_ssh_config(dir.path(), &pairs) {
        Ok(p) => p,
        Err(e) => {
            super::print_err(&format!("sandbox: {e}\n"), args.no_color);
            return error::FAILURE;
        }
    };
    let opts = Options {
        mode: Mode::Apply,
        ssh: SshOptions {
            config_file: Some(ssh_config),
            strict_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            // the containers end with the run
            persist: None,
        },
        forks: 16,
        plan_file: None,
        serial: Vec::new(),
        max_fail_percentage: 0,
    };
    let show = args.progress.show(args.format);
    match execute(jobs, &opts, &show) {
        Ok(report) => {
            emit(&report, args.format, args.no_color);
            exit_code(&report, Mode::Apply)
        }
        Err(e) => {
            super::print_err(&format!("sandbox: {e}\n"), args.no_color);
            error::FAILURE
        }
    }
}

/// Waits for Ctrl-C (or SIGTERM), showing how to reach the containers meanwhile: ssh, and
/// converge itself (an ssh config that names each host as the inventory does, so
/// `converge diff` and `apply` with the sandbox inventory reach the kept containers).
fn keep(args: &SandboxArgs, inventory: Option<&std::path::Path>, containers: &[Container], say: &dyn Fn(&str)) {
    for c in containers {
        say(&format!("{}: ssh -i {} root@{}", c.hostname(), c.key().display(), c.address()));
    }
    let dir = tempfile::Builder::new().prefix("converge-sandbox-kept").tempdir();
    let pairs: Vec<(&str, &Container)> = containers.iter().map(|c| (c.hostname(), c)).collect();
    match dir
        .as_ref()
        .map_err(|e| e.to_string())
        .and_then(|d| sandbox::try_write_ssh_config(d.path(), &pairs).map_err(|e| e.to_string()))
    {
        // the hosts of a sandbox inventory have no address: ssh finds them by name
        Ok(cfg) => match inventory {
            Some(inventory) => say(&format!(
                "converge again: converge diff {} --inventory {} --ssh-config {}",
                args.playbook.display(),
                inventory.display(),
                cfg.display()
            )),
            None => say(&format!("an ssh config naming each host: {}", cfg.display())),
        },
        Err(e) => say(&format!("cannot write an ssh config for the kept containers: {e}")),
    }
    say("containers kept: press Ctrl-C to stop them");
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
    });
}
