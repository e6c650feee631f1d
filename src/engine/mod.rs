//! The engine: every host through connect → probe → plan → (apply → verify), hosts in
//! parallel, bounded by `--forks`.
//!
//! Per host, the network is touched exactly through the three exchanges: one probe for
//! the whole graph, one apply with only the steps the plan needs (none when nothing
//! differs), one verify that re-probes every resource of the host after any change (and,
//! when the verify finds what another step of the run changed, a second round: one more
//! apply and verify). The engine decides what runs, from
//! the plan; workers never print, they return a [`HostReport`] that one printer renders.
//! A host that cannot be reached is reported while the others converge.
//!
//! Here: the hosts in parallel, connecting, and each host's probe and plan (`converge_host`);
//! `applying.rs`: the apply rounds and their verifies; `facts.rs`: the host facts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub mod adhoc;
mod applying;
pub mod batches;
mod facts;

use self::applying::{applied, apply_rounds};
use self::batches::BatchSize;
pub use self::facts::gather;
use self::facts::{Facts, merge_pass};
use crate::error::{ExchangeError, HostError};
use crate::events::{self, Emitter, Events, What};
use crate::frames::{self, Nonce};
use crate::graph::{HostGraph, NodeId};
use crate::host_facts::{self, HostFacts};
use crate::plan::{self, NodeState};
use crate::playbook::inventory::{Connection, Host};
pub use crate::prepare::{Job, JobFacts};
use crate::probe;
use crate::report::{self, HostReport, HostStatus, Outcome, ResourceReport};
use crate::resources::Action;
use crate::resources::mask;
use crate::rounds::ROUNDS;
use crate::saved_plan::{self, PlanKey, SavedPlan};
use crate::transport::ssh::{self, SshOptions, Target};
use crate::transport::{Counted, Transport, TransportError, local::Local};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Probe and plan only.
    Diff,
    /// Probe, plan, apply, verify.
    Apply,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub ssh: SshOptions,
    pub forks: usize,
    /// Diff: record each host's plan for `--out` with this key. Apply: apply the saved
    /// plan it holds, refusing a host that drifted from it.
    pub plan_file: Option<Arc<PlanFile>>,
    /// Rolling batches (`--serial`): empty, every host in one batch.
    pub serial: Vec<BatchSize>,
    /// The share of a batch that may fail before the rollout stops.
    pub max_fail_percentage: u8,
}

/// A saved plan being made (`diff --out`) or applied (`apply FILE`).
pub struct PlanFile {
    pub key: PlanKey,
    pub saved: Option<SavedPlan>,
}

impl std::fmt::Debug for PlanFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanFile").field("key", &self.key.id()).field("applying", &self.saved.is_some()).finish()
    }
}

/// Runs every job, at most `forks` at once; reports come back in job order.
pub async fn run(jobs: Vec<Job>, opts: &Options) -> Vec<HostReport> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (_, reports) = tokio::join!(run_streamed(jobs, opts, tx), events::collect(rx, |_| {}));
    reports
}

/// Runs every job, at most `forks` at once, sending each host's events (its report last)
/// on `events` as they happen; returns once every host is done. With `--serial`, a batch
/// at a time; a batch that fails beyond `--max-fail-percentage` leaves the hosts after
/// it "not run".
pub async fn run_streamed(jobs: Vec<Job>, opts: &Options, events: Events) {
    let sizes = batches::batches(jobs.len(), &opts.serial);
    let mut jobs = jobs.into_iter().enumerate();
    let mut stopped: Option<String> = None;
    for (b, size) in sizes.iter().enumerate() {
        let batch: Vec<(usize, Job)> = jobs.by_ref().take(*size).collect();
        if let Some(why) = &stopped {
            for (k, job) in batch {
                let mut report = new_report(&job.host);
                report.status = HostStatus::NotRun;
                report.error = Some(why.clone());
                Emitter::new(events.clone(), k, &job.host.name).send(What::Done(Box::new(report)));
            }
            continue;
        }
        let failed = run_batch(batch, opts, &events).await;
        if sizes.len() > 1 && batches::stops(failed.len(), *size, opts.max_fail_percentage) {
            stopped = Some(format!(
                "not run: batch {} of {} failed on {} (more than --max-fail-percentage {}%): the rollout stopped",
                b + 1,
                sizes.len(),
                failed.join(", "),
                opts.max_fail_percentage
            ));
        }
    }
}

/// Runs the jobs of one batch, at most `forks` at once; returns the hosts that failed.
async fn run_batch(batch: Vec<(usize, Job)>, opts: &Options, events: &Events) -> Vec<String> {
    let sem = Arc::new(Semaphore::new(opts.forks.max(1)));
    let mut handles = Vec::new();
    for (k, job) in batch {
        let sem = sem.clone();
        let opts = opts.clone();
        let name = job.host.name.clone();
        let emit = Emitter::new(events.clone(), k, &name);
        let task = tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let report = run_host(job, &opts, &emit).await;
            let failed = report.status.is_failure();
            emit.send(What::Done(Box::new(report)));
            failed
        });
        handles.push((k, name, task));
    }
    let mut failed = Vec::new();
    for (k, name, h) in handles {
        match h.await {
            Ok(false) => {}
            Ok(true) => failed.push(name),
            Err(e) => {
                let mut report = HostReport::new(name.clone(), String::new());
                report.status = HostStatus::Failed;
                report.error = Some(format!("internal error: {e}"));
                Emitter::new(events.clone(), k, &name).send(What::Done(Box::new(report)));
                failed.push(name);
            }
        }
    }
    failed
}

fn target(host: &Host) -> Target {
    Target {
        name: host.name.clone(),
        destination: host.address.clone().unwrap_or_else(|| host.name.clone()),
        port: host.port,
        user: host.user.clone(),
        identity: host.identity.as_deref().map(expand_home),
        become_root: host.become_root,
        become_pass: host.become_pass.as_ref().map(|p| p.0.clone()),
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

async fn connect(host: &Host, opts: &SshOptions) -> Result<Box<dyn Transport>, TransportError> {
    match host.connection {
        Connection::Local => Ok(Box::new(Local {
            become_root: host.become_root,
            become_pass: host.become_pass.as_ref().map(|p| p.0.clone()),
        })),
        Connection::Ssh => Ok(Box::new(ssh::connect(&target(host), opts).await?)),
    }
}

/// A host's report before anything is known, under the address it is reached at.
fn new_report(host: &Host) -> HostReport {
    let address = host
        .address
        .clone()
        .unwrap_or_else(|| if host.connection == Connection::Local { "local".into() } else { host.name.clone() });
    HostReport::new(host.name.clone(), address)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

async fn run_host(job: Job, opts: &Options, emit: &Emitter) -> HostReport {
    let started = Instant::now();
    let Job { host, graph, secrets, facts } = job;
    let mut report = new_report(&host);
    emit.send(What::Connecting);
    let transport = match connect(&host, &opts.ssh).await {
        Ok(t) => Counted::new(t),
        Err(e) => {
            emit.send(What::Failed { error: HostError::Connect(e.clone()) });
            report.status =
                if matches!(e, TransportError::HostKey(_)) { HostStatus::Failed } else { HostStatus::Unreachable };
            report.error = Some(e.to_string());
            report.timings_ms.connect = ms(started.elapsed());
            report.timings_ms.total = report.timings_ms.connect;
            return report;
        }
    };
    report.timings_ms.connect = ms(started.elapsed());
    emit.send(What::Connected);
    let facts = facts.map(|job| Facts::new(job, host.clone()));
    let how = How { mode: opts.mode, plan_file: opts.plan_file.as_deref() };
    converge_over(&graph, facts, transport, how, &secrets, report, emit, started).await
}

/// What a run does to a host: its mode, and the saved plan it makes or applies.
#[derive(Clone, Copy)]
struct How<'a> {
    mode: Mode,
    plan_file: Option<&'a PlanFile>,
}

impl How<'_> {
    fn of(mode: Mode) -> How<'static> {
        How { mode, plan_file: None }
    }
}

/// Runs one host's graph over a transport that is already open (a modelled host in the
/// tests, or any [`Transport`]): probe, plan and, in apply mode, apply and verify, as
/// [`run`] does after connecting. Secrets of the graph's resources are masked, with
/// `secrets`.
pub async fn converge_on(
    name: &str,
    graph: &HostGraph,
    transport: Box<dyn Transport>,
    mode: Mode,
    secrets: &[String],
) -> HostReport {
    let report = HostReport::new(name.to_string(), name.to_string());
    let emit = Emitter::none(name);
    converge_over(graph, None, Counted::new(transport), How::of(mode), secrets, report, &emit, Instant::now()).await
}

/// [`converge_on`] for a whole [`Job`]: with the playbook's facts side, so that the
/// host's facts are gathered, checked and kept as in a run (tests on a modelled host).
pub async fn converge_job_on(job: Job, transport: Box<dyn Transport>, mode: Mode) -> HostReport {
    let Job { host, graph, secrets, facts } = job;
    let report = HostReport::new(host.name.clone(), host.name.clone());
    let emit = Emitter::none(&host.name);
    let facts = facts.map(|job| Facts::new(job, host.clone()));
    converge_over(&graph, facts, Counted::new(transport), How::of(mode), &secrets, report, &emit, Instant::now()).await
}

/// [`converge_host`] over a transport just opened, then closed: the graph's secrets masked
/// with `secrets`, the exchanges counted, the time since `started` the report's total.
#[allow(clippy::too_many_arguments)]
async fn converge_over(
    graph: &HostGraph,
    facts: Option<Facts>,
    transport: Counted,
    how: How<'_>,
    secrets: &[String],
    mut report: HostReport,
    emit: &Emitter,
    started: Instant,
) -> HostReport {
    let mut facts = facts;
    converge_host(graph, facts.as_mut(), &transport, how, secrets, &mut report, emit).await;
    // a step changed a fact the playbook reads, and the playbook expands differently with
    // it: what now differs converges in this run, in one more pass over the new graph
    // (not from a saved plan, which covers only what it saved)
    if let Some(next) = facts.as_mut().and_then(|f| f.pending.take()) {
        if how.plan_file.is_some_and(|p| p.saved.is_some()) {
            needs_new_plan(&mut report, "a step changed a host fact the playbook reads");
        } else {
            let mut again = HostReport::new(report.host.clone(), report.address.clone());
            again.facts = report.facts.clone();
            converge_host(&next, facts.as_mut(), &transport, how, secrets, &mut again, emit).await;
            merge_pass(&mut report, again);
        }
    }
    report.exchanges = transport.count();
    transport.close().await;
    report.timings_ms.total = ms(started.elapsed());
    report
}

/// Probe, plan and, in apply mode, apply and verify, over an open transport. With
/// `facts`, the host's facts decide the graph: gathered first on first contact, checked
/// by the probe against those the graph was expanded with, and the host expanded and
/// probed again when they differ (`Facts`).
async fn converge_host(
    graph: &HostGraph,
    mut facts: Option<&mut Facts>,
    t: &Counted,
    how: How<'_>,
    secrets: &[String],
    report: &mut HostReport,
    emit: &Emitter,
) {
    let mode = how.mode;
    let phase = Instant::now();
    let mut expanded: Option<HostGraph> = None;
    if let Some(f) = facts.as_deref_mut() {
        match f.first_contact(t, report).await {
            Ok(g) => {
                if g.is_some() {
                    emit.send(What::Facts { news: "gathered (first contact)".into() });
                }
                expanded = g
            }
            Err(e) => return fail(report, e, emit),
        }
    }
    let mut tries = 0;
    let (graph, frames) = loop {
        let graph = expanded.as_ref().unwrap_or(graph);
        let all: Vec<NodeId> = graph.order().to_vec();
        let names: Vec<&str> = match facts.as_deref() {
            Some(f) if !f.fresh => graph.facts_read.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let (frames, gathered) = match exchange_probe(graph, t, &all, secrets, &names).await {
            Ok(f) => f,
            Err(e) => return fail(report, HostError::Probe(e), emit),
        };
        let Some(f) = facts.as_deref_mut() else { break (graph, frames) };
        match f.compare(gathered, &graph.facts_read, report) {
            Ok(None) => break (expanded.as_ref().unwrap_or(graph), frames),
            Ok(Some(again)) if tries < 2 => {
                tries += 1;
                emit.send(What::Facts {
                    news: format!("changed since the last run ({}): expanded again", f.last_changed()),
                });
                expanded = Some(again);
            }
            Ok(Some(_)) => return fail(report, HostError::Unsettled(f.last_changed()), emit),
            Err(e) => return fail(report, e, emit),
        }
    };
    let mut secrets = secrets.to_vec();
    secrets.extend(graph.nodes.iter().flat_map(|n| n.res.secrets()));
    let secrets = secrets.as_slice();
    let all: Vec<NodeId> = graph.order().to_vec();
    report.skipped_by_condition = graph
        .skipped
        .iter()
        .map(|s| report::ConditionSkip { id: mask(&s.resource, secrets), when: s.when.clone() })
        .collect();
    report.timings_ms.probe = ms(phase.elapsed());
    emit.send(What::Probed { resources: frames.frames.len() });
    let phase = Instant::now();
    let (plan, bases) = plan::plan(graph, &all, &frames, plan::Pass::First, secrets);
    report.resources = all.iter().map(|&i| resource_report(graph, i, &plan[i], secrets)).collect();
    report.timings_ms.plan = ms(phase.elapsed());
    let probe_failed = report.resources.iter().any(|r| r.error.is_some());
    let pending = report.resources.iter().any(|r| r.action != Action::Ok);
    emit.send(What::Planned { pending: report.resources.iter().filter(|r| r.action != Action::Ok).count() });
    let record = how.plan_file.map(|p| saved_plan::record(&report.host, graph, &plan, &bases, secrets, &p.key));
    let saved = how.plan_file.and_then(|p| p.saved.as_ref());
    if let (Some(saved), Some(now)) = (saved, &record) {
        let drift = match saved.hosts.iter().find(|h| h.host == report.host) {
            Some(planned) => saved_plan::drift(planned, now),
            None => vec!["the host is not in the saved plan".to_string()],
        };
        if !drift.is_empty() {
            let lines: Vec<String> = drift.iter().map(|d| mask(d, secrets)).collect();
            report.status = HostStatus::Failed;
            report.error = Some(format!(
                "refused: the host differs from the saved plan (make a new plan):\n    {}",
                lines.join("\n    ")
            ));
            emit.send(What::Failed { error: HostError::Refused(lines.join("; ")) });
            return;
        }
    }
    if mode == Mode::Diff {
        report.saved = record;
        report.status = if probe_failed {
            HostStatus::Failed
        } else if pending {
            HostStatus::Changes
        } else {
            HostStatus::InSync
        };
        return;
    }
    for r in report.resources.iter_mut().filter(|r| r.error.is_none()) {
        r.result = Some(Outcome::Ok);
    }
    let rounds = if saved.is_some() { 1 } else { ROUNDS };
    let left = apply_rounds(graph, t, plan, bases, secrets, facts, report, emit, rounds).await;
    report.status = applied(report);
    if let Some(left) = left {
        needs_new_plan(report, &left);
    }
}

/// The saved plan's steps are done, and what is left needs planning: the host ends
/// "needs a new plan".
fn needs_new_plan(report: &mut HostReport, why: &str) {
    report.status = HostStatus::NeedsNewPlan;
    let line = format!("needs a new plan: the saved steps ran; {why}");
    report.error = Some(match report.error.take() {
        Some(e) => format!("{e}\n{line}"),
        None => line,
    });
}

/// One probe exchange for `which`, split into frames; with `facts` (names), the host
/// facts too, read from their own frame.
async fn exchange_probe(
    graph: &HostGraph,
    t: &Counted,
    which: &[NodeId],
    secrets: &[String],
    facts: &[&str],
) -> Result<(frames::Frames, Option<HostFacts>), ExchangeError> {
    let nonce = Nonce::random();
    let out = t.exchange(&probe::script(graph, which, &nonce, facts)).await?;
    let mut frames = frames::parse(&out.stdout, &nonce);
    let gathered = frames.frames.remove(&probe::FACTS_FRAME).map(|f| host_facts::parse(&f.body, facts));
    if frames.frames.is_empty() && !which.is_empty() {
        let why = mask(out.stderr.trim(), secrets);
        return Err(ExchangeError::DidNotRun { code: out.code, stderr: why });
    }
    Ok((frames, gathered))
}

fn fail(report: &mut HostReport, error: HostError, emit: &Emitter) {
    report.status = HostStatus::Failed;
    report.error = Some(error.to_string());
    emit.send(What::Failed { error });
}

fn resource_report(graph: &HostGraph, i: NodeId, state: &NodeState, secrets: &[String]) -> ResourceReport {
    let node = &graph[i];
    let (action, changes, error) = state.shown(graph);
    // a name rendered from a secret (`file "/etc/app/{{ token }}.env"`) is shown masked
    ResourceReport {
        id: mask(&node.id.to_string(), secrets),
        kind: node.id.kind.to_string(),
        name: mask(&node.id.name, secrets),
        action,
        changes: changes.into_iter().map(|c| c.redacted(secrets)).collect(),
        result: None,
        error: error.map(|e| mask(&e, secrets)),
        duration_ms: None,
        kept_for: node.kept_for.as_ref().map(|k| mask(&k.to_string(), secrets)),
    }
}
