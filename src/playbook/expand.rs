//! Expansion: a playbook's resource declarations, built for one host.
//!
//! The host's variables (playbook, then its groups, then its own) are rendered into a
//! context; every declaration that targets the host is built by its kind with that
//! context, and the engine's own properties (`require`, `notify`) are read. The result is
//! a list of [`Instance`]s in declaration order, ready for the graph.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::Value;

use super::inventory::Host;
use super::module::ModuleUse;
use super::vars::{VarDecl, resolve};
use super::{Playbook, ResourceDecl};
use crate::diag::{Code, Diag, Diags, Spanned};
use crate::resources::{KINDS, Resource, ResourceId, kind_def};
use crate::syntax::reader::NodeReader;
use crate::template::Templates;

/// One resource of one host.
#[derive(Debug)]
pub struct Instance {
    pub res: Box<dyn Resource>,
    pub id: ResourceId,
    /// Further ids this resource answers to.
    pub aliases: Vec<ResourceId>,
    pub decl: ResourceDecl,
    /// Explicit `require` references, as written (`kind:name`).
    pub requires: Vec<Reference>,
    pub notifies: Vec<Reference>,
    /// `subscribe`: the resources that notify this one (the reverse of `notify`), for a
    /// receiver declared where the sender cannot name it (a module's resource).
    pub subscribes: Vec<Reference>,
}

/// A `kind:name` reference with its token.
#[derive(Debug, Clone)]
pub struct Reference {
    pub id: ResourceId,
    pub text: Spanned<String>,
}

/// The variables a host's strings are rendered with.
pub fn host_context(pb: &Playbook, host: Option<&Host>, templates: &Templates) -> Result<Vars, Diags> {
    let mut base = BTreeMap::new();
    for (name, value) in &pb.secret_values {
        base.insert(name.clone(), Value::from(value.clone()));
    }
    let mut layers = vec![pb.vars.as_slice()];
    if let Some(h) = host {
        let info = BTreeMap::from([
            ("name", Value::from(h.name.clone())),
            ("address", Value::from(h.address.clone().unwrap_or_else(|| h.name.clone()))),
            ("groups", Value::from(h.groups.clone())),
        ]);
        base.insert("host".to_string(), Value::from(info));
        for g in &h.groups {
            if let Some(group) = pb.inventory.group(g) {
                layers.push(group.vars.as_slice());
            }
        }
        layers.push(h.vars.as_slice());
    }
    resolve(&layers, base, templates)
}

/// Variables by name.
pub type Vars = BTreeMap<String, Value>;

/// The context of a resource declared in a module: the host's variables and the module's
/// parameters (given at the use site, rendered in the context of that site; defaults for
/// the rest, rendered with the parameters before them).
fn module_context(host: &Vars, decl: &ResourceDecl, templates: &Templates) -> Result<Vars, Diags> {
    let mut outer = host.clone();
    for m in &decl.modules {
        let given = resolve(&[m.given.as_slice()], outer.clone(), templates)?;
        let mut ctx = host.clone();
        for g in &m.given {
            if let Some(v) = given.get(&g.name) {
                ctx.insert(g.name.clone(), v.clone());
            }
        }
        let defaults: Vec<VarDecl> = m
            .params
            .iter()
            .filter(|p| !m.given.iter().any(|g| g.name == p.name))
            .filter_map(|p| p.default.clone().map(|value| VarDecl { name: p.name.clone(), at: p.at.clone(), value }))
            .collect();
        outer = resolve(&[defaults.as_slice()], ctx, templates).map_err(|d| annotate_all(d, decl))?;
    }
    Ok(outer)
}

fn annotate_all(diags: Diags, decl: &ResourceDecl) -> Diags {
    let mut out = Diags::default();
    for d in diags.iter() {
        out.push(decl.annotate(d.clone()));
    }
    out
}

/// A declaration that applies to the host but could not be built (a property in error):
/// its kind, and the names it may have, so that the graph does not also report a
/// `require` of it as naming nothing.
#[derive(Debug, Clone)]
pub struct Unbuilt {
    pub kind: &'static str,
    /// Its positional arguments as written; `None` when they are templated (or absent),
    /// so its name cannot be known.
    pub names: Option<Vec<String>>,
    /// Its own `require`, `notify` and `subscribe` references (with the property's name),
    /// still checked.
    pub references: Vec<(Reference, &'static str)>,
    pub decl: ResourceDecl,
}

impl Unbuilt {
    fn of(decl: &ResourceDecl) -> Option<Unbuilt> {
        let kind = kind_def(decl.node.name().value())?.name;
        let args: Vec<Option<&str>> =
            decl.node.entries().iter().filter(|e| e.name().is_none()).map(|e| e.value().as_string()).collect();
        let names = if args.is_empty() || args.iter().any(|a| a.is_none_or(|a| a.contains("{{"))) {
            None
        } else {
            Some(args.into_iter().flatten().map(str::to_string).collect())
        };
        Some(Unbuilt { kind, names, references: Vec::new(), decl: decl.clone() })
    }

    /// Whether `id` may name this declaration (a unit written `app` is `unit:app.service`).
    pub fn may_be(&self, id: &ResourceId) -> bool {
        self.kind == id.kind
            && self.names.as_ref().is_none_or(|names| names.iter().any(|n| id.name.starts_with(n.as_str())))
    }
}

/// What [`expand_all`] could build for one host.
#[derive(Debug, Default)]
pub struct Expansion {
    pub instances: Vec<Instance>,
    pub unbuilt: Vec<Unbuilt>,
}

/// Builds every resource that applies to `host` (`None`: check the playbook without an
/// inventory, against the playbook's own variables).
pub fn expand(pb: &Playbook, host: Option<&Host>, templates: &Templates) -> Result<Vec<Instance>, Diags> {
    let (expansion, diags) = expand_all(pb, host, templates)?;
    diags.into_result(expansion.instances)
}

/// [`expand`], keeping what could be built: `Err` only when the host's variables cannot
/// be resolved (nothing can be rendered without them); otherwise every resource that was
/// built, the declarations that were not, and every problem found.
pub fn expand_all(pb: &Playbook, host: Option<&Host>, templates: &Templates) -> Result<(Expansion, Diags), Diags> {
    let missing = pb.missing_secrets();
    let host_vars = host_context(pb, host, templates).map_err(|d| without_undefined(d, &missing))?;
    let ctx = Value::from(host_vars.clone());
    let mut module_ctx: HashMap<*const ModuleUse, Result<Value, Diags>> = HashMap::new();
    let mut diags = Diags::default();
    let mut out: Vec<Instance> = Vec::new();
    let mut unbuilt = Vec::new();
    for decl in &pb.resources {
        let applies = match (&decl.targets, host) {
            (None, _) | (Some(_), None) => true,
            (Some(targets), Some(h)) => targets.iter().any(|t| pb.inventory.covers(&t.value, h)),
        };
        if !applies {
            continue;
        }
        let ctx = match decl.modules.last() {
            None => &ctx,
            Some(m) => {
                let entry = module_ctx
                    .entry(Arc::as_ptr(m))
                    .or_insert_with(|| module_context(&host_vars, decl, templates).map(Value::from));
                match entry {
                    Ok(c) => &*c,
                    Err(d) => {
                        let unset: Vec<&str> = decl.modules.iter().flat_map(|m| m.missing()).collect();
                        diags.extend(without_undefined(std::mem::take(d), &unset));
                        unbuilt.extend(Unbuilt::of(decl));
                        continue;
                    }
                }
            }
        };
        let mut found = Diags::default();
        let built = build(decl, ctx, templates, &mut found);
        let unset: Vec<&str> = decl.modules.iter().flat_map(|m| m.missing()).collect();
        diags.extend(annotate_all(without_undefined(found, &unset), decl));
        let inst = match built {
            Ok(inst) => inst,
            Err(u) => {
                unbuilt.extend(u);
                continue;
            }
        };
        {
            if let Some(same) = shared_with(&out, &inst) {
                // the same resource declared identically by modules: one resource
                out[same].requires.extend(inst.requires);
                out[same].notifies.extend(inst.notifies);
                out[same].subscribes.extend(inst.subscribes);
                continue;
            }
            check_duplicate(&out, &inst, &mut diags);
            out.push(inst);
        }
    }
    Ok((Expansion { instances: out, unbuilt }, without_undefined(diags, &missing)))
}

/// Drops "undefined" at a use of a name already reported as missing (a secret that
/// could not be read, a required module parameter not given): it is reported once, where
/// it is missing, not again at every use.
fn without_undefined(mut diags: Diags, missing: &[&str]) -> Diags {
    if !missing.is_empty() {
        diags.retain(|d| !(d.code == Code::Template && d.primary_text().is_some_and(|t| missing.contains(&t))));
    }
    diags
}

/// The instance, or what is known of a declaration that could not be built.
fn build(
    decl: &ResourceDecl,
    ctx: &Value,
    templates: &Templates,
    diags: &mut Diags,
) -> Result<Instance, Option<Unbuilt>> {
    let Some(def) = kind_def(decl.node.name().value()) else { return Err(None) };
    let mut r = NodeReader::new(&decl.node, &decl.src, &decl.dir, templates, ctx, diags);
    let requires = r.list("require");
    let notifies = r.list("notify");
    let subscribes = r.list("subscribe");
    let res = (def.build)(&mut r);
    let ok = r.finish();
    let requires = references(requires, "require", diags);
    let notifies = references(notifies, "notify", diags);
    let subscribes = references(subscribes, "subscribe", diags);
    let Some(res) = res.filter(|_| ok) else {
        let Some(mut unbuilt) = Unbuilt::of(decl) else { return Err(None) };
        let named = |refs: Vec<Reference>, what: &'static str| refs.into_iter().map(move |r| (r, what));
        unbuilt.references =
            named(requires, "require").chain(named(notifies, "notify")).chain(named(subscribes, "subscribe")).collect();
        return Err(Some(unbuilt));
    };
    let id = res.id();
    let aliases = res.aliases().into_iter().map(|a| ResourceId::new(id.kind, a)).collect();
    Ok(Instance { res, id, aliases, decl: decl.clone(), requires, notifies, subscribes })
}

/// Parses `kind:name` references; a bad one is labelled at its token.
fn references(texts: Vec<Spanned<String>>, what: &str, diags: &mut Diags) -> Vec<Reference> {
    let mut out = Vec::new();
    for text in texts {
        let Some((kind, name)) = text.value.split_once(':') else {
            diags.push(
                Diag::new(Code::Reference, format!("`{what}` needs `kind:name`"), &text.at, "no kind given")
                    .help(format!("e.g. {what}=\"file:/etc/nginx/nginx.conf\"")),
            );
            continue;
        };
        let Some(def) = kind_def(kind) else {
            let mut d =
                Diag::new(Code::Reference, format!("unknown kind `{kind}` in `{what}`"), &text.at, "unknown kind");
            if let Some(s) = crate::diag::did_you_mean(kind, KINDS.iter().map(|k| k.name)) {
                d = d.help(format!("did you mean `{s}:{name}`?"));
            }
            diags.push(d);
            continue;
        };
        out.push(Reference { id: ResourceId::new(def.name, name), text });
    }
    out
}

/// An earlier instance with the same id and the very same wishes, where at least one of
/// the two comes from a module (two web apps using a module that installs nginx).
fn shared_with(existing: &[Instance], inst: &Instance) -> Option<usize> {
    existing.iter().position(|other| {
        other.id == inst.id
            && (!other.decl.modules.is_empty() || !inst.decl.modules.is_empty())
            && format!("{:?}", other.res) == format!("{:?}", inst.res)
    })
}

fn check_duplicate(existing: &[Instance], inst: &Instance, diags: &mut Diags) {
    let ids: Vec<&ResourceId> = std::iter::once(&inst.id).chain(inst.aliases.iter()).collect();
    for other in existing {
        let clash = ids.iter().find(|id| **id == &other.id || other.aliases.contains(id));
        if let Some(id) = clash {
            let d =
                Diag::new(Code::Duplicate, format!("`{id}` is declared twice"), &inst.decl.at(), "declared again here")
                    .label(&other.decl.at(), "first declared here")
                    .help("a resource may be declared once per host; merge the two declarations");
            diags.push(other.decl.annotate(inst.decl.annotate(d)));
        }
    }
}
