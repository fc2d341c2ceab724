//! Round-trip time estimation and the retransmission timeout, per RFC 6298.
//!
//! Owns the smoothed RTT, the RTT variation, the current RTO with its
//! exponential back-off, and the minimum RTT seen. The caller (the connection)
//! decides what a sample is — which ACK measured which segment — and whether
//! the segment was retransmitted; this module applies Karn's rule and the
//! RFC 6298 arithmetic.
//!
//! Must never: read a clock, arm a timer, or decide on its own that a segment
//! was lost. It only answers "how long should the retransmission timer be".
//!
//! Arithmetic is integer nanoseconds ([`Duration`]), saturating; the gains
//! alpha = 1/8 and beta = 1/4 are applied as exact ratios.

use crate::time::{Duration, Instant};

/// Configuration of the estimator. See the `Default` impl for the reasons
/// behind each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// RTO before any sample has been taken (RFC 6298 2.1).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (RFC 6298 2.4).
    pub min_rto: Duration,
    /// Upper bound on the RTO, including back-off (RFC 6298 2.5).
    pub max_rto: Duration,
    /// Clock granularity G in `RTO = SRTT + max(G, 4 * RTTVAR)` (RFC 6298 2.2, 2.3).
    pub clock_granularity: Duration,
}

impl Default for RttConfig {
    fn default() -> Self {
        RttConfig {
            // RFC 6298 2.1: "Until a round-trip time (RTT) measurement has been
            // made ... the sender SHOULD set RTO <- 1 second".
            initial_rto: Duration::from_secs(1),
            // RFC 6298 2.4 asks for a 1 s minimum, chosen in 2011 to be
            // conservative with coarse clocks and delayed ACKs. Linux uses
            // 200 ms (TCP_RTO_MIN) and has for decades without harm; since
            // Shunt is benchmarked side by side with the kernel stack on the
            // same link, a 1 s floor would make every tail-loss recovery five
            // times slower than the kernel's for no safety gain. Our clock is
            // nanoseconds, so the coarse-clock argument does not apply.
            min_rto: Duration::from_millis(200),
            // Linux TCP_RTO_MAX is 120 s; RFC 6298 2.5 only asks that a
            // maximum, if any, be at least 60 s.
            max_rto: Duration::from_secs(120),
            // Our clock ticks in nanoseconds, but ACK generation is not that
            // precise; 1 ms keeps the RTO from collapsing onto SRTT when the
            // variance measures as zero on a quiet link.
            clock_granularity: Duration::from_millis(1),
        }
    }
}

/// Where an RTT sample came from; decides whether Karn's rule discards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSource {
    /// Timed from a segment sent exactly once: always usable.
    Original,
    /// Timed from a segment that was retransmitted, without timestamps: the
    /// ACK is ambiguous, so the sample is discarded (RFC 6298 3, Karn's rule).
    Retransmitted,
    /// Measured with the timestamps option (TSecr echoes the send time of the
    /// very transmission being acknowledged), so it is unambiguous even for a
    /// retransmitted segment (RFC 7323 4.1, 3.2).
    Timestamp,
}

/// The RFC 6298 round-trip estimator and RTO calculator for one connection.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    config: RttConfig,
    /// Smoothed RTT; `None` until the first sample.
    srtt: Option<Duration>,
    /// RTT variation; meaningful only once `srtt` is set.
    rttvar: Duration,
    /// RTO before back-off, already clamped to [min_rto, max_rto].
    base_rto: Duration,
    /// Number of consecutive timeouts since the last accepted sample.
    backoff_count: u32,
    /// Smallest sample ever accepted (not yet a windowed minimum).
    min_rtt: Option<Duration>,
    /// When the last accepted sample arrived.
    last_sample_at: Option<Instant>,
}

impl RttEstimator {
    /// A fresh estimator: no samples, RTO = `initial_rto` (RFC 6298 2.1),
    /// clamped to the configured bounds.
    pub fn new(config: RttConfig) -> Self {
        RttEstimator {
            config,
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: clamp(config.initial_rto, config.min_rto, config.max_rto),
            backoff_count: 0,
            min_rtt: None,
            last_sample_at: None,
        }
    }

    /// Feeds one RTT measurement taken at `now`. Returns whether it was used:
    /// samples from retransmitted segments without timestamps are discarded
    /// (RFC 6298 3, Karn's rule), and then the back-off stays in force.
    pub fn on_sample(&mut self, rtt: Duration, source: SampleSource, now: Instant) -> bool {
        if source == SampleSource::Retransmitted {
            // RFC 6298 3: "RTT samples MUST NOT be made using segments that
            // were retransmitted". Karn: the backed-off RTO is kept until an
            // unambiguous sample arrives.
            return false;
        }
        match self.srtt {
            None => {
                // RFC 6298 2.2: SRTT <- R, RTTVAR <- R/2.
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // RFC 6298 2.3, in this order (RTTVAR uses the old SRTT):
                // RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, beta = 1/4
                // SRTT <- (1 - alpha) * SRTT + alpha * R', alpha = 1/8
                let deviation = if srtt > rtt { srtt - rtt } else { rtt - srtt };
                self.rttvar = self.rttvar.mul_ratio(3, 4) + deviation.mul_ratio(1, 4);
                self.srtt = Some(srtt.mul_ratio(7, 8) + rtt.mul_ratio(1, 8));
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        // RFC 6298 2.2/2.3: RTO <- SRTT + max(G, K * RTTVAR), K = 4.
        let variance_term = core::cmp::max(self.config.clock_granularity, self.rttvar * 4);
        // RFC 6298 2.4 (minimum) and 2.5 (maximum).
        self.base_rto = clamp(
            srtt + variance_term,
            self.config.min_rto,
            self.config.max_rto,
        );
        // RFC 6298 5.7 / Karn: a new valid sample ends the back-off.
        self.backoff_count = 0;
        self.min_rtt = Some(match self.min_rtt {
            Some(m) => core::cmp::min(m, rtt),
            None => rtt,
        });
        self.last_sample_at = Some(now);
        true
    }

    /// The retransmission timer expired: back the timer off (RFC 6298 5.5,
    /// "RTO <- RTO * 2"), up to `max_rto` (RFC 6298 5.5 allows the maximum of
    /// 2.5). The count keeps rising past the cap so the connection can
    /// enforce its retransmission limit with [`Self::backoff_count`].
    pub fn on_timeout(&mut self) {
        self.backoff_count = self.backoff_count.saturating_add(1);
    }

    /// The current retransmission timeout, back-off included.
    pub fn rto(&self) -> Duration {
        // Past 2^63 the doubling has long saturated; cap the shift.
        let factor = 1u64 << self.backoff_count.min(63);
        core::cmp::min(self.base_rto * factor, self.config.max_rto)
    }

    /// Smoothed RTT, `None` before the first sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation, `None` before the first sample.
    pub fn rttvar(&self) -> Option<Duration> {
        self.srtt.map(|_| self.rttvar)
    }

    /// Smallest RTT sample accepted so far (all-time, not windowed), `None`
    /// before the first sample.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// Consecutive timeouts since the last accepted sample.
    pub fn backoff_count(&self) -> u32 {
        self.backoff_count
    }

    /// When the last accepted sample was taken, `None` before the first.
    pub fn last_sample_at(&self) -> Option<Instant> {
        self.last_sample_at
    }

    /// The configuration this estimator was built with.
    pub fn config(&self) -> &RttConfig {
        &self.config
    }
}

fn clamp(d: Duration, min: Duration, max: Duration) -> Duration {
    // `max` wins over `min` if they are misconfigured; config validation
    // rejects that case.
    core::cmp::min(core::cmp::max(d, min), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }
    fn at(v: u64) -> Instant {
        Instant::from_millis(v)
    }
    fn est() -> RttEstimator {
        RttEstimator::new(RttConfig::default())
    }

    #[test]
    fn initial_rto_is_one_second_before_any_sample() {
        let e = est();
        assert_eq!(e.rto(), ms(1000));
        assert_eq!(e.srtt(), None);
        assert_eq!(e.rttvar(), None);
        assert_eq!(e.min_rtt(), None);
    }

    #[test]
    fn first_sample_sets_srtt_to_r_and_rttvar_to_half_r() {
        let mut e = est();
        assert!(e.on_sample(ms(100), SampleSource::Original, at(1)));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), Some(ms(50)));
        // 100 + max(1, 4 * 50) = 300 ms
        assert_eq!(e.rto(), ms(300));
        assert_eq!(e.last_sample_at(), Some(at(1)));
    }

    #[test]
    fn later_samples_use_alpha_one_eighth_and_beta_one_quarter() {
        let mut e = est();
        e.on_sample(ms(100), SampleSource::Original, at(1));
        e.on_sample(ms(200), SampleSource::Original, at(2));
        // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5 ms
        assert_eq!(e.rttvar(), Some(us(62_500)));
        // SRTT = 7/8 * 100 + 1/8 * 200 = 112.5 ms
        assert_eq!(e.srtt(), Some(us(112_500)));
        // RTO = 112.5 + 4 * 62.5 = 362.5 ms
        assert_eq!(e.rto(), us(362_500));
        e.on_sample(ms(50), SampleSource::Original, at(3));
        // RTTVAR = 3/4 * 62.5 + 1/4 * 62.5 = 62.5 ms
        assert_eq!(e.rttvar(), Some(us(62_500)));
        // SRTT = 7/8 * 112.5 + 1/8 * 50 = 104.6875 ms
        assert_eq!(e.srtt(), Some(Duration::from_nanos(104_687_500)));
        assert_eq!(e.rto(), Duration::from_nanos(354_687_500));
    }

    #[test]
    fn clock_granularity_bounds_variance_term_from_below() {
        let cfg = RttConfig {
            min_rto: Duration::ZERO,
            clock_granularity: ms(10),
            ..RttConfig::default()
        };
        let mut e = RttEstimator::new(cfg);
        for _ in 0..200 {
            e.on_sample(ms(40), SampleSource::Original, at(1));
        }
        // RTTVAR decays toward zero; RTO = 40 + max(10, 4 * RTTVAR) -> 50 ms.
        assert_eq!(e.srtt(), Some(ms(40)));
        assert_eq!(e.rto(), ms(50));
    }

    #[test]
    fn rto_is_clamped_to_min_rto() {
        let mut e = est();
        e.on_sample(ms(10), SampleSource::Original, at(1));
        // 10 + 4 * 5 = 30 ms < 200 ms minimum
        assert_eq!(e.rto(), ms(200));
    }

    #[test]
    fn rto_is_clamped_to_max_rto() {
        let mut e = est();
        e.on_sample(Duration::from_secs(100), SampleSource::Original, at(1));
        // 100 + 200 s > 120 s
        assert_eq!(e.rto(), Duration::from_secs(120));
    }

    #[test]
    fn timeout_doubles_rto_up_to_max() {
        let mut e = est();
        e.on_sample(ms(100), SampleSource::Original, at(1));
        assert_eq!(e.rto(), ms(300));
        e.on_timeout();
        assert_eq!(e.rto(), ms(600));
        assert_eq!(e.backoff_count(), 1);
        e.on_timeout();
        assert_eq!(e.rto(), ms(1200));
        for _ in 0..100 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        assert_eq!(e.backoff_count(), 102);
    }

    #[test]
    fn timeout_before_any_sample_backs_off_initial_rto() {
        let mut e = est();
        e.on_timeout();
        e.on_timeout();
        assert_eq!(e.rto(), ms(4000));
    }

    #[test]
    fn new_sample_resets_backoff() {
        let mut e = est();
        e.on_sample(ms(100), SampleSource::Original, at(1));
        e.on_timeout();
        e.on_timeout();
        assert!(e.on_sample(ms(100), SampleSource::Original, at(2)));
        assert_eq!(e.backoff_count(), 0);
        // RTTVAR = 3/4 * 50 = 37.5; SRTT = 100; RTO = 100 + 150 = 250 ms
        assert_eq!(e.rto(), ms(250));
    }

    #[test]
    fn karn_discards_sample_from_retransmitted_segment_and_keeps_backoff() {
        let mut e = est();
        e.on_sample(ms(100), SampleSource::Original, at(1));
        e.on_timeout();
        assert!(!e.on_sample(ms(5), SampleSource::Retransmitted, at(2)));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.min_rtt(), Some(ms(100)));
        assert_eq!(e.backoff_count(), 1);
        assert_eq!(e.rto(), ms(600));
        assert_eq!(e.last_sample_at(), Some(at(1)));
    }

    #[test]
    fn timestamp_sample_from_retransmitted_segment_is_used() {
        let mut e = est();
        e.on_timeout();
        assert!(e.on_sample(ms(100), SampleSource::Timestamp, at(2)));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.backoff_count(), 0);
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn min_rtt_tracks_smallest_accepted_sample() {
        let mut e = est();
        e.on_sample(ms(30), SampleSource::Original, at(1));
        e.on_sample(ms(20), SampleSource::Timestamp, at(2));
        e.on_sample(ms(40), SampleSource::Original, at(3));
        assert_eq!(e.min_rtt(), Some(ms(20)));
    }

    #[test]
    fn huge_sample_saturates_without_panic() {
        let mut e = est();
        e.on_sample(Duration::MAX, SampleSource::Original, at(1));
        e.on_sample(Duration::MAX, SampleSource::Original, at(2));
        e.on_timeout();
        assert_eq!(e.rto(), Duration::from_secs(120));
    }
}
