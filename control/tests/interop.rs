//! Shunt against the Linux TCP stack on self-made test hosts: host A runs
//! Shunt (steering program, AF_XDP, shards), host B is plain Linux. Every
//! transfer is checked byte for byte (hash compare).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use control::{Runtime, RuntimeConfig};
use datapath::apps::{EchoClients, EchoServer};
use datapath::shard::{App, ShardConfig};
use testhosts::{Config, TestHosts};

const PORT: u16 = 7000;

fn hosts() -> TestHosts {
    TestHosts::new(Config::default()).expect("test hosts (root)")
}

fn shunt_config(addr: Ipv4Addr) -> RuntimeConfig {
    let mut cfg = RuntimeConfig::new("veth0", addr, 24);
    cfg.listen_ports = vec![PORT];
    // Two cores: tests must not spin.
    cfg.shard = ShardConfig::blocking();
    cfg.pin_cores = false;
    cfg
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn hash(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Asks the shard `cond` every few milliseconds until it holds or `limit`
/// passes; returns whether it held.
fn wait_for<A: App + 'static>(
    h: &datapath::shard::ShardHandle<A>,
    limit: Duration,
    cond: impl Fn(&mut A, &mut datapath::shard::Ctx<'_>) -> bool + Send + Clone + 'static,
) -> bool {
    let end = Instant::now() + limit;
    loop {
        if h.call(cond.clone()).unwrap() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A kernel TCP client: sends `payload` to `dst`, half-closes, reads the echo
/// to the end; returns the echo.
fn kernel_echo_client(dst: SocketAddrV4, payload: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&dst.into(), Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = s.try_clone()?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        w.write_all(&payload)?;
        w.shutdown(Shutdown::Write)
    });
    let mut echo = Vec::new();
    s.read_to_end(&mut echo)?;
    writer.join().expect("writer")?;
    Ok(echo)
}

/// Runs `f` with Shunt started in host A; stops it afterwards and returns the
/// applications with `f`'s result.
fn with_shunt<A: App + 'static, R: Send>(
    hosts: &TestHosts,
    cfg: RuntimeConfig,
    make_app: impl FnMut(u32) -> A + Send,
    f: impl FnOnce(&Runtime<A>) -> R + Send,
) -> (R, Vec<A>) {
    hosts
        .a()
        .run_in(move || {
            let rt = Runtime::start(cfg, make_app).expect("start Shunt");
            let r = f(&rt);
            (r, rt.stop())
        })
        .expect("enter host A")
}

#[test]
fn linux_clients_get_byte_identical_echoes_from_a_shunt_server() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let sizes = [1usize, 1000, 65_536, 1 << 20, 8 << 20];
    let (results, apps) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoServer::new(PORT, 64),
        |rt| {
            let r = b
                .run_in(|| {
                    sizes
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| {
                            let d = data(n, i as u32);
                            let echo = kernel_echo_client(dst, d.clone())
                                .map_err(|e| format!("{n} B: {e}"))?;
                            Ok::<_, String>((n, hash(&echo) == hash(&d) && echo == d))
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap();
            // It really went through Shunt: the program redirected the frames and
            // the shard received them.
            let c = rt.steering().counters().unwrap();
            let shard = rt.shard_stats()[0];
            assert!(
                c.redirected > 5_000 && shard.rx_frames >= c.redirected - c.redirect_failed,
                "{c} / {shard:?}"
            );
            r
        },
    );
    for r in &results {
        let (n, same) = r.as_ref().expect("transfer");
        assert!(same, "{n} B echo differs");
    }
    assert_eq!(apps[0].accepted, sizes.len() as u64);
}

/// The TCP checksum of an Ethernet/IPv4/TCP frame from `src`: `Some(ok)`,
/// or `None` for any other frame.
fn tcp_checksum_from(frame: &[u8], src: Ipv4Addr) -> Option<bool> {
    use datapath::wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, TcpPacket};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.src_addr() != src || ip.protocol() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    Some(tcp.verify_checksum(ip.src_addr(), ip.dst_addr()))
}

/// Counts (correct, wrong) TCP checksums of the frames from `src` that
/// `host` receives, until `stop` is set.
fn count_checksums_from(
    host: &testhosts::Host,
    src: Ipv4Addr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64)> {
    let capture = host
        .run_in(|| {
            let s = socket2::Socket::new(
                socket2::Domain::PACKET,
                socket2::Type::RAW,
                Some(socket2::Protocol::from(i32::from(0x0003u16.to_be()))),
            )
            .expect("packet socket");
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            s
        })
        .unwrap();
    std::thread::spawn(move || {
        let (mut ok, mut bad) = (0, 0);
        let mut buf = vec![0u8; 65536];
        let mut s = &capture;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(n) = s.read(&mut buf) {
                match tcp_checksum_from(&buf[..n], src) {
                    Some(true) => ok += 1,
                    Some(false) => bad += 1,
                    None => {}
                }
            }
        }
        (ok, bad)
    })
}

/// Shunt leaves its segments' checksums to the kernel (XDP_UMEM_TX_SW_CSUM:
/// veth has no AF_XDP checksum offload). B's kernel does not verify them on
/// veth (it marks received frames CHECKSUM_UNNECESSARY), so a capture on B
/// checks every segment Shunt sent.
#[test]
fn with_tx_checksums_left_to_the_kernel_linux_clients_get_byte_identical_echoes() {
    use datapath::io::xdp::{TxChecksum, TxChecksumOffload};
    use datapath::wire::ChecksumFill;
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let mut cfg = shunt_config(a.addr());
    cfg.xsk.tx_checksum = TxChecksumOffload::KernelSoftware;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counter = count_checksums_from(&b, a.addr(), stop.clone());
    let sizes = [1usize, 1000, 65_536, 1 << 20, 4 << 20];
    let (results, _) = with_shunt(
        &hosts,
        cfg,
        |_| EchoServer::new(PORT, 64),
        |rt| {
            assert_eq!(rt.tx_checksums(), vec![TxChecksum::KernelSoftware]);
            let fill = rt
                .handle(0)
                .unwrap()
                .call(|_, ctx| ctx.endpoint.tx_checksum());
            assert_eq!(fill.unwrap(), ChecksumFill::PseudoHeaderOnly);
            b.run_in(|| {
                sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| {
                        let d = data(n, i as u32 + 50);
                        let echo = kernel_echo_client(dst, d.clone())
                            .map_err(|e| format!("{n} B: {e}"))?;
                        Ok::<_, String>((n, hash(&echo) == hash(&d) && echo == d))
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap()
        },
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, bad) = counter.join().unwrap();
    for r in &results {
        let (n, same) = r.as_ref().expect("transfer");
        assert!(same, "{n} B echo differs");
    }
    assert_eq!(
        bad, 0,
        "segments from Shunt with a wrong checksum ({ok} right)"
    );
    assert!(ok > 1_000, "the capture saw Shunt's segments: {ok}");
}

#[test]
fn many_concurrent_linux_connections_are_echoed() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let (ok, apps) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoServer::new(PORT, 256),
        |_| {
            b.run_in(|| {
                let threads: Vec<_> = (0..32u32)
                    .map(|i| {
                        std::thread::spawn(move || {
                            let d = data(10_000 + i as usize * 997, i);
                            kernel_echo_client(dst, d.clone()).is_ok_and(|e| e == d)
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().unwrap_or(false))
                    .filter(|&x| x)
                    .count()
            })
            .unwrap()
        },
    );
    assert_eq!(ok, 32);
    assert_eq!(apps[0].accepted, 32);
}

#[test]
fn nc_as_a_client_is_echoed() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let payload = data(200_000, 7);
    std::fs::write(format!("/tmp/{}-in", hosts.b().ns()), &payload).unwrap();
    let (out, _) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoServer::new(PORT, 8),
        |_| {
            let script = format!(
                "nc -N -w 10 {} {PORT} < /tmp/{ns}-in > /tmp/{ns}-out",
                a.addr(),
                ns = b.ns()
            );
            b.run("sh", &["-c", &script])
                .map(|_| std::fs::read(format!("/tmp/{}-out", b.ns())).unwrap_or_default())
        },
    );
    let _ = std::fs::remove_file(format!("/tmp/{}-in", hosts.b().ns()));
    let _ = std::fs::remove_file(format!("/tmp/{}-out", hosts.b().ns()));
    let out = out.expect("nc ran");
    assert!(
        out == payload,
        "nc got {} of {} bytes back",
        out.len(),
        payload.len()
    );
}

/// A kernel echo server in host B on `port`, serving `conns` connections.
fn kernel_echo_server(
    b: &testhosts::Host,
    port: u16,
    conns: usize,
) -> std::thread::JoinHandle<Result<usize, testhosts::Error>> {
    let addr = b.addr();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = b.spawn_thread(move || {
        let l = TcpListener::bind((addr, port)).unwrap();
        tx.send(()).unwrap();
        let mut served = 0;
        for _ in 0..conns {
            let Ok((mut c, _)) = l.accept() else { break };
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = vec![0u8; 65536];
            loop {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if c.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = c.shutdown(Shutdown::Write);
            served += 1;
        }
        served
    });
    rx.recv_timeout(Duration::from_secs(5)).expect("server up");
    h
}

#[test]
fn a_shunt_client_gets_byte_identical_echoes_from_a_linux_server() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let server = kernel_echo_server(&b, 9000, 3);
    let dst = SocketAddrV4::new(b.addr(), 9000);
    let sizes = [1usize, 100_000, 4 << 20];
    let (done, apps) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoClients::default(),
        |rt| {
            rt.resolve_neighbor(b.addr()).expect("kernel resolves B");
            let h = rt.handle(0).unwrap();
            for (i, &n) in sizes.iter().enumerate() {
                let d = data(n, 100 + i as u32);
                h.call(move |app, ctx| app.add(ctx, dst, d)).unwrap();
            }
            wait_for(h, Duration::from_secs(60), |app, _| app.all_done())
        },
    );
    assert!(done, "clients did not finish");
    for c in &apps[0].clients {
        assert_eq!(c.error, None);
        assert!(c.matched(), "echo of {} bytes differs", c.received.len());
    }
    assert_eq!(server.join().unwrap().unwrap(), sizes.len());
}

#[test]
fn a_64_mib_stream_is_echoed_intact() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let d = data(64 << 20, 64);
    let expect = hash(&d);
    let (got, _) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoServer::new(PORT, 8),
        |_| {
            b.run_in(move || kernel_echo_client(dst, d).map(|e| (e.len(), hash(&e))))
                .unwrap()
        },
    );
    assert_eq!(got.expect("transfer"), (64 << 20, expect));
}

fn lossy_echo(faults: xdp_prog::Faults) {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let mut cfg = shunt_config(a.addr());
    cfg.faults = faults;
    let (results, _) = with_shunt(
        &hosts,
        cfg,
        |_| EchoServer::new(PORT, 16),
        |rt| {
            let r = b
                .run_in(|| {
                    (0..4u32)
                        .map(|i| {
                            let d = data(300_000 + i as usize * 12_345, 50 + i);
                            kernel_echo_client(dst, d.clone())
                                .map(|e| e == d)
                                .unwrap_or(false)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap();
            let c = rt.steering().counters().unwrap();
            (r, c)
        },
    );
    let (ok, c) = results;
    assert!(
        ok.iter().all(|&x| x),
        "some echo differed or failed: {ok:?}; {c}"
    );
    assert!(
        c.fault_dropped + c.fault_corrupted + c.fault_duplicated > 0,
        "faults were injected: {c}"
    );
}

#[test]
fn echo_survives_one_percent_loss_injected_on_the_shunt_side() {
    lossy_echo(xdp_prog::Faults {
        drop_ppm: 10_000,
        ..xdp_prog::Faults::NONE
    });
}

#[test]
fn echo_survives_five_percent_loss_injected_on_the_shunt_side() {
    lossy_echo(xdp_prog::Faults {
        drop_ppm: 50_000,
        ..xdp_prog::Faults::NONE
    });
}

#[test]
fn echo_survives_corruption_and_duplication_injected_on_the_shunt_side() {
    lossy_echo(xdp_prog::Faults {
        drop_ppm: 0,
        corrupt_ppm: 20_000,
        duplicate_ppm: 20_000,
    });
}

#[test]
fn a_reset_from_the_linux_peer_ends_the_shunt_connection_with_an_error() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let (open_after, apps) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoServer::new(PORT, 8),
        |rt| {
            b.run_in(move || {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.connect_timeout(&dst.into(), Duration::from_secs(5))
                    .unwrap();
                let mut t: TcpStream = s.into();
                t.write_all(b"hello").unwrap();
                let mut buf = [0u8; 5];
                t.read_exact(&mut buf).unwrap();
                // Linger 0: close sends a RST instead of a FIN.
                socket2::SockRef::from(&t)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
                drop(t);
            })
            .unwrap();
            let h = rt.handle(0).unwrap();
            wait_for(h, Duration::from_secs(5), |app, _| app.open() == 0);
            h.call(|app, _| app.open()).unwrap()
        },
    );
    assert_eq!(open_after, 0, "the reset connection was dropped");
    assert_eq!(apps[0].errors, 1, "the application heard of the reset");
}

#[test]
fn a_peer_killed_mid_transfer_leaves_no_connection_behind() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let (open_after, _) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| EchoServer::new(PORT, 8),
        |rt| {
            // nc streams an endless source at the echo server and is killed.
            let cmd = format!("cat /dev/zero | nc {} {PORT} > /dev/null", a.addr());
            let mut p = b.spawn("sh", &["-c", &cmd]).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            let h = rt.handle(0).unwrap();
            let echoed = h.call(|app, _| app.echoed).unwrap();
            assert!(echoed > 0, "data was flowing before the kill");
            // Kill the whole pipeline (the shell's children too).
            let _ = b.run("pkill", &["-9", "-f", &format!("nc {} {PORT}", a.addr())]);
            let _ = p.child().kill();
            let gone = |app: &mut EchoServer, ctx: &mut datapath::shard::Ctx<'_>| {
                app.open() + ctx.endpoint.connection_count() == 0
            };
            if !wait_for(h, Duration::from_secs(10), gone) {
                let dbg = h
                    .call(|app, ctx| format!("{app:?} {:?}", ctx.endpoint.stats()))
                    .unwrap();
                eprintln!("left behind: {dbg}");
            }
            h.call(|app, ctx| app.open() + ctx.endpoint.connection_count())
                .unwrap()
        },
    );
    assert_eq!(open_after, 0);
}

/// Listens with a backlog of 2 and never accepts.
#[derive(Debug, Default)]
struct NeverAccept;

impl App for NeverAccept {
    fn on_start(&mut self, ctx: &mut datapath::shard::Ctx<'_>) {
        ctx.endpoint.listen(PORT, 2).unwrap();
    }
    fn on_event(&mut self, _: &mut datapath::shard::Ctx<'_>, _: datapath::endpoint::EndpointEvent) {
    }
}

#[test]
fn a_full_backlog_drops_further_syns_and_counts_them() {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let (connected, _) = with_shunt(
        &hosts,
        shunt_config(a.addr()),
        |_| NeverAccept,
        |rt| {
            let connected = b
                .run_in(move || {
                    let socks: Vec<_> = (0..5)
                        .map(|_| {
                            TcpStream::connect_timeout(&dst.into(), Duration::from_millis(700))
                                .is_ok()
                        })
                        .collect();
                    socks.into_iter().filter(|&x| x).count()
                })
                .unwrap();
            let full = rt
                .handle(0)
                .unwrap()
                .call(|_, ctx| ctx.endpoint.stats().backlog_full)
                .unwrap();
            (connected, full)
        },
    );
    let (connected, backlog_full) = connected;
    assert_eq!(
        connected, 2,
        "only the backlog's worth completes the handshake"
    );
    assert!(
        backlog_full >= 3,
        "further SYNs dropped and counted: {backlog_full}"
    );
}

/// Starts one Shunt client toward `dst` (after resolving `resolve` through
/// the kernel, if given) and returns the error it ended with.
fn client_error(
    hosts: &TestHosts,
    dst: SocketAddrV4,
    resolve: Option<Ipv4Addr>,
    limit: Duration,
) -> Option<String> {
    let a = hosts.a().clone();
    let (err, _) = with_shunt(
        hosts,
        shunt_config(a.addr()),
        |_| EchoClients::default(),
        move |rt| {
            if let Some(ip) = resolve {
                rt.resolve_neighbor(ip).unwrap();
            }
            let h = rt.handle(0).unwrap();
            h.call(move |app, ctx| app.add(ctx, dst, b"x".to_vec()))
                .unwrap();
            wait_for(h, limit, |app, _| app.all_done());
            h.call(|app, _| app.clients[0].error.clone()).unwrap()
        },
    );
    err
}

#[test]
fn connecting_to_a_closed_linux_port_is_refused() {
    let hosts = hosts();
    let b = hosts.b().clone();
    // Nothing listens on port 9 of host B.
    let err = client_error(
        &hosts,
        SocketAddrV4::new(b.addr(), 9),
        Some(b.addr()),
        Duration::from_secs(5),
    );
    let err = err.expect("an error");
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn connecting_to_a_host_that_never_answers_arp_fails_clearly() {
    let hosts = hosts();
    let dst = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 99), 80);
    let err = client_error(&hosts, dst, None, Duration::from_secs(10)).expect("an error");
    assert!(err.contains("no ARP reply from 198.18.0.99"), "{err}");
}

#[test]
fn two_queues_two_shards_spread_connections_and_keep_data_intact() {
    let hosts = two_queue_hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let mut cfg = shunt_config(a.addr());
    cfg.queues = 2;
    let (ok, apps) = with_shunt(
        &hosts,
        cfg,
        |_| EchoServer::new(PORT, 64),
        |_| {
            b.run_in(|| {
                let threads: Vec<_> = (0..24u32)
                    .map(|i| {
                        std::thread::spawn(move || {
                            let d = data(50_000 + i as usize * 313, 200 + i);
                            kernel_echo_client(dst, d.clone()).is_ok_and(|e| e == d)
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().unwrap_or(false))
                    .filter(|&x| x)
                    .count()
            })
            .unwrap()
        },
    );
    assert_eq!(ok, 24, "every echo intact");
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0].accepted + apps[1].accepted, 24);
    assert!(
        apps[0].accepted > 0 && apps[1].accepted > 0,
        "spread: {} / {}",
        apps[0].accepted,
        apps[1].accepted
    );
}

/// Echo with faults on both sides: the steering program on Shunt's side
/// (frames toward Shunt) and a tc program on the Linux peer's ingress (frames
/// from Shunt).
fn lossy_both_ways(shunt_side: xdp_prog::Faults, peer_side: xdp_prog::peer_fault::Faults) {
    use xdp_prog::peer_fault::{Direction, PeerFaults};
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let dst = SocketAddrV4::new(a.addr(), PORT);
    let mut cfg = shunt_config(a.addr());
    cfg.faults = shunt_side;
    let ((ok, peer_counters), _) = with_shunt(
        &hosts,
        cfg,
        |_| EchoServer::new(PORT, 16),
        |_| {
            b.run_in(|| {
                let pf = PeerFaults::attach(b.ifindex(), Direction::Ingress).expect("tc on B");
                pf.set(peer_side).unwrap();
                let ok: Vec<bool> = (0..3u32)
                    .map(|i| {
                        let d = data(400_000 + i as usize * 7_777, 80 + i);
                        kernel_echo_client(dst, d.clone())
                            .map(|e| e == d)
                            .unwrap_or(false)
                    })
                    .collect();
                (ok, pf.counters().unwrap())
            })
            .unwrap()
        },
    );
    assert!(
        ok.iter().all(|&x| x),
        "some echo differed: {ok:?}; peer side {peer_counters}"
    );
    assert!(
        peer_counters.dropped + peer_counters.corrupted + peer_counters.duplicated > 0,
        "the peer side injected faults: {peer_counters}"
    );
}

#[test]
fn echo_survives_one_percent_loss_on_both_sides() {
    lossy_both_ways(
        xdp_prog::Faults {
            drop_ppm: 10_000,
            ..xdp_prog::Faults::NONE
        },
        xdp_prog::peer_fault::Faults {
            drop_ppm: 10_000,
            ..xdp_prog::peer_fault::Faults::NONE
        },
    );
}

#[test]
fn echo_survives_five_percent_loss_and_corruption_on_both_sides() {
    lossy_both_ways(
        xdp_prog::Faults {
            drop_ppm: 50_000,
            corrupt_ppm: 10_000,
            duplicate_ppm: 0,
        },
        xdp_prog::peer_fault::Faults {
            drop_ppm: 50_000,
            corrupt_ppm: 10_000,
            ..xdp_prog::peer_fault::Faults::NONE
        },
    );
}

fn two_queue_hosts() -> TestHosts {
    TestHosts::new(Config {
        queues: 2,
        ..Config::default()
    })
    .unwrap()
}

/// A Shunt runtime with a shard per queue in host A opens `n` echo
/// connections to `dst` from its first shard, waits until every echo is
/// back (or a minute), then runs `after` on it.
fn two_queue_echo_clients<R: Send>(
    hosts: &TestHosts,
    dst: SocketAddrV4,
    n: u32,
    after: impl FnOnce(&Runtime<EchoClients>) -> R + Send,
) -> ((bool, R), Vec<EchoClients>) {
    let mut cfg = shunt_config(hosts.a().addr());
    cfg.listen_ports.clear();
    cfg.queues = 2;
    with_shunt(
        hosts,
        cfg,
        |_| EchoClients::default(),
        |rt| {
            rt.resolve_neighbor(*dst.ip()).expect("kernel resolves B");
            let h = rt.handle(0).unwrap();
            for i in 0..n {
                let d = data(20_000 + i as usize * 101, 300 + i);
                h.call(move |app, ctx| app.add(ctx, dst, d)).unwrap();
            }
            let done = wait_for(h, Duration::from_secs(60), |app, _| app.all_done());
            (done, after(rt))
        },
    )
}

#[test]
fn with_two_queues_replies_that_land_on_the_other_shard_reach_their_connection() {
    let hosts = two_queue_hosts();
    let b = hosts.b().clone();
    let server = kernel_echo_server(&b, 9000, 16);
    let dst = SocketAddrV4::new(b.addr(), 9000);
    let ((done, stats), apps) = two_queue_echo_clients(&hosts, dst, 16, |rt| {
        // Each shard publishes its counters on its own turns: wait until
        // shard 0 has taken (and counted) every frame handed to it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stats = rt.shard_stats();
        while stats[0].handed_in != stats[1].handed_off && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            stats = rt.shard_stats();
        }
        stats
    });
    assert!(done, "clients did not finish");
    for c in &apps[0].clients {
        assert_eq!(c.error, None);
        assert!(c.matched());
    }
    assert!(
        stats[1].handed_off > 0,
        "some replies hashed to queue 1: {stats:?}"
    );
    assert_eq!(stats[0].handed_in, stats[1].handed_off);
    assert_eq!(server.join().unwrap().unwrap(), 16);
}

/// Shunt on both ends, one shard per queue on each, over a two-queue link:
/// every echo comes back intact.
#[test]
fn two_shard_shunt_client_and_two_shard_shunt_server_exchange_echoes() {
    let hosts = two_queue_hosts();
    let b = hosts.b().clone();
    let dst = SocketAddrV4::new(b.addr(), PORT);
    let mut server_cfg = shunt_config(b.addr());
    server_cfg.queues = 2;
    let server = b
        .run_in(move || Runtime::start(server_cfg, |_| EchoServer::new(PORT, 64)).expect("server"))
        .expect("enter host B");
    let ((done, stats), apps) = two_queue_echo_clients(&hosts, dst, 8, |rt| rt.shard_stats());
    let server_stats = server.shard_stats();
    drop(server.stop());
    assert!(
        done,
        "clients did not finish: client {stats:?} server {server_stats:?}"
    );
    for c in &apps[0].clients {
        assert_eq!(c.error, None);
        assert!(c.matched());
    }
}
