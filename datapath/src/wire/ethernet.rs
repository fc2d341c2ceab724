//! Ethernet II frames.
//!
//! Owns: MAC addresses ([`EthernetAddress`]), the EtherType ([`EtherType`]),
//! the 14-byte header view ([`EthernetFrame`]) and its parsed form
//! ([`EthernetRepr`]).
//!
//! Must never: look for an FCS (the NIC strips it before AF_XDP sees the
//! frame), pad short frames (the NIC pads to the 60-byte minimum on transmit),
//! or interpret 802.1Q tags or IEEE 802.3 length fields. A tagged frame shows
//! EtherType `Unknown(0x8100)`, an 802.3 frame an `Unknown` value below
//! 0x0600; the caller passes both to the kernel.

use super::{Error, Field, Rest, read_u16, write_u16};
use core::fmt;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// The six bytes, in wire order.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// The broadcast address.
    #[inline]
    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    /// A group address: the I/G bit (least significant bit of the first
    /// byte) is set. Broadcast is a multicast address.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// An individual address: the I/G bit is clear.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// A locally administered address: the U/L bit (second least significant
    /// bit of the first byte) is set, as on veth pairs and most VMs.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EthernetAddress({self})")
    }
}

/// The EtherType field: what the payload is.
///
/// `Unknown` never holds one of the named values when produced by
/// `From<u16>`; construct the named variants directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800.
    Ipv4,
    /// 0x0806.
    Arp,
    /// 0x86DD.
    Ipv6,
    /// Anything else (802.1Q 0x8100, LLDP, an 802.3 length, ...).
    Unknown(u16),
}

impl From<u16> for EtherType {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

mod field {
    use super::{Field, Rest};

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A view of an Ethernet II frame (without FCS) over a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it. Accessors panic if the buffer is
    /// shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after checking it holds a whole header; no accessor of
    /// the result can panic.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header.
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        let b = &self.buffer.as_ref()[field::DESTINATION];
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        let b = &self.buffer.as_ref()[field::SOURCE];
        EthernetAddress([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// The EtherType.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }

    /// Everything after the header, including any padding up to the 60-byte
    /// minimum frame: the network layer bounds its own payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        write_u16(
            &mut self.buffer.as_mut()[field::ETHERTYPE],
            ethertype.into(),
        );
    }

    /// The payload, for the network layer to emit into.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub src_addr: EthernetAddress,
    pub dst_addr: EthernetAddress,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame. Every header is well formed once
    /// the frame holds 14 bytes, so this fails only on a frame made with
    /// `new_unchecked` that is too short.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr, Error> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// 14.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The frame length for a payload of `payload_len` bytes (without FCS or
    /// padding).
    #[inline]
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Writes the header into the first 14 bytes of `frame`; the payload is
    /// left to the caller. `Err(BufferTooSmall)` if the frame is shorter than
    /// the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        frame: &mut EthernetFrame<T>,
    ) -> Result<(), Error> {
        if frame.buffer.as_ref().len() < self.header_len() {
            return Err(Error::BufferTooSmall);
        }
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: EthernetAddress = EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    const DST: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    /// Header of an IPv4 frame from 02:00:5e:10:20:30 to 52:54:00:12:34:56,
    /// followed by four payload bytes.
    const FRAME: [u8; 18] = [
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // destination
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // source
        0x08, 0x00, // IPv4
        0xde, 0xad, 0xbe, 0xef,
    ];

    fn repr() -> EthernetRepr {
        EthernetRepr {
            src_addr: SRC,
            dst_addr: DST,
            ethertype: EtherType::Ipv4,
        }
    }

    #[test]
    fn ethernet_ipv4_frame_parses_from_fixed_bytes() {
        let frame = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(frame.dst_addr(), DST);
        assert_eq!(frame.src_addr(), SRC);
        assert_eq!(frame.ethertype(), EtherType::Ipv4);
        assert_eq!(frame.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr());
    }

    #[test]
    fn ethernet_emit_writes_the_fixed_bytes() {
        let r = repr();
        let mut buf = [0u8; 18];
        assert_eq!(r.buffer_len(4), 18);
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        r.emit(&mut frame).unwrap();
        frame
            .payload_mut()
            .copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn ethernet_header_shorter_than_14_bytes_is_truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            Error::Truncated
        );
        let frame = EthernetFrame::new_checked(&FRAME[..14]).unwrap();
        assert!(frame.payload().is_empty());
        let short = EthernetFrame::new_unchecked(&FRAME[..3]);
        assert_eq!(EthernetRepr::parse(&short), Err(Error::Truncated));
    }

    #[test]
    fn ethernet_emit_into_a_short_buffer_is_refused() {
        let mut buf = [0u8; 13];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        assert_eq!(repr().emit(&mut frame), Err(Error::BufferTooSmall));
    }

    #[test]
    fn ethertype_maps_known_values_and_keeps_unknown_ones() {
        assert_eq!(EtherType::from(0x0800), EtherType::Ipv4);
        assert_eq!(EtherType::from(0x0806), EtherType::Arp);
        assert_eq!(EtherType::from(0x86dd), EtherType::Ipv6);
        assert_eq!(EtherType::from(0x8100), EtherType::Unknown(0x8100));
        for v in [0x0800u16, 0x0806, 0x86dd, 0x8100, 0x0042] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
    }

    #[test]
    fn address_classes_and_display() {
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(!EthernetAddress::BROADCAST.is_unicast());
        let mcast = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(mcast.is_multicast() && !mcast.is_broadcast());
        let intel = EthernetAddress([0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c]);
        assert!(intel.is_unicast() && !intel.is_local());
        assert!(
            DST.is_unicast() && DST.is_local(),
            "52:54:00 (QEMU) is locally administered"
        );
        assert!(SRC.is_unicast() && SRC.is_local());
        assert_eq!(DST.to_string(), "52:54:00:12:34:56");
        assert_eq!(format!("{SRC:?}"), "EthernetAddress(02:00:5e:10:20:30)");
        assert_eq!(SRC.as_bytes(), &[0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    }

    fn any_addr() -> impl Strategy<Value = EthernetAddress> {
        any::<[u8; 6]>().prop_map(EthernetAddress)
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_ethernet_parser(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Ok(frame) = EthernetFrame::new_checked(&bytes[..]) {
                let r = EthernetRepr::parse(&frame).unwrap();
                prop_assert_eq!(u16::from(r.ethertype), read_u16(&bytes[12..14]));
                prop_assert_eq!(frame.payload().len(), bytes.len() - 14);
            } else {
                prop_assert!(bytes.len() < 14);
            }
        }

        #[test]
        fn ethernet_parse_of_emit_is_identity(
            src in any_addr(), dst in any_addr(), ethertype in any::<u16>(),
        ) {
            let r = EthernetRepr { src_addr: src, dst_addr: dst, ethertype: ethertype.into() };
            let mut buf = [0u8; 14];
            r.emit(&mut EthernetFrame::new_unchecked(&mut buf[..])).unwrap();
            let parsed = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap());
            prop_assert_eq!(parsed, Ok(r));
        }
    }
}
