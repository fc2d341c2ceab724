//! `shunt-bench rr`: one connection, request/response, on a self-made veth
//! pair. The client (host B, core 1) sends `size` bytes, waits for the whole
//! `size`-byte response from the server (host A, core 0), and sends the next
//! request at once. Each round trip is timed with the monotonic clock; round
//! trips that start after the warm-up and before the end of the window are
//! counted and go into an hdrhistogram.
//!
//! Four figures on the same link: the kernel with blocking sockets, the kernel
//! with both ends spinning on non-blocking sockets, Shunt on both ends (one
//! runtime per host, busy-polling), and the ceiling: two AF_XDP sockets
//! ping-ponging one `size + 54`-byte frame through the steering program.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use control::{Runtime, RuntimeConfig};
use datapath::apps::EchoServer;
use datapath::io::xdp::{Xsk, XskConfig};
use datapath::shard::{ShardConfig, ShardStats};
use datapath::tcp::ConnStats;
use hdrhistogram::Histogram;
use testhosts::{Config, Host, TestHosts};
use xdp_prog::{AttachMode, Steering};

use crate::apps::{RrClient, Timed, new_histogram};
use crate::bulk::KernelTcpCounters;
use crate::cpu::{Work, thread_cpu};
use crate::ratio;
use crate::{BenchError, GRACE, Result, frames, pin};

const KERNEL_PORT: u16 = 7100;
const SHUNT_PORT: u16 = 7101;
const RAW_PORT: u16 = 7102;

/// How to run the figures.
#[derive(Debug, Clone)]
pub struct RrOpts {
    pub size: usize,
    /// Connections, each with `depth` requests in flight.
    pub conns: usize,
    pub depth: usize,
    pub warmup: Duration,
    pub window: Duration,
    /// Both Shunt shards poll like this.
    pub shard: ShardConfig,
}

/// One figure: round trips counted over a window, and their latencies.
#[derive(Debug, Clone)]
pub struct RrFigure {
    pub round_trips: u64,
    pub secs: f64,
    /// Nanoseconds.
    pub hist: Histogram<u64>,
    /// Both ends' CPU time over the whole connection and the round trips
    /// and bytes (requests and responses) of that span. The raw echo
    /// measures its client only.
    pub work: Work,
    /// Request bytes the client sent whose responses came back, and bytes the
    /// server echoed, over the whole connection: equal when nothing was lost
    /// or left half-way.
    pub client_bytes: u64,
    pub server_bytes: u64,
    /// Segments the client retransmitted over the whole run (a kernel
    /// client: its namespace's `RetransSegs`; Shunt: its connections').
    pub retransmits: u64,
    /// Why the run ended before its window did, if it did (the figure then
    /// covers what completed).
    pub stopped: Option<String>,
}

impl RrFigure {
    /// The figure of a Shunt client's timed operations of `size` bytes each
    /// way; CPU times, the server's bytes and retransmissions are the
    /// caller's to fill in. `stopped`: why the run ended early.
    pub fn from_timed(t: Timed, size: usize, stopped: Option<String>) -> Result<RrFigure> {
        let (Some(first), Some(last)) = (t.window_start, t.window_end) else {
            return Err(BenchError(format!(
                "nothing completed in the window{}",
                stopped.map(|s| format!(" ({s})")).unwrap_or_default()
            )));
        };
        let bytes = t.total * size as u64;
        Ok(RrFigure {
            round_trips: t.measured,
            secs: (last - first).as_secs_f64(),
            hist: t.hist,
            work: Work {
                requests: t.total,
                bytes: 2 * bytes,
                ..Work::default()
            },
            client_bytes: bytes,
            server_bytes: 0,
            retransmits: 0,
            stopped,
        })
    }

    pub fn rate(&self) -> f64 {
        self.round_trips as f64 / self.secs.max(1e-9)
    }
    /// The `q` quantile in microseconds.
    pub fn us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1e3
    }
    pub fn max_us(&self) -> f64 {
        self.hist.max() as f64 / 1e3
    }
}

/// What Shunt's shards did during the Shunt figure.
#[derive(Debug, Clone, Copy)]
pub struct ShuntDetail {
    /// Round trips over the whole run (warm-up included).
    pub total: u64,
    pub client: ShardStats,
    pub server: ShardStats,
    pub conn: Option<ConnStats>,
}

#[derive(Debug)]
pub struct RrReport {
    pub kernel_blocking: RrFigure,
    pub kernel_busy: RrFigure,
    pub shunt: RrFigure,
    pub shunt_detail: ShuntDetail,
    /// Kernel client (busy-polled) against a Shunt server: which side is slow.
    pub kernel_to_shunt: RrFigure,
    pub raw: RrFigure,
    pub lost_raw_frames: u64,
}

pub fn run(seconds: u64, size: usize, idle_turns: Option<u32>) -> Result<()> {
    let mut shard = ShardConfig::default();
    if let Some(n) = idle_turns {
        shard.idle_turns = n;
    }
    let opts = RrOpts {
        size,
        conns: 1,
        depth: 1,
        warmup: crate::raw::WARMUP,
        window: Duration::from_secs(seconds.max(1)),
        shard,
    };
    println!("{}", crate::raw::machine());
    let r = measure_all(&opts)?;
    print_report(&opts, &r);
    Ok(())
}

impl RrOpts {
    /// Refuses what no figure could run with.
    pub fn check(&self) -> Result<()> {
        if !(1..=1400).contains(&self.size) {
            return Err(BenchError(format!(
                "request size {} is outside 1..=1400 (one frame each way)",
                self.size
            )));
        }
        if !(1..=MAX_CONNS).contains(&self.conns) || !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(BenchError(format!(
                "{} connections with {} requests in flight each: connections must be 1..={MAX_CONNS}, requests in flight 1..={MAX_DEPTH}",
                self.conns, self.depth
            )));
        }
        Ok(())
    }
}

/// Connections and requests in flight per connection at most.
pub const MAX_CONNS: usize = 64;
pub const MAX_DEPTH: usize = 64;

/// Runs the four figures, each on fresh test hosts.
pub fn measure_all(opts: &RrOpts) -> Result<RrReport> {
    opts.check()?;
    let kernel_blocking = kernel_figure(opts, false)?;
    let kernel_busy = kernel_figure(opts, true)?;
    let (shunt, shunt_detail) = shunt_rr(&new_hosts(Config::default())?, opts)
        .map_err(|e| BenchError(format!("Shunt rr: {e}")))?;
    let kernel_to_shunt = kernel_to_shunt_figure(opts)?;
    let (raw, lost_raw_frames) = raw_rr(&new_hosts(Config::default())?, opts)
        .map_err(|e| BenchError(format!("raw AF_XDP echo: {e}")))?;
    Ok(RrReport {
        kernel_blocking,
        kernel_busy,
        shunt,
        shunt_detail,
        kernel_to_shunt,
        raw,
        lost_raw_frames,
    })
}

/// The kernel on both ends, blocking or busy-polled, on test hosts of its
/// own.
pub fn kernel_figure(opts: &RrOpts, busy: bool) -> Result<RrFigure> {
    opts.check()?;
    let how = if busy { "busy-polled" } else { "blocking" };
    kernel_rr(&new_hosts(Config::default())?, opts, busy)
        .map_err(|e| BenchError(format!("kernel rr ({how}): {e}")))
}

/// Shunt on both ends, on test hosts of its own.
pub fn shunt_figure(opts: &RrOpts) -> Result<RrFigure> {
    opts.check()?;
    shunt_rr(&new_hosts(Config::default())?, opts)
        .map(|(fig, _)| fig)
        .map_err(|e| BenchError(format!("Shunt rr: {e}")))
}

/// A busy-polled kernel client against a Shunt server, on test hosts of
/// its own.
pub fn kernel_to_shunt_figure(opts: &RrOpts) -> Result<RrFigure> {
    opts.check()?;
    kernel_client_shunt_server(&new_hosts(Config::default())?, opts)
        .map_err(|e| BenchError(format!("kernel client, Shunt server: {e}")))
}

pub(crate) fn new_hosts(config: Config) -> Result<TestHosts> {
    TestHosts::new(config).map_err(|e| BenchError(format!("creating test hosts (needs root): {e}")))
}

fn print_report(opts: &RrOpts, r: &RrReport) {
    println!(
        "veth pair, MTU 1500, one connection, {} B requests and {} B responses, {} s per figure after {} ms warm-up, server in host A on core 0, client in host B on core 1",
        opts.size,
        opts.size,
        opts.window.as_secs_f64(),
        opts.warmup.as_millis()
    );
    println!(
        "Shunt shards: spin {} idle turns, then block up to {} ms",
        opts.shard.idle_turns,
        opts.shard.max_block.as_millis()
    );
    println!();
    println!(
        "{:<38} | {:>10} | {:>8} {:>8} {:>8} {:>8} {:>8}",
        "", "rt/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us"
    );
    let row = |name: &str, f: &RrFigure| {
        println!(
            "{:<38} | {:>10.0} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            name,
            f.rate(),
            f.us(0.5),
            f.us(0.9),
            f.us(0.99),
            f.us(0.999),
            f.max_us()
        );
    };
    row("kernel <-> kernel, blocking, NODELAY", &r.kernel_blocking);
    row("kernel <-> kernel, busy-polled", &r.kernel_busy);
    row("Shunt <-> Shunt, busy-polled", &r.shunt);
    row("kernel client (busy) <-> Shunt server", &r.kernel_to_shunt);
    row(
        &format!("raw AF_XDP echo, {} B frames", opts.size + 54),
        &r.raw,
    );
    println!();
    println!(
        "Shunt / kernel busy-polled: {:.2}x round trips/s, {:.2}x p50, {:.2}x p99",
        ratio(r.shunt.rate(), r.kernel_busy.rate()),
        ratio(r.shunt.us(0.5), r.kernel_busy.us(0.5)),
        ratio(r.shunt.us(0.99), r.kernel_busy.us(0.99)),
    );
    println!(
        "Shunt / raw AF_XDP ceiling: {:.2}x round trips/s, {:.2}x p50",
        ratio(r.shunt.rate(), r.raw.rate()),
        ratio(r.shunt.us(0.5), r.raw.us(0.5)),
    );
    let d = &r.shunt_detail;
    let per = |x: u64| x as f64 / d.total.max(1) as f64;
    println!(
        "Shunt per round trip (whole run, {} round trips): client {:.2} frames out, {:.2} in, {:.1} turns, {:.3} blocks; server {:.2} frames out, {:.2} in, {:.1} turns",
        d.total,
        per(d.client.tx_frames),
        per(d.client.rx_frames),
        per(d.client.turns),
        per(d.client.blocks),
        per(d.server.tx_frames),
        per(d.server.rx_frames),
        per(d.server.turns),
    );
    if let Some(c) = &d.conn {
        println!(
            "Shunt client connection: {} segments out, {} in, {} retransmits, {} RTOs",
            c.segs_out, c.segs_in, c.retransmits, c.rtos
        );
    }
    if r.lost_raw_frames > 0 {
        println!(
            "raw echo: {} frames lost and resent after 20 ms",
            r.lost_raw_frames
        );
    }
    println!(
        "(kernel busy-polled and Shunt spin on both cores; frames carry {} B of TCP/IP/Ethernet headers for the kernel and Shunt, timestamps included)",
        66
    );
}

/// Times round trips of `size`-byte requests until `stop_at`, recording
/// those that start at or after `from`, and the calling thread's CPU time
/// over all of them. `rt` does one round trip; it returns false when the
/// run cannot go on (the figure then covers what completed and says so in
/// `stopped`; see [`whole`]).
pub(crate) fn client_loop(
    from: Instant,
    stop_at: Instant,
    size: usize,
    mut rt: impl FnMut() -> std::io::Result<bool>,
) -> Result<RrFigure> {
    let mut hist = new_histogram();
    let (mut n, mut first, mut last) = (0u64, None, None);
    let (cpu0, wall0, mut total) = (thread_cpu(), Instant::now(), 0u64);
    let tcp0 = KernelTcpCounters::read();
    let mut stopped = None;
    // One clock read per round trip, as Shunt's client: a response's end is
    // the next request's start.
    let mut t0 = Instant::now();
    loop {
        if t0 >= stop_at {
            break;
        }
        if !rt()? {
            stopped = Some("the server closed the connection".to_string());
            break;
        }
        let t1 = Instant::now();
        total += 1;
        if t0 >= from {
            let _ = hist.record(((t1 - t0).as_nanos() as u64).max(1));
            n += 1;
            first.get_or_insert(t0);
            last = Some(t1);
        }
        t0 = t1;
    }
    let (Some(first), Some(last)) = (first, last) else {
        return Err(BenchError(format!(
            "no round trip completed in the window{}",
            stopped.map(|s| format!(" ({s})")).unwrap_or_default()
        )));
    };
    let bytes = total * size as u64;
    Ok(RrFigure {
        round_trips: n,
        secs: (last - first).as_secs_f64(),
        hist,
        work: Work {
            client_cpu: thread_cpu() - cpu0,
            wall: wall0.elapsed(),
            requests: total,
            bytes: 2 * bytes,
            ..Work::default()
        },
        client_bytes: bytes,
        server_bytes: 0,
        retransmits: KernelTcpCounters::read().since(&tcp0).retrans_segs,
        stopped,
    })
}

/// The figure of a run that had to go on to the end of its window.
fn whole(fig: RrFigure) -> Result<RrFigure> {
    match &fig.stopped {
        Some(why) => Err(BenchError(why.clone())),
        None => Ok(fig),
    }
}

/// Reads exactly `buf.len()` bytes; false on end of stream. Spins on
/// `WouldBlock` (non-blocking sockets); gives up at `deadline`.
pub(crate) fn read_full(
    s: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if Instant::now() >= deadline {
                    return Err(std::io::Error::new(ErrorKind::TimedOut, "no response"));
                }
                std::hint::spin_loop();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

pub(crate) fn write_full(s: &mut TcpStream, buf: &[u8], deadline: Instant) -> std::io::Result<()> {
    let mut off = 0;
    while off < buf.len() {
        match s.write(&buf[off..]) {
            Ok(n) => off += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                if Instant::now() >= deadline {
                    return Err(std::io::Error::new(ErrorKind::TimedOut, "send stuck"));
                }
                std::hint::spin_loop();
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Accepts one connection on a non-blocking listener, giving up at `deadline`
/// or when `stop` is set.
pub(crate) fn accept_one(
    l: &TcpListener,
    stop: &AtomicBool,
    deadline: Instant,
) -> Result<Option<TcpStream>> {
    l.set_nonblocking(true)?;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(Some(s));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A kernel client's part (on a thread in B): `opts.conns` connections to
/// `dst`, with `opts.depth` requests in flight on each; `busy`: spinning on
/// non-blocking sockets. One connection with one request at a time is a
/// plain loop of `write` and `read`, blocking or spinning.
pub(crate) fn kernel_client(
    dst: SocketAddrV4,
    opts: &RrOpts,
    busy: bool,
    deadline: Instant,
) -> Result<RrFigure> {
    let mut socks = (0..opts.conns)
        .map(|_| TcpStream::connect_timeout(&dst.into(), Duration::from_secs(3)))
        .collect::<std::io::Result<Vec<_>>>()?;
    if opts.conns > 1 || opts.depth > 1 {
        let timed = Timed::new(opts.warmup, opts.window);
        return crate::pipeline::client(&mut socks, opts.size, opts.depth, timed, busy, deadline);
    }
    let Some(mut s) = socks.pop() else {
        return Err(BenchError("no connection".into()));
    };
    s.set_nodelay(true)?;
    if busy {
        s.set_nonblocking(true)?;
    } else {
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
    }
    let req = vec![0x42u8; opts.size];
    let mut resp = vec![0u8; opts.size];
    let start = Instant::now();
    let (from, stop_at) = (start + opts.warmup, start + opts.warmup + opts.window);
    whole(client_loop(from, stop_at, opts.size, || {
        write_full(&mut s, &req, deadline)?;
        read_full(&mut s, &mut resp, deadline)
    })?)
}

/// Kernel client in B, kernel echo server in A, TCP_NODELAY on both;
/// `busy`: both sockets non-blocking and spinning.
fn kernel_rr(hosts: &TestHosts, opts: &RrOpts, busy: bool) -> Result<RrFigure> {
    let dst = SocketAddrV4::new(hosts.a().addr(), KERNEL_PORT);
    let hard_deadline = Instant::now() + opts.warmup + opts.window + GRACE;
    let (size, conns) = (opts.size, opts.conns);
    let server = move |stop: &AtomicBool, ready: &dyn Fn()| -> Result<(Duration, u64)> {
        let l = TcpListener::bind(dst)?;
        ready();
        let mut socks = Vec::with_capacity(conns);
        while socks.len() < conns {
            let Some(s) = accept_one(&l, stop, hard_deadline)? else {
                return Ok((Duration::ZERO, 0));
            };
            socks.push(s);
        }
        if conns > 1 {
            return crate::pipeline::echo_server(socks, busy, hard_deadline);
        }
        let Some(mut s) = socks.pop() else {
            return Ok((Duration::ZERO, 0));
        };
        let cpu0 = thread_cpu();
        s.set_nodelay(true)?;
        if busy {
            s.set_nonblocking(true)?;
        } else {
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
        }
        let mut buf = vec![0u8; size];
        let mut echoed = 0u64;
        while read_full(&mut s, &mut buf, hard_deadline)? {
            write_full(&mut s, &buf, hard_deadline)?;
            echoed += size as u64;
        }
        Ok((thread_cpu() - cpu0, echoed))
    };
    kernel_pair(hosts, server, || {
        kernel_client(dst, opts, busy, hard_deadline)
    })
}

/// Runs a kernel server in A (core 0) and, once it is ready, a kernel
/// client in B (core 1); then stops the server and puts its CPU time and
/// the bytes it echoed into the client's figure.
pub(crate) fn kernel_pair(
    hosts: &TestHosts,
    server: impl FnOnce(&AtomicBool, &dyn Fn()) -> Result<(Duration, u64)> + Send + 'static,
    client: impl FnOnce() -> Result<RrFigure> + Send,
) -> Result<RrFigure> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let stop = stop.clone();
        hosts.a().spawn_thread(move || {
            pin(0);
            server(&stop, &move || {
                let _ = ready_tx.send(());
            })
        })
    };
    let fig = match ready_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(()) => hosts
            .b()
            .run_in(|| {
                pin(1);
                client()
            })
            .map_err(BenchError::from)
            .and_then(|r| r),
        Err(_) => Err(BenchError("the server did not start".into())),
    };
    stop.store(true, Ordering::Relaxed);
    let served = server
        .join()
        .map_err(|_| BenchError("the server panicked".into()))?;
    let mut fig = fig?;
    (fig.work.server_cpu, fig.server_bytes) = served??;
    Ok(fig)
}

pub(crate) fn shunt_config(host: &Host, shard: &ShardConfig) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::new(host.ifname(), host.addr(), 24);
    cfg.shard = shard.clone();
    // The caller pins the thread that starts the runtime; the shard inherits
    // its CPU set (the runtime would pin both hosts' shard 0 to core 0).
    cfg.pin_cores = false;
    cfg
}

/// Starts a Shunt client runtime (from a thread in its host), learns the
/// server's MAC, and returns it with its first shard's handle.
pub(crate) fn start_client<A: datapath::shard::App + 'static>(
    cfg: RuntimeConfig,
    server: std::net::Ipv4Addr,
    make_app: impl FnMut(u32) -> A,
) -> Result<(Runtime<A>, datapath::shard::ShardHandle<A>)> {
    let client = Runtime::start(cfg, make_app)?;
    client.resolve_neighbor(server)?;
    let h = client
        .handle(0)
        .ok_or_else(|| BenchError("the client runtime has no shard".into()))?
        .clone();
    Ok((client, h))
}

/// What a Shunt request/response client run leaves: the client, its
/// shard's counters, and the client's and server's CPU time and the wall
/// time of the run.
pub(crate) type ShuntClientRun<A = RrClient> = (A, ShardStats, (Duration, Duration, Duration));

/// Runs a Shunt request/response client started with `cfg` (on the calling
/// thread's host) against `dst`; `server_cpu` reads the server's CPU time.
pub(crate) fn shunt_rr_client(
    cfg: RuntimeConfig,
    dst: SocketAddrV4,
    opts: &RrOpts,
    server_cpu: &dyn Fn() -> Result<Duration>,
) -> Result<ShuntClientRun> {
    let (size, warmup, window) = (opts.size, opts.warmup, opts.window);
    let (conns, depth) = (opts.conns, opts.depth);
    let app = move |_| RrClient::new(dst, size, conns, depth, warmup, window);
    let limit = warmup + window + GRACE;
    run_shunt_client(
        cfg,
        dst,
        app,
        (RrClient::start, |a| a.done, limit),
        server_cpu,
    )
}

/// How a Shunt client application runs: what starts it on its shard, when
/// it is done, and how long to wait for that at most.
pub(crate) type ClientRun<A> = (
    fn(&mut A, &mut datapath::shard::Ctx<'_>),
    fn(&A) -> bool,
    Duration,
);

/// Runs the Shunt client application `make` builds (on the calling
/// thread's host, started with `cfg`, toward `dst`): `start` on its shard,
/// then waits (at most `limit`) until `done`; returns it with its shard's
/// counters, its and the server's CPU time (`server_cpu`) and the wall time.
pub(crate) fn run_shunt_client<A: datapath::shard::App + 'static>(
    cfg: RuntimeConfig,
    dst: SocketAddrV4,
    make: impl FnMut(u32) -> A,
    (start, done, limit): ClientRun<A>,
    server_cpu: &dyn Fn() -> Result<Duration>,
) -> Result<ShuntClientRun<A>> {
    let (client, h) = start_client(cfg, *dst.ip(), make)?;
    let (client_cpu0, server_cpu0) = (h.call(|_, _| thread_cpu())?, server_cpu()?);
    let wall0 = Instant::now();
    h.call(start)?;
    wait_until_done(&h, limit, done)?;
    let client_cpu = h.call(|_, _| thread_cpu())? - client_cpu0;
    let server_cpu = server_cpu()?.saturating_sub(server_cpu0);
    let wall = wall0.elapsed();
    let stats = h.stats();
    let app = client
        .stop_by_shard()
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| BenchError("the client shard panicked".into()))?;
    Ok((app, stats, (client_cpu, server_cpu, wall)))
}

/// The figure of a Shunt request/response client run (the server's bytes
/// are the caller's to fill in).
pub(crate) fn shunt_rr_figure(
    app: RrClient,
    size: usize,
    (client_cpu, server_cpu, wall): (Duration, Duration, Duration),
) -> Result<RrFigure> {
    if let Some(e) = app.error {
        return Err(BenchError(e));
    }
    let mut fig = RrFigure::from_timed(app.timed, size, None)?;
    fig.work.client_cpu = client_cpu;
    fig.work.server_cpu = server_cpu;
    fig.work.wall = wall;
    fig.retransmits = app.retransmits;
    Ok(fig)
}

/// Shunt echo server in A, Shunt request/response client in B.
fn shunt_rr(hosts: &TestHosts, opts: &RrOpts) -> Result<(RrFigure, ShuntDetail)> {
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), SHUNT_PORT);
    let opts = opts.clone();
    hosts.a().run_in(move || -> Result<_> {
        pin(0);
        let mut cfg = shunt_config(&a, &opts.shard);
        cfg.listen_ports = vec![SHUNT_PORT];
        let server = Runtime::start(cfg, |_| EchoServer::new(SHUNT_PORT, 8))?;
        let server_shard = server
            .handle(0)
            .ok_or_else(|| BenchError("the server runtime has no shard".into()))?;
        let client_side = b.run_in(|| -> Result<_> {
            pin(1);
            let sh = server_shard.clone();
            let server_cpu = move || -> Result<Duration> { Ok(sh.call(|_, _| thread_cpu())?) };
            shunt_rr_client(shunt_config(&b, &opts.shard), dst, &opts, &server_cpu)
        })?;
        let server_stats = server.shard_stats()[0];
        let echoed = server.stop().iter().map(|e| e.echoed).sum();
        let (app, client_stats, cpu) = client_side?;
        let (total, conn) = (app.timed.total, app.conn_stats);
        let mut fig = shunt_rr_figure(app, opts.size, cpu)?;
        fig.server_bytes = echoed;
        Ok((
            fig,
            ShuntDetail {
                total,
                client: client_stats,
                server: server_stats,
                conn,
            },
        ))
    })?
}

/// Waits (at most `limit`) for `done` to hold of the application on the
/// shard behind `h`, or for the shard to stop.
pub(crate) fn wait_until_done<A: datapath::shard::App + 'static>(
    h: &datapath::shard::ShardHandle<A>,
    limit: Duration,
    done: fn(&A) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        match h.call(move |app, _| done(app)) {
            Ok(true) | Err(_) => return Ok(()),
            Ok(false) if Instant::now() < deadline => {}
            Ok(false) => {
                return Err(BenchError(format!(
                    "no end after {} s (client shard: {:?})",
                    limit.as_secs(),
                    h.stats()
                )));
            }
        }
    }
}

/// The ceiling: A sends one `size + 54`-byte frame from its AF_XDP socket, B's
/// steering program hands it to B's socket, B answers with a frame of the same
/// size, A's steering program hands that to A's socket; repeat. Both spin.
/// A frame lost (none should be) is resent after 20 ms and counted.
fn raw_rr(hosts: &TestHosts, opts: &RrOpts) -> Result<(RrFigure, u64)> {
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let len = opts.size + 54;
    let ping = frames::tcp_frame(a.mac(), b.mac(), a.addr(), b.addr(), 40000, RAW_PORT, len);
    let pong = frames::tcp_frame(b.mac(), a.mac(), b.addr(), a.addr(), 40000, RAW_PORT, len);
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let responder = {
        let stop = stop.clone();
        let b = b.clone();
        b.clone().spawn_thread(move || -> Result<()> {
            pin(1);
            let steer = Steering::attach(b.ifindex(), AttachMode::Auto)?;
            let mut xsk = Xsk::bind(b.ifindex(), 0, &XskConfig::default())?;
            steer.bind_queue(0, xsk.fd())?;
            steer.own(b.addr(), RAW_PORT)?;
            let _ = ready_tx.send(());
            while !stop.load(Ordering::Relaxed) {
                let n = xsk.recv(64, |_| {});
                if n == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                for _ in 0..n {
                    xsk.send_copy(&pong);
                }
                xsk.kick();
            }
            Ok(())
        })
    };
    let fig = match ready_rx.recv_timeout(Duration::from_secs(5)) {
        Err(_) => Err(BenchError("the responder did not start".into())),
        Ok(()) => {
            let (warmup, window) = (opts.warmup, opts.window);
            let a2 = a.clone();
            a.run_in(move || -> Result<(RrFigure, u64)> {
                pin(0);
                let steer = Steering::attach(a2.ifindex(), AttachMode::Auto)?;
                let mut xsk = Xsk::bind(a2.ifindex(), 0, &XskConfig::default())?;
                steer.bind_queue(0, xsk.fd())?;
                steer.own(a2.addr(), RAW_PORT)?;
                let mut lost = 0u64;
                let start = Instant::now();
                let fig = client_loop(start + warmup, start + warmup + window, len, || {
                    loop {
                        if !xsk.send_copy(&ping) {
                            return Err(std::io::Error::other("no free TX frame"));
                        }
                        xsk.kick();
                        let sent = Instant::now();
                        loop {
                            if xsk.recv(1, |_| {}) > 0 {
                                return Ok(true);
                            }
                            if sent.elapsed() > Duration::from_millis(20) {
                                lost += 1;
                                if lost > 100 {
                                    return Err(std::io::Error::other("more than 100 frames lost"));
                                }
                                break;
                            }
                            std::hint::spin_loop();
                        }
                    }
                })?;
                Ok((whole(fig)?, lost))
            })
            .map_err(BenchError::from)
            .and_then(|r| r)
        }
    };
    stop.store(true, Ordering::Relaxed);
    let r = responder
        .join()
        .map_err(|_| BenchError("the responder panicked".into()))?;
    let fig = fig?;
    r??;
    Ok(fig)
}

/// Kernel busy-polling client in B against a Shunt echo server in A: tells
/// whether a slow Shunt round trip comes from the server side.
fn kernel_client_shunt_server(hosts: &TestHosts, opts: &RrOpts) -> Result<RrFigure> {
    let dst = SocketAddrV4::new(hosts.a().addr(), SHUNT_PORT);
    let mut cfg = shunt_config(hosts.a(), &opts.shard);
    cfg.listen_ports = vec![SHUNT_PORT];
    against_shunt_server(hosts, cfg, (SHUNT_PORT, 8), |_, b| {
        b.run_in(|| -> Result<RrFigure> {
            pin(1);
            let hard_deadline = Instant::now() + opts.warmup + opts.window + GRACE;
            kernel_client(dst, opts, true, hard_deadline)
        })?
    })
}

/// Runs `client` (given hosts A and B) while a Shunt echo server started
/// with `cfg` runs in A on core 0, on `port` (one of `cfg.listen_ports`)
/// with backlog `backlog`; returns the client's figure with the server
/// shard's CPU time over the run and the bytes it echoed.
pub(crate) fn against_shunt_server(
    hosts: &TestHosts,
    cfg: RuntimeConfig,
    (port, backlog): (u16, usize),
    client: impl FnOnce(&Host, &Host) -> Result<RrFigure> + Send,
) -> Result<RrFigure> {
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    hosts.a().run_in(move || -> Result<RrFigure> {
        pin(0);
        let server = Runtime::start(cfg, |_| EchoServer::new(port, backlog))?;
        let sh = server
            .handle(0)
            .ok_or_else(|| BenchError("the server runtime has no shard".into()))?;
        let cpu0 = sh.call(|_, _| thread_cpu())?;
        let fig = client(&a, &b);
        let cpu = sh.call(|_, _| thread_cpu())? - cpu0;
        let echoed = server.stop().iter().map(|e| e.echoed).sum();
        let mut fig = fig?;
        fig.work.server_cpu = cpu;
        fig.server_bytes = echoed;
        Ok(fig)
    })?
}
