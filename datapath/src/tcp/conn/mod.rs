//! One TCP connection, sans-IO (RFC 9293).
//!
//! Inputs are `handle_segment(now, ..)` (a parsed, checksum-verified segment
//! of this 4-tuple), `handle_timeout(now)` and the application calls (`send`,
//! `recv`, `shutdown`, `close`, `abort`). Outputs are polled:
//! `poll_transmit(now, buf)` writes the next segment (TCP header, options,
//! payload and checksum) into the caller's buffer, `poll_timeout()` says when
//! to call `handle_timeout`, `poll_event()` reports what the application
//! should know. The connection never reads a clock, makes a syscall or
//! allocates after creation.
//!
//! The parts: [`input`] is segment arrival (RFC 9293 3.10.7), [`output`]
//! decides and builds segments (data, retransmissions, ACKs, probes), and
//! [`timers`] handles expirations. Sequence bookkeeping:
//! `iss < snd_una <= snd_nxt <= snd_max`; `snd_nxt` is pulled back to
//! `snd_una` on a retransmission timeout (go-back-N, skipping SACKed data), and
//! `snd_max` is the highest sequence ever sent. The send buffer holds the bytes
//! from `tx_base` (the first unacknowledged data byte) on.

mod input;
mod output;
mod timers;

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use crate::cc::{CongestionControl, RateSampler};
use crate::pacing::Pacer;
use crate::tcp::config::{ConfigError, TcpConfig};
use crate::tcp::recv_buf::RecvBuf;
use crate::tcp::rtt::{RttConfig, RttEstimator};
use crate::tcp::sack::SackScoreboard;
use crate::tcp::send_buf::SendBuf;
use crate::tcp::sent::{Rack, SentQueue};
use crate::tcp::state::State;
use crate::tcp::timer::{Timer, TimerTable};
use crate::time::{Duration, Instant};
use crate::wire::{ChecksumFill, SeqNum};

/// Bytes of the timestamps option as sent on every segment (10 + 2 NOPs).
const TS_OPTION_LEN: usize = 12;
/// RFC 9293 3.7.1: the MSS assumed when the peer sends none.
const DEFAULT_PEER_MSS: u16 = 536;
/// RFC 7323 2.3: the largest window shift.
const MAX_WSCALE: u8 = 14;
/// DupThresh of RFC 5681 3.2 and RFC 6675.
pub(crate) const DUP_THRESH: usize = 3;
/// Pending events kept; older duplicates are merged.
const MAX_EVENTS: usize = 16;

/// What the application should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed (ESTABLISHED).
    Connected,
    /// Data can be read.
    Readable,
    /// Send buffer space opened up.
    Writable,
    /// The peer closed its sending side (FIN received, all data before it read
    /// into the buffer): reads return end of stream once the buffer is empty.
    PeerClosed,
    /// The connection ended normally: both sides closed and our FIN was
    /// acknowledged.
    Closed,
    /// It ended abnormally; the error says why.
    Error(ConnError),
}

/// Why a connection ended abnormally, or an operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("connection refused (RST in reply to our SYN)")]
    Refused,
    #[error("connection reset by peer")]
    Reset,
    #[error(
        "connection timed out (no acknowledgment after the retransmission limit or user timeout)"
    )]
    TimedOut,
    #[error("keepalive probes went unanswered")]
    KeepaliveTimeout,
    #[error("connection aborted locally")]
    Aborted,
    #[error("the sending side is closed")]
    SendClosed,
    #[error("end of stream: the peer closed its sending side")]
    Finished,
    #[error("the connection is not open")]
    NotConnected,
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub segs_in: u64,
    pub segs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub bytes_acked: u64,
    pub retransmits: u64,
    pub fast_retransmits: u64,
    pub rtos: u64,
    pub dup_acks: u64,
    /// Segments dropped: unacceptable (out of window), PAWS, bad ACK, etc.
    pub dropped_unacceptable: u64,
    pub dropped_paws: u64,
    /// Out-of-order bytes dropped because the reassembly table was full.
    pub dropped_ooo_full: u64,
    pub challenge_acks: u64,
    pub dsacks_sent: u64,
    pub dsacks_received: u64,
    pub zero_window_probes: u64,
    pub keepalive_probes: u64,
    /// Tail loss probes sent (RFC 8985 7).
    pub tlp_probes: u64,
    /// Losses a tail loss probe repaired (congestion response taken).
    pub tlp_recoveries: u64,
    /// Congestion responses undone because D-SACKs showed every
    /// retransmission of the episode was needless (RFC 2883 4).
    pub spurious_undos: u64,
    /// Bytes RACK declared lost by time (RFC 8985 6).
    pub rack_lost_bytes: u64,
    /// Times the pacer held a ready segment back.
    pub pacing_holds: u64,
    /// New segments held back because the sent-segment table was full.
    pub sent_table_full: u64,
}

/// RFC 2883 4 (as Linux `tcp_try_undo_dsack`): the retransmissions of the
/// last loss episode, counted down by the D-SACKs that report them; when
/// every one was reported duplicate, the loss was not real and the
/// controller may undo its reduction.
#[derive(Debug, Clone, Copy)]
struct Undo {
    /// Retransmissions of the episode not yet reported duplicate.
    retrans: u32,
    /// The range they covered: D-SACKs outside it are about something else
    /// (a segment the network duplicated).
    low: SeqNum,
    high: SeqNum,
}

/// A snapshot of the connection's variables for tools and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    pub state: State,
    pub srtt: Option<Duration>,
    pub rttvar: Option<Duration>,
    pub min_rtt: Option<Duration>,
    pub rto: Duration,
    pub cwnd: usize,
    pub ssthresh: usize,
    pub bytes_in_flight: usize,
    pub snd_wnd: usize,
    pub rcv_wnd: usize,
    pub mss: usize,
    pub in_recovery: bool,
    /// The rate the pacer applies, bytes per second (`None`: unpaced).
    pub pacing_rate: Option<u64>,
    /// The last valid delivery-rate sample, bytes per second.
    pub delivery_rate: Option<u64>,
    /// Bytes delivered (cumulatively or by SACK) so far.
    pub delivered: u64,
    /// Bytes declared lost so far.
    pub lost: u64,
    /// The controller and its state ("cubic", "congestion_avoidance"...).
    pub cc: &'static str,
    pub cc_state: &'static str,
}

/// Options negotiated on the handshake.
#[derive(Debug, Clone, Copy)]
struct Timestamps {
    /// TS.Recent (RFC 7323 4.3).
    recent: u32,
    /// When TS.Recent was set, for the 24-day PAWS exemption (RFC 7323 5.5).
    recent_at: Instant,
    /// Our per-connection TSval offset (RFC 7323 7.1).
    offset: u32,
}

/// A TCP connection. See the module docs.
#[derive(Debug)]
pub struct Connection {
    cfg: TcpConfig,
    /// How segments' checksums are written: set by the endpoint from what
    /// its packet I/O offers (TX checksum offload), not TCP policy.
    checksum_fill: ChecksumFill,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    state: State,

    // RFC 9293 3.3.1 send sequence variables.
    iss: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    snd_max: SeqNum,
    /// Peer's window in bytes (already scaled).
    snd_wnd: usize,
    /// Largest window the peer ever offered (SWS avoidance, RFC 5961 5.2).
    max_snd_wnd: usize,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    /// Shift applied to the peer's window field.
    snd_wscale: u8,
    /// Sequence number of the first byte in `tx`.
    tx_base: SeqNum,

    // Receive sequence variables.
    irs: SeqNum,
    rcv_nxt: SeqNum,
    /// Shift applied to the window we advertise.
    rcv_wscale: u8,
    /// Right edge of the window last advertised (never moved left).
    rcv_adv: SeqNum,

    /// Payload bytes per segment we send (peer MSS less our option bytes).
    send_mss: usize,
    ts: Option<Timestamps>,
    /// Our TSval offset (RFC 7323 7.1), kept stable per 4-tuple by the
    /// endpoint so a new connection on a tuple in TIME-WAIT keeps TSval
    /// increasing (RFC 6191).
    ts_offset: u32,
    sack_ok: bool,
    /// Both sides sent the window scale option.
    wscale_ok: bool,

    tx: SendBuf,
    rx: RecvBuf,
    syn_acked: bool,
    /// The application shut down the sending side: a FIN follows the data.
    fin_queued: bool,
    fin_acked: bool,
    /// The application closed the receiving side too; data after this is met
    /// with a RST (RFC 2525 2.17).
    app_closed: bool,
    /// Sequence number of the peer's FIN, once seen (possibly out of order).
    peer_fin: Option<SeqNum>,
    peer_fin_done: bool,

    rtt: RttEstimator,
    /// One segment being timed: (end sequence, send time).
    timed: Option<(SeqNum, Instant)>,
    consecutive_rtos: u32,
    /// When the oldest unacknowledged data was first sent (user timeout).
    unacked_since: Option<Instant>,
    dup_acks: u32,
    /// In loss recovery until snd_una reaches this (RFC 6582 `recover`).
    recovery: Option<SeqNum>,
    /// Our TSval when the retransmission timer last fired.
    last_rto_tsval: u32,
    /// snd_max when the last recovery or timeout began (RFC 6582 4.1).
    last_recover: SeqNum,
    /// Highest sequence retransmitted in this recovery (RFC 6675 HighRxt).
    high_rxt: SeqNum,
    /// Retransmit the segment at snd_una (fast retransmit, partial ACK).
    rtx_una: bool,
    sack: SackScoreboard,
    cc: Box<dyn CongestionControl>,
    /// Every data segment in flight, with its send time and rate state.
    sent: SentQueue,
    rate: RateSampler,
    /// The last valid delivery-rate sample.
    last_rate: Option<u64>,
    rack: Rack,
    pacer: Pacer,
    /// When the pacer lets the next segment go, while one waits for it.
    pace_wait: Option<Instant>,
    /// Most bytes in flight in this round trip and the last (RFC 7661
    /// cwnd-limited test), and the sequence that ends this round.
    max_flight: usize,
    prev_max_flight: usize,
    round_end: SeqNum,
    /// A tail loss probe is due (RFC 8985 7.3).
    tlp_pending: bool,
    /// The TLP episode under way: TLP.end_seq and whether the probe was a
    /// retransmission (RFC 8985 7.4).
    tlp_end: Option<(SeqNum, bool)>,
    /// The last congestion response, while it may still prove spurious:
    /// see [`Undo`].
    undo: Option<Undo>,
    /// The segment being written is the loss probe.
    tlp_probe_out: bool,

    /// An ACK must go out now.
    ack_now: bool,
    /// Data segments received since our last ACK.
    unacked_segs: u32,
    quickacks: u32,
    /// A D-SACK block to report on the next ACK (RFC 2883).
    dsack: Option<(SeqNum, SeqNum)>,

    timers: TimerTable,
    persist_backoff: u32,
    probe_pending: bool,
    keepalive_sent: u32,
    keepalive_pending: bool,
    last_recv: Instant,
    /// A reset to send: (seq, ack).
    rst_pending: Option<(SeqNum, Option<SeqNum>)>,

    events: VecDeque<Event>,
    error: Option<ConnError>,
    stats: ConnStats,
}

impl Connection {
    fn new(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        cfg: TcpConfig,
        state: State,
    ) -> Result<Connection, ConfigError> {
        cfg.validate()?;
        let rtt = RttEstimator::new(RttConfig {
            initial_rto: cfg.initial_rto,
            min_rto: cfg.min_rto,
            max_rto: cfg.max_rto,
            ..RttConfig::default()
        });
        let mss = usize::from(cfg.mss);
        let cc = cfg
            .congestion_control
            .build(mss * cfg.initial_cwnd_segments as usize, mss);
        let mut rcv_wscale = 0u8;
        while rcv_wscale < MAX_WSCALE && (cfg.recv_buffer >> rcv_wscale) > 65535 {
            rcv_wscale += 1;
        }
        Ok(Connection {
            checksum_fill: ChecksumFill::Full,
            tx: SendBuf::new(cfg.send_buffer),
            rx: RecvBuf::new(cfg.recv_buffer, cfg.max_ooo_ranges),
            sack: SackScoreboard::new(cfg.max_sack_ranges),
            sent: SentQueue::new(cfg.sent_records()),
            rate: RateSampler::new(),
            last_rate: None,
            rack: Rack::new(),
            pacer: Pacer::new(),
            pace_wait: None,
            max_flight: 0,
            prev_max_flight: 0,
            round_end: iss,
            tlp_pending: false,
            tlp_end: None,
            undo: None,
            tlp_probe_out: false,
            quickacks: cfg.initial_quickacks,
            local,
            remote,
            state,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNum::new(0),
            snd_wl2: iss,
            snd_wscale: 0,
            tx_base: iss + 1,
            irs: SeqNum::new(0),
            rcv_nxt: SeqNum::new(0),
            rcv_wscale: if cfg.window_scaling { rcv_wscale } else { 0 },
            rcv_adv: SeqNum::new(0),
            send_mss: usize::from(DEFAULT_PEER_MSS).min(mss),
            ts: None,
            ts_offset: iss.raw().wrapping_mul(0x9e37_79b1),
            sack_ok: false,
            wscale_ok: false,
            syn_acked: false,
            fin_queued: false,
            fin_acked: false,
            app_closed: false,
            peer_fin: None,
            peer_fin_done: false,
            rtt,
            timed: None,
            consecutive_rtos: 0,
            unacked_since: None,
            dup_acks: 0,
            recovery: None,
            high_rxt: iss,
            last_recover: iss,
            last_rto_tsval: 0,
            rtx_una: false,
            cc,
            ack_now: false,
            unacked_segs: 0,
            dsack: None,
            timers: TimerTable::default(),
            persist_backoff: 0,
            probe_pending: false,
            keepalive_sent: 0,
            keepalive_pending: false,
            last_recv: now,
            rst_pending: None,
            events: VecDeque::with_capacity(MAX_EVENTS),
            error: None,
            stats: ConnStats::default(),
            cfg,
        })
    }

    /// Active open (RFC 9293 3.10.1): the connection starts in SYN-SENT and its
    /// SYN is the first thing `poll_transmit` returns. `iss` comes from the
    /// endpoint's RFC 6528 generator.
    pub fn connect(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        cfg: TcpConfig,
    ) -> Result<Connection, ConfigError> {
        let mut c = Connection::new(now, local, remote, iss, cfg, State::SynSent)?;
        c.timers.set(Timer::Retransmit, now + c.rtt.rto());
        Ok(c)
    }

    /// Passive open (RFC 9293 3.10.1): a connection in LISTEN for one remote
    /// endpoint, which the endpoint creates when a SYN arrives for a listening
    /// port and then feeds that SYN with `handle_segment`.
    pub fn listen(
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNum,
        cfg: TcpConfig,
    ) -> Result<Connection, ConfigError> {
        Connection::new(now, local, remote, iss, cfg, State::Listen)
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }
    pub fn stats(&self) -> ConnStats {
        ConnStats {
            sent_table_full: self.sent.full_count(),
            ..self.stats
        }
    }
    pub fn config(&self) -> &TcpConfig {
        &self.cfg
    }
    /// The error that ended the connection, if one did.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }
    /// Whether the connection is over and can be forgotten (CLOSED with
    /// nothing left to send).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.rst_pending.is_none()
    }

    pub fn info(&self) -> ConnInfo {
        ConnInfo {
            state: self.state,
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            min_rtt: self.rtt.min_rtt(),
            rto: self.rtt.rto(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            bytes_in_flight: self.flight(),
            snd_wnd: self.snd_wnd,
            rcv_wnd: self.rx.window(),
            mss: self.send_mss,
            in_recovery: self.recovery.is_some(),
            pacing_rate: self.pacing_rate(),
            delivery_rate: self.last_rate,
            delivered: self.rate.delivered(),
            lost: self.rate.lost(),
            cc: self.cc.name(),
            cc_state: self.cc.state(),
        }
    }

    /// Sets our timestamp offset; call before the first `poll_transmit`. The
    /// default derives from the ISS.
    pub fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
        if let Some(t) = self.ts.as_mut() {
            t.offset = offset;
        }
    }

    /// RCV.NXT, for the endpoint's TIME-WAIT reuse rule (RFC 6191).
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }

    /// TS.Recent, if timestamps are in use (RFC 7323 4.3; RFC 6191).
    pub fn ts_recent(&self) -> Option<u32> {
        self.ts.map(|t| t.recent)
    }

    /// In TIME-WAIT, whether a new active open may take over this one's
    /// tuple now, as Linux's `tcp_twsk_unique` with `tcp_tw_reuse`: only
    /// with timestamps, at least a second after the last one received, so
    /// that the new incarnation's TSvals (same per-tuple offset) are larger
    /// and PAWS, on both ends, rejects this one's old duplicates (the
    /// caller gives the new connection timestamps too; RFC 6191 is the same
    /// reasoning for a SYN arriving at a TIME-WAIT). Returns the new
    /// connection's ISS: past everything this one sent, by Linux's margin
    /// (SND.MAX + 65535 + 2), so the SYN-ACK of an old incarnation cannot
    /// acknowledge it.
    pub fn time_wait_successor_iss(&self, now: Instant) -> Option<SeqNum> {
        let ts = self.ts?;
        (self.state == State::TimeWait
            && now.saturating_since(ts.recent_at) >= crate::time::Duration::from_secs(1))
        .then(|| self.snd_max + 65537)
    }

    /// Disables (true) or enables (false) Nagle's algorithm.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.cfg.nodelay = nodelay;
    }

    /// How the next segments' checksums are written: in full (the
    /// default), or the pseudo-header sum only when the device finishes them.
    pub fn set_checksum_fill(&mut self, fill: ChecksumFill) {
        self.checksum_fill = fill;
    }

    pub fn checksum_fill(&self) -> ChecksumFill {
        self.checksum_fill
    }

    /// Queues bytes to send; returns how many fit in the send buffer (0 when
    /// it is full: wait for `Writable`).
    pub fn send(&mut self, data: &[u8]) -> Result<usize, ConnError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.fin_queued || !self.state.can_send() {
            return Err(if self.state == State::Closed {
                ConnError::NotConnected
            } else {
                ConnError::SendClosed
            });
        }
        Ok(self.tx.write(data))
    }

    /// Bytes the send buffer can take now.
    pub fn send_capacity(&self) -> usize {
        if self.fin_queued || !self.state.can_send() {
            0
        } else {
            self.tx.free()
        }
    }

    /// Reads received bytes. `Ok(0)` means nothing yet; `Err(Finished)` is the
    /// end of the stream; other errors say why the connection ended.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, ConnError> {
        let n = self.rx.read(buf);
        if n > 0 {
            self.after_read();
            return Ok(n);
        }
        self.recv_status()
    }

    /// The readable bytes in place (two slices of the receive ring); call
    /// [`Connection::consume`] with how many were used.
    pub fn recv_slices(&self) -> (&[u8], &[u8]) {
        self.rx.peek()
    }

    /// Drops `n` read bytes from the receive buffer.
    pub fn consume(&mut self, n: usize) -> usize {
        let n = self.rx.consume(n);
        if n > 0 {
            self.after_read();
        }
        n
    }

    /// Bytes ready to read.
    pub fn readable(&self) -> usize {
        self.rx.readable()
    }

    fn recv_status(&self) -> Result<usize, ConnError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.peer_fin_done {
            return Err(ConnError::Finished);
        }
        if matches!(self.state, State::Closed | State::Listen) {
            return Err(ConnError::NotConnected);
        }
        Ok(0)
    }

    /// After the application read: reopen the window when it moved enough
    /// (RFC 1122 4.2.3.3: by at least min(buffer/2, MSS)).
    fn after_read(&mut self) {
        if self.state == State::TimeWait {
            self.release_buffers();
        }
        if !self.state.is_synchronized() && self.state != State::SynReceived {
            return;
        }
        let threshold = (self.cfg.recv_buffer / 2).min(usize::from(self.cfg.mss));
        let edge = self.rcv_nxt + self.rx.window();
        if edge - self.rcv_adv >= threshold as i32 {
            self.ack_now = true;
        }
    }

    /// Closes the sending side (RFC 9293 3.10.4): a FIN follows the queued
    /// data. Reading goes on until the peer closes too.
    pub fn shutdown(&mut self) {
        match self.state {
            State::Listen | State::SynSent => self.enter_closed(None),
            State::SynReceived | State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Closes both sides: like `shutdown`, and data arriving afterwards (or
    /// unread data now) resets the connection, since no one will read it
    /// (RFC 2525 2.17, as Linux does).
    pub fn close(&mut self, now: Instant) {
        if self.rx.readable() > 0 && self.state.is_synchronized() {
            self.abort();
            return;
        }
        self.app_closed = true;
        self.shutdown();
        if self.state == State::FinWait2 {
            // An orphaned FIN-WAIT-2 does not wait forever (Linux tcp_fin_timeout).
            self.timers.set(Timer::TimeWait, now + self.cfg.time_wait);
        }
    }

    /// Aborts (RFC 9293 3.10.5): a RST goes out if the connection was
    /// synchronized, everything queued is dropped.
    pub fn abort(&mut self) {
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        ) {
            self.rst_pending = Some((self.snd_nxt.max(self.snd_una), None));
        }
        self.enter_closed(Some(ConnError::Aborted));
    }

    /// Aborts without a reset: for a connection whose peer cannot be reached
    /// at all (its next hop never answered ARP), where a RST could not leave.
    pub fn abort_silently(&mut self) {
        self.rst_pending = None;
        self.enter_closed(Some(ConnError::Aborted));
    }

    /// Whether events wait for the application.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn push_event(&mut self, e: Event) {
        if self.events.contains(&e) {
            return;
        }
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Bytes of buffer memory the connection holds (send and receive rings,
    /// the sent-segment table).
    pub fn buffer_memory(&self) -> usize {
        self.tx.capacity() + self.rx.capacity() + self.sent.memory()
    }

    /// In TIME-WAIT nothing is sent or received again, yet the connection
    /// stays for 2 MSL (a minute by default): its buffers go back now (the
    /// receive buffer once the application has read it all), so a client
    /// that opens and closes connections quickly holds a few hundred bytes
    /// per closed one, not its buffers (256 KiB each by default).
    fn release_buffers(&mut self) {
        self.tx.release();
        self.sent.release();
        self.rx.release();
    }

    /// Bytes sent and not yet acknowledged (sequence space).
    fn flight(&self) -> usize {
        (self.snd_max - self.snd_una).max(0) as usize
    }

    /// Bytes the network holds: outstanding less SACKed less lost and not
    /// yet retransmitted (Linux `tcp_packets_in_flight`, in bytes).
    fn in_flight(&self) -> usize {
        self.flight()
            .saturating_sub(self.sack.sacked_bytes())
            .saturating_sub(self.sent.lost_bytes())
    }

    /// The pacer's rate, if this connection paces.
    fn pacing_rate(&self) -> Option<u64> {
        if self.cfg.pacing {
            self.cc.pacing_rate()
        } else {
            None
        }
    }

    /// Ends the connection. With an error, the application hears of it.
    fn enter_closed(&mut self, error: Option<ConnError>) {
        self.state = State::Closed;
        self.timers.stop_all();
        self.ack_now = false;
        self.fin_queued = false;
        if let Some(e) = error {
            if self.error.is_none() {
                self.error = Some(e);
                if e != ConnError::Aborted {
                    self.push_event(Event::Error(e));
                }
            }
        } else {
            self.push_event(Event::Closed);
        }
    }

    /// Our TSval now (RFC 7323 5.4: a 1 ms clock, per-connection offset).
    fn tsval(&self, now: Instant) -> u32 {
        let off = self.ts.map_or(0, |t| t.offset);
        (now.as_millis() as u32).wrapping_add(off)
    }
}
