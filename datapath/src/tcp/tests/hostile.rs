//! A hostile peer: random segments (any flags, sequence and acknowledgment
//! numbers, windows, options and payloads) at random times, against
//! connections in every state they can reach. The connection must never
//! panic, never send a segment it cannot parse back, and never hold more
//! bytes than its buffers allow.

use proptest::prelude::*;

use super::pair::{A, B, Pair, parse};
use crate::sim::LinkProfile;
use crate::tcp::{Connection, TcpConfig};
use crate::time::Duration;
use crate::wire::{SeqNum, TcpFlags, TcpRepr, TcpTimestamps};

#[derive(Debug, Clone)]
struct RandomSeg {
    seq_off: i64,
    ack_off: Option<i64>,
    flags: u8,
    window: u16,
    wscale: Option<u8>,
    mss: Option<u16>,
    ts: Option<(u32, u32)>,
    sack: Vec<(i64, i64)>,
    payload: usize,
    advance_ms: u64,
}

fn random_seg() -> impl Strategy<Value = RandomSeg> {
    (
        (
            -70_000i64..140_000,
            proptest::option::of(-70_000i64..140_000),
            any::<u8>(),
        ),
        (
            any::<u16>(),
            proptest::option::of(0u8..20),
            proptest::option::of(any::<u16>()),
        ),
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::collection::vec((-5_000i64..80_000, -5_000i64..80_000), 0..4),
        0usize..3000,
        0u64..400,
    )
        .prop_map(
            |((seq_off, ack_off, flags), (window, wscale, mss), ts, sack, payload, advance_ms)| {
                RandomSeg {
                    seq_off,
                    ack_off,
                    flags,
                    window,
                    wscale,
                    mss,
                    ts,
                    sack,
                    payload,
                    advance_ms,
                }
            },
        )
}

/// Feeds `segs` to `victim` (relative to the peer's view of the sequence
/// space: `base_seq` is what the peer would send, `base_ack` what it would
/// acknowledge), driving output and timers in between.
fn attack(
    victim: &mut Connection,
    now0: crate::time::Instant,
    base_seq: SeqNum,
    base_ack: SeqNum,
    segs: &[RandomSeg],
) {
    let payload = [0x5au8; 3000];
    let mut now = now0;
    let mut buf = vec![0u8; 2048];
    for s in segs {
        let mut sack_ranges = [None; 4];
        for (slot, (l, r)) in sack_ranges.iter_mut().zip(&s.sack) {
            *slot = Some((base_ack + (*l as usize), base_ack + (*r as usize)));
        }
        let seg = TcpRepr {
            src_port: B.port(),
            dst_port: A.port(),
            seq: SeqNum::new(base_seq.raw().wrapping_add(s.seq_off as u32)),
            ack: s
                .ack_off
                .map(|o| SeqNum::new(base_ack.raw().wrapping_add(o as u32))),
            flags: TcpFlags::from_bits(s.flags & !0x10),
            window_len: s.window,
            window_scale: s.wscale,
            mss: s.mss,
            sack_permitted: s.flags & 0x80 != 0,
            sack_ranges,
            timestamps: s.ts.map(|(tsval, tsecr)| TcpTimestamps { tsval, tsecr }),
            payload: &payload[..s.payload],
            ..TcpRepr::default()
        };
        victim.handle_segment(now, &seg);
        let _ = victim.send(&payload[..s.payload / 2]);
        let mut rd = [0u8; 4096];
        let _ = victim.recv(&mut rd);
        for _ in 0..64 {
            let Some(n) = victim.poll_transmit(now, &mut buf) else {
                break;
            };
            assert!(
                parse(&buf[..n], &A, &B).is_some(),
                "emitted an unparseable segment"
            );
        }
        now += Duration::from_millis(s.advance_ms);
        victim.handle_timeout(now);
        while victim.poll_event().is_some() {}
        let info = victim.info();
        assert!(info.rcv_wnd <= victim.config().recv_buffer);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_segments_against_an_established_connection_never_panic(
        segs in proptest::collection::vec(random_seg(), 1..60),
        close_first in any::<u8>(),
    ) {
        let mut p = Pair::new(LinkProfile::clean(), 5, TcpConfig::default(), TcpConfig::default());
        prop_assert!(p.established());
        p.a.send(&[1u8; 50_000]).unwrap();
        p.flush();
        match close_first % 4 {
            1 => p.a.shutdown(),
            2 => p.a.close(p.now),
            3 => { p.b.shutdown(); p.run_until(Duration::from_millis(100), |_| false); }
            _ => {}
        }
        // The peer's next sequence number and what it has acknowledged, as
        // seen in a's last segment.
        let (last_t, last) = p.log_a.last().cloned().unwrap();
        let _ = last_t;
        let seg = parse(&last, &A, &B).unwrap();
        let base_seq = seg.ack.unwrap_or(SeqNum::new(0));
        let base_ack = seg.seq;
        let now = p.now;
        attack(&mut p.a, now, base_seq, base_ack, &segs);
    }

    #[test]
    fn random_segments_against_connecting_and_listening_connections_never_panic(
        segs in proptest::collection::vec(random_seg(), 1..40),
        listen in any::<bool>(),
    ) {
        let now = crate::time::Instant::from_millis(1);
        let iss = SeqNum::new(1_000);
        let mut c = if listen {
            Connection::listen(now, A, B, iss, TcpConfig::default()).unwrap()
        } else {
            Connection::connect(now, A, B, iss, TcpConfig::default()).unwrap()
        };
        attack(&mut c, now, SeqNum::new(7_000_000), iss, &segs);
    }
}
