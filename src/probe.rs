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

/// The probe script for the nodes in `which`.
pub fn script(graph: &HostGraph, which: &[NodeId], nonce: &Nonce) -> String {
    let mut sh = Sh::new();
    frames::header(&mut sh);
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
