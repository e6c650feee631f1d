//! `venv`: a Python virtual environment, made with `python3 -m venv` as its owner.
//!
//! ```kdl
//! package "python3-venv"
//! user "app" system=#true home="/srv/app"
//! directory "/srv/app" owner="app"
//! venv "/srv/app/env" python="/usr/bin/python3" owner="app"
//! venv "/opt/tools/env" system-site-packages=#true
//! ```
//!
//! `python` is the interpreter the environment is made from (default `/usr/bin/python3`);
//! `owner` the user who owns it and as whom it is made (default: who the exchange runs as,
//! root with `become`); `system-site-packages` whether it sees the system's packages
//! (default `#false`).
//!
//! Probe: `pyvenv.cfg` (its `version`, `executable` and `include-system-site-packages`),
//! where the environment's `bin/python` resolves to, and the wanted interpreter's real
//! path and `MAJOR.MINOR` version, read from its file name (`python3.11`) so no Python
//! starts on a no-op run. An environment is made again when its interpreter is not the
//! wanted one any more: another path, another `MAJOR.MINOR` (the system's python3 moved
//! from 3.11 to 3.12 under it), or a `bin/python` that points nowhere. A venv cannot be
//! moved to another interpreter in place, and its installed packages are built for the
//! old one; a `pip` resource on it installs them again in the same run (it is checked
//! again at apply time, downstream of this change).
//!
//! `system-site-packages` is changed in `pyvenv.cfg` in place (that is all `venv` does
//! for it); a wrong owner is fixed with `chown -R`. A file or a non-empty directory that
//! is not a venv is refused, never removed. A venv depends on `package:python3-venv`, its
//! owner and its managed parent directories.

use super::file::read_path;
use super::record::Record;
use super::runas::{self, read_user};
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

#[derive(Debug)]
pub struct Venv {
    path: String,
    python: String,
    owner: Option<String>,
    system_site: bool,
}

/// The wanted interpreter, as found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    /// Real path (symlinks resolved).
    pub real: String,
    /// `MAJOR.MINOR`.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Env {
    /// Nothing, or an empty directory.
    Absent,
    /// Not a venv, never replaced: "file", "symlink", "non-empty directory".
    Other(String),
    Present(Cfg),
}

/// What an existing venv says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cfg {
    pub owner: String,
    /// `version` of `pyvenv.cfg`, `MAJOR.MINOR` only.
    pub version: Option<String>,
    /// The interpreter it was made from: `executable` of `pyvenv.cfg` (Python 3.11+), or
    /// where its `bin/python` resolves to. `None`: `bin/python` points nowhere.
    pub interpreter: Option<String>,
    pub system_site: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// `None`: the wanted interpreter is not installed (yet).
    pub python: Option<Python>,
    pub env: Env,
}

/// `3.11.2` → `3.11`; `3.11` stays.
fn major_minor(v: &str) -> String {
    let v: String = v.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    v.split('.').filter(|s| !s.is_empty()).take(2).collect::<Vec<_>>().join(".")
}

impl Venv {
    fn recreates(&self, state: &State) -> Option<Change> {
        let Env::Present(cfg) = &state.env else { return None };
        let have = match (&cfg.version, &cfg.interpreter) {
            (Some(v), Some(i)) => format!("{v} ({i})"),
            (None, Some(i)) => i.clone(),
            (Some(v), None) => format!("{v} (its bin/python points nowhere)"),
            (None, None) => "(its bin/python points nowhere)".into(),
        };
        let Some(py) = &state.python else {
            return Some(Change::set("python", have, format!("{} (not installed yet)", self.python)));
        };
        let same = cfg.interpreter.as_deref() == Some(py.real.as_str())
            && cfg.version.as_deref().is_none_or(|v| v == py.version);
        (!same).then(|| Change::set("python", have, format!("{} ({})", py.version, py.real)))
    }
}

impl Kind for Venv {
    const KIND: &'static str = "venv";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Venv> {
        let path = read_path(r);
        let python = r.nonempty("python");
        let become_user = r.become_user();
        let owner = read_user(r, "owner").or(become_user);
        let system_site = r.bool("system-site-packages").unwrap_or(false);
        if let Some(p) = &python {
            r.absolute_path(
                p,
                PathRule::Absolute,
                Some("name the interpreter by its full path, e.g. \"/usr/bin/python3\""),
            );
        }
        if r.failed() {
            return None;
        }
        let python = python.map(|p| p.value).unwrap_or_else(|| "/usr/bin/python3".into());
        Some(Venv { path: path?, python, owner, system_site })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        d.push(Implicit::new("directory", self.path.clone(), "made in"));
        if let Some(o) = &self.owner {
            d.push(Implicit::new("user", o.clone(), "owner"));
        }
        d.push(Implicit::new("package", "python3-venv", "python3 -m venv"));
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.set("py", &self.python);
        sh.raw(
            r#"if real=$(readlink -f -- "$py") && [ -f "$real" ] && [ -x "$real" ]; then printf '%s\n' "python=$real"
case "${real##*/}" in python[0-9]*.[0-9]*) printf '%s\n' "pyver=${real##*/python}";; *) printf '%s\n' "pyver=$("$real" -c 'import sys; print("%d.%d" % sys.version_info[:2])')";; esac
else echo python=missing; fi
if [ -L "$p" ]; then echo type=symlink
elif [ -f "$p/pyvenv.cfg" ]; then echo type=venv
stat -c 'owner=%U' -- "$p"
sed -n 's/^ *\([A-Za-z0-9_.-]*\) *= */cfg.\1=/p' -- "$p/pyvenv.cfg"
if [ -x "$p/bin/python" ]; then printf '%s\n' "bin=$(readlink -f -- "$p/bin/python")"; else echo bin=; fi
elif [ -d "$p" ]; then if [ -z "$(ls -A -- "$p")" ]; then echo type=empty; else echo type=directory; fi
elif [ -e "$p" ]; then echo type=file
else echo type=absent
fi
"#,
        );
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let python = match rec.req("python")? {
            "missing" => None,
            real => Some(Python { real: real.to_string(), version: major_minor(rec.req("pyver")?) }),
        };
        if let Some(p) = &python
            && p.version.is_empty()
        {
            return Err(ProbeError(format!("cannot tell the version of {}", p.real)));
        }
        let env = match rec.req("type")? {
            "absent" | "empty" => Env::Absent,
            "symlink" => Env::Other("symlink".into()),
            "file" => Env::Other("file".into()),
            "directory" => Env::Other("non-empty directory".into()),
            "venv" => {
                let cfg = |k: &str| rec.get(&format!("cfg.{k}")).map(str::trim).filter(|s| !s.is_empty());
                let bin = rec.req("bin")?.trim();
                let interpreter = match (cfg("executable"), bin) {
                    (_, "") => None,
                    (Some(e), _) => Some(e.to_string()),
                    (None, b) => Some(b.to_string()),
                };
                Env::Present(Cfg {
                    owner: rec.req("owner")?.to_string(),
                    version: cfg("version").map(major_minor),
                    interpreter,
                    system_site: cfg("include-system-site-packages").is_some_and(|v| v.eq_ignore_ascii_case("true")),
                })
            }
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        };
        Ok(State { python, env })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let wanted_python = match &state.python {
            Some(p) => format!("{} ({})", p.version, p.real),
            None => format!("{} (not installed yet)", self.python),
        };
        let cfg = match &state.env {
            Env::Absent => {
                let mut c = vec![
                    Change::new("python", None, Some(wanted_python)),
                    Change::new("system-site-packages", None, Some(self.system_site.to_string())),
                ];
                if let Some(o) = &self.owner {
                    c.push(Change::new("owner", None, Some(o.clone())));
                }
                return Diff::new(Action::Create, c);
            }
            Env::Other(t) => return Diff::new(Action::Change, vec![Change::set("type", t.clone(), "virtualenv")]),
            Env::Present(cfg) => cfg,
        };
        if let Some(c) = self.recreates(state) {
            return Diff::new(Action::Change, vec![c]);
        }
        let mut changes = Vec::new();
        if let Some(o) = self.owner.as_ref().filter(|o| **o != cfg.owner) {
            changes.push(Change::set("owner", cfg.owner.clone(), o.clone()));
        }
        if cfg.system_site != self.system_site {
            changes.push(Change::set(
                "system-site-packages",
                cfg.system_site.to_string(),
                self.system_site.to_string(),
            ));
        }
        Diff::new(Action::Change, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.set("py", &self.python);
        sh.set("o", self.owner.as_deref().unwrap_or(""));
        runas::define(sh);
        let recreate = diff.changes.iter().any(|c| c.field() == "python");
        match &state.env {
            Env::Other(t) => {
                sh.raw("printf '%s\\n' \"refusing to make a virtualenv in $p: it is a ")
                    .raw(static_type(t))
                    .raw("\" >&2; exit 1\n");
            }
            Env::Absent => {
                sh.raw("if [ -e \"$p/pyvenv.cfg\" ]; then cv_changed_since_plan \"$p is already a virtualenv\"; fi\n");
                self.create(sh);
            }
            Env::Present(_) if recreate => {
                sh.raw("[ -x \"$py\" ] || { printf '%s\\n' \"$py is not installed\" >&2; exit 1; }\n");
                sh.raw("rm -rf -- \"$p\"\n");
                self.create(sh);
            }
            Env::Present(_) => {
                if diff.changes.iter().any(|c| c.field() == "owner") {
                    sh.raw("chown -R -- \"$o\" \"$p\"\n");
                }
                if diff.changes.iter().any(|c| c.field() == "system-site-packages") {
                    sh.raw("cv_as \"$(stat -c %U -- \"$p\")\" sed -i 's/^ *include-system-site-packages *=.*/include-system-site-packages = ")
                        .raw(if self.system_site { "true" } else { "false" })
                        .raw("/' -- \"$p/pyvenv.cfg\"\n");
                }
            }
        }
    }
}

impl Venv {
    /// The directory (root makes it, so the owner needs no right on the parent), then the
    /// venv inside it, as the owner.
    fn create(&self, sh: &mut Sh) {
        sh.raw("[ -x \"$py\" ] || { printf '%s\\n' \"$py is not installed\" >&2; exit 1; }\n");
        sh.raw("mkdir -p -- \"$p\"\n");
        if self.owner.is_some() {
            sh.raw("chown -- \"$o\" \"$p\"\n");
        }
        sh.raw("cv_as \"$o\" \"$py\" -m venv ");
        if self.system_site {
            sh.raw("--system-site-packages ");
        }
        sh.raw("-- \"$p\"\n");
    }
}

fn static_type(t: &str) -> &'static str {
    match t {
        "symlink" => "symlink",
        "file" => "file",
        _ => "non-empty directory that is not a virtualenv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venv() -> Venv {
        Venv {
            path: "/srv/app/env".into(),
            python: "/usr/bin/python3".into(),
            owner: Some("app".into()),
            system_site: false,
        }
    }

    const PY: &str = "python=/usr/bin/python3.11\npyver=3.11\n";
    const CFG: &str = "type=venv\nowner=app\ncfg.home=/usr/bin\ncfg.include-system-site-packages=false\ncfg.version=3.11.2\ncfg.executable=/usr/bin/python3.11\ncfg.command=/usr/bin/python3 -m venv /srv/app/env\nbin=/usr/bin/python3.11\n";

    fn plan(v: &Venv, out: &str) -> (Diff, String) {
        crate::resources::plan_of(v, out)
    }

    #[test]
    fn creates_as_the_owner() {
        let (diff, text) = plan(&venv(), &format!("{PY}type=absent\n"));
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes[0], Change::new("python", None, Some("3.11 (/usr/bin/python3.11)".into())));
        assert!(text.contains("mkdir -p -- \"$p\"\nchown -- \"$o\" \"$p\"\n"), "{text}");
        assert!(text.contains("cv_as \"$o\" \"$py\" -m venv -- \"$p\"\n"), "{text}");
    }

    #[test]
    fn in_sync_reads_pyvenv_cfg() {
        assert!(plan(&venv(), &format!("{PY}{CFG}")).0.is_ok());
    }

    #[test]
    fn another_python_recreates() {
        let out = format!("python=/usr/bin/python3.12\npyver=3.12\n{CFG}");
        let (diff, text) = plan(&venv(), &out);
        assert_eq!(
            diff.changes,
            vec![Change::set("python", "3.11 (/usr/bin/python3.11)", "3.12 (/usr/bin/python3.12)")]
        );
        assert!(text.contains("rm -rf -- \"$p\"\n"), "{text}");
        assert!(text.contains("-m venv -- \"$p\""), "{text}");
        // a bin/python that points nowhere recreates too
        let out = format!("{PY}{}", CFG.replace("bin=/usr/bin/python3.11", "bin="));
        assert!(plan(&venv(), &out).1.contains("rm -rf"));
    }

    #[test]
    fn system_site_packages_and_owner_change_in_place() {
        let mut v = venv();
        v.system_site = true;
        let out = format!("{PY}{}", CFG.replace("owner=app", "owner=root"));
        let (diff, text) = plan(&v, &out);
        assert_eq!(
            diff.changes,
            vec![Change::set("owner", "root", "app"), Change::set("system-site-packages", "false", "true")]
        );
        assert!(!text.contains("rm -rf"), "{text}");
        assert!(text.contains("chown -R -- \"$o\" \"$p\""), "{text}");
        assert!(text.contains("include-system-site-packages = true/'"), "{text}");
    }

    #[test]
    fn refusals_and_probe_errors() {
        let (_, text) = plan(&venv(), &format!("{PY}type=directory\n"));
        assert!(text.contains("refusing to make a virtualenv in $p"), "{text}");
        assert!(venv().parse("type=absent\n").is_err());
        assert!(venv().parse(&format!("{PY}type=venv\nowner=app\n")).is_err(), "no bin line");
        assert_eq!(major_minor("3.11.2"), "3.11");
        assert_eq!(major_minor("3.12"), "3.12");
    }
}
