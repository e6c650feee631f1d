//! The container kind from fixtures: KDL in → the kind or its diagnostics; inspect JSON in
//! → the plan's fields and the exact shell out.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Value;

use super::inspect::fixtures::{DOCKER, DOCKER_IMAGE, PODMAN, PODMAN_IMAGE};
use super::spec::parse_port;
use super::*;
use crate::diag::Diags;
use crate::resources::{ResourceId, b64};
use crate::template::Templates;

/// Builds the first node of `kdl` as a container, or returns every diagnostic message
/// and help text.
fn build(kdl: &str) -> Result<Container, String> {
    let src = crate::diag::source("t.kdl", kdl.to_string());
    let doc: kdl::KdlDocument = kdl.parse().expect("kdl");
    let templates = Templates::new(Path::new(".")).with_secrets(vec![SECRET.into()]);
    let ctx = Value::from(BTreeMap::<String, Value>::new());
    let mut diags = Diags::default();
    let mut r = NodeReader::new(&doc.nodes()[0], &src, Path::new("."), &templates, &ctx, &mut diags);
    let c = Container::build(&mut r);
    let ok = r.finish();
    match c {
        Some(c) if ok => Ok(c),
        _ => Err(diags
            .iter()
            .map(|d| format!("{} [{}]", d.message, d.help.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// A secret value the playbooks of these tests may render.
const SECRET: &str = "s3cr3t-Zebra";

fn err(kdl: &str) -> String {
    build(kdl).expect_err("should not build")
}

/// A probe output: the container and image as the engine printed them.
fn probe_out(container: Option<&str>, image: Option<&str>) -> String {
    let mut out = String::from("engine=present\n");
    match container {
        Some(c) => out.push_str(&format!("container={}\n", b64(c))),
        None => out.push_str("container-error=Error: inspecting object: no such container web\n"),
    }
    match image {
        Some(i) => out.push_str(&format!("image={}\n", b64(i))),
        None => out.push_str("image-error=Error: inspecting object: localhost/app:1: image not known\n"),
    }
    out
}

/// The container of the podman fixture, exactly.
const WEB: &str = r#"container "web" engine="podman" image="localhost/app:1" network="host" restart="always" runtime="crun" cgroups="disabled" {
    command "/bin/busybox" "httpd" "-f" "-p" "8080" "-h" "/www"
    mount "/srv/www" "/www" read-only=#true
    env { GREETING "hi"; }
}"#;

fn plan(c: &Container, out: &str, cx: &PlanCx) -> (Diff, String) {
    crate::resources::plan_with(c, out, cx)
}

fn fields(d: &Diff) -> Vec<String> {
    d.changes
        .iter()
        .map(|c| format!("{}: {} -> {}", c.field(), c.before().unwrap_or("-"), c.after().unwrap_or("-")))
        .collect()
}

#[test]
fn the_seed_runbook_container_builds() {
    let c = build(
        r#"container "viewbovis" image="viewbovis" network="host" {
            mount "/ViewBovis" "/data"
            mount "/var/log/viewbovis-access.log" "/ViewBovis/access.log"
            mount "/var/log/viewbovis-error.log" "/ViewBovis/error.log"
        }"#,
    )
    .expect("build");
    assert_eq!(c.engine, Engine::Docker);
    assert_eq!(c.mounts.len(), 3);
    assert!(!c.mounts["/data"].read_only);
    let deps: Vec<String> = c.deps().iter().map(|d| d.target.to_string()).collect();
    for want in ["package:docker.io", "service:docker", "directory:/ViewBovis", "file:/var/log/viewbovis-access.log"] {
        assert!(deps.contains(&want.to_string()), "{want} not in {deps:?}");
    }
}

#[test]
fn properties_are_validated_at_the_token() {
    assert!(err(r#"container "x" image="a""#).contains("`x` is not a container name"));
    assert!(err(r#"container "web""#).contains("a container needs an `image`"));
    assert!(build(r#"container "web" state="absent""#).is_ok());
    assert!(err(r#"container "web" image="-x""#).contains("not an image reference"));
    let e = err(r#"container "web" image="a" network="host" { port "8080:80"; }"#);
    assert!(e.contains("ports are not published on the host network"), "{e}");
    assert!(err(r#"container "web" image="a" { port "80"; }"#).contains("`80` is not a port binding"));
    assert!(err(r#"container "web" image="a" { port "8080:80/icmp"; }"#).contains("not a port binding"));
    assert!(err(r#"container "web" image="a" cgroups="disabled""#).contains("`cgroups` is a podman option"));
    assert!(err(r#"container "web" engine="podman" image="a" cgroups="off""#).contains("cannot be \"off\""));
    assert!(err(r#"container "web" image="a" restart="sometimes""#).contains("not a restart policy"));
    assert!(err(r#"container "web" image="a" { env { "1BAD" "x"; }; }"#).contains("`1BAD` is not a variable name"));
    assert!(err(r#"container "web" image="a" { env { A "x"; A "y"; }; }"#).contains("`A` is set twice"));
    assert!(err(r#"container "web" image="a" { env { A; }; }"#).contains("`A` needs a value"));
    assert!(err(r#"container "web" image="a" { mount "/a,b" "/c"; }"#).contains("cannot hold `,`"));
    assert!(err(r#"container "web" image="a" { mount "rel/dir" "/c"; }"#).contains("neither a host path nor a volume"));
    assert!(err(r#"container "web" image="a" { mount "/a" "c"; }"#).contains("absolute path"));
    assert!(err(r#"container "web" image="a" { mount "/a" "/c"; mount "/b" "/c/"; }"#).contains("mounted twice"));
    let e = err(r#"container "web" image="a" { mount "/a" "/c" readonly=#true; }"#);
    assert!(e.contains("`mount` has no property `readonly`") && e.contains("did you mean `read-only`?"), "{e}");
    assert!(err(r#"container "web" image="a" { mount "/a" "/c" "/d"; }"#).contains("`mount` takes 2 values"));
    assert!(err(r#"container "web" image="a" command="sh -c 'x""#).contains("cannot be split into words"));
    assert!(err(r#"container "web" image="a" command="a" { command "b"; }"#).contains("given twice"));
    // require/notify belong to the resource, not to its children
    assert!(
        err(r#"container "web" image="a" { mount "/a" "/c" require="file:/a"; }"#).contains("no property `require`")
    );
}

#[test]
fn secrets_never_go_on_the_engines_command_line() {
    let e = err(r#"container "web" image="a" { env { DB_PASSWORD "s3cr3t-Zebra"; }; }"#);
    assert!(e.contains("`DB_PASSWORD` holds a secret") && e.contains("mount it"), "{e}");
    assert!(
        err(r#"container "web" image="a" command="app --key=s3cr3t-Zebra""#).contains("the command holds a secret")
    );
    assert!(
        err(r#"container "web" image="a" { command "app" "s3cr3t-Zebra"; }"#).contains("the command holds a secret")
    );
    assert!(
        err(r#"container "web" image="a" extra-args="--label=s3cr3t-Zebra""#).contains("this argument holds a secret")
    );
}

#[test]
fn ports_are_normalised() {
    assert_eq!(parse_port("8080:80"), Ok("8080:80/tcp".into()));
    assert_eq!(parse_port("127.0.0.1:53:53/udp"), Ok("127.0.0.1:53:53/udp".into()));
    assert_eq!(parse_port("[::1]:8080:80"), Ok("[::1]:8080:80/tcp".into()));
    assert!(parse_port("0:80").is_err());
    assert!(parse_port("a:b:c:d").is_err());
    let c = build(r#"container "web" image="a" { port "8080:80" "127.0.0.1:9000:9000/udp"; }"#).expect("build");
    assert_eq!(c.ports.iter().collect::<Vec<_>>(), ["127.0.0.1:9000:9000/udp", "8080:80/tcp"]);
}

#[test]
fn the_probe_inspects_the_container_and_the_image_and_nothing_else() {
    let c = build(WEB).expect("build");
    let mut sh = Sh::new();
    c.probe(&mut sh);
    let text = sh.text();
    assert!(text.starts_with("n=web\nif command -v podman >/dev/null 2>&1; then\n"), "{text}");
    assert!(text.contains("if o=$(podman container inspect -- \"$n\" 2>/dev/null); then"), "{text}");
    assert!(text.contains("i=localhost/app:1\nif o=$(podman image inspect -- \"$i\" 2>/dev/null); then"), "{text}");
    assert!(text.contains("systemctl is-enabled podman-restart.service"), "{text}");
    assert!(!text.contains(" pull") && !text.contains(" rm ") && !text.contains(" run "), "{text}");
    let absent = build(r#"container "web" state="absent""#).expect("build");
    let mut sh = Sh::new();
    absent.probe(&mut sh);
    assert!(!sh.text().contains("image inspect") && !sh.text().contains("podman-restart"), "{}", sh.text());
}

#[test]
fn a_container_as_wanted_is_in_sync() {
    let c = build(WEB).expect("build");
    let out = probe_out(Some(PODMAN), Some(PODMAN_IMAGE)) + "restart-unit=enabled\n";
    let (diff, _) = plan(&c, &out, &PlanCx::default());
    assert!(diff.is_ok(), "{:?}", fields(&diff));
}

#[test]
fn a_new_container_is_pulled_if_missing_and_run_with_every_setting() {
    let c = build(&WEB.replace(r#"GREETING "hi";"#, r#"GREETING "it's me"; A_B "1";"#)).expect("build");
    let (diff, sh) = plan(&c, &probe_out(None, None), &PlanCx::default());
    assert_eq!(diff.action, Action::Create);
    assert_eq!(
        fields(&diff),
        [
            "image: - -> localhost/app:1 (to pull)",
            "command: - -> /bin/busybox httpd -f -p 8080 -h /www",
            "env.A_B: - -> 1",
            "env.GREETING: - -> it's me",
            "mount /www: - -> /srv/www (read-only)",
            "network: - -> host",
            "restart-policy: - -> always",
            "runtime: - -> crun",
            "cgroups: - -> disabled",
            "state: - -> running",
        ]
    );
    assert_eq!(
        sh,
        "n=web\n\
         i=localhost/app:1\n\
         if ! podman image inspect -- \"$i\" >/dev/null 2>&1; then podman pull -- \"$i\"; fi\n\
         podman run -d --name \"$n\" --runtime crun --cgroups disabled --network host --restart always \
         --mount 'type=bind,source=/srv/www,target=/www,readonly=true' --env 'A_B=1' --env \"GREETING=it's me\" \
         --label 'converge.env=A_B,GREETING' -- \"$i\" /bin/busybox httpd -f -p 8080 -h /www >/dev/null\n"
    );
}

#[test]
fn the_engine_missing_means_everything_is_to_create() {
    let c = build(WEB).expect("build");
    let (diff, sh) = plan(&c, "engine=missing\n", &PlanCx::default());
    assert_eq!(diff.action, Action::Create);
    assert!(sh.contains("podman run -d"), "{sh}");
}

#[test]
fn a_changed_env_value_recreates_the_container() {
    let c = build(&WEB.replace(r#""hi""#, r#""hello""#)).expect("build");
    let out = probe_out(Some(PODMAN), Some(PODMAN_IMAGE));
    let (diff, sh) = plan(&c, &out, &PlanCx::default());
    assert_eq!(diff.action, Action::Change);
    assert_eq!(fields(&diff), ["env.GREETING: hi -> hello", "note: - -> the container is removed and created again"]);
    assert_eq!(
        sh,
        "n=web\n\
         if [ -z \"${CV_DOWNSTREAM:-}\" ] && [ \"$(podman container inspect --format '{{.Id}}' -- \"$n\" 2>/dev/null)\" != \
         2189044d39d227ed4b71bad8e6031dc5da08990ce5ea5cddc6560c55995e0be1 ]; then cv_changed_since_plan \"container $n\"; fi\n\
         i=localhost/app:1\n\
         if ! podman image inspect -- \"$i\" >/dev/null 2>&1; then podman pull -- \"$i\"; fi\n\
         if podman container inspect -- \"$n\" >/dev/null 2>&1; then podman stop -- \"$n\" >/dev/null; podman rm -f -- \"$n\" >/dev/null; fi\n\
         podman run -d --name \"$n\" --runtime crun --cgroups disabled --network host --restart always \
         --mount 'type=bind,source=/srv/www,target=/www,readonly=true' --env 'GREETING=hello' \
         --label 'converge.env=GREETING' -- \"$i\" /bin/busybox httpd -f -p 8080 -h /www >/dev/null\n"
    );
}

#[test]
fn an_env_variable_removed_from_the_playbook_is_noticed_but_the_engines_own_are_not() {
    let c = build(&WEB.replace(r#"env { GREETING "hi"; }"#, "")).expect("build");
    let (diff, _) = plan(&c, &probe_out(Some(PODMAN), Some(PODMAN_IMAGE)), &PlanCx::default());
    assert_eq!(fields(&diff)[0], "env.GREETING: hi -> -");
    // without our label (a container made by hand), only the wanted variables are compared
    let unlabelled = PODMAN.replace(r#""Labels": { "converge.env": "GREETING" }"#, r#""Labels": null"#);
    let (diff, _) = plan(&c, &probe_out(Some(&unlabelled), Some(PODMAN_IMAGE)), &PlanCx::default());
    assert!(diff.is_ok(), "{:?}", fields(&diff));
}

#[test]
fn a_tag_moved_to_a_new_image_recreates_the_container() {
    let c = build(WEB).expect("build");
    let newer = PODMAN_IMAGE.replace("4abb30d73d07d359", "77aa30d73d07d359");
    let (diff, sh) = plan(&c, &probe_out(Some(PODMAN), Some(&newer)), &PlanCx::default());
    assert_eq!(
        fields(&diff),
        [
            "image: localhost/app:1 (4abb30d73d07) -> localhost/app:1 (77aa30d73d07)",
            "note: - -> the container is removed and created again"
        ]
    );
    assert!(sh.contains("podman rm -f") && sh.contains("podman run -d"), "{sh}");
    // an image that is not on the host, with pull="never": the step says so
    let never = build(&WEB.replace("cgroups=", "pull=\"never\" cgroups=")).expect("build");
    let (diff, sh) = plan(&never, &probe_out(Some(PODMAN), None), &PlanCx::default());
    assert_eq!(fields(&diff)[0], "image: localhost/app:1 (4abb30d73d07) -> localhost/app:1 (not on the host)");
    assert!(
        sh.contains("then printf '%s\\n' \"image $i is not on the host, and pull=\\\"never\\\"\" >&2; exit 1; fi\n"),
        "{sh}"
    );
    let always = build(&WEB.replace("cgroups=", "pull=\"always\" cgroups=")).expect("build");
    let (_, sh) = plan(&always, &probe_out(Some(PODMAN), Some(&newer)), &PlanCx::default());
    assert!(sh.contains("\npodman pull -- \"$i\"\n"), "{sh}");
}

#[test]
fn without_a_command_the_images_own_is_wanted() {
    let c = build(&WEB.replace(r#"command "/bin/busybox" "httpd" "-f" "-p" "8080" "-h" "/www""#, "")).expect("build");
    let image = PODMAN_IMAGE.replace(r#""Config": {}"#, r#""Config": {"Cmd": ["/bin/sh"]}"#);
    let (diff, sh) = plan(&c, &probe_out(Some(PODMAN), Some(&image)), &PlanCx::default());
    assert!(fields(&diff).contains(&"command: /bin/busybox httpd -f -p 8080 -h /www -> /bin/sh".to_string()));
    assert!(sh.contains(" -- \"$i\" >/dev/null\n"), "{sh}");
}

#[test]
fn only_the_run_state_changes_without_a_new_container() {
    let c = build(WEB).expect("build");
    let stopped = PODMAN.replace(r#""Status": "running", "Running": true"#, r#""Status": "exited", "Running": false"#);
    let (diff, sh) = plan(&c, &probe_out(Some(&stopped), Some(PODMAN_IMAGE)), &PlanCx::default());
    assert_eq!(fields(&diff), ["state: exited -> running"]);
    assert!(sh.ends_with("\npodman start -- \"$n\" >/dev/null\n"), "{sh}");
    assert!(!sh.contains(" rm ") && !sh.contains(" run "), "{sh}");
    let c = build(&WEB.replace("engine=", "state=\"stopped\" engine=")).expect("build");
    let (diff, sh) = plan(&c, &probe_out(Some(PODMAN), Some(PODMAN_IMAGE)), &PlanCx::default());
    assert_eq!(fields(&diff), ["state: running -> stopped"]);
    assert!(sh.ends_with("\npodman stop -- \"$n\" >/dev/null\n"), "{sh}");
    // a new stopped container is created, not run
    let (_, sh) = plan(&c, &probe_out(None, Some(PODMAN_IMAGE)), &PlanCx::default());
    assert!(sh.contains("\npodman create --name \"$n\""), "{sh}");
}

#[test]
fn absent_removes_it() {
    let c = build(r#"container "web" engine="podman" state="absent""#).expect("build");
    let out = format!("engine=present\ncontainer={}\n", b64(PODMAN));
    let (diff, sh) = plan(&c, &out, &PlanCx::default());
    assert_eq!(diff.action, Action::Remove);
    assert_eq!(fields(&diff), ["state: running -> -"]);
    assert!(sh.ends_with("podman stop -- \"$n\" >/dev/null; podman rm -f -- \"$n\" >/dev/null; fi\n"), "{sh}");
    let (diff, _) = plan(&c, "engine=present\ncontainer-error=Error: no such container web\n", &PlanCx::default());
    assert!(diff.is_ok());
    let (diff, _) = plan(&c, "engine=missing\n", &PlanCx::default());
    assert!(diff.is_ok());
}

#[test]
fn a_notification_restarts_a_running_container_unless_it_is_recreated() {
    let c = build(WEB).expect("build");
    let cx =
        PlanCx { notified_by: vec![ResourceId::new("file", "/srv/www/index.html")], owed: false, ..PlanCx::default() };
    let (diff, sh) = plan(&c, &probe_out(Some(PODMAN), Some(PODMAN_IMAGE)), &cx);
    assert_eq!(diff.action, Action::Refresh);
    assert_eq!(fields(&diff), ["restart: - -> notified by file:/srv/www/index.html"]);
    assert!(sh.ends_with("\npodman restart -- \"$n\" >/dev/null\n"), "{sh}");
    let changed = build(&WEB.replace(r#""hi""#, r#""hello""#)).expect("build");
    let (diff, _) = plan(&changed, &probe_out(Some(PODMAN), Some(PODMAN_IMAGE)), &cx);
    assert!(!fields(&diff).iter().any(|f| f.starts_with("restart:")), "{:?}", fields(&diff));
    let (diff, _) = plan(
        &c,
        &probe_out(Some(PODMAN), Some(PODMAN_IMAGE)),
        &PlanCx { notified_by: vec![], owed: true, ..PlanCx::default() },
    );
    assert_eq!(fields(&diff), ["restart: - -> owed by an earlier run"]);
}

#[test]
fn podman_restart_service_is_enabled_for_always_containers() {
    let c = build(WEB).expect("build");
    let out = probe_out(Some(PODMAN), Some(PODMAN_IMAGE)) + "restart-unit=disabled\n";
    let (diff, sh) = plan(&c, &out, &PlanCx::default());
    assert_eq!(fields(&diff), ["podman-restart.service: disabled -> enabled"]);
    assert!(sh.ends_with("\nsystemctl enable podman-restart.service\n"), "{sh}");
}

#[test]
fn a_container_whose_id_starts_with_the_name_is_not_ours() {
    let c = build(&WEB.replace(r#""web""#, r#""2189""#)).expect("build");
    let (diff, sh) = plan(&c, &probe_out(Some(PODMAN), Some(PODMAN_IMAGE)), &PlanCx::default());
    assert_eq!(diff.action, Action::Create);
    assert!(!sh.contains(" rm ") && !sh.contains(" stop "), "{sh}");
    let absent = build(r#"container "2189" engine="podman" state="absent""#).expect("build");
    let (diff, _) = plan(&absent, &format!("engine=present\ncontainer={}\n", b64(PODMAN)), &PlanCx::default());
    assert!(diff.is_ok(), "never removes another container");
}

#[test]
fn broken_probes_are_errors_not_plans() {
    let c = build(WEB).expect("build");
    let e = c.parse("engine=present\ncontainer-error=Error: cannot open database\n").expect_err("error");
    assert!(e.0.contains("cannot open database"), "{e}");
    assert!(c.parse("engine=present\ncontainer=!!!\n").is_err());
    assert!(c.parse(&format!("engine=present\ncontainer={}\n", b64("[1]"))).is_err());
    assert!(c.parse("engine=present\ncontainer-error=\n").is_err());
    assert!(c.parse("nothing=here\n").is_err());
    let no_image = format!("engine=present\ncontainer={}\n", b64(PODMAN));
    assert!(c.parse(&no_image).is_err(), "the image probe is missing");
}

/// The docker container of the fixture, as a playbook would say it.
const VIEWBOVIS: &str = r#"container "viewbovis" image="aphacsubot/viewbovis:prod" network="bridge" restart="on-failure:3" runtime="runc" state="stopped" {
    port "127.0.0.1:3000:3000"
    mount "viewbovis-data" "/data"
    mount "/var/log/viewbovis-access.log" "/ViewBovis/access.log"
    env { LOG_LEVEL "info"; }
}"#;

#[test]
fn docker_shares_the_code_path() {
    let c = build(VIEWBOVIS).expect("build");
    let labelled = DOCKER.replace(r#""Labels": {}"#, r#""Labels": {"converge.env": "LOG_LEVEL"}"#);
    let (diff, _) = plan(&c, &probe_out(Some(&labelled), Some(DOCKER_IMAGE)), &PlanCx::default());
    assert!(diff.is_ok(), "{:?}", fields(&diff));
    // another port, a read-only mount and extra arguments: one new container
    let c = build(
        &VIEWBOVIS
            .replace("127.0.0.1:3000:3000", "3001:3000")
            .replace(r#""/data""#, r#""/data" read-only=#true"#)
            .replace("state=", r#"extra-args="--init" state="#),
    )
    .expect("build");
    let (diff, sh) = plan(&c, &probe_out(Some(&labelled), Some(DOCKER_IMAGE)), &PlanCx::default());
    assert_eq!(
        fields(&diff),
        [
            "mount /data: viewbovis-data (read-write) -> viewbovis-data (read-only)",
            "ports: 127.0.0.1:3000:3000/tcp -> 3001:3000/tcp",
            "extra-args: - -> --init",
            "note: - -> the container is removed and created again",
        ]
    );
    assert!(
        sh.ends_with(
            "docker create --name \"$n\" --runtime runc --network bridge --restart on-failure:3 \
             --publish 3001:3000/tcp --mount 'type=bind,source=/var/log/viewbovis-access.log,target=/ViewBovis/access.log' \
             --mount 'type=volume,source=viewbovis-data,target=/data,readonly=true' --env 'LOG_LEVEL=info' \
             --label 'converge.env=LOG_LEVEL' --label 'converge.extra-args=[\"--init\"]' --init -- \"$i\" >/dev/null\n"
        ),
        "{sh}"
    );
    assert!(sh.contains("docker container inspect --format '{{.Id}}'"), "{sh}");
}
