//! Behaviour of one link, one impairment at a time, at explicit virtual times.

use super::*;
use crate::sim::profile::{DEFAULT_MTU_BYTES, GilbertElliott};
use crate::sim::rng::Probability;

const SEED: u64 = 0x5eed;

/// A frame of `len` bytes (at least 8) whose first 8 bytes are `id`, big-endian,
/// and whose other bytes are a pattern derived from it.
fn frame(id: u64, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (id as usize).wrapping_add(i * 7) as u8)
        .collect();
    f[..8].copy_from_slice(&id.to_be_bytes());
    f
}

fn id_of(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[..8].try_into().unwrap())
}

/// Polls at each delivery time in turn until nothing is left.
fn drain(link: &mut Link) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(t) = link.next_delivery() {
        let d = link
            .poll_delivery(t)
            .expect("next_delivery promised a frame");
        assert_eq!(d.at, t);
        out.push(d);
    }
    out
}

/// Sends `n` frames of `len` bytes, one every `gap`, from time zero, polling
/// whatever is due before each send; returns every delivery.
fn run(link: &mut Link, n: u64, len: usize, gap: Duration) -> Vec<Delivery> {
    let mut out = Vec::new();
    for i in 0..n {
        let now = Instant::ZERO + gap * i;
        while let Some(d) = link.poll_delivery(now) {
            out.push(d);
        }
        link.send(now, frame(i, len));
    }
    out.extend(drain(link));
    out
}

fn profile(b: crate::sim::LinkProfileBuilder) -> LinkProfile {
    b.build().expect("valid test profile")
}

/// FNV-1a, 64 bits: a stable hash of our own, so the value means the same
/// in every build.
fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

fn hash_log(log: &[Delivery]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for d in log {
        fnv1a(&mut h, &d.at.as_nanos().to_be_bytes());
        fnv1a(&mut h, &(d.frame.len() as u64).to_be_bytes());
        fnv1a(&mut h, &d.frame);
    }
    h
}

fn assert_conserved(link: &Link) {
    let s = link.stats();
    assert_eq!(
        s.sent + s.duplicated,
        s.delivered + s.dropped() + link.in_flight() as u64,
        "{s:?}"
    );
}

#[test]
fn clean_link_delivers_every_frame_once_in_order_after_exactly_the_delay() {
    let delay = Duration::from_millis(7);
    let mut link = Link::new(profile(LinkProfile::builder().delay(delay)), SEED);
    let gap = Duration::from_micros(13);
    let log = run(&mut link, 1000, 100, gap);
    assert_eq!(log.len(), 1000);
    for (i, d) in log.iter().enumerate() {
        assert_eq!(d.frame, frame(i as u64, 100));
        assert_eq!(d.at, Instant::ZERO + gap * i as u64 + delay);
    }
    let s = link.stats();
    assert_eq!(
        (s.sent, s.delivered, s.dropped(), s.duplicated),
        (1000, 1000, 0, 0)
    );
    assert_eq!((s.sent_bytes, s.delivered_bytes), (100_000, 100_000));
}

#[test]
fn frames_sent_at_the_same_instant_arrive_in_send_order() {
    let mut link = Link::new(LinkProfile::clean(), SEED);
    for i in 0..10 {
        link.send(Instant::ZERO, frame(i, 20));
    }
    let ids: Vec<u64> = drain(&mut link).iter().map(|d| id_of(&d.frame)).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
}

#[test]
fn nothing_is_delivered_before_it_is_due() {
    let mut link = Link::new(LinkProfile::clean(), SEED);
    link.send(Instant::from_millis(1), frame(1, 64));
    let due = Instant::from_millis(1) + LinkProfile::clean().delay();
    assert_eq!(link.poll_recv(due - Duration::from_nanos(1)), None);
    assert_eq!(link.poll_recv(due), Some(frame(1, 64)));
    assert_eq!(link.poll_recv(Instant::NEVER), None);
}

#[test]
fn total_loss_delivers_nothing() {
    let mut link = Link::new(LinkProfile::lossy(100.0), SEED);
    let log = run(&mut link, 10_000, 64, Duration::from_micros(1));
    assert!(log.is_empty());
    assert_eq!(link.stats().dropped_loss, 10_000);
    assert_eq!(link.next_delivery(), None);
}

#[test]
fn loss_rate_over_100k_frames_matches_the_profile() {
    let mut link = Link::new(LinkProfile::lossy(3.0), SEED);
    let log = run(&mut link, 100_000, 64, Duration::from_nanos(100));
    let lost = link.stats().dropped_loss;
    // Expect 3,000; the standard deviation is about 54, so +-400 is over seven
    // deviations (and the seed is fixed: this is deterministic anyway).
    assert!((2_600..=3_400).contains(&lost), "{lost}");
    assert_eq!(log.len() as u64, 100_000 - lost);
    assert_conserved(&link);
}

#[test]
fn burst_loss_matches_the_gilbert_elliott_rate_and_burst_length() {
    // Enter a burst with 1 %, leave with 25 %: lose 0.01 / 0.26 = 3.85 % of
    // frames, in runs of 4 on average.
    let ge = GilbertElliott::bursts(
        Probability::from_percent(1.0),
        Probability::from_percent(25.0),
    );
    let mut link = Link::new(profile(LinkProfile::builder().burst_loss(Some(ge))), SEED);
    let log = run(&mut link, 100_000, 64, Duration::from_nanos(100));
    let lost = link.stats().dropped_loss;
    assert!((3_300..=4_400).contains(&lost), "{lost}");
    // Count runs of consecutive missing ids.
    let mut runs = 0;
    let mut expected = 0;
    for d in &log {
        let id = id_of(&d.frame);
        if id != expected {
            runs += 1;
        }
        expected = id + 1;
    }
    if expected != 100_000 {
        runs += 1;
    }
    let mean_run = lost as f64 / f64::from(runs);
    assert!((3.3..=4.7).contains(&mean_run), "{mean_run}");
}

#[test]
fn enabling_duplication_does_not_change_which_frames_are_lost() {
    let lossy = LinkProfile::lossy(10.0);
    let both = profile(
        lossy
            .to_builder()
            .duplicate(Probability::from_percent(30.0)),
    );
    let ids = |p: LinkProfile| {
        let mut link = Link::new(p, SEED);
        let mut ids: Vec<u64> = run(&mut link, 2_000, 64, Duration::from_micros(1))
            .iter()
            .map(|d| id_of(&d.frame))
            .collect();
        ids.dedup();
        ids
    };
    assert_eq!(ids(lossy), ids(both));
}

#[test]
fn duplication_delivers_exact_copies() {
    let mut link = Link::new(
        profile(LinkProfile::builder().duplicate(Probability::from_percent(20.0))),
        SEED,
    );
    let log = run(&mut link, 5_000, 200, Duration::from_micros(10));
    let dups = link.stats().duplicated;
    assert!((800..=1_200).contains(&dups), "{dups}");
    assert_eq!(log.len() as u64, 5_000 + dups);
    let mut seen = vec![0u32; 5_000];
    for d in &log {
        let id = id_of(&d.frame);
        assert_eq!(d.frame, frame(id, 200), "a copy differs from its original");
        seen[id as usize] += 1;
    }
    assert!(seen.iter().all(|&n| n == 1 || n == 2));
    assert_eq!(seen.iter().filter(|&&n| n == 2).count() as u64, dups);
}

#[test]
fn duplicate_follows_its_original_when_there_is_no_jitter() {
    let mut link = Link::new(
        profile(LinkProfile::builder().duplicate(Probability::ALWAYS)),
        SEED,
    );
    link.send(Instant::ZERO, frame(1, 30));
    link.send(Instant::ZERO, frame(2, 30));
    let ids: Vec<u64> = drain(&mut link).iter().map(|d| id_of(&d.frame)).collect();
    assert_eq!(ids, [1, 1, 2, 2]);
}

#[test]
fn corruption_flips_bits_only_past_the_protected_prefix_and_keeps_the_length() {
    let protected = 20;
    let mut link = Link::new(
        profile(
            LinkProfile::builder()
                .corrupt(Probability::ALWAYS)
                .corrupt_max_bits(5)
                .corrupt_protected_bytes(protected),
        ),
        SEED,
    );
    let log = run(&mut link, 2_000, 60, Duration::from_micros(1));
    assert_eq!(log.len(), 2_000);
    assert_eq!(link.stats().corrupted, 2_000);
    let mut max_flipped = 0;
    for (i, d) in log.iter().enumerate() {
        let original = frame(i as u64, 60);
        assert_eq!(d.frame.len(), original.len());
        assert_eq!(d.frame[..protected], original[..protected]);
        let flipped: u32 = d
            .frame
            .iter()
            .zip(&original)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert!((1..=5).contains(&flipped), "{flipped} bits flipped");
        max_flipped = max_flipped.max(flipped);
    }
    assert_eq!(max_flipped, 5, "the full range of bit counts is used");
}

#[test]
fn corruption_can_reach_every_bit_past_the_prefix() {
    let mut link = Link::new(
        profile(
            LinkProfile::builder()
                .corrupt(Probability::ALWAYS)
                .corrupt_protected_bytes(14),
        ),
        SEED,
    );
    let mut hit = [0u8; 2];
    for i in 0..2_000 {
        let f = vec![0u8; 16];
        link.send(Instant::from_nanos(i), f);
    }
    for d in drain(&mut link) {
        hit[0] |= d.frame[14];
        hit[1] |= d.frame[15];
        assert!(d.frame[..14].iter().all(|&b| b == 0));
    }
    assert_eq!(hit, [0xff, 0xff]);
}

#[test]
fn corruption_leaves_frames_no_longer_than_the_prefix_alone() {
    let mut link = Link::new(
        profile(
            LinkProfile::builder()
                .corrupt(Probability::ALWAYS)
                .corrupt_protected_bytes(14),
        ),
        SEED,
    );
    link.send(Instant::ZERO, frame(1, 14));
    link.send(Instant::ZERO, frame(2, 8));
    link.send(Instant::ZERO, Vec::new());
    let log = drain(&mut link);
    assert_eq!(log[0].frame, frame(1, 14));
    assert_eq!(log[1].frame, frame(2, 8));
    assert!(log[2].frame.is_empty());
    assert_eq!(link.stats().corrupted, 0);
}

#[test]
fn reordering_delivers_some_frames_after_later_ones() {
    let mut link = Link::new(LinkProfile::reordering(), SEED);
    let log = run(&mut link, 10_000, 100, Duration::from_micros(50));
    assert_eq!(log.len(), 10_000);
    let ids: Vec<u64> = log.iter().map(|d| id_of(&d.frame)).collect();
    let inversions = ids.windows(2).filter(|w| w[1] < w[0]).count();
    let held = link.stats().reordered;
    assert!((400..=600).contains(&held), "{held}");
    // A frame held back 1 ms is overtaken by the ~20 frames sent after it.
    assert!(
        inversions as u64 >= held * 9 / 10,
        "{inversions} inversions, {held} held"
    );
    // Every frame still arrives exactly once.
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn jitter_without_reordering_never_reorders() {
    let delay = Duration::from_millis(2);
    let jitter = Duration::from_millis(3);
    let mut link = Link::new(
        profile(LinkProfile::builder().delay(delay).jitter(jitter)),
        SEED,
    );
    // Frames 10 us apart against 3 ms of jitter: order would be lost at once
    // if jitter were allowed to reorder.
    let gap = Duration::from_micros(10);
    let log = run(&mut link, 10_000, 100, gap);
    assert_eq!(link.stats().reordered, 0);
    let mut distinct_delays = std::collections::BTreeSet::new();
    for (i, d) in log.iter().enumerate() {
        assert_eq!(id_of(&d.frame), i as u64);
        let sent = Instant::ZERO + gap * i as u64;
        assert!(
            d.at >= sent + delay,
            "delivered before the propagation delay"
        );
        distinct_delays.insert(d.at - sent);
    }
    assert!(distinct_delays.len() > 1000, "jitter varies the delay");
}

#[test]
fn jitter_on_sparse_traffic_stays_within_its_bound() {
    let delay = Duration::from_millis(1);
    let jitter = Duration::from_micros(500);
    let mut link = Link::new(
        profile(LinkProfile::builder().delay(delay).jitter(jitter)),
        SEED,
    );
    // Frames further apart than the jitter never wait for one another.
    let gap = Duration::from_millis(1);
    let log = run(&mut link, 2_000, 100, gap);
    let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
    for (i, d) in log.iter().enumerate() {
        let extra = d.at - (Instant::ZERO + gap * i as u64 + delay);
        lo = lo.min(extra);
        hi = hi.max(extra);
    }
    assert!(hi <= jitter);
    assert!(
        lo < Duration::from_micros(5) && hi > Duration::from_micros(495),
        "{lo} {hi}"
    );
}

#[test]
fn bottleneck_spaces_deliveries_by_serialization_time() {
    let delay = Duration::from_millis(10);
    let p = LinkProfile::bottleneck(100_000_000, delay, 100 * DEFAULT_MTU_BYTES).unwrap();
    let mut link = Link::new(p, SEED);
    for i in 0..20 {
        link.send(Instant::ZERO, frame(i, 1500));
    }
    let log = drain(&mut link);
    assert_eq!(log.len(), 20);
    for (k, d) in log.iter().enumerate() {
        // 1500 B * 8 / 100 Mbit/s = 120 us per frame.
        assert_eq!(
            d.at,
            Instant::ZERO + delay + Duration::from_micros(120) * (k as u64 + 1)
        );
        assert_eq!(id_of(&d.frame), k as u64);
    }
}

#[test]
fn bottleneck_keeps_the_exact_long_run_rate() {
    // 100 B at 7 Mbit/s is 114,285.714... ns: no whole number of nanoseconds.
    let p = LinkProfile::bottleneck(7_000_000, Duration::ZERO, 1_000_000).unwrap();
    let mut link = Link::new(p, SEED);
    for i in 0..1_000 {
        link.send(Instant::ZERO, frame(i, 100));
    }
    let last = drain(&mut link).last().unwrap().at;
    // 1000 * 800 bits / 7e6 bit/s = 114,285,714.28... ns.
    assert_eq!(last, Instant::from_nanos(114_285_714));
}

#[test]
fn an_idle_bottleneck_starts_serializing_at_once() {
    let p = LinkProfile::bottleneck(100_000_000, Duration::from_millis(1), 10_000).unwrap();
    let mut link = Link::new(p, SEED);
    link.send(Instant::ZERO, frame(0, 1500));
    link.send(Instant::from_millis(5), frame(1, 1500));
    let at: Vec<Instant> = drain(&mut link).iter().map(|d| d.at).collect();
    assert_eq!(
        at,
        [
            Instant::from_micros(1_120),
            Instant::from_micros(5_000 + 1_120),
        ]
    );
}

#[test]
fn drop_tail_drops_when_the_queue_is_full_and_counts_it() {
    let p = LinkProfile::bottleneck(100_000_000, Duration::from_millis(1), 3_000).unwrap();
    let mut link = Link::new(p, SEED);
    for i in 0..5 {
        link.send(Instant::ZERO, frame(i, 1500));
    }
    assert_eq!(link.stats().dropped_queue, 3);
    assert_eq!(link.queued_bytes(Instant::ZERO), 3_000);
    assert_eq!(link.stats().max_queue_bytes, 3_000);
    // Once the first frame is serialized there is room for one more.
    let t = Instant::from_micros(120);
    link.send(t, frame(5, 1500));
    link.send(t, frame(6, 1500));
    assert_eq!(link.stats().dropped_queue, 4);
    let ids: Vec<u64> = drain(&mut link).iter().map(|d| id_of(&d.frame)).collect();
    assert_eq!(ids, [0, 1, 5]);
    assert_conserved(&link);
}

#[test]
fn queue_occupancy_and_trace_follow_admission_and_serialization() {
    let p = LinkProfile::bottleneck(100_000_000, Duration::from_millis(1), 10_000).unwrap();
    let mut link = Link::new(p, SEED);
    link.record_queue_trace(100);
    link.send(Instant::ZERO, frame(0, 1500));
    link.send(Instant::ZERO, frame(1, 1000));
    assert_eq!(link.queued_bytes(Instant::ZERO), 2_500);
    assert_eq!(link.queued_bytes(Instant::from_micros(119)), 2_500);
    assert_eq!(link.queued_bytes(Instant::from_micros(120)), 1_000);
    assert_eq!(link.queued_bytes(Instant::from_micros(200)), 0);
    drain(&mut link);
    let us = |t: u64, b: usize| QueueSample {
        at: Instant::from_micros(t),
        queued_bytes: b,
    };
    assert_eq!(
        link.queue_trace(),
        [us(0, 1_500), us(0, 2_500), us(120, 1_000), us(200, 0)]
    );
    assert_eq!(link.take_queue_trace().len(), 4);
    assert!(link.queue_trace().is_empty());
}

#[test]
fn queue_trace_keeps_at_most_its_capacity_and_counts_the_rest() {
    let p = LinkProfile::bottleneck(1_000_000_000, Duration::ZERO, 1_000_000).unwrap();
    let mut link = Link::new(p, SEED);
    link.record_queue_trace(10);
    run(&mut link, 100, 100, Duration::from_micros(1));
    assert_eq!(link.queue_trace().len(), 10);
    assert_eq!(link.queue_trace_dropped(), 190);
}

#[test]
fn oversize_frame_is_dropped_and_counted() {
    let mut link = Link::new(profile(LinkProfile::builder().mtu_bytes(1500)), SEED);
    link.send(Instant::ZERO, frame(0, 1500));
    link.send(Instant::ZERO, frame(1, 1501));
    link.send(Instant::ZERO, frame(2, 9000));
    let ids: Vec<u64> = drain(&mut link).iter().map(|d| id_of(&d.frame)).collect();
    assert_eq!(ids, [0]);
    assert_eq!(link.stats().dropped_mtu, 2);
    assert_eq!(link.stats().sent, 3);
}

#[test]
fn same_seed_gives_byte_identical_deliveries_and_another_seed_differs() {
    let go = |seed| {
        let mut link = Link::new(LinkProfile::mixed(), seed);
        let log = run(&mut link, 5_000, 1_200, Duration::from_micros(90));
        (hash_log(&log), *link.stats())
    };
    let (a, stats_a) = go(1);
    let (b, stats_b) = go(1);
    let (c, _) = go(2);
    assert_eq!(a, b);
    assert_eq!(stats_a, stats_b);
    assert_ne!(a, c);
}

#[test]
fn mixed_profile_exercises_every_impairment_and_conserves_frames() {
    let mut link = Link::new(LinkProfile::mixed(), SEED);
    // 1200 B every 90 us is 107 Mbit/s into a 100 Mbit/s bottleneck.
    run(&mut link, 20_000, 1_200, Duration::from_micros(90));
    let s = *link.stats();
    assert!(s.dropped_loss > 0 && s.dropped_queue > 0, "{s:?}");
    assert!(
        s.duplicated > 0 && s.corrupted > 0 && s.reordered > 0,
        "{s:?}"
    );
    assert!(s.max_queue_bytes <= 125_000);
    assert_eq!(link.in_flight(), 0);
    assert_conserved(&link);
}

#[test]
fn next_delivery_is_the_time_of_the_next_frame_poll_recv_returns() {
    let mut link = Link::new(LinkProfile::mixed(), SEED);
    let mut t = Instant::ZERO;
    for i in 0..2_000 {
        t += Duration::from_micros(37);
        link.send(t, frame(i, 700));
        // Interleave: deliver whatever is due, checking the promise each time.
        while let Some(next) = link.next_delivery() {
            if next > t {
                break;
            }
            if next > Instant::ZERO {
                assert_eq!(link.poll_recv(next - Duration::from_nanos(1)), None);
            }
            assert_eq!(link.poll_delivery(next).map(|d| d.at), Some(next));
        }
    }
    let mut last = Instant::ZERO;
    while let Some(next) = link.next_delivery() {
        assert!(next >= last, "delivery times never go backwards");
        assert_eq!(link.poll_recv(next - Duration::from_nanos(1)), None);
        assert!(link.poll_recv(next).is_some());
        last = next;
    }
    assert_eq!(link.poll_recv(Instant::NEVER), None);
}

#[test]
fn time_going_backwards_counts_as_no_time_passing() {
    let delay = Duration::from_millis(1);
    let mut link = Link::new(profile(LinkProfile::builder().delay(delay)), SEED);
    link.send(Instant::from_millis(10), frame(0, 64));
    link.send(Instant::from_millis(3), frame(1, 64));
    let log = drain(&mut link);
    assert_eq!(log[1].at, Instant::from_millis(10) + delay);
}

#[test]
fn recycled_buffers_are_reused_for_copies_and_the_pool_is_bounded() {
    let mut link = Link::new(
        profile(LinkProfile::builder().duplicate(Probability::ALWAYS)),
        SEED,
    );
    for _ in 0..POOL_CAPACITY + 10 {
        link.recycle(Vec::with_capacity(4096));
    }
    assert_eq!(link.pool.len(), POOL_CAPACITY);
    link.send(Instant::ZERO, frame(1, 100));
    let log = drain(&mut link);
    assert_eq!(log[0].frame, log[1].frame);
    assert_eq!(
        log[1].frame.capacity(),
        4096,
        "the copy went into a pooled buffer"
    );
    assert_eq!(link.pool.len(), POOL_CAPACITY - 1);
}

#[test]
fn extreme_configs_do_not_panic() {
    let p = profile(
        LinkProfile::builder()
            .delay(Duration::MAX)
            .jitter(Duration::MAX)
            .reorder(Probability::ALWAYS)
            .reorder_delay(Duration::MAX)
            .rate_bps(Some(1))
            .mtu_bytes(usize::MAX)
            .queue_limit_bytes(usize::MAX)
            .corrupt(Probability::ALWAYS)
            .corrupt_max_bits(64)
            .corrupt_protected_bytes(usize::MAX)
            .duplicate(Probability::ALWAYS),
    );
    let mut link = Link::new(p, SEED);
    link.send(Instant::NEVER, frame(0, 1 << 16));
    link.send(Instant::ZERO, Vec::new());
    assert_eq!(link.next_delivery(), Some(Instant::NEVER));
    assert_eq!(drain(&mut link).len(), 4);
    assert_conserved(&link);
}

#[test]
fn corruption_restricted_to_an_ethertype_leaves_other_frames_intact() {
    let profile = LinkProfile::builder()
        .corrupt(Probability::ALWAYS)
        .corrupt_ethertype(Some(0x0800))
        .build()
        .unwrap();
    let mut link = Link::new(profile, 9);
    let mut ipv4 = vec![0u8; 64];
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut arp = vec![0u8; 64];
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    link.send(Instant::ZERO, ipv4.clone());
    link.send(Instant::ZERO, arp.clone());
    let later = Instant::from_millis(1000);
    assert_ne!(link.poll_recv(later).unwrap(), ipv4, "IPv4 corrupted");
    assert_eq!(link.poll_recv(later).unwrap(), arp, "ARP untouched");
}
