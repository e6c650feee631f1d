//! What a host sends back, read by converge: the frames of a probe and the plan of every
//! resource of every kind from them (each kind's parser), the apply script written from
//! that plan, and the frames of an apply read into outcomes. The resources are every
//! example of docs/kinds/*.md, so each kind is there with real properties. A lying host
//! may make converge report errors; it must never make it panic.
//!
//! Input: the first byte picks the example; the rest is the host's output. The nonce is
//! fixed (`00000000`), so inputs can frame themselves.
#![no_main]

use std::sync::OnceLock;

use converge::frames::{self, Nonce};
use converge::graph::HostGraph;
use converge::playbook;
use converge::plan::{self, Pass};
use converge::template::Templates;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/markdown.rs"]
mod markdown;
use markdown::kdl_blocks;

const DOCS: &[&str] = &[
    include_str!("../../docs/kinds/apt-repository.md"),
    include_str!("../../docs/kinds/authorized-key.md"),
    include_str!("../../docs/kinds/container.md"),
    include_str!("../../docs/kinds/copy-tree.md"),
    include_str!("../../docs/kinds/cron.md"),
    include_str!("../../docs/kinds/directory.md"),
    include_str!("../../docs/kinds/download.md"),
    include_str!("../../docs/kinds/exec.md"),
    include_str!("../../docs/kinds/file.md"),
    include_str!("../../docs/kinds/git.md"),
    include_str!("../../docs/kinds/group.md"),
    include_str!("../../docs/kinds/hostname.md"),
    include_str!("../../docs/kinds/iptables.md"),
    include_str!("../../docs/kinds/line.md"),
    include_str!("../../docs/kinds/locale.md"),
    include_str!("../../docs/kinds/mount.md"),
    include_str!("../../docs/kinds/nginx-site.md"),
    include_str!("../../docs/kinds/package.md"),
    include_str!("../../docs/kinds/pip.md"),
    include_str!("../../docs/kinds/postgres-database.md"),
    include_str!("../../docs/kinds/postgres-role.md"),
    include_str!("../../docs/kinds/service.md"),
    include_str!("../../docs/kinds/supervisor-program.md"),
    include_str!("../../docs/kinds/swap-file.md"),
    include_str!("../../docs/kinds/symlink.md"),
    include_str!("../../docs/kinds/sysctl.md"),
    include_str!("../../docs/kinds/timezone.md"),
    include_str!("../../docs/kinds/ufw-firewall.md"),
    include_str!("../../docs/kinds/ufw.md"),
    include_str!("../../docs/kinds/unarchive.md"),
    include_str!("../../docs/kinds/unit.md"),
    include_str!("../../docs/kinds/user.md"),
    include_str!("../../docs/kinds/venv.md"),
];

/// Every example that loads on its own (with empty stand-ins for the files it names and
/// the secrets it reads), as a graph.
fn graphs() -> Vec<HostGraph> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = Vec::new();
    for (n, block) in DOCS.iter().flat_map(|d| kdl_blocks(d)).enumerate() {
        for key in ["template=\"", "source=\""] {
            for part in block.split(key).skip(1) {
                let rel = part.split('"').next().unwrap_or("");
                if !rel.is_empty() && !rel.contains("{{") && !rel.starts_with('/') {
                    let p = dir.path().join(rel);
                    if let Some(parent) = p.parent() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                    // a path ending in `/` is a directory (`copy-tree source=`)
                    if rel.ends_with('/') {
                        let _ = std::fs::create_dir_all(p);
                    } else {
                        let _ = std::fs::write(p, "");
                    }
                }
            }
        }
        for part in block.split("env=\"").skip(1) {
            if let Some(var) = part.split('"').next() {
                // SAFETY: set once, before any thread of this process reads the environment
                unsafe { std::env::set_var(var, "stand-in") };
            }
        }
        let path = dir.path().join(format!("example-{n}.kdl"));
        std::fs::write(&path, &block).expect("write");
        let Ok(pb) = playbook::load(&path, None) else { continue };
        let templates = Templates::new(&pb.dir).with_secrets(pb.secret_list());
        let host = pb.inventory.hosts.first();
        let mut problems = converge::diag::Diags::default();
        if let Some(g) = converge::prepare::expand_and_graph(&pb, host, &templates, &Default::default(), &mut problems) {
            out.push(g);
        }
    }
    assert!(out.len() >= 23, "only {} examples load", out.len());
    out
}

static GRAPHS: OnceLock<Vec<HostGraph>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let graphs = GRAPHS.get_or_init(graphs);
    let Some((&pick, rest)) = data.split_first() else { return };
    let graph = &graphs[pick as usize % graphs.len()];
    let text = String::from_utf8_lossy(rest);
    let nonce = Nonce::fixed("00000000");
    let all: Vec<converge::graph::NodeId> = graph.order().to_vec();
    let found = frames::parse(&text, &nonce);
    let (plan, bases) = plan::plan(graph, &all, &found, Pass::First, &[]);
    let _ = converge::apply::script(graph, &plan, &bases, &nonce);
    let steps = converge::apply::outcomes(graph, &plan, &found);
    let mut broken = converge::graph::PerNode::new(graph, false);
    let after = converge::rounds::AfterRound::new(graph, &plan, &steps, &mut broken);
    let (verified, _) = plan::plan(graph, &all, &found, Pass::Verify { again: &all }, &[]);
    let _ = after.judge(graph, verified, &steps, false);
});
