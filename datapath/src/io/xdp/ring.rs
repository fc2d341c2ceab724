//! Single-producer single-consumer rings in the AF_XDP layout.
//!
//! An AF_XDP ring is shared memory holding a producer index, a consumer index,
//! a flags word and a power-of-two array of entries. Indices are free-running
//! u32 counters; an entry's slot is `index & mask`. One side only ever writes the
//! producer index, the other only the consumer index (linux/if_xdp.h,
//! Documentation/networking/af_xdp.rst).
//!
//! Each side keeps cached copies of both indices and reads the other side's
//! index (an acquire load) only when its cache says the ring looks full or
//! empty, so a batch costs one shared-memory read and one release store.
//!
//! The ring code knows nothing about sockets: it is built over any memory that
//! has the layout, which is how the tests drive it without a kernel.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

/// `XDP_RING_NEED_WAKEUP` in a ring's flags word.
pub const NEED_WAKEUP: u32 = 1;

/// An RX or TX descriptor (`struct xdp_desc`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpDesc {
    /// Offset of the frame's data in the UMEM.
    pub addr: u64,
    /// Length of the frame's data.
    pub len: u32,
    /// `XDP_PKT_CONTD` for multi-buffer frames, otherwise 0.
    pub options: u32,
}

/// Where a ring lives: pointers into memory laid out as the kernel describes
/// with `XDP_MMAP_OFFSETS`.
#[derive(Debug, Clone, Copy)]
pub struct RingLayout {
    pub producer: NonNull<AtomicU32>,
    pub consumer: NonNull<AtomicU32>,
    pub flags: NonNull<AtomicU32>,
    pub entries: NonNull<u8>,
    /// Number of entries, a power of two.
    pub size: u32,
}

/// The state both sides share: pointers and the mask.
#[derive(Debug)]
struct Raw<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    size: u32,
    mask: u32,
}

impl<T: Copy> Raw<T> {
    /// # Safety
    /// See [`ProdRing::new`].
    unsafe fn new(l: RingLayout) -> Self {
        assert!(l.size.is_power_of_two(), "ring size must be a power of two");
        assert!(
            (l.entries.as_ptr() as usize).is_multiple_of(core::mem::align_of::<T>()),
            "ring entries misaligned"
        );
        Raw {
            producer: l.producer,
            consumer: l.consumer,
            flags: l.flags,
            entries: l.entries.cast(),
            size: l.size,
            mask: l.size - 1,
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // Safety: the constructor's contract keeps the index valid and aligned
        // for the ring's lifetime; it is only accessed atomically.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // Safety: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // Safety: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    fn slot(&self, idx: u32) -> *mut T {
        // Safety: `idx & mask < size`, and the entry array has `size` entries
        // (constructor's contract), so the offset stays inside it.
        unsafe { self.entries.as_ptr().add((idx & self.mask) as usize) }
    }
}

/// The producing side of a ring (fill and TX rings for us).
#[derive(Debug)]
pub struct ProdRing<T> {
    raw: Raw<T>,
    cached_prod: u32,
    /// Consumer index plus size: the producer may write up to here.
    cached_cons: u32,
    _not_sync: PhantomData<*mut T>,
}

// Safety: the ring is SPSC; a ProdRing is the only producer handle and may move
// to another thread with the memory it points at (which it does not own and
// which outlives it, per the constructor's contract).
unsafe impl<T: Send> Send for ProdRing<T> {}

impl<T: Copy> ProdRing<T> {
    /// # Safety
    /// `layout` must point at valid, suitably aligned ring memory that stays
    /// mapped for the life of the returned value, with `size` entries of `T`;
    /// no other producer may exist for the same ring; the other side may only
    /// write the consumer index (and flags).
    pub unsafe fn new(layout: RingLayout) -> Self {
        // Safety: forwarded contract.
        let raw = unsafe { Raw::new(layout) };
        let cached_prod = raw.producer().load(Ordering::Relaxed);
        let cached_cons = raw
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(raw.size);
        ProdRing {
            raw,
            cached_prod,
            cached_cons,
            _not_sync: PhantomData,
        }
    }

    /// Free slots, reading the consumer index only if the cache shows fewer
    /// than `wanted`.
    pub fn free(&mut self, wanted: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= wanted {
            return free;
        }
        self.cached_cons = self
            .raw
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.raw.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Reserves up to `n` slots; returns how many and the first index. The
    /// slots must be written with [`ProdRing::write`] and then published with
    /// [`ProdRing::submit`] of the same count.
    pub fn reserve(&mut self, n: u32) -> (u32, u32) {
        let got = self.free(n).min(n);
        let first = self.cached_prod;
        self.cached_prod = self.cached_prod.wrapping_add(got);
        (got, first)
    }

    /// Writes the entry at a reserved index.
    pub fn write(&mut self, idx: u32, value: T) {
        // Safety: the slot is inside the entry array (Raw::slot) and reserved
        // by us: the consumer does not read it until we publish it.
        unsafe { self.raw.slot(idx).write_volatile(value) }
    }

    /// Publishes `n` reserved entries to the consumer.
    pub fn submit(&mut self, n: u32) {
        if n == 0 {
            // Nothing to publish: leave the shared index (and its cache
            // line, which the kernel reads) alone.
            return;
        }
        let prod = self.raw.producer().load(Ordering::Relaxed);
        self.raw
            .producer()
            .store(prod.wrapping_add(n), Ordering::Release);
    }

    /// Gives back `n` of the most recently reserved, unsubmitted slots.
    pub fn cancel(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_sub(n);
    }

    /// Entries published and not yet consumed by the other side.
    pub fn outstanding(&self) -> u32 {
        let prod = self.raw.producer().load(Ordering::Relaxed);
        prod.wrapping_sub(self.raw.consumer().load(Ordering::Acquire))
    }

    /// Whether the kernel asks to be woken up to consume this ring.
    pub fn needs_wakeup(&self) -> bool {
        self.raw.flags().load(Ordering::Relaxed) & NEED_WAKEUP != 0
    }
}

/// The consuming side of a ring (RX and completion rings for us).
#[derive(Debug)]
pub struct ConsRing<T> {
    raw: Raw<T>,
    cached_prod: u32,
    cached_cons: u32,
    _not_sync: PhantomData<*mut T>,
}

// Safety: as for ProdRing: the only consumer handle, movable with its memory.
unsafe impl<T: Send> Send for ConsRing<T> {}

impl<T: Copy> ConsRing<T> {
    /// # Safety
    /// As for [`ProdRing::new`], with the roles swapped: no other consumer may
    /// exist, and the other side only writes the producer index and entries
    /// it has not published.
    pub unsafe fn new(layout: RingLayout) -> Self {
        // Safety: forwarded contract.
        let raw = unsafe { Raw::new(layout) };
        let cached_cons = raw.consumer().load(Ordering::Relaxed);
        let cached_prod = raw.producer().load(Ordering::Acquire);
        ConsRing {
            raw,
            cached_prod,
            cached_cons,
            _not_sync: PhantomData,
        }
    }

    /// Entries ready to read, reading the producer index only when the cache
    /// shows fewer than `wanted` (libbpf refreshes only at zero, which splits
    /// batches for no gain: the load is one cache line the producer writes
    /// anyway).
    pub fn available(&mut self, wanted: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n < wanted {
            self.cached_prod = self.raw.producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n
    }

    /// Takes up to `n` entries; returns how many and the first index. Read them
    /// with [`ConsRing::read`], then hand the slots back with
    /// [`ConsRing::release`] of the same count.
    pub fn peek(&mut self, n: u32) -> (u32, u32) {
        let got = self.available(n).min(n);
        let first = self.cached_cons;
        self.cached_cons = self.cached_cons.wrapping_add(got);
        (got, first)
    }

    /// Reads the entry at a peeked index.
    pub fn read(&self, idx: u32) -> T {
        // Safety: the slot is inside the entry array (Raw::slot) and was
        // published by the producer (acquire load in `available`) and not yet
        // released by us, so the producer does not write it now.
        unsafe { self.raw.slot(idx).read_volatile() }
    }

    /// Returns `n` read slots to the producer.
    pub fn release(&mut self, n: u32) {
        if n == 0 {
            return;
        }
        let cons = self.raw.consumer().load(Ordering::Relaxed);
        self.raw
            .consumer()
            .store(cons.wrapping_add(n), Ordering::Release);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// Ring memory on the heap with the AF_XDP layout: three index words, then
    /// the entries.
    pub(crate) struct TestRing {
        words: Box<[u64]>,
        size: u32,
    }

    // Safety: only accessed through the rings' atomics and published slots.
    unsafe impl Send for TestRing {}
    // Safety: as above.
    unsafe impl Sync for TestRing {}

    impl TestRing {
        pub(crate) fn new<T>(size: u32) -> Arc<TestRing> {
            let entry_words = (size as usize * core::mem::size_of::<T>()).div_ceil(8);
            Arc::new(TestRing {
                words: vec![0u64; 2 + entry_words].into_boxed_slice(),
                size,
            })
        }

        pub(crate) fn layout(&self) -> RingLayout {
            let base = self.words.as_ptr() as *mut u8;
            let at = |off: usize| NonNull::new(base.wrapping_add(off)).unwrap();
            RingLayout {
                producer: at(0).cast(),
                consumer: at(4).cast(),
                flags: at(8).cast(),
                entries: at(16),
                size: self.size,
            }
        }

        pub(crate) fn pair<T: Copy>(self: &Arc<Self>) -> (ProdRing<T>, ConsRing<T>) {
            // Safety: the memory is kept alive by the Arc the test holds for
            // longer than the rings, is 8-aligned, and has `size` entries.
            unsafe { (ProdRing::new(self.layout()), ConsRing::new(self.layout())) }
        }

        pub(crate) fn set_flags(&self, f: u32) {
            // Safety: the flags word is a valid, aligned u32 in our memory.
            unsafe { self.layout().flags.as_ref().store(f, Ordering::Relaxed) }
        }
    }

    #[test]
    fn empty_ring_has_size_free_slots_and_nothing_to_read() {
        let mem = TestRing::new::<u64>(8);
        let (mut p, mut c) = mem.pair::<u64>();
        assert_eq!(p.free(1), 8);
        assert_eq!(c.available(1), 0);
        assert_eq!(c.peek(4), (0, 0));
    }

    #[test]
    fn entries_arrive_in_order_and_slots_come_back_after_release() {
        let mem = TestRing::new::<u64>(4);
        let (mut p, mut c) = mem.pair::<u64>();
        let (n, first) = p.reserve(3);
        assert_eq!(n, 3);
        for i in 0..n {
            p.write(first.wrapping_add(i), 100 + i as u64);
        }
        // Not visible before submit.
        assert_eq!(c.available(1), 0);
        p.submit(3);
        let (n, first) = c.peek(8);
        assert_eq!(n, 3);
        let got: Vec<u64> = (0..n).map(|i| c.read(first.wrapping_add(i))).collect();
        assert_eq!(got, [100, 101, 102]);
        // One slot free until the consumer releases.
        assert_eq!(p.reserve(4).0, 1);
        p.cancel(1);
        c.release(3);
        assert_eq!(p.free(4), 4);
    }

    #[test]
    fn full_ring_refuses_reservation_until_consumer_releases() {
        let mem = TestRing::new::<XdpDesc>(2);
        let (mut p, mut c) = mem.pair::<XdpDesc>();
        let (n, f) = p.reserve(5);
        assert_eq!(n, 2);
        p.write(
            f,
            XdpDesc {
                addr: 1,
                len: 2,
                options: 0,
            },
        );
        p.write(
            f + 1,
            XdpDesc {
                addr: 3,
                len: 4,
                options: 0,
            },
        );
        p.submit(2);
        assert_eq!(p.reserve(1).0, 0);
        let (n, f) = c.peek(1);
        assert_eq!((n, c.read(f).addr), (1, 1));
        c.release(1);
        assert_eq!(p.reserve(1).0, 1);
    }

    #[test]
    fn indices_wrap_around_u32() {
        let mem = TestRing::new::<u64>(4);
        // Start both indices just below the wrap.
        // Safety: test memory, aligned words.
        unsafe {
            let l = mem.layout();
            l.producer.as_ref().store(u32::MAX - 1, Ordering::Relaxed);
            l.consumer.as_ref().store(u32::MAX - 1, Ordering::Relaxed);
        }
        let (mut p, mut c) = mem.pair::<u64>();
        for round in 0..10u64 {
            let (n, f) = p.reserve(3);
            assert_eq!(n, 3);
            for i in 0..3 {
                p.write(f.wrapping_add(i), round * 10 + i as u64);
            }
            p.submit(3);
            let (n, f) = c.peek(3);
            assert_eq!(n, 3);
            for i in 0..3 {
                assert_eq!(c.read(f.wrapping_add(i)), round * 10 + i as u64);
            }
            c.release(3);
        }
    }

    #[test]
    fn need_wakeup_flag_is_read_from_the_flags_word() {
        let mem = TestRing::new::<u64>(4);
        let (p, _c) = mem.pair::<u64>();
        assert!(!p.needs_wakeup());
        mem.set_flags(NEED_WAKEUP);
        assert!(p.needs_wakeup());
    }

    #[test]
    fn producer_and_consumer_threads_exchange_every_entry_once_in_order() {
        const N: u64 = 200_000;
        let mem = TestRing::new::<u64>(64);
        let (mut p, mut c) = mem.pair::<u64>();
        let producer = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < N {
                let (n, f) = p.reserve(16.min((N - next) as u32));
                for i in 0..n {
                    p.write(f.wrapping_add(i), next + i as u64);
                }
                p.submit(n);
                next += n as u64;
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut expect = 0u64;
        while expect < N {
            let (n, f) = c.peek(32);
            for i in 0..n {
                assert_eq!(c.read(f.wrapping_add(i)), expect);
                expect += 1;
            }
            c.release(n);
            if n == 0 {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
        drop(mem);
    }

    proptest::proptest! {
        /// Random interleavings of reserve/submit/peek/release keep the model's
        /// FIFO contents and the free-slot count exact.
        #[test]
        fn random_operation_sequences_match_a_fifo_model(
            ops in proptest::collection::vec((0u8..4, 0u32..10), 1..300),
            log2 in 0u32..5,
        ) {
            let size = 1u32 << log2;
            let mem = TestRing::new::<u64>(size);
            let (mut p, mut c) = mem.pair::<u64>();
            let mut model = std::collections::VecDeque::new();
            let mut in_consumer = 0u32; // peeked, not yet released
            let mut next = 0u64;
            for (op, k) in ops {
                match op {
                    0 | 1 => {
                        let (n, f) = p.reserve(k);
                        let used = model.len() as u32 + in_consumer;
                        proptest::prop_assert_eq!(n, k.min(size - used));
                        for i in 0..n {
                            p.write(f.wrapping_add(i), next);
                            model.push_back(next);
                            next += 1;
                        }
                        p.submit(n);
                    }
                    2 => {
                        let (n, f) = c.peek(k);
                        proptest::prop_assert_eq!(n, k.min(model.len() as u32));
                        for i in 0..n {
                            proptest::prop_assert_eq!(Some(c.read(f.wrapping_add(i))), model.pop_front());
                        }
                        c.release(n);
                    }
                    _ => {
                        let (n, f) = c.peek(k);
                        for i in 0..n {
                            proptest::prop_assert_eq!(Some(c.read(f.wrapping_add(i))), model.pop_front());
                        }
                        in_consumer += n;
                        if k % 2 == 0 {
                            c.release(in_consumer);
                            in_consumer = 0;
                        }
                    }
                }
                let used = model.len() as u32 + in_consumer;
                proptest::prop_assert_eq!(p.free(size), size - used);
            }
        }
    }
}
