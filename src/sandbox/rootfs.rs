//! The cached base root filesystem every container boots from: built once with debootstrap,
//! set up for sshd/networkd/offline apt, keyed by a hash of its spec, and shared read-only.
//!
//! Layout: `${CONVERGE_CACHE_DIR:-/var/cache/converge}/rootfs-<hash12>/{rootfs/, id_ed25519}`.
//! A build happens in a temporary sibling directory that is renamed into place only when
//! complete, under an exclusive lock on `<cache>/rootfs.lock`, so concurrent processes build
//! it once and an interrupted build is never used.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::command::{self, TAIL_LINES};
use super::error::SandboxError;
use super::host_tools;
use super::mounts;

/// Bump when the image setup below changes, so old caches are not reused.
pub const IMAGE_VERSION: u32 = 2;

/// Packages downloaded into the image's apt cache so containers can install them offline:
/// what the tests and the seed playbooks install. Each entry is resolved by one apt call;
/// packages that conflict with others (ufw breaks iptables-persistent) get their own entry.
pub const PREDOWNLOAD: &[&str] = &[
    "nginx-light cron python3 tree jq acl git python3-venv python3-pip python3-setuptools python3-wheel \
     supervisor postgresql redis-server redis-tools rabbitmq-server podman crun busybox-static \
     gunicorn uwsgi uwsgi-plugin-python3 daphne python3-celery python3-django python3-psycopg2 \
     python3-redis nodejs chrony iptables-persistent python3-apt python3-flask python3-docx python3-dotenv \
     python3-django-channels python3-channels-redis python3-django-celery-results python3-tz \
     docker-registry skopeo",
    "ufw",
    "tzdata locales",
];

/// Packages debootstrap installs into the base image.
const INCLUDE: &[&str] =
    &["systemd", "systemd-sysv", "openssh-server", "iptables", "dbus", "sudo", "ca-certificates", "iproute2", "procps"];

/// Timers that would take the dpkg lock or touch disks in the middle of a test.
const MASKED_UNITS: &[&str] =
    &["apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer"];

const SSHD_CONFIG: &str = "# written by converge's sandbox image setup\nLogLevel VERBOSE\nUseDNS no\n";

const APT_KEEP_DEBS: &str = "// written by converge's sandbox image setup: keep the pre-downloaded packages\n\
APT::Keep-Downloaded-Packages \"true\";\n\
Binary::apt::APT::Keep-Downloaded-Packages \"true\";\n";

/// What goes into a cached root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsSpec {
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// Debian mirror URL.
    pub mirror: String,
    /// Packages installed by debootstrap.
    pub include: Vec<String>,
    /// Packages only downloaded into /var/cache/apt/archives for offline installs.
    pub predownload: Vec<String>,
}

/// The Debian suite of the image.
pub const SUITE: &str = "bookworm";

impl RootfsSpec {
    /// Debian bookworm from `mirror` (see `mirror.rs`) with systemd, sshd, iptables and the
    /// [`PREDOWNLOAD`] packages.
    pub fn default_spec(mirror: &str) -> Self {
        RootfsSpec {
            suite: SUITE.to_string(),
            mirror: mirror.to_string(),
            include: INCLUDE.iter().map(|p| p.to_string()).collect(),
            predownload: PREDOWNLOAD.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// The first 12 hex digits of the sha256 over the spec and [`IMAGE_VERSION`].
    pub fn hash12(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!("image-version={IMAGE_VERSION}\n"));
        hasher.update(format!("suite={}\n", self.suite));
        hasher.update(format!("mirror={}\n", self.mirror));
        hasher.update(format!("include={}\n", self.include.join(",")));
        hasher.update(format!("predownload={}\n", self.predownload.join(",")));
        let digest = hasher.finalize();
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }
}

/// A built root filesystem and the key that logs in as root on containers booted from it.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// The root filesystem tree (the overlay's read-only lower directory).
    pub dir: PathBuf,
    /// Private ed25519 key whose public half is root's authorized key in the image.
    pub key: PathBuf,
}

/// The cache directory: `$CONVERGE_CACHE_DIR`, or `/var/cache/converge`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CONVERGE_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/converge"))
}

/// Returns the cached root filesystem for `spec`, building it first if needed.
pub fn ensure_rootfs(spec: &RootfsSpec) -> Result<Rootfs, SandboxError> {
    let cache = cache_dir();
    let final_dir = cache.join(format!("rootfs-{}", spec.hash12()));
    if let Some(rootfs) = complete_rootfs(&final_dir) {
        return Ok(rootfs);
    }
    host_tools::require_root("building the sandbox root filesystem")?;
    fs::create_dir_all(&cache)
        .map_err(|e| SandboxError::io(format!("cannot create cache directory {}", cache.display()), e))?;
    let _lock = lock_cache(&cache)?;
    if let Some(rootfs) = complete_rootfs(&final_dir) {
        return Ok(rootfs);
    }
    remove_abandoned_builds(&cache);
    build(spec, &cache, &final_dir)
}

/// The rootfs at `dir` if a complete build is there.
fn complete_rootfs(dir: &Path) -> Option<Rootfs> {
    let rootfs = Rootfs { dir: dir.join("rootfs"), key: dir.join("id_ed25519") };
    let complete = rootfs.dir.join("usr/lib/systemd/systemd").exists() && rootfs.key.is_file();
    complete.then_some(rootfs)
}

/// Takes the exclusive cache lock, saying so if another process holds it.
fn lock_cache(cache: &Path) -> Result<File, SandboxError> {
    let path = cache.join("rootfs.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| SandboxError::io(format!("cannot open lock file {}", path.display()), e))?;
    if file.try_lock().is_err() {
        eprintln!(
            "converge sandbox: waiting for another process that holds {} (building the root filesystem)",
            path.display()
        );
        file.lock().map_err(|e| SandboxError::io(format!("cannot lock {}", path.display()), e))?;
    }
    Ok(file)
}

/// Deletes temporary build directories left by interrupted builds (we hold the lock, so no
/// build is running), unmounting anything debootstrap left mounted inside them first.
fn remove_abandoned_builds(cache: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let abandoned = name.starts_with("rootfs-") && name.contains(".building-");
        if abandoned && let Err(problem) = mounts::remove_tree(&entry.path()) {
            eprintln!("converge sandbox: cannot remove an abandoned build: {problem}");
        }
    }
}

/// Builds the rootfs in a temporary sibling of `final_dir` and renames it into place.
fn build(spec: &RootfsSpec, cache: &Path, final_dir: &Path) -> Result<Rootfs, SandboxError> {
    let final_name = final_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = tempfile::Builder::new()
        .prefix(&format!("{final_name}.building-"))
        .tempdir_in(cache)
        .map_err(|e| SandboxError::io(format!("cannot create a build directory in {}", cache.display()), e))?;
    let started = Instant::now();
    eprintln!(
        "converge sandbox: building the Debian {} root filesystem in {} (once; about a minute or two)",
        spec.suite,
        final_dir.display()
    );
    let result = build_into(spec, temp.path());
    if let Err(e) = result {
        // Never let TempDir's recursive delete reach into something left mounted.
        let kept = temp.keep();
        if let Err(problem) = mounts::remove_tree(&kept) {
            eprintln!("converge sandbox: cannot remove the failed build: {problem}");
        }
        return Err(e);
    }
    let built = temp.keep();
    fs::rename(&built, final_dir).map_err(|e| {
        SandboxError::io(format!("cannot move the finished build {} to {}", built.display(), final_dir.display()), e)
    })?;
    eprintln!("converge sandbox: root filesystem ready after {:.1} s", started.elapsed().as_secs_f64());
    complete_rootfs(final_dir).ok_or_else(|| {
        SandboxError::io(
            format!("the finished build in {} is incomplete", final_dir.display()),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })
}

/// All build steps, into `dir` (which will hold `rootfs/`, the key and the build log).
fn build_into(spec: &RootfsSpec, dir: &Path) -> Result<(), SandboxError> {
    let root = dir.join("rootfs");
    let key = dir.join("id_ed25519");
    generate_key(&key)?;
    debootstrap(spec, &root, &dir.join("debootstrap.log"))?;
    install_authorized_key(&root, &dir.join("id_ed25519.pub"))?;
    configure_image(&root)?;
    enable_networkd(&root)?;
    predownload(&root, &spec.predownload)?;
    write_spec_note(spec, dir)
}

fn generate_key(key: &Path) -> Result<(), SandboxError> {
    let mut cmd = host_tools::command("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", "converge-sandbox", "-f"]).arg(key);
    command::run("generating the sandbox ssh key", &mut cmd)?;
    Ok(())
}

fn debootstrap(spec: &RootfsSpec, root: &Path, log: &Path) -> Result<(), SandboxError> {
    let log_file = File::create(log).map_err(|e| SandboxError::io(format!("cannot create {}", log.display()), e))?;
    let log_err = log_file.try_clone().map_err(|e| SandboxError::io("cannot duplicate the build log handle", e))?;
    let mut cmd = host_tools::command("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", spec.include.join(",")))
        .arg(&spec.suite)
        .arg(root)
        .arg(&spec.mirror)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    let status = cmd.status().map_err(|e| SandboxError::io("cannot run debootstrap", e))?;
    if status.success() {
        return Ok(());
    }
    let inner_log = root.join("debootstrap/debootstrap.log");
    let mut log_tail = command::file_tail(log, TAIL_LINES);
    if inner_log.exists() {
        log_tail.push_str("\n--- debootstrap/debootstrap.log ---\n");
        log_tail.push_str(&command::file_tail(&inner_log, TAIL_LINES));
    }
    Err(SandboxError::Debootstrap { suite: spec.suite.clone(), status: status.to_string(), log_tail })
}

fn install_authorized_key(root: &Path, public_key: &Path) -> Result<(), SandboxError> {
    let key = fs::read(public_key).map_err(|e| SandboxError::io(format!("cannot read {}", public_key.display()), e))?;
    let ssh_dir = root.join("root/.ssh");
    create_dir_with_mode(&ssh_dir, 0o700)?;
    write_file_with_mode(&ssh_dir.join("authorized_keys"), &key, 0o600)
}

/// The file-level image setup: machine-id, masked timers, sshd and apt configuration.
fn configure_image(root: &Path) -> Result<(), SandboxError> {
    // Empty machine-id: systemd generates a fresh one at each boot.
    write_file_with_mode(&root.join("etc/machine-id"), b"", 0o444)?;
    // debootstrap copies the build host's hostname and resolver; containers get their own.
    remove_file_if_present(&root.join("etc/hostname"))?;
    remove_file_if_present(&root.join("etc/resolv.conf"))?;
    let system = root.join("etc/systemd/system");
    for unit in MASKED_UNITS {
        let link = system.join(unit);
        remove_file_if_present(&link)?;
        std::os::unix::fs::symlink("/dev/null", &link)
            .map_err(|e| SandboxError::io(format!("cannot mask {unit}"), e))?;
    }
    write_file_with_mode(&root.join("etc/ssh/sshd_config.d/converge.conf"), SSHD_CONFIG.as_bytes(), 0o644)?;
    write_file_with_mode(&root.join("etc/apt/apt.conf.d/99converge-testbed"), APT_KEEP_DEBS.as_bytes(), 0o644)
}

fn enable_networkd(root: &Path) -> Result<(), SandboxError> {
    let mut cmd = chroot(root);
    cmd.args(["systemctl", "enable", "systemd-networkd"]);
    command::run("enabling systemd-networkd in the image", &mut cmd)?;
    Ok(())
}

/// `apt-get update` and a download-only install inside the image, with the host's resolver
/// copied in for the duration (and removed again whatever happens).
fn predownload(root: &Path, packages: &[String]) -> Result<(), SandboxError> {
    let resolv = root.join("etc/resolv.conf");
    remove_file_if_present(&resolv)?;
    fs::copy("/etc/resolv.conf", &resolv)
        .map_err(|e| SandboxError::io("cannot copy the host's /etc/resolv.conf into the image", e))?;
    let result = apt_in_image(root, packages);
    let cleanup = remove_file_if_present(&resolv);
    result.and(cleanup)
}

fn apt_in_image(root: &Path, packages: &[String]) -> Result<(), SandboxError> {
    let mut update = chroot(root);
    update.args(["apt-get", "update"]);
    command::run("apt-get update inside the image", &mut update)?;
    if packages.is_empty() {
        return Ok(());
    }
    // each set together, then each package alone: apt resolves alternatives (`a | b`)
    // differently depending on what else is installed with it, so a package installed on
    // its own may need a dependency the whole set did not
    for set in packages {
        let alone: Vec<&str> = set.split_whitespace().collect();
        let together = std::iter::once(alone.clone());
        for group in together.chain(alone.iter().map(|p| vec![*p])) {
            let mut download = chroot(root);
            download
                .args(["apt-get", "-y", "-o", "APT::Keep-Downloaded-Packages=true"])
                .args(["--download-only", "install"])
                .args(&group);
            command::run("pre-downloading packages inside the image", &mut download)?;
        }
    }
    Ok(())
}

/// A `chroot ROOT ...` command with a clean, predictable environment.
fn chroot(root: &Path) -> Command {
    let mut cmd = host_tools::command("chroot");
    cmd.arg(root)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("LC_ALL", "C")
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// Leaves a human-readable note of what the cache directory holds.
fn write_spec_note(spec: &RootfsSpec, dir: &Path) -> Result<(), SandboxError> {
    let note = serde_json::json!({
        "image_version": IMAGE_VERSION,
        "suite": spec.suite,
        "mirror": spec.mirror,
        "include": spec.include,
        "predownload": spec.predownload,
    });
    let text = serde_json::to_string_pretty(&note).unwrap_or_default();
    write_file_with_mode(&dir.join("spec.json"), text.as_bytes(), 0o644)
}

fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<(), SandboxError> {
    fs::create_dir_all(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(mode)))
        .map_err(|e| SandboxError::io(format!("cannot create {}", dir.display()), e))
}

/// Writes `contents` to `path` (creating parent directories) and sets its mode.
pub(crate) fn write_file_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), SandboxError> {
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut file = File::create(path)?;
        file.write_all(contents)?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    };
    write().map_err(|e| SandboxError::io(format!("cannot write {}", path.display()), e))
}

/// Removes a file or symlink; a missing one is fine.
pub(crate) fn remove_file_if_present(path: &Path) -> Result<(), SandboxError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(SandboxError::io(format!("cannot remove {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_every_field() {
        let base = RootfsSpec::default_spec("http://mirror.example.org/debian");
        let mut other = base.clone();
        other.predownload.push("curl".into());
        assert_ne!(base.hash12(), other.hash12());
        let mut other = base.clone();
        other.suite = "trixie".into();
        assert_ne!(base.hash12(), other.hash12());
        assert_eq!(base.hash12().len(), 12);
        let mut other = base.clone();
        other.mirror = "http://other.example.org/debian".into();
        assert_ne!(base.hash12(), other.hash12());
        assert_eq!(base.hash12(), RootfsSpec::default_spec("http://mirror.example.org/debian").hash12());
    }
}
