//! playbooks/elife-bot.kdl (seed 003) with the inventory `converge sandbox` uses
//! (playbooks/elife-bot.sandbox.kdl), nothing set up by the test but the secrets it
//! exports: settings.py with the AWS secret, mode 0600, the secret never printed; five
//! workers and three deciders per environment, run from the checkout as the project runs
//! them; both */5 cron entries, and the command they run doing its work; time sync active.

use converge::sandbox::write_ssh_config;

use crate::kinds::boot;
use crate::support::{Project, converge_env, copy_playbooks};

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

#[test]
fn elife_bot_converges_and_never_prints_its_secret() {
    let c = boot("elife-bot");
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
    crate::seeds::baseline("elife_bot", &c.address().to_string(), run);

    let home = "/home/localgit/elife-bot";
    let settings = c.sh_ok(&format!("stat -c %a {home}/settings.py; cat {home}/settings.py"));
    assert!(settings.starts_with("600\n") && settings.contains(SECRET), "the secret reached the host in a 0600 file");
    // the settings are what the bot's own get_settings reads, for both environments
    let read = c.sh_ok(&format!(
        "cd {home} && venv/bin/python -c 'import settings; print(settings.get_settings(\"dev\").domain, settings.get_settings(\"live\").domain)'"
    ));
    assert_eq!(read, "Publish.dev Publish\n");
    let crontab = c.sh_ok("crontab -l -u root");
    assert!(crontab.contains(&format!("*/5 * * * * cd {home} && {home}/venv/bin/python cron.py -e dev")), "{crontab}");
    assert!(crontab.contains(&format!("*/5 * * * * cd {home} && {home}/venv/bin/python cron.py -e live")), "{crontab}");
    let units = c.sh_ok(
        "systemctl is-active elife-bot-worker@dev elife-bot-worker@live elife-bot-decider@dev elife-bot-decider@live chrony",
    );
    assert_eq!(units, "active\nactive\nactive\nactive\nactive\n");
    // five workers and three deciders per environment (each unit's process forks them)
    for (role, n) in [("worker", 5), ("decider", 3)] {
        for env in ["dev", "live"] {
            let count = c.sh_ok(&format!(
                "unit=elife-bot-{role}@{env}; for i in $(seq 50); do \
                   n=$(systemctl show -p MainPID --value $unit | xargs pgrep -c -P); [ \"$n\" = {n} ] && break; sleep 0.2; done; echo $n"
            ));
            assert_eq!(count.trim(), n.to_string(), "{role}s of {env}");
        }
    }
    // they poll with the settings they read: the log the project writes in the checkout
    let log = c.sh_ok(&format!(
        "for i in $(seq 50); do grep -q 'polling for decision' {home}/decider.log 2>/dev/null && break; sleep 0.2; done; cat {home}/worker.log {home}/decider.log"
    ));
    assert!(log.contains("polling for activity... (domain Publish.dev") && log.contains("(domain Publish,"), "{log}");
    // the cron's command, run once as cron runs it, starts the five-minute workflow
    c.sh_ok(&format!("cd {home} && {home}/venv/bin/python cron.py -e live > /dev/null"));
    assert!(c.sh_ok(&format!("cat {home}/starts.log")).contains("cron_FiveMinute Publish\n"));
    assert!(c.sh_ok(&format!("cat {home}/cron.log")).contains("starting cron_FiveMinute, workflow_id cron_FiveMinute"));
}
