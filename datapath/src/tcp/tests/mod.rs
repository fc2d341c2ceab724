//! Tests of the TCP core beyond the unit tests beside each part: pair tests
//! over the simulator, conformance scripts, seeded sweeps.

mod hostile;
pub mod pair;
mod pair_tests;
mod scripts;
pub(crate) mod sweep;
