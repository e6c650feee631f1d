//! `swap-file`: a swap file, made, active, and in /etc/fstab for the next boot.
//!
//! ```kdl
//! swap-file "/swapfile" size="2G"
//! swap-file "/var/swap" size="512M" priority=10
//! swap-file "/old.swap" state="absent"
//! ```
//!
//! Three things are converged:
//!
//! - the **file**: exactly `size` bytes (`M` is MiB, `G` GiB), root's, mode 0600 (swapon
//!   warns about anything looser), with a swap signature. A missing or wrongly sized file
//!   is made again beside the target (`fallocate`, or `dd` from /dev/zero where the
//!   filesystem refuses it, then `mkswap`) and renamed over it, after `swapoff` when it
//!   was active;
//! - **active**: listed in `/proc/swaps` (read without any tool), with `priority` when
//!   given; `swapon` makes it so;
//! - the **fstab entry** `/swapfile none swap sw 0 0` (`sw,pri=N` with a priority), found
//!   by its file and type `swap`: the first replaced, others removed, one appended; edited
//!   at apply time as `mount` does.
//!
//! `state="absent"` turns it off, removes the entry and deletes the file.
//!
//! A container cannot turn swap on (swapon needs CAP_SYS_ADMIN over the host's memory),
//! so this kind is tested from fixtures only: its probe parser, its plan and its steps.

use super::mount::{escape, kernel_escape};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

const MIB: u64 = 1024 * 1024;

#[derive(Debug)]
pub struct SwapFile {
    path: String,
    /// Wanted size in MiB; `None`: absent.
    mib: Option<u64>,
    priority: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Absent,
    File { size: u64, mode: u32, owner: String, swap: bool },
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub file: FileState,
    /// Its priority in /proc/swaps, when active.
    pub active: Option<i32>,
    pub fstab: String,
}

/// `2G`, `512M`, `1024` (MiB) → MiB.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'G' | 'g') => (&s[..i], 1024),
        (i, 'M' | 'm') => (&s[..i], 1),
        _ => (s, 1),
    };
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mult).filter(|m| *m >= 1 && *m <= 16 * 1024 * 1024)
}

/// The fstab line for the file.
fn fstab_line(path: &str, priority: Option<i32>) -> String {
    let opts = priority.map_or("sw".to_string(), |p| format!("sw,pri={p}"));
    format!("{} none swap {opts} 0 0", escape(path))
}

/// The swap entries of `path` in an fstab (source field and type `swap`).
fn entries<'a>(text: &'a str, path: &str) -> Vec<&'a str> {
    let e = escape(path);
    text.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            !l.trim_start().starts_with('#') && f.len() >= 3 && f[0] == e && f[2] == "swap"
        })
        .collect()
}

/// The fstab with `path`'s swap entries made `line` (or removed). The same edit as
/// [`edit_script`].
pub fn edit(text: &str, path: &str, line: Option<&str>) -> String {
    let e = escape(path);
    super::content::replace_lines(text, line, |l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        !l.trim_start().starts_with('#') && f.len() >= 3 && f[0] == e && f[2] == "swap"
    })
}

/// Writes to `$tmp` the fstab `$ft` edited as [`edit`] does: `$e` the escaped file, `$l`
/// the line (empty: remove).
fn edit_script(sh: &mut Sh) {
    super::content::replace_lines_awk(
        sh,
        "ft",
        "P=\"$e\"",
        "!/^[ \\t]*#/ && NF >= 3 && $1 == ENVIRON[\"P\"] && $3 == \"swap\"",
    );
}

fn read_size(r: &mut NodeReader, v: Spanned<String>) -> Option<u64> {
    let mib = parse_size(&v.value);
    if mib.is_none() {
        r.error(
            Diag::new(Code::Swap, format!("`{}` is not a swap size", v.value), &v.at, "not a size")
                .help("a whole number of MiB or GiB, from 1M to 16384G: size=\"512M\", size=\"2G\""),
        );
    }
    mib
}

impl Kind for SwapFile {
    const KIND: &'static str = "swap-file";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<SwapFile> {
        let path = r.arg("a file path");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let size = r.nonempty("size");
        let priority = r.int::<i32>("priority");
        let path = path?;
        if !r.absolute_path(&path, PathRule::File, None) {
            return None;
        }
        if let Some(p) = priority.as_ref().filter(|p| !(-1..=32767).contains(&p.value)) {
            r.error(Diag::new(
                Code::Range,
                "`priority` is out of range: it must be -1 to 32767",
                &p.at,
                "out of range",
            ));
            return None;
        }
        let mib = match (present, size) {
            (true, Some(s)) => Some(read_size(r, s)?),
            (true, None) => {
                let at = r.at();
                r.error(
                    Diag::new(Code::Missing, "a swap file needs a `size`", &at, "no size").help("write `size=\"2G\"`"),
                );
                return None;
            }
            (false, Some(s)) => {
                r.error(Diag::new(Code::Conflict, "an absent swap file has no size", &s.at, "remove this"));
                return None;
            }
            (false, None) => None,
        };
        Some(SwapFile { path: path.value, mib, priority: priority.map(|p| p.value) })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn deps(&self) -> Vec<Implicit> {
        parent_dirs(&self.path)
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.set("k", &kernel_escape(&self.path));
        sh.raw("if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then stat -c 'file=%s:%a:%U' -- \"$p\"\n");
        sh.raw("  ps=$(getconf PAGESIZE 2>/dev/null || echo 4096)\n");
        sh.raw("  if [ \"$(dd if=\"$p\" bs=1 skip=$((ps - 10)) count=10 2>/dev/null)\" = SWAPSPACE2 ]; then echo swap=yes; else echo swap=no; fi\n");
        sh.raw("elif [ -e \"$p\" ] || [ -L \"$p\" ]; then echo file=other\nelse echo file=absent; fi\n");
        sh.raw("P=\"$k\" awk 'NR > 1 && $1 == ENVIRON[\"P\"] { print \"active=\" $5 }' /proc/swaps 2>/dev/null\n");
        sh.raw("if [ -f /etc/fstab ]; then echo --body--; base64 < /etc/fstab; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let file = match rec.req("file")? {
            "absent" => FileState::Absent,
            "other" => FileState::Other,
            stat => {
                let bad = || ProbeError(format!("malformed file stat {stat:?}"));
                let [size, mode, owner] = stat.splitn(3, ':').collect::<Vec<_>>()[..] else { return Err(bad()) };
                FileState::File {
                    size: size.parse().map_err(|_| bad())?,
                    mode: u32::from_str_radix(mode, 8).map_err(|_| bad())?,
                    owner: owner.to_string(),
                    swap: rec.req("swap")? == "yes",
                }
            }
        };
        let active = match rec.get("active") {
            Some(p) => Some(p.parse().map_err(|_| ProbeError(format!("malformed swap priority {p:?}")))?),
            None => None,
        };
        let fstab = rec.body()?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        Ok(State { file, active, fstab })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let mut changes = Vec::new();
        let found = entries(&state.fstab, &self.path);
        let want_line = self.mib.map(|_| fstab_line(&self.path, self.priority));
        let Some(mib) = self.mib else {
            if state.active.is_some() {
                changes.push(Change::new("active", Some("yes".into()), None));
            }
            if !found.is_empty() {
                changes.push(Change::new("entry in /etc/fstab", Some(found[0].trim().to_string()), None));
            }
            if state.file != FileState::Absent {
                changes.push(Change::new("file", Some(self.path.clone()), None));
            }
            return Diff::new(Action::Remove, changes);
        };
        let size = format!("{mib} MiB");
        match &state.file {
            FileState::Absent => changes.push(Change::new("size", None, Some(size))),
            FileState::Other => changes.push(Change::set("type", "not a regular file", "swap file")),
            FileState::File { size: s, mode, owner, swap } => {
                if *s != mib * MIB {
                    changes.push(Change::set("size", format!("{} bytes", s), size));
                } else if !swap {
                    changes.push(Change::set("signature", "none", "swap"));
                }
                if *mode != 0o600 {
                    changes.push(Change::set("mode", format!("{mode:04o}"), "0600"));
                }
                if owner != "root" {
                    changes.push(Change::set("owner", owner.clone(), "root"));
                }
            }
        }
        match (state.active, self.priority) {
            (None, _) => changes.push(Change::new("active", None, Some("yes".into()))),
            (Some(have), Some(want)) if have != want => {
                changes.push(Change::set("priority", have.to_string(), want.to_string()))
            }
            _ => {}
        }
        if found.len() != 1 || Some(found[0].split_whitespace().collect::<Vec<_>>().join(" ")) != want_line {
            changes.push(Change::new("entry in /etc/fstab", found.first().map(|l| l.trim().to_string()), want_line));
        }
        let action = if state.file == FileState::Absent { Action::Create } else { Action::Change };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        sh.set("p", &self.path);
        if state.file == FileState::Other {
            sh.raw("printf '%s\\n' \"refusing to replace something that is not a regular file with a swap file: $p\" >&2; exit 1\n");
            return;
        }
        let remake = has("size") || has("signature");
        let active = state.active.is_some();
        if active && (self.mib.is_none() || remake || has("priority")) {
            sh.raw("swapoff -- \"$p\"\n");
        }
        if has("entry in /etc/fstab") {
            sh.set("ft", "/etc/fstab");
            sh.set("e", &escape(&self.path));
            sh.set("l", &self.mib.map(|_| fstab_line(&self.path, self.priority)).unwrap_or_default());
            sh.raw("tmp=$(mktemp /etc/.converge.XXXXXXXX)\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
            edit_script(sh);
            sh.raw("if [ -f \"$ft\" ]; then chown --reference=\"$ft\" -- \"$tmp\"; chmod --reference=\"$ft\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
            sh.raw("mv -f -- \"$tmp\" \"$ft\"\ntrap - EXIT\n");
            sh.raw("if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload; fi\n");
        }
        let Some(mib) = self.mib else {
            sh.raw("rm -f -- \"$p\"\n");
            return;
        };
        if remake {
            sh.raw("tmp=$(mktemp \"$(dirname -- \"$p\")/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$tmp\"' EXIT\nchmod 0600 \"$tmp\"\n");
            sh.raw("fallocate -l ")
                .num(mib * MIB)
                .raw(" -- \"$tmp\" 2>/dev/null || dd if=/dev/zero of=\"$tmp\" bs=1M count=")
                .num(mib)
                .raw(" status=none\n");
            sh.raw("mkswap -- \"$tmp\" >/dev/null\nmv -f -- \"$tmp\" \"$p\"\ntrap - EXIT\n");
        }
        if remake || has("owner") {
            sh.raw("chown root:root -- \"$p\"\n");
        }
        if remake || has("mode") {
            sh.raw("chmod 0600 -- \"$p\"\n");
        }
        if !active || remake || has("priority") {
            match self.priority {
                Some(p) => {
                    sh.raw("swapon -p ").raw(if p < 0 { "-" } else { "" }).num(p.unsigned_abs()).raw(" -- \"$p\"\n");
                }
                None => {
                    sh.raw("swapon -- \"$p\"\n");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{b64, build_from, plan_of};

    fn swap(kdl: &str) -> SwapFile {
        build_from::<SwapFile>(kdl).expect("builds")
    }

    const FSTAB: &str = "UUID=1 / ext4 defaults 0 1\n";

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G"), Some(2048));
        assert_eq!(parse_size("512M"), Some(512));
        assert_eq!(parse_size("64"), Some(64));
        for bad in ["", "0M", "1.5G", "2T", "-1G", "G", "99999999G"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_new_swap_file_is_made_activated_and_persisted() {
        let s = swap("swap-file \"/swapfile\" size=\"2G\"");
        let (diff, steps) = plan_of(&s, &format!("file=absent\n--body--\n{}\n", b64(FSTAB)));
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::new("size", None, Some("2048 MiB".into())),
                Change::new("active", None, Some("yes".into())),
                Change::new("entry in /etc/fstab", None, Some("/swapfile none swap sw 0 0".into())),
            ]
        );
        assert!(steps.contains("fallocate -l 2147483648 -- \"$tmp\""), "{steps}");
        assert!(steps.contains("dd if=/dev/zero of=\"$tmp\" bs=1M count=2048"), "{steps}");
        assert!(steps.contains("mkswap -- \"$tmp\""), "{steps}");
        assert!(steps.ends_with("chmod 0600 -- \"$p\"\nswapon -- \"$p\"\n"), "{steps}");
        assert!(!steps.contains("swapoff"), "{steps}");
    }

    #[test]
    fn in_sync_and_resized() {
        let s = swap("swap-file \"/swapfile\" size=\"1G\" priority=10");
        let fstab = format!("{FSTAB}/swapfile none swap sw,pri=10 0 0\n");
        let out = |size: u64, prio: i32| {
            format!("file={size}:600:root\nswap=yes\nactive={prio}\n--body--\n{}\n", b64(&fstab))
        };
        assert!(plan_of(&s, &out(1024 * MIB, 10)).0.is_ok());
        let (diff, steps) = plan_of(&s, &out(512 * MIB, 10));
        assert_eq!(diff.changes, vec![Change::set("size", "536870912 bytes", "1024 MiB")]);
        let off = steps.find("swapoff").expect("swapoff first");
        assert!(off < steps.find("mkswap").expect("mkswap"), "{steps}");
        assert!(steps.ends_with("swapon -p 10 -- \"$p\"\n"), "{steps}");
        let (diff, steps) = plan_of(&s, &out(1024 * MIB, -2));
        assert_eq!(diff.changes, vec![Change::set("priority", "-2", "10")]);
        assert!(!steps.contains("mkswap"), "{steps}");
    }

    #[test]
    fn loose_mode_and_missing_signature() {
        let s = swap("swap-file \"/swapfile\" size=\"64M\"");
        let fstab = "/swapfile none swap sw 0 0\n";
        let out = format!("file={}:644:root\nswap=no\nactive=-2\n--body--\n{}\n", 64 * MIB, b64(fstab));
        let (diff, steps) = plan_of(&s, &out);
        assert_eq!(diff.changes, vec![Change::set("signature", "none", "swap"), Change::set("mode", "0644", "0600")]);
        assert!(steps.contains("swapoff") && steps.contains("mkswap"), "{steps}");
    }

    #[test]
    fn absent_turns_it_off_and_removes_it() {
        let s = swap("swap-file \"/swapfile\" state=\"absent\"");
        let fstab = format!("{FSTAB}/swapfile none swap sw 0 0\n");
        let out = format!("file={}:600:root\nswap=yes\nactive=-2\n--body--\n{}\n", 64 * MIB, b64(&fstab));
        let (diff, steps) = plan_of(&s, &out);
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes.len(), 3);
        assert!(steps.starts_with("p=/swapfile\nswapoff -- \"$p\"\n"), "{steps}");
        assert!(steps.ends_with("rm -f -- \"$p\"\n"), "{steps}");
        assert!(plan_of(&s, &format!("file=absent\n--body--\n{}\n", b64(FSTAB))).0.is_ok());
    }

    #[test]
    fn the_host_side_edit_matches_the_plan() {
        let text = "# c\nUUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n/swapfile /mnt ext4 defaults 0 0\n/swapfile none swap sw,pri=1 0 0\n";
        for (text, path, line) in [
            (text, "/swapfile", Some("/swapfile none swap sw,pri=5 0 0")),
            (text, "/swapfile", None),
            ("", "/var/my swap", Some("/var/my\\040swap none swap sw 0 0")),
        ] {
            assert_eq!(edit(text, path, line).matches("swap sw").count(), usize::from(line.is_some()));
            let e = escape(path);
            let vars = [("e", e.as_str()), ("l", line.unwrap_or(""))];
            let out = super::super::content::run_edit_script("ft", Some(text), &vars, edit_script);
            assert_eq!(out, edit(text, path, line), "{text:?} {line:?}");
        }
    }

    /// The probe, read-only, run here on a file made as the steps make one: its size, mode
    /// and swap signature are read back (swapon itself cannot run in a test).
    #[test]
    fn the_probe_reads_a_real_swap_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("swap file");
        let path = f.to_str().expect("utf8");
        let s = swap(&format!("swap-file \"{path}\" size=\"1M\""));
        let made = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 077; fallocate -l 1048576 -- \"$1\" && mkswap -- \"$1\" >/dev/null")
            .arg("sh")
            .arg(path)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            panic!("fallocate and mkswap (util-linux) are needed for this test");
        }
        let mut sh = Sh::new();
        s.probe(&mut sh);
        let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
        let state = s.parse(&String::from_utf8_lossy(&out.stdout)).expect("parse");
        assert_eq!(
            state.file,
            FileState::File { size: MIB, mode: 0o600, owner: whoami(), swap: true },
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(state.active, None);
        std::fs::write(&f, vec![0u8; MIB as usize]).expect("overwrite");
        let mut sh = Sh::new();
        s.probe(&mut sh);
        let out = std::process::Command::new("sh").arg("-c").arg(sh.text()).output().expect("sh");
        assert!(matches!(
            s.parse(&String::from_utf8_lossy(&out.stdout)).expect("parse").file,
            FileState::File { swap: false, .. }
        ));
    }

    fn whoami() -> String {
        let out = std::process::Command::new("id").arg("-un").output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn refusals_at_their_token() {
        let errs = |kdl: &str| build_from::<SwapFile>(kdl).expect_err("refused");
        assert_eq!(errs("swap-file \"/swapfile\" size=\"2T\""), ["`2T` is not a swap size @ not a size"]);
        assert_eq!(errs("swap-file \"/swapfile\""), ["a swap file needs a `size` @ no size"]);
        assert_eq!(
            errs("swap-file \"/swapfile\" size=\"1G\" priority=40000"),
            ["`priority` is out of range: it must be -1 to 32767 @ out of range"]
        );
        assert_eq!(
            errs("swap-file \"/x\" state=\"absent\" size=\"1G\""),
            ["an absent swap file has no size @ remove this"]
        );
        assert_eq!(errs("swap-file \"swapfile\" size=\"1G\"").len(), 1);
        let s = swap("swap-file \"/swapfile\" size=\"1G\"");
        assert!(s.parse("file=garbage\n").is_err());
        assert!(s.parse("file=1:600:root\n").is_err(), "no signature line");
        assert!(s.parse("file=absent\nactive=x\n").is_err());
    }
}
