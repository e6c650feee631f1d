//! Jinja templates, rendered on the controller with minijinja (what Ansible users know).
//!
//! Two uses: interpolation in playbook strings (`home="{{ base }}/app"`) and template
//! files (`file "/etc/x" template="templates/x.j2"`). Undefined variables are errors
//! (`UndefinedBehavior::Strict`), trailing newlines are kept (they matter in config
//! files), and every error becomes a [`Diag`] labelled inside the string token or inside
//! the template file, with the use site as a second label.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use minijinja::{Environment, UndefinedBehavior, Value};

use crate::diag::{At, Code, Diag, Source, Spanned};

/// The template engine of one playbook run.
pub struct Templates {
    env: Environment<'static>,
    base: PathBuf,
    files: Mutex<HashMap<PathBuf, Source>>,
    secrets: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("base", &self.base).finish()
    }
}

/// Where a string value sits in its KDL token, so that an error at byte `i` of the value
/// can be labelled at the right byte of the file.
#[derive(Debug, Clone)]
pub struct StringToken {
    pub at: At,
    /// Offset of the value's first byte inside the token, when the value is the token's
    /// text verbatim (no escapes); `None` labels the whole token.
    pub inner: Option<usize>,
}

impl StringToken {
    fn at_range(&self, range: Option<std::ops::Range<usize>>) -> At {
        match (self.inner, range) {
            (Some(inner), Some(r)) => {
                let start = self.at.span.offset() + inner + r.start;
                At::new(&self.at.src, (start, r.len().max(1)).into())
            }
            _ => self.at.clone(),
        }
    }
}

impl Templates {
    /// `base` is the directory template paths are relative to (the playbook's).
    pub fn new(base: &Path) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // what Ansible's template module does: keep the final newline, trim after blocks
        if let Ok(syntax) =
            minijinja::syntax::SyntaxConfig::builder().keep_trailing_newline(true).trim_blocks(true).build()
        {
            env.set_syntax(syntax);
        }
        env.set_debug(false);
        let root = base.to_path_buf();
        env.set_loader(move |name| match std::fs::read_to_string(root.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("cannot read template {name}: {e}"),
            )),
        });
        Templates { env, base: base.to_path_buf(), files: Mutex::new(HashMap::new()), secrets: Vec::new() }
    }

    /// The secret values rendered text is checked against (see `playbook/secrets.rs`).
    pub fn with_secrets(mut self, secrets: Vec<String>) -> Templates {
        self.secrets = secrets;
        self
    }

    /// Whether `bytes` holds a secret value.
    pub fn holds_secret(&self, bytes: &[u8]) -> bool {
        self.secrets.iter().any(|s| !s.is_empty() && bytes.windows(s.len()).any(|w| w == s.as_bytes()))
    }

    /// Renders a playbook string; strings without `{{` or `{%` are returned as they are.
    pub fn render_str(&self, value: &str, token: &StringToken, ctx: &Value) -> Result<String, Diag> {
        if !value.contains("{{") && !value.contains("{%") {
            return Ok(value.to_string());
        }
        self.env.render_str(value, ctx).map_err(|e| {
            let at = token.at_range(e.range());
            fact_help(Diag::new(Code::Template, format!("template error: {}", describe(&e)), &at, label(&e)), &e, value)
        })
    }

    /// Evaluates a Jinja expression (a `when=` condition, a `for` loop's `in=`); an error
    /// is labelled inside its token.
    pub fn eval(&self, expr: &str, token: &StringToken, ctx: &Value, code: Code) -> Result<Value, Diag> {
        let compiled = self.env.compile_expression(expr).map_err(|e| {
            Diag::new(code, format!("not an expression: {}", describe(&e)), &token.at_range(e.range()), label(&e))
        })?;
        compiled.eval(ctx).map_err(|e| {
            let at = token.at_range(e.range());
            fact_help(Diag::new(code, format!("cannot evaluate `{expr}`: {}", describe(&e)), &at, label(&e)), &e, expr)
        })
    }

    /// Renders a template file given by a path relative to `dir` (the directory of the
    /// playbook or module that names it).
    pub fn render_file(&self, dir: &Path, path: &Spanned<String>, ctx: &Value) -> Result<String, Diag> {
        let full = dir.join(&path.value);
        let src = self.load(&full).map_err(|e| {
            Diag::new(
                Code::TemplateMissing,
                format!("cannot read template `{}`: {e}", full.display()),
                &path.at,
                "this template",
            )
        })?;
        let text = src.inner().as_str();
        self.env.render_named_str(&path.value, text, ctx).map_err(|e| {
            let span = e.range().map(|r| (r.start, r.len().max(1)).into()).unwrap_or_else(|| line_span(text, e.line()));
            let at_line = e.line().and_then(|l| text.lines().nth(l.saturating_sub(1))).unwrap_or_default();
            let d = Diag::new(
                Code::Template,
                format!("template error in {}: {}", path.value, describe(&e)),
                &At::new(&src, span),
                label(&e),
            )
            .label(&path.at, "used here");
            fact_help(d, &e, at_line)
        })
    }

    /// Reads a file relative to `dir` (a `source=` file), as bytes.
    pub fn read_bytes(&self, dir: &Path, path: &Spanned<String>) -> Result<Vec<u8>, Diag> {
        let full = dir.join(&path.value);
        std::fs::read(&full).map_err(|e| {
            Diag::new(Code::SourceMissing, format!("cannot read `{}`: {e}", full.display()), &path.at, "this file")
        })
    }

    fn load(&self, full: &Path) -> std::io::Result<Source> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(src) = files.get(full) {
            return Ok(src.clone());
        }
        let text = std::fs::read_to_string(full)?;
        let name = full.strip_prefix(std::env::current_dir().unwrap_or_default()).unwrap_or(full);
        let src = crate::diag::source(name.display().to_string(), text);
        files.insert(full.to_path_buf(), src.clone());
        Ok(src)
    }
}

/// An undefined value in a text that reads a host fact the schema lacks: a help line
/// naming the fact it should have been (`host_facts::explain`).
fn fact_help(d: Diag, e: &minijinja::Error, text: &str) -> Diag {
    if e.kind() != minijinja::ErrorKind::UndefinedError {
        return d;
    }
    let near = e.range().and_then(|r| text.get(r)).filter(|t| t.contains("host.facts.")).unwrap_or(text);
    match crate::host_facts::explain(near) {
        // a fact the schema lacks: certain whatever the facts' values
        Some(help) => {
            let mut d = d.help(help);
            d.code = Code::Fact;
            d
        }
        None => d,
    }
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn label(e: &minijinja::Error) -> String {
    match e.kind() {
        minijinja::ErrorKind::UndefinedError => "undefined here".into(),
        minijinja::ErrorKind::SyntaxError => "syntax error here".into(),
        _ => "here".into(),
    }
}

/// The span of a whole line (1-based), for errors that only know their line.
fn line_span(text: &str, line: Option<usize>) -> miette::SourceSpan {
    let Some(line) = line else { return (0, 0).into() };
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return (offset, l.trim_end().len()).into();
        }
        offset += l.len();
    }
    (0, 0).into()
}
