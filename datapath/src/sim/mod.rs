//! Deterministic network simulator: the network part.
//!
//! Everything the simulator decides follows from a seed, through [`Rng`].
//! [`LinkProfile`] says what a link does to the frames it carries.

pub mod profile;
pub mod rng;

pub use profile::{GilbertElliott, LinkProfile, LinkProfileBuilder, ProfileError};
pub use rng::{Probability, Rng};
