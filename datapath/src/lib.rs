//! Shunt's datapath: everything that touches a packet.
//!
//! Layering (dependencies point one way): `wire`, `time` <- `tcp`, `cc`, `tls`
//! <- `endpoint` <- `shard` -> `io`. The protocol modules are sans-IO: they never
//! read a clock, never make a syscall and never spawn; time is an argument and
//! output is polled. `unsafe` code lives in [`io::xdp`] only.

pub mod apps;
pub mod cc;
pub mod endpoint;
pub mod io;
pub mod pacing;
pub mod shard;
pub mod sim;
pub mod tcp;
pub mod time;
pub mod timer_wheel;
pub mod wire;

#[cfg(test)]
mod shard_tests;
