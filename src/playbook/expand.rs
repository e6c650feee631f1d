//! Expansion: a playbook's resource declarations, built for one host.
//!
//! The host's variables (playbook, then its groups, then its own) are rendered into a
//! context; every declaration that targets the host is built by its kind with that
//! context, and the engine's own properties (`require`, `notify`) are read. The result is
//! a list of [`Instance`]s in declaration order, ready for the graph.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::ValueKind;

use super::inventory::{BecomeUser, Host};
use super::module::ModuleUse;
use super::vars::{VarDecl, resolve};
use super::{ForLoop, Playbook, ResourceDecl};
use crate::diag::{Code, Diag, Diags, Spanned};
use crate::host_facts::{FactsObject, HostFacts};
use crate::resources::{KINDS, Resource, ResourceId, kind_def};
use crate::syntax::reader::{Become, NodeReader};
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
    /// Its tags and those of the blocks around it.
    pub tags: Vec<String>,
    /// The item of the `for` loop that made it (`user = "alice"`), if any.
    pub iteration: Option<String>,
    /// Whether it is under a `when`.
    pub conditional: bool,
    /// `check` built it though a condition is false here (both outcomes).
    pub assumed: bool,
    /// Under `--tags`: not selected, but kept because this selected resource needs it.
    pub kept_for: Option<ResourceId>,
}

/// A `kind:name` reference with its token.
#[derive(Debug, Clone)]
pub struct Reference {
    pub id: ResourceId,
    pub text: Spanned<String>,
}

/// The variables a host's strings are rendered with: secrets, `host` (its name,
/// address, groups and `facts`), then the playbook's, its groups' and its own variables.
pub fn host_context(pb: &Playbook, host: Option<&Host>, templates: &Templates, facts: &Value) -> Result<Vars, Diags> {
    let mut base = BTreeMap::new();
    for (name, value) in &pb.secret_values {
        base.insert(name.clone(), Value::from(value.clone()));
    }
    let mut layers = vec![pb.vars.as_slice()];
    let mut info = BTreeMap::from([("facts", facts.clone())]);
    if let Some(h) = host {
        info.insert("name", Value::from(h.name.clone()));
        info.insert("address", Value::from(h.address.clone().unwrap_or_else(|| h.name.clone())));
        info.insert("groups", Value::from(h.groups.clone()));
        for g in &h.groups {
            if let Some(group) = pb.inventory.group(g) {
                layers.push(group.vars.as_slice());
            }
        }
        layers.push(h.vars.as_slice());
    }
    base.insert("host".to_string(), Value::from(info));
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

/// A declaration that applies to the host but could not be built (a property in error),
/// or that a condition left out: its kind, and the names it may have, so that the graph
/// does not also report a `require` of it as naming nothing.
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

/// A resource a `when` left out on this host, for the plan.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// `kind:name` as far as its name can be rendered.
    pub resource: String,
    /// The condition that is false.
    pub when: String,
}

/// How to expand for one host.
#[derive(Debug, Clone, Default)]
pub struct ExpandOpts {
    /// The host's facts; `None`: stand-ins of the right shape (no facts known yet), and
    /// the problems only the stand-ins could cause are not reported (a misspelled fact
    /// still is).
    pub facts: Option<HostFacts>,
    /// `converge check`: both outcomes of every condition, each resource built whatever
    /// its `when` says.
    pub check: bool,
    /// `--tags`, `--skip-tags`: applied to the graph once built
    /// ([`crate::graph::HostGraph::select`]).
    pub select: crate::graph::Selection,
}

/// What [`expand_all`] could build for one host.
#[derive(Debug, Default)]
pub struct Expansion {
    pub instances: Vec<Instance>,
    pub unbuilt: Vec<Unbuilt>,
    /// Resources a condition left out.
    pub skipped: Vec<Skipped>,
    /// The facts the expansion read: what it depends on.
    pub facts_read: BTreeSet<String>,
}

/// Builds every resource that applies to `host` (`None`: check the playbook without an
/// inventory, against the playbook's own variables).
pub fn expand(pb: &Playbook, host: Option<&Host>, templates: &Templates) -> Result<Vec<Instance>, Diags> {
    let (expansion, diags) = expand_all(pb, host, templates, &ExpandOpts::default())?;
    diags.into_result(expansion.instances)
}

/// Loop items already evaluated, by loop and outer iteration: each loop's `in=` is
/// evaluated (and its problem reported) once, not once per declaration inside it.
type LoopCache = HashMap<(usize, String), Option<Vec<Binding>>>;

/// One iteration's variables.
type Binding = Vec<(String, Value)>;

/// [`expand`], keeping what could be built: `Err` only when the host's variables cannot
/// be resolved (nothing can be rendered without them); otherwise every resource that was
/// built, the declarations that were not, and every problem found.
pub fn expand_all(
    pb: &Playbook,
    host: Option<&Host>,
    templates: &Templates,
    opts: &ExpandOpts,
) -> Result<(Expansion, Diags), Diags> {
    let missing = pb.missing_secrets();
    let stand_ins = opts.facts.is_none();
    let facts = opts.facts.clone().unwrap_or_else(|| HostFacts::placeholder(host.map_or("host", |h| h.name.as_str())));
    let (facts_value, read) = FactsObject::value(facts);
    let reads = || read.lock().unwrap_or_else(|p| p.into_inner()).count;
    let host_vars = host_context(pb, host, templates, &facts_value)
        .map_err(|d| provisional(without_undefined(d, &missing), stand_ins && reads() > 0))?;
    let mut module_ctx: HashMap<*const ModuleUse, Result<Vars, Diags>> = HashMap::new();
    let mut loops: LoopCache = HashMap::new();
    let mut diags = Diags::default();
    let mut out: Vec<Instance> = Vec::new();
    let mut unbuilt = Vec::new();
    let mut skipped = Vec::new();
    for decl in &pb.resources {
        let applies = match (&decl.scope.targets, host) {
            (None, _) | (Some(_), None) => true,
            (Some(targets), Some(h)) => targets.iter().any(|t| pb.inventory.covers(&t.value, h)),
        };
        if !applies {
            continue;
        }
        let before = reads();
        // required module parameters not given: reported once, at the use
        let unset: Vec<&str> = decl.modules.iter().flat_map(|m| m.missing()).collect();
        let base = match decl.modules.last() {
            None => &host_vars,
            Some(m) => {
                let entry =
                    module_ctx.entry(Arc::as_ptr(m)).or_insert_with(|| module_context(&host_vars, decl, templates));
                match entry {
                    Ok(c) => &*c,
                    Err(d) => {
                        let found = without_undefined(std::mem::take(d), &unset);
                        diags.extend(provisional(found, stand_ins && reads() > before));
                        unbuilt.extend(Unbuilt::of(decl));
                        continue;
                    }
                }
            }
        };
        let mut found = Diags::default();
        let iterations = bindings(decl, base, templates, &mut loops, &mut found);
        for (binding, iteration) in iterations {
            let mut vars = base.clone();
            vars.extend(binding);
            let ctx = Value::from(vars);
            let mut here = Diags::default();
            let verdict = judge(decl, &ctx, templates, opts.check, &mut here);
            let conditional = !matches!(verdict, Verdict::Unconditional);
            let assumed = matches!(verdict, Verdict::Assumed);
            let built = match verdict {
                Verdict::Error => Err(Unbuilt::of(decl)),
                // left out here: a reference to it is satisfied, as to an unbuilt one
                Verdict::False(when) => {
                    skipped.push(Skipped { resource: label_of(decl, &ctx, templates), when });
                    Err(Unbuilt::of(decl))
                }
                _ => build(decl, host.and_then(|h| h.become_user.as_ref()), &ctx, templates, &mut here),
            };
            found.extend(in_iteration(here, decl, &iteration));
            match built {
                Ok(mut inst) => {
                    inst.iteration = iteration.last().cloned();
                    inst.conditional = conditional;
                    inst.assumed = assumed;
                    add(&mut out, inst, &mut found);
                }
                Err(u) => unbuilt.extend(u),
            }
        }
        let found = annotate_all(without_undefined(found, &unset), decl);
        diags.extend(provisional(found, stand_ins && reads() > before));
    }
    let facts_read = read.lock().unwrap_or_else(|p| p.into_inner()).names.clone();
    let expansion = Expansion { instances: out, unbuilt, skipped, facts_read };
    Ok((expansion, without_undefined(diags, &missing)))
}

/// Problems found where the facts were stand-ins: only a misspelled fact is certain;
/// the rest waits for the real facts (the host is expanded again once they are known).
fn provisional(diags: Diags, stand_ins_read: bool) -> Diags {
    if !stand_ins_read {
        return diags;
    }
    let mut diags = diags;
    diags.retain(|d| d.code == Code::Fact);
    diags
}

/// Adds an instance, or merges it with an identical one from a module, or reports a
/// duplicate (unless `check` assumed a condition to get there: two declarations that
/// each carry a `when` are a duplicate only on a host where both hold).
fn add(out: &mut Vec<Instance>, inst: Instance, diags: &mut Diags) {
    if let Some(same) = shared_with(out, &inst) {
        // the same resource declared identically by modules: one resource
        out[same].requires.extend(inst.requires);
        out[same].notifies.extend(inst.notifies);
        out[same].subscribes.extend(inst.subscribes);
        return;
    }
    let both_assumed = |o: &Instance| o.conditional && inst.conditional && (o.assumed || inst.assumed);
    if out.iter().any(|o| clash(o, &inst).is_some() && both_assumed(o)) {
        return;
    }
    check_duplicate(out, &inst, diags);
    out.push(inst);
}

/// What a declaration's conditions say on this host.
enum Verdict {
    /// It has none.
    Unconditional,
    /// All hold.
    True,
    /// One is false (its text): the resource is left out.
    False(String),
    /// `check`: one is false, and the resource is built all the same (both outcomes).
    Assumed,
    /// One could not be evaluated (reported).
    Error,
}

fn judge(decl: &ResourceDecl, ctx: &Value, templates: &Templates, check: bool, diags: &mut Diags) -> Verdict {
    let conditions = &decl.scope.conditions;
    if conditions.is_empty() {
        return Verdict::Unconditional;
    }
    let mut verdict = Verdict::True;
    for c in conditions {
        match templates.eval(&c.expr, &c.token, ctx, Code::Condition) {
            Ok(v) if v.is_true() => {}
            Ok(_) if check => verdict = Verdict::Assumed,
            Ok(_) => return Verdict::False(c.expr.clone()),
            Err(d) => {
                diags.push(d);
                return Verdict::Error;
            }
        }
    }
    verdict
}

/// `kind:name` of a declaration, its name rendered if it can be.
fn label_of(decl: &ResourceDecl, ctx: &Value, templates: &Templates) -> String {
    let kind = decl.node.name().value();
    let name = decl.node.entries().iter().find(|e| e.name().is_none()).and_then(|e| e.value().as_string());
    let rendered = name.map(|n| {
        let token = crate::template::StringToken { at: decl.at(), inner: None };
        templates.render_str(n, &token, ctx).unwrap_or_else(|_| n.to_string())
    });
    format!("{kind}:{}", rendered.unwrap_or_default())
}

/// Every iteration of the loops around a declaration (one, without loops): the loop
/// variables of each, and a description of each loop's item (`user = "alice"`).
fn bindings(
    decl: &ResourceDecl,
    base: &Vars,
    templates: &Templates,
    cache: &mut LoopCache,
    diags: &mut Diags,
) -> Vec<(Binding, Vec<String>)> {
    let mut current: Vec<(Binding, Vec<String>)> = vec![(Vec::new(), Vec::new())];
    for l in &decl.scope.loops {
        let mut next = Vec::new();
        for (binding, desc) in current {
            let key = (Arc::as_ptr(l) as usize, desc.join("\n"));
            let items = cache.entry(key).or_insert_with(|| {
                let mut vars = base.clone();
                vars.extend(binding.iter().cloned());
                loop_items(l, &Value::from(vars), templates, diags)
            });
            for item in items.iter().flatten() {
                let mut b = binding.clone();
                b.extend(item.iter().cloned());
                let mut d = desc.clone();
                d.push(describe(item));
                next.push((b, d));
            }
        }
        current = next;
    }
    current
}

/// `user = {"name": "alice"}`, shortened.
fn describe(item: &Binding) -> String {
    let text =
        item.iter().map(|(n, v)| format!("{n} = {}", serde_json::to_string(v).unwrap_or_default())).collect::<Vec<_>>();
    let text = text.join(", ");
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// The items of a loop: a list's items, or a map's entries (one variable: `{key,
/// value}`; two: the key and the value).
fn loop_items(l: &ForLoop, ctx: &Value, templates: &Templates, diags: &mut Diags) -> Option<Vec<Binding>> {
    let v = match templates.eval(&l.expr, &l.token, ctx, Code::Loop) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d.label(&l.at, "in this loop"));
            return None;
        }
    };
    let refuse = |what: &str, diags: &mut Diags| {
        diags.push(
            Diag::new(
                Code::Loop,
                format!("`for` loops over a list or a map, and `{}` is {what}", l.expr),
                &l.token.at,
                what,
            )
            .label(&l.at, "in this loop"),
        );
        None
    };
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable if l.names.len() == 2 => {
            refuse("a list (two loop variables take a map's keys and values)", diags)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            Some(v.try_iter().ok()?.map(|item| vec![(l.names[0].clone(), item)]).collect())
        }
        ValueKind::Map => {
            let mut out = Vec::new();
            for key in v.try_iter().ok()? {
                let value = v.get_item(&key).unwrap_or_default();
                out.push(match l.names.as_slice() {
                    [one] => {
                        let pair = BTreeMap::from([("key", key), ("value", value)]);
                        vec![(one.clone(), Value::from(pair))]
                    }
                    [k, val, ..] => vec![(k.clone(), key), (val.clone(), value)],
                    [] => return None,
                });
            }
            Some(out)
        }
        ValueKind::String => refuse("a string", diags),
        ValueKind::Undefined | ValueKind::None => refuse("none", diags),
        _ => refuse("not a collection", diags),
    }
}

/// Labels the problems of one iteration at the loops it comes from, naming each item.
fn in_iteration(diags: Diags, decl: &ResourceDecl, iteration: &[String]) -> Diags {
    if iteration.is_empty() {
        return diags;
    }
    let mut out = Diags::default();
    for d in diags.iter() {
        let mut d = d.clone();
        for (l, desc) in decl.scope.loops.iter().zip(iteration) {
            d = d.label(&l.at, format!("in the iteration where {desc}"));
        }
        out.push(d);
    }
    out
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
    host_become: Option<&BecomeUser>,
    ctx: &Value,
    templates: &Templates,
    diags: &mut Diags,
) -> Result<Instance, Option<Unbuilt>> {
    let Some(def) = kind_def(decl.node.name().value()) else { return Err(None) };
    let become_user = match decl.scope.become_user.as_ref().or(host_become) {
        None => None,
        Some(b) => match become_user(b, ctx, templates) {
            Ok(b) => Some(b),
            Err(d) => {
                diags.push(d);
                return Err(Unbuilt::of(decl));
            }
        },
    };
    let mut r = NodeReader::new(&decl.node, &decl.src, &decl.dir, templates, ctx, diags);
    r.set_become(become_user);
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
    let tags = decl.scope.tags.iter().map(|t| t.value.clone()).collect();
    Ok(Instance {
        res,
        id,
        aliases,
        decl: decl.clone(),
        requires,
        notifies,
        subscribes,
        tags,
        iteration: None,
        conditional: false,
        assumed: false,
        kept_for: None,
    })
}

/// A `become-user` rendered for this host, and held to what a user name can be.
fn become_user(b: &BecomeUser, ctx: &Value, templates: &Templates) -> Result<Become, Diag> {
    let user = templates.render_str(&b.raw, &b.token, ctx)?;
    if !crate::resources::group::is_account_name(&user) {
        return Err(Diag::new(Code::Become, format!("`{user}` is not a user name"), &b.token.at, "not a user name")
            .help("use letters, digits, `_`, `-` and `.`, at most 32 characters, not starting with `-`"));
    }
    Ok(Become { user, at: b.token.at.clone(), own: b.own })
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

/// The id `inst` shares with `other`, if any (their names or aliases).
fn clash<'a>(other: &Instance, inst: &'a Instance) -> Option<&'a ResourceId> {
    std::iter::once(&inst.id).chain(inst.aliases.iter()).find(|id| **id == other.id || other.aliases.contains(id))
}

fn check_duplicate(existing: &[Instance], inst: &Instance, diags: &mut Diags) {
    for other in existing {
        if let Some(id) = clash(other, inst) {
            let again = match &inst.iteration {
                Some(item) => format!("declared again here, in the iteration where {item}"),
                None => "declared again here".into(),
            };
            let first = match &other.iteration {
                Some(item) => format!("first declared here, in the iteration where {item}"),
                None => "first declared here".into(),
            };
            let help = if inst.conditional && other.conditional {
                "both conditions hold on this host: make them exclusive"
            } else if inst.iteration.is_some() || other.iteration.is_some() {
                "each iteration must make a resource of its own: put the item in its name"
            } else {
                "a resource may be declared once per host; merge the two declarations, or give each a `when`"
            };
            let d = Diag::new(Code::Duplicate, format!("`{id}` is declared twice"), &inst.decl.at(), again)
                .label(&other.decl.at(), first)
                .help(help);
            diags.push(other.decl.annotate(inst.decl.annotate(d)));
        }
    }
}
