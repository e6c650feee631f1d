//! The one integration test binary: every test module is registered here.
mod diagnostics;
mod engine;
mod kinds;
mod support;
mod testbed;
