//! One direction of a simulated link: frames in, frames out, in virtual time.
//!
//! A [`Link`] decides each frame's whole fate when it is sent (dropped, or
//! delivered at some instant, perhaps corrupted, perhaps twice) and keeps the
//! survivors in a delivery queue ordered by (delivery time, send order). It
//! never reads a clock: time comes in as an argument and frames come out when
//! polled. See the [module docs](super) for the model.

use core::cmp::{Ordering, Reverse};
use core::fmt;
use std::collections::{BinaryHeap, VecDeque};

use super::profile::{LinkProfile, MAX_CORRUPT_BITS};
use super::rng::Rng;
use crate::time::{Duration, Instant};

/// Most spare buffers a link keeps for reuse (dropped frames, recycled
/// receive buffers), so that duplication does not allocate in steady state.
pub const POOL_CAPACITY: usize = 64;

/// Counters of everything a link did. All counts are frames unless the name
/// says bytes.
///
/// Conservation: `sent + duplicated == delivered + dropped() + in_flight`,
/// where `in_flight` is [`Link::in_flight`]; once the link is drained,
/// `sent + duplicated == delivered + dropped()`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames handed to [`Link::send`].
    pub sent: u64,
    /// Bytes handed to [`Link::send`].
    pub sent_bytes: u64,
    /// Frames returned by [`Link::poll_recv`] (duplicates included).
    pub delivered: u64,
    /// Bytes returned by [`Link::poll_recv`].
    pub delivered_bytes: u64,
    /// Frames lost to independent or burst loss.
    pub dropped_loss: u64,
    /// Frames refused by the full drop-tail queue of the bottleneck.
    pub dropped_queue: u64,
    /// Frames longer than the MTU.
    pub dropped_mtu: u64,
    /// Extra copies created (each is one more frame to deliver).
    pub duplicated: u64,
    /// Frames (copies included) that had bits flipped.
    pub corrupted: u64,
    /// Frames held back by the reorder delay. They arrive out of order only
    /// if a later frame is delivered before them.
    pub reordered: u64,
    /// Highest bottleneck queue occupancy seen, in bytes.
    pub max_queue_bytes: usize,
}

impl LinkStats {
    /// All frames dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_queue + self.dropped_mtu
    }
}

/// The bottleneck queue's occupancy right after it changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QueueSample {
    pub at: Instant,
    pub queued_bytes: usize,
}

/// A delivered frame with the instant it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub at: Instant,
    pub frame: Vec<u8>,
}

/// A frame whose fate is decided: delivered at `at`. `seq` is the order in
/// which frames were scheduled, which breaks ties so that equal delivery times
/// keep send order.
#[derive(Clone)]
struct Pending {
    at: Instant,
    seq: u64,
    frame: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Only (time, seq): `seq` is unique, so two pending frames are never equal.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A frame admitted to the bottleneck, occupying the queue until `tx_done`,
/// the instant its last bit is serialized.
#[derive(Copy, Clone, Debug)]
struct Queued {
    tx_done: Instant,
    len: usize,
}

/// One random stream per impairment: how many numbers one impairment draws
/// never shifts the decisions of another, so turning on duplication keeps the
/// same frames lost, and a sweep can vary one knob at a time.
#[derive(Clone, Debug)]
struct Streams {
    loss: Rng,
    burst: Rng,
    corrupt: Rng,
    duplicate: Rng,
    reorder: Rng,
    jitter: Rng,
}

impl Streams {
    fn new(seed: u64) -> Streams {
        let mut root = Rng::new(seed);
        Streams {
            loss: root.fork(),
            burst: root.fork(),
            corrupt: root.fork(),
            duplicate: root.fork(),
            reorder: root.fork(),
            jitter: root.fork(),
        }
    }
}

/// Bounded record of bottleneck occupancy for plots.
#[derive(Clone, Debug)]
struct QueueTrace {
    samples: Vec<QueueSample>,
    capacity: usize,
    dropped: u64,
}

/// One direction of a simulated link. Build two for a path.
#[derive(Clone)]
pub struct Link {
    profile: LinkProfile,
    streams: Streams,
    /// Latest time seen; time never runs backwards inside a link.
    now: Instant,
    /// Gilbert-Elliott chain state: true while in the bad state.
    burst_bad: bool,
    /// Frames admitted to the bottleneck and not yet fully serialized, FIFO.
    queue: VecDeque<Queued>,
    /// Sum of `queue`'s lengths.
    queued_bytes: usize,
    /// When the bottleneck finishes serializing everything admitted so far.
    link_free_at: Instant,
    /// Serialization time not yet charged, in units of 1/rate ns (always below
    /// the rate), so back-to-back frames keep the exact long-run rate even when
    /// one frame's time is not a whole number of nanoseconds.
    serialization_carry: u64,
    /// Latest delivery time of a frame that was not held back: no later frame
    /// that is not held back is delivered before it (jitter keeps order).
    in_order_floor: Instant,
    pending: BinaryHeap<Reverse<Pending>>,
    next_seq: u64,
    pool: Vec<Vec<u8>>,
    stats: LinkStats,
    trace: Option<QueueTrace>,
}

impl Link {
    /// A link with `profile` whose every random decision follows from `seed`.
    pub fn new(profile: LinkProfile, seed: u64) -> Link {
        Link {
            profile,
            streams: Streams::new(seed),
            now: Instant::ZERO,
            burst_bad: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            link_free_at: Instant::ZERO,
            serialization_carry: 0,
            in_order_floor: Instant::ZERO,
            pending: BinaryHeap::new(),
            next_seq: 0,
            pool: Vec::new(),
            stats: LinkStats::default(),
            trace: None,
        }
    }

    pub fn profile(&self) -> &LinkProfile {
        &self.profile
    }

    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Frames scheduled for delivery and not yet returned by `poll_recv`.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Hands a frame to the link at `now`. Its fate is decided here, from the
    /// profile and the link's random streams; the frame comes out of
    /// [`poll_recv`](Link::poll_recv) later, or never.
    ///
    /// A `now` earlier than a time the link has already seen is taken as that
    /// later time: a link's time never runs backwards.
    pub fn send(&mut self, now: Instant, mut frame: Vec<u8>) {
        let now = self.advance(now);
        let len = frame.len();
        self.stats.sent += 1;
        self.stats.sent_bytes += len as u64;

        if len > self.profile.mtu_bytes() {
            self.stats.dropped_mtu += 1;
            self.recycle(frame);
            return;
        }
        let departed = match self.profile.rate_bps() {
            None => now,
            Some(rate_bps) => match self.enqueue(now, len, rate_bps) {
                Some(tx_done) => tx_done,
                None => {
                    self.stats.dropped_queue += 1;
                    self.recycle(frame);
                    return;
                }
            },
        };
        if self.lose() {
            self.stats.dropped_loss += 1;
            self.recycle(frame);
            return;
        }
        if self.streams.corrupt.chance(self.profile.corrupt()) && self.flip_bits(&mut frame) {
            self.stats.corrupted += 1;
        }
        let copy = if self.streams.duplicate.chance(self.profile.duplicate()) {
            self.stats.duplicated += 1;
            Some(self.copy_of(&frame))
        } else {
            None
        };
        self.schedule(departed, frame);
        if let Some(copy) = copy {
            self.schedule(departed, copy);
        }
    }

    /// The next frame due by `now`: frames come out in delivery-time order,
    /// equal times in the order they were sent (a duplicate right after its
    /// original). `None` if nothing is due yet.
    pub fn poll_recv(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.poll_delivery(now).map(|d| d.frame)
    }

    /// Like [`poll_recv`](Link::poll_recv), with the instant the frame
    /// arrived (which may be earlier than `now` if the caller polled late).
    pub fn poll_delivery(&mut self, now: Instant) -> Option<Delivery> {
        self.advance(now);
        if self.pending.peek()?.0.at > now {
            return None;
        }
        let Reverse(p) = self.pending.pop()?;
        self.stats.delivered += 1;
        self.stats.delivered_bytes += p.frame.len() as u64;
        Some(Delivery {
            at: p.at,
            frame: p.frame,
        })
    }

    /// When the next frame is due: exactly the time at which `poll_recv`
    /// would next return a frame, or `None` if nothing is in flight. Nothing
    /// else changes on its own, so a driver sleeps until the earliest of this
    /// and its endpoints' own timers.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.pending.peek().map(|p| p.0.at)
    }

    /// Bytes at the bottleneck at `now` (or at the latest time the link has
    /// seen, if that is later): frames admitted whose last bit is not yet
    /// serialized, the one on the wire included. Always 0 without a rate.
    pub fn queued_bytes(&self, now: Instant) -> usize {
        let now = now.max(self.now);
        let done: usize = self
            .queue
            .iter()
            .take_while(|q| q.tx_done <= now)
            .map(|q| q.len)
            .sum();
        self.queued_bytes - done
    }

    /// Starts recording a [`QueueSample`] at every change of the bottleneck
    /// occupancy (each admission and each end of serialization), keeping at
    /// most `capacity` samples; later ones are counted in
    /// [`queue_trace_dropped`](Link::queue_trace_dropped). Restarting clears
    /// the record.
    pub fn record_queue_trace(&mut self, capacity: usize) {
        self.trace = Some(QueueTrace {
            samples: Vec::with_capacity(capacity.min(4096)),
            capacity,
            dropped: 0,
        });
    }

    /// Samples recorded so far, in time order.
    pub fn queue_trace(&self) -> &[QueueSample] {
        self.trace.as_ref().map_or(&[], |t| &t.samples)
    }

    /// Takes the samples recorded so far and keeps recording into an empty
    /// record: a driver that takes them periodically sees every sample.
    pub fn take_queue_trace(&mut self) -> Vec<QueueSample> {
        self.trace
            .as_mut()
            .map_or_else(Vec::new, |t| core::mem::take(&mut t.samples))
    }

    /// Samples not recorded because the record was full.
    pub fn queue_trace_dropped(&self) -> u64 {
        self.trace.as_ref().map_or(0, |t| t.dropped)
    }

    /// Gives a buffer back for reuse by duplication (bounded by
    /// [`POOL_CAPACITY`]; extra buffers are freed).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_CAPACITY {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// Moves the link's time to `now` (never backwards) and retires the
    /// frames whose serialization ended by then. Returns the link's time.
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        while let Some(&q) = self.queue.front() {
            if q.tx_done > self.now {
                break;
            }
            self.queue.pop_front();
            self.queued_bytes -= q.len;
            self.sample(q.tx_done);
        }
        self.now
    }

    /// Admits a frame to the drop-tail bottleneck queue, or refuses it if it
    /// does not fit. Returns when its last bit leaves the bottleneck.
    fn enqueue(&mut self, now: Instant, len: usize, rate_bps: u64) -> Option<Instant> {
        if self.queued_bytes + len > self.profile.queue_limit_bytes() {
            return None;
        }
        let start = if self.link_free_at < now {
            // The link went idle: no fraction of a nanosecond is owed.
            self.serialization_carry = 0;
            now
        } else {
            self.link_free_at
        };
        let tx_done = start + self.serialization_time(len, rate_bps);
        self.link_free_at = tx_done;
        self.queue.push_back(Queued { tx_done, len });
        self.queued_bytes += len;
        self.stats.max_queue_bytes = self.stats.max_queue_bytes.max(self.queued_bytes);
        self.sample(now);
        Some(tx_done)
    }

    /// Time to serialize `len` bytes at `rate_bps`: `len * 8 / rate_bps`
    /// seconds, rounded down to the nanosecond with the remainder carried to
    /// the next frame.
    fn serialization_time(&mut self, len: usize, rate_bps: u64) -> Duration {
        let rate = u128::from(rate_bps.max(1));
        let scaled = len as u128 * 8 * 1_000_000_000 + u128::from(self.serialization_carry);
        // The remainder is below the rate, so it fits in u64.
        self.serialization_carry = (scaled % rate) as u64;
        Duration::from_nanos(u64::try_from(scaled / rate).unwrap_or(u64::MAX))
    }

    /// Whether the next frame is lost, to independent loss or to the
    /// Gilbert-Elliott chain (which steps once per frame either way).
    fn lose(&mut self) -> bool {
        let independent = self.streams.loss.chance(self.profile.loss());
        let Some(ge) = self.profile.burst_loss() else {
            return independent;
        };
        let (loss, leave) = if self.burst_bad {
            (ge.loss_in_bad, ge.bad_to_good)
        } else {
            (ge.loss_in_good, ge.good_to_bad)
        };
        let burst = self.streams.burst.chance(loss);
        if self.streams.burst.chance(leave) {
            self.burst_bad = !self.burst_bad;
        }
        independent || burst
    }

    /// Flips 1 to `corrupt_max_bits` distinct bits past the protected prefix.
    /// Returns false, touching nothing, if the frame has no byte past it.
    fn flip_bits(&mut self, frame: &mut [u8]) -> bool {
        if let Some(t) = self.profile.corrupt_ethertype()
            && frame.get(12..14) != Some(&t.to_be_bytes()[..])
        {
            return false;
        }
        let protected = self.profile.corrupt_protected_bytes().min(frame.len());
        let bits = (frame.len() - protected) as u64 * 8;
        if bits == 0 {
            return false;
        }
        let rng = &mut self.streams.corrupt;
        let max_bits = u64::from(self.profile.corrupt_max_bits().clamp(1, MAX_CORRUPT_BITS));
        let count = (1 + rng.below(max_bits)).min(bits);
        // Floyd's sampling: `count` distinct positions in 0..bits with exactly
        // `count` draws (a repeat of position t stands for j instead).
        let mut chosen = [0u64; MAX_CORRUPT_BITS as usize];
        let mut n = 0;
        for j in bits - count..bits {
            let t = rng.below(j + 1);
            chosen[n] = if chosen[..n].contains(&t) { j } else { t };
            n += 1;
        }
        for &bit in &chosen[..n] {
            frame[protected + (bit / 8) as usize] ^= 1 << (bit % 8);
        }
        true
    }

    /// A copy of `frame` in a pooled buffer when one is spare.
    fn copy_of(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut copy = self.pool.pop().unwrap_or_default();
        copy.clear();
        copy.extend_from_slice(frame);
        copy
    }

    /// Decides when a frame that left the bottleneck at `departed` arrives:
    /// after the propagation delay and jitter, and either held back by the
    /// reorder delay or kept behind every earlier frame that was not.
    fn schedule(&mut self, departed: Instant, frame: Vec<u8>) {
        let jitter = self.draw_jitter();
        let arrival = departed + self.profile.delay() + jitter;
        let at = if self.streams.reorder.chance(self.profile.reorder()) {
            self.stats.reordered += 1;
            arrival + self.profile.reorder_delay()
        } else {
            let at = arrival.max(self.in_order_floor);
            self.in_order_floor = at;
            at
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Reverse(Pending { at, seq, frame }));
    }

    /// Uniform in `0..=jitter`; no draw when jitter is zero.
    fn draw_jitter(&mut self) -> Duration {
        let jitter_ns = self.profile.jitter().as_nanos();
        if jitter_ns == 0 {
            return Duration::ZERO;
        }
        let ns = match jitter_ns.checked_add(1) {
            Some(span) => self.streams.jitter.below(span),
            None => self.streams.jitter.next_u64(),
        };
        Duration::from_nanos(ns)
    }

    fn sample(&mut self, at: Instant) {
        let queued_bytes = self.queued_bytes;
        if let Some(t) = &mut self.trace {
            if t.samples.len() < t.capacity {
                t.samples.push(QueueSample { at, queued_bytes });
            } else {
                t.dropped += 1;
            }
        }
    }
}

impl fmt::Debug for Link {
    /// A summary: the frames themselves would drown everything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("profile", &self.profile)
            .field("now", &self.now)
            .field("in_flight", &self.pending.len())
            .field("next_delivery", &self.next_delivery())
            .field("queued_bytes", &self.queued_bytes)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
