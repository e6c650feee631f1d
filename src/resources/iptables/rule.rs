//! The rule itself: what `rule`, `chain` and the name may hold, checked on the
//! controller, and a rule as `iptables-save` prints it (the tagged lines the probe lists,
//! live and in the saved file, and the awk programs that find and delete them).
//!
//! `rule` is what follows `iptables -t TABLE -A CHAIN` on a command line. It is split into
//! words on the controller (shell rules: quotes group words) and every word is quoted
//! again in the script, so a value can never become shell syntax. Words that would change
//! what the command does (`-t`, `-A`, `-D`, `-F`, `-w`, ...) are refused at the token.
//!
//! A rule's name becomes its tag, the comment `converge:NAME`, so it is held to what the
//! tag can carry unquoted: letters, digits, `_`, `.` and `-`.

use super::super::ProbeError;
use crate::diag::{Code, Diag, Spanned};
use crate::syntax::reader::NodeReader;

pub(super) const TABLES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];

/// Words of a rule that would change what the command does rather than what it matches.
const COMMAND_WORDS: &[&str] = &[
    "-t",
    "--table",
    "-A",
    "--append",
    "-C",
    "--check",
    "-D",
    "--delete",
    "-I",
    "--insert",
    "-R",
    "--replace",
    "-L",
    "--list",
    "-S",
    "--list-rules",
    "-F",
    "--flush",
    "-Z",
    "--zero",
    "-N",
    "--new-chain",
    "-X",
    "--delete-chain",
    "-P",
    "--policy",
    "-E",
    "--rename-chain",
    "-w",
    "--wait",
    "-W",
    "--wait-interval",
    "-h",
    "--help",
    "-V",
    "--version",
    "--modprobe",
];

/// One rule carrying this resource's tag, as `iptables-save` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub table: String,
    pub chain: String,
    /// 1-based position among the chain's rules.
    pub index: u32,
    /// The `-A CHAIN ...` line.
    pub line: String,
}

impl Entry {
    pub(super) fn parse(v: &str) -> Result<Entry, ProbeError> {
        let bad = || ProbeError(format!("malformed rule line {v:?}"));
        let mut parts = v.splitn(4, ' ');
        let (table, chain, index, line) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (Some(table), Some(chain), Some(index), Some(line)) = (table, chain, index, line) else {
            return Err(bad());
        };
        if !line.starts_with("-A ") {
            return Err(bad());
        }
        Ok(Entry {
            table: table.to_string(),
            chain: chain.to_string(),
            index: index.parse().map_err(|_| bad())?,
            line: line.to_string(),
        })
    }

    pub(super) fn show(&self) -> String {
        format!("-t {} {}", self.table, self.line)
    }
}

pub(super) fn builtin_chain(table: &str, chain: &str) -> bool {
    let builtins: &[&str] = match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => &[],
    };
    builtins.contains(&chain)
}

fn valid_word(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Reports a name that cannot be a tag.
pub(super) fn check_name(r: &mut NodeReader, name: &Spanned<String>) {
    if !valid_word(&name.value, 200) {
        r.error(
            Diag::new(Code::Iptables, format!("`{}` cannot name a rule", name.value), &name.at, "invalid name")
                .help("a rule name is letters, digits, `_`, `.` and `-` (it becomes the comment converge:NAME)"),
        );
    }
}

/// Reports a chain name iptables would not take.
pub(super) fn check_chain(r: &mut NodeReader, c: &Spanned<String>) {
    if !valid_word(&c.value, 28) {
        r.error(
            Diag::new(Code::Iptables, format!("`{}` is not a chain name", c.value), &c.at, "invalid chain")
                .help("chain names are up to 28 letters, digits, `_`, `.` and `-`, not starting with `-`"),
        );
    }
}

/// The rule's words, split as a shell would; an unclosed quote, a command word, or no
/// words at all is reported at the rule.
pub(super) fn split(r: &mut NodeReader, rule: &Spanned<String>) -> Vec<String> {
    let mut words = Vec::new();
    match shlex::split(&rule.value) {
        None => {
            r.error(Diag::new(Code::Iptables, "the rule has an unclosed quote", &rule.at, "cannot split into words"))
        }
        Some(w) => words = w,
    }
    if let Some(bad) = words.iter().find(|w| COMMAND_WORDS.contains(&w.as_str())) {
        r.error(
            Diag::new(
                Code::Iptables,
                format!("`{bad}` cannot be part of a rule"),
                &rule.at,
                "an iptables command or table option",
            )
            .help("`rule` is what follows `-A CHAIN`; give the table with `table=` and the chain with `chain=`"),
        );
    }
    if words.is_empty() && !r.failed() {
        r.error(Diag::new(Code::Empty, "the rule has no words", &rule.at, "empty"));
    }
    words
}

/// The awk functions `tagged` (a line carries the tag `CV_TAG`; iptables-save quotes a
/// comment holding `:`, but the unquoted form is accepted too) and `untag` (the line as
/// iptables-save prints the same rule without the tag: the comment match removed).
pub(super) const AWK_TAGGED_FN: &str = "function tagged(s) { return index(s, \"--comment \\\"\" tag \"\\\"\") > 0 || index(s \" \", \"--comment \" tag \" \") > 0 }\n\
function untag(s,   m, i) { m = \" -m comment --comment \\\"\" tag \"\\\"\"; i = index(s, m); if (i == 0) return \"\"; return substr(s, 1, i - 1) substr(s, i + length(m)) }\n\
BEGIN { tag = ENVIRON[\"CV_TAG\"]; pre = ENVIRON[\"CV_PRE\"] }\n";

/// iptables-save format in, `PRE TABLE CHAIN INDEX LINE` out for every tagged rule, and
/// `saved_untagged=TABLE CHAIN INDEX LINE` for every untagged copy of the live rule
/// `CV_LIVE` (`TABLE CHAIN INDEX LINE`, as the live listing printed it).
pub(super) const AWK_LIST: &str = "BEGIN { lv = ENVIRON[\"CV_LIVE\"]; lt = substr(lv, 1, index(lv, \" \") - 1); for (k = 0; k < 3; k++) lv = substr(lv, index(lv, \" \") + 1); plain = untag(lv) }\n\
/^\\*/ { t = substr($0, 2); split(\"\", n); next }\n\
$1 == \"-A\" { n[$2]++; if (tagged($0)) print pre t \" \" $2 \" \" n[$2] \" \" $0; else if (plain != \"\" && t == lt && $0 == plain) print \"saved_untagged=\" t \" \" $2 \" \" n[$2] \" \" $0 }\n";

/// iptables-save format in, an iptables-restore --noflush script deleting every tagged
/// rule out.
pub(super) const AWK_DELETE: &str = "/^\\*/ { t = substr($0, 2); next }\n\
$1 == \"-A\" && tagged($0) { sub(/^-A /, \"-D \"); print \"*\" t; print; print \"COMMIT\" }\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::build_from;
    use crate::resources::iptables::Iptables;

    #[test]
    fn entries_parse_from_the_listing_and_show_with_their_table() {
        let e = Entry::parse("nat PREROUTING 2 -A PREROUTING -p tcp -j ACCEPT").expect("parse");
        assert_eq!((e.table.as_str(), e.chain.as_str(), e.index), ("nat", "PREROUTING", 2));
        assert_eq!(e.show(), "-t nat -A PREROUTING -p tcp -j ACCEPT");
        assert!(Entry::parse("nat PREROUTING x -A PREROUTING").is_err(), "no index");
        assert!(Entry::parse("nat PREROUTING 1 -I PREROUTING 1").is_err(), "not an -A line");
        assert!(Entry::parse("nat PREROUTING").is_err());
    }

    #[test]
    fn builtin_chains_are_per_table() {
        assert!(builtin_chain("nat", "PREROUTING") && builtin_chain("filter", "INPUT"));
        assert!(!builtin_chain("filter", "PREROUTING") && !builtin_chain("nat", "web-in"));
    }

    #[test]
    fn words_that_change_the_command_are_refused_at_the_rule() {
        let err = |kdl: &str| build_from::<Iptables>(kdl).expect_err("refused").join("\n");
        assert!(err(r#"iptables "a" chain="INPUT" rule="-t nat -j ACCEPT""#).contains("`-t` cannot be part of a rule"));
        assert!(err(r#"iptables "a" chain="INPUT" rule="-j 'ACCEPT""#).contains("unclosed quote"));
        assert!(err(r#"iptables "a b" chain="INPUT" rule="-j ACCEPT""#).contains("cannot name a rule"));
        assert!(err(r#"iptables "a" chain="-x" rule="-j ACCEPT""#).contains("is not a chain name"));
        assert!(build_from::<Iptables>(r#"iptables "a" chain="INPUT" rule="-p tcp --dport 22 -j ACCEPT""#).is_ok());
    }
}
