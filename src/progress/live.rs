//! The live rendering on a terminal: a thin indicatif layer over [`ProgressState`]. One
//! spinner line per host at work, its text the state's line for the host; a summary line
//! under them; what the state prints for good goes above them (`MultiProgress::println`).
//! Only ever built when stderr is a terminal: without one indicatif hides its bars and
//! drops what `println` gives it, and the plain rendering is used instead.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::state::ProgressState;
use crate::events::Event;

pub struct Live {
    state: ProgressState,
    multi: MultiProgress,
    bars: BTreeMap<usize, ProgressBar>,
    summary: ProgressBar,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Live {
    pub fn new(state: ProgressState) -> Live {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let summary = multi.add(ProgressBar::new_spinner().with_style(style("{msg}")));
        summary.set_message(state.summary());
        Live { state, multi, bars: BTreeMap::new(), summary }
    }

    pub fn event(&mut self, e: &Event) {
        for line in self.state.feed(e) {
            let _ = self.multi.println(line);
        }
        match self.state.line(e.job) {
            Some(line) => {
                let bar = self.bars.entry(e.job).or_insert_with(|| {
                    let bar = self.multi.insert_before(
                        &self.summary,
                        ProgressBar::new_spinner().with_style(style("{spinner} {msg}  {elapsed:.dim}")),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(line);
            }
            None => {
                if let Some(bar) = self.bars.remove(&e.job) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
            }
        }
        self.summary.set_message(self.state.summary());
    }

    /// Clears the host lines and leaves the summary on the screen.
    pub fn finish(self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
        self.summary.finish_with_message(self.state.summary());
    }
}
