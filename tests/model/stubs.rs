//! The host's own tools that converge's `package` (apt provider) and `service` kinds call,
//! modelled as POSIX sh stubs placed in the modelled host's `/usr/local/sbin` (first on the
//! `PATH` every converge script sets). They keep their state in files under
//! `/var/lib/model/` and answer in the formats of Debian's tools for exactly the commands
//! the kinds use:
//!
//! - `dpkg-query -W -f=FORMAT NAME...`: `${Package}`, `${binary:Package}`,
//!   `${db:Status-Status}`, `${Version}` and backslash escapes; an unknown name is
//!   `dpkg-query: no packages found matching NAME` on stderr and exit status 1;
//! - `apt-cache policy NAME...`: `NAME:`, `  Installed:`, `  Candidate:` and the version
//!   table; nothing for a name the local lists do not hold;
//! - `apt-get update|install|remove|purge` with `-y -q -o K=V --no-install-recommends
//!   --allow-downgrades` and `NAME=VERSION`: a name it cannot locate fails the whole command
//!   (`E: Unable to locate package NAME`, exit status 100) before anything is installed;
//!   an install unpacks the package's files (keeping a configuration file under /etc that is
//!   already there, as `--force-confold` does), then enables and starts the services it
//!   ships (what Debian's maintainer scripts do); `remove` keeps the configuration files
//!   (status `config-files`), `purge` removes them too;
//! - `systemctl show -p PROP... [--value] -- UNIT...` (`LoadState`, `ActiveState`,
//!   `SubState`, `UnitFileState`, `NeedDaemonReload`, `DropInPaths`, in systemd's own
//!   order, one block per unit separated by an empty line), `start`, `stop`, `restart`,
//!   `reload`, `reload-or-restart`, `enable`, `disable`, `is-active [--quiet]`,
//!   `is-enabled`, `status` and `daemon-reload`, with systemd's messages and exit statuses
//!   (5 for a unit not found, 3 for `is-active` of an inactive unit).
//!
//! State: `/var/lib/model/repo/NAME/` is the package repository the test declares
//! (`version`, `files/` the tree it installs, `services`, optional `fails` and
//! `needs-update`); `/var/lib/model/dpkg/NAME` holds `STATUS VERSION`, `NAME.list` its
//! files; `/var/lib/model/units/UNIT/` holds a unit's `active`, `enabled`, counters
//! (`starts`, `restarts`, `reloads`, `stops`), `vendor` (shipped by a package),
//! `loaded-sha` (its unit file as systemd last loaded it) and optional `fail-start`.
//! Every command that changes something is appended to `/var/lib/model/log`.

pub const DPKG_QUERY: &str = r##"#!/bin/sh
# dpkg-query (modelled): -W / --show with -f / --showformat, over /var/lib/model/dpkg
db=/var/lib/model/dpkg
fmt='${binary:Package}\t${Version}\n'
show=
while [ $# -gt 0 ]; do
  case "$1" in
  -W|--show) show=1 ;;
  -f) shift; fmt=$1 ;;
  -f=*) fmt=${1#-f=} ;;
  -f*) fmt=${1#-f} ;;
  --showformat=*) fmt=${1#--showformat=} ;;
  --) shift; break ;;
  -*) echo "dpkg-query: unknown option $1 (the model knows -W and -f)" >&2; exit 2 ;;
  *) break ;;
  esac
  shift
done
if [ -z "$show" ]; then echo "dpkg-query: need an action option (the model knows -W)" >&2; exit 2; fi
rc=0
for name in "$@"; do
  if [ ! -f "$db/$name" ]; then
    echo "dpkg-query: no packages found matching $name" >&2
    rc=1
    continue
  fi
  read -r status version < "$db/$name"
  out=$(printf '%s' "$fmt" | sed -e "s#\${Package}#$name#g" -e "s#\${binary:Package}#$name#g" \
    -e "s#\${db:Status-Status}#$status#g" -e "s#\${Version}#$version#g")
  printf '%b' "$out"
done
exit $rc
"##;

pub const APT_CACHE: &str = r##"#!/bin/sh
# apt-cache (modelled): policy, from the repository in /var/lib/model/repo
M=/var/lib/model
if [ "$1" != policy ]; then echo "E: the model's apt-cache knows only policy" >&2; exit 100; fi
shift
for name in "$@"; do
  r=$M/repo/$name
  inst='(none)'
  if [ -f "$M/dpkg/$name" ]; then
    read -r status version < "$M/dpkg/$name"
    if [ "$status" = installed ]; then inst=$version; fi
  fi
  if [ -f "$r/version" ] && { [ ! -e "$r/needs-update" ] || [ -e "$M/lists-updated" ]; }; then
    cand=$(cat "$r/version")
  elif [ "$inst" != '(none)' ]; then
    cand=$inst
  else
    continue
  fi
  printf '%s:\n  Installed: %s\n  Candidate: %s\n  Version table:\n' "$name" "$inst" "$cand"
  # the repository line names the machine's own mirror (written by the model)
  mirror=$(cat "$M/mirror")
  if [ "$inst" = "$cand" ]; then
    printf ' *** %s 500\n        500 %s bookworm/main amd64 Packages\n        100 /var/lib/dpkg/status\n' "$cand" "$mirror"
  else
    printf '     %s 500\n        500 %s bookworm/main amd64 Packages\n' "$cand" "$mirror"
  fi
done
exit 0
"##;

pub const APT_GET: &str = r##"#!/bin/sh
# apt-get (modelled): update, install, remove, purge over /var/lib/model/repo
M=/var/lib/model
db=$M/dpkg
repo=$M/repo
log() { printf '%s\n' "$*" >> "$M/log"; }
bump() { n=$(cat "$1" 2>/dev/null || echo 0); echo $((n + 1)) > "$1"; }
available() { [ -f "$repo/$1/version" ] && { [ ! -e "$repo/$1/needs-update" ] || [ -e "$M/lists-updated" ]; }; }
installed() { [ -f "$db/$1" ] && read -r s v < "$db/$1" && [ "$s" = installed ]; }
verb=
specs=
while [ $# -gt 0 ]; do
  case "$1" in
  -o) shift ;;
  -o*|-y|--yes|--assume-yes|-q|-qq|--quiet|--no-install-recommends|--allow-downgrades) ;;
  -*) echo "E: Command line option '$1' is not understood in combination with the other options (modelled apt-get)" >&2; exit 100 ;;
  *) if [ -z "$verb" ]; then verb=$1; else specs="$specs $1"; fi ;;
  esac
  shift
done
echo "Reading package lists..."
case "$verb" in
update)
  : > "$M/lists-updated"
  bump "$M/apt-updates"
  log "apt-get update"
  ;;
install)
  echo "Building dependency tree..."
  echo "Reading state information..."
  for spec in $specs; do
    name=${spec%%=*}
    if ! available "$name"; then echo "E: Unable to locate package $name" >&2; exit 100; fi
    case "$spec" in
    *=*) if [ "${spec#*=}" != "$(cat "$repo/$name/version")" ]; then
           echo "E: Version '${spec#*=}' for '$name' was not found" >&2; exit 100
         fi ;;
    esac
  done
  rc=0
  for spec in $specs; do
    name=${spec%%=*}
    r=$repo/$name
    version=$(cat "$r/version")
    if installed "$name" && [ "$v" = "$version" ]; then
      echo "$name is already the newest version ($version)."
      continue
    fi
    echo "Unpacking $name ($version) ..."
    (cd "$r/files" && find . -mindepth 1 -type d) | while IFS= read -r d; do mkdir -p "${d#.}"; done
    (cd "$r/files" && find . ! -type d) | sed 's/^\.//' > "$db/$name.list"
    while IFS= read -r f; do
      case "$f" in
      /etc/*) if [ -e "$f" ] || [ -L "$f" ]; then continue; fi ;;
      esac
      rm -f "$f"
      cp -a "$r/files$f" "$f"
    done < "$db/$name.list"
    log "apt-get install $name"
    if [ -e "$r/fails" ]; then
      echo "$name half-configured $version" > "$db/$name"
      echo "dpkg: error processing package $name (--configure):" >&2
      echo " installed $name package post-installation script subprocess returned error exit status 1" >&2
      echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2
      rc=100
      continue
    fi
    echo "installed $version" > "$db/$name"
    echo "Setting up $name ($version) ..."
    if [ -f "$r/services" ]; then
      while IFS= read -r u; do
        mkdir -p "$M/units/$u"
        : > "$M/units/$u/vendor"
        echo enabled > "$M/units/$u/enabled"
        if [ "$(cat "$M/units/$u/active" 2>/dev/null)" != active ]; then
          echo active > "$M/units/$u/active"
          bump "$M/units/$u/starts"
        fi
        log "systemctl start $u (by $name)"
      done < "$r/services"
    fi
  done
  exit $rc
  ;;
remove|purge)
  for name in $specs; do
    if ! [ -f "$db/$name" ]; then echo "Package '$name' is not installed, so not removed"; continue; fi
    echo "Removing $name ..."
    if [ -f "$repo/$name/services" ]; then
      while IFS= read -r u; do
        if [ -d "$M/units/$u" ]; then
          if [ "$(cat "$M/units/$u/active" 2>/dev/null)" = active ]; then bump "$M/units/$u/stops"; fi
          echo inactive > "$M/units/$u/active"
          rm -f "$M/units/$u/vendor"
        fi
      done < "$repo/$name/services"
    fi
    while IFS= read -r f; do
      case "$verb:$f" in
      remove:/etc/*) ;;
      *) rm -f "$f" ;;
      esac
    done < "$db/$name.list"
    if [ "$verb" = purge ]; then
      rm -f "$db/$name" "$db/$name.list"
    else
      read -r s v < "$db/$name"
      echo "config-files $v" > "$db/$name"
    fi
    log "apt-get $verb $name"
  done
  ;;
*)
  echo "E: Invalid operation $verb (modelled apt-get)" >&2
  exit 100
  ;;
esac
exit 0
"##;

pub const SYSTEMCTL: &str = r##"#!/bin/sh
# systemctl (modelled): units under /var/lib/model/units/UNIT
M=/var/lib/model
U=$M/units
log() { printf '%s\n' "$*" >> "$M/log"; }
bump() { n=$(cat "$U/$1/$2" 2>/dev/null || echo 0); echo $((n + 1)) > "$U/$1/$2"; }
unit() { case "$1" in *.service|*.socket|*.timer|*.target|*.mount|*.path|*.slice|*.automount) printf '%s' "$1" ;; *) printf '%s.service' "$1" ;; esac; }
file_of() { if [ -f "/etc/systemd/system/$1" ]; then printf '%s' "/etc/systemd/system/$1"; else return 1; fi; }
loaded() { [ -e "$U/$1/vendor" ] || [ -f "/etc/systemd/system/$1" ]; }
active() { if loaded "$1" || [ -d "$U/$1" ]; then cat "$U/$1/active" 2>/dev/null || echo inactive; else echo inactive; fi; }
sub() { case "$(active "$1")" in active) echo running ;; failed) echo failed ;; *) echo dead ;; esac; }
file_state() {
  if ! loaded "$1"; then return 0; fi
  if [ -f "$U/$1/enabled" ]; then cat "$U/$1/enabled"
  elif f=$(file_of "$1") && ! grep -q '^\[Install\]' "$f"; then echo static
  else echo disabled
  fi
}
sha() { s=$(sha256sum < "$1") && printf '%s' "${s%% *}"; }
dropins() { for f in "/etc/systemd/system/$1.d/"*.conf; do if [ -e "$f" ]; then printf '%s ' "$f"; fi; done; }
need_reload() {
  if f=$(file_of "$1") && [ -f "$U/$1/loaded-sha" ]; then
    if [ "$(sha "$f")" != "$(cat "$U/$1/loaded-sha")" ] || [ "$(dropins "$1")" != "$(cat "$U/$1/dropins" 2>/dev/null)" ]; then echo yes; return; fi
  fi
  echo no
}
load() { mkdir -p "$U/$1"; if f=$(file_of "$1"); then sha "$f" > "$U/$1/loaded-sha"; dropins "$1" > "$U/$1/dropins"; fi; }
not_found() { echo "Failed to $2 $1: Unit $1 not found." >&2; exit 5; }
warn_reload() {
  if [ "$(need_reload "$1")" = yes ]; then
    echo "Warning: The unit file, source configuration file or drop-ins of $1 changed on disk. Run 'systemctl daemon-reload' to reload units." >&2
  fi
}
start() {
  if [ -e "$U/$1/fail-start" ]; then
    echo failed > "$U/$1/active"
    echo "Job for $1 failed because the control process exited with error code." >&2
    echo "See \"systemctl status $1\" and \"journalctl -xeu $1\" for details." >&2
    exit 1
  fi
  echo active > "$U/$1/active"
}
props=
value=
quiet=
verb=
while [ $# -gt 0 ]; do
  case "$1" in
  -p|--property) shift; props="$props $(printf '%s' "$1" | tr ',' ' ')" ;;
  -p*) props="$props $(printf '%s' "${1#-p}" | tr ',' ' ')" ;;
  --property=*) props="$props $(printf '%s' "${1#--property=}" | tr ',' ' ')" ;;
  --value) value=1 ;;
  -q|--quiet) quiet=1 ;;
  --no-pager|--no-legend|--lines=*|--no-block|--system) ;;
  --) shift; break ;;
  -*) echo "systemctl: unrecognized option '$1' (modelled)" >&2; exit 1 ;;
  *) if [ -z "$verb" ]; then verb=$1; else break; fi ;;
  esac
  shift
done
case "$verb" in
show)
  first=1
  for arg in "$@"; do
    u=$(unit "$arg")
    if [ -z "$first" ]; then echo; fi
    first=
    # systemd prints the properties asked for in its own order, not in the order asked
    for p in LoadState ActiveState SubState DropInPaths UnitFileState NeedDaemonReload; do
      case " $props " in *" $p "*) ;; *) continue ;; esac
      case "$p" in
      LoadState) if loaded "$u"; then v=loaded; else v=not-found; fi ;;
      ActiveState) v=$(active "$u") ;;
      SubState) v=$(sub "$u") ;;
      DropInPaths) if loaded "$u"; then v=$(cat "$U/$u/dropins" 2>/dev/null); v=${v% }; else v=; fi ;;
      UnitFileState) v=$(file_state "$u") ;;
      NeedDaemonReload) v=$(need_reload "$u") ;;
      esac
      if [ -n "$value" ]; then printf '%s\n' "$v"; else printf '%s=%s\n' "$p" "$v"; fi
    done
  done
  ;;
daemon-reload)
  for f in /etc/systemd/system/*.service; do
    if [ -f "$f" ]; then load "${f##*/}"; fi
  done
  n=$(cat "$M/daemon-reloads" 2>/dev/null || echo 0); echo $((n + 1)) > "$M/daemon-reloads"
  log "systemctl daemon-reload"
  ;;
start|stop|restart|reload|reload-or-restart|try-restart)
  for arg in "$@"; do
    u=$(unit "$arg")
    loaded "$u" || not_found "$u" "$verb"
    warn_reload "$u"
    if [ ! -f "$U/$u/loaded-sha" ]; then load "$u"; fi
    was=$(active "$u")
    case "$verb" in
    start) if [ "$was" != active ]; then start "$u"; bump "$u" starts; fi ;;
    stop) if [ "$was" = active ]; then bump "$u" stops; fi; echo inactive > "$U/$u/active" ;;
    restart) start "$u"; bump "$u" restarts ;;
    try-restart) if [ "$was" = active ]; then start "$u"; bump "$u" restarts; fi ;;
    reload)
      if [ "$was" != active ]; then echo "Failed to reload $u: Job type reload is not applicable for unit $u." >&2; exit 1; fi
      bump "$u" reloads ;;
    reload-or-restart)
      if [ "$was" = active ]; then bump "$u" reloads; else start "$u"; bump "$u" starts; fi ;;
    esac
    log "systemctl $verb $u"
  done
  ;;
enable|disable)
  for arg in "$@"; do
    u=$(unit "$arg")
    if ! loaded "$u"; then echo "Failed to $verb unit: Unit file $u does not exist." >&2; exit 1; fi
    if [ "$(file_state "$u")" = static ]; then
      echo "The unit files have no installation config (WantedBy=, RequiredBy=, Also=, Alias= settings in the [Install] section, and DefaultInstance= for template units)." >&2
      continue
    fi
    mkdir -p "$U/$u"
    if [ "$verb" = enable ]; then
      if [ "$(file_state "$u")" != enabled ]; then echo "Created symlink /etc/systemd/system/multi-user.target.wants/$u → /lib/systemd/system/$u." >&2; fi
      echo enabled > "$U/$u/enabled"
    else
      if [ "$(file_state "$u")" = enabled ]; then echo "Removed \"/etc/systemd/system/multi-user.target.wants/$u\"." >&2; fi
      echo disabled > "$U/$u/enabled"
    fi
    log "systemctl $verb $u"
  done
  ;;
is-active)
  rc=0
  for arg in "$@"; do
    a=$(active "$(unit "$arg")")
    if [ -z "$quiet" ]; then echo "$a"; fi
    if [ "$a" != active ]; then rc=3; fi
  done
  exit $rc
  ;;
is-enabled)
  rc=0
  for arg in "$@"; do
    u=$(unit "$arg")
    if ! loaded "$u"; then echo "Failed to get unit file state for $u: No such file or directory" >&2; exit 1; fi
    s=$(file_state "$u")
    if [ -z "$quiet" ]; then echo "$s"; fi
    case "$s" in enabled|enabled-runtime|static|alias|indirect|generated) ;; *) rc=1 ;; esac
  done
  exit $rc
  ;;
status)
  rc=0
  for arg in "$@"; do
    u=$(unit "$arg")
    if ! loaded "$u"; then echo "Unit $u could not be found." >&2; exit 4; fi
    a=$(active "$u")
    printf '● %s - %s (modelled)\n     Loaded: loaded (%s; %s)\n     Active: %s (%s)\n' "$u" "$u" "/lib/systemd/system/$u" "$(file_state "$u")" "$a" "$(sub "$u")"
    if [ "$a" != active ]; then rc=3; fi
  done
  exit $rc
  ;;
*)
  echo "Unknown command verb '$verb' (modelled systemctl)." >&2
  exit 1
  ;;
esac
exit 0
"##;
