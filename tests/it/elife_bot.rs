//! playbooks/elife-bot.kdl (seed 003) with the inventory `converge sandbox` uses
//! (playbooks/elife-bot.sandbox.kdl), nothing set up by the test but the secrets it
//! exports. Checked from outside converge: settings.py with the AWS secret, mode 0600, the
//! secret never printed; five workers and three deciders per environment, run from the
//! checkout as the project runs them, each saying the commit and the elifetools it read
//! when its process started; both */5 cron entries, and the command they run doing its
//! work; time sync active. A new revision upstream that also moves the elifetools pin (a
//! git revision, the library's version unchanged, which pip alone would keep) reaches
//! every worker and decider in one apply, as new processes; after a reboot, with no
//! converge run, they all run again and the cron's command works. After each step,
//! `converge diff` has nothing to do.

use std::path::Path;

use converge::sandbox::{Container, write_ssh_config};

use crate::kinds::boot;
use crate::support::{Project, converge_env, copy_playbooks, repo};

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const HOME: &str = "/home/localgit/elife-bot";
const UNITS: [(&str, &str, usize); 4] =
    [("worker", "dev", 5), ("worker", "live", 5), ("decider", "dev", 3), ("decider", "live", 3)];

#[test]
fn elife_bot_converges_updates_its_pinned_library_and_survives_a_reboot() {
    // the bot's requirements.txt pins the stand-in elifetools by the commit the sandbox
    // makes of files/elife-bot/elife-tools: edited without the pin, nothing would install
    let original = repo().join("playbooks/files/elife-bot/elife-tools");
    let pinned = commit_of(&[&original]);
    let requirements = std::fs::read_to_string(repo().join("playbooks/files/elife-bot/app/requirements.txt"))
        .expect("requirements.txt");
    assert!(requirements.contains(&format!("@{pinned}#egg=elifetools")), "requirements.txt pins {pinned}");

    let mut c = boot("elife-bot");
    let p = Project::new();
    copy_playbooks(p.path());
    let cfg = write_ssh_config(p.path(), &[("elife-bot", &c)]).display().to_string();
    let env = [("ELIFE_AWS_ACCESS_KEY_ID", "AKIAEXAMPLEID"), ("ELIFE_AWS_SECRET_ACCESS_KEY", SECRET)];
    // every output stream of every run: the plans, the cold apply, the no-op apply
    let run = |cmd: &str, format: &str| {
        let args =
            [cmd, "playbooks/elife-bot.kdl", "--inventory", "playbooks/elife-bot.sandbox.kdl", "--ssh-config", &cfg];
        let run = converge_env(p.path(), &[&args[..], &["--format", format]].concat(), &env);
        assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET), "{cmd} printed the secret");
        run
    };
    let nothing_to_do = |after: &str| {
        let diff = run("diff", "human");
        assert_eq!(diff.code, 0, "after {after}, converge diff has changes:\n{}", diff.stdout);
    };
    crate::seeds::baseline("elife_bot", &c.address().to_string(), run);

    let settings = c.sh_ok(&format!("stat -c %a {HOME}/settings.py; cat {HOME}/settings.py"));
    assert!(settings.starts_with("600\n") && settings.contains(SECRET), "the secret reached the host in a 0600 file");
    // the settings are what the bot's own get_settings reads, for both environments
    let read = c.sh_ok(&format!(
        "cd {HOME} && venv/bin/python -c 'import settings; print(settings.get_settings(\"dev\").domain, settings.get_settings(\"live\").domain)'"
    ));
    assert_eq!(read, "Publish.dev Publish\n");
    let crontab = c.sh_ok("crontab -l -u root");
    assert!(crontab.contains(&format!("*/5 * * * * cd {HOME} && {HOME}/venv/bin/python cron.py -e dev")), "{crontab}");
    assert!(crontab.contains(&format!("*/5 * * * * cd {HOME} && {HOME}/venv/bin/python cron.py -e live")), "{crontab}");
    assert_eq!(c.sh_ok("systemctl is-active chrony"), "active\n");
    // they poll with the settings they read: the log the project writes in the checkout
    let log = c.sh_ok(&format!(
        "for i in $(seq 50); do grep -q 'polling for decision' {HOME}/decider.log 2>/dev/null && break; sleep 0.2; done; cat {HOME}/worker.log {HOME}/decider.log"
    ));
    assert!(log.contains("polling for activity... (domain Publish.dev") && log.contains("(domain Publish,"), "{log}");
    let first = journey(&c, "first");
    nothing_to_do("the journey");

    // a new revision upstream whose requirements.txt moves the elifetools pin to a new
    // commit of the library, its version unchanged
    let tools = p.path().join("playbooks/files/elife-bot/elife-tools");
    let init = tools.join("elifetools/__init__.py");
    let text = std::fs::read_to_string(&init).expect("__init__.py");
    std::fs::write(&init, text.replace("CHANGE = \"first\"", "CHANGE = \"second\"")).expect("write");
    let next = commit_of(&[&original, &tools]);
    let reqs = p.path().join("playbooks/files/elife-bot/app/requirements.txt");
    std::fs::write(&reqs, requirements.replace(&pinned, &next)).expect("write");
    let applied = run("apply", "json");
    assert_eq!(applied.code, 0, "{}", applied.stdout);
    let pip = applied.json()["hosts"][0]["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == format!("pip:{HOME}/venv")).cloned())
        .expect("the pip resource in the report");
    assert_eq!(pip["result"], "changed", "{pip}");
    let upstream = c.sh_ok("git -C /srv/upstream/elife-bot rev-parse --short HEAD").trim().to_string();
    assert_eq!(c.sh_ok(&format!("git -C {HOME} rev-parse --short HEAD")).trim(), upstream, "the checkout moved");
    let installed =
        c.sh_ok(&format!("cd / && {HOME}/venv/bin/python -c 'import elifetools; print(elifetools.CHANGE)'"));
    assert_eq!(installed, "second\n", "the library at the new pin is what the venv imports");
    let updated = journey(&c, "second");
    for (unit, pid) in &updated {
        assert!(!first.contains(&(unit.clone(), *pid)), "{unit} was restarted (still pid {pid})");
    }
    nothing_to_do("the update");

    // a reboot: everything runs again with no converge run
    c.reboot().expect("reboot");
    let rebooted = journey(&c, "second");
    assert_ne!(rebooted, updated, "new processes after the reboot");
    nothing_to_do("the reboot");
}

/// The commit the sandbox's upstream exec makes when the files are those of each of
/// `revisions` in turn (the same command, the same fixed dates and author, each commit
/// on the one before): what a requirements.txt pins.
fn commit_of(revisions: &[&Path]) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    let mut out = None;
    for dir in revisions {
        let script = "find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} + && cp -a \"$0/.\" . && \
                      git init -q -b master . && git add -A && GIT_AUTHOR_DATE=2019-05-01T00:00:00Z \
                      GIT_COMMITTER_DATE=2019-05-01T00:00:00Z git -c user.name=upstream \
                      -c user.email=upstream@example.org commit -q -m release && git rev-parse HEAD";
        let run = std::process::Command::new("sh")
            .args(["-c", script])
            .arg(dir)
            .current_dir(work.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git");
        assert!(run.status.success(), "git: {}", String::from_utf8_lossy(&run.stderr));
        out = Some(String::from_utf8_lossy(&run.stdout).trim().to_string());
    }
    out.expect("a revision")
}

/// The system at work, seen from the host: every worker and decider unit active with its
/// five or three processes, each of which logged, when it started, the checkout's commit
/// and the elifetools `change` it imported; then the cron's command, run once as cron
/// runs it, starts the five-minute workflow. Returns each unit's main PID.
fn journey(c: &Container, change: &str) -> Vec<(String, u32)> {
    let revision = c.sh_ok(&format!("git -C {HOME} rev-parse --short HEAD")).trim().to_string();
    let mut pids = Vec::new();
    for (role, env, n) in UNITS {
        let unit = format!("elife-bot-{role}@{env}");
        assert_eq!(c.sh_ok(&format!("systemctl is-active {unit}")), "active\n", "{unit}");
        // the unit's process forks its pollers, each logging its start (bounded wait)
        let want = format!("started: revision {revision}, elifetools 0.10.0 ({change})");
        let seen = c.sh_ok(&format!(
            "for i in $(seq 75); do main=$(systemctl show -p MainPID --value {unit}); kids=$(pgrep -P \"$main\" | sort -n); \
             n=0; for k in $kids; do grep -qF \"{role}_$k {want}\" {HOME}/{role}.log && n=$((n+1)); done; \
             [ \"$n\" = {n} ] && [ \"$(echo $kids | wc -w)\" = {n} ] && break; sleep 0.2; done; echo \"$main $n\""
        ));
        let (main, logged) = seen.trim().split_once(' ').expect("pid and count");
        assert_eq!(logged, n.to_string(), "{unit}: {n} processes that logged \"{want}\"");
        pids.push((unit, main.parse().expect("a pid")));
    }
    // the cron's command, as the crontab runs it, starts the five-minute workflow (cron
    // itself may run it too meanwhile, every five minutes: at least one more start)
    let line = c.sh_ok("crontab -l -u root | grep -F 'cron.py -e live'");
    let command = line.splitn(6, ' ').nth(5).expect("a command after the schedule").trim();
    let live = || -> usize {
        let starts = c.sh_ok(&format!("cat {HOME}/starts.log 2>/dev/null || true"));
        starts.lines().filter(|l| l.ends_with(" cron_FiveMinute Publish")).count()
    };
    let before = live();
    c.sh_ok(command);
    assert!(live() > before, "{}", c.sh_ok(&format!("cat {HOME}/starts.log")));
    assert!(c.sh_ok(&format!("cat {HOME}/cron.log")).contains("starting cron_FiveMinute, workflow_id cron_FiveMinute"));
    pids
}
