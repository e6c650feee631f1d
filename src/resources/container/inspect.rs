//! What a container engine says about a container and an image: the JSON of
//! `ENGINE container inspect` and `ENGINE image inspect`, read into the fields the
//! `container` kind compares.
//!
//! docker and podman print the same shape for what is used here, with a few differences
//! handled in one place: image IDs (`sha256:` prefixed by docker, bare hex by podman), the
//! runtime (`HostConfig.Runtime` for docker; podman fills `OCIRuntime` and leaves `oci`
//! there), an unset restart policy (`"no"` for docker, `""` for podman).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Mount;
use crate::resources::ProbeError;

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub id: String,
    /// Its name (docker's leading `/` removed).
    pub name: String,
    /// The image's ID (hex, without `sha256:`).
    pub image_id: String,
    /// The reference it was created from (`localhost/app:1`).
    pub image_ref: String,
    pub running: bool,
    /// `running`, `exited`, `created`...
    pub status: String,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Bind mounts and named volumes, by target. Anonymous volumes (an image's
    /// `VOLUME`) are left out: nobody asked for them by name.
    pub mounts: BTreeMap<String, Mount>,
    /// Normalised port bindings (`8080:80/tcp`, `127.0.0.1:8080:80/tcp`).
    pub ports: BTreeSet<String>,
    pub network: String,
    /// Normalised restart policy: `no`, `always`, `on-failure:3`...
    pub restart: String,
    pub runtime: String,
    /// podman's `--cgroups` mode; empty for docker.
    pub cgroups: String,
    pub labels: BTreeMap<String, String>,
}

/// An image present on the host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    pub id: String,
    /// The image's default command (`Config.Cmd`).
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// `sha256:abc…` and `abc…` name the same image.
pub fn bare_id(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// The one object of an `inspect` answer (an array of one, or the object itself).
fn single(json: &[u8], what: &str) -> Result<Value, ProbeError> {
    let v: Value =
        serde_json::from_slice(json).map_err(|e| ProbeError(format!("`{what} inspect` did not print JSON: {e}")))?;
    match v {
        Value::Array(mut a) if a.len() == 1 => Ok(a.remove(0)),
        Value::Array(a) => Err(ProbeError(format!("`{what} inspect` described {} objects, not one", a.len()))),
        o @ Value::Object(_) => Ok(o),
        _ => Err(ProbeError(format!("`{what} inspect` printed something other than an object"))),
    }
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_string()
}

fn req(v: &Value, pointer: &str, what: &str) -> Result<String, ProbeError> {
    match v.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(ProbeError(format!("`{what} inspect` has no {pointer}"))),
    }
}

/// An array of strings, or null.
fn words(v: &Value, pointer: &str) -> Vec<String> {
    match v.pointer(pointer) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `["K=V", ...]` as a map.
fn env(v: &Value, pointer: &str) -> BTreeMap<String, String> {
    words(v, pointer)
        .into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv, String::new()),
        })
        .collect()
}

/// An anonymous volume's name: 64 hex digits.
fn anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn trim_slash(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() { "/".into() } else { t.into() }
}

fn mounts(v: &Value) -> BTreeMap<String, Mount> {
    let mut out = BTreeMap::new();
    let Some(Value::Array(list)) = v.pointer("/Mounts") else { return out };
    for m in list {
        let kind = text(m, "/Type");
        let source = match kind.as_str() {
            "bind" => trim_slash(&text(m, "/Source")),
            "volume" => {
                let name = text(m, "/Name");
                if anonymous(&name) {
                    continue;
                }
                name
            }
            other => format!("({other})"),
        };
        let target = trim_slash(&text(m, "/Destination"));
        let read_only = !m.pointer("/RW").and_then(Value::as_bool).unwrap_or(true);
        out.insert(target.clone(), Mount { source, target, read_only });
    }
    out
}

/// `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}` as `8080:80/tcp`.
fn ports(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(Value::Object(map)) = v.pointer("/HostConfig/PortBindings") else { return out };
    for (container, bindings) in map {
        let container = if container.contains('/') { container.clone() } else { format!("{container}/tcp") };
        let Value::Array(bindings) = bindings else { continue };
        for b in bindings {
            let ip = text(b, "/HostIp");
            let port = text(b, "/HostPort");
            out.insert(super::port_text(&ip, &port, &container));
        }
    }
    out
}

fn restart(v: &Value) -> String {
    let name = text(v, "/HostConfig/RestartPolicy/Name");
    let count = v.pointer("/HostConfig/RestartPolicy/MaximumRetryCount").and_then(Value::as_u64).unwrap_or(0);
    match name.as_str() {
        "" => "no".into(),
        "on-failure" if count > 0 => format!("on-failure:{count}"),
        _ => name,
    }
}

/// Reads `ENGINE container inspect NAME`.
pub fn container(json: &[u8]) -> Result<Observed, ProbeError> {
    let v = single(json, "container")?;
    let runtime = match text(&v, "/OCIRuntime") {
        r if !r.is_empty() => r,
        _ => text(&v, "/HostConfig/Runtime"),
    };
    let image_ref = match text(&v, "/Config/Image") {
        r if !r.is_empty() => r,
        _ => text(&v, "/ImageName"),
    };
    let labels = match v.pointer("/Config/Labels") {
        Some(Value::Object(m)) => m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect(),
        _ => BTreeMap::new(),
    };
    Ok(Observed {
        id: req(&v, "/Id", "container")?,
        name: text(&v, "/Name").trim_start_matches('/').to_string(),
        image_id: bare_id(&req(&v, "/Image", "container")?).to_string(),
        image_ref,
        running: v
            .pointer("/State/Running")
            .and_then(Value::as_bool)
            .ok_or_else(|| ProbeError("`container inspect` has no /State/Running".into()))?,
        status: text(&v, "/State/Status"),
        cmd: words(&v, "/Config/Cmd"),
        env: env(&v, "/Config/Env"),
        mounts: mounts(&v),
        ports: ports(&v),
        network: text(&v, "/HostConfig/NetworkMode"),
        restart: restart(&v),
        runtime,
        cgroups: text(&v, "/HostConfig/Cgroups"),
        labels,
    })
}

/// Reads `ENGINE image inspect REF`.
pub fn image(json: &[u8]) -> Result<Image, ProbeError> {
    let v = single(json, "image")?;
    Ok(Image {
        id: bare_id(&req(&v, "/Id", "image")?).to_string(),
        cmd: words(&v, "/Config/Cmd"),
        env: env(&v, "/Config/Env"),
    })
}

/// Whether an inspect error means "there is no such thing" (and not a broken engine).
pub fn not_found(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    ["no such container", "no such image", "no such object", "image not known"].iter().any(|s| e.contains(s))
}

#[cfg(test)]
pub mod fixtures {
    //! Inspect output seen from the engines (trimmed to the fields used, plus some noise).

    /// podman 4.3 (Debian 12), `--runtime crun --cgroups=disabled --network host
    /// --restart always`, one bind mount, one env.
    pub const PODMAN: &str = r#"[
     {
          "Id": "2189044d39d227ed4b71bad8e6031dc5da08990ce5ea5cddc6560c55995e0be1",
          "Created": "2026-11-22T04:17:09.5864485Z",
          "Path": "/bin/busybox",
          "Args": ["httpd", "-f", "-p", "8080", "-h", "/www"],
          "State": { "OciVersion": "1.0.2-dev", "Status": "running", "Running": true, "Pid": 1069 },
          "Image": "4abb30d73d07d359b1c5073c27dae9776300d016ba235d2d47539c7ad09fe5a4",
          "ImageName": "localhost/app:1",
          "OCIRuntime": "crun",
          "Name": "web",
          "Mounts": [
               { "Type": "bind", "Source": "/srv/www", "Destination": "/www", "Driver": "", "Mode": "",
                 "Options": ["rbind"], "RW": false, "Propagation": "rprivate" }
          ],
          "Config": {
               "Hostname": "t",
               "Env": ["GREETING=hi", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "TERM=xterm", "container=podman", "HOSTNAME=t"],
               "Cmd": ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"],
               "Image": "localhost/app:1",
               "Entrypoint": "",
               "Labels": { "converge.env": "GREETING" }
          },
          "HostConfig": {
               "Binds": ["/srv/www:/www:ro,rprivate,rbind"],
               "NetworkMode": "host",
               "PortBindings": {},
               "RestartPolicy": { "Name": "always", "MaximumRetryCount": 0 },
               "Cgroups": "disabled",
               "Runtime": "oci"
          }
     }
]
"#;

    /// docker 24 (`docker container inspect`), bridge network with a published port, a
    /// named volume, an anonymous volume from the image, on-failure restarts, stopped.
    pub const DOCKER: &str = r#"[
    {
        "Id": "9f2c0c1d6f3e5b1f6a2d3c4b5a69788f7e6d5c4b3a291807f6e5d4c3b2a19081",
        "Created": "2024-05-02T10:11:12.123456789Z",
        "Path": "gunicorn",
        "Args": ["-b", "0.0.0.0:3000", "deploy:app"],
        "State": { "Status": "exited", "Running": false, "Paused": false, "ExitCode": 0 },
        "Image": "sha256:5d0da3dc976460b72c77d94c8a1ad043720b0416bfc16c52c45d4847e53fadb6",
        "Name": "/viewbovis",
        "RestartCount": 0,
        "HostConfig": {
            "Binds": null,
            "NetworkMode": "bridge",
            "PortBindings": { "3000/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "3000" }] },
            "RestartPolicy": { "Name": "on-failure", "MaximumRetryCount": 3 },
            "Runtime": "runc"
        },
        "Mounts": [
            { "Type": "volume", "Name": "viewbovis-data",
              "Source": "/var/lib/docker/volumes/viewbovis-data/_data", "Destination": "/data",
              "Driver": "local", "Mode": "z", "RW": true, "Propagation": "" },
            { "Type": "volume",
              "Name": "0c4c8c3cf0a8e1b5c3b7e2d8f0e9a1b2c3d4e5f60718293a4b5c6d7e8f901234",
              "Source": "/var/lib/docker/volumes/0c4c/_data", "Destination": "/cache",
              "Driver": "local", "Mode": "", "RW": true, "Propagation": "" },
            { "Type": "bind", "Source": "/var/log/viewbovis-access.log/",
              "Destination": "/ViewBovis/access.log", "Mode": "", "RW": true, "Propagation": "rprivate" }
        ],
        "Config": {
            "Hostname": "9f2c0c1d6f3e",
            "Env": ["LOG_LEVEL=info", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Cmd": ["gunicorn", "-b", "0.0.0.0:3000", "deploy:app"],
            "Image": "aphacsubot/viewbovis:prod",
            "Volumes": { "/cache": {} },
            "Entrypoint": null,
            "Labels": {}
        }
    }
]
"#;

    pub const DOCKER_IMAGE: &str = r#"[
    {
        "Id": "sha256:5d0da3dc976460b72c77d94c8a1ad043720b0416bfc16c52c45d4847e53fadb6",
        "RepoTags": ["aphacsubot/viewbovis:prod"],
        "Config": {
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Cmd": ["gunicorn", "-b", "0.0.0.0:3000", "deploy:app"],
            "Volumes": { "/cache": {} }
        }
    }
]
"#;

    /// An image made by `podman import`: no configuration at all.
    pub const PODMAN_IMAGE: &str = r#"[
     {
          "Id": "4abb30d73d07d359b1c5073c27dae9776300d016ba235d2d47539c7ad09fe5a4",
          "RepoTags": ["localhost/app:1"],
          "Config": {},
          "Comment": "imported from tarball"
     }
]
"#;
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn reads_podman() {
        let o = container(PODMAN.as_bytes()).expect("parse");
        assert_eq!(o.image_id, "4abb30d73d07d359b1c5073c27dae9776300d016ba235d2d47539c7ad09fe5a4");
        assert_eq!(o.image_ref, "localhost/app:1");
        assert!(o.running);
        assert_eq!(o.cmd, ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]);
        assert_eq!(o.env.get("GREETING").map(String::as_str), Some("hi"));
        let m = &o.mounts["/www"];
        assert_eq!((m.source.as_str(), m.read_only), ("/srv/www", true));
        assert!(o.ports.is_empty());
        assert_eq!((o.network.as_str(), o.restart.as_str()), ("host", "always"));
        assert_eq!((o.runtime.as_str(), o.cgroups.as_str()), ("crun", "disabled"));
        assert_eq!(o.labels.get("converge.env").map(String::as_str), Some("GREETING"));
    }

    #[test]
    fn reads_docker() {
        let o = container(DOCKER.as_bytes()).expect("parse");
        assert_eq!(o.image_id, "5d0da3dc976460b72c77d94c8a1ad043720b0416bfc16c52c45d4847e53fadb6");
        assert_eq!((o.name.as_str(), o.image_ref.as_str()), ("viewbovis", "aphacsubot/viewbovis:prod"));
        assert!(!o.running);
        assert_eq!(o.status, "exited");
        assert_eq!(o.ports.iter().collect::<Vec<_>>(), ["127.0.0.1:3000:3000/tcp"]);
        assert_eq!(o.restart, "on-failure:3");
        assert_eq!(o.runtime, "runc");
        // the anonymous volume is not listed; a trailing slash is not a difference
        assert_eq!(o.mounts.keys().collect::<Vec<_>>(), ["/ViewBovis/access.log", "/data"]);
        assert_eq!(o.mounts["/data"].source, "viewbovis-data");
        assert_eq!(o.mounts["/ViewBovis/access.log"].source, "/var/log/viewbovis-access.log");
        let i = image(DOCKER_IMAGE.as_bytes()).expect("image");
        assert_eq!(i.id, o.image_id);
        assert_eq!(i.cmd, o.cmd);
    }

    #[test]
    fn an_imported_image_has_no_config() {
        let i = image(PODMAN_IMAGE.as_bytes()).expect("image");
        assert_eq!(i.id, "4abb30d73d07d359b1c5073c27dae9776300d016ba235d2d47539c7ad09fe5a4");
        assert!(i.cmd.is_empty() && i.env.is_empty());
    }

    #[test]
    fn garbage_and_surprises_are_errors() {
        assert!(container(b"not json").is_err());
        assert!(container(b"[]").is_err());
        assert!(container(b"[{\"Id\": \"x\"}]").is_err());
        assert!(image(b"[{}]").is_err());
    }

    #[test]
    fn missing_things_are_told_apart_from_broken_engines() {
        assert!(not_found("Error: inspecting object: no such container web"));
        assert!(not_found("Error: inspecting object: app:9: image not known"));
        assert!(not_found("Error: No such container: web"));
        assert!(not_found("Error response from daemon: No such image: app:9"));
        assert!(!not_found("Cannot connect to the Docker daemon at unix:///var/run/docker.sock."));
    }
}
