//! The playbook: a KDL file read into hosts, groups, variables and resource declarations,
//! every value with its span.
//!
//! ```kdl
//! host "ranch-869" address="203.0.113.10" user="ranch" become=#true
//! vars { app "viewbovis" }
//! package "nginx-light"
//! user "{{ app }}" system=#true home="/srv/{{ app }}"
//! on "ranch-869" {
//!     directory "/var/log/{{ app }}" owner="{{ app }}" mode="0755"
//! }
//! ```
//!
//! Loading checks the playbook's shape (known node names, well-formed inventory and vars,
//! `on` targets that exist); resources are built per host by [`expand`], because their
//! strings are rendered with each host's variables. All problems are collected and
//! returned together.

pub mod expand;
pub mod inventory;
pub mod module;
pub mod secrets;
pub mod vars;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::kdl::KdlNode;

use self::inventory::{BecomeUser, Inventory};
use self::module::ModuleUse;
use self::secrets::{SecretDecl, read_secrets};
use self::vars::{VarDecl, read_vars};
use crate::diag::{At, Code, Diag, Diags, Source, Spanned, did_you_mean};
use crate::resources::{KINDS, kind_def};
use crate::syntax::kdl::{entry_at, expect_string, name_at};
use crate::template::StringToken;

/// Top-level node names that are not resource kinds.
const KEYWORDS: &[&str] = &["host", "inventory", "vars", "secrets", "on", "use", "for"];

#[derive(Debug)]
pub struct Playbook {
    pub src: Source,
    /// Directory templates and sources are relative to.
    pub dir: PathBuf,
    pub inventory: Inventory,
    pub vars: Vec<VarDecl>,
    pub secrets: Vec<SecretDecl>,
    /// Each secret's name and value, read when the playbook was loaded.
    pub secret_values: Vec<(String, String)>,
    pub resources: Vec<ResourceDecl>,
}

/// What the blocks around a declaration add to it: the hosts of an `on`, the conditions
/// and tags of `on` blocks, module uses and `for` loops, and the loops themselves.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `on "web" { ... }`: the host or group names it is limited to; `None` = every host.
    pub targets: Option<Vec<Spanned<String>>>,
    /// `when=` of the enclosing blocks, outermost first, then the resource's own.
    pub conditions: Vec<Condition>,
    /// `tags=` of the enclosing blocks, then the resource's own.
    pub tags: Vec<Spanned<String>>,
    /// The `for` loops around it, outermost first.
    pub loops: Vec<Arc<ForLoop>>,
    /// The innermost `become-user=`: the resource's own, else its nearest block's.
    pub become_user: Option<BecomeUser>,
}

/// A `when="EXPR"`: a Jinja expression, true or false for each host.
#[derive(Debug, Clone)]
pub struct Condition {
    pub expr: String,
    pub token: StringToken,
}

/// `for "ITEM" in="EXPR" { ... }` (or `for "KEY" "VALUE" in=MAP`): the declarations
/// inside are made once per item.
#[derive(Debug)]
pub struct ForLoop {
    /// The loop variables: one (the item; over a map, `{key, value}`), or two (a map's key
    /// and value).
    pub names: Vec<String>,
    pub expr: String,
    pub token: StringToken,
    /// The `for` keyword, where errors of an iteration are labelled.
    pub at: At,
}

/// Where a node is read: its file, the directory its paths are relative to, and the
/// module uses it comes through (outermost first; empty in the playbook itself).
struct Site<'a> {
    src: &'a Source,
    dir: &'a Path,
    chain: &'a [Arc<ModuleUse>],
}

/// One resource node as written, with where it applies.
#[derive(Debug, Clone)]
pub struct ResourceDecl {
    pub node: KdlNode,
    pub src: Source,
    pub dir: PathBuf,
    /// The blocks around it: targets, conditions, tags, loops.
    pub scope: Scope,
    /// Declaration order, which breaks ties in the apply order.
    pub index: usize,
    /// The module uses this declaration comes through, outermost first (empty: written in
    /// the playbook itself).
    pub modules: Vec<Arc<ModuleUse>>,
}

impl ResourceDecl {
    pub fn at(&self) -> At {
        name_at(&self.src, &self.node)
    }

    /// Adds the use sites of the modules this declaration comes from to a diagnostic
    /// about it, so an error inside a module also points at where it is used.
    pub fn annotate(&self, diag: Diag) -> Diag {
        annotate(&self.modules, diag)
    }
}

/// Labels the use sites of a chain of modules (innermost first) on a diagnostic.
fn annotate(chain: &[Arc<ModuleUse>], mut diag: Diag) -> Diag {
    for m in chain.iter().rev() {
        diag = diag.label(&m.at, "in the module used here");
    }
    diag
}

/// Reads a file into a [`Source`] named by the path as the user gave it.
pub fn read_source(path: &Path, what: &str) -> Result<Source, Diags> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(crate::diag::source(path.display().to_string(), text)),
        Err(e) => Err(Diag::bare(Code::Io, format!("cannot read {what} {}: {e}", path.display())).into()),
    }
}

/// Loads a playbook, and with `inventory`, replaces its hosts and groups by that file's.
pub fn load(path: &Path, inventory: Option<&Path>) -> Result<Playbook, Diags> {
    let (pb, diags) = load_all(path, inventory)?;
    diags.into_result(pb)
}

/// [`load`], keeping what could be read: `Err` only when the file cannot be read or is
/// not KDL; otherwise the playbook (without the nodes that are not understood: an unknown
/// kind, a malformed host) and every problem found reading it, so that the later stages
/// can still check what was read and report their own problems in the same run.
pub fn load_all(path: &Path, inventory: Option<&Path>) -> Result<(Playbook, Diags), Diags> {
    let src = read_source(path, "playbook")?;
    let doc = crate::syntax::kdl::parse(&src)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut diags = Diags::default();
    let mut pb = Playbook {
        src: src.clone(),
        dir: dir.clone(),
        inventory: Inventory::default(),
        vars: Vec::new(),
        secrets: Vec::new(),
        secret_values: Vec::new(),
        resources: Vec::new(),
    };
    for node in doc.nodes() {
        pb.read_top(&src, node, &dir, &mut diags);
    }
    if let Some(inv_path) = inventory {
        pb.inventory = load_inventory(inv_path, &mut diags);
    }
    pb.check_targets(&mut diags);
    pb.check_secret_names(&mut diags);
    let (values, missing) = secrets::resolve(&pb.secrets, &pb.dir);
    pb.secret_values = values;
    diags.extend(missing);
    pb.resolve_become_passwords(&mut diags);
    Ok((pb, diags))
}

/// An inventory file on its own (`converge facts -i FILE`): a `become-password` there
/// names a secret only a playbook declares.
pub fn load_inventory_file(path: &Path) -> Result<Inventory, Diags> {
    let mut diags = Diags::default();
    let inv = load_inventory(path, &mut diags);
    for h in &inv.hosts {
        if let Some(name) = &h.become_password {
            diags.push(
                Diag::new(
                    Code::Secret,
                    format!("`{}` names a secret, and secrets are a playbook's", name.value),
                    &name.at,
                    "no playbook here",
                )
                .help("give the playbook that declares it (--playbook FILE), or --ask-become-pass"),
            );
        }
    }
    diags.into_result(inv)
}

fn load_inventory(path: &Path, diags: &mut Diags) -> Inventory {
    let mut inv = Inventory::default();
    let src = match read_source(path, "inventory") {
        Ok(s) => s,
        Err(d) => {
            diags.extend(d);
            return inv;
        }
    };
    match crate::syntax::kdl::parse(&src) {
        Ok(doc) => {
            for node in doc.nodes() {
                let inner: Vec<&KdlNode> = if node.name().value() == "inventory" {
                    node.children().map(|c| c.nodes().iter().collect()).unwrap_or_default()
                } else {
                    vec![node]
                };
                for n in inner {
                    inv.read_node(&src, n, diags);
                }
            }
        }
        Err(d) => diags.extend(d),
    }
    inv
}

impl Playbook {
    fn read_top(&mut self, src: &Source, node: &KdlNode, dir: &Path, diags: &mut Diags) {
        match node.name().value() {
            "host" => self.inventory.read_node(src, node, diags),
            "inventory" => {
                reject_entries(src, node, "`inventory` takes a block", diags);
                for n in node.children().map(|c| c.nodes()).unwrap_or_default() {
                    self.inventory.read_node(src, n, diags);
                }
            }
            "vars" => self.vars.extend(read_vars(src, node, diags)),
            "secrets" => self.secrets.extend(read_secrets(src, node, diags)),
            "on" | "use" | "for" => self.read_resource(&Site { src, dir, chain: &[] }, node, &Scope::default(), diags),
            "group" if is_inventory_group(node) => diags.push(
                Diag::new(
                    Code::Inventory,
                    "a group of hosts belongs in an `inventory { }` block",
                    &name_at(src, node),
                    "a top-level `group` is a Unix group resource",
                )
                .help("write `inventory { group \"web\" { host \"web-1\" } }`"),
            ),
            _ => self.read_resource(&Site { src, dir, chain: &[] }, node, &Scope::default(), diags),
        }
    }

    /// A resource, an `on` block, a `for` loop or a `use` of a module, in the playbook or
    /// in a module (`chain`: the module uses around it).
    fn read_resource(&mut self, site: &Site, node: &KdlNode, scope: &Scope, diags: &mut Diags) {
        let (src, chain) = (site.src, site.chain);
        match node.name().value() {
            "on" if scope.targets.is_none() => self.read_on(site, node, scope, diags),
            "use" => self.read_use(site, node, scope, diags),
            "for" => self.read_for(site, node, scope, diags),
            kind if kind_def(kind).is_some() => {
                // its own `when=` and `tags=` join those of the blocks around it
                let mut scope = scope.clone();
                block_extras(src, node, &mut scope, diags);
                if let Some(b) = scope.become_user.as_mut().filter(|_| has_become_user(node)) {
                    b.own = true;
                }
                self.push_resource(site, node, &scope)
            }
            _ => diags.push(annotate(chain, unknown_kind(src, node))),
        }
    }

    /// `for "ITEM" in="EXPR" { ... }`: the declarations inside, with the loop in their
    /// scope.
    fn read_for(&mut self, site: &Site, node: &KdlNode, scope: &Scope, diags: &mut Diags) {
        let src = site.src;
        let at = name_at(src, node);
        let mut names = Vec::new();
        let mut bad_names = false;
        let mut expr = None;
        let mut inner = scope.clone();
        for e in node.entries() {
            match e.name().map(|n| n.value()) {
                None => match expect_string(src, e, "a loop variable") {
                    Ok(n) if crate::syntax::reader::is_env_name(&n) => names.push(n),
                    Ok(n) => {
                        bad_names = true;
                        diags.push(Diag::new(
                            Code::Loop,
                            format!("`{n}` is not a variable name"),
                            &entry_at(src, e),
                            "letters, digits and `_`, not starting with a digit",
                        ))
                    }
                    Err(d) => {
                        bad_names = true;
                        diags.push(d)
                    }
                },
                Some("in") => match expect_string(src, e, "`in`") {
                    Ok(x) => expr = Some(Condition { expr: x, token: token_of(src, e) }),
                    Err(d) => diags.push(d),
                },
                Some("when" | "tags" | "become-user") => {}
                Some(other) => diags.push(
                    Diag::new(
                        Code::Loop,
                        format!("`for` has no property `{other}`"),
                        &entry_at(src, e),
                        "unknown property",
                    )
                    .help("`for` takes its variable, `in=`, and optionally `when=`, `tags=` and `become-user=`"),
                ),
            }
        }
        block_extras(src, node, &mut inner, diags);
        if bad_names {
            return;
        }
        if names.is_empty() || names.len() > 2 {
            diags.push(
                Diag::new(Code::Loop, "`for` takes one or two loop variables", &at, "here").help(
                    "write `for \"user\" in=\"users\" { ... }`, or `for \"name\" \"value\" in=\"a_map\" { ... }`",
                ),
            );
            return;
        }
        let Some(expr) = expr else {
            diags.push(
                Diag::new(Code::Loop, "`for` needs `in=`, the list or map to loop over", &at, "no `in=`")
                    .help("write `for \"user\" in=\"users\" { ... }`"),
            );
            return;
        };
        if let Some(d) = braces(&expr, "in") {
            diags.push(d);
            return;
        }
        // every condition is evaluated per item, the loop's own `when` included
        inner.loops.push(Arc::new(ForLoop { names, expr: expr.expr, token: expr.token, at }));
        for n in node.children().map(|c| c.nodes()).unwrap_or_default() {
            self.read_resource(site, n, &inner, diags);
        }
    }

    fn read_use(&mut self, site: &Site, node: &KdlNode, scope: &Scope, diags: &mut Diags) {
        let Some((used, file)) = module::load_use(site.src, node, site.dir, site.chain, diags) else { return };
        let mut scope = scope.clone();
        block_extras(site.src, node, &mut scope, diags);
        let mut inner: Vec<Arc<ModuleUse>> = site.chain.to_vec();
        inner.push(used);
        let within = Site { src: &file.src, dir: &file.dir, chain: &inner };
        for n in &file.nodes {
            self.read_resource(&within, n, &scope, diags);
        }
    }

    fn read_on(&mut self, site: &Site, node: &KdlNode, scope: &Scope, diags: &mut Diags) {
        let src = site.src;
        let mut targets = Vec::new();
        for e in node.entries() {
            match (e.name().map(|n| n.value()), expect_string(src, e, "a host or group name")) {
                (None, Ok(name)) => targets.push(Spanned { value: name, at: entry_at(src, e) }),
                (Some("when" | "tags" | "become-user"), _) => {}
                (Some(_), _) => diags.push(
                    Diag::new(Code::On, "`on` takes host or group names", &entry_at(src, e), "property here")
                        .help("besides its hosts and groups, `on` takes only `when=`, `tags=` and `become-user=`"),
                ),
                (None, Err(d)) => diags.push(d),
            }
        }
        if targets.is_empty() {
            diags.push(
                Diag::new(Code::On, "`on` needs at least one host or group", &name_at(src, node), "no target")
                    .help("write `on \"web\" { ... }`"),
            );
        }
        let mut inner = scope.clone();
        inner.targets = Some(targets);
        block_extras(src, node, &mut inner, diags);
        for n in node.children().map(|c| c.nodes()).unwrap_or_default() {
            self.read_resource(site, n, &inner, diags);
        }
    }

    fn push_resource(&mut self, site: &Site, node: &KdlNode, scope: &Scope) {
        let index = self.resources.len();
        self.resources.push(ResourceDecl {
            node: node.clone(),
            src: site.src.clone(),
            dir: site.dir.to_path_buf(),
            scope: scope.clone(),
            index,
            modules: site.chain.to_vec(),
        });
    }

    /// The secrets that could not be read (each reported when the playbook was loaded).
    pub fn missing_secrets(&self) -> Vec<&str> {
        let read = |name: &str| self.secret_values.iter().any(|(n, _)| n == name);
        self.secrets.iter().map(|s| s.name.as_str()).filter(|n| !read(n)).collect()
    }

    /// The secret values, for masking every report.
    pub fn secret_list(&self) -> Vec<String> {
        self.secret_values.iter().map(|(_, v)| v.clone()).filter(|v| !v.is_empty()).collect()
    }

    /// A secret and a variable cannot share a name: which one a template sees would be a
    /// surprise, and a secret shadowed by a variable would be printed.
    /// Each host's `become-password` names one of the playbook's secrets, whose value
    /// becomes the host's sudo password; it goes with `become=#true`.
    fn resolve_become_passwords(&mut self, diags: &mut Diags) {
        for h in &mut self.inventory.hosts {
            let Some(name) = &h.become_password else { continue };
            if !h.become_root {
                diags.push(
                    Diag::new(
                        Code::Secret,
                        "`become-password` without `become=#true`",
                        &name.at,
                        "no sudo to give it to",
                    )
                    .help("add `become=#true`, or remove `become-password`"),
                );
                continue;
            }
            match self.secret_values.iter().find(|(n, _)| *n == name.value) {
                Some((_, v)) if v.contains(['\n', '\r']) => diags.push(
                    Diag::new(Code::Secret, "a sudo password is one line", &name.at, "this secret holds a line break")
                        .help("sudo reads its password up to the end of a line"),
                ),
                Some((_, v)) => h.become_pass = Some(inventory::BecomePass(v.clone())),
                None if self.secrets.iter().any(|s| s.name == name.value) => {} // missing: reported already
                None => {
                    let names: Vec<&str> = self.secrets.iter().map(|s| s.name.as_str()).collect();
                    let mut d = Diag::new(
                        Code::Secret,
                        format!("`{}` is not a secret of this playbook", name.value),
                        &name.at,
                        "unknown secret",
                    );
                    d = match crate::diag::did_you_mean(&name.value, names.iter().copied()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!("declare it: `secrets {{ {} env=\"SUDO_PASSWORD\" }}`", name.value)),
                    };
                    diags.push(d);
                }
            }
        }
    }

    fn check_secret_names(&self, diags: &mut Diags) {
        let groups = self.inventory.groups.iter().flat_map(|g| g.vars.iter());
        let hosts = self.inventory.hosts.iter().flat_map(|h| h.vars.iter());
        for v in self.vars.iter().chain(groups).chain(hosts) {
            if let Some(s) = self.secrets.iter().find(|s| s.name == v.name) {
                diags.push(
                    Diag::new(
                        Code::Secret,
                        format!("`{}` is both a variable and a secret", v.name),
                        &v.at,
                        "variable here",
                    )
                    .label(&s.at, "secret here"),
                );
            }
        }
    }

    /// Every `on` target names a host or group of the (possibly replaced) inventory.
    fn check_targets(&self, diags: &mut Diags) {
        for decl in &self.resources {
            for t in decl.scope.targets.iter().flatten() {
                let known = t.value == "all"
                    || self.inventory.host(&t.value).is_some()
                    || self.inventory.group(&t.value).is_some();
                if !known {
                    let mut d = Diag::new(
                        Code::UnknownTarget,
                        format!("no host or group named `{}`", t.value),
                        &t.at,
                        "not in the inventory",
                    );
                    if let Some(s) = did_you_mean(&t.value, self.inventory.names()) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
            }
        }
    }
}

/// The `when=`, `tags=` and `become-user=` of a node (a resource, or a block: `on`,
/// `use`, `for`), added to its scope. Tags are not templated: they select what runs before
/// any host is known. A `become-user` replaces the one around it.
fn block_extras(src: &Source, node: &KdlNode, scope: &mut Scope, diags: &mut Diags) {
    for e in node.entries() {
        match e.name().map(|n| n.value()) {
            Some("when") => scope.conditions.extend(condition(src, e, diags)),
            Some("tags") => scope.tags.extend(tags(src, e, diags)),
            Some("become-user") => match BecomeUser::read(src, e, false) {
                Ok(b) => scope.become_user = Some(b),
                Err(d) => diags.push(d),
            },
            _ => {}
        }
    }
}

fn has_become_user(node: &KdlNode) -> bool {
    node.entries().iter().any(|e| e.name().is_some_and(|n| n.value() == "become-user"))
}

fn condition(src: &Source, e: &kdl::KdlEntry, diags: &mut Diags) -> Option<Condition> {
    let expr = match expect_string(src, e, "`when`") {
        Ok(x) => x,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let c = Condition { expr, token: token_of(src, e) };
    if let Some(d) = braces(&c, "when") {
        diags.push(d);
        return None;
    }
    Some(c)
}

/// `when="{{ x }}"`: an expression is written bare, as in Ansible.
fn braces(c: &Condition, key: &str) -> Option<Diag> {
    (c.expr.contains("{{") || c.expr.contains("{%")).then(|| {
        Diag::new(
            Code::Condition,
            format!("`{key}` is an expression, not a template"),
            &c.token.at,
            "written in `{{ }}`",
        )
        .help(format!("write the expression bare: {key}=\"{}\"", c.expr.replace("{{", "").replace("}}", "").trim()))
    })
}

/// `tags="web"`, `tags="web nginx"` or `tags="web,nginx"`: each tag a word.
pub fn tags(src: &Source, e: &kdl::KdlEntry, diags: &mut Diags) -> Vec<Spanned<String>> {
    let text = match expect_string(src, e, "`tags`") {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let at = entry_at(src, e);
    let words: Vec<&str> = text.split([',', ' ']).filter(|w| !w.is_empty()).collect();
    let bad = words.iter().find(|w| !w.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)));
    if words.is_empty() || bad.is_some() {
        diags.push(
            Diag::new(Code::Tags, "a tag is a word: letters, digits, `-`, `_` and `.`", &at, "not a tag")
                .help("write `tags=\"web\"`, or several: `tags=\"web nginx\"`"),
        );
        return Vec::new();
    }
    words.into_iter().map(|w| Spanned { value: w.to_string(), at: at.clone() }).collect()
}

fn token_of(src: &Source, e: &kdl::KdlEntry) -> StringToken {
    StringToken { at: entry_at(src, e), inner: crate::syntax::kdl::string_inner_offset(e) }
}

/// A `group` node with `host` or `vars` children is an inventory group written at the
/// top level by mistake.
fn is_inventory_group(node: &KdlNode) -> bool {
    node.children().is_some_and(|c| c.nodes().iter().any(|n| matches!(n.name().value(), "host" | "vars")))
}

fn reject_entries(src: &Source, node: &KdlNode, message: &str, diags: &mut Diags) {
    if let Some(e) = node.entries().first() {
        diags.push(Diag::new(Code::Syntax, message, &entry_at(src, e), "unexpected"));
    }
}

fn unknown_kind(src: &Source, node: &KdlNode) -> Diag {
    let name = node.name().value();
    let names = KINDS.iter().map(|k| k.name).chain(KEYWORDS.iter().copied());
    let mut d =
        Diag::new(Code::UnknownKind, format!("unknown resource kind `{name}`"), &name_at(src, node), "unknown kind");
    d = match did_you_mean(name, names) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("known kinds: {}", KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "))),
    };
    d
}
