//! `pip`: pinned Python packages inside a virtualenv.
//!
//! ```kdl
//! venv "/srv/app/env" owner="app"
//! pip "/srv/app/env" find-links="/srv/wheels" index=#false {
//!     requirement "flask==2.2.5"
//!     requirement "gunicorn==20.1.0"
//! }
//! venv "/srv/site/env"
//! pip "/srv/site/env" requirements="/srv/site/src/requirements.txt"
//! ```
//!
//! The resource is named by the venv's path. `requirement` gives packages as `NAME==VERSION`
//! (or a bare `NAME`: any version); `requirements` names a requirements file on the host
//! (read by the probe, so the plan shows what it asks for). `find-links` adds a directory
//! or URL of wheels, `index=#false` forbids the package index (`--no-index`), `index-url`
//! replaces it.
//!
//! Probe: the installed distributions are read from the `*.dist-info` / `*.egg-info`
//! directory names in the venv's `site-packages` (and the system's `dist-packages` when the
//! venv includes system site packages), names normalised per PEP 503, instead of starting
//! pip (about half a second per call): a no-op run costs one glob. The plan shows per
//! package `flask: 2.2.2 → 2.2.5` or `(absent) → 2.2.5`. In a requirements file, `==`
//! pins are compared exactly and other lines by name only (`>=` ranges are not evaluated:
//! pin for exact convergence); a `git+URL@REV` pin is compared by revision with the
//! `direct_url.json` pip wrote, and installed again at apply time when it moved (pip keeps
//! a package of the same version whatever its revision); options, `-r` includes, paths,
//! other URLs and lines with environment markers are left to pip and not compared.
//! Extras are not compared.
//!
//! Step: one `VENV/bin/python -m pip install --no-input` (not `bin/pip`, whose `#!` line
//! cannot hold a path with blanks or quotes) with every wanted requirement (pip leaves
//! the satisfied ones alone), run as the venv's owner. Packages not named are never
//! removed. A `pip` depends on the `venv` of its path, the managed `requirements` file and
//! any `git` checkout that holds it, and a managed `find-links` directory. When something
//! it depends on changes in the same run (the venv is made again for a new Python, the
//! checkout moves to a commit with new requirements), pip install runs again at apply
//! time, and the resource counts as changed only if the installed set changed.

mod git_pin;

use std::collections::BTreeMap;
use std::path::Path;

use super::record::Record;
use super::runas;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

use self::git_pin::{DirectUrl, MOVED_PINS_PY};
pub use self::git_pin::{GitPin, Installed, parse_git};

#[derive(Debug)]
pub struct Pip {
    venv: String,
    requirements: Vec<Requirement>,
    file: Option<String>,
    find_links: Option<String>,
    index: bool,
    index_url: Option<String>,
}

/// One wanted package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// As written (shown in the plan).
    pub name: String,
    /// `None`: any version.
    pub version: Option<String>,
    /// The text handed to pip.
    pub spec: String,
    /// A package pinned to a revision of a git repository: compared by revision, since
    /// pip keeps an installed one of the same version whatever revision it came from.
    pub git: Option<GitPin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub venv: bool,
    /// Installed version per normalised name.
    pub installed: BTreeMap<String, String>,
    /// The requirements file's text; `Some(None)`: the file does not exist (yet).
    pub file: Option<Option<String>>,
    /// Where the venv's packages installed from git came from, per normalised name.
    pub from_git: BTreeMap<String, Installed>,
}

/// PEP 503: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

fn valid_version(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| c.is_ascii_alphanumeric() || b".!+-_*".contains(&c))
}

/// `NAME`, `NAME[extras]`, `NAME==VERSION`, `NAME[extras]==VERSION`; `None` for anything
/// else.
pub fn parse_requirement(text: &str) -> Option<Requirement> {
    let text = text.trim();
    let (head, version) = match text.split_once("==") {
        Some((h, v)) => (h.trim(), Some(v.trim().to_string())),
        None => (text, None),
    };
    let name = match head.split_once('[') {
        Some((n, extras)) if extras.ends_with(']') && !extras[..extras.len() - 1].contains(['[', ']']) => n.trim(),
        Some(_) => return None,
        None => head,
    };
    if !valid_name(name) || version.as_deref().is_some_and(|v| !valid_version(v) || v.starts_with('=')) {
        return None;
    }
    Some(Requirement { name: name.to_string(), version, spec: text.to_string(), git: None })
}

/// The requirements of a requirements file that can be compared: `==` pins exactly,
/// plain names and ranges by name. Options, includes, paths, URLs and lines with
/// environment markers are pip's business only.
pub fn parse_file(text: &str) -> Vec<Requirement> {
    let joined = text.replace("\\\r\n", "").replace("\\\n", "");
    let mut out = Vec::new();
    for line in joined.lines() {
        // a comment starts at `#` preceded by whitespace (or at the start)
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        // trailing per-requirement options: `--hash=...`
        let line = line.split(" --").next().unwrap_or("").trim();
        if let Some(r) = parse_git(line) {
            out.push(r);
            continue;
        }
        if line.is_empty() || line.starts_with(['-', '.', '/']) || line.contains("://") || line.contains(';') {
            continue;
        }
        if let Some(r) = parse_requirement(line) {
            out.push(r);
            continue;
        }
        // a range or another specifier: compared by name only
        let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))).unwrap_or(line.len());
        let name = &line[..end];
        if valid_name(name) {
            out.push(Requirement { name: name.to_string(), version: None, spec: line.to_string(), git: None });
        }
    }
    out
}

/// PEP 440 equality, simply: release segments compare numerically with zeros padded
/// (`1.0` == `1.0.0`), the rest case-insensitively without separators; `2.2.*` matches a
/// release prefix.
pub fn same_version(installed: &str, wanted: &str) -> bool {
    fn split(v: &str) -> (Vec<u64>, String) {
        let v = v.trim().to_ascii_lowercase();
        let v = v.strip_prefix('v').unwrap_or(&v).to_string();
        let end = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
        let release: Vec<u64> = v[..end]
            .trim_end_matches('.')
            .split('.')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        let rest: String = v[end..].chars().filter(|c| !matches!(c, '.' | '-' | '_')).collect();
        (release, rest)
    }
    if let Some(prefix) = wanted.strip_suffix(".*") {
        let (have, _) = split(installed);
        let (want, _) = split(prefix);
        return have.len() >= want.len() && have[..want.len()] == want[..];
    }
    let (mut a, ra) = split(installed);
    let (mut b, rb) = split(wanted);
    while a.last() == Some(&0) {
        a.pop();
    }
    while b.last() == Some(&0) {
        b.pop();
    }
    a == b && ra == rb
}

/// `Flask-2.2.5.dist-info` → (`flask`, `2.2.5`); `gunicorn-20.1.0-py3.11.egg-info` →
/// (`gunicorn`, `20.1.0`).
fn parse_dist(dir: &str) -> Option<(String, String)> {
    let stem = dir.strip_suffix(".dist-info").or_else(|| dir.strip_suffix(".egg-info"))?;
    let mut parts = stem.split('-');
    let name = parts.next()?;
    let version = parts.next()?;
    (!name.is_empty() && !version.is_empty()).then(|| (normalize(name), version.to_string()))
}

impl Pip {
    fn wanted(&self, state: &State) -> Vec<Requirement> {
        let mut out = self.requirements.clone();
        if let Some(Some(text)) = &state.file {
            out.extend(parse_file(text));
        }
        out
    }

    fn read_requirements(r: &mut NodeReader) -> Vec<Requirement> {
        let mut out = Vec::new();
        for s in r.list("requirement") {
            match parse_requirement(&s.value).or_else(|| parse_git(&s.value)) {
                Some(req) => out.push(req),
                None => r.error(
                    Diag::new(
                        Code::Pip,
                        format!("`{}` is not a pinned requirement", s.value),
                        &s.at,
                        "expected NAME==VERSION, NAME or git+URL@REV#egg=NAME",
                    )
                    .help(
                        "pin with `==VERSION` (`flask==2.2.5`), or a git revision \
                         (`git+https://example.org/lib.git@COMMIT#egg=lib`), or give the bare name to accept any version",
                    ),
                ),
            }
        }
        out
    }

    fn read_file(r: &mut NodeReader) -> Option<String> {
        let f: Spanned<String> = r.nonempty("requirements")?;
        if !r.absolute_path(&f, PathRule::Absolute, Some("`requirements` names a file on the host")) {
            return None;
        }
        Some(f.value)
    }

    /// The install command, as the venv's owner; sets `$o` to the owner.
    fn install(&self, sh: &mut Sh) {
        sh.raw("[ -x \"$v/bin/pip\" ] || { printf '%s\\n' \"$v is not a virtualenv with pip (no $v/bin/pip)\" >&2; exit 1; }\n");
        sh.raw("o=$(stat -c %U -- \"$v\")\n");
        sh.raw("cv_as \"$o\" \"$v/bin/python\" -m pip install --no-input --disable-pip-version-check");
        self.sources(sh);
        if let Some(f) = &self.file {
            sh.raw(" -r ").q(f);
        }
        if !self.requirements.is_empty() {
            sh.raw(" --");
            for r in &self.requirements {
                sh.sp().q(&r.spec);
            }
        }
        sh.nl();
    }

    /// After the install: the packages pinned to a git revision that are installed from
    /// another one (pip keeps an installed package of the same version, whatever its
    /// revision) are installed again, without their dependencies. Decided on the host at
    /// apply time, from the requirements file as it is then (its checkout may have moved
    /// in this run), by the venv's own Python reading each package's `direct_url.json`;
    /// `$CV_A` is marked when one was. Nothing when no requirement can be a git pin.
    fn reinstall_moved(&self, sh: &mut Sh) {
        let pins: Vec<&Requirement> = self.requirements.iter().filter(|r| r.git.is_some()).collect();
        if self.file.is_none() && pins.is_empty() {
            return;
        }
        sh.raw("moved=$(\"$v/bin/python\" - ");
        match &self.file {
            Some(f) => sh.q(f),
            None => sh.q(""),
        };
        for r in &pins {
            sh.sp().q(&r.spec);
        }
        sh.raw(" <<'CV_PY'\n");
        sh.raw(MOVED_PINS_PY);
        sh.raw("CV_PY\n) || exit 1\n");
        sh.raw("if [ -n \"$moved\" ]; then\nset --\nwhile IFS= read -r s; do set -- \"$@\" \"$s\"; done <<CV_EOF\n$moved\nCV_EOF\n");
        sh.raw("cv_as \"$o\" \"$v/bin/python\" -m pip install --no-input --disable-pip-version-check --force-reinstall --no-deps");
        self.sources(sh);
        sh.raw(" -- \"$@\"\n: > \"$CV_A\"\nfi\n");
    }

    /// pip's options for where packages come from.
    fn sources(&self, sh: &mut Sh) {
        if !self.index {
            sh.raw(" --no-index");
        }
        if let Some(u) = &self.index_url {
            sh.raw(" --index-url=").q(u);
        }
        if let Some(f) = &self.find_links {
            sh.raw(" --find-links=").q(f);
        }
    }

    fn prelude(&self, sh: &mut Sh) {
        sh.set("v", &self.venv);
        runas::define(sh);
    }
}

impl Kind for Pip {
    const KIND: &'static str = "pip";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Pip> {
        let venv = super::file::read_path(r);
        let requirements = Pip::read_requirements(r);
        let file = Pip::read_file(r);
        let find_links = r.nonempty("find-links");
        let index = r.bool("index").unwrap_or(true);
        let index_url = r.nonempty("index-url");
        // pip reads both as a path or URL; a URL is one word
        for (v, path) in [(&find_links, true), (&index_url, false)] {
            let located = |s: &str| s.contains("://") || (path && s.starts_with('/'));
            if let Some(v) = v
                && (!located(&v.value) || v.value.contains(|c: char| c.is_control() || (c.is_whitespace() && !path)))
            {
                let want = if path {
                    "a directory by absolute path, or a URL"
                } else {
                    "a URL, like https://pypi.example.org/simple"
                };
                r.error(Diag::new(Code::Pip, format!("`{}` is not {want}", v.value), &v.at, "invalid value"));
            }
        }
        let find_links = find_links.map(|f| f.value);
        if let Some(u) = &index_url
            && !index
        {
            r.exclusive(u, "index-url", "index=#false");
        }
        if requirements.is_empty() && file.is_none() && !r.failed() {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "`pip` needs requirements", &at, "nothing to install")
                    .help("add `requirement \"NAME==VERSION\"` children, or `requirements=\"/path/requirements.txt\"`"),
            );
        }
        if r.failed() {
            return None;
        }
        Some(Pip { venv: venv?, requirements, file, find_links, index, index_url: index_url.map(|u| u.value) })
    }

    fn name(&self) -> &str {
        &self.venv
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = vec![Implicit::new("venv", self.venv.clone(), "installs into")];
        if let Some(f) = &self.file {
            d.push(Implicit::new("file", f.clone(), "requirements file"));
            let mut p = Path::new(f.as_str());
            while let Some(parent) = p.parent() {
                let s = parent.to_string_lossy();
                if s.is_empty() || s == "/" {
                    break;
                }
                d.push(Implicit::new("git", s.into_owned(), "checkout holding the requirements"));
                p = parent;
            }
        }
        if let Some(f) = self.find_links.as_ref().filter(|f| f.starts_with('/')) {
            d.push(Implicit::new("directory", f.trim_end_matches('/').to_string(), "find-links"));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("v", &self.venv);
        sh.raw(
            r#"if [ -x "$v/bin/python" ]; then echo venv=1
for d in "$v"/lib/python*/site-packages/*.dist-info "$v"/lib/python*/site-packages/*.egg-info; do [ -e "$d" ] && printf '%s\n' "dist=${d##*/}"; done
for d in "$v"/lib/python*/site-packages/*.dist-info/direct_url.json; do [ -f "$d" ] && grep -q '"vcs_info"' "$d" && { b=${d%/*}; printf 'direct=%s ' "${b##*/}"; tr -d '\n\r' < "$d"; echo; }; done
if grep -qi '^ *include-system-site-packages *= *true' -- "$v/pyvenv.cfg" 2>/dev/null; then
for d in /usr/local/lib/python3*/dist-packages/*.*-info /usr/lib/python3/dist-packages/*.*-info /usr/lib/python3.*/dist-packages/*.*-info; do
[ -e "$d" ] || continue; b=${d##*/}
case "$b" in
*-*) printf '%s\n' "sysdist=$b" ;;
*) n=$(sed -n 's/^Version: *//p' "$d/PKG-INFO" "$d/METADATA" "$d" 2>/dev/null | head -n 1); printf '%s\n' "sysdist=${b%.*-info}-$n.${b##*.}" ;;
esac
done
fi
else echo venv=0; fi
"#,
        );
        if let Some(f) = &self.file {
            sh.set("rf", f);
            sh.raw(
                "if [ -f \"$rf\" ]; then echo reqfile=1; echo --body--; base64 < \"$rf\"; else echo reqfile=0; fi\n",
            );
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let venv = rec.req("venv")? == "1";
        let mut installed = BTreeMap::new();
        // the venv's own packages shadow the system's
        for key in ["sysdist", "dist"] {
            for d in rec.all(key) {
                match parse_dist(d) {
                    Some((name, version)) => {
                        installed.insert(name, version);
                    }
                    // the system's directories are whatever distributions left there
                    // (Debian ships unversioned `NAME.egg-info`): one without a version
                    // is not counted; the venv's own always name their version
                    None if key == "sysdist" => {}
                    None => return Err(ProbeError(format!("unexpected distribution directory {d:?}"))),
                }
            }
        }
        let file = match &self.file {
            None => None,
            Some(_) => match rec.req("reqfile")? {
                "1" => {
                    let bytes = rec.body()?.unwrap_or_default();
                    Some(Some(String::from_utf8_lossy(&bytes).into_owned()))
                }
                _ => Some(None),
            },
        };
        let mut from_git = BTreeMap::new();
        for line in rec.all("direct") {
            let Some((dir, json)) = line.split_once(' ') else {
                return Err(ProbeError(format!("unexpected direct_url line {line:?}")));
            };
            // a record pip did not write (or a later format) is not compared: left to pip
            let (Some((name, _)), Ok(d)) = (parse_dist(dir), serde_json::from_str::<DirectUrl>(json)) else {
                continue;
            };
            if let Some(vcs) = d.vcs_info.filter(|v| v.vcs == "git") {
                from_git
                    .insert(name, Installed { url: d.url, commit: vcs.commit_id, requested: vcs.requested_revision });
            }
        }
        Ok(State { venv, installed, file, from_git })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        let mut any_installed = false;
        let mut seen = std::collections::HashSet::new();
        for req in self.wanted(state) {
            let key = normalize(&req.name);
            if !seen.insert(key.clone()) {
                continue;
            }
            let have = if state.venv { state.installed.get(&key) } else { None };
            any_installed |= have.is_some();
            let ok = match (have, &req.version) {
                (Some(h), Some(w)) => same_version(h, w),
                (Some(_), None) => true,
                (None, _) => false,
            };
            // installed from git at another revision (pip itself would keep it): a
            // package installed otherwise, or before pip recorded where from, is not compared
            if let (true, Some(pin), Some(from)) = (ok, &req.git, state.from_git.get(&key))
                && !pin.holds(from)
            {
                let short = |c: &str| c.chars().take(12).collect::<String>();
                let before = format!("git {} at {}", from.url, short(&from.commit));
                changes.push(Change::set(req.name.clone(), before, format!("git {} at {}", pin.url, pin.rev)));
                continue;
            }
            if !ok {
                let after = req.version.clone().unwrap_or_else(|| "any version".into());
                changes.push(Change::new(req.name.clone(), have.cloned(), Some(after)));
            }
        }
        if let (Some(None), Some(f)) = (&state.file, &self.file) {
            changes.push(Change::new("requirements", None, Some(format!("{f} (not on the host yet)"))));
        }
        let action = if any_installed { Action::Change } else { Action::Create };
        Diff::new(action, changes)
    }

    fn steps(&self, _state: &State, _diff: &Diff, sh: &mut Sh) {
        self.prelude(sh);
        self.install(sh);
        self.reinstall_moved(sh);
    }

    /// Downstream of a change (the venv made again, the checkout holding the
    /// requirements moved): install again, and say so only if the installed set changed.
    fn recheck(&self, sh: &mut Sh) -> bool {
        self.prelude(sh);
        sh.raw("cv_l() { ls -d -- \"$v\"/lib/python*/site-packages/*.*-info 2>/dev/null || true; }\nbefore=$(cv_l)\n");
        self.install(sh);
        sh.raw("if [ \"$(cv_l)\" != \"$before\" ]; then : > \"$CV_A\"; fi\n");
        self.reinstall_moved(sh);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pip(reqs: &[&str]) -> Pip {
        Pip {
            venv: "/srv/app/env".into(),
            requirements: reqs.iter().map(|r| parse_requirement(r).expect("req")).collect(),
            file: None,
            find_links: Some("/srv/wheels".into()),
            index: false,
            index_url: None,
        }
    }

    fn plan(p: &Pip, out: &str) -> (Diff, String) {
        crate::resources::plan_of(p, out)
    }

    const OUT: &str = "venv=1\ndist=pip-23.0.1.dist-info\ndist=Flask-2.2.2.dist-info\ndist=gunicorn-20.1.0-py3.11.egg-info\ndist=typing_extensions-4.5.0.dist-info\n";

    #[test]
    fn plans_per_package_from_dist_info_names() {
        let p = pip(&["flask==2.2.5", "gunicorn==20.1.0", "Typing.Extensions", "demo-pkg==1.0"]);
        let (diff, text) = plan(&p, OUT);
        assert_eq!(diff.action, Action::Change);
        assert_eq!(
            diff.changes,
            vec![Change::set("flask", "2.2.2", "2.2.5"), Change::new("demo-pkg", None, Some("1.0".into()))]
        );
        assert!(
            text.ends_with("cv_as \"$o\" \"$v/bin/python\" -m pip install --no-input --disable-pip-version-check --no-index --find-links=/srv/wheels -- 'flask==2.2.5' 'gunicorn==20.1.0' Typing.Extensions 'demo-pkg==1.0'\n"),
            "{text}"
        );
        assert!(plan(&pip(&["flask==2.2.2", "FLASK"]), OUT).0.is_ok());
    }

    #[test]
    fn a_missing_venv_is_all_absent() {
        let (diff, _) = plan(&pip(&["flask==2.2.5"]), "venv=0\n");
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes, vec![Change::new("flask", None, Some("2.2.5".into()))]);
        assert!(pip(&["x"]).parse("dist=oops\nvenv=1\n").is_err());
        assert!(pip(&["x"]).parse("").is_err());
    }

    #[test]
    fn requirements_file_on_the_host() {
        let mut p = pip(&[]);
        p.file = Some("/srv/app/src/requirements.txt".into());
        let text = "# deps\nflask==2.2.5 --hash=sha256:abc\ngunicorn>=20\n-r other.txt\n./local\nsix ; python_version < '3'\nrequests[socks]==2.28.1  # pinned\n";
        let reqs: Vec<(String, Option<String>)> = parse_file(text).into_iter().map(|r| (r.name, r.version)).collect();
        assert_eq!(
            reqs,
            vec![
                ("flask".into(), Some("2.2.5".into())),
                ("gunicorn".into(), None),
                ("requests".into(), Some("2.28.1".into()))
            ]
        );
        let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "flask==2.2.5\ngunicorn\n");
        let (diff, sh) = plan(&p, &format!("{OUT}reqfile=1\n--body--\n{body}\n"));
        assert_eq!(diff.changes, vec![Change::set("flask", "2.2.2", "2.2.5")]);
        assert!(sh.contains(" -r /srv/app/src/requirements.txt\n"), "{sh}");
        let (diff, _) = plan(&p, &format!("{OUT}reqfile=0\n"));
        assert_eq!(
            diff.changes,
            vec![Change::new("requirements", None, Some("/srv/app/src/requirements.txt (not on the host yet)".into()))]
        );
        assert!(p.deps().contains(&Implicit::new("git", "/srv/app/src", "checkout holding the requirements")));
    }

    #[test]
    fn names_and_versions() {
        assert_eq!(normalize("Typing__Extensions"), "typing-extensions");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert!(same_version("1.0.0", "1.0") && same_version("2.2.5", "2.2.*") && !same_version("2.3.0", "2.2.*"));
        assert!(same_version("1.0rc1", "1.0.rc1") && !same_version("1.0", "1.0.1"));
        assert!(parse_requirement("celery[redis]==5.2.7").is_some());
        for bad in ["flask>=2", "-e .", "flask==", "flask===1", "", "fl ask"] {
            assert!(parse_requirement(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_git_pin_is_compared_by_revision_not_version() {
        let spec = "git+file:///srv/upstream/elife-tools@1c81a51f283e#egg=elifetools";
        let p = Pip { requirements: vec![parse_git(spec).expect("pin")], ..pip(&[]) };
        let installed = |commit: &str| {
            format!(
                "venv=1\ndist=elifetools-0.1.0.dist-info\ndirect=elifetools-0.1.0.dist-info {{\"url\": \"file:///srv/upstream/elife-tools\", \"vcs_info\": {{\"commit_id\": \"{commit}\", \"requested_revision\": \"{commit}\", \"vcs\": \"git\"}}}}\n"
            )
        };
        assert!(plan(&p, &installed("1c81a51f283e409a6c45b3c72845b8337076575e")).0.is_ok());
        let (diff, sh) = plan(&p, &installed("5599c3729d700d842d4f671dfc0e82cadca3810b"));
        assert_eq!(
            diff.changes,
            vec![Change::set(
                "elifetools",
                "git file:///srv/upstream/elife-tools at 5599c3729d70",
                "git file:///srv/upstream/elife-tools at 1c81a51f283e"
            )]
        );
        assert!(sh.contains("--force-reinstall --no-deps --no-index --find-links=/srv/wheels -- \"$@\""), "{sh}");
        // installed from elsewhere than git, or by a pip that kept no record: pip decides
        assert!(plan(&p, "venv=1\ndist=elifetools-0.1.0.dist-info\n").0.is_ok());
        let garbled = "venv=1\ndist=elifetools-0.1.0.dist-info\ndirect=elifetools-0.1.0.dist-info {\n";
        assert!(plan(&p, garbled).0.is_ok());
        assert!(p.parse("venv=1\ndirect=nospace\n").is_err());
        // a plain requirement and no file: no check runs at apply time
        let (_, sh) = plan(&pip(&["flask==2.2.5"]), OUT);
        assert!(!sh.contains("CV_PY"), "{sh}");
    }

    #[test]
    fn recheck_reinstalls_and_reports_only_a_change() {
        let mut sh = Sh::new();
        assert!(pip(&["flask==2.2.5"]).recheck(&mut sh));
        assert!(sh.text().contains("before=$(cv_l)"), "{}", sh.text());
        assert!(sh.text().contains(": > \"$CV_A\""), "{}", sh.text());
    }
}
