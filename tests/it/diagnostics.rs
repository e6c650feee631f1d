//! Invalid playbooks: each fails `converge check` with exit 1 before any connection, with
//! every problem shown at once, labelled at the exact token. The rendered diagnostics are
//! pinned with insta.

use crate::support::Project;

/// Runs `converge check playbook.kdl` (plus any extra files) and returns stderr.
fn check_fails(playbook: &str, files: &[(&str, &str)]) -> String {
    let p = Project::new();
    p.file("playbook.kdl", playbook);
    for (name, text) in files {
        p.file(name, text);
    }
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(1);
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.stderr
}

macro_rules! diag_case {
    ($name:ident, $playbook:expr) => {
        diag_case!($name, $playbook, &[]);
    };
    ($name:ident, $playbook:expr, $files:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), check_fails($playbook, $files));
        }
    };
}

diag_case!(syntax_error, "host \"a\" address=\"10.0.0.1\nfile \"/x\"\n");

diag_case!(v1_boolean_gets_a_hint, "host \"a\" address=\"10.0.0.1\" become=true\n");

diag_case!(unknown_property_suggests, "host \"a\"\nfile \"/etc/x\" content=\"x\" ownr=\"root\"\n");

diag_case!(unknown_kind_suggests, "host \"a\"\nfiel \"/etc/x\"\n");

diag_case!(bare_integer_mode_is_refused, "host \"a\"\ndirectory \"/srv/app\" mode=0755\n");

diag_case!(wrong_type, "host \"a\"\nuser \"app\" system=\"yes\" uid=\"1000\"\n");

diag_case!(bad_choice, "host \"a\"\nservice \"nginx\" state=\"runing\"\n");

diag_case!(
    cycle_shows_every_hop,
    "host \"a\"\n\
     directory \"/srv/a\" require=\"file:/srv/c\"\n\
     file \"/srv/a/b\" content=\"\"\n\
     file \"/srv/c\" content=\"\" require=\"file:/srv/a/b\"\n"
);

diag_case!(
    duplicate_resource_labels_both,
    "host \"a\"\npackage \"nginx-light\"\nfile \"/etc/x\" content=\"1\"\npackage \"cron\" \"nginx-light\"\n"
);

diag_case!(
    unknown_require_suggests_nearest,
    "host \"a\"\nuser \"viewbovis\"\ndirectory \"/srv/v\" require=\"user:viewbovs\"\n"
);

diag_case!(
    template_error_points_into_the_template,
    "host \"a\"\nvars { port 3000 }\nfile \"/etc/app.conf\" template=\"templates/app.conf.j2\"\n",
    &[("templates/app.conf.j2", "[server]\nport = {{ port }}\nname = {{ app_name }}\n")]
);

diag_case!(
    template_syntax_error,
    "host \"a\"\nfile \"/etc/app.conf\" template=\"app.j2\"\n",
    &[("app.j2", "{% if x %}\nno end\n")]
);

diag_case!(undefined_variable_in_a_string, "host \"a\"\nvars { app \"v\" }\nuser \"{{ ap }}\"\n");

diag_case!(
    every_problem_at_once,
    "host \"a\"\n\
     file \"relative/path\" content=\"x\"\n\
     directory \"/srv\" mode=644\n\
     service \"x\" enabled=#true restart=#true\n\
     symlink \"/etc/link\"\n\
     package \"nginx\" version=\"1\" state=\"latest\"\n"
);

diag_case!(notify_needs_a_notifiable_target, "host \"a\"\nuser \"u\"\nfile \"/x\" content=\"\" notify=\"user:u\"\n");

diag_case!(unknown_on_target, "host \"web-1\"\non \"webs\" {\n    package \"nginx-light\"\n}\n");

diag_case!(duplicate_host, "host \"a\" address=\"1.2.3.4\"\ninventory {\n    host \"a\" address=\"5.6.7.8\"\n}\n");

diag_case!(inventory_group_at_top_level, "host \"a\"\ngroup \"web\" {\n    host \"a\"\n}\n");

diag_case!(
    content_and_template_together,
    "host \"a\"\nfile \"/x\" content=\"a\" template=\"t.j2\"\n",
    &[("t.j2", "x")]
);

diag_case!(
    container_mistakes,
    "host \"a\"\n\
     container \"web\" image=\"app:1\" network=\"host\" cgroups=\"disabled\" {\n    \
     port \"8080:80\"\n    \
     mount \"/srv/www\" \"/www\" readonly=#true\n    \
     env { GREETING \"hi\"; \"2FA\" \"x\"; }\n\
     }\n"
);

#[test]
fn a_missing_playbook_is_an_error_without_a_span() {
    let p = Project::new();
    let run = p.converge(&["check", "nope.kdl"]);
    run.expect(1);
    assert!(run.stderr.contains("cannot read playbook nope.kdl"), "{}", run.stderr);
}

#[test]
fn diff_and_apply_of_an_invalid_playbook_fail_before_connecting() {
    // the host's address is unroutable: a connection attempt would show up as unreachable
    let p = Project::new();
    p.file("playbook.kdl", "host \"a\" address=\"192.0.2.1\"\nfile \"/x\" mode=0644\n");
    for cmd in ["diff", "apply"] {
        let run = p.converge(&[cmd, "playbook.kdl", "--connect-timeout", "1"]);
        run.expect(1);
        assert!(run.stderr.contains("decimal integer"), "{}", run.stderr);
        assert!(!run.stdout.contains("UNREACHABLE"), "{}", run.stdout);
    }
}

#[test]
fn a_valid_playbook_checks() {
    let p = Project::new();
    p.file("playbook.kdl", "host \"a\"\nhost \"b\"\npackage \"tree\"\nfile \"/etc/x\" content=\"{{ host.name }}\"\n");
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(0);
    insta::assert_snapshot!(run.stdout, @"playbook.kdl: valid (2 hosts, 4 resources in all)");
}
