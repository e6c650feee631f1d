//! `converge check PLAYBOOK`: validate offline, exit 0 or 1. Every host of the inventory
//! is expanded and graphed (variables differ per host); a playbook without hosts is
//! checked against its own variables.

use crate::cli::CheckArgs;
use crate::diag::Diags;
use crate::error;
use crate::prepare::check_file;

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
