//! Reading the mount table (/proc/self/mountinfo) and mounting/unmounting the per-container
//! overlayfs, with bounded retries and a lazy unmount as the last resort.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::command;
use super::error::SandboxError;
use super::host_tools;

/// One entry of /proc/self/mountinfo that the sandbox cares about.
pub(crate) struct MountEntry {
    pub(crate) mount_point: PathBuf,
    pub(crate) fs_type: String,
}

/// The current mount table; empty if it cannot be read.
pub(crate) fn mount_table() -> Vec<MountEntry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// Parses `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let (before, after) = line.split_once(" - ")?;
    let mount_point = before.split(' ').nth(4)?;
    let fs_type = after.split(' ').next()?;
    Some(MountEntry { mount_point: PathBuf::from(unescape(mount_point)), fs_type: fs_type.to_string() })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4).filter(|_| bytes[i] == b'\\');
        let decoded = escape
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether something is mounted exactly at `path`.
pub(crate) fn is_mount_point(path: &Path) -> bool {
    mount_table().iter().any(|m| m.mount_point == path)
}

/// Whether anything is mounted at `path` or below it.
pub(crate) fn has_mounts_under(path: &Path) -> bool {
    mount_table().iter().any(|m| m.mount_point.starts_with(path))
}

/// Mounts an overlayfs at `target` with `lower` as its read-only base.
pub(crate) fn mount_overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<(), SandboxError> {
    for dir in [lower, upper, work] {
        let text = dir.to_string_lossy();
        if text.contains(',') || text.contains(':') {
            return Err(SandboxError::UnusablePath(dir.to_path_buf()));
        }
    }
    let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    let mut cmd = host_tools::command("mount");
    cmd.args(["-t", "overlay", "overlay", "-o", &options]).arg(target);
    command::run("mounting the container's overlay root", &mut cmd)?;
    Ok(())
}

/// Unmounts `target` (if mounted), retrying a few times while it is busy and detaching it
/// lazily as the last resort. Returns a description of the failure, if any.
pub(crate) fn unmount(target: &Path) -> Result<(), String> {
    const ATTEMPTS: u32 = 5;
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        if !is_mount_point(target) {
            return Ok(());
        }
        let mut cmd = host_tools::command("umount");
        cmd.arg(target);
        match command::run("unmounting the overlay", &mut cmd) {
            Ok(_) => return Ok(()),
            Err(e) => last_error = e.to_string(),
        }
        thread::sleep(Duration::from_millis(200 * u64::from(attempt + 1)));
    }
    let mut lazy = host_tools::command("umount");
    lazy.arg("-l").arg(target);
    if command::run("lazily unmounting the overlay", &mut lazy).is_ok() && !is_mount_point(target) {
        return Ok(());
    }
    Err(format!(
        "{} is still mounted after {ATTEMPTS} unmount attempts and a lazy unmount ({last_error})",
        target.display()
    ))
}

/// Unmounts everything mounted at or below `dir`, deepest first (used before deleting a
/// directory tree, so the deletion can never reach into a mounted file system).
pub(crate) fn unmount_all_under(dir: &Path) -> Result<(), String> {
    let mut points: Vec<PathBuf> =
        mount_table().into_iter().map(|m| m.mount_point).filter(|p| p.starts_with(dir)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points.iter().try_for_each(|p| unmount(p))
}

/// Deletes a directory tree, but only if nothing is mounted inside it.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    unmount_all_under(dir)?;
    if has_mounts_under(dir) {
        return Err(format!("{} still has mounts inside; not deleting it", dir.display()));
    }
    std::fs::remove_dir_all(dir).map_err(|e| format!("cannot delete {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escaped_space() {
        let line = "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - overlay overlay rw,lowerdir=/x";
        let entry = parse_mountinfo_line(line).expect("parses");
        assert_eq!(entry.mount_point, PathBuf::from("/mnt/a b"));
        assert_eq!(entry.fs_type, "overlay");
    }

    #[test]
    fn parses_line_with_optional_fields() {
        let line = "25 1 0:22 / /sys/fs/cgroup/cpu rw shared:9 master:2 - cgroup cgroup rw,cpu";
        let entry = parse_mountinfo_line(line).expect("parses");
        assert_eq!(entry.mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(entry.fs_type, "cgroup");
    }
}
