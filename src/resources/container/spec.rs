//! The container as the playbook wants it: read from the node and checked at the
//! token (names, image reference, port bindings, mounts, environment; a secret anywhere
//! on the engine's command line refused), and compared field by field with what
//! `inspect` says (`inspect.rs`) into the plan's changes.

use std::collections::{BTreeMap, BTreeSet};

use super::super::Change;
use super::super::content::short;
use super::{Container, Engine, Image, LABEL_ENV, LABEL_EXTRA, Mount, Observed, Pull, State, Want, port_text};
use crate::diag::{At, Code, Diag, Spanned};
use crate::script::quote;
use crate::syntax::reader::{NodeReader, PathRule, is_env_name};

/// podman's `--cgroups` modes.
const CGROUPS: &[&str] = &["enabled", "disabled", "no-conmon", "split"];

/// `[IP:]HOST:CONTAINER[/PROTO]` normalised, or why not.
pub(super) fn parse_port(spec: &str) -> Result<String, &'static str> {
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
    Diag::new(Code::Container, message, at, label)
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

impl Container {
    /// The container a node asks for, or `None` after reporting why not.
    pub(super) fn read(r: &mut NodeReader) -> Option<Container> {
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
        if !PathRule::Absolute.admits(&target.value) {
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
                } else if !is_env_name(&key) {
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
}

/// An image reference (`[registry/]path[:tag][@digest]`), as the engines' grammar allows.
fn valid_image(i: &str) -> bool {
    !i.is_empty() && !i.starts_with('-') && i.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
}

/// A network or runtime name (a runtime may be a path).
fn valid_word(v: &str, slash: bool) -> bool {
    !v.starts_with('-') && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b) || (slash && b == b'/'))
}

impl Container {
    fn image_wanted(&self, image: Option<&Image>) -> String {
        match (image, self.pull) {
            (Some(i), _) => format!("{} ({})", self.image, short(&i.id, 12)),
            (None, Pull::Never) => format!("{} (not on the host)", self.image),
            (None, _) => format!("{} (to pull)", self.image),
        }
    }

    /// Every field a new container gets, for the plan.
    pub(super) fn create_changes(&self, state: &State) -> Vec<Change> {
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
    pub(super) fn recreate_changes(&self, o: &Observed, image: Option<&Image>) -> Vec<Change> {
        let mut c = Vec::new();
        if image.is_none_or(|i| i.id != o.image_id) {
            let before = format!("{} ({})", o.image_ref, short(&o.image_id, 12));
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
}
