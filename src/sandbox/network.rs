//! Container networking: slot K owns 10.231.K.0/24 (host side `ve-NAME` = .1, container = .2),
//! and the optional NAT rule tagged with the container's name so teardown removes exactly it.

use std::net::Ipv4Addr;
use std::path::Path;

use super::command;
use super::error::SandboxError;
use super::host_tools;

/// Address of the container in slot `slot`: 10.231.K.2.
pub(crate) fn container_address(slot: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 231, octet(slot), 2)
}

/// Address of the host side of the veth pair in slot `slot`: 10.231.K.1.
pub(crate) fn host_address(slot: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 231, octet(slot), 1)
}

fn octet(slot: u32) -> u8 {
    u8::try_from(slot).unwrap_or(u8::MAX)
}

/// The host-side interface nspawn's `--network-veth` creates for machine `name`.
pub(crate) fn veth_name(name: &str) -> String {
    format!("ve-{name}")
}

/// Whether a network interface of that name exists on the host.
pub(crate) fn interface_exists(interface: &str) -> bool {
    Path::new("/sys/class/net").join(interface).exists()
}

/// The systemd-networkd file that gives the container its address at boot. Only a NAT
/// container gets a default route: the others cannot send a packet past the host at all
/// (not even when another container's NAT turned on forwarding).
pub(crate) fn container_network_file(slot: u32, nat: bool) -> String {
    let gateway = if nat { format!("Gateway={}\n", host_address(slot)) } else { String::new() };
    format!(
        "[Match]\nName=host0\n\n[Network]\nAddress={}/24\n{gateway}LinkLocalAddressing=no\nIPv6AcceptRA=no\n",
        container_address(slot)
    )
}

/// Gives the host side its address and brings it up. ARP on it is retried every 50 ms
/// instead of every second: the first probes go out before the container's side is up.
pub(crate) fn configure_host_side(veth: &str, slot: u32) -> Result<(), SandboxError> {
    let retrans = Path::new("/proc/sys/net/ipv4/neigh").join(veth).join("retrans_time_ms");
    std::fs::write(&retrans, "50").map_err(|e| SandboxError::io(format!("cannot write {}", retrans.display()), e))?;
    let address = format!("{}/24", host_address(slot));
    let mut add = host_tools::command("ip");
    add.args(["addr", "replace", &address, "dev", veth]);
    command::run(&format!("giving {veth} its address"), &mut add)?;
    let mut up = host_tools::command("ip");
    up.args(["link", "set", veth, "up"]);
    command::run(&format!("bringing {veth} up"), &mut up)?;
    Ok(())
}

/// Deletes the veth if it is still there (it usually vanishes with the container).
pub(crate) fn delete_veth(veth: &str) -> Result<(), String> {
    if !interface_exists(veth) {
        return Ok(());
    }
    let mut del = host_tools::command("ip");
    del.args(["link", "del", veth]);
    match command::run(&format!("deleting {veth}"), &mut del) {
        Err(_) if !interface_exists(veth) => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(_) => Ok(()),
    }
}

/// The comment that marks the NAT rule of machine `name`.
fn nat_comment(name: &str) -> String {
    format!("converge-testbed-{name}")
}

/// The POSTROUTING rule (after `-A`/`-C`/`-D`) masquerading the slot's outgoing traffic.
fn nat_rule(slot: u32, name: &str) -> Vec<String> {
    let subnet = format!("10.231.{}.0/24", octet(slot));
    let comment = nat_comment(name);
    [
        "POSTROUTING",
        "-s",
        &subnet,
        "!",
        "-d",
        "10.231.0.0/16",
        "-m",
        "comment",
        "--comment",
        &comment,
        "-j",
        "MASQUERADE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn iptables_nat(action: &str, slot: u32, name: &str) -> std::process::Command {
    let mut cmd = host_tools::command("iptables");
    cmd.args(["-w", "5", "-t", "nat", action]).args(nat_rule(slot, name));
    cmd
}

/// Turns on forwarding and masquerades the container's traffic to the outside.
pub(crate) fn enable_nat(slot: u32, name: &str) -> Result<(), SandboxError> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| SandboxError::io("cannot set net.ipv4.ip_forward=1", e))?;
    command::run(&format!("adding the NAT rule for container {name}"), &mut iptables_nat("-A", slot, name))?;
    Ok(())
}

/// Deletes the container's NAT rule (every copy of it, a bounded number of times).
/// `net.ipv4.ip_forward` stays on: other containers may still need it.
pub(crate) fn disable_nat(slot: u32, name: &str) -> Result<(), String> {
    const MAX_COPIES: u32 = 10;
    for _ in 0..MAX_COPIES {
        let present = iptables_nat("-C", slot, name)
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|out| out.status.success());
        if !present {
            return Ok(());
        }
        command::run(&format!("deleting the NAT rule of container {name}"), &mut iptables_nat("-D", slot, name))
            .map_err(|e| e.to_string())?;
    }
    Err(format!("the NAT rule of container {name} is still present after {MAX_COPIES} deletions"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_addresses() {
        assert_eq!(container_address(7), Ipv4Addr::new(10, 231, 7, 2));
        assert_eq!(host_address(200), Ipv4Addr::new(10, 231, 200, 1));
        assert!(container_network_file(3, true).contains("Address=10.231.3.2/24\nGateway=10.231.3.1\n"));
        assert!(!container_network_file(3, false).contains("Gateway"));
    }

    #[test]
    fn nat_rule_is_tagged_with_the_machine() {
        let rule = nat_rule(4, "cvg4").join(" ");
        assert_eq!(
            rule,
            "POSTROUTING -s 10.231.4.0/24 ! -d 10.231.0.0/16 -m comment --comment converge-testbed-cvg4 -j MASQUERADE"
        );
    }
}
