//! `converge diff` and `converge apply`: prepare every host, run the engine, print the
//! report, exit with the code DESIGN.md §5 gives.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use crate::apply::Step;
use crate::cli::{ApplyArgs, Format, RunArgs};
use crate::engine::{self, Mode, Options};
use crate::error;
use crate::events::{self, Event, What};
use crate::report;
use crate::report::Report;
use crate::transport::ssh::SshOptions;

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
    let loaded = crate::playbook::load_all(&args.playbook, args.inventory.as_deref());
    let limit = args.limit.as_deref();
    let mut prepared = match loaded.and_then(|(pb, d)| crate::prepare::prepare_loaded(pb, d, limit, &args.selection()))
    {
        Ok(p) => p,
        Err(diags) => {
            super::print_diags(&diags, args.no_color);
            return error::FAILURE;
        }
    };
    if args.ask_become_pass {
        match super::ask_become_pass(prepared.jobs.iter_mut().map(|j| &mut j.host)) {
            Ok(Some(pass)) => prepared.jobs.iter_mut().for_each(|j| j.secrets.push(pass.clone())),
            Ok(None) => {}
            Err(e) => {
                super::print_err(&format!("error: {e}\n"), args.no_color);
                return error::FAILURE;
            }
        }
    }
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
    let progress = args.format == Format::Human && std::io::stderr().is_terminal();
    match execute(prepared.jobs, &opts, progress) {
        Ok(report) => {
            emit(&report, args.format, args.no_color);
            if detailed { detailed_exit_code(&report, mode) } else { exit_code(&report, mode) }
        }
        Err(e) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            error::FAILURE
        }
    }
}

/// Runs the engine on its own runtime and returns the report, built from the engine's
/// events; with `progress`, each step is also shown on stderr as it starts and ends.
pub fn execute(jobs: Vec<engine::Job>, opts: &Options, progress: bool) -> Result<Report, String> {
    let runtime = super::runtime()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let show = |e: &Event| {
        if let Some(line) = progress.then(|| progress_line(e)).flatten() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    };
    let (_, hosts) =
        runtime.block_on(async { tokio::join!(engine::run_streamed(jobs, opts, tx), events::collect(rx, show)) });
    Ok(Report::new(if opts.mode == Mode::Apply { "apply" } else { "diff" }, hosts))
}

/// The live line of an event, for a person watching a long run.
fn progress_line(e: &Event) -> Option<String> {
    let host = &e.host;
    match &e.what {
        What::StepStarted { resource, round } => {
            let again = if *round > 1 { " (second round)" } else { "" };
            Some(format!("{host}: {resource} ...{again}"))
        }
        What::StepFinished { resource, outcome, duration, .. } => {
            let what = match outcome {
                Step::Changed => "changed",
                Step::Unchanged => "in sync",
                Step::Failed(_) => "FAILED",
                Step::Skipped(_) => "skipped",
                Step::Stale => "changed since plan: planned again",
                Step::Waiting(_) => "waits for a second round",
                Step::NotRun => return None,
            };
            let took = duration.map(|d| format!(" ({:.1} s)", d.as_secs_f64())).unwrap_or_default();
            Some(format!("{host}: {resource} {what}{took}"))
        }
        What::Facts { news } => Some(format!("{host}: facts {news}")),
        What::Failed { error } => Some(format!("{host}: {error}")),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(what: What) -> Option<String> {
        progress_line(&Event { job: 0, host: "web-1".into(), what })
    }

    #[test]
    fn progress_says_when_facts_are_gathered_or_changed_and_stays_quiet_otherwise() {
        assert_eq!(
            line(What::Facts { news: "gathered (first contact)".into() }).as_deref(),
            Some("web-1: facts gathered (first contact)")
        );
        assert_eq!(line(What::Connected), None);
        assert_eq!(
            line(What::StepStarted { resource: "package:nginx".into(), round: 2 }).as_deref(),
            Some("web-1: package:nginx ... (second round)")
        );
    }
}
