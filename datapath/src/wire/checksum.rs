//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Owns: one's-complement sums over byte slices, the IPv4 pseudo-header sum
//! that TCP and UDP checksums cover, combining partial sums, and updating a
//! stored checksum after a field changes. These run on every packet, so the
//! sum reads 8 bytes per step into a wide accumulator and folds once at the
//! end.
//!
//! Must never: allocate, assume any alignment of the data (it reads byte
//! arrays, never casts), or complement behind the caller's back. Every
//! function here returns a *folded sum*, not a checksum, except the
//! `update_*` functions which take and return a stored checksum field. The
//! header checksum to store is `!sum`; a received header verifies when the sum
//! over it, checksum field included, is `0xffff`.

use super::ipv4::IpProtocol;
use core::net::Ipv4Addr;

/// Bytes summed into the inner accumulator before it is folded into the outer
/// one. A multiple of 8 (so only the last block can have an odd tail), and
/// small enough that the inner `u64` cannot overflow: 2 * (BLOCK / 8) words of
/// at most 2^32 - 1 each stay below 2^46.
const BLOCK: usize = 64 * 1024;

/// The one's-complement sum of `data` taken as big-endian 16-bit words, an odd
/// final byte padded on the right with a zero byte (RFC 1071 1, 4.1), folded
/// to 16 bits and **not** complemented.
///
/// The result is 0 only when every byte is 0; otherwise it is in
/// `1..=0xffff` (one's-complement "negative zero" is reported as `0xffff`).
/// Partial sums can be joined with [`combine`] if every piece but the last
/// has an even length.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    let mut total: u64 = 0;
    for block in data.chunks(BLOCK) {
        total = add_end_around(total, sum_block(block));
    }
    fold(total)
}

/// Sums one block as plain integers. Summing 32-bit big-endian words instead
/// of 16-bit ones is the same one's-complement sum once folded, because
/// 2^16 = 1 modulo 2^16 - 1 (RFC 1071 2(B), "parallel summation").
#[inline]
fn sum_block(block: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = block.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let mut words = chunks.remainder().chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// 64-bit one's-complement addition: the carry out wraps around into bit 0.
#[inline]
fn add_end_around(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    // When there is a carry, s <= 2^64 - 2, so adding it back cannot overflow.
    s + u64::from(carry)
}

/// Folds a wide one's-complement accumulator to 16 bits (RFC 1071 4.1, the
/// "fold 32-bit sum to 16 bits" loop). A non-zero input never folds to 0.
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The one's-complement sum over the IPv4 pseudo-header (RFC 9293 3.1, RFC
/// 768) and a whole TCP segment or UDP datagram, `bytes`; the checksum field
/// is the complement of this with itself zeroed, and a correct packet sums to
/// 0xffff. For IPv4 the length fits in 16 bits; a longer buffer cannot have
/// come from an IPv4 packet.
#[inline]
pub fn transport_sum_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, bytes: &[u8]) -> u16 {
    let pseudo = pseudo_header_v4(src, dst, protocol, bytes.len() as u32);
    combine(&[pseudo, sum(bytes)])
}

/// The one's-complement sum of several partial sums (RFC 1071 2(C)).
///
/// Each partial sum must come from [`sum`] over a piece of even length, except
/// possibly the last piece.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    let mut acc: u64 = 0;
    for &s in sums {
        acc += u64::from(s);
    }
    fold(acc)
}

/// The sum of the IPv4 pseudo-header that the TCP and UDP checksums also cover
/// (RFC 9293 3.1, RFC 768): source address, destination address, a zero byte
/// and the protocol number, and the TCP/UDP length in bytes (header plus
/// data). `length` is taken as 32 bits so the same function serves IPv6's
/// upper-layer length later; for IPv4 it is at most 65535.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u32) -> u16 {
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let words = [
        u16::from_be_bytes([s0, s1]),
        u16::from_be_bytes([s2, s3]),
        u16::from_be_bytes([d0, d1]),
        u16::from_be_bytes([d2, d3]),
        u16::from(u8::from(protocol)),
        (length >> 16) as u16,
        length as u16,
    ];
    combine(&words)
}

/// How an emitted TCP or UDP header's checksum field is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumFill {
    /// The complete checksum over the pseudo-header and every byte.
    #[default]
    Full,
    /// The pseudo-header sum only, for a device to finish
    /// ([`PartialChecksum`]): the payload is not read at all.
    PseudoHeaderOnly,
}

/// A transport checksum left for the device to finish: Linux's
/// `CHECKSUM_PARTIAL` (include/linux/skbuff.h, "Checksumming of transmitted
/// packets"), which is also what an AF_XDP TX metadata checksum request asks
/// for (Documentation/networking/xsk-tx-metadata.rst,
/// `XDP_TXMD_FLAGS_CHECKSUM`).
///
/// The frame is complete except for one checksum field: the 16 bits at
/// `start + offset` hold the *pseudo-header sum*, folded and **not**
/// complemented ([`pseudo_header_v4`], what the kernel writes as
/// `~csum_tcpudp_magic(saddr, daddr, len, proto, 0)`), and the device stores
/// the complement of the one's-complement sum from `start` to the end of the
/// frame in that field. Both offsets count from the first byte of the frame
/// (for the kernel: from the descriptor's address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialChecksum {
    /// Where summing starts: the transport header.
    pub start: u16,
    /// Where the checksum goes, counted from `start`.
    pub offset: u16,
}

impl PartialChecksum {
    /// Whether a device can finish this checksum in a frame of `frame_len`
    /// bytes: the field lies inside the frame. The kernel refuses an AF_XDP
    /// request that fails this (`csum_start + csum_offset + 2 > desc->len`:
    /// EINVAL in net/xdp/xsk.c `xsk_skb_metadata`).
    #[inline]
    pub fn fits(&self, frame_len: usize) -> bool {
        usize::from(self.start) + usize::from(self.offset) + 2 <= frame_len
    }

    /// Does the device's work in software (as the kernel's
    /// `skb_checksum_help`): sums `frame[start..]`, the pseudo-header sum in
    /// the field included, and stores the complement in the field. False,
    /// with the frame untouched, if the field is not inside `frame`.
    pub fn finish(&self, frame: &mut [u8]) -> bool {
        if !self.fits(frame.len()) {
            return false;
        }
        let start = usize::from(self.start);
        let at = start + usize::from(self.offset);
        let csum = !sum(&frame[start..]);
        frame[at..at + 2].copy_from_slice(&csum.to_be_bytes());
        true
    }
}

/// A frame written for transmit: its length, and the checksum left for the
/// device to finish if the writer was told the device would
/// ([`PartialChecksum`]); `None` means every checksum in it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxFrame {
    pub len: usize,
    pub partial_checksum: Option<PartialChecksum>,
}

impl From<usize> for TxFrame {
    /// A complete frame of `len` bytes.
    #[inline]
    fn from(len: usize) -> TxFrame {
        TxFrame {
            len,
            partial_checksum: None,
        }
    }
}

/// A stored checksum field, updated after one 16-bit word of the data it
/// covers changed from `old_word` to `new_word` (RFC 1624 3, eqn. 3:
/// `HC' = ~(~HC + ~m + m')`).
///
/// Equal to recomputing the checksum from scratch, except in one corner:
/// when every other covered word is zero the update yields `0x0000` where a
/// recomputation yields `0xffff`. No IPv4, TCP or UDP checksum can hit it (the
/// IPv4 version and the pseudo-header protocol are never zero).
#[inline]
pub fn update_u16(old_csum: u16, old_word: u16, new_word: u16) -> u16 {
    let acc = u64::from(!old_csum) + u64::from(!old_word) + u64::from(new_word);
    !fold(acc)
}

/// A stored checksum field, updated after a 32-bit field of the data it covers
/// (an address, a sequence number) changed from `old` to `new`. The field must
/// start on a 16-bit boundary of the covered data. Same corner case as
/// [`update_u16`].
#[inline]
pub fn update_u32(old_csum: u16, old: u32, new: u32) -> u16 {
    // RFC 1624 3 applied to both halves at once.
    let acc = u64::from(!old_csum)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from((new >> 16) as u16)
        + u64::from(new as u16);
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, one 16-bit word at a time with an end-around carry.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            acc += u32::from(word);
            if acc > 0xffff {
                acc -= 0xffff;
            }
        }
        acc as u16
    }

    /// A captured IPv4 header (UDP, 192.168.0.1 -> 192.168.0.199), the worked
    /// example in most descriptions of the header checksum: 0xb861.
    const IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        // RFC 1071 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0x2ddf0, which
        // folds to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(!sum(&data), 0x220d);
        // The same bytes as two pieces combine to the same sum.
        assert_eq!(combine(&[sum(&data[..4]), sum(&data[4..])]), 0xddf2);
    }

    #[test]
    fn captured_ipv4_header_checksum_is_b861_and_verifies() {
        let mut header = IPV4_HEADER;
        assert_eq!(sum(&header), 0xffff, "a correct header sums to all ones");
        header[10] = 0;
        header[11] = 0;
        assert_eq!(!sum(&header), 0xb861);
    }

    #[test]
    fn odd_length_pads_the_last_byte_on_the_right() {
        assert_eq!(sum(&[0x01]), 0x0100);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0; 9]), 0);
    }

    #[test]
    fn negative_zero_is_reported_as_ffff() {
        assert_eq!(sum(&[0xff, 0xff]), 0xffff);
        assert_eq!(sum(&[0x80, 0x00, 0x7f, 0xff]), 0xffff);
        assert_eq!(sum(&[0xff; 200_000]), 0xffff);
    }

    #[test]
    fn sums_spanning_several_blocks_match_the_definition() {
        // A deterministic pseudo-random buffer longer than two blocks, with an
        // odd length so the tail path runs too.
        let mut x: u32 = 0x9e37_79b9;
        let data: Vec<u8> = (0..2 * BLOCK + 12_345)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        assert_eq!(sum(&data), naive_sum(&data));
    }

    #[test]
    fn pseudo_header_sums_addresses_protocol_and_length() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(198, 51, 100, 2);
        let bytes = [192, 0, 2, 1, 198, 51, 100, 2, 0, 6, 0, 40];
        assert_eq!(pseudo_header_v4(src, dst, IpProtocol::Tcp, 40), sum(&bytes));
        let long = [192, 0, 2, 1, 198, 51, 100, 2, 0, 17, 0, 1, 0, 2];
        assert_eq!(
            pseudo_header_v4(src, dst, IpProtocol::Udp, 0x0001_0002),
            sum(&long)
        );
    }

    #[test]
    fn incremental_update_of_ttl_matches_recomputation() {
        // Decrementing the TTL (a router's job, RFC 1624 2): word 4 is TTL|proto.
        let mut header = IPV4_HEADER;
        header[8] = 0x3f;
        let updated = update_u16(0xb861, 0x4011, 0x3f11);
        header[10] = 0;
        header[11] = 0;
        assert_eq!(updated, !sum(&header));
    }

    /// A header-like buffer of `words` 16-bit words: word 0 is a fixed non-zero
    /// value (as the IPv4 version is), `csum_at` holds the checksum.
    fn with_checksum(mut data: Vec<u8>, csum_at: usize) -> Vec<u8> {
        data[0] = 0x45;
        data[2 * csum_at] = 0;
        data[2 * csum_at + 1] = 0;
        let c = !sum(&data);
        data[2 * csum_at..2 * csum_at + 2].copy_from_slice(&c.to_be_bytes());
        data
    }

    fn stored(data: &[u8], csum_at: usize) -> u16 {
        u16::from_be_bytes([data[2 * csum_at], data[2 * csum_at + 1]])
    }

    #[test]
    fn partial_checksum_outside_the_frame_is_refused_untouched() {
        // net/xdp/xsk.c xsk_skb_metadata: csum_start + csum_offset + 2 must
        // not pass the frame's end.
        let c = PartialChecksum {
            start: 34,
            offset: 16,
        };
        assert!(c.fits(52));
        assert!(!c.fits(51));
        assert!(!c.fits(42), "an ARP frame has no room for it");
        let mut frame = [7u8; 51];
        assert!(!c.finish(&mut frame));
        assert!(frame.iter().all(|&b| b == 7));
    }

    #[test]
    fn finishing_stores_the_complement_of_the_sum_from_start() {
        // RFC 1071 3's bytes behind a 2-byte "header"; the field (at 2+2)
        // holds a pseudo sum of 0x0102 beforehand.
        let mut frame = [0xee, 0xee, 0x00, 0x01, 0x01, 0x02, 0xf4, 0xf5, 0xf6, 0xf7];
        let c = PartialChecksum {
            start: 2,
            offset: 2,
        };
        let expect = !combine(&[sum(&[0x00, 0x01, 0x01, 0x02, 0xf4, 0xf5, 0xf6, 0xf7])]);
        assert!(c.finish(&mut frame));
        assert_eq!(u16::from_be_bytes([frame[4], frame[5]]), expect);
        assert_eq!(&frame[..2], &[0xee, 0xee], "bytes before start not summed");
        // With the field finished, the bytes plus the pseudo sum verify.
        let field_back = {
            let mut f = frame;
            f[4] = 0;
            f[5] = 0;
            combine(&[sum(&f[2..]), 0x0102, expect])
        };
        assert_eq!(field_back, 0xffff);
    }

    proptest! {
        #[test]
        fn fast_sum_equals_naive_word_by_word_sum(
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            skip in 0usize..8,
        ) {
            prop_assert_eq!(sum(&data), naive_sum(&data));
            // Unaligned starts read the same.
            let from = skip.min(data.len());
            prop_assert_eq!(sum(&data[from..]), naive_sum(&data[from..]));
        }

        #[test]
        fn combined_even_pieces_equal_the_whole(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cut in 0usize..300,
        ) {
            let cut = (2 * cut).min(data.len() & !1);
            prop_assert_eq!(combine(&[sum(&data[..cut]), sum(&data[cut..])]), sum(&data));
        }

        #[test]
        fn update_u16_equals_full_recomputation(
            words in 3usize..40,
            seed in proptest::collection::vec(any::<u8>(), 80),
            x in any::<usize>(),
            y in any::<usize>(),
            new_word in any::<u16>(),
        ) {
            // Two distinct words, neither of them word 0.
            let changed_at = 1 + x % (words - 1);
            let csum_at = 1 + y % (words - 2);
            let csum_at = if csum_at >= changed_at { csum_at + 1 } else { csum_at };
            let mut data = with_checksum(seed[..2 * words].to_vec(), csum_at);
            let old_word = u16::from_be_bytes([data[2 * changed_at], data[2 * changed_at + 1]]);
            let incremental = update_u16(stored(&data, csum_at), old_word, new_word);
            data[2 * changed_at..2 * changed_at + 2].copy_from_slice(&new_word.to_be_bytes());
            let recomputed = with_checksum(data, csum_at);
            prop_assert_eq!(incremental, stored(&recomputed, csum_at));
        }

        #[test]
        fn update_u32_equals_full_recomputation(
            words in 4usize..40,
            seed in proptest::collection::vec(any::<u8>(), 80),
            x in any::<usize>(),
            y in any::<usize>(),
            new in any::<u32>(),
        ) {
            // A two-word field and a checksum word outside it, none of them
            // word 0.
            let changed_at = 1 + x % (words - 2);
            let csum_at = 1 + y % (words - 3);
            let csum_at = if csum_at >= changed_at { csum_at + 2 } else { csum_at };
            let mut data = with_checksum(seed[..2 * words].to_vec(), csum_at);
            let field = 2 * changed_at..2 * changed_at + 4;
            let old = u32::from_be_bytes([data[field.start], data[field.start + 1],
                data[field.start + 2], data[field.start + 3]]);
            let incremental = update_u32(stored(&data, csum_at), old, new);
            data[field].copy_from_slice(&new.to_be_bytes());
            let recomputed = with_checksum(data, csum_at);
            prop_assert_eq!(incremental, stored(&recomputed, csum_at));
        }
    }
}
