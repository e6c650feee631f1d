//! The `package` kind's dnf and yum providers on a modelled RHEL 9 host (`rhel.rs`), end to
//! end: the provider found by the probe, what is missing installed and what is installed
//! left alone, `latest` upgrading only to something newer, `absent`, pins with an epoch,
//! the metadata cache refreshed only when it lacks a package, and a second run that
//! changes nothing. Each asserts the outcome, the exchanges, the commands sent and the
//! stubs' state read directly.

use crate::host::ModelHost;
use crate::rhel::{COMMANDS, fixture};
use crate::run::{Book, Run};
use crate::scenarios::{apply, diff, settled};

/// The package-manager commands the apply exchanges sent (those that change something:
/// not the read-only `-C` queries of a guard).
fn commands(run: &Run) -> Vec<String> {
    run.exchanges
        .iter()
        .filter(|e| e.is_apply())
        .flat_map(|e| e.script.lines())
        .filter(|l| (l.starts_with("dnf ") || l.starts_with("yum ")) && !l.contains(" -C "))
        .map(str::to_string)
        .collect()
}

/// The provider the probe printed for the resource (the first line of its frame).
fn provider(run: &Run) -> &str {
    let out = &run.exchanges[0].stdout;
    for p in ["dnf", "yum", "apt", "none"] {
        if out.contains(&format!("\nprovider={p}\n")) {
            return p;
        }
    }
    panic!("no provider in the probe's output:\n{out}")
}

#[test]
fn the_modelled_rhel9_host_answers_the_providers_commands_as_the_fixtures() {
    let m = ModelHost::rhel9();
    for (command, file) in COMMANDS {
        assert_eq!(m.sh(&format!("{command}; true")), fixture(file), "{command}");
    }
    assert_eq!(m.sh(". /etc/os-release; echo \"$ID $VERSION_ID $PLATFORM_ID\""), "almalinux 9.2 platform:el9\n");
    // the machine's own Debian tools are not there at all, for any shell
    assert_eq!(
        m.sh("for c in dpkg-query apt-get dpkg; do command -v $c || echo no $c; done"),
        "no dpkg-query\nno apt-get\nno dpkg\n"
    );
    assert_eq!(
        m.sh("bash -c 'command -v dpkg-query || ls /usr/bin/dpkg-query 2>&1 || echo gone'"),
        "ls: cannot access '/usr/bin/dpkg-query': No such file or directory\ngone\n"
    );
    assert_eq!(
        m.sh("for c in rpm dnf yum; do command -v $c; done"),
        "/usr/local/sbin/rpm\n/usr/local/sbin/dnf\n/usr/local/sbin/yum\n"
    );
    // and the commands are the ones the provider's probe sends, verbatim
    let b = Book::new("package \"httpd\" \"git\" \"mod_ssl\" state=\"latest\"\n");
    let plan = diff(&m, &b);
    assert_eq!(provider(&plan), "dnf");
    assert!(plan.exchanges[0].script.contains(COMMANDS[0].0), "{}", plan.exchanges[0].script);
    assert!(plan.exchanges[0].script.contains(COMMANDS[1].0), "{}", plan.exchanges[0].script);
    let yum = ModelHost::rhel9_yum();
    let plan = diff(&yum, &b);
    assert_eq!(provider(&plan), "yum");
    assert!(plan.exchanges[0].script.contains(COMMANDS[2].0), "{}", plan.exchanges[0].script);
    assert!(plan.exchanges[0].script.contains(COMMANDS[3].0), "{}", plan.exchanges[0].script);
    assert_eq!(yum.sh("command -v dnf || echo no dnf"), "no dnf\n");
}

/// git is installed (2.39.1, AlmaLinux 9.2's), httpd is not: httpd is installed from the
/// cache's candidate, git is left at its version though the cache has a newer one.
#[test]
fn a_rhel9_host_installs_what_is_missing_and_leaves_what_is_installed() {
    let m = ModelHost::rhel9();
    let b = Book::new("package \"httpd\" \"git\"\n");
    let plan = diff(&m, &b);
    plan.expect(1, &["package:httpd create -"], &[]);
    assert_eq!(provider(&plan), "dnf");
    assert_eq!(plan.changes("package:httpd"), ["httpd: (absent) → 2.4.53-7.el9_1.1"]);
    let run = apply(&m, &b);
    run.expect(3, &["package:httpd create changed"], &[&["package:httpd"]]);
    assert_eq!(run.status(), "converged");
    assert_eq!(commands(&run), ["dnf install -y -q -- httpd"]);
    assert_eq!(m.rpm_installed("httpd").as_deref(), Some("2.4.53-7.el9_1.1"));
    assert_eq!(m.rpm_installed("git").as_deref(), Some("2.39.1-1.el9"), "installed: left alone");
    assert_eq!(m.log(), ["dnf install httpd-2.4.53-7.el9_1.1"]);
    // RHEL installs a service disabled and stopped
    let svc = m.service("httpd");
    assert_eq!((svc.load.as_str(), svc.active.as_str(), svc.enabled.as_str()), ("loaded", "inactive", "disabled"));
    assert_eq!(
        m.sh("rpm -q --qf 'pkg=%{NAME} %|EPOCH?{%{EPOCH}}:{0}| %{VERSION}-%{RELEASE}\\n' httpd git"),
        "pkg=httpd 0 2.4.53-7.el9_1.1\npkg=git 0 2.39.1-1.el9\n"
    );
    settled(&m, &b);
    assert_eq!(m.log().len(), 1, "the second run changed nothing");
}

/// `latest`: httpd installed, git upgraded to the cache's newer build; then a cache whose
/// only httpd is an older build (RLSA-2022:8067's 2.4.53-7.el9, below the installed
/// 2.4.53-7.el9_1.1) changes nothing: rpm's order, not "different".
#[test]
fn a_rhel9_host_upgrades_to_latest_only_to_something_newer() {
    let m = ModelHost::rhel9();
    let b = Book::new("package \"httpd\" \"git\" state=\"latest\"\n");
    let run = apply(&m, &b);
    run.expect(3, &["package:httpd create changed"], &[&["package:httpd"]]);
    assert_eq!(
        run.changes("package:httpd"),
        ["httpd: (absent) → 2.4.53-7.el9_1.1", "git: 2.39.1-1.el9 → 2.39.3-1.el9_2"]
    );
    assert_eq!(commands(&run), ["dnf install -y -q -- httpd", "dnf upgrade -y -q -- git"]);
    assert_eq!(m.rpm_installed("httpd").as_deref(), Some("2.4.53-7.el9_1.1"));
    assert_eq!(m.rpm_installed("git").as_deref(), Some("2.39.3-1.el9_2"));
    assert_eq!(m.log(), ["dnf install httpd-2.4.53-7.el9_1.1", "dnf upgrade git-2.39.3-1.el9_2"]);
    settled(&m, &b);
    m.rpm_builds("httpd", &[("2.4.53-7.el9", "x86_64", "appstream")]);
    assert_eq!(m.sh("yum -q -C list available httpd 2>&1; true"), "Error: No matching Packages to list\n");
    settled(&m, &b);
    assert_eq!(m.rpm_installed("httpd").as_deref(), Some("2.4.53-7.el9_1.1"), "not downgraded");
    assert_eq!(m.log().len(), 2);
}

#[test]
fn a_rhel9_host_removes_what_is_installed_and_only_that() {
    let m = ModelHost::rhel9();
    let b = Book::new("package \"httpd\" \"git\" state=\"absent\"\n");
    let run = apply(&m, &b);
    run.expect(3, &["package:httpd remove changed"], &[&["package:httpd"]]);
    assert_eq!(run.changes("package:httpd"), ["git: 2.39.1-1.el9 → (absent)"]);
    assert_eq!(commands(&run), ["dnf remove -y -q -- git"]);
    assert!(!run.exchanges[0].script.contains("repoquery"), "absent: no candidates probed");
    assert_eq!(m.rpm_installed("git"), None);
    assert_eq!(m.sh("rpm -q git httpd; true"), "package git is not installed\npackage httpd is not installed\n");
    assert_eq!(m.log(), ["dnf remove git"]);
    settled(&m, &b);
}

/// mod_ssl has epoch 1 (ALSA-2023:0970): the pin names it, the install spec carries it,
/// and the installed package matches the pin on the next run.
#[test]
fn a_rhel9_pin_with_an_epoch_installs_that_build_and_then_matches() {
    let m = ModelHost::rhel9();
    let b = Book::new("package \"mod_ssl\" version=\"1:2.4.53-7.el9_1.1\"\n");
    let run = apply(&m, &b);
    run.expect(3, &["package:mod_ssl create changed"], &[&["package:mod_ssl"]]);
    assert_eq!(run.changes("package:mod_ssl"), ["mod_ssl: (absent) → 1:2.4.53-7.el9_1.1"]);
    assert_eq!(commands(&run), ["dnf install -y -q -- mod_ssl-1:2.4.53-7.el9_1.1"]);
    assert_eq!(m.rpm_installed("mod_ssl").as_deref(), Some("1:2.4.53-7.el9_1.1"));
    assert_eq!(m.sh("rpm -q mod_ssl"), "mod_ssl-2.4.53-7.el9_1.1.x86_64\n");
    settled(&m, &b);
}

/// A package the metadata cache does not hold yet: `clean expire-cache` and `makecache`
/// once, then the install; a package it holds needs no refresh (the runs above).
#[test]
fn a_rhel9_host_refreshes_the_metadata_cache_only_when_it_lacks_a_package() {
    let m = ModelHost::rhel9();
    m.write("/var/lib/model/rpmrepo/jq", "(none) 1.6-14.el9 x86_64 appstream needs-makecache\n");
    let b = Book::new("package \"jq\"\n");
    assert_eq!(diff(&m, &b).changes("package:jq"), ["jq: (absent) → present (not in the local lists yet)"]);
    let run = apply(&m, &b);
    run.expect(3, &["package:jq create changed"], &[&["package:jq"]]);
    assert_eq!(commands(&run), ["dnf -q clean expire-cache", "dnf -q makecache", "dnf install -y -q -- jq"]);
    assert_eq!(m.rpm_installed("jq").as_deref(), Some("1.6-14.el9"));
    assert_eq!(m.log(), ["dnf makecache", "dnf install jq-1.6-14.el9"]);
    settled(&m, &b);
}

/// The yum provider on the same host without dnf: `yum list available` and `updates`
/// read, `yum` installs and upgrades.
#[test]
fn a_host_with_yum_only_converges_through_yum() {
    let m = ModelHost::rhel9_yum();
    let b = Book::new("package \"httpd\" \"git\" state=\"latest\"\n");
    let run = apply(&m, &b);
    run.expect(3, &["package:httpd create changed"], &[&["package:httpd"]]);
    assert_eq!(provider(&run), "yum");
    assert_eq!(
        run.changes("package:httpd"),
        ["httpd: (absent) → 2.4.53-7.el9_1.1", "git: 2.39.1-1.el9 → 2.39.3-1.el9_2"]
    );
    assert_eq!(commands(&run), ["yum install -y -q -- httpd", "yum upgrade -y -q -- git"]);
    assert_eq!(m.rpm_installed("httpd").as_deref(), Some("2.4.53-7.el9_1.1"));
    assert_eq!(m.rpm_installed("git").as_deref(), Some("2.39.3-1.el9_2"));
    assert_eq!(m.log(), ["yum install httpd-2.4.53-7.el9_1.1", "yum upgrade git-2.39.3-1.el9_2"]);
    settled(&m, &b);
}

/// Seed 000 on its real OS: the `package` declarations of playbooks/jacow.kdl, as written
/// there (one per OS family, each under a `when` on `host.facts.os.family`), converged on
/// the modelled RHEL 9 host. The host's facts say RedHat (the fixture's os-release:
/// `ID_LIKE="rhel centos fedora"`), so RHEL's names are installed with dnf, and Debian's
/// declaration is shown left out. What the AlmaLinux 9.2 host of the fixtures has
/// installed (its `rpm -qa`: git-2.39.1-1.el9, python3-3.9.16-1.el9, cronie-1.5.7-8.el9,
/// iptables-nft-1.8.8-6.el9_1) is left alone; its repositories hold python3-pip and
/// iptables-services built from the same source packages as the python3-pip-wheel
/// (21.2.3-6.el9) and iptables-nft (1.8.8-6.el9_1) in that list.
#[test]
fn jacow_on_rhel9_installs_rhels_packages_by_its_os_family() {
    let jacow =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/jacow.kdl")).expect("jacow.kdl");
    let packages: String =
        jacow.lines().filter(|l| l.starts_with("package \"git\"")).map(|l| format!("{l}\n")).collect();
    assert_eq!(packages.lines().count(), 2, "one declaration per OS family:\n{packages}");
    let m = ModelHost::rhel9();
    for (name, evr) in [("python3", "3.9.16-1.el9"), ("cronie", "1.5.7-8.el9"), ("iptables-nft", "1.8.8-6.el9_1")] {
        m.write(&format!("/var/lib/model/rpmdb/{name}"), &format!("(none) {evr} x86_64\n"));
        m.rpm_build(name, evr, "x86_64", "baseos");
    }
    m.rpm_build("python3-pip", "21.2.3-6.el9", "noarch", "appstream");
    m.rpm_build("iptables-services", "1.8.8-6.el9_1", "noarch", "appstream");
    let cache = tempfile::tempdir().expect("cache");
    let plan = crate::run::converge_cached(&m, &packages, cache.path(), converge::engine::Mode::Diff);
    assert_eq!(plan.count(), 2, "first contact: the facts, then the probe:\n{}", plan.human());
    assert_eq!(plan.report.facts.as_ref().map(|f| f.used.clone()), Some(vec!["os".to_string()]));
    assert!(
        plan.exchanges[1].stdout.contains("\nprovider=dnf\n"),
        "the probe finds dnf:\n{}",
        plan.exchanges[1].stdout
    );
    assert_eq!(plan.actions(), ["package:git create"]);
    assert_eq!(
        plan.changes("package:git"),
        ["python3-pip: (absent) → 21.2.3-6.el9", "iptables-services: (absent) → 1.8.8-6.el9_1"]
    );
    assert_eq!(plan.report.skipped_by_condition.len(), 1);
    assert_eq!(plan.report.skipped_by_condition[0].when, "host.facts.os.family == 'Debian'");
    let run = crate::run::converge_cached(&m, &packages, cache.path(), converge::engine::Mode::Apply);
    assert_eq!(run.status(), "converged", "{}", run.human());
    assert_eq!(run.count(), 3, "the facts cached: probe, apply, verify");
    assert_eq!(commands(&run), ["dnf install -y -q -- python3-pip iptables-services"]);
    assert_eq!(m.rpm_installed("python3-pip").as_deref(), Some("21.2.3-6.el9"));
    assert_eq!(m.rpm_installed("iptables-services").as_deref(), Some("1.8.8-6.el9_1"));
    assert_eq!(m.rpm_installed("git").as_deref(), Some("2.39.1-1.el9"), "installed: left alone");
    assert!(!m.exists("/var/lib/model/dpkg/python3-flask"), "nothing of Debian's");
    let again = crate::run::converge_cached(&m, &packages, cache.path(), converge::engine::Mode::Apply);
    assert_eq!((again.status().as_str(), again.count()), ("in_sync", 1), "{}", again.human());
}
