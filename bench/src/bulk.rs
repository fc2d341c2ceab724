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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use control::Runtime;
use datapath::cc::Algorithm;
use datapath::io::xdp::{TxChecksumOffload, XskConfig};
use datapath::shard::{ShardConfig, ShardStats};
use datapath::tcp::{ConnInfo, ConnStats, TcpConfig};
use testhosts::Config;
use xdp_prog::Faults;
use xdp_prog::peer_fault::{self, Direction, PeerFaultCounters, PeerFaults};

use crate::apps::{BulkSender, Discard};
use crate::ratio;
use crate::rr::{accept_one, new_hosts};
use crate::{BenchError, Result, pin};

const KERNEL_PORT: u16 = 7200;
const SHUNT_PORT: u16 = 7201;
/// Payload of a full segment with the timestamp option at MTU 1500.
pub const MSS: f64 = 1448.0;
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct BulkOpts {
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
    fn read() -> KernelTcpCounters {
        let snmp = proc_net_fields("snmp", "Tcp:", &["OutSegs", "RetransSegs"]);
        let ext = proc_net_fields("netstat", "TcpExt:", &["TCPTimeouts", "TCPLossProbes"]);
        KernelTcpCounters {
            out_segs: snmp[0],
            retrans_segs: snmp[1],
            timeouts: ext[0],
            loss_probes: ext[1],
        }
    }

    fn since(&self, earlier: &KernelTcpCounters) -> KernelTcpCounters {
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

/// What the two kernel ends learn about their flow.
#[derive(Debug, Default)]
struct FlowSide {
    cc: String,
    tcp: KernelTcpCounters,
    faults: Option<PeerFaultCounters>,
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
    let hard_deadline = Instant::now() + opts.warmup + opts.window + GRACE;
    let side = Arc::new(Mutex::new(FlowSide::default()));
    let (sender_side, receiver_side) = (side.clone(), side.clone());
    let rate = crate::raw::measure(
        &hosts,
        opts.warmup,
        opts.window,
        move |_a, sent: &AtomicU64, stop| {
            let sock = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            if let Some(cc) = flow.cc {
                let name = kernel_cc_name(cc);
                sock.set_tcp_congestion(name.as_bytes())
                    .map_err(|e| BenchError(format!("TCP_CONGESTION {name}: {e}")))?;
            }
            sock.connect_timeout(&dst.into(), Duration::from_secs(3))?;
            let cc = String::from_utf8_lossy(&sock.tcp_congestion()?)
                .trim_end_matches('\0')
                .to_string();
            let mut s: TcpStream = sock.into();
            s.set_write_timeout(Some(Duration::from_millis(50)))?;
            let tcp0 = KernelTcpCounters::read();
            let buf = vec![0x5au8; 64 * 1024];
            let mut result = Ok(());
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_deadline {
                match s.write(&buf) {
                    Ok(n) => {
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                }
            }
            let tcp = KernelTcpCounters::read().since(&tcp0);
            if let Ok(mut side) = sender_side.lock() {
                side.cc = cc;
                side.tcp = tcp;
            }
            result
        },
        move |b, received: &AtomicU64, stop, ready| {
            let l = TcpListener::bind(dst)?;
            ready();
            let Some(mut s) = accept_one(&l, stop, hard_deadline)? else {
                return Err(BenchError("the sender did not connect".into()));
            };
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            // Armed once the connection is up; B receives only the data
            // direction (its ACKs leave by its egress).
            let faults = if flow.loss_ppm > 0 {
                let f = PeerFaults::attach(b.ifindex(), Direction::Ingress)?;
                f.set(peer_fault::Faults {
                    drop_ppm: flow.loss_ppm,
                    port: KERNEL_PORT,
                    ..peer_fault::Faults::NONE
                })?;
                Some(f)
            } else {
                None
            };
            let mut buf = vec![0u8; 256 * 1024];
            let mut result = Ok(());
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_deadline {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => {
                        result = Err(e.into());
                        break;
                    }
                }
            }
            // Off and detached on this thread, inside the namespace where the
            // filter is, before the connection closes.
            if let Some(f) = faults {
                let counters = f.counters()?;
                f.set(peer_fault::Faults::NONE)?;
                drop(f);
                if let Ok(mut side) = receiver_side.lock() {
                    side.faults = Some(counters);
                }
            }
            result
        },
    )?;
    let side = std::mem::take(
        &mut *side
            .lock()
            .map_err(|_| BenchError("a kernel end panicked".into()))?,
    );
    Ok(KernelRun {
        gbps: rate.rx_pps * 8.0 / 1e9,
        cc: side.cc,
        faults: side.faults,
        tcp: side.tcp,
    })
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
        let mut cfg = config(&a);
        cfg.listen_ports = vec![SHUNT_PORT];
        let discard = Discard::new(SHUNT_PORT);
        let received = discard.received.clone();
        let mut discard = Some(discard);
        let server = Runtime::start(cfg, move |_| discard.take().expect("one queue"))?;
        let sh = server
            .handle(0)
            .ok_or_else(|| BenchError("the server runtime has no shard".into()))?
            .clone();
        if let Some(e) = sh.call(|app, _| app.error.clone())? {
            return Err(BenchError(e));
        }
        let srv = &server;
        let run = b.run_in(|| -> Result<ShuntRun> {
            pin(1);
            let sender = BulkSender::new(dst);
            let sent = sender.sent.clone();
            let mut sender = Some(sender);
            let client = Runtime::start(config(&b), move |_| sender.take().expect("one queue"))?;
            client.resolve_neighbor(a.addr())?;
            let tx_checksum = client
                .tx_checksums()
                .first()
                .map(|c| c.to_string())
                .unwrap_or_default();
            let ch = client
                .handle(0)
                .ok_or_else(|| BenchError("the client runtime has no shard".into()))?
                .clone();
            ch.call(|app, ctx| app.start(ctx))?;
            // Wait for the first bytes, then arm the loss, warm up and measure.
            let deadline = Instant::now() + GRACE;
            while received.load(Ordering::Relaxed) == 0 {
                if Instant::now() >= deadline {
                    let e = ch.call(|app, _| app.error.clone()).ok().flatten();
                    return Err(BenchError(format!(
                        "no byte arrived in {} s{}",
                        GRACE.as_secs(),
                        e.map(|e| format!(": {e}")).unwrap_or_default()
                    )));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            srv.set_faults(Faults {
                drop_ppm: flow.loss_ppm,
                ..Faults::NONE
            })?;
            std::thread::sleep(opts.warmup);
            let snap = || -> Result<_> {
                let conn = ch.call(|app, ctx| app.conn_stats(ctx))?;
                Ok((
                    Instant::now(),
                    received.load(Ordering::Relaxed),
                    sent.load(Ordering::Relaxed),
                    ch.stats(),
                    sh.stats(),
                    srv.steering().counters()?,
                    conn,
                ))
            };
            let (t0, r0, s0, c0, v0, x0, conn_start) = snap()?;
            std::thread::sleep(opts.window);
            let (t1, r1, s1, c1, v1, x1, conn_end) = snap()?;
            srv.set_faults(Faults::NONE)?;
            let (error, info) = ch.call(|app, ctx| (app.error.clone(), app.conn_info(ctx)))?;
            drop(client.stop());
            if let Some(e) = error {
                return Err(BenchError(e));
            }
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
                tx_checksum,
            })
        });
        // Whatever happened to the sender, no fault outlives the flow.
        let off = server.set_faults(Faults::NONE);
        drop(server.stop());
        let run = run??;
        off?;
        Ok(run)
    })?
}
