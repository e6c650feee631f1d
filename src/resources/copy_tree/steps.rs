//! The apply steps of `copy-tree`: only what the plan found, batched so that the number
//! of processes grows with the directories touched, not the files (besides one `base64`
//! per file written).
//!
//! In order: make the destination; check that what will be replaced is still what the
//! plan saw (files to create are still absent, one `sha256sum -c` for the files to
//! rewrite), else "changed since plan"; remove extras and what stands in the way; make
//! directories (parents first); then, per directory, write the new files into a
//! `mktemp -d` staging directory inside it (same file system), give them their mode and
//! owner, sync them, and rename them into place with one `mv` (each rename is atomic);
//! last, fix owner, group and mode of entries whose content is right.

use std::collections::BTreeMap;

use super::probe::Type;
use super::tree::{Entry, file_mode};
use super::{CopyTree, Op, Work};
use crate::script::Sh;

/// Paths per command line, so that no argument list grows too long.
const CHUNK: usize = 200;

/// `./rel`, so that no name is read as an option.
fn dot(rel: &str) -> String {
    format!("./{rel}")
}

/// `CMD ARGS -- ./a ./b ...` in chunks.
fn batch(sh: &mut Sh, cmd: &'static str, arg: Option<&str>, rels: &[String]) {
    for chunk in rels.chunks(CHUNK) {
        sh.raw(cmd);
        if let Some(a) = arg {
            sh.sp().q(a);
        }
        sh.raw(" --");
        for r in chunk {
            sh.sp().q(&dot(r));
        }
        sh.nl();
    }
}

/// The chown spec for the wanted owner and group, if any.
fn chown_spec(t: &CopyTree) -> Option<String> {
    t.attrs(true, None).chown_spec()
}

/// A line of `sha256sum -c` input for `./rel` (names with a backslash are escaped the
/// way sha256sum reads them).
fn check_line(sha: &str, rel: &str) -> String {
    let name = dot(rel);
    if name.contains('\\') { format!("\\{sha}  {}\n", name.replace('\\', "\\\\")) } else { format!("{sha}  {name}\n") }
}

pub fn write(t: &CopyTree, w: &Work, sh: &mut Sh) {
    sh.set("d", &t.dest);
    if w.root_create {
        sh.raw("mkdir -p -- \"$d\"\n");
    }
    let refused: Vec<(&String, Type)> = w
        .ops
        .iter()
        .filter_map(|(rel, op)| match op {
            Op::Refuse(k) => Some((rel, *k)),
            _ => None,
        })
        .collect();
    if let Some((rel, _)) = refused.first() {
        sh.set("r", rel);
        sh.raw(
            "printf '%s\\n' \"refusing to replace what is in the way (purge=#true replaces it): $d/$r\" >&2; exit 1\n",
        );
        return;
    }
    sh.raw("cd -P -- \"$d\"\n");
    guard(w, sh);
    // the destination itself
    if w.root_create || !w.root_attrs.is_empty() {
        if let Some(spec) = chown_spec(t) {
            sh.raw("chown -- ").q(&spec).raw(" .\n");
        }
        if let Some(m) = t.dir_mode {
            sh.raw("chmod ").mode(m).raw(" .\n");
        }
    }
    let removed: Vec<String> = w.remove.iter().map(|(r, _)| r.clone()).collect();
    batch(sh, "rm -rf", None, &removed);
    if !w.remove_odd.is_empty() {
        sh.raw("find . -xdev -mindepth 1 \\(");
        for (i, (inode, _)) in w.remove_odd.iter().enumerate() {
            sh.raw(if i == 0 { " -inum " } else { " -o -inum " }).num(*inode);
        }
        sh.raw(" \\) -prune -exec rm -rf -- {} +\n");
    }
    let mkdirs: Vec<String> = w.ops.iter().filter(|(_, op)| matches!(op, Op::Mkdir)).map(|(r, _)| r.clone()).collect();
    batch(sh, "mkdir", None, &mkdirs);
    if !mkdirs.is_empty() {
        if let Some(spec) = chown_spec(t) {
            batch(sh, "chown", Some(&spec), &mkdirs);
        }
        batch(sh, "chmod", Some(&format!("{:04o}", t.dir_mode.unwrap_or(0o755))), &mkdirs);
    }
    writes(t, w, sh);
    attrs(t, w, sh);
}

/// Refuses if what the plan saw changed: files to create must still be absent, files to
/// rewrite must still have the content the plan saw.
fn guard(w: &Work, sh: &mut Sh) {
    let made: Vec<&String> = w
        .ops
        .iter()
        .filter(|(_, op)| matches!(op, Op::Mkdir | Op::Write { was: Some(Type::Dir), .. }))
        .map(|(r, _)| r)
        .collect();
    let under_made = |rel: &str| made.iter().any(|m| rel.starts_with(m.as_str()) && rel[m.len()..].starts_with('/'));
    let absent: Vec<String> = w
        .ops
        .iter()
        .filter(|(rel, op)| match op {
            Op::Mkdir => !w.remove.iter().any(|(r, _)| r == rel),
            Op::Write { replaces: None, was: None } => true,
            _ => false,
        } && !under_made(rel))
        .map(|(r, _)| r.clone())
        .collect();
    let rewrite: String = w
        .ops
        .iter()
        .filter_map(|(rel, op)| match op {
            Op::Write { replaces: Some(sha), .. } => Some(check_line(sha, rel)),
            _ => None,
        })
        .collect();
    if absent.is_empty() && rewrite.is_empty() {
        return;
    }
    sh.raw("if [ -z \"${CV_DOWNSTREAM:-}\" ]; then\n");
    if !absent.is_empty() {
        sh.raw("cv_absent() { for f; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then cv_changed_since_plan \"$d/${f#./}\"; fi; done; }\n");
        batch(sh, "cv_absent", None, &absent);
    }
    if !rewrite.is_empty() {
        sh.raw("cv_l=$(mktemp)\n");
        sh.heredoc_base64("\"$cv_l\"", rewrite.as_bytes());
        sh.raw("if ! sha256sum -c --quiet -- \"$cv_l\"; then rm -f -- \"$cv_l\"; cv_changed_since_plan \"$d\"; fi\nrm -f -- \"$cv_l\"\n");
    }
    sh.raw("fi\n");
}

/// The files to write, by the directory they go in.
fn writes(t: &CopyTree, w: &Work, sh: &mut Sh) {
    let mut by_dir: BTreeMap<&str, Vec<(&str, &Op)>> = BTreeMap::new();
    for (rel, op) in &w.ops {
        if let Op::Write { .. } = op {
            let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
            by_dir.entry(dir).or_default().push((name, op));
        }
    }
    let spec = chown_spec(t);
    for (dir, files) in by_dir {
        sh.set("t", &if dir.is_empty() { ".".to_string() } else { dot(dir) });
        sh.raw("s=$(mktemp -d \"$t/.converge.XXXXXXXX\")\ntrap 'rm -rf -- \"$s\"' EXIT\n");
        let mut modes: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
        for (name, op) in &files {
            let rel = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
            let Some(Entry::File { content, exec }) = t.tree.entries.get(&rel) else { continue };
            sh.set("n", name);
            sh.heredoc_base64("\"$s/$n\"", &content.bytes);
            modes.entry(file_mode(t.mode, *exec)).or_default().push(name);
            // a file rewritten keeps its owner and group unless they are given
            if matches!(op, Op::Write { replaces: Some(_), .. }) && (t.owner.is_none() || t.group.is_none()) {
                sh.raw("chown --reference=\"$t/$n\" -- \"$s/$n\"\n");
            }
        }
        for (mode, names) in &modes {
            staged(sh, "chmod", Some(&format!("{mode:04o}")), names);
        }
        let all: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        if let Some(spec) = &spec {
            staged(sh, "chown", Some(spec), &all);
        }
        staged(sh, "sync", None, &all);
        for chunk in all.chunks(CHUNK) {
            sh.raw("mv -f --");
            for n in chunk {
                sh.raw(" \"$s\"/").q(n);
            }
            sh.raw(" \"$t\"/\n");
        }
        sh.raw("rmdir -- \"$s\"\ntrap - EXIT\n");
    }
}

/// `CMD [ARG] -- "$s"/NAME...` over staged files.
fn staged(sh: &mut Sh, cmd: &'static str, arg: Option<&str>, names: &[&str]) {
    for chunk in names.chunks(CHUNK) {
        sh.raw(cmd);
        if let Some(a) = arg {
            sh.sp().q(a);
        }
        sh.raw(" --");
        for n in chunk {
            sh.raw(" \"$s\"/").q(n);
        }
        if cmd == "sync" {
            sh.raw(" 2>/dev/null || sync");
        }
        sh.nl();
    }
}

/// Owner, group and mode of entries whose content is right.
fn attrs(t: &CopyTree, w: &Work, sh: &mut Sh) {
    let mut chown: Vec<String> = Vec::new();
    let mut modes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (rel, op) in &w.ops {
        let Op::Attrs(changes) = op else { continue };
        if changes.iter().any(|c| c.field() == "owner" || c.field() == "group") {
            chown.push(rel.clone());
        }
        if changes.iter().any(|c| c.field() == "mode") {
            let mode = match t.tree.entries.get(rel) {
                Some(Entry::File { exec, .. }) => file_mode(t.mode, *exec),
                _ => t.dir_mode.unwrap_or(0o755),
            };
            modes.entry(mode).or_default().push(rel.clone());
        }
    }
    if let Some(spec) = chown_spec(t) {
        batch(sh, "chown", Some(&spec), &chown);
    }
    for (mode, rels) in &modes {
        batch(sh, "chmod", Some(&format!("{mode:04o}")), rels);
    }
}
