//! playbooks/elife-bot.kdl (seed 003): settings.py with the AWS secret, mode 0600, the
//! secret never printed; both */5 cron entries; the workers and deciders running; time
//! sync active.

use crate::seeds::{Seed, upstream_repo};

const BARE: &str = "/srv/upstream/elife-bot.git";
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

#[test]
fn elife_bot_converges_and_never_prints_its_secret() {
    let mut s = Seed::new("elife-bot.kdl", "elife-bot", &format!("        repo \"file://{BARE}\""));
    // the test host is a container: the playbook's "containers" group says what that changes
    s.inventory("group \"containers\" {\n    host \"elife-bot\"\n    vars { chrony_opts \"-F 1 -x\" }\n}\n");
    s.env("ELIFE_AWS_ACCESS_KEY_ID", "AKIAEXAMPLEID");
    s.env("ELIFE_AWS_SECRET_ACCESS_KEY", SECRET);
    upstream_repo(&s.container, "elife-bot/app", BARE, "master");
    // every run checks that the secret is printed in none of its output streams
    s.converge_twice("elife_bot");
    let settings = s.sh("stat -c %a /home/localgit/elife-bot/settings.py; cat /home/localgit/elife-bot/settings.py");
    assert!(settings.starts_with("600\n") && settings.contains(SECRET), "the secret reached the host in a 0600 file");
    let crontab = s.sh("crontab -l -u root");
    assert!(
        crontab.contains(
            "*/5 * * * * cd /home/localgit/elife-bot && /home/localgit/elife-bot/env/bin/elifebot cron --settings"
        ),
        "{crontab}"
    );
    assert!(crontab.contains("elifebot cron -e live"), "{crontab}");
    let units = s.sh("systemctl is-active elife-bot-worker@dev elife-bot-worker@live elife-bot-decider@dev elife-bot-decider@live chrony");
    assert_eq!(units, "active\nactive\nactive\nactive\nactive\n");
    // the workers run the installed bot and read its settings
    s.sh("sleep 2");
    assert!(s.sh("cat /var/log/elife-bot/worker-live.log").contains("polling us-east-1"));
    assert_eq!(
        s.sh("/home/localgit/elife-bot/env/bin/python -c 'import elifebot; print(elifebot.__version__)'"),
        "1.4.0\n"
    );
}
