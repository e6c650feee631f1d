//! converge: declarative configuration convergence over SSH.
//!
//! The pipeline, one module per stage:
//!
//! - **prepare** (`prepare`, offline): `playbook` reads the KDL into typed resources with
//!   spans and `playbook::expand` instantiates modules per host; `graph` builds each
//!   host's dependency graph (a [`graph::NodeId`] per resource, walks as methods of
//!   [`graph::HostGraph`]). Errors are diagnostics on the exact token, all at once,
//!   before any connection (`diag`). `converge check`, the fuzz targets and the tests
//!   call [`prepare::check_file`]; runs call [`prepare::prepare`].
//! - **probe** (`probe`): one read-only script for every resource of a host, framed per
//!   resource with a random nonce (`frames`); the facts many resources need are gathered
//!   once for all of them (`facts`), with no kind named.
//! - **plan** (`plan`): the frames become one [`plan::HostPlan`], a typed
//!   [`plan::NodeState`] per node (in sync, planned, deferred, re-check, probe failed,
//!   ...); kinds (`resources`) parse and diff, and know nothing of the stages after them.
//!   The plan serializes and holds no shell text and no secret value.
//! - **apply** (`apply`): one script with a block per node that has one, its steps written
//!   at apply time from what the kind planned from; the outcome of each block.
//! - **rounds** (`rounds`): after any change the `engine` re-probes every resource still
//!   standing (the verify); `rounds` decides from the round's outcomes and the verify's
//!   plan what gets a second round and why, and what did not converge.
//! - **engine** (`engine`): every host through connect → probe → plan → apply → verify,
//!   in parallel; the only stage that talks to a host, through `transport` (the system
//!   ssh with ControlMaster, or a local shell), whose output streams in as the host
//!   prints it. Workers never print: they send typed `events` (a step started, finished,
//!   ...) to one consumer, which builds the reports and shows live progress
//!   (`progress`: a pure state of the run rendered as live lines on a terminal or plain
//!   lines without one, and the `--log` of every event). Every byte of
//!   shell goes through one quoting builder (`script`). Runtime errors are typed
//!   (`error`).
//! - **report** (`report`): the run as data, per host and resource; rendered as text or
//!   JSON by `report::render`.
//!
//! Beside the pipeline: `graph_render` draws a host's graph (`converge graph`), with the
//! reason of every edge the graph stage kept ([`graph::HostGraph::links`]); `cli` is the
//! one clap definition that `--help`, `converge man` and `converge completions` all come
//! from; `commands` has one file per command.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod engine;
pub mod error;
pub mod events;
pub mod facts;
pub mod frames;
pub mod graph;
pub mod graph_render;
pub mod host_facts;
pub mod plan;
pub mod playbook;
pub mod prepare;
pub mod probe;
pub mod progress;
pub mod report;
pub mod resources;
pub mod rounds;
pub mod sandbox;
pub mod saved_plan;
pub mod script;
pub mod syntax;
pub mod template;
pub mod transport;

use clap::Parser;

/// Runs the command line; returns the process exit code.
pub fn run() -> i32 {
    // a command line that cannot be read exits 1, as every other error does: clap's own
    // 2 would read as "changes pending" (`diff`) or "changed" (`apply --detailed-exitcode`)
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { error::FAILURE } else { error::OK };
        }
    };
    match &cli.command {
        cli::Command::Check(a) => commands::check::run(a),
        cli::Command::Diff(a) => commands::run::run(a, false),
        cli::Command::Apply(a) => commands::run::apply(a),
        cli::Command::Sandbox(a) => commands::sandbox::run(a),
        cli::Command::Facts(a) => commands::facts::run(a),
        cli::Command::Run(a) => commands::adhoc::run(a),
        cli::Command::Graph(a) => commands::graph::run(a),
        cli::Command::Completions(a) => commands::completions::run(a),
        cli::Command::Man => commands::man::run(),
    }
}
