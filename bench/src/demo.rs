//! `shunt-bench demo`: the steering program on a self-made veth pair.
//!
//! Host A runs the program with an AF_XDP socket on its queue and owns TCP port
//! 7000. Host B pings A, opens kernel TCP connections to A's port 7000 (their
//! SYNs go to the socket) and talks to a kernel echo server on A's port 7001
//! (which goes to A's kernel). Once a second it prints the program's counters.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use datapath::io::xdp::{Xsk, XskConfig};
use testhosts::{Config, TestHosts};
use xdp_prog::{AttachMode, Steering};

use crate::Result;

const OWNED: u16 = 7000;
const KERNEL_PORT: u16 = 7001;

pub fn run(seconds: u64) -> Result<()> {
    let hosts = TestHosts::new(Config::default())?;
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    println!(
        "test hosts: {} ({}) <-> {} ({}), veth, MTU 1500",
        a.ns(),
        a.addr(),
        b.ns(),
        b.addr()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let rx_frames = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::result::Result<String, String>>();
    let (counters_tx, counters_rx) = std::sync::mpsc::channel();

    let shunt = {
        let (stop, rx_frames, a) = (stop.clone(), rx_frames.clone(), a.clone());
        hosts.a().spawn_thread(move || -> Result<()> {
            let setup = || -> Result<(Steering, Xsk)> {
                let steer = Steering::attach(a.ifindex(), AttachMode::Auto)?;
                let xsk = Xsk::bind(a.ifindex(), 0, &XskConfig::default())?;
                steer.bind_queue(0, xsk.fd())?;
                steer.own(a.addr(), OWNED)?;
                Ok((steer, xsk))
            };
            let (steer, mut xsk) = match setup() {
                Ok(v) => v,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(e);
                }
            };
            let mode = format!(
                "XDP {} mode{}, AF_XDP {} mode",
                steer.mode().map(|m| m.to_string()).unwrap_or_default(),
                steer
                    .fallback_reason()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                xsk.mode()
            );
            let _ = ready_tx.send(Ok(mode));
            // A kernel echo server on a port Shunt does not own.
            let listener = TcpListener::bind((a.addr(), KERNEL_PORT))?;
            listener.set_nonblocking(true)?;
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if xsk.wait_readable(Duration::from_millis(20)) {
                    let n = xsk.recv(64, |_| {});
                    rx_frames.fetch_add(u64::from(n), Ordering::Relaxed);
                }
                if let Ok((mut c, _)) = listener.accept() {
                    c.set_nonblocking(false)?;
                    let mut buf = [0u8; 64];
                    if let Ok(n) = c.read(&mut buf) {
                        let _ = c.write_all(&buf[..n]);
                    }
                }
                if last.elapsed() >= Duration::from_secs(1) {
                    last = Instant::now();
                    let _ = counters_tx.send(steer.counters()?);
                }
            }
            let _ = counters_tx.send(steer.counters()?);
            Ok(())
        })
    };

    let mode = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| crate::BenchError("the Shunt side did not start".into()))?
        .map_err(crate::BenchError)?;
    println!("attached to {} in {}: {mode}", a.ifname(), a.ns());
    println!(
        "A owns TCP {}:{OWNED}; B sends ping, SYNs to :{OWNED}, and kernel TCP to :{KERNEL_PORT}",
        a.addr()
    );
    println!();

    let peer = {
        let (b, stop) = (b.clone(), stop.clone());
        let dst_owned = SocketAddrV4::new(a.addr(), OWNED);
        let dst_kernel = SocketAddrV4::new(a.addr(), KERNEL_PORT);
        b.clone().spawn_thread(move || {
            let mut echoes = 0u32;
            let mut pings = 0u32;
            let end = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                // SYNs to the owned port: the connect times out, the SYNs count.
                let _ = TcpStream::connect_timeout(&dst_owned.into(), Duration::from_millis(150));
                if let Ok(mut s) =
                    TcpStream::connect_timeout(&dst_kernel.into(), Duration::from_secs(1))
                {
                    let mut buf = [0u8; 5];
                    if s.write_all(b"hello").is_ok()
                        && s.read_exact(&mut buf).is_ok()
                        && &buf == b"hello"
                    {
                        echoes += 1;
                    }
                }
                if b.run(
                    "ping",
                    &["-c", "1", "-W", "1", &dst_kernel.ip().to_string()],
                )
                .is_ok()
                {
                    pings += 1;
                }
            }
            (echoes, pings)
        })
    };

    println!(
        "{:>4} {:>8} {:>10} {:>8} {:>9} {:>15} {:>12}",
        "t/s", "seen", "redirected", "passed", "malformed", "redirect_failed", "xsk rx"
    );
    let start = Instant::now();
    let (echoes, pings) = loop {
        if let Ok(c) = counters_rx.recv_timeout(Duration::from_millis(200)) {
            println!(
                "{:>4} {:>8} {:>10} {:>8} {:>9} {:>15} {:>12}",
                start.elapsed().as_secs(),
                c.seen,
                c.redirected,
                c.passed,
                c.malformed,
                c.redirect_failed,
                rx_frames.load(Ordering::Relaxed)
            );
        }
        if peer.is_finished() {
            break peer
                .join()
                .map_err(|_| crate::BenchError("peer thread panicked".into()))??;
        }
    };
    stop.store(true, Ordering::Relaxed);
    shunt
        .join()
        .map_err(|_| crate::BenchError("Shunt thread panicked".into()))???;
    let last = counters_rx.try_iter().last();
    println!();
    if let Some(c) = last {
        println!("final counters: {c}");
    }
    println!(
        "kernel echoes on :{KERNEL_PORT} while attached: {echoes}; pings answered: {pings}; SYNs received by the AF_XDP socket: {}",
        rx_frames.load(Ordering::Relaxed)
    );
    let shown = hosts.a().run("ip", &["link", "show", "dev", a.ifname()])?;
    let still = String::from_utf8_lossy(&shown.stdout).contains("xdp");
    println!(
        "after detach: XDP program on {}: {}",
        a.ifname(),
        if still { "STILL ATTACHED" } else { "none" }
    );
    drop(hosts);
    println!("test hosts removed");
    if still || echoes == 0 || pings == 0 || rx_frames.load(Ordering::Relaxed) == 0 {
        return Err(crate::BenchError(
            "the demo did not see every kind of traffic it expected".into(),
        ));
    }
    Ok(())
}
