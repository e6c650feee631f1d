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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub mod adhoc;
mod facts;

pub use self::facts::gather;
use self::facts::{Facts, merge_pass};
use crate::apply::{self, Step};
use crate::error::{ExchangeError, HostError};
use crate::events::{self, Emitter, Events, What};
use crate::frames::{self, Mark, Nonce};
use crate::graph::{HostGraph, NodeId, PerNode};
use crate::host_facts::{self, HostFacts};
use crate::plan::{self, Again, Changes, HostPlan, NodeState};
use crate::playbook::inventory::{Connection, Host};
pub use crate::prepare::{Job, JobFacts};
use crate::probe;
use crate::report::{self, HostReport, HostStatus, Outcome, ResourceReport};
use crate::resources::mask;
use crate::resources::{Action, Change};
use crate::rounds::{AfterRound, ROUNDS};
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
/// on `events` as they happen; returns once every host is done.
pub async fn run_streamed(jobs: Vec<Job>, opts: &Options, events: Events) {
    let sem = Arc::new(Semaphore::new(opts.forks.max(1)));
    let mut handles = Vec::new();
    for (k, job) in jobs.into_iter().enumerate() {
        let sem = sem.clone();
        let opts = opts.clone();
        let emit = Emitter::new(events.clone(), k, &job.host.name);
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let report = run_host(job, &opts, &emit).await;
            emit.send(What::Done(Box::new(report)));
        }));
    }
    for (k, h) in handles.into_iter().enumerate() {
        if let Err(e) = h.await {
            let mut report = HostReport::new("?".into(), String::new());
            report.status = HostStatus::Failed;
            report.error = Some(format!("internal error: {e}"));
            Emitter::new(events.clone(), k, "?").send(What::Done(Box::new(report)));
        }
    }
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

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

async fn run_host(job: Job, opts: &Options, emit: &Emitter) -> HostReport {
    let started = Instant::now();
    let Job { host, graph, secrets, facts } = job;
    let address = host
        .address
        .clone()
        .unwrap_or_else(|| if host.connection == Connection::Local { "local".into() } else { host.name.clone() });
    let mut report = HostReport::new(host.name.clone(), address);
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

/// A host's status after an apply, from its resources' results: failed if anything
/// failed, was skipped or did not converge; converged if anything changed.
fn applied(report: &HostReport) -> HostStatus {
    let failed = report.error.is_some()
        || report.resources.iter().any(|r| {
            r.error.is_some() || matches!(r.result, Some(Outcome::Failed | Outcome::NotConverged | Outcome::Skipped))
        });
    let changed = report.resources.iter().any(|r| r.result == Some(Outcome::Changed));
    if failed {
        HostStatus::Failed
    } else if changed {
        HostStatus::Converged
    } else {
        HostStatus::InSync
    }
}

/// Apply rounds, each followed by a verify that probes every resource of the host still
/// standing (one exchange, whatever their number); what the verify finds different gets
/// a second round (`rounds.rs` decides which, and why). Each round's outcomes and
/// verdicts go into the report as they come. The verify also reads the host facts the
/// graph depends on again: a step may have changed one (a hostname).
///
/// At most `rounds` rounds: with fewer than [`ROUNDS`] (a saved plan, one round), what the
/// last verify leaves for another round is not applied, and returned (what it is).
#[allow(clippy::too_many_arguments)]
async fn apply_rounds(
    graph: &HostGraph,
    t: &Counted,
    mut plan: HostPlan,
    mut bases: plan::Bases,
    secrets: &[String],
    mut facts: Option<&mut Facts>,
    report: &mut HostReport,
    emit: &Emitter,
    rounds: usize,
) -> Option<String> {
    let names: Vec<&str> =
        if facts.is_some() { graph.facts_read.iter().map(String::as_str).collect() } else { Vec::new() };
    let mut pos: PerNode<usize> = PerNode::new(graph, 0);
    for (k, &i) in graph.order().iter().enumerate() {
        pos[i] = k;
    }
    let mut broken: PerNode<bool> = PerNode::from_fn(graph, |i| plan[i].probe_failed());
    for round in 1..=rounds {
        let phase = Instant::now();
        let nonce = Nonce::random();
        // nothing to apply: the round has nothing to say either
        let script = apply::script(graph, &plan, &bases, &nonce)?;
        emit.send(What::Applying { round, steps: plan.blocks(graph).len() });
        let apply = Apply { graph, plan: &plan, nonce: &nonce, round, pos: &pos, secrets, emit };
        let frames = match apply.exchange(t, &script, report).await {
            Ok(f) => f,
            Err(e) => {
                // no output came back: whether each block ran is unknown, and none is
                // reported in sync
                for i in plan.blocks(graph) {
                    let r = &mut report.resources[pos[i]];
                    r.result = Some(Outcome::Failed);
                    r.error = Some(format!("unknown: the apply was cut off before its result came back ({e})"));
                }
                fail(report, HostError::Apply(e), emit);
                return None;
            }
        };
        report.timings_ms.apply += ms(phase.elapsed());
        let steps = apply::outcomes(graph, &plan, &frames);
        for &i in graph.order() {
            let r = &mut report.resources[pos[i]];
            match &steps[i] {
                Step::Changed => r.result = Some(Outcome::Changed),
                Step::Failed(e) => {
                    r.result = Some(Outcome::Failed);
                    r.error = Some(mask(e, secrets));
                }
                Step::Skipped(cause) => {
                    r.result = Some(Outcome::Skipped);
                    r.error = Some(skipped(graph, *cause));
                }
                // a second round that finds nothing to do keeps the first round's result;
                // stale and waiting nodes are planned again from the verify
                Step::NotRun | Step::Unchanged | Step::Stale | Step::Waiting(_) => {}
            }
        }
        let after = AfterRound::new(graph, &plan, &steps, &mut broken);
        for &(i, cause) in &after.skipped {
            let r = &mut report.resources[pos[i]];
            r.result = Some(Outcome::Skipped);
            r.error = Some(skipped(graph, Some(cause)));
        }
        if after.settled() {
            return None;
        }
        let phase = Instant::now();
        let standing = AfterRound::standing(graph, &broken);
        let last = round == ROUNDS;
        let stop = round == rounds;
        // a refresh is owed again only to a notifier applied again in the next round
        let next_round: &[NodeId] = if last { &[] } else { &standing };
        emit.send(What::Verifying { round });
        let (verified, verified_bases) = match exchange_probe(graph, t, &standing, secrets, &names).await {
            Ok((frames, gathered)) => {
                if let (Some(f), Some(g)) = (facts.as_deref_mut(), gathered) {
                    f.after_run(g, graph, report);
                }
                plan::plan(graph, &standing, &frames, plan::Pass::Verify { again: next_round }, secrets)
            }
            Err(e) => {
                fail(report, HostError::Verify(e), emit);
                return None;
            }
        };
        report.timings_ms.verify += ms(phase.elapsed());
        emit.send(What::Verified { round });
        plan = after.judge(graph, verified, &steps, last);
        bases = verified_bases;
        for &i in &standing {
            verdict(graph, &mut report.resources[pos[i]], &plan[i], secrets);
        }
        if !plan.changes_anything() {
            return None;
        }
        if stop && !last {
            let left: Vec<String> =
                plan.blocks(graph).iter().map(|&i| mask(&graph[i].id.to_string(), secrets)).collect();
            return Some(format!(
                "the verify found more to do ({}), which a saved plan does not cover",
                left.join(", ")
            ));
        }
        // what the second round changes is followed at apply time as in the first (a
        // checkout that moves only now, its requirements installed again)
        plan.mark_rechecks(graph);
    }
    None
}

/// Why a resource was skipped.
fn skipped(graph: &HostGraph, cause: Option<NodeId>) -> String {
    match cause {
        Some(c) => format!("skipped: needs {}, which failed", graph[c].id),
        None => "skipped: a dependency failed".into(),
    }
}

/// What the verify after a round says of a resource, in its report.
fn verdict(graph: &HostGraph, r: &mut ResourceReport, state: &NodeState, secrets: &[String]) {
    match state {
        NodeState::InSync | NodeState::NotProbed => {}
        NodeState::SecondRound { change, because } => second_round(graph, r, change, because),
        NodeState::DidNotConverge { change } => {
            r.result = Some(Outcome::NotConverged);
            let left: Vec<&str> = change.changes.iter().map(Change::field).collect();
            r.error = Some(mask(&format!("did not converge: still differs in {}", left.join(", ")), secrets));
        }
        NodeState::ProbeFailed { error } => {
            r.result = Some(Outcome::NotConverged);
            r.error = Some(format!("could not verify: {error}"));
        }
        // a verify plans no waits and no re-checks
        NodeState::Planned { .. } | NodeState::Deferred { .. } | NodeState::Recheck { .. } => {
            r.result = Some(Outcome::NotConverged);
            r.error = Some("could not verify: planned, not judged".into());
        }
    }
}

/// Shows a resource's second-round plan: what the verify found, and why it is applied
/// again.
fn second_round(graph: &HostGraph, r: &mut ResourceReport, change: &Changes, because: &Again) {
    let changes = change.changes.clone();
    let text = match because {
        Again::Stale => {
            "changed since plan by an earlier step of this run: planned again from the host, applied in a second round"
                .to_string()
        }
        Again::Waiting { on } => {
            format!("waited for {}: planned again from the host, applied in a second round", graph[*on].id)
        }
        Again::Deferred => {
            "planned from the host as the changes it waited for left it; applied in a second round".to_string()
        }
        // notified by a resource applied again: refreshed again after it
        Again::Refreshed => {
            if r.action == Action::Ok {
                r.action = Action::Refresh;
            }
            r.changes.extend(changes);
            return;
        }
        Again::ChangedElsewhere => "changed by another step of this run; applied in a second round".to_string(),
        // its own step ran, and a later step changed it again
        Again::ChangedAgain => {
            r.changes.push(Change::Note(
                "changed again by a later step of this run; applied again in a second round".into(),
            ));
            r.changes.extend(changes);
            return;
        }
    };
    r.action = change.action;
    r.changes = changes;
    r.changes.push(Change::Note(text));
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

/// One apply round's exchange, read as it arrives.
struct Apply<'a> {
    graph: &'a HostGraph,
    plan: &'a HostPlan,
    nonce: &'a Nonce,
    round: usize,
    pos: &'a PerNode<usize>,
    secrets: &'a [String],
    emit: &'a Emitter,
}

impl Apply<'_> {
    /// Sends the apply script and reads its output line by line as the host prints it:
    /// each block's begin and end marker is a "step started" and a "step finished" event
    /// as it arrives, and the time between them is added to the resource's duration in
    /// the report. Returns the frames of the whole output.
    async fn exchange(
        &self,
        t: &Counted,
        script: &str,
        report: &mut HostReport,
    ) -> Result<frames::Frames, ExchangeError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let exchange = async move {
            let out = t.exchange_streamed(script, &tx).await;
            drop(tx);
            out
        };
        let watch = async {
            let mut reader = frames::Reader::new(self.nonce);
            let mut started: std::collections::HashMap<usize, Instant> = Default::default();
            while let Some(line) = rx.recv().await {
                let (i, begins) = match reader.line(&line) {
                    Some(Mark::Begin(i)) => (i, true),
                    Some(Mark::End(i) | Mark::Skipped(i)) => (i, false),
                    None => continue,
                };
                // a host may print any index: only the blocks sent count
                let Some(id) =
                    (i < self.graph.nodes.len()).then_some(NodeId(i)).filter(|&id| self.plan[id].has_block())
                else {
                    continue;
                };
                let resource = self.graph[id].id.to_string();
                if begins {
                    started.insert(i, Instant::now());
                    self.emit.send(What::StepStarted { resource, round: self.round });
                    continue;
                }
                let duration = started.get(&i).map(Instant::elapsed);
                if let Some(d) = duration {
                    let r = &mut report.resources[self.pos[id]];
                    r.duration_ms = Some(r.duration_ms.unwrap_or(0) + ms(d));
                }
                let outcome = match apply::outcome(self.graph, self.plan, id, reader.frames().frames.get(&i)) {
                    Step::Failed(e) => Step::Failed(mask(&e, self.secrets)),
                    other => other,
                };
                self.emit.send(What::StepFinished { resource, round: self.round, outcome, duration });
            }
            reader.finish()
        };
        let (out, frames) = tokio::join!(exchange, watch);
        Ok(out.map(|_| frames)?)
    }
}

fn resource_report(graph: &HostGraph, i: NodeId, state: &NodeState, secrets: &[String]) -> ResourceReport {
    let node = &graph[i];
    let (action, changes, error) = state.shown(graph);
    ResourceReport {
        id: node.id.to_string(),
        kind: node.id.kind.to_string(),
        name: node.id.name.clone(),
        action,
        changes: changes.into_iter().map(|c| c.redacted(secrets)).collect(),
        result: None,
        error: error.map(|e| mask(&e, secrets)),
        duration_ms: None,
        kept_for: node.kept_for.as_ref().map(|k| mask(&k.to_string(), secrets)),
    }
}
