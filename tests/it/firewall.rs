//! `iptables`, `ufw` and `ufw-firewall` on real containers: the four steps, then the host
//! checked directly (`iptables -S`/`-C`, the saved rules file, `ufw status`), and real
//! traffic from the controller: a redirect that carries an HTTP request, a rule that
//! survives a reboot without converge, ports that ufw lets through or not. ufw and
//! iptables-persistent conflict, so they get separate containers.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::kinds::OnHost;
use crate::support::http_get;

/// A small web server on `port`, started by systemd (so it comes back after a reboot).
fn web_server(port: u16) -> String {
    format!(
        "directory \"/srv/www\"\n\
         file \"/srv/www/index.html\" content=\"served from {port}\\n\"\n\
         unit \"web{port}\" content=\"[Unit]\\nDescription=test site on {port}\\n[Service]\\nExecStart=/usr/bin/python3 -m http.server {port} --directory /srv/www\\n[Install]\\nWantedBy=multi-user.target\\n\"\n\
         service \"web{port}\" enabled=#true state=\"running\" require=\"package:python3\"\n"
    )
}

/// GET / on `port`, retried for a few seconds while a server starts; panics on failure.
fn get(address: Ipv4Addr, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !connects(address, port) {
        assert!(Instant::now() < deadline, "nothing answers on {address}:{port}");
        std::thread::sleep(Duration::from_millis(200));
    }
    http_get(address, port, "t", "/")
}

fn connects(address: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((address, port)), Duration::from_secs(2)).is_ok()
}

const REDIRECT: &str = "iptables \"http-to-gunicorn\" table=\"nat\" chain=\"PREROUTING\" rule=\"-p tcp --dport 80 -j REDIRECT --to-ports 8080\"\n";
/// The rule as iptables-save prints it.
const SAVED: &str = "-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment \"converge:http-to-gunicorn\" -j REDIRECT --to-ports 8080";
const RULES_V4: &str = "/etc/iptables/rules.v4";

/// An IPv6 rule, saved to rules.v6 (empty after iptables-persistent's install).
const WEB6: &str = "iptables \"web6\" family=\"ipv6\" chain=\"INPUT\" rule=\"-p tcp --dport 443 -j ACCEPT\"\n";

fn redirect_playbook(rule: &str) -> String {
    format!("package \"python3\" \"iptables-persistent\"\n{}{WEB6}{rule}", web_server(8080))
}

#[test]
fn iptables_redirect_is_saved_survives_a_reboot_and_is_removed_by_name() {
    let mut h = OnHost::new(&redirect_playbook(REDIRECT));
    let addr = h.container.address();
    // seed 000: the redirect was added by hand before converge; another rule is not converge's
    h.sh("iptables -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080; iptables -A INPUT -p tcp --dport 9999 -j ACCEPT");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains(
            "~ iptables http-to-gunicorn\n      rule: -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080 (untagged) → -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080\n      saved: (absent) → /etc/iptables/rules.v4 (needs iptables-persistent)\n"
        ),
        "{}",
        diff.stdout
    );
    h.four_steps();

    // adopted, not duplicated; iptables' own check finds it
    let live = h.sh("iptables -t nat -S PREROUTING");
    assert_eq!(live.matches("REDIRECT").count(), 1, "{live}");
    assert!(live.contains(SAVED), "{live}");
    h.sh("iptables -t nat -C PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080 -m comment --comment converge:http-to-gunicorn");
    // saved: the tagged line, not the hand-saved untagged one; the unmanaged rule kept
    let saved = h.sh("cat /etc/iptables/rules.v4");
    assert!(saved.lines().any(|l| l == SAVED), "{saved}");
    assert!(!saved.contains("--dport 80 -j REDIRECT"), "the untagged copy left the file:\n{saved}");
    assert!(saved.contains("-A INPUT -p tcp -m tcp --dport 9999 -j ACCEPT"), "{saved}");
    assert_eq!(h.sh("systemctl is-enabled netfilter-persistent"), "enabled\n");
    let web6 = "-A INPUT -p tcp -m tcp --dport 443 -m comment --comment \"converge:web6\" -j ACCEPT";
    assert!(h.sh("cat /etc/iptables/rules.v6").lines().any(|l| l == web6), "{}", h.sh("cat /etc/iptables/rules.v6"));
    // real traffic: port 80 on the container reaches the server on 8080
    assert!(get(addr, 80).contains("served from 8080"), "redirected");

    // drift: the rules flushed by hand; a rule added at run time only is not for the file
    h.sh("iptables -t nat -F PREROUTING; iptables -A INPUT -p tcp --dport 7777 -j ACCEPT");
    assert!(!connects(addr, 80), "flushed");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains("+ iptables http-to-gunicorn\n      rule: (absent) → -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080\n"),
        "{}",
        diff.stdout
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    let saved = h.sh("cat /etc/iptables/rules.v4");
    assert!(!saved.contains("7777"), "converge does not persist rules it does not manage:\n{saved}");
    assert!(saved.contains("9999") && saved.lines().filter(|l| l.contains("converge:")).count() == 1, "{saved}");

    // a reboot: restored from the saved file at boot, and the redirect works without converge
    h.container.reboot().unwrap_or_else(|e| panic!("reboot: {e}"));
    assert!(h.sh("iptables -t nat -S PREROUTING").contains(SAVED));
    let input = h.sh("iptables -S INPUT");
    assert!(input.contains("9999") && !input.contains("7777"), "rules came from {RULES_V4}:\n{input}");
    assert!(h.sh("ip6tables -S INPUT").contains(web6), "restored from rules.v6");
    assert!(get(addr, 80).contains("served from 8080"), "redirected after the reboot");
    h.run("diff", &[]).expect(0);

    // the playbook changes the rule: the old one goes (found by its tag), live and saved
    h.playbook(&redirect_playbook(&REDIRECT.replace("--dport 80", "--dport 81")));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains(&format!(
            "rule: -t nat {SAVED} → -t nat -A PREROUTING -p tcp --dport 81 -j REDIRECT --to-ports 8080\n"
        )),
        "{}",
        diff.stdout
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    let live = h.sh("iptables-save -t nat");
    assert_eq!(live.matches("converge:http-to-gunicorn").count(), 1, "{live}");
    assert!(live.contains("--dport 81 ") && !live.contains("--dport 80 "), "{live}");
    assert!(get(addr, 81).contains("served from 8080"));
    assert!(!connects(addr, 80));
    let saved = h.sh("cat /etc/iptables/rules.v4");
    assert!(saved.contains("--dport 81 ") && !saved.contains("--dport 80 "), "{saved}");

    // absent, by name only: gone live and from the file; the rest of the file stays
    h.playbook(&redirect_playbook("iptables \"http-to-gunicorn\" state=\"absent\"\n"));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("- iptables http-to-gunicorn\n"), "{}", diff.stdout);
    assert!(diff.stdout.contains("saved in /etc/iptables/rules.v4: -t nat -A PREROUTING"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    assert_eq!(h.sh("iptables-save | grep -c converge: || true"), "0\n");
    let saved = h.sh("cat /etc/iptables/rules.v4");
    assert!(!saved.contains("converge:") && saved.contains("9999"), "{saved}");
    assert!(!connects(addr, 81));
}

#[test]
fn iptables_positions_ipv6_user_chains_and_failures() {
    let h = OnHost::new(
        "iptables \"ssh-first\" chain=\"INPUT\" rule=\"-p tcp --dport 22 -j ACCEPT\" position=1 persist=#false\n\
         iptables \"web6\" family=\"ipv6\" chain=\"INPUT\" rule=\"-p tcp --dport 443 -j ACCEPT\" persist=#false\n\
         iptables \"web-in\" chain=\"web-in\" rule=\"-p tcp --dport 80 -m comment --comment 'web traffic' -j ACCEPT\" persist=#false\n",
    );
    h.sh("iptables -A INPUT -p udp --dport 53 -j ACCEPT");
    h.four_steps();
    let input = h.sh("iptables -S INPUT");
    let rules: Vec<&str> = input.lines().filter(|l| l.starts_with("-A ")).collect();
    assert!(rules[0].contains("converge:ssh-first"), "inserted first: {input}");
    assert!(h.sh("ip6tables -S INPUT").contains("--dport 443 -m comment --comment \"converge:web6\" -j ACCEPT"));
    let chain = h.sh("iptables -S web-in");
    assert!(chain.starts_with("-N web-in\n"), "the chain was created: {chain}");
    assert!(chain.contains("--comment \"web traffic\" -m comment --comment \"converge:web-in\""), "{chain}");
    // drift in position: moved back
    h.sh("iptables -I INPUT 1 -p udp --dport 123 -j ACCEPT");
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(diff.stdout.contains("rule: -t filter -A INPUT -p tcp -m tcp --dport 22"), "{}", diff.stdout);
    h.run("apply", &[]).expect(0);
    let input = h.sh("iptables -S INPUT");
    assert!(input.lines().nth(1).is_some_and(|l| l.contains("converge:ssh-first")), "{input}");
    assert_eq!(input.matches("converge:ssh-first").count(), 1, "{input}");

    // failures: a rule iptables refuses, and persistence with nothing to restore it at boot
    h.playbook(
        "iptables \"typo\" chain=\"INPUT\" rule=\"-p tcp --dportt 22 -j ACCEPT\" persist=#false\n\
         iptables \"kept\" chain=\"INPUT\" rule=\"-p tcp --dport 8443 -j ACCEPT\"\n",
    );
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains("(iptables says: iptables v1.8.9 (nf_tables): unknown option \"--dportt\")"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("saved: (absent) → /etc/iptables/rules.v4 (needs iptables-persistent)"),
        "{}",
        diff.stdout
    );
    let applied = h.run("apply", &[]);
    applied.expect(1);
    assert!(applied.stdout.contains("unknown option \"--dportt\""), "{}", applied.stdout);
    assert!(
        applied.stdout.contains("cannot keep the rule across reboots: install iptables-persistent (Debian) or iptables-services (RHEL), or set persist=#false"),
        "{}",
        applied.stdout
    );
    let all = h.sh("iptables-save");
    assert!(!all.contains("converge:typo") && !all.contains("converge:kept"), "nothing was added:\n{all}");
}

/// ufw, nginx (for seed 002's 'Nginx Full' profile) and a server on 8081 that no rule allows.
fn ufw_playbook(rest: &str) -> String {
    format!("package \"ufw\" \"nginx-light\" \"python3\"\n{}{rest}", web_server(8081))
}

const NGINX_FULL: &str = "ufw \"Nginx Full\" require=\"package:nginx-light\"\n";

#[test]
fn ufw_rules_and_enabling_without_locking_ssh_out() {
    // enabling with incoming denied and no ssh rule is refused; the rule itself is added
    let h = OnHost::new(&ufw_playbook(&format!("ufw-firewall incoming=\"deny\"\n{NGINX_FULL}")));
    let addr = h.container.address();
    let applied = h.run("apply", &[]);
    applied.expect(1);
    assert!(
        applied
            .stdout
            .contains("refusing to enable ufw with incoming traffic denied: no ufw rule allows ssh (tcp port 22)"),
        "{}",
        applied.stdout
    );
    assert_eq!(h.sh("ufw status"), "Status: inactive\n");
    assert!(h.sh("ufw show added").contains("ufw allow 'Nginx Full' comment 'converge:Nginx Full'"));
    assert!(get(addr, 8081).contains("served from 8081"), "open while ufw is off");

    // ssh allowed first (the firewall is declared first: the order comes from the kinds)
    h.playbook(&ufw_playbook(&format!(
        "ufw-firewall state=\"enabled\" incoming=\"deny\" outgoing=\"allow\"\nufw \"OpenSSH\"\n{NGINX_FULL}"
    )));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    let ssh_rule = diff.stdout.find("+ ufw OpenSSH").expect("ssh rule planned");
    let enable = diff.stdout.find("~ ufw-firewall ufw").expect("enable planned");
    assert!(ssh_rule < enable, "rules before enabling:\n{}", diff.stdout);
    assert!(diff.stdout.contains("state: disabled → enabled"), "{}", diff.stdout);
    h.four_steps();
    let status = h.sh("ufw status verbose");
    assert!(status.starts_with("Status: active\n"), "{status}");
    assert!(status.contains("Default: deny (incoming), allow (outgoing)"), "{status}");
    for (app, port) in [("OpenSSH", "22/tcp"), ("Nginx Full", "80,443/tcp")] {
        let shown = format!("{port} ({app})");
        let tag = format!("# converge:{app}");
        assert!(
            status.lines().any(|l| l.starts_with(&shown) && l.contains("ALLOW IN") && l.ends_with(&tag)),
            "{status}"
        );
    }
    assert_eq!(h.sh("grep ^ENABLED= /etc/ufw/ufw.conf"), "ENABLED=yes\n", "enabled at boot too");
    // real traffic: the allowed port works, the other is blocked, ssh still comes in
    assert!(get(addr, 80).contains("Welcome to nginx"));
    assert!(!connects(addr, 8081), "8081 is not allowed");
    assert_eq!(h.sh("echo ssh still works"), "ssh still works\n");

    // a labelled rule in long form, then changed: the old port closes again
    let with_alt = |port: u16| {
        ufw_playbook(&format!(
            "ufw-firewall state=\"enabled\" incoming=\"deny\"\nufw \"OpenSSH\"\n{NGINX_FULL}ufw \"alt\" port={port} proto=\"tcp\"\n"
        ))
    };
    h.playbook(&with_alt(8081));
    h.run("apply", &[]).expect(0);
    assert!(get(addr, 8081).contains("served from 8081"), "8081 allowed now");
    assert!(h.sh("ufw show added").contains("ufw allow 8081/tcp comment 'converge:alt'"));
    h.playbook(&with_alt(8082));
    let diff = h.run("diff", &[]);
    diff.expect(2);
    assert!(
        diff.stdout.contains(
            "rule: ufw allow 8081/tcp comment 'converge:alt' → ufw allow proto tcp from any to any port 8082"
        ),
        "{}",
        diff.stdout
    );
    h.run("apply", &[]).expect(0);
    h.run("diff", &[]).expect(0);
    let added = h.sh("ufw show added");
    assert!(!added.contains("8081") && added.contains("8082/tcp comment 'converge:alt'"), "{added}");
    assert!(!connects(addr, 8081), "8081 closed again");

    // absent by name; and a hand-added copy of a named rule is adopted, not duplicated
    h.sh("ufw allow 8083/tcp");
    h.playbook(&ufw_playbook(&format!(
        "ufw-firewall state=\"enabled\" incoming=\"deny\"\nufw \"OpenSSH\"\n{NGINX_FULL}ufw \"alt\" state=\"absent\"\nufw \"8083/tcp\"\n"
    )));
    let applied = h.run("apply", &[]);
    applied.expect(0);
    h.run("diff", &[]).expect(0);
    let added = h.sh("ufw show added");
    assert!(!added.contains("converge:alt"), "{added}");
    assert_eq!(added.lines().filter(|l| l.contains("8083")).count(), 1, "{added}");
    assert!(added.contains("ufw allow 8083/tcp comment 'converge:8083/tcp'"), "{added}");
}
