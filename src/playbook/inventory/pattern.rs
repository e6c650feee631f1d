//! Ansible's host patterns, as `--limit` reads them: the text split into parts, each part
//! with how it combines with the others and what names it matches.
//!
//! ```text
//! web:db          web,db           union: hosts in either
//! web:&eu                          intersection: hosts of web that are also in eu
//! all:!web-3                       exclusion: every host but web-3
//! web-[12]  db-?  *.eu             globs: `*`, `?` and `[...]` classes (`[!...]` negates)
//! ~web-\d+                         a regex, anchored at the start of the name
//! ```
//!
//! Parts are separated by `,` or `:`, both meaning union (a `:` inside `[...]` does not
//! separate; Ansible splits at `:` only when there is no `,`, which differs only for names
//! that contain a `:`). A part names hosts by host name or group name; whether it matches
//! any name at all, and how the parts combine, is for
//! [`Inventory::limit`](super::Inventory::limit) to decide. Globs follow Python's
//! `fnmatch`, which Ansible uses: `[!...]` negates, `]` first in a class is literal, an
//! unclosed `[` is literal. Ansible's group positions (`web[0]`, `web[1:3]`) are not
//! supported: they would read as classes here, so a part of that shape naming a group is
//! refused (see [`Part::subscript_base`]).

use regex::Regex;

use super::NoMatch;

/// How a part combines with the others. Ansible applies every union first,
/// then every intersection, then every exclusion, whatever order they are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// A plain part: its hosts are added.
    Union,
    /// `&X`: only hosts X also matches are kept.
    Intersect,
    /// `!X`: hosts X matches are removed.
    Exclude,
}

/// One part of a pattern: `web`, `&eu`, `!web-3`, `~db\d`.
#[derive(Debug)]
pub(super) struct Part {
    pub op: Op,
    /// The part as written, with its `&` or `!`, for messages.
    pub written: String,
    /// The part without its `&` or `!`: what it matches names against.
    pub name: String,
    matcher: Matcher,
}

/// What a part matches names with.
#[derive(Debug)]
enum Matcher {
    /// `all` (and only `all`): every host, even in an inventory with no names to match.
    All,
    Glob(Vec<Tok>),
    /// A `~` part, compiled anchored at the start as Python's `re.match` is.
    Regex(Regex),
}

/// One element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// `*`: any run of characters, empty included.
    Star,
    /// `?`: any one character.
    Any,
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Lit(char),
}

impl Tok {
    /// Whether this single-character element accepts `c` (`*` is handled by the matcher).
    fn accepts(&self, c: char) -> bool {
        match self {
            Tok::Star | Tok::Any => true,
            Tok::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
            Tok::Lit(l) => *l == c,
        }
    }
}

impl Part {
    /// Whether this part matches a host or group name.
    pub fn matches(&self, name: &str) -> bool {
        match &self.matcher {
            Matcher::All => true,
            Matcher::Glob(toks) => glob_matches(toks, name),
            Matcher::Regex(re) => re.is_match(name),
        }
    }

    /// `all`, which selects every host without having to match a name.
    pub fn is_all(&self) -> bool {
        matches!(self.matcher, Matcher::All)
    }

    /// A regex part, for which a "did you mean" on its text would be noise.
    pub fn is_regex(&self) -> bool {
        matches!(self.matcher, Matcher::Regex(_))
    }

    /// For a part shaped like Ansible's group position (`web[0]`, `web[-1]`, `web[1:3]`,
    /// `web[2:]`), the name before the subscript. Ansible would take the hosts of group
    /// `web` by position; here the brackets are a class, so the caller refuses the part
    /// when that name is a group rather than silently select something else.
    pub fn subscript_base(&self) -> Option<&str> {
        if self.is_regex() {
            return None;
        }
        let (base, inside) = self.name.strip_suffix(']')?.rsplit_once('[')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let index = digits(inside.strip_prefix('-').unwrap_or(inside));
        let range = inside.split_once(':').is_some_and(|(a, b)| digits(a) && (b.is_empty() || digits(b)));
        (!base.is_empty() && (index || range)).then_some(base)
    }
}

/// Reads a `--limit` pattern into its parts, in the order written. Empty parts (`web,,db`,
/// a trailing `,`) are skipped as Ansible skips them; an empty pattern is refused, and so
/// is a bare `&`, `!` or `~` and a regex that does not compile.
pub(super) fn parse(pattern: &str) -> Result<Vec<Part>, NoMatch> {
    let parts: Vec<Part> = split(pattern).into_iter().map(|p| parse_part(pattern, p)).collect::<Result<_, _>>()?;
    if parts.is_empty() {
        return Err(NoMatch::Blank { pattern: pattern.to_string() });
    }
    Ok(parts)
}

/// Splits at `,` and `:` outside `[...]`, trimming each part and dropping empty ones.
fn split(pattern: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_class) = (0, false);
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => in_class = true,
            ']' => in_class = false,
            ',' | ':' if !in_class => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

fn parse_part(pattern: &str, written: &str) -> Result<Part, NoMatch> {
    let (op, name) = match written.as_bytes()[0] {
        b'&' => (Op::Intersect, &written[1..]),
        b'!' => (Op::Exclude, &written[1..]),
        _ => (Op::Union, written),
    };
    let invalid = |reason: &str, help: Option<String>| NoMatch::Invalid {
        pattern: pattern.to_string(),
        part: written.to_string(),
        reason: reason.to_string(),
        help,
    };
    let matcher = if name.is_empty() {
        return Err(invalid("names nothing", Some(format!("write a host or group name after `{written}`"))));
    } else if name == "all" {
        Matcher::All
    } else if let Some(re) = name.strip_prefix('~') {
        if re.is_empty() {
            return Err(invalid("names nothing", Some("write a regex after `~`".to_string())));
        }
        // compiled as written first, so that the error points into what the user wrote
        // rather than into the anchored form
        let bad = |e: regex::Error| invalid("is not a valid regex", Some(e.to_string()));
        Regex::new(re).map_err(bad)?;
        Matcher::Regex(Regex::new(&format!("^(?:{re})")).map_err(bad)?)
    } else {
        Matcher::Glob(glob_tokens(name))
    };
    Ok(Part { op, written: written.to_string(), name: name.to_string(), matcher })
}

/// A glob as its elements; characters that start no well-formed element are literal.
fn glob_tokens(pattern: &str) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (tok, next) = match chars[i] {
            '*' => (Tok::Star, i + 1),
            '?' => (Tok::Any, i + 1),
            '[' => class(&chars, i + 1).unwrap_or((Tok::Lit('['), i + 1)),
            c => (Tok::Lit(c), i + 1),
        };
        toks.push(tok);
        i = next;
    }
    toks
}

/// The class whose contents start at `chars[start]` (just after its `[`), and the index
/// after its `]`; `None` when it is not closed.
fn class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'!');
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    while let Some(&c) = chars.get(i) {
        if c == ']' && i > first {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    None
}

/// Whether the glob matches the whole name. A mismatch after a `*` resumes one character
/// further along from that `*` only; an earlier `*` never needs revisiting, since the later
/// one can absorb whatever it would have, so this is linear-ish rather than exponential.
fn glob_matches(toks: &[Tok], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut i) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while i < name.len() {
        match toks.get(t) {
            Some(Tok::Star) => {
                resume = Some((t, i));
                t += 1;
            }
            Some(tok) if tok.accepts(name[i]) => {
                t += 1;
                i += 1;
            }
            _ => match resume {
                Some((star, from)) => {
                    resume = Some((star, from + 1));
                    t = star + 1;
                    i = from + 1;
                }
                None => return false,
            },
        }
    }
    toks[t..].iter().all(|tok| *tok == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str, name: &str) -> bool {
        glob_matches(&glob_tokens(pattern), name)
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("web-*", "web-1"));
        assert!(glob("*", "x"));
        assert!(glob("*", ""));
        assert!(glob("w?b", "web"));
        assert!(!glob("w?b", "wb"));
        assert!(!glob("web", "web-1"));
        assert!(!glob("web-1", "web"));
        assert!(glob("*-1", "db-1"));
        assert!(glob("*.eu.*", "a.eu.example"));
        assert!(!glob("*.eu.*", "a.us.example"));
        // the later star resumes; a backtracking matcher is needed for this one
        assert!(glob("*a*b", "xaxaxb"));
        assert!(!glob("*a*b", "xaxaxa"));
    }

    #[test]
    fn classes_follow_fnmatch() {
        assert!(glob("web-[12]", "web-1"));
        assert!(!glob("web-[12]", "web-3"));
        assert!(glob("web-[1-3]", "web-3"));
        assert!(!glob("web-[1-3]", "web-4"));
        assert!(glob("web-[!1]", "web-2"));
        assert!(!glob("web-[!1]", "web-1"));
        // `]` first is literal, a trailing `-` is literal, an unclosed `[` is literal
        assert!(glob("a[]]", "a]"));
        assert!(glob("a[x-]", "a-"));
        assert!(glob("a[b", "a[b"));
        assert!(!glob("a[b", "ab"));
    }

    #[test]
    fn parts_split_on_commas_and_colons_but_not_inside_classes() {
        let written = |p: &str| parse(p).expect("parses").into_iter().map(|p| p.written).collect::<Vec<_>>();
        assert_eq!(written("web:db,eu"), ["web", "db", "eu"]);
        assert_eq!(written(" web , !web-3 "), ["web", "!web-3"]);
        assert_eq!(written("web,,db,"), ["web", "db"]);
        assert_eq!(written("web[1:3]:db"), ["web[1:3]", "db"]);
        let parts = parse("web:&eu:!web-3").expect("parses");
        assert_eq!(parts.iter().map(|p| p.op).collect::<Vec<_>>(), [Op::Union, Op::Intersect, Op::Exclude]);
        assert_eq!(parts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["web", "eu", "web-3"]);
        assert!(parts[2].matches("web-3") && !parts[2].matches("web-30"));
    }

    #[test]
    fn all_is_special_and_a_regex_is_anchored_at_the_start_only() {
        let parts = parse("all:~db\\d").expect("parses");
        assert!(parts[0].is_all() && parts[0].matches("anything"));
        assert!(parts[1].matches("db1") && parts[1].matches("db1.eu"));
        assert!(!parts[1].matches("old-db1"));
    }

    #[test]
    fn subscripts_are_recognised_for_refusal() {
        let base = |p: &str| parse(p).expect("parses").remove(0).subscript_base().map(str::to_string);
        assert_eq!(base("web[0]").as_deref(), Some("web"));
        assert_eq!(base("web[-1]").as_deref(), Some("web"));
        assert_eq!(base("web[1:3]").as_deref(), Some("web"));
        assert_eq!(base("!web[2:]").as_deref(), Some("web"));
        assert_eq!(base("web-[ab]"), None);
        assert_eq!(base("web-[1-3]"), None);
        assert_eq!(base("[0]"), None);
    }

    #[test]
    fn malformed_parts_are_refused_with_the_reason() {
        let err = parse(" , ").expect_err("blank");
        assert_eq!(err.to_string(), "--limit ` , ` names no host or group");
        assert_eq!(err.help().as_deref(), Some("name hosts or groups, or `all` for every host"));
        let err = parse("web:!").expect_err("bare !");
        assert_eq!(err.to_string(), "`!` in --limit web:! names nothing");
        assert_eq!(err.help().as_deref(), Some("write a host or group name after `!`"));
        let err = parse("~web[").expect_err("bad regex");
        assert_eq!(err.to_string(), "`~web[` in --limit ~web[ is not a valid regex");
        let help = err.help().expect("the regex error");
        assert!(help.contains("unclosed character class") && !help.contains("^(?:"), "{help}");
    }
}
