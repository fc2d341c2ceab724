//! CUBIC window management (RFC 9438).
//!
//! Below ssthresh the window grows as in slow start (RFC 5681 3.1 with
//! RFC 3465 byte counting, L = 2); the first slow start runs HyStart++
//! (RFC 9406, [`HyStart`]) to leave before it overshoots. Above it, each congestion-avoidance stage
//! (an *epoch*) starts at the first ACK after a reduction and follows the
//! cubic curve of RFC 9438 4.2 through the window at the last congestion
//! event, W_max: concave while below it, a plateau around it, convex beyond
//! it. A Reno estimate W_est (4.3) is the floor, so CUBIC is never slower than
//! Reno where Reno does well (short RTTs, small windows).
//!
//! A congestion event multiplies the window by beta_cubic = 0.7 (4.6) and
//! remembers W_max, lowered further when losses come before the previous
//! W_max was reached (fast convergence, 4.7). A timeout leaves one segment
//! and restarts the curve from wherever slow start ends (4.8). A spurious
//! reduction can be undone (4.9).
//!
//! Windows are kept in bytes; the cubic function, whose constant C is
//! defined in segments per second cubed, is evaluated in segments of the
//! sender's MSS and scaled back. Floats are used only for the curve and the
//! Reno estimate, and every float that becomes a window is checked (NaN,
//! infinities and overflow never reach `cwnd`). The controller never reads a
//! clock and never panics, whatever the inputs: time that goes backwards is
//! no time at all.

use crate::cc::hystart::{CSS_GROWTH_DIVISOR, HyStart, Phase};
use crate::cc::{AckSample, CongestionControl, window_pacing_rate};
use crate::time::{Duration, Instant};

/// RFC 9438 4.1.1 and 5.1: C = 0.4, in segments per second cubed.
const C: f64 = 0.4;
/// RFC 9438 4.1.1 and 4.6: beta_cubic = 0.7, as an exact ratio for the
/// integer windows ...
const BETA_NUM: u128 = 7;
const BETA_DEN: u128 = 10;
/// ... and as a float for the curve.
const BETA: f64 = 0.7;
/// RFC 9438 4.3: alpha_cubic = 3 (1 - beta_cubic) / (1 + beta_cubic), the
/// additive increase (segments per RTT) that makes an AIMD with beta_cubic
/// as fast on average as Reno's AIMD(1, 0.5).
const ALPHA_CUBIC: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);
/// RFC 9438 4.7: with fast convergence, W_max = cwnd (1 + beta_cubic) / 2
/// when the window had not regained the previous W_max.
const FAST_CONVERGENCE: f64 = (1.0 + BETA) / 2.0;
/// RFC 9438 4.4 and 4.5: the target is at most 1.5 cwnd, so congestion
/// avoidance grows the window by at most half of it per RTT, slower than
/// slow start's doubling.
const MAX_TARGET_RATIO: f64 = 1.5;
/// The largest window the controller will ever ask for (4 GiB), so no float
/// or sum can reach an absurd size. Well above any real path's BDP.
const MAX_CWND: usize = u32::MAX as usize;

/// The variables of the cubic curve (RFC 9438 4.1.2), one copyable group so
/// that undo saves and restores them whole.
#[derive(Debug, Clone, Copy, Default)]
struct Curve {
    /// W_max, bytes: the window just before the last reduction, or after
    /// fast convergence a little below it. Zero when unset (before any loss,
    /// and after a timeout until the next epoch).
    w_max: f64,
    /// K, seconds: when the curve of this epoch reaches W_max.
    k: f64,
    /// t_epoch: when this congestion-avoidance stage began, moved forward
    /// by the application-limited time since (4.2). `None` outside
    /// congestion avoidance and until its first ACK.
    epoch_start: Option<Instant>,
    /// cwnd_epoch, bytes: cwnd when the epoch began.
    cwnd_epoch: f64,
    /// W_est (4.3), bytes: the window Reno would have.
    w_est: f64,
    /// cwnd_prior (4.6), bytes: cwnd when ssthresh was last set.
    cwnd_prior: f64,
}

/// CUBIC's state, saved before each reduction for undo (RFC 9438 4.9).
#[derive(Debug, Clone, Copy)]
struct Saved {
    cwnd: usize,
    ssthresh: usize,
    curve: Curve,
}

/// The CUBIC controller of one connection (RFC 9438).
#[derive(Debug, Clone)]
pub struct Cubic {
    /// cwnd, bytes.
    cwnd: usize,
    /// The fraction of a byte of growth carried from one ACK to the next
    /// (the per-ACK increase in congestion avoidance is often below a byte).
    cwnd_frac: f64,
    /// ssthresh, bytes (`usize::MAX` until the first reduction).
    ssthresh: usize,
    /// The curve's variables (RFC 9438 4.1.2).
    c: Curve,
    /// The time up to which application-limited periods have been taken out
    /// of t (RFC 9438 4.2): the last ACK, or the restart after an idle spell.
    accounted_until: Option<Instant>,
    /// The smoothed RTT of the last ACK that had one (pacing).
    srtt: Option<Duration>,
    /// Between a congestion event and the end of its recovery.
    recovering: bool,
    /// A timeout fired and no ACK has delivered anything since: a further
    /// timeout is the same loss backing off, and ssthresh is held constant
    /// (RFC 5681 3.1).
    after_rto: bool,
    /// The state before the last reduction, until it is undone or replaced.
    saved: Option<Saved>,
    /// HyStart++ for the initial slow start (RFC 9438 4.10, RFC 9406).
    hystart: HyStart,
}

impl Cubic {
    /// Starts with `initial_cwnd` bytes (at least one `mss`) and an unbounded
    /// ssthresh (RFC 5681 3.1: "arbitrarily high").
    pub fn new(initial_cwnd: usize, mss: usize) -> Self {
        let mss = mss.max(1);
        Cubic {
            cwnd: initial_cwnd.clamp(mss.min(MAX_CWND), MAX_CWND),
            cwnd_frac: 0.0,
            ssthresh: usize::MAX,
            c: Curve::default(),
            accounted_until: None,
            srtt: None,
            recovering: false,
            after_rto: false,
            saved: None,
            hystart: HyStart::new(),
        }
    }

    /// W_max in bytes (zero while unset), for traces and tests.
    pub fn w_max(&self) -> usize {
        self.c.w_max as usize
    }

    /// K in seconds, for traces and tests.
    pub fn k(&self) -> f64 {
        self.c.k
    }

    /// RFC 9438 4.2, Figure 1: W_cubic(t) = C (t - K)^3 + W_max, evaluated in
    /// segments of `mss` and returned in bytes. `t` is in seconds.
    fn w_cubic(&self, t: f64, mss: usize) -> f64 {
        let mss = mss as f64;
        let d = t - self.c.k;
        C * d * d * d * mss + self.c.w_max
    }

    /// Begins a congestion-avoidance stage at `now` (RFC 9438 4.2).
    fn start_epoch(&mut self, now: Instant, mss: usize) {
        self.c.epoch_start = Some(now);
        self.c.cwnd_epoch = self.cwnd as f64;
        // RFC 9438 4.3: W_est starts at cwnd_epoch.
        self.c.w_est = self.c.cwnd_epoch;
        if self.c.w_max <= self.c.cwnd_epoch {
            // RFC 9438 4.8: after a timeout (W_max was cleared) the curve
            // starts here with K = 0 and W_max = cwnd_epoch. The same holds
            // before any loss and whenever the window already stands above
            // W_max (a spurious-loss undo, or slow start past it): the plateau
            // is behind us and the curve is convex from the start, as Linux
            // does for `last_max_cwnd <= cwnd`.
            self.c.w_max = self.c.cwnd_epoch;
            self.c.k = 0.0;
        } else {
            // RFC 9438 4.2, Figure 2: K = cubic_root((W_max - cwnd_epoch) / C),
            // in segments. After a plain reduction cwnd_epoch = beta W_max and
            // this is cubic_root(W_max (1 - beta) / C).
            let segments = (self.c.w_max - self.c.cwnd_epoch) / mss as f64;
            self.c.k = (segments / C).cbrt();
        }
        if !self.c.k.is_finite() {
            self.c.k = 0.0;
        }
    }

    /// Raises cwnd to `target` bytes (fractions carried), never lowers it,
    /// never past [`MAX_CWND`]; NaN is ignored.
    fn grow_to(&mut self, target: f64) {
        let current = self.cwnd as f64 + self.cwnd_frac;
        // NaN compares as unordered: no growth.
        if target.partial_cmp(&current) != Some(core::cmp::Ordering::Greater) {
            return;
        }
        let target = target.min(MAX_CWND as f64);
        let whole = target.floor();
        // `as` saturates; whole is finite and in [0, MAX_CWND] here.
        self.cwnd = (whole as usize).clamp(self.cwnd, MAX_CWND);
        self.cwnd_frac = if self.cwnd == MAX_CWND {
            0.0
        } else {
            (target - whole).clamp(0.0, 1.0)
        };
    }

    /// One ACK of `acked` bytes in congestion avoidance (RFC 9438 4.2-4.5).
    fn congestion_avoidance(&mut self, ack: &AckSample, acked: usize, mss: usize) {
        if self.c.epoch_start.is_none() {
            // RFC 9438 4.2: the epoch starts at the first ACK in congestion
            // avoidance, and t is measured from it.
            self.start_epoch(ack.now, mss);
        }
        let Some(epoch_start) = self.c.epoch_start else {
            return;
        };
        let t = ack.now.saturating_since(epoch_start).as_secs_f64();
        // RFC 9438 4.2: RTT is the smoothed RTT; before there is one, the
        // minimum, else nothing.
        let rtt = ack
            .srtt
            .or(ack.min_rtt)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64();
        let cwnd = self.cwnd as f64;
        let acked = acked as f64;

        // RFC 9438 4.3, Figure 4: W_est += alpha_cubic * segments_acked / cwnd
        // (segments), byte-counted: alpha * acked * mss / cwnd (bytes).
        // alpha_cubic becomes 1 once W_est has regained cwnd_prior, the
        // window at the last reduction (4.3: "SHOULD set alpha_cubic to 1").
        let alpha = if self.c.w_est >= self.c.cwnd_prior {
            1.0
        } else {
            ALPHA_CUBIC
        };
        self.c.w_est = (self.c.w_est + alpha * acked * mss as f64 / cwnd).min(MAX_CWND as f64);

        if self.w_cubic(t, mss) < self.c.w_est {
            // RFC 9438 4.3: Reno-friendly region, cwnd = W_est. (W_est
            // tracks cwnd from the epoch on, so this never lowers it; we
            // only ever grow on an ACK.)
            self.grow_to(self.c.w_est);
        } else {
            // RFC 9438 4.4 (concave, cwnd < W_max) and 4.5 (convex): target
            // = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd] ...
            let target = self
                .w_cubic(t + rtt, mss)
                .min(MAX_TARGET_RATIO * cwnd)
                .max(cwnd);
            // ... and cwnd += (target - cwnd) / cwnd per segment acked, in
            // bytes: (target - cwnd) * acked / cwnd. A stretch ACK may not
            // carry the window past the target.
            let grown = cwnd + (target - cwnd) * acked / cwnd;
            self.grow_to(grown.min(target));
        }
    }

    /// Moves the epoch forward by the time from `accounted_until` to `now`,
    /// which the application left the window unused (RFC 9438 4.2, 5.8); the
    /// epoch never moves past `now`.
    fn exclude_from_t(&mut self, now: Instant) {
        if let (Some(start), Some(since)) = (self.c.epoch_start, self.accounted_until) {
            let moved = start + now.saturating_since(since);
            self.c.epoch_start = Some(if moved > now { start.max(now) } else { moved });
        }
    }

    fn save(&mut self) {
        self.saved = Some(Saved {
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            curve: self.c,
        });
    }

    /// RFC 9438 4.6: ssthresh = max(cwnd * beta_cubic, 2 SMSS).
    ///
    /// RFC 9438 4.6 lets ssthresh follow flight_size or cwnd; like Linux we
    /// use cwnd, whose growth is already held back whenever the sender does
    /// not fill it (`AckSample::cwnd_limited`, RFC 7661), which is the
    /// condition 4.6 places on using cwnd.
    fn reduced(&self, mss: usize) -> usize {
        let reduced = (self.cwnd as u128 * BETA_NUM / BETA_DEN) as usize;
        reduced.max(mss.saturating_mul(2)).min(MAX_CWND)
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn pacing_rate(&self) -> Option<u64> {
        window_pacing_rate(self.cwnd, self.ssthresh, self.srtt)
    }

    fn on_send(&mut self, now: Instant, _bytes: usize, in_flight: usize, _app_limited: bool) {
        // RFC 9438 4.2, 5.8: sending with nothing in flight ends an idle
        // spell, which produced no ACKs to notice it; it is no part of t (as
        // Linux `CA_EVENT_TX_START`).
        if in_flight == 0 {
            self.exclude_from_t(now);
            self.accounted_until = Some(now);
        }
    }

    fn on_ack(&mut self, ack: &AckSample) {
        if ack.srtt.is_some() {
            self.srtt = ack.srtt;
        }
        let mss = ack.mss.max(1);
        if ack.delivered > 0 {
            self.after_rto = false;
        }
        // RFC 9438 4.2: "t ... MUST NOT include periods during which cwnd
        // has not been updated due to application-limited behavior" (5.8):
        // an ACK that finds the window unused moves the epoch forward by the
        // time since the previous ACK.
        if !ack.cwnd_limited {
            self.exclude_from_t(ack.now);
        }
        self.accounted_until = Some(ack.now);

        // RFC 9438 4.10 and RFC 9406 4.3: HyStart++ in the initial slow start
        // only (ssthresh still unset); it watches every ACK of it.
        let phase = if self.ssthresh == usize::MAX && self.hystart.active() {
            self.hystart.on_ack(ack)
        } else {
            Phase::SlowStart
        };
        if phase == Phase::Exit {
            // RFC 9406 4.2: CSS ran CSS_ROUNDS rounds; ssthresh = cwnd, and
            // congestion avoidance starts its curve here (K = 0, 4.8's rule,
            // as W_max is unset).
            self.ssthresh = self.cwnd.max(mss.saturating_mul(2));
        }

        // RFC 6582 3.2: no growth during recovery; RFC 9438 5.8 and RFC 7661
        // 4.1: none while the application leaves the window unused.
        if ack.in_recovery || !ack.cwnd_limited || ack.delivered == 0 {
            return;
        }
        let mut acked = ack.delivered;
        if self.cwnd < self.ssthresh {
            // RFC 9438 4.10 defers to RFC 5681 3.1 eq. 2, with RFC 3465
            // byte counting and L = 2: at most two segments per ACK, and not
            // past ssthresh. What this ACK acknowledged beyond ssthresh
            // counts toward congestion avoidance. (RFC 9406 allows L = 8, or
            // none when paced; we keep NewReno's 2.)
            let room = self.ssthresh - self.cwnd;
            let mut inc = acked.min(mss.saturating_mul(2));
            if phase == Phase::Conservative {
                // RFC 9406 4.2: CSS grows by a quarter as much.
                inc /= CSS_GROWTH_DIVISOR;
            }
            let inc = inc.min(room);
            self.cwnd = self.cwnd.saturating_add(inc).min(MAX_CWND);
            if self.cwnd < self.ssthresh || acked <= inc {
                return;
            }
            acked -= inc;
        }
        self.congestion_avoidance(ack, acked, mss);
    }

    fn on_congestion_event(&mut self, _now: Instant, _flight: usize, mss: usize) {
        let mss = mss.max(1);
        self.save();
        // RFC 9406 4.3: a loss ends HyStart++.
        self.hystart.on_loss();
        let cwnd = self.cwnd as f64;
        // RFC 9438 4.7, fast convergence: a loss before the window regained
        // the previous W_max means another flow has come; release bandwidth
        // faster by remembering less.
        self.c.w_max = if cwnd < self.c.w_max {
            cwnd * FAST_CONVERGENCE
        } else {
            cwnd
        };
        // RFC 9438 4.6: cwnd_prior = cwnd; ssthresh = max(cwnd * beta_cubic,
        // 2 SMSS); cwnd = max(ssthresh, 2 SMSS) (= ssthresh).
        self.c.cwnd_prior = cwnd;
        self.ssthresh = self.reduced(mss);
        self.cwnd = self.ssthresh;
        self.cwnd_frac = 0.0;
        // RFC 9438 4.2: the next epoch starts at the first ACK in congestion
        // avoidance after recovery.
        self.c.epoch_start = None;
        self.recovering = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        // The window was set to ssthresh when recovery began and did not grow
        // during it; there is nothing to deflate (and after an undo, nothing
        // to lower).
        self.recovering = false;
    }

    fn on_rto(&mut self, _now: Instant, _flight: usize, mss: usize) {
        let mss = mss.max(1);
        self.hystart.on_loss();
        // RFC 9438 4.8: ssthresh as in 4.6. Not again when this timeout
        // follows another with nothing delivered in between (RFC 5681 3.1:
        // ssthresh is held constant while the same segment backs off), nor
        // when the window was already reduced for the loss episode under way
        // (as Linux `tcp_enter_loss`).
        if !self.after_rto && !self.recovering {
            self.save();
            self.c.cwnd_prior = self.cwnd as f64;
            self.ssthresh = self.reduced(mss);
        }
        // RFC 9438 4.8: the next congestion-avoidance stage starts its curve
        // at its own cwnd with K = 0 (see `start_epoch`).
        self.c.w_max = 0.0;
        self.c.k = 0.0;
        self.c.epoch_start = None;
        // RFC 5681 3.1: the loss window is one segment.
        self.cwnd = mss.min(MAX_CWND);
        self.cwnd_frac = 0.0;
        // A timeout ends fast recovery; the connection does go-back-N.
        self.recovering = false;
        self.after_rto = true;
    }

    fn on_spurious_loss(&mut self, _now: Instant) {
        // RFC 9438 4.9: restore the state from before the reduction, unless
        // the window has meanwhile grown past what it was then; then the
        // current state is the better one. Only the last reduction can be
        // undone, and only once.
        let Some(s) = self.saved.take() else {
            return;
        };
        self.after_rto = false;
        if self.cwnd >= s.cwnd {
            return;
        }
        self.cwnd = s.cwnd;
        self.cwnd_frac = 0.0;
        self.ssthresh = s.ssthresh;
        self.c = s.curve;
    }

    fn name(&self) -> &'static str {
        "cubic"
    }

    fn state(&self) -> &'static str {
        super::window_state(self.recovering, self.cwnd, self.ssthresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const RTT: Duration = Duration::from_millis(100);

    fn segs(n: usize) -> usize {
        n * MSS
    }

    /// An ACK of `delivered` bytes at `now` with an srtt of [`RTT`].
    fn ack(now: Instant, delivered: usize) -> AckSample {
        AckSample {
            delivered,
            mss: MSS,
            srtt: Some(RTT),
            min_rtt: Some(RTT),
            cwnd_limited: true,
            ..AckSample::at(now)
        }
    }

    /// Drives whole round trips of `rtt` from `start`: in each, one ACK per
    /// segment of the window, spread evenly over the round. Returns, per
    /// round, the time of its first ACK and cwnd in segments after it.
    fn rounds(c: &mut Cubic, start: Instant, rtt: Duration, n: usize) -> Vec<(Instant, f64)> {
        let mut out = Vec::with_capacity(n);
        let mut round_start = start;
        for _ in 0..n {
            let acks = (c.cwnd() / MSS).max(1);
            for i in 0..acks {
                let now = round_start + rtt.mul_ratio(i as u64, acks as u64);
                c.on_ack(&AckSample {
                    srtt: Some(rtt),
                    min_rtt: Some(rtt),
                    ..ack(now, MSS)
                });
                if i == 0 {
                    out.push((now, c.cwnd() as f64 / MSS as f64));
                }
            }
            round_start += rtt;
        }
        out
    }

    /// A controller in congestion avoidance at `w` segments that has just
    /// taken a loss there and left recovery at time zero.
    fn after_loss_at(w: usize) -> Cubic {
        let mut c = Cubic::new(segs(w), MSS);
        c.on_congestion_event(Instant::ZERO, segs(w), MSS);
        c.on_recovery_exit(Instant::ZERO);
        c
    }

    /// W_cubic(t) in segments for a given W_max (segments) and K (RFC 9438
    /// Figure 1), independent of the code under test.
    fn curve(t: f64, w_max: f64, k: f64) -> f64 {
        0.4 * (t - k).powi(3) + w_max
    }

    #[test]
    fn slow_start_doubles_the_window_per_round_trip() {
        let mut c = Cubic::new(segs(10), MSS);
        let r = rounds(&mut c, Instant::ZERO, RTT, 4);
        assert_eq!(c.cwnd(), segs(160));
        assert_eq!(r[1].1, 21.0, "after the first ACK of the second round");
        assert_eq!(c.state(), "slow_start");
        assert_eq!(c.ssthresh(), usize::MAX);
    }

    #[test]
    fn slow_start_counts_at_most_two_segments_per_ack() {
        let mut c = Cubic::new(segs(10), MSS);
        c.on_ack(&ack(Instant::ZERO, segs(5)));
        assert_eq!(c.cwnd(), segs(12));
    }

    #[test]
    fn a_congestion_event_applies_beta_0_7_to_cwnd_and_ssthresh() {
        let mut c = Cubic::new(segs(100), MSS);
        c.on_congestion_event(Instant::ZERO, segs(100), MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (segs(70), segs(70)));
        assert_eq!(c.w_max(), segs(100), "first loss: W_max = cwnd (4.7)");
        assert_eq!(c.state(), "recovery");
        c.on_recovery_exit(Instant::ZERO);
        assert_eq!(c.cwnd(), segs(70));
        assert_eq!(c.state(), "congestion_avoidance");
    }

    #[test]
    fn a_congestion_event_keeps_ssthresh_at_two_segments_at_least() {
        let mut c = Cubic::new(segs(2), MSS);
        c.on_congestion_event(Instant::ZERO, segs(2), MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (segs(2), segs(2)));
    }

    #[test]
    fn k_matches_equation_2() {
        let mut c = after_loss_at(100);
        c.on_ack(&ack(Instant::ZERO, MSS));
        // K = cubic_root(W_max (1 - beta) / C) = cubic_root(100 * 0.3 / 0.4).
        let expected = (100.0 * 0.3_f64 / 0.4).cbrt();
        assert!((c.k() - expected).abs() < 1e-9, "K = {}", c.k());
    }

    #[test]
    fn after_a_loss_the_window_follows_the_cubic_curve() {
        // W_max = 1000 segments, RTT 100 ms: K = cbrt(750) = 9.09 s, and
        // Reno (W_est, +0.53 segment per RTT from 700) stays far below.
        let w_max = 1000.0;
        let k = (w_max * 0.3_f64 / 0.4).cbrt();
        let mut c = after_loss_at(1000);
        let r = rounds(&mut c, Instant::ZERO, RTT, 160);
        let epoch = r[0].0;
        let at = |secs: f64| -> f64 {
            r.iter()
                .find(|(now, _)| now.saturating_since(epoch).as_secs_f64() >= secs - 1e-9)
                .map_or(f64::NAN, |&(_, w)| w)
        };
        // Tolerance: 2 segments (0.2% of W_max). Each ACK aims at the curve
        // one RTT ahead, W_cubic(t + RTT), and closes (target - cwnd) / cwnd
        // of the gap per segment, so over a round the window arrives at the
        // curve; at the start of each round it sits on W_cubic(t), a little
        // below (measured: at most 1 segment) because each round's
        // increments are spread over a window that itself grows.
        for (i, &(now, w)) in r.iter().enumerate() {
            let t = now.saturating_since(epoch).as_secs_f64();
            let expected = curve(t, w_max, k);
            assert!(
                (w - expected).abs() <= 2.0,
                "round {i}, t = {t:.2} s: cwnd {w:.1} segments, W_cubic {expected:.1}"
            );
        }
        // Concave: fast at first, slower and slower toward W_max.
        let (g1, g2) = (at(2.0) - at(0.0), at(6.0) - at(4.0));
        assert!(g1 > 3.0 * g2, "concave: {g1:.1} then {g2:.1}");
        // Reaches W_max at about t = K and plateaus around it.
        let w_k = at(k);
        assert!(
            (w_k - w_max).abs() <= 0.01 * w_max,
            "cwnd {w_k:.1} at K = {k:.2} s"
        );
        let plateau = at(k + 1.0) - at(k - 1.0);
        assert!(plateau < 5.0, "grew {plateau:.1} segments over K +- 1 s");
        // Convex beyond it: growth accelerates.
        let (g3, g4, g5) = (
            at(k + 2.0) - at(k),
            at(k + 4.0) - at(k + 2.0),
            at(k + 6.0) - at(k + 4.0),
        );
        assert!(g3 < g4 && g4 < g5, "convex: {g3:.1}, {g4:.1}, {g5:.1}");
        assert!(at(k + 6.0) > w_max + 80.0);
    }

    #[test]
    fn the_reno_friendly_region_governs_on_short_rtts_and_small_windows() {
        // 10 segments, 1 ms RTT: K is 1.96 s, almost two thousand round
        // trips, while Reno adds alpha_cubic = 0.53 segment per round trip.
        let rtt = Duration::from_millis(1);
        let mut c = after_loss_at(10);
        let r = rounds(&mut c, Instant::ZERO, rtt, 40);
        let k = (10.0 * 0.3_f64 / 0.4).cbrt();
        let epoch = r[0].0;
        // 7 segments + 0.53 per round trip until W_est regains cwnd_prior
        // (10 segments, after ~6 rounds), then one per round trip (4.3).
        let (t5, w5) = r[5];
        assert!((w5 - (7.0 + 5.0 * ALPHA_CUBIC)).abs() < 0.5, "w5 = {w5}");
        let t = t5.saturating_since(epoch).as_secs_f64();
        assert!(w5 > curve(t, 10.0, k) + 2.0, "above the cubic curve");
        let (t35, w35) = (r[35].0, r[35].1);
        let per_round = (w35 - r[15].1) / 20.0;
        assert!((per_round - 1.0).abs() < 0.1, "{per_round} segments/RTT");
        let t = t35.saturating_since(epoch).as_secs_f64();
        assert!(t < k && w35 > 30.0, "far above W_max = 10 before K");
    }

    #[test]
    fn fast_convergence_lowers_w_max_when_losses_come_before_the_previous_w_max() {
        let mut c = after_loss_at(100);
        assert_eq!(c.w_max(), segs(100));
        // Another loss at 70 segments, below W_max = 100.
        c.on_congestion_event(Instant::from_millis(10), segs(70), MSS);
        // W_max = 70 * (1 + 0.7) / 2 = 59.5 segments; cwnd = 49.
        assert_eq!(c.w_max(), 59_500);
        assert_eq!(c.cwnd(), segs(49));
        c.on_recovery_exit(Instant::from_millis(10));
        c.on_ack(&ack(Instant::from_millis(20), MSS));
        // RFC 9438 Figure 2: K = cbrt((W_max - cwnd_epoch) / C).
        let expected = ((59.5 - 49.0) / 0.4_f64).cbrt();
        assert!((c.k() - expected).abs() < 1e-9, "K = {}", c.k());
        // A loss above W_max sets W_max to the window itself.
        let mut c = after_loss_at(100);
        rounds(&mut c, Instant::ZERO, RTT, 120);
        let w = c.cwnd();
        assert!(w > segs(100));
        c.on_congestion_event(Instant::from_millis(20000), w, MSS);
        assert_eq!(c.w_max(), w);
    }

    #[test]
    fn rto_collapses_to_one_mss_with_ssthresh_per_section_4_6() {
        let mut c = after_loss_at(200);
        rounds(&mut c, Instant::ZERO, RTT, 2);
        let w = c.cwnd();
        c.on_rto(Instant::from_millis(1000), w, MSS);
        assert_eq!(c.cwnd(), MSS);
        assert_eq!(c.ssthresh(), w * 7 / 10);
        assert_eq!(c.state(), "slow_start");
        // The timer backs off and fires again before anything is delivered:
        // ssthresh stays (RFC 5681 3.1).
        c.on_rto(Instant::from_millis(2000), MSS, MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, w * 7 / 10));
        // Slow start back to ssthresh; the epoch after a timeout starts the
        // curve at cwnd_epoch with K = 0 (4.8).
        let r = rounds(&mut c, Instant::from_millis(3000), RTT, 10);
        assert!(r.iter().any(|&(_, w)| w > 100.0));
        assert!(c.cwnd() >= c.ssthresh());
        assert_eq!(c.k(), 0.0);
        assert!(c.w_max() >= w * 7 / 10 && c.w_max() <= c.cwnd());
    }

    #[test]
    fn an_rto_during_recovery_does_not_reduce_ssthresh_twice() {
        let mut c = after_loss_at(100);
        c.on_congestion_event(Instant::ZERO, segs(100), MSS);
        let ssthresh = c.ssthresh();
        c.on_rto(Instant::from_millis(1000), segs(49), MSS);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, ssthresh));
        assert_eq!(c.state(), "slow_start", "a timeout ends recovery");
    }

    #[test]
    fn no_growth_when_the_window_is_not_used_or_in_recovery() {
        for cwnd in [segs(10), segs(100)] {
            let mut c = Cubic::new(cwnd, MSS);
            if cwnd > segs(10) {
                c.on_congestion_event(Instant::ZERO, cwnd, MSS);
                c.on_recovery_exit(Instant::ZERO);
            }
            let before = c.cwnd();
            for i in 0..100 {
                let now = Instant::from_millis(i * 10);
                c.on_ack(&AckSample {
                    cwnd_limited: false,
                    ..ack(now, MSS)
                });
                c.on_ack(&AckSample {
                    in_recovery: true,
                    ..ack(now, MSS)
                });
                c.on_ack(&ack(now, 0));
            }
            assert_eq!(c.cwnd(), before);
        }
    }

    #[test]
    fn application_limited_time_is_not_part_of_t() {
        let mut busy = after_loss_at(100);
        let mut idle = after_loss_at(100);
        busy.on_ack(&ack(Instant::ZERO, MSS));
        idle.on_ack(&ack(Instant::ZERO, MSS));
        // The idle sender leaves its window unused for five seconds.
        idle.on_ack(&AckSample {
            cwnd_limited: false,
            ..ack(Instant::from_millis(5000), MSS)
        });
        let r_busy = rounds(&mut busy, Instant::from_millis(100), RTT, 20);
        let r_idle = rounds(&mut idle, Instant::from_millis(5100), RTT, 20);
        assert_eq!(r_busy.last().map(|r| r.1), r_idle.last().map(|r| r.1));
        assert_eq!(busy.cwnd(), idle.cwnd());
    }

    #[test]
    fn idle_time_before_a_restart_is_not_part_of_t() {
        let mut busy = after_loss_at(100);
        let mut idle = after_loss_at(100);
        busy.on_ack(&ack(Instant::ZERO, MSS));
        idle.on_ack(&ack(Instant::ZERO, MSS));
        // Everything acknowledged; the idle sender sends again ten seconds
        // later, with nothing in flight.
        busy.on_send(Instant::from_millis(100), MSS, 0, false);
        idle.on_send(Instant::from_millis(10_100), MSS, 0, false);
        let r_busy = rounds(&mut busy, Instant::from_millis(100), RTT, 20);
        let r_idle = rounds(&mut idle, Instant::from_millis(10_100), RTT, 20);
        assert_eq!(r_busy.last().map(|r| r.1), r_idle.last().map(|r| r.1));
        assert_eq!(busy.cwnd(), idle.cwnd());
        // A send with data in flight is no restart: t runs on, and a round
        // at t = 5 s climbs far more than one at t = 0.1 s.
        let mut early = after_loss_at(100);
        let mut late = after_loss_at(100);
        early.on_ack(&ack(Instant::ZERO, MSS));
        late.on_ack(&ack(Instant::ZERO, MSS));
        late.on_send(Instant::from_millis(5_000), MSS, segs(10), false);
        rounds(&mut early, Instant::from_millis(100), RTT, 1);
        rounds(&mut late, Instant::from_millis(5_000), RTT, 1);
        assert!(
            late.cwnd() > early.cwnd() + segs(10),
            "{} vs {}",
            late.cwnd(),
            early.cwnd()
        );
    }

    #[test]
    fn spurious_loss_undo_restores_the_pre_loss_window() {
        let mut c = after_loss_at(100);
        rounds(&mut c, Instant::ZERO, RTT, 30);
        let (cwnd, ssthresh, w_max, k) = (c.cwnd(), c.ssthresh(), c.w_max(), c.k());
        c.on_congestion_event(Instant::from_millis(3000), cwnd, MSS);
        assert!(c.cwnd() < cwnd);
        c.on_spurious_loss(Instant::from_millis(3000));
        assert_eq!((c.cwnd(), c.ssthresh(), c.w_max()), (cwnd, ssthresh, w_max));
        assert_eq!(c.k(), k);
        // The epoch is the old one: the next ACK continues the same curve
        // rather than starting a new one.
        let before = c.cwnd();
        c.on_ack(&ack(Instant::from_millis(3000), MSS));
        assert!(c.cwnd() >= before && c.cwnd() <= before + MSS);
        assert_eq!(c.k(), k);
        // Only once.
        c.on_congestion_event(Instant::from_millis(4000), c.cwnd(), MSS);
        c.on_spurious_loss(Instant::from_millis(4000));
        let undone = c.cwnd();
        c.on_spurious_loss(Instant::from_millis(4000));
        assert_eq!(c.cwnd(), undone);

        // A spurious timeout too.
        let mut c = after_loss_at(100);
        rounds(&mut c, Instant::ZERO, RTT, 5);
        let (cwnd, ssthresh) = (c.cwnd(), c.ssthresh());
        c.on_rto(Instant::from_millis(1000), cwnd, MSS);
        c.on_spurious_loss(Instant::from_millis(1000));
        assert_eq!((c.cwnd(), c.ssthresh()), (cwnd, ssthresh));
    }

    #[test]
    fn spurious_loss_detected_after_the_window_regrew_keeps_the_current_state() {
        let mut c = Cubic::new(segs(10), MSS);
        c.on_congestion_event(Instant::ZERO, segs(10), MSS);
        c.on_recovery_exit(Instant::ZERO);
        rounds(&mut c, Instant::ZERO, Duration::from_millis(1), 20);
        let (cwnd, ssthresh) = (c.cwnd(), c.ssthresh());
        assert!(cwnd > segs(10));
        c.on_spurious_loss(Instant::from_millis(1000));
        assert_eq!((c.cwnd(), c.ssthresh()), (cwnd, ssthresh));
    }

    #[test]
    fn pacing_rate_is_2x_cwnd_over_srtt_in_slow_start_and_1_2x_after() {
        let mut c = Cubic::new(segs(10), MSS);
        assert_eq!(c.pacing_rate(), None, "no RTT yet");
        c.on_ack(&ack(Instant::ZERO, MSS));
        // 11 segments over 100 ms, doubled.
        assert_eq!(c.pacing_rate(), Some(2 * 11_000 * 10));
        c.on_congestion_event(Instant::ZERO, segs(11), MSS);
        assert_eq!(c.cwnd(), 7_700);
        assert_eq!(c.pacing_rate(), Some(7_700 * 12));
        // An ACK without an srtt keeps the last one.
        c.on_ack(&AckSample {
            srtt: None,
            ..ack(Instant::ZERO, 0)
        });
        assert_eq!(c.pacing_rate(), Some(7_700 * 12));
    }

    #[test]
    fn hostile_inputs_never_panic_and_keep_the_window_sane() {
        let times = [
            Instant::ZERO,
            Instant::from_millis(1000),
            Instant::NEVER,
            Instant::from_millis(3),
        ];
        let sizes = [0, 1, 7, 1448, 65_535, usize::MAX / 3, usize::MAX];
        let durations = [None, Some(Duration::ZERO), Some(Duration::MAX), Some(RTT)];
        for &mss in &sizes {
            let mut c = Cubic::new(mss, mss);
            for (i, &now) in times.iter().cycle().take(64).enumerate() {
                let size = sizes[i % sizes.len()];
                let rtt = durations[i % durations.len()];
                c.on_ack(&AckSample {
                    delivered: size,
                    mss: sizes[(i / 3) % sizes.len()],
                    srtt: rtt,
                    min_rtt: durations[(i / 2) % durations.len()],
                    in_recovery: i % 11 == 0,
                    cwnd_limited: i % 5 != 0,
                    ..AckSample::at(now)
                });
                match i % 9 {
                    0 => c.on_congestion_event(now, size, mss),
                    1 => c.on_recovery_exit(now),
                    2 => c.on_rto(now, size, sizes[i % 3]),
                    3 => c.on_spurious_loss(now),
                    _ => {}
                }
                assert!(c.cwnd() >= 1 && c.cwnd() <= MAX_CWND, "{c:?}");
                assert!(c.ssthresh() >= 2 || c.ssthresh() == usize::MAX);
                assert!(c.k().is_finite() && c.w_max() <= MAX_CWND);
                if let Some(rate) = c.pacing_rate() {
                    assert!(rate > 0);
                }
            }
        }
    }

    /// Slow-start rounds with delivery-rate samples (so HyStart++ can count
    /// rounds): one ACK per segment of the window, each with `rtt_ms`.
    fn sampled_round(c: &mut Cubic, delivered: &mut u64, rtt_ms: u64) {
        let prior = *delivered;
        for _ in 0..(c.cwnd() / MSS).max(1) {
            *delivered += MSS as u64;
            c.on_ack(&AckSample {
                rtt: Some(Duration::from_millis(rtt_ms)),
                rate: crate::cc::RateSample {
                    prior_delivered: prior,
                    delivered: *delivered - prior,
                    ..Default::default()
                },
                ..ack(Instant::ZERO, MSS)
            });
        }
    }

    #[test]
    fn hystart_css_quarters_growth_then_ends_slow_start_without_a_loss() {
        let mut c = Cubic::new(segs(10), MSS);
        let mut delivered = 0;
        sampled_round(&mut c, &mut delivered, 100);
        sampled_round(&mut c, &mut delivered, 100);
        assert_eq!(c.cwnd(), segs(40), "two rounds of plain slow start");
        // The queue builds: RTT +20 ms. From the eighth ACK of the round,
        // conservative slow start: a quarter segment per segment acked.
        sampled_round(&mut c, &mut delivered, 120);
        assert_eq!(c.cwnd(), segs(40 + 7) + 33 * MSS / 4);
        assert_eq!(c.state(), "slow_start");
        for _ in 0..4 {
            sampled_round(&mut c, &mut delivered, 120);
        }
        assert_eq!(c.ssthresh(), usize::MAX, "CSS for four more rounds");
        // The fifth CSS round boundary ends slow start at the window there.
        sampled_round(&mut c, &mut delivered, 120);
        assert_ne!(c.ssthresh(), usize::MAX);
        assert!(c.ssthresh() < segs(200), "far less than doubling: {c:?}");
        assert_eq!(c.state(), "congestion_avoidance");
        // Congestion avoidance starts the curve at its own window (K = 0).
        assert_eq!(c.k(), 0.0);
        assert_eq!(c.w_max(), c.ssthresh());
    }

    #[test]
    fn hystart_css_resumes_slow_start_when_the_rtt_falls_back() {
        let mut c = Cubic::new(segs(10), MSS);
        let mut delivered = 0;
        sampled_round(&mut c, &mut delivered, 100);
        sampled_round(&mut c, &mut delivered, 120);
        let before = c.cwnd();
        sampled_round(&mut c, &mut delivered, 100);
        let acks = before / MSS;
        // Seven ACKs in CSS before eight samples show the fall, then full
        // slow start again.
        assert_eq!(c.cwnd(), before + 7 * MSS / 4 + (acks - 7) * MSS);
    }

    #[test]
    fn hystart_runs_only_in_the_first_slow_start() {
        let mut c = Cubic::new(segs(100), MSS);
        c.on_rto(Instant::ZERO, segs(100), MSS);
        let mut delivered = 0;
        for rtt in [100, 100, 150, 200] {
            sampled_round(&mut c, &mut delivered, rtt);
        }
        // 1 -> 2 -> 4 -> 8 -> 16 segments: slow start undisturbed by the RTT.
        assert_eq!(c.cwnd(), segs(16));
    }
}
