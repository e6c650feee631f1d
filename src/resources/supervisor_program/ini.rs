//! The program's configuration file: one `[program:NAME]` section in supervisor's INI
//! dialect, and what that dialect cannot hold.
//!
//! The configuration is one `[program:NAME]` section, written with the keys in a fixed
//! order so the same wishes always give the same bytes. Values are written so supervisor
//! reads them back exactly: `%` is doubled (supervisor expands `%(name)s` in every value;
//! in log file paths, which it expands twice, it is quadrupled); environment values are
//! quoted with `"` (or `'` when the value holds a `"`), because supervisor splits
//! `environment=` on commas outside quotes. What its INI format cannot hold is refused at
//! the token: a newline, a `;` or `#` after a space (an inline comment), leading or
//! trailing spaces (stripped), an environment value holding both quote characters or
//! starting or ending with one (supervisor strips quotes at either end).

use crate::diag::{Code, Diag, Spanned};
use crate::syntax::reader::NodeReader;

/// Program (group) names: what supervisor accepts in a section name and a file name,
/// never an option to supervisorctl, and not `all` (which supervisorctl reads as every
/// program).
pub(super) fn valid_program_name(n: &str) -> bool {
    n != "all"
        && !n.is_empty()
        && n.len() <= 64
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Why a value cannot stand in supervisor's INI file as it is, if it cannot.
pub(super) fn ini_problem(v: &str, quoted: bool) -> Option<&'static str> {
    if v.contains(['\n', '\r']) {
        return Some("supervisor's configuration holds one line per value: no newlines");
    }
    let b = v.as_bytes();
    if b.windows(2).any(|w| (w[0] == b' ' || w[0] == b'\t') && (w[1] == b';' || w[1] == b'#')) {
        return Some("supervisor reads `;` or `#` after a space as the start of a comment");
    }
    if !quoted && v.trim() != v {
        return Some("supervisor strips leading and trailing spaces");
    }
    None
}

/// A value with `%` doubled: supervisor expands `%(name)s` in every value once.
pub(super) fn pct(v: &str) -> String {
    v.replace('%', "%%")
}

/// An environment value as `environment=` needs it: quoted, `%` doubled.
pub(super) fn env_value(v: &str) -> Result<String, &'static str> {
    if v.starts_with(['"', '\'']) || v.ends_with(['"', '\'']) {
        return Err("supervisor strips quote characters at either end of an environment value");
    }
    if !v.contains('"') {
        Ok(format!("\"{}\"", pct(v)))
    } else if !v.contains('\'') {
        Ok(format!("'{}'", pct(v)))
    } else {
        Err("supervisor cannot read an environment value holding both `'` and `\"`")
    }
}

/// Reports a value supervisor would misread; true when it is fine.
pub(super) fn check_value(r: &mut NodeReader, v: &Spanned<String>, key: &str) -> bool {
    match ini_problem(&v.value, false) {
        None => true,
        Some(why) => {
            r.error(Diag::new(Code::Supervisor, format!("`{key}` cannot be written as it is"), &v.at, why));
            false
        }
    }
}

/// The `[program:NAME]` section, one key per line in a fixed order.
#[derive(Debug, Default)]
pub(super) struct Section {
    lines: Vec<(&'static str, String)>,
}

impl Section {
    pub(super) fn put(&mut self, key: &'static str, value: impl Into<String>) {
        self.lines.push((key, value.into()));
    }
    pub(super) fn opt<T: ToString>(&mut self, key: &'static str, value: Option<T>) {
        if let Some(v) = value {
            self.put(key, v.to_string());
        }
    }
    pub(super) fn render(&self, name: &str) -> String {
        let mut out = String::from("; managed by converge: changes made here are overwritten\n");
        out.push_str(&format!("[program:{name}]\n"));
        for (k, v) in &self.lines {
            out.push_str(&format!("{k}={v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_supervisor() {
        assert_eq!(pct("worker1.%h"), "worker1.%%h");
        assert_eq!(env_value("a,b c").as_deref(), Ok("\"a,b c\""));
        assert_eq!(env_value("say \"hi\" now").as_deref(), Ok("'say \"hi\" now'"));
        assert_eq!(env_value("100%").as_deref(), Ok("\"100%%\""));
        assert!(env_value("both ' and \" inside").is_err());
        assert!(env_value("\"edge").is_err());
        assert_eq!(env_value("").as_deref(), Ok("\"\""));
        assert!(ini_problem("a\nb", false).is_some());
        assert!(ini_problem("run ; rm", false).is_some());
        assert!(ini_problem("a;b#c", false).is_none());
        assert!(ini_problem(" lead", false).is_some());
        assert!(ini_problem(" lead", true).is_none());
        assert!(valid_program_name("kano_konnect-uwsgi"));
        assert!(!valid_program_name("a:b") && !valid_program_name("-x") && !valid_program_name("a b"));
        assert!(!valid_program_name("all"), "supervisorctl reads it as every program");
    }

    #[test]
    fn section_renders_in_a_fixed_order() {
        let mut s = Section::default();
        s.put("command", pct("/bin/celery -n w1.%h"));
        s.put("environment", ["A=\"1\"", "B=\"x,y\""].join(","));
        s.put("autostart", "true");
        assert_eq!(
            s.render("celery"),
            "; managed by converge: changes made here are overwritten\n[program:celery]\ncommand=/bin/celery -n w1.%%h\nenvironment=A=\"1\",B=\"x,y\"\nautostart=true\n"
        );
    }
}
