//! The application API without a NIC: an echo server and a client, each on
//! its own shard and thread, joined by an in-memory link. Runs anywhere, no
//! root needed. The same `App`s run on AF_XDP through `control::Runtime`
//! (see `control/examples/echo_server.rs` and `echo_client.rs`).
//!
//! ```text
//! cargo run --release -p datapath --example sim_echo [bytes]
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use datapath::apps::{EchoClient, EchoServer};
use datapath::endpoint::{Endpoint, EndpointConfig};
use datapath::io::mem::MemIo;
use datapath::shard::{Shard, ShardConfig};
use datapath::wire::EthernetAddress;

fn endpoint(addr: Ipv4Addr, n: u8) -> Endpoint {
    let cfg = EndpointConfig::new(addr, 24, EthernetAddress([2, 0, 0, 0, 0, n]), [n; 32]);
    Endpoint::new(cfg).expect("valid endpoint")
}

fn main() {
    let bytes: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10 << 20);
    let (server_ip, client_ip) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let (io_server, io_client) = MemIo::pair(8192, 1514);

    // The server: echoes port 7 until stopped.
    let (mut server, server_handle) = Shard::new(
        io_server,
        endpoint(server_ip, 1),
        EchoServer::new(7, 16),
        ShardConfig::blocking(),
    );
    let server_thread = std::thread::spawn(move || server.run());

    // The client: stops by itself when its echo is complete.
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let app = EchoClient::new(SocketAddrV4::new(server_ip, 7), data);
    let (mut client, _) = Shard::new(
        io_client,
        endpoint(client_ip, 2),
        app,
        ShardConfig::blocking(),
    );
    let start = Instant::now();
    client.run();
    let elapsed = start.elapsed();

    server_handle.stop();
    server_thread.join().expect("server thread");
    let app = client.app();
    match &app.error {
        None if app.matched() => println!(
            "echo of {bytes} B intact in {:.1} ms over the in-memory link",
            elapsed.as_secs_f64() * 1e3
        ),
        e => {
            eprintln!(
                "echo failed: {e:?} ({} of {bytes} B back)",
                app.received.len()
            );
            std::process::exit(1);
        }
    }
}
