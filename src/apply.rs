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
//! ([`mark_rechecks`], shown in the plan as `?`); those whose steps are computed from
//! what they probed (`line` edits the probed text) defer themselves (`Diff::deferred`,
//! also `?`): no block in this round, planned again from the verify probe. Whatever else
//! a step changes behind a resource's back, with no edge declared, the verify after the
//! round finds (it probes the whole host), and a second round applies (`engine.rs`).
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
//! acted with `: > "$CV_A"` ([`Planned::marks_acted`]); one that ran without marking it
//! did nothing and is reported in sync, not changed.

use std::collections::HashMap;

use crate::frames::{self, Frames, Nonce};
use crate::graph::HostGraph;
use crate::plan::NodePlan;
use crate::probe::owed_key;
use crate::resources::{Action, Change, Diff, Planned, ResourceId};
use crate::script::Sh;

/// The last bytes of a failed step's output sent back.
const FAILURE_TAIL: u64 = 8192;

/// Nodes that have a block (something to change or re-check).
/// A deferred resource ([`Planned::is_deferred`]) has no block: it waits for the verify
/// probe after the round.
pub fn blocks(plans: &[Option<NodePlan>]) -> Vec<usize> {
    plans
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Some(Ok(p)) if !p.diff.is_ok() && !p.is_deferred()))
        .map(|(i, _)| i)
        .collect()
}

/// Nodes that count as failed before anything runs (their probe failed).
fn failed_up_front(plans: &[Option<NodePlan>]) -> Vec<usize> {
    plans.iter().enumerate().filter(|(_, p)| matches!(p, Some(Err(_)))).map(|(i, _)| i).collect()
}

/// Turns in-sync resources downstream of a change into re-check blocks, where their kind
/// can check and fix at apply time; and, for kinds that ask for it
/// ([`crate::resources::Kind::recheck_in_order`]: `exec`), in-sync resources that come
/// after a change in apply order, edge or not.
pub fn mark_rechecks(graph: &HostGraph, plans: &mut [Option<NodePlan>]) {
    let changing = blocks(plans);
    let down = graph.downstream(&changing);
    let mut before: Vec<usize> = Vec::new();
    for &i in &graph.order {
        let in_sync = matches!(&plans[i], Some(Ok(p)) if p.diff.is_ok());
        let causes: Vec<usize> = if !in_sync {
            Vec::new()
        } else if down[i] {
            changing.iter().copied().filter(|&c| graph.depends_on(i, c)).collect()
        } else if graph.nodes[i].res.recheck_in_order() {
            before.clone()
        } else {
            Vec::new()
        };
        if changing.contains(&i) {
            before.push(i);
        }
        if causes.is_empty() {
            continue;
        }
        let Some(steps) = graph.nodes[i].res.recheck() else { continue };
        let ids: Vec<ResourceId> = causes.iter().map(|&c| graph.nodes[c].id.clone()).collect();
        let note = format!("checked again after {}", crate::resources::changing(&ids));
        let diff = Diff { action: Action::Recheck, changes: vec![Change::Recheck(note)] };
        plans[i] = Some(Ok(Planned { diff, steps, marks_acted: true, leaves: None }));
    }
}

/// For each node, the nearest nodes with a block or an up-front failure among its
/// dependencies, looking through unchanged resources.
fn gate_deps(graph: &HostGraph, gated: &[bool]) -> Vec<Vec<usize>> {
    let mut memo: HashMap<usize, Vec<usize>> = HashMap::new();
    fn go(i: usize, graph: &HostGraph, gated: &[bool], memo: &mut HashMap<usize, Vec<usize>>) -> Vec<usize> {
        if let Some(v) = memo.get(&i) {
            return v.clone();
        }
        let mut out = Vec::new();
        for &d in &graph.deps[i] {
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
    (0..graph.nodes.len()).map(|i| go(i, graph, gated, &mut memo)).collect()
}

/// The apply script, or `None` when nothing needs changing.
pub fn script(graph: &HostGraph, plans: &[Option<NodePlan>], nonce: &Nonce) -> Option<String> {
    let blocks = blocks(plans);
    if blocks.iter().all(|&i| matches!(&plans[i], Some(Ok(p)) if p.diff.action == Action::Recheck)) {
        return None;
    }
    let failed = failed_up_front(plans);
    let mut gated = vec![false; graph.nodes.len()];
    for &i in blocks.iter().chain(failed.iter()) {
        gated[i] = true;
    }
    let gates = gate_deps(graph, &gated);
    let down = graph.downstream(&blocks);
    let mut sh = Sh::new();
    frames::header(&mut sh);
    sh.raw("umask 022\n");
    for i in &failed {
        sh.raw("CV_F_").num(*i as u64).raw("=1\n");
    }
    for &i in graph.order.iter().filter(|i| blocks.contains(i)) {
        let Some(Ok(planned)) = &plans[i] else { continue };
        block(graph, plans, i, planned, &gates[i], down[i], nonce, &mut sh);
    }
    Some(sh.into_text())
}

#[allow(clippy::too_many_arguments)]
fn block(
    graph: &HostGraph,
    plans: &[Option<NodePlan>],
    i: usize,
    planned: &Planned,
    gates: &[usize],
    downstream: bool,
    nonce: &Nonce,
    sh: &mut Sh,
) {
    let node = &graph.nodes[i];
    sh.raw("\n# block ").num(i as u64).nl();
    sh.raw("if [ -z \"");
    for g in gates {
        sh.raw("${CV_F_").num(*g as u64).raw(":-}");
    }
    sh.raw("\" ]; then\n");
    for &t in &graph.notifies[i] {
        let refreshes = matches!(&plans[t], Some(Ok(p)) if p.diff.changes.iter().any(Change::is_refresh));
        if refreshes {
            sh.raw("mkdir -p -- \"$CV_STATE/owed\" && : > \"$CV_STATE/owed/\"").q(&owed_key(&graph.nodes[t].id)).nl();
        }
    }
    frames::marker(sh, nonce, "b", i);
    sh.raw("rm -f -- \"$CV_A\" \"$CV_S\"\n(\nset -e\n");
    if downstream {
        sh.raw("CV_DOWNSTREAM=1\n");
    }
    sh.append(&planned.steps).raw(") >\"$CV_E\" 2>&1 </dev/null\ncv_rc=$?\n");
    // a stale block changed nothing; any other that ran may have changed something a
    // later block's guard looks at ($CV_RAN)
    sh.raw("if [ $cv_rc -ne 0 ] && [ -e \"$CV_S\" ]; then CV_F_").num(i as u64).raw("=1; ");
    frames::flag(sh, nonce, i, "stale");
    sh.raw("elif [ $cv_rc -ne 0 ]; then CV_F_").num(i as u64).raw("=1; CV_RAN=1; ");
    frames::marker(sh, nonce, "x", i);
    sh.raw("tail -c ").num(FAILURE_TAIL).raw(" -- \"$CV_E\"; echo\n");
    sh.raw("else\n");
    if node.res.notifiable() {
        sh.raw("rm -f -- \"$CV_STATE/owed/\"").q(&owed_key(&node.id)).nl();
    }
    if !planned.marks_acted {
        sh.raw("CV_RAN=1\n");
    }
    sh.raw("if [ -e \"$CV_A\" ]; then CV_RAN=1; ");
    frames::flag(sh, nonce, i, "acted");
    sh.raw("fi\nfi\n");
    frames::end_marker(sh, nonce, i);
    sh.raw("else CV_F_").num(i as u64).raw("=1; ");
    frames::marker(sh, nonce, "s", i);
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
    /// Its steps failed: why.
    Failed(String),
    /// Not run because something it depends on failed: why.
    Skipped(String),
    /// Its guard found what it would replace changed by an earlier block of this run
    /// (`cv_changed_since_plan`): it changed nothing, and is planned again from the
    /// verify probe.
    Stale,
    /// Not run because it depends on a stale block (named), with which it is planned
    /// again from the verify probe.
    Waiting(ResourceId),
}

/// What happened to each block, from the apply output. A block whose steps mark when
/// they act (a re-check, a guarded command) and did not is [`Step::Unchanged`].
pub fn outcomes(graph: &HostGraph, plans: &[Option<NodePlan>], frames: &Frames) -> Vec<Step> {
    let blocks = blocks(plans);
    let mut out: Vec<Step> = vec![Step::NotRun; graph.nodes.len()];
    for &i in &graph.order {
        if !blocks.contains(&i) {
            continue;
        }
        let marks_acted = matches!(&plans[i], Some(Ok(p)) if p.marks_acted);
        let flagged = |f: &frames::Frame, flag: &str| f.flags.iter().any(|x| x == flag);
        out[i] = match frames.frames.get(&i) {
            None => Step::Failed("did not run: the apply script stopped before this step (connection lost?)".into()),
            Some(f) if f.repeated => {
                Step::Failed("the apply output holds this step more than once: its result is unknown".into())
            }
            // the reason is filled in below, once every block's step is known
            Some(f) if f.skipped => Step::Skipped(String::new()),
            Some(f) if flagged(f, "stale") && f.status.is_some_and(|c| c != 0) => Step::Stale,
            Some(f) => match f.status {
                Some(0) if marks_acted && !flagged(f, "acted") => Step::Unchanged,
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
        };
    }
    // name the failure each skip comes from; a skip that comes only from stale blocks
    // waits for them
    for &i in &graph.order {
        if out[i] != Step::Skipped(String::new()) {
            continue;
        }
        out[i] =
            match graph.upstream_where(i, |d| matches!(out[d], Step::Failed(_)) || matches!(plans[d], Some(Err(_)))) {
                Some(c) => Step::Skipped(format!("skipped: needs {}, which failed", graph.nodes[c].id)),
                None => match graph.upstream_where(i, |d| out[d] == Step::Stale) {
                    Some(c) => Step::Waiting(graph.nodes[c].id.clone()),
                    None => Step::Skipped("skipped: a dependency failed".into()),
                },
            };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceId;

    #[test]
    fn a_deferred_plan_has_no_block_but_a_re_check_with_steps_has() {
        let mut steps = Sh::new();
        steps.raw("true\n");
        let change = Diff::new(Action::Change, vec![Change::set("x", "1", "2")]);
        let deferred = Diff::deferred(vec![Change::set("x", "1", "2")], &[ResourceId::new("package", "nginx")]);
        let recheck = Diff { action: Action::Recheck, changes: vec![Change::Recheck("x".into())] };
        let plans = vec![
            Some(Ok(Planned { diff: change, steps: steps.clone(), marks_acted: false, leaves: None })),
            Some(Ok(Planned { diff: deferred, steps: Sh::new(), marks_acted: false, leaves: None })),
            Some(Ok(Planned { diff: recheck, steps, marks_acted: true, leaves: None })),
            Some(Ok(Planned { diff: Diff::ok(), steps: Sh::new(), marks_acted: false, leaves: None })),
            Some(Err("probe failed".into())),
        ];
        assert_eq!(blocks(&plans), [0, 2]);
        let Some(Ok(p)) = &plans[1] else { panic!() };
        assert!(p.is_deferred());
        assert_eq!(p.diff.changes.last().and_then(|c| c.after()), Some("planned again after package:nginx changes"));
    }

    fn graph(playbook: &str) -> HostGraph {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("playbook.kdl");
        std::fs::write(&path, playbook).expect("write");
        let prepared = crate::prepare::prepare(&path, None, None).unwrap_or_else(|d| panic!("{d:?}"));
        prepared.jobs.into_iter().next().expect("one host").graph
    }

    fn planned(field: &str, marks_acted: bool) -> Option<NodePlan> {
        let change = match field {
            "run" => Change::refresh(crate::resources::Refresh::Run, "x"),
            _ => Change::new(field, None, Some("x".into())),
        };
        let diff = Diff::new(Action::Change, vec![change]);
        let mut steps = Sh::new();
        steps.raw("true\n");
        Some(Ok(Planned { diff, steps, marks_acted, leaves: None }))
    }

    #[test]
    fn a_block_that_marks_when_it_acts_is_changed_only_if_it_marked() {
        let g = graph("host \"a\"\nfile \"/a\" content=\"\"\nfile \"/b\" content=\"\"\nfile \"/c\" content=\"\"\n");
        let plans = vec![planned("run", true), planned("run", true), planned("content", false)];
        let nonce = Nonce::fixed("ab");
        let out = "::ab:b:0\n::ab:e:0:0\n::ab:b:1\n::ab:f:1:acted\n::ab:e:1:0\n::ab:b:2\n::ab:e:2:0\n";
        let got = outcomes(&g, &plans, &frames::parse(out, &nonce));
        // did not mark: in sync; marked: changed; a kind that never marks: changed
        assert_eq!(got, [Step::Unchanged, Step::Changed, Step::Changed]);
        // a failure is a failure whether or not it marked
        let out = "::ab:b:0\n::ab:x:0\nboom\n::ab:e:0:1\n";
        let got = outcomes(
            &g,
            &plans[..1].iter().cloned().chain([None, None]).collect::<Vec<_>>(),
            &frames::parse(out, &nonce),
        );
        assert_eq!(got[0], Step::Failed("boom".into()));
    }

    #[test]
    fn every_block_reports_whether_it_acted_and_a_notified_run_is_owed_first() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\" notify=\"exec:migrate\"\n\
             exec \"migrate\" command=\"true\" refresh-only=#true\n",
        );
        let plans = vec![planned("content", false), planned("run", true)];
        let script = script(&g, &plans, &Nonce::fixed("ab")).expect("a script");
        let key = crate::script::quote(&owed_key(&g.nodes[1].id));
        let owed = script.find(&format!("owed/\"{key}")).expect("the run is recorded as owed");
        assert!(owed < script.find("::ab:b:0").expect("block 0"), "{script}");
        assert!(script.contains(&format!("rm -f -- \"$CV_STATE/owed/\"{key}")), "{script}");
        assert!(script.contains("if [ -e \"$CV_A\" ]; then CV_RAN=1; echo ::ab:f:1:acted"), "{script}");
    }

    #[test]
    fn a_stale_block_is_planned_again_and_what_it_gates_waits_with_it() {
        let g = graph(
            "host \"a\"\nfile \"/a\" content=\"\"\nfile \"/b\" content=\"\" require=\"file:/a\"\n\
             file \"/c\" content=\"\"\nfile \"/d\" content=\"\" require=\"file:/c\"\n",
        );
        let plans = vec![
            planned("content", false),
            planned("content", false),
            planned("content", false),
            planned("content", false),
        ];
        let nonce = Nonce::fixed("ab");
        let out = "::ab:b:0\n::ab:f:0:stale\n::ab:e:0:3\n::ab:s:1\n::ab:b:2\n::ab:x:2\nboom\n::ab:e:2:1\n::ab:s:3\n";
        let got = outcomes(&g, &plans, &frames::parse(out, &nonce));
        assert_eq!(
            got,
            [
                Step::Stale,
                Step::Waiting(ResourceId::new("file", "/a")),
                Step::Failed("boom".into()),
                Step::Skipped("skipped: needs file:/c, which failed".into())
            ]
        );
        // the flag alone is not enough: a block that ended well changed what it planned
        let out = "::ab:b:0\n::ab:f:0:stale\n::ab:e:0:0\n";
        assert_eq!(outcomes(&g, &plans, &frames::parse(out, &nonce))[0], Step::Changed);
    }
}
