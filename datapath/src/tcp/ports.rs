//! Ephemeral local ports for active opens (RFC 6056 3.3.4, Algorithm 4).
//!
//! Owns the configured ephemeral [`PortRange`] and the bounded table of
//! `(local ip, local port, remote ip, remote port)` tuples it has handed out.
//! A local port is unique per *remote endpoint*, not globally: like Linux
//! `connect`, the same local port may serve connections to different peers,
//! since the 4-tuple still tells them apart.
//!
//! Port choice is RFC 6056 3.3.4 Algorithm 4, "double-hash port selection":
//! a secret keyed hash of `(local ip, remote ip, remote port)` picks a starting
//! offset in the range and a slot of a small table of per-slot increments, so
//! ports toward one peer are hard to guess from outside yet are not reused
//! quickly toward the same peer.
//!
//! Must never: hand out port 0 or a port outside the range, give the same
//! tuple twice while it is held, grow its table past the capacity set at
//! creation (a full table refuses with [`PortError::TableFull`]), read a clock
//! or draw randomness itself (the caller passes the secret), or print the
//! secret. It does not know about listening ports: configure listeners outside
//! the ephemeral range. A tuple stays held until [`PortAllocator::release`];
//! the connection should release it only once TIME-WAIT is over.

use core::fmt;
use core::hash::{BuildHasher, Hasher};
use core::net::{IpAddr, SocketAddr};
use std::collections::HashSet;

use ring::hmac;

/// A validated, inclusive range of ephemeral ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

/// Why a [`PortRange`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    #[error("ephemeral port range {first}..={last} is empty")]
    Empty { first: u16, last: u16 },
    #[error("ephemeral port range must not include port 0")]
    IncludesPortZero,
}

/// Why no port could be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Every port of the range is already in use toward this remote endpoint.
    #[error("every ephemeral port is in use toward this remote endpoint")]
    PortsExhausted,
    /// The table of held tuples is at the capacity set at creation.
    #[error("ephemeral port table is full")]
    TableFull,
}

impl PortRange {
    /// The default: 61000..=65535, above Linux's default kernel ephemeral
    /// range (`net.ipv4.ip_local_port_range` = 32768 60999), so Shunt's
    /// active opens never collide with the kernel's own.
    pub const DEFAULT: PortRange = PortRange {
        first: 61000,
        last: 65535,
    };

    /// The ports `first..=last`; refuses an empty range or one holding port 0.
    pub const fn new(first: u16, last: u16) -> Result<Self, PortRangeError> {
        if first > last {
            return Err(PortRangeError::Empty { first, last });
        }
        if first == 0 {
            return Err(PortRangeError::IncludesPortZero);
        }
        Ok(PortRange { first, last })
    }

    pub const fn first(self) -> u16 {
        self.first
    }

    pub const fn last(self) -> u16 {
        self.last
    }

    /// How many ports the range holds (1 to 65535).
    pub const fn len(self) -> u32 {
        self.last as u32 - self.first as u32 + 1
    }

    /// Always false: a valid range holds at least one port.
    pub const fn is_empty(self) -> bool {
        false
    }

    pub const fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// Whether the two ranges share a port (to check the configured range
    /// against the kernel's actual `ip_local_port_range`).
    pub const fn overlaps(self, other: PortRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

/// RFC 6056 3.3.4: `TABLE_LENGTH`, the number of per-slot increments.
const TABLE_LENGTH: usize = 256;

/// A held tuple: local ip, local port, remote endpoint.
type Flow = (IpAddr, u16, SocketAddr);

/// Allocates ephemeral ports; see the module docs.
pub struct PortAllocator {
    range: PortRange,
    /// RFC 6056 3.3.4 `table[]`: per-slot increments, so successive opens
    /// toward the same peer walk forward instead of retrying the same port.
    table: [u16; TABLE_LENGTH],
    key: hmac::Key,
    held: HashSet<Flow, SeededState>,
    capacity: usize,
}

impl fmt::Debug for PortAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortAllocator")
            .field("range", &self.range)
            .field("held", &self.held.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl PortAllocator {
    /// An allocator over `range` holding at most `capacity` tuples, keyed by
    /// `secret` (drawn from a CSPRNG by the endpoint at startup). All memory
    /// is allocated here.
    pub fn new(range: PortRange, capacity: usize, secret: &[u8; 32]) -> Self {
        let seed = u64::from_le_bytes([
            secret[0], secret[1], secret[2], secret[3], secret[4], secret[5], secret[6], secret[7],
        ]);
        PortAllocator {
            range,
            table: [0; TABLE_LENGTH],
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            // Twice the bound: with deleted entries the table rehashes in
            // place (never reallocates) while at most half full.
            held: HashSet::with_capacity_and_hasher(capacity.saturating_mul(2), SeededState(seed)),
            capacity,
        }
    }

    pub fn range(&self) -> PortRange {
        self.range
    }

    /// How many tuples are held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether `local_ip:local_port -> remote` is held.
    pub fn is_held(&self, local_ip: IpAddr, local_port: u16, remote: SocketAddr) -> bool {
        self.held.contains(&(local_ip, local_port, remote))
    }

    /// A local port for a new connection from `local_ip` to `remote`, held
    /// until [`Self::release`].
    pub fn allocate(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Result<u16, PortError> {
        if self.held.len() >= self.capacity {
            return Err(PortError::TableFull);
        }
        let (offset, index) = self.hashes(local_ip, remote);
        let num_ephemeral = self.range.len();
        // RFC 6056 3.3.4 Algorithm 4: try each port of the range at most once.
        for _ in 0..num_ephemeral {
            let step = offset.wrapping_add(u32::from(self.table[index]));
            let port = self.range.first + (step % num_ephemeral) as u16;
            self.table[index] = self.table[index].wrapping_add(1);
            if self.held.insert((local_ip, port, remote)) {
                return Ok(port);
            }
        }
        Err(PortError::PortsExhausted)
    }

    /// Holds one given tuple (a port handed over from a connection that
    /// ended); false if it is held already or the table is full.
    pub fn claim(&mut self, local_ip: IpAddr, local_port: u16, remote: SocketAddr) -> bool {
        self.held.len() < self.capacity && self.held.insert((local_ip, local_port, remote))
    }

    /// Gives the tuple back; returns whether it was held.
    pub fn release(&mut self, local_ip: IpAddr, local_port: u16, remote: SocketAddr) -> bool {
        self.held.remove(&(local_ip, local_port, remote))
    }

    /// RFC 6056 3.3.4: `offset = F(local_IP, remote_IP, remote_port, key1)`
    /// and `index = G(..., key2)`, here two disjoint parts of one
    /// HMAC-SHA256 tag.
    fn hashes(&self, local_ip: IpAddr, remote: SocketAddr) -> (u32, usize) {
        let mut msg = [0u8; 2 * 17 + 2];
        encode_ip(&mut msg[0..17], local_ip);
        encode_ip(&mut msg[17..34], remote.ip());
        msg[34..36].copy_from_slice(&remote.port().to_be_bytes());
        let tag = hmac::sign(&self.key, &msg);
        let b = tag.as_ref();
        let offset = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let index = usize::from(u16::from_be_bytes([b[4], b[5]])) % TABLE_LENGTH;
        (offset, index)
    }
}

/// Family byte then the address (IPv4 left-aligned) into 17 bytes.
fn encode_ip(out: &mut [u8], ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&a.octets());
        }
    }
}

/// A hasher seeded from the secret, so the held-tuple table needs no OS
/// randomness (std's `RandomState` would read it) and stays deterministic.
#[derive(Debug, Clone, Copy)]
struct SeededState(u64);

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

/// Multiply-rotate mixing over the written bytes, finished with a
/// splitmix64-style avalanche.
#[derive(Debug)]
struct SeededHasher(u64);

impl Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: [u8; 32] = [42; 32];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn small(first: u16, last: u16, capacity: usize) -> PortAllocator {
        PortAllocator::new(PortRange::new(first, last).unwrap(), capacity, &SECRET)
    }

    #[test]
    fn range_must_be_non_empty_and_exclude_port_zero() {
        assert_eq!(
            PortRange::new(5000, 4999),
            Err(PortRangeError::Empty {
                first: 5000,
                last: 4999
            })
        );
        assert_eq!(
            PortRange::new(0, 100),
            Err(PortRangeError::IncludesPortZero)
        );
        let r = PortRange::new(40000, 40000).unwrap();
        assert_eq!(
            (r.len(), r.contains(40000), r.contains(40001)),
            (1, true, false)
        );
        assert_eq!(PortRange::new(1, 65535).unwrap().len(), 65535);
    }

    #[test]
    fn default_range_stays_out_of_the_kernels_default_ephemeral_range() {
        let kernel = PortRange::new(32768, 60999).unwrap();
        assert!(!PortRange::DEFAULT.overlaps(kernel));
        assert!(PortRange::new(40000, 59999).unwrap().overlaps(kernel));
    }

    #[test]
    fn ports_toward_one_peer_are_distinct_until_exhausted() {
        let mut a = small(40000, 40003, 100);
        let (l, r) = (ip("10.0.0.1"), peer("10.0.0.2:443"));
        let mut got: Vec<u16> = (0..4).map(|_| a.allocate(l, r).unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![40000, 40001, 40002, 40003]);
        assert_eq!(a.allocate(l, r), Err(PortError::PortsExhausted));
        assert_eq!(a.held(), 4);
    }

    #[test]
    fn the_same_port_is_reused_toward_different_peers() {
        let mut a = small(40000, 40000, 100);
        let l = ip("10.0.0.1");
        assert_eq!(a.allocate(l, peer("10.0.0.2:443")), Ok(40000));
        assert_eq!(a.allocate(l, peer("10.0.0.2:80")), Ok(40000));
        assert_eq!(a.allocate(l, peer("10.0.0.3:443")), Ok(40000));
        assert_eq!(a.allocate(ip("10.0.0.9"), peer("10.0.0.2:443")), Ok(40000));
        assert_eq!(
            a.allocate(l, peer("10.0.0.2:443")),
            Err(PortError::PortsExhausted)
        );
    }

    #[test]
    fn release_makes_the_port_available_again() {
        let mut a = small(40000, 40001, 100);
        let (l, r) = (ip("10.0.0.1"), peer("10.0.0.2:443"));
        let p1 = a.allocate(l, r).unwrap();
        let p2 = a.allocate(l, r).unwrap();
        assert_eq!(a.allocate(l, r), Err(PortError::PortsExhausted));
        assert!(a.release(l, p1, r));
        assert!(!a.release(l, p1, r), "a second release is a no-op");
        assert!(!a.is_held(l, p1, r));
        assert_eq!(a.allocate(l, r), Ok(p1));
        assert!(a.is_held(l, p2, r));
    }

    #[test]
    fn a_full_table_refuses_with_table_full() {
        let mut a = small(40000, 50000, 2);
        let l = ip("10.0.0.1");
        a.allocate(l, peer("10.0.0.2:1")).unwrap();
        a.allocate(l, peer("10.0.0.2:2")).unwrap();
        assert_eq!(a.allocate(l, peer("10.0.0.2:3")), Err(PortError::TableFull));
    }

    #[test]
    fn successive_ports_toward_one_peer_do_not_repeat_after_release() {
        // RFC 6056 3.3.4: table[index]++ moves on even when the port is free.
        let mut a = small(40000, 49999, 100);
        let (l, r) = (ip("10.0.0.1"), peer("10.0.0.2:443"));
        let p1 = a.allocate(l, r).unwrap();
        a.release(l, p1, r);
        let p2 = a.allocate(l, r).unwrap();
        assert_ne!(p1, p2);
    }

    #[test]
    fn the_secret_decides_the_starting_port() {
        let (l, r) = (ip("10.0.0.1"), peer("10.0.0.2:443"));
        let range = PortRange::new(1024, 65535).unwrap();
        let mut other = SECRET;
        other[0] ^= 1;
        let a = PortAllocator::new(range, 8, &SECRET).allocate(l, r);
        let b = PortAllocator::new(range, 8, &other).allocate(l, r);
        assert_ne!(a, b);
        assert_eq!(a, PortAllocator::new(range, 8, &SECRET).allocate(l, r));
    }

    proptest! {
        #[test]
        fn allocated_ports_stay_in_range_and_unique_per_peer(
            first in 1u16..65530,
            width in 0u16..6,
            ops in proptest::collection::vec((any::<bool>(), 0u8..3, 0u8..2), 1..60),
        ) {
            let last = first.saturating_add(width);
            let range = PortRange::new(first, last).unwrap();
            let mut a = PortAllocator::new(range, 16, &SECRET);
            let mut held: Vec<(IpAddr, u16, SocketAddr)> = Vec::new();
            for (alloc, peer_no, local_no) in ops {
                let l = IpAddr::from([10, 0, 0, local_no]);
                let r = SocketAddr::from(([10, 0, 1, peer_no], 443));
                if alloc {
                    match a.allocate(l, r) {
                        Ok(p) => {
                            prop_assert!(range.contains(p) && p != 0);
                            prop_assert!(!held.contains(&(l, p, r)));
                            held.push((l, p, r));
                        }
                        Err(PortError::TableFull) => prop_assert_eq!(held.len(), 16),
                        Err(PortError::PortsExhausted) => {
                            let n = held.iter().filter(|h| h.0 == l && h.2 == r).count();
                            prop_assert_eq!(n as u32, range.len());
                        }
                    }
                } else if let Some(i) = held.iter().position(|h| h.0 == l) {
                    let (l, p, r) = held.swap_remove(i);
                    prop_assert!(a.release(l, p, r));
                }
                prop_assert_eq!(a.held(), held.len());
            }
        }
    }
}
