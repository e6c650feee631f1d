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

mod inspect;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, Refresh};
use crate::diag::{At, Diag, Spanned};
use crate::script::{Sh, quote};
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
/// podman's `--cgroups` modes.
const CGROUPS: &[&str] = &["enabled", "disabled", "no-conmon", "split"];

/// A port binding as shown and compared: `8080:80/tcp`, `127.0.0.1:8080:80/tcp`,
/// `[::1]:8080:80/tcp`.
pub fn port_text(ip: &str, host_port: &str, container: &str) -> String {
    match ip {
        "" => format!("{host_port}:{container}"),
        v6 if v6.contains(':') => format!("[{v6}]:{host_port}:{container}"),
        v4 => format!("{v4}:{host_port}:{container}"),
    }
}

/// `[IP:]HOST:CONTAINER[/PROTO]` normalised, or why not.
fn parse_port(spec: &str) -> Result<String, &'static str> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if ["tcp", "udp", "sctp"].contains(&p) => (r, p),
        Some(_) => return Err("the protocol is tcp, udp or sctp"),
        None => (spec, "tcp"),
    };
    let (ip, ports) = match rest.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").ok_or("an IPv6 address is written [ADDRESS]:HOST:CONTAINER")?,
        None => match rest.split(':').count() {
            2 => ("", rest),
            3 => rest.split_once(':').unwrap_or(("", rest)),
            _ => return Err("write HOST:CONTAINER or IP:HOST:CONTAINER"),
        },
    };
    let (host, container) = ports.split_once(':').ok_or("write HOST:CONTAINER or IP:HOST:CONTAINER")?;
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let (Some(host), Some(container)) = (port(host), port(container)) else {
        return Err("ports are numbers from 1 to 65535");
    };
    if ip.contains(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':')) {
        return Err("the address is an IPv4 or IPv6 address");
    }
    Ok(port_text(ip, &host.to_string(), &format!("{container}/{proto}")))
}

fn valid_name(n: &str) -> bool {
    n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn valid_env_key(k: &str) -> bool {
    k.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_restart(r: &str) -> bool {
    match r.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        Some(_) => false,
        None => ["no", "always", "unless-stopped", "on-failure"].contains(&r),
    }
}

/// A value that goes inside `--mount type=...,source=...` (a comma-separated list).
fn mount_safe(v: &str) -> bool {
    !v.contains([',', '"', '\n'])
}

fn diag(at: &At, message: impl Into<String>, label: impl Into<String>) -> Diag {
    Diag::new("converge::container", message, at, label)
}

/// Secrets never go on a command line, and the engine's `run` arguments are one (and
/// `inspect` shows them to anyone allowed to ask).
fn refuse_secret(r: &mut NodeReader, at: &At, what: &str) {
    r.error(
        diag(at, format!("{what} holds a secret"), "a secret on the engine's command line")
            .help("write the secret to a file (a `file` resource) and mount it into the container"),
    );
}

/// Words as a shell would read them back: `gunicorn -b '0.0.0.0:3000'`.
fn words(w: &[String]) -> String {
    w.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ")
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl Container {
    fn read_command(r: &mut NodeReader) -> Option<Vec<String>> {
        let prop = r.string("command");
        let nodes = r.children("command");
        if let Some(p) = &prop {
            if r.holds_secret(p.value.as_bytes()) {
                refuse_secret(r, &p.at, "the command");
                return None;
            }
            if !nodes.is_empty() {
                r.error(
                    diag(&p.at, "the command is given twice", "`command=` here")
                        .help("give either `command=\"...\"` or a `command` child"),
                );
                return None;
            }
            return match shlex::split(&p.value) {
                Some(w) if !w.is_empty() => Some(w),
                // an empty command is the image's own (so it can come from a variable
                // that only some inventories set)
                Some(_) if p.value.trim().is_empty() => None,
                Some(_) => {
                    r.error(diag(&p.at, "the command is empty", "no words"));
                    None
                }
                None => {
                    r.error(
                        diag(&p.at, "the command cannot be split into words", "unbalanced quotes")
                            .help("or give the words one by one: `command \"a\" \"b c\"` as a child"),
                    );
                    None
                }
            };
        }
        let mut out = None;
        for (i, node) in nodes.into_iter().enumerate() {
            let words = r.child(node, |c| {
                let first = c.arg("the command");
                let rest = c.rest_args("a word of the command");
                (c.at(), first.into_iter().chain(rest).map(|w| w.value).collect::<Vec<_>>())
            });
            if let Some((at, w)) = words {
                if w.iter().any(|w| r.holds_secret(w.as_bytes())) {
                    refuse_secret(r, &at, "the command");
                }
                if i > 0 {
                    r.error(diag(&at, "the command is given twice", "second `command`"));
                }
                out = Some(w);
            }
        }
        out
    }

    fn read_mounts(r: &mut NodeReader) -> BTreeMap<String, Mount> {
        let mut out = BTreeMap::new();
        for node in r.children("mount") {
            let read = r.child(node, |c| {
                let source = c.arg("a source (a host path or a volume name)");
                let target = c.arg("a target path in the container");
                let read_only = c.bool("read-only").unwrap_or(false);
                (source, target, read_only)
            });
            let Some((Some(source), Some(target), read_only)) = read else { continue };
            if let Some(m) = Self::check_mount(r, &source, &target) {
                if out.contains_key(&m) {
                    r.error(diag(&target.at, format!("`{m}` is mounted twice"), "second mount here"));
                }
                out.insert(m.clone(), Mount { source: source.value, target: m, read_only });
            }
        }
        out
    }

    /// The normalised target, after checking both ends of a mount.
    fn check_mount(r: &mut NodeReader, source: &Spanned<String>, target: &Spanned<String>) -> Option<String> {
        let s = &source.value;
        let bind = s.starts_with('/');
        if !bind && !valid_name(s) {
            r.error(
                diag(&source.at, format!("`{s}` is neither a host path nor a volume name"), "invalid source")
                    .help("a bind mount's source starts with /; a volume name is letters, digits and _ . -"),
            );
        }
        if !target.value.starts_with('/') {
            r.error(diag(&target.at, "a mount target is an absolute path", "must start with /"));
        }
        for v in [source, target] {
            if !mount_safe(&v.value) {
                r.error(diag(&v.at, "a mount path cannot hold `,`, `\"` or a newline", "invalid path"));
            }
        }
        if r.failed() {
            return None;
        }
        let t = target.value.trim_end_matches('/');
        Some(if t.is_empty() { "/".into() } else { t.into() })
    }

    fn read_env(r: &mut NodeReader) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for node in r.children("env") {
            let vars = r.child(node, |c| {
                let mut vars: Vec<(At, String, String)> = Vec::new();
                for var in c.any_children() {
                    let key = var.name().value().to_string();
                    if let Some((at, Some(value))) = c.child(var, |v| (v.at(), v.arg("a value"))) {
                        vars.push((at, key, value.value));
                    }
                }
                vars
            });
            for (at, key, value) in vars.unwrap_or_default() {
                if r.holds_secret(value.as_bytes()) {
                    refuse_secret(r, &at, &format!("`{key}`"));
                } else if !valid_env_key(&key) {
                    r.error(
                        diag(&at, format!("`{key}` is not a variable name"), "invalid name")
                            .help("variable names are letters, digits and _, not starting with a digit"),
                    );
                } else if out.insert(key.clone(), value).is_some() {
                    r.error(diag(&at, format!("`{key}` is set twice"), "second value"));
                }
            }
        }
        out
    }

    fn wants_image(&self) -> bool {
        self.state != Want::Absent
    }

    /// podman needs `podman-restart.service` to bring `always` containers back at boot.
    fn needs_restart_unit(&self) -> bool {
        self.engine == Engine::Podman && self.state != Want::Absent && self.restart.as_deref() == Some("always")
    }
}

/// An image reference (`[registry/]path[:tag][@digest]`), as the engines' grammar allows.
fn valid_image(i: &str) -> bool {
    !i.is_empty() && !i.starts_with('-') && i.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
}

/// A network or runtime name (a runtime may be a path).
fn valid_word(v: &str, slash: bool) -> bool {
    !v.starts_with('-') && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b) || (slash && b == b'/'))
}

impl Kind for Container {
    const KIND: &'static str = "container";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Container> {
        let name = r.arg("a container name");
        let engine = match r.choice("engine", &["docker", "podman"]) {
            Some("podman") => Engine::Podman,
            _ => Engine::Docker,
        };
        let image = r.nonempty("image");
        let state = match r.choice("state", &["running", "stopped", "absent"]) {
            Some("stopped") => Want::Stopped,
            Some("absent") => Want::Absent,
            _ => Want::Running,
        };
        let pull = match r.choice("pull", &["missing", "always", "never"]) {
            Some("always") => Pull::Always,
            Some("never") => Pull::Never,
            _ => Pull::Missing,
        };
        let command = Self::read_command(r);
        let network = r.nonempty("network");
        let restart = r.nonempty("restart");
        // an empty runtime or cgroups mode means "the engine's default", so a playbook can
        // take them from variables that only some inventories set
        let runtime = r.string("runtime").filter(|v| !v.value.is_empty());
        let cgroups = r.string("cgroups").filter(|v| !v.value.is_empty());
        let port_specs = r.list("port");
        let mounts = Self::read_mounts(r);
        let env = Self::read_env(r);
        let extra_args = r.list("extra-args");
        for a in &extra_args {
            if r.holds_secret(a.value.as_bytes()) {
                refuse_secret(r, &a.at, "this argument");
            }
        }
        let extra_args: Vec<String> = extra_args.into_iter().map(|a| a.value).collect();
        let name = name?;
        if !valid_name(&name.value) {
            r.error(
                diag(&name.at, format!("`{}` is not a container name", name.value), "invalid name").help(
                    "container names are at least two letters, digits and _ . -, starting with a letter or digit",
                ),
            );
        }
        let image = match (image, state) {
            (Some(i), _) => {
                if !valid_image(&i.value) {
                    r.error(diag(&i.at, format!("`{}` is not an image reference", i.value), "invalid image").help(
                        "an image reference is letters, digits and . _ - / : @, like `registry.example.org/app:7`",
                    ));
                }
                i.value
            }
            (None, Want::Absent) => String::new(),
            (None, _) => {
                let at = r.at();
                r.error(
                    diag(&at, "a container needs an `image`", "no image").help("write `image=\"registry/name:tag\"`"),
                );
                String::new()
            }
        };
        let mut ports = BTreeSet::new();
        for p in &port_specs {
            match parse_port(&p.value) {
                Ok(n) => {
                    ports.insert(n);
                }
                Err(why) => r.error(diag(&p.at, format!("`{}` is not a port binding", p.value), why)),
            }
        }
        if let (Some(n), Some(p)) = (&network, port_specs.first())
            && n.value == "host"
        {
            r.error(
                diag(&p.at, "ports are not published on the host network", "published here")
                    .label(&n.at, "the container uses the host's network")
                    .help("with network=\"host\" the container's ports are the host's: remove `port`"),
            );
        }
        if let Some(rp) = &restart
            && !valid_restart(&rp.value)
        {
            r.error(
                diag(&rp.at, format!("`{}` is not a restart policy", rp.value), "invalid policy")
                    .help("write \"no\", \"always\", \"unless-stopped\", \"on-failure\" or \"on-failure:N\""),
            );
        }
        // a network is a name; a runtime a name or an absolute path
        for (v, slash) in [(&network, false), (&runtime, true)] {
            if let Some(v) = v
                && !valid_word(&v.value, slash)
            {
                r.error(diag(&v.at, format!("`{}` is not a name", v.value), "invalid value").help(if slash {
                    "letters, digits and . _ - /"
                } else {
                    "letters, digits and . _ -"
                }));
            }
        }
        if let Some(c) = &cgroups {
            if engine == Engine::Docker {
                r.error(
                    diag(&c.at, "`cgroups` is a podman option", "not for docker")
                        .help("add engine=\"podman\", or pass docker's own flags in `extra-args`"),
                );
            } else if !CGROUPS.contains(&c.value.as_str()) {
                r.error(diag(
                    &c.at,
                    format!("`cgroups` cannot be \"{}\"", c.value),
                    "expected \"enabled\", \"disabled\", \"no-conmon\" or \"split\"",
                ));
            }
        }
        if r.failed() {
            return None;
        }
        Some(Container {
            name: name.value,
            engine,
            image,
            state,
            pull,
            command,
            network: network.map(|n| n.value),
            restart: restart.map(|r| r.value),
            runtime: runtime.map(|r| r.value),
            cgroups: cgroups.map(|c| c.value),
            ports,
            mounts,
            env,
            extra_args,
        })
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
}

impl Container {
    fn restart_unit_change(&self, state: &State) -> Option<Change> {
        match &state.restart_unit {
            Some(s) if self.needs_restart_unit() && s == "disabled" => {
                Some(Change::set("podman-restart.service", s.clone(), "enabled"))
            }
            _ => None,
        }
    }

    fn image_wanted(&self, image: Option<&Image>) -> String {
        match (image, self.pull) {
            (Some(i), _) => format!("{} ({})", self.image, short(&i.id)),
            (None, Pull::Never) => format!("{} (not on the host)", self.image),
            (None, _) => format!("{} (to pull)", self.image),
        }
    }

    /// Every field a new container gets, for the plan.
    fn create_changes(&self, state: &State) -> Vec<Change> {
        let mut c = vec![Change::new("image", None, Some(self.image_wanted(state.image.as_ref())))];
        if let Some(cmd) = &self.command {
            c.push(Change::new("command", None, Some(words(cmd))));
        }
        for (k, v) in &self.env {
            c.push(Change::new(format!("env.{k}"), None, Some(v.clone())));
        }
        for m in self.mounts.values() {
            c.push(Change::new(format!("mount {}", m.target), None, Some(m.show())));
        }
        if !self.ports.is_empty() {
            c.push(Change::new("ports", None, Some(self.ports.iter().cloned().collect::<Vec<_>>().join(", "))));
        }
        for (field, v) in self.settings() {
            c.push(Change::new(field, None, Some(v.to_string())));
        }
        if !self.extra_args.is_empty() {
            c.push(Change::new("extra-args", None, Some(words(&self.extra_args))));
        }
        c.push(Change::new(
            "state",
            None,
            Some(if self.state == Want::Running { "running" } else { "stopped" }.into()),
        ));
        c
    }

    /// The settings compared only when given: (field, wanted).
    fn settings(&self) -> Vec<(&'static str, &str)> {
        [
            ("network", &self.network),
            ("restart-policy", &self.restart),
            ("runtime", &self.runtime),
            ("cgroups", &self.cgroups),
        ]
        .into_iter()
        .filter_map(|(f, v)| Some((f, v.as_deref()?)))
        .collect()
    }

    /// The fields that differ and need a new container.
    fn recreate_changes(&self, o: &Observed, image: Option<&Image>) -> Vec<Change> {
        let mut c = Vec::new();
        if image.is_none_or(|i| i.id != o.image_id) {
            let before = format!("{} ({})", o.image_ref, short(&o.image_id));
            c.push(Change::set("image", before, self.image_wanted(image)));
        }
        // without a command, the image's own; unknown until an image to pull is there
        if let Some(want) = self.command.as_ref().or(image.map(|i| &i.cmd))
            && *want != o.cmd
        {
            c.push(Change::set("command", words(&o.cmd), words(want)));
        }
        let ours: BTreeSet<&str> =
            o.labels.get(LABEL_ENV).map(|l| l.split(',').filter(|k| !k.is_empty()).collect()).unwrap_or_default();
        let keys: BTreeSet<&str> = self.env.keys().map(String::as_str).chain(ours).collect();
        for k in keys {
            let want = match self.env.get(k) {
                Some(v) => Some(v),
                None => match image {
                    Some(i) => i.env.get(k),
                    None => continue,
                },
            };
            let have = o.env.get(k);
            if want != have {
                c.push(Change::new(format!("env.{k}"), have.cloned(), want.cloned()));
            }
        }
        let targets: BTreeSet<&String> = self.mounts.keys().chain(o.mounts.keys()).collect();
        for t in targets {
            let (want, have) = (self.mounts.get(t), o.mounts.get(t));
            if want != have {
                c.push(Change::new(format!("mount {t}"), have.map(Mount::show), want.map(Mount::show)));
            }
        }
        if self.ports != o.ports {
            let show = |p: &BTreeSet<String>| (!p.is_empty()).then(|| p.iter().cloned().collect::<Vec<_>>().join(", "));
            c.push(Change::new("ports", show(&o.ports), show(&self.ports)));
        }
        for (field, want) in self.settings() {
            let have = match field {
                "network" => &o.network,
                "restart-policy" => &o.restart,
                "runtime" => &o.runtime,
                _ => &o.cgroups,
            };
            if have != want {
                c.push(Change::set(field, have.clone(), want));
            }
        }
        let have_extra: Vec<String> =
            o.labels.get(LABEL_EXTRA).and_then(|l| serde_json::from_str(l).ok()).unwrap_or_default();
        if have_extra != self.extra_args {
            let show = |w: &[String]| (!w.is_empty()).then(|| words(w));
            c.push(Change::new("extra-args", show(&have_extra), show(&self.extra_args)));
        }
        c
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

#[cfg(test)]
mod tests;
