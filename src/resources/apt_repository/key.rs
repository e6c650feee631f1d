//! The key that signs an `apt-repository`: how the playbook gives it, the file it goes
//! to, and its part of the probe, the plan and the steps.
//!
//! The key is given inline (`key=`, armored), as a file on the controller relative to the
//! playbook (`key-source=`, armored or binary), or as a URL the host downloads with apt's
//! own `apt-helper`, checked against a required `key-sha256=` (the plan compares that hash
//! with the file's, so it needs no download). It goes to `/etc/apt/keyrings/NAME.asc`
//! (an armored key) or `NAME.gpg` (a binary keyring), whichever the key is; the other one
//! is removed if present. The probe hashes both files; the steps write the key before the
//! source that names it.

use super::{AptRepository, State, valid_word};
use crate::diag::{Code, Diag};
use crate::resources::content::{self, Desired, short_sha};
use crate::resources::record::Record;
use crate::resources::{Change, ProbeError};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

const KEYRINGS_DIR: &str = "/etc/apt/keyrings/";
const ARMOR: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// The signing key and the file it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub(super) format: Format,
    pub(super) from: KeyFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ASCII-armored: `NAME.asc`.
    Armored,
    /// A binary keyring: `NAME.gpg`.
    Binary,
}

impl Format {
    pub(super) const BOTH: [Format; 2] = [Format::Armored, Format::Binary];

    pub(super) fn ext(self) -> &'static str {
        match self {
            Format::Armored => "asc",
            Format::Binary => "gpg",
        }
    }

    /// The name of the plan's change for this key file (`key .asc`).
    fn field(self) -> String {
        format!("key .{}", self.ext())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFrom {
    /// Inline or from a controller file: the bytes themselves.
    Bytes(Desired),
    /// Downloaded by the host, checked against this sha256.
    Url { url: String, sha256: String },
}

impl Key {
    fn sha256(&self) -> &str {
        match &self.from {
            KeyFrom::Bytes(d) => &d.sha256,
            KeyFrom::Url { sha256, .. } => sha256,
        }
    }

    /// `key`, `key-source` or `key-url` with its `key-sha256`: at most one of them.
    pub(super) fn read(r: &mut NodeReader) -> Option<Key> {
        let inline = r.nonempty("key");
        let source = r.nonempty("key-source");
        let url = r.nonempty("key-url");
        let sha = r.nonempty("key-sha256");
        if !r.at_most_one(&[("key", &inline), ("key-source", &source), ("key-url", &url)]) {
            return None;
        }
        if let Some(s) = &sha
            && url.is_none()
        {
            r.error(Diag::new(Code::Conflict, "`key-sha256` checks a `key-url`", &s.at, "no `key-url`"));
        }
        if let Some(k) = inline {
            if !k.value.trim_start().starts_with(ARMOR) {
                r.error(
                    Diag::new(Code::Apt, "`key` is not an armored OpenPGP public key", &k.at, "not a key").help(
                        format!("paste the key's text, starting with `{ARMOR}`; a binary key goes in `key-source`"),
                    ),
                );
                return None;
            }
            return Some(Key {
                format: Format::Armored,
                from: KeyFrom::Bytes(Desired::new(k.value.into_bytes(), false)),
            });
        }
        if let Some(s) = source {
            let bytes = r.read_source(&s)?;
            let Some(format) = format_of(&bytes) else {
                r.error(
                    Diag::new(Code::Apt, "this file is not an OpenPGP public key", &s.at, "not a key")
                        .help("export it with `gpg --export --armor KEYID` (or without --armor for a binary keyring)"),
                );
                return None;
            };
            return Some(Key { format, from: KeyFrom::Bytes(Desired::new(bytes, false)) });
        }
        let url = url?;
        if !(url.value.starts_with("https://") || url.value.starts_with("http://")) || !valid_word(&url.value) {
            r.error(
                Diag::new(Code::Apt, format!("`{}` is not an http(s) URL", url.value), &url.at, "not a URL")
                    .help("write `key-url=\"https://...\"`, or ship the key with `key-source`"),
            );
            return None;
        }
        let Some(sha) = sha else {
            let at = url.at.clone();
            r.error(
                Diag::new(Code::Missing, "a `key-url` needs its `key-sha256`", &at, "no checksum")
                    .help("the key is trusted for every package of the repository: pin it with `key-sha256=\"<sha256 of the file>\"`"),
            );
            return None;
        };
        if !is_sha256(&sha.value) {
            r.error(Diag::new(Code::Apt, "`key-sha256` is not a sha256", &sha.at, "64 hex digits expected"));
            return None;
        }
        // apt reads the file by its extension: a binary keyring must end in .gpg
        let format = if url.value.ends_with(".gpg") { Format::Binary } else { Format::Armored };
        Some(Key { format, from: KeyFrom::Url { url: url.value, sha256: sha.value.to_ascii_lowercase() } })
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The format of a key's bytes: armored text or a binary OpenPGP public key packet.
fn format_of(bytes: &[u8]) -> Option<Format> {
    let text = bytes.trim_ascii_start();
    if text.starts_with(ARMOR.as_bytes()) {
        return Some(Format::Armored);
    }
    // an old-format (0x98/0x99) or new-format (0xC6) public-key packet
    matches!(bytes.first(), Some(0x98 | 0x99 | 0xC6)).then_some(Format::Binary)
}

/// The sha256 of `NAME.asc` and of `NAME.gpg`, as [`AptRepository::probe_keys`] printed them.
pub(super) fn parse_sums(rec: &Record) -> Result<(Option<String>, Option<String>), ProbeError> {
    let sha = |k: &str| -> Result<Option<String>, ProbeError> {
        match rec.get(k) {
            None => Ok(None),
            Some(s) if is_sha256(s) => Ok(Some(s.to_string())),
            Some(s) => Err(ProbeError(format!("cannot read the key file ({k}={s:?})"))),
        }
    };
    Ok((sha("asc")?, sha("gpg")?))
}

impl AptRepository {
    pub(super) fn key_path(&self, f: Format) -> String {
        format!("{KEYRINGS_DIR}{}.{}", self.name, f.ext())
    }

    /// `asc=SHA256` and `gpg=SHA256` for the key files that are there.
    pub(super) fn probe_keys(&self, sh: &mut Sh) {
        for f in Format::BOTH {
            sh.set("k", &self.key_path(f));
            sh.raw("if [ -f \"$k\" ]; then s=$(sha256sum < \"$k\") && printf '%s\\n' \"")
                .raw(f.ext())
                .raw("=${s%% *}\"; fi\n");
        }
    }

    /// The key to write, if the host's differs, and the key files not wanted (all of them
    /// for an absent repository, which has no key).
    pub(super) fn key_changes(&self, state: &State) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(k) = &self.key {
            let have = state.key(k.format);
            if have != Some(k.sha256()) {
                changes.push(Change::new(k.format.field(), have.map(short_sha), Some(short_sha(k.sha256()))));
            }
        }
        for f in Format::BOTH {
            let wanted = self.key.as_ref().is_some_and(|k| k.format == f);
            if !wanted && let Some(s) = state.key(f) {
                changes.push(Change::new(f.field(), Some(short_sha(s)), None));
            }
        }
        changes
    }

    /// Writes the key when the plan changes it (`changed` tells by the change's name), and
    /// removes the key file of the other format.
    pub(super) fn write_key(&self, state: &State, changed: impl Fn(&str) -> bool, sh: &mut Sh) {
        if let Some(k) = &self.key
            && changed(&k.format.field())
        {
            sh.set("d", KEYRINGS_DIR).raw("[ -d \"$d\" ] || mkdir -m 0755 -p -- \"$d\"\n");
            sh.set("p", &self.key_path(k.format));
            match &k.from {
                KeyFrom::Bytes(d) => d.write(state.key(k.format), sh, |sh| {
                    sh.raw("chmod 0644 \"$tmp\"\n");
                }),
                KeyFrom::Url { url, sha256 } => download(url, sha256, k.format, state.key(k.format), sh),
            }
        }
        for f in Format::BOTH {
            let wanted = self.key.as_ref().is_some_and(|k| k.format == f);
            if !wanted && state.key(f).is_some() {
                sh.set("k", &self.key_path(f)).raw("rm -f -- \"$k\"\n");
            }
        }
    }

    /// Removes both key files, whatever the host has.
    pub(super) fn remove_keys(&self, sh: &mut Sh) {
        for f in Format::BOTH {
            sh.set("k", &self.key_path(f)).raw("rm -f -- \"$k\"\n");
        }
    }
}

/// Downloads the key to `$p` with apt's own helper, which checks the hash; an armored key
/// must also look like one (apt reads `.asc` files as armored).
fn download(url: &str, sha256: &str, format: Format, expected: Option<&str>, sh: &mut Sh) {
    content::guard(expected, sh);
    sh.set("url", url).set("sum", sha256);
    sh.raw("tmp=$(mktemp \"$(dirname -- \"$p\")/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
    sh.raw("/usr/lib/apt/apt-helper download-file \"$url\" \"$tmp\" \"SHA256:$sum\"\n");
    sh.raw("s=$(sha256sum < \"$tmp\") && [ \"${s%% *}\" = \"$sum\" ] || { printf '%s\\n' \"the key downloaded from $url does not have the sha256 $sum\" >&2; exit 1; }\n");
    if format == Format::Armored {
        sh.raw("grep -q -e '^-----BEGIN PGP PUBLIC KEY BLOCK-----' \"$tmp\" || { printf '%s\\n' \"the key downloaded from $url is not armored: name a .gpg URL for a binary key\" >&2; exit 1; }\n");
    }
    sh.raw("chmod 0644 \"$tmp\"\nsync -- \"$tmp\" 2>/dev/null || sync\nmv -f -- \"$tmp\" \"$p\"\ntrap - EXIT\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::apt_repository::tests::src_text;
    use crate::resources::{Kind, PlanCx, build_from};

    #[test]
    fn a_key_url_is_compared_by_its_pinned_hash_and_downloaded_by_apt() {
        let sum = "ab".repeat(32);
        let text = format!(
            "apt-repository \"r\" uris=\"https://deb.example.org\" suites=\"./\" key-url=\"https://deb.example.org/key.gpg\" key-sha256=\"{sum}\"\n"
        );
        let r = build_from::<AptRepository>(&text).expect("builds");
        assert!(src_text(&r).contains("Suites: ./\nSigned-By: /etc/apt/keyrings/r.gpg\n"), "{}", src_text(&r));
        let state = r.parse(&format!("tool=ok\ngpg={sum}\nsources=absent\n")).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes.iter().map(|c| c.field()).collect::<Vec<_>>(), ["sources", "note"]);
        let state = r.parse("tool=ok\nsources=absent\n").expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        r.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("apt-helper download-file \"$url\" \"$tmp\" \"SHA256:$sum\""), "{}", sh.text());
    }

    #[test]
    fn refuses_a_key_apt_would_misread() {
        for bad in [
            "apt-repository \"r\" uris=\"http://x\" suites=\"s\" components=\"main\" key=\"not a key\"",
            "apt-repository \"r\" uris=\"http://x\" suites=\"s\" components=\"main\" key-url=\"https://x/k.asc\"",
        ] {
            assert!(build_from::<AptRepository>(bad).is_err(), "accepted: {bad}");
        }
    }
}
