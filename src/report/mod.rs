//! The report of a run as data: per host, per resource, what the plan found and what
//! applying it did. Text and JSON are two renderings of it (`render.rs`); nothing here
//! prints.

mod render;

pub use render::{human, json};

use serde::{Deserialize, Serialize};

use crate::resources::{Action, Change};

/// Bumped when the JSON shape changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub command: String,
    pub hosts: Vec<HostReport>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// Everything in sync (diff), or converged with nothing to do (apply).
    InSync,
    /// Changes pending (diff).
    Changes,
    /// Changes applied and verified (apply).
    Converged,
    /// Something failed on this host (a step, a probe, the verify).
    Failed,
    /// No connection could be made.
    Unreachable,
    /// Applied from a saved plan, which did not cover what is left (apply).
    NeedsNewPlan,
    /// Not contacted: an earlier rolling batch (`--serial`) failed (apply).
    NotRun,
}

impl HostStatus {
    /// Whether the host counts as failed (exit 1).
    pub fn is_failure(self) -> bool {
        matches!(self, HostStatus::Failed | HostStatus::Unreachable | HostStatus::NeedsNewPlan | HostStatus::NotRun)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostReport {
    pub host: String,
    pub address: String,
    pub status: HostStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Exchanges made with the host (probe, apply, verify): the round-trip budget.
    pub exchanges: usize,
    pub timings_ms: Timings,
    /// In apply order.
    pub resources: Vec<ResourceReport>,
    /// Resources a `when` left out on this host, in declaration order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_by_condition: Vec<ConditionSkip>,
    /// The host facts the playbook read, when it reads any: where they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<FactsReport>,
    /// What `diff --out` saves of this host (never in the report itself).
    #[serde(skip)]
    pub saved: Option<crate::saved_plan::SavedHost>,
}

/// A resource left out by a condition that is false on the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConditionSkip {
    pub id: String,
    /// The condition, as written.
    pub when: String,
}

/// Where the facts a host's expansion read came from, and what changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FactsReport {
    /// `cache` (kept from an earlier run, and confirmed by the probe), `gathered` (first
    /// contact: an exchange before the probe) or `changed` (the probe found them different
    /// from the cache: expanded and probed again).
    pub source: String,
    /// The facts read, by name.
    pub used: Vec<String>,
    /// sha256 (16 hex digits) of their values.
    pub digest: String,
    /// The facts found different from the cache (before → after).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// The facts a step of this run changed (read again at verify).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_by_run: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    pub connect: u64,
    pub probe: u64,
    pub plan: u64,
    pub apply: u64,
    pub verify: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceReport {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub action: Action,
    pub changes: Vec<Change>,
    /// What applying did (apply only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Outcome>,
    /// Why it failed, was skipped, or could not be probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long its steps ran, from the start of its block to its end as seen by
    /// converge, over every round that applied it (apply only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Under `--tags`: not selected, kept because this selected resource needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_for: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Already in sync: nothing ran.
    Ok,
    /// Changed and verified.
    Changed,
    Failed,
    /// Not run because something it depends on failed.
    Skipped,
    /// Its steps ran but the verify probe still sees a difference.
    NotConverged,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub hosts: usize,
    pub unreachable: usize,
    pub create: usize,
    pub change: usize,
    pub remove: usize,
    pub refresh: usize,
    /// In sync when probed, checked again at apply time (downstream of a change).
    pub recheck: usize,
    pub in_sync: usize,
    pub changed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub not_converged: usize,
}

impl Summary {
    pub fn add_host(&mut self, h: &HostReport) {
        self.hosts += 1;
        if h.status == HostStatus::Unreachable {
            self.unreachable += 1;
        }
        for r in &h.resources {
            self.add_resource(r);
        }
    }

    pub fn add_resource(&mut self, r: &ResourceReport) {
        match r.action {
            // a resource that could not be probed is not known to be in sync
            Action::Ok if r.error.is_some() && r.result.is_none() => {}
            Action::Ok => self.in_sync += 1,
            Action::Create => self.create += 1,
            Action::Change => self.change += 1,
            Action::Remove => self.remove += 1,
            Action::Refresh => self.refresh += 1,
            Action::Recheck => self.recheck += 1,
        }
        match r.result {
            Some(Outcome::Changed) => self.changed += 1,
            Some(Outcome::Failed) => self.failed += 1,
            Some(Outcome::Skipped) => self.skipped += 1,
            Some(Outcome::NotConverged) => self.not_converged += 1,
            Some(Outcome::Ok) | None => {}
        }
        if r.result.is_none() && r.error.is_some() {
            self.failed += 1;
        }
    }

    pub fn pending(&self) -> usize {
        self.create + self.change + self.remove + self.refresh
    }
}

impl HostReport {
    /// A host's report before anything is known: in sync, nothing done yet.
    pub fn new(host: String, address: String) -> HostReport {
        HostReport {
            host,
            address,
            status: HostStatus::InSync,
            error: None,
            exchanges: 0,
            timings_ms: Timings::default(),
            resources: Vec::new(),
            skipped_by_condition: Vec::new(),
            facts: None,
            saved: None,
        }
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.resources {
            s.add_resource(r);
        }
        s
    }
}

impl Report {
    pub fn new(command: &'static str, hosts: Vec<HostReport>) -> Report {
        let mut summary = Summary::default();
        for h in &hosts {
            summary.add_host(h);
        }
        Report { format_version: FORMAT_VERSION, command: command.to_string(), hosts, summary }
    }

    /// Whether any host failed or could not be reached.
    pub fn any_failure(&self) -> bool {
        self.hosts.iter().any(|h| h.status.is_failure())
    }
}
