//! `copy-tree`: a directory of the controller copied onto the host, one resource whatever
//! the number of files.
//!
//! ```kdl
//! copy-tree "/srv/www/site" source="files/site/" owner="www-data" group="www-data"
//! copy-tree "/opt/tools" source="files/tools/" dir-mode="0750" purge=#true exclude="*.pyc"
//! ```
//!
//! The source (relative to the playbook, like `file source=`) is read when the playbook
//! is loaded; its contents go into the destination, whether or not `source` ends in `/`.
//! The probe lists everything under the destination with one `find` and hashes the files
//! the source has with one `sha256sum` (`probe.rs`); the plan shows each file and
//! directory to create, change or remove, with unified diffs for the first few small text
//! files that differ (`plan.rs`); the apply ships only the files whose content differs, each written
//! atomically (`steps.rs`).
//!
//! Modes: without `mode`, a file gets 0755 when the source file is executable by its
//! owner and 0644 otherwise (what git keeps of a mode), and that is kept up; `mode` gives
//! every file the same mode. `dir-mode` is enforced on every directory of the tree (the
//! destination too); without it new directories get 0755 and existing ones keep theirs.
//! `owner` and `group` apply to every file and directory of the tree when given; without
//! them, new entries belong to the connecting user and replaced files keep their owner.
//! `purge=#true` removes what the source does not have (default: kept). `exclude` globs
//! are neither copied nor purged.

mod plan;
mod probe;
mod steps;
mod tree;

use std::collections::BTreeSet;

use probe::{HostEntry, Listing, State, Type};
use tree::{Entry, Globs, Tree, file_mode};

use super::ownership::Ownership;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

#[derive(Debug)]
pub struct CopyTree {
    dest: String,
    tree: Tree,
    owner: Option<String>,
    group: Option<String>,
    /// The owner is the `become-user` and no group is given: see [`Ownership::login_group`].
    login_group: bool,
    mode: Option<u32>,
    dir_mode: Option<u32>,
    purge: bool,
    exclude: Globs,
}

/// What one entry of the tree needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Make the directory (nothing, or something removed first, is there).
    Mkdir,
    /// Write the file: `None` where nothing is, else the sha256 of the file it replaces.
    Write { replaces: Option<String>, was: Option<Type> },
    /// Set owner, group or mode.
    Attrs(Vec<Change>),
    /// Something of another type is in the way and `purge` is off.
    Refuse(Type),
}

/// Everything the tree needs, computed from the probe (the plan and the steps share it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Work {
    pub root_create: bool,
    pub root_attrs: Vec<Change>,
    /// Removed first (`rm -rf`): extras when purging, and what stands in the way.
    pub remove: Vec<(String, Type)>,
    /// Entries with names that cannot be compared, removed by inode when purging.
    pub remove_odd: Vec<(u64, String)>,
    pub ops: Vec<(String, Op)>,
}

impl Work {
    pub fn is_empty(&self) -> bool {
        !self.root_create
            && self.root_attrs.is_empty()
            && self.remove.is_empty()
            && self.remove_odd.is_empty()
            && self.ops.is_empty()
    }
}

impl CopyTree {
    fn host_path(&self, rel: &str) -> String {
        if self.dest == "/" { format!("/{rel}") } else { format!("{}/{rel}", self.dest) }
    }

    fn attrs(&self, owner: bool, mode: Option<u32>) -> Ownership {
        Ownership {
            owner: if owner { self.owner.clone() } else { None },
            group: if owner { self.group.clone() } else { None },
            mode,
            login_group: owner && self.login_group,
        }
    }

    /// What the tree needs, given what the host has.
    pub fn work(&self, state: &State) -> Work {
        let empty = Listing::default();
        let (listing, root_create) = match state {
            State::Dir(l) => (l, false),
            _ => (&empty, true),
        };
        let mut w = Work { root_create, ..Work::default() };
        let root_want = self.attrs(true, self.dir_mode);
        if let Some(root) = &listing.root {
            w.root_attrs = root_want.diff(Some(root), 0o755);
        }
        // directories made again below here: what they held on the host is gone
        let mut remade: BTreeSet<String> = BTreeSet::new();
        for (rel, want) in &self.tree.entries {
            let have = listing.entries.get(rel);
            let op = match (want, have) {
                (Entry::Dir, None) => Some(Op::Mkdir),
                (Entry::Dir, Some(h)) if h.kind == Type::Dir => {
                    let changes = root_want.diff(Some(&h.meta), 0o755);
                    (!changes.is_empty()).then_some(Op::Attrs(changes))
                }
                (Entry::Dir, Some(h)) if h.kind == Type::File && !self.purge => Some(Op::Refuse(h.kind)),
                (Entry::Dir, Some(h)) => {
                    w.remove.push((rel.clone(), h.kind));
                    Some(Op::Mkdir)
                }
                (Entry::File { .. }, None) => Some(Op::Write { replaces: None, was: None }),
                (Entry::File { exec, .. }, Some(h)) if h.kind == Type::File => match listing.differs.get(rel) {
                    Some(sha) => Some(Op::Write { replaces: Some(sha.clone()), was: Some(Type::File) }),
                    None => {
                        let changes = self.attrs(true, Some(file_mode(self.mode, *exec))).diff(Some(&h.meta), 0);
                        (!changes.is_empty()).then_some(Op::Attrs(changes))
                    }
                },
                (Entry::File { .. }, Some(h)) if h.kind == Type::Dir => {
                    if self.purge && !self.protects(rel, listing) {
                        w.remove.push((rel.clone(), h.kind));
                        Some(Op::Write { replaces: None, was: Some(Type::Dir) })
                    } else {
                        Some(Op::Refuse(h.kind))
                    }
                }
                // a link or a special file: the rename replaces it
                (Entry::File { .. }, Some(h)) => Some(Op::Write { replaces: None, was: Some(h.kind) }),
            };
            if let Some(op) = op {
                if matches!(op, Op::Mkdir) || matches!(op, Op::Write { was: Some(Type::Dir), .. }) {
                    remade.insert(rel.clone());
                }
                w.ops.push((rel.clone(), op));
            }
        }
        if self.purge {
            let wanted = |rel: &str| self.tree.entries.contains_key(rel);
            let gone = |rel: &str, remade: &BTreeSet<String>, removed: &BTreeSet<String>| {
                ancestors(rel).any(|a| remade.contains(a) || removed.contains(a))
            };
            let mut removed: BTreeSet<String> = BTreeSet::new();
            for (rel, h) in &listing.entries {
                if wanted(rel) || self.exclude.matches(rel) || self.protects(rel, listing) {
                    continue;
                }
                if !gone(rel, &remade, &removed) {
                    w.remove.push((rel.clone(), h.kind));
                }
                removed.insert(rel.clone());
            }
            for odd in &listing.odd {
                let excluded =
                    !odd.dir.is_empty() && self.exclude.matches(&odd.dir) || self.exclude.matches(&odd.shown);
                let covered = !odd.dir.is_empty()
                    && (removed.contains(&odd.dir) || remade.contains(&odd.dir) || gone(&odd.dir, &remade, &removed));
                if !excluded && !covered {
                    w.remove_odd.push((odd.inode, odd.shown.clone()));
                }
            }
            w.remove.sort_by(|a, b| a.0.cmp(&b.0));
        }
        w
    }

    /// Whether `rel` holds an excluded entry on the host (it is then not removed whole).
    fn protects(&self, rel: &str, listing: &Listing) -> bool {
        let prefix = format!("{rel}/");
        listing
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .any(|(k, _)| self.exclude.matches(k))
    }
}

/// `a/b/c` → `a/b`, `a`.
fn ancestors(rel: &str) -> impl Iterator<Item = &str> {
    rel.char_indices().rev().filter(|(_, c)| *c == '/').map(move |(i, _)| &rel[..i])
}

impl Kind for CopyTree {
    const KIND: &'static str = "copy-tree";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<CopyTree> {
        let dest = r.arg("a path");
        let dest = dest.filter(|d| r.absolute_path(d, PathRule::Canonical, None));
        let source = r.nonempty("source");
        // owner (or the become-user, with its login group), group and mode, as for a file
        let Ownership { owner, group, mode, login_group } = Ownership::read(r);
        let dir_mode = r.mode("dir-mode");
        let purge = r.bool("purge").unwrap_or(false);
        let sensitive = r.bool("sensitive").unwrap_or(false);
        let patterns = r.list("exclude");
        let texts: Vec<&str> = patterns.iter().map(|p| p.value.as_str()).collect();
        let exclude = match Globs::new(&texts) {
            Ok(g) => Some(g),
            Err((i, why)) => {
                r.error(Diag::new(Code::CopyTree, "not a glob pattern", &patterns[i].at, why));
                None
            }
        };
        let dest = dest?;
        let dest = match dest.value.trim_end_matches('/') {
            "" => {
                r.error(
                    Diag::new(Code::CopyTree, "copy-tree will not manage `/`", &dest.at, "the destination is /")
                        .help("name the directory the files go in"),
                );
                return None;
            }
            d => d.to_string(),
        };
        let source = source?;
        let exclude = exclude?;
        let root = r.source_path(&source);
        let tree = match Tree::read(&root, &source.value, &exclude, sensitive, &|b| r.holds_secret(b)) {
            Ok(t) => t,
            Err(why) => {
                r.error(
                    Diag::new(Code::CopyTree, format!("cannot copy the source: {why}"), &source.at, "this directory")
                        .help("`source` is a directory relative to the playbook"),
                );
                return None;
            }
        };
        Some(CopyTree { dest, tree, owner, group, login_group, mode, dir_mode, purge, exclude })
    }

    fn name(&self) -> &str {
        &self.dest
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.dest);
        d.push(Implicit::new("directory", self.dest.clone(), "destination directory"));
        d.extend(self.attrs(true, None).deps());
        d
    }

    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }

    fn probe(&self, sh: &mut Sh) {
        probe::probe(&self.dest, &self.tree, sh);
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let state = probe::parse(out)?;
        if let State::Dir(l) = &state {
            let present = self
                .tree
                .files()
                .filter(|(rel, _, _)| l.entries.get(*rel).is_some_and(|h: &HostEntry| h.kind == Type::File))
                .count();
            if present != l.hashed {
                return Err(ProbeError(format!(
                    "the host compared {} files, but lists {present} of the source's",
                    l.hashed
                )));
            }
            if let Some(stray) =
                l.differs.keys().find(|k| !matches!(self.tree.entries.get(*k), Some(Entry::File { .. })))
            {
                return Err(ProbeError(format!(
                    "the host reports a hash for {stray:?}, which the source does not have"
                )));
            }
        }
        Ok(state)
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        match state {
            State::Other => Diff::new(
                Action::Change,
                vec![Change::set(self.dest.clone(), "not a directory", "directory (refused)")],
            ),
            State::Absent => Diff::new(Action::Create, self.changes(state, &self.work(state))),
            State::Dir(_) => {
                let work = self.work(state);
                if work.is_empty() { Diff::ok() } else { Diff::new(Action::Change, self.changes(state, &work)) }
            }
        }
    }

    fn steps(&self, state: &State, _diff: &Diff, sh: &mut Sh) {
        if matches!(state, State::Other) {
            sh.set("d", &self.dest);
            sh.raw("printf '%s\\n' \"refusing to replace something that is not a directory: $d\" >&2; exit 1\n");
            return;
        }
        steps::write(self, &self.work(state), sh);
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::resources::content::short_sha;
    use crate::resources::{Content, Resource, build_from, plan_of};

    pub(super) fn tree(files: &[(&str, &str, bool)], dirs: &[&str]) -> Tree {
        let mut t = Tree::default();
        for d in dirs {
            t.entries.insert(d.to_string(), Entry::Dir);
        }
        for (p, c, exec) in files {
            let content = crate::resources::content::Desired::new(c.as_bytes().to_vec(), false);
            t.entries.insert(p.to_string(), Entry::File { content, exec: *exec });
        }
        t
    }

    pub(super) fn kind(purge: bool) -> CopyTree {
        CopyTree {
            dest: "/srv/site".into(),
            tree: tree(
                &[
                    ("index.html", "<h1>hi</h1>\n", false),
                    ("js/app.js", "x()\n", false),
                    ("run.sh", "#!/bin/sh\n", true),
                ],
                &["js"],
            ),
            owner: Some("www".into()),
            group: None,
            login_group: false,
            mode: None,
            dir_mode: None,
            purge,
            exclude: Globs::new(&["*.log"]).expect("glob"),
        }
    }

    fn sha(k: &CopyTree, rel: &str) -> String {
        match &k.tree.entries[rel] {
            Entry::File { content, .. } => content.sha256.clone(),
            Entry::Dir => panic!("a directory"),
        }
    }

    /// A probe output where the host has the tree as wanted, plus `extra` lines.
    fn in_sync(k: &CopyTree, extra: &str, hashed: usize) -> String {
        let _ = sha(k, "index.html");
        format!(
            "type=directory\nstat=www:33:root:0:755\n\
             e d 755 www:33:root:0 4096 2 js\n\
             e f 644 www:33:root:0 12 3 index.html\n\
             e f 644 www:33:root:0 4 4 js/app.js\n\
             e f 755 www:33:root:0 10 5 run.sh\n{extra}hashed={hashed}\n"
        )
    }

    #[test]
    fn a_new_tree_is_created_with_every_file_in_one_block() {
        let k = kind(false);
        let (diff, steps) = plan_of(&k, "type=absent\n");
        assert_eq!(diff.action, Action::Create);
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(
            fields,
            ["/srv/site/", "/srv/site/index.html", "/srv/site/js/", "/srv/site/js/app.js", "/srv/site/run.sh"]
        );
        assert_eq!(diff.changes[4].after(), Some("file 0755, 10 bytes"), "the executable bit is kept");
        assert!(steps.starts_with("d=/srv/site\nmkdir -p -- \"$d\"\ncd -P -- \"$d\"\n"), "{steps}");
        assert!(steps.contains("chown -- www .\n"), "{steps}");
        assert!(steps.contains("mkdir -- ./js\nchown www -- ./js\nchmod 0755 -- ./js\n"), "{steps}");
        assert!(steps.contains("chmod 0755 -- \"$s\"/run.sh\n"), "{steps}");
        assert!(
            steps.contains("mv -f -- \"$s\"/index.html \"$s\"/run.sh \"$t\"/\n"),
            "one rename per directory: {steps}"
        );
        assert_eq!(steps.matches("base64 -d").count(), 3, "{steps}");
    }

    #[test]
    fn an_in_sync_tree_has_no_changes_and_extras_stay_without_purge() {
        let k = kind(false);
        let out = in_sync(&k, "e f 644 root:0:root:0 1 9 stray\n", 3);
        assert!(plan_of(&k, &out).0.is_ok());
        // the host compared fewer files than it lists: it lies, or lost some
        let bad = in_sync(&k, "", 2);
        assert!(Resource::plan(&k, &bad, &PlanCx::default()).is_err());
        let stray = in_sync(&k, &format!("h {} nothere\n", "0".repeat(64)), 3);
        assert!(Resource::plan(&k, &stray, &PlanCx::default()).is_err());
    }

    #[test]
    fn drift_rewrites_only_what_differs_and_purge_spares_excluded_files() {
        let k = kind(true);
        let old = "a".repeat(64);
        let extra = format!(
            "e f 600 www:33:root:0 4 6 js/old.js\ne d 755 root:0:root:0 4096 7 logs\ne f 644 root:0:root:0 1 8 logs/a.log\n\
             e d 755 root:0:root:0 4096 10 gone\ne f 644 root:0:root:0 1 11 gone/x\nodd 12 f ./gone\nodd 13 f .\n\
             h {old} js/app.js\nb js/app.js\neSgpCg==\n"
        );
        let out = in_sync(&k, &extra, 3)
            .replace("e f 644 www:33:root:0 12 3 index.html", "e f 600 root:0:root:0 12 3 index.html");
        let (diff, steps) = plan_of(&k, &out);
        assert_eq!(diff.action, Action::Change);
        let rows: Vec<(&str, Option<&str>, Option<&str>)> =
            diff.changes.iter().map(|c| (c.field(), c.before(), c.after())).collect();
        assert_eq!(
            rows,
            [
                ("/srv/site/index.html owner", Some("root"), Some("www")),
                ("/srv/site/index.html mode", Some("0600"), Some("0644")),
                ("/srv/site/js/app.js", Some("sha256:aaaaaaaaaaaa"), Some(short_sha(&sha(&k, "js/app.js")).as_str())),
                ("/srv/site/gone", Some("directory"), None),
                ("/srv/site/js/old.js", Some("file"), None),
                ("/srv/site/(a name with a line break)", Some("entry"), None),
            ]
        );
        assert_eq!(
            diff.changes[2].content_shown(),
            Some(&Content::Text { before: "y()\n".into(), after: "x()\n".into() })
        );
        // only the changed file travels; the guard checks what it replaces
        assert_eq!(steps.matches("base64 -d > \"$s/$n\"").count(), 1, "{steps}");
        assert!(steps.contains("rm -rf -- ./gone ./js/old.js\n"), "{steps}");
        assert!(
            steps.contains("-inum 13 \\) -prune -exec rm -rf -- {} +"),
            "the odd entry in gone/ goes with it: {steps}"
        );
        assert!(!steps.contains("-inum 12"), "{steps}");
        assert!(!steps.contains("logs"), "the excluded log and its directory stay: {steps}");
        assert!(steps.contains("sha256sum -c --quiet"), "{steps}");
        assert!(steps.contains("chown --reference=\"$t/$n\""), "a rewritten file keeps its group: {steps}");
        assert!(steps.contains("chown www -- ./index.html\nchmod 0644 -- ./index.html\n"), "{steps}");
    }

    #[test]
    fn something_in_the_way_is_refused_without_purge() {
        let k = kind(false);
        let out = in_sync(&k, "", 2).replace("e f 755 www:33:root:0 10 5 run.sh", "e d 755 www:33:root:0 10 5 run.sh");
        let (diff, steps) = plan_of(&k, &out);
        assert_eq!(diff.changes[0].before(), Some("directory"));
        assert!(steps.contains("refusing to replace what is in the way"), "{steps}");
        let (_, steps) = plan_of(&kind(true), &out);
        assert!(steps.contains("rm -rf -- ./run.sh\n"), "{steps}");
    }

    #[test]
    fn properties_are_checked_at_their_token() {
        let errs = build_from::<CopyTree>("copy-tree \"/srv/x\" source=\"no/such/dir\"").expect_err("missing");
        assert!(
            errs[0].starts_with("cannot copy the source: cannot read") && errs[0].ends_with("@ this directory"),
            "{errs:?}"
        );
        let errs = build_from::<CopyTree>("copy-tree \"/\" source=\"src\"").expect_err("root");
        assert_eq!(errs, ["copy-tree will not manage `/` @ the destination is /"]);
        let errs = build_from::<CopyTree>("copy-tree \"/srv/x\" source=\"src\" exclude=\"/\"").expect_err("glob");
        assert_eq!(errs, ["not a glob pattern @ an empty pattern matches nothing"]);
        let errs = build_from::<CopyTree>("copy-tree \"/srv/x\" source=\"src\" mode=644").expect_err("mode");
        assert!(errs[0].contains("decimal"), "{errs:?}");
    }

    /// The probe, the plan and the steps, run with `sh` on this machine against a
    /// temporary directory: created, in sync, then drift put back (with purge).
    #[test]
    fn probe_and_steps_converge_a_directory_on_this_machine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("dest");
        let mut k = kind(true);
        k.dest = dest.to_str().expect("utf8").to_string();
        k.owner = None;
        k.tree = tree(
            &[
                ("index.html", "<h1>hi</h1>\n", false),
                ("js/app.js", "x()\n", false),
                ("run.sh", "#!/bin/sh\n", true),
                ("a\\b 'c'", "odd name\n", false),
                ("-n", "dash\n", false),
            ],
            &["js", "js/empty"],
        );
        let run = |script: &str| -> String {
            let full = format!(
                "CV_STATE=/nonexistent\ncv_changed_since_plan() {{ printf '%s\\n' \"changed since plan: $1\" >&2; exit 3; }}\n({script})\n"
            );
            let out = Command::new("sh").arg("-c").arg(&full).output().expect("sh");
            assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).expect("utf8")
        };
        let converge = |k: &CopyTree| -> Diff {
            let mut sh = Sh::new();
            Kind::probe(k, &mut sh);
            let (diff, steps) = plan_of(k, &run(sh.text()));
            if !diff.is_ok() {
                run(&steps);
            }
            diff
        };
        assert_eq!(converge(&k).action, Action::Create);
        assert!(converge(&k).is_ok(), "in sync after one apply");
        assert_eq!(std::fs::read_to_string(dest.join("a\\b 'c'")).expect("read"), "odd name\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| std::fs::metadata(dest.join(p)).expect("stat").permissions().mode() & 0o7777;
        assert_eq!((mode("run.sh"), mode("index.html"), mode("js/empty")), (0o755, 0o644, 0o755));
        // drift: content, mode, an extra file and directory, a link where a directory is
        std::fs::write(dest.join("js/app.js"), "y()\n").expect("write");
        std::fs::set_permissions(dest.join("run.sh"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::write(dest.join("stray"), "").expect("write");
        std::fs::create_dir_all(dest.join("old/deep")).expect("mkdir");
        std::fs::remove_dir(dest.join("js/empty")).expect("rmdir");
        std::os::unix::fs::symlink("/etc", dest.join("js/empty")).expect("link");
        std::fs::write(dest.join("x.log"), "kept").expect("write");
        std::fs::write(dest.join("cr\rname"), "").expect("write");
        std::fs::create_dir_all(dest.join("js/nl\nname/deeper")).expect("mkdir");
        let diff = converge(&k);
        assert_eq!(diff.action, Action::Change);
        assert!(converge(&k).is_ok(), "in sync after the drift is put back");
        assert_eq!(std::fs::read_to_string(dest.join("js/app.js")).expect("read"), "x()\n");
        assert_eq!(mode("run.sh"), 0o755);
        assert!(!dest.join("stray").exists() && !dest.join("old").exists());
        assert!(std::fs::symlink_metadata(dest.join("js/empty")).expect("stat").is_dir(), "a real directory again");
        assert!(dest.join("x.log").exists(), "excluded: not purged");
        assert!(!dest.join("cr\rname").exists() && !dest.join("js/nl\nname").exists(), "odd names purged by inode");
        // changed between the plan and the apply: refused, nothing written
        std::fs::write(dest.join("index.html"), "by hand\n").expect("write");
        let mut sh = Sh::new();
        Kind::probe(&k, &mut sh);
        let (_, steps) = plan_of(&k, &run(sh.text()));
        std::fs::write(dest.join("index.html"), "by hand, again\n").expect("write");
        std::fs::write(dest.join("js/app.js"), "drift\n").expect("write");
        let full = format!(
            "cv_changed_since_plan() {{ printf '%s\\n' \"changed since plan: $1\" >&2; exit 3; }}\n({steps})\n"
        );
        let out = Command::new("sh").arg("-c").arg(&full).output().expect("sh");
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read_to_string(dest.join("index.html")).expect("read"), "by hand, again\n");
        assert_eq!(std::fs::read_to_string(dest.join("js/app.js")).expect("read"), "drift\n", "not half-done");
        assert!(converge(&k).action == Action::Change && converge(&k).is_ok());
        let leftovers = std::fs::read_dir(&dest)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".converge"))
            .count();
        assert_eq!(leftovers, 0);
    }
}
