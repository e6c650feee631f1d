//! `unarchive`: an archive on the host (tar.gz, tar.xz, tar.bz2, tar, zip) extracted into
//! a directory.
//!
//! ```kdl
//! download "/var/cache/app/app-1.4.tar.gz" url="https://example.org/app-1.4.tar.gz" checksum="sha256:d8dab549b09672b03356aa2257699f3de3b58c96e74eb26a8b495fbdc9cf6fbe"
//! unarchive "/opt/app" src="/var/cache/app/app-1.4.tar.gz" strip-components=1 owner="root" group="root"
//! unarchive "/srv/site" src="/var/cache/site.bin" format="zip"
//! ```
//!
//! The archive is already on the host (what a `download` fetched, or a `file` shipped):
//! the resource depends on the `download` or `file` of its `src` and on the `directory`
//! of its destination when they are managed. The format comes from the file name
//! (`.tar.gz`/`.tgz`, `.tar.xz`/`.txz`, `.tar.bz2`/`.tbz2`, `.tar`, `.zip`) or `format=`.
//!
//! Idempotent by content: after extracting, the step writes a marker,
//! `DEST/.converge-unarchive`, holding the archive's sha256, the options it was extracted
//! with, and the sha256 of every regular file it put there (a `sha256sum` manifest). The
//! probe compares the archive and the options with the marker and checks the manifest
//! with `sha256sum -c`: a file edited or removed by hand is drift, which the plan names
//! and the apply puts back (the archive is extracted again over the directory), as is an
//! extracted file whose owner or group is no longer the wanted one. Files in the directory
//! that the archive does not hold are left alone.
//!
//! Extraction goes into a staging directory inside the destination first (with
//! `strip-components`, and the wanted owner and group given there), then is copied over
//! the destination (existing files replaced, not written in place; the destination
//! directory's own owner and mode kept). Tools on the host: `tar` with `gzip`, `xz`
//! (package xz-utils) or `bzip2` for the tar formats; `unzip` or, without it, `python3`'s
//! zipfile for zip. A missing tool fails the step with what to install. Without `owner`,
//! extracted files belong to the user converge runs as (tar's `--no-same-owner`), never
//! to the uids stored in the archive.
//!
//! When the archive changes in the same run (a `download` of a new version upstream), the
//! resource is checked again when its turn comes in the apply: it extracts the new archive
//! in the same run (see [`Kind::recheck`]).

use super::content::{short, short_sha};
use super::file::read_path;
use super::ownership::Ownership;
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

#[derive(Debug)]
pub struct Unarchive {
    dest: String,
    src: String,
    format: Format,
    strip: u32,
    ownership: Ownership,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    TarGz,
    TarXz,
    TarBz2,
    Tar,
    Zip,
}

impl Format {
    const NAMES: &'static [&'static str] = &["tar.gz", "tar.xz", "tar.bz2", "tar", "zip"];

    fn name(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::TarXz => "tar.xz",
            Format::TarBz2 => "tar.bz2",
            Format::Tar => "tar",
            Format::Zip => "zip",
        }
    }

    fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "tar.gz" => Format::TarGz,
            "tar.xz" => Format::TarXz,
            "tar.bz2" => Format::TarBz2,
            "tar" => Format::Tar,
            "zip" => Format::Zip,
            _ => return None,
        })
    }

    /// The format a file name says.
    pub fn of_path(path: &str) -> Option<Format> {
        let file = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        [
            (".tar.gz", Format::TarGz),
            (".tgz", Format::TarGz),
            (".tar.xz", Format::TarXz),
            (".txz", Format::TarXz),
            (".tar.bz2", Format::TarBz2),
            (".tbz2", Format::TarBz2),
            (".tar", Format::Tar),
            (".zip", Format::Zip),
        ]
        .into_iter()
        .find(|(ext, _)| file.ends_with(ext) && file.len() > ext.len())
        .map(|(_, f)| f)
    }

    /// The package that brings the tool this format needs, beyond tar and gzip.
    fn packages(self) -> &'static [&'static str] {
        match self {
            Format::TarXz => &["xz-utils"],
            Format::TarBz2 => &["bzip2"],
            Format::Zip => &["unzip", "python3"],
            Format::TarGz | Format::Tar => &[],
        }
    }
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The archive's sha256; `None`: not there (yet).
    pub src: Option<String>,
    pub dest: Dest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// No directory, or no marker in it: never extracted by converge.
    Fresh,
    /// Something that is not a directory is in the way.
    Other,
    Extracted(Extracted),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The archive's sha256 when it was extracted.
    pub archive: String,
    /// The options it was extracted with.
    pub config: String,
    /// Extracted files that differ or are gone (`sha256sum -c` lines, at most a few).
    pub drift: Vec<String>,
    /// How many there are in all.
    pub drifted: usize,
    /// `OWNER:UID:GROUP:GID` of the extracted files, each distinct pair once.
    pub owners: Vec<String>,
}

/// The marker's name in the destination.
const MARKER: &str = ".converge-unarchive";

/// Extracts a zip with Python's zipfile, keeping the modes stored in it (what `python3 -m
/// zipfile -e` loses). zipfile drops absolute paths and `..`, as unzip does.
const PY_UNZIP: &str = r#"python3 -c 'import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for i in z.infolist():
        p = z.extract(i, sys.argv[2])
        m = (i.external_attr >> 16) & 0o7777
        if m and not i.is_dir():
            os.chmod(p, m)
' "$s" "$stage/z"
"#;

impl Unarchive {
    /// The options the marker records: a change in any extracts again.
    fn config(&self) -> String {
        let own = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        format!(
            "format={} strip={} owner={} group={}",
            self.format.name(),
            self.strip,
            own(&self.ownership.owner),
            if self.ownership.login_group { "-login".to_string() } else { own(&self.ownership.group) }
        )
    }

    fn read_src(r: &mut NodeReader) -> Option<String> {
        let Some(src) = r.nonempty("src") else {
            if !r.has("src") {
                let at = r.at();
                r.error(
                    Diag::new(Code::Missing, "unarchive needs a `src`", &at, "no src")
                        .help("write `src=\"/var/cache/app.tar.gz\"`, the archive's path on the host"),
                );
            }
            return None;
        };
        r.absolute_path(&src, PathRule::File, Some("the archive's path on the host")).then_some(src.value)
    }

    fn prelude(&self, sh: &mut Sh) {
        sh.set("d", &self.dest).set("s", &self.src);
        sh.raw("m=\"$d/").raw(MARKER).raw("\"\n");
    }

    /// Extracts `$s` into `$d` (see the module documentation) and writes the marker.
    fn extract(&self, sh: &mut Sh) {
        sh.set("cfg", &self.config());
        sh.raw("[ -f \"$s\" ] || { printf '%s\\n' \"cannot extract $s: there is no such file (the download or file that makes it must come first)\" >&2; exit 1; }\n");
        sh.raw("command -v tar >/dev/null 2>&1 || { printf '%s\\n' \"extracting $s needs tar: install package tar\" >&2; exit 1; }\n");
        let tool = match self.format {
            Format::TarGz => Some(("gzip", "gzip")),
            Format::TarXz => Some(("xz", "xz-utils")),
            Format::TarBz2 => Some(("bzip2", "bzip2")),
            Format::Tar | Format::Zip => None,
        };
        if let Some((tool, package)) = tool {
            sh.raw("command -v ")
                .raw(tool)
                .raw(" >/dev/null 2>&1 || { printf '%s\\n' \"extracting $s needs ")
                .raw(tool);
            sh.raw(": install package ").raw(package).raw("\" >&2; exit 1; }\n");
        }
        if self.format == Format::Zip {
            sh.raw("if command -v unzip >/dev/null 2>&1; then cv_unzip=unzip; elif command -v python3 >/dev/null 2>&1; then cv_unzip=python3; else printf '%s\\n' \"extracting $s needs unzip or python3: install package unzip\" >&2; exit 1; fi\n");
        }
        sh.raw("if [ -e \"$d\" ] && [ ! -d \"$d\" ]; then printf '%s\\n' \"refusing to extract into $d: it is not a directory\" >&2; exit 1; fi\n");
        sh.raw("if [ ! -d \"$d\" ]; then mkdir -p -- \"$d\"\n");
        self.ownership.steps(&self.ownership.explicit(), "\"$d\"", sh);
        sh.raw("fi\n");
        sh.raw("stage=$(mktemp -d \"$d/").raw(MARKER).raw(".XXXXXXXX\")\ntrap 'rm -rf -- \"$stage\"' EXIT\n");
        sh.raw("a=$(sha256sum < \"$s\") && a=${a%% *}\nmkdir -- \"$stage/x\"\n");
        let flag = match self.format {
            Format::TarGz => Some("-xzf"),
            Format::TarXz => Some("-xJf"),
            Format::TarBz2 => Some("-xjf"),
            Format::Tar => Some("-xf"),
            Format::Zip => None,
        };
        if let Some(flag) = flag {
            // GNU tar reads backslash escapes in a `-C` name: every path reaches it as
            // the working directory or on stdin instead
            sh.raw("(cd \"$stage/x\" && tar ").raw(flag).raw(" - --no-same-owner");
            if self.strip > 0 {
                sh.raw(" --strip-components=").num(self.strip);
            }
            sh.raw(") < \"$s\"\n");
        } else {
            // unzip reads wildcards in the archive's name: it gets a plain one
            sh.raw("mkdir -- \"$stage/z\"\nif [ \"$cv_unzip\" = unzip ]; then ln -s -- \"$s\" \"$stage/a.zip\" && (cd \"$stage\" && unzip -q -o a.zip -d z); else\n");
            sh.raw(PY_UNZIP).raw("fi\n");
            // unzip has no strip-components: tar moves the tree, one level more for `./`
            sh.raw(
                "(cd \"$stage/z\" && tar -cf - .) | (cd \"$stage/x\" && tar -xf - --no-same-owner --strip-components=",
            )
            .num(self.strip + 1)
            .raw(")\n");
        }
        if let Some(og) = self.ownership.chown_spec() {
            sh.raw("chown -R -- ").q(&og).raw(" \"$stage/x\"\n");
        }
        sh.raw("(cd \"$stage/x\" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum --) > \"$stage/manifest\"\n");
        sh.raw("(cd \"$stage/x\" && tar -cf - .) | (cd \"$d\" && tar -xpf - --no-overwrite-dir)\n");
        sh.raw("{ printf 'archive=%s\\n' \"$a\"; printf 'config=%s\\n' \"$cfg\"; echo --manifest--; cat \"$stage/manifest\"; } > \"$stage/marker\"\n");
        sh.raw("mv -f -- \"$stage/marker\" \"$m\"\nrm -rf -- \"$stage\"\ntrap - EXIT\n");
    }
}

impl Kind for Unarchive {
    const KIND: &'static str = "unarchive";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Unarchive> {
        let dest = read_path(r);
        let src = Unarchive::read_src(r);
        let named = r.choice("format", Format::NAMES).and_then(Format::from_name);
        let strip = r.int::<u32>("strip-components").map_or(0, |s| s.value);
        let ownership = Ownership::read(r);
        if ownership.mode.is_some() {
            let at = r.at();
            r.error(
                Diag::new(Code::Archive, "unarchive keeps the modes stored in the archive", &at, "`mode` given")
                    .help("remove `mode`; set a mode on a file or directory resource instead"),
            );
        }
        let src = src?;
        let format = match named.or_else(|| Format::of_path(&src)) {
            Some(f) => f,
            None if r.has("format") => return None,
            None => {
                // the src token is labelled: the file name says no format
                if let Some(at) = r.string("src").map(|s| s.at) {
                    r.error(
                        Diag::new(
                            Code::Archive,
                            "the archive's format cannot be told from its name",
                            &at,
                            "no .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2, .tar or .zip",
                        )
                        .help("name it with `format=\"tar.gz\"` (or tar.xz, tar.bz2, tar, zip)"),
                    );
                }
                return None;
            }
        };
        if r.failed() {
            return None;
        }
        Some(Unarchive { dest: dest?, src, format, strip, ownership })
    }

    fn name(&self) -> &str {
        &self.dest
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.dest);
        d.push(Implicit::new("directory", self.dest.clone(), "extracted into"));
        d.push(Implicit::new("download", self.src.clone(), "the archive"));
        d.push(Implicit::new("file", self.src.clone(), "the archive"));
        d.extend(self.ownership.deps());
        for p in self.format.packages() {
            d.push(Implicit::new("package", *p, "extracts the archive"));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        self.prelude(sh);
        sh.raw("if [ -f \"$s\" ]; then a=$(sha256sum < \"$s\") && printf '%s\\n' \"src=${a%% *}\"; else echo src=absent; fi\n");
        sh.raw("if [ -e \"$d\" ] && [ ! -d \"$d\" ]; then echo dest=other\n");
        sh.raw("elif [ -f \"$m\" ]; then echo dest=extracted\n");
        sh.raw("sed -n -e '/^--manifest--$/q' -e 's/^archive=/was=/p' -e 's/^config=/config=/p' \"$m\"\n");
        sh.raw("bad=$(cd \"$d\" && sed '1,/^--manifest--$/d' \"$m\" | sha256sum -c --quiet - 2>/dev/null || true)\n");
        sh.raw("printf '%s\\n' \"$bad\" | sed -n '/./p' | head -n 5 | sed 's/^/drift=/'\n");
        sh.raw("printf 'drifted=%s\\n' \"$(printf '%s\\n' \"$bad\" | grep -c . || true)\"\n");
        if self.ownership.owner.is_some() || self.ownership.group.is_some() {
            // names sha256sum escapes (a backslash or a line break in them) are skipped
            sh.raw("sed '1,/^--manifest--$/d' \"$m\" | grep -v '^\\\\' | sed 's/^[0-9a-f]*  //' | tr '\\n' '\\0' | (cd \"$d\" && xargs -0r stat -c 'own=%U:%u:%G:%g' -- 2>/dev/null || true) | sort -u\n");
        }
        sh.raw("else echo dest=fresh\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let src = match rec.req("src")? {
            "absent" => None,
            sum if sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()) => Some(sum.to_string()),
            other => return Err(ProbeError(format!("cannot read the archive's sha256 ({other:?})"))),
        };
        let dest = match rec.req("dest")? {
            "fresh" => Dest::Fresh,
            "other" => Dest::Other,
            "extracted" => Dest::Extracted(Extracted {
                archive: rec.get("was").unwrap_or("").to_string(),
                config: rec.get("config").unwrap_or("").to_string(),
                drift: rec.all("drift").into_iter().map(str::to_string).collect(),
                drifted: rec.num("drifted")?,
                owners: rec.all("own").into_iter().map(str::to_string).collect(),
            }),
            other => return Err(ProbeError(format!("unexpected dest={other:?}"))),
        };
        Ok(State { src, dest })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let wanted = match &state.src {
            Some(sum) => format!("{} ({})", self.src, short_sha(sum)),
            None => format!("{} (not there yet: made earlier in the run, or the step fails)", self.src),
        };
        let x = match &state.dest {
            Dest::Other => return Diff::new(Action::Change, vec![Change::set("type", "not a directory", "directory")]),
            Dest::Fresh => return Diff::new(Action::Create, vec![Change::new("archive", None, Some(wanted))]),
            Dest::Extracted(x) => x,
        };
        let mut changes = Vec::new();
        if state.src.as_deref() != Some(x.archive.as_str()) {
            let before = if x.archive.len() == 64 { short_sha(&x.archive) } else { "unknown".into() };
            changes.push(Change::set("archive", before, wanted));
        }
        let config = self.config();
        if x.config != config {
            changes.push(Change::set("options", x.config.clone(), config));
        }
        if x.drifted > 0 {
            let names: Vec<&str> = x.drift.iter().map(|l| l.rsplit_once(": ").map_or(l.as_str(), |(n, _)| n)).collect();
            let more = if x.drifted > names.len() { ", …" } else { "" };
            let before = format!("{} changed or missing: {}{more}", x.drifted, names.join(", "));
            changes.push(Change::set("files", before, "as in the archive"));
        }
        let own_wrong = x.owners.iter().any(|line| {
            let parts: Vec<&str> = line.split(':').collect();
            let same = |want: &Option<String>, name: &str, id: &str| want.as_ref().is_none_or(|w| w == name || w == id);
            match parts.as_slice() {
                [o, u, g, gid] => !(same(&self.ownership.owner, o, u) && same(&self.ownership.group, g, gid)),
                _ => true,
            }
        });
        if own_wrong {
            let seen: Vec<String> =
                x.owners.iter().map(|l| l.split(':').step_by(2).collect::<Vec<_>>().join(":")).collect();
            let want = self.config();
            let want = want.split_once(" owner=").map_or("", |(_, w)| w).replace(" group=", ":");
            changes.push(Change::set("ownership", short(&seen.join(", "), 80).to_string(), want));
        }
        Diff::new(Action::Change, changes)
    }

    fn steps(&self, state: &State, _diff: &Diff, sh: &mut Sh) {
        self.prelude(sh);
        if state.dest == Dest::Other {
            sh.raw("printf '%s\\n' \"refusing to extract into $d: it is not a directory\" >&2; exit 1\n");
            return;
        }
        self.extract(sh);
    }

    /// Downstream of a change (the archive downloaded anew in this run): extract again if
    /// the archive or the options are not what the marker says.
    fn recheck(&self, sh: &mut Sh) -> bool {
        self.prelude(sh);
        sh.set("want", &self.config());
        sh.raw("a=; if [ -f \"$s\" ]; then a=$(sha256sum < \"$s\") && a=${a%% *}; fi\n");
        sh.raw(
            "if [ ! -f \"$m\" ] || ! grep -qxF \"archive=$a\" \"$m\" || ! grep -qxF \"config=$want\" \"$m\"; then\n",
        );
        self.extract(sh);
        sh.raw(": > \"$CV_A\"\nfi\n");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{build_from, plan_of};

    const A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn un(extra: &str) -> Unarchive {
        build_from::<Unarchive>(&format!("unarchive \"/opt/app\" src=\"/var/cache/app-1.4.tar.gz\" {extra}"))
            .expect("builds")
    }

    fn extracted(archive: &str, config: &str, extra: &str) -> String {
        format!("src={B}\ndest=extracted\nwas={archive}\nconfig={config}\ndrifted=0\n{extra}")
    }

    #[test]
    fn formats_come_from_the_name_or_format() {
        assert_eq!(Format::of_path("/x/a.tgz"), Some(Format::TarGz));
        assert_eq!(Format::of_path("/x/A.TAR.XZ"), Some(Format::TarXz));
        assert_eq!(Format::of_path("/x/a.tbz2"), Some(Format::TarBz2));
        assert_eq!(Format::of_path("/x/a.zip"), Some(Format::Zip));
        assert_eq!(Format::of_path("/x/a.tar"), Some(Format::Tar));
        assert_eq!(Format::of_path("/x/.zip"), None);
        assert_eq!(Format::of_path("/x.zip/a"), None);
        assert_eq!(un("").format, Format::TarGz);
        let e = build_from::<Unarchive>("unarchive \"/d\" src=\"/x/blob\"").unwrap_err();
        assert_eq!(
            e,
            [
                "the archive's format cannot be told from its name @ no .tar.gz, .tgz, .tar.xz, .txz, .tar.bz2, .tbz2, .tar or .zip"
            ]
        );
        let z = build_from::<Unarchive>("unarchive \"/d\" src=\"/x/blob\" format=\"zip\"").expect("named");
        assert_eq!(z.format, Format::Zip);
        let e = build_from::<Unarchive>("unarchive \"/d\" src=\"/x/a.zip\" mode=\"0755\"").unwrap_err();
        assert_eq!(e, ["unarchive keeps the modes stored in the archive @ `mode` given"]);
        let e = build_from::<Unarchive>("unarchive \"/d\" src=\"x.zip\"").unwrap_err();
        assert_eq!(e, ["`x.zip` is not an absolute file path @ must start with / and name a file"]);
    }

    #[test]
    fn a_fresh_directory_is_extracted_through_a_stage_and_marked() {
        let u = un("strip-components=1 owner=\"app\" group=\"app\"");
        let (diff, text) = plan_of(&u, &format!("src={A}\ndest=fresh\n"));
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![Change::new("archive", None, Some("/var/cache/app-1.4.tar.gz (sha256:111111111111)".into()))]
        );
        for part in [
            "command -v gzip >/dev/null 2>&1 || { printf '%s\\n' \"extracting $s needs gzip: install package gzip\"",
            "stage=$(mktemp -d \"$d/.converge-unarchive.XXXXXXXX\")",
            "(cd \"$stage/x\" && tar -xzf - --no-same-owner --strip-components=1) < \"$s\"\n",
            "chown -R -- app:app \"$stage/x\"\n",
            "find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum --",
            "(cd \"$stage/x\" && tar -cf - .) | (cd \"$d\" && tar -xpf - --no-overwrite-dir)\n",
            "cfg='format=tar.gz strip=1 owner=app group=app'\n",
            "mv -f -- \"$stage/marker\" \"$m\"",
        ] {
            assert!(text.contains(part), "{part:?} not in:\n{text}");
        }
    }

    #[test]
    fn zip_uses_unzip_or_python_and_strips_with_tar() {
        let u = build_from::<Unarchive>("unarchive \"/srv/site\" src=\"/tmp/site.zip\" strip-components=2")
            .expect("builds");
        let (_, text) = plan_of(&u, &format!("src={A}\ndest=fresh\n"));
        assert!(text.contains("(cd \"$stage\" && unzip -q -o a.zip -d z)"), "{text}");
        assert!(text.contains("zipfile.ZipFile(sys.argv[1])"), "{text}");
        assert!(text.contains("--strip-components=3)\n"), "{text}");
        assert!(text.contains("needs unzip or python3: install package unzip"), "{text}");
        let deps: Vec<String> = u.deps().iter().map(|d| d.target.to_string()).collect();
        assert!(deps.contains(&"package:unzip".to_string()) && deps.contains(&"download:/tmp/site.zip".to_string()));
    }

    #[test]
    fn in_sync_when_archive_options_and_files_match() {
        let u = un("owner=\"app\"");
        let cfg = "format=tar.gz strip=0 owner=app group=-";
        let (diff, _) = plan_of(&u, &extracted(B, cfg, "own=app:1000:root:0\n"));
        assert!(diff.is_ok(), "{diff:?}");
        // by uid too
        let u = un("owner=\"1000\"");
        let (diff, _) = plan_of(&u, &extracted(B, "format=tar.gz strip=0 owner=1000 group=-", "own=app:1000:root:0\n"));
        assert!(diff.is_ok(), "{diff:?}");
    }

    #[test]
    fn a_new_archive_new_options_edited_files_and_owners_are_drift() {
        let u = un("owner=\"app\"");
        let out = extracted(
            A,
            "format=tar.gz strip=1 owner=app group=-",
            "drift=./etc/app.conf: FAILED\ndrift=./bin/app: FAILED open or read\ndrifted=7\nown=root:0:root:0\nown=app:1000:root:0\n",
        );
        let (diff, text) = plan_of(&u, &out);
        assert_eq!(
            diff.changes,
            vec![
                Change::set("archive", "sha256:111111111111", "/var/cache/app-1.4.tar.gz (sha256:222222222222)"),
                Change::set(
                    "options",
                    "format=tar.gz strip=1 owner=app group=-",
                    "format=tar.gz strip=0 owner=app group=-"
                ),
                Change::set("files", "7 changed or missing: ./etc/app.conf, ./bin/app, …", "as in the archive"),
                Change::set("ownership", "root:root, app:root", "app:-"),
            ]
        );
        assert!(text.contains("tar -xzf"), "{text}");
    }

    #[test]
    fn refuses_what_is_not_a_directory_and_rechecks_by_marker() {
        let u = un("");
        let (diff, text) = plan_of(&u, "src=absent\ndest=other\n");
        assert_eq!(diff.changes, vec![Change::set("type", "not a directory", "directory")]);
        assert!(text.contains("refusing to extract into $d"), "{text}");
        let mut sh = Sh::new();
        assert!(u.recheck(&mut sh));
        let text = sh.into_text();
        assert!(text.contains("grep -qxF \"archive=$a\" \"$m\""), "{text}");
        assert!(text.contains(": > \"$CV_A\"\nfi\n"), "{text}");
        assert!(u.parse("src=zz\ndest=fresh\n").is_err());
    }

    /// The step and the probe, run here with this machine's tar: extract, in sync, drift
    /// by hand, put back.
    #[test]
    fn extracts_and_finds_drift_with_the_local_tar() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let tree = root.join("tree/app-1.4/bin");
        std::fs::create_dir_all(&tree).expect("mkdir");
        std::fs::write(tree.join("run"), "#!/bin/sh\necho hi\n").expect("write");
        std::fs::write(root.join("tree/app-1.4/it's here"), "x\n").expect("write");
        let archive = root.join("a.tar.gz");
        let ok = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(root.join("tree"))
            .arg("app-1.4")
            .status()
            .expect("tar");
        assert!(ok.success());
        // GNU tar would read `\\0101` in a `-C` name as `A`
        let dest = root.join("dest \\0101 dir");
        let u = build_from::<Unarchive>(&format!(
            "unarchive \"{}\" src=\"{}\" strip-components=1",
            dest.display().to_string().replace('\\', "\\\\"),
            archive.display()
        ))
        .expect("builds");
        let run = |text: &str| {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("set -e\n{text}")).output().expect("sh");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).expect("utf8")
        };
        let probe = || {
            let mut sh = Sh::new();
            u.probe(&mut sh);
            run(sh.text())
        };
        let (diff, steps) = plan_of(&u, &probe());
        assert_eq!(diff.action, Action::Create);
        run(&steps);
        assert_eq!(std::fs::read_to_string(dest.join("bin/run")).expect("extracted"), "#!/bin/sh\necho hi\n");
        assert_eq!(std::fs::read_to_string(dest.join("it's here")).expect("extracted"), "x\n");
        assert!(plan_of(&u, &probe()).0.is_ok(), "{}", probe());
        std::fs::write(dest.join("bin/run"), "edited\n").expect("drift");
        // a second name for the edited file: it keeps the old inode's content if the
        // file is replaced, not written into
        std::fs::hard_link(dest.join("bin/run"), root.join("old-run")).expect("link");
        std::fs::remove_file(dest.join("it's here")).expect("drift");
        let (diff, steps) = plan_of(&u, &probe());
        assert_eq!(diff.changes.len(), 1, "{diff:?}");
        assert_eq!(diff.changes[0].before(), Some("2 changed or missing: ./bin/run, ./it's here"));
        run(&steps);
        assert_eq!(std::fs::read_to_string(dest.join("bin/run")).expect("put back"), "#!/bin/sh\necho hi\n");
        assert_eq!(
            std::fs::read_to_string(root.join("old-run")).expect("old"),
            "edited\n",
            "replaced, not written into (a running binary is safe)"
        );
        assert!(plan_of(&u, &probe()).0.is_ok());
        // nothing of the stage is left
        let left: Vec<_> = std::fs::read_dir(&dest).expect("dest").map(|e| e.expect("e").file_name()).collect();
        assert_eq!(left.len(), 3, "{left:?}");
    }
}
