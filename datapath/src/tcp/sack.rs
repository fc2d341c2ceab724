//! The sender's SACK scoreboard (RFC 6675 loss recovery, RFC 2018 SACK blocks,
//! RFC 2883 D-SACK detection).
//!
//! Owns the record of which bytes of the outstanding sequence space
//! `[snd_una, snd_nxt)` the receiver has selectively acknowledged: a sorted list
//! of disjoint, non-adjacent ranges, bounded at creation (`max_ranges`), and the
//! answers RFC 6675 4 derives from it: `IsLost`, `SetPipe` and `NextSeg`.
//!
//! Must never: read a clock, allocate after [`SackScoreboard::new`], panic on
//! any block a peer can send, or hold a range outside `[snd_una, snd_nxt)`.
//! It does not own `snd_una`, `snd_nxt` or `HighRxt`: the connection passes them
//! in and the scoreboard only remembers the last `snd_una`/`snd_nxt` it saw.
//!
//! At the bound: when a new, disjoint range would make more than `max_ranges`
//! ranges, the *highest* range (furthest from `snd_una`) is forgotten and
//! counted in [`SackScoreboard::dropped_ranges`]. Forgetting a SACK only makes
//! the sender more conservative (RFC 2018 8: SACK is advisory): those bytes
//! count as in flight and may be retransmitted needlessly, but a byte the
//! receiver does not hold is never taken as delivered. Merging neighbours would
//! do the opposite, so it is not done. The receiver repeats its most recent
//! blocks first (RFC 2018 4), so a forgotten high range usually comes back.

use crate::wire::SeqNum;

/// What one ACK's SACK blocks told the scoreboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckInfo {
    /// Bytes SACKed by this ACK that were not SACKed before.
    pub newly_sacked_bytes: usize,
    /// The D-SACK block, if the first block reported a duplicate (RFC 2883 4).
    pub dsack: Option<(SeqNum, SeqNum)>,
}

/// The next segment to send in loss recovery, per RFC 6675 4 `NextSeg()`.
/// Ranges are half-open `[start, end)`, at most one SMSS long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextSeg {
    /// Rule 1: a hole below the highest SACK that `IsLost` says is lost.
    RetransmitLost { start: SeqNum, end: SeqNum },
    /// Rule 2: new data starting at `snd_nxt`.
    NewData { start: SeqNum, end: SeqNum },
    /// Rule 3: a hole below the highest SACK not (yet) considered lost.
    RetransmitUnlost { start: SeqNum, end: SeqNum },
    /// Rule 5: nothing to send.
    Nothing,
}

/// The SACK scoreboard of one connection. See the module docs.
#[derive(Debug, Clone)]
pub struct SackScoreboard {
    /// Sorted by offset from `snd_una`, disjoint and non-adjacent, each
    /// `[start, end)` non-empty and inside `[snd_una, snd_nxt)`.
    ranges: Vec<(SeqNum, SeqNum)>,
    max_ranges: usize,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    /// Whether `snd_una` has been set by a first ACK.
    synced: bool,
    sacked_bytes: usize,
    invalid_blocks: u64,
    dropped_ranges: u64,
    /// RACK's verdict (RFC 8985): unSACKed bytes below this are lost by
    /// time, whatever the duplicate-ACK rule says. Never above `snd_nxt`.
    time_lost_below: SeqNum,
}

impl SackScoreboard {
    /// A scoreboard holding at most `max_ranges` ranges (at least 1).
    pub fn new(max_ranges: usize) -> Self {
        let max_ranges = max_ranges.max(1);
        SackScoreboard {
            ranges: Vec::with_capacity(max_ranges),
            max_ranges,
            snd_una: SeqNum::default(),
            snd_nxt: SeqNum::default(),
            synced: false,
            sacked_bytes: 0,
            invalid_blocks: 0,
            dropped_ranges: 0,
            time_lost_below: SeqNum::default(),
        }
    }

    /// Offset of `seq` from the current `snd_una`.
    #[inline]
    fn off(&self, seq: SeqNum) -> u32 {
        seq.offset_from(self.snd_una)
    }

    /// Takes one ACK: its acknowledgment field `seg_ack`, the connection's
    /// current `snd_nxt`, and the SACK blocks `(left edge, right edge)` in the
    /// order they appeared in the option.
    ///
    /// The scoreboard's `snd_una` becomes the later of `seg_ack` and the last
    /// one seen: it never moves back when ACKs are reordered. Blocks with
    /// `end <= start` or `end` beyond `snd_nxt` are invalid: ignored and
    /// counted. Blocks entirely below `snd_una` are stale and ignored, unless
    /// the first block is a D-SACK.
    pub fn on_ack(
        &mut self,
        seg_ack: SeqNum,
        snd_nxt: SeqNum,
        blocks: &[(SeqNum, SeqNum)],
    ) -> AckInfo {
        self.advance(seg_ack, snd_nxt);
        let mut info = AckInfo::default();
        let window = self.off(self.snd_nxt);
        for (i, &(start, end)) in blocks.iter().enumerate() {
            let (ds, de) = (start - self.snd_una, end - self.snd_una);
            if de <= ds || de > 0 && de as u32 > window {
                self.invalid_blocks += 1;
                continue;
            }
            if i == 0 && Self::is_dsack(seg_ack, start, end, blocks.get(1)) {
                info.dsack = Some((start, end));
                continue;
            }
            if de <= 0 {
                continue; // Stale: already cumulatively acknowledged.
            }
            let start = if ds < 0 { self.snd_una } else { start };
            info.newly_sacked_bytes += self.insert(start, end);
        }
        info
    }

    /// RFC 2883 4: the first block is a D-SACK when it lies (at least partly)
    /// below the cumulative ACK *of the same segment* (the RFC forbids
    /// comparing with `snd_una`, which misleads when ACKs are reordered), or
    /// when it is contained in the second block.
    fn is_dsack(
        seg_ack: SeqNum,
        start: SeqNum,
        end: SeqNum,
        second: Option<&(SeqNum, SeqNum)>,
    ) -> bool {
        if start - seg_ack < 0 {
            return true;
        }
        match second {
            Some(&(s2, e2)) => (start - s2) >= 0 && (e2 - end) >= 0 && (e2 - s2) > 0,
            None => false,
        }
    }

    /// Moves the window to `[snd_una, snd_nxt)`, dropping or trimming ranges
    /// that fall outside it.
    fn advance(&mut self, snd_una: SeqNum, snd_nxt: SeqNum) {
        if !self.synced || snd_una - self.snd_una > 0 {
            if !self.synced || self.time_lost_below - snd_una < 0 {
                self.time_lost_below = snd_una;
            }
            self.snd_una = snd_una;
            self.synced = true;
        }
        // A snd_nxt behind snd_una is a caller bug; treat the window as empty.
        self.snd_nxt = if snd_nxt - self.snd_una < 0 {
            self.snd_una
        } else {
            snd_nxt
        };
        let (una, nxt) = (self.snd_una, self.snd_nxt);
        let window = self.off(nxt);
        let mut sacked = 0usize;
        self.ranges.retain_mut(|r| {
            // Offsets of a range relative to the old snd_una may now be
            // "behind" the new one: compare with signed distances.
            let (ds, de) = (r.0 - una, r.1 - una);
            if de <= 0 || ds >= 0 && ds as u32 >= window {
                return false;
            }
            if ds < 0 {
                r.0 = una;
            }
            if de as u32 > window {
                r.1 = nxt;
            }
            sacked += r.1.offset_from(r.0) as usize;
            true
        });
        self.sacked_bytes = sacked;
    }

    /// Adds `[start, end)` (inside the window, non-empty); returns the bytes not
    /// SACKed before.
    fn insert(&mut self, start: SeqNum, end: SeqNum) -> usize {
        let (so, eo) = (self.off(start), self.off(end));
        let len = self.ranges.len();
        // First range that overlaps or touches [so, eo) from below.
        let i = self
            .ranges
            .iter()
            .position(|r| self.off(r.1) >= so)
            .unwrap_or(len);
        // One past the last range that overlaps or touches it from above.
        let j = i + self.ranges[i..]
            .iter()
            .take_while(|r| self.off(r.0) <= eo)
            .count();
        if i == j {
            if len == self.max_ranges {
                self.dropped_ranges += 1;
                if i == len {
                    return 0; // The new range is the highest: forget it.
                }
                if let Some((s, e)) = self.ranges.pop() {
                    self.sacked_bytes -= e.offset_from(s) as usize;
                }
            }
            self.ranges.insert(i, (start, end));
            let added = (eo - so) as usize;
            self.sacked_bytes += added;
            return added;
        }
        let mut covered = 0u32;
        for r in &self.ranges[i..j] {
            let (rs, re) = (self.off(r.0), self.off(r.1));
            covered += re.min(eo).saturating_sub(rs.max(so));
        }
        let new_start = if self.off(self.ranges[i].0) < so {
            self.ranges[i].0
        } else {
            start
        };
        let new_end = if self.off(self.ranges[j - 1].1) > eo {
            self.ranges[j - 1].1
        } else {
            end
        };
        self.ranges[i] = (new_start, new_end);
        self.ranges.drain(i + 1..j);
        let added = (eo - so - covered) as usize;
        self.sacked_bytes += added;
        added
    }

    /// RFC 6675 5.1 / RFC 2018 8: after a retransmission timeout SACK
    /// information is advisory only and must not be relied on; forget it.
    pub fn reset(&mut self) {
        self.ranges.clear();
        self.sacked_bytes = 0;
        self.time_lost_below = self.snd_una;
    }

    /// RFC 8985: RACK judged every unSACKed byte below `seq` lost (by how
    /// long ago it was sent). `IsLost`, `SetPipe` and `NextSeg` then treat
    /// those bytes as lost too. Only ever moves forward.
    pub fn set_time_lost_below(&mut self, seq: SeqNum) {
        let seq = if seq - self.snd_nxt > 0 {
            self.snd_nxt
        } else {
            seq
        };
        if seq - self.time_lost_below > 0 {
            self.time_lost_below = seq;
        }
    }

    /// Bytes currently SACKed above `snd_una`.
    pub fn sacked_bytes(&self) -> usize {
        self.sacked_bytes
    }

    /// One past the highest SACKed byte (exclusive end of the highest range),
    /// or `None` when nothing is SACKed.
    pub fn highest_sacked(&self) -> Option<SeqNum> {
        self.ranges.last().map(|r| r.1)
    }

    /// The SACKed ranges `[start, end)`, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        self.ranges.iter().copied()
    }

    /// Whether `seq` has been SACKed.
    pub fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges.iter().any(|r| seq.in_range(r.0, r.1))
    }

    /// SACK blocks ignored as malformed (`end <= start`, or past `snd_nxt`).
    pub fn invalid_blocks(&self) -> u64 {
        self.invalid_blocks
    }

    /// Ranges forgotten because the scoreboard was full.
    pub fn dropped_ranges(&self) -> u64 {
        self.dropped_ranges
    }

    /// RFC 6675 4 `IsLost(SeqNum)`: true when `dup_thresh` or more
    /// discontiguous SACKed ranges lie above `seq`, or more than
    /// `(dup_thresh - 1) * mss` bytes above `seq` are SACKed.
    pub fn is_lost(&self, seq: SeqNum, mss: usize, dup_thresh: usize) -> bool {
        let so = self.off(seq);
        let mut ranges_above = 0usize;
        let mut bytes_above = 0usize;
        for r in &self.ranges {
            let (rs, re) = (self.off(r.0), self.off(r.1));
            if rs > so {
                ranges_above += 1;
            }
            if re > so + 1 {
                bytes_above += (re - rs.max(so + 1)) as usize;
            }
        }
        ranges_above >= dup_thresh
            || bytes_above > dup_thresh.saturating_sub(1) * mss
            || self.time_lost_below - seq > 0
    }

    /// Every unSACKed byte below the returned number is lost per `IsLost`;
    /// none at or above it is. Because `IsLost` gives the same answer for all
    /// bytes of one hole, this is always `snd_una` or the start of a range.
    pub fn lost_below(&self, mss: usize, dup_thresh: usize) -> SeqNum {
        let by_acks = self.lost_below_by_acks(mss, dup_thresh);
        let by_time = self.time_lost_below;
        if by_time - self.snd_una > 0 && by_time - by_acks > 0 {
            by_time
        } else {
            by_acks
        }
    }

    /// The duplicate-ACK part of [`Self::lost_below`].
    fn lost_below_by_acks(&self, mss: usize, dup_thresh: usize) -> SeqNum {
        let threshold = dup_thresh.saturating_sub(1) * mss;
        let mut bytes_from = 0usize;
        for (k, r) in self.ranges.iter().enumerate().rev() {
            bytes_from += r.1.offset_from(r.0) as usize;
            let ranges_from = self.ranges.len() - k;
            if ranges_from >= dup_thresh || bytes_from > threshold {
                return r.0;
            }
        }
        self.snd_una
    }

    /// The holes (unSACKed ranges) `[start, end)` between `snd_una` and the
    /// highest SACK, lowest first.
    fn holes_below_highest(&self) -> impl Iterator<Item = (SeqNum, SeqNum)> + '_ {
        let starts = core::iter::once(self.snd_una).chain(self.ranges.iter().map(|r| r.1));
        starts
            .zip(self.ranges.iter().map(|r| r.0))
            .filter(|(s, e)| s != e)
    }

    /// RFC 6675 4 `NextSeg()`, rules 1 to 3 and 5 (the rescue retransmission of
    /// rule 4 is not implemented). `new_data` is how many bytes past `snd_nxt`
    /// may be sent now (unsent data limited by the receiver's window);
    /// `high_rxt` is *one past* the highest byte retransmitted in this
    /// recovery (`snd_una` when none). (RFC 6675's `SetPipe()` is kept per
    /// segment by the connection: `Connection::in_flight`.)
    pub fn next_seg(
        &self,
        high_rxt: SeqNum,
        mss: usize,
        dup_thresh: usize,
        new_data: usize,
    ) -> NextSeg {
        let mss = mss.max(1);
        let lost_off = self.off(self.lost_below(mss, dup_thresh));
        let rxt_off = self.off(high_rxt).min(self.off(self.snd_nxt));
        // First unSACKed byte at or above high_rxt (1.a) below the highest
        // SACK (1.b), with the end of its hole.
        let candidate = self.holes_below_highest().find_map(|(s, e)| {
            let (so, eo) = (self.off(s), self.off(e));
            (eo > rxt_off).then(|| (so.max(rxt_off), eo))
        });
        let seg = |so: u32, eo: u32| {
            let start = self.snd_una + so as usize;
            let len = ((eo - so) as usize).min(mss);
            (start, start + len)
        };
        match candidate {
            // Rule 1: also IsLost (1.c).
            Some((so, eo)) if so < lost_off => {
                let (start, end) = seg(so, eo.min(lost_off));
                NextSeg::RetransmitLost { start, end }
            }
            // Rule 2.
            _ if new_data > 0 => NextSeg::NewData {
                start: self.snd_nxt,
                end: self.snd_nxt + new_data.min(mss),
            },
            // Rule 3.
            Some((so, eo)) => {
                let (start, end) = seg(so, eo);
                NextSeg::RetransmitUnlost { start, end }
            }
            // Rule 5.
            None => NextSeg::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSS: usize = 1000;
    const DUP: usize = 3;

    fn s(n: u32) -> SeqNum {
        SeqNum::new(n)
    }

    fn board_with(una: u32, nxt: u32, blocks: &[(u32, u32)]) -> SackScoreboard {
        let mut b = SackScoreboard::new(64);
        let blocks: Vec<_> = blocks.iter().map(|&(x, y)| (s(x), s(y))).collect();
        b.on_ack(s(una), s(nxt), &blocks);
        b
    }

    fn ranges(b: &SackScoreboard) -> Vec<(u32, u32)> {
        b.ranges().map(|(x, y)| (x.raw(), y.raw())).collect()
    }

    #[test]
    fn rack_time_based_loss_extends_is_lost_pipe_and_next_seg() {
        // One SACKed segment high up: the duplicate-ACK rule does not call
        // the holes below it lost, RACK's verdict does.
        let mut b = board_with(1000, 10_000, &[(5000, 6000)]);
        assert!(!b.is_lost(s(1000), MSS, DUP));
        b.set_time_lost_below(s(3000));
        assert!(b.is_lost(s(2999), MSS, DUP));
        assert!(!b.is_lost(s(3000), MSS, DUP));
        assert_eq!(b.lost_below(MSS, DUP), s(3000));
        assert_eq!(
            b.next_seg(s(1000), MSS, DUP, 0),
            NextSeg::RetransmitLost {
                start: s(1000),
                end: s(2000)
            }
        );
        assert_eq!(b.sacked_bytes(), 1000);
        // A timeout forgets it with the SACKs.
        b.reset();
        assert!(!b.is_lost(s(1000), MSS, DUP));
    }

    #[test]
    fn sack_blocks_are_recorded_sorted_and_counted_as_newly_sacked() {
        let mut b = SackScoreboard::new(64);
        let info = b.on_ack(
            s(1000),
            s(10_000),
            &[(s(5000), s(6000)), (s(2000), s(3000))],
        );
        assert_eq!(info.newly_sacked_bytes, 2000);
        assert_eq!(info.dsack, None);
        assert_eq!(ranges(&b), vec![(2000, 3000), (5000, 6000)]);
        assert_eq!(b.sacked_bytes(), 2000);
        assert_eq!(b.highest_sacked(), Some(s(6000)));
    }

    #[test]
    fn repeated_blocks_add_nothing_new_and_are_not_dsack() {
        let mut b = board_with(1000, 10_000, &[(2000, 3000)]);
        let info = b.on_ack(s(1000), s(10_000), &[(s(2000), s(3000))]);
        assert_eq!(info, AckInfo::default());
    }

    #[test]
    fn overlapping_and_adjacent_blocks_merge_into_one_range() {
        let mut b = board_with(0, 10_000, &[(1000, 2000), (3000, 4000), (5000, 6000)]);
        let info = b.on_ack(s(0), s(10_000), &[(s(2000), s(3000))]);
        assert_eq!(info.newly_sacked_bytes, 1000);
        assert_eq!(ranges(&b), vec![(1000, 4000), (5000, 6000)]);
        let info = b.on_ack(s(0), s(10_000), &[(s(500), s(5500))]);
        assert_eq!(info.newly_sacked_bytes, 500 + 1000);
        assert_eq!(ranges(&b), vec![(500, 6000)]);
        assert_eq!(b.sacked_bytes(), 5500);
    }

    #[test]
    fn cumulative_ack_drops_and_trims_ranges_below_it() {
        let mut b = board_with(0, 10_000, &[(1000, 2000), (3000, 4000)]);
        b.on_ack(s(3500), s(10_000), &[]);
        assert_eq!(ranges(&b), vec![(3500, 4000)]);
        assert_eq!(b.sacked_bytes(), 500);
        b.on_ack(s(4000), s(10_000), &[]);
        assert_eq!(b.highest_sacked(), None);
    }

    #[test]
    fn dsack_when_first_block_is_below_cumulative_ack() {
        // RFC 2883 4.1.1: a duplicate of already-acknowledged data.
        let mut b = SackScoreboard::new(64);
        let info = b.on_ack(s(4000), s(8000), &[(s(3000), s(3500))]);
        assert_eq!(info.dsack, Some((s(3000), s(3500))));
        assert_eq!(info.newly_sacked_bytes, 0);
        assert_eq!(b.highest_sacked(), None);
    }

    #[test]
    fn dsack_when_first_block_is_contained_in_the_second() {
        // RFC 2883 4.1.2: a duplicate of out-of-order data above the ACK.
        let mut b = board_with(1000, 9000, &[(3000, 5000)]);
        let info = b.on_ack(s(1000), s(9000), &[(s(4000), s(4500)), (s(3000), s(5000))]);
        assert_eq!(info.dsack, Some((s(4000), s(4500))));
        assert_eq!(info.newly_sacked_bytes, 0);
        assert_eq!(ranges(&b), vec![(3000, 5000)]);
    }

    #[test]
    fn a_later_block_below_cumulative_ack_is_stale_not_dsack() {
        let mut b = SackScoreboard::new(64);
        let info = b.on_ack(s(4000), s(8000), &[(s(5000), s(6000)), (s(1000), s(2000))]);
        assert_eq!(info.dsack, None);
        assert_eq!(ranges(&b), vec![(5000, 6000)]);
        assert_eq!(b.invalid_blocks(), 0);
    }

    #[test]
    fn dsack_compares_with_the_segments_own_ack_not_snd_una() {
        // RFC 2883 4: an older ACK arriving late carries blocks below the
        // current snd_una that were plain SACKs when it was sent.
        let mut b = board_with(1000, 9000, &[]);
        b.on_ack(s(4000), s(9000), &[]);
        let info = b.on_ack(s(3000), s(9000), &[(s(3500), s(3800))]);
        assert_eq!(info, AckInfo::default());
        assert_eq!(b.highest_sacked(), None);
        assert_eq!(b.lost_below(MSS, DUP), s(4000), "snd_una stays at 4000");
    }

    #[test]
    fn invalid_blocks_are_ignored_and_counted() {
        let mut b = SackScoreboard::new(64);
        let info = b.on_ack(
            s(1000),
            s(5000),
            &[(s(3000), s(3000)), (s(3000), s(2000)), (s(4000), s(6000))],
        );
        assert_eq!(info, AckInfo::default());
        assert_eq!(b.invalid_blocks(), 3);
        assert_eq!(b.highest_sacked(), None);
    }

    #[test]
    fn at_the_bound_the_highest_range_is_forgotten() {
        let mut b = SackScoreboard::new(2);
        b.on_ack(s(0), s(10_000), &[(s(1000), s(2000)), (s(5000), s(6000))]);
        // A new highest range is itself forgotten.
        let info = b.on_ack(s(0), s(10_000), &[(s(8000), s(9000))]);
        assert_eq!(info.newly_sacked_bytes, 0);
        assert_eq!(ranges(&b), vec![(1000, 2000), (5000, 6000)]);
        // A new lower range displaces the highest.
        let info = b.on_ack(s(0), s(10_000), &[(s(3000), s(4000))]);
        assert_eq!(info.newly_sacked_bytes, 1000);
        assert_eq!(ranges(&b), vec![(1000, 2000), (3000, 4000)]);
        assert_eq!(b.sacked_bytes(), 2000);
        assert_eq!(b.dropped_ranges(), 2);
        // Merging never needs room.
        b.on_ack(s(0), s(10_000), &[(s(2000), s(3000))]);
        assert_eq!(ranges(&b), vec![(1000, 4000)]);
    }

    #[test]
    fn is_lost_after_three_discontiguous_sacked_ranges_above() {
        // RFC 6675 4 IsLost: DupThresh discontiguous SACKed sequences above.
        let b = board_with(0, 10_000, &[(1000, 1100), (2000, 2100), (3000, 3100)]);
        assert!(b.is_lost(s(0), MSS, DUP));
        assert!(b.is_lost(s(999), MSS, DUP));
        assert!(!b.is_lost(s(1100), MSS, DUP));
        assert_eq!(b.lost_below(MSS, DUP), s(1000));
    }

    #[test]
    fn is_lost_when_more_than_dupthresh_minus_one_segments_sacked_above() {
        // RFC 6675 4 IsLost: more than (DupThresh - 1) * SMSS bytes SACKed above.
        let b = board_with(0, 10_000, &[(1000, 3001)]);
        assert!(b.is_lost(s(999), MSS, DUP));
        let b = board_with(0, 10_000, &[(1000, 3000)]);
        assert!(!b.is_lost(s(999), MSS, DUP));
        assert_eq!(b.lost_below(MSS, DUP), s(0));
    }

    #[test]
    fn is_lost_counts_across_the_sequence_wrap() {
        let una = u32::MAX - 2500;
        let b = board_with(una, 5000, &[(u32::MAX - 1000, 1001)]);
        assert_eq!(b.sacked_bytes(), 2002);
        assert!(b.is_lost(s(una), MSS, DUP));
        assert_eq!(b.lost_below(MSS, DUP), s(u32::MAX - 1000));
        assert_eq!(b.highest_sacked(), Some(s(1001)));
    }

    #[test]
    fn next_seg_rule_1_retransmits_the_first_lost_hole_above_high_rxt() {
        let b = board_with(0, 10_000, &[(1000, 2000), (2500, 4000), (6000, 7000)]);
        assert_eq!(
            b.next_seg(s(0), MSS, DUP, 0),
            NextSeg::RetransmitLost {
                start: s(0),
                end: s(1000)
            }
        );
        // The segment stops at the next SACKed range.
        assert_eq!(
            b.next_seg(s(1000), MSS, DUP, 5000),
            NextSeg::RetransmitLost {
                start: s(2000),
                end: s(2500)
            }
        );
    }

    #[test]
    fn next_seg_rule_2_sends_new_data_when_no_hole_is_lost() {
        let b = board_with(0, 10_000, &[(1000, 2000), (2500, 4000), (6000, 7000)]);
        assert_eq!(
            b.next_seg(s(2500), MSS, DUP, 5000),
            NextSeg::NewData {
                start: s(10_000),
                end: s(11_000)
            }
        );
    }

    #[test]
    fn next_seg_rule_3_retransmits_an_unlost_hole_when_no_new_data() {
        let b = board_with(0, 10_000, &[(1000, 2000), (2500, 4000), (6000, 7000)]);
        assert_eq!(
            b.next_seg(s(4200), MSS, DUP, 0),
            NextSeg::RetransmitUnlost {
                start: s(4200),
                end: s(5200)
            }
        );
        assert_eq!(b.next_seg(s(7000), MSS, DUP, 0), NextSeg::Nothing);
    }

    #[test]
    fn next_seg_wraps_around_the_sequence_space() {
        let una = u32::MAX - 999;
        let b = board_with(una, 8000, &[(0, 3001)]);
        assert_eq!(
            b.next_seg(s(una), MSS, DUP, 0),
            NextSeg::RetransmitLost {
                start: s(una),
                end: s(0)
            }
        );
    }

    #[test]
    fn reset_after_rto_forgets_every_sack() {
        // RFC 2018 8 / RFC 6675 5.1.
        let mut b = board_with(0, 10_000, &[(1000, 2000)]);
        b.reset();
        assert_eq!(b.sacked_bytes(), 0);
        assert_eq!(b.highest_sacked(), None);
        assert_eq!(b.lost_below(MSS, DUP), s(0), "nothing lost");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ack {
            advance: u32,
            sent: u32,
            blocks: Vec<(i32, u32)>,
        },
        Reset,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (
                0u32..3000,
                0u32..3000,
                proptest::collection::vec((-2000i32..12_000, 0u32..4000), 0..5)
            )
                .prop_map(|(advance, sent, blocks)| Op::Ack { advance, sent, blocks }),
            1 => Just(Op::Reset),
        ]
    }

    proptest! {
        #[test]
        fn random_acks_keep_ranges_sorted_disjoint_inside_window_and_bounded(
            base in any::<u32>(),
            cap in 1usize..6,
            ops in proptest::collection::vec(op(), 1..40),
        ) {
            let mut b = SackScoreboard::new(cap);
            let (mut una, mut nxt) = (s(base), s(base) + 10_000);
            b.on_ack(una, nxt, &[]);
            for op in ops {
                match op {
                    Op::Reset => b.reset(),
                    Op::Ack { advance, sent, blocks } => {
                        nxt += sent as usize;
                        una = (una + advance as usize).min(nxt);
                        if una - nxt > 0 { una = nxt; }
                        let blocks: Vec<_> = blocks
                            .iter()
                            .map(|&(off, len)| (una + off as usize, una + off as usize + len as usize))
                            .collect();
                        let before = b.sacked_bytes();
                        let info = b.on_ack(una, nxt, &blocks);
                        prop_assert!(b.sacked_bytes() <= before + info.newly_sacked_bytes);
                    }
                }
                let r: Vec<_> = b.ranges().collect();
                prop_assert!(r.len() <= cap);
                let mut total = 0usize;
                let mut prev_end: Option<SeqNum> = None;
                for &(rs, re) in &r {
                    prop_assert!(re - rs > 0);
                    prop_assert!(rs.in_range(una, nxt));
                    prop_assert!(re.in_range_inclusive(una, nxt));
                    if let Some(pe) = prev_end {
                        prop_assert!(rs - pe > 0, "ranges must be disjoint and non-adjacent");
                    }
                    prev_end = Some(re);
                    total += (re - rs) as usize;
                }
                prop_assert_eq!(total, b.sacked_bytes());
                // lost_below agrees with IsLost on every hole's first byte.
                let lost = b.lost_below(MSS, DUP);
                let mut hole = una;
                for &(rs, re) in r.iter().chain(core::iter::once(&(nxt, nxt))) {
                    if hole != rs {
                        prop_assert_eq!(
                            b.is_lost(hole, MSS, DUP),
                            hole.offset_from(una) < lost.offset_from(una)
                        );
                    }
                    hole = re;
                }
                let _ = b.next_seg(una + 500, MSS, DUP, 100);
            }
        }
    }
}
