//! `pip`'s packages pinned to a git revision (`git+URL@REV#egg=NAME`, `NAME @ git+URL@REV`):
//! read from a requirement, compared with the `direct_url.json` (PEP 610) pip wrote for
//! the installed package, and, at apply time, found again by the venv's own Python in the
//! requirements file as it is then.

use super::{Requirement, valid_name};

/// `git+URL@REV`: the repository and the revision a requirement pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPin {
    /// As pip records it in `direct_url.json` (without `git+` and `@REV`).
    pub url: String,
    pub rev: String,
}

/// Where an installed distribution came from, from its `direct_url.json` (PEP 610): only
/// those installed from git are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub url: String,
    pub commit: String,
    pub requested: Option<String>,
}

impl GitPin {
    /// Whether an installed distribution is this pin: the same repository, at the
    /// revision asked for (a commit id, or a prefix of it of 7 or more characters, or the
    /// branch or tag name it was installed by: pin commits for exact convergence).
    pub(super) fn holds(&self, have: &Installed) -> bool {
        have.url == self.url
            && ((self.rev.len() >= 7 && have.commit.starts_with(&self.rev))
                || have.requested.as_deref() == Some(&self.rev))
    }
}

/// A package pinned to a git revision, as pip writes it: `git+URL@REV#egg=NAME`, or
/// PEP 508's `NAME @ git+URL@REV`. `None` for anything else (a URL without a revision, or
/// without a name, is left to pip).
pub fn parse_git(text: &str) -> Option<Requirement> {
    let text = text.trim();
    let at = text.find("git+")?;
    let named = match at {
        0 => None,
        _ => Some(text[..at].trim_end().strip_suffix('@')?.trim()),
    };
    let link = &text[at + "git+".len()..];
    if link.contains(char::is_whitespace) {
        return None;
    }
    let (rest, fragment) = match link.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (link, None),
    };
    let egg = fragment.and_then(|f| f.split('&').find_map(|kv| kv.strip_prefix("egg=")));
    let name = named.or(egg)?;
    let (url, rev) = rest.rsplit_once('@')?;
    if !valid_name(name) || !url.contains("://") || rev.is_empty() || rev.contains(['/', ':']) {
        return None;
    }
    Some(Requirement {
        name: name.to_string(),
        version: None,
        spec: text.to_string(),
        git: Some(GitPin { url: url.to_string(), rev: rev.to_string() }),
    })
}

/// PEP 610's `direct_url.json`, what of it is read.
#[derive(serde::Deserialize)]
pub(super) struct DirectUrl {
    pub url: String,
    pub vcs_info: Option<VcsInfo>,
}

#[derive(serde::Deserialize)]
pub(super) struct VcsInfo {
    pub vcs: String,
    pub commit_id: String,
    pub requested_revision: Option<String>,
}

/// The venv's Python, at apply time: `ARGV[1]` the requirements file (or empty), then
/// requirements; prints those pinned to a git revision (`NAME @ git+URL@REV`,
/// `git+URL@REV#egg=NAME`, read as [`parse_git`] reads them) whose installed package came
/// from git at another revision or repository, one per line.
pub(super) const MOVED_PINS_PY: &str = r##"import json, sys
from importlib import metadata
def pin(text):
    text = text.strip()
    at = text.find("git+")
    if at < 0:
        return None
    name = None
    if at > 0:
        head = text[:at].rstrip()
        if not head.endswith("@"):
            return None
        name = head[:-1].strip()
    link = text[at + 4:]
    if any(c.isspace() for c in link):
        return None
    rest, _, frag = link.partition("#")
    egg = next((kv[4:] for kv in frag.split("&") if kv.startswith("egg=")), None)
    name = name or egg
    if not name or "@" not in rest:
        return None
    url, rev = rest.rsplit("@", 1)
    if "://" not in url or not rev or "/" in rev or ":" in rev:
        return None
    return name, url, rev
specs = sys.argv[2:]
if sys.argv[1]:
    with open(sys.argv[1]) as f:
        text = f.read().replace("\\\r\n", "").replace("\\\n", "")
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        specs.append(line.split(" #")[0].split("	#")[0].split(" --")[0])
for spec in specs:
    p = pin(spec)
    if p is None:
        continue
    name, url, rev = p
    try:
        d = json.loads(metadata.distribution(name).read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        continue
    vcs = d.get("vcs_info") or {}
    if vcs.get("vcs") != "git":
        continue
    if d.get("url") == url and ((len(rev) >= 7 and vcs.get("commit_id", "").startswith(rev)) or vcs.get("requested_revision") == rev):
        continue
    print(spec.strip())
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::pip::parse_file;

    #[test]
    fn git_pins_are_read_as_pip_writes_them() {
        let pin = |t: &str| parse_git(t).map(|r| (r.name, r.git.map(|g| (g.url, g.rev))));
        let want = |n: &str, u: &str, r: &str| Some((n.to_string(), Some((u.to_string(), r.to_string()))));
        assert_eq!(
            pin(
                "git+https://github.com/elifesciences/elife-tools.git@d07d978f03d879e19aa35b7c7bb51f23a3ea3108#egg=elifetools"
            ),
            want(
                "elifetools",
                "https://github.com/elifesciences/elife-tools.git",
                "d07d978f03d879e19aa35b7c7bb51f23a3ea3108"
            )
        );
        assert_eq!(
            pin("packagepoa @ git+ssh://git@host/poa.git@v1.2"),
            want("packagepoa", "ssh://git@host/poa.git", "v1.2")
        );
        assert_eq!(pin("lib@git+file:///srv/lib@abc1234"), want("lib", "file:///srv/lib", "abc1234"));
        for bad in [
            "git+https://host/x.git#egg=x",   // no revision: left to pip
            "git+https://host/x.git@abc1234", // no name
            "git+ssh://git@host/x.git#egg=x", // the `@` is the user's
            "-e git+https://host/x.git@abc1234#egg=x",
            "flask==2.2.5",
        ] {
            assert_eq!(pin(bad), None, "{bad}");
        }
        let file = "six==1.13.0\ngit+file:///srv/upstream/elife-tools@1c81a51f283e#egg=elifetools  # pinned\n";
        let reqs = parse_file(file);
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1].git.as_ref().map(|g| g.rev.as_str()), Some("1c81a51f283e"));
    }

    /// The apply-time check, run by this machine's python3 over distributions made here.
    #[test]
    fn the_apply_time_check_finds_pins_installed_from_another_revision() {
        let Ok(out) = std::process::Command::new("python3").arg("--version").output() else {
            panic!("python3 is needed to run the apply-time check of git pins");
        };
        assert!(out.status.success());
        let dir = tempfile::tempdir().expect("tempdir");
        let dist = |name: &str, json: &str| {
            let d = dir.path().join(format!("{name}-0.1.0.dist-info"));
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join("METADATA"), format!("Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n"))
                .expect("write");
            std::fs::write(d.join("direct_url.json"), json).expect("write");
        };
        let git = |url: &str, c: &str| {
            format!(
                "{{\"url\": \"{url}\", \"vcs_info\": {{\"commit_id\": \"{c}\", \"requested_revision\": \"{c}\", \"vcs\": \"git\"}}}}"
            )
        };
        dist("moved", &git("file:///srv/moved", "5599c3729d700d842d4f671dfc0e82cadca3810b"));
        dist("kept", &git("file:///srv/kept", "1c81a51f283e409a6c45b3c72845b8337076575e"));
        dist("local", "{\"url\": \"file:///srv/local\", \"dir_info\": {}}");
        let reqs = dir.path().join("requirements.txt");
        std::fs::write(
            &reqs,
            "# the bot's\nkept @ git+file:///srv/kept@1c81a51f283e\ngit+file:///srv/moved@1c81a51f283e#egg=moved  # bumped\n\
             git+file:///srv/local@1c81a51f283e#egg=local\ngit+file:///srv/absent@1c81a51f283e#egg=absent\nflask==2.2.5\n",
        )
        .expect("write");
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(MOVED_PINS_PY)
            .arg(&reqs)
            .arg("kept @ git+file:///srv/elsewhere@1c81a51f283e")
            .env("PYTHONPATH", dir.path())
            .output()
            .expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "kept @ git+file:///srv/elsewhere@1c81a51f283e\ngit+file:///srv/moved@1c81a51f283e#egg=moved\n"
        );
    }
}
