//! The source side of `copy-tree`: the controller's directory, read once when the playbook
//! is loaded (every error before any SSH), and the `exclude` globs.
//!
//! Symbolic links in the source are followed (what they point to is copied, as Ansible's
//! `copy` does with its default `local_follow`); a link that points nowhere, a loop, or
//! anything that is neither a regular file nor a directory is an error at the `source`
//! token. So is a name the host side could not carry on one line of the probe: a name
//! that is not UTF-8 or holds a control character.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::resources::content::Desired;

/// One entry of the source, by its path relative to the source directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { content: Desired, exec: bool },
}

/// The source tree: relative paths (`a`, `a/b.txt`) in byte order, so that every
/// directory comes before what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Reads `root` (a directory, named `shown` in errors: the path the playbook wrote)
    /// except what `exclude` matches. `secret` tells whether bytes hold a secret value
    /// (that file's content is then never shown).
    pub fn read(
        root: &Path,
        shown: &str,
        exclude: &Globs,
        sensitive: bool,
        secret: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Tree, String> {
        let shown = shown.trim_end_matches('/');
        let meta = std::fs::metadata(root).map_err(|e| format!("cannot read `{shown}`: {}", io(&e)))?;
        if !meta.is_dir() {
            return Err(format!("`{shown}` is not a directory"));
        }
        let mut tree = Tree::default();
        let mut seen = BTreeSet::new();
        let canon = std::fs::canonicalize(root).map_err(|e| format!("cannot read `{shown}`: {}", io(&e)))?;
        seen.insert(canon);
        let top = Walk { exclude, sensitive, secret, shown };
        top.walk(root, "", &mut seen, &mut tree)?;
        Ok(tree)
    }

    pub fn files(&self) -> impl Iterator<Item = (&String, &Desired, bool)> {
        self.entries.iter().filter_map(|(k, e)| match e {
            Entry::File { content, exec } => Some((k, content, *exec)),
            Entry::Dir => None,
        })
    }
}

/// What every level of the walk shares.
struct Walk<'a> {
    exclude: &'a Globs,
    sensitive: bool,
    secret: &'a dyn Fn(&[u8]) -> bool,
    shown: &'a str,
}

/// An I/O error without its `(os error N)`.
fn io(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

impl Walk<'_> {
    fn walk(&self, dir: &Path, rel: &str, ancestors: &mut BTreeSet<PathBuf>, tree: &mut Tree) -> Result<(), String> {
        let here = if rel.is_empty() { self.shown.to_string() } else { format!("{}/{rel}", self.shown) };
        let read = std::fs::read_dir(dir).map_err(|e| format!("cannot read `{here}`: {}", io(&e)))?;
        let mut names = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| format!("cannot read `{here}`: {}", io(&e)))?;
            names.push(entry.file_name());
        }
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let Some(name) = name.to_str() else {
                let lossy = name.to_string_lossy();
                return Err(format!("`{here}/{lossy}`: a file name that is not UTF-8 cannot be copied"));
            };
            let child = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
            let at = format!("{}/{child}", self.shown);
            if let Some(c) = name.chars().find(|c| c.is_control() || *c == '\u{FFFD}') {
                return Err(format!(
                    "`{}`: a file name holding {c:?} cannot be copied (the probe reads one name per line)",
                    at.escape_debug()
                ));
            }
            if self.exclude.matches(&child) {
                continue;
            }
            let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read `{at}`: {}", io(&e)))?;
            if meta.is_dir() {
                let canon = std::fs::canonicalize(&path).map_err(|e| format!("cannot read `{at}`: {}", io(&e)))?;
                if !ancestors.insert(canon.clone()) {
                    return Err(format!("`{at}` links back to a directory that holds it"));
                }
                tree.entries.insert(child.clone(), Entry::Dir);
                self.walk(&path, &child, ancestors, tree)?;
                ancestors.remove(&canon);
            } else if meta.is_file() {
                let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{at}`: {}", io(&e)))?;
                let exec = meta.permissions().mode() & 0o100 != 0;
                let sensitive = self.sensitive || (self.secret)(&bytes);
                tree.entries.insert(child, Entry::File { content: Desired::new(bytes, sensitive), exec });
            } else {
                return Err(format!("`{at}` is neither a regular file nor a directory"));
            }
        }
        Ok(())
    }
}

/// `exclude` globs, matched against paths relative to the source (and to the
/// destination): a pattern without `/` matches a name at any depth (`*.pyc`,
/// `__pycache__`), one with `/` matches the path from the top (`static/cache`, `/build`);
/// `*` and `?` stay within a name, `**` crosses directories, `[abc]` is a class. What a
/// pattern matches is excluded with everything under it.
#[derive(Debug, Clone, Default)]
pub struct Globs {
    patterns: Vec<(bool, Regex)>,
}

impl PartialEq for Globs {
    fn eq(&self, other: &Globs) -> bool {
        self.patterns.len() == other.patterns.len()
            && self.patterns.iter().zip(&other.patterns).all(|(a, b)| a.0 == b.0 && a.1.as_str() == b.1.as_str())
    }
}

impl Globs {
    /// Compiles the globs; the error names the pattern that is not one.
    pub fn new(patterns: &[&str]) -> Result<Globs, (usize, String)> {
        let mut out = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let trimmed = p.trim_end_matches('/');
            if trimmed.is_empty() {
                return Err((i, "an empty pattern matches nothing".into()));
            }
            let anchored = trimmed.contains('/');
            let body = trimmed.trim_start_matches('/');
            let re = Regex::new(&format!("^{}$", translate(body))).map_err(|e| (i, e.to_string()))?;
            out.push((anchored, re));
        }
        Ok(Globs { patterns: out })
    }

    /// Whether `rel` (`a/b/c`) or any directory above it is excluded.
    pub fn matches(&self, rel: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let mut end = 0;
        let parts: Vec<&str> = rel.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            end += part.len() + usize::from(i > 0);
            let prefix = &rel[..end];
            if self.patterns.iter().any(|(anchored, re)| re.is_match(if *anchored { prefix } else { part })) {
                return true;
            }
        }
        false
    }
}

/// A glob as a regular expression body.
fn translate(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                // `**/` also matches no directory at all
                if chars.get(i + 2) == Some(&'/') {
                    out.push_str("(?:.*/)?");
                    i += 3;
                } else {
                    out.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => match chars[i + 1..].iter().position(|c| *c == ']').map(|p| p + i + 1) {
                // `[]]` and `[!]]`: a `]` first in the class is a member
                Some(close) if close > i + 1 => {
                    let mut class: String = chars[i + 1..close].iter().collect();
                    let negate = class.starts_with('!') || class.starts_with('^');
                    if negate {
                        class.remove(0);
                    }
                    let escaped: String =
                        class
                            .chars()
                            .map(|c| {
                                if matches!(c, '\\' | '[' | ']' | '&' | '~') { format!("\\{c}") } else { c.to_string() }
                            })
                            .collect();
                    out.push('[');
                    if negate {
                        out.push('^');
                    }
                    out.push_str(&escaped);
                    out.push(']');
                    i = close + 1;
                    continue;
                }
                _ => out.push_str("\\["),
            },
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out
}

/// File permissions of a copied file: `mode` when given, else 0755 for a source file its
/// owner may execute and 0644 for any other (what git keeps of a mode).
pub fn file_mode(mode: Option<u32>, exec: bool) -> u32 {
    mode.unwrap_or(if exec { 0o755 } else { 0o644 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_anywhere_and_paths_from_the_top() {
        let g =
            Globs::new(&["*.pyc", "__pycache__", "static/cache/", "/build", "docs/**/*.tmp", "[!a]x"]).expect("globs");
        assert!(g.matches("a.pyc") && g.matches("lib/deep/a.pyc"));
        assert!(g.matches("lib/__pycache__") && g.matches("lib/__pycache__/x.py"), "everything under it");
        assert!(g.matches("static/cache/x.css") && !g.matches("other/static/cache"));
        assert!(g.matches("build/out") && !g.matches("src/build"));
        assert!(g.matches("docs/a.tmp") && g.matches("docs/x/y/a.tmp") && !g.matches("a.tmp"));
        assert!(g.matches("bx") && !g.matches("ax"));
        assert!(!g.matches("app.py") && !g.matches("pyc"));
        assert!(Globs::new(&["["]).expect("a lone [ is literal").matches("["));
        assert_eq!(Globs::new(&["ok", "/"]).map(|_| ()), Err((1, "an empty pattern matches nothing".into())));
        assert!(!Globs::default().matches("anything"));
    }

    #[test]
    fn reads_a_tree_follows_links_and_keeps_the_executable_bit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("js/vendor")).expect("mkdir");
        std::fs::create_dir_all(root.join("empty")).expect("mkdir");
        std::fs::write(root.join("index.html"), "<h1>hi</h1>\n").expect("write");
        std::fs::write(root.join("js/app.js"), "x()\n").expect("write");
        std::fs::write(root.join("js/app.pyc"), "junk").expect("write");
        std::fs::write(root.join("run.sh"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::symlink("../../index.html", root.join("js/vendor/linked.html")).expect("link");
        let tree = Tree::read(&root, "site/", &Globs::new(&["*.pyc"]).expect("glob"), false, &|_| false).expect("read");
        let names: Vec<&str> = tree.entries.keys().map(String::as_str).collect();
        assert_eq!(names, ["empty", "index.html", "js", "js/app.js", "js/vendor", "js/vendor/linked.html", "run.sh"]);
        assert!(matches!(&tree.entries["run.sh"], Entry::File { exec: true, .. }));
        assert!(
            matches!(&tree.entries["js/vendor/linked.html"], Entry::File { content, exec: false } if content.bytes == b"<h1>hi</h1>\n")
        );
        // a loop and a dangling link are errors, naming the path
        std::os::unix::fs::symlink("..", root.join("js/up")).expect("link");
        let err = Tree::read(&root, "site/", &Globs::default(), false, &|_| false).expect_err("a loop");
        assert!(err.contains("links back"), "{err}");
        std::fs::remove_file(root.join("js/up")).expect("rm");
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).expect("link");
        let err = Tree::read(&root, "site/", &Globs::default(), false, &|_| false).expect_err("dangling");
        assert!(err.contains("dangling"), "{err}");
        std::fs::remove_file(root.join("dangling")).expect("rm");
        std::fs::write(root.join("bad\nname"), "").expect("write");
        let err = Tree::read(&root, "site/", &Globs::default(), false, &|_| false).expect_err("newline");
        assert!(err.contains("cannot be copied"), "{err}");
        // a file is not a source directory
        assert!(Tree::read(&root.join("index.html"), "site/index.html", &Globs::default(), false, &|_| false).is_err());
    }

    #[test]
    fn secret_content_makes_its_file_sensitive() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), "token=s3cret\n").expect("write");
        std::fs::write(dir.path().join("b"), "plain\n").expect("write");
        let tree = Tree::read(dir.path(), "d", &Globs::default(), false, &|b| b.windows(6).any(|w| w == b"s3cret"))
            .expect("read");
        let sensitive: Vec<bool> = tree.files().map(|(_, c, _)| c.sensitive).collect();
        assert_eq!(sensitive, [true, false]);
        assert_eq!(file_mode(None, true), 0o755);
        assert_eq!(file_mode(Some(0o600), true), 0o600);
    }
}
