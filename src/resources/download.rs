//! `download`: a file fetched from a URL by the host, verified against a checksum.
//!
//! ```kdl
//! download "/opt/dl/node-v20.11.1-linux-x64.tar.xz" url="https://nodejs.org/dist/v20.11.1/node-v20.11.1-linux-x64.tar.xz" checksum="sha256:d8dab549b09672b03356aa2257699f3de3b58c96e74eb26a8b495fbdc9cf6fbe"
//! download "/usr/local/bin/tool" url="https://example.org/tool" checksum="sha512:0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f" mode="0755"
//! ```
//!
//! The checksum is required: it is what makes the resource idempotent and safe. A file at
//! the path whose checksum matches is in sync and never fetched again, whatever the URL
//! says today (Ansible's `get_url` with a `checksum`); only owner, group and mode are then
//! managed. The URL itself is not recorded on the host: changing it with the same checksum
//! changes nothing.
//!
//! The host fetches, with the first of `curl`, `wget` (GNU or busybox) or `python3` (urllib) it has, chosen
//! when the step runs (so a `package "curl"` earlier in the same run is used). A host with
//! none of them fails the step with a message naming what to install. The URL reaches
//! `curl` and GNU `wget` on their stdin (a config line, an input file), never in their argv,
//! so a token in it does not show in the host's process list; a password in the URL is a
//! secret, masked in every plan and report.
//!
//! The write is atomic: a temp file in the destination's directory receives the download,
//! its checksum is computed, and only when it matches is it given its owner and mode and
//! renamed over the path. A wrong checksum fails the step with both sums named and leaves
//! the old file untouched. Before fetching, the step checks that the file is still what
//! the plan saw ("changed since plan").

use super::content;
use super::file::read_path;
use super::ownership::{self, Ownership};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag};
use crate::facts::{self, Need};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

/// How long the fetch may wait to connect, or for data, by default (seconds).
pub const DEFAULT_TIMEOUT: u32 = 30;

#[derive(Debug)]
pub struct Download {
    path: String,
    url: String,
    checksum: Checksum,
    ownership: Ownership,
    timeout: u32,
    validate_certs: bool,
    backup: bool,
}

/// The hash algorithms a checksum may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Sha256,
    Sha512,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }
    /// The coreutils tool that computes it (busybox has both too).
    fn tool(self) -> &'static str {
        match self {
            Algo::Sha256 => "sha256sum",
            Algo::Sha512 => "sha512sum",
        }
    }
    fn digits(self) -> usize {
        match self {
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }
}

/// `sha256:HEX` or `sha512:HEX`, the hex digits lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algo: Algo,
    pub hex: String,
}

impl Checksum {
    /// Reads a checksum as written in a playbook; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Checksum, String> {
        let Some((name, hex)) = text.split_once(':') else {
            return Err("a checksum is written `sha256:HEX` or `sha512:HEX`".into());
        };
        let algo = match name.to_ascii_lowercase().as_str() {
            "sha256" => Algo::Sha256,
            "sha512" => Algo::Sha512,
            _ => {
                return Err(format!(
                    "`{}` is not a supported algorithm: use sha256 or sha512",
                    content::short(name, 20)
                ));
            }
        };
        if hex.len() != algo.digits() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("a {} checksum is {} hex digits", algo.name(), algo.digits()));
        }
        Ok(Checksum { algo, hex: hex.to_ascii_lowercase() })
    }

    /// As plans show it: the algorithm and the first 12 digits.
    pub fn short(algo: Algo, hex: &str) -> String {
        format!("{}:{}", algo.name(), content::short(hex, 12))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Absent,
    File {
        meta: ownership::Observed,
        sum: String,
    },
    /// Something other than a regular file is in the way (a directory, a socket).
    Other(String),
}

/// Reads `url`: http or https, one line without spaces.
fn read_url(r: &mut NodeReader) -> Option<String> {
    let Some(url) = r.nonempty("url") else {
        if !r.has("url") {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "a download needs a `url`", &at, "no url")
                    .help("write `url=\"https://example.org/file.tar.gz\"`"),
            );
        }
        return None;
    };
    let lower = url.value.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let problem = if rest.is_none() {
        Some("must start with http:// or https://")
    } else if rest.is_some_and(|r| r.is_empty() || r.starts_with('/')) {
        Some("no host name after the scheme")
    } else if url.value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a URL holds no spaces or control characters (write them %-encoded)")
    } else {
        None
    };
    if let Some(label) = problem {
        r.error(Diag::new(
            Code::Download,
            format!("`{}` is not an http or https URL", content::short(&url.value, 60)),
            &url.at,
            label,
        ));
        return None;
    }
    Some(url.value)
}

/// Reads the required `checksum`.
fn read_checksum(r: &mut NodeReader) -> Option<Checksum> {
    let Some(c) = r.nonempty("checksum") else {
        if !r.has("checksum") {
            let at = r.at();
            r.error(
                Diag::new(Code::Missing, "a download needs a `checksum`", &at, "no checksum")
                    .help("write `checksum=\"sha256:HEX\"` (`sha256sum FILE` prints it): the file is verified with it and never fetched again while it matches"),
            );
        }
        return None;
    };
    match Checksum::parse(&c.value) {
        Ok(sum) => Some(sum),
        Err(why) => {
            r.error(
                Diag::new(Code::Download, "not a checksum", &c.at, why)
                    .help("write `sha256:` or `sha512:` and the hex digits"),
            );
            None
        }
    }
}

/// The password (or token) in `https://user:TOKEN@host/...`: masked everywhere.
fn url_secret(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let secret = userinfo.split_once(':').map_or(userinfo, |(_, pass)| pass);
    (!secret.is_empty()).then(|| secret.to_string())
}

/// A curl config line (`url = "..."`), read by `curl -K -` from stdin.
fn curl_config(url: &str) -> String {
    let mut out = String::from("url = \"");
    for c in url.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The fetch into `"$tmp"` of `"$u"`, with the first tool the host has. `$cfg` holds the
/// curl config line, `$t` the timeout, `$k` 1 to validate certificates.
const FETCH: &str = r#"if command -v curl >/dev/null 2>&1; then
if [ "$k" = 1 ]; then cv_k=; else cv_k=--insecure; fi
printf '%s\n' "$cfg" | curl -q -K - --fail --silent --show-error --location --connect-timeout "$t" --speed-limit 1 --speed-time "$t" $cv_k -o "$tmp"
elif command -v wget >/dev/null 2>&1; then
if [ "$k" = 1 ]; then cv_k=; else cv_k=--no-check-certificate; fi
if wget --version 2>/dev/null | grep -q 'GNU Wget'; then
printf '%s\n' "$u" | wget --no-config -nv --tries=1 --timeout="$t" $cv_k -O "$tmp" -i -
else wget -q $cv_k -O "$tmp" "$u"; fi
elif command -v python3 >/dev/null 2>&1; then
printf '%s' "$u" | python3 -c 'import shutil, ssl, sys, urllib.request
url = sys.stdin.read()
ctx = None if sys.argv[3] == "1" else ssl._create_unverified_context()
try:
    with urllib.request.urlopen(url, timeout=float(sys.argv[2]), context=ctx) as r, open(sys.argv[1], "wb") as f:
        shutil.copyfileobj(r, f)
except Exception as e:
    sys.exit("python3 urllib: %s" % e)
' "$tmp" "$t" "$k"
else
printf '%s\n' "cannot download $u: the host has none of curl, wget or python3 to fetch it with; install one (package \"curl\")" >&2; exit 1
fi
"#;

impl Kind for Download {
    const KIND: &'static str = "download";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<Download> {
        let path = read_path(r);
        let url = read_url(r);
        let checksum = read_checksum(r);
        let ownership = Ownership::read(r);
        let timeout = match r.int::<u32>("timeout") {
            Some(t) if t.value == 0 => {
                r.error(Diag::new(Code::Range, "`timeout` must be at least 1 second", &t.at, "zero"));
                None
            }
            Some(t) => Some(t.value),
            None => Some(DEFAULT_TIMEOUT),
        };
        let validate_certs = r.bool("validate-certs").unwrap_or(true);
        let backup = r.bool("backup").unwrap_or(false);
        if r.failed() {
            return None;
        }
        Some(Download {
            path: path?,
            url: url?,
            checksum: checksum?,
            ownership,
            timeout: timeout?,
            validate_certs,
            backup,
        })
    }

    fn name(&self) -> &str {
        &self.path
    }

    fn secrets(&self) -> Vec<String> {
        url_secret(&self.url).into_iter().collect()
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.path);
        d.extend(self.ownership.deps());
        for tool in ["curl", "wget", "python3"] {
            d.push(Implicit::new("package", tool, "fetches the file"));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("p", &self.path);
        sh.raw("if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then echo type=file\n");
        Ownership::probe(sh);
        match self.checksum.algo {
            Algo::Sha256 => sh.raw("if [ -n \"${cv_sum-}\" ]; then s=${cv_sum%% *}; else s=$(sha256sum < \"$p\") && s=${s%% *}; fi && printf '%s\\n' \"sum=$s\"\n"),
            Algo::Sha512 => sh.raw("s=$(sha512sum < \"$p\") && printf '%s\\n' \"sum=${s%% *}\"\n"),
        };
        sh.raw("elif [ -L \"$p\" ]; then echo type=symlink\nelif [ -d \"$p\" ]; then echo type=directory\nelif [ -e \"$p\" ]; then echo type=other\nelse echo type=absent\nfi\n");
    }

    fn facts(&self) -> Vec<Need> {
        let mut needs = vec![Need::new(&facts::STAT, &self.path)];
        if self.checksum.algo == Algo::Sha256 {
            needs.push(Need::new(&facts::SHA256, &self.path));
        }
        needs
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        Ok(match rec.req("type")? {
            // a symlink is replaced by the file (the rename replaces the link itself)
            "absent" | "symlink" => State::Absent,
            "file" => {
                let sum = rec.req("sum")?.to_ascii_lowercase();
                if sum.len() != self.checksum.algo.digits() || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ProbeError(format!("cannot read the file's {} ({sum:?})", self.checksum.algo.name())));
                }
                State::File { meta: Ownership::parse(&rec)?, sum }
            }
            t @ ("directory" | "other") => State::Other(t.to_string()),
            other => return Err(ProbeError(format!("unexpected type {other:?}"))),
        })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let algo = self.checksum.algo;
        let want = Checksum::short(algo, &self.checksum.hex);
        match state {
            State::Other(t) => Diff::new(Action::Change, vec![Change::set("type", t.clone(), "file")]),
            State::Absent => {
                let mut changes =
                    vec![Change::new("checksum", None, Some(want)), Change::new("url", None, Some(self.url.clone()))];
                changes.extend(self.ownership.diff(None, 0o644));
                Diff::new(Action::Create, changes)
            }
            State::File { meta, sum } => {
                let mut changes = Vec::new();
                if *sum != self.checksum.hex {
                    changes.push(Change::set("checksum", Checksum::short(algo, sum), want));
                    changes.push(Change::new("url", None, Some(self.url.clone())));
                }
                changes.extend(self.ownership.diff(Some(meta), 0o644));
                Diff::new(Action::Change, changes)
            }
        }
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        sh.set("p", &self.path);
        let seen = match state {
            State::Other(t) => {
                let t = if t == "directory" { "directory" } else { "special file" };
                sh.raw("printf '%s\\n' \"refusing to replace a ").raw(t).raw(" with a download: $p\" >&2; exit 1\n");
                return;
            }
            State::Absent => "absent",
            State::File { sum, .. } => sum.as_str(),
        };
        let fetches = diff.changes.iter().any(|c| c.field() == "checksum");
        if !fetches {
            self.ownership.steps(&diff.changes, "\"$p\"", sh);
            return;
        }
        let (algo, tool) = (self.checksum.algo.name(), self.checksum.algo.tool());
        // the file is still what the plan saw
        sh.raw("cur=absent; if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then cur=$(").raw(tool);
        sh.raw(" < \"$p\") && cur=${cur%% *}; fi\n");
        sh.raw("if [ -z \"${CV_DOWNSTREAM:-}\" ] && [ \"$cur\" != ")
            .hex(seen)
            .raw(" ]; then cv_changed_since_plan \"$p\"; fi\n");
        sh.set("u", &self.url).set("cfg", &curl_config(&self.url));
        sh.raw("want=").hex(&self.checksum.hex).nl();
        sh.raw("t=").num(self.timeout).nl();
        sh.raw(if self.validate_certs { "k=1\n" } else { "k=0\n" });
        sh.raw("[ -d \"$(dirname -- \"$p\")\" ] || { printf '%s\\n' \"cannot download to $p: its directory does not exist (a directory resource makes it)\" >&2; exit 1; }\n");
        sh.raw("tmp=$(mktemp \"$(dirname -- \"$p\")/.converge.XXXXXXXX\")\ntrap 'rm -f -- \"$tmp\"' EXIT\n");
        sh.raw(FETCH);
        sh.raw("got=$(").raw(tool).raw(" < \"$tmp\") && got=${got%% *}\n");
        sh.raw("if [ \"$got\" != \"$want\" ]; then printf '%s\\n' \"checksum mismatch for $u: wanted ")
            .raw(algo)
            .raw(":$want, the download has ")
            .raw(algo)
            .raw(":$got; $p is left as it was\" >&2; exit 1; fi\n");
        if self.backup {
            content::backup(sh);
        }
        sh.raw("if [ -f \"$p\" ]; then chown --reference=\"$p\" -- \"$tmp\"; chmod --reference=\"$p\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
        self.ownership.steps(&self.ownership.explicit(), "\"$tmp\"", sh);
        sh.raw("sync -- \"$tmp\" 2>/dev/null || sync\nmv -f -- \"$tmp\" \"$p\"\ntrap - EXIT\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{build_from, plan_of};

    const SUM: &str = "d8dab549b09672b03356aa2257699f3de3b58c96e74eb26a8b495fbdc9cf6fbe";
    const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn dl(extra: &str) -> Download {
        build_from::<Download>(&format!(
            "download \"/opt/dl/node.tar.xz\" url=\"https://example.org/node.tar.xz\" checksum=\"sha256:{}\" {extra}",
            SUM.to_uppercase()
        ))
        .expect("builds")
    }

    #[test]
    fn an_absent_file_is_fetched_verified_and_renamed_into_place() {
        let d = dl("owner=\"app\" mode=\"0640\"");
        let (diff, text) = plan_of(&d, "type=absent\n");
        assert_eq!(diff.action, Action::Create);
        assert_eq!(
            diff.changes,
            vec![
                Change::new("checksum", None, Some("sha256:d8dab549b096".into())),
                Change::new("url", None, Some("https://example.org/node.tar.xz".into())),
                Change::new("owner", None, Some("app".into())),
                Change::new("mode", None, Some("0640".into())),
            ]
        );
        for part in [
            "[ \"$cur\" != absent ]",
            &format!("want={SUM}\n"),
            "t=30\nk=1\n",
            "cfg='url = \"https://example.org/node.tar.xz\"'\n",
            "printf '%s\\n' \"$cfg\" | curl -q -K - --fail",
            "printf '%s\\n' \"$u\" | wget --no-config",
            "urllib.request.urlopen",
            "none of curl, wget or python3",
            "got=$(sha256sum < \"$tmp\")",
            "checksum mismatch for $u: wanted sha256:$want, the download has sha256:$got; $p is left as it was",
            "chown -- app \"$tmp\"\nchmod 0640 \"$tmp\"\n",
            "mv -f -- \"$tmp\" \"$p\"",
        ] {
            assert!(text.contains(part), "{part:?} not in:\n{text}");
        }
        // the mismatch check comes before the rename
        assert!(text.find("checksum mismatch").unwrap() < text.find("mv -f").unwrap());
    }

    #[test]
    fn a_file_with_the_right_checksum_is_not_fetched_again() {
        let d = dl("mode=\"0644\"");
        let (diff, _) = plan_of(&d, &format!("type=file\nstat=root:0:root:0:644\nsum={SUM}\n"));
        assert!(diff.is_ok(), "{diff:?}");
        let (diff, text) = plan_of(&d, &format!("type=file\nstat=root:0:root:0:600\nsum={SUM}\n"));
        assert_eq!(diff.changes, vec![Change::set("mode", "0600", "0644")]);
        assert_eq!(text, "p=/opt/dl/node.tar.xz\nchmod 0644 \"$p\"\n");
    }

    #[test]
    fn a_file_with_another_checksum_is_fetched_again_guarded_by_what_was_seen() {
        let d = dl("");
        let (diff, text) = plan_of(&d, &format!("type=file\nstat=root:0:root:0:644\nsum={OLD}\n"));
        assert_eq!(diff.changes[0], Change::set("checksum", "sha256:111111111111", "sha256:d8dab549b096"));
        assert!(text.contains(&format!("[ \"$cur\" != {OLD} ]")), "{text}");
        assert!(text.contains("chown --reference=\"$p\""), "{text}");
    }

    #[test]
    fn sha512_is_computed_by_the_probe_and_the_step() {
        let hex = "ab".repeat(64);
        let d = build_from::<Download>(&format!(
            "download \"/x\" url=\"http://127.0.0.1:8000/x\" checksum=\"sha512:{hex}\" timeout=5 validate-certs=#false"
        ))
        .expect("builds");
        let mut sh = Sh::new();
        d.probe(&mut sh);
        assert!(sh.text().contains("sha512sum < \"$p\""), "{}", sh.text());
        assert!(d.facts().iter().all(|n| n.fact.name != "sha256"));
        let (diff, text) = plan_of(&d, "type=absent\n");
        assert_eq!(diff.changes[0].after(), Some("sha512:abababababab"));
        assert!(text.contains("got=$(sha512sum < \"$tmp\")") && text.contains("t=5\nk=0\n"), "{text}");
        assert!(d.parse(&format!("type=file\nstat=root:0:root:0:644\nsum={SUM}\n")).is_err(), "a sha256 for a sha512");
    }

    #[test]
    fn a_directory_in_the_way_is_refused() {
        let d = dl("");
        let (diff, text) = plan_of(&d, "type=directory\n");
        assert_eq!(diff.changes, vec![Change::set("type", "directory", "file")]);
        assert!(text.contains("refusing to replace a directory with a download"), "{text}");
    }

    #[test]
    fn bad_urls_and_checksums_are_refused_at_their_token() {
        let refused = |props: &str| build_from::<Download>(&format!("download \"/x\" {props}")).unwrap_err();
        assert_eq!(
            refused(&format!("url=\"ftp://h/x\" checksum=\"sha256:{SUM}\"")),
            ["`ftp://h/x` is not an http or https URL @ must start with http:// or https://"]
        );
        assert_eq!(
            refused(&format!("url=\"https://h/a b\" checksum=\"sha256:{SUM}\"")),
            [
                "`https://h/a b` is not an http or https URL @ a URL holds no spaces or control characters (write them %-encoded)"
            ]
        );
        assert_eq!(
            refused("url=\"https://h/x\" checksum=\"md5:abc\""),
            ["not a checksum @ `md5` is not a supported algorithm: use sha256 or sha512"]
        );
        assert_eq!(
            refused("url=\"https://h/x\" checksum=\"sha256:abc\""),
            ["not a checksum @ a sha256 checksum is 64 hex digits"]
        );
        assert_eq!(refused("url=\"https://h/x\""), ["a download needs a `checksum` @ no checksum"]);
        assert_eq!(refused(&format!("checksum=\"sha256:{SUM}\"")), ["a download needs a `url` @ no url"]);
    }

    #[test]
    fn a_password_in_the_url_is_a_secret_and_the_url_stays_out_of_argv() {
        assert_eq!(url_secret("https://bob:hunter2@h/x"), Some("hunter2".into()));
        assert_eq!(url_secret("https://TOKEN@h/x"), Some("TOKEN".into()));
        assert_eq!(url_secret("https://h/x?a=b@c"), None);
        assert_eq!(curl_config("https://h/a\"b\\c"), "url = \"https://h/a\\\"b\\\\c\"");
    }
    /// The fetch with each tool this machine has, alone on the PATH, from a server on
    /// 127.0.0.1 answering in this process: curl, GNU wget and python3 get the bytes, the
    /// URL (with a backslash, read by curl from its config) reaches the server as
    /// written, and with no tool the step names what to install.
    #[test]
    fn each_fetch_tool_of_this_machine_fetches_over_http() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = tx.send(first);
                let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n");
            }
        });
        let url = format!("http://127.0.0.1:{port}/a%22b\\c");
        let real = |tool: &str| -> Option<String> {
            let script = match tool {
                "python3" => "python3 -c 'import sys; print(sys.executable)'",
                _ => "command -v \"$0\"",
            };
            let out = std::process::Command::new("sh").arg("-c").arg(script).arg(tool).output().ok()?;
            let path = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && path.starts_with('/')).then_some(path)
        };
        let grep = real("grep").expect("grep");
        let fetch = |tools: &[(&str, String)]| {
            let dir = tempfile::tempdir().expect("tempdir");
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).expect("bin");
            for (name, path) in tools {
                std::os::unix::fs::symlink(path, bin.join(name)).expect("symlink");
            }
            let mut sh = Sh::new();
            sh.set("u", &url).set("cfg", &curl_config(&url)).set("tmp", &dir.path().join("out").to_string_lossy());
            sh.raw("t=5\nk=1\n").raw(FETCH);
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(sh.text())
                .env("PATH", &bin)
                .env("HOME", dir.path())
                .output()
                .expect("sh");
            let got = std::fs::read(dir.path().join("out")).unwrap_or_default();
            (out.status.success(), got, String::from_utf8_lossy(&out.stderr).into_owned())
        };
        let mut tried = Vec::new();
        for tool in ["curl", "wget", "python3"] {
            let Some(path) = real(tool) else { continue };
            let mut tools = vec![(tool, path)];
            tools.push(("grep", grep.clone()));
            let (ok, got, err) = fetch(&tools);
            assert!(ok, "{tool}: {err}");
            assert_eq!(got, b"hello\n", "{tool}");
            let request = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a request");
            // wget %-encodes the backslash, as a browser does
            let path = request.split(' ').nth(1).map(|p| p.replace("%5C", "\\"));
            assert_eq!(path.as_deref(), Some("/a%22b\\c"), "{tool}: {request}");
            tried.push(tool);
        }
        assert!(!tried.is_empty(), "no curl, wget or python3 on this machine");
        let (ok, _, err) = fetch(&[]);
        assert!(!ok && err.contains("the host has none of curl, wget or python3"), "{err}");
    }
}
