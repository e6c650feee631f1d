//! `converge run PATTERN -- COMMAND ARGS…`: one command on each selected host, over the
//! same connections as a run (the host's ssh master, resumed when an earlier run left it
//! up; `sudo -n` when the host has `become`), `forks` hosts at once. One exchange per
//! host: the command's words, each a quoted value (no shell between them), run with no
//! standard input.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::connect;
use crate::error::HostError;
use crate::playbook::inventory::Host;
use crate::script::Sh;
use crate::transport::ssh::SshOptions;
use crate::transport::{Counted, Output};

/// The script that runs `command` (its first word the program) as it is, without a shell
/// reading its words, its standard input closed (the script itself travels on it).
pub fn script(command: &[String]) -> String {
    let mut sh = Sh::new();
    sh.raw("exec");
    for word in command {
        sh.sp().q(word);
    }
    sh.raw(" </dev/null\n");
    sh.text().to_string()
}

/// Runs `command` on every host, `forks` at once; results in host order.
pub async fn run(
    hosts: Vec<Host>,
    ssh: &SshOptions,
    forks: usize,
    command: &[String],
) -> Vec<(Host, Result<Output, HostError>)> {
    let sem = Arc::new(Semaphore::new(forks.max(1)));
    let script = Arc::new(script(command));
    let mut handles = Vec::new();
    for host in hosts {
        let (sem, ssh, script) = (sem.clone(), ssh.clone(), script.clone());
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t = match connect(&host, &ssh).await {
                Ok(t) => Counted::new(t),
                Err(e) => return (host, Err(HostError::Connect(e))),
            };
            let out = t.exchange(&script).await.map_err(HostError::Connect);
            t.close().await;
            (host, out)
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        if let Ok(r) = h.await {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_are_quoted_values_and_stdin_is_closed() {
        let words: Vec<String> = ["systemctl", "restart", "nginx; rm -rf /", "$HOME", "it's"].map(String::from).into();
        assert_eq!(script(&words), "exec systemctl restart 'nginx; rm -rf /' '$HOME' \"it's\" </dev/null\n");
    }
}
