//! Host facts on a modelled host: the exchanges they cost (first contact, cached,
//! changed), conditions and loops decided by them, and a fact a step changes read again
//! at verify. The cache is each test's own directory, never the user's.

use converge::engine::Mode;

use crate::host::ModelHost;
use crate::run::{Run, converge_cached};

const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
const RHEL: &str = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n";

/// A playbook that reads the OS facts: one file says which OS, one exists only on Debian,
/// one for each of two users.
const BOOK: &str = r#"vars { users "alice" "bob" }
file "/etc/motd" content="{{ host.facts.os.id }} {{ host.facts.os.version }}\n"
file "/etc/debian-only" content="apt\n" when="host.facts.os.family == 'Debian'"
for "u" in="users" {
    file "/srv/{{ u }}.txt" content="{{ u }} on {{ host.facts.os.family }}\n"
}
"#;

fn run(m: &ModelHost, cache: &std::path::Path, mode: Mode) -> Run {
    converge_cached(m, BOOK, cache, mode)
}

fn facts(r: &Run) -> serde_json::Value {
    serde_json::to_value(r.report.facts.as_ref().expect("the report says where the facts came from")).expect("json")
}

#[test]
fn first_contact_gathers_in_one_more_exchange_then_the_cached_facts_cost_none() {
    let m = ModelHost::new(&[]);
    m.write("/etc/os-release", DEBIAN);
    let cache = tempfile::tempdir().expect("cache");
    let first = run(&m, cache.path(), Mode::Diff);
    assert_eq!(first.count(), 2, "facts, then the probe:\n{}", first.human());
    assert_eq!(facts(&first)["source"], "gathered");
    assert_eq!(facts(&first)["used"], serde_json::json!(["os"]));
    assert!(first.human().contains("facts gathered (first contact): os"), "{}", first.human());
    assert_eq!(
        first.actions(),
        [
            "file:/etc/motd create",
            "file:/etc/debian-only create",
            "file:/srv/alice.txt create",
            "file:/srv/bob.txt create"
        ]
    );
    assert!(first.human().contains("+debian 12"), "the facts reach the content:\n{}", first.human());
    // the cache holds every fact of the host
    let kept = std::fs::read_dir(cache.path()).expect("cache dir").count();
    assert_eq!(kept, 1);

    let applied = run(&m, cache.path(), Mode::Apply);
    assert_eq!(applied.status(), "converged", "{}", applied.human());
    assert_eq!(applied.count(), 3, "probe (with the facts), apply, verify:\n{}", applied.human());
    assert_eq!(facts(&applied)["source"], "cache");
    assert_eq!(m.read("/etc/motd").as_deref(), Some("debian 12\n"));
    assert_eq!(m.read("/srv/bob.txt").as_deref(), Some("bob on Debian\n"));

    let again = run(&m, cache.path(), Mode::Apply);
    assert_eq!(again.count(), 1, "a no-op with the facts cached and unchanged is one exchange:\n{}", again.human());
    assert_eq!(again.status(), "in_sync");
}

#[test]
fn facts_changed_since_the_cache_are_expanded_again_and_probed_again_and_the_plan_says_so() {
    let m = ModelHost::new(&[]);
    m.write("/etc/os-release", DEBIAN);
    let cache = tempfile::tempdir().expect("cache");
    let applied = run(&m, cache.path(), Mode::Apply);
    assert_eq!(applied.status(), "converged", "{}", applied.human());
    // the host is reinstalled as RHEL under the same name
    m.write("/etc/os-release", RHEL);
    let diff = run(&m, cache.path(), Mode::Diff);
    assert_eq!(diff.count(), 2, "the probe, then the probe of the new expansion:\n{}", diff.human());
    let f = facts(&diff);
    assert_eq!(f["source"], "changed");
    assert_eq!(f["changed"][0].as_str().map(|s| s.starts_with("os: {")), Some(true), "{f}");
    let human = diff.human();
    assert!(human.contains("facts changed since the last run: os:"), "{human}");
    assert!(human.contains("-debian 12") && human.contains("+rhel 9.4"), "{human}");
    // the Debian-only file is left out by its condition, and shown so
    assert!(!diff.actions().iter().any(|a| a.starts_with("file:/etc/debian-only")), "{:?}", diff.actions());
    assert_eq!(diff.report.skipped_by_condition.len(), 1);
    assert_eq!(diff.report.skipped_by_condition[0].id, "file:/etc/debian-only");
    assert!(human.contains("⊘ file /etc/debian-only  (when host.facts.os.family == 'Debian' is false)"), "{human}");
    // the new facts are kept: the next diff is one exchange again
    let again = run(&m, cache.path(), Mode::Diff);
    assert_eq!(again.count(), 1, "{}", again.human());
    assert_eq!(facts(&again)["source"], "cache");
}

#[test]
fn a_fact_a_step_changes_is_read_again_at_verify_and_what_depends_on_it_converges_in_the_same_run() {
    let m = ModelHost::new(&[]);
    m.write("/etc/os-release", DEBIAN);
    let cache = tempfile::tempdir().expect("cache");
    let book = format!(
        "{BOOK}file \"/etc/os-release\" content=\"{}\"\n",
        DEBIAN.replace("VERSION_ID=\"12\"", "VERSION_ID=\"13\"").replace('"', "\\\"").replace('\n', "\\n")
    );
    let first = converge_cached(&m, &book, cache.path(), Mode::Apply);
    assert_eq!(first.status(), "converged", "{}", first.human());
    let f = facts(&first);
    assert_eq!(f["changed_by_run"][0].as_str().map(|s| s.starts_with("os: {")), Some(true), "{f}");
    assert!(first.human().contains("facts changed by this run: os:"), "{}", first.human());
    // the motd follows the version the run itself wrote: one more pass, in this run
    assert_eq!(m.read("/etc/motd").as_deref(), Some("debian 13\n"), "{}", first.human());
    assert_eq!(
        first.count(),
        7,
        "facts; probe, apply, verify (which reads the new version); probe, apply, verify of the new expansion:\n{}",
        first.human()
    );
    assert_eq!(first.res("file:/etc/motd").result.map(|r| format!("{r:?}")).as_deref(), Some("Changed"));
    let next = converge_cached(&m, &book, cache.path(), Mode::Apply);
    assert_eq!((next.status().as_str(), next.count()), ("in_sync", 1), "{}", next.human());
}

#[test]
fn a_playbook_that_reads_no_fact_gathers_none() {
    let m = ModelHost::new(&[]);
    let cache = tempfile::tempdir().expect("cache");
    let r = converge_cached(&m, "file \"/etc/plain\" content=\"x\\n\"\n", cache.path(), Mode::Diff);
    assert_eq!(r.count(), 1);
    assert!(r.report.facts.is_none());
    assert!(!r.exchanges[0].script.contains("/etc/os-release"), "no fact is gathered");
    assert_eq!(std::fs::read_dir(cache.path()).expect("cache").count(), 0);
}

/// The examples of docs/language.md that teach facts, conditions, loops and tags, each
/// converged on a modelled Debian host (their `host` line dropped), then settled: a second
/// apply is one exchange. What each says it does, it does.
#[test]
fn the_documented_examples_of_facts_conditions_loops_and_tags_converge() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).expect("language.md");
    let start = doc.find("## Host facts").expect("the facts section");
    let end = doc[start..].find("## Resources").map(|e| start + e).expect("the next section");
    let blocks = crate::markdown::kdl_blocks(&doc[start..end]);
    assert_eq!(blocks.len(), 4, "facts, when, for, tags");
    let repo = [
        crate::host::Pkg::new("nginx-light", "1.22.1-9").dir("/etc/nginx/conf.d").service("nginx"),
        crate::host::Pkg::new("nginx", "1.22.1-9").dir("/etc/nginx/conf.d").service("nginx"),
        crate::host::Pkg::new("cron", "3.0pl1-162").dir("/etc/cron.d"),
    ];
    for (k, block) in blocks.iter().enumerate() {
        let m = ModelHost::new(&repo);
        m.write("/etc/os-release", DEBIAN);
        let cache = tempfile::tempdir().expect("cache");
        let text: String = block.lines().filter(|l| !l.starts_with("host ")).map(|l| format!("{l}\n")).collect();
        let first = converge_cached(&m, &text, cache.path(), Mode::Apply);
        assert_eq!(first.status(), "converged", "block {k}:\n{text}\n{}", first.human());
        let again = converge_cached(&m, &text, cache.path(), Mode::Apply);
        assert_eq!((again.status().as_str(), again.count()), ("in_sync", 1), "block {k}:\n{}", again.human());
        match k {
            0 => assert!(m.read("/etc/motd").is_some_and(|t| t.contains(": Debian GNU/Linux 12 (bookworm) on "))),
            1 => {
                assert_eq!(m.installed("nginx-light").as_deref(), Some("1.22.1-9"));
                assert_eq!(m.installed("nginx"), None, "the RedHat package is left out on Debian");
                assert!(first.human().contains("⊘ package nginx  (when host.facts.os.family == 'RedHat' is false)"));
                assert!(m.exists("/etc/nginx/conf.d/tls.conf"));
            }
            2 => {
                assert!(m.read("/etc/passwd").is_some_and(|p| p.contains("carol:")));
                assert!(m.read("/etc/nginx/conf.d/shop.conf").is_some_and(|c| c.contains("127.0.0.1:8002")));
                assert!(!m.exists("/etc/converge/interfaces/lo"), "the loop's when leaves lo out");
            }
            _ => assert_eq!(m.service("nginx").active, "active"),
        }
    }
}

/// A playbook whose expansion only fails with the host's real facts (a map with no entry
/// for this OS family): `check` cannot know (stand-in facts), the run finds it once the
/// facts are gathered, reports the host failed with the diagnostic at its token, and
/// applies nothing.
#[test]
fn an_expansion_that_fails_with_the_real_facts_fails_the_host_before_anything_is_applied() {
    let m = ModelHost::new(&[]);
    m.write("/etc/os-release", RHEL);
    let cache = tempfile::tempdir().expect("cache");
    let text = "vars { web_package { Debian \"nginx-light\" } }\nfile \"/etc/motd\" content=\"hello\\n\"\npackage \"{{ web_package[host.facts.os.family] }}\"\n";
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("p.kdl"), format!("host \"model\"\n{text}")).expect("playbook");
    let checked = converge::prepare::check_file(&dir.path().join("p.kdl"), None);
    assert!(checked.is_ok(), "check, with stand-in facts, cannot know: {:?}", checked.err());
    let run = converge_cached(&m, text, cache.path(), Mode::Apply);
    assert_eq!(run.status(), "failed");
    assert_eq!(run.count(), 1, "the facts exchange, then nothing: no probe, no apply");
    assert!(!m.exists("/etc/motd"), "nothing applied");
    let error = run.report.error.clone().expect("the host's error");
    insta::with_settings!({ filters => vec![(r"/tmp/converge-book\.[^/]+/", "[dir]/")] }, {
        insta::assert_snapshot!("expansion_fails_with_the_real_facts", error);
    });
}
