//! Crafted frames for the steering program's tests. Deliberately independent of
//! the datapath's wire module: these tests check the XDP program, and frames
//! built by the code under test elsewhere would prove less.
#![allow(dead_code)]

use std::net::Ipv4Addr;

pub mod capture;

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb];
pub const ETH_IPV4: u16 = 0x0800;

/// RFC 1071 checksum of `data` added to `initial`.
pub fn csum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv4 header (with `options`, a multiple of 4 bytes) and payload.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    frag: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let hlen = 20 + options.len();
    let total = (hlen + payload.len()) as u16;
    let mut h = vec![0u8; hlen];
    h[0] = 0x40 | (hlen / 4) as u8;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    h[20..].copy_from_slice(options);
    let c = csum(0, &h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;

/// A TCP segment with a correct checksum.
pub fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(payload);
    let c = l4_csum(src, dst, 6, &t);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A UDP datagram with a correct checksum.
pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&len.to_be_bytes());
    u.extend_from_slice(payload);
    let c = l4_csum(src, dst, 17, &u);
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    u
}

pub fn l4_csum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, seg: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    let mut sum = 0u32;
    for c in pseudo.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    csum(sum, seg)
}

/// Ethernet + IPv4 + TCP to `dst:dport`.
pub fn tcp_frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let seg = tcp(src, dst, sport, dport, flags, payload);
    ethernet(MAC_A, MAC_B, ETH_IPV4, &ipv4(src, dst, 6, 0, &[], &seg))
}

/// Whether the TCP checksum of an Ethernet/IPv4 (no options)/TCP frame holds.
pub fn tcp_checksum_ok(frame: &[u8]) -> bool {
    let ip = &frame[14..];
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    l4_csum(src, dst, 6, &ip[20..total]) == 0
}

/// (destination port, TCP flags) of an Ethernet/IPv4/TCP frame.
pub fn tcp_port_flags(frame: &[u8]) -> Option<(u16, u8)> {
    if frame.len() < 54 || frame[12..14] != ETH_IPV4.to_be_bytes() || frame[23] != 6 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0xf) * 4;
    let t = frame.get(14 + ihl..14 + ihl + 20)?;
    Some((u16::from_be_bytes([t[2], t[3]]), t[13]))
}

/// Source port of an Ethernet/IPv4/TCP frame.
pub fn tcp_src_port(frame: &[u8]) -> Option<u16> {
    let ihl = usize::from(frame.get(14)? & 0xf) * 4;
    let t = frame.get(14 + ihl..14 + ihl + 2)?;
    Some(u16::from_be_bytes([t[0], t[1]]))
}

pub const ETH_ARP: u16 = 0x0806;
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet (28 bytes, RFC 826).
pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut a = Vec::with_capacity(28);
    a.extend_from_slice(&1u16.to_be_bytes()); // htype: Ethernet
    a.extend_from_slice(&ETH_IPV4.to_be_bytes()); // ptype: IPv4
    a.extend_from_slice(&[6, 4]);
    a.extend_from_slice(&op.to_be_bytes());
    a.extend_from_slice(&sha);
    a.extend_from_slice(&spa.octets());
    a.extend_from_slice(&tha);
    a.extend_from_slice(&tpa.octets());
    a
}

/// A broadcast ARP request from (`sha`, `spa`) asking for `tpa`.
pub fn arp_request_frame(sha: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    ethernet(
        [0xff; 6],
        sha,
        ETH_ARP,
        &arp(ARP_REQUEST, sha, spa, [0; 6], tpa),
    )
}

/// A unicast ARP reply from (`sha`, `spa`) to (`tha`, `tpa`).
pub fn arp_reply_frame(sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    ethernet(tha, sha, ETH_ARP, &arp(ARP_REPLY, sha, spa, tha, tpa))
}

/// (operation, sender MAC, sender IP, target IP) of an Ethernet/IPv4 ARP frame.
pub fn arp_fields(frame: &[u8]) -> Option<(u16, [u8; 6], Ipv4Addr, Ipv4Addr)> {
    if frame.len() < 14 + 28 || frame[12..14] != ETH_ARP.to_be_bytes() {
        return None;
    }
    let a = &frame[14..42];
    if a[0..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let op = u16::from_be_bytes([a[6], a[7]]);
    let sha = a[8..14].try_into().ok()?;
    let spa = Ipv4Addr::new(a[14], a[15], a[16], a[17]);
    let tpa = Ipv4Addr::new(a[24], a[25], a[26], a[27]);
    Some((op, sha, spa, tpa))
}
