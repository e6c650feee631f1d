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
use crate::transport::{local::Local, Counted, Transport, TransportError};

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
        for line in s.lines().filter(|l| l.trim().len() >= 4) {
            out = out.replace(line, "********");
        }
    }
    out
}

async fn run_host(job: Job, opts: &Options) -> HostReport {
    let started = Instant::now();
    let Job { host, graph } = job;
    let secrets: Vec<String> = graph.nodes.iter().flat_map(|n| n.res.secrets()).collect();
    let mut report = HostReport {
        host: host.name.clone(),
        address: host.address.clone().unwrap_or_else(|| if host.connection == Connection::Local { "local".into() } else { host.name.clone() }),
        status: HostStatus::InSync,
        error: None,
        exchanges: 0,
        timings_ms: Timings::default(),
        resources: Vec::new(),
    };
    let transport = match connect(&host, &opts.ssh).await {
        Ok(t) => Counted::new(t),
        Err(e) => {
            report.status = if matches!(e, TransportError::HostKey(_)) { HostStatus::Failed } else { HostStatus::Unreachable };
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
    let nonce = Nonce::random();
    let out = match t.exchange(&probe::script(graph, &all, &nonce)).await {
        Ok(o) => o,
        Err(e) => return fail(report, format!("probe: {e}")),
    };
    report.timings_ms.probe = ms(phase.elapsed());
    let phase = Instant::now();
    let frames = frames::parse(&out.stdout, &nonce);
    if frames.frames.is_empty() {
        let why = mask(out.stderr.trim(), secrets);
        return fail(report, format!("the probe did not run (exit status {:?}): {why}", out.code));
    }
    let plans = probe::plan(graph, &all, &frames, true);
    report.resources = all.iter().map(|&i| resource_report(graph, i, &plans[i], secrets)).collect();
    report.timings_ms.plan = ms(phase.elapsed());
    let probe_failed = report.resources.iter().any(|r| r.error.is_some());
    let pending = report.resources.iter().any(|r| r.action != Action::Ok);
    if mode == Mode::Diff {
        report.status = if probe_failed { HostStatus::Failed } else if pending { HostStatus::Changes } else { HostStatus::InSync };
        return;
    }
    for r in report.resources.iter_mut().filter(|r| r.error.is_none()) {
        r.result = Some(Outcome::Ok);
    }
    let phase = Instant::now();
    let nonce = Nonce::random();
    let Some(script) = apply::script(graph, &plans, &nonce) else {
        report.status = if probe_failed { HostStatus::Failed } else { HostStatus::InSync };
        return;
    };
    let out = match t.exchange(&script).await {
        Ok(o) => o,
        Err(e) => return fail(report, format!("apply: {e}")),
    };
    report.timings_ms.apply = ms(phase.elapsed());
    let frames = frames::parse(&out.stdout, &nonce);
    let outcomes = apply::outcomes(graph, &plans, &frames);
    let changed: Vec<usize> = all.iter().copied().filter(|&i| outcomes[i].0 == Outcome::Changed).collect();
    for (pos, &i) in all.iter().enumerate() {
        if apply::blocks(&plans).contains(&i) {
            report.resources[pos].result = Some(outcomes[i].0);
            report.resources[pos].error = outcomes[i].1.as_deref().map(|e| mask(e, secrets));
        }
    }
    if !changed.is_empty() {
        verify(graph, t, &changed, secrets, report).await;
    }
    let failed = report.resources.iter().any(|r| r.error.is_some() || matches!(r.result, Some(Outcome::Failed | Outcome::NotConverged | Outcome::Skipped)));
    report.status = if failed { HostStatus::Failed } else { HostStatus::Converged };
}

/// Re-probes what changed: each must now be in sync, or it "did not converge".
async fn verify(graph: &HostGraph, t: &Counted, changed: &[usize], secrets: &[String], report: &mut HostReport) {
    let phase = Instant::now();
    let nonce = Nonce::random();
    let out = match t.exchange(&probe::script(graph, changed, &nonce)).await {
        Ok(o) => o,
        Err(e) => return fail(report, format!("verify: {e}")),
    };
    let frames = frames::parse(&out.stdout, &nonce);
    let plans = probe::plan(graph, changed, &frames, false);
    for &i in changed {
        let pos = graph.order.iter().position(|&o| o == i).unwrap_or(0);
        let r = &mut report.resources[pos];
        match &plans[i] {
            Some(Ok(p)) if p.diff.is_ok() => {}
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
    report.timings_ms.verify = ms(phase.elapsed());
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
    ResourceReport { id: node.id.to_string(), kind: node.id.kind, name: node.id.name.clone(), action, changes, result: None, error }
}

/// A change as it may be shown: secret values masked everywhere, sensitive content gone.
fn redact(mut c: crate::resources::Change, secrets: &[String]) -> crate::resources::Change {
    c.before = c.before.map(|b| mask(&b, secrets));
    c.after = c.after.map(|a| mask(&a, secrets));
    if let Some(Content::Text { before, after }) = &c.content {
        if secrets.iter().any(|s| !s.is_empty() && (before.contains(s.as_str()) || after.contains(s.as_str()))) {
            c.content = Some(Content::Sensitive);
        }
    }
    c
}
