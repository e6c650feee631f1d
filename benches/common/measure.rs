//! Running a tool under measurement: wall time and the peak memory of everything it
//! starts, daemons included. The tool runs in a cgroup of its own (cgroup membership
//! survives a double fork, so ssh masters that detach with `-f` still count); a sampler
//! reads the group's processes every 10 ms and sums their RSS, and every 50 ms their PSS
//! (which shares each shared page out among the processes that map it).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The cgroup v1 `pids` hierarchy (or cgroup2) under which each run gets a group.
fn hierarchy() -> PathBuf {
    for p in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
        if Path::new(p).join("cgroup.procs").exists() {
            return PathBuf::from(p);
        }
    }
    panic!("no cgroup hierarchy to measure a process tree in (looked for /sys/fs/cgroup/pids)");
}

static SEQ: AtomicU64 = AtomicU64::new(0);

pub struct Measured {
    pub wall: Duration,
    /// Peak of the summed RSS, KiB.
    pub rss_kb: u64,
    /// Peak of the summed PSS, KiB.
    pub pss_kb: u64,
    pub stdout: String,
    pub stderr: String,
    pub ok: bool,
}

fn field_kb(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn sample(group: &Path, done: &AtomicBool, rss_peak: &AtomicU64, pss_peak: &AtomicU64) {
    let mut tick = 0u64;
    loop {
        let finished = done.load(Ordering::Relaxed);
        let pids = std::fs::read_to_string(group.join("cgroup.procs")).unwrap_or_default();
        let mut rss = 0;
        let mut pss = 0;
        for pid in pids.split_whitespace() {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                rss += field_kb(&status, "VmRSS:");
            }
            if tick.is_multiple_of(5)
                && let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            {
                pss += field_kb(&rollup, "Pss:");
            }
        }
        rss_peak.fetch_max(rss, Ordering::Relaxed);
        pss_peak.fetch_max(pss, Ordering::Relaxed);
        if finished {
            return;
        }
        tick += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `program args` to the end in a cgroup of its own, measuring it.
pub fn run(program: &Path, args: &[String], dir: Option<&Path>, env: &[(String, String)]) -> Measured {
    let group = hierarchy().join("converge-bench").join(format!(
        "{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&group).unwrap_or_else(|e| panic!("cannot make cgroup {}: {e}", group.display()));
    // the shell moves itself into the group, then becomes the tool: nothing escapes
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("echo $$ > \"$0\" && exec \"$@\"").arg(group.join("cgroup.procs")).arg(program).args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let done = Arc::new(AtomicBool::new(false));
    let rss = Arc::new(AtomicU64::new(0));
    let pss = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let sampler = {
        let (g, d, r, p) = (group.clone(), done.clone(), rss.clone(), pss.clone());
        std::thread::spawn(move || sample(&g, &d, &r, &p))
    };
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let errt = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    let status = child.wait().expect("wait");
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let err = errt.join().unwrap_or_default();
    // processes that outlive the tool (persisted ssh masters) keep their group; it is
    // removed by a later run once they are gone
    let _ = std::fs::remove_dir(&group);
    Measured {
        wall,
        rss_kb: rss.load(Ordering::Relaxed),
        pss_kb: pss.load(Ordering::Relaxed),
        stdout: out,
        stderr: err,
        ok: status.success(),
    }
}

/// Removes the groups of earlier runs whose processes have all ended.
pub fn sweep() {
    let parent = hierarchy().join("converge-bench");
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for e in entries.flatten() {
            let _ = std::fs::remove_dir(e.path());
        }
    }
}
