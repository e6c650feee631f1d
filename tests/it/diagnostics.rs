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
    // every problem is labelled in a source file: never a bare message, never a backtrace
    assert!(run.stderr.contains("╭─["), "no labelled span:\n{}", run.stderr);
    assert!(!run.stderr.contains("stack backtrace"), "{}", run.stderr);
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

diag_case!(
    file_validate_needs_new_content_and_a_percent_s,
    "host \"a\"\nfile \"/etc/sudoers.d/deploy\" mode=\"0440\" validate=\"visudo -cf %s\"\nfile \"/etc/x\" content=\"x\" validate=\"visudo -c\"\nfile \"/etc/y\" state=\"absent\" validate=\"visudo -cf %s\"\n"
);

diag_case!(
    become_password_names_a_secret_and_needs_become,
    "secrets { sudo_pw env=\"HOME\" }\nhost \"a\" become=#true become-password=\"sudo_pass\"\nhost \"b\" become-password=\"sudo_pw\"\nfile \"/x\" content=\"x\"\n"
);

diag_case!(
    become_user_on_a_kind_that_acts_as_root_or_not_a_user_name,
    "host \"a\" become-user=\"{{ app }}\"\nvars { app \"deploy\"; bad \"no one\" }\npackage \"nginx\"\nservice \"nginx\" become-user=\"www-data\"\non \"all\" become-user=\"{{ bad }}\" {\n    file \"/srv/x\" content=\"x\"\n}\nfor \"u\" in=\"['a', 'b']\" become-user=\"{{ u }}\" {\n    directory \"/srv/{{ u }}\"\n}\n"
);

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

// The rest of the catalogue (RELIABILITY.md counts these cases): one mistake each, from
// every layer that can refuse a playbook.

// syntax
diag_case!(unclosed_block, "host \"a\"\non \"a\" {\n    package \"cron\"\n");
diag_case!(unterminated_string, "host \"a\"\nfile \"/etc/x content=\"x\"\n");
diag_case!(bad_escape_in_a_string, "host \"a\"\nfile \"/etc/x\" content=\"a\\qb\"\n");
diag_case!(property_given_twice, "host \"a\"\nfile \"/etc/x\" content=\"a\" content=\"b\"\n");
diag_case!(too_many_arguments, "host \"a\"\nfile \"/etc/x\" \"/etc/y\" content=\"\"\n");
diag_case!(unknown_child_suggests, "host \"a\"\nfile \"/etc/x\" content=\"\" {\n    ownr \"root\"\n}\n");

// types and ranges
diag_case!(number_for_a_string, "host \"a\"\nuser \"app\" home=42\n");
diag_case!(string_for_a_number, "host \"a\" port=\"ssh\"\n");
diag_case!(negative_uid, "host \"a\"\nuser \"app\" uid=-1\n");
diag_case!(package_state_is_not_a_choice, "host \"a\"\npackage \"cron\" state=\"installed\"\n");

// modes
diag_case!(mode_with_a_non_octal_digit, "host \"a\"\nfile \"/etc/x\" content=\"x\" mode=\"0999\"\n");
diag_case!(symbolic_mode, "host \"a\"\ndirectory \"/srv/x\" mode=\"u=rwx\"\n");
diag_case!(mode_beyond_07777, "host \"a\"\ndirectory \"/srv/x\" mode=\"17777\"\n");

// hosts and targets
diag_case!(host_without_a_name, "host address=\"1.2.3.4\"\n");
diag_case!(unknown_connection, "host \"a\" connection=\"telnet\"\n");
diag_case!(on_names_no_host_or_group, "host \"a\"\non \"b\" {\n    package \"cron\"\n}\n");

// kinds' own rules
diag_case!(relative_directory_path, "host \"a\"\ndirectory \"srv/app\"\n");
diag_case!(relative_venv_path, "host \"a\"\nvenv \"srv/venv\"\n");
diag_case!(symlink_without_target, "host \"a\"\nsymlink \"/srv/current\"\n");
diag_case!(user_name_with_a_space, "host \"a\"\nuser \"bad name\"\n");
diag_case!(authorized_key_that_is_not_a_key, "host \"a\"\nuser \"app\"\nauthorized-key \"app\" key=\"not a key\"\n");
diag_case!(cron_without_a_command, "host \"a\"\ncron \"backup\" schedule=\"@daily\"\n");
diag_case!(exec_without_a_command, "host \"a\"\nexec \"migrate\" creates=\"/srv/x\"\n");
diag_case!(git_without_repo_and_an_unknown_property, "host \"a\"\ngit \"/srv/app\" branch=\"main\"\n");
diag_case!(nginx_site_without_a_server, "host \"a\"\nnginx-site \"app\"\n");
diag_case!(
    apt_repository_values_apt_would_misread,
    "host \"a\"\napt-repository \"a/b\" uris=\"not a uri\" suites=\"stable\" components=\"main\" key=\"not a key\" {\n    options { Signed-By \"/tmp/k\"; }\n}\n"
);
diag_case!(
    apt_repository_key_url_without_checksum_and_a_file_that_is_not_a_key,
    "host \"a\"\napt-repository \"r\" uris=\"https://deb.example.org\" suites=\"stable\" key-url=\"https://deb.example.org/key.asc\"\napt-repository \"s\" uris=\"https://deb.example.org\" suites=\"stable\" components=\"main\" key-source=\"key.txt\"\n",
    &[("key.txt", "not a key\n")]
);
diag_case!(line_with_an_invalid_regex, "host \"a\"\nline \"/etc/environment\" line=\"A=1\" match=\"^A=(\"\n");

// references and cycles
diag_case!(require_without_a_kind, "host \"a\"\npackage \"cron\"\nfile \"/etc/x\" content=\"\" require=\"cron\"\n");
diag_case!(require_of_a_misspelt_kind, "host \"a\"\nfile \"/etc/x\" content=\"\" require=\"pakage:cron\"\n");
diag_case!(a_resource_that_requires_itself, "host \"a\"\nfile \"/etc/x\" content=\"\" require=\"file:/etc/x\"\n");
diag_case!(
    two_services_that_require_each_other,
    "host \"a\"\nservice \"a\" state=\"running\" require=\"service:b\"\nservice \"b\" state=\"running\" require=\"service:a\"\n"
);

// variables, templates, secrets, modules
diag_case!(undefined_variable_inside_vars, "host \"a\"\nvars { b \"{{ a }}\" }\npackage \"cron\"\n");
diag_case!(unknown_template_filter, "host \"a\"\nvars { app \"x\" }\nfile \"/etc/x\" content=\"{{ app | shout }}\"\n");
diag_case!(template_file_missing, "host \"a\"\nfile \"/etc/x\" template=\"missing.j2\"\n");
diag_case!(
    secret_from_an_unset_variable,
    "host \"a\"\nsecrets { token env=\"CONVERGE_CATALOGUE_UNSET\" }\nfile \"/etc/x\" content=\"{{ token }}\" mode=\"0600\"\n"
);
diag_case!(secret_and_variable_share_a_name, "host \"a\"\nvars { token \"x\" }\nsecrets { token env=\"HOME\" }\n");
diag_case!(use_of_a_missing_module, "host \"a\"\nuse \"modules/nope.kdl\" app=\"x\"\n");
diag_case!(nul_in_a_value, "host \"a\"\nfile \"/etc/x\" content=\"a\\u{0}b\"\n");
diag_case!(symlink_target_with_a_line_break, "host \"a\"\nsymlink \"/srv/l\" target=\"a\\nb\"\n");
diag_case!(
    lines_of_one_file_required_against_their_order,
    "host \"a\"\nline \"a\" path=\"/etc/x\" line=\"a=1\" require=\"line:b\"\nline \"b\" path=\"/etc/x\" line=\"b=1\"\n"
);
diag_case!(
    names_the_host_would_misread,
    "host \"a\"\n\
     file \"/etc/x\" content=\"\" owner=\"$(id)\" group=\"adm wheel\"\n\
     user \"app\" group=\"a:b\" home=\"srv/app\" shell=\"/bin/sh\\n\" comment=\"App: the app\" {\n    \
     groups \"sudo\" \"-x\"\n\
     }\n\
     unit \"my app\" content=\"[Service]\\n\"\n\
     service \"app;reboot\" package=\"app pkg\"\n\
     package \"jq\" version=\"1.6'\"\n\
     container \"web\" image=\"app:1 --privileged\" network=\"x;y\" runtime=\"crun run\"\n\
     postgres-database \"d\" encoding=\"UTF 8\" lc-collate=\"C;\"\n\
     pip \"/srv/env\" find-links=\"wheels\" index-url=\"packages.example/simple\" {\n    \
     requirement \"flask==2.2.5\"\n\
     }\n"
);
diag_case!(
    nginx_dollar_that_starts_no_variable,
    "host \"a\"\nnginx-site \"s\" {\n    server \"s.test\" {\n        static \"/files/\" alias=\"/srv/$(id)/files/\"\n    }\n}\n"
);

// every stage checks what the earlier ones could make sense of: an unknown kind does not
// hide property errors, and property errors do not hide the graph's
diag_case!(
    five_mistakes_in_one_run,
    "host \"web\" address=\"127.0.0.1\"\n\
     \n\
     pakage \"nginx\"\n\
     file \"/etc/a.conf\" content=\"x\" mode=644\n\
     service \"nginx\" state=\"runing\"\n\
     file \"/etc/b.conf\" content=\"{{ missing_var }}\"\n\
     file \"/etc/c.conf\" content=\"y\" require=\"package:ngnix\"\n"
);

// a `require` of a declaration in error is not also "no such resource"; the unbuilt
// declaration's own references are still checked, and a cycle among the others is found
diag_case!(
    graph_problems_beside_property_errors,
    "host \"web\"\n\
     user \"app\" shell=42\n\
     directory \"/srv/app\" owner=\"app\" require=\"user:app\"\n\
     file \"/srv/app/x\" content=\"\" mode=\"999\" require=\"directory:/srv/ap\"\n\
     file \"/a\" content=\"\" require=\"file:/b\"\n\
     file \"/b\" content=\"\" require=\"file:/a\"\n"
);

// --- host facts, conditions, loops and tags (docs/language.md)

diag_case!(
    a_misspelled_fact_is_an_error_at_its_token,
    "host \"a\"\npackage \"nginx\" when=\"host.facts.os.familly == 'RedHat'\"\nfile \"/etc/motd\" content=\"{{ host.facts.hostnme }}\\n\"\n"
);

diag_case!(a_condition_in_braces_is_refused, "host \"a\"\npackage \"nginx\" when=\"{{ web }}\"\n");

diag_case!(
    a_condition_that_cannot_be_evaluated,
    "host \"a\"\npackage \"nginx\" when=\"role == 'web'\"\non \"a\" when=\"1 +\" {\n    package \"cron\"\n}\n"
);

diag_case!(
    a_loop_needs_a_variable_and_in,
    "host \"a\"\nfor in=\"users\" {\n    user \"x\"\n}\nfor \"u\" {\n    user \"{{ u }}\"\n}\nfor \"1u\" in=\"users\" owner=\"x\" {\n}\n"
);

diag_case!(
    a_loop_over_what_is_not_a_list_or_a_map,
    "host \"a\"\nvars { name \"alice\"; users \"alice\" \"bob\" }\nfor \"c\" in=\"name\" {\n    user \"{{ c }}\"\n}\nfor \"k\" \"v\" in=\"users\" {\n    user \"{{ k }}\"\n}\nfor \"u\" in=\"nobody\" {\n    user \"{{ u }}\"\n}\n"
);

diag_case!(
    an_error_inside_a_loop_names_the_item,
    "host \"a\"\nvars { users { alice { uid 1000 }; bob { uid \"x\" } } }\nfor \"u\" in=\"users\" {\n    directory \"/home/{{ u.key }}\" mode=\"{{ u.value.uid }}\"\n}\n"
);

diag_case!(
    two_iterations_making_one_resource_are_a_duplicate,
    "host \"a\"\nvars { users \"alice\" \"bob\" }\nfor \"u\" in=\"users\" {\n    file \"/etc/owner\" content=\"{{ u }}\\n\"\n}\n"
);

diag_case!(
    two_conditional_declarations_where_both_hold_are_a_duplicate,
    "host \"a\"\nvars { web #true; db #true }\npackage \"nginx\" when=\"web\"\npackage \"nginx\" when=\"db\" version=\"1.22\"\n"
);

diag_case!(
    a_tag_is_a_word,
    "host \"a\"\npackage \"nginx\" tags=\"web server!\"\non \"a\" tags=\"\" {\n    package \"cron\"\n}\n"
);

diag_case!(
    when_and_tags_are_not_module_parameters,
    "host \"a\"\nuse \"m.kdl\" when=\"1 +\" app=\"x\"\n",
    &[("m.kdl", "params {\n    app\n    tags \"x\"\n}\npackage \"{{ app }}\"\n")]
);
diag_case!(copy_tree_source_that_is_not_there, "host \"a\"\ncopy-tree \"/srv/site\" source=\"files/nope/\"\n");
diag_case!(
    copy_tree_source_holding_a_name_the_probe_cannot_read,
    "host \"a\"\ncopy-tree \"/srv/site\" source=\"files/site/\"\n",
    &[("files/site/ok.txt", ""), ("files/site/sub/two\nlines", "")]
);
diag_case!(
    copy_tree_onto_the_root,
    "host \"a\"\ncopy-tree \"/\" source=\"files/site/\" purge=#true\n",
    &[("files/site/", "")]
);
