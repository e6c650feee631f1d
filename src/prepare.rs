//! The offline front half of the pipeline: a playbook file loaded, expanded per host and
//! graphed, every problem of every stage collected before anything touches the network.
//! `converge check`, `diff`, `apply` and `sandbox`, the fuzz targets and the tests all
//! come through here: [`check_file`] is everything `check` checks; [`prepare`] makes the
//! engine's jobs for the hosts a `--limit` selects. Each stage goes on with what the
//! stages before it could make sense of (an unknown kind does not hide a bad property
//! elsewhere, nor a bad property an unknown `require`), so one run shows every problem.

use std::path::Path;

use crate::diag::{self, Diags};
use crate::graph::{self, HostGraph};
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
}

/// A loaded playbook and one job per selected host.
pub struct Prepared {
    pub playbook: Playbook,
    pub jobs: Vec<Job>,
}

/// Loads, expands and graphs the playbook for the hosts `limit` selects. Every problem of
/// every host is collected; nothing touches the network.
pub fn prepare(path: &Path, inventory: Option<&Path>, limit: Option<&str>) -> Result<Prepared, Diags> {
    let (pb, diags) = playbook::load_all(path, inventory)?;
    prepare_loaded(pb, diags, limit)
}

/// [`prepare`] for a playbook already loaded, with the problems found loading it: the
/// hosts are still expanded and graphed, so that one run reports every problem.
pub fn prepare_loaded(pb: Playbook, mut diags: Diags, limit: Option<&str>) -> Result<Prepared, Diags> {
    let path = pb.src.name().to_string();
    let secrets = pb.secret_list();
    let templates = Templates::new(&pb.dir).with_secrets(secrets.clone());
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
    let mut jobs = Vec::new();
    for host in hosts {
        if let Some(graph) = expand_and_graph(&pb, Some(host), &templates, &mut diags) {
            jobs.push(Job { host: host.clone(), graph, secrets: secrets.clone() });
        }
    }
    diags.mask(&secrets);
    diags.into_result(Prepared { playbook: pb, jobs })
}

/// Expands the playbook for one host (`None`: against its own variables) and builds the
/// graph of what could be built; every problem of either stage goes to `diags`. The
/// graph, when both stages found none.
pub fn expand_and_graph(
    pb: &Playbook,
    host: Option<&playbook::inventory::Host>,
    templates: &Templates,
    diags: &mut Diags,
) -> Option<graph::HostGraph> {
    let (expansion, found) = match expand::expand_all(pb, host, templates) {
        Ok(e) => e,
        Err(d) => {
            diags.extend(d);
            return None;
        }
    };
    let clean = found.is_empty();
    diags.extend(found);
    match graph::build_checked(expansion) {
        Ok(g) if clean => Some(g),
        Ok(_) => None,
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

/// Expands a loaded playbook for every host of its inventory (a playbook without hosts,
/// against its own variables) and builds each graph: the number of resources in all, or
/// every problem found. Secrets are not masked here (the caller prints).
pub fn validate(pb: &Playbook) -> Result<usize, Diags> {
    let templates = Templates::new(&pb.dir).with_secrets(pb.secret_list());
    let mut diags = Diags::default();
    let mut resources = 0;
    let hosts: Vec<Option<&playbook::inventory::Host>> =
        if pb.inventory.hosts.is_empty() { vec![None] } else { pb.inventory.hosts.iter().map(Some).collect() };
    for host in hosts {
        if let Some(g) = expand_and_graph(pb, host, &templates, &mut diags) {
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
