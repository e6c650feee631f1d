//! A report with what differs from run to run masked: shared by the seed baselines
//! (tests/it/seeds.rs) and the differential benchmark (benches/differential.rs), which
//! compare reports of different runs (included with `#[path]`).

/// A report as pretty JSON with what differs from run to run masked: timings, step
/// durations, the host's address, package versions, commit and image ids, the digest of
/// the host's facts.
pub fn masked(report: &serde_json::Value, address: &str) -> String {
    let mut masked = report.clone();
    for h in masked["hosts"].as_array_mut().into_iter().flatten() {
        h["timings_ms"] = serde_json::json!({});
        // the facts' digest follows the image's os-release, not converge
        if let Some(f) = h.get_mut("facts").and_then(|f| f.as_object_mut()) {
            f.insert("digest".into(), "DIGEST".into());
        }
        for r in h["resources"].as_array_mut().into_iter().flatten() {
            // how long each step ran (in an apply) differs from run to run
            if let Some(r) = r.as_object_mut() {
                r.remove("duration_ms");
            }
            if r["kind"] != "package" {
                continue;
            }
            for c in r["changes"].as_array_mut().into_iter().flatten() {
                for side in ["before", "after"] {
                    if c[side].is_string() && c["field"] != "note" {
                        c[side] = "VERSION".into();
                    }
                }
            }
        }
    }
    let text = serde_json::to_string_pretty(&masked).expect("json").replace(address, "ADDR");
    // image ids, commit ids, and short commit ids as git shows them with their branch
    let ids = regex::Regex::new(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{40}\b|\b[0-9a-f]{7}( \()").expect("regex");
    ids.replace_all(&text, "ID$1").into_owned()
}
