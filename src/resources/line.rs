//! `line`: one line in a file, found by a regular expression, kept, replaced, added or
//! removed, the rest of the file left as it is.
//!
//! ```kdl
//! line "/etc/nginx/nginx.conf" match="^user " line="user nobody nogroup;" validate="nginx -t -c %s"
//! line "sshd-root-login" path="/etc/ssh/sshd_config" match="^#?PermitRootLogin " line="PermitRootLogin no" after="^#?Port "
//! line "/etc/hosts.allow" line="sshd: 10.0.0.0/8" create=#true
//! line "/etc/environment" match="^HTTP_PROXY=" state="absent"
//! ```
//!
//! With `state="present"` (the default): the lines matching `match` are this setting; the
//! first of them becomes `line` and the others are removed, so the setting ends up in the
//! file exactly once, where it was. If none matches and `line` is not already in the file,
//! it is added after the last line matching `after`, or before the first line matching
//! `before`, or at the end. Without `match`, the line is looked for as it is. With
//! `state="absent"`, every line matching `match` (or equal to `line`) is removed.
//! `create=#true` creates a missing file (mode 0644); otherwise a missing file is an error.
//! A file's owner and mode are kept. `validate="CMD %s"` runs CMD on the new content
//! (written to a temp file next to the file, named by `%s`) before it replaces the file,
//! as Ansible's `validate`: split into words like a shell would, run without a shell.
//! A file can hold several `line`s: name them, `line "NAME" path="/etc/..."`.
//!
//! Design notes:
//!
//! - **Regexes run on the controller** (the `regex` crate): the probe sends the file back
//!   (base64, up to 1 MiB), the controller computes the new content, the plan shows it as
//!   a unified diff, and the step writes the whole file atomically (temp file in the same
//!   directory, owner and mode copied, rename). One regex dialect, checked at
//!   `converge check` time with the error on the token, no dependence on the host's
//!   `sed`/`grep` flavour, and the diff shown is exactly what is written.
//! - **Never a stale edit.** Because the new content is computed from the probed file, the
//!   step refuses ("changed since plan") if the file changed since the probe, even when an
//!   earlier step of the run changed it (`$CV_DOWNSTREAM` relaxes the guard for kinds that
//!   write content of their own; here writing would undo that change). Instead, when a
//!   resource it depends on changes in the run (the package that installs
//!   `/etc/nginx/nginx.conf`), the line defers itself (`?` in the plan, see
//!   `Diff::deferred`): it is probed again after that change and edited in a second round,
//!   in the same `apply`, and the services it notifies are refreshed after it. So does a
//!   line whose file is missing while resources before it change (`PlanCx::earlier`: one
//!   of them may install it). A line whose file an earlier step of the run changed, with
//!   no edge, is stale at apply time and planned again the same way (`apply.rs`).

//!
//! Several `line` resources may edit one file: they are chained in declaration order
//! (`Kind::same_file`), each planned from the text the one before leaves, and each step
//! finds the file exactly as planned.

use regex::bytes::Regex;
use sha2::{Digest, Sha256};

use super::content::{self, Desired};
use super::record::Record;
use super::validate::Validate;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

/// The largest file `line` edits (the probe sends it back whole).
pub const SIZE_LIMIT: u64 = 1024 * 1024;

#[derive(Debug)]
pub struct Line {
    name: String,
    path: String,
    want: Want,
    validate: Option<Validate>,
    /// The line holds a secret: the plan shows no content.
    sensitive: bool,
}

#[derive(Debug)]
enum Want {
    Present { line: String, matcher: Option<Regex>, place: Place, create: bool },
    Absent(Matcher),
}

#[derive(Debug)]
enum Place {
    End,
    After(Regex),
    Before(Regex),
}

#[derive(Debug)]
enum Matcher {
    Regex(Regex),
    Exact(String),
}

impl Matcher {
    fn hit(&self, line: &[u8]) -> bool {
        match self {
            Matcher::Regex(re) => re.is_match(line),
            Matcher::Exact(s) => line == s.as_bytes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    File {
        sha256: String,
        text: Vec<u8>,
    },
    /// A symlink, a directory or another non-regular file.
    Other(String),
}

/// The file's lines and whether it ended with a newline.
fn split(text: &[u8]) -> (Vec<&[u8]>, bool) {
    if text.is_empty() {
        return (Vec::new(), true);
    }
    let ends = text.ends_with(b"\n");
    let body = if ends { &text[..text.len() - 1] } else { text };
    (body.split(|b| *b == b'\n').collect(), ends)
}

impl Line {
    /// The file as it should be, from the file as it is.
    fn edit(&self, text: &[u8]) -> Vec<u8> {
        let (mut lines, mut newline) = split(text);
        match &self.want {
            Want::Absent(m) => lines.retain(|l| !m.hit(l)),
            Want::Present { line, matcher, place, .. } => {
                let hits: Vec<usize> = match matcher {
                    Some(re) => lines.iter().enumerate().filter(|(_, l)| re.is_match(l)).map(|(i, _)| i).collect(),
                    None => Vec::new(),
                };
                if let Some((&first, rest)) = hits.split_first() {
                    lines[first] = line.as_bytes();
                    for &i in rest.iter().rev() {
                        lines.remove(i);
                    }
                } else if !lines.contains(&line.as_bytes()) {
                    let at = match place {
                        Place::End => None,
                        Place::After(re) => lines.iter().rposition(|l| re.is_match(l)).map(|i| i + 1),
                        Place::Before(re) => lines.iter().position(|l| re.is_match(l)),
                    };
                    let at = at.unwrap_or_else(|| {
                        newline = true;
                        lines.len()
                    });
                    lines.insert(at, line.as_bytes());
                }
            }
        }
        let mut out = lines.join(&b'\n');
        if newline && !lines.is_empty() {
            out.push(b'\n');
        }
        out
    }

    fn create(&self) -> bool {
        matches!(self.want, Want::Present { create: true, .. })
    }

    /// The changes as planned from `state`, without regard to what else changes.
    fn changes(&self, state: &State) -> (Action, Vec<Change>) {
        match (state, &self.want) {
            (State::Absent, Want::Absent(_)) => (Action::Ok, Vec::new()),
            (State::Absent, Want::Present { .. }) if self.create() => {
                let new = Desired::new(self.edit(b""), self.sensitive);
                (Action::Create, new.diff(None).into_iter().collect())
            }
            (State::Absent, Want::Present { line, .. }) => (
                Action::Change,
                vec![Change::new(
                    "file",
                    None,
                    Some(format!(
                        "must exist to hold {} (create=#true creates it; if a package installs it, declare the package before this line)",
                        if self.sensitive { "the line".to_string() } else { format!("{line:?}") }
                    )),
                )],
            ),
            (State::Other(t), _) => (Action::Change, vec![Change::set("type", t.clone(), "regular file")]),
            (State::File { sha256, text }, _) => {
                let new = Desired::new(self.edit(text), self.sensitive);
                let observed = content::Observed { sha256: sha256.clone(), body: Some(text.clone()) };
                (Action::Change, new.diff(Some(&observed)).into_iter().collect())
            }
        }
    }
}

/// A regex property, compiled; a bad one is a diagnostic on its token.
fn regex(r: &mut NodeReader<'_>, v: Option<Spanned<String>>) -> Option<Regex> {
    let v = v?;
    match Regex::new(&v.value) {
        Ok(re) => Some(re),
        Err(e) => {
            let text = e.to_string();
            let why = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid").trim();
            r.error(
                Diag::new(Code::Regex, "invalid regular expression", &v.at, why.trim_start_matches("error: "))
                    .help("the syntax is Rust's `regex` crate (like RE2): https://docs.rs/regex/latest/regex/#syntax"),
            );
            None
        }
    }
}

impl Kind for Line {
    const KIND: &'static str = "line";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Line> {
        let name = r.arg("a file path (or a name, with `path=`)");
        let path = r.nonempty("path");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let line = r.string("line");
        let matched = r.nonempty("match");
        let after = r.nonempty("after");
        let before = r.nonempty("before");
        let create = r.bool("create");
        let matcher = regex(r, matched.clone());
        let after_re = regex(r, after.clone());
        let before_re = regex(r, before.clone());
        let validate = Validate::read(r).map(|v| v.value);
        let name = name?;
        let at = r.at();
        let path = match (name.value.starts_with('/'), path) {
            (true, Some(p)) => {
                r.error(
                    Diag::new(Code::Conflict, "the path is given twice", &p.at, "remove this")
                        .label(&name.at, "the name is already a path"),
                );
                return None;
            }
            (true, None) => name.clone(),
            (false, Some(p)) => p,
            (false, None) => {
                r.error(
                    Diag::new(Code::Missing, format!("`line \"{}\"` needs `path`", name.value), &name.at, "not a path")
                        .help(
                            "name the file as the first value, `line \"/etc/file\" ...`, or give `path=\"/etc/file\"`",
                        ),
                );
                return None;
            }
        };
        r.absolute_path(&path, PathRule::File, None);
        if let Some(l) = &line
            && l.value.contains(['\n', '\r'])
        {
            r.error(
                Diag::new(Code::Line, "`line` is one line", &l.at, "holds a line break")
                    .help("write one `line` resource per line"),
            );
        }
        if let (Some(a), Some(_)) = (&after, &before) {
            r.exclusive(a, "after", "before");
        }
        let want = if present {
            if line.is_none() && !r.failed() {
                r.error(
                    Diag::new(Code::Missing, "a present line needs `line`", &at, "no `line`")
                        .help("write `line=\"the text of the line\"`"),
                );
            }
            let place = match (after_re, before_re) {
                (Some(a), _) => Place::After(a),
                (None, Some(b)) => Place::Before(b),
                (None, None) => Place::End,
            };
            line.map(|l| Want::Present { line: l.value, matcher, place, create: create.unwrap_or(false) })
        } else {
            for (key, v) in [("after", &after), ("before", &before)] {
                if let Some(v) = v {
                    r.error(Diag::new(
                        Code::Conflict,
                        format!("`{key}` places a line being added; an absent line has no place"),
                        &v.at,
                        "remove this",
                    ));
                }
            }
            if create.is_some() {
                r.error(Diag::new(
                    Code::Conflict,
                    "`create` is for a present line",
                    &at,
                    "state=\"absent\" with `create`",
                ));
            }
            match (matcher, line) {
                (Some(m), _) => Some(Want::Absent(Matcher::Regex(m))),
                (None, Some(l)) => Some(Want::Absent(Matcher::Exact(l.value))),
                (None, None) => {
                    if matched.is_none() {
                        r.error(
                            Diag::new(
                                Code::Missing,
                                "an absent line needs `match` or `line`",
                                &at,
                                "nothing to remove",
                            )
                            .help("write `match=\"^REGEX\"` (every matching line is removed) or `line=\"exact text\"`"),
                        );
                    }
                    None
                }
            }
        };
        if r.failed() {
            return None;
        }
        let sensitive = match &want {
            Some(Want::Present { line, .. }) => r.holds_secret(line.as_bytes()),
            _ => false,
        };
        Some(Line { name: name.value, path: path.value, want: want?, validate, sensitive })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        d.push(Implicit::new("file", self.path.clone(), "the file it edits"));
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.raw("if [ -L \"$p\" ]; then echo type=symlink\nelif [ -f \"$p\" ]; then echo type=file\n");
        sh.raw("s=$(sha256sum < \"$p\") && printf '%s\\n' \"sha256=${s%% *}\"\nn=$(stat -c %s -- \"$p\") && printf '%s\\n' \"size=$n\"\n");
        sh.raw("if [ \"$n\" -le ").num(SIZE_LIMIT).raw(" ]; then echo --body--; base64 < \"$p\"; fi\n");
        sh.raw("elif [ -d \"$p\" ]; then echo type=directory\nelif [ -e \"$p\" ]; then echo type=special\nelse echo type=absent\nfi\n");
    }

    fn same_file(&self) -> Option<&str> {
        Some(&self.path)
    }

    fn rebase(&self, state: State, cx: &PlanCx) -> State {
        match cx.texts.get(&self.path) {
            Some(text) => State::File { sha256: content::hex(&Sha256::digest(text)), text: text.clone() },
            None => state,
        }
    }

    fn leaves(&self, state: &State, diff: &Diff) -> Option<Vec<u8>> {
        if diff.action == Action::Recheck {
            return None;
        }
        match state {
            State::File { text, .. } => Some(self.edit(text)),
            State::Absent if self.create() => Some(self.edit(b"")),
            _ => None,
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(match rec.req("type")? {
            "absent" => State::Absent,
            "file" => {
                let size: u64 = rec.num("size")?;
                if size > SIZE_LIMIT {
                    return Err(ProbeError(format!(
                        "{} is {size} bytes; `line` edits files up to {} KiB",
                        self.path,
                        SIZE_LIMIT / 1024
                    )));
                }
                let sha256 = rec.req("sha256")?.to_string();
                let text = rec.body()?.ok_or_else(|| ProbeError("the probe did not send the file back".into()))?;
                let got: String = Sha256::digest(&text).iter().map(|b| format!("{b:02x}")).collect();
                if got != sha256 {
                    return Err(ProbeError(
                        "the file sent back does not match its sha256 (changed while probed?)".into(),
                    ));
                }
                State::File { sha256, text }
            }
            t @ ("symlink" | "directory" | "special") => State::Other(t.to_string()),
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        })
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        let (action, changes) = self.changes(state);
        if changes.is_empty() {
            return Diff::ok();
        }
        let not_there = matches!(state, State::Absent if !self.create());
        if !cx.upstream.is_empty() {
            let changes =
                if not_there { vec![Change::new("file", None, Some("not there yet".into()))] } else { changes };
            return Diff::deferred(changes, &cx.upstream);
        }
        // a file missing now may be made by an earlier step of the run (a package)
        if not_there && !cx.earlier.is_empty() {
            return Diff::deferred(vec![Change::new("file", None, Some("not there yet".into()))], &cx.earlier);
        }
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        if diff.action == Action::Recheck {
            return;
        }
        sh.set("p", &self.path);
        let (text, expected): (&[u8], &str) = match state {
            State::Other(_) => {
                sh.raw("printf '%s\\n' \"refusing: $p is not a regular file (name the file itself)\" >&2; exit 1\n");
                return;
            }
            State::Absent if !self.create() => {
                // an earlier step of this run may have made it (a package installing it)
                sh.raw("if [ -e \"$p\" ] || [ -L \"$p\" ]; then cv_changed_since_plan \"$p exists now\"; fi\n");
                sh.raw("printf '%s\\n' \"no such file: $p (create=#true creates it; if a package installs it, declare the package before this line)\" >&2; exit 1\n");
                return;
            }
            State::Absent => (b"", "absent"),
            State::File { sha256, text } => (text, sha256),
        };
        // strict: the new content was computed from the probed file
        sh.raw(
            "cur=absent; if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then cur=$(sha256sum < \"$p\") && cur=${cur%% *}; fi\n",
        );
        sh.raw("if [ \"$cur\" != ").hex(expected).raw(" ]; then cv_changed_since_plan \"$p\"; fi\n");
        sh.raw("tmp=$(mktemp \"$(dirname -- \"$p\")/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
        sh.heredoc_base64("\"$tmp\"", &self.edit(text));
        sh.raw("if [ -f \"$p\" ]; then chown --reference=\"$p\" -- \"$tmp\"; chmod --reference=\"$p\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
        if let Some(v) = &self.validate {
            v.steps(sh);
        }
        sh.raw("sync -- \"$tmp\" 2>/dev/null || sync\nmv -f -- \"$tmp\" \"$p\"\ntrap - EXIT\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceId;

    fn present(line: &str, matcher: Option<&str>, place: Place) -> Line {
        Line {
            name: "/etc/x.conf".into(),
            path: "/etc/x.conf".into(),
            want: Want::Present {
                line: line.into(),
                matcher: matcher.map(|m| Regex::new(m).expect("regex")),
                place,
                create: false,
            },
            validate: None,
            sensitive: false,
        }
    }

    fn edit(l: &Line, text: &str) -> String {
        String::from_utf8(l.edit(text.as_bytes())).expect("utf8")
    }

    fn probe_out(text: &str) -> String {
        use base64::Engine as _;
        let sha: String = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        format!("type=file\nsha256={sha}\nsize={}\n--body--\n{b64}\n", text.len())
    }

    const NGINX: &str = "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n";

    #[test]
    fn replaces_the_matching_line_in_place() {
        let l = present("user nobody nogroup;", Some("^user "), Place::End);
        assert_eq!(edit(&l, NGINX), "user nobody nogroup;\nworker_processes auto;\npid /run/nginx.pid;\n");
        // already there: nothing changes
        let done = edit(&l, NGINX);
        assert_eq!(edit(&l, &done), done);
    }

    #[test]
    fn several_matches_become_one_line_where_the_first_was() {
        let l = present("PermitRootLogin no", Some("^#?PermitRootLogin "), Place::End);
        let text = "Port 22\n#PermitRootLogin prohibit-password\nX 1\nPermitRootLogin yes\n";
        assert_eq!(edit(&l, text), "Port 22\nPermitRootLogin no\nX 1\n");
    }

    #[test]
    fn adds_after_before_or_at_the_end() {
        let after = present("b2", Some("^b2$"), Place::After(Regex::new("^b").expect("re")));
        assert_eq!(edit(&after, "a\nb\nb1\nc\n"), "a\nb\nb1\nb2\nc\n");
        let before = present("z", None, Place::Before(Regex::new("^c").expect("re")));
        assert_eq!(edit(&before, "a\nc\nc\n"), "a\nz\nc\nc\n");
        // no line to place it by: at the end, and a missing final newline is added first
        let end = present("z", None, Place::After(Regex::new("^nothing").expect("re")));
        assert_eq!(edit(&end, "a\nb"), "a\nb\nz\n");
        assert_eq!(edit(&end, ""), "z\n");
        // an exact line already present is left alone, wherever it is
        assert_eq!(edit(&end, "z\na\n"), "z\na\n");
    }

    #[test]
    fn absent_removes_every_matching_line_and_keeps_the_rest_exact() {
        let l = Line {
            name: "/etc/environment".into(),
            path: "/etc/environment".into(),
            want: Want::Absent(Matcher::Regex(Regex::new("^HTTP_PROXY=").expect("re"))),
            validate: None,
            sensitive: false,
        };
        assert_eq!(edit(&l, "A=1\nHTTP_PROXY=x\n\nB=2\nHTTP_PROXY=y"), "A=1\n\nB=2");
        assert_eq!(edit(&l, "HTTP_PROXY=x\n"), "");
    }

    #[test]
    fn the_plan_is_a_unified_diff_of_the_file_and_the_step_writes_it_guarded() {
        let l = present("user nobody nogroup;", Some("^user "), Place::End);
        let state = l.parse(&probe_out(NGINX)).expect("parse");
        let diff = l.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        let Some(crate::resources::Content::Text { before, after }) = diff.changes[0].content_shown() else {
            panic!("{diff:?}")
        };
        assert_eq!(before, NGINX);
        assert!(after.starts_with("user nobody nogroup;\n"));
        let mut sh = Sh::new();
        l.steps(&state, &diff, &mut sh);
        let text = sh.text();
        let State::File { sha256, .. } = &state else { panic!() };
        assert!(
            text.contains(&format!("if [ \"$cur\" != {sha256} ]; then cv_changed_since_plan \"$p\"; fi")),
            "{text}"
        );
        assert!(!text.contains("CV_DOWNSTREAM"), "the guard is strict: {text}");
        assert!(text.contains("chown --reference=\"$p\""), "{text}");
        assert!(text.ends_with("mv -f -- \"$tmp\" \"$p\"\ntrap - EXIT\n"), "{text}");
        // in sync
        let done = probe_out(&edit(&l, NGINX));
        assert!(l.diff(&l.parse(&done).expect("parse"), &PlanCx::default()).is_ok());
    }

    #[test]
    fn waits_for_upstream_changes_and_writes_nothing_then() {
        let l = present("user nobody nogroup;", Some("^user "), Place::End);
        let cx = PlanCx { upstream: vec![ResourceId::new("package", "nginx-light")], ..PlanCx::default() };
        let diff = l.diff(&State::Absent, &cx);
        assert_eq!(diff.action, Action::Recheck);
        assert_eq!(diff.waits_for, [ResourceId::new("package", "nginx-light")]);
        let mut sh = Sh::new();
        l.steps(&State::Absent, &diff, &mut sh);
        assert!(sh.is_empty());
        // a missing file without create=#true fails at apply, saying why
        let diff = l.diff(&State::Absent, &PlanCx::default());
        let mut sh = Sh::new();
        l.steps(&State::Absent, &diff, &mut sh);
        assert!(sh.text().contains("no such file: $p (create=#true creates it"), "{}", sh.text());
    }

    #[test]
    fn validate_runs_on_the_temp_file_without_a_shell() {
        let mut l = present("user nobody nogroup;", Some("^user "), Place::End);
        l.validate = Some(Validate::of(vec![
            vec!["nginx".into()],
            vec!["-t".into()],
            vec!["-c".into()],
            vec!["".into(), "".into()],
            vec!["--x=".into(), "".into()],
        ]));
        let state = l.parse(&probe_out(NGINX)).expect("parse");
        let diff = l.diff(&state, &PlanCx::default());
        let mut sh = Sh::new();
        l.steps(&state, &diff, &mut sh);
        assert!(
            sh.text().contains("if ! cv_out=$(nginx -t -c \"$tmp\" '--x='\"$tmp\" 2>&1 </dev/null); then"),
            "{}",
            sh.text()
        );
    }

    #[test]
    fn probe_output_is_checked() {
        let l = present("x", None, Place::End);
        assert!(l.parse("type=file\nsha256=00\nsize=3\n--body--\nYWJj\n").is_err(), "sha mismatch");
        assert!(l.parse(&format!("type=file\nsha256=00\nsize={}\n", SIZE_LIMIT + 1)).is_err(), "too large");
        assert!(l.parse("type=file\n").is_err());
        assert_eq!(l.parse("type=symlink\n").expect("parse"), State::Other("symlink".into()));
    }
}
