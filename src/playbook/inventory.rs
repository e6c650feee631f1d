//! The inventory: which hosts a playbook converges and how to reach them.
//!
//! ```kdl
//! host "ranch-869" address="203.0.113.10" user="ranch" become=#true {
//!     vars { app_port 3000 }
//! }
//! inventory {
//!     host "web-1" address="10.0.0.11" port=2222 identity="~/.ssh/deploy"
//!     host "local" connection="local"
//!     group "web" {
//!         host "web-1"
//!         host "ranch-869"
//!         vars { tier "production" }
//!     }
//! }
//! ```
//!
//! Hosts may be declared at the top of a playbook or inside an `inventory { }` block;
//! groups live in `inventory` blocks (a top-level `group` node is the resource that
//! manages a Unix group). A separate inventory file (`--inventory FILE`) holds the inside
//! of an `inventory` block and replaces every host and group of the playbook, so the same
//! playbook converges production or a test container unchanged.

use kdl::KdlNode;

use super::vars::{VarDecl, read_vars};
use crate::diag::{At, Code, Diag, Diags, Source, did_you_mean};
use crate::syntax::kdl::{entry_at, expect_bool, expect_int, expect_string, name_at};

/// How converge reaches a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    Ssh,
    Local,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub at: At,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity: Option<String>,
    pub become_root: bool,
    pub connection: Connection,
    pub vars: Vec<VarDecl>,
    /// Groups the host belongs to, in declaration order.
    pub groups: Vec<String>,
    /// Whether this declaration said anything beyond the name (a bare `host "x"` inside a
    /// group only adds membership).
    defines: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub at: At,
    pub vars: Vec<VarDecl>,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    pub groups: Vec<Group>,
}

const HOST_PROPS: &[&str] = &["address", "port", "user", "identity", "become", "connection"];

impl Inventory {
    /// Reads inventory nodes (`host`, `group`, `vars` is not allowed here) at one level.
    pub fn read_node(&mut self, src: &Source, node: &KdlNode, diags: &mut Diags) {
        match node.name().value() {
            "host" => {
                if let Some(h) = read_host(src, node, diags) {
                    self.add_host(h, diags);
                }
            }
            "group" => self.read_group(src, node, diags),
            other => {
                let mut d = Diag::new(
                    Code::Inventory,
                    format!("`{other}` does not belong in an inventory"),
                    &name_at(src, node),
                    "expected `host` or `group`",
                );
                if let Some(s) = did_you_mean(other, ["host", "group"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                diags.push(d);
            }
        }
    }

    fn read_group(&mut self, src: &Source, node: &KdlNode, diags: &mut Diags) {
        let Some(name) = first_name(src, node, "group", diags) else { return };
        for e in node.entries().iter().skip(1) {
            diags.push(Diag::new(Code::Inventory, "a group takes only a name", &entry_at(src, e), "unexpected"));
        }
        let at = name_at(src, node);
        if let Some(prev) = self.groups.iter().find(|g| g.name == name) {
            diags.push(
                Diag::new(Code::Duplicate, format!("group `{name}` is declared twice"), &at, "declared again here")
                    .label(&prev.at, "first declared here"),
            );
            return;
        }
        let mut vars = Vec::new();
        for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
            match child.name().value() {
                "host" => {
                    if let Some(mut h) = read_host(src, child, diags) {
                        h.groups.push(name.clone());
                        self.add_host(h, diags);
                    }
                }
                "vars" => vars.extend(read_vars(src, child, diags)),
                other => diags.push(Diag::new(
                    Code::Inventory,
                    format!("`{other}` does not belong in a group"),
                    &name_at(src, child),
                    "expected `host` or `vars`",
                )),
            }
        }
        self.groups.push(Group { name, at, vars });
    }

    /// Adds a host, merging group memberships of the same host declared in several places.
    fn add_host(&mut self, host: Host, diags: &mut Diags) {
        let Some(existing) = self.hosts.iter_mut().find(|h| h.name == host.name) else {
            self.hosts.push(host);
            return;
        };
        if existing.defines && host.defines {
            diags.push(
                Diag::new(
                    Code::Duplicate,
                    format!("host `{}` is declared twice", host.name),
                    &host.at,
                    "declared again here",
                )
                .label(&existing.at, "first declared here")
                .help("declare a host's address and variables once; elsewhere write only `host \"name\"`"),
            );
            return;
        }
        let mut groups = std::mem::take(&mut existing.groups);
        for g in &host.groups {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        if host.defines {
            *existing = host;
        }
        existing.groups = groups;
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Whether `target` (a host or group name) covers `host`.
    pub fn covers(&self, target: &str, host: &Host) -> bool {
        target == host.name || host.groups.iter().any(|g| g == target) || target == "all"
    }

    /// Every host and group name, for suggestions.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|h| h.name.as_str()).chain(self.groups.iter().map(|g| g.name.as_str()))
    }

    /// Hosts selected by `--limit`: comma-separated host or group names, `*` globs allowed.
    pub fn limit(&self, pattern: Option<&str>) -> Result<Vec<&Host>, NoMatch> {
        let Some(pattern) = pattern else { return Ok(self.hosts.iter().collect()) };
        let pats: Vec<&str> = pattern.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        let chosen: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| pats.iter().any(|p| glob(p, &h.name) || h.groups.iter().any(|g| glob(p, g))))
            .collect();
        if chosen.is_empty() {
            let nearest = pats.first().and_then(|p| did_you_mean(p, self.names())).map(str::to_string);
            return Err(NoMatch { pattern: pattern.to_string(), nearest });
        }
        Ok(chosen)
    }
}

/// `--limit` selected no host: the pattern as given, and the host or group name nearest
/// to its first part when one is close (a typo).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--limit {pattern} matches no host or group{}", nearest.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default())]
pub struct NoMatch {
    pub pattern: String,
    pub nearest: Option<String>,
}

fn first_name(src: &Source, node: &KdlNode, what: &str, diags: &mut Diags) -> Option<String> {
    match node.entries().first() {
        Some(e) if e.name().is_none() => match expect_string(src, e, &format!("a {what} name")) {
            Ok(s) if !s.is_empty() => Some(s),
            Ok(_) => {
                diags.push(Diag::new(
                    Code::Inventory,
                    format!("a {what} name cannot be empty"),
                    &entry_at(src, e),
                    "empty",
                ));
                None
            }
            Err(d) => {
                diags.push(d);
                None
            }
        },
        _ => {
            diags.push(
                Diag::new(Code::Inventory, format!("this {what} has no name"), &name_at(src, node), "name missing")
                    .help(format!("write `{what} \"name\" ...`")),
            );
            None
        }
    }
}

fn read_host(src: &Source, node: &KdlNode, diags: &mut Diags) -> Option<Host> {
    let name = first_name(src, node, "host", diags)?;
    let mut host = Host {
        name,
        at: name_at(src, node),
        address: None,
        port: None,
        user: None,
        identity: None,
        become_root: false,
        connection: Connection::Ssh,
        vars: Vec::new(),
        groups: Vec::new(),
        defines: false,
    };
    for e in node.entries().iter().skip(1) {
        let Some(key) = e.name().map(|k| k.value().to_string()) else {
            diags.push(Diag::new(Code::Inventory, "a host takes one name", &entry_at(src, e), "unexpected value"));
            continue;
        };
        host.defines = true;
        let r = read_host_prop(src, e, &key, &mut host);
        if let Err(d) = r {
            diags.push(d);
        }
    }
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        if child.name().value() == "vars" {
            host.defines = true;
            host.vars.extend(read_vars(src, child, diags));
        } else {
            diags.push(Diag::new(
                Code::Inventory,
                format!("`{}` does not belong in a host", child.name().value()),
                &name_at(src, child),
                "expected `vars`",
            ));
        }
    }
    Some(host)
}

fn read_host_prop(src: &Source, e: &kdl::KdlEntry, key: &str, host: &mut Host) -> Result<(), Diag> {
    match key {
        "address" => host.address = Some(expect_string(src, e, "address")?),
        "user" => host.user = Some(expect_string(src, e, "user")?),
        "identity" => host.identity = Some(expect_string(src, e, "identity")?),
        "become" => host.become_root = expect_bool(src, e, "become")?,
        "port" => {
            let p = expect_int(src, e, "port")?;
            host.port = Some(u16::try_from(p).ok().filter(|p| *p > 0).ok_or_else(|| {
                Diag::new(Code::Inventory, "port must be between 1 and 65535", &entry_at(src, e), "out of range")
            })?);
        }
        "connection" => {
            host.connection = match expect_string(src, e, "connection")?.as_str() {
                "ssh" => Connection::Ssh,
                "local" => Connection::Local,
                other => {
                    return Err(Diag::new(
                        Code::Inventory,
                        format!("unknown connection `{other}`"),
                        &entry_at(src, e),
                        "expected \"ssh\" or \"local\"",
                    ));
                }
            }
        }
        other => {
            let at = e.name().map(|n| At::new(src, n.span())).unwrap_or_else(|| entry_at(src, e));
            let mut d =
                Diag::new(Code::UnknownProperty, format!("unknown host property `{other}`"), &at, "unknown property");
            d = match did_you_mean(other, HOST_PROPS.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!("a host takes: {}", HOST_PROPS.join(", "))),
            };
            return Err(d);
        }
    }
    Ok(())
}

/// `*` matches any run of characters, `?` one character.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("*", "x"));
        assert!(glob("w?b", "web"));
        assert!(!glob("web", "web-1"));
    }

    #[test]
    fn limit_selects_by_host_group_or_glob_and_names_the_nearest_when_none_match() {
        let text = "group \"web\" { host \"web-1\" connection=\"local\"; }\nhost \"db-1\" connection=\"local\"";
        let src = crate::diag::source("i.kdl", text.to_string());
        let doc = crate::syntax::kdl::parse(&src).expect("kdl");
        let (mut inv, mut diags) = (Inventory::default(), Diags::default());
        for node in doc.nodes() {
            inv.read_node(&src, node, &mut diags);
        }
        assert!(diags.is_empty(), "{diags:?}");
        let names = |p: &str| inv.limit(Some(p)).map(|h| h.iter().map(|h| h.name.clone()).collect::<Vec<_>>());
        assert_eq!(names("web").ok(), Some(vec!["web-1".to_string()]));
        assert_eq!(names("*-1, db").map(|n| n.len()).ok(), Some(2));
        let none = names("wbe").expect_err("no match");
        assert_eq!(none, NoMatch { pattern: "wbe".into(), nearest: Some("web".into()) });
        assert_eq!(none.to_string(), "--limit wbe matches no host or group (did you mean `web`?)");
        let far = inv.limit(Some("zzzzzz")).expect_err("no match");
        assert_eq!(far.to_string(), "--limit zzzzzz matches no host or group");
    }
}
