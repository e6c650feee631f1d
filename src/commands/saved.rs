//! Saved plans on the command line: `converge diff PLAYBOOK --out FILE` writes one (see
//! [`crate::saved_plan`]), `converge apply FILE` applies it.

use std::path::Path;
use std::sync::Arc;

use super::run::{become_pass, detailed_exit_code, emit, execute, exit_code, options};
use crate::cli::{Format, RunArgs};
use crate::engine::{Mode, PlanFile};
use crate::error;
use crate::playbook::Playbook;
use crate::report::Report;
use crate::saved_plan::{self, PlanKey, SavedPlan};

/// The options that belong to only one of `diff` and `apply`: a saved plan's sides, and
/// rolling batches.
pub fn check_options(args: &RunArgs, mode: Mode) -> Result<(), String> {
    if args.out.is_some() && mode == Mode::Apply {
        return Err("--out saves the plan of `converge diff`: run `converge diff PLAYBOOK --out FILE`, then `converge apply FILE`".into());
    }
    if args.serial.is_some() && mode == Mode::Diff {
        return Err("--serial rolls out an apply in batches: `converge apply PLAYBOOK --serial 1,25%`".into());
    }
    if args.max_age.is_some() {
        return Err("--max-age applies to a saved plan: `converge apply FILE --max-age 1h`".into());
    }
    Ok(())
}

/// Writes the plan of a `diff --out` whose report is `report`, or says why not; the exit
/// code is the diff's, or 1 when no plan could be written.
pub fn write(args: &RunArgs, out: &Path, pb: &Playbook, key: &PlanKey, report: &Report, code: i32) -> i32 {
    let fail = |e: String| {
        super::print_err(&format!("error: no plan was written to {}: {e}\n", out.display()), args.no_color);
        error::FAILURE
    };
    let bad: Vec<&str> = report.hosts.iter().filter(|h| h.status.is_failure()).map(|h| h.host.as_str()).collect();
    if !bad.is_empty() {
        return fail(format!("not every host could be planned ({})", bad.join(", ")));
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let digest = match saved_plan::playbook_digest(pb, args.inventory.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let plan = SavedPlan {
        converge_plan: saved_plan::FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        created: saved_plan::now(),
        playbook: absolute(&args.playbook),
        inventory: args.inventory.as_deref().map(absolute),
        limit: args.select.limit.clone(),
        tags: args.select.tags.clone(),
        skip_tags: args.select.skip_tags.clone(),
        digest,
        key_id: key.id(),
        hosts: report.hosts.iter().filter_map(|h| h.saved.clone()).collect(),
    };
    let text = serde_json::to_string_pretty(&plan).unwrap_or_default() + "\n";
    if let Err(e) = saved_plan::write_private(out, text.as_bytes()) {
        return fail(e.to_string());
    }
    let line = format!(
        "Saved the plan to {0}. To apply exactly it: converge apply {0}\n",
        shlex::try_quote(&out.display().to_string())
            .map(|q| q.into_owned())
            .unwrap_or_else(|_| out.display().to_string())
    );
    // after the report, where a person reads it; never in the JSON on stdout
    match args.format {
        Format::Human => super::print_out(&line, args.no_color),
        Format::Json => super::print_err(&line, args.no_color),
    }
    code
}

/// `converge apply FILE`: the saved plan, applied exactly, on every host that has not
/// changed since.
pub fn apply(args: &RunArgs, detailed: bool) -> i32 {
    match prepare(args) {
        Ok((mut jobs, plan_file)) => {
            if let Err(e) = become_pass(args, &mut jobs) {
                super::print_err(&format!("error: {e}\n"), args.no_color);
                return error::FAILURE;
            }
            let opts = options(args, Mode::Apply, Some(Arc::new(plan_file)));
            let show = args.progress.show(args.format);
            match execute(jobs, &opts, &show) {
                Ok(report) => {
                    emit(&report, args.format, args.no_color);
                    if detailed { detailed_exit_code(&report, Mode::Apply) } else { exit_code(&report, Mode::Apply) }
                }
                Err(e) => {
                    super::print_err(&format!("error: {e}\n"), args.no_color);
                    error::FAILURE
                }
            }
        }
        Err(Refusal::Text(e)) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            error::FAILURE
        }
        Err(Refusal::Diags(d)) => {
            super::print_diags(&d, args.no_color);
            error::FAILURE
        }
    }
}

enum Refusal {
    Text(String),
    Diags(crate::diag::Diags),
}

impl From<String> for Refusal {
    fn from(s: String) -> Refusal {
        Refusal::Text(s)
    }
}

/// The saved plan read and checked as a whole, and the jobs of its hosts.
fn prepare(args: &RunArgs) -> Result<(Vec<crate::engine::Job>, PlanFile), Refusal> {
    let file = args.playbook.display();
    let given = [
        ("--limit", args.select.limit.is_some()),
        ("--tags", !args.select.tags.is_empty()),
        ("--skip-tags", !args.select.skip_tags.is_empty()),
        ("--inventory", args.inventory.is_some()),
        ("--out", args.out.is_some()),
    ];
    if let Some((opt, _)) = given.iter().find(|(_, g)| *g) {
        return Err(format!(
            "{opt} is part of the saved plan {file}: make a new plan with it (`converge diff ... --out FILE`)"
        )
        .into());
    }
    let plan = saved_plan::read(&args.playbook)?;
    let key = PlanKey::load_or_create()?;
    saved_plan::check_file(&plan, &key, args.max_age)?;
    let (pb, diags) = crate::playbook::load_all(&plan.playbook, plan.inventory.as_deref()).map_err(Refusal::Diags)?;
    if saved_plan::playbook_digest(&pb, plan.inventory.as_deref())? != plan.digest {
        return Err(format!(
            "{} changed since the plan was made (its KDL sources differ): make a new plan",
            plan.playbook.display()
        )
        .into());
    }
    let select = crate::graph::Selection { tags: plan.tags.clone(), skip_tags: plan.skip_tags.clone() };
    let prepared = crate::prepare::prepare_loaded(pb, diags, plan.limit.as_deref(), &select).map_err(Refusal::Diags)?;
    let names: Vec<&str> = prepared.jobs.iter().map(|j| j.host.name.as_str()).collect();
    let saved: Vec<&str> = plan.hosts.iter().map(|h| h.host.as_str()).collect();
    if names != saved {
        return Err(format!(
            "the plan's hosts ({}) are not the playbook's ({}): make a new plan",
            saved.join(", "),
            names.join(", ")
        )
        .into());
    }
    Ok((prepared.jobs, PlanFile { key, saved: Some(plan) }))
}
