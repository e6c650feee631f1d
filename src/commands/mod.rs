//! One file per subcommand, and what they share: writing to the terminal. Loading a
//! playbook into per-host jobs is the library's (`prepare.rs`).

pub mod adhoc;
pub mod check;
pub mod facts;
pub mod run;
pub mod sandbox;

use std::io::{IsTerminal, Write};

use anstream::ColorChoice;

use crate::diag::{self, Diags};

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

/// Renders diagnostics to stderr.
pub fn print_diags(diags: &Diags, no_color: bool) {
    let color = !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let width = if color { 120 } else { 100 };
    print_err(&diag::render(diags, color, width), no_color);
}
