//! Initial sequence numbers (RFC 6528) and timestamp offsets (RFC 7323).
//!
//! Owns the keyed function that turns a connection's 4-tuple and the time into
//! its ISN, `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)`
//! (RFC 6528 3), and, from the same key, the per-connection TSval offset
//! RFC 7323 7.1 recommends.
//!
//! Must never: read a clock or draw randomness itself (the caller passes `now`
//! and a 32-byte secret drawn once at startup, so the simulator stays
//! deterministic), print or expose the secret, or allocate.

use core::fmt;
use core::net::SocketAddr;

use ring::hmac;

use crate::time::Instant;
use crate::wire::SeqNum;

/// Domain-separation tags, so that the ISN and the TSval offset of the same
/// tuple are independent values.
const DOMAIN_ISN: u8 = 1;
const DOMAIN_TS_OFFSET: u8 = 2;

/// Computes RFC 6528 ISNs with HMAC-SHA256 as the keyed function F.
pub struct IsnGenerator {
    key: hmac::Key,
}

impl fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.write_str("IsnGenerator { key: <secret> }")
    }
}

impl IsnGenerator {
    /// A generator keyed by `secret` (RFC 6528 3: "secretkey ... a random
    /// number"; the endpoint draws it from a CSPRNG at startup).
    pub fn new(secret: &[u8; 32]) -> Self {
        IsnGenerator {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`.
    ///
    /// RFC 6528 3: `M` is a timer ticking every 4 microseconds (so the ISN
    /// advances 250,000 per second and wraps every ~4.77 hours), `F` a keyed
    /// hash of the tuple: HMAC-SHA256 truncated to its first 32 bits.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        let m = (now.as_micros() / 4) as u32; // RFC 6528 3: the 4 us timer, mod 2^32
        SeqNum::new(m) + self.keyed_hash(DOMAIN_ISN, local, remote) as usize
    }

    /// A per-connection offset to add to the TSval clock (RFC 7323 7.1: a
    /// random offset per connection keeps the host's uptime and the clocks of
    /// its other connections hidden). Stable for one tuple, so a new
    /// incarnation of the same tuple keeps a monotonic TSval (RFC 7323 5.4).
    pub fn ts_offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        self.keyed_hash(DOMAIN_TS_OFFSET, local, remote)
    }

    /// `F`: the first 32 bits of HMAC-SHA256(secret, domain | local | remote).
    fn keyed_hash(&self, domain: u8, local: SocketAddr, remote: SocketAddr) -> u32 {
        // domain (1) + two times: family (1), address (16), port (2).
        let mut msg = [0u8; 1 + 2 * 19];
        msg[0] = domain;
        encode(&mut msg[1..20], local);
        encode(&mut msg[20..39], remote);
        let tag = hmac::sign(&self.key, &msg);
        let bytes = tag.as_ref();
        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
}

/// Writes family, address (IPv4 left-aligned in 16 bytes) and port into 19
/// bytes; the family byte keeps an IPv4 tuple distinct from an IPv6 one.
fn encode(out: &mut [u8], addr: SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&a.ip().octets());
        }
    }
    out[17..19].copy_from_slice(&addr.port().to_be_bytes());
}

/// The TSval to send at `now` for a connection with `offset`: a 1 ms clock
/// (RFC 7323 5.4 allows 1 ms to 1 s per tick; Linux uses 1 ms) plus the
/// connection's offset, modulo 2^32.
pub fn tsval(now: Instant, offset: u32) -> u32 {
    (now.as_millis() as u32).wrapping_add(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const SECRET: [u8; 32] = [7; 32];

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn tuple() -> (SocketAddr, SocketAddr) {
        (addr("10.0.0.1:40000"), addr("10.0.0.2:443"))
    }

    #[test]
    fn same_inputs_give_the_same_isn() {
        let (l, r) = tuple();
        let now = Instant::from_millis(1234);
        let a = IsnGenerator::new(&SECRET).isn(now, l, r);
        let b = IsnGenerator::new(&SECRET).isn(now, l, r);
        assert_eq!(a, b);
    }

    #[test]
    fn different_tuples_give_different_isns() {
        let g = IsnGenerator::new(&SECRET);
        let now = Instant::from_millis(1234);
        let (l, r) = tuple();
        let base = g.isn(now, l, r);
        assert_ne!(base, g.isn(now, addr("10.0.0.1:40001"), r));
        assert_ne!(base, g.isn(now, l, addr("10.0.0.2:444")));
        assert_ne!(base, g.isn(now, addr("10.0.0.3:40000"), r));
        assert_ne!(base, g.isn(now, l, addr("10.0.0.9:443")));
        assert_ne!(base, g.isn(now, r, l), "direction matters");
        assert_ne!(base, g.isn(now, addr("[::ffff:10.0.0.1]:40000"), r));
    }

    #[test]
    fn isn_advances_250k_per_second() {
        // RFC 6528 3: M is a timer that ticks every 4 microseconds.
        let g = IsnGenerator::new(&SECRET);
        let (l, r) = tuple();
        let t0 = Instant::from_millis(5_000);
        let a = g.isn(t0, l, r);
        assert_eq!(g.isn(t0 + Duration::from_secs(1), l, r) - a, 250_000);
        assert_eq!(g.isn(t0 + Duration::from_micros(4), l, r) - a, 1);
        assert_eq!(g.isn(t0 + Duration::from_micros(3), l, r), a);
    }

    #[test]
    fn isn_timer_wraps_modulo_2_pow_32() {
        let g = IsnGenerator::new(&SECRET);
        let (l, r) = tuple();
        let wrap = Instant::from_micros(4 * (1u64 << 32));
        assert_eq!(g.isn(wrap, l, r), g.isn(Instant::ZERO, l, r));
    }

    #[test]
    fn different_secrets_give_different_isns() {
        let (l, r) = tuple();
        let now = Instant::from_millis(1);
        let mut other = SECRET;
        other[31] ^= 1;
        assert_ne!(
            IsnGenerator::new(&SECRET).isn(now, l, r),
            IsnGenerator::new(&other).isn(now, l, r)
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = format!("{:?}", IsnGenerator::new(&SECRET));
        assert_eq!(s, "IsnGenerator { key: <secret> }");
    }

    #[test]
    fn ts_offset_is_stable_per_tuple_and_independent_of_the_isn() {
        let g = IsnGenerator::new(&SECRET);
        let (l, r) = tuple();
        assert_eq!(g.ts_offset(l, r), g.ts_offset(l, r));
        assert_ne!(g.ts_offset(l, r), g.ts_offset(l, addr("10.0.0.2:444")));
        assert_ne!(g.ts_offset(l, r), g.isn(Instant::ZERO, l, r).raw());
    }

    #[test]
    fn tsval_ticks_every_millisecond_from_the_offset_and_wraps() {
        assert_eq!(tsval(Instant::ZERO, 100), 100);
        assert_eq!(tsval(Instant::from_micros(999), 100), 100);
        assert_eq!(tsval(Instant::from_millis(1), 100), 101);
        assert_eq!(tsval(Instant::from_millis(5), u32::MAX), 4);
    }
}
