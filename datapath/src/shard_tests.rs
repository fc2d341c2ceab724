//! Two shards over an in-memory link, each on its own thread: the
//! application API end to end without a kernel.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration as StdDuration;

use crate::apps::{EchoClient, EchoServer};
use crate::endpoint::{Endpoint, EndpointConfig};
use crate::io::mem::MemIo;
use crate::shard::{Shard, ShardConfig};
use crate::wire::{ChecksumFill, EthernetAddress};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn endpoint(addr: Ipv4Addr, n: u8) -> Endpoint {
    Endpoint::new(EndpointConfig::new(
        addr,
        24,
        EthernetAddress([2, 0, 0, 0, 0, n]),
        [n; 32],
    ))
    .unwrap()
}

#[test]
fn echo_server_and_client_on_two_shards_over_memory() {
    echo_over_memory(false);
}

#[test]
fn echo_with_tx_checksum_offload_leaves_checksums_to_the_link() {
    // The link plays a NIC with TX checksum offload: the shards write only
    // pseudo-header sums, the link finishes them, and both receivers verify.
    echo_over_memory(true);
}

fn echo_over_memory(offload: bool) {
    let (io_s, io_c) = MemIo::pair(4096, 1514);
    let (io_s, io_c) = (
        io_s.with_checksum_offload(offload),
        io_c.with_checksum_offload(offload),
    );
    let fill = if offload {
        ChecksumFill::PseudoHeaderOnly
    } else {
        ChecksumFill::Full
    };
    let (mut server, server_handle) = Shard::new(
        io_s,
        endpoint(SERVER, 1),
        EchoServer::new(7, 16),
        ShardConfig::blocking(),
    );
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let client_app = EchoClient::new(SocketAddrV4::new(SERVER, 7), data);
    let (mut client, client_handle) = Shard::new(
        io_c,
        endpoint(CLIENT, 2),
        client_app,
        ShardConfig::blocking(),
    );
    assert_eq!(server.endpoint().tx_checksum(), fill);
    assert_eq!(client.endpoint().tx_checksum(), fill);
    let server_thread = std::thread::spawn(move || {
        server.run();
        server
    });
    let client_thread = std::thread::spawn(move || {
        client.run();
        client
    });
    // The client stops by itself when its echo is complete; bound the wait.
    let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
    while !client_thread.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(10));
    }
    client_handle.stop();
    let client = client_thread.join().unwrap();
    // A command through the handle runs on the server's shard.
    let accepted = server_handle
        .call(|_, ctx| ctx.endpoint.stats().passive_opens)
        .unwrap();
    server_handle.stop();
    let server = server_thread.join().unwrap();
    let app = client.app();
    assert_eq!(app.error, None);
    assert!(
        app.matched(),
        "echo differs: {} of 300000 bytes",
        app.received.len()
    );
    assert_eq!(server.app().accepted, 1);
    assert_eq!(accepted, 1);
    assert!(server_handle.stats().rx_frames > 0);
    let bad =
        server.endpoint().stats().bad_tcp_checksum + client.endpoint().stats().bad_tcp_checksum;
    assert_eq!(bad, 0, "every checksum verified");
}

#[test]
fn handle_calls_fail_cleanly_after_the_shard_stops() {
    let (io, _other) = MemIo::pair(16, 1514);
    let (mut shard, handle) = Shard::new(
        io,
        endpoint(SERVER, 1),
        EchoServer::new(7, 4),
        ShardConfig::blocking(),
    );
    handle.stop();
    shard.run();
    drop(shard);
    assert_eq!(
        handle.call(|_, _| ()),
        Err(crate::shard::HandleError::Stopped)
    );
}
