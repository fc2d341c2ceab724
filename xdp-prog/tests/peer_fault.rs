//! The peer-side fault program (tc, clsact) on self-made test hosts: it sits
//! on B's veth egress, so it acts on what B's kernel sends to A's kernel.
//! Every test makes its own hosts; every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::time::{Duration, Instant};

use common::capture::capture_in;
use common::*;
use socket2::{Domain, Socket, Type};
use testhosts::{Config, Host, TestHosts};
use xdp_prog::peer_fault::{Direction, Error, Faults, PPM_ONE, PeerFaultCounters, PeerFaults};

const PORT: u16 = 7100;
const OTHER_PORT: u16 = 7101;

fn hosts() -> TestHosts {
    TestHosts::new(Config::default()).expect("create test hosts (root)")
}

/// A kernel TCP listener on `host`'s address and `port`; accept and reads on
/// it time out after 10 s.
fn listen(host: &Host, port: u16) -> Socket {
    let addr = SocketAddrV4::new(host.addr(), port);
    host.run_in(move || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.bind(&addr.into()).unwrap();
        s.listen(16).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    })
    .unwrap()
}

/// Accepts one connection on `l` (on a plain thread: the socket already
/// belongs to its namespace) and returns everything read until EOF.
fn receive_all(l: Socket) -> std::thread::JoinHandle<std::io::Result<Vec<u8>>> {
    std::thread::spawn(move || {
        let (c, _) = l.accept()?;
        c.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut got = Vec::new();
        (&c).read_to_end(&mut got)?;
        Ok(got)
    })
}

/// Connects from the calling thread (which must be in B) and sends `data`.
fn send_all(dst: SocketAddrV4, data: &[u8]) -> std::io::Result<()> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.connect_timeout(&dst.into(), Duration::from_secs(5))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    (&s).write_all(data)?;
    s.shutdown(Shutdown::Write)?;
    // Wait for A's FIN so that everything has arrived before returning.
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut rest = Vec::new();
    (&s).read_to_end(&mut rest)?;
    Ok(())
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Sends `len` bytes from B to A's kernel on `PORT` from inside B (the
/// calling thread must be in B) and checks they arrive intact.
fn transfer_b_to_a(hosts: &TestHosts, len: usize) {
    let l = listen(hosts.a(), PORT);
    let rx = receive_all(l);
    let data = pattern(len);
    send_all(SocketAddrV4::new(hosts.a().addr(), PORT), &data).expect("send from B");
    let got = rx.join().unwrap().expect("receive in A");
    assert_eq!(got.len(), data.len(), "length");
    assert!(got == data, "bytes differ");
}

/// An AF_PACKET socket in A seeing every frame on A's interfaces.
/// IPv4/TCP frames from `src` read from `capture` until `quiet` passes with
/// nothing new (or 5 s in all).
fn captured_tcp_from(capture: &Socket, src: std::net::Ipv4Addr, quiet: Duration) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65536];
    let end = Instant::now() + Duration::from_secs(5);
    let mut last = Instant::now();
    let mut s = capture;
    while Instant::now() < end && last.elapsed() < quiet {
        if let Ok(n) = s.read(&mut buf) {
            let f = &buf[..n];
            if n >= 54
                && f[12..14] == ETH_IPV4.to_be_bytes()
                && f[23] == 6
                && f[26..30] == src.octets()
            {
                frames.push(f.to_vec());
                last = Instant::now();
            }
        }
    }
    frames
}

/// One frame per segment at the host's egress hook. TCP builds GSO
/// super-packets whatever the device's offloads (`ethtool -K .. gso off` only
/// moves the segmentation after the hook); a one-segment limit stops that.
fn gso_off(host: &Host) {
    host.run(
        "ip",
        &["link", "set", "dev", host.ifname(), "gso_max_segs", "1"],
    )
    .expect("ip link set gso_max_segs 1");
}

fn qdiscs(host: &Host) -> String {
    let out = host
        .run("tc", &["qdisc", "show", "dev", host.ifname()])
        .expect("tc qdisc show");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn full_drop_stops_tcp_from_b_but_not_ping() {
    let hosts = hosts();
    let _l = listen(hosts.a(), PORT);
    let dst = SocketAddrV4::new(hosts.a().addr(), PORT);
    let b = hosts.b().clone();
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).expect("attach");
            pf.set(Faults {
                drop_ppm: PPM_ONE,
                ..Faults::NONE
            })
            .unwrap();
            let start = Instant::now();
            let r = std::net::TcpStream::connect_timeout(&dst.into(), Duration::from_secs(1));
            assert!(r.is_err(), "connect through 100% drop succeeded");
            assert!(start.elapsed() < Duration::from_secs(3));
            let ping = b.run(
                "ping",
                &["-c", "2", "-i", "0.2", "-W", "2", &dst.ip().to_string()],
            );
            assert!(ping.is_ok(), "ping through 100% TCP drop: {ping:?}");
            pf.counters().unwrap()
        })
        .unwrap();
    assert!(c.dropped >= 1, "{c}");
    assert_eq!(c.dropped, c.matched, "every TCP frame dropped: {c}");
    assert!(
        c.seen >= c.matched + 2,
        "pings and ARP seen, not matched: {c}"
    );
    assert_eq!(c.corrupted + c.duplicated + c.copies, 0, "{c}");
}

#[test]
fn the_port_filter_spares_other_ports() {
    let hosts = hosts();
    let _l = listen(hosts.a(), OTHER_PORT);
    let (a_addr, b) = (hosts.a().addr(), hosts.b().clone());
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            pf.set(Faults {
                drop_ppm: PPM_ONE,
                port: PORT,
                ..Faults::NONE
            })
            .unwrap();
            let other = SocketAddrV4::new(a_addr, OTHER_PORT);
            std::net::TcpStream::connect_timeout(&other.into(), Duration::from_secs(2))
                .expect("another port is not touched");
            let before = pf.counters().unwrap();
            let filtered = SocketAddrV4::new(a_addr, PORT);
            assert!(
                std::net::TcpStream::connect_timeout(&filtered.into(), Duration::from_millis(500))
                    .is_err()
            );
            pf.counters().unwrap().since(&before)
        })
        .unwrap();
    assert!(c.matched >= 1 && c.dropped == c.matched, "{c}");
}

#[test]
fn zero_rates_touch_nothing() {
    let hosts = hosts();
    let b = hosts.b().clone();
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            pf.set(Faults::NONE).unwrap();
            transfer_b_to_a(&hosts, 300 * 1024);
            pf.counters().unwrap()
        })
        .unwrap();
    // GSO on: one matched frame is a super-packet of up to 64 KB.
    assert!(c.matched >= 6, "the transfer went through the hook: {c}");
    assert_eq!(
        c.dropped + c.corrupted + c.corrupt_skipped + c.duplicated + c.copies,
        0,
        "{c}"
    );
}

#[test]
fn five_percent_drop_lets_a_kernel_transfer_complete_intact() {
    let hosts = hosts();
    let b = hosts.b().clone();
    gso_off(&b);
    let c: PeerFaultCounters = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            pf.set(Faults {
                drop_ppm: Faults::ppm_from_percent(5.0),
                ..Faults::NONE
            })
            .unwrap();
            transfer_b_to_a(&hosts, 2 << 20);
            pf.counters().unwrap()
        })
        .unwrap();
    // About 1450 full segments plus retransmissions: 5% is ~75 drops, and
    // 2.5%..8% is more than four standard deviations either side.
    let share = c.dropped as f64 / c.matched as f64;
    assert!(c.matched > 1000, "{c}");
    assert!((0.025..0.08).contains(&share), "drop share {share}: {c}");
}

#[test]
fn full_duplication_delivers_every_frame_twice() {
    let hosts = hosts();
    let capture = capture_in(hosts.a());
    let (b, b_addr) = (hosts.b().clone(), hosts.b().addr());
    gso_off(&b);
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            pf.set(Faults {
                duplicate_ppm: PPM_ONE,
                port: PORT,
                ..Faults::NONE
            })
            .unwrap();
            transfer_b_to_a(&hosts, 20_000);
            pf.counters().unwrap()
        })
        .unwrap();
    assert!(c.duplicated >= 5 && c.duplicated == c.matched, "{c}");
    assert_eq!(c.copies, c.duplicated, "every copy came back through: {c}");
    assert_eq!(c.duplicate_failed, 0, "{c}");
    let frames = captured_tcp_from(&capture, b_addr, Duration::from_millis(300));
    assert_pairs(&frames, c.matched);
}

/// Every frame in `frames` comes exactly twice, byte for byte, and there are
/// `matched` distinct ones. (A retransmission is not byte-identical: IP ID
/// and timestamps differ.)
fn assert_pairs(frames: &[Vec<u8>], matched: u64) {
    let mut distinct: Vec<(&[u8], usize)> = Vec::new();
    for f in frames {
        match distinct.iter_mut().find(|(d, _)| *d == f.as_slice()) {
            Some((_, n)) => *n += 1,
            None => distinct.push((f, 1)),
        }
    }
    let counts: Vec<usize> = distinct.iter().map(|(_, n)| *n).collect();
    assert!(distinct.len() >= 5, "{} frames captured", frames.len());
    assert!(
        counts.iter().all(|&n| n == 2),
        "copies per frame: {counts:?}"
    );
    assert_eq!(frames.len() as u64, 2 * matched);
}

#[test]
fn full_duplication_on_ingress_feeds_every_frame_twice_to_the_receiver() {
    let hosts = hosts();
    let capture = capture_in(hosts.a());
    let (a, b_addr) = (hosts.a().clone(), hosts.b().addr());
    gso_off(hosts.b());
    let l = listen(hosts.a(), PORT);
    let rx = receive_all(l);
    let data = pattern(20_000);
    let c = hosts
        .a()
        .run_in(|| {
            let pf = PeerFaults::attach(a.ifindex(), Direction::Ingress).unwrap();
            pf.set(Faults {
                duplicate_ppm: PPM_ONE,
                port: PORT,
                ..Faults::NONE
            })
            .unwrap();
            let dst = SocketAddrV4::new(a.addr(), PORT);
            hosts
                .b()
                .run_in(|| send_all(dst, &data))
                .unwrap()
                .expect("send from B");
            pf.counters().unwrap()
        })
        .unwrap();
    assert_eq!(rx.join().unwrap().expect("receive in A"), data);
    assert!(c.duplicated >= 5 && c.duplicated == c.matched, "{c}");
    assert_eq!(c.copies, c.duplicated, "{c}");
    // The capture tap runs before tc ingress, and again for the copy.
    let frames = captured_tcp_from(&capture, b_addr, Duration::from_millis(300));
    assert_pairs(&frames, c.matched);
}

#[test]
fn corrupted_frames_fail_the_tcp_checksum_on_arrival() {
    let hosts = hosts(); // B has TX checksum offload off: full checksums.
    let capture = capture_in(hosts.a());
    let _l = listen(hosts.a(), PORT);
    let (b, b_addr) = (hosts.b().clone(), hosts.b().addr());
    let dst = SocketAddrV4::new(hosts.a().addr(), PORT);
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            pf.set(Faults {
                corrupt_ppm: PPM_ONE,
                port: PORT,
                ..Faults::NONE
            })
            .unwrap();
            // The receiving kernel on veth does not verify checksums, so the
            // handshake may even complete; whatever B sends is corrupted.
            if let Ok(s) = std::net::TcpStream::connect_timeout(&dst.into(), Duration::from_secs(1))
            {
                let _ = (&s).write_all(&pattern(1000)); // one segment
                std::thread::sleep(Duration::from_millis(200));
            }
            pf.set(Faults::NONE).unwrap();
            pf.counters().unwrap()
        })
        .unwrap();
    assert!(c.corrupted >= 1, "{c}");
    assert_eq!(c.corrupt_skipped, 0, "full checksums: {c}");
    let frames = captured_tcp_from(&capture, b_addr, Duration::from_millis(300));
    assert!(!frames.is_empty());
    let bad = frames.iter().filter(|f| !tcp_checksum_ok(f)).count();
    assert_eq!(
        bad as u64,
        c.corrupted,
        "{} of {} captured frames fail their checksum: {c}",
        bad,
        frames.len()
    );
}

#[test]
fn gso_super_packets_are_not_corrupted_and_their_segments_arrive_intact() {
    let hosts = hosts(); // GSO on in B
    let capture = capture_in(hosts.a());
    let _l = listen(hosts.a(), PORT);
    let (b, b_addr) = (hosts.b().clone(), hosts.b().addr());
    let dst = SocketAddrV4::new(hosts.a().addr(), PORT);
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            let s =
                std::net::TcpStream::connect_timeout(&dst.into(), Duration::from_secs(2)).unwrap();
            pf.set(Faults {
                corrupt_ppm: PPM_ONE,
                port: PORT,
                ..Faults::NONE
            })
            .unwrap();
            // A's kernel buffers this without an accept.
            (&s).write_all(&pattern(60_000)).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            pf.set(Faults::NONE).unwrap();
            pf.counters().unwrap()
        })
        .unwrap();
    assert!(c.corrupt_skipped >= 1, "{c}");
    let frames = captured_tcp_from(&capture, b_addr, Duration::from_millis(300));
    let bad = frames.iter().filter(|f| !tcp_checksum_ok(f)).count();
    assert_eq!(bad as u64, c.corrupted, "{} frames: {c}", frames.len());
}

#[test]
fn drop_removes_the_qdisc_it_created_and_traffic_is_untouched() {
    let hosts = hosts();
    let b = hosts.b().clone();
    let before = qdiscs(&b);
    assert!(!before.contains("clsact"), "{before}");
    hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            assert!(pf.created_qdisc());
            pf.set(Faults {
                drop_ppm: PPM_ONE,
                ..Faults::NONE
            })
            .unwrap();
            assert!(qdiscs(&b).contains("clsact"));
            drop(pf);
            assert_eq!(qdiscs(&b), before, "interface as it was");
            transfer_b_to_a(&hosts, 100_000);
        })
        .unwrap();
}

#[test]
fn drop_leaves_a_clsact_qdisc_that_was_already_there() {
    let hosts = hosts();
    let b = hosts.b().clone();
    b.run("tc", &["qdisc", "add", "dev", b.ifname(), "clsact"])
        .unwrap();
    let filters = |dir: &str| {
        let out = b
            .run("tc", &["filter", "show", "dev", b.ifname(), dir])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Ingress).unwrap();
            assert!(!pf.created_qdisc());
            assert!(filters("ingress").contains("bpf"), "{}", filters("ingress"));
        })
        .unwrap();
    assert!(qdiscs(&b).contains("clsact"), "{}", qdiscs(&b));
    assert_eq!(filters("ingress").trim(), "", "our filter is gone");
}

#[test]
fn ingress_drop_stops_what_b_receives() {
    let hosts = hosts();
    let _l = listen(hosts.a(), PORT);
    let b = hosts.b().clone();
    let dst = SocketAddrV4::new(hosts.a().addr(), PORT);
    let c = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Ingress).unwrap();
            pf.set(Faults {
                drop_ppm: PPM_ONE,
                port: PORT,
                ..Faults::NONE
            })
            .unwrap();
            // B's SYN leaves; A's SYN-ACK is dropped on the way in.
            assert!(
                std::net::TcpStream::connect_timeout(&dst.into(), Duration::from_millis(1500))
                    .is_err()
            );
            pf.counters().unwrap()
        })
        .unwrap();
    assert!(c.dropped >= 1 && c.dropped == c.matched, "{c}");
}

#[test]
fn attaching_to_a_missing_interface_is_a_clear_error() {
    let hosts = hosts();
    let e = hosts
        .b()
        .run_in(|| PeerFaults::attach(9999, Direction::Egress).unwrap_err())
        .unwrap();
    assert!(matches!(e, Error::NoSuchInterface(9999)), "{e}");
    assert!(e.to_string().contains("9999"), "{e}");
}

#[test]
fn rates_above_one_million_are_refused() {
    let hosts = hosts();
    let b = hosts.b().clone();
    let e = hosts
        .b()
        .run_in(|| {
            let pf = PeerFaults::attach(b.ifindex(), Direction::Egress).unwrap();
            pf.set(Faults {
                corrupt_ppm: PPM_ONE + 1,
                ..Faults::NONE
            })
            .unwrap_err()
        })
        .unwrap();
    assert!(matches!(e, Error::BadFaultRate(_)), "{e}");
}
