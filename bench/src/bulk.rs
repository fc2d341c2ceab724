//! `shunt-bench bulk`: one connection, one direction, goodput in Gbit/s on a
//! self-made veth pair (MTU 1500).
//!
//! - kernel -> kernel, with the veth's default offloads on both sides (the
//!   test hosts leave TX checksum offload, hence GSO, on): what Linux does
//!   with 64 KB super-packets;
//! - Shunt -> Shunt: a Shunt client in host B writes as fast as its send
//!   buffer and the windows allow, a Shunt server in host A reads and throws
//!   the bytes away; both busy-poll;
//! - the ceiling for a per-packet stack: the one-way AF_XDP frame rate of
//!   1514-byte frames (`raw`'s measurement) times the MSS with timestamps,
//!   1448 bytes.
//!
//! Goodput is counted by the receiver over a window after a warm-up.
//!
//! `cc` runs the same two flows with a chosen congestion controller, pacing
//! and injected loss ([`KernelFlow`], [`ShuntFlow`]); each flow gets test
//! hosts of its own, removed when it ends.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use control::Runtime;
use datapath::cc::Algorithm;
use datapath::io::xdp::{TxChecksumOffload, XskConfig};
use datapath::shard::{ShardConfig, ShardHandle, ShardStats};
use datapath::tcp::{ConnInfo, ConnStats, TcpConfig};
use nix::poll::PollFlags;
use testhosts::Config;
use xdp_prog::Faults;
use xdp_prog::peer_fault::{self, Direction, PeerFaultCounters, PeerFaults};

use crate::apps::{BulkSender, Discard};
use crate::cpu::{Work, thread_cpu};
use crate::ratio;
use crate::rr::{accept_one, new_hosts};
use crate::timeline::{Timeline, sample_until};
use crate::{BenchError, GRACE, Result, pin};

const KERNEL_PORT: u16 = 7200;
const SHUNT_PORT: u16 = 7201;
/// Connections of one bulk figure at most.
pub const MAX_FLOWS: usize = 64;
/// Payload of a full segment with the timestamp option at MTU 1500.
pub const MSS: f64 = 1448.0;

#[derive(Debug, Clone)]
pub struct BulkOpts {
    /// Connections, all from one sender thread or shard to one receiver.
    pub flows: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub shard: ShardConfig,
}

/// How a kernel -> kernel flow runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelFlow {
    /// The sender's controller, set on its socket with `TCP_CONGESTION`
    /// (`None`: the namespace's default, CUBIC).
    pub cc: Option<Algorithm>,
    /// Leave TSO/GSO on the sender's veth on (64 KB super-packets). With it
    /// off the sender sends MTU frames, one at a time like Shunt, and a drop
    /// takes one frame rather than a whole super-packet.
    pub offloads: bool,
    /// Data frames a tc program on the receiver's veth ingress drops, parts
    /// per million (armed once the connection is up, so the handshake is
    /// spared).
    pub loss_ppm: u32,
}

/// How a Shunt -> Shunt flow runs.
#[derive(Debug, Clone, Copy)]
pub struct ShuntFlow {
    /// The controller of both ends (the sender's is the one that matters).
    pub cc: Algorithm,
    pub pacing: bool,
    /// Data frames the receiver's steering program drops, parts per million
    /// (armed once the first bytes arrived, so the handshake is spared).
    pub loss_ppm: u32,
    /// Who finishes the segments' checksums (both ends): Shunt, or the
    /// kernel in its copy path (`XDP_UMEM_TX_SW_CSUM`).
    pub tx_checksum: TxChecksumOffload,
}

impl Default for ShuntFlow {
    fn default() -> Self {
        let tcp = TcpConfig::default();
        ShuntFlow {
            cc: tcp.congestion_control,
            pacing: tcp.pacing,
            loss_ppm: 0,
            tx_checksum: XskConfig::default().tx_checksum,
        }
    }
}

/// One kernel flow's figures.
#[derive(Debug, Clone)]
pub struct KernelRun {
    /// Goodput at the receiver over the window.
    pub gbps: f64,
    /// The controller the sender's socket reported after connecting.
    pub cc: String,
    /// The fault program's counters over the flow (from the connection's
    /// start to its end), when loss was injected.
    pub faults: Option<PeerFaultCounters>,
    /// The sender namespace's TCP counters over the flow.
    pub tcp: KernelTcpCounters,
    /// The flow over time.
    pub timeline: Timeline,
    /// Both ends' CPU over the whole flow and the bytes it delivered.
    pub work: Work,
    /// Bytes the sender wrote and the receiver read over the whole flow;
    /// equal once the sender closed and the receiver read to the end.
    pub sent_bytes: u64,
    pub received_bytes: u64,
}

/// One Shunt flow's figures; counters are over the measured window.
#[derive(Debug, Clone)]
pub struct ShuntRun {
    /// Goodput at the receiver.
    pub gbps: f64,
    /// Bytes the sender's buffer took per second, Gbit/s.
    pub sent_gbps: f64,
    pub client: ShardStats,
    pub server: ShardStats,
    pub secs: f64,
    /// The sender connection's counters when the window started and ended.
    pub conn_start: Option<ConnStats>,
    pub conn_end: Option<ConnStats>,
    /// The sender connection's variables when the window ended.
    pub info: Option<ConnInfo>,
    /// The receiver's steering program's counters over the window.
    pub steering: xdp_prog::Counters,
    /// Who finished the sender's checksums, and why.
    pub tx_checksum: String,
    /// The flow over time, with the sender connection's variables when the
    /// sender is Shunt.
    pub timeline: Timeline,
    /// Both ends' CPU over the whole flow and the bytes it delivered.
    pub work: Work,
    /// Bytes the sender wrote and the receiver read over the whole flow;
    /// equal once the sender closed and the receiver read to the end.
    pub sent_bytes: u64,
    pub received_bytes: u64,
    /// The sender's retransmitted segments from the connection's start to
    /// the window's end (Shunt's connection counter, or the kernel sender
    /// namespace's).
    pub retransmits: u64,
}

impl ShuntRun {
    /// A counter of the sender connection over the window.
    pub fn conn_delta(&self, field: impl Fn(&ConnStats) -> u64) -> u64 {
        match (&self.conn_start, &self.conn_end) {
            (Some(a), Some(b)) => field(b).saturating_sub(field(a)),
            _ => 0,
        }
    }

    /// The controller the sender ran, as it names itself.
    pub fn cc_ran(&self) -> &'static str {
        self.info.map_or("?", |i| i.cc)
    }
}

#[derive(Debug)]
pub struct BulkReport {
    pub kernel_gbps: f64,
    pub shunt: ShuntRun,
    pub raw_pps: f64,
}

/// Goodput of a per-packet stack at `pps` full frames per second.
pub fn ceiling_gbps(pps: f64) -> f64 {
    pps * MSS * 8.0 / 1e9
}

impl BulkReport {
    pub fn ceiling_gbps(&self) -> f64 {
        ceiling_gbps(self.raw_pps)
    }
}

pub fn run(seconds: u64, tx_checksum: TxChecksumOffload) -> Result<()> {
    let opts = BulkOpts {
        flows: 1,
        warmup: crate::raw::WARMUP,
        window: Duration::from_secs(seconds.max(1)),
        shard: ShardConfig::default(),
    };
    println!("{}", crate::raw::machine());
    let r = measure_all(&opts, tx_checksum)?;
    print_report(&opts, &r);
    Ok(())
}

pub fn measure_all(opts: &BulkOpts, tx_checksum: TxChecksumOffload) -> Result<BulkReport> {
    let kernel = kernel_bulk(
        opts,
        KernelFlow {
            offloads: true,
            ..KernelFlow::default()
        },
    )
    .map_err(|e| BenchError(format!("kernel bulk: {e}")))?;
    let raw_pps = raw_ceiling_pps(opts)?;
    let flow = ShuntFlow {
        tx_checksum,
        ..ShuntFlow::default()
    };
    let shunt = shunt_bulk(opts, flow).map_err(|e| BenchError(format!("Shunt bulk: {e}")))?;
    Ok(BulkReport {
        kernel_gbps: kernel.gbps,
        shunt,
        raw_pps,
    })
}

/// The one-way AF_XDP rate of 1514-byte frames, frames per second.
pub fn raw_ceiling_pps(opts: &BulkOpts) -> Result<f64> {
    let hosts = new_hosts(Config {
        tx_checksum_off: vec![],
        ..Config::default()
    })?;
    let raw = crate::raw::xsk_one_way_rate(&hosts, 1514, opts.warmup, opts.window)
        .map_err(|e| BenchError(format!("raw AF_XDP one-way rate: {e}")))?;
    Ok(raw.rx_pps)
}

fn print_report(opts: &BulkOpts, r: &BulkReport) {
    println!(
        "veth pair, MTU 1500, one connection, one direction, {} s per figure after {} ms warm-up, receiver on core 0, sender on core 1 (raw: sender core 0)",
        opts.window.as_secs_f64(),
        opts.warmup.as_millis()
    );
    println!();
    println!("{:<58} | {:>8}", "", "Gbit/s");
    println!(
        "{:<58} | {:>8.2}",
        "kernel -> kernel, CUBIC, default offloads (GSO/TSO)", r.kernel_gbps
    );
    println!(
        "{:<58} | {:>8.2}",
        "Shunt -> Shunt, busy-polled (goodput at the receiver)", r.shunt.gbps
    );
    println!(
        "{:<58} | {:>8.2}",
        format!(
            "raw AF_XDP one-way, 1514 B frames x {MSS} B ({:.3} Mpps)",
            r.raw_pps / 1e6
        ),
        r.ceiling_gbps()
    );
    println!();
    println!(
        "Shunt / kernel: {:.2}x;  Shunt / raw AF_XDP ceiling: {:.2}x",
        ratio(r.shunt.gbps, r.kernel_gbps),
        ratio(r.shunt.gbps, r.ceiling_gbps())
    );
    let secs = r.shunt.secs.max(1e-9);
    let (c, s) = (&r.shunt.client, &r.shunt.server);
    println!(
        "Shunt sender: {:.3} Mpps out, {:.3} Mpps in (ACKs), {:.1} frames out per turn, {:.2} Gbit/s into the send buffer",
        c.tx_frames as f64 / secs / 1e6,
        c.rx_frames as f64 / secs / 1e6,
        c.tx_frames as f64 / c.turns.max(1) as f64,
        r.shunt.sent_gbps
    );
    println!(
        "Shunt receiver: {:.3} Mpps in, {:.3} Mpps out (ACKs, {:.2} frames in per ACK), {:.1} frames in per turn",
        s.rx_frames as f64 / secs / 1e6,
        s.tx_frames as f64 / secs / 1e6,
        s.rx_frames as f64 / s.tx_frames.max(1) as f64,
        s.rx_frames as f64 / s.turns.max(1) as f64,
    );
    println!("Shunt sender checksums: {}", r.shunt.tx_checksum);
    if let Some(cs) = &r.shunt.conn_end {
        println!(
            "Shunt sender connection: {} segments out, {} retransmits ({} fast, {} RTOs), {} dup ACKs",
            cs.segs_out, cs.retransmits, cs.fast_retransmits, cs.rtos, cs.dup_acks
        );
    }
}

/// Linux's name for a controller.
pub fn kernel_cc_name(cc: Algorithm) -> &'static str {
    match cc {
        Algorithm::NewReno => "reno",
        Algorithm::Cubic => "cubic",
        Algorithm::Bbr => "bbr",
    }
}

/// The calling thread's namespace's TCP counters (`/proc/thread-self`:
/// `/proc/net` is the process's namespace).
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelTcpCounters {
    /// `Tcp: OutSegs`, `RetransSegs` (`/proc/net/snmp`).
    pub out_segs: u64,
    pub retrans_segs: u64,
    /// `TcpExt: TCPTimeouts` (RTOs), `TCPLossProbes` (`/proc/net/netstat`).
    pub timeouts: u64,
    pub loss_probes: u64,
}

impl KernelTcpCounters {
    pub(crate) fn read() -> KernelTcpCounters {
        let snmp = proc_net_fields("snmp", "Tcp:", &["OutSegs", "RetransSegs"]);
        let ext = proc_net_fields("netstat", "TcpExt:", &["TCPTimeouts", "TCPLossProbes"]);
        KernelTcpCounters {
            out_segs: snmp[0],
            retrans_segs: snmp[1],
            timeouts: ext[0],
            loss_probes: ext[1],
        }
    }

    pub(crate) fn since(&self, earlier: &KernelTcpCounters) -> KernelTcpCounters {
        KernelTcpCounters {
            out_segs: self.out_segs.saturating_sub(earlier.out_segs),
            retrans_segs: self.retrans_segs.saturating_sub(earlier.retrans_segs),
            timeouts: self.timeouts.saturating_sub(earlier.timeouts),
            loss_probes: self.loss_probes.saturating_sub(earlier.loss_probes),
        }
    }
}

/// `names`' values in a `/proc/net` file whose counters come as a line of
/// names and a line of values, both starting with `prefix` (0 if absent).
fn proc_net_fields(file: &str, prefix: &str, names: &[&str]) -> Vec<u64> {
    let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}")).unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (heads, values) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    names
        .iter()
        .map(|name| {
            heads
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// What a kernel sender learns about its flow.
#[derive(Debug, Default)]
pub(crate) struct SenderEnd {
    cc: String,
    tcp: KernelTcpCounters,
    cpu: Duration,
    sent: u64,
}

/// What a kernel receiver learns about its flow.
#[derive(Debug, Default)]
struct ReceiverEnd {
    faults: Option<PeerFaultCounters>,
    cpu: Duration,
    wall: Duration,
    received: u64,
}

/// How long a receiver keeps reading after the window for what the sender
/// wrote before it closed.
const DRAIN: Duration = Duration::from_secs(3);

/// Opens `flows` connections to `dst` (with `cc` on each socket), writes
/// to them round-robin as fast as their sockets take it, counting into
/// `sent`, until `stop` (or `deadline`), then closes their sending sides so
/// that the receiver reads to the end. The sockets are non-blocking; the
/// thread waits in `poll` only when none takes more.
fn kernel_send(
    dst: SocketAddrV4,
    cc: Option<Algorithm>,
    flows: usize,
    sent: &AtomicU64,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<SenderEnd> {
    let mut socks = Vec::with_capacity(flows);
    let mut cc_name = String::new();
    for _ in 0..flows.max(1) {
        let sock = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        if let Some(cc) = cc {
            let name = kernel_cc_name(cc);
            sock.set_tcp_congestion(name.as_bytes())
                .map_err(|e| BenchError(format!("TCP_CONGESTION {name}: {e}")))?;
        }
        sock.connect_timeout(&dst.into(), Duration::from_secs(3))?;
        cc_name = String::from_utf8_lossy(&sock.tcp_congestion()?)
            .trim_end_matches('\0')
            .to_string();
        sock.set_nonblocking(true)?;
        socks.push(TcpStream::from(sock));
    }
    let cpu0 = thread_cpu();
    let tcp0 = KernelTcpCounters::read();
    let buf = vec![0x5au8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut took = 0u64;
        for s in &mut socks {
            match s.write(&buf) {
                Ok(n) => took += n as u64,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if took > 0 {
            sent.fetch_add(took, Ordering::Relaxed);
        } else {
            crate::pipeline::wait(&socks, PollFlags::POLLOUT)?;
        }
    }
    for s in &socks {
        s.shutdown(std::net::Shutdown::Write)?;
    }
    Ok(SenderEnd {
        cc: cc_name,
        tcp: KernelTcpCounters::read().since(&tcp0),
        cpu: thread_cpu() - cpu0,
        sent: sent.load(Ordering::Relaxed),
    })
}

/// Accepts `flows` connections on `dst` and reads them to the end (or until
/// [`DRAIN`] after `stop`), counting into `received`; with `loss_ppm`, a tc
/// program on `host`'s ingress drops that many data frames once the
/// connections are up. The sockets are non-blocking; the thread waits in
/// `poll` only when none has data.
#[allow(clippy::too_many_arguments)]
fn kernel_receive(
    host: &testhosts::Host,
    dst: SocketAddrV4,
    flows: usize,
    loss_ppm: u32,
    received: &AtomicU64,
    stop: &AtomicBool,
    ready: &dyn Fn(),
    deadline: Instant,
) -> Result<ReceiverEnd> {
    let l = TcpListener::bind(dst)?;
    ready();
    let mut socks = Vec::with_capacity(flows);
    while socks.len() < flows.max(1) {
        let Some(s) = accept_one(&l, stop, deadline)? else {
            return Err(BenchError("the sender did not connect".into()));
        };
        s.set_nonblocking(true)?;
        socks.push(s);
    }
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    // Armed once the connections are up; the host receives only the data
    // direction (its ACKs leave by its egress).
    let faults = if loss_ppm > 0 {
        let f = PeerFaults::attach(host.ifindex(), Direction::Ingress)?;
        f.set(peer_fault::Faults {
            drop_ppm: loss_ppm,
            port: dst.port(),
            ..peer_fault::Faults::NONE
        })?;
        Some(f)
    } else {
        None
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut result = Ok(());
    let mut drain_until = None;
    while !socks.is_empty() && Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            let until = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
            if Instant::now() >= until {
                break;
            }
        }
        let (mut got, mut ended) = (0u64, None);
        for (i, s) in socks.iter_mut().enumerate() {
            match s.read(&mut buf) {
                Ok(0) => ended = Some(i),
                Ok(n) => got += n as u64,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => {
                    result = Err(e.into());
                    ended = Some(i);
                }
            }
        }
        if let Some(i) = ended {
            socks.swap_remove(i);
        }
        if result.is_err() {
            break;
        }
        if got > 0 {
            received.fetch_add(got, Ordering::Relaxed);
        } else if !socks.is_empty() {
            crate::pipeline::wait(&socks, PollFlags::POLLIN)?;
        }
    }
    let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
    // Off and detached on this thread, inside the namespace where the filter
    // is, before the connections close.
    let faults = match faults {
        Some(f) => {
            let counters = f.counters()?;
            f.set(peer_fault::Faults::NONE)?;
            Some(counters)
        }
        None => None,
    };
    result.map(|()| ReceiverEnd {
        faults,
        cpu,
        wall,
        received: received.load(Ordering::Relaxed),
    })
}

/// Kernel sender in A, kernel receiver in B (the symmetric offloads make the
/// direction irrelevant), through `raw`'s measurement harness.
///
/// Loss is made at B's veth ingress, not at A's egress: TCP builds GSO
/// super-packets whatever the device's offloads and they are cut into MTU
/// frames only after tc egress, so a drop there takes up to 64 KB at once.
/// B's ingress gets the MTU frames the veth carried (no GRO on a veth without
/// XDP), one by one.
pub fn kernel_bulk(opts: &BulkOpts, flow: KernelFlow) -> Result<KernelRun> {
    let hosts = new_hosts(Config {
        tx_checksum_off: vec![],
        ..Config::default()
    })?;
    if !flow.offloads {
        let a = hosts.a();
        a.run("ethtool", &["-K", a.ifname(), "tso", "off", "gso", "off"])?;
    }
    if flow.loss_ppm > 0 {
        // PeerFaults would make the qdisc itself, after libbpf printed the
        // kernel's refusal of the first attach; the namespace's end removes it.
        let b = hosts.b();
        b.run("tc", &["qdisc", "add", "dev", b.ifname(), "clsact"])?;
    }
    let dst = SocketAddrV4::new(hosts.b().addr(), KERNEL_PORT);
    let hard_deadline = Instant::now() + opts.warmup + opts.window + DRAIN + GRACE;
    let flows = opts.flows;
    let ends = Arc::new(Mutex::new((SenderEnd::default(), ReceiverEnd::default())));
    let (sender_ends, receiver_ends) = (ends.clone(), ends.clone());
    let rate = crate::raw::measure(
        &hosts,
        opts.warmup,
        opts.window,
        move |_a, sent: &AtomicU64, stop| {
            let end = kernel_send(dst, flow.cc, flows, sent, stop, hard_deadline)?;
            if let Ok(mut ends) = sender_ends.lock() {
                ends.0 = end;
            }
            Ok(())
        },
        move |b, received: &AtomicU64, stop, ready| {
            let end = kernel_receive(
                b,
                dst,
                flows,
                flow.loss_ppm,
                received,
                stop,
                ready,
                hard_deadline,
            )?;
            if let Ok(mut ends) = receiver_ends.lock() {
                ends.1 = end;
            }
            Ok(())
        },
    )?;
    let (sender, receiver) = std::mem::take(
        &mut *ends
            .lock()
            .map_err(|_| BenchError("a kernel end panicked".into()))?,
    );
    Ok(KernelRun {
        gbps: rate.rx_pps * 8.0 / 1e9,
        cc: sender.cc,
        faults: receiver.faults,
        tcp: sender.tcp,
        timeline: rate.timeline,
        work: Work {
            client_cpu: sender.cpu,
            server_cpu: receiver.cpu,
            wall: receiver.wall,
            requests: 0,
            bytes: receiver.received,
        },
        sent_bytes: sender.sent,
        received_bytes: receiver.received,
    })
}

/// The sending end of a flow into a Shunt receiver, seen from the thread
/// that measures it.
trait Sender {
    /// Bytes its send buffer took so far.
    fn sent(&self) -> u64;
    /// Its (first) connection's counters and variables now, if it is Shunt.
    fn conn(&self) -> Result<(Option<ConnStats>, Option<ConnInfo>)>;
    /// Segments its connections retransmitted so far, if it is Shunt.
    fn retransmits(&self) -> Result<u64>;
    /// Its shard's counters, if it is Shunt.
    fn shard(&self) -> ShardStats;
    /// Stops sending and closes the sending side.
    fn finish(&mut self) -> Result<()>;
    /// Why it failed, if it did.
    fn error(&self) -> Option<String>;
}

/// A Shunt [`BulkSender`] on its shard.
struct ShuntSender {
    handle: ShardHandle<BulkSender>,
    sent: Arc<AtomicU64>,
}

impl Sender for ShuntSender {
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    fn conn(&self) -> Result<(Option<ConnStats>, Option<ConnInfo>)> {
        Ok(self
            .handle
            .call(|app, ctx| (app.conn_stats(ctx), app.conn_info(ctx)))?)
    }
    fn retransmits(&self) -> Result<u64> {
        Ok(self.handle.call(|app, ctx| app.retransmits(ctx))?)
    }
    fn shard(&self) -> ShardStats {
        self.handle.stats()
    }
    fn finish(&mut self) -> Result<()> {
        Ok(self.handle.call(|app, ctx| app.finish(ctx))?)
    }
    fn error(&self) -> Option<String> {
        self.handle.call(|app, _| app.error.clone()).ok().flatten()
    }
}

/// The thread of a [`KernelSender`] (in a test host or not).
pub(crate) type SenderThread =
    std::thread::JoinHandle<std::result::Result<Result<SenderEnd>, testhosts::Error>>;

/// A kernel sender ([`kernel_send`]) on a thread of its own.
struct KernelSender {
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<SenderThread>,
    end: Option<Result<SenderEnd>>,
}

impl Sender for KernelSender {
    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    fn conn(&self) -> Result<(Option<ConnStats>, Option<ConnInfo>)> {
        Ok((None, None))
    }
    fn retransmits(&self) -> Result<u64> {
        Ok(0)
    }
    fn shard(&self) -> ShardStats {
        ShardStats::default()
    }
    fn finish(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let end = t
                .join()
                .map_err(|_| BenchError("the kernel sender panicked".into()))?
                .map_err(BenchError::from)
                .and_then(|r| r);
            self.end = Some(end);
        }
        Ok(())
    }
    fn error(&self) -> Option<String> {
        match &self.end {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        }
    }
}

/// A Shunt discard server on `host`.
fn start_discard(
    host: &testhosts::Host,
    cfg: control::RuntimeConfig,
) -> Result<(Runtime<Discard>, Arc<AtomicU64>)> {
    let mut cfg = cfg;
    cfg.listen_ports = vec![SHUNT_PORT];
    let discard = Discard::new(SHUNT_PORT);
    let received = discard.received.clone();
    let mut discard = Some(discard);
    let server = Runtime::start(cfg, move |_| discard.take().expect("one queue"))
        .map_err(|e| BenchError(format!("Shunt receiver on {}: {e}", host.ns())))?;
    let sh = server
        .handle(0)
        .ok_or_else(|| BenchError("the server runtime has no shard".into()))?;
    if let Some(e) = sh.call(|app, _| app.error.clone())? {
        return Err(BenchError(e));
    }
    Ok((server, received))
}

/// The receiving end of a flow, seen from the thread that measures it: a
/// Shunt discard server in this process, or a server on a far host read
/// through its control connection (`remote`).
pub(crate) trait Receiver {
    /// Bytes it read so far.
    fn received(&self) -> Result<u64>;
    /// Its CPU time so far.
    fn cpu(&self) -> Result<Duration>;
    /// Its shard's counters, if it is Shunt here.
    fn shard(&self) -> ShardStats {
        ShardStats::default()
    }
    /// Its steering program's counters, if it is Shunt here.
    fn steering(&self) -> Result<xdp_prog::Counters> {
        Ok(xdp_prog::Counters::default())
    }
    /// Drops this many data frames per million (0: none).
    fn set_loss(&self, ppm: u32) -> Result<()> {
        if ppm == 0 {
            Ok(())
        } else {
            Err(BenchError("this receiver cannot inject loss".into()))
        }
    }
}

/// A Shunt discard server in this process.
struct ShuntReceiver<'a> {
    srv: &'a Runtime<Discard>,
    sh: &'a ShardHandle<Discard>,
    received: &'a AtomicU64,
}

impl<'a> ShuntReceiver<'a> {
    fn new(srv: &'a Runtime<Discard>, received: &'a AtomicU64) -> Result<Self> {
        let sh = srv
            .handle(0)
            .ok_or_else(|| BenchError("the server runtime has no shard".into()))?;
        Ok(ShuntReceiver { srv, sh, received })
    }
}

impl Receiver for ShuntReceiver<'_> {
    fn received(&self) -> Result<u64> {
        Ok(self.received.load(Ordering::Relaxed))
    }
    fn cpu(&self) -> Result<Duration> {
        Ok(self.sh.call(|_, _| thread_cpu())?)
    }
    fn shard(&self) -> ShardStats {
        self.sh.stats()
    }
    fn steering(&self) -> Result<xdp_prog::Counters> {
        Ok(self.srv.steering().counters()?)
    }
    fn set_loss(&self, ppm: u32) -> Result<()> {
        Ok(self.srv.set_faults(Faults {
            drop_ppm: ppm,
            ..Faults::NONE
        })?)
    }
}

/// Measures a flow from `sender` into the receiver `rx`: waits
/// for the first byte, arms the loss, samples the warm-up and the window,
/// then has the sender close and waits for the receiver to read it all.
/// `sender_cpu` reads the sender's CPU time (None: its own thread measures
/// it).
fn measure_into(
    opts: &BulkOpts,
    loss_ppm: u32,
    rx: &dyn Receiver,
    sender: &mut dyn Sender,
    sender_cpu: &dyn Fn() -> Result<Duration>,
) -> Result<ShuntRun> {
    let start = Instant::now();
    let (client_cpu0, server_cpu0) = (sender_cpu()?, rx.cpu()?);
    // Wait for the first bytes, then arm the loss, warm up and measure.
    let deadline = start + GRACE;
    while rx.received()? == 0 {
        if Instant::now() >= deadline {
            return Err(BenchError(format!(
                "no byte arrived in {} s{}",
                GRACE.as_secs(),
                sender.error().map(|e| format!(": {e}")).unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    rx.set_loss(loss_ppm)?;
    let mut timeline = Timeline::default();
    let mut last = 0;
    let mut sample = || {
        let info = sender.conn().ok().and_then(|c| c.1);
        last = rx.received().unwrap_or(last);
        (last, info)
    };
    sample_until(
        &mut timeline,
        start,
        Instant::now() + opts.warmup,
        &mut sample,
    );
    let snap = |sender: &dyn Sender| -> Result<_> {
        let (conn, _) = sender.conn()?;
        Ok((
            Instant::now(),
            rx.received()?,
            sender.sent(),
            sender.shard(),
            rx.shard(),
            rx.steering()?,
            conn,
        ))
    };
    let (t0, r0, s0, c0, v0, x0, conn_start) = snap(sender)?;
    sample_until(&mut timeline, start, t0 + opts.window, &mut sample);
    let (t1, r1, s1, c1, v1, x1, conn_end) = snap(sender)?;
    // From the connections' start, as the kernel's are counted.
    let retransmits = sender.retransmits()?;
    timeline.window = ((t0 - start).as_secs_f64(), (t1 - start).as_secs_f64());
    rx.set_loss(0)?;
    let (_, info) = sender.conn()?;
    sender.finish()?;
    if let Some(e) = sender.error() {
        return Err(BenchError(e));
    }
    // Everything written reaches the receiver once the sender closed.
    let sent_bytes = sender.sent();
    let drain_until = Instant::now() + DRAIN;
    while rx.received()? < sent_bytes && Instant::now() < drain_until {
        std::thread::sleep(Duration::from_millis(2));
    }
    let received_bytes = rx.received()?;
    let work = Work {
        client_cpu: sender_cpu()?.saturating_sub(client_cpu0),
        server_cpu: rx.cpu()?.saturating_sub(server_cpu0),
        wall: start.elapsed(),
        requests: 0,
        bytes: received_bytes,
    };
    let secs = (t1 - t0).as_secs_f64();
    Ok(ShuntRun {
        gbps: (r1 - r0) as f64 * 8.0 / secs / 1e9,
        sent_gbps: (s1 - s0) as f64 * 8.0 / secs / 1e9,
        client: c1.since(&c0),
        server: v1.since(&v0),
        secs,
        conn_start,
        conn_end,
        info,
        steering: x1.since(&x0),
        timeline,
        work,
        sent_bytes,
        received_bytes,
        retransmits,
        tx_checksum: String::new(),
    })
}

/// A Shunt bulk sender started with `cfg` (on the calling thread's
/// host), to `dst`, into the receiver `rx`.
pub(crate) fn shunt_send(
    opts: &BulkOpts,
    cfg: control::RuntimeConfig,
    dst: SocketAddrV4,
    loss_ppm: u32,
    rx: &dyn Receiver,
) -> Result<ShuntRun> {
    let app = BulkSender::new(dst, opts.flows);
    let sent = app.sent.clone();
    let mut app = Some(app);
    // Shard 0 sends; the others (one per further queue) stay idle.
    let (client, handle) = crate::rr::start_client(cfg, *dst.ip(), move |_| {
        app.take().unwrap_or_else(|| BulkSender::new(dst, 1))
    })?;
    let tx_checksum = client
        .tx_checksums()
        .first()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let ch = handle.clone();
    let mut sender = ShuntSender { handle, sent };
    let cpu = || -> Result<Duration> { Ok(ch.call(|_, _| thread_cpu())?) };
    let started = cpu().and_then(|_| Ok(ch.call(|app, ctx| app.start(ctx))?));
    let run = started.and_then(|()| measure_into(opts, loss_ppm, rx, &mut sender, &cpu));
    drop(client.stop());
    run.map(|r| ShuntRun { tx_checksum, ..r })
}

/// A kernel sender (`flow.cc`; `spawn` starts its thread where it belongs)
/// to `dst`, into the receiver `rx`.
pub(crate) fn kernel_send_into(
    opts: &BulkOpts,
    flow: KernelFlow,
    dst: SocketAddrV4,
    rx: &dyn Receiver,
    spawn: impl FnOnce(Box<dyn FnOnce() -> Result<SenderEnd> + Send>) -> SenderThread,
) -> Result<ShuntRun> {
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + opts.warmup + opts.window + DRAIN + GRACE;
    let flows = opts.flows;
    let thread = {
        let (sent, stop) = (sent.clone(), stop.clone());
        spawn(Box::new(move || {
            kernel_send(dst, flow.cc, flows, &sent, &stop, deadline)
        }))
    };
    let mut sender = KernelSender {
        sent,
        stop,
        thread: Some(thread),
        end: None,
    };
    // The kernel sender measures its own CPU time.
    let no_cpu = || Ok(Duration::ZERO);
    let run = measure_into(opts, flow.loss_ppm, rx, &mut sender, &no_cpu);
    let finished = sender.finish();
    let mut run = run?;
    finished?;
    let end = sender
        .end
        .take()
        .ok_or_else(|| BenchError("the kernel sender did not end".into()))??;
    run.work.client_cpu = end.cpu;
    run.retransmits = end.tcp.retrans_segs;
    Ok(run)
}

/// Shunt discard server in A (core 0), Shunt bulk sender in B (core 1).
pub fn shunt_bulk(opts: &BulkOpts, flow: ShuntFlow) -> Result<ShuntRun> {
    let hosts = new_hosts(Config::default())?;
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), SHUNT_PORT);
    let opts = opts.clone();
    let config = |host: &testhosts::Host| {
        let mut cfg = crate::rr::shunt_config(host, &opts.shard);
        cfg.tcp.congestion_control = flow.cc;
        cfg.tcp.pacing = flow.pacing;
        cfg.xsk.tx_checksum = flow.tx_checksum;
        cfg
    };
    hosts.a().run_in(|| -> Result<ShuntRun> {
        pin(0);
        let (server, received) = start_discard(&a, config(&a))?;
        let srv = &server;
        let run = b.run_in(|| -> Result<ShuntRun> {
            pin(1);
            let rx = ShuntReceiver::new(srv, &received)?;
            shunt_send(&opts, config(&b), dst, flow.loss_ppm, &rx)
        });
        // Whatever happened to the sender, no fault outlives the flow.
        let off = server.set_faults(Faults::NONE);
        drop(server.stop());
        let run = run??;
        off?;
        Ok(run)
    })?
}

/// Shunt discard server in A (core 0), kernel sender in B (core 1; its veth
/// computes full checksums, which Shunt checks).
pub fn kernel_to_shunt_bulk(opts: &BulkOpts, flow: KernelFlow) -> Result<ShuntRun> {
    let hosts = new_hosts(Config::default())?;
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), SHUNT_PORT);
    let opts = opts.clone();
    hosts.a().run_in(|| -> Result<ShuntRun> {
        pin(0);
        let (server, received) = start_discard(&a, crate::rr::shunt_config(&a, &opts.shard))?;
        let run = ShuntReceiver::new(&server, &received).and_then(|rx| {
            kernel_send_into(&opts, flow, dst, &rx, |send| {
                b.spawn_thread(move || {
                    pin(1);
                    send()
                })
            })
        });
        let off = server.set_faults(Faults::NONE);
        drop(server.stop());
        let run = run?;
        off?;
        Ok(run)
    })?
}
