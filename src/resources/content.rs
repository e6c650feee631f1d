//! File content: what is wanted (inline, a Jinja template rendered on the controller, or a
//! file shipped byte for byte), how it is probed, diffed and written.
//!
//! The probe compares the host's sha256 with the wanted one and sends the current content
//! back (base64) only when they differ and the file is small, so the plan can show a
//! unified diff; sensitive content is never sent back. The write is atomic: a `mktemp` file
//! in the target's directory (mode 0600 from the start), filled from a base64
//! here-document, given its owner and mode, synced, then renamed over the target. Before
//! writing, the step checks that the target is still what the plan saw; if not, it refuses
//! with "changed since plan".

use sha2::{Digest, Sha256};

use super::record::Record;
use super::{Change, Content, ProbeError};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

/// Above this size the probe does not send the current content back for a diff.
pub const DIFF_LIMIT: u64 = 256 * 1024;

#[derive(Clone, PartialEq, Eq)]
pub struct Desired {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub sensitive: bool,
}

impl std::fmt::Debug for Desired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print content: it may be secret
        f.debug_struct("Desired").field("sha256", &self.sha256).field("len", &self.bytes.len()).finish()
    }
}

impl Desired {
    pub fn new(bytes: Vec<u8>, sensitive: bool) -> Desired {
        let sha256 = hex(&Sha256::digest(&bytes));
        Desired { bytes, sha256, sensitive }
    }

    /// Reads `content=`, `template=` or `source=` (exactly one), and `sensitive=`.
    /// Returns `None` when none is given (the caller decides whether that is allowed).
    pub fn read(r: &mut NodeReader) -> Option<Desired> {
        let content = r.string("content");
        let template = r.nonempty("template");
        let source = r.nonempty("source");
        let sensitive = r.bool("sensitive").unwrap_or(false);
        if !r.at_most_one(&[("content", &content), ("template", &template), ("source", &source)]) {
            return None;
        }
        let bytes = if let Some(c) = content {
            c.value.into_bytes()
        } else if let Some(t) = template {
            r.render_template(&t)?.into_bytes()
        } else if let Some(s) = source {
            r.read_source(&s)?
        } else {
            return None;
        };
        let sensitive = sensitive || r.holds_secret(&bytes);
        Some(Desired::new(bytes, sensitive))
    }

    /// Prints `sha256=` for the regular file in `$p` (from the probe's batched line in
    /// `$cv_sum` when it has one, see [`crate::facts::SHA256`]), then its content
    /// after `--body--` when it differs from what is wanted and may be shown.
    pub fn probe(&self, sh: &mut Sh) {
        sh.raw("if [ -n \"${cv_sum-}\" ]; then s=${cv_sum%% *}; else s=$(sha256sum < \"$p\") && s=${s%% *}; fi && printf '%s\\n' \"sha256=$s\"\n");
        if self.sensitive {
            return;
        }
        sh.set("want", &self.sha256);
        sh.raw("if [ \"$s\" != \"$want\" ] && [ \"$(stat -c %s -- \"$p\")\" -le ")
            .num(DIFF_LIMIT)
            .raw(" ]; then echo --body--; base64 < \"$p\"; fi\n");
    }

    /// What is on the host now: its sha256 and, when sent, its content.
    pub fn parse(rec: &Record) -> Result<Observed, ProbeError> {
        let sha256 = rec.req("sha256")?.to_string();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ProbeError(format!("cannot read the file's content (sha256 {sha256:?})")));
        }
        Ok(Observed { sha256, body: rec.body()? })
    }

    /// The content change, if any. `observed` is `None` for a file that does not exist.
    pub fn diff(&self, observed: Option<&Observed>) -> Option<Change> {
        let before = match observed {
            Some(o) if o.sha256 == self.sha256 => return None,
            Some(o) => Some(o),
            None => None,
        };
        let content = if self.sensitive {
            Content::Sensitive
        } else {
            match (std::str::from_utf8(&self.bytes), before.map(|o| o.body.as_deref())) {
                (Ok(after), None) => Content::Text { before: String::new(), after: after.to_string() },
                (Ok(after), Some(Some(b))) => match std::str::from_utf8(b) {
                    Ok(b) => Content::Text { before: b.to_string(), after: after.to_string() },
                    Err(_) => Content::Opaque { reason: "binary content on the host".into() },
                },
                (Ok(_), Some(None)) => {
                    Content::Opaque { reason: format!("the file on the host is over {} KiB", DIFF_LIMIT / 1024) }
                }
                (Err(_), _) => Content::Opaque { reason: "binary content".into() },
            }
        };
        if self.sensitive {
            // not even a hash of a secret is shown
            return Some(Change::content("content", None, None, content));
        }
        Some(Change::content("content", before.map(|o| short_sha(&o.sha256)), Some(short_sha(&self.sha256)), content))
    }

    /// Writes the wanted content to `$p` atomically. `expected` is the sha256 the plan saw
    /// (`None`: the file did not exist). `ownership` writes chown/chmod for `"$tmp"`; when
    /// the file exists and no owner or mode is wanted, they are copied from it.
    pub fn write(&self, expected: Option<&str>, sh: &mut Sh, ownership: impl FnOnce(&mut Sh)) {
        guard(expected, sh);
        sh.raw("tmp=$(mktemp \"$(dirname -- \"$p\")/.converge.XXXXXXXX\")\n");
        sh.raw("trap 'rm -f -- \"$tmp\"' EXIT\n");
        sh.heredoc_base64("\"$tmp\"", &self.bytes);
        sh.raw("if [ -f \"$p\" ]; then chown --reference=\"$p\" -- \"$tmp\"; chmod --reference=\"$p\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
        ownership(sh);
        sh.raw("sync -- \"$tmp\" 2>/dev/null || sync\n");
        sh.raw("mv -f -- \"$tmp\" \"$p\"\ntrap - EXIT\n");
    }
}

/// Refuses to touch `$p` if it is no longer what the plan saw (`cv_changed_since_plan`:
/// after an earlier step of the run, the file is planned again instead, see `apply.rs`).
/// Not for a resource downstream of another change in the same run (`$CV_DOWNSTREAM`): a
/// package installed just before may rightly have created or replaced the file.
pub fn guard(expected: Option<&str>, sh: &mut Sh) {
    sh.raw("cur=absent; if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then cur=$(sha256sum < \"$p\") && cur=${cur%% *}; fi\n");
    sh.raw("if [ -z \"${CV_DOWNSTREAM:-}\" ] && [ \"$cur\" != ")
        .q(expected.unwrap_or("absent"))
        .raw(" ]; then cv_changed_since_plan \"$p\"; fi\n");
}

/// Keeps a copy of `$p` under the state directory before it is replaced
/// (`$CV_STATE/backup/<path>.<timestamp>`): not next to the file, where a daemon that
/// includes a whole directory (nginx's `sites-enabled/*`) would load it.
pub fn backup(sh: &mut Sh) {
    sh.raw("if [ -f \"$p\" ]; then b=\"$CV_STATE/backup$p.$(date +%Y%m%dT%H%M%S)\"; mkdir -p -- \"$(dirname -- \"$b\")\" && cp -p -- \"$p\" \"$b\"; fi\n");
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub sha256: String,
    pub body: Option<Vec<u8>>,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// At most the first `chars` characters of `text`: a hash or an id as plans show it (a
/// commit's first 7 digits, an image's or a container's first 12), or a pasted value
/// quoted in a diagnostic. The one place a kind shortens what it shows.
pub fn short(text: &str, chars: usize) -> &str {
    text.char_indices().nth(chars).and_then(|(end, _)| text.get(..end)).unwrap_or(text)
}

/// A sha256 as plans show it: `sha256:` and its first 12 hex digits.
pub fn short_sha(sha: &str) -> String {
    format!("sha256:{}", short(sha, 12))
}

/// `text` with the lines `is_it` picks made `line`: the first one replaced, the others
/// removed, `line` appended when there is none; all removed when `line` is `None`. The
/// in-place edit of the kinds that own some lines of a shared file (fstab entries, a
/// sysctl key, the hosts file's `127.0.1.1` line); each kind's awk does the same at
/// apply time.
pub fn replace_lines(text: &str, line: Option<&str>, is_it: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    let mut done = false;
    for l in text.lines() {
        if is_it(l) {
            if let (false, Some(line)) = (done, line) {
                out.push_str(line);
                out.push('\n');
            }
            done = true;
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if let (false, Some(line)) = (done, line) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The awk twin of [`replace_lines`]: writes to `$tmp` the file named by the shell variable
/// `file` (empty when it does not exist) with the lines the awk `pattern` picks made `$l`:
/// the first replaced, the others removed, `$l` appended when there is none; all removed
/// when `$l` is empty. `env` passes values to awk's `ENVIRON` (`P="$e"`, or nothing).
pub fn replace_lines_awk(sh: &mut Sh, file: &'static str, env: &'static str, pattern: &'static str) {
    sh.raw("{ [ ! -f \"$")
        .raw(file)
        .raw("\" ] || cat -- \"$")
        .raw(file)
        .raw("\"; } | ")
        .raw(env)
        .raw(" L=\"$l\" awk '\n");
    sh.raw(pattern).raw(" { if (!done && ENVIRON[\"L\"] != \"\") print ENVIRON[\"L\"]; done = 1; next }\n");
    sh.raw("{ print }\nEND { if (!done && ENVIRON[\"L\"] != \"\") print ENVIRON[\"L\"] }' > \"$tmp\"\n");
}

/// Runs an edit script here, as the host would: the file `text` (`None`: absent) in the
/// shell variable `file`, `$tmp` beside it, the other `vars` set; returns what the script
/// wrote to `$tmp`. For the tests that hold a kind's awk edit equal to its Rust twin.
#[cfg(test)]
pub fn run_edit_script(
    file: &'static str,
    text: Option<&str>,
    vars: &[(&'static str, &str)],
    script: impl Fn(&mut Sh),
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("file");
    if let Some(t) = text {
        std::fs::write(&f, t).expect("write");
    }
    let mut sh = Sh::new();
    sh.set(file, f.to_str().expect("utf8"));
    sh.set("tmp", dir.path().join("out").to_str().expect("utf8"));
    for (name, value) in vars {
        sh.set(name, value);
    }
    script(&mut sh);
    sh.raw("cat \"$tmp\"\n");
    let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keeps_at_most_so_many_characters() {
        assert_eq!(short("1a2b3c4d5e6f", 7), "1a2b3c4");
        assert_eq!(short("abc", 7), "abc");
        assert_eq!(short("", 7), "");
        assert_eq!(short("ééééé", 2), "éé", "characters, not bytes");
        assert_eq!(short_sha(&"ab".repeat(32)), "sha256:abababababab");
    }

    #[test]
    fn diff_shows_text_both_ways_and_hides_sensitive() {
        let want = Desired::new(b"new\n".to_vec(), false);
        let obs = Observed { sha256: "a".repeat(64), body: Some(b"old\n".to_vec()) };
        let c = want.diff(Some(&obs)).expect("differs");
        assert_eq!(c.content_shown(), Some(&Content::Text { before: "old\n".into(), after: "new\n".into() }));
        let same = Observed { sha256: want.sha256.clone(), body: None };
        assert!(want.diff(Some(&same)).is_none());
        let secret = Desired::new(b"password=hunter2\n".to_vec(), true);
        let c = secret.diff(None).expect("new file");
        assert_eq!(c.content_shown(), Some(&Content::Sensitive));
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn probe_of_sensitive_content_never_reads_it_back() {
        let mut sh = Sh::new();
        Desired::new(b"x".to_vec(), true).probe(&mut sh);
        assert!(!sh.text().contains("base64"));
    }

    #[test]
    fn parse_rejects_a_missing_hash() {
        let rec = Record::parse("sha256=\n").expect("record");
        assert!(Desired::parse(&rec).is_err());
    }
}
