//! The one integration test binary: every test module is registered here.
mod container;
mod diagnostics;
mod engine;
mod examples;
mod firewall;
mod git;
mod kinds;
mod modules;
mod nginx;
mod python;
mod ranch;
mod sandbox;
mod secrets;
mod supervisor_postgres;
mod support;
mod testbed;
