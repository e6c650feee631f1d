//! Saved plans, Terraform's `plan -out` / `apply PLAN` contract: `converge diff --out FILE`
//! writes what the plan found and the steps it would run; `converge apply FILE` probes
//! again, refuses every host where anything differs from what was saved, and runs exactly
//! the saved steps on the others.
//!
//! Per host and resource the file keeps the plan's rows (action, fields with before and
//! after, masked as the JSON report masks them), the step text, and a keyed digest
//! (HMAC-SHA256) of the rows and the steps, which hold the unmasked values. A resource
//! whose rows or steps hold a secret keeps no step text, only the digest: no secret value
//! is ever stored, and a secret whose value changed since the plan is found by its digest. The key is the
//! controller's (`$CONVERGE_PLAN_KEY_FILE`, else `~/.local/state/converge/plan.key`, made
//! on first use, mode 0600), named in the file by its id.
//!
//! At apply, the host is probed and planned again from the same playbook (its KDL sources
//! must have the saved digest), and each resource's record must equal the saved one: the
//! state it was planned from (the rows' `before`), what is wanted (`after`), and the steps.
//! The first difference refuses the host, naming the resource and the field. What the
//! saved steps leave for a second round (a deferred edit, a change the verify found) is
//! not planned at apply time: the host ends "needs a new plan".

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::graph::{HostGraph, NodeId};
use crate::plan::{Bases, HostPlan};
use crate::playbook::Playbook;
use crate::resources::{Action, Change, Content, mask};

/// Bumped when the file's shape changes.
pub const FORMAT: u32 = 1;

/// What `converge diff --out` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always [`FORMAT`]; also how a saved plan is told from a playbook.
    pub converge_plan: u32,
    /// The converge that made it: another version may plan differently.
    pub version: String,
    /// When it was made (RFC 3339, UTC).
    pub created: String,
    /// The playbook (absolute) and the inventory that replaced its hosts, if any.
    pub playbook: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<PathBuf>,
    /// The selection it was made with: `--limit`, `--tags`, `--skip-tags`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_tags: Vec<String>,
    /// sha256 of the playbook's KDL sources (the playbook, its modules, the inventory).
    pub digest: String,
    /// Which key made the resources' digests.
    pub key_id: String,
    pub hosts: Vec<SavedHost>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedHost {
    pub host: String,
    /// In apply order.
    pub resources: Vec<SavedResource>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedResource {
    pub id: String,
    pub action: Action,
    /// The plan's rows, secrets masked (as the JSON report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The shell its block runs; `None` when nothing runs, or when it holds a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<String>,
    /// Its rows or steps hold a secret: only the digest is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// HMAC-SHA256 (hex) of the rows and the steps (unmasked): what decides.
    pub digest: String,
    /// HMAC-SHA256 (hex) of what the playbook wants of it, whatever the host has: what
    /// tells a change of the playbook (or a secret) from a change of the host.
    #[serde(default)]
    pub wanted: String,
}

/// The controller's key for the digests.
pub struct PlanKey(Vec<u8>);

impl PlanKey {
    /// `$CONVERGE_PLAN_KEY_FILE`, else `plan.key` in converge's state directory
    /// (`$XDG_STATE_HOME/converge`, else `~/.local/state/converge`), made on first use.
    pub fn load_or_create() -> Result<PlanKey, String> {
        let path = match std::env::var_os("CONVERGE_PLAN_KEY_FILE") {
            Some(p) => PathBuf::from(p),
            None => {
                let base = std::env::var_os("XDG_STATE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")));
                let Some(base) = base else { return Err("no HOME to keep the plan key in".into()) };
                base.join("converge").join("plan.key")
            }
        };
        match std::fs::read(&path) {
            Ok(k) if k.len() >= 32 => return Ok(PlanKey(k)),
            Ok(_) => return Err(format!("{}: a plan key is at least 32 bytes", path.display())),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot read the plan key {}: {e}", path.display()));
            }
            Err(_) => {}
        }
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
            .map_err(|e| format!("cannot make a plan key: /dev/urandom: {e}"))?;
        write_private(&path, &key).map_err(|e| format!("cannot keep the plan key in {}: {e}", path.display()))?;
        Ok(PlanKey(key.to_vec()))
    }

    #[cfg(test)]
    pub fn fixed(bytes: &[u8]) -> PlanKey {
        PlanKey(bytes.to_vec())
    }

    /// Names the key without revealing it.
    pub fn id(&self) -> String {
        hex(&Sha256::new().chain_update(b"converge plan key id\0").chain_update(&self.0).finalize()[..8])
    }

    fn digest(&self, parts: &[&[u8]]) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_le_bytes());
            m.update(p);
        }
        hex(&m.finalize().into_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` (parents made) through a temporary file renamed into place,
/// mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// sha256 of the playbook's KDL sources: the playbook, every module it uses, and the
/// inventory file that replaced its hosts.
pub fn playbook_digest(pb: &Playbook, inventory: Option<&Path>) -> Result<String, String> {
    // by their texts: the same files are named relative to where `diff` ran and absolute
    // in the plan
    let mut sources: Vec<String> = vec![pb.src.inner().clone()];
    sources.extend(pb.resources.iter().map(|d| d.src.inner().clone()));
    if let Some(p) = inventory {
        sources.push(std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    sources.sort();
    sources.dedup();
    let mut h = Sha256::new();
    for text in &sources {
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// What the plan of one host records: per resource its rows, steps and digest.
pub fn record(
    host: &str,
    graph: &HostGraph,
    plan: &HostPlan,
    bases: &Bases,
    secrets: &[String],
    key: &PlanKey,
) -> SavedHost {
    let resources = graph.order().iter().map(|&i| record_one(graph, plan, bases, i, secrets, key)).collect();
    SavedHost { host: host.to_string(), resources }
}

fn record_one(
    graph: &HostGraph,
    plan: &HostPlan,
    bases: &Bases,
    i: NodeId,
    secrets: &[String],
    key: &PlanKey,
) -> SavedResource {
    // the plan's rows are masked as they enter the plan (`plan::plan`); a row that held a
    // secret shows as `********` or as sensitive content
    let (action, changes, _) = plan[i].shown(graph);
    let steps =
        if plan[i].has_block() { crate::apply::steps(graph, plan, bases, i).map(|s| s.into_text()) } else { None };
    let rows = serde_json::to_vec(&changes).unwrap_or_default();
    let digest = key.digest(&[rows.as_slice(), steps.as_deref().unwrap_or("").as_bytes()]);
    let wanted = key.digest(&[format!("{:?}", graph[i].res).as_bytes()]);
    let secret = changes.iter().any(|c| matches!(c.content_shown(), Some(Content::Sensitive)))
        || steps.as_deref().is_some_and(|s| mask(s, secrets) != s)
        || !graph[i].res.secrets().is_empty();
    SavedResource {
        id: mask(&graph[i].id.to_string(), secrets),
        action,
        changes,
        steps: if secret { None } else { steps },
        secret,
        digest,
        wanted,
    }
}

/// Why a host cannot be applied from its saved plan: one line per resource that differs
/// from what was saved (empty: nothing does).
pub fn drift(saved: &SavedHost, now: &SavedHost) -> Vec<String> {
    let ids = |h: &SavedHost| h.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let (was, is) = (ids(saved), ids(now));
    if was != is {
        let gone: Vec<&String> = was.iter().filter(|i| !is.contains(i)).collect();
        let new: Vec<&String> = is.iter().filter(|i| !was.contains(i)).collect();
        let mut why = Vec::new();
        if !gone.is_empty() {
            why.push(format!("no longer in the playbook: {}", join(&gone)));
        }
        if !new.is_empty() {
            why.push(format!("not in the saved plan: {}", join(&new)));
        }
        if why.is_empty() {
            why.push("the resources are in another order than when planned".into());
        }
        return why;
    }
    saved.resources.iter().zip(&now.resources).filter(|(s, n)| s.digest != n.digest).map(|(s, n)| why(s, n)).collect()
}

fn join(ids: &[&String]) -> String {
    ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// What differs in one resource, named by its field.
fn why(saved: &SavedResource, now: &SavedResource) -> String {
    let id = &saved.id;
    let field = |c: &Change| c.field().to_string();
    let val = |v: Option<&str>| v.map_or_else(|| "(absent)".to_string(), str::to_string);
    if saved.wanted != now.wanted {
        return if saved.secret || now.secret {
            format!(
                "{id}: its secret-bearing content no longer matches the plan's hash (a secret, or a file it is made from, changed)"
            )
        } else {
            format!("{id}: what it wants changed since the plan (the playbook's files changed)")
        };
    }
    if saved.action == Action::Ok && now.action != Action::Ok {
        let fields: Vec<String> = now.changes.iter().map(field).collect();
        return format!("{id}: {} drifted: in sync when planned, differs now", fields.join(", "));
    }
    if saved.action != Action::Ok && now.action == Action::Ok {
        let fields: Vec<String> = saved.changes.iter().map(field).collect();
        return format!("{id}: {} drifted: already as wanted (changed since the plan)", fields.join(", "));
    }
    for s in &saved.changes {
        let Some(n) = now.changes.iter().find(|n| n.field() == s.field()) else {
            return format!("{id}: {} drifted: no longer differs", s.field());
        };
        if s.before() != n.before() {
            return format!("{id}: {} drifted: {} when planned, {} now", s.field(), val(s.before()), val(n.before()));
        }
        if s.after() != n.after() || s.content_shown() != n.content_shown() {
            return format!("{id}: wanted {} changed since the plan (the playbook's files changed)", s.field());
        }
    }
    if let Some(n) = now.changes.iter().find(|n| !saved.changes.iter().any(|s| s.field() == n.field())) {
        return format!("{id}: {} drifted: differs now, not when planned", n.field());
    }
    if saved.secret || now.secret {
        return format!("{id}: its secret-bearing content no longer matches the plan's hash (a secret changed)");
    }
    format!("{id}: its steps differ from the plan's")
}

/// Whether `path` holds a saved plan rather than a playbook.
pub fn is_saved_plan(path: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    let mut head = [0u8; 64];
    let n = std::io::Read::read(&mut f, &mut head).unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]);
    head.trim_start().starts_with('{') && head.contains("\"converge_plan\"")
}

/// Reads a saved plan.
pub fn read(path: &Path) -> Result<SavedPlan, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let plan: SavedPlan =
        serde_json::from_str(&text).map_err(|e| format!("{} is not a converge plan: {e}", path.display()))?;
    if plan.converge_plan != FORMAT {
        return Err(format!(
            "{} is a plan of format {}; this converge reads format {FORMAT}: make a new plan",
            path.display(),
            plan.converge_plan
        ));
    }
    Ok(plan)
}

/// The whole-file checks: the same converge, the same key, not older than `max_age`.
pub fn check_file(plan: &SavedPlan, key: &PlanKey, max_age: Option<Duration>) -> Result<(), String> {
    let version = env!("CARGO_PKG_VERSION");
    if plan.version != version {
        return Err(format!("the plan was made by converge {}, this is {version}: make a new plan", plan.version));
    }
    if plan.key_id != key.id() {
        return Err(format!(
            "the plan was made with another plan key ({}; this machine's is {}): make a new plan here, or set CONVERGE_PLAN_KEY_FILE to the key it was made with",
            plan.key_id,
            key.id()
        ));
    }
    if let Some(max) = max_age {
        let created = humantime::parse_rfc3339(&plan.created).map_err(|e| format!("the plan's date: {e}"))?;
        let age = SystemTime::now().duration_since(created).unwrap_or_default();
        if age > max {
            return Err(format!(
                "the plan is {} old, more than --max-age {}: make a new plan",
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(max)
            ));
        }
    }
    Ok(())
}

/// Now, as the plan records it.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(id: &str, action: Action, changes: Vec<Change>, digest: &str) -> SavedResource {
        SavedResource {
            id: id.into(),
            action,
            changes,
            steps: None,
            secret: false,
            digest: digest.into(),
            wanted: "w".into(),
        }
    }

    fn host(resources: Vec<SavedResource>) -> SavedHost {
        SavedHost { host: "web-1".into(), resources }
    }

    #[test]
    fn drift_names_the_resource_and_the_field() {
        let planned = host(vec![
            res("file:/etc/app.conf", Action::Change, vec![Change::set("content", "sha256:aaa", "sha256:bbb")], "1"),
            res("package:nginx", Action::Ok, vec![], "2"),
        ]);
        assert!(drift(&planned, &planned.clone()).is_empty());
        let edited = host(vec![
            res("file:/etc/app.conf", Action::Change, vec![Change::set("content", "sha256:ccc", "sha256:bbb")], "3"),
            res("package:nginx", Action::Create, vec![Change::new("state", None, Some("installed".into()))], "4"),
        ]);
        assert_eq!(
            drift(&planned, &edited),
            [
                "file:/etc/app.conf: content drifted: sha256:aaa when planned, sha256:ccc now",
                "package:nginx: state drifted: in sync when planned, differs now"
            ]
        );
        // the same host, a secret-bearing resource in sync: unchanged, the steps differ
        let secret = host(vec![
            SavedResource { secret: true, ..res("file:/etc/app.conf", Action::Change, vec![], "5") },
            res("package:nginx", Action::Ok, vec![], "2"),
        ]);
        let resalted =
            vec![res("file:/etc/app.conf", Action::Change, vec![], "6"), res("package:nginx", Action::Ok, vec![], "2")];
        assert_eq!(
            drift(&secret, &host(resalted)),
            ["file:/etc/app.conf: its secret-bearing content no longer matches the plan's hash (a secret changed)"]
        );
        // what is wanted changed, not the host: said so, naming no field
        let moved = SavedResource {
            wanted: "w2".into(),
            ..res("file:/etc/app.conf", Action::Change, vec![Change::set("content", "sha256:aaa", "sha256:ddd")], "7")
        };
        assert_eq!(
            drift(&secret, &host(vec![moved, res("package:nginx", Action::Ok, vec![], "2")])),
            [
                "file:/etc/app.conf: its secret-bearing content no longer matches the plan's hash (a secret, or a file it is made from, changed)"
            ]
        );
        let fewer = host(vec![res("package:nginx", Action::Ok, vec![], "2")]);
        assert_eq!(drift(&planned, &fewer), ["no longer in the playbook: file:/etc/app.conf"]);
    }

    #[test]
    fn digests_are_keyed() {
        let a = PlanKey::fixed(&[1; 32]);
        let b = PlanKey::fixed(&[2; 32]);
        assert_ne!(a.digest(&[b"x"]), b.digest(&[b"x"]));
        assert_ne!(a.digest(&[b"ab", b"c"]), a.digest(&[b"a", b"bc"]));
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn a_plan_too_old_or_from_another_key_is_refused() {
        let key = PlanKey::fixed(&[1; 32]);
        let plan = SavedPlan {
            converge_plan: FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            created: "2020-01-01T00:00:00Z".into(),
            playbook: "/p.kdl".into(),
            inventory: None,
            limit: None,
            tags: vec![],
            skip_tags: vec![],
            digest: String::new(),
            key_id: key.id(),
            hosts: vec![],
        };
        assert!(check_file(&plan, &key, None).is_ok());
        let old = check_file(&plan, &key, Some(Duration::from_secs(3600))).unwrap_err();
        assert!(old.contains("more than --max-age 1h"), "{old}");
        let other = check_file(&plan, &PlanKey::fixed(&[2; 32]), None).unwrap_err();
        assert!(other.contains("another plan key"), "{other}");
    }
}
