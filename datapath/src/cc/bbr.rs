//! BBR v1 congestion control: Cardwell, Cheng, Gunn, Hassas Yeganeh and
//! Jacobson, "BBR: Congestion-Based Congestion Control", ACM Queue 14(5),
//! 2016, as Linux `net/ipv4/tcp_bbr.c` runs it (also described in
//! `draft-cardwell-iccrg-bbr-congestion-control-00`).
//!
//! BBR models the path by two numbers and sends by them, not by loss:
//!
//! - **BtlBw**, the bottleneck bandwidth: the largest delivery rate measured
//!   over the last ten round trips (a windowed max of [`RateSample`]
//!   `delivery_rate`, [`MaxFilter`] over a round count);
//! - **RTprop**, the round-trip propagation time: the smallest RTT over the
//!   last ten seconds ([`MinFilter`] over time).
//!
//! It paces at `pacing_gain * BtlBw` (less 1%) and keeps at most
//! `cwnd_gain * BtlBw * RTprop` (plus a few send quanta) in flight. The gains
//! come from a small state machine:
//!
//! ```text
//!          |
//!          V
//!   +--> STARTUP  --+      Startup: gain 2/ln2 (~2.885): doubles the sending
//!   |      |        |        rate each round until BtlBw stops growing 25%
//!   |      V        |        for 3 rounds ("the pipe is full").
//!   |    DRAIN   ---+      Drain: pacing gain ln2/2 until what is in flight
//!   |      |        |        fits one BDP (the queue Startup built is gone).
//!   |      V        |      ProbeBW: cycle the pacing gain through 5/4, 3/4,
//!   +--> PROBE_BW --+        then 1 six times, one phase per RTprop: probe
//!   |     ^    |    |        for more bandwidth, drain what the probe queued,
//!   |     +----+    |        cruise.
//!   |               |      ProbeRTT: when RTprop was not matched or beaten
//!   +--- PROBE_RTT <+        for 10 s, hold 4 segments in flight for 200 ms
//!                            and a round, to measure it afresh.
//! ```
//!
//! Loss does not change the model, with one exception: heavy loss at a
//! consistent delivery rate over two intervals of several rounds means a
//! token-bucket policer, and BBR then paces at the policed rate for 48 rounds
//! (tcp_bbr.c's long-term bandwidth, [`Bbr::lt_bw`]).
//!
//! During the first round of recovery BBR sends one segment per segment
//! delivered (packet conservation); after that it grows back toward its
//! target; at the end of recovery it restores the window it had before.
//!
//! Units: bytes, bytes per second, [`Duration`]s; gains are exact ratios.
//! Rounds are counted on the delivery counter, as `tcp_bbr.c`
//! `bbr_update_bw` does: a round ends when a segment sent after the round
//! began is delivered (its `prior_delivered` reaches the count at the start).
//!
//! Like every controller, this one is sans-IO: time is the `now` of the
//! calls; arithmetic saturates, so no input panics.
//!
//! Where this differs from `tcp_bbr.c`, and why:
//!
//! - Windows are bytes, not packets: the BDP is rounded up to a byte, not a
//!   packet, and the quantization budget does not round the window up to an
//!   even packet count. Without an RTT sample the BDP is the connection's
//!   initial window (Linux: `TCP_INIT_CWND`).
//! - RTprop is a windowed min filter (Nichols) over 10 s rather than one value
//!   and its stamp, so an estimate that outlived its window falls back to the
//!   best recent sample. ProbeRTT still follows Linux's stamp: it comes when
//!   no RTT sample matched (to the microsecond) or beat RTprop for 10 s.
//!   There is no `is_ack_delayed` (the sample does not carry it).
//! - Linux marks the sender application-limited during ProbeRTT so the low
//!   rate samples of the small window do not count; the controller cannot
//!   reach the connection's sampler, so it remembers the delivered-counter
//!   range of segments sent during ProbeRTT and treats their samples as
//!   application-limited itself.
//! - A round is counted on every ACK that sampled a segment, also when the
//!   delivery rate is invalid (interval below min RTT); Linux skips those.
//! - No EDT correction (`bbr_packets_in_net_at_edt`): the pacer's queue is
//!   not visible here; what the connection reports in flight is used as is.
//! - No ACK-aggregation allowance (`bbr_extra_acked`, Linux 4.20+, not in the
//!   paper).
//! - Entering recovery takes effect on the next ACK that delivers data
//!   (Linux: the ACK that started recovery, which is the same ACK when the
//!   connection reports the event before the ACK's sample).
//! - After a timeout, packet conservation holds until a segment sent after
//!   it is delivered; Linux has no conservation in TCP_CA_Loss, but the first
//!   retransmission's ACK starts a round, which ends it, so only late ACKs of
//!   older segments see the difference.

use crate::cc::filter::{MaxFilter, MinFilter};
use crate::cc::{AckSample, CongestionControl, RateSample};
use crate::time::{Duration, Instant};

/// A gain: an exact ratio `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gain {
    num: u64,
    den: u64,
}

impl Gain {
    const fn new(num: u64, den: u64) -> Gain {
        Gain { num, den }
    }

    /// `v * gain`, rounded down, saturating.
    fn of(self, v: u64) -> u64 {
        mul_div(v, self.num, self.den)
    }

    /// `v * gain > w`, exactly.
    fn exceeds(self, v: u64, w: u64) -> bool {
        u128::from(v) * u128::from(self.num) > u128::from(w) * u128::from(self.den)
    }

    fn above_one(self) -> bool {
        self.num > self.den
    }

    fn is_one(self) -> bool {
        self.num == self.den
    }
}

/// `v * num / den` in 128 bits, rounded down, saturating; `den == 0` gives
/// `u64::MAX`.
fn mul_div(v: u64, num: u64, den: u64) -> u64 {
    if den == 0 {
        return u64::MAX;
    }
    let r = u128::from(v) * u128::from(num) / u128::from(den);
    u64::try_from(r).unwrap_or(u64::MAX)
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Gain of 1: pace at BtlBw, keep one BDP.
const UNIT: Gain = Gain::new(1, 1);

/// Startup's pacing and cwnd gain, 2/ln2 ~= 2.885: "the smallest pacing gain
/// that will allow a smoothly increasing pacing rate that will double each
/// RTT and send the same number of packets per RTT that an un-paced,
/// slow-starting Reno or CUBIC flow would" (tcp_bbr.c `bbr_high_gain`; the
/// paper, "Startup"). Linux stores it as 739/256 (BBR_UNIT * 2885/1000 + 1);
/// we keep the decimal ratio exact.
const HIGH_GAIN: Gain = Gain::new(2885, 1000);

/// Drain's pacing gain, the inverse of Startup's, "calculated to typically
/// drain the queue created in BBR_STARTUP in a single round" (tcp_bbr.c
/// `bbr_drain_gain`). Drain keeps Startup's cwnd gain.
const DRAIN_GAIN: Gain = Gain::new(1000, 2885);

/// ProbeBW's cwnd gain, 2: "tolerates delayed/stretched ACKs" (tcp_bbr.c
/// `bbr_cwnd_gain`; the paper's cwnd_gain of 2).
const CWND_GAIN: Gain = Gain::new(2, 1);

/// Phases of the ProbeBW gain cycle (tcp_bbr.c `CYCLE_LEN`).
const CYCLE_LEN: usize = 8;

/// ProbeBW's pacing gains, one phase per RTprop: probe for more bandwidth at
/// 5/4, drain the queue that made (or yield to other flows) at 3/4, cruise at
/// 1 for six phases (tcp_bbr.c `bbr_pacing_gain`; the paper, "ProbeBW").
const PACING_GAIN_CYCLE: [Gain; CYCLE_LEN] = [
    Gain::new(5, 4),
    Gain::new(3, 4),
    UNIT,
    UNIT,
    UNIT,
    UNIT,
    UNIT,
    UNIT,
];

/// ProbeBW starts at a random phase among this many, every one but the
/// draining phase (tcp_bbr.c `bbr_cycle_rand`).
const CYCLE_RAND: u64 = 7;

/// BtlBw is the max delivery rate over this many round trips: the gain cycle
/// plus two, so a whole cycle's probe is always in the window (tcp_bbr.c
/// `bbr_bw_rtts = CYCLE_LEN + 2`; the paper's "6-10 RTTs").
const BTL_BW_WINDOW_ROUNDS: u64 = CYCLE_LEN as u64 + 2;

/// RTprop is the min RTT over this long (tcp_bbr.c `bbr_min_rtt_win_sec`; the
/// paper's "tens of seconds").
const RTPROP_WINDOW: Duration = Duration::from_secs(10);

/// ProbeRTT holds the window at its minimum this long at least, bounding its
/// cost to about 2% (200 ms / 10 s) (tcp_bbr.c `bbr_probe_rtt_mode_ms`).
const PROBE_RTT_DURATION: Duration = Duration::from_millis(200);

/// The smallest target window in segments: "a sliding window protocol ACKing
/// every other packet needs at least 4 packets in flight" (tcp_bbr.c
/// `bbr_cwnd_min_target`). ProbeRTT's window.
const MIN_CWND_SEGMENTS: usize = 4;

/// Startup's bandwidth is still growing while each round brings 25% more
/// (tcp_bbr.c `bbr_full_bw_thresh`).
const FULL_BW_GROWTH: Gain = Gain::new(5, 4);

/// Rounds without that growth before the pipe counts as full: "1: rwin
/// autotuning grows the rwin, 2: we fill the higher rwin, 3: we get higher
/// delivery rate samples" (tcp_bbr.c `bbr_full_bw_cnt`).
const FULL_BW_ROUNDS: u32 = 3;

/// Pace 1% below BtlBw "to reduce queue at bottleneck" (tcp_bbr.c
/// `bbr_pacing_margin_percent`).
const PACING_MARGIN_PERCENT: u64 = 1;

/// Below this rate (1.2 Mbit/s) the send quantum is one segment (tcp_bbr.c
/// `bbr_min_tso_rate`, in bytes per second).
const MIN_TSO_RATE: u64 = 1_200_000 / 8;

/// The send quantum is the data of 2^-10 s (~1 ms) at the pacing rate (Linux
/// `sk_pacing_shift`, default 10, as `bbr_tso_segs_goal` uses it).
const PACING_SHIFT: u32 = 10;

/// The send quantum is at most 64 KiB (Linux bounds it by GSO_MAX_SIZE; here
/// it bounds the pacer's bursts).
const MAX_SEND_QUANTUM: usize = 64 * 1024;

/// A long-term sampling interval lasts at least this many rounds
/// (tcp_bbr.c `bbr_lt_intvl_min_rtts`)...
const LT_INTERVAL_MIN_ROUNDS: u32 = 4;

/// ...and at most four times as many, or it starts over.
const LT_INTERVAL_MAX_ROUNDS: u32 = 4 * LT_INTERVAL_MIN_ROUNDS;

/// An interval is lossy, hinting at a policer, when lost/delivered is at
/// least 50/256 (~20%) (tcp_bbr.c `bbr_lt_loss_thresh`).
const LT_LOSS_THRESHOLD: Gain = Gain::new(50, 256);

/// Two intervals' rates are consistent when they differ by at most 1/8...
/// (tcp_bbr.c `bbr_lt_bw_ratio`)
const LT_BW_RATIO: Gain = Gain::new(1, 8);

/// ...or by at most 4 kbit/s, in bytes per second (tcp_bbr.c
/// `bbr_lt_bw_diff`).
const LT_BW_DIFF: u64 = 4000 / 8;

/// Once policed, use the policed rate for this many rounds of ProbeBW, then
/// probe again (tcp_bbr.c `bbr_lt_bw_max_rtts`).
const LT_BW_MAX_ROUNDS: u32 = 48;

/// Without an RTT sample the first pacing rate assumes 1 ms (tcp_bbr.c
/// `bbr_init_pacing_rate_from_rtt`, "nominal default RTT").
const NOMINAL_RTT: Duration = Duration::from_millis(1);

/// BBR's modes (the paper's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// Where the connection is in loss recovery, as BBR sees it (tcp_bbr.c
/// `prev_ca_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// No loss episode.
    Open,
    /// Fast recovery ([`CongestionControl::on_congestion_event`]).
    Recovery,
    /// After a retransmission timeout.
    Timeout,
}

/// The long-term ("LT") bandwidth estimate of tcp_bbr.c: token-bucket
/// policers let a burst through, then drop what exceeds their rate; BBR's
/// max filter would keep pacing at the burst's rate into heavy loss. Two
/// consecutive lossy intervals (4 to 16 rounds, ending at a loss, ~20% lost)
/// with consistent delivery rates mean a policer: pace at their average for
/// 48 rounds, then probe again.
#[derive(Debug, Clone, Copy, Default)]
struct LongTerm {
    /// An interval is being measured (it starts at the first loss).
    sampling: bool,
    /// Rounds in this interval, or rounds of using `bw`.
    rounds: u32,
    /// A policer is estimated: pace at `bw`.
    use_bw: bool,
    /// The previous interval's rate, or the policed rate; bytes per second.
    bw: u64,
    /// Start of the interval: delivered and lost counters, and time.
    start_delivered: u64,
    start_lost: u64,
    start: Instant,
}

/// BBR v1 (see the module docs).
#[derive(Debug, Clone)]
pub struct Bbr {
    mode: Mode,

    // The path model.
    /// BtlBw: windowed max delivery rate, bytes per second, over rounds.
    btl_bw: MaxFilter<u64, u64>,
    /// RTprop: windowed min RTT over time.
    rtprop: MinFilter<Duration, Instant>,
    /// When an RTT sample last matched or beat RTprop (tcp_bbr.c
    /// `min_rtt_stamp`); `None` until the first call.
    rtprop_stamp: Option<Instant>,

    // Round counting.
    /// Bytes delivered so far (sum of `AckSample::delivered`).
    delivered: u64,
    /// Bytes declared lost so far (sum of `AckSample::lost`).
    lost: u64,
    /// `delivered` at which the current round ends (tcp_bbr.c
    /// `next_rtt_delivered`).
    next_round_delivered: u64,
    /// Rounds so far (tcp_bbr.c `rtt_cnt`).
    round_count: u64,
    /// This ACK started a round.
    round_start: bool,

    // Startup.
    /// BtlBw at the last 25% growth (tcp_bbr.c `full_bw`).
    full_bw: u64,
    /// Rounds since then (tcp_bbr.c `full_bw_cnt`).
    full_bw_count: u32,
    /// Startup filled the pipe (tcp_bbr.c `full_bw_reached`).
    full_bw_reached: bool,

    // ProbeBW.
    cycle_index: usize,
    /// When the current gain phase began (tcp_bbr.c `cycle_mstamp`).
    cycle_start: Instant,

    /// Long-term bandwidth: the policer detector.
    lt: LongTerm,

    // ProbeRTT.
    /// When ProbeRTT may end: 200 ms after in flight first fell to the
    /// minimum window (tcp_bbr.c `probe_rtt_done_stamp`).
    probe_rtt_done_at: Option<Instant>,
    /// A round passed at the minimum window (tcp_bbr.c `probe_rtt_round_done`).
    probe_rtt_round_done: bool,
    /// Delivered-counter range within which segments were sent during
    /// ProbeRTT: their rate samples count as application-limited (what
    /// tcp_bbr.c gets by setting `tp->app_limited` in ProbeRTT).
    probe_rtt_sent: Option<(u64, u64)>,
    /// Sending restarted from idle and nothing was delivered since
    /// (tcp_bbr.c `idle_restart`).
    idle_restart: bool,

    // Outputs.
    pacing_gain: Gain,
    cwnd_gain: Gain,
    cwnd: usize,
    /// Bytes per second.
    pacing_rate: u64,
    /// The pacing rate was set from an RTT (tcp_bbr.c `has_seen_rtt`).
    has_seen_rtt: bool,
    /// Only for traces and for connections that look at it: the BDP when
    /// Startup ended, as tcp_bbr.c `bbr_check_drain` sets `snd_ssthresh`.
    ssthresh: usize,

    // Loss recovery.
    loss: Loss,
    /// An ACK with `in_recovery` was seen in this loss episode (its end shows
    /// as an ACK without it).
    saw_recovery_ack: bool,
    /// Recovery began; the next ACK that delivers data starts conservation.
    recovery_pending: bool,
    /// First round of recovery (tcp_bbr.c `packet_conservation`).
    packet_conservation: bool,
    /// The window before loss recovery or ProbeRTT cut it (tcp_bbr.c
    /// `prior_cwnd`).
    prior_cwnd: usize,

    initial_cwnd: usize,
    mss: usize,
    /// State of the generator that picks the first ProbeBW phase.
    rng: u64,
}

impl Bbr {
    /// BBR with a window of `initial_cwnd` bytes for segments of `mss` bytes.
    /// The ProbeBW start phase comes from a seed derived from both, so runs
    /// repeat; [`Bbr::with_seed`] takes one.
    pub fn new(initial_cwnd: usize, mss: usize) -> Bbr {
        let seed = (initial_cwnd as u64).rotate_left(32) ^ mss as u64 ^ 0xbb12_5eed;
        Bbr::with_seed(initial_cwnd, mss, seed)
    }

    /// Like [`Bbr::new`], with the seed of the random ProbeBW start phase
    /// (flows sharing a bottleneck should differ, e.g. by their ISN).
    pub fn with_seed(initial_cwnd: usize, mss: usize, seed: u64) -> Bbr {
        let mss = mss.max(1);
        let cwnd = initial_cwnd.max(1);
        let mut bbr = Bbr {
            mode: Mode::Startup,
            btl_bw: MaxFilter::new(BTL_BW_WINDOW_ROUNDS),
            rtprop: MinFilter::new(RTPROP_WINDOW),
            rtprop_stamp: None,
            delivered: 0,
            lost: 0,
            next_round_delivered: 0,
            round_count: 0,
            round_start: false,
            full_bw: 0,
            full_bw_count: 0,
            full_bw_reached: false,
            cycle_index: 0,
            cycle_start: Instant::ZERO,
            lt: LongTerm::default(),
            probe_rtt_done_at: None,
            probe_rtt_round_done: false,
            probe_rtt_sent: None,
            idle_restart: false,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            cwnd,
            pacing_rate: 0,
            has_seen_rtt: false,
            ssthresh: usize::MAX,
            loss: Loss::Open,
            saw_recovery_ack: false,
            recovery_pending: false,
            packet_conservation: false,
            prior_cwnd: 0,
            initial_cwnd: cwnd,
            mss,
            rng: seed,
        };
        bbr.init_pacing_rate(None);
        bbr
    }

    /// BtlBw in bytes per second; `None` before the first delivery-rate
    /// sample.
    pub fn btl_bw(&self) -> Option<u64> {
        self.btl_bw.get()
    }

    /// The policed rate in bytes per second, while BBR estimates that a
    /// token-bucket policer limits the flow and paces at it.
    pub fn lt_bw(&self) -> Option<u64> {
        self.lt.use_bw.then_some(self.lt.bw)
    }

    /// RTprop; `None` before the first RTT sample.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.rtprop.get()
    }

    /// The bandwidth-delay product in bytes, once BtlBw and RTprop are
    /// known: the model's bandwidth (BtlBw, or the policed rate) times
    /// RTprop.
    pub fn bdp(&self) -> Option<usize> {
        self.btl_bw.get()?;
        self.rtprop.get()?;
        Some(self.bdp_with(self.bw(), UNIT))
    }

    /// The pacing gain as `(numerator, denominator)`.
    pub fn pacing_gain(&self) -> (u64, u64) {
        (self.pacing_gain.num, self.pacing_gain.den)
    }

    /// The cwnd gain as `(numerator, denominator)`.
    pub fn cwnd_gain(&self) -> (u64, u64) {
        (self.cwnd_gain.num, self.cwnd_gain.den)
    }

    /// The ProbeBW gain phase, 0..8 (0 is the 5/4 probe).
    pub fn cycle_index(&self) -> usize {
        self.cycle_index
    }

    /// Startup filled the pipe.
    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// Round trips counted so far.
    pub fn round_count(&self) -> u64 {
        self.round_count
    }

    /// The window saved before loss recovery or ProbeRTT cut it.
    pub fn prior_cwnd(&self) -> usize {
        self.prior_cwnd
    }

    /// BtlBw, 0 before the first sample (tcp_bbr.c `bbr_max_bw`).
    fn max_bw(&self) -> u64 {
        self.btl_bw.get().unwrap_or(0)
    }

    /// The bandwidth pacing and the window use: the policed rate while one
    /// is estimated, else BtlBw (tcp_bbr.c `bbr_bw`).
    fn bw(&self) -> u64 {
        if self.lt.use_bw {
            self.lt.bw
        } else {
            self.max_bw()
        }
    }

    fn min_cwnd(&self) -> usize {
        MIN_CWND_SEGMENTS.saturating_mul(self.mss)
    }

    /// The first call of any kind starts the RTprop clock (tcp_bbr.c
    /// `bbr_init` stamps `min_rtt_stamp` with the time of creation).
    fn start_clock(&mut self, now: Instant) {
        if self.rtprop_stamp.is_none() {
            self.rtprop_stamp = Some(now);
        }
    }

    /// splitmix64: a uniform draw in `0..n` (n > 0).
    fn random_below(&mut self, n: u64) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        z % n.max(1)
    }

    // --- Pacing rate and send quantum -----------------------------------

    /// `bw * gain`, 1% below (tcp_bbr.c `bbr_bw_to_pacing_rate`).
    fn pacing_rate_for(bw: u64, gain: Gain) -> u64 {
        let r = u128::from(bw) * u128::from(gain.num) * u128::from(100 - PACING_MARGIN_PERCENT)
            / (u128::from(gain.den).max(1) * 100);
        u64::try_from(r).unwrap_or(u64::MAX)
    }

    /// The pacing rate before any bandwidth sample: high_gain * cwnd / RTT,
    /// with the smoothed RTT once there is one, else 1 ms (tcp_bbr.c
    /// `bbr_init_pacing_rate_from_rtt`).
    fn init_pacing_rate(&mut self, srtt: Option<Duration>) {
        let rtt = match srtt {
            Some(srtt) => {
                self.has_seen_rtt = true;
                // tcp_bbr.c uses at least 1 us.
                srtt.max(Duration::from_micros(1))
            }
            None => NOMINAL_RTT,
        };
        let bw = mul_div(self.cwnd as u64, 1_000_000_000, rtt.as_nanos());
        self.pacing_rate = Self::pacing_rate_for(bw, HIGH_GAIN).max(1);
    }

    /// tcp_bbr.c `bbr_set_pacing_rate`: pace at gain * bw, but never slower
    /// in Startup before the pipe is full (a low early sample must not undo
    /// the initial rate).
    fn set_pacing_rate(&mut self, bw: u64, gain: Gain, srtt: Option<Duration>) {
        if !self.has_seen_rtt && srtt.is_some() {
            self.init_pacing_rate(srtt);
        }
        let rate = Self::pacing_rate_for(bw, gain);
        if rate > 0 && (self.full_bw_reached || rate > self.pacing_rate) {
            self.pacing_rate = rate;
        }
    }

    /// tcp_bbr.c `bbr_tso_segs_goal`: the data of ~1 ms at `rate`, in whole
    /// segments, at least two (one below 1.2 Mbit/s), at most 64 KiB.
    fn quantum(rate: u64, mss: usize) -> usize {
        let mss = mss.max(1);
        let min_segments = if rate < MIN_TSO_RATE { 1 } else { 2 };
        let bytes = to_usize(rate >> PACING_SHIFT).min(MAX_SEND_QUANTUM);
        (bytes / mss).max(min_segments).saturating_mul(mss)
    }

    // --- Windows -----------------------------------------------------------

    /// tcp_bbr.c `bbr_bdp`: ceil(bw * RTprop * gain). Without an RTT sample,
    /// the initial window ("be safe: cap at default initial cwnd").
    fn bdp_with(&self, bw: u64, gain: Gain) -> usize {
        let Some(rtprop) = self.rtprop.get() else {
            return self.initial_cwnd;
        };
        let num = u128::from(bw)
            .saturating_mul(u128::from(rtprop.as_nanos()))
            .saturating_mul(u128::from(gain.num));
        let den = u128::from(gain.den).max(1) * 1_000_000_000;
        let bdp = num.div_ceil(den);
        usize::try_from(bdp).unwrap_or(usize::MAX)
    }

    /// tcp_bbr.c `bbr_quantization_budget`: room for three send quanta (one
    /// being queued, one being sent, one in the receiver's ACK coalescing),
    /// and two more segments in the 5/4 phase so small BDPs still probe.
    /// (Linux's rounding up to an even packet count, against delayed ACKs,
    /// has no counterpart in a window of bytes.)
    fn quantization_budget(&self, cwnd: usize) -> usize {
        let quantum = Self::quantum(self.pacing_rate, self.mss);
        let mut cwnd = cwnd.saturating_add(quantum.saturating_mul(3));
        if self.mode == Mode::ProbeBw && self.cycle_index == 0 {
            cwnd = cwnd.saturating_add(self.mss.saturating_mul(2));
        }
        cwnd
    }

    /// tcp_bbr.c `bbr_inflight`: what `gain` times the BDP is in flight.
    fn inflight(&self, bw: u64, gain: Gain) -> usize {
        self.quantization_budget(self.bdp_with(bw, gain))
    }

    /// tcp_bbr.c `bbr_save_cwnd`: remember the window before a loss episode
    /// or ProbeRTT; if one of them already cut it, keep the larger.
    fn save_cwnd(&mut self) {
        if self.loss == Loss::Open && self.mode != Mode::ProbeRtt {
            self.prior_cwnd = self.cwnd;
        } else {
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        }
    }

    /// tcp_bbr.c `bbr_set_cwnd` with `bbr_set_cwnd_to_recover_or_restore`.
    fn set_cwnd(&mut self, ack: &AckSample, bw: u64) {
        let acked = ack.delivered;
        if acked > 0 {
            let mut cwnd = self.cwnd;
            // An ACK for P bytes releases at most 2P: first take what was
            // lost off the window, then grow by what was delivered.
            if ack.lost > 0 {
                cwnd = cwnd.saturating_sub(ack.lost).max(self.mss);
            }
            if self.recovery_pending {
                // First round of recovery: packet conservation, starting a
                // round now; cut what the window held beyond what is in
                // flight ("unused cwnd from app behavior").
                self.recovery_pending = false;
                self.packet_conservation = true;
                self.next_round_delivered = self.delivered;
                cwnd = ack.in_flight.saturating_add(acked);
            }
            if self.packet_conservation {
                cwnd = cwnd.max(ack.in_flight.saturating_add(acked));
            } else {
                let target = self.quantization_budget(self.bdp_with(bw, self.cwnd_gain));
                if self.full_bw_reached {
                    // Grow toward the target, or snap down to it.
                    cwnd = cwnd.saturating_add(acked).min(target);
                } else if cwnd < target || self.delivered < self.initial_cwnd as u64 {
                    // Startup: grow by what was delivered (slow start), and
                    // never cut before the pipe is known to be full.
                    cwnd = cwnd.saturating_add(acked);
                }
                cwnd = cwnd.max(self.min_cwnd());
            }
            self.cwnd = cwnd;
        }
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(self.min_cwnd());
        }
        self.cwnd = self.cwnd.max(1);
    }

    // --- The model (tcp_bbr.c bbr_update_model) ---------------------------

    /// tcp_bbr.c `bbr_reset_lt_bw_sampling_interval`.
    fn reset_long_term_interval(&mut self, now: Instant) {
        self.lt.start = now;
        self.lt.start_delivered = self.delivered;
        self.lt.start_lost = self.lost;
        self.lt.rounds = 0;
    }

    /// tcp_bbr.c `bbr_reset_lt_bw_sampling`: forget the estimate.
    fn reset_long_term(&mut self, now: Instant) {
        self.lt.bw = 0;
        self.lt.use_bw = false;
        self.lt.sampling = false;
        self.reset_long_term_interval(now);
    }

    /// tcp_bbr.c `bbr_lt_bw_sampling`, once per ACK that sampled a segment
    /// (and at a timeout): measure lossy intervals; two consistent ones make
    /// a policer estimate.
    fn long_term_sampling(&mut self, now: Instant, losses: bool, app_limited: bool) {
        if self.lt.use_bw {
            // Policed: after a while, forget it and probe again.
            if self.mode == Mode::ProbeBw && self.round_start {
                self.lt.rounds = self.lt.rounds.saturating_add(1);
                if self.lt.rounds >= LT_BW_MAX_ROUNDS {
                    self.reset_long_term(now);
                    self.enter_probe_bw(now);
                }
            }
            return;
        }
        // Sample from the first loss on: by then a policer's bucket is
        // empty and the rate is the policed one, not the burst.
        if !self.lt.sampling {
            if !losses {
                return;
            }
            self.reset_long_term_interval(now);
            self.lt.sampling = true;
        }
        // Running out of data underestimates: start over.
        if app_limited {
            self.reset_long_term(now);
            return;
        }
        if self.round_start {
            self.lt.rounds = self.lt.rounds.saturating_add(1);
        }
        if self.lt.rounds < LT_INTERVAL_MIN_ROUNDS {
            return;
        }
        if self.lt.rounds > LT_INTERVAL_MAX_ROUNDS {
            self.reset_long_term(now);
            return;
        }
        // End the interval at a loss (the bucket is empty again).
        if !losses {
            return;
        }
        let lost = self.lost.saturating_sub(self.lt.start_lost);
        let delivered = self.delivered.saturating_sub(self.lt.start_delivered);
        if delivered == 0 || LT_LOSS_THRESHOLD.exceeds(delivered, lost) {
            return;
        }
        // tcp_bbr.c measures in milliseconds and waits for at least one.
        let elapsed = now.saturating_since(self.lt.start);
        if elapsed < Duration::from_millis(1) {
            return;
        }
        let bw = mul_div(delivered, 1_000_000_000, elapsed.as_nanos());
        self.long_term_interval_done(now, bw);
    }

    /// tcp_bbr.c `bbr_lt_bw_interval_done`: a rate consistent with the
    /// previous interval's means a policer; otherwise this interval becomes
    /// the previous one.
    fn long_term_interval_done(&mut self, now: Instant, bw: u64) {
        if self.lt.bw != 0 {
            let diff = bw.abs_diff(self.lt.bw);
            if diff <= LT_BW_RATIO.of(self.lt.bw) || diff <= LT_BW_DIFF {
                self.lt.bw = bw / 2 + self.lt.bw / 2 + (bw & self.lt.bw & 1);
                self.lt.use_bw = true;
                self.pacing_gain = UNIT;
                self.lt.rounds = 0;
                return;
            }
        }
        self.lt.bw = bw;
        self.reset_long_term_interval(now);
    }

    /// tcp_bbr.c `bbr_update_bw`: count rounds; take the delivery rate into
    /// BtlBw unless it is application-limited and below BtlBw (it may
    /// measure the application, not the path).
    fn update_bw(&mut self, ack: &AckSample, app_limited: bool) {
        let rs = &ack.rate;
        self.round_start = false;
        // No segment was sampled: nothing to count a round by.
        if rs.delivered == 0 {
            return;
        }
        if rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = self.delivered;
            self.round_count = self.round_count.saturating_add(1);
            self.round_start = true;
            self.packet_conservation = false;
        }
        self.long_term_sampling(ack.now, ack.lost > 0, app_limited);
        let Some(bw) = rs.delivery_rate else {
            return;
        };
        if !app_limited || bw >= self.max_bw() {
            self.btl_bw.update(self.round_count, bw);
        }
    }

    /// tcp_bbr.c `bbr_is_next_cycle_phase`: a phase lasts one RTprop; the
    /// probe (5/4) also until in flight reached 5/4 BDP (or a loss says it
    /// will not fit), the drain (3/4) no longer than until in flight fell to
    /// one BDP.
    fn is_next_cycle_phase(&self, ack: &AckSample) -> bool {
        let rtprop = self.rtprop.get().unwrap_or(Duration::MAX);
        let full_length = ack.now.saturating_since(self.cycle_start) > rtprop;
        if self.pacing_gain.is_one() {
            return full_length;
        }
        let in_flight = ack.prior_in_flight;
        let bw = self.max_bw();
        if self.pacing_gain.above_one() {
            return full_length
                && (ack.lost > 0 || in_flight >= self.inflight(bw, self.pacing_gain));
        }
        full_length || in_flight <= self.inflight(bw, UNIT)
    }

    fn advance_cycle_phase(&mut self, now: Instant) {
        self.cycle_index = (self.cycle_index + 1) % CYCLE_LEN;
        self.cycle_start = now;
    }

    /// tcp_bbr.c `bbr_reset_probe_bw_mode`: ProbeBW at a random phase, any
    /// but the draining one (start at 7 - rand(7), i.e. 1..=7, then advance).
    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        let draw = to_usize(self.random_below(CYCLE_RAND));
        self.cycle_index = CYCLE_LEN - 1 - draw;
        self.advance_cycle_phase(now);
    }

    /// tcp_bbr.c `bbr_reset_mode`: after ProbeRTT, back to ProbeBW, or to
    /// Startup if the pipe was never filled.
    fn leave_probe_rtt(&mut self, now: Instant) {
        if self.full_bw_reached {
            self.enter_probe_bw(now);
        } else {
            self.mode = Mode::Startup;
        }
    }

    /// tcp_bbr.c `bbr_check_full_bw_reached`: once per round, on samples that
    /// measure the path: did BtlBw grow 25% since the last growth?
    fn check_full_bw_reached(&mut self, app_limited: bool) {
        if self.full_bw_reached || !self.round_start || app_limited {
            return;
        }
        let bw = self.max_bw();
        if bw >= FULL_BW_GROWTH.of(self.full_bw) {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count = self.full_bw_count.saturating_add(1);
        self.full_bw_reached = self.full_bw_count >= FULL_BW_ROUNDS;
    }

    /// tcp_bbr.c `bbr_check_drain`: a full pipe ends Startup; Drain ends
    /// when what is in flight fits one BDP (with its quantization budget).
    fn check_drain(&mut self, ack: &AckSample) {
        if self.mode == Mode::Startup && self.full_bw_reached {
            self.mode = Mode::Drain;
            self.ssthresh = self.inflight(self.max_bw(), UNIT);
        }
        if self.mode == Mode::Drain && ack.in_flight <= self.inflight(self.max_bw(), UNIT) {
            self.enter_probe_bw(ack.now);
        }
    }

    /// tcp_bbr.c `bbr_update_min_rtt`: RTprop, and ProbeRTT when no sample
    /// matched or beat it for 10 s.
    fn update_min_rtt(&mut self, ack: &AckSample, rtt: Option<Duration>) {
        let now = ack.now;
        let expired = self
            .rtprop_stamp
            .is_some_and(|stamp| now.saturating_since(stamp) > RTPROP_WINDOW);
        if let Some(rtt) = rtt {
            // "Matches" at tcp_bbr.c's microsecond resolution.
            let renews = self
                .rtprop
                .get()
                .is_none_or(|min| rtt.as_micros() <= min.as_micros());
            self.rtprop.update(now, rtt);
            // An expired estimate takes the next sample as renewal, so
            // ProbeRTT comes at most once per window.
            if renews || expired {
                self.rtprop_stamp = Some(now);
            }
        }

        if expired && !self.idle_restart && self.mode != Mode::ProbeRtt {
            // Dip: drain the queue to see the propagation delay.
            self.save_cwnd();
            self.mode = Mode::ProbeRtt;
            self.probe_rtt_done_at = None;
            self.probe_rtt_sent = Some((self.delivered, self.delivered));
        }

        if self.mode == Mode::ProbeRtt {
            // Samples of segments sent now measure the small window, not the
            // path: treat them as application-limited.
            let upto = self.delivered.saturating_add(ack.in_flight as u64);
            if let Some((_, end)) = self.probe_rtt_sent.as_mut() {
                *end = upto;
            }
            // Hold the minimum in flight for max(200 ms, one round).
            if self.probe_rtt_done_at.is_none() && ack.in_flight <= self.min_cwnd() {
                self.probe_rtt_done_at = Some(now + PROBE_RTT_DURATION);
                self.probe_rtt_round_done = false;
                self.next_round_delivered = self.delivered;
            } else if self.probe_rtt_done_at.is_some() {
                if self.round_start {
                    self.probe_rtt_round_done = true;
                }
                if self.probe_rtt_round_done {
                    self.check_probe_rtt_done(now);
                }
            }
        }
        // The restart from idle is over once new data is delivered.
        if ack.rate.delivered > 0 {
            self.idle_restart = false;
        }
    }

    /// tcp_bbr.c `bbr_check_probe_rtt_done`: after the hold, restore the
    /// window and resume.
    fn check_probe_rtt_done(&mut self, now: Instant) {
        if self.probe_rtt_done_at.is_none_or(|done| now <= done) {
            return;
        }
        self.rtprop_stamp = Some(now);
        self.cwnd = self.cwnd.max(self.prior_cwnd);
        self.leave_probe_rtt(now);
    }

    /// tcp_bbr.c `bbr_update_gains`.
    fn update_gains(&mut self) {
        (self.pacing_gain, self.cwnd_gain) = match self.mode {
            Mode::Startup => (HIGH_GAIN, HIGH_GAIN),
            // Slow down to drain, keep the window.
            Mode::Drain => (DRAIN_GAIN, HIGH_GAIN),
            // Policed: pace at the policed rate, no probing.
            Mode::ProbeBw if self.lt.use_bw => (UNIT, CWND_GAIN),
            Mode::ProbeBw => (PACING_GAIN_CYCLE[self.cycle_index % CYCLE_LEN], CWND_GAIN),
            Mode::ProbeRtt => (UNIT, UNIT),
        };
    }

    /// Whether a sample may underestimate the path: the sampler says so, or
    /// its segment left during ProbeRTT.
    fn sample_app_limited(&self, rs: &RateSample) -> bool {
        rs.is_app_limited
            || self
                .probe_rtt_sent
                .is_some_and(|(from, to)| rs.prior_delivered >= from && rs.prior_delivered <= to)
    }

    /// The end of a loss episode (fast recovery or timeout): restore the
    /// window from before it (tcp_bbr.c `bbr_set_cwnd_to_recover_or_restore`,
    /// "exiting loss recovery").
    fn end_loss_episode(&mut self) {
        if self.loss == Loss::Open {
            return;
        }
        self.loss = Loss::Open;
        self.saw_recovery_ack = false;
        self.recovery_pending = false;
        self.packet_conservation = false;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    /// The ACK tells whether the connection is still recovering: an ACK out
    /// of recovery after ACKs in it ends the episode even without
    /// [`CongestionControl::on_recovery_exit`] (a timeout's episode has no
    /// other end).
    fn track_loss_episode(&mut self, ack: &AckSample) {
        if self.loss == Loss::Open {
            return;
        }
        if ack.in_recovery {
            self.saw_recovery_ack = true;
        } else if self.saw_recovery_ack {
            self.end_loss_episode();
        }
    }
}

impl CongestionControl for Bbr {
    fn cwnd(&self) -> usize {
        // Packet conservation can leave less than a segment (in flight plus
        // a partial ACK); never less than one segment may be sent.
        self.cwnd.max(self.mss.max(1))
    }

    /// BBR does not use a slow-start threshold. As tcp_bbr.c, it reports
    /// "infinite" until Startup ends and the BDP (with quantization budget)
    /// after.
    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn pacing_rate(&self) -> Option<u64> {
        Some(self.pacing_rate.max(1))
    }

    fn send_quantum_at(&self, rate: Option<u64>, mss: usize) -> usize {
        Self::quantum(rate.unwrap_or(self.pacing_rate), mss)
    }

    /// tcp_bbr.c `bbr_cwnd_event(CA_EVENT_TX_START)`: sending again from
    /// idle while application-limited. In ProbeBW pace at BtlBw (no need to
    /// probe, and a burst at 5/4 would only queue); ProbeRTT may be over.
    fn on_send(&mut self, now: Instant, _bytes: usize, in_flight: usize, app_limited: bool) {
        self.start_clock(now);
        if in_flight != 0 || !app_limited {
            return;
        }
        self.idle_restart = true;
        match self.mode {
            Mode::ProbeBw => self.set_pacing_rate(self.bw(), UNIT, None),
            Mode::ProbeRtt => self.check_probe_rtt_done(now),
            Mode::Startup | Mode::Drain => {}
        }
    }

    /// tcp_bbr.c `bbr_main`.
    fn on_ack(&mut self, ack: &AckSample) {
        self.start_clock(ack.now);
        if ack.mss > 0 {
            self.mss = ack.mss;
        }
        self.delivered = self.delivered.saturating_add(ack.delivered as u64);
        self.lost = self.lost.saturating_add(ack.lost as u64);
        self.track_loss_episode(ack);

        let rs = ack.rate;
        let app_limited = self.sample_app_limited(&rs);
        self.update_bw(ack, app_limited);
        if self.mode == Mode::ProbeBw && self.is_next_cycle_phase(ack) {
            self.advance_cycle_phase(ack.now);
        }
        self.check_full_bw_reached(app_limited);
        self.check_drain(ack);
        self.update_min_rtt(ack, rs.rtt.or(ack.rtt));
        self.update_gains();

        let bw = self.bw();
        self.set_pacing_rate(bw, self.pacing_gain, ack.srtt);
        self.set_cwnd(ack, bw);
    }

    /// Fast recovery begins: remember the window; the next ACK that delivers
    /// data starts a round of packet conservation (tcp_bbr.c `bbr_ssthresh`
    /// and the TCP_CA_Recovery entry of
    /// `bbr_set_cwnd_to_recover_or_restore`).
    fn on_congestion_event(&mut self, now: Instant, _flight: usize, mss: usize) {
        self.start_clock(now);
        if mss > 0 {
            self.mss = mss;
        }
        if self.loss == Loss::Recovery {
            return;
        }
        self.save_cwnd();
        self.loss = Loss::Recovery;
        self.saw_recovery_ack = false;
        self.recovery_pending = true;
    }

    fn on_recovery_exit(&mut self, _now: Instant) {
        self.end_loss_episode();
    }

    /// A retransmission timeout: remember the window, then send one segment
    /// (Linux `tcp_enter_loss` sets cwnd to what is in flight plus one, and
    /// after going back N nothing counts as in flight: `flight` is all
    /// presumed lost). Like tcp_bbr.c `bbr_set_state(TCP_CA_Loss)`, the
    /// timeout ends a round and resets the full-pipe baseline. Packet
    /// conservation holds until a segment sent after the timeout is
    /// delivered, which is the first retransmission's ACK.
    fn on_rto(&mut self, now: Instant, _flight: usize, mss: usize) {
        self.start_clock(now);
        if mss > 0 {
            self.mss = mss;
        }
        self.save_cwnd();
        self.loss = Loss::Timeout;
        self.saw_recovery_ack = false;
        self.recovery_pending = false;
        self.packet_conservation = true;
        self.next_round_delivered = self.delivered;
        self.full_bw = 0;
        self.round_start = true;
        self.long_term_sampling(now, true, false);
        self.cwnd = self.mss;
    }

    /// tcp_bbr.c `bbr_undo_cwnd`: the loss was not real, so neither was the
    /// slowdown it may have shown: restart full-pipe detection and policer
    /// detection. The window comes back when the connection ends recovery.
    fn on_spurious_loss(&mut self, now: Instant) {
        self.full_bw = 0;
        self.full_bw_count = 0;
        self.reset_long_term(now);
    }

    fn name(&self) -> &'static str {
        "bbr"
    }

    fn state(&self) -> &'static str {
        match self.mode {
            Mode::Startup => "startup",
            Mode::Drain => "drain",
            Mode::ProbeBw => "probe_bw",
            Mode::ProbeRtt => "probe_rtt",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use crate::cc::{Algorithm, PacketState, RateSampler};

    const MSS: usize = 1448;
    const IW: usize = 10 * MSS;
    /// 100 Mbit/s in bytes per second.
    const LINK: u64 = 12_500_000;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// `v * 99 / 100`: the pacing margin.
    fn margin(v: u64) -> u64 {
        v * 99 / 100
    }

    // --- Synthetic ACK streams ----------------------------------------------

    /// Feeds a controller ACKs of one segment each whose rate samples measure
    /// whatever bandwidth the test says, at a fixed RTT.
    struct Feed {
        cc: Bbr,
        now: Instant,
        /// Bytes delivered so far (the connection's C.delivered).
        delivered: u64,
        rtt: Duration,
        in_flight: usize,
        app_limited: bool,
        in_recovery: bool,
        /// Bytes each ACK reports lost.
        lost_per_ack: usize,
        /// ACKs per round trip.
        acks: u64,
    }

    impl Feed {
        fn new() -> Feed {
            Feed {
                cc: Bbr::with_seed(IW, MSS, 1),
                now: Instant::ZERO,
                delivered: 0,
                rtt: ms(20),
                in_flight: IW,
                app_limited: false,
                in_recovery: false,
                lost_per_ack: 0,
                acks: 10,
            }
        }

        fn sample(&self, bw: Option<u64>, prior_delivered: u64) -> AckSample {
            AckSample {
                now: self.now,
                delivered: MSS,
                lost: self.lost_per_ack,
                prior_in_flight: self.in_flight,
                in_flight: self.in_flight,
                rate: RateSample {
                    delivery_rate: bw,
                    delivered: MSS as u64,
                    interval: self.rtt,
                    is_app_limited: self.app_limited,
                    prior_delivered,
                    tx_in_flight: 0,
                    lost: self.lost_per_ack as u64,
                    rtt: Some(self.rtt),
                },
                rtt: Some(self.rtt),
                srtt: Some(self.rtt),
                min_rtt: Some(self.rtt),
                mss: MSS,
                in_recovery: self.in_recovery,
                cwnd_limited: true,
            }
        }

        /// One ACK of a segment sent when `prior_delivered` bytes were
        /// delivered, after `gap`.
        fn ack_with(&mut self, gap: Duration, bw: Option<u64>, prior_delivered: u64) {
            self.now += gap;
            self.delivered += MSS as u64;
            let s = self.sample(bw, prior_delivered);
            self.cc.on_ack(&s);
        }

        /// One ACK inside the current round (its segment was sent before
        /// the round began).
        fn ack(&mut self, bw: u64) {
            let gap = self.rtt / self.acks;
            let prior = self.delivered.saturating_sub(self.acks * MSS as u64);
            self.ack_with(gap, Some(bw), prior);
        }

        /// One round trip: `acks` ACKs spread over the RTT, each measuring
        /// `bw`, of segments sent as the round began (so the first starts a
        /// round).
        fn round(&mut self, bw: u64) {
            let prior = self.delivered;
            let gap = self.rtt / self.acks;
            for _ in 0..self.acks {
                self.ack_with(gap, Some(bw), prior);
            }
        }

        /// Startup at a constant `bw` until the pipe is full, then Drain
        /// with little in flight: ends in ProbeBW.
        fn to_probe_bw(bw: u64) -> Feed {
            let mut f = Feed::new();
            f.in_flight = MSS;
            for _ in 0..4 {
                f.round(bw);
            }
            assert_eq!(f.cc.state(), "probe_bw");
            f
        }

        /// BDP of `bw` at the feed's RTT.
        fn bdp(&self, bw: u64) -> usize {
            (u128::from(bw) * u128::from(self.rtt.as_nanos())).div_ceil(1_000_000_000) as usize
        }
    }

    #[test]
    fn algorithm_bbr_builds_this_controller() {
        let cc = Algorithm::Bbr.build(IW, MSS);
        assert_eq!((cc.name(), cc.state()), ("bbr", "startup"));
        assert_eq!(cc.cwnd(), IW);
    }

    #[test]
    fn startup_paces_at_high_gain_and_grows_the_rate_2_885x_per_round_when_pacing_limits() {
        // A sender limited only by its pacing rate delivers, each round, at
        // the rate it paced at: the rate grows by the gain (less 1%) per
        // round, until the pipe is full.
        let mut f = Feed::new();
        assert_eq!(f.cc.pacing_gain(), (2885, 1000));
        assert_eq!(f.cc.cwnd_gain(), (2885, 1000));
        let mut rate = f.cc.pacing_rate().unwrap();
        for _ in 0..5 {
            f.round(rate);
            let next = f.cc.pacing_rate().unwrap();
            assert_eq!(next, rate * 2885 * 99 / (1000 * 100));
            let growth = next as f64 / rate as f64;
            assert!((2.84..2.87).contains(&growth), "growth {growth}");
            rate = next;
        }
        assert_eq!(f.cc.state(), "startup");
    }

    #[test]
    fn startup_ends_after_three_rounds_without_25_percent_bandwidth_growth() {
        let mut f = Feed::new();
        f.in_flight = 100 * IW; // Drain must not end at once
        let b = 1_000_000;
        for k in 0..5 {
            f.round(b << k);
        }
        // 20% growth is not growth.
        f.round(16 * b * 6 / 5);
        assert_eq!(f.cc.state(), "startup");
        f.round(16 * b * 6 / 5);
        assert_eq!(f.cc.state(), "startup");
        assert!(!f.cc.full_bw_reached());
        f.round(16 * b * 6 / 5);
        assert!(f.cc.full_bw_reached());
        assert_eq!(f.cc.state(), "drain");
        assert_eq!(f.cc.round_count(), 8);
        assert_eq!(f.cc.btl_bw(), Some(16 * b * 6 / 5));
    }

    #[test]
    fn app_limited_rounds_do_not_count_toward_a_full_pipe() {
        let mut f = Feed::new();
        f.round(1_000_000);
        f.app_limited = true;
        for _ in 0..10 {
            f.round(1_000_000);
        }
        assert_eq!(f.cc.state(), "startup", "the application, not the path");
        f.app_limited = false;
        for _ in 0..3 {
            f.round(1_000_000);
        }
        assert!(f.cc.full_bw_reached());
    }

    #[test]
    fn drain_paces_at_the_inverse_gain_and_ends_when_inflight_fits_one_bdp() {
        let mut f = Feed::new();
        let bw = LINK;
        f.in_flight = 10 * f.bdp(bw);
        for _ in 0..4 {
            f.round(bw);
        }
        assert_eq!(f.cc.state(), "drain");
        assert_eq!(f.cc.pacing_gain(), (1000, 2885));
        assert_eq!(f.cc.cwnd_gain(), (2885, 1000), "Drain keeps the window");
        assert_eq!(f.cc.pacing_rate(), Some(bw * 1000 * 99 / (2885 * 100)));
        assert_eq!(f.cc.bdp(), Some(f.bdp(bw)));
        // One BDP plus three send quanta at the drain rate.
        let fits = f.bdp(bw) + 3 * f.cc.send_quantum(MSS);
        f.in_flight = fits + 1;
        f.ack(bw);
        assert_eq!(f.cc.state(), "drain");
        f.in_flight = fits;
        f.ack(bw);
        assert_eq!(f.cc.state(), "probe_bw");
        assert_ne!(f.cc.cycle_index(), 1);
    }

    #[test]
    fn probe_bw_never_starts_in_the_draining_phase() {
        let mut seen = [false; CYCLE_LEN];
        for seed in 0..200 {
            let mut cc = Bbr::with_seed(IW, MSS, seed);
            cc.enter_probe_bw(Instant::ZERO);
            seen[cc.cycle_index()] = true;
        }
        assert!(!seen[1], "never 3/4 first");
        assert!(
            seen.iter().enumerate().all(|(i, s)| *s || i == 1),
            "every other phase can come first: {seen:?}"
        );
        // new() derives its seed from its arguments: reproducible.
        let start = |cwnd| {
            let mut cc = Bbr::new(cwnd, MSS);
            cc.enter_probe_bw(Instant::ZERO);
            cc.cycle_index()
        };
        assert_eq!(start(IW), start(IW));
    }

    #[test]
    fn probe_bw_cycles_through_the_eight_gains_one_per_min_rtt() {
        let bw = LINK;
        let mut f = Feed::to_probe_bw(bw);
        // Enough in flight that the probe reaches 5/4 BDP and the drain
        // phase does not end early: every phase lasts one min_rtt.
        f.in_flight = 2 * f.bdp(bw);
        let mut phases = vec![(f.cc.cycle_index(), f.now)];
        while phases.len() < 18 {
            f.ack(bw);
            if f.cc.cycle_index() != phases.last().unwrap().0 {
                phases.push((f.cc.cycle_index(), f.now));
            }
            let (num, den) = f.cc.pacing_gain();
            let gain = PACING_GAIN_CYCLE[f.cc.cycle_index()];
            assert_eq!((num, den), (gain.num, gain.den));
            assert_eq!(
                f.cc.pacing_rate(),
                Some(bw * gain.num * 99 / (gain.den * 100)),
                "pacing = gain * BtlBw * 0.99"
            );
        }
        for w in phases.windows(2) {
            assert_eq!(w[1].0, (w[0].0 + 1) % CYCLE_LEN, "in order: {phases:?}");
        }
        // Full phases (not the first, which began inside Drain's ACK):
        // longer than min_rtt by less than one ACK gap.
        for w in phases[1..].windows(2) {
            let len = w[1].1.saturating_since(w[0].1);
            assert!(
                len > ms(20) && len <= ms(22),
                "phase {} lasted {len:?}",
                w[0].0
            );
        }
    }

    #[test]
    fn probe_bw_probe_phase_waits_for_five_quarters_bdp_or_a_loss() {
        let bw = LINK;
        let mut f = Feed::to_probe_bw(bw);
        f.in_flight = f.bdp(bw);
        while f.cc.cycle_index() != 0 {
            f.ack(bw);
        }
        // In flight stays at one BDP: the probe goes on past min_rtt.
        for _ in 0..30 {
            f.ack(bw);
        }
        assert_eq!(f.cc.cycle_index(), 0);
        // A loss ends it.
        f.now += ms(2);
        f.delivered += MSS as u64;
        let mut s = f.sample(Some(bw), 0);
        s.lost = MSS;
        f.cc.on_ack(&s);
        assert_eq!(f.cc.cycle_index(), 1);
    }

    #[test]
    fn probe_bw_drain_phase_ends_early_once_inflight_fits_the_bdp() {
        let bw = LINK;
        let mut f = Feed::to_probe_bw(bw);
        f.in_flight = 2 * f.bdp(bw);
        while f.cc.cycle_index() != 1 {
            f.ack(bw);
        }
        f.ack(bw);
        assert_eq!(f.cc.cycle_index(), 1, "queue still there");
        f.in_flight = f.bdp(bw);
        f.ack(bw);
        assert_eq!(f.cc.cycle_index(), 2, "drained before min_rtt passed");
    }

    #[test]
    fn pacing_rate_before_a_bandwidth_sample_is_high_gain_times_initial_window_over_srtt() {
        let mut cc = Bbr::new(IW, MSS);
        // No RTT yet: 1 ms.
        let nominal = margin(HIGH_GAIN.of(IW as u64 * 1000));
        assert_eq!(cc.pacing_rate(), Some(nominal));
        // The first smoothed RTT (no delivery-rate sample yet).
        cc.on_ack(&AckSample {
            delivered: MSS,
            srtt: Some(ms(20)),
            mss: MSS,
            in_flight: IW,
            ..AckSample::at(Instant::from_millis(20))
        });
        let from_srtt = margin(HIGH_GAIN.of((IW + MSS) as u64 * 50));
        let got = cc.pacing_rate().unwrap();
        // tcp_bbr.c takes the window at that moment (before this ACK grew it).
        assert_eq!(got, margin(HIGH_GAIN.of(IW as u64 * 50)));
        assert!(got < from_srtt);
    }

    #[test]
    fn startup_never_lowers_the_pacing_rate() {
        let mut f = Feed::new();
        f.round(10_000_000);
        let high = f.cc.pacing_rate().unwrap();
        f.app_limited = true;
        f.round(100_000);
        assert_eq!(f.cc.pacing_rate(), Some(high));
    }

    #[test]
    fn pacing_rate_is_gain_times_btl_bw_less_one_percent() {
        let bw = 3_333_333;
        let mut f = Feed::to_probe_bw(bw);
        f.in_flight = 2 * f.bdp(bw);
        for _ in 0..200 {
            f.ack(bw);
            let (num, den) = f.cc.pacing_gain();
            assert_eq!(f.cc.pacing_rate(), Some(bw * num * 99 / (den * 100)));
        }
    }

    #[test]
    fn cwnd_target_is_twice_the_bdp_plus_three_send_quanta() {
        let mut f = settled();
        let quantum = |gain: Gain| Bbr::quantum(LINK * gain.num * 99 / (gain.den * 100), MSS);
        assert_eq!(f.cc.cwnd(), 2 * f.bdp(LINK) + 3 * quantum(UNIT));
        assert_eq!(f.cc.send_quantum(MSS), quantum(UNIT));
        // The probe phase paces faster (larger quanta) and has two segments
        // more; the window grows to that by what is delivered.
        f.in_flight = 2 * f.bdp(LINK);
        while f.cc.cycle_index() != 0 {
            f.ack(LINK);
        }
        let mut last = 0;
        while f.cc.cycle_index() == 0 {
            last = f.cc.cwnd();
            f.ack(LINK);
        }
        let probe = Gain::new(5, 4);
        assert_eq!(last, 2 * f.bdp(LINK) + 3 * quantum(probe) + 2 * MSS);
    }

    #[test]
    fn full_pipe_cwnd_grows_by_delivered_bytes_and_snaps_down_to_the_target() {
        let mut f = Feed::to_probe_bw(LINK);
        f.in_flight = 2 * f.bdp(LINK);
        let before = f.cc.cwnd();
        f.ack(LINK);
        assert_eq!(f.cc.cwnd(), before + MSS, "below target: +delivered");
        let mut f = settled();
        // BtlBw halves (once the window forgets the old max): the window
        // comes down to the new target at once.
        for _ in 0..11 {
            f.round(LINK / 2);
        }
        assert_eq!(f.cc.btl_bw(), Some(LINK / 2));
        let extra = if f.cc.cycle_index() == 0 { 2 * MSS } else { 0 };
        let target = 2 * f.bdp(LINK / 2) + 3 * f.cc.send_quantum(MSS) + extra;
        assert_eq!(f.cc.cwnd(), target);
    }

    #[test]
    fn startup_grows_cwnd_by_delivered_bytes_and_never_cuts_it() {
        let mut f = Feed::new();
        f.round(LINK);
        let grown = f.cc.cwnd();
        assert_eq!(grown, IW + 10 * MSS, "slow start: +1 segment per segment");
        // A low sample (target far below the window) does not cut it.
        f.app_limited = true;
        f.round(10_000);
        assert!(f.cc.cwnd() >= grown);
    }

    #[test]
    fn app_limited_samples_do_not_lower_btl_bw() {
        let bw = LINK;
        let mut f = Feed::to_probe_bw(bw);
        f.app_limited = true;
        for _ in 0..50 {
            f.round(bw / 10);
        }
        assert_eq!(f.cc.btl_bw(), Some(bw), "fifty rounds later");
        // But an app-limited sample above BtlBw raises it.
        f.round(bw * 2);
        assert_eq!(f.cc.btl_bw(), Some(bw * 2));
    }

    #[test]
    fn btl_bw_is_the_max_over_ten_rounds() {
        let bw = LINK;
        let mut f = Feed::to_probe_bw(bw);
        for _ in 0..9 {
            f.round(bw / 2);
        }
        assert_eq!(f.cc.btl_bw(), Some(bw), "still in the window");
        for _ in 0..3 {
            f.round(bw / 2);
        }
        assert_eq!(f.cc.btl_bw(), Some(bw / 2), "the old max left the window");
    }

    /// ProbeBW at `LINK`, then RTT samples 1 ms above the minimum: none
    /// renews it. Returns the feed and the time of the last renewal.
    fn probe_bw_without_renewal() -> (Feed, Instant) {
        let mut f = Feed::to_probe_bw(LINK);
        let renewed = f.now;
        f.rtt = ms(21);
        f.in_flight = 2 * f.bdp(LINK);
        (f, renewed)
    }

    #[test]
    fn probe_rtt_starts_when_min_rtt_was_not_matched_for_ten_seconds() {
        let (mut f, renewed) = probe_bw_without_renewal();
        while f.now.saturating_since(renewed) <= RTPROP_WINDOW {
            assert_eq!(f.cc.state(), "probe_bw");
            f.ack(LINK);
        }
        assert_eq!(f.cc.state(), "probe_rtt");
        assert_eq!(f.cc.pacing_gain(), (1, 1));
        assert_eq!(f.cc.cwnd(), 4 * MSS);
    }

    #[test]
    fn a_matching_rtt_sample_postpones_probe_rtt() {
        let (mut f, _) = probe_bw_without_renewal();
        let mut renewed = f.now;
        let end = f.now + Duration::from_secs(15);
        while f.now < end {
            // Every 5 s one sample matches the minimum again.
            if f.now.saturating_since(renewed) > Duration::from_secs(5) {
                f.rtt = ms(20);
                f.ack(LINK);
                f.rtt = ms(21);
                renewed = f.now;
            }
            f.ack(LINK);
            assert_eq!(f.cc.state(), "probe_bw");
        }
    }

    #[test]
    fn probe_rtt_holds_four_segments_for_200ms_and_a_round_then_restores_cwnd() {
        let (mut f, renewed) = probe_bw_without_renewal();
        while f.cc.state() != "probe_rtt" {
            f.ack(LINK);
        }
        let entered = f.now;
        assert!(entered.saturating_since(renewed) > RTPROP_WINDOW);
        let prior = f.cc.prior_cwnd();
        assert!(prior > 100 * MSS);
        // In flight drains over a round, then sits at the minimum.
        f.round(LINK);
        f.in_flight = 4 * MSS;
        let mut at_min = None;
        while f.cc.state() == "probe_rtt" {
            f.ack(LINK);
            at_min.get_or_insert(f.now);
            if f.cc.state() == "probe_rtt" {
                assert!(f.cc.cwnd() <= 4 * MSS);
            }
            assert_eq!(f.cc.btl_bw(), Some(LINK), "ProbeRTT samples do not count");
            if f.now.saturating_since(entered) > Duration::from_secs(1) {
                panic!("ProbeRTT did not end");
            }
        }
        let at_min = at_min.unwrap();
        let held = f.now.saturating_since(at_min);
        assert!(held > PROBE_RTT_DURATION, "held {held:?}");
        assert!(held <= PROBE_RTT_DURATION + f.rtt, "held {held:?}");
        assert_eq!(f.cc.state(), "probe_bw");
        assert!(f.cc.cwnd() >= prior, "restored {} < {prior}", f.cc.cwnd());
        // The next ProbeRTT is ten seconds away.
        let exit = f.now;
        f.in_flight = 2 * f.bdp(LINK);
        while f.now.saturating_since(exit) < Duration::from_secs(9) {
            f.ack(LINK);
            assert_eq!(f.cc.state(), "probe_bw");
        }
    }

    #[test]
    fn probe_rtt_needs_a_round_at_the_minimum_not_just_200ms() {
        let (mut f, _) = probe_bw_without_renewal();
        while f.cc.state() != "probe_rtt" {
            f.ack(LINK);
        }
        f.in_flight = 4 * MSS;
        // ACKs of segments sent before the minimum was reached: no round
        // ends, however long it takes.
        let old = f.delivered.saturating_sub(1);
        for _ in 0..200 {
            f.ack_with(ms(2), Some(LINK), old);
        }
        assert_eq!(f.cc.state(), "probe_rtt");
        f.round(LINK);
        assert_eq!(f.cc.state(), "probe_bw");
    }

    #[test]
    fn probe_rtt_returns_to_startup_when_the_pipe_was_never_full() {
        let mut f = Feed::new();
        f.app_limited = true; // never a full-pipe verdict
        f.round(LINK);
        f.rtt = ms(21);
        while f.cc.state() != "probe_rtt" {
            f.round(LINK);
            assert!(f.now < Instant::from_millis(11_000));
        }
        f.in_flight = MSS;
        while f.cc.state() == "probe_rtt" {
            f.round(LINK);
        }
        assert_eq!(f.cc.state(), "startup");
        assert!(!f.cc.full_bw_reached());
    }

    /// ProbeBW at `LINK` with the window at its target, just into a
    /// cruise phase (the next ACKs do not change the gain), one BDP in
    /// flight.
    fn settled() -> Feed {
        let mut f = Feed::to_probe_bw(LINK);
        f.in_flight = 2 * f.bdp(LINK);
        for _ in 0..400 {
            f.ack(LINK);
        }
        while f.cc.cycle_index() != 3 {
            f.ack(LINK);
        }
        f.in_flight = f.bdp(LINK);
        f
    }

    #[test]
    fn first_round_of_recovery_sends_one_segment_per_segment_delivered() {
        let mut f = settled();
        let before = f.cc.cwnd();
        f.cc.on_congestion_event(f.now, f.in_flight, MSS);
        assert_eq!(f.cc.prior_cwnd(), before);
        f.in_recovery = true;
        f.in_flight = 100 * MSS;
        f.ack(LINK);
        assert_eq!(f.cc.cwnd(), 101 * MSS, "in flight + delivered");
        // Still the first round: what is in flight plus what was delivered,
        // never less.
        f.in_flight = 90 * MSS;
        f.ack(LINK);
        assert_eq!(f.cc.cwnd(), 101 * MSS);
        f.in_flight = 120 * MSS;
        f.ack(LINK);
        assert_eq!(f.cc.cwnd(), 121 * MSS);
    }

    #[test]
    fn after_the_first_round_recovery_grows_and_its_end_restores_the_prior_cwnd() {
        let mut f = settled();
        let before = f.cc.cwnd();
        f.cc.on_congestion_event(f.now, f.in_flight, MSS);
        f.in_recovery = true;
        f.in_flight = 50 * MSS;
        f.ack(LINK);
        assert_eq!(f.cc.cwnd(), 51 * MSS);
        // A segment sent after recovery began is delivered: new round, the
        // window grows by what is delivered (slow start toward the target).
        f.round(LINK);
        assert_eq!(f.cc.cwnd(), 61 * MSS);
        f.cc.on_recovery_exit(f.now);
        assert_eq!(f.cc.cwnd(), before);
        f.in_recovery = false;
        f.ack(LINK);
        assert!(f.cc.cwnd() >= before.min(2 * f.bdp(LINK)));
    }

    #[test]
    fn an_ack_out_of_recovery_ends_the_episode_without_the_callback() {
        let mut f = settled();
        let before = f.cc.cwnd();
        f.cc.on_congestion_event(f.now, f.in_flight, MSS);
        f.in_recovery = true;
        f.in_flight = 10 * MSS;
        f.ack(LINK);
        assert!(f.cc.cwnd() < before);
        f.in_recovery = false;
        f.ack(LINK);
        assert!(f.cc.cwnd() >= before);
    }

    #[test]
    fn losses_come_off_the_window() {
        let mut f = settled();
        let before = f.cc.cwnd();
        f.now += ms(1);
        f.delivered += MSS as u64;
        let mut s = f.sample(Some(LINK), 0);
        s.lost = 3 * MSS;
        f.cc.on_ack(&s);
        assert_eq!(f.cc.cwnd(), before - 2 * MSS, "-lost +delivered");
    }

    #[test]
    fn rto_leaves_one_segment_then_slow_starts_and_recovery_end_restores() {
        let mut f = settled();
        let before = f.cc.cwnd();
        f.cc.on_rto(f.now, f.in_flight, MSS);
        assert_eq!(f.cc.cwnd(), MSS);
        assert_eq!(f.cc.prior_cwnd(), before);
        // A late ACK of a segment sent before the timeout: conservation.
        f.in_recovery = true;
        f.in_flight = 0;
        f.ack_with(ms(1), Some(LINK), 0);
        assert_eq!(f.cc.cwnd(), MSS);
        // The retransmission's ACK starts a round: growth again (at least the
        // four-segment minimum).
        f.in_flight = MSS;
        let prior = f.delivered;
        f.ack_with(ms(20), Some(LINK), prior);
        assert_eq!(f.cc.cwnd(), 4 * MSS);
        f.ack_with(ms(1), Some(LINK), prior);
        assert_eq!(f.cc.cwnd(), 5 * MSS);
        // Recovery over (the connection says so on its next ACK).
        f.in_recovery = false;
        f.ack_with(ms(1), Some(LINK), prior);
        assert_eq!(f.cc.cwnd(), before);
    }

    #[test]
    fn rto_in_startup_restarts_full_pipe_detection() {
        let mut f = Feed::new();
        f.in_flight = 100 * IW;
        f.round(LINK);
        f.round(LINK);
        f.cc.on_rto(f.now, f.in_flight, MSS);
        // Two more flat rounds would have been the third and fourth: the
        // timeout reset the baseline.
        f.round(LINK);
        f.round(LINK);
        f.round(LINK);
        assert_eq!(f.cc.state(), "startup");
        f.round(LINK);
        assert_eq!(f.cc.state(), "drain");
    }

    #[test]
    fn spurious_loss_restarts_full_pipe_detection() {
        let mut f = Feed::new();
        f.in_flight = 100 * IW;
        for _ in 0..3 {
            f.round(LINK);
        }
        f.cc.on_spurious_loss(f.now);
        for _ in 0..3 {
            f.round(LINK);
        }
        assert_eq!(f.cc.state(), "startup");
        f.round(LINK);
        assert_eq!(f.cc.state(), "drain");
    }

    /// Ten segments per 20 ms round: what a policer lets through.
    const POLICED: u64 = 10 * MSS as u64 * 50;

    /// ProbeBW at `LINK`, then a policer: ten segments get through per
    /// round, a quarter as much again is lost, and the rate samples still
    /// show bursts at the link rate.
    fn policed() -> Feed {
        let mut f = settled();
        f.lost_per_ack = MSS / 4;
        f
    }

    #[test]
    fn two_consistent_lossy_intervals_mean_a_policer_and_bbr_paces_at_its_rate() {
        let mut f = policed();
        // The first loss starts an interval; four rounds end it, four more
        // end the second.
        for _ in 0..7 {
            f.round(LINK);
            assert_eq!(f.cc.lt_bw(), None);
        }
        f.round(LINK);
        assert_eq!(f.cc.lt_bw(), Some(POLICED));
        assert_eq!(f.cc.btl_bw(), Some(LINK), "the max filter saw the bursts");
        assert_eq!(f.cc.state(), "probe_bw");
        assert_eq!(f.cc.pacing_gain(), (1, 1), "no probing while policed");
        assert_eq!(f.cc.pacing_rate(), Some(margin(POLICED)));
        assert_eq!(f.cc.bdp(), Some(f.bdp(POLICED)));
    }

    #[test]
    fn the_policer_estimate_expires_after_48_rounds_and_gain_cycling_resumes() {
        let mut f = policed();
        for _ in 0..8 {
            f.round(LINK);
        }
        assert!(f.cc.lt_bw().is_some());
        for _ in 0..47 {
            f.round(LINK);
            assert_eq!(f.cc.pacing_gain(), (1, 1));
        }
        assert!(f.cc.lt_bw().is_some());
        f.round(LINK);
        assert_eq!(f.cc.lt_bw(), None);
        // Still lossy: learned again two intervals later.
        for _ in 0..8 {
            f.round(LINK);
        }
        assert_eq!(f.cc.lt_bw(), Some(POLICED));
    }

    #[test]
    fn inconsistent_interval_rates_are_not_a_policer() {
        let mut f = policed();
        for _ in 0..4 {
            f.round(LINK);
        }
        // Twice the rate in the second interval: more than 1/8 apart.
        f.acks = 20;
        for _ in 0..4 {
            f.round(LINK);
        }
        assert_eq!(f.cc.lt_bw(), None);
        // The third interval still overlaps the change; the fourth agrees
        // with it.
        for _ in 0..4 {
            f.round(LINK);
        }
        assert_eq!(f.cc.lt_bw(), None);
        for _ in 0..4 {
            f.round(LINK);
        }
        assert_eq!(f.cc.lt_bw(), Some(2 * POLICED));
    }

    #[test]
    fn light_loss_or_app_limited_samples_are_not_a_policer() {
        let mut f = settled();
        f.lost_per_ack = MSS / 10; // 10% < 50/256
        for _ in 0..20 {
            f.round(LINK);
        }
        assert_eq!(f.cc.lt_bw(), None);
        let mut f = policed();
        for round in 0..20 {
            // One app-limited round in every four: each restarts sampling.
            f.app_limited = round % 4 == 3;
            f.round(LINK);
        }
        assert_eq!(f.cc.lt_bw(), None);
    }

    #[test]
    fn a_spurious_loss_forgets_the_policer() {
        let mut f = policed();
        for _ in 0..8 {
            f.round(LINK);
        }
        assert!(f.cc.lt_bw().is_some());
        f.cc.on_spurious_loss(f.now);
        assert_eq!(f.cc.lt_bw(), None);
    }

    #[test]
    fn send_quantum_is_one_ms_of_data_at_the_pacing_rate() {
        // 100 Mbit/s: 12_500_000 >> 10 = 12_207 bytes = 8 whole segments.
        assert_eq!(Bbr::quantum(LINK, MSS), 8 * MSS);
        let mut f = Feed::to_probe_bw(LINK);
        f.in_flight = f.bdp(LINK);
        for _ in 0..20 {
            f.ack(LINK);
            let rate = f.cc.pacing_rate().unwrap();
            assert_eq!(
                f.cc.send_quantum(MSS),
                ((rate >> 10) as usize / MSS).max(2) * MSS
            );
        }
    }

    #[test]
    fn send_quantum_is_two_segments_at_least_and_one_below_1_2_mbit() {
        assert_eq!(Bbr::quantum(1_000_000, MSS), 2 * MSS, "8 Mbit/s");
        assert_eq!(Bbr::quantum(MIN_TSO_RATE, MSS), 2 * MSS);
        assert_eq!(Bbr::quantum(MIN_TSO_RATE - 1, MSS), MSS);
        assert_eq!(Bbr::quantum(0, MSS), MSS);
    }

    #[test]
    fn send_quantum_is_at_most_64_kib() {
        assert_eq!(Bbr::quantum(10_000_000_000, MSS), 65536 / MSS * MSS);
        assert_eq!(Bbr::quantum(u64::MAX, 9000), 7 * 9000);
        assert_eq!(Bbr::quantum(u64::MAX, 1), 65536);
        assert!(Bbr::quantum(u64::MAX, 0) > 0);
    }

    #[test]
    fn idle_restart_in_probe_bw_paces_at_btl_bw_and_skips_probe_rtt() {
        let (mut f, renewed) = probe_bw_without_renewal();
        while f.cc.pacing_gain() == (1, 1) {
            f.ack(LINK);
        }
        // Idle past the RTprop window; the application writes again.
        f.now = renewed + RTPROP_WINDOW + ms(1);
        f.cc.on_send(f.now, MSS, 0, true);
        assert_eq!(f.cc.pacing_rate(), Some(margin(LINK)), "no probing burst");
        // The first ACK after the restart takes its RTT as the new RTprop
        // (the idle period drained any queue): no ProbeRTT.
        for _ in 0..20 {
            f.ack(LINK);
            assert_eq!(f.cc.state(), "probe_bw");
        }
        assert_eq!(f.cc.min_rtt(), Some(ms(21)));
    }

    #[test]
    fn ssthresh_is_unset_until_drain_then_one_bdp_and_budget() {
        let mut f = Feed::new();
        f.in_flight = 100 * IW;
        assert_eq!(f.cc.ssthresh(), usize::MAX);
        for _ in 0..4 {
            f.round(LINK);
        }
        assert_eq!(f.cc.state(), "drain");
        assert!(f.cc.ssthresh() > f.bdp(LINK));
        assert!(f.cc.ssthresh() < f.bdp(LINK) + 3 * 65536);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let mut cc = Bbr::new(0, 0);
        assert!(cc.cwnd() >= 1);
        assert!(cc.pacing_rate().unwrap() >= 1);
        let huge = AckSample {
            delivered: usize::MAX,
            lost: usize::MAX,
            prior_in_flight: usize::MAX,
            in_flight: usize::MAX,
            rate: RateSample {
                delivery_rate: Some(u64::MAX),
                delivered: u64::MAX,
                interval: Duration::MAX,
                is_app_limited: false,
                prior_delivered: u64::MAX,
                tx_in_flight: u64::MAX,
                lost: u64::MAX,
                rtt: Some(Duration::MAX),
            },
            rtt: Some(Duration::MAX),
            srtt: Some(Duration::MAX),
            min_rtt: Some(Duration::MAX),
            mss: usize::MAX,
            ..AckSample::at(Instant::NEVER)
        };
        for _ in 0..50 {
            cc.on_ack(&huge);
        }
        let zero = AckSample {
            mss: 0,
            rtt: Some(Duration::ZERO),
            srtt: Some(Duration::ZERO),
            rate: RateSample {
                delivery_rate: Some(0),
                delivered: 1,
                rtt: Some(Duration::ZERO),
                ..RateSample::default()
            },
            ..AckSample::at(Instant::ZERO)
        };
        for _ in 0..50 {
            cc.on_ack(&zero); // and time went backwards
        }
        cc.on_rto(Instant::ZERO, usize::MAX, 0);
        cc.on_congestion_event(Instant::NEVER, 0, usize::MAX);
        cc.on_recovery_exit(Instant::ZERO);
        cc.on_send(Instant::ZERO, 0, 0, true);
        assert!(cc.cwnd() >= 1);
        assert!(cc.send_quantum(0) >= 1);
        assert!(cc.pacing_rate().unwrap() >= 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Ack {
            dt_ms: i64,
            delivered: usize,
            lost: usize,
            in_flight: usize,
            rate: Option<u64>,
            prior_delivered: u64,
            app_limited: bool,
            rtt_us: Option<u64>,
            mss: usize,
            in_recovery: bool,
        },
        Send {
            in_flight: usize,
            app_limited: bool,
        },
        Congestion,
        RecoveryExit,
        Rto,
        Spurious,
    }

    fn op() -> impl Strategy<Value = Op> {
        let size = prop_oneof![0usize..200_000, Just(0), Just(usize::MAX)];
        prop_oneof![
            6 => (
                -50i64..3_000,
                size.clone(),
                prop_oneof![Just(0usize), 0usize..10_000, Just(usize::MAX)],
                size,
                prop_oneof![Just(None), (0u64..100_000_000).prop_map(Some), Just(Some(u64::MAX))],
                prop_oneof![0u64..10_000_000, Just(u64::MAX)],
                any::<bool>(),
                prop_oneof![Just(None), (0u64..200_000).prop_map(Some), Just(Some(u64::MAX))],
                prop_oneof![Just(1448usize), Just(0), Just(1), Just(9000)],
                any::<bool>(),
            )
                .prop_map(
                    |(dt_ms, delivered, lost, in_flight, rate, prior_delivered, app_limited, rtt_us, mss, in_recovery)| {
                        Op::Ack {
                            dt_ms,
                            delivered,
                            lost,
                            in_flight,
                            rate,
                            prior_delivered,
                            app_limited,
                            rtt_us,
                            mss,
                            in_recovery,
                        }
                    }
                ),
            2 => (0usize..100_000, any::<bool>())
                .prop_map(|(in_flight, app_limited)| Op::Send { in_flight, app_limited }),
            1 => Just(Op::Congestion),
            1 => Just(Op::RecoveryExit),
            1 => Just(Op::Rto),
            1 => Just(Op::Spurious),
        ]
    }

    proptest! {
        /// Op-model test: any sequence of calls, with any numbers, time
        /// running backwards or jumping ahead; invariants after every step.
        #[test]
        fn any_call_sequence_keeps_the_invariants(
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let mut cc = Bbr::with_seed(IW, MSS, seed);
            let mut now = Instant::from_millis(1_000_000);
            for op in ops {
                match op {
                    Op::Ack { dt_ms, delivered, lost, in_flight, rate, prior_delivered,
                              app_limited, rtt_us, mss, in_recovery } => {
                        now = if dt_ms < 0 {
                            now - ms(dt_ms.unsigned_abs())
                        } else {
                            now + ms(dt_ms as u64)
                        };
                        let rtt = rtt_us.map(Duration::from_micros);
                        cc.on_ack(&AckSample {
                            now,
                            delivered,
                            lost,
                            prior_in_flight: in_flight.saturating_add(delivered),
                            in_flight,
                            rate: RateSample {
                                delivery_rate: rate,
                                delivered: delivered as u64,
                                interval: ms(20),
                                is_app_limited: app_limited,
                                prior_delivered,
                                tx_in_flight: 0,
                                lost: lost as u64,
                                rtt,
                            },
                            rtt,
                            srtt: rtt,
                            min_rtt: rtt,
                            mss,
                            in_recovery,
                            cwnd_limited: true,
                        });
                    }
                    Op::Send { in_flight, app_limited } => {
                        cc.on_send(now, MSS, in_flight, app_limited)
                    }
                    Op::Congestion => cc.on_congestion_event(now, 50 * MSS, MSS),
                    Op::RecoveryExit => cc.on_recovery_exit(now),
                    Op::Rto => cc.on_rto(now, 50 * MSS, MSS),
                    Op::Spurious => cc.on_spurious_loss(now),
                }
                prop_assert!(cc.cwnd() >= 1);
                prop_assert!(cc.pacing_rate().is_some_and(|r| r >= 1));
                prop_assert!(cc.send_quantum(MSS) >= MSS);
                prop_assert!(cc.send_quantum(MSS) <= 2 * MSS || cc.send_quantum(MSS) <= 65536);
                prop_assert!(cc.cycle_index() < CYCLE_LEN);
                let (num, den) = cc.pacing_gain();
                prop_assert!(den > 0 && num > 0);
                prop_assert!(
                    ["startup", "drain", "probe_bw", "probe_rtt"].contains(&cc.state())
                );
                if cc.state() == "probe_rtt" {
                    prop_assert_eq!(cc.pacing_gain(), (1, 1));
                }
                if cc.state() == "startup" {
                    prop_assert!(!cc.full_bw_reached());
                }
            }
        }
    }

    // --- A bottleneck, packet by packet -------------------------------------

    /// One sender over one bottleneck: a FIFO link of `link_rate` bytes per
    /// second with a queue (unbounded, or drop-tail at `queue_limit`) and
    /// `prop_rtt` of propagation delay, every segment ACKed on its own, rate
    /// samples from the real [`RateSampler`]. The sender paces at the
    /// controller's rate, keeps in flight within its window and always has
    /// data, unless `app` says how fast the application writes. A dropped
    /// segment is noticed when the ACK of the next one arrives (as SACK
    /// would show it); that starts recovery, which ends when everything
    /// sent before it is acknowledged. (Lost data is not resent: to the
    /// controller a retransmission is just another segment.)
    struct Path {
        cc: Bbr,
        sampler: RateSampler,
        now: Instant,
        link_rate: u64,
        prop_rtt: Duration,
        /// Segments sent from this time on take this much longer (a route
        /// change).
        detour: Option<(Instant, Duration)>,
        /// The application writes this many bytes per second from the
        /// given time and byte count on.
        app: Option<(u64, Instant, u64)>,
        sent: u64,
        link_free_at: Instant,
        next_send_at: Instant,
        flight: VecDeque<Segment>,
        in_flight: usize,
        queue_limit: Option<usize>,
        /// A token-bucket policer before the link: rate in bytes per
        /// second, bucket size in bytes, tokens and when they were counted.
        policer: Option<(u64, usize, usize, Instant)>,
        /// Bytes found lost, reported with the next ACK.
        lost_pending: usize,
        /// In recovery until this many bytes sent are acknowledged.
        recovery_end: Option<u64>,
        min_rtt: Option<Duration>,
        srtt: Option<Duration>,
        trace: Vec<Step>,
    }

    /// A segment in flight.
    #[derive(Debug, Clone, Copy)]
    struct Segment {
        /// When its ACK arrives (or, dropped, when its loss shows).
        ack_at: Instant,
        state: PacketState,
        /// Bytes sent up to and including it.
        end: u64,
        dropped: bool,
    }

    /// The controller after one ACK.
    #[derive(Debug, Clone, Copy)]
    struct Step {
        in_recovery: bool,
        /// Bytes this ACK reported lost.
        lost: usize,
        lt_bw: Option<u64>,
        now: Instant,
        state: &'static str,
        cwnd: usize,
        btl_bw: Option<u64>,
        min_rtt: Option<Duration>,
        rtt: Duration,
        in_flight: usize,
        round: u64,
        cycle_index: usize,
    }

    impl Path {
        /// 100 Mbit/s, 20 ms.
        fn new() -> Path {
            Path {
                cc: Bbr::with_seed(IW, MSS, 7),
                sampler: RateSampler::new(),
                now: Instant::ZERO,
                link_rate: LINK,
                prop_rtt: ms(20),
                detour: None,
                app: None,
                sent: 0,
                link_free_at: Instant::ZERO,
                next_send_at: Instant::ZERO,
                flight: VecDeque::new(),
                in_flight: 0,
                queue_limit: None,
                policer: None,
                lost_pending: 0,
                recovery_end: None,
                min_rtt: None,
                srtt: None,
                trace: Vec::new(),
            }
        }

        fn transfer_time(&self, bytes: usize, rate: u64) -> Duration {
            Duration::from_nanos(mul_div(bytes as u64, 1_000_000_000, rate.max(1)))
        }

        /// When the next segment may leave, if the window allows one.
        fn next_send(&mut self) -> Option<Instant> {
            if self.in_flight + MSS > self.cc.cwnd() {
                return None;
            }
            let mut at = self.now.max(self.next_send_at);
            if let Some((rate, since, base)) = self.app {
                let need = (self.sent + MSS as u64).saturating_sub(base);
                let ready = since + self.transfer_time(need as usize, rate);
                if ready > at {
                    // Nothing to send although window and pacer allow it.
                    self.sampler.on_app_limited(self.in_flight);
                    at = ready;
                }
            }
            Some(at)
        }

        fn run_until(&mut self, end: Instant) {
            loop {
                let ack_at = self.flight.front().map(|f| f.ack_at);
                let send_at = self.next_send();
                let next = match (ack_at, send_at) {
                    (Some(a), Some(s)) => a.min(s),
                    (Some(a), None) => a,
                    (None, Some(s)) => s,
                    (None, None) => break,
                };
                if next > end {
                    break;
                }
                self.now = next;
                if ack_at == Some(next) {
                    self.ack();
                } else {
                    self.send();
                }
            }
            self.now = end;
        }

        fn send(&mut self) {
            let state = self.sampler.on_send(self.now, self.in_flight, MSS);
            self.cc
                .on_send(self.now, MSS, self.in_flight, self.sampler.is_app_limited());
            let backlog = self.link_free_at.saturating_since(self.now);
            let queued = mul_div(backlog.as_nanos(), self.link_rate, 1_000_000_000) as usize;
            let mut dropped = self.queue_limit.is_some_and(|limit| queued + MSS > limit);
            if let Some((rate, bucket, tokens, at)) = self.policer.as_mut() {
                let refill = mul_div(
                    self.now.saturating_since(*at).as_nanos(),
                    *rate,
                    1_000_000_000,
                );
                *tokens = tokens.saturating_add(refill as usize).min(*bucket);
                *at = self.now;
                if *tokens >= MSS {
                    *tokens -= MSS;
                } else {
                    dropped = true;
                }
            }
            let mut ack_at = if dropped {
                // Shows when the next segment's ACK comes back.
                self.link_free_at + self.transfer_time(MSS, self.link_rate) + self.prop_rtt
            } else {
                let depart =
                    self.now.max(self.link_free_at) + self.transfer_time(MSS, self.link_rate);
                self.link_free_at = depart;
                depart + self.prop_rtt
            };
            if let Some((from, extra)) = self.detour
                && self.now >= from
            {
                ack_at += extra;
            }
            if let Some(last) = self.flight.back() {
                ack_at = ack_at.max(last.ack_at);
            }
            self.sent += MSS as u64;
            self.flight.push_back(Segment {
                ack_at,
                state,
                end: self.sent,
                dropped,
            });
            self.in_flight += MSS;
            let rate = self.cc.pacing_rate().unwrap_or(u64::MAX);
            self.next_send_at = self.now.max(self.next_send_at) + self.transfer_time(MSS, rate);
        }

        fn ack(&mut self) {
            let Some(seg) = self.flight.pop_front() else {
                return;
            };
            let p = seg.state;
            if seg.dropped {
                self.in_flight -= MSS;
                self.sampler.on_lost(MSS);
                self.lost_pending += MSS;
                if self.recovery_end.is_none() {
                    self.recovery_end = Some(self.sent);
                    self.cc.on_congestion_event(self.now, self.in_flight, MSS);
                }
                return;
            }
            if self.recovery_end.is_some_and(|end| seg.end >= end) {
                self.recovery_end = None;
                self.cc.on_recovery_exit(self.now);
            }
            let prior_in_flight = self.in_flight + self.lost_pending;
            let lost = core::mem::take(&mut self.lost_pending);
            self.in_flight -= MSS;
            self.sampler.on_delivered(self.now, &p, MSS, false);
            let rtt = self.now.saturating_since(p.sent_time);
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.srtt = Some(self.srtt.map_or(rtt, |s| (s * 7 + rtt) / 8));
            let rate = self.sampler.finish(self.now, self.min_rtt);
            self.cc.on_ack(&AckSample {
                now: self.now,
                delivered: MSS,
                lost,
                prior_in_flight,
                in_flight: self.in_flight,
                rate,
                rtt: Some(rtt),
                srtt: self.srtt,
                min_rtt: self.min_rtt,
                mss: MSS,
                in_recovery: self.recovery_end.is_some(),
                cwnd_limited: true,
            });
            self.trace.push(Step {
                in_recovery: self.recovery_end.is_some(),
                lost,
                lt_bw: self.cc.lt_bw(),
                now: self.now,
                state: self.cc.state(),
                cwnd: self.cc.cwnd(),
                btl_bw: self.cc.btl_bw(),
                min_rtt: self.cc.min_rtt(),
                rtt,
                in_flight: self.in_flight,
                round: self.cc.round_count(),
                cycle_index: self.cc.cycle_index(),
            });
        }

        /// The first step in state `state` at or after index `from`.
        fn first(&self, state: &str, from: usize) -> Option<usize> {
            (from..self.trace.len()).find(|&i| self.trace[i].state == state)
        }

        /// Bytes delivered between two times (one segment per step).
        fn delivered_between(&self, a: Instant, b: Instant) -> u64 {
            let n = self
                .trace
                .iter()
                .filter(|s| s.now > a && s.now <= b)
                .count();
            (n * MSS) as u64
        }
    }

    #[test]
    fn path_startup_doubles_the_delivery_rate_each_round_until_the_pipe_is_full() {
        let mut p = Path::new();
        p.run_until(Instant::from_millis(1000));
        // BtlBw at the end of each round of Startup.
        let mut per_round: Vec<u64> = Vec::new();
        for w in p.trace.windows(2) {
            if w[1].round != w[0].round && w[0].state == "startup" {
                per_round.push(w[0].btl_bw.unwrap_or(0));
            }
        }
        // From the second round until the pipe is nearly full, each round
        // delivers about twice what the previous did (the first round's
        // sample measures the initial window's burst).
        let growing: Vec<u64> = per_round[1..]
            .iter()
            .copied()
            .take_while(|&b| b < LINK * 3 / 4)
            .collect();
        assert!(growing.len() >= 3, "{per_round:?}");
        let rounds = (growing.len() - 1) as f64;
        let mean = (*growing.last().unwrap() as f64 / growing[0] as f64).powf(1.0 / rounds);
        assert!(
            (1.8..2.4).contains(&mean),
            "mean growth {mean} in {per_round:?}"
        );
        for w in growing.windows(2) {
            let g = w[1] as f64 / w[0] as f64;
            assert!((1.5..3.0).contains(&g), "growth {g} in {per_round:?}");
        }
    }

    #[test]
    fn path_startup_exits_within_ten_rounds_of_filling_the_pipe_and_drain_empties_the_queue() {
        let mut p = Path::new();
        p.run_until(Instant::from_millis(2000));
        let filled = p
            .trace
            .iter()
            .find(|s| s.btl_bw.unwrap_or(0) >= LINK * 9 / 10)
            .unwrap();
        let drain = p.first("drain", 0).unwrap();
        let probe = p.first("probe_bw", drain).unwrap();
        let (d, pb) = (p.trace[drain], p.trace[probe]);
        assert!(
            d.round >= filled.round + 3,
            "{} vs {}",
            d.round,
            filled.round
        );
        assert!(
            d.round <= filled.round + 10,
            "{} vs {}",
            d.round,
            filled.round
        );
        let bw = d.btl_bw.unwrap();
        assert!(
            (LINK * 95 / 100..=LINK * 101 / 100).contains(&bw),
            "BtlBw {bw}"
        );
        // Drain takes about a round (at most three) and ends with what is
        // in flight within one BDP and its quantization budget.
        assert!(
            pb.round - d.round <= 3,
            "drain rounds {}",
            pb.round - d.round
        );
        let bdp = Feed::new().bdp(bw) + MSS;
        assert!(
            pb.in_flight <= bdp + 3 * 65536,
            "in flight {} vs {bdp}",
            pb.in_flight
        );
        assert!(p.trace[probe - 1].in_flight > pb.in_flight);
        // A round later the queue is gone: the RTT is back near RTprop.
        let later = p.trace.iter().find(|s| s.round >= pb.round + 2).unwrap();
        assert!(later.rtt < p.prop_rtt + ms(4), "RTT {:?}", later.rtt);
    }

    #[test]
    fn path_probe_bw_cycles_gains_keeps_the_link_busy_and_the_queue_small() {
        let mut p = Path::new();
        p.run_until(Instant::from_millis(4000));
        let start = p.first("probe_bw", 0).unwrap();
        let from = p.trace[start].now + ms(500);
        let steps: Vec<_> = p.trace.iter().filter(|s| s.now >= from).collect();
        assert!(steps.iter().all(|s| s.state == "probe_bw"));
        // Phases in order, gain-1 phases one min_rtt long.
        let mut phases = vec![(steps[0].cycle_index, steps[0].now)];
        for s in &steps {
            if s.cycle_index != phases.last().unwrap().0 {
                phases.push((s.cycle_index, s.now));
            }
        }
        assert!(phases.len() > 16, "{} phases", phases.len());
        let min_rtt = p.cc.min_rtt().unwrap();
        for w in phases[1..].windows(2) {
            assert_eq!(w[1].0, (w[0].0 + 1) % CYCLE_LEN);
            let len = w[1].1.saturating_since(w[0].1);
            match w[0].0 {
                0 => assert!(len > min_rtt, "probe {len:?}"),
                1 => assert!(len <= min_rtt + ms(1), "drain {len:?}"),
                _ => assert!(len > min_rtt && len <= min_rtt + ms(1), "cruise {len:?}"),
            }
        }
        // Utilization and queue.
        let to = p.now;
        let goodput = p.delivered_between(from, to) * 1000 / to.saturating_since(from).as_millis();
        assert!(goodput >= LINK * 97 / 100, "goodput {goodput}");
        let worst = steps.iter().map(|s| s.rtt).max().unwrap();
        assert!(worst < min_rtt + min_rtt / 2, "worst RTT {worst:?}");
        let bw = p.cc.btl_bw().unwrap();
        assert!(
            (LINK * 98 / 100..=LINK * 101 / 100).contains(&bw),
            "BtlBw {bw}"
        );
    }

    #[test]
    fn path_probe_rtt_after_a_route_change_holds_four_segments_then_restores_cwnd() {
        let mut p = Path::new();
        // From 1 s on the path is 2 ms longer: no sample matches RTprop.
        p.detour = Some((Instant::from_millis(1000), ms(2)));
        p.run_until(Instant::from_millis(12_000));
        let first_min = p.trace.iter().map(|s| s.rtt).min().unwrap();
        let last_match = p
            .trace
            .iter()
            .rfind(|s| s.rtt.as_micros() <= first_min.as_micros())
            .unwrap()
            .now;
        let entry = p.first("probe_rtt", 0).unwrap();
        let exit = p.first("probe_bw", entry).unwrap();
        let (e, x) = (p.trace[entry], p.trace[exit]);
        assert!(e.now.saturating_since(last_match) > RTPROP_WINDOW);
        assert!(e.now.saturating_since(last_match) < RTPROP_WINDOW + ms(1));
        assert!(p.trace[entry..exit].iter().all(|s| s.cwnd <= 4 * MSS));
        let at_min = p.trace[entry..exit]
            .iter()
            .find(|s| s.in_flight <= 4 * MSS)
            .unwrap();
        let held = x.now.saturating_since(at_min.now);
        assert!(
            held > PROBE_RTT_DURATION && held < PROBE_RTT_DURATION + ms(30),
            "held {held:?}"
        );
        // The window comes back at once, and BtlBw was not dragged down.
        let before = p.trace[entry - 1];
        assert!(x.cwnd >= before.cwnd, "{} < {}", x.cwnd, before.cwnd);
        let bw_before = before.btl_bw.unwrap();
        assert!(
            p.trace[entry..=exit]
                .iter()
                .all(|s| s.btl_bw.unwrap() >= bw_before * 95 / 100)
        );
        // RTprop is the new path's.
        let rtprop = x.min_rtt.unwrap();
        assert!(rtprop >= ms(22) && rtprop < ms(23), "RTprop {rtprop:?}");
    }

    #[test]
    fn path_shallow_buffer_losses_recover_with_conservation_and_restore_the_window() {
        // A drop-tail buffer of 0.08 BDP: Startup overflows it, and so does
        // every 5/4 probe of ProbeBW.
        let mut p = Path::new();
        p.queue_limit = Some(20_000);
        p.run_until(Instant::from_millis(8000));
        let mut episodes = 0;
        for i in 1..p.trace.len() {
            let (prev, s) = (p.trace[i - 1], p.trace[i]);
            if s.in_recovery && !prev.in_recovery {
                // First ACK of recovery: what is in flight plus what this
                // ACK delivered.
                episodes += 1;
                assert_eq!(s.cwnd, s.in_flight + MSS, "at {:?}", s.now);
                // The end restores the window from before (less what the
                // exiting ACK itself reported lost; at most ProbeBW's
                // target once the pipe is full).
                let exit = p.trace[i..].iter().find(|x| !x.in_recovery).unwrap();
                let two_bdp = 2 * Feed::new().bdp(LINK);
                assert!(
                    exit.cwnd + exit.lost >= prev.cwnd.min(two_bdp),
                    "restored {} < {} at {:?}",
                    exit.cwnd,
                    prev.cwnd,
                    exit.now
                );
            }
        }
        assert!(episodes > 20, "{episodes} recoveries");
        let after_startup: Vec<_> = p
            .trace
            .iter()
            .filter(|s| s.now > Instant::from_millis(500))
            .collect();
        assert!(after_startup.iter().all(|s| s.state == "probe_bw"));
        assert_eq!(p.cc.lt_bw(), None, "loss without a policer");
        assert_eq!(p.cc.btl_bw(), Some(LINK));
        for sec in 1..8 {
            let a = Instant::from_millis(sec * 1000);
            let goodput = p.delivered_between(a, a + Duration::from_secs(1));
            assert!(goodput >= LINK * 95 / 100, "second {sec}: {goodput}");
        }
        let lost = p
            .trace
            .iter()
            .filter(|s| s.now > Instant::from_millis(1000))
            .map(|s| s.lost)
            .sum::<usize>();
        let delivered = p.delivered_between(Instant::from_millis(1000), p.now) as usize;
        assert!(lost * 20 < delivered, "lost {lost} of {delivered}");
    }

    #[test]
    fn path_a_policer_behind_a_burst_is_detected_and_paced_at() {
        // A 20 Mbit/s token-bucket policer with a 500 kB bucket on a
        // 100 Mbit/s link: Startup's burst passes at the link rate, so
        // BtlBw says 100 Mbit/s, and then a quarter or more is dropped.
        const RATE: u64 = 2_500_000;
        let mut p = Path::new();
        p.policer = Some((RATE, 500_000, 500_000, Instant::ZERO));
        p.run_until(Instant::from_millis(6000));
        let first = p.trace.iter().find(|s| s.lt_bw.is_some()).unwrap();
        assert!(
            first.now < Instant::from_millis(1000),
            "detected at {:?}",
            first.now
        );
        assert!(
            first.btl_bw.unwrap() > 3 * RATE,
            "BtlBw still shows the burst"
        );
        let lt = first.lt_bw.unwrap();
        assert!(
            (RATE * 9 / 10..=RATE * 11 / 10).contains(&lt),
            "policed rate {lt}"
        );
        // While it paces at the policed rate, little is lost.
        let policed: Vec<_> = p.trace.iter().filter(|s| s.lt_bw.is_some()).collect();
        let lost: usize = policed.iter().map(|s| s.lost).sum();
        assert!(
            lost * 10 < policed.len() * MSS,
            "lost {lost} of {}",
            policed.len() * MSS
        );
        // And the flow gets the policed rate.
        for sec in 1..6 {
            let a = Instant::from_millis(sec * 1000);
            let goodput = p.delivered_between(a, a + Duration::from_secs(1));
            assert!(goodput >= RATE * 95 / 100, "second {sec}: {goodput}");
        }
    }

    #[test]
    fn path_an_app_limited_phase_keeps_btl_bw() {
        let mut p = Path::new();
        p.run_until(Instant::from_millis(1000));
        let bw = p.cc.btl_bw().unwrap();
        // The application slows to 8 Mbit/s for two seconds.
        p.app = Some((1_000_000, p.now, p.sent));
        p.run_until(Instant::from_millis(3000));
        let slow: Vec<_> = p
            .trace
            .iter()
            .filter(|s| s.now > Instant::from_millis(1100))
            .collect();
        assert!(slow.iter().all(|s| s.btl_bw == Some(bw)));
        assert!(slow.iter().all(|s| s.state == "probe_bw"));
        // The application is back: full speed within a few rounds.
        p.app = None;
        p.run_until(Instant::from_millis(3200));
        let goodput = p.delivered_between(Instant::from_millis(3100), p.now) * 10;
        assert!(goodput >= LINK * 95 / 100, "goodput {goodput}");
    }
}
