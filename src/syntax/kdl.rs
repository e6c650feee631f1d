//! Reading KDL with spans: parsing a file into a document whose syntax errors are
//! diagnostics naming the file, and typed reads of single entries (string, bool, integer,
//! mode) that label the exact token when the type is wrong.
//!
//! The serde route (`kdl::de`) loses spans, so nodes are walked by hand.

use std::ops::Range;

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::diag::{At, Code, Diag, Diags, Source};

/// Parses one KDL file; syntax errors become diagnostics in that file.
pub fn parse(src: &Source) -> Result<KdlDocument, Diags> {
    let text = src.inner();
    text.parse::<KdlDocument>().map_err(|err| {
        let mut diags = Diags::default();
        for d in err.diagnostics {
            let at = At::new(src, d.span);
            let message = d.message.clone().unwrap_or_else(|| "KDL syntax error".into());
            let label = d.label.clone().unwrap_or_else(|| "here".into());
            let mut diag = Diag::new(Code::Syntax, message, &at, label);
            if let Some(help) = d.help.clone().or_else(|| v1_hint(text, d.span)) {
                diag = diag.help(help);
            }
            diags.push(diag);
        }
        if diags.is_empty() {
            diags.push(Diag::new(Code::Syntax, "KDL syntax error", &At::new(src, (0, 0).into()), "here"));
        }
        diags
    })
}

/// KDL v1 habits (`enabled=true`, `x=null`) give cryptic v2 errors: say what to write.
fn v1_hint(text: &str, span: SourceSpan) -> Option<String> {
    let start = span.offset();
    let rest = text.get(start..)?;
    let word: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
    match word.as_str() {
        "true" | "false" | "null" => Some(format!("KDL v2 writes keywords with a `#`: write `#{word}`")),
        _ => None,
    }
}

/// The span of an entry's value token (an entry's own span covers `key=value`).
pub fn value_span(entry: &KdlEntry) -> SourceSpan {
    let span = entry.span();
    match entry.format() {
        Some(f) if f.value_repr.len() <= span.len() => {
            let len = f.value_repr.len();
            (span.offset() + span.len() - len, len).into()
        }
        _ => span,
    }
}

/// Where a string value starts inside its token, when the token is the value verbatim:
/// `"text"` (no escapes) or `#"text"#`. Used to label errors inside a string.
pub fn string_inner_offset(entry: &KdlEntry) -> Option<usize> {
    let repr = &entry.format()?.value_repr;
    let value = entry.value().as_string()?;
    let hashes = repr.bytes().take_while(|b| *b == b'#').count();
    let quote = hashes;
    if repr.as_bytes().get(quote) != Some(&b'"') || repr.starts_with("\"\"\"") {
        return None;
    }
    let inner = &repr.get(quote + 1..repr.len().checked_sub(quote + 1)?)?;
    (*inner == value).then_some(quote + 1)
}

/// A node's name span, for labels on the node itself.
pub fn name_at(src: &Source, node: &KdlNode) -> At {
    At::new(src, node.name().span())
}

pub fn entry_at(src: &Source, entry: &KdlEntry) -> At {
    At::new(src, value_span(entry))
}

/// The span of `range` inside a string token that holds `value` verbatim (no escapes, no
/// template), or the whole token: a label on the exact part of a value that is wrong.
pub fn inside(at: &At, value: &str, range: Range<usize>) -> At {
    let (off, len) = (at.span.offset(), at.span.len());
    let token = at.src.inner().get(off..off + len).unwrap_or("");
    let hashes = token.bytes().take_while(|b| *b == b'#').count();
    let verbatim = token.len() == value.len() + 2 * hashes + 2
        && token.get(hashes + 1..hashes + 1 + value.len()) == Some(value)
        && token.as_bytes().get(hashes) == Some(&b'"');
    if !verbatim || range.is_empty() {
        return at.clone();
    }
    At::new(&at.src, (off + hashes + 1 + range.start, range.len()).into())
}

/// Human name of a KDL value's type, for "expected a string, found an integer".
pub fn type_name(value: &KdlValue) -> &'static str {
    match value {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

/// A string entry, or a diagnostic on its token.
pub fn expect_string(src: &Source, entry: &KdlEntry, what: &str) -> Result<String, Diag> {
    match entry.value() {
        KdlValue::String(s) if s.contains('\0') => Err(Diag::new(
            Code::Nul,
            format!("{what} contains a NUL character"),
            &entry_at(src, entry),
            "no shell value can hold NUL",
        )),
        KdlValue::String(s) => Ok(s.clone()),
        other => Err(wrong_type(src, entry, what, "a string", other)),
    }
}

pub fn expect_bool(src: &Source, entry: &KdlEntry, what: &str) -> Result<bool, Diag> {
    match entry.value() {
        KdlValue::Bool(b) => Ok(*b),
        KdlValue::String(s) if s == "true" || s == "false" || s == "yes" || s == "no" => {
            Err(Diag::new(Code::Type, format!("{what} must be a boolean"), &entry_at(src, entry), "this is a string")
                .help(format!("write #true or #false (KDL v2 booleans), not \"{s}\"")))
        }
        other => Err(wrong_type(src, entry, what, "a boolean (#true or #false)", other)),
    }
}

pub fn expect_int(src: &Source, entry: &KdlEntry, what: &str) -> Result<i128, Diag> {
    match entry.value() {
        KdlValue::Integer(i) => Ok(*i),
        other => Err(wrong_type(src, entry, what, "an integer", other)),
    }
}

/// A file mode: `"0644"`, `"644"` or `0o644`. A bare integer is refused: KDL reads
/// `0644` as the decimal number 644, which is not the mode anyone meant.
pub fn expect_mode(src: &Source, entry: &KdlEntry, what: &str) -> Result<u32, Diag> {
    let at = entry_at(src, entry);
    match entry.value() {
        KdlValue::String(s) => parse_mode(s).ok_or_else(|| {
            Diag::new(Code::Mode, format!("{what} `{s}` is not an octal file mode"), &at, "not an octal mode")
                .help("write a mode as a string of octal digits, e.g. \"0644\" or \"2775\"")
        }),
        KdlValue::Integer(i) => {
            let repr = entry.format().map(|f| f.value_repr.as_str()).unwrap_or("");
            if repr.starts_with("0o") && (0..=0o7777).contains(i) {
                Ok(*i as u32)
            } else if repr.starts_with("0o") {
                Err(Diag::new(Code::Mode, format!("{what} is out of range"), &at, "above 0o7777"))
            } else {
                Err(Diag::new(
                    Code::Mode,
                    format!("{what} must be octal, but `{repr}` is a decimal integer"),
                    &at,
                    format!("KDL reads this as the decimal number {i}"),
                )
                .help(format!(
                    "write the mode as a string, \"{repr:0>4}\", or as an octal literal, 0o{}",
                    repr.trim_start_matches('0')
                )))
            }
        }
        other => Err(wrong_type(src, entry, what, "an octal mode like \"0644\"", other)),
    }
}

/// Parses an octal mode string of 3 or 4 digits.
pub fn parse_mode(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8).ok()
}

fn wrong_type(src: &Source, entry: &KdlEntry, what: &str, expected: &str, found: &KdlValue) -> Diag {
    Diag::new(
        Code::Type,
        format!("{what} must be {expected}"),
        &entry_at(src, entry),
        format!("this is {}", type_name(found)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_entry(text: &str, i: usize) -> (Source, KdlEntry) {
        let src = crate::diag::source("t.kdl", text.to_string());
        let doc: KdlDocument = text.parse().expect("parse");
        let entry = doc.nodes()[0].entries()[i].clone();
        (src, entry)
    }

    #[test]
    fn modes_accept_strings_and_octal_literals_and_refuse_bare_integers() {
        let (src, e) = first_entry("f m=\"0644\"", 0);
        assert_eq!(expect_mode(&src, &e, "mode").ok(), Some(0o644));
        let (src, e) = first_entry("f m=0o755", 0);
        assert_eq!(expect_mode(&src, &e, "mode").ok(), Some(0o755));
        let (src, e) = first_entry("f m=0644", 0);
        let err = expect_mode(&src, &e, "mode").expect_err("bare integer");
        assert!(err.message.contains("decimal"), "{}", err.message);
        let (src, e) = first_entry("f m=\"0999\"", 0);
        assert!(expect_mode(&src, &e, "mode").is_err());
    }

    #[test]
    fn inside_labels_part_of_a_verbatim_string_and_the_whole_token_otherwise() {
        let text = "c schedule=\"60 * * * *\" raw=#\"ab\"# esc=\"a\\tb\"";
        let (src, e) = first_entry(text, 0);
        let at = entry_at(&src, &e);
        let part = inside(&at, "60 * * * *", 0..2);
        assert_eq!(&text[part.span.offset()..part.span.offset() + part.span.len()], "60");
        assert_eq!(inside(&at, "60 * * * *", 0..0).span, at.span, "an empty range");
        assert_eq!(inside(&at, "something else", 0..2).span, at.span, "not the token's value");
        let (src, e) = first_entry(text, 1);
        let raw = entry_at(&src, &e);
        let b = inside(&raw, "ab", 1..2);
        assert_eq!(&text[b.span.offset()..b.span.offset() + b.span.len()], "b");
        let (src, e) = first_entry(text, 2);
        let esc = entry_at(&src, &e);
        assert_eq!(inside(&esc, "a\tb", 0..1).span, esc.span, "an escape: offsets would be off");
    }

    #[test]
    fn value_span_covers_only_the_value() {
        let (_, e) = first_entry("f mode=\"0644\"", 0);
        assert_eq!(value_span(&e), (7, 6).into());
    }

    #[test]
    fn inner_offset_only_for_verbatim_strings() {
        let (_, e) = first_entry("f \"a{{ b }}\"", 0);
        assert_eq!(string_inner_offset(&e), Some(1));
        let (_, e) = first_entry("f #\"a\"#", 0);
        assert_eq!(string_inner_offset(&e), Some(2));
        let (_, e) = first_entry("f \"a\\nb\"", 0);
        assert_eq!(string_inner_offset(&e), None);
    }
}
