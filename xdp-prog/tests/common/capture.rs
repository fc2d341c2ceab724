//! Capturing what a test host receives, byte for byte (AF_PACKET), before
//! its kernel handles it.

use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use testhosts::Host;

const ETH_P_ALL: u16 = 0x0003;

/// A packet socket in `host`'s namespace that sees every frame of every
/// interface there; reads time out after 100 ms.
pub fn capture_in(host: &Host) -> Socket {
    host.run_in(|| {
        let s = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
        )
        .expect("packet socket");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        s.set_recv_buffer_size(4 << 20).unwrap();
        s
    })
    .unwrap()
}
