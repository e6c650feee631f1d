//! `timezone`: the host's time zone, `/etc/localtime` and Debian's `/etc/timezone`.
//!
//! ```kdl
//! package "tzdata"
//! timezone "Europe/Berlin"
//! ```
//!
//! `/etc/localtime` is made a symbolic link to `/usr/share/zoneinfo/ZONE` (replaced
//! atomically: a new link renamed over the old one or over a copied file), as
//! `timedatectl set-timezone` and Debian's tzdata do; a link written as
//! `../usr/share/zoneinfo/ZONE` (systemd's way) counts as the same. `/etc/timezone` gets
//! the zone's name on one line (what Debian's tzdata reads back). No tool is needed on the
//! host, and no daemon is involved: programs read /etc/localtime when they start
//! (long-running services keep the zone they started with until restarted).
//!
//! The zone must exist in `/usr/share/zoneinfo` (from the `tzdata` package, which the
//! resource depends on when it is managed): otherwise the step fails and says so.

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

const ZONEINFO: &str = "/usr/share/zoneinfo/";

#[derive(Debug)]
pub struct Timezone {
    zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Localtime {
    Absent,
    Link(String),
    /// A regular file (a copy of a zone file), or something else.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub localtime: Localtime,
    /// `/etc/timezone`'s first line; `None`: no such file.
    pub timezone: Option<String>,
    /// Whether the zone file exists on the host.
    pub known: bool,
}

/// The zone a link to a zone file names (`/usr/share/zoneinfo/Etc/UTC`,
/// `../usr/share/zoneinfo/Etc/UTC`), if it is one.
fn zone_of(target: &str) -> Option<&str> {
    let t = target.trim_start_matches("../").trim_start_matches('/');
    t.strip_prefix(ZONEINFO.trim_start_matches('/'))
}

/// A zone name as tzdata has them: `Area/City`, `UTC`, `Etc/GMT+5`.
fn valid(zone: &str) -> bool {
    zone.split('/').all(|c| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && !c.starts_with('-')
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
    })
}

fn check(r: &mut NodeReader, zone: &Spanned<String>) -> bool {
    if valid(&zone.value) {
        return true;
    }
    r.error(
        Diag::new(Code::Timezone, format!("`{}` is not a time zone name", zone.value), &zone.at, "not a zone name")
            .help("a name from the tz database, as `timedatectl list-timezones` prints it: Europe/Berlin, America/New_York, UTC"),
    );
    false
}

impl Kind for Timezone {
    const KIND: &'static str = "timezone";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Timezone> {
        let zone = r.arg("a time zone (Europe/Berlin)")?;
        if !check(r, &zone) {
            return None;
        }
        Some(Timezone { zone: zone.value })
    }

    fn name(&self) -> &str {
        &self.zone
    }

    fn deps(&self) -> Vec<Implicit> {
        vec![Implicit::new("package", "tzdata", "zone files")]
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("z", &format!("{ZONEINFO}{}", self.zone));
        sh.raw(
            "if [ -L /etc/localtime ]; then printf '%s\\n' \"localtime=link\" \"target=$(readlink /etc/localtime)\"\n",
        );
        sh.raw("elif [ -e /etc/localtime ]; then echo localtime=file; else echo localtime=absent; fi\n");
        sh.raw("if [ -f /etc/timezone ]; then printf '%s\\n' \"timezone=$(head -n 1 /etc/timezone)\"; fi\n");
        sh.raw("if [ -f \"$z\" ]; then echo known=yes; else echo known=no; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let localtime = match rec.req("localtime")? {
            "link" => Localtime::Link(rec.req("target")?.to_string()),
            "file" => Localtime::Other("a regular file".into()),
            "absent" => Localtime::Absent,
            other => return Err(ProbeError(format!("unexpected localtime={other:?}"))),
        };
        let known = match rec.req("known")? {
            "yes" => true,
            "no" => false,
            other => return Err(ProbeError(format!("unexpected known={other:?}"))),
        };
        Ok(State { localtime, timezone: rec.get("timezone").map(|t| t.trim().to_string()), known })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        let before = match &state.localtime {
            Localtime::Link(t) if zone_of(t) == Some(self.zone.as_str()) => None,
            Localtime::Link(t) => Some(Some(zone_of(t).map_or(format!("link to {t}"), str::to_string))),
            Localtime::Other(what) => Some(Some(what.clone())),
            Localtime::Absent => Some(None),
        };
        if let Some(before) = before {
            let after = if state.known {
                self.zone.clone()
            } else {
                format!("{} (no {ZONEINFO}{} on the host yet: package \"tzdata\")", self.zone, self.zone)
            };
            changes.push(Change::new("/etc/localtime", before, Some(after)));
        }
        if state.timezone.as_deref() != Some(self.zone.as_str()) {
            changes.push(Change::new("/etc/timezone", state.timezone.clone(), Some(self.zone.clone())));
        }
        Diff::new(Action::Change, changes)
    }

    fn steps(&self, _state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("n", &self.zone);
        sh.set("z", &format!("{ZONEINFO}{}", self.zone));
        sh.raw("[ -f \"$z\" ] || { printf '%s\\n' \"no time zone $n: $z does not exist (is tzdata installed?)\" >&2; exit 1; }\n");
        if diff.changes.iter().any(|c| c.field() == "/etc/localtime") {
            sh.raw("[ ! -d /etc/localtime ] || [ -L /etc/localtime ] || { echo 'refusing to replace the directory /etc/localtime' >&2; exit 1; }\n");
            sh.raw("tmp=/etc/.converge.$$.localtime\nrm -f -- \"$tmp\"\nln -s -- \"$z\" \"$tmp\"\nmv -Tf -- \"$tmp\" /etc/localtime\n");
        }
        if diff.changes.iter().any(|c| c.field() == "/etc/timezone") {
            sh.raw("tmp=$(mktemp /etc/.converge.XXXXXXXX)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
            sh.raw(
                "printf '%s\\n' \"$n\" > \"$tmp\"\nchmod 0644 \"$tmp\"\nmv -f -- \"$tmp\" /etc/timezone\ntrap - EXIT\n",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{build_from, plan_of};

    fn tz(zone: &str) -> Timezone {
        build_from::<Timezone>(&format!("timezone \"{zone}\"")).expect("builds")
    }

    #[test]
    fn links_the_zone_and_names_it() {
        let t = tz("Europe/Berlin");
        let (diff, steps) =
            plan_of(&t, "localtime=link\ntarget=/usr/share/zoneinfo/Etc/UTC\ntimezone=Etc/UTC\nknown=yes\n");
        assert_eq!(
            diff.changes,
            vec![
                Change::set("/etc/localtime", "Etc/UTC", "Europe/Berlin"),
                Change::set("/etc/timezone", "Etc/UTC", "Europe/Berlin")
            ]
        );
        assert!(steps.contains("ln -s -- \"$z\" \"$tmp\"\nmv -Tf -- \"$tmp\" /etc/localtime"), "{steps}");
        assert!(steps.contains("mv -f -- \"$tmp\" /etc/timezone"), "{steps}");
    }

    #[test]
    fn systemds_relative_link_is_the_same_zone() {
        let t = tz("Europe/Berlin");
        let out = "localtime=link\ntarget=../usr/share/zoneinfo/Europe/Berlin\ntimezone=Europe/Berlin\nknown=yes\n";
        assert!(plan_of(&t, out).0.is_ok());
        let (diff, steps) = plan_of(&t, "localtime=link\ntarget=../usr/share/zoneinfo/Europe/Berlin\nknown=yes\n");
        assert_eq!(diff.changes, vec![Change::new("/etc/timezone", None, Some("Europe/Berlin".into()))]);
        assert!(!steps.contains("localtime"), "{steps}");
    }

    #[test]
    fn a_copied_file_is_replaced_and_a_missing_zone_fails_the_step() {
        let t = tz("UTC");
        let (diff, _) = plan_of(&t, "localtime=file\ntimezone=UTC\nknown=yes\n");
        assert_eq!(diff.changes, vec![Change::set("/etc/localtime", "a regular file", "UTC")]);
        let (diff, steps) = plan_of(&t, "localtime=absent\nknown=no\n");
        assert!(diff.changes[0].after().expect("after").contains("package \"tzdata\""));
        assert!(steps.contains("is tzdata installed?"), "{steps}");
        assert!(t.parse("localtime=link\nknown=yes\n").is_err(), "a link without its target");
    }

    #[test]
    fn names_are_checked_at_their_token() {
        for good in ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14"] {
            assert!(valid(good), "{good}");
        }
        for bad in ["", "/UTC", "Europe/../../etc/passwd", "Europe//Berlin", "Europe/Ber lin", "-x", "UTC/"] {
            assert!(!valid(bad), "{bad}");
        }
        assert_eq!(
            build_from::<Timezone>("timezone \"../etc/shadow\"").expect_err("refused"),
            ["`../etc/shadow` is not a time zone name @ not a zone name"]
        );
    }
}
