//! `mount`: a filesystem's entry in /etc/fstab, and whether it is mounted.
//!
//! ```kdl
//! mount "/srv/data" src="UUID=2f1c6a1e-5d3b-4d44-9a5e-7d0b3c1e9f10" fstype="ext4" opts="defaults,noatime" passno=2
//! mount "/var/www/uploads" src="/srv/data/uploads" fstype="none" opts="bind"
//! mount "/mnt/scratch" src="tmpfs" fstype="tmpfs" opts="size=512m,mode=1777" state="present"
//! mount "/mnt/backup" state="unmounted"
//! mount "/mnt/old" state="absent"
//! ```
//!
//! The states are Ansible's `mount` module's:
//!
//! - `mounted` (the default): the entry is in fstab and the filesystem is mounted (the
//!   mount point is created when missing). A changed entry of a mounted filesystem is
//!   applied by unmounting and mounting it again;
//! - `present`: the entry is in fstab; whether it is mounted is left alone;
//! - `unmounted`: not mounted; the fstab entry is managed too when `src` is given, left
//!   alone otherwise;
//! - `absent`: not mounted and no entry in fstab (the mount point directory is kept).
//!
//! The fstab entry is found by its mount point (second field): the first is replaced,
//! further ones removed, one appended when there is none; comments and other entries are
//! kept. The file is edited as it is at apply time (an `awk`, the same edit the plan
//! computes, tested to agree) and replaced atomically with its owner and mode; systemd
//! is then told (`systemctl daemon-reload`) so its mount units follow. Spaces, tabs,
//! `#` and backslashes in a path or source are written as fstab's octal escapes (`\040`).
//!
//! Whether it is mounted comes from `/proc/self/mountinfo` (no tool needed). A mounted
//! filesystem counts as the wanted one when its type is `fstype` (`auto` and `none` match
//! any) and, for a bind mount, when the mount point is the very directory `src` is (same
//! device and inode); another device of the same type mounted there by hand is not told
//! apart. Mounting and unmounting use `mount` and `umount` (util-linux); a busy
//! filesystem fails the step with umount's reason.

use super::file::read_path;
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag, Spanned};
use crate::script::Sh;
use crate::syntax::reader::{NodeReader, PathRule};

/// The largest fstab the probe reads back.
const SIZE_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Mounted,
    Present,
    Unmounted,
    Absent,
}

#[derive(Debug)]
pub struct Mount {
    path: String,
    want: Want,
    /// The wanted fstab entry; `None`: no entry (absent) or left alone (unmounted).
    entry: Option<Entry>,
    fstab: String,
}

/// One fstab entry, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub src: String,
    pub path: String,
    pub fstype: String,
    pub opts: String,
    pub dump: String,
    pub passno: String,
}

impl Entry {
    /// The fstab line.
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            escape(&self.src),
            escape(&self.path),
            self.fstype,
            self.opts,
            self.dump,
            self.passno
        )
    }

    /// A non-comment fstab line, if it has at least a source and a mount point.
    fn parse(line: &str) -> Option<Entry> {
        if line.trim_start().starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [src, path, rest @ ..] = f.as_slice() else { return None };
        let get = |i: usize, d: &str| rest.get(i).map_or(d.to_string(), |s| s.to_string());
        Some(Entry {
            src: unescape(src),
            path: unescape(path),
            fstype: get(0, "auto"),
            opts: get(1, "defaults"),
            dump: get(2, "0"),
            passno: get(3, "0"),
        })
    }

    fn is_bind(&self) -> bool {
        self.opts.split(',').any(|o| o == "bind" || o == "rbind")
    }
}

/// What is mounted at the path (the top of the stack, from mountinfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    pub fstype: String,
    pub source: String,
    /// For a bind mount: whether the mount point is the same directory as `src`.
    pub same_as_src: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub mounted: Option<Mounted>,
    /// The fstab text; `None`: no fstab.
    pub fstab: Option<String>,
}

/// fstab's escapes: space, tab, newline, backslash and `#` as `\ooo` (a `#` would start a
/// comment at the head of a line).
pub fn escape(s: &str) -> String {
    octal(s, &[' ', '\t', '\n', '\\', '#'])
}

/// The kernel's escapes in `/proc/self/mountinfo` and `/proc/swaps`: space, tab, newline
/// and backslash (not `#`).
pub fn kernel_escape(s: &str) -> String {
    octal(s, &[' ', '\t', '\n', '\\'])
}

fn octal(s: &str, special: &[char]) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if special.contains(&c) {
            out.push_str(&format!("\\{:03o}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Undoes `\ooo` escapes (of fstab and mountinfo).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d))
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The fstab with the entries of mount point `path` replaced by `line` (the first one
/// replaced, the others removed, `line` appended when there is none), or removed when
/// `line` is `None`. The same edit as [`edit_script`].
pub fn edit(text: &str, path: &str, line: Option<&str>) -> String {
    let escaped = escape(path);
    super::content::replace_lines(text, line, |l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        !l.trim_start().starts_with('#') && f.len() >= 2 && f[1] == escaped
    })
}

/// Writes to `$tmp` the fstab `$ft` edited as [`edit`] does: `$e` the escaped mount
/// point, `$l` the line (empty: remove).
fn edit_script(sh: &mut Sh) {
    super::content::replace_lines_awk(sh, "ft", "P=\"$e\"", "!/^[ \\t]*#/ && NF >= 2 && $2 == ENVIRON[\"P\"]");
}

/// The entries of `path` in an fstab.
fn entries<'a>(text: &'a str, path: &str) -> Vec<(Entry, &'a str)> {
    text.lines().filter_map(|l| Entry::parse(l).map(|e| (e, l))).filter(|(e, _)| e.path == path).collect()
}

/// Parses a mountinfo line: the type and source after the ` - ` separator.
fn mountinfo(line: &str) -> Result<Mounted, ProbeError> {
    let f: Vec<&str> = line.split(' ').collect();
    let sep = f.iter().position(|w| *w == "-").filter(|i| *i >= 6);
    match sep.and_then(|i| Some((f.get(i + 1)?, f.get(i + 2)?))) {
        Some((fstype, source)) => Ok(Mounted { fstype: unescape(fstype), source: unescape(source), same_as_src: None }),
        None => Err(ProbeError(format!("malformed mountinfo line {line:?}"))),
    }
}

fn check_word(r: &mut NodeReader, v: &Spanned<String>, what: &str, ok: impl Fn(u8) -> bool, help: &str) -> bool {
    if v.value.bytes().all(ok) {
        return true;
    }
    r.error(
        Diag::new(Code::Mount, format!("`{}` is not {what}", v.value), &v.at, "not allowed in fstab here").help(help),
    );
    false
}

impl Kind for Mount {
    const KIND: &'static str = "mount";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Mount> {
        let path = read_path(r);
        let want = match r.choice("state", &["mounted", "present", "unmounted", "absent"]) {
            None | Some("mounted") => Want::Mounted,
            Some("present") => Want::Present,
            Some("unmounted") => Want::Unmounted,
            Some(_) => Want::Absent,
        };
        let src = r.nonempty("src");
        let fstype = r.nonempty("fstype");
        let opts = r.nonempty("opts");
        let dump = r.int::<u16>("dump");
        let passno = r.int::<u16>("passno");
        let fstab = r.nonempty("fstab");
        let fstab_ok = fstab.as_ref().is_none_or(|f| r.absolute_path(f, PathRule::File, None));
        let fstype_ok = fstype.as_ref().is_none_or(|t| {
            check_word(
                r,
                t,
                "a filesystem type",
                |b| b.is_ascii_alphanumeric() || b"._+-".contains(&b),
                "a type as mount -t takes it: ext4, xfs, nfs, tmpfs, fuse.sshfs, none (for a bind mount)",
            )
        });
        let opts_ok = opts.as_ref().is_none_or(|o| {
            check_word(
                r,
                o,
                "a list of mount options",
                |b| b.is_ascii_graphic() && b != b'#' && b != b'\\',
                "comma-separated options without spaces: defaults,noatime",
            )
        });
        let path = path?;
        if !(fstab_ok && fstype_ok && opts_ok) {
            return None;
        }
        let given: Vec<(&str, Option<&crate::diag::At>)> = vec![
            ("src", src.as_ref().map(|v| &v.at)),
            ("fstype", fstype.as_ref().map(|v| &v.at)),
            ("opts", opts.as_ref().map(|v| &v.at)),
            ("dump", dump.as_ref().map(|v| &v.at)),
            ("passno", passno.as_ref().map(|v| &v.at)),
        ];
        let entry = match (want, &src, &fstype) {
            (Want::Absent, _, _) => {
                for (key, at) in given {
                    if let Some(at) = at {
                        r.error(Diag::new(
                            Code::Conflict,
                            format!("an absent mount has no `{key}`"),
                            at,
                            "remove this",
                        ));
                    }
                }
                None
            }
            (Want::Unmounted, None, None) => {
                for (key, at) in given {
                    if let Some(at) = at {
                        r.error(
                            Diag::new(
                                Code::Conflict,
                                format!("`{key}` describes the fstab entry, which needs `src` and `fstype`"),
                                at,
                                "without src",
                            )
                            .help("give `src` and `fstype` to manage the entry too, or nothing to only unmount"),
                        );
                    }
                }
                None
            }
            (_, Some(s), Some(t)) => Some(Entry {
                src: s.value.clone(),
                path: path.clone(),
                fstype: t.value.clone(),
                opts: opts.map_or("defaults".into(), |o| o.value),
                dump: dump.map_or(0, |d| d.value).to_string(),
                passno: passno.map_or(0, |d| d.value).to_string(),
            }),
            _ => {
                let at = r.at();
                let missing = if src.is_none() { "src" } else { "fstype" };
                r.error(
                    Diag::new(Code::Missing, format!("a mount needs `{missing}`"), &at, format!("no {missing}"))
                        .help("write `src=\"/dev/...\"` (or `UUID=...`, `server:/export`) and `fstype=\"ext4\"`"),
                );
                return None;
            }
        };
        if r.failed() {
            return None;
        }
        Some(Mount { path, want, entry, fstab: fstab.map_or("/etc/fstab".into(), |f| f.value) })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        // a mount under another managed mount comes after it
        let over: Vec<Implicit> =
            d.iter().map(|p| Implicit::new("mount", p.target.name.clone(), "mounted under it")).collect();
        d.extend(over);
        d.push(Implicit::new("directory", self.path.clone(), "mount point"));
        if let Some(e) = self.entry.as_ref().filter(|e| e.is_bind()) {
            d.push(Implicit::new("directory", e.src.clone(), "bind mount source"));
            d.push(Implicit::new("mount", e.src.clone(), "bind mount source"));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.set("k", &kernel_escape(&self.path));
        sh.set("ft", &self.fstab);
        sh.raw("P=\"$k\" awk '$5 == ENVIRON[\"P\"] { print \"mnt=\" $0 }' /proc/self/mountinfo\n");
        if let Some(e) = self.entry.as_ref().filter(|e| e.is_bind()) {
            sh.set("s", &e.src);
            sh.raw("if [ -e \"$s\" ] && [ -e \"$p\" ]; then printf '%s\\n' \"srcid=$(stat -L -c %d:%i -- \"$s\")\" \"pathid=$(stat -c %d:%i -- \"$p\")\"; fi\n");
        }
        sh.raw("if [ -f \"$ft\" ]; then\n");
        sh.raw("  if [ \"$(stat -c %s -- \"$ft\")\" -le ")
            .num(SIZE_LIMIT)
            .raw(" ]; then echo fstab=present; echo --body--; base64 < \"$ft\"\n");
        sh.raw("  else echo fstab=large; fi\nelse echo fstab=absent; fi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let mut mounted = match rec.all("mnt").last() {
            Some(line) => Some(mountinfo(line)?),
            None => None,
        };
        if let (Some(m), Some(s), Some(p)) = (mounted.as_mut(), rec.get("srcid"), rec.get("pathid")) {
            m.same_as_src = Some(s == p);
        }
        let fstab = match rec.req("fstab")? {
            "absent" => None,
            "present" => {
                let body = rec.body()?.ok_or_else(|| ProbeError("the fstab's content is missing".into()))?;
                Some(String::from_utf8(body).map_err(|_| ProbeError(format!("{} is not UTF-8 text", self.fstab)))?)
            }
            "large" => return Err(ProbeError(format!("{} is over {} KiB", self.fstab, SIZE_LIMIT / 1024))),
            other => return Err(ProbeError(format!("unexpected fstab={other:?}"))),
        };
        Ok(State { mounted, fstab })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let text = state.fstab.as_deref().unwrap_or("");
        let found = entries(text, &self.path);
        let before = found.first().map(|(_, l)| l.trim().to_string());
        let mut changes = Vec::new();
        let fstab_field = format!("entry in {}", self.fstab);
        let entry_changes = match (&self.want, &self.entry) {
            (Want::Absent, _) => !found.is_empty(),
            (_, None) => false,
            (_, Some(e)) => found.len() != 1 || found[0].0 != *e,
        };
        if entry_changes {
            let shown =
                if found.len() > 1 { before.map(|b| format!("{b} (and {} more)", found.len() - 1)) } else { before };
            changes.push(Change::new(fstab_field, shown, self.entry.as_ref().map(Entry::line)));
        }
        let live = |m: &Mounted| format!("{} on {}", m.source, m.fstype);
        match (self.want, &state.mounted) {
            (Want::Mounted, None) => changes.push(Change::new("mounted", None, Some("yes".into()))),
            (Want::Mounted, Some(m)) => {
                let e = self.entry.as_ref();
                if let Some(e) = e.filter(|e| !self.is_wanted(e, m)) {
                    let what =
                        if e.is_bind() { format!("bind of {}", e.src) } else { format!("{} on {}", e.src, e.fstype) };
                    changes.push(Change::set("mounted", live(m), what));
                } else if entry_changes {
                    changes.push(Change::note("mounted again (umount, mount) for the new entry"));
                }
            }
            (Want::Unmounted | Want::Absent, Some(m)) => changes.push(Change::new("mounted", Some(live(m)), None)),
            _ => {}
        }
        let action = match (self.want, state.mounted.is_some(), found.is_empty()) {
            (Want::Absent, _, _) => Action::Remove,
            (Want::Unmounted, true, _) if !entry_changes => Action::Remove,
            (Want::Mounted | Want::Present, false, true) => Action::Create,
            _ => Action::Change,
        };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("p", &self.path);
        let has = |f: &str| diff.changes.iter().any(|c| c.field() == f);
        let entry_changes = diff.changes.iter().any(|c| c.field().starts_with("entry in "));
        let mounted = state.mounted.is_some();
        let unmount = match self.want {
            Want::Mounted => mounted && (has("mounted") || entry_changes),
            Want::Unmounted | Want::Absent => mounted,
            Want::Present => false,
        };
        if unmount && self.want != Want::Mounted {
            sh.raw("umount -- \"$p\"\n");
        }
        if entry_changes {
            sh.set("ft", &self.fstab);
            sh.set("e", &escape(&self.path));
            sh.set("l", &self.entry.as_ref().map(Entry::line).unwrap_or_default());
            sh.raw("tmp=$(mktemp \"$(dirname -- \"$ft\")/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
            edit_script(sh);
            sh.raw("if [ -f \"$ft\" ]; then chown --reference=\"$ft\" -- \"$tmp\"; chmod --reference=\"$ft\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
            sh.raw("sync -- \"$tmp\" 2>/dev/null || sync\nmv -f -- \"$tmp\" \"$ft\"\ntrap - EXIT\n");
            sh.raw("if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload; fi\n");
        }
        if self.want == Want::Mounted && (unmount || !mounted) {
            if unmount {
                sh.raw("umount -- \"$p\"\n");
            }
            sh.raw("mkdir -p -- \"$p\"\n");
            if self.fstab == "/etc/fstab" {
                sh.raw("mount -- \"$p\"\n");
            } else {
                sh.set("ft", &self.fstab);
                sh.raw("mount -T \"$ft\" -- \"$p\"\n");
            }
        }
    }
}

impl Mount {
    /// Whether what is mounted is what the entry describes.
    fn is_wanted(&self, e: &Entry, m: &Mounted) -> bool {
        if e.is_bind() {
            return m.same_as_src.unwrap_or(false);
        }
        let nfs = |t: &str| t == "nfs" || t == "nfs4";
        e.fstype == "auto" || e.fstype == "none" || e.fstype == m.fstype || (nfs(&e.fstype) && nfs(&m.fstype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{b64, build_from, plan_of};

    fn mount(kdl: &str) -> Mount {
        build_from::<Mount>(kdl).expect("builds")
    }

    const FSTAB: &str = "# /etc/fstab\nUUID=1 / ext4 errors=remount-ro 0 1\n/srv/data /mnt/data none bind 0 0\n";
    const BIND_INFO: &str =
        "mnt=201 33 0:45 /srv/data /mnt/data rw,relatime shared:1 - overlay overlay rw,lowerdir=/x\n";

    fn out(mnt: &str, extra: &str, fstab: &str) -> String {
        format!("{mnt}{extra}fstab=present\n--body--\n{}\n", b64(fstab))
    }

    #[test]
    fn depends_on_its_mount_point_the_mounts_above_it_and_a_bind_source() {
        let m = mount("mount \"/srv/data/www\" src=\"/srv/web\" fstype=\"none\" opts=\"bind\"");
        let deps = m.deps();
        for (kind, name) in [
            ("directory", "/srv/data/www"),
            ("mount", "/srv/data"),
            ("mount", "/srv"),
            ("directory", "/srv/web"),
            ("mount", "/srv/web"),
        ] {
            assert!(deps.iter().any(|d| d.target.kind == kind && d.target.name == name), "{kind}:{name} in {deps:?}");
        }
    }

    #[test]
    fn escapes_round_trip() {
        for s in ["/mnt/a b", "/mnt/t\tab", "/mnt/x\ny", "/mnt/back\\slash", "#src", "/mnt/ünï", "plain"] {
            assert_eq!(unescape(&escape(s)), s);
            assert!(!escape(s).contains([' ', '\t', '\n', '#']));
        }
        assert_eq!(escape("/mnt/a b"), "/mnt/a\\040b");
        assert_eq!(unescape("\\04"), "\\04");
        assert_eq!(kernel_escape("/mnt/#a b"), "/mnt/#a\\040b", "mountinfo leaves # alone");
    }

    #[test]
    fn a_new_bind_mount_is_added_to_fstab_and_mounted() {
        let m = mount("mount \"/mnt/web\" src=\"/srv/web\" fstype=\"none\" opts=\"bind\"");
        let (diff, steps) = plan_of(&m, &out("", "", FSTAB));
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::new("entry in /etc/fstab", None, Some("/srv/web /mnt/web none bind 0 0".into())),
                Change::new("mounted", None, Some("yes".into())),
            ]
        );
        assert!(steps.contains("mv -f -- \"$tmp\" \"$ft\""), "{steps}");
        assert!(steps.contains("systemctl daemon-reload"), "{steps}");
        assert!(steps.ends_with("mkdir -p -- \"$p\"\nmount -- \"$p\"\n"), "{steps}");
        assert!(!steps.contains("umount"), "{steps}");
    }

    #[test]
    fn in_sync_bind_mount() {
        let m = mount("mount \"/mnt/data\" src=\"/srv/data\" fstype=\"none\" opts=\"bind\"");
        let (diff, _) = plan_of(&m, &out(BIND_INFO, "srcid=45:12\npathid=45:12\n", FSTAB));
        assert!(diff.is_ok(), "{diff:?}");
        // something else mounted there: mounted again
        let (diff, steps) = plan_of(&m, &out(BIND_INFO, "srcid=45:12\npathid=45:99\n", FSTAB));
        assert_eq!(diff.changes, vec![Change::set("mounted", "overlay on overlay", "bind of /srv/data")]);
        assert!(steps.contains("umount -- \"$p\"\nmkdir -p -- \"$p\"\nmount -- \"$p\""), "{steps}");
        assert!(!steps.contains("awk"), "{steps}");
    }

    #[test]
    fn a_changed_entry_of_a_mounted_filesystem_remounts() {
        let m = mount("mount \"/mnt/data\" src=\"/srv/data\" fstype=\"none\" opts=\"bind,ro\"");
        let (diff, steps) = plan_of(&m, &out(BIND_INFO, "srcid=1:2\npathid=1:2\n", FSTAB));
        assert_eq!(
            diff.changes,
            vec![
                Change::set(
                    "entry in /etc/fstab",
                    "/srv/data /mnt/data none bind 0 0",
                    "/srv/data /mnt/data none bind,ro 0 0"
                ),
                Change::note("mounted again (umount, mount) for the new entry"),
            ]
        );
        let edit_at = steps.find("awk").expect("edits");
        let umount_at = steps.find("umount").expect("unmounts");
        assert!(edit_at < umount_at, "fstab first, then umount and mount: {steps}");
    }

    #[test]
    fn present_leaves_the_mount_alone_and_unmounted_and_absent_unmount() {
        let present = mount("mount \"/mnt/data\" src=\"/srv/data\" fstype=\"none\" opts=\"bind\" state=\"present\"");
        assert!(plan_of(&present, &out("", "", FSTAB)).0.is_ok());
        let unmounted = mount("mount \"/mnt/data\" state=\"unmounted\"");
        let (diff, steps) = plan_of(&unmounted, &out(BIND_INFO, "", FSTAB));
        assert_eq!(diff.changes, vec![Change::new("mounted", Some("overlay on overlay".into()), None)]);
        assert_eq!(steps, "p=/mnt/data\numount -- \"$p\"\n");
        assert!(plan_of(&unmounted, &out("", "", FSTAB)).0.is_ok());
        let absent = mount("mount \"/mnt/data\" state=\"absent\"");
        let (diff, steps) = plan_of(&absent, &out(BIND_INFO, "", FSTAB));
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(diff.changes.len(), 2);
        assert!(steps.find("umount").expect("umount") < steps.find("awk").expect("edit"), "{steps}");
        assert!(plan_of(&absent, &out("", "", "# empty\n")).0.is_ok());
    }

    #[test]
    fn fstab_edit_replaces_dedupes_appends_and_removes() {
        let text = "# c\nUUID=1 / ext4 defaults 0 1\n/a /mnt/x none bind 0 0\n  # /b /mnt/x none bind\n/c /mnt/x none bind 0 0\n";
        assert_eq!(
            edit(text, "/mnt/x", Some("/z /mnt/x none bind 0 0")),
            "# c\nUUID=1 / ext4 defaults 0 1\n/z /mnt/x none bind 0 0\n  # /b /mnt/x none bind\n"
        );
        assert_eq!(edit(text, "/mnt/x", None), "# c\nUUID=1 / ext4 defaults 0 1\n  # /b /mnt/x none bind\n");
        assert_eq!(
            edit("", "/mnt/a b", Some("x /mnt/a\\040b auto defaults 0 0")),
            "x /mnt/a\\040b auto defaults 0 0\n"
        );
        let found = entries("/a /mnt/a\\040b none bind\n", "/mnt/a b");
        assert_eq!(found[0].0.dump, "0", "missing fields take fstab's defaults");
    }

    #[test]
    fn the_host_side_edit_matches_the_plan() {
        let text =
            "# c\nUUID=1 / ext4 defaults 0 1\n/a /mnt/x none bind 0 0\n\t# /b /mnt/x\n/c\t/mnt/x none bind 0 0\n\n";
        for (text, path, line) in [
            (text, "/mnt/x", Some("/z /mnt/x none bind 0 0")),
            (text, "/mnt/x", None),
            ("", "/mnt/a b", Some("x /mnt/a\\040b auto defaults 0 0")),
            ("/q /mnt/a\\040b auto defaults 0 0\n", "/mnt/a b", None),
            ("/q /mnt/y auto defaults 0 0\n", "/mnt/x", Some("'$(x)' /mnt/x auto defaults 0 0")),
        ] {
            let e = escape(path);
            let vars = [("e", e.as_str()), ("l", line.unwrap_or(""))];
            let out = super::super::content::run_edit_script("ft", Some(text), &vars, edit_script);
            assert_eq!(out, edit(text, path, line), "{text:?} {path} {line:?}");
        }
    }

    #[test]
    fn a_device_mount_is_judged_by_its_type() {
        let m = mount("mount \"/srv/data\" src=\"UUID=2f1c\" fstype=\"ext4\" opts=\"defaults,noatime\" passno=2");
        let fstab = "UUID=2f1c /srv/data ext4 defaults,noatime 0 2\n";
        let ext4 = "mnt=90 1 8:17 / /srv/data rw,noatime - ext4 /dev/sdb1 rw\n";
        assert!(plan_of(&m, &out(ext4, "", fstab)).0.is_ok());
        let xfs = "mnt=90 1 8:17 / /srv/data rw,noatime - xfs /dev/sdc1 rw\n";
        let (diff, _) = plan_of(&m, &out(xfs, "", fstab));
        assert_eq!(diff.changes, vec![Change::set("mounted", "/dev/sdc1 on xfs", "UUID=2f1c on ext4")]);
        assert!(m.parse("mnt=garbage\nfstab=absent\n").is_err());
        assert!(m.parse("fstab=present\n").is_err());
        assert!(m.parse("fstab=large\n").is_err());
        let (diff, _) = plan_of(&m, "fstab=absent\n");
        assert_eq!(diff.action, Action::Create);
    }

    #[test]
    fn bad_properties_are_refused_at_their_token() {
        let errs = |kdl: &str| build_from::<Mount>(kdl).expect_err("refused");
        assert_eq!(
            errs("mount \"/mnt/x\" src=\"/a\" fstype=\"ext 4\""),
            ["`ext 4` is not a filesystem type @ not allowed in fstab here"]
        );
        assert_eq!(
            errs("mount \"/mnt/x\" src=\"/a\" fstype=\"none\" opts=\"bind, ro\""),
            ["`bind, ro` is not a list of mount options @ not allowed in fstab here"]
        );
        assert_eq!(errs("mount \"/mnt/x\" fstype=\"ext4\""), ["a mount needs `src` @ no src"]);
        assert_eq!(errs("mount \"/mnt/x\" src=\"/a\""), ["a mount needs `fstype` @ no fstype"]);
        assert_eq!(
            errs("mount \"/mnt/x\" state=\"absent\" src=\"/a\""),
            ["an absent mount has no `src` @ remove this"]
        );
        assert_eq!(errs("mount \"/mnt/x\" state=\"unmounted\" opts=\"ro\"").len(), 1);
        assert_eq!(errs("mount \"mnt\" src=\"/a\" fstype=\"ext4\"").len(), 1);
        let m = mount(
            "mount \"/mnt/a b\" src=\"//nas/share #1\" fstype=\"cifs\" opts=\"credentials=/root/.smb\" fstab=\"/etc/fstab.d/x\"",
        );
        assert_eq!(
            m.entry.expect("entry").line(),
            "//nas/share\\040\\0431 /mnt/a\\040b cifs credentials=/root/.smb 0 0"
        );
    }
}
