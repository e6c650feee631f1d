//! The local transport (`connection="local"`): the script runs under `sh` on this machine,
//! for pull mode and tests. Same contract as ssh: script on stdin, output back.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{BoxFut, Output, Transport, TransportError, remote_command};

pub struct Local {
    pub become_root: bool,
}

impl Transport for Local {
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(remote_command(self.become_root))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| TransportError::Other(format!("cannot run sh: {e}")))?;
            let mut stdin = child.stdin.take().ok_or_else(|| TransportError::Other("no stdin".into()))?;
            let body = script.as_bytes().to_vec();
            let writer = tokio::spawn(async move {
                let r = stdin.write_all(&body).await;
                drop(stdin);
                r
            });
            let out = child.wait_with_output().await.map_err(|e| TransportError::Other(e.to_string()))?;
            let _ = writer.await;
            Ok(Output {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                code: out.status.code(),
            })
        })
    }

    fn close(self: Box<Self>) -> BoxFut<'static, ()> {
        Box::pin(async {})
    }
}
