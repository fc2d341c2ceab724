//! What a simulated link does to the frames it carries: [`LinkProfile`], its
//! builder, and the presets that seeded sweeps iterate over.
//!
//! A `LinkProfile` is always valid: the only ways to get one are the presets
//! (valid by construction) and [`LinkProfileBuilder::build`], which rejects a
//! configuration that cannot work with a [`ProfileError`] that says why. A
//! [`Link`](super::Link) built from a profile therefore never has to check it,
//! and never panics on it.

use super::rng::Probability;
use crate::time::Duration;

/// Ethernet II header length: the default protected prefix for corruption, so
/// that corrupted frames still reach the IP and TCP checksums.
pub const ETHERNET_HEADER_BYTES: usize = 14;

/// Default largest frame: a 1500-byte IP MTU plus the Ethernet header (the FCS
/// is not carried).
pub const DEFAULT_MTU_BYTES: usize = 1500 + ETHERNET_HEADER_BYTES;

/// Default one-way propagation delay of the presets (a 10 ms round trip).
pub const DEFAULT_DELAY: Duration = Duration::from_millis(5);

/// Most bits one corruption event may flip. Bounded so that choosing distinct
/// bit positions stays a small, allocation-free loop.
pub const MAX_CORRUPT_BITS: u32 = 64;

/// Gilbert-Elliott burst loss: a two-state Markov chain stepped once per frame.
///
/// In the good state a frame is lost with probability `loss_in_good`, in the bad
/// state with `loss_in_bad`. After the loss decision the chain moves from good to
/// bad with probability `good_to_bad` and from bad to good with `bad_to_good`.
/// The chain starts good. Long-run loss rate is
/// `(r * loss_in_good + p * loss_in_bad) / (p + r)` with `p = good_to_bad`,
/// `r = bad_to_good`, and the mean stay in the bad state is `1 / r` frames.
/// `bad_to_good` = 0 makes the bad state absorbing; that is allowed (an outage).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GilbertElliott {
    pub good_to_bad: Probability,
    pub bad_to_good: Probability,
    pub loss_in_good: Probability,
    pub loss_in_bad: Probability,
}

impl GilbertElliott {
    /// The classic Gilbert model: no loss while good, every frame lost while
    /// bad. Bursts have a mean length of `1 / bad_to_good` frames.
    pub fn bursts(good_to_bad: Probability, bad_to_good: Probability) -> GilbertElliott {
        GilbertElliott {
            good_to_bad,
            bad_to_good,
            loss_in_good: Probability::NEVER,
            loss_in_bad: Probability::ALWAYS,
        }
    }
}

/// Why a [`LinkProfileBuilder`] refused a configuration.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A bottleneck of 0 bit/s would never send anything; use no rate (an
    /// unlimited link) or 100 % loss for a dead link.
    #[error("bottleneck rate must be at least 1 bit/s (use no rate for an unlimited link)")]
    ZeroRate,
    /// An MTU of 0 bytes drops every frame, which is certainly a mistake.
    #[error("MTU must be at least 1 byte")]
    ZeroMtu,
    /// With a bottleneck, a queue smaller than the MTU could never hold a
    /// full-size frame, so such frames would all be dropped.
    #[error("queue limit of {queue_limit_bytes} B is below the MTU of {mtu_bytes} B")]
    QueueBelowMtu {
        queue_limit_bytes: usize,
        mtu_bytes: usize,
    },
    /// Corruption flips between 1 and [`MAX_CORRUPT_BITS`] bits.
    #[error("corruption must flip 1 to {MAX_CORRUPT_BITS} bits per frame, not {0}")]
    CorruptBitsOutOfRange(u32),
}

/// The behaviour of one direction of a simulated link.
///
/// Read the fields through the accessors; change them through
/// [`to_builder`](LinkProfile::to_builder). See the [module docs](super) for
/// the order in which a frame meets each impairment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkProfile {
    delay: Duration,
    jitter: Duration,
    loss: Probability,
    burst_loss: Option<GilbertElliott>,
    duplicate: Probability,
    corrupt: Probability,
    corrupt_max_bits: u32,
    corrupt_protected_bytes: usize,
    /// Corrupt only frames with this EtherType (bytes 12..14), if set.
    corrupt_ethertype: Option<u16>,
    reorder: Probability,
    reorder_delay: Duration,
    rate_bps: Option<u64>,
    queue_limit_bytes: usize,
    mtu_bytes: usize,
}

impl LinkProfile {
    /// A builder starting from [`clean`](LinkProfile::clean).
    pub fn builder() -> LinkProfileBuilder {
        LinkProfile::clean().to_builder()
    }

    /// A builder starting from this profile.
    pub fn to_builder(&self) -> LinkProfileBuilder {
        LinkProfileBuilder { p: self.clone() }
    }

    /// No impairment at all: every frame arrives once, intact, in order,
    /// [`DEFAULT_DELAY`] after it was sent. Unlimited rate, MTU
    /// [`DEFAULT_MTU_BYTES`]. The other presets are this plus one thing.
    pub fn clean() -> LinkProfile {
        LinkProfile {
            delay: DEFAULT_DELAY,
            jitter: Duration::ZERO,
            loss: Probability::NEVER,
            burst_loss: None,
            duplicate: Probability::NEVER,
            corrupt: Probability::NEVER,
            corrupt_max_bits: 1,
            corrupt_protected_bytes: ETHERNET_HEADER_BYTES,
            corrupt_ethertype: None,
            reorder: Probability::NEVER,
            reorder_delay: Duration::ZERO,
            rate_bps: None,
            // Only used with a rate; 64 full-size frames, comfortably above the MTU.
            queue_limit_bytes: 64 * DEFAULT_MTU_BYTES,
            mtu_bytes: DEFAULT_MTU_BYTES,
        }
    }

    /// Independent random loss of `percent` % of frames (clamped to 0..=100).
    pub fn lossy(percent: f64) -> LinkProfile {
        LinkProfile {
            loss: Probability::from_percent(percent),
            ..LinkProfile::clean()
        }
    }

    /// 5 % of frames held back by an extra 1 ms, so that the frames sent in
    /// the next millisecond overtake them; 100 us of jitter on top.
    pub fn reordering() -> LinkProfile {
        LinkProfile {
            reorder: Probability::from_percent(5.0),
            reorder_delay: Duration::from_millis(1),
            jitter: Duration::from_micros(100),
            ..LinkProfile::clean()
        }
    }

    /// 5 % of frames delivered twice.
    pub fn duplicating() -> LinkProfile {
        LinkProfile {
            duplicate: Probability::from_percent(5.0),
            ..LinkProfile::clean()
        }
    }

    /// 2 % of frames with 1 to 3 bits flipped past the Ethernet header.
    pub fn corrupting() -> LinkProfile {
        LinkProfile {
            corrupt: Probability::from_percent(2.0),
            corrupt_max_bits: 3,
            ..LinkProfile::clean()
        }
    }

    /// Some of everything: a 100 Mbit/s bottleneck with a one-BDP queue,
    /// 1 % random loss plus short loss bursts, 1 % duplication, 1 % corruption,
    /// 2 % reordering and 200 us of jitter.
    pub fn mixed() -> LinkProfile {
        LinkProfile {
            jitter: Duration::from_micros(200),
            loss: Probability::from_percent(1.0),
            // Enter a burst once per 1000 frames, stay about 3 frames, lose half.
            burst_loss: Some(GilbertElliott {
                good_to_bad: Probability::from_ratio(1, 1000),
                bad_to_good: Probability::from_ratio(1, 3),
                loss_in_good: Probability::NEVER,
                loss_in_bad: Probability::from_percent(50.0),
            }),
            duplicate: Probability::from_percent(1.0),
            corrupt: Probability::from_percent(1.0),
            corrupt_max_bits: 3,
            reorder: Probability::from_percent(2.0),
            reorder_delay: Duration::from_millis(1),
            rate_bps: Some(100_000_000),
            // 100 Mbit/s * 10 ms round trip = 125,000 bytes.
            queue_limit_bytes: 125_000,
            ..LinkProfile::clean()
        }
    }

    /// A bottleneck of `rate_bps` with a drop-tail queue of `queue_limit_bytes`
    /// and a one-way propagation delay of `delay` (half the base round trip).
    /// No other impairment. Fails like [`LinkProfileBuilder::build`] on a zero
    /// rate or a queue smaller than the MTU.
    pub fn bottleneck(
        rate_bps: u64,
        delay: Duration,
        queue_limit_bytes: usize,
    ) -> Result<LinkProfile, ProfileError> {
        LinkProfile::builder()
            .rate_bps(Some(rate_bps))
            .delay(delay)
            .queue_limit_bytes(queue_limit_bytes)
            .build()
    }

    /// One-way propagation delay, added to every frame.
    pub fn delay(&self) -> Duration {
        self.delay
    }
    /// Largest extra delay, drawn uniformly from `0..=jitter` per frame.
    pub fn jitter(&self) -> Duration {
        self.jitter
    }
    /// Independent per-frame loss.
    pub fn loss(&self) -> Probability {
        self.loss
    }
    /// Burst loss, in addition to [`loss`](LinkProfile::loss).
    pub fn burst_loss(&self) -> Option<GilbertElliott> {
        self.burst_loss
    }
    /// Chance that a frame is delivered twice.
    pub fn duplicate(&self) -> Probability {
        self.duplicate
    }
    /// Chance that a frame has bits flipped.
    pub fn corrupt(&self) -> Probability {
        self.corrupt
    }
    /// Most bits flipped in one corrupted frame (at least 1).
    pub fn corrupt_max_bits(&self) -> u32 {
        self.corrupt_max_bits
    }
    /// Leading bytes of a frame that corruption never touches.
    pub fn corrupt_protected_bytes(&self) -> usize {
        self.corrupt_protected_bytes
    }
    /// The only EtherType corruption touches, if restricted.
    pub fn corrupt_ethertype(&self) -> Option<u16> {
        self.corrupt_ethertype
    }
    /// Chance that a frame is held back by [`reorder_delay`](LinkProfile::reorder_delay).
    pub fn reorder(&self) -> Probability {
        self.reorder
    }
    /// Extra delay of a reordered frame.
    pub fn reorder_delay(&self) -> Duration {
        self.reorder_delay
    }
    /// Bottleneck rate in bits per second; `None` is unlimited.
    pub fn rate_bps(&self) -> Option<u64> {
        self.rate_bps
    }
    /// Drop-tail limit of the bottleneck queue (ignored without a rate).
    pub fn queue_limit_bytes(&self) -> usize {
        self.queue_limit_bytes
    }
    /// Largest frame carried, headers included.
    pub fn mtu_bytes(&self) -> usize {
        self.mtu_bytes
    }
}

impl Default for LinkProfile {
    fn default() -> LinkProfile {
        LinkProfile::clean()
    }
}

/// Builds a [`LinkProfile`]; every setter takes and returns the builder, and
/// [`build`](LinkProfileBuilder::build) checks the whole.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct LinkProfileBuilder {
    p: LinkProfile,
}

impl LinkProfileBuilder {
    /// One-way propagation delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.p.delay = delay;
        self
    }
    /// Uniform extra delay in `0..=jitter`. Without reordering, jitter never
    /// changes the order of frames (see the [module docs](super)).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.p.jitter = jitter;
        self
    }
    /// Independent per-frame loss.
    pub fn loss(mut self, loss: Probability) -> Self {
        self.p.loss = loss;
        self
    }
    /// Gilbert-Elliott burst loss on top of independent loss; `None` disables.
    pub fn burst_loss(mut self, burst_loss: Option<GilbertElliott>) -> Self {
        self.p.burst_loss = burst_loss;
        self
    }
    /// Chance of delivering a frame twice.
    pub fn duplicate(mut self, duplicate: Probability) -> Self {
        self.p.duplicate = duplicate;
        self
    }
    /// Chance of flipping bits in a frame.
    pub fn corrupt(mut self, corrupt: Probability) -> Self {
        self.p.corrupt = corrupt;
        self
    }
    /// Most bits flipped per corrupted frame, `1..=`[`MAX_CORRUPT_BITS`].
    pub fn corrupt_max_bits(mut self, bits: u32) -> Self {
        self.p.corrupt_max_bits = bits;
        self
    }
    /// Leading bytes that corruption never touches. A frame no longer than this
    /// cannot be corrupted (and is not counted as corrupted).
    pub fn corrupt_protected_bytes(mut self, bytes: usize) -> Self {
        self.p.corrupt_protected_bytes = bytes;
        self
    }
    /// Corrupts only frames of this EtherType (e.g. 0x0800, IPv4): the model
    /// of errors that pass the Ethernet FCS but meet an IP or TCP checksum.
    /// ARP has no checksum of its own, so corrupting it would only test that
    /// ARP cannot detect corruption.
    pub fn corrupt_ethertype(mut self, ethertype: Option<u16>) -> Self {
        self.p.corrupt_ethertype = ethertype;
        self
    }
    /// Chance of holding a frame back by the reorder delay.
    pub fn reorder(mut self, reorder: Probability) -> Self {
        self.p.reorder = reorder;
        self
    }
    /// Extra delay of a held-back frame.
    pub fn reorder_delay(mut self, delay: Duration) -> Self {
        self.p.reorder_delay = delay;
        self
    }
    /// Bottleneck rate in bits per second; `None` for an unlimited link.
    pub fn rate_bps(mut self, rate_bps: Option<u64>) -> Self {
        self.p.rate_bps = rate_bps;
        self
    }
    /// Drop-tail limit of the bottleneck queue, in bytes.
    pub fn queue_limit_bytes(mut self, bytes: usize) -> Self {
        self.p.queue_limit_bytes = bytes;
        self
    }
    /// Largest frame carried, headers included.
    pub fn mtu_bytes(mut self, bytes: usize) -> Self {
        self.p.mtu_bytes = bytes;
        self
    }

    /// The profile, or why it cannot work.
    pub fn build(self) -> Result<LinkProfile, ProfileError> {
        let p = self.p;
        if p.mtu_bytes == 0 {
            return Err(ProfileError::ZeroMtu);
        }
        if !(1..=MAX_CORRUPT_BITS).contains(&p.corrupt_max_bits) {
            return Err(ProfileError::CorruptBitsOutOfRange(p.corrupt_max_bits));
        }
        if p.rate_bps == Some(0) {
            return Err(ProfileError::ZeroRate);
        }
        if p.rate_bps.is_some() && p.queue_limit_bytes < p.mtu_bytes {
            return Err(ProfileError::QueueBelowMtu {
                queue_limit_bytes: p.queue_limit_bytes,
                mtu_bytes: p.mtu_bytes,
            });
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_passes_its_own_validation() {
        for p in [
            LinkProfile::clean(),
            LinkProfile::lossy(3.0),
            LinkProfile::reordering(),
            LinkProfile::duplicating(),
            LinkProfile::corrupting(),
            LinkProfile::mixed(),
        ] {
            assert_eq!(p.to_builder().build(), Ok(p.clone()));
        }
    }

    #[test]
    fn builder_rejects_a_zero_rate() {
        let r = LinkProfile::builder().rate_bps(Some(0)).build();
        assert_eq!(r, Err(ProfileError::ZeroRate));
        assert_eq!(
            LinkProfile::bottleneck(0, Duration::from_millis(1), 100_000),
            Err(ProfileError::ZeroRate)
        );
    }

    #[test]
    fn builder_rejects_a_zero_mtu() {
        assert_eq!(
            LinkProfile::builder().mtu_bytes(0).build(),
            Err(ProfileError::ZeroMtu)
        );
    }

    #[test]
    fn builder_rejects_a_queue_smaller_than_the_mtu_only_with_a_rate() {
        let small = LinkProfile::builder().queue_limit_bytes(1000);
        assert!(
            small.clone().build().is_ok(),
            "no rate: the queue limit is unused"
        );
        assert_eq!(
            small.rate_bps(Some(1_000_000)).build(),
            Err(ProfileError::QueueBelowMtu {
                queue_limit_bytes: 1000,
                mtu_bytes: DEFAULT_MTU_BYTES
            })
        );
    }

    #[test]
    fn builder_rejects_corruption_of_zero_or_too_many_bits() {
        for bits in [0, MAX_CORRUPT_BITS + 1, u32::MAX] {
            assert_eq!(
                LinkProfile::builder().corrupt_max_bits(bits).build(),
                Err(ProfileError::CorruptBitsOutOfRange(bits))
            );
        }
        assert!(
            LinkProfile::builder()
                .corrupt_max_bits(MAX_CORRUPT_BITS)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn bottleneck_preset_sets_rate_delay_and_queue() {
        let p = LinkProfile::bottleneck(10_000_000, Duration::from_millis(20), 50_000).unwrap();
        assert_eq!(p.rate_bps(), Some(10_000_000));
        assert_eq!(p.delay(), Duration::from_millis(20));
        assert_eq!(p.queue_limit_bytes(), 50_000);
        assert_eq!(p.loss(), Probability::NEVER);
    }

    #[test]
    fn errors_say_why() {
        let e = ProfileError::QueueBelowMtu {
            queue_limit_bytes: 10,
            mtu_bytes: 1514,
        };
        assert_eq!(
            e.to_string(),
            "queue limit of 10 B is below the MTU of 1514 B"
        );
    }
}
