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
//! - Masters persist (`--control-persist SECS`, 60 by default, as Ansible's ControlPersist):
//!   at the end of a run each master is left running, idle, for that long, and the next run
//!   to the same host, user, port, key and ssh config resumes it instead of making a new
//!   connection (no TCP, key exchange, authentication or login session). The control
//!   sockets live in a directory only this user can enter (`$XDG_RUNTIME_DIR/converge/ssh`
//!   or `~/.cache/converge/ssh`, mode 0700); a master idle that long exits by itself, even
//!   when converge was killed. A resumed master whose connection died (the host rebooted)
//!   is noticed on the first exchange, which is the read-only probe: converge connects
//!   afresh and sends the probe again. `--control-persist 0` closes every master at the end.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{BoxFut, Lines, Output, Transport, TransportError, read_both, remote_command, stdin_body};

#[derive(Debug, Clone)]
pub struct SshOptions {
    pub config_file: Option<PathBuf>,
    pub strict_host_keys: bool,
    pub connect_timeout: Duration,
    /// How long a master stays up, idle, after the run for the next run to resume it;
    /// `None` closes it at the end of the run.
    pub persist: Option<Duration>,
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
    /// The sudo password, sent ahead of each script on stdin (see `remote_command`).
    pub become_pass: Option<String>,
}

pub struct Ssh {
    session: Mutex<Arc<Session>>,
    /// The session was resumed from an earlier run and has not yet carried an exchange.
    resumed: AtomicBool,
    target: Target,
    opts: SshOptions,
    /// Where this master's control socket is recorded when it persists.
    record: Option<PathBuf>,
}

pub async fn connect(target: &Target, opts: &SshOptions) -> Result<Ssh, TransportError> {
    let record = opts.persist.and_then(|_| control_dir()).map(|dir| dir.join(format!("{}.ctl", key(target, opts))));
    let resumed = match &record {
        Some(r) => resume(r).await,
        None => None,
    };
    let was_resumed = resumed.is_some();
    let session = match resumed {
        Some(s) => s,
        None => fresh(target, opts, record.as_deref()).await?,
    };
    Ok(Ssh {
        session: Mutex::new(Arc::new(session)),
        resumed: AtomicBool::new(was_resumed),
        target: target.clone(),
        opts: opts.clone(),
        record,
    })
}

/// A new master connection; recorded for later runs when it persists.
async fn fresh(target: &Target, opts: &SshOptions, record: Option<&Path>) -> Result<Session, TransportError> {
    let mut b = SessionBuilder::default();
    b.known_hosts_check(if opts.strict_host_keys { KnownHosts::Strict } else { KnownHosts::Add });
    b.connect_timeout(opts.connect_timeout);
    b.server_alive_interval(Duration::from_secs(10));
    // Idle masters always end by themselves, even when converge is killed before it can
    // close them: after the persist time, or a minute when they do not persist.
    let idle = opts.persist.map_or(60, |d| d.as_secs().max(1));
    b.control_persist(ControlPersist::IdleFor(NonZeroUsize::new(idle as usize).unwrap_or(NonZeroUsize::MIN)));
    match record.and_then(Path::parent) {
        Some(dir) => {
            // once per run, not once per host: every host's master shares the directory
            static SWEPT: std::sync::Once = std::sync::Once::new();
            SWEPT.call_once(|| sweep(dir));
            b.control_directory(dir);
        }
        None => {
            b.control_directory(std::env::temp_dir());
        }
    }
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
    match tokio::time::timeout(deadline, b.connect_mux(&target.destination)).await {
        Err(_) => {
            Err(TransportError::Unreachable(format!("{}: no SSH session within {}s", target.name, deadline.as_secs())))
        }
        Ok(Err(e)) => Err(classify(&target.name, &e)),
        Ok(Ok(s)) => Ok(s),
    }
}

/// The master recorded by an earlier run, if it still answers.
async fn resume(record: &Path) -> Option<Session> {
    let ctl = PathBuf::from(std::fs::read_to_string(record).ok()?.trim());
    let gone = || {
        let _ = std::fs::remove_file(record);
    };
    // only a socket inside the private directory, as recorded by this user's converge
    if ctl.parent().and_then(Path::parent) != record.parent() || !ctl.exists() {
        gone();
        return None;
    }
    let session = Session::resume_mux(ctl.into_boxed_path(), None);
    match tokio::time::timeout(Duration::from_secs(2), session.check()).await {
        Ok(Ok(())) => Some(session),
        _ => {
            gone();
            None
        }
    }
}

/// The directory of persisted control sockets: private to this user, or none at all.
fn control_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => PathBuf::from(run).join("converge"),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache/converge"),
    };
    let dir = base.join("ssh");
    // a control socket path must fit in sun_path (108 bytes) with openssh's
    // `/.ssh-connectionXXXXXX/master` after it
    if dir.as_os_str().len() > 70 {
        return None;
    }
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    // this process's effective uid owns its /proc entry
    let me = std::fs::metadata("/proc/self").ok()?.uid();
    if !meta.is_dir() || meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    Some(dir)
}

/// What identifies a reusable master: everything that decides where and as whom ssh logs in.
fn key(target: &Target, opts: &SshOptions) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "dest={}\nport={:?}\nuser={:?}\nidentity={:?}\nconfig={:?}\nstrict={}\n",
        target.destination,
        target.port,
        target.user,
        target.identity.as_ref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        opts.config_file.as_ref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        opts.strict_host_keys
    ));
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Removes the records and directories of masters that have ended (openssh leaves the
/// directory behind when a detached master exits); directories younger than ten minutes may belong to a master
/// that is still starting and are left alone.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        // a record whose master has ended
        if name.to_string_lossy().ends_with(".ctl") {
            let live = std::fs::read_to_string(&path).is_ok_and(|ctl| Path::new(ctl.trim()).exists());
            if !live {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        if !name.to_string_lossy().starts_with(".ssh-connection") || path.join("master").exists() {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if old {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
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

impl Ssh {
    fn session(&self) -> Arc<Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Sends `script` to `sh` on the host over one new session of the master.
async fn run(
    session: Arc<Session>,
    script: &str,
    target: &Target,
    lines: Option<&Lines>,
) -> Result<Output, TransportError> {
    let (become_root, pass) = (target.become_root, target.become_pass.as_deref().filter(|_| target.become_root));
    let mut cmd = session.arc_raw_command("sh");
    cmd.raw_arg("-c").raw_arg(
        shlex::try_quote(remote_command(become_root, pass.is_some()))
            .map_err(|e| TransportError::Other(e.to_string()))?
            .as_ref(),
    );
    cmd.stdin(openssh::Stdio::piped()).stdout(openssh::Stdio::piped()).stderr(openssh::Stdio::piped());
    let mut child = cmd.spawn().await.map_err(|e| TransportError::Lost(e.to_string()))?;
    let mut stdin = child.stdin().take().ok_or_else(|| TransportError::Other("no stdin".into()))?;
    let body = stdin_body(script, pass);
    let writer = tokio::spawn(async move {
        let r = stdin.write_all(&body).await;
        let _ = stdin.shutdown().await;
        drop(stdin);
        r
    });
    let (stdout, stderr) = match (child.stdout().take(), child.stderr().take()) {
        (Some(o), Some(e)) => (o, e),
        _ => return Err(TransportError::Other("no stdout or stderr".into())),
    };
    let read = read_both(stdout, stderr, lines).await;
    let status = child.wait().await;
    let _ = writer.await;
    match (read, status) {
        (Ok((stdout, stderr)), Ok(status)) => Ok(Output {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            code: status.code(),
        }),
        (Err(e), _) => Err(TransportError::Lost(e.to_string())),
        (_, Err(e)) => Err(TransportError::Lost(e.to_string())),
    }
}

impl Ssh {
    async fn exchange_with(&self, script: &str, lines: Option<&Lines>) -> Result<Output, TransportError> {
        let first_on_resumed = self.resumed.swap(false, Ordering::SeqCst);
        let result = run(self.session(), script, &self.target, lines).await;
        match result {
            // A resumed master whose connection died: the first exchange is the
            // read-only probe, so connecting afresh and sending it again is safe.
            Err(TransportError::Lost(_)) if first_on_resumed => {
                if let Some(r) = &self.record {
                    let _ = std::fs::remove_file(r);
                }
                let session = Arc::new(fresh(&self.target, &self.opts, self.record.as_deref()).await?);
                *self.session.lock().unwrap_or_else(|e| e.into_inner()) = session.clone();
                self.resumed.store(false, Ordering::SeqCst);
                run(session, script, &self.target, lines).await
            }
            other => other,
        }
    }
}

impl Transport for Ssh {
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(self.exchange_with(script, None))
    }

    fn exchange_streamed<'a>(
        &'a self,
        script: &'a str,
        lines: &'a Lines,
    ) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(self.exchange_with(script, Some(lines)))
    }

    fn close(self: Box<Self>) -> BoxFut<'static, ()> {
        Box::pin(async move {
            let Ssh { session, record, opts, .. } = *self;
            let session = session.into_inner().unwrap_or_else(|e| e.into_inner());
            let Ok(session) = Arc::try_unwrap(session) else { return };
            match (record, opts.persist) {
                (Some(record), Some(_)) => {
                    let (ctl, _log) = session.detach();
                    // written whole, then renamed: another run never reads half a path
                    let tmp = record.with_extension(format!("ctl.{}", std::process::id()));
                    if std::fs::write(&tmp, ctl.as_os_str().as_encoded_bytes()).is_ok() {
                        let _ = std::fs::rename(&tmp, &record);
                    }
                }
                _ => {
                    let _ = session.close().await;
                }
            }
        })
    }
}
