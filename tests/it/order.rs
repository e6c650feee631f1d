//! Declaration order as a promise: a playbook written as the docs show, with no `require`
//! between a package and what it installs, converges in one apply, and a diff after it
//! is empty. The package creates the default site a later resource removes, a file a later
//! resource writes and a file a later `line` edits: the verify after the first round finds
//! them changed by the run, and a second round, planned from that verify, converges them.
//! Checked on the host directly, with the exchanges counted from sshd's own log.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use crate::engine::ssh_counts;
use crate::generated::{Case, Wish, case};
use crate::kinds::OnHost;

const PACKAGE_THEN_WHAT_IT_INSTALLS: &str = r##"package "nginx-light"
symlink "/etc/nginx/sites-enabled/default" state="absent"
file "/etc/nginx/koi-utf" content="# no charset map here\n"
line "/etc/nginx/koi-win" line="# edited by converge"
"##;

#[test]
fn what_a_package_installs_is_converged_in_the_same_apply_without_require() {
    let h = OnHost::new(PACKAGE_THEN_WHAT_IT_INSTALLS);
    let plan = h.run("diff", &[]);
    plan.expect(2);
    let (_, sessions) = ssh_counts(&h);
    let apply = h.run("apply", &[]);
    assert_eq!(apply.code, 0, "{}", apply.stdout);
    // probe, apply, verify, then the second round: apply and verify (and the count's own)
    assert_eq!(ssh_counts(&h).1 - sessions, 5 + 1, "five exchanges for a run with a second round");
    let addr = h.container.address().to_string();
    // the package's version is whatever the image's mirror had
    insta::with_settings!({ filters => vec![(r"nginx-light: \(absent\) → \S+", "nginx-light: (absent) → VERSION")] }, {
        insta::assert_snapshot!("package_then_what_it_installs_plan", plan.stdout.replace(&addr, "ADDR"));
        insta::assert_snapshot!("package_then_what_it_installs_apply", apply.stdout.replace(&addr, "ADDR"));
    });

    // on the host itself
    assert_eq!(h.sh("dpkg-query -W -f='${db:Status-Status}' nginx-light"), "installed");
    assert_eq!(h.sh("ls -A /etc/nginx/sites-enabled"), "");
    assert_eq!(h.sh("cat /etc/nginx/koi-utf"), "# no charset map here\n");
    assert_eq!(
        h.sh("grep -c 'edited by converge' /etc/nginx/koi-win; tail -n 1 /etc/nginx/koi-win"),
        "1\n# edited by converge\n"
    );
    // the rest of the file is the package's own, as dpkg recorded it
    let shipped = h.sh("dpkg-query -W -f='${Conffiles}' nginx-common | awk '$1 == \"/etc/nginx/koi-win\" {print $2}'");
    let rest = h.sh("grep -v 'edited by converge' /etc/nginx/koi-win | md5sum | cut -d' ' -f1");
    assert_eq!(rest, shipped, "the package's lines are kept");

    let diff = h.run("diff", &[]);
    diff.expect(0);
    assert!(diff.stdout.contains("nothing to change"), "{}", diff.stdout);
    let (_, sessions) = ssh_counts(&h);
    let again = h.run("apply", &["--format", "json"]);
    again.expect(0);
    assert_eq!(again.json()["summary"]["changed"], 0);
    assert_eq!(ssh_counts(&h).1 - sessions, 1 + 1, "a no-op is one exchange");
}

impl Case {
    /// A shell script that prints, per path, what is there, as `expected` says it.
    fn inspect(&self, dir: &str) -> String {
        (0..self.wishes.len())
            .map(|s| match self.wishes[s] {
                Wish::Line(k) => format!("echo \"lines $(grep -cx 'line {k}' {dir}/p{s})\"\n"),
                _ => format!(
                    "p={dir}/p{s}; if [ -L $p ]; then echo \"link $(readlink $p)\"; elif [ -d $p ]; then echo \"dir $(stat -c %a $p)\"; \
                     elif [ -f $p ]; then echo \"file $(tr '\\n' '|' < $p)\"; elif [ -e $p ]; then echo other; else echo absent; fi\n"
                ),
            })
            .collect()
    }
}

/// Random small playbooks whose one-shot steps create, remove or rewrite what other
/// resources manage, declared in any order without `require`: each converges in one
/// apply (at most the five exchanges of a second round), the host holds exactly what the
/// playbook says, and a diff after it is empty. Cases are drawn afresh every run; a
/// failure prints the smallest playbook that fails.
#[test]
fn generated_playbooks_converge_in_one_apply_in_any_order() {
    let h = OnHost::new("");
    let mut runner =
        TestRunner::new(ProptestConfig { cases: 20, failure_persistence: None, ..ProptestConfig::default() });
    let n = std::cell::Cell::new(0);
    let result = runner.run(&case(), |case| {
        n.set(n.get() + 1);
        let dir = format!("/srv/c{}", n.get());
        h.sh(&format!("mkdir -p {dir}/.m"));
        let pb = case.playbook(&dir);
        h.playbook(&pb);
        let apply = h.run("apply", &["--format", "json"]);
        let report = apply.json();
        prop_assert_eq!(apply.code, 0, "apply failed:\n{}", apply.stdout);
        let exchanges = report["hosts"][0]["exchanges"].as_u64().unwrap_or(0);
        prop_assert!(exchanges <= 5, "{} exchanges", exchanges);
        prop_assert_eq!(h.sh(&case.inspect(&dir)), case.expected(&dir), "on the host");
        let diff = h.run("diff", &[]);
        prop_assert_eq!(diff.code, 0, "a diff after the apply:\n{}", diff.stdout);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
