//! Modules: reusable KDL files of resources with parameters, like Ansible roles.
//!
//! A module file declares its parameters, then resources (and may use other modules):
//!
//! ```text
//! // modules/python-webapp.kdl
//! params {
//!     name                      // required: no default
//!     port 8000                 // default
//!     user "{{ name }}"         // a default may use the parameters before it
//! }
//! user "{{ user }}" system=#true home="/srv/{{ name }}"
//! ```
//!
//! A playbook uses it with `use`, giving parameters as properties (or, for lists and
//! maps, as children written like `vars`):
//!
//! ```text
//! use "../modules/python-webapp.kdl" name="ramascene" port=8001
//! ```
//!
//! Inside the module, strings see the host's variables and the module's parameters (not
//! the variables of the file that uses it). Paths in the module (templates, sources,
//! nested `use`) are relative to the module file. An unknown parameter, a missing required
//! one, or an error inside the module is reported in the module file *and* at the use
//! site. Two uses of modules that declare the very same resource (say `package "nginx-light"`
//! with identical properties) share it; declarations that differ are a duplicate error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdl::{KdlNode, KdlValue};

use super::vars::{RawVar, VarDecl, read_var, read_vars};
use crate::diag::{At, Code, Diag, Diags, Source, did_you_mean};
use crate::syntax::kdl::{entry_at, expect_string, name_at, string_inner_offset};
use crate::template::StringToken;

/// Properties of a `use` that belong to the use, not to the module: no parameter may
/// take these names.
const RESERVED: &[&str] = &["when", "tags", "become-user"];

/// How deep modules may use modules (a cycle is reported before this is reached).
const MAX_DEPTH: usize = 16;

/// One parameter a module declares.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub at: At,
    pub default: Option<RawVar>,
}

/// One `use` of a module: where, which file, with which parameters.
#[derive(Debug)]
pub struct ModuleUse {
    /// The `use` node's path token, where errors inside the module are also shown.
    pub at: At,
    pub path: PathBuf,
    /// Parameters given at the use site, unrendered.
    pub given: Vec<VarDecl>,
    /// The module's declared parameters (defaults for those not given).
    pub params: Vec<Param>,
}

impl ModuleUse {
    /// The required parameters this use does not give (each reported at the use site).
    pub fn missing(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|p| p.default.is_none() && !self.given.iter().any(|g| g.name == p.name))
            .map(|p| p.name.as_str())
    }
}

/// A parsed module file: its parameters and its other top-level nodes.
pub struct ModuleFile {
    pub src: Source,
    pub dir: PathBuf,
    pub params: Vec<Param>,
    pub nodes: Vec<KdlNode>,
}

/// Reads the `use` node's path and parameters, loads the module file and checks the
/// parameters against its declaration. `chain` holds the modules being loaded around this
/// one (outermost first), to catch cycles.
pub fn load_use(
    src: &Source,
    node: &KdlNode,
    dir: &Path,
    chain: &[Arc<ModuleUse>],
    diags: &mut Diags,
) -> Option<(Arc<ModuleUse>, ModuleFile)> {
    let Some(path_entry) = node.entries().iter().find(|e| e.name().is_none()) else {
        diags.push(
            Diag::new(Code::Use, "`use` needs the path of a module file", &name_at(src, node), "no path")
                .help("write `use \"modules/webapp.kdl\" name=\"app\"`"),
        );
        return None;
    };
    let at = entry_at(src, path_entry);
    let rel = match expect_string(src, path_entry, "a module path") {
        Ok(p) => p,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let full = dir.join(&rel);
    let canonical = full.canonicalize().unwrap_or_else(|_| full.clone());
    if chain.iter().any(|m| m.path == canonical) || chain.len() >= MAX_DEPTH {
        let mut d = Diag::new(Code::Use, format!("module `{rel}` uses itself"), &at, "used again here");
        for m in chain {
            d = d.label(&m.at, "through this use");
        }
        diags.push(d);
        return None;
    }
    let file = read_module(&full, &at, diags)?;
    let given = read_given(src, node, diags);
    check_given(&given, &file.params, &at, &name_at(src, node), diags);
    Some((Arc::new(ModuleUse { at, path: canonical, given, params: file.params.clone() }), file))
}

fn read_module(full: &Path, use_at: &At, diags: &mut Diags) -> Option<ModuleFile> {
    let text = match std::fs::read_to_string(full) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diag::new(
                Code::Use,
                format!("cannot read module {}: {e}", full.display()),
                use_at,
                "this module",
            ));
            return None;
        }
    };
    let name = full.strip_prefix(std::env::current_dir().unwrap_or_default()).unwrap_or(full);
    let src = crate::diag::source(name.display().to_string(), text);
    let doc = match crate::syntax::kdl::parse(&src) {
        Ok(doc) => doc,
        Err(d) => {
            for diag in d.iter() {
                diags.push(diag.clone().label(use_at, "in the module used here"));
            }
            return None;
        }
    };
    let mut params = Vec::new();
    let mut nodes = Vec::new();
    for n in doc.nodes() {
        match n.name().value() {
            "params" => params.extend(read_params(&src, n, diags)),
            "host" | "inventory" | "vars" | "secrets" => diags.push(
                Diag::new(
                    Code::Module,
                    format!("`{}` does not belong in a module", n.name().value()),
                    &name_at(&src, n),
                    "only `params`, resources, `on` and `use` here",
                )
                .help("a module gets values through its `params`; hosts, variables and secrets belong to the playbook")
                .label(use_at, "in the module used here"),
            ),
            _ => nodes.push(n.clone()),
        }
    }
    let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
    Some(ModuleFile { src, dir, params, nodes })
}

/// `params { name; port 8000 }`: a parameter without a value is required.
fn read_params(src: &Source, node: &KdlNode, diags: &mut Diags) -> Vec<Param> {
    let mut out = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let at = name_at(src, child);
        let name = child.name().value().to_string();
        if RESERVED.contains(&name.as_str()) {
            diags.push(
                Diag::new(Code::Module, format!("a parameter cannot be named `{name}`"), &at, "reserved")
                    .help("`when`, `tags` and `become-user` on a `use` belong to the use itself"),
            );
            continue;
        }
        if child.entries().is_empty() && child.children().is_none() {
            out.push(Param { name, at, default: None });
            continue;
        }
        // a default is written like a variable
        if let Some(v) = read_var(src, child, diags) {
            out.push(Param { name, at, default: Some(v.value) });
        }
    }
    out
}

/// Parameters given at the use site: properties, and children written like `vars`.
fn read_given(src: &Source, node: &KdlNode, diags: &mut Diags) -> Vec<VarDecl> {
    let mut out = Vec::new();
    for e in node.entries() {
        // `when` and `tags` are the use's own, not parameters
        let Some(key) = e.name().filter(|k| !RESERVED.contains(&k.value())) else { continue };
        let at = At::new(src, key.span());
        let value = match e.value() {
            KdlValue::String(s) => {
                RawVar::Str(s.clone(), StringToken { at: entry_at(src, e), inner: string_inner_offset(e) })
            }
            KdlValue::Integer(i) => RawVar::Int(*i),
            KdlValue::Float(f) => RawVar::Float(*f),
            KdlValue::Bool(b) => RawVar::Bool(*b),
            KdlValue::Null => RawVar::Null,
        };
        out.push(VarDecl { name: key.value().to_string(), at, value });
    }
    if node.children().is_some() {
        out.extend(read_vars(src, node, diags));
    }
    out
}

fn check_given(given: &[VarDecl], params: &[Param], path_at: &At, node_at: &At, diags: &mut Diags) {
    for g in given {
        if !params.iter().any(|p| p.name == g.name) {
            let mut d =
                Diag::new(Code::Use, format!("the module has no parameter `{}`", g.name), &g.at, "unknown parameter");
            d = match did_you_mean(&g.name, params.iter().map(|p| p.name.as_str())) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "its parameters: {}",
                    params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                )),
            };
            diags.push(d.label(path_at, "this module"));
        }
    }
    for p in params.iter().filter(|p| p.default.is_none()) {
        if !given.iter().any(|g| g.name == p.name) {
            diags.push(
                Diag::new(
                    Code::Use,
                    format!("the module needs the parameter `{}`", p.name),
                    node_at,
                    "parameter missing",
                )
                .label(&p.at, "declared without a default here"),
            );
        }
    }
}
