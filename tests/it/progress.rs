//! Progress while a run goes on: the live lines of a terminal and the plain lines without
//! one (fed a scripted run of three hosts: one converges, one fails a step, one is
//! unreachable), `--quiet`, and `--log` of a real apply whose secret is everywhere.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use converge::apply::Step;
use converge::error::HostError;
use converge::events::{Event, What};
use converge::progress::{ProgressState, Style};
use converge::report::{HostReport, HostStatus};
use converge::transport::TransportError;

use crate::kinds::OnHost;
use crate::support::Project;

const SECRET: &str = "pw-Quokka-7731";

fn ev(job: usize, what: What) -> Event {
    let host = ["web-1", "web-2", "db-10"][job];
    Event { job, host: host.into(), what }
}

fn done(job: usize, status: HostStatus, exchanges: usize, total_ms: u64) -> Event {
    let mut r = HostReport::new(["web-1", "web-2", "db-10"][job].into(), "10.0.0.1".into());
    r.status = status;
    r.exchanges = exchanges;
    r.timings_ms.total = total_ms;
    ev(job, What::Done(Box::new(r)))
}

fn started(job: usize, resource: &str) -> Event {
    ev(job, What::StepStarted { resource: resource.into(), round: 1 })
}

fn finished(job: usize, resource: &str, outcome: Step, ms: Option<u64>) -> Event {
    ev(
        job,
        What::StepFinished { resource: resource.into(), round: 1, outcome, duration: ms.map(Duration::from_millis) },
    )
}

/// A run of three hosts, in the order its events arrive, with the points where a frame is
/// taken: web-1 converges, web-2 fails a step (its secret in the output) and skips what
/// needs it, db-10 is unreachable.
fn scripted() -> Vec<(Event, Option<&'static str>)> {
    let unreachable = TransportError::Unreachable("ssh: connect to host 10.0.0.3 port 22: Connection timed out".into());
    let failure = format!("Traceback (most recent call last):\nconnecting with password={SECRET}\nerror: no database");
    vec![
        (ev(0, What::Connecting), None),
        (ev(1, What::Connecting), None),
        (ev(2, What::Connecting), Some("everyone connecting")),
        (ev(0, What::Connected), None),
        (ev(0, What::Facts { news: "gathered (first contact)".into() }), None),
        (ev(1, What::Connected), None),
        (ev(0, What::Probed { resources: 4 }), None),
        (ev(0, What::Planned { pending: 2 }), None),
        (ev(0, What::Applying { round: 1, steps: 2 }), None),
        (started(0, "package:nginx"), Some("web-1 installs nginx, web-2 probes")),
        (ev(2, What::Failed { error: HostError::Connect(unreachable) }), None),
        (done(2, HostStatus::Unreachable, 0, 10_004), Some("db-10 is unreachable")),
        (ev(1, What::Probed { resources: 3 }), None),
        (ev(1, What::Planned { pending: 2 }), None),
        (ev(1, What::Applying { round: 1, steps: 2 }), None),
        (started(1, "exec:migrate"), None),
        (finished(1, "exec:migrate", Step::Failed(failure), Some(2_310)), None),
        (finished(1, "service:app", Step::Skipped(None), None), Some("web-2's migration failed")),
        (finished(0, "package:nginx", Step::Changed, Some(41_200)), None),
        (started(0, "file:/etc/nginx/sites-enabled/app"), None),
        (finished(0, "file:/etc/nginx/sites-enabled/app", Step::Changed, Some(80)), None),
        (ev(0, What::Verifying { round: 1 }), Some("web-1 verifies")),
        (ev(0, What::Verified { round: 1 }), None),
        (done(1, HostStatus::Failed, 2, 3_900), None),
        (done(0, HostStatus::Converged, 3, 44_700), Some("everyone done")),
    ]
}

/// Feeds the scripted run into a state and writes what a person would see: the lines
/// printed for good as they come and, for a terminal, the frame at each point.
fn rendered(style: Style, verbose: bool) -> String {
    let mut state =
        ProgressState::new(&["web-1".into(), "web-2".into(), "db-10".into()], style, verbose, vec![SECRET.into()]);
    let mut out = String::new();
    for (e, point) in scripted() {
        for line in state.feed(&e) {
            out.push_str(&line);
            out.push('\n');
        }
        if let (Some(point), Style::Live) = (point, style) {
            out.push_str(&format!("---- frame: {point}\n"));
            for line in state.frame() {
                out.push_str(&format!("  {line}\n"));
            }
            out.push_str("----\n");
        }
    }
    out.push_str(&format!("summary: {}\n", state.summary()));
    assert!(!out.contains(SECRET), "the secret was shown:\n{out}");
    out
}

#[test]
fn a_terminal_shows_a_line_per_host_at_work_and_folds_those_done_into_the_summary() {
    let live = rendered(Style::Live, false);
    assert!(live.contains("summary: 3 hosts done: 1 converged, 1 failed, 1 unreachable"), "{live}");
    insta::assert_snapshot!("progress_live", live);
    insta::assert_snapshot!("progress_live_verbose", rendered(Style::Live, true));
}

#[test]
fn without_a_terminal_each_event_worth_a_line_is_one_line_prefixed_with_the_host() {
    let plain = rendered(Style::Plain, false);
    assert!(plain.lines().all(|l| l.starts_with("web-") || l.starts_with("db-10: ") || l.starts_with("summary")));
    assert!(!plain.contains("no database"), "the output is for --verbose:\n{plain}");
    insta::assert_snapshot!("progress_plain", plain);
    let verbose = rendered(Style::Plain, true);
    assert!(verbose.contains("web-2:   | error: no database"), "{verbose}");
    insta::assert_snapshot!("progress_plain_verbose", verbose);
}

#[test]
fn quiet_prints_nothing_on_stderr_and_the_report_still_on_stdout() {
    let p = Project::new();
    let dir = p.path().join("here");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    p.file(
        "playbook.kdl",
        &format!("host \"here\" connection=\"local\"\ndirectory \"{}\" mode=\"0750\"\n", dir.display()),
    );
    let quiet = p.converge(&["diff", "playbook.kdl", "--quiet"]);
    quiet.expect(0);
    assert_eq!(quiet.stderr, "", "--quiet printed progress");
    assert!(quiet.stdout.contains("here"), "{}", quiet.stdout);
    // without --quiet and without a terminal: the plain lines, and the same report
    let loud = p.converge(&["diff", "playbook.kdl"]);
    loud.expect(0);
    assert_eq!(loud.stdout, quiet.stdout);
    assert!(loud.stderr.contains("here: connected\n"), "{}", loud.stderr);
    assert!(loud.stderr.ends_with("1 host done: 1 in sync\n"), "{}", loud.stderr);
    // JSON without a terminal: stderr stays quiet unless --verbose asks for the lines
    let json = p.converge(&["diff", "playbook.kdl", "--format", "json"]);
    json.expect(0);
    assert_eq!(json.stderr, "");
    assert_eq!(json.json()["hosts"][0]["status"], "in_sync");
    let json = p.converge(&["diff", "playbook.kdl", "--format", "json", "-v"]);
    assert!(json.stderr.contains("here: done: in sync"), "{}", json.stderr);
    json.json();
    // -q and -v contradict each other
    p.converge(&["diff", "playbook.kdl", "-q", "-v"]).expect(1);
}

#[test]
fn the_log_holds_every_event_as_json_with_the_secret_masked_and_is_the_owners_only() {
    const VAR: &str = "CONVERGE_TEST_PROGRESS_SECRET";
    let playbook = format!(
        "secrets {{ db_password env=\"{VAR}\" }}\n\
         file \"/etc/app.conf\" content=\"password={{{{ db_password }}}}\\n\" mode=\"0600\"\n\
         exec \"connect\" command=\"echo connecting with {{{{ db_password }}}} >&2; exit 4\" creates=\"/nonexistent\" require=\"file:/etc/app.conf\"\n"
    );
    let h = OnHost::new(&playbook);
    let mut args: Vec<String> = vec!["apply".into(), "playbook.kdl".into()];
    args.extend(h.project_args());
    args.extend(["--log".into(), "run.log".into(), "-v".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = crate::support::converge_env(h.project.path(), &argv, &[(VAR, SECRET)]);
    run.expect(1);
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET), "{}\n{}", run.stdout, run.stderr);
    // the failed step's output, masked, under its line (-v)
    assert!(run.stderr.contains("t:   | connecting with ********"), "{}", run.stderr);
    // the secret did reach the host
    assert_eq!(h.sh("cat /etc/app.conf"), format!("password={SECRET}\n"));

    let path = h.project.path().join("run.log");
    let mode = std::fs::metadata(&path).expect("the log").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the log's mode is {mode:o}");
    let text = std::fs::read_to_string(&path).expect("the log");
    assert!(!text.contains(SECRET), "the log holds the secret:\n{text}");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    for l in &lines {
        let time = l["time"].as_str().unwrap_or_else(|| panic!("no time: {l}"));
        assert!(humantime::parse_rfc3339(time).is_ok() && time.ends_with('Z') && time.len() == 24, "{time}");
        assert_eq!(l["host"], "t", "{l}");
    }
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().expect("event")).collect();
    assert_eq!(
        events,
        [
            "connecting",
            "connected",
            "probed",
            "planned",
            "applying",
            "step_started",
            "step_finished",
            "step_started",
            "step_finished",
            "verifying",
            "verified",
            "done"
        ],
        "{text}"
    );
    let failed = lines.iter().find(|l| l["outcome"] == "failed").expect("a failed step");
    assert_eq!(failed["resource"], "exec:connect");
    assert!(failed["output"].as_str().is_some_and(|o| o.contains("connecting with ********")), "{failed}");
    assert!(failed["duration_ms"].is_u64(), "{failed}");
    let last = lines.last().expect("lines");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["report"]["resources"][0]["result"], "changed", "{last}");
}
