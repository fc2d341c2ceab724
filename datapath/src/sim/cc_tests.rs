//! Congestion controllers end to end: whole endpoints over a simulated
//! bottleneck (100 Mbit/s, 20 ms base RTT, a drop-tail queue of one BDP),
//! in virtual time. Bulk flows from node A to node B; goodput is what B's
//! application read, per flow, over a window after convergence.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::cc::Algorithm;
use crate::endpoint::{ConnId, EndpointConfig};
use crate::sim::{LinkProfile, Network, Probability, TraceSample};
use crate::tcp::TcpConfig;
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const RATE_BPS: u64 = 100_000_000;
const ONE_WAY: Duration = Duration::from_millis(10);
/// One bandwidth-delay product: 100 Mbit/s x 20 ms.
const BDP: usize = 250_000;
/// Payload per full segment with timestamps at MTU 1500.
const MSS: f64 = 1448.0;

fn node_cfg(addr: Ipv4Addr, n: u8) -> EndpointConfig {
    let mut c = EndpointConfig::new(addr, 24, EthernetAddress([2, 0, 0, 0, 0, n]), [n; 32]);
    c.tcp = TcpConfig {
        send_buffer: 4 * 1024 * 1024,
        recv_buffer: 4 * 1024 * 1024,
        ..TcpConfig::default()
    };
    c
}

fn bottleneck(loss: Option<f64>) -> LinkProfile {
    let p = LinkProfile::bottleneck(RATE_BPS, ONE_WAY, BDP).expect("valid profile");
    match loss {
        Some(pct) => p
            .to_builder()
            .loss(Probability::from_percent(pct))
            .build()
            .expect("valid profile"),
        None => p,
    }
}

/// What a run measured.
struct Run {
    /// Goodput per flow over the window, bits per second.
    goodput: Vec<f64>,
    /// Trace of each flow's sender.
    traces: Vec<Vec<TraceSample>>,
}

/// Runs one bulk flow per entry of `algs` from A to B over `profile` for
/// `secs` of virtual time (flow k starts `stagger * k` after the first),
/// measuring goodput from `measure_from` to the end.
fn run(
    algs: &[Algorithm],
    profile: &LinkProfile,
    secs: u64,
    measure_from: Duration,
    stagger: Duration,
    seed: u64,
) -> Run {
    let mut net = Network::new();
    let a = net
        .add_node(node_cfg(ADDR_A, 1), profile, seed)
        .expect("node a");
    let b = net
        .add_node(node_cfg(ADDR_B, 2), profile, seed)
        .expect("node b");
    let listener = net.nodes[b].listen(80, 16).expect("listen");
    let start = net.now();
    let end = start + Duration::from_secs(secs);
    let chunk = vec![0x5au8; 256 * 1024];
    let mut senders: Vec<Option<ConnId>> = vec![None; algs.len()];
    let mut receivers: Vec<ConnId> = Vec::new();
    // Which sender each accepted connection belongs to, by local port.
    let mut port_of: Vec<u16> = vec![0; algs.len()];
    let mut got = vec![0u64; algs.len()];
    let mut at_window = vec![0u64; algs.len()];
    let mut window_marked = false;
    let mut buf = vec![0u8; 256 * 1024];
    net.run_until(Duration::from_secs(secs + 1), |net| {
        let now = net.now();
        for (k, alg) in algs.iter().enumerate() {
            if senders[k].is_none() && now >= start + stagger * k as u64 {
                let tcp = TcpConfig {
                    congestion_control: *alg,
                    ..net.nodes[a].config().tcp.clone()
                };
                let id = net.nodes[a]
                    .connect_with(now, SocketAddrV4::new(ADDR_B, 80), tcp)
                    .expect("connect");
                port_of[k] = net.nodes[a].tuple(id).expect("tuple").local.port();
                net.trace(a, id, 8192, Duration::from_millis(5));
                senders[k] = Some(id);
            }
            if let Some(id) = senders[k] {
                while net.nodes[a].send(id, &chunk).is_ok_and(|n| n > 0) {}
            }
        }
        while net.nodes[a].poll_event().is_some() {}
        while net.nodes[b].poll_event().is_some() {}
        while let Ok(Some(id)) = net.nodes[b].accept(listener) {
            receivers.push(id);
        }
        for &id in &receivers {
            let Ok(t) = net.nodes[b].tuple(id) else {
                continue;
            };
            let Some(k) = port_of.iter().position(|p| *p == t.remote.port()) else {
                continue;
            };
            while let Ok(n @ 1..) = net.nodes[b].recv(id, &mut buf) {
                got[k] += n as u64;
            }
        }
        if !window_marked && now >= start + measure_from {
            at_window.clone_from(&got);
            window_marked = true;
        }
        now >= end
    });
    let window = (Duration::from_secs(secs).saturating_sub(measure_from)).as_secs_f64();
    let goodput = got
        .iter()
        .zip(&at_window)
        .map(|(g, w)| (g - w) as f64 * 8.0 / window)
        .collect();
    let traces = senders
        .iter()
        .map(|id| {
            id.and_then(|id| net.trace_of(a, id))
                .map(|t| t.samples().to_vec())
                .unwrap_or_default()
        })
        .collect();
    Run { goodput, traces }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Jain's fairness index of the flows' shares.
fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    sum * sum / (x.len() as f64 * sq)
}

/// The Mathis et al. model: MSS / RTT x C / sqrt(p), C = sqrt(3/2).
fn mathis_bps(loss: f64, rtt: Duration) -> f64 {
    MSS * 8.0 / rtt.as_secs_f64() * (1.5f64).sqrt() / loss.sqrt()
}

fn mbps(bps: f64) -> String {
    format!("{:.1} Mbit/s", bps / 1e6)
}

#[test]
fn bbr_on_a_100_mbit_20_ms_bottleneck_fills_the_pipe_with_a_small_queue_and_probes_rtt() {
    let r = run(
        &[Algorithm::Bbr],
        &bottleneck(None),
        32,
        Duration::from_secs(5),
        Duration::ZERO,
        1,
    );
    let t = &r.traces[0];
    // Exits Startup within 10 round trips of filling the pipe: the pipe is
    // full once the delivery rate reaches the bottleneck's.
    let full_at = t
        .iter()
        .find(|s| s.delivery_rate.is_some_and(|d| d * 8 >= RATE_BPS * 9 / 10))
        .map(|s| s.at)
        .expect("the delivery rate reached the bottleneck rate");
    let startup_end = t
        .iter()
        .find(|s| s.cc_state != "startup")
        .map(|s| s.at)
        .expect("BBR left Startup");
    let rounds = startup_end.saturating_since(full_at).as_secs_f64() / 0.020;
    assert!(
        rounds <= 10.0,
        "left Startup {rounds:.1} round trips after the pipe filled"
    );
    // At least 95% of the bottleneck in steady state (payload over the
    // link's frame rate: 1448 of 1514 bytes per frame is the best possible).
    let best = RATE_BPS as f64 * MSS / 1514.0;
    assert!(
        r.goodput[0] >= 0.95 * best,
        "goodput {} of {}",
        mbps(r.goodput[0]),
        mbps(best)
    );
    // Queue small: median smoothed RTT within 1.25x of the minimum.
    let steady: Vec<_> = t
        .iter()
        .filter(|s| s.at >= Instant::from_millis(5_000) + (t[0].at - Instant::ZERO))
        .collect();
    let srtt = median(
        steady
            .iter()
            .filter_map(|s| s.srtt)
            .map(|d| d.as_secs_f64())
            .collect(),
    );
    let min_rtt = steady
        .iter()
        .filter_map(|s| s.min_rtt)
        .min()
        .expect("min rtt")
        .as_secs_f64();
    assert!(
        srtt <= 1.25 * min_rtt,
        "median srtt {srtt:.4} s vs min rtt {min_rtt:.4} s"
    );
    // ProbeRTT about every 10 s: entered at least twice in 32 s, 8 to 12 s
    // apart.
    let mut entries = Vec::new();
    for w in t.windows(2) {
        if w[1].cc_state == "probe_rtt" && w[0].cc_state != "probe_rtt" {
            entries.push(w[1].at);
        }
    }
    assert!(
        entries.len() >= 2,
        "ProbeRTT entered {} times",
        entries.len()
    );
    for w in entries.windows(2) {
        let gap = w[1].saturating_since(w[0]).as_secs_f64();
        assert!((8.0..=12.5).contains(&gap), "ProbeRTT {gap:.1} s apart");
    }
}

#[test]
fn with_one_percent_loss_bbr_keeps_at_least_80_percent_of_the_bottleneck() {
    let profile = bottleneck(Some(1.0));
    let best = RATE_BPS as f64 * MSS / 1514.0;
    let bbr = run(
        &[Algorithm::Bbr],
        &profile,
        12,
        Duration::from_secs(4),
        Duration::ZERO,
        2,
    );
    assert!(
        bbr.goodput[0] >= 0.80 * best,
        "BBR with 1% loss: {}",
        mbps(bbr.goodput[0])
    );
}

#[test]
fn with_one_percent_loss_window_controllers_fall_to_the_mathis_model() {
    let profile = bottleneck(Some(1.0));
    let model = mathis_bps(0.01, Duration::from_millis(20));
    for alg in [Algorithm::NewReno, Algorithm::Cubic] {
        let r = run(
            &[alg],
            &profile,
            20,
            Duration::from_secs(5),
            Duration::ZERO,
            3,
        );
        let ratio = r.goodput[0] / model;
        assert!(
            (0.4..=2.5).contains(&ratio),
            "{alg} with 1% loss: {} vs Mathis {} ({ratio:.2}x)",
            mbps(r.goodput[0]),
            mbps(model)
        );
    }
}

#[test]
fn two_flows_of_the_same_controller_share_the_bottleneck_fairly() {
    for alg in Algorithm::ALL {
        let r = run(
            &[alg, alg],
            &bottleneck(None),
            40,
            Duration::from_secs(20),
            Duration::from_secs(2),
            4,
        );
        let j = jain(&r.goodput);
        assert!(
            j >= 0.9,
            "{alg}: Jain index {j:.3} ({} / {})",
            mbps(r.goodput[0]),
            mbps(r.goodput[1])
        );
    }
}

#[test]
fn cubic_and_bbr_coexist_without_either_starving() {
    let r = run(
        &[Algorithm::Cubic, Algorithm::Bbr],
        &bottleneck(None),
        40,
        Duration::from_secs(20),
        Duration::from_secs(2),
        5,
    );
    // BBR v1 is known to take most of a shallow (1-BDP) drop-tail queue
    // from loss-based flows (Ware et al., IMC 2019; the reason for BBRv2/v3):
    // the bar is that neither starves, not that they are fair.
    let total: f64 = r.goodput.iter().sum();
    for (name, g) in ["cubic", "bbr"].iter().zip(&r.goodput) {
        assert!(
            *g >= 0.05 * total,
            "{name} got {} of {}",
            mbps(*g),
            mbps(total)
        );
    }
}

/// The veth link of the bench in miniature: 2 Gbit/s, 50 us base RTT, a
/// 200 KB queue, 1% random loss. At microsecond RTTs a loss lands within a
/// round trip of the last recovery's end again and again; every one must be
/// repaired by fast recovery (RFC 6675 5, RFC 8985 6.2), not by the 200 ms
/// minimum RTO, which would idle the link for four thousand round trips.
/// Before the SACK recovery guard was fixed CUBIC took 3 RTOs in this second
/// and kept 49% of the link.
#[test]
fn microsecond_rtt_loss_is_repaired_without_timeouts() {
    const FAST_RATE: u64 = 2_000_000_000;
    let profile = LinkProfile::bottleneck(FAST_RATE, Duration::from_micros(25), 200_000)
        .expect("valid profile")
        .to_builder()
        .loss(Probability::from_percent(1.0))
        .build()
        .expect("valid profile");
    for alg in [Algorithm::Cubic, Algorithm::Bbr] {
        let mut net = Network::new();
        let a = net
            .add_node(node_cfg(ADDR_A, 1), &profile, 7)
            .expect("node a");
        let b = net
            .add_node(node_cfg(ADDR_B, 2), &profile, 7)
            .expect("node b");
        let listener = net.nodes[b].listen(80, 16).expect("listen");
        let tcp = TcpConfig {
            congestion_control: alg,
            ..net.nodes[a].config().tcp.clone()
        };
        let now = net.now();
        let id = net.nodes[a]
            .connect_with(now, SocketAddrV4::new(ADDR_B, 80), tcp)
            .expect("connect");
        let chunk = vec![0u8; 256 * 1024];
        let mut buf = vec![0u8; 256 * 1024];
        let mut rx = None;
        let mut got = 0u64;
        let end = net.now() + Duration::from_secs(1);
        net.run_until(Duration::from_secs(2), |net| {
            while net.nodes[a].send(id, &chunk).is_ok_and(|n| n > 0) {}
            while net.nodes[a].poll_event().is_some() {}
            while net.nodes[b].poll_event().is_some() {}
            if let Ok(Some(r)) = net.nodes[b].accept(listener) {
                rx = Some(r);
            }
            if let Some(r) = rx {
                while let Ok(n @ 1..) = net.nodes[b].recv(r, &mut buf) {
                    got += n as u64;
                }
            }
            net.now() >= end
        });
        let stats = net.nodes[a].conn_stats(id).expect("sender");
        let share = got as f64 * 8.0 / FAST_RATE as f64;
        assert_eq!(stats.rtos, 0, "{alg:?}: {stats:?}");
        assert!(stats.fast_retransmits > 100, "{alg:?}: {stats:?}");
        assert!(share >= 0.8, "{alg:?}: {:.0}% of the link", share * 100.0);
    }
}
