//! AF_XDP TX checksum offload on self-made test hosts (veth, copy mode):
//! host A sends frames whose TCP/UDP checksum holds only the pseudo-header
//! sum, with a TX metadata request; host B captures what arrives (AF_PACKET,
//! before any checksum handling: B's kernel would not verify them, since veth
//! marks received frames CHECKSUM_UNNECESSARY).
//!
//! What the kernel does here (Linux 6.18, veth), found by these tests:
//! - veth advertises no `xsk-features` (0): `Auto` leaves checksums to
//!   Shunt. veth has no `xsk_tx_metadata_ops`, so it could not take them in
//!   zero-copy anyway (and its zero-copy bind is EOPNOTSUPP).
//! - A UMEM with `XDP_UMEM_TX_SW_CSUM | XDP_UMEM_TX_METADATA_LEN` and 24
//!   bytes of metadata registers; frames with `XDP_TX_METADATA` and
//!   `XDP_TXMD_FLAGS_CHECKSUM` leave the copy path with the checksum
//!   computed by `skb_checksum_help` (net/xdp/xsk.c `xsk_skb_metadata`), and
//!   arrive byte-identical to frames summed in userspace.
//! - Without `XDP_UMEM_TX_SW_CSUM` (tried by forcing the request on veth)
//!   the kernel accepts the same requests, but the copy path hands veth a
//!   CHECKSUM_PARTIAL skb, veth (TX checksum "offload" on) passes it on as
//!   it is, and B captures the pseudo-header sum in the field: B's kernel
//!   TCP would accept it, an XDP or AF_XDP receiver would not. With
//!   `ethtool -K <A's veth> tx off` the stack finishes it in software
//!   (`validate_xmit_skb`) and it arrives complete. Hence `Auto` trusts
//!   only `xsk-features`.

mod common;

use std::io::Read;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::capture::capture_in;
use common::*;
use datapath::io::xdp::{
    BindMode, KernelXskStats, NoOffload, TxChecksum, TxChecksumOffload, Xsk, XskConfig, XskStats,
};
use datapath::wire::checksum::pseudo_header_v4;
use datapath::wire::{IpProtocol, PartialChecksum, TxFrame};
use socket2::Socket;
use testhosts::{Config, Host, TestHosts};

/// Ethernet + IPv4 without options: where TCP and UDP start.
const L4_AT: usize = 34;

fn hosts() -> TestHosts {
    TestHosts::new(Config::default()).expect("create test hosts (root)")
}

/// IPv4 frames from `src` read from `capture` until `want` arrived or 3 s
/// passed.
fn captured_from(capture: &Socket, src: Ipv4Addr, want: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut buf = vec![0u8; 65536];
    let end = Instant::now() + Duration::from_secs(3);
    let mut s = capture;
    while Instant::now() < end && frames.len() < want {
        if let Ok(n) = s.read(&mut buf) {
            let f = &buf[..n];
            if n >= L4_AT && f[12..14] == ETH_IPV4.to_be_bytes() && f[26..30] == src.octets() {
                frames.push(f.to_vec());
            }
        }
    }
    frames
}

/// A frame to B with a complete checksum (`full`), the same frame with only
/// the pseudo-header sum in the field (`partial`), and where the field is.
struct Case {
    full: Vec<u8>,
    partial: Vec<u8>,
    csum: PartialChecksum,
}

fn case(a: &Host, b: &Host, proto: u8, payload: &[u8]) -> Case {
    let (l4, field, protocol) = match proto {
        6 => (
            tcp(a.addr(), b.addr(), 4444, 9, ACK, payload),
            16u16,
            IpProtocol::Tcp,
        ),
        _ => (
            udp(a.addr(), b.addr(), 4444, 9, payload),
            6,
            IpProtocol::Udp,
        ),
    };
    let full = ethernet(
        b.mac(),
        a.mac(),
        ETH_IPV4,
        &ipv4(a.addr(), b.addr(), proto, 0, &[], &l4),
    );
    let mut partial = full.clone();
    let at = L4_AT + usize::from(field);
    // include/linux/skbuff.h CHECKSUM_PARTIAL: the uncomplemented
    // pseudo-header sum in the field.
    let pseudo = pseudo_header_v4(a.addr(), b.addr(), protocol, l4.len() as u32);
    partial[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
    Case {
        full,
        partial,
        csum: PartialChecksum {
            start: L4_AT as u16,
            offset: field,
        },
    }
}

/// TCP segments of every parity and size up to a full frame, and UDP ones.
fn cases(a: &Host, b: &Host) -> Vec<Case> {
    let mut v = Vec::new();
    for (i, len) in [0usize, 1, 2, 3, 17, 100, 511, 1000, 1459, 1460]
        .into_iter()
        .enumerate()
    {
        let payload: Vec<u8> = (0..len).map(|j| (j * 31 + i * 7) as u8).collect();
        v.push(case(a, b, 6, &payload));
        v.push(case(a, b, 17, &payload[..len.min(1400)]));
    }
    v
}

/// Sends every case's partial frame through `xsk` with its checksum request;
/// waits until the kernel completed them.
fn send_partial(xsk: &mut Xsk, cases: &[Case]) -> XskStats {
    for c in cases {
        let sent = xsk.transmit(1, |buf| {
            buf[..c.partial.len()].copy_from_slice(&c.partial);
            Some(TxFrame {
                len: c.partial.len(),
                partial_checksum: Some(c.csum),
            })
        });
        assert_eq!(sent, 1);
        assert_eq!(xsk.flush(100), 0, "kernel took the descriptor");
    }
    let end = Instant::now() + Duration::from_secs(2);
    while xsk.tx_in_flight() > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
        xsk.reclaim();
    }
    xsk.stats()
}

fn assert_arrived_complete(b_capture: &Socket, a: &Host, cases: &[Case]) {
    let got = captured_from(b_capture, a.addr(), cases.len());
    assert_eq!(got.len(), cases.len(), "every frame arrived");
    assert!(
        cases.iter().all(|c| c.partial != c.full),
        "cases are partial"
    );
    for (i, (f, c)) in got.iter().zip(cases).enumerate() {
        assert_eq!(
            f,
            &c.full,
            "frame {i} ({} B) differs from the one summed in userspace",
            c.full.len()
        );
    }
}

/// Makes test hosts, sends every case from A through a socket bound with
/// `cfg`, and checks that each arrived at B complete; returns who finished
/// the checksums and the socket's counters.
fn send_cases_to_b(cfg: XskConfig) -> (TxChecksum, XskStats, KernelXskStats) {
    let hosts = hosts();
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let cases = cases(&a, &b);
    let capture = capture_in(&b);
    let r = hosts
        .a()
        .run_in(|| {
            let mut xsk = Xsk::bind(a.ifindex(), 0, &cfg).expect("bind");
            let stats = send_partial(&mut xsk, &cases);
            let kernel = xsk.kernel_stats().unwrap();
            (xsk.tx_checksum().clone(), stats, kernel)
        })
        .unwrap();
    assert_eq!(r.1.tx_frames, cases.len() as u64);
    assert_arrived_complete(&capture, &a, &cases);
    r
}

#[test]
fn kernel_software_checksums_arrive_byte_identical_to_userspace_ones() {
    let (status, stats, kernel) = send_cases_to_b(XskConfig {
        tx_checksum: TxChecksumOffload::KernelSoftware,
        ..XskConfig::default()
    });
    assert_eq!(status, TxChecksum::KernelSoftware);
    assert_eq!(stats.tx_csum_offloaded, stats.tx_frames);
    assert_eq!(stats.tx_csum_software, 0);
    assert_eq!(kernel.tx_invalid_descs, 0, "the kernel took every request");
}

#[test]
fn auto_on_veth_leaves_checksums_to_shunt_and_says_why() {
    let (status, stats, _) = send_cases_to_b(XskConfig::default());
    // veth has no xsk_tx_metadata_ops: netdev's xsk-features is 0.
    assert_eq!(
        status,
        TxChecksum::Shunt(NoOffload::DeviceLacks { xsk_features: 0 }),
        "{status}"
    );
    assert!(status.to_string().contains("xsk-features 0x0"), "{status}");
    // Partial frames are still sent complete: the ring layer sums them.
    assert_eq!(stats.tx_csum_software, stats.tx_frames);
    assert_eq!(stats.tx_csum_offloaded, 0);
}

#[test]
fn kernel_software_checksums_refuse_zero_copy() {
    let cfg = XskConfig {
        tx_checksum: TxChecksumOffload::KernelSoftware,
        bind: BindMode::ZeroCopy,
        ..XskConfig::default()
    };
    // Refused before any socket exists: no test hosts needed.
    let e = Xsk::bind(1, 0, &cfg).unwrap_err();
    assert!(e.to_string().contains("copy mode"), "{e}");
}
