//! An earliest-departure-time pacer for one connection.
//!
//! A token bucket in time form: `empty_at` is when the bucket was (or will
//! be) empty, so at `now` it holds `min(quantum, (now - empty_at) x rate)`
//! bytes. A segment may leave when the bucket holds it (or holds a whole
//! quantum, for segments larger than the quantum); leaving takes its bytes
//! out, possibly into debt, which pushes the next departure later. So a
//! sender that has been quiet sends at most one quantum back to back, and a
//! sender with a backlog leaves at `rate` on average: each segment's
//! earliest departure time is `empty_at + len / rate`.
//!
//! Sans-IO: time is an argument. The shard learns when to come back from
//! [`Pacer::next_departure`], through the connection's `poll_timeout`.

use crate::time::{Duration, Instant};

/// The pacer of one connection. See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacer {
    empty_at: Instant,
    /// Segments held back because they were early.
    held: u64,
}

/// Time to send `bytes` at `rate` bytes per second (rounded up, saturating).
fn time_for(bytes: usize, rate: u64) -> Duration {
    if rate == 0 {
        return Duration::MAX;
    }
    // Per segment: 64-bit arithmetic whenever the product fits (any
    // segment does), 128-bit only for absurd sizes.
    let ns = match (bytes as u64).checked_mul(1_000_000_000) {
        Some(n) => n.div_ceil(rate),
        None => (bytes as u128 * 1_000_000_000)
            .div_ceil(u128::from(rate))
            .min(u128::from(u64::MAX)) as u64,
    };
    Duration::from_nanos(ns)
}

impl Pacer {
    pub fn new() -> Pacer {
        Pacer::default()
    }

    /// The bucket's fill at `now` in nanoseconds' worth of sending.
    fn credit(&self, now: Instant, quantum: usize, rate: u64) -> Duration {
        now.saturating_since(self.empty_at)
            .min(time_for(quantum, rate))
    }

    /// When a segment of `len` bytes may leave, at `rate` with bursts of at
    /// most `quantum` bytes (`now` or earlier: at once).
    pub fn next_departure(&self, now: Instant, len: usize, quantum: usize, rate: u64) -> Instant {
        let need = time_for(len.min(quantum.max(1)), rate);
        let credit = self.credit(now, quantum, rate);
        if credit >= need {
            now
        } else {
            now + (need - credit)
        }
    }

    /// Whether a segment of `len` bytes may leave at `now`; counts a refusal.
    pub fn may_send(&mut self, now: Instant, len: usize, quantum: usize, rate: u64) -> bool {
        let ok = self.next_departure(now, len, quantum, rate) <= now;
        if !ok {
            self.held += 1;
        }
        ok
    }

    /// A segment of `len` bytes left at `now`.
    pub fn on_send(&mut self, now: Instant, len: usize, quantum: usize, rate: u64) {
        let credit = self.credit(now, quantum, rate);
        let cost = time_for(len, rate);
        // Start of the bucket's emptiness: now less what remains of the
        // credit after this segment, or later when it went into debt.
        self.empty_at = if credit >= cost {
            Instant::from_nanos(now.as_nanos().saturating_sub((credit - cost).as_nanos()))
        } else {
            now + (cost - credit)
        };
    }

    /// Segments held back so far.
    pub fn held(&self) -> u64 {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1448;

    /// Drives a backlogged sender through the pacer in 1 us steps for `span`
    /// and returns the departure times.
    fn departures(rate: u64, quantum: usize, span: Duration) -> Vec<Instant> {
        let mut p = Pacer::new();
        let start = Instant::from_millis(1000);
        let mut now = start;
        let mut out = Vec::new();
        while now < start + span {
            while p.may_send(now, MSS, quantum, rate) {
                p.on_send(now, MSS, quantum, rate);
                out.push(now);
            }
            now = p
                .next_departure(now, MSS, quantum, rate)
                .max(now + Duration::from_micros(1));
        }
        out
    }

    #[test]
    fn pacer_spaces_frames_to_the_rate_within_five_percent_over_100_ms() {
        for rate in [12_500_000u64, 125_000_000, 1_250_000_000] {
            let span = Duration::from_millis(100);
            let d = departures(rate, 2 * MSS, span);
            let bytes = (d.len() * MSS) as f64;
            let achieved = bytes / span.as_secs_f64();
            let err = (achieved - rate as f64).abs() / rate as f64;
            assert!(
                err < 0.05,
                "rate {rate}: achieved {achieved:.0} B/s ({err:.3})"
            );
        }
    }

    #[test]
    fn no_burst_exceeds_the_send_quantum() {
        let rate = 125_000_000; // 1 Gbit/s
        for quantum in [MSS, 2 * MSS, 10 * MSS, 64 * 1024] {
            let d = departures(rate, quantum, Duration::from_millis(20));
            // Frames leaving at the same instant form a burst.
            let mut longest = 0;
            let mut run = 0;
            for w in d.windows(2) {
                run = if w[1] == w[0] { run + 1 } else { 0 };
                longest = longest.max(run + 1);
            }
            assert!(
                longest * MSS <= quantum.max(MSS),
                "quantum {quantum}: burst of {longest} frames"
            );
        }
    }

    #[test]
    fn a_quiet_sender_may_burst_one_quantum_then_waits() {
        let mut p = Pacer::new();
        let rate = 1_448_000; // one MSS per ms
        let now = Instant::from_millis(500);
        let mut sent = 0;
        while p.may_send(now, MSS, 4 * MSS, rate) {
            p.on_send(now, MSS, 4 * MSS, rate);
            sent += 1;
        }
        assert_eq!(sent, 4);
        assert_eq!(
            p.next_departure(now, MSS, 4 * MSS, rate),
            now + Duration::from_millis(1)
        );
        assert_eq!(p.held(), 1);
    }

    #[test]
    fn a_zero_rate_never_sends_and_never_panics() {
        let mut p = Pacer::new();
        let now = Instant::from_millis(1);
        assert!(!p.may_send(now, MSS, MSS, 0));
        p.on_send(now, MSS, MSS, 0);
        assert_eq!(p.next_departure(now, MSS, MSS, 0), Instant::NEVER);
    }
}
