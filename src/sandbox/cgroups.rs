//! One cgroup per container in every mounted hierarchy (`<hier>/converge-testbed/<name>`),
//! so containers never share nspawn's `payload` cgroup, and their removal after stop.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::error::SandboxError;
use super::mounts;

/// The parent group of all sandbox containers in each hierarchy.
const GROUP: &str = "converge-testbed";

/// The mount points of all cgroup (v1) and cgroup2 hierarchies under /sys/fs/cgroup.
pub(crate) fn hierarchies() -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mounts::mount_table()
        .into_iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with("/sys/fs/cgroup"))
        .collect();
    points.sort();
    points.dedup();
    points
}

/// The container's cgroup directory in every hierarchy.
pub(crate) fn dirs_for(name: &str) -> Vec<PathBuf> {
    hierarchies().into_iter().map(|h| h.join(GROUP).join(name)).collect()
}

/// Creates the container's cgroups and returns their directories.
pub(crate) fn create(name: &str) -> Result<Vec<PathBuf>, SandboxError> {
    let mut dirs = Vec::new();
    for hierarchy in hierarchies() {
        let parent = hierarchy.join(GROUP);
        let dir = parent.join(name);
        make_group(&hierarchy, &parent)?;
        make_group(&parent, &dir)?;
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Creates `dir` below `parent`; a new cpuset group starts with no CPUs and memory nodes,
/// which would refuse every process, so it gets its parent's.
fn make_group(parent: &Path, dir: &Path) -> Result<(), SandboxError> {
    fs::create_dir_all(dir).map_err(|e| SandboxError::io(format!("cannot create cgroup {}", dir.display()), e))?;
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = dir.join(file);
        let current = fs::read_to_string(&own).unwrap_or_default();
        if !own.exists() || !current.trim().is_empty() {
            continue;
        }
        let inherited = fs::read_to_string(parent.join(file))
            .map_err(|e| SandboxError::io(format!("cannot read {}", parent.join(file).display()), e))?;
        fs::write(&own, inherited.trim())
            .map_err(|e| SandboxError::io(format!("cannot write {}", own.display()), e))?;
    }
    Ok(())
}

/// Whether any process is still in the container's cgroups (or their sub-groups).
pub(crate) fn has_processes(name: &str) -> bool {
    dirs_for(name).iter().any(|dir| tree_has_processes(dir))
}

fn tree_has_processes(dir: &Path) -> bool {
    let own = fs::read_to_string(dir.join("cgroup.procs"))
        .is_ok_and(|procs| procs.lines().any(|line| !line.trim().is_empty()));
    own || fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .any(|entry| tree_has_processes(&entry.path()))
    })
}

/// Removes the container's cgroups (including sub-groups the container's systemd made),
/// retrying briefly while the last processes finish exiting. Returns what could not go.
pub(crate) fn remove(name: &str) -> Vec<String> {
    dirs_for(name).iter().filter(|dir| dir.exists()).filter_map(|dir| remove_with_retries(dir).err()).collect()
}

fn remove_with_retries(dir: &Path) -> Result<(), String> {
    const ATTEMPTS: u32 = 20;
    let mut last_error = String::new();
    for _ in 0..ATTEMPTS {
        match remove_tree(dir) {
            Ok(()) => return Ok(()),
            Err(e) => last_error = e.to_string(),
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("cannot remove cgroup {}: {last_error}", dir.display()))
}

/// rmdir depth-first: cgroup directories hold only virtual files, so rmdir is the way.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
