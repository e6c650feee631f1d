//! playbooks/kano-konnect.kdl (seed 004) with the inventory `converge sandbox` uses
//! (playbooks/kano-konnect.sandbox.kdl), nothing set up by the test but the secrets it
//! exports. Checked from outside converge (HTTP from the controller through nginx on port
//! 80, and the host's own tools: supervisorctl, psql, git, systemctl):
//!
//! - the journey: a facility POSTed to the `fm` app is handed to Celery (`.delay()`
//!   through RabbitMQ); the worker (supervisor's kano_konnect-celeryd) writes it into
//!   PostgreSQL's kano_konnect, as the production settings connect, saying its PID and the
//!   revision it read when it started; uWSGI (kano_konnect-uwsgi) then lists it, read from
//!   the database, and /hello reads a task's result back from RabbitMQ;
//! - an in-place pull: a new upstream commit (a new field and its migration) on the same
//!   release reaches both programs in ONE apply: the checkout moved, the migration ran,
//!   and uWSGI and Celery have new PIDs and report the new revision;
//! - a new release (`release` "r2"): checked out beside the old one, `current` switched,
//!   both programs restarted on it, its static files served by nginx;
//! - a reboot with no converge run: PostgreSQL, RabbitMQ, supervisor's programs and nginx
//!   come back and the journey passes again;
//! - after the first converge, the journey, each update and the reboot, `converge diff`
//!   finds nothing to do (exit 0).
//!
//! Also: nginx runs as nobody and serves /static/ from the release, the release belongs
//! to nobody, the virtualenv imports the production requirements, production refuses to
//! start without SECRET_KEY, and converge never prints the database password.

use converge::sandbox::{Container, write_ssh_config};

use crate::kinds::boot;
use crate::support::{Project, converge_env, copy_playbooks, http_get, http_get_until, http_post_form};

const PASSWORD: &str = "kano-db-S3cret";
const SITE: &str = "kano-konnect.example.org";

/// The migration of the update: a new field, with a default for the rows already there.
const MIGRATION: &str = r#"from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fm", "0001_initial")]
    operations = [
        migrations.AddField("facility", "facility_area", models.CharField(default="Kano", max_length=100)),
    ]
"#;

#[test]
fn kano_konnect_converges_updates_switches_releases_and_survives_a_reboot() {
    let mut c = boot("kano-konnect-webserver");
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
    let nothing_to_do = |after: &str| {
        let diff = run("diff", "json");
        assert_eq!(diff.code, 0, "converge diff after {after}:\n{}", diff.stdout);
    };
    crate::seeds::baseline("kano_konnect", &c.address().to_string(), run);

    let addr = c.address();
    let page = http_get_until(addr, 80, SITE, "/", "Kano Konnect");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let css = http_get(addr, 80, SITE, "/static/css/site.css");
    assert!(css.contains("font-family") && css.contains("Server: nginx"), "{css}");
    assert_eq!(c.sh_ok("grep -c '^user nobody nogroup;$' /etc/nginx/nginx.conf"), "1\n");
    assert_eq!(c.sh_ok("ps -o user= -C nginx | sort -u"), "nobody\nroot\n");
    assert_eq!(
        c.sh_ok("runuser -u postgres -- psql -Atc \"select datname, pg_get_userbyid(datdba) from pg_database where datname = 'kano_konnect'\""),
        "kano_konnect|postgres\n"
    );
    // migrated, through the settings' own connection (postgres, password, 127.0.0.1)
    assert_eq!(psql(&c, "select count(*) from fm_facility"), "0\n");
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

    // the journey, on the first revision
    let first = upstream(&c);
    assert_eq!(checked_out(&c), first);
    journey(&c, "Murtala Muhammad Specialist Hospital", &first);
    nothing_to_do("the journey");

    // an in-place pull: a new commit on the live release, with a new field and its
    // migration (a new file upstream, so the sandbox's copy of the upstream gains a line)
    let app = p.path().join("playbooks/files/kano-konnect/app/kano_konnect");
    let models = std::fs::read_to_string(app.join("fm/models.py")).expect("models.py");
    let field = "    facility_area = models.CharField(max_length=100, default=\"Kano\")\n";
    std::fs::write(app.join("fm/models.py"), format!("{models}{field}")).expect("write");
    std::fs::write(app.join("fm/migrations/0002_facility_area.py"), MIGRATION).expect("write");
    let playbook = p.path().join("playbooks/kano-konnect.kdl");
    let text = std::fs::read_to_string(&playbook).expect("playbook");
    let initial = "    file \"/srv/upstream/kano-konnect/kano_konnect/fm/migrations/0001_initial.py\" source=\"files/kano-konnect/app/kano_konnect/fm/migrations/0001_initial.py\" owner=\"nobody\"\n";
    assert!(text.contains(initial), "the playbook copies 0001_initial.py upstream");
    let added = initial.replace("0001_initial", "0002_facility_area");
    std::fs::write(&playbook, text.replace(initial, &format!("{initial}{added}"))).expect("write");
    let before = pids(&c);
    let apply = run("apply", "json");
    assert_eq!(apply.code, 0, "{}", apply.stdout);
    let second = upstream(&c);
    assert_ne!(second, first, "a new commit upstream");
    assert_eq!(checked_out(&c), second, "the live release's checkout moved in place");
    assert_eq!(c.sh_ok("readlink /srv/kano_konnect/current"), "/srv/kano_konnect/releases/kano_konnect\n");
    assert_eq!(
        psql(&c, "select name from django_migrations where app = 'fm' order by name"),
        "0001_initial\n0002_facility_area\n"
    );
    assert_restarted(&c, &before);
    let listed = journey(&c, "Kano General Hospital", &second);
    assert!(
        listed.contains("facility_name=Murtala Muhammad Specialist Hospital, ")
            && listed.matches("facility_area=Kano").count() == 2,
        "the new field, for the old row too:\n{listed}"
    );
    nothing_to_do("an in-place pull");

    // a new release: checked out beside the old one, `current` switched, programs restarted
    let css = app.join("assets/css/site.css");
    std::fs::write(&css, "body { color: green; }\n").expect("write");
    let inventory = p.path().join("playbooks/kano-konnect.sandbox.kdl");
    let text = std::fs::read_to_string(&inventory).expect("inventory");
    std::fs::write(&inventory, text.replace("vars { repo", "vars { release \"r2\"; repo")).expect("write");
    let before = pids(&c);
    let apply = run("apply", "json");
    assert_eq!(apply.code, 0, "{}", apply.stdout);
    assert_eq!(
        c.sh_ok("readlink /srv/kano_konnect/current; ls /srv/kano_konnect/releases"),
        "/srv/kano_konnect/releases/r2\nkano_konnect\nr2\n"
    );
    let third = upstream(&c);
    assert_ne!(third, second, "a new commit upstream");
    assert_eq!(checked_out(&c), third);
    http_get_until(addr, 80, SITE, "/static/css/site.css", "green");
    assert_restarted(&c, &before);
    journey(&c, "Aminu Kano Teaching Hospital", &third);
    nothing_to_do("a new release");

    // a reboot, no converge run: everything comes back and the journey passes again
    c.reboot().expect("reboot");
    assert_eq!(
        c.sh_ok("systemctl is-active postgresql rabbitmq-server supervisor nginx"),
        "active\nactive\nactive\nactive\n"
    );
    running(&c);
    journey(&c, "Kano State Specialist Hospital", &third);
    nothing_to_do("a reboot");
}

/// A query of kano_konnect as the production settings connect (postgres, its password,
/// 127.0.0.1); unaligned rows.
fn psql(c: &Container, query: &str) -> String {
    c.sh_ok(&format!("PGPASSWORD={PASSWORD} psql -h 127.0.0.1 -U postgres -d kano_konnect -Atc \"{query}\""))
}

/// The newest commit of the stand-in upstream repository on the host.
fn upstream(c: &Container) -> String {
    c.sh_ok("runuser -u nobody -- git -C /srv/upstream/kano-konnect rev-parse HEAD").trim().to_string()
}

/// The commit the live release's checkout is on.
fn checked_out(c: &Container) -> String {
    c.sh_ok("runuser -u nobody -- git -C /srv/kano_konnect/current rev-parse HEAD").trim().to_string()
}

/// Both programs RUNNING, after a wait for them to be (bounded: 30 tries, 1 s apart).
fn running(c: &Container) {
    let mut status = String::new();
    for _ in 0..30 {
        status = c.sh_ok("supervisorctl status | awk '{print $1, $2}'");
        if status == "kano_konnect-celeryd RUNNING\nkano_konnect-uwsgi RUNNING\n" {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("supervisor's programs are not both RUNNING:\n{status}");
}

/// supervisor's PIDs of uWSGI and Celery.
fn pids(c: &Container) -> (String, String) {
    let pid = |program: &str| c.sh_ok(&format!("supervisorctl pid {program}")).trim().to_string();
    (pid("kano_konnect-uwsgi"), pid("kano_konnect-celeryd"))
}

fn assert_restarted(c: &Container, before: &(String, String)) {
    let after = pids(c);
    assert_ne!(after.0, before.0, "uWSGI restarted");
    assert_ne!(after.1, before.1, "Celery restarted");
}

/// The journey, through nginx: the home page is served by uWSGI's current process at
/// `revision`; a facility POSTed is recorded by the Celery worker's current process (at
/// `revision` too) in PostgreSQL, and uWSGI lists it; /hello reads a Celery result back
/// from RabbitMQ. Returns the list of facilities.
fn journey(c: &Container, facility: &str, revision: &str) -> String {
    let addr = c.address();
    let (uwsgi, celery) = pids(c);
    let home = http_get_until(addr, 80, SITE, "/", "Kano Konnect");
    assert!(home.contains(&format!("served by process {uwsgi} at revision {revision}\n")), "{home}");

    let queued =
        http_post_form(addr, 80, SITE, "/fm/facilities/new", &format!("facility_name={}", facility.replace(' ', "+")));
    assert!(queued.starts_with("HTTP/1.1 202") && queued.contains("queued "), "{queued}");
    let recorded_by = format!("worker {celery} at {revision}");
    let listed = http_get_until(addr, 80, SITE, "/fm/facilities", &format!("facility_name={facility}, "));
    let row = listed.lines().find(|l| l.contains(&format!("facility_name={facility}, "))).expect("the row");
    assert!(row.contains(&format!("recorded_by={recorded_by}")), "{listed}");
    assert!(listed.contains(&format!("served by process {uwsgi} at revision {revision}\n")), "{listed}");
    // the row is in PostgreSQL, as the worker wrote it
    assert_eq!(
        psql(c, &format!("select facility_status, recorded_by from fm_facility where facility_name = '{facility}'")),
        format!("open|{recorded_by}\n")
    );
    let count = psql(c, "select count(*) from fm_facility");
    assert!(
        listed.contains(&format!("facilities: {count}")),
        "the page counts the database's rows ({count}):\n{listed}"
    );

    let hello = http_get_until(addr, 80, SITE, "/hello", "Request: ");
    assert!(hello.contains(&format!(" by {recorded_by}\n")), "{hello}");
    listed
}
