//! The host programs the sandbox drives (debootstrap, systemd-nspawn, ip, ssh, iptables, ...):
//! finding them, and installing the missing ones with apt-get when running as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::SandboxError;

/// Each program the sandbox runs, with the Debian package that ships it.
const TOOLS: &[(&str, &str)] = &[
    ("debootstrap", "debootstrap"),
    ("systemd-nspawn", "systemd-container"),
    ("ip", "iproute2"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("iptables", "iptables"),
    ("kill", "procps"),
    ("setsid", "util-linux"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("chroot", "coreutils"),
];

/// Directories searched after `$PATH`: an unprivileged PATH often lacks the sbin ones.
const EXTRA_DIRS: &[&str] = &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// Makes sure every program the sandbox needs is installed.
///
/// Missing ones are installed with `apt-get update && apt-get install -y ...` when this
/// process is root (saying so on stderr); otherwise the error names the command to run.
pub fn ensure_host_tools() -> Result<(), SandboxError> {
    let missing = missing_tools();
    if missing.is_empty() {
        return Ok(());
    }
    let tools: Vec<String> = missing.iter().map(|(tool, _)| tool.to_string()).collect();
    let packages = packages_for(&missing);
    let uid = current_uid();
    if uid != 0 {
        return Err(SandboxError::MissingHostTools { tools, packages });
    }
    eprintln!(
        "converge sandbox: {} missing; installing with: apt-get update && apt-get install -y {}",
        tools.join(", "),
        packages.join(" ")
    );
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(packages.iter().map(String::as_str));
    apt_get(&install)?;
    let still_missing = missing_tools();
    if still_missing.is_empty() {
        return Ok(());
    }
    Err(SandboxError::MissingHostTools {
        tools: still_missing.iter().map(|(tool, _)| tool.to_string()).collect(),
        packages: packages_for(&still_missing),
    })
}

/// The full path of a host program, searching `$PATH` and the usual sbin directories;
/// falls back to the bare name so the spawn error names it.
pub(crate) fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| PathBuf::from(name))
}

/// A [`Command`] for a host program found with [`tool`].
pub(crate) fn command(name: &str) -> Command {
    Command::new(tool(name))
}

/// The numeric user id of this process, read from /proc (no libc needed).
pub(crate) fn current_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Fails with a clear sentence unless this process is root.
pub(crate) fn require_root(what: &str) -> Result<(), SandboxError> {
    match current_uid() {
        0 => Ok(()),
        uid => Err(SandboxError::NotRoot { what: what.to_string(), uid }),
    }
}

fn missing_tools() -> Vec<(&'static str, &'static str)> {
    TOOLS.iter().copied().filter(|(name, _)| find_tool(name).is_none()).collect()
}

fn packages_for(tools: &[(&str, &str)]) -> Vec<String> {
    let mut packages: Vec<String> = tools.iter().map(|(_, package)| package.to_string()).collect();
    packages.sort();
    packages.dedup();
    packages
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Runs apt-get with its output on our stderr, so the person sees what is installed.
fn apt_get(args: &[&str]) -> Result<(), SandboxError> {
    let mut cmd = command("apt-get");
    cmd.args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .stderr(std::io::stderr());
    let what = format!("installing host tools (apt-get {})", args.join(" "));
    let status = cmd.status().map_err(|e| SandboxError::io(format!("{what}: cannot run apt-get"), e))?;
    if status.success() {
        return Ok(());
    }
    Err(SandboxError::Command {
        what,
        command: super::command::describe(&cmd),
        status: status.to_string(),
        output_tail: "(apt-get's output is above on stderr)".to_string(),
    })
}
