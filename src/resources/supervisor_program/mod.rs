//! `supervisor-program`: a program run by supervisord: its configuration file in
//! `/etc/supervisor/conf.d/NAME.conf` and whether its processes run.
//!
//! ```kdl
//! supervisor-program "celery" command="/srv/app/env/bin/celery -A app worker -n w1.%h" user="app" directory="/srv/app" numprocs=2 autostart=#true autorestart="true" stdout-logfile="/var/log/app/celery.log" state="running" {
//!     env { DJANGO_SETTINGS_MODULE "app.settings"; BROKER_URL "amqp://localhost" }
//! }
//! supervisor-program "daphne" command="/srv/app/env/bin/daphne -b 0.0.0.0 -p 8001 app.asgi:application" redirect-stderr=#true
//! supervisor-program "old-worker" state="absent"
//! ```
//!
//! The file is written so that supervisor reads every value back exactly, and what its
//! INI format cannot hold is refused at the token (`ini.rs`).
//!
//! Probed with `supervisorctl status` (one call for every program of a host; `NAME:*`
//! alone for a single program; read in `status.rs`) and the file's sha256 (and its text, for the diff). Applied by writing the file
//! atomically, then `supervisorctl reread`, which validates the whole configuration before
//! anything runs it: if supervisor refuses it, the old file is put back and the step fails
//! with supervisor's message. Then `supervisorctl update NAME` (which adds the group, or
//! stops and restarts it when its configuration changed), then `start` or `stop`, waiting
//! until every process is RUNNING (a process that goes FATAL fails the step at once) or
//! stopped. The plan says when a configuration change restarts a running program.
//!
//! `state` is `"running"` (default), `"stopped"` or `"absent"` (the file is removed and the
//! group with it). `autostart` (start when supervisord starts) follows `state` unless given.
//! A program can be notified (`notify="supervisor-program:celery"`, e.g. by a checkout):
//! it restarts, unless the same run's `update` already restarted it. The restart owed by a
//! configuration change is recorded on the host before the file is written, so a run that
//! fails in between restarts it next time.
//!
//! supervisord must be running: the Debian package starts and enables it; the steps wait
//! up to ten seconds for its socket (it may just have been installed), then fail and say
//! so. A program depends on the managed `package:supervisor` and `service:supervisor`,
//! its `user`, its `directory` and the directories of its log files.
//! `sensitive=#true` keeps the file out of plans and makes it 0600; a file holding a secret
//! (a value from a `secrets` block, e.g. in `env`) is sensitive without it.

mod ini;
mod status;

use super::content::{self, Desired};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, Refresh, ResourceId, parent_dirs};
use crate::diag::{Code, Diag};
use crate::facts::{self, Need};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule, is_env_name};
use ini::{Section, check_value, env_value, ini_problem, pct, valid_program_name};
pub use status::{Daemon, Process, STATUS};
use status::{observed_status, parse_status};

/// Where Debian's supervisord.conf includes program files from (`files = conf.d/*.conf`).
pub const CONF_DIR: &str = "/etc/supervisor/conf.d";

/// Seconds the steps wait for supervisord's socket (it may have just been installed).
const DAEMON_WAIT_POLLS: u64 = 20;

#[derive(Debug)]
pub struct SupervisorProgram {
    name: String,
    path: String,
    want: Want,
    numprocs: u32,
    /// How long the steps wait for the processes to reach their state, in half seconds.
    wait_polls: u64,
    conf: Desired,
    deps: Vec<Implicit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Running,
    Stopped,
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub daemon: Daemon,
    /// The configuration file, `None` when absent.
    pub conf: Option<content::Observed>,
}

impl SupervisorProgram {
    fn owed(&self) -> String {
        ResourceId::new(Self::KIND, self.name.clone()).owed_key()
    }
}

impl Kind for SupervisorProgram {
    const KIND: &'static str = "supervisor-program";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<SupervisorProgram> {
        let name = r.arg("a program name");
        let want = match r.choice("state", &["running", "stopped", "absent"]) {
            Some("stopped") => Want::Stopped,
            Some("absent") => Want::Absent,
            _ => Want::Running,
        };
        let command = r.nonempty("command");
        let user = r.nonempty("user");
        let directory = r.nonempty("directory");
        let numprocs = r.int::<u32>("numprocs");
        let autostart = r.bool("autostart");
        let autorestart = r.choice("autorestart", &["true", "false", "unexpected"]);
        let startsecs = r.int::<u32>("startsecs");
        let startretries = r.int::<u32>("startretries");
        let stopsignal = r.choice("stopsignal", &["TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2"]);
        let stopwaitsecs = r.int::<u32>("stopwaitsecs");
        let stopasgroup = r.bool("stopasgroup");
        let killasgroup = r.bool("killasgroup");
        let priority = r.int::<u32>("priority");
        let redirect_stderr = r.bool("redirect-stderr");
        let stdout_logfile = r.nonempty("stdout-logfile");
        let stderr_logfile = r.nonempty("stderr-logfile");
        let sensitive = r.bool("sensitive").unwrap_or(false);
        let env = r.map("env");

        let name = name?;
        if !valid_program_name(&name.value) {
            r.error(
                Diag::new(
                    Code::Supervisor,
                    format!("`{}` is not a supervisor program name", name.value),
                    &name.at,
                    "invalid name",
                )
                .help("use letters, digits, `_`, `-` and `.`, starting with a letter or digit (and not `all`)"),
            );
        }
        if want != Want::Absent && command.is_none() && !r.failed() {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "a supervisor program needs its `command`", &at, "no command")
                    .help("write `command=\"/path/to/program --args\"`"),
            );
        }
        let mut ok = true;
        if let Some(c) = &command {
            ok &= check_value(r, c, "command");
            if ok && shlex::split(&c.value).is_none_or(|w| w.is_empty()) {
                r.error(
                    Diag::new(
                        Code::Supervisor,
                        "supervisor cannot split this command into words",
                        &c.at,
                        "unbalanced quotes",
                    )
                    .help("supervisor splits `command` like a shell (no pipes or redirections: use `sh -c`)"),
                );
            }
        }
        if let Some(u) = &user
            && !super::group::is_account_name(&u.value)
        {
            r.error(Diag::new(Code::Supervisor, format!("`{}` is not a user name", u.value), &u.at, "invalid"));
        }
        if let Some(d) = &directory {
            ok &= check_value(r, d, "directory");
            if !PathRule::Absolute.admits(&d.value) {
                r.error(Diag::new(Code::Path, "`directory` must be absolute", &d.at, "must start with /"));
            }
        }
        for (key, lf) in [("stdout-logfile", &stdout_logfile), ("stderr-logfile", &stderr_logfile)] {
            if let Some(l) = lf {
                ok &= check_value(r, l, key);
                if !PathRule::Absolute.admits(&l.value) && l.value != "NONE" && l.value != "AUTO" {
                    r.error(Diag::new(
                        Code::Path,
                        format!("`{key}` must be an absolute path, \"AUTO\" or \"NONE\""),
                        &l.at,
                        "not an absolute path",
                    ));
                }
            }
        }
        if let Some(n) = &numprocs
            && n.value == 0
        {
            r.error(Diag::new(Code::Range, "`numprocs` must be at least 1", &n.at, "zero"));
        }
        if stopasgroup == Some(true) && killasgroup == Some(false) {
            let at = r.at();
            r.error(Diag::new(
                Code::Supervisor,
                "supervisor refuses stopasgroup=#true with killasgroup=#false",
                &at,
                "conflicting options",
            ));
        }
        let mut env_line = Vec::new();
        for (k, v) in &env {
            if !is_env_name(&k.value) {
                r.error(Diag::new(
                    Code::Supervisor,
                    format!("`{}` is not an environment variable name", k.value),
                    &k.at,
                    "use letters, digits and `_`",
                ));
                continue;
            }
            match ini_problem(&v.value, true).map(Err).unwrap_or_else(|| env_value(&v.value)) {
                Ok(q) => env_line.push(format!("{}={q}", k.value)),
                Err(why) => {
                    r.error(Diag::new(
                        Code::Supervisor,
                        format!("`{}` cannot be written as it is", k.value),
                        &v.at,
                        why,
                    ));
                }
            }
        }
        if !ok || r.failed() {
            return None;
        }

        let numprocs = numprocs.map_or(1, |n| n.value);
        let mut s = Section::default();
        s.opt("command", command.as_ref().map(|c| pct(&c.value)));
        if numprocs > 1 {
            s.put("process_name", "%(program_name)s_%(process_num)02d");
            s.put("numprocs", numprocs.to_string());
        }
        s.opt("directory", directory.as_ref().map(|d| pct(&d.value)));
        s.opt("user", user.as_ref().map(|u| u.value.clone()));
        if !env_line.is_empty() {
            s.put("environment", env_line.join(","));
        }
        s.put("autostart", autostart.unwrap_or(want != Want::Stopped).to_string());
        s.opt("autorestart", autorestart);
        s.opt("startsecs", startsecs.as_ref().map(|v| v.value));
        s.opt("startretries", startretries.as_ref().map(|v| v.value));
        s.opt("stopsignal", stopsignal);
        s.opt("stopwaitsecs", stopwaitsecs.as_ref().map(|v| v.value));
        s.opt("stopasgroup", stopasgroup);
        s.opt("killasgroup", killasgroup);
        s.opt("priority", priority.map(|v| v.value));
        s.opt("redirect_stderr", redirect_stderr);
        // log file paths are expanded twice (once as a value, once as a log file name)
        s.opt("stdout_logfile", stdout_logfile.as_ref().map(|l| l.value.replace('%', "%%%%")));
        s.opt("stderr_logfile", stderr_logfile.as_ref().map(|l| l.value.replace('%', "%%%%")));

        let mut deps = vec![
            Implicit::new("package", "supervisor", "package"),
            Implicit::new("service", "supervisor", "supervisord"),
        ];
        if let Some(u) = &user {
            deps.push(Implicit::new("user", u.value.clone(), "user"));
        }
        if let Some(d) = &directory {
            deps.push(Implicit::new("directory", d.value.trim_end_matches('/').to_string(), "working directory"));
        }
        for l in [&stdout_logfile, &stderr_logfile].into_iter().flatten() {
            if l.value.starts_with('/') {
                deps.extend(parent_dirs(&l.value));
            }
        }
        // startsecs to reach RUNNING, for each try, plus room for a slow stop and start
        let secs = u64::from(startsecs.map_or(1, |s| s.value)) * u64::from(startretries.map_or(3, |s| s.value) + 1)
            + u64::from(stopwaitsecs.map_or(10, |s| s.value))
            + 20;
        let text = s.render(&name.value);
        // a file holding a secret (`{{ secret_key }}` in `env`) is sensitive by itself
        let sensitive = sensitive || r.holds_secret(text.as_bytes());
        Some(SupervisorProgram {
            path: format!("{CONF_DIR}/{}.conf", name.value),
            conf: Desired::new(text.into_bytes(), sensitive),
            name: name.value,
            want,
            numprocs,
            wait_polls: secs * 2,
            deps,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        if self.want == Want::Absent {
            return vec![Implicit::new("package", "supervisor", "package")];
        }
        self.deps.clone()
    }

    fn notifiable(&self) -> bool {
        true
    }

    fn facts(&self) -> Vec<Need> {
        let mut needs = vec![Need::new(&STATUS, &self.name)];
        if self.want != Want::Absent {
            needs.push(Need::new(&facts::SHA256, &self.path));
        }
        needs
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("n", &self.name);
        sh.set("p", &self.path);
        // the status of every program, read once for all (`STATUS`), or this group's
        sh.raw("if [ -n \"${cv_sup_rc-}\" ]; then printf '%s\\n' \"rc=$cv_sup_rc\"; printf '%s\\n' \"$cv_sup\" | sed 's/^/all=/'\n");
        sh.raw("elif command -v supervisorctl >/dev/null 2>&1; then\n");
        sh.raw("st=$(supervisorctl status \"$n:*\" 2>&1); printf '%s\\n' \"rc=$?\"; printf '%s\\n' \"$st\" | sed 's/^/line=/'\n");
        sh.raw("else echo ctl=absent; fi\n");
        sh.raw("if [ -f \"$p\" ]; then echo conf=file\n");
        if self.want == Want::Absent {
            sh.raw("s=$(sha256sum < \"$p\") && printf '%s\\n' \"sha256=${s%% *}\"\n");
        } else {
            self.conf.probe(sh);
        }
        sh.raw("else echo conf=absent; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let daemon = if rec.has("ctl") { Daemon::NotInstalled } else { parse_status(&rec, &self.name)? };
        let conf = match rec.req("conf")? {
            "absent" => None,
            "file" => Some(Desired::parse(&rec)?),
            other => return Err(ProbeError(format!("unexpected conf={other:?}"))),
        };
        Ok(State { daemon, conf })
    }

    fn diff(&self, state: &State, cx: &PlanCx) -> Diff {
        if self.want == Want::Absent {
            let mut changes = Vec::new();
            if let Some(c) = &state.conf {
                changes.push(Change::new("config", Some(content::short_sha(&c.sha256)), None));
            }
            if let Daemon::Up(p) = &state.daemon
                && !p.is_empty()
            {
                changes.push(Change::new("status", Some(observed_status(&state.daemon)), None));
            }
            return Diff::new(Action::Remove, changes);
        }
        let mut changes = Vec::new();
        let conf_change = self.conf.diff(state.conf.as_ref()).map(|c| c.renamed("config"));
        let running = matches!(&state.daemon, Daemon::Up(p) if p.iter().any(|p| p.state == "RUNNING"));
        if let Some(c) = conf_change {
            changes.push(c);
        }
        if !self.status_ok(&state.daemon) {
            changes.push(Change::set("status", observed_status(&state.daemon), self.wanted_status()));
        }
        if self.want == Want::Running {
            let why = if !cx.notified_by.is_empty() {
                let by: Vec<String> = cx.notified_by.iter().map(|i| i.to_string()).collect();
                Some(format!("notified by {}", by.join(", ")))
            } else if cx.owed {
                Some("owed by an earlier run".to_string())
            } else if running && changes.iter().any(|c| c.field() == "config") {
                Some("the configuration changes: supervisorctl update restarts the group".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                changes.push(Change::refresh(Refresh::Restart, why));
            }
        }
        let action = if state.conf.is_none() {
            Action::Create
        } else if changes.iter().all(Change::is_refresh) {
            Action::Refresh
        } else {
            Action::Change
        };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("n", &self.name);
        sh.set("p", &self.path);
        if self.want == Want::Absent {
            sh.raw("rm -f -- \"$p\"\n");
            sh.raw("if command -v supervisorctl >/dev/null 2>&1 && [ \"$(supervisorctl pid 2>/dev/null | tr -cd 0-9)\" ]; then\n");
            sh.raw("supervisorctl reread\n");
            sh.raw("out=$(supervisorctl update \"$n\" 2>&1) || case $out in *'no such group'*) ;; *) printf '%s\\n' \"$out\" >&2; exit 1;; esac\n");
            sh.raw("printf '%s\\n' \"$out\"\nfi\n");
            return;
        }
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        let writes = has("config");
        let loaded = matches!(&state.daemon, Daemon::Up(p) if p.len() == self.numprocs as usize);
        let owed =
            diff.changes.iter().any(|c| c.refreshes(Refresh::Restart) && c.after() == Some("owed by an earlier run"));
        sh.raw("[ -d ")
            .q(CONF_DIR)
            .raw(" ] || { echo ")
            .q(&format!("supervisor is not installed (no {CONF_DIR})"))
            .raw(" >&2; exit 1; }\n");
        sh.raw("cv_restarted=\n");
        if writes {
            // the restart this change owes survives a run that dies before `update`
            sh.raw("mkdir -p -- \"$CV_STATE/owed\" && : > \"$CV_STATE/owed/\"").q(&self.owed()).nl();
            sh.raw(
                "old=$(mktemp)\nif [ -f \"$p\" ]; then cp -p -- \"$p\" \"$old\"; else rm -f -- \"$old\"; old=; fi\n",
            );
            let expected = state.conf.as_ref().map(|c| c.sha256.as_str());
            let mode: u32 = if self.conf.sensitive { 0o600 } else { 0o644 };
            self.conf.write(expected, sh, |sh| {
                sh.raw("chown root:root \"$tmp\"; chmod ").mode(mode).raw(" \"$tmp\"\n");
            });
            sh.raw("if [ -n \"$old\" ]; then trap 'rm -f -- \"$old\"' EXIT; fi\n");
        }
        // supervisord may just have been installed and still be starting
        sh.raw("i=0; until [ \"$(supervisorctl pid 2>/dev/null | tr -cd 0-9)\" ]; do i=$((i+1)); if [ $i -ge ")
            .num(DAEMON_WAIT_POLLS)
            .raw(" ]; then supervisorctl pid >&2; echo 'supervisord is not running: manage it with service \"supervisor\" state=\"running\"' >&2; exit 1; fi; sleep 0.5; done\n");
        if writes || !loaded || owed {
            sh.raw("if ! out=$(supervisorctl reread 2>&1) || printf '%s\\n' \"$out\" | grep -q '^ERROR'; then\n");
            if writes {
                sh.raw("if [ -n \"$old\" ]; then mv -f -- \"$old\" \"$p\"; else rm -f -- \"$p\"; fi\nsupervisorctl reread >/dev/null 2>&1 || true\n");
                sh.raw("printf '%s\\n' \"$out\" >&2; printf '%s\\n' \"supervisor refused the configuration; $p is as it was\" >&2; exit 1\n");
            } else {
                sh.raw("printf '%s\\n' \"$out\" >&2; exit 1\n");
            }
            sh.raw("fi\n");
            if writes {
                sh.raw("[ -z \"$old\" ] || rm -f -- \"$old\"\n");
            }
            sh.raw("printf '%s\\n' \"$out\"\n");
            sh.raw("out=$(supervisorctl update \"$n\" 2>&1) || { printf '%s\\n' \"$out\" >&2; exit 1; }\nprintf '%s\\n' \"$out\"\n");
            sh.raw("case $out in *'updated process group'*|*'added process group'*) cv_restarted=1;; esac\n");
        }
        if self.want == Want::Running {
            if diff.changes.iter().any(Change::is_refresh) {
                sh.raw("if [ -z \"$cv_restarted\" ]; then supervisorctl restart \"$n:*\" || true; fi\n");
            }
            sh.raw("supervisorctl start \"$n:*\" || true\n");
        } else {
            sh.raw("supervisorctl stop \"$n:*\" || true\n");
        }
        self.wait(sh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    pub(super) fn program(want: Want, numprocs: u32, conf: &str) -> SupervisorProgram {
        SupervisorProgram {
            name: "celery".into(),
            path: "/etc/supervisor/conf.d/celery.conf".into(),
            want,
            numprocs,
            wait_polls: 60,
            conf: Desired::new(conf.as_bytes().to_vec(), false),
            deps: Vec::new(),
        }
    }

    pub(super) const RUNNING2: &str = "rc=0\nline=celery:celery_00                 RUNNING   pid 101, uptime 0:01:00\nline=celery:celery_01                 RUNNING   pid 102, uptime 0:01:00\n";

    fn conf_lines(sha: &str) -> String {
        format!("conf=file\nsha256={sha}\n")
    }

    #[test]
    fn in_sync_when_the_file_matches_and_every_process_runs() {
        let p = program(Want::Running, 2, "[program:celery]\n");
        let out = format!("{RUNNING2}{}", conf_lines(&p.conf.sha256));
        let s = p.parse(&out).expect("parse");
        assert!(p.diff(&s, &PlanCx::default()).is_ok());
        // one of two processes only
        let one = format!(
            "rc=0\nline=celery:celery_00 RUNNING pid 1, uptime 0:00:09\nline=celery:celery_01 FATAL Exited too quickly\n{}",
            conf_lines(&p.conf.sha256)
        );
        let s = p.parse(&one).expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("status", "RUNNING, FATAL", "RUNNING (2 processes)")]);
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        let text = sh.text();
        assert!(!text.contains("reread") && !text.contains("base64"), "{text}");
        assert!(text.contains("supervisorctl start \"$n:*\""), "{text}");
    }

    #[test]
    fn a_new_program_is_written_reread_added_and_waited_for() {
        let p = program(Want::Running, 1, "[program:celery]\ncommand=/bin/sleep 1000\n");
        let s = p.parse("ctl=absent\nconf=absent\n").expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["config", "status"]);
        assert_eq!(diff.changes[1], Change::set("status", "supervisor not installed", "RUNNING"));
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        let text = sh.text();
        let order = [
            "owed/",
            "base64 -d",
            "mv -f -- \"$tmp\" \"$p\"",
            "supervisorctl reread",
            "supervisorctl update \"$n\"",
            "supervisorctl start",
        ];
        let mut at = 0;
        for needle in order {
            let found = text[at..].find(needle).unwrap_or_else(|| panic!("{needle} missing after {at}:\n{text}"));
            at += found;
        }
        assert!(text.contains("chmod 0644 \"$tmp\""), "{text}");
        assert!(text.contains("supervisor refused the configuration"), "{text}");
    }

    #[test]
    fn a_changed_config_of_a_running_program_says_it_restarts() {
        let p = program(Want::Running, 2, "new\n");
        let out = format!("{RUNNING2}{}--body--\nb2xkCg==\n", conf_lines(&"a".repeat(64)));
        let s = p.parse(&out).expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        assert_eq!(diff.changes[0].field(), "config");
        assert!(
            matches!(diff.changes[0].content_shown(), Some(super::super::Content::Text { before, .. }) if before == "old\n")
        );
        assert_eq!(diff.changes[1].field(), "restart");
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        assert!(sh.text().contains("if [ -z \"$cv_restarted\" ]; then supervisorctl restart"), "{}", sh.text());
    }

    #[test]
    fn notified_restarts_only_when_running_is_wanted() {
        let p = program(Want::Running, 2, "x");
        let s = p.parse(&format!("{RUNNING2}{}", conf_lines(&p.conf.sha256))).expect("parse");
        let cx = PlanCx { notified_by: vec![ResourceId::new("git", "/srv/app")], ..PlanCx::default() };
        let diff = p.diff(&s, &cx);
        assert_eq!(diff.action, Action::Refresh);
        assert_eq!(diff.changes, vec![Change::refresh(Refresh::Restart, "notified by git:/srv/app")]);
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        assert!(!sh.text().contains("reread"), "{}", sh.text());
        let stopped = program(Want::Stopped, 2, "x");
        let s = stopped
            .parse(&format!(
                "rc=3\nline=celery:celery_00 STOPPED Not started\nline=celery:celery_01 STOPPED Not started\n{}",
                conf_lines(&stopped.conf.sha256)
            ))
            .expect("parse");
        assert!(stopped.diff(&s, &cx).is_ok());
    }

    #[test]
    fn absent_removes_the_file_and_the_group() {
        let p = program(Want::Absent, 1, "");
        let s = p
            .parse(&format!("rc=0\nline=celery RUNNING pid 5, uptime 0:00:04\n{}", conf_lines(&"b".repeat(64))))
            .expect("parse");
        let diff = p.diff(&s, &PlanCx::default());
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes.len(), 2);
        let mut sh = Sh::new();
        p.steps(&s, &diff, &mut sh);
        assert!(sh.text().contains("rm -f -- \"$p\""));
        assert!(sh.text().contains("supervisorctl update \"$n\""));
        let gone = p.parse("rc=4\nline=celery: ERROR (no such group)\nconf=absent\n").expect("parse");
        assert!(p.diff(&gone, &PlanCx::default()).is_ok());
        let down = p.parse("rc=4\nline=unix:///var/run/supervisor.sock no such file\nconf=absent\n").expect("parse");
        assert!(p.diff(&down, &PlanCx::default()).is_ok());
    }
}
