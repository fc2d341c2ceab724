//! ARP for Ethernet and IPv4 (RFC 826).
//!
//! Owns: the 28-byte ARP packet that maps an IPv4 address to a MAC address on
//! Ethernet, as a view ([`ArpPacket`]) and a parsed form ([`ArpRepr`]).
//!
//! Must never: accept any other hardware or protocol pairing. RFC 826 lets an
//! ARP packet carry addresses of any length; Shunt only speaks Ethernet
//! (hardware type 1, 6-byte addresses) over IPv4 (protocol type 0x0800,
//! 4-byte addresses), and anything else is [`Error::UnsupportedHardware`].
//! It also holds no cache and decides nothing about replies: that is the
//! endpoint's neighbour table.

use super::ethernet::EthernetAddress;
use super::{Error, Field, read_u16, write_u16};
use core::net::Ipv4Addr;

/// RFC 826 "ar$hrd" for Ethernet.
const HTYPE_ETHERNET: u16 = 1;
/// RFC 826 "ar$pro": the EtherType of IPv4.
const PTYPE_IPV4: u16 = 0x0800;
/// RFC 826 "ar$hln" for Ethernet.
const HLEN_ETHERNET: u8 = 6;
/// RFC 826 "ar$pln" for IPv4.
const PLEN_IPV4: u8 = 4;

/// The ARP operation ("ar$op", RFC 826; values from RFC 5494's registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1: who has `target_protocol_addr`?
    Request,
    /// 2: `source_protocol_addr` is at `source_hardware_addr`.
    Reply,
    /// Any other operation (RARP, InARP, ...); the caller ignores it. Never
    /// holds 1 or 2 when produced by `From<u16>`.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    #[inline]
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

mod field {
    use super::Field;

    // RFC 826 "Packet format", with hln = 6 and pln = 4.
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// The fixed part, up to and including the two length bytes and the operation.
const FIXED_LEN: usize = field::OPER.end;
/// An Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// A view of an Ethernet/IPv4 ARP packet over a byte buffer.
///
/// The address fields sit at the offsets that hardware length 6 and protocol
/// length 4 give; [`ArpPacket::new_checked`] refuses other lengths, so the
/// address accessors of a checked view always mean what they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking it. Accessors panic if the buffer is
    /// shorter than the field they read ([`PACKET_LEN`] covers all of them).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer after [`ArpPacket::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed part (`Truncated`), that the
    /// address lengths are Ethernet's and IPv4's (`UnsupportedHardware`), and
    /// then that it holds all four addresses (`Truncated`). Trailing bytes
    /// (Ethernet padding) are allowed.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(Error::Truncated);
        }
        if self.hardware_len() != HLEN_ETHERNET || self.protocol_len() != PLEN_IPV4 {
            return Err(Error::UnsupportedHardware);
        }
        if len < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware address space ("ar$hrd"); 1 is Ethernet.
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::HTYPE])
    }

    /// Protocol address space ("ar$pro"), an EtherType; 0x0800 is IPv4.
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PTYPE])
    }

    /// Hardware address length in bytes ("ar$hln").
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length in bytes ("ar$pln").
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The operation ("ar$op").
    #[inline]
    pub fn operation(&self) -> ArpOperation {
        read_u16(&self.buffer.as_ref()[field::OPER]).into()
    }

    /// Sender hardware address ("ar$sha").
    #[inline]
    pub fn source_hardware_addr(&self) -> EthernetAddress {
        let b = &self.buffer.as_ref()[field::SHA];
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Sender protocol address ("ar$spa").
    #[inline]
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SPA];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Target hardware address ("ar$tha"); zero or ignored in a request.
    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        let b = &self.buffer.as_ref()[field::THA];
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Target protocol address ("ar$tpa").
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::TPA];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets "ar$hrd".
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::HTYPE], value);
    }

    /// Sets "ar$pro".
    #[inline]
    pub fn set_protocol_type(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::PTYPE], value);
    }

    /// Sets "ar$hln".
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets "ar$pln".
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets "ar$op".
    #[inline]
    pub fn set_operation(&mut self, value: ArpOperation) {
        write_u16(&mut self.buffer.as_mut()[field::OPER], value.into());
    }

    /// Sets "ar$sha".
    #[inline]
    pub fn set_source_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets "ar$spa".
    #[inline]
    pub fn set_source_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets "ar$tha".
    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets "ar$tpa".
    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub source_hardware_addr: EthernetAddress,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: EthernetAddress,
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Parses a packet: the lengths again ([`ArpPacket::check_len`]), then
    /// hardware type 1 and protocol type 0x0800, else `UnsupportedHardware`.
    /// Unknown operations parse, as [`ArpOperation::Unknown`].
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr, Error> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET || packet.protocol_type() != PTYPE_IPV4 {
            return Err(Error::UnsupportedHardware);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// 28: the whole packet, there is no payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first 28 bytes of `packet`.
    /// `Err(BufferTooSmall)` if it is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut ArpPacket<T>,
    ) -> Result<(), Error> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::BufferTooSmall);
        }
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(HLEN_ETHERNET);
        packet.set_protocol_len(PLEN_IPV4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr);
        packet.set_source_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ASKER_MAC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]);
    const ASKER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const TARGET_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// "Who has 192.0.2.2? Tell 192.0.2.1", as Linux sends it (target
    /// hardware address zero), followed by 18 bytes of Ethernet padding.
    const REQUEST: [u8; 46] = [
        0x00, 0x01, // hardware type: Ethernet
        0x08, 0x00, // protocol type: IPv4
        0x06, 0x04, // hardware and protocol address lengths
        0x00, 0x01, // operation: request
        0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc, // sender MAC
        0xc0, 0x00, 0x02, 0x01, // sender IP
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC (unknown)
        0xc0, 0x00, 0x02, 0x02, // target IP
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    fn request() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: ASKER_MAC,
            source_protocol_addr: ASKER_IP,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: TARGET_IP,
        }
    }

    #[test]
    fn arp_request_parses_from_fixed_bytes_ignoring_padding() {
        let packet = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), 0x0800);
        assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
        assert_eq!(ArpRepr::parse(&packet).unwrap(), request());
    }

    #[test]
    fn arp_request_emits_the_fixed_bytes() {
        let mut buf = [0u8; 28];
        let r = request();
        assert_eq!(r.buffer_len(), 28);
        r.emit(&mut ArpPacket::new_unchecked(&mut buf[..])).unwrap();
        assert_eq!(buf[..], REQUEST[..28]);
    }

    #[test]
    fn arp_reply_round_trips() {
        let reply = ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress([0x52, 0x54, 0, 1, 2, 3]),
            source_protocol_addr: TARGET_IP,
            target_hardware_addr: ASKER_MAC,
            target_protocol_addr: ASKER_IP,
        };
        let mut buf = [0u8; 28];
        reply
            .emit(&mut ArpPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf[6..8], [0x00, 0x02]);
        let parsed = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(parsed, reply);
    }

    #[test]
    fn arp_unknown_operation_parses_as_unknown() {
        let mut bytes = REQUEST;
        bytes[7] = 3; // RARP request
        let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            ArpRepr::parse(&packet).unwrap().operation,
            ArpOperation::Unknown(3)
        );
        assert_eq!(u16::from(ArpOperation::Unknown(3)), 3);
    }

    #[test]
    fn arp_truncated_before_the_lengths_or_the_addresses_is_truncated() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated
        );
        assert!(ArpPacket::new_checked(&REQUEST[..28]).is_ok());
        let short = ArpPacket::new_unchecked(&REQUEST[..20]);
        assert_eq!(ArpRepr::parse(&short), Err(Error::Truncated));
    }

    #[test]
    fn arp_for_other_hardware_or_protocols_is_unsupported() {
        // Address lengths other than 6/4 move every address field.
        for (at, value) in [(4, 8u8), (5, 16u8)] {
            let mut bytes = REQUEST;
            bytes[at] = value;
            assert_eq!(
                ArpPacket::new_checked(&bytes[..]).unwrap_err(),
                Error::UnsupportedHardware
            );
        }
        // Same lengths, other address spaces.
        for (at, value) in [(1, 6u8), (2, 0x86)] {
            let mut bytes = REQUEST;
            bytes[at] = value;
            let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
            assert_eq!(ArpRepr::parse(&packet), Err(Error::UnsupportedHardware));
        }
    }

    #[test]
    fn arp_emit_into_a_short_buffer_is_refused() {
        let mut buf = [0u8; 27];
        let result = request().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(result, Err(Error::BufferTooSmall));
    }

    fn any_mac() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    fn any_ip() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_arp_parser(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..64),
            valid_header in any::<bool>(),
        ) {
            // Half the time, make the fixed part valid so the address paths run.
            if valid_header && bytes.len() >= 6 {
                bytes[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
            }
            if let Ok(packet) = ArpPacket::new_checked(&bytes[..]) {
                let _ = ArpRepr::parse(&packet);
            }
        }

        #[test]
        fn arp_parse_of_emit_is_identity(
            op in any::<u16>(), sha in any_mac(), spa in any_ip(), tha in any_mac(), tpa in any_ip(),
        ) {
            let r = ArpRepr {
                operation: op.into(),
                source_hardware_addr: sha,
                source_protocol_addr: spa,
                target_hardware_addr: tha,
                target_protocol_addr: tpa,
            };
            let mut buf = [0u8; 28];
            r.emit(&mut ArpPacket::new_unchecked(&mut buf[..])).unwrap();
            let parsed = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap());
            prop_assert_eq!(parsed, Ok(r));
        }
    }
}
