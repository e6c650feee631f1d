//! Stand-ins for the outside world the seed playbooks depend on and the test containers
//! cannot reach: GitHub (a bare repository on the host) — shared by the integration tests
//! and the seed benchmark (included with `#[path]`, not part of the library).

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;

use converge::sandbox::Container;

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a local directory into the container (tar over ssh).
pub fn copy_dir(c: &Container, src: &Path, dest: &str) {
    let tar = std::process::Command::new("tar").arg("-C").arg(src).args(["-c", "."]).output().expect("tar");
    assert!(tar.status.success(), "tar {}", src.display());
    let mut ssh = c.ssh_command();
    ssh.arg(format!("mkdir -p '{dest}' && tar -C '{dest}' -x"));
    let mut child = ssh.stdin(Stdio::piped()).spawn().expect("ssh");
    child.stdin.take().expect("stdin").write_all(&tar.stdout).expect("send");
    assert!(child.wait().expect("ssh").success(), "copy to {dest}");
}

/// The stand-in for GitHub: a bare repository at `bare` on the container holding the
/// files of `src` (a directory of `playbooks/files/`) as one commit on `branch`. Needs git
/// on the container: it is installed from the image's offline apt cache.
pub fn upstream_repo(c: &Container, src: &str, bare: &str, branch: &str) {
    c.sh_ok("command -v git >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null");
    copy_dir(c, &repo_root().join("playbooks/files").join(src), "/tmp/upstream-work");
    c.sh_ok(&format!(
        "set -e; git init -q --bare -b {branch} '{bare}'; git config --system --add safe.directory '{bare}'; \
         cd /tmp/upstream-work; git init -q -b {branch}; git add -A; \
         git -c user.name=upstream -c user.email=upstream@example.org commit -q -m 'release'; \
         git push -q '{bare}' {branch}; chmod -R a+rX '{bare}'"
    ));
}

/// A new commit upstream changing `file` to `content`.
pub fn upstream_commit(c: &Container, bare: &str, branch: &str, file: &str, content: &str) {
    c.sh_ok(&format!(
        "set -e; rm -rf /tmp/upstream-next; git clone -q '{bare}' /tmp/upstream-next; cd /tmp/upstream-next; \
         printf '%s' '{content}' > '{file}'; git add -A; \
         git -c user.name=upstream -c user.email=upstream@example.org commit -q -m 'next'; git push -q origin {branch}"
    ));
}
