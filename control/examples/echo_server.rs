//! An echo server on Shunt.
//!
//! ```text
//! echo_server <interface> <address>/<prefix> <port> [queues] [seconds]
//! ```
//!
//! Shunt claims `<port>` on `<address>` (the interface's own address; the
//! kernel keeps everything else), runs one shard per queue, echoes every
//! connection, and prints its counters once a second. It needs root. Killing
//! it, even with kill -9, detaches the XDP program.

use std::time::{Duration, Instant};

use control::{Runtime, RuntimeConfig, parse_cidr};
use datapath::apps::EchoServer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!(
            "usage: {} <interface> <address>/<prefix> <port> [queues] [seconds]",
            args[0]
        );
        std::process::exit(2);
    }
    let (addr, prefix) =
        parse_cidr(&args[2]).unwrap_or_else(|| fail("address must be a.b.c.d/len"));
    let port: u16 = args[3].parse().unwrap_or_else(|_| fail("bad port"));
    let queues: u32 = args
        .get(4)
        .map_or(Ok(1), |q| q.parse())
        .unwrap_or_else(|_| fail("bad queue count"));
    let seconds: Option<u64> = args
        .get(5)
        .map(|s| s.parse().unwrap_or_else(|_| fail("bad seconds")));

    let mut cfg = RuntimeConfig::new(&args[1], addr, prefix);
    cfg.listen_ports = vec![port];
    cfg.queues = queues;
    let rt = Runtime::start(cfg, |_| EchoServer::new(port, 1024))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let (xdp, xsks) = rt.modes();
    println!(
        "echoing on {addr}:{port} ({} queue(s), XDP {xdp:?}, AF_XDP {xsks:?})",
        queues
    );

    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let mut line = String::new();
        for (q, h) in rt.handles().enumerate() {
            let (accepted, echoed, open) = h
                .call(|app, _| (app.accepted, app.echoed, app.open()))
                .unwrap_or_default();
            line.push_str(&format!(
                " q{q}: {accepted} accepted, {open} open, {echoed} B echoed;"
            ));
        }
        println!("{:>5}s{line}", start.elapsed().as_secs());
        if seconds.is_some_and(|s| start.elapsed() >= Duration::from_secs(s)) {
            break;
        }
    }
    rt.stop();
}

fn fail(msg: &str) -> ! {
    eprintln!("echo_server: {msg}");
    std::process::exit(1)
}
