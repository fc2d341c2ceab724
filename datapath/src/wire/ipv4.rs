//! IPv4 headers (RFC 791).
//!
//! Owns: the IPv4 header view ([`Ipv4Packet`]), its parsed form
//! ([`Ipv4Repr`]) and the protocol number ([`IpProtocol`]). Addresses are
//! `core::net::Ipv4Addr`; there is no address type of our own.
//!
//! Must never: reassemble fragments (a fragment is [`Error::Fragmented`], for
//! the caller to count and pass on), act on IP options (they are skipped by
//! the header length and never emitted), or trust the buffer length as the
//! packet length. The payload ends where the total length says; bytes after it
//! (Ethernet padding of short frames) are ignored.

use super::checksum;
use super::{Error, Field, Rest, read_u16, write_u16};
use core::fmt;
use core::net::Ipv4Addr;

/// The IP protocol number (IANA "Assigned Internet Protocol Numbers"), the
/// IPv4 "Protocol" field and the IPv6 "Next Header".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1.
    Icmp,
    /// 6.
    Tcp,
    /// 17.
    Udp,
    /// Anything else. Never holds 1, 6 or 17 when produced by `From<u8>`.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(value: u8) -> Self {
        match value {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(value: IpProtocol) -> Self {
        match value {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Unknown(n) => write!(f, "protocol {n}"),
        }
    }
}

mod field {
    use super::{Field, Rest};

    // RFC 791 3.1, "Internet Header Format".
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    pub const OPTIONS: Rest = 20..;
}

/// Length of a header without options (IHL = 5).
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// The largest total length the 16-bit field can say.
pub const MAX_TOTAL_LEN: usize = u16::MAX as usize;

/// RFC 791 3.1 flags, in the 16-bit flags/fragment-offset word (the top bit
/// is reserved: ignored on parse, zero on emit).
const FLAG_DONT_FRAG: u16 = 0x4000;
const FLAG_MORE_FRAGS: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet over a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it. Field accessors panic if the
    /// buffer is shorter than 20 bytes; `options`/`payload` panic if the
    /// header or total length runs past it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv4Packet::check_len`]; no accessor of the
    /// result can panic.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in order:
    ///
    /// 1. the buffer holds a 20-byte header, else `Truncated`;
    /// 2. the version is 4, else `BadVersion` (the length fields below mean
    ///    nothing in any other version);
    /// 3. IHL >= 5, else `BadHeaderLength` (RFC 791 3.1: "the minimum value
    ///    for a correct header is 5");
    /// 4. total length >= header length, else `BadTotalLength`;
    /// 5. total length <= buffer length, else `Truncated`.
    ///
    /// A buffer longer than the total length is fine (Ethernet padding).
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::BadTotalLength);
        }
        if total_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The former TOS byte: DSCP in the top six bits, ECN in the bottom two
    /// (RFC 2474 3, RFC 3168 5).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// The Differentiated Services Code Point (RFC 2474 3).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// The ECN codepoint (RFC 3168 5): 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total length of the packet in bytes, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::TOTAL_LEN])
    }

    /// The identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    #[inline]
    fn flags_frag(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLAGS_FRAG])
    }

    /// The Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DONT_FRAG != 0
    }

    /// The More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MORE_FRAGS != 0
    }

    /// The fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset_bytes(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) * 8
    }

    /// Whether this packet is a fragment of a larger one (MF set, or a
    /// non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MORE_FRAGS | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Whether the header checksum verifies: the one's-complement sum over
    /// the whole header, options and checksum field included, is all ones
    /// (RFC 791 3.1, RFC 1071).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The options, between the fixed header and `header_len()`.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS.start..self.header_len()]
    }

    /// The payload: from `header_len()` to `total_len()`, not to the end of
    /// the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes; it must be a multiple of 4 between 20
    /// and 60 (only the IHL nibble is written).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(&mut self.buffer.as_mut()[field::TOTAL_LEN], len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(&mut self.buffer.as_mut()[field::IDENT], ident);
    }

    #[inline]
    fn set_flags_frag(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::FLAGS_FRAG], value);
    }

    /// Clears the reserved flag, sets DF and MF as given and the fragment
    /// offset (in bytes, a multiple of 8).
    #[inline]
    pub fn set_flags_and_frag(&mut self, dont_frag: bool, more_frags: bool, offset_bytes: u16) {
        let mut value = (offset_bytes / 8) & FRAG_OFFSET_MASK;
        if dont_frag {
            value |= FLAG_DONT_FRAG;
        }
        if more_frags {
            value |= FLAG_MORE_FRAGS;
        }
        self.set_flags_frag(value);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol.into();
    }

    /// Sets the checksum field as is.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Computes the header checksum over `header_len()` bytes and stores it
    /// (RFC 791 3.1: computed with the checksum field zero).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let sum = checksum::sum(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(!sum);
    }

    /// The payload, from `header_len()` to `total_len()`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed IPv4 header: what a transport needs from it.
///
/// Options are not represented: `parse` skips them and `emit` writes a
/// 20-byte header. The reserved flag is ignored on parse and zero on emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Payload length in bytes (total length less header length).
    pub payload_len: usize,
    pub ttl: u8,
    /// The DSCP/ECN byte as on the wire (DSCP << 2 | ECN).
    pub dscp_ecn: u8,
    pub dont_frag: bool,
    pub ident: u16,
}

impl Ipv4Repr {
    /// Parses a packet: lengths again ([`Ipv4Packet::check_len`]), then the
    /// header checksum unless `verify_checksum` is false (the NIC verified
    /// it), then refuses fragments with `Fragmented`.
    ///
    /// The checksum comes before the fragment test so that a corrupted
    /// header is counted as corrupt, not as a fragment.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        verify_checksum: bool,
    ) -> Result<Ipv4Repr, Error> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        // Shunt does not reassemble (RFC 791 3.2 describes how one would).
        if packet.is_fragment() {
            return Err(Error::Fragmented);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            dont_frag: packet.dont_frag(),
            ident: packet.ident(),
        })
    }

    /// 20: `emit` writes no options.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header, checksum included, into `packet`; the
    /// payload (after `header_len()`) is left to the caller.
    ///
    /// `Err(TooLong)` if the total length would exceed 65535;
    /// `Err(BufferTooSmall)` if the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
    ) -> Result<(), Error> {
        let total_len = self.buffer_len();
        if total_len > MAX_TOTAL_LEN {
            return Err(Error::TooLong);
        }
        if packet.buffer.as_ref().len() < total_len {
            return Err(Error::BufferTooSmall);
        }
        packet.buffer.as_mut()[field::VER_IHL] = 0x40 | (HEADER_LEN / 4) as u8;
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len(total_len as u16);
        packet.set_ident(self.ident);
        packet.set_flags_and_frag(self.dont_frag, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A captured IPv4 header of a 115-byte UDP datagram, 192.168.0.1 ->
    /// 192.168.0.199, DF, TTL 64, ident 0, checksum 0xb861: the worked
    /// example in most descriptions of the header checksum. Its 95-byte
    /// payload is zeros here, followed by 3 bytes of trailing padding.
    fn captured() -> [u8; 118] {
        let mut b = [0u8; 118];
        b[..20].copy_from_slice(&[
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ]);
        b[115..].copy_from_slice(&[0xee, 0xee, 0xee]);
        b
    }

    fn captured_repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: IpProtocol::Udp,
            payload_len: 95,
            ttl: 64,
            dscp_ecn: 0,
            dont_frag: true,
            ident: 0,
        }
    }

    /// Sets byte `at` and repairs the header checksum, so that the parser
    /// reaches the check after it.
    fn patch(bytes: &mut [u8], at: usize, value: u8) {
        bytes[at] = value;
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        let header_len = packet.header_len().max(20);
        packet.set_checksum(0);
        let sum = checksum::sum(&packet.as_ref()[..header_len]);
        packet.set_checksum(!sum);
    }

    #[test]
    fn ipv4_captured_header_parses_with_its_known_checksum() {
        let bytes = captured();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 115);
        assert_eq!(packet.checksum(), 0xb861);
        assert!(packet.verify_checksum());
        assert!(packet.dont_frag() && !packet.more_frags() && !packet.is_fragment());
        assert_eq!(packet.frag_offset_bytes(), 0);
        assert_eq!((packet.dscp(), packet.ecn()), (0, 0));
        assert!(packet.options().is_empty());
        assert_eq!(
            packet.payload().len(),
            95,
            "bounded by total length, not by the buffer"
        );
        assert_eq!(Ipv4Repr::parse(&packet, true).unwrap(), captured_repr());
    }

    #[test]
    fn ipv4_emit_reproduces_the_captured_header_and_checksum() {
        let mut buf = [0u8; 115];
        let r = captured_repr();
        assert_eq!(r.buffer_len(), 115);
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf[..20], captured()[..20]);
    }

    #[test]
    fn ipv4_dscp_and_ecn_split_the_tos_byte() {
        let mut bytes = captured();
        patch(&mut bytes, 1, (46 << 2) | 0b11); // EF, CE
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!((packet.dscp(), packet.ecn()), (46, 3));
        assert_eq!(Ipv4Repr::parse(&packet, true).unwrap().dscp_ecn, 0xbb);
    }

    #[test]
    fn ipv4_options_are_skipped_by_the_header_length() {
        // IHL 6: one word of options (NOP NOP NOP EOL), payload after it.
        let mut bytes = [0u8; 28];
        bytes[..20].copy_from_slice(&captured()[..20]);
        bytes[0] = 0x46;
        bytes[2..4].copy_from_slice(&28u16.to_be_bytes());
        bytes[20..24].copy_from_slice(&[1, 1, 1, 0]);
        bytes[24..].copy_from_slice(b"data");
        patch(&mut bytes, 0, 0x46);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload(), b"data");
        let r = Ipv4Repr::parse(&packet, true).unwrap();
        assert_eq!(r.payload_len, 4);
    }

    #[test]
    fn ipv4_shorter_than_20_bytes_is_truncated() {
        let bytes = captured();
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&[][..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn ipv4_total_length_past_the_buffer_is_truncated() {
        let bytes = captured();
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..114]).unwrap_err(),
            Error::Truncated
        );
        assert!(Ipv4Packet::new_checked(&bytes[..115]).is_ok());
    }

    #[test]
    fn ipv4_version_other_than_4_is_refused() {
        let mut bytes = captured();
        bytes[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::BadVersion
        );
    }

    #[test]
    fn ipv4_ihl_below_5_is_a_bad_header_length() {
        let mut bytes = captured();
        bytes[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::BadHeaderLength
        );
    }

    #[test]
    fn ipv4_total_length_below_the_header_length_is_refused() {
        let mut bytes = captured();
        bytes[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::BadTotalLength
        );
        // IHL 15 (60 bytes) with a total length of 40.
        bytes[0] = 0x4f;
        bytes[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::BadTotalLength
        );
    }

    #[test]
    fn ipv4_bad_checksum_is_refused_unless_verification_is_skipped() {
        let mut bytes = captured();
        bytes[11] ^= 0x01;
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(Error::BadChecksum));
        assert_eq!(Ipv4Repr::parse(&packet, false), Ok(captured_repr()));
    }

    #[test]
    fn ipv4_fragments_are_reported_as_fragmented() {
        // More Fragments.
        let mut bytes = captured();
        patch(&mut bytes, 6, 0x20);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.more_frags() && packet.is_fragment());
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(Error::Fragmented));
        // Last fragment: MF clear, offset 185 * 8 = 1480.
        let mut bytes = captured();
        patch(&mut bytes, 6, 0x00);
        patch(&mut bytes, 7, 185);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.frag_offset_bytes(), 1480);
        assert_eq!(Ipv4Repr::parse(&packet, true), Err(Error::Fragmented));
    }

    #[test]
    fn ipv4_reserved_flag_is_ignored() {
        let mut bytes = captured();
        patch(&mut bytes, 6, 0xc0);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet, true), Ok(captured_repr()));
    }

    #[test]
    fn ipv4_emit_refuses_oversized_payloads_and_short_buffers() {
        let mut r = captured_repr();
        let mut buf = [0u8; 114];
        assert_eq!(
            r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..])),
            Err(Error::BufferTooSmall)
        );
        r.payload_len = MAX_TOTAL_LEN - 19;
        assert_eq!(
            r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..])),
            Err(Error::TooLong)
        );
    }

    #[test]
    fn ipv4_setters_write_what_getters_read() {
        let mut buf = [0u8; 40];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        packet.set_version(4);
        packet.set_header_len(24);
        packet.set_total_len(40);
        packet.set_flags_and_frag(false, true, 64);
        let mut payload_len = 0;
        packet.payload_mut().iter_mut().for_each(|b| {
            *b = 7;
            payload_len += 1;
        });
        assert_eq!(
            (packet.version(), packet.header_len(), payload_len),
            (4, 24, 16)
        );
        assert_eq!(
            (
                packet.dont_frag(),
                packet.more_frags(),
                packet.frag_offset_bytes()
            ),
            (false, true, 64)
        );
        assert_eq!(packet.into_inner()[24..], [7; 16]);
    }

    #[test]
    fn ip_protocol_maps_known_numbers_and_keeps_unknown_ones() {
        assert_eq!(IpProtocol::from(1), IpProtocol::Icmp);
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(17), IpProtocol::Udp);
        assert_eq!(IpProtocol::from(132), IpProtocol::Unknown(132));
        for n in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(n)), n);
        }
        assert_eq!(IpProtocol::Tcp.to_string(), "TCP");
        assert_eq!(IpProtocol::Unknown(132).to_string(), "protocol 132");
    }

    fn any_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            0usize..200,
            any::<u8>(),
            any::<u8>(),
            any::<bool>(),
            any::<u16>(),
        )
            .prop_map(
                |(src, dst, proto, payload_len, ttl, dscp_ecn, dont_frag, ident)| Ipv4Repr {
                    src_addr: src.into(),
                    dst_addr: dst.into(),
                    protocol: proto.into(),
                    payload_len,
                    ttl,
                    dscp_ecn,
                    dont_frag,
                    ident,
                },
            )
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_ipv4_parser(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..120),
            plausible in any::<bool>(),
        ) {
            // Half the time, make version and lengths plausible so the later
            // checks run.
            if plausible && bytes.len() >= 20 {
                bytes[0] = 0x40 | (bytes[0] & 0x0f);
                let total = (bytes.len() as u16).saturating_sub(u16::from(bytes[3] & 7));
                bytes[2..4].copy_from_slice(&total.to_be_bytes());
            }
            if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
                let _ = (packet.options(), packet.payload(), packet.verify_checksum());
                let _ = Ipv4Repr::parse(&packet, true);
                if let Ok(r) = Ipv4Repr::parse(&packet, false) {
                    prop_assert_eq!(r.payload_len, packet.payload().len());
                }
            }
        }

        #[test]
        fn ipv4_parse_of_emit_is_identity(r in any_repr(), padding in 0usize..8) {
            let mut buf = [0u8; 240];
            let len = r.buffer_len() + padding;
            r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..len])).unwrap();
            let packet = Ipv4Packet::new_checked(&buf[..len]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(Ipv4Repr::parse(&packet, true), Ok(r));
        }
    }
}
