//! The one shell builder: every byte of shell text converge sends to a host is made here.
//!
//! Shell text comes from two places only: `&'static str` fragments written in converge's
//! own source ([`Sh::raw`]), which cannot contain a user's value, and values, which are
//! always quoted ([`Sh::q`], [`Sh::set`]) or shipped as base64 in a here-document
//! ([`Sh::heredoc_base64`]). No `format!` of shell text with user values exists anywhere
//! else. Scripts travel on ssh's stdin, never in argv, so values (secrets included) never
//! show up in a process list.
//!
//! A kind writes its snippets in terms of variables it sets first, so the fixed shell text
//! stays readable:
//!
//! ```
//! # use converge::script::Sh;
//! let mut sh = Sh::new();
//! sh.set("p", "/etc/it's here");
//! sh.raw(r#"[ -e "$p" ] && echo present=1"#).nl();
//! assert_eq!(sh.text(), "p=\"/etc/it's here\"\n[ -e \"$p\" ] && echo present=1\n");
//! ```

use base64::Engine as _;

/// Shell text under construction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sh {
    text: String,
}

/// Quotes one value for POSIX sh with `shlex`, which leaves plain words bare so scripts stay
/// readable. NUL cannot exist in a shell word; the playbook loader rejects it, so here it
/// can only be dropped.
pub fn quote(value: &str) -> String {
    match shlex::try_quote(value) {
        Ok(q) => q.into_owned(),
        Err(_) => quote(&value.replace('\0', "")),
    }
}

impl Sh {
    pub fn new() -> Sh {
        Sh::default()
    }

    /// Fixed shell text from converge's own source.
    pub fn raw(&mut self, text: &'static str) -> &mut Sh {
        self.text.push_str(text);
        self
    }

    /// A quoted value.
    pub fn q(&mut self, value: &str) -> &mut Sh {
        self.text.push_str(&quote(value));
        self
    }

    /// A number: safe to print as is.
    pub fn num(&mut self, n: impl Into<u64>) -> &mut Sh {
        self.text.push_str(&n.into().to_string());
        self
    }

    /// A hex string (a nonce, a hash): printed bare when it is only hex digits, quoted
    /// otherwise, so it is safe either way.
    pub fn hex(&mut self, s: &str) -> &mut Sh {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.text.push_str(s);
            self
        } else {
            self.q(s)
        }
    }

    /// An octal mode, e.g. `0644`.
    pub fn mode(&mut self, mode: u32) -> &mut Sh {
        self.text.push_str(&format!("{mode:04o}"));
        self
    }

    pub fn sp(&mut self) -> &mut Sh {
        self.text.push(' ');
        self
    }

    pub fn nl(&mut self) -> &mut Sh {
        self.text.push('\n');
        self
    }

    /// `name=<quoted value>` on its own line. `name` is converge's own identifier.
    pub fn set(&mut self, name: &'static str, value: &str) -> &mut Sh {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        self.text.push_str(name);
        self.text.push('=');
        self.q(value);
        self.nl()
    }

    /// `base64 -d > TARGET` fed by a here-document holding `bytes`: any content, binary
    /// or secret, crosses as base64 whose alphabet can never close the here-document.
    /// `target` is shell text from converge's source, typically `"$tmp"`.
    pub fn heredoc_base64(&mut self, target: &'static str, bytes: &[u8]) -> &mut Sh {
        self.raw("base64 -d > ").raw(target).raw(" <<'CONVERGE_B64'\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        for chunk in encoded.as_bytes().chunks(76) {
            // base64 output is ASCII
            self.text.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            self.text.push('\n');
        }
        self.raw("CONVERGE_B64\n")
    }

    /// Appends another builder's text.
    pub fn append(&mut self, other: &Sh) -> &mut Sh {
        self.text.push_str(&other.text);
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const HOSTILE: &[&str] = &[
        "plain",
        "",
        "with space",
        "it's",
        "\"double\"",
        "$(touch /tmp/converge-canary)",
        "`touch /tmp/converge-canary`",
        "a;b",
        "a && b",
        "line\nbreak",
        "*",
        "{a,b}",
        "-rf",
        "--help",
        "~",
        "~root",
        "x=y",
        "ünïcødé ✓",
        "back\\slash",
        "'\"'\"'",
        "tab\there",
        "$HOME",
        "!event",
        "#comment",
    ];

    fn echo_through(shell: &str, value: &str) -> String {
        let mut sh = Sh::new();
        sh.set("v", value);
        sh.raw("printf '%s' \"$v\"; printf '|'; printf '%s' ").q(value).nl();
        let out = Command::new(shell).arg("-c").arg(sh.text()).output().expect("run shell");
        String::from_utf8(out.stdout).expect("utf8")
    }

    #[test]
    fn every_hostile_value_round_trips_in_sh_and_bash() {
        for shell in ["sh", "bash"] {
            for v in HOSTILE {
                assert_eq!(echo_through(shell, v), format!("{v}|{v}"), "{shell}: {v:?}");
            }
        }
    }

    #[test]
    fn safe_values_stay_readable() {
        assert_eq!(quote("/etc/nginx/nginx.conf"), "/etc/nginx/nginx.conf");
        assert_eq!(quote("nginx-light"), "nginx-light");
        // quoting cannot stop option parsing: commands put `--` before values instead
        assert_eq!(quote("-x"), "-x");
        assert_eq!(quote("a b"), "'a b'");
    }

    #[test]
    fn heredoc_carries_any_bytes() {
        let bytes: Vec<u8> = (0u8..=255).chain(b"CONVERGE_B64\n".iter().copied()).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out");
        let mut sh = Sh::new();
        sh.set("tmp", target.to_str().expect("utf8 path"));
        sh.heredoc_base64("\"$tmp\"", &bytes);
        let status = Command::new("sh").arg("-c").arg(sh.text()).status().expect("sh");
        assert!(status.success());
        assert_eq!(std::fs::read(&target).expect("read"), bytes);
    }
}
