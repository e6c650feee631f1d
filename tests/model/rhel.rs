//! A RHEL 9 host for the modelled-host scenarios: the rpm, dnf and yum stubs of
//! `rpm_stubs.rs` on its `PATH`, Debian's package tools hidden (so the `package` kind's
//! probe picks the dnf provider, or yum's), and its state seeded from the real-format
//! answers in `fixtures/rhel9/` (see the README there for where each comes from): what
//! `rpm -q` says is installed, what `yum list available` says the repositories hold, and
//! its `/etc/os-release`. A test checks that the stubs, so seeded, give back every fixture
//! byte for byte, so the scenarios run on the answers a real host gave.

use std::path::Path;

use crate::host::{ModelHost, Tools};

/// The answers of the AlmaLinux 9.2 host the fixtures describe.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/model/fixtures/rhel9");

/// The commands of the dnf provider's probe (`src/resources/package/dnf.rs`), and of the
/// yum provider's, each with the fixture holding its answer.
pub const COMMANDS: &[(&str, &str)] = &[
    ("rpm -q --qf 'pkg=%{NAME} %|EPOCH?{%{EPOCH}}:{0}| %{VERSION}-%{RELEASE}\\n' httpd git mod_ssl", "rpm-q.txt"),
    (
        "dnf -q -C repoquery --latest-limit 1 --qf 'candidate=%{name} %{epoch} %{version}-%{release}\n' httpd git mod_ssl",
        "dnf-repoquery.txt",
    ),
    ("yum -q -C list available httpd git mod_ssl", "yum-list-available.txt"),
    ("yum -q -C list updates httpd git mod_ssl", "yum-list-updates.txt"),
];

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    let p = Path::new(FIXTURES).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// `EPOCH VERSION-RELEASE` as rpm keeps it: no epoch is `(none)`.
fn rpm_epoch(evr: &str) -> (&str, &str) {
    match evr.split_once(':') {
        Some((e, vr)) => (e, vr),
        None => ("(none)", evr),
    }
}

impl ModelHost {
    /// A RHEL 9 host with dnf (and yum, which is dnf there), as the fixtures describe it.
    pub fn rhel9() -> ModelHost {
        ModelHost::rhel9_with(Tools::Dnf)
    }

    /// The same host with rpm and yum only: the yum provider's path.
    pub fn rhel9_yum() -> ModelHost {
        ModelHost::rhel9_with(Tools::Yum)
    }

    fn rhel9_with(tools: Tools) -> ModelHost {
        let m = ModelHost::with_tools(tools, &[]);
        m.write("/etc/os-release", &fixture("os-release"));
        // the repositories: every row of `yum list available` (nothing of these is
        // installed at the version listed), `NAME.ARCH [EPOCH:]VERSION-RELEASE REPO`
        let available = fixture("yum-list-available.txt");
        let mut arch_of = std::collections::BTreeMap::new();
        for row in available.lines().skip(1) {
            let [name_arch, evr, repo] = row.split_whitespace().collect::<Vec<_>>()[..] else {
                panic!("yum-list-available.txt: a row is NAME.ARCH VERSION REPO: {row:?}");
            };
            let (name, arch) = name_arch.rsplit_once('.').expect("NAME.ARCH");
            m.rpm_build(name, evr, arch, repo);
            arch_of.insert(name.to_string(), arch.to_string());
        }
        // what is installed: `pkg=NAME EPOCH VERSION-RELEASE`, epoch 0 being none
        for line in fixture("rpm-q.txt").lines().filter_map(|l| l.strip_prefix("pkg=")) {
            let [name, epoch, vr] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                panic!("rpm-q.txt: {line:?}");
            };
            let epoch = if epoch == "0" { "(none)" } else { epoch };
            let arch = arch_of.get(name).map_or("x86_64", String::as_str);
            m.write(&format!("/var/lib/model/rpmdb/{name}"), &format!("{epoch} {vr} {arch}\n"));
        }
        // httpd ships its unit (installed disabled and stopped: RHEL's presets)
        m.write("/var/lib/model/rpmrepo/httpd.units", "httpd.service\n");
        m
    }

    /// Adds a build to the repositories (`EVR` is `[EPOCH:]VERSION-RELEASE`).
    pub fn rpm_build(&self, name: &str, evr: &str, arch: &str, repo: &str) {
        let (e, vr) = rpm_epoch(evr);
        let p = self.path("/var/lib/model/rpmrepo").join(name);
        let mut text = std::fs::read_to_string(&p).unwrap_or_default();
        text.push_str(&format!("{e} {vr} {arch} {repo}\n"));
        std::fs::write(p, text).expect("rpm repository");
    }

    /// Replaces the builds of `name` the repositories hold with `builds` (`EVR ARCH REPO`).
    pub fn rpm_builds(&self, name: &str, builds: &[(&str, &str, &str)]) {
        let _ = std::fs::remove_file(self.path("/var/lib/model/rpmrepo").join(name));
        for (evr, arch, repo) in builds {
            self.rpm_build(name, evr, arch, repo);
        }
    }

    /// The installed `[EPOCH:]VERSION-RELEASE` of a package, from the rpm stub's database.
    pub fn rpm_installed(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.path("/var/lib/model/rpmdb").join(name)).ok()?;
        let mut parts = text.split_whitespace();
        let (epoch, vr) = (parts.next()?, parts.next()?);
        Some(if epoch == "(none)" { vr.to_string() } else { format!("{epoch}:{vr}") })
    }
}
