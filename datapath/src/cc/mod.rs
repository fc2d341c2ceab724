//! Congestion control: the controller owns the congestion window, the pacing
//! rate and the send quantum.
//!
//! The connection tells its controller what happened and asks it how much may
//! be in flight and how fast to send:
//!
//! - every segment sent gets a [`PacketState`] from the connection's
//!   [`RateSampler`] (delivery-rate estimation, `draft-cheng-iccrg-delivery-
//!   rate-estimation`); the connection keeps it with the segment and gives it
//!   back when the segment is acknowledged or declared lost;
//! - after each ACK the controller gets an [`AckSample`]: bytes newly
//!   delivered (cumulatively or by SACK), bytes newly declared lost, the
//!   delivery-rate [`RateSample`], RTTs and what is in flight;
//! - loss events ([`CongestionControl::on_congestion_event`]), the end of
//!   recovery and retransmission timeouts are reported separately, with what
//!   was in flight.
//!
//! Controllers are sans-IO like the TCP core: time is an argument. All sizes
//! are bytes, rates bytes per second.

pub mod bbr;
pub mod cubic;
pub mod filter;
pub mod hystart;
pub mod newreno;
pub mod rate;

#[cfg(test)]
mod model_tests;

use core::fmt::Debug;

use crate::time::{Duration, Instant};

pub use bbr::Bbr;
pub use cubic::Cubic;
pub use newreno::NewReno;
pub use rate::{PacketState, RateSample, RateSampler};

/// What one ACK told the sender, for the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckSample {
    pub now: Instant,
    /// Bytes newly delivered by this ACK: cumulatively acknowledged or newly
    /// SACKed (sequence space, SYN and FIN excluded).
    pub delivered: usize,
    /// Bytes newly declared lost while processing this ACK.
    pub lost: usize,
    /// Bytes in flight before this ACK was processed.
    pub prior_in_flight: usize,
    /// Bytes in flight after it (what the network holds now).
    pub in_flight: usize,
    /// The delivery-rate sample of this ACK.
    pub rate: RateSample,
    /// The RTT measured by this ACK, if it gave one.
    pub rtt: Option<Duration>,
    /// The smoothed RTT after this ACK.
    pub srtt: Option<Duration>,
    /// The connection's minimum RTT so far.
    pub min_rtt: Option<Duration>,
    /// The sender's maximum segment size (payload bytes).
    pub mss: usize,
    /// The connection is in loss recovery (fast recovery or after an RTO).
    pub in_recovery: bool,
    /// The congestion window limited the sender recently (RFC 7661): growth
    /// of a window the sender does not use means nothing.
    pub cwnd_limited: bool,
}

impl AckSample {
    /// An empty sample at `now` (for tests and as a base to fill in).
    pub fn at(now: Instant) -> AckSample {
        AckSample {
            now,
            delivered: 0,
            lost: 0,
            prior_in_flight: 0,
            in_flight: 0,
            rate: RateSample::default(),
            rtt: None,
            srtt: None,
            min_rtt: None,
            mss: 1448,
            in_recovery: false,
            cwnd_limited: true,
        }
    }
}

/// A congestion controller of one connection.
///
/// Contracts every controller keeps (the op-model test checks them after
/// every step): `cwnd() >= mss` after any event, `ssthresh() >= 2 * mss`
/// once set (or `usize::MAX`), `send_quantum(mss) >= mss`, a pacing rate
/// when given is non-zero, and no input panics.
pub trait CongestionControl: Debug + Send {
    /// Bytes that may be in flight.
    fn cwnd(&self) -> usize;
    /// The slow-start threshold (`usize::MAX` while unset).
    fn ssthresh(&self) -> usize;
    /// How fast to send, bytes per second; `None` sends as fast as the
    /// windows allow (no pacing).
    fn pacing_rate(&self) -> Option<u64> {
        None
    }
    /// The most bytes the pacer sends back to back (a burst).
    ///
    /// By default about 1 ms of data at the pacing rate, within 2 segments
    /// and 64 KiB, as Linux sizes its bursts (`tcp_tso_autosize`: the rate
    /// shifted by `sk_pacing_shift` = 10): small bursts at low rates, and at
    /// 10 Gbit/s bursts that amortize the per-burst cost of a shard's turn.
    fn send_quantum(&self, mss: usize) -> usize {
        self.send_quantum_at(self.pacing_rate(), mss)
    }
    /// [`send_quantum`](Self::send_quantum) for the pacing rate the caller
    /// already read (what `pacing_rate` answers now): the sender needs both
    /// per segment, and the rate is worked out once.
    fn send_quantum_at(&self, rate: Option<u64>, mss: usize) -> usize {
        match rate {
            Some(rate) => usize::try_from(rate >> 10)
                .unwrap_or(usize::MAX)
                .clamp(2 * mss, (64 * 1024).max(2 * mss)),
            None => 2 * mss,
        }
    }
    /// A segment of `bytes` (payload) is leaving now with `in_flight` bytes
    /// outstanding before it; `app_limited` when the sender had less to send
    /// than the window allowed.
    fn on_send(&mut self, _now: Instant, _bytes: usize, _in_flight: usize, _app_limited: bool) {}
    /// An ACK was processed (in and out of recovery).
    fn on_ack(&mut self, ack: &AckSample);
    /// Loss was detected (duplicate ACKs, SACK or RACK) and recovery begins
    /// with `flight` bytes outstanding. Once per recovery episode.
    fn on_congestion_event(&mut self, now: Instant, flight: usize, mss: usize);
    /// Recovery ended (everything outstanding at its start is acknowledged).
    fn on_recovery_exit(&mut self, now: Instant);
    /// The retransmission timer expired with `flight` bytes outstanding.
    /// It also ends any recovery under way (no `on_recovery_exit` follows).
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize);
    /// A retransmission turned out spurious (D-SACK or timestamps showed the
    /// original arrived): controllers may undo their last reduction.
    fn on_spurious_loss(&mut self, _now: Instant) {}
    /// A name for logs and traces ("newreno", "cubic", "bbr").
    fn name(&self) -> &'static str;
    /// The controller's state for traces ("slow_start", "congestion_avoidance",
    /// "recovery", "startup", "drain", "probe_bw", "probe_rtt"...).
    fn state(&self) -> &'static str;
}

/// The pacing rate of a window-based controller (NewReno, CUBIC), as Linux
/// sets `sk_pacing_rate` for them (`tcp_update_pacing_rate`): cwnd / srtt
/// scaled by 200% in slow start (`tcp_pacing_ss_ratio`) and 120% after
/// (`tcp_pacing_ca_ratio`), so pacing smooths bursts without holding the
/// window back. `None` until there is an RTT sample; never zero (a tiny
/// window over an enormous RTT still paces at one byte per second rather
/// than stalling the pacer).
pub fn window_pacing_rate(cwnd: usize, ssthresh: usize, srtt: Option<Duration>) -> Option<u64> {
    let srtt = srtt?.as_nanos().max(1);
    let ratio: u64 = if cwnd < ssthresh / 2 { 200 } else { 120 };
    // cwnd x ratio% x 1e9 / srtt; 64-bit unless cwnd is above ~4 GB.
    let rate = match (cwnd as u64).checked_mul(ratio * 10_000_000) {
        Some(n) => n / srtt,
        None => (cwnd as u128 * u128::from(ratio) * 10_000_000 / u128::from(srtt))
            .min(u128::from(u64::MAX)) as u64,
    };
    Some(rate.max(1))
}

/// The state name of a window-based controller (NewReno, CUBIC) for traces.
pub fn window_state(recovering: bool, cwnd: usize, ssthresh: usize) -> &'static str {
    if recovering {
        "recovery"
    } else if cwnd < ssthresh {
        "slow_start"
    } else {
        "congestion_avoidance"
    }
}

/// Which controller a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// RFC 5681 / RFC 6582.
    NewReno,
    /// RFC 9438.
    #[default]
    Cubic,
    /// BBR v1 (Cardwell et al. 2016; Linux `tcp_bbr.c`).
    Bbr,
}

impl Algorithm {
    /// Every algorithm, for sweeps, model tests and the bench.
    pub const ALL: [Algorithm; 3] = [Algorithm::NewReno, Algorithm::Cubic, Algorithm::Bbr];

    /// A new controller with an initial window of `initial_cwnd` bytes for a
    /// sender MSS of `mss` bytes.
    pub fn build(self, initial_cwnd: usize, mss: usize) -> Box<dyn CongestionControl> {
        match self {
            Algorithm::NewReno => Box::new(NewReno::new(initial_cwnd)),
            Algorithm::Cubic => Box::new(Cubic::new(initial_cwnd, mss)),
            Algorithm::Bbr => Box::new(Bbr::new(initial_cwnd, mss)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::NewReno => "newreno",
            Algorithm::Cubic => "cubic",
            Algorithm::Bbr => "bbr",
        }
    }
}

impl core::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "newreno" | "reno" => Ok(Algorithm::NewReno),
            "cubic" => Ok(Algorithm::Cubic),
            "bbr" | "bbr1" => Ok(Algorithm::Bbr),
            _ => Err(format!(
                "unknown congestion controller {s:?} (newreno, cubic or bbr)"
            )),
        }
    }
}

impl core::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
