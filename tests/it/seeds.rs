//! What the seed playbooks' tests share: converging a playbook of `playbooks/` on a fresh
//! container, and the stand-ins for the outside world the seeds depend on (GitHub, a
//! container registry), which the test containers cannot reach.

use converge::sandbox::Container;

use crate::kinds::boot;
use crate::support::{Project, Run, converge_env, repo};

/// A playbook of `playbooks/` applied to one container standing for its host.
pub struct Seed {
    pub container: Container,
    pub project: Project,
    playbook: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Seed {
    /// Boots a container called `host` and writes an inventory that maps the playbook's
    /// host to it, with `vars` (KDL lines) as the host's variables.
    pub fn new(playbook: &str, host: &str, vars: &str) -> Seed {
        let container = boot(host);
        let project = Project::new();
        let mut args = project.target(&[(host, &container)]);
        let inv = std::fs::read_to_string(project.path().join("inventory.kdl")).expect("inventory");
        project.file("inventory.kdl", &inv.replace('\n', &format!(" {{\n    vars {{\n{vars}\n    }}\n}}\n")));
        args.push("--format".into());
        args.push("json".into());
        Seed {
            container,
            project,
            playbook: repo().join("playbooks").join(playbook).display().to_string(),
            args,
            env: Vec::new(),
        }
    }

    /// Adds lines to the inventory (a group the host belongs to).
    pub fn inventory(&self, text: &str) {
        let path = self.project.path().join("inventory.kdl");
        let inv = std::fs::read_to_string(&path).expect("inventory");
        std::fs::write(&path, format!("{inv}{text}")).expect("write inventory");
    }

    /// An environment variable for every run (a secret).
    pub fn env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    pub fn run(&self, cmd: &str) -> Run {
        let mut argv: Vec<&str> = vec![cmd, &self.playbook];
        argv.extend(self.args.iter().map(String::as_str));
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        converge_env(self.project.path(), &argv, &env)
    }

    /// Applies on the fresh host (exit 0, nothing failed), then again: zero changes.
    /// Returns the first report.
    pub fn converge_twice(&self) -> serde_json::Value {
        let first = self.run("apply");
        let report = first.json();
        assert_eq!(
            first.code,
            0,
            "first apply failed:\n{}",
            serde_json::to_string_pretty(&failures(&report)).unwrap_or_default()
        );
        let second = self.run("apply");
        second.expect(0);
        let again = second.json();
        assert_eq!(again["summary"]["changed"], 0, "second apply changed something:\n{}", second.stdout);
        assert_eq!(again["hosts"][0]["exchanges"], 1, "a no-op apply is one exchange");
        report
    }

    pub fn sh(&self, script: &str) -> String {
        self.container.sh_ok(script)
    }
}

/// The resources of a report that did not end well, for a readable failure.
pub fn failures(report: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for h in report["hosts"].as_array().into_iter().flatten() {
        if let Some(e) = h.get("error") {
            out.push(e.clone());
        }
        for r in h["resources"].as_array().into_iter().flatten() {
            if r.get("error").is_some() {
                out.push(serde_json::json!({ "id": r["id"], "result": r["result"], "error": r["error"] }));
            }
        }
    }
    out
}

pub use crate::world::{upstream_commit, upstream_repo};
