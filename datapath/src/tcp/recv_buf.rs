//! The receive side of a connection: a fixed-capacity byte ring plus an
//! out-of-order [`Assembler`].
//!
//! Owns the bytes received but not yet read by the application, in order, and
//! the bytes received beyond `rcv_nxt` (out of order), stored at their final
//! place in the ring. Everything is addressed by *offset from `rcv_nxt`*: the
//! connection maps sequence numbers to offsets (and trims anything before
//! `rcv_nxt`) before calling in, so this module never sees a [`SeqNum`].
//!
//! Must never: allocate after creation (the ring and the range table are sized
//! once, from configuration), accept data beyond the free space (it is trimmed
//! and counted), hold more than `max_ranges` out-of-order ranges (a segment
//! that would need one more is dropped and counted), or panic on any offset or
//! length the wire can produce.
//!
//! Overlap policy: **first copy wins.** Bytes already held (out of order) are
//! never overwritten by a later segment; only the gaps are copied. With an
//! honest peer the data is identical anyway; with a forged overlapping segment
//! this keeps what was accepted first, and it makes retransmissions idempotent.
//!
//! [`SeqNum`]: crate::wire::SeqNum

use core::ops::Range;

/// What happened to one segment's payload in [`RecvBuf::write_at`].
///
/// `accepted + duplicate + trimmed + dropped == data.len()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Bytes newly stored (not held before), in order or out of order.
    pub accepted: usize,
    /// How far `rcv_nxt` moved: the contiguous, readable data grew by this
    /// much. Can exceed `accepted` when the segment filled a hole in front of
    /// an out-of-order range.
    pub advanced: usize,
    /// Bytes already held (out of order) and left untouched (first copy wins).
    pub duplicate: usize,
    /// Bytes beyond the free space (the receive window), not stored.
    pub trimmed: usize,
    /// Bytes inside the window but not stored because the segment would have
    /// needed a new out-of-order range and the range table is full.
    pub dropped: usize,
}

/// One out-of-order range, with the time it was last touched, for SACK order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    start: usize,
    end: usize,
    /// Value of the assembler's touch counter when last created or extended.
    touched: u64,
}

/// The table of data held beyond `rcv_nxt`: at most `max_ranges` disjoint,
/// non-adjacent ranges of offsets from `rcv_nxt`, sorted by start, none
/// starting at 0 (such data is contiguous and leaves the table at once).
#[derive(Debug, Clone)]
pub struct Assembler {
    ranges: Vec<Held>,
    max_ranges: usize,
    touch_counter: u64,
}

impl Assembler {
    /// An empty table that can hold up to `max_ranges` ranges. Allocates once.
    pub fn new(max_ranges: usize) -> Self {
        Assembler {
            ranges: Vec::with_capacity(max_ranges),
            max_ranges,
            touch_counter: 0,
        }
    }

    /// The held ranges (offsets from `rcv_nxt`), lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.ranges.iter().map(|h| h.start..h.end)
    }

    /// Number of held ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether nothing is held out of order.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Maximum number of ranges.
    pub fn max_ranges(&self) -> usize {
        self.max_ranges
    }

    /// Total bytes held out of order.
    pub fn held_bytes(&self) -> usize {
        self.ranges.iter().map(|h| h.end - h.start).sum()
    }

    /// Fills `out` with the held ranges, most recently touched first, and
    /// returns how many it wrote. RFC 2018 4: the first SACK block reports the
    /// block holding the most recently received segment, and the rest repeat
    /// the most recently reported ones. No allocation: a selection over at
    /// most `max_ranges` entries per output slot.
    pub fn ranges_by_recency(&self, out: &mut [Range<usize>]) -> usize {
        let mut written = 0;
        let mut below = u64::MAX;
        while written < out.len() {
            // The most recent range touched strictly before `below`; stamps
            // are unique, so this walks every range exactly once.
            let next = self
                .ranges
                .iter()
                .filter(|h| h.touched < below)
                .max_by_key(|h| h.touched);
            match next {
                Some(h) => {
                    out[written] = h.start..h.end;
                    below = h.touched;
                    written += 1;
                }
                None => break,
            }
        }
        written
    }

    /// Bytes of `[start, end)` already held.
    fn covered(&self, start: usize, end: usize) -> usize {
        self.ranges
            .iter()
            .map(|h| h.end.min(end).saturating_sub(h.start.max(start)))
            .sum()
    }

    /// Indices `[first, last)` of the ranges overlapping or adjacent to
    /// `[start, end)`.
    fn touching(&self, start: usize, end: usize) -> Range<usize> {
        let first = self
            .ranges
            .iter()
            .position(|h| h.end >= start)
            .unwrap_or(self.ranges.len());
        let last = first
            + self.ranges[first..]
                .iter()
                .take_while(|h| h.start <= end)
                .count();
        first..last
    }

    /// Whether `[start, end)` can be recorded: it touches a range, is
    /// contiguous with `rcv_nxt`, or there is a free slot.
    fn can_add(&self, start: usize, end: usize) -> bool {
        start == 0 || !self.touching(start, end).is_empty() || self.ranges.len() < self.max_ranges
    }

    /// Records `[start, end)` as held, merging with every range it overlaps
    /// or touches. If the result starts at 0 it is removed, every other range
    /// is shifted down by its length, and that length (how far `rcv_nxt`
    /// advances) is returned. The caller has checked [`Self::can_add`].
    fn add(&mut self, start: usize, end: usize) -> usize {
        self.touch_counter += 1;
        let touching = self.touching(start, end);
        let merged = if touching.is_empty() {
            Held {
                start,
                end,
                touched: self.touch_counter,
            }
        } else {
            Held {
                start: start.min(self.ranges[touching.start].start),
                end: end.max(self.ranges[touching.end - 1].end),
                touched: self.touch_counter,
            }
        };
        if merged.start == 0 {
            self.ranges.drain(touching);
            let advanced = merged.end;
            for h in &mut self.ranges {
                h.start -= advanced;
                h.end -= advanced;
            }
            advanced
        } else {
            let at = touching.start;
            if touching.is_empty() {
                // Capacity was reserved for max_ranges; no reallocation.
                self.ranges.insert(at, merged);
            } else {
                self.ranges.drain(at + 1..touching.end);
                self.ranges[at] = merged;
            }
            0
        }
    }

    /// Forgets every range (for example when the connection is reset).
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
}

/// The receive buffer: readable in-order bytes followed by room for
/// out-of-order ones, in one ring allocated at creation.
#[derive(Debug, Clone)]
pub struct RecvBuf {
    ring: Box<[u8]>,
    /// Ring index of the first readable byte.
    head: usize,
    /// Contiguous bytes received and not yet read; `rcv_nxt` is at
    /// `head + readable`.
    readable: usize,
    assembler: Assembler,
}

impl RecvBuf {
    /// A buffer of `capacity` bytes that tracks up to `max_ranges` out-of-order
    /// ranges. The only allocation this type ever makes.
    pub fn new(capacity: usize, max_ranges: usize) -> Self {
        RecvBuf {
            ring: vec![0; capacity].into_boxed_slice(),
            head: 0,
            readable: 0,
            assembler: Assembler::new(max_ranges),
        }
    }

    /// Total capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Gives the ring's memory back once everything received was read and
    /// nothing more will arrive (the peer's FIN was taken); capacity (and so
    /// the window) is zero after. Returns whether it did.
    pub fn release(&mut self) -> bool {
        if self.readable > 0 || !self.assembler.is_empty() {
            return false;
        }
        self.ring = Box::default();
        self.head = 0;
        true
    }

    /// Bytes the application can read now.
    pub fn readable(&self) -> usize {
        self.readable
    }

    /// Free space from `rcv_nxt` to the end of the buffer: the receive window
    /// to advertise (RFC 9293 3.8.6). Out-of-order data lies inside it and
    /// does not shrink it.
    pub fn window(&self) -> usize {
        self.ring.len() - self.readable
    }

    /// The out-of-order part, for building SACK blocks.
    pub fn assembler(&self) -> &Assembler {
        &self.assembler
    }

    /// Stores a segment's payload whose first byte is `offset` bytes past
    /// `rcv_nxt`. The caller trims anything before `rcv_nxt` first. See
    /// [`WriteOutcome`] for the accounting and the module docs for overlaps.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> WriteOutcome {
        let window = self.window();
        if offset == 0 && self.assembler.is_empty() && (1..=window).contains(&data.len()) {
            // In order, inside the window, nothing held out of order: the
            // common case goes straight in (what the general path below
            // would do, without its range bookkeeping).
            self.copy_in(0, data);
            self.readable += data.len();
            return WriteOutcome {
                accepted: data.len(),
                advanced: data.len(),
                ..WriteOutcome::default()
            };
        }
        let mut outcome = WriteOutcome::default();
        let start = offset.min(window);
        let end = offset.saturating_add(data.len()).min(window);
        // RFC 9293 3.10.7.4: data beyond the receive window is not kept.
        outcome.trimmed = data.len() - (end - start);
        if start == end {
            return outcome;
        }
        if !self.assembler.can_add(start, end) {
            outcome.dropped = end - start;
            return outcome;
        }
        outcome.duplicate = self.assembler.covered(start, end);
        outcome.accepted = end - start - outcome.duplicate;
        // First copy wins: copy only the gaps between held ranges.
        let mut cursor = start;
        let touching = self.assembler.touching(start, end);
        for i in touching {
            let held = self.assembler.ranges[i];
            if held.start > cursor {
                let gap_end = held.start.min(end);
                self.copy_in(cursor, &data[cursor - offset..gap_end - offset]);
            }
            cursor = cursor.max(held.end);
        }
        if cursor < end {
            self.copy_in(cursor, &data[cursor - offset..end - offset]);
        }
        outcome.advanced = self.assembler.add(start, end);
        self.readable += outcome.advanced;
        outcome
    }

    /// Copies `bytes` into the ring at `offset` past `rcv_nxt`; the caller
    /// keeps `offset + bytes.len() <= window()`.
    fn copy_in(&mut self, offset: usize, bytes: &[u8]) {
        let cap = self.ring.len();
        // head < cap and readable + offset <= cap: one subtraction wraps it.
        let mut pos = self.head + self.readable + offset;
        if pos >= cap {
            pos -= cap;
        }
        let first = bytes.len().min(cap - pos);
        self.ring[pos..pos + first].copy_from_slice(&bytes[..first]);
        self.ring[..bytes.len() - first].copy_from_slice(&bytes[first..]);
    }

    /// The readable bytes as two slices of the ring, in order (the second is
    /// empty unless the data wraps). Follow with [`Self::consume`].
    pub fn peek(&self) -> (&[u8], &[u8]) {
        let cap = self.ring.len();
        let first = self.readable.min(cap - self.head);
        (
            &self.ring[self.head..self.head + first],
            &self.ring[..self.readable - first],
        )
    }

    /// Drops up to `n` readable bytes from the front (the application has
    /// them); returns how many were dropped. Opens the window by as much.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(self.readable);
        self.readable -= n;
        self.head = if self.readable == 0 && self.assembler.is_empty() {
            // Nothing is stored: restart at 0 so the next read is one slice.
            0
        } else {
            (self.head + n) % self.ring.len()
        };
        n
    }

    /// Copies readable bytes into `out` and consumes them; returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let (a, b) = self.peek();
        let from_a = a.len().min(out.len());
        out[..from_a].copy_from_slice(&a[..from_a]);
        let from_b = b.len().min(out.len() - from_a);
        out[from_a..from_a + from_b].copy_from_slice(&b[..from_b]);
        self.consume(from_a + from_b)
    }

    /// Discards everything, readable and out of order.
    pub fn clear(&mut self) {
        self.head = 0;
        self.readable = 0;
        self.assembler.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn drain(buf: &mut RecvBuf) -> Vec<u8> {
        let mut out = vec![0; buf.readable()];
        let n = buf.read(&mut out);
        out.truncate(n);
        out
    }

    fn ranges(buf: &RecvBuf) -> Vec<Range<usize>> {
        buf.assembler().ranges().collect()
    }

    #[test]
    fn in_order_segment_advances_rcv_nxt_and_is_readable() {
        let mut b = RecvBuf::new(16, 4);
        let o = b.write_at(0, b"hello");
        assert_eq!(
            o,
            WriteOutcome {
                accepted: 5,
                advanced: 5,
                ..Default::default()
            }
        );
        assert_eq!(b.readable(), 5);
        assert_eq!(b.window(), 11);
        assert_eq!(b.peek(), (&b"hello"[..], &b""[..]));
        assert_eq!(drain(&mut b), b"hello");
        assert_eq!(b.window(), 16);
    }

    #[test]
    fn out_of_order_segment_is_held_until_the_hole_fills() {
        let mut b = RecvBuf::new(16, 4);
        let o = b.write_at(3, b"def");
        assert_eq!((o.accepted, o.advanced), (3, 0));
        assert_eq!(b.readable(), 0);
        assert_eq!(ranges(&b), vec![3..6]);
        // Out-of-order data does not shrink the advertised window.
        assert_eq!(b.window(), 16);
        let o = b.write_at(0, b"abc");
        assert_eq!((o.accepted, o.advanced), (3, 6));
        assert!(b.assembler().is_empty());
        assert_eq!(drain(&mut b), b"abcdef");
    }

    #[test]
    fn data_beyond_the_window_is_trimmed() {
        let mut b = RecvBuf::new(8, 4);
        let o = b.write_at(5, b"abcdef");
        assert_eq!((o.accepted, o.trimmed), (3, 3));
        let o = b.write_at(8, b"zz");
        assert_eq!((o.accepted, o.trimmed), (0, 2));
        let o = b.write_at(usize::MAX, b"zz");
        assert_eq!((o.accepted, o.trimmed), (0, 2));
        assert_eq!(ranges(&b), vec![5..8]);
    }

    #[test]
    fn overlapping_data_keeps_the_first_copy() {
        let mut b = RecvBuf::new(16, 4);
        b.write_at(2, b"CD");
        let o = b.write_at(1, b"xyzw");
        assert_eq!((o.accepted, o.duplicate), (2, 2));
        assert_eq!(ranges(&b), vec![1..5]);
        b.write_at(0, b"a");
        assert_eq!(drain(&mut b), b"axCDw");
    }

    #[test]
    fn exact_duplicate_is_counted_and_changes_nothing() {
        let mut b = RecvBuf::new(16, 4);
        b.write_at(4, b"ef");
        let o = b.write_at(4, b"ef");
        assert_eq!(
            o,
            WriteOutcome {
                duplicate: 2,
                ..Default::default()
            }
        );
        assert_eq!(ranges(&b), vec![4..6]);
    }

    #[test]
    fn segment_bridging_two_ranges_merges_them() {
        let mut b = RecvBuf::new(32, 4);
        b.write_at(2, b"cd");
        b.write_at(8, b"ij");
        let o = b.write_at(3, b"DEFGHI");
        assert_eq!((o.accepted, o.duplicate), (4, 2));
        assert_eq!(ranges(&b), vec![2..10]);
        b.write_at(0, b"ab");
        // The gap 4..8 came from the bridging segment; 3 and 8 kept the first copy.
        assert_eq!(drain(&mut b), b"abcdEFGHij");
    }

    #[test]
    fn adjacent_segments_merge_into_one_range() {
        let mut b = RecvBuf::new(32, 4);
        b.write_at(2, b"cd");
        b.write_at(4, b"ef");
        b.write_at(6, b"gh");
        assert_eq!(ranges(&b), vec![2..8]);
    }

    #[test]
    fn full_range_table_drops_a_segment_needing_a_new_range() {
        let mut b = RecvBuf::new(64, 2);
        b.write_at(10, b"k");
        b.write_at(20, b"u");
        let o = b.write_at(30, b"EE");
        assert_eq!((o.accepted, o.dropped), (0, 2));
        assert_eq!(ranges(&b), vec![10..11, 20..21]);
    }

    #[test]
    fn full_range_table_still_accepts_extensions_and_in_order_data() {
        let mut b = RecvBuf::new(64, 2);
        b.write_at(10, b"k");
        b.write_at(20, b"u");
        let o = b.write_at(11, b"lm");
        assert_eq!((o.accepted, o.dropped), (2, 0));
        let o = b.write_at(19, b"t");
        assert_eq!((o.accepted, o.dropped), (1, 0));
        let o = b.write_at(0, b"ab");
        assert_eq!((o.accepted, o.advanced, o.dropped), (2, 2, 0));
        assert_eq!(ranges(&b), vec![8..11, 17..19]);
    }

    #[test]
    fn ranges_by_recency_lists_most_recently_touched_first() {
        let mut b = RecvBuf::new(64, 8);
        b.write_at(10, b"a");
        b.write_at(20, b"b");
        b.write_at(30, b"c");
        b.write_at(11, b"a"); // touches the first range again
        let mut out = [0..0, 0..0, 0..0, 0..0];
        let n = b.assembler().ranges_by_recency(&mut out);
        assert_eq!(&out[..n], &[10..12, 30..31, 20..21]);
        let mut two = [0..0, 0..0];
        assert_eq!(b.assembler().ranges_by_recency(&mut two), 2);
        assert_eq!(two, [10..12, 30..31]);
    }

    #[test]
    fn readable_data_wraps_around_the_ring_as_two_slices() {
        let mut b = RecvBuf::new(8, 4);
        b.write_at(0, b"012345");
        assert_eq!(b.consume(5), 5);
        b.write_at(1, b"789ab");
        b.write_at(0, b"6");
        let (x, y) = b.peek();
        assert_eq!((x, y), (&b"567"[..], &b"89ab"[..]));
        let mut small = [0u8; 4];
        assert_eq!(b.read(&mut small), 4);
        assert_eq!(&small, b"5678");
        assert_eq!(drain(&mut b), b"9ab");
    }

    #[test]
    fn consume_is_bounded_by_readable() {
        let mut b = RecvBuf::new(8, 4);
        b.write_at(0, b"abc");
        assert_eq!(b.consume(10), 3);
        assert_eq!(b.readable(), 0);
    }

    #[test]
    fn zero_capacity_buffer_trims_everything_without_panic() {
        let mut b = RecvBuf::new(0, 0);
        let o = b.write_at(0, b"abc");
        assert_eq!(o.trimmed, 3);
        assert_eq!(b.peek(), (&b""[..], &b""[..]));
        assert_eq!(b.consume(1), 0);
        assert_eq!(b.read(&mut [0; 4]), 0);
    }

    /// A segment of the test stream: absolute start, length.
    fn segments(stream_len: usize, count: usize) -> impl Strategy<Value = Vec<(usize, usize)>> {
        prop::collection::vec((0..stream_len, 0usize..64), 0..count)
    }

    proptest! {
        /// Op-model test: random segments (overlaps, duplicates, anything in
        /// or out of the window) and random reads, against a model that marks
        /// which stream bytes are held; invariants checked after every step.
        #[test]
        fn random_segments_match_the_model(
            cap in 1usize..200,
            max_ranges in 0usize..6,
            ops in prop::collection::vec((0usize..600, 0usize..80, 0usize..50), 0..120),
        ) {
            let data = stream(700);
            let mut b = RecvBuf::new(cap, max_ranges);
            let mut held = vec![false; 700];
            let mut read_pos = 0usize; // stream position of the next byte to read
            let mut rcv_nxt = 0usize;  // stream position of rcv_nxt
            let mut got = Vec::new();
            for (start, len, read_len) in ops {
                // The connection trims data before rcv_nxt.
                let s = start.max(rcv_nxt);
                let end = (start + len).min(700).max(s);
                let seg = &data[s..end];
                let o = b.write_at(s - rcv_nxt, seg);
                prop_assert_eq!(o.accepted + o.duplicate + o.trimmed + o.dropped, seg.len());
                let win_end = read_pos + cap;
                let in_win = s.max(rcv_nxt)..end.min(win_end).max(s);
                prop_assert_eq!(o.trimmed, seg.len() - in_win.len());
                let dup = held[in_win.clone()].iter().filter(|h| **h).count();
                if o.dropped == 0 {
                    prop_assert_eq!(o.duplicate, dup);
                    for h in &mut held[in_win] { *h = true; }
                } else {
                    prop_assert_eq!(o.dropped, in_win.len());
                    prop_assert_eq!(b.assembler().len(), max_ranges);
                }
                let before = rcv_nxt;
                while rcv_nxt < 700 && held[rcv_nxt] { rcv_nxt += 1; }
                prop_assert_eq!(o.advanced, rcv_nxt - before);
                prop_assert_eq!(b.readable(), rcv_nxt - read_pos);
                prop_assert_eq!(b.window(), cap - b.readable());
                // The assembler holds exactly the model's bytes past rcv_nxt.
                prop_assert!(b.assembler().len() <= max_ranges);
                let mut prev_end = 0;
                let mut model_held = vec![false; 700 - rcv_nxt];
                for r in b.assembler().ranges() {
                    prop_assert!(r.start > prev_end, "sorted, disjoint, non-adjacent, not at 0");
                    prop_assert!(r.end <= b.window());
                    prev_end = r.end;
                    for m in &mut model_held[r] { *m = true; }
                }
                prop_assert_eq!(&model_held[..], &held[rcv_nxt..]);
                // Read some; whatever comes out is the stream, in order.
                let mut out = vec![0; read_len];
                let n = b.read(&mut out);
                prop_assert_eq!(n, read_len.min(rcv_nxt - read_pos));
                got.extend_from_slice(&out[..n]);
                read_pos += n;
            }
            got.extend(drain(&mut b));
            prop_assert_eq!(&got[..], &data[..got.len()]);
        }

        /// Every segment of a stream delivered once, in any order (plus
        /// duplicates), with enough range slots: the readable bytes are the
        /// stream.
        #[test]
        fn any_delivery_order_reassembles_the_stream(
            cuts in prop::collection::btree_set(1usize..400, 0..30),
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..80),
            dups in segments(400, 20),
        ) {
            let data = stream(400);
            let mut bounds: Vec<usize> = vec![0];
            bounds.extend(cuts);
            bounds.push(400);
            let mut segs: Vec<(usize, usize)> =
                bounds.windows(2).map(|w| (w[0], w[1] - w[0])).collect();
            segs.extend(dups.into_iter().map(|(s, l)| (s, l.min(400 - s))));
            // Shuffle by the random indices.
            for (i, idx) in order.iter().enumerate() {
                let n = segs.len();
                segs.swap(i % n, idx.index(n));
            }
            let mut b = RecvBuf::new(400, 64);
            let mut rcv_nxt = 0;
            for (start, len) in segs {
                let s = start.max(rcv_nxt);
                let o = b.write_at(s - rcv_nxt, &data[s..(start + len).max(s)]);
                prop_assert_eq!(o.dropped + o.trimmed, 0);
                rcv_nxt += o.advanced;
            }
            prop_assert_eq!(rcv_nxt, 400);
            prop_assert!(b.assembler().is_empty());
            prop_assert_eq!(drain(&mut b), data);
        }
    }
}
