//! UDP datagrams (RFC 768).
//!
//! Owns: the 8-byte UDP header view ([`UdpPacket`]) and the parsed datagram
//! ([`UdpRepr`]). Shunt itself speaks TCP; UDP is here for tests and for the
//! raw-socket benchmarks.
//!
//! Must never: trust the buffer length as the datagram length (the UDP length
//! field bounds the payload), or send a computed checksum of zero (RFC 768:
//! zero means "no checksum", so it goes out as 0xffff).

use super::checksum;
use super::ipv4::IpProtocol;
use super::{Error, Field, read_u16, write_u16};
use core::net::Ipv4Addr;

mod field {
    use super::Field;

    // RFC 768, "Format".
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view of a UDP datagram over a byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking it. Field accessors panic if the
    /// buffer is shorter than 8 bytes; `payload` panics if the length field
    /// is below 8 or runs past it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`UdpPacket::check_len`]; no accessor of the
    /// result can panic.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in order: the buffer holds the 8-byte header, else
    /// `Truncated`; the length field is at least 8, else `BadTotalLength`;
    /// the length fits in the buffer, else `Truncated`. Bytes after the
    /// length are allowed and ignored.
    pub fn check_len(&self) -> Result<(), Error> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::BadTotalLength);
        }
        if len > buffer_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// The length field: header plus payload, in bytes.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Whether the datagram has no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// The checksum field; 0 means the sender computed none.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum verifies over the pseudo-header and the
    /// datagram; a zero checksum field (none sent) always verifies (RFC 768).
    #[inline]
    pub fn verify_checksum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let datagram = &self.buffer.as_ref()[..usize::from(self.len())];
        datagram_sum(datagram, src_addr, dst_addr) == 0xffff
    }
}

/// The one's-complement sum over the IPv4 pseudo-header and `datagram`.
#[inline]
fn datagram_sum(datagram: &[u8], src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> u16 {
    checksum::transport_sum_v4(src_addr, dst_addr, IpProtocol::Udp, datagram)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], port);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], port);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], len);
    }

    /// Sets the checksum field as is.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value);
    }

    /// The payload, bounded by the length field, for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Computes the checksum over the pseudo-header and `len()` bytes and
    /// stores it, 0xffff in place of 0 (RFC 768).
    #[inline]
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) {
        self.set_checksum(0);
        let end = usize::from(self.len());
        let sum = datagram_sum(&self.buffer.as_ref()[..end], src_addr, dst_addr);
        self.set_checksum(match !sum {
            0 => 0xffff,
            checksum => checksum,
        });
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed UDP datagram; the payload borrows the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parses a datagram: lengths again ([`UdpPacket::check_len`]), then the
    /// checksum unless `verify_checksum` is false or the sender sent none.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &UdpPacket<&'a T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<UdpRepr<'a>, Error> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        let bytes: &'a [u8] = T::as_ref(packet.buffer);
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &bytes[HEADER_LEN..usize::from(packet.len())],
        })
    }

    /// 8.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram into the first `buffer_len()` bytes of `packet`
    /// with its checksum. `Err(TooLong)` if the length exceeds 65535,
    /// `Err(BufferTooSmall)` if the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
    ) -> Result<(), Error> {
        let len = u16::try_from(self.buffer_len()).map_err(|_| Error::TooLong)?;
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::BufferTooSmall);
        }
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.payload_mut().copy_from_slice(self.payload);
        packet.fill_checksum(src_addr, dst_addr);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    /// "hello" from port 40000 to the discard port, checksum computed
    /// independently, followed by 3 bytes that are not part of it.
    const DATAGRAM: [u8; 16] = [
        0x9c, 0x40, 0x00, 0x09, // ports 40000 -> 9
        0x00, 0x0d, // length 13
        0x33, 0x81, // checksum
        0x68, 0x65, 0x6c, 0x6c, 0x6f, // "hello"
        0xee, 0xee, 0xee, // trailing bytes
    ];

    fn hello() -> UdpRepr<'static> {
        UdpRepr {
            src_port: 40000,
            dst_port: 9,
            payload: b"hello",
        }
    }

    #[test]
    fn udp_datagram_parses_from_fixed_bytes() {
        let packet = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(
            (packet.src_port(), packet.dst_port(), packet.len()),
            (40000, 9, 13)
        );
        assert_eq!(packet.checksum(), 0x3381);
        assert!(packet.verify_checksum(SRC, DST));
        assert_eq!(packet.payload(), b"hello", "bounded by the length field");
        assert!(!packet.is_empty());
        assert_eq!(UdpRepr::parse(&packet, SRC, DST, true), Ok(hello()));
    }

    #[test]
    fn udp_emit_writes_the_fixed_bytes() {
        let mut buf = [0u8; 13];
        let r = hello();
        assert_eq!((r.header_len(), r.buffer_len()), (8, 13));
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST)
            .unwrap();
        assert_eq!(buf, DATAGRAM[..13]);
    }

    #[test]
    fn udp_zero_checksum_means_none_was_sent() {
        let mut bytes = DATAGRAM;
        bytes[6..8].copy_from_slice(&[0, 0]);
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(UdpRepr::parse(&packet, SRC, DST, true), Ok(hello()));
    }

    #[test]
    fn udp_computed_zero_checksum_is_sent_as_ffff() {
        // Find a source port that makes the checksum come out as 0.
        let port = (0..=u16::MAX)
            .find(|&port| {
                let r = UdpRepr {
                    src_port: port,
                    ..hello()
                };
                let mut buf = [0u8; 13];
                let mut packet = UdpPacket::new_unchecked(&mut buf[..]);
                r.emit(&mut packet, SRC, DST).unwrap();
                packet.checksum() == 0xffff
            })
            .expect("some port sums to all ones");
        let r = UdpRepr {
            src_port: port,
            ..hello()
        };
        let mut buf = [0u8; 13];
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST)
            .unwrap();
        let packet = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.checksum(), 0xffff);
        assert_eq!(UdpRepr::parse(&packet, SRC, DST, true), Ok(r));
    }

    #[test]
    fn udp_bad_checksum_is_refused_unless_verification_is_skipped() {
        let mut bytes = DATAGRAM;
        bytes[9] ^= 1;
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            UdpRepr::parse(&packet, SRC, DST, true),
            Err(Error::BadChecksum)
        );
        assert!(UdpRepr::parse(&packet, SRC, DST, false).is_ok());
    }

    #[test]
    fn udp_shorter_than_its_header_or_its_length_is_truncated() {
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..12]).unwrap_err(),
            Error::Truncated
        );
        let short = UdpPacket::new_unchecked(&DATAGRAM[..10]);
        assert_eq!(
            UdpRepr::parse(&short, SRC, DST, false),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn udp_length_below_8_is_a_bad_total_length() {
        let mut bytes = DATAGRAM;
        bytes[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&bytes[..]).unwrap_err(),
            Error::BadTotalLength
        );
    }

    #[test]
    fn udp_emit_refuses_oversized_payloads_and_short_buffers() {
        let mut buf = [0u8; 12];
        let result = hello().emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST);
        assert_eq!(result, Err(Error::BufferTooSmall));
        let big = vec![0u8; 65_528];
        let r = UdpRepr {
            payload: &big,
            ..hello()
        };
        let mut buf = vec![0u8; 65_536];
        let result = r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST);
        assert_eq!(result, Err(Error::TooLong));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_udp_parser(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..40),
            plausible in any::<bool>(),
        ) {
            if plausible && bytes.len() >= 8 {
                let len = (bytes.len() - usize::from(bytes[0] & 3)) as u16;
                bytes[4..6].copy_from_slice(&len.to_be_bytes());
            }
            if let Ok(packet) = UdpPacket::new_checked(&bytes[..]) {
                let _ = (packet.payload(), packet.is_empty(), packet.verify_checksum(SRC, DST));
                let _ = UdpRepr::parse(&packet, SRC, DST, true);
                let _ = UdpRepr::parse(&packet, SRC, DST, false);
            }
        }

        #[test]
        fn udp_parse_of_emit_is_identity(
            ports in any::<(u16, u16)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let r = UdpRepr { src_port: ports.0, dst_port: ports.1, payload: &payload };
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), SRC, DST).unwrap();
            let packet = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_ne!(packet.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&packet, SRC, DST, true), Ok(r));
        }
    }
}
