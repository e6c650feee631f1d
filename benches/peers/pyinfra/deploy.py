"""The "ranch host" benchmark scenario (benches/peers/README.md) for pyinfra v3: the same work
as ../converge/scenario.kdl, ../ansible/site.yml and ../floor/floor.sh.

    pyinfra -y INVENTORY.py benches/peers/pyinfra/deploy.py

File contents come from ../files/ (the nginx site and the cron file there are byte for byte
what converge renders).

The packages are installed only on a Debian-family host, as in every variant: here from
pyinfra's LinuxDistribution fact (the host's /etc/*-release files), Debian itself or a
distribution whose os-release `ID_LIKE` names debian (Ubuntu, Mint...), which is what
Ansible's os_family and converge's `host.facts.os.family` call Debian.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, files, iptables, server, systemd
from pyinfra.operations.util import any_changed

FILES = Path(__file__).resolve().parent.parent / "files"


def debian_family() -> bool:
    meta = host.get_fact(LinuxDistribution)["release_meta"]
    return "debian" in [meta.get("ID", "").lower(), *meta.get("ID_LIKE", "").lower().split()]


if debian_family():
    apt.packages(
        name="packages",
        packages=["nginx-light", "cron", "python3-venv"],
        update=False,
    )

server.group(name="group ranch", group="ranch", system=True)
server.user(
    name="user ranch",
    user="ranch",
    group="ranch",
    system=True,
    home="/srv/ranch",
    shell="/usr/sbin/nologin",
    create_home=False,
    ensure_home=False,
)

for path, group, mode in (
    ("/srv/ranch", "ranch", "755"),
    ("/srv/ranch/app", "ranch", "755"),
    ("/var/log/ranch", "adm", "750"),
):
    files.directory(name=f"directory {path}", path=path, user="ranch", group=group, mode=mode)

files.put(
    name="index.html",
    src=str(FILES / "index.html"),
    dest="/srv/ranch/app/index.html",
    user="ranch",
    group="ranch",
    mode="644",
)
files.put(
    name="settings.ini",
    src=str(FILES / "settings.ini"),
    dest="/srv/ranch/settings.ini",
    user="ranch",
    group="ranch",
    mode="600",
)

unit = files.put(
    name="ranch-app unit",
    src=str(FILES / "ranch-app.service"),
    dest="/etc/systemd/system/ranch-app.service",
    user="root",
    group="root",
    mode="644",
)
# daemon-reload and restart (which also starts a stopped unit) only when the unit changed
systemd.service(
    name="restart ranch-app (unit changed)",
    service="ranch-app.service",
    running=True,
    restarted=True,
    daemon_reload=True,
    _if=unit.did_change,
)
systemd.service(
    name="ranch-app enabled and running",
    service="ranch-app.service",
    running=True,
    enabled=True,
)

site = files.put(
    name="nginx site ranch",
    src=str(FILES / "nginx-site-ranch"),
    dest="/etc/nginx/sites-available/ranch",
    user="root",
    group="root",
    mode="644",
)
site_link = files.link(
    name="nginx site ranch enabled",
    path="/etc/nginx/sites-enabled/ranch",
    target="/etc/nginx/sites-available/ranch",
)
# the default site: link and file, as converge's `nginx-site "default" state="absent"`
no_default_link = files.link(
    name="nginx default site disabled",
    path="/etc/nginx/sites-enabled/default",
    present=False,
)
no_default_file = files.file(
    name="nginx default site removed",
    path="/etc/nginx/sites-available/default",
    present=False,
)
nginx_changed = any_changed(site, site_link, no_default_link, no_default_file)
# converge checks the whole configuration with `nginx -t` before it reloads nginx
server.shell(name="check nginx configuration", commands=["nginx -t -q"], _if=nginx_changed)
systemd.service(
    name="nginx enabled and running",
    service="nginx.service",
    running=True,
    enabled=True,
)
systemd.service(
    name="reload nginx (site changed)",
    service="nginx.service",
    running=True,
    reloaded=True,
    _if=nginx_changed,
)

# --dport goes in `extras` (not destination_port=, which pyinfra appends after the extras) so
# that the tcp match comes before the comment match, as converge and Ansible add the rule:
# iptables -C compares matches in order. The comment is converge's tag, for the same state.
iptables.rule(
    name="redirect 8080 to 80",
    table="nat",
    chain="PREROUTING",
    protocol="tcp",
    jump="REDIRECT",
    to_ports=80,
    extras='--dport 8080 -m comment --comment "converge:ranch-redirect"',
)

files.put(
    name="cron file",
    src=str(FILES / "cron-ranch"),
    dest="/etc/cron.d/ranch",
    user="root",
    group="root",
    mode="644",
)
