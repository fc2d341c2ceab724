//! Congestion control: the controller owns the congestion window.
//!
//! The connection tells its controller what happened (bytes newly
//! acknowledged, a loss detected, recovery over, a retransmission timeout) and
//! asks it how much may be in flight. Controllers are sans-IO like the TCP
//! core. Only NewReno exists so far; CUBIC, BBR, pacing and delivery-rate
//! sampling build on this trait later.

pub mod newreno;

use core::fmt::Debug;

use crate::time::Instant;

pub use newreno::NewReno;

/// A congestion controller of one connection. All sizes are bytes.
pub trait CongestionControl: Debug + Send {
    /// Bytes that may be in flight.
    fn cwnd(&self) -> usize;
    /// The slow-start threshold.
    fn ssthresh(&self) -> usize;
    /// New data was acknowledged (outside loss recovery).
    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize);
    /// Loss was detected by duplicate ACKs or SACK: recovery begins with
    /// `flight` bytes outstanding.
    fn on_congestion_event(&mut self, now: Instant, flight: usize, mss: usize);
    /// Recovery ended (everything outstanding at its start is acknowledged).
    fn on_recovery_exit(&mut self, now: Instant);
    /// The retransmission timer expired with `flight` bytes outstanding.
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize);
    /// A name for logs and traces.
    fn name(&self) -> &'static str;
}
