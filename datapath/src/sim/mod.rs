//! Deterministic network simulator: the network part.
//!
//! This module owns the links between simulated endpoints. It moves byte frames
//! in virtual time and does to them what a hostile network does: loss (random
//! and in bursts), duplication, corruption, reordering, delay and jitter, and a
//! bottleneck with a finite rate and a drop-tail queue. It never reads a clock,
//! never sleeps and never touches a socket; everything it decides follows from
//! a seed, so a failing sweep is replayed exactly from the seed it prints.
//! It knows nothing about TCP: frames are opaque bytes.
//!
//! # The model
//!
//! A [`Link`] is one direction; a path between two endpoints is two links,
//! each with its own profile and seed. [`Link::send`] decides a frame's whole
//! fate at once, in this order:
//!
//! 1. **MTU.** A frame longer than [`LinkProfile::mtu_bytes`] is dropped
//!    (`dropped_mtu`).
//! 2. **Bottleneck** (only with a rate). The frame joins a FIFO queue if the
//!    bytes already queued plus its own fit in `queue_limit_bytes`, else it is
//!    dropped (`dropped_queue`, drop-tail). The queue holds every admitted frame
//!    until its last bit is serialized, the frame on the wire included. Frames
//!    are serialized back to back: a frame of L bytes occupies the link for
//!    `L * 8 / rate_bps` seconds, exact in the long run (sub-nanosecond
//!    remainders carry over to the next frame while the link stays busy).
//! 3. **Loss.** Independent loss, and Gilbert-Elliott burst loss if configured
//!    (`dropped_loss`). Loss happens on the path *after* the bottleneck, so a
//!    frame lost there has still used its share of the bottleneck, as on a real
//!    path.
//! 4. **Corruption.** 1 to `corrupt_max_bits` distinct bits flipped past
//!    `corrupt_protected_bytes` (14, the Ethernet header, by default: corrupted
//!    frames still reach the receiver's IP/TCP parsing and fail a checksum
//!    there rather than being misaddressed). The length never changes.
//! 5. **Duplication.** An exact copy of the (possibly corrupted) frame; from
//!    here on each copy goes its own way.
//! 6. **Timing.** Arrival is the end of serialization (or the send time, with
//!    no rate) plus `delay` plus jitter drawn uniformly in `0..=jitter`. A
//!    frame chosen for reordering (`reorder`) is held back by `reorder_delay`
//!    more, so frames sent after it can overtake it. Every other frame is delivered no earlier
//!    than the frame not held back before it: **jitter alone never reorders.**
//!    (This is the choice Linux netem makes when it keeps order: a frame whose
//!    jitter draw would make it overtake waits for its predecessor instead, so
//!    jitter's delays are biased slightly upward under load. The alternative,
//!    jitter that freely reorders, would make every jittery profile a
//!    reordering profile and blur what a sweep measures.)
//!
//! Survivors wait in a delivery queue ordered by (arrival, send order).
//! [`Link::poll_recv`] returns those due by `now`, earliest first, equal times
//! in send order; [`Link::next_delivery`] says when the next one is due.
//!
//! # Determinism
//!
//! Each impairment draws from its own random stream, all forked from the
//! link's seed ([`Rng`], our own xoshiro256**), so enabling one impairment does
//! not change the decisions of another (the same frames are lost with or
//! without duplication). No hash maps, no clocks, no threads. The same profile,
//! seed and sequence of calls give byte-identical output, on every machine.
//!
//! # Driving it
//!
//! Both directions are sans-IO: a driver alternates `send` (frames the
//! endpoints transmit), `poll_recv` (frames to hand to the receiving endpoint)
//! and a jump of virtual time to the earliest of every link's `next_delivery`
//! and every endpoint's timer. Times passed to one link must not go backwards;
//! if they do, the link treats the earlier time as its latest one.
//!
//! # Bounds
//!
//! Frames in flight are bounded by what the driver sends; the bottleneck queue
//! by `queue_limit_bytes`; the buffer pool by [`link::POOL_CAPACITY`]; the
//! queue trace by the capacity given to [`Link::record_queue_trace`].

pub mod link;
pub mod net;
pub mod profile;
pub mod rng;
pub mod trace;

pub use link::{Delivery, Link, LinkStats, QueueSample};
pub use net::{Network, NodeId};
pub use profile::{GilbertElliott, LinkProfile, LinkProfileBuilder, ProfileError};
pub use rng::{Probability, Rng};
pub use trace::{ConnTrace, TraceSample};

#[cfg(test)]
mod cc_tests;
#[cfg(test)]
mod net_tests;
