//! `cron`: a scheduled job, as its own file in `/etc/cron.d/` or as an entry in a user's
//! crontab.
//!
//! ```kdl
//! package "cron"
//! user "jacow"
//! cron "power-off" schedule="0 22 * * *" command="/sbin/shutdown -h now"
//! cron "spms-csv" schedule="@hourly" user="jacow" command="/srv/jacow/bin/fetch-spms.sh" {
//!     env { MAILTO ""; PATH "/usr/local/bin:/usr/bin:/bin"; }
//! }
//! cron "elife-live" schedule="*/5 * * * *" crontab=#true command="cd /home/localgit/elife-bot && python cron.py -e live > /dev/null"
//! cron "clear-models" state="absent"
//! ```
//!
//! By default a job is the file `/etc/cron.d/NAME` (root-owned, mode 0644, written
//! atomically like a `file`, with a header comment naming it), which runs `command` as
//! `user` (default `root`) on `schedule`, with the `env` lines above it. The name follows
//! run-parts' rules (letters, digits, `_`, `-`): cron silently ignores a file in cron.d
//! whose name holds a dot, so such a name is refused at check time.
//!
//! With `crontab=#true` the job is an entry in `user`'s own crontab instead, tagged by a
//! comment line `# converge: NAME` above it (as Ansible's cron module does). It is read
//! with `crontab -u USER -l` and installed with `crontab -u USER FILE`; the step edits
//! the crontab as it is when the step runs (an `awk` over the listing that replaces,
//! adds or removes only the tagged entry), so other entries, including other `cron`
//! resources changed in the same run, are kept. `env` is refused there: an environment
//! line in a crontab applies to every entry below it, not to one job.
//!
//! The schedule is checked by `converge check`: five fields (minute 0-59, hour 0-23, day
//! of month 1-31, month 1-12 or `jan`-`dec`, day of week 0-7 or `sun`-`sat`) made of
//! `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n` and lists `a,b`, or one of
//! `@reboot`, `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`,
//! `@annually`; every problem is labelled at the field it is in. A command is one line.
//! cron turns an unescaped `%` into a newline (the rest becomes the job's input), so
//! converge writes each `%` as `\%`: the command runs as written (`date +%F` works). A
//! `\%` in a command is refused, as it would be escaped twice.
//!
//! A job depends on the managed `package` `cron` (or `cronie`) and on its managed user.
//! cron rereads `/etc/cron.d` and the crontabs by itself: no reload is needed.

use std::ops::Range;

use super::content::Desired;
use super::file::{self, File};
use super::ownership::Ownership;
use super::record::Record;
use super::runas;
use super::{Action, Change, Content, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{At, Diag, Spanned};
use crate::facts::Need;
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Cron {
    name: String,
    user: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// `/etc/cron.d/NAME`.
    CronD(File),
    /// An entry of the user's crontab; `None`: the entry must not be there.
    Crontab(Option<String>),
}

/// What the host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    File(file::State),
    Crontab(Crontab),
}

/// A user's crontab as `crontab -l` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crontab {
    /// The listing, one `\n` after each line; `None`: the user has no crontab.
    pub text: Option<String>,
    /// Why there is nothing to read yet (no such user, cron not installed).
    pub pending: Option<&'static str>,
}

const CRON_D: &str = "/etc/cron.d";

impl Kind for Cron {
    const KIND: &'static str = "cron";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Cron> {
        let name = r.arg("a job name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let schedule = r.nonempty("schedule");
        let command = r.nonempty("command");
        let user = runas::read_user(r, "user");
        let crontab = r.bool("crontab").unwrap_or(false);
        let env = r.map("env");
        let name = name?;
        check_name(r, &name, crontab);
        let user = user.unwrap_or_else(|| "root".to_string());
        let schedule = schedule.and_then(|s| check_schedule(r, &s));
        let command = command.and_then(|c| check_command(r, &c));
        let env = check_env(r, &env, crontab);
        if present && (r.failed() || schedule.is_none() || command.is_none()) {
            for (key, missing) in [("schedule", schedule.is_none()), ("command", command.is_none())] {
                if missing && !r.has(key) {
                    let at = r.at();
                    r.error(
                        Diag::new("converge::missing", format!("a cron job needs `{key}`"), &at, format!("no {key}"))
                            .help(format!("write `{key}=\"...\"`")),
                    );
                }
            }
            return None;
        }
        let env = env?;
        let line = match (present, schedule, command) {
            (true, Some(s), Some(c)) => Some(if crontab {
                format!("{s} {}", escape_percent(&c))
            } else {
                format!("{s} {user} {}", escape_percent(&c))
            }),
            _ => None,
        };
        let place = if crontab {
            Place::Crontab(line)
        } else {
            let content = line.map(|l| {
                let text = cron_d_text(&name.value, &env, &l);
                let sensitive = r.holds_secret(text.as_bytes());
                Desired::new(text.into_bytes(), sensitive)
            });
            let own = Ownership { owner: Some("root".into()), group: Some("root".into()), mode: Some(0o644) };
            Place::CronD(File::managed(format!("{CRON_D}/{}", name.value), present, content, own))
        };
        Some(Cron { name: name.value, user, place })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = vec![
            Implicit::new("package", "cron", "cron daemon"),
            Implicit::new("package", "cronie", "cron daemon"),
            Implicit::new("user", self.user.clone(), "runs the job"),
        ];
        if let Place::CronD(f) = &self.place {
            d.extend(Kind::deps(f));
        }
        d
    }

    fn facts(&self) -> Vec<Need> {
        match &self.place {
            Place::CronD(f) => f.facts(),
            Place::Crontab(_) => Vec::new(),
        }
    }

    fn probe(&self, sh: &mut Sh) {
        match &self.place {
            Place::CronD(f) => f.probe(sh),
            Place::Crontab(_) => {
                sh.set("u", &self.user);
                sh.raw("if ! getent passwd -- \"$u\" >/dev/null 2>&1; then echo crontab=nouser\n");
                sh.raw("elif ! command -v crontab >/dev/null 2>&1; then echo crontab=notool\n");
                sh.raw("elif t=$(crontab -u \"$u\" -l 2>\"$CV_E.c\"); then echo crontab=present; echo --body--; printf '%s\\n' \"$t\" | base64\n");
                sh.raw("elif grep -q '^no crontab for' \"$CV_E.c\"; then echo crontab=none\n");
                sh.raw("else cat -- \"$CV_E.c\" >&2; echo crontab=error; fi\nrm -f -- \"$CV_E.c\"\n");
            }
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let Place::CronD(f) = &self.place else {
            return parse_crontab(out).map(State::Crontab);
        };
        f.parse(out).map(State::File)
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        match (&self.place, state) {
            (Place::CronD(f), State::File(s)) => f.diff(s, cx),
            (Place::Crontab(line), State::Crontab(tab)) => self.crontab_diff(line.as_deref(), tab),
            // parse gives the state of the place's own shape
            _ => Diff::ok(),
        }
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        match (&self.place, state) {
            (Place::CronD(f), State::File(s)) => {
                if !matches!(s, file::State::File { .. }) {
                    sh.raw("[ -d /etc/cron.d ] || { echo '/etc/cron.d does not exist: is cron installed? (package \"cron\")' >&2; exit 1; }\n");
                }
                f.steps(s, diff, sh);
            }
            (Place::Crontab(line), _) => self.crontab_steps(line.as_deref(), sh),
            _ => {}
        }
    }
}

impl Cron {
    fn marker(&self) -> String {
        format!("# converge: {}", self.name)
    }

    fn crontab_diff(&self, line: Option<&str>, tab: &Crontab) -> Diff {
        let before = tab.text.clone().unwrap_or_default();
        let after = edit(&before, &self.marker(), line);
        if after == before {
            return Diff::ok();
        }
        let old = entry(&before, &self.marker());
        let action = match (&old, line) {
            (_, None) => Action::Remove,
            (None, Some(_)) => Action::Create,
            (Some(_), Some(_)) => Action::Change,
        };
        let change = Change::content(
            format!("crontab of {}", self.user),
            old.map(str::to_string),
            line.map(str::to_string),
            Content::Text { before, after },
        );
        let mut changes = vec![change];
        if let Some(why) = tab.pending {
            changes.push(Change::note(why.to_string()));
        }
        Diff::new(action, changes)
    }

    fn crontab_steps(&self, line: Option<&str>, sh: &mut Sh) {
        sh.set("u", &self.user);
        sh.set("m", &self.marker());
        sh.set("l", line.unwrap_or(""));
        sh.raw("tmp=$(mktemp)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
        sh.raw("if cur=$(crontab -u \"$u\" -l 2>\"$tmp\"); then :\n");
        sh.raw("elif grep -q '^no crontab for' \"$tmp\"; then cur=\nelse cat -- \"$tmp\" >&2; exit 1; fi\n");
        edit_script(sh);
        sh.raw("if grep -q . \"$tmp\"; then crontab -u \"$u\" \"$tmp\"; else crontab -u \"$u\" -r; fi\n");
    }
}

/// The shell that writes `$cur` (a crontab listing) to `$tmp` with the entry tagged `$m`
/// replaced by `$l`, added at the end when missing, or removed when `$l` is empty. The
/// same edit as [`edit`], done on the host so that it applies to the crontab as it is
/// when the step runs.
fn edit_script(sh: &mut Sh) {
    sh.raw("{ [ -z \"$cur\" ] || printf '%s\\n' \"$cur\"; } | M=\"$m\" L=\"$l\" awk '\n");
    sh.raw("skip { skip = 0; if (index($0, \"# converge: \") != 1) next }\n");
    sh.raw("$0 == ENVIRON[\"M\"] { if (!done && ENVIRON[\"L\"] != \"\") { print; print ENVIRON[\"L\"] } done = 1; skip = 1; next }\n");
    sh.raw("{ print }\n");
    sh.raw("END { if (!done && ENVIRON[\"L\"] != \"\") { print ENVIRON[\"M\"]; print ENVIRON[\"L\"] } }' > \"$tmp\"\n");
}

/// A crontab with the entry tagged `marker` set to `line` (or removed): see [`edit_script`].
pub fn edit(text: &str, marker: &str, line: Option<&str>) -> String {
    let mut out = String::new();
    let (mut done, mut skip) = (false, false);
    for l in text.lines() {
        if std::mem::take(&mut skip) && !l.starts_with("# converge: ") {
            continue;
        }
        if l == marker {
            if let (false, Some(line)) = (done, line) {
                out.push_str(&format!("{marker}\n{line}\n"));
            }
            (done, skip) = (true, true);
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if let (false, Some(line)) = (done, line) {
        out.push_str(&format!("{marker}\n{line}\n"));
    }
    out
}

/// The job line under `marker`, if the crontab has one.
fn entry<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let mut lines = text.lines();
    lines.by_ref().find(|l| *l == marker)?;
    lines.next().filter(|l| !l.starts_with("# converge: "))
}

fn parse_crontab(out: &str) -> Result<Crontab, ProbeError> {
    let rec = Record::parse(out)?;
    let empty = |pending| Ok(Crontab { text: None, pending });
    match rec.req("crontab")? {
        "none" => empty(None),
        "nouser" => empty(Some("the user does not exist yet")),
        "notool" => empty(Some("crontab is not installed yet")),
        "present" => {
            let body = rec.body()?.ok_or_else(|| ProbeError("the crontab listing is missing".into()))?;
            let text = String::from_utf8(body).map_err(|_| ProbeError("the crontab is not UTF-8 text".into()))?;
            let text = if text.trim().is_empty() { String::new() } else { text };
            Ok(Crontab { text: Some(text), pending: None })
        }
        "error" => Err(ProbeError("crontab -l failed".into())),
        other => Err(ProbeError(format!("unexpected crontab={other:?}"))),
    }
}

/// `/etc/cron.d/NAME`'s content.
fn cron_d_text(name: &str, env: &[(String, String)], line: &str) -> String {
    let mut text = format!("# converge: {name}\n# Managed by converge: changes made here are overwritten.\n");
    for (k, v) in env {
        let q = if v.contains('"') { '\'' } else { '"' };
        text.push_str(&format!("{k}={q}{v}{q}\n"));
    }
    text.push_str(line);
    text.push('\n');
    text
}

fn escape_percent(command: &str) -> String {
    command.replace('%', "\\%")
}

fn check_name(r: &mut NodeReader, name: &Spanned<String>, crontab: bool) {
    let n = &name.value;
    if crontab {
        if n.is_empty() || n.contains(['\n', '\r']) {
            r.error(Diag::new("converge::cron", "a cron job's name is one line", &name.at, "invalid name"));
        }
        return;
    }
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        let label = if n.contains('.') {
            "cron ignores a file in /etc/cron.d whose name has a dot"
        } else {
            "not a valid file name in /etc/cron.d"
        };
        r.error(
            Diag::new("converge::cron", format!("`{n}` cannot name a file in /etc/cron.d"), &name.at, label)
                .help("use letters, digits, `_` and `-` (run-parts' rules), e.g. `power-off`"),
        );
    }
}

fn check_command(r: &mut NodeReader, c: &Spanned<String>) -> Option<String> {
    let command = c.value.trim();
    if command.contains(['\n', '\r']) {
        r.error(
            Diag::new("converge::cron", "a cron command is one line", &c.at, "holds a newline")
                .help("put longer scripts in a file (a `file` resource) and run that"),
        );
        return None;
    }
    if command.contains("\\%") {
        r.error(
            Diag::new("converge::cron", "write `%` without a backslash", &c.at, "`\\%` here")
                .help("converge escapes every `%` for cron itself, so the command runs as written"),
        );
        return None;
    }
    Some(command.to_string())
}

/// Environment lines of a cron.d file, checked; `None` after an error.
fn check_env(
    r: &mut NodeReader,
    env: &[(Spanned<String>, Spanned<String>)],
    crontab: bool,
) -> Option<Vec<(String, String)>> {
    if let (true, Some((first, _))) = (crontab, env.first()) {
        r.error(
            Diag::new("converge::cron", "`env` cannot be used with crontab=#true", &first.at, "in a crontab")
                .help("an environment line in a crontab applies to every entry below it; a cron.d job (without crontab=#true) keeps it to this job"),
        );
        return None;
    }
    let mut ok = true;
    for (k, v) in env {
        if !is_env_name(&k.value) {
            ok = false;
            r.error(
                Diag::new("converge::env", format!("`{}` is not a variable name", k.value), &k.at, "invalid name")
                    .help("letters, digits and `_`, not starting with a digit"),
            );
        }
        if v.value.contains(['\n', '\r']) || (v.value.contains('"') && v.value.contains('\'')) {
            ok = false;
            r.error(Diag::new(
                "converge::env",
                format!("cron cannot hold this value of `{}`", k.value),
                &v.at,
                "one line, without both kinds of quotes",
            ));
        }
    }
    ok.then(|| env.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect())
}

pub fn is_env_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The schedule, normalised to single spaces; every problem reported at its field.
fn check_schedule(r: &mut NodeReader, s: &Spanned<String>) -> Option<String> {
    let errors = schedule_errors(&s.value);
    if errors.is_empty() {
        return Some(s.value.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    for e in errors {
        let mut d = Diag::new("converge::schedule", e.message, &inside(&s.at, &s.value, e.range), e.label);
        if let Some(h) = e.help {
            d = d.help(h);
        }
        r.error(d);
    }
    None
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

    fn job(crontab: bool, line: Option<&str>) -> Cron {
        let place = if crontab {
            Place::Crontab(line.map(str::to_string))
        } else {
            let content = line.map(|l| Desired::new(cron_d_text("power-off", &[], l).into_bytes(), false));
            let own = Ownership { owner: Some("root".into()), group: Some("root".into()), mode: Some(0o644) };
            Place::CronD(File::managed("/etc/cron.d/power-off".into(), line.is_some(), content, own))
        };
        Cron { name: "power-off".into(), user: "root".into(), place }
    }

    #[test]
    fn cron_d_file_text_and_escapes() {
        let text = cron_d_text(
            "backup",
            &[("MAILTO".into(), String::new()), ("X".into(), "say \"hi\"".into())],
            &format!("0 3 * * * root {}", escape_percent("tar czf /b/$(date +%F).tgz /srv")),
        );
        assert_eq!(
            text,
            "# converge: backup\n# Managed by converge: changes made here are overwritten.\nMAILTO=\"\"\nX='say \"hi\"'\n0 3 * * * root tar czf /b/$(date +\\%F).tgz /srv\n"
        );
    }

    #[test]
    fn cron_d_is_a_root_owned_file() {
        let j = job(false, Some("0 22 * * * root /sbin/shutdown -h now"));
        let state = j.parse("type=absent\n").expect("parse");
        let diff = j.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let mut sh = Sh::new();
        j.steps(&state, &diff, &mut sh);
        assert!(sh.text().starts_with("[ -d /etc/cron.d ] ||"), "{}", sh.text());
        assert!(sh.text().contains("chown -- root:root \"$tmp\""), "{}", sh.text());
        assert!(sh.text().contains("chmod 0644 \"$tmp\""), "{}", sh.text());
        assert!(j.deps().contains(&Implicit::new("package", "cron", "cron daemon")));
    }

    const TAB: &str =
        "MAILTO=ops@example.org\n# converge: power-off\n0 21 * * * /sbin/shutdown -h now\n*/5 * * * * /bin/other\n";

    #[test]
    fn crontab_entry_is_replaced_in_place_added_or_removed() {
        let m = "# converge: power-off";
        let new = "0 22 * * * /sbin/shutdown -h now";
        assert_eq!(
            edit(TAB, m, Some(new)),
            "MAILTO=ops@example.org\n# converge: power-off\n0 22 * * * /sbin/shutdown -h now\n*/5 * * * * /bin/other\n"
        );
        assert_eq!(edit(TAB, m, None), "MAILTO=ops@example.org\n*/5 * * * * /bin/other\n");
        assert_eq!(edit("", m, Some(new)), format!("{m}\n{new}\n"));
        // a marker whose entry was deleted by hand keeps the next entry's marker
        assert_eq!(edit("# converge: power-off\n# converge: b\nx\n", m, None), "# converge: b\nx\n");
    }

    #[test]
    fn the_host_side_edit_matches_the_plan() {
        let m = "# converge: power-off";
        for (cur, line) in [
            (TAB, Some("0 22 * * * /sbin/shutdown -h now")),
            (TAB, None),
            ("", Some("@daily echo '100%' \\$x")),
            ("# converge: power-off\n# converge: b\nx\n", None),
            ("# converge: power-off\nold\n# converge: power-off\nolder\n", Some("new")),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut sh = Sh::new();
            sh.set("cur", cur.trim_end_matches('\n'));
            sh.set("m", m);
            sh.set("l", line.unwrap_or(""));
            sh.set("tmp", dir.path().join("out").to_str().expect("utf8"));
            edit_script(&mut sh);
            sh.raw("cat \"$tmp\"\n");
            let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), edit(cur, m, line), "{cur:?} {line:?}");
        }
    }

    #[test]
    fn crontab_plan_shows_the_entry_and_the_whole_crontab() {
        let j = job(true, Some("0 22 * * * /sbin/shutdown -h now"));
        let out = format!("crontab=present\n--body--\n{}\n", base64_of(TAB));
        let state = j.parse(&out).expect("parse");
        let diff = j.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        assert_eq!(diff.changes[0].before(), Some("0 21 * * * /sbin/shutdown -h now"));
        assert_eq!(diff.changes[0].after(), Some("0 22 * * * /sbin/shutdown -h now"));
        assert!(matches!(diff.changes[0].content_shown(), Some(Content::Text { before, .. }) if before == TAB));
        let mut sh = Sh::new();
        j.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("crontab -u \"$u\" \"$tmp\""), "{}", sh.text());
        // in sync
        let synced = edit(TAB, "# converge: power-off", Some("0 22 * * * /sbin/shutdown -h now"));
        let out = format!("crontab=present\n--body--\n{}\n", base64_of(&synced));
        assert!(j.diff(&j.parse(&out).expect("parse"), &PlanCx::default()).is_ok());
        // no crontab, no user yet
        let none = j.parse("crontab=none\n").expect("parse");
        assert_eq!(j.diff(&none, &PlanCx::default()).action, Action::Create);
        let nouser = j.parse("crontab=nouser\n").expect("parse");
        assert_eq!(j.diff(&nouser, &PlanCx::default()).changes[1].field(), "note");
        assert!(job(true, None).diff(&none, &PlanCx::default()).is_ok());
        assert!(j.parse("crontab=error\n").is_err());
        assert!(j.parse("crontab=present\n").is_err());
    }

    fn base64_of(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }
}
