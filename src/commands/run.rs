//! `converge diff` and `converge apply`: prepare every host, run the engine, print the
//! report, exit with the code DESIGN.md §5 gives.

use std::time::Duration;

use crate::cli::{Format, RunArgs};
use crate::engine::{self, Mode, Options};
use crate::error;
use crate::report;
use crate::report::Report;
use crate::transport::ssh::SshOptions;

pub fn run(args: &RunArgs, apply: bool) -> i32 {
    let mode = if apply && !args.dry_run { Mode::Apply } else { Mode::Diff };
    let prepared = match crate::prepare::prepare(&args.playbook, args.inventory.as_deref(), args.limit.as_deref()) {
        Ok(p) => p,
        Err(diags) => {
            super::print_diags(&diags, args.no_color);
            return error::FAILURE;
        }
    };
    let opts = Options {
        mode,
        ssh: SshOptions {
            config_file: args.ssh_config.clone(),
            strict_host_keys: args.strict_host_keys,
            connect_timeout: Duration::from_secs(args.connect_timeout),
            persist: (args.control_persist > 0).then(|| Duration::from_secs(args.control_persist)),
        },
        forks: usize::from(args.forks),
    };
    match execute(prepared.jobs, &opts) {
        Ok(report) => {
            emit(&report, args.format, args.no_color);
            exit_code(&report, mode)
        }
        Err(e) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            error::FAILURE
        }
    }
}

/// Runs the engine on its own runtime and returns the report.
pub fn execute(jobs: Vec<engine::Job>, opts: &Options) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let hosts = runtime.block_on(engine::run(jobs, opts));
    Ok(Report::new(if opts.mode == Mode::Apply { "apply" } else { "diff" }, hosts))
}

pub fn emit(report: &Report, format: Format, no_color: bool) {
    match format {
        Format::Human => super::print_out(&report::human(report), no_color),
        Format::Json => super::print_out(&report::json(report), true),
    }
}

pub fn exit_code(report: &Report, mode: Mode) -> i32 {
    if report.any_failure() {
        error::FAILURE
    } else if mode == Mode::Diff && report.summary.pending() > 0 {
        error::CHANGES
    } else {
        error::OK
    }
}
