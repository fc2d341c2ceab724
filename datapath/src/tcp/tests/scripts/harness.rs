//! A packetdrill-like script harness for one [`Connection`].
//!
//! Owns: one connection under test (the "local" side), virtual time, the
//! segments the connection sent and has not yet been checked against an
//! expectation, and the events it reported. The remote peer is the script.
//!
//! Sequence numbers in scripts are relative, as in packetdrill: the remote's
//! are counted from [`REMOTE_ISN`] (the harness chooses it), the local's from
//! the ISN the harness observed in the local SYN or SYN-ACK. So `seq(1)` is
//! the first data byte, whichever side speaks. SACK blocks are relative to
//! the sequence space they describe (the local's when injected, the
//! remote's when expected).
//!
//! Time: [`Script::at`] moves virtual time forward, firing every timer at the
//! instant it is due and recording each segment sent with the time it left.
//! [`Script::expect`] takes the oldest unchecked segment, which must have
//! left at the current time (within [`Script::tolerance`]) and match the
//! pattern; a mismatch panics with the expected and actual segments and the
//! time. Payloads are a known byte pattern of the stream offset, so the
//! contents of data segments and of application reads are checked too.
//!
//! Must never: reach into the connection's private state. Everything a script
//! checks is on the wire or in the public API (`state`, `stats`, `info`,
//! events, `recv`).

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::tcp::{ConnError, Connection, Event, State, TcpConfig};
use crate::time::{Duration, Instant};
use crate::wire::{SeqNum, TcpFlags, TcpPacket, TcpRepr, TcpTimestamps};

pub const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 8080);
pub const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 50000);
/// The local ISS handed to `connect` / `listen`.
pub const LOCAL_ISS: u32 = 0x0010_0000;
/// The remote's ISN: 256 below the wrap, so receive-side arithmetic crosses
/// 2^32 after the first 255 data bytes.
pub const REMOTE_ISN: u32 = 0xFFFF_FF00;

/// Bound on segments sent at one instant, or timers fired to reach one
/// instant, before the harness calls it a livelock.
const LIVELOCK: usize = 10_000;

/// The byte at `offset` of either side's stream (offset 0 is relative
/// sequence number 1).
pub fn stream_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

fn stream_bytes(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(stream_byte).collect()
}

/// "Present with any value", for option patterns: `.ws(ANY)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Any;
pub const ANY: Any = Any;

/// What an expectation says about one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pat<T> {
    /// Not checked.
    #[default]
    Unchecked,
    /// Present, any value.
    Present,
    /// Present with this value.
    Is(T),
    /// Must be absent.
    Absent,
}

impl<T> From<Any> for Pat<T> {
    fn from(_: Any) -> Self {
        Pat::Present
    }
}
impl From<u8> for Pat<u8> {
    fn from(v: u8) -> Self {
        Pat::Is(v)
    }
}
impl From<u16> for Pat<u16> {
    fn from(v: u16) -> Self {
        Pat::Is(v)
    }
}

impl<T: PartialEq + Copy> Pat<T> {
    fn matches(&self, actual: Option<T>) -> bool {
        match self {
            Pat::Unchecked => true,
            Pat::Present => actual.is_some(),
            Pat::Is(v) => actual == Some(*v),
            Pat::Absent => actual.is_none(),
        }
    }
}

/// A segment: a pattern when expected, a template when injected.
#[derive(Debug, Clone, Default)]
pub struct Seg {
    syn: bool,
    fin: bool,
    rst: bool,
    psh: Option<bool>,
    has_ack: bool,
    seq: Option<u32>,
    ack: Option<u32>,
    win: Option<u16>,
    /// Payload length, its bytes being the stream pattern at `seq`.
    len: Option<usize>,
    mss: Pat<u16>,
    ws: Pat<u8>,
    sack_perm: Option<bool>,
    ts: Option<bool>,
    tsval: Option<u32>,
    tsecr: Option<u32>,
    sack: Option<Vec<(u32, u32)>>,
}

fn flags_seg(syn: bool, fin: bool, rst: bool, has_ack: bool) -> Seg {
    Seg {
        syn,
        fin,
        rst,
        has_ack,
        ..Seg::default()
    }
}

/// SYN without ACK.
pub fn syn() -> Seg {
    flags_seg(true, false, false, false)
}
/// SYN and ACK.
pub fn syn_ack() -> Seg {
    flags_seg(true, false, false, true)
}
/// ACK only (data allowed; PSH not checked unless asked).
pub fn ack() -> Seg {
    flags_seg(false, false, false, true)
}
/// FIN and ACK.
pub fn fin_ack() -> Seg {
    flags_seg(false, true, false, true)
}
/// RST without ACK.
pub fn rst() -> Seg {
    flags_seg(false, false, true, false)
}
/// RST and ACK.
pub fn rst_ack() -> Seg {
    flags_seg(false, false, true, true)
}
impl Seg {
    pub fn seq(mut self, rel: u32) -> Self {
        self.seq = Some(rel);
        self
    }
    /// The acknowledgment number (sets the ACK flag).
    pub fn ack(mut self, rel: u32) -> Self {
        self.has_ack = true;
        self.ack = Some(rel);
        self
    }
    /// The raw window field.
    pub fn win(mut self, raw: u16) -> Self {
        self.win = Some(raw);
        self
    }
    /// Payload of `n` bytes (the stream pattern at `seq`).
    pub fn len(mut self, n: usize) -> Self {
        self.len = Some(n);
        self
    }
    pub fn psh(mut self) -> Self {
        self.psh = Some(true);
        self
    }
    pub fn mss(mut self, m: impl Into<Pat<u16>>) -> Self {
        self.mss = m.into();
        self
    }
    pub fn no_mss(mut self) -> Self {
        self.mss = Pat::Absent;
        self
    }
    pub fn ws(mut self, shift: impl Into<Pat<u8>>) -> Self {
        self.ws = shift.into();
        self
    }
    pub fn no_ws(mut self) -> Self {
        self.ws = Pat::Absent;
        self
    }
    pub fn sack_perm(mut self) -> Self {
        self.sack_perm = Some(true);
        self
    }
    pub fn no_sack_perm(mut self) -> Self {
        self.sack_perm = Some(false);
        self
    }
    /// Timestamps present (injected: TSval from the remote's 1 ms clock,
    /// TSecr echoing the local's last TSval).
    pub fn ts(mut self) -> Self {
        self.ts = Some(true);
        self
    }
    pub fn no_ts(mut self) -> Self {
        self.ts = Some(false);
        self
    }
    /// TSval: the remote's value when injected; when expected, the local's
    /// TSval less its offset, i.e. its clock in ms.
    pub fn tsval(mut self, v: u32) -> Self {
        self.ts = Some(true);
        self.tsval = Some(v);
        self
    }
    pub fn tsecr(mut self, v: u32) -> Self {
        self.ts = Some(true);
        self.tsecr = Some(v);
        self
    }
    /// SACK blocks, relative; `&[]` expects none.
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Self {
        self.sack = Some(blocks.to_vec());
        self
    }
    pub fn no_sack(self) -> Self {
        self.sack(&[])
    }
}

impl fmt::Display for Seg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fl = String::new();
        for (on, c) in [(self.syn, 'S'), (self.fin, 'F'), (self.rst, 'R')] {
            if on {
                fl.push(c);
            }
        }
        if self.psh == Some(true) {
            fl.push('P');
        }
        if self.has_ack {
            fl.push('.');
        }
        write!(f, "{fl}")?;
        match self.seq {
            Some(s) => write!(f, " seq {s}")?,
            None => write!(f, " seq *")?,
        }
        write!(f, " len {}", self.len.map_or("*".into(), |l| l.to_string()))?;
        if let Some(a) = self.ack {
            write!(f, " ack {a}")?;
        }
        if let Some(w) = self.win {
            write!(f, " win {w}")?;
        }
        let mut opts = Vec::new();
        match self.mss {
            Pat::Is(m) => opts.push(format!("mss {m}")),
            Pat::Present => opts.push("mss *".into()),
            Pat::Absent => opts.push("no mss".into()),
            Pat::Unchecked => {}
        }
        match self.ws {
            Pat::Is(m) => opts.push(format!("wscale {m}")),
            Pat::Present => opts.push("wscale *".into()),
            Pat::Absent => opts.push("no wscale".into()),
            Pat::Unchecked => {}
        }
        match self.sack_perm {
            Some(true) => opts.push("sackOK".into()),
            Some(false) => opts.push("no sackOK".into()),
            None => {}
        }
        match self.ts {
            Some(true) => opts.push(format!(
                "TS val {} ecr {}",
                self.tsval.map_or("*".into(), |v| v.to_string()),
                self.tsecr.map_or("*".into(), |v| v.to_string())
            )),
            Some(false) => opts.push("no TS".into()),
            None => {}
        }
        if let Some(b) = &self.sack {
            opts.push(format!("sack {b:?}"));
        }
        if !opts.is_empty() {
            write!(f, " <{}>", opts.join(","))?;
        }
        Ok(())
    }
}

/// A segment the connection sent, in relative numbers.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: Option<u32>,
    pub win: u16,
    pub payload: Vec<u8>,
    pub mss: Option<u16>,
    pub ws: Option<u8>,
    pub sack_perm: bool,
    /// TSval less the local offset, and TSecr as sent.
    pub ts: Option<(u32, u32)>,
    pub sack: Vec<(u32, u32)>,
}

impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fl = String::new();
        for (flag, c) in [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
        ] {
            if self.flags.contains(flag) {
                fl.push(c);
            }
        }
        if self.ack.is_some() {
            fl.push('.');
        }
        write!(f, "{fl} seq {} len {}", self.seq, self.payload.len())?;
        if let Some(a) = self.ack {
            write!(f, " ack {a}")?;
        }
        write!(f, " win {}", self.win)?;
        let mut opts = Vec::new();
        if let Some(m) = self.mss {
            opts.push(format!("mss {m}"));
        }
        if let Some(w) = self.ws {
            opts.push(format!("wscale {w}"));
        }
        if self.sack_perm {
            opts.push("sackOK".into());
        }
        if let Some((v, e)) = self.ts {
            opts.push(format!("TS val {v} ecr {e}"));
        }
        if !self.sack.is_empty() {
            opts.push(format!("sack {:?}", self.sack));
        }
        if !opts.is_empty() {
            write!(f, " <{}>", opts.join(","))?;
        }
        write!(f, " (sent at {} ms)", self.at.as_millis())
    }
}

/// A script driving one connection.
pub struct Script {
    cfg: TcpConfig,
    conn: Option<Connection>,
    now: Instant,
    /// Local ISN: configured until observed in the local SYN.
    local_isn: u32,
    /// Local TSval offset (TSval - clock ms), learned from the first TSval.
    local_ts_offset: Option<u32>,
    /// The last raw TSval the local sent, echoed by injected segments.
    last_local_tsval: u32,
    /// The remote negotiated timestamps: injected segments carry them.
    remote_ts: bool,
    sent: VecDeque<Sent>,
    events: Vec<Event>,
    tolerance: Duration,
    app_sent: usize,
    app_read: usize,
    buf: Vec<u8>,
}

impl Script {
    pub fn new(cfg: TcpConfig) -> Script {
        Script {
            cfg,
            conn: None,
            now: Instant::from_millis(0),
            local_isn: LOCAL_ISS,
            local_ts_offset: None,
            last_local_tsval: 0,
            remote_ts: false,
            sent: VecDeque::new(),
            events: Vec::new(),
            tolerance: Duration::ZERO,
            app_sent: 0,
            app_read: 0,
            buf: vec![0u8; 65536],
        }
    }

    fn ms(&self) -> u64 {
        self.now.as_millis()
    }

    /// The raw TSval of the last segment the connection sent.
    pub fn last_local_tsval(&self) -> u32 {
        self.last_local_tsval
    }

    pub fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("no connection: app_connect or app_listen first")
    }

    fn conn_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("no connection: app_connect or app_listen first")
    }

    /// How early an expected segment may have left (default: exactly now).
    pub fn tolerance(&mut self, ms: u64) -> &mut Self {
        self.tolerance = Duration::from_millis(ms);
        self
    }

    /// Moves virtual time to `ms`, firing each timer at its deadline.
    pub fn at(&mut self, ms: u64) -> &mut Self {
        let to = Instant::from_millis(ms);
        assert!(
            to >= self.now,
            "time goes forward: at({ms}) after {} ms",
            self.ms()
        );
        self.advance(to);
        self
    }

    fn advance(&mut self, to: Instant) {
        for _ in 0..LIVELOCK {
            self.drain();
            let Some(c) = self.conn.as_mut() else {
                self.now = to;
                return;
            };
            match c.poll_timeout() {
                Some(t) if t <= to => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.conn_mut().handle_timeout(now);
                }
                _ => {
                    self.now = to;
                    self.drain();
                    return;
                }
            }
        }
        panic!("livelock: timers keep firing before {} ms", to.as_millis());
    }

    /// Collects everything the connection sends now, and its events.
    fn drain(&mut self) {
        let now = self.now;
        if self.conn.is_none() {
            return;
        }
        for _ in 0..LIVELOCK {
            let c = self.conn.as_mut().expect("checked above");
            let Some(n) = c.poll_transmit(now, &mut self.buf) else {
                while let Some(e) = c.poll_event() {
                    self.events.push(e);
                }
                return;
            };
            let bytes = self.buf[..n].to_vec();
            let seen = self.parse_sent(&bytes);
            self.sent.push_back(seen);
        }
        panic!("livelock: endless transmissions at {} ms", now.as_millis());
    }

    fn parse_sent(&mut self, bytes: &[u8]) -> Sent {
        let pkt = TcpPacket::new_checked(bytes).expect("sent segment is well formed");
        let repr = TcpRepr::parse(&pkt, *LOCAL.ip(), *REMOTE.ip(), true)
            .expect("sent segment parses, checksum included");
        assert_eq!(
            (repr.src_port, repr.dst_port),
            (LOCAL.port(), REMOTE.port()),
            "ports of a sent segment"
        );
        if repr.flags.contains(TcpFlags::SYN) {
            self.local_isn = repr.seq.raw();
        }
        let ts = repr.timestamps.map(|t| {
            let offset = *self
                .local_ts_offset
                .get_or_insert(t.tsval.wrapping_sub(self.ms() as u32));
            self.last_local_tsval = t.tsval;
            (t.tsval.wrapping_sub(offset), t.tsecr)
        });
        Sent {
            at: self.now,
            flags: repr.flags,
            seq: repr.seq.raw().wrapping_sub(self.local_isn),
            ack: repr.ack.map(|a| a.raw().wrapping_sub(REMOTE_ISN)),
            win: repr.window_len,
            payload: repr.payload.to_vec(),
            mss: repr.mss,
            ws: repr.window_scale,
            sack_perm: repr.sack_permitted,
            ts,
            sack: repr
                .sack_ranges
                .iter()
                .flatten()
                .map(|(l, r)| {
                    (
                        l.raw().wrapping_sub(REMOTE_ISN),
                        r.raw().wrapping_sub(REMOTE_ISN),
                    )
                })
                .collect(),
        }
    }

    // ---- the remote peer ----

    /// Delivers a segment from the remote to the connection.
    pub fn inject(&mut self, seg: Seg) -> &mut Self {
        let seq = seg
            .seq
            .unwrap_or_else(|| panic!("inject {seg}: seq() is required"));
        assert!(
            !seg.has_ack || seg.ack.is_some(),
            "inject {seg}: the ACK flag needs ack()"
        );
        if seg.syn && seg.ts == Some(true) {
            self.remote_ts = true;
        }
        let len = seg.len.unwrap_or(0);
        let payload = stream_bytes((seq as usize).saturating_sub(1), len);
        let mut flags = TcpFlags::empty();
        flags.set(TcpFlags::SYN, seg.syn);
        flags.set(TcpFlags::FIN, seg.fin);
        flags.set(TcpFlags::RST, seg.rst);
        flags.set(TcpFlags::PSH, seg.psh == Some(true) || len > 0);
        let opt = |p: Pat<u16>| match p {
            Pat::Is(v) => Some(v),
            Pat::Unchecked | Pat::Absent => None,
            Pat::Present => panic!("inject: give the option's value"),
        };
        let ws = match seg.ws {
            Pat::Is(v) => Some(v),
            Pat::Unchecked | Pat::Absent => None,
            Pat::Present => panic!("inject: give the window scale's value"),
        };
        let with_ts = seg.ts.unwrap_or(self.remote_ts && !seg.rst);
        let timestamps = with_ts.then(|| TcpTimestamps {
            tsval: seg.tsval.unwrap_or(self.ms() as u32),
            tsecr: seg.tsecr.unwrap_or(if seg.has_ack {
                self.last_local_tsval
            } else {
                0
            }),
        });
        let mut sack_ranges = [None; 4];
        for (slot, (l, r)) in sack_ranges
            .iter_mut()
            .zip(seg.sack.iter().flatten().copied())
        {
            *slot = Some((
                SeqNum::new(self.local_isn.wrapping_add(l)),
                SeqNum::new(self.local_isn.wrapping_add(r)),
            ));
        }
        let repr = TcpRepr {
            src_port: REMOTE.port(),
            dst_port: LOCAL.port(),
            seq: SeqNum::new(REMOTE_ISN.wrapping_add(seq)),
            ack: seg.ack.map(|a| SeqNum::new(self.local_isn.wrapping_add(a))),
            flags,
            window_len: seg.win.unwrap_or(65535),
            mss: opt(seg.mss),
            window_scale: ws,
            sack_permitted: seg.sack_perm == Some(true),
            sack_ranges,
            timestamps,
            payload: &payload,
            ..TcpRepr::default()
        };
        let now = self.now;
        self.conn_mut().handle_segment(now, &repr);
        self.drain();
        self
    }

    // ---- expectations on the wire ----

    /// The oldest unchecked segment must have left now and match `pat`.
    #[track_caller]
    pub fn expect(&mut self, pat: Seg) -> &mut Self {
        let Some(got) = self.sent.pop_front() else {
            panic!(
                "at {} ms: expected  {pat}\n           but nothing was sent",
                self.ms()
            );
        };
        if let Err(why) = self.check(&pat, &got) {
            panic!(
                "at {} ms: expected  {pat}\n             got       {got}\n             ({why})",
                self.ms()
            );
        }
        self
    }

    fn check(&self, p: &Seg, g: &Sent) -> Result<(), String> {
        if g.at + self.tolerance < self.now || g.at > self.now {
            return Err(format!(
                "sent at {} ms, expected at {} ms",
                g.at.as_millis(),
                self.ms()
            ));
        }
        let f = g.flags;
        if f.contains(TcpFlags::SYN) != p.syn
            || f.contains(TcpFlags::FIN) != p.fin
            || f.contains(TcpFlags::RST) != p.rst
            || g.ack.is_some() != p.has_ack
        {
            return Err("flags differ".into());
        }
        if let Some(psh) = p.psh
            && f.contains(TcpFlags::PSH) != psh
        {
            return Err("PSH differs".into());
        }
        if p.seq.is_some_and(|s| s != g.seq) {
            return Err("seq differs".into());
        }
        if p.ack.is_some() && p.ack != g.ack {
            return Err("ack differs".into());
        }
        if p.win.is_some_and(|w| w != g.win) {
            return Err("window differs".into());
        }
        if let Some(len) = p.len {
            if len != g.payload.len() {
                return Err("payload length differs".into());
            }
            let offset = (g.seq as usize).saturating_sub(1);
            if g.payload != stream_bytes(offset, len) {
                return Err("payload bytes are not the stream at seq".into());
            }
        }
        if !p.mss.matches(g.mss) {
            return Err("MSS option differs".into());
        }
        if !p.ws.matches(g.ws) {
            return Err("window scale option differs".into());
        }
        if p.sack_perm.is_some_and(|s| s != g.sack_perm) {
            return Err("SACK-permitted option differs".into());
        }
        if let Some(ts) = p.ts {
            if ts != g.ts.is_some() {
                return Err("timestamps option differs".into());
            }
            if let Some((v, e)) = g.ts
                && (p.tsval.is_some_and(|pv| pv != v) || p.tsecr.is_some_and(|pe| pe != e))
            {
                return Err("timestamp values differ".into());
            }
        }
        if let Some(b) = &p.sack
            && *b != g.sack
        {
            return Err("SACK blocks differ".into());
        }
        Ok(())
    }

    /// Nothing unchecked was sent.
    #[track_caller]
    pub fn expect_nothing(&mut self) -> &mut Self {
        if let Some(got) = self.sent.front() {
            panic!("at {} ms: expected nothing, got {got}", self.ms());
        }
        self
    }

    /// Nothing is sent from now until `ms` (a segment leaving at `ms`
    /// itself is left for the next `expect`).
    #[track_caller]
    pub fn expect_nothing_until(&mut self, ms: u64) -> &mut Self {
        self.expect_nothing();
        self.at(ms);
        let to = Instant::from_millis(ms);
        if let Some(got) = self.sent.iter().find(|g| g.at < to) {
            panic!("expected nothing before {ms} ms, got {got}");
        }
        self
    }

    // ---- the application ----

    pub fn app_connect(&mut self) -> &mut Self {
        let c = Connection::connect(
            self.now,
            LOCAL,
            REMOTE,
            SeqNum::new(LOCAL_ISS),
            self.cfg.clone(),
        )
        .expect("config is valid");
        self.conn = Some(c);
        self.drain();
        self
    }

    pub fn app_listen(&mut self) -> &mut Self {
        let c = Connection::listen(
            self.now,
            LOCAL,
            REMOTE,
            SeqNum::new(LOCAL_ISS),
            self.cfg.clone(),
        )
        .expect("config is valid");
        self.conn = Some(c);
        self.drain();
        self
    }

    /// Queues `n` bytes of the stream; all must fit.
    #[track_caller]
    pub fn app_send(&mut self, n: usize) -> &mut Self {
        let data = stream_bytes(self.app_sent, n);
        let took = self.conn_mut().send(&data);
        assert_eq!(took, Ok(n), "at {} ms: send({n})", self.ms());
        self.app_sent += n;
        self.drain();
        self
    }

    /// `send` must fail with `err`.
    #[track_caller]
    pub fn app_send_fails(&mut self, err: ConnError) -> &mut Self {
        let r = self.conn_mut().send(b"x");
        assert_eq!(r, Err(err), "at {} ms: send", self.ms());
        self
    }

    /// Reads everything readable; it must be exactly the next `n` bytes of
    /// the remote's stream.
    #[track_caller]
    pub fn app_recv(&mut self, n: usize) -> &mut Self {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match self.conn_mut().recv(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => got.extend_from_slice(&buf[..k]),
            }
        }
        assert_eq!(got.len(), n, "at {} ms: bytes read", self.ms());
        assert!(
            got == stream_bytes(self.app_read, n),
            "at {} ms: read bytes are not the remote's stream at offset {}",
            self.ms(),
            self.app_read
        );
        self.app_read += n;
        self.drain();
        self
    }

    /// `recv` returns `r` (with an empty buffer: Ok(0), Finished, ...).
    #[track_caller]
    pub fn app_recv_result(&mut self, r: Result<usize, ConnError>) -> &mut Self {
        let mut buf = [0u8; 1];
        let got = self.conn_mut().recv(&mut buf);
        assert_eq!(got, r, "at {} ms: recv", self.ms());
        self
    }

    pub fn app_shutdown(&mut self) -> &mut Self {
        self.conn_mut().shutdown();
        self.drain();
        self
    }

    pub fn app_close(&mut self) -> &mut Self {
        let now = self.now;
        self.conn_mut().close(now);
        self.drain();
        self
    }

    pub fn app_abort(&mut self) -> &mut Self {
        self.conn_mut().abort();
        self.drain();
        self
    }

    // ---- state and events ----

    #[track_caller]
    pub fn expect_state(&mut self, st: State) -> &mut Self {
        assert_eq!(self.conn().state(), st, "at {} ms: state", self.ms());
        self
    }

    /// The connection reported `e` (since the last time it was taken).
    #[track_caller]
    pub fn expect_event(&mut self, e: Event) -> &mut Self {
        let Some(i) = self.events.iter().position(|x| *x == e) else {
            panic!(
                "at {} ms: expected event {e:?}, have {:?}",
                self.ms(),
                self.events
            );
        };
        self.events.remove(i);
        self
    }

    #[track_caller]
    pub fn expect_no_event(&mut self, e: Event) -> &mut Self {
        assert!(
            !self.events.contains(&e),
            "at {} ms: unexpected event {e:?}",
            self.ms()
        );
        self
    }
}
