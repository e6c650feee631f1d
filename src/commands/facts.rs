//! `converge facts PATTERN`: gathers the facts of the hosts a pattern selects, prints
//! them (what a playbook reads as `host.facts`), and keeps them in the controller's cache
//! for the next run, as Ansible's `setup` module does for its fact cache.

use std::fmt::Write as _;

use serde_json::json;

use crate::cli::{FactsArgs, Format};
use crate::engine;
use crate::error;
use crate::host_facts::{Cache, HostFacts};

pub fn run(args: &FactsArgs) -> i32 {
    let selected =
        super::select_hosts(args.playbook.as_deref(), args.inventory.as_deref(), &args.pattern, args.no_color);
    let Some((hosts, _)) = selected else { return error::FAILURE };
    let ssh = args.ssh.options();
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(e) => {
            super::print_err(&format!("error: {e}\n"), args.no_color);
            return error::FAILURE;
        }
    };
    let results = runtime.block_on(engine::gather(hosts, &ssh, 16, Cache::new()));
    let failed = results.iter().any(|(_, r)| r.is_err());
    let text = match args.format {
        Format::Human => human(&results),
        Format::Json => json(&results),
    };
    super::print_out(&text, args.no_color || args.format == Format::Json);
    if failed { error::FAILURE } else { error::OK }
}

type Results = [(crate::playbook::inventory::Host, Result<HostFacts, error::HostError>)];

fn human(results: &Results) -> String {
    let mut out = String::new();
    for (host, r) in results {
        let _ = writeln!(out, "{}", host.name);
        match r {
            Ok(facts) => {
                for (name, value) in &facts.0 {
                    let shown = match value {
                        serde_json::Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    let _ = writeln!(out, "  {name}: {shown}");
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  ERROR {e}");
            }
        }
        out.push('\n');
    }
    out
}

fn json(results: &Results) -> String {
    let hosts: Vec<serde_json::Value> = results
        .iter()
        .map(|(host, r)| match r {
            Ok(f) => json!({"host": host.name, "facts": f.0}),
            Err(e) => json!({"host": host.name, "error": e.to_string()}),
        })
        .collect();
    let doc = json!({"format_version": 1, "hosts": hosts});
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
