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
//! line in a crontab applies to every entry below it, not to one job (`crontab.rs`).
//!
//! The schedule is checked by `converge check`, every problem labelled at the field it is
//! in (`schedule.rs`). A command is one line.
//! cron turns an unescaped `%` into a newline (the rest becomes the job's input), so
//! converge writes each `%` as `\%`: the command runs as written (`date +%F` works). A
//! `\%` in a command is refused, as it would be escaped twice.
//!
//! A job depends on the managed `package` `cron` (or `cronie`) and on its managed user.
//! cron rereads `/etc/cron.d` and the crontabs by itself: no reload is needed.

mod crontab;
mod schedule;

use super::content::Desired;
use super::file::{self, File};
use super::ownership::Ownership;
use super::runas;
use super::{Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::facts::Need;
use crate::script::Sh;
use crate::syntax::reader::NodeReader;
pub use crontab::Crontab;
use crontab::parse_crontab;
use schedule::check_schedule;

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

const CRON_D: &str = "/etc/cron.d";

impl Kind for Cron {
    const KIND: &'static str = "cron";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Cron> {
        let name = r.arg("a job name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let schedule = r.nonempty("schedule");
        let command = r.nonempty("command");
        let become_user = r.become_user();
        let user = runas::read_user(r, "user").or(become_user);
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
                        Diag::new(Code::Missing, format!("a cron job needs `{key}`"), &at, format!("no {key}"))
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
            let own = Ownership {
                owner: Some("root".into()),
                group: Some("root".into()),
                mode: Some(0o644),
                login_group: false,
            };
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
            r.error(Diag::new(Code::Cron, "a cron job's name is one line", &name.at, "invalid name"));
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
            Diag::new(Code::Cron, format!("`{n}` cannot name a file in /etc/cron.d"), &name.at, label)
                .help("use letters, digits, `_` and `-` (run-parts' rules), e.g. `power-off`"),
        );
    }
}

fn check_command(r: &mut NodeReader, c: &Spanned<String>) -> Option<String> {
    let command = c.value.trim();
    if command.contains(['\n', '\r']) {
        r.error(
            Diag::new(Code::Cron, "a cron command is one line", &c.at, "holds a newline")
                .help("put longer scripts in a file (a `file` resource) and run that"),
        );
        return None;
    }
    if command.contains("\\%") {
        r.error(
            Diag::new(Code::Cron, "write `%` without a backslash", &c.at, "`\\%` here")
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
            Diag::new(Code::Cron, "`env` cannot be used with crontab=#true", &first.at, "in a crontab")
                .help("an environment line in a crontab applies to every entry below it; a cron.d job (without crontab=#true) keeps it to this job"),
        );
        return None;
    }
    let mut ok = true;
    for (k, v) in env {
        if !r.env_name(k) {
            ok = false;
        }
        if v.value.contains(['\n', '\r']) || (v.value.contains('"') && v.value.contains('\'')) {
            ok = false;
            r.error(Diag::new(
                Code::Env,
                format!("cron cannot hold this value of `{}`", k.value),
                &v.at,
                "one line, without both kinds of quotes",
            ));
        }
    }
    ok.then(|| env.iter().map(|(k, v)| (k.value.clone(), v.value.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Action;

    pub(super) fn job(crontab: bool, line: Option<&str>) -> Cron {
        let place = if crontab {
            Place::Crontab(line.map(str::to_string))
        } else {
            let content = line.map(|l| Desired::new(cron_d_text("power-off", &[], l).into_bytes(), false));
            let own = Ownership {
                owner: Some("root".into()),
                group: Some("root".into()),
                mode: Some(0o644),
                login_group: false,
            };
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
}
