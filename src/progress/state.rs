//! The progress of a run as a pure state machine: events in, lines out. Nothing here
//! prints or reads a clock (durations come in the events), so what a person sees is
//! tested by feeding a scripted run and snapshotting the lines.
//!
//! Two renderings of one state:
//!
//! - **live** (a terminal): one line per host at work, redrawn in place, with its phase
//!   (connecting, probing, planning, applying N/M and the step running now, verifying);
//!   a host that is done leaves its line and is counted in the summary line under them
//!   ("2 of 3 hosts done: 1 converged, 1 unreachable"). What must stay on the screen is
//!   printed above them: a failed step, a host that failed, facts gathered; with
//!   `verbose`, every finished step and a failed step's output under it.
//! - **plain** (no terminal: a pipe, a CI log): one line per event worth a line, prefixed
//!   with the host; with `verbose`, a failed step's output under its line, each line of it
//!   prefixed with the host too.
//!
//! The output of a step that succeeded is not sent back by the apply script (a block's
//! output is captured on the host and only a failed block's tail is sent), so `verbose`
//! shows output for failed steps only. Every line is masked with the run's secrets.

use std::collections::BTreeMap;

use crate::apply::Step;
use crate::events::{Event, What};
use crate::report::HostStatus;
use crate::resources::mask;

/// How the progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// On a terminal: lines redrawn in place.
    Live,
    /// Without one: a line per event.
    Plain,
}

/// What one host is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Probing,
    Planning,
    Applying,
    Verifying,
}

#[derive(Debug, Clone)]
struct HostState {
    name: String,
    phase: Phase,
    /// Resources probed.
    resources: usize,
    round: usize,
    /// Steps sent in this round, and how many of them have finished.
    steps: usize,
    finished: usize,
    /// Steps that failed, over every round.
    failed: usize,
    /// The step running now.
    running: Option<String>,
}

/// The progress of a run: the hosts at work, and a tally of those done.
#[derive(Debug, Clone)]
pub struct ProgressState {
    style: Style,
    verbose: bool,
    secrets: Vec<String>,
    /// How many hosts the run has.
    total: usize,
    /// The widest host name, to align live lines.
    width: usize,
    /// Hosts started and not yet done, by job.
    hosts: BTreeMap<usize, HostState>,
    /// Hosts done, by status.
    done: BTreeMap<Tally, usize>,
}

/// A host's status as the summary counts it, in the order it names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tally {
    Converged,
    InSync,
    Changes,
    Failed,
    NeedsNewPlan,
    Unreachable,
    NotRun,
}

impl Tally {
    fn of(status: HostStatus) -> Tally {
        match status {
            HostStatus::Converged => Tally::Converged,
            HostStatus::InSync => Tally::InSync,
            HostStatus::Changes => Tally::Changes,
            HostStatus::Failed => Tally::Failed,
            HostStatus::Unreachable => Tally::Unreachable,
            HostStatus::NeedsNewPlan => Tally::NeedsNewPlan,
            HostStatus::NotRun => Tally::NotRun,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Tally::Converged => "converged",
            Tally::InSync => "in sync",
            Tally::Changes => "with changes pending",
            Tally::Failed => "failed",
            Tally::NeedsNewPlan => "needing a new plan",
            Tally::Unreachable => "unreachable",
            Tally::NotRun => "not run",
        }
    }
}

impl ProgressState {
    /// The progress of a run over `hosts` (their names, in job order); every line is
    /// masked with `secrets`.
    pub fn new(hosts: &[String], style: Style, verbose: bool, secrets: Vec<String>) -> ProgressState {
        ProgressState {
            style,
            verbose,
            secrets,
            total: hosts.len(),
            width: hosts.iter().map(|h| h.chars().count()).max().unwrap_or(0),
            hosts: BTreeMap::new(),
            done: BTreeMap::new(),
        }
    }

    /// Takes one event in; returns the lines it prints for good (above the live lines on a
    /// terminal; every line, without one).
    pub fn feed(&mut self, e: &Event) -> Vec<String> {
        let host = self.hosts.entry(e.job).or_insert_with(|| HostState {
            name: e.host.clone(),
            phase: Phase::Connecting,
            resources: 0,
            round: 1,
            steps: 0,
            finished: 0,
            failed: 0,
            running: None,
        });
        match &e.what {
            What::Connecting => host.phase = Phase::Connecting,
            What::Connected => host.phase = Phase::Probing,
            What::Facts { .. } => {}
            What::Probed { resources } => {
                host.phase = Phase::Planning;
                host.resources = *resources;
            }
            What::Planned { .. } => {}
            What::Applying { round, steps } => {
                host.phase = Phase::Applying;
                host.round = *round;
                host.steps = *steps;
                host.finished = 0;
                host.running = None;
            }
            What::StepStarted { resource, .. } => host.running = Some(resource.clone()),
            What::StepFinished { resource, outcome, .. } => {
                if *outcome != Step::NotRun {
                    host.finished += 1;
                }
                if matches!(outcome, Step::Failed(_)) {
                    host.failed += 1;
                }
                if host.running.as_deref() == Some(resource) {
                    host.running = None;
                }
            }
            What::Verifying { round } => {
                host.phase = Phase::Verifying;
                host.round = *round;
                host.running = None;
            }
            What::Verified { .. } | What::Failed { .. } => {}
            What::Done(report) => {
                self.hosts.remove(&e.job);
                *self.done.entry(Tally::of(report.status)).or_default() += 1;
            }
        }
        let lines = match self.style {
            Style::Plain => self.plain(e),
            Style::Live => self.kept(e),
        };
        lines.into_iter().map(|l| mask(&l, &self.secrets)).collect()
    }

    /// The live line of a host at work (`None` once it is done, or before it starts).
    pub fn line(&self, job: usize) -> Option<String> {
        let h = self.hosts.get(&job)?;
        let again = if h.round > 1 { " (second round)" } else { "" };
        let doing = match h.phase {
            Phase::Connecting => "connecting".to_string(),
            Phase::Probing => "probing".to_string(),
            Phase::Planning => format!("planning ({} resources)", h.resources),
            Phase::Applying => {
                let failed = if h.failed > 0 { format!(", {} failed", h.failed) } else { String::new() };
                let running = h.running.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                format!("applying{again} {}/{}{failed}{running}", h.finished, h.steps)
            }
            Phase::Verifying => format!("verifying{again}"),
        };
        Some(mask(&format!("{:<w$}  {doing}", h.name, w = self.width), &self.secrets))
    }

    /// The summary line: how many hosts are done, and how each ended.
    pub fn summary(&self) -> String {
        let done: usize = self.done.values().sum();
        let hosts = if self.total == 1 { "host" } else { "hosts" };
        let head = if done == self.total {
            format!("{done} {hosts} done")
        } else {
            format!("{done} of {} {hosts} done", self.total)
        };
        let counts: Vec<String> = self.done.iter().map(|(t, n)| format!("{n} {}", t.words())).collect();
        if counts.is_empty() { head } else { format!("{head}: {}", counts.join(", ")) }
    }

    /// What a terminal shows now under the lines printed for good: a line per host at
    /// work, in job order, then the summary.
    pub fn frame(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.hosts.keys().filter_map(|&j| self.line(j)).collect();
        lines.push(self.summary());
        lines
    }

    /// The lines a terminal keeps for an event (printed above the live lines).
    fn kept(&self, e: &Event) -> Vec<String> {
        let host = &e.host;
        match &e.what {
            What::Facts { news } => vec![format!("{host}: facts {news}")],
            What::StepFinished { outcome: Step::Failed(_), .. } => self.step_lines(e),
            What::StepFinished { .. } if self.verbose => self.step_lines(e),
            What::Failed { error } => vec![format!("{host}: {error}")],
            _ => Vec::new(),
        }
    }

    /// The plain lines of an event.
    fn plain(&self, e: &Event) -> Vec<String> {
        let host = &e.host;
        let line = match &e.what {
            What::Connecting | What::Probed { .. } | What::Verifying { .. } => return Vec::new(),
            What::Connected => format!("{host}: connected"),
            What::Facts { news } => format!("{host}: facts {news}"),
            What::Planned { pending } => {
                let of = self.hosts.get(&e.job).map(|h| h.resources).unwrap_or(0);
                if *pending == 0 {
                    format!("{host}: planned: {of} resources, all in sync")
                } else {
                    format!("{host}: planned: {pending} of {of} resources to change")
                }
            }
            What::Applying { round, steps } => {
                let s = if *steps == 1 { "step" } else { "steps" };
                format!("{host}: applying {steps} {s}{}", second(*round))
            }
            What::StepStarted { resource, round } => format!("{host}: {resource} ...{}", second(*round)),
            What::StepFinished { .. } => return self.step_lines(e),
            What::Verified { round } => format!("{host}: verified{}", second(*round)),
            What::Failed { error } => format!("{host}: {error}"),
            What::Done(report) => {
                let status = Tally::of(report.status).words();
                let took = report.timings_ms.total as f64 / 1000.0;
                let x = if report.exchanges == 1 { "exchange" } else { "exchanges" };
                format!("{host}: done: {status} ({} {x}, {took:.1} s)", report.exchanges)
            }
        };
        vec![line]
    }

    /// A finished step's line and, with `verbose`, a failed step's output under it.
    fn step_lines(&self, e: &Event) -> Vec<String> {
        let What::StepFinished { resource, outcome, duration, round } = &e.what else { return Vec::new() };
        let host = &e.host;
        let what = match outcome {
            Step::Changed => "changed",
            Step::Unchanged => "in sync",
            Step::Failed(_) => "FAILED",
            Step::Skipped(_) => "skipped",
            Step::Stale => "changed since plan: planned again",
            Step::Waiting(_) => "waits for a second round",
            Step::NotRun => return Vec::new(),
        };
        let took = duration.map(|d| format!(" ({:.1} s)", d.as_secs_f64())).unwrap_or_default();
        let mut lines = vec![format!("{host}: {resource} {what}{took}{}", second(*round))];
        if let (true, Step::Failed(output)) = (self.verbose, outcome) {
            let prefix = match self.style {
                Style::Plain => format!("{host}:   | "),
                Style::Live => "    | ".to_string(),
            };
            lines.extend(output.lines().map(|l| format!("{prefix}{l}")));
        }
        lines
    }
}

fn second(round: usize) -> &'static str {
    if round > 1 { " (second round)" } else { "" }
}
