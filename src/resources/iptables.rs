//! `iptables`: one iptables (or ip6tables) rule, present or absent, and kept across reboots.
//!
//! ```kdl
//! package "iptables-persistent"
//! iptables "http-to-gunicorn" table="nat" chain="PREROUTING" rule="-p tcp --dport 80 -j REDIRECT --to-ports 8080"
//! iptables "ssh-first" chain="INPUT" rule="-p tcp --dport 22 -j ACCEPT" position=1
//! iptables "web6" family="ipv6" chain="INPUT" rule="-p tcp --dport 443 -j ACCEPT"
//! iptables "lab-only" chain="INPUT" rule="-p udp --dport 5353 -j DROP" persist=#false
//! iptables "old-redirect" state="absent"
//! ```
//!
//! `rule` is what follows `iptables -t TABLE -A CHAIN` on a command line. It is split into
//! words on the controller (shell rules: quotes group words) and every word is quoted
//! again in the script, so a value can never become shell syntax. Words that would change
//! what the command does (`-t`, `-A`, `-D`, `-F`, `-w`, ...) are refused at the token.
//!
//! **Identity: a comment tag.** Every rule converge adds carries `-m comment --comment
//! converge:NAME`. The tag is what makes a rule addressable by its resource name: when
//! the playbook changes a rule (port 80 becomes 81), the old rule is found by its tag and
//! removed instead of staying open forever; `state="absent"` needs only the name; and a
//! rule that appears twice is noticed. An identical rule without the tag (added by hand,
//! as seed 000's runbook did) is adopted: removed and added again with the tag, never
//! duplicated. Rules converge does not manage are never touched.
//!
//! **Probe.** Presence is asked of iptables itself: `iptables -C` with the wanted words
//! and the tag is an exact semantic check (iptables canonicalises rules, adding `-m tcp`
//! and reordering, so comparing the text of `-S` with what was written would never
//! match). `iptables-save` lists every rule carrying the tag, in every table, with its
//! chain and position; `-C` without the tag looks for an untagged copy. The saved rules
//! file is read for the same tag, and the restore-at-boot unit's enablement is asked of
//! systemd. A rule iptables refuses (`-C` exits 2: an unknown option, a missing chain) is
//! shown in the plan with iptables' words; applying it fails with them.
//!
//! **Apply.** Only when the live rule differs: every tagged copy is deleted (exactly, by
//! feeding `iptables-save`'s own lines back as `-D` lines to `iptables-restore
//! --noflush`), an untagged copy too, and the rule is added with `-A`, or `-I CHAIN N`
//! with `position=N`. A missing user-defined chain is created first.
//!
//! **Persistence.** A rule must survive a reboot, so by default it is also saved where the
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

use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError};
use crate::diag::Diag;
use crate::script::{Sh, quote};
use crate::syntax::reader::NodeReader;

const TABLES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];

/// Words of a rule that would change what the command does rather than what it matches.
const COMMAND_WORDS: &[&str] = &[
    "-t",
    "--table",
    "-A",
    "--append",
    "-C",
    "--check",
    "-D",
    "--delete",
    "-I",
    "--insert",
    "-R",
    "--replace",
    "-L",
    "--list",
    "-S",
    "--list-rules",
    "-F",
    "--flush",
    "-Z",
    "--zero",
    "-N",
    "--new-chain",
    "-X",
    "--delete-chain",
    "-P",
    "--policy",
    "-E",
    "--rename-chain",
    "-w",
    "--wait",
    "-W",
    "--wait-interval",
    "-h",
    "--help",
    "-V",
    "--version",
    "--modprobe",
];

#[derive(Debug)]
pub struct Iptables {
    name: String,
    family: Family,
    table: &'static str,
    chain: Option<String>,
    /// The rule's words, as split on the controller.
    words: Vec<String>,
    present: bool,
    position: Option<u32>,
    persist: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    /// Sets `$ipt`, `$ipt_save` and `$ipt_restore`.
    fn set_tools(self, sh: &mut Sh) {
        sh.raw(match self {
            Family::V4 => "ipt=iptables; ipt_save=iptables-save; ipt_restore=iptables-restore\n",
            Family::V6 => "ipt=ip6tables; ipt_save=ip6tables-save; ipt_restore=ip6tables-restore\n",
        });
    }

    /// Sets `$backend`, `$f` (the saved rules file) and `$unit` (what restores it at boot)
    /// from what the host has.
    fn detect_backend(self, sh: &mut Sh) {
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
    fn parse(s: &str) -> Result<Backend, ProbeError> {
        Ok(match s {
            "debian" => Backend::Debian,
            "rhel" => Backend::Rhel,
            "debian-missing" => Backend::DebianMissing,
            "rhel-missing" => Backend::RhelMissing,
            "none" => Backend::None,
            other => return Err(ProbeError(format!("unknown persistence backend {other:?}"))),
        })
    }

    fn package(self) -> &'static str {
        match self {
            Backend::Rhel | Backend::RhelMissing => "iptables-services",
            _ => "iptables-persistent",
        }
    }
}

/// One rule carrying this resource's tag, as `iptables-save` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub table: String,
    pub chain: String,
    /// 1-based position among the chain's rules.
    pub index: u32,
    /// The `-A CHAIN ...` line.
    pub line: String,
}

impl Entry {
    fn parse(v: &str) -> Result<Entry, ProbeError> {
        let bad = || ProbeError(format!("malformed rule line {v:?}"));
        let mut parts = v.splitn(4, ' ');
        let (table, chain, index, line) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (Some(table), Some(chain), Some(index), Some(line)) = (table, chain, index, line) else {
            return Err(bad());
        };
        if !line.starts_with("-A ") {
            return Err(bad());
        }
        Ok(Entry {
            table: table.to_string(),
            chain: chain.to_string(),
            index: index.parse().map_err(|_| bad())?,
            line: line.to_string(),
        })
    }

    fn show(&self) -> String {
        format!("-t {} {}", self.table, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The iptables tool is installed.
    pub tool: bool,
    /// `-C` found the wanted rule with its tag.
    pub exact: bool,
    /// `-C` found the wanted rule without the tag.
    pub untagged: bool,
    /// iptables refused the rule when checking it (its first line of complaint).
    pub refused: Option<String>,
    /// The user-defined chain does not exist.
    pub chain_missing: bool,
    /// Every live rule carrying the tag.
    pub live: Vec<Entry>,
    /// Persistence, when managed.
    pub saved: Option<Saved>,
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

fn builtin_chain(table: &str, chain: &str) -> bool {
    let builtins: &[&str] = match table {
        "filter" | "security" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => &[],
    };
    builtins.contains(&chain)
}

fn valid_word(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The awk functions `tagged` (a line carries the tag `CV_TAG`; iptables-save quotes a
/// comment holding `:`, but the unquoted form is accepted too) and `untag` (the line as
/// iptables-save prints the same rule without the tag: the comment match removed).
const AWK_TAGGED_FN: &str = "function tagged(s) { return index(s, \"--comment \\\"\" tag \"\\\"\") > 0 || index(s \" \", \"--comment \" tag \" \") > 0 }\n\
function untag(s,   m, i) { m = \" -m comment --comment \\\"\" tag \"\\\"\"; i = index(s, m); if (i == 0) return \"\"; return substr(s, 1, i - 1) substr(s, i + length(m)) }\n\
BEGIN { tag = ENVIRON[\"CV_TAG\"]; pre = ENVIRON[\"CV_PRE\"] }\n";

/// iptables-save format in, `PRE TABLE CHAIN INDEX LINE` out for every tagged rule, and
/// `saved_untagged=TABLE CHAIN INDEX LINE` for every untagged copy of the live rule
/// `CV_LIVE` (`TABLE CHAIN INDEX LINE`, as the live listing printed it).
const AWK_LIST: &str = "BEGIN { lv = ENVIRON[\"CV_LIVE\"]; lt = substr(lv, 1, index(lv, \" \") - 1); for (k = 0; k < 3; k++) lv = substr(lv, index(lv, \" \") + 1); plain = untag(lv) }\n\
/^\\*/ { t = substr($0, 2); split(\"\", n); next }\n\
$1 == \"-A\" { n[$2]++; if (tagged($0)) print pre t \" \" $2 \" \" n[$2] \" \" $0; else if (plain != \"\" && t == lt && $0 == plain) print \"saved_untagged=\" t \" \" $2 \" \" n[$2] \" \" $0 }\n";

/// iptables-save format in, an iptables-restore --noflush script deleting every tagged
/// rule out.
const AWK_DELETE: &str = "/^\\*/ { t = substr($0, 2); next }\n\
$1 == \"-A\" && tagged($0) { sub(/^-A /, \"-D \"); print \"*\" t; print; print \"COMMIT\" }\n";

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
    fn tag(&self) -> String {
        format!("converge:{}", self.name)
    }

    /// The rule as the plan shows it: `-t nat -A PREROUTING -p tcp ...`.
    fn display(&self) -> String {
        let mut out = format!("-t {} ", self.table);
        let chain = self.chain.as_deref().unwrap_or("");
        match self.position {
            Some(n) => out.push_str(&format!("-I {chain} {n}")),
            None => out.push_str(&format!("-A {chain}")),
        }
        for w in &self.words {
            out.push(' ');
            out.push_str(&quote(w));
        }
        out
    }

    fn user_chain(&self) -> Option<&str> {
        self.chain.as_deref().filter(|c| !builtin_chain(self.table, c))
    }

    /// `"$ipt" -w 5 -t "$t"`, then the caller's operation.
    fn ipt(sh: &mut Sh) {
        sh.raw("\"$ipt\" -w 5 -t \"$t\" ");
    }

    fn words(&self, sh: &mut Sh) {
        for w in &self.words {
            sh.sp().q(w);
        }
    }

    fn set_vars(&self, sh: &mut Sh) {
        self.family.set_tools(sh);
        sh.set("t", self.table);
        sh.set("c", self.chain.as_deref().unwrap_or(""));
        sh.set("tag", &self.tag());
    }

    /// `"$ipt" -w 5 -t "$t" -C "$c" WORDS [TAG]`, quiet, as a condition.
    fn check(&self, tagged: bool, sh: &mut Sh) {
        Self::ipt(sh);
        sh.raw("-C \"$c\"");
        self.words(sh);
        if tagged {
            sh.raw(" -m comment --comment \"$tag\"");
        }
    }

    fn live_in_sync(&self, s: &State) -> bool {
        let [only] = s.live.as_slice() else { return false };
        s.exact
            && !s.untagged
            && only.table == self.table
            && Some(only.chain.as_str()) == self.chain.as_deref()
            && self.position.is_none_or(|p| only.index == p)
    }

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

    fn live_changes(&self, s: &State) -> Option<Change> {
        let before: Vec<String> = s.live.iter().map(Entry::show).collect();
        if !self.present {
            let mut before = before;
            if s.untagged {
                before.push(format!("{} (untagged)", self.display()));
            }
            return (!before.is_empty()).then(|| Change::new("rule", Some(before.join("; ")), None));
        }
        if self.live_in_sync(s) {
            return None;
        }
        let mut before = before;
        if s.untagged {
            before.push(format!("{} (untagged)", self.display()));
        }
        let mut before = (!before.is_empty()).then(|| before.join("; "));
        if let Some(why) = &s.refused {
            before = Some(format!("{} (iptables says: {why})", before.as_deref().unwrap_or("(absent)")));
        }
        Some(Change::new("rule", before, Some(self.display())))
    }
}

impl Kind for Iptables {
    const KIND: &'static str = "iptables";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Iptables> {
        let name = r.arg("a rule name");
        let family = match r.choice("family", &["ipv4", "ipv6"]) {
            Some("ipv6") => Family::V6,
            _ => Family::V4,
        };
        let table = r.choice("table", TABLES).unwrap_or("filter");
        let chain = r.nonempty("chain");
        let rule = r.nonempty("rule");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let position = r.int::<u32>("position");
        let persist = r.bool("persist").unwrap_or(true);
        let name = name?;
        if !valid_word(&name.value, 200) {
            r.error(
                Diag::new(
                    "converge::iptables",
                    format!("`{}` cannot name a rule", name.value),
                    &name.at,
                    "invalid name",
                )
                .help("a rule name is letters, digits, `_`, `.` and `-` (it becomes the comment converge:NAME)"),
            );
        }
        if let Some(c) = &chain
            && !valid_word(&c.value, 28)
        {
            r.error(
                Diag::new("converge::iptables", format!("`{}` is not a chain name", c.value), &c.at, "invalid chain")
                    .help("chain names are up to 28 letters, digits, `_`, `.` and `-`, not starting with `-`"),
            );
        }
        let mut words = Vec::new();
        if let Some(rule) = &rule {
            match shlex::split(&rule.value) {
                None => r.error(Diag::new(
                    "converge::iptables",
                    "the rule has an unclosed quote",
                    &rule.at,
                    "cannot split into words",
                )),
                Some(w) => words = w,
            }
            if let Some(bad) = words.iter().find(|w| COMMAND_WORDS.contains(&w.as_str())) {
                r.error(
                    Diag::new(
                        "converge::iptables",
                        format!("`{bad}` cannot be part of a rule"),
                        &rule.at,
                        "an iptables command or table option",
                    )
                    .help(
                        "`rule` is what follows `-A CHAIN`; give the table with `table=` and the chain with `chain=`",
                    ),
                );
            }
            if words.is_empty() && !r.failed() {
                r.error(Diag::new("converge::empty", "the rule has no words", &rule.at, "empty"));
            }
        }
        if present {
            if chain.is_none() || rule.is_none() {
                let at = r.at();
                r.error(
                    Diag::new(
                        "converge::missing",
                        "a present iptables rule needs `chain` and `rule`",
                        &at,
                        "incomplete",
                    )
                    .help("e.g. `chain=\"INPUT\" rule=\"-p tcp --dport 22 -j ACCEPT\"`"),
                );
            }
        } else {
            if let Some(p) = &position {
                r.error(Diag::new("converge::conflict", "an absent rule has no position", &p.at, "remove this"));
            }
            if let (Some(rule), None) = (&rule, &chain) {
                r.error(Diag::new(
                    "converge::missing",
                    "removing a rule by its words needs its `chain`",
                    &rule.at,
                    "no chain given",
                ));
            }
        }
        if let Some(p) = &position
            && p.value == 0
        {
            r.error(Diag::new("converge::range", "positions start at 1", &p.at, "out of range"));
        }
        if r.failed() {
            return None;
        }
        Some(Iptables {
            name: name.value,
            family,
            table,
            chain: chain.map(|c| c.value),
            words,
            present,
            position: position.map(|p| p.value),
            persist,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = vec![Implicit::new("package", "iptables", "iptables tools")];
        if self.persist {
            for p in ["iptables-persistent", "netfilter-persistent", "iptables-services"] {
                d.push(Implicit::new("package", p, "restores rules at boot"));
            }
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        self.set_vars(sh);
        sh.raw("if ! command -v \"$ipt\" >/dev/null 2>&1; then echo tool=missing; else echo tool=ok\n");
        if self.chain.is_some() && !self.words.is_empty() {
            sh.raw("if e=$(");
            self.check(true, sh);
            sh.raw(" 2>&1); then echo exact=1; else rc=$?; echo exact=0; if [ $rc -ne 1 ]; then printf '%s\\n' \"refused=$(printf '%s\\n' \"$e\" | grep -v '^#' | head -n 1)\"; fi; fi\n");
            sh.raw("if ");
            self.check(false, sh);
            sh.raw(" >/dev/null 2>&1; then echo untagged=1; else echo untagged=0; fi\n");
        }
        if self.present && self.user_chain().is_some() {
            sh.raw("if ! \"$ipt\" -w 5 -t \"$t\" -n -L \"$c\" >/dev/null 2>&1; then echo chain=missing; fi\n");
        }
        sh.raw("lv=$(\"$ipt_save\" | CV_TAG=\"$tag\" CV_PRE=live= awk '")
            .raw(AWK_TAGGED_FN)
            .raw(AWK_LIST)
            .raw("'); [ -z \"$lv\" ] || printf '%s\\n' \"$lv\"\nfi\n");
        if self.persist {
            self.family.detect_backend(sh);
            sh.raw("printf '%s\\n' \"persist=$backend\"; printf '%s\\n' \"file=$f\"\n");
            sh.raw("if [ -n \"$unit\" ]; then printf '%s\\n' \"boot=$(systemctl is-enabled -- \"$unit\" 2>/dev/null)\"; fi\n");
            sh.raw("if [ -n \"$f\" ] && [ -f \"$f\" ]; then CV_LIVE=$(printf '%s\\n' \"${lv:-}\" | sed -n '1s/^live=//p') CV_TAG=\"$tag\" CV_PRE=saved= awk '")
                .raw(AWK_TAGGED_FN)
                .raw(AWK_LIST)
                .raw("' \"$f\"; fi\n");
        }
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let tool = match rec.req("tool")? {
            "ok" => true,
            "missing" => false,
            other => return Err(ProbeError(format!("unexpected tool={other:?}"))),
        };
        let flag = |key: &str| -> Result<bool, ProbeError> {
            match rec.get(key) {
                None | Some("0") => Ok(false),
                Some("1") => Ok(true),
                Some(other) => Err(ProbeError(format!("unexpected {key}={other:?}"))),
            }
        };
        if tool && self.chain.is_some() && !self.words.is_empty() && !rec.has("exact") {
            return Err(ProbeError("probe output lacks `exact`".into()));
        }
        let live = rec.all("live").into_iter().map(Entry::parse).collect::<Result<Vec<_>, _>>()?;
        let saved = if self.persist {
            Some(Saved {
                backend: Backend::parse(rec.req("persist")?)?,
                file: rec.req("file")?.to_string(),
                boot: rec.get("boot").unwrap_or("").to_string(),
                entries: rec.all("saved").into_iter().map(Entry::parse).collect::<Result<Vec<_>, _>>()?,
                untagged: rec.all("saved_untagged").into_iter().map(Entry::parse).collect::<Result<Vec<_>, _>>()?,
            })
        } else {
            None
        };
        Ok(State {
            tool,
            exact: flag("exact")?,
            untagged: flag("untagged")?,
            refused: rec.get("refused").filter(|s| !s.is_empty()).map(str::to_string),
            chain_missing: rec.get("chain") == Some("missing"),
            live,
            saved,
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        if self.present
            && state.chain_missing
            && let Some(c) = self.user_chain()
        {
            changes.push(Change::new("chain", None, Some(format!("-t {} -N {c}", self.table))));
        }
        let live = self.live_changes(state);
        let creates = live.as_ref().is_some_and(|c| c.before().is_none());
        let live_changes = live.is_some();
        changes.extend(live);
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
        let action = match () {
            _ if !self.present => Action::Remove,
            _ if creates || state.live.is_empty() && !state.untagged => Action::Create,
            _ => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, _state: &State, diff: &Diff, sh: &mut Sh) {
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f || c.field().starts_with(&format!("{f} ")));
        let live = has("rule");
        let saves = has("saved");
        let boot = has("restored at boot");
        self.set_vars(sh);
        if self.present || live {
            sh.raw(
                "command -v \"$ipt\" >/dev/null 2>&1 || { printf '%s\\n' \"$ipt is not installed\" >&2; exit 1; }\n",
            );
        }
        if saves || boot {
            self.family.detect_backend(sh);
            if self.present {
                sh.raw("case $backend in debian|rhel) ;; *) echo \"cannot keep the rule across reboots: install iptables-persistent (Debian) or iptables-services (RHEL), or set persist=#false\" >&2; exit 1;; esac\n");
            }
        }
        if has("chain") {
            Self::ipt(sh);
            sh.raw("-N \"$c\"\n");
        }
        if live {
            sh.raw("\"$ipt_save\" | CV_TAG=\"$tag\" awk '")
                .raw(AWK_TAGGED_FN)
                .raw(AWK_DELETE)
                .raw("' | \"$ipt_restore\" -w 5 --noflush\n");
            if self.chain.is_some() && !self.words.is_empty() {
                sh.raw("n=0; while ");
                self.check(false, sh);
                sh.raw(" 2>/dev/null && [ $n -lt 100 ]; do ");
                Self::ipt(sh);
                sh.raw("-D \"$c\"");
                self.words(sh);
                sh.raw("; n=$((n + 1)); done\n");
            }
            if self.present {
                Self::ipt(sh);
                match self.position {
                    Some(p) => sh.raw("-I \"$c\" ").num(p),
                    None => sh.raw("-A \"$c\""),
                };
                self.words(sh);
                sh.raw(" -m comment --comment \"$tag\"\n");
            }
        }
        if saves {
            self.save(sh);
        }
        if boot {
            sh.raw("systemctl enable --quiet -- \"$unit\"\n");
        }
    }
}

impl Iptables {
    /// Edits the saved rules file `$f` (see the module doc), validates it and moves it in.
    fn save(&self, sh: &mut Sh) {
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
    use super::*;
    use std::process::Command;

    fn redirect() -> Iptables {
        Iptables {
            name: "http-to-gunicorn".into(),
            family: Family::V4,
            table: "nat",
            chain: Some("PREROUTING".into()),
            words: shlex::split("-p tcp --dport 80 -j REDIRECT --to-ports 8080").expect("words"),
            present: true,
            position: None,
            persist: true,
        }
    }

    const LIVE: &str = "-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:http-to-gunicorn\" -j REDIRECT --to-ports 8080";

    fn probe_out(exact: bool, live: &[&str], persist: &str, saved: &[&str]) -> String {
        let mut out = format!("tool=ok\nexact={}\nuntagged=0\n", u8::from(exact));
        for l in live {
            out.push_str(&format!("live={l}\n"));
        }
        out.push_str(persist);
        for l in saved {
            out.push_str(&format!("saved={l}\n"));
        }
        out
    }

    const DEBIAN: &str = "persist=debian\nfile=/etc/iptables/rules.v4\nboot=enabled\n";
    const RHEL: &str = "persist=rhel\nfile=/etc/sysconfig/iptables\nboot=disabled\n";

    fn plan(k: &Iptables, out: &str) -> (Diff, String) {
        crate::resources::plan_of(k, out)
    }

    #[test]
    fn a_new_rule_is_added_tagged_and_saved() {
        let k = redirect();
        let (diff, sh) = plan(&k, &probe_out(false, &[], DEBIAN, &[]));
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::new(
                    "rule",
                    None,
                    Some("-t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080".into())
                ),
                Change::new("saved", None, Some("/etc/iptables/rules.v4".into())),
            ]
        );
        assert!(
            sh.contains(
                "\"$ipt\" -w 5 -t \"$t\" -A \"$c\" -p tcp --dport 80 -j REDIRECT --to-ports 8080 -m comment --comment \"$tag\"\n"
            ),
            "{sh}"
        );
        assert!(sh.contains("tag=converge:http-to-gunicorn\n"), "{sh}");
        assert!(sh.contains("f=/etc/iptables/rules.v4"), "{sh}");
        assert!(sh.contains("--test < \"$new\""), "{sh}");
        assert!(!sh.contains("systemctl enable"), "already enabled: {sh}");
    }

    #[test]
    fn in_sync_when_live_and_saved_agree() {
        let k = redirect();
        let entry = format!("nat PREROUTING 1 {LIVE}");
        let (diff, _) = plan(&k, &probe_out(true, &[&entry], DEBIAN, &[&entry]));
        assert!(diff.is_ok(), "{diff:?}");
        // saved differently (an older version of the rule): only the file is rewritten
        let old = entry.replace("8080", "8081");
        let (diff, sh) = plan(&k, &probe_out(true, &[&entry], DEBIAN, &[&old]));
        assert_eq!(diff.changes.len(), 1, "{diff:?}");
        assert_eq!(diff.changes[0].field(), "saved");
        assert!(!sh.contains("-A \"$c\""), "the live rule is left alone: {sh}");
        assert!(sh.contains("mv -f -- \"$new\" \"$f\""), "{sh}");
    }

    #[test]
    fn a_changed_rule_replaces_the_old_one_found_by_its_tag() {
        let k = redirect();
        let old = format!("nat PREROUTING 1 {}", LIVE.replace("8080", "8081"));
        let (diff, sh) = plan(&k, &probe_out(false, &[&old], DEBIAN, &[&old]));
        assert_eq!(diff.action, Action::Change);
        assert_eq!(
            diff.changes[0].before(),
            Some(
                "-t nat -A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:http-to-gunicorn\" -j REDIRECT --to-ports 8081"
            )
        );
        let delete = sh.find("--noflush").expect("tagged rules deleted");
        let add = sh.find("-A \"$c\"").expect("added");
        assert!(delete < add, "{sh}");
    }

    #[test]
    fn an_untagged_copy_is_adopted_not_duplicated() {
        let k = redirect();
        let out = "tool=ok\nexact=0\nuntagged=1\n".to_string() + DEBIAN;
        let (diff, sh) = plan(&k, &out);
        assert_eq!(diff.action, Action::Change);
        assert!(diff.changes[0].before().is_some_and(|b| b.ends_with("(untagged)")), "{diff:?}");
        assert!(sh.contains("-D \"$c\" -p tcp --dport 80"), "{sh}");
    }

    #[test]
    fn position_is_checked_and_inserted() {
        let mut k = redirect();
        k.position = Some(1);
        let entry = format!("nat PREROUTING 2 {LIVE}");
        let (diff, sh) = plan(&k, &probe_out(true, &[&entry], DEBIAN, &[&entry]));
        assert_eq!(diff.changes[0].after().map(|a| a.starts_with("-t nat -I PREROUTING 1 ")), Some(true));
        assert!(sh.contains("-I \"$c\" 1 -p tcp"), "{sh}");
    }

    #[test]
    fn the_rhel_path_saves_to_sysconfig_and_enables_iptables_service() {
        let k = redirect();
        let (diff, sh) = plan(&k, &probe_out(false, &[], RHEL, &[]));
        let fields: Vec<&str> = diff.changes.iter().map(|c| c.field()).collect();
        assert_eq!(fields, ["rule", "saved", "restored at boot"]);
        assert_eq!(diff.changes[1].after(), Some("/etc/sysconfig/iptables"));
        assert_eq!(diff.changes[2].after(), Some("enabled (iptables.service)"));
        assert!(sh.contains("f=/etc/sysconfig/iptables; unit=iptables.service"), "{sh}");
        assert!(sh.contains("systemctl enable --quiet -- \"$unit\""), "{sh}");
        // a missing package is named
        let missing = "persist=rhel-missing\nfile=/etc/sysconfig/iptables\nboot=\n";
        let (diff, _) = plan(&k, &probe_out(false, &[], missing, &[]));
        assert_eq!(diff.changes[1].after(), Some("/etc/sysconfig/iptables (needs iptables-services)"));
    }

    #[test]
    fn absent_removes_by_tag_live_and_saved() {
        let k = Iptables { present: false, words: Vec::new(), chain: None, ..redirect() };
        let entry = format!("nat PREROUTING 1 {LIVE}");
        let out = format!("tool=ok\nlive={entry}\n{DEBIAN}saved={entry}\n");
        let (diff, sh) = plan(&k, &out);
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes[0].after(), None);
        assert_eq!(diff.changes[1].field(), "saved in /etc/iptables/rules.v4");
        assert!(sh.contains("--noflush"), "{sh}");
        assert!(!sh.contains("-A \"$c\""), "{sh}");
        assert!(!sh.contains("case $backend"), "removing needs no backend check: {sh}");
        let (diff, _) = plan(&k, &format!("tool=ok\n{DEBIAN}"));
        assert!(diff.is_ok());
    }

    #[test]
    fn malformed_probe_output_is_an_error() {
        let k = redirect();
        assert!(k.parse("tool=ok\n").is_err(), "no exact=");
        assert!(k.parse(&probe_out(true, &["nat PREROUTING x -A PREROUTING"], DEBIAN, &[])).is_err());
        assert!(k.parse(&probe_out(true, &[], "persist=bsd\nfile=\n", &[])).is_err());
        assert!(k.parse("tool=maybe\n").is_err());
    }

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

    #[test]
    fn the_probe_lists_tagged_rules_with_their_position() {
        let save = format!(
            "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j ACCEPT\n{}\nCOMMIT\n",
            LIVE.replace("http-to-gunicorn", "web")
        );
        let program = format!("{AWK_TAGGED_FN}{AWK_LIST}");
        let out = Command::new("sh")
            .arg("-c")
            .arg("printf '%s' \"$1\" | CV_TAG=converge:web CV_PRE=live= awk \"$2\"")
            .args(["sh", &save, &program])
            .output()
            .expect("sh");
        let out = String::from_utf8(out.stdout).expect("utf8");
        assert_eq!(out, format!("live=nat PREROUTING 2 {}\n", LIVE.replace("http-to-gunicorn", "web")));
        let k = redirect();
        let state = k.parse(&format!("tool=ok\nexact=0\nuntagged=0\n{out}{DEBIAN}")).expect("parse");
        assert_eq!(state.live[0].index, 2);
    }

    #[test]
    fn the_probe_and_steps_quote_every_word() {
        let mut k = redirect();
        k.words = vec!["-m".into(), "comment".into(), "--comment".into(), "it's $(here)".into()];
        let mut sh = Sh::new();
        k.probe(&mut sh);
        assert!(sh.text().contains(&format!("--comment {} ", quote("it's $(here)"))), "{}", sh.text());
        assert!(!sh.text().contains(" it's $(here)"), "{}", sh.text());
    }
}
