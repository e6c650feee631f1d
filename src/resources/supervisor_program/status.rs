//! What supervisord says: `supervisorctl status` read into each program's processes (one
//! call for every program of a host, the fact [`STATUS`]), how the plan shows it, and the wait
//! for the processes to reach their state after a step.

use super::super::ProbeError;
use super::super::record::Record;
use super::{SupervisorProgram, Want};
use crate::facts::{self, Fact};
use crate::script::Sh;

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

const PROCESS_STATES: &[&str] =
    &["STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"];
/// States supervisor counts as not running.
const STOPPED_STATES: &[&str] = &["STOPPED", "EXITED", "FATAL"];

impl SupervisorProgram {
    /// What the wanted state looks like in a plan.
    pub(super) fn wanted_status(&self) -> String {
        let state = if self.want == Want::Running { "RUNNING" } else { "STOPPED" };
        if self.numprocs == 1 { state.to_string() } else { format!("{state} ({} processes)", self.numprocs) }
    }

    pub(super) fn status_ok(&self, daemon: &Daemon) -> bool {
        let Daemon::Up(procs) = daemon else { return false };
        procs.len() == self.numprocs as usize
            && procs.iter().all(|p| match self.want {
                Want::Running => p.state == "RUNNING",
                _ => STOPPED_STATES.contains(&p.state.as_str()),
            })
    }

    /// Waits until every process is in the wanted state; a FATAL process fails at once.
    pub(super) fn wait(&self, sh: &mut Sh) {
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

/// What a plan shows for what supervisord says.
pub(super) fn observed_status(daemon: &Daemon) -> String {
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

/// One `supervisorctl status` for every program of a host: its output in `$cv_sup`, its
/// exit status in `$cv_sup_rc` (unset without supervisorctl). A failure is each program's
/// to report: the probe of each [`SupervisorProgram`] reads the output and status as its own.
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
pub(super) fn parse_status(rec: &Record, name: &str) -> Result<Daemon, ProbeError> {
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
    use super::super::State;
    use super::super::tests::{RUNNING2, program};
    use super::*;
    use crate::resources::Kind;

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
}
