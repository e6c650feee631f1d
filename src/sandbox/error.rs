//! The one error type of the sandbox: every variant reads as a sentence that names what
//! failed and carries the log tail (debootstrap log, nspawn console) that explains why.

use std::path::PathBuf;

/// Everything that can go wrong while preparing host tools, building the cached root
/// filesystem, or booting and stopping a container.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Host programs are missing and this process may not install them.
    #[error(
        "the sandbox needs {tools} on this machine, but they are missing; as root, run: \
         apt-get update && apt-get install -y {packages}",
        tools = .tools.join(", "),
        packages = .packages.join(" ")
    )]
    MissingHostTools { tools: Vec<String>, packages: Vec<String> },

    /// Something that only root can do was asked of an unprivileged process.
    #[error("{what} needs root (uid 0), but this process runs as uid {uid}")]
    NotRoot { what: String, uid: u32 },

    /// A file-system or process-spawning operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    /// A host command ran but exited unsuccessfully.
    #[error("{what} failed: `{command}` exited with {status}{}", tail_block(.output_tail))]
    Command { what: String, command: String, status: String, output_tail: String },

    /// debootstrap could not build the root filesystem.
    #[error(
        "building the {suite} root filesystem with debootstrap failed ({status}); \
         the partial build was deleted and the next call starts over{}",
        tail_block(.log_tail)
    )]
    Debootstrap { suite: String, status: String, log_tail: String },

    /// No Debian mirror could be found for the image.
    #[error(
        "no Debian mirror for {suite}: no `deb` source of /etc/apt/sources.list or \
         /etc/apt/sources.list.d carries {suite} with the main component; give one with \
         --mirror URL (or CONVERGE_MIRROR)"
    )]
    NoMirror { suite: String },

    /// All container slots are held by live containers.
    #[error(
        "all {max} container slots are in use (their locks in {dir} are held by running \
         processes); stop some containers first",
        dir = .dir.display()
    )]
    NoFreeSlot { max: u32, dir: PathBuf },

    /// The requested hostname cannot be written to /etc/hostname.
    #[error(
        "{hostname:?} is not a valid hostname (use 1-63 letters, digits, '-' and '.', \
         not starting with '-' or '.')"
    )]
    InvalidHostname { hostname: String },

    /// A path cannot be handed to overlayfs (its options are separated by ',' and ':').
    #[error("the path {} contains ',' or ':' and cannot be used as an overlayfs directory", .0.display())]
    UnusablePath(PathBuf),

    /// systemd-nspawn exited while the container was starting.
    #[error("systemd-nspawn for container {name} exited during boot ({status}){}", tail_block(.console_tail))]
    NspawnExited { name: String, status: String, console_tail: String },

    /// The host side of the container's veth pair never appeared.
    #[error(
        "network interface {veth} of container {name} did not appear within {seconds} s \
         after systemd-nspawn started{}",
        tail_block(.console_tail)
    )]
    VethMissing { name: String, veth: String, seconds: u64, console_tail: String },

    /// The container booted, but never reported `running` or `degraded` over ssh.
    #[error(
        "container {name} ({address}) did not become ready within {seconds} s ({tries} tries); \
         last answer: {last}{}",
        tail_block(.console_tail)
    )]
    NotReady { name: String, address: std::net::Ipv4Addr, seconds: u64, tries: u32, last: String, console_tail: String },

    /// A reboot could not power the container off in order, or not boot it again.
    #[error("rebooting container {name} failed: {problem}")]
    Reboot { name: String, problem: String },

    /// Teardown finished, but some resources could not be released.
    #[error("stopping container {name} left things behind: {}", .problems.join("; "))]
    Teardown { name: String, problems: Vec<String> },
}

impl SandboxError {
    /// Wraps an I/O error with a description of what was being attempted.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io { what: what.into(), source }
    }
}

/// Formats a log tail as an indented block after the sentence, or nothing if it is empty.
fn tail_block(tail: &str) -> String {
    let tail = tail.trim_end();
    if tail.is_empty() {
        return String::new();
    }
    let indented: Vec<String> = tail.lines().map(|line| format!("    {line}")).collect();
    format!("; last lines of the log:\n{}", indented.join("\n"))
}
