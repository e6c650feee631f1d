//! Framing: how many resources share one script and one output stream.
//!
//! Every script starts with the same header (a C locale, a sane `PATH`, the state
//! directory `$CV_STATE`, a temp file for captured output). Each resource's part prints a
//! begin line and an end line carrying its exit status, both made of a random nonce
//! chosen for this run, so nothing a host prints (file content, a hostile file name) can
//! forge or end a frame. The parser splits the output back into per-resource frames and
//! reports frames that are missing or malformed instead of guessing.

use std::collections::BTreeMap;

use crate::script::Sh;

/// The marker of one run: 16 random hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    pub fn random() -> Nonce {
        let mut bytes = [0u8; 8];
        let filled =
            std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        if filled.is_err() {
            // no /dev/urandom: fall back on the clock and pid, still unpredictable to a host
            let t =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            bytes = ((t as u64) ^ ((std::process::id() as u64) << 32)).to_le_bytes();
        }
        Nonce(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A nonce of a given value, for tests and the fuzz targets (which frame their own
    /// output). A run always uses [`Nonce::random`].
    pub fn fixed(s: &str) -> Nonce {
        Nonce(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The common start of every script.
pub fn header(sh: &mut Sh) {
    sh.raw("LC_ALL=C; export LC_ALL\n");
    sh.raw("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH\n");
    sh.raw("if [ \"$(id -u)\" -eq 0 ]; then CV_STATE=/var/lib/converge; else CV_STATE=\"$HOME/.local/state/converge\"; fi\n");
    sh.raw("CV_E=$(mktemp) || { echo 'converge: cannot create a temp file' >&2; exit 97; }\n");
    sh.raw("CV_A=\"$CV_E.acted\"\nCV_S=\"$CV_E.stale\"\n");
    sh.raw("trap 'rm -f -- \"$CV_E\" \"$CV_A\" \"$CV_S\"' EXIT\n");
    // a step's guard found what it would replace no longer as planned: refuse; when an
    // earlier block of this script ran ($CV_RAN), the change is the run's own and the
    // block is planned again from the verify probe (`apply.rs`)
    sh.raw("cv_changed_since_plan() { printf '%s\\n' \"changed since plan: $1\" >&2; if [ -n \"${CV_RAN:-}\" ]; then : > \"$CV_S\"; fi; exit 3; }\n");
}

/// A frame's marker line, `::NONCE:TAG:INDEX`, and a newline. Tags: `b` begin, `e` end
/// (followed by `:STATUS`, see [`end_marker`]), `s` skipped, `x` stderr follows, `f` flag.
pub fn marker(sh: &mut Sh, nonce: &Nonce, tag: &'static str, index: usize) {
    sh.raw("echo ::").hex(nonce.as_str()).raw(":").raw(tag).raw(":").num(index as u64).nl();
}

/// The end marker with the status in `$cv_rc`.
pub fn end_marker(sh: &mut Sh, nonce: &Nonce, index: usize) {
    sh.raw("echo ::").hex(nonce.as_str()).raw(":e:").num(index as u64).raw(":$cv_rc\n");
}

/// A flag inside a frame: `::NONCE:f:INDEX:FLAG`.
pub fn flag(sh: &mut Sh, nonce: &Nonce, index: usize, flag: &'static str) {
    sh.raw("echo ::").hex(nonce.as_str()).raw(":f:").num(index as u64).raw(":").raw(flag).nl();
}

/// The frames found in an output, by index.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Frames {
    pub frames: BTreeMap<usize, Frame>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the part printed (stdout, or the captured output of a failed step).
    pub body: String,
    /// Exit status from the end marker; `None` if the frame never ended.
    pub status: Option<i32>,
    /// Marked as skipped (a dependency failed).
    pub skipped: bool,
    /// Flags the part raised, e.g. an owed refresh.
    pub flags: Vec<String>,
    /// What the part wrote to stderr (probe), after an `x` marker.
    pub stderr: String,
    /// The output held this frame more than once (a host that lies, or output that was
    /// mangled on the way): nothing in it can be trusted.
    pub repeated: bool,
}

/// What a line of output did to the frames, as [`Reader`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A frame began (its part started running).
    Begin(usize),
    /// A frame ended, with the status of its end marker.
    End(usize),
    /// A frame was marked skipped.
    Skipped(usize),
}

/// Reads an output line by line as it arrives, into frames; each line that begins, ends or
/// skips a frame is a [`Mark`] (the engine's live events). Lines outside any frame are
/// ignored (a login banner); a begin without an end leaves `status: None` (the
/// connection dropped, or the host lied).
#[derive(Debug)]
pub struct Reader {
    prefix: String,
    frames: Frames,
    current: Option<usize>,
    in_stderr: bool,
}

impl Reader {
    pub fn new(nonce: &Nonce) -> Reader {
        Reader { prefix: format!("::{}:", nonce.as_str()), frames: Frames::default(), current: None, in_stderr: false }
    }

    /// Reads one line (with its newline, if it had one).
    pub fn line(&mut self, line: &str) -> Option<Mark> {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        let Some(rest) = bare.strip_prefix(&self.prefix) else {
            if let Some(f) = self.current.and_then(|i| self.frames.frames.get_mut(&i)) {
                if self.in_stderr { f.stderr.push_str(line) } else { f.body.push_str(line) }
            }
            return None;
        };
        let mut parts = rest.splitn(3, ':');
        let tag = parts.next().unwrap_or("");
        let index: Option<usize> = parts.next().and_then(|i| i.parse().ok());
        let extra = parts.next();
        let index = index?;
        let frames = &mut self.frames.frames;
        match tag {
            "b" => {
                self.in_stderr = false;
                if let Some(seen) = frames.get_mut(&index) {
                    // keep nothing of either: read on into a frame that is dropped
                    seen.repeated = true;
                    self.current = None;
                    None
                } else {
                    frames.insert(index, Frame::default());
                    self.current = Some(index);
                    Some(Mark::Begin(index))
                }
            }
            "x" => {
                self.in_stderr = true;
                None
            }
            "e" => {
                self.current = None;
                let f = frames.get_mut(&index)?;
                f.status = extra.and_then(|s| s.parse().ok()).or(Some(-1));
                Some(Mark::End(index))
            }
            "s" => {
                if let Some(seen) = frames.get_mut(&index) {
                    seen.repeated = true;
                    None
                } else {
                    frames.insert(index, Frame { skipped: true, status: Some(0), ..Frame::default() });
                    Some(Mark::Skipped(index))
                }
            }
            "f" => {
                if let Some(f) = frames.get_mut(&index) {
                    f.flags.push(extra.unwrap_or("").to_string());
                }
                None
            }
            _ => None,
        }
    }

    /// The frames read so far.
    pub fn frames(&self) -> &Frames {
        &self.frames
    }

    pub fn finish(self) -> Frames {
        self.frames
    }
}

/// Splits `out` into frames (see [`Reader`]).
pub fn parse(out: &str, nonce: &Nonce) -> Frames {
    let mut reader = Reader::new(nonce);
    for line in out.split_inclusive('\n') {
        reader.line(line);
    }
    reader.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_cannot_be_forged_without_the_nonce() {
        let n = Nonce::fixed("abcd");
        let out = "banner\n::abcd:b:0\ntype=file\n::ffff:e:0:0\n::abcd:e:0:0\n::abcd:s:1\n::abcd:b:2\npartial";
        let f = parse(out, &n);
        assert_eq!(f.frames[&0].body, "type=file\n::ffff:e:0:0\n");
        assert_eq!(f.frames[&0].status, Some(0));
        assert!(f.frames[&1].skipped);
        assert_eq!(f.frames[&2].status, None);
        assert_eq!(f.frames[&2].body, "partial");
    }

    #[test]
    fn a_frame_sent_twice_is_marked_and_the_second_copy_ignored() {
        let n = Nonce::fixed("abcd");
        let out = "::abcd:b:0
type=file
::abcd:e:0:0
::abcd:b:0
type=absent
::abcd:e:0:0
::abcd:s:1
::abcd:s:1
";
        let f = parse(out, &n);
        assert!(f.frames[&0].repeated);
        assert_eq!(f.frames[&0].body, "type=file\n");
        assert!(f.frames[&1].repeated);
    }

    #[test]
    fn random_nonces_differ() {
        assert_ne!(Nonce::random(), Nonce::random());
    }
}
