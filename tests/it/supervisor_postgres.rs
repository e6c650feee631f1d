//! `supervisor-program`, `postgres-role` and `postgres-database` on real containers: the
//! four steps, then the host checked directly (`supervisorctl status`, /proc, HTTP from the
//! controller, `psql` as postgres and as the role over TCP), drift, notifications, and the
//! failures the kinds promise.

use crate::kinds::OnHost;
use crate::support::http_get;

/// A web server (one process, `%` in its log file name) and two workers whose command
/// and environment hold characters supervisor's INI treats specially.
fn supervised(port: u16, state: &str) -> String {
    format!(
        r#"package "supervisor"
user "demo" system=#true home="/srv/demo"
directory "/srv/demo" owner="demo"
directory "/var/log/demo"
file "/srv/demo/index.html" content="hello from demo\n" notify="supervisor-program:web"
supervisor-program "web" command="python3 -m http.server {port} --bind 0.0.0.0" user="demo" directory="/srv/demo" stdout-logfile="/var/log/demo/web-%1.log" redirect-stderr=#true state="{state}"
supervisor-program "workers" command="python3 -c 'import time; time.sleep(100000)' w.%h" numprocs=2 autorestart="true" {{
    env {{ GREETING "hello, world;#1"; PCT "100%"; QUOTED "say \"hi\" now" }}
}}
"#
    )
}

/// `NAME STATE` for every process supervisord knows.
fn statuses(h: &OnHost) -> String {
    h.sh("supervisorctl status | awk '{print $1, $2}'")
}

fn pid(h: &OnHost, process: &str) -> String {
    h.sh(&format!("supervisorctl pid {process}"))
}

#[test]
fn supervisor_programs_run_restart_stop_and_go() {
    let h = OnHost::new(&supervised(8080, "running"));
    h.four_steps();
    assert_eq!(statuses(&h), "web RUNNING\nworkers:workers_00 RUNNING\nworkers:workers_01 RUNNING\n");
    let page = http_get(h.container.address(), 8080, "t", "/index.html");
    assert!(page.starts_with("HTTP/1.0 200") && page.ends_with("hello from demo\n"), "{page}");
    // runs as its user, in its directory, logging where it was told (with a literal `%`)
    let web = pid(&h, "web");
    assert_eq!(
        h.sh(&format!("stat -c %U /proc/{}; readlink /proc/{}/cwd", web.trim(), web.trim())),
        "demo\n/srv/demo\n"
    );
    h.sh("test -f '/var/log/demo/web-%1.log'");
    // the workers got `%h` and their environment exactly as written
    let w = pid(&h, "workers:workers_01");
    assert_eq!(
        h.sh(&format!("tr '\\0' ' ' < /proc/{}/cmdline", w.trim())),
        "python3 -c import time; time.sleep(100000) w.%h "
    );
    assert_eq!(
        h.sh(&format!("tr '\\0' '\\n' < /proc/{}/environ | grep -E '^(GREETING|PCT|QUOTED)=' | sort", w.trim())),
        "GREETING=hello, world;#1\nPCT=100%\nQUOTED=say \"hi\" now\n"
    );
    assert_eq!(h.sh("stat -c '%U %a' /etc/supervisor/conf.d/web.conf"), "root 644\n");

    // drift: a process stopped by hand is started again
    h.sh("supervisorctl stop workers:workers_00 >/dev/null");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("status: STOPPED, RUNNING → RUNNING (2 processes)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(statuses(&h), "web RUNNING\nworkers:workers_00 RUNNING\nworkers:workers_01 RUNNING\n");

    // a changed command restarts the program; the workers are left alone
    let workers = pid(&h, "workers:workers_00");
    h.playbook(&supervised(8081, "running"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("-command=python3 -m http.server 8080"), "{}", diff.stdout);
    assert!(
        diff.stdout.contains("restart (the configuration changes: supervisorctl update restarts the group)"),
        "{}",
        diff.stdout
    );
    h.run("apply", &[]).expect(0);
    assert_ne!(pid(&h, "web"), web, "restarted");
    assert_eq!(pid(&h, "workers:workers_00"), workers, "not restarted");
    assert!(http_get(h.container.address(), 8081, "t", "/index.html").starts_with("HTTP/1.0 200"));
    assert_eq!(h.sh("ls /var/lib/converge/owed | wc -l"), "0\n", "no restart left owed");

    // a notification restarts it
    let web = pid(&h, "web");
    h.playbook(&supervised(8081, "running").replace("hello from demo", "hello again"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("restart (notified by file:/srv/demo/index.html)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_ne!(pid(&h, "web"), web, "restarted on notify");

    // stopped
    h.playbook(&supervised(8081, "stopped"));
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(statuses(&h), "web STOPPED\nworkers:workers_00 RUNNING\nworkers:workers_01 RUNNING\n");
    assert!(h.sh("grep autostart /etc/supervisor/conf.d/web.conf").contains("autostart=false"));

    // absent: the file and the group go
    h.playbook("supervisor-program \"web\" state=\"absent\"\nsupervisor-program \"workers\" state=\"absent\"\n");
    h.four_steps();
    assert_eq!(statuses(&h), "");
    assert_eq!(h.sh("ls /etc/supervisor/conf.d | wc -l"), "0\n");
}

#[test]
fn supervisor_failures_keep_the_host_as_it_was() {
    let h = OnHost::new(
        "package \"supervisor\"\n\
         supervisor-program \"ok\" command=\"sleep 100000\"\n\
         supervisor-program \"nobody-here\" command=\"sleep 100000\" user=\"no-such-user\"\n\
         supervisor-program \"crashes\" command=\"/bin/false\" startretries=1\n",
    );
    let run = h.run("apply", &["--format", "json"]);
    run.expect(1);
    let report = run.json();
    let resources = report["hosts"][0]["resources"].as_array().expect("resources").clone();
    let by = |name: &str| resources.iter().find(|r| r["name"] == name).cloned().expect(name);
    assert_eq!(by("ok")["result"], "changed", "{report}");
    // supervisor refuses the configuration: the file is taken back, nothing runs
    let refused = by("nobody-here");
    assert_eq!(refused["result"], "failed", "{report}");
    let why = refused["error"].as_str().unwrap_or("");
    assert!(why.contains("no-such-user") && why.contains("supervisor refused the configuration"), "{why}");
    assert_eq!(h.sh("test -e /etc/supervisor/conf.d/nobody-here.conf && echo present || echo absent"), "absent\n");
    // a program that cannot stay up fails its step, with supervisor's words
    let crashed = by("crashes");
    assert_eq!(crashed["result"], "failed", "{report}");
    assert!(crashed["error"].as_str().unwrap_or("").contains("FATAL"), "{report}");
    assert_eq!(statuses(&h), "crashes FATAL\nok RUNNING\n");
}

/// A password with everything a shell, psql or SQL could misread.
const PASSWORD: &str = r#"pa ss'w"o\rd $HOME `id` ;--"#;

fn postgres(encoding: &str) -> String {
    format!(
        r##"vars {{ db_password #"{PASSWORD}"# }}
package "postgresql"
postgres-role "kano" login=#true password="{{{{ db_password }}}}" createdb=#false
postgres-database "kano_konnect" owner="kano" encoding="{encoding}" template="template0"
"##
    )
}

fn psql(h: &OnHost, sql: &str) -> String {
    h.sh(&format!("cd / && runuser -u postgres -- psql -X -Atc {}", converge::script::quote(sql)))
}

#[test]
fn postgres_role_and_database_with_a_password_no_process_ever_sees() {
    let h = OnHost::new(&postgres("UTF8"));
    // watch every process's argv during the whole run for the password (kept in a file,
    // so the watcher's own argv does not hold it)
    h.sh(&format!("printf '%s' {} > /root/needle", converge::script::quote(PASSWORD)));
    h.sh(
        "setsid sh -c 'n=0; while [ ! -e /root/stop ]; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr \"\\0\" \"\\n\" > /root/snap; \
         grep -xF -f /root/needle /root/snap >> /root/seen; grep -c ON_ERROR_STOP /root/snap >> /root/psql; n=$((n+1)); echo $n > /root/samples.new; mv /root/samples.new /root/samples; done' \
         </dev/null >/dev/null 2>&1 &",
    );
    let plan = h.run("diff", &[]);
    plan.expect(2);
    assert!(plan.stdout.contains("      password (sensitive)\n"), "{}", plan.stdout);
    let report = h.four_steps();
    for text in [&plan.stdout, &plan.stderr, &report.to_string()] {
        assert!(!text.contains(PASSWORD) && !text.contains("pa ss"), "the password shows:\n{text}");
    }
    assert_eq!(
        psql(
            &h,
            "select pg_get_userbyid(datdba), pg_encoding_to_char(encoding) from pg_database where datname = 'kano_konnect'"
        ),
        "kano|UTF8\n"
    );
    assert_eq!(
        psql(&h, "select rolcanlogin, rolcreatedb, left(rolpassword, 14) from pg_authid where rolname = 'kano'"),
        "t|f|SCRAM-SHA-256$\n"
    );
    let login = "PGPASSWORD=\"$(cat /root/needle)\" psql -X -h 127.0.0.1 -U kano -d kano_konnect -Atc 'select current_user, current_database()'";
    assert_eq!(h.sh(login), "kano|kano_konnect\n");
    let wrong = h.container.sh("PGPASSWORD=wrong psql -X -h 127.0.0.1 -U kano -d kano_konnect -c 'select 1'");
    assert!(!wrong.status.success(), "a wrong password logs in");

    // drift: a password and an owner changed by hand are put back
    psql(&h, "alter role kano password 'other'; alter database kano_konnect owner to postgres");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("      password (sensitive)\n"), "{}", diff.stdout);
    assert!(diff.stdout.contains("owner: postgres → kano"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh(login), "kano|kano_konnect\n");

    // the password never was in any process's argv, nor in the server's log
    let samples: u32 = h.sh("cat /root/samples").trim().parse().expect("samples");
    assert!(samples > 20, "the watcher ran only {samples} times");
    assert_eq!(h.sh("cat /root/seen 2>/dev/null | wc -l"), "0\n", "the password was in a process's argv");
    assert_eq!(h.sh("grep -rF -f /root/needle /var/log/postgresql | wc -l"), "0\n");
    // and the watcher would have seen it there
    // (the control process lives until the watcher has sampled five more times, however
    // slow a loaded machine makes that; the loop is bounded at 60 s)
    h.sh("n=$(cat /root/samples); sh -c 'sleep 120' \"$(cat /root/needle)\" >/dev/null 2>&1 & c=$!; \
         i=0; while [ \"$(cat /root/samples)\" -lt $((n + 5)) ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; \
         kill $c; touch /root/stop; wait");
    assert_ne!(h.sh("cat /root/seen | wc -l"), "0\n", "the watcher does not see argv");

    // an encoding cannot change: the step says so and the database is left alone
    h.playbook(&postgres("SQL_ASCII"));
    let refused = h.run("apply", &[]);
    refused.expect(1);
    assert!(refused.stdout.contains("cannot change once it exists"), "{}", refused.stdout);
    assert_eq!(
        psql(&h, "select pg_encoding_to_char(encoding) from pg_database where datname = 'kano_konnect'"),
        "UTF8\n"
    );

    // absent drops both, the database first
    h.playbook(
        "postgres-database \"kano_konnect\" state=\"absent\"\n\
         postgres-role \"kano\" state=\"absent\" require=\"postgres-database:kano_konnect\"\n",
    );
    h.four_steps();
    assert_eq!(
        psql(
            &h,
            "select (select count(*) from pg_database where datname = 'kano_konnect'), (select count(*) from pg_roles where rolname = 'kano')"
        ),
        "0|0\n"
    );
}

#[test]
fn what_supervisor_or_postgres_would_misread_is_refused_at_the_token() {
    let p = crate::support::Project::new();
    p.file(
        "playbook.kdl",
        r#"host "a"
supervisor-program "all" command="run ; rm -rf /"
supervisor-program "w" command="python3 -c 'unclosed" numprocs=0 {
    env { OK "fine"; BOTH "it's \"both\" here"; "1BAD" "x" }
}
supervisor-program "x" stdout-logfile="relative.log"
postgres-role "kano" password="pässword" connection-limit=-2
postgres-database "a-name-that-is-much-longer-than-sixty-three-bytes-which-postgres-cuts"
"#,
    );
    let run = p.converge(&["check", "playbook.kdl", "--no-color"]);
    run.expect(1);
    insta::assert_snapshot!("supervisor_postgres_refusals", run.stderr);
}
