//! Secrets: values that come from outside the repository and are never printed.
//!
//! ```kdl
//! secrets {
//!     aws_secret_key env="ELIFE_AWS_SECRET_KEY"
//!     db_password file="/etc/converge/secrets/kano-db" optional=#true
//! }
//! file "/srv/app/settings.py" template="templates/settings.py.j2" mode="0600"
//! ```
//!
//! A secret is read from an environment variable of the controller or from a file (its
//! whole content, one trailing newline removed; a relative path is relative to the
//! playbook). Templates and strings use it like any variable (`{{ aws_secret_key }}`).
//! What converge does with secret values:
//! - a file whose content holds one is sensitive: the probe never reads the old content
//!   back, the plan shows `content (sensitive)` and no hashes;
//! - every report (text, JSON, errors, diagnostics) has every secret value replaced by
//!   `********`;
//! - values reach hosts only inside scripts sent on ssh's stdin, never in a command line.
//!
//! A missing variable or file is an error at the `env=`/`file=` token, unless
//! `optional=#true` (then the secret is an empty string, and templates can test it).

use std::path::Path;

use kdl::KdlNode;

use crate::diag::{At, Code, Diag, Diags, Source};
use crate::syntax::kdl::{entry_at, expect_bool, expect_string, name_at};

/// Where one secret comes from.
#[derive(Debug, Clone)]
pub struct SecretDecl {
    pub name: String,
    pub at: At,
    pub from: From,
    pub from_at: At,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    Env(String),
    File(String),
}

/// Reads the children of a `secrets { }` node.
pub fn read_secrets(src: &Source, node: &KdlNode, diags: &mut Diags) -> Vec<SecretDecl> {
    let mut out = Vec::new();
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        if let Some(d) = read_secret(src, child, diags) {
            out.push(d);
        }
    }
    out
}

fn read_secret(src: &Source, node: &KdlNode, diags: &mut Diags) -> Option<SecretDecl> {
    let name = node.name().value().to_string();
    let at = name_at(src, node);
    let mut from: Option<(From, At)> = None;
    let mut optional = false;
    for e in node.entries() {
        let Some(key) = e.name().map(|k| k.value()) else {
            diags.push(
                Diag::new(
                    Code::Secret,
                    "a secret takes `env=` or `file=`, not a value",
                    &entry_at(src, e),
                    "a value here",
                )
                .help("secret values never live in the playbook: write `name env=\"VAR\"` or `name file=\"/path\"`"),
            );
            return None;
        };
        let result = match key {
            "env" => expect_string(src, e, "`env`").map(|v| from = Some((From::Env(v), entry_at(src, e)))),
            "file" => expect_string(src, e, "`file`").map(|v| from = Some((From::File(v), entry_at(src, e)))),
            "optional" => expect_bool(src, e, "`optional`").map(|b| optional = b),
            other => Err(Diag::new(
                Code::UnknownProperty,
                format!("a secret has no property `{other}`"),
                &At::new(src, e.name().map(|n| n.span()).unwrap_or(e.span())),
                "unknown property",
            )
            .help("a secret takes: env, file, optional")),
        };
        if let Err(d) = result {
            diags.push(d);
            return None;
        }
    }
    let Some((from, from_at)) = from else {
        diags.push(
            Diag::new(Code::Secret, format!("secret `{name}` says nowhere to read it from"), &at, "no source")
                .help("write `env=\"VAR\"` or `file=\"/path\"`"),
        );
        return None;
    };
    Some(SecretDecl { name, at, from, from_at, optional })
}

/// Reads every secret's value (`dir` is the playbook's directory), with a diagnostic for
/// each that cannot be read (left out of the values: see [`crate::playbook::Playbook::missing_secrets`]).
pub fn resolve(decls: &[SecretDecl], dir: &Path) -> (Vec<(String, String)>, Diags) {
    let mut diags = Diags::default();
    let mut out = Vec::new();
    for d in decls {
        let value = match &d.from {
            From::Env(var) => match std::env::var(var) {
                Ok(v) => Ok(v),
                Err(_) => Err(format!("secret `{}` comes from ${var}, which is not set", d.name)),
            },
            From::File(path) => {
                let full = expand(path, dir);
                match std::fs::read_to_string(&full) {
                    Ok(text) => Ok(text.strip_suffix('\n').unwrap_or(&text).to_string()),
                    Err(e) => Err(format!("secret `{}` cannot be read from {}: {e}", d.name, full.display())),
                }
            }
        };
        match value {
            Ok(v) => out.push((d.name.clone(), v)),
            Err(_) if d.optional => out.push((d.name.clone(), String::new())),
            Err(msg) => {
                diags.push(
                    Diag::new(Code::Secret, msg, &d.from_at, "not available").help("or mark it `optional=#true`"),
                );
            }
        }
    }
    (out, diags)
}

fn expand(path: &str, dir: &Path) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => dir.join(path),
    }
}
