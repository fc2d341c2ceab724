//! TCP sequence numbers.
//!
//! Owns [`SeqNum`], the only type the datapath uses for sequence and
//! acknowledgment numbers, and its arithmetic. Sequence space is a circle of
//! 2^32 points (RFC 9293 3.4: "all arithmetic dealing with sequence numbers
//! must be performed modulo 2**32"), so:
//!
//! - adding or subtracting a length wraps;
//! - the difference of two sequence numbers is a *signed* distance, `i32`;
//! - `a < b` means "b lies less than 2^31 ahead of a" (RFC 1982 3.2, serial
//!   number arithmetic with SERIAL_BITS = 32).
//!
//! Must never: derive or implement `Ord`, or expose a way to compare the raw
//! `u32`s. Window checks should use [`SeqNum::in_window`] / [`SeqNum::in_range`],
//! which walk forward from a start point and so stay exact even where `<` has
//! no answer.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence (or acknowledgment) number, compared modulo 2^32.
///
/// `PartialOrd` follows RFC 1982: `a < b` iff `b - a` is in `1..2^31`. It is
/// **not a total order**: it is not transitive around the circle (`0 < 2^30 <
/// 2^31 < 3 * 2^30 < 0`), and two numbers exactly 2^31 apart are incomparable
/// (`partial_cmp` returns `None`, so both `a < b` and `b < a` are false).
/// Comparisons are meaningful only between numbers known to be within 2^31 of
/// each other, which TCP guarantees for numbers inside one window.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(u32);

impl SeqNum {
    /// Wraps a raw sequence number as read from a header.
    #[inline]
    pub const fn new(raw: u32) -> Self {
        SeqNum(raw)
    }

    /// The raw 32-bit value, for writing into a header. Do not compare these.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// How far forward `self` lies from `base`, walking the circle forward:
    /// `(self - base) mod 2^32`. Always defined, unlike `<`.
    #[inline]
    pub const fn offset_from(self, base: SeqNum) -> u32 {
        self.0.wrapping_sub(base.0)
    }

    /// The later of the two (`other` if `self < other`, else `self`). For
    /// incomparable numbers (exactly 2^31 apart) this returns `self`.
    #[inline]
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self < other { other } else { self }
    }

    /// The earlier of the two (`other` if `other < self`, else `self`). For
    /// incomparable numbers (exactly 2^31 apart) this returns `self`.
    #[inline]
    pub fn min(self, other: SeqNum) -> SeqNum {
        if other < self { other } else { self }
    }

    /// Whether `start <= self < start + len`, walking forward from `start`.
    ///
    /// This is the shape of the segment acceptability test of RFC 9293
    /// 3.10.7.4 (`RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND`). A `len` of 0 contains
    /// nothing; a `len` of 2^32 or more contains every number.
    #[inline]
    pub const fn in_window(self, start: SeqNum, len: usize) -> bool {
        (self.offset_from(start) as usize) < len
    }

    /// Whether `start <= self < end`, walking forward from `start` to `end`.
    /// Empty when `start == end`.
    #[inline]
    pub const fn in_range(self, start: SeqNum, end: SeqNum) -> bool {
        self.offset_from(start) < end.offset_from(start)
    }

    /// Whether `start <= self <= end`, walking forward from `start` to `end`.
    ///
    /// For the acknowledgment check `SND.UNA < SEG.ACK =< SND.NXT` (RFC 9293
    /// 3.10.7.4) use `ack.in_range_inclusive(snd_una + 1, snd_nxt)`.
    #[inline]
    pub const fn in_range_inclusive(self, start: SeqNum, end: SeqNum) -> bool {
        self.offset_from(start) <= end.offset_from(start)
    }
}

impl From<u32> for SeqNum {
    #[inline]
    fn from(raw: u32) -> Self {
        SeqNum(raw)
    }
}

impl From<SeqNum> for u32 {
    #[inline]
    fn from(seq: SeqNum) -> Self {
        seq.0
    }
}

/// Advances by `rhs` bytes of sequence space, modulo 2^32 (RFC 9293 3.4).
/// `rhs` is itself taken modulo 2^32.
impl Add<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    #[inline]
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

/// Steps back by `rhs` bytes of sequence space, modulo 2^32.
impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    #[inline]
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

impl SubAssign<usize> for SeqNum {
    #[inline]
    fn sub_assign(&mut self, rhs: usize) {
        *self = *self - rhs;
    }
}

/// The signed distance from `rhs` to `self` (RFC 1982 3.2): positive when
/// `self` is ahead. Exactly 2^31 apart gives `i32::MIN` in both directions.
impl Sub<SeqNum> for SeqNum {
    type Output = i32;
    #[inline]
    fn sub(self, rhs: SeqNum) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNum {
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        // RFC 1982 3.2: undefined when the numbers are exactly 2^31 apart.
        match *self - *other {
            0 => Some(Ordering::Equal),
            i32::MIN => None,
            d if d > 0 => Some(Ordering::Greater),
            _ => Some(Ordering::Less),
        }
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOP: SeqNum = SeqNum(u32::MAX);

    #[test]
    fn add_and_sub_wrap_at_2_pow_32() {
        assert_eq!(TOP + 1, SeqNum(0));
        assert_eq!(TOP + 11, SeqNum(10));
        assert_eq!(SeqNum(0) - 1, TOP);
        assert_eq!(SeqNum(5) - 10, SeqNum(u32::MAX - 4));
        let mut s = SeqNum(u32::MAX - 1);
        s += 3;
        assert_eq!(s, SeqNum(1));
        s -= 3;
        assert_eq!(s, SeqNum(u32::MAX - 1));
    }

    #[test]
    fn add_takes_the_length_modulo_2_pow_32() {
        assert_eq!(SeqNum(7) + (1usize << 32), SeqNum(7));
        assert_eq!(SeqNum(7) - (1usize << 32), SeqNum(7));
    }

    #[test]
    fn difference_is_signed_across_the_wrap() {
        assert_eq!(SeqNum(5) - SeqNum(u32::MAX - 4), 10);
        assert_eq!(SeqNum(u32::MAX - 4) - SeqNum(5), -10);
        assert_eq!(SeqNum(100) - SeqNum(100), 0);
        assert_eq!(SeqNum(0x8000_0000) - SeqNum(0), i32::MIN);
        assert_eq!(SeqNum(0) - SeqNum(0x8000_0000), i32::MIN);
    }

    #[test]
    fn ordering_follows_serial_arithmetic_across_the_wrap() {
        assert!(TOP < SeqNum(0));
        assert!(SeqNum(u32::MAX - 5) < SeqNum(5));
        assert!(SeqNum(5) > SeqNum(u32::MAX - 5));
        assert!(SeqNum(1) < SeqNum(2));
        assert!(SeqNum(0) < SeqNum(0x7fff_ffff));
        assert!(SeqNum(0x7fff_ffff) > SeqNum(0));
        // Just past half-way, the order flips.
        assert!(SeqNum(0x8000_0001) < SeqNum(0));
        assert!(SeqNum(3) <= SeqNum(3) && SeqNum(3) >= SeqNum(3));
    }

    #[test]
    fn numbers_half_the_circle_apart_are_incomparable() {
        let a = SeqNum(0x1234);
        let b = a + 0x8000_0000;
        assert_eq!(a.partial_cmp(&b), None);
        assert_eq!(b.partial_cmp(&a), None);
        assert_eq!((a < b, b < a, a <= b, a >= b), (false, false, false, false));
        // max/min fall back to `self` rather than inventing an order.
        assert_eq!(a.max(b), a);
        assert_eq!(b.min(a), b);
    }

    #[test]
    fn order_is_not_transitive_around_the_circle() {
        let q = SeqNum(0x4000_0000);
        let (a, b, c, d) = (SeqNum(0), q, q + 0x4000_0000, q + 0x8000_0000);
        assert!(a < b && b < c && c < d && d < a);
    }

    #[test]
    fn max_and_min_pick_by_serial_order() {
        let before = SeqNum(u32::MAX - 2);
        let after = SeqNum(2);
        assert_eq!(before.max(after), after);
        assert_eq!(after.max(before), after);
        assert_eq!(before.min(after), before);
        assert_eq!(after.min(before), before);
        assert_eq!(after.max(after), after);
    }

    #[test]
    fn in_window_is_half_open_and_wraps() {
        let start = SeqNum(u32::MAX - 9);
        assert!(start.in_window(start, 20));
        assert!(TOP.in_window(start, 20));
        assert!(SeqNum(0).in_window(start, 20));
        assert!(SeqNum(9).in_window(start, 20));
        assert!(!SeqNum(10).in_window(start, 20));
        assert!(!(start - 1).in_window(start, 20));
        assert!(!start.in_window(start, 0));
        assert!((start + 12345).in_window(start, 1usize << 32));
    }

    #[test]
    fn in_range_is_half_open_and_inclusive_variant_closed() {
        let (start, end) = (SeqNum(u32::MAX - 1), SeqNum(3));
        assert!(start.in_range(start, end));
        assert!(SeqNum(0).in_range(start, end));
        assert!(SeqNum(2).in_range(start, end));
        assert!(!end.in_range(start, end));
        assert!(end.in_range_inclusive(start, end));
        assert!(!(end + 1).in_range_inclusive(start, end));
        assert!(!(start - 1).in_range_inclusive(start, end));
        assert!(!start.in_range(start, start));
        assert!(start.in_range_inclusive(start, start));
    }

    #[test]
    fn display_is_the_number_and_debug_names_the_type() {
        assert_eq!(format!("{}", SeqNum(42)), "42");
        assert_eq!(format!("{:?}", SeqNum(42)), "SeqNum(42)");
        assert_eq!(u32::from(SeqNum::from(7)), 7);
        assert_eq!(SeqNum::new(9).raw(), 9);
        assert_eq!(SeqNum(10).offset_from(SeqNum(u32::MAX)), 11);
    }

    proptest! {
        #[test]
        fn a_number_is_below_anything_less_than_half_the_circle_ahead(
            raw in any::<u32>(), d in 1u32..0x8000_0000,
        ) {
            let a = SeqNum(raw);
            let b = a + d as usize;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b - a, d as i32);
            prop_assert_eq!(a - b, -(d as i32));
            prop_assert_eq!(b - d as usize, a);
            prop_assert_eq!(a.max(b), b);
            prop_assert_eq!(a.min(b), a);
            prop_assert!(b.in_window(a, d as usize + 1));
            prop_assert!(!b.in_window(a, d as usize));
            prop_assert!(a.in_range(a, b) && !b.in_range(a, b));
        }
    }
}
