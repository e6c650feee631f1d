//! Events: what the engine tells its one consumer while a run goes on.
//!
//! Workers never print. Each host's worker sends typed events on a channel as things
//! happen: connecting, connected, probed, planned, an apply round begun (with how many
//! steps it sends), each step started (when its begin marker arrives from the host, while
//! the step runs) and finished (with its outcome and how long it took), a verify begun and
//! verified, failed, and last the host's report. One consumer reads them: [`collect`]
//! builds the run's reports in host order, and the command line shows live progress and
//! writes the `--log` from the same stream (`crate::progress`).

use std::time::Duration;

use tokio::sync::mpsc;

use crate::apply::Step;
use crate::error::HostError;
use crate::report::HostReport;

/// One event of one host.
#[derive(Debug, Clone)]
pub struct Event {
    /// The host's place among the run's jobs.
    pub job: usize,
    pub host: String,
    pub what: What,
}

#[derive(Debug, Clone)]
pub enum What {
    Connecting,
    Connected,
    /// The probe came back: this many resources probed.
    Probed {
        resources: usize,
    },
    /// Planned: this many resources to change (or re-check).
    Planned {
        pending: usize,
    },
    /// An apply round begins: this many steps (blocks) are sent to the host.
    Applying {
        round: usize,
        steps: usize,
    },
    /// A step began to run on the host (its block's begin marker arrived).
    StepStarted {
        resource: String,
        round: usize,
    },
    /// A step ended: what it did, and how long it took from its start to its end as seen
    /// from here (no duration for a step skipped before it started).
    StepFinished {
        resource: String,
        round: usize,
        outcome: Step,
        duration: Option<Duration>,
    },
    /// The verify after an apply round begins (the host is probed again).
    Verifying {
        round: usize,
    },
    /// The verify after an apply round came back.
    Verified {
        round: usize,
    },
    /// The host's facts are news: gathered on first contact, or found changed since the
    /// last run (the host is expanded and probed again).
    Facts {
        news: String,
    },
    /// The host failed as a whole (unreachable, a probe that did not run, a lost apply).
    Failed {
        error: HostError,
    },
    /// The host is done: its report.
    Done(Box<HostReport>),
}

pub type Events = mpsc::UnboundedSender<Event>;

/// Sends one host's events (nowhere, when the run has no consumer).
#[derive(Debug, Clone)]
pub struct Emitter {
    tx: Option<Events>,
    job: usize,
    host: String,
}

impl Emitter {
    pub fn new(tx: Events, job: usize, host: &str) -> Emitter {
        Emitter { tx: Some(tx), job, host: host.to_string() }
    }

    /// An emitter whose events go nowhere.
    pub fn none(host: &str) -> Emitter {
        Emitter { tx: None, job: 0, host: host.to_string() }
    }

    pub fn send(&self, what: What) {
        if let Some(tx) = &self.tx {
            // a consumer that has gone away is no reason to stop converging
            let _ = tx.send(Event { job: self.job, host: self.host.clone(), what });
        }
    }
}

/// Reads events until every sender is gone, handing each to `seen`; returns the hosts'
/// reports in job order.
pub async fn collect(mut rx: mpsc::UnboundedReceiver<Event>, mut seen: impl FnMut(&Event)) -> Vec<HostReport> {
    let mut reports: Vec<(usize, HostReport)> = Vec::new();
    while let Some(e) = rx.recv().await {
        seen(&e);
        if let What::Done(report) = e.what {
            reports.push((e.job, *report));
        }
    }
    reports.sort_by_key(|(job, _)| *job);
    reports.into_iter().map(|(_, r)| r).collect()
}
