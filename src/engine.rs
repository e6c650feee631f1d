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

use crate::apply;
use crate::apply::Step;
use crate::frames::{self, Nonce};
use crate::graph::HostGraph;
use crate::plan::{self, NodePlan};
use crate::playbook::inventory::{Connection, Host};
use crate::probe;
use crate::report::{HostReport, HostStatus, Outcome, ResourceReport, Timings};
use crate::resources::{Action, Change, Planned, ResourceId};
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

/// One host and its graph, ready to run.
#[derive(Debug)]
pub struct Job {
    pub host: Host,
    pub graph: HostGraph,
    /// Secret values: masked in everything reported about this host.
    pub secrets: Vec<String>,
}

/// Runs every job, at most `forks` at once; reports come back in job order.
pub async fn run(jobs: Vec<Job>, opts: &Options) -> Vec<HostReport> {
    let sem = Arc::new(Semaphore::new(opts.forks.max(1)));
    let mut handles = Vec::new();
    for job in jobs {
        let sem = sem.clone();
        let opts = opts.clone();
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            run_host(job, &opts).await
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        match h.await {
            Ok(r) => out.push(r),
            Err(e) => out.push(HostReport {
                host: "?".into(),
                address: String::new(),
                status: HostStatus::Failed,
                error: Some(format!("internal error: {e}")),
                exchanges: 0,
                timings_ms: Timings::default(),
                resources: Vec::new(),
            }),
        }
    }
    out
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

/// Replaces every secret value in `text`.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "********");
    }
    out
}

async fn run_host(job: Job, opts: &Options) -> HostReport {
    let started = Instant::now();
    let Job { host, graph, mut secrets } = job;
    secrets.extend(graph.nodes.iter().flat_map(|n| n.res.secrets()));
    let mut report = HostReport {
        host: host.name.clone(),
        address: host
            .address
            .clone()
            .unwrap_or_else(|| if host.connection == Connection::Local { "local".into() } else { host.name.clone() }),
        status: HostStatus::InSync,
        error: None,
        exchanges: 0,
        timings_ms: Timings::default(),
        resources: Vec::new(),
    };
    let transport = match connect(&host, &opts.ssh).await {
        Ok(t) => Counted::new(t),
        Err(e) => {
            report.status =
                if matches!(e, TransportError::HostKey(_)) { HostStatus::Failed } else { HostStatus::Unreachable };
            report.error = Some(e.to_string());
            report.timings_ms.connect = ms(started.elapsed());
            report.timings_ms.total = report.timings_ms.connect;
            return report;
        }
    };
    report.timings_ms.connect = ms(started.elapsed());
    converge_host(&graph, &transport, opts.mode, &secrets, &mut report).await;
    report.exchanges = transport.count();
    transport.close().await;
    report.timings_ms.total = ms(started.elapsed());
    report
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
    let started = Instant::now();
    let mut secrets = secrets.to_vec();
    secrets.extend(graph.nodes.iter().flat_map(|n| n.res.secrets()));
    let mut report = HostReport {
        host: name.to_string(),
        address: name.to_string(),
        status: HostStatus::InSync,
        error: None,
        exchanges: 0,
        timings_ms: Timings::default(),
        resources: Vec::new(),
    };
    let transport = Counted::new(transport);
    converge_host(graph, &transport, mode, &secrets, &mut report).await;
    report.exchanges = transport.count();
    transport.close().await;
    report.timings_ms.total = ms(started.elapsed());
    report
}

/// Probe, plan and, in apply mode, apply and verify, over an open transport.
async fn converge_host(graph: &HostGraph, t: &Counted, mode: Mode, secrets: &[String], report: &mut HostReport) {
    let all: Vec<usize> = graph.order.clone();
    let phase = Instant::now();
    let frames = match exchange_probe(graph, t, &all, secrets).await {
        Ok(f) => f,
        Err(e) => return fail(report, format!("probe: {e}")),
    };
    report.timings_ms.probe = ms(phase.elapsed());
    let phase = Instant::now();
    let mut plans = plan::plan(graph, &all, &frames, plan::Pass::First);
    apply::mark_rechecks(graph, &mut plans);
    report.resources = all.iter().map(|&i| resource_report(graph, i, &plans[i], secrets)).collect();
    report.timings_ms.plan = ms(phase.elapsed());
    let probe_failed = report.resources.iter().any(|r| r.error.is_some());
    let pending = report.resources.iter().any(|r| r.action != Action::Ok);
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
    apply_rounds(graph, t, plans, secrets, report).await;
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

/// How many apply rounds a host may need: the second only re-applies what the verify
/// after the first found different, planned from that verify probe.
const ROUNDS: usize = 2;

/// Why a resource is planned again after an apply round: how its second-round plan is
/// shown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Again {
    /// Its guard found what it would replace changed by an earlier step of the run.
    Stale,
    /// It depends on a stale resource, and waited for it.
    Waiting(ResourceId),
    /// It deferred itself until the changes upstream of it were made (`Diff::deferred`).
    Deferred,
}

/// Apply rounds, each followed by a verify that probes every resource of the host still
/// standing (one exchange, whatever their number): one planned before the round, or not,
/// may have been changed by another step of it (a package creating the default site a
/// later resource wants absent), with no edge declared between them. Whatever the verify
/// finds different gets a second round, planned from the verify probe: resources in
/// sync when probed, resources whose own step ran, resources whose guard found their
/// target changed by an earlier step (stale) and those that waited for them, and
/// resources that deferred themselves; the services they notify are refreshed again
/// after them. What still differs after the second round did not converge. Resources
/// that failed, were skipped by a failure or could not be probed are never planned again.
async fn apply_rounds(
    graph: &HostGraph,
    t: &Counted,
    mut plans: Vec<Option<NodePlan>>,
    secrets: &[String],
    report: &mut HostReport,
) {
    let mut pos = vec![0; graph.nodes.len()];
    for (k, &i) in graph.order.iter().enumerate() {
        pos[i] = k;
    }
    let mut broken: Vec<bool> = plans.iter().map(|p| matches!(p, Some(Err(_)))).collect();
    for round in 1..=ROUNDS {
        let phase = Instant::now();
        let nonce = Nonce::random();
        let Some(script) = apply::script(graph, &plans, &nonce) else { return };
        let out = match t.exchange(&script).await {
            Ok(o) => o,
            Err(e) => return fail(report, format!("apply: {e}")),
        };
        report.timings_ms.apply += ms(phase.elapsed());
        let steps = apply::outcomes(graph, &plans, &frames::parse(&out.stdout, &nonce));
        let mut again: Vec<Option<Again>> = vec![None; graph.nodes.len()];
        let mut acted = false;
        for &i in &graph.order {
            let r = &mut report.resources[pos[i]];
            match &steps[i] {
                Step::NotRun => {}
                Step::Changed => {
                    r.result = Some(Outcome::Changed);
                    acted = true;
                }
                // a second round that finds nothing to do keeps the first round's result
                Step::Unchanged => {}
                Step::Failed(e) => {
                    r.result = Some(Outcome::Failed);
                    r.error = Some(mask(e, secrets));
                    broken[i] = true;
                }
                Step::Skipped(why) => {
                    r.result = Some(Outcome::Skipped);
                    r.error = Some(why.clone());
                    broken[i] = true;
                }
                Step::Stale => again[i] = Some(Again::Stale),
                Step::Waiting(on) => again[i] = Some(Again::Waiting(on.clone())),
            }
        }
        // deferred resources wait for this round; if what they wait for failed, they skip
        for &i in &graph.order {
            if !matches!(&plans[i], Some(Ok(p)) if p.is_deferred()) {
                continue;
            }
            match graph.order.iter().find(|&&b| broken[b] && graph.depends_on(i, b)) {
                Some(&cause) => {
                    let r = &mut report.resources[pos[i]];
                    r.result = Some(Outcome::Skipped);
                    r.error = Some(format!("skipped: needs {}, which failed", graph.nodes[cause].id));
                    broken[i] = true;
                }
                None => again[i] = Some(Again::Deferred),
            }
        }
        if !acted && again.iter().all(Option::is_none) {
            return;
        }
        // whether a block after each node (in apply order) ran and may have changed it
        let mut changed_after = vec![false; graph.nodes.len()];
        let mut seen = false;
        for &i in graph.order.iter().rev() {
            changed_after[i] = seen;
            seen |= matches!(steps[i], Step::Changed | Step::Failed(_));
        }
        let phase = Instant::now();
        let standing: Vec<usize> = graph.order.iter().copied().filter(|&i| !broken[i]).collect();
        let last = round == ROUNDS;
        // a refresh is owed again only to a notifier applied again in the next round
        let next_round: &[usize] = if last { &[] } else { &standing };
        let verified = match exchange_probe(graph, t, &standing, secrets).await {
            Ok(frames) => plan::plan(graph, &standing, &frames, plan::Pass::Verify { again: next_round }),
            Err(e) => return fail(report, format!("verify: {e}")),
        };
        report.timings_ms.verify += ms(phase.elapsed());
        let mut next: Vec<Option<NodePlan>> = vec![None; graph.nodes.len()];
        for &i in &standing {
            let r = &mut report.resources[pos[i]];
            match &verified[i] {
                Some(Ok(p)) if p.diff.is_ok() => {}
                // a refresh owed only to notifiers that are not applied again (their own
                // step did not hold): done already, in this round
                Some(Ok(p))
                    if p.diff.action == Action::Refresh
                        && again[i].is_none()
                        && !graph.notifiers(i).any(|j| next[j].is_some()) => {}
                // its own step ran this round and nothing after it did: it did not hold
                Some(Ok(p)) if !last && (again[i].is_some() || steps[i] == Step::NotRun || changed_after[i]) => {
                    second_round(r, p, again[i].as_ref(), secrets);
                    next[i] = Some(Ok(p.clone()));
                }
                Some(Ok(p)) => {
                    r.result = Some(Outcome::NotConverged);
                    let left: Vec<String> = p.diff.changes.iter().map(|c| c.field().to_string()).collect();
                    r.error = Some(mask(&format!("did not converge: still differs in {}", left.join(", ")), secrets));
                }
                other => {
                    let e = match other {
                        Some(Err(e)) => e.as_str(),
                        _ => "no verify output",
                    };
                    r.result = Some(Outcome::NotConverged);
                    r.error = Some(mask(&format!("could not verify: {e}"), secrets));
                }
            }
        }
        if next.iter().all(Option::is_none) {
            return;
        }
        plans = next;
    }
}

/// Shows a resource's second-round plan: what the verify found, and why it is applied
/// again.
fn second_round(r: &mut ResourceReport, p: &Planned, again: Option<&Again>, secrets: &[String]) {
    let changes: Vec<Change> = p.diff.changes.iter().cloned().map(|c| c.redacted(secrets)).collect();
    let note = Change::Note;
    let refresh_only = p.diff.action == Action::Refresh;
    match again {
        Some(why) => {
            let text = match why {
                Again::Stale => {
                    "changed since plan by an earlier step of this run: planned again from the host, applied in a second round".to_string()
                }
                Again::Waiting(on) => {
                    format!("waited for {on}: planned again from the host, applied in a second round")
                }
                Again::Deferred => {
                    "planned from the host as the changes it waited for left it; applied in a second round".to_string()
                }
            };
            r.action = p.diff.action;
            r.changes = changes;
            r.changes.push(note(text));
        }
        // notified by a resource applied again: refreshed again after it
        None if refresh_only => {
            if r.action == Action::Ok {
                r.action = Action::Refresh;
            }
            r.changes.extend(changes);
        }
        // no step of its own ran: another step of the run changed it
        None if r.result != Some(Outcome::Changed) => {
            r.action = p.diff.action;
            r.changes = changes;
            r.changes.push(note("changed by another step of this run; applied in a second round".into()));
        }
        // its own step ran, and a later step changed it again
        None => {
            r.changes.push(note("changed again by a later step of this run; applied again in a second round".into()));
            r.changes.extend(changes);
        }
    }
}

/// One probe exchange for `which`, split into frames.
async fn exchange_probe(
    graph: &HostGraph,
    t: &Counted,
    which: &[usize],
    secrets: &[String],
) -> Result<frames::Frames, String> {
    let nonce = Nonce::random();
    let out = t.exchange(&probe::script(graph, which, &nonce)).await.map_err(|e| e.to_string())?;
    let frames = frames::parse(&out.stdout, &nonce);
    if frames.frames.is_empty() {
        let why = mask(out.stderr.trim(), secrets);
        return Err(format!("the probe did not run (exit status {:?}): {why}", out.code));
    }
    Ok(frames)
}

fn fail(report: &mut HostReport, error: String) {
    report.status = HostStatus::Failed;
    report.error = Some(error);
}

fn resource_report(graph: &HostGraph, i: usize, plan: &Option<NodePlan>, secrets: &[String]) -> ResourceReport {
    let node = &graph.nodes[i];
    let (action, changes, error) = match plan {
        Some(Ok(p)) => (p.diff.action, p.diff.changes.clone(), None),
        Some(Err(e)) => (Action::Ok, Vec::new(), Some(mask(e, secrets))),
        None => (Action::Ok, Vec::new(), Some("not probed".into())),
    };
    let changes = changes.into_iter().map(|c| c.redacted(secrets)).collect();
    ResourceReport {
        id: node.id.to_string(),
        kind: node.id.kind.to_string(),
        name: node.id.name.clone(),
        action,
        changes,
        result: None,
        error,
    }
}
