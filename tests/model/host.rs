//! The modelled host: a [`Transport`] that runs every script converge sends for real, with
//! `/bin/sh -s`, inside a private mount namespace where the directories scenarios touch
//! are per-test directories of a tempdir, so the machine running the tests is never
//! changed.
//!
//! Each exchange runs `unshare --mount --propagation private -- sh -c '<bind mounts>; exec
//! sh -s'` with the script on stdin: a fresh namespace per exchange, in which `/etc`,
//! `/srv`, `/opt`, `/var/lib` (converge's state is `/var/lib/converge`), `/var/tmp`,
//! `/home`, `/usr/local` (its `sbin` holds the stubs of `stubs.rs`, first on the `PATH`
//! every converge script sets) and `/tmp` are the model's own. The bind mounts are the
//! lines of a private fstab mounted with one `mount -a -T FSTAB`: one process for all of
//! them (a `mount` per directory costs ~4 ms each). `/etc` is seeded with copies of the
//! machine's account files, `nsswitch.conf`, the dynamic linker's cache and the
//! `alternatives` links (`awk`), so the host's own tools run as they would.
//!
//! A host has Debian's package tools ([`Tools::Apt`], the default) or RHEL 9's
//! ([`Tools::Dnf`], [`Tools::Yum`]: `rpm_stubs.rs`, seeded by `rhel.rs`); on the latter
//! the machine's own Debian tools are whited out of `/usr/bin` by an overlay in the same
//! fstab, so the `package` kind's probe finds rpm and dnf, as on a RHEL host.
//!
//! Packages and services live in the stubs' state under `/var/lib/model/`: a test declares
//! the packages the host's repository has ([`Pkg`]) and the services already there
//! ([`ModelHost::unit`]), and reads the state back directly ([`ModelHost::installed`],
//! [`ModelHost::service`], [`ModelHost::read`], [`ModelHost::stat`]), not through converge.
//!
//! The model records every exchange (the script, the apply blocks it holds, what it
//! printed) and injects faults into a given exchange: the connection dropped after the
//! K-th frame (the host stops there and the transport returns what ssh's does on a lost
//! connection, `Err(TransportError::Lost)`), the script killed there (the output cut
//! short and no exit status, as a killed remote command), a lying frame (its body replaced)
//! and hooks run between two exchanges (someone else changing the host between probe and
//! apply).
//!
//! Nothing waits without a bound: an exchange that has not ended in
//! [`EXCHANGE_TIMEOUT`] is killed (its process group, by the id this model started) and
//! fails the test.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use converge::transport::{BoxFut, Output, Transport, TransportError};

use crate::{rpm_stubs, stubs};

/// The directories of the machine the model replaces, in mount order: `/tmp` last, since
/// the tempdir the others come from may be under it.
pub const BOUND: &[&str] = &["/etc", "/srv", "/opt", "/var/lib", "/var/tmp", "/home", "/usr/local", "/tmp"];

/// The longest one exchange (or one [`ModelHost::sh`]) may take.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment of an ssh session: nothing of the test process's.
const ENV: &[(&str, &str)] = &[
    ("HOME", "/root"),
    ("USER", "root"),
    ("LOGNAME", "root"),
    ("SHELL", "/bin/sh"),
    ("PATH", "/usr/bin:/bin:/usr/sbin:/sbin"),
];

/// The package manager a modelled host has: which stubs are on its `PATH`, and which of the
/// machine's own tools are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tools {
    /// Debian's: `dpkg-query`, `apt-get`, `apt-cache` ([`stubs`]).
    Apt,
    /// RHEL 9's: `rpm` and `dnf`, and `yum`, which is dnf there ([`rpm_stubs`]).
    Dnf,
    /// `rpm` and `yum` only, no `dnf`.
    Yum,
}

impl Tools {
    /// The stubs in `/usr/local/sbin`.
    fn stubs(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Tools::Apt => &[
                ("dpkg-query", stubs::DPKG_QUERY),
                ("apt-get", stubs::APT_GET),
                ("apt-cache", stubs::APT_CACHE),
                ("systemctl", stubs::SYSTEMCTL),
            ],
            Tools::Dnf => &[
                ("rpm", rpm_stubs::RPM),
                ("dnf", rpm_stubs::RPM),
                ("yum", rpm_stubs::RPM),
                ("systemctl", stubs::SYSTEMCTL),
            ],
            Tools::Yum => &[("rpm", rpm_stubs::RPM), ("yum", rpm_stubs::RPM), ("systemctl", stubs::SYSTEMCTL)],
        }
    }
}

/// Debian's package tools in the machine's `/usr/bin` (`/bin` is a link to it), hidden on a
/// host with rpm: the provider's probe looks for `dpkg-query` and `apt-get` first, and a
/// file put over them (`/dev/null`, an empty file, a stub that fails) is still found by
/// bash's `command -v`. They are whited out instead: `/usr/bin` is a read-only overlay whose
/// top layer holds a whiteout (a 0/0 character device) per tool, so in the model's namespace
/// they do not exist at all, and the rest of `/usr/bin` is the machine's.
const DEBIAN_TOOLS: &[&str] = &["apt", "apt-cache", "apt-get", "dpkg", "dpkg-query"];

/// A package in the modelled host's repository.
#[derive(Debug, Clone)]
pub struct Pkg {
    name: String,
    version: String,
    files: Vec<(String, Entry)>,
    services: Vec<String>,
    fails: bool,
    needs_update: bool,
}

#[derive(Debug, Clone)]
enum Entry {
    File(String),
    Link(String),
    Dir,
}

impl Pkg {
    pub fn new(name: &str, version: &str) -> Pkg {
        Pkg {
            name: name.into(),
            version: version.into(),
            files: Vec::new(),
            services: Vec::new(),
            fails: false,
            needs_update: false,
        }
    }

    /// A regular file the package installs (mode 0644).
    pub fn file(mut self, path: &str, content: &str) -> Pkg {
        inside(path);
        self.files.push((path.into(), Entry::File(content.into())));
        self
    }

    /// A symlink the package installs.
    pub fn link(mut self, path: &str, target: &str) -> Pkg {
        inside(path);
        self.files.push((path.into(), Entry::Link(target.into())));
        self
    }

    /// An empty directory the package installs.
    pub fn dir(mut self, path: &str) -> Pkg {
        inside(path);
        self.files.push((path.into(), Entry::Dir));
        self
    }

    /// A service the package ships: enabled and started when it is installed.
    pub fn service(mut self, unit: &str) -> Pkg {
        self.services.push(unit.into());
        self
    }

    /// Its maintainer script fails: the files are unpacked, the install fails.
    pub fn failing(mut self) -> Pkg {
        self.fails = true;
        self
    }

    /// Not in the local package lists until `apt-get update`.
    pub fn needs_update(mut self) -> Pkg {
        self.needs_update = true;
        self
    }
}

/// Panics unless `path` is inside one of the model's directories.
fn inside(path: &str) {
    let ok = path.starts_with('/')
        && !path.split('/').any(|c| c == "..")
        && BOUND.iter().any(|b| path.strip_prefix(b).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
    assert!(ok, "{path} is not inside the modelled host's directories {BOUND:?}");
}

/// A fault injected into one exchange.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The connection drops right after the K-th frame of the script ends (0: before the
    /// first): the host runs nothing after it, and the transport returns
    /// `Err(TransportError::Lost)`, as ssh's does.
    DropAfter(usize),
    /// The script is killed right after the K-th frame: what it printed until then comes
    /// back, cut short, with no exit status.
    KillAfter(usize),
    /// The host lies about frame INDEX: its body is replaced with this text.
    Lie { frame: usize, body: String },
}

/// Something done on the host before an exchange, by someone other than converge.
pub enum Hook {
    /// A shell command run in the model's namespace (it must succeed).
    Sh(String),
    /// Anything, with the model at hand.
    Fn(Box<dyn FnOnce(&ModelHost) + Send>),
}

/// One exchange as the model saw it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// 1-based, counted over the model's life.
    pub n: usize,
    /// The script as converge sent it.
    pub script: String,
    /// The apply blocks the script holds (`# block N`), in order; empty for a probe.
    pub blocks: Vec<usize>,
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Exchange {
    pub fn is_apply(&self) -> bool {
        self.script.contains("\n# block ")
    }
}

struct Inner {
    dir: tempfile::TempDir,
    exchanges: Mutex<Vec<Exchange>>,
    faults: Mutex<BTreeMap<usize, Vec<Fault>>>,
    hooks: Mutex<BTreeMap<usize, Vec<Hook>>>,
}

/// The modelled host; clones share it. `Box::new(host.clone())` is the transport handed to
/// the engine.
#[derive(Clone)]
pub struct ModelHost {
    inner: Arc<Inner>,
}

/// What `systemctl` and the model's counters say about a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svc {
    pub load: String,
    pub active: String,
    pub enabled: String,
    pub starts: u32,
    pub restarts: u32,
    pub reloads: u32,
    pub stops: u32,
}

impl ModelHost {
    /// A fresh host whose package repository holds `repo`. Fails the test, saying why,
    /// when the private mount namespace cannot be made.
    pub fn new(repo: &[Pkg]) -> ModelHost {
        ModelHost::with_tools(Tools::Apt, repo)
    }

    /// A fresh host with the package manager `tools`, whose repository holds `repo` (apt's:
    /// a host with rpm is seeded by `rhel.rs`).
    pub fn with_tools(tools: Tools, repo: &[Pkg]) -> ModelHost {
        // in memory when the machine has a tmpfs that allows running programs (the stubs):
        // creating a file or a link costs ~1 ms on the disk of a CI machine, ~5 µs there
        let builder = || {
            let mut b = tempfile::Builder::new();
            b.prefix("converge-model.");
            b
        };
        let dir = match exec_tmpfs() {
            Some(base) => builder().tempdir_in(base).or_else(|_| builder().tempdir()),
            None => builder().tempdir(),
        }
        .expect("a tempdir for the modelled host");
        let root = dir.path().join("root");
        for b in BOUND {
            std::fs::create_dir_all(root.join(&b[1..])).expect("model directory");
        }
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).expect("chmod /tmp");
        std::fs::set_permissions(root.join("var/tmp"), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        seed_etc(&root.join("etc"));
        let sbin = root.join("usr/local/sbin");
        std::fs::create_dir_all(&sbin).expect("sbin");
        std::fs::create_dir_all(root.join("usr/local/bin")).expect("bin");
        for (name, text) in tools.stubs() {
            let p = sbin.join(name);
            std::fs::write(&p, text).expect("stub");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod stub");
        }
        let model = root.join("var/lib/model");
        for d in ["repo", "dpkg", "units", "rpmdb", "rpmrepo"] {
            std::fs::create_dir_all(model.join(d)).expect("model state");
        }
        for p in repo {
            write_pkg(&model.join("repo").join(&p.name), p);
        }
        // what apt-cache policy names as the repository: the machine's own mirror, read
        // from its apt sources (or the model's own repository when it has none)
        let mirror = converge::sandbox::mirror::resolve(None, "bookworm")
            .unwrap_or_else(|_| "file:/var/lib/model/repo".to_string());
        std::fs::write(model.join("mirror"), mirror).expect("the mirror");
        let mut fstab = String::new();
        for b in BOUND {
            let src = root.join(&b[1..]);
            let src = src.to_str().expect("utf-8 tempdir");
            assert!(!src.contains(char::is_whitespace), "the tempdir {src} holds whitespace: cannot be an fstab line");
            fstab.push_str(&format!("{src} {b} none bind 0 0\n"));
        }
        if tools != Tools::Apt {
            fstab.push_str(&hide_debian_tools(dir.path()));
        }
        std::fs::write(dir.path().join("fstab"), fstab).expect("fstab");
        let host = ModelHost {
            inner: Arc::new(Inner {
                dir,
                exchanges: Mutex::new(Vec::new()),
                faults: Mutex::new(BTreeMap::new()),
                hooks: Mutex::new(BTreeMap::new()),
            }),
        };
        // the namespace is the model's (its own /etc), as root, and the stubs run: were they
        // not, the scripts would find the machine's own apt-get and systemctl next on the PATH
        let names: Vec<&str> = tools.stubs().iter().map(|(n, _)| *n).collect();
        let mut check = format!(
            "echo \"model:$(id -u):$(cat /etc/hostname 2>/dev/null || echo ours)\"\n\
             for c in {}; do\n\
             /usr/local/sbin/$c >/dev/null 2>&1 </dev/null; r=$?\n\
             if [ $r -eq 126 ] || [ $r -eq 127 ]; then echo \"cannot run the stub $c ($r)\"; fi\n\
             done\n",
            names.join(" ")
        );
        if tools != Tools::Apt {
            check.push_str(&format!(
                "for c in {}; do if command -v $c >/dev/null 2>&1; then echo \"the machine's $c is not hidden\"; fi; done\n",
                DEBIAN_TOOLS.join(" ")
            ));
        }
        let (out, err, code) = host.run_ns(&check);
        assert!(
            code == Some(0) && out == "model:0:ours\n",
            "the modelled host cannot run: `unshare --mount` with bind mounts needs root (CAP_SYS_ADMIN) and util-linux, \
             and its stubs must be executable where its tempdir is ({}); exit status {code:?}, stdout {out:?}, stderr:\n{err}",
            host.dir().display()
        );
        host
    }

    /// The model's tempdir (the bind mounts' sources are under `root/`).
    pub fn dir(&self) -> &Path {
        self.inner.dir.path()
    }

    /// Where the modelled `path` is on the machine running the tests.
    pub fn path(&self, path: &str) -> PathBuf {
        inside(path);
        self.dir().join("root").join(path.trim_start_matches('/'))
    }

    /// The transport for one engine run.
    pub fn transport(&self) -> Box<dyn Transport> {
        Box::new(self.clone())
    }

    /// A service already on the host, not from a package.
    pub fn unit(&self, name: &str, active: bool, enabled: bool) {
        let u = unit_name(name);
        let d = self.path("/var/lib/model/units").join(&u);
        std::fs::create_dir_all(&d).expect("unit");
        std::fs::write(d.join("vendor"), "").expect("unit");
        std::fs::write(d.join("active"), if active { "active\n" } else { "inactive\n" }).expect("unit");
        std::fs::write(d.join("enabled"), if enabled { "enabled\n" } else { "disabled\n" }).expect("unit");
    }

    /// Makes a unit's start (and restart) fail from now on, or succeed again.
    pub fn failing_unit(&self, name: &str, fails: bool) {
        let d = self.path("/var/lib/model/units").join(unit_name(name));
        std::fs::create_dir_all(&d).expect("unit");
        if fails {
            std::fs::write(d.join("fail-start"), "").expect("unit");
        } else {
            let _ = std::fs::remove_file(d.join("fail-start"));
        }
    }

    // -- the host's state, read directly ------------------------------------------------

    /// A file's content, or `None` when there is no regular file there.
    pub fn read(&self, path: &str) -> Option<String> {
        let p = self.path(path);
        let meta = std::fs::symlink_metadata(&p).ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(std::fs::read_to_string(p).expect("utf-8 file"))
    }

    pub fn exists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.path(path)).is_ok()
    }

    /// A symlink's target, or `None` when it is not a symlink.
    pub fn link(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.path(path)).ok().map(|t| t.to_string_lossy().into_owned())
    }

    /// `TYPE OWNER:GROUP MODE` as the host's own `stat` says it (names from the host's
    /// /etc/passwd), or `absent`.
    pub fn stat(&self, path: &str) -> String {
        inside(path);
        let q = shlex::try_quote(path).expect("quotable");
        self.sh(&format!("if [ -e {q} ] || [ -L {q} ]; then stat -c '%F %U:%G %a' -- {q}; else echo absent; fi"))
            .trim_end()
            .to_string()
    }

    /// Writes a file on the host (its parents created), as someone other than converge.
    pub fn write(&self, path: &str, content: &str) {
        let p = self.path(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("parents");
        std::fs::write(p, content).expect("write");
    }

    /// The installed version of a package (`dpkg-query`'s status `installed`).
    pub fn installed(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.path("/var/lib/model/dpkg").join(name)).ok()?;
        let (status, version) = text.trim().split_once(' ')?;
        (status == "installed").then(|| version.to_string())
    }

    /// A unit's state, as `systemctl show` says it, and the model's counters.
    pub fn service(&self, name: &str) -> Svc {
        let u = unit_name(name);
        let show = self.sh(&format!("systemctl show -p LoadState -p ActiveState -p UnitFileState -- {u}"));
        let prop =
            |p: &str| show.lines().find_map(|l| l.strip_prefix(&format!("{p}="))).unwrap_or_default().to_string();
        let d = self.path("/var/lib/model/units").join(&u);
        let count = |f: &str| std::fs::read_to_string(d.join(f)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        Svc {
            load: prop("LoadState"),
            active: prop("ActiveState"),
            enabled: prop("UnitFileState"),
            starts: count("starts"),
            restarts: count("restarts"),
            reloads: count("reloads"),
            stops: count("stops"),
        }
    }

    /// What the stubs did that changes something, in order (`apt-get install nginx`,
    /// `systemctl restart nginx.service`, ...).
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("/var/lib/model/log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every path of the host, with its type, mode, owner and content (or target): equal
    /// before and after a run that changed nothing. `/tmp` is left out (scripts make and
    /// remove their temp files there).
    pub fn fingerprint(&self) -> String {
        use std::os::unix::fs::MetadataExt as _;
        let root = self.dir().join("root");
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        let mut seen = 0usize;
        while let Some(d) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&d).expect("read_dir").flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                seen += 1;
                assert!(seen < 200_000, "the model's tree is unexpectedly large");
                let p = e.path();
                let rel = p.strip_prefix(&root).expect("under root").to_string_lossy().into_owned();
                if rel == "tmp" {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).expect("metadata");
                let what = if m.file_type().is_symlink() {
                    format!("-> {}", std::fs::read_link(&p).expect("readlink").display())
                } else if m.is_dir() {
                    stack.push(p.clone());
                    "dir".to_string()
                } else {
                    let bytes = std::fs::read(&p).expect("read");
                    format!("{} bytes {}", bytes.len(), sha256_hex(&bytes))
                };
                out.push(format!("/{rel} {:o} {}:{} {what}", m.mode() & 0o7777, m.uid(), m.gid()));
            }
        }
        out.sort();
        out.join("\n")
    }

    /// Runs `cmd` in the model's namespace (a fresh one, as an exchange) and returns its
    /// stdout; fails the test if it fails.
    pub fn sh(&self, cmd: &str) -> String {
        let (out, err, code) = self.run_ns(&format!(
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH\n{cmd}\n"
        ));
        assert_eq!(code, Some(0), "on the modelled host: {cmd}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    // -- exchanges, faults and hooks ----------------------------------------------------------

    /// Every exchange so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.inner.exchanges.lock().expect("lock").clone()
    }

    /// The number the next exchange will have (1-based over the model's life): exchange
    /// `next() + 1` is the second of the next run (its apply, when it has one).
    pub fn next(&self) -> usize {
        self.inner.exchanges.lock().expect("lock").len() + 1
    }

    /// Injects `fault` into exchange `n`.
    pub fn fault(&self, n: usize, fault: Fault) {
        self.inner.faults.lock().expect("lock").entry(n).or_default().push(fault);
    }

    /// Runs `hook` just before exchange `n`.
    pub fn before(&self, n: usize, hook: Hook) {
        self.inner.hooks.lock().expect("lock").entry(n).or_default().push(hook);
    }

    /// One exchange: hooks, the script (with its faults) in a fresh namespace, recorded.
    fn exchange_now(&self, script: &str) -> Result<Output, TransportError> {
        let n = self.next();
        let hooks = self.inner.hooks.lock().expect("lock").remove(&n).unwrap_or_default();
        for hook in hooks {
            match hook {
                Hook::Sh(cmd) => {
                    self.sh(&cmd);
                }
                Hook::Fn(f) => f(self),
            }
        }
        let faults = self.inner.faults.lock().expect("lock").remove(&n).unwrap_or_default();
        let mut text = script.to_string();
        let mut lost = None;
        for f in &faults {
            match f {
                Fault::DropAfter(k) => {
                    text = stop_after(&text, *k);
                    lost = Some(*k);
                }
                Fault::KillAfter(k) => text = stop_after(&text, *k),
                Fault::Lie { .. } => {}
            }
        }
        let (mut stdout, stderr, code) = self.run_ns(&text);
        for f in &faults {
            if let Fault::Lie { frame, body } = f {
                stdout = lie(&stdout, script, *frame, body);
            }
        }
        let blocks =
            script.lines().filter_map(|l| l.strip_prefix("# block ").and_then(|n| n.trim().parse().ok())).collect();
        self.inner.exchanges.lock().expect("lock").push(Exchange {
            n,
            script: script.to_string(),
            blocks,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            code,
        });
        match lost {
            Some(k) => Err(TransportError::Lost(format!(
                "model: the connection dropped after frame {k} of exchange {n} (modelled)"
            ))),
            None => Ok(Output { stdout, stderr, code }),
        }
    }

    /// Runs `script` as `sh -s` in a fresh private mount namespace with the model's
    /// directories bound: (stdout, stderr, exit status).
    fn run_ns(&self, script: &str) -> (String, String, Option<i32>) {
        let fstab = self.dir().join("fstab");
        let prelude = format!(
            "mount -a -T {} || {{ echo 'model: cannot bind the modelled directories' >&2; exit 125; }}\nexec sh -s",
            shlex::try_quote(fstab.to_str().expect("utf-8")).expect("quotable")
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c", &prelude])
            .env_clear()
            .envs(ENV.iter().copied())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("the modelled host cannot run: cannot start `unshare` (util-linux): {e}"));
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("stdin");
        let body = script.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            // the script may stop reading early (killed, or an exit): not an error here
            let _ = stdin.write_all(&body);
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(EXCHANGE_TIMEOUT) {
            Ok(out) => out.expect("wait for the modelled host"),
            Err(_) => {
                // the process group this model started, by its id
                let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
                let _ = rx.recv_timeout(Duration::from_secs(5));
                panic!("an exchange with the modelled host took over {EXCHANGE_TIMEOUT:?}; killed it:\n{script}");
            }
        };
        let _ = writer.join();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.starts_with("unshare:") || (out.status.code() == Some(125) && stderr.contains("model: cannot bind")) {
            panic!(
                "the modelled host cannot run: its private mount namespace could not be made (the tests need root): {stderr}"
            );
        }
        (stdout, stderr, out.status.code())
    }
}

impl Transport for ModelHost {
    fn exchange<'a>(&'a self, script: &'a str) -> BoxFut<'a, Result<Output, TransportError>> {
        Box::pin(async move { self.exchange_now(script) })
    }

    fn close(self: Box<Self>) -> BoxFut<'static, ()> {
        Box::pin(async {})
    }
}

/// `/dev/shm` when it is a tmpfs mounted without `noexec` (Docker mounts its own `noexec`).
fn exec_tmpfs() -> Option<&'static Path> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .rfind(|f| f.len() >= 4 && f[1] == "/dev/shm")
        .filter(|f| f[2] == "tmpfs" && !f[3].split(',').any(|o| o == "noexec" || o == "ro"))
        .map(|_| Path::new("/dev/shm"))
}

/// The fstab line that whites Debian's package tools out of `/usr/bin` ([`DEBIAN_TOOLS`]):
/// a read-only overlay of a directory of whiteouts on the machine's `/usr/bin`.
fn hide_debian_tools(dir: &Path) -> String {
    let hide = dir.join("hide-debian");
    std::fs::create_dir_all(&hide).expect("whiteout directory");
    for tool in DEBIAN_TOOLS {
        let ok = Command::new("mknod").arg(hide.join(tool)).args(["c", "0", "0"]).status().is_ok_and(|s| s.success());
        assert!(ok, "mknod {}: a whiteout needs root", hide.join(tool).display());
    }
    let hide = hide.to_str().expect("utf-8 tempdir");
    assert!(!hide.contains([':', ',']), "{hide} cannot be an overlay lower directory");
    format!("overlay /usr/bin overlay ro,lowerdir={hide}:/usr/bin 0 0\n")
}

fn unit_name(name: &str) -> String {
    if name.contains('.') { name.to_string() } else { format!("{name}.service") }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies what the host's own tools need from the machine's /etc.
fn seed_etc(etc: &Path) {
    for f in ["passwd", "group", "shadow", "gshadow", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "login.defs"] {
        let src = Path::new("/etc").join(f);
        if src.exists() {
            std::fs::copy(&src, etc.join(f)).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/ld.so.conf.d") {
        std::fs::create_dir_all(etc.join("ld.so.conf.d")).expect("mkdir");
        for e in entries.flatten().filter(|e| e.path().is_file()) {
            std::fs::copy(e.path(), etc.join("ld.so.conf.d").join(e.file_name())).expect("copy");
        }
    }
    // the commands the scripts and stubs run that Debian reaches through alternatives
    std::fs::create_dir_all(etc.join("alternatives")).expect("mkdir");
    for name in ["awk", "nawk", "which", "pager", "editor"] {
        if let Ok(target) = std::fs::read_link(Path::new("/etc/alternatives").join(name)) {
            std::os::unix::fs::symlink(target, etc.join("alternatives").join(name)).expect("symlink");
        }
    }
    if let Ok(t) = std::fs::read_link("/etc/localtime") {
        std::os::unix::fs::symlink(t, etc.join("localtime")).expect("localtime");
    }
    std::fs::create_dir_all(etc.join("systemd/system")).expect("systemd dir");
}

fn write_pkg(dir: &Path, p: &Pkg) {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("repo");
    std::fs::write(dir.join("version"), format!("{}\n", p.version)).expect("version");
    for (path, entry) in &p.files {
        let at = files.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(at.parent().expect("parent")).expect("mkdir");
        match entry {
            Entry::File(text) => std::fs::write(&at, text).expect("file"),
            Entry::Link(target) => std::os::unix::fs::symlink(target, &at).expect("symlink"),
            Entry::Dir => std::fs::create_dir_all(&at).expect("dir"),
        }
    }
    if !p.services.is_empty() {
        let lines: String = p.services.iter().map(|u| format!("{}\n", unit_name(u))).collect();
        std::fs::write(dir.join("services"), lines).expect("services");
    }
    if p.fails {
        std::fs::write(dir.join("fails"), "").expect("fails");
    }
    if p.needs_update {
        std::fs::write(dir.join("needs-update"), "").expect("needs-update");
    }
}

/// The frame indices of a script, in the order their begin markers appear, and its nonce.
fn frames_of(script: &str) -> (String, Vec<usize>) {
    let mut nonce = String::new();
    let mut order = Vec::new();
    for line in script.lines() {
        let Some(rest) = line.trim_start().strip_prefix("echo ::") else { continue };
        let mut parts = rest.splitn(3, ':');
        let (Some(n), Some("b"), Some(i)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if nonce.is_empty() {
            nonce = n.to_string();
        }
        if let Ok(i) = i.trim().parse() {
            order.push(i);
        }
    }
    (nonce, order)
}

/// The script with the shell killed right after its K-th frame ends (its end marker, or
/// its skip marker): nothing after it runs, as when the connection drops there.
fn stop_after(script: &str, k: usize) -> String {
    const STOP: &str = "kill -KILL $$\n";
    if k == 0 {
        let at = script.find('\n').map_or(0, |i| i + 1);
        return format!("{}{STOP}{}", &script[..at], &script[at..]);
    }
    let (nonce, order) = frames_of(script);
    assert!(k <= order.len(), "fault: the script has {} frames, not {k}", order.len());
    let i = order[k - 1];
    let end = format!("echo ::{nonce}:e:{i}:");
    let skip = format!("echo ::{nonce}:s:{i}");
    let mut out = String::with_capacity(script.len() + 64);
    for line in script.split_inclusive('\n') {
        out.push_str(line);
        let bare = line.trim_end();
        if bare.trim_start().starts_with(&end) || bare.ends_with(&skip) {
            out.push_str(STOP);
        }
    }
    out
}

/// The output with frame `index`'s body replaced by `body`.
fn lie(stdout: &str, script: &str, index: usize, body: &str) -> String {
    let (nonce, _) = frames_of(script);
    let begin = format!("::{nonce}:b:{index}");
    let end = format!("::{nonce}:e:{index}:");
    let mut out = String::new();
    let mut inside = false;
    for line in stdout.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if bare == begin {
            out.push_str(line);
            out.push_str(body);
            if !body.ends_with('\n') {
                out.push('\n');
            }
            inside = true;
            continue;
        }
        if inside && bare.starts_with(&end) {
            inside = false;
        }
        if !inside {
            out.push_str(line);
        }
    }
    out
}
