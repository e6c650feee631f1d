//! `nginx-site` and `line` on real containers: real HTTP through nginx from the
//! controller to backends started in the container, a hand edit shown as drift and put
//! back, a change nginx refuses that never reaches the running nginx, the Debian default
//! site removed in the same run that installs nginx, and seed 004's `user nobody nogroup;`
//! set in nginx.conf in that same first run.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::kinds::OnHost;
use crate::support::http_get;

/// A backend that answers with its name and the proxy headers it received.
const ECHO_PY: &str = r#"import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = "backend %s\n" % sys.argv[2]
        for k in ("Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"):
            body += "%s: %s\n" % (k.lower(), self.headers.get(k))
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"#;

fn backend(name: &str, port: u16) -> String {
    format!(
        "unit \"echo-{name}\" content=\"[Service]\\nExecStart=/usr/bin/python3 /srv/echo.py {port} {name}\\n[Install]\\nWantedBy=multi-user.target\\n\"\n\
         service \"echo-{name}\" enabled=#true state=\"running\"\n"
    )
}

/// seed 001's two names on port 80, plus a static location and a value nginx must read
/// exactly (quotes, `;`, braces and a backslash in one header).
fn site(extra: &str) -> String {
    format!(
        r#"nginx-site "demo" {{
    server "a.test" listen=80 {{
        proxy "/" to="http://127.0.0.1:3000"
        static "/static/" alias="/srv/assets/"
        directive "add_header" "X-Quoted" "a;b {{c}} \"q\" 'x' \\"
{extra}    }}
    server "b.test" listen=80 {{
        proxy "/" to="http://127.0.0.1:4001"
    }}
}}
"#
    )
}

fn playbook(extra: &str) -> String {
    let mut pb = String::from(
        "package \"nginx-light\" \"python3\"\n\
         nginx-site \"default\" state=\"absent\"\n\
         file \"/srv/echo.py\" source=\"files/echo.py\" mode=\"0755\"\n\
         directory \"/srv/assets\"\n\
         file \"/srv/assets/hello.txt\" content=\"static hello\\n\"\n",
    );
    pb.push_str(&backend("a", 3000));
    pb.push_str(&backend("b", 4001));
    pb.push_str(&site(extra));
    pb
}

/// GET until the answer contains `needle` (a reload takes effect a moment after it
/// returns; a backend may still be starting), or panic with the last answer.
fn get_until(address: Ipv4Addr, host: &str, path: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::panic::catch_unwind(|| http_get(address, 80, host, path)).unwrap_or_default();
        if out.contains(needle) {
            return out;
        }
        if Instant::now() > deadline {
            panic!("GET http://{host}{path} never answered {needle:?}; last answer:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn gateway(address: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = address.octets();
    Ipv4Addr::new(a, b, c, 1)
}

#[test]
fn nginx_site_serves_two_names_and_static_files_and_keeps_the_old_site_when_nginx_refuses() {
    let h = OnHost::new(&playbook(""));
    h.project.file("files/echo.py", ECHO_PY);
    h.four_steps();
    let addr = h.container.address();

    // the Debian default site, created by the install in this very run, is gone
    assert_eq!(
        h.sh("ls /etc/nginx/sites-enabled /etc/nginx/sites-available"),
        "/etc/nginx/sites-available:\ndemo\n\n/etc/nginx/sites-enabled:\ndemo\n"
    );
    assert_eq!(h.sh("readlink /etc/nginx/sites-enabled/demo"), "/etc/nginx/sites-available/demo\n");

    let a = get_until(addr, "a.test", "/", "backend a");
    let me = gateway(addr);
    for header in
        ["host: a.test", &format!("x-real-ip: {me}"), &format!("x-forwarded-for: {me}"), "x-forwarded-proto: http"]
    {
        assert!(a.contains(header), "{header:?} missing:\n{a}");
    }
    assert!(a.contains("X-Quoted: a;b {c} \"q\" 'x' \\\r\n"), "the header value is exact:\n{a}");
    assert!(get_until(addr, "b.test", "/", "backend b").contains("host: b.test"));
    let file = get_until(addr, "a.test", "/static/hello.txt", "static hello");
    assert!(file.starts_with("HTTP/1.1 200"), "{file}");

    // drift: a hand edit of the site, made live
    h.sh("sed -i 's/127.0.0.1:4001/127.0.0.1:4999/' /etc/nginx/sites-available/demo && nginx -s reload");
    get_until(addr, "b.test", "/", "502 Bad Gateway");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    insta::assert_snapshot!(diff.stdout.replace(&addr.to_string(), "ADDR"), @r"
    t (ADDR)
      ~ nginx-site demo
          content: sha256:fce1215e15bc → sha256:f5926a9af63d
            --- demo (on host)
            +++ demo (wanted)
            @@ -23,7 +23,7 @@
                 server_name b.test;
             
                 location / {
            -        proxy_pass http://127.0.0.1:4999;
            +        proxy_pass http://127.0.0.1:4001;
                     proxy_set_header Host $host;
                     proxy_set_header X-Real-IP $remote_addr;
                     proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      0 to create, 1 to change, 0 to remove, 0 to refresh, 9 in sync

    Plan 1 host: 0 to create, 1 to change, 0 to remove, 0 to refresh, 9 in sync
    ");
    h.run("apply", &[]).expect(0);
    get_until(addr, "b.test", "/", "backend b");

    // a change nginx refuses (and a new site it refuses) never reach the running nginx
    let sums = "sha256sum /etc/nginx/sites-available/*; ls -l --time-style=+ /etc/nginx/sites-enabled | tail -n +2";
    let before = h.sh(sums);
    let master = h.sh("cat /run/nginx.pid");
    let mut broken = playbook("        directive \"bogus_directive\" \"x\"\n");
    broken.push_str("nginx-site \"extra\" {\n    server \"c.test\" { directive \"also_bogus\" \"y\"; }\n}\n");
    h.playbook(&broken);
    let failed = h.run("apply", &[]);
    failed.expect(1);
    assert!(
        failed.stdout.contains("unknown directive \"bogus_directive\" in /etc/nginx/sites-enabled/demo"),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("unknown directive \"also_bogus\" in /etc/nginx/sites-enabled/extra"),
        "{}",
        failed.stdout
    );
    assert!(failed.stdout.contains("are back as they were, nginx was not reloaded"), "{}", failed.stdout);
    assert_eq!(h.sh(sums), before, "the old files are back, byte for byte");
    assert_eq!(h.sh("ls -A /etc/nginx/sites-available /etc/nginx/sites-enabled | grep -c converge || true"), "0\n");
    assert_eq!(h.sh("cat /run/nginx.pid"), master);
    assert!(get_until(addr, "a.test", "/", "backend a").contains("X-Quoted"), "nginx still serves the old site");
    h.sh("nginx -t");
}

/// A WSGI app for uWSGI's own protocol (seed 004 runs uWSGI on :9090).
const WSGI_PY: &str = r#"def application(environ, start_response):
    body = ("uwsgi says hi to %s\n" % environ.get("HTTP_HOST")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

fn seed_004(user_line: &str) -> String {
    format!(
        r#"package "nginx-light" "uwsgi" "uwsgi-plugin-python3"
line "/etc/nginx/nginx.conf" match="^user " line="{user_line}" validate="nginx -t -c %s" require="package:nginx-light" notify="service:nginx"
service "nginx" enabled=#true state="running" on-notify="reload" package="nginx-light"
directory "/srv/kano/assets"
file "/srv/kano/assets/app.css" content="body {{ color: teal; }}\n"
file "/srv/kano/app.py" source="files/app.py"
unit "kano-uwsgi" content="[Service]\nUser=nobody\nExecStart=/usr/bin/uwsgi --plugin python3 --socket 127.0.0.1:9090 --wsgi-file /srv/kano/app.py\n[Install]\nWantedBy=multi-user.target\n"
service "kano-uwsgi" enabled=#true state="running" require="package:uwsgi-plugin-python3"
nginx-site "default" state="absent"
nginx-site "kano_konnect.conf" {{
    server "kano.test" default-server=#true {{
        uwsgi "/" to="127.0.0.1:9090"
        static "/static/" alias="/srv/kano/assets/"
    }}
}}
line "demo-b" path="/etc/demo.conf" line="b = 2" after="^a = "
line "demo-old" path="/etc/demo.conf" match="^old = " state="absent" require="line:demo-b"
"#
    )
}

#[test]
fn line_sets_the_nginx_user_in_the_run_that_installs_nginx() {
    let h = OnHost::new(&seed_004("user nobody nogroup;"));
    h.project.file("files/app.py", WSGI_PY);
    h.sh("printf '[main]\\na = 1\\nold = x\\nc = 3\\nold = y\\n' > /etc/demo.conf && chown root:adm /etc/demo.conf && chmod 640 /etc/demo.conf");
    // nginx.conf does not exist yet: the line waits for the package and is planned again
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(plan.stdout.contains("? line /etc/nginx/nginx.conf"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(
            "      file: (absent) → not there yet\n      recheck (planned again after package:nginx-light changes)\n"
        ),
        "{}",
        plan.stdout
    );
    let report = h.four_steps();
    // probe, apply, verify, then the second round: apply and verify
    assert_eq!(report["hosts"][0]["exchanges"], 5, "{report}");
    let result = |id: &str| {
        let resources = report["hosts"][0]["resources"].as_array().expect("resources");
        let r = resources.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} not in {report}"));
        r["result"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(result("line:/etc/nginx/nginx.conf"), "changed");
    assert_eq!(result("line:demo-old"), "changed");
    assert_eq!(result("nginx-site:default"), "changed", "removed after the install");
    let addr = h.container.address();

    assert_eq!(h.sh("grep -n '^user' /etc/nginx/nginx.conf"), "1:user nobody nogroup;\n");
    assert_eq!(h.sh("stat -c '%U %G %a' /etc/nginx/nginx.conf"), "root root 644\n");
    h.sh("nginx -t");
    // the workers were reloaded as nobody in the same run
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let users = h.sh("ps -o user= -C nginx | sort -u");
        if users == "nobody\nroot\n" {
            break;
        }
        assert!(Instant::now() < deadline, "nginx workers run as:\n{users}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(get_until(addr, "kano.test", "/", "uwsgi says hi").contains("uwsgi says hi to kano.test"));
    // any name lands on the default server; /static/ comes from the assets directory
    let css = get_until(addr, "other.test", "/static/app.css", "color: teal");
    assert!(css.starts_with("HTTP/1.1 200"), "{css}");

    // the other file: one line added after its anchor, both `old` lines removed, the rest
    // exact, owner and mode kept
    assert_eq!(h.sh("cat /etc/demo.conf"), "[main]\na = 1\nb = 2\nc = 3\n");
    assert_eq!(h.sh("stat -c '%U %G %a' /etc/demo.conf"), "root adm 640\n");

    // a line nginx refuses is never written
    let sum = h.sh("sha256sum /etc/nginx/nginx.conf");
    h.playbook(&seed_004("user nobody nogroup"));
    let failed = h.run("apply", &[]);
    failed.expect(1);
    assert!(
        failed.stdout.contains("validate refused the new content: /etc/nginx/nginx.conf is unchanged"),
        "{}",
        failed.stdout
    );
    assert!(
        failed.stdout.contains("[emerg]")
            && failed.stdout.contains("invalid number of arguments in \"user\" directive"),
        "nginx's own message: {}",
        failed.stdout
    );
    assert_eq!(h.sh("sha256sum /etc/nginx/nginx.conf"), sum);
    assert_eq!(h.sh("ls -A /etc/nginx | grep -c converge || true"), "0\n");
}
