//! The probe exchange: one read-only script for every resource of a host (the plan made
//! from its output is `plan.rs`).
//!
//! Each resource's snippet runs in a subshell inside its own frame; its stderr is kept
//! apart and shown only if its output cannot be parsed. For resources that can be
//! notified, the frame also says whether an earlier run left a refresh owed.

use crate::facts::Batches;
use crate::frames::{self, Nonce};
use crate::graph::{HostGraph, NodeId};
use crate::script::Sh;

/// The frame of the host facts a probe gathers alongside the resources (no node has
/// this index).
pub const FACTS_FRAME: usize = 999_999_999;

/// The probe script for the nodes in `which`, and with `facts` (names; none: no fact is
/// gathered) the host facts the graph's expansion read, in a frame of their own, first.
pub fn script(graph: &HostGraph, which: &[NodeId], nonce: &Nonce, facts: &[&str]) -> String {
    let mut sh = Sh::new();
    frames::header(&mut sh);
    if !facts.is_empty() {
        gather_facts(&mut sh, nonce, facts);
    }
    // each fact the nodes need, gathered once for all of them (`facts.rs`)
    let (batches, slots) = Batches::group(which.iter().map(|&i| graph[i].res.facts()));
    batches.gather(&mut sh);
    for (&id, slots) in which.iter().zip(&slots) {
        let node = &graph[id];
        let i = id.index();
        frames::marker(&mut sh, nonce, "b", i);
        sh.raw("(\n");
        batches.hand(&mut sh, slots);
        node.res.probe(&mut sh);
        sh.raw(") 2>\"$CV_E\" </dev/null\ncv_rc=$?\n");
        if node.res.notifiable() {
            sh.raw("if [ -e \"$CV_STATE/owed/\"").q(&node.id.owed_key()).raw(" ]; then ");
            frames::flag(&mut sh, nonce, i, "owed");
            sh.raw("fi\n");
        }
        sh.raw("if [ -s \"$CV_E\" ]; then ");
        frames::marker(&mut sh, nonce, "x", i);
        sh.raw("cat -- \"$CV_E\"; echo; fi\n");
        frames::end_marker(&mut sh, nonce, i);
    }
    sh.into_text()
}

/// The facts exchange of a first contact: every fact, in the facts frame.
pub fn facts_script(nonce: &Nonce) -> String {
    let mut sh = Sh::new();
    frames::header(&mut sh);
    gather_facts(&mut sh, nonce, &[]);
    sh.into_text()
}

fn gather_facts(sh: &mut Sh, nonce: &Nonce, facts: &[&str]) {
    frames::marker(sh, nonce, "b", FACTS_FRAME);
    sh.raw("(\n");
    crate::host_facts::gather(sh, facts);
    sh.raw(") 2>/dev/null </dev/null\ncv_rc=$?\n");
    frames::end_marker(sh, nonce, FACTS_FRAME);
}
