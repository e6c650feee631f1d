//! The dependency graph of one host's resources.
//!
//! Edges come from `require` (this needs that first), `notify` (this changes, then that
//! refreshes: the target runs after its notifier) and implicit dependencies kinds declare
//! (a file needs its managed parent directory and owner), kept only when the target is
//! managed on the host. An implicit dependency on `kind:*`
//! ([`Implicit::every`](crate::resources::Implicit::every)) is an edge from every resource
//! of that kind (ufw rules before the firewall is enabled). A cycle is a diagnostic that
//! shows every hop, each labelled at the token that made the edge. The apply order is
//! topological with declaration order breaking ties (Kahn's algorithm on a min-heap), so
//! plans are deterministic and read like the playbook.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::diag::{At, Code, Diag, Diags, did_you_mean};
use crate::playbook::ResourceDecl;
use crate::playbook::expand::{Expansion, Instance, Reference, Skipped, Unbuilt};
use crate::resources::{EVERY, ResourceId};

/// Why one resource comes before another.
#[derive(Debug, Clone)]
pub enum Edge {
    Require(At),
    Notify(At),
    /// `subscribe`: a `notify` written on the receiver.
    Subscribe(At),
    Implicit(&'static str),
}

impl Edge {
    /// Whether the playbook wrote it (`require`, `notify`, `subscribe`), not a kind.
    pub fn is_explicit(&self) -> bool {
        !matches!(self, Edge::Implicit(_))
    }

    /// The word that made it (`require`, `notify`, `subscribe`), or what a kind said of
    /// an implicit one ("parent directory").
    pub fn reason(&self) -> &'static str {
        match self {
            Edge::Require(_) => "require",
            Edge::Notify(_) => "notify",
            Edge::Subscribe(_) => "subscribe",
            Edge::Implicit(why) => why,
        }
    }
}

/// One edge of a host's graph, as it was made: `from` comes before `to` (a dependency
/// before its dependent, a notifier before what it notifies), and why. Every reason is
/// kept, even where two reasons join the same pair (`converge graph` draws each).
#[derive(Debug, Clone)]
pub struct Link {
    pub from: NodeId,
    pub to: NodeId,
    pub why: Edge,
}

/// A resource of one host's graph: its place in [`HostGraph::nodes`] (declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub usize);

impl NodeId {
    pub fn index(self) -> usize {
        self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One value per node of a graph, indexed by [`NodeId`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PerNode<T>(Vec<T>);

impl<T: Clone> PerNode<T> {
    /// `value` for each node of `graph`.
    pub fn new(graph: &HostGraph, value: T) -> PerNode<T> {
        PerNode(vec![value; graph.nodes.len()])
    }
}

impl<T> PerNode<T> {
    pub fn from_fn(graph: &HostGraph, f: impl FnMut(NodeId) -> T) -> PerNode<T> {
        PerNode((0..graph.nodes.len()).map(NodeId).map(f).collect())
    }
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.0.iter().enumerate().map(|(i, v)| (NodeId(i), v))
    }
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> std::ops::Index<NodeId> for PerNode<T> {
    type Output = T;
    fn index(&self, id: NodeId) -> &T {
        &self.0[id.0]
    }
}

impl<T> std::ops::IndexMut<NodeId> for PerNode<T> {
    fn index_mut(&mut self, id: NodeId) -> &mut T {
        &mut self.0[id.0]
    }
}

#[derive(Debug)]
pub struct HostGraph {
    /// Resources in declaration order, indexed by [`NodeId`].
    pub nodes: Vec<Instance>,
    /// Direct dependencies of each node (what must run before it).
    deps: PerNode<Vec<NodeId>>,
    /// Nodes each node notifies.
    notifies: PerNode<Vec<NodeId>>,
    /// Topological order, declaration order breaking ties.
    order: Vec<NodeId>,
    /// Every edge with its reason, in the order they were made.
    links: Vec<Link>,
    /// Declarations a `when` left out on this host, for the plan.
    pub skipped: Vec<Skipped>,
    /// The host facts its expansion read (see `host_facts.rs`).
    pub facts_read: BTreeSet<String>,
}

impl std::ops::Index<NodeId> for HostGraph {
    type Output = Instance;
    fn index(&self, id: NodeId) -> &Instance {
        &self.nodes[id.0]
    }
}

impl HostGraph {
    /// Every node, in apply order: topological, declaration order breaking ties.
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }

    /// The node of a resource.
    pub fn find(&self, id: &ResourceId) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.id == *id).map(NodeId)
    }

    /// The nodes `id` needs first, directly.
    pub fn deps(&self, id: NodeId) -> &[NodeId] {
        &self.deps[id]
    }

    /// Every edge with its reason (see [`Link`]).
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The nodes `id` notifies.
    pub fn notifies(&self, id: NodeId) -> &[NodeId] {
        &self.notifies[id]
    }

    /// Nodes that notify `id`.
    pub fn notifiers(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.notifies.iter().filter(move |(_, to)| to.contains(&id)).map(|(n, _)| n)
    }

    /// Which nodes depend, directly or not, on a node in `from` (not counting `from` itself
    /// unless it also depends on another one).
    pub fn downstream(&self, from: &[NodeId]) -> PerNode<bool> {
        let mut marked = PerNode::new(self, false);
        let mut seeds = PerNode::new(self, false);
        for &i in from {
            seeds[i] = true;
        }
        // the order is topological: a node's dependencies are decided before it
        for &i in &self.order {
            marked[i] = self.deps[i].iter().any(|&d| seeds[d] || marked[d]);
        }
        marked
    }

    /// Whether `id` depends on `on`, directly or not.
    pub fn depends_on(&self, id: NodeId, on: NodeId) -> bool {
        self.upstream_where(id, |d| d == on).is_some()
    }

    /// Every node `id` depends on, directly or not, in apply order.
    pub fn upstream(&self, id: NodeId) -> Vec<NodeId> {
        let mut seen = PerNode::new(self, false);
        let mut stack = self.deps[id].clone();
        while let Some(d) = stack.pop() {
            if !std::mem::replace(&mut seen[d], true) {
                stack.extend(self.deps[d].iter().copied());
            }
        }
        self.order.iter().copied().filter(|&d| seen[d]).collect()
    }

    /// The first node `id` depends on, directly or not, for which `pick` holds (depth
    /// first from its direct dependencies).
    pub fn upstream_where(&self, id: NodeId, pick: impl Fn(NodeId) -> bool) -> Option<NodeId> {
        let mut stack = self.deps[id].clone();
        let mut seen = PerNode::new(self, false);
        while let Some(d) = stack.pop() {
            if std::mem::replace(&mut seen[d], true) {
                continue;
            }
            if pick(d) {
                return Some(d);
            }
            stack.extend(self.deps[d].iter().copied());
        }
        None
    }
}

/// `--tags` and `--skip-tags`: which resources a run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only resources with one of these tags (and what they need); empty: every resource.
    pub tags: Vec<String>,
    /// Never resources with one of these tags, even when a selected one needs them.
    pub skip_tags: Vec<String>,
}

impl Selection {
    pub fn is_everything(&self) -> bool {
        self.tags.is_empty() && self.skip_tags.is_empty()
    }

    fn skips(&self, tags: &[String]) -> bool {
        tags.iter().any(|t| self.skip_tags.contains(t))
    }

    fn picks(&self, tags: &[String]) -> bool {
        (self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t))) && !self.skips(tags)
    }
}

impl HostGraph {
    /// The graph of what `sel` selects: the resources it picks, and what they need
    /// (their dependencies, the services they notify and what those need, each marked
    /// `kept_for` the selected resource it is kept for), except what `--skip-tags`
    /// names, which wins over keeping. A reference to a resource left out is satisfied
    /// (it is not this run's to apply).
    pub fn select(self, sel: &Selection) -> Result<HostGraph, Diags> {
        if sel.is_everything() {
            return Ok(self);
        }
        let n = self.nodes.len();
        let mut keep: Vec<Option<Option<NodeId>>> = vec![None; n];
        let roots: Vec<NodeId> = (0..n).map(NodeId).filter(|&i| sel.picks(&self[i].tags)).collect();
        for &i in &roots {
            keep[i.0] = Some(None);
        }
        // what each selected resource needs, kept for the first one declared that needs it
        for &root in &roots {
            let mut stack = vec![root];
            while let Some(i) = stack.pop() {
                for &j in self.deps(i).iter().chain(self.notifies(i)) {
                    if keep[j.0].is_none() && !sel.skips(&self[j].tags) {
                        keep[j.0] = Some(Some(root));
                        stack.push(j);
                    }
                }
            }
        }
        let ids: Vec<ResourceId> = self.nodes.iter().map(|n| n.id.clone()).collect();
        let HostGraph { nodes, skipped, facts_read, .. } = self;
        let mut instances = Vec::new();
        let mut unbuilt = Vec::new();
        for (k, mut inst) in nodes.into_iter().enumerate() {
            match keep[k] {
                Some(root) => {
                    inst.kept_for = root.map(|r| ids[r.0].clone());
                    instances.push(inst);
                }
                None => unbuilt.push(Unbuilt {
                    kind: inst.id.kind,
                    names: Some(
                        std::iter::once(inst.id.name.clone())
                            .chain(inst.aliases.iter().map(|a| a.name.clone()))
                            .collect(),
                    ),
                    references: Vec::new(),
                    decl: inst.decl,
                }),
            }
        }
        build_checked(Expansion { instances, unbuilt, skipped, facts_read })
    }
}

pub fn build(nodes: Vec<Instance>) -> Result<HostGraph, Diags> {
    build_checked(Expansion { instances: nodes, ..Expansion::default() })
}

/// [`build`] for a host whose expansion left declarations unbuilt (reported already):
/// the graph of what was built is still checked (unknown references, cycles), without
/// reporting a reference as naming nothing when it may name an unbuilt declaration, and
/// the unbuilt declarations' own references are checked too.
pub fn build_checked(expansion: Expansion) -> Result<HostGraph, Diags> {
    let Expansion { instances: nodes, unbuilt, skipped, facts_read } = expansion;
    let mut diags = Diags::default();
    let mut index: HashMap<&ResourceId, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        index.insert(&n.id, i);
        for a in &n.aliases {
            index.insert(a, i);
        }
    }
    let mut g: DiGraph<usize, Edge> = DiGraph::new();
    let ix: Vec<NodeIndex> = (0..nodes.len()).map(|i| g.add_node(i)).collect();
    let mut notifies = vec![Vec::new(); nodes.len()];
    let mut links = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        for r in &n.requires {
            if let Some(&j) = resolve(r, "require", &n.decl, &index, &nodes, &unbuilt, &mut diags) {
                add_edge(&mut g, &mut links, ix[j], ix[i], Edge::Require(r.text.at.clone()));
            }
        }
        // `subscribe` is `notify` written on the receiver
        let sent = n.notifies.iter().map(|r| (r, "notify"));
        let received = n.subscribes.iter().map(|r| (r, "subscribe"));
        for (r, what) in sent.chain(received) {
            let Some(&other) = resolve(r, what, &n.decl, &index, &nodes, &unbuilt, &mut diags) else { continue };
            let (sender, j) = if what == "notify" { (i, other) } else { (other, i) };
            if !nodes[j].res.notifiable() {
                diags.push(
                    n.decl.annotate(
                        Diag::new(
                            Code::Notify,
                            format!("`{}` cannot be notified", nodes[j].id),
                            &r.text.at,
                            "nothing to restart or reload",
                        )
                        .help("notify what can restart or reload (a service, a supervisor program, a container, a refresh-only exec); use `require` for ordering only"),
                    ),
                );
                continue;
            }
            notifies[sender].push(j);
            let at = r.text.at.clone();
            let why = if what == "notify" { Edge::Notify(at) } else { Edge::Subscribe(at) };
            add_edge(&mut g, &mut links, ix[sender], ix[j], why);
        }
        for imp in n.res.deps() {
            if imp.target.name == EVERY {
                let of_kind = nodes.iter().enumerate().filter(|(j, m)| *j != i && m.id.kind == imp.target.kind);
                for (j, _) in of_kind {
                    add_edge(&mut g, &mut links, ix[j], ix[i], Edge::Implicit(imp.why));
                }
            } else if let Some(&j) = index.get(&imp.target).filter(|&&j| j != i) {
                add_edge(&mut g, &mut links, ix[j], ix[i], Edge::Implicit(imp.why));
            }
        }
    }
    // the references of declarations that could not be built: only whether they name
    // something (the `notify` of an unbuilt resource cannot be checked for a target)
    for u in &unbuilt {
        for (r, what) in &u.references {
            resolve(r, what, &u.decl, &index, &nodes, &unbuilt, &mut diags);
        }
    }
    // resources that edit the same file in place, in declaration order: each after the one
    // before (it is planned from the text that one leaves, see `Kind::same_file`)
    let mut last_edit: HashMap<String, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(path) = n.res.same_file()
            && let Some(j) = last_edit.insert(path, i)
        {
            add_edge(&mut g, &mut links, ix[j], ix[i], Edge::Implicit("edits the same file before it"));
        }
    }
    for scc in tarjan_scc(&g) {
        let looped = scc.len() > 1 || g.contains_edge(scc[0], scc[0]);
        if looped {
            diags.push(cycle_diag(&g, &scc, &nodes));
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut deps = vec![Vec::new(); nodes.len()];
    for e in g.edge_indices() {
        if let Some((a, b)) = g.edge_endpoints(e) {
            deps[g[b]].push(g[a]);
        }
    }
    for d in &mut deps {
        d.sort_unstable();
        d.dedup();
    }
    let order = topo_order(&deps).into_iter().map(NodeId).collect();
    let ids = |v: Vec<Vec<usize>>| PerNode(v.into_iter().map(|d| d.into_iter().map(NodeId).collect()).collect());
    // by dependent, then dependency; one per reason (modules declaring one resource
    // identically each bring its `require`)
    links.sort_by_key(|l| (l.to, l.from));
    let mut seen = std::collections::HashSet::new();
    links.retain(|l| seen.insert((l.from, l.to, l.why.reason())));
    Ok(HostGraph { nodes, deps: ids(deps), notifies: ids(notifies), order, links, skipped, facts_read })
}

/// The edge a → b: in the graph once (the first reason), in `links` with every reason.
fn add_edge(g: &mut DiGraph<usize, Edge>, links: &mut Vec<Link>, a: NodeIndex, b: NodeIndex, e: Edge) {
    links.push(Link { from: NodeId(g[a]), to: NodeId(g[b]), why: e.clone() });
    if g.find_edge(a, b).is_none() {
        g.add_edge(a, b, e);
    }
}

fn resolve<'a>(
    r: &Reference,
    what: &str,
    owner: &ResourceDecl,
    index: &'a HashMap<&ResourceId, usize>,
    nodes: &[Instance],
    unbuilt: &[Unbuilt],
    diags: &mut Diags,
) -> Option<&'a usize> {
    if let Some(j) = index.get(&r.id) {
        return Some(j);
    }
    if unbuilt.iter().any(|u| u.may_be(&r.id)) {
        return None;
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.id.to_string()).collect();
    let mut d = Diag::new(
        Code::UnknownReference,
        format!("`{what}` names `{}`, which this host does not manage", r.id),
        &r.text.at,
        "no such resource",
    );
    if let Some(s) = did_you_mean(&r.id.to_string(), ids.iter().map(String::as_str)) {
        d = d.help(format!("did you mean `{s}`?"));
    }
    diags.push(owner.annotate(d));
    None
}

/// Kahn's algorithm; the smallest declaration index among ready nodes goes first.
fn topo_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut indegree: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|i| indegree[*i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    order
}

/// One cycle through the strongly connected component, every hop labelled.
fn cycle_diag(g: &DiGraph<usize, Edge>, scc: &[NodeIndex], nodes: &[Instance]) -> Diag {
    let start = *scc.iter().min_by_key(|n| g[**n]).unwrap_or(&scc[0]);
    let path = find_cycle(g, start, scc);
    let names: Vec<String> = path
        .iter()
        .map(|n| nodes[g[*n]].id.to_string())
        .chain(std::iter::once(nodes[g[start]].id.to_string()))
        .collect();
    let first = &nodes[g[start]];
    let mut d = Diag::new(
        Code::Cycle,
        format!("dependency cycle: {}", names.join(" → ")),
        &first.decl.at(),
        "the cycle starts here",
    );
    for w in 0..path.len() {
        let a = path[w];
        let b = path[(w + 1) % path.len()];
        let (na, nb) = (&nodes[g[a]].id, &nodes[g[b]].id);
        let Some(e) = g.find_edge(a, b) else { continue };
        d = match &g[e] {
            Edge::Require(at) => d.label(at, format!("{nb} requires {na}")),
            Edge::Notify(at) => d.label(at, format!("{na} notifies {nb}")),
            Edge::Subscribe(at) => d.label(at, format!("{nb} subscribes to {na}")),
            Edge::Implicit(why) => d.label(&nodes[g[b]].decl.at(), format!("{nb} needs {na} ({why})")),
        };
    }
    d.help("remove one of these dependencies to break the cycle")
}

/// A path start → ... → (back to start), as the list of nodes before returning.
fn find_cycle(g: &DiGraph<usize, Edge>, start: NodeIndex, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    // BFS from start's successors back to start, inside the component
    let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut seen = std::collections::HashSet::from([start]);
    while let Some(n) = queue.pop_front() {
        let mut succ: Vec<NodeIndex> = g.neighbors(n).filter(|s| scc.contains(s)).collect();
        succ.sort_by_key(|s| g[*s]);
        for s in succ {
            if s == start {
                let mut path = vec![n];
                let mut cur = n;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if seen.insert(s) {
                prev.insert(s, n);
                queue.push_back(s);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::topo_order;

    #[test]
    fn declaration_order_breaks_ties() {
        // 0 needs 2; 1 free; 2 free
        let deps = vec![vec![2], vec![], vec![]];
        assert_eq!(topo_order(&deps), vec![1, 2, 0]);
        let deps = vec![vec![], vec![0], vec![]];
        assert_eq!(topo_order(&deps), vec![0, 1, 2]);
    }
}
