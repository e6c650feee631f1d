//! Modules: parameters, defaults, nesting, shared resources, and errors that point into
//! the module file and at the use site.

use crate::kinds::OnHost;
use crate::support::Project;

const APP_MODULE: &str = "params {\n    name\n    port 8000\n    user \"{{ name }}\"\n}\n\
package \"python3\"\n\
user \"{{ user }}\" system=#true home=\"/srv/{{ name }}\"\n\
directory \"/srv/{{ name }}/conf\" owner=\"{{ user }}\"\n\
file \"/srv/{{ name }}/conf/app.ini\" template=\"app.ini.j2\" owner=\"{{ user }}\"\n\
use \"logdir.kdl\" app=\"{{ name }}\"\n";

const LOGDIR_MODULE: &str = "params { app; }\ndirectory \"/var/log/{{ app }}\" mode=\"0750\"\n";

fn project(playbook: &str) -> Project {
    let p = Project::new();
    p.file("modules/app.kdl", APP_MODULE);
    p.file("modules/logdir.kdl", LOGDIR_MODULE);
    p.file("modules/app.ini.j2", "[app]\nname = {{ name }}\nport = {{ port }}\nhost = {{ host.name }}\n");
    p.file("playbook.kdl", playbook);
    p
}

#[test]
fn a_module_used_twice_shares_identical_resources() {
    let p = project(
        "host \"a\"\n\
         use \"modules/app.kdl\" name=\"shop\" port=8001\n\
         use \"modules/app.kdl\" name=\"blog\" user=\"writer\"\n",
    );
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(0);
    // python3 once; user, directory, file and log directory per app
    assert!(run.stdout.contains("(1 host, 9 resources in all)"), "{}", run.stdout);
}

#[test]
fn module_resources_converge_with_their_parameters() {
    let h = OnHost::new(
        "use \"modules/app.kdl\" name=\"shop\" port=8001\nuse \"modules/app.kdl\" name=\"blog\" user=\"writer\"\n",
    );
    h.project.file("modules/app.kdl", APP_MODULE);
    h.project.file("modules/logdir.kdl", LOGDIR_MODULE);
    h.project.file("modules/app.ini.j2", "[app]\nname = {{ name }}\nport = {{ port }}\nhost = {{ host.name }}\n");
    h.four_steps();
    assert_eq!(h.sh("cat /srv/shop/conf/app.ini"), "[app]\nname = shop\nport = 8001\nhost = t\n");
    assert_eq!(
        h.sh("cat /srv/blog/conf/app.ini; stat -c %U /srv/blog/conf"),
        "[app]\nname = blog\nport = 8000\nhost = t\nwriter\n"
    );
    assert_eq!(h.sh("stat -c %a /var/log/shop /var/log/blog"), "750\n750\n");
}

fn check_fails(p: &Project) -> String {
    let run = p.converge(&["check", "playbook.kdl"]);
    run.expect(1);
    run.stderr
}

#[test]
fn errors_inside_a_module_point_at_the_module_and_the_use() {
    let p = project("host \"a\"\nuse \"modules/broken.kdl\" name=\"x\"\n");
    p.file("modules/broken.kdl", "params { name; }\ndirectory \"/srv/{{ name }}\" mode=0755\n");
    insta::assert_snapshot!(check_fails(&p));
}

#[test]
fn parameters_are_checked_at_the_use_site() {
    let p = project("host \"a\"\nuse \"modules/app.kdl\" nmae=\"shop\" prot=1\n");
    insta::assert_snapshot!(check_fails(&p));
}

#[test]
fn a_module_that_uses_itself_is_an_error() {
    let p = project("host \"a\"\nuse \"modules/loop.kdl\"\n");
    p.file("modules/loop.kdl", "directory \"/x\"\nuse \"loop.kdl\"\n");
    insta::assert_snapshot!(check_fails(&p));
}

#[test]
fn differing_duplicates_from_modules_are_errors() {
    let p = project("host \"a\"\nuse \"modules/app.kdl\" name=\"shop\"\nuser \"shop\" system=#false\n");
    let err = check_fails(&p);
    assert!(err.contains("`user:shop` is declared twice") && err.contains("in the module used here"), "{err}");
}
