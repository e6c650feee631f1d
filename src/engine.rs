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

/// Gathers every fact of each host (one exchange per host, `forks` at once) and keeps
/// them in `cache`: `converge facts`. Results come back in host order.
pub async fn gather(
    hosts: Vec<Host>,
    ssh: &SshOptions,
    forks: usize,
    cache: Option<host_facts::Cache>,
) -> Vec<(Host, Result<HostFacts, HostError>)> {
    let sem = Arc::new(Semaphore::new(forks.max(1)));
    let mut handles = Vec::new();
    for host in hosts {
        let (sem, ssh, cache) = (sem.clone(), ssh.clone(), cache.clone());
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t = match connect(&host, &ssh).await {
                Ok(t) => Counted::new(t),
                Err(e) => return (host, Err(HostError::Connect(e))),
            };
            let gathered = gather_all(&t).await;
            t.close().await;
            if let (Ok(f), Some(c)) = (&gathered, &cache) {
                // a cache that cannot be written only costs the next run an exchange
                let _ = c.save(&host, f);
            }
            (host, gathered)
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        if let Ok(r) = h.await {
            out.push(r);
        }
    }
    out
}

/// Every fact of a host, in one exchange.
async fn gather_all(t: &Counted) -> Result<HostFacts, HostError> {
    let nonce = Nonce::random();
    let out = t.exchange(&probe::facts_script(&nonce)).await.map_err(|e| HostError::Gather(e.into()))?;
    let mut frames = frames::parse(&out.stdout, &nonce);
    match frames.frames.remove(&probe::FACTS_FRAME) {
        Some(frame) => Ok(host_facts::parse(&frame.body, &[])),
        None => {
            let stderr = out.stderr.trim().to_string();
            Err(HostError::Gather(ExchangeError::DidNotRun { code: out.code, stderr }))
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
        Connection::Local => Ok(Box::new(Local { become_root: host.become_root })),
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
    converge_over(&graph, facts, transport, opts.mode, &secrets, report, emit, started).await
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
    converge_over(graph, None, Counted::new(transport), mode, secrets, report, &emit, Instant::now()).await
}

/// [`converge_on`] for a whole [`Job`]: with the playbook's facts side, so that the
/// host's facts are gathered, checked and kept as in a run (tests on a modelled host).
pub async fn converge_job_on(job: Job, transport: Box<dyn Transport>, mode: Mode) -> HostReport {
    let Job { host, graph, secrets, facts } = job;
    let report = HostReport::new(host.name.clone(), host.name.clone());
    let emit = Emitter::none(&host.name);
    let facts = facts.map(|job| Facts::new(job, host.clone()));
    converge_over(&graph, facts, Counted::new(transport), mode, &secrets, report, &emit, Instant::now()).await
}

/// [`converge_host`] over a transport just opened, then closed: the graph's secrets masked
/// with `secrets`, the exchanges counted, the time since `started` the report's total.
#[allow(clippy::too_many_arguments)]
async fn converge_over(
    graph: &HostGraph,
    facts: Option<Facts>,
    transport: Counted,
    mode: Mode,
    secrets: &[String],
    mut report: HostReport,
    emit: &Emitter,
    started: Instant,
) -> HostReport {
    let mut facts = facts;
    converge_host(graph, facts.as_mut(), &transport, mode, secrets, &mut report, emit).await;
    // a step changed a fact the playbook reads, and the playbook expands differently with
    // it: what now differs converges in this run, in one more pass over the new graph
    if let Some(next) = facts.as_mut().and_then(|f| f.pending.take()) {
        let mut again = HostReport::new(report.host.clone(), report.address.clone());
        again.facts = report.facts.clone();
        if let Some(f) = facts.as_mut() {
            f.check_at_probe = false;
        }
        converge_host(&next, facts.as_mut(), &transport, mode, secrets, &mut again, emit).await;
        merge_pass(&mut report, again);
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
    mode: Mode,
    secrets: &[String],
    report: &mut HostReport,
    emit: &Emitter,
) {
    let phase = Instant::now();
    let mut expanded: Option<HostGraph> = None;
    if let Some(f) = facts.as_deref_mut() {
        match f.first_contact(t, report).await {
            Ok(g) => expanded = g,
            Err(e) => return fail(report, e, emit),
        }
    }
    let mut tries = 0;
    let (graph, frames) = loop {
        let graph = expanded.as_ref().unwrap_or(graph);
        let all: Vec<NodeId> = graph.order().to_vec();
        let names: Vec<&str> = match facts.as_deref() {
            Some(f) if f.check_at_probe => graph.facts_read.iter().map(String::as_str).collect(),
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
    if mode == Mode::Diff {
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
    apply_rounds(graph, t, plan, bases, secrets, facts, report, emit).await;
    let failed = report.error.is_some()
        || report.resources.iter().any(|r| {
            r.error.is_some() || matches!(r.result, Some(Outcome::Failed | Outcome::NotConverged | Outcome::Skipped))
        });
    let changed = report.resources.iter().any(|r| r.result == Some(Outcome::Changed));
    report.status = if failed {
        HostStatus::Failed
    } else if changed {
        HostStatus::Converged
    } else {
        HostStatus::InSync
    };
}

/// Apply rounds, each followed by a verify that probes every resource of the host still
/// standing (one exchange, whatever their number); what the verify finds different gets
/// a second round (`rounds.rs` decides which, and why). Each round's outcomes and
/// verdicts go into the report as they come. The verify also reads the host facts the
/// graph depends on again: a step may have changed one (a hostname).
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
) {
    let names: Vec<&str> =
        if facts.is_some() { graph.facts_read.iter().map(String::as_str).collect() } else { Vec::new() };
    let mut pos: PerNode<usize> = PerNode::new(graph, 0);
    for (k, &i) in graph.order().iter().enumerate() {
        pos[i] = k;
    }
    let mut broken: PerNode<bool> = PerNode::from_fn(graph, |i| plan[i].probe_failed());
    for round in 1..=ROUNDS {
        let phase = Instant::now();
        let nonce = Nonce::random();
        let Some(script) = apply::script(graph, &plan, &bases, &nonce) else { return };
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
                return fail(report, HostError::Apply(e), emit);
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
            return;
        }
        let phase = Instant::now();
        let standing = AfterRound::standing(graph, &broken);
        let last = round == ROUNDS;
        // a refresh is owed again only to a notifier applied again in the next round
        let next_round: &[NodeId] = if last { &[] } else { &standing };
        let (verified, verified_bases) = match exchange_probe(graph, t, &standing, secrets, &names).await {
            Ok((frames, gathered)) => {
                if let (Some(f), Some(g)) = (facts.as_deref_mut(), gathered) {
                    f.after_run(g, graph, report);
                }
                plan::plan(graph, &standing, &frames, plan::Pass::Verify { again: next_round }, secrets)
            }
            Err(e) => return fail(report, HostError::Verify(e), emit),
        };
        report.timings_ms.verify += ms(phase.elapsed());
        emit.send(What::Verified { round });
        plan = after.judge(graph, verified, &steps, last);
        bases = verified_bases;
        for &i in &standing {
            verdict(graph, &mut report.resources[pos[i]], &plan[i], secrets);
        }
        if !plan.changes_anything() {
            return;
        }
    }
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

/// One probe exchange for `which`, split into frames.
/// With `facts` (names), the host facts too, read from their own frame.
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

/// The host facts of one host's run: those the graph was expanded with, where they are
/// kept, and how to expand again. Its exchanges are the budget of DESIGN.md §2 plus at
/// most one: a first contact gathers every fact before the probe (2 in all for a no-op);
/// with facts cached, the probe reads the facts used again beside the resources (1 for
/// a no-op), and when they differ the host is expanded with them and probed again (2).
pub struct Facts {
    job: JobFacts,
    host: Host,
    /// The facts the current graph was expanded with.
    current: HostFacts,
    /// Whether the probe must read the facts used (not when they were just gathered).
    check_at_probe: bool,
    changed: Vec<String>,
    /// The graph expanded with facts a step of this run changed, for one more pass.
    pending: Option<HostGraph>,
    /// Whether that pass was made (it is made once).
    passed_again: bool,
}

/// What a graph would do: its resources as built, in order (two expansions with the same
/// fingerprint converge the same).
fn fingerprint(graph: &HostGraph) -> Vec<String> {
    graph.nodes.iter().map(|n| format!("{} {:?}", n.id, n.res)).collect()
}

impl Facts {
    fn new(job: JobFacts, host: Host) -> Facts {
        let current = job.known.clone().unwrap_or_default();
        let check_at_probe = job.known.is_some();
        Facts { job, host, current, check_at_probe, changed: Vec::new(), pending: None, passed_again: false }
    }

    fn save(&self, report: &mut HostReport) {
        let saved = self.job.cache.as_ref().map(|c| c.save(&self.host, &self.current));
        if let (Some(Err(e)), Some(f)) = (saved, report.facts.as_mut()) {
            // only costs the next run an exchange
            f.changed_by_run.push(format!("(the fact cache could not be written: {e})"));
        }
    }

    fn expand(&self) -> Result<HostGraph, HostError> {
        (self.job.expand)(&self.current)
            .map_err(|d| HostError::Expand(crate::diag::render_each(&d, false, 100).trim_end().to_string()))
    }

    fn describe(&self, graph_read: &std::collections::BTreeSet<String>, source: &str) -> report::FactsReport {
        report::FactsReport {
            source: source.into(),
            used: graph_read.iter().cloned().collect(),
            digest: self.current.digest(graph_read),
            changed: self.changed.clone(),
            changed_by_run: Vec::new(),
        }
    }

    /// On first contact (no facts kept), gathers every fact in an exchange of its own and
    /// expands the host with them: the graph to probe.
    async fn first_contact(&mut self, t: &Counted, report: &mut HostReport) -> Result<Option<HostGraph>, HostError> {
        if self.job.known.is_some() || self.passed_again {
            return Ok(None);
        }
        self.current = gather_all(t).await?;
        let graph = self.expand()?;
        report.facts = Some(self.describe(&graph.facts_read, "gathered"));
        self.save(report);
        Ok(Some(graph))
    }

    /// The facts the probe read against those the graph was expanded with: `None` when
    /// they hold, or the graph expanded again with the new values.
    fn compare(
        &mut self,
        gathered: Option<HostFacts>,
        read: &std::collections::BTreeSet<String>,
        report: &mut HostReport,
    ) -> Result<Option<HostGraph>, HostError> {
        let Some(gathered) = gathered.filter(|_| self.check_at_probe) else {
            if report.facts.is_none() {
                report.facts = Some(self.describe(read, "cache"));
            }
            return Ok(None);
        };
        let differ = self.current.differ(&gathered, read);
        if differ.is_empty() {
            if report.facts.is_none() {
                report.facts = Some(self.describe(read, "cache"));
            }
            return Ok(None);
        }
        let before = self.current.clone();
        self.current = self.current.merged(&gathered);
        self.changed.extend(differ.iter().map(|n| format!("{n}: {} → {}", before.show(n), self.current.show(n))));
        let graph = self.expand()?;
        report.facts = Some(self.describe(&graph.facts_read, "changed"));
        self.save(report);
        Ok(Some(graph))
    }

    fn last_changed(&self) -> String {
        self.changed.join("; ")
    }

    /// What the verify read of the facts: one a step changed is kept for the next run,
    /// and the report says so; when the playbook expands differently with it, the new
    /// graph is `pending`, for one more pass in this run (only once: a pass after that
    /// leaves the rest to the next run).
    fn after_run(&mut self, gathered: HostFacts, graph: &HostGraph, report: &mut HostReport) {
        let differ = self.current.differ(&gathered, &graph.facts_read);
        if differ.is_empty() {
            return;
        }
        let before = self.current.clone();
        self.current = self.current.merged(&gathered);
        if let Some(f) = report.facts.as_mut() {
            f.changed_by_run
                .extend(differ.iter().map(|n| format!("{n}: {} → {}", before.show(n), self.current.show(n))));
        }
        self.save(report);
        if !self.passed_again {
            self.passed_again = true;
            match self.expand() {
                Ok(next) if fingerprint(&next) != fingerprint(graph) => self.pending = Some(next),
                Ok(_) => {}
                Err(e) => report.error = Some(e.to_string()),
            }
        }
    }
}

/// Folds the pass made after a step changed the facts into the run's report: what it
/// planned or did replaces the first pass's line for that resource (or is added), what it
/// found in sync leaves the first pass's result, the resources a condition left out are
/// the new expansion's, and the status is judged again over everything.
fn merge_pass(report: &mut HostReport, again: HostReport) {
    for r in again.resources {
        let acted = r.action != Action::Ok || r.error.is_some();
        match report.resources.iter_mut().find(|x| x.id == r.id) {
            Some(x) if acted => *x = r,
            Some(_) => {}
            None => report.resources.push(r),
        }
    }
    report.skipped_by_condition = again.skipped_by_condition;
    if let Some(f) = again.facts {
        report.facts = Some(f);
    }
    if again.error.is_some() {
        report.error = again.error;
    }
    let failed = report.error.is_some()
        || report.resources.iter().any(|r| {
            r.error.is_some() || matches!(r.result, Some(Outcome::Failed | Outcome::NotConverged | Outcome::Skipped))
        });
    let changed = report.resources.iter().any(|r| r.result == Some(Outcome::Changed));
    report.status = match (failed, changed, report.status) {
        (true, _, _) => HostStatus::Failed,
        (false, _, HostStatus::Changes) => HostStatus::Changes,
        (false, true, _) => HostStatus::Converged,
        (false, false, s) => s,
    };
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
