//! The steps: pull the image as `pull` says, stop and remove a container that must be
//! created again, `run` it (or `create` it, stopped) with every wanted setting, or only
//! `start`, `stop` or `restart` it; before replacing anything, check that it is still the
//! container the plan saw.

use super::super::{Action, Change, Diff};
use super::{Container, LABEL_ENV, LABEL_EXTRA, Pull, State, Want};
use crate::script::Sh;

impl Container {
    /// The steps of a planned change (see [`super::super::Kind::steps`]).
    pub(super) fn write_steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        let e = self.engine.bin();
        sh.set("n", &self.name);
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        if let Some(o) = &state.container {
            // what is about to be replaced is still what the plan saw
            sh.raw("if [ -z \"${CV_DOWNSTREAM:-}\" ] && [ \"$(")
                .raw(e)
                .raw(" container inspect --format '{{.Id}}' -- \"$n\" 2>/dev/null)\" != ")
                .hex(&o.id)
                .raw(" ]; then cv_changed_since_plan \"container $n\"; fi\n");
        }
        if diff.action == Action::Remove {
            self.remove(sh);
            return;
        }
        let recreate = state.container.is_none() || diff.changes.iter().any(|c| matches!(c, Change::Note(_)));
        if recreate {
            self.pull(sh);
            if state.container.is_some() {
                self.remove(sh);
            }
            self.run(sh);
        } else {
            match diff.changes.iter().find(|c| c.field() == "state").and_then(|c| c.after()) {
                Some("running") => {
                    sh.raw(e).raw(" start -- \"$n\" >/dev/null\n");
                }
                Some(_) => {
                    sh.raw(e).raw(" stop -- \"$n\" >/dev/null\n");
                }
                None => {}
            }
            if diff.changes.iter().any(Change::is_refresh) {
                sh.raw(e).raw(" restart -- \"$n\" >/dev/null\n");
            }
        }
        if has("podman-restart.service") {
            sh.raw("systemctl enable podman-restart.service\n");
        }
    }

    fn pull(&self, sh: &mut Sh) {
        let e = self.engine.bin();
        sh.set("i", &self.image);
        match self.pull {
            Pull::Always => {
                sh.raw(e).raw(" pull -- \"$i\"\n");
            }
            Pull::Missing => {
                sh.raw("if ! ").raw(e).raw(" image inspect -- \"$i\" >/dev/null 2>&1; then ");
                sh.raw(e).raw(" pull -- \"$i\"; fi\n");
            }
            Pull::Never => {
                sh.raw("if ! ").raw(e).raw(" image inspect -- \"$i\" >/dev/null 2>&1; then ");
                sh.raw("printf '%s\\n' \"image $i is not on the host, and pull=\\\"never\\\"\" >&2; exit 1; fi\n");
            }
        }
    }

    /// Stops (gracefully, within the container's stop timeout) and removes it.
    fn remove(&self, sh: &mut Sh) {
        let e = self.engine.bin();
        sh.raw("if ").raw(e).raw(" container inspect -- \"$n\" >/dev/null 2>&1; then ");
        sh.raw(e).raw(" stop -- \"$n\" >/dev/null; ").raw(e).raw(" rm -f -- \"$n\" >/dev/null; fi\n");
    }

    /// `ENGINE run -d` (or `create`, for a stopped container) with every wanted setting.
    fn run(&self, sh: &mut Sh) {
        let e = self.engine.bin();
        sh.raw(e).raw(if self.state == Want::Running { " run -d" } else { " create" });
        sh.raw(" --name \"$n\"");
        let opt = |sh: &mut Sh, flag: &'static str, value: &str| {
            sh.sp().raw(flag).sp().q(value);
        };
        if let Some(v) = &self.runtime {
            opt(sh, "--runtime", v);
        }
        if let Some(v) = &self.cgroups {
            opt(sh, "--cgroups", v);
        }
        if let Some(v) = &self.network {
            opt(sh, "--network", v);
        }
        if let Some(v) = &self.restart {
            opt(sh, "--restart", v);
        }
        for p in &self.ports {
            opt(sh, "--publish", p);
        }
        for m in self.mounts.values() {
            let kind = if m.source.starts_with('/') { "bind" } else { "volume" };
            let ro = if m.read_only { ",readonly=true" } else { "" };
            opt(sh, "--mount", &format!("type={kind},source={},target={}{ro}", m.source, m.target));
        }
        for (k, v) in &self.env {
            opt(sh, "--env", &format!("{k}={v}"));
        }
        if !self.env.is_empty() {
            let keys: Vec<&str> = self.env.keys().map(String::as_str).collect();
            opt(sh, "--label", &format!("{LABEL_ENV}={}", keys.join(",")));
        }
        if !self.extra_args.is_empty() {
            let json = serde_json::to_string(&self.extra_args).unwrap_or_default();
            opt(sh, "--label", &format!("{LABEL_EXTRA}={json}"));
            for a in &self.extra_args {
                sh.sp().q(a);
            }
        }
        sh.raw(" -- \"$i\"");
        for w in self.command.iter().flatten() {
            sh.sp().q(w);
        }
        sh.raw(" >/dev/null\n");
    }
}
