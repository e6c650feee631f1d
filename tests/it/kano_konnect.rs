//! playbooks/kano-konnect.kdl (seed 004) with the inventory `converge sandbox` uses
//! (playbooks/kano-konnect.sandbox.kdl), nothing set up by the test but the secrets it
//! exports: uWSGI and Celery under supervisor, nginx as nobody serving /static/ from the
//! release and / from uWSGI on 9090, PostgreSQL's kano_konnect with migrations applied,
//! reached as the project's production settings say, `current` on the newest release.

use converge::sandbox::write_ssh_config;

use crate::kinds::boot;
use crate::support::{Project, converge_env, copy_playbooks, http_get, http_get_until};

const PASSWORD: &str = "kano-db-S3cret";

#[test]
fn kano_konnect_converges_and_switches_releases() {
    let c = boot("kano-konnect-webserver");
    let p = Project::new();
    copy_playbooks(p.path());
    let cfg = write_ssh_config(p.path(), &[("kano-konnect-webserver", &c)]).display().to_string();
    let env = [("KANO_DB_PASSWORD", PASSWORD), ("KANO_DJANGO_SECRET_KEY", "kano-django-key")];
    let run = |cmd: &str, format: &str| {
        let args = [
            cmd,
            "playbooks/kano-konnect.kdl",
            "--inventory",
            "playbooks/kano-konnect.sandbox.kdl",
            "--ssh-config",
            &cfg,
        ];
        let run = converge_env(p.path(), &[&args[..], &["--format", format]].concat(), &env);
        assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD), "{cmd} printed the password");
        run
    };
    crate::seeds::baseline("kano_konnect", &c.address().to_string(), run);

    let addr = c.address();
    let page = http_get_until(addr, 80, "kano-konnect.example.org", "/", "Kano Konnect");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("Kano Konnect\nconnections: 0"), "{page}");
    let css = http_get(addr, 80, "kano-konnect.example.org", "/static/css/site.css");
    assert!(css.contains("font-family") && css.contains("Server: nginx"), "{css}");
    assert_eq!(c.sh_ok("grep -c '^user nobody nogroup;$' /etc/nginx/nginx.conf"), "1\n");
    assert_eq!(c.sh_ok("ps -o user= -C nginx | sort -u"), "nobody\nroot\n");
    assert_eq!(
        c.sh_ok("runuser -u postgres -- psql -Atc \"select datname, pg_get_userbyid(datdba) from pg_database where datname = 'kano_konnect'\""),
        "kano_konnect|postgres\n"
    );
    // migrated, through the settings' own connection (postgres, password, 127.0.0.1)
    assert_eq!(
        c.sh_ok("PGPASSWORD=kano-db-S3cret psql -h 127.0.0.1 -U postgres -d kano_konnect -Atc 'select count(*) from konnect_connection'"),
        "0\n"
    );
    let programs = c.sh_ok("supervisorctl status | awk '{print $1, $2}'");
    assert_eq!(programs, "kano_konnect-celeryd RUNNING\nkano_konnect-uwsgi RUNNING\n");
    assert_eq!(
        c.sh_ok("readlink /srv/kano_konnect/current; stat -c '%U %a' /srv/kano_konnect/releases/kano_konnect /srv/kano_konnect/releases/kano_konnect/variables.json"),
        "/srv/kano_konnect/releases/kano_konnect\nnobody 755\nnobody 600\n"
    );
    // the app's production requirements are what the shared virtualenv imports
    c.sh_ok("/srv/kano_konnect/shared/env/bin/python -c 'import django, celery, psycopg2'");
    // the real contract: production without SECRET_KEY does not start
    let missing = c.sh(
        "cd /srv/kano_konnect/current/kano_konnect && runuser -u nobody -- env DJANGO_SETTINGS_MODULE=kano_konnect.settings.production \
         /srv/kano_konnect/shared/env/bin/python -c 'import os; os.rename = None; import json; \
         import builtins; real = builtins.open; builtins.open = lambda p, *a, **k: (_ for _ in ()).throw(IOError(p)) if str(p).endswith(\"variables.json\") else real(p, *a, **k); \
         import django; django.setup()' 2>&1",
    );
    let missing = String::from_utf8_lossy(&missing.stdout);
    assert!(missing.contains("ImproperlyConfigured: Set the SECRET_KEY env variable"), "{missing}");

    // a new release: checked out beside the old one, `current` switched, programs restarted
    let css = p.path().join("playbooks/files/kano-konnect/app/kano_konnect/assets/css/site.css");
    std::fs::write(&css, "body { color: green; }\n").expect("write");
    let inventory = p.path().join("playbooks/kano-konnect.sandbox.kdl");
    let text = std::fs::read_to_string(&inventory).expect("inventory");
    std::fs::write(&inventory, text.replace("vars { repo", "vars { release \"r2\"; repo")).expect("write");
    let uwsgi_pid = c.sh_ok("supervisorctl pid kano_konnect-uwsgi");
    let apply = run("apply", "json");
    assert_eq!(apply.code, 0, "{}", apply.stdout);
    assert_eq!(
        c.sh_ok("readlink /srv/kano_konnect/current; ls /srv/kano_konnect/releases"),
        "/srv/kano_konnect/releases/r2\nkano_konnect\nr2\n"
    );
    http_get_until(addr, 80, "kano-konnect.example.org", "/static/css/site.css", "green");
    assert_ne!(c.sh_ok("supervisorctl pid kano_konnect-uwsgi"), uwsgi_pid, "uWSGI restarted on the new release");
    assert_eq!(run("apply", "json").json()["summary"]["changed"], 0);
}
