//! Exit codes, in one place (DESIGN.md §5).

/// `check` valid, `diff` nothing to change, `apply` converged.
pub const OK: i32 = 0;
/// Any error: invalid playbook, unreachable host, failed step.
pub const FAILURE: i32 = 1;
/// `diff`: changes pending.
pub const CHANGES: i32 = 2;

use crate::transport::TransportError;

/// Why a host failed as a whole during a run (its report's `error`): an exchange that did
/// not come back, or a probe that did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// No connection could be made (the host is unreachable, or its key refused).
    #[error("{0}")]
    Connect(TransportError),
    #[error("probe: {0}")]
    Probe(ExchangeError),
    #[error("apply: {0}")]
    Apply(ExchangeError),
    #[error("verify: {0}")]
    Verify(ExchangeError),
    /// The host facts could not be gathered (first contact).
    #[error("gathering facts: {0}")]
    Gather(ExchangeError),
    /// The playbook, expanded with the host's facts, has problems (rendered diagnostics):
    /// nothing was applied to this host.
    #[error("the playbook with this host's facts:\n{0}")]
    Expand(String),
    /// The facts changed at every probe: the expansion never held still.
    #[error("the host's facts changed at every probe ({0}): run again")]
    Unsettled(String),
    /// The host differs from the saved plan being applied (what differs).
    #[error("refused: the host differs from the saved plan: {0}")]
    Refused(String),
}

/// Why one exchange gave nothing to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// The transport failed (the connection was lost, the host key refused, ...).
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// The script did not run on the host (no frame came back): its exit status and what
    /// it wrote to stderr, secrets masked.
    #[error("the probe did not run (exit status {code:?}): {stderr}")]
    DidNotRun { code: Option<i32>, stderr: String },
}
