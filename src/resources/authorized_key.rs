//! `authorized-key`: SSH public keys in a user's `~/.ssh/authorized_keys`.
//!
//! ```kdl
//! user "jacow" home="/home/jacow"
//! authorized-key "jacow" {
//!     key "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m alice@laptop"
//!     key "from=\"10.0.0.0/8\",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ1m deploy"
//! }
//! authorized-key "root" exclusive=#true key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m alice@laptop"
//! authorized-key "ops" state="absent" key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m"
//! ```
//!
//! Named by the user whose file it manages. The file is `.ssh/authorized_keys` in the
//! user's home as `getent passwd` gives it on the host (at apply time, so a user created
//! in the same run works); the directory is made mode 0700 and the file 0600, both owned
//! by the user and the user's login group, which is what sshd's `StrictModes` wants. The
//! file is written atomically, after checking it is still what the plan saw; a symlink
//! in place of either is refused rather than followed (the home belongs to the user).
//!
//! Each `key` is checked at check time: an optional options prefix
//! (`from="...",no-pty`), a key type sshd knows, a base64 body whose encoded type agrees,
//! and an optional comment. Keys are compared by type and body: a key already there
//! under another comment is in place, while different options are a change. Other
//! lines are kept, unless `exclusive=#true`, which removes every other key (comment
//! lines stay); an exclusive resource with no `key` empties the file. With
//! `state="absent"` the listed keys are removed. The plan names keys by type, SHA256
//! fingerprint (as `ssh-keygen -l` prints it) and comment, never by their whole body.
//!
//! The new file is an edit of the probed one: while something it depends on changes in
//! the same run, an edit of an existing file waits (`Diff::deferred`, shown as `?`) and is
//! planned again from the host after that change.
//!
//! It depends on the managed `user` of that name.

use std::ops::Range;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::content::{Desired, short};
use super::group::read_account_name;
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, did_you_mean};
use crate::script::Sh;
use crate::syntax::kdl::inside;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct AuthorizedKey {
    user: String,
    keys: Vec<Key>,
    present: bool,
    exclusive: bool,
}

/// One public key line: `[options] TYPE BODY [comment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub options: Option<String>,
    pub kind: String,
    pub body: String,
    pub comment: String,
}

/// What the host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    NoUser,
    User { uid: u32, home: String, dir: Node, file: Node, text: String },
}

/// `~/.ssh` or `authorized_keys` as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Absent,
    Present {
        uid: u32,
        mode: u32,
    },
    /// A symlink or something of the wrong type: refused.
    Other(String),
}

const TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// Why a key line is not a key: a message for the part at `range` (a byte range of the
/// line as given), and maybe a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub range: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

impl Key {
    /// Parses and checks one line.
    pub fn parse(input: &str) -> Result<Key, KeyError> {
        let err = |part: &str, message: String, help: Option<String>| {
            let start = part.as_ptr() as usize - input.as_ptr() as usize;
            KeyError { range: start..start + part.len(), message, help }
        };
        let line = input.trim();
        if line.contains(['\n', '\r']) {
            return Err(err(line, "one key per value".into(), Some("give each key its own `key \"...\"`".into())));
        }
        let (first, rest) = split_token(line).map_err(|m| err(line, m, None))?;
        let (options, kind, rest) = if TYPES.contains(&first) || looks_like_type(first) {
            (None, first, rest)
        } else {
            let (kind, rest) = split_token(rest).map_err(|m| err(line, m, None))?;
            if kind.is_empty() {
                let help = Some("expected `[options] TYPE BASE64 [comment]`".into());
                return Err(err(line, "not an SSH public key".into(), help));
            }
            (Some(first.to_string()), kind, rest)
        };
        if !TYPES.contains(&kind) {
            let help = match did_you_mean(kind, TYPES.iter().copied()) {
                Some(t) => format!("did you mean `{t}`?"),
                None => "expected `[options] TYPE BASE64 [comment]`, TYPE such as ssh-ed25519 or ssh-rsa".into(),
            };
            let shown = short(kind, 40);
            let cut = if shown.len() < kind.len() { "…" } else { "" };
            return Err(err(kind, format!("`{shown}{cut}` is not an SSH key type"), Some(help)));
        }
        let (body, comment) = split_token(rest).map_err(|m| err(rest, m, None))?;
        if body.is_empty() {
            let help = Some(format!("expected `{kind} BASE64 [comment]`"));
            return Err(err(kind, "the key has no body".into(), help));
        }
        let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(body) else {
            return Err(err(body, "the key body is not valid base64".into(), None));
        };
        match blob_type(&blob) {
            Some(t) if t == kind.as_bytes() => {}
            Some(t) if std::str::from_utf8(t).is_ok_and(|t| TYPES.contains(&t)) => {
                let t = String::from_utf8_lossy(t);
                return Err(err(body, format!("the key body is a `{t}` key, not `{kind}`"), None));
            }
            _ => return Err(err(body, "the key body is not an SSH public key (truncated or mangled?)".into(), None)),
        }
        Ok(Key { options, kind: kind.to_string(), body: body.to_string(), comment: comment.trim().to_string() })
    }

    pub fn line(&self) -> String {
        let mut s = String::new();
        if let Some(o) = &self.options {
            s.push_str(o);
            s.push(' ');
        }
        s.push_str(&self.kind);
        s.push(' ');
        s.push_str(&self.body);
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s
    }

    /// The SHA256 fingerprint, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let blob = base64::engine::general_purpose::STANDARD.decode(&self.body).unwrap_or_default();
        format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob)))
    }

    /// How the plan names a key: type, fingerprint and comment.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.kind, self.fingerprint());
        if !self.comment.is_empty() {
            s.push(' ');
            s.push_str(&self.comment);
        }
        s
    }

    fn same_key(&self, other: &Key) -> bool {
        self.kind == other.kind && self.body == other.body
    }
}

/// The first token (an options string may hold quoted spaces) and the rest.
fn split_token(s: &str) -> Result<(&str, &str), String> {
    let s = s.trim_start();
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&s[..i], &s[i..])),
            _ => {}
        }
    }
    if quoted {
        return Err("a quote in the options is never closed".into());
    }
    Ok((s, ""))
}

fn looks_like_type(t: &str) -> bool {
    t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-")
}

/// The key type string at the start of a wire-format public key.
fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4 + len)
}

/// A line of an authorized_keys file.
enum Line {
    /// A comment or a blank line.
    Comment,
    Key(Key),
    /// Not a key converge can read.
    Other,
}

fn classify(l: &str) -> Line {
    let t = l.trim();
    if t.is_empty() || t.starts_with('#') {
        return Line::Comment;
    }
    match Key::parse(t) {
        Ok(k) => Line::Key(k),
        Err(_) => Line::Other,
    }
}

impl Kind for AuthorizedKey {
    const KIND: &'static str = "authorized-key";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<AuthorizedKey> {
        let user = read_account_name(r, "user name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let exclusive = r.bool("exclusive").unwrap_or(false);
        let given = r.list("key");
        let mut keys: Vec<(Key, crate::diag::At)> = Vec::new();
        for k in given {
            match Key::parse(&k.value) {
                Ok(key) => {
                    if let Some((_, first)) = keys.iter().find(|(seen, _)| seen.same_key(&key)) {
                        let first = first.clone();
                        r.error(
                            Diag::new(Code::Key, "this key is given twice", &k.at, "given again here")
                                .label(&first, "first given here"),
                        );
                        continue;
                    }
                    keys.push((key, k.at));
                }
                Err(e) => {
                    let at = inside(&k.at, &k.value, e.range);
                    let mut d = Diag::new(Code::Key, "not a valid SSH public key", &at, e.message);
                    if let Some(h) = e.help {
                        d = d.help(h);
                    }
                    r.error(d);
                }
            }
        }
        if exclusive && !present {
            let at = r.at();
            r.error(Diag::new(
                Code::Conflict,
                "`exclusive` and state=\"absent\" cannot be given together",
                &at,
                "exclusive keeps only the listed keys; absent removes them",
            ));
        }
        if keys.is_empty() && !exclusive && !r.failed() {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "an authorized-key needs a `key`", &at, "no key")
                    .help("write `key \"ssh-ed25519 AAAA... comment\"` (several may be given), or exclusive=#true to remove every key"),
            );
        }
        Some(AuthorizedKey { user: user?, keys: keys.into_iter().map(|(k, _)| k).collect(), present, exclusive })
    }

    fn name(&self) -> &str {
        &self.user
    }

    fn deps(&self) -> Vec<Implicit> {
        vec![Implicit::new("user", self.user.clone(), "owns the keys")]
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("u", &self.user);
        sh.raw("if e=$(getent passwd -- \"$u\"); then printf '%s\\n' \"passwd=$e\"\n");
        sh.raw("h=$(printf '%s\\n' \"$e\" | cut -d: -f6); d=\"$h/.ssh\"; f=\"$d/authorized_keys\"\n");
        sh.raw("if [ -L \"$d\" ]; then echo dir=symlink; elif [ -d \"$d\" ]; then stat -c 'dir=%u:%a' -- \"$d\"; elif [ -e \"$d\" ]; then echo dir=other; else echo dir=absent; fi\n");
        sh.raw("if [ -L \"$f\" ]; then echo file=symlink; elif [ -f \"$f\" ]; then stat -c 'file=%u:%a' -- \"$f\"; echo --body--; base64 < \"$f\"\n");
        sh.raw("elif [ -e \"$f\" ]; then echo file=other; else echo file=absent; fi\nelse echo passwd=; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let passwd = rec.req("passwd")?;
        if passwd.is_empty() {
            return Ok(State::NoUser);
        }
        let f: Vec<&str> = passwd.split(':').collect();
        let [_, _, uid, _, _, home, _] = f.as_slice() else {
            return Err(ProbeError(format!("malformed passwd entry {passwd:?}")));
        };
        let uid = uid.parse().map_err(|_| ProbeError(format!("malformed uid in {passwd:?}")))?;
        let dir = node(rec.req("dir")?)?;
        let file = node(rec.req("file")?)?;
        let text = match (&file, rec.body()?) {
            (Node::Present { .. }, Some(b)) => {
                String::from_utf8(b).map_err(|_| ProbeError("authorized_keys is not UTF-8 text".into()))?
            }
            (Node::Present { .. }, None) => return Err(ProbeError("the content of authorized_keys is missing".into())),
            _ => String::new(),
        };
        Ok(State::User { uid, home: home.to_string(), dir, file, text })
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        let (uid, dir, file, text) = match state {
            State::NoUser if !self.present => return Diff::ok(),
            State::NoUser => {
                let mut changes = self.edit("").1;
                if changes.is_empty() {
                    return Diff::ok();
                }
                changes.push(Change::note("the user does not exist yet"));
                return Diff::new(Action::Create, changes);
            }
            State::User { uid, dir, file, text, .. } => (*uid, dir, file, text),
        };
        let mut changes = Vec::new();
        for (what, n) in [(".ssh", dir), ("authorized_keys", file)] {
            if let Node::Other(t) = n {
                changes.push(Change::set(
                    format!("{what} type"),
                    t.clone(),
                    if what == ".ssh" { "directory" } else { "file" },
                ));
            }
        }
        if !changes.is_empty() {
            return Diff::new(Action::Change, changes);
        }
        let (new_text, key_changes) = self.edit(text);
        let writes = new_text != *text;
        if writes && matches!(file, Node::Present { .. }) && !cx.upstream.is_empty() {
            // the new file is this edit of the probed one: wait until what changes first
            // has changed, and edit what is there then
            return Diff::deferred(key_changes, &cx.upstream);
        }
        changes.extend(key_changes);
        if self.present && (writes || *file != Node::Absent) {
            for (what, n, mode) in [(".ssh", dir, 0o700), ("authorized_keys", file, 0o600)] {
                match n {
                    Node::Absent => {
                        changes.push(Change::new(format!("{what} mode"), None, Some(format!("{mode:04o}"))))
                    }
                    Node::Present { uid: have, mode: m } => {
                        if *have != uid {
                            changes.push(Change::set(
                                format!("{what} owner"),
                                format!("uid {have}"),
                                self.user.clone(),
                            ));
                        }
                        if *m != mode {
                            changes.push(Change::set(
                                format!("{what} mode"),
                                format!("{m:04o}"),
                                format!("{mode:04o}"),
                            ));
                        }
                    }
                    Node::Other(_) => {}
                }
            }
        }
        let action = if !self.present {
            Action::Remove
        } else if *file == Node::Absent {
            Action::Create
        } else {
            Action::Change
        };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("u", &self.user);
        sh.raw("e=$(getent passwd -- \"$u\") || { printf '%s\\n' \"user $u does not exist\" >&2; exit 1; }\n");
        sh.raw("h=$(printf '%s\\n' \"$e\" | cut -d: -f6); d=\"$h/.ssh\"; p=\"$d/authorized_keys\"\n");
        sh.raw(
            "if [ -L \"$d\" ] || [ -L \"$p\" ]; then printf '%s\\n' \"refusing to follow a symlink: $d or $p\" >&2; exit 1; fi\n",
        );
        sh.raw("if [ -e \"$d\" ] && [ ! -d \"$d\" ]; then printf '%s\\n' \"refusing: $d is not a directory\" >&2; exit 1; fi\n");
        sh.raw(
            "if [ -e \"$p\" ] && [ ! -f \"$p\" ]; then printf '%s\\n' \"refusing: $p is not a regular file\" >&2; exit 1; fi\n",
        );
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        if self.present {
            sh.raw(
                "[ -d \"$h\" ] || { printf '%s\\n' \"the home directory of $u does not exist: $h\" >&2; exit 1; }\n",
            );
            sh.raw("[ -d \"$d\" ] || { mkdir -m 0700 -- \"$d\"; chown -- \"$u:\" \"$d\"; }\n");
            if has(".ssh owner") || has(".ssh mode") {
                sh.raw("chown -- \"$u:\" \"$d\"\nchmod 0700 \"$d\"\n");
            }
        }
        let (old, current) = match state {
            State::User { text, file: Node::Present { .. }, .. } => (text.as_str(), Some(text.as_str())),
            _ => ("", None),
        };
        let (new_text, _) = self.edit(old);
        let expected = current.map(|t| Desired::new(t.as_bytes().to_vec(), false).sha256);
        if new_text.as_str() != old || current.is_none() {
            let present = self.present;
            Desired::new(new_text.into_bytes(), false).write(expected.as_deref(), sh, |sh| {
                if present {
                    sh.raw("chown -- \"$u:\" \"$tmp\"\nchmod 0600 \"$tmp\"\n");
                }
            });
        } else if has("authorized_keys owner") || has("authorized_keys mode") {
            sh.raw("chown -- \"$u:\" \"$p\"\nchmod 0600 \"$p\"\n");
        }
    }
}

impl AuthorizedKey {
    /// The file with the wanted keys in place, and the key changes that makes.
    fn edit(&self, text: &str) -> (String, Vec<Change>) {
        let mut out = String::new();
        let mut changes = Vec::new();
        let mut placed: Vec<&Key> = Vec::new();
        for (n, l) in text.lines().enumerate() {
            let replacement = match classify(l) {
                Line::Comment => None,
                Line::Other if self.exclusive => {
                    changes.push(Change::new(
                        "line",
                        Some(format!("line {}: not a key converge can read", n + 1)),
                        None,
                    ));
                    continue;
                }
                Line::Other => None,
                Line::Key(have) => match self.keys.iter().find(|w| w.same_key(&have)) {
                    None if self.exclusive => {
                        changes.push(Change::new("key", Some(have.describe()), None));
                        continue;
                    }
                    None => None,
                    Some(_) if !self.present => {
                        changes.push(Change::new("key", Some(have.describe()), None));
                        continue;
                    }
                    Some(w) if placed.iter().any(|p| p.same_key(w)) => {
                        if self.exclusive {
                            let again = format!("{} (again, line {})", have.describe(), n + 1);
                            changes.push(Change::new("key", Some(again), None));
                            continue;
                        }
                        None
                    }
                    Some(w) => {
                        placed.push(w);
                        (w.options != have.options).then(|| {
                            let none = || "(none)".to_string();
                            changes.push(Change::set(
                                format!("options of {}", have.fingerprint()),
                                have.options.clone().unwrap_or_else(none),
                                w.options.clone().unwrap_or_else(none),
                            ));
                            Key { comment: have.comment.clone(), ..w.clone() }.line()
                        })
                    }
                },
            };
            out.push_str(replacement.as_deref().unwrap_or(l));
            out.push('\n');
        }
        if self.present {
            for w in self.keys.iter().filter(|w| !placed.iter().any(|p| p.same_key(w))) {
                changes.push(Change::new("key", None, Some(w.describe())));
                out.push_str(&w.line());
                out.push('\n');
            }
        }
        // a file that only loses lines keeps its last newline; an untouched one stays as is
        if changes.is_empty() {
            return (text.to_string(), changes);
        }
        (out, changes)
    }
}

fn node(v: &str) -> Result<Node, ProbeError> {
    Ok(match v {
        "absent" => Node::Absent,
        "symlink" | "other" => {
            Node::Other(if v == "symlink" { "symlink".into() } else { "not a directory or file".into() })
        }
        _ => {
            let bad = || ProbeError(format!("malformed stat output {v:?}"));
            let (uid, mode) = v.split_once(':').ok_or_else(bad)?;
            Node::Present {
                uid: uid.parse().map_err(|_| bad())?,
                mode: u32::from_str_radix(mode, 8).map_err(|_| bad())?,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m alice@laptop";
    const BOB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCcrWw85D9wWvRpmzTDq1ANS3hicxYQnDd/pXBUScmsgpT5LP7OjmxUlx88WoiI/m9prjxY8J9XJuBoHKR4YcHOd3zm+wbzPSj7P7Pt7nU0FvcSs87TOeEIgV+IhsL58Jf578FfE9OR/Pzieu8rRWxp+Orm624E5x8C6WXQlSTYcQ== bob";
    const CAROL: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJWjwuQz8nFjC8axpvPHdgMoO9COxLrhxpXbYk5vGrNgy5x2BOE89x+Pc7L6X8ntuMpqUg0adheGS46gPGIeGQI= carol";

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn keys(user: &str, keys: &[&str], exclusive: bool) -> AuthorizedKey {
        AuthorizedKey { user: user.into(), keys: keys.iter().map(|k| key(k)).collect(), present: true, exclusive }
    }

    fn probe_out(text: Option<&str>, dir: &str, file_mode: &str) -> String {
        let mut s = format!("passwd=jacow:x:1001:1001::/home/jacow:/bin/bash\ndir={dir}\n");
        match text {
            Some(t) => {
                s.push_str(&format!("file=1001:{file_mode}\n--body--\n"));
                s.push_str(&base64::engine::general_purpose::STANDARD.encode(t));
                s.push('\n');
            }
            None => s.push_str("file=absent\n"),
        }
        s
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(key(ALICE).fingerprint(), "SHA256:pLKFCMkAM5Vop33euDFUnGl+F84ay09uytiBtWd/G9U");
        let with_options = key(&format!("from=\"10.0.0.1\",command=\"echo a b\" {ALICE}"));
        assert_eq!(with_options.options.as_deref(), Some("from=\"10.0.0.1\",command=\"echo a b\""));
        assert_eq!(with_options.comment, "alice@laptop");
        assert_eq!(key(CAROL).kind, "ecdsa-sha2-nistp256");
        let err = |s: &str| Key::parse(s).expect_err(s).message;
        assert_eq!(err("ssh-ed2551 AAAA"), "`ssh-ed2551` is not an SSH key type");
        let long = format!("ssh-{} AAAA", "x".repeat(50));
        assert_eq!(err(&long), format!("`ssh-{}…` is not an SSH key type", "x".repeat(36)), "cut at 40");
        let typo = Key::parse("  ssh-ed2551 AAAA").expect_err("typo");
        assert_eq!((typo.range, typo.help.as_deref()), (2..12, Some("did you mean `ssh-ed25519`?")));
        assert_eq!(err("ssh-ed25519"), "the key has no body");
        assert_eq!(err("ssh-ed25519 not*base64"), "the key body is not valid base64");
        let rsa_body = BOB.split(' ').nth(1).expect("body");
        assert_eq!(err(&format!("ssh-ed25519 {rsa_body}")), "the key body is a `ssh-rsa` key, not `ssh-ed25519`");
        assert_eq!(err("ssh-ed25519 AAAA"), "the key body is not an SSH public key (truncated or mangled?)");
        assert_eq!(err("command=\"x ssh-ed25519 AAAA"), "a quote in the options is never closed");
        assert_eq!(err(&format!("{ALICE}\n{BOB}")), "one key per value");
    }

    #[test]
    fn a_new_file_gets_every_key_and_the_modes() {
        let a = keys("jacow", &[ALICE, BOB], false);
        let state = a.parse(&probe_out(None, "absent", "")).expect("parse");
        let diff = a.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let shown: Vec<String> =
            diff.changes.iter().map(|c| format!("{}: {:?} -> {:?}", c.field(), c.before(), c.after())).collect();
        assert_eq!(
            shown,
            [
                "key: None -> Some(\"ssh-ed25519 SHA256:pLKFCMkAM5Vop33euDFUnGl+F84ay09uytiBtWd/G9U alice@laptop\")"
                    .to_string(),
                format!("key: None -> Some(\"{}\")", key(BOB).describe()),
                ".ssh mode: None -> Some(\"0700\")".into(),
                "authorized_keys mode: None -> Some(\"0600\")".into(),
            ]
        );
        let mut sh = Sh::new();
        a.steps(&state, &diff, &mut sh);
        let t = sh.text();
        assert!(t.contains("[ -d \"$d\" ] || { mkdir -m 0700 -- \"$d\"; chown -- \"$u:\" \"$d\"; }\n"), "{t}");
        assert!(t.contains("[ \"$cur\" != absent ]"), "guarded against a file that appeared: {t}");
        assert!(t.contains("chown -- \"$u:\" \"$tmp\"\nchmod 0600 \"$tmp\"\n"), "{t}");
        assert!(!t.contains("AAAAC3"), "the key travels as base64 content, not shell text: {t}");
    }

    #[test]
    fn keys_match_by_type_and_body_whatever_the_comment() {
        let a = keys("jacow", &[ALICE], false);
        let text = "# team keys\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/CgNDdshRN5rR3B4IAiOA5mmEqsO2RzXOwJ0NMIQ0m alice@desktop\n";
        let state = a.parse(&probe_out(Some(text), "1001:700", "600")).expect("parse");
        assert!(a.diff(&state, &PlanCx::default()).is_ok(), "{:?}", a.diff(&state, &PlanCx::default()));
        // wrong modes only: chmod, no rewrite
        let state = a.parse(&probe_out(Some(text), "1001:755", "644")).expect("parse");
        let diff = a.diff(&state, &PlanCx::default());
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, [".ssh mode", "authorized_keys mode"]);
        let mut sh = Sh::new();
        a.steps(&state, &diff, &mut sh);
        assert!(
            sh.text()
                .ends_with("chown -- \"$u:\" \"$d\"\nchmod 0700 \"$d\"\nchown -- \"$u:\" \"$p\"\nchmod 0600 \"$p\"\n"),
            "{}",
            sh.text()
        );
        // other options are a change, the line keeps its comment
        let a = keys("jacow", &[&format!("no-pty {ALICE}")], false);
        let (new, changes) = a.edit(text);
        assert_eq!(new, format!("# team keys\nno-pty {}desktop\n", ALICE.trim_end_matches("laptop")));
        assert_eq!(changes[0].before(), Some("(none)"));
    }

    #[test]
    fn exclusive_removes_every_other_key_but_keeps_comments() {
        let text = format!("# keys\n{BOB}\n{ALICE}\ngarbage line\n{ALICE}\n");
        let a = keys("jacow", &[ALICE, CAROL], true);
        let (new, changes) = a.edit(&text);
        assert_eq!(new, format!("# keys\n{ALICE}\n{CAROL}\n"));
        let shown: Vec<(Option<&str>, Option<&str>)> = changes.iter().map(|c| (c.before(), c.after())).collect();
        assert_eq!(shown[0], (Some(key(BOB).describe().as_str()), None));
        assert_eq!(shown[1], (Some("line 4: not a key converge can read"), None));
        assert_eq!(shown[2].0, Some(format!("{} (again, line 5)", key(ALICE).describe()).as_str()));
        assert_eq!(shown[3], (None, Some(key(CAROL).describe().as_str())));
        // not exclusive: other lines stay
        let (new, _) = keys("jacow", &[ALICE], false).edit(&text);
        assert_eq!(new, text);
    }

    #[test]
    fn an_edit_waits_for_what_changes_upstream() {
        let a = keys("jacow", &[ALICE, BOB], false);
        let state = a.parse(&probe_out(Some(&format!("{ALICE}\n")), "1001:700", "600")).expect("parse");
        let cx = PlanCx { upstream: vec![crate::resources::ResourceId::new("user", "jacow")], ..PlanCx::default() };
        let diff = a.diff(&state, &cx);
        assert_eq!(diff.action, Action::Recheck);
        assert_eq!(diff.changes[0].after(), Some(key(BOB).describe().as_str()));
        // a new file is not an edit: written in the first round
        let new = a.parse(&probe_out(None, "absent", "")).expect("parse");
        assert_eq!(a.diff(&new, &cx).action, Action::Create);
    }

    #[test]
    fn absent_removes_only_the_listed_keys() {
        let mut a = keys("jacow", &[BOB], false);
        a.present = false;
        let text = format!("{ALICE}\n{BOB}\n");
        let state = a.parse(&probe_out(Some(&text), "1001:700", "600")).expect("parse");
        let diff = a.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(a.edit(&text).0, format!("{ALICE}\n"));
        assert!(a.diff(&State::NoUser, &PlanCx::default()).is_ok());
    }

    #[test]
    fn symlinks_are_refused_and_garbage_is_a_probe_error() {
        let a = keys("jacow", &[ALICE], false);
        let state = a.parse(&probe_out(None, "symlink", "")).expect("parse");
        let diff = a.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set(".ssh type", "symlink", "directory")]);
        let mut sh = Sh::new();
        a.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("refusing to follow a symlink"));
        assert!(a.parse("passwd=jacow:x\ndir=absent\nfile=absent\n").is_err());
        assert!(a.parse("passwd=jacow:x:1001:1001::/home/jacow:/bin/sh\ndir=7:xx\nfile=absent\n").is_err());
        assert!(a.parse("passwd=jacow:x:1001:1001::/home/jacow:/bin/sh\ndir=absent\nfile=1001:600\n").is_err());
        assert_eq!(a.parse("passwd=\n"), Ok(State::NoUser));
    }
}
