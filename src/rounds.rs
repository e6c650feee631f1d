//! Rounds: what an apply round's outcomes and the verify probe after it make of each
//! node's plan.
//!
//! After any change the verify probes every resource still standing (one exchange): one
//! planned before the round, or not, may have been changed by another step of it (a
//! package creating the default site a later resource wants absent), with no edge
//! declared between them. Whatever the verify finds different gets a second round,
//! planned from the verify probe: resources in sync when probed, resources whose own step
//! ran when a later block also ran, stale resources and those that waited for them,
//! deferred resources; the services they notify are refreshed again after them (even
//! when their own block ran in the first round: an exec re-checked before its checkout
//! moved runs again after it). A resource whose own step ran, with nothing after it that
//! ran, did not converge (a change that simply does not hold gets no second try), and
//! after the second round anything still different did not converge. Resources that
//! failed, were skipped by a failure or could not be probed are never planned again.
//!
//! Both transitions are pure: [`AfterRound::new`] reads the round's outcomes,
//! [`AfterRound::judge`] the verify's plan.

use crate::apply::Step;
use crate::graph::{HostGraph, NodeId, PerNode};
use crate::plan::{Again, HostPlan, NodeState};

/// How many apply rounds a host may need: the second only re-applies what the verify
/// after the first found different, planned from that verify probe.
pub const ROUNDS: usize = 2;

/// What an apply round leaves for the verify.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterRound {
    /// Why a node is planned again from the verify probe, whatever its own step did:
    /// stale, waiting for a stale node, deferred.
    pub again: PerNode<Option<Again>>,
    /// Deferred nodes that wait no more because what they waited for failed: each with
    /// the failed node. They are skipped.
    pub skipped: Vec<(NodeId, NodeId)>,
    /// Whether a block after the node (in apply order) ran and may have changed it.
    changed_after: PerNode<bool>,
    /// Whether any block changed something.
    acted: bool,
}

impl AfterRound {
    /// Reads a round's outcomes. `broken` (nodes that failed, were skipped or could not be
    /// probed, never planned again) gains this round's failures and skips.
    pub fn new(graph: &HostGraph, plan: &HostPlan, steps: &PerNode<Step>, broken: &mut PerNode<bool>) -> AfterRound {
        let mut again: PerNode<Option<Again>> = PerNode::new(graph, None);
        let mut acted = false;
        for &i in graph.order() {
            match &steps[i] {
                Step::Changed => acted = true,
                Step::Failed(_) | Step::Skipped(_) => broken[i] = true,
                Step::Stale => again[i] = Some(Again::Stale),
                Step::Waiting(on) => again[i] = Some(Again::Waiting { on: *on }),
                Step::NotRun | Step::Unchanged => {}
            }
        }
        // deferred nodes waited for this round; if what they wait for failed, they skip
        let mut skipped = Vec::new();
        for &i in graph.order() {
            if !plan[i].is_deferred() {
                continue;
            }
            match graph.order().iter().copied().find(|&b| broken[b] && graph.depends_on(i, b)) {
                Some(cause) => {
                    skipped.push((i, cause));
                    broken[i] = true;
                }
                None => again[i] = Some(Again::Deferred),
            }
        }
        let mut changed_after = PerNode::new(graph, false);
        let mut seen = false;
        for &i in graph.order().iter().rev() {
            changed_after[i] = seen;
            seen |= steps[i].may_have_changed();
        }
        AfterRound { again, skipped, changed_after, acted }
    }

    /// Whether the round leaves nothing to verify: nothing changed and nothing waits.
    pub fn settled(&self) -> bool {
        !self.acted && self.again.values().all(Option::is_none)
    }

    /// The nodes the verify probes: every one not broken, in apply order.
    pub fn standing(graph: &HostGraph, broken: &PerNode<bool>) -> Vec<NodeId> {
        graph.order().iter().copied().filter(|&i| !broken[i]).collect()
    }

    /// Turns the verify's plan of the standing nodes into the next round's: what still
    /// differs is applied again ([`NodeState::SecondRound`], with why) or did not
    /// converge ([`NodeState::DidNotConverge`]); a refresh owed only to notifiers not
    /// applied again was done already, in this round. `last`: no round follows.
    pub fn judge(&self, graph: &HostGraph, mut verified: HostPlan, steps: &PerNode<Step>, last: bool) -> HostPlan {
        let mut applied_again = PerNode::new(graph, false);
        for &i in graph.order() {
            let state = match &verified[i] {
                NodeState::Planned { change } | NodeState::Deferred { change, .. } => {
                    let again = self.again[i].clone();
                    if change.refresh_only() && again.is_none() && !graph.notifiers(i).any(|j| applied_again[j]) {
                        NodeState::InSync
                    } else if !last
                        && (again.is_some()
                            || steps[i] == Step::NotRun
                            || self.changed_after[i]
                            // owed again to a notifier applied again, whatever its own
                            // step did in this round
                            || change.refresh_only())
                    {
                        let because = again.unwrap_or(if change.refresh_only() {
                            Again::Refreshed
                        } else if steps[i] == Step::Changed {
                            Again::ChangedAgain
                        } else {
                            Again::ChangedElsewhere
                        });
                        NodeState::SecondRound { change: change.clone(), because }
                    } else {
                        NodeState::DidNotConverge { change: change.clone() }
                    }
                }
                _ => continue,
            };
            applied_again[i] = matches!(state, NodeState::SecondRound { .. });
            verified.nodes[i].state = state;
        }
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Changes;
    use crate::resources::{Action, Change, Refresh};

    fn graph(playbook: &str) -> HostGraph {
        crate::prepare::graph_of(playbook)
    }

    fn planned(field: &str) -> NodeState {
        NodeState::Planned { change: Changes { action: Action::Change, changes: vec![Change::set(field, "a", "b")] } }
    }

    fn refresh() -> NodeState {
        NodeState::Planned {
            change: Changes { action: Action::Refresh, changes: vec![Change::refresh(Refresh::Restart, "x")] },
        }
    }

    fn plan_of(g: &HostGraph, states: Vec<NodeState>) -> HostPlan {
        HostPlan::with_states(g, states)
    }

    const THREE: &str = "host \"a\"\nfile \"/a\" content=\"\"\nfile \"/b\" content=\"\" require=\"file:/a\"\nfile \"/c\" content=\"\"\n";

    #[test]
    fn failures_break_stale_nodes_are_planned_again_with_what_waited() {
        let g = graph(THREE);
        let plan = plan_of(&g, vec![planned("content"), planned("content"), planned("content")]);
        let steps = PerNode::from_fn(&g, |i| match i.index() {
            0 => Step::Stale,
            1 => Step::Waiting(NodeId(0)),
            _ => Step::Failed("boom".into()),
        });
        let mut broken = PerNode::new(&g, false);
        let after = AfterRound::new(&g, &plan, &steps, &mut broken);
        assert_eq!(broken.values().copied().collect::<Vec<_>>(), [false, false, true]);
        assert_eq!(after.again[NodeId(0)], Some(Again::Stale));
        assert_eq!(after.again[NodeId(1)], Some(Again::Waiting { on: NodeId(0) }));
        assert!(!after.settled());
        assert_eq!(AfterRound::standing(&g, &broken), [NodeId(0), NodeId(1)]);
    }

    #[test]
    fn a_deferred_node_skips_when_what_it_waits_for_failed_and_is_planned_again_otherwise() {
        let g = graph(THREE);
        let deferred = |on| NodeState::Deferred {
            change: Changes { action: Action::Change, changes: vec![Change::set("x", "a", "b")] },
            waiting_on: vec![on],
        };
        let plan = plan_of(&g, vec![planned("content"), deferred(NodeId(0)), NodeState::InSync]);
        let failed = PerNode::from_fn(&g, |i| if i.index() == 0 { Step::Failed("x".into()) } else { Step::NotRun });
        let mut broken = PerNode::new(&g, false);
        let after = AfterRound::new(&g, &plan, &failed, &mut broken);
        assert_eq!(after.skipped, [(NodeId(1), NodeId(0))]);
        assert!(broken[NodeId(1)]);
        let changed = PerNode::from_fn(&g, |i| if i.index() == 0 { Step::Changed } else { Step::NotRun });
        let mut broken = PerNode::new(&g, false);
        let after = AfterRound::new(&g, &plan, &changed, &mut broken);
        assert_eq!(after.again[NodeId(1)], Some(Again::Deferred));
        assert!(after.skipped.is_empty());
    }

    #[test]
    fn nothing_changed_and_nothing_waiting_is_settled() {
        let g = graph(THREE);
        let plan = plan_of(&g, vec![NodeState::Recheck { because: vec![] }, NodeState::InSync, NodeState::InSync]);
        let steps = PerNode::from_fn(&g, |i| if i.index() == 0 { Step::Unchanged } else { Step::NotRun });
        let mut broken = PerNode::new(&g, false);
        assert!(AfterRound::new(&g, &plan, &steps, &mut broken).settled());
    }

    #[test]
    fn the_verify_decides_second_round_or_did_not_converge() {
        let g = graph(THREE);
        let plan = plan_of(&g, vec![planned("content"), planned("content"), planned("content")]);
        // a changed, b changed, c not run: a later block (b) ran after a
        let steps = PerNode::from_fn(&g, |i| match i.index() {
            0 | 1 => Step::Changed,
            _ => Step::NotRun,
        });
        let mut broken = PerNode::new(&g, false);
        let after = AfterRound::new(&g, &plan, &steps, &mut broken);
        let verified = plan_of(&g, vec![planned("content"), planned("content"), planned("content")]);
        let next = after.judge(&g, verified.clone(), &steps, false);
        let because = |i: usize| match &next[NodeId(i)] {
            NodeState::SecondRound { because, .. } => Some(because.clone()),
            _ => None,
        };
        // a: its own step ran and a later one did too; b: nothing after it ran, so its own
        // change did not hold; c: no step of its own, another changed it
        assert_eq!(because(0), Some(Again::ChangedAgain));
        assert!(matches!(next[NodeId(1)], NodeState::DidNotConverge { .. }));
        assert_eq!(because(2), Some(Again::ChangedElsewhere));
        // the last round: everything still different did not converge
        let last = after.judge(&g, verified, &steps, true);
        assert!(last.nodes.values().all(|n| matches!(n.state, NodeState::DidNotConverge { .. })));
    }

    #[test]
    fn a_refresh_is_owed_again_only_after_a_notifier_applied_again() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\" notify=\"service:x\"\nservice \"x\" state=\"running\"\nfile \"/c\" content=\"\"\n",
        );
        let plan = plan_of(&g, vec![planned("content"), refresh(), planned("content")]);
        let steps = PerNode::from_fn(&g, |_| Step::Changed);
        let mut broken = PerNode::new(&g, false);
        let after = AfterRound::new(&g, &plan, &steps, &mut broken);
        // the file holds; the restart shows again in the verify only because it was owed
        let verified = plan_of(&g, vec![NodeState::InSync, refresh(), NodeState::InSync]);
        assert_eq!(after.judge(&g, verified, &steps, false)[NodeId(1)], NodeState::InSync);
        // the file changed again by a later step: applied again, and the service with it
        let verified = plan_of(&g, vec![planned("content"), refresh(), NodeState::InSync]);
        let next = after.judge(&g, verified, &steps, false);
        assert!(matches!(next[NodeId(0)], NodeState::SecondRound { because: Again::ChangedAgain, .. }));
        assert!(matches!(next[NodeId(1)], NodeState::SecondRound { because: Again::Refreshed, .. }));
    }

    #[test]
    fn a_refresh_owed_again_is_applied_again_though_its_own_step_ran_and_nothing_after_it() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\" notify=\"service:x\"\nservice \"x\" state=\"running\"\nfile \"/c\" content=\"\"\n",
        );
        // the file was in sync when probed (another step changes it); the service's own
        // block ran (a re-check, a restart owed to something else); nothing ran after it
        let plan = plan_of(&g, vec![NodeState::InSync, refresh(), NodeState::InSync]);
        for own in [Step::Unchanged, Step::Changed] {
            let steps = PerNode::from_fn(&g, |i| if i.index() == 1 { own.clone() } else { Step::NotRun });
            let mut broken = PerNode::new(&g, false);
            let after = AfterRound::new(&g, &plan, &steps, &mut broken);
            let verified = plan_of(&g, vec![planned("content"), refresh(), NodeState::InSync]);
            let next = after.judge(&g, verified, &steps, false);
            assert!(matches!(next[NodeId(0)], NodeState::SecondRound { because: Again::ChangedElsewhere, .. }));
            assert!(
                matches!(next[NodeId(1)], NodeState::SecondRound { because: Again::Refreshed, .. }),
                "{own:?}: {:?}",
                next[NodeId(1)]
            );
        }
    }
}
