//! Planning: the probe's frames turned into a plan per resource, walking the graph in
//! apply order so that a notified resource knows which of its notifiers change in this
//! run, a resource edited by several (`line`) plans from what the one before leaves, and a
//! resource downstream of a deferred change waits with it. A resource whose probe output
//! is missing or malformed is an error for that resource, never "nothing to do".

use crate::frames::Frames;
use crate::graph::HostGraph;
use crate::resources::{PlanCx, Planned, ResourceId};

/// A resource's plan, or why it could not be made.
pub type NodePlan = Result<Planned, String>;

/// Which probe a plan is made from.
#[derive(Debug, Clone, Copy)]
pub enum Pass<'a> {
    /// The first probe: every change notifies, and kinds learn what changes upstream.
    First,
    /// A verify probe after an apply round: a refresh already done is not owed again, so
    /// only the resources in `again` (about to be applied in the next round) notify.
    Verify { again: &'a [usize] },
}

/// Plans the nodes in `which` from the probe frames.
pub fn plan(graph: &HostGraph, which: &[usize], frames: &Frames, pass: Pass<'_>) -> Vec<Option<NodePlan>> {
    let mut plans: Vec<Option<NodePlan>> = vec![None; graph.nodes.len()];
    let changes =
        |plans: &[Option<NodePlan>], j: usize| matches!(&plans[j], Some(Ok(p)) if !p.diff.is_ok() && !p.is_deferred());
    // what the changes planned so far leave in files that later resources edit too
    let mut texts: std::sync::Arc<std::collections::BTreeMap<String, Vec<u8>>> = Default::default();
    // the resources planned so far that change (first probe only)
    let mut earlier: Vec<ResourceId> = Vec::new();
    for &i in graph.order.iter().filter(|i| which.contains(i)) {
        let node = &graph.nodes[i];
        let same_file = node.res.same_file();
        let Some(frame) = frames.frames.get(&i) else {
            plans[i] = Some(Err("no probe output for this resource (the probe script stopped early)".into()));
            continue;
        };
        if frame.repeated {
            plans[i] = Some(Err("the probe output holds this resource more than once".into()));
            continue;
        }
        if frame.status.is_none() {
            plans[i] = Some(Err("the probe output for this resource was cut short".into()));
            continue;
        }
        let notified_by: Vec<ResourceId> = graph
            .notifiers(i)
            .filter(|&j| changes(&plans, j))
            .filter(|j| match pass {
                Pass::First => true,
                Pass::Verify { again } => again.contains(j),
            })
            .map(|j| graph.nodes[j].id.clone())
            .collect();
        // an earlier edit of the same file is planned from, not waited for
        let chained = |j: usize| {
            same_file.is_some()
                && matches!(&plans[j], Some(Ok(p)) if p.leaves.as_ref().map(|(f, _)| f) == same_file.as_ref())
        };
        let upstream: Vec<ResourceId> = match pass {
            Pass::First => graph
                .upstream(i)
                .into_iter()
                .filter(|&j| !chained(j))
                .filter(|&j| changes(&plans, j) || matches!(&plans[j], Some(Ok(p)) if p.is_deferred()))
                .map(|j| graph.nodes[j].id.clone())
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
        plans[i] = Some(node.res.plan(&frame.body, &cx).map_err(|e| {
            let stderr = frame.stderr.trim();
            if stderr.is_empty() {
                format!("cannot read probe output: {e}")
            } else {
                format!("cannot read probe output: {e} ({stderr})")
            }
        }));
        if matches!(pass, Pass::First) {
            wait_for_deferred(graph, i, &mut plans);
            if changes(&plans, i) {
                earlier.push(node.id.clone());
            }
        }
        if let Some(Ok(Planned { leaves: Some((path, text)), .. })) = &plans[i] {
            std::sync::Arc::make_mut(&mut texts).insert(path.clone(), text.clone());
        }
    }
    plans
}

/// A change downstream of a deferred resource waits with it: it was planned from a host
/// the deferred change has not reached yet (a service started before the line that gives
/// it its options would start with the old ones). It gets no block in the first round and
/// is planned again from the verify probe, after what it waits for.
fn wait_for_deferred(graph: &HostGraph, i: usize, plans: &mut [Option<NodePlan>]) {
    let Some(Ok(p)) = &plans[i] else { return };
    if p.diff.is_ok() || p.is_deferred() {
        return;
    }
    let waiting: Vec<ResourceId> = graph
        .upstream(i)
        .into_iter()
        .filter(|&j| matches!(&plans[j], Some(Ok(q)) if q.is_deferred()))
        .map(|j| graph.nodes[j].id.clone())
        .collect();
    if waiting.is_empty() {
        return;
    }
    let diff = crate::resources::Diff::deferred(p.diff.changes.clone(), &waiting);
    plans[i] = Some(Ok(Planned { diff, steps: crate::script::Sh::new(), marks_acted: false, leaves: None }));
}
