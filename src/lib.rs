//! converge: declarative configuration convergence over SSH.
pub mod sandbox;
