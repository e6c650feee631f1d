//! `nginx-site`: an nginx site made of structured `server` blocks, rendered to
//! `/etc/nginx/sites-available/NAME` and enabled by the link
//! `/etc/nginx/sites-enabled/NAME`; nginx checks the whole configuration before it is
//! reloaded.
//!
//! ```kdl
//! nginx-site "viewbovis" {
//!     server "viewbovis-beta.int.sce.network" listen=80 {
//!         proxy "/" to="http://127.0.0.1:3000"
//!     }
//!     server "nextstrain-beta.int.sce.network" listen=80 {
//!         proxy "/" to="http://127.0.0.1:4001" websocket=#true {
//!             header "X-Forwarded-Proto" "https"
//!         }
//!     }
//! }
//! nginx-site "kano_konnect.conf" {
//!     server "kano-konnect.example.org" "www.kano-konnect.example.org" default-server=#true {
//!         directive "client_max_body_size" "20m"
//!         uwsgi "/" to="127.0.0.1:9090"
//!         static "/static/" alias="/srv/kano_konnect/current/kano_konnect/assets/"
//!         redirect "/old" to="https://example.org/new" code=301
//!         location "/health" match="exact" {
//!             directive "return" "200" "ok"
//!         }
//!     }
//! }
//! nginx-site "default" state="absent"
//! ```
//!
//! Design notes:
//!
//! - **Structured, rendered on the controller.** The site is data (servers, locations,
//!   directives), rendered into one deterministic, readable file, so the plan shows the
//!   rendered text as a unified diff (the content machinery of `content.rs`) and a drift
//!   made by hand on the host shows exactly. `directive "NAME" "VALUE"...` is the escape
//!   hatch for anything not modelled, at server or location level.
//! - **Every value is safe nginx syntax.** A value is written bare when it holds only
//!   characters nginx reads as part of one word, and double-quoted otherwise with `\` and
//!   `"` escaped, so `;`, `{`, `}`, `#`, quotes and spaces can never end a directive or open
//!   a block. Control characters (newlines) are refused at check time, on the token. `$`
//!   stays what it is in nginx: a variable (`$host`).
//! - **nginx checks before it sees anything.** A step saves what is there (the site file
//!   and the link, exactly, with `cp -a`), writes the new file atomically, makes the link,
//!   and runs `nginx -t` on the whole configuration. If nginx refuses, the saved files are
//!   put back byte for byte, the step fails with nginx's own message and nginx is not
//!   reloaded: it keeps serving the old configuration. A staged copy of the tree cannot be
//!   tested instead, because nginx's configuration includes absolute paths
//!   (`include /etc/nginx/sites-enabled/*`). Removing a site is checked the same way (another
//!   site may use what it defined).
//! - **The kind reloads nginx itself.** After a change nginx accepted, it is reloaded if it
//!   is running (`systemctl reload nginx`, or `nginx -s reload` without systemd), so a
//!   changed site is live after `apply` with nothing else to write. A notification would
//!   be a second place to get wrong, and forgetting it leaves a checked site unserved. A
//!   nginx that is not running is left alone (whatever starts it reads the new files).
//!   `reload=#false` leaves the reload to a `notify="service:nginx"`.
//! - **Implicit dependencies**: the managed nginx package (`nginx`, `nginx-light`,
//!   `nginx-full`, `nginx-core` or `nginx-extras`), the managed directories of both paths
//!   and of every `static` directory, and, for every site but `default`, `nginx-site:default`: the Debian default site claims
//!   `default_server` on port 80, so removing it comes first.
//! - **`state="absent"` re-checks at apply time.** Installing the Debian package creates
//!   `sites-enabled/default`; the probe ran before, so `nginx-site "default"
//!   state="absent"` downstream of a package install is checked again when it runs and
//!   removes the site then (see `apply.rs`).

mod config;

use config::{Server, check_servers, read_server, render, valid_site_name};

use super::content::{self, Desired};
use super::record::Record;
use super::{Action, Change, Diff, Implicit, Kind, PlanCx, ProbeError, parent_dirs};
use crate::diag::{Code, Diag};
use crate::script::Sh;
use crate::syntax::reader::NodeReader;

const AVAILABLE: &str = "/etc/nginx/sites-available";
const ENABLED: &str = "/etc/nginx/sites-enabled";
const PACKAGES: &[&str] = &["nginx", "nginx-light", "nginx-full", "nginx-core", "nginx-extras"];

#[derive(Debug)]
pub struct NginxSite {
    name: String,
    file: String,
    link: String,
    want: Want,
    reload: bool,
    static_dirs: Vec<String>,
}

#[derive(Debug)]
enum Want {
    Absent,
    Present { content: Desired, enabled: bool },
}

/// What is at `sites-available/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Absent,
    /// A regular file; its content when the site is wanted.
    File(Option<content::Observed>),
    Symlink,
    Other,
}

/// What is at `sites-enabled/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Absent,
    Link(String),
    File,
    Directory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub file: FileState,
    pub link: LinkState,
}

impl Kind for NginxSite {
    const KIND: &'static str = "nginx-site";
    type State = State;

    fn build(r: &mut NodeReader) -> Option<NginxSite> {
        let name = r.arg("a site name");
        let present = r.choice("state", &["present", "absent"]).is_none_or(|s| s == "present");
        let enabled = r.bool("enabled");
        let reload = r.bool("reload").unwrap_or(true);
        let nodes = r.children_of(&["server"]);
        let servers: Vec<Server> = nodes.iter().filter_map(|n| r.child(n, read_server).flatten()).collect();
        let name = name?;
        if !valid_site_name(&name.value) {
            r.error(
                Diag::new(Code::Nginx, format!("`{}` is not a site name", name.value), &name.at, "invalid site name")
                    .help("a site name is a file name: letters, digits, `.`, `_` and `-`, not starting with `.`"),
            );
        }
        let at = r.at();
        match (present, nodes.is_empty()) {
            (true, true) => r.error(
                Diag::new(Code::Missing, "a site needs at least one `server`", &at, "no server")
                    .help("write `nginx-site \"app\" { server \"app.example.org\" { proxy \"/\" to=\"http://127.0.0.1:3000\" } }`"),
            ),
            (false, false) => r.error(
                Diag::new(Code::Conflict, "an absent site has no servers", &at, "state=\"absent\" with servers")
                    .help("remove the `server` blocks, or the `state`"),
            ),
            _ => {}
        }
        if !present && enabled.is_some() {
            r.error(Diag::new(
                Code::Conflict,
                "an absent site is neither enabled nor disabled",
                &at,
                "remove `enabled`",
            ));
        }
        check_servers(r, &servers);
        if r.failed() {
            return None;
        }
        let want = if present {
            let text = render(&name.value, &servers).into_bytes();
            // a site holding a secret (an Authorization header) is never shown or read back
            let sensitive = r.holds_secret(&text);
            Want::Present { content: Desired::new(text, sensitive), enabled: enabled.unwrap_or(true) }
        } else {
            Want::Absent
        };
        let static_dirs = servers.iter().flat_map(Server::static_dirs).collect();
        Some(NginxSite {
            file: format!("{AVAILABLE}/{}", name.value),
            link: format!("{ENABLED}/{}", name.value),
            name: name.value,
            want,
            reload,
            static_dirs,
        })
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn deps(&self) -> Vec<Implicit> {
        let mut d = parent_dirs(&self.file);
        d.extend(parent_dirs(&self.link).into_iter().filter(|i| i.target.name == ENABLED));
        d.extend(PACKAGES.iter().map(|p| Implicit::new("package", *p, "nginx package")));
        if matches!(self.want, Want::Present { .. }) && self.name != "default" {
            d.push(Implicit::new("nginx-site", "default", "the default site is removed or written first"));
        }
        for dir in &self.static_dirs {
            d.push(Implicit::new("directory", dir.clone(), "static files"));
            d.extend(parent_dirs(dir));
        }
        d
    }

    fn probe(&self, sh: &mut Sh) {
        sh.set("l", &self.link);
        sh.raw("if [ -L \"$l\" ]; then echo link=symlink; printf '%s\\n' \"target=$(readlink -- \"$l\")\"\n");
        sh.raw("elif [ -d \"$l\" ]; then echo link=directory\nelif [ -e \"$l\" ]; then echo link=file\nelse echo link=absent\nfi\n");
        // the file last: its content comes after `--body--`
        sh.set("p", &self.file);
        sh.raw("if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then echo file=file\n");
        if let Want::Present { content, .. } = &self.want {
            content.probe(sh);
        }
        sh.raw("elif [ -L \"$p\" ]; then echo file=symlink\nelif [ -e \"$p\" ]; then echo file=other\nelse echo file=absent\nfi\n");
    }

    fn parse(&self, out: &str) -> Result<State, ProbeError> {
        let rec = Record::parse(out)?;
        let link = match rec.req("link")? {
            "absent" => LinkState::Absent,
            "symlink" => LinkState::Link(rec.req("target")?.to_string()),
            "file" => LinkState::File,
            "directory" => LinkState::Directory,
            other => return Err(ProbeError(format!("unexpected link type {other:?}"))),
        };
        let file = match rec.req("file")? {
            "absent" => FileState::Absent,
            "file" if matches!(self.want, Want::Present { .. }) => FileState::File(Some(Desired::parse(&rec)?)),
            "file" => FileState::File(None),
            "symlink" => FileState::Symlink,
            "other" => FileState::Other,
            other => return Err(ProbeError(format!("unexpected file type {other:?}"))),
        };
        Ok(State { file, link })
    }

    fn diff(&self, state: &State, _cx: &PlanCx) -> Diff {
        let link_was = |l: &LinkState| match l {
            LinkState::Absent => None,
            LinkState::Link(t) => Some(t.clone()),
            LinkState::File => Some("(a regular file)".to_string()),
            LinkState::Directory => Some("(a directory)".to_string()),
        };
        let Want::Present { content, enabled } = &self.want else {
            let mut changes = Vec::new();
            let file = match &state.file {
                FileState::Absent => None,
                FileState::File(_) => Some("present"),
                FileState::Symlink => Some("a symlink"),
                FileState::Other => Some("not a regular file"),
            };
            if let Some(f) = file {
                changes.push(Change::new("file", Some(f.into()), None));
            }
            if let Some(l) = link_was(&state.link) {
                changes.push(Change::new("link", Some(l), None));
            }
            return Diff::new(Action::Remove, changes);
        };
        let mut changes = Vec::new();
        match &state.file {
            FileState::Absent => changes.extend(content.diff(None)),
            FileState::File(obs) => changes.extend(content.diff(obs.as_ref())),
            FileState::Symlink => {
                changes.push(Change::set("type", "symlink", "file"));
                changes.extend(content.diff(None));
            }
            FileState::Other => changes.push(Change::set("type", "not a regular file", "file")),
        }
        let relative = format!("../sites-available/{}", self.name);
        let linked = matches!(&state.link, LinkState::Link(t) if *t == self.file || *t == relative);
        if *enabled && !linked {
            changes.push(Change::new("link", link_was(&state.link), Some(self.file.clone())));
        } else if !*enabled && state.link != LinkState::Absent {
            changes.push(Change::new("link", link_was(&state.link), None));
        }
        let action = if state.file == FileState::Absent { Action::Create } else { Action::Change };
        Diff::new(action, changes)
    }

    fn steps(&self, state: &State, diff: &Diff, sh: &mut Sh) {
        let Want::Present { content, enabled } = &self.want else {
            self.remove(sh);
            return;
        };
        sh.set("p", &self.file).set("l", &self.link);
        refuse_directories(sh);
        sh.raw("command -v nginx >/dev/null 2>&1 || { printf '%s\\n' \"nginx is not installed: refusing to write a site it cannot check ($p)\" >&2; exit 1; }\n");
        let writes = diff.changes.iter().any(|c| c.field() == "content");
        let expected = match &state.file {
            FileState::File(Some(o)) => Some(o.sha256.as_str()),
            _ => None,
        };
        if writes {
            content::guard(expected, sh);
        }
        save(sh);
        if writes {
            sh.raw("tmp=$(mktemp \"$(dirname -- \"$p\")/.converge.XXXXXXXX\")\n");
            sh.heredoc_base64("\"$tmp\"", &content.bytes);
            sh.raw("if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then chown --reference=\"$p\" -- \"$tmp\"; chmod --reference=\"$p\" -- \"$tmp\"; else chmod 0644 \"$tmp\"; fi\n");
            sh.raw("sync -- \"$tmp\" 2>/dev/null || sync\nmv -f -- \"$tmp\" \"$p\"\ntmp=\n");
        }
        if diff.changes.iter().any(|c| c.field() == "link") {
            if *enabled {
                sh.raw("if [ -f \"$l\" ] && [ ! -L \"$l\" ]; then p0=$p; p=$l; ");
                sh.raw(BACKUP);
                sh.raw(" p=$p0; fi\n");
                sh.raw("tl=\"$(dirname -- \"$l\")/.converge.$$.link\"\nrm -f -- \"$tl\"\nln -s -- \"$p\" \"$tl\"\nmv -Tf -- \"$tl\" \"$l\"\n");
            } else {
                sh.raw("rm -f -- \"$l\"\n");
            }
        }
        self.check_and_reload(sh, true);
    }

    /// A package installed in the same run creates `sites-enabled/default`: an absent
    /// site is checked again when its block runs.
    fn recheck(&self, sh: &mut Sh) -> bool {
        if !matches!(self.want, Want::Absent) {
            return false;
        }
        sh.set("p", &self.file).set("l", &self.link);
        sh.raw("if [ -e \"$p\" ] || [ -L \"$p\" ] || [ -e \"$l\" ] || [ -L \"$l\" ]; then\n");
        self.remove(sh);
        sh.raw(": > \"$CV_A\"\nfi\n");
        true
    }
}

/// Copies a regular file at `$p` under the state directory (as `content::backup`), on one
/// line so it can sit inside a compound command.
const BACKUP: &str =
    "b=\"$CV_STATE/backup$p.$(date +%Y%m%dT%H%M%S)\"; mkdir -p -- \"$(dirname -- \"$b\")\"; cp -p -- \"$p\" \"$b\";";

fn refuse_directories(sh: &mut Sh) {
    sh.raw("if [ -d \"$p\" ] && [ ! -L \"$p\" ]; then printf '%s\\n' \"refusing to replace a directory with a site file: $p\" >&2; exit 1; fi\n");
    sh.raw("if [ -d \"$l\" ] && [ ! -L \"$l\" ]; then printf '%s\\n' \"refusing to replace a directory with a site link: $l\" >&2; exit 1; fi\n");
}

/// Keeps exact copies of the site file and link (a link stays a link) until the step
/// ends, to put back if nginx refuses the result.
fn save(sh: &mut Sh) {
    sh.raw("cv_keep=$(mktemp -d)\ntmp=\ntrap 'rm -rf -- \"$cv_keep\"; if [ -n \"$tmp\" ]; then rm -f -- \"$tmp\"; fi' EXIT\n");
    sh.raw("if [ -e \"$p\" ] || [ -L \"$p\" ]; then cp -a -- \"$p\" \"$cv_keep/file\"; fi\n");
    sh.raw("if [ -e \"$l\" ] || [ -L \"$l\" ]; then cp -a -- \"$l\" \"$cv_keep/link\"; fi\n");
}

impl NginxSite {
    /// Removes the link and the file (keeping a copy of a regular file under the state
    /// directory), then checks and reloads nginx, if it is installed.
    fn remove(&self, sh: &mut Sh) {
        sh.set("p", &self.file).set("l", &self.link);
        refuse_directories(sh);
        save(sh);
        sh.raw("if [ -f \"$p\" ] && [ ! -L \"$p\" ]; then ").raw(BACKUP).raw(" fi\n");
        sh.raw("if [ -f \"$l\" ] && [ ! -L \"$l\" ]; then p0=$p; p=$l; ").raw(BACKUP).raw(" p=$p0; fi\n");
        sh.raw("rm -f -- \"$l\" \"$p\"\n");
        self.check_and_reload(sh, false);
    }

    /// `nginx -t` over the whole configuration; on failure the saved file and link are
    /// put back exactly and the step fails with nginx's message; on success nginx is
    /// reloaded if it runs. Without nginx (`required` false: a site being removed) there is
    /// nothing to check or reload.
    fn check_and_reload(&self, sh: &mut Sh, required: bool) {
        if !required {
            sh.raw("if command -v nginx >/dev/null 2>&1; then\n");
        }
        sh.raw("cv_back() { if [ -e \"$1\" ] || [ -L \"$1\" ]; then cv_t=\"$(dirname -- \"$2\")/.converge.back.$$\"; rm -f -- \"$cv_t\"; cp -a -- \"$1\" \"$cv_t\" && mv -Tf -- \"$cv_t\" \"$2\"; else rm -f -- \"$2\"; fi; }\n");
        sh.raw(
            "if ! cv_out=$(nginx -t 2>&1); then\ncv_back \"$cv_keep/file\" \"$p\"\ncv_back \"$cv_keep/link\" \"$l\"\n",
        );
        sh.raw("printf '%s\\n' \"$cv_out\" >&2\n");
        sh.raw("printf '%s\\n' \"nginx refused the configuration: $p and $l are back as they were, nginx was not reloaded\" >&2\nexit 1\nfi\n");
        if self.reload {
            sh.raw("if systemctl is-active --quiet nginx 2>/dev/null; then systemctl reload nginx || { systemctl status --no-pager --lines=15 nginx >&2; exit 1; }\n");
            sh.raw("elif [ -s /run/nginx.pid ] && kill -0 \"$(cat /run/nginx.pid)\" 2>/dev/null; then nginx -s reload; fi\n");
        }
        if !required {
            sh.raw("fi\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Content, Resource, build_from};

    const SEED_001: &str = r#"nginx-site "viewbovis" {
    server "viewbovis-beta.int.sce.network" listen=80 {
        proxy "/" to="http://127.0.0.1:3000"
    }
    server "nextstrain-beta.int.sce.network" listen=80 {
        proxy "/" to="http://127.0.0.1:4001"
    }
}"#;

    fn site(kdl: &str) -> NginxSite {
        build_from::<NginxSite>(kdl).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn text(s: &NginxSite) -> String {
        match &s.want {
            Want::Present { content, .. } => String::from_utf8(content.bytes.clone()).expect("utf8"),
            Want::Absent => panic!("absent"),
        }
    }

    fn sha(s: &NginxSite) -> String {
        match &s.want {
            Want::Present { content, .. } => content.sha256.clone(),
            Want::Absent => panic!("absent"),
        }
    }

    #[test]
    fn renders_seed_001_with_the_usual_proxy_headers() {
        assert_eq!(
            text(&site(SEED_001)),
            r#"# Managed by converge (nginx-site "viewbovis"): changes made here are undone by the next apply.

server {
    listen 80;
    server_name viewbovis-beta.int.sce.network;

    location / {
        proxy_pass http://127.0.0.1:3000;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}

server {
    listen 80;
    server_name nextstrain-beta.int.sce.network;

    location / {
        proxy_pass http://127.0.0.1:4001;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
"#
        );
    }

    #[test]
    fn renders_seed_004_uwsgi_static_redirect_and_directives() {
        let s = site(
            r#"nginx-site "kano_konnect.conf" {
    server "kano.example.org" "www.kano.example.org" listen=8080 address="::1" default-server=#true {
        directive "client_max_body_size" "20m"
        uwsgi "/" to="127.0.0.1:9090" { directive "uwsgi_read_timeout" "300" }
        static "/static/" alias="/srv/kano_konnect/current/kano_konnect/assets/"
        redirect "/old" to="https://example.org/new?a=1&b=$arg_b" code=302 match="exact"
        proxy "/api/" to="http://127.0.0.1:3000/" headers=#false websocket=#true { header "X-Api" "1"; }
        location "\\.php$" match="regex" { directive "return" "404"; }
    }
}"#,
        );
        assert_eq!(
            text(&s),
            r#"# Managed by converge (nginx-site "kano_konnect.conf"): changes made here are undone by the next apply.

server {
    listen [::1]:8080 default_server;
    server_name kano.example.org www.kano.example.org;
    client_max_body_size 20m;

    location / {
        include uwsgi_params;
        uwsgi_pass 127.0.0.1:9090;
        uwsgi_read_timeout 300;
    }

    location /static/ {
        alias /srv/kano_konnect/current/kano_konnect/assets/;
    }

    location = /old {
        return 302 https://example.org/new?a=1&b=$arg_b;
    }

    location /api/ {
        proxy_pass http://127.0.0.1:3000/;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection upgrade;
        proxy_set_header X-Api 1;
    }

    location ~ "\\.php$" {
        return 404;
    }
}
"#
        );
        let deps = Kind::deps(&s);
        for want in [
            Implicit::new("package", "nginx-light", "nginx package"),
            Implicit::new("nginx-site", "default", "the default site is removed or written first"),
            Implicit::new("directory", "/srv/kano_konnect/current/kano_konnect/assets", "static files"),
            Implicit::new("directory", "/srv/kano_konnect", "parent directory"),
            Implicit::new("directory", "/etc/nginx/sites-enabled", "parent directory"),
        ] {
            assert!(deps.contains(&want), "{want:?} not in {deps:?}");
        }
    }

    #[test]
    fn values_are_quoted_so_nothing_ends_a_directive() {
        use config::token;
        assert_eq!(token("$host"), "$host");
        assert_eq!(token("20m"), "20m");
        assert_eq!(token(""), "\"\"");
        assert_eq!(token("a b"), "\"a b\"");
        assert_eq!(token("a;b}{c#"), "\"a;b}{c#\"");
        assert_eq!(token(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
        assert_eq!(token("default-src 'self'"), "\"default-src 'self'\"");
        assert_eq!(token("${host}x"), "\"${host}x\"");
        let errors = build_from::<NginxSite>(
            "nginx-site \"x\" {\n server \"a\" { directive \"add_header\" \"X\" \"a\\nb\" }\n}",
        )
        .expect_err("a newline is refused");
        assert_eq!(
            errors,
            ["a directive value cannot hold a control character @ newline, tab or other control character"]
        );
    }

    #[test]
    fn mistakes_nginx_would_make_silently_are_refused() {
        let errors = build_from::<NginxSite>(
            r#"nginx-site "x" {
    server "a.example.org" {
        static "/static" alias="/srv/static/"
        proxy "/p" to="http://127.0.0.1:1"
        location "/p" { directive "return" "204"; }
    }
    server "a.example.org" { proxy "/" to="http://127.0.0.1:2"; }
}"#,
        )
        .expect_err("refused");
        assert_eq!(
            errors,
            [
                "a prefix location and its alias must both end in `/`, or neither @ remove the trailing `/`",
                "two locations for `/p` in one server @ again here",
            ]
        );
        let errors =
            build_from::<NginxSite>(r#"nginx-site "x" { server "a" {}; server "a" {}; }"#).expect_err("refused");
        assert_eq!(errors, ["`a` is served twice on port 80 @ again here"]);
    }

    fn state(out: &str, s: &NginxSite) -> State {
        s.parse(out).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_new_site_is_written_linked_checked_and_reloaded() {
        let s = site(SEED_001);
        let st = state("link=absent\nfile=absent\n", &s);
        let diff = s.diff(&st, &PlanCx::default());
        assert_eq!(diff.action, Action::Create);
        assert_eq!(diff.changes.len(), 2);
        assert!(matches!(diff.changes[0].content_shown(), Some(Content::Text { before, .. }) if before.is_empty()));
        assert_eq!(diff.changes[1], Change::new("link", None, Some("/etc/nginx/sites-available/viewbovis".into())));
        let mut sh = Sh::new();
        s.steps(&st, &diff, &mut sh);
        let t = sh.text();
        let order = [
            "command -v nginx",
            "[ \"$cur\" != absent ]",
            "cp -a -- \"$p\" \"$cv_keep/file\"",
            "mv -f -- \"$tmp\" \"$p\"",
            "ln -s -- \"$p\" \"$tl\"",
            "if ! cv_out=$(nginx -t 2>&1); then",
            "cv_back \"$cv_keep/file\" \"$p\"",
            "cv_back \"$cv_keep/link\" \"$l\"",
            "printf '%s\\n' \"$cv_out\" >&2",
            "exit 1",
            "systemctl reload nginx",
        ];
        let mut at = 0;
        for step in order {
            let found = t[at..].find(step).unwrap_or_else(|| panic!("{step:?} not after byte {at} in:\n{t}"));
            at += found + step.len();
        }
    }

    #[test]
    fn in_sync_drifted_and_relinked() {
        let s = site(SEED_001);
        let linked = "link=symlink\ntarget=/etc/nginx/sites-available/viewbovis\n";
        let ok = state(&format!("{linked}file=file\nsha256={}\n", sha(&s)), &s);
        assert!(s.diff(&ok, &PlanCx::default()).is_ok());
        let relative =
            state(&format!("link=symlink\ntarget=../sites-available/viewbovis\nfile=file\nsha256={}\n", sha(&s)), &s);
        assert!(s.diff(&relative, &PlanCx::default()).is_ok(), "a relative link is the same link");
        // a hand edit: the plan shows it as a unified diff, and only the file is rewritten
        use base64::Engine as _;
        let edited = text(&s).replace("3000", "3999");
        let body = base64::engine::general_purpose::STANDARD.encode(&edited);
        let drift = state(&format!("{linked}file=file\nsha256={}\n--body--\n{body}\n", "a".repeat(64)), &s);
        let diff = s.diff(&drift, &PlanCx::default());
        assert_eq!(diff.action, Action::Change);
        assert!(
            matches!(&diff.changes[..], [c] if matches!(c.content_shown(), Some(Content::Text { before, .. }) if *before == edited))
        );
        let mut sh = Sh::new();
        s.steps(&drift, &diff, &mut sh);
        assert!(sh.text().contains(&format!("[ \"$cur\" != {} ]", "a".repeat(64))), "{}", sh.text());
        assert!(!sh.text().contains("ln -s"), "{}", sh.text());
        // a copy in sites-enabled instead of the link (seed 001's runbook did that)
        let copied = state(&format!("link=file\nfile=file\nsha256={}\n", sha(&s)), &s);
        let diff = s.diff(&copied, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::set("link", "(a regular file)", "/etc/nginx/sites-available/viewbovis")]);
        let mut sh = Sh::new();
        s.steps(&copied, &diff, &mut sh);
        assert!(sh.text().contains("cp -p -- \"$p\" \"$b\"") && sh.text().contains("mv -Tf -- \"$tl\" \"$l\""));
        assert!(!sh.text().contains("base64 -d"), "the file is in sync: {}", sh.text());
    }

    #[test]
    fn disabled_keeps_the_file_and_drops_the_link() {
        let s = site(&SEED_001.replacen("nginx-site \"viewbovis\"", "nginx-site \"viewbovis\" enabled=#false", 1));
        let st = state(
            &format!("link=symlink\ntarget=/etc/nginx/sites-available/viewbovis\nfile=file\nsha256={}\n", sha(&s)),
            &s,
        );
        let diff = s.diff(&st, &PlanCx::default());
        assert_eq!(diff.changes, vec![Change::new("link", Some("/etc/nginx/sites-available/viewbovis".into()), None)]);
    }

    #[test]
    fn absent_removes_link_and_file_and_rechecks_after_a_package_install() {
        let s = site("nginx-site \"default\" state=\"absent\"");
        assert!(s.diff(&state("link=absent\nfile=absent\n", &s), &PlanCx::default()).is_ok());
        let st = state("link=symlink\ntarget=/etc/nginx/sites-available/default\nfile=file\n", &s);
        let diff = s.diff(&st, &PlanCx::default());
        assert_eq!(diff.action, Action::Remove);
        assert_eq!(
            diff.changes,
            vec![
                Change::new("file", Some("present".into()), None),
                Change::new("link", Some("/etc/nginx/sites-available/default".into()), None)
            ]
        );
        let mut sh = Sh::new();
        s.steps(&st, &diff, &mut sh);
        let t = sh.text();
        assert!(t.contains("rm -f -- \"$l\" \"$p\"\nif command -v nginx >/dev/null 2>&1; then\n"), "{t}");
        let recheck = Resource::recheck(&s).expect("absent sites re-check");
        assert!(recheck.text().contains(": > \"$CV_A\""));
        assert!(Resource::recheck(&site(SEED_001)).is_none());
        assert!(!Kind::deps(&s).iter().any(|d| d.target.kind == "nginx-site"), "default does not wait for itself");
    }

    #[test]
    fn malformed_probe_output_is_an_error() {
        let s = site(SEED_001);
        assert!(s.parse("file=absent\n").is_err());
        assert!(s.parse("link=symlink\nfile=absent\n").is_err());
        assert!(s.parse("link=absent\nfile=file\n").is_err(), "a present site needs the file's sha256");
        assert!(s.parse("link=weird\nfile=absent\n").is_err());
    }
}
