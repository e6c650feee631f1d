//! What the integration tests and the seed benchmark share (included with `#[path]`, not
//! part of the library). The seed playbooks make their own stand-ins for the outside world
//! in their sandbox group; nothing here sets up a host.

use std::path::Path;

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
