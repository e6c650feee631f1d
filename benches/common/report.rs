//! What the benchmarks write about the machine and where they write it.

use std::path::Path;

/// The CPU model, as /proc/cpuinfo names it (empty when it does not).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}

/// Puts `text` between the `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers of the
/// file at `path` (appended with its markers when they are not there), keeping the rest.
pub fn write_section(path: &Path, name: &str, text: &str) {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if b < e => format!("{}{begin}\n{text}{}", &old[..b], &old[e..]),
        _ => format!("{old}\n{begin}\n{text}{end}\n"),
    };
    std::fs::write(path, new).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
