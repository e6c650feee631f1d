//! Host facts: what converge learns of a host (its OS, architecture, addresses...) and
//! what a playbook reads as `host.facts` in every expression.
//!
//! ```kdl
//! package "{{ 'httpd' if host.facts.os.family == 'RedHat' else 'apache2' }}"
//! file "/etc/motd" content="{{ host.facts.hostname }} ({{ host.facts.os.id }} {{ host.facts.os.version }})\n"
//! ```
//!
//! The schema is fixed ([`SCHEMA`]): a misspelled fact is an error at its token before
//! any host is contacted. Facts are gathered by a shell snippet per fact ([`gather`]),
//! over the same ssh master as everything else, and cached on the controller per host
//! ([`Cache`]). Which facts a playbook uses is learnt by expanding it: the facts reach the
//! templates through a [`FactsObject`] that records every fact read, so a playbook that
//! reads none gathers none, and a host whose used facts are cached and unchanged costs no
//! exchange more than one without facts (the probe re-reads the used facts alongside the
//! resources, and the engine compares them: see `engine/facts.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::playbook::inventory::Host;
use crate::script::Sh;

/// Every fact, with the fields of those that are maps (a list's items' fields after
/// `[]`), as `converge check` knows them and `docs/language.md` documents them.
pub const SCHEMA: &[(&str, &[&str])] = &[
    ("os", &["id", "family", "version", "major", "codename", "name", "like"]),
    ("arch", &[]),
    ("kernel", &[]),
    ("cpus", &[]),
    ("memory_mb", &[]),
    ("hostname", &[]),
    ("fqdn", &[]),
    ("default_ipv4", &["address", "interface", "gateway"]),
    ("default_ipv6", &["address", "interface", "gateway"]),
    ("interfaces", &["[]", "name", "addresses"]),
    ("init", &[]),
    ("package_manager", &[]),
    ("virtual", &[]),
];

/// Whether `name` is a fact.
pub fn is_fact(name: &str) -> bool {
    SCHEMA.iter().any(|(n, _)| *n == name)
}

/// The facts of one host: each fact's value, by name (JSON, so that the cache, the
/// `facts` command and the templates see one shape).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFacts(pub BTreeMap<String, Json>);

impl HostFacts {
    /// Stand-ins of the right shape, for checking a playbook with no facts known for the
    /// host (`converge check` before any contact): every fact defined, so that templates
    /// can be checked, with values no real host has (documentation addresses).
    pub fn placeholder(host_name: &str) -> HostFacts {
        let mut m = BTreeMap::new();
        let os = json!({"id": "linux", "family": "Linux", "version": "0", "major": "0", "codename": "unknown",
            "name": "Linux", "like": ""});
        m.insert("os".into(), os);
        m.insert("arch".into(), json!("x86_64"));
        m.insert("kernel".into(), json!("0.0.0"));
        m.insert("cpus".into(), json!(1));
        m.insert("memory_mb".into(), json!(1024));
        m.insert("hostname".into(), json!(host_name.split('.').next().unwrap_or(host_name)));
        m.insert("fqdn".into(), json!(host_name));
        m.insert("default_ipv4".into(), json!({"address": "192.0.2.1", "interface": "eth0", "gateway": "192.0.2.254"}));
        m.insert(
            "default_ipv6".into(),
            json!({"address": "2001:db8::1", "interface": "eth0", "gateway": "2001:db8::fe"}),
        );
        m.insert("interfaces".into(), json!([{"name": "eth0", "addresses": ["192.0.2.1", "2001:db8::1"]}]));
        m.insert("init".into(), json!("systemd"));
        m.insert("package_manager".into(), json!("apt"));
        m.insert("virtual".into(), json!("none"));
        HostFacts(m)
    }

    /// The sha256 (first 16 hex digits) of the facts named in `used`, as they are: what
    /// a host's expansion depends on.
    pub fn digest(&self, used: &BTreeSet<String>) -> String {
        let mut h = Sha256::new();
        for name in used {
            h.update(name.as_bytes());
            h.update(b"=");
            h.update(self.0.get(name).map(Json::to_string).unwrap_or_default().as_bytes());
            h.update(b"\n");
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The facts of `used` whose values differ between `self` and `other`.
    pub fn differ(&self, other: &HostFacts, used: &BTreeSet<String>) -> Vec<String> {
        used.iter().filter(|n| self.0.get(*n) != other.0.get(*n)).cloned().collect()
    }

    /// These facts with `newer`'s values over them.
    pub fn merged(&self, newer: &HostFacts) -> HostFacts {
        let mut m = self.0.clone();
        m.extend(newer.0.clone());
        HostFacts(m)
    }

    /// A fact's value as text, short (for the report of what changed).
    pub fn show(&self, name: &str) -> String {
        match self.0.get(name) {
            Some(Json::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "(none)".into(),
        }
    }
}

/// Shell that prefixes each line of its input with a tag (the fact's raw lines).
const PRELUDE: &str = "cv_tag() { while IFS= read -r cv_l; do printf '%s\\t%s\\n' \"$1\" \"$cv_l\"; done; }\n";

/// The shell that gathers each fact, with the facts it serves (the interfaces' lines also
/// serve the default routes' addresses), in the order they run: each prints
/// `TAG<TAB>TEXT` lines. Read-only, and nothing that may wait on the network
/// (`hostname -f` is bounded by `timeout`).
const SNIPPETS: &[(&[&str], &str)] = &[
    (
        &["os"],
        "for cv_f in /etc/os-release /usr/lib/os-release; do if [ -r \"$cv_f\" ]; then cv_tag os < \"$cv_f\"; break; fi; done\n",
    ),
    (&["arch"], "printf 'arch\\t%s\\n' \"$(uname -m)\"\n"),
    (&["kernel"], "printf 'kernel\\t%s\\n' \"$(uname -r)\"\n"),
    (&["cpus"], "printf 'cpus\\t%s\\n' \"$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)\"\n"),
    (
        &["memory_mb"],
        "while read -r cv_k cv_v cv_u; do if [ \"$cv_k\" = MemTotal: ]; then printf 'memory_mb\\t%s\\n' \"$((cv_v / 1024))\"; break; fi; done 2>/dev/null < /proc/meminfo\n",
    ),
    (
        &["hostname", "fqdn"],
        "cv_n=$(cat /proc/sys/kernel/hostname 2>/dev/null || uname -n)\nprintf 'hostname\\t%s\\n' \"$cv_n\"\n",
    ),
    (&["fqdn"], "printf 'fqdn\\t%s\\n' \"$(timeout 3 hostname -f 2>/dev/null || printf '%s' \"$cv_n\")\"\n"),
    (&["default_ipv4"], "ip -4 route show default 2>/dev/null | cv_tag route4\n"),
    (&["default_ipv6"], "ip -6 route show default 2>/dev/null | cv_tag route6\n"),
    (
        &["interfaces", "default_ipv4", "default_ipv6"],
        "if command -v ip >/dev/null 2>&1; then ip -o link show | cv_tag link; ip -o addr show | cv_tag addr; else for cv_d in /sys/class/net/*; do printf 'link\\t0: %s:\\n' \"${cv_d##*/}\"; done; fi\n",
    ),
    (
        &["init"],
        "if [ -d /run/systemd/system ]; then printf 'init\\tsystemd\\n'; else printf 'init\\t%s\\n' \"$(cat /proc/1/comm 2>/dev/null)\"; fi\n",
    ),
    (
        &["package_manager"],
        "for cv_p in apt-get dnf yum zypper pacman apk; do if command -v \"$cv_p\" >/dev/null 2>&1; then printf 'package_manager\\t%s\\n' \"$cv_p\"; break; fi; done\n",
    ),
    (
        &["virtual"],
        "cv_v=$(systemd-detect-virt 2>/dev/null); if [ -z \"$cv_v\" ]; then if [ -f /.dockerenv ]; then cv_v=docker; elif [ -f /run/.containerenv ]; then cv_v=podman; fi; fi; printf 'virtual\\t%s\\n' \"$cv_v\"\n",
    ),
];

/// Writes the commands that gather `names` (every fact when empty): the [`SNIPPETS`] that
/// serve them.
pub fn gather(sh: &mut Sh, names: &[&str]) {
    sh.raw(PRELUDE);
    for (serves, snippet) in SNIPPETS {
        if names.is_empty() || serves.iter().any(|n| names.contains(n)) {
            sh.raw(snippet);
        }
    }
}

/// Reads what [`gather`] printed for `names` (every fact when empty).
pub fn parse(out: &str, names: &[&str]) -> HostFacts {
    let mut raw: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in out.lines() {
        if let Some((tag, text)) = line.split_once('\t') {
            raw.entry(tag).or_default().push(text);
        }
    }
    let one = |tag: &str| raw.get(tag).and_then(|v| v.first()).map(|s| s.trim().to_string()).unwrap_or_default();
    let lines = |tag: &str| raw.get(tag).cloned().unwrap_or_default();
    let mut m = BTreeMap::new();
    let all = names.is_empty();
    let wants = |n: &str| all || names.contains(&n);
    if wants("os") {
        m.insert("os".into(), os(&lines("os")));
    }
    for name in ["arch", "kernel", "fqdn", "init"] {
        if wants(name) {
            m.insert(name.into(), json!(one(name)));
        }
    }
    for name in ["cpus", "memory_mb"] {
        if wants(name) {
            m.insert(name.into(), one(name).parse::<u64>().map(Json::from).unwrap_or(Json::Null));
        }
    }
    if wants("hostname") {
        let full = one("hostname");
        m.insert("hostname".into(), json!(full.split('.').next().unwrap_or_default()));
    }
    if wants("package_manager") {
        let pm = one("package_manager");
        m.insert("package_manager".into(), json!(if pm == "apt-get" { "apt".to_string() } else { pm }));
    }
    if wants("virtual") {
        m.insert("virtual".into(), json!(one("virtual")));
    }
    let ifaces = interfaces(&lines("link"), &lines("addr"));
    if wants("interfaces") {
        m.insert(
            "interfaces".into(),
            json!(ifaces.iter().map(|(n, a)| json!({"name": n, "addresses": a})).collect::<Vec<_>>()),
        );
    }
    if wants("default_ipv4") {
        m.insert("default_ipv4".into(), default_route(&lines("route4"), &ifaces, false));
    }
    if wants("default_ipv6") {
        m.insert("default_ipv6".into(), default_route(&lines("route6"), &ifaces, true));
    }
    HostFacts(m)
}

/// `os` from `/etc/os-release` (`KEY=value` lines, values optionally quoted).
fn os(lines: &[&str]) -> Json {
    let mut kv: BTreeMap<&str, String> = BTreeMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once('=') {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
            kv.insert(k.trim(), v.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
    }
    let get = |k: &str| kv.get(k).cloned().unwrap_or_default();
    let id = get("ID").to_lowercase();
    let like = get("ID_LIKE").to_lowercase();
    let version = get("VERSION_ID");
    let codename = if kv.contains_key("VERSION_CODENAME") { get("VERSION_CODENAME") } else { get("UBUNTU_CODENAME") };
    let name = if kv.contains_key("PRETTY_NAME") { get("PRETTY_NAME") } else { get("NAME") };
    json!({
        "id": id,
        "family": family(&id, &like),
        "version": version,
        "major": version.split('.').next().unwrap_or_default(),
        "codename": codename,
        "name": name,
        "like": like,
    })
}

/// The OS family as Ansible names it (`ansible_os_family`), from the id and `ID_LIKE`.
pub fn family(id: &str, like: &str) -> String {
    const FAMILIES: &[(&str, &[&str])] = &[
        ("Debian", &["debian", "ubuntu", "linuxmint", "raspbian", "pop", "kali", "devuan", "elementary"]),
        (
            "RedHat",
            &["rhel", "centos", "rocky", "almalinux", "fedora", "ol", "amzn", "scientific", "cloudlinux", "eurolinux"],
        ),
        ("Suse", &["sles", "sles_sap", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "suse"]),
        ("Archlinux", &["arch", "manjaro", "endeavouros"]),
        ("Alpine", &["alpine"]),
        ("Gentoo", &["gentoo"]),
    ];
    let words: Vec<&str> = std::iter::once(id).chain(like.split_whitespace()).collect();
    for w in words {
        if let Some((f, _)) = FAMILIES.iter().find(|(_, ids)| ids.contains(&w)) {
            return f.to_string();
        }
    }
    let mut c = id.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Interfaces in the host's order, each with its addresses (without prefix length), from
/// `ip -o link show` and `ip -o addr show`.
fn interfaces(links: &[&str], addrs: &[&str]) -> Vec<(String, Vec<String>)> {
    let name_of = |field: &str| field.trim_end_matches(':').split('@').next().unwrap_or_default().to_string();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for l in links {
        let mut f = l.split_whitespace();
        if let (Some(_), Some(name)) = (f.next(), f.next()) {
            let name = name_of(name);
            if !name.is_empty() && !out.iter().any(|(n, _)| *n == name) {
                out.push((name, Vec::new()));
            }
        }
    }
    for l in addrs {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 4 && (f[2] == "inet" || f[2] == "inet6") {
            let name = name_of(f[1]);
            let addr = f[3].split('/').next().unwrap_or_default().to_string();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, a)) => a.push(addr),
                None => out.push((name, vec![addr])),
            }
        }
    }
    out
}

/// `default_ipv4`/`default_ipv6`: the default route's gateway and interface, and that
/// interface's first address of the family (empty strings when there is no default route).
fn default_route(routes: &[&str], ifaces: &[(String, Vec<String>)], v6: bool) -> Json {
    let mut gateway = String::new();
    let mut interface = String::new();
    if let Some(r) = routes.iter().find(|r| r.starts_with("default")) {
        let f: Vec<&str> = r.split_whitespace().collect();
        for w in f.windows(2) {
            match w[0] {
                "via" => gateway = w[1].to_string(),
                "dev" => interface = w[1].to_string(),
                _ => {}
            }
        }
    }
    let address = ifaces
        .iter()
        .find(|(n, _)| *n == interface)
        .and_then(|(_, a)| a.iter().find(|a| a.contains(':') == v6 && !a.starts_with("fe80")))
        .cloned()
        .unwrap_or_default();
    json!({"address": address, "interface": interface, "gateway": gateway})
}

/// The `host.facts` a template sees: the values of one host's facts, each read recorded
/// (shared by every clone of the context), so the engine learns which facts the
/// expansion depends on.
#[derive(Debug)]
pub struct FactsObject {
    facts: HostFacts,
    read: Arc<Mutex<Reads>>,
}

/// What the templates read of the facts: which, and how many reads in all (so that a
/// stage can tell whether it read any).
#[derive(Debug, Default)]
pub struct Reads {
    pub names: BTreeSet<String>,
    pub count: usize,
}

impl FactsObject {
    /// The object, and where it records reads.
    pub fn value(facts: HostFacts) -> (Value, Arc<Mutex<Reads>>) {
        let read = Arc::new(Mutex::new(Reads::default()));
        (Value::from_object(FactsObject { facts, read: read.clone() }), read)
    }

    fn note(&self, name: &str) {
        let mut r = self.read.lock().unwrap_or_else(|p| p.into_inner());
        r.names.insert(name.to_string());
        r.count += 1;
    }
}

impl Object for FactsObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let v = self.facts.0.get(name)?;
        self.note(name);
        Some(Value::from(minijinja::value::Serde(v)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        for name in self.facts.0.keys() {
            self.note(name);
        }
        Enumerator::Values(self.facts.0.keys().map(|k| Value::from(k.clone())).collect())
    }
}

/// What a misspelled fact in a template should have been: for an expression text that
/// reads `host.facts.NAME[.FIELD]` with a NAME or FIELD the schema lacks, a help line.
pub fn explain(text: &str) -> Option<String> {
    let start = text.find("host.facts.")? + "host.facts.".len();
    let path: String = text[start..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.').collect();
    let mut parts = path.split('.');
    let name = parts.next()?;
    let Some((_, fields)) = SCHEMA.iter().find(|(n, _)| *n == name) else {
        let names = SCHEMA.iter().map(|(n, _)| *n);
        return Some(match crate::diag::did_you_mean(name, names) {
            Some(s) => format!("there is no fact `{name}`; did you mean `host.facts.{s}`?"),
            None => format!("there is no fact `{name}`; the facts are {}", fact_names()),
        });
    };
    let field = parts.next().filter(|f| !f.is_empty())?;
    let fields: Vec<&str> = fields.iter().copied().filter(|f| *f != "[]").collect();
    if fields.is_empty() || fields.contains(&field) {
        return None;
    }
    Some(match crate::diag::did_you_mean(field, fields.iter().copied()) {
        Some(s) => format!("`{name}` has no field `{field}`; did you mean `host.facts.{name}.{s}`?"),
        None => format!("`{name}` has the fields {}", fields.join(", ")),
    })
}

fn fact_names() -> String {
    SCHEMA.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// The controller's cache of facts, one JSON file per host (by its name and how it is
/// reached): `$CONVERGE_FACT_CACHE`, else `$XDG_CACHE_HOME/converge/facts`, else
/// `~/.cache/converge/facts`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    format_version: u32,
    host: String,
    facts: HostFacts,
}

impl Cache {
    /// The cache in its usual place; `None` when no place can be found (no `HOME`).
    pub fn new() -> Option<Cache> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = var("CONVERGE_FACT_CACHE")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("converge/facts")))
            .or_else(|| var("HOME").map(|d| d.join(".cache/converge/facts")))?;
        Some(Cache { dir })
    }

    /// A cache in `dir` (tests).
    pub fn at(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    fn path(&self, host: &Host) -> PathBuf {
        // the host's name and everything that says which machine it is
        let who = format!(
            "{}\n{}\n{:?}\n{:?}\n{:?}",
            host.name,
            host.address.as_deref().unwrap_or(""),
            host.port,
            host.user,
            host.connection
        );
        let h: String = Sha256::digest(who.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
        let safe: String =
            host.name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        self.dir.join(format!("{safe}-{h}.json"))
    }

    /// The cached facts of a host, if any (an unreadable or older-format file is none, and
    /// so is one without every fact of the schema).
    pub fn load(&self, host: &Host) -> Option<HostFacts> {
        let text = std::fs::read_to_string(self.path(host)).ok()?;
        let c: Cached = serde_json::from_str(&text).ok()?;
        // a cache that lacks a fact (written before it existed) is no cache: gather again
        let whole = SCHEMA.iter().all(|(name, _)| c.facts.0.contains_key(*name));
        (c.format_version == 1 && c.host == host.name && whole).then_some(c.facts)
    }

    /// Saves a host's facts, atomically (a temp file renamed); a cache that cannot be
    /// written only costs the next run an exchange, so the error is returned for the
    /// caller to report, never fatal.
    pub fn save(&self, host: &Host, facts: &HostFacts) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(host);
        let c = Cached { format_version: 1, host: host.name.clone(), facts: facts.clone() };
        let text = serde_json::to_string_pretty(&c).map_err(std::io::Error::other)?;
        let tmp = path.with_extension(format!("json.{}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_of_debian_ubuntu_and_rhel_give_id_family_version_and_codename() {
        let debian = [
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"",
            "ID=debian",
            "VERSION_ID=\"12\"",
            "VERSION_CODENAME=bookworm",
        ];
        let o = os(&debian);
        assert_eq!(o["family"], "Debian");
        assert_eq!(o["version"], "12");
        assert_eq!(o["codename"], "bookworm");
        let ubuntu = ["ID=ubuntu", "ID_LIKE=debian", "VERSION_ID=\"22.04\"", "UBUNTU_CODENAME=jammy"];
        let o = os(&ubuntu);
        assert_eq!(
            (o["family"].as_str(), o["major"].as_str(), o["codename"].as_str()),
            (Some("Debian"), Some("22"), Some("jammy"))
        );
        let rhel = ["NAME=\"Red Hat Enterprise Linux\"", "ID=\"rhel\"", "ID_LIKE=\"fedora\"", "VERSION_ID=\"9.4\""];
        let o = os(&rhel);
        assert_eq!(
            (o["family"].as_str(), o["major"].as_str(), o["codename"].as_str()),
            (Some("RedHat"), Some("9"), Some(""))
        );
        assert_eq!(family("rocky", "rhel centos fedora"), "RedHat");
        assert_eq!(family("nixos", ""), "Nixos");
    }

    #[test]
    fn addresses_and_the_default_route_come_from_ip() {
        let out = "link\t1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n\
            link\t2: host0@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n\
            addr\t1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
            addr\t2: host0    inet 10.231.1.2/24 brd 10.231.1.255 scope global host0\\       valid_lft forever\n\
            addr\t2: host0    inet6 fe80::1/64 scope link \\       valid_lft forever\n\
            route4\tdefault via 10.231.1.1 dev host0 proto static\n";
        let f = parse(out, &["interfaces", "default_ipv4", "default_ipv6"]);
        assert_eq!(f.0["interfaces"][1], json!({"name": "host0", "addresses": ["10.231.1.2", "fe80::1"]}));
        assert_eq!(
            f.0["default_ipv4"],
            json!({"address": "10.231.1.2", "interface": "host0", "gateway": "10.231.1.1"})
        );
        assert_eq!(f.0["default_ipv6"], json!({"address": "", "interface": "", "gateway": ""}));
        assert!(!f.0.contains_key("os"), "only what was asked");
    }

    #[test]
    fn a_fact_read_is_recorded_and_a_misspelled_one_is_explained() {
        let (v, read) = FactsObject::value(HostFacts::placeholder("web-1"));
        let env = minijinja::Environment::new();
        let out = env.render_str("{{ f.os.family }}/{{ f.hostname }}", minijinja::context! { f => v }).expect("render");
        assert_eq!(out, "Linux/web-1");
        assert_eq!(read.lock().expect("lock").names.iter().cloned().collect::<Vec<_>>(), vec!["hostname", "os"]);
        assert_eq!(
            explain("host.facts.os.familly == 'x'").as_deref(),
            Some("`os` has no field `familly`; did you mean `host.facts.os.family`?")
        );
        assert_eq!(
            explain("host.facts.hostnme").as_deref(),
            Some("there is no fact `hostnme`; did you mean `host.facts.hostname`?")
        );
        assert_eq!(explain("host.facts.os.family"), None);
    }

    #[test]
    fn the_cache_keeps_a_hosts_facts_and_a_partial_one_is_no_cache() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = Cache::at(dir.path());
        let src = crate::diag::source("i.kdl", "host \"web-1\" address=\"10.0.0.1\"".to_string());
        let doc = crate::syntax::kdl::parse(&src).expect("kdl");
        let (mut inv, mut diags) = (crate::playbook::inventory::Inventory::default(), crate::diag::Diags::default());
        inv.read_node(&src, &doc.nodes()[0], &mut diags);
        let host = &inv.hosts[0];
        assert_eq!(cache.load(host), None);
        let facts = HostFacts::placeholder("web-1");
        cache.save(host, &facts).expect("save");
        assert_eq!(cache.load(host), Some(facts.clone()));
        let mut partial = facts;
        partial.0.remove("virtual");
        cache.save(host, &partial).expect("save");
        assert_eq!(cache.load(host), None, "a fact missing: gather again");
    }

    #[test]
    fn every_fact_of_the_schema_has_its_snippet_and_only_what_is_asked_is_gathered() {
        for (name, _) in SCHEMA {
            assert!(SNIPPETS.iter().any(|(serves, _)| serves.contains(name)), "{name} has no snippet");
        }
        let mut sh = Sh::new();
        gather(&mut sh, &["fqdn"]);
        let text = sh.into_text();
        // fqdn falls back on the host name, which its own snippet reads first
        assert!(text.contains("cv_n=$(cat /proc/sys/kernel/hostname") && text.contains("hostname -f"), "{text}");
        assert!(!text.contains("uname -m") && !text.contains("os-release"), "{text}");
    }

    #[test]
    fn the_digest_covers_only_the_facts_used() {
        let a = HostFacts::placeholder("a");
        let mut b = a.clone();
        b.0.insert("kernel".into(), json!("6.1"));
        let used: BTreeSet<String> = ["os".to_string()].into();
        assert_eq!(a.digest(&used), b.digest(&used));
        assert!(a.differ(&b, &used).is_empty());
        let both: BTreeSet<String> = ["os".to_string(), "kernel".to_string()].into();
        assert_ne!(a.digest(&both), b.digest(&both));
        assert_eq!(a.differ(&b, &both), vec!["kernel".to_string()]);
    }
}
