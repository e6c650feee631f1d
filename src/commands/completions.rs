//! `converge completions SHELL`: a completion script for bash, zsh or fish, generated
//! from the clap definition (`cli.rs`) by `clap_complete`, so it knows every command and
//! option the binary does.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell, CompletionsArgs};
use crate::error;

pub fn run(args: &CompletionsArgs) -> i32 {
    super::print_out(&script(args.shell), true);
    error::OK
}

/// The completion script of `converge` for `shell`.
pub fn script(shell: CompletionShell) -> String {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "converge", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}
