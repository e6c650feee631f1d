//! Transports: how a script reaches a host. An exchange sends one POSIX sh script on
//! stdin and returns what it printed; converge makes a fixed number of exchanges per host
//! (probe, apply, verify), whatever the number of resources.
//!
//! `become` wraps the whole exchange once: the remote command is a fixed shell line that
//! runs the script as root directly when already root and through `sudo -n` otherwise
//! (never prompting for a password: there is no TTY to type it on).

pub mod local;
pub mod ssh;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one exchange printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// The script's exit status; `None` if it was killed.
    pub code: Option<i32>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("host key refused: {0}")]
    HostKey(String),
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("{0}")]
    Other(String),
}

/// The fixed remote command: read the script from stdin, as root when asked.
pub fn remote_command(become_root: bool) -> &'static str {
    if become_root {
        "if [ \"$(id -u)\" -eq 0 ]; then exec sh -s; else exec sudo -n -- sh -s; fi"
    } else {
        "exec sh -s"
    }
}

pub trait Transport: Send + Sync {
    /// Runs `script` on the host (sh, from stdin) and returns its output.
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>>;
    /// Closes the connection (the ssh master).
    fn close(self: Box<Self>) -> BoxFut<'static, ()>;
}

/// Counts exchanges on the way through, so the round-trip budget is observable (and
/// tested) instead of assumed.
pub struct Counted {
    inner: Box<dyn Transport>,
    count: AtomicUsize,
}

impl Counted {
    pub fn new(inner: Box<dyn Transport>) -> Counted {
        Counted { inner, count: AtomicUsize::new(0) }
    }
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
    pub async fn exchange(&self, script: &str) -> Result<Output, TransportError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.exchange(script).await
    }
    pub async fn close(self) {
        self.inner.close().await
    }
}
