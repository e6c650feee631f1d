//! The engine on a modelled host: every scenario of the engine's promises (DESIGN.md §2,
//! docs/language.md "Ordering") run for real, script by script, in seconds and without
//! containers. See `host.rs` for the model, `run.rs` for what a scenario asserts.

#[path = "../common/generated.rs"]
mod cases;
mod facts;
mod generated;
mod host;
#[path = "../common/markdown.rs"]
mod markdown;
mod rhel;
mod rpm_stubs;
mod run;
mod scenarios;
mod scenarios_rhel;
mod stubs;
