//! Shared test support: a temporary project directory with playbook files, and running
//! the `converge` binary in it with its exit code and output captured.

use std::path::{Path, PathBuf};

use converge::sandbox::{Container, write_ssh_config};

/// A temporary directory holding a playbook and whatever files it names.
pub struct Project {
    pub dir: tempfile::TempDir,
}

/// What one run of `converge` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code {}, wanted {code}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl Project {
    pub fn new() -> Project {
        Project { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (parents created), relative to the project.
    pub fn file(&self, rel: &str, content: &str) -> &Project {
        let p = self.dir.path().join(rel);
        // a path ending in `/` stands for a directory (`copy-tree source="files/site/"`)
        if rel.ends_with('/') {
            std::fs::create_dir_all(&p).expect("mkdir");
            return self;
        }
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        self
    }

    /// Runs `converge ARGS` in the project directory.
    pub fn converge(&self, args: &[&str]) -> Run {
        converge_in(self.dir.path(), args)
    }

    /// Writes an inventory and ssh config that map each `(host name, container)` pair,
    /// and returns the extra arguments that make a run use them.
    pub fn target(&self, hosts: &[(&str, &Container)]) -> Vec<String> {
        let mut inv = String::new();
        for (name, c) in hosts {
            inv.push_str(&format!("host \"{name}\" address=\"{}\" user=\"root\"\n", c.address()));
        }
        self.file("inventory.kdl", &inv);
        // ssh config entries are keyed by address, which is what the inventory connects to
        let addrs: Vec<String> = hosts.iter().map(|(_, c)| c.address().to_string()).collect();
        let pairs: Vec<(&str, &Container)> = addrs.iter().zip(hosts).map(|(a, (_, c))| (a.as_str(), *c)).collect();
        let cfg = write_ssh_config(self.dir.path(), &pairs);
        vec![
            "--inventory".into(),
            "inventory.kdl".into(),
            "--ssh-config".into(),
            cfg.display().to_string(),
            "--no-color".into(),
        ]
    }
}

pub fn converge_in(dir: &Path, args: &[&str]) -> Run {
    converge_env(dir, args, &[])
}

/// [`converge_in`] with extra environment variables (secrets), and without any variable
/// of this process whose name starts with `CONVERGE_TEST_` unless given.
pub fn converge_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = assert_cmd::Command::cargo_bin("converge").expect("binary");
    // a fact cache of the directory's own, never the user's (and never in the checkout,
    // when the directory is the repository): runs in one directory share it
    let key: String =
        dir.display().to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let facts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("facts").join(key);
    // saved plans' key: the project's own
    let plan_key = dir.join(".plan.key");
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CONVERGE_FACT_CACHE", facts)
        .env("CONVERGE_PLAN_KEY_FILE", plan_key)
        .args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("CONVERGE_TEST_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run converge");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The fact cache of runs of converge in `dir`: its own, never the user's (and never in
/// the checkout, when `dir` is the repository); runs in one directory share it.
pub fn fact_cache(dir: &Path) -> PathBuf {
    let key: String =
        dir.display().to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("facts").join(key)
}

/// What stands in for a signing key file an example names (`apt-repository`'s
/// `key-source`): converge checks that it is an armored key.
pub const STAND_IN_KEY: &str =
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZXample=\n-----END PGP PUBLIC KEY BLOCK-----\n";

/// The repository root (for playbooks and examples).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Sends one HTTP/1.0 request (head, then body) from this machine (the controller) to a
/// test container and returns the whole response: HTTP/1.0, so it ends with the
/// connection. Bounded: 5 s to connect, 10 s for each read.
fn http_exchange(address: std::net::Ipv4Addr, port: u16, head: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from((address, port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    s.write_all(head.as_bytes()).expect("send");
    s.write_all(body).expect("send body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// A plain HTTP/1.0 GET with a Host header, from this machine (the controller) to a test
/// container; returns the whole response (status line, headers, body).
pub fn http_get(address: std::net::Ipv4Addr, port: u16, host: &str, path: &str) -> String {
    http_exchange(address, port, &format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n"), b"")
}

/// A form POST (application/x-www-form-urlencoded) of `body` (`name=value&...`, already
/// encoded), as a browser submits a form; returns the whole response.
pub fn http_post_form(address: std::net::Ipv4Addr, port: u16, host: &str, path: &str, body: &str) -> String {
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    http_exchange(address, port, &head, body.as_bytes())
}

/// A multipart/form-data POST of one file in the field `field`, as a browser uploads it;
/// returns the whole response.
pub fn http_post_file(
    address: std::net::Ipv4Addr,
    port: u16,
    host: &str,
    path: &str,
    field: &str,
    file_name: &str,
    content: &[u8],
) -> String {
    let boundary = "converge-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    http_exchange(address, port, &head, &body)
}

/// A copy of the repository's playbooks/ and modules/ in `dir`, for a test that changes
/// a playbook's files (a new revision of a stand-in app upstream).
pub fn copy_playbooks(dir: &Path) {
    for d in ["playbooks", "modules"] {
        let status = std::process::Command::new("cp").arg("-a").arg(repo().join(d)).arg(dir).status().expect("cp");
        assert!(status.success(), "copy {d}");
    }
}

/// [`http_get`] until the response contains `want`: a server that was just (re)started
/// may take a moment to listen. Bounded: 40 tries, 0.5 s apart.
pub fn http_get_until(address: std::net::Ipv4Addr, port: u16, host: &str, path: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..40 {
        let addr = std::net::SocketAddr::from((address, port));
        if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok() {
            last = http_get(address, port, host, path);
            if last.contains(want) {
                return last;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("{address}:{port}{path} never answered with {want:?}; last answer:\n{last}");
}

/// A child process (a converge run a test started) that is killed, by its PID, when the
/// test ends whatever happens: a failed assertion must not leave it running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // an error here means it has already ended and been waited for
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A new ed25519 key pair at `path`, without a passphrase, commented `comment`; returns
/// the public key's line (`TYPE KEY COMMENT`).
pub fn new_key(path: &Path, comment: &str) -> String {
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(made.success(), "ssh-keygen failed for {}", path.display());
    std::fs::read_to_string(path.with_extension("pub")).expect("public key").trim().to_string()
}
