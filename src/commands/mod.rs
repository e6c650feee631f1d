//! One file per subcommand, and what they share: writing to the terminal. Loading a
//! playbook into per-host jobs is the library's (`prepare.rs`).

pub mod adhoc;
pub mod check;
pub mod completions;
pub mod facts;
pub mod graph;
pub mod man;
pub mod run;
pub mod sandbox;
pub mod saved;

use std::io::{IsTerminal, Write};
use std::path::Path;

use anstream::ColorChoice;

use crate::diag::{self, Diags};
use crate::playbook::inventory::{BecomePass, Host, Inventory};

fn choice(no_color: bool) -> ColorChoice {
    if no_color { ColorChoice::Never } else { ColorChoice::Auto }
}

/// The runtime a command runs the engine on.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Writes text (with ANSI styles) to stdout, stripped when colour is off.
pub fn print_out(text: &str, no_color: bool) {
    let mut out = anstream::AutoStream::new(std::io::stdout(), choice(no_color));
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes a message to stderr, stripped when colour is off.
pub fn print_err(text: &str, no_color: bool) {
    let mut out = anstream::AutoStream::new(std::io::stderr(), choice(no_color));
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The hosts `pattern` selects for `converge facts` and `converge run`, among the
/// playbook's (replaced by `--inventory` when given) or an inventory file's on its own; and
/// the playbook's secret values, masked in what is printed. `None` when they cannot be
/// read or the pattern selects nothing, said on stderr.
pub fn select_hosts(
    playbook: Option<&Path>,
    inventory: Option<&Path>,
    pattern: &str,
    no_color: bool,
) -> Option<(Vec<Host>, Vec<String>)> {
    let loaded: Result<(Inventory, Vec<String>), Diags> = match (playbook, inventory) {
        (Some(p), inv) => crate::playbook::load(p, inv)
            .map(|pb| (pb.inventory, pb.secret_values.into_iter().map(|(_, v)| v).collect())),
        (None, Some(inv)) => crate::playbook::load_inventory_file(inv).map(|i| (i, Vec::new())),
        (None, None) => Err(diag::Diag::bare(diag::Code::NoHosts, "give --playbook FILE or --inventory FILE").into()),
    };
    let (inventory, secrets) = match loaded {
        Ok(l) => l,
        Err(diags) => {
            print_diags(&diags, no_color);
            return None;
        }
    };
    match inventory.limit(Some(pattern)) {
        Ok(h) => Some((h.into_iter().cloned().collect(), secrets)),
        Err(e) => {
            print_err(&format!("error: {e}\n"), no_color);
            None
        }
    }
}

/// `--ask-become-pass`: the sudo password, asked once for every host in `hosts` with
/// `become=#true` and no `become-password` of its own, and given to them. On a terminal it
/// is asked there without echo; otherwise it is the first line of standard input (as
/// `sudo -S` reads it). Returns it, to be masked in every report; `None` when no host
/// needs it.
pub fn ask_become_pass<'a>(hosts: impl IntoIterator<Item = &'a mut Host>) -> Result<Option<String>, String> {
    let mut needing: Vec<&mut Host> = hosts.into_iter().filter(|h| h.become_root && h.become_pass.is_none()).collect();
    if needing.is_empty() {
        return Ok(None);
    }
    let pass = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("BECOME password: ").map_err(|e| format!("cannot read the become password: {e}"))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the become password: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if pass.is_empty() {
        return Err("no become password was given".into());
    }
    for h in &mut needing {
        h.become_pass = Some(BecomePass(pass.clone()));
    }
    Ok(Some(pass))
}

/// Renders diagnostics to stderr.
pub fn print_diags(diags: &Diags, no_color: bool) {
    let color = !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let width = if color { 120 } else { 100 };
    print_err(&diag::render(diags, color, width), no_color);
}
