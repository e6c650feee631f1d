//! `sysctl`: a kernel parameter, set live and persisted for the next boot.
//!
//! ```kdl
//! sysctl "net.ipv4.ip_forward" value=1
//! sysctl "net.core.somaxconn" value=4096 file="/etc/sysctl.d/60-web.conf"
//! sysctl "net.ipv4.ip_local_port_range" value="10000 65000" file="/etc/sysctl.d/60-web.conf"
//! sysctl "vm.swappiness" value=10 live=#false
//! sysctl "net.ipv4.tcp_timestamps" state="absent"
//! ```
//!
//! Two things are managed, as Ansible's `sysctl` does with `sysctl_set` and `reload`:
//!
//! - the **live value**, read from `/proc/sys/KEY` (no tool needed) and set with
//!   `sysctl -w` (or written to `/proc/sys` where procps is not installed). Values are
//!   compared with their whitespace collapsed, as the kernel prints `10000\t65000` for
//!   `"10000 65000"`. `live=#false` leaves the running kernel alone (a parameter a
//!   container may not set, or one that only takes effect at boot);
//! - the **persisted line** `KEY = VALUE` in a file that `systemd-sysctl` reads at boot:
//!   by default `/etc/sysctl.d/99-converge-KEY.conf`, one file per key, or `file=` (several
//!   keys may share one). The file is edited at apply time as it is then (an `awk` over
//!   the file, the same edit the plan computes, tested to agree): the first assignment of
//!   the key is replaced, further ones removed, one appended when there is none; every
//!   other line is kept, and the file is replaced atomically with its owner and mode.
//!
//! `state="absent"` removes the key's lines from the file (the whole file when it is the
//! key's own); the running kernel keeps its value until the next boot, as there is no
//! "unset" for a kernel parameter.
//!
//! A key is dotted (`net.ipv4.ip_forward`) or, where a component holds a dot (an
//! interface `eth0.100`), written with slashes (`net/ipv4/conf/eth0.100/forwarding`), as
//! `sysctl(8)` takes it. A parameter missing from `/proc/sys` (a module not loaded) makes
//! the live step fail with that reason; the persisted line is still written.

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

/// The largest persisted file the probe reads back.
const SIZE_LIMIT: u64 = 1024 * 1024;

/// The first line of a file converge creates.
const HEADER: &str = "# Managed by converge: changes made here are overwritten.";

#[derive(Debug)]
pub struct Sysctl {
    key: String,
    /// The wanted value, whitespace collapsed; `None`: absent.
    value: Option<String>,
    /// The persisted file, and whether it is the key's own (`99-converge-KEY.conf`).
    file: String,
    own_file: bool,
    live: bool,
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub live: Live,
    pub file: Persisted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// The value, whitespace collapsed.
    Value(String),
    /// No such entry under /proc/sys.
    Missing,
    /// The entry exists but cannot be read (a write-only parameter).
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persisted {
    Absent,
    Text(String),
    /// Not a regular file, or too large to read back.
    Unusable(String),
}

impl Sysctl {
    /// `/proc/sys/...` for the key.
    fn proc_path(&self) -> String {
        let rel = if self.key.contains('/') { self.key.clone() } else { self.key.replace('.', "/") };
        format!("/proc/sys/{rel}")
    }

    fn line(&self) -> Option<String> {
        self.value.as_ref().map(|v| format!("{} = {v}", self.key))
    }
}

/// Collapses runs of whitespace to one space, as values are compared.
fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key an assignment line sets, if it is one (`KEY = VALUE`, `-KEY=VALUE`).
fn assigned_key(line: &str) -> Option<&str> {
    let l = line.trim_start_matches([' ', '\t']);
    let l = l.strip_prefix('-').unwrap_or(l);
    let (k, _) = l.split_once('=')?;
    Some(k.trim_end_matches([' ', '\t']))
}

/// Every value the file assigns to `key`, in order.
fn assignments(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter(|l| assigned_key(l) == Some(key))
        .filter_map(|l| l.split_once('=').map(|(_, v)| collapse(v)))
        .collect()
}

/// The file with `key`'s assignments replaced by `line` (the first one replaced, the
/// others removed, `line` appended when there is none), or removed when `line` is `None`;
/// a new file (`text` is `None`) starts with [`HEADER`]. The same edit as [`edit_script`].
pub fn edit(text: Option<&str>, key: &str, line: Option<&str>) -> String {
    let mut out = String::new();
    if text.is_none() && line.is_some() {
        out.push_str(HEADER);
        out.push('\n');
    }
    out + &super::content::replace_lines(text.unwrap_or(""), line, |l| assigned_key(l) == Some(key))
}

/// Writes to `$tmp` the file `$f` (if it exists) edited as [`edit`] does: `$k` the key,
/// `$l` the line (empty: remove).
fn edit_script(sh: &mut Sh) {
    sh.raw("new=1; if [ -f \"$f\" ]; then new=0; fi\n");
    sh.raw("{ [ \"$new\" = 1 ] || cat -- \"$f\"; } | K=\"$k\" L=\"$l\" NEW=\"$new\" H=").q(HEADER).raw(" awk '\n");
    sh.raw("BEGIN { if (ENVIRON[\"NEW\"] == \"1\" && ENVIRON[\"L\"] != \"\") print ENVIRON[\"H\"] }\n");
    sh.raw("{ s = $0; sub(/^[ \\t]*/, \"\", s); sub(/^-/, \"\", s); i = index(s, \"=\"); k = substr(s, 1, i - 1); sub(/[ \\t]*$/, \"\", k)\n");
    sh.raw("  if (i > 0 && k == ENVIRON[\"K\"]) { if (!done && ENVIRON[\"L\"] != \"\") print ENVIRON[\"L\"]; done = 1; next }\n");
    sh.raw("  print }\n");
    sh.raw("END { if (!done && ENVIRON[\"L\"] != \"\") print ENVIRON[\"L\"] }' > \"$tmp\"\n");
}

/// A key as sysctl(8) takes it: components of letters, digits, `_`, `-`, `:`, `@`, `+`
/// and, in the slash form, `.`; never `.` or `..` alone (it names a path under /proc/sys).
fn check_key(r: &mut NodeReader, key: &Spanned<String>) -> bool {
    let k = &key.value;
    let slash = k.contains('/');
    let sep = if slash { '/' } else { '.' };
    let word = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-:@+".contains(&b) || (slash && b == b'.'))
    };
    if k.split(sep).all(word) {
        return true;
    }
    r.error(
        Diag::new(Code::Sysctl, format!("`{k}` is not a kernel parameter name"), &key.at, "not a sysctl key")
            .help("dotted words as `sysctl -a` prints them (net.ipv4.ip_forward), or with slashes where a word holds a dot (net/ipv4/conf/eth0.100/forwarding)"),
    );
    false
}

/// The wanted value: one line, not empty.
fn check_value(r: &mut NodeReader, v: Spanned<String>) -> Option<String> {
    if v.value.contains(['\n', '\r']) {
        r.error(Diag::new(Code::Sysctl, "a sysctl value is one line", &v.at, "holds a line break"));
        return None;
    }
    let value = collapse(&v.value);
    if value.is_empty() {
        r.error(Diag::new(Code::Empty, "`value` cannot be empty", &v.at, "empty"));
        return None;
    }
    Some(value)
}

/// `file=`: an absolute file path; in a `sysctl.d` directory it must end in `.conf`, the
/// only files systemd-sysctl reads there.
fn check_file(r: &mut NodeReader, f: &Spanned<String>) -> bool {
    if !r.absolute_path(f, PathRule::File, None) {
        return false;
    }
    if f.value.contains("/sysctl.d/") && !f.value.ends_with(".conf") {
        r.error(
            Diag::new(Code::Sysctl, "systemd-sysctl reads only `.conf` files in sysctl.d", &f.at, "not a .conf file")
                .help("name the file `NN-NAME.conf`"),
        );
        return false;
    }
    if f.value.contains(['\n', '\r']) {
        r.error(Diag::new(Code::Sysctl, "the file path cannot hold a line break", &f.at, "line break here"));
        return false;
    }
    true
}

impl Kind for Sysctl {
    const KIND: &'static str = "sysctl";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Sysctl> {
        let key = r.arg("a kernel parameter (net.ipv4.ip_forward)");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let value = r.string_or_int("value");
        let file = r.nonempty("file");
        let live = r.bool("live");
        let key = key?;
        let key_ok = check_key(r, &key);
        let file_ok = file.as_ref().is_none_or(|f| check_file(r, f));
        let value = match (present, value) {
            (true, None) => {
                let at = r.at();
                r.error(
                    Diag::new(Code::Missing, "a sysctl needs a `value`", &at, "no value")
                        .help("write `value=1` or `value=\"4096 87380 6291456\"`"),
                );
                return None;
            }
            (false, Some(v)) => {
                r.error(Diag::new(Code::Conflict, "an absent sysctl has no value", &v.at, "remove this"));
                return None;
            }
            (true, Some(v)) => Some(check_value(r, v)?),
            (false, None) => None,
        };
        if !(key_ok && file_ok) {
            return None;
        }
        let own_file = file.is_none();
        let file = file
            .map(|f| f.value)
            .unwrap_or_else(|| format!("/etc/sysctl.d/99-converge-{}.conf", key.value.replace('/', ".")));
        Some(Sysctl { key: key.value, value, file, own_file, live: live.unwrap_or(true) && present })
    }

    fn name(&self) -> &str {
        &self.key
    }

    fn deps(&self) -> Vec<Implicit> {
        parent_dirs(&self.file)
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("pf", &self.proc_path());
        sh.set("f", &self.file);
        sh.raw("if [ ! -e \"$pf\" ]; then echo live=missing\n");
        sh.raw("elif v=$(tr '\\t\\n' '  ' < \"$pf\" 2>/dev/null); then printf '%s\\n' \"value=$v\"; echo live=ok\n");
        sh.raw("else echo live=unreadable; fi\n");
        sh.raw("if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then\n");
        sh.raw("  if [ \"$(stat -c %s -- \"$f\")\" -le ")
            .num(SIZE_LIMIT)
            .raw(" ]; then echo file=present; echo --body--; base64 < \"$f\"\n");
        sh.raw("  else echo file=large; fi\n");
        sh.raw("elif [ -e \"$f\" ] || [ -L \"$f\" ]; then echo file=other\nelse echo file=absent; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let live = match rec.req("live")? {
            "ok" => Live::Value(collapse(rec.req("value")?)),
            "missing" => Live::Missing,
            "unreadable" => Live::Unreadable,
            other => return Err(ProbeError(format!("unexpected live={other:?}"))),
        };
        let file = match rec.req("file")? {
            "absent" => Persisted::Absent,
            "present" => {
                let body = rec.body()?.ok_or_else(|| ProbeError("the file's content is missing".into()))?;
                match String::from_utf8(body) {
                    Ok(t) => Persisted::Text(t),
                    Err(_) => Persisted::Unusable("not UTF-8 text".into()),
                }
            }
            "large" => Persisted::Unusable(format!("over {} KiB", SIZE_LIMIT / 1024)),
            "other" => Persisted::Unusable("not a regular file".into()),
            other => return Err(ProbeError(format!("unexpected file={other:?}"))),
        };
        Ok(State { live, file })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        if let (true, Some(want)) = (self.live, &self.value) {
            match &state.live {
                Live::Value(v) if v == want => {}
                Live::Value(v) => changes.push(Change::set("value", v.clone(), want.clone())),
                Live::Missing => changes.push(Change::new(
                    "value",
                    None,
                    Some(format!("{want} (no {} on the host: is its module loaded?)", self.proc_path())),
                )),
                Live::Unreadable => changes.push(Change::set("value", "(unreadable)", want.clone())),
            }
        }
        let field = format!("persisted in {}", self.file);
        let saved = match &state.file {
            Persisted::Absent => Vec::new(),
            Persisted::Text(t) => assignments(t, &self.key),
            Persisted::Unusable(why) => {
                changes.push(Change::set(field, format!("(file {why})"), "regular text file"));
                return Diff::new(Action::Change, changes);
            }
        };
        let before = saved.last().cloned();
        match &self.value {
            Some(want) if saved.len() != 1 || before.as_ref() != Some(want) => {
                let shown =
                    if saved.len() > 1 { before.map(|b| format!("{b} (set {} times)", saved.len())) } else { before };
                changes.push(Change::new(field, shown, Some(want.clone())));
            }
            None if !saved.is_empty() => changes.push(Change::new(field, before, None)),
            _ => {}
        }
        let action = match (&self.value, &state.file) {
            (None, _) => Action::Remove,
            (Some(_), Persisted::Absent) => Action::Create,
            _ => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("k", &self.key);
        if let Persisted::Unusable(_) = state.file {
            sh.set("f", &self.file);
            sh.raw("printf '%s\\n' \"refusing to edit $f: not a regular text file of at most 1 MiB\" >&2; exit 1\n");
            return;
        }
        if diff.changes.iter().any(|c| c.field() == "value")
            && let Some(v) = &self.value
        {
            sh.set("pf", &self.proc_path());
            sh.set("v", v);
            sh.raw("[ -e \"$pf\" ] || { printf '%s\\n' \"no kernel parameter $k: $pf does not exist (is its module loaded?)\" >&2; exit 1; }\n");
            sh.raw("if command -v sysctl >/dev/null 2>&1; then sysctl -q -w \"$k=$v\" >/dev/null || exit 1\n");
            sh.raw("else printf '%s\\n' \"$v\" > \"$pf\" || exit 1; fi\n");
        }
        if !diff.changes.iter().any(|c| c.field().starts_with("persisted in ")) {
            return;
        }
        sh.set("f", &self.file);
        if self.own_file && self.value.is_none() {
            sh.raw("rm -f -- \"$f\"\n");
            return;
        }
        sh.set("l", self.line().as_deref().unwrap_or(""));
        sh.raw("mkdir -p -- \"$(dirname -- \"$f\")\"\n");
        sh.raw("tmp=$(mktemp \"$(dirname -- \"$f\")/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
        edit_script(sh);
        sh.raw("if [ -f \"$f\" ]; then chown --reference=\"$f\" -- \"$tmp\"; chmod --reference=\"$f\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
        sh.raw("sync -- \"$tmp\" 2>/dev/null || sync\nmv -f -- \"$tmp\" \"$f\"\ntrap - EXIT\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{b64, build_from, plan_of};

    fn sysctl(kdl: &str) -> Sysctl {
        build_from::<Sysctl>(kdl).expect("builds")
    }

    #[test]
    fn a_new_key_is_set_live_and_persisted_in_its_own_file() {
        let s = sysctl("sysctl \"net.ipv4.ip_forward\" value=1");
        assert_eq!(s.file, "/etc/sysctl.d/99-converge-net.ipv4.ip_forward.conf");
        let (diff, steps) = plan_of(&s, "value=0\nlive=ok\nfile=absent\n");
        assert_eq!(
            diff.changes,
            vec![
                Change::set("value", "0", "1"),
                Change::new("persisted in /etc/sysctl.d/99-converge-net.ipv4.ip_forward.conf", None, Some("1".into())),
            ]
        );
        assert_eq!(diff.action, Action::Create);
        assert!(steps.contains("pf=/proc/sys/net/ipv4/ip_forward\n"), "{steps}");
        assert!(steps.contains("sysctl -q -w \"$k=$v\""), "{steps}");
        assert!(steps.contains("mv -f -- \"$tmp\" \"$f\""), "{steps}");
    }

    #[test]
    fn in_sync_when_live_and_persisted_agree_whitespace_aside() {
        let s = sysctl("sysctl \"net.ipv4.ip_local_port_range\" value=\"10000   65000\"");
        let file = format!("{HEADER}\nnet.ipv4.ip_local_port_range = 10000 65000\n");
        let out = format!("value=10000 65000 \nlive=ok\nfile=present\n--body--\n{}\n", b64(&file));
        let (diff, steps) = plan_of(&s, &out);
        assert!(diff.is_ok(), "{diff:?}");
        assert_eq!(steps, "");
    }

    #[test]
    fn only_the_live_value_drifted() {
        let s = sysctl("sysctl \"net.core.somaxconn\" value=4096 file=\"/etc/sysctl.d/60-web.conf\"");
        let file = "# web\nnet.core.somaxconn=4096\nvm.swappiness = 10\n";
        let out = format!("value=128\nlive=ok\nfile=present\n--body--\n{}\n", b64(file));
        let (diff, steps) = plan_of(&s, &out);
        assert_eq!(diff.changes, vec![Change::set("value", "128", "4096")]);
        assert!(!steps.contains("awk"), "the file is not touched: {steps}");
    }

    #[test]
    fn a_shared_file_is_edited_in_place_and_duplicates_go() {
        let text = "# web\n net.core.somaxconn = 128\nvm.swappiness = 10\n-net.core.somaxconn=64\n";
        assert_eq!(
            edit(Some(text), "net.core.somaxconn", Some("net.core.somaxconn = 4096")),
            "# web\nnet.core.somaxconn = 4096\nvm.swappiness = 10\n"
        );
        assert_eq!(edit(Some(text), "net.core.somaxconn", None), "# web\nvm.swappiness = 10\n");
        assert_eq!(edit(Some("# x\n"), "a.b", Some("a.b = 1")), "# x\na.b = 1\n");
        assert_eq!(edit(None, "a.b", Some("a.b = 1")), format!("{HEADER}\na.b = 1\n"));
        // a longer key with the same start is another key
        assert_eq!(edit(Some("a.bc = 2\n"), "a.b", None), "a.bc = 2\n");
        let s = sysctl("sysctl \"net.core.somaxconn\" value=4096 file=\"/etc/sysctl.d/60-web.conf\"");
        let out = format!("value=4096\nlive=ok\nfile=present\n--body--\n{}\n", b64(text));
        let (diff, _) = plan_of(&s, &out);
        assert_eq!(
            diff.changes,
            vec![Change::set("persisted in /etc/sysctl.d/60-web.conf", "64 (set 2 times)", "4096")]
        );
    }

    #[test]
    fn the_host_side_edit_matches_the_plan() {
        let cases: &[(Option<&str>, &str, Option<&str>)] = &[
            (
                Some("# web\n net.core.somaxconn = 128\nvm.swappiness = 10\n-net.core.somaxconn=64\n"),
                "net.core.somaxconn",
                Some("net.core.somaxconn = 4096"),
            ),
            (Some("# web\n\tnet.core.somaxconn\t= 128\n; c\n"), "net.core.somaxconn", None),
            (Some("a.bc = 2\nx=1\n"), "a.b", Some("a.b = 1 2")),
            (None, "a/b.c/d", Some("a/b.c/d = 'it''s' $x")),
            (Some(""), "a.b", Some("a.b = 1")),
        ];
        for (text, key, line) in cases {
            let vars = [("k", *key), ("l", line.unwrap_or(""))];
            let out = super::super::content::run_edit_script("f", *text, &vars, edit_script);
            assert_eq!(out, edit(*text, key, *line), "{text:?} {key} {line:?}");
        }
    }

    #[test]
    fn absent_removes_the_line_or_the_own_file_and_leaves_the_kernel_alone() {
        let s = sysctl("sysctl \"net.ipv4.tcp_timestamps\" state=\"absent\"");
        let out = format!("value=1\nlive=ok\nfile=present\n--body--\n{}\n", b64("net.ipv4.tcp_timestamps = 0\n"));
        let (diff, steps) = plan_of(&s, &out);
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes.len(), 1);
        assert!(steps.ends_with("rm -f -- \"$f\"\n"), "{steps}");
        assert!(!steps.contains("sysctl -q"), "{steps}");
        assert!(plan_of(&s, "value=1\nlive=ok\nfile=absent\n").0.is_ok());
        let shared = sysctl("sysctl \"a.b\" state=\"absent\" file=\"/etc/sysctl.conf\"");
        let out = format!("value=1\nlive=ok\nfile=present\n--body--\n{}\n", b64("a.b = 0\nc.d = 1\n"));
        let (_, steps) = plan_of(&shared, &out);
        assert!(steps.contains("awk") && !steps.contains("rm -f -- \"$f\""), "{steps}");
    }

    #[test]
    fn live_false_only_persists_and_missing_parameters_fail_the_step() {
        let s = sysctl("sysctl \"vm.swappiness\" value=10 live=#false");
        let (diff, _) = plan_of(&s, "value=60\nlive=ok\nfile=absent\n");
        assert_eq!(diff.changes.len(), 1, "{diff:?}");
        let s = sysctl("sysctl \"net.netfilter.nf_conntrack_max\" value=262144");
        let (diff, steps) = plan_of(&s, "live=missing\nfile=absent\n");
        assert!(diff.changes[0].after().expect("after").contains("is its module loaded?"));
        assert!(steps.contains("does not exist (is its module loaded?)"), "{steps}");
    }

    #[test]
    fn a_file_that_cannot_be_edited_is_refused() {
        let s = sysctl("sysctl \"a.b\" value=1 file=\"/etc/sysctl.d/x.conf\"");
        let (diff, steps) = plan_of(&s, "value=1\nlive=ok\nfile=other\n");
        assert_eq!(diff.changes[0].before(), Some("(file not a regular file)"));
        assert!(steps.contains("refusing to edit"), "{steps}");
        assert!(s.parse("live=ok\nfile=absent\n").is_err(), "a live value without its value line");
        assert!(s.parse("value=1\nlive=ok\nfile=present\n").is_err(), "a file without its body");
    }

    #[test]
    fn bad_keys_values_and_files_are_refused_at_their_token() {
        let errs = |kdl: &str| build_from::<Sysctl>(kdl).expect_err("refused");
        assert_eq!(
            errs("sysctl \"net..ipv4\" value=1"),
            ["`net..ipv4` is not a kernel parameter name @ not a sysctl key"]
        );
        assert_eq!(
            errs("sysctl \"net/../../etc\" value=1")[0],
            "`net/../../etc` is not a kernel parameter name @ not a sysctl key"
        );
        assert_eq!(errs("sysctl \"a b\" value=1").len(), 1);
        assert_eq!(errs(r#"sysctl "a.b" value="1\n2""#), ["a sysctl value is one line @ holds a line break"]);
        assert_eq!(errs("sysctl \"a.b\" value=\" \""), ["`value` cannot be empty @ empty"]);
        assert_eq!(errs("sysctl \"a.b\""), ["a sysctl needs a `value` @ no value"]);
        assert_eq!(errs("sysctl \"a.b\" state=\"absent\" value=1"), ["an absent sysctl has no value @ remove this"]);
        assert_eq!(
            errs("sysctl \"a.b\" value=1 file=\"/etc/sysctl.d/web\""),
            ["systemd-sysctl reads only `.conf` files in sysctl.d @ not a .conf file"]
        );
        assert_eq!(errs("sysctl \"a.b\" value=1 file=\"sysctl.conf\"").len(), 1);
        let slash = sysctl("sysctl \"net/ipv4/conf/eth0.100/forwarding\" value=1");
        assert_eq!(slash.proc_path(), "/proc/sys/net/ipv4/conf/eth0.100/forwarding");
        assert_eq!(slash.file, "/etc/sysctl.d/99-converge-net.ipv4.conf.eth0.100.forwarding.conf");
    }
}
