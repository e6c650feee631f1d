//! A job as an entry of a user's crontab (`crontab=#true`): the crontab as `crontab -l`
//! lists it, the entry tagged `# converge: NAME` found, replaced, added or removed (on
//! the controller for the plan, and by the same edit in awk on the host, over the
//! crontab as it is when the step runs).

use super::super::record::Record;
use super::super::{Action, Change, Content, Diff, ProbeError};
use super::Cron;
use crate::script::Sh;

/// A user's crontab as `crontab -l` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crontab {
    /// The listing, one `\n` after each line; `None`: the user has no crontab.
    pub text: Option<String>,
    /// Why there is nothing to read yet (no such user, cron not installed).
    pub pending: Option<&'static str>,
}

impl Cron {
    fn marker(&self) -> String {
        format!("# converge: {}", self.name)
    }

    pub(super) fn crontab_diff(&self, line: Option<&str>, tab: &Crontab) -> Diff {
        let before = tab.text.clone().unwrap_or_default();
        let after = edit(&before, &self.marker(), line);
        if after == before {
            return Diff::ok();
        }
        let old = entry(&before, &self.marker());
        let action = match (&old, line) {
            (_, None) => Action::Remove,
            (None, Some(_)) => Action::Create,
            (Some(_), Some(_)) => Action::Change,
        };
        let change = Change::content(
            format!("crontab of {}", self.user),
            old.map(str::to_string),
            line.map(str::to_string),
            Content::Text { before, after },
        );
        let mut changes = vec![change];
        if let Some(why) = tab.pending {
            changes.push(Change::note(why.to_string()));
        }
        Diff::new(action, changes)
    }

    pub(super) fn crontab_steps(&self, line: Option<&str>, sh: &mut Sh) {
        sh.set("u", &self.user);
        sh.set("m", &self.marker());
        sh.set("l", line.unwrap_or(""));
        sh.raw("tmp=$(mktemp)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
        sh.raw("if cur=$(crontab -u \"$u\" -l 2>\"$tmp\"); then :\n");
        sh.raw("elif grep -q '^no crontab for' \"$tmp\"; then cur=\nelse cat -- \"$tmp\" >&2; exit 1; fi\n");
        edit_script(sh);
        sh.raw("if grep -q . \"$tmp\"; then crontab -u \"$u\" \"$tmp\"; else crontab -u \"$u\" -r; fi\n");
    }
}

/// The shell that writes `$cur` (a crontab listing) to `$tmp` with the entry tagged `$m`
/// replaced by `$l`, added at the end when missing, or removed when `$l` is empty. The
/// same edit as [`edit`], done on the host so that it applies to the crontab as it is
/// when the step runs.
fn edit_script(sh: &mut Sh) {
    sh.raw("{ [ -z \"$cur\" ] || printf '%s\\n' \"$cur\"; } | M=\"$m\" L=\"$l\" awk '\n");
    sh.raw("skip { skip = 0; if (index($0, \"# converge: \") != 1) next }\n");
    sh.raw("$0 == ENVIRON[\"M\"] { if (!done && ENVIRON[\"L\"] != \"\") { print; print ENVIRON[\"L\"] } done = 1; skip = 1; next }\n");
    sh.raw("{ print }\n");
    sh.raw("END { if (!done && ENVIRON[\"L\"] != \"\") { print ENVIRON[\"M\"]; print ENVIRON[\"L\"] } }' > \"$tmp\"\n");
}

/// A crontab with the entry tagged `marker` set to `line` (or removed): see [`edit_script`].
pub fn edit(text: &str, marker: &str, line: Option<&str>) -> String {
    let mut out = String::new();
    let (mut done, mut skip) = (false, false);
    for l in text.lines() {
        if std::mem::take(&mut skip) && !l.starts_with("# converge: ") {
            continue;
        }
        if l == marker {
            if let (false, Some(line)) = (done, line) {
                out.push_str(&format!("{marker}\n{line}\n"));
            }
            (done, skip) = (true, true);
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if let (false, Some(line)) = (done, line) {
        out.push_str(&format!("{marker}\n{line}\n"));
    }
    out
}

/// The job line under `marker`, if the crontab has one.
fn entry<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let mut lines = text.lines();
    lines.by_ref().find(|l| *l == marker)?;
    lines.next().filter(|l| !l.starts_with("# converge: "))
}

pub(super) fn parse_crontab(out: &str) -> Result<Crontab, ProbeError> {
    let rec = Record::parse(out)?;
    let empty = |pending| Ok(Crontab { text: None, pending });
    match rec.req("crontab")? {
        "none" => empty(None),
        "nouser" => empty(Some("the user does not exist yet")),
        "notool" => empty(Some("crontab is not installed yet")),
        "present" => {
            let body = rec.body()?.ok_or_else(|| ProbeError("the crontab listing is missing".into()))?;
            let text = String::from_utf8(body).map_err(|_| ProbeError("the crontab is not UTF-8 text".into()))?;
            let text = if text.trim().is_empty() { String::new() } else { text };
            Ok(Crontab { text: Some(text), pending: None })
        }
        "error" => Err(ProbeError("crontab -l failed".into())),
        other => Err(ProbeError(format!("unexpected crontab={other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::job;
    use super::*;
    use crate::resources::{Kind, PlanCx};

    const TAB: &str =
        "MAILTO=ops@example.org\n# converge: power-off\n0 21 * * * /sbin/shutdown -h now\n*/5 * * * * /bin/other\n";

    #[test]
    fn crontab_entry_is_replaced_in_place_added_or_removed() {
        let m = "# converge: power-off";
        let new = "0 22 * * * /sbin/shutdown -h now";
        assert_eq!(
            edit(TAB, m, Some(new)),
            "MAILTO=ops@example.org\n# converge: power-off\n0 22 * * * /sbin/shutdown -h now\n*/5 * * * * /bin/other\n"
        );
        assert_eq!(edit(TAB, m, None), "MAILTO=ops@example.org\n*/5 * * * * /bin/other\n");
        assert_eq!(edit("", m, Some(new)), format!("{m}\n{new}\n"));
        // a marker whose entry was deleted by hand keeps the next entry's marker
        assert_eq!(edit("# converge: power-off\n# converge: b\nx\n", m, None), "# converge: b\nx\n");
    }

    #[test]
    fn the_host_side_edit_matches_the_plan() {
        let m = "# converge: power-off";
        for (cur, line) in [
            (TAB, Some("0 22 * * * /sbin/shutdown -h now")),
            (TAB, None),
            ("", Some("@daily echo '100%' \\$x")),
            ("# converge: power-off\n# converge: b\nx\n", None),
            ("# converge: power-off\nold\n# converge: power-off\nolder\n", Some("new")),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut sh = Sh::new();
            sh.set("cur", cur.trim_end_matches('\n'));
            sh.set("m", m);
            sh.set("l", line.unwrap_or(""));
            sh.set("tmp", dir.path().join("out").to_str().expect("utf8"));
            edit_script(&mut sh);
            sh.raw("cat \"$tmp\"\n");
            let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), edit(cur, m, line), "{cur:?} {line:?}");
        }
    }

    #[test]
    fn crontab_plan_shows_the_entry_and_the_whole_crontab() {
        let j = job(true, Some("0 22 * * * /sbin/shutdown -h now"));
        let out = format!("crontab=present\n--body--\n{}\n", base64_of(TAB));
        let state = j.parse(&out).expect("parse");
        let diff = j.diff(&state, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        assert_eq!(diff.changes[0].before(), Some("0 21 * * * /sbin/shutdown -h now"));
        assert_eq!(diff.changes[0].after(), Some("0 22 * * * /sbin/shutdown -h now"));
        assert!(matches!(diff.changes[0].content_shown(), Some(Content::Text { before, .. }) if before == TAB));
        let mut sh = Sh::new();
        j.steps(&state, &diff, &mut sh);
        assert!(sh.text().contains("crontab -u \"$u\" \"$tmp\""), "{}", sh.text());
        // in sync
        let synced = edit(TAB, "# converge: power-off", Some("0 22 * * * /sbin/shutdown -h now"));
        let out = format!("crontab=present\n--body--\n{}\n", base64_of(&synced));
        assert!(j.diff(&j.parse(&out).expect("parse"), &PlanCx::default()).is_ok());
        // no crontab, no user yet
        let none = j.parse("crontab=none\n").expect("parse");
        assert_eq!(j.diff(&none, &PlanCx::default()).action, Action::Create);
        let nouser = j.parse("crontab=nouser\n").expect("parse");
        assert_eq!(j.diff(&nouser, &PlanCx::default()).changes[1].field(), "note");
        assert!(job(true, None).diff(&none, &PlanCx::default()).is_ok());
        assert!(j.parse("crontab=error\n").is_err());
        assert!(j.parse("crontab=present\n").is_err());
    }

    fn base64_of(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }
}
