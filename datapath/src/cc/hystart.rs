//! HyStart++ (RFC 9406): leaving the first slow start before it overshoots.
//!
//! Slow start doubles the window every round trip until a loss; by then the
//! window is often twice what the path holds, and the loss burst costs a
//! long recovery. HyStart++ watches the minimum RTT of each round: when it
//! rises by more than a threshold (the queue is filling), growth drops to a
//! quarter (Conservative Slow Start, CSS). If the RTT falls back, the rise
//! was noise and slow start resumes; if CSS lasts [`CSS_ROUNDS`] rounds, slow
//! start ends there.
//!
//! This module owns only the decision: rounds, RTT minima and the phase. The
//! controller asks it on each slow-start ACK how to grow. Rounds are counted
//! with the delivery-rate sample (a round ends when a segment sent after the
//! previous round's end is delivered, as BBR counts them), so an ACK without
//! a sample cannot end a round; without samples, HyStart++ never gathers
//! [`N_RTT_SAMPLE`] RTTs in a round and plain slow start runs.
//!
//! RFC 9406 4.3: it is used only in the initial slow start (ssthresh still
//! unset); later slow starts stop at the ssthresh a loss discovered. A loss
//! ends it for good.

use crate::cc::AckSample;
use crate::time::Duration;

/// RFC 9406 4.3: MIN_RTT_THRESH = 4 ms, the smallest RTT rise that counts.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 4.3: MAX_RTT_THRESH = 16 ms, the largest rise ever required.
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 4.3: MIN_RTT_DIVISOR = 8: the rise must exceed an eighth of the
/// last round's minimum RTT (within the bounds above).
const MIN_RTT_DIVISOR: u64 = 8;
/// RFC 9406 4.3: N_RTT_SAMPLE = 8 RTT samples in a round before deciding.
pub const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 4.3: CSS_GROWTH_DIVISOR = 4: CSS grows a quarter as fast.
pub const CSS_GROWTH_DIVISOR: usize = 4;
/// RFC 9406 4.3: CSS_ROUNDS = 5 rounds of CSS end slow start.
pub const CSS_ROUNDS: u32 = 5;

/// How slow start is to grow on this ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Standard slow start.
    SlowStart,
    /// Conservative slow start: growth divided by [`CSS_GROWTH_DIVISOR`].
    Conservative,
    /// Slow start is over: set ssthresh to cwnd (RFC 9406 4.2) and go on in
    /// congestion avoidance.
    Exit,
}

/// HyStart++ state of one connection.
#[derive(Debug, Clone)]
pub struct HyStart {
    /// C.delivered (bytes) at which the current round ends.
    next_round_delivered: u64,
    /// lastRoundMinRTT.
    last_round_min_rtt: Option<Duration>,
    /// currentRoundMinRTT.
    current_round_min_rtt: Option<Duration>,
    /// rttSampleCount.
    rtt_sample_count: u32,
    /// In CSS: cssBaselineMinRtt and the round boundaries crossed since.
    css: Option<(Duration, u32)>,
    /// HyStart++ has ended (a loss, or CSS ran its course).
    done: bool,
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart::new()
    }
}

impl HyStart {
    pub fn new() -> HyStart {
        HyStart {
            next_round_delivered: 0,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_sample_count: 0,
            css: None,
            done: false,
        }
    }

    /// Whether HyStart++ still runs.
    pub fn active(&self) -> bool {
        !self.done
    }

    /// Whether it is in conservative slow start.
    pub fn in_css(&self) -> bool {
        !self.done && self.css.is_some()
    }

    /// A loss or timeout: HyStart++ is over (RFC 9406 4.3, 4.4).
    pub fn on_loss(&mut self) {
        self.done = true;
        self.css = None;
    }

    /// An ACK in the initial slow start: track rounds and RTTs and say how
    /// to grow (RFC 9406 4.2).
    pub fn on_ack(&mut self, ack: &AckSample) -> Phase {
        if self.done {
            return Phase::SlowStart;
        }
        let rs = &ack.rate;
        if rs.delivered > 0 && rs.prior_delivered >= self.next_round_delivered {
            // A new round: C.delivered now is where it will end.
            self.next_round_delivered = rs.prior_delivered.saturating_add(rs.delivered);
            self.last_round_min_rtt = self.current_round_min_rtt;
            self.current_round_min_rtt = None;
            self.rtt_sample_count = 0;
            if let Some((_, rounds)) = &mut self.css {
                // The round in which CSS began counts as its first.
                *rounds += 1;
            }
        }
        if let Some(rtt) = ack.rtt {
            self.current_round_min_rtt =
                Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        }
        if self.rtt_sample_count >= N_RTT_SAMPLE
            && let (Some(current), Some(last)) =
                (self.current_round_min_rtt, self.last_round_min_rtt)
        {
            match self.css {
                None => {
                    // RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT /
                    // MIN_RTT_DIVISOR, MAX_RTT_THRESH)).
                    let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if current >= last + thresh {
                        self.css = Some((current, 0));
                    }
                }
                Some((baseline, _)) => {
                    if current < baseline {
                        // The rise was spurious: resume slow start.
                        self.css = None;
                    }
                }
            }
        }
        match self.css {
            Some((_, rounds)) if rounds >= CSS_ROUNDS => {
                self.done = true;
                self.css = None;
                Phase::Exit
            }
            Some(_) => Phase::Conservative,
            None => Phase::SlowStart,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cc::RateSample;
    use crate::time::Instant;

    const MSS: usize = 1000;

    /// Feeds rounds of `acks` ACKs, each with an RTT from `rtts`, and the
    /// rate samples a real sampler would give (segments of a round sent when
    /// the previous round was delivered). Returns the phase after each ACK.
    struct Rounds {
        h: HyStart,
        delivered: u64,
    }

    impl Rounds {
        fn new() -> Rounds {
            Rounds {
                h: HyStart::new(),
                delivered: 0,
            }
        }

        fn round(&mut self, acks: usize, rtt_ms: u64) -> Vec<Phase> {
            let prior = self.delivered;
            (0..acks)
                .map(|_| {
                    self.delivered += MSS as u64;
                    self.h.on_ack(&AckSample {
                        delivered: MSS,
                        rtt: Some(Duration::from_millis(rtt_ms)),
                        rate: RateSample {
                            prior_delivered: prior,
                            delivered: self.delivered - prior,
                            ..RateSample::default()
                        },
                        ..AckSample::at(Instant::ZERO)
                    })
                })
                .collect()
        }
    }

    #[test]
    fn a_round_min_rtt_rise_past_the_threshold_enters_css() {
        let mut r = Rounds::new();
        for _ in 0..3 {
            assert!(r.round(10, 100).iter().all(|&p| p == Phase::SlowStart));
        }
        // 100 ms last round: threshold 12.5 ms; 113 ms crosses it once eight
        // samples of the round are in.
        let p = r.round(10, 113);
        assert_eq!(p[6], Phase::SlowStart, "seven samples are not enough");
        assert_eq!(p[7], Phase::Conservative);
        assert!(r.h.in_css());
    }

    #[test]
    fn a_rise_below_the_threshold_does_not() {
        let mut r = Rounds::new();
        r.round(10, 100);
        assert!(r.round(10, 112).iter().all(|&p| p == Phase::SlowStart));
        // Small RTTs: the 4 ms floor applies (an eighth of 10 ms is 1.25).
        let mut r = Rounds::new();
        r.round(10, 10);
        assert!(r.round(10, 13).iter().all(|&p| p == Phase::SlowStart));
        assert_eq!(r.round(10, 18)[7], Phase::Conservative);
        // Large RTTs: the 16 ms cap applies (an eighth of 400 ms is 50).
        let mut r = Rounds::new();
        r.round(10, 400);
        assert_eq!(r.round(10, 416)[7], Phase::Conservative);
    }

    #[test]
    fn css_returns_to_slow_start_when_the_rtt_falls_below_its_baseline() {
        let mut r = Rounds::new();
        r.round(10, 100);
        r.round(10, 120);
        assert!(r.h.in_css());
        let p = r.round(10, 100);
        assert_eq!(p[7], Phase::SlowStart);
        assert!(!r.h.in_css() && r.h.active());
    }

    #[test]
    fn css_rounds_end_slow_start() {
        let mut r = Rounds::new();
        r.round(10, 100);
        r.round(10, 120); // CSS from its eighth ACK: round 1 of CSS
        let mut phases = Vec::new();
        for _ in 0..CSS_ROUNDS {
            phases.extend(r.round(10, 120));
        }
        // Four more full rounds in CSS, then the first ACK of the fifth
        // boundary exits.
        assert!(phases[..40].iter().all(|&p| p == Phase::Conservative));
        assert_eq!(phases[40], Phase::Exit);
        assert!(!r.h.active());
        assert!(r.round(10, 300).iter().all(|&p| p == Phase::SlowStart));
    }

    #[test]
    fn without_rate_samples_no_round_gathers_enough_rtts() {
        let mut h = HyStart::new();
        for i in 0..200u64 {
            let p = h.on_ack(&AckSample {
                delivered: MSS,
                rtt: Some(Duration::from_millis(100 + i)),
                ..AckSample::at(Instant::ZERO)
            });
            assert_eq!(p, Phase::SlowStart);
        }
    }

    #[test]
    fn a_loss_ends_hystart() {
        let mut r = Rounds::new();
        r.round(10, 100);
        r.round(10, 120);
        r.h.on_loss();
        assert!(!r.h.active() && !r.h.in_css());
        assert!(r.round(10, 200).iter().all(|&p| p == Phase::SlowStart));
    }
}
