//! `service`: a systemd unit's enablement and run state, and its restart when something
//! that notifies it changed.
//!
//! ```kdl
//! service "viewbovis" enabled=#true state="running"
//! service "nginx" state="running" on-notify="reload"
//! service "apache2" enabled=#false state="stopped"
//! ```
//!
//! Probed with `systemctl show` (one call for every service of a host). A resource with `notify="service:NAME"` that changes
//! makes this service restart (or reload, with `on-notify="reload"`) after it, unless the
//! same run starts it anyway. The restart owed is recorded on the host before the change
//! that owes it and cleared once done, so a run that fails in between leaves it to the next
//! run ("restart owed by an earlier run"). A service depends on its managed unit file and
//! on a managed package of the same name (or the one named by `package=`). If a unit file
//! changed on disk, `daemon-reload` runs before the service is touched.

use super::record::Record;
use super::unit::{check_unit_name, unit_name};
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, Refresh};
use crate::diag::{Code, Diag};
use crate::facts::{self, Fact, Need};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Service {
    name: String,
    unit: String,
    enabled: Option<bool>,
    running: Option<bool>,
    reload: bool,
    package: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub load: String,
    pub active: String,
    pub file_state: String,
}

impl State {
    fn enabled(&self) -> bool {
        matches!(self.file_state.as_str(), "enabled" | "enabled-runtime")
    }
    /// Units that cannot be enabled or disabled (static, generated, aliases).
    fn fixed(&self) -> bool {
        matches!(self.file_state.as_str(), "static" | "indirect" | "generated" | "alias" | "transient")
    }
    fn running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "reloading")
    }
}

/// What the probe asks `systemctl show`.
const PROPERTIES: &str = "-p LoadState -p ActiveState -p UnitFileState";

/// One `systemctl show` for the services of `units`: `$cv_svc` holds a block per unit, in
/// order (empty when systemctl failed), `$cv_svc_n` their number; each probe takes its
/// block by its place (`$cv_svc_k`), see [`Service::probe`].
pub static UNITS: Fact = Fact {
    name: "units",
    min: 2,
    accepts: facts::any,
    prelude: "",
    gather: |sh, units| {
        sh.raw("cv_svc_n=").num(units.len() as u64).raw("\ncv_svc=$(systemctl show ").raw(PROPERTIES).raw(" --");
        for u in units {
            sh.sp().q(u);
        }
        sh.raw(" 2>/dev/null) || cv_svc=\n");
    },
    hand: |sh, k| {
        sh.raw("cv_svc_k=").num(k as u64).nl();
    },
};

impl Kind for Service {
    const KIND: &'static str = "service";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Service> {
        let name = r.arg("a service name")?;
        check_unit_name(r, &name);
        let enabled = r.bool("enabled");
        let running = r.choice("state", &["running", "stopped"]).map(|s| s == "running");
        let reload = r.choice("on-notify", &["restart", "reload"]) == Some("reload");
        let package = r.nonempty("package");
        if let Some(p) = &package
            && !super::package::valid_name(&p.value)
        {
            r.error(Diag::new(Code::Package, format!("`{}` is not a package name", p.value), &p.at, "invalid name"));
        }
        let package = package.map(|p| p.value);
        if r.failed() {
            return None;
        }
        let unit = unit_name(&name.value);
        Some(Service { name: name.value, unit, enabled, running, reload, package })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let base = self.unit.strip_suffix(".service").unwrap_or(&self.unit).to_string();
        vec![
            Implicit::new("unit", self.unit.clone(), "unit file"),
            Implicit::new("file", format!("/etc/systemd/system/{}", self.unit), "unit file"),
            Implicit::new("package", self.package.clone().unwrap_or(base), "package"),
        ]
    }

    fn notifiable(&self) -> bool {
        true
    }

    fn facts(&self) -> Vec<Need> {
        vec![Need::new(&UNITS, &self.unit)]
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("u", &self.unit);
        // its block of the batch's `systemctl show` (one block per unit, in order), when
        // the batch holds one block per unit; otherwise its own
        sh.raw("if [ -n \"${cv_svc_k-}\" ] && b=$(printf '%s\\n' \"$cv_svc\" | awk -v k=\"$cv_svc_k\" -v n=\"$cv_svc_n\" 'BEGIN { RS = \"\" } { b[NR] = $0 } END { if (NR == n) print b[k + 1] }') && [ -n \"$b\" ]; then printf '%s\\n' \"$b\"\n");
        sh.raw("else systemctl show ").raw(PROPERTIES).raw(" -- \"$u\"; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(State {
            load: rec.req("LoadState")?.to_string(),
            active: rec.req("ActiveState")?.to_string(),
            file_state: rec.get("UnitFileState").unwrap_or("").to_string(),
        })
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        if let Some(want) = self.enabled
            && want != state.enabled()
            && !state.fixed()
        {
            changes.push(Change::set("enabled", state.enabled().to_string(), want.to_string()));
        }
        let mut starts = false;
        if let Some(want) = self.running
            && want != state.running()
        {
            starts = want;
            changes.push(Change::set("state", state.active.clone(), if want { "active" } else { "inactive" }));
        }
        // A service started in this run is notified too: a package installed before it may
        // already have started it with the old configuration, and then `start` does
        // nothing. `restart` and `reload-or-restart` also start a stopped service.
        let refresh_wanted = (!cx.notified_by.is_empty() || cx.owed) && self.running != Some(false);
        let runs_after = starts || (state.running() && self.running != Some(false));
        if refresh_wanted && runs_after {
            let why = if cx.notified_by.is_empty() {
                "owed by an earlier run".to_string()
            } else {
                let by: Vec<String> = cx.notified_by.iter().map(|i| i.to_string()).collect();
                format!("notified by {}", by.join(", "))
            };
            changes.push(Change::refresh(if self.reload { Refresh::Reload } else { Refresh::Restart }, why));
        }
        let action = if changes.iter().all(Change::is_refresh) { Action::Refresh } else { Action::Change };
        Diff::new(action, changes)
    }

    /// A package installed in the same run may enable and start the service its
    /// maintainer scripts ship: a service wanted disabled or stopped is checked again.
    fn recheck(&self, sh: &mut Sh) -> bool {
        if self.enabled != Some(false) && self.running != Some(false) {
            return false;
        }
        sh.set("u", &self.unit);
        if self.enabled == Some(false) {
            sh.raw("if [ \"$(systemctl is-enabled -- \"$u\" 2>/dev/null)\" = enabled ]; then systemctl disable -- \"$u\"; : > \"$CV_A\"; fi\n");
        }
        if self.running == Some(false) {
            sh.raw("if systemctl is-active --quiet -- \"$u\"; then systemctl stop -- \"$u\"; : > \"$CV_A\"; fi\n");
        }
        true
    }

    fn steps(&self, _state: &State, diff: &Diff, sh: &mut Sh) {
        let refreshes = diff.changes.iter().any(Change::is_refresh);
        sh.set("u", &self.unit);
        // systemd flags a changed unit file, but not a drop-in in a directory it has not
        // seen yet: a drop-in it has not loaded needs a daemon-reload too
        sh.raw("cv_reload=$(systemctl show -p NeedDaemonReload --value -- \"$u\")\n");
        sh.raw("cv_drop=\" $(systemctl show -p DropInPaths --value -- \"$u\") \"\n");
        sh.raw("for f in /etc/systemd/system/\"$u\".d/*.conf /run/systemd/system/\"$u\".d/*.conf; do\n");
        sh.raw("if [ -e \"$f\" ]; then case \"$cv_drop\" in *\" $f \"*) ;; *) cv_reload=yes ;; esac; fi\ndone\n");
        sh.raw("if [ \"$cv_reload\" = yes ]; then systemctl daemon-reload; fi\n");
        for c in &diff.changes {
            let verb: &'static str = match c {
                Change::Refresh { kind: Refresh::Reload, .. } => "reload-or-restart",
                Change::Refresh { .. } => "restart",
                _ => match (c.field(), c.after()) {
                    ("enabled", Some("true")) => "enable",
                    ("enabled", _) => "disable",
                    ("state", Some("active")) if refreshes => continue,
                    ("state", Some("active")) => "start",
                    ("state", _) => "stop",
                    _ => continue,
                },
            };
            sh.raw("systemctl ")
                .raw(verb)
                .raw(" -- \"$u\" || { systemctl status --no-pager --lines=15 -- \"$u\" >&2; exit 1; }\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceId;

    fn svc() -> Service {
        Service {
            name: "app".into(),
            unit: "app.service".into(),
            enabled: Some(true),
            running: Some(true),
            reload: false,
            package: None,
        }
    }

    #[test]
    fn a_probe_reads_its_own_block_of_the_batch() {
        let run = |batch: &'static str, k: u32, n: u32| {
            let mut sh = Sh::new();
            // a stand-in for systemctl: what the probe asks of it on its own
            sh.raw("systemctl() { echo own; }\ncv_svc=$(printf '").raw(batch).raw("')\n");
            sh.raw("cv_svc_k=").num(k).raw("\ncv_svc_n=").num(n).raw("\n");
            svc().probe(&mut sh);
            let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let two = "LoadState=loaded\\nActiveState=active\\n\\nLoadState=not-found\\nActiveState=inactive\\n";
        assert_eq!(run(two, 0, 2), "LoadState=loaded\nActiveState=active\n");
        assert_eq!(run(two, 1, 2), "LoadState=not-found\nActiveState=inactive\n");
        // not one block per unit: the probe asks on its own
        assert_eq!(run(two, 1, 3), "own\n");
        assert_eq!(run("", 0, 2), "own\n");
    }

    #[test]
    fn enables_and_starts_a_stopped_service() {
        let s = svc();
        let state = s.parse("LoadState=loaded\nActiveState=inactive\nUnitFileState=disabled\n").expect("parse");
        let diff = s.diff(&state, &PlanCx::default());
        assert_eq!(
            diff.changes,
            vec![Change::set("enabled", "false", "true"), Change::set("state", "inactive", "active")]
        );
        let mut sh = Sh::new();
        s.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("systemctl enable -- \"$u\""));
        assert!(sh.text().contains("systemctl start -- \"$u\""));
    }

    #[test]
    fn notified_services_restart_and_a_stopped_one_is_started_by_the_restart() {
        let s = svc();
        let running = s.parse("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n").expect("parse");
        assert!(s.diff(&running, &PlanCx::default()).is_ok());
        let cx = PlanCx { notified_by: vec![ResourceId::new("file", "/etc/app.conf")], ..PlanCx::default() };
        let diff = s.diff(&running, &cx);
        assert_eq!(diff.action, Action::Refresh);
        assert_eq!(diff.changes, vec![Change::refresh(Refresh::Restart, "notified by file:/etc/app.conf")]);
        // starting and notified: one restart, which also starts it
        let stopped = s.parse("LoadState=loaded\nActiveState=inactive\nUnitFileState=enabled\n").expect("parse");
        let diff = s.diff(&stopped, &cx);
        assert_eq!(diff.changes.len(), 2);
        let mut sh = Sh::new();
        s.steps(&stopped, &diff, &mut sh);
        assert!(sh.text().contains("systemctl restart") && !sh.text().contains("systemctl start"), "{}", sh.text());
    }

    #[test]
    fn owed_restart_is_planned() {
        let s = svc();
        let running = s.parse("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n").expect("parse");
        let diff = s.diff(&running, &PlanCx { owed: true, ..PlanCx::default() });
        assert_eq!(diff.changes[0].after(), Some("owed by an earlier run"));
    }

    #[test]
    fn static_units_are_not_enabled() {
        let s = svc();
        let state = s.parse("LoadState=loaded\nActiveState=active\nUnitFileState=static\n").expect("parse");
        assert!(s.diff(&state, &PlanCx::default()).is_ok());
        assert!(s.parse("ActiveState=active\n").is_err());
    }
}
