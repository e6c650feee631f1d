//! Stopping a container's systemd-nspawn (SIGTERM = orderly poweroff, then SIGKILL) and
//! releasing everything its slot holds: NAT rule, veth, overlay mount, cgroups, directories,
//! record. Shared by `Container::stop`, `Drop`, and the cleanup of slots left by dead runs.
//! Every wait is bounded; failures are collected as sentences, never panics.

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use super::cgroups;
use super::command;
use super::mounts;
use super::network;
use super::process;
use super::slots::{self, SlotPaths};

/// How long an orderly poweroff may take before SIGKILL.
pub(crate) const POWEROFF_GRACE: Duration = Duration::from_secs(15);

/// How long to wait for the processes to go after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Stops the nspawn this process started (its [`Child`]), reaping it.
pub(crate) fn stop_child(child: &mut Child, name: &str) -> Result<(), String> {
    let pid = child.id();
    if matches!(child.try_wait(), Ok(Some(_))) {
        return Ok(());
    }
    process::signal(pid, "TERM");
    if let Ok(Some(_)) = command::wait_bounded(child, POWEROFF_GRACE) {
        return Ok(());
    }
    kill_container(pid);
    match command::wait_bounded(child, KILL_GRACE) {
        Ok(Some(_)) => Ok(()),
        _ => Err(format!("systemd-nspawn of {name} (pid {pid}) is still running after SIGTERM and SIGKILL")),
    }
}

/// Powers the container off in order (SIGTERM, which nspawn turns into SIGRTMIN+4) and
/// reaps its nspawn, for a reboot. A container that does not finish within
/// [`POWEROFF_GRACE`] is killed, and that is an error: the poweroff was not orderly.
pub(crate) fn power_off(child: &mut Child, name: &str) -> Result<(), String> {
    let pid = child.id();
    if let Ok(Some(status)) = child.try_wait() {
        return Err(format!("systemd-nspawn of {name} (pid {pid}) had already exited ({status})"));
    }
    process::signal(pid, "TERM");
    if let Ok(Some(_)) = command::wait_bounded(child, POWEROFF_GRACE) {
        return Ok(());
    }
    kill_container(pid);
    let reaped = matches!(command::wait_bounded(child, KILL_GRACE), Ok(Some(_)));
    let grace = POWEROFF_GRACE.as_secs();
    Err(if reaped {
        format!("{name} did not power off within {grace} s and was killed")
    } else {
        format!("systemd-nspawn of {name} (pid {pid}) is still running after SIGTERM and SIGKILL")
    })
}

/// Stops an nspawn recorded by an earlier (dead) run, if the PID still is that nspawn.
fn stop_recorded(pid: u32, name: &str) -> Result<(), String> {
    if !process::is_nspawn_for(pid, name) {
        return Ok(());
    }
    process::signal(pid, "TERM");
    if wait_gone(pid, POWEROFF_GRACE) {
        return Ok(());
    }
    if process::is_nspawn_for(pid, name) {
        kill_container(pid);
    }
    if wait_gone(pid, KILL_GRACE) {
        return Ok(());
    }
    Err(format!(
        "systemd-nspawn of {name} (pid {pid}, left by an earlier run) is still running after SIGTERM and SIGKILL"
    ))
}

/// SIGKILLs the container's init (nspawn's child: its death ends the whole PID namespace)
/// and then nspawn itself.
fn kill_container(nspawn_pid: u32) {
    for child in process::children_of(nspawn_pid) {
        process::signal(child, "KILL");
    }
    process::signal(nspawn_pid, "KILL");
}

/// Polls until `pid` has exited (or is a zombie), for at most `limit`.
fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while process::is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Releases everything slot `number` holds once its nspawn is gone.
pub(crate) fn release_slot(number: u32, nat: bool) -> Vec<String> {
    let paths = SlotPaths::for_slot(number);
    let mut problems = Vec::new();
    if nat {
        problems.extend(network::disable_nat(number, &paths.name).err());
    }
    problems.extend(network::delete_veth(&paths.veth).err());
    problems.extend(mounts::unmount(&paths.root).err());
    problems.extend(cgroups::remove(&paths.name));
    problems.extend(mounts::remove_tree(&paths.overlay_dir).err());
    problems.extend(remove_state_dir(&paths).err());
    problems
}

fn remove_state_dir(paths: &SlotPaths) -> Result<(), String> {
    match std::fs::remove_dir_all(&paths.state_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot delete {}: {e}", paths.state_dir.display()))
        }
        _ => Ok(()),
    }
}

/// Cleans up slot `number` after a run that died holding it (the caller holds its lock):
/// stops the recorded nspawn if it still runs, then releases the rest.
pub(crate) fn reclaim(number: u32) -> Vec<String> {
    let paths = SlotPaths::for_slot(number);
    let record = slots::read_record(number);
    let stopped = match record.as_ref().and_then(|r| r.nspawn_pid) {
        Some(pid) => stop_recorded(pid, &paths.name),
        None => Ok(()),
    };
    if let Err(problem) = stopped {
        // Keep everything (and the record) so a later run can try again.
        return vec![problem];
    }
    if cgroups::has_processes(&paths.name) {
        // Something unrecorded still runs in there (say nspawn started but its PID was
        // never written): never pull the overlay from under it.
        return vec![format!("processes are still running in the cgroups of {}; leaving it alone", paths.name)];
    }
    // Without a record we cannot know whether NAT was on: look for the rule anyway.
    let nat = record.as_ref().is_none_or(|r| r.nat);
    release_slot(number, nat)
}
