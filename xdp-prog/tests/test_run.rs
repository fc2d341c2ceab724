//! The steering program on crafted frames through BPF_PROG_TEST_RUN: which
//! frames it redirects, which it passes, what it counts, and fault injection.

mod common;

use common::*;
use std::net::Ipv4Addr;
use xdp_prog::{ARP_REPLIES, ARP_REQUESTS, Counters, Faults, Steering, XdpAction};

const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const OWNED: u16 = 7000;

fn loaded() -> Steering {
    let s = Steering::load().expect("load the steering program (root needed)");
    s.own(LOCAL, OWNED).unwrap();
    s
}

fn run(s: &Steering, frame: &[u8]) -> (XdpAction, Counters) {
    let before = s.counters().unwrap();
    let r = s.test_run(frame).expect("test run");
    (r.action, s.counters().unwrap().since(&before))
}

fn assert_passed(s: &Steering, frame: &[u8], malformed: bool) {
    let (action, c) = run(s, frame);
    assert_eq!(action, XdpAction::Pass);
    assert_eq!(
        c,
        Counters {
            seen: 1,
            passed: 1,
            malformed: u64::from(malformed),
            ..Counters::default()
        }
    );
}

#[test]
fn owned_port_without_a_bound_socket_is_dropped_and_counted() {
    let s = loaded();
    let (action, c) = run(&s, &tcp_frame(PEER, LOCAL, 40000, OWNED, SYN, &[]));
    assert_eq!(action, XdpAction::Drop);
    assert_eq!(
        c,
        Counters {
            seen: 1,
            redirect_failed: 1,
            ..Counters::default()
        }
    );
}

#[test]
fn other_port_is_passed() {
    assert_passed(
        &loaded(),
        &tcp_frame(PEER, LOCAL, 40000, OWNED + 1, SYN, &[]),
        false,
    );
}

#[test]
fn owned_port_on_another_address_is_passed() {
    let other = Ipv4Addr::new(198, 18, 0, 9);
    assert_passed(
        &loaded(),
        &tcp_frame(PEER, other, 40000, OWNED, SYN, &[]),
        false,
    );
}

#[test]
fn wildcard_address_owns_the_port_on_every_address() {
    let s = Steering::load().unwrap();
    s.own(Ipv4Addr::UNSPECIFIED, OWNED).unwrap();
    let other = Ipv4Addr::new(198, 18, 0, 9);
    let (_, c) = run(&s, &tcp_frame(PEER, other, 40000, OWNED, SYN, &[]));
    assert_eq!(
        c.redirect_failed, 1,
        "claimed (no socket bound, so dropped)"
    );
}

#[test]
fn disowned_port_is_passed_again() {
    let s = loaded();
    s.disown(LOCAL, OWNED).unwrap();
    assert!(!s.owns(LOCAL, OWNED).unwrap());
    s.disown(LOCAL, OWNED).expect("disowning twice is fine");
    assert_passed(&s, &tcp_frame(PEER, LOCAL, 40000, OWNED, SYN, &[]), false);
}

#[test]
fn arp_is_passed() {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&MAC_B);
    arp.extend_from_slice(&PEER.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&LOCAL.octets());
    assert_passed(&loaded(), &ethernet([0xff; 6], MAC_B, 0x0806, &arp), false);
}

#[test]
fn icmp_is_passed() {
    let echo = [8u8, 0, 0xf7, 0xff, 0, 0, 0, 0];
    let f = ethernet(MAC_A, MAC_B, ETH_IPV4, &ipv4(PEER, LOCAL, 1, 0, &[], &echo));
    assert_passed(&loaded(), &f, false);
}

#[test]
fn ipv6_is_passed() {
    let mut v6 = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
    v6.extend_from_slice(&[0; 32]);
    v6.extend_from_slice(&tcp(PEER, LOCAL, 40000, OWNED, SYN, &[]));
    assert_passed(&loaded(), &ethernet(MAC_A, MAC_B, 0x86dd, &v6), false);
}

#[test]
fn udp_to_the_owned_port_number_is_passed() {
    let u = udp(PEER, LOCAL, 40000, OWNED, b"hi");
    let f = ethernet(MAC_A, MAC_B, ETH_IPV4, &ipv4(PEER, LOCAL, 17, 0, &[], &u));
    assert_passed(&loaded(), &f, false);
}

#[test]
fn ipv4_with_options_is_passed() {
    let seg = tcp(PEER, LOCAL, 40000, OWNED, SYN, &[]);
    let f = ethernet(
        MAC_A,
        MAC_B,
        ETH_IPV4,
        &ipv4(PEER, LOCAL, 6, 0, &[1, 1, 1, 0], &seg),
    );
    assert_passed(&loaded(), &f, false);
}

#[test]
fn fragments_are_passed() {
    let seg = tcp(PEER, LOCAL, 40000, OWNED, SYN, &[0; 16]);
    let more_fragments = ethernet(
        MAC_A,
        MAC_B,
        ETH_IPV4,
        &ipv4(PEER, LOCAL, 6, 0x2000, &[], &seg),
    );
    assert_passed(&loaded(), &more_fragments, false);
    let later_fragment = ethernet(
        MAC_A,
        MAC_B,
        ETH_IPV4,
        &ipv4(PEER, LOCAL, 6, 0x0003, &[], &seg),
    );
    assert_passed(&loaded(), &later_fragment, false);
}

#[test]
fn truncated_headers_are_passed_and_counted_malformed() {
    let s = loaded();
    let full = tcp_frame(PEER, LOCAL, 40000, OWNED, SYN, &[]);
    // Cut inside the IPv4 header, inside the TCP header.
    for cut in [14 + 10, 14 + 20 + 10] {
        assert_passed(&s, &full[..cut], true);
    }
    // Total length claims more than the frame holds.
    let mut lying = full.clone();
    lying[16..18].copy_from_slice(&200u16.to_be_bytes());
    assert_passed(&s, &lying, true);
    // TCP data offset below 5 words, and past the segment.
    for doff in [4u8, 15] {
        let mut bad = full.clone();
        bad[14 + 20 + 12] = doff << 4;
        assert_passed(&s, &bad, true);
    }
    // IP version 6 in an IPv4 ethertype; IHL below 5.
    let mut v = full.clone();
    v[14] = 0x65;
    assert_passed(&s, &v, true);
    v[14] = 0x44;
    assert_passed(&s, &v, true);
}

#[test]
fn ethernet_padding_after_the_ip_packet_is_fine() {
    let mut f = tcp_frame(PEER, LOCAL, 40000, OWNED, SYN, &[]);
    f.extend_from_slice(&[0; 6]);
    let (_, c) = run(&loaded(), &f);
    assert_eq!(c.redirect_failed, 1, "owned frame, not malformed");
}

#[test]
fn fault_injection_at_zero_percent_touches_nothing() {
    let s = loaded();
    s.set_faults(Faults::NONE).unwrap();
    let f = tcp_frame(PEER, LOCAL, 40000, OWNED, SYN | ACK, b"payload bytes");
    for _ in 0..50 {
        let r = s.test_run(&f).unwrap();
        assert_eq!(r.frame, f);
        assert_eq!(
            r.meta, None,
            "no socket bound, so no redirect and no metadata"
        );
    }
    let c = s.counters().unwrap();
    assert_eq!(
        (c.fault_dropped, c.fault_corrupted, c.fault_duplicated),
        (0, 0, 0)
    );
}

#[test]
fn fault_injection_drop_at_hundred_percent_drops_every_owned_frame() {
    let s = loaded();
    s.set_faults(Faults {
        drop_ppm: 1_000_000,
        ..Faults::NONE
    })
    .unwrap();
    let f = tcp_frame(PEER, LOCAL, 40000, OWNED, ACK, b"x");
    for _ in 0..20 {
        assert_eq!(s.test_run(&f).unwrap().action, XdpAction::Drop);
    }
    let c = s.counters().unwrap();
    assert_eq!((c.fault_dropped, c.redirect_failed), (20, 0));
    // Frames Shunt does not own are never touched by fault injection.
    assert_passed(
        &s,
        &tcp_frame(PEER, LOCAL, 40000, OWNED + 1, ACK, b"x"),
        false,
    );
}

#[test]
fn fault_injection_corrupt_at_hundred_percent_flips_one_bit_the_tcp_checksum_catches() {
    let s = loaded();
    s.set_faults(Faults {
        corrupt_ppm: 1_000_000,
        ..Faults::NONE
    })
    .unwrap();
    let f = tcp_frame(PEER, LOCAL, 40000, OWNED, ACK, &[0x5a; 64]);
    assert!(tcp_checksum_ok(&f));
    for _ in 0..50 {
        let r = s.test_run(&f).unwrap();
        assert_eq!(r.frame.len(), f.len());
        let diff: u32 = r
            .frame
            .iter()
            .zip(&f)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(diff, 1, "exactly one bit flipped");
        let first = r.frame.iter().zip(&f).position(|(a, b)| a != b).unwrap();
        assert!(first >= 34, "flip inside the TCP segment, not at {first}");
        assert!(!tcp_checksum_ok(&r.frame));
    }
    assert_eq!(s.counters().unwrap().fault_corrupted, 50);
}

#[test]
fn fault_rates_above_hundred_percent_are_refused() {
    let s = loaded();
    let e = s
        .set_faults(Faults {
            drop_ppm: 1_000_001,
            ..Faults::NONE
        })
        .unwrap_err();
    assert!(e.to_string().contains("1000001"));
    assert_eq!(Faults::ppm_from_percent(1.0), 10_000);
    assert_eq!(Faults::ppm_from_percent(250.0), 1_000_000);
    assert_eq!(Faults::ppm_from_percent(-1.0), 0);
}

#[test]
fn counters_add_up_over_a_mix_of_frames() {
    let s = loaded();
    let frames = [
        tcp_frame(PEER, LOCAL, 1, OWNED, SYN, &[]),
        tcp_frame(PEER, LOCAL, 1, 22, SYN, &[]),
        tcp_frame(PEER, LOCAL, 1, OWNED, SYN, &[])[..30].to_vec(),
    ];
    for f in &frames {
        s.test_run(f).unwrap();
    }
    let c = s.counters().unwrap();
    assert_eq!(c.seen, 3);
    assert_eq!(
        c.seen,
        c.redirected + c.passed + c.redirect_failed + c.fault_dropped
    );
    assert_eq!((c.passed, c.malformed, c.redirect_failed), (2, 1, 1));
}

/// A reply from PEER to LOCAL, the answer to a request Shunt sent.
fn reply_to_local() -> Vec<u8> {
    arp_reply_frame(MAC_B, PEER, MAC_A, LOCAL)
}

/// A request from PEER asking for LOCAL.
fn request_for_local() -> Vec<u8> {
    arp_request_frame(MAC_B, PEER, LOCAL)
}

#[test]
fn steered_arp_reply_without_a_bound_socket_is_passed_never_dropped() {
    let s = loaded();
    s.steer_arp(LOCAL, true, false).unwrap();
    assert_eq!(s.arp_steering(LOCAL).unwrap(), ARP_REPLIES);
    // Counted as passed only: not malformed, not redirect_failed.
    assert_passed(&s, &reply_to_local(), false);
    // Ethernet padding to the 60-byte minimum changes nothing.
    let mut padded = reply_to_local();
    padded.resize(60, 0);
    assert_passed(&s, &padded, false);
    let c = s.counters().unwrap();
    assert_eq!((c.arp_redirected, c.redirect_failed), (0, 0), "{c}");
}

#[test]
fn arp_request_for_an_address_steered_for_replies_only_is_passed() {
    let s = loaded();
    s.steer_arp(LOCAL, true, false).unwrap();
    assert_passed(&s, &request_for_local(), false);
}

#[test]
fn arp_request_steered_without_a_bound_socket_is_passed() {
    let s = loaded();
    s.steer_arp(LOCAL, false, true).unwrap();
    assert_eq!(s.arp_steering(LOCAL).unwrap(), ARP_REQUESTS);
    assert_passed(&s, &request_for_local(), false);
    s.steer_arp(LOCAL, true, true).unwrap();
    assert_eq!(s.arp_steering(LOCAL).unwrap(), ARP_REPLIES | ARP_REQUESTS);
    assert_passed(&s, &request_for_local(), false);
    assert_passed(&s, &reply_to_local(), false);
}

#[test]
fn arp_for_another_address_is_passed() {
    let s = loaded();
    s.steer_arp(LOCAL, true, true).unwrap();
    let other = Ipv4Addr::new(198, 18, 0, 9);
    assert_passed(&s, &arp_reply_frame(MAC_B, PEER, MAC_A, other), false);
    assert_passed(&s, &arp_request_frame(MAC_B, PEER, other), false);
    // Our address as the *sender* (someone announcing or answering for it) is
    // not steered: only the target protocol address counts.
    assert_passed(&s, &arp_reply_frame(MAC_B, LOCAL, MAC_A, PEER), false);
}

#[test]
fn arp_steering_removed_with_both_flags_false() {
    let s = loaded();
    s.steer_arp(LOCAL, true, true).unwrap();
    s.steer_arp(LOCAL, false, false).unwrap();
    assert_eq!(s.arp_steering(LOCAL).unwrap(), 0);
    s.steer_arp(LOCAL, false, false)
        .expect("removing twice is fine");
    assert_passed(&s, &reply_to_local(), false);
}

#[test]
fn arp_operations_other_than_request_and_reply_are_passed() {
    let s = loaded();
    s.steer_arp(LOCAL, true, true).unwrap();
    for op in [0u16, 3, 4, 8, 9] {
        let f = ethernet(MAC_A, MAC_B, ETH_ARP, &arp(op, MAC_B, PEER, MAC_A, LOCAL));
        assert_passed(&s, &f, false);
    }
}

#[test]
fn truncated_arp_is_passed_and_counted_malformed() {
    let s = loaded();
    s.steer_arp(LOCAL, true, true).unwrap();
    let full = reply_to_local();
    // Inside the fixed part (htype..op), and inside the addresses: the last
    // byte of the target protocol address missing.
    for cut in [14, 14 + 3, 14 + 7, 14 + 8, 14 + 20, full.len() - 1] {
        assert_passed(&s, &full[..cut], true);
    }
}

#[test]
fn arp_for_other_hardware_or_protocols_is_passed() {
    let s = loaded();
    s.steer_arp(LOCAL, true, true).unwrap();
    let good = reply_to_local();
    // htype 6 (IEEE 802), ptype IPv6, hlen 8, plen 16: each alone.
    for (at, bytes) in [
        (14, &[0u8, 6][..]),
        (16, &[0x86, 0xdd][..]),
        (18, &[8][..]),
        (19, &[16][..]),
    ] {
        let mut f = good.clone();
        f[at..at + bytes.len()].copy_from_slice(bytes);
        assert_passed(&s, &f, false);
    }
    // A short packet of another hardware type is not "truncated Ethernet
    // ARP": its fixed part says it is something else.
    let mut short = good[..14 + 8].to_vec();
    short[15] = 6;
    assert_passed(&s, &short, false);
}

#[test]
fn fault_injection_at_hundred_percent_never_touches_arp() {
    let s = loaded();
    s.steer_arp(LOCAL, true, true).unwrap();
    s.set_faults(Faults {
        drop_ppm: 1_000_000,
        corrupt_ppm: 1_000_000,
        duplicate_ppm: 1_000_000,
    })
    .unwrap();
    for f in [reply_to_local(), request_for_local()] {
        for _ in 0..10 {
            let r = s.test_run(&f).unwrap();
            assert_eq!(r.action, XdpAction::Pass);
            assert_eq!(r.frame, f, "not corrupted");
            assert_eq!(r.meta, None);
        }
    }
    let c = s.counters().unwrap();
    assert_eq!(
        (c.fault_dropped, c.fault_corrupted, c.fault_duplicated),
        (0, 0, 0),
        "{c}"
    );
    assert_eq!(c.passed, 20, "{c}");
    // TCP to the owned port is still dropped by the same settings.
    let tcp = tcp_frame(PEER, LOCAL, 40000, OWNED, ACK, b"x");
    assert_eq!(s.test_run(&tcp).unwrap().action, XdpAction::Drop);
}

#[test]
fn counters_display_and_since_include_arp_redirected() {
    let later = Counters {
        seen: 5,
        arp_redirected: 3,
        ..Counters::default()
    };
    let earlier = Counters {
        seen: 1,
        arp_redirected: 1,
        ..Counters::default()
    };
    assert_eq!(later.since(&earlier).arp_redirected, 2);
    assert!(later.to_string().contains("arp_redirected 3"), "{later}");
}

#[test]
fn ports_in_the_owned_range_are_claimed_and_others_are_not() {
    let s = Steering::load().unwrap();
    s.own_port_range(LOCAL, 61000, 65535).unwrap();
    for (port, claimed) in [
        (61000, true),
        (65535, true),
        (62001, true),
        (60999, false),
        (22, false),
    ] {
        let (_, c) = run(&s, &tcp_frame(PEER, LOCAL, 80, port, ACK, &[]));
        assert_eq!(c.redirect_failed == 1, claimed, "port {port}");
    }
    // Another address is not covered; the wildcard address is.
    let other = Ipv4Addr::new(198, 18, 0, 9);
    let (_, c) = run(&s, &tcp_frame(PEER, other, 80, 62000, ACK, &[]));
    assert_eq!(c.passed, 1);
    s.own_port_range(Ipv4Addr::UNSPECIFIED, 61000, 65535)
        .unwrap();
    let (_, c) = run(&s, &tcp_frame(PEER, other, 80, 62000, ACK, &[]));
    assert_eq!(c.redirect_failed, 1);
    // Removing the range gives the ports back.
    s.own_port_range(Ipv4Addr::UNSPECIFIED, 0, 0).unwrap();
    let (_, c) = run(&s, &tcp_frame(PEER, LOCAL, 80, 62000, ACK, &[]));
    assert_eq!(c.passed, 1);
}
