//! One booted systemd-nspawn container on an overlayfs copy of the cached rootfs: boot
//! (slot, overlay, per-container files, cgroups, nspawn, veth, readiness), shell access over
//! ssh, reboot (poweroff, then boot again on the same overlay), and teardown on `stop` or
//! `Drop` (also while a test panics).

use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::cgroups;
use super::command::{self, TAIL_LINES, shell_quote};
use super::error::SandboxError;
use super::host_tools;
use super::mounts;
use super::network;
use super::rootfs::{Rootfs, remove_file_if_present, write_file_with_mode};
use super::slots::{self, Record, Slot, SlotPaths};
use super::ssh;
use super::teardown;

/// How long the host side of the veth may take to appear.
const VETH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long, and how many ssh tries, the container may take to report it is up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const READY_TRIES: u32 = 60;

/// How a container is set up.
#[derive(Debug, Clone)]
pub struct ContainerOptions {
    /// What the container's /etc/hostname says.
    pub hostname: String,
    /// Masquerade the container's traffic to the outside (and give it the host's resolver).
    pub nat: bool,
}

impl ContainerOptions {
    /// A container called `hostname`, without NAT.
    pub fn new(hostname: impl Into<String>) -> Self {
        ContainerOptions { hostname: hostname.into(), nat: false }
    }
}

/// One booted container; dropping it tears it down.
#[derive(Debug)]
pub struct Container {
    slot: Slot,
    paths: SlotPaths,
    hostname: String,
    address: Ipv4Addr,
    key: PathBuf,
    lower: PathBuf,
    nat: bool,
    nspawn: Option<Child>,
    boot_time: Duration,
    stopped: bool,
}

impl Container {
    /// Boots a fresh container from `rootfs` and waits until systemd reports it is up.
    /// On any failure everything set up so far is torn down again.
    pub fn boot(rootfs: &Rootfs, opts: ContainerOptions) -> Result<Container, SandboxError> {
        host_tools::require_root("booting a sandbox container")?;
        validate_hostname(&opts.hostname)?;
        let started = Instant::now();
        let slot = slots::acquire()?;
        let paths = slot.paths();
        let mut container = Container {
            address: network::container_address(slot.number()),
            slot,
            paths,
            hostname: opts.hostname,
            key: rootfs.key.clone(),
            lower: rootfs.dir.clone(),
            nat: opts.nat,
            nspawn: None,
            boot_time: Duration::ZERO,
            stopped: false,
        };
        // On error, `container` is dropped here and Drop tears down what was set up.
        container.start()?;
        container.boot_time = started.elapsed();
        Ok(container)
    }

    /// The container's address, 10.231.K.2.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The machine name (`cvgK`).
    pub fn name(&self) -> &str {
        &self.paths.name
    }

    /// What the container's /etc/hostname says.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The private key that logs in as root@[`address`](Self::address).
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// The slot number K (the container's network is 10.231.K.0/24).
    pub fn slot(&self) -> u32 {
        self.slot.number()
    }

    /// The host-side network interface (`ve-cvgK`).
    pub fn veth(&self) -> &str {
        &self.paths.veth
    }

    /// The overlay root directory nspawn runs on.
    pub fn root_dir(&self) -> &Path {
        &self.paths.root
    }

    /// The directory holding this container's record and console log.
    pub fn state_dir(&self) -> &Path {
        &self.paths.state_dir
    }

    /// The PID of the container's systemd-nspawn.
    pub fn nspawn_pid(&self) -> Option<u32> {
        self.nspawn.as_ref().map(Child::id)
    }

    /// How long `boot` took, from slot to ready.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// Runs `sh -c script` as root in the container over a plain `ssh` process.
    /// A failure to run ssh at all is reported as exit status 255 with the reason on stderr.
    pub fn sh(&self, script: &str) -> Output {
        let quoted = match shlex::try_quote(script) {
            Ok(quoted) => quoted.into_owned(),
            Err(e) => return failed_output(&format!("cannot quote the script: {e}")),
        };
        let mut cmd = self.ssh_command();
        cmd.arg(format!("sh -c {quoted}")).stdin(Stdio::null());
        cmd.output().unwrap_or_else(|e| failed_output(&format!("cannot run ssh: {e}")))
    }

    /// Like [`sh`](Self::sh), but panics with the output unless the script exits 0;
    /// returns its stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        let output = self.sh(script);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            panic!(
                "`{script}` failed in container {} ({}) with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
                self.name(),
                self.address,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        stdout
    }

    /// An `ssh root@address --` command; append the remote command.
    pub fn ssh_command(&self) -> Command {
        ssh::ssh_command(self.address, &self.key)
    }

    /// Everything systemd-nspawn and the container's console printed so far.
    pub fn console_log(&self) -> String {
        std::fs::read(&self.paths.console_log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Reboots the container: an orderly poweroff, then a boot again on the same overlay
    /// (everything the container wrote is kept; /run and /tmp start empty, as after a real
    /// reboot), in the same slot with the same address, waiting until it is ready.
    ///
    /// The slot, overlay mount, record and NAT rule stay held throughout. A container that
    /// does not power off within the grace is killed and the reboot fails; if the second
    /// boot fails, the error carries the console log. Either way, dropping or stopping the
    /// container afterwards tears everything down as usual.
    pub fn reboot(&mut self) -> Result<(), SandboxError> {
        let name = self.paths.name.clone();
        let fail = |problem: String| SandboxError::Reboot { name: name.clone(), problem };
        if self.stopped {
            return Err(fail("it was already stopped".to_string()));
        }
        let Some(mut child) = self.nspawn.take() else {
            return Err(fail("it has no systemd-nspawn to power off".to_string()));
        };
        let off = teardown::power_off(&mut child, &self.paths.name);
        // Kept even when dead: teardown reaps it (or stops it, if SIGKILL did not).
        self.nspawn = Some(child);
        off.map_err(fail)?;
        self.wait_for_veth_gone()?;
        let problems = cgroups::remove(&self.paths.name);
        if !problems.is_empty() {
            return Err(fail(problems.join("; ")));
        }
        self.restart()
    }

    /// Orderly teardown: poweroff (SIGKILL after 15 s), then release veth, overlay,
    /// cgroups, directories, record and slot.
    pub fn stop(mut self) -> Result<(), SandboxError> {
        let problems = self.teardown();
        if problems.is_empty() {
            return Ok(());
        }
        Err(SandboxError::Teardown { name: self.paths.name.clone(), problems })
    }

    fn start(&mut self) -> Result<(), SandboxError> {
        self.save_record(None, Vec::new())?;
        self.mount_overlay()?;
        self.write_container_files()?;
        self.launch(false)?;
        if self.nat {
            network::enable_nat(self.slot.number(), &self.paths.name)?;
        }
        self.wait_until_ready()
    }

    /// The second and later boots: the overlay, its files and the NAT rule are in place.
    fn restart(&mut self) -> Result<(), SandboxError> {
        self.launch(true)?;
        self.wait_until_ready()
    }

    /// Cgroups, nspawn (recorded), and the host side of its veth. `again`: a reboot, whose
    /// console output is appended to the first boot's.
    fn launch(&mut self, again: bool) -> Result<(), SandboxError> {
        let cgroups = cgroups::create(&self.paths.name)?;
        let child = self.spawn_nspawn(&cgroups, again)?;
        let pid = child.id();
        self.nspawn = Some(child);
        self.save_record(Some(pid), cgroups)?;
        self.wait_for_veth()?;
        network::configure_host_side(&self.paths.veth, self.slot.number())
    }

    fn save_record(&self, nspawn_pid: Option<u32>, cgroups: Vec<PathBuf>) -> Result<(), SandboxError> {
        let record = Record {
            slot: self.slot.number(),
            name: self.paths.name.clone(),
            hostname: self.hostname.clone(),
            address: self.address.to_string(),
            owner_pid: std::process::id(),
            nspawn_pid,
            nat: self.nat,
            veth: self.paths.veth.clone(),
            lower: self.lower.clone(),
            upper: self.paths.upper.clone(),
            work: self.paths.work.clone(),
            root: self.paths.root.clone(),
            console_log: self.paths.console_log.clone(),
            cgroups,
        };
        slots::write_record(&self.paths, &record)
    }

    fn mount_overlay(&self) -> Result<(), SandboxError> {
        for dir in [&self.paths.upper, &self.paths.work, &self.paths.root] {
            std::fs::create_dir_all(dir)
                .map_err(|e| SandboxError::io(format!("cannot create {}", dir.display()), e))?;
        }
        mounts::mount_overlay(&self.lower, &self.paths.upper, &self.paths.work, &self.paths.root)
    }

    /// Hostname, hosts, network and (with NAT) resolver, written into the overlay.
    fn write_container_files(&self) -> Result<(), SandboxError> {
        let etc = self.paths.root.join("etc");
        write_file_with_mode(&etc.join("hostname"), format!("{}\n", self.hostname).as_bytes(), 0o644)?;
        write_file_with_mode(&etc.join("hosts"), hosts_file(&self.hostname).as_bytes(), 0o644)?;
        write_file_with_mode(
            &etc.join("systemd/network/10-host0.network"),
            network::container_network_file(self.slot.number(), self.nat).as_bytes(),
            0o644,
        )?;
        if self.nat {
            let resolv = etc.join("resolv.conf");
            remove_file_if_present(&resolv)?;
            std::fs::copy("/etc/resolv.conf", &resolv)
                .map_err(|e| SandboxError::io("cannot copy the host's /etc/resolv.conf into the container", e))?;
        }
        Ok(())
    }

    /// Starts `setsid sh -c 'echo $$ > each cgroup.procs; exec systemd-nspawn ...'` with
    /// stdin from /dev/null and all output into the console log (appended to, on a reboot).
    fn spawn_nspawn(&self, cgroups: &[PathBuf], append: bool) -> Result<Child, SandboxError> {
        let mut log = File::options()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&self.paths.console_log)
            .map_err(|e| SandboxError::io(format!("cannot create {}", self.paths.console_log.display()), e))?;
        if append {
            writeln!(log, "\n--- converge sandbox: rebooting ---")
                .map_err(|e| SandboxError::io("cannot write the console log", e))?;
        }
        let log_err = log.try_clone().map_err(|e| SandboxError::io("cannot duplicate the console log handle", e))?;
        let script = launch_script(cgroups, &self.nspawn_args());
        host_tools::command("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| SandboxError::io("cannot start systemd-nspawn", e))
    }

    fn nspawn_args(&self) -> Vec<String> {
        let nspawn = host_tools::tool("systemd-nspawn");
        let mut args: Vec<String> = vec![nspawn.to_string_lossy().into_owned()];
        args.extend(
            [
                "-q",
                "-b",
                "--register=no",
                "--keep-unit",
                "--network-veth",
                "--console=read-only",
                "--link-journal=no",
                "--resolv-conf=off",
                "--timezone=off",
                "--kill-signal=SIGRTMIN+4",
                "-D",
            ]
            .map(String::from),
        );
        args.push(self.paths.root.to_string_lossy().into_owned());
        args.push("-M".to_string());
        args.push(self.paths.name.clone());
        args
    }

    /// Fails with the console log if nspawn has already exited.
    fn check_nspawn_running(&mut self) -> Result<(), SandboxError> {
        let Some(child) = self.nspawn.as_mut() else {
            return Ok(());
        };
        match child.try_wait() {
            Ok(Some(status)) => Err(SandboxError::NspawnExited {
                name: self.paths.name.clone(),
                status: status.to_string(),
                console_tail: self.console_tail(),
            }),
            _ => Ok(()),
        }
    }

    fn wait_for_veth(&mut self) -> Result<(), SandboxError> {
        let deadline = Instant::now() + VETH_TIMEOUT;
        // the interface shows in /sys a moment before its IPv4 settings in /proc, which
        // configure_host_side writes
        let neigh = Path::new("/proc/sys/net/ipv4/neigh").join(&self.paths.veth);
        while !network::interface_exists(&self.paths.veth) || !neigh.exists() {
            self.check_nspawn_running()?;
            if Instant::now() >= deadline {
                return Err(SandboxError::VethMissing {
                    name: self.paths.name.clone(),
                    veth: self.paths.veth.clone(),
                    seconds: VETH_TIMEOUT.as_secs(),
                    console_tail: self.console_tail(),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// After a poweroff: the old veth goes with the container's network namespace; a new
    /// nspawn cannot create its own while it lingers, so it is deleted if it stays.
    fn wait_for_veth_gone(&self) -> Result<(), SandboxError> {
        let deadline = Instant::now() + VETH_TIMEOUT;
        while network::interface_exists(&self.paths.veth) {
            if Instant::now() >= deadline {
                return network::delete_veth(&self.paths.veth)
                    .map_err(|problem| SandboxError::Reboot { name: self.paths.name.clone(), problem });
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Waits for sshd to accept connections, then for `systemctl is-system-running --wait`
    /// to print `running` or `degraded`.
    fn wait_until_ready(&mut self) -> Result<(), SandboxError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("sshd never accepted a connection");
        let mut tries = 0;
        self.wait_for_sshd_port(deadline)?;
        while tries < READY_TRIES && Instant::now() < deadline {
            tries += 1;
            self.check_nspawn_running()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut cmd = self.ssh_command();
            cmd.arg("systemctl is-system-running --wait");
            match command::run_with_timeout(&mut cmd, remaining) {
                Ok(Some(output)) => {
                    let state = String::from_utf8_lossy(&output.stdout).trim().to_string();
                    if state == "running" || state == "degraded" {
                        return Ok(());
                    }
                    last = format!(
                        "{state:?} (ssh {}; {})",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                }
                Ok(None) => last = "ssh did not finish in time".to_string(),
                Err(e) => last = format!("cannot run ssh: {e}"),
            }
            thread::sleep(Duration::from_millis(250));
        }
        Err(self.not_ready(tries, last))
    }

    fn wait_for_sshd_port(&mut self, deadline: Instant) -> Result<(), SandboxError> {
        let target = SocketAddr::from((self.address, 22));
        loop {
            self.check_nspawn_running()?;
            if TcpStream::connect_timeout(&target, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(0, "port 22 never accepted a connection".to_string()));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn not_ready(&self, tries: u32, last: String) -> SandboxError {
        SandboxError::NotReady {
            name: self.paths.name.clone(),
            address: self.address,
            seconds: READY_TIMEOUT.as_secs(),
            tries,
            last,
            console_tail: self.console_tail(),
        }
    }

    fn console_tail(&self) -> String {
        command::file_tail(&self.paths.console_log, TAIL_LINES)
    }

    /// Stops nspawn and releases the slot's resources; returns what went wrong.
    /// If nspawn cannot be stopped, everything is kept (with the record) for a later run.
    fn teardown(&mut self) -> Vec<String> {
        if self.stopped {
            return Vec::new();
        }
        self.stopped = true;
        if let Some(child) = self.nspawn.as_mut()
            && let Err(problem) = teardown::stop_child(child, &self.paths.name)
        {
            return vec![problem];
        }
        teardown::release_slot(self.slot.number(), self.nat)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let problems = self.teardown();
        if !problems.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "converge sandbox: tearing down container {} left things behind: {}",
                self.paths.name,
                problems.join("; ")
            );
        }
    }
}

/// The shell script that moves itself into the container's cgroups and execs nspawn.
fn launch_script(cgroups: &[PathBuf], nspawn_args: &[String]) -> String {
    let mut script = String::from("set -e\n");
    for dir in cgroups {
        let procs = dir.join("cgroup.procs");
        script.push_str(&format!("echo $$ > {}\n", shell_quote(&procs.to_string_lossy())));
    }
    let words: Vec<String> = nspawn_args.iter().map(|a| shell_quote(a)).collect();
    script.push_str(&format!("exec {}\n", words.join(" ")));
    script
}

/// /etc/hosts naming the container (127.0.1.1, as Debian does).
fn hosts_file(hostname: &str) -> String {
    let short = hostname.split('.').next().unwrap_or(hostname);
    let names = if short == hostname { hostname.to_string() } else { format!("{hostname} {short}") };
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{names}\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )
}

fn validate_hostname(hostname: &str) -> Result<(), SandboxError> {
    let valid_chars = hostname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let valid = !hostname.is_empty() && hostname.len() <= 63 && valid_chars && !hostname.starts_with(['-', '.']);
    if valid {
        return Ok(());
    }
    Err(SandboxError::InvalidHostname { hostname: hostname.to_string() })
}

/// An [`Output`] for an ssh that could not even be started.
fn failed_output(reason: &str) -> Output {
    use std::os::unix::process::ExitStatusExt;
    Output { status: ExitStatus::from_raw(255 << 8), stdout: Vec::new(), stderr: reason.as_bytes().to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(validate_hostname("web1").is_ok());
        assert!(validate_hostname("db.example.test").is_ok());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("-x").is_err());
        assert!(validate_hostname("a b").is_err());
    }

    #[test]
    fn hosts_file_names_short_and_long() {
        assert!(hosts_file("db.example.test").contains("127.0.1.1\tdb.example.test db\n"));
        assert!(hosts_file("web").contains("127.0.1.1\tweb\n"));
    }

    #[test]
    fn launch_script_joins_cgroups_then_execs() {
        let script = launch_script(
            &[PathBuf::from("/sys/fs/cgroup/cpu/converge-testbed/cvg1")],
            &["/usr/bin/systemd-nspawn".to_string(), "-M".to_string(), "cvg1".to_string()],
        );
        assert_eq!(
            script,
            "set -e\necho $$ > /sys/fs/cgroup/cpu/converge-testbed/cvg1/cgroup.procs\n\
             exec /usr/bin/systemd-nspawn -M cvg1\n"
        );
    }
}
