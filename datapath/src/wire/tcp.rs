//! TCP segments (RFC 9293) and their options (RFC 9293 3.2, RFC 7323, RFC 2018).
//!
//! Owns: the TCP header view ([`TcpPacket`]), the control flags
//! ([`TcpFlags`]), the option parser ([`TcpOptions`] yielding [`TcpOption`]),
//! and the parsed segment ([`TcpRepr`]) with the option layout Shunt sends.
//!
//! Must never: judge a segment (acceptability, state, RST validation are the
//! connection's), act on an option's value (a window scale above 14, an MSS
//! of 0 or options outside a SYN are reported as received, RFC 7323 2.3 and
//! RFC 9293 3.7.1 tell the connection what to do with them), or allocate.
//!
//! # Options: what parse accepts
//!
//! Every option but EOL and NOP has a length byte counting its kind and
//! length bytes (RFC 9293 3.2). The parser checks it before reading the option:
//!
//! - a kind byte with no length byte after it, or a length running past the
//!   options region: [`Error::OptionOverflow`];
//! - a length below 2, or a length other than the one RFC 9293 / RFC 7323 /
//!   RFC 2018 fix for MSS (4), window scale (3), SACK-permitted (2),
//!   timestamps (10) and SACK (2 + 8n): [`Error::BadOptionLength`];
//! - a SACK of well-formed length with more than 4 blocks:
//!   [`Error::TooManySackBlocks`].
//!
//! Unknown kinds are skipped by their length. EOL ends the list; whatever
//! follows it is padding and is not looked at. [`TcpRepr::parse`] refuses the
//! whole segment on any option error, which is stricter than Linux (it stops
//! reading options and keeps the segment); a segment whose options are
//! malformed has been damaged or crafted and is counted and dropped.
//!
//! # Options: what emit writes
//!
//! [`TcpRepr::emit`] writes options in Linux's order and alignment
//! (`tcp_options_write`), every option starting its own 32-bit word, so a
//! segment Shunt builds is byte-for-byte the one Linux would for the same
//! values:
//!
//! ```text
//! MSS                      02 04 mm mm            (4)
//! SACK-permitted + TS      04 02 08 0a v v v v e e e e   (12)
//!   or TS alone            01 01 08 0a v v v v e e e e   (12)
//!   or SACK-permitted alone 01 01 04 02           (4)
//! window scale             01 03 03 ss            (4)
//! SACK, n blocks           01 01 05 (2+8n) blocks (4 + 8n)
//! ```
//!
//! A Linux SYN with everything (MSS, SACK-permitted, TS, NOP, WS) takes 20
//! bytes. The options region holds at most 40 bytes, and only SACK blocks can
//! overflow it: emit **drops trailing SACK blocks** until they fit, keeping
//! the first ones (RFC 2018 4: the first block must report the most recently
//! received segment, so order them newest first). That gives 4 blocks without
//! timestamps and 3 with, as Linux sends, and 2 next to every SYN option.
//! [`TcpRepr::sack_blocks_to_emit`] says how many will go out.

use super::checksum::{self, ChecksumFill};
use super::ipv4::IpProtocol;
use super::seq::SeqNum;
use super::{Error, Field, Rest, read_u16, read_u32, write_u16, write_u32};
use core::fmt;
use core::iter::FusedIterator;
use core::net::Ipv4Addr;
use core::ops::{BitAnd, BitOr, BitOrAssign};

mod field {
    use super::{Field, Rest};

    // RFC 9293 3.1, "Header Format".
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset in the high nibble; the low nibble is reserved.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS: Rest = 20..;
}

/// Length of a header without options (data offset 5).
pub const HEADER_LEN: usize = field::OPTIONS.start;
/// Where the checksum field sits in the header (RFC 9293 3.1), for a device
/// asked to finish it.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;
/// The most option bytes a header can carry (data offset 15).
pub const MAX_OPTIONS_LEN: usize = 40;
/// The longest header.
pub const MAX_HEADER_LEN: usize = HEADER_LEN + MAX_OPTIONS_LEN;
/// The most blocks a SACK option can carry (RFC 2018 3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// Option kinds (RFC 9293 3.2, RFC 7323 2.2 and 3.2, RFC 2018 2 and 3).
mod kind {
    pub const END_OF_LIST: u8 = 0;
    pub const NO_OPERATION: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Option lengths, kind and length bytes included.
mod opt_len {
    pub const MSS: usize = 4;
    pub const WINDOW_SCALE: usize = 3;
    pub const SACK_PERMITTED: usize = 2;
    pub const TIMESTAMPS: usize = 10;
    pub const SACK_BASE: usize = 2;
    pub const SACK_BLOCK: usize = 8;
}

/// The TCP control bits (RFC 9293 3.1; ECE and CWR from RFC 3168 6.1), the
/// 14th byte of the header, as a small hand-written bit set.
///
/// The four bits before them (reserved; once NS, now AccECN's AE) are not
/// represented: ignored on parse, zero on emit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168 6.1).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168 6.1).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    /// No flag set.
    #[inline]
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// The flags of a header byte; every bit is a flag.
    #[inline]
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    /// The header byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// The flags of `self` that are not in `other`.
    #[inline]
    pub const fn difference(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    /// Sets the flags of `other`.
    #[inline]
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    #[inline]
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// Sets or clears the flags of `other`.
    #[inline]
    pub fn set(&mut self, other: TcpFlags, on: bool) {
        if on {
            self.insert(other)
        } else {
            self.remove(other)
        }
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// `SYN|ACK`, or `-` when empty.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A SACK block: (left edge, right edge), the first sequence number of a
/// received block and the one just past it (RFC 2018 3).
pub type SackBlock = (SeqNum, SeqNum);

/// The timestamps option's two values (RFC 7323 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpTimestamps {
    /// TSval: the sender's timestamp clock when it sent the segment.
    pub tsval: u32,
    /// TSecr: the TSval most recently received from the peer, echoed back;
    /// meaningful only with ACK set.
    pub tsecr: u32,
}

/// One TCP option, as found in the options region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of the option list; what follows is padding (RFC 9293 3.2).
    EndOfList,
    /// Kind 1: one byte of padding between options (RFC 9293 3.2).
    NoOperation,
    /// Kind 2: the largest segment the sender can receive, only in a SYN
    /// (RFC 9293 3.7.1).
    MaxSegmentSize(u16),
    /// Kind 3: the sender's receive window shift count, only in a SYN
    /// (RFC 7323 2.2). Reported raw; values above 14 are the connection's to
    /// clamp (RFC 7323 2.3).
    WindowScale(u8),
    /// Kind 4: the sender can receive SACK, only in a SYN (RFC 2018 2).
    SackPermitted,
    /// Kind 5: 1 to 4 received blocks, in the order they appear; the unused
    /// tail is `None` (RFC 2018 3).
    SackRange([Option<SackBlock>; MAX_SACK_BLOCKS]),
    /// Kind 8: timestamps (RFC 7323 3.2).
    Timestamps(TcpTimestamps),
    /// Any other kind, with the bytes after its length byte.
    Unknown { kind: u8, data: &'a [u8] },
}

impl TcpOption<'_> {
    /// The option kind byte.
    pub const fn kind(&self) -> u8 {
        match self {
            TcpOption::EndOfList => kind::END_OF_LIST,
            TcpOption::NoOperation => kind::NO_OPERATION,
            TcpOption::MaxSegmentSize(_) => kind::MSS,
            TcpOption::WindowScale(_) => kind::WINDOW_SCALE,
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::SackRange(_) => kind::SACK,
            TcpOption::Timestamps(_) => kind::TIMESTAMPS,
            TcpOption::Unknown { kind, .. } => *kind,
        }
    }

    /// Bytes the option takes on the wire, kind and length included. A SACK
    /// option counts its `Some` blocks.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => opt_len::MSS,
            TcpOption::WindowScale(_) => opt_len::WINDOW_SCALE,
            TcpOption::SackPermitted => opt_len::SACK_PERMITTED,
            TcpOption::SackRange(blocks) => {
                opt_len::SACK_BASE + opt_len::SACK_BLOCK * blocks.iter().flatten().count()
            }
            TcpOption::Timestamps(_) => opt_len::TIMESTAMPS,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    ///
    /// A SACK option writes its `Some` blocks in index order. Errors:
    /// `BufferTooSmall` if `buf` is shorter than [`Self::buffer_len`];
    /// `BadOptionLength` for a SACK option without blocks; `TooLong` for an
    /// `Unknown` option whose length does not fit the length byte. An
    /// `Unknown` option with kind 0 or 1 is written as asked, and will read
    /// back as EOL or NOP. Nothing is written on error.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.buffer_len();
        let len_byte = u8::try_from(len).map_err(|_| Error::TooLong)?;
        if matches!(self, TcpOption::SackRange(_)) && len == opt_len::SACK_BASE {
            return Err(Error::BadOptionLength);
        }
        if buf.len() < len {
            return Err(Error::BufferTooSmall);
        }
        let buf = &mut buf[..len];
        buf[0] = self.kind();
        if len > 1 {
            buf[1] = len_byte;
        }
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::SackPermitted => {}
            TcpOption::MaxSegmentSize(mss) => write_u16(&mut buf[2..], *mss),
            TcpOption::WindowScale(shift) => buf[2] = *shift,
            TcpOption::SackRange(blocks) => {
                let body = buf[2..].chunks_exact_mut(opt_len::SACK_BLOCK);
                for ((left, right), out) in blocks.iter().flatten().zip(body) {
                    write_u32(&mut out[..4], left.raw());
                    write_u32(&mut out[4..], right.raw());
                }
            }
            TcpOption::Timestamps(ts) => {
                write_u32(&mut buf[2..6], ts.tsval);
                write_u32(&mut buf[6..10], ts.tsecr);
            }
            TcpOption::Unknown { data, .. } => buf[2..].copy_from_slice(data),
        }
        Ok(len)
    }
}

/// An iterator over the options region of a TCP header.
///
/// Yields every option including NOPs and the EOL, then stops; after an error
/// it yields that error once and stops. It never reads past the region.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Iterates over `region`, the bytes between the fixed header and the
    /// data offset ([`TcpPacket::options`]).
    #[inline]
    pub const fn new(region: &'a [u8]) -> Self {
        TcpOptions { rest: region }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&first, after_kind) = self.rest.split_first()?;
        match first {
            kind::END_OF_LIST => {
                // RFC 9293 3.2: the rest of the region is padding.
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            kind::NO_OPERATION => {
                self.rest = after_kind;
                Some(Ok(TcpOption::NoOperation))
            }
            _ => match parse_tlv(first, self.rest) {
                Ok((option, len)) => {
                    self.rest = &self.rest[len..];
                    Some(Ok(option))
                }
                Err(err) => {
                    self.rest = &[];
                    Some(Err(err))
                }
            },
        }
    }
}

impl FusedIterator for TcpOptions<'_> {}

/// Parses a kind-length-value option at the start of `region` (which starts
/// with its kind byte) and returns it with its length.
fn parse_tlv(option_kind: u8, region: &[u8]) -> Result<(TcpOption<'_>, usize), Error> {
    let len = match region.get(1) {
        Some(&len) => usize::from(len),
        None => return Err(Error::OptionOverflow),
    };
    // RFC 9293 3.2: the length counts the kind and length bytes.
    if len < 2 {
        return Err(Error::BadOptionLength);
    }
    let len_ok = match option_kind {
        kind::MSS => len == opt_len::MSS,                   // RFC 9293 3.2
        kind::WINDOW_SCALE => len == opt_len::WINDOW_SCALE, // RFC 7323 2.2
        kind::SACK_PERMITTED => len == opt_len::SACK_PERMITTED, // RFC 2018 2
        kind::TIMESTAMPS => len == opt_len::TIMESTAMPS,     // RFC 7323 3.2
        kind::SACK => {
            // RFC 2018 3: length 8 * n + 2 for n blocks; 40 bytes of options
            // leave room for at most 4.
            let body = len - opt_len::SACK_BASE;
            if body == 0 || !body.is_multiple_of(opt_len::SACK_BLOCK) {
                return Err(Error::BadOptionLength);
            }
            if body / opt_len::SACK_BLOCK > MAX_SACK_BLOCKS {
                return Err(Error::TooManySackBlocks);
            }
            true
        }
        _ => true,
    };
    if !len_ok {
        return Err(Error::BadOptionLength);
    }
    let Some(data) = region.get(2..len) else {
        return Err(Error::OptionOverflow);
    };
    let option = match option_kind {
        kind::MSS => TcpOption::MaxSegmentSize(read_u16(data)),
        kind::WINDOW_SCALE => TcpOption::WindowScale(data[0]),
        kind::SACK_PERMITTED => TcpOption::SackPermitted,
        kind::TIMESTAMPS => TcpOption::Timestamps(TcpTimestamps {
            tsval: read_u32(&data[0..4]),
            tsecr: read_u32(&data[4..8]),
        }),
        kind::SACK => {
            let mut blocks = [None; MAX_SACK_BLOCKS];
            for (slot, block) in blocks
                .iter_mut()
                .zip(data.chunks_exact(opt_len::SACK_BLOCK))
            {
                let left = SeqNum::new(read_u32(&block[..4]));
                let right = SeqNum::new(read_u32(&block[4..]));
                *slot = Some((left, right));
            }
            TcpOption::SackRange(blocks)
        }
        _ => TcpOption::Unknown {
            kind: option_kind,
            data,
        },
    };
    Ok((option, len))
}

/// A view of a TCP segment over a byte buffer.
///
/// The buffer must be exactly the segment (the IPv4 payload slice,
/// [`super::Ipv4Packet::payload`]): the payload runs to its end and the
/// checksum covers all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking it. Field accessors panic if the
    /// buffer is shorter than 20 bytes; `options`/`payload` panic if the data
    /// offset runs past it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`TcpPacket::check_len`]; no accessor of the
    /// result can panic.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks, in order: the buffer holds the 20-byte fixed header, else
    /// `Truncated`; the data offset is at least 5, else `BadHeaderLength`
    /// (RFC 9293 3.1); the header it declares fits in the buffer, else
    /// `Truncated`.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if header_len > len {
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

    /// Sequence number of the first byte (or of the SYN).
    #[inline]
    pub fn seq_number(&self) -> SeqNum {
        SeqNum::new(read_u32(&self.buffer.as_ref()[field::SEQ_NUM]))
    }

    /// Acknowledgment number; meaningful only with ACK set.
    #[inline]
    pub fn ack_number(&self) -> SeqNum {
        SeqNum::new(read_u32(&self.buffer.as_ref()[field::ACK_NUM]))
    }

    /// Header length in bytes (data offset * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The control bits.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// The raw window field (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::WINDOW])
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The urgent pointer field; meaningful only with URG set.
    #[inline]
    pub fn urgent_ptr(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The options region, between the fixed header and the data offset.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS.start..self.header_len()]
    }

    /// An iterator over the options.
    #[inline]
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// The payload: everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Sequence space the segment takes: payload bytes, plus one for SYN and
    /// one for FIN (RFC 9293 3.4, SEG.LEN).
    #[inline]
    pub fn segment_len(&self) -> usize {
        let flags = self.flags();
        self.payload().len()
            + usize::from(flags.contains(TcpFlags::SYN))
            + usize::from(flags.contains(TcpFlags::FIN))
    }

    /// Whether the checksum verifies over the pseudo-header and the whole
    /// buffer (RFC 9293 3.1).
    #[inline]
    pub fn verify_checksum(&self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> bool {
        segment_sum(self.buffer.as_ref(), src_addr, dst_addr) == 0xffff
    }
}

/// The one's-complement sum over the IPv4 pseudo-header and `segment` (RFC
/// 9293 3.1: the TCP length counts header and data).
#[inline]
fn segment_sum(segment: &[u8], src_addr: Ipv4Addr, dst_addr: Ipv4Addr) -> u16 {
    checksum::transport_sum_v4(src_addr, dst_addr, IpProtocol::Tcp, segment)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, seq: SeqNum) {
        write_u32(&mut self.buffer.as_mut()[field::SEQ_NUM], seq.raw());
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, ack: SeqNum) {
        write_u32(&mut self.buffer.as_mut()[field::ACK_NUM], ack.raw());
    }

    /// Sets the header length in bytes (a multiple of 4, 20 to 60) and
    /// clears the reserved bits that share its byte.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFFSET] = (((len / 4) as u8) & 0x0f) << 4;
    }

    /// Sets the control bits.
    #[inline]
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.bits();
    }

    /// Sets the raw window field.
    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        write_u16(&mut self.buffer.as_mut()[field::WINDOW], window);
    }

    /// Sets the checksum field as is.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_ptr(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::URGENT], value);
    }

    /// The options region, for writing.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS.start..end]
    }

    /// The payload, for writing.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer and
    /// stores it (RFC 9293 3.1: computed with the checksum field zero).
    #[inline]
    pub fn fill_checksum(&mut self, src_addr: Ipv4Addr, dst_addr: Ipv4Addr) {
        self.set_checksum(0);
        let sum = segment_sum(self.buffer.as_ref(), src_addr, dst_addr);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed TCP segment: header values, the options Shunt understands, and
/// the payload borrowed from the packet.
///
/// The ACK bit lives in `ack`, not in `flags`: `parse` moves it there, and
/// `emit` sets ACK exactly when `ack` is `Some` (whatever `flags` says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// SEG.SEQ.
    pub seq: SeqNum,
    /// SEG.ACK when ACK is set.
    pub ack: Option<SeqNum>,
    /// Control bits other than ACK.
    pub flags: TcpFlags,
    /// SEG.WND as carried: not yet shifted by the window scale.
    pub window_len: u16,
    /// The urgent pointer field as carried (RFC 9293 3.8.5); 0 unless URG.
    pub urgent_ptr: u16,
    /// MSS option (RFC 9293 3.7.1).
    pub mss: Option<u16>,
    /// Window scale option, the raw shift count (RFC 7323 2.2).
    pub window_scale: Option<u8>,
    /// SACK-permitted option (RFC 2018 2).
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 3), newest first. `parse` fills a prefix;
    /// `emit` writes the `Some` entries in index order, as many as fit.
    pub sack_ranges: [Option<SackBlock>; MAX_SACK_BLOCKS],
    /// Timestamps option (RFC 7323 3.2).
    pub timestamps: Option<TcpTimestamps>,
    pub payload: &'a [u8],
}

/// The options of a segment that carries timestamps and nothing else, in
/// the layout RFC 7323 Appendix A recommends (NOP, NOP, TS), which Linux and
/// Shunt send on every segment without SACK blocks: read at fixed offsets,
/// as Linux's `tcp_fast_parse_options` does. `None` for any other bytes.
fn appendix_a_timestamps(options: &[u8]) -> Option<TcpTimestamps> {
    const HEAD: [u8; 4] = [
        kind::NO_OPERATION,
        kind::NO_OPERATION,
        kind::TIMESTAMPS,
        opt_len::TIMESTAMPS as u8,
    ];
    let o: &[u8; 12] = options.try_into().ok()?;
    if o[..4] != HEAD {
        return None;
    }
    Some(TcpTimestamps {
        tsval: u32::from_be_bytes([o[4], o[5], o[6], o[7]]),
        tsecr: u32::from_be_bytes([o[8], o[9], o[10], o[11]]),
    })
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment: lengths again ([`TcpPacket::check_len`]), the
    /// checksum over the pseudo-header of `src_addr` -> `dst_addr` unless
    /// `verify_checksum` is false (the NIC verified it), then every option.
    ///
    /// The payload borrows the packet's buffer for `'a`, so the view itself
    /// can be dropped. Unknown options are skipped; a repeated option keeps
    /// its last value; any option error refuses the segment (see the module
    /// docs). Ports, flags and option values are not judged here.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>, Error> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error::BadChecksum);
        }
        let bytes: &'a [u8] = T::as_ref(packet.buffer);
        let header_len = packet.header_len();
        let flags = packet.flags();
        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: flags.contains(TcpFlags::ACK).then(|| packet.ack_number()),
            flags: flags.difference(TcpFlags::ACK),
            window_len: packet.window_len(),
            urgent_ptr: packet.urgent_ptr(),
            payload: &bytes[header_len..],
            ..TcpRepr::default()
        };
        let options = &bytes[HEADER_LEN..header_len];
        if let Some(ts) = appendix_a_timestamps(options) {
            // The layout nearly every data segment and ACK carries: no walk.
            repr.timestamps = Some(ts);
            return Ok(repr);
        }
        repr.read_options(options)?;
        Ok(repr)
    }

    /// Walks the options one by one into `self`.
    fn read_options(&mut self, options: &'a [u8]) -> Result<(), Error> {
        for option in TcpOptions::new(options) {
            match option? {
                TcpOption::EndOfList => break,
                TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(mss) => self.mss = Some(mss),
                TcpOption::WindowScale(shift) => self.window_scale = Some(shift),
                TcpOption::SackPermitted => self.sack_permitted = true,
                TcpOption::SackRange(blocks) => self.sack_ranges = blocks,
                TcpOption::Timestamps(ts) => self.timestamps = Some(ts),
            }
        }
        Ok(())
    }

    /// Option bytes of everything but SACK blocks, in the Linux layout (see
    /// the module docs). At most 20.
    fn fixed_options_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            // SACK-permitted rides in the two bytes before TS, for free.
            len += 12;
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// How many SACK blocks `emit` writes: the `Some` entries of
    /// `sack_ranges`, less the trailing ones that do not fit in 40 bytes of
    /// options next to the other options. 4 alone, 3 with timestamps, 2 with
    /// every SYN option.
    pub fn sack_blocks_to_emit(&self) -> usize {
        let wanted = self.sack_ranges.iter().flatten().count();
        // Two NOPs, kind and length, then 8 bytes a block.
        let room = MAX_OPTIONS_LEN - self.fixed_options_len();
        let fit = room.saturating_sub(4) / opt_len::SACK_BLOCK;
        wanted.min(fit)
    }

    /// Bytes of options `emit` writes, a multiple of 4, at most 40.
    pub fn options_len(&self) -> usize {
        let blocks = self.sack_blocks_to_emit();
        let sack = if blocks > 0 {
            4 + opt_len::SACK_BLOCK * blocks
        } else {
            0
        };
        self.fixed_options_len() + sack
    }

    /// The header length `emit` writes: 20 plus the options.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Header plus payload: the TCP length of the pseudo-header.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment takes (RFC 9293 3.4, SEG.LEN): payload
    /// bytes, plus one for SYN and one for FIN.
    #[inline]
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Writes the segment (header, options in the Linux layout, payload) into
    /// the first `buffer_len()` bytes of `packet` and fills the checksum over
    /// the pseudo-header of `src_addr` -> `dst_addr`.
    ///
    /// Bytes after `buffer_len()` are neither written nor covered by the
    /// checksum; give a view of exactly `buffer_len()` bytes if it is to be
    /// read back. `Err(BufferTooSmall)` if the buffer is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
    ) -> Result<(), Error> {
        self.emit_with_payload(
            packet,
            src_addr,
            dst_addr,
            (self.payload, &[]),
            ChecksumFill::Full,
        )
    }

    /// [`TcpRepr::emit`] with the payload given as two pieces written one
    /// after the other (`self.payload` is ignored): for a sender whose data
    /// wraps around a ring buffer. With [`ChecksumFill::Full`] one pass sums
    /// the whole segment; with [`ChecksumFill::PseudoHeaderOnly`] the field
    /// gets the pseudo-header sum and the segment is not summed at all (a
    /// device finishes it: [`PartialChecksum`](super::PartialChecksum) with
    /// [`CHECKSUM_OFFSET`]).
    pub fn emit_with_payload<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        payload: (&[u8], &[u8]),
        fill: ChecksumFill,
    ) -> Result<(), Error> {
        let header_len = self.header_len();
        let len = header_len + payload.0.len() + payload.1.len();
        if packet.buffer.as_ref().len() < len {
            return Err(Error::BufferTooSmall);
        }
        let mut flags = self.flags;
        flags.set(TcpFlags::ACK, self.ack.is_some());
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack.unwrap_or_default());
        packet.set_header_len(header_len);
        packet.set_flags(flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_ptr(self.urgent_ptr);
        packet.set_checksum(0);
        let segment = &mut packet.buffer.as_mut()[..len];
        self.emit_options(&mut segment[HEADER_LEN..header_len])?;
        let (first, rest) = segment[header_len..].split_at_mut(payload.0.len());
        first.copy_from_slice(payload.0);
        rest.copy_from_slice(payload.1);
        let field = match fill {
            ChecksumFill::Full => !segment_sum(segment, src_addr, dst_addr),
            // include/linux/skbuff.h, CHECKSUM_PARTIAL: the field holds the
            // pseudo-header sum, uncomplemented (the kernel's TCP writes
            // `~tcp_v4_check(len, saddr, daddr, 0)`, __tcp_v4_send_check).
            ChecksumFill::PseudoHeaderOnly => {
                checksum::pseudo_header_v4(src_addr, dst_addr, IpProtocol::Tcp, len as u32)
            }
        };
        packet.set_checksum(field);
        Ok(())
    }

    /// Writes the options in Linux's layout (`tcp_options_write`) into
    /// `region`, which is exactly `options_len()` bytes.
    fn emit_options(&self, region: &mut [u8]) -> Result<(), Error> {
        const NOP: u8 = kind::NO_OPERATION;
        let mut at = 0;
        if let Some(mss) = self.mss {
            at += TcpOption::MaxSegmentSize(mss).emit(&mut region[at..])?;
        }
        if let Some(ts) = self.timestamps {
            // RFC 7323 Appendix A layout, with SACK-permitted in place of
            // the two NOPs when it is sent too.
            if self.sack_permitted {
                at += TcpOption::SackPermitted.emit(&mut region[at..])?;
            } else {
                region[at..at + 2].copy_from_slice(&[NOP, NOP]);
                at += 2;
            }
            at += TcpOption::Timestamps(ts).emit(&mut region[at..])?;
        } else if self.sack_permitted {
            region[at..at + 2].copy_from_slice(&[NOP, NOP]);
            at += 2;
            at += TcpOption::SackPermitted.emit(&mut region[at..])?;
        }
        if let Some(shift) = self.window_scale {
            region[at] = NOP;
            at += 1;
            at += TcpOption::WindowScale(shift).emit(&mut region[at..])?;
        }
        let blocks = self.sack_blocks_to_emit();
        if blocks > 0 {
            let mut kept = [None; MAX_SACK_BLOCKS];
            for (slot, block) in kept
                .iter_mut()
                .zip(self.sack_ranges.iter().flatten())
                .take(blocks)
            {
                *slot = Some(*block);
            }
            region[at..at + 2].copy_from_slice(&[NOP, NOP]);
            at += 2;
            at += TcpOption::SackRange(kept).emit(&mut region[at..])?;
        }
        debug_assert_eq!(at, region.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever 12 option bytes come, the fixed-offset read of the
        /// Appendix A layout either declines or finds exactly what the walk
        /// finds (timestamps and nothing else).
        #[test]
        fn appendix_a_fast_path_reads_what_the_walk_reads(
            head in prop_oneof![Just(vec![1u8, 1, 8, 10]), proptest::collection::vec(any::<u8>(), 4)],
            tail in proptest::collection::vec(any::<u8>(), 8),
        ) {
            let mut options = head.clone();
            options.extend_from_slice(&tail);
            let mut walked = TcpRepr::default();
            let walk = walked.read_options(&options);
            match appendix_a_timestamps(&options) {
                Some(ts) => {
                    prop_assert!(walk.is_ok());
                    let fast = TcpRepr { timestamps: Some(ts), ..TcpRepr::default() };
                    prop_assert_eq!(fast, walked);
                }
                None => prop_assert_ne!(head, vec![1u8, 1, 8, 10]),
            }
        }
    }

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    /// A SYN as Linux sends it, to port 80: MSS 1460, SACK-permitted,
    /// TSval 0x9a3c2b1d, NOP, window scale 7; window 64240. Built by hand,
    /// checksum computed independently.
    const SYN: [u8; 40] = [
        0xd4, 0x31, 0x00, 0x50, // ports 54321 -> 80
        0x3c, 0x5a, 0x1f, 0x02, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, // data offset 10, SYN
        0xfa, 0xf0, // window 64240
        0x6b, 0xa0, // checksum
        0x00, 0x00, // urgent pointer
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK permitted
        0x08, 0x0a, 0x9a, 0x3c, 0x2b, 0x1d, 0x00, 0x00, 0x00, 0x00, // TS
        0x01, // NOP
        0x03, 0x03, 0x07, // window scale 7
    ];

    /// The SYN-ACK answering [`SYN`], same option layout.
    const SYN_ACK: [u8; 40] = [
        0x00, 0x50, 0xd4, 0x31, 0xe0, 0xd0, 0xc0, 0xb0, 0x3c, 0x5a, 0x1f, 0x03, 0xa0, 0x12, 0xfe,
        0x88, 0x69, 0xfb, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x1f, 0x2e,
        0x3d, 0x4c, 0x9a, 0x3c, 0x2b, 0x1d, 0x01, 0x03, 0x03, 0x07,
    ];

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    /// The client's first data segment: PSH|ACK, NOP NOP TS, 27 bytes (odd,
    /// so the checksum pads).
    const DATA: [u8; 59] = [
        0xd4, 0x31, 0x00, 0x50, 0x3c, 0x5a, 0x1f, 0x03, 0xe0, 0xd0, 0xc0, 0xb1, 0x80, 0x18, 0x01,
        0xf6, 0x41, 0x75, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x9a, 0x3c, 0x2b, 0x2a, 0x1f, 0x2e,
        0x3d, 0x4c, 0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e,
        0x31, 0x0d, 0x0a, 0x48, 0x6f, 0x73, 0x74, 0x3a, 0x20, 0x78, 0x0d, 0x0a, 0x0d, 0x0a,
    ];

    /// A duplicate ACK with timestamps and three SACK blocks: NOP NOP TS,
    /// NOP NOP SACK(26), 60 bytes of header.
    const SACK_ACK: [u8; 60] = [
        0x00, 0x50, 0xd4, 0x31, 0xe0, 0xd0, 0xc0, 0xb1, 0x3c, 0x5a, 0x1f, 0x03, 0xf0, 0x10, 0x01,
        0xfd, 0x03, 0x67, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0x9a, 0x3c, 0x2c, 0x00, 0x1f, 0x2e,
        0x3e, 0x00, 0x01, 0x01, 0x05, 0x1a, 0x3c, 0x5a, 0x20, 0x00, 0x3c, 0x5a, 0x24, 0x00, 0x3c,
        0x5a, 0x1c, 0x00, 0x3c, 0x5a, 0x1e, 0x00, 0x3c, 0x5a, 0x18, 0x00, 0x3c, 0x5a, 0x1a, 0x00,
    ];

    /// A SYN captured from Linux 6.18 on the loopback interface (127.0.0.1,
    /// port 40602 -> 38523): MSS 65495, SACK-permitted, TS, NOP, WS 10. The
    /// checksum field holds the pseudo-header sum only (0xfe30), because lo
    /// leaves the rest to "offload".
    const LINUX_LO_SYN: [u8; 40] = [
        0x9e, 0x9a, 0x96, 0x7b, 0xa1, 0x23, 0x30, 0xcb, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0xaf, 0xb4,
        0x7b, 0x22, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// The SYN-ACK Linux answered [`LINUX_LO_SYN`] with.
    const LINUX_LO_SYN_ACK: [u8; 40] = [
        0x96, 0x7b, 0x9e, 0x9a, 0x76, 0x7a, 0xa8, 0x2c, 0xa1, 0x23, 0x30, 0xcc, 0xa0, 0x12, 0xff,
        0xcb, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0x0a, 0x17,
        0x84, 0x48, 0xaf, 0xb4, 0x7b, 0x22, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// The client's first data segment on that connection: "hi", NOP NOP TS.
    const LINUX_LO_DATA: [u8; 34] = [
        0x9e, 0x9a, 0x96, 0x7b, 0xa1, 0x23, 0x30, 0xcc, 0x76, 0x7a, 0xa8, 0x2d, 0x80, 0x18, 0x00,
        0x40, 0xfe, 0x2a, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a, 0xaf, 0xb4, 0x7b, 0x23, 0x0a, 0x17,
        0x84, 0x48, 0x68, 0x69,
    ];

    fn block(left: u32, right: u32) -> Option<SackBlock> {
        Some((SeqNum::new(left), SeqNum::new(right)))
    }

    fn syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 54321,
            dst_port: 80,
            seq: SeqNum::new(0x3c5a_1f02),
            ack: None,
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

    fn syn_ack_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 54321,
            seq: SeqNum::new(0xe0d0_c0b0),
            ack: Some(SeqNum::new(0x3c5a_1f03)),
            flags: TcpFlags::SYN,
            window_len: 65160,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(TcpTimestamps {
                tsval: 0x1f2e_3d4c,
                tsecr: 0x9a3c_2b1d,
            }),
            ..TcpRepr::default()
        }
    }

    fn data_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 54321,
            dst_port: 80,
            seq: SeqNum::new(0x3c5a_1f03),
            ack: Some(SeqNum::new(0xe0d0_c0b1)),
            flags: TcpFlags::PSH,
            window_len: 502,
            timestamps: Some(TcpTimestamps {
                tsval: 0x9a3c_2b2a,
                tsecr: 0x1f2e_3d4c,
            }),
            payload: REQUEST,
            ..TcpRepr::default()
        }
    }

    fn sack_ack_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 80,
            dst_port: 54321,
            seq: SeqNum::new(0xe0d0_c0b1),
            ack: Some(SeqNum::new(0x3c5a_1f03)),
            window_len: 509,
            timestamps: Some(TcpTimestamps {
                tsval: 0x9a3c_2c00,
                tsecr: 0x1f2e_3e00,
            }),
            sack_ranges: [
                block(0x3c5a_2000, 0x3c5a_2400),
                block(0x3c5a_1c00, 0x3c5a_1e00),
                block(0x3c5a_1800, 0x3c5a_1a00),
                None,
            ],
            ..TcpRepr::default()
        }
    }

    fn parse(bytes: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<TcpRepr<'_>, Error> {
        TcpRepr::parse(&TcpPacket::new_checked(bytes)?, src, dst, true)
    }

    /// Emits `repr` into a buffer of exactly its length.
    fn emit(repr: &TcpRepr<'_>, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst)
            .unwrap();
        buf
    }

    /// A 20-byte header (ports 1 -> 2, ACK) with `options` padded by zeros
    /// (EOL) to a word, checksum left zero.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let header_len = HEADER_LEN + options.len().div_ceil(4) * 4;
        let mut buf = vec![0u8; header_len];
        buf[..4].copy_from_slice(&[0, 1, 0, 2]);
        buf[12] = ((header_len / 4) as u8) << 4;
        buf[13] = TcpFlags::ACK.bits();
        buf[HEADER_LEN..HEADER_LEN + options.len()].copy_from_slice(options);
        buf
    }

    fn parse_options(options: &[u8]) -> Result<TcpRepr<'static>, Error> {
        let bytes: &'static [u8] = Vec::leak(with_options(options));
        let packet = TcpPacket::new_checked(bytes)?;
        TcpRepr::parse(&packet, CLIENT, SERVER, false)
    }

    #[test]
    fn tcp_syn_with_all_linux_options_parses_from_fixed_bytes() {
        let packet = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port()), (54321, 80));
        assert_eq!(packet.seq_number(), SeqNum::new(0x3c5a_1f02));
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), TcpFlags::SYN);
        assert_eq!(packet.window_len(), 64240);
        assert_eq!(packet.checksum(), 0x6ba0);
        assert!(packet.verify_checksum(CLIENT, SERVER));
        assert_eq!(packet.options().len(), 20);
        assert!(packet.payload().is_empty());
        assert_eq!(packet.segment_len(), 1);
        let options: Vec<_> = packet.options_iter().collect();
        assert_eq!(
            options,
            [
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps(TcpTimestamps {
                    tsval: 0x9a3c_2b1d,
                    tsecr: 0
                })),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
        assert_eq!(
            TcpRepr::parse(&packet, CLIENT, SERVER, true),
            Ok(syn_repr())
        );
    }

    #[test]
    fn tcp_syn_with_all_linux_options_round_trips() {
        let repr = syn_repr();
        assert_eq!(repr.options_len(), 20);
        assert_eq!(repr.header_len(), 40);
        assert_eq!(emit(&repr, CLIENT, SERVER), SYN);
        assert_eq!(parse(&SYN, CLIENT, SERVER), Ok(repr));
    }

    #[test]
    fn tcp_syn_ack_round_trips() {
        assert_eq!(parse(&SYN_ACK, SERVER, CLIENT), Ok(syn_ack_repr()));
        assert_eq!(emit(&syn_ack_repr(), SERVER, CLIENT), SYN_ACK);
    }

    #[test]
    fn tcp_data_segment_with_timestamps_round_trips() {
        let repr = data_repr();
        assert_eq!(repr.header_len(), 32);
        assert_eq!(repr.segment_len(), REQUEST.len());
        assert_eq!(parse(&DATA, CLIENT, SERVER), Ok(repr));
        assert_eq!(emit(&repr, CLIENT, SERVER), DATA);
    }

    #[test]
    fn tcp_ack_with_timestamps_and_three_sack_blocks_round_trips() {
        let repr = sack_ack_repr();
        assert_eq!(repr.sack_blocks_to_emit(), 3);
        assert_eq!(repr.header_len(), 60);
        assert_eq!(parse(&SACK_ACK, SERVER, CLIENT), Ok(repr));
        assert_eq!(emit(&repr, SERVER, CLIENT), SACK_ACK);
    }

    #[test]
    fn tcp_captured_linux_segments_match_our_layout_byte_for_byte() {
        let lo = Ipv4Addr::LOCALHOST;
        for captured in [&LINUX_LO_SYN[..], &LINUX_LO_SYN_ACK[..], &LINUX_LO_DATA[..]] {
            let packet = TcpPacket::new_checked(captured).unwrap();
            // lo sends with a partial checksum: only the pseudo-header sum.
            assert!(!packet.verify_checksum(lo, lo));
            let partial =
                checksum::pseudo_header_v4(lo, lo, IpProtocol::Tcp, captured.len() as u32);
            assert_eq!(packet.checksum(), partial);
            let repr = TcpRepr::parse(&packet, lo, lo, false).unwrap();
            let ours = emit(&repr, lo, lo);
            assert_eq!(ours[..16], captured[..16]);
            assert_eq!(ours[18..], captured[18..]);
            assert!(
                TcpPacket::new_checked(&ours[..])
                    .unwrap()
                    .verify_checksum(lo, lo)
            );
        }
        let syn = TcpRepr::parse(
            &TcpPacket::new_checked(&LINUX_LO_SYN[..]).unwrap(),
            lo,
            lo,
            false,
        );
        let syn = syn.unwrap();
        assert_eq!(
            (syn.mss, syn.window_scale, syn.sack_permitted),
            (Some(65495), Some(10), true)
        );
        let data = TcpRepr::parse(
            &TcpPacket::new_checked(&LINUX_LO_DATA[..]).unwrap(),
            lo,
            lo,
            false,
        );
        assert_eq!(data.unwrap().payload, b"hi");
    }

    #[test]
    fn tcp_option_layout_matches_linux_for_each_combination() {
        let base = TcpRepr {
            ack: Some(SeqNum::new(1)),
            ..TcpRepr::default()
        };
        let ts = Some(TcpTimestamps {
            tsval: 0x0102_0304,
            tsecr: 0x0506_0708,
        });
        let cases: [(TcpRepr<'_>, &[u8]); 6] = [
            (
                TcpRepr {
                    mss: Some(536),
                    ..base
                },
                &[2, 4, 0x02, 0x18],
            ),
            (
                TcpRepr {
                    sack_permitted: true,
                    ..base
                },
                &[1, 1, 4, 2],
            ),
            (
                TcpRepr {
                    window_scale: Some(14),
                    ..base
                },
                &[1, 3, 3, 14],
            ),
            (
                TcpRepr {
                    timestamps: ts,
                    ..base
                },
                &[1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
            ),
            (
                TcpRepr {
                    sack_permitted: true,
                    timestamps: ts,
                    ..base
                },
                &[4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8],
            ),
            (
                TcpRepr {
                    mss: Some(1460),
                    sack_permitted: true,
                    window_scale: Some(7),
                    ..base
                },
                &[2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7],
            ),
        ];
        for (repr, options) in cases {
            let bytes = emit(&repr, CLIENT, SERVER);
            assert_eq!(&bytes[HEADER_LEN..], options, "{repr:?}");
            assert_eq!(parse(&bytes, CLIENT, SERVER), Ok(repr));
        }
    }

    #[test]
    fn tcp_emit_drops_trailing_sack_blocks_that_do_not_fit() {
        let four = [block(10, 20), block(30, 40), block(50, 60), block(70, 80)];
        let ts = Some(TcpTimestamps { tsval: 1, tsecr: 2 });
        // Without timestamps all four fit: 4 + 32 = 36 bytes.
        let alone = TcpRepr {
            ack: Some(SeqNum::new(5)),
            sack_ranges: four,
            ..TcpRepr::default()
        };
        assert_eq!((alone.sack_blocks_to_emit(), alone.header_len()), (4, 56));
        assert_eq!(
            parse(&emit(&alone, CLIENT, SERVER), CLIENT, SERVER)
                .unwrap()
                .sack_ranges,
            four
        );
        // With timestamps, as Linux: three, the first three.
        let with_ts = TcpRepr {
            timestamps: ts,
            ..alone
        };
        assert_eq!(
            (with_ts.sack_blocks_to_emit(), with_ts.header_len()),
            (3, 60)
        );
        let bytes = emit(&with_ts, CLIENT, SERVER);
        let parsed = parse(&bytes, CLIENT, SERVER).unwrap();
        assert_eq!(parsed.sack_ranges, [four[0], four[1], four[2], None]);
        // Next to every SYN option: two.
        let crowded = TcpRepr {
            sack_ranges: four,
            ..syn_repr()
        };
        assert_eq!(
            (crowded.sack_blocks_to_emit(), crowded.header_len()),
            (2, 60)
        );
        let bytes = emit(&crowded, CLIENT, SERVER);
        let parsed = parse(&bytes, CLIENT, SERVER).unwrap();
        assert_eq!(parsed.sack_ranges, [four[0], four[1], None, None]);
    }

    #[test]
    fn tcp_emit_skips_empty_sack_slots_and_keeps_order() {
        let gappy = TcpRepr {
            sack_ranges: [None, block(1, 2), None, block(3, 4)],
            ..TcpRepr::default()
        };
        assert_eq!(gappy.sack_blocks_to_emit(), 2);
        let bytes = emit(&gappy, CLIENT, SERVER);
        let parsed = parse(&bytes, CLIENT, SERVER).unwrap();
        assert_eq!(parsed.sack_ranges, [block(1, 2), block(3, 4), None, None]);
    }

    #[test]
    fn tcp_every_option_kind_parses() {
        let region = [
            1, // NOP
            2, 4, 0x23, 0x28, // MSS 9000
            3, 3, 0, // WS 0
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, // TS 1, 0xffffffff
            5, 10, 0, 0, 0, 1, 0, 0, 0, 2, // SACK, one block
            0xfd, 4, 0xbe, 0xef, // experimental (RFC 4727), unknown to us
            0,    // EOL
        ];
        let options: Vec<_> = TcpOptions::new(&region).collect();
        assert_eq!(
            options,
            [
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::MaxSegmentSize(9000)),
                Ok(TcpOption::WindowScale(0)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps(TcpTimestamps {
                    tsval: 1,
                    tsecr: u32::MAX
                })),
                Ok(TcpOption::SackRange([block(1, 2), None, None, None])),
                Ok(TcpOption::Unknown {
                    kind: 0xfd,
                    data: &[0xbe, 0xef]
                }),
                Ok(TcpOption::EndOfList),
            ]
        );
    }

    #[test]
    fn tcp_sack_option_with_one_to_four_blocks_parses() {
        for n in 1..=4u32 {
            let mut region = vec![5, (2 + 8 * n) as u8];
            for i in 0..n {
                region.extend_from_slice(&(100 * i).to_be_bytes());
                region.extend_from_slice(&(100 * i + 50).to_be_bytes());
            }
            let mut expected = [None; 4];
            for (i, slot) in expected.iter_mut().enumerate().take(n as usize) {
                *slot = block(100 * i as u32, 100 * i as u32 + 50);
            }
            let repr = parse_options(&region).unwrap();
            assert_eq!(repr.sack_ranges, expected);
        }
    }

    #[test]
    fn tcp_unknown_options_are_skipped_by_their_length() {
        let region = [
            30, 4, 0x10, 0x00, // MPTCP (RFC 8684)
            34, 2, // TFO cookie request (RFC 7413)
            19, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // MD5 (RFC 2385)
            2, 4, 0x05, 0xb4, // MSS after them
        ];
        let repr = parse_options(&region).unwrap();
        assert_eq!(repr.mss, Some(1460));
        let kinds: Vec<u8> = TcpOptions::new(&region)
            .map(|o| o.unwrap().kind())
            .collect();
        assert_eq!(kinds, [30, 34, 19, 2]);
    }

    #[test]
    fn tcp_options_after_end_of_list_are_padding_and_ignored() {
        // Garbage after EOL would be BadOptionLength if it were read.
        let repr = parse_options(&[2, 4, 0x05, 0xb4, 0, 3, 0, 0xff]).unwrap();
        assert_eq!(repr.mss, Some(1460));
        assert_eq!(repr.window_scale, None);
    }

    #[test]
    fn tcp_repeated_option_keeps_the_last_value() {
        let repr = parse_options(&[2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18]).unwrap();
        assert_eq!(repr.mss, Some(536));
    }

    #[test]
    fn tcp_option_length_below_two_is_a_bad_option_length() {
        assert_eq!(parse_options(&[2, 0, 0, 0]), Err(Error::BadOptionLength));
        assert_eq!(parse_options(&[0xfd, 1, 0, 0]), Err(Error::BadOptionLength));
    }

    #[test]
    fn tcp_known_option_with_the_wrong_length_is_a_bad_option_length() {
        let cases: [&[u8]; 8] = [
            &[2, 3, 0x05],                       // MSS is 4
            &[2, 5, 0x05, 0xb4, 0],              // MSS is 4
            &[3, 4, 7, 0],                       // WS is 3
            &[4, 3, 0],                          // SACK permitted is 2
            &[8, 8, 0, 0, 0, 0, 0, 0],           // TS is 10
            &[5, 2],                             // SACK needs a block
            &[5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0], // SACK is 2 + 8n
            &[5, 6, 0, 0, 0, 0],                 // SACK is 2 + 8n
        ];
        for region in cases {
            assert_eq!(
                parse_options(region),
                Err(Error::BadOptionLength),
                "{region:?}"
            );
        }
    }

    #[test]
    fn tcp_option_running_past_the_region_is_an_overflow() {
        // A kind byte with no room for its length byte.
        assert_eq!(parse_options(&[1, 1, 1, 2]), Err(Error::OptionOverflow));
        // Timestamps cut by the end of the region.
        assert_eq!(
            parse_options(&[1, 1, 8, 10, 0, 0, 0, 1]),
            Err(Error::OptionOverflow)
        );
        // An unknown option claiming more than is left.
        assert_eq!(
            parse_options(&[0xfd, 200, 0, 0]),
            Err(Error::OptionOverflow)
        );
        // A well-formed 4-block SACK with only 3 blocks of room.
        let mut region = vec![5, 34];
        region.extend_from_slice(&[0; 24]);
        assert_eq!(parse_options(&region), Err(Error::OptionOverflow));
    }

    #[test]
    fn tcp_sack_with_five_blocks_is_too_many() {
        let mut region = vec![5, 42];
        region.extend_from_slice(&[0; 38]);
        assert_eq!(parse_options(&region), Err(Error::TooManySackBlocks));
    }

    #[test]
    fn tcp_options_iterator_stops_after_an_error() {
        let mut options = TcpOptions::new(&[1, 2, 1, 1, 1]);
        assert_eq!(options.next(), Some(Ok(TcpOption::NoOperation)));
        assert_eq!(options.next(), Some(Err(Error::BadOptionLength)));
        assert_eq!(options.next(), None);
        assert_eq!(options.next(), None);
    }

    #[test]
    fn tcp_shorter_than_20_bytes_is_truncated() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&[][..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn tcp_data_offset_below_5_is_a_bad_header_length() {
        let mut bytes = SYN;
        bytes[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&bytes[..]).unwrap_err(),
            Error::BadHeaderLength
        );
    }

    #[test]
    fn tcp_data_offset_past_the_buffer_is_truncated() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..39]).unwrap_err(),
            Error::Truncated
        );
        let mut bytes = DATA;
        bytes[12] = 0xf0; // 60 bytes of header in a 59-byte segment
        assert_eq!(
            TcpPacket::new_checked(&bytes[..]).unwrap_err(),
            Error::Truncated
        );
        let short = TcpPacket::new_unchecked(&SYN[..30]);
        assert_eq!(
            TcpRepr::parse(&short, CLIENT, SERVER, false),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn tcp_bad_checksum_is_refused_unless_verification_is_skipped() {
        let mut bytes = DATA;
        bytes[40] ^= 0x20; // flip a payload bit
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&packet, CLIENT, SERVER, true),
            Err(Error::BadChecksum)
        );
        assert!(TcpRepr::parse(&packet, CLIENT, SERVER, false).is_ok());
        // The right bytes under the wrong addresses fail too.
        assert_eq!(
            parse(&DATA, SERVER, CLIENT).map(|_| ()),
            Ok(()),
            "symmetric in addresses"
        );
        assert_eq!(
            parse(&DATA, CLIENT, Ipv4Addr::new(198, 51, 100, 3)),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn tcp_ack_flag_is_carried_by_the_ack_field() {
        let repr = parse(&SYN_ACK, SERVER, CLIENT).unwrap();
        assert_eq!(repr.flags, TcpFlags::SYN, "ACK moved out of flags");
        assert_eq!(repr.ack, Some(SeqNum::new(0x3c5a_1f03)));
        // ACK in flags without an ack number is not sent.
        let stray = TcpRepr {
            flags: TcpFlags::ACK | TcpFlags::RST,
            ..TcpRepr::default()
        };
        let bytes = emit(&stray, CLIENT, SERVER);
        assert_eq!(TcpPacket::new_unchecked(&bytes[..]).flags(), TcpFlags::RST);
        // An ack number without the ACK flag is not read.
        let mut bytes = SYN;
        bytes[8..12].copy_from_slice(&[1, 2, 3, 4]);
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&packet, CLIENT, SERVER, false).unwrap().ack,
            None
        );
    }

    #[test]
    fn tcp_reserved_bits_are_ignored_on_parse_and_cleared_on_emit() {
        let mut bytes = SYN;
        bytes[12] |= 0x0f;
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.header_len(), 40);
        let repr = TcpRepr::parse(&packet, CLIENT, SERVER, false).unwrap();
        assert_eq!(repr, syn_repr());
        assert_eq!(emit(&repr, CLIENT, SERVER)[12], 0xa0);
    }

    #[test]
    fn tcp_segment_len_counts_syn_and_fin() {
        let fin = TcpRepr {
            flags: TcpFlags::FIN,
            payload: b"bye",
            ..TcpRepr::default()
        };
        assert_eq!(fin.segment_len(), 4);
        let syn_fin = TcpRepr {
            flags: TcpFlags::SYN | TcpFlags::FIN,
            ..TcpRepr::default()
        };
        assert_eq!(syn_fin.segment_len(), 2);
        assert_eq!(data_repr().segment_len(), 27);
        assert_eq!(TcpRepr::default().segment_len(), 0);
    }

    #[test]
    fn tcp_urgent_pointer_round_trips() {
        let urgent = TcpRepr {
            flags: TcpFlags::URG,
            urgent_ptr: 3,
            payload: b"abc",
            ..TcpRepr::default()
        };
        let bytes = emit(&urgent, CLIENT, SERVER);
        assert_eq!(TcpPacket::new_unchecked(&bytes[..]).urgent_ptr(), 3);
        assert_eq!(parse(&bytes, CLIENT, SERVER), Ok(urgent));
    }

    #[test]
    fn tcp_emit_into_a_short_buffer_is_refused() {
        let mut buf = [0u8; 39];
        let result = syn_repr().emit(&mut TcpPacket::new_unchecked(&mut buf[..]), CLIENT, SERVER);
        assert_eq!(result, Err(Error::BufferTooSmall));
    }

    #[test]
    fn tcp_emit_leaves_bytes_past_the_segment_alone() {
        let mut buf = [0xee; 44];
        syn_repr()
            .emit(&mut TcpPacket::new_unchecked(&mut buf[..]), CLIENT, SERVER)
            .unwrap();
        assert_eq!(buf[..40], SYN);
        assert_eq!(buf[40..], [0xee; 4]);
    }

    #[test]
    fn tcp_option_emit_refuses_what_it_cannot_write() {
        let mut buf = [0u8; 40];
        assert_eq!(
            TcpOption::SackRange([None; 4]).emit(&mut buf),
            Err(Error::BadOptionLength)
        );
        let big = [0u8; 254];
        let unknown = TcpOption::Unknown {
            kind: 0xfe,
            data: &big,
        };
        assert_eq!(unknown.emit(&mut [0u8; 300]), Err(Error::TooLong));
        assert_eq!(
            TcpOption::MaxSegmentSize(1).emit(&mut buf[..3]),
            Err(Error::BufferTooSmall)
        );
        let ok = TcpOption::Unknown {
            kind: 0xfe,
            data: &[9, 9],
        };
        assert_eq!(ok.emit(&mut buf), Ok(4));
        assert_eq!(buf[..4], [0xfe, 4, 9, 9]);
        assert_eq!(TcpOptions::new(&buf[..4]).next(), Some(Ok(ok)));
    }

    #[test]
    fn tcp_payload_borrows_the_buffer_not_the_view() {
        // The view is a local; the repr it yields outlives it.
        fn parse_local(bytes: &[u8]) -> TcpRepr<'_> {
            let packet = TcpPacket::new_checked(bytes).unwrap();
            TcpRepr::parse(&packet, CLIENT, SERVER, true).unwrap()
        }
        assert_eq!(parse_local(&DATA).payload, REQUEST);
    }

    #[test]
    fn tcp_setters_write_what_getters_read() {
        let mut buf = [0u8; 28];
        let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
        packet.set_header_len(24);
        packet.options_mut().copy_from_slice(&[1, 3, 3, 9]);
        packet.payload_mut().copy_from_slice(b"four");
        packet.set_flags(TcpFlags::FIN | TcpFlags::ACK);
        packet.set_ack_number(SeqNum::new(77));
        packet.fill_checksum(CLIENT, SERVER);
        assert!(packet.verify_checksum(CLIENT, SERVER));
        assert_eq!(packet.segment_len(), 5);
        let repr = TcpRepr::parse(
            &TcpPacket::new_checked(&buf[..]).unwrap(),
            CLIENT,
            SERVER,
            true,
        );
        let repr = repr.unwrap();
        assert_eq!(
            (repr.window_scale, repr.payload, repr.ack),
            (Some(9), &b"four"[..], Some(SeqNum::new(77)))
        );
        assert_eq!(repr.flags, TcpFlags::FIN);
    }

    #[test]
    fn tcp_flags_set_operations_and_display() {
        let mut flags = TcpFlags::empty();
        assert!(flags.is_empty());
        assert_eq!(flags.to_string(), "-");
        flags.insert(TcpFlags::SYN);
        flags |= TcpFlags::ACK;
        assert_eq!(flags.to_string(), "SYN|ACK");
        assert_eq!(format!("{flags:?}"), "TcpFlags(SYN|ACK)");
        assert!(flags.contains(TcpFlags::SYN | TcpFlags::ACK));
        assert!(!flags.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(flags.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(flags & TcpFlags::ACK, TcpFlags::ACK);
        flags.set(TcpFlags::ECE | TcpFlags::CWR, true);
        flags.remove(TcpFlags::SYN);
        assert_eq!(flags.bits(), 0xd0);
        assert_eq!(
            TcpFlags::from_bits(0xff).to_string(),
            "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"
        );
        assert_eq!(
            TcpFlags::from_bits(0x12).difference(TcpFlags::ACK),
            TcpFlags::SYN
        );
    }

    fn any_block() -> impl Strategy<Value = SackBlock> {
        (any::<u32>(), any::<u32>()).prop_map(|(l, r)| (SeqNum::new(l), SeqNum::new(r)))
    }

    prop_compose! {
        fn any_repr()(
            ports in any::<(u16, u16)>(),
            seq in any::<u32>(),
            ack in proptest::option::of(any::<u32>()),
            flags in any::<u8>(),
            window_len in any::<u16>(),
            urgent_ptr in any::<u16>(),
            mss in proptest::option::of(any::<u16>()),
            window_scale in proptest::option::of(any::<u8>()),
            sack_permitted in any::<bool>(),
            blocks in proptest::collection::vec(any_block(), 0..=4),
            timestamps in proptest::option::of(any::<(u32, u32)>()),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) -> TcpRepr<'static> {
            let mut sack_ranges = [None; 4];
            for (slot, b) in sack_ranges.iter_mut().zip(blocks) {
                *slot = Some(b);
            }
            TcpRepr {
                src_port: ports.0,
                dst_port: ports.1,
                seq: SeqNum::new(seq),
                ack: ack.map(SeqNum::new),
                flags: TcpFlags::from_bits(flags).difference(TcpFlags::ACK),
                window_len,
                urgent_ptr,
                mss,
                window_scale,
                sack_permitted,
                sack_ranges,
                timestamps: timestamps.map(|(tsval, tsecr)| TcpTimestamps { tsval, tsecr }),
                payload: Vec::leak(payload),
            }
        }
    }

    #[test]
    fn pseudo_header_only_emit_leaves_the_pseudo_header_sum_in_the_field() {
        // include/linux/skbuff.h CHECKSUM_PARTIAL: the field holds the
        // uncomplemented pseudo-header sum; the payload is not summed.
        let repr = TcpRepr {
            src_port: 54321,
            dst_port: 80,
            seq: SeqNum::new(1000),
            ack: Some(SeqNum::new(2000)),
            flags: TcpFlags::PSH,
            window_len: 512,
            payload: b"hello, offload",
            ..TcpRepr::default()
        };
        let len = repr.buffer_len();
        let mut partial = vec![0u8; len];
        repr.emit_with_payload(
            &mut TcpPacket::new_unchecked(&mut partial[..]),
            CLIENT,
            SERVER,
            (repr.payload, &[]),
            ChecksumFill::PseudoHeaderOnly,
        )
        .unwrap();
        let pseudo = checksum::pseudo_header_v4(CLIENT, SERVER, IpProtocol::Tcp, len as u32);
        assert_eq!(TcpPacket::new_unchecked(&partial[..]).checksum(), pseudo);
        assert!(!TcpPacket::new_unchecked(&partial[..]).verify_checksum(CLIENT, SERVER));
        // Finished as a device would, it is the fully summed segment.
        let mut full = vec![0u8; len];
        repr.emit(&mut TcpPacket::new_unchecked(&mut full[..]), CLIENT, SERVER)
            .unwrap();
        let c = checksum::PartialChecksum {
            start: 0,
            offset: CHECKSUM_OFFSET as u16,
        };
        assert!(c.finish(&mut partial));
        assert_eq!(partial, full);
        assert_eq!(CHECKSUM_OFFSET, 16);
    }

    proptest! {
        #[test]
        fn finished_partial_emit_equals_full_emit(
            repr in any_repr(),
            cut in 0usize..64,
            headroom in 0usize..40,
        ) {
            // A segment at an offset into a frame (as behind Ethernet and
            // IPv4), payload in two pieces: the device's sum over the
            // partial emission gives the same bytes as the full emission.
            let len = repr.buffer_len();
            let cut = cut.min(repr.payload.len());
            let pieces = (&repr.payload[..cut], &repr.payload[cut..]);
            let mut full = vec![0u8; headroom + len];
            repr.emit(&mut TcpPacket::new_unchecked(&mut full[headroom..]), CLIENT, SERVER)
                .unwrap();
            let mut partial = vec![0xa5u8; headroom + len];
            partial[..headroom].copy_from_slice(&full[..headroom]);
            repr.emit_with_payload(
                &mut TcpPacket::new_unchecked(&mut partial[headroom..]),
                CLIENT,
                SERVER,
                pieces,
                ChecksumFill::PseudoHeaderOnly,
            )
            .unwrap();
            let c = checksum::PartialChecksum {
                start: headroom as u16,
                offset: CHECKSUM_OFFSET as u16,
            };
            prop_assert!(c.finish(&mut partial));
            prop_assert_eq!(&partial, &full);
            prop_assert!(TcpPacket::new_unchecked(&partial[headroom..]).verify_checksum(CLIENT, SERVER));
        }

        #[test]
        fn random_bytes_never_panic_the_tcp_parser(
            bytes in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            if let Ok(packet) = TcpPacket::new_checked(&bytes[..]) {
                let _ = (packet.options(), packet.payload(), packet.segment_len());
                let _ = packet.verify_checksum(CLIENT, SERVER);
                prop_assert!(packet.options_iter().count() <= 40);
                let _ = TcpRepr::parse(&packet, CLIENT, SERVER, true);
                let _ = TcpRepr::parse(&packet, CLIENT, SERVER, false);
            }
        }

        #[test]
        fn random_options_never_panic_the_tcp_parser(
            options in proptest::collection::vec(any::<u8>(), 0..=40),
            payload in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            // A valid fixed header around random option bytes reaches every
            // option path, not just the length checks.
            let mut bytes = with_options(&options);
            bytes.extend_from_slice(&payload);
            let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
            let mut errors = 0;
            for option in packet.options_iter() {
                match option {
                    Ok(o) => prop_assert!(o.buffer_len() <= 40),
                    Err(_) => errors += 1,
                }
            }
            prop_assert!(errors <= 1);
            if let Ok(repr) = TcpRepr::parse(&packet, CLIENT, SERVER, false) {
                prop_assert_eq!(repr.payload, &payload[..]);
            }
        }

        #[test]
        fn tcp_parse_of_emit_is_identity_up_to_dropped_sack_blocks(repr in any_repr()) {
            let bytes = emit(&repr, CLIENT, SERVER);
            prop_assert!(repr.header_len() % 4 == 0 && repr.header_len() <= MAX_HEADER_LEN);
            prop_assert_eq!(bytes.len(), repr.buffer_len());
            let mut expected = repr;
            for slot in expected.sack_ranges.iter_mut().skip(repr.sack_blocks_to_emit()) {
                *slot = None;
            }
            prop_assert_eq!(parse(&bytes, CLIENT, SERVER), Ok(expected));
        }
    }
}
