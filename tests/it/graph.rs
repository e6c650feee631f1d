//! `converge graph`: the engine's graph of one host as dot and Mermaid, with every kind
//! of edge; its structure checked (each node declared once, each edge between declared
//! nodes); an invalid playbook reported exactly as `check` reports it.

use std::collections::BTreeSet;

use crate::support::Project;

/// Each kind of edge: `require`, `notify`, `subscribe`, implicit ones (an owner, a
/// parent directory, a unit file), and a resource under a `when`.
const PLAYBOOK: &str = r#"
host "web-1" address="127.0.0.1"
host "web-2" address="127.0.0.2"
user "app" system=#true home="/srv/app"
directory "/srv/app" owner="app"
file "/srv/app/app.conf" content="port = 8080\n" owner="app" notify="service:app"
unit "app.service" content="[Service]\nExecStart=/bin/true\n"
service "app" require="unit:app.service"
exec "reload-cache" command="/bin/true" refresh-only=#true subscribe="file:/srv/app/app.conf"
package "tree" when="host.name == \"web-2\""
file "/etc/motd" content="web-2\n" when="host.name == \"web-2\""
"#;

fn project() -> Project {
    let p = Project::new();
    p.file("site.kdl", PLAYBOOK);
    p
}

/// The nodes a rendering declares (in order) and its edges, read back from the text.
fn structure(text: &str, format: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for line in text.lines().map(str::trim) {
        let (arrow, decl) = match format {
            "dot" => (" -> ", " [label="),
            _ => (if line.contains(" -.->") { " -.->" } else { " -->" }, "[\""),
        };
        if let Some((from, rest)) = line.split_once(arrow) {
            // dot: `n0 -> n1 [..];`; mermaid: `n0 -->|"x"| n1`
            let to = match format {
                "dot" => rest.split([' ', ';']).next(),
                _ => rest.split_whitespace().last(),
            };
            let to = to.unwrap_or_default();
            edges.push((from.trim().to_string(), to.to_string()));
        } else if let Some((id, _)) = line.split_once(decl) {
            nodes.push(id.to_string());
        }
    }
    (nodes, edges)
}

fn assert_well_formed(text: &str, format: &str, want_nodes: usize, want_edges: usize) {
    let (nodes, edges) = structure(text, format);
    let declared: BTreeSet<&String> = nodes.iter().collect();
    assert_eq!(declared.len(), nodes.len(), "a node declared twice:\n{text}");
    assert_eq!(nodes.len(), want_nodes, "{text}");
    assert_eq!(edges.len(), want_edges, "{text}");
    for (a, b) in &edges {
        assert!(declared.contains(a) && declared.contains(b), "edge {a} -> {b} between undeclared nodes:\n{text}");
    }
}

#[test]
fn dot_draws_every_kind_of_edge() {
    let run = project().converge(&["graph", "site.kdl"]);
    run.expect(0);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    insta::assert_snapshot!("graph_dot", run.stdout);
    // web-1, the first host: 8 resources, `check` drawing both outcomes of the `when`s
    assert_well_formed(&run.stdout, "dot", 8, 7);
    assert!(run.stdout.contains("n2 -> n4 [label=\"notify\"];"), "{}", run.stdout);
    assert!(run.stdout.contains("n2 -> n5 [label=\"subscribe\"];"), "{}", run.stdout);
    assert!(run.stdout.contains("n3 -> n4;"), "require: solid, unlabelled\n{}", run.stdout);
    assert!(run.stdout.contains("n1 -> n2 [style=dashed, label=\"parent directory\"];"), "{}", run.stdout);
}

#[test]
fn mermaid_draws_every_kind_of_edge() {
    let run = project().converge(&["graph", "site.kdl", "--host", "web-2", "--format", "mermaid"]);
    run.expect(0);
    insta::assert_snapshot!("graph_mermaid", run.stdout);
    assert_well_formed(&run.stdout, "mermaid", 8, 7);
    assert!(run.stdout.starts_with("%% converge graph of web-2\nflowchart LR\n"), "{}", run.stdout);
    assert!(run.stdout.contains("n3 --> n4\n"), "{}", run.stdout);
    assert!(run.stdout.contains("n0 -.->|\"owner\"| n1\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  class n6,n7 when\n"), "{}", run.stdout);
}

#[test]
fn the_graph_is_the_engines_for_the_host_and_its_variables() {
    // what a host's variables render decides names and edges: the graph is that host's
    let p = Project::new();
    p.file(
        "site.kdl",
        r#"
host "a" address="127.0.0.1"
host "b" address="127.0.0.2"
directory "/srv/{{ host.name }}"
file "/srv/{{ host.name }}/x" content="x\n"
"#,
    );
    let a = p.converge(&["graph", "site.kdl"]);
    a.expect(0);
    assert!(a.stdout.contains("\"directory:/srv/a\"") && a.stdout.contains("\"file:/srv/a/x\""), "{}", a.stdout);
    let b = p.converge(&["graph", "site.kdl", "--host", "b", "--format", "mermaid"]);
    b.expect(0);
    assert!(b.stdout.contains("n0[\"directory:/srv/b\"]"), "{}", b.stdout);
    assert!(b.stdout.contains("n0 -.->|\"parent directory\"| n1"), "{}", b.stdout);
}

#[test]
fn an_invalid_playbook_is_reported_as_check_reports_it() {
    let p = Project::new();
    p.file(
        "site.kdl",
        "host \"web-1\" address=\"127.0.0.1\"\nfile \"/etc/a\" content=\"a\" require=\"file:/etc/b\"\npackage \"nginx\" stat=\"present\"\n",
    );
    let check = p.converge(&["check", "site.kdl"]);
    check.expect(1);
    let graph = p.converge(&["graph", "site.kdl"]);
    graph.expect(1);
    assert!(graph.stdout.is_empty(), "{}", graph.stdout);
    assert_eq!(graph.stderr, check.stderr);
    assert!(graph.stderr.contains("2 problems found"), "{}", graph.stderr);
}

#[test]
fn an_unknown_host_is_refused_with_a_suggestion() {
    let run = project().converge(&["graph", "site.kdl", "--host", "web-3"]);
    run.expect(1);
    insta::assert_snapshot!("graph_unknown_host", run.stderr);
}

#[test]
fn a_secret_in_a_resource_name_is_masked() {
    let p = Project::new();
    p.file(
        "site.kdl",
        "secrets { token env=\"CONVERGE_GRAPH_TOKEN\"; }\nhost \"web-1\" address=\"127.0.0.1\"\n\
         file \"/etc/{{ token }}.conf\" content=\"x\\n\"\n",
    );
    let run =
        crate::support::converge_env(p.path(), &["graph", "site.kdl"], &[("CONVERGE_GRAPH_TOKEN", "s3cr3t-t0ken")]);
    run.expect(0);
    assert!(!run.stdout.contains("s3cr3t-t0ken"), "{}", run.stdout);
    assert!(run.stdout.contains("file:/etc/********.conf"), "{}", run.stdout);
}

#[test]
fn a_graph_only_the_real_facts_can_build_is_empty_and_says_so() {
    // with stand-in facts the codename is `unknown`: the `require` names nothing yet
    let p = Project::new();
    p.file(
        "site.kdl",
        "host \"web-1\" address=\"127.0.0.1\"\n\
         file \"/etc/{{ host.facts.os.codename }}.conf\" content=\"x\\n\"\n\
         line \"/etc/x\" line=\"a\" require=\"file:/etc/bookworm.conf\"\n",
    );
    p.converge(&["check", "site.kdl"]).expect(0);
    let run = p.converge(&["graph", "site.kdl"]);
    run.expect(0);
    assert_well_formed(&run.stdout, "dot", 0, 0);
    insta::assert_snapshot!("graph_needs_real_facts", run.stderr);
}
