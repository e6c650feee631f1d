//! `converge check PLAYBOOK`: validate offline, exit 0 or 1. Every host of the inventory
//! is expanded and graphed (variables differ per host); a playbook without hosts is
//! checked against its own variables.

use std::path::Path;

use crate::cli::CheckArgs;
use crate::diag::Diags;
use crate::error;
use crate::playbook::{self, Playbook};
use crate::template::Templates;

pub fn run(args: &CheckArgs) -> i32 {
    match check(args) {
        Ok(summary) => {
            super::print_out(&summary, args.no_color);
            error::OK
        }
        Err(diags) => {
            super::print_diags(&diags, args.no_color);
            error::FAILURE
        }
    }
}

fn check(args: &CheckArgs) -> Result<String, Diags> {
    let (pb, resources) = check_file(&args.playbook, args.inventory.as_deref())?;
    let n = pb.inventory.hosts.len();
    Ok(format!(
        "{}: valid ({} host{}, {} resource{} in all)\n",
        args.playbook.display(),
        n,
        if n == 1 { "" } else { "s" },
        resources,
        if resources == 1 { "" } else { "s" }
    ))
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
        if let Some(g) = super::expand_and_graph(pb, host, &templates, &mut diags) {
            resources += g.nodes.len();
        }
    }
    diags.into_result(resources)
}
