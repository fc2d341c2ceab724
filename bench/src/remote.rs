//! Real-host mode of `shunt-bench compare`: `shunt-bench serve` on the far
//! host runs every server the figures need, on fixed ports; `compare --iface
//! --peer` runs the clients here, each figure against the server it needs,
//! and reads the server's bytes and CPU time through a control connection.
//!
//! Ports (TCP, on the far host's address):
//! - 7090: control (one line `stats` in, one line of JSON out: per server,
//!   bytes read or echoed, CPU seconds, connections open);
//! - kernel: 7100 echo with blocking sockets, 7110 echo with busy-polled
//!   sockets (request/response), 7200 discard (bulk), 7300 echo serving one
//!   connection at a time (connection rate);
//! - Shunt (a runtime on the interface): 7101 echo (request/response and
//!   connection rate), 7201 discard (bulk).
//!
//! The loss workload needs fault injection at the receiver, on the far
//! host: real-host mode leaves it out.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use control::{Runtime, RuntimeConfig, parse_cidr};
use datapath::apps::EchoServer;
use datapath::endpoint::EndpointEvent;
use datapath::shard::{App, Ctx, ShardConfig};
use serde_json::{Value, json};

use crate::apps::Discard;
use crate::bulk::{self, KernelFlow, Receiver};
use crate::compare::{CompareOpts, Figure, Planned, Workload, item};
use crate::connrate;
use crate::cpu::thread_cpu;
use crate::rr::{self, RrFigure};
use crate::{BenchError, Result};

pub const CONTROL_PORT: u16 = 7090;
pub const KERNEL_ECHO_PORT: u16 = 7100;
pub const KERNEL_ECHO_BUSY_PORT: u16 = 7110;
pub const KERNEL_DISCARD_PORT: u16 = 7200;
pub const KERNEL_CONN_PORT: u16 = 7300;
pub const SHUNT_ECHO_PORT: u16 = 7101;
pub const SHUNT_DISCARD_PORT: u16 = 7201;

/// Kernel connections a server holds at once at most.
const MAX_OPEN: u64 = 256;
/// Longest a server keeps one connection.
const CONN_LIMIT: Duration = Duration::from_secs(3600);

/// An interface and the IPv4 address Shunt uses on it (the kernel's).
#[derive(Debug, Clone)]
pub struct Iface {
    pub name: String,
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

fn ip(args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| BenchError(format!("running ip: {e}")))?;
    if !out.status.success() {
        return Err(BenchError(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

impl Iface {
    /// `name` with `addr` (`A.B.C.D/len`), or with its first IPv4 address.
    pub fn resolve(name: &str, addr: Option<&str>) -> Result<Iface> {
        ip(&["-o", "link", "show", "dev", name])
            .map_err(|e| BenchError(format!("interface {name}: {e}")))?;
        let (addr, prefix_len) = match addr {
            Some(a) => parse_cidr(a)
                .ok_or_else(|| BenchError(format!("--addr {a}: expected A.B.C.D/len")))?,
            None => ip(&["-4", "-o", "addr", "show", "dev", name])?
                .split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .and_then(parse_cidr)
                .ok_or_else(|| {
                    BenchError(format!(
                        "interface {name} has no IPv4 address; give one with --addr"
                    ))
                })?,
        };
        Ok(Iface {
            name: name.to_string(),
            addr,
            prefix_len,
        })
    }

    /// The interface's MTU and queue count (`ip -d link`).
    pub fn mtu_queues(&self) -> (Option<u32>, Option<u32>) {
        let text = ip(&["-d", "-o", "link", "show", "dev", &self.name]).unwrap_or_default();
        let after = |key: &str| {
            let mut words = text.split_whitespace();
            words.find(|w| *w == key)?;
            words.next()?.parse().ok()
        };
        (after("mtu"), after("numrxqueues"))
    }

    pub fn runtime_config(&self, shard: &ShardConfig, first_core: usize) -> RuntimeConfig {
        let mut cfg = RuntimeConfig::new(&self.name, self.addr, self.prefix_len);
        // One shard per queue: a NIC spreads flows over its queues, and the
        // runtime hands each frame to the shard that owns its connection.
        let (mtu, queues) = self.mtu_queues();
        if let Some(mtu) = mtu {
            cfg.mtu = mtu as usize;
        }
        cfg.queues = queues.unwrap_or(1).clamp(1, xdp_prog::MAX_QUEUES);
        cfg.shard = shard.clone();
        cfg.first_core = first_core;
        cfg
    }
}

/// A kernel server's counters.
#[derive(Debug, Default)]
struct Counters {
    bytes: AtomicU64,
    cpu_ns: AtomicU64,
    open: AtomicU64,
}

impl Counters {
    fn json(&self) -> Value {
        json!({
            "bytes": self.bytes.load(Ordering::Relaxed),
            "cpu_s": self.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
            "open": self.open.load(Ordering::Relaxed),
        })
    }
    fn add_cpu(&self, d: Duration) {
        self.cpu_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// A listener whose `accept` gives up every 50 ms, so that `stop` is seen.
fn listen(addr: Ipv4Addr, port: u16) -> Result<TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddrV4::new(addr, port).into())
        .map_err(|e| BenchError(format!("binding port {port}: {e}")))?;
    s.listen(128)?;
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    Ok(s.into())
}

/// Serves one kernel connection, counting into the server's counters.
type ServeConn = fn(TcpStream, &Counters) -> Result<()>;

/// Accepts until `stop`, handing each connection to `serve` (on this
/// thread when `sequential`, else on a thread of its own).
fn accept_loop(
    l: TcpListener,
    c: Arc<Counters>,
    stop: Arc<AtomicBool>,
    sequential: bool,
    serve: ServeConn,
) {
    while !stop.load(Ordering::Relaxed) {
        let s = match l.accept() {
            Ok((s, _)) => s,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if c.open.load(Ordering::Relaxed) >= MAX_OPEN {
            continue;
        }
        c.open.fetch_add(1, Ordering::Relaxed);
        let c = c.clone();
        let run = move || {
            let _ = s.set_nodelay(true);
            let _ = serve(s, &c);
            c.open.fetch_sub(1, Ordering::Relaxed);
        };
        if sequential {
            run();
        } else if std::thread::Builder::new()
            .name("serve-conn".into())
            .spawn(run)
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn echo(s: TcpStream, c: &Counters, busy: bool) -> Result<()> {
    let (cpu, echoed) = crate::pipeline::echo_server(vec![s], busy, Instant::now() + CONN_LIMIT)?;
    c.bytes.fetch_add(echoed, Ordering::Relaxed);
    c.add_cpu(cpu);
    Ok(())
}

/// How often a kernel discard server publishes its CPU time.
const CPU_PUBLISH: Duration = Duration::from_millis(10);

fn discard(mut s: TcpStream, c: &Counters) -> Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut cpu = thread_cpu();
    let mut published = Instant::now();
    let until = published + CONN_LIMIT;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                c.bytes.fetch_add(n as u64, Ordering::Relaxed);
                // The thread's CPU clock is a system call (not in the vDSO):
                // read it every 10 ms, not per read, or the receiver
                // measured would spend a second syscall per read on it.
                if published.elapsed() >= CPU_PUBLISH {
                    let now = thread_cpu();
                    c.add_cpu(now.saturating_sub(cpu));
                    cpu = now;
                    published = Instant::now();
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    c.add_cpu(thread_cpu().saturating_sub(cpu));
    Ok(())
}

/// Shunt's servers on one runtime: echo and discard.
pub struct ServeApp {
    echo: EchoServer,
    discard: Discard,
}

impl App for ServeApp {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.echo.on_start(ctx);
        self.discard.on_start(ctx);
    }
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        if self.discard.owns(&event) {
            self.discard.on_event(ctx, event);
        } else {
            self.echo.on_event(ctx, event);
        }
    }
}

/// The servers of `serve`, running.
pub struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    runtime: Option<Runtime<ServeApp>>,
}

impl Servers {
    /// Starts every server on `iface` (the calling thread's namespace).
    pub fn start(iface: &Iface, shard: &ShardConfig) -> Result<Servers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut servers = Servers {
            stop: stop.clone(),
            threads: Vec::new(),
            runtime: None,
        };
        let mut cfg = iface.runtime_config(shard, 0);
        cfg.listen_ports = vec![SHUNT_ECHO_PORT, SHUNT_DISCARD_PORT];
        // Every shard's discard server counts into one counter.
        let shunt_discarded = Arc::new(AtomicU64::new(0));
        let discarded = shunt_discarded.clone();
        let rt = Runtime::start(cfg, move |_| {
            let mut discard = Discard::new(SHUNT_DISCARD_PORT);
            discard.received = discarded.clone();
            ServeApp {
                echo: EchoServer::new(SHUNT_ECHO_PORT, 128),
                discard,
            }
        })
        .map_err(|e| BenchError(format!("starting Shunt on {}: {e}", iface.name)))?;
        let handles: Vec<_> = rt.handles().cloned().collect();
        servers.runtime = Some(rt);
        for h in &handles {
            let errors = h.call(|app, _| {
                (
                    app.echo.listen_error.as_ref().map(|e| e.to_string()),
                    app.discard.error.clone(),
                )
            })?;
            if let (Some(e), _) | (_, Some(e)) = errors {
                return Err(BenchError(format!("Shunt's servers: {e}")));
            }
        }
        let kernel: [(&str, u16, bool, ServeConn); 4] = [
            ("kernel_echo", KERNEL_ECHO_PORT, false, |s, c| {
                echo(s, c, false)
            }),
            ("kernel_echo_busy", KERNEL_ECHO_BUSY_PORT, false, |s, c| {
                echo(s, c, true)
            }),
            ("kernel_discard", KERNEL_DISCARD_PORT, false, discard),
            ("kernel_conn", KERNEL_CONN_PORT, true, |s, c| {
                echo(s, c, false)
            }),
        ];
        let mut all = Vec::new();
        for (name, port, sequential, serve) in kernel {
            let l = listen(iface.addr, port)?;
            let c = Arc::new(Counters::default());
            all.push((name, c.clone()));
            let stop = stop.clone();
            servers.threads.push(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || accept_loop(l, c, stop, sequential, serve))?,
            );
        }
        let l = listen(iface.addr, CONTROL_PORT)?;
        let stop2 = stop.clone();
        // `shards`: also what only the Shunt shards can tell (their CPU
        // time, the echo server's bytes), asked of each; without it only
        // counters any thread reads, for samples taken while a figure runs.
        let stats = move |shards: bool| -> Value {
            let mut v = json!({});
            for (name, c) in &all {
                v[*name] = c.json();
            }
            if !shards {
                v["shunt_discard"] = json!({"bytes": shunt_discarded.load(Ordering::Relaxed)});
                return v;
            }
            // Summed over the shards.
            let shunt = handles.iter().try_fold(
                (Duration::ZERO, 0u64, 0usize),
                |(cpu, echoed, open), h| {
                    let (c, e, o) = h
                        .call(|app, _| (thread_cpu(), app.echo.echoed, app.echo.open()))
                        .ok()?;
                    Some((cpu + c, echoed + e, open + o))
                },
            );
            if let Some((cpu, echoed, open)) = shunt {
                v["shunt_echo"] =
                    json!({"bytes": echoed, "cpu_s": cpu.as_secs_f64(), "open": open});
                v["shunt_discard"] = json!({
                    "bytes": shunt_discarded.load(Ordering::Relaxed),
                    "cpu_s": cpu.as_secs_f64(),
                    "open": 0,
                });
            }
            v
        };
        let stats = Arc::new(stats);
        servers
            .threads
            .push(
                std::thread::Builder::new()
                    .name("control".into())
                    .spawn(move || {
                        while !stop2.load(Ordering::Relaxed) {
                            let Ok((s, _)) = l.accept() else {
                                continue;
                            };
                            let (stats, stop) = (stats.clone(), stop2.clone());
                            let _ = std::thread::Builder::new()
                                .name("control-conn".into())
                                .spawn(move || control_conn(s, &*stats, &stop));
                        }
                    })?,
            );
        Ok(servers)
    }

    /// Stops every server and takes Shunt off the interface.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(rt) = self.runtime.take() {
            drop(rt.stop());
        }
    }
}

fn control_conn(s: TcpStream, stats: &dyn Fn(bool) -> Value, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(mut w) = s.try_clone() else {
        return;
    };
    let mut r = BufReader::new(s);
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        match r.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {
                let reply = match line.trim() {
                    "stats" => stats(true).to_string(),
                    "bytes" => stats(false).to_string(),
                    other => json!({ "error": format!("unknown request {other:?}") }).to_string(),
                };
                if writeln!(w, "{reply}").is_err() {
                    return;
                }
                line.clear();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// What `serve` prints: the ports and what listens on them.
pub fn listening(iface: &Iface) -> String {
    let a = iface.addr;
    format!(
        "shunt-bench serve on {} ({a}/{}):\n  \
         {a}:{CONTROL_PORT} control (stats)\n  \
         {a}:{KERNEL_ECHO_PORT} kernel echo, blocking (rr)\n  \
         {a}:{KERNEL_ECHO_BUSY_PORT} kernel echo, busy-polled (rr)\n  \
         {a}:{KERNEL_DISCARD_PORT} kernel discard (bulk)\n  \
         {a}:{KERNEL_CONN_PORT} kernel echo, one connection at a time (connrate)\n  \
         {a}:{SHUNT_ECHO_PORT} Shunt echo (rr, connrate)\n  \
         {a}:{SHUNT_DISCARD_PORT} Shunt discard (bulk)\n\
         Ctrl-C or SIGTERM stops it and takes Shunt off {}.\n",
        iface.name, iface.prefix_len, iface.name
    )
}

/// `shunt-bench serve`: runs the servers until `stop` is set.
pub fn serve(iface: &Iface, shard: &ShardConfig, stop: &AtomicBool) -> Result<()> {
    let servers = Servers::start(iface, shard)?;
    print!("{}", listening(iface));
    let _ = std::io::stdout().flush();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    servers.stop();
    println!("shunt-bench serve: stopped; Shunt is off {}", iface.name);
    Ok(())
}

/// A control connection to `serve` on the peer.
struct Control {
    peer: Ipv4Addr,
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// One server's counters, as `serve` reports them.
#[derive(Debug, Clone, Copy, Default)]
struct Served {
    bytes: u64,
    cpu: Duration,
    open: u64,
}

impl Control {
    fn connect(peer: Ipv4Addr) -> Result<Control> {
        let addr = SocketAddrV4::new(peer, CONTROL_PORT);
        let s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(3)).map_err(|e| {
            BenchError(format!(
                "no shunt-bench serve at {addr} ({e}): start `shunt-bench serve --iface IFACE` \
                 on the peer first"
            ))
        })?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(Control {
            peer,
            w: s.try_clone()?,
            r: BufReader::new(s),
        })
    }

    fn stats(&mut self) -> Result<Value> {
        self.request("stats")
    }

    /// `key`'s byte count alone, answered without disturbing the shards.
    fn bytes(&mut self, key: &str) -> Result<u64> {
        let v = self.request("bytes")?;
        v[key]["bytes"]
            .as_u64()
            .ok_or_else(|| BenchError(format!("the peer has no server {key}")))
    }

    fn request(&mut self, what: &str) -> Result<Value> {
        writeln!(self.w, "{what}")?;
        let mut line = String::new();
        self.r
            .read_line(&mut line)
            .map_err(|e| BenchError(format!("the control connection to {}: {e}", self.peer)))?;
        serde_json::from_str(&line)
            .map_err(|e| BenchError(format!("{}'s control answer {line:?}: {e}", self.peer)))
    }

    fn served(&mut self, key: &str) -> Result<Served> {
        let v = self.stats()?;
        let s = &v[key];
        if s.is_null() {
            return Err(BenchError(format!("the peer has no server {key}")));
        }
        Ok(Served {
            bytes: s["bytes"].as_u64().unwrap_or(0),
            cpu: Duration::from_secs_f64(s["cpu_s"].as_f64().unwrap_or(0.0).max(0.0)),
            open: s["open"].as_u64().unwrap_or(0),
        })
    }

    /// `key`'s counters once its connections closed (at most 2 s later).
    fn settled(&mut self, key: &str) -> Result<Served> {
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let s = self.served(key)?;
            if s.open == 0 || Instant::now() >= until {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `client` against the peer's server `key`, and fills in the server's
/// CPU time and bytes over the run.
fn against(peer: Ipv4Addr, key: &str, client: impl FnOnce() -> Result<RrFigure>) -> Result<Figure> {
    let mut ctl = Control::connect(peer)?;
    let before = ctl.served(key)?;
    let fig = client();
    let after = ctl.settled(key)?;
    let mut fig = fig?;
    fig.work.server_cpu = after.cpu.saturating_sub(before.cpu);
    fig.server_bytes = after.bytes.saturating_sub(before.bytes);
    Ok(fig.into())
}

/// A server on the peer, as a bulk receiver; its counters start at zero
/// when it is made.
struct RemoteReceiver {
    ctl: std::cell::RefCell<Control>,
    key: &'static str,
    base: Served,
}

impl RemoteReceiver {
    fn new(peer: Ipv4Addr, key: &'static str) -> Result<RemoteReceiver> {
        let mut ctl = Control::connect(peer)?;
        let base = ctl.served(key)?;
        Ok(RemoteReceiver {
            ctl: std::cell::RefCell::new(ctl),
            key,
            base,
        })
    }

    fn served(&self) -> Result<Served> {
        self.ctl.borrow_mut().served(self.key)
    }
}

impl Receiver for RemoteReceiver {
    fn received(&self) -> Result<u64> {
        let bytes = self.ctl.borrow_mut().bytes(self.key)?;
        Ok(bytes.saturating_sub(self.base.bytes))
    }
    fn cpu(&self) -> Result<Duration> {
        Ok(self.served()?.cpu.saturating_sub(self.base.cpu))
    }
}

/// Where the figures of real-host mode run.
#[derive(Debug, Clone)]
pub struct RealHosts {
    pub iface: Iface,
    pub peer: Ipv4Addr,
}

impl RealHosts {
    /// Checks the interface and that `serve` answers on the peer.
    pub fn new(iface: &str, peer: &str, addr: Option<&str>) -> Result<RealHosts> {
        let peer: Ipv4Addr = peer
            .parse()
            .map_err(|_| BenchError(format!("--peer {peer}: expected an IPv4 address")))?;
        let iface = Iface::resolve(iface, addr)?;
        Control::connect(peer)?.stats()?;
        Ok(RealHosts { iface, peer })
    }

    fn dst(&self, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.peer, port)
    }

    /// The Shunt client's configuration: one shard per queue, from core 1
    /// (the server of the test, in the same process, has core 0). The
    /// figures are the first shard's application's, which opens every
    /// connection; replies that land on another queue are handed to it.
    fn client_config(&self, shard: &ShardConfig) -> RuntimeConfig {
        self.iface.runtime_config(shard, 1)
    }
}

/// The workloads real-host mode runs (all asked for but loss); an error if
/// none is left.
pub fn workloads(asked: &[Workload]) -> Result<Vec<Workload>> {
    let left: Vec<Workload> = asked
        .iter()
        .copied()
        .filter(|w| *w != Workload::Loss)
        .collect();
    if left.is_empty() {
        return Err(BenchError(
            "the loss workload needs fault injection at the far host's receiver and is not \
             run between real hosts; choose bulk, rr or connrate"
                .into(),
        ));
    }
    Ok(left)
}

/// The figures of real-host mode, in the order they run.
pub fn plan(opts: &CompareOpts, hosts: &RealHosts) -> Vec<Planned> {
    let (bulk_opts, rr_opts, conn_opts) = (opts.bulk_opts(), opts.rr_opts(), opts.conn_opts());
    let cc = opts.cc;
    let peer = hosts.peer;
    let mut out = Vec::new();
    for &w in &opts.workloads {
        match w {
            Workload::Loss => {}
            Workload::Bulk => {
                let flow = KernelFlow {
                    cc: Some(cc),
                    offloads: true,
                    loss_ppm: 0,
                };
                let spawn = |send: Box<dyn FnOnce() -> Result<bulk::SenderEnd> + Send>| {
                    std::thread::spawn(move || Ok(send()))
                };
                let (o, h) = (bulk_opts.clone(), hosts.clone());
                out.push(item(
                    w,
                    "kernel",
                    format!("kernel -> kernel, {cc}, as {} offloads", h.iface.name),
                    true,
                    move || {
                        let rx = RemoteReceiver::new(peer, "kernel_discard")?;
                        let run = bulk::kernel_send_into(
                            &o,
                            flow,
                            h.dst(KERNEL_DISCARD_PORT),
                            &rx,
                            spawn,
                        )?;
                        Ok(Figure::from_shunt(run, false))
                    },
                ));
                let (o, h) = (bulk_opts.clone(), hosts.clone());
                out.push(item(
                    w,
                    "shunt",
                    format!("Shunt -> Shunt, {cc}"),
                    false,
                    move || {
                        let rx = RemoteReceiver::new(peer, "shunt_discard")?;
                        let mut cfg = h.client_config(&o.shard);
                        cfg.tcp.congestion_control = cc;
                        let run = bulk::shunt_send(&o, cfg, h.dst(SHUNT_DISCARD_PORT), 0, &rx)?;
                        Ok(Figure::from_shunt(run, false))
                    },
                ));
                let (o, h) = (bulk_opts.clone(), hosts.clone());
                out.push(item(
                    w,
                    "kernel_to_shunt",
                    format!("kernel -> Shunt, {cc}"),
                    false,
                    move || {
                        let rx = RemoteReceiver::new(peer, "shunt_discard")?;
                        let run = bulk::kernel_send_into(
                            &o,
                            flow,
                            h.dst(SHUNT_DISCARD_PORT),
                            &rx,
                            spawn,
                        )?;
                        Ok(Figure::from_shunt(run, false))
                    },
                ));
            }
            Workload::Rr => {
                let deadline =
                    move || Instant::now() + rr_opts.warmup + rr_opts.window + crate::GRACE;
                for (stack, label, port, key, busy, base) in [
                    (
                        "kernel",
                        "kernel <-> kernel, blocking",
                        KERNEL_ECHO_PORT,
                        "kernel_echo",
                        false,
                        false,
                    ),
                    (
                        "kernel_busy",
                        "kernel <-> kernel, busy-polled",
                        KERNEL_ECHO_BUSY_PORT,
                        "kernel_echo_busy",
                        true,
                        true,
                    ),
                    (
                        "kernel_to_shunt",
                        "kernel (busy) -> Shunt server",
                        SHUNT_ECHO_PORT,
                        "shunt_echo",
                        true,
                        false,
                    ),
                ] {
                    let (o, h) = (rr_opts.clone(), hosts.clone());
                    out.push(item(w, stack, label, base, move || {
                        against(peer, key, || {
                            rr::kernel_client(h.dst(port), &o, busy, deadline())
                        })
                    }));
                }
                let (o, h) = (rr_opts.clone(), hosts.clone());
                out.push(item(w, "shunt", "Shunt <-> Shunt", false, move || {
                    against(peer, "shunt_echo", || {
                        let no_cpu = || Ok(Duration::ZERO);
                        let cfg = h.client_config(&o.shard);
                        let (app, _, cpu) =
                            rr::shunt_rr_client(cfg, h.dst(SHUNT_ECHO_PORT), &o, &no_cpu)?;
                        rr::shunt_rr_figure(app, o.size, cpu)
                    })
                }));
            }
            Workload::Connrate => {
                let (o, h) = (conn_opts.clone(), hosts.clone());
                out.push(item(w, "kernel", "kernel -> kernel", true, move || {
                    connrate::check(&o)?;
                    against(peer, "kernel_conn", || {
                        connrate::kernel_client(h.dst(KERNEL_CONN_PORT), &o)
                    })
                }));
                let (o, h) = (conn_opts.clone(), hosts.clone());
                out.push(item(w, "shunt", "Shunt -> Shunt", false, move || {
                    connrate::check(&o)?;
                    against(peer, "shunt_echo", || {
                        let cfg = h.client_config(&o.shard);
                        connrate::shunt_connrate_client(cfg, h.dst(SHUNT_ECHO_PORT), &o)
                    })
                }));
                let (o, h) = (conn_opts.clone(), hosts.clone());
                out.push(item(
                    w,
                    "kernel_to_shunt",
                    "kernel -> Shunt server",
                    false,
                    move || {
                        connrate::check(&o)?;
                        against(peer, "shunt_echo", || {
                            connrate::kernel_client(h.dst(SHUNT_ECHO_PORT), &o)
                        })
                    },
                ));
            }
        }
    }
    out
}
