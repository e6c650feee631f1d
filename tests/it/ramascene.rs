//! playbooks/ramascene.kdl (seed 002) with the inventory `converge sandbox` uses
//! (playbooks/ramascene.sandbox.kdl), nothing set up by the test but the secret it
//! exports: daphne and two Celery workers under supervisor with the environment the
//! project's production settings require, Redis, RabbitMQ, nginx proxying to 8001 with
//! the static files, ufw allowing 'Nginx Full', the weekly clean-up.
//!
//! Checked from outside converge, as the project's front end uses it: from this process,
//! a websocket through nginx (port 80) to daphne takes a query for each queue (action
//! "default" for `calc_default`, "model" for `modelling`); the consumer answers "started"
//! with the revision daphne read at its start and sends the Celery task through RabbitMQ,
//! the worker's "check status" comes back over the websocket through the Redis channel
//! layer, and the result stored by django-celery-results, fetched by a POST to
//! ajaxhandling/, says which worker and queue computed it, that worker's process (the one
//! supervisor runs) and the revision it read at its start. The page names the revision
//! and the daphne process serving it; the bundle is served from /static/.
//!
//! Then a new revision upstream (a change to the front end's source): one apply rebuilds
//! and collects the bundle, and restarts daphne and both workers (new process ids), which
//! report the new revision. Then a reboot with no converge run: the services and programs
//! come back and the whole journey passes again. After the first converge, the journey,
//! the update and the reboot, `converge diff` has nothing to do.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use converge::sandbox::{Container, write_ssh_config};
use serde_json::{Value, json};
use tungstenite::Message;

use crate::kinds::boot;
use crate::support::{Project, converge_env, copy_playbooks, http_get, http_get_until, http_post_form};

const SECRET: &str = "ramascene-django-key";
const HOST: &str = "ramascene.example.org";
const DAPHNE: &str = "ramasceneMasterProject_asgi_daphne";
/// Each queue, the program whose worker serves it, and that worker's name (`-n`).
const QUEUES: [(&str, &str, &str); 2] =
    [("calc_default", "celeryd", "@worker1."), ("modelling", "celeryd_modelling", "@worker2.")];

#[test]
fn ramascene_computes_on_both_queues_updates_and_survives_a_reboot() {
    let mut c = boot("ramascene");
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
    let nothing_to_do = |when: &str| {
        let diff = run("diff", "human");
        assert_eq!(diff.code, 0, "{when}: converge diff has something to do:\n{}\n{}", diff.stdout, diff.stderr);
    };
    crate::seeds::baseline("ramascene", &c.address().to_string(), run);

    let programs = c.sh_ok("supervisorctl status | awk '{print $1, $2}'");
    assert_eq!(programs, "celeryd RUNNING\nceleryd_modelling RUNNING\nramasceneMasterProject_asgi_daphne RUNNING\n");
    assert_eq!(c.sh_ok("redis-cli ping"), "PONG\n");
    assert_eq!(c.sh_ok("systemctl is-active rabbitmq-server"), "active\n");
    let ufw = c.sh_ok("ufw status");
    assert!(ufw.contains("Status: active") && ufw.contains("Nginx Full") && ufw.contains("ALLOW"), "{ufw}");
    let cron = c.sh_ok("cat /etc/cron.d/clear-models");
    assert!(cron.contains("0 5 * * 0 ramascene") && cron.contains("manage.py clear_models"), "{cron}");
    let env = ". /srv/ramascene/env.sh && cd /srv/ramascene/app";
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

    let first = upstream(&c);
    journey(&c, &first);
    // the weekly job, as cron runs it, deletes the journey's two jobs and their results
    let cleared = c.sh_ok(&format!(
        "runuser -u ramascene -- sh -c '{env} && /srv/ramascene/env/bin/python manage.py clear_models'"
    ));
    assert!(cleared.contains("deleted 2 jobs and 2 results"), "{cleared}");
    assert!(http_get(c.address(), 80, HOST, "/").contains("jobs: 0\n"), "the page counts the jobs left");
    nothing_to_do("after the journey");

    // a new revision upstream: the front end's source changes; one apply commits it on
    // the host, moves the checkout, rebuilds and collects the bundle, and restarts the
    // three programs on it
    let before = pids(&c);
    let entry = p.path().join("playbooks/files/ramascene/app/assets/js/client/ramascene.js");
    let source = std::fs::read_to_string(&entry).expect("ramascene.js");
    std::fs::write(&entry, format!("{source}export const RELEASE = \"next\";\n")).expect("write");
    let applied = run("apply", "json");
    assert_eq!(applied.code, 0, "{}", applied.stdout);
    let next = upstream(&c);
    assert_ne!(next, first, "a new commit upstream");
    assert_eq!(c.sh_ok("runuser -u ramascene -- git -C /srv/ramascene/app rev-parse HEAD").trim(), next);
    let after = pids(&c);
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        assert_ne!(old, new, "{name} was not restarted (pid {old})");
    }
    let bundle = journey(&c, &next);
    assert!(bundle.contains("const RELEASE = \"next\";"), "the bundle was not rebuilt:\n{bundle}");
    nothing_to_do("after the update");

    // a reboot, and no converge: everything comes back by itself
    c.reboot().expect("reboot");
    assert_eq!(
        c.sh_ok("systemctl is-active redis-server rabbitmq-server nginx supervisor cron"),
        "active\nactive\nactive\nactive\nactive\n"
    );
    assert!(c.sh_ok("ufw status").contains("Status: active"), "ufw is active again");
    let bundle = journey(&c, &next);
    assert!(bundle.contains("const RELEASE = \"next\";"), "{bundle}");
    assert_eq!(
        c.sh_ok("supervisorctl status | awk '{print $1, $2}'"),
        "celeryd RUNNING\nceleryd_modelling RUNNING\nramasceneMasterProject_asgi_daphne RUNNING\n"
    );
    nothing_to_do("after the reboot");
}

/// The commit the stand-in upstream is at.
fn upstream(c: &Container) -> String {
    c.sh_ok("runuser -u ramascene -- git -C /srv/upstream/ramascene rev-parse HEAD").trim().to_string()
}

/// The process id supervisor gives for `program` (0 when it is not running).
fn pid(c: &Container, program: &str) -> u32 {
    let out = c.sh_ok(&format!("supervisorctl pid {program}"));
    out.trim().parse().unwrap_or_else(|_| panic!("supervisorctl pid {program}: {out}"))
}

fn pids(c: &Container) -> Vec<(&'static str, u32)> {
    [DAPHNE, QUEUES[0].1, QUEUES[1].1].into_iter().map(|name| (name, pid(c, name))).collect()
}

/// The journey, from this machine through port 80: the page (served by the daphne that
/// supervisor runs, on `revision`), the bundle, and a query on each queue over the
/// websocket, with its result read back. Returns the bundle as served.
fn journey(c: &Container, revision: &str) -> String {
    let addr = c.address();
    let page = http_get_until(addr, 80, HOST, "/", &format!("revision: {revision}\n"));
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("datasets: v3\n"), "{page}");
    let daphne = pid(c, DAPHNE);
    assert!(page.contains(&format!("\npid: {daphne}\n")), "the page is not served by daphne (pid {daphne}):\n{page}");
    let bundle = http_get(addr, 80, HOST, "/static/bundles/main.js");
    assert!(bundle.starts_with("HTTP/1.1 200") && bundle.contains("built by build.js"), "{bundle}");

    let mut ws = websocket(addr);
    for (queue, program, worker) in QUEUES {
        let nodes = json!({ "nodesSec": [1], "nodesReg": [3, 5], "extn": [1], "year": 2011,
                            "vizType": "GeoMap", "dimType": "Consumption" });
        let query = if queue == "modelling" {
            let model = json!([{ "product": [1], "originReg": [3], "consumedReg": [5], "techChange": 50 }]);
            json!({ "action": "model", "querySelection": nodes, "model_details": model })
        } else {
            json!({ "action": "default", "querySelection": nodes })
        };
        ws.send(Message::text(query.to_string())).expect("send the query");
        let started = next_text(&mut ws, |m| m["action"] == "started");
        assert_eq!(started["job_status"], "started", "{started}");
        assert_eq!(started["revision"], revision, "the websocket is served by daphne on another revision: {started}");
        let job = started["job_id"].as_u64().unwrap_or_else(|| panic!("no job id: {started}"));
        let done = next_text(&mut ws, |m| m["action"] == "check status" && m["job_id"] == job);
        assert_eq!(done["job_status"], "completed", "{done}");

        let result = task_result(addr, job);
        assert_eq!(result["queue"], queue, "{result}");
        let name = result["worker"].as_str().unwrap_or_default();
        assert!(name.contains(worker), "{queue} was served by {name}, not {worker}: {result}");
        assert_eq!(result["worker_pid"], pid(c, program), "not the worker supervisor runs as {program}: {result}");
        assert_eq!(result["revision"], revision, "{program} runs another revision: {result}");
        // the placeholder figures: per region, scaled by the model's change
        let scale = if queue == "modelling" { 1.5 } else { 1.0 };
        assert_eq!(result["rawResultData"], json!({ "3": 3.0 * scale, "5": 5.0 * scale }), "{result}");
    }
    // an orderly close; the answer to it may be lost, which changes nothing here
    let _ = ws.close(None);
    bundle
}

type Ws = tungstenite::WebSocket<TcpStream>;

/// A websocket to the app's `ramascene/`, through nginx on port 80 by its server name;
/// every read gives up after 60 s (a lost answer fails the test, never hangs it).
fn websocket(address: Ipv4Addr) -> Ws {
    let addr = SocketAddr::from((address, 80));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap_or_else(|e| panic!("{addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    stream.set_write_timeout(Some(Duration::from_secs(10))).expect("write timeout");
    let (ws, response) = tungstenite::client(format!("ws://{HOST}/ramascene/"), stream)
        .unwrap_or_else(|e| panic!("websocket handshake through nginx: {e}"));
    assert_eq!(response.status(), 101);
    ws
}

/// The next text message that `wanted` accepts, as JSON; at most 20 messages are read.
fn next_text(ws: &mut Ws, wanted: impl Fn(&Value) -> bool) -> Value {
    let mut seen = Vec::new();
    for _ in 0..20 {
        let msg = ws.read().unwrap_or_else(|e| panic!("websocket read: {e}; read so far: {seen:?}"));
        let Message::Text(text) = msg else { continue };
        let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        if wanted(&value) {
            return value;
        }
        seen.push(value);
    }
    panic!("no wanted message among {seen:?}");
}

/// The stored result of `job`, as the front end fetches it: a form POST of `TaskID` to
/// ajaxhandling/. The worker tells the websocket just before Celery stores what it
/// returns, so this asks again until the result is there (20 tries, 0.5 s apart).
fn task_result(address: Ipv4Addr, job: u64) -> Value {
    let mut last = Value::Null;
    for _ in 0..20 {
        let answer = http_post_form(address, 80, HOST, "/ajaxhandling/", &format!("TaskID={job}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        last = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}):\n{answer}"));
        if let Some(result) = last.get("rawResultData") {
            return result.clone();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("no result stored for job {job}: {last}");
}
