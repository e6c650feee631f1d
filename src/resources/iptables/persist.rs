//! Persistence: a rule kept across reboots, in the file the host restores at boot.
//!
//! A rule must survive a reboot, so by default it is also saved where the
//! host restores rules at boot, chosen by what the host has: Debian's
//! `netfilter-persistent` with the `iptables-persistent` plugin (`/etc/iptables/rules.v4`,
//! `rules.v6`), or RHEL's `iptables-services` (`/etc/sysconfig/iptables`, `ip6tables`,
//! with `iptables.service` enabled). The saved file is *edited*, not regenerated: the
//! tagged line is removed and the rule's line, exactly as `iptables-save` prints the live
//! rule, is put in its table and chain (at its position, with `position`); every other
//! line stays as it was. Dumping the whole live ruleset with `iptables-save` (what
//! `netfilter-persistent save` does) would also persist rules that other software adds
//! at run time and re-adds itself at boot (Docker's, fail2ban's, libvirt's), and would drop
//! edits made to the file but not loaded; editing changes exactly what the plan shows. The
//! edited file is checked with `iptables-restore --test` before it replaces the old one
//! (atomically, keeping owner and mode); a rule that jumps to a user-defined chain the file
//! does not declare is refused, since restoring it at boot would fail the whole table.
//! `persist=#false` manages the live rule only. With neither tool installed (and not
//! installed earlier in the same run: the kind depends on a managed `iptables-persistent`
//! or `iptables-services` package), the step fails before changing anything.
//!
//! Limits: an untagged copy that is only in the saved file (not live) is not found; the
//! position is checked live, not in the saved file.

use super::super::{Change, ProbeError};
use super::rule::{AWK_TAGGED_FN, Entry};
use super::{Family, Iptables, State};
use crate::script::Sh;

impl Family {
    /// Sets `$backend`, `$f` (the saved rules file) and `$unit` (what restores it at boot)
    /// from what the host has.
    pub(super) fn detect_backend(self, sh: &mut Sh) {
        sh.raw(match self {
            Family::V4 => {
                "if [ -e /usr/share/netfilter-persistent/plugins.d/15-ip4tables ]; then backend=debian; f=/etc/iptables/rules.v4; unit=netfilter-persistent.service\n\
                 elif [ -e /usr/libexec/iptables/iptables.init ]; then backend=rhel; f=/etc/sysconfig/iptables; unit=iptables.service\n\
                 elif [ -e /etc/debian_version ]; then backend=debian-missing; f=/etc/iptables/rules.v4; unit=netfilter-persistent.service\n\
                 elif [ -e /etc/redhat-release ]; then backend=rhel-missing; f=/etc/sysconfig/iptables; unit=iptables.service\n\
                 else backend=none; f=; unit=; fi\n"
            }
            Family::V6 => {
                "if [ -e /usr/share/netfilter-persistent/plugins.d/25-ip6tables ]; then backend=debian; f=/etc/iptables/rules.v6; unit=netfilter-persistent.service\n\
                 elif [ -e /usr/libexec/iptables/ip6tables.init ]; then backend=rhel; f=/etc/sysconfig/ip6tables; unit=ip6tables.service\n\
                 elif [ -e /etc/debian_version ]; then backend=debian-missing; f=/etc/iptables/rules.v6; unit=netfilter-persistent.service\n\
                 elif [ -e /etc/redhat-release ]; then backend=rhel-missing; f=/etc/sysconfig/ip6tables; unit=ip6tables.service\n\
                 else backend=none; f=; unit=; fi\n"
            }
        });
    }
}

/// Where the host keeps rules for the next boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// netfilter-persistent with the iptables-persistent plugin.
    Debian,
    /// iptables-services.
    Rhel,
    /// A Debian host without iptables-persistent (yet).
    DebianMissing,
    /// A RHEL host without iptables-services (yet).
    RhelMissing,
    None,
}

impl Backend {
    pub(super) fn parse(s: &str) -> Result<Backend, ProbeError> {
        Ok(match s {
            "debian" => Backend::Debian,
            "rhel" => Backend::Rhel,
            "debian-missing" => Backend::DebianMissing,
            "rhel-missing" => Backend::RhelMissing,
            "none" => Backend::None,
            other => return Err(ProbeError(format!("unknown persistence backend {other:?}"))),
        })
    }

    pub(super) fn package(self) -> &'static str {
        match self {
            Backend::Rhel | Backend::RhelMissing => "iptables-services",
            _ => "iptables-persistent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub backend: Backend,
    /// The rules file (empty when no backend is known).
    pub file: String,
    /// The restore unit's `systemctl is-enabled` answer.
    pub boot: String,
    /// Tagged lines in the file.
    pub entries: Vec<Entry>,
    /// Untagged copies of the live rule in the file (a rule saved before converge adopted it).
    pub untagged: Vec<Entry>,
}

/// The saved rules file (given twice: one pass to look, one to write) in, the edited file
/// out: tagged lines dropped, and with `CV_UNTAG` untagged copies of the rule too (the
/// tagged line without its tag); `CV_LINE` (if any) put in table `CV_T`, chain `CV_C`, before
/// the `CV_POS`-th rule of the chain or at its end, with the chain declared (`CV_DECL`) if
/// the section lacks it; a section created if the file has none. Exits 3 when `CV_JUMP`
/// names a chain the section does not declare.
const AWK_SAVE: &str = "BEGIN { t = ENVIRON[\"CV_T\"]; c = ENVIRON[\"CV_C\"]; line = ENVIRON[\"CV_LINE\"]; pos = ENVIRON[\"CV_POS\"] + 0; decl = ENVIRON[\"CV_DECL\"]; jump = ENVIRON[\"CV_JUMP\"]; drop = ENVIRON[\"CV_UNTAG\"] != \"\"; if (line != \"\") plain = untag(line) }\n\
FNR == 1 { pass++ }\n\
pass == 1 && /^\\*/ { cur = substr($0, 2); next }\n\
pass == 1 { if (cur == t && $1 == \":\" c) hasc = 1; if (cur == t && jump != \"\" && $1 == \":\" jump) hasjump = 1; if (plain == \"\" && cur == t && tagged($0)) plain = untag($0); next }\n\
line != \"\" && jump != \"\" && !hasjump { bad = 1; exit 3 }\n\
/^\\*/ { cur = substr($0, 2); n = 0; print; if (line != \"\" && cur == t && decl != \"\" && !hasc) { print decl; hasc = 1 } next }\n\
tagged($0) { next }\n\
drop && plain != \"\" && cur == t && $0 == plain { next }\n\
line != \"\" && !done && cur == t && $1 == \"-A\" && $2 == c { n++; if (pos > 0 && n == pos) { print line; done = 1 } }\n\
line != \"\" && !done && cur == t && $0 == \"COMMIT\" { print line; done = 1 }\n\
{ print }\n\
END { if (bad || (line != \"\" && jump != \"\" && !hasjump)) exit 3; if (line != \"\" && !done) { print \"*\" t; if (decl != \"\") print decl; print line; print \"COMMIT\" } }\n";

impl Iptables {
    fn saved_in_sync(&self, s: &State, saved: &Saved) -> bool {
        if !self.present {
            return saved.entries.is_empty();
        }
        let ([live], [file]) = (s.live.as_slice(), saved.entries.as_slice()) else { return false };
        matches!(saved.backend, Backend::Debian | Backend::Rhel)
            && saved.untagged.is_empty()
            && file.table == live.table
            && file.chain == live.chain
            && file.line == live.line
    }

    /// The saved file's and the restore-at-boot unit's changes; `live_changes`: the live
    /// rule changes too (its saved line then changes with it).
    pub(super) fn persist_changes(&self, state: &State, live_changes: bool) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(saved) = &state.saved
            && ((live_changes && self.present) || !self.saved_in_sync(state, saved))
        {
            let file = if saved.file.is_empty() { "(no saved rules file)".to_string() } else { saved.file.clone() };
            let mut lines: Vec<String> = saved.entries.iter().map(Entry::show).collect();
            lines.extend(saved.untagged.iter().map(|e| format!("{} (untagged)", e.show())));
            let before = (!lines.is_empty()).then(|| lines.join("; "));
            if self.present {
                let after = match saved.backend {
                    Backend::Debian | Backend::Rhel => file,
                    Backend::DebianMissing | Backend::RhelMissing => {
                        format!("{file} (needs {})", saved.backend.package())
                    }
                    Backend::None => "(no iptables-persistent or iptables-services)".to_string(),
                };
                changes.push(Change::new("saved", before, Some(after)));
            } else if before.is_some() {
                changes.push(Change::new(format!("saved in {file}"), before, None));
            }
        }
        if self.present
            && let Some(saved) = &state.saved
            && saved.boot != "enabled"
            && saved.backend != Backend::None
        {
            let unit = match (saved.backend, self.family) {
                (Backend::Rhel | Backend::RhelMissing, Family::V4) => "iptables.service",
                (Backend::Rhel | Backend::RhelMissing, Family::V6) => "ip6tables.service",
                _ => "netfilter-persistent.service",
            };
            let before = (!saved.boot.is_empty()).then(|| saved.boot.clone());
            changes.push(Change::new("restored at boot", before, Some(format!("enabled ({unit})"))));
        }
        changes
    }

    /// Edits the saved rules file `$f` (see the module doc), validates it and moves it in.
    pub(super) fn save(&self, sh: &mut Sh) {
        if self.present {
            sh.raw("line=$(\"$ipt_save\" -t \"$t\" | CV_TAG=\"$tag\" awk '")
                .raw(AWK_TAGGED_FN)
                .raw("$1 == \"-A\" && tagged($0)')\n");
            sh.raw("case $line in '') printf '%s\\n' \"the rule is not in $ipt_save's output after adding it\" >&2; exit 1;; *\"\n\"*) echo \"the rule is there more than once\" >&2; exit 1;; esac\n");
            sh.raw("j=$(printf '%s\\n' \"$line\" | sed -n 's/.* -[jg] \\([^ ]*\\).*/\\1/p')\n");
            sh.raw("if [ -n \"$j\" ] && ! \"$ipt\" -w 5 -t \"$t\" -n -L \"$j\" >/dev/null 2>&1; then j=; fi\n");
            sh.set("pos", &self.position.map(|p| p.to_string()).unwrap_or_default());
            match self.user_chain() {
                Some(c) => sh.set("decl", &format!(":{c} - [0:0]")),
                None => sh.set("decl", ""),
            };
        } else {
            sh.raw("[ -f \"$f\" ] || exit 0\nline=; j=; pos=; decl=\n");
        }
        sh.raw("d=$(dirname -- \"$f\"); mkdir -p -- \"$d\"\n");
        sh.raw("new=$(mktemp \"$d/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$new\"' EXIT\n");
        sh.raw("src=$f; [ -f \"$f\" ] || src=/dev/null\n");
        sh.raw(if self.words.is_empty() { "untag=\n" } else { "untag=1\n" });
        sh.raw("if ! CV_UNTAG=\"$untag\" CV_T=\"$t\" CV_C=\"$c\" CV_LINE=\"$line\" CV_POS=\"$pos\" CV_DECL=\"$decl\" CV_JUMP=\"$j\" CV_TAG=\"$tag\" awk '")
            .raw(AWK_TAGGED_FN)
            .raw(AWK_SAVE)
            .raw("' \"$src\" \"$src\" > \"$new\"; then printf '%s\\n' \"the rule jumps to chain $j, which $f does not declare in table $t: restoring it at boot would fail (save that chain in $f first, or set persist=#false)\" >&2; exit 1; fi\n");
        sh.raw("if command -v \"$ipt_restore\" >/dev/null 2>&1 && ! e=$(\"$ipt_restore\" --test < \"$new\" 2>&1); then printf '%s\\n' \"$ipt_restore --test refuses the edited $f (left as it was): $e\" >&2; exit 1; fi\n");
        sh.raw("if [ -f \"$f\" ]; then chown --reference=\"$f\" -- \"$new\"; chmod --reference=\"$f\" -- \"$new\"; else chmod 0640 \"$new\"; fi\n");
        sh.raw("sync -- \"$new\" 2>/dev/null || sync\nmv -f -- \"$new\" \"$f\"\ntrap - EXIT\n");
    }
}

#[cfg(test)]
mod tests {
    use super::super::rule::AWK_LIST;
    use super::*;
    use std::process::Command;

    /// Runs the save program with awk on this machine over a file's text.
    fn edit(file: &str, vars: &[(&str, &str)]) -> (i32, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rules");
        std::fs::write(&path, file).expect("write");
        let program = format!("{AWK_TAGGED_FN}{AWK_SAVE}");
        let mut cmd = Command::new("awk");
        cmd.arg(program).arg(&path).arg(&path).env("CV_TAG", "converge:web");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("awk");
        (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).expect("utf8"))
    }

    /// The default /etc/sysconfig/iptables of RHEL's iptables-services.
    const RHEL_DEFAULT: &str = "# sample configuration for iptables service\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p icmp -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n";

    #[test]
    fn saving_edits_only_the_managed_line() {
        let line =
            "-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:web\" -j REDIRECT --to-ports 8080";
        let vars = [("CV_T", "nat"), ("CV_C", "PREROUTING"), ("CV_LINE", line)];
        // RHEL's default file has no nat section: one is added, the filter rules stay
        let (rc, out) = edit(RHEL_DEFAULT, &vars);
        assert_eq!(rc, 0);
        assert_eq!(out, format!("{RHEL_DEFAULT}*nat\n{line}\nCOMMIT\n"));
        // saved again: the old tagged line goes, the new one takes its place at the end
        let old = line.replace("8080", "8081");
        let file = format!("*nat\n:PREROUTING ACCEPT [0:0]\n{old}\n-A PREROUTING -p udp -j ACCEPT\nCOMMIT\n");
        let (_, out) = edit(&file, &vars);
        assert_eq!(out, format!("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j ACCEPT\n{line}\nCOMMIT\n"));
        // a position puts it before the Nth rule of the chain
        let mut at1 = vars.to_vec();
        at1.push(("CV_POS", "1"));
        let (_, out) = edit(&file, &at1);
        assert_eq!(out, format!("*nat\n:PREROUTING ACCEPT [0:0]\n{line}\n-A PREROUTING -p udp -j ACCEPT\nCOMMIT\n"));
        // removing: only the tagged line goes
        let (_, out) = edit(&file, &[("CV_T", "nat"), ("CV_C", "PREROUTING")]);
        assert_eq!(out, "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j ACCEPT\nCOMMIT\n");
        // an empty file (Debian's rules.v6) gets the section
        let (_, out) = edit("", &vars);
        assert_eq!(out, format!("*nat\n{line}\nCOMMIT\n"));
    }

    #[test]
    fn saving_drops_an_untagged_copy_of_an_adopted_rule() {
        // seed 000's rule, saved by hand before converge managed it
        let plain = "-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080";
        let line =
            "-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:web\" -j REDIRECT --to-ports 8080";
        let file = format!("*nat\n:PREROUTING ACCEPT [0:0]\n{plain}\nCOMMIT\n");
        let vars = [("CV_T", "nat"), ("CV_C", "PREROUTING"), ("CV_LINE", line), ("CV_UNTAG", "1")];
        let (_, out) = edit(&file, &vars);
        assert_eq!(out, format!("*nat\n:PREROUTING ACCEPT [0:0]\n{line}\nCOMMIT\n"));
        // without words (absent by name) an untagged rule is not converge's
        let file = format!("*nat\n{plain}\n{line}\nCOMMIT\n");
        let (_, out) = edit(&file, &[("CV_T", "nat"), ("CV_C", "PREROUTING")]);
        assert_eq!(out, format!("*nat\n{plain}\nCOMMIT\n"));
        let (_, out) = edit(&file, &[("CV_T", "nat"), ("CV_C", "PREROUTING"), ("CV_UNTAG", "1")]);
        assert_eq!(out, "*nat\nCOMMIT\n");
        // the probe reports the untagged copy next to the live rule
        let program = format!("{AWK_TAGGED_FN}{AWK_LIST}");
        let out = Command::new("sh")
            .arg("-c")
            .arg("printf '%s' \"$1\" | CV_LIVE=\"$3\" CV_TAG=converge:web CV_PRE=saved= awk \"$2\"")
            .args(["sh", &format!("*nat\n{plain}\nCOMMIT\n"), &program, &format!("nat PREROUTING 1 {line}")])
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("saved_untagged=nat PREROUTING 1 {plain}\n"));
    }

    #[test]
    fn saving_declares_a_user_chain_and_refuses_an_undeclared_jump() {
        let line = "-A web-in -p tcp -m tcp --dport 80 -m comment --comment \"converge:web\" -j ACCEPT";
        let vars = [("CV_T", "filter"), ("CV_C", "web-in"), ("CV_LINE", line), ("CV_DECL", ":web-in - [0:0]")];
        let (_, out) = edit(RHEL_DEFAULT, &vars);
        assert!(out.starts_with("# sample configuration for iptables service\n*filter\n:web-in - [0:0]\n"), "{out}");
        assert!(out.ends_with(&format!("{line}\nCOMMIT\n")), "{out}");
        let jump = "-A INPUT -p tcp -m comment --comment \"converge:web\" -j web-in";
        let (rc, _) =
            edit(RHEL_DEFAULT, &[("CV_T", "filter"), ("CV_C", "INPUT"), ("CV_LINE", jump), ("CV_JUMP", "web-in")]);
        assert_eq!(rc, 3);
    }
}
