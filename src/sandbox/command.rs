//! Running host commands: capture their output, turn failures into [`SandboxError`]s with the
//! output's tail, and bound the time a command may take.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::error::SandboxError;

/// How many lines of a log go into an error message.
pub(crate) const TAIL_LINES: usize = 30;

/// Runs `cmd` to completion, capturing its output; a non-zero exit becomes an error.
pub(crate) fn run(what: &str, cmd: &mut Command) -> Result<Output, SandboxError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| SandboxError::io(format!("{what}: cannot run `{}`", describe(cmd)), e))?;
    if output.status.success() {
        return Ok(output);
    }
    Err(command_failed(what, cmd, &output))
}

/// Builds the error for a command that ran and failed.
pub(crate) fn command_failed(what: &str, cmd: &Command, output: &Output) -> SandboxError {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    SandboxError::Command {
        what: what.to_string(),
        command: describe(cmd),
        status: output.status.to_string(),
        output_tail: tail(&text, TAIL_LINES),
    }
}

/// Runs `cmd` with captured output, killing it if it is still running after `limit`.
/// Returns `None` if it had to be killed.
pub(crate) fn run_with_timeout(cmd: &mut Command, limit: Duration) -> std::io::Result<Option<Output>> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = wait_bounded(&mut child, limit)?;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(None);
    };
    Ok(Some(Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }))
}

/// Polls a child until it exits or `limit` passes; `None` means it is still running.
pub(crate) fn wait_bounded(child: &mut Child, limit: Duration) -> std::io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn read_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buffer);
        }
        buffer
    })
}

/// The command line as a shell would show it.
pub(crate) fn describe(cmd: &Command) -> String {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let args = cmd.get_args().map(|a| a.to_string_lossy().into_owned());
    std::iter::once(program).chain(args).map(|word| shell_quote(&word)).collect::<Vec<_>>().join(" ")
}

/// Quotes one word for `sh`; words that cannot be quoted (NUL bytes) are shown as-is.
pub(crate) fn shell_quote(word: &str) -> String {
    shlex::try_quote(word).map(|q| q.into_owned()).unwrap_or_else(|_| word.to_string())
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// The last `lines` lines of a log file, or a note saying why it could not be read.
pub(crate) fn file_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("({} could not be read: {e})", path.display()),
    }
}
