//! Shunt's control plane. Today: the runtime that puts shards on an
//! interface's queues ([`runtime`]) and neighbour resolution through the
//! kernel ([`neighbor`]). The daemon (`shuntd`) and its CLI come later.

pub mod neighbor;
pub mod runtime;

pub use runtime::{Runtime, RuntimeConfig, RuntimeError, parse_cidr};
