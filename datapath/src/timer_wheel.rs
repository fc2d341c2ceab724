//! The shard's timers: a hierarchical hashed timing wheel (Varghese and
//! Lauck, "Hashed and Hierarchical Timing Wheels", SOSP 1987, scheme 7), one
//! entry per connection, holding the earliest of its deadlines (RTO, RACK,
//! TLP, delayed ACK, the pacer's next departure, keepalive, TIME-WAIT).
//!
//! Six levels of 64 buckets over 1 us ticks cover 2^36 us (19 hours); a
//! deadline beyond the current top-level span waits in an overflow list that
//! is placed again when the wheel enters the next span. An entry lives at
//! the level of the highest bit in which its tick differs from the wheel's
//! current tick, so a bucket of level L holds only ticks of one 64^L span
//! and is moved down ("cascaded") when the wheel reaches the start of that
//! span: each entry is moved at most once per level. Schedule, cancel and
//! reschedule are O(1) (entries are doubly linked by key); finding the next
//! wake-up is O(levels) with one occupancy bitmap per level; advancing skips
//! empty spans in one step instead of ticking through them.
//!
//! Expiry is exact: an entry keeps its deadline in nanoseconds and is
//! returned only once `now` reaches it, never early and never a tick late.
//! The next wake-up is exact when the earliest entry sits in the lowest
//! level, and otherwise the start of its bucket (a lower bound: the shard
//! wakes once per level on the way down, for timers milliseconds away).

use crate::time::Instant;

const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 6;
/// Ticks covered by the whole wheel: entries whose tick shares the bits above
/// these with the wheel's tick live in it; the others wait in `overflow`.
const SPAN_BITS: u32 = BITS * LEVELS as u32;
const TICK_NS: u64 = 1_000;
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    deadline: Instant,
    prev: u32,
    next: u32,
    /// Where it is linked: a level and bucket, `OVERFLOW`, or `UNLINKED`.
    place: Place,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Unlinked,
    Bucket(u8, u8),
    Overflow,
}

/// Timers keyed by small integers (a connection's slot index).
#[derive(Debug, Clone)]
pub struct TimerWheel {
    nodes: Vec<Node>,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    overflow: u32,
    /// The wheel's time in ticks: every entry due before this tick has been
    /// returned by `expire`.
    cur: u64,
    len: usize,
}

fn tick_of(t: Instant) -> u64 {
    t.as_nanos() / TICK_NS
}

fn index_at(tick: u64, level: usize) -> usize {
    ((tick >> (BITS * level as u32)) as usize) & (SLOTS - 1)
}

/// The first tick of the bucket `index` of `level` in the span of `cur`.
fn bucket_start(cur: u64, level: usize, index: usize) -> u64 {
    let shift = BITS * (level as u32 + 1);
    ((cur >> shift) << shift) | ((index as u64) << (BITS * level as u32))
}

impl TimerWheel {
    /// An empty wheel whose time is `now`.
    pub fn new(now: Instant) -> TimerWheel {
        TimerWheel {
            nodes: Vec::new(),
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            overflow: NIL,
            cur: tick_of(now),
            len: 0,
        }
    }

    /// Keys with a deadline.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The deadline `key` is scheduled for.
    #[cfg(test)]
    pub fn deadline(&self, key: u32) -> Option<Instant> {
        self.nodes
            .get(key as usize)
            .filter(|n| n.place != Place::Unlinked)
            .map(|n| n.deadline)
    }

    /// Sets (or moves) `key`'s deadline. A deadline in the past fires at the
    /// next `expire`.
    pub fn schedule(&mut self, key: u32, deadline: Instant) {
        let k = key as usize;
        if k >= self.nodes.len() {
            self.nodes.resize(
                k + 1,
                Node {
                    deadline: Instant::ZERO,
                    prev: NIL,
                    next: NIL,
                    place: Place::Unlinked,
                },
            );
        }
        if self.nodes[k].place != Place::Unlinked {
            if self.nodes[k].deadline == deadline {
                return;
            }
            if self.placement(deadline) == self.nodes[k].place {
                // Same bucket (an RTO restarted by every ACK lands in the
                // same millisecond-wide bucket): the exact deadline is all
                // that changes.
                self.nodes[k].deadline = deadline;
                return;
            }
            self.unlink(key);
        } else {
            if self.len == 0 {
                // An empty wheel's time may jump ahead to its first deadline:
                // nothing lies between, and an earlier deadline scheduled
                // later still fires on time (placement is at least the
                // wheel's tick; expiry compares exact deadlines).
                self.cur = self.cur.max(tick_of(deadline));
            }
            self.len += 1;
        }
        self.nodes[k].deadline = deadline;
        self.place(key);
    }

    /// Removes `key`'s deadline, if it has one.
    pub fn cancel(&mut self, key: u32) {
        if self
            .nodes
            .get(key as usize)
            .is_some_and(|n| n.place != Place::Unlinked)
        {
            self.unlink(key);
            self.len -= 1;
        }
    }

    /// When `expire` should next be called: the earliest deadline when it is
    /// in the lowest level, else the start of the earliest bucket holding
    /// entries (never later than the earliest deadline).
    pub fn next_wakeup(&self) -> Option<Instant> {
        let (tick, level) = self.next_event()?;
        if level == 0 {
            let mut best = Instant::NEVER;
            let mut k = self.heads[0][index_at(tick, 0)];
            while k != NIL {
                best = best.min(self.nodes[k as usize].deadline);
                k = self.nodes[k as usize].next;
            }
            Some(best)
        } else {
            Some(Instant::from_nanos(tick.saturating_mul(TICK_NS)))
        }
    }

    /// Moves the wheel's time to `now` and appends every key whose deadline
    /// is at or before `now` to `due` (they are no longer scheduled).
    pub fn expire(&mut self, now: Instant, due: &mut Vec<u32>) {
        let target = tick_of(now).max(self.cur);
        while let Some((tick, _)) = self.next_event() {
            if tick > target {
                break;
            }
            self.advance_to(tick);
            // The lowest level's bucket of this tick: every entry of an
            // earlier tick is due; of this tick, those not later than `now`.
            let index = index_at(tick, 0);
            let mut k = self.heads[0][index];
            while k != NIL {
                let next = self.nodes[k as usize].next;
                if self.nodes[k as usize].deadline <= now {
                    self.unlink(k);
                    self.len -= 1;
                    due.push(k);
                }
                k = next;
            }
            if tick == target {
                break;
            }
        }
        self.advance_to(target);
    }

    /// The earliest tick at which something happens, and its level: a
    /// bucket of the lowest level with entries, the start of a higher
    /// level's bucket to cascade, or the next span for the overflow list.
    fn next_event(&self) -> Option<(u64, usize)> {
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits != 0 {
                // By construction every occupied bucket is at or after the
                // wheel's own index at that level (strictly after above 0).
                let index = bits.trailing_zeros() as usize;
                return Some((bucket_start(self.cur, level, index), level));
            }
        }
        if self.overflow != NIL {
            let next_span = ((self.cur >> SPAN_BITS) + 1) << SPAN_BITS;
            return Some((next_span, LEVELS));
        }
        None
    }

    /// Moves the wheel's time forward to `tick` (no bucket starts in
    /// between, by `next_event`), cascading what starts at `tick`.
    fn advance_to(&mut self, tick: u64) {
        if tick <= self.cur {
            return;
        }
        let new_span = (tick >> SPAN_BITS) != (self.cur >> SPAN_BITS);
        self.cur = tick;
        if new_span {
            let mut k = std::mem::replace(&mut self.overflow, NIL);
            while k != NIL {
                let next = self.nodes[k as usize].next;
                self.nodes[k as usize].place = Place::Unlinked;
                self.place(k);
                k = next;
            }
        }
        for level in (1..LEVELS).rev() {
            let index = index_at(tick, level);
            if self.occupied[level] & (1 << index) == 0 || bucket_start(tick, level, index) != tick
            {
                continue;
            }
            let mut k = self.heads[level][index];
            self.heads[level][index] = NIL;
            self.occupied[level] &= !(1 << index);
            while k != NIL {
                let next = self.nodes[k as usize].next;
                self.nodes[k as usize].place = Place::Unlinked;
                self.place(k);
                k = next;
            }
        }
    }

    /// Where a deadline belongs relative to the wheel's time.
    fn placement(&self, deadline: Instant) -> Place {
        let tick = tick_of(deadline).max(self.cur);
        let differ = tick ^ self.cur;
        if differ >> SPAN_BITS != 0 {
            return Place::Overflow;
        }
        let level = if differ == 0 {
            0
        } else {
            ((63 - differ.leading_zeros()) / BITS) as usize
        };
        Place::Bucket(level as u8, index_at(tick, level) as u8)
    }

    /// Links an unlinked `key` where its deadline belongs.
    fn place(&mut self, key: u32) {
        let place = self.placement(self.nodes[key as usize].deadline);
        self.push(key, place);
    }

    fn push(&mut self, key: u32, place: Place) {
        let head = match place {
            Place::Bucket(l, i) => {
                self.occupied[l as usize] |= 1 << i;
                &mut self.heads[l as usize][i as usize]
            }
            Place::Overflow => &mut self.overflow,
            Place::Unlinked => unreachable!("push needs a place"),
        };
        let old = std::mem::replace(head, key);
        let n = &mut self.nodes[key as usize];
        n.prev = NIL;
        n.next = old;
        n.place = place;
        if old != NIL {
            self.nodes[old as usize].prev = key;
        }
    }

    fn unlink(&mut self, key: u32) {
        let Node {
            prev, next, place, ..
        } = self.nodes[key as usize];
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        } else {
            match place {
                Place::Bucket(l, i) => {
                    self.heads[l as usize][i as usize] = next;
                    if next == NIL {
                        self.occupied[l as usize] &= !(1 << i);
                    }
                }
                Place::Overflow => self.overflow = next,
                Place::Unlinked => return,
            }
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        let n = &mut self.nodes[key as usize];
        n.prev = NIL;
        n.next = NIL;
        n.place = Place::Unlinked;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn us(n: u64) -> Instant {
        Instant::from_micros(n)
    }

    #[test]
    fn expires_exactly_at_the_deadline_not_before() {
        let mut w = TimerWheel::new(us(0));
        w.schedule(3, Instant::from_nanos(5_500));
        let mut due = Vec::new();
        w.expire(Instant::from_nanos(5_499), &mut due);
        assert!(due.is_empty());
        assert_eq!(w.next_wakeup(), Some(Instant::from_nanos(5_500)));
        w.expire(Instant::from_nanos(5_500), &mut due);
        assert_eq!(due, vec![3]);
        assert!(w.is_empty());
        assert_eq!(w.next_wakeup(), None);
    }

    #[test]
    fn far_deadlines_cascade_down_and_wake_no_later_than_due() {
        let mut w = TimerWheel::new(us(7));
        // 200 ms, 2 h and 30 h (beyond the 19 h span) ahead.
        let deadlines = [us(200_007), us(7_200_000_007), us(108_000_000_007)];
        for (k, d) in deadlines.iter().enumerate() {
            w.schedule(k as u32, *d);
        }
        let mut now = us(7);
        let mut fired = Vec::new();
        let mut wakeups = 0;
        while let Some(t) = w.next_wakeup() {
            assert!(t >= now, "wake-ups move forward");
            now = t;
            wakeups += 1;
            let mut due = Vec::new();
            w.expire(now, &mut due);
            for k in due {
                assert_eq!(now, deadlines[k as usize], "fired exactly on time");
                fired.push(k);
            }
            assert!(wakeups < 64, "a few wake-ups per level, not one per tick");
        }
        assert_eq!(fired, vec![0, 1, 2]);
    }

    #[test]
    fn rescheduling_and_cancelling_are_exact() {
        let mut w = TimerWheel::new(us(0));
        w.schedule(1, us(1_000));
        w.schedule(2, us(50));
        w.schedule(1, us(20)); // moved earlier
        w.cancel(2);
        assert_eq!(w.len(), 1);
        assert_eq!(w.deadline(1), Some(us(20)));
        assert_eq!(w.deadline(2), None);
        let mut due = Vec::new();
        w.expire(us(10_000), &mut due);
        assert_eq!(due, vec![1]);
    }

    #[test]
    fn a_past_deadline_fires_at_the_next_expire() {
        let mut w = TimerWheel::new(us(1_000));
        let mut due = Vec::new();
        w.expire(us(2_000), &mut due);
        w.schedule(9, us(5));
        assert_eq!(w.next_wakeup(), Some(us(5)));
        w.expire(us(2_000), &mut due);
        assert_eq!(due, vec![9]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Schedule(u32, u64),
        Cancel(u32),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Deadlines from nanoseconds to days ahead, so every level and the
        // overflow list are used; time moves in small and huge steps.
        let ahead = prop_oneof![
            0u64..5_000,
            0u64..5_000_000,
            0u64..50_000_000_000,
            0u64..200_000_000_000_000,
        ];
        let step = prop_oneof![0u64..3_000, 0u64..3_000_000, 0u64..100_000_000_000_000];
        prop_oneof![
            (0u32..16, ahead).prop_map(|(k, a)| Op::Schedule(k, a)),
            (0u32..16).prop_map(Op::Cancel),
            step.prop_map(Op::Advance),
        ]
    }

    proptest! {
        /// Against a map of deadlines: the same keys fire at the same
        /// `expire`, none early, none late, and the next wake-up is never
        /// after the earliest deadline.
        #[test]
        fn matches_a_map_of_deadlines(start in 0u64..1u64 << 50, ops in prop::collection::vec(op(), 1..200)) {
            let mut now = Instant::from_nanos(start);
            let mut w = TimerWheel::new(now);
            let mut model: BTreeMap<u32, Instant> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Schedule(k, ahead) => {
                        let d = Instant::from_nanos(now.as_nanos() + ahead);
                        w.schedule(k, d);
                        model.insert(k, d);
                    }
                    Op::Cancel(k) => {
                        w.cancel(k);
                        model.remove(&k);
                    }
                    Op::Advance(step) => {
                        let target = Instant::from_nanos(now.as_nanos() + step);
                        // Wake up as the wheel asks, then at the target.
                        loop {
                            let earliest = model.values().min().copied();
                            let wake = w.next_wakeup();
                            prop_assert_eq!(wake.is_some(), earliest.is_some());
                            if let (Some(wk), Some(e)) = (wake, earliest) {
                                prop_assert!(wk <= e, "wake-up {:?} after the deadline {:?}", wk, e);
                            }
                            let t = match wake {
                                Some(t) if t < target => t.max(now),
                                _ => target,
                            };
                            now = t;
                            let mut due = Vec::new();
                            w.expire(now, &mut due);
                            due.sort_unstable();
                            let expected: Vec<u32> = model.iter().filter(|(_, d)| **d <= now).map(|(k, _)| *k).collect();
                            prop_assert_eq!(&due, &expected);
                            for k in &due {
                                model.remove(k);
                            }
                            if now >= target {
                                break;
                            }
                        }
                    }
                }
                prop_assert_eq!(w.len(), model.len());
                for (k, d) in &model {
                    prop_assert_eq!(w.deadline(*k), Some(*d));
                }
            }
        }
    }
}
