//! An echo client on Shunt: sends bytes to an echo server, checks what comes
//! back, and reports the time it took.
//!
//! ```text
//! echo_client <interface> <address>/<prefix> <server-ip>:<port> <bytes>
//! ```
//!
//! `<address>` is this host's address on `<interface>`; the server's MAC is
//! taken from the kernel's neighbour table (the kernel resolves it). Root.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use control::{Runtime, RuntimeConfig, parse_cidr};
use datapath::apps::EchoClients;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!(
            "usage: {} <interface> <address>/<prefix> <server-ip>:<port> <bytes>",
            args[0]
        );
        std::process::exit(2);
    }
    let (addr, prefix) =
        parse_cidr(&args[2]).unwrap_or_else(|| fail("address must be a.b.c.d/len"));
    let server: SocketAddrV4 = args[3]
        .parse()
        .unwrap_or_else(|_| fail("server must be ip:port"));
    let bytes: usize = args[4].parse().unwrap_or_else(|_| fail("bad byte count"));

    let rt = Runtime::start(RuntimeConfig::new(&args[1], addr, prefix), |_| {
        EchoClients::default()
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    if let Err(e) = rt.resolve_neighbor(*server.ip()) {
        fail(&e.to_string());
    }
    let data: Vec<u8> = (0..bytes).map(|i| (i * 131 % 251) as u8).collect();
    let h = rt.handle(0).expect("one shard");
    let start = Instant::now();
    h.call(move |app, ctx| app.add(ctx, server, data))
        .unwrap_or_else(|e| fail(&e.to_string()));
    while !h.call(|app, _| app.all_done()).unwrap_or(true) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let (matched, error) = h
        .call(|app, _| (app.clients[0].matched(), app.clients[0].error.clone()))
        .unwrap_or((false, None));
    rt.stop();
    match (matched, error) {
        (true, _) => println!(
            "echo of {bytes} B intact in {:.3} ms ({:.2} Gbit/s each way)",
            elapsed.as_secs_f64() * 1e3,
            bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e9
        ),
        (false, e) => fail(&format!(
            "echo failed: {}",
            e.unwrap_or_else(|| "data differs".into())
        )),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("echo_client: {msg}");
    std::process::exit(1)
}
