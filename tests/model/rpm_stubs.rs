//! The tools of a RHEL 9 host that converge's `package` kind (dnf provider) calls, modelled
//! as one POSIX sh script installed as `/usr/local/sbin/rpm`, `dnf` and `yum` (on RHEL 9
//! `yum` is dnf under another name): it answers as the name it was called by, in the
//! formats of rpm 4.16 and dnf 4 for exactly the commands the provider sends (the
//! fixtures in `fixtures/rhel9/` are those answers, and `rhel.rs` checks the script
//! reproduces them byte for byte):
//!
//! - `rpm -q [--qf FORMAT] NAME...`: one line per installed architecture, in FORMAT
//!   (`%{NAME}`, `%{EPOCH}`, `%{VERSION}`, `%{RELEASE}`, `%{ARCH}`, the conditional
//!   `%|EPOCH?{%{EPOCH}}:{0}|`, `\n` and `\t`); an epoch-less package's `%{EPOCH}` is
//!   `(none)`; a name not installed is `package NAME is not installed` on stdout, and the
//!   exit status counts them;
//! - `dnf -q -C repoquery --latest-limit N --qf FORMAT NAME...`: the packages of the
//!   metadata cache (never the installed ones), the newest N per name and architecture,
//!   formatted (`%{name}`, `%{epoch}` (`0` when none), `%{version}`, `%{release}`,
//!   `%{arch}`, `%{repoid}`), de-duplicated, sorted and joined with a newline, as dnf 4's
//!   `print("\n".join(sorted(pkgs)))` does;
//! - `dnf|yum -q -C list available|updates NAME...`: a heading (`Available Packages`,
//!   `Available Upgrades`) and `NAME.ARCH  [EPOCH:]VERSION-RELEASE  REPO` rows, the newest
//!   per name and architecture; `available` leaves out what is installed at the same or a
//!   newer version, `updates` holds only what is newer than the installed one; nothing to
//!   list is `Error: No matching Packages to list` and exit status 1;
//! - `dnf|yum install|upgrade|downgrade|remove -y -q [--setopt=K=V] [--] SPEC...` with
//!   specs `NAME` or `NAME-[EPOCH:]VERSION[-RELEASE]`: an install that cannot find a spec
//!   fails the whole command (`No match for argument: SPEC`, `Error: Unable to find a
//!   match: SPEC`, exit status 1) before anything changes; an installed package stays as
//!   it is on `install NAME` (`Package ... is already installed.`); `upgrade` of a name not
//!   installed fails; `remove` of one is a warning. An install registers the units the
//!   package ships, disabled and stopped (RHEL's presets leave services off);
//! - `dnf|yum -q clean expire-cache`, `dnf|yum -q makecache`: a build marked
//!   `needs-makecache` is in the cache only after a `makecache`.
//!
//! State: `/var/lib/model/rpmdb/NAME` holds `EPOCH VERSION-RELEASE ARCH` per installed
//! architecture; `/var/lib/model/rpmrepo/NAME` holds `EPOCH VERSION-RELEASE ARCH REPO
//! [needs-makecache]` per build in the repositories, and `NAME.units` the units it ships.
//! Every command that changes something is appended to `/var/lib/model/log` (`dnf install
//! httpd-2.4.53-7.el9_1.1`).

pub const RPM: &str = r##"#!/bin/sh
# rpm, dnf and yum (modelled): one script, answering as the name it is called by
M=/var/lib/model
DB=$M/rpmdb
REPO=$M/rpmrepo
me=${0##*/}
log() { printf '%s\n' "$*" >> "$M/log"; }

# rpm's version order (rpmvercmp), and an awk program's helpers
AWK_LIB='
function vercmp(a, b,    ca, cb, sa, sb, num) {
  while (1) {
    while (a != "" && substr(a, 1, 1) !~ /[A-Za-z0-9~^]/) a = substr(a, 2)
    while (b != "" && substr(b, 1, 1) !~ /[A-Za-z0-9~^]/) b = substr(b, 2)
    ca = substr(a, 1, 1); cb = substr(b, 1, 1)
    if (ca == "~" || cb == "~") {
      if (ca != "~") return 1
      if (cb != "~") return -1
      a = substr(a, 2); b = substr(b, 2); continue
    }
    if (ca == "^" || cb == "^") {
      if (a == "") return -1
      if (b == "") return 1
      if (ca != "^") return 1
      if (cb != "^") return -1
      a = substr(a, 2); b = substr(b, 2); continue
    }
    if (a == "" || b == "") break
    num = ca ~ /[0-9]/
    if (num) { match(a, /^[0-9]+/); sa = substr(a, 1, RLENGTH); match(b, /^[0-9]+/); sb = substr(b, 1, RLENGTH) }
    else { match(a, /^[A-Za-z]+/); sa = substr(a, 1, RLENGTH); match(b, /^[A-Za-z]+/); sb = substr(b, 1, RLENGTH) }
    if (sb == "") return num ? 1 : -1
    a = substr(a, length(sa) + 1); b = substr(b, length(sb) + 1)
    if (num) {
      sub(/^0+/, "", sa); sub(/^0+/, "", sb)
      if (length(sa) != length(sb)) return length(sa) > length(sb) ? 1 : -1
    }
    if (sa != sb) return sa > sb ? 1 : -1
  }
  if (a == "" && b == "") return 0
  return a == "" ? -1 : 1
}
function epoch(e) { return e == "(none)" ? 0 : e + 0 }
function ver(vr,    v) { v = vr; sub(/-[^-]*$/, "", v); return v }
function rel(vr,    r) { r = vr; sub(/^.*-/, "", r); return r }
# EPOCH VR against EPOCH VR: -1, 0 or 1
function evrcmp(e1, vr1, e2, vr2,    c) {
  if (epoch(e1) != epoch(e2)) return epoch(e1) > epoch(e2) ? 1 : -1
  c = vercmp(ver(vr1), ver(vr2))
  return c != 0 ? c : vercmp(rel(vr1), rel(vr2))
}
function evr(e, vr) { return epoch(e) == 0 ? vr : epoch(e) ":" vr }
function escapes(f) { gsub(/\\n/, "\n", f); gsub(/\\t/, "\t", f); return f }
'

# The builds of NAME the metadata cache holds: NAME EPOCH VR ARCH REPO per line.
cached() {
  [ -f "$REPO/$1" ] || return 0
  while read -r e vr arch repo flag; do
    if [ "$flag" = needs-makecache ] && [ ! -e "$M/dnf-makecache" ]; then continue; fi
    printf '%s %s %s %s %s\n' "$1" "$e" "$vr" "$arch" "$repo"
  done < "$REPO/$1"
}

# The newest line per name and architecture of NAME EPOCH VR ARCH REPO lines.
newest() {
  awk "$AWK_LIB"'
    { k = $1 "." $4; if (!(k in best) || evrcmp($2, $3, e[k], v[k]) > 0) { best[k] = $0; e[k] = $2; v[k] = $3 }; if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
    END { for (i = 1; i <= n; i++) print best[order[i]] }'
}

# The installed EPOCH VR of NAME.ARCH, or nothing.
installed_as() { [ -f "$DB/$1" ] && awk -v a="$2" '$3 == a { print $1, $2; exit }' "$DB/$1"; }

# The build a spec names (NAME or NAME-[EPOCH:]VERSION[-RELEASE]): NAME EPOCH VR ARCH REPO.
resolve() {
  spec=$1
  if [ -f "$REPO/$spec" ]; then cached "$spec" | newest | head -n 1; return; fi
  n=$spec
  while case "$n" in *-*) true ;; *) false ;; esac; do
    n=${n%-*}
    if [ -f "$REPO/$n" ]; then
      cached "$n" | awk -v rest="${spec#"$n"-}" "$AWK_LIB"'
        { full = epoch($2) ":" $3 }
        rest == $3 || rest == full || rest == ver($3) || rest == epoch($2) ":" ver($3) { print }' | newest | head -n 1
      return
    fi
  done
}

# Installs (or replaces) a build: NAME EPOCH VR ARCH REPO.
put() {
  echo "$2 $3 $4" > "$DB/$1"
  if [ -f "$REPO/$1.units" ]; then
    while IFS= read -r u; do
      mkdir -p "$M/units/$u"
      : > "$M/units/$u/vendor"
      [ -f "$M/units/$u/enabled" ] || echo disabled > "$M/units/$u/enabled"
      [ -f "$M/units/$u/active" ] || echo inactive > "$M/units/$u/active"
    done < "$REPO/$1.units"
  fi
}

no_match() {
  echo "No match for argument: $1" >&2
  echo "Error: Unable to find a match: $1" >&2
  exit 1
}

# -- rpm --------------------------------------------------------------------------------
if [ "$me" = rpm ]; then
  fmt='%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n'
  query=
  while [ $# -gt 0 ]; do
    case "$1" in
    -q|--query) query=1 ;;
    --qf|--queryformat) shift; fmt=$1 ;;
    --qf=*|--queryformat=*) fmt=${1#*=} ;;
    --) shift; break ;;
    -*) echo "rpm: the model knows -q and --qf, not $1" >&2; exit 1 ;;
    *) break ;;
    esac
    shift
  done
  if [ -z "$query" ]; then echo "rpm: the model knows only -q" >&2; exit 1; fi
  rc=0
  for name in "$@"; do
    if [ ! -s "$DB/$name" ]; then
      echo "package $name is not installed"
      rc=$((rc + 1))
      continue
    fi
    FMT=$fmt awk -v name="$name" "$AWK_LIB"'
      { out = escapes(ENVIRON["FMT"])
        gsub(/%\|EPOCH\?\{%\{EPOCH\}\}:\{0\}\|/, $1 == "(none)" ? "0" : $1, out)
        gsub(/%\{NAME\}/, name, out); gsub(/%\{EPOCH\}/, $1, out)
        gsub(/%\{VERSION\}/, ver($2), out); gsub(/%\{RELEASE\}/, rel($2), out); gsub(/%\{ARCH\}/, $3, out)
        if (out ~ /%[{|]/) { print "rpm: the model cannot format " ENVIRON["FMT"] > "/dev/stderr"; exit 2 }
        printf "%s", out }' "$DB/$name" || exit 2
  done
  exit $rc
fi

# -- dnf and yum ------------------------------------------------------------------------
verb=
list=
limit=
fmt=
specs=
while [ $# -gt 0 ]; do
  case "$1" in
  -q|--quiet|-y|--assumeyes|-C|--cacheonly|--setopt=*) ;;
  --setopt) shift ;;
  --latest-limit) shift; limit=$1 ;;
  --latest-limit=*) limit=${1#*=} ;;
  --qf|--queryformat) shift; fmt=$1 ;;
  --qf=*|--queryformat=*) fmt=${1#*=} ;;
  --) shift; specs="$specs $*"; break ;;
  -*) echo "$me: the model does not know the option $1" >&2; exit 2 ;;
  *)
    if [ -z "$verb" ]; then verb=$1
    elif [ "$verb" = list ] && [ -z "$list" ]; then case "$1" in available|updates) list=$1 ;; *) specs="$specs $1" ;; esac
    elif [ "$verb" = clean ] && [ -z "$list" ]; then list=$1
    else specs="$specs $1"
    fi ;;
  esac
  shift
done

case "$verb" in
repoquery)
  if [ "$limit" != 1 ] || [ -z "$fmt" ]; then echo "$me: the model knows repoquery --latest-limit 1 --qf FORMAT" >&2; exit 2; fi
  for name in $specs; do cached "$name"; done | newest |
    FMT=$fmt awk "$AWK_LIB"'
      { out = escapes(ENVIRON["FMT"])
        gsub(/%\{name\}/, $1, out); gsub(/%\{epoch\}/, epoch($2), out); gsub(/%\{version\}/, ver($3), out)
        gsub(/%\{release\}/, rel($3), out); gsub(/%\{arch\}/, $4, out); gsub(/%\{repoid\}/, $5, out)
        gsub(/\n/, "\036", out); print out }' |
    LC_ALL=C sort -u |
    awk 'BEGIN { ORS = "" } { gsub(/\036/, "\n"); if (NR > 1) print "\n"; print } END { if (NR) print "\n" }'
  ;;
list)
  rows=$(for name in $specs; do cached "$name"; done | newest | while read -r n e vr arch repo; do
    have=$(installed_as "$n" "$arch")
    if [ -n "$have" ]; then
      newer=$(echo "$have $e $vr" | awk "$AWK_LIB"'{ print (evrcmp($3, $4, $1, $2) > 0) }')
      [ "$newer" = 1 ] || continue
    elif [ "$list" = updates ]; then
      continue
    fi
    echo "$n.$arch $(echo "$e $vr" | awk "$AWK_LIB"'{ print evr($1, $2) }') $repo"
  done | LC_ALL=C sort)
  if [ -z "$rows" ]; then echo "Error: No matching Packages to list" >&2; exit 1; fi
  if [ "$list" = updates ]; then echo "Available Upgrades"; else echo "Available Packages"; fi
  printf '%s\n' "$rows" | while read -r na v repo; do
    if [ ${#na} -gt 40 ]; then printf '%s\n%-40s %-22s %s\n' "$na" "" "$v" "$repo"
    else printf '%-40s %-22s %s\n' "$na" "$v" "$repo"
    fi
  done
  ;;
install|upgrade|downgrade)
  plan=
  for spec in $specs; do
    b=$(resolve "$spec")
    if [ -z "$b" ]; then
      if [ "$verb" = upgrade ] && [ ! -s "$DB/$spec" ]; then
        echo "Package $spec available, but not installed." >&2
        echo "No match for argument: $spec" >&2
        echo "Error: No packages marked for upgrade." >&2
        exit 1
      fi
      no_match "$spec"
    fi
    set -- $b
    if [ "$verb" = upgrade ] && [ ! -s "$DB/$1" ]; then
      echo "Package $1 available, but not installed." >&2
      echo "No match for argument: $spec" >&2
      echo "Error: No packages marked for upgrade." >&2
      exit 1
    fi
    plan="$plan
$spec $b"
  done
  printf '%s\n' "$plan" | while read -r spec n e vr arch repo; do
    [ -n "$n" ] || continue
    have=$(installed_as "$n" "$arch")
    if [ -z "$have" ]; then
      if [ "$verb" = downgrade ]; then echo "Packages for argument $spec available, but not installed." >&2; exit 1; fi
    else
      c=$(echo "$e $vr $have" | awk "$AWK_LIB"'{ print evrcmp($1, $2, $3, $4) }')
      case "$verb:$c" in
      install:0) echo "Package $n-$vr.$arch is already installed."; continue ;;
      install:*)
        if [ "$spec" = "$n" ]; then echo "Package $n-$(echo "$have" | cut -d' ' -f2).$arch is already installed."; continue; fi
        if [ "$c" = -1 ]; then
          echo "Error: Package $n of higher version already installed, cannot install $n-$vr.$arch" >&2
          exit 1
        fi ;;
      upgrade:1|downgrade:-1) ;;
      *) continue ;;
      esac
    fi
    put "$n" "$e" "$vr" "$arch"
    log "$me $verb $n-$vr"
  done || exit 1
  ;;
remove|erase)
  for name in $specs; do
    if [ ! -s "$DB/$name" ]; then echo "No match for argument: $name" >&2; continue; fi
    rm -f "$DB/$name"
    if [ -f "$REPO/$name.units" ]; then
      while IFS= read -r u; do
        if [ -d "$M/units/$u" ]; then echo inactive > "$M/units/$u/active"; rm -f "$M/units/$u/vendor"; fi
      done < "$REPO/$name.units"
    fi
    log "$me remove $name"
  done
  ;;
makecache)
  : > "$M/dnf-makecache"
  log "$me makecache"
  ;;
clean)
  [ "$list" = expire-cache ] || { echo "$me: the model knows clean expire-cache" >&2; exit 2; }
  ;;
*)
  echo "$me: the model does not know the command '$verb'" >&2
  exit 2
  ;;
esac
exit 0
"##;
