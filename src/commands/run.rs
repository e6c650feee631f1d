//! `converge diff` and `converge apply`: prepare every host, run the engine, print the
//! report, exit with the code DESIGN.md §5 gives.

use std::sync::Arc;

use crate::cli::{ApplyArgs, Format, RunArgs};
use crate::engine::{self, Mode, Options};
use crate::error;
use crate::events;
use crate::progress::{Progress, Show};
use crate::report;
use crate::report::Report;

/// `converge diff` (`apply` false) and `converge apply` without `--detailed-exitcode`.
pub fn run(args: &RunArgs, apply: bool) -> i32 {
    run_with(args, apply, false)
}

/// `converge apply`: with `--detailed-exitcode`, 2 when something changed.
pub fn apply(args: &ApplyArgs) -> i32 {
    run_with(&args.run, true, args.detailed_exitcode)
}

fn run_with(args: &RunArgs, apply: bool, detailed: bool) -> i32 {
    let mode = if apply && !args.dry_run { Mode::Apply } else { Mode::Diff };
    if mode == Mode::Apply && crate::saved_plan::is_saved_plan(&args.playbook) {
        return super::saved::apply(args, detailed);
    }
    if let Err(e) = super::saved::check_options(args, mode) {
        super::print_err(&format!("error: {e}\n"), args.no_color);
        return error::FAILURE;
    }
    let loaded = crate::playbook::load_all(&args.playbook, args.inventory.as_deref());
    let (limit, select) = (args.select.limit.as_deref(), args.select.selection());
    let mut prepared = match loaded.and_then(|(pb, d)| crate::prepare::prepare_loaded(pb, d, limit, &select)) {
        Ok(p) => p,
        Err(diags) => {
            super::print_diags(&diags, args.no_color);
            return error::FAILURE;
        }
    };
    if let Err(e) = become_pass(args, &mut prepared.jobs) {
        super::print_err(&format!("error: {e}\n"), args.no_color);
        return error::FAILURE;
    }
    let plan_file = match args.out.as_ref().map(|_| crate::saved_plan::PlanKey::load_or_create()).transpose() {
        Ok(key) => key.map(|key| Arc::new(engine::PlanFile { key, saved: None })),
        Err(e) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            return error::FAILURE;
        }
    };
    let opts = options(args, mode, plan_file.clone());
    let show = args.progress.show(args.format);
    match execute(prepared.jobs, &opts, &show) {
        Ok(report) => {
            emit(&report, args.format, args.no_color);
            let code = if detailed { detailed_exit_code(&report, mode) } else { exit_code(&report, mode) };
            match (&args.out, plan_file) {
                (Some(out), Some(pf)) => super::saved::write(args, out, &prepared.playbook, &pf.key, &report, code),
                _ => code,
            }
        }
        Err(e) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            error::FAILURE
        }
    }
}

/// `--ask-become-pass`: asked once, for every `become` host without a password of its own.
pub fn become_pass(args: &RunArgs, jobs: &mut [engine::Job]) -> Result<(), String> {
    if args.ask_become_pass
        && let Some(pass) = super::ask_become_pass(jobs.iter_mut().map(|j| &mut j.host))?
    {
        jobs.iter_mut().for_each(|j| j.secrets.push(pass.clone()));
    }
    Ok(())
}

/// The engine's options from the command line.
pub fn options(args: &RunArgs, mode: Mode, plan_file: Option<Arc<engine::PlanFile>>) -> Options {
    Options {
        mode,
        ssh: args.ssh.options(),
        forks: usize::from(args.forks),
        plan_file,
        serial: args.serial.clone().map(|s| s.0).unwrap_or_default(),
        max_fail_percentage: args.max_fail_percentage.unwrap_or(0),
    }
}

/// Runs the engine on its own runtime and returns the report, built from the engine's
/// events; the same events show the run's progress on stderr and go to its log, as
/// `show` asks.
pub fn execute(jobs: Vec<engine::Job>, opts: &Options, show: &Show) -> Result<Report, String> {
    let names: Vec<String> = jobs.iter().map(|j| j.host.name.clone()).collect();
    let mut progress = Progress::start(show, &names, secret_list(&jobs))?;
    let runtime = super::runtime()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (_, hosts) = runtime.block_on(async {
        tokio::join!(engine::run_streamed(jobs, opts, tx), events::collect(rx, |e| progress.event(e)))
    });
    progress.finish();
    Ok(Report::new(if opts.mode == Mode::Apply { "apply" } else { "diff" }, hosts))
}

/// Every secret value of a run, as the reports mask them: each job's (the playbook's, a
/// become password) and those its resources hold (a token in a URL).
pub fn secret_list(jobs: &[engine::Job]) -> Vec<String> {
    let mut secrets: Vec<String> = jobs
        .iter()
        .flat_map(|j| j.secrets.iter().cloned().chain(j.graph.nodes.iter().flat_map(|n| n.res.secrets())))
        .filter(|s| !s.is_empty())
        .collect();
    // the longest first: a secret inside another is not left half shown
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    secrets
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

/// `apply --detailed-exitcode` (as Terraform and Puppet): 1 when anything failed, 2 when
/// something changed and converged (under `--dry-run`: changes pending, as `diff` says),
/// 0 when nothing needed to change.
pub fn detailed_exit_code(report: &Report, mode: Mode) -> i32 {
    let changed = report.summary.changed > 0 || report.hosts.iter().any(|h| h.status == report::HostStatus::Converged);
    match exit_code(report, mode) {
        error::OK if changed => error::CHANGES,
        code => code,
    }
}
