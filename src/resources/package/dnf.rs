//! The dnf provider (RHEL 8+, Fedora, Rocky, Alma), and yum (RHEL 7, Amazon Linux 2),
//! which shares this code with its own binary: `rpm -q` for what is installed, the
//! metadata cache for candidates (`dnf repoquery --latest-limit 1`, `yum list
//! available`/`updates`, both with `-C`: the probe never refreshes metadata or touches
//! the network), `dnf`/`yum` to change anything.
//!
//! Versions are `VERSION-RELEASE`, with `EPOCH:` in front when the epoch is not 0. A pin
//! (`version="2.4.6"`, `"2.4.6-97.el9"` or `"1:2.4.6-97.el9"`) matches an installed
//! package when the parts it gives are equal. Versions are ordered as rpm orders them
//! (`rpmvercmp`, on the controller), so `latest` does not chase a repository that only
//! has older builds, and a pin below what is installed is a `downgrade`.
//!
//! The metadata cache is refreshed (`clean expire-cache` + `makecache`) before an install
//! only when a wanted package or version is not in it, or with `update-cache=#true`.
//! `recommends=#false` turns weak dependencies off (dnf). `purge` has no meaning for rpm
//! (modified configuration is kept as `.rpmsave` either way).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Package, Provider, State, Want};
use crate::resources::record::Record;
use crate::resources::{Diff, ProbeError};
use crate::script::Sh;

type Versions = BTreeMap<String, String>;

fn bin(p: Provider) -> &'static str {
    match p {
        Provider::Yum => "yum",
        _ => "dnf",
    }
}

/// Installed versions (`pkg=NAME EPOCH VERSION-RELEASE`), then candidates when
/// something is missing (`present`) or always (`latest`).
pub fn probe(p: Provider, names: &[String], present: bool, candidates: bool, sh: &mut Sh) {
    sh.raw("q=$(rpm -q --qf 'pkg=%{NAME} %|EPOCH?{%{EPOCH}}:{0}| %{VERSION}-%{RELEASE}\\n'");
    for n in names {
        sh.sp().q(n);
    }
    sh.raw(" 2>/dev/null | grep '^pkg=')\nprintf '%s\\n' \"$q\"\n");
    if !candidates {
        return;
    }
    if present {
        sh.raw("if [ \"$(printf '%s\\n' \"$q\" | cut -d' ' -f1 | sort -u | grep -c '^pkg=')\" -lt ")
            .num(names.len() as u64)
            .raw(" ]; then\n");
    } else {
        sh.raw("if true; then\n");
    }
    match p {
        Provider::Yum => {
            // NAME.ARCH VERSION REPO, a long name wrapped onto its own line
            for list in ["available", "updates"] {
                sh.raw("yum -q -C list ").raw(list);
                for n in names {
                    sh.sp().q(n);
                }
                sh.raw(" 2>/dev/null | awk 'NF == 1 && w == \"\" { w = $1; next } w != \"\" { $0 = w \" \" $0; w = \"\" } NF >= 3 && $1 ~ /\\./ { print \"candidate=\" $1 \" \" $2 }'\n");
            }
        }
        _ => {
            sh.raw("dnf -q -C repoquery --latest-limit 1 --qf 'candidate=%{name} %{epoch} %{version}-%{release}\n'");
            for n in names {
                sh.sp().q(n);
            }
            sh.raw(" 2>/dev/null\n");
        }
    }
    sh.raw("fi\n");
}

/// `VERSION-RELEASE`, with the epoch in front when it is not 0.
fn evr(epoch: &str, vr: &str) -> String {
    match epoch {
        "" | "0" | "(none)" => vr.to_string(),
        e => format!("{e}:{vr}"),
    }
}

/// `NAME EPOCH VERSION-RELEASE`; the first line per name wins (multilib packages are
/// listed once per architecture).
fn name_epoch_vr(line: &str, what: &str, into: &mut Versions) -> Result<(), ProbeError> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [name, epoch, vr] = parts.as_slice() else {
        return Err(ProbeError(format!("malformed {what} line {line:?}")));
    };
    into.entry(name.to_string()).or_insert_with(|| evr(epoch, vr));
    Ok(())
}

fn installed(rec: &Record) -> Result<Versions, ProbeError> {
    let mut out = BTreeMap::new();
    for line in rec.all("pkg").into_iter().filter(|l| !l.is_empty()) {
        name_epoch_vr(line, "rpm -q", &mut out)?;
    }
    Ok(out)
}

/// `candidate=NAME EPOCH VERSION-RELEASE` from `repoquery`; the newest per name. dnf
/// prints the newest build per name *and architecture*, sorted as text, so a multilib
/// package whose i686 and x86_64 builds differ comes twice, the older one first when the
/// newer only adds to the release (`...el9` sorts before `...el9_2`).
pub fn parse_dnf(rec: &Record) -> Result<(Versions, Versions), ProbeError> {
    let mut candidate: Versions = BTreeMap::new();
    for line in rec.all("candidate").into_iter().filter(|l| !l.is_empty()) {
        let mut one = BTreeMap::new();
        name_epoch_vr(line, "repoquery", &mut one)?;
        for (name, version) in one {
            if candidate.get(&name).is_none_or(|have| compare(&version, have) == Ordering::Greater) {
                candidate.insert(name, version);
            }
        }
    }
    Ok((installed(rec)?, candidate))
}

/// `candidate=NAME.ARCH [EPOCH:]VERSION-RELEASE` from `yum list`; the newest per name.
pub fn parse_yum(rec: &Record) -> Result<(Versions, Versions), ProbeError> {
    let mut candidate: Versions = BTreeMap::new();
    for line in rec.all("candidate").into_iter().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [name_arch, version] = parts.as_slice() else {
            return Err(ProbeError(format!("malformed yum list line {line:?}")));
        };
        let Some((name, _arch)) = name_arch.rsplit_once('.') else {
            return Err(ProbeError(format!("malformed yum list line {line:?}")));
        };
        let newer = candidate.get(name).is_none_or(|have| compare(version, have) == Ordering::Greater);
        if newer {
            candidate.insert(name.to_string(), version.to_string());
        }
    }
    Ok((installed(rec)?, candidate))
}

/// `[EPOCH:]VERSION[-RELEASE]` split; the epoch defaults to 0.
fn split(v: &str) -> (&str, &str, Option<&str>) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e, r),
        None => ("0", v),
    };
    match rest.rsplit_once('-') {
        Some((ver, rel)) => (epoch, ver, Some(rel)),
        None => (epoch, rest, None),
    }
}

/// Whether a pin matches an installed `[EPOCH:]VERSION-RELEASE`: every part the pin
/// gives is equal (no release in the pin: any release).
pub fn matches(wanted: &str, installed: &str) -> bool {
    let (we, wv, wr) = split(wanted);
    let (ie, iv, ir) = split(installed);
    we == ie && wv == iv && (wr.is_none() || wr == ir)
}

/// Whether `candidate` is newer than `installed`, as rpm orders versions.
pub fn newer(candidate: &str, installed: &str) -> bool {
    compare(candidate, installed) == Ordering::Greater
}

/// rpm's order of two `[EPOCH:]VERSION[-RELEASE]`: epoch as a number, then version,
/// then release (when both have one), each with [`rpmvercmp`].
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ae, av, ar) = split(a);
    let (be, bv, br) = split(b);
    let num = |e: &str| e.parse::<u64>().unwrap_or(0);
    num(ae).cmp(&num(be)).then_with(|| rpmvercmp(av, bv)).then_with(|| match (ar, br) {
        (Some(x), Some(y)) => rpmvercmp(x, y),
        _ => Ordering::Equal,
    })
}

/// rpm's version comparison: alternating runs of digits (compared as numbers) and
/// letters (compared as text); a numeric run is newer than a letter run; `~` sorts
/// before anything (pre-releases), `^` after the end but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let sep = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    loop {
        while a.first().is_some_and(sep) {
            a = &a[1..];
        }
        while b.first().is_some_and(sep) {
            b = &b[1..];
        }
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let run = |s: &[u8]| {
            s.iter().take_while(|c| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() }).count()
        };
        let (la, lb) = (run(a), run(b));
        if lb == 0 {
            // different kinds of run: the numeric one is newer
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let (sa, sb) = (&a[..la], &b[..lb]);
        let ord = if numeric {
            let trim = |s: &[u8]| {
                let z = s.iter().take_while(|c| **c == b'0').count();
                s[z..].to_vec()
            };
            let (ta, tb) = (trim(sa), trim(sb));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[la..];
        b = &b[lb..];
    }
}

pub fn steps(p: Provider, pkg: &Package, state: &State, diff: &Diff, sh: &mut Sh) {
    let bin = bin(p);
    let names = Package::changed(diff);
    if pkg.state == Want::Absent {
        sh.raw(bin).raw(" remove -y -q --");
        for n in names {
            sh.sp().q(n);
        }
        sh.nl();
        return;
    }
    if pkg.needs_refresh(state, &names) {
        sh.raw(bin).raw(" -q clean expire-cache\n").raw(bin).raw(" -q makecache\n");
    }
    let mut install: Vec<String> = Vec::new();
    let mut upgrade: Vec<String> = Vec::new();
    let mut downgrade: Vec<String> = Vec::new();
    for n in names {
        let have = state.installed.get(n);
        match (&pkg.version, have) {
            (Some(v), Some(h)) if compare(v, h) == Ordering::Less => downgrade.push(format!("{n}-{v}")),
            (Some(v), _) => install.push(format!("{n}-{v}")),
            (None, Some(_)) => upgrade.push(n.to_string()),
            (None, None) => install.push(n.to_string()),
        }
    }
    for (verb, specs) in [(" install", install), (" upgrade", upgrade), (" downgrade", downgrade)] {
        if specs.is_empty() {
            continue;
        }
        sh.raw(bin).raw(verb).raw(" -y -q");
        if !pkg.recommends && p == Provider::Dnf {
            sh.raw(" --setopt=install_weak_deps=False");
        }
        sh.raw(" --");
        for s in &specs {
            sh.sp().q(s);
        }
        sh.nl();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::pkg;
    use super::*;
    use crate::resources::{Action, Change, Kind};

    /// A RHEL 9 host: httpd installed (epoch 0), git missing, the cache knows both, and
    /// a newer httpd build.
    const DNF: &str = "provider=dnf\n\
        pkg=httpd 0 2.4.57-5.el9\n\
        pkg=tar 2 1.34-6.el9_1\n\
        pkg=tar 2 1.34-6.el9_1\n\
        candidate=httpd 0 2.4.57-8.el9\n\
        candidate=git 0 2.39.3-1.el9_2\n\
        \n\
        candidate=tar 2 1.34-6.el9_1\n";

    fn plan(p: &Package, out: &str) -> (Diff, String) {
        crate::resources::plan_of(p, out)
    }

    #[test]
    fn dnf_parses_rpm_and_repoquery() {
        let s = pkg(&["httpd"], Want::Present).parse(DNF).expect("parse");
        assert_eq!(s.provider, Provider::Dnf);
        assert_eq!(s.installed.get("httpd").map(String::as_str), Some("2.4.57-5.el9"));
        assert_eq!(s.installed.get("tar").map(String::as_str), Some("2:1.34-6.el9_1"));
        assert_eq!(s.candidate.get("git").map(String::as_str), Some("2.39.3-1.el9_2"));
    }

    /// `dnf repoquery --latest-limit 1` on an x86_64 host lists a multilib package once per
    /// architecture, sorted as text: here (versions for illustration) the i686 build lags
    /// the x86_64 one, and comes first. The newest is the candidate, whatever the order.
    #[test]
    fn dnf_takes_the_newest_candidate_of_a_multilib_package() {
        let out = "provider=dnf\n\
            pkg=glibc 0 2.34-60.el9\n\
            candidate=glibc 0 2.34-60.el9\n\
            \n\
            candidate=glibc 0 2.34-60.el9_2.7\n\
            \n";
        let s = pkg(&["glibc"], Want::Latest).parse(out).expect("parse");
        assert_eq!(s.candidate.get("glibc").map(String::as_str), Some("2.34-60.el9_2.7"));
        let (diff, sh) = plan(&pkg(&["glibc"], Want::Latest), out);
        assert_eq!(diff.changes, vec![Change::set("glibc", "2.34-60.el9", "2.34-60.el9_2.7")]);
        assert_eq!(sh, "dnf upgrade -y -q -- glibc\n");
        // the other order: the same candidate
        let swapped = "provider=dnf\ncandidate=glibc 0 2.34-60.el9_2.7\ncandidate=glibc 0 2.34-60.el9\n";
        let s = pkg(&["glibc"], Want::Latest).parse(swapped).expect("parse");
        assert_eq!(s.candidate.get("glibc").map(String::as_str), Some("2.34-60.el9_2.7"));
    }

    #[test]
    fn dnf_installs_what_is_missing() {
        let p = pkg(&["httpd", "git", "tar"], Want::Present);
        let (diff, sh) = plan(&p, DNF);
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes, vec![Change::new("git", None, Some("2.39.3-1.el9_2".into()))]);
        assert_eq!(sh, "dnf install -y -q -- git\n");
    }

    #[test]
    fn dnf_latest_upgrades_only_to_something_newer() {
        let p = pkg(&["httpd", "tar"], Want::Latest);
        let (diff, sh) = plan(&p, DNF);
        assert_eq!(diff.action, Action::Change);
        assert_eq!(diff.changes, vec![Change::set("httpd", "2.4.57-5.el9", "2.4.57-8.el9")]);
        assert_eq!(sh, "dnf upgrade -y -q -- httpd\n");
        // a repository with only an older build: nothing to do
        let older = "provider=dnf\npkg=httpd 0 2.4.57-5.el9\ncandidate=httpd 0 2.4.51-7.el9\n";
        assert!(plan(&pkg(&["httpd"], Want::Latest), older).0.is_ok());
    }

    #[test]
    fn dnf_pins_install_upgrade_and_downgrade() {
        let mut p = pkg(&["httpd"], Want::Present);
        p.version = Some("2.4.57".into());
        assert!(plan(&p, DNF).0.is_ok(), "any release of 2.4.57 matches");
        p.version = Some("2.4.57-5.el9".into());
        assert!(plan(&p, DNF).0.is_ok());
        p.version = Some("2.4.57-8.el9".into());
        let (diff, sh) = plan(&p, DNF);
        assert_eq!(diff.changes, vec![Change::set("httpd", "2.4.57-5.el9", "2.4.57-8.el9")]);
        assert_eq!(sh, "dnf install -y -q -- httpd-2.4.57-8.el9\n");
        p.version = Some("2.4.51-7.el9".into());
        let (_, sh) = plan(&p, DNF);
        assert_eq!(sh, "dnf -q clean expire-cache\ndnf -q makecache\ndnf downgrade -y -q -- httpd-2.4.51-7.el9\n");
        let mut tar = pkg(&["tar"], Want::Present);
        tar.version = Some("2:1.34-6.el9_1".into());
        assert!(plan(&tar, DNF).0.is_ok());
        tar.version = Some("1.34-6.el9_1".into());
        assert!(!plan(&tar, DNF).0.is_ok(), "epoch 0 is not epoch 2");
    }

    #[test]
    fn dnf_refreshes_the_cache_only_when_it_lacks_a_package() {
        let mut p = pkg(&["newpkg"], Want::Present);
        p.recommends = false;
        let (diff, sh) = plan(&p, "provider=dnf\n");
        assert_eq!(
            diff.changes,
            vec![Change::new("newpkg", None, Some("present (not in the local lists yet)".into()))]
        );
        assert_eq!(
            sh,
            "dnf -q clean expire-cache\ndnf -q makecache\ndnf install -y -q --setopt=install_weak_deps=False -- newpkg\n"
        );
        let mut p = pkg(&["git"], Want::Present);
        p.update_cache = true;
        assert!(plan(&p, DNF).1.starts_with("dnf -q clean expire-cache\n"));
    }

    #[test]
    fn dnf_removes() {
        let mut p = pkg(&["httpd", "git"], Want::Absent);
        p.purge = true;
        let (diff, sh) = plan(&p, "provider=dnf\npkg=httpd 0 2.4.57-5.el9\n");
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes, vec![Change::new("httpd", Some("2.4.57-5.el9".into()), None)]);
        assert_eq!(sh, "dnf remove -y -q -- httpd\n");
    }

    #[test]
    fn dnf_probe_reads_rpm_and_the_cache_only() {
        let mut sh = Sh::new();
        probe(Provider::Dnf, &["httpd".into(), "git".into()], true, true, &mut sh);
        assert_eq!(
            sh.text(),
            "q=$(rpm -q --qf 'pkg=%{NAME} %|EPOCH?{%{EPOCH}}:{0}| %{VERSION}-%{RELEASE}\\n' httpd git 2>/dev/null | grep '^pkg=')\n\
             printf '%s\\n' \"$q\"\n\
             if [ \"$(printf '%s\\n' \"$q\" | cut -d' ' -f1 | sort -u | grep -c '^pkg=')\" -lt 2 ]; then\n\
             dnf -q -C repoquery --latest-limit 1 --qf 'candidate=%{name} %{epoch} %{version}-%{release}\n' httpd git 2>/dev/null\n\
             fi\n"
        );
        let mut sh = Sh::new();
        probe(Provider::Dnf, &["httpd".into()], false, false, &mut sh);
        assert!(!sh.text().contains("repoquery"), "absent: no candidates");
    }

    /// `yum -q -C list available tar bind-utils python-virtualenv-clone`, then
    /// `... list updates`, through the probe's awk: the long name was wrapped.
    const YUM: &str = "provider=yum\n\
        pkg=httpd 0 2.4.6-97.el7_9\n\
        candidate=bind-utils.x86_64 32:9.11.4-26.P2.el7_9.15\n\
        candidate=python-virtualenv-clone.noarch 0.2.4-7.el7\n\
        candidate=httpd.x86_64 2.4.6-99.el7_9.1\n\
        candidate=httpd.i686 2.4.6-98.el7_9\n";

    #[test]
    fn yum_shares_the_code_with_its_own_binary() {
        let p = pkg(&["httpd", "bind-utils", "python-virtualenv-clone"], Want::Latest);
        let (diff, sh) = plan(&p, YUM);
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::set("httpd", "2.4.6-97.el7_9", "2.4.6-99.el7_9.1"),
                Change::new("bind-utils", None, Some("32:9.11.4-26.P2.el7_9.15".into())),
                Change::new("python-virtualenv-clone", None, Some("0.2.4-7.el7".into())),
            ]
        );
        assert_eq!(sh, "yum install -y -q -- bind-utils python-virtualenv-clone\nyum upgrade -y -q -- httpd\n");
        let mut p = pkg(&["httpd"], Want::Present);
        p.recommends = false;
        p.version = Some("2.4.6-95.el7".into());
        let (_, sh) = plan(&p, YUM);
        assert_eq!(sh, "yum -q clean expire-cache\nyum -q makecache\nyum downgrade -y -q -- httpd-2.4.6-95.el7\n");
        let (_, sh) = plan(&pkg(&["httpd"], Want::Absent), YUM);
        assert_eq!(sh, "yum remove -y -q -- httpd\n");
    }

    #[test]
    fn yum_probe_joins_wrapped_lines() {
        let mut sh = Sh::new();
        probe(Provider::Yum, &["python-virtualenv-clone".into()], true, true, &mut sh);
        let awk = sh.text().lines().find(|l| l.starts_with("yum -q -C list available")).expect("list").to_string();
        let script = awk.replace("yum -q -C list available python-virtualenv-clone 2>/dev/null", "cat");
        let listing = "Available Packages\npython-virtualenv-clone.noarch\n                     0.2.4-7.el7                      epel\nbind-utils.x86_64    32:9.11.4-26.P2.el7_9.15         updates\n";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(listing.as_bytes())?;
                c.wait_with_output()
            })
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "candidate=python-virtualenv-clone.noarch 0.2.4-7.el7\ncandidate=bind-utils.x86_64 32:9.11.4-26.P2.el7_9.15\n"
        );
    }

    #[test]
    fn garbage_is_refused() {
        let p = pkg(&["httpd"], Want::Present);
        assert!(p.parse("provider=dnf\npkg=httpd 2.4\n").is_err());
        assert!(p.parse("provider=dnf\ncandidate=httpd\n").is_err());
        assert!(p.parse("provider=yum\ncandidate=httpd 1.0\n").is_err(), "no architecture");
    }

    #[test]
    fn rpm_version_order() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.10", "1.9", Greater),
            ("1.010", "1.10", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0", "1.0a", Less),
            ("1.a", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("5.5p1", "5.5p10", Less),
            ("1_0", "1.0", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
        }
        assert_eq!(compare("1:1.0-1", "2.0-1"), Greater, "the epoch first");
        assert_eq!(compare("2.4.6-97.el7_9", "2.4.6-99.el7_9.1"), Less);
        assert_eq!(compare("2.4.6", "2.4.6-99"), Equal, "no release: any release");
    }
}
