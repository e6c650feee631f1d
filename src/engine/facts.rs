//! The host facts side of one host's run ([`Facts`]): gathered on first contact, checked
//! by the probe, the host expanded again when they differ, read again at verify (and one
//! more pass when a step changed one the playbook reads); and `converge facts`
//! ([`gather`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::connect;
use crate::error::{ExchangeError, HostError};
use crate::frames::{self, Nonce};
use crate::graph::HostGraph;
use crate::host_facts::{self, HostFacts};
use crate::playbook::inventory::Host;
use crate::prepare::JobFacts;
use crate::probe;
use crate::report::{self, HostReport};
use crate::resources::Action;
use crate::transport::Counted;
use crate::transport::ssh::SshOptions;
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

/// The host facts of one host's run: those the graph was expanded with, where they are
/// kept, and how to expand again. Its exchanges are the budget of DESIGN.md §2 plus at
/// most one: a first contact gathers every fact before the probe (2 in all for a no-op);
/// with facts cached, the probe reads the facts used again beside the resources (1 for
/// a no-op), and when they differ the host is expanded with them and probed again (2).
pub(super) struct Facts {
    job: JobFacts,
    host: Host,
    /// The facts the current graph was expanded with.
    current: HostFacts,
    /// Whether `current` holds the host's facts (kept from an earlier run, or gathered in
    /// this one): without them, a first contact gathers them.
    known: bool,
    /// Whether `current` was just read from the host (a first contact, or the verify
    /// that found a fact changed): the next probe need not read the facts again.
    pub(super) fresh: bool,
    changed: Vec<String>,
    /// The graph expanded with facts a step of this run changed, for one more pass.
    pub(super) pending: Option<HostGraph>,
    /// Whether that pass was made (it is made once).
    passed_again: bool,
}

/// What a graph would do: its resources as built, in order (two expansions with the same
/// fingerprint converge the same).
fn fingerprint(graph: &HostGraph) -> Vec<String> {
    graph.nodes.iter().map(|n| format!("{} {:?}", n.id, n.res)).collect()
}

impl Facts {
    pub(super) fn new(job: JobFacts, host: Host) -> Facts {
        let current = job.known.clone().unwrap_or_default();
        let known = job.known.is_some();
        Facts { job, host, current, known, fresh: false, changed: Vec::new(), pending: None, passed_again: false }
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

    fn describe(&self, graph_read: &BTreeSet<String>, source: &str) -> report::FactsReport {
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
    pub(super) async fn first_contact(
        &mut self,
        t: &Counted,
        report: &mut HostReport,
    ) -> Result<Option<HostGraph>, HostError> {
        if self.known {
            return Ok(None);
        }
        self.current = gather_all(t).await?;
        (self.known, self.fresh) = (true, true);
        let graph = self.expand()?;
        report.facts = Some(self.describe(&graph.facts_read, "gathered"));
        self.save(report);
        Ok(Some(graph))
    }

    /// The facts the probe read against those the graph was expanded with: `None` when
    /// they hold, or the graph expanded again with the new values.
    pub(super) fn compare(
        &mut self,
        gathered: Option<HostFacts>,
        read: &BTreeSet<String>,
        report: &mut HostReport,
    ) -> Result<Option<HostGraph>, HostError> {
        let differ = gathered.map(|g| self.take(g, read)).unwrap_or_default();
        if differ.is_empty() {
            if report.facts.is_none() {
                report.facts = Some(self.describe(read, "cache"));
            }
            return Ok(None);
        }
        self.changed.extend(differ);
        let graph = self.expand()?;
        report.facts = Some(self.describe(&graph.facts_read, "changed"));
        self.save(report);
        Ok(Some(graph))
    }

    /// Takes the facts `gathered` over the current ones: what changed among those `read`,
    /// each as `NAME: BEFORE → AFTER` (nothing, and nothing taken, when none did).
    fn take(&mut self, gathered: HostFacts, read: &BTreeSet<String>) -> Vec<String> {
        let differ = self.current.differ(&gathered, read);
        if differ.is_empty() {
            return differ;
        }
        let before = std::mem::take(&mut self.current);
        self.current = before.merged(&gathered);
        differ.iter().map(|n| format!("{n}: {} → {}", before.show(n), self.current.show(n))).collect()
    }

    pub(super) fn last_changed(&self) -> String {
        self.changed.join("; ")
    }

    /// What the verify read of the facts: one a step changed is kept for the next run,
    /// and the report says so; when the playbook expands differently with it, the new
    /// graph is `pending`, for one more pass in this run (only once: a pass after that
    /// leaves the rest to the next run).
    pub(super) fn after_run(&mut self, gathered: HostFacts, graph: &HostGraph, report: &mut HostReport) {
        let differ = self.take(gathered, &graph.facts_read);
        if differ.is_empty() {
            return;
        }
        if let Some(f) = report.facts.as_mut() {
            f.changed_by_run.extend(differ);
        }
        self.save(report);
        if !self.passed_again {
            self.passed_again = true;
            match self.expand() {
                Ok(next) if fingerprint(&next) != fingerprint(graph) => {
                    // the verify just read them: the pass's probe need not
                    self.fresh = true;
                    self.pending = Some(next)
                }
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
pub(super) fn merge_pass(report: &mut HostReport, again: HostReport) {
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
    // only an apply makes the pass (its verify finds the changed fact)
    report.status = super::applied(report);
}
