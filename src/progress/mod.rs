//! Progress: what the one consumer of a run's events shows while the run goes on, on
//! stderr only (stdout holds the report and nothing else), and the event log.
//!
//! - On a terminal, live lines (`live.rs`, indicatif) of a pure state (`state.rs`).
//! - Without a terminal, plain lines, one per event worth a line, prefixed with the host.
//!   With `--format json` they are written only under `--verbose`: a pipeline that reads
//!   the JSON report mostly wants stderr quiet, and asks for the lines when it wants them.
//! - `--quiet`: nothing, whatever stderr is (the report is still printed).
//! - `--log FILE`: every event as a JSON line (`log.rs`), in any of these modes.

mod live;
mod log;
mod state;

use std::io::Write as _;
use std::path::PathBuf;

pub use self::log::EventLog;
pub use self::state::{ProgressState, Style};
use crate::events::Event;

/// What a run shows of its progress, as the command line asks.
#[derive(Debug, Clone, Default)]
pub struct Show {
    /// How progress is rendered on stderr; `None`: not at all.
    pub style: Option<Style>,
    /// A failed step's output under its line, and (live) every finished step.
    pub verbose: bool,
    /// Where to write every event as a JSON line.
    pub log: Option<PathBuf>,
}

impl Show {
    /// The rendering for `--quiet`, `--verbose`, the output format and whether stderr is a
    /// terminal.
    pub fn style(quiet: bool, verbose: bool, json: bool, terminal: bool) -> Option<Style> {
        match (quiet, terminal) {
            (true, _) => None,
            (false, true) => Some(Style::Live),
            (false, false) if json && !verbose => None,
            (false, false) => Some(Style::Plain),
        }
    }
}

enum View {
    None,
    Plain(ProgressState),
    Live(live::Live),
}

/// The consumer's side of a run: the progress shown and the log written.
pub struct Progress {
    view: View,
    log: Option<(PathBuf, EventLog)>,
}

impl Progress {
    /// Starts showing the progress of a run over `hosts` (their names, in job order);
    /// everything shown or logged is masked with `secrets`. Fails when the log cannot be
    /// created.
    pub fn start(show: &Show, hosts: &[String], secrets: Vec<String>) -> Result<Progress, String> {
        let log = match &show.log {
            Some(path) => Some((
                path.clone(),
                EventLog::create(path, secrets.clone())
                    .map_err(|e| format!("cannot create the log {}: {e}", path.display()))?,
            )),
            None => None,
        };
        let view = match show.style {
            None => View::None,
            Some(style @ Style::Plain) => View::Plain(ProgressState::new(hosts, style, show.verbose, secrets)),
            Some(style @ Style::Live) => {
                View::Live(live::Live::new(ProgressState::new(hosts, style, show.verbose, secrets)))
            }
        };
        Ok(Progress { view, log })
    }

    pub fn event(&mut self, e: &Event) {
        if let Some((path, log)) = &mut self.log
            && let Err(err) = log.write(e)
        {
            // said once; the run goes on without its log
            let _ = writeln!(std::io::stderr(), "warning: cannot write the log {}: {err}", path.display());
            self.log = None;
        }
        match &mut self.view {
            View::None => {}
            View::Plain(state) => {
                let lines = state.feed(e);
                let mut err = std::io::stderr().lock();
                for line in lines {
                    let _ = writeln!(err, "{line}");
                }
            }
            View::Live(live) => live.event(e),
        }
    }

    /// Ends the progress: the summary line stays.
    pub fn finish(self) {
        match self.view {
            View::None => {}
            View::Plain(state) => {
                let _ = writeln!(std::io::stderr(), "{}", state.summary());
            }
            View::Live(live) => live.finish(),
        }
    }
}
