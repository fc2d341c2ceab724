//! Small applications on the shard API, used by tests, examples and the bench.

pub mod echo;

pub use echo::{EchoClient, EchoClients, EchoServer};
