//! `converge check PLAYBOOK`: validate offline, exit 0 or 1. Every host of the inventory
//! is expanded and graphed (variables differ per host); a playbook without hosts is
//! checked against its own variables.

use crate::cli::CheckArgs;
use crate::diag::Diags;
use crate::error;
use crate::graph;
use crate::playbook::{self, expand};
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
    let pb = playbook::load(&args.playbook, args.inventory.as_deref())?;
    let secrets = pb.secret_list();
    let templates = Templates::new(&pb.dir).with_secrets(secrets.clone());
    let mut diags = Diags::default();
    let mut resources = 0;
    let hosts: Vec<Option<&playbook::inventory::Host>> =
        if pb.inventory.hosts.is_empty() { vec![None] } else { pb.inventory.hosts.iter().map(Some).collect() };
    for host in &hosts {
        match expand::expand(&pb, *host, &templates).and_then(graph::build) {
            Ok(g) => resources += g.nodes.len(),
            Err(d) => diags.extend(d),
        }
    }
    diags.mask(&secrets);
    let n = pb.inventory.hosts.len();
    diags.into_result(format!(
        "{}: valid ({} host{}, {} resource{} in all)\n",
        args.playbook.display(),
        n,
        if n == 1 { "" } else { "s" },
        resources,
        if resources == 1 { "" } else { "s" }
    ))
}
