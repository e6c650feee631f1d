//! The offline front half of the pipeline: a playbook file loaded, expanded per host and
//! graphed, every problem of every stage collected before anything touches the network.
//! `converge check`, `diff`, `apply` and `sandbox`, the fuzz targets and the tests all
//! come through here: [`check_file`] is everything `check` checks; [`prepare`] makes the
//! engine's jobs for the hosts a `--limit` selects. Each stage goes on with what the
//! stages before it could make sense of (an unknown kind does not hide a bad property
//! elsewhere, nor a bad property an unknown `require`), so one run shows every problem.

use std::path::Path;
use std::sync::Arc;

use crate::diag::{self, Code, Diags};
pub use crate::graph::Selection;
use crate::graph::{self, HostGraph};
use crate::host_facts::{Cache, HostFacts};
use crate::playbook::expand::ExpandOpts;
use crate::playbook::inventory::Host;
use crate::playbook::{self, Playbook, expand};
use crate::template::Templates;

/// One host and its graph, ready to run.
#[derive(Debug)]
pub struct Job {
    pub host: Host,
    pub graph: HostGraph,
    /// Secret values: masked in everything reported about this host.
    pub secrets: Vec<String>,
    /// When the playbook reads the host's facts: what the graph was expanded with, and
    /// how to expand it again with the facts the host gives (`None`: it reads none, and
    /// no fact is gathered).
    pub facts: Option<JobFacts>,
}

/// Expands the playbook again for one host, with its facts: the graph, or every problem
/// found (secrets masked).
pub type Expander = Arc<dyn Fn(&HostFacts) -> Result<HostGraph, Diags> + Send + Sync>;

/// The facts side of a [`Job`].
pub struct JobFacts {
    /// The facts the graph was expanded with (the controller's cache); `None` on first
    /// contact: the graph is provisional, and the facts are gathered before the probe.
    pub known: Option<HostFacts>,
    /// Where the host's facts are kept between runs (`None`: nowhere to keep them).
    pub cache: Option<Cache>,
    pub expand: Expander,
}

impl std::fmt::Debug for JobFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobFacts").field("known", &self.known).field("cache", &self.cache).finish()
    }
}

/// A loaded playbook and one job per selected host.
pub struct Prepared {
    pub playbook: Arc<Playbook>,
    pub jobs: Vec<Job>,
}

/// Loads, expands and graphs the playbook for the hosts `limit` selects. Every problem of
/// every host is collected; nothing touches the network.
pub fn prepare(path: &Path, inventory: Option<&Path>, limit: Option<&str>) -> Result<Prepared, Diags> {
    let (pb, diags) = playbook::load_all(path, inventory)?;
    prepare_loaded(pb, diags, limit, &Selection::default())
}

/// [`prepare`] for a playbook already loaded, with the problems found loading it: the
/// hosts are still expanded and graphed, so that one run reports every problem.
///
/// `select` (`--tags`, `--skip-tags`) narrows every host's graph; a tag no declaration
/// carries is an error (a typo would otherwise select nothing, silently).
pub fn prepare_loaded(pb: Playbook, diags: Diags, limit: Option<&str>, select: &Selection) -> Result<Prepared, Diags> {
    prepare_cached(pb, diags, limit, select, Cache::new())
}

/// [`prepare_loaded`] with the facts of an earlier run kept in `cache` (`None`: none
/// kept, every host a first contact).
pub fn prepare_cached(
    pb: Playbook,
    mut diags: Diags,
    limit: Option<&str>,
    select: &Selection,
    cache: Option<Cache>,
) -> Result<Prepared, Diags> {
    check_tags(&pb, select, &mut diags);
    let path = pb.src.name().to_string();
    let secrets = pb.secret_list();
    let templates = Arc::new(Templates::new(&pb.dir).with_secrets(secrets.clone()));
    let hosts = match pb.inventory.limit(limit) {
        Ok(h) => h,
        Err(none) => {
            let d = diag::Diag::bare(diag::Code::Limit, none.to_string());
            diags.push(match none.help() {
                Some(help) => d.help(help),
                None => d,
            });
            Vec::new()
        }
    };
    if hosts.is_empty() && diags.is_empty() {
        diags.push(
            diag::Diag::bare(diag::Code::NoHosts, format!("{path} has no hosts"))
                .help("declare `host \"name\" address=...` in the playbook, or give --inventory FILE"),
        );
    }
    let hosts: Vec<Host> = hosts.into_iter().cloned().collect();
    let pb = Arc::new(pb);
    let mut jobs = Vec::new();
    for host in hosts {
        // the facts kept from an earlier run, if any; the probe checks they still hold
        let known = cache.as_ref().and_then(|c| c.load(&host));
        let opts = ExpandOpts { facts: known.clone(), check: false, select: select.clone() };
        let mut found = Diags::default();
        let graph = expand_and_graph(&pb, Some(&host), &templates, &opts, &mut found);
        diags.extend(found);
        let Some(graph) = graph else { continue };
        let facts = (!graph.facts_read.is_empty()).then(|| JobFacts {
            known,
            cache: cache.clone(),
            expand: expander(pb.clone(), host.clone(), templates.clone(), secrets.clone(), select.clone()),
        });
        jobs.push(Job { host, graph, secrets: secrets.clone(), facts });
    }
    diags.mask(&secrets);
    diags.into_result(Prepared { playbook: pb, jobs })
}

/// `--tags` and `--skip-tags` name tags some declaration carries.
fn check_tags(pb: &Playbook, select: &Selection, diags: &mut Diags) {
    let known: std::collections::BTreeSet<&str> =
        pb.resources.iter().flat_map(|d| d.scope.tags.iter().map(|t| t.value.as_str())).collect();
    for (flag, tags) in [("--tags", &select.tags), ("--skip-tags", &select.skip_tags)] {
        for t in tags.iter().filter(|t| !known.contains(t.as_str())) {
            let mut d = diag::Diag::bare(Code::Tags, format!("{flag} {t}: no resource of the playbook has this tag"));
            d = match diag::did_you_mean(t, known.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None if known.is_empty() => d.help("no resource of the playbook has a tag: give one `tags=\"web\"`"),
                None => d.help(format!("its tags: {}", known.iter().copied().collect::<Vec<_>>().join(", "))),
            };
            diags.push(d);
        }
    }
}

/// How the engine expands a host again once its facts are known.
fn expander(
    pb: Arc<Playbook>,
    host: Host,
    templates: Arc<Templates>,
    secrets: Vec<String>,
    select: Selection,
) -> Expander {
    Arc::new(move |facts: &HostFacts| {
        let mut diags = Diags::default();
        let opts = ExpandOpts { facts: Some(facts.clone()), check: false, select: select.clone() };
        let graph = expand_and_graph(&pb, Some(&host), &templates, &opts, &mut diags);
        diags.mask(&secrets);
        match graph {
            Some(g) if diags.is_empty() => Ok(g),
            _ => Err(diags),
        }
    })
}

/// Expands the playbook for one host (`None`: against its own variables) and builds the
/// graph of what could be built; every problem of either stage goes to `diags`. The
/// graph, when both stages found none.
///
/// Expanded with stand-in facts (`opts.facts` is `None`) and reading some, the graph is
/// provisional: the problems only the stand-ins could cause are not reported (a
/// misspelled fact still is), and a provisional graph stands in even when it cannot be
/// built (an empty one): the engine expands the host again with its real facts.
pub fn expand_and_graph(
    pb: &Playbook,
    host: Option<&playbook::inventory::Host>,
    templates: &Templates,
    opts: &ExpandOpts,
    diags: &mut Diags,
) -> Option<graph::HostGraph> {
    let (expansion, found) = match expand::expand_all(pb, host, templates, opts) {
        Ok(e) => e,
        Err(d) => {
            diags.extend(d);
            return None;
        }
    };
    let clean = found.is_empty();
    diags.extend(found);
    let provisional = opts.facts.is_none() && !expansion.facts_read.is_empty();
    let facts_read = expansion.facts_read.clone();
    match graph::build_checked(expansion).and_then(|g| g.select(&opts.select)) {
        Ok(g) if clean => Some(g),
        Ok(_) => None,
        Err(mut d) if provisional => {
            d.retain(|d| d.code == Code::Fact);
            let certain = !d.is_empty();
            diags.extend(d);
            let mut empty = graph::build(Vec::new()).ok()?;
            empty.facts_read = facts_read;
            (clean && !certain).then_some(empty)
        }
        Err(d) => {
            diags.extend(d);
            None
        }
    }
}

/// Everything `converge check` checks, without printing: loads the playbook (with
/// `inventory`), expands it for every host and builds each graph, each stage going on
/// with what the stages before it could make sense of. The playbook and its number of
/// resources in all, or every problem found, secrets masked.
pub fn check_file(path: &Path, inventory: Option<&Path>) -> Result<(Playbook, usize), Diags> {
    let (pb, mut diags) = playbook::load_all(path, inventory)?;
    let resources = validate(&pb).map_err(|d| diags.extend(d));
    diags.mask(&pb.secret_list());
    let resources = diags.into_result(resources)?.unwrap_or(0);
    Ok((pb, resources))
}

/// `converge graph`: everything `check` checks, reported the same way, then the graph of
/// one host (`host` names it; `None`: the first host, or the playbook against its own
/// variables when it has none), expanded as `check` expands it (stand-in facts, both
/// outcomes of every condition). The host's name and its graph, or every problem found,
/// secrets masked.
pub fn graph_file(
    path: &Path,
    inventory: Option<&Path>,
    host: Option<&str>,
) -> Result<(Playbook, Option<String>, HostGraph), Diags> {
    let (pb, _) = check_file(path, inventory)?;
    let hosts = &pb.inventory.hosts;
    let chosen = match host {
        None => hosts.first(),
        Some(name) => match hosts.iter().find(|h| h.name == name) {
            Some(h) => Some(h),
            None => {
                let d = diag::Diag::bare(Code::Limit, format!("--host {name}: the playbook has no such host"));
                let names = || hosts.iter().map(|h| h.name.as_str());
                let d = match diag::did_you_mean(name, names()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None if hosts.is_empty() => d.help("the playbook declares no host: leave --host out"),
                    None => d.help(format!("its hosts: {}", names().collect::<Vec<_>>().join(", "))),
                };
                return Err(d.into());
            }
        },
    };
    let templates = Templates::new(&pb.dir).with_secrets(pb.secret_list());
    let mut diags = Diags::default();
    let graph = expand_and_graph(&pb, chosen, &templates, &check_opts(), &mut diags);
    diags.mask(&pb.secret_list());
    let graph = diags.into_result(graph)?;
    let Some(graph) = graph else {
        return Err(diag::Diag::bare(Code::Limit, "the host's graph could not be built").into());
    };
    let name = chosen.map(|h| h.name.clone());
    Ok((pb, name, graph))
}

/// How `check` expands: both outcomes of every condition, with stand-in facts (no host
/// is contacted).
fn check_opts() -> ExpandOpts {
    ExpandOpts { facts: None, check: true, select: Selection::default() }
}

/// Expands a loaded playbook for every host of its inventory (a playbook without hosts,
/// against its own variables) and builds each graph: the number of resources in all, or
/// every problem found. Secrets are not masked here (the caller prints).
pub fn validate(pb: &Playbook) -> Result<usize, Diags> {
    let templates = Templates::new(&pb.dir).with_secrets(pb.secret_list());
    let mut diags = Diags::default();
    let mut resources = 0;
    let hosts: Vec<Option<&playbook::inventory::Host>> =
        if pb.inventory.hosts.is_empty() { vec![None] } else { pb.inventory.hosts.iter().map(Some).collect() };
    let opts = check_opts();
    for host in hosts {
        if let Some(g) = expand_and_graph(pb, host, &templates, &opts, &mut diags) {
            resources += g.nodes.len();
        }
    }
    diags.into_result(resources)
}

/// The graph of the one host of a playbook text (for tests of the stages after this one).
#[cfg(test)]
pub fn graph_of(playbook: &str) -> HostGraph {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("playbook.kdl");
    std::fs::write(&path, playbook).expect("write");
    let prepared = prepare(&path, None, None).unwrap_or_else(|d| panic!("{d:?}"));
    prepared.jobs.into_iter().next().expect("one host").graph
}
