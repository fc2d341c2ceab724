//! The TCP core: a sans-IO connection state machine per RFC 9293, built from
//! small parts that each own one concept.
//!
//! Owns everything about one TCP connection that is not a packet format
//! (`wire`) or a congestion controller (`cc`): the state machine ([`conn`]),
//! sequence-space bookkeeping, the send and receive buffers with reassembly,
//! RTT estimation and the retransmission timer, the SACK scoreboard and loss
//! recovery, initial sequence numbers and ephemeral ports.
//!
//! Must never: read a clock (time is an argument), make a syscall, or allocate
//! per segment in the steady state (buffers are allocated once, at creation,
//! sized by configuration).

pub mod config;
pub mod conn;
pub mod isn;
pub mod ports;
pub mod recv_buf;
pub mod rtt;
pub mod sack;
pub mod send_buf;
pub mod sent;
pub mod state;
pub mod timer;

pub use config::{ConfigError, Keepalive, TcpConfig};
pub use conn::{ConnError, ConnInfo, ConnStats, Connection, Event};
pub use state::State;

#[cfg(test)]
pub(crate) mod tests;
