//! Wire formats: Ethernet, ARP, IPv4, TCP with options, UDP, the Internet
//! checksum and TCP sequence numbers.
//!
//! # What this module owns
//!
//! The byte layout of every header the datapath reads or writes. Each protocol
//! has two faces:
//!
//! - a **view** ([`EthernetFrame`], [`ArpPacket`], [`Ipv4Packet`], [`TcpPacket`],
//!   [`UdpPacket`]): a thin wrapper over a byte buffer `T: AsRef<[u8]>` with a
//!   getter (and, for `T: AsMut<[u8]>`, a setter) per header field, each one a
//!   fixed-offset big-endian read or write. `new_unchecked` wraps any buffer and
//!   its accessors index it directly, so they panic if the buffer is too short
//!   for the field. `new_checked` first validates every length the header
//!   declares against the buffer; after it succeeds no accessor can panic.
//! - a **Repr** ([`EthernetRepr`], [`ArpRepr`], [`Ipv4Repr`], [`TcpRepr`],
//!   [`UdpRepr`]): the header parsed into plain values. `Repr::parse(&view, ..)`
//!   checks what makes the header meaningful (version, checksum, option
//!   lengths) and `Repr::emit(&self, &mut view, ..)` writes it back into a
//!   caller's buffer of at least `buffer_len()` bytes, checksum included.
//!
//! # What it must never do
//!
//! - **Panic on bytes from the wire.** `new_checked` followed by `parse` returns
//!   an [`Error`] for every malformed input; each file has a proptest that feeds
//!   random bytes to its parsers.
//! - **Allocate.** Views borrow the caller's buffer; Reprs are `Copy` values
//!   whose payload, if any, borrows the packet.
//! - **Decide policy.** Whether a segment is acceptable, whether a window
//!   scale above 14 is clamped, whether a fragment is reassembled or a port 0
//!   is refused: that belongs to the layers above. This layer says what the
//!   bytes mean and whether they are well formed, nothing more.
//! - Read a clock or do I/O.

pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod ipv4;
pub mod seq;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use checksum::{ChecksumFill, PartialChecksum, TxFrame};
pub use core::net::Ipv4Addr;
pub use error::Error;
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use seq::SeqNum;
pub use tcp::{SackBlock, TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr, TcpTimestamps};
pub use udp::{UdpPacket, UdpRepr};

/// A fixed header field: the byte range it occupies.
pub(crate) type Field = core::ops::Range<usize>;
/// A variable-length tail (payload) starting at a fixed offset.
pub(crate) type Rest = core::ops::RangeFrom<usize>;

/// Reads a big-endian `u16` from the first two bytes of `bytes`.
///
/// Panics if `bytes` is shorter than 2; callers pass a slice cut by a
/// [`Field`] of length 2, so the bound check is done once, at the slicing.
#[inline]
pub(crate) fn read_u16(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// Reads a big-endian `u32` from the first four bytes of `bytes`.
#[inline]
pub(crate) fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Writes `value` big-endian into the first two bytes of `bytes`.
#[inline]
pub(crate) fn write_u16(bytes: &mut [u8], value: u16) {
    bytes[..2].copy_from_slice(&value.to_be_bytes());
}

/// Writes `value` big-endian into the first four bytes of `bytes`.
#[inline]
pub(crate) fn write_u32(bytes: &mut [u8], value: u32) {
    bytes[..4].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    //! The layers together: frames parsed and built the way the endpoint
    //! will, Ethernet -> IPv4 -> TCP/UDP, and ARP beside them.

    use super::*;
    use proptest::prelude::*;

    const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    const SERVER_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    /// A whole Linux-style SYN frame, 192.0.2.1:54321 -> 198.51.100.2:80:
    /// Ethernet, IPv4 (DF, TTL 64, ident 0x8d2a), TCP with MSS 1460,
    /// SACK-permitted, TS, NOP, WS 7. Checksums computed independently.
    const SYN_FRAME: [u8; 74] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, 0x08,
        0x00, // eth
        0x45, 0x00, 0x00, 0x3c, 0x8d, 0x2a, 0x40, 0x00, 0x40, 0x06, 0xc1, 0x5a, 0xc0, 0x00, 0x02,
        0x01, 0xc6, 0x33, 0x64, 0x02, // ipv4
        0xd4, 0x31, 0x00, 0x50, 0x3c, 0x5a, 0x1f, 0x02, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x6b, 0xa0, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x9a, 0x3c,
        0x2b, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07, // tcp
    ];

    /// A SYN frame captured from Linux 6.18 on lo (127.0.0.1:40602 ->
    /// 127.0.0.1:38523). Its IPv4 checksum is real; its TCP checksum is the
    /// partial one lo leaves for offload.
    const LINUX_LO_SYN_FRAME: [u8; 74] = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0x2b, 0xfa, 0x40, 0x00, 0x40, 0x06, 0x10, 0xc0, 0x7f, 0x00, 0x00, 0x01,
        0x7f, 0x00, 0x00, 0x01, 0x9e, 0x9a, 0x96, 0x7b, 0xa1, 0x23, 0x30, 0xcb, 0x00, 0x00, 0x00,
        0x00, 0xa0, 0x02, 0xff, 0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02,
        0x08, 0x0a, 0xaf, 0xb4, 0x7b, 0x22, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// Everything a frame can parse into.
    #[derive(Debug, PartialEq)]
    enum Parsed<'a> {
        Arp(ArpRepr),
        Tcp(Ipv4Repr, TcpRepr<'a>),
        Udp(Ipv4Repr, UdpRepr<'a>),
        Other,
    }

    /// The endpoint's receive path, in miniature.
    fn parse_frame(
        frame: &[u8],
        verify_transport: bool,
    ) -> Result<(EthernetRepr, Parsed<'_>), Error> {
        let eth = EthernetFrame::new_checked(frame)?;
        let eth_repr = EthernetRepr::parse(&eth)?;
        let rest = &frame[ethernet::HEADER_LEN..];
        let parsed = match eth_repr.ethertype {
            EtherType::Arp => Parsed::Arp(ArpRepr::parse(&ArpPacket::new_checked(rest)?)?),
            EtherType::Ipv4 => {
                let ip = Ipv4Packet::new_checked(rest)?;
                let ip_repr = Ipv4Repr::parse(&ip, true)?;
                let payload = &rest[ip.header_len()..usize::from(ip.total_len())];
                let (src, dst) = (ip_repr.src_addr, ip_repr.dst_addr);
                match ip_repr.protocol {
                    IpProtocol::Tcp => {
                        let tcp = TcpPacket::new_checked(payload)?;
                        Parsed::Tcp(ip_repr, TcpRepr::parse(&tcp, src, dst, verify_transport)?)
                    }
                    IpProtocol::Udp => {
                        let udp = UdpPacket::new_checked(payload)?;
                        Parsed::Udp(ip_repr, UdpRepr::parse(&udp, src, dst, verify_transport)?)
                    }
                    _ => Parsed::Other,
                }
            }
            _ => Parsed::Other,
        };
        Ok((eth_repr, parsed))
    }

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 54321,
            dst_port: 80,
            seq: SeqNum::new(0x3c5a_1f02),
            flags: TcpFlags::SYN,
            window_len: 64240,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(TcpTimestamps {
                tsval: 0x9a3c_2b1d,
                tsecr: 0,
            }),
            ..TcpRepr::default()
        }
    }

    fn syn_ip(payload_len: usize) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: CLIENT,
            dst_addr: SERVER,
            protocol: IpProtocol::Tcp,
            payload_len,
            ttl: 64,
            dscp_ecn: 0,
            dont_frag: true,
            ident: 0x8d2a,
        }
    }

    #[test]
    fn linux_syn_frame_parses_layer_by_layer() {
        let (eth, parsed) = parse_frame(&SYN_FRAME, true).unwrap();
        assert_eq!((eth.src_addr, eth.dst_addr), (CLIENT_MAC, SERVER_MAC));
        assert_eq!(parsed, Parsed::Tcp(syn_ip(40), syn()));
    }

    #[test]
    fn linux_syn_frame_is_built_layer_by_layer() {
        let tcp = syn();
        let ip = syn_ip(tcp.buffer_len());
        let eth = EthernetRepr {
            src_addr: CLIENT_MAC,
            dst_addr: SERVER_MAC,
            ethertype: EtherType::Ipv4,
        };
        let mut frame = [0u8; 74];
        assert_eq!(eth.buffer_len(ip.buffer_len()), frame.len());
        let mut eth_frame = EthernetFrame::new_unchecked(&mut frame[..]);
        eth.emit(&mut eth_frame).unwrap();
        let mut ip_packet = Ipv4Packet::new_unchecked(eth_frame.payload_mut());
        ip.emit(&mut ip_packet).unwrap();
        let mut tcp_packet = TcpPacket::new_unchecked(ip_packet.payload_mut());
        tcp.emit(&mut tcp_packet, CLIENT, SERVER).unwrap();
        assert_eq!(frame, SYN_FRAME);
    }

    #[test]
    fn captured_linux_loopback_syn_frame_parses_with_offloaded_tcp_checksum() {
        assert_eq!(
            parse_frame(&LINUX_LO_SYN_FRAME, true),
            Err(Error::BadChecksum)
        );
        let (_, parsed) = parse_frame(&LINUX_LO_SYN_FRAME, false).unwrap();
        let Parsed::Tcp(ip, tcp) = parsed else {
            panic!("not TCP: {parsed:?}")
        };
        assert_eq!(
            (ip.src_addr, ip.ttl, ip.payload_len),
            (Ipv4Addr::LOCALHOST, 64, 40)
        );
        assert_eq!((tcp.src_port, tcp.dst_port), (40602, 38523));
        assert_eq!(tcp.mss, Some(65495));
    }

    #[test]
    fn short_frame_padding_is_ignored_by_the_network_layer() {
        // A UDP datagram with 1 byte of payload padded to the 60-byte minimum.
        let mut frame = [0u8; 60];
        let eth = EthernetRepr {
            src_addr: CLIENT_MAC,
            dst_addr: SERVER_MAC,
            ethertype: EtherType::Ipv4,
        };
        let udp = UdpRepr {
            src_port: 7,
            dst_port: 9,
            payload: b"x",
        };
        let ip = Ipv4Repr {
            protocol: IpProtocol::Udp,
            ..syn_ip(udp.buffer_len())
        };
        let mut eth_frame = EthernetFrame::new_unchecked(&mut frame[..]);
        eth.emit(&mut eth_frame).unwrap();
        let mut ip_packet = Ipv4Packet::new_unchecked(eth_frame.payload_mut());
        ip.emit(&mut ip_packet).unwrap();
        let mut udp_packet = UdpPacket::new_unchecked(ip_packet.payload_mut());
        udp.emit(&mut udp_packet, CLIENT, SERVER).unwrap();
        frame[43..].fill(0xee);
        assert_eq!(parse_frame(&frame, true).unwrap().1, Parsed::Udp(ip, udp));
    }

    #[test]
    fn error_messages_say_why() {
        assert_eq!(
            Error::OptionOverflow.to_string(),
            "TCP option runs past the options region"
        );
        assert_eq!(Error::Fragmented.to_string(), "IPv4 fragment");
    }

    proptest! {
        #[test]
        fn random_frames_never_panic_the_receive_path(
            mut frame in proptest::collection::vec(any::<u8>(), 0..128),
            shape in 0u8..4,
        ) {
            // Steer a share of the frames past the outer checks, so the
            // inner parsers see random bytes too.
            if frame.len() >= 34 && shape > 0 {
                frame[12..14].copy_from_slice(if shape == 1 { &[8, 6] } else { &[8, 0] });
                if shape > 1 {
                    let ip_len = (frame.len() - 14) as u16;
                    frame[14] = 0x45;
                    frame[16..18].copy_from_slice(&ip_len.to_be_bytes());
                    frame[20..22].copy_from_slice(&[0x40, 0]);
                    frame[23] = if shape == 2 { 6 } else { 17 };
                    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
                    ip.fill_checksum();
                }
            }
            let _ = parse_frame(&frame, true);
            let _ = parse_frame(&frame, false);
        }
    }
}
