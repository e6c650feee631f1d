//! The Debian mirror the sandbox image is built from: the machine's own, never a name
//! written here. In order: the `--mirror URL` option of `converge sandbox`, the
//! `CONVERGE_MIRROR` environment variable (for the tests and benchmarks), or the first
//! `deb` source of the machine's apt configuration that carries the image's suite with
//! the `main` component, in either format apt reads:
//!
//! ```text
//! # /etc/apt/sources.list and sources.list.d/*.list (one line per source)
//! deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.org/debian bookworm main
//! # sources.list.d/*.sources (deb822 stanzas)
//! Types: deb
//! URIs: http://mirror.example.org/debian
//! Suites: bookworm bookworm-updates
//! Components: main
//! ```

use std::path::Path;

use super::error::SandboxError;

/// The environment variable that names the mirror when no option does.
pub const ENV: &str = "CONVERGE_MIRROR";

/// One `deb` source: where, which suites, which components.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    uris: Vec<String>,
    suites: Vec<String>,
    components: Vec<String>,
}

/// The mirror to build the `suite` image from (see the module documentation).
pub fn resolve(option: Option<&str>, suite: &str) -> Result<String, SandboxError> {
    if let Some(m) = option.filter(|m| !m.is_empty()) {
        return Ok(m.to_string());
    }
    if let Some(m) = std::env::var(ENV).ok().filter(|m| !m.is_empty()) {
        return Ok(m);
    }
    from_apt(Path::new("/etc/apt"), suite).ok_or_else(|| SandboxError::NoMirror { suite: suite.to_string() })
}

/// The mirror of `suite` in the apt configuration under `etc_apt`.
fn from_apt(etc_apt: &Path, suite: &str) -> Option<String> {
    let mut sources = Vec::new();
    if let Ok(text) = std::fs::read_to_string(etc_apt.join("sources.list")) {
        sources.extend(one_line(&text));
    }
    let mut parts: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    // apt reads them in name order
    parts.sort();
    for p in parts {
        let Ok(text) = std::fs::read_to_string(&p) else { continue };
        match p.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(one_line(&text)),
            Some("sources") => sources.extend(deb822(&text)),
            _ => {}
        }
    }
    pick(&sources, suite)
}

fn pick(sources: &[Source], suite: &str) -> Option<String> {
    let usable = |u: &&String| ["http://", "https://", "file:/"].iter().any(|s| u.starts_with(s));
    sources
        .iter()
        .filter(|s| s.suites.iter().any(|x| x == suite) && s.components.iter().any(|c| c == "main"))
        .find_map(|s| s.uris.iter().find(usable))
        .map(|u| u.trim_end_matches('/').to_string())
}

/// `deb [options] URI SUITE COMPONENT...` lines; `deb-src` and comments are skipped.
fn one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ").or_else(|| line.strip_prefix("deb\t")) else { continue };
        let rest = rest.trim_start();
        // options in brackets may hold spaces: `[ arch=amd64 signed-by=... ]`
        let rest = match rest.strip_prefix('[') {
            Some(opts) => match opts.split_once(']') {
                Some((_, after)) => after,
                None => continue,
            },
            None => rest,
        };
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else { continue };
        out.push(Source {
            uris: vec![uri.to_string()],
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
        });
    }
    out
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Enabled:`), separated by
/// blank lines; a line starting with a blank continues the field before it.
fn deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for stanza in stanzas(text) {
        let field = |name: &str| -> Vec<String> {
            stanza
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect()
        };
        let enabled = field("Enabled").first().is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        if enabled && field("Types").iter().any(|t| t == "deb") {
            out.push(Source { uris: field("URIs"), suites: field("Suites"), components: field("Components") });
        }
    }
    out
}

fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            current.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_with_options_comments_and_other_suites() {
        let text = "# the mirror\n\
                    deb-src http://src.example.org/debian bookworm main\n\
                    deb [ arch=amd64 signed-by=/k.gpg ] http://sec.example.org/debian-security bookworm-security main\n\
                    deb http://contrib.example.org/debian bookworm contrib # not main\n\
                    deb\thttp://mirror.example.org/debian/ bookworm main non-free-firmware\n";
        let sources = one_line(text);
        assert_eq!(sources.len(), 3);
        assert_eq!(pick(&sources, "bookworm").as_deref(), Some("http://mirror.example.org/debian"));
        assert_eq!(pick(&sources, "trixie"), None);
    }

    #[test]
    fn deb822_stanzas_skip_disabled_and_source_only_ones() {
        let text = "Types: deb-src\nURIs: http://src.example.org/debian\nSuites: bookworm\nComponents: main\n\n\
                    # off for now\nTypes: deb\nURIs: http://off.example.org/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n\
                    Types: deb deb-src\nURIs: cdrom:/media/ http://mirror.example.org/debian\n\
                    Suites: bookworm\n bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n";
        let sources = deb822(text);
        assert_eq!(sources.len(), 1, "{sources:?}");
        assert_eq!(sources[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(pick(&sources, "bookworm").as_deref(), Some("http://mirror.example.org/debian"));
    }

    #[test]
    fn the_machine_configuration_is_read_in_apt_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().join("sources.list.d");
        std::fs::create_dir(&d).expect("mkdir");
        assert_eq!(from_apt(dir.path(), "bookworm"), None);
        std::fs::write(
            d.join("zz.sources"),
            "Types: deb\nURIs: http://z.example.org/debian\nSuites: bookworm\nComponents: main\n",
        )
        .expect("write");
        std::fs::write(d.join("aa.list"), "deb http://a.example.org/debian bookworm main\n").expect("write");
        std::fs::write(d.join("aa.list.disabled"), "deb http://x.example.org/debian bookworm main\n").expect("write");
        assert_eq!(from_apt(dir.path(), "bookworm").as_deref(), Some("http://a.example.org/debian"));
        std::fs::write(dir.path().join("sources.list"), "deb http://main.example.org/debian bookworm main\n")
            .expect("write");
        assert_eq!(from_apt(dir.path(), "bookworm").as_deref(), Some("http://main.example.org/debian"));
    }

    #[test]
    fn an_option_wins() {
        assert_eq!(
            resolve(Some("http://opt.example.org/debian"), "bookworm").ok().as_deref(),
            Some("http://opt.example.org/debian")
        );
    }
}
