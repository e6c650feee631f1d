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
//! The configuration is one `[program:NAME]` section, written with the keys in a fixed
//! order so the same wishes always give the same bytes. Values are written so supervisor
//! reads them back exactly: `%` is doubled (supervisor expands `%(name)s` in every value;
//! in log file paths, which it expands twice, it is quadrupled); environment values are
//! quoted with `"` (or `'` when the value holds a `"`), because supervisor splits
//! `environment=` on commas outside quotes. What its INI format cannot hold is refused at
//! the token: a newline, a `;` or `#` after a space (an inline comment), leading or
//! trailing spaces (stripped), an environment value holding both quote characters or
//! starting or ending with one (supervisor strips quotes at either end).
//!
//! Probed with `supervisorctl status` (one call for every program of a host; `NAME:*`
//! alone for a single program) and the file's sha256 (and its text, for the diff). Applied by writing the file
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

use super::content::{self, Desired};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, Refresh, ResourceId, parent_dirs};
use crate::diag::{Diag, Spanned};
use crate::facts::{self, Fact, Need};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

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

/// What supervisord says about the program's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Daemon {
    /// No `supervisorctl` on the host.
    NotInstalled,
    /// supervisorctl cannot reach supervisord (its message).
    Down(String),
    /// supervisord answers; the group's processes (none: the group is not loaded).
    Up(Vec<Process>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub name: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub daemon: Daemon,
    /// The configuration file, `None` when absent.
    pub conf: Option<content::Observed>,
}

const PROCESS_STATES: &[&str] =
    &["STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"];
/// States supervisor counts as not running.
const STOPPED_STATES: &[&str] = &["STOPPED", "EXITED", "FATAL"];

/// Program (group) names: what supervisor accepts in a section name and a file name,
/// never an option to supervisorctl, and not `all` (which supervisorctl reads as every
/// program).
fn valid_program_name(n: &str) -> bool {
    n != "all"
        && !n.is_empty()
        && n.len() <= 64
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Why a value cannot stand in supervisor's INI file as it is, if it cannot.
fn ini_problem(v: &str, quoted: bool) -> Option<&'static str> {
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
fn pct(v: &str) -> String {
    v.replace('%', "%%")
}

/// An environment value as `environment=` needs it: quoted, `%` doubled.
fn env_value(v: &str) -> Result<String, &'static str> {
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

fn valid_env_name(n: &str) -> bool {
    n.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Reports a value supervisor would misread; true when it is fine.
fn check_value(r: &mut NodeReader, v: &Spanned<String>, key: &str) -> bool {
    match ini_problem(&v.value, false) {
        None => true,
        Some(why) => {
            r.error(Diag::new("converge::supervisor", format!("`{key}` cannot be written as it is"), &v.at, why));
            false
        }
    }
}

/// The `[program:NAME]` section, one key per line in a fixed order.
#[derive(Debug, Default)]
struct Section {
    lines: Vec<(&'static str, String)>,
}

impl Section {
    fn put(&mut self, key: &'static str, value: impl Into<String>) {
        self.lines.push((key, value.into()));
    }
    fn opt<T: ToString>(&mut self, key: &'static str, value: Option<T>) {
        if let Some(v) = value {
            self.put(key, v.to_string());
        }
    }
    fn render(&self, name: &str) -> String {
        let mut out = String::from("; managed by converge: changes made here are overwritten\n");
        out.push_str(&format!("[program:{name}]\n"));
        for (k, v) in &self.lines {
            out.push_str(&format!("{k}={v}\n"));
        }
        out
    }
}

impl SupervisorProgram {
    fn owed(&self) -> String {
        ResourceId::new(Self::KIND, self.name.clone()).owed_key()
    }

    /// What the wanted state looks like in a plan.
    fn wanted_status(&self) -> String {
        let state = if self.want == Want::Running { "RUNNING" } else { "STOPPED" };
        if self.numprocs == 1 { state.to_string() } else { format!("{state} ({} processes)", self.numprocs) }
    }

    fn status_ok(&self, daemon: &Daemon) -> bool {
        let Daemon::Up(procs) = daemon else { return false };
        procs.len() == self.numprocs as usize
            && procs.iter().all(|p| match self.want {
                Want::Running => p.state == "RUNNING",
                _ => STOPPED_STATES.contains(&p.state.as_str()),
            })
    }
}

/// What a plan shows for what supervisord says.
fn observed_status(daemon: &Daemon) -> String {
    match daemon {
        Daemon::NotInstalled => "supervisor not installed".into(),
        Daemon::Down(_) => "supervisord not running".into(),
        Daemon::Up(p) if p.is_empty() => "not loaded".into(),
        Daemon::Up(p) => {
            let first = &p[0].state;
            if p.iter().all(|x| &x.state == first) {
                if p.len() == 1 { first.clone() } else { format!("{first} ({} processes)", p.len()) }
            } else {
                p.iter().map(|x| x.state.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
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
                    "converge::supervisor",
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
                Diag::new("converge::missing", "a supervisor program needs its `command`", &at, "no command")
                    .help("write `command=\"/path/to/program --args\"`"),
            );
        }
        let mut ok = true;
        if let Some(c) = &command {
            ok &= check_value(r, c, "command");
            if ok && shlex::split(&c.value).is_none_or(|w| w.is_empty()) {
                r.error(
                    Diag::new(
                        "converge::supervisor",
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
            r.error(Diag::new("converge::supervisor", format!("`{}` is not a user name", u.value), &u.at, "invalid"));
        }
        if let Some(d) = &directory {
            ok &= check_value(r, d, "directory");
            if !d.value.starts_with('/') {
                r.error(Diag::new("converge::path", "`directory` must be absolute", &d.at, "must start with /"));
            }
        }
        for (key, lf) in [("stdout-logfile", &stdout_logfile), ("stderr-logfile", &stderr_logfile)] {
            if let Some(l) = lf {
                ok &= check_value(r, l, key);
                if !l.value.starts_with('/') && l.value != "NONE" && l.value != "AUTO" {
                    r.error(Diag::new(
                        "converge::path",
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
            r.error(Diag::new("converge::range", "`numprocs` must be at least 1", &n.at, "zero"));
        }
        if stopasgroup == Some(true) && killasgroup == Some(false) {
            let at = r.at();
            r.error(Diag::new(
                "converge::supervisor",
                "supervisor refuses stopasgroup=#true with killasgroup=#false",
                &at,
                "conflicting options",
            ));
        }
        let mut env_line = Vec::new();
        for (k, v) in &env {
            if !valid_env_name(&k.value) {
                r.error(Diag::new(
                    "converge::supervisor",
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
                        "converge::supervisor",
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
                changes.push(Change::new("config", Some(content::short(&c.sha256)), None));
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

impl SupervisorProgram {
    /// Waits until every process is in the wanted state; a FATAL process fails at once.
    fn wait(&self, sh: &mut Sh) {
        let want: &'static str = if self.want == Want::Running { "RUNNING" } else { "STOPPED|EXITED|FATAL" };
        sh.raw("cv_count() { printf '%s\\n' \"$st\" | grep -Ec \"^[^ ]+ +($1)( |\\$)\" || true; }\n");
        sh.raw("i=0\nwhile :; do\nst=$(supervisorctl status \"$n:*\" 2>&1) || true\n");
        sh.raw("if [ \"$(cv_count '")
            .raw(want)
            .raw("')\" -eq ")
            .num(self.numprocs)
            .raw(" ] && [ \"$(cv_count '[A-Z]+')\" -eq ")
            .num(self.numprocs)
            .raw(" ]; then break; fi\n");
        if self.want == Want::Running {
            // what the program printed says why: the last lines of its log
            sh.raw("if [ \"$(cv_count FATAL)\" -gt 0 ]; then printf '%s\\n' \"$st\" >&2; printf '%s\\n' \"$n did not start; the end of its output:\" >&2; ");
            sh.raw("for p in $(printf '%s\\n' \"$st\" | awk '$2 == \"FATAL\" {print $1}'); do t=$(supervisorctl tail \"$p\" stderr 2>&1 | tail -n 15); [ -n \"$t\" ] || t=$(supervisorctl tail \"$p\" 2>&1 | tail -n 15); printf '%s\\n' \"$t\" >&2; done; exit 1; fi\n");
        }
        sh.raw("i=$((i+1)); if [ $i -ge ")
            .num(self.wait_polls)
            .raw(" ]; then printf '%s\\n' \"$st\" >&2; echo 'timed out waiting for ")
            .raw(want)
            .raw("' >&2; exit 1; fi\nsleep 0.5\ndone\n");
        sh.raw("printf '%s\\n' \"$st\"\n");
    }
}

/// One `supervisorctl status` for every program of a host: its output in `$cv_sup`, its
/// exit status in `$cv_sup_rc` (unset without supervisorctl). A failure is each program's
/// to report: [`SupervisorProgram::probe`] reads the output and status as its own.
pub static STATUS: Fact = Fact {
    name: "supervisor",
    min: 2,
    accepts: facts::any,
    prelude: "",
    gather: |sh, _programs| {
        sh.raw("unset cv_sup_rc\nif command -v supervisorctl >/dev/null 2>&1; then cv_sup=$(supervisorctl status 2>&1); cv_sup_rc=$?; fi\n");
    },
    hand: facts::nothing,
};

/// Whether a `supervisorctl status` line is a process of another group than `name`
/// (`NAME STATE ...` for one process, `NAME:NAME_00 STATE ...` for several).
fn of_another_group(line: &str, name: &str) -> bool {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some(process), Some(state)) if PROCESS_STATES.contains(&state) => {
            process != name && process.strip_prefix(name).is_none_or(|rest| !rest.starts_with(':'))
        }
        _ => false,
    }
}

/// The output of `supervisorctl status NAME:*`, one `line=` per line, or of
/// `supervisorctl status` for every program, one `all=` per line; and its `rc=`.
fn parse_status(rec: &Record, name: &str) -> Result<Daemon, ProbeError> {
    let rc: i32 = rec.num("rc")?;
    let mut procs = Vec::new();
    let all = rec.all("all").into_iter().filter(|l| !of_another_group(l, name));
    for line in rec.all("line").into_iter().chain(all) {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if line.ends_with("no such file") || line.ends_with("refused connection") {
            return Ok(Daemon::Down(line.to_string()));
        }
        if line.ends_with("ERROR (no such group)") {
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(name), Some(state)) if PROCESS_STATES.contains(&state) => {
                procs.push(Process { name: name.to_string(), state: state.to_string() })
            }
            _ => return Err(ProbeError(format!("unexpected supervisorctl output {line:?} (exit status {rc})"))),
        }
    }
    if !matches!(rc, 0 | 3 | 4) {
        return Err(ProbeError(format!("supervisorctl status failed with exit status {rc}")));
    }
    Ok(Daemon::Up(procs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(want: Want, numprocs: u32, conf: &str) -> SupervisorProgram {
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

    const RUNNING2: &str = "rc=0\nline=celery:celery_00                 RUNNING   pid 101, uptime 0:01:00\nline=celery:celery_01                 RUNNING   pid 102, uptime 0:01:00\n";

    fn conf_lines(sha: &str) -> String {
        format!("conf=file\nsha256={sha}\n")
    }

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

    #[test]
    fn parses_status_lines_not_loaded_and_daemon_down() {
        let p = program(Want::Running, 2, "x");
        let s = p.parse(&format!("{RUNNING2}conf=absent\n")).expect("parse");
        let Daemon::Up(procs) = &s.daemon else { panic!("{s:?}") };
        assert_eq!(procs.len(), 2);
        assert_eq!(procs[1], Process { name: "celery:celery_01".into(), state: "RUNNING".into() });
        let s = p.parse("rc=4\nline=celery: ERROR (no such group)\nconf=absent\n").expect("parse");
        assert_eq!(s.daemon, Daemon::Up(vec![]));
        let s = p.parse("rc=4\nline=unix:///var/run/supervisor.sock no such file\nconf=absent\n").expect("parse");
        assert!(matches!(s.daemon, Daemon::Down(_)));
        let s = p.parse("ctl=absent\nconf=absent\n").expect("parse");
        assert_eq!(s.daemon, Daemon::NotInstalled);
        assert!(p.parse("rc=1\nline=Traceback (most recent call last):\nconf=absent\n").is_err());
        assert!(p.parse("rc=0\n").is_err(), "no conf line");
    }

    #[test]
    fn the_status_of_every_program_is_read_for_this_one() {
        let p = program(Want::Running, 2, "x");
        // `supervisorctl status` of all programs: others (`celery2`, `web`) are not ours
        let all = "rc=3\nall=celery2:celery2_00 STOPPED Not started\nall=celery:celery_00 RUNNING pid 7, uptime 0:01:00\n\
                   all=celery:celery_01 FATAL Exited too quickly\nall=web RUNNING pid 9, uptime 0:02:00\nconf=absent\n";
        let s = p.parse(all).expect("parse");
        let names = |s: &State| match &s.daemon {
            Daemon::Up(procs) => procs.iter().map(|p| format!("{} {}", p.name, p.state)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(names(&s), ["celery:celery_00 RUNNING", "celery:celery_01 FATAL"]);
        // a program named like the group of one process
        let one = program(Want::Running, 1, "x");
        let one = SupervisorProgram { name: "web".into(), ..one };
        assert_eq!(names(&one.parse(all).expect("parse")), ["web RUNNING"]);
        // not loaded: no line of its own
        let s = p.parse("rc=0\nall=web RUNNING pid 9, uptime 0:02:00\nconf=absent\n").expect("parse");
        assert_eq!(s.daemon, Daemon::Up(vec![]));
        // the daemon's own errors are everyone's
        let s = p.parse("rc=4\nall=unix:///var/run/supervisor.sock no such file\nconf=absent\n").expect("parse");
        assert!(matches!(s.daemon, Daemon::Down(_)));
        assert!(p.parse("rc=2\nall=Traceback (most recent call last):\nconf=absent\n").is_err());
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
