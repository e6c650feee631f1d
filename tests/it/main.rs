//! The one integration test binary: every test module is registered here.
mod diagnostics;
mod support;
mod testbed;
