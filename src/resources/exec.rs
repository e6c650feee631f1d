//! `exec`: a command that runs when its guards say it is needed, or when something it is
//! notified by changed.
//!
//! ```kdl
//! user "app" system=#true home="/srv/app"
//! directory "/srv/app" owner="app"
//! exec "migrate" command="python3 manage.py migrate --noinput && touch .migrated" cwd="/srv/app" user="app" creates="/srv/app/.migrated" {
//!     env { DJANGO_SETTINGS_MODULE "app.settings"; }
//! }
//! exec "collectstatic" command="python3 manage.py collectstatic --noinput" cwd="/srv/app" user="app" refresh-only=#true
//! file "/srv/app/static.version" content="42\n" notify="exec:collectstatic"
//! exec "db-schema" command="psql -f /srv/app/schema.sql app" user="app" unless="psql -tAc 'select 1 from users limit 0' app"
//! exec "swap" command="swapon /swapfile" only-if="test -f /swapfile" unless="grep -q /swapfile /proc/swaps"
//! ```
//!
//! `command` is a shell command line: it runs as `sh -c -- COMMAND` would (the text travels
//! as a quoted value, never spliced into converge's script, and reaches `sh` through the
//! environment, not its argv: a command line or an `env` value holding a secret never
//! shows in a process list), in `cwd` (default `/`), as `user`
//! (through `runuser -u USER --`, from util-linux on Debian and RHEL, or directly when the
//! exchange already runs as that user: see `runas.rs`; default: the user the exchange runs
//! as, root with `become`), with the `env` variables added. It runs only when every guard
//! given agrees:
//!
//! - `creates="/path"`: the path does not exist;
//! - `only-if="COMMAND"`: the command succeeds (exit status 0);
//! - `unless="COMMAND"`: the command fails.
//!
//! With `refresh-only=#true` it runs only when a resource that notifies it changes
//! (`notify="exec:NAME"`), and its guards agree. An exec with neither a guard nor
//! `refresh-only` would run on every apply, so a second apply would never report zero
//! changes: `converge check` refuses it and says what to add.
//!
//! The guards are evaluated in the probe, so the plan says whether the command will run
//! and why: `unless` and `only-if` must be read-only, as they also run in `diff` and
//! dry runs. They are evaluated again in the apply step just before the command would
//! run, so an earlier step of the same run that creates the `creates` path (or makes
//! `unless` succeed) skips the command. The step marks when the command actually ran;
//! only then is the resource reported as changed (`Kind::marks_acted`). The verify probe
//! evaluates the guards once more: a command that ran while they still say it should run
//! did not converge. A failing command fails its step with its output and exit status,
//! and skips everything that depends on it. An exec that is in sync when probed but lies
//! downstream of a change is checked again at apply time (a re-check block), since the
//! change may be what its guards look at. Guards that need the user or the working
//! directory (created in the same run) are left to apply time when those do not exist yet.
//!
//! An exec depends on its managed `user` and on the managed directory `cwd`.

use super::record::Record;
use super::runas;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, Refresh};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

#[derive(Debug)]
pub struct Exec {
    name: String,
    command: String,
    cwd: Option<String>,
    user: Option<String>,
    env: Vec<(String, String)>,
    creates: Option<String>,
    only_if: Option<String>,
    unless: Option<String>,
    refresh_only: bool,
}

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The guard commands could not run yet; why.
    Pending(String),
    Checked(Guards),
}

/// The guards the probe evaluated, in order, up to the first that says "do not run".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guards {
    /// Whether the `creates` path exists.
    pub creates: Option<bool>,
    /// Exit status of `only-if`.
    pub only_if: Option<i32>,
    /// Exit status of `unless`.
    pub unless: Option<i32>,
}

impl Kind for Exec {
    const KIND: &'static str = "exec";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Exec> {
        let name = r.arg("a name");
        let command = r.nonempty("command");
        let cwd = r.nonempty("cwd");
        let become_user = r.become_user();
        let user = runas::read_user(r, "user").or(become_user);
        let creates = r.nonempty("creates");
        let only_if = r.nonempty("only-if");
        let unless = r.nonempty("unless");
        let refresh_only = r.bool("refresh-only").unwrap_or(false);
        let env = r.map("env");
        let name = name?;
        for p in [&cwd, &creates].into_iter().flatten() {
            r.absolute_path(p, PathRule::Absolute, None);
        }
        for (k, _) in &env {
            r.env_name(k);
        }
        if command.is_none() && !r.has("command") {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "an exec needs `command`", &at, "no command")
                    .help("write `command=\"...\"`: a shell command line"),
            );
        }
        if creates.is_none() && only_if.is_none() && unless.is_none() && !refresh_only && !r.has("refresh-only") {
            let at = r.at();
            r.error(
                Diag::new(
                    Code::Exec,
                    format!("exec \"{}\" would run on every apply", name.value),
                    &at,
                    "no guard and not refresh-only",
                )
                .help(
                    "add `creates=\"/path/it/creates\"`, `unless=\"a command that succeeds once it is done\"` or \
                     `only-if=\"...\"`; or `refresh-only=#true`, and `notify=\"exec:NAME\"` on the resource whose \
                     change should run it",
                ),
            );
        }
        let value = |s: Option<Spanned<String>>| s.map(|s| s.value);
        Some(Exec {
            name: name.value,
            command: command?.value,
            cwd: value(cwd),
            user,
            env: env.into_iter().map(|(k, v)| (k.value, v.value)).collect(),
            creates: value(creates),
            only_if: value(only_if),
            unless: value(unless),
            refresh_only,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d: Vec<Implicit> =
            self.user.iter().map(|u| Implicit::new("user", u.clone(), "runs the command")).collect();
        if let Some(w) = &self.cwd {
            d.push(Implicit::new("directory", w.clone(), "working directory"));
        }
        d
    }

    fn notifiable(&self) -> bool {
        true
    }

    fn marks_acted(&self) -> bool {
        true
    }

    fn probe(&self, sh: &mut Sh) {
        self.vars(sh);
        // guard commands need their user and working directory, which may come later
        let mut pending: Vec<&'static str> = Vec::new();
        if self.only_if.is_some() || self.unless.is_some() {
            if self.user.is_some() {
                pending.push("! getent passwd -- \"$u\" >/dev/null 2>&1; then echo pending=user\n");
            }
            if self.cwd.is_some() {
                pending.push("[ ! -d \"$w\" ]; then echo pending=cwd\n");
            }
        }
        for (i, test) in pending.iter().enumerate() {
            sh.raw(if i == 0 { "if " } else { "elif " }).raw(test);
        }
        if !pending.is_empty() {
            sh.raw("else\n");
        }
        sh.raw("echo guards=checked\n");
        self.guards(sh, true);
        if !pending.is_empty() {
            sh.raw("fi\n");
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        match rec.get("pending") {
            Some("user") => {
                let u = self.user.as_deref().unwrap_or("?");
                return Ok(State::Pending(format!("user {u} does not exist yet")));
            }
            Some("cwd") => {
                let w = self.cwd.as_deref().unwrap_or("?");
                return Ok(State::Pending(format!("{w} does not exist yet")));
            }
            Some(other) => return Err(ProbeError(format!("unexpected pending={other:?}"))),
            None => {}
        }
        rec.req("guards")?;
        let mut g = Guards::default();
        if self.creates.is_some() {
            g.creates = Some(match rec.req("creates")? {
                "1" => true,
                "0" => false,
                other => return Err(ProbeError(format!("unexpected creates={other:?}"))),
            });
        }
        if self.only_if.is_some() && g.runs() {
            g.only_if = Some(rec.num("only_if")?);
        }
        if self.unless.is_some() && g.runs() {
            g.unless = Some(rec.num("unless")?);
        }
        Ok(State::Checked(g))
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        let notified = if !cx.notified_by.is_empty() {
            let by: Vec<String> = cx.notified_by.iter().map(|i| i.to_string()).collect();
            Some(format!("notified by {}", by.join(", ")))
        } else if cx.owed {
            Some("owed by an earlier run".to_string())
        } else {
            None
        };
        if self.refresh_only && notified.is_none() {
            return Diff::ok();
        }
        let mut why: Vec<String> = notified.iter().cloned().collect();
        match state {
            State::Pending(what) => why.push(format!("{what}: guards are checked at apply time")),
            State::Checked(g) => match (self.verdict(g), &notified) {
                (Ok(reasons), _) => why.extend(reasons),
                (Err(skip), Some(_)) => why.push(format!("{skip} when probed; checked again at apply time")),
                (Err(_), None) => return Diff::ok(),
            },
        }
        let why = match &self.user {
            Some(u) => format!("as {u}: {}", why.join("; ")),
            None => why.join("; "),
        };
        let action = if notified.is_some() { Action::Refresh } else { Action::Change };
        Diff::new(action, vec![Change::refresh(Refresh::Run, why)])
    }

    fn steps(&self, _state: &State, _diff: &Diff, sh: &mut Sh) {
        self.guarded_run(sh);
    }

    fn recheck(&self, sh: &mut Sh) -> bool {
        if self.refresh_only {
            return false;
        }
        self.guarded_run(sh);
        true
    }

    fn recheck_in_order(&self) -> bool {
        true
    }
}

impl Guards {
    /// Whether every guard evaluated so far says "run".
    fn runs(&self) -> bool {
        self.creates != Some(true) && self.only_if.is_none_or(|s| s == 0) && self.unless.is_none_or(|s| s != 0)
    }
}

impl Exec {
    /// Why the command runs (one reason per guard), or why it does not.
    fn verdict(&self, g: &Guards) -> Result<Vec<String>, String> {
        let mut why = Vec::new();
        if let (Some(path), Some(exists)) = (&self.creates, g.creates) {
            if exists {
                return Err(format!("{path} exists"));
            }
            why.push(format!("{path} does not exist"));
        }
        if let Some(s) = g.only_if {
            if s != 0 {
                return Err(format!("only-if failed (exit status {s})"));
            }
            why.push("only-if succeeded".into());
        }
        if let Some(s) = g.unless {
            if s == 0 {
                return Err("unless succeeded".into());
            }
            why.push(format!("unless failed (exit status {s})"));
        }
        Ok(why)
    }

    /// The values the snippets use, as shell variables, and `cv_as`.
    fn vars(&self, sh: &mut Sh) {
        if self.user.is_some() {
            runas::define(sh);
        }
        sh.set("cmd", &self.command);
        if let Some(u) = &self.user {
            sh.set("u", u);
        }
        if let Some(w) = &self.cwd {
            sh.set("w", w);
        }
        if let Some(c) = &self.creates {
            sh.set("c", c);
        }
        if let Some(g) = &self.only_if {
            sh.set("g_only", g);
        }
        if let Some(g) = &self.unless {
            sh.set("g_unless", g);
        }
    }

    /// Runs the command line in the shell variable `var` in `cwd`, as `user` (through
    /// `cv_as`, see `runas.rs`), with `env`. Neither the command line nor the values of
    /// `env` are ever in a process's argv, which any user of the host can read in
    /// `/proc/PID/cmdline` (they may hold secrets): the values are exported by the shell's
    /// builtin, and the command line travels in the environment to a `sh` that reads it
    /// into a variable of its own, removes it from the environment and runs it with
    /// `eval`, which is what `sh -c` does with its argument.
    fn run(&self, var: &'static str, sh: &mut Sh) {
        sh.raw(if self.cwd.is_some() { "(cd \"$w\" && " } else { "(cd / && " });
        for (k, v) in &self.env {
            sh.raw("export ").q(&format!("{k}={v}")).raw(" && ");
        }
        sh.raw("CV_CMD=$").raw(var).raw(" && export CV_CMD && ");
        sh.raw(if self.user.is_some() { "cv_as \"$u\" " } else { "exec " });
        sh.raw("sh -c 'cv_c=$CV_CMD; unset CV_CMD; eval \"$cv_c\"')");
    }

    /// Evaluates the guards into `$cv_go` (non-empty: run), stopping at the first that
    /// says no; the probe prints each result.
    fn guards(&self, sh: &mut Sh, print: bool) {
        sh.raw("cv_go=1\n");
        if self.creates.is_some() {
            sh.raw("if [ -e \"$c\" ] || [ -L \"$c\" ]; then cv_go=");
            sh.raw(if print { "; echo creates=1; else echo creates=0; fi\n" } else { "; fi\n" });
        }
        let commands = [(&self.only_if, "g_only", "only_if", "-eq"), (&self.unless, "g_unless", "unless", "-ne")];
        for (given, var, key, pass) in commands {
            if given.is_none() {
                continue;
            }
            sh.raw("if [ -n \"$cv_go\" ]; then cv_r=0; ");
            self.run(var, sh);
            sh.raw(" >/dev/null 2>&1 </dev/null || cv_r=$?; ");
            if print {
                sh.raw("echo \"").raw(key).raw("=$cv_r\"; ");
            }
            sh.raw("[ \"$cv_r\" ").raw(pass).raw(" 0 ] || cv_go=; fi\n");
        }
    }

    /// The apply step: check that the user and working directory exist, evaluate the
    /// guards again, and run the command if they agree, marking that it ran.
    fn guarded_run(&self, sh: &mut Sh) {
        self.vars(sh);
        if self.user.is_some() {
            sh.raw("getent passwd -- \"$u\" >/dev/null 2>&1 || { printf '%s\\n' \"user $u does not exist\" >&2; exit 1; }\n");
        }
        if self.cwd.is_some() {
            sh.raw("[ -d \"$w\" ] || { printf '%s\\n' \"working directory $w does not exist\" >&2; exit 1; }\n");
        }
        self.guards(sh, false);
        sh.raw("if [ -n \"$cv_go\" ]; then\ncv_r=0; ");
        self.run("cmd", sh);
        sh.raw(" || cv_r=$?\n");
        sh.raw(
            "if [ \"$cv_r\" -ne 0 ]; then printf '%s\\n' \"the command failed with exit status $cv_r\" >&2; exit \"$cv_r\"; fi\n",
        );
        sh.raw(": > \"$CV_A\"\nfi\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::ResourceId;

    fn exec() -> Exec {
        Exec {
            name: "migrate".into(),
            command: "python3 manage.py migrate && touch .migrated".into(),
            cwd: Some("/srv/app".into()),
            user: Some("app".into()),
            env: vec![("DJANGO_SETTINGS_MODULE".into(), "app.settings".into())],
            creates: Some("/srv/app/.migrated".into()),
            only_if: None,
            unless: Some("test -e /srv/app/skip".into()),
            refresh_only: false,
        }
    }

    fn run_reason(diff: &Diff) -> Option<&str> {
        diff.changes.iter().find(|c| c.field() == "run").and_then(|c| c.after())
    }

    #[test]
    fn runs_when_every_guard_agrees_and_says_why() {
        let e = exec();
        let state = e.parse("guards=checked\ncreates=0\nunless=1\n").expect("parse");
        let diff = e.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        assert_eq!(run_reason(&diff), Some("as app: /srv/app/.migrated does not exist; unless failed (exit status 1)"));
        // the first guard that says no stops the others
        let done = e.parse("guards=checked\ncreates=1\n").expect("parse");
        assert_eq!(done, State::Checked(Guards { creates: Some(true), only_if: None, unless: None }));
        assert!(e.diff(&done, &PlanCx::default()).is_ok());
        let skip = e.parse("guards=checked\ncreates=0\nunless=0\n").expect("parse");
        assert!(e.diff(&skip, &PlanCx::default()).is_ok());
    }

    #[test]
    fn malformed_probe_output_is_an_error() {
        let e = exec();
        assert!(e.parse("").is_err());
        assert!(e.parse("guards=checked\n").is_err(), "creates missing");
        assert!(e.parse("guards=checked\ncreates=0\n").is_err(), "unless missing");
        assert!(e.parse("guards=checked\ncreates=0\nunless=x\n").is_err());
        assert!(e.parse("pending=what\n").is_err());
    }

    #[test]
    fn guards_that_cannot_run_yet_are_left_to_apply_time() {
        let e = exec();
        let state = e.parse("pending=user\n").expect("parse");
        let diff = e.diff(&state, &PlanCx::default());
        assert_eq!(run_reason(&diff), Some("as app: user app does not exist yet: guards are checked at apply time"));
    }

    #[test]
    fn refresh_only_runs_when_notified_or_owed() {
        let mut e = exec();
        e.refresh_only = true;
        (e.creates, e.unless) = (None, None);
        let state = e.parse("guards=checked\n").expect("parse");
        assert!(e.diff(&state, &PlanCx::default()).is_ok());
        let cx = PlanCx { notified_by: vec![ResourceId::new("file", "/srv/app/app.py")], ..PlanCx::default() };
        let diff = e.diff(&state, &cx);
        assert_eq!(diff.action, Action::Refresh);
        assert_eq!(run_reason(&diff), Some("as app: notified by file:/srv/app/app.py"));
        let owed = e.diff(&state, &PlanCx { owed: true, ..PlanCx::default() });
        assert_eq!(run_reason(&owed), Some("as app: owed by an earlier run"));
        let mut sh = Sh::new();
        assert!(!Kind::recheck(&e, &mut sh), "not notified: nothing to re-check");
    }

    #[test]
    fn a_notified_exec_whose_guard_said_no_is_checked_again_at_apply_time() {
        let e = exec();
        let state = e.parse("guards=checked\ncreates=1\n").expect("parse");
        let cx = PlanCx { notified_by: vec![ResourceId::new("file", "/srv/app/app.py")], ..PlanCx::default() };
        let diff = e.diff(&state, &cx);
        assert_eq!(
            run_reason(&diff),
            Some(
                "as app: notified by file:/srv/app/app.py; /srv/app/.migrated exists when probed; checked again at apply time"
            )
        );
    }

    #[test]
    fn the_step_checks_the_guards_again_runs_quoted_and_marks_that_it_ran() {
        let e = exec();
        let state = e.parse("guards=checked\ncreates=0\nunless=1\n").expect("parse");
        let mut sh = Sh::new();
        e.steps(&state, &e.diff(&state, &PlanCx::default()), &mut sh);
        assert!(sh.text().starts_with("cd /\ncv_as() {"), "defines cv_as: {}", sh.text());
        assert_eq!(
            sh.text().split_once("}\n").map(|(_, rest)| rest).unwrap_or_default(),
            "cmd='python3 manage.py migrate && touch .migrated'\nu=app\nw=/srv/app\nc=/srv/app/.migrated\n\
             g_unless='test -e /srv/app/skip'\n\
             getent passwd -- \"$u\" >/dev/null 2>&1 || { printf '%s\\n' \"user $u does not exist\" >&2; exit 1; }\n\
             [ -d \"$w\" ] || { printf '%s\\n' \"working directory $w does not exist\" >&2; exit 1; }\n\
             cv_go=1\n\
             if [ -e \"$c\" ] || [ -L \"$c\" ]; then cv_go=; fi\n\
             if [ -n \"$cv_go\" ]; then cv_r=0; (cd \"$w\" && export 'DJANGO_SETTINGS_MODULE=app.settings' && CV_CMD=$g_unless && export CV_CMD && cv_as \"$u\" sh -c 'cv_c=$CV_CMD; unset CV_CMD; eval \"$cv_c\"') >/dev/null 2>&1 </dev/null || cv_r=$?; [ \"$cv_r\" -ne 0 ] || cv_go=; fi\n\
             if [ -n \"$cv_go\" ]; then\n\
             cv_r=0; (cd \"$w\" && export 'DJANGO_SETTINGS_MODULE=app.settings' && CV_CMD=$cmd && export CV_CMD && cv_as \"$u\" sh -c 'cv_c=$CV_CMD; unset CV_CMD; eval \"$cv_c\"') || cv_r=$?\n\
             if [ \"$cv_r\" -ne 0 ]; then printf '%s\\n' \"the command failed with exit status $cv_r\" >&2; exit \"$cv_r\"; fi\n\
             : > \"$CV_A\"\nfi\n"
        );
        assert!(Kind::marks_acted(&e));
    }

    /// Runs a snippet with `sh` in a temp dir standing for `$CV_A`'s directory.
    fn sh_run(text: &str) -> (i32, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sh = Sh::new();
        sh.set("CV_A", dir.path().join("acted").to_str().expect("utf8"));
        sh.raw("set -e\n");
        let script = format!("{}{text}[ -e \"$CV_A\" ] && echo ACTED || true\n", sh.text());
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().expect("sh");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    fn local(command: &str, creates: Option<&str>, only_if: Option<&str>, unless: Option<&str>) -> Exec {
        Exec {
            name: "t".into(),
            command: command.into(),
            cwd: Some("/tmp".into()),
            user: None,
            env: vec![("GREETING".into(), "it's $HOME".into())],
            creates: creates.map(str::to_string),
            only_if: only_if.map(str::to_string),
            unless: unless.map(str::to_string),
            refresh_only: false,
        }
    }

    #[test]
    fn the_step_runs_here_as_planned() {
        let step = |e: &Exec| {
            let mut sh = Sh::new();
            e.guarded_run(&mut sh);
            sh_run(sh.text())
        };
        // the command sees its environment literally, in its working directory, and not
        // the variable that carried it
        let (code, out) =
            step(&local("printf '%s|%s|%s\\n' \"$GREETING\" \"$(pwd)\" \"${CV_CMD-unset}\"", None, Some("true"), None));
        assert_eq!((code, out.as_str()), (0, "it's $HOME|/tmp|unset\nACTED\n"));
        // a command line is a shell program: several lines, its own quoting, `$0`
        let (code, out) =
            step(&local("a='x y'\nprintf '%s\\n' \"$a\" | tr x z; printf '%s\\n' \"$0\"", None, Some("true"), None));
        assert_eq!((code, out.as_str()), (0, "z y\nsh\nACTED\n"));
        // as the user the exchange runs as: directly, without runuser
        let me = String::from_utf8(std::process::Command::new("id").arg("-un").output().expect("id").stdout)
            .expect("utf8")
            .trim()
            .to_string();
        let as_me = Exec { user: Some(me.clone()), ..local("id -un", None, Some("true"), None) };
        assert_eq!(step(&as_me), (0, format!("{me}\nACTED\n")));
        // a guard that says no: nothing runs, nothing marked
        assert_eq!(step(&local("echo ran", Some("/"), None, None)), (0, String::new()));
        assert_eq!(step(&local("echo ran", None, Some("false"), None)), (0, String::new()));
        assert_eq!(step(&local("echo ran", None, None, Some("true"))), (0, String::new()));
        // a failure keeps its output and says its status
        let (code, out) = step(&local("echo boom; exit 3", None, None, Some("false")));
        assert_eq!((code, out.as_str()), (3, "boom\nthe command failed with exit status 3\n"));
    }

    #[test]
    fn the_probe_prints_each_guard_until_one_says_no() {
        let probe = |e: &Exec| {
            let mut sh = Sh::new();
            e.probe(&mut sh);
            sh_run(sh.text()).1
        };
        let e = local("true", Some("/nonexistent/x"), Some("exit 0"), Some("exit 4"));
        assert_eq!(probe(&e), "guards=checked\ncreates=0\nonly_if=0\nunless=4\n");
        assert_eq!(e.parse(&probe(&e)).map(|s| e.diff(&s, &PlanCx::default()).action), Ok(Action::Change));
        let e = local("true", None, Some("exit 2"), Some("exit 4"));
        assert_eq!(probe(&e), "guards=checked\nonly_if=2\n");
        let e = local("true", None, Some("true"), None);
        let e = Exec { cwd: Some("/nonexistent".into()), ..e };
        assert_eq!(probe(&e), "pending=cwd\n");
    }
}
