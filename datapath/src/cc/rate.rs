//! Delivery-rate estimation (`draft-cheng-iccrg-delivery-rate-estimation-02`,
//! as Linux `tcp_rate.c`).
//!
//! The sampler keeps the connection-wide counters (C.delivered,
//! C.delivered_time, C.first_sent_time, C.app_limited, C.lost); every segment
//! sent takes a snapshot of them ([`PacketState`], section 3.2 "Transmitting a
//! data packet"), which the connection stores with the segment and hands back
//! when the segment is delivered (section 3.3 "Upon receiving an ACK"). After
//! an ACK's segments are handed back, [`RateSampler::finish`] turns the most
//! recently sent of them into a [`RateSample`]: bytes delivered over the longer
//! of the send and ACK intervals (section 3.3, which keeps ACK compression from
//! inflating the rate).

use crate::time::{Duration, Instant};

/// What a segment remembers of the connection when it was sent (section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketState {
    /// P.delivered: C.delivered when the segment was sent.
    pub delivered: u64,
    /// P.delivered_time: C.delivered_time when the segment was sent.
    pub delivered_time: Instant,
    /// P.first_sent_time: C.first_sent_time when the segment was sent.
    pub first_sent_time: Instant,
    /// P.sent_time: when the segment was (last) sent.
    pub sent_time: Instant,
    /// P.is_app_limited.
    pub is_app_limited: bool,
    /// Bytes in flight just after the segment was sent (BBR's `tx_in_flight`).
    pub tx_in_flight: u64,
    /// C.lost when the segment was sent.
    pub lost: u64,
}

/// One delivery-rate sample (section 3.3 `rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateSample {
    /// rs.delivery_rate in bytes per second; `None` when the ACK gave no
    /// valid sample (nothing newly delivered, or an interval shorter than the
    /// minimum RTT, section 3.3).
    pub delivery_rate: Option<u64>,
    /// rs.delivered: bytes delivered over the interval.
    pub delivered: u64,
    /// rs.interval.
    pub interval: Duration,
    /// rs.is_app_limited: the sample may underestimate the path's rate.
    pub is_app_limited: bool,
    /// rs.prior_delivered: C.delivered when the sampled segment was sent
    /// (BBR's round counting).
    pub prior_delivered: u64,
    /// The sampled segment's send-time state (BBR's `tx_in_flight`, `lost`).
    pub tx_in_flight: u64,
    /// Bytes lost between the sampled segment's send and this ACK.
    pub lost: u64,
    /// rs.rtt: the RTT of the most recently sent segment delivered by this
    /// ACK (never a retransmission).
    pub rtt: Option<Duration>,
}

/// The connection-wide half of delivery-rate estimation.
#[derive(Debug, Clone, Default)]
pub struct RateSampler {
    /// C.delivered: bytes delivered so far (cumulative and SACK).
    delivered: u64,
    /// C.delivered_time.
    delivered_time: Instant,
    /// C.first_sent_time.
    first_sent_time: Instant,
    /// C.app_limited: 0, or the C.delivered value at which the current
    /// application-limited phase ends.
    app_limited: u64,
    /// C.lost: bytes declared lost so far.
    lost: u64,
    /// The sample being built from the current ACK.
    cur: Option<Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    prior_delivered: u64,
    send_elapsed: Duration,
    ack_elapsed: Duration,
    is_app_limited: bool,
    tx_in_flight: u64,
    lost_at_send: u64,
    sent_time: Instant,
    retransmitted: bool,
}

impl RateSampler {
    pub fn new() -> RateSampler {
        RateSampler::default()
    }

    /// C.delivered.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// C.lost.
    pub fn lost(&self) -> u64 {
        self.lost
    }
    /// Whether an application-limited phase is under way.
    pub fn is_app_limited(&self) -> bool {
        self.app_limited != 0
    }

    /// Section 3.2: a data segment is sent now, with `in_flight` bytes
    /// outstanding before it and `bytes` in it. Returns its state.
    pub fn on_send(&mut self, now: Instant, in_flight: usize, bytes: usize) -> PacketState {
        if in_flight == 0 {
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        PacketState {
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            sent_time: now,
            is_app_limited: self.app_limited != 0,
            tx_in_flight: (in_flight + bytes) as u64,
            lost: self.lost,
        }
    }

    /// Section 3.4 (CheckIfApplicationLimited): the sender had nothing more
    /// to send although the congestion window had room, with `in_flight`
    /// bytes outstanding. Samples until that data is delivered are marked.
    pub fn on_app_limited(&mut self, in_flight: usize) {
        self.app_limited = (self.delivered + in_flight as u64).max(1);
    }

    /// `bytes` of segments were declared lost.
    pub fn on_lost(&mut self, bytes: usize) {
        self.lost += bytes as u64;
    }

    /// Section 3.3 (UpdateRateSample): a segment of `bytes` sent with `p` was
    /// delivered (cumulatively or by SACK) now; `retransmitted` if this copy
    /// of it was a retransmission (its RTT is ambiguous).
    pub fn on_delivered(
        &mut self,
        now: Instant,
        p: &PacketState,
        bytes: usize,
        retransmitted: bool,
    ) {
        self.delivered += bytes as u64;
        self.delivered_time = now;
        // Keep the most recently sent segment's state (the largest
        // P.delivered, ties to the later send).
        let newer = match &self.cur {
            None => true,
            Some(c) => {
                p.delivered > c.prior_delivered
                    || (p.delivered == c.prior_delivered && p.sent_time >= c.sent_time)
            }
        };
        if newer {
            self.cur = Some(Pending {
                prior_delivered: p.delivered,
                send_elapsed: p.sent_time.saturating_since(p.first_sent_time),
                ack_elapsed: now.saturating_since(p.delivered_time),
                is_app_limited: p.is_app_limited,
                tx_in_flight: p.tx_in_flight,
                lost_at_send: p.lost,
                sent_time: p.sent_time,
                retransmitted,
            });
            // Section 3.3: the send interval of the next sample starts here.
            self.first_sent_time = p.sent_time;
        }
    }

    /// Section 3.3 (GenerateRateSample), once per ACK after its segments were
    /// handed to [`RateSampler::on_delivered`]. `min_rtt` guards against
    /// intervals too short to mean anything.
    pub fn finish(&mut self, now: Instant, min_rtt: Option<Duration>) -> RateSample {
        // Clear the app-limited phase once its data is delivered.
        if self.app_limited != 0 && self.delivered > self.app_limited {
            self.app_limited = 0;
        }
        let Some(c) = self.cur.take() else {
            return RateSample::default();
        };
        let interval = c.send_elapsed.max(c.ack_elapsed);
        let delivered = self.delivered - c.prior_delivered;
        let rtt = (!c.retransmitted).then(|| now.saturating_since(c.sent_time));
        let mut rs = RateSample {
            delivery_rate: None,
            delivered,
            interval,
            is_app_limited: c.is_app_limited,
            prior_delivered: c.prior_delivered,
            tx_in_flight: c.tx_in_flight,
            lost: self.lost.saturating_sub(c.lost_at_send),
            rtt,
        };
        // An interval below min_rtt would overestimate (section 3.3); a zero
        // interval cannot give a rate at all.
        let too_short = min_rtt.is_some_and(|m| interval < m);
        if delivered > 0 && !interval.is_zero() && !too_short {
            let rate = (u128::from(delivered) * 1_000_000_000) / u128::from(interval.as_nanos());
            rs.delivery_rate = Some(rate.min(u128::from(u64::MAX)) as u64);
        }
        rs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    #[test]
    fn delivery_rate_is_bytes_delivered_over_the_longer_interval() {
        // Ten segments sent back to back at t=0, all ACKed at t=100 ms: 10 kB
        // over 100 ms = 100 kB/s.
        let mut s = RateSampler::new();
        let states: Vec<_> = (0..10).map(|i| s.on_send(ms(0), i * MSS, MSS)).collect();
        for p in &states {
            s.on_delivered(ms(100), p, MSS, false);
        }
        let rs = s.finish(ms(100), Some(Duration::from_millis(100)));
        assert_eq!(rs.delivered, 10 * MSS as u64);
        assert_eq!(rs.interval, Duration::from_millis(100));
        assert_eq!(rs.delivery_rate, Some(100_000));
        assert_eq!(rs.rtt, Some(Duration::from_millis(100)));
    }

    #[test]
    fn ack_compression_does_not_inflate_the_rate() {
        // Segments sent over 100 ms, then ACKs compressed into 1 ms: the send
        // interval (the longer one) bounds the rate.
        let mut s = RateSampler::new();
        let a = s.on_send(ms(0), 0, MSS);
        s.on_delivered(ms(50), &a, MSS, false);
        let _ = s.finish(ms(50), None);
        let mut states = Vec::new();
        for i in 0..10u64 {
            states.push(s.on_send(ms(50 + i * 10), i as usize * MSS, MSS));
        }
        for p in &states {
            s.on_delivered(ms(200), p, MSS, false);
        }
        let rs = s.finish(ms(200), None);
        // From the first ACK (t=50, delivered=1000) to t=200: 10 kB over
        // max(send 90 ms, ack 150 ms).
        assert_eq!(rs.delivered, 10 * MSS as u64);
        assert_eq!(rs.interval, Duration::from_millis(150));
    }

    #[test]
    fn an_interval_below_min_rtt_gives_no_rate() {
        let mut s = RateSampler::new();
        let p = s.on_send(ms(0), 0, MSS);
        s.on_delivered(ms(5), &p, MSS, false);
        let rs = s.finish(ms(5), Some(Duration::from_millis(10)));
        assert_eq!(rs.delivery_rate, None);
        assert_eq!(rs.delivered, MSS as u64);
    }

    #[test]
    fn app_limited_marks_samples_until_that_data_is_delivered() {
        let mut s = RateSampler::new();
        s.on_app_limited(0);
        let p = s.on_send(ms(0), 0, MSS);
        assert!(p.is_app_limited);
        s.on_delivered(ms(10), &p, MSS, false);
        let rs = s.finish(ms(10), None);
        assert!(rs.is_app_limited);
        assert!(
            !s.is_app_limited(),
            "the phase ended once its data was delivered"
        );
        let q = s.on_send(ms(10), 0, MSS);
        assert!(!q.is_app_limited);
    }

    #[test]
    fn a_retransmission_gives_no_rtt_and_losses_are_counted_since_send() {
        let mut s = RateSampler::new();
        let p = s.on_send(ms(0), 0, MSS);
        s.on_lost(MSS);
        let r = s.on_send(ms(30), 0, MSS);
        s.on_delivered(ms(40), &r, MSS, true);
        let rs = s.finish(ms(40), None);
        assert_eq!(rs.rtt, None);
        assert_eq!(
            rs.lost, 0,
            "the loss came before the retransmission was sent"
        );
        assert_eq!(p.lost, 0);
        assert_eq!(r.lost, MSS as u64);
    }

    #[test]
    fn an_ack_that_delivers_nothing_gives_an_empty_sample() {
        let mut s = RateSampler::new();
        assert_eq!(s.finish(ms(1), None), RateSample::default());
    }
}
