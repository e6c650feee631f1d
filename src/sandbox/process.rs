//! Looking at and signalling processes by PID through /proc and the `kill` program: the
//! sandbox only ever signals the systemd-nspawn PIDs it recorded and their direct children.

use std::path::Path;
use std::process::Stdio;

use super::host_tools;

/// Whether `pid` exists and has not exited (a zombie counts as exited).
pub(crate) fn is_alive(pid: u32) -> bool {
    match state(pid) {
        Some(state) => state != 'Z' && state != 'X',
        None => false,
    }
}

/// The one-letter state from /proc/PID/stat (`R`, `S`, `Z`, ...).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    after_comm(&stat)?.chars().next()
}

/// The fields of /proc/PID/stat after `(comm)`, which may itself hold spaces and parens.
fn after_comm(stat: &str) -> Option<&str> {
    let end = stat.rfind(')')?;
    stat.get(end + 1..).map(str::trim_start)
}

/// The parent PID from /proc/PID/stat.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    after_comm(&stat)?.split_whitespace().nth(1)?.parse().ok()
}

/// The argument vector of `pid`, or `None` if it is gone.
pub(crate) fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    Some(args)
}

/// Whether `pid` is a live systemd-nspawn started for machine `name` (`-M name`).
pub(crate) fn is_nspawn_for(pid: u32, name: &str) -> bool {
    let Some(args) = cmdline(pid) else {
        return false;
    };
    is_nspawn_cmdline(&args, name) && is_alive(pid)
}

fn is_nspawn_cmdline(args: &[String], name: &str) -> bool {
    let is_nspawn =
        args.first().and_then(|arg0| Path::new(arg0).file_name()).is_some_and(|file| file == "systemd-nspawn");
    let names_machine = args.windows(2).any(|pair| pair[0] == "-M" && pair[1] == name);
    is_nspawn && names_machine
}

/// The live direct children of `pid` (for nspawn: the container's init).
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&candidate| parent_of(candidate) == Some(pid) && is_alive(candidate))
        .collect()
}

/// Sends `signal` (a name such as `TERM` or `KILL`) to exactly `pid`.
pub(crate) fn signal(pid: u32, signal: &str) -> bool {
    host_tools::command("kill")
        .args(["-s", signal, "--", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn recognises_only_nspawn_for_the_right_machine() {
        let ours = args(&["/usr/bin/systemd-nspawn", "-q", "-b", "-D", "/x", "-M", "cvg7"]);
        assert!(is_nspawn_cmdline(&ours, "cvg7"));
        assert!(!is_nspawn_cmdline(&ours, "cvg70"));
        let other = args(&["/bin/sleep", "-M", "cvg7"]);
        assert!(!is_nspawn_cmdline(&other, "cvg7"));
    }

    #[test]
    fn parses_stat_with_odd_comm() {
        let stat = "42 (a) b (c)) S 7 42 42 0 -1";
        assert_eq!(after_comm(stat).and_then(|s| s.chars().next()), Some('S'));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(std::process::id()));
    }
}
