//! Driving the engine on a modelled host: a playbook prepared as `converge` prepares it, one
//! run of [`converge::engine::converge_on`] over the model's transport, and what the
//! scenarios assert about it (every resource's action and result, the exchanges, the
//! apply blocks sent).

use std::collections::BTreeSet;

use converge::engine::{self, Mode};
use converge::graph::HostGraph;
use converge::report::{self, HostReport, Report, ResourceReport};

use crate::host::{Exchange, ModelHost};

/// A playbook prepared for the one host `model`: its graph and secrets.
pub struct Book {
    pub graph: HostGraph,
    pub secrets: Vec<String>,
    /// Where the playbook (and the files it names) live, for as long as the book.
    _dir: tempfile::TempDir,
}

impl Book {
    /// `text`, the resources of host `model`.
    pub fn new(text: &str) -> Book {
        Book::with_files(text, &[])
    }

    /// `text` with `files` next to it (secrets, templates), relative to the playbook.
    pub fn with_files(text: &str, files: &[(&str, &str)]) -> Book {
        let dir = tempfile::Builder::new().prefix("converge-book.").tempdir().expect("tempdir");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).expect("playbook file");
        }
        let path = dir.path().join("playbook.kdl");
        std::fs::write(&path, format!("host \"model\"\n{text}")).expect("playbook");
        let prepared = converge::prepare::prepare(&path, None, None)
            .unwrap_or_else(|d| panic!("the playbook does not prepare:\n{text}\n{d:?}"));
        let job = prepared.jobs.into_iter().next().expect("one host");
        Book { graph: job.graph, secrets: job.secrets, _dir: dir }
    }

    /// The id (`kind:name`) of graph node `i`.
    pub fn id(&self, i: usize) -> String {
        self.graph.nodes[i].id.to_string()
    }
}

/// One run of the engine on the model, and the exchanges it made.
pub struct Run {
    pub report: HostReport,
    pub exchanges: Vec<Exchange>,
    pub mode: Mode,
    ids: Vec<String>,
}

/// Runs the engine once on `host` (probe and plan; in apply mode, apply and verify).
pub fn converge(host: &ModelHost, book: &Book, mode: Mode) -> Run {
    let first = host.next();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let report = rt.block_on(engine::converge_on("model", &book.graph, host.transport(), mode, &book.secrets));
    let exchanges = host.exchanges().into_iter().filter(|e| e.n >= first).collect();
    let ids = (0..book.graph.nodes.len()).map(|i| book.id(i)).collect();
    Run { report, exchanges, mode, ids }
}

/// A value's serde name (`create`, `not_converged`).
fn name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).expect("json").as_str().expect("a unit variant").to_string()
}

impl Run {
    /// Every resource, in apply order: `ID ACTION RESULT` (`-`: no result).
    pub fn table(&self) -> Vec<String> {
        self.report
            .resources
            .iter()
            .map(|r| format!("{} {} {}", r.id, name(&r.action), r.result.as_ref().map_or("-".into(), name)))
            .collect()
    }

    /// Every resource, in apply order: `ID ACTION`.
    pub fn actions(&self) -> Vec<String> {
        self.report.resources.iter().map(|r| format!("{} {}", r.id, name(&r.action))).collect()
    }

    /// The exchanges this run made.
    pub fn count(&self) -> usize {
        assert_eq!(self.report.exchanges, self.exchanges.len(), "the report counts the exchanges the host saw");
        self.exchanges.len()
    }

    /// The blocks of each apply exchange, as resource ids.
    pub fn blocks(&self) -> Vec<Vec<String>> {
        self.exchanges
            .iter()
            .filter(|e| e.is_apply())
            .map(|e| e.blocks.iter().map(|&i| self.ids[i].clone()).collect())
            .collect()
    }

    /// The host's status (`converged`, `failed`, ...).
    pub fn status(&self) -> String {
        name(&self.report.status)
    }

    pub fn res(&self, id: &str) -> &ResourceReport {
        self.report
            .resources
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no {id} in the report:\n{:#?}", self.table()))
    }

    /// A resource's error, if any.
    pub fn error(&self, id: &str) -> Option<String> {
        self.res(id).error.clone()
    }

    /// A resource's changes as the report's JSON has them: `FIELD: BEFORE → AFTER`
    /// (`(absent)` for none).
    pub fn changes(&self, id: &str) -> Vec<String> {
        let json = serde_json::to_value(self.res(id)).expect("json");
        let show = |v: &serde_json::Value| v.as_str().map_or("(absent)".to_string(), str::to_string);
        json["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| format!("{}: {} → {}", show(&c["field"]), show(&c["before"]), show(&c["after"])))
            .collect()
    }

    /// Whether a resource waits for a later round (`?`, planned again after what it waits
    /// for): no block of its own in the round it was planned in.
    fn deferred(&self, r: &ResourceReport) -> bool {
        let json = serde_json::to_value(r).expect("json");
        name(&r.action) == "recheck"
            && json["changes"].as_array().expect("changes").iter().any(|c| {
                c["field"] == "recheck" && c["after"].as_str().is_some_and(|a| a.starts_with("planned again after"))
            })
    }

    /// The blocks sent in the apply exchanges are exactly the resources the report says
    /// were planned: every resource whose action is not `ok`, except those deferred to a
    /// later round that never came (their `?` stands), each sent at least once, and nothing
    /// else. A block per resource per exchange. A dry run sends none.
    pub fn assert_blocks_match_plan(&self) {
        if self.mode == Mode::Diff {
            assert_eq!(self.blocks(), Vec::<Vec<String>>::new(), "a dry run sends no apply script");
            return;
        }
        let mut sent = BTreeSet::new();
        for (k, blocks) in self.blocks().iter().enumerate() {
            let unique: BTreeSet<&String> = blocks.iter().collect();
            assert_eq!(unique.len(), blocks.len(), "apply exchange {k} sends a block twice: {blocks:?}");
            sent.extend(blocks.iter().cloned());
        }
        let planned: BTreeSet<String> = self
            .report
            .resources
            .iter()
            .filter(|r| name(&r.action) != "ok" && !self.deferred(r))
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(sent, planned, "blocks sent vs resources planned; the report:\n{}", self.human());
    }

    /// The whole report as `converge` prints it, colours off.
    pub fn human(&self) -> String {
        strip_ansi(&report::human(&self.whole()))
    }

    /// The whole report as `converge --format json` prints it.
    pub fn json(&self) -> String {
        report::json(&self.whole())
    }

    fn whole(&self) -> Report {
        Report::new(if self.mode == Mode::Apply { "apply" } else { "diff" }, vec![self.report.clone()])
    }

    /// Asserts the exchange count, every resource's action and result, and the blocks of
    /// each apply exchange; and that those blocks are what the report says was planned.
    #[track_caller]
    pub fn expect(&self, exchanges: usize, table: &[&str], blocks: &[&[&str]]) {
        assert_eq!(self.table(), table, "per-resource outcomes; the report:\n{}", self.human());
        assert_eq!(self.count(), exchanges, "exchanges; the report:\n{}", self.human());
        let want: Vec<Vec<String>> = blocks.iter().map(|b| b.iter().map(|s| s.to_string()).collect()).collect();
        assert_eq!(self.blocks(), want, "blocks per apply exchange; the report:\n{}", self.human());
        self.assert_blocks_match_plan();
        for e in &self.exchanges {
            assert_eq!(e.stderr, "", "exchange {}: a script reports in its frames, never on its stderr", e.n);
        }
    }
}

/// Text without ANSI colour sequences.
pub fn strip_ansi(s: &str) -> String {
    let re = regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex");
    re.replace_all(s, "").into_owned()
}

/// Runs the engine once on `host` for `text` (the resources of host `model`), prepared as
/// `converge` prepares it with the facts kept in `cache` by earlier runs: the facts side
/// of the run included (gathered on first contact, checked by the probe, kept).
pub fn converge_cached(host: &ModelHost, text: &str, cache: &std::path::Path, mode: Mode) -> Run {
    let dir = tempfile::Builder::new().prefix("converge-book.").tempdir().expect("tempdir");
    let path = dir.path().join("playbook.kdl");
    std::fs::write(&path, format!("host \"model\"\n{text}")).expect("playbook");
    let (pb, diags) = converge::playbook::load_all(&path, None).unwrap_or_else(|d| panic!("{d:?}"));
    let cache = Some(converge::host_facts::Cache::at(cache));
    let prepared = converge::prepare::prepare_cached(pb, diags, None, &Default::default(), cache)
        .unwrap_or_else(|d| panic!("the playbook does not prepare:\n{text}\n{d:?}"));
    let job = prepared.jobs.into_iter().next().expect("one host");
    let first = host.next();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let report = rt.block_on(engine::converge_job_on(job, host.transport(), mode));
    let exchanges = host.exchanges().into_iter().filter(|e| e.n >= first).collect();
    // the graph is the engine's own here (expanded again with the host's facts): the
    // scenarios of facts assert outcomes and exchanges, not blocks by node
    Run { report, exchanges, mode, ids: Vec::new() }
}
