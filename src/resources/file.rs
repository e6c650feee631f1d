//! `file`: a regular file with given content, owner, group and mode.
//!
//! ```kdl
//! file "/etc/viewbovis/app.env" content="PORT=3000\n" owner="viewbovis" mode="0640"
//! file "/etc/nginx/sites-available/viewbovis" template="templates/site.j2" backup=#true
//! file "/usr/local/bin/deploy.sh" source="files/deploy.sh" mode="0755"
//! file "/etc/old.conf" state="absent"
//! file "/etc/sudoers.d/deploy" content="deploy ALL=(ALL) NOPASSWD: /usr/bin/systemctl\n" mode="0440" validate="visudo -cf %s"
//! ```
//!
//! Content comes from `content=` (a string, rendered with the host's variables),
//! `template=` (a Jinja template rendered on the controller, path relative to the
//! playbook) or `source=` (a file shipped byte for byte). Without any, only owner, group
//! and mode are managed (the file must exist or is created empty). `backup=#true` keeps
//! what a write replaces under `/var/lib/converge/backup/`. `sensitive=#true` keeps the
//! content out of every plan and log. Writes are atomic (see `content.rs`).
//! `validate="CMD %s"` checks the new content in its temp file before the rename; the
//! old file is kept when CMD fails, and the step fails with CMD's message
//! (`validate.rs`).

use super::content::{self, Desired};
use super::ownership::{self, Ownership};
use super::record::Record;
use super::validate::Validate;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag};
use crate::facts::{self, Need};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

#[derive(Debug)]
pub struct File {
    path: String,
    present: bool,
    content: Option<Desired>,
    ownership: Ownership,
    backup: bool,
    validate: Option<Validate>,
    /// For a unit file: its unit name, checked with `systemd-analyze verify` before it
    /// replaces the old one.
    unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    File {
        meta: ownership::Observed,
        content: content::Observed,
    },
    /// Something other than a regular file is in the way (a directory, a socket).
    Other(String),
}

/// Reads an absolute path argument, shared by every kind named by a path.
pub fn read_path(r: &mut NodeReader) -> Option<String> {
    let p = r.arg("a path")?;
    if !r.absolute_path(&p, PathRule::Canonical, None) {
        return None;
    }
    let trimmed = p.value.trim_end_matches('/');
    Some(if trimmed.is_empty() { "/".into() } else { trimmed.into() })
}

impl File {
    /// A file managed on behalf of another kind (a unit file).
    pub fn managed(path: String, present: bool, content: Option<Desired>, ownership: Ownership) -> File {
        File { path, present, content, ownership, backup: false, validate: None, unit: None }
    }

    /// The unit file of `unit`: its new content is checked with `systemd-analyze verify`
    /// (as a copy named like the unit, in a directory of its own) before it replaces the
    /// old one. A host without systemd-analyze is not checked.
    pub fn verified_unit(mut self, unit: &str) -> File {
        self.unit = Some(unit.to_string());
        self
    }
}

impl Kind for File {
    const KIND: &'static str = "file";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<File> {
        let path = read_path(r);
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let content = Desired::read(r);
        let ownership = Ownership::read(r);
        let backup = r.bool("backup").unwrap_or(false);
        let validate = Validate::read(r);
        if let Some(v) = &validate
            && (content.is_none() || !present)
        {
            let why = if present { "there is no new content to check" } else { "an absent file has no content" };
            r.error(
                Diag::new(Code::Validate, "`validate` checks new content", &v.at, why)
                    .help("give `content=`, `template=` or `source=`, or remove `validate`"),
            );
            return None;
        }
        Some(File { path: path?, present, content, ownership, backup, validate: validate.map(|v| v.value), unit: None })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        d.extend(self.ownership.deps());
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.raw("if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then echo type=file\n");
        ownership::Ownership::probe(sh);
        match &self.content {
            Some(c) => c.probe(sh),
            None => {
                sh.raw("echo sha256=0000000000000000000000000000000000000000000000000000000000000000\n");
            }
        }
        sh.raw("elif [ -L \"$p\" ]; then echo type=symlink\nelif [ -d \"$p\" ]; then echo type=directory\nelif [ -e \"$p\" ]; then echo type=other\nelse echo type=absent\nfi\n");
    }

    fn facts(&self) -> Vec<Need> {
        let mut needs = vec![Need::new(&facts::STAT, &self.path)];
        if self.content.is_some() {
            needs.push(Need::new(&facts::SHA256, &self.path));
        }
        needs
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(match rec.req("type")? {
            "absent" => State::Absent,
            "file" => State::File { meta: Ownership::parse(&rec)?, content: Desired::parse(&rec)? },
            // a symlink is replaced by the file (the rename replaces the link itself)
            "symlink" => State::Absent,
            t @ ("directory" | "other") => State::Other(t.to_string()),
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        match (state, self.present) {
            (State::Absent, false) => Diff::ok(),
            (State::File { .. }, false) => {
                Diff::new(Action::Remove, vec![Change::new("state", Some("present".into()), None)])
            }
            (State::Other(t), false) => Diff::new(Action::Remove, vec![Change::new("state", Some(t.clone()), None)]),
            (State::Other(t), true) => Diff::new(Action::Change, vec![Change::set("type", t.clone(), "file")]),
            (State::Absent, true) => {
                let mut changes: Vec<Change> = Vec::new();
                match &self.content {
                    Some(c) => changes.extend(c.diff(None)),
                    None => changes.push(Change::new("state", None, Some("present (empty)".into()))),
                }
                changes.extend(self.ownership.diff(None, 0o644));
                Diff::new(Action::Create, changes)
            }
            (State::File { meta, content }, true) => {
                let mut changes: Vec<Change> = Vec::new();
                if let Some(c) = &self.content {
                    changes.extend(c.diff(Some(content)));
                }
                changes.extend(self.ownership.diff(Some(meta), 0o644));
                Diff::new(Action::Change, changes)
            }
        }
    }

    fn recheck(&self, sh: &mut Sh) -> bool {
        if self.present {
            return false;
        }
        sh.set("p", &self.path);
        sh.raw("if [ -f \"$p\" ] || [ -L \"$p\" ]; then\n");
        if self.backup {
            content::backup(sh);
        }
        sh.raw("rm -f -- \"$p\"; : > \"$CV_A\"; fi\n");
        true
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("p", &self.path);
        let expected = match state {
            State::File { content, .. } => Some(content.sha256.as_str()),
            _ => None,
        };
        if let State::Other(t) = state {
            sh.raw("printf '%s\\n' \"refusing to replace a ")
                .raw(static_type(t))
                .raw(" with a file: $p\" >&2; exit 1\n");
            return;
        }
        if !self.present {
            if self.backup {
                content::backup(sh);
            }
            sh.raw("rm -f -- \"$p\"\n");
            return;
        }
        let writes = diff.changes.iter().any(|c| c.field() == "content") || matches!(state, State::Absent);
        if writes {
            if self.backup {
                content::backup(sh);
            }
            let empty = Desired::new(Vec::new(), false);
            let desired = self.content.as_ref().unwrap_or(&empty);
            let own = &self.ownership;
            desired.write(expected, sh, |sh| {
                own.steps(&own.explicit(), "\"$tmp\"", sh);
                if let Some(v) = &self.validate {
                    v.steps(sh);
                }
                if let Some(unit) = &self.unit {
                    verify_unit(unit, sh);
                }
            });
        } else {
            self.ownership.steps(&diff.changes, "\"$p\"", sh);
        }
    }
}

/// `systemd-analyze verify` on `"$tmp"`, copied under the unit's own name (verify takes
/// the unit's type from it); on failure, its message and the old file kept.
fn verify_unit(unit: &str, sh: &mut Sh) {
    sh.raw("if command -v systemd-analyze >/dev/null 2>&1; then\ncv_vd=$(mktemp -d)\ncv_vu=").q(unit).nl();
    sh.raw("cp -- \"$tmp\" \"$cv_vd/$cv_vu\"\n");
    sh.raw("if ! cv_out=$(cd \"$cv_vd\" && systemd-analyze verify --man=no \"./$cv_vu\" 2>&1 </dev/null); then rm -rf -- \"$cv_vd\"; printf '%s\\n' \"$cv_out\" >&2; printf '%s\\n' \"systemd-analyze verify refused the new unit: $p is unchanged\" >&2; exit 1; fi\n");
    sh.raw("rm -rf -- \"$cv_vd\"\nfi\n");
}

fn static_type(t: &str) -> &'static str {
    match t {
        "directory" => "directory",
        "symlink" => "symlink",
        _ => "special file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> File {
        File {
            path: "/etc/app.conf".into(),
            present: true,
            content: Some(Desired::new(content.as_bytes().to_vec(), false)),
            ownership: Ownership { owner: Some("app".into()), group: None, mode: Some(0o640), login_group: false },
            backup: false,
            validate: None,
            unit: None,
        }
    }

    #[test]
    fn validate_and_unit_checks_run_on_the_temp_file_before_the_rename() {
        let mut f = file("x\n");
        f.validate = Some(Validate::of(vec![vec!["visudo".into()], vec!["-cf".into()], vec!["".into(), "".into()]]));
        let f = f.verified_unit("app.service");
        let state = f.parse("type=absent\n").expect("parse");
        let diff = f.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        f.steps(&state, &diff, &mut sh);
        let text = sh.text();
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"));
        assert!(at("visudo -cf \"$tmp\" 2>&1 </dev/null") < at("systemd-analyze verify --man=no"));
        assert!(at("systemd-analyze verify --man=no") < at("mv -f -- \"$tmp\" \"$p\""));
        assert!(text.contains("cv_vu=app.service\n"), "{text}");
        assert!(text.contains("validate refused the new content: $p is unchanged"), "{text}");
    }

    /// The unit check itself, run by this machine's systemd-analyze: a command that is not
    /// there is refused with systemd's own message, and the old file stays.
    #[test]
    fn a_unit_systemd_refuses_leaves_the_old_file() {
        if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
            panic!("systemd-analyze is needed (Debian: systemd) to run the unit check");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("app.service");
        std::fs::write(&p, "[Service]\nExecStart=/bin/true\n").expect("write");
        let run = |content: &str| {
            let f = File::managed(
                p.display().to_string(),
                true,
                Some(Desired::new(content.as_bytes().to_vec(), false)),
                Ownership::default(),
            )
            .verified_unit("app.service");
            // planned as absent, run as downstream of a change: the plan's guard stands aside
            let state = State::Absent;
            let diff = f.diff(&state, &PlanCx::default());
            let mut sh = Sh::new();
            sh.raw("CV_DOWNSTREAM=1\n");
            f.steps(&state, &diff, &mut sh);
            std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh")
        };
        let refused = run("[Service]\nExecStart=/nonexistent/worker --v2\n");
        assert_eq!(refused.status.code(), Some(1));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("/nonexistent/worker is not executable"), "{err}");
        assert!(err.contains("systemd-analyze verify refused the new unit"), "{err}");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "[Service]\nExecStart=/bin/true\n");
        let taken = run("[Service]\nExecStart=/bin/echo v2\n");
        assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "[Service]\nExecStart=/bin/echo v2\n");
        assert!(std::fs::read_dir(dir.path()).expect("dir").count() == 1, "no temp file left");
    }

    #[test]
    fn absent_file_is_created_with_content_owner_and_mode() {
        let f = file("a=1\n");
        let state = f.parse("type=absent\n").expect("parse");
        let diff = f.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["content", "owner", "mode"]);
        let mut sh = Sh::new();
        f.steps(&state, &diff, &mut sh);
        let text = sh.text();
        assert!(text.contains("[ \"$cur\" != absent ]"), "{text}");
        assert!(text.contains("chown -- app \"$tmp\""), "{text}");
        assert!(text.contains("chmod 0640 \"$tmp\""), "{text}");
        assert!(text.contains("mv -f -- \"$tmp\" \"$p\""), "{text}");
    }

    #[test]
    fn in_sync_file_has_no_changes() {
        let f = file("a=1\n");
        let sha = Desired::new(b"a=1\n".to_vec(), false).sha256;
        let out = format!("type=file\nstat=app:1000:app:1000:640\nsha256={sha}\n");
        let state = f.parse(&out).expect("parse");
        assert!(f.diff(&state, &PlanCx::default()).is_ok());
    }

    #[test]
    fn mode_only_change_does_not_rewrite() {
        let f = file("a=1\n");
        let sha = Desired::new(b"a=1\n".to_vec(), false).sha256;
        let state = f.parse(&format!("type=file\nstat=app:1000:app:1000:644\nsha256={sha}\n")).expect("parse");
        let diff = f.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        f.steps(&state, &diff, &mut sh);
        assert_eq!(sh.text(), "p=/etc/app.conf\nchmod 0640 \"$p\"\n");
    }

    #[test]
    fn a_directory_in_the_way_is_refused() {
        let f = file("x");
        let state = f.parse("type=directory\n").expect("parse");
        let diff = f.diff(&state, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("type", "directory", "file")]);
        let mut sh = Sh::new();
        f.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("refusing to replace a directory"));
    }
}
