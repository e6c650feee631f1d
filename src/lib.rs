//! converge: declarative configuration convergence over SSH.
//!
//! A KDL playbook describes the desired state of hosts. converge reads it into typed
//! resources with spans (`playbook`), builds a dependency graph per host (`graph`),
//! probes every resource of a host in one exchange (`probe`), diffs into a plan
//! (`resources`, `plan`), applies exactly the needed steps in one generated script
//! (`apply`) and, after any change, re-probes the whole host in one more (`engine`): what
//! a step of the run changed behind another resource's back gets a second round. Only `transport` touches
//! the network; every byte of shell goes through one quoting builder (`script`). Errors
//! in a playbook are diagnostics on the exact token, all at once, before any connection
//! (`diag`). The report is data, rendered as text or JSON (`report`).

pub mod apply;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod engine;
pub mod error;
pub mod frames;
pub mod graph;
pub mod plan;
pub mod playbook;
pub mod prepare;
pub mod probe;
pub mod report;
pub mod resources;
pub mod rounds;
pub mod sandbox;
pub mod script;
pub mod template;
pub mod transport;

use clap::Parser;

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    let cli = cli::Cli::parse();
    match &cli.command {
        cli::Command::Check(a) => commands::check::run(a),
        cli::Command::Diff(a) => commands::run::run(a, false),
        cli::Command::Apply(a) => commands::run::run(a, true),
        cli::Command::Sandbox(a) => commands::sandbox::run(a),
    }
}
