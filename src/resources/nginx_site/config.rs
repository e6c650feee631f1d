//! The configuration of an `nginx-site`: `server` blocks read from the playbook, checked,
//! and rendered into the site file.
//!
//! Reading validates everything nginx would refuse or misread and can be known before a
//! host is contacted: names and values (a control character is refused on its token),
//! directive names, `to` URLs and addresses, an `alias` whose trailing `/` does not match
//! its location's (nginx would then serve `/static../`), duplicate locations in a server,
//! a server name served twice on one port, two default servers on one port. Rendering is
//! deterministic: servers and locations in the order written, directives of a server
//! before its locations, every value through [`token`].

use std::collections::HashMap;

use crate::diag::{At, Code, Diag, Spanned};
use crate::syntax::reader::NodeReader;

/// Directives that open a block: `directive` writes simple directives only.
const BLOCKS: &[&str] =
    &["server", "location", "if", "http", "events", "upstream", "map", "geo", "types", "limit_except", "split_clients"];
/// The headers `proxy` sets unless told otherwise.
const PROXY_HEADERS: &[(&str, &str)] = &[
    ("Host", "$host"),
    ("X-Real-IP", "$remote_addr"),
    ("X-Forwarded-For", "$proxy_add_x_forwarded_for"),
    ("X-Forwarded-Proto", "$scheme"),
];
/// The location kinds a `server` block may hold, besides `directive`.
const LOCATIONS: &[&str] = &["proxy", "uwsgi", "static", "redirect", "location"];
/// One simple directive: `name arg...;`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    name: String,
    args: Vec<String>,
}

impl Directive {
    fn new(name: &str, args: &[&str]) -> Directive {
        Directive { name: name.into(), args: args.iter().map(|a| a.to_string()).collect() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Match {
    Prefix,
    Exact,
    Regex,
}

#[derive(Debug, Clone)]
struct Location {
    matcher: Match,
    path: Spanned<String>,
    body: Vec<Directive>,
    dir: Option<String>,
}

/// One `server` block.
#[derive(Debug, Clone)]
pub struct Server {
    at: At,
    names: Vec<Spanned<String>>,
    listen: u16,
    address: Option<String>,
    default: bool,
    directives: Vec<Directive>,
    locations: Vec<Location>,
}

/// A value as one nginx token: bare when every character is part of a plain word,
/// double-quoted otherwise, with `\` and `"` escaped (nginx unescapes `\\` and `\"` in
/// quoted strings). Values never hold control characters (refused at check time).
pub fn token(v: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:$@%+=,~^*?!&|[]()<>".contains(c);
    if !v.is_empty() && v.chars().all(plain) {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Refuses a value nginx syntax cannot hold (a control character: a newline would end the
/// directive).
fn check_value(r: &mut NodeReader<'_>, v: &Spanned<String>, what: &str) -> bool {
    if v.value.chars().any(char::is_control) {
        r.error(
            Diag::new(
                Code::Nginx,
                format!("{what} cannot hold a control character"),
                &v.at,
                "newline, tab or other control character",
            )
            .help("nginx directives are one line; write the value without it"),
        );
        return false;
    }
    true
}

/// Whether every `$` of a value nginx compiles with variables (`alias`, `root`, URLs,
/// header values) starts a variable: `$name`, `${name}` or a capture `$1`, as nginx's
/// script compiler reads them; anything else is "invalid variable name" at `nginx -t`.
fn variables_ok(v: &str) -> bool {
    let name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        if let Some(braced) = rest.strip_prefix('{') {
            let Some(end) = braced.find('}') else { return false };
            if end == 0 || !braced[..end].chars().all(name) {
                return false;
            }
            rest = &braced[end + 1..];
        } else if !rest.starts_with(name) {
            return false;
        }
    }
    true
}

/// [`check_value`], and every `$` a variable (see [`variables_ok`]).
fn check_complex(r: &mut NodeReader<'_>, v: &Spanned<String>, what: &str) -> bool {
    if !check_value(r, v, what) {
        return false;
    }
    if !variables_ok(&v.value) {
        r.error(
            Diag::new(
                Code::Nginx,
                format!("{what} has a `$` that starts no variable"),
                &v.at,
                "nginx reads `$` as a variable",
            )
            .help(
                "nginx has no escape for `$` here: write `$name` or `${name}` for a variable, or a value without `$`",
            ),
        );
        return false;
    }
    true
}

pub fn valid_site_name(n: &str) -> bool {
    !n.is_empty() && !n.starts_with('.') && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn valid_directive_name(n: &str) -> bool {
    n.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_header_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn read_directive(r: &mut NodeReader<'_>) -> Option<Directive> {
    let name = r.arg("a directive name")?;
    let args = r.rest_args("a directive value");
    if !valid_directive_name(&name.value) {
        r.error(
            Diag::new(
                Code::Nginx,
                format!("`{}` is not an nginx directive name", name.value),
                &name.at,
                "not a directive name",
            )
            .help("directive names are lowercase letters, digits and _, e.g. \"client_max_body_size\""),
        );
        return None;
    }
    if BLOCKS.contains(&name.value.as_str()) {
        r.error(Diag::new(Code::Nginx, format!("`{}` opens a block", name.value), &name.at, "a block directive").help(
            "`directive` writes simple directives (`name value...;`); use `server` and the location kinds for blocks",
        ));
        return None;
    }
    let mut ok = true;
    for a in &args {
        ok &= check_value(r, a, "a directive value");
    }
    ok.then(|| Directive { name: name.value, args: args.into_iter().map(|a| a.value).collect() })
}

/// `to=` of a location kind, required.
fn read_to(r: &mut NodeReader<'_>, kind: &str, example: &str) -> Option<Spanned<String>> {
    let to = r.nonempty("to");
    if to.is_none() && !r.failed() {
        let at = r.at();
        r.error(
            Diag::new(Code::Missing, format!("`{kind}` needs `to`"), &at, "no `to`")
                .help(format!("write `{kind} \"/\" to=\"{example}\"`")),
        );
    }
    let to = to?;
    check_complex(r, &to, "`to`").then_some(to)
}

fn read_location(r: &mut NodeReader<'_>, kind: &str) -> Option<Location> {
    let path = r.arg("a location path");
    let matcher = match r.choice("match", &["prefix", "exact", "regex"]) {
        Some("exact") => Match::Exact,
        Some("regex") => Match::Regex,
        _ => Match::Prefix,
    };
    let mut body = Vec::new();
    let mut dir = None;
    match kind {
        "proxy" => {
            let to = read_to(r, kind, "http://127.0.0.1:3000");
            let defaults = r.bool("headers").unwrap_or(true);
            let websocket = r.bool("websocket").unwrap_or(false);
            let headers: Vec<(Spanned<String>, Spanned<String>)> =
                r.children_of(&["header"]).into_iter().filter_map(|n| r.child(n, read_header).flatten()).collect();
            if let Some(to) = &to
                && !(to.value.starts_with("http://") || to.value.starts_with("https://"))
            {
                r.error(
                    Diag::new(Code::Nginx, "`proxy` passes to an http:// or https:// URL", &to.at, "not a URL")
                        .help("e.g. to=\"http://127.0.0.1:3000\"; for a uWSGI socket use `uwsgi`"),
                );
            }
            body.push(Directive::new("proxy_pass", &[to.map(|t| t.value).unwrap_or_default().as_str()]));
            if websocket {
                body.push(Directive::new("proxy_http_version", &["1.1"]));
                body.push(Directive::new("proxy_set_header", &["Upgrade", "$http_upgrade"]));
                body.push(Directive::new("proxy_set_header", &["Connection", "upgrade"]));
            }
            let given = |name: &str| headers.iter().find(|(n, _)| n.value.eq_ignore_ascii_case(name));
            if defaults {
                for (name, value) in PROXY_HEADERS {
                    let value = given(name).map(|(_, v)| v.value.as_str()).unwrap_or(value);
                    body.push(Directive::new("proxy_set_header", &[name, value]));
                }
            }
            for (n, v) in &headers {
                if !(defaults && PROXY_HEADERS.iter().any(|(d, _)| d.eq_ignore_ascii_case(&n.value))) {
                    body.push(Directive::new("proxy_set_header", &[&n.value, &v.value]));
                }
            }
        }
        "uwsgi" => {
            let to = read_to(r, kind, "127.0.0.1:9090");
            if let Some(to) = &to
                && to.value.contains("://")
            {
                r.error(Diag::new(Code::Nginx, "`uwsgi` passes to an address, not a URL", &to.at, "a URL").help(
                    "write host:port or unix:/path/to.sock; a uWSGI started with `--http` speaks HTTP: use `proxy`",
                ));
            }
            body.push(Directive::new("include", &["uwsgi_params"]));
            body.push(Directive::new("uwsgi_pass", &[to.map(|t| t.value).unwrap_or_default().as_str()]));
        }
        "static" => {
            let alias = r.nonempty("alias");
            let root = r.nonempty("root");
            match (&alias, &root) {
                (Some(a), Some(_)) => r.exclusive(a, "alias", "root"),
                (None, None) => {
                    let at = r.at();
                    r.error(
                        Diag::new(Code::Missing, "`static` needs `alias` or `root`", &at, "no directory")
                            .help("write `static \"/static/\" alias=\"/srv/app/static/\"`"),
                    );
                }
                (Some(a), None) => {
                    // a prefix location and its alias end in `/` together, or the
                    // location "/static" with alias "/srv/static/" serves /static../
                    if check_complex(r, a, "`alias`")
                        && let Some(p) = &path
                        && matcher == Match::Prefix
                        && p.value.ends_with('/') != a.value.ends_with('/')
                    {
                        r.error(
                            Diag::new(
                                Code::Nginx,
                                "a prefix location and its alias must both end in `/`, or neither",
                                &a.at,
                                if p.value.ends_with('/') { "add a trailing `/`" } else { "remove the trailing `/`" },
                            )
                            .label(&p.at, "the location")
                            .help("otherwise nginx maps /static../x outside the directory"),
                        );
                    }
                    body.push(Directive::new("alias", &[&a.value]));
                    dir = Some(a.value.clone());
                }
                (None, Some(root)) => {
                    check_complex(r, root, "`root`");
                    body.push(Directive::new("root", &[&root.value]));
                    dir = Some(root.value.clone());
                }
            }
        }
        "redirect" => {
            let to = read_to(r, kind, "https://example.org/");
            let code = r.int::<u16>("code");
            if let Some(c) = &code
                && ![301, 302, 303, 307, 308].contains(&c.value)
            {
                r.error(Diag::new(
                    Code::Nginx,
                    format!("{} is not a redirect status", c.value),
                    &c.at,
                    "expected 301, 302, 303, 307 or 308",
                ));
            }
            let code = code.map_or(301, |c| c.value).to_string();
            body.push(Directive::new("return", &[&code, &to.map(|t| t.value).unwrap_or_default()]));
        }
        _ => {}
    }
    let directives: Vec<Directive> =
        r.children_of(&["directive"]).into_iter().filter_map(|n| r.child(n, read_directive).flatten()).collect();
    body.extend(directives);
    let path = path?;
    if !check_value(r, &path, "a location path") {
        return None;
    }
    if matcher != Match::Regex && !path.value.starts_with('/') {
        r.error(
            Diag::new(Code::Nginx, "a location path starts with `/`", &path.at, "no leading `/`")
                .help("for a regular expression write match=\"regex\""),
        );
    }
    if r.failed() {
        return None;
    }
    Some(Location { matcher, path, body, dir })
}

fn read_header(r: &mut NodeReader<'_>) -> Option<(Spanned<String>, Spanned<String>)> {
    let name = r.arg("a header name")?;
    let value = r.arg("a header value")?;
    if !valid_header_name(&name.value) {
        r.error(Diag::new(
            Code::Nginx,
            format!("`{}` is not a header name", name.value),
            &name.at,
            "letters, digits, - and _ only",
        ));
        return None;
    }
    check_complex(r, &value, "a header value").then_some((name, value))
}

pub fn read_server(r: &mut NodeReader<'_>) -> Option<Server> {
    let at = r.at();
    let first = r.arg("a server name");
    let rest = r.rest_args("a server name");
    let listen = r.int::<u16>("listen");
    let address = r.nonempty("address");
    let default = r.bool("default-server").unwrap_or(false);
    let mut keys = vec!["directive"];
    keys.extend(LOCATIONS);
    let mut directives = Vec::new();
    let mut locations: Vec<Location> = Vec::new();
    for n in r.children_of(&keys) {
        match n.name().value() {
            "directive" => directives.extend(r.child(n, read_directive).flatten()),
            kind => locations.extend(r.child(n, |r| read_location(r, kind)).flatten()),
        }
    }
    let names: Vec<Spanned<String>> = first.into_iter().chain(rest).collect();
    for n in &names {
        if n.value.is_empty() || n.value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            r.error(
                Diag::new(Code::Nginx, format!("`{}` is not a server name", n.value), &n.at, "invalid name")
                    .help("one name per value, without spaces: `server \"a.example.org\" \"b.example.org\"`"),
            );
        }
    }
    if let Some(l) = &listen
        && l.value == 0
    {
        r.error(Diag::new(Code::Range, "`listen` is a port from 1 to 65535", &l.at, "port 0"));
    }
    let address = match address {
        Some(a) => match a.value.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => Some(format!("[{v6}]")),
            Ok(v4) => Some(v4.to_string()),
            Err(_) => {
                r.error(Diag::new(
                    Code::Nginx,
                    format!("`{}` is not an IP address", a.value),
                    &a.at,
                    "expected an IPv4 or IPv6 address",
                ));
                None
            }
        },
        None => None,
    };
    let mut seen: HashMap<(Match, String), At> = HashMap::new();
    for l in &locations {
        if let Some(first) = seen.insert((l.matcher, l.path.value.clone()), l.path.at.clone()) {
            r.error(
                Diag::new(
                    Code::Nginx,
                    format!("two locations for `{}` in one server", l.path.value),
                    &l.path.at,
                    "again here",
                )
                .label(&first, "first here")
                .help("nginx refuses duplicate locations: merge them"),
            );
        }
    }
    if names.is_empty() || r.failed() {
        return None;
    }
    Some(Server { at, names, listen: listen.map_or(80, |l| l.value), address, default, directives, locations })
}

/// Two servers of one site that nginx would refuse or silently ignore.
pub fn check_servers(r: &mut NodeReader<'_>, servers: &[Server]) {
    let mut names: HashMap<(Option<String>, u16, String), At> = HashMap::new();
    let mut defaults: HashMap<(Option<String>, u16), At> = HashMap::new();
    for s in servers {
        for n in &s.names {
            if let Some(first) = names.insert((s.address.clone(), s.listen, n.value.clone()), n.at.clone()) {
                r.error(
                    Diag::new(
                        Code::Nginx,
                        format!("`{}` is served twice on port {}", n.value, s.listen),
                        &n.at,
                        "again here",
                    )
                    .label(&first, "first here")
                    .help("nginx would ignore the second server: merge them"),
                );
            }
        }
        if s.default
            && let Some(first) = defaults.insert((s.address.clone(), s.listen), s.at.clone())
        {
            r.error(
                Diag::new(
                    Code::Nginx,
                    format!("two default servers on port {}", s.listen),
                    &s.at,
                    "default-server=#true again",
                )
                .label(&first, "first default server")
                .help("one server per port can be the default"),
            );
        }
    }
}

impl Server {
    /// The directories `static` locations serve, without a trailing `/`.
    pub fn static_dirs(&self) -> impl Iterator<Item = String> + '_ {
        self.locations
            .iter()
            .filter_map(|l| l.dir.as_deref())
            .map(|d| d.trim_end_matches('/').to_string())
            .filter(|d| d.starts_with('/') && d.len() > 1)
    }
}

fn line(out: &mut String, indent: &str, d: &Directive) {
    out.push_str(indent);
    out.push_str(&d.name);
    for a in &d.args {
        out.push(' ');
        out.push_str(&token(a));
    }
    out.push_str(";\n");
}

/// The site file: deterministic, one directive per line, servers and locations in the
/// order written, directives of a server before its locations.
pub fn render(name: &str, servers: &[Server]) -> String {
    let mut out =
        format!("# Managed by converge (nginx-site \"{name}\"): changes made here are undone by the next apply.\n");
    for s in servers {
        out.push_str("\nserver {\n");
        let mut listen = match &s.address {
            Some(a) => format!("{a}:{}", s.listen),
            None => s.listen.to_string(),
        };
        if s.default {
            listen.push_str(" default_server");
        }
        out.push_str(&format!("    listen {listen};\n"));
        let names: Vec<String> = s.names.iter().map(|n| token(&n.value)).collect();
        out.push_str(&format!("    server_name {};\n", names.join(" ")));
        for d in &s.directives {
            line(&mut out, "    ", d);
        }
        for l in &s.locations {
            let m = match l.matcher {
                Match::Prefix => "",
                Match::Exact => "= ",
                Match::Regex => "~ ",
            };
            out.push_str(&format!("\n    location {m}{} {{\n", token(&l.path.value)));
            for d in &l.body {
                line(&mut out, "        ", d);
            }
            out.push_str("    }\n");
        }
        out.push_str("}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dollar_must_start_a_variable() {
        for ok in ["/srv/www/", "http://127.0.0.1:3000$request_uri", "/srv/$host/", "${host}x", "/d/$1", "a$_b"] {
            assert!(variables_ok(ok), "{ok}");
        }
        for bad in ["$", "/srv/a$", "$(id)", "${HOME", "${}", "$ x", "a$$", "${a-b}", "%$%"] {
            assert!(!variables_ok(bad), "{bad}");
        }
    }
}
