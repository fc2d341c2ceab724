//! The steering program and the AF_XDP ring layer on self-made test hosts:
//! host A runs the program and the sockets, host B is a plain Linux peer.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::capture::capture_in;
use common::*;
use datapath::io::xdp::{BindMode, BoundMode, Xsk, XskConfig};
use socket2::{Domain, Socket, Type};
use testhosts::{Config, Host, TestHosts};
use xdp_prog::{AttachMode, AttachedMode, Faults, META_MAGIC, Steering, XdpAction};

const OWNED: u16 = 7000;

fn hosts(queues: u32) -> TestHosts {
    TestHosts::new(Config {
        queues,
        ..Config::default()
    })
    .expect("create test hosts (root)")
}

/// Whether `ip link` in the host's namespace shows an XDP program.
fn xdp_attached(h: &Host) -> bool {
    let out = h
        .run("ip", &["link", "show", "dev", h.ifname()])
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}

/// Receives frames on `xsk` until `want` returns true for one (then returns
/// it) or `timeout` passes. Blocks in poll(), never spins.
fn recv_until(
    xsk: &mut Xsk,
    timeout: Duration,
    mut want: impl FnMut(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let end = Instant::now() + timeout;
    let mut found = None;
    while found.is_none() && Instant::now() < end {
        if xsk.wait_readable(Duration::from_millis(50)) {
            xsk.recv(64, |f| {
                if found.is_none() && want(f) {
                    found = Some(f.to_vec());
                }
            });
        }
    }
    found
}

/// A kernel TCP connect from host B to `A:port` that is expected to hang (its
/// SYN goes to Shunt): starts it and returns the thread.
fn connect_from_b(
    hosts: &TestHosts,
    port: u16,
    count: usize,
) -> std::thread::JoinHandle<Result<(), testhosts::Error>> {
    let dst = SocketAddrV4::new(hosts.a().addr(), port);
    hosts.b().spawn_thread(move || {
        let socks: Vec<_> = (0..count)
            .filter_map(|_| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
                s.set_nonblocking(true).ok()?;
                let _ = s.connect(&dst.into());
                Some(s)
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        drop(socks);
    })
}

#[test]
fn syn_from_the_kernel_to_an_owned_port_arrives_in_the_rx_ring_with_the_same_bytes() {
    let hosts = hosts(1);
    let a_addr = hosts.a().addr();
    // Capture what B's kernel sends, byte for byte.
    let capture = capture_in(hosts.b());
    let received = hosts
        .a()
        .run_in(|| {
            let steer = Steering::attach(hosts.a().ifindex(), AttachMode::Auto).expect("attach");
            assert_eq!(
                steer.mode(),
                Some(AttachedMode::Native),
                "veth supports native XDP"
            );
            let mut xsk =
                Xsk::bind(hosts.a().ifindex(), 0, &XskConfig::default()).expect("bind xsk");
            assert!(
                matches!(xsk.mode(), BoundMode::Copy { .. }),
                "veth: copy mode"
            );
            steer.bind_queue(0, xsk.fd()).unwrap();
            steer.own(a_addr, OWNED).unwrap();
            let peer = connect_from_b(&hosts, OWNED, 1);
            let got = recv_until(&mut xsk, Duration::from_secs(5), |f| {
                tcp_port_flags(f).is_some_and(|(p, fl)| p == OWNED && fl & SYN != 0)
            });
            let c = steer.counters().unwrap();
            peer.join().unwrap().unwrap();
            assert!(c.redirected >= 1, "{c}");
            got
        })
        .unwrap()
        .expect("the SYN reached the AF_XDP socket");
    // Find the same SYN in B's capture (the kernel retransmits, so any copy).
    let mut sent = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut s = &capture;
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if let Ok(n) = s.read(&mut buf)
            && tcp_port_flags(&buf[..n]).is_some_and(|(p, fl)| p == OWNED && fl & SYN != 0)
        {
            sent.push(buf[..n].to_vec());
        }
        if sent.contains(&received) {
            break;
        }
    }
    assert!(
        sent.contains(&received),
        "received SYN not among the {} captured",
        sent.len()
    );
    assert!(
        tcp_checksum_ok(&received),
        "full checksum (B has tx offload off)"
    );
}

#[test]
fn ping_and_kernel_tcp_to_other_ports_still_work_while_attached() {
    let hosts = hosts(1);
    let a = hosts.a().clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = hosts.a().spawn_thread(move || {
        let steer = Steering::attach(a.ifindex(), AttachMode::Auto).expect("attach");
        steer.own(a.addr(), OWNED).unwrap();
        let l = TcpListener::bind((a.addr(), OWNED + 1)).unwrap();
        ready_tx.send(()).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut b = [0u8; 5];
        c.read_exact(&mut b).unwrap();
        c.write_all(&b).unwrap();
        done_rx.recv_timeout(Duration::from_secs(10)).ok();
        steer.counters().unwrap()
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(xdp_attached(hosts.a()));
    let ping = hosts.b().run(
        "ping",
        &[
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "2",
            &hosts.a().addr().to_string(),
        ],
    );
    assert!(ping.is_ok(), "ping while attached: {ping:?}");
    let dst = SocketAddrV4::new(hosts.a().addr(), OWNED + 1);
    let echoed = hosts
        .b()
        .run_in(move || {
            let mut s = TcpStream::connect_timeout(&dst.into(), Duration::from_secs(5)).unwrap();
            s.write_all(b"hello").unwrap();
            let mut b = [0u8; 5];
            s.read_exact(&mut b).unwrap();
            b
        })
        .unwrap();
    assert_eq!(&echoed, b"hello");
    done_tx.send(()).unwrap();
    let c = server.join().unwrap().unwrap();
    assert!(c.passed > 0 && c.redirected == 0, "{c}");
}

/// Opens a kernel listener on A's `OWNED` port and checks B can talk to it.
fn kernel_serves_owned_port(hosts: &TestHosts) -> bool {
    let a = hosts.a().clone();
    let server = hosts.a().spawn_thread(move || {
        let l = TcpListener::bind((a.addr(), OWNED)).unwrap();
        l.set_nonblocking(false).unwrap();
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"up").unwrap();
    });
    let dst = SocketAddrV4::new(hosts.a().addr(), OWNED);
    let ok = hosts
        .b()
        .run_in(move || {
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(mut s) = TcpStream::connect_timeout(&dst.into(), Duration::from_secs(1)) {
                    let mut b = [0u8; 2];
                    return s.read_exact(&mut b).is_ok() && &b == b"up";
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })
        .unwrap();
    ok && server.join().is_ok()
}

#[test]
fn after_detach_no_program_remains_and_the_owned_port_reaches_the_kernel_again() {
    let hosts = hosts(1);
    let a = hosts.a().clone();
    hosts
        .a()
        .run_in(|| {
            let mut steer = Steering::attach(a.ifindex(), AttachMode::Native).unwrap();
            steer.own(a.addr(), OWNED).unwrap();
            assert!(xdp_attached(&a));
            steer.detach();
            assert!(!xdp_attached(&a), "detach() removed it");
            steer
                .attach_loaded(a.ifindex(), AttachMode::Generic)
                .unwrap();
            assert_eq!(steer.mode(), Some(AttachedMode::Generic));
            assert!(xdp_attached(&a));
        })
        .unwrap();
    assert!(!xdp_attached(hosts.a()), "drop removed it");
    assert!(kernel_serves_owned_port(&hosts));
}

/// Not a test by itself: the child process of the SIGKILL test. It attaches the
/// program in the namespace named by SHUNT_HOLD_NS, says so, and waits.
#[test]
#[ignore = "helper process for the SIGKILL test"]
fn hold_program_until_killed() {
    let Ok(ns) = std::env::var("SHUNT_HOLD_NS") else {
        return;
    };
    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    nix::sched::setns(
        std::os::fd::AsFd::as_fd(&f),
        nix::sched::CloneFlags::CLONE_NEWNET,
    )
    .unwrap();
    let idx = xdp_prog::ifindex("veth0").unwrap();
    let steer = Steering::attach(idx, AttachMode::Auto).unwrap();
    steer.own(Ipv4Addr::UNSPECIFIED, OWNED).unwrap();
    println!("ATTACHED");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(30));
}

#[test]
fn sigkill_of_the_owning_process_leaves_no_program_and_traffic_flows() {
    let hosts = hosts(1);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hold_program_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHUNT_HOLD_NS", hosts.a().ns())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    let end = Instant::now() + Duration::from_secs(20);
    while !seen.contains("ATTACHED") && Instant::now() < end {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.contains("ATTACHED"), "child did not attach: {seen}");
    assert!(xdp_attached(hosts.a()));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The kernel releases the link when the process's files are closed.
    let end = Instant::now() + Duration::from_secs(5);
    while xdp_attached(hosts.a()) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !xdp_attached(hosts.a()),
        "program left behind after SIGKILL"
    );
    assert!(kernel_serves_owned_port(&hosts));
}

#[test]
fn two_queues_one_socket_each_both_receive() {
    let hosts = hosts(2);
    let a = hosts.a().clone();
    let per_queue = hosts
        .a()
        .run_in(|| {
            let steer = Steering::attach(a.ifindex(), AttachMode::Auto).unwrap();
            let mut xsks: Vec<Xsk> = (0..2)
                .map(|q| Xsk::bind(a.ifindex(), q, &XskConfig::default()).unwrap())
                .collect();
            for x in &xsks {
                steer.bind_queue(x.queue(), x.fd()).unwrap();
            }
            steer.own(a.addr(), OWNED).unwrap();
            // Many flows: the peer picks a TX queue per flow hash.
            let peer = connect_from_b(&hosts, OWNED, 32);
            let mut ports: Vec<Vec<u16>> = vec![Vec::new(), Vec::new()];
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end && ports.iter().map(Vec::len).sum::<usize>() < 32 {
                for (q, x) in xsks.iter_mut().enumerate() {
                    if x.wait_readable(Duration::from_millis(10)) {
                        x.recv(64, |f| {
                            if let Some(p) = tcp_src_port(f)
                                && !ports[q].contains(&p)
                            {
                                ports[q].push(p);
                            }
                        });
                    }
                }
            }
            peer.join().unwrap().unwrap();
            ports
        })
        .unwrap();
    assert!(
        !per_queue[0].is_empty() && !per_queue[1].is_empty(),
        "{per_queue:?}"
    );
    // A flow stays on one queue (its retransmitted SYNs too).
    assert!(
        per_queue[0].iter().all(|p| !per_queue[1].contains(p)),
        "{per_queue:?}"
    );
}

#[test]
fn a_frame_sent_through_the_tx_ring_reaches_the_peer_kernel() {
    let hosts = hosts(1);
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let udp_sock = b
        .run_in(|| UdpSocket::bind((b.addr(), 9000)).unwrap())
        .unwrap();
    udp_sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let payload = b"through the TX ring";
    let frame = ethernet(
        b.mac(),
        a.mac(),
        ETH_IPV4,
        &ipv4(
            a.addr(),
            b.addr(),
            17,
            0,
            &[],
            &udp(a.addr(), b.addr(), 4444, 9000, payload),
        ),
    );
    let stats = hosts
        .a()
        .run_in(|| {
            let cfg = XskConfig {
                bind: BindMode::Copy,
                ..XskConfig::default()
            };
            let mut xsk = Xsk::bind(a.ifindex(), 0, &cfg).unwrap();
            let before = xsk.frames_free();
            assert!(xsk.send_copy(&frame));
            assert_eq!(xsk.flush(100), 0, "kernel took the descriptor");
            let end = Instant::now() + Duration::from_secs(2);
            while xsk.tx_in_flight() > 0 && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(1));
                xsk.reclaim();
            }
            assert_eq!(
                xsk.frames_free(),
                before,
                "the frame came back through the completion ring"
            );
            xsk.stats()
        })
        .unwrap();
    assert_eq!(stats.tx_frames, 1);
    let mut buf = [0u8; 64];
    let r = udp_sock.recv_from(&mut buf);
    let snmp = hosts.b().run("cat", &["/proc/net/snmp"]).unwrap();
    let (n, from) = r.unwrap_or_else(|e| {
        panic!(
            "no datagram from the TX ring: {e}\n{}",
            String::from_utf8_lossy(&snmp.stdout)
        )
    });
    assert_eq!(&buf[..n], payload);
    assert_eq!(from, std::net::SocketAddr::from((a.addr(), 4444)));
}

#[test]
fn binding_a_queue_that_does_not_exist_is_a_clear_error() {
    let hosts = hosts(1);
    let a = hosts.a().clone();
    let e = hosts
        .a()
        .run_in(|| Xsk::bind(a.ifindex(), 5, &XskConfig::default()).unwrap_err())
        .unwrap();
    let msg = e.to_string();
    assert!(msg.contains("queue 5"), "{msg}");
}

#[test]
fn rebinding_a_queue_right_after_close_succeeds() {
    let hosts = hosts(1);
    let a = hosts.a().clone();
    hosts
        .a()
        .run_in(|| {
            for _ in 0..3 {
                let x =
                    Xsk::bind(a.ifindex(), 0, &XskConfig::default()).expect("bind (EBUSY retried)");
                drop(x);
            }
        })
        .unwrap();
}

/// Shunt on A's shared address, steering ARP replies only: its request for B
/// goes out through the TX ring, B's kernel answers, and the answer arrives in
/// A's RX ring. Meanwhile A's kernel still answers B's own requests (B's
/// neighbour cache is flushed first, so its ping has to ask), and ping works.
#[test]
fn arp_reply_to_a_request_sent_through_the_tx_ring_arrives_in_the_rx_ring() {
    let hosts = hosts(1);
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let request = arp_request_frame(a.mac(), a.addr(), b.addr());
    let (reply, c, ping) = hosts
        .a()
        .run_in(|| {
            let steer = Steering::attach(a.ifindex(), AttachMode::Auto).expect("attach");
            let mut xsk = Xsk::bind(a.ifindex(), 0, &XskConfig::default()).expect("bind xsk");
            steer.bind_queue(0, xsk.fd()).unwrap();
            steer.steer_arp(a.addr(), true, false).unwrap();
            // A lost request (or reply) is ARP's normal life: ask up to 3 times.
            let mut reply = None;
            for _ in 0..3 {
                assert!(xsk.send_copy(&request));
                assert_eq!(xsk.flush(100), 0, "kernel took the descriptor");
                reply = recv_until(&mut xsk, Duration::from_secs(1), |f| {
                    arp_fields(f).is_some_and(|(op, _, spa, tpa)| {
                        op == ARP_REPLY && spa == b.addr() && tpa == a.addr()
                    })
                });
                if reply.is_some() {
                    break;
                }
            }
            b.run("ip", &["neigh", "flush", "dev", b.ifname()]).unwrap();
            let ping = b.run(
                "ping",
                &["-c", "2", "-i", "0.2", "-W", "2", &a.addr().to_string()],
            );
            (reply, steer.counters().unwrap(), ping)
        })
        .unwrap();
    let reply = reply.unwrap_or_else(|| panic!("no ARP reply in the RX ring: {c}"));
    let (op, sha, spa, tpa) = arp_fields(&reply).unwrap();
    assert_eq!(
        (op, sha, spa, tpa),
        (ARP_REPLY, b.mac(), b.addr(), a.addr())
    );
    assert_eq!(&reply[0..6], &a.mac(), "unicast to A");
    assert!(c.arp_redirected >= 1, "{c}");
    assert_eq!(c.redirected, 0, "no TCP steered: {c}");
    assert!(
        ping.is_ok(),
        "A's kernel stopped answering B's ARP requests or pings: {ping:?} {c}"
    );
    assert!(
        c.passed >= 2,
        "B's request and pings went to A's kernel: {c}"
    );
}

/// BPF_PROG_TEST_RUN with a socket bound in the XSK map: steered ARP is
/// redirected (the positive case the no-socket tests in test_run.rs cannot
/// show), with the plain metadata word even when fault injection would mark,
/// drop or corrupt every TCP frame; ARP the map does not ask for is passed.
#[test]
fn steered_arp_with_a_bound_socket_is_redirected_with_plain_metadata() {
    let hosts = hosts(1);
    let a = hosts.a().clone();
    let peer = hosts.b().addr();
    hosts
        .a()
        .run_in(|| {
            let steer = Steering::load().unwrap();
            let xsk = Xsk::bind(a.ifindex(), 0, &XskConfig::default()).expect("bind xsk");
            steer.bind_queue(0, xsk.fd()).unwrap();
            steer
                .set_faults(Faults {
                    drop_ppm: 1_000_000,
                    corrupt_ppm: 1_000_000,
                    duplicate_ppm: 1_000_000,
                })
                .unwrap();
            let reply = arp_reply_frame(MAC_B, peer, a.mac(), a.addr());
            let request = arp_request_frame(MAC_B, peer, a.addr());

            steer.steer_arp(a.addr(), true, false).unwrap();
            let r = steer.test_run(&reply).unwrap();
            assert_eq!(r.action, XdpAction::Redirect);
            assert_eq!(r.meta, Some(META_MAGIC), "no duplicate flag on ARP");
            assert_eq!(r.frame, reply, "never corrupted");
            assert_eq!(steer.test_run(&request).unwrap().action, XdpAction::Pass);

            steer.steer_arp(a.addr(), true, true).unwrap();
            assert_eq!(
                steer.test_run(&request).unwrap().action,
                XdpAction::Redirect
            );
            let c = steer.counters().unwrap();
            assert_eq!((c.seen, c.arp_redirected, c.passed), (3, 2, 1), "{c}");
            assert_eq!(
                (
                    c.redirected,
                    c.fault_dropped,
                    c.fault_corrupted,
                    c.fault_duplicated
                ),
                (0, 0, 0, 0),
                "{c}"
            );

            steer.steer_arp(a.addr(), false, false).unwrap();
            assert_eq!(steer.test_run(&reply).unwrap().action, XdpAction::Pass);
        })
        .unwrap();
}
