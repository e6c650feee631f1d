//! [`NodeReader`]: how a kind reads its KDL node.
//!
//! Every read is typed and labelled: a wrong type, a bad mode, a value outside a set of
//! choices or a property given twice is a diagnostic on the exact token. String values are
//! rendered with the host's variables. The reader remembers which properties and children
//! the kind asked for; [`NodeReader::finish`] reports everything else as unknown, with
//! "did you mean" among the names the kind knows, so a kind never lists its properties
//! twice.

use std::path::Path;

use kdl::{KdlEntry, KdlNode};
use minijinja::Value;

use super::kdl::{entry_at, expect_bool, expect_int, expect_mode, expect_string, name_at, string_inner_offset};
use crate::diag::{At, Code, Diag, Diags, Source, Spanned, did_you_mean};
use crate::template::{StringToken, Templates};

/// Properties and children every resource accepts; the engine reads them.
pub const COMMON: &[&str] = &["require", "notify", "subscribe", "when", "tags", "become-user"];

/// The kinds that act as a user, and so take `become-user` (the others act as root).
pub const ACTS_AS_USER: &[&str] =
    &["exec", "git", "venv", "cron", "file", "directory", "copy-tree", "download", "unarchive"];

/// The user a resource acts as (`become-user=`, on the resource, a block around it, or its
/// host), rendered for this host.
#[derive(Debug, Clone)]
pub struct Become {
    pub user: String,
    /// Where it is written.
    pub at: At,
    /// Written on the resource itself (not inherited from a block or the host).
    pub own: bool,
}

pub struct NodeReader<'a> {
    node: &'a KdlNode,
    src: &'a Source,
    dir: &'a Path,
    templates: &'a Templates,
    ctx: &'a Value,
    diags: &'a mut Diags,
    props: Vec<&'static str>,
    children: Vec<&'static str>,
    args_read: usize,
    failed: bool,
    /// A child node's reader: `require`/`notify` are not accepted there.
    nested: bool,
    /// Every child node is accepted, whatever its name (a map written as nodes).
    any_child: bool,
    /// The `become-user` in force, and whether the kind asked for it.
    become_user: Option<Become>,
    become_read: bool,
}

impl<'a> NodeReader<'a> {
    pub fn new(
        node: &'a KdlNode,
        src: &'a Source,
        dir: &'a Path,
        templates: &'a Templates,
        ctx: &'a Value,
        diags: &'a mut Diags,
    ) -> NodeReader<'a> {
        NodeReader {
            node,
            src,
            dir,
            templates,
            ctx,
            diags,
            props: Vec::new(),
            children: Vec::new(),
            args_read: 0,
            failed: false,
            nested: false,
            any_child: false,
            become_user: None,
            become_read: false,
        }
    }

    /// Sets the `become-user` in force for this resource.
    pub fn set_become(&mut self, b: Option<Become>) {
        self.become_user = b;
    }

    /// The `become-user` in force, for a kind that acts as a user (the user commands run
    /// as, the owner of what it makes). A kind that never asks has it reported by
    /// [`NodeReader::finish`] when written on the resource itself.
    pub fn become_user(&mut self) -> Option<String> {
        self.become_read = true;
        self.become_user.as_ref().map(|b| b.user.clone())
    }

    /// Reads one child node of this node (`mount "/srv" "/data" read-only=#true`) with
    /// `f`, then reports what `f` did not ask for, as [`NodeReader::finish`] does. Returns
    /// `None` if the child had an error (which also marks this node failed).
    pub fn child<T>(&mut self, node: &'a KdlNode, f: impl FnOnce(&mut NodeReader<'_>) -> T) -> Option<T> {
        let mut r = NodeReader {
            node,
            src: self.src,
            dir: self.dir,
            templates: self.templates,
            ctx: self.ctx,
            diags: &mut *self.diags,
            props: Vec::new(),
            children: Vec::new(),
            args_read: 0,
            failed: false,
            nested: true,
            any_child: false,
            become_user: None,
            become_read: false,
        };
        let value = f(&mut r);
        let ok = r.finish();
        self.failed |= !ok;
        ok.then_some(value)
    }

    /// Every child node, whatever its name: for a map written as nodes
    /// (`env { LOG_LEVEL "info" }`), whose node names are the keys.
    pub fn any_children(&mut self) -> Vec<&'a KdlNode> {
        self.any_child = true;
        self.node.children().map(|d| d.nodes().iter().collect()).unwrap_or_default()
    }

    /// The node's name token.
    pub fn at(&self) -> At {
        name_at(self.src, self.node)
    }

    pub fn kind(&self) -> &str {
        self.node.name().value()
    }

    /// Records a diagnostic; the resource will not be built.
    pub fn error(&mut self, diag: Diag) {
        self.failed = true;
        self.diags.push(diag);
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    fn positional(&self) -> Vec<&'a KdlEntry> {
        self.node.entries().iter().filter(|e| e.name().is_none()).collect()
    }

    /// The next positional argument, a string (the resource's name comes first).
    pub fn arg(&mut self, what: &str) -> Option<Spanned<String>> {
        let args = self.positional();
        let Some(entry) = args.get(self.args_read).copied() else {
            let kind = self.kind().to_string();
            let at = self.at();
            self.error(
                Diag::new(Code::Missing, format!("`{kind}` needs {what}"), &at, format!("{what} missing"))
                    .help(format!("write `{kind} \"...\"`")),
            );
            return None;
        };
        self.args_read += 1;
        self.render_entry(entry, what)
    }

    /// Every remaining positional argument, as strings.
    pub fn rest_args(&mut self, what: &str) -> Vec<Spanned<String>> {
        let args = self.positional();
        let rest: Vec<&KdlEntry> = args[self.args_read.min(args.len())..].to_vec();
        self.args_read = args.len();
        rest.into_iter().filter_map(|e| self.render_entry(e, what)).collect()
    }

    fn entry(&mut self, key: &'static str) -> Option<&'a KdlEntry> {
        if !self.props.contains(&key) {
            self.props.push(key);
        }
        let found: Vec<&'a KdlEntry> =
            self.node.entries().iter().filter(|e| e.name().is_some_and(|n| n.value() == key)).collect();
        if found.len() > 1 {
            let first = entry_at(self.src, found[0]);
            let again = entry_at(self.src, found[found.len() - 1]);
            self.error(
                Diag::new(Code::DuplicateProperty, format!("`{key}` is given twice"), &again, "given again here")
                    .label(&first, "first given here"),
            );
            return None;
        }
        found.first().copied()
    }

    fn render_entry(&mut self, entry: &KdlEntry, what: &str) -> Option<Spanned<String>> {
        let raw = match expect_string(self.src, entry, what) {
            Ok(s) => s,
            Err(d) => {
                self.error(d);
                return None;
            }
        };
        let at = entry_at(self.src, entry);
        let token = StringToken { at: at.clone(), inner: string_inner_offset(entry) };
        match self.templates.render_str(&raw, &token, self.ctx) {
            Ok(value) => Some(Spanned { value, at }),
            Err(d) => {
                self.error(d);
                None
            }
        }
    }

    /// A string property, rendered with the host's variables.
    pub fn string(&mut self, key: &'static str) -> Option<Spanned<String>> {
        let e = self.entry(key)?;
        self.render_entry(e, &format!("`{key}`"))
    }

    /// A string property that must not be empty.
    pub fn nonempty(&mut self, key: &'static str) -> Option<Spanned<String>> {
        let v = self.string(key)?;
        if v.value.is_empty() {
            self.error(Diag::new(Code::Empty, format!("`{key}` cannot be empty"), &v.at, "empty"));
            return None;
        }
        Some(v)
    }

    /// A string property that may also be written as an integer (`port=80` or
    /// `port="80,443"`); the integer is returned as its decimal text.
    pub fn string_or_int(&mut self, key: &'static str) -> Option<Spanned<String>> {
        let e = self.entry(key)?;
        if let kdl::KdlValue::Integer(i) = e.value() {
            return Some(Spanned { value: i.to_string(), at: entry_at(self.src, e) });
        }
        self.render_entry(e, &format!("`{key}`"))
    }

    pub fn bool(&mut self, key: &'static str) -> Option<bool> {
        let e = self.entry(key)?;
        let b = expect_bool(self.src, e, &format!("`{key}`"));
        self.reported(b)
    }

    /// A boolean property with its token, for a kind's own checks that involve it.
    pub fn bool_spanned(&mut self, key: &'static str) -> Option<Spanned<bool>> {
        let e = self.entry(key)?;
        let at = entry_at(self.src, e);
        let b = expect_bool(self.src, e, &format!("`{key}`"));
        self.reported(b).map(|value| Spanned { value, at })
    }

    /// The value, or `None` with its diagnostic reported.
    fn reported<T>(&mut self, r: Result<T, Diag>) -> Option<T> {
        r.map_err(|d| self.error(d)).ok()
    }

    /// An integer property that must fit `T` (uid, port...).
    pub fn int<T: TryFrom<i128> + IntRange>(&mut self, key: &'static str) -> Option<Spanned<T>> {
        let e = self.entry(key)?;
        let at = entry_at(self.src, e);
        let i = expect_int(self.src, e, &format!("`{key}`"));
        let i = self.reported(i)?;
        match T::try_from(i) {
            Ok(v) => Some(Spanned { value: v, at }),
            Err(_) => {
                let (min, max) = (T::MIN, T::MAX);
                self.error(Diag::new(
                    Code::Range,
                    format!("`{key}` is out of range: it must be {min} to {max}"),
                    &at,
                    "out of range",
                ));
                None
            }
        }
    }

    /// A file mode (`"0644"` or `0o644`; a bare integer is refused with a reason).
    pub fn mode(&mut self, key: &'static str) -> Option<u32> {
        let e = self.entry(key)?;
        let m = expect_mode(self.src, e, &format!("`{key}`"));
        self.reported(m)
    }

    /// A string property that must be one of `choices`.
    pub fn choice(&mut self, key: &'static str, choices: &'static [&'static str]) -> Option<&'static str> {
        let v = self.string(key)?;
        if let Some(c) = choices.iter().find(|c| **c == v.value) {
            return Some(c);
        }
        let expected = choices.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let mut d = Diag::new(
            Code::Choice,
            format!("`{key}` cannot be \"{}\"", v.value),
            &v.at,
            format!("expected one of {expected}"),
        );
        if let Some(s) = did_you_mean(&v.value, choices.iter().copied()) {
            d = d.help(format!("did you mean \"{s}\"?"));
        }
        self.error(d);
        None
    }

    /// A list of strings: a child node `key "a" "b"` (several may be given), or a
    /// property `key="a"` for a single value.
    pub fn list(&mut self, key: &'static str) -> Vec<Spanned<String>> {
        let mut out: Vec<Spanned<String>> = self.string(key).into_iter().collect();
        for child in self.children(key) {
            for e in child.entries() {
                if let Some(name) = e.name() {
                    let at = At::new(self.src, name.span());
                    self.error(Diag::new(
                        Code::List,
                        format!("`{key}` takes values, not properties"),
                        &at,
                        "property here",
                    ));
                    continue;
                }
                if let Some(v) = self.render_entry(e, &format!("`{key}`")) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// Name-value pairs: a child block `key { NAME "value"; ... }` (environment variables).
    /// Each line is a name and one string, rendered with the host's variables; a name
    /// given twice is an error.
    pub fn map(&mut self, key: &'static str) -> Vec<(Spanned<String>, Spanned<String>)> {
        let mut out: Vec<(Spanned<String>, Spanned<String>)> = Vec::new();
        for block in self.children(key) {
            for line in block.children().map(|d| d.nodes()).unwrap_or_default() {
                let name = Spanned { value: line.name().value().to_string(), at: name_at(self.src, line) };
                let args: Vec<&KdlEntry> = line.entries().iter().collect();
                let [entry] = args.as_slice() else {
                    self.error(Diag::new(
                        Code::Map,
                        format!("`{}` in `{key}` takes one value", name.value),
                        &name.at,
                        format!("write `{} \"value\"`", name.value),
                    ));
                    continue;
                };
                if entry.name().is_some() || line.children().is_some() {
                    self.error(Diag::new(
                        Code::Map,
                        format!("`{}` in `{key}` takes one value", name.value),
                        &name.at,
                        "a value, not a property or a block",
                    ));
                    continue;
                }
                if let Some(first) = out.iter().find(|(n, _)| n.value == name.value) {
                    let first = first.0.at.clone();
                    self.error(
                        Diag::new(
                            Code::DuplicateProperty,
                            format!("`{}` is given twice in `{key}`", name.value),
                            &name.at,
                            "given again here",
                        )
                        .label(&first, "first given here"),
                    );
                    continue;
                }
                if let Some(value) = self.render_entry(entry, &format!("`{}`", name.value)) {
                    out.push((name, value));
                }
            }
        }
        out
    }

    /// Child nodes named `key`.
    pub fn children(&mut self, key: &'static str) -> Vec<&'a KdlNode> {
        if !self.children.contains(&key) {
            self.children.push(key);
        }
        self.node.children().map(|d| d.nodes().iter().filter(|n| n.name().value() == key).collect()).unwrap_or_default()
    }

    /// Child nodes named by any of `keys`, in the order written (a block whose children
    /// are of several kinds, where the order matters).
    pub fn children_of(&mut self, keys: &[&'static str]) -> Vec<&'a KdlNode> {
        for key in keys {
            if !self.children.contains(key) {
                self.children.push(key);
            }
        }
        self.node
            .children()
            .map(|d| d.nodes().iter().filter(|n| keys.contains(&n.name().value())).collect())
            .unwrap_or_default()
    }

    /// True when the node has a property named `key` (whatever its value).
    pub fn has(&self, key: &str) -> bool {
        self.node.entries().iter().any(|e| e.name().is_some_and(|n| n.value() == key))
    }

    /// Reports that two properties cannot be given together.
    /// At most one of `given` (each key with its value, when given): with two or more, the
    /// first two are reported ([`NodeReader::exclusive`]) and it returns false.
    pub fn at_most_one(&mut self, given: &[(&str, &Option<Spanned<String>>)]) -> bool {
        let mut present = given.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)));
        if let (Some((a_key, a)), Some((b_key, _))) = (present.next(), present.next()) {
            self.exclusive(a, a_key, b_key);
            return false;
        }
        true
    }

    pub fn exclusive(&mut self, a: &Spanned<String>, a_key: &str, b_key: &str) {
        self.error(Diag::new(
            Code::Conflict,
            format!("`{a_key}` and `{b_key}` cannot be given together"),
            &a.at,
            format!("`{a_key}` here"),
        ));
    }

    /// Whether `path` is a path `rule` admits; when not, reports it at its token
    /// (`converge::path`, "`srv` is not an absolute path"), with `help` if given. The one
    /// place a kind's path property or argument is checked for being absolute.
    pub fn absolute_path(&mut self, path: &Spanned<String>, rule: PathRule, help: Option<&str>) -> bool {
        if rule.admits(&path.value) {
            return true;
        }
        let (what, label) = match rule {
            PathRule::Absolute | PathRule::Canonical => ("an absolute path", "must start with /"),
            PathRule::File => ("an absolute file path", "must start with / and name a file"),
        };
        let mut d = Diag::new(Code::Path, format!("`{}` is not {what}", path.value), &path.at, label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.error(d);
        false
    }

    /// Whether `name` can name an environment variable ([`is_env_name`]); when not,
    /// reports it at its token (`converge::env`).
    pub fn env_name(&mut self, name: &Spanned<String>) -> bool {
        if is_env_name(&name.value) {
            return true;
        }
        self.error(
            Diag::new(Code::Env, format!("`{}` is not a variable name", name.value), &name.at, "invalid name")
                .help("letters, digits and `_`, not starting with a digit"),
        );
        false
    }

    /// Renders a template file relative to the playbook (or module) that names it.
    pub fn render_template(&mut self, path: &Spanned<String>) -> Option<String> {
        match self.templates.render_file(self.dir, path, self.ctx) {
            Ok(text) => Some(text),
            Err(d) => {
                self.error(d);
                None
            }
        }
    }

    /// Reads a file relative to the playbook (or module), as bytes.
    pub fn read_source(&mut self, path: &Spanned<String>) -> Option<Vec<u8>> {
        match self.templates.read_bytes(self.dir, path) {
            Ok(b) => Some(b),
            Err(d) => {
                self.error(d);
                None
            }
        }
    }

    /// A path on the controller relative to the playbook (or module) that names it (a
    /// `copy-tree` source directory).
    pub fn source_path(&self, path: &Spanned<String>) -> std::path::PathBuf {
        self.dir.join(&path.value)
    }

    /// Whether rendered content holds a secret value (then it must be treated as sensitive).
    pub fn holds_secret(&self, bytes: &[u8]) -> bool {
        self.templates.holds_secret(bytes)
    }

    /// Reports what the kind did not ask for. Returns false if any error was recorded.
    pub fn finish(mut self) -> bool {
        let kind = self.kind().to_string();
        let mut known: Vec<&str> = self.props.iter().chain(self.children.iter()).copied().collect();
        if !self.nested {
            // `become-user` is listed only where it applies; elsewhere it has its own error
            known.extend(COMMON.iter().filter(|k| **k != "become-user" || ACTS_AS_USER.contains(&kind.as_str())));
        }
        let positional = self.positional();
        let takes = match (self.nested, self.args_read) {
            (false, _) => "one name".to_string(),
            (true, 0) => "no values".to_string(),
            (true, 1) => "one value".to_string(),
            (true, n) => format!("{n} values"),
        };
        for extra in positional.iter().skip(self.args_read) {
            let at = entry_at(self.src, extra);
            self.error(Diag::new(Code::ExtraArgument, format!("`{kind}` takes {takes}"), &at, "unexpected value"));
        }
        if let Some(b) = self.become_user.clone().filter(|b| b.own && !self.become_read && !self.nested) {
            self.error(
                Diag::new(
                    Code::Become,
                    format!("`become-user` does not apply to `{kind}`"),
                    &b.at,
                    format!("`{kind}` acts as root"),
                )
                .help(format!(
                    "`become-user` applies to {}; the other kinds act as root (`pip` as its venv's owner)",
                    ACTS_AS_USER.join(", ")
                )),
            );
        }
        for e in self.node.entries() {
            let Some(name) = e.name() else { continue };
            let key = name.value();
            if !known.contains(&key) && (key != "become-user" || self.nested) {
                let at = At::new(self.src, name.span());
                self.unknown(&kind, "property", key, &at, &known);
            }
        }
        for child in self.node.children().map(|d| d.nodes()).unwrap_or_default() {
            let key = child.name().value();
            if !self.any_child && !known.contains(&key) {
                let at = name_at(self.src, child);
                self.unknown(&kind, "child", key, &at, &known);
            }
        }
        !self.failed
    }

    fn unknown(&mut self, kind: &str, what: &str, key: &str, at: &At, known: &[&str]) {
        let mut d =
            Diag::new(Code::UnknownProperty, format!("`{kind}` has no {what} `{key}`"), at, format!("unknown {what}"));
        d = match did_you_mean(key, known.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => {
                let mut names: Vec<&str> = known.to_vec();
                names.sort_unstable();
                names.dedup();
                d.help(format!("`{kind}` takes: {}", names.join(", ")))
            }
        };
        self.error(d);
    }
}

/// What [`NodeReader::absolute_path`] accepts as a path on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRule {
    /// Starts with `/` (a working directory, a file a command reads, an interpreter).
    Absolute,
    /// Starts with `/` and climbs no `..`: a path that names a resource, and so is its
    /// identity (`/srv/app` and `/srv/x/../app` would be two resources for one directory).
    Canonical,
    /// A canonical path that names a file: not `/` and not ending in `/`.
    File,
}

impl PathRule {
    /// Whether `path` is what this rule asks for.
    pub fn admits(self, path: &str) -> bool {
        let climbs = || path.split('/').any(|c| c == "..");
        path.starts_with('/')
            && match self {
                PathRule::Absolute => true,
                PathRule::Canonical => !climbs(),
                PathRule::File => path.len() > 1 && !path.ends_with('/') && !climbs(),
            }
    }
}

/// An environment variable's name as a shell takes it (and a Jinja variable's name, the
/// same rule): letters, digits and `_`, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The bounds of an integer type that [`NodeReader::int`] reads, for its "out of range" error.
pub trait IntRange {
    const MIN: i128;
    const MAX: i128;
}

macro_rules! int_range {
    ($($t:ty),*) => {$(
        impl IntRange for $t {
            const MIN: i128 = <$t>::MIN as i128;
            const MAX: i128 = <$t>::MAX as i128;
        }
    )*};
}
int_range!(i32, u16, u32);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    /// Reads the first node of `kdl` with `f`; every diagnostic as `message @ label (the
    /// token it is on) [help]`.
    fn read(kdl: &str, f: impl FnOnce(&mut NodeReader)) -> Vec<String> {
        let src = crate::diag::source("t.kdl", kdl.to_string());
        let doc = crate::syntax::kdl::parse(&src).expect("kdl");
        let templates = Templates::new(Path::new("."));
        let ctx = Value::from(BTreeMap::<String, Value>::new());
        let mut diags = Diags::default();
        let mut r = NodeReader::new(&doc.nodes()[0], &src, Path::new("."), &templates, &ctx, &mut diags);
        r.arg("a name");
        f(&mut r);
        r.finish();
        diags
            .iter()
            .map(|d| {
                let label = d.labels.first().and_then(|l| l.label()).unwrap_or("");
                let help = d.help.as_deref().unwrap_or("");
                format!("{} @ {label} ({}) [{help}]", d.message, d.primary_text().unwrap_or(""))
            })
            .collect()
    }

    #[test]
    fn path_rules() {
        for (path, absolute, canonical, file) in [
            ("/srv/app", true, true, true),
            ("srv/app", false, false, false),
            ("", false, false, false),
            ("/", true, true, false),
            ("/etc/", true, true, false),
            ("/srv/../etc/passwd", true, false, false),
            ("/srv/..", true, false, false),
            ("/srv/..x", true, true, true),
        ] {
            assert_eq!(PathRule::Absolute.admits(path), absolute, "{path}");
            assert_eq!(PathRule::Canonical.admits(path), canonical, "{path}");
            assert_eq!(PathRule::File.admits(path), file, "{path}");
        }
    }

    #[test]
    fn a_path_that_is_not_absolute_is_reported_at_its_token() {
        let kdl = r#"x "a" cwd="srv" up="/srv/../x" file="/etc/" ok="/srv""#;
        let diags = read(kdl, |r| {
            for (key, rule) in [("cwd", PathRule::Absolute), ("up", PathRule::Canonical), ("file", PathRule::File)] {
                let v = r.string(key).expect(key);
                assert!(!r.absolute_path(&v, rule, (key == "cwd").then_some("a directory on the host")));
            }
            let ok = r.string("ok").expect("ok");
            assert!(r.absolute_path(&ok, PathRule::File, None));
        });
        assert_eq!(
            diags,
            [
                "`srv` is not an absolute path @ must start with / (\"srv\") [a directory on the host]",
                "`/srv/../x` is not an absolute path @ must start with / (\"/srv/../x\") []",
                "`/etc/` is not an absolute file path @ must start with / and name a file (\"/etc/\") []",
            ]
        );
    }

    #[test]
    fn environment_names() {
        assert!(is_env_name("PATH") && is_env_name("_x1") && is_env_name("a"));
        assert!(!is_env_name("") && !is_env_name("2FA") && !is_env_name("A-B") && !is_env_name("É"));
        let diags = read(r#"x "a" { env { OK "1"; "2FA" "x"; } }"#, |r| {
            let env = r.map("env");
            let named: Vec<bool> = env.iter().map(|(k, _)| r.env_name(k)).collect();
            assert_eq!(named, [true, false]);
        });
        assert_eq!(
            diags,
            [
                "`2FA` is not a variable name @ invalid name (\"2FA\") [letters, digits and `_`, not starting with a digit]"
            ]
        );
    }
}
