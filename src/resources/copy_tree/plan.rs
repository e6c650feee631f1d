//! The plan of `copy-tree`: the [`Work`] the probe calls for, shown as changes.
//!
//! One row per entry under its host path: a directory or file to create (`directory
//! 0755`, `file 0644, 12 bytes`), a file whose content differs (short sha256 before and
//! after), owner, group or mode to set (`PATH owner`), something in the way that is
//! refused without `purge`, and what is removed. A changed text file shows a unified diff
//! when the probe sent its content back; the first few new text files show their content;
//! a sensitive file shows neither. A long tree lists its first entries and a note counts
//! the rest, with the totals of the whole tree.

use super::probe::State;
use super::tree::{Entry, file_mode};
use super::{CopyTree, Op, Work};
use crate::resources::content::short_sha;
use crate::resources::ownership::format_mode;
use crate::resources::{Change, Content};

/// The plan lists at most this many entries of one tree; a note counts the rest.
const LISTED: usize = 100;
/// New text files whose content the plan shows.
const NEW_SHOWN: usize = 10;

impl CopyTree {
    /// The rows of the plan: the root, then each entry in order, then what is removed.
    pub(super) fn changes(&self, state: &State, work: &Work) -> Vec<Change> {
        let mut out = Vec::new();
        if work.root_create {
            out.push(Change::new(format!("{}/", self.dest.trim_end_matches('/')), None, Some(self.new_dir())));
        }
        for c in &work.root_attrs {
            out.push(c.clone().renamed(&format!("{} {}", self.dest, c.field())));
        }
        let listing = match state {
            State::Dir(l) => Some(l),
            _ => None,
        };
        let mut new_shown = 0;
        let mut diffs_shown = 0;
        let mut rows: Vec<(String, Vec<Change>)> = Vec::new();
        for (rel, op) in &work.ops {
            let path = self.host_path(rel);
            let mut row = Vec::new();
            match (op, self.tree.entries.get(rel)) {
                (Op::Mkdir, _) => {
                    let was = listing.and_then(|l| l.entries.get(rel)).map(|h| h.kind.name().to_string());
                    row.push(Change::new(format!("{path}/"), was, Some(self.new_dir())));
                }
                (Op::Attrs(changes), _) => {
                    row.extend(changes.iter().map(|c| c.clone().renamed(&format!("{path} {}", c.field()))));
                }
                (Op::Refuse(t), Some(want)) => {
                    let want = if matches!(want, Entry::Dir) { "directory" } else { "file" };
                    row.push(Change::set(path.clone(), t.name(), format!("{want} (refused: purge=#true replaces it)")));
                }
                (Op::Write { replaces, was }, Some(Entry::File { content, exec })) => {
                    let mode = format_mode(file_mode(self.mode, *exec));
                    match (replaces, was) {
                        (Some(old), _) => {
                            let body = listing.and_then(|l| l.bodies.get(rel));
                            let shown = content_of(content.sensitive, &content.bytes, body, diffs_shown < LISTED);
                            if matches!(shown, Content::Text { .. }) {
                                diffs_shown += 1;
                            }
                            row.push(if content.sensitive {
                                Change::content(path.clone(), None, None, Content::Sensitive)
                            } else {
                                Change::content(
                                    path.clone(),
                                    Some(short_sha(old)),
                                    Some(short_sha(&content.sha256)),
                                    shown,
                                )
                            });
                            if let Some(h) = listing.and_then(|l| l.entries.get(rel)) {
                                let attrs = self.attrs(true, Some(file_mode(self.mode, *exec))).diff(Some(&h.meta), 0);
                                row.extend(
                                    attrs.into_iter().map(|c| c.clone().renamed(&format!("{path} {}", c.field()))),
                                );
                            }
                        }
                        (None, was) => {
                            let after = format!("file {mode}, {} bytes", content.bytes.len());
                            let before = was.map(|t| t.name().to_string());
                            let text = std::str::from_utf8(&content.bytes).ok().filter(|_| !content.sensitive);
                            let c = match text {
                                Some(t) if new_shown < NEW_SHOWN => {
                                    new_shown += 1;
                                    Change::content(
                                        path.clone(),
                                        before,
                                        Some(after),
                                        Content::Text { before: String::new(), after: t.to_string() },
                                    )
                                }
                                _ => Change::new(path.clone(), before, Some(after)),
                            };
                            row.push(c);
                        }
                    }
                }
                _ => {}
            }
            rows.push((rel.clone(), row));
        }
        for (rel, t) in &work.remove {
            let replaced = work.ops.iter().any(|(r, _)| r == rel);
            if !replaced {
                rows.push((rel.clone(), vec![Change::new(self.host_path(rel), Some(t.name().to_string()), None)]));
            }
        }
        for (_, shown) in &work.remove_odd {
            rows.push((shown.clone(), vec![Change::new(self.host_path(shown), Some("entry".into()), None)]));
        }
        let total = rows.len();
        for (_, row) in rows.into_iter().take(LISTED) {
            out.extend(row);
        }
        if total > LISTED {
            out.push(Change::note(self.summary(work, total - LISTED)));
        }
        out
    }

    fn new_dir(&self) -> String {
        format!("directory {}", format_mode(self.dir_mode.unwrap_or(0o755)))
    }

    /// The note under a long list: how many more, and the counts of the whole tree.
    fn summary(&self, work: &Work, more: usize) -> String {
        let count = |f: &dyn Fn(&Op) -> bool| work.ops.iter().filter(|(_, op)| f(op)).count();
        let create = count(&|op| matches!(op, Op::Mkdir | Op::Write { replaces: None, .. }));
        let change = count(&|op| matches!(op, Op::Write { replaces: Some(_), .. } | Op::Attrs(_) | Op::Refuse(_)));
        let remove = work.remove.len() + work.remove_odd.len();
        format!("{more} more entries not listed; in all {create} to create, {change} to change, {remove} to remove")
    }
}

/// How a changed file's content is shown.
fn content_of(sensitive: bool, after: &[u8], before: Option<&Vec<u8>>, room: bool) -> Content {
    if sensitive {
        return Content::Sensitive;
    }
    let Ok(after) = std::str::from_utf8(after) else {
        return Content::Opaque { reason: "binary content".into() };
    };
    match before.map(|b| std::str::from_utf8(b)) {
        Some(Ok(b)) if room => Content::Text { before: b.to_string(), after: after.to_string() },
        Some(Err(_)) => Content::Opaque { reason: "binary content on the host".into() },
        _ => Content::Opaque { reason: "diff not shown: large, or one of many".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::copy_tree::tests::{kind, tree};
    use crate::resources::plan_of;

    #[test]
    fn a_long_plan_lists_a_hundred_entries_and_counts_the_rest() {
        let mut k = kind(false);
        let files: Vec<(String, String)> = (0..250).map(|i| (format!("f{i:03}"), format!("{i}\n"))).collect();
        let refs: Vec<(&str, &str, bool)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str(), false)).collect();
        k.tree = tree(&refs, &[]);
        let (diff, _) = plan_of(&k, "type=absent\n");
        assert_eq!(diff.changes.len(), 1 + LISTED + 1);
        assert_eq!(
            diff.changes.last().and_then(|c| c.after()),
            Some("150 more entries not listed; in all 250 to create, 0 to change, 0 to remove")
        );
        let shown = diff.changes.iter().filter(|c| matches!(c.content_shown(), Some(Content::Text { .. }))).count();
        assert_eq!(shown, NEW_SHOWN);
    }
}
