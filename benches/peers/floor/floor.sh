#!/bin/sh
# The "ranch host" benchmark scenario (benches/peers/README.md) as a hand-written POSIX sh
# script: the floor. The same work as ../converge/scenario.kdl, ../ansible/site.yml and
# ../pyinfra/deploy.py, on one host, in one ssh session:
#
#   ssh root@HOST sh -s -- < benches/peers/floor/floor.sh          # apply
#   ssh root@HOST sh -s -- --dry < benches/peers/floor/floor.sh    # dry run: changes nothing
#
# Each item is checked and changed only when it differs. Files are written atomically (a
# temp file in the target directory, owner and mode set, then renamed over the old one);
# daemon-reload, restarts and reloads happen only when something they depend on changed.
# The last line of output is exactly `changed=N`: N is the number of items changed (or,
# with --dry, that would be changed); a restart or reload owed by a change counts as one
# more, as Ansible counts a handler. Exit status 0 when everything succeeded, 1 otherwise.
# Runs as root, under dash (no bashisms). The file contents are inlined below; they are
# byte for byte the files in ../files/.

set -u
umask 022
export DEBIAN_FRONTEND=noninteractive
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

dry=0
case "${1:-}" in
--dry) dry=1 ;;
'') ;;
*) echo "usage: floor.sh [--dry]" >&2; exit 2 ;;
esac

changed=0
failed=0

# `change WHAT`: counts a change and says it; false under --dry, so that
# `change WHAT && do-it` does it only for real.
change() {
    changed=$((changed + 1))
    if [ "$dry" = 1 ]; then
        echo "would change: $1"
        return 1
    fi
    echo "change: $1"
    return 0
}

fail() {
    echo "FAILED: $1" >&2
    failed=$((failed + 1))
}

# `owned PATH OWNER GROUP MODE`: PATH has that owner, group and mode (octal, no leading 0).
owned() {
    [ "$(stat -c '%U %G %a' -- "$1" 2>/dev/null)" = "$2 $3 $4" ]
}

# `put_file PATH OWNER GROUP MODE CONTENT_FN`: PATH holds exactly what CONTENT_FN prints,
# with that owner, group and mode. Returns 0 when it changed (or would change) the file.
put_file() {
    p=$1 o=$2 g=$3 m=$4 fn=$5
    if [ -f "$p" ] && [ ! -L "$p" ] && $fn | cmp -s - "$p"; then
        owned "$p" "$o" "$g" "$m" && return 1
        change "$p owner/mode -> $o:$g $m" || return 0
        { chown "$o:$g" "$p" && chmod "$m" "$p"; } || fail "$p owner/mode"
        return 0
    fi
    change "$p content" || return 0
    t=$(mktemp "${p%/*}/.floor.XXXXXX") || { fail "$p: temp file"; return 0; }
    if $fn > "$t" && chown "$o:$g" "$t" && chmod "$m" "$t" && mv -f "$t" "$p"; then
        return 0
    fi
    rm -f "$t"
    fail "$p"
    return 0
}

# `ensure_dir PATH OWNER GROUP MODE`
ensure_dir() {
    if [ -d "$1" ] && [ ! -L "$1" ]; then
        owned "$1" "$2" "$3" "$4" && return 0
        change "$1 owner/mode -> $2:$3 $4" || return 0
    else
        change "$1 created" || return 0
        mkdir -p -- "$1" || { fail "$1"; return 0; }
    fi
    { chown "$2:$3" "$1" && chmod "$4" "$1"; } || fail "$1 owner/mode"
}

# `ensure_service NAME`: enabled and active. Returns 0 when it started it (or would).
ensure_service() {
    if [ "$(systemctl is-enabled -- "$1" 2>/dev/null)" != enabled ]; then
        change "$1 enabled" && { systemctl enable --quiet -- "$1" || fail "enable $1"; }
    fi
    if ! systemctl is-active --quiet -- "$1"; then
        change "$1 started" && { systemctl start -- "$1" || fail "start $1"; }
        return 0
    fi
    return 1
}

# ---- contents (byte for byte ../files/*) ----

index_html() {
    cat <<'EOF'
<!doctype html>
<html>
<head><title>ranch</title></head>
<body><h1>ranch: hello from /srv/ranch/app</h1></body>
</html>
EOF
}

settings_ini() {
    cat <<'EOF'
[ranch]
listen=127.0.0.1:3000
log_dir=/var/log/ranch
debug=false
secret_key=not-a-real-secret-4b7e1c9a
EOF
}

ranch_app_service() {
    cat <<'EOF'
[Unit]
Description=ranch app (python3 http.server on 127.0.0.1:3000)
After=network.target

[Service]
User=ranch
Group=ranch
ExecStart=/usr/bin/python3 -m http.server 3000 --bind 127.0.0.1 --directory /srv/ranch/app
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
}

nginx_site_ranch() {
    cat <<'EOF'
# Managed by converge (nginx-site "ranch"): changes made here are undone by the next apply.

server {
    listen 80;
    server_name viewbovis.example.test;

    location / {
        proxy_pass http://127.0.0.1:3000;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}

server {
    listen 80;
    server_name nextstrain.example.test;

    location / {
        proxy_pass http://127.0.0.1:4001;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
EOF
}

cron_ranch() {
    cat <<'EOF'
# converge: ranch
# Managed by converge: changes made here are overwritten.
0 22 * * * root find /var/log/ranch -name '*.gz' -mtime +30 -delete
EOF
}

# ---- the OS family (as Ansible's os_family and converge's host.facts.os.family) ----

# Debian, or a distribution whose os-release names debian in ID_LIKE (Ubuntu, Mint...);
# read in a subshell so that os-release's variables stay out of this script
debian_family=$(
    . /etc/os-release 2>/dev/null || exit 0
    case " ${ID:-} ${ID_LIKE:-} " in
    *" debian "*) echo 1 ;;
    esac
)

# ---- packages (on a Debian-family host only) ----

if [ "$debian_family" = 1 ]; then
    missing=
    for p in nginx-light cron python3-venv; do
        case $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) in
        'ii '*) ;;
        *) missing="$missing $p" ;;
        esac
    done
    if [ -n "$missing" ]; then
        # shellcheck disable=SC2086 # word splitting of the package list is wanted
        change "packages installed:$missing" && {
            apt-get install -y -q -o DPkg::Lock::Timeout=120 \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing \
                >/dev/null || fail "apt-get install$missing"
        }
    fi
fi

# ---- group and user ----

if ! getent group ranch >/dev/null; then
    change "group ranch" && { groupadd --system ranch || fail "groupadd ranch"; }
fi

if ! pw=$(getent passwd ranch); then
    change "user ranch" && {
        useradd --system --gid ranch --home-dir /srv/ranch --shell /usr/sbin/nologin \
            --no-create-home ranch || fail "useradd ranch"
    }
else
    gid=$(getent group ranch | cut -d: -f3)
    # name:x:uid:gid:gecos:home:shell
    old_ifs=$IFS
    IFS=:
    # shellcheck disable=SC2086 # splitting on : is wanted
    set -- $pw
    IFS=$old_ifs
    if [ "$4" != "$gid" ] || [ "$6" != /srv/ranch ] || [ "$7" != /usr/sbin/nologin ]; then
        change "user ranch home/shell/group" && {
            usermod --gid ranch --home /srv/ranch --shell /usr/sbin/nologin ranch ||
                fail "usermod ranch"
        }
    fi
    set --
fi

# ---- directories and files ----

ensure_dir /srv/ranch ranch ranch 755
ensure_dir /srv/ranch/app ranch ranch 755
ensure_dir /var/log/ranch ranch adm 750

put_file /srv/ranch/app/index.html ranch ranch 644 index_html
put_file /srv/ranch/settings.ini ranch ranch 600 settings_ini

# ---- the ranch-app service ----

unit_changed=0
put_file /etc/systemd/system/ranch-app.service root root 644 ranch_app_service && unit_changed=1
if [ "$unit_changed" = 1 ] && [ "$dry" = 0 ]; then
    systemctl daemon-reload || fail "daemon-reload"
fi
if [ "$unit_changed" = 1 ] && systemctl is-active --quiet ranch-app; then
    change "ranch-app restarted (unit changed)" && { systemctl restart ranch-app || fail "restart ranch-app"; }
fi
ensure_service ranch-app || :

# ---- nginx ----

site_changed=0
put_file /etc/nginx/sites-available/ranch root root 644 nginx_site_ranch && site_changed=1
if [ "$(readlink /etc/nginx/sites-enabled/ranch)" != /etc/nginx/sites-available/ranch ]; then
    site_changed=1
    change "/etc/nginx/sites-enabled/ranch link" && {
        t=/etc/nginx/sites-enabled/.floor.ranch.$$
        { ln -sfn /etc/nginx/sites-available/ranch "$t" && mv -fT "$t" /etc/nginx/sites-enabled/ranch; } ||
            { rm -f "$t"; fail "/etc/nginx/sites-enabled/ranch"; }
    }
fi
# the default site, as converge's `nginx-site "default" state="absent"`: link and file
if [ -e /etc/nginx/sites-enabled/default ] || [ -L /etc/nginx/sites-enabled/default ] ||
    [ -e /etc/nginx/sites-available/default ] || [ -L /etc/nginx/sites-available/default ]; then
    site_changed=1
    change "nginx default site removed" && {
        rm -f /etc/nginx/sites-enabled/default /etc/nginx/sites-available/default ||
            fail "rm the default site"
    }
fi
started=1
ensure_service nginx || started=0
if [ "$site_changed" = 1 ] && [ "$started" = 0 ]; then
    # nginx was running with the old site: check the whole configuration, then reload
    change "nginx reloaded (site changed)" && {
        { nginx -t -q && systemctl reload nginx; } || fail "nginx -t / reload"
    }
fi

# ---- iptables (live rule only) ----

if ! iptables -w 5 -t nat -C PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80 \
    -m comment --comment converge:ranch-redirect 2>/dev/null; then
    change "iptables nat PREROUTING 8080 -> 80" && {
        iptables -w 5 -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80 \
            -m comment --comment converge:ranch-redirect || fail "iptables -A"
    }
fi

# ---- cron ----

put_file /etc/cron.d/ranch root root 644 cron_ranch || :

[ "$failed" = 0 ] || echo "$failed item(s) failed" >&2
echo "changed=$changed"
[ "$failed" = 0 ]
