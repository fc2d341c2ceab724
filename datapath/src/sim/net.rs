//! A simulated Ethernet segment of endpoints: the driver that runs whole
//! endpoints (ARP, IPv4, TCP) over seeded [`Link`]s in virtual time.
//!
//! Every ordered pair of nodes has its own one-directional link. A frame a
//! node sends goes into the link toward the node its destination MAC names,
//! or into every link for a broadcast (ARP requests). The drive loop jumps
//! virtual time to the next event (a delivery or an endpoint timer), processes
//! it, and lets every endpoint transmit; it fails on livelock (too many steps
//! without time advancing) instead of hanging a test.

use std::collections::BTreeMap;

use crate::endpoint::{ConnId, Endpoint, EndpointConfig, EndpointConfigError};
use crate::sim::{ConnTrace, Link, LinkProfile};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;

/// Index of a node in the network.
pub type NodeId = usize;

/// The endpoints, the links between them, virtual time and traces.
#[derive(Debug)]
pub struct Network {
    pub nodes: Vec<Endpoint>,
    macs: Vec<EthernetAddress>,
    /// links[(from, to)]
    links: BTreeMap<(NodeId, NodeId), Link>,
    now: Instant,
    buf: Vec<u8>,
    traces: BTreeMap<(NodeId, ConnId), ConnTrace>,
    /// Steps taken without virtual time moving.
    stalled_steps: u32,
}

/// Steps at one instant before the loop calls it a livelock.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;

impl Network {
    pub fn new() -> Network {
        Network {
            nodes: Vec::new(),
            macs: Vec::new(),
            links: BTreeMap::new(),
            now: Instant::from_millis(1),
            buf: vec![0u8; 65536],
            traces: BTreeMap::new(),
            stalled_steps: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds an endpoint; joins it to every node already present with links of
    /// `profile`, each direction seeded from `seed`.
    pub fn add_node(
        &mut self,
        cfg: EndpointConfig,
        profile: &LinkProfile,
        seed: u64,
    ) -> Result<NodeId, EndpointConfigError> {
        let mtu = cfg.mtu + 14;
        let id = self.nodes.len();
        self.macs.push(cfg.mac);
        self.nodes.push(Endpoint::new(cfg)?);
        let p = profile
            .to_builder()
            .mtu_bytes(mtu.max(profile.mtu_bytes()))
            .build()
            .unwrap_or_else(|_| profile.clone());
        for other in 0..id {
            let s = seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add((id * 64 + other) as u64);
            self.links.insert((id, other), Link::new(p.clone(), s));
            self.links
                .insert((other, id), Link::new(p.clone(), s ^ 0xdead_beef));
        }
        Ok(id)
    }

    /// The link from `from` to `to`.
    pub fn link(&self, from: NodeId, to: NodeId) -> Option<&Link> {
        self.links.get(&(from, to))
    }

    /// Records a trace of this connection from now on, sampled at most every
    /// `interval`.
    pub fn trace(&mut self, node: NodeId, conn: ConnId, capacity: usize, interval: Duration) {
        self.traces
            .insert((node, conn), ConnTrace::new(capacity, interval));
    }

    pub fn trace_of(&self, node: NodeId, conn: ConnId) -> Option<&ConnTrace> {
        self.traces.get(&(node, conn))
    }

    /// Lets every node send what it has now.
    fn transmit(&mut self) {
        for from in 0..self.nodes.len() {
            for _ in 0..100_000 {
                let Some(frame) = self.nodes[from].poll_frame(self.now, &mut self.buf) else {
                    break;
                };
                let n = frame.len;
                // The simulated NIC finishes a checksum left to it.
                if let Some(c) = frame.partial_checksum {
                    c.finish(&mut self.buf[..n]);
                }
                let dst = EthernetAddress([
                    self.buf[0],
                    self.buf[1],
                    self.buf[2],
                    self.buf[3],
                    self.buf[4],
                    self.buf[5],
                ]);
                for to in 0..self.nodes.len() {
                    if to != from
                        && (dst.is_broadcast() || dst == self.macs[to])
                        && let Some(link) = self.links.get_mut(&(from, to))
                    {
                        link.send(self.now, self.buf[..n].to_vec());
                    }
                }
            }
        }
    }

    fn next_event(&mut self) -> Option<Instant> {
        let links = self.links.values().filter_map(Link::next_delivery);
        let timers = self.nodes.iter_mut().filter_map(Endpoint::poll_timeout);
        links.chain(timers).min()
    }

    /// One step: transmit, jump to the next event, deliver and fire timers.
    /// False when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.transmit();
        let Some(t) = self.next_event() else {
            return false;
        };
        if t > self.now {
            self.now = t;
            self.stalled_steps = 0;
        } else {
            self.stalled_steps += 1;
            assert!(
                self.stalled_steps < MAX_STEPS_PER_INSTANT,
                "livelock: {MAX_STEPS_PER_INSTANT} steps at {:?} without time moving",
                self.now
            );
        }
        let now = self.now;
        for ((_, to), link) in self.links.iter_mut() {
            while let Some(frame) = link.poll_recv(now) {
                self.nodes[*to].handle_frame(now, &frame);
                link.recycle(frame);
            }
        }
        for node in &mut self.nodes {
            node.handle_timeout(now);
        }
        self.transmit();
        for ((node, conn), trace) in self.traces.iter_mut() {
            if let Ok(info) = self.nodes[*node].info(*conn) {
                trace.record(now, &info);
            }
        }
        true
    }

    /// Runs until `done` holds or `limit` of virtual time passes; `done` runs
    /// between steps and may call the endpoints' application API.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Network) -> bool,
    ) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return done(self);
            }
        }
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}
