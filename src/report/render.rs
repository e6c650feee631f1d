//! Rendering a [`Report`]: human text that reads like a terraform plan, or JSON.
//!
//! Text is built with ANSI styles; the caller's stream (anstream) strips them when output
//! is not a terminal, `NO_COLOR` is set or `--no-color` is given. Content changes are
//! shown as unified diffs (`similar`); sensitive content never is.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use similar::TextDiff;

use super::{FactsReport, HostReport, HostStatus, Outcome, Report, ResourceReport, Summary};
use crate::resources::{Action, Change, Content};

const BOLD: Style = Style::new().bold();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const CYAN: Style = AnsiColor::Cyan.on_default();
const DIM: Style = Style::new().dimmed();

fn paint(s: &str, style: Style) -> String {
    format!("{style}{s}{style:#}")
}

pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")) + "\n"
}

/// The whole report as text.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    for h in &report.hosts {
        host(&mut out, h, &report.command);
    }
    footer(&mut out, &report.summary, &report.command);
    out
}

fn host(out: &mut String, h: &HostReport, command: &str) {
    let _ = writeln!(out, "{} {}", paint(&h.host, BOLD), paint(&format!("({})", h.address), DIM));
    if h.status == HostStatus::Unreachable {
        let _ = writeln!(out, "  {} {}", paint("UNREACHABLE", RED), h.error.as_deref().unwrap_or(""));
        out.push('\n');
        return;
    }
    if let Some(f) = &h.facts {
        facts(out, f);
    }
    for r in h.resources.iter().filter(|r| r.action != Action::Ok || r.error.is_some()) {
        resource(out, r);
    }
    for s in &h.skipped_by_condition {
        let (kind, name) = s.id.split_once(':').unwrap_or((&s.id, ""));
        let _ = writeln!(
            out,
            "  {} {} {}  {}",
            paint("⊘", DIM),
            paint(kind, DIM),
            name,
            paint(&format!("(when {} is false)", s.when), DIM)
        );
    }
    if let Some(e) = &h.error {
        let _ = writeln!(out, "  {} {}", paint("ERROR", RED), e);
    }
    let s = h.summary();
    let line = if command == "apply" { applied_counts(&s) } else { plan_counts(&s) };
    let _ = writeln!(out, "  {}", paint(&line, DIM));
    out.push('\n');
}

/// The host facts, when they are news: gathered on first contact, found changed since the
/// last run, or changed by this one (from the cache and unchanged says nothing; the JSON
/// report has it).
fn facts(out: &mut String, f: &FactsReport) {
    match f.source.as_str() {
        "gathered" => {
            let _ =
                writeln!(out, "  {}", paint(&format!("facts gathered (first contact): {}", f.used.join(", ")), DIM));
        }
        "changed" => {
            let line = format!("facts changed since the last run: {}; expanded and probed again", f.changed.join("; "));
            let _ = writeln!(out, "  {}", paint(&line, YELLOW));
        }
        _ => {}
    }
    if !f.changed_by_run.is_empty() {
        let line = format!("facts changed by this run: {} (kept for the next run)", f.changed_by_run.join("; "));
        let _ = writeln!(out, "  {}", paint(&line, YELLOW));
    }
}

fn resource(out: &mut String, r: &ResourceReport) {
    let style = match r.action {
        Action::Create => GREEN,
        Action::Remove => RED,
        Action::Change | Action::Refresh => YELLOW,
        Action::Recheck => CYAN,
        Action::Ok => DIM,
    };
    let symbol = if r.error.is_some() && r.changes.is_empty() { "!" } else { r.action.symbol() };
    let kept = r.kept_for.as_ref().map(|k| paint(&format!("  (kept for {k})"), DIM)).unwrap_or_default();
    let _ = writeln!(out, "  {} {} {}{kept}", paint(symbol, style), paint(&r.kind, style), r.name);
    for c in &r.changes {
        change(out, c, &r.name);
    }
    match (r.result, &r.error) {
        (Some(Outcome::Failed), Some(e)) => note(out, "FAILED", RED, e),
        (Some(Outcome::Skipped), Some(e)) => note(out, "SKIPPED", YELLOW, e.trim_start_matches("skipped: ")),
        (Some(Outcome::NotConverged), Some(e)) => note(out, "NOT CONVERGED", RED, e),
        (None, Some(e)) => note(out, "ERROR", RED, e),
        _ => {}
    }
}

fn note(out: &mut String, tag: &str, style: Style, text: &str) {
    let mut lines = text.lines();
    let _ = writeln!(out, "      {} {}", paint(tag, style), lines.next().unwrap_or(""));
    for l in lines {
        let _ = writeln!(out, "        {l}");
    }
}

fn show(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(absent)".into())
}

fn change(out: &mut String, c: &Change, name: &str) {
    let Change::Field { field, before: was, after: wants, content } = c else {
        // a refresh, a note, a re-check: its name and its text
        let _ = writeln!(out, "      {} ({})", c.field(), c.after().unwrap_or(""));
        return;
    };
    let (was, wants) = (show(was), show(wants));
    match content {
        None => {
            let _ = writeln!(out, "      {field}: {was} → {wants}");
        }
        Some(Content::Sensitive) => {
            let _ = writeln!(out, "      {field} (sensitive)");
        }
        Some(Content::Opaque { reason }) => {
            let _ = writeln!(out, "      {field}: {was} → {wants} ({reason})");
        }
        Some(Content::Text { before, after }) => {
            let _ = writeln!(out, "      {field}: {was} → {wants}");
            // a kind that shows several files (`copy-tree`) names each by its path
            let label = if field.starts_with('/') { field.as_str() } else { name };
            unified(out, before, after, label, c.before().is_none());
        }
    }
}

fn unified(out: &mut String, before: &str, after: &str, name: &str, new_file: bool) {
    let old = if new_file { "/dev/null".to_string() } else { format!("{name} (on host)") };
    let diff = TextDiff::from_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&old, &format!("{name} (wanted)"))
        .missing_newline_hint(true)
        .to_string();
    for line in text.lines() {
        let styled = if line.starts_with("+++") || line.starts_with("---") {
            paint(line, BOLD)
        } else if line.starts_with('+') {
            paint(line, GREEN)
        } else if line.starts_with('-') {
            paint(line, RED)
        } else if line.starts_with("@@") {
            paint(line, CYAN)
        } else {
            line.to_string()
        };
        let _ = writeln!(out, "        {styled}");
    }
}

fn plan_counts(s: &Summary) -> String {
    let mut line =
        format!("{} to create, {} to change, {} to remove, {} to refresh", s.create, s.change, s.remove, s.refresh);
    if s.recheck > 0 {
        line.push_str(&format!(", {} to re-check", s.recheck));
    }
    line.push_str(&format!(", {} in sync", s.in_sync));
    if s.failed > 0 {
        line.push_str(&format!(", {} not probed", s.failed));
    }
    line
}

fn applied_counts(s: &Summary) -> String {
    let mut line = format!("{} changed, {} failed, {} skipped, {} in sync", s.changed, s.failed, s.skipped, s.in_sync);
    if s.not_converged > 0 {
        line.push_str(&format!(", {} did not converge", s.not_converged));
    }
    line
}

fn footer(out: &mut String, s: &Summary, command: &str) {
    let hosts = if s.hosts == 1 { "1 host".to_string() } else { format!("{} hosts", s.hosts) };
    let unreachable = if s.unreachable > 0 { format!(" ({} unreachable)", s.unreachable) } else { String::new() };
    if command == "apply" {
        let _ = writeln!(out, "{} {}{unreachable}: {}", paint("Applied", BOLD), hosts, applied_counts(s));
    } else if s.pending() == 0 && s.failed == 0 {
        let _ = writeln!(out, "{} {}{unreachable}: nothing to change", paint("Plan", BOLD), hosts);
    } else {
        let _ = writeln!(out, "{} {}{unreachable}: {}", paint("Plan", BOLD), hosts, plan_counts(s));
    }
}
