//! The probe exchange: one read-only script for every resource of a host (the plan made
//! from its output is `plan.rs`).
//!
//! Each resource's snippet runs in a subshell inside its own frame; its stderr is kept
//! apart and shown only if its output cannot be parsed. For resources that can be
//! notified, the frame also says whether an earlier run left a refresh owed.

use crate::frames::{self, Nonce};
use crate::graph::{HostGraph, NodeId, PerNode};
use crate::resources::{psql, service, supervisor_program};
use crate::script::Sh;

/// The probe script for the nodes in `which`.
pub fn script(graph: &HostGraph, which: &[NodeId], nonce: &Nonce) -> String {
    let mut sh = Sh::new();
    frames::header(&mut sh);
    let slots = batch(&mut sh, graph, which);
    for &id in which {
        let node = &graph[id];
        let i = id.index();
        frames::marker(&mut sh, nonce, "b", i);
        sh.raw("(\n");
        if let Some(k) = slots.stat.slot(id) {
            sh.raw("cv_stat=${cv_st_").num(k).raw("-}\n");
        }
        if let Some(k) = slots.sum.slot(id) {
            sh.raw("cv_sum=${cv_sum_").num(k).raw("-}\n");
        }
        if let Some(k) = slots.unit.slot(id) {
            sh.raw("cv_svc_k=").num(k).raw("\n");
        }
        if let Some(k) = slots.psql.slot(id) {
            sh.raw("cv_pg_k=").num(k).raw("\n");
        }
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

/// One batch: each node's slot in it, if it has one, and what the slots ask for, in
/// slot order.
struct Batch {
    slots: PerNode<Option<usize>>,
    items: Vec<String>,
}

impl Batch {
    fn new(graph: &HostGraph) -> Batch {
        Batch { slots: PerNode::new(graph, None), items: Vec::new() }
    }

    fn add(&mut self, node: NodeId, item: String) {
        self.slots[node] = Some(self.items.len());
        self.items.push(item);
    }

    fn slot(&self, node: NodeId) -> Option<u64> {
        self.slots[node].map(|k| k as u64)
    }

    /// Whether the batch is worth running: a batch of one is no saving, so it is dropped
    /// and its node asks on its own.
    fn worth_it(&mut self, graph: &HostGraph) -> bool {
        if self.items.len() < 2 {
            self.slots = PerNode::new(graph, None);
            self.items.clear();
        }
        !self.items.is_empty()
    }
}

/// The batches of a probe script: `stat` and `sha256sum` lines, psql queries, units.
struct Slots {
    stat: Batch,
    sum: Batch,
    psql: Batch,
    unit: Batch,
}

/// The batched facts of [`crate::resources::Batched`]: one `stat` for every path the
/// nodes ask for and one `sha256sum` for every file, split into `cv_st_K` and `cv_sum_K`
/// by shell builtins. A batch is all or nothing: when one path is missing (or, for the
/// hashes, not a regular file) its command fails, no slot is set, and each snippet runs
/// its own command as it would without a batch. Lines are matched to paths by position,
/// which the exit status makes safe: both tools print exactly one line per operand when
/// they succeed, and paths whose `sha256sum` line would be escaped (a backslash or a
/// newline in the name) are left out of the batch. A batch of one is no saving. The
/// status of all supervisor programs is read once when two or more ask for it, and the
/// queries of the `postgres-*` resources run in one psql session; one `systemctl show`
/// gives the state of every service.
fn batch(sh: &mut Sh, graph: &HostGraph, which: &[NodeId]) -> Slots {
    let g = graph;
    let mut slots = Slots { stat: Batch::new(g), sum: Batch::new(g), psql: Batch::new(g), unit: Batch::new(g) };
    let mut supervised = 0;
    for &i in which {
        let b = graph[i].res.batched();
        supervised += usize::from(b.supervisor);
        if let Some(u) = b.unit {
            slots.unit.add(i, u);
        }
        if let Some(q) = b.psql {
            slots.psql.add(i, q);
        }
        if let Some(p) = b.stat {
            slots.stat.add(i, p);
        }
        if let Some(p) = b.sha256.filter(|p| !p.contains(['\\', '\n'])) {
            slots.sum.add(i, p);
        }
    }
    let (stat, sum) = (slots.stat.worth_it(g), slots.sum.worth_it(g));
    if slots.psql.worth_it(g) {
        psql::batch(sh, &slots.psql.items);
    }
    if slots.unit.worth_it(g) {
        service::batch(sh, &slots.unit.items);
    }
    if supervised >= 2 {
        supervisor_program::batch(sh);
    }
    if !stat && !sum {
        return slots;
    }
    sh.raw("cv_split() {\ncv_i=0\nwhile IFS= read -r cv_l; do eval \"cv_$1_$cv_i=\\$cv_l\"; cv_i=$((cv_i + 1)); done <<CV_EOF\n$2\nCV_EOF\n}\n");
    if stat {
        sh.raw("unset");
        for k in 0..slots.stat.items.len() {
            sh.raw(" cv_st_").num(k as u64);
        }
        sh.raw("\ncv_b=$(stat -c '%U:%u:%G:%g:%a' --");
        for p in &slots.stat.items {
            sh.sp().q(p);
        }
        sh.raw(" 2>/dev/null) && cv_split st \"$cv_b\"\n");
    }
    if sum {
        sh.raw("unset");
        for k in 0..slots.sum.items.len() {
            sh.raw(" cv_sum_").num(k as u64);
        }
        // sha256sum would block on a FIFO and never end on a device: regular files only
        sh.raw("\nif true");
        for p in &slots.sum.items {
            sh.raw(" && [ -f ").q(p).raw(" ] && [ ! -L ").q(p).raw(" ]");
        }
        sh.raw("; then cv_b=$(sha256sum --");
        for p in &slots.sum.items {
            sh.sp().q(p);
        }
        sh.raw(" 2>/dev/null) && cv_split sum \"$cv_b\"; fi\n");
    }
    slots
}
