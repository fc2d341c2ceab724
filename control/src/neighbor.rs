//! Neighbour resolution through the kernel, for when Shunt shares the
//! kernel's address (the kernel then owns ARP on the interface).
//!
//! Reads `/proc/thread-self/net/arp` (the calling thread's namespace); if the
//! address is missing, a UDP datagram to the discard port makes the kernel
//! resolve it, and the table is read again until `timeout`.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use datapath::wire::EthernetAddress;

/// The kernel's complete ARP entry for `ip`, if any.
pub fn kernel_arp_entry(ip: Ipv4Addr) -> Option<EthernetAddress> {
    let table = std::fs::read_to_string("/proc/thread-self/net/arp").ok()?;
    parse_arp_table(&table, ip)
}

/// Parses the kernel's ARP table text for `ip` (flags 0x2: complete).
pub fn parse_arp_table(table: &str, ip: Ipv4Addr) -> Option<EthernetAddress> {
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[0].parse::<Ipv4Addr>().ok() != Some(ip) {
            continue;
        }
        let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
        if flags & 0x2 == 0 {
            return None;
        }
        let mut mac = [0u8; 6];
        let parts: Vec<&str> = f[3].split(':').collect();
        if parts.len() != 6 {
            return None;
        }
        for (m, p) in mac.iter_mut().zip(parts) {
            *m = u8::from_str_radix(p, 16).ok()?;
        }
        return Some(EthernetAddress(mac));
    }
    None
}

/// Resolves `ip` through the kernel, waiting up to `timeout`.
pub fn kernel_neighbor(ip: Ipv4Addr, timeout: Duration) -> Option<EthernetAddress> {
    if let Some(mac) = kernel_arp_entry(ip) {
        return Some(mac);
    }
    let end = Instant::now() + timeout;
    let mut next_nudge = Instant::now();
    while Instant::now() < end {
        if Instant::now() >= next_nudge {
            // Port 9 (discard): the datagram itself does not matter, the ARP
            // request the kernel sends for it does.
            if let Ok(s) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
                let _ = s.send_to(b"", (ip, 9));
            }
            next_nudge = Instant::now() + Duration::from_millis(500);
        }
        std::thread::sleep(Duration::from_millis(10));
        if let Some(mac) = kernel_arp_entry(ip) {
            return Some(mac);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str =
        "IP address       HW type     Flags       HW address            Mask     Device
198.18.0.2       0x1         0x2         02:53:48:00:00:02     *        veth0
198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        veth0
";

    #[test]
    fn complete_entries_parse_and_incomplete_ones_do_not() {
        assert_eq!(
            parse_arp_table(TABLE, Ipv4Addr::new(198, 18, 0, 2)),
            Some(EthernetAddress([2, 0x53, 0x48, 0, 0, 2]))
        );
        assert_eq!(parse_arp_table(TABLE, Ipv4Addr::new(198, 18, 0, 3)), None);
        assert_eq!(parse_arp_table(TABLE, Ipv4Addr::new(198, 18, 0, 4)), None);
        assert_eq!(parse_arp_table("garbage", Ipv4Addr::new(1, 2, 3, 4)), None);
    }
}
