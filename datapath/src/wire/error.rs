//! The one error type of the wire layer.
//!
//! Owns: the reasons a header can be refused. Each variant names one reason so
//! that the endpoint can count drops by cause; none carries data, so the type
//! is `Copy` and free to return per packet. Must never: carry a `String`, or
//! lump distinct causes together behind a generic "malformed".
//!
//! Two families of length errors are kept apart on purpose:
//!
//! - [`Error::Truncated`]: the bytes end before the header, or a length field,
//!   says they should (a short capture, a cut frame, a length that lies
//!   upwards).
//! - [`Error::BadHeaderLength`] / [`Error::BadTotalLength`]: a length field is
//!   impossible on its own or against another length field (an IHL below 5, a
//!   total length below the header length, a UDP length below 8).

/// Why a header could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the fixed header, or before the length that a
    /// header field declares.
    #[error("truncated: the buffer ends before the header or a declared length")]
    Truncated,
    /// The IP version field is not 4.
    #[error("bad IP version (not 4)")]
    BadVersion,
    /// A header length field is below its minimum (IPv4 IHL < 5, TCP data
    /// offset < 5).
    #[error("bad header length field")]
    BadHeaderLength,
    /// A total length field is impossible: the IPv4 total length is below the
    /// header length, or the UDP length is below 8.
    #[error("bad total length field")]
    BadTotalLength,
    /// The header (IPv4) or segment (TCP, UDP) checksum does not verify.
    #[error("bad checksum")]
    BadChecksum,
    /// The IPv4 packet is a fragment (MF set or a non-zero fragment offset);
    /// Shunt does not reassemble, and counts these apart.
    #[error("IPv4 fragment")]
    Fragmented,
    /// An ARP packet for anything but Ethernet hardware and IPv4 protocol
    /// addresses.
    #[error("unsupported ARP hardware or protocol type")]
    UnsupportedHardware,
    /// A TCP option's length byte is below 2 or wrong for its kind.
    #[error("bad TCP option length")]
    BadOptionLength,
    /// A TCP option (or its length byte) runs past the end of the options
    /// region.
    #[error("TCP option runs past the options region")]
    OptionOverflow,
    /// A well-formed SACK option carries more than 4 blocks (RFC 2018 3 allows
    /// at most 4 in 40 bytes of options).
    #[error("TCP SACK option with more than 4 blocks")]
    TooManySackBlocks,
    /// Emit: the caller's buffer is shorter than `buffer_len()`.
    #[error("emit buffer too small")]
    BufferTooSmall,
    /// Emit: a length does not fit in its header field (an IPv4 total length
    /// or UDP length above 65535).
    #[error("length does not fit its header field")]
    TooLong,
}
