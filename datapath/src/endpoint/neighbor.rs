//! The neighbour cache: IPv4 address -> Ethernet address, learned by ARP.
//!
//! Owns a bounded table of entries and decides when to send ARP requests and
//! replies; it builds [`ArpRepr`] values and never writes frames, reads a
//! clock or allocates after creation. The endpoint feeds it every ARP packet
//! (`on_arp`) and asks it for the next hop's address before sending
//! (`lookup`); `poll_request` says which addresses to ask for now.
//!
//! Rules (RFC 826, "Packet Reception", with the timers of RFC 1122 2.3.2.1):
//! a packet for our address adds or refreshes the sender's entry and, if it is
//! a request, is answered; a packet for someone else only refreshes an entry we
//! already have (no cache pollution from broadcasts). Unresolved addresses are
//! asked for up to `max_requests` times, `request_interval` apart, then marked
//! failed for `failed_hold` so callers get a clear error instead of waiting
//! forever. Entries are reachable for `reachable_time` after they were last
//! confirmed; a stale entry is still used, and refreshed by a new request.
//! When the table is full, the least recently used entry that is not being
//! resolved gives way; if every entry is being resolved, the new lookup is
//! refused and counted.

use core::net::Ipv4Addr;

use crate::time::{Duration, Instant};
use crate::wire::{ArpOperation, ArpRepr, EthernetAddress};

/// Timers and bounds of the cache.
#[derive(Debug, Clone)]
pub struct NeighborConfig {
    pub capacity: usize,
    pub reachable_time: Duration,
    pub request_interval: Duration,
    pub max_requests: u32,
    pub failed_hold: Duration,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        // Linux: base_reachable_time 30 s, retrans_time 1 s, mcast_solicit 3.
        NeighborConfig {
            capacity: 1024,
            reachable_time: Duration::from_secs(30),
            request_interval: Duration::from_secs(1),
            max_requests: 3,
            failed_hold: Duration::from_secs(3),
        }
    }
}

/// What [`NeighborCache::lookup`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The address is known: send to this MAC.
    Found(EthernetAddress),
    /// A request is out (or now due): try again later.
    Pending,
    /// Resolution failed recently: the peer does not answer ARP.
    Failed,
    /// The table is full of entries being resolved; counted.
    TableFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reachable {
        confirmed: Instant,
    },
    Incomplete {
        requests: u32,
        next_request: Instant,
    },
    Failed {
        until: Instant,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: Ipv4Addr,
    mac: EthernetAddress,
    state: State,
    last_used: Instant,
}

/// Counters of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighborStats {
    pub requests_sent: u64,
    pub replies_sent: u64,
    pub learned: u64,
    pub evicted: u64,
    pub failed: u64,
    pub table_full: u64,
    /// ARP packets ignored: from ourselves, or not for us and not cached.
    pub ignored: u64,
}

/// The neighbour cache of one interface address.
#[derive(Debug)]
pub struct NeighborCache {
    config: NeighborConfig,
    my_ip: Ipv4Addr,
    my_mac: EthernetAddress,
    entries: Vec<Entry>,
    /// No request is due before this (a lower bound), so `poll_request`,
    /// which the endpoint calls for every frame it sends, need not scan the
    /// table when nothing is being resolved.
    next_due: Instant,
    stats: NeighborStats,
}

impl NeighborCache {
    pub fn new(my_ip: Ipv4Addr, my_mac: EthernetAddress, config: NeighborConfig) -> Self {
        let capacity = config.capacity.max(1);
        NeighborCache {
            config,
            my_ip,
            my_mac,
            entries: Vec::with_capacity(capacity),
            next_due: Instant::NEVER,
            stats: NeighborStats::default(),
        }
    }

    pub fn stats(&self) -> NeighborStats {
        self.stats
    }

    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        self.entries.iter().position(|e| e.ip == ip)
    }

    /// The MAC to send to `ip` (the next hop, not the final destination),
    /// starting resolution if it is unknown.
    pub fn lookup(&mut self, now: Instant, ip: Ipv4Addr) -> Lookup {
        if let Some(i) = self.find(ip) {
            let e = &mut self.entries[i];
            e.last_used = now;
            return match e.state {
                State::Reachable { .. } => Lookup::Found(e.mac),
                State::Incomplete { .. } => Lookup::Pending,
                State::Failed { until } if now < until => Lookup::Failed,
                State::Failed { .. } => {
                    e.state = State::Incomplete {
                        requests: 0,
                        next_request: now,
                    };
                    self.next_due = self.next_due.min(now);
                    Lookup::Pending
                }
            };
        }
        let entry = Entry {
            ip,
            mac: EthernetAddress::BROADCAST,
            state: State::Incomplete {
                requests: 0,
                next_request: now,
            },
            last_used: now,
        };
        if self.insert(entry) {
            self.next_due = self.next_due.min(now);
            Lookup::Pending
        } else {
            Lookup::TableFull
        }
    }

    /// Whether the entry for `ip` is older than the reachable time (still used,
    /// but worth confirming).
    pub fn is_stale(&self, now: Instant, ip: Ipv4Addr) -> bool {
        self.find(ip).is_some_and(|i| match self.entries[i].state {
            State::Reachable { confirmed } => now - confirmed > self.config.reachable_time,
            _ => false,
        })
    }

    fn insert(&mut self, entry: Entry) -> bool {
        if self.entries.len() < self.config.capacity.max(1) {
            self.entries.push(entry);
            return true;
        }
        let victim = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !matches!(e.state, State::Incomplete { .. }))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                self.entries[i] = entry;
                self.stats.evicted += 1;
                true
            }
            None => {
                self.stats.table_full += 1;
                false
            }
        }
    }

    /// Learns (or refreshes) `ip` at `mac` from outside ARP: from the source
    /// of a valid IPv4 frame addressed to us by an on-link peer ("gleaning",
    /// as smoltcp does), or from the kernel's neighbour table when Shunt shares
    /// the kernel's address and the kernel answers ARP. Broadcast, multicast
    /// and our own MAC are refused. Returns whether the entry is usable now.
    pub fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) -> bool {
        if !mac.is_unicast() || mac == self.my_mac || ip.is_unspecified() || ip == self.my_ip {
            return false;
        }
        if let Some(i) = self.find(ip) {
            let e = &mut self.entries[i];
            if !matches!(e.state, State::Reachable { .. }) {
                self.stats.learned += 1;
            }
            e.mac = mac;
            e.state = State::Reachable { confirmed: now };
            return true;
        }
        let added = self.insert(Entry {
            ip,
            mac,
            state: State::Reachable { confirmed: now },
            last_used: now,
        });
        if added {
            self.stats.learned += 1;
        }
        added
    }

    /// Handles a received ARP packet; returns the reply to send, if any.
    // RFC 826, "Packet Reception".
    pub fn on_arp(&mut self, now: Instant, arp: &ArpRepr) -> Option<ArpRepr> {
        let sender = arp.source_protocol_addr;
        if arp.source_hardware_addr == self.my_mac
            || sender.is_unspecified() && arp.operation != ArpOperation::Request
        {
            self.stats.ignored += 1;
            return None;
        }
        let for_me = arp.target_protocol_addr == self.my_ip;
        let valid_mac = arp.source_hardware_addr.is_unicast();
        // Merge: refresh an existing entry whoever the packet is for.
        let known = self.find(sender);
        if let (Some(i), true) = (known, valid_mac) {
            let e = &mut self.entries[i];
            if !matches!(e.state, State::Reachable { .. }) {
                self.stats.learned += 1;
            }
            e.mac = arp.source_hardware_addr;
            e.state = State::Reachable { confirmed: now };
        } else if for_me && valid_mac && !sender.is_unspecified() {
            let added = self.insert(Entry {
                ip: sender,
                mac: arp.source_hardware_addr,
                state: State::Reachable { confirmed: now },
                last_used: now,
            });
            if added {
                self.stats.learned += 1;
            }
        } else if !for_me {
            self.stats.ignored += 1;
        }
        if for_me && arp.operation == ArpOperation::Request {
            self.stats.replies_sent += 1;
            return Some(ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: self.my_mac,
                source_protocol_addr: self.my_ip,
                target_hardware_addr: arp.source_hardware_addr,
                target_protocol_addr: sender,
            });
        }
        None
    }

    /// The next ARP request due at `now`, if any (call until `None`). Entries
    /// that used up their requests become failed.
    pub fn poll_request(&mut self, now: Instant) -> Option<ArpRepr> {
        let (interval, max, hold) = (
            self.config.request_interval,
            self.config.max_requests,
            self.config.failed_hold,
        );
        if now < self.next_due {
            return None;
        }
        for e in &mut self.entries {
            let State::Incomplete {
                requests,
                next_request,
            } = e.state
            else {
                continue;
            };
            if now < next_request {
                continue;
            }
            if requests >= max {
                e.state = State::Failed { until: now + hold };
                self.stats.failed += 1;
                continue;
            }
            e.state = State::Incomplete {
                requests: requests + 1,
                next_request: now + interval,
            };
            self.stats.requests_sent += 1;
            return Some(ArpRepr {
                operation: ArpOperation::Request,
                source_hardware_addr: self.my_mac,
                source_protocol_addr: self.my_ip,
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: e.ip,
            });
        }
        self.next_due = self.poll_at().unwrap_or(Instant::NEVER);
        None
    }

    /// No later than [`NeighborCache::poll_request`] next has work, without
    /// a scan (a shard asks every turn): perhaps early, after which
    /// `poll_request` scans once and moves it on.
    pub fn next_due(&self) -> Option<Instant> {
        (self.next_due != Instant::NEVER).then_some(self.next_due)
    }

    /// When [`NeighborCache::poll_request`] next has work, exactly (a scan).
    fn poll_at(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                State::Incomplete { next_request, .. } => Some(next_request),
                _ => None,
            })
            .min()
    }
}

/// The next hop toward `dst`: `dst` itself when it is on the interface's
/// subnet (`local`/`prefix_len`), else the gateway (`None` if there is none:
/// unreachable).
pub fn next_hop(
    dst: Ipv4Addr,
    local: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let mask = if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len.min(32)))
    };
    if u32::from(dst) & mask == u32::from(local) & mask {
        Some(dst)
    } else {
        gateway
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const MY_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn cache() -> NeighborCache {
        NeighborCache::new(ME, MY_MAC, NeighborConfig::default())
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn packet(op: ArpOperation, from: (Ipv4Addr, EthernetAddress), to: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            operation: op,
            source_hardware_addr: from.1,
            source_protocol_addr: from.0,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: to,
        }
    }

    #[test]
    fn request_for_our_address_is_answered_and_the_sender_learned() {
        let mut c = cache();
        let reply = c
            .on_arp(at(0), &packet(ArpOperation::Request, (PEER, PEER_MAC), ME))
            .unwrap();
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!(
            (reply.source_hardware_addr, reply.source_protocol_addr),
            (MY_MAC, ME)
        );
        assert_eq!(
            (reply.target_hardware_addr, reply.target_protocol_addr),
            (PEER_MAC, PEER)
        );
        assert_eq!(c.lookup(at(1), PEER), Lookup::Found(PEER_MAC));
    }

    #[test]
    fn request_for_another_address_is_neither_answered_nor_cached() {
        let mut c = cache();
        let other = Ipv4Addr::new(198, 18, 0, 9);
        assert_eq!(
            c.on_arp(
                at(0),
                &packet(ArpOperation::Request, (PEER, PEER_MAC), other)
            ),
            None
        );
        assert_eq!(
            c.lookup(at(1), PEER),
            Lookup::Pending,
            "not learned from a broadcast for someone else"
        );
        assert_eq!(c.stats().ignored, 1);
    }

    #[test]
    fn unknown_address_is_requested_then_resolved_by_the_reply() {
        let mut c = cache();
        assert_eq!(c.lookup(at(0), PEER), Lookup::Pending);
        let req = c.poll_request(at(0)).unwrap();
        assert_eq!(req.operation, ArpOperation::Request);
        assert_eq!(
            (req.target_protocol_addr, req.source_protocol_addr),
            (PEER, ME)
        );
        assert_eq!(c.poll_request(at(0)), None, "one request per interval");
        assert_eq!(
            c.on_arp(at(5), &packet(ArpOperation::Reply, (PEER, PEER_MAC), ME)),
            None
        );
        assert_eq!(c.lookup(at(6), PEER), Lookup::Found(PEER_MAC));
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn unanswered_requests_are_retried_then_fail_with_a_clear_result() {
        let mut c = cache();
        c.lookup(at(0), PEER);
        let mut sent = 0;
        let mut t = 0;
        while t <= 4_000 {
            while c.poll_request(at(t)).is_some() {
                sent += 1;
            }
            t += 100;
        }
        assert_eq!(sent, 3);
        assert_eq!(c.lookup(at(t), PEER), Lookup::Failed);
        assert_eq!(c.stats().failed, 1);
        // After the hold, resolution starts again.
        assert_eq!(c.lookup(at(t + 3_000), PEER), Lookup::Pending);
    }

    #[test]
    fn full_table_evicts_the_least_recently_used_resolved_entry() {
        let mut c = NeighborCache::new(
            ME,
            MY_MAC,
            NeighborConfig {
                capacity: 2,
                ..NeighborConfig::default()
            },
        );
        let p = |n: u8| {
            (
                Ipv4Addr::new(198, 18, 0, n),
                EthernetAddress([2, 0, 0, 0, 0, n]),
            )
        };
        c.on_arp(at(0), &packet(ArpOperation::Request, p(10), ME));
        c.on_arp(at(1), &packet(ArpOperation::Request, p(11), ME));
        c.lookup(at(2), p(10).0); // 10 used more recently than 11
        assert_eq!(c.lookup(at(3), p(12).0), Lookup::Pending);
        assert_eq!(c.stats().evicted, 1);
        assert_eq!(c.lookup(at(4), p(10).0), Lookup::Found(p(10).1));
        // Now both entries are 10 (resolved) and 12 (resolving): 13 evicts 10.
        assert_eq!(c.lookup(at(5), p(13).0), Lookup::Pending);
        // Both resolving: a third new address is refused.
        assert_eq!(c.lookup(at(6), p(14).0), Lookup::TableFull);
        assert_eq!(c.stats().table_full, 1);
    }

    #[test]
    fn our_own_packets_and_bad_sender_addresses_are_ignored() {
        let mut c = cache();
        assert_eq!(
            c.on_arp(at(0), &packet(ArpOperation::Request, (PEER, MY_MAC), ME)),
            None
        );
        let bcast = EthernetAddress::BROADCAST;
        assert!(
            c.on_arp(at(0), &packet(ArpOperation::Request, (PEER, bcast), ME))
                .is_some()
        );
        assert_eq!(
            c.lookup(at(1), PEER),
            Lookup::Pending,
            "a broadcast MAC is never learned"
        );
    }

    #[test]
    fn entries_become_stale_after_the_reachable_time_and_are_still_used() {
        let mut c = cache();
        c.on_arp(at(0), &packet(ArpOperation::Reply, (PEER, PEER_MAC), ME));
        assert!(!c.is_stale(at(1_000), PEER));
        assert!(c.is_stale(at(31_000), PEER));
        assert_eq!(c.lookup(at(31_000), PEER), Lookup::Found(PEER_MAC));
    }

    #[test]
    fn learned_entries_resolve_and_bad_macs_are_refused() {
        let mut c = cache();
        assert!(!c.learn(at(0), PEER, EthernetAddress::BROADCAST));
        assert!(!c.learn(at(0), PEER, MY_MAC));
        assert!(!c.learn(at(0), ME, PEER_MAC));
        assert!(c.learn(at(0), PEER, PEER_MAC));
        assert_eq!(c.lookup(at(1), PEER), Lookup::Found(PEER_MAC));
        // A pending resolution completes by learning too.
        let other = Ipv4Addr::new(198, 18, 0, 3);
        assert_eq!(c.lookup(at(2), other), Lookup::Pending);
        assert!(c.learn(at(3), other, EthernetAddress([2, 0, 0, 0, 0, 3])));
        assert_eq!(
            c.lookup(at(4), other),
            Lookup::Found(EthernetAddress([2, 0, 0, 0, 0, 3]))
        );
        assert_eq!(c.poll_request(at(5)), None);
    }

    #[test]
    fn next_hop_is_the_destination_on_link_and_the_gateway_off_link() {
        let gw = Some(Ipv4Addr::new(198, 18, 0, 254));
        assert_eq!(next_hop(PEER, ME, 24, gw), Some(PEER));
        assert_eq!(next_hop(Ipv4Addr::new(198, 19, 0, 2), ME, 24, gw), gw);
        assert_eq!(next_hop(Ipv4Addr::new(198, 19, 0, 2), ME, 24, None), None);
        assert_eq!(
            next_hop(Ipv4Addr::new(8, 8, 8, 8), ME, 0, None),
            Some(Ipv4Addr::new(8, 8, 8, 8))
        );
    }
}
