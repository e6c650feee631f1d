//! SSH access to containers: the plain `ssh` command the library itself uses (no config
//! files, no known_hosts pollution), and the `ssh_config` handed to converge for its runs.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::container::Container;
use super::error::SandboxError;
use super::host_tools;

/// An `ssh root@address` command with the given key, reading no config file and recording
/// no host key; the remote command is appended by the caller.
pub(crate) fn ssh_command(address: Ipv4Addr, key: &Path) -> Command {
    let mut cmd = host_tools::command("ssh");
    cmd.args(["-F", "none", "-i"])
        .arg(key)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            // A container that dies mid-command must not hang the caller forever.
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
        ])
        .arg(format!("root@{address}"))
        .arg("--");
    cmd
}

/// Writes `dir/ssh_config` with one `Host <alias>` block per container and returns its path.
///
/// Panics with the reason if the file cannot be written (a test helper; see
/// [`try_write_ssh_config`] for the fallible form).
pub fn write_ssh_config(dir: &Path, hosts: &[(&str, &Container)]) -> PathBuf {
    match try_write_ssh_config(dir, hosts) {
        Ok(path) => path,
        Err(e) => panic!("cannot write the sandbox ssh_config: {e}"),
    }
}

/// Writes `dir/ssh_config` (see [`write_ssh_config`]); known host keys go to `dir/known_hosts`.
pub fn try_write_ssh_config(dir: &Path, hosts: &[(&str, &Container)]) -> Result<PathBuf, SandboxError> {
    let known_hosts = dir.join("known_hosts");
    let mut text = String::from("# written by converge's sandbox\n");
    for (alias, container) in hosts {
        text.push_str(&host_block(alias, container.address(), container.key(), &known_hosts));
    }
    let path = dir.join("ssh_config");
    std::fs::write(&path, text).map_err(|e| SandboxError::io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

fn host_block(alias: &str, address: Ipv4Addr, key: &Path, known_hosts: &Path) -> String {
    let mut block = String::new();
    let _ = writeln!(block, "\nHost {alias}");
    let _ = writeln!(block, "    HostName {address}");
    let _ = writeln!(block, "    User root");
    let _ = writeln!(block, "    IdentityFile {}", config_path(key));
    let _ = writeln!(block, "    IdentitiesOnly yes");
    let _ = writeln!(block, "    UserKnownHostsFile {}", config_path(known_hosts));
    let _ = writeln!(block, "    StrictHostKeyChecking accept-new");
    let _ = writeln!(block, "    ConnectTimeout 5");
    let _ = writeln!(block, "    BatchMode yes");
    let _ = writeln!(block, "    LogLevel ERROR");
    block
}

/// A path as ssh_config wants it: double-quoted (paths may hold spaces).
fn config_path(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_block_has_every_option() {
        let block = host_block("web", Ipv4Addr::new(10, 231, 3, 2), Path::new("/k/id"), Path::new("/t/known_hosts"));
        assert_eq!(
            block,
            "\nHost web\n    HostName 10.231.3.2\n    User root\n    IdentityFile \"/k/id\"\n    \
             IdentitiesOnly yes\n    UserKnownHostsFile \"/t/known_hosts\"\n    \
             StrictHostKeyChecking accept-new\n    ConnectTimeout 5\n    BatchMode yes\n    LogLevel ERROR\n"
        );
    }
}
