//! One file per subcommand, and what they share: loading a playbook into per-host jobs
//! (every problem reported before any connection) and writing to the terminal.

pub mod check;
pub mod run;
pub mod sandbox;

use std::io::{IsTerminal, Write};
use std::path::Path;

use anstream::ColorChoice;

use crate::diag::{self, Diags};
use crate::engine::Job;
use crate::graph;
use crate::playbook::{self, Playbook, expand};
use crate::template::Templates;

/// A loaded playbook and one job per selected host.
pub struct Prepared {
    pub playbook: Playbook,
    pub jobs: Vec<Job>,
}

/// Loads, expands and graphs the playbook for the hosts `limit` selects. Every problem of
/// every host is collected; nothing touches the network.
pub fn prepare(path: &Path, inventory: Option<&Path>, limit: Option<&str>) -> Result<Prepared, Diags> {
    let (pb, diags) = playbook::load_all(path, inventory)?;
    prepare_loaded(pb, diags, limit)
}

/// [`prepare`] for a playbook already loaded, with the problems found loading it: the
/// hosts are still expanded and graphed, so that one run reports every problem.
pub fn prepare_loaded(pb: Playbook, mut diags: Diags, limit: Option<&str>) -> Result<Prepared, Diags> {
    let path = pb.src.name().to_string();
    let secrets = pb.secret_list();
    let templates = Templates::new(&pb.dir).with_secrets(secrets.clone());
    let hosts = match pb.inventory.limit(limit) {
        Ok(h) => h,
        Err(msg) => {
            diags.push(diag::Diag::bare("converge::limit", msg));
            Vec::new()
        }
    };
    if hosts.is_empty() && diags.is_empty() {
        diags.push(
            diag::Diag::bare("converge::no-hosts", format!("{path} has no hosts"))
                .help("declare `host \"name\" address=...` in the playbook, or give --inventory FILE"),
        );
    }
    let mut jobs = Vec::new();
    for host in hosts {
        if let Some(graph) = expand_and_graph(&pb, Some(host), &templates, &mut diags) {
            jobs.push(Job { host: host.clone(), graph, secrets: secrets.clone() });
        }
    }
    diags.mask(&secrets);
    diags.into_result(Prepared { playbook: pb, jobs })
}

/// Expands the playbook for one host (`None`: against its own variables) and builds the
/// graph of what could be built; every problem of either stage goes to `diags`. The
/// graph, when both stages found none.
pub fn expand_and_graph(
    pb: &Playbook,
    host: Option<&playbook::inventory::Host>,
    templates: &Templates,
    diags: &mut Diags,
) -> Option<graph::HostGraph> {
    let (expansion, found) = match expand::expand_all(pb, host, templates) {
        Ok(e) => e,
        Err(d) => {
            diags.extend(d);
            return None;
        }
    };
    let clean = found.is_empty();
    diags.extend(found);
    match graph::build_checked(expansion) {
        Ok(g) if clean => Some(g),
        Ok(_) => None,
        Err(d) => {
            diags.extend(d);
            None
        }
    }
}

fn choice(no_color: bool) -> ColorChoice {
    if no_color { ColorChoice::Never } else { ColorChoice::Auto }
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
