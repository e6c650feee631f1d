//! Rolling batches on three containers: `--serial 1` converges one host at a time, each
//! done before the next is contacted (read from the `--log` events); a failed batch stops
//! the rollout and leaves the hosts after it untouched ("not run", exit 1), unless
//! `--max-fail-percentage` allows it. Each host is checked with `cat`.

use crate::kinds::boot;
use crate::support::Project;

fn playbook(version: &str) -> String {
    format!(
        "file \"/srv/release\" content=\"{version}\\n\"\n\
         exec \"broken-on-b\" command=\"exit 3\" creates=\"/srv/never\" when=\"host.name == 'b'\" require=\"file:/srv/release\"\n"
    )
}

#[test]
fn a_rolling_apply_goes_a_batch_at_a_time_and_stops_at_a_failed_batch() {
    let (a, b, c) = (boot("a"), boot("b"), boot("c"));
    let p = Project::new();
    let target = p.target(&[("a", &a), ("b", &b), ("c", &c)]);
    let apply = |extra: &[&str]| {
        let mut args: Vec<&str> = vec!["apply", "playbook.kdl", "--format", "json"];
        args.extend(target.iter().map(String::as_str));
        args.extend(extra);
        p.converge(&args)
    };
    let release = |h: &converge::sandbox::Container| h.sh_ok("cat /srv/release 2>/dev/null || echo none");

    // one at a time, in inventory order: a's `done` comes before b is contacted, and so on
    p.file("playbook.kdl", &playbook("v1").replace("host.name == 'b'", "false"));
    apply(&["--serial", "1", "--log", "run.jsonl"]).expect(0);
    let log = std::fs::read_to_string(p.path().join("run.jsonl")).expect("the log");
    let events: Vec<(String, String)> = log
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            (v["host"].as_str().unwrap_or("").to_string(), v["event"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let at = |host: &str, event: &str| {
        events.iter().position(|(h, e)| h == host && e == event).unwrap_or_else(|| panic!("{host} {event} in {log}"))
    };
    assert!(at("a", "done") < at("b", "connecting"), "{log}");
    assert!(at("b", "done") < at("c", "connecting"), "{log}");
    for h in [&a, &b, &c] {
        assert_eq!(release(h), "v1\n");
    }

    // b fails: a is on v2, c is not touched and reported "not run"
    p.file("playbook.kdl", &playbook("v2"));
    let stopped = apply(&["--serial", "1"]);
    stopped.expect(1);
    let report = stopped.json();
    let status = |k: usize| report["hosts"][k]["status"].as_str().unwrap_or("").to_string();
    assert_eq!([status(0), status(1), status(2)], ["converged", "failed", "not_run"], "{report}");
    let why = report["hosts"][2]["error"].as_str().unwrap_or("");
    assert!(why.contains("not run: batch 2 of 3 failed on b (more than --max-fail-percentage 0%)"), "{why}");
    assert_eq!(report["hosts"][2]["exchanges"], 0);
    assert_eq!((release(&a), release(&b), release(&c)), ("v2\n".into(), "v2\n".into(), "v1\n".into()));

    // a failure the rollout may take: c is converged, the run still exits 1 for b
    let allowed = apply(&["--serial", "1", "--max-fail-percentage", "100"]);
    allowed.expect(1);
    assert_eq!(release(&c), "v2\n");
    assert_eq!(allowed.json()["hosts"][2]["status"], "converged");
}
