//! Scenarios of the engine's promises on a modelled host. Each asserts every resource's
//! action and result, the number of exchanges, the blocks of each apply exchange (and that
//! they are what the report says was planned), and checks the host directly.

use converge::engine::Mode;

use crate::host::{Fault, Hook, ModelHost, Pkg};
use crate::run::{Book, Run, converge};

pub fn apply(m: &ModelHost, b: &Book) -> Run {
    converge(m, b, Mode::Apply)
}

pub fn diff(m: &ModelHost, b: &Book) -> Run {
    converge(m, b, Mode::Diff)
}

/// Snapshots a report as `converge` prints it, with any timing masked.
#[track_caller]
fn snapshot(name: &str, run: &Run) {
    insta::with_settings!({ filters => vec![(r"\b\d+(\.\d+)? ?(ms|µs|s)\b", "[time]")] }, {
        insta::assert_snapshot!(name, run.human());
    });
}

/// A second apply finds nothing to do: one exchange, every resource in sync.
#[track_caller]
pub fn settled(m: &ModelHost, b: &Book) {
    let again = apply(m, b);
    let table: Vec<String> = again.report.resources.iter().map(|r| format!("{} ok ok", r.id)).collect();
    let table: Vec<&str> = table.iter().map(String::as_str).collect();
    again.expect(1, &table, &[]);
    assert_eq!(again.status(), "in_sync");
}

/// nginx as Debian ships it: configuration, the default site enabled, a unit started and
/// enabled on install.
fn nginx() -> Pkg {
    Pkg::new("nginx", "1.22.1-9")
        .file("/etc/nginx/nginx.conf", "user www-data;\nworker_processes auto;\ninclude /etc/nginx/sites-enabled/*;\n")
        .file("/etc/nginx/sites-available/default", "server { listen 80 default_server; }\n")
        .link("/etc/nginx/sites-enabled/default", "/etc/nginx/sites-available/default")
        .file("/etc/nginx/koi-utf", "# koi8-r to utf-8\n")
        .file("/etc/nginx/koi-win", "# koi8-r to windows-1251\ncharset_map koi8-r windows-1251 {}\n")
        .file("/etc/nginx/fastcgi_params", "fastcgi_param QUERY_STRING $query_string;\n")
        .dir("/etc/nginx/conf.d")
        .service("nginx")
}

#[test]
fn a_fresh_converge_then_a_second_apply_changes_nothing_in_one_exchange() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"directory "/srv/app" mode="0750"
file "/srv/app/app.conf" content="port = 8080\n"
symlink "/srv/current" target="/srv/app"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "directory:/srv/app create changed",
            "file:/srv/app/app.conf create changed",
            "symlink:/srv/current create changed",
        ],
        &[&["directory:/srv/app", "file:/srv/app/app.conf", "symlink:/srv/current"]],
    );
    assert_eq!(run.status(), "converged");
    assert_eq!(m.read("/srv/app/app.conf").as_deref(), Some("port = 8080\n"));
    assert_eq!(m.stat("/srv/app"), "directory root:root 750");
    assert_eq!(m.link("/srv/current").as_deref(), Some("/srv/app"));
    settled(&m, &b);
}

#[test]
fn a_dry_run_changes_nothing_and_is_one_exchange() {
    let m = ModelHost::new(&[nginx()]);
    m.unit("app", false, false);
    m.write("/etc/app.conf", "debug = true\n");
    m.write("/etc/default/app", "OPTS=\n");
    let b = Book::new(
        r##"package "nginx"
file "/etc/app.conf" content="debug = false\n" notify="service:app"
line "/etc/default/app" match="^OPTS=" line="OPTS=--quiet"
directory "/srv/data" mode="0700"
exec "seed" command="touch /srv/data/seeded" creates="/srv/data/seeded"
service "app" state="running" enabled=#true
"##,
    );
    let before = m.fingerprint();
    let run = diff(&m, &b);
    run.expect(
        1,
        &[
            "package:nginx create -",
            "file:/etc/app.conf change -",
            "line:/etc/default/app change -",
            "directory:/srv/data create -",
            "exec:seed change -",
            "service:app change -",
        ],
        &[],
    );
    assert_eq!(run.status(), "changes");
    assert_eq!(m.fingerprint(), before, "the host changed during a dry run");
    assert!(!m.exists("/var/lib/converge"), "a dry run leaves no state on the host");
    assert_eq!(m.log(), Vec::<String>::new(), "a dry run ran no command that changes anything");
}

/// docs/language.md, "Declaration order is a promise": the package creates the default
/// site and a file that later resources want absent, a file a later resource writes and
/// one a later `line` edits; the verify finds them and a second round converges them, in
/// one apply. (The playbook of `tests/it/order.rs`, and one more file.)
#[test]
fn what_a_package_installs_is_converged_in_the_same_apply_without_require() {
    let m = ModelHost::new(&[nginx()]);
    let b = Book::new(
        r##"package "nginx"
symlink "/etc/nginx/sites-enabled/default" state="absent"
file "/etc/nginx/fastcgi_params" state="absent"
file "/etc/nginx/koi-utf" content="# no charset map here\n"
line "/etc/nginx/koi-win" line="# edited by converge"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &[
            "package:nginx create changed",
            "symlink:/etc/nginx/sites-enabled/default remove changed",
            "file:/etc/nginx/fastcgi_params remove changed",
            "file:/etc/nginx/koi-utf change changed",
            "line:/etc/nginx/koi-win change changed",
        ],
        &[
            &["package:nginx", "file:/etc/nginx/koi-utf"],
            &[
                "symlink:/etc/nginx/sites-enabled/default",
                "file:/etc/nginx/fastcgi_params",
                "file:/etc/nginx/koi-utf",
                "line:/etc/nginx/koi-win",
            ],
        ],
    );
    assert_eq!(run.status(), "converged");
    snapshot("package_then_what_it_installs_apply", &run);
    assert_eq!(m.installed("nginx").as_deref(), Some("1.22.1-9"));
    assert!(!m.exists("/etc/nginx/sites-enabled/default"));
    assert!(!m.exists("/etc/nginx/fastcgi_params"));
    assert_eq!(m.read("/etc/nginx/koi-utf").as_deref(), Some("# no charset map here\n"));
    assert_eq!(
        m.read("/etc/nginx/koi-win").as_deref(),
        Some("# koi8-r to windows-1251\ncharset_map koi8-r windows-1251 {}\n# edited by converge\n")
    );
    let after = diff(&m, &b);
    after.expect(
        1,
        &[
            "package:nginx ok -",
            "symlink:/etc/nginx/sites-enabled/default ok -",
            "file:/etc/nginx/fastcgi_params ok -",
            "file:/etc/nginx/koi-utf ok -",
            "line:/etc/nginx/koi-win ok -",
        ],
        &[],
    );
    assert_eq!(after.status(), "in_sync");
    settled(&m, &b);
}

/// A one-shot command makes the file a later `line` edits: the line waits (`?`) for the
/// verify probe and is edited in a second round, in the same apply.
#[test]
fn an_exec_makes_the_file_a_later_line_edits_in_the_same_apply() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"exec "render" command="printf 'port = 80\\nworkers = 2\\n' > /srv/app.conf" creates="/srv/app.conf"
line "/srv/app.conf" match="^port" line="port = 8080"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &["exec:render change changed", "line:/srv/app.conf change changed"],
        &[&["exec:render"], &["line:/srv/app.conf"]],
    );
    assert_eq!(m.read("/srv/app.conf").as_deref(), Some("port = 8080\nworkers = 2\n"));
    settled(&m, &b);
}

/// A `line` that requires the package whose install replaces its file defers itself: it
/// is planned from the file the package leaves, not from the one probed before.
#[test]
fn a_line_waits_for_the_package_it_requires_and_edits_what_the_package_left() {
    let m = ModelHost::new(&[Pkg::new("tool", "2.0-1").file("/opt/tool/tool.conf", "mode = fast\nlevel = 1\n")]);
    m.write("/opt/tool/tool.conf", "level = 0\n");
    let b = Book::new(
        r##"package "tool"
line "/opt/tool/tool.conf" match="^level" line="level = 3" require="package:tool"
"##,
    );
    let plan = diff(&m, &b);
    plan.expect(1, &["package:tool create -", "line:/opt/tool/tool.conf recheck -"], &[]);
    assert_eq!(
        plan.changes("line:/opt/tool/tool.conf").last().map(String::as_str),
        Some("recheck: (absent) → planned again after package:tool changes")
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &["package:tool create changed", "line:/opt/tool/tool.conf change changed"],
        &[&["package:tool"], &["line:/opt/tool/tool.conf"]],
    );
    assert_eq!(m.read("/opt/tool/tool.conf").as_deref(), Some("mode = fast\nlevel = 3\n"));
    settled(&m, &b);
}

/// Several `line`s on one file are chained in declaration order, each planned from the
/// text the one before leaves: one round, every edit lands.
#[test]
fn several_lines_on_one_file_converge_in_one_round() {
    let m = ModelHost::new(&[]);
    m.write("/etc/ssh/sshd_config", "Port 22\n#PermitRootLogin yes\nPasswordAuthentication yes\n");
    let b = Book::new(
        r##"line "root-login" path="/etc/ssh/sshd_config" match="^#?PermitRootLogin " line="PermitRootLogin no"
line "passwords" path="/etc/ssh/sshd_config" match="^PasswordAuthentication " line="PasswordAuthentication no"
line "banner" path="/etc/ssh/sshd_config" line="Banner /etc/issue.net" after="^Port "
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &["line:root-login change changed", "line:passwords change changed", "line:banner change changed"],
        &[&["line:root-login", "line:passwords", "line:banner"]],
    );
    assert_eq!(
        m.read("/etc/ssh/sshd_config").as_deref(),
        Some("Port 22\nBanner /etc/issue.net\nPermitRootLogin no\nPasswordAuthentication no\n")
    );
    settled(&m, &b);
}

/// Resources in sync when probed but downstream of a change (or, for `exec`, after one in
/// apply order) are checked again at apply time: `?` in the plan, changed only if the
/// check had to act.
#[test]
fn in_sync_resources_after_a_change_are_rechecked_at_apply_time() {
    let m = ModelHost::new(&[nginx()]);
    m.write("/srv/htpasswd", "admin:x\n");
    let b = Book::new(
        r##"package "nginx"
symlink "/etc/nginx/sites-enabled/default" state="absent" require="package:nginx"
exec "htpasswd" command="printf 'admin:y\\n' > /srv/htpasswd" creates="/srv/htpasswd"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "package:nginx create changed",
            "symlink:/etc/nginx/sites-enabled/default recheck changed",
            "exec:htpasswd recheck ok",
        ],
        &[&["package:nginx", "symlink:/etc/nginx/sites-enabled/default", "exec:htpasswd"]],
    );
    assert_eq!(
        run.changes("symlink:/etc/nginx/sites-enabled/default"),
        ["recheck: (absent) → checked again after package:nginx changes"]
    );
    assert!(!m.exists("/etc/nginx/sites-enabled/default"));
    assert_eq!(m.read("/srv/htpasswd").as_deref(), Some("admin:x\n"), "the guarded command did not run");
    settled(&m, &b);
}

/// What the second round changes is followed at apply time as in the first: an exec in
/// sync when the verify probed it, downstream of a file that only the second round
/// writes (the file an earlier step of the run changed behind its back), is checked again
/// after it and runs; without that it would be left different ("did not converge"), as
/// a virtualenv was when the checkout holding its requirements moved in a second round.
#[test]
fn resources_downstream_of_a_second_round_change_are_rechecked_in_it() {
    let m = ModelHost::new(&[]);
    m.write("/srv/app.conf", "new\n");
    m.write("/srv/copy", "new\n");
    let b = Book::new(
        r##"exec "upstream" command="printf 'old\\n' > /srv/app.conf && touch /srv/pushed" creates="/srv/pushed"
file "/srv/app.conf" content="new\n"
exec "copy" command="cp /srv/app.conf /srv/copy" unless="cmp -s /srv/app.conf /srv/copy" require="file:/srv/app.conf"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &["exec:upstream change changed", "file:/srv/app.conf change changed", "exec:copy recheck changed"],
        &[&["exec:upstream", "exec:copy"], &["file:/srv/app.conf", "exec:copy"]],
    );
    assert_eq!(m.read("/srv/copy").as_deref(), Some("new\n"), "copied again after the second round's write");
    settled(&m, &b);
}

/// A step whose guard finds its target changed by an earlier step of the run changes
/// nothing (stale), what depends on it waits, and both are planned again from the verify
/// and applied in a second round.
#[test]
fn a_step_whose_target_an_earlier_step_changed_is_planned_again() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"exec "unpack" command="printf 'shipped\\n' > /srv/app.conf" creates="/srv/app.conf"
file "/srv/app.conf" content="wanted\n"
symlink "/srv/app.link" target="/srv/app.conf"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &["exec:unpack change changed", "file:/srv/app.conf change changed", "symlink:/srv/app.link create changed"],
        &[
            &["exec:unpack", "file:/srv/app.conf", "symlink:/srv/app.link"],
            &["file:/srv/app.conf", "symlink:/srv/app.link"],
        ],
    );
    assert!(
        run.changes("file:/srv/app.conf").last().is_some_and(|c| c.contains("changed since plan by an earlier step")),
        "{:?}",
        run.changes("file:/srv/app.conf")
    );
    assert!(
        run.changes("symlink:/srv/app.link").last().is_some_and(|c| c.contains("waited for file:/srv/app.conf")),
        "{:?}",
        run.changes("symlink:/srv/app.link")
    );
    assert_eq!(m.read("/srv/app.conf").as_deref(), Some("wanted\n"));
    assert_eq!(m.link("/srv/app.link").as_deref(), Some("/srv/app.conf"));
    settled(&m, &b);
}

#[test]
fn a_failed_step_skips_exactly_its_dependents() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"exec "migrate" command="echo migrating; exit 3" creates="/srv/.migrated"
file "/srv/after-migrate" content="1\n" require="exec:migrate"
file "/srv/after-after" content="2\n" require="file:/srv/after-migrate"
file "/srv/independent" content="3\n"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "exec:migrate change failed",
            "file:/srv/after-migrate create skipped",
            "file:/srv/after-after create skipped",
            "file:/srv/independent create changed",
        ],
        &[&["exec:migrate", "file:/srv/after-migrate", "file:/srv/after-after", "file:/srv/independent"]],
    );
    assert_eq!(run.status(), "failed");
    snapshot("a_failed_step_skips_its_dependents_apply", &run);
    assert_eq!(run.error("exec:migrate").as_deref(), Some("migrating\nthe command failed with exit status 3"));
    assert_eq!(run.error("file:/srv/after-migrate").as_deref(), Some("skipped: needs exec:migrate, which failed"));
    assert_eq!(run.error("file:/srv/after-after").as_deref(), Some("skipped: needs exec:migrate, which failed"));
    assert!(m.exists("/srv/independent"));
    assert!(!m.exists("/srv/after-migrate") && !m.exists("/srv/after-after"));
    assert!(run.human().contains("SKIPPED needs exec:migrate, which failed"), "{}", run.human());
}

/// A package whose install fails (its maintainer script) fails its resource and skips the
/// service that needs it; the rest converges.
#[test]
fn a_failed_package_install_skips_its_service_while_the_rest_converges() {
    let m = ModelHost::new(&[Pkg::new("broken", "1.0-1")
        .file("/opt/broken/bin", "#!/bin/sh\n")
        .service("broken")
        .failing()]);
    let b = Book::new(
        r##"package "broken"
service "broken" state="running" enabled=#true
file "/srv/unrelated" content="u\n"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &["package:broken create failed", "service:broken change skipped", "file:/srv/unrelated create changed"],
        &[&["package:broken", "service:broken", "file:/srv/unrelated"]],
    );
    let err = run.error("package:broken").unwrap_or_default();
    assert!(err.ends_with("E: Sub-process /usr/bin/dpkg returned an error code (1)"), "{err}");
    assert_eq!(run.error("service:broken").as_deref(), Some("skipped: needs package:broken, which failed"));
    assert_eq!(m.installed("broken"), None);
    assert_eq!(m.service("broken").load, "not-found");
    assert_eq!(m.read("/srv/unrelated").as_deref(), Some("u\n"));
}

const OWED: &str = r##"file "/etc/app.conf" content="v = 2\n" notify="service:app"
service "app" state="running"
"##;

/// The restart a change owes is recorded on the host before the change: a run killed
/// after the file changed and before the restart leaves it to the next run, which
/// restarts the service though nothing else differs.
#[test]
fn a_restart_owed_by_a_run_killed_after_the_change_is_done_by_the_next_run() {
    let m = ModelHost::new(&[]);
    m.unit("app", true, true);
    m.write("/etc/app.conf", "v = 1\n");
    let b = Book::new(OWED);
    m.fault(m.next() + 1, Fault::KillAfter(1));
    let run = apply(&m, &b);
    run.expect(
        3,
        &["file:/etc/app.conf change changed", "service:app refresh failed"],
        &[&["file:/etc/app.conf", "service:app"]],
    );
    assert_eq!(run.status(), "failed");
    assert_eq!(
        run.error("service:app").as_deref(),
        Some("did not run: the apply script stopped before this step (connection lost?)")
    );
    assert_eq!(run.exchanges[1].code, None, "the apply was killed");
    let nonce = run.exchanges[1].stdout.lines().next().and_then(|l| l.strip_suffix(":b:0")).unwrap_or_default();
    assert_eq!(run.exchanges[1].stdout, format!("{nonce}:b:0\n{nonce}:e:0:0\n"), "cut right after the first frame");
    assert_eq!(m.read("/etc/app.conf").as_deref(), Some("v = 2\n"));
    assert_eq!(m.service("app").restarts, 0, "not restarted yet");
    assert!(m.exists("/var/lib/converge/owed/service%3Aapp"), "the restart is recorded as owed");

    let next = apply(&m, &b);
    next.expect(3, &["file:/etc/app.conf ok ok", "service:app refresh changed"], &[&["service:app"]]);
    assert_eq!(next.changes("service:app"), ["restart: (absent) → owed by an earlier run"]);
    assert_eq!(m.service("app").restarts, 1);
    assert!(!m.exists("/var/lib/converge/owed/service%3Aapp"));
    settled(&m, &b);
    assert_eq!(m.service("app").restarts, 1, "restarted once");
}

/// The connection drops in the middle of the apply (after the file's block): the run is
/// reported failed with the transport's error, the host holds what ran before the drop,
/// and the next run finishes the job, the owed restart included.
#[test]
fn a_connection_dropped_mid_apply_is_reported_and_the_next_run_converges() {
    let m = ModelHost::new(&[]);
    m.unit("app", true, true);
    m.write("/etc/app.conf", "v = 1\n");
    let b = Book::new(&format!("{OWED}file \"/srv/after\" content=\"a\\n\"\n"));
    m.fault(m.next() + 1, Fault::DropAfter(1));
    let run = apply(&m, &b);
    assert_eq!(run.count(), 2, "probe and the lost apply");
    // (their results are the subject of the ignored test below)
    assert_eq!(run.actions(), ["file:/etc/app.conf change", "service:app refresh", "file:/srv/after create"]);
    assert_eq!(run.blocks(), [["file:/etc/app.conf", "service:app", "file:/srv/after"]]);
    run.assert_blocks_match_plan();
    assert_eq!(run.status(), "failed");
    assert_eq!(
        run.report.error.as_deref(),
        Some("apply: connection lost: model: the connection dropped after frame 1 of exchange 2 (modelled)")
    );
    assert_eq!(m.read("/etc/app.conf").as_deref(), Some("v = 2\n"));
    assert!(!m.exists("/srv/after"), "nothing ran after the drop");
    assert_eq!(m.service("app").restarts, 0);

    let next = apply(&m, &b);
    next.expect(
        3,
        &["file:/etc/app.conf ok ok", "service:app refresh changed", "file:/srv/after create changed"],
        &[&["service:app", "file:/srv/after"]],
    );
    assert_eq!(m.service("app").restarts, 1);
    settled(&m, &b);
}

/// After a lost apply, no resource planned to change may be reported in sync: its step
/// may have run (the file's did) or not, and `ok` says "already in sync: nothing ran"
/// (`report::Outcome::Ok`) of neither; the summary then counts nothing changed.
#[test]
fn after_a_lost_apply_no_planned_resource_is_reported_in_sync() {
    let m = ModelHost::new(&[]);
    m.unit("app", true, true);
    m.write("/etc/app.conf", "v = 1\n");
    let b = Book::new(OWED);
    m.fault(m.next() + 1, Fault::DropAfter(1));
    let run = apply(&m, &b);
    assert_eq!(m.read("/etc/app.conf").as_deref(), Some("v = 2\n"), "the file's step ran");
    let claimed: Vec<String> = run
        .table()
        .into_iter()
        .filter(|t| matches!(t.split_whitespace().collect::<Vec<_>>().as_slice(), [_, action, "ok"] if *action != "ok"))
        .collect();
    assert_eq!(claimed, Vec::<String>::new(), "planned, and reported in sync:\n{}", run.human());
}

/// Something undoes the change after each apply (a hook between the apply and the
/// verify): the verify finds it different again, and the run says "did not converge",
/// never "converged".
#[test]
fn a_change_undone_before_the_verify_did_not_converge() {
    let m = ModelHost::new(&[]);
    let b = Book::new("file \"/srv/motd\" content=\"welcome\\n\"\n");
    m.before(m.next() + 2, Hook::Sh("printf 'tampered\\n' > /srv/motd".into()));
    let run = apply(&m, &b);
    run.expect(3, &["file:/srv/motd create not_converged"], &[&["file:/srv/motd"]]);
    assert_eq!(run.status(), "failed");
    assert_eq!(run.error("file:/srv/motd").as_deref(), Some("did not converge: still differs in content"));
    assert!(run.human().contains("NOT CONVERGED did not converge: still differs in content"), "{}", run.human());
    assert_eq!(m.read("/srv/motd").as_deref(), Some("tampered\n"));
}

/// A command that rewrites a file another resource manages, every time: the file gets a
/// second round, and the command, whose guard still says "run" after it ran, did not
/// converge.
#[test]
fn a_command_that_keeps_rewriting_a_file_does_not_converge() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"file "/srv/state" content="wanted\n"
exec "clobber" command="printf 'clobbered\\n' > /srv/state" unless="false"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &["file:/srv/state create changed", "exec:clobber change not_converged"],
        &[&["file:/srv/state", "exec:clobber"], &["file:/srv/state"]],
    );
    assert_eq!(run.status(), "failed");
    assert_eq!(run.error("exec:clobber").as_deref(), Some("did not converge: still differs in run"));
    assert_eq!(m.read("/srv/state").as_deref(), Some("wanted\n"));
}

/// The host lies about one resource (its probe output replaced with nonsense): that
/// resource is an error, never "nothing to do", what needs it is skipped, and the others
/// converge.
#[test]
fn a_lying_probe_of_one_resource_fails_it_alone() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"file "/srv/a" content="a\n"
file "/srv/b" content="b\n"
symlink "/srv/b.link" target="/srv/b"
file "/srv/c" content="c\n"
"##,
    );
    m.fault(m.next(), Fault::Lie { frame: 1, body: "type=banana\n".into() });
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "file:/srv/a create changed",
            "file:/srv/b ok -",
            "symlink:/srv/b.link create skipped",
            "file:/srv/c create changed",
        ],
        &[&["file:/srv/a", "symlink:/srv/b.link", "file:/srv/c"]],
    );
    assert_eq!(run.error("file:/srv/b").as_deref(), Some("cannot read probe output: unexpected type \"banana\""));
    assert_eq!(run.error("symlink:/srv/b.link").as_deref(), Some("skipped: needs file:/srv/b, which failed"));
    assert_eq!(run.status(), "failed");
    assert!(!m.exists("/srv/b") && !m.exists("/srv/b.link"));
    assert!(m.exists("/srv/a") && m.exists("/srv/c"));
    // honest again: the next run converges the rest
    let next = apply(&m, &b);
    next.expect(
        3,
        &["file:/srv/a ok ok", "file:/srv/b create changed", "symlink:/srv/b.link create changed", "file:/srv/c ok ok"],
        &[&["file:/srv/b", "symlink:/srv/b.link"]],
    );
}

/// A resource that could not be probed is counted as failed, never as in sync: nothing is
/// known of it. (`Summary::add_resource` counts its action, `ok` by construction, as in
/// sync as well as failed: the lying run above says "1 in sync".)
#[test]
fn a_resource_that_could_not_be_probed_is_not_counted_in_sync() {
    let m = ModelHost::new(&[]);
    let b = Book::new("file \"/srv/a\" content=\"a\\n\"\nfile \"/srv/b\" content=\"b\\n\"\n");
    m.fault(m.next(), Fault::Lie { frame: 1, body: "type=banana\n".into() });
    let run = apply(&m, &b);
    run.expect(3, &["file:/srv/a create changed", "file:/srv/b ok -"], &[&["file:/srv/a"]]);
    assert!(run.human().contains("1 changed, 1 failed, 0 skipped, 0 in sync"), "{}", run.human());
    // the dry run that meets the same lie: /srv/a in sync, /srv/b not probed (not in sync)
    m.fault(m.next(), Fault::Lie { frame: 1, body: "type=banana\n".into() });
    let plan = converge(&m, &b, Mode::Diff);
    assert_eq!(plan.count(), 1);
    assert!(plan.human().ends_with("1 in sync, 1 not probed\n"), "{}", plan.human());
}

/// The probe is cut short (the script killed after the first resource's frame): the
/// resources it did not reach are errors, never "nothing to do", and the one it reached
/// converges.
#[test]
fn a_probe_cut_short_plans_only_what_it_reached() {
    let m = ModelHost::new(&[]);
    let b = Book::new(
        r##"file "/srv/a" content="a\n"
file "/srv/b" content="b\n"
file "/srv/c" content="c\n" require="file:/srv/b"
"##,
    );
    m.fault(m.next(), Fault::KillAfter(1));
    let run = apply(&m, &b);
    run.expect(3, &["file:/srv/a create changed", "file:/srv/b ok -", "file:/srv/c ok -"], &[&["file:/srv/a"]]);
    for id in ["file:/srv/b", "file:/srv/c"] {
        assert_eq!(
            run.error(id).as_deref(),
            Some("no probe output for this resource (the probe script stopped early)")
        );
    }
    assert_eq!(run.status(), "failed");
    assert!(m.exists("/srv/a") && !m.exists("/srv/b") && !m.exists("/srv/c"));
    apply(&m, &b).expect(
        3,
        &["file:/srv/a ok ok", "file:/srv/b create changed", "file:/srv/c create changed"],
        &[&["file:/srv/b", "file:/srv/c"]],
    );
}

/// A resource whose probe fails on the host's real answer (a `line` on a file over its
/// size limit) is an error for that resource while the others converge.
#[test]
fn a_resource_that_cannot_be_probed_fails_alone() {
    let m = ModelHost::new(&[]);
    m.write("/srv/big.log", &"x".repeat(1100 * 1024));
    let b = Book::new(
        r##"line "/srv/big.log" line="# rotated"
file "/srv/small" content="s\n"
"##,
    );
    let run = apply(&m, &b);
    run.expect(3, &["line:/srv/big.log ok -", "file:/srv/small create changed"], &[&["file:/srv/small"]]);
    assert_eq!(
        run.error("line:/srv/big.log").as_deref(),
        Some("cannot read probe output: /srv/big.log is 1126400 bytes; `line` edits files up to 1024 KiB")
    );
    assert_eq!(run.status(), "failed");
    assert!(run.human().contains("! line /srv/big.log"), "{}", run.human());
}

const SECRET: &str = "s3cr3t-Zebra-9041";

/// Secrets reach the host and no report: not the plan, the diff, the JSON, nor a failed
/// command's output (masked there, not dropped).
#[test]
fn secrets_reach_the_host_and_no_report() {
    let m = ModelHost::new(&[]);
    let b = Book::with_files(
        r##"secrets { api_token file="token.txt"; }
directory "/srv/app"
file "/srv/app/settings.py" content="TOKEN = '{{ api_token }}'\nDEBUG = False\n" mode="0600"
line "/srv/app/env" line="TOKEN={{ api_token }}" create=#true
exec "register" command="echo registering with {{ api_token }} >&2; exit 4" creates="/srv/app/.registered"
"##,
        &[("token.txt", &format!("{SECRET}\n"))],
    );
    let hidden = |run: &Run, what: &str| {
        for text in [run.human(), run.json()] {
            assert!(!text.contains(SECRET), "{what} shows the secret:\n{text}");
        }
    };
    let plan = diff(&m, &b);
    hidden(&plan, "the plan");
    assert!(plan.human().contains("content (sensitive)"), "{}", plan.human());
    let run = apply(&m, &b);
    // the line waits for its directory (deferred), and is written in a second round
    run.expect(
        5,
        &[
            "directory:/srv/app create changed",
            "file:/srv/app/settings.py create changed",
            "line:/srv/app/env create changed",
            "exec:register change failed",
        ],
        &[&["directory:/srv/app", "file:/srv/app/settings.py", "exec:register"], &["line:/srv/app/env"]],
    );
    hidden(&run, "the apply");
    assert_eq!(
        run.error("exec:register").as_deref(),
        Some("registering with ********\nthe command failed with exit status 4"),
        "masked, not dropped"
    );
    assert!(run.exchanges[1].script.contains(SECRET), "the secret travels in the script, to the host");
    assert_eq!(m.read("/srv/app/settings.py"), Some(format!("TOKEN = '{SECRET}'\nDEBUG = False\n")));
    assert_eq!(m.stat("/srv/app/settings.py"), "regular file root:root 600");
    assert_eq!(m.read("/srv/app/env"), Some(format!("TOKEN={SECRET}\n")));
    // drift in a sensitive file: still no content anywhere
    m.write("/srv/app/settings.py", &format!("TOKEN = '{SECRET}'\nDEBUG = True\n"));
    let drift = diff(&m, &b);
    hidden(&drift, "the plan after drift");
    assert!(!drift.human().contains("DEBUG"), "{}", drift.human());
}

/// Someone else edits the file between the probe and the apply, with no earlier step of
/// the run to account for it: the step refuses, "changed since plan", and changes nothing.
#[test]
fn a_file_edited_by_someone_else_after_the_probe_is_refused() {
    let m = ModelHost::new(&[]);
    m.write("/srv/race", "original\n");
    let b = Book::new("file \"/srv/race\" content=\"wanted\\n\"\n");
    m.before(m.next() + 1, Hook::Fn(Box::new(|m| m.write("/srv/race", "edited by hand\n"))));
    let run = apply(&m, &b);
    run.expect(2, &["file:/srv/race change failed"], &[&["file:/srv/race"]]);
    assert_eq!(run.error("file:/srv/race").as_deref(), Some("changed since plan: /srv/race"));
    assert_eq!(m.read("/srv/race").as_deref(), Some("edited by hand\n"));
    // the next run plans from what is there now
    let next = apply(&m, &b);
    next.expect(3, &["file:/srv/race change changed"], &[&["file:/srv/race"]]);
    assert_eq!(m.read("/srv/race").as_deref(), Some("wanted\n"));
}

#[test]
fn a_changed_file_restarts_the_service_it_notifies_once() {
    let m = ModelHost::new(&[]);
    m.unit("app", true, true);
    m.write("/etc/app.conf", "v = 1\n");
    let b = Book::new(OWED);
    let run = apply(&m, &b);
    run.expect(
        3,
        &["file:/etc/app.conf change changed", "service:app refresh changed"],
        &[&["file:/etc/app.conf", "service:app"]],
    );
    assert_eq!(run.changes("service:app"), ["restart: (absent) → notified by file:/etc/app.conf"]);
    assert_eq!(m.service("app").restarts, 1);
    settled(&m, &b);
    assert_eq!(m.service("app").restarts, 1, "no change, no restart");
    // a change by hand: put back, and restarted again
    m.write("/etc/app.conf", "v = 3\n");
    apply(&m, &b).expect(
        3,
        &["file:/etc/app.conf change changed", "service:app refresh changed"],
        &[&["file:/etc/app.conf", "service:app"]],
    );
    assert_eq!(m.service("app").restarts, 2);
}

/// A notification chain: a file notifies a refresh-only command, which notifies a
/// service. Nothing runs when nothing changes.
#[test]
fn a_file_notifies_a_refresh_only_command_which_notifies_a_service() {
    let m = ModelHost::new(&[]);
    m.unit("app", true, true);
    let b = Book::new(
        r##"directory "/srv/app"
file "/srv/app/requirements.txt" content="django\n" notify="exec:install"
exec "install" command="echo installed >> /srv/app/install.log" refresh-only=#true notify="service:app"
service "app" state="running"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "directory:/srv/app create changed",
            "file:/srv/app/requirements.txt create changed",
            "exec:install refresh changed",
            "service:app refresh changed",
        ],
        &[&["directory:/srv/app", "file:/srv/app/requirements.txt", "exec:install", "service:app"]],
    );
    assert_eq!(run.changes("exec:install"), ["run: (absent) → notified by file:/srv/app/requirements.txt"]);
    assert_eq!(run.changes("service:app"), ["restart: (absent) → notified by exec:install"]);
    assert_eq!(m.read("/srv/app/install.log").as_deref(), Some("installed\n"));
    assert_eq!(m.service("app").restarts, 1);
    settled(&m, &b);
    assert_eq!(m.read("/srv/app/install.log").as_deref(), Some("installed\n"), "not notified: not run");
    assert_eq!(m.service("app").restarts, 1);
}

#[test]
fn directories_files_and_symlinks_get_their_owners_and_modes() {
    let m = ModelHost::new(&[]);
    m.write("/opt/old/leftover", "x\n");
    let b = Book::new(
        r##"directory "/srv/www" owner="www-data" group="www-data" mode="0750"
directory "/srv/www/static" mode="0755"
file "/srv/www/index.html" content="<h1>hi</h1>\n" owner="www-data" mode="0640"
symlink "/srv/current" target="/srv/www"
directory "/opt/old" state="absent"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "directory:/srv/www create changed",
            "directory:/srv/www/static create changed",
            "file:/srv/www/index.html create changed",
            "symlink:/srv/current create changed",
            "directory:/opt/old remove changed",
        ],
        &[&[
            "directory:/srv/www",
            "directory:/srv/www/static",
            "file:/srv/www/index.html",
            "symlink:/srv/current",
            "directory:/opt/old",
        ]],
    );
    assert_eq!(m.stat("/srv/www"), "directory www-data:www-data 750");
    assert_eq!(m.stat("/srv/www/static"), "directory root:root 755");
    assert_eq!(m.stat("/srv/www/index.html"), "regular file www-data:root 640");
    assert_eq!(m.stat("/srv/current"), "symbolic link root:root 777");
    assert_eq!(m.link("/srv/current").as_deref(), Some("/srv/www"));
    assert!(!m.exists("/opt/old"));
    settled(&m, &b);
    // drift by hand: exactly the fields that drifted change, nothing is rewritten
    m.sh("chmod 0777 /srv/www && chown nobody /srv/www/index.html && ln -sfn /tmp /srv/current");
    let fix = apply(&m, &b);
    fix.expect(
        3,
        &[
            "directory:/srv/www change changed",
            "directory:/srv/www/static ok ok",
            "file:/srv/www/index.html change changed",
            "symlink:/srv/current change changed",
            "directory:/opt/old ok ok",
        ],
        &[&["directory:/srv/www", "file:/srv/www/index.html", "symlink:/srv/current"]],
    );
    assert_eq!(fix.changes("directory:/srv/www"), ["mode: 0777 → 0750"]);
    assert_eq!(fix.changes("file:/srv/www/index.html"), ["owner: nobody → www-data"]);
    assert_eq!(fix.changes("symlink:/srv/current"), ["target: /tmp → /srv/www"]);
    assert_eq!(m.stat("/srv/www"), "directory www-data:www-data 750");
    assert_eq!(m.stat("/srv/www/index.html"), "regular file www-data:root 640");
    assert_eq!(m.link("/srv/current").as_deref(), Some("/srv/www"));
}

const NGINX_SITE: &str = r##"package "nginx"
file "/etc/nginx/sites-available/app" content="server { listen 80; location / { proxy_pass http://127.0.0.1:3000; } }\n" notify="service:nginx"
symlink "/etc/nginx/sites-enabled/app" target="/etc/nginx/sites-available/app" notify="service:nginx"
symlink "/etc/nginx/sites-enabled/default" state="absent" notify="service:nginx"
line "/etc/nginx/nginx.conf" match="^worker_processes" line="worker_processes 2;" notify="service:nginx"
service "nginx" state="running" enabled=#true on-notify="reload"
"##;

/// nginx the way the docs write it: the package, a site, its link, the default site gone,
/// one line of the main configuration, the service reloaded once after all of them.
#[test]
fn an_nginx_host_converges_package_site_config_and_service_in_one_apply() {
    let m = ModelHost::new(&[nginx()]);
    let b = Book::new(NGINX_SITE);
    let run = apply(&m, &b);
    run.expect(
        5,
        &[
            "package:nginx create changed",
            "file:/etc/nginx/sites-available/app create changed",
            "symlink:/etc/nginx/sites-enabled/app create changed",
            "symlink:/etc/nginx/sites-enabled/default remove changed",
            "line:/etc/nginx/nginx.conf change changed",
            "service:nginx refresh changed",
        ],
        &[
            &["package:nginx", "file:/etc/nginx/sites-available/app", "symlink:/etc/nginx/sites-enabled/app"],
            &["symlink:/etc/nginx/sites-enabled/default", "line:/etc/nginx/nginx.conf", "service:nginx"],
        ],
    );
    // the service waited for the line that notifies it (deferred: its file did not exist
    // yet), and was planned again from what the package left: started and enabled, owing
    // one reload for everything the run changed
    assert_eq!(
        run.changes("service:nginx"),
        [
            "reload: (absent) → notified by symlink:/etc/nginx/sites-enabled/default, line:/etc/nginx/nginx.conf",
            "note: (absent) → planned from the host as the changes it waited for left it; applied in a second round",
        ]
    );
    assert_eq!(run.status(), "converged");
    assert_eq!(m.installed("nginx").as_deref(), Some("1.22.1-9"));
    let svc = m.service("nginx");
    assert_eq!((svc.active.as_str(), svc.enabled.as_str()), ("active", "enabled"));
    assert_eq!((svc.starts, svc.restarts, svc.reloads), (1, 0, 1), "started by the package, reloaded once, at the end");
    assert_eq!(m.link("/etc/nginx/sites-enabled/app").as_deref(), Some("/etc/nginx/sites-available/app"));
    assert!(!m.exists("/etc/nginx/sites-enabled/default"));
    assert_eq!(
        m.read("/etc/nginx/nginx.conf").as_deref(),
        Some("user www-data;\nworker_processes 2;\ninclude /etc/nginx/sites-enabled/*;\n")
    );
    settled(&m, &b);
    assert_eq!(m.service("nginx").reloads, 1);
}

/// A package that starts and enables its service on install, with the service wanted
/// stopped and disabled: in sync when probed (not installed yet), checked again after
/// the package, and stopped and disabled in the same round.
#[test]
fn a_service_the_package_starts_is_stopped_again_in_the_same_round() {
    let m = ModelHost::new(&[nginx()]);
    let b = Book::new(
        r##"package "nginx"
service "nginx" state="stopped" enabled=#false
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &["package:nginx create changed", "service:nginx recheck changed"],
        &[&["package:nginx", "service:nginx"]],
    );
    let svc = m.service("nginx");
    assert_eq!((svc.active.as_str(), svc.enabled.as_str(), svc.starts, svc.stops), ("inactive", "disabled", 1, 1));
    settled(&m, &b);
}

/// A unit file and a drop-in for it change: systemd is reloaded (by the unit's step, and
/// by the service's for a drop-in it has not loaded) before the service restarts once.
#[test]
fn a_unit_and_a_drop_in_reload_systemd_before_the_restart() {
    let m = ModelHost::new(&[]);
    // the program the unit runs (the unit's new content is checked by systemd-analyze)
    m.write("/usr/local/bin/worker", "#!/bin/sh\nexec sleep 1000\n");
    m.sh("chmod 0755 /usr/local/bin/worker");
    m.write(
        "/etc/systemd/system/worker.service",
        "[Service]\nExecStart=/usr/local/bin/worker --v1\n[Install]\nWantedBy=multi-user.target\n",
    );
    m.sh("systemctl daemon-reload && systemctl enable worker && systemctl start worker");
    let b = Book::new(
        r##"unit "worker" content="[Service]\nExecStart=/usr/local/bin/worker --v2\n[Install]\nWantedBy=multi-user.target\n" notify="service:worker"
directory "/etc/systemd/system/worker.service.d"
file "/etc/systemd/system/worker.service.d/override.conf" content="[Service]\nEnvironment=LEVEL=debug\n" notify="service:worker"
service "worker" state="running" enabled=#true
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &[
            "unit:worker.service change changed",
            "directory:/etc/systemd/system/worker.service.d create changed",
            "file:/etc/systemd/system/worker.service.d/override.conf create changed",
            "service:worker refresh changed",
        ],
        &[&[
            "unit:worker.service",
            "directory:/etc/systemd/system/worker.service.d",
            "file:/etc/systemd/system/worker.service.d/override.conf",
            "service:worker",
        ]],
    );
    assert_eq!(
        m.log(),
        [
            "systemctl daemon-reload",
            "systemctl enable worker.service",
            "systemctl start worker.service",
            "systemctl daemon-reload",
            "systemctl daemon-reload",
            "systemctl restart worker.service",
        ]
    );
    assert_eq!(m.sh("systemctl show -p NeedDaemonReload --value -- worker"), "no\n");
    assert_eq!(m.service("worker").restarts, 1);
    settled(&m, &b);
}

/// Packages from lists that do not have them yet (`apt-get update` first, once) and a
/// package removed (its configuration kept, as `apt-get remove` does).
#[test]
fn packages_install_after_an_update_of_the_lists_and_are_removed() {
    let m = ModelHost::new(&[
        Pkg::new("jq", "1.6-2.1").file("/opt/jq/jq", "#!/bin/sh\n").needs_update(),
        Pkg::new("telnet", "0.17-44").file("/opt/telnet/telnet", "#!/bin/sh\n").file("/etc/telnet.conf", "x\n"),
    ]);
    m.sh("apt-get install -y telnet >/dev/null");
    let b = Book::new(
        r##"package "jq"
package "telnet" state="absent"
"##,
    );
    let plan = diff(&m, &b);
    assert_eq!(plan.changes("package:jq"), ["jq: (absent) → present (not in the local lists yet)"]);
    let run = apply(&m, &b);
    run.expect(
        3,
        &["package:jq create changed", "package:telnet remove changed"],
        &[&["package:jq", "package:telnet"]],
    );
    assert_eq!(m.installed("jq").as_deref(), Some("1.6-2.1"));
    assert_eq!(m.installed("telnet"), None);
    assert!(!m.exists("/opt/telnet/telnet"));
    assert_eq!(m.read("/etc/telnet.conf").as_deref(), Some("x\n"), "remove keeps the configuration");
    assert_eq!(m.log(), ["apt-get install telnet", "apt-get update", "apt-get install jq", "apt-get remove telnet"]);
    settled(&m, &b);
}

/// The site's change owes nginx a reload; the service waits for the deferred `line` that
/// notifies it, and the verify finds that line already as wanted (the package shipped
/// it): the reload owed to the first round is still done, in the second.
#[test]
fn a_reload_owed_to_the_first_round_is_done_when_the_service_waited_for_nothing() {
    let m = ModelHost::new(&[nginx()]);
    let b = Book::new(
        r##"package "nginx"
file "/etc/nginx/conf.d/gzip.conf" content="gzip on;\n" notify="service:nginx"
line "/etc/nginx/nginx.conf" line="user www-data;" notify="service:nginx"
service "nginx" state="running" on-notify="reload"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        5,
        &[
            "package:nginx create changed",
            "file:/etc/nginx/conf.d/gzip.conf create changed",
            "line:/etc/nginx/nginx.conf recheck ok",
            "service:nginx refresh changed",
        ],
        &[&["package:nginx", "file:/etc/nginx/conf.d/gzip.conf"], &["service:nginx"]],
    );
    // (the verify finds the reload through the record the first round left on the host)
    let changes = run.changes("service:nginx");
    assert!(changes[0].starts_with("reload: (absent) → "), "{changes:?}");
    let svc = m.service("nginx");
    assert_eq!((svc.starts, svc.restarts, svc.reloads), (1, 0, 1));
    assert!(!m.exists("/var/lib/converge/owed/service%3Anginx"));
    settled(&m, &b);
}

/// A restart that fails leaves the service's resource failed and the restart owed: the
/// next run, once the service can start again, restarts it though nothing else differs.
#[test]
fn a_restart_that_fails_stays_owed_until_it_succeeds() {
    let m = ModelHost::new(&[]);
    m.unit("app", true, true);
    m.failing_unit("app", true);
    m.write("/etc/app.conf", "v = 1\n");
    let b = Book::new(OWED);
    let run = apply(&m, &b);
    run.expect(
        3,
        &["file:/etc/app.conf change changed", "service:app refresh failed"],
        &[&["file:/etc/app.conf", "service:app"]],
    );
    let err = run.error("service:app").unwrap_or_default();
    assert!(err.starts_with("Job for app.service failed because the control process exited with error code."), "{err}");
    assert!(err.contains("Active: failed"), "the unit's status is shown: {err}");
    assert_eq!(m.service("app").active, "failed");
    assert!(m.exists("/var/lib/converge/owed/service%3Aapp"));
    m.failing_unit("app", false);
    let next = apply(&m, &b);
    next.expect(3, &["file:/etc/app.conf ok ok", "service:app change changed"], &[&["service:app"]]);
    assert_eq!(next.changes("service:app"), ["state: failed → active", "restart: (absent) → owed by an earlier run"]);
    let svc = m.service("app");
    assert_eq!((svc.active.as_str(), svc.restarts), ("active", 1));
    settled(&m, &b);
}

/// docs/kinds/exec.md's step that must run again for every new revision of a checkout:
/// guarded by the revision it was made from (a stamp under `.git/`), it runs on the
/// first apply, not on the next, and again in the apply that moves the checkout, where a
/// `creates=` guard would have kept the first build forever.
#[test]
fn a_step_guarded_by_the_checkouts_revision_runs_again_when_the_checkout_moves() {
    let m = ModelHost::new(&[]);
    let commit = |text: &str| {
        m.sh(&format!(
            "mkdir -p /srv/upstream && cd /srv/upstream && git init -q -b main . && printf '{text}\\n' > build.js && \
             git add -A && git -c user.name=u -c user.email=u@example.org commit -q -m {text}"
        ));
    };
    commit("v1");
    let b = Book::new(
        r##"git "/srv/app/src" repo="file:///srv/upstream" version="main"
exec "bundle" command="cat build.js > bundle.out && git rev-parse HEAD > .git/bundled-revision" cwd="/srv/app/src" unless="test \"$(cat .git/bundled-revision 2>/dev/null)\" = \"$(git rev-parse HEAD)\"" require="git:/srv/app/src"
"##,
    );
    let run = apply(&m, &b);
    run.expect(
        3,
        &["git:/srv/app/src create changed", "exec:bundle change changed"],
        &[&["git:/srv/app/src", "exec:bundle"]],
    );
    assert_eq!(m.read("/srv/app/src/bundle.out").as_deref(), Some("v1\n"));
    settled(&m, &b);
    commit("v2");
    let run = apply(&m, &b);
    run.expect(
        3,
        &["git:/srv/app/src change changed", "exec:bundle recheck changed"],
        &[&["git:/srv/app/src", "exec:bundle"]],
    );
    assert_eq!(m.read("/srv/app/src/bundle.out").as_deref(), Some("v2\n"), "built again from the new revision");
    settled(&m, &b);
}
