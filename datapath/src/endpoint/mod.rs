//! Per-core demultiplexing: 4-tuple to connection, listeners, SYN handling,
//! resets, and the neighbour cache. Sans-IO like the TCP core.

pub mod neighbor;
