//! Planning: the probe's frames turned into one typed plan per host.
//!
//! A [`HostPlan`] holds one [`NodeState`] per resource: not probed, probe failed, in
//! sync, planned (with its changes), deferred (waiting on named nodes), re-check
//! (because of named upstream changes), second round (because of what a step of the run
//! did), did not converge. It is data: it serializes with a `format_version`, holds no
//! shell text and no secret value (changes are redacted as they enter it). What the
//! steps are written from (each kind's probed state, unredacted) stays in memory beside
//! it ([`Bases`]); the apply script is generated from both at apply time (`apply.rs`).
//!
//! Planning walks the graph in apply order, so that a notified resource knows which of
//! its notifiers change in this run, a resource edited by several (`line`) plans from
//! what the one before leaves, and a resource downstream of a deferred change waits with
//! it. A resource whose probe output is missing or malformed has probe failed, never
//! "nothing to do". Every transition is a method here or in `rounds.rs`, pure.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::frames::Frames;
use crate::graph::{HostGraph, NodeId, PerNode};
use crate::resources::{Action, Basis, Change, PlanCx, ResourceId, changing, mask};

/// Bumped when the serialized plan changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// One host's plan: a state per node of its graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostPlan {
    pub format_version: u32,
    /// Per node, in declaration order (index: [`NodeId`]).
    pub nodes: PerNode<NodePlan>,
}

/// One resource's place in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlan {
    /// `kind:name`.
    pub resource: String,
    #[serde(flatten)]
    pub state: NodeState,
}

/// Where a resource stands in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum NodeState {
    /// Not probed in this pass (it failed or was skipped in an earlier round).
    NotProbed,
    /// Its probe output was missing or could not be read: it counts as failed, and what
    /// depends on it is skipped.
    ProbeFailed { error: ProbeFailure },
    /// Nothing to do.
    InSync,
    /// Differs: these changes make it as wanted.
    Planned { change: Changes },
    /// Differs, but its steps are computed from what was probed and the nodes named
    /// change it first: no block in this round; planned again from the verify probe.
    Deferred { change: Changes, waiting_on: Vec<NodeId> },
    /// In sync when probed, checked again (and fixed if needed) at apply time, because
    /// the nodes named change first.
    Recheck { because: Vec<NodeId> },
    /// Planned again from a verify probe, applied in a second round.
    SecondRound { change: Changes, because: Again },
    /// Its own step ran and the verify still finds these differences.
    DidNotConverge { change: Changes },
}

/// What a plan does to a resource: its action and each change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub action: Action,
    pub changes: Vec<Change>,
}

impl Changes {
    /// Only refreshes owed to notifications.
    pub fn refresh_only(&self) -> bool {
        self.action == Action::Refresh
    }
    /// Whether a refresh is owed (recorded on the host before a notifier runs).
    pub fn refreshes(&self) -> bool {
        self.changes.iter().any(Change::is_refresh)
    }
}

/// Why a probe gave nothing to plan from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum ProbeFailure {
    /// The probe script stopped before this resource.
    Missing,
    /// The output holds this resource more than once.
    Repeated,
    /// The output for this resource ends before its end marker.
    CutShort,
    /// The kind could not read its output (and what the snippet wrote to stderr).
    Unreadable { error: String, stderr: String },
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Missing => f.write_str("no probe output for this resource (the probe script stopped early)"),
            ProbeFailure::Repeated => f.write_str("the probe output holds this resource more than once"),
            ProbeFailure::CutShort => f.write_str("the probe output for this resource was cut short"),
            ProbeFailure::Unreadable { error, stderr } if stderr.is_empty() => {
                write!(f, "cannot read probe output: {error}")
            }
            ProbeFailure::Unreadable { error, stderr } => write!(f, "cannot read probe output: {error} ({stderr})"),
        }
    }
}

/// Why a resource is applied again in a second round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Again {
    /// Its guard found what it would replace changed by an earlier step of the run.
    Stale,
    /// It depends on a stale node, and waited for it.
    Waiting { on: NodeId },
    /// It was deferred until the changes upstream of it were made.
    Deferred,
    /// Only a refresh, owed again to a notifier applied again: refreshed after it.
    Refreshed,
    /// No step of its own changed it: another step of the run did.
    ChangedElsewhere,
    /// Its own step ran, and a later step changed it again.
    ChangedAgain,
}

/// What each planned node's steps are written from (see [`crate::resources::Basis`]):
/// in memory only, never serialized.
pub type Bases = PerNode<Option<Basis>>;

/// Which probe a plan is made from.
#[derive(Debug, Clone, Copy)]
pub enum Pass<'a> {
    /// The first probe: every change notifies, and kinds learn what changes upstream.
    First,
    /// A verify probe after an apply round: a refresh already done is not owed again, so
    /// only the resources in `again` (about to be applied in the next round) notify.
    Verify { again: &'a [NodeId] },
}

impl std::ops::Index<NodeId> for HostPlan {
    type Output = NodeState;
    fn index(&self, id: NodeId) -> &NodeState {
        &self.nodes[id].state
    }
}

impl NodeState {
    /// The changes it plans, if it plans any (whether or not in this round).
    pub fn change(&self) -> Option<&Changes> {
        match self {
            NodeState::Planned { change }
            | NodeState::Deferred { change, .. }
            | NodeState::SecondRound { change, .. }
            | NodeState::DidNotConverge { change } => Some(change),
            _ => None,
        }
    }
    /// Whether it gets a block in this round's apply script.
    pub fn has_block(&self) -> bool {
        matches!(self, NodeState::Planned { .. } | NodeState::Recheck { .. } | NodeState::SecondRound { .. })
    }
    /// Whether it changes something in this round (a block that is not only a re-check).
    pub fn changes(&self) -> bool {
        matches!(self, NodeState::Planned { .. } | NodeState::SecondRound { .. })
    }
    pub fn is_deferred(&self) -> bool {
        matches!(self, NodeState::Deferred { .. })
    }
    pub fn probe_failed(&self) -> bool {
        matches!(self, NodeState::ProbeFailed { .. })
    }

    /// How the plan shows it before anything is applied: the action, the changes (the
    /// reason for a re-check or a wait among them), and why it could not be planned.
    pub fn shown(&self, graph: &HostGraph) -> (Action, Vec<Change>, Option<String>) {
        let names = |ids: &[NodeId]| changing(&ids.iter().map(|&i| graph[i].id.clone()).collect::<Vec<ResourceId>>());
        match self {
            NodeState::NotProbed => (Action::Ok, Vec::new(), Some("not probed".into())),
            NodeState::ProbeFailed { error } => (Action::Ok, Vec::new(), Some(error.to_string())),
            NodeState::InSync => (Action::Ok, Vec::new(), None),
            NodeState::Planned { change }
            | NodeState::SecondRound { change, .. }
            | NodeState::DidNotConverge { change } => (change.action, change.changes.clone(), None),
            NodeState::Deferred { change, waiting_on } => {
                let mut changes = change.changes.clone();
                changes.push(Change::Recheck(format!("planned again after {}", names(waiting_on))));
                (Action::Recheck, changes, None)
            }
            NodeState::Recheck { because } => {
                (Action::Recheck, vec![Change::Recheck(format!("checked again after {}", names(because)))], None)
            }
        }
    }
}

impl HostPlan {
    /// A plan with every node in `state`.
    pub fn uniform(graph: &HostGraph, state: NodeState) -> HostPlan {
        HostPlan {
            format_version: FORMAT_VERSION,
            nodes: PerNode::from_fn(graph, |i| NodePlan { resource: graph[i].id.to_string(), state: state.clone() }),
        }
    }

    /// A plan whose first nodes are in `states`, the others in sync (for tests).
    #[cfg(test)]
    pub fn with_states(graph: &HostGraph, states: Vec<NodeState>) -> HostPlan {
        let mut p = HostPlan::uniform(graph, NodeState::InSync);
        for (i, s) in states.into_iter().enumerate() {
            p.set(NodeId(i), s);
        }
        p
    }

    /// The nodes with a block in this round's apply script, in apply order.
    pub fn blocks(&self, graph: &HostGraph) -> Vec<NodeId> {
        graph.order().iter().copied().filter(|&i| self[i].has_block()).collect()
    }

    /// Whether applying would change anything: a plan of re-checks alone sends no script.
    pub fn changes_anything(&self) -> bool {
        self.nodes.values().any(|n| n.state.changes())
    }

    fn set(&mut self, i: NodeId, state: NodeState) {
        self.nodes[i].state = state;
    }

    /// Marks nodes downstream of a deferred change as waiting with it: a change planned
    /// from a host the deferred change has not reached yet (a service started before the
    /// line that gives it its options would start with the old ones). It gets no block in
    /// the first round and is planned again from the verify probe, after what it waits
    /// for.
    pub fn wait_for_deferred(&mut self, graph: &HostGraph, i: NodeId) {
        let NodeState::Planned { change } = &self[i] else { return };
        let waiting_on: Vec<NodeId> = graph.upstream(i).into_iter().filter(|&j| self[j].is_deferred()).collect();
        if waiting_on.is_empty() {
            return;
        }
        let change = change.clone();
        self.set(i, NodeState::Deferred { change, waiting_on });
    }

    /// Turns in-sync resources downstream of a change into re-checks, where their kind
    /// can check and fix at apply time; and, for kinds that ask for it
    /// ([`crate::resources::Kind::recheck_in_order`]: `exec`), in-sync resources that come
    /// after a change in apply order, edge or not.
    pub fn mark_rechecks(&mut self, graph: &HostGraph) {
        let changing: Vec<NodeId> = graph.order().iter().copied().filter(|&i| self[i].changes()).collect();
        let down = graph.downstream(&changing);
        let mut before: Vec<NodeId> = Vec::new();
        for &i in graph.order() {
            let res = &graph[i].res;
            let because: Vec<NodeId> = if self[i] != NodeState::InSync {
                Vec::new()
            } else if down[i] {
                changing.iter().copied().filter(|&c| graph.depends_on(i, c)).collect()
            } else if res.recheck_in_order() {
                before.clone()
            } else {
                Vec::new()
            };
            if self[i].changes() {
                before.push(i);
            }
            if !because.is_empty() && res.recheck().is_some() {
                self.set(i, NodeState::Recheck { because });
            }
        }
    }
}

/// Plans the nodes in `which` from the probe frames; the others are not probed. Changes
/// are redacted with `secrets` as they enter the plan.
pub fn plan(
    graph: &HostGraph,
    which: &[NodeId],
    frames: &Frames,
    pass: Pass<'_>,
    secrets: &[String],
) -> (HostPlan, Bases) {
    let mut plan = HostPlan::uniform(graph, NodeState::NotProbed);
    let mut bases: Bases = PerNode::from_fn(graph, |_| None);
    // what the changes planned so far leave in files that later resources edit too
    let mut texts: Arc<BTreeMap<String, Vec<u8>>> = Default::default();
    // the resources planned so far that change (first probe only)
    let mut earlier: Vec<ResourceId> = Vec::new();
    // the file each node planned so far edits in place, when it leaves a text in it
    let mut left: PerNode<Option<String>> = PerNode::new(graph, None);
    for &i in graph.order().iter().filter(|i| which.contains(i)) {
        let node = &graph[i];
        let failed = |error| NodeState::ProbeFailed { error };
        let frame = match frames.frames.get(&i.index()) {
            None => {
                plan.set(i, failed(ProbeFailure::Missing));
                continue;
            }
            Some(f) if f.repeated => {
                plan.set(i, failed(ProbeFailure::Repeated));
                continue;
            }
            Some(f) if f.status.is_none() => {
                plan.set(i, failed(ProbeFailure::CutShort));
                continue;
            }
            Some(f) => f,
        };
        let notified_by: Vec<ResourceId> = graph
            .notifiers(i)
            .filter(|&j| plan[j].changes())
            .filter(|j| match pass {
                Pass::First => true,
                Pass::Verify { again } => again.contains(j),
            })
            .map(|j| graph[j].id.clone())
            .collect();
        let same_file = node.res.same_file();
        // an earlier edit of the same file is planned from, not waited for
        let chained = |j: NodeId| same_file.is_some() && left[j] == same_file;
        let upstream: Vec<ResourceId> = match pass {
            Pass::First => graph
                .upstream(i)
                .into_iter()
                .filter(|&j| !chained(j))
                .filter(|&j| plan[j].changes() || plan[j].is_deferred())
                .map(|j| graph[j].id.clone())
                .collect(),
            Pass::Verify { .. } => Vec::new(),
        };
        let cx = PlanCx {
            notified_by,
            owed: frame.flags.iter().any(|f| f == "owed"),
            upstream,
            earlier: if matches!(pass, Pass::First) { earlier.clone() } else { Vec::new() },
            texts: texts.clone(),
        };
        match node.res.plan(&frame.body, &cx) {
            Err(e) => {
                let error = mask(&e.0, secrets);
                let stderr = mask(frame.stderr.trim(), secrets);
                plan.set(i, failed(ProbeFailure::Unreadable { error, stderr }));
                continue;
            }
            Ok(p) => {
                let change = Changes {
                    action: p.diff.action,
                    changes: p.diff.changes.iter().cloned().map(|c| c.redacted(secrets)).collect(),
                };
                let state = if p.diff.is_ok() {
                    NodeState::InSync
                } else if p.diff.is_deferred() {
                    let waiting_on = p.diff.waits_for.iter().filter_map(|id| graph.find(id)).collect();
                    NodeState::Deferred { change, waiting_on }
                } else {
                    NodeState::Planned { change }
                };
                plan.set(i, state);
                bases[i] = Some(p.basis);
                let mut leaves = p.leaves;
                if matches!(pass, Pass::First) {
                    let was_deferred = plan[i].is_deferred();
                    plan.wait_for_deferred(graph, i);
                    if plan[i].is_deferred() && !was_deferred {
                        // it waits with what it depends on: it leaves nothing yet
                        leaves = None;
                        bases[i] = None;
                    }
                    if plan[i].changes() {
                        earlier.push(node.id.clone());
                    }
                }
                if let Some((path, text)) = leaves {
                    left[i] = Some(path.clone());
                    Arc::make_mut(&mut texts).insert(path, text);
                }
            }
        }
    }
    if matches!(pass, Pass::First) {
        plan.mark_rechecks(graph);
    }
    (plan, bases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Frame;

    fn graph(playbook: &str) -> HostGraph {
        crate::prepare::graph_of(playbook)
    }

    /// Frames with these bodies, each ended with status 0, by node.
    fn frames(bodies: &[(usize, &str)]) -> Frames {
        let mut f = Frames::default();
        for &(i, body) in bodies {
            f.frames.insert(i, Frame { body: body.into(), status: Some(0), ..Frame::default() });
        }
        f
    }

    fn first(g: &HostGraph, f: &Frames, secrets: &[String]) -> HostPlan {
        plan(g, g.order(), f, Pass::First, secrets).0
    }

    const ABSENT: &str = "type=absent\n";

    #[test]
    fn what_the_probe_could_not_say_is_a_typed_failure_never_nothing_to_do() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\"\nfile \"/b\" content=\"\"\nfile \"/c\" content=\"\"\nfile \"/d\" content=\"\"\nfile \"/e\" content=\"\"\n",
        );
        let mut f = frames(&[(0, ABSENT), (1, ABSENT), (2, ABSENT), (3, "type=banana\n")]);
        f.frames.get_mut(&1).expect("frame").repeated = true;
        f.frames.get_mut(&2).expect("frame").status = None;
        f.frames.get_mut(&3).expect("frame").stderr = "stat: oops\n".into();
        let p = first(&g, &f, &[]);
        assert!(matches!(p[NodeId(0)], NodeState::Planned { .. }));
        let error = |i| match &p[NodeId(i)] {
            NodeState::ProbeFailed { error } => error.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(error(1), ProbeFailure::Repeated);
        assert_eq!(error(2), ProbeFailure::CutShort);
        assert_eq!(
            error(3).to_string(),
            "cannot read probe output: unexpected type \"banana\" (stat: oops)",
            "the kind's reason and the snippet's stderr"
        );
        assert_eq!(error(4), ProbeFailure::Missing);
        // in a verify, nodes not asked for are not probed
        let (v, _) = plan(&g, &[NodeId(0)], &f, Pass::Verify { again: &[] }, &[]);
        assert_eq!(v[NodeId(1)], NodeState::NotProbed);
    }

    #[test]
    fn a_line_whose_file_an_earlier_change_makes_waits_and_so_does_what_needs_it() {
        let g = graph(
            "host \"a\"\nfile \"/etc/a\" content=\"x\\n\"\nline \"/etc/b\" line=\"k = v\"\n\
             file \"/etc/c\" content=\"y\\n\" require=\"line:/etc/b\"\n",
        );
        let p = first(&g, &frames(&[(0, ABSENT), (1, ABSENT), (2, ABSENT)]), &[]);
        assert!(matches!(p[NodeId(0)], NodeState::Planned { .. }));
        assert!(matches!(&p[NodeId(1)], NodeState::Deferred { waiting_on, .. } if *waiting_on == [NodeId(0)]));
        assert!(matches!(&p[NodeId(2)], NodeState::Deferred { waiting_on, .. } if *waiting_on == [NodeId(1)]));
        let (action, changes, error) = p[NodeId(2)].shown(&g);
        assert_eq!((action, error), (Action::Recheck, None));
        assert_eq!(changes.last(), Some(&Change::Recheck("planned again after line:/etc/b changes".into())));
        // only the file has a block in the first round
        assert_eq!(p.blocks(&g), [NodeId(0)]);
    }

    #[test]
    fn in_sync_resources_downstream_of_a_change_are_checked_again() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"x\\n\"\nfile \"/b\" state=\"absent\" require=\"file:/a\"\n\
             file \"/c\" state=\"absent\"\n",
        );
        let p = first(&g, &frames(&[(0, ABSENT), (1, ABSENT), (2, ABSENT)]), &[]);
        assert_eq!(p[NodeId(1)], NodeState::Recheck { because: vec![NodeId(0)] });
        assert_eq!(p[NodeId(2)], NodeState::InSync, "no edge, and a file is not re-checked in order");
        assert_eq!(p[NodeId(1)].shown(&g).1, [Change::Recheck("checked again after file:/a changes".into())]);
        // re-checks alone are no reason to send a script
        let mut only = p.clone();
        only.nodes[NodeId(0)].state = NodeState::InSync;
        assert!(!only.changes_anything() && p.changes_anything());
    }

    #[test]
    fn the_plan_serializes_with_its_version_and_holds_no_shell_and_no_secret() {
        let g = graph("host \"a\"\nfile \"/etc/app.env\" content=\"PASSWORD=hunter2\\n\" mode=\"0600\"\n");
        let secrets = vec!["hunter2".to_string()];
        let (p, bases) = plan(&g, g.order(), &frames(&[(0, ABSENT)]), Pass::First, &secrets);
        let json = serde_json::to_string(&p).expect("serializes");
        assert!(json.starts_with("{\"format_version\":1,"), "{json}");
        assert!(json.contains("\"state\":\"planned\""), "{json}");
        assert!(!json.contains("hunter2"), "a secret in the plan: {json}");
        for shell in ["mktemp", "chmod", "mv ", "base64", "cv_changed_since_plan"] {
            assert!(!json.contains(shell), "shell text in the plan ({shell}): {json}");
        }
        let back: HostPlan = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, p);
        // the steps are written from what stayed in memory, and they write the real value
        let steps = g[NodeId(0)].res.write_steps(bases[NodeId(0)].as_ref().expect("a basis")).expect("its basis");
        assert!(steps.into_text().contains("base64"), "the content goes to the host");
    }
}
