//! `container`: a long-running container from an image, run by docker or podman, with
//! its command, environment, mounts, published ports, network and restart policy.
//!
//! ```kdl
//! container "viewbovis" image="aphacsubot/viewbovis:prod" network="host" restart="always" {
//!     mount "/ViewBovis" "/data"
//!     mount "/var/log/viewbovis-access.log" "/ViewBovis/access.log"
//!     env { LOG_LEVEL "info" }
//! }
//! container "web" engine="podman" image="localhost/app:1" runtime="crun" cgroups="disabled" {
//!     command "/bin/busybox" "httpd" "-f" "-p" "8080"
//!     port "8080:80"
//!     mount "/srv/www" "/www" read-only=#true
//! }
//! container "worker" image="app:2" command="celery -A app worker" state="stopped"
//! container "old" state="absent"
//! ```
//!
//! Probe: `ENGINE container inspect NAME` and `ENGINE image inspect IMAGE`, whose JSON is
//! read on the controller (`inspect.rs`) and compared field by field with what is wanted:
//! the image (by ID, so a tag that moved to a new image counts), the command (the image's
//! default when none is given), the environment, mounts, published ports, network, restart
//! policy, runtime, podman's cgroups mode and `extra-args`, and whether it runs. A
//! container cannot be changed in place, so any of these differing makes the step stop
//! it, remove it and run it again; the plan names each differing field and says so.
//! Only whether it runs is changed without a re-creation (`start`, `stop`).
//!
//! What the engine cannot report back is recorded in labels on the container:
//! `converge.env` lists the variables the playbook set (so one removed from the playbook
//! is noticed, while those the image and engine add are not ours to judge) and
//! `converge.extra-args` holds the extra arguments. `network`, `restart`, `runtime` and
//! `cgroups` are compared only when given; the command, env, mounts and ports always.
//!
//! Both engines share one code path: the `docker` and `podman` CLIs take the same
//! arguments for everything used here (`cgroups` is podman's only, and refused for
//! docker). `pull`: `"missing"` (default) pulls when the image is not on the host,
//! `"always"` pulls before every (re-)creation, `"never"` fails if it is missing. The
//! probe never contacts a registry, so a tag moved on the registry is seen only once
//! pulled.
//!
//! Environment values, the command and `extra-args` end up on the engine's command line
//! (and in `inspect`), so a value holding a secret is refused there at build time: a
//! secret goes in a file, mounted into the container.
//!
//! With `notify="container:NAME"` a change elsewhere (a bind-mounted config file)
//! restarts the container, unless the same run creates or starts it anyway.
//!
//! podman has no daemon: containers with `restart="always"` come back after a reboot only
//! through `podman-restart.service`, so for those the kind also makes sure that unit is
//! enabled (a field of the plan when it is not). `unless-stopped` and `on-failure`
//! containers are not restarted at boot by podman.
//!
//! A container depends on its engine's package (`podman`, `docker.io` or `docker-ce`),
//! the runtime's package, the engine's configuration files, the docker service, and on
//! the managed file or directory each bind mount's source names.
//!
//! The parts: what is wanted, read from the node and compared with `inspect` (`spec.rs`);
//! what the engine reports (`inspect.rs`); the steps (`steps.rs`); this file, the kind.

mod inspect;
mod spec;
mod steps;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, Refresh};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;
pub use inspect::{Image, Observed};

#[derive(Debug)]
pub struct Container {
    name: String,
    engine: Engine,
    image: String,
    state: Want,
    pull: Pull,
    command: Option<Vec<String>>,
    network: Option<String>,
    restart: Option<String>,
    runtime: Option<String>,
    cgroups: Option<String>,
    ports: BTreeSet<String>,
    mounts: BTreeMap<String, Mount>,
    env: BTreeMap<String, String>,
    extra_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    fn bin(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Running,
    Stopped,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pull {
    Missing,
    Always,
    Never,
}

/// A bind mount (`source` is a host path) or a named volume (`source` is its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

impl Mount {
    fn show(&self) -> String {
        format!("{} ({})", self.source, if self.read_only { "read-only" } else { "read-write" })
    }
}

/// What the host has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    /// The engine's command exists on the host.
    pub engine: bool,
    pub container: Option<Observed>,
    /// The wanted image, if it is on the host.
    pub image: Option<Image>,
    /// `systemctl is-enabled podman-restart.service`, when it matters.
    pub restart_unit: Option<String>,
}

const LABEL_ENV: &str = "converge.env";
const LABEL_EXTRA: &str = "converge.extra-args";

/// A port binding as shown and compared: `8080:80/tcp`, `127.0.0.1:8080:80/tcp`,
/// `[::1]:8080:80/tcp`.
pub fn port_text(ip: &str, host_port: &str, container: &str) -> String {
    match ip {
        "" => format!("{host_port}:{container}"),
        v6 if v6.contains(':') => format!("[{v6}]:{host_port}:{container}"),
        v4 => format!("{v4}:{host_port}:{container}"),
    }
}

impl Container {
    fn wants_image(&self) -> bool {
        self.state != Want::Absent
    }

    /// podman needs `podman-restart.service` to bring `always` containers back at boot.
    fn needs_restart_unit(&self) -> bool {
        self.engine == Engine::Podman && self.state != Want::Absent && self.restart.as_deref() == Some("always")
    }

    fn restart_unit_change(&self, state: &State) -> Option<Change> {
        match &state.restart_unit {
            Some(s) if self.needs_restart_unit() && s == "disabled" => {
                Some(Change::set("podman-restart.service", s.clone(), "enabled"))
            }
            _ => None,
        }
    }
}

impl Kind for Container {
    const KIND: &'static str = "container";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Container> {
        Container::read(r)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = Vec::new();
        match self.engine {
            Engine::Podman => {
                d.push(Implicit::new("package", "podman", "container engine"));
                for f in ["storage.conf", "containers.conf", "registries.conf", "policy.json"] {
                    d.push(Implicit::new("file", format!("/etc/containers/{f}"), "engine configuration"));
                }
            }
            Engine::Docker => {
                d.push(Implicit::new("package", "docker.io", "container engine"));
                d.push(Implicit::new("package", "docker-ce", "container engine"));
                d.push(Implicit::new("file", "/etc/docker/daemon.json", "engine configuration"));
                d.push(Implicit::new("service", "docker", "container engine"));
            }
        }
        if let Some(rt) = &self.runtime {
            let base = rt.rsplit('/').next().unwrap_or(rt);
            d.push(Implicit::new("package", base, "container runtime"));
        }
        for m in self.mounts.values().filter(|m| m.source.starts_with('/')) {
            for kind in ["directory", "file", "symlink"] {
                d.push(Implicit::new(kind, m.source.clone(), "bind mount source"));
            }
        }
        d
    }

    fn notifiable(&self) -> bool {
        true
    }

    fn probe(&self, sh: &mut Sh) {
        let e = self.engine.bin();
        sh.set("n", &self.name);
        sh.raw("if command -v ").raw(e).raw(" >/dev/null 2>&1; then\necho engine=present\n");
        sh.raw("if o=$(").raw(e).raw(" container inspect -- \"$n\" 2>/dev/null); then ");
        sh.raw("printf 'container=%s\\n' \"$(printf '%s' \"$o\" | base64 | tr -d '\\n')\"\n");
        sh.raw("else printf 'container-error=%s\\n' \"$(")
            .raw(e)
            .raw(" container inspect -- \"$n\" 2>&1 >/dev/null | head -n 1)\"; fi\n");
        if self.wants_image() {
            sh.set("i", &self.image);
            sh.raw("if o=$(").raw(e).raw(" image inspect -- \"$i\" 2>/dev/null); then ");
            sh.raw("printf 'image=%s\\n' \"$(printf '%s' \"$o\" | base64 | tr -d '\\n')\"\n");
            sh.raw("else printf 'image-error=%s\\n' \"$(")
                .raw(e)
                .raw(" image inspect -- \"$i\" 2>&1 >/dev/null | head -n 1)\"; fi\n");
        }
        if self.needs_restart_unit() {
            sh.raw("printf 'restart-unit=%s\\n' \"$(systemctl is-enabled podman-restart.service 2>/dev/null)\"\n");
        }
        sh.raw("else echo engine=missing\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        match rec.req("engine")? {
            "missing" => return Ok(State::default()),
            "present" => {}
            other => return Err(ProbeError(format!("unexpected engine={other}"))),
        }
        let e = self.engine.bin();
        let decode = |b: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|err| ProbeError(format!("inspect output is not valid base64: {err}")))
        };
        let container = match rec.get("container") {
            // `inspect NAME` also finds a container whose ID starts with NAME: not ours
            Some(b) => Some(inspect::container(&decode(b)?)?).filter(|c| c.name == self.name),
            None => match rec.req("container-error")? {
                err if inspect::not_found(err) => None,
                "" => return Err(ProbeError(format!("`{e} container inspect` failed without a message"))),
                err => return Err(ProbeError(format!("`{e} container inspect` failed: {err}"))),
            },
        };
        let image = match (self.wants_image(), rec.get("image")) {
            (false, _) => None,
            (true, Some(b)) => Some(inspect::image(&decode(b)?)?),
            (true, None) => match rec.req("image-error")? {
                err if inspect::not_found(err) => None,
                "" => return Err(ProbeError(format!("`{e} image inspect` failed without a message"))),
                err => return Err(ProbeError(format!("`{e} image inspect` failed: {err}"))),
            },
        };
        let restart_unit = rec.get("restart-unit").filter(|s| !s.is_empty()).map(str::to_string);
        Ok(State { engine: true, container, image, restart_unit })
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        let Some(o) = &state.container else {
            if self.state == Want::Absent {
                return Diff::ok();
            }
            let mut changes = self.create_changes(state);
            changes.extend(self.restart_unit_change(state));
            return Diff::new(Action::Create, changes);
        };
        if self.state == Want::Absent {
            return Diff::new(Action::Remove, vec![Change::new("state", Some(o.status.clone()), None)]);
        }
        let mut changes = self.recreate_changes(o, state.image.as_ref());
        let recreate = !changes.is_empty();
        if recreate {
            changes.push(Change::note("the container is removed and created again"));
        }
        let want_running = self.state == Want::Running;
        if want_running != o.running {
            changes.push(Change::set("state", o.status.clone(), if want_running { "running" } else { "stopped" }));
        }
        changes.extend(self.restart_unit_change(state));
        let runs_on = want_running && o.running && !recreate;
        if runs_on && (!cx.notified_by.is_empty() || cx.owed) {
            let why = if cx.notified_by.is_empty() {
                "owed by an earlier run".to_string()
            } else {
                let by: Vec<String> = cx.notified_by.iter().map(|i| i.to_string()).collect();
                format!("notified by {}", by.join(", "))
            };
            changes.push(Change::refresh(Refresh::Restart, why));
        }
        let action = if changes.iter().all(Change::is_refresh) { Action::Refresh } else { Action::Change };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        self.write_steps(state, diff, sh);
    }
}

#[cfg(test)]
mod tests;
