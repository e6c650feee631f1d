//! `apt-repository`: an apt source in deb822 form and the key that signs it.
//!
//! ```kdl
//! apt-repository "nodesource" uris="https://deb.example.org/node_20.x" suites="nodistro" components="main" key-source="files/nodesource.asc"
//! apt-repository "internal" uris="http://apt.internal.example/debian" components="main" architectures="amd64" key="-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n-----END PGP PUBLIC KEY BLOCK-----\n" {
//!     types "deb" "deb-src"
//!     suites "bookworm" "bookworm-updates"
//! }
//! apt-repository "old" state="absent"
//! ```
//!
//! Two files: `/etc/apt/sources.list.d/NAME.sources` (Types, URIs, Suites, Components,
//! Architectures, Signed-By, any further `options`) and the key in `/etc/apt/keyrings/`,
//! given inline, as a file on the controller or as a URL pinned by its sha256 (`key.rs`).
//!
//! What runs on the host: `sha256sum` of both files, and `apt-get indextargets` limited to
//! this one source to see whether its package lists were ever fetched. When the source or
//! the key changes, or the lists are missing (an earlier update failed), the apply writes
//! the files atomically and runs `apt-get update` for THIS source only
//! (`Dir::Etc::sourcelist` set to the `.sources` file, `Dir::Etc::sourceparts=-`,
//! `APT::Get::List-Cleanup=0`), so no other mirror is contacted and the other lists are
//! kept. A download or signature error (`APT::Update::Error-Mode=any`) fails the step and
//! puts both files back as they were: a source apt cannot update, left in place, would
//! make every later `apt-get update` of the host fail, and look converged to the next run,
//! which instead tries the change again.
//! A `package` declared after it (or requiring it) then finds its candidate in the lists
//! and installs in the same apply, without a host-wide update (see `package/apt.rs`).
//! `state="absent"` removes the source and both key files.

mod key;

pub use key::{Format, Key, KeyFrom};

use super::content::{self, Desired};
use super::record::Record;
use super::{Action, Change, Diff, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

const SOURCES_DIR: &str = "/etc/apt/sources.list.d/";
/// The deb822 fields converge writes itself; `options` may not set them.
const MANAGED: &[&str] = &["Types", "URIs", "Suites", "Components", "Architectures", "Signed-By"];

#[derive(Debug)]
pub struct AptRepository {
    name: String,
    /// The `.sources` text; `None` for `state="absent"`.
    source: Option<Desired>,
    key: Option<Key>,
    update: bool,
}

/// What the host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The `.sources` file, `None` when absent.
    pub sources: Option<content::Observed>,
    /// sha256 of `NAME.asc` and `NAME.gpg`, when present.
    pub asc: Option<String>,
    pub gpg: Option<String>,
    /// Whether every package list of this source is on the host (`None`: not asked, the
    /// source file is absent or unwanted).
    pub lists: Option<bool>,
}

impl State {
    fn key(&self, f: Format) -> Option<&str> {
        match f {
            Format::Armored => self.asc.as_deref(),
            Format::Binary => self.gpg.as_deref(),
        }
    }
}

/// A repository name: what the file names are made of.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// One word of a deb822 field: no blank, no control character, and nothing a line of
/// the file could read as a comment or a new field.
fn valid_word(w: &str) -> bool {
    !w.is_empty() && !w.starts_with('#') && !w.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `scheme:rest`, as apt reads a URI (`http://`, `https://`, `file:/`, `mirror+file:/`).
fn valid_uri(u: &str) -> bool {
    let Some((scheme, rest)) = u.split_once(':') else { return false };
    valid_word(u)
        && !rest.is_empty()
        && scheme.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && scheme.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
}

impl AptRepository {
    fn sources_path(&self) -> String {
        format!("{SOURCES_DIR}{}.sources", self.name)
    }

    fn words(r: &mut NodeReader, key: &'static str, check: fn(&str) -> bool, what: &str) -> Vec<Spanned<String>> {
        let mut out = Vec::new();
        for v in r.list(key) {
            if check(&v.value) {
                out.push(v);
            } else {
                r.error(
                    Diag::new(Code::Apt, format!("`{}` is not {what}", v.value), &v.at, "invalid here").help(format!(
                        "each `{key}` value is one word: no blank, no line break, not starting with `#`"
                    )),
                );
            }
        }
        out
    }

    fn read_options(r: &mut NodeReader) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in r.map("options") {
            let well_formed = name.value.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && name.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !well_formed || MANAGED.iter().any(|m| m.eq_ignore_ascii_case(&name.value)) {
                r.error(
                    Diag::new(Code::Apt, format!("`{}` is not an option converge can write", name.value), &name.at, "here")
                        .help("options are further deb822 fields (`Check-Valid-Until`, `Trusted`, `PDiffs`...); Types, URIs, Suites, Components, Architectures and Signed-By have their own properties"),
                );
                continue;
            }
            if value.value.is_empty() || value.value.chars().any(|c| c.is_control()) {
                r.error(Diag::new(Code::Apt, "an option is one line of text", &value.at, "empty or with a line break"));
                continue;
            }
            out.push((name.value, value.value));
        }
        out
    }
}

/// The `.sources` text.
fn render(fields: &[(&str, Vec<String>)], options: &[(String, String)]) -> String {
    let mut out = String::from("# managed by converge\n");
    for (name, values) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(&format!("{name}: {}\n", values.join(" ")));
    }
    for (name, value) in options {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out
}

impl Kind for AptRepository {
    const KIND: &'static str = "apt-repository";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<AptRepository> {
        let name = r.arg("a repository name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let types = Self::words(r, "types", |t| t == "deb" || t == "deb-src", "a type (`deb` or `deb-src`)");
        let uris = Self::words(r, "uris", valid_uri, "a URI (`https://...`, `file:/...`)");
        let suites = Self::words(r, "suites", valid_word, "a suite");
        let components = Self::words(r, "components", valid_word, "a component");
        let architectures = Self::words(r, "architectures", valid_word, "an architecture");
        let options = Self::read_options(r);
        let key = Key::read(r);
        let update = r.bool("update-cache").unwrap_or(true);
        if let Some(n) = &name
            && !valid_name(&n.value)
        {
            r.error(
                Diag::new(Code::Apt, format!("`{}` cannot name a repository", n.value), &n.at, "invalid name")
                    .help("the name makes the file names NAME.sources and NAME.asc: letters, digits and - _ ., starting with a letter or digit"),
            );
        }
        let name = name?;
        if present {
            for (what, empty) in [("uris", uris.is_empty()), ("suites", suites.is_empty())] {
                if empty && !r.failed() {
                    r.error(
                        Diag::new(Code::Missing, format!("an apt repository needs `{what}`"), &name.at, "here")
                            .help(format!("write `{what}=\"...\"`, or a child `{what} \"a\" \"b\"` for several")),
                    );
                }
            }
            // a suite ending in `/` is an exact path (a flat repository) and takes no
            // components; any other suite needs them
            if let Some(suite) = suites.iter().find(|s| !s.value.ends_with('/'))
                && components.is_empty()
                && !r.failed()
            {
                r.error(
                    Diag::new(Code::Missing, "this suite needs `components`", &suite.at, "not a flat repository")
                        .help("write `components=\"main\"`; only a flat repository (a suite ending in `/`) has none"),
                );
            }
        } else {
            let given = uris.iter().chain(&suites).chain(&components).chain(&architectures).chain(&types).next();
            if let Some(v) = given {
                r.error(Diag::new(
                    Code::Conflict,
                    "an absent repository takes no source fields",
                    &v.at,
                    "state=\"absent\" removes the files",
                ));
            } else if key.is_some() {
                r.error(Diag::new(
                    Code::Conflict,
                    "an absent repository takes no key",
                    &name.at,
                    "state=\"absent\" removes the files",
                ));
            }
        }
        if r.failed() {
            return None;
        }
        let mut repo = AptRepository { name: name.value, source: None, key, update };
        if present {
            let signed_by = repo.key.as_ref().map(|k| repo.key_path(k.format)).into_iter().collect();
            let words = |v: Vec<Spanned<String>>| v.into_iter().map(|s| s.value).collect::<Vec<_>>();
            let types = if types.is_empty() { vec!["deb".to_string()] } else { words(types) };
            let (uris, suites, components, architectures) =
                (words(uris), words(suites), words(components), words(architectures));
            let text = render(
                &[
                    ("Types", types),
                    ("URIs", uris),
                    ("Suites", suites),
                    ("Components", components),
                    ("Architectures", architectures),
                    ("Signed-By", signed_by),
                ],
                &options,
            );
            repo.source = Some(Desired::new(text.into_bytes(), false));
        }
        Some(repo)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn probe(&self, sh: &mut Sh) {
        sh.raw("if command -v apt-get >/dev/null 2>&1; then echo tool=ok; else echo tool=missing; fi\n");
        self.probe_keys(sh);
        sh.set("p", &self.sources_path());
        sh.raw("cv_sum=\nif [ -f \"$p\" ] && [ ! -L \"$p\" ]; then echo sources=file\n");
        if let Some(src) = &self.source {
            // whether any package index of this source is on the host, named by apt itself
            // (stored uncompressed or with a compression suffix); not every one: a
            // repository need not have every architecture a multiarch host asks for
            sh.raw("l=missing; for f in $(apt-get indextargets -o Dir::Etc::sourcelist=\"$p\" -o Dir::Etc::sourceparts=- --format '$(CREATED_BY):$(FILENAME)' 2>/dev/null); do case \"$f\" in Packages:*|Sources:*) set -- \"${f#*:}\"*; [ -e \"$1\" ] && l=fetched;; esac; done; printf 'lists=%s\\n' \"$l\"\n");
            src.probe(sh);
        }
        sh.raw("elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo sources=other\nelse echo sources=absent\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        if self.source.is_some() && !rec.tool()? {
            return Err(ProbeError("an apt repository needs apt on the host (no apt-get)".into()));
        }
        let (asc, gpg) = key::parse_sums(&rec)?;
        let (sources, lists) = match rec.req("sources")? {
            "absent" => (None, None),
            // a link or anything else in the way of an absent source is removed all the same
            "other" if self.source.is_none() => (Some(content::Observed { sha256: String::new(), body: None }), None),
            "other" => return Err(ProbeError(format!("{} is not a regular file", self.sources_path()))),
            "file" if self.source.is_some() => {
                let lists = match rec.req("lists")? {
                    "fetched" => true,
                    "missing" => false,
                    l => return Err(ProbeError(format!("unexpected lists={l:?}"))),
                };
                (Some(Desired::parse(&rec)?), Some(lists))
            }
            "file" => (Some(content::Observed { sha256: String::new(), body: None }), None),
            s => return Err(ProbeError(format!("unexpected sources={s:?}"))),
        };
        Ok(State { sources, asc, gpg, lists })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let Some(want) = &self.source else {
            let mut changes = Vec::new();
            if state.sources.is_some() {
                changes.push(Change::new("sources", Some(self.sources_path()), None));
            }
            changes.extend(self.key_changes(state));
            return Diff::new(Action::Remove, changes);
        };
        let mut changes = Vec::new();
        let created = state.sources.is_none() && state.asc.is_none() && state.gpg.is_none();
        if let Some(c) = want.diff(state.sources.as_ref()) {
            changes.push(c.renamed("sources"));
        }
        changes.extend(self.key_changes(state));
        if self.update && changes.is_empty() && state.lists == Some(false) {
            changes.push(Change::new("lists", Some("not fetched".into()), Some("fetched".into())));
        } else if self.update && !changes.is_empty() {
            changes.push(Change::note("apt-get update of this source only"));
        }
        Diff::new(if created { Action::Create } else { Action::Change }, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        let changed = |field: &str| diff.changes.iter().any(|c| c.field() == field);
        let Some(want) = &self.source else {
            sh.set("p", &self.sources_path()).raw("rm -f -- \"$p\"\n");
            self.remove_keys(sh);
            return;
        };
        if self.update {
            self.keep(sh);
        }
        // the key first: the source that names it must never be read without it
        self.write_key(state, changed, sh);
        sh.set("p", &self.sources_path());
        if changed("sources") {
            let expected = state.sources.as_ref().map(|o| o.sha256.as_str());
            want.write(expected, sh, |sh| {
                sh.raw("chmod 0644 \"$tmp\"\n");
            });
        }
        if self.update {
            sh.raw("export DEBIAN_FRONTEND=noninteractive\n");
            sh.raw("if ! apt-get update -q -o DPkg::Lock::Timeout=120 -o APT::Update::Error-Mode=any -o Dir::Etc::sourcelist=\"$p\" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0; then\n");
            self.restore(sh);
            sh.raw("printf '%s\\n' \"apt-get update of $p failed: its files are back as they were\" >&2; exit 1\nfi\nrm -rf -- \"$cv_keep\"\n");
        }
    }
}

impl AptRepository {
    /// The three files, each with the name its copy is kept under.
    fn files(&self) -> [(&'static str, String); 3] {
        [
            ("asc", self.key_path(Format::Armored)),
            ("gpg", self.key_path(Format::Binary)),
            ("sources", self.sources_path()),
        ]
    }

    /// Keeps a copy of each file before the change, so that a source apt cannot update
    /// (a wrong key, a bad URI) is put back as it was: left in place, it would make every
    /// later `apt-get update` of the host fail, and look converged to the next run.
    fn keep(&self, sh: &mut Sh) {
        sh.raw("cv_keep=$(mktemp -d \"${TMPDIR:-/tmp}/converge-apt.XXXXXXXX\")\n");
        for (slot, path) in self.files() {
            sh.set("f", &path).raw("if [ -f \"$f\" ]; then cp -p -- \"$f\" \"$cv_keep/").raw(slot).raw("\"; fi\n");
        }
    }

    /// Puts back what [`AptRepository::keep`] kept; removes what did not exist.
    fn restore(&self, sh: &mut Sh) {
        for (slot, path) in self.files() {
            sh.set("f", &path)
                .raw("if [ -f \"$cv_keep/")
                .raw(slot)
                .raw("\" ]; then mv -f -- \"$cv_keep/")
                .raw(slot)
                .raw("\" \"$f\"; else rm -f -- \"$f\"; fi\n");
        }
        sh.raw("rm -rf -- \"$cv_keep\"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::build_from;
    use crate::resources::content::short_sha;

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\\n\\nmQINBGX=\\n-----END PGP PUBLIC KEY BLOCK-----\\n";

    fn repo(extra: &str) -> AptRepository {
        let text = format!(
            "apt-repository \"local\" uris=\"http://127.0.0.1:8080/\" suites=\"stable\" components=\"main\" key=\"{KEY}\" {extra}\n"
        );
        build_from::<AptRepository>(&text).expect("builds")
    }

    pub(super) fn src_text(r: &AptRepository) -> String {
        String::from_utf8(r.source.as_ref().expect("present").bytes.clone()).expect("utf8")
    }

    #[test]
    fn renders_a_deb822_source_that_names_its_key() {
        let r = repo("architectures=\"amd64\" { options { Check-Valid-Until \"no\"; }; }");
        assert_eq!(
            src_text(&r),
            "# managed by converge\nTypes: deb\nURIs: http://127.0.0.1:8080/\nSuites: stable\nComponents: main\nArchitectures: amd64\nSigned-By: /etc/apt/keyrings/local.asc\nCheck-Valid-Until: no\n"
        );
        let mut sh = Sh::new();
        r.probe(&mut sh);
        let text = sh.text();
        assert!(text.contains("k=/etc/apt/keyrings/local.asc\n"), "{text}");
        assert!(text.contains("k=/etc/apt/keyrings/local.gpg\n"), "{text}");
        assert!(text.contains("p=/etc/apt/sources.list.d/local.sources\n"), "{text}");
        assert!(
            text.contains("apt-get indextargets -o Dir::Etc::sourcelist=\"$p\" -o Dir::Etc::sourceparts=-"),
            "{text}"
        );
    }

    #[test]
    fn absent_repository_is_created_key_first_then_updated_alone() {
        let r = repo("");
        let state = r.parse("tool=ok\nsources=absent\n").expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["sources", "key .asc", "note"]);
        let mut sh = Sh::new();
        r.steps(&state, &diff, &mut sh);
        let text = sh.text();
        let key_at = text.find("p=/etc/apt/keyrings/local.asc").expect("writes the key");
        let src_at = text.find("p=/etc/apt/sources.list.d/local.sources").expect("writes the source");
        let update_at = text.find("apt-get update").expect("updates");
        assert!(key_at < src_at && src_at < update_at, "{text}");
        assert!(text.contains("if ! apt-get update -q -o DPkg::Lock::Timeout=120 -o APT::Update::Error-Mode=any -o Dir::Etc::sourcelist=\"$p\" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0; then\n"), "{text}");
        assert_eq!(text.matches("apt-get update -q").count(), 1, "{text}");
        // kept before the first write, put back if the update fails
        let keep_at = text.find("cp -p -- \"$f\" \"$cv_keep/asc\"").expect("keeps the key");
        assert!(keep_at < key_at, "{text}");
        assert!(text.contains("then mv -f -- \"$cv_keep/sources\" \"$f\"; else rm -f -- \"$f\"; fi\n"), "{text}");
        assert!(text.contains("its files are back as they were\" >&2; exit 1\nfi\n"), "{text}");
    }

    fn synced(r: &AptRepository, lists: &str) -> String {
        let src = &r.source.as_ref().expect("present").sha256;
        let key = match &r.key.as_ref().expect("key").from {
            KeyFrom::Bytes(d) => d.sha256.clone(),
            KeyFrom::Url { sha256, .. } => sha256.clone(),
        };
        format!("tool=ok\nasc={key}\nsources=file\nlists={lists}\nsha256={src}\n")
    }

    #[test]
    fn in_sync_is_ok_and_missing_lists_are_fetched_again() {
        let r = repo("");
        let state = r.parse(&synced(&r, "fetched")).expect("parse");
        assert!(r.diff(&state, &PlanCx::default()).is_ok());
        let state = r.parse(&synced(&r, "missing")).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("lists", "not fetched", "fetched")]);
        let mut sh = Sh::new();
        r.steps(&state, &diff, &mut sh);
        assert!(!sh.text().contains("base64"), "writes nothing: {}", sh.text());
        assert!(sh.text().contains("apt-get update"), "{}", sh.text());
        let r = repo("update-cache=#false");
        assert!(r.diff(&state, &PlanCx::default()).is_ok());
    }

    #[test]
    fn a_drifted_source_shows_its_diff_and_a_stale_binary_key_goes() {
        let r = repo("");
        let good = synced(&r, "fetched");
        let drifted = good.replace("sources=file", &format!("gpg={}\nsources=file", "c".repeat(64))).replace(
            &format!("sha256={}", r.source.as_ref().expect("present").sha256),
            &format!("sha256={}\n--body--\n{}", "d".repeat(64), "U3VpdGVzOiBvbGRzdGFibGUK"),
        );
        let state = r.parse(&drifted).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["sources", "key .gpg", "note"]);
        match diff.changes[0].content_shown() {
            Some(crate::resources::Content::Text { before, .. }) => assert_eq!(before, "Suites: oldstable\n"),
            other => panic!("no text diff: {other:?}"),
        }
        let mut sh = Sh::new();
        r.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("k=/etc/apt/keyrings/local.gpg\nrm -f -- \"$k\"\n"), "{}", sh.text());
        assert!(sh.text().contains(&format!("[ \"$cur\" != {} ]", "d".repeat(64))), "guards the plan: {}", sh.text());
    }

    #[test]
    fn absent_removes_both_files_and_key() {
        let r = build_from::<AptRepository>("apt-repository \"old\" state=\"absent\"\n").expect("builds");
        let state = r.parse(&format!("tool=missing\ngpg={}\nsources=file\n", "a".repeat(64))).expect("parse");
        let diff = r.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(
            diff.changes,
            vec![
                Change::new("sources", Some("/etc/apt/sources.list.d/old.sources".into()), None),
                Change::new("key .gpg", Some(short_sha(&"a".repeat(64))), None),
            ]
        );
        let mut sh = Sh::new();
        r.steps(&state, &diff, &mut sh);
        assert_eq!(
            sh.text(),
            "p=/etc/apt/sources.list.d/old.sources\nrm -f -- \"$p\"\nk=/etc/apt/keyrings/old.asc\nrm -f -- \"$k\"\nk=/etc/apt/keyrings/old.gpg\nrm -f -- \"$k\"\n"
        );
        assert!(r.diff(&r.parse("tool=ok\nsources=absent\n").expect("parse"), &PlanCx::default()).is_ok());
        let link = r.parse("tool=ok\nsources=other\n").expect("a link in the way is removed");
        assert_eq!(r.diff(&link, &PlanCx::default()).action, Action::Remove);
    }

    #[test]
    fn a_lying_probe_is_an_error() {
        let r = repo("");
        assert!(r.parse("tool=ok\nasc=nothex\nsources=absent\n").is_err());
        assert!(r.parse("tool=ok\nsources=file\nlists=maybe\nsha256=\n").is_err());
        assert!(r.parse("tool=ok\nsources=other\n").is_err());
        let no_apt = r.parse("tool=missing\nsources=absent\n").expect_err("not an apt host");
        assert!(no_apt.0.contains("needs apt"), "{no_apt}");
        assert!(r.parse("").is_err());
    }

    #[test]
    fn refuses_what_apt_would_misread() {
        for bad in [
            "apt-repository \"a/b\" uris=\"http://x\" suites=\"s\" components=\"main\"",
            "apt-repository \"r\" uris=\"not a uri\" suites=\"s\" components=\"main\"",
            "apt-repository \"r\" uris=\"http://x\" suites=\"s\\nURIs: http://evil\" components=\"main\"",
            "apt-repository \"r\" uris=\"http://x\" suites=\"s\"",
            "apt-repository \"r\" uris=\"http://x\" suites=\"s\" components=\"main\" { options { Signed-By \"/tmp/k\"; }; }",
            "apt-repository \"r\" types=\"rpm\" uris=\"http://x\" suites=\"s\" components=\"main\"",
            "apt-repository \"r\" state=\"absent\" uris=\"http://x\"",
        ] {
            assert!(build_from::<AptRepository>(bad).is_err(), "accepted: {bad}");
        }
    }
}
