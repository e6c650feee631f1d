//! `converge run PATTERN -- COMMAND ARGS…`: an ad-hoc command on the hosts a pattern
//! selects (Ansible's `ansible PATTERN -a`), each host's output and exit status, in text
//! or JSON; exit 1 when a host was unreachable or the command failed on it. With a
//! playbook, its secrets are masked in what the hosts print, as in every report.

use std::fmt::Write as _;

use serde_json::json;

use crate::cli::{AdHocArgs, Format};
use crate::engine::adhoc;
use crate::error::{self, HostError};
use crate::playbook::inventory::Host;
use crate::resources::mask;
use crate::transport::Output;

pub fn run(args: &AdHocArgs) -> i32 {
    let selected =
        super::select_hosts(args.playbook.as_deref(), args.inventory.as_deref(), &args.pattern, args.no_color);
    let Some((mut hosts, mut secrets)) = selected else { return error::FAILURE };
    if args.ask_become_pass {
        match super::ask_become_pass(hosts.iter_mut()) {
            Ok(pass) => secrets.extend(pass),
            Err(e) => {
                super::print_err(&format!("error: {e}\n"), args.no_color);
                return error::FAILURE;
            }
        }
    }
    let ssh = args.ssh.options();
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(e) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            return error::FAILURE;
        }
    };
    let mut results = runtime.block_on(adhoc::run(hosts, &ssh, args.forks.into(), &args.command));
    for (_, r) in &mut results {
        if let Ok(o) = r {
            o.stdout = mask(&o.stdout, &secrets);
            o.stderr = mask(&o.stderr, &secrets);
        }
    }
    let failed = results.iter().any(|(_, r)| !matches!(r, Ok(o) if o.code == Some(0)));
    let text = match args.format {
        Format::Human => human(&results),
        Format::Json => json(&args.command.iter().map(|w| mask(w, &secrets)).collect::<Vec<_>>(), &results),
    };
    super::print_out(&text, args.no_color || args.format == Format::Json);
    if failed { error::FAILURE } else { error::OK }
}

type Results = [(Host, Result<Output, HostError>)];

/// How a host's command ended, in words.
fn status(out: &Output) -> String {
    match out.code {
        Some(0) => "exit 0".into(),
        Some(c) => format!("FAILED, exit {c}"),
        None => "FAILED, killed by a signal".into(),
    }
}

fn human(results: &Results) -> String {
    let mut out = String::new();
    for (host, r) in results {
        match r {
            Ok(o) => {
                let _ = writeln!(out, "{} | {}", host.name, status(o));
                for line in o.stdout.lines() {
                    let _ = writeln!(out, "  {line}");
                }
                for line in o.stderr.lines() {
                    let _ = writeln!(out, "  stderr: {line}");
                }
            }
            Err(e) => {
                let _ = writeln!(out, "{} | UNREACHABLE: {e}", host.name);
            }
        }
    }
    let ran = results.iter().filter(|(_, r)| matches!(r, Ok(o) if o.code == Some(0))).count();
    let _ = writeln!(
        out,
        "\nRan on {} host{}: {ran} ok, {} failed",
        results.len(),
        plural(results.len()),
        results.len() - ran
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn json(command: &[String], results: &Results) -> String {
    let hosts: Vec<serde_json::Value> = results
        .iter()
        .map(|(host, r)| match r {
            Ok(o) => json!({"host": host.name, "exit_code": o.code, "stdout": o.stdout, "stderr": o.stderr}),
            Err(e) => json!({"host": host.name, "error": e.to_string()}),
        })
        .collect();
    let doc = json!({"format_version": 1, "command": command, "hosts": hosts});
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
