//! Deterministic network simulator: the network part.
//!
//! Everything the simulator decides follows from a seed, through [`Rng`].

pub mod rng;

pub use rng::{Probability, Rng};
