//! The one integration test binary: every test module is registered here.
mod testbed;
