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

mod pattern;

use kdl::KdlNode;

use self::pattern::{Op, Part};
use super::vars::{VarDecl, read_vars};
use crate::diag::{At, Code, Diag, Diags, Source, Spanned, did_you_mean};
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
    /// `become-password="SECRET"`: the secret holding the sudo password, by name.
    pub become_password: Option<Spanned<String>>,
    /// The sudo password itself, once resolved (from that secret, or `--ask-become-pass`).
    pub become_pass: Option<BecomePass>,
    /// `become-user="NAME"`: who the host's resources act as, unless a block or the
    /// resource says otherwise.
    pub become_user: Option<BecomeUser>,
    pub connection: Connection,
    pub vars: Vec<VarDecl>,
    /// Groups the host belongs to, in declaration order.
    pub groups: Vec<String>,
    /// Whether this declaration said anything beyond the name (a bare `host "x"` inside a
    /// group only adds membership).
    defines: bool,
}

/// `become-user="NAME"` as written on a host, a block or a resource; rendered with each
/// host's variables when its resources are built.
#[derive(Debug, Clone)]
pub struct BecomeUser {
    pub raw: String,
    pub token: crate::template::StringToken,
    /// Written on the resource itself.
    pub own: bool,
}

impl BecomeUser {
    pub fn read(src: &Source, e: &kdl::KdlEntry, own: bool) -> Result<BecomeUser, Diag> {
        let raw = expect_string(src, e, "become-user")?;
        let token =
            crate::template::StringToken { at: entry_at(src, e), inner: crate::syntax::kdl::string_inner_offset(e) };
        Ok(BecomeUser { raw, token, own })
    }
}

/// A sudo password: never shown, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct BecomePass(pub String);

impl std::fmt::Debug for BecomePass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BecomePass(********)")
    }
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

const HOST_PROPS: &[&str] =
    &["address", "port", "user", "identity", "become", "become-password", "become-user", "connection"];

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

    /// Hosts selected by `--limit`, in inventory order: every host without a pattern, else
    /// the hosts an Ansible host pattern selects (its forms: `inventory/pattern.rs`). The
    /// plain parts are joined first, then narrowed by every `&` part, then every `!` part
    /// is taken out, whatever order they are written in, as Ansible does.
    ///
    /// Stricter than Ansible where Ansible would quietly do something unexpected: a part
    /// that matches no host or group name is an error (Ansible warns and ignores it), so is
    /// a selection that ends up empty, and so is a pattern of only `&`/`!` parts, which
    /// Ansible reads as starting from `all`: here the user writes the `all:` they mean.
    pub fn limit(&self, pattern: Option<&str>) -> Result<Vec<&Host>, NoMatch> {
        let Some(pattern) = pattern else { return Ok(self.hosts.iter().collect()) };
        let parts = pattern::parse(pattern)?;
        for part in &parts {
            self.check_part(pattern, part)?;
        }
        let selects = |part: &Part| -> Vec<bool> {
            self.hosts.iter().map(|h| part.matches(&h.name) || h.groups.iter().any(|g| part.matches(g))).collect()
        };
        // as Ansible: a pattern of only `&` and `!` parts starts from every host
        let from_all = parts.iter().all(|p| p.op != Op::Union);
        let mut chosen = vec![from_all; self.hosts.len()];
        for part in parts.iter().filter(|p| p.op == Op::Union) {
            chosen.iter_mut().zip(selects(part)).for_each(|(c, s)| *c |= s);
        }
        // the first `&` or `!` part that leaves nothing, to say why the result is empty
        let mut emptied_by = None;
        for op in [Op::Intersect, Op::Exclude] {
            for part in parts.iter().filter(|p| p.op == op) {
                let had_some = chosen.contains(&true);
                let keep_matched = op == Op::Intersect;
                chosen.iter_mut().zip(selects(part)).for_each(|(c, s)| *c &= s == keep_matched);
                if had_some && !chosen.contains(&true) {
                    emptied_by = Some(part.written.clone());
                }
            }
        }
        if !chosen.contains(&true) {
            return Err(NoMatch::Empty { pattern: pattern.to_string(), emptied_by });
        }
        Ok(self.hosts.iter().zip(chosen).filter_map(|(h, c)| c.then_some(h)).collect())
    }

    /// Refuses a part that matches no host or group name (a typo, most likely: the nearest
    /// name is suggested) and a group position (`web[0]`) on a group, which Ansible would
    /// read differently from the class it is here.
    fn check_part(&self, pattern: &str, part: &Part) -> Result<(), NoMatch> {
        if let Some(group) = part.subscript_base().filter(|base| self.group(base).is_some()) {
            return Err(NoMatch::Invalid {
                pattern: pattern.to_string(),
                part: part.written.clone(),
                reason: "picks hosts of a group by position, which converge does not support".to_string(),
                help: Some(format!("name the hosts, or match them with a glob such as `{group}*`")),
            });
        }
        if part.is_all() || self.names().any(|n| part.matches(n)) {
            return Ok(());
        }
        let nearest = if part.is_regex() { None } else { did_you_mean(&part.name, self.names()) };
        Err(NoMatch::Unknown {
            pattern: pattern.to_string(),
            part: part.name.clone(),
            nearest: nearest.map(str::to_string),
        })
    }
}

/// Why `--limit` selects no host. The text is what the user reads (as a bare
/// `converge::limit` diagnostic, with [`NoMatch::help`] as its help line), so it always
/// names the pattern as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoMatch {
    /// A part (`part`, without its `&` or `!`) matches no host or group name; `nearest` is
    /// the name closest to it when one is close (a typo).
    #[error(
        "{}matches no host or group{}",
        if part == pattern { format!("--limit {pattern} ") } else { format!("`{part}` in --limit {pattern} ") },
        nearest.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default()
    )]
    Unknown { pattern: String, part: String, nearest: Option<String> },
    /// Every part matches some name, but together they leave no host: `emptied_by` is the
    /// `&` or `!` part after which none was left; `None` when the plain parts named only
    /// groups without hosts.
    #[error(
        "--limit {pattern} matches no host ({})",
        match emptied_by {
            Some(part) => format!("none is left after `{part}`"),
            None => "the groups it names have no hosts".to_string(),
        }
    )]
    Empty { pattern: String, emptied_by: Option<String> },
    /// No part at all (`--limit ""`, `--limit ,`).
    #[error("--limit `{pattern}` names no host or group")]
    Blank { pattern: String },
    /// A part that cannot be read: a bare `&`, `!` or `~`, a regex that does not compile,
    /// a group position.
    #[error("`{part}` in --limit {pattern} {reason}")]
    Invalid { pattern: String, part: String, reason: String, help: Option<String> },
}

impl NoMatch {
    /// What to write instead, when there is more to say than the message.
    pub fn help(&self) -> Option<String> {
        match self {
            NoMatch::Blank { .. } => Some("name hosts or groups, or `all` for every host".to_string()),
            NoMatch::Invalid { help, .. } => help.clone(),
            NoMatch::Unknown { .. } | NoMatch::Empty { .. } => None,
        }
    }
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
        become_password: None,
        become_pass: None,
        become_user: None,
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
        "become-password" => {
            let name = expect_string(src, e, "become-password")?;
            host.become_password = Some(Spanned { value: name, at: entry_at(src, e) });
        }
        "become-user" => host.become_user = Some(BecomeUser::read(src, e, false)?),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hosts declared out of group order, so that inventory order differs from the order
    /// of any pattern's parts.
    const INVENTORY: &str = r#"
        host "web-1" connection="local"
        host "db-1" connection="local"
        host "web-2" connection="local"
        host "web-3" connection="local"
        host "lb" connection="local"
        group "web" { host "web-1"; host "web-2"; host "web-3"; }
        group "eu" { host "web-1"; host "db-1"; }
        group "empty" {}
    "#;

    fn inventory() -> Inventory {
        let src = crate::diag::source("i.kdl", INVENTORY.to_string());
        let doc = crate::syntax::kdl::parse(&src).expect("kdl");
        let (mut inv, mut diags) = (Inventory::default(), Diags::default());
        for node in doc.nodes() {
            inv.read_node(&src, node, &mut diags);
        }
        assert!(diags.is_empty(), "{diags:?}");
        inv
    }

    /// The names `--limit pattern` selects, in the order returned.
    fn names(inv: &Inventory, pattern: &str) -> Result<Vec<String>, NoMatch> {
        inv.limit(Some(pattern)).map(|hosts| hosts.iter().map(|h| h.name.clone()).collect())
    }

    fn selects(pattern: &str, expected: &[&str]) {
        let expected: Vec<String> = expected.iter().map(|n| n.to_string()).collect();
        assert_eq!(names(&inventory(), pattern), Ok(expected), "--limit {pattern}");
    }

    #[test]
    fn limit_without_a_pattern_is_every_host_and_all_or_star_are_too() {
        let every = ["web-1", "db-1", "web-2", "web-3", "lb"];
        let inv = inventory();
        let unlimited: Vec<&str> = inv.limit(None).expect("every host").iter().map(|h| h.name.as_str()).collect();
        assert_eq!(unlimited, every);
        selects("all", &every);
        selects("*", &every);
    }

    #[test]
    fn limit_unions_parts_separated_by_colons_or_commas_in_inventory_order() {
        let expected = ["web-1", "db-1", "web-2", "web-3"];
        selects("web:db-1", &expected);
        selects("web,db-1", &expected);
        selects("db-1 , web", &expected);
        selects("web-3:eu,web-3", &["web-1", "db-1", "web-3"]);
    }

    #[test]
    fn limit_excludes_bang_parts_whatever_their_position() {
        selects("web:!web-3", &["web-1", "web-2"]);
        selects("!web-3:web", &["web-1", "web-2"]);
        selects("all:!web", &["db-1", "lb"]);
        selects("all:!web:!eu", &["lb"]);
    }

    #[test]
    fn limit_intersects_ampersand_parts_before_excluding() {
        selects("web:&eu", &["web-1"]);
        selects("all:&eu", &["web-1", "db-1"]);
        selects("web:db-1:&eu:!db-1", &["web-1"]);
        // `&` narrows the union of every plain part, not only the part before it
        selects("lb:&eu:db-1", &["db-1"]);
    }

    #[test]
    fn limit_globs_and_regexes_match_host_and_group_names() {
        selects("web-*", &["web-1", "web-2", "web-3"]);
        selects("*-1", &["web-1", "db-1"]);
        selects("web-[12]", &["web-1", "web-2"]);
        selects("web-[!12]", &["web-3"]);
        // `e?` matches the group `eu`, so its hosts
        selects("e?", &["web-1", "db-1"]);
        selects("~(db|lb)", &["db-1", "lb"]);
        selects("all:!~web-[23]", &["web-1", "db-1", "lb"]);
    }

    #[test]
    fn limit_of_only_exclusions_or_intersections_starts_from_every_host_as_ansible_does() {
        let inv = inventory();
        assert_eq!(names(&inv, "!web"), names(&inv, "all:!web"));
        assert_eq!(names(&inv, "&eu:!lb"), names(&inv, "all:&eu:!lb"));
        assert!(names(&inv, "!web").is_ok_and(|n| !n.is_empty()));
    }

    #[test]
    fn limit_part_that_matches_no_name_is_named_with_the_nearest() {
        let inv = inventory();
        let err = names(&inv, "wbe").expect_err("typo");
        assert_eq!(err, NoMatch::Unknown { pattern: "wbe".into(), part: "wbe".into(), nearest: Some("web".into()) });
        assert_eq!(err.to_string(), "--limit wbe matches no host or group (did you mean `web`?)");
        assert_eq!(err.help(), None);
        // in any position, `&` and `!` parts included; the part is named without its `!`
        let err = names(&inv, "web:!wbe-3").expect_err("typo in an exclusion");
        assert_eq!(err.to_string(), "`wbe-3` in --limit web:!wbe-3 matches no host or group (did you mean `web-3`?)");
        let err = names(&inv, "all:&ue").expect_err("typo in an intersection");
        assert_eq!(err.to_string(), "`ue` in --limit all:&ue matches no host or group (did you mean `eu`?)");
        let err = names(&inv, "zzzzzz").expect_err("nothing near");
        assert_eq!(err.to_string(), "--limit zzzzzz matches no host or group");
        let err = names(&inv, "web:~zz").expect_err("a regex matching nothing");
        assert_eq!(err.to_string(), "`~zz` in --limit web:~zz matches no host or group");
    }

    #[test]
    fn limit_that_leaves_no_host_says_which_part_emptied_it() {
        let inv = inventory();
        let err = names(&inv, "lb:&eu").expect_err("empty intersection");
        assert_eq!(err, NoMatch::Empty { pattern: "lb:&eu".into(), emptied_by: Some("&eu".into()) });
        assert_eq!(err.to_string(), "--limit lb:&eu matches no host (none is left after `&eu`)");
        let err = names(&inv, "web:!web-*:&eu").expect_err("everything excluded");
        assert_eq!(err.to_string(), "--limit web:!web-*:&eu matches no host (none is left after `!web-*`)");
        let err = names(&inv, "empty").expect_err("a group without hosts");
        assert_eq!(err.to_string(), "--limit empty matches no host (the groups it names have no hosts)");
    }

    #[test]
    fn limit_refuses_a_group_position_it_would_read_differently_from_ansible() {
        let err = names(&inventory(), "web[0]").expect_err("group position");
        assert_eq!(
            err.to_string(),
            "`web[0]` in --limit web[0] picks hosts of a group by position, which converge does not support"
        );
        assert_eq!(err.help().as_deref(), Some("name the hosts, or match them with a glob such as `web*`"));
        // the same shape on a name that is no group is a class
        selects("web-[1]", &["web-1"]);
    }
}
