//! Variables: `vars { name value }` blocks in the playbook, in groups and in hosts.
//!
//! ```kdl
//! vars {
//!     app "viewbovis"
//!     port 3000
//!     log_dir "/var/log/{{ app }}"     // may use the variables above it
//!     servers "viewbovis-beta" "nextstrain-beta"   // several values: a list
//!     db { name "kano_konnect"; user "kano" }      // children: a map
//! }
//! ```
//!
//! A host sees the playbook's variables, then its groups' (in the order the groups are
//! declared), then its own: later layers win. String values are rendered with Jinja as
//! they are merged, so a variable can be built from the ones before it.

use std::collections::BTreeMap;

use kdl::{KdlNode, KdlValue};
use minijinja::Value;

use crate::diag::{At, Code, Diag, Diags, Source};
use crate::syntax::kdl::{entry_at, expect_string, name_at, string_inner_offset};
use crate::template::{StringToken, Templates};

/// One declared variable, unrendered.
#[derive(Debug, Clone)]
pub struct VarDecl {
    pub name: String,
    pub at: At,
    pub value: RawVar,
}

#[derive(Debug, Clone)]
pub enum RawVar {
    Str(String, StringToken),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<RawVar>),
    Map(Vec<VarDecl>),
}

/// Reads the children of a `vars { }` node.
pub fn read_vars(src: &Source, node: &KdlNode, diags: &mut Diags) -> Vec<VarDecl> {
    if let Some(e) = node.entries().first() {
        diags.push(
            Diag::new(
                Code::Vars,
                "`vars` takes a block of variables, not values",
                &entry_at(src, e),
                "unexpected value",
            )
            .help("write `vars { name \"value\" }`"),
        );
    }
    let Some(children) = node.children() else { return Vec::new() };
    children.nodes().iter().filter_map(|n| read_var(src, n, diags)).collect()
}

/// Reads one variable node (`name value`, `name a b`, `name { ... }`).
pub fn read_var(src: &Source, node: &KdlNode, diags: &mut Diags) -> Option<VarDecl> {
    let at = name_at(src, node);
    let name = node.name().value().to_string();
    if let Some(e) = node.entries().iter().find(|e| e.name().is_some()) {
        diags.push(Diag::new(
            Code::Vars,
            format!("variable `{name}` has a property; variables hold values"),
            &entry_at(src, e),
            "property here",
        ));
        return None;
    }
    let mut values = Vec::new();
    for e in node.entries() {
        let v = match e.value() {
            KdlValue::String(_) => match expect_string(src, e, "a variable") {
                Ok(s) => RawVar::Str(s, StringToken { at: entry_at(src, e), inner: string_inner_offset(e) }),
                Err(d) => {
                    diags.push(d);
                    return None;
                }
            },
            KdlValue::Integer(i) => RawVar::Int(*i),
            KdlValue::Float(f) => RawVar::Float(*f),
            KdlValue::Bool(b) => RawVar::Bool(*b),
            KdlValue::Null => RawVar::Null,
        };
        values.push(v);
    }
    let value = match (node.children(), values.len()) {
        (Some(children), 0) => RawVar::Map(children.nodes().iter().filter_map(|n| read_var(src, n, diags)).collect()),
        (Some(_), _) => {
            diags.push(Diag::new(
                Code::Vars,
                format!("variable `{name}` has both values and a block"),
                &at,
                "give one or the other",
            ));
            return None;
        }
        (None, 0) => {
            diags.push(Diag::new(Code::Vars, format!("variable `{name}` has no value"), &at, "no value"));
            return None;
        }
        (None, 1) => values.pop()?,
        (None, _) => RawVar::List(values),
    };
    Some(VarDecl { name, at, value })
}

/// Merges layers of variables (lowest precedence first) into one context, rendering
/// strings against what is already defined. `base` holds built-ins such as `host`.
pub fn resolve(
    layers: &[&[VarDecl]],
    base: BTreeMap<String, Value>,
    templates: &Templates,
) -> Result<BTreeMap<String, Value>, Diags> {
    let mut ctx = base;
    let mut diags = Diags::default();
    for layer in layers {
        for decl in layer.iter() {
            match render(&decl.value, &ctx, templates) {
                Ok(v) => {
                    ctx.insert(decl.name.clone(), v);
                }
                Err(d) => diags.push(d),
            }
        }
    }
    diags.into_result(ctx)
}

fn render(raw: &RawVar, ctx: &BTreeMap<String, Value>, templates: &Templates) -> Result<Value, Diag> {
    Ok(match raw {
        RawVar::Str(s, token) => Value::from(templates.render_str(s, token, &Value::from(ctx.clone()))?),
        RawVar::Int(i) => Value::from(*i),
        RawVar::Float(f) => Value::from(*f),
        RawVar::Bool(b) => Value::from(*b),
        RawVar::Null => Value::from(()),
        RawVar::List(items) => {
            Value::from(items.iter().map(|i| render(i, ctx, templates)).collect::<Result<Vec<_>, _>>()?)
        }
        RawVar::Map(decls) => {
            let mut map = BTreeMap::new();
            for d in decls {
                map.insert(d.name.clone(), render(&d.value, ctx, templates)?);
            }
            Value::from(map)
        }
    })
}
