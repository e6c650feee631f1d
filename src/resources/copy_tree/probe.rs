//! What the host has under the destination, in one snippet whatever the number of files.
//!
//! One `find` lists every entry under the destination (not following links), one line
//! each: `e TYPE MODE OWNER:UID:GROUP:GID SIZE INODE PATH`. A name holding a line break
//! (or a carriage return) cannot be on one line: it is listed as `odd INODE TYPE DIR` and
//! not descended into. The
//! wanted files (sha256, whether their diff may be shown, path) cross as a base64
//! here-document; `awk` picks those the listing has as regular files, one `sha256sum`
//! hashes them all (its exit status guarantees one line per file, in order), and `awk`
//! compares: each file whose hash differs prints `h SHA256 PATH`, then `hashed N` counts
//! the files compared. Of the files that differ, the first few small ones that may be
//! shown send their content back (`b PATH`, then base64 lines) for a unified diff. An
//! in-sync tree costs one line per entry and no content.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::tree::Tree;
use crate::resources::ProbeError;
use crate::resources::ownership::{self, Ownership};
use crate::resources::record::Record;
use crate::script::Sh;

/// Of the files that differ, at most this many send their content back for a diff...
pub const BODIES: u64 = 20;
/// ...each at most this big.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// What the host has at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    /// Something other than a directory (or a link to one) is there.
    Other,
    Dir(Listing),
}

/// The destination directory and everything under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub root: Option<ownership::Observed>,
    pub entries: BTreeMap<String, HostEntry>,
    /// Entries whose name cannot be compared (a line break in it, or not UTF-8).
    pub odd: Vec<Odd>,
    /// Wanted files whose content differs: path and the host's sha256.
    pub differs: BTreeMap<String, String>,
    /// Their current content, for the first few small ones.
    pub bodies: BTreeMap<String, Vec<u8>>,
    /// How many wanted files the host compared.
    pub hashed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub kind: Type,
    pub meta: ownership::Observed,
    pub size: u64,
    pub inode: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Odd {
    pub inode: u64,
    pub kind: Type,
    /// The directory it is in, relative (empty: the top).
    pub dir: String,
    /// Its path as it can be shown (not UTF-8: lossy; a line break: not at all).
    pub shown: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    File,
    Dir,
    Link,
    /// A FIFO, socket or device.
    Special,
}

impl Type {
    fn parse(t: &str) -> Result<Type, ProbeError> {
        Ok(match t {
            "f" => Type::File,
            "d" => Type::Dir,
            "l" => Type::Link,
            "p" | "s" | "c" | "b" | "D" => Type::Special,
            other => return Err(ProbeError(format!("unexpected file type {other:?}"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Type::File => "file",
            Type::Dir => "directory",
            Type::Link => "symlink",
            Type::Special => "special file",
        }
    }
}

/// The wanted files as the probe reads them: `SHA256 SHOW PATH` lines.
fn wanted(tree: &Tree) -> Vec<u8> {
    let mut out = String::new();
    for (path, content, _) in tree.files() {
        let show = !content.sensitive && std::str::from_utf8(&content.bytes).is_ok();
        out.push_str(&content.sha256);
        out.push_str(if show { " 1 " } else { " 0 " });
        out.push_str(path);
        out.push('\n');
    }
    out.into_bytes()
}

/// The probe snippet for `dest` holding `tree`.
pub fn probe(dest: &str, tree: &Tree, sh: &mut Sh) {
    sh.set("d", dest);
    sh.raw("if [ -d \"$d\" ]; then\necho type=directory\ncd -P -- \"$d\" || exit 1\n");
    sh.raw("stat -c 'stat=%U:%u:%G:%g:%a' .\n");
    sh.raw("cv_t=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$cv_t\"' EXIT\nnl='\n'\ncr=$(printf '\\r')\n");
    sh.raw("find . -mindepth 1 \\( \\( -name \"*$nl*\" -o -name \"*$cr*\" \\) -printf 'odd %i %y %h\\n' -prune \\) -o -printf 'e %y %m %u:%U:%g:%G %s %i %P\\n' > \"$cv_t/l\" || echo find=failed\n");
    sh.raw("cat -- \"$cv_t/l\"\n");
    sh.heredoc_base64("\"$cv_t/w\"", &wanted(tree));
    // the wanted files the listing has as regular files: names, and sizes with names
    sh.raw(": > \"$cv_t/h\"\nawk -v t=\"$cv_t\" 'FILENAME == ARGV[1] { n = $0; sub(/^[^ ]+ [^ ]+ /, \"\", n); w[n] = 1; next }\n");
    sh.raw("$1 == \"e\" && $2 == \"f\" { n = $0; sub(/^e [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ /, \"\", n); if (n in w) { print \"./\" n > (t \"/h\"); print $5 \" \" n > (t \"/z\") } }' \"$cv_t/w\" \"$cv_t/l\"\n");
    sh.raw("if [ ! -s \"$cv_t/h\" ]; then echo hashed=0\n");
    sh.raw("elif tr '\\n' '\\0' < \"$cv_t/h\" | xargs -0 sha256sum -- > \"$cv_t/s\"; then\n");
    sh.raw("awk -v t=\"$cv_t\" -v lim=").num(BODY_LIMIT).raw(" -v max=").num(BODIES);
    sh.raw(" 'FILENAME == ARGV[1] { n = $0; sub(/^[^ ]+ [^ ]+ /, \"\", n); w[n] = $1; show[n] = $2; next }\n");
    sh.raw("FILENAME == ARGV[2] { n = $0; sub(/^[^ ]+ /, \"\", n); k++; name[k] = n; size[k] = $1; next }\n");
    sh.raw("{ i++; s = $0; if (substr(s, 1, 1) == \"\\\\\") s = substr(s, 2); s = substr(s, 1, 64); n = name[i]\n");
    sh.raw("if (s != w[n]) { print \"h \" s \" \" n; if (show[n] == 1 && size[i] + 0 <= lim && b < max) { b++; print n > (t \"/b\") } } }\n");
    sh.raw("END { print \"hashed=\" i }' \"$cv_t/w\" \"$cv_t/z\" \"$cv_t/s\"\n");
    sh.raw("if [ -s \"$cv_t/b\" ]; then while IFS= read -r n; do printf 'b %s\\n' \"$n\"; base64 < \"./$n\"; done < \"$cv_t/b\"; fi\n");
    sh.raw("else echo hash=failed; fi\n");
    sh.raw("elif [ -e \"$d\" ] || [ -L \"$d\" ]; then echo type=other\nelse echo type=absent\nfi\n");
}

/// Reads the snippet's output.
pub fn parse(out: &str) -> Result<State, ProbeError> {
    let mut head = String::new();
    let mut listing = Listing::default();
    let mut body: Option<(String, String)> = None;
    let mut hashed = None;
    let finish = |body: &mut Option<(String, String)>, listing: &mut Listing| -> Result<(), ProbeError> {
        if let Some((name, b64)) = body.take() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| ProbeError(format!("the content of {name:?} is not valid base64: {e}")))?;
            listing.bodies.insert(name, bytes);
        }
        Ok(())
    };
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("e ") {
            let entry = entry(rest)?;
            if entry.0.contains('\u{FFFD}') {
                let dir = entry.0.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
                listing.odd.push(Odd { inode: entry.1.inode, kind: entry.1.kind, dir, shown: entry.0 });
            } else {
                listing.entries.insert(entry.0, entry.1);
            }
        } else if let Some(rest) = line.strip_prefix("odd ") {
            let parts: Vec<&str> = rest.splitn(3, ' ').collect();
            let [inode, t, dir] = parts.as_slice() else { return Err(malformed(line)) };
            let inode = inode.parse().map_err(|_| malformed(line))?;
            let dir = dir.strip_prefix('.').and_then(|d| if d.is_empty() { Some("") } else { d.strip_prefix('/') });
            let dir = dir.ok_or_else(|| malformed(line))?;
            let shown = if dir.is_empty() {
                "(a name with a line break)".to_string()
            } else {
                format!("{dir}/(a name with a line break)")
            };
            listing.odd.push(Odd { inode, kind: Type::parse(t)?, dir: dir.to_string(), shown });
        } else if let Some(rest) = line.strip_prefix("h ") {
            let (sha, name) = rest.split_once(' ').ok_or_else(|| malformed(line))?;
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed(line));
            }
            listing.differs.insert(name.to_string(), sha.to_string());
        } else if let Some(n) = line.strip_prefix("hashed=") {
            hashed = Some(n.parse::<usize>().map_err(|_| malformed(line))?);
        } else if let Some(name) = line.strip_prefix("b ") {
            finish(&mut body, &mut listing)?;
            body = Some((name.to_string(), String::new()));
        } else if let Some((_, b64)) = body.as_mut() {
            b64.push_str(line.trim());
        } else if line == "find=failed" {
            return Err(ProbeError("find could not list the destination (see its errors)".into()));
        } else if line == "hash=failed" {
            return Err(ProbeError("sha256sum could not read every file of the destination (see its errors)".into()));
        } else {
            head.push_str(line);
            head.push('\n');
        }
    }
    finish(&mut body, &mut listing)?;
    let rec = Record::parse(&head)?;
    match rec.req("type")? {
        "absent" => Ok(State::Absent),
        "other" => Ok(State::Other),
        "directory" => {
            listing.root = Some(Ownership::parse(&rec)?);
            listing.hashed = hashed.ok_or_else(|| ProbeError("probe output lacks `hashed`".into()))?;
            Ok(State::Dir(listing))
        }
        other => Err(ProbeError(format!("unexpected type {other:?}"))),
    }
}

fn malformed(line: &str) -> ProbeError {
    ProbeError(format!("malformed probe line {line:?}"))
}

/// `TYPE MODE OWNER:UID:GROUP:GID SIZE INODE PATH`.
fn entry(rest: &str) -> Result<(String, HostEntry), ProbeError> {
    let parts: Vec<&str> = rest.splitn(6, ' ').collect();
    let [t, mode, own, size, inode, path] = parts.as_slice() else { return Err(malformed(rest)) };
    let bad = || malformed(rest);
    let own: Vec<&str> = own.split(':').collect();
    let [owner, uid, group, gid] = own.as_slice() else { return Err(bad()) };
    if path.is_empty() || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad());
    }
    let meta = ownership::Observed {
        owner: owner.to_string(),
        uid: uid.parse().map_err(|_| bad())?,
        group: group.to_string(),
        gid: gid.parse().map_err(|_| bad())?,
        mode: u32::from_str_radix(mode, 8).map_err(|_| bad())?,
    };
    let entry = HostEntry {
        kind: Type::parse(t)?,
        meta,
        size: size.parse().map_err(|_| bad())?,
        inode: inode.parse().map_err(|_| bad())?,
    };
    Ok((path.to_string(), entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listing_hashes_and_bodies() {
        let out = "type=directory\nstat=root:0:root:0:755\n\
                   e d 755 root:0:root:0 4096 11 js\n\
                   e f 644 www:33:www:33 4 12 js/app.js\n\
                   e f 600 root:0:root:0 9 13 a name with spaces\n\
                   e l 777 root:0:root:0 4 14 link\n\
                   odd 99 f ./js\n\
                   e f 644 root:0:root:0 1 15 bad\u{FFFD}name\n\
                   h 0000000000000000000000000000000000000000000000000000000000000000 js/app.js\n\
                   hashed=2\nb js/app.js\neCgpCg==\n";
        let State::Dir(l) = parse(out).expect("parse") else { panic!("a directory") };
        assert_eq!(l.root.as_ref().map(|r| r.mode), Some(0o755));
        assert_eq!(l.entries.len(), 4);
        assert_eq!(l.entries["js/app.js"].meta.owner, "www");
        assert_eq!(l.entries["a name with spaces"].meta.mode, 0o600);
        assert_eq!(l.entries["link"].kind, Type::Link);
        assert_eq!(l.odd.len(), 2, "a line break or a name that is not UTF-8");
        assert_eq!((l.odd[0].inode, l.odd[0].dir.as_str()), (99, "js"));
        assert_eq!(l.differs["js/app.js"], "0".repeat(64));
        assert_eq!(l.bodies["js/app.js"], b"x()\n");
        assert_eq!(l.hashed, 2);
    }

    #[test]
    fn absent_other_and_lies() {
        assert_eq!(parse("type=absent\n").expect("absent"), State::Absent);
        assert_eq!(parse("type=other\n").expect("other"), State::Other);
        for bad in [
            "type=directory\nstat=root:0:root:0:755\n",
            "type=directory\nstat=root:0:root:0:755\nhashed=0\ne f 644 root:0 1 2 x\n",
            "type=directory\nstat=root:0:root:0:755\nhashed=0\ne f 644 root:0:root:0 1 2 ../x\n",
            "type=directory\nstat=root:0:root:0:755\nhashed=0\ne q 644 root:0:root:0 1 2 x\n",
            "type=directory\nstat=root:0:root:0:755\nhashed=0\nh abc x\n",
            "type=directory\nstat=root:0:root:0:755\nhashed=0\nb x\n!!!\n",
            "type=directory\nstat=root:0:root:0:755\nhash=failed\n",
            "type=directory\nfind=failed\n",
            "garbage\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
