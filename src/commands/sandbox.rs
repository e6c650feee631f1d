//! `converge sandbox PLAYBOOK`: converge a playbook against local containers.
pub fn run(_args: &crate::cli::SandboxArgs) -> i32 {
    crate::error::FAILURE
}
