//! The demultiplexing key and its keyed hash.
//!
//! The table from [`FourTuple`] to slot is only ever looked up, never
//! iterated, so its order cannot leak into behaviour. The hash is keyed by the
//! endpoint's secret (an attacker cannot aim SYNs at one bucket) and needs no
//! OS randomness, which keeps the endpoint free of syscalls and deterministic.

use core::hash::{BuildHasher, Hasher};
use core::net::SocketAddrV4;

/// A connection's identity: our address and port, the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
}

/// Builds [`TupleHasher`]s from two secret keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedState {
    k0: u64,
    k1: u64,
}

impl KeyedState {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&secret[i..i + 8]);
            u64::from_le_bytes(b)
        };
        // Bytes 16..32, apart from what other users of the secret read first.
        KeyedState {
            k0: word(16),
            k1: word(24),
        }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = TupleHasher;
    fn build_hasher(&self) -> TupleHasher {
        TupleHasher {
            state: self.k0,
            key: self.k1 | 1,
        }
    }
}

/// Multiply-xorshift over the written words, keyed, with a splitmix64 finish.
#[derive(Debug)]
pub(crate) struct TupleHasher {
    state: u64,
    key: u64,
}

impl Hasher for TupleHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.state = (self.state ^ u64::from_le_bytes(word))
                .wrapping_mul(self.key)
                .rotate_left(29);
        }
    }

    fn finish(&self) -> u64 {
        let mut z = self.state ^ self.key;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
