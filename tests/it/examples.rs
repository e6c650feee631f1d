//! Everything written as an example is checked: every playbook and example in the repo,
//! every KDL block of docs/language.md and of the `//!` docs in src/, the registry of
//! kinds against the files in src/resources, and the `--help` texts.

use std::path::Path;

use crate::markdown::kdl_blocks;
use crate::support::{Project, repo};

/// The `//!` documentation of a Rust file, as markdown.
fn module_doc(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    text.lines()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The environment variables a playbook's secrets come from (`env="NAME"`).
fn secret_vars(text: &str) -> Vec<String> {
    text.split("env=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_string).collect()
}

/// Runs `converge check` on a snippet, with empty stand-ins for the files it names.
fn check_snippet(origin: &str, snippet: &str) {
    let p = Project::new();
    for key in ["template=\"", "source=\""] {
        for part in snippet.split(key).skip(1) {
            let path = part.split('"').next().unwrap_or("");
            if !path.contains("{{") {
                p.file(path, "");
            }
        }
    }
    // a key must look like one (`apt-repository`)
    for part in snippet.split("key-source=\"").skip(1) {
        p.file(part.split('"').next().unwrap_or(""), crate::support::STAND_IN_KEY);
    }
    // secrets read from the environment get a stand-in value
    let vars = secret_vars(snippet);
    let env: Vec<(&str, &str)> = vars.iter().map(|v| (v.as_str(), "stand-in secret")).collect();
    // snippets that declare no host are checked against their own variables
    p.file("playbook.kdl", snippet);
    let run = crate::support::converge_env(p.path(), &["check", "playbook.kdl"], &env);
    assert_eq!(run.code, 0, "{origin}: example does not check:\n{snippet}\n{}", run.stderr);
}

#[test]
fn every_kdl_block_in_the_docs_checks() {
    let mut docs = vec![repo().join("docs/language.md"), repo().join("docs/porting-from-ansible.md")];
    for entry in std::fs::read_dir(repo().join("docs/kinds")).expect("docs/kinds") {
        docs.push(entry.expect("entry").path());
    }
    let mut n = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).expect("read doc");
        for (i, b) in kdl_blocks(&text).iter().enumerate() {
            check_snippet(&format!("{} block {i}", doc.display()), b);
            n += 1;
        }
    }
    assert!(n >= 12, "found {n} blocks");
}

#[test]
fn every_kind_has_a_reference_page_linked_from_the_language_doc() {
    let language = std::fs::read_to_string(repo().join("docs/language.md")).expect("language.md");
    for def in converge::resources::KINDS {
        let page = repo().join("docs/kinds").join(format!("{}.md", def.name));
        let text = std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("{} is missing", page.display()));
        assert!(!kdl_blocks(&text).is_empty(), "{} has no KDL example", page.display());
        assert!(
            language.contains(&format!("(kinds/{}.md)", def.name)),
            "docs/language.md does not link {}",
            page.display()
        );
    }
}

/// The Rust files of a source directory and of its module directories (`package/mod.rs`,
/// `package/apt.rs`).
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The file that holds a kind: `src/resources/<kind>.rs`, or `src/resources/<kind>/mod.rs`
/// for a kind split into providers or parts.
fn kind_file(name: &str) -> std::path::PathBuf {
    let base = repo().join("src/resources").join(name.replace('-', "_"));
    let dir = base.join("mod.rs");
    if dir.is_file() { dir } else { base.with_extension("rs") }
}

#[test]
fn every_kdl_example_in_module_docs_checks() {
    let mut checked = 0;
    for dir in ["src/resources", "src/playbook"] {
        for path in rust_files(&repo().join(dir)) {
            for (i, b) in kdl_blocks(&module_doc(&path)).iter().enumerate() {
                check_snippet(&format!("{} block {i}", path.display()), b);
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} examples found");
}

#[test]
fn every_kind_has_a_documented_example() {
    for def in converge::resources::KINDS {
        let file = kind_file(def.name);
        let doc = module_doc(&file);
        assert!(
            kdl_blocks(&doc).iter().any(|b| b.lines().any(|l| l.starts_with(def.name))),
            "{} has no KDL example in its //! doc",
            file.display()
        );
    }
}

/// Files in src/resources that are shared parts, not kinds.
const NOT_KINDS: &[&str] = &["mod", "content", "ownership", "psql", "record", "runas", "testing", "validate"];

#[test]
fn every_kind_file_is_registered() {
    let registered: Vec<String> = converge::resources::KINDS.iter().map(|k| k.name.replace('-', "_")).collect();
    for entry in std::fs::read_dir(repo().join("src/resources")).expect("dir") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        // a kind split into parts is a directory with a mod.rs
        let is_module = path.is_file() || path.join("mod.rs").is_file();
        if is_module && !NOT_KINDS.contains(&stem.as_str()) {
            assert!(registered.contains(&stem), "src/resources/{stem} is not in KINDS (or add it to NOT_KINDS)");
        }
    }
}

#[test]
fn every_playbook_and_example_checks() {
    let mut n = 0;
    for dir in ["playbooks", "examples"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("");
            if !name.ends_with(".kdl") || name.ends_with(".inventory.kdl") {
                continue;
            }
            if name.ends_with(".sandbox.kdl") {
                // an inventory for `converge sandbox`: checked with its playbook
                let playbook = format!("{dir}/{}", name.replace(".sandbox.kdl", ".kdl"));
                let vars = secret_vars(&std::fs::read_to_string(repo().join(&playbook)).expect("read playbook"));
                let env: Vec<(&str, &str)> = vars.iter().map(|v| (v.as_str(), "stand-in secret")).collect();
                let run = crate::support::converge_env(
                    &repo(),
                    &["check", &playbook, "--inventory", &format!("{dir}/{name}")],
                    &env,
                );
                assert_eq!(run.code, 0, "{dir}/{name}:\n{}", run.stderr);
                continue;
            }
            let rel = format!("{dir}/{name}");
            let text = std::fs::read_to_string(&path).expect("read playbook");
            let vars = secret_vars(&text);
            let env: Vec<(&str, &str)> = vars.iter().map(|v| (v.as_str(), "stand-in secret")).collect();
            let run = crate::support::converge_env(&repo(), &["check", &rel], &env);
            assert_eq!(run.code, 0, "{rel}:\n{}", run.stderr);
            n += 1;
        }
    }
    assert!(n >= 3);
    // the example inventory retargets its playbook
    let run = crate::support::converge_in(
        &repo(),
        &["check", "examples/static-site.kdl", "--inventory", "examples/staging.inventory.kdl"],
    );
    run.expect(0);
    assert!(run.stdout.contains("(1 host, 9 resources in all)"), "{}", run.stdout);
}

#[test]
fn help_texts() {
    let p = Project::new();
    for cmd in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["diff", "--help"],
        vec!["apply", "--help"],
        vec!["sandbox", "--help"],
        vec!["facts", "--help"],
        vec!["run", "--help"],
        vec!["graph", "--help"],
        vec!["completions", "--help"],
        vec!["man", "--help"],
    ] {
        let run = p.converge(&cmd);
        run.expect(0);
        insta::assert_snapshot!(format!("help_{}", cmd[0].trim_start_matches('-')), run.stdout);
    }
}
