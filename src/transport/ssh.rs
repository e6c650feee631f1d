//! The ssh transport: the system `ssh` with one ControlMaster per host (the `openssh`
//! crate, native mux: a few milliseconds per exchange over the one connection).
//!
//! - The user's `~/.ssh/config` is honoured unless `--ssh-config FILE` is given (then only
//!   that file is read, as `ssh -F`).
//! - Host keys: unknown keys are accepted and remembered (`accept-new`) unless
//!   `--strict-host-keys`; a changed key is always refused, with the host named.
//! - A connect timeout always applies, both as ssh's `ConnectTimeout` and as a deadline
//!   around the whole connect (a host that accepts TCP but never speaks SSH would
//!   otherwise hang).
//! - Keep-alives detect a connection that drops in the middle of an exchange.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder};
use tokio::io::AsyncWriteExt;

use super::{BoxFut, Output, Transport, TransportError, remote_command};

#[derive(Debug, Clone)]
pub struct SshOptions {
    pub config_file: Option<PathBuf>,
    pub strict_host_keys: bool,
    pub connect_timeout: Duration,
}

/// Where to connect: what the inventory says about one host.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub destination: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
    pub become_root: bool,
}

pub struct Ssh {
    session: Arc<Session>,
    become_root: bool,
}

pub async fn connect(target: &Target, opts: &SshOptions) -> Result<Ssh, TransportError> {
    let mut b = SessionBuilder::default();
    b.known_hosts_check(if opts.strict_host_keys { KnownHosts::Strict } else { KnownHosts::Add });
    b.connect_timeout(opts.connect_timeout);
    b.server_alive_interval(Duration::from_secs(10));
    b.control_directory(std::env::temp_dir());
    if let Some(cfg) = &opts.config_file {
        b.config_file(cfg);
    }
    if let Some(p) = target.port {
        b.port(p);
    }
    if let Some(u) = &target.user {
        b.user(u.clone());
    }
    if let Some(k) = &target.identity {
        b.keyfile(k);
    }
    let deadline = opts.connect_timeout + Duration::from_secs(2);
    let session = match tokio::time::timeout(deadline, b.connect_mux(&target.destination)).await {
        Err(_) => {
            return Err(TransportError::Unreachable(format!(
                "{}: no SSH session within {}s",
                target.name,
                deadline.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(classify(&target.name, &e)),
        Ok(Ok(s)) => s,
    };
    Ok(Ssh { session: Arc::new(session), become_root: target.become_root })
}

/// Turns ssh's error text into a message that names the host and says what happened.
fn classify(host: &str, e: &openssh::Error) -> TransportError {
    let mut text = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    let detail = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('@')).collect::<Vec<_>>().join(" ");
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("Host key for") && text.contains("has changed")
    {
        TransportError::HostKey(format!(
            "{host}: the host key has CHANGED since it was recorded in known_hosts; refusing to connect (someone may be intercepting, or the host was rebuilt: check, then remove the old key with ssh-keygen -R)"
        ))
    } else if text.contains("Host key verification failed")
        || text.contains("No ED25519 host key is known")
        || text.contains("host key is known")
    {
        TransportError::HostKey(format!(
            "{host}: the host key is not in known_hosts and --strict-host-keys is set; refusing to connect"
        ))
    } else {
        TransportError::Unreachable(format!("{host}: {detail}"))
    }
}

impl Transport for Ssh {
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let mut cmd = self.session.clone().arc_raw_command("sh");
            cmd.raw_arg("-c").raw_arg(
                shlex::try_quote(remote_command(self.become_root))
                    .map_err(|e| TransportError::Other(e.to_string()))?
                    .as_ref(),
            );
            cmd.stdin(openssh::Stdio::piped()).stdout(openssh::Stdio::piped()).stderr(openssh::Stdio::piped());
            let mut child = cmd.spawn().await.map_err(|e| TransportError::Lost(e.to_string()))?;
            let mut stdin = child.stdin().take().ok_or_else(|| TransportError::Other("no stdin".into()))?;
            let body = script.as_bytes().to_vec();
            let writer = tokio::spawn(async move {
                let r = stdin.write_all(&body).await;
                let _ = stdin.shutdown().await;
                drop(stdin);
                r
            });
            let out = child.wait_with_output().await;
            let _ = writer.await;
            match out {
                Ok(out) => Ok(Output {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    code: out.status.code(),
                }),
                Err(e) => Err(TransportError::Lost(e.to_string())),
            }
        })
    }

    fn close(self: Box<Self>) -> BoxFut<'static, ()> {
        Box::pin(async move {
            if let Ok(session) = Arc::try_unwrap(self.session) {
                let _ = session.close().await;
            }
        })
    }
}
