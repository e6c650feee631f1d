//! The `container` kind against a real podman inside a test host: podman, crun and
//! busybox-static installed offline by a `package` resource, podman set up for an nspawn
//! host by `file` resources (vfs storage, no keyrings), an image made in the test with
//! `podman import` from a directory holding busybox. The host is checked directly
//! (`podman ps`, `podman inspect`, `podman exec`, HTTP from the controller), not through
//! converge. docker shares the code path and is covered by the kind's fixture tests (the
//! docker engine cannot start containers inside these hosts).

use crate::kinds::OnHost;
use crate::support::http_get;

/// What podman needs on these hosts, as the test playbook writes it.
const ENGINE: &str = r#"package "podman" "crun" "busybox-static"
file "/etc/containers/storage.conf" require="package:podman" content="[storage]\ndriver = \"vfs\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/var/lib/containers/storage\"\n"
file "/etc/containers/containers.conf" require="package:podman" content="[containers]\nkeyring = false\n"
"#;

/// The hostile catalogue as one value: an environment value and a command word of the
/// container must reach the engine exactly.
fn hostile() -> String {
    crate::hostile::PAYLOADS.iter().map(|p| crate::hostile::untemplated(p)).collect::<Vec<_>>().join(" ")
}

/// The served directory and the container serving it on the host's port 8080 (busybox
/// httpd under a shell that exits on SIGTERM, so `stop` is quick). The shell gets a
/// hostile `$0` it never uses, and a hostile environment variable.
fn app(greeting: &str, extra: &str) -> String {
    let h = crate::hostile::kdl_str(&hostile());
    format!(
        r#"{ENGINE}
directory "/srv/www"
file "/srv/www/index.html" content="{{{{ page }}}}\n" notify="container:web"
container "web" engine="podman" image="localhost/app:1" network="host" restart="always" runtime="crun" cgroups="disabled" {extra}{{
    command "/bin/busybox" "sh" "-c" "trap 'exit 0' TERM; /bin/busybox httpd -f -p 8080 -h /www & wait" {h}
    mount "/srv/www" "/www" read-only=#true
    env {{ GREETING "{greeting}"; HOSTILE {h}; }}
}}
"#
    )
}

/// `tar | podman import` of a directory with busybox and a `/version` file.
fn import_image(h: &OnHost, version: &str) -> String {
    h.sh(&format!(
        "set -e; d=$(mktemp -d); mkdir \"$d/bin\"; cp /bin/busybox \"$d/bin/\"; echo {version} > \"$d/version\"; \
         tar -C \"$d\" -c . | podman import -q - localhost/app:1 >/dev/null; rm -rf \"$d\"; \
         podman image inspect --format '{{{{.Id}}}}' localhost/app:1"
    ))
}

fn with_page(playbook: &str, page: &str) -> String {
    format!("vars {{ page \"{page}\" }}\n{playbook}")
}

fn inspect(h: &OnHost, format: &str) -> String {
    h.sh(&format!("podman container inspect --format '{format}' web"))
}

fn exec(h: &OnHost, cmd: &str) -> String {
    h.sh(&format!("podman exec web /bin/busybox {cmd}"))
}

#[test]
fn podman_container_runs_is_recreated_on_change_and_stops() {
    let h = OnHost::new(ENGINE);
    h.run("apply", &[]).expect(0);
    let v1 = import_image(&h, "v1");

    // the four steps: created and running
    h.playbook(&with_page(&app("hi", ""), "hello from the host"));
    let report = h.four_steps();
    let web =
        report["hosts"][0]["resources"].as_array().expect("resources").iter().find(|r| r["id"] == "container:web");
    assert_eq!(web.expect("container in the report")["action"], "create");
    assert_eq!(h.sh("podman ps --format '{{.Names}} {{.Image}}'"), "web localhost/app:1\n");
    assert_eq!(
        inspect(
            &h,
            "{{.State.Running}} {{.Image}} {{.HostConfig.NetworkMode}} {{.HostConfig.RestartPolicy.Name}} {{.OCIRuntime}}"
        ),
        format!("true {} host always crun\n", v1.trim())
    );
    assert_eq!(inspect(&h, "{{range .Mounts}}{{.Source}} {{.Destination}} {{.RW}}{{end}}"), "/srv/www /www false\n");
    assert_eq!(exec(&h, "sh -c 'echo \"$GREETING\"'"), "hi\n");
    // the hostile word and value, exactly, as the engine keeps them
    let config: serde_json::Value =
        serde_json::from_str(&inspect(&h, "{{json .Config}}")).expect("podman's JSON of the container");
    assert_eq!(config["Cmd"].as_array().and_then(|c| c.last()).and_then(|c| c.as_str()), Some(hostile().as_str()));
    let hostile_env = format!("HOSTILE={}", hostile());
    assert!(
        config["Env"].as_array().expect("env").iter().any(|e| e.as_str() == Some(hostile_env.as_str())),
        "{}",
        config["Env"]
    );
    let page = http_get(h.container.address(), 8080, "t", "/index.html");
    assert!(page.starts_with("HTTP/1.") && page.ends_with("hello from the host\n"), "{page}");

    // a new env value: shown, then the container is re-created with it
    let first_id = inspect(&h, "{{.Id}}");
    h.playbook(&with_page(&app("hello", ""), "hello from the host"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("env.GREETING: hi → hello"), "{}", diff.stdout);
    assert!(diff.stdout.contains("note (the container is removed and created again)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(exec(&h, "sh -c 'echo \"$GREETING\"'"), "hello\n");
    assert_ne!(inspect(&h, "{{.Id}}"), first_id, "a new container");
    h.run("diff", &[]).expect(0);

    // the tag moves to a second image: re-created from it
    let v2 = import_image(&h, "v2");
    assert_ne!(v1, v2);
    let diff = h.run("diff", &[]);
    diff.expect(2);
    let short = |id: &str| id.trim().get(..12).unwrap_or_default().to_string();
    let line = format!("image: localhost/app:1 ({}) → localhost/app:1 ({})", short(&v1), short(&v2));
    assert!(diff.stdout.contains(&line), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(exec(&h, "cat /version"), "v2\n");
    assert_eq!(inspect(&h, "{{.Image}}"), v2);

    // the bind-mounted page changes: the container is restarted, not re-created
    let (id, started) = (inspect(&h, "{{.Id}}"), inspect(&h, "{{.State.StartedAt}}"));
    h.playbook(&with_page(&app("hello", ""), "second page"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("restart (notified by file:/srv/www/index.html)"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(inspect(&h, "{{.Id}}"), id);
    assert_ne!(inspect(&h, "{{.State.StartedAt}}"), started, "restarted");
    assert!(http_get(h.container.address(), 8080, "t", "/").ends_with("second page\n"));

    // drift: stopped by hand, started again
    h.sh("podman stop web >/dev/null");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("state: exited → running"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    assert_eq!(inspect(&h, "{{.State.Running}} {{.Id}}"), format!("true {}", id));

    // wanted stopped, then absent
    h.playbook(&with_page(&app("hello", "state=\"stopped\" "), "second page"));
    h.run("apply", &[]).expect(0);
    assert_eq!(inspect(&h, "{{.State.Running}}"), "false\n");
    h.run("diff", &[]).expect(0);
    h.playbook(&format!("{ENGINE}container \"web\" engine=\"podman\" state=\"absent\"\n"));
    h.run("apply", &[]).expect(0);
    assert_eq!(h.sh("podman container exists web && echo present || echo absent"), "absent\n");
    h.run("diff", &[]).expect(0);

    // an image that is not on the host: pull="never" refuses, pull="missing" reports the
    // engine's own error (there is no registry here); nothing is left behind
    let missing = |pull: &str| {
        format!(
            "{ENGINE}container \"web\" engine=\"podman\" image=\"localhost/app:9\" pull=\"{pull}\" network=\"host\" \
             runtime=\"crun\" cgroups=\"disabled\" command=\"/bin/busybox sleep 60\"\n"
        )
    };
    h.playbook(&missing("never"));
    let diff = h.run("diff", &[]);
    assert!(diff.stdout.contains("image: (absent) → localhost/app:9 (not on the host)"), "{}", diff.stdout);
    let failed = h.run("apply", &[]);
    failed.expect(1);
    assert!(
        failed.stdout.contains("image localhost/app:9 is not on the host, and pull=\"never\""),
        "{}",
        failed.stdout
    );
    h.playbook(&missing("missing"));
    let failed = h.run("apply", &[]);
    failed.expect(1);
    assert!(failed.stdout.contains("localhost/app:9"), "{}", failed.stdout);
    assert_eq!(h.sh("podman ps -a --format '{{.Names}}' | wc -l"), "0\n");
}
