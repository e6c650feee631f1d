//! The engine: every host through connect → probe → plan → (apply → verify), hosts in
//! parallel, bounded by `--forks`.
//!
//! Per host, the network is touched exactly through the three exchanges: one probe for
//! the whole graph, one apply with only the steps the plan needs (none when nothing
//! differs), one verify that re-probes what changed. The engine decides what runs, from
//! the plan; workers never print, they return a [`HostReport`] that one printer renders.
//! A host that cannot be reached is reported while the others converge.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::apply;
use crate::frames::{self, Nonce};
use crate::graph::HostGraph;
use crate::plan::{HostReport, HostStatus, Outcome, ResourceReport, Timings};
use crate::playbook::inventory::{Connection, Host};
use crate::probe::{self, NodePlan};
use crate::resources::{Action, Content};
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
    let mut plans = probe::plan(graph, &all, &frames, probe::Pass::First);
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

/// How many apply rounds a host may need: the second only re-applies resources that an
/// earlier step of the same run changed after they were probed.
const ROUNDS: usize = 2;

/// Apply, then verify what changed and what lies downstream of it. A resource that was in
/// sync when probed but was changed by another step of the run (and whose kind cannot
/// re-check at apply time), or that deferred itself until its upstream changes were made,
/// gets one more round, planned from the verify probe; the services it notifies are
/// probed with it and refreshed again after it.
async fn apply_rounds(
    graph: &HostGraph,
    t: &Counted,
    mut plans: Vec<Option<NodePlan>>,
    secrets: &[String],
    report: &mut HostReport,
) {
    let all = graph.order.clone();
    let pos: Vec<usize> = {
        let mut p = vec![0; graph.nodes.len()];
        for (k, &i) in all.iter().enumerate() {
            p[i] = k;
        }
        p
    };
    let mut broken: Vec<usize> = (0..graph.nodes.len()).filter(|&i| matches!(plans[i], Some(Err(_)))).collect();
    for round in 1..=ROUNDS {
        let phase = Instant::now();
        let nonce = Nonce::random();
        let Some(script) = apply::script(graph, &plans, &nonce) else { return };
        let out = match t.exchange(&script).await {
            Ok(o) => o,
            Err(e) => return fail(report, format!("apply: {e}")),
        };
        report.timings_ms.apply += ms(phase.elapsed());
        let frames = frames::parse(&out.stdout, &nonce);
        let outcomes = apply::outcomes(graph, &plans, &frames);
        let round_blocks = apply::blocks(&plans);
        for &i in &round_blocks {
            let r = &mut report.resources[pos[i]];
            r.result = Some(outcomes[i].0);
            r.error = outcomes[i].1.as_deref().map(|e| mask(e, secrets));
            if matches!(outcomes[i].0, Outcome::Failed | Outcome::Skipped) {
                broken.push(i);
            }
        }
        let changed: Vec<usize> =
            all.iter().copied().filter(|i| round_blocks.contains(i) && outcomes[*i].0 == Outcome::Changed).collect();
        let after_change = apply::downstream(graph, &changed);
        let after_failure = apply::downstream(graph, &broken);
        // deferred resources wait for this round; if what they wait for failed, they skip
        let deferred: Vec<usize> =
            all.iter().copied().filter(|&i| matches!(&plans[i], Some(Ok(p)) if p.is_deferred())).collect();
        for &i in deferred.iter().filter(|&&i| after_failure[i]) {
            let cause = broken.iter().find(|&&b| apply::depends_on(graph, i, b));
            let r = &mut report.resources[pos[i]];
            r.result = Some(Outcome::Skipped);
            r.error = Some(match cause {
                Some(&c) => format!("skipped: needs {}, which failed", graph.nodes[c].id),
                None => "skipped: a dependency failed".into(),
            });
        }
        let provisional: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| {
                (after_change[i] || deferred.contains(&i))
                    && !after_failure[i]
                    && !round_blocks.contains(&i)
                    && matches!(&plans[i], Some(Ok(_)) | None)
            })
            .filter(|&i| report.resources[pos[i]].result == Some(Outcome::Ok))
            .collect();
        // what a resource applied again in the next round notifies is refreshed again too
        let targets: Vec<usize> = if round < ROUNDS {
            provisional.iter().flat_map(|&i| graph.notifies[i].iter().copied()).filter(|&t| !after_failure[t]).collect()
        } else {
            Vec::new()
        };
        let check: Vec<usize> = all
            .iter()
            .copied()
            .filter(|i| changed.contains(i) || provisional.contains(i) || targets.contains(i))
            .collect();
        if check.is_empty() {
            return;
        }
        let phase = Instant::now();
        let verified = match exchange_probe(graph, t, &check, secrets).await {
            Ok(frames) => probe::plan(graph, &check, &frames, probe::Pass::Verify { again: &provisional }),
            Err(e) => return fail(report, format!("verify: {e}")),
        };
        report.timings_ms.verify += ms(phase.elapsed());
        let mut next: Vec<Option<NodePlan>> = vec![None; graph.nodes.len()];
        for &i in &check {
            let r = &mut report.resources[pos[i]];
            match &verified[i] {
                Some(Ok(p)) if p.diff.is_ok() => {}
                Some(Ok(p)) if provisional.contains(&i) && round < ROUNDS => {
                    // changed by another step after the probe: plan it again from here
                    r.action = p.diff.action;
                    r.changes = p.diff.changes.iter().cloned().map(|c| redact(c, secrets)).collect();
                    let note = if deferred.contains(&i) {
                        "planned from the host as the changes it waited for left it; applied in a second round"
                    } else {
                        "changed by an earlier step of this run; applied in a second round"
                    };
                    r.changes.push(crate::resources::Change::new("note", None, Some(note.into())));
                    next[i] = Some(Ok(p.clone()));
                }
                Some(Ok(p)) if targets.contains(&i) && p.diff.action == Action::Refresh && round < ROUNDS => {
                    // notified by a resource applied again in the next round
                    if r.action == Action::Ok {
                        r.action = Action::Refresh;
                    }
                    r.changes.extend(p.diff.changes.iter().cloned().map(|c| redact(c, secrets)));
                    next[i] = Some(Ok(p.clone()));
                }
                Some(Ok(p)) => {
                    r.result = Some(Outcome::NotConverged);
                    let left: Vec<String> = p.diff.changes.iter().map(|c| c.field.clone()).collect();
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
    let changes = changes.into_iter().map(|c| redact(c, secrets)).collect();
    ResourceReport {
        id: node.id.to_string(),
        kind: node.id.kind,
        name: node.id.name.clone(),
        action,
        changes,
        result: None,
        error,
    }
}

/// A change as it may be shown: secret values masked everywhere, sensitive content gone.
fn redact(mut c: crate::resources::Change, secrets: &[String]) -> crate::resources::Change {
    c.before = c.before.map(|b| mask(&b, secrets));
    c.after = c.after.map(|a| mask(&a, secrets));
    if let Some(Content::Text { before, after }) = &c.content
        && secrets.iter().any(|s| !s.is_empty() && (before.contains(s.as_str()) || after.contains(s.as_str())))
    {
        c.content = Some(Content::Sensitive);
    }
    c
}
