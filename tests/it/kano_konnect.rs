//! playbooks/kano-konnect.kdl (seed 004): uWSGI and Celery under supervisor, nginx as
//! nobody serving /static/ from the release and / from uWSGI on 9090, PostgreSQL's
//! kano_konnect with migrations applied, `current` on the newest release.

use crate::seeds::{Seed, upstream_commit, upstream_repo};
use crate::support::{http_get, http_get_until};

const BARE: &str = "/srv/upstream/kano-konnect.git";
const PASSWORD: &str = "kano-db-S3cret";

fn seed(release: &str) -> String {
    format!("        repo \"file://{BARE}\"\n        release \"{release}\"")
}

#[test]
fn kano_konnect_converges_and_switches_releases() {
    let mut s = Seed::new("kano-konnect.kdl", "kano", &seed("r1"));
    s.env("KANO_DB_PASSWORD", PASSWORD);
    s.env("KANO_DJANGO_SECRET_KEY", "kano-django-key");
    upstream_repo(&s.container, "kano-konnect/app", BARE, "master");
    let first = s.converge_twice("kano_konnect");
    assert!(!first.to_string().contains(PASSWORD), "the password is in the report");

    let addr = s.container.address();
    let page = http_get_until(addr, 80, "kano-konnect.example.org", "/", "Kano Konnect");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("Kano Konnect\nconnections: 0"), "{page}");
    let css = http_get(addr, 80, "kano-konnect.example.org", "/static/css/site.css");
    assert!(css.contains("font-family") && css.contains("Server: nginx"), "{css}");
    assert_eq!(s.sh("grep -c '^user nobody nogroup;$' /etc/nginx/nginx.conf"), "1\n");
    assert_eq!(s.sh("ps -o user= -C nginx | sort -u"), "nobody\nroot\n");
    assert_eq!(
        s.sh("runuser -u postgres -- psql -Atc \"select datname, pg_get_userbyid(datdba) from pg_database where datname = 'kano_konnect'\""),
        "kano_konnect|kano\n"
    );
    assert_eq!(
        s.sh("runuser -u postgres -- psql -d kano_konnect -Atc 'select count(*) from konnect_connection'"),
        "0\n"
    );
    let programs = s.sh("supervisorctl status | awk '{print $1, $2}'");
    assert_eq!(programs, "kano_konnect-celeryd RUNNING\nkano_konnect-uwsgi RUNNING\n");
    assert_eq!(
        s.sh("readlink /srv/kano_konnect/current; stat -c %U /srv/kano_konnect/releases/r1"),
        "/srv/kano_konnect/releases/r1\nnobody\n"
    );
    assert_eq!(s.sh("stat -c %a /etc/supervisor/conf.d/kano_konnect-uwsgi.conf"), "600\n", "it holds the password");

    // a new release: checked out beside the old one, `current` switched, programs restarted
    upstream_commit(&s.container, BARE, "master", "kano_konnect/assets/css/site.css", "body { color: green; }\n");
    let uwsgi_pid = s.sh("supervisorctl pid kano_konnect-uwsgi");
    s.project.file(
        "inventory.kdl",
        &std::fs::read_to_string(s.project.path().join("inventory.kdl")).expect("inv").replace("\"r1\"", "\"r2\""),
    );
    let apply = s.run("apply");
    apply.expect(0);
    assert_eq!(
        s.sh("readlink /srv/kano_konnect/current; ls /srv/kano_konnect/releases"),
        "/srv/kano_konnect/releases/r2\nr1\nr2\n"
    );
    assert!(http_get(addr, 80, "kano-konnect.example.org", "/static/css/site.css").contains("green"));
    assert_ne!(s.sh("supervisorctl pid kano_konnect-uwsgi"), uwsgi_pid, "uWSGI restarted on the new release");
    assert_eq!(s.run("apply").json()["summary"]["changed"], 0);
}
