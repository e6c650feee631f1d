//! Local throwaway Debian hosts for converge: a cached debootstrap root filesystem, and
//! systemd-nspawn containers booted on overlayfs copies of it, each with its own slot,
//! network (10.231.K.0/24), cgroups and ssh access. Synchronous (std::process only); used
//! by the integration tests and by `converge sandbox`.
//!
//! ```no_run
//! use converge::sandbox::{Container, ContainerOptions, testbed_rootfs};
//! let web = Container::boot(testbed_rootfs(), ContainerOptions::new("web")).unwrap();
//! assert_eq!(web.sh_ok("hostname").trim(), "web");
//! web.stop().unwrap();
//! ```

mod cgroups;
mod command;
mod container;
mod error;
mod host_tools;
pub mod mirror;
mod mounts;
mod network;
mod process;
mod rootfs;
mod slots;
mod ssh;
mod teardown;

use std::sync::OnceLock;

pub use container::{Container, ContainerOptions};
pub use error::SandboxError;
pub use host_tools::ensure_host_tools;
pub use mirror::ENV as MIRROR_ENV;
pub use rootfs::{IMAGE_VERSION, PREDOWNLOAD, Rootfs, RootfsSpec, SUITE, cache_dir, ensure_rootfs};
pub use slots::{MAX_SLOTS, OVERLAY_BASE, RUN_DIR, reap_stale};
pub use ssh::{try_write_ssh_config, write_ssh_config};

/// The default root filesystem for tests, prepared once per process: host tools installed,
/// containers left by dead earlier runs cleaned up, rootfs built or found in the cache.
///
/// Panics with a message starting "testbed cannot start:" if any of that fails: container
/// tests must fail loudly, never skip.
pub fn testbed_rootfs() -> &'static Rootfs {
    static ROOTFS: OnceLock<Result<Rootfs, String>> = OnceLock::new();
    let prepared = ROOTFS.get_or_init(|| prepare(None).map_err(|e| e.to_string()));
    match prepared {
        Ok(rootfs) => rootfs,
        Err(reason) => panic!("testbed cannot start: {reason}"),
    }
}

/// Everything needed before a container can boot: root, host tools (installed with
/// apt-get when missing), leftovers of dead runs cleaned up, the rootfs built from
/// `mirror` (or the machine's own, see `mirror.rs`) or found in the cache.
pub fn prepare(mirror: Option<&str>) -> Result<Rootfs, SandboxError> {
    host_tools::require_root("the container testbed (systemd-nspawn, overlayfs, veth)")?;
    ensure_host_tools()?;
    for line in reap_stale() {
        eprintln!("converge sandbox: {line}");
    }
    let mirror = mirror::resolve(mirror, SUITE)?;
    ensure_rootfs(&RootfsSpec::default_spec(&mirror))
}
