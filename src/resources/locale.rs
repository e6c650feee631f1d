//! `locale`: a locale generated (or not) on a Debian host, and optionally the default one.
//!
//! ```kdl
//! package "locales"
//! locale "en_US.UTF-8" default=#true
//! locale "de_DE.UTF-8"
//! locale "fr_FR.UTF-8" state="absent"
//! ```
//!
//! Debian's way, as Ansible's `locale_gen` does it: the locale's line in
//! `/etc/locale.gen` (`en_US.UTF-8 UTF-8`, its charset taken from
//! `/usr/share/i18n/SUPPORTED` on the host) is uncommented, or added, and `locale-gen` run;
//! `state="absent"` comments it out and runs `locale-gen` again, which rebuilds the
//! locale archive without it. The line is edited at apply time (an `awk`, the same edit
//! the plan computes, tested to agree), the rest of the file kept. Whether the locale is
//! generated is read from `locale -a`, whose names glibc normalizes (`en_US.utf8` for
//! `en_US.UTF-8`): converge compares them normalized the same way.
//!
//! `default=#true` makes it the system's `LANG` in `/etc/default/locale`, with
//! `update-locale` (which new login sessions read; running services keep theirs).
//!
//! A name that `/usr/share/i18n/SUPPORTED` does not list fails the step, and says so. The
//! resource depends on the managed `package` `locales`.

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

#[derive(Debug)]
pub struct Locale {
    name: String,
    present: bool,
    default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The charset SUPPORTED gives it; `None`: not listed; `Some("")`: no SUPPORTED file.
    pub charset: Option<String>,
    /// Whether its line in /etc/locale.gen is uncommented.
    pub enabled: bool,
    /// Whether `locale -a` lists it.
    pub generated: bool,
    /// `LANG` in /etc/default/locale.
    pub lang: Option<String>,
}

/// A locale name as glibc normalizes it: the codeset lower case, letters and digits only
/// (`en_US.UTF-8@euro` → `en_US.utf8@euro`).
pub fn normalize(name: &str) -> String {
    let (base, modifier) = match name.split_once('@') {
        Some((b, m)) => (b, Some(m)),
        None => (name, None),
    };
    let mut out = match base.split_once('.') {
        Some((lang, codeset)) => {
            let cs: String =
                codeset.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
            format!("{lang}.{cs}")
        }
        None => base.to_string(),
    };
    if let Some(m) = modifier {
        out.push('@');
        out.push_str(m);
    }
    out
}

/// /etc/locale.gen with `name`'s line enabled (uncommented, or `name charset` added) or
/// disabled (commented out); further lines of the same locale removed. The same edit as
/// [`edit_script`].
pub fn edit(text: &str, name: &str, charset: &str, on: bool) -> String {
    let mut out = String::new();
    let mut done = false;
    for l in text.lines() {
        let s = l.trim_start_matches([' ', '\t']);
        let s = match s.strip_prefix('#') {
            Some(rest) => rest.trim_start_matches([' ', '\t']),
            None => s,
        };
        let f: Vec<&str> = s.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        if f.len() >= 2 && f[0] == name {
            if !done {
                out.push_str(&format!("{}{} {}\n", if on { "" } else { "# " }, f[0], f[1]));
            }
            done = true;
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !done && on {
        out.push_str(&format!("{name} {charset}\n"));
    }
    out
}

/// Writes to `$tmp` the file `$f` edited as [`edit`] does: `$n` the name, `$cs` its
/// charset, `$on` 1 to enable.
fn edit_script(sh: &mut Sh) {
    sh.raw("{ [ ! -f \"$f\" ] || cat -- \"$f\"; } | N=\"$n\" CS=\"$cs\" ON=\"$on\" awk '\n");
    sh.raw("{ s = $0; sub(/^[ \\t]*/, \"\", s); if (substr(s, 1, 1) == \"#\") { s = substr(s, 2); sub(/^[ \\t]*/, \"\", s) }\n");
    sh.raw("  k = split(s, f, /[ \\t]+/)\n");
    sh.raw("  if (k >= 2 && f[1] == ENVIRON[\"N\"] && f[2] != \"\") { if (!done) print (ENVIRON[\"ON\"] == \"1\" ? \"\" : \"# \") f[1] \" \" f[2]; done = 1; next }\n");
    sh.raw("  print }\n");
    sh.raw("END { if (!done && ENVIRON[\"ON\"] == \"1\") print ENVIRON[\"N\"] \" \" ENVIRON[\"CS\"] }' > \"$tmp\"\n");
}

fn check(r: &mut NodeReader, name: &Spanned<String>) -> bool {
    let n = &name.value;
    let ok = !n.is_empty()
        && !n.starts_with(['-', '.', '@'])
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
    if ok {
        return true;
    }
    r.error(
        Diag::new(Code::Locale, format!("`{n}` is not a locale name"), &name.at, "not a locale name")
            .help("a name as /usr/share/i18n/SUPPORTED lists it: en_US.UTF-8, de_DE@euro, C.UTF-8"),
    );
    false
}

impl Kind for Locale {
    const KIND: &'static str = "locale";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Locale> {
        let name = r.arg("a locale (en_US.UTF-8)");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let default = r.bool_spanned("default");
        let name = name?;
        if !check(r, &name) {
            return None;
        }
        if let Some(d) = default.as_ref().filter(|d| d.value && !present) {
            r.error(Diag::new(Code::Conflict, "an absent locale cannot be the default", &d.at, "default with absent"));
            return None;
        }
        Some(Locale { name: name.value, present, default: default.is_some_and(|d| d.value) })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        vec![Implicit::new("package", "locales", "locale-gen")]
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("n", &self.name);
        sh.raw("if [ -f /usr/share/i18n/SUPPORTED ]; then cs=$(N=\"$n\" awk '$1 == ENVIRON[\"N\"] { print $2; exit }' /usr/share/i18n/SUPPORTED); printf '%s\\n' \"charset=${cs:-(none)}\"; else echo charset=; fi\n");
        sh.raw("if [ -f /etc/locale.gen ] && N=\"$n\" awk '$1 == ENVIRON[\"N\"] && NF >= 2 { f = 1 } END { exit !f }' /etc/locale.gen; then echo enabled=yes; else echo enabled=no; fi\n");
        sh.raw("if command -v locale >/dev/null 2>&1; then locale -a 2>/dev/null | sed 's/^/have=/'; fi\n");
        if self.default {
            sh.raw("if [ -f /etc/default/locale ]; then sed -n -e 's/^[[:space:]]*LANG=//p' /etc/default/locale | tr -d '\"' | sed 's/^/lang=/'; fi\n");
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let charset = match rec.req("charset")? {
            "(none)" => None,
            cs => Some(cs.to_string()),
        };
        let enabled = match rec.req("enabled")? {
            "yes" => true,
            "no" => false,
            other => return Err(ProbeError(format!("unexpected enabled={other:?}"))),
        };
        let want = normalize(&self.name);
        let generated = rec.all("have").iter().any(|h| normalize(h) == want);
        Ok(State { charset, enabled, generated, lang: rec.get("lang").map(str::to_string) })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        if state.enabled != self.present {
            changes.push(Change::set("in /etc/locale.gen", yes_no(state.enabled), yes_no(self.present)));
        }
        if state.generated != self.present {
            let after = match (&state.charset, self.present) {
                (None, true) => "yes (but /usr/share/i18n/SUPPORTED does not list it)".to_string(),
                (Some(cs), true) if cs.is_empty() => "yes (once package \"locales\" is installed)".to_string(),
                _ => yes_no(self.present),
            };
            changes.push(Change::set("generated", yes_no(state.generated), after));
        }
        if self.default && state.lang.as_deref() != Some(self.name.as_str()) {
            changes.push(Change::new("LANG in /etc/default/locale", state.lang.clone(), Some(self.name.clone())));
        }
        let action = match (self.present, state.enabled || state.generated) {
            (false, _) => Action::Remove,
            (true, false) => Action::Create,
            (true, true) => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, _state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("n", &self.name);
        let regen = diff.changes.iter().any(|c| c.field() == "generated" || c.field() == "in /etc/locale.gen");
        if regen {
            sh.raw("command -v locale-gen >/dev/null 2>&1 || { echo 'locale-gen is missing: is the locales package installed?' >&2; exit 1; }\n");
            sh.raw(
                "cs=$(N=\"$n\" awk '$1 == ENVIRON[\"N\"] { print $2; exit }' /usr/share/i18n/SUPPORTED 2>/dev/null)\n",
            );
            if self.present {
                sh.raw(
                    "[ -n \"$cs\" ] || { printf '%s\\n' \"no locale $n in /usr/share/i18n/SUPPORTED\" >&2; exit 1; }\n",
                );
            }
            sh.raw("f=/etc/locale.gen\non=").raw(if self.present { "1" } else { "0" }).nl();
            sh.raw("tmp=$(mktemp /etc/.converge.XXXXXXXX)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
            edit_script(sh);
            sh.raw("if [ -f \"$f\" ]; then chown --reference=\"$f\" -- \"$tmp\"; chmod --reference=\"$f\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
            sh.raw("mv -f -- \"$tmp\" \"$f\"\ntrap - EXIT\n");
            sh.raw("locale-gen >/dev/null\n");
        }
        if diff.changes.iter().any(|c| c.field() == "LANG in /etc/default/locale") {
            sh.raw("update-locale \"LANG=$n\"\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{build_from, plan_of};

    fn locale(kdl: &str) -> Locale {
        build_from::<Locale>(kdl).expect("builds")
    }

    #[test]
    fn names_normalize_as_glibc_does() {
        assert_eq!(normalize("en_US.UTF-8"), "en_US.utf8");
        assert_eq!(normalize("de_DE.ISO-8859-15@euro"), "de_DE.iso885915@euro");
        assert_eq!(normalize("de_DE@euro"), "de_DE@euro");
        assert_eq!(normalize("C.UTF-8"), normalize("C.utf8"));
    }

    #[test]
    fn a_new_locale_is_enabled_generated_and_made_default() {
        let l = locale("locale \"en_US.UTF-8\" default=#true");
        let (diff, steps) = plan_of(&l, "charset=UTF-8\nenabled=no\nhave=C\nhave=C.utf8\nhave=POSIX\nlang=C.UTF-8\n");
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::set("in /etc/locale.gen", "no", "yes"),
                Change::set("generated", "no", "yes"),
                Change::set("LANG in /etc/default/locale", "C.UTF-8", "en_US.UTF-8"),
            ]
        );
        assert!(steps.contains("on=1\n") && steps.contains("\nlocale-gen >/dev/null\n"), "{steps}");
        assert!(steps.ends_with("update-locale \"LANG=$n\"\n"), "{steps}");
        let synced = "charset=UTF-8\nenabled=yes\nhave=C\nhave=en_US.utf8\nlang=en_US.UTF-8\n";
        assert!(plan_of(&l, synced).0.is_ok());
    }

    #[test]
    fn absent_disables_and_regenerates() {
        let l = locale("locale \"fr_FR.UTF-8\" state=\"absent\"");
        let (diff, steps) = plan_of(&l, "charset=UTF-8\nenabled=yes\nhave=fr_FR.utf8\n");
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes.len(), 2);
        assert!(steps.contains("on=0\n") && steps.contains("\nlocale-gen >/dev/null\n"), "{steps}");
        assert!(plan_of(&l, "charset=UTF-8\nenabled=no\nhave=C\n").0.is_ok());
    }

    #[test]
    fn unknown_and_uninstalled_are_said_in_the_plan() {
        let l = locale("locale \"xx_YY.UTF-8\"");
        let (diff, steps) = plan_of(&l, "charset=(none)\nenabled=no\n");
        assert!(diff.changes[1].after().expect("after").contains("does not list it"));
        assert!(steps.contains("no locale $n in /usr/share/i18n/SUPPORTED"), "{steps}");
        let (diff, _) = plan_of(&l, "charset=\nenabled=no\n");
        assert!(diff.changes[1].after().expect("after").contains("package \"locales\""));
        assert!(l.parse("enabled=yes\n").is_err());
    }

    #[test]
    fn locale_gen_edit_and_the_host_side_edit_agree() {
        let text = "# This file lists locales\n# en_US ISO-8859-1\n# en_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n#  fr_FR.UTF-8   UTF-8\nfr_FR.UTF-8 UTF-8\n";
        assert_eq!(
            edit(text, "en_US.UTF-8", "UTF-8", true),
            "# This file lists locales\n# en_US ISO-8859-1\nen_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n#  fr_FR.UTF-8   UTF-8\nfr_FR.UTF-8 UTF-8\n"
        );
        assert_eq!(
            edit(text, "fr_FR.UTF-8", "UTF-8", false),
            "# This file lists locales\n# en_US ISO-8859-1\n# en_US.UTF-8 UTF-8\nde_DE.UTF-8 UTF-8\n# fr_FR.UTF-8 UTF-8\n"
        );
        assert_eq!(edit("", "nl_NL.UTF-8", "UTF-8", true), "nl_NL.UTF-8 UTF-8\n");
        for (name, on) in
            [("en_US.UTF-8", true), ("fr_FR.UTF-8", false), ("nl_NL.UTF-8", true), ("en_US", true), ("x", false)]
        {
            let dir = tempfile::tempdir().expect("tempdir");
            let f = dir.path().join("locale.gen");
            std::fs::write(&f, text).expect("write");
            let mut sh = Sh::new();
            sh.set("f", f.to_str().expect("utf8"));
            sh.set("tmp", dir.path().join("out").to_str().expect("utf8"));
            sh.set("n", name);
            sh.set("cs", "UTF-8");
            sh.set("on", if on { "1" } else { "0" });
            edit_script(&mut sh);
            sh.raw("cat \"$tmp\"\n");
            let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), edit(text, name, "UTF-8", on), "{name} {on}");
        }
    }

    #[test]
    fn bad_names_are_refused_at_their_token() {
        let errs = |kdl: &str| build_from::<Locale>(kdl).expect_err("refused");
        assert_eq!(errs("locale \"en US\""), ["`en US` is not a locale name @ not a locale name"]);
        assert_eq!(errs("locale \"../x\"").len(), 1);
        assert_eq!(
            errs("locale \"en_US.UTF-8\" state=\"absent\" default=#true"),
            ["an absent locale cannot be the default @ default with absent"]
        );
    }
}
