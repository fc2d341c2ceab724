//! Two connections over simulated links in virtual time, with a bounded drive
//! loop that fails the test on livelock. Segments travel as TCP bytes (no IP
//! header); the receiver verifies the checksum, so corruption is caught.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::sim::{Link, LinkProfile};
use crate::tcp::{Connection, Event, State, TcpConfig};
use crate::time::{Duration, Instant};
use crate::wire::{SeqNum, TcpPacket, TcpRepr};

pub const A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40000);
pub const B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);

/// Parses a TCP segment sent from `src` to `dst`; `None` if the checksum or
/// the format is bad (counted by the caller as a drop).
pub fn parse<'a>(bytes: &'a [u8], src: &SocketAddrV4, dst: &SocketAddrV4) -> Option<TcpRepr<'a>> {
    let pkt = TcpPacket::new_checked(bytes).ok()?;
    TcpRepr::parse(&pkt, *src.ip(), *dst.ip(), true).ok()
}

#[derive(Debug)]
pub struct Pair {
    pub a: Connection,
    pub b: Connection,
    pub now: Instant,
    pub ab: Link,
    pub ba: Link,
    /// Every segment a sent (raw bytes), for assertions.
    pub log_a: Vec<(Instant, Vec<u8>)>,
    pub log_b: Vec<(Instant, Vec<u8>)>,
    pub bad_checksum: u64,
    buf: Vec<u8>,
}

impl Pair {
    /// a connects to b (b in LISTEN for a), over links with `profile`.
    pub fn new(profile: LinkProfile, seed: u64, cfg_a: TcpConfig, cfg_b: TcpConfig) -> Pair {
        let now = Instant::from_millis(1);
        let a =
            Connection::connect(now, A, B, SeqNum::new(seed as u32 ^ 0x1000_0000), cfg_a).unwrap();
        let b = Connection::listen(
            now,
            B,
            A,
            SeqNum::new((seed as u32).wrapping_mul(7919)),
            cfg_b,
        )
        .unwrap();
        Pair {
            a,
            b,
            now,
            ab: Link::new(profile.clone(), seed.wrapping_mul(2).wrapping_add(1)),
            ba: Link::new(profile, seed.wrapping_mul(2).wrapping_add(2)),
            log_a: Vec::new(),
            log_b: Vec::new(),
            bad_checksum: 0,
            buf: vec![0u8; 2048],
        }
    }

    pub fn clean() -> Pair {
        Pair::new(
            LinkProfile::clean(),
            1,
            TcpConfig::default(),
            TcpConfig::default(),
        )
    }

    /// Sends everything both sides have to send now. After every segment,
    /// checks the promise the endpoint relies on to skip a poll: when
    /// `output_pending` says nothing more can go now, nothing does.
    pub fn flush(&mut self) {
        for _ in 0..10_000 {
            let mut sent = false;
            if let Some(n) = self.a.poll_transmit(self.now, &mut self.buf) {
                self.log_a.push((self.now, self.buf[..n].to_vec()));
                self.ab.send(self.now, self.buf[..n].to_vec());
                check_output_pending(&mut self.a, self.now);
                sent = true;
            }
            if let Some(n) = self.b.poll_transmit(self.now, &mut self.buf) {
                self.log_b.push((self.now, self.buf[..n].to_vec()));
                self.ba.send(self.now, self.buf[..n].to_vec());
                check_output_pending(&mut self.b, self.now);
                sent = true;
            }
            if !sent {
                return;
            }
        }
        panic!("livelock: endless transmissions at {:?}", self.now);
    }

    /// Delivers what is due now.
    fn deliver(&mut self) -> bool {
        let mut any = false;
        while let Some(f) = self.ab.poll_recv(self.now) {
            any = true;
            match parse(&f, &A, &B) {
                Some(seg) => self.b.handle_segment(self.now, &seg),
                None => self.bad_checksum += 1,
            }
        }
        while let Some(f) = self.ba.poll_recv(self.now) {
            any = true;
            match parse(&f, &B, &A) {
                Some(seg) => self.a.handle_segment(self.now, &seg),
                None => self.bad_checksum += 1,
            }
        }
        any
    }

    /// The next time anything happens.
    fn next_event(&self) -> Option<Instant> {
        [
            self.ab.next_delivery(),
            self.ba.next_delivery(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One step: send, then advance to the next event and process it.
    /// Returns false if nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.flush();
        let Some(t) = self.next_event() else {
            return false;
        };
        if t > self.now {
            self.now = t;
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.deliver();
        self.flush();
        true
    }

    /// Runs until `done` holds, at most `limit` of virtual time and 1M steps.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..1_000_000 {
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return done(self);
            }
        }
        panic!(
            "livelock: a million steps without finishing, at {:?}",
            self.now
        );
    }

    pub fn established(&mut self) -> bool {
        self.run_until(Duration::from_secs(10), |p| {
            p.a.state() == State::Established && p.b.state() == State::Established
        })
    }
}

/// After a segment left `c`: if `output_pending` says no more can leave
/// now, a poll at the same instant must find nothing.
fn check_output_pending(c: &mut Connection, now: Instant) {
    if !c.output_pending() {
        let mut scratch = [0u8; 2048];
        assert_eq!(
            c.poll_transmit(now, &mut scratch),
            None,
            "output_pending said nothing more could leave ({:?})",
            c.state()
        );
    }
}

/// Drains a connection's events.
pub fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}
