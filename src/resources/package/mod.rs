//! `package`: system packages, installed, at the latest version, pinned, or removed.
//!
//! ```kdl
//! package "nginx-light"
//! package "cron" "python3-venv"        // several packages, one install command
//! package "jq" version="1.6-2.1"
//! package "tree" state="latest"
//! package "telnet" state="absent" purge=#true
//! ```
//!
//! The kind (this file) owns the properties, their validation and the shape of the diff:
//! one field per package, installed version before, wanted version after. Providers own
//! the probe snippet's queries, the parsing of their output, version matching and the
//! commands: apt (`apt.rs`: Debian, Ubuntu) and dnf (`dnf.rs`: RHEL, Fedora; yum shares
//! its code with its own binary). Which one a host has is found inside the same probe
//! snippet (`command -v dpkg-query`, `rpm` with `dnf` or `yum`), so choosing a provider
//! costs no extra exchange; parse, diff and steps dispatch on the provider the probe
//! printed. A host with none of them is a probe error, never "nothing to do".
//!
//! The installed versions are read in one query; the candidate versions (what an install
//! would get, from the local package lists or metadata cache, never the network) only
//! when something is missing or `latest` is asked, so a no-op probe stays cheap. The
//! lists are refreshed before an install only when a wanted package or version is not in
//! them, or with `update-cache=#true`. Each name is addressable on its own:
//! `require="package:cron"`.

mod apt;
mod dnf;

use std::collections::BTreeMap;

use super::record::Record;
use super::{Action, Change, Diff, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Package {
    names: Vec<String>,
    state: Want,
    version: Option<String>,
    update_cache: bool,
    purge: bool,
    recommends: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Present,
    Latest,
    Absent,
}

/// The package manager a host has, as its probe found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    #[default]
    Apt,
    Dnf,
    Yum,
}

impl Provider {
    fn named(s: &str) -> Option<Provider> {
        match s {
            "apt" => Some(Provider::Apt),
            "dnf" => Some(Provider::Dnf),
            "yum" => Some(Provider::Yum),
            _ => None,
        }
    }

    /// Whether an installed version is the wanted one.
    fn matches(self, wanted: &str, installed: &str) -> bool {
        match self {
            Provider::Apt => wanted == installed,
            Provider::Dnf | Provider::Yum => dnf::matches(wanted, installed),
        }
    }

    /// Whether a candidate is newer than what is installed (`latest`).
    fn newer(self, candidate: &str, installed: &str) -> bool {
        match self {
            // apt's candidate already accounts for what is installed
            Provider::Apt => candidate != installed,
            Provider::Dnf | Provider::Yum => dnf::newer(candidate, installed),
        }
    }
}

/// What the host has, per package name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub provider: Provider,
    /// Installed version, per name (only installed packages).
    pub installed: BTreeMap<String, String>,
    /// Candidate version from the local lists, per name (when asked for).
    pub candidate: BTreeMap<String, String>,
}

/// A Debian or RPM version (epoch, upstream version, revision or release).
fn valid_version(v: &str) -> bool {
    !v.starts_with('-') && v.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~:_^-".contains(&b))
}

pub fn valid_name(n: &str) -> bool {
    n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._:".contains(&b))
}

impl Package {
    /// Whether candidates are probed: only when something may be installed.
    fn wants_candidates(&self) -> bool {
        self.state != Want::Absent
    }

    /// The names a step acts on: the diff's fields.
    fn changed(diff: &Diff) -> Vec<&str> {
        diff.changes.iter().map(|c| c.field()).collect()
    }

    /// Whether the local lists must be refreshed first: asked for, or a wanted package
    /// or version is not in them.
    fn needs_refresh(&self, state: &State, names: &[&str]) -> bool {
        self.update_cache
            || names.iter().any(|n| match &self.version {
                Some(v) => {
                    !state.candidate.get(*n).is_some_and(|c| state.provider.matches(v, c))
                        && !state.installed.get(*n).is_some_and(|i| state.provider.matches(v, i))
                }
                None => !state.candidate.contains_key(*n),
            })
    }
}

impl Kind for Package {
    const KIND: &'static str = "package";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Package> {
        let first = r.arg("a package name");
        let rest = r.rest_args("a package name");
        let state = match r.choice("state", &["present", "latest", "absent"]) {
            Some("latest") => Want::Latest,
            Some("absent") => Want::Absent,
            _ => Want::Present,
        };
        let version = r.nonempty("version");
        let update_cache = r.bool("update-cache").unwrap_or(false);
        let purge = r.bool("purge").unwrap_or(false);
        let recommends = r.bool("recommends").unwrap_or(true);
        let names: Vec<_> = first.into_iter().chain(rest).collect();
        for n in &names {
            if !valid_name(&n.value) {
                r.error(
                    Diag::new(Code::Package, format!("`{}` is not a package name", n.value), &n.at, "invalid name")
                        .help("package names are letters, digits and + - . _ :, starting with a letter or digit"),
                );
            }
        }
        if let Some(v) = &version {
            if names.len() > 1 {
                r.error(
                    Diag::new(Code::Package, "`version` pins one package", &v.at, "several packages named")
                        .help("write one `package` node per pinned version"),
                );
            } else if state != Want::Present {
                r.error(Diag::new(Code::Package, "`version` needs state=\"present\"", &v.at, "conflicts with `state`"));
            }
            if !valid_version(&v.value) {
                r.error(
                    Diag::new(
                        Code::Package,
                        format!("`{}` is not a package version", v.value),
                        &v.at,
                        "invalid version",
                    )
                    .help("versions are letters, digits and . + ~ : _ ^ -, like `1.6-2.1` or `2:8.2.3995-1+deb12u2`"),
                );
            }
        }
        if names.is_empty() || r.failed() {
            return None;
        }
        Some(Package {
            names: names.into_iter().map(|n| n.value).collect(),
            state,
            version: version.map(|v| v.value),
            update_cache,
            purge,
            recommends,
        })
    }

    fn name(&self) -> &str {
        &self.names[0]
    }

    fn aliases(&self) -> Vec<String> {
        self.names[1..].to_vec()
    }

    fn probe(&self, sh: &mut Sh) {
        sh.raw(
            "if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then\necho provider=apt\n",
        );
        apt::probe(&self.names, self.state == Want::Present, self.wants_candidates(), sh);
        sh.raw("elif command -v rpm >/dev/null 2>&1 && command -v dnf >/dev/null 2>&1; then\necho provider=dnf\n");
        dnf::probe(Provider::Dnf, &self.names, self.state == Want::Present, self.wants_candidates(), sh);
        sh.raw("elif command -v rpm >/dev/null 2>&1 && command -v yum >/dev/null 2>&1; then\necho provider=yum\n");
        dnf::probe(Provider::Yum, &self.names, self.state == Want::Present, self.wants_candidates(), sh);
        sh.raw("else\necho provider=none\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let provider = match rec.req("provider")? {
            "none" => return Err(ProbeError("no supported package manager on the host (apt, dnf, yum)".into())),
            p => Provider::named(p).ok_or_else(|| ProbeError(format!("unknown package provider {p:?}")))?,
        };
        let (installed, candidate) = match provider {
            Provider::Apt => apt::parse(&rec)?,
            Provider::Dnf => dnf::parse_dnf(&rec)?,
            Provider::Yum => dnf::parse_yum(&rec)?,
        };
        Ok(State { provider, installed, candidate })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let p = state.provider;
        let mut changes = Vec::new();
        let mut creates = false;
        for n in &self.names {
            let have = state.installed.get(n);
            let candidate = state.candidate.get(n);
            let want: Option<String> = match self.state {
                Want::Absent => None,
                Want::Present => match (&self.version, have) {
                    (Some(v), Some(h)) if p.matches(v, h) => continue,
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(_)) => continue,
                    (None, None) => {
                        Some(candidate.cloned().unwrap_or_else(|| "present (not in the local lists yet)".into()))
                    }
                },
                Want::Latest => match (candidate, have) {
                    (Some(c), Some(h)) if !p.newer(c, h) => continue,
                    (Some(c), _) => Some(c.clone()),
                    (None, Some(_)) => continue,
                    (None, None) => Some("latest (not in the local lists yet)".into()),
                },
            };
            if want.is_none() && have.is_none() {
                continue;
            }
            creates |= have.is_none();
            changes.push(Change::new(n.clone(), have.cloned(), want));
        }
        let action = match self.state {
            Want::Absent => Action::Remove,
            _ if creates => Action::Create,
            _ => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        match state.provider {
            Provider::Apt => apt::steps(self, state, diff, sh),
            p @ (Provider::Dnf | Provider::Yum) => dnf::steps(p, self, state, diff, sh),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn pkg(names: &[&str], state: Want) -> Package {
        Package {
            names: names.iter().map(|s| s.to_string()).collect(),
            state,
            version: None,
            update_cache: false,
            purge: false,
            recommends: true,
        }
    }

    #[test]
    fn the_probe_finds_the_provider_in_the_same_snippet() {
        let mut sh = Sh::new();
        pkg(&["tree"], Want::Present).probe(&mut sh);
        let t = sh.text();
        let apt = t.find("echo provider=apt").expect("apt");
        let dnf = t.find("echo provider=dnf").expect("dnf");
        let yum = t.find("echo provider=yum").expect("yum");
        assert!(apt < dnf && dnf < yum && t.ends_with("else\necho provider=none\nfi\n"), "{t}");
        assert!(t.contains("dpkg-query -W") && t.contains("rpm -q") && t.contains("dnf -q -C repoquery"), "{t}");
        assert!(t.contains("yum -q -C list available"), "{t}");
    }

    #[test]
    fn a_host_without_a_known_provider_is_an_error() {
        let p = pkg(&["tree"], Want::Present);
        let e = p.parse("provider=none\n").expect_err("none");
        assert!(e.0.contains("no supported package manager"), "{e}");
        assert!(p.parse("provider=pacman\n").is_err());
        assert!(p.parse("pkg=tree|installed|1\n").is_err(), "the provider line is required");
    }
}
