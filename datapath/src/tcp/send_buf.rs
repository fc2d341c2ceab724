//! The send side of a connection: a fixed-capacity byte ring holding every
//! byte from `snd_una` onwards.
//!
//! Owns the bytes the application has written and the peer has not yet
//! acknowledged: both the in-flight part (`snd_una..snd_nxt`, kept for
//! retransmission) and the not-yet-sent part. Addressed by *offset from
//! `snd_una`*; the connection maps sequence numbers (and SYN/FIN, which take
//! sequence space but no buffer space) to offsets.
//!
//! Must never: allocate after creation, take more bytes than it has room for
//! (a short [`SendBuf::write`] is the application's backpressure), copy bytes
//! to build a segment (it hands out slices of the ring), or panic on an
//! offset or length past its contents (those are clamped).

/// Bytes from `snd_una` onwards, in one ring allocated at creation.
#[derive(Debug, Clone)]
pub struct SendBuf {
    ring: Box<[u8]>,
    /// Ring index of the byte at `snd_una`.
    head: usize,
    /// Bytes held (unacknowledged, sent or not).
    len: usize,
}

impl SendBuf {
    /// A buffer of `capacity` bytes. The only allocation this type ever makes.
    pub fn new(capacity: usize) -> Self {
        SendBuf {
            ring: vec![0; capacity].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Total capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Gives the ring's memory back once nothing is held and nothing will be
    /// written again (a connection in TIME-WAIT); capacity is zero after.
    pub fn release(&mut self) {
        if self.len == 0 {
            self.ring = Box::default();
            self.head = 0;
        }
    }

    /// Bytes held: written by the application and not yet acknowledged.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room for more application bytes.
    pub fn free(&self) -> usize {
        self.ring.len() - self.len
    }

    /// Appends as much of `data` as fits and returns how much that was; a
    /// short count (possibly zero) is backpressure.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let cap = self.ring.len();
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        self.ring[tail..tail + first].copy_from_slice(&data[..first]);
        self.ring[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }

    /// Up to `max_len` held bytes starting `offset` bytes past `snd_una`, as
    /// two slices of the ring in order (the second is empty unless the range
    /// wraps). Both are empty if `offset >= len()`. Used to build new
    /// segments and retransmissions without copying.
    pub fn slice_at(&self, offset: usize, max_len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len {
            return (&[], &[]);
        }
        let cap = self.ring.len();
        let n = max_len.min(self.len - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        (&self.ring[start..start + first], &self.ring[..n - first])
    }

    /// Drops `n` acknowledged bytes from the front (`snd_una` advanced by
    /// `n`), clamped to what is held; returns how many were dropped. An ACK
    /// that also covers a SYN or FIN must have those subtracted by the caller.
    pub fn ack(&mut self, n: usize) -> usize {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            // Empty: restart at 0 so the next segments are one slice.
            0
        } else {
            (self.head + n) % self.ring.len()
        };
        n
    }

    /// Discards everything (for example on reset).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn joined(parts: (&[u8], &[u8])) -> Vec<u8> {
        let mut v = parts.0.to_vec();
        v.extend_from_slice(parts.1);
        v
    }

    #[test]
    fn write_is_bounded_by_free_space() {
        let mut b = SendBuf::new(8);
        assert_eq!(b.write(b"hello"), 5);
        assert_eq!(b.write(b"world"), 3);
        assert_eq!(b.write(b"!"), 0);
        assert_eq!((b.len(), b.free()), (8, 0));
        assert_eq!(joined(b.slice_at(0, 100)), b"hellowor");
    }

    #[test]
    fn ack_drops_acknowledged_bytes_from_the_front() {
        let mut b = SendBuf::new(8);
        b.write(b"abcdef");
        assert_eq!(b.ack(2), 2);
        assert_eq!(b.len(), 4);
        assert_eq!(b.free(), 4);
        assert_eq!(joined(b.slice_at(0, 10)), b"cdef");
    }

    #[test]
    fn ack_beyond_held_bytes_is_clamped() {
        let mut b = SendBuf::new(8);
        b.write(b"abc");
        assert_eq!(b.ack(10), 3);
        assert!(b.is_empty());
    }

    #[test]
    fn slice_at_offset_returns_retransmission_bytes() {
        let mut b = SendBuf::new(16);
        b.write(b"0123456789");
        assert_eq!(joined(b.slice_at(3, 4)), b"3456");
        assert_eq!(joined(b.slice_at(8, 4)), b"89");
        assert_eq!(b.slice_at(10, 4), (&b""[..], &b""[..]));
        assert_eq!(b.slice_at(usize::MAX, usize::MAX), (&b""[..], &b""[..]));
    }

    #[test]
    fn data_wrapping_the_ring_comes_back_as_two_slices() {
        let mut b = SendBuf::new(8);
        b.write(b"012345");
        b.ack(5);
        assert_eq!(b.write(b"6789ab"), 6);
        assert_eq!(b.slice_at(0, 8), (&b"567"[..], &b"89ab"[..]));
        assert_eq!(b.slice_at(2, 3), (&b"7"[..], &b"89"[..]));
        assert_eq!(b.slice_at(4, 2), (&b"9a"[..], &b""[..]));
    }

    #[test]
    fn emptied_buffer_restarts_at_the_ring_start() {
        let mut b = SendBuf::new(8);
        b.write(b"abcde");
        b.ack(5);
        b.write(b"fghijk");
        assert_eq!(b.slice_at(0, 8), (&b"fghijk"[..], &b""[..]));
    }

    #[test]
    fn zero_capacity_buffer_refuses_writes_without_panic() {
        let mut b = SendBuf::new(0);
        assert_eq!(b.write(b"abc"), 0);
        assert_eq!(b.slice_at(0, 3), (&b""[..], &b""[..]));
        assert_eq!(b.ack(1), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(Vec<u8>),
        Ack(usize),
        Slice(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Write),
            (0usize..50).prop_map(Op::Ack),
            (0usize..60, 0usize..60).prop_map(|(o, l)| Op::Slice(o, l)),
        ]
    }

    proptest! {
        /// Op-model test against a `VecDeque`, invariants after every step.
        #[test]
        fn matches_a_vecdeque_model(cap in 0usize..64, ops in prop::collection::vec(op(), 0..200)) {
            let mut b = SendBuf::new(cap);
            let mut model: VecDeque<u8> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Write(data) => {
                        let n = b.write(&data);
                        prop_assert_eq!(n, data.len().min(cap - model.len()));
                        model.extend(&data[..n]);
                    }
                    Op::Ack(k) => {
                        let n = b.ack(k);
                        prop_assert_eq!(n, k.min(model.len()));
                        model.drain(..n);
                    }
                    Op::Slice(off, max) => {
                        let got = joined(b.slice_at(off, max));
                        let want: Vec<u8> = model.iter().skip(off).take(max).copied().collect();
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(b.len(), model.len());
                prop_assert_eq!(b.free(), cap - model.len());
                prop_assert_eq!(joined(b.slice_at(0, usize::MAX)), model.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
