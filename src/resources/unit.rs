//! `unit`: a systemd unit file in `/etc/systemd/system`, with `daemon-reload` when it
//! changes.
//!
//! ```kdl
//! unit "viewbovis.service" template="templates/viewbovis.service.j2"
//! unit "download-data" content="[Service]\nType=oneshot\nExecStart=/bin/true\n"
//! unit "old.timer" state="absent"
//! ```
//!
//! A name without a unit suffix gets `.service`. Content comes from `content=`,
//! `template=` or `source=`, as for `file`; the file is root-owned, mode 0644, written
//! atomically, and only once `systemd-analyze verify` accepts the new content: a unit it
//! refuses (a command that is not executable, a value systemd cannot parse) fails the step
//! with its message and the old unit stays, so `daemon-reload` never sees it. Declare a
//! unit after what provides the programs it runs (or `require` it): the check looks for
//! them. Whether the unit runs is the business of a `service` resource, which
//! depends on its unit automatically; to restart it when the unit changes, add
//! `notify="service:NAME"`.

use super::content::Desired;
use super::file::{self, File};
use super::ownership::Ownership;
use super::{Diff, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::facts::Need;
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

const SUFFIXES: &[&str] = &[".service", ".socket", ".timer", ".target", ".mount", ".path", ".slice", ".automount"];

#[derive(Debug)]
pub struct Unit {
    name: String,
    file: File,
}

/// What systemd takes as a unit name (`unit_name_is_valid`): letters, digits and
/// `:-_.\\@`, at most 255 bytes with its suffix; no leading `.` (a hidden file).
pub fn valid_unit_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && unit_name(name).len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b":-_.\\@".contains(&b))
}

/// Refuses a unit or service name systemd would not take, on its token.
pub fn check_unit_name(r: &mut NodeReader, name: &Spanned<String>) -> bool {
    if valid_unit_name(&name.value) {
        return true;
    }
    r.error(
        Diag::new(Code::Unit, format!("`{}` is not a unit name", name.value), &name.at, "not a systemd unit name")
            .help("a unit name is letters, digits and `:-_.\\@`, like `gunicorn` or `app@1.service`"),
    );
    false
}

/// `nginx` → `nginx.service`; names with a unit suffix stay as they are.
pub fn unit_name(name: &str) -> String {
    if SUFFIXES.iter().any(|s| name.ends_with(s)) { name.to_string() } else { format!("{name}.service") }
}

impl Kind for Unit {
    const KIND: &'static str = "unit";
    type State = file::State;

    fn build(r: &mut NodeReader) -> Option<Unit> {
        let name = r.arg("a unit name")?;
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let content = Desired::read(r);
        if !check_unit_name(r, &name) {
            return None;
        }
        if present && content.is_none() && !r.failed() {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "a unit needs its content", &at, "no content")
                    .help("give `content=`, `template=` or `source=`"),
            );
            return None;
        }
        let unit = unit_name(&name.value);
        let own =
            Ownership { owner: Some("root".into()), group: Some("root".into()), mode: Some(0o644), login_group: false };
        let file = File::managed(format!("/etc/systemd/system/{unit}"), present, content, own).verified_unit(&unit);
        Some(Unit { name: unit, file })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn probe(&self, sh: &mut Sh) {
        self.file.probe(sh)
    }

    fn facts(&self) -> Vec<Need> {
        self.file.facts()
    }

    fn parse(&self, out: &str) -> Result<file::State, ProbeError> {
        self.file.parse(out)
    }

    fn diff(&self, state: &file::State, cx: &PlanCx) -> Diff {
        self.file.diff(state, cx)
    }

    fn steps(&self, state: &file::State, diff: &Diff, sh: &mut Sh) {
        self.file.steps(state, diff, sh);
        sh.raw("systemctl daemon-reload\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_a_suffix() {
        assert_eq!(unit_name("nginx"), "nginx.service");
        assert_eq!(unit_name("backup.timer"), "backup.timer");
    }

    #[test]
    fn a_changed_unit_reloads_systemd() {
        let own =
            Ownership { owner: Some("root".into()), group: Some("root".into()), mode: Some(0o644), login_group: false };
        let file = File::managed(
            "/etc/systemd/system/a.service".into(),
            true,
            Some(Desired::new(b"[Unit]\n".to_vec(), false)),
            own,
        );
        let u = Unit { name: "a.service".into(), file };
        let state = u.parse("type=absent\n").expect("parse");
        let diff = u.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        u.steps(&state, &diff, &mut sh);
        assert!(sh.text().ends_with("systemctl daemon-reload\n"));
    }
}
