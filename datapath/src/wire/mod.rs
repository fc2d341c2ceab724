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

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use core::net::Ipv4Addr;
pub use error::Error;
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use ipv4::{IpProtocol, Ipv4Packet, Ipv4Repr};
pub use seq::SeqNum;
pub use tcp::{SackBlock, TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr, TcpTimestamps};

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
