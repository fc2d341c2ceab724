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

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use control::Runtime;
use datapath::shard::{ShardConfig, ShardStats};
use datapath::tcp::ConnStats;
use testhosts::{Config, TestHosts};

use crate::apps::{BulkSender, Discard};
use crate::rr::accept_one;
use crate::{BenchError, Result, pin};

const KERNEL_PORT: u16 = 7200;
const SHUNT_PORT: u16 = 7201;
/// Payload of a full segment with the timestamp option at MTU 1500.
const MSS: f64 = 1448.0;
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct BulkOpts {
    pub warmup: Duration,
    pub window: Duration,
    pub shard: ShardConfig,
}

#[derive(Debug)]
pub struct BulkReport {
    pub kernel_gbps: f64,
    pub shunt_gbps: f64,
    /// Bytes the Shunt sender's buffer took per second, Gbit/s.
    pub shunt_sent_gbps: f64,
    pub shunt_client: ShardStats,
    pub shunt_server: ShardStats,
    pub shunt_secs: f64,
    pub shunt_conn: Option<ConnStats>,
    pub raw_pps: f64,
}

impl BulkReport {
    pub fn ceiling_gbps(&self) -> f64 {
        self.raw_pps * MSS * 8.0 / 1e9
    }
}

pub fn run(seconds: u64) -> Result<()> {
    let opts = BulkOpts {
        warmup: crate::raw::WARMUP,
        window: Duration::from_secs(seconds.max(1)),
        shard: ShardConfig::default(),
    };
    println!("{}", crate::raw::machine());
    let r = measure_all(&opts)?;
    print_report(&opts, &r);
    Ok(())
}

pub fn measure_all(opts: &BulkOpts) -> Result<BulkReport> {
    let offload_hosts = TestHosts::new(Config {
        tx_checksum_off: vec![],
        ..Config::default()
    })
    .map_err(|e| BenchError(format!("creating test hosts (needs root): {e}")))?;
    let kernel =
        kernel_bulk(&offload_hosts, opts).map_err(|e| BenchError(format!("kernel bulk: {e}")))?;
    let raw = crate::raw::xsk_one_way_rate(&offload_hosts, 1514, opts.warmup, opts.window)
        .map_err(|e| BenchError(format!("raw AF_XDP one-way rate: {e}")))?;
    drop(offload_hosts);
    let hosts = TestHosts::new(Config::default())
        .map_err(|e| BenchError(format!("creating test hosts (needs root): {e}")))?;
    let mut r = shunt_bulk(&hosts, opts).map_err(|e| BenchError(format!("Shunt bulk: {e}")))?;
    r.kernel_gbps = kernel.rx_pps * 8.0 / 1e9;
    r.raw_pps = raw.rx_pps;
    Ok(r)
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
        "Shunt -> Shunt, busy-polled (goodput at the receiver)", r.shunt_gbps
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
    let ratio = |a: f64, b: f64| a / b.max(1e-9);
    println!(
        "Shunt / kernel: {:.2}x;  Shunt / raw AF_XDP ceiling: {:.2}x",
        ratio(r.shunt_gbps, r.kernel_gbps),
        ratio(r.shunt_gbps, r.ceiling_gbps())
    );
    let secs = r.shunt_secs.max(1e-9);
    let (c, s) = (&r.shunt_client, &r.shunt_server);
    println!(
        "Shunt sender: {:.3} Mpps out, {:.3} Mpps in (ACKs), {:.1} frames out per turn, {:.2} Gbit/s into the send buffer",
        c.tx_frames as f64 / secs / 1e6,
        c.rx_frames as f64 / secs / 1e6,
        c.tx_frames as f64 / c.turns.max(1) as f64,
        r.shunt_sent_gbps
    );
    println!(
        "Shunt receiver: {:.3} Mpps in, {:.3} Mpps out (ACKs, {:.2} frames in per ACK), {:.1} frames in per turn",
        s.rx_frames as f64 / secs / 1e6,
        s.tx_frames as f64 / secs / 1e6,
        s.rx_frames as f64 / s.tx_frames.max(1) as f64,
        s.rx_frames as f64 / s.turns.max(1) as f64,
    );
    if let Some(cs) = &r.shunt_conn {
        println!(
            "Shunt sender connection: {} segments out, {} retransmits ({} fast, {} RTOs), {} dup ACKs",
            cs.segs_out, cs.retransmits, cs.fast_retransmits, cs.rtos, cs.dup_acks
        );
    }
}

/// Kernel sender in A, kernel receiver in B (the symmetric offloads make the
/// direction irrelevant), through `raw`'s measurement harness.
fn kernel_bulk(hosts: &TestHosts, opts: &BulkOpts) -> Result<crate::raw::Rate> {
    let dst = SocketAddrV4::new(hosts.b().addr(), KERNEL_PORT);
    let hard_deadline = Instant::now() + opts.warmup + opts.window + GRACE;
    crate::raw::measure(
        hosts,
        opts.warmup,
        opts.window,
        move |_a, sent: &AtomicU64, stop| {
            let mut s = TcpStream::connect_timeout(&dst.into(), Duration::from_secs(3))?;
            s.set_write_timeout(Some(Duration::from_millis(50)))?;
            let buf = vec![0x5au8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_deadline {
                match s.write(&buf) {
                    Ok(n) => {
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        },
        move |_b, received: &AtomicU64, stop, ready| {
            let l = TcpListener::bind(dst)?;
            ready();
            let Some(mut s) = accept_one(&l, stop, hard_deadline)? else {
                return Err(BenchError("the sender did not connect".into()));
            };
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            let mut buf = vec![0u8; 256 * 1024];
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_deadline {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        },
    )
}

/// Shunt discard server in A (core 0), Shunt bulk sender in B (core 1).
fn shunt_bulk(hosts: &TestHosts, opts: &BulkOpts) -> Result<BulkReport> {
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), SHUNT_PORT);
    let opts = opts.clone();
    hosts.a().run_in(move || -> Result<BulkReport> {
        pin(0);
        let mut cfg = crate::rr::shunt_config(&a, &opts.shard);
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
        b.run_in(|| -> Result<BulkReport> {
            pin(1);
            let sender = BulkSender::new(dst);
            let sent = sender.sent.clone();
            let mut sender = Some(sender);
            let client = Runtime::start(crate::rr::shunt_config(&b, &opts.shard), move |_| {
                sender.take().expect("one queue")
            })?;
            client.resolve_neighbor(a.addr())?;
            let ch = client
                .handle(0)
                .ok_or_else(|| BenchError("the client runtime has no shard".into()))?
                .clone();
            ch.call(|app, ctx| app.start(ctx))?;
            // Wait for the first bytes, then warm up and measure.
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
            std::thread::sleep(opts.warmup);
            let snap = || {
                (
                    Instant::now(),
                    received.load(Ordering::Relaxed),
                    sent.load(Ordering::Relaxed),
                    ch.stats(),
                    sh.stats(),
                )
            };
            let (t0, r0, s0, c0, v0) = snap();
            std::thread::sleep(opts.window);
            let (t1, r1, s1, c1, v1) = snap();
            let (error, conn) = ch.call(|app, ctx| (app.error.clone(), app.conn_stats(ctx)))?;
            drop(client.stop());
            if let Some(e) = error {
                return Err(BenchError(e));
            }
            let secs = (t1 - t0).as_secs_f64();
            Ok(BulkReport {
                kernel_gbps: 0.0,
                shunt_gbps: (r1 - r0) as f64 * 8.0 / secs / 1e9,
                shunt_sent_gbps: (s1 - s0) as f64 * 8.0 / secs / 1e9,
                shunt_client: delta(c1, c0),
                shunt_server: delta(v1, v0),
                shunt_secs: secs,
                shunt_conn: conn,
                raw_pps: 0.0,
            })
        })?
    })?
}

fn delta(b: ShardStats, a: ShardStats) -> ShardStats {
    b.since(&a)
}
