//! What `version` names on the remote: a branch, a tag or a commit, checked against
//! git's ref-name rules at build time and resolved from `git ls-remote` at probe time;
//! and the credential an https `repo` URL may carry (a secret).

use super::super::ProbeError;

/// What `version` is on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Branch {
        name: String,
        sha: String,
    },
    Tag {
        name: String,
        sha: String,
    },
    /// A commit hash, or the remote's HEAD when it does not name its branch.
    Detached(String),
    /// The remote has no branch or tag of that name.
    Missing,
    /// Not resolvable before the apply (why).
    Later(String),
}

/// A full commit hash: no network is needed to know what it is.
pub(super) fn is_commit(v: &str) -> bool {
    v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `git check-ref-format` rules, so a name git would misread never reaches it.
pub(super) fn valid_ref(v: &str) -> bool {
    let bad_byte = |b: u8| b < 0x20 || b == 0x7f || b" ~^:?*[\\".contains(&b);
    !v.is_empty()
        && v != "@"
        && !v.starts_with(['-', '/'])
        && !v.ends_with(['/', '.'])
        && !v.contains("..")
        && !v.contains("//")
        && !v.contains("@{")
        && !v.bytes().any(bad_byte)
        && v.split('/').all(|c| !c.starts_with('.') && !c.ends_with(".lock"))
}

impl Target {
    pub(super) fn sha(&self) -> Option<&str> {
        match self {
            Target::Branch { sha, .. } | Target::Tag { sha, .. } | Target::Detached(sha) => Some(sha),
            Target::Missing | Target::Later(_) => None,
        }
    }

    pub(super) fn branch(&self) -> Option<&str> {
        match self {
            Target::Branch { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// The credential in `scheme://user:SECRET@host/...`, or in `https://TOKEN@host/...`.
pub(super) fn url_secret(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let secret = match userinfo.split_once(':') {
        Some((_, pass)) => pass,
        None if scheme.starts_with("http") => userinfo,
        None => return None,
    };
    (secret.len() >= 6).then(|| secret.to_string())
}

/// What `git ls-remote --symref REPO V V^{}` says `V` is.
pub(super) fn resolve(version: &str, lines: &[&str]) -> Result<Target, ProbeError> {
    let mut refs: Vec<(&str, &str)> = Vec::new();
    let mut head_branch = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("ref: ") {
            // `ref: refs/heads/main HEAD`
            if let Some((to, "HEAD")) = rest.split_once(' ') {
                head_branch = to.strip_prefix("refs/heads/");
            }
            continue;
        }
        let Some((sha, name)) = line.split_once(' ').filter(|(sha, _)| is_commit(sha)) else {
            return Err(ProbeError(format!("malformed git ls-remote line {line:?}")));
        };
        refs.push((name, sha));
    }
    let find = |n: &str| refs.iter().find(|(name, _)| *name == n).map(|(_, sha)| sha.to_lowercase());
    if version == "HEAD" {
        return Ok(match (find("HEAD"), head_branch) {
            (Some(sha), Some(b)) => Target::Branch { name: b.to_string(), sha },
            (Some(sha), None) => Target::Detached(sha),
            (None, _) => Target::Missing,
        });
    }
    if let Some(sha) = find(&format!("refs/heads/{version}")) {
        return Ok(Target::Branch { name: version.to_string(), sha });
    }
    let peeled = find(&format!("refs/tags/{version}^{{}}"));
    if let Some(sha) = peeled.or_else(|| find(&format!("refs/tags/{version}"))) {
        return Ok(Target::Tag { name: version.to_string(), sha });
    }
    Ok(Target::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const T: &str = "3333333333333333333333333333333333333333";

    #[test]
    fn ls_remote_lines_resolve_to_a_branch_a_peeled_tag_or_nothing() {
        let lines = [
            "ref: refs/heads/main HEAD",
            &format!("{A} HEAD"),
            &format!("{A} refs/heads/main"),
            &format!("{A} refs/tags/v1"),
            &format!("{T} refs/tags/v1^{{}}"),
        ];
        let lines: Vec<&str> = lines.iter().map(|l| l.as_ref()).collect();
        assert_eq!(resolve("HEAD", &lines).ok(), Some(Target::Branch { name: "main".into(), sha: A.into() }));
        assert_eq!(resolve("main", &lines).ok(), Some(Target::Branch { name: "main".into(), sha: A.into() }));
        assert_eq!(resolve("v1", &lines).ok(), Some(Target::Tag { name: "v1".into(), sha: T.into() }), "peeled");
        assert_eq!(resolve("v2", &lines).ok(), Some(Target::Missing));
        assert_eq!(resolve("HEAD", &[&format!("{A} HEAD")]).ok(), Some(Target::Detached(A.into())));
        assert!(resolve("main", &["not a line"]).is_err());
    }

    #[test]
    fn credentials_in_urls_are_secrets() {
        assert_eq!(url_secret("https://ci:s3cr3t-token@example.org/a.git").as_deref(), Some("s3cr3t-token"));
        assert_eq!(url_secret("https://ghp_abcdefgh@github.com/o/a.git").as_deref(), Some("ghp_abcdefgh"));
        assert_eq!(url_secret("ssh://git@example.org/a.git"), None);
        assert_eq!(url_secret("git@example.org:a.git"), None);
        assert_eq!(url_secret("https://example.org/a@b.git"), None);
    }

    #[test]
    fn ref_names() {
        assert!(valid_ref("main") && valid_ref("release/1.2") && valid_ref("v1.0"));
        for bad in ["-x", "a..b", "a b", "x.lock", "a/.b", "a^", "@", "/a", "a/", "x@{1}"] {
            assert!(!valid_ref(bad), "{bad}");
        }
    }
}
