//! The one integration test binary: every test module is registered here.
mod adhoc;
mod apt_repository;
mod completions;
mod container;
mod copy_tree;
mod cron_exec;
mod diagnostics;
mod download;
mod elife_bot;
mod engine;
mod examples;
mod exit_codes;
mod faults;
mod firewall;
#[path = "../common/generated.rs"]
mod generated;
mod git;
mod graph;
mod hostile;
mod hostile_kinds;
mod jacow;
mod kano_konnect;
mod kinds;
mod language;
mod load;
#[path = "../common/markdown.rs"]
mod markdown;
#[path = "../common/masked.rs"]
mod masked;
mod modules;
mod nginx;
mod order;
mod porting;
mod privilege;
mod progress;
mod python;
mod ramascene;
mod ranch;
mod sandbox;
mod saved_plan;
mod secrets;
mod security;
mod seeds;
mod supervisor_postgres;
mod support;
mod system;
mod testbed;
