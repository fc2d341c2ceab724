//! Properties of a link under random profiles and random send schedules, with
//! the invariants checked after every step.

use proptest::prelude::*;

use super::*;
use crate::sim::profile::{GilbertElliott, LinkProfileBuilder};
use crate::sim::rng::Probability;

/// Every frame starts with its 8-byte id, and corruption never touches the
/// first `MIN_PROTECTED_BYTES`, so a delivered frame always names its origin.
const MIN_PROTECTED_BYTES: usize = 8;

fn probability() -> impl Strategy<Value = Probability> {
    prop_oneof![
        2 => Just(Probability::NEVER),
        1 => Just(Probability::ALWAYS),
        4 => (0u32..=300_000_000).prop_map(Probability::from_ppb),
    ]
}

fn duration_up_to(max_ns: u64) -> impl Strategy<Value = Duration> {
    (0..=max_ns).prop_map(Duration::from_nanos)
}

fn burst_loss() -> impl Strategy<Value = Option<GilbertElliott>> {
    proptest::option::of(
        (probability(), probability(), probability(), probability()).prop_map(
            |(good_to_bad, bad_to_good, loss_in_good, loss_in_bad)| GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_in_good,
                loss_in_bad,
            },
        ),
    )
}

prop_compose! {
    fn profile()(
        delay in duration_up_to(10_000_000),
        jitter in duration_up_to(2_000_000),
        loss in probability(),
        burst in burst_loss(),
        duplicate in probability(),
        corrupt in probability(),
        corrupt_max_bits in 1u32..=64,
        protected in MIN_PROTECTED_BYTES..=40,
        reorder in probability(),
        reorder_delay in duration_up_to(2_000_000),
        rate_bps in proptest::option::of(1_000_000u64..=1_000_000_000),
        mtu_bytes in 64usize..=2_000,
        extra_queue_bytes in 0usize..=100_000,
    ) -> LinkProfile {
        LinkProfileBuilder::build(
            LinkProfile::builder()
                .delay(delay)
                .jitter(jitter)
                .loss(loss)
                .burst_loss(burst)
                .duplicate(duplicate)
                .corrupt(corrupt)
                .corrupt_max_bits(corrupt_max_bits)
                .corrupt_protected_bytes(protected)
                .reorder(reorder)
                .reorder_delay(reorder_delay)
                .rate_bps(rate_bps)
                .mtu_bytes(mtu_bytes)
                .queue_limit_bytes(mtu_bytes + extra_queue_bytes),
        )
        .expect("the strategy only builds valid profiles")
    }
}

/// (gap before this send in ns, frame length in bytes).
fn schedule() -> impl Strategy<Value = Vec<(u64, usize)>> {
    proptest::collection::vec((0u64..=200_000, 8usize..=2_100), 1..300)
}

struct Sent {
    at: Instant,
    frame: Vec<u8>,
    deliveries: u32,
}

/// Checks one delivery against what was sent; panics with the reason.
fn check_delivery(profile: &LinkProfile, sent: &mut [Sent], d: &Delivery, last_at: &mut Instant) {
    assert!(d.at >= *last_at, "deliveries go back in time");
    *last_at = d.at;
    let id = u64::from_be_bytes(d.frame[..8].try_into().unwrap());
    let origin = sent
        .get_mut(id as usize)
        .expect("delivered a frame that was never sent");
    assert!(
        d.at >= origin.at + profile.delay(),
        "delivered before send time + delay"
    );
    assert_eq!(d.frame.len(), origin.frame.len(), "length changed");
    let protected = profile.corrupt_protected_bytes().min(d.frame.len());
    assert_eq!(
        d.frame[..protected],
        origin.frame[..protected],
        "protected prefix changed"
    );
    if profile.corrupt().is_never() {
        assert_eq!(d.frame, origin.frame, "changed without corruption");
    }
    origin.deliveries += 1;
    assert!(origin.deliveries <= 2, "delivered more than twice");
}

fn assert_conserved(link: &Link) {
    let s = link.stats();
    assert_eq!(
        s.sent + s.duplicated,
        s.delivered + s.dropped() + link.in_flight() as u64
    );
}

/// Delivers everything due by `until`, polling at each promised time.
fn deliver_until(link: &mut Link, until: Instant, sent: &mut [Sent], last_at: &mut Instant) {
    while let Some(next) = link.next_delivery() {
        if next > until {
            break;
        }
        if next > Instant::ZERO {
            assert!(
                link.poll_recv(next - Duration::from_nanos(1)).is_none(),
                "due early"
            );
        }
        let d = link
            .poll_delivery(next)
            .expect("next_delivery promised a frame");
        assert_eq!(d.at, next);
        let profile = link.profile().clone();
        check_delivery(&profile, sent, &d, last_at);
        assert_conserved(link);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_profiles_and_schedules_conserve_frames_and_respect_time(
        profile in profile(),
        schedule in schedule(),
        seed in any::<u64>(),
    ) {
        let mut link = Link::new(profile.clone(), seed);
        let mut sent: Vec<Sent> = Vec::new();
        let mut now = Instant::ZERO;
        let mut last_at = Instant::ZERO;
        for (i, &(gap_ns, len)) in schedule.iter().enumerate() {
            now += Duration::from_nanos(gap_ns);
            deliver_until(&mut link, now, &mut sent, &mut last_at);
            let mut f: Vec<u8> = (0..len).map(|k| (k * 31 + i) as u8).collect();
            f[..8].copy_from_slice(&(i as u64).to_be_bytes());
            sent.push(Sent { at: now, frame: f.clone(), deliveries: 0 });
            link.send(now, f);
            assert_conserved(&link);
            if profile.rate_bps().is_some() {
                prop_assert!(link.queued_bytes(now) <= profile.queue_limit_bytes());
            }
        }
        deliver_until(&mut link, Instant::NEVER, &mut sent, &mut last_at);

        let s = *link.stats();
        prop_assert_eq!(link.in_flight(), 0);
        prop_assert_eq!(s.sent, schedule.len() as u64);
        prop_assert_eq!(s.delivered + s.dropped(), s.sent + s.duplicated);
        let delivered: u64 = sent.iter().map(|x| u64::from(x.deliveries)).sum();
        prop_assert_eq!(delivered, s.delivered);
        prop_assert!(s.max_queue_bytes <= profile.queue_limit_bytes());
        if profile.reorder().is_never() {
            // Without reordering, arrival order is send order (a duplicate
            // right after its original).
            prop_assert_eq!(s.reordered, 0);
        }
    }

    #[test]
    fn without_reordering_frames_arrive_in_send_order(
        profile in profile(),
        schedule in schedule(),
        seed in any::<u64>(),
    ) {
        let profile = profile.to_builder().reorder(Probability::NEVER).build().unwrap();
        let mut link = Link::new(profile, seed);
        let mut now = Instant::ZERO;
        let mut ids = Vec::new();
        for (i, &(gap_ns, len)) in schedule.iter().enumerate() {
            now += Duration::from_nanos(gap_ns);
            while let Some(d) = link.poll_recv(now) {
                ids.push(u64::from_be_bytes(d[..8].try_into().unwrap()));
            }
            let mut f = vec![0u8; len];
            f[..8].copy_from_slice(&(i as u64).to_be_bytes());
            link.send(now, f);
        }
        while let Some(d) = link.poll_recv(Instant::NEVER) {
            ids.push(u64::from_be_bytes(d[..8].try_into().unwrap()));
        }
        prop_assert!(ids.windows(2).all(|w| w[0] <= w[1]), "{:?}", ids);
    }

    #[test]
    fn same_seed_and_inputs_replay_identically(
        profile in profile(),
        schedule in schedule(),
        seed in any::<u64>(),
    ) {
        let run = || {
            let mut link = Link::new(profile.clone(), seed);
            let mut now = Instant::ZERO;
            let mut log = Vec::new();
            for (i, &(gap_ns, len)) in schedule.iter().enumerate() {
                now += Duration::from_nanos(gap_ns);
                while let Some(d) = link.poll_delivery(now) {
                    log.push(d);
                }
                let mut f = vec![i as u8; len];
                f[..8].copy_from_slice(&(i as u64).to_be_bytes());
                link.send(now, f);
            }
            while let Some(d) = link.poll_delivery(Instant::NEVER) {
                log.push(d);
            }
            (log, *link.stats())
        };
        prop_assert_eq!(run(), run());
    }
}
