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

/// The fixed remote command: read the script from stdin, as root when asked. With a sudo
/// password, the password is the first line of stdin, ahead of the script: sudo reads it
/// with `-S` (one character at a time, so the script is left to `sh`); where sudo would
/// not ask for it (already root, NOPASSWD, a cached timestamp: `sudo -n true` succeeds)
/// the line is read away by the shell and dropped, so that it never reaches `sh` as a
/// command. It is never in a command line.
pub fn remote_command(become_root: bool, with_password: bool) -> &'static str {
    match (become_root, with_password) {
        (true, false) => "if [ \"$(id -u)\" -eq 0 ]; then exec sh -s; else exec sudo -n -- sh -s; fi",
        (true, true) => {
            "if [ \"$(id -u)\" -eq 0 ] || sudo -n true 2>/dev/null; then IFS= read -r _ || exit 1; _=; \
             if [ \"$(id -u)\" -eq 0 ]; then exec sh -s; fi; exec sudo -n -- sh -s; fi; exec sudo -S -p '' -- sh -s"
        }
        (false, _) => "exec sh -s",
    }
}

/// What goes on stdin: the password line first when there is one (see [`remote_command`]).
pub fn stdin_body(script: &str, password: Option<&str>) -> Vec<u8> {
    let mut body = Vec::with_capacity(script.len() + 64);
    if let Some(p) = password {
        body.extend_from_slice(p.as_bytes());
        body.push(b'\n');
    }
    body.extend_from_slice(script.as_bytes());
    body
}

/// Where each line of an exchange's stdout goes as it arrives (with its newline).
pub type Lines = tokio::sync::mpsc::UnboundedSender<String>;

pub trait Transport: Send + Sync {
    /// Runs `script` on the host (sh, from stdin) and returns its output.
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>>;
    /// [`Transport::exchange`], sending each line of stdout on `lines` as it arrives, so
    /// that the engine can tell what runs while it runs. A transport that cannot stream
    /// sends them all once the exchange has ended (the default).
    fn exchange_streamed<'a>(
        &'a self,
        script: &'a str,
        lines: &'a Lines,
    ) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let out = self.exchange(script).await?;
            for l in out.stdout.split_inclusive('\n') {
                let _ = lines.send(l.to_string());
            }
            Ok(out)
        })
    }
    /// Closes the connection (the ssh master).
    fn close(self: Box<Self>) -> BoxFut<'static, ()>;
}

/// Wraps a script so that the host's `sh` runs it only once it has read all of it: the
/// whole text is the body of one function, called on the last line. `sh` reads a script
/// from stdin as it comes and runs each command as soon as it is complete, so a script
/// cut short on the way (the connection dropped while it was sent, converge killed) would
/// run a prefix that stops anywhere, even inside a line; wrapped, a cut is a syntax error
/// at the end and nothing runs.
pub fn whole(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + 24);
    out.push_str("cv_main() {\n");
    out.push_str(script);
    if !script.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("}\ncv_main\n");
    out
}

/// Reads a remote command's stdout and stderr to their end, sending each complete line of
/// stdout on `lines` as soon as it has arrived (and a last line without a newline at the
/// end). Both streams are read at once, so a command filling its stderr never blocks.
pub async fn read_both(
    stdout: impl tokio::io::AsyncRead + Unpin,
    stderr: impl tokio::io::AsyncRead + Unpin,
    lines: Option<&Lines>,
) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    use tokio::io::AsyncReadExt as _;
    let out = async {
        let mut stdout = stdout;
        let mut all = Vec::new();
        let mut sent = 0;
        let mut buf = [0u8; 8192];
        loop {
            let n = stdout.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if let Some(lines) = lines {
                while let Some(end) = all[sent..].iter().position(|&b| b == b'\n') {
                    let line = String::from_utf8_lossy(&all[sent..sent + end + 1]).into_owned();
                    let _ = lines.send(line);
                    sent += end + 1;
                }
            }
        }
        if let Some(lines) = lines.filter(|_| sent < all.len()) {
            let _ = lines.send(String::from_utf8_lossy(&all[sent..]).into_owned());
        }
        Ok::<_, std::io::Error>(all)
    };
    let err = async {
        let mut stderr = stderr;
        let mut all = Vec::new();
        stderr.read_to_end(&mut all).await?;
        Ok::<_, std::io::Error>(all)
    };
    let (out, err) = tokio::join!(out, err);
    Ok((out?, err?))
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
    /// Sends `script` [`whole`] and returns what it printed.
    pub async fn exchange(&self, script: &str) -> Result<Output, TransportError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.exchange(&whole(script)).await
    }
    /// [`Counted::exchange`], each line of stdout sent on `lines` as it arrives.
    pub async fn exchange_streamed(&self, script: &str, lines: &Lines) -> Result<Output, TransportError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.inner.exchange_streamed(&whole(script), lines).await
    }
    pub async fn close(self) {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sudo_password_travels_on_stdin_only_and_is_dropped_where_sudo_does_not_ask() {
        let cmd = super::remote_command(true, true);
        assert!(
            cmd.contains("sudo -n true")
                && cmd.contains("IFS= read -r _")
                && cmd.ends_with("exec sudo -S -p '' -- sh -s")
        );
        let body = super::stdin_body("echo hi\n", Some("pw; rm -rf /"));
        assert_eq!(body, b"pw; rm -rf /\necho hi\n");
        assert_eq!(super::stdin_body("echo hi\n", None), b"echo hi\n");
        assert_eq!(super::remote_command(false, true), "exec sh -s");
    }

    use super::*;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    /// Runs `text` as `sh -s` reads it from ssh, in `dir`.
    fn run_sh(text: &[u8], dir: &std::path::Path) {
        let mut child = Command::new("sh")
            .arg("-s")
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        child.stdin.take().expect("stdin").write_all(text).expect("write");
        child.wait().expect("wait");
    }

    #[test]
    fn a_script_cut_anywhere_runs_nothing() {
        let script = "touch first\nx=$(echo two)\ntouch \"$x\"\nbase64 -d > third <<'CONVERGE_B64'\naGVsbG8K\nCONVERGE_B64\nrm -f -- first\ntouch last\n";
        let text = whole(script);
        let dir = tempfile::tempdir().expect("tempdir");
        // (without its last newline the script is whole: `cv_main` at the end of input runs)
        for cut in 0..text.len() - 1 {
            run_sh(&text.as_bytes()[..cut], dir.path());
            let left: Vec<_> =
                std::fs::read_dir(dir.path()).expect("read_dir").flatten().map(|e| e.file_name()).collect();
            assert!(left.is_empty(), "cut at byte {cut} of {} ran {left:?}", text.len());
        }
        run_sh(text.as_bytes(), dir.path());
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["last", "third", "two"]);
        assert_eq!(std::fs::read_to_string(dir.path().join("third")).expect("third"), "hello\n");
    }
}
