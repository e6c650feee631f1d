//! The local transport (`connection="local"`): the script runs under `sh` on this machine,
//! for pull mode and tests. Same contract as ssh: script on stdin, output back.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{BoxFut, Lines, Output, Transport, TransportError, read_both, remote_command, stdin_body};

pub struct Local {
    pub become_root: bool,
    /// The sudo password, sent ahead of each script on stdin (see `remote_command`).
    pub become_pass: Option<String>,
}

impl Local {
    fn pass(&self) -> Option<&str> {
        self.become_pass.as_deref().filter(|_| self.become_root)
    }

    async fn run(&self, script: &str, lines: Option<&Lines>) -> Result<Output, TransportError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(remote_command(self.become_root, self.pass().is_some()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Other(format!("cannot run sh: {e}")))?;
        let mut stdin = child.stdin.take().ok_or_else(|| TransportError::Other("no stdin".into()))?;
        let body = stdin_body(script, self.pass());
        let writer = tokio::spawn(async move {
            let r = stdin.write_all(&body).await;
            drop(stdin);
            r
        });
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), Some(e)) => (o, e),
            _ => return Err(TransportError::Other("no stdout or stderr".into())),
        };
        let (stdout, stderr) =
            read_both(stdout, stderr, lines).await.map_err(|e| TransportError::Other(e.to_string()))?;
        let status = child.wait().await.map_err(|e| TransportError::Other(e.to_string()))?;
        let _ = writer.await;
        Ok(Output {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            code: status.code(),
        })
    }
}

impl Transport for Local {
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(self.run(script, None))
    }

    fn exchange_streamed<'a>(
        &'a self,
        script: &'a str,
        lines: &'a Lines,
    ) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(self.run(script, Some(lines)))
    }

    fn close(self: Box<Self>) -> BoxFut<'static, ()> {
        Box::pin(async {})
    }
}
