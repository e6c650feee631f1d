//! Exit codes, in one place (DESIGN.md §5).

/// `check` valid, `diff` nothing to change, `apply` converged.
pub const OK: i32 = 0;
/// Any error: invalid playbook, unreachable host, failed step.
pub const FAILURE: i32 = 1;
/// `diff`: changes pending.
pub const CHANGES: i32 = 2;
