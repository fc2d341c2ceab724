//! NewReno window management (RFC 5681 3.1 and 3.2, RFC 6582).
//!
//! Slow start below ssthresh with appropriate byte counting (RFC 3465, L=2:
//! at most two segments of growth per ACK); congestion avoidance above it,
//! one MSS per window of acknowledged bytes. A loss event halves the window
//! (ssthresh = max(FlightSize/2, 2*SMSS), RFC 5681 eq. 4) and recovery runs at
//! cwnd = ssthresh; the connection counts what is in the pipe, so the window
//! needs no inflation. An RTO leaves one segment (the loss window, RFC 5681 3.1).
//!
//! Pacing follows the window as Linux paces Reno ([`window_pacing_rate`]).

use crate::cc::{AckSample, CongestionControl, window_pacing_rate};
use crate::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since the last increase.
    ca_acked: usize,
    /// The smoothed RTT of the last ACK that had one (pacing).
    srtt: Option<Duration>,
    /// Between a congestion event and the end of its recovery.
    recovering: bool,
}

impl NewReno {
    /// Starts with `initial_cwnd` bytes and an unbounded ssthresh (RFC 5681 3.1:
    /// "arbitrarily high").
    pub fn new(initial_cwnd: usize) -> Self {
        NewReno {
            cwnd: initial_cwnd.max(1),
            ssthresh: usize::MAX,
            ca_acked: 0,
            srtt: None,
            recovering: false,
        }
    }
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn pacing_rate(&self) -> Option<u64> {
        window_pacing_rate(self.cwnd, self.ssthresh, self.srtt)
    }

    fn on_ack(&mut self, ack: &AckSample) {
        if ack.srtt.is_some() {
            self.srtt = ack.srtt;
        }
        // Growth only outside recovery (RFC 6582 3.2 keeps cwnd during it)
        // and only while the window limits the sender (RFC 7661 4.1: a window
        // the application does not use is not validated).
        if ack.in_recovery || !ack.cwnd_limited || ack.delivered == 0 {
            return;
        }
        let (acked, mss) = (ack.delivered, ack.mss);
        if self.cwnd < self.ssthresh {
            // RFC 5681 3.1 eq. 2 with RFC 3465 L = 2.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        } else {
            // RFC 5681 3.1 eq. 3, byte-counting form (RFC 3465 2.1).
            self.ca_acked += acked;
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, flight: usize, mss: usize) {
        // RFC 5681 3.2 step 2, eq. 4.
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.ca_acked = 0;
        self.recovering = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        // RFC 6582 3.2 step 3: set cwnd to ssthresh ("deflate").
        self.cwnd = self.ssthresh;
        self.recovering = false;
    }

    fn on_rto(&mut self, _now: Instant, flight: usize, mss: usize) {
        // RFC 5681 3.1 eq. 4 and the loss window of one segment.
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.ca_acked = 0;
        // A timeout ends fast recovery; the connection does go-back-N.
        self.recovering = false;
    }

    fn name(&self) -> &'static str {
        "newreno"
    }

    fn state(&self) -> &'static str {
        super::window_state(self.recovering, self.cwnd, self.ssthresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ack(delivered: usize) -> AckSample {
        AckSample {
            delivered,
            mss: MSS,
            cwnd_limited: true,
            ..AckSample::at(Instant::ZERO)
        }
    }

    #[test]
    fn a_window_the_sender_does_not_fill_does_not_grow() {
        let mut c = NewReno::new(10 * MSS);
        c.on_ack(&AckSample {
            cwnd_limited: false,
            ..ack(MSS)
        });
        assert_eq!(c.cwnd(), 10 * MSS);
        c.on_ack(&AckSample {
            in_recovery: true,
            ..ack(MSS)
        });
        assert_eq!(c.cwnd(), 10 * MSS);
    }

    #[test]
    fn slow_start_grows_by_acked_bytes_up_to_two_segments_per_ack() {
        let mut c = NewReno::new(10 * MSS);
        c.on_ack(&ack(MSS));
        assert_eq!(c.cwnd(), 11 * MSS);
        c.on_ack(&ack(5 * MSS));
        assert_eq!(c.cwnd(), 13 * MSS, "capped at 2 SMSS per ACK");
    }

    #[test]
    fn slow_start_doubles_the_window_per_round_trip() {
        let mut c = NewReno::new(10 * MSS);
        // One round trip: every segment of the window ACKed one by one.
        for _ in 0..10 {
            c.on_ack(&ack(MSS));
        }
        assert_eq!(c.cwnd(), 20 * MSS);
    }

    #[test]
    fn loss_halves_flight_and_congestion_avoidance_adds_one_segment_per_window() {
        let mut c = NewReno::new(10 * MSS);
        c.on_congestion_event(Instant::ZERO, 40 * MSS, MSS);
        assert_eq!((c.ssthresh(), c.cwnd()), (20 * MSS, 20 * MSS));
        for _ in 0..20 {
            c.on_ack(&ack(MSS));
        }
        assert_eq!(c.cwnd(), 21 * MSS);
    }

    #[test]
    fn rto_collapses_to_the_loss_window_of_one_segment() {
        let mut c = NewReno::new(10 * MSS);
        c.on_rto(Instant::ZERO, 3 * MSS, MSS);
        assert_eq!(
            (c.cwnd(), c.ssthresh()),
            (MSS, 2 * MSS),
            "ssthresh floor of 2 SMSS"
        );
    }

    #[test]
    fn pacing_rate_is_2x_cwnd_over_the_last_srtt_in_slow_start_and_1_2x_after() {
        let mut c = NewReno::new(10 * MSS);
        assert_eq!(c.pacing_rate(), None, "no RTT yet");
        c.on_ack(&AckSample {
            srtt: Some(Duration::from_millis(100)),
            ..ack(MSS)
        });
        assert_eq!(c.pacing_rate(), Some(2 * 11_000 * 10));
        c.on_congestion_event(Instant::ZERO, 22 * MSS, MSS);
        // An ACK without an srtt keeps the last one.
        c.on_ack(&ack(0));
        assert_eq!(c.pacing_rate(), Some(11_000 * 12));
    }

    #[test]
    fn state_is_recovery_from_the_congestion_event_to_its_end() {
        let mut c = NewReno::new(10 * MSS);
        assert_eq!(c.state(), "slow_start");
        c.on_congestion_event(Instant::ZERO, 10 * MSS, MSS);
        assert_eq!(c.state(), "recovery");
        c.on_recovery_exit(Instant::ZERO);
        assert_eq!(c.state(), "congestion_avoidance");
        c.on_congestion_event(Instant::ZERO, 10 * MSS, MSS);
        c.on_rto(Instant::ZERO, 10 * MSS, MSS);
        assert_eq!(c.state(), "slow_start", "a timeout ends recovery");
    }
}
