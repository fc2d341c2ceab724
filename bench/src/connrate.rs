//! Connection rate on a self-made veth pair: a client in host B (core 1)
//! connects to a server in host A (core 0), sends `size` bytes, reads the
//! `size`-byte echo, closes, and connects again, one connection at a time.
//! Each connection is timed from `connect` to the echo's last byte; those
//! that start after the warm-up and before the end of the window are
//! counted, up to a bound on connections per figure.
//!
//! The client closes first, so TIME-WAIT (60 s on both stacks) is the
//! client's and holds its local port: both clients get the ports
//! 1024-65535 (the kernel's `ip_local_port_range` in the client's namespace,
//! Shunt's ephemeral range), so a figure of at most [`MAX_CONNECTIONS`]
//! never runs out. Shunt's connections get 16 KiB buffers (the request is a
//! few bytes; the kernel's sockets also start small).
//!
//! Three figures: kernel client and server (blocking sockets, TCP_NODELAY),
//! Shunt client and server (busy-polled shards), and a kernel client against
//! a Shunt server.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use control::RuntimeConfig;
use datapath::shard::ShardConfig;
use datapath::tcp::ports::PortRange;
use testhosts::{Config, Host, TestHosts};

use crate::apps::ConnRateClient;
use crate::cpu::thread_cpu;
use crate::rr::{
    RrFigure, against_shunt_server, client_loop, kernel_pair, new_hosts, read_full,
    run_shunt_client, shunt_config, write_full,
};
use crate::{BenchError, GRACE, Result, pin};

const KERNEL_PORT: u16 = 7300;
const SHUNT_PORT: u16 = 7301;
/// Connections per figure at most: below the 64,512 local ports a client
/// has while each one it closed sits in TIME-WAIT.
pub const MAX_CONNECTIONS: u64 = 60_000;
/// Buffers of Shunt's connections in this workload.
const SHUNT_BUFFER: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct ConnRateOpts {
    /// Request (and echo) size, bytes.
    pub size: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub shard: ShardConfig,
    /// Connections per figure at most.
    pub max_connections: u64,
}

pub(crate) fn check(opts: &ConnRateOpts) -> Result<()> {
    if !(1..=1400).contains(&opts.size) {
        return Err(BenchError(format!(
            "connection-rate request size {} is outside 1..=1400 (one frame each way)",
            opts.size
        )));
    }
    if !(1..=MAX_CONNECTIONS).contains(&opts.max_connections) {
        return Err(BenchError(format!(
            "connections per figure {} is outside 1..={MAX_CONNECTIONS}",
            opts.max_connections
        )));
    }
    Ok(())
}

/// The kernel client's namespace gets the ports Shunt's client gets.
fn widen_kernel_ports(host: &Host) -> Result<()> {
    host.run(
        "sysctl",
        &["-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"],
    )?;
    Ok(())
}

/// A kernel client's loop on the calling thread (in B): connections until
/// the window ends or `max_connections` were made. A connect that fails
/// ends the run early, with the reason in the figure.
pub(crate) fn kernel_client(dst: SocketAddrV4, opts: &ConnRateOpts) -> Result<RrFigure> {
    let deadline = Instant::now() + opts.warmup + opts.window + GRACE;
    let req = vec![0x43u8; opts.size];
    let mut resp = vec![0u8; opts.size];
    let mut refused = None;
    let mut made = 0u64;
    let start = Instant::now();
    let fig = client_loop(
        start + opts.warmup,
        start + opts.warmup + opts.window,
        opts.size,
        || {
            if made >= opts.max_connections {
                refused = Some(format!("the bound of {made} connections"));
                return Ok(false);
            }
            let mut s = match TcpStream::connect_timeout(&dst.into(), Duration::from_secs(3)) {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
                    refused = Some(format!(
                        "stopped early: connect after {made} connections: {e}"
                    ));
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
            write_full(&mut s, &req, deadline)?;
            if !read_full(&mut s, &mut resp, deadline)? {
                return Err(std::io::Error::other(
                    "the server closed the connection before echoing",
                ));
            }
            made += 1;
            Ok(true)
        },
    )?;
    Ok(RrFigure {
        stopped: refused.filter(|_| fig.stopped.is_some()),
        ..fig
    })
}

/// Kernel echo server in A, one connection at a time: reads the request,
/// echoes it, reads to the end of the stream, closes. Returns its CPU time
/// and the bytes it echoed.
fn kernel_server(
    dst: SocketAddrV4,
    size: usize,
    stop: &AtomicBool,
    ready: &dyn Fn(),
    deadline: Instant,
) -> Result<(Duration, u64)> {
    let l = socket2::Socket::from(TcpListener::bind(dst)?);
    l.listen(128)?;
    // accept() waits at most this long, so that `stop` is seen.
    l.set_read_timeout(Some(Duration::from_millis(50)))?;
    let l: TcpListener = l.into();
    ready();
    let cpu0 = thread_cpu();
    let mut buf = vec![0u8; size];
    let mut rest = [0u8; 64];
    let mut echoed = 0u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut s = match l.accept() {
            Ok((s, _)) => s,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.into()),
        };
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        if !read_full(&mut s, &mut buf, deadline)? {
            continue;
        }
        write_full(&mut s, &buf, deadline)?;
        echoed += size as u64;
        // The client closes first; its FIN ends the stream.
        loop {
            match s.read(&mut rest) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
    Ok((thread_cpu() - cpu0, echoed))
}

/// Kernel client in B, kernel server in A.
pub fn kernel_connrate(opts: &ConnRateOpts) -> Result<RrFigure> {
    check(opts)?;
    let hosts = new_hosts(Config::default())?;
    widen_kernel_ports(hosts.b())?;
    let dst = SocketAddrV4::new(hosts.a().addr(), KERNEL_PORT);
    let deadline = Instant::now() + opts.warmup + opts.window + GRACE;
    let size = opts.size;
    kernel_pair(
        &hosts,
        move |stop, ready| kernel_server(dst, size, stop, ready, deadline),
        || kernel_client(dst, opts),
    )
}

fn shunt_server_config(host: &Host, opts: &ConnRateOpts) -> RuntimeConfig {
    let mut cfg = shunt_config(host, &opts.shard);
    cfg.listen_ports = vec![SHUNT_PORT];
    cfg.tcp.send_buffer = SHUNT_BUFFER;
    cfg.tcp.recv_buffer = SHUNT_BUFFER;
    cfg
}

/// Kernel client in B, Shunt server in A.
pub fn kernel_to_shunt_connrate(opts: &ConnRateOpts) -> Result<RrFigure> {
    check(opts)?;
    let hosts = new_hosts(Config::default())?;
    widen_kernel_ports(hosts.b())?;
    against_shunt(&hosts, opts, |_, dst| kernel_client(dst, opts))
}

/// Runs `client(B, server address)` on core 1 of host B against a Shunt
/// echo server in A (`rr::against_shunt_server`).
fn against_shunt(
    hosts: &TestHosts,
    opts: &ConnRateOpts,
    client: impl FnOnce(&Host, SocketAddrV4) -> Result<RrFigure> + Send,
) -> Result<RrFigure> {
    let port = (SHUNT_PORT, 128);
    against_shunt_server(hosts, shunt_server_config(hosts.a(), opts), port, |a, b| {
        let dst = SocketAddrV4::new(a.addr(), SHUNT_PORT);
        b.run_in(|| {
            pin(1);
            client(b, dst)
        })?
    })
}

/// A Shunt connection-rate client started with `cfg` (on the calling
/// thread's host) against `dst`; the server's CPU time and bytes are the
/// caller's to fill in.
pub(crate) fn shunt_connrate_client(
    cfg: RuntimeConfig,
    dst: SocketAddrV4,
    opts: &ConnRateOpts,
) -> Result<RrFigure> {
    let (size, warmup, window, max) = (opts.size, opts.warmup, opts.window, opts.max_connections);
    let app = move |_| ConnRateClient::new(dst, size, warmup, window, max);
    let limit = warmup + window + GRACE;
    let no_server = || Ok(Duration::ZERO);
    let (app, _, (cpu, _, wall)) = run_shunt_client(
        cfg,
        dst,
        app,
        (ConnRateClient::start, |a| a.done, limit),
        &no_server,
    )?;
    if let Some(e) = app.error {
        return Err(BenchError(e));
    }
    let mut fig = RrFigure::from_timed(app.timed, size, app.stopped)?;
    fig.work.client_cpu = cpu;
    fig.work.wall = wall;
    fig.retransmits = app.retransmits;
    Ok(fig)
}

/// Shunt client in B, Shunt server in A.
pub fn shunt_connrate(opts: &ConnRateOpts) -> Result<RrFigure> {
    check(opts)?;
    let hosts = new_hosts(Config::default())?;
    against_shunt(&hosts, opts, |b, dst| {
        let mut cfg = shunt_config(b, &opts.shard);
        cfg.tcp.send_buffer = SHUNT_BUFFER;
        cfg.tcp.recv_buffer = SHUNT_BUFFER;
        cfg.ephemeral =
            PortRange::new(1024, 65535).map_err(|e| BenchError(format!("ephemeral ports: {e}")))?;
        cfg.max_connections = 65_536;
        shunt_connrate_client(cfg, dst, opts)
    })
}
