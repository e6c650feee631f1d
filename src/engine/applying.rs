//! The apply half of a host's run: apply rounds, each followed by a verify, their
//! outcomes and verdicts written into the host's report as they come, and the apply
//! exchange read line by line (each block's markers are step events as they arrive).

use std::time::Instant;

use super::facts::Facts;
use super::{exchange_probe, fail, ms};
use crate::apply::{self, Step};
use crate::error::{ExchangeError, HostError};
use crate::events::{Emitter, What};
use crate::frames::{self, Mark, Nonce};
use crate::graph::{HostGraph, NodeId, PerNode};
use crate::plan::{self, Again, Changes, HostPlan, NodeState};
use crate::report::{HostReport, HostStatus, Outcome, ResourceReport};
use crate::resources::{Action, Change, mask};
use crate::rounds::{AfterRound, ROUNDS};
use crate::transport::Counted;

/// A host's status after an apply, from its resources' results: failed if anything
/// failed, was skipped or did not converge; converged if anything changed.
pub(super) fn applied(report: &HostReport) -> HostStatus {
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
pub(super) async fn apply_rounds(
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
                    r.error = Some(mask(&skipped(graph, *cause), secrets));
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
            r.error = Some(mask(&skipped(graph, Some(cause)), secrets));
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
        NodeState::SecondRound { change, because } => second_round(graph, r, change, because, secrets),
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
fn second_round(graph: &HostGraph, r: &mut ResourceReport, change: &Changes, because: &Again, secrets: &[String]) {
    let changes = change.changes.clone();
    let text = match because {
        Again::Stale => {
            "changed since plan by an earlier step of this run: planned again from the host, applied in a second round"
                .to_string()
        }
        Again::Waiting { on } => mask(
            &format!("waited for {}: planned again from the host, applied in a second round", graph[*on].id),
            secrets,
        ),
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
