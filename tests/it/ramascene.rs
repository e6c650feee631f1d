//! playbooks/ramascene.kdl (seed 002) with the inventory `converge sandbox` uses
//! (playbooks/ramascene.sandbox.kdl), nothing set up by the test but the secret it
//! exports: daphne and two Celery workers under supervisor with the environment the
//! project's production settings require, Redis, RabbitMQ, nginx proxying to 8001 with
//! the static files, ufw allowing 'Nginx Full', the weekly clean-up.

use converge::sandbox::write_ssh_config;

use crate::kinds::boot;
use crate::support::{Project, converge_env, copy_playbooks, http_get, http_get_until};

const SECRET: &str = "ramascene-django-key";

#[test]
fn ramascene_converges_with_its_workers_and_firewall() {
    let c = boot("ramascene");
    let p = Project::new();
    copy_playbooks(p.path());
    let cfg = write_ssh_config(p.path(), &[("ramascene", &c)]).display().to_string();
    let run = |cmd: &str, format: &str| {
        let args =
            [cmd, "playbooks/ramascene.kdl", "--inventory", "playbooks/ramascene.sandbox.kdl", "--ssh-config", &cfg];
        let run =
            converge_env(p.path(), &[&args[..], &["--format", format]].concat(), &[("RAMASCENE_SECRET_KEY", SECRET)]);
        assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET), "{cmd} printed the secret");
        run
    };
    crate::seeds::baseline("ramascene", &c.address().to_string(), run);

    let programs = c.sh_ok("supervisorctl status | awk '{print $1, $2}'");
    assert_eq!(programs, "celeryd RUNNING\nceleryd_modelling RUNNING\nramasceneMasterProject_asgi_daphne RUNNING\n");
    assert_eq!(c.sh_ok("redis-cli ping"), "PONG\n");
    assert_eq!(c.sh_ok("systemctl is-active rabbitmq-server"), "active\n");
    let addr = c.address();
    let page = http_get_until(addr, 80, "ramascene.example.org", "/", "RaMa-Scene");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("RaMa-Scene\ndatasets: v3\njobs: 0"), "{page}");
    let bundle = http_get(addr, 80, "ramascene.example.org", "/static/bundles/main.js");
    assert!(bundle.contains("built by build.js"), "{bundle}");
    let ufw = c.sh_ok("ufw status");
    assert!(ufw.contains("Status: active") && ufw.contains("Nginx Full") && ufw.contains("ALLOW"), "{ufw}");
    let cron = c.sh_ok("cat /etc/cron.d/clear-models");
    assert!(cron.contains("0 5 * * 0 ramascene") && cron.contains("manage.py clear_models"), "{cron}");
    let env = ". /srv/ramascene/env.sh && cd /srv/ramascene/app";
    // the weekly job works as written
    assert!(
        c.sh_ok(&format!(
            "runuser -u ramascene -- sh -c '{env} && /srv/ramascene/env/bin/python manage.py clear_models'"
        ))
        .contains("deleted 0 jobs and 0 results")
    );
    // the real contract: production settings without HOST do not start
    let missing = c.sh(&format!(
        "runuser -u ramascene -- sh -c '{env} && unset HOST && /srv/ramascene/env/bin/python -c \"import django; django.setup()\"' 2>&1"
    ));
    let missing = String::from_utf8_lossy(&missing.stdout);
    assert!(missing.contains("KeyError: 'HOST'"), "{missing}");
    // both workers answer on their queues through RabbitMQ
    let ping = c.sh_ok(&format!(
        "runuser -u ramascene -- sh -c '{env} && /srv/ramascene/env/bin/python -m celery -A ramasceneMasterProject inspect ping -t 10' 2>&1 | grep -c pong || true"
    ));
    assert_eq!(ping, "2\n");
}
