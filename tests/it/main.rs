//! The one integration test binary: every test module is registered here.
mod diagnostics;
mod kinds;
mod support;
mod testbed;
