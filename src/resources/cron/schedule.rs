//! The schedule's grammar, checked on the controller: five fields (minute 0-59, hour
//! 0-23, day of month 1-31, month 1-12 or `jan`-`dec`, day of week 0-7 or `sun`-`sat`)
//! made of `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n` and lists `a,b`, or one of
//! `@reboot`, `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`,
//! `@annually`. Every problem is labelled at the field (or the item of a list) it is in,
//! so a schedule with three mistakes shows three labels.

use std::ops::Range;

use crate::diag::{Code, Diag, Spanned};
use crate::syntax::kdl::inside;
use crate::syntax::reader::NodeReader;

/// The schedule, normalised to single spaces; every problem reported at its field.
pub(super) fn check_schedule(r: &mut NodeReader, s: &Spanned<String>) -> Option<String> {
    let errors = schedule_errors(&s.value);
    if errors.is_empty() {
        return Some(s.value.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    for e in errors {
        let mut d = Diag::new(Code::Schedule, e.message, &inside(&s.at, &s.value, e.range), e.label);
        if let Some(h) = e.help {
            d = d.help(h);
        }
        r.error(d);
    }
    None
}

/// One problem in a schedule, at a byte range of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub range: Range<usize>,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The number of the first name (`jan` is 1, `sun` is 0).
    first: u32,
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[], first: 0 },
    Field { name: "hour", min: 0, max: 23, names: &[], first: 0 },
    Field { name: "day of month", min: 1, max: 31, names: &[], first: 0 },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        first: 1,
    },
    Field { name: "day of week", min: 0, max: 7, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"], first: 0 },
];

const MACROS: &[&str] = &["@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

/// Every problem of a schedule (empty: valid).
pub fn schedule_errors(s: &str) -> Vec<ScheduleError> {
    let words: Vec<(usize, &str)> = words(s);
    let whole = 0..s.len();
    let err = |range: Range<usize>, message: String, label: &str| ScheduleError {
        range,
        message,
        label: label.to_string(),
        help: None,
    };
    if let [(at, w)] = words.as_slice()
        && w.starts_with('@')
    {
        if MACROS.contains(&w.to_ascii_lowercase().as_str()) {
            return Vec::new();
        }
        let mut e = err(*at..at + w.len(), format!("`{w}` is not a cron macro"), "unknown macro");
        e.help = Some(match crate::diag::did_you_mean(w, MACROS.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("the macros are {}", MACROS.join(", ")),
        });
        return vec![e];
    }
    if words.len() != 5 {
        let mut e = err(
            whole,
            format!("a cron schedule has five fields, this one has {}", words.len()),
            "expected minute, hour, day of month, month, day of week",
        );
        e.help = Some("e.g. \"0 22 * * *\" (22:00 every day), or a macro such as \"@daily\"".into());
        return vec![e];
    }
    words.iter().zip(FIELDS.iter()).flat_map(|((at, w), f)| field_errors(f, w, *at)).collect()
}

/// Words of a schedule with their byte offsets.
fn words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(b)) => {
                out.push((b, &s[b..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    out
}

fn field_errors(f: &Field, word: &str, at: usize) -> Vec<ScheduleError> {
    let mut out = Vec::new();
    let mut off = at;
    for item in word.split(',') {
        if let Some(e) = item_error(f, item, off) {
            out.push(e);
        }
        off += item.len() + 1;
    }
    out
}

/// `*`, `*/n`, `v`, `a-b` or `a-b/n`.
fn item_error(f: &Field, item: &str, at: usize) -> Option<ScheduleError> {
    let span = at..at + item.len().max(1);
    let err = |range: Range<usize>, message: String, label: String, help: Option<String>| {
        Some(ScheduleError { range, message, label, help })
    };
    if item.is_empty() {
        return err(span, format!("empty item in the {} field", f.name), "nothing between commas".into(), None);
    }
    let (base, step) = match item.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (item, None),
    };
    if let Some(s) = step {
        let s_at = at + base.len() + 1;
        match s.parse::<u32>() {
            Ok(n) if n >= 1 && n <= f.max => {}
            _ => {
                return err(
                    s_at..s_at + s.len().max(1),
                    format!("`{s}` is not a valid step for the {}", f.name),
                    format!("a step is 1-{}", f.max),
                    None,
                );
            }
        }
        if !base.contains('-') && base != "*" {
            return err(
                span,
                format!("`{item}`: a step needs a range"),
                "cron does not accept a step after a single value".into(),
                Some(format!("write `{base}-{}/{}` (or `*/{}`)", f.max, s, s)),
            );
        }
    }
    if base == "*" {
        return None;
    }
    let (a, b) = match base.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (base, None),
    };
    let a_val = match value(f, a, at) {
        Ok(v) => v,
        Err(e) => return Some(e),
    };
    if let Some(b) = b {
        let b_at = at + a.len() + 1;
        let b_val = match value(f, b, b_at) {
            Ok(v) => v,
            Err(e) => return Some(e),
        };
        if a_val > b_val {
            return err(
                at..at + base.len(),
                format!("`{base}` is a backwards range"),
                "the start is after the end".into(),
                Some(format!("write `{b}-{a}`, or a list")),
            );
        }
    }
    None
}

/// One number or name of a field.
fn value(f: &Field, v: &str, at: usize) -> Result<u32, ScheduleError> {
    let range = at..at + v.len().max(1);
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
        return Ok(f.first + i as u32);
    }
    match v.parse::<u32>() {
        Ok(n) if (f.min..=f.max).contains(&n) => Ok(n),
        Ok(n) => Err(ScheduleError {
            range,
            message: format!("{n} is not a valid {}", f.name),
            label: format!("the {} is {}-{}", f.name, f.min, f.max),
            help: None,
        }),
        Err(_) => {
            let names = if f.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({}-{})", f.names[0], f.names[f.names.len() - 1])
            };
            Err(ScheduleError {
                range,
                message: format!("`{v}` is not a valid {}", f.name),
                label: format!("expected a number {}-{}{names}", f.min, f.max),
                help: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<(String, String)> {
        schedule_errors(s).into_iter().map(|e| (s[e.range.clone()].to_string(), e.label)).collect()
    }

    #[test]
    fn valid_schedules() {
        for s in [
            "0 22 * * *",
            "@hourly",
            "@REBOOT",
            "*/5 * * * *",
            "0 5 * * 0",
            "0 5 * * sun",
            "0,30 8-18/2 1-15 jan-jun mon-fri",
            "59 23 31 12 7",
            " 0  22 * * * ",
        ] {
            assert!(schedule_errors(s).is_empty(), "{s}: {:?}", schedule_errors(s));
        }
    }

    #[test]
    fn each_problem_is_at_its_field() {
        assert_eq!(
            labels("60 24 0 13 8"),
            [
                ("60".to_string(), "the minute is 0-59".to_string()),
                ("24".into(), "the hour is 0-23".into()),
                ("0".into(), "the day of month is 1-31".into()),
                ("13".into(), "the month is 1-12".into()),
                ("8".into(), "the day of week is 0-7".into()),
            ]
        );
        assert_eq!(labels("*/0 5-1 * foo *")[0], ("0".into(), "a step is 1-59".into()));
        assert_eq!(labels("*/0 5-1 * foo *")[1].0, "5-1");
        assert_eq!(labels("*/0 5-1 * foo *")[2], ("foo".into(), "expected a number 1-12 or a name (jan-dec)".into()));
        assert_eq!(labels("5/10 * * * *")[0].0, "5/10");
        assert_eq!(labels("1,,2 * * * *")[0].1, "nothing between commas");
        assert_eq!(labels("0 22 * *")[0].0, "0 22 * *");
        let e = schedule_errors("@daly");
        assert_eq!(e[0].help.as_deref(), Some("did you mean `@daily`?"));
    }
}
