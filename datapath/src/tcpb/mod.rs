//! Building blocks of the sans-IO TCP core (temporary module name; it moves
//! into `tcp/` at merge time).
//!
//! Owns self-contained pieces the connection state machine uses: the SACK
//! scoreboard for RFC 6675 loss recovery, and RFC 6528 initial sequence
//! numbers with RFC 7323 timestamp offsets, and RFC 6056 ephemeral ports. Like the rest of the protocol core
//! it must never read a clock, make a syscall or allocate per segment: time
//! and every input are arguments, and every structure is bounded at creation.

pub mod isn;
pub mod ports;
pub mod sack;
