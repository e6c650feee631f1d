//! Playbook diagnostics: every problem found before a host is contacted.
//!
//! A [`Diag`] is data: a stable code (a [`Code`]: every code is in `diag/code.rs`), a
//! message, the file it is about and labelled spans on the exact tokens, an optional help
//! line and related diagnostics that may point into other files (a template error points into the template *and* at the `file` node that
//! uses it). [`Diags`] collects them so that every problem is reported at once; rendering
//! is done by miette's graphical handler, in one place ([`render`]).

mod code;

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode, SourceSpan};

pub use code::Code;

/// One source file (a playbook, an inventory, a module or a template), shared by every
/// diagnostic that points into it.
pub type Source = Arc<NamedSource<String>>;

/// Makes a [`Source`] from a display name (the path as the user gave it) and its text.
pub fn source(name: impl AsRef<str>, text: String) -> Source {
    Arc::new(NamedSource::new(name, text))
}

/// A span in one source: what every label and every spanned value carries.
#[derive(Debug, Clone)]
pub struct At {
    pub src: Source,
    pub span: SourceSpan,
}

impl At {
    pub fn new(src: &Source, span: SourceSpan) -> At {
        At { src: src.clone(), span }
    }
}

/// A value with the place it was written, for errors found after parsing.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub at: At,
}

/// A diagnostic about a playbook, labelled at the tokens it is about.
#[derive(Debug, Clone)]
pub struct Diag {
    pub code: Code,
    pub message: String,
    pub src: Option<Source>,
    pub labels: Vec<LabeledSpan>,
    pub help: Option<String>,
    pub related: Vec<Diag>,
    /// A note attached to another diagnostic (a label in another file).
    pub note: bool,
}

impl Diag {
    /// A diagnostic whose primary label is at `at`.
    pub fn new(code: Code, message: impl Into<String>, at: &At, label: impl Into<String>) -> Diag {
        Diag {
            code,
            message: message.into(),
            src: Some(at.src.clone()),
            labels: vec![LabeledSpan::new_primary_with_span(Some(label.into()), at.span)],
            help: None,
            related: Vec::new(),
            note: false,
        }
    }

    /// A diagnostic that points at no file (a missing playbook, an unreadable inventory).
    pub fn bare(code: Code, message: impl Into<String>) -> Diag {
        Diag {
            code,
            message: message.into(),
            src: None,
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
            note: false,
        }
    }

    /// Adds a secondary label; a label in another file becomes a related diagnostic.
    pub fn label(mut self, at: &At, label: impl Into<String>) -> Diag {
        match &self.src {
            Some(src) if Arc::ptr_eq(src, &at.src) => {
                self.labels.push(LabeledSpan::new_with_span(Some(label.into()), at.span));
            }
            _ => {
                let label = label.into();
                let mut note = Diag::new(self.code, label.clone(), at, "here");
                note.note = true;
                self.related.push(note);
            }
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, diag: Diag) -> Diag {
        self.related.push(diag);
        self
    }

    /// The source text under the primary label.
    pub fn primary_text(&self) -> Option<&str> {
        let (offset, len) = self.primary()?;
        self.src.as_ref()?.inner().get(offset..offset + len)
    }

    fn primary(&self) -> Option<(usize, usize)> {
        self.labels.first().map(|l| (l.offset(), l.len()))
    }

    fn same_as(&self, other: &Diag) -> bool {
        let same_src = match (&self.src, &other.src) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_src && self.message == other.message && self.primary() == other.primary()
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if self.note {
            return None;
        }
        Some(Box::new(self.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(if self.note { miette::Severity::Advice } else { miette::Severity::Error })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.src.as_ref().map(|s| s.as_ref() as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }
}

/// Every diagnostic of one run, in the order found, without repeats (a playbook expanded
/// for ten hosts reports a bad property once, not ten times).
#[derive(Debug, Default)]
pub struct Diags {
    list: Vec<Diag>,
}

impl Diags {
    pub fn push(&mut self, diag: Diag) {
        if !self.list.iter().any(|d| d.same_as(&diag)) {
            self.list.push(diag);
        }
    }
    pub fn extend(&mut self, other: Diags) {
        for d in other.list {
            self.push(d);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    pub fn len(&self) -> usize {
        self.list.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diag> {
        self.list.iter()
    }
    /// Replaces secret values in every message, label and help text.
    pub fn mask(&mut self, secrets: &[String]) {
        fn hide(text: &mut String, secrets: &[String]) {
            for s in secrets.iter().filter(|s| !s.is_empty()) {
                if text.contains(s.as_str()) {
                    *text = text.replace(s.as_str(), "********");
                }
            }
        }
        fn go(d: &mut Diag, secrets: &[String]) {
            hide(&mut d.message, secrets);
            if let Some(h) = d.help.as_mut() {
                hide(h, secrets);
            }
            for l in &mut d.labels {
                if let Some(text) = l.label() {
                    let mut t = text.to_string();
                    hide(&mut t, secrets);
                    l.set_label(Some(t));
                }
            }
            for r in &mut d.related {
                go(r, secrets);
            }
        }
        for d in &mut self.list {
            go(d, secrets);
        }
    }

    /// Keeps the diagnostics `keep` says to keep.
    pub fn retain(&mut self, keep: impl FnMut(&Diag) -> bool) {
        self.list.retain(keep);
    }

    /// Returns `Err(self)` when anything was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Diags> {
        if self.list.is_empty() { Ok(value) } else { Err(self) }
    }
}

impl From<Diag> for Diags {
    fn from(d: Diag) -> Diags {
        Diags { list: vec![d] }
    }
}

/// Renders diagnostics the way the user sees them; `color` off gives plain text with the
/// same layout (what snapshots pin).
pub fn render(diags: &Diags, color: bool, width: usize) -> String {
    let mut out = render_each(diags, color, width);
    let n = diags.len();
    out.push_str(&format!("error: {n} problem{} found; no host was contacted\n", if n == 1 { "" } else { "s" }));
    out
}

/// Each diagnostic rendered, without the closing count: for problems found once a host
/// was contacted (the playbook expanded with the host's facts), in that host's report.
pub fn render_each(diags: &Diags, color: bool, width: usize) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    for d in diags.iter() {
        // rendering into a String cannot fail
        let _ = handler.render_report(&mut out, d);
        out.push('\n');
    }
    out
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo:
/// a few edits away (transpositions count as one), or very similar by Jaro-Winkler.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::damerau_levenshtein(word, c), strsim::jaro_winkler(word, c), c))
        .filter(|(edits, jw, _)| *edits <= limit || *jw > 0.8)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_the_nearest_likely_typo() {
        assert_eq!(did_you_mean("ownr", ["owner", "group", "mode"]), Some("owner"));
        assert_eq!(did_you_mean("zzz", ["owner", "group", "mode"]), None);
        assert_eq!(did_you_mean("wbe", ["web-1", "web"]), Some("web"));
    }

    #[test]
    fn the_same_problem_is_reported_once() {
        let src = source("p.kdl", "file \"/x\" bad=1".into());
        let at = At::new(&src, (10, 5).into());
        let mut diags = Diags::default();
        diags.push(Diag::new(Code::UnknownProperty, "unknown property", &at, "here"));
        diags.push(Diag::new(Code::UnknownProperty, "unknown property", &at, "here"));
        assert_eq!(diags.len(), 1);
    }
}
