//! `shunt-bench raw`: the packet rates of Shunt's AF_XDP ring layer next to the
//! kernel's UDP sockets, on the same self-made veth pair.
//!
//! AF_XDP: host A builds TCP frames into its UMEM and sends them through the TX
//! ring (copy mode on veth: one `sendto` kick per batch); host B runs the
//! steering program, which redirects them to B's AF_XDP socket, and a thread
//! busy-polls B's RX ring. Kernel: a UDP socket on A sends datagrams of the same
//! frame size to a UDP socket on B. Sender and receiver are pinned to different
//! cores. Rates are counted over a window after a warm-up.

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use datapath::io::xdp::{BindMode, Xsk, XskConfig};
use testhosts::{Config, Host, TestHosts};
use xdp_prog::{AttachMode, Steering};

use crate::timeline::{Timeline, sample_until};
use crate::{BenchError, Result, frames, pin};

const PORT: u16 = 7000;
pub(crate) const WARMUP: Duration = Duration::from_millis(500);

/// Events per second at the sender and the receiver (packets, or bytes for
/// a stream), and the receiver's count over time.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    pub(crate) tx_pps: f64,
    pub(crate) rx_pps: f64,
    pub(crate) timeline: Timeline,
}

pub fn run(seconds: u64, sizes: &[usize]) -> Result<()> {
    for &s in sizes {
        if !(64..=1514).contains(&s) {
            return Err(BenchError(format!("frame size {s} is outside 64..=1514")));
        }
    }
    println!("{}", crate::raw::machine());
    let hosts = TestHosts::new(Config {
        tx_checksum_off: vec![],
        ..Config::default()
    })?;
    let window = Duration::from_secs(seconds.max(1));
    println!(
        "veth pair {} <-> {}, MTU 1500, {}s per figure after {}ms warm-up, sender on core 0, receiver on core 1",
        hosts.a().ns(),
        hosts.b().ns(),
        window.as_secs(),
        WARMUP.as_millis()
    );
    println!();
    println!(
        "{:>6} | {:>12} {:>12} {:>9} | {:>12} {:>12} {:>9} | {:>7}",
        "frame",
        "xsk tx Mpps",
        "xsk rx Mpps",
        "rx Gb/s",
        "udp tx Mpps",
        "udp rx Mpps",
        "rx Gb/s",
        "xsk/udp"
    );
    for &size in sizes {
        let x = xsk_one_way_rate(&hosts, size, WARMUP, window)?;
        let k = udp_rate(&hosts, size, window)?;
        let gbps = |pps: f64| pps * size as f64 * 8.0 / 1e9;
        println!(
            "{:>5}B | {:>12.3} {:>12.3} {:>9.2} | {:>12.3} {:>12.3} {:>9.2} | {:>6.2}x",
            size,
            x.tx_pps / 1e6,
            x.rx_pps / 1e6,
            gbps(x.rx_pps),
            k.tx_pps / 1e6,
            k.rx_pps / 1e6,
            gbps(k.rx_pps),
            x.rx_pps / k.rx_pps.max(1.0)
        );
    }
    Ok(())
}

/// CPU model, cores and kernel, for the record.
pub fn machine() -> String {
    format!(
        "machine: {}, {} cores, Linux {}",
        crate::cpu::cpu_model(),
        control::runtime::online_cpus(),
        crate::cpu::kernel_release()
    )
}

/// Runs `sender` in A (core 0) and `receiver` in B (core 1), both
/// incrementing their counter, and measures both rates over `window` after
/// `warmup`. The receiver calls `ready` once it can take traffic; both stop
/// when the flag is set.
pub(crate) fn measure<S, R>(
    hosts: &TestHosts,
    warmup: Duration,
    window: Duration,
    sender: S,
    receiver: R,
) -> Result<Rate>
where
    S: FnOnce(&Host, &AtomicU64, &AtomicBool) -> Result<()> + Send + 'static,
    R: FnOnce(&Host, &AtomicU64, &AtomicBool, &dyn Fn()) -> Result<()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, received) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let rx_thread = {
        let (b, stop, received) = (hosts.b().clone(), stop.clone(), received.clone());
        hosts.b().spawn_thread(move || {
            pin(1);
            let ready = move || {
                let _ = ready_tx.send(());
            };
            let r = receiver(&b, &received, &stop, &ready);
            stop.store(true, Ordering::Relaxed);
            r
        })
    };
    if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
        stop.store(true, Ordering::Relaxed);
        rx_thread
            .join()
            .map_err(|_| BenchError("receiver panicked".into()))???;
        return Err(BenchError("the receiver did not start".into()));
    }
    let tx_thread = {
        let (a, stop, sent) = (hosts.a().clone(), stop.clone(), sent.clone());
        hosts.a().spawn_thread(move || {
            pin(0);
            let r = sender(&a, &sent, &stop);
            stop.store(true, Ordering::Relaxed);
            r
        })
    };
    let start = Instant::now();
    let mut timeline = Timeline::default();
    let count = || (received.load(Ordering::Relaxed), None);
    sample_until(&mut timeline, start, start + warmup, count);
    let (t0, s0, r0) = (
        Instant::now(),
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    sample_until(&mut timeline, start, t0 + window, count);
    let (t1, s1, r1) = (
        Instant::now(),
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    tx_thread
        .join()
        .map_err(|_| BenchError("sender panicked".into()))???;
    rx_thread
        .join()
        .map_err(|_| BenchError("receiver panicked".into()))???;
    let secs = (t1 - t0).as_secs_f64();
    timeline.window = ((t0 - start).as_secs_f64(), (t1 - start).as_secs_f64());
    Ok(Rate {
        tx_pps: (s1 - s0) as f64 / secs,
        rx_pps: (r1 - r0) as f64 / secs,
        timeline,
    })
}

/// One-way frame rate of the ring layer: A transmits `size`-byte TCP frames
/// through its AF_XDP socket as fast as the TX ring takes them, B's steering
/// program redirects them to B's socket, which busy-polls its RX ring.
pub(crate) fn xsk_one_way_rate(
    hosts: &TestHosts,
    size: usize,
    warmup: Duration,
    window: Duration,
) -> Result<Rate> {
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let frame = frames::tcp_frame(a.mac(), b.mac(), a.addr(), b.addr(), 40000, PORT, size);
    let cfg = XskConfig {
        bind: BindMode::Auto,
        ..XskConfig::default()
    };
    let rx_cfg = cfg.clone();
    measure(
        hosts,
        warmup,
        window,
        move |a, sent, stop| {
            let mut xsk = Xsk::bind(a.ifindex(), 0, &cfg)?;
            while !stop.load(Ordering::Relaxed) {
                let n = xsk.transmit(64, |buf| {
                    let b = buf.get_mut(..frame.len())?;
                    b.copy_from_slice(&frame);
                    Some(frame.len())
                });
                xsk.kick();
                sent.fetch_add(u64::from(n), Ordering::Relaxed);
            }
            Ok(())
        },
        move |b, received, stop, ready| {
            let steer = Steering::attach(b.ifindex(), AttachMode::Auto)?;
            let mut xsk = Xsk::bind(b.ifindex(), 0, &rx_cfg)?;
            steer.bind_queue(0, xsk.fd())?;
            steer.own(b.addr(), PORT)?;
            ready();
            while !stop.load(Ordering::Relaxed) {
                let n = xsk.recv(256, |_| {});
                if n == 0 {
                    std::hint::spin_loop();
                } else {
                    received.fetch_add(u64::from(n), Ordering::Relaxed);
                }
            }
            Ok(())
        },
    )
}

fn udp_rate(hosts: &TestHosts, size: usize, window: Duration) -> Result<Rate> {
    // Ethernet 14 + IPv4 20 + UDP 8 bytes of headers.
    let payload = vec![0x5au8; size - 42];
    let dst = SocketAddrV4::new(hosts.b().addr(), PORT);
    measure(
        hosts,
        WARMUP,
        window,
        move |_a, sent, stop| {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.connect(dst)?;
            while !stop.load(Ordering::Relaxed) {
                let mut n = 0;
                for _ in 0..64 {
                    if s.send(&payload).is_ok() {
                        n += 1;
                    }
                }
                sent.fetch_add(n, Ordering::Relaxed);
            }
            Ok(())
        },
        move |_b, received, stop, ready| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            s.set_recv_buffer_size(8 << 20)?;
            s.bind(&dst.into())?;
            let s: UdpSocket = s.into();
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            ready();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if s.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        },
    )
}
