//! The sender's per-segment record: what was sent when, what the peer has
//! SACKed, what is lost, and each segment's delivery-rate state
//! ([`PacketState`]), in sequence order.
//!
//! It serves two things the byte-range SACK scoreboard cannot: delivery-rate
//! sampling (every delivered segment hands its send-time state back to the
//! [`RateSampler`]) and RACK (RFC 8985), which judges loss by *when* segments
//! were sent. RACK's state lives in [`Rack`].
//!
//! Bounded: at most `capacity` records. New data is not sent while it is full
//! (the connection checks [`SentQueue::is_full`]), so a sender of tiny
//! segments waits for ACKs instead of growing the table. A retransmission
//! that covers part of a record splits it when there is room, and otherwise
//! updates the whole record (slightly wrong send times for RACK, never a byte
//! taken as delivered that was not).

use std::collections::VecDeque;

use crate::cc::{PacketState, RateSampler};
use crate::time::{Duration, Instant};
use crate::wire::SeqNum;

/// One sent segment, `[start, end)` in sequence space (a FIN counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentSeg {
    pub start: SeqNum,
    pub end: SeqNum,
    /// When it was last (re)transmitted.
    pub xmit: Instant,
    /// The receiver holds it (SACK).
    pub sacked: bool,
    /// Declared lost and not retransmitted since.
    pub lost: bool,
    /// Retransmitted at least once (its RTT is ambiguous).
    pub retransmitted: bool,
    pub state: PacketState,
}

impl SentSeg {
    pub fn len(&self) -> usize {
        (self.end - self.start).max(0) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// RFC 8985 `RACK_sent_after(t1, seq1, t2, seq2)`.
fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

/// The sent segments, in sequence order. See the module docs.
#[derive(Debug, Clone)]
pub struct SentQueue {
    segs: VecDeque<SentSeg>,
    capacity: usize,
    /// Sends refused because the queue was full.
    full: u64,
    /// Bytes of records marked lost (not SACKed, not retransmitted since).
    lost: usize,
}

impl SentQueue {
    pub fn new(capacity: usize) -> SentQueue {
        let capacity = capacity.max(4);
        SentQueue {
            segs: VecDeque::with_capacity(capacity),
            capacity,
            full: 0,
            lost: 0,
        }
    }

    /// Bytes the table's storage takes.
    pub fn memory(&self) -> usize {
        self.segs.capacity() * std::mem::size_of::<SentSeg>()
    }

    /// Gives the table's memory back when it is empty (TIME-WAIT).
    pub fn release(&mut self) {
        if self.segs.is_empty() {
            self.segs = VecDeque::new();
        }
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
    pub fn is_full(&self) -> bool {
        self.segs.len() >= self.capacity
    }
    /// Counts a send held back because the queue was full.
    pub fn note_full(&mut self) {
        self.full += 1;
    }
    /// Sends held back because the queue was full.
    pub fn full_count(&self) -> u64 {
        self.full
    }
    pub fn iter(&self) -> impl Iterator<Item = &SentSeg> {
        self.segs.iter()
    }
    /// The highest segment sent (for a tail loss probe's retransmission).
    pub fn last(&self) -> Option<&SentSeg> {
        self.segs.back()
    }
    /// Bytes marked lost and not yet retransmitted.
    pub fn lost_bytes(&self) -> usize {
        self.lost
    }
    /// The first segment marked lost and not retransmitted since.
    pub fn first_lost(&self) -> Option<&SentSeg> {
        if self.lost == 0 {
            // The counter is exact: no scan when nothing is lost.
            return None;
        }
        self.segs.iter().find(|s| s.lost && !s.sacked)
    }

    /// New data `[start, end)` left at `now`. It must continue the queue.
    pub fn push(&mut self, start: SeqNum, end: SeqNum, now: Instant, state: PacketState) {
        if end <= start {
            return;
        }
        if self.is_full() {
            self.full += 1;
            return;
        }
        if self.segs.back().is_some_and(|b| b.end != start) {
            // A gap or overlap with the last record cannot come from the
            // connection; keep the table consistent by not recording it.
            return;
        }
        self.segs.push_back(SentSeg {
            start,
            end,
            xmit: now,
            sacked: false,
            lost: false,
            retransmitted: false,
            state,
        });
    }

    /// Index of the record holding `seq`.
    fn find(&self, seq: SeqNum) -> Option<usize> {
        let i = self.segs.partition_point(|s| s.end <= seq);
        (i < self.segs.len() && self.segs[i].start <= seq).then_some(i)
    }

    /// Splits record `i` at `at` (strictly inside it), if there is room.
    fn split(&mut self, i: usize, at: SeqNum) -> bool {
        if self.is_full() {
            return false;
        }
        let mut hi = self.segs[i];
        if !(hi.start < at && at < hi.end) {
            return false;
        }
        hi.start = at;
        self.segs[i].end = at;
        self.segs.insert(i + 1, hi);
        true
    }

    /// `[start, end)` was retransmitted at `now`; `state` comes from the
    /// sampler for this transmission.
    pub fn on_retransmit(&mut self, start: SeqNum, end: SeqNum, now: Instant, state: PacketState) {
        let Some(mut i) = self.find(start) else {
            return;
        };
        if self.segs[i].start < start && self.split(i, start) {
            i += 1;
        }
        while i < self.segs.len() && self.segs[i].start < end {
            if self.segs[i].end > end {
                let _ = self.split(i, end);
            }
            let s = &mut self.segs[i];
            if s.lost {
                self.lost -= s.len().min(self.lost);
            }
            s.xmit = now;
            s.lost = false;
            s.retransmitted = true;
            s.state = state;
            i += 1;
        }
    }

    /// The cumulative ACK reached `una`: drops the records below it, handing
    /// each newly delivered one to `sampler` (SACKed ones were handed over
    /// already). A record partly acknowledged is trimmed.
    /// Returns the bytes newly delivered.
    pub fn on_cumulative_ack(
        &mut self,
        una: SeqNum,
        now: Instant,
        sampler: &mut RateSampler,
        rack: &mut Rack,
    ) -> usize {
        let mut out = 0;
        while let Some(front) = self.segs.front_mut() {
            if front.start >= una {
                break;
            }
            let whole = front.end <= una;
            let covered_end = if whole { front.end } else { una };
            let bytes = (covered_end - front.start).max(0) as usize;
            if front.lost {
                self.lost -= bytes.min(self.lost);
            }
            if !front.sacked {
                out += bytes;
                sampler.on_delivered(now, &front.state, bytes, front.retransmitted);
                rack.on_delivered(front, now);
            }
            if whole {
                self.segs.pop_front();
            } else {
                front.start = una;
                break;
            }
        }
        out
    }

    /// Marks the records wholly inside SACK block `[start, end)` as SACKed,
    /// handing the newly SACKed ones to `sampler` and RACK. Returns the bytes
    /// newly delivered.
    pub fn on_sack(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        now: Instant,
        sampler: &mut RateSampler,
        rack: &mut Rack,
    ) -> usize {
        let mut out = 0;
        let mut i = self.segs.partition_point(|s| s.end <= start);
        while i < self.segs.len() && self.segs[i].start < end {
            let s = &mut self.segs[i];
            if !s.sacked && s.start >= start && s.end <= end {
                s.sacked = true;
                let bytes = s.len();
                out += bytes;
                if s.lost {
                    s.lost = false;
                    self.lost -= bytes.min(self.lost);
                }
                sampler.on_delivered(now, &s.state, bytes, s.retransmitted);
                rack.on_delivered(s, now);
            }
            i += 1;
        }
        out
    }

    /// After a retransmission timeout the SACK information is dropped (RFC
    /// 6675 5.1) and everything outstanding is lost; returns the bytes newly
    /// marked lost.
    pub fn on_rto(&mut self) -> usize {
        let mut newly = 0;
        for s in &mut self.segs {
            s.sacked = false;
            if !s.lost {
                s.lost = true;
                newly += s.len();
            }
        }
        self.lost += newly;
        newly
    }

    /// Marks the record holding `seq` lost (the duplicate-ACK rule found it);
    /// returns the bytes newly marked.
    pub fn mark_lost_at(&mut self, seq: SeqNum) -> usize {
        match self.find(seq) {
            Some(i) if !self.segs[i].lost && !self.segs[i].sacked => {
                self.segs[i].lost = true;
                self.lost += self.segs[i].len();
                self.segs[i].len()
            }
            _ => 0,
        }
    }

    /// Marks lost every unSACKed record wholly below `seq` that has not been
    /// retransmitted (the duplicate-ACK rule's verdict, RFC 6675 `IsLost`);
    /// returns the bytes newly marked.
    pub fn mark_lost_below(&mut self, seq: SeqNum) -> usize {
        let mut newly = 0;
        for s in &mut self.segs {
            if s.end > seq {
                break;
            }
            if !s.sacked && !s.lost && !s.retransmitted {
                s.lost = true;
                newly += s.len();
            }
        }
        self.lost += newly;
        newly
    }

    /// RFC 8985 6.2 step 5, `RACK_detect_loss()`: marks lost every
    /// unacknowledged, unSACKed segment sent before the most recently
    /// delivered one by more than the reordering window.
    pub fn rack_detect_loss(&mut self, rack: &Rack, now: Instant) -> RackVerdict {
        let mut v = RackVerdict::default();
        let Some((rxmit, rend)) = rack.newest else {
            return v;
        };
        let wait = rack.rtt + rack.reo_wnd;
        for s in &mut self.segs {
            if !sent_after(rxmit, rend, s.xmit, s.end) {
                if s.retransmitted {
                    // A later retransmission of an earlier segment: keep
                    // looking (the queue is in sequence, not time, order).
                    continue;
                }
                // Never retransmitted, in sequence order: this and every
                // original transmission after it went out later still.
                break;
            }
            if s.sacked || s.lost {
                continue;
            }
            let deadline = s.xmit + wait;
            if deadline <= now {
                s.lost = true;
                v.newly_lost += s.len();
                v.lost_below = Some(s.end);
                self.lost += s.len();
            } else {
                v.recheck_at = Some(v.recheck_at.map_or(deadline, |t| t.max(deadline)));
            }
        }
        v
    }
}

/// What one RACK detection found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RackVerdict {
    /// Bytes newly marked lost.
    pub newly_lost: usize,
    /// The end of the highest segment newly marked lost.
    pub lost_below: Option<SeqNum>,
    /// When to look again, if some segment may still turn out lost (the
    /// reordering timer).
    pub recheck_at: Option<Instant>,
}

/// RACK's state (RFC 8985 6.1).
#[derive(Debug, Clone, Default)]
pub struct Rack {
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment that
    /// was delivered.
    newest: Option<(Instant, SeqNum)>,
    /// RACK.rtt: the RTT of that segment.
    pub rtt: Duration,
    /// RACK.fack: the highest end sequence delivered.
    fack: Option<SeqNum>,
    /// RACK.reordering_seen.
    pub reordering_seen: bool,
    /// RACK.reo_wnd for the current detection.
    pub reo_wnd: Duration,
    /// RACK.reo_wnd_mult.
    reo_wnd_mult: u32,
    /// RACK.reo_wnd_persist.
    reo_wnd_persist: u32,
    /// RACK.dsack_round: SND.NXT when the last D-SACK was seen.
    dsack_round: Option<SeqNum>,
    /// The connection's min RTT, for the spurious-retransmission check.
    min_rtt: Duration,
}

impl Rack {
    pub fn new() -> Rack {
        Rack {
            reo_wnd_mult: 1,
            ..Rack::default()
        }
    }

    /// Keeps the connection's minimum RTT.
    pub fn set_min_rtt(&mut self, min_rtt: Option<Duration>) {
        if let Some(m) = min_rtt {
            self.min_rtt = m;
        }
    }

    /// RFC 8985 6.2 steps 1 and 2 for one newly delivered segment.
    fn on_delivered(&mut self, s: &SentSeg, now: Instant) {
        // Step 2: a segment delivered below the highest one delivered before
        // means the network reorders.
        match self.fack {
            Some(f) if s.end < f => self.reordering_seen = true,
            Some(f) if s.end <= f => {}
            _ => self.fack = Some(s.end),
        }
        // Step 1: a retransmitted segment delivered sooner than min_rtt after
        // its retransmission was the original's delivery: ignore (the
        // timestamp check of the RFC is folded into this one).
        let rtt = now.saturating_since(s.xmit);
        if s.retransmitted && rtt < self.min_rtt {
            return;
        }
        let newer = match self.newest {
            None => true,
            Some((t, e)) => sent_after(s.xmit, s.end, t, e),
        };
        if newer {
            self.rtt = rtt;
            self.newest = Some((s.xmit, s.end));
        }
    }

    /// RFC 8985 6.2 step 4, `RACK_update_reo_wnd()`: before each detection.
    /// `dsack` when this ACK carried a D-SACK, `recovery_exit` when it ended
    /// a recovery, `in_recovery`, `sacked_bytes` held by the peer, and the
    /// smoothed RTT.
    #[allow(clippy::too_many_arguments)]
    pub fn update_reo_wnd(
        &mut self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        dsack: bool,
        recovery_exit: bool,
        in_recovery: bool,
        sacked_bytes: usize,
        dup_thresh_bytes: usize,
        srtt: Option<Duration>,
    ) {
        if self.dsack_round.is_some_and(|r| snd_una >= r) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && dsack {
            // A D-SACK: the window was too small; widen it for 16 recoveries.
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = 16;
        } else if recovery_exit {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
        if !self.reordering_seen && (in_recovery || sacked_bytes >= dup_thresh_bytes) {
            self.reo_wnd = Duration::ZERO;
            return;
        }
        let w = (self.min_rtt / 4) * u64::from(self.reo_wnd_mult);
        self.reo_wnd = match srtt {
            Some(s) => w.min(s),
            None => w,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum::new(n)
    }
    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    /// Ten 100-byte segments from seq 1000, sent 1 ms apart from t=0.
    fn queue() -> (SentQueue, RateSampler, Rack) {
        let mut q = SentQueue::new(64);
        let mut r = RateSampler::new();
        for i in 0..10u32 {
            let st = r.on_send(ms(u64::from(i)), i as usize * 100, 100);
            q.push(s(1000 + i * 100), s(1100 + i * 100), ms(u64::from(i)), st);
        }
        (q, r, Rack::new())
    }

    #[test]
    fn cumulative_ack_drops_records_and_trims_a_partial_one() {
        let (mut q, mut r, mut rack) = queue();
        let d = q.on_cumulative_ack(s(1250), ms(20), &mut r, &mut rack);
        assert_eq!(d, 250);
        assert_eq!(q.len(), 8);
        assert_eq!(q.iter().next().map(|x| x.start), Some(s(1250)));
        assert_eq!(r.delivered(), 250);
    }

    #[test]
    fn sacked_bytes_are_delivered_once() {
        let (mut q, mut r, mut rack) = queue();
        let d = q.on_sack(s(1500), s(1700), ms(20), &mut r, &mut rack);
        assert_eq!(d, 200);
        let again = q.on_sack(s(1500), s(1700), ms(21), &mut r, &mut rack);
        assert_eq!(again, 0);
        let cum = q.on_cumulative_ack(s(1700), ms(22), &mut r, &mut rack);
        assert_eq!(cum, 500, "the SACKed 200 bytes are not counted again");
        assert_eq!(r.delivered(), 700);
    }

    #[test]
    fn rack_marks_segments_sent_before_a_delivered_one_lost_after_rtt_plus_reo_wnd() {
        let (mut q, mut r, mut rack) = queue();
        // Segment 5 (sent at 5 ms) is SACKed at 25 ms: RACK.rtt = 20 ms.
        q.on_sack(s(1500), s(1600), ms(25), &mut r, &mut rack);
        rack.set_min_rtt(Some(Duration::from_millis(20)));
        rack.update_reo_wnd(s(1000), s(2000), false, false, false, 100, 300, None);
        assert_eq!(rack.reo_wnd, Duration::from_millis(5), "min_rtt / 4");
        // At 25 ms nothing is old enough: segment 0 is due at 0+20+5 = 25.
        let v = q.rack_detect_loss(&rack, ms(24));
        assert_eq!(v.newly_lost, 0);
        assert_eq!(
            v.recheck_at,
            Some(ms(29)),
            "the latest deadline, segment 4's"
        );
        let v = q.rack_detect_loss(&rack, ms(27));
        assert_eq!(
            v.newly_lost, 300,
            "segments 0, 1 and 2 are overdue at 27 ms"
        );
        assert_eq!(v.lost_below, Some(s(1300)));
        assert_eq!(q.first_lost().map(|x| x.start), Some(s(1000)));
        // Segments sent after the delivered one are never judged by it.
        assert!(q.iter().skip(6).all(|x| !x.lost));
    }

    #[test]
    fn rack_reo_wnd_is_zero_in_recovery_until_reordering_is_seen() {
        let mut rack = Rack::new();
        rack.set_min_rtt(Some(Duration::from_millis(40)));
        rack.update_reo_wnd(s(0), s(100), false, false, true, 0, 300, None);
        assert_eq!(rack.reo_wnd, Duration::ZERO);
        rack.reordering_seen = true;
        rack.update_reo_wnd(
            s(0),
            s(100),
            false,
            false,
            true,
            0,
            300,
            Some(Duration::from_millis(5)),
        );
        assert_eq!(rack.reo_wnd, Duration::from_millis(5), "capped by srtt");
    }

    #[test]
    fn rack_detects_reordering_when_a_lower_segment_is_delivered_later() {
        let (mut q, mut r, mut rack) = queue();
        q.on_sack(s(1500), s(1600), ms(25), &mut r, &mut rack);
        assert!(!rack.reordering_seen);
        q.on_sack(s(1200), s(1300), ms(26), &mut r, &mut rack);
        assert!(rack.reordering_seen);
    }

    #[test]
    fn rack_dsack_widens_the_window_for_sixteen_recoveries() {
        let mut rack = Rack::new();
        rack.reordering_seen = true;
        rack.set_min_rtt(Some(Duration::from_millis(40)));
        rack.update_reo_wnd(s(0), s(100), true, false, false, 0, 300, None);
        assert_eq!(rack.reo_wnd, Duration::from_millis(20), "2 x min_rtt/4");
        for _ in 0..15 {
            rack.update_reo_wnd(s(200), s(300), false, true, false, 0, 300, None);
        }
        assert_eq!(rack.reo_wnd, Duration::from_millis(20));
        rack.update_reo_wnd(s(200), s(300), false, true, false, 0, 300, None);
        assert_eq!(rack.reo_wnd, Duration::from_millis(10), "back to 1 x");
    }

    #[test]
    fn a_partial_retransmission_splits_the_record() {
        let (mut q, mut r, _) = queue();
        let st = r.on_send(ms(50), 0, 50);
        q.on_retransmit(s(1050), s(1100), ms(50), st);
        let v: Vec<_> = q
            .iter()
            .take(3)
            .map(|x| (x.start.raw(), x.end.raw(), x.retransmitted))
            .collect();
        assert_eq!(
            v,
            vec![(1000, 1050, false), (1050, 1100, true), (1100, 1200, false)]
        );
    }

    #[test]
    fn rto_marks_everything_lost_and_forgets_sacks() {
        let (mut q, mut r, mut rack) = queue();
        q.on_sack(s(1500), s(1600), ms(25), &mut r, &mut rack);
        assert_eq!(q.on_rto(), 1000);
        assert_eq!(q.lost_bytes(), 1000);
        let st = r.on_send(ms(40), 0, 100);
        q.on_retransmit(s(1000), s(1100), ms(40), st);
        assert_eq!(q.lost_bytes(), 900);
        q.on_sack(s(1200), s(1300), ms(41), &mut r, &mut rack);
        assert_eq!(q.lost_bytes(), 800);
        q.on_cumulative_ack(s(1150), ms(42), &mut r, &mut rack);
        assert_eq!(
            q.lost_bytes(),
            750,
            "half of the lost segment 1100..1200 arrived"
        );
        q.on_cumulative_ack(s(1400), ms(43), &mut r, &mut rack);
        assert_eq!(q.lost_bytes(), 600);
        assert!(q.iter().all(|x| !x.sacked));
    }

    #[test]
    fn a_full_queue_refuses_records_and_counts() {
        let mut q = SentQueue::new(4);
        for i in 0..6u32 {
            q.push(s(i * 10), s(i * 10 + 10), ms(0), PacketState::default());
        }
        assert_eq!(q.len(), 4);
        assert_eq!(q.full_count(), 2);
    }
}
