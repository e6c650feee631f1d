//! Container slots 1..=200: slot K is held through an exclusive lock on
//! `/run/converge-testbed/slot-K.lock` for the container's lifetime, so processes never
//! collide; its record in `/run/converge-testbed/cvgK/` lets a later run clean up after one
//! that died.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::SandboxError;
use super::network;
use super::teardown;

/// The highest slot number (slot K owns 10.231.K.0/24).
pub const MAX_SLOTS: u32 = 200;

/// Where slot locks and container records live.
pub const RUN_DIR: &str = "/run/converge-testbed";

/// Where the containers' overlay directories live.
pub const OVERLAY_BASE: &str = "/var/tmp/converge-testbed";

/// A slot this process holds; the lock is released when it is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    number: u32,
    _lock: File,
}

impl Slot {
    pub(crate) fn number(&self) -> u32 {
        self.number
    }

    pub(crate) fn paths(&self) -> SlotPaths {
        SlotPaths::for_slot(self.number)
    }
}

/// Every path that belongs to one slot.
#[derive(Debug, Clone)]
pub(crate) struct SlotPaths {
    pub(crate) name: String,
    pub(crate) veth: String,
    pub(crate) state_dir: PathBuf,
    pub(crate) record: PathBuf,
    pub(crate) console_log: PathBuf,
    pub(crate) overlay_dir: PathBuf,
    pub(crate) upper: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) root: PathBuf,
}

impl SlotPaths {
    pub(crate) fn for_slot(number: u32) -> Self {
        let name = machine_name(number);
        let state_dir = Path::new(RUN_DIR).join(&name);
        let overlay_dir = Path::new(OVERLAY_BASE).join(&name);
        SlotPaths {
            veth: network::veth_name(&name),
            record: state_dir.join("record.json"),
            console_log: state_dir.join("console.log"),
            upper: overlay_dir.join("upper"),
            work: overlay_dir.join("work"),
            root: overlay_dir.join("root"),
            state_dir,
            overlay_dir,
            name,
        }
    }

    /// Whether anything of an earlier container in this slot is still around.
    fn has_leftovers(&self) -> bool {
        self.state_dir.exists() || self.overlay_dir.exists() || network::interface_exists(&self.veth)
    }
}

/// The machine name of slot `number`: short, because interface names are cut at 15 chars.
pub(crate) fn machine_name(number: u32) -> String {
    format!("cvg{number}")
}

/// What a running container leaves in `/run/converge-testbed/cvgK/record.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) slot: u32,
    pub(crate) name: String,
    pub(crate) hostname: String,
    pub(crate) address: String,
    pub(crate) owner_pid: u32,
    pub(crate) nspawn_pid: Option<u32>,
    pub(crate) nat: bool,
    pub(crate) veth: String,
    pub(crate) lower: PathBuf,
    pub(crate) upper: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) console_log: PathBuf,
    pub(crate) cgroups: Vec<PathBuf>,
}

/// Writes the record atomically (temp file + rename).
pub(crate) fn write_record(paths: &SlotPaths, record: &Record) -> Result<(), SandboxError> {
    let what = || format!("cannot write container record {}", paths.record.display());
    fs::create_dir_all(&paths.state_dir).map_err(|e| SandboxError::io(what(), e))?;
    let text = serde_json::to_string_pretty(record).map_err(|e| SandboxError::io(what(), std::io::Error::other(e)))?;
    let temp = paths.record.with_extension("json.tmp");
    fs::write(&temp, text).and_then(|()| fs::rename(&temp, &paths.record)).map_err(|e| SandboxError::io(what(), e))
}

/// The record of slot `number`, if there is a readable one.
pub(crate) fn read_record(number: u32) -> Option<Record> {
    let text = fs::read_to_string(SlotPaths::for_slot(number).record).ok()?;
    serde_json::from_str(&text).ok()
}

/// Takes the lowest free slot, first cleaning up whatever a dead earlier run left in it.
pub(crate) fn acquire() -> Result<Slot, SandboxError> {
    fs::create_dir_all(RUN_DIR).map_err(|e| SandboxError::io(format!("cannot create {RUN_DIR}"), e))?;
    for number in 1..=MAX_SLOTS {
        let Some(lock) = try_lock_slot(number)? else {
            continue;
        };
        let paths = SlotPaths::for_slot(number);
        if paths.has_leftovers() {
            let problems = teardown::reclaim(number);
            if !problems.is_empty() {
                eprintln!(
                    "converge sandbox: skipping slot {number}, its leftovers could not be cleaned: {}",
                    problems.join("; ")
                );
                continue;
            }
        }
        return Ok(Slot { number, _lock: lock });
    }
    Err(SandboxError::NoFreeSlot { max: MAX_SLOTS, dir: PathBuf::from(RUN_DIR) })
}

/// The locked lock file of slot `number`, or `None` if another holder has it.
fn try_lock_slot(number: u32) -> Result<Option<File>, SandboxError> {
    let path = Path::new(RUN_DIR).join(format!("slot-{number}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| SandboxError::io(format!("cannot open slot lock {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(SandboxError::io(format!("cannot lock slot {}", path.display()), e)),
    }
}

/// Cleans up every slot whose container was left behind by a run that died (its lock is
/// free but its record, overlay or veth remain). Returns one line per slot cleaned or not.
pub fn reap_stale() -> Vec<String> {
    let mut report = Vec::new();
    for number in 1..=MAX_SLOTS {
        let paths = SlotPaths::for_slot(number);
        if !paths.has_leftovers() {
            continue;
        }
        let Ok(Some(_lock)) = try_lock_slot(number) else {
            continue;
        };
        let problems = teardown::reclaim(number);
        if problems.is_empty() {
            report.push(format!("cleaned up {} left by an earlier run", paths.name));
        } else {
            report.push(format!("could not clean up {}: {}", paths.name, problems.join("; ")));
        }
    }
    report
}
