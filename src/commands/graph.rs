//! `converge graph PLAYBOOK`: the dependency graph of one host as Graphviz dot or a
//! Mermaid flowchart. The playbook is checked as `check` checks it (the same diagnostics,
//! exit 1), then expanded for the host as `check` expands it, and the graph the engine
//! would run is drawn (`graph_render`); no host is contacted.

use crate::cli::GraphArgs;
use crate::error;
use crate::graph_render;
use crate::prepare::graph_file;
use crate::resources::mask;

pub fn run(args: &GraphArgs) -> i32 {
    match graph_file(&args.playbook, args.inventory.as_deref(), args.host.as_deref()) {
        Ok((pb, host, graph)) => {
            if graph.nodes.is_empty() && !graph.facts_read.is_empty() {
                super::print_err(
                    "note: this host's resources depend on its facts, and with stand-in facts no graph could \
                     be built; `converge diff` expands it with the host's own\n",
                    args.no_color,
                );
            }
            let title = host.unwrap_or_else(|| args.playbook.display().to_string());
            let text = graph_render::render(&graph, &title, args.format);
            super::print_out(&mask(&text, &pb.secret_list()), true);
            error::OK
        }
        Err(diags) => {
            super::print_diags(&diags, args.no_color);
            error::FAILURE
        }
    }
}
