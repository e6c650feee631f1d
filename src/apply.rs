//! The apply exchange: one script with a block per resource that needs changing, in
//! topological order (declaration order breaking ties).
//!
//! Each block runs its steps in a `set -e` subshell with output captured; a failure
//! prints the captured tail and sets the block's failure flag. A block runs only if none
//! of the blocks it depends on (through any chain of unchanged resources) failed or was
//! skipped, so a failed step skips exactly its transitive dependents while independent
//! steps go on. A resource that could not be probed counts as failed from the start.
//!
//! One probe sees the host before anything changes, so a step can invalidate what was
//! probed after it: installing nginx creates the default site a later resource wants
//! absent. Resources downstream of a change are handled in four ways: their content
//! writes skip the "changed since plan" guard (`$CV_DOWNSTREAM`: the run itself changed
//! the file); those in sync whose kind has apply-time checks get a re-check block
//! ([`crate::plan::HostPlan::mark_rechecks`], shown in the plan as `?`); those whose steps are computed from
//! what they probed (`line` edits the probed text) defer themselves (`Diff::deferred`,
//! also `?`): no block in this round, planned again from the verify probe. Whatever else
//! a step changes behind a resource's back, with no edge declared, the verify after the
//! round finds (it probes the whole host), and a second round applies (`rounds.rs`).
//!
//! Every step that replaces something first checks it is still what the plan saw
//! (`cv_changed_since_plan`, in the script header). Once an earlier block of the script
//! has run (`$CV_RAN`), a mismatch is taken as the run's own doing (a package installing
//! the file a later resource writes): the block changes nothing and is reported stale
//! ([`Step::Stale`]), what depends on it waits ([`Step::Waiting`]), and both are planned
//! again from the verify probe. With no earlier block run, the change came from elsewhere
//! and the step fails "changed since plan".
//!
//! Before a block that notifies a service (or a command) runs, the refresh it will owe is
//! recorded under `$CV_STATE/owed/`; the target's own block clears it once it has
//! restarted (or run). A run that dies in between leaves the record for the next run's
//! probe.
//!
//! Some blocks decide at apply time whether to act: re-check blocks, and commands behind
//! guards evaluated again just before they would run (`exec`). Their steps mark that they
//! acted with `: > "$CV_A"` ([`crate::resources::Kind::marks_acted`]); one that ran without marking it
//! did nothing and is reported in sync, not changed.

use std::collections::HashMap;

use crate::frames::{self, Frame, Frames, Nonce};
use crate::graph::{HostGraph, NodeId, PerNode};
use crate::plan::{Bases, HostPlan, NodeState};
use crate::script::Sh;

/// The last bytes of a failed step's output sent back.
const FAILURE_TAIL: u64 = 8192;

/// For each node, the nearest nodes with a block or an up-front failure among its
/// dependencies, looking through unchanged resources.
fn gate_deps(graph: &HostGraph, gated: &PerNode<bool>) -> PerNode<Vec<NodeId>> {
    let mut memo: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    fn go(i: NodeId, graph: &HostGraph, gated: &PerNode<bool>, memo: &mut HashMap<NodeId, Vec<NodeId>>) -> Vec<NodeId> {
        if let Some(v) = memo.get(&i) {
            return v.clone();
        }
        let mut out = Vec::new();
        for &d in graph.deps(i) {
            if gated[d] {
                out.push(d);
            } else {
                out.extend(go(d, graph, gated, memo));
            }
        }
        out.sort_unstable();
        out.dedup();
        memo.insert(i, out.clone());
        out
    }
    PerNode::from_fn(graph, |i| go(i, graph, gated, &mut memo))
}

/// The steps of a node's block: its kind's re-check, or the steps written from what it
/// was planned from; `None` when there is nothing to write them from.
pub(crate) fn steps(graph: &HostGraph, plan: &HostPlan, bases: &Bases, i: NodeId) -> Option<Sh> {
    let res = &graph[i].res;
    match &plan[i] {
        NodeState::Recheck { .. } => res.recheck(),
        _ => bases[i].as_ref().and_then(|b| res.write_steps(b)),
    }
}

/// Whether a node's block marks that it acted (`$CV_A`): re-checks, and kinds that decide
/// at apply time whether to act.
fn marks_acted(graph: &HostGraph, plan: &HostPlan, i: NodeId) -> bool {
    matches!(plan[i], NodeState::Recheck { .. }) || graph[i].res.marks_acted()
}

/// The apply script for the blocks of `plan`, their steps written from `bases`; `None`
/// when nothing needs changing (re-checks alone are not worth an exchange).
pub fn script(graph: &HostGraph, plan: &HostPlan, bases: &Bases, nonce: &Nonce) -> Option<String> {
    if !plan.changes_anything() {
        return None;
    }
    let blocks = plan.blocks(graph);
    let failed: Vec<NodeId> = graph.order().iter().copied().filter(|&i| plan[i].probe_failed()).collect();
    let mut gated = PerNode::new(graph, false);
    for &i in blocks.iter().chain(failed.iter()) {
        gated[i] = true;
    }
    let gates = gate_deps(graph, &gated);
    let down = graph.downstream(&blocks);
    let mut sh = Sh::new();
    frames::header(&mut sh);
    sh.raw("umask 022\n");
    let mut failed = failed;
    failed.sort_unstable();
    for i in &failed {
        sh.raw("CV_F_").num(i.index() as u64).raw("=1\n");
    }
    for &i in &blocks {
        block(graph, plan, bases, i, &gates[i], down[i], nonce, &mut sh);
    }
    Some(sh.into_text())
}

#[allow(clippy::too_many_arguments)]
fn block(
    graph: &HostGraph,
    plan: &HostPlan,
    bases: &Bases,
    i: NodeId,
    gates: &[NodeId],
    downstream: bool,
    nonce: &Nonce,
    sh: &mut Sh,
) {
    let node = &graph[i];
    let n = i.index();
    sh.raw("\n# block ").num(n as u64).nl();
    sh.raw("if [ -z \"");
    for g in gates {
        sh.raw("${CV_F_").num(g.index() as u64).raw(":-}");
    }
    sh.raw("\" ]; then\n");
    for &t in graph.notifies(i) {
        if plan[t].change().is_some_and(|c| c.refreshes()) {
            sh.raw("mkdir -p -- \"$CV_STATE/owed\" && : > \"$CV_STATE/owed/\"").q(&graph[t].id.owed_key()).nl();
        }
    }
    frames::marker(sh, nonce, "b", n);
    sh.raw("rm -f -- \"$CV_A\" \"$CV_S\"\n(\nset -e\n");
    if downstream {
        sh.raw("CV_DOWNSTREAM=1\n");
    }
    match steps(graph, plan, bases, i) {
        Some(steps) => sh.append(&steps),
        None => sh.raw("echo 'converge: internal error: no steps were planned for this resource' >&2\nexit 1\n"),
    };
    sh.raw(") >\"$CV_E\" 2>&1 </dev/null\ncv_rc=$?\n");
    // a stale block changed nothing; any other that ran may have changed something a
    // later block's guard looks at ($CV_RAN)
    sh.raw("if [ $cv_rc -ne 0 ] && [ -e \"$CV_S\" ]; then CV_F_").num(n as u64).raw("=1; ");
    frames::flag(sh, nonce, n, "stale");
    sh.raw("elif [ $cv_rc -ne 0 ]; then CV_F_").num(n as u64).raw("=1; CV_RAN=1; ");
    frames::marker(sh, nonce, "x", n);
    sh.raw("tail -c ").num(FAILURE_TAIL).raw(" -- \"$CV_E\"; echo\n");
    sh.raw("else\n");
    if node.res.notifiable() {
        sh.raw("rm -f -- \"$CV_STATE/owed/\"").q(&node.id.owed_key()).nl();
    }
    if !marks_acted(graph, plan, i) {
        sh.raw("CV_RAN=1\n");
    }
    sh.raw("if [ -e \"$CV_A\" ]; then CV_RAN=1; ");
    frames::flag(sh, nonce, n, "acted");
    sh.raw("fi\nfi\n");
    frames::end_marker(sh, nonce, n);
    sh.raw("else CV_F_").num(n as u64).raw("=1; ");
    frames::marker(sh, nonce, "s", n);
    sh.raw("fi\n");
}

/// What one block of an apply round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No block in this round.
    NotRun,
    /// Its steps ran and changed something.
    Changed,
    /// Its steps ran and found nothing to do (a re-check, a guarded command that did not
    /// mark that it acted).
    Unchanged,
    /// Its steps failed: the output they left.
    Failed(String),
    /// Not run because something it depends on failed: the nearest failed node, if known.
    Skipped(Option<NodeId>),
    /// Its guard found what it would replace changed by an earlier block of this run
    /// (`cv_changed_since_plan`): it changed nothing, and is planned again from the
    /// verify probe.
    Stale,
    /// Not run because it depends on a stale block (named), with which it is planned
    /// again from the verify probe.
    Waiting(NodeId),
}

impl Step {
    /// Whether it ran and may have changed the host.
    pub fn may_have_changed(&self) -> bool {
        matches!(self, Step::Changed | Step::Failed(_))
    }
}

/// What one block did, from its frame (`None`: the output has none). A skipped block is
/// [`Step::Skipped`] with no cause: [`outcomes`] names it once every block is known.
pub fn outcome(graph: &HostGraph, plan: &HostPlan, i: NodeId, frame: Option<&Frame>) -> Step {
    let flagged = |f: &Frame, flag: &str| f.flags.iter().any(|x| x == flag);
    match frame {
        None => Step::Failed("did not run: the apply script stopped before this step (connection lost?)".into()),
        Some(f) if f.repeated => {
            Step::Failed("the apply output holds this step more than once: its result is unknown".into())
        }
        Some(f) if f.skipped => Step::Skipped(None),
        Some(f) if flagged(f, "stale") && f.status.is_some_and(|c| c != 0) => Step::Stale,
        Some(f) => match f.status {
            Some(0) if marks_acted(graph, plan, i) && !flagged(f, "acted") => Step::Unchanged,
            Some(0) => Step::Changed,
            Some(code) => {
                let text = f.stderr.trim();
                Step::Failed(if text.is_empty() {
                    format!("step failed with exit status {code}")
                } else {
                    text.to_string()
                })
            }
            None => Step::Failed("the step was cut short (connection lost?)".into()),
        },
    }
}

/// What happened to each block, from the apply output. A block whose steps mark when
/// they act (a re-check, a guarded command) and did not is [`Step::Unchanged`].
pub fn outcomes(graph: &HostGraph, plan: &HostPlan, frames: &Frames) -> PerNode<Step> {
    let mut out: PerNode<Step> = PerNode::new(graph, Step::NotRun);
    // blocks that were skipped: their reason is found once every block's step is known
    let mut skipped: Vec<NodeId> = Vec::new();
    for i in plan.blocks(graph) {
        out[i] = outcome(graph, plan, i, frames.frames.get(&i.index()));
        if out[i] == Step::Skipped(None) {
            skipped.push(i);
        }
    }
    // name the failure each skip comes from; a skip that comes only from stale blocks
    // waits for them
    for i in skipped {
        let failed = graph.upstream_where(i, |d| matches!(out[d], Step::Failed(_)) || plan[d].probe_failed());
        out[i] = match failed {
            Some(c) => Step::Skipped(Some(c)),
            None => match graph.upstream_where(i, |d| out[d] == Step::Stale) {
                Some(c) => Step::Waiting(c),
                None => Step::Skipped(None),
            },
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Changes, ProbeFailure};
    use crate::resources::{Action, Change, Refresh};

    fn graph(playbook: &str) -> HostGraph {
        crate::prepare::graph_of(playbook)
    }

    fn planned(change: Change) -> NodeState {
        NodeState::Planned { change: Changes { action: Action::Change, changes: vec![change] } }
    }

    fn content() -> NodeState {
        planned(Change::set("content", "a", "b"))
    }

    fn plan_of(g: &HostGraph, states: Vec<NodeState>) -> HostPlan {
        HostPlan::with_states(g, states)
    }

    fn no_bases(g: &HostGraph) -> Bases {
        PerNode::from_fn(g, |_| None)
    }

    #[test]
    fn a_deferred_node_has_no_block_but_a_re_check_has() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\"\nfile \"/b\" content=\"\"\nfile \"/c\" content=\"\"\nfile \"/d\" content=\"\"\nfile \"/e\" content=\"\"\n",
        );
        let deferred = NodeState::Deferred {
            change: Changes { action: Action::Change, changes: vec![Change::set("x", "1", "2")] },
            waiting_on: vec![NodeId(0)],
        };
        let plan = plan_of(
            &g,
            vec![
                content(),
                deferred,
                NodeState::Recheck { because: vec![NodeId(0)] },
                NodeState::InSync,
                NodeState::ProbeFailed { error: ProbeFailure::Missing },
            ],
        );
        assert_eq!(plan.blocks(&g), [NodeId(0), NodeId(2)]);
        let (action, changes, _) = plan[NodeId(1)].shown(&g);
        assert_eq!(action, Action::Recheck);
        assert_eq!(changes.last(), Some(&Change::Recheck("planned again after file:/a changes".into())));
        // re-checks alone send no script
        let rechecks = plan_of(&g, vec![NodeState::InSync, NodeState::InSync, NodeState::Recheck { because: vec![] }]);
        assert_eq!(script(&g, &rechecks, &no_bases(&g), &Nonce::fixed("ab")), None);
        // a probe that failed counts as failed from the start
        let text = script(&g, &plan, &no_bases(&g), &Nonce::fixed("ab")).expect("a script");
        assert!(text.contains("CV_F_4=1\n"), "{text}");
    }

    #[test]
    fn a_block_that_marks_when_it_acts_is_changed_only_if_it_marked() {
        let g = graph(
            "host \"a\"\nexec \"a\" command=\"true\" creates=\"/a\"\nexec \"b\" command=\"true\" creates=\"/b\"\nfile \"/c\" content=\"\"\n",
        );
        let run = || planned(Change::refresh(Refresh::Run, "x"));
        let plan = plan_of(&g, vec![run(), run(), content()]);
        let nonce = Nonce::fixed("ab");
        let out = "::ab:b:0\n::ab:e:0:0\n::ab:b:1\n::ab:f:1:acted\n::ab:e:1:0\n::ab:b:2\n::ab:e:2:0\n";
        let got = outcomes(&g, &plan, &frames::parse(out, &nonce));
        // did not mark: in sync; marked: changed; a kind that never marks: changed
        assert_eq!(got.values().cloned().collect::<Vec<_>>(), [Step::Unchanged, Step::Changed, Step::Changed]);
        // a failure is a failure whether or not it marked
        let out = "::ab:b:0\n::ab:x:0\nboom\n::ab:e:0:1\n";
        let plan = plan_of(&g, vec![run()]);
        assert_eq!(outcomes(&g, &plan, &frames::parse(out, &nonce))[NodeId(0)], Step::Failed("boom".into()));
    }

    #[test]
    fn every_block_reports_whether_it_acted_and_a_notified_run_is_owed_first() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\" notify=\"exec:migrate\"\n\
             exec \"migrate\" command=\"true\" refresh-only=#true\n",
        );
        let plan = plan_of(&g, vec![content(), planned(Change::refresh(Refresh::Run, "x"))]);
        let script = script(&g, &plan, &no_bases(&g), &Nonce::fixed("ab")).expect("a script");
        let key = crate::script::quote(&g.nodes[1].id.owed_key());
        let owed = script.find(&format!("owed/\"{key}")).expect("the run is recorded as owed");
        assert!(owed < script.find("::ab:b:0").expect("block 0"), "{script}");
        assert!(script.contains(&format!("rm -f -- \"$CV_STATE/owed/\"{key}")), "{script}");
        assert!(script.contains("if [ -e \"$CV_A\" ]; then CV_RAN=1; echo ::ab:f:1:acted"), "{script}");
    }

    #[test]
    fn a_block_with_nothing_to_write_its_steps_from_fails_instead_of_doing_nothing() {
        let g = graph("host \"a\"\nfile \"/a\" content=\"\"\n");
        let plan = plan_of(&g, vec![content()]);
        let script = script(&g, &plan, &no_bases(&g), &Nonce::fixed("ab")).expect("a script");
        assert!(script.contains("internal error: no steps were planned for this resource' >&2\nexit 1\n"), "{script}");
    }

    #[test]
    fn a_stale_block_is_planned_again_and_what_it_gates_waits_with_it() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\"\nfile \"/b\" content=\"\" require=\"file:/a\"\n\
             file \"/c\" content=\"\"\nfile \"/d\" content=\"\" require=\"file:/c\"\n",
        );
        let plan = plan_of(&g, vec![content(), content(), content(), content()]);
        let nonce = Nonce::fixed("ab");
        let out = "::ab:b:0\n::ab:f:0:stale\n::ab:e:0:3\n::ab:s:1\n::ab:b:2\n::ab:x:2\nboom\n::ab:e:2:1\n::ab:s:3\n";
        let got = outcomes(&g, &plan, &frames::parse(out, &nonce));
        assert_eq!(
            got.values().cloned().collect::<Vec<_>>(),
            [Step::Stale, Step::Waiting(NodeId(0)), Step::Failed("boom".into()), Step::Skipped(Some(NodeId(2)))]
        );
        // the flag alone is not enough: a block that ended well changed what it planned
        let out = "::ab:b:0\n::ab:f:0:stale\n::ab:e:0:0\n";
        assert_eq!(outcomes(&g, &plan, &frames::parse(out, &nonce))[NodeId(0)], Step::Changed);
    }
}
