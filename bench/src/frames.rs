//! Frames the bench sends through raw sockets, built with the datapath's wire
//! module.

use std::net::Ipv4Addr;

use datapath::wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    SeqNum, TcpFlags, TcpPacket, TcpRepr,
};

const HEADERS: usize = 14 + 20 + 20;

/// An Ethernet/IPv4/TCP frame of exactly `size` bytes (at least the 54 bytes of
/// headers): an ACK from `src:sport` to `dst:dport` whose payload fills the
/// rest with zeros, checksums included.
pub fn tcp_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    size: usize,
) -> Vec<u8> {
    let size = size.max(HEADERS);
    let payload = vec![0u8; size - HEADERS];
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: SeqNum::new(1),
        ack: Some(SeqNum::new(1)),
        flags: TcpFlags::default(),
        window_len: u16::MAX,
        payload: &payload,
        ..TcpRepr::default()
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        dscp_ecn: 0,
        dont_frag: true,
        ident: 0,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(src_mac),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: EtherType::Ipv4,
    };
    let mut f = vec![0u8; size];
    eth.emit(&mut EthernetFrame::new_unchecked(&mut f[..]))
        .expect("sized above");
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut f[14..]))
        .expect("sized above");
    tcp.emit(&mut TcpPacket::new_unchecked(&mut f[34..]), src, dst)
        .expect("sized above");
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_asked_size_and_parse_back_with_valid_checksums() {
        let (a, b) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        for size in [54, 64, 1514] {
            let f = tcp_frame([2; 6], [4; 6], a, b, 1, 7000, size);
            assert_eq!(f.len(), size);
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            let ip_repr = Ipv4Repr::parse(&ip, true).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let repr = TcpRepr::parse(&tcp, ip_repr.src_addr, ip_repr.dst_addr, true).unwrap();
            assert_eq!((repr.dst_port, repr.payload.len()), (7000, size - HEADERS));
        }
    }
}
