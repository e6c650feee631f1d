//! `converge diff` and `converge apply`: prepare every host, run the engine, print the
//! report, exit with the code DESIGN.md §5 gives.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use crate::apply::Step;
use crate::cli::{Format, RunArgs};
use crate::engine::{self, Mode, Options};
use crate::error;
use crate::events::{self, Event, What};
use crate::report;
use crate::report::Report;
use crate::transport::ssh::SshOptions;

pub fn run(args: &RunArgs, apply: bool) -> i32 {
    let mode = if apply && !args.dry_run { Mode::Apply } else { Mode::Diff };
    if mode == Mode::Apply && crate::saved_plan::is_saved_plan(&args.playbook) {
        return super::saved::apply(args);
    }
    if let Err(e) = super::saved::check_options(args, mode) {
        super::print_err(&format!("error: {e}\n"), args.no_color);
        return error::FAILURE;
    }
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
    let progress = args.format == Format::Human && std::io::stderr().is_terminal();
    match execute(prepared.jobs, &opts, progress) {
        Ok(report) => {
            emit(&report, args.format, args.no_color);
            let code = exit_code(&report, mode);
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
    if args.ask_become_pass {
        if let Some(pass) = super::ask_become_pass(jobs.iter_mut().map(|j| &mut j.host))? {
            jobs.iter_mut().for_each(|j| j.secrets.push(pass.clone()));
        }
    }
    Ok(())
}

/// The engine's options from the command line.
pub fn options(args: &RunArgs, mode: Mode, plan_file: Option<Arc<engine::PlanFile>>) -> Options {
    Options {
        mode,
        ssh: SshOptions {
            config_file: args.ssh_config.clone(),
            strict_host_keys: args.strict_host_keys,
            connect_timeout: Duration::from_secs(args.connect_timeout),
            persist: (args.control_persist > 0).then(|| Duration::from_secs(args.control_persist)),
        },
        forks: usize::from(args.forks),
        plan_file,
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
