//! A host's dependency graph as text for other tools: Graphviz `dot` or a Mermaid
//! flowchart (`converge graph`). It draws the graph the engine built
//! ([`HostGraph`], [`HostGraph::links`]); it builds none of its own.
//!
//! Nodes are `kind:name`, in declaration order; an edge goes from what comes first (a
//! dependency, a notifier) to what comes after it. What the playbook wrote (`require`,
//! `notify`, `subscribe`) is drawn solid (`-->`), `notify` and `subscribe` labelled as
//! such; what a kind implies (a parent directory, an owner) is dashed (`-.->`) and
//! labelled with its reason. A resource under a `when` (`graph` expands as `check` does,
//! both outcomes of every condition) has a dashed outline.
//!
//! ```text
//! digraph "web-1" {
//!   n0 [label="directory:/srv/app"];
//!   n1 [label="file:/srv/app/app.conf"];
//!   n0 -> n1 [style=dashed, label="parent directory"];
//! }
//! ```

use std::fmt::Write as _;

use crate::graph::{HostGraph, Link};

/// Which text to write: Graphviz's language (`dot -Tsvg`), or a Mermaid flowchart
/// (which Markdown renders on most forges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// The graph of one host (`host`: its name, for the title) in `format`.
pub fn render(graph: &HostGraph, host: &str, format: GraphFormat) -> String {
    match format {
        GraphFormat::Dot => dot(graph, host),
        GraphFormat::Mermaid => mermaid(graph, host),
    }
}

/// The label an edge carries: `notify`, `subscribe`, an implicit edge's reason; none for
/// `require` (the plain arrow).
fn edge_label(link: &Link) -> Option<&'static str> {
    let reason = link.why.reason();
    (reason != "require").then_some(reason)
}

fn dot(graph: &HostGraph, host: &str) -> String {
    let mut out = format!("digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n", dot_quote(host));
    for (i, n) in graph.nodes.iter().enumerate() {
        let style = if n.conditional { ", style=dashed" } else { "" };
        let _ = writeln!(out, "  n{i} [label={}{style}];", dot_quote(&n.id.to_string()));
    }
    for link in graph.links() {
        let mut attrs = Vec::new();
        if !link.why.is_explicit() {
            attrs.push("style=dashed".to_string());
        }
        if let Some(label) = edge_label(link) {
            attrs.push(format!("label={}", dot_quote(label)));
        }
        let attrs = if attrs.is_empty() { String::new() } else { format!(" [{}]", attrs.join(", ")) };
        let _ = writeln!(out, "  n{} -> n{}{attrs};", link.from.index(), link.to.index());
    }
    out.push_str("}\n");
    out
}

/// A DOT quoted string: `"` and `\` escaped, line breaks as `\n`.
fn dot_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => {}
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn mermaid(graph: &HostGraph, host: &str) -> String {
    let mut out = format!("%% converge graph of {}\nflowchart LR\n", mermaid_comment(host));
    for (i, n) in graph.nodes.iter().enumerate() {
        let _ = writeln!(out, "  n{i}[\"{}\"]", mermaid_text(&n.id.to_string()));
    }
    for link in graph.links() {
        let arrow = if link.why.is_explicit() { "-->" } else { "-.->" };
        let label = edge_label(link).map(|l| format!("|\"{}\"|", mermaid_text(l))).unwrap_or_default();
        let _ = writeln!(out, "  n{} {arrow}{label} n{}", link.from.index(), link.to.index());
    }
    let conditional: Vec<String> =
        graph.nodes.iter().enumerate().filter(|(_, n)| n.conditional).map(|(i, _)| format!("n{i}")).collect();
    if !conditional.is_empty() {
        out.push_str("  classDef when stroke-dasharray: 5 5\n");
        let _ = writeln!(out, "  class {} when", conditional.join(","));
    }
    out
}

/// Text inside a Mermaid quoted label: what Mermaid would read as markup written as its
/// entity codes (`#quot;`, `#35;`, ...).
fn mermaid_text(s: &str) -> String {
    let mut t = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => t.push_str("#quot;"),
            '#' => t.push_str("#35;"),
            '<' => t.push_str("#lt;"),
            '>' => t.push_str("#gt;"),
            '&' => t.push_str("#amp;"),
            '|' => t.push_str("#124;"),
            '\n' | '\r' => t.push(' '),
            c => t.push(c),
        }
    }
    t
}

/// A host name in a `%%` comment: one line.
fn mermaid_comment(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_line_breaks() {
        assert_eq!(dot_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(dot_quote("a\nb"), r#""a\nb""#);
    }

    #[test]
    fn mermaid_labels_hold_no_markup() {
        assert_eq!(
            mermaid_text(r##"exec:echo "#1" <a> & b|c"##),
            "exec:echo #quot;#35;1#quot; #lt;a#gt; #amp; b#124;c"
        );
    }
}
