//! playbooks/ramascene.kdl (seed 002): daphne and two Celery workers under supervisor,
//! Redis, RabbitMQ, nginx proxying to 8001 with static files, ufw allowing 'Nginx Full',
//! the weekly clean-up.

use crate::seeds::{Seed, upstream_repo};
use crate::support::{http_get, http_get_until};

const BARE: &str = "/srv/upstream/ramascene.git";

#[test]
fn ramascene_converges_with_its_workers_and_firewall() {
    let mut s = Seed::new("ramascene.kdl", "ramascene", &format!("        repo \"file://{BARE}\""));
    s.env("RAMASCENE_SECRET_KEY", "ramascene-django-key");
    upstream_repo(&s.container, "ramascene/app", BARE, "master");
    s.converge_twice("ramascene");

    let programs = s.sh("supervisorctl status | awk '{print $1, $2}'");
    assert_eq!(programs, "celery-default RUNNING\ncelery-modelling RUNNING\ndaphne RUNNING\n");
    assert_eq!(s.sh("redis-cli ping"), "PONG\n");
    assert_eq!(s.sh("systemctl is-active rabbitmq-server"), "active\n");
    let addr = s.container.address();
    let page = http_get_until(addr, 80, "ramascene.example.org", "/", "RaMa-Scene");
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("RaMa-Scene\ndatasets: v3"), "{page}");
    let bundle = http_get(addr, 80, "ramascene.example.org", "/static/bundle.js");
    assert!(bundle.contains("built by frontend/build.js"), "{bundle}");
    let ufw = s.sh("ufw status");
    assert!(ufw.contains("Status: active") && ufw.contains("Nginx Full") && ufw.contains("ALLOW"), "{ufw}");
    let cron = s.sh("cat /etc/cron.d/clear-models");
    assert!(cron.contains("0 5 * * 0 ramascene") && cron.contains("manage.py clear_models"), "{cron}");
    // the weekly job works as written
    s.sh("runuser -u ramascene -- sh -c '. /srv/ramascene/env.sh && cd /srv/ramascene/app && /srv/ramascene/env/bin/python manage.py clear_models'");
    // both workers answer on their queues through RabbitMQ
    let ping = s.sh("cd /srv/ramascene/app && . /srv/ramascene/env.sh && runuser -u ramascene -- env SECRET_KEY=x /srv/ramascene/env/bin/python -m celery -A ramasceneMasterProject inspect ping -t 10 2>&1 | grep -c pong || true");
    assert_eq!(ping, "2\n");
}
