//! `--log FILE`: every event of a run as one JSON line, written as it arrives.
//!
//! ```text
//! {"time":"2026-05-04T09:12:01.532Z","host":"web-1","job":0,"event":"step_finished","duration_ms":412,"outcome":"failed","output":"...","resource":"exec:migrate","round":1}
//! ```
//!
//! Each line has `time` (RFC 3339, UTC, milliseconds), `host`, `job` (the host's place
//! in the run), `event` (its type, snake_case) and then the event's fields (in name
//! order); `done` carries the
//! host's whole report, as `--format json` shows it. Every string in a line is masked with
//! the run's secrets before it is written (the report's own masking, applied again to
//! everything, so that nothing a host printed can carry a secret into the file), and a
//! failed step's output is there, masked. The file is created with mode 0600 (the mode is
//! set again when it already existed) and flushed after every line, so a run that dies
//! leaves every event up to its end.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::apply::Step;
use crate::events::{Event, What};
use crate::resources::mask;

/// An open event log.
#[derive(Debug)]
pub struct EventLog {
    file: File,
    secrets: Vec<String>,
}

impl EventLog {
    /// Creates (or truncates) the log at `path`, readable by its owner only.
    pub fn create(path: &Path, secrets: Vec<String>) -> io::Result<EventLog> {
        let file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        // an existing file keeps its mode through open(): narrow it
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(EventLog { file, secrets })
    }

    /// Writes one event as a line, now. A log that cannot be written is no reason to stop
    /// converging: the error is returned for the caller to say once.
    pub fn write(&mut self, e: &Event) -> io::Result<()> {
        let mut text = line(e, SystemTime::now(), &self.secrets)?;
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

/// One line of the log: the stamp, the host and the event's type first, then its fields.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    host: String,
    job: usize,
    event: &'a str,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// An event as a JSON line (no newline), stamped with `at`, every string masked with
/// `secrets`.
pub fn line(e: &Event, at: SystemTime, secrets: &[String]) -> io::Result<String> {
    let (event, fields) = fields(&e.what);
    let mut fields = match fields {
        Value::Object(f) => f,
        _ => Map::new(),
    };
    fields.values_mut().for_each(|v| mask_strings(v, secrets));
    let line = Line {
        time: humantime::format_rfc3339_millis(at).to_string(),
        host: mask(&e.host, secrets),
        job: e.job,
        event,
        fields,
    };
    serde_json::to_string(&line).map_err(io::Error::other)
}

/// An event's type and fields.
fn fields(what: &What) -> (&'static str, Value) {
    match what {
        What::Connecting => ("connecting", json!({})),
        What::Connected => ("connected", json!({})),
        What::Facts { news } => ("facts", json!({ "news": news })),
        What::Probed { resources } => ("probed", json!({ "resources": resources })),
        What::Planned { pending } => ("planned", json!({ "pending": pending })),
        What::Applying { round, steps } => ("applying", json!({ "round": round, "steps": steps })),
        What::StepStarted { resource, round } => ("step_started", json!({ "resource": resource, "round": round })),
        What::StepFinished { resource, round, outcome, duration } => {
            let mut f = json!({ "resource": resource, "round": round, "outcome": outcome_name(outcome) });
            if let Step::Failed(output) = outcome {
                f["output"] = json!(output);
            }
            if let Some(d) = duration {
                f["duration_ms"] = json!(d.as_millis() as u64);
            }
            ("step_finished", f)
        }
        What::Verifying { round } => ("verifying", json!({ "round": round })),
        What::Verified { round } => ("verified", json!({ "round": round })),
        What::Failed { error } => ("failed", json!({ "error": error.to_string() })),
        What::Done(report) => {
            let report = serde_json::to_value(report.as_ref()).unwrap_or(Value::Null);
            ("done", json!({ "status": report["status"].clone(), "report": report }))
        }
    }
}

fn outcome_name(s: &Step) -> &'static str {
    match s {
        Step::NotRun => "not_run",
        Step::Changed => "changed",
        Step::Unchanged => "in_sync",
        Step::Failed(_) => "failed",
        Step::Skipped(_) => "skipped",
        Step::Stale => "stale",
        Step::Waiting(_) => "waiting",
    }
}

/// Masks every string in a JSON value, keys included.
fn mask_strings(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => *s = mask(s, secrets),
        Value::Array(a) => a.iter_mut().for_each(|x| mask_strings(x, secrets)),
        Value::Object(o) => {
            let taken = std::mem::take(o);
            for (k, mut x) in taken {
                mask_strings(&mut x, secrets);
                o.insert(mask(&k, secrets), x);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn a_line_has_the_time_host_type_and_fields_and_every_string_masked() {
        let e = Event {
            job: 2,
            host: "web-1".into(),
            what: What::StepFinished {
                resource: "exec:hunter2-step".into(),
                round: 1,
                outcome: Step::Failed("echo \"hunter2\"\nfailed".into()),
                duration: Some(Duration::from_millis(1534)),
            },
        };
        let text = line(&e, UNIX_EPOCH + Duration::from_millis(1_700_000_000_123), &["hunter2".into()]).unwrap();
        assert_eq!(
            text,
            r#"{"time":"2023-11-14T22:13:20.123Z","host":"web-1","job":2,"event":"step_finished","duration_ms":1534,"outcome":"failed","output":"echo \"********\"\nfailed","resource":"exec:********-step","round":1}"#
        );
    }

    #[test]
    fn the_file_is_its_owners_only_even_when_it_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.log");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut log = EventLog::create(&path, vec![]).unwrap();
        log.write(&Event { job: 0, host: "a".into(), what: What::Connected }).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("\"event\":\"connected\""), "{text}");
    }
}
