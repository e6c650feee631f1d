//! The playbook loader, end to end as `converge check` runs it: KDL parsing, reading every
//! node, variables and templates, modules, expansion per host, the graph; and rendering
//! whatever diagnostics come out (a span that does not fit its source would panic there).
//! Never a panic, whatever the bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use converge::prepare::check_file;
use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        // a module and a template the inputs may name
        std::fs::write(dir.path().join("m.kdl"), "params {\n    name\n}\ndirectory \"/srv/{{ name }}\"\n")
            .expect("module");
        std::fs::write(dir.path().join("t.j2"), "port = {{ port }}\n").expect("template");
        let path = dir.path().join("playbook.kdl");
        (dir, path)
    });
    std::fs::write(path, text).expect("write");
    let diags = check_file(path, None).err().unwrap_or_default();
    if !diags.is_empty() {
        let _ = converge::diag::render(&diags, false, 100);
    }
});
