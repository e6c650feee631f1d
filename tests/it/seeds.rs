//! What the seed playbooks' tests share: the baseline every seed test pins. Each seed
//! test converges its playbook with its sandbox inventory (playbooks/NAME.sandbox.kdl),
//! exactly as `converge sandbox` does: the playbook makes its own stand-ins for the
//! outside world (GitHub, the references CSV) on the host.

use crate::masked::masked;
use crate::support::Run;

/// The baseline of a seed playbook, pinned for the changes to the engine that follow:
/// the plan (human and JSON) on the fresh host, the cold apply's report, the plan on the
/// converged host and the no-op apply's report, each as insta snapshots named
/// `NAME_STAGE`. The human text of an apply is rendered from its JSON report (one apply
/// cannot be run twice); for the plans, the CLI's own human output is checked against
/// the rendering of its JSON first. What differs from run to run is masked: timings,
/// the host's address, package versions (whatever the image's mirror had), commit ids
/// (the test's upstream repository is made afresh) and image ids. `run(command, format)` runs converge on the seed's host. Returns the
/// cold apply's report; fails unless it converged and the second apply changed nothing.
pub fn baseline(name: &str, address: &str, run: impl Fn(&str, &str) -> Run) -> serde_json::Value {
    let plan = |stage: &str, code: i32| {
        let json = run("diff", "json");
        json.expect(code);
        let human = run("diff", "human");
        human.expect(code);
        let report: converge::report::Report = serde_json::from_str(&json.stdout).expect("the report reads back");
        // the first run of a playbook that reads facts gathers them (and says so); the
        // second finds them kept: the same plan, but for that line
        let first_contact =
            |s: &str| s.lines().filter(|l| !l.starts_with("  facts gathered")).collect::<Vec<_>>().join("\n");
        assert_eq!(
            first_contact(&anstream::adapter::strip_str(&converge::report::human(&report)).to_string()),
            first_contact(&human.stdout),
            "the human plan is the rendering of the JSON one"
        );
        pin(name, stage, &json.json(), address);
    };
    plan("fresh_plan", 2);
    let first = run("apply", "json");
    let report = first.json();
    assert_eq!(
        first.code,
        0,
        "first apply failed:\n{}",
        serde_json::to_string_pretty(&failures(&report)).unwrap_or_default()
    );
    pin(name, "fresh_apply", &report, address);
    plan("converged_plan", 0);
    let second = run("apply", "json");
    second.expect(0);
    let again = second.json();
    assert_eq!(again["summary"]["changed"], 0, "second apply changed something:\n{}", second.stdout);
    assert_eq!(again["hosts"][0]["exchanges"], 1, "a no-op apply is one exchange");
    pin(name, "converged_apply", &again, address);
    report
}

/// Snapshots a report as JSON and as the human text, masked (see [`baseline`]).
fn pin(name: &str, stage: &str, report: &serde_json::Value, address: &str) {
    let text = masked(report, address);
    let report: converge::report::Report = serde_json::from_str(&text).expect("the report reads back");
    insta::assert_snapshot!(format!("{name}_{stage}_json"), text);
    insta::assert_snapshot!(
        format!("{name}_{stage}"),
        anstream::adapter::strip_str(&converge::report::human(&report)).to_string()
    );
}

/// The resources of a report that did not end well, for a readable failure.
pub fn failures(report: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for h in report["hosts"].as_array().into_iter().flatten() {
        if let Some(e) = h.get("error") {
            out.push(e.clone());
        }
        for r in h["resources"].as_array().into_iter().flatten() {
            if r.get("error").is_some() {
                out.push(serde_json::json!({ "id": r["id"], "result": r["result"], "error": r["error"] }));
            }
        }
    }
    out
}
