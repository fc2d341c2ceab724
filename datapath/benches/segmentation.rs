//! The sending side's cost per byte: a connection cuts 64 KiB of
//! application data into MSS-sized frames (TCP header and options, the
//! one-pass payload copy and checksum, IPv4 and Ethernet headers), as the
//! software equivalent of TSO does on every shard turn. Only the frame
//! building is timed; delivering the frames to the receiver and its ACKs back
//! (so the window keeps opening) runs between the timed parts.
//!
//! ```text
//! cargo bench -p datapath --bench segmentation
//! ```
//!
//! Criterion prints bytes per second; cycles per byte = clock / rate. A
//! `memcpy` of the same payload into the same frames is measured beside it,
//! as the floor any segmentation path pays.
//!
//! `request_response` times a 64-byte request and its echo through both
//! endpoints (every call a shard makes per frame), the protocol's share of
//! a round trip without the I/O.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration as StdDuration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datapath::cc::Algorithm;
use datapath::endpoint::{ConnId, Endpoint, EndpointConfig};
use datapath::tcp::TcpConfig;
use datapath::time::{Duration, Instant};
use datapath::wire::EthernetAddress;

const WRITE: usize = 64 * 1024;
const FRAME: usize = 2048;
/// Frames one write becomes at MSS 1448, with room to spare.
const FRAMES: usize = WRITE / 1448 + 2;

struct Pair {
    tx: Endpoint,
    rx: Endpoint,
    conn: ConnId,
    peer: Option<ConnId>,
    now: Instant,
    frames: Vec<Vec<u8>>,
    lens: Vec<usize>,
    sink: Vec<u8>,
}

fn endpoint(addr: Ipv4Addr, n: u8, pacing: bool) -> Endpoint {
    let mut cfg = EndpointConfig::new(addr, 24, EthernetAddress([2, 0, 0, 0, 0, n]), [n; 32]);
    cfg.tcp = TcpConfig {
        send_buffer: 4 << 20,
        recv_buffer: 4 << 20,
        pacing,
        congestion_control: Algorithm::Cubic,
        ..TcpConfig::default()
    };
    Endpoint::new(cfg).expect("valid endpoint")
}

impl Pair {
    /// Two connected endpoints; `pacing` as `TcpConfig.pacing` (segmentation
    /// turns it off: it measures building, not holding back by time).
    /// Request/response runs on a fresh connection.
    fn new(pacing: bool) -> Pair {
        let (a, b) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        let mut tx = endpoint(a, 1, pacing);
        let mut rx = endpoint(b, 2, pacing);
        let now = Instant::from_millis(1);
        tx.add_neighbor(now, b, EthernetAddress([2, 0, 0, 0, 0, 2]));
        rx.add_neighbor(now, a, EthernetAddress([2, 0, 0, 0, 0, 1]));
        let listener = rx.listen(80, 4).expect("listen");
        let tcp = tx.config().tcp.clone();
        let conn = tx
            .connect_with(now, SocketAddrV4::new(b, 80), tcp)
            .expect("connect");
        let mut p = Pair {
            tx,
            rx,
            conn,
            peer: None,
            now,
            frames: vec![vec![0u8; FRAME]; FRAMES * 2],
            lens: Vec::with_capacity(FRAMES * 2),
            sink: vec![0u8; 1 << 20],
        };
        for _ in 0..4 {
            p.exchange();
        }
        p.peer = p.rx.accept(listener).expect("listener");
        assert!(p.peer.is_some(), "handshake done");
        p
    }

    /// [`Pair::new`] with slow start run until the window is well past one
    /// 64 KiB write.
    fn warmed(pacing: bool) -> Pair {
        let mut p = Pair::new(pacing);
        for _ in 0..64 {
            p.write();
            p.build();
            p.exchange();
        }
        p
    }

    fn write(&mut self) {
        let data = [0x5au8; WRITE];
        let mut off = 0;
        while off < WRITE {
            match self.tx.send(self.conn, &data[off..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => off += n,
            }
        }
    }

    /// The timed part: every frame the sender has ready.
    fn build(&mut self) -> usize {
        self.lens.clear();
        let mut bytes = 0;
        for f in self.frames.iter_mut() {
            match self.tx.poll_frame(self.now, f).map(|f| f.len) {
                Some(n) => {
                    self.lens.push(n);
                    bytes += n;
                }
                None => break,
            }
        }
        bytes
    }

    /// Delivers what `build` made, lets the receiver read and ACK, and hands
    /// the ACKs back, 20 us of virtual time later.
    fn exchange(&mut self) {
        self.now += Duration::from_micros(10);
        for (f, &n) in self.frames.iter().zip(&self.lens) {
            let _ = self.rx.handle_frame(self.now, &f[..n]);
        }
        self.lens.clear();
        if let Some(p) = self.peer {
            while let Ok(n @ 1..) = self.rx.recv(p, &mut self.sink) {
                black_box(n);
            }
        }
        while self.rx.poll_event().is_some() {}
        let mut ack = [0u8; FRAME];
        self.now += Duration::from_micros(10);
        while let Some(n) = self.rx.poll_frame(self.now, &mut ack).map(|f| f.len) {
            let _ = self.tx.handle_frame(self.now, &ack[..n]);
        }
        while self.tx.poll_event().is_some() {}
        // Whatever the sender built in reply to the handshake or the ACKs.
        let mut stray = [0u8; FRAME];
        while let Some(n) = self.tx.poll_frame(self.now, &mut stray).map(|f| f.len) {
            let _ = self.rx.handle_frame(self.now, &stray[..n]);
        }
    }
}

impl Pair {
    /// One 64-byte request from `tx` to `rx` and its echo back, with every
    /// endpoint call a shard makes per frame (input, events, the
    /// application's read and write, output, the timer wheel), all timed.
    fn round_trip(&mut self, msg: &[u8; 64]) {
        let peer = self.peer.expect("accepted");
        let mut frame = [0u8; FRAME];
        let mut buf = [0u8; 256];
        self.now += Duration::from_micros(20);
        let _ = self.tx.send(self.conn, msg);
        let _ = self.tx.poll_timeout();
        let n = self
            .tx
            .poll_frame(self.now, &mut frame)
            .expect("request")
            .len;
        let _ = self.rx.handle_frame(self.now, &frame[..n]);
        let _ = self.rx.poll_timeout();
        while self.rx.poll_event().is_some() {}
        let got = self.rx.recv(peer, &mut buf).unwrap_or(0);
        let _ = self.rx.send(peer, &buf[..got]);
        let n = self
            .rx
            .poll_frame(self.now, &mut frame)
            .expect("response")
            .len;
        while self.rx.poll_frame(self.now, &mut buf).is_some() {}
        self.now += Duration::from_micros(20);
        let _ = self.tx.handle_frame(self.now, &frame[..n]);
        let _ = self.tx.poll_timeout();
        while self.tx.poll_event().is_some() {}
        let got = self.tx.recv(self.conn, &mut buf).unwrap_or(0);
        assert_eq!(got, 64, "the echo came back");
        while self.tx.poll_frame(self.now, &mut frame).is_some() {}
    }
}

fn request_response(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_response");
    g.measurement_time(StdDuration::from_secs(4));
    g.bench_function("64B_round_trip_both_ends", |b| {
        // The runtime's defaults: CUBIC, paced.
        let mut p = Pair::new(true);
        let msg = [0x42u8; 64];
        b.iter(|| p.round_trip(&msg));
    });
    g.finish();
}

fn segmentation(c: &mut Criterion) {
    let mut g = c.benchmark_group("segmentation");
    g.throughput(Throughput::Bytes(WRITE as u64));
    g.measurement_time(StdDuration::from_secs(4));
    g.bench_function("64KiB_write_to_frames", |b| {
        let mut p = Pair::warmed(false);
        b.iter_custom(|iters| {
            let mut timed = StdDuration::ZERO;
            for _ in 0..iters {
                p.write();
                let t = std::time::Instant::now();
                let bytes = p.build();
                timed += t.elapsed();
                assert!(bytes >= WRITE, "the window held back a write: {bytes} B");
                p.exchange();
            }
            timed
        });
    });
    g.bench_function("64KiB_memcpy_to_frames", |b| {
        let src = vec![0x5au8; WRITE];
        let mut frames = vec![vec![0u8; FRAME]; FRAMES];
        b.iter(|| {
            for (chunk, f) in src.chunks(1448).zip(frames.iter_mut()) {
                f[66..66 + chunk.len()].copy_from_slice(chunk);
            }
            black_box(&frames);
        });
    });
    g.finish();
}

criterion_group!(benches, segmentation, request_response);
criterion_main!(benches);
