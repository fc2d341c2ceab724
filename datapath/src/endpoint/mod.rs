//! Per-core demultiplexing: 4-tuple to connection, listeners, SYN handling,
//! resets, and the neighbour cache. Sans-IO like the TCP core.
//!
//! One [`Endpoint`] serves one IPv4 address on one NIC queue. It owns the
//! connections of that queue (a slab of slots indexed by generational
//! [`ConnId`]s), the listeners, the neighbour cache, the RFC 6528 ISN
//! generator and the RFC 6056 ephemeral port allocator.
//!
//! - In: [`Endpoint::handle_frame`] parses Ethernet, ARP, IPv4 and TCP with
//!   every length and checksum checked ([`rx`]), then hands the segment to its
//!   connection, a listener, or answers it with a reset.
//! - Out: [`Endpoint::poll_frame`] writes the next frame: queued ARP and RST
//!   frames first, then the connections round-robin, each segment wrapped in
//!   IPv4 and Ethernet headers for the next hop's MAC ([`tx`]). A connection
//!   whose next hop is unresolved is not polled until it is.
//! - Time: [`Endpoint::poll_timeout`] and [`Endpoint::handle_timeout`].
//! - The application: `listen`, `accept`, `connect`, `send`, `recv`,
//!   `shutdown`, `close`, `abort`, `state`, [`Endpoint::poll_event`].
//!
//! Must never: read a clock, make a syscall, panic on a frame, or let a table
//! grow past its configured bound (every bound drops or refuses, and counts).
//! The 4-tuple table is a `HashMap` that is looked up and never iterated, so
//! behaviour never depends on its order; everything that walks connections
//! walks the slab in index order.
//!
//! Driving contract: after `handle_frame`, `handle_timeout` or an application
//! call, call `poll_frame` until it returns `None`.

pub mod config;
pub mod handle;
pub mod neighbor;
mod rx;
pub mod stats;
pub mod time_wait;
pub mod tuple;
mod tx;

#[cfg(test)]
mod tests;

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::collections::{HashMap, VecDeque};

pub use config::{EndpointConfig, EndpointConfigError};
pub use handle::{ConnId, EndpointError, EndpointEvent, ListenerId};
pub use rx::Rx;
pub use stats::EndpointStats;
pub use tuple::FourTuple;

use crate::tcp::isn::IsnGenerator;
use crate::tcp::ports::PortAllocator;
use crate::tcp::{ConnInfo, ConnStats, Connection, State, TcpConfig};
use crate::time::Instant;
use crate::timer_wheel::TimerWheel;
use crate::wire::{ArpRepr, ChecksumFill, EthernetAddress, SeqNum, TcpFlags};
use neighbor::{Lookup, NeighborCache};
use time_wait::PeerTrack;
use tuple::KeyedState;

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Created from a SYN on this listener, not yet accepted: the application
    /// does not know it; counts against the listener's backlog.
    Listener { listener: u32, queued: bool },
    /// The application holds its `ConnId`.
    App,
    /// The application closed or aborted it and dropped interest: reaped as
    /// soon as it is CLOSED, its events discarded.
    Orphan,
}

/// A connection in TIME-WAIT a new active open may replace: its place in
/// `Endpoint::time_wait`, handle and tuple, and the new connection's ISS.
#[derive(Debug, Clone, Copy)]
struct TimeWaitSuccessor {
    pos: usize,
    id: ConnId,
    tuple: FourTuple,
    iss: SeqNum,
}

/// One connection and what the endpoint knows about it.
#[derive(Debug)]
struct Entry {
    conn: Connection,
    tuple: FourTuple,
    owner: Owner,
    /// The local port came from the ephemeral allocator: release it on reaping.
    ephemeral: bool,
    /// The IPv4 address frames go to (the peer, or the gateway).
    next_hop: Ipv4Addr,
    /// Waiting for the next hop's MAC: not polled for output.
    arp_wait: bool,
    /// The next hop never answered ARP: the application is told once.
    unreachable: Option<Ipv4Addr>,
    unreachable_reported: bool,
    /// What the peer sent, for the TIME-WAIT reuse rule.
    peer: Option<PeerTrack>,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    entry: Option<Entry>,
    /// Its connection may have changed its deadline since the wheel last
    /// heard it (queued in `Endpoint::touched`).
    touched: bool,
    /// Queued in `Endpoint::tx_ready`: it may have a segment to send.
    tx_queued: bool,
    /// Queued in `Endpoint::ev_ready`: it may have events for the
    /// application, or be ready to reap.
    ev_queued: bool,
    /// Listed in `Endpoint::time_wait` (this generation).
    in_time_wait: bool,
}

#[derive(Debug)]
struct Listener {
    port: u16,
    backlog: usize,
    /// Options of the connections it accepts.
    tcp: TcpConfig,
    /// Connections created from SYNs and not yet accepted (SYN-RECEIVED or
    /// queued for accept).
    pending: usize,
    /// Established connections waiting for `accept`, oldest first.
    accept_queue: VecDeque<ConnId>,
}

#[derive(Debug)]
struct ListenerSlot {
    generation: u32,
    listener: Option<Listener>,
}

/// A reset to send for a segment that had no connection.
#[derive(Debug, Clone, Copy)]
struct RstOut {
    dst_mac: EthernetAddress,
    dst_ip: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    seq: SeqNum,
    ack: Option<SeqNum>,
}

/// A control frame waiting for `poll_frame`.
#[derive(Debug, Clone, Copy)]
enum Control {
    Arp(ArpRepr),
    Rst(RstOut),
}

/// The per-core endpoint. See the module docs.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    tcp: TcpConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    tuples: HashMap<FourTuple, u32, KeyedState>,
    listeners: Vec<ListenerSlot>,
    neighbors: NeighborCache,
    isn: IsnGenerator,
    ports: PortAllocator,
    control: VecDeque<Control>,
    events: VecDeque<EndpointEvent>,
    /// Slots waiting for ARP (skip the scan when zero).
    arp_waiting: usize,
    /// Connections that may have a segment to send, served round-robin:
    /// only those an input, a timer or a call touched, so a turn costs what
    /// happened in it, not the number of connections.
    tx_ready: VecDeque<u32>,
    /// Connections that may have events (or be ready to reap).
    ev_ready: VecDeque<u32>,
    ip_ident: u16,
    /// Every connection's earliest deadline, by slot.
    wheel: TimerWheel,
    /// Slots whose deadline the wheel must hear again.
    touched: Vec<u32>,
    /// Scratch for the slots the wheel finds due.
    due: Vec<u32>,
    /// Connections in TIME-WAIT, oldest first, for `time_wait_reuse`
    /// (entries of reaped connections are dropped as they reach the front).
    time_wait: VecDeque<ConnId>,
    /// How connections' segments are checksummed (TX checksum offload).
    tx_checksum: ChecksumFill,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint with every table allocated to its bound.
    pub fn new(cfg: EndpointConfig) -> Result<Endpoint, EndpointConfigError> {
        cfg.validate()?;
        let max = cfg.max_connections;
        let mut listeners = Vec::with_capacity(cfg.max_listeners);
        listeners.resize_with(cfg.max_listeners, || ListenerSlot {
            generation: 0,
            listener: None,
        });
        Ok(Endpoint {
            tcp: cfg.tcp_template(),
            slots: Vec::with_capacity(max),
            free: Vec::with_capacity(max),
            live: 0,
            // Twice the bound, so deletions never make it grow.
            tuples: HashMap::with_capacity_and_hasher(
                max.saturating_mul(2),
                KeyedState::new(&cfg.secret),
            ),
            listeners,
            neighbors: NeighborCache::new(cfg.addr, cfg.mac, cfg.neighbor.clone()),
            isn: IsnGenerator::new(&cfg.secret),
            ports: PortAllocator::new(cfg.ephemeral_ports, max, &cfg.secret),
            control: VecDeque::with_capacity(cfg.max_control_frames),
            events: VecDeque::with_capacity(cfg.max_events),
            arp_waiting: 0,
            tx_ready: VecDeque::with_capacity(max),
            ev_ready: VecDeque::with_capacity(max),
            ip_ident: 0,
            wheel: TimerWheel::new(Instant::ZERO),
            touched: Vec::with_capacity(max),
            due: Vec::with_capacity(max),
            time_wait: VecDeque::new(),
            tx_checksum: ChecksumFill::Full,
            stats: EndpointStats::default(),
            cfg,
        })
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// How connections' segments are checksummed from now on: in full (the
    /// default), or only the pseudo-header sum, when the packet I/O has the
    /// device finish each frame [`poll_frame`](Endpoint::poll_frame) marks.
    /// Only for an I/O that honours every such mark: a frame sent as marked
    /// but not finished carries a wrong checksum.
    pub fn set_tx_checksum(&mut self, fill: ChecksumFill) {
        self.tx_checksum = fill;
        for e in self.slots.iter_mut().filter_map(|s| s.entry.as_mut()) {
            e.conn.set_checksum_fill(fill);
        }
    }

    pub fn tx_checksum(&self) -> ChecksumFill {
        self.tx_checksum
    }

    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    pub fn neighbors(&self) -> &NeighborCache {
        &self.neighbors
    }

    /// Connections in any state, not yet reaped.
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// Ephemeral ports held (released when their connection is reaped).
    pub fn ephemeral_ports_held(&self) -> usize {
        self.ports.held()
    }

    // ---- Listeners ----------------------------------------------------

    /// Listens on `port` of our address; at most `backlog` (capped by
    /// `max_backlog`) connections may wait between SYN and `accept`.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerId, EndpointError> {
        let tcp = self.tcp.clone();
        self.listen_with(port, backlog, tcp)
    }

    /// Like [`Endpoint::listen`], with options of its own for the connections
    /// it accepts (buffer sizes, Nagle, keepalive, timeouts...); the MSS is
    /// still the one the MTU allows.
    pub fn listen_with(
        &mut self,
        port: u16,
        backlog: usize,
        tcp: TcpConfig,
    ) -> Result<ListenerId, EndpointError> {
        let tcp = self.with_link_mss(tcp)?;
        if port == 0 {
            return Err(EndpointError::PortZero);
        }
        if self.listener_index(port).is_some() {
            return Err(EndpointError::PortInUse(port));
        }
        let index = self
            .listeners
            .iter()
            .position(|l| l.listener.is_none())
            .ok_or(EndpointError::TooManyListeners)?;
        let backlog = backlog.clamp(1, self.cfg.max_backlog);
        let slot = &mut self.listeners[index];
        slot.listener = Some(Listener {
            port,
            tcp,
            backlog,
            pending: 0,
            accept_queue: VecDeque::with_capacity(backlog),
        });
        Ok(ListenerId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Stops listening. Connections not yet accepted are reset.
    pub fn unlisten(&mut self, id: ListenerId) -> Result<(), EndpointError> {
        self.listener(id)?;
        for i in 0..self.slots.len() {
            let Some(e) = self.slots[i].entry.as_mut() else {
                continue;
            };
            if matches!(e.owner, Owner::Listener { listener, .. } if listener == id.index) {
                e.conn.abort();
                e.owner = Owner::Orphan;
                // Reaped now if no reset is left to send, else after it.
                self.after_input(i);
            }
        }
        let slot = &mut self.listeners[id.index as usize];
        slot.listener = None;
        slot.generation = slot.generation.wrapping_add(1);
        Ok(())
    }

    /// The oldest established connection waiting on this listener.
    pub fn accept(&mut self, id: ListenerId) -> Result<Option<ConnId>, EndpointError> {
        let listener = self.listener(id)?;
        let Some(conn) = listener.accept_queue.pop_front() else {
            return Ok(None);
        };
        listener.pending -= 1;
        if let Some(e) = self.entry_mut(conn) {
            e.owner = Owner::App;
        }
        Ok(Some(conn))
    }

    fn listener(&mut self, id: ListenerId) -> Result<&mut Listener, EndpointError> {
        match self.listeners.get_mut(id.index as usize) {
            Some(ListenerSlot {
                generation,
                listener: Some(l),
            }) if *generation == id.generation => Ok(l),
            _ => Err(EndpointError::UnknownListener),
        }
    }

    fn listener_index(&self, port: u16) -> Option<u32> {
        self.listeners
            .iter()
            .position(|l| l.listener.as_ref().is_some_and(|l| l.port == port))
            .map(|i| i as u32)
    }

    fn listener_id(&self, index: u32) -> ListenerId {
        ListenerId {
            index,
            generation: self.listeners[index as usize].generation,
        }
    }

    // ---- Connections --------------------------------------------------

    /// Active open to `remote` from an ephemeral port (RFC 6056); the SYN
    /// leaves through `poll_frame` once the next hop is resolved.
    pub fn connect(&mut self, now: Instant, remote: SocketAddrV4) -> Result<ConnId, EndpointError> {
        let tcp = self.tcp.clone();
        self.connect_with(now, remote, tcp)
    }

    /// Like [`Endpoint::connect`], with options of its own.
    pub fn connect_with(
        &mut self,
        now: Instant,
        remote: SocketAddrV4,
        tcp: TcpConfig,
    ) -> Result<ConnId, EndpointError> {
        let tcp = self.with_link_mss(tcp)?;
        if remote.port() == 0 {
            return Err(EndpointError::PortZero);
        }
        let Some(next_hop) = self.next_hop(*remote.ip()) else {
            self.stats.no_route += 1;
            return Err(EndpointError::NoRoute(*remote.ip()));
        };
        let local_ip = self.cfg.addr;
        use crate::tcp::ports::PortError;
        // A connection in TIME-WAIT may give way (time_wait_successor): one
        // toward this peer hands over its tuple when every port is taken or
        // at the connection limit; one toward another peer makes room at the
        // limit, once a port is known to be free. Nothing is given up before
        // the new connection is sure to be made.
        let reuse = tcp.timestamps;
        let at_limit = self.live >= self.cfg.max_connections;
        let mut successor = None;
        let mut make_room = None;
        let port = match at_limit {
            false => self.ports.allocate(local_ip.into(), remote.into()),
            true => Err(PortError::PortsExhausted),
        };
        let local = match port {
            Ok(port) => SocketAddrV4::new(local_ip, port),
            Err(PortError::PortsExhausted) => {
                match reuse
                    .then(|| self.time_wait_successor(now, Some(remote)))
                    .flatten()
                {
                    Some(s) => {
                        let local = s.tuple.local;
                        successor = Some(s);
                        local
                    }
                    None if at_limit => {
                        let Some(s) = reuse.then(|| self.time_wait_successor(now, None)).flatten()
                        else {
                            self.stats.conn_limit += 1;
                            return Err(EndpointError::TooManyConnections);
                        };
                        let port = self
                            .ports
                            .allocate(local_ip.into(), remote.into())
                            .map_err(EndpointError::Ports)?;
                        make_room = Some(s);
                        SocketAddrV4::new(local_ip, port)
                    }
                    None => return Err(EndpointError::Ports(PortError::PortsExhausted)),
                }
            }
            Err(e) => return Err(EndpointError::Ports(e)),
        };
        let port = local.port();
        let tuple = FourTuple { local, remote };
        if successor.is_none() && self.tuples.contains_key(&tuple) {
            // A listener's connection from that very peer port: keep it.
            self.ports.release(local_ip.into(), port, remote.into());
            return Err(EndpointError::Ports(PortError::PortsExhausted));
        }
        let iss = match &successor {
            Some(s) => {
                // Its tuple, port included, passes to the new connection.
                let iss = s.iss;
                self.retire_time_wait(s);
                let claimed = self.ports.claim(local_ip.into(), port, remote.into());
                debug_assert!(claimed, "the port its connection held is free again");
                iss
            }
            None => self.isn.isn(now, local.into(), remote.into()),
        };
        if let Some(s) = &make_room {
            self.retire_time_wait(s);
        }
        let mut conn = match Connection::connect(now, local, remote, iss, tcp) {
            Ok(c) => c,
            Err(_) => unreachable_config(),
        };
        conn.set_ts_offset(self.isn.ts_offset(local.into(), remote.into()));
        self.stats.active_opens += 1;
        let id = self.insert(Entry {
            conn,
            tuple,
            owner: Owner::App,
            ephemeral: true,
            next_hop,
            arp_wait: false,
            unreachable: None,
            unreachable_reported: false,
            peer: None,
        });
        Ok(id)
    }

    /// Queues bytes to send; how many fit (0: wait for `Writable`).
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, EndpointError> {
        let e = self.app_entry(id)?;
        Ok(e.conn.send(data)?)
    }

    /// Reads received bytes; `Ok(0)`: nothing yet, `Err(Conn(Finished))`: end
    /// of stream.
    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> Result<usize, EndpointError> {
        let e = self.app_entry(id)?;
        Ok(e.conn.recv(buf)?)
    }

    /// Closes the sending side; reading goes on.
    pub fn shutdown(&mut self, id: ConnId) -> Result<(), EndpointError> {
        self.app_entry(id)?.conn.shutdown();
        Ok(())
    }

    /// Closes both sides and gives the handle up: the connection finishes
    /// (FIN, TIME-WAIT) on its own and is reaped when CLOSED.
    pub fn close(&mut self, now: Instant, id: ConnId) -> Result<(), EndpointError> {
        let e = self.entry_mut(id).ok_or(EndpointError::StaleHandle)?;
        e.conn.close(now);
        e.owner = Owner::Orphan;
        self.after_input(id.index as usize);
        Ok(())
    }

    /// Resets the connection and gives the handle up.
    pub fn abort(&mut self, id: ConnId) -> Result<(), EndpointError> {
        let e = self.entry_mut(id).ok_or(EndpointError::StaleHandle)?;
        e.conn.abort();
        e.owner = Owner::Orphan;
        self.after_input(id.index as usize);
        Ok(())
    }

    pub fn state(&self, id: ConnId) -> Result<State, EndpointError> {
        Ok(self
            .entry(id)
            .ok_or(EndpointError::StaleHandle)?
            .conn
            .state())
    }

    pub fn info(&self, id: ConnId) -> Result<ConnInfo, EndpointError> {
        Ok(self
            .entry(id)
            .ok_or(EndpointError::StaleHandle)?
            .conn
            .info())
    }

    pub fn conn_stats(&self, id: ConnId) -> Result<ConnStats, EndpointError> {
        Ok(self
            .entry(id)
            .ok_or(EndpointError::StaleHandle)?
            .conn
            .stats())
    }

    /// The connection's addresses.
    pub fn tuple(&self, id: ConnId) -> Result<FourTuple, EndpointError> {
        Ok(self.entry(id).ok_or(EndpointError::StaleHandle)?.tuple)
    }

    /// Bytes ready to read.
    pub fn readable(&self, id: ConnId) -> Result<usize, EndpointError> {
        Ok(self
            .entry(id)
            .ok_or(EndpointError::StaleHandle)?
            .conn
            .readable())
    }

    /// Bytes the send buffer can take now.
    pub fn send_capacity(&self, id: ConnId) -> Result<usize, EndpointError> {
        Ok(self
            .entry(id)
            .ok_or(EndpointError::StaleHandle)?
            .conn
            .send_capacity())
    }

    /// A live entry the application may use; an ARP failure is its error.
    fn app_entry(&mut self, id: ConnId) -> Result<&mut Entry, EndpointError> {
        let e = self.entry_mut(id).ok_or(EndpointError::StaleHandle)?;
        if let Some(ip) = e.unreachable {
            return Err(EndpointError::NoArpReply(ip));
        }
        Ok(e)
    }

    fn entry(&self, id: ConnId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_ref()
    }

    /// The entry behind a handle, for a call that may change its deadline.
    fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_ref()?;
        self.mark(id.index as usize);
        self.slots[id.index as usize].entry.as_mut()
    }

    /// The connection in `index` was (or is about to be) called: it may have
    /// a new deadline, segments to send and events to report.
    fn mark(&mut self, index: usize) {
        self.touch_timers(index);
        self.queue(index, true, true);
    }

    /// Puts connection `index` on the transmit queue (`tx`) and the event
    /// queue (`ev`) unless it is there already.
    fn queue(&mut self, index: usize, tx: bool, ev: bool) {
        let slot = &mut self.slots[index];
        if tx && !slot.tx_queued {
            slot.tx_queued = true;
            self.tx_ready.push_back(index as u32);
        }
        if ev && !slot.ev_queued {
            slot.ev_queued = true;
            self.ev_ready.push_back(index as u32);
        }
    }

    /// After connection `index` sent a segment: polled again only if it
    /// may have more (`more`), asked for events only if it has some; its
    /// timers were touched when it was polled.
    fn after_output(&mut self, index: usize, more: bool) {
        let Some(e) = self.slots[index].entry.as_ref() else {
            return;
        };
        let (events, closed, app) = (
            e.conn.has_events(),
            e.conn.is_closed(),
            e.owner == Owner::App,
        );
        self.queue(index, more, events || closed);
        if closed && !app {
            self.reap(index);
        }
    }

    /// The wheel hears the connection's deadline before it is next asked.
    fn touch_timers(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if !slot.touched {
            slot.touched = true;
            self.touched.push(index as u32);
        }
    }

    /// Tells the wheel the deadlines of the connections touched since.
    fn sync_timers(&mut self) {
        for i in self.touched.drain(..) {
            let slot = &mut self.slots[i as usize];
            slot.touched = false;
            match slot.entry.as_ref().and_then(|e| e.conn.poll_timeout()) {
                Some(t) => self.wheel.schedule(i, t),
                None => self.wheel.cancel(i),
            }
        }
    }

    fn id_of(&self, index: usize) -> ConnId {
        ConnId {
            index: index as u32,
            generation: self.slots[index].generation,
        }
    }

    /// Puts a new connection in a free slot (the caller checked the limit).
    fn insert(&mut self, mut entry: Entry) -> ConnId {
        // Segments are checksummed as the endpoint says (set_tx_checksum).
        entry.conn.set_checksum_fill(self.tx_checksum);
        let tuple = entry.tuple;
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].entry = Some(entry);
                i
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(entry),
                    touched: false,
                    tx_queued: false,
                    ev_queued: false,
                    in_time_wait: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.mark(index as usize);
        self.live += 1;
        self.tuples.insert(tuple, index);
        self.id_of(index as usize)
    }

    /// Frees a slot: the tuple, the ephemeral port, the backlog place; the
    /// generation moves on so old handles go stale.
    fn reap(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let Some(e) = slot.entry.take() else {
            return;
        };
        let id = ConnId {
            index: index as u32,
            generation: slot.generation,
        };
        slot.generation = slot.generation.wrapping_add(1);
        slot.in_time_wait = false;
        self.wheel.cancel(index as u32);
        self.free.push(index as u32);
        self.live -= 1;
        self.stats.reaped += 1;
        self.tuples.remove(&e.tuple);
        if e.arp_wait {
            self.arp_waiting -= 1;
        }
        if e.ephemeral {
            let local = e.tuple.local;
            self.ports
                .release((*local.ip()).into(), local.port(), e.tuple.remote.into());
        }
        if let Owner::Listener { listener, queued } = e.owner
            && let Some(l) = self.listeners[listener as usize].listener.as_mut()
        {
            l.pending -= 1;
            if queued && let Some(pos) = l.accept_queue.iter().position(|c| *c == id) {
                l.accept_queue.remove(pos);
            }
        }
    }

    /// Bookkeeping after a connection did something: a handshake completed
    /// for a listener (queue it for accept), or it ended (reap it unless the
    /// application still has events to read).
    fn after_input(&mut self, index: usize) {
        self.mark(index);
        let Some(e) = self.slots[index].entry.as_mut() else {
            return;
        };
        if let Owner::Listener {
            listener,
            queued: false,
        } = e.owner
            && e.conn.state().is_synchronized()
        {
            e.owner = Owner::Listener {
                listener,
                queued: true,
            };
            let id = self.id_of(index);
            if let Some(l) = self.listeners[listener as usize].listener.as_mut() {
                l.accept_queue.push_back(id);
                let lid = self.listener_id(listener);
                self.push_event(EndpointEvent::Acceptable(lid));
            }
        }
        let Some(e) = self.slots[index].entry.as_ref() else {
            return;
        };
        if e.conn.is_closed() && e.owner != Owner::App {
            self.reap(index);
        } else if self.cfg.time_wait_reuse
            && e.ephemeral
            && e.conn.state() == State::TimeWait
            && e.conn.ts_recent().is_some()
            && !self.slots[index].in_time_wait
        {
            self.slots[index].in_time_wait = true;
            let id = self.id_of(index);
            self.time_wait.push_back(id);
            self.drop_stale_time_waits();
            if self.time_wait.len() > 2 * self.cfg.max_connections {
                // Connections that left TIME-WAIT early (a reset, a new SYN)
                // behind one that has not: keep only those still in it.
                let mut list = std::mem::take(&mut self.time_wait);
                list.retain(|&id| self.in_time_wait(id));
                self.time_wait = list;
            }
        }
    }

    /// Whether `id` is a connection still in TIME-WAIT.
    fn in_time_wait(&self, id: ConnId) -> bool {
        let slot = &self.slots[id.index as usize];
        slot.generation == id.generation
            && slot
                .entry
                .as_ref()
                .is_some_and(|e| e.conn.state() == State::TimeWait)
    }

    /// Forgets the front entries of connections that left TIME-WAIT (they
    /// leave in about the order they entered: the list stays near the number
    /// of connections in TIME-WAIT).
    fn drop_stale_time_waits(&mut self) {
        while let Some(&id) = self.time_wait.front() {
            if self.in_time_wait(id) {
                break;
            }
            self.time_wait.pop_front();
        }
    }

    /// `EndpointConfig::time_wait_reuse`: the oldest connection in TIME-WAIT
    /// that a new active open may replace now (toward `remote` if given):
    /// one the application has let go of (closed), with timestamps and a
    /// second past its last one (`Connection::time_wait_successor_iss`).
    /// The list is in about the order of the last timestamps, so the search
    /// ends at the first connection still too recent.
    fn time_wait_successor(
        &self,
        now: Instant,
        remote: Option<SocketAddrV4>,
    ) -> Option<TimeWaitSuccessor> {
        if !self.cfg.time_wait_reuse {
            return None;
        }
        for (pos, &id) in self.time_wait.iter().enumerate() {
            if !self.in_time_wait(id) {
                continue;
            }
            let Some(e) = self.slots[id.index as usize].entry.as_ref() else {
                continue;
            };
            if e.owner != Owner::Orphan {
                continue; // The application still holds it (and its events).
            }
            let Some(iss) = e.conn.time_wait_successor_iss(now) else {
                break;
            };
            if remote.is_none_or(|r| r == e.tuple.remote) {
                return Some(TimeWaitSuccessor {
                    pos,
                    id,
                    tuple: e.tuple,
                    iss,
                });
            }
        }
        None
    }

    /// Ends the connection in TIME-WAIT that `s` found.
    fn retire_time_wait(&mut self, s: &TimeWaitSuccessor) {
        self.time_wait.remove(s.pos);
        self.reap(s.id.index as usize);
        self.stats.time_wait_takeover += 1;
    }

    fn push_event(&mut self, ev: EndpointEvent) {
        if self.events.len() >= self.cfg.max_events {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        self.events.push_back(ev);
    }

    /// The next event: listener readiness first, then the connections'
    /// events, round-robin. A CLOSED connection is reaped once its last event
    /// was read.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        // Only connections touched since they last had nothing to report;
        // one stays at the front until its events are drained.
        while let Some(&i) = self.ev_ready.front() {
            let i = i as usize;
            if let Some(e) = self.slots[i].entry.as_mut()
                && e.owner == Owner::App
            {
                if let Some(ev) = e.conn.poll_event() {
                    let id = self.id_of(i);
                    return Some(EndpointEvent::Conn(id, ev));
                }
                if let (Some(ip), false) = (e.unreachable, e.unreachable_reported) {
                    e.unreachable_reported = true;
                    return Some(EndpointEvent::Unreachable(self.id_of(i), ip));
                }
            }
            // Nothing (more) to report: off the queue until touched again.
            // A connection still owned by its listener is queued again when
            // accepted.
            self.ev_ready.pop_front();
            self.slots[i].ev_queued = false;
            if self.slots[i]
                .entry
                .as_ref()
                .is_some_and(|e| e.owner == Owner::App && e.conn.is_closed())
            {
                self.reap(i);
            }
        }
        None
    }

    // ---- Time ---------------------------------------------------------

    /// When `handle_timeout` should next be called (perhaps a little
    /// early for a deadline milliseconds away: the wheel's bucket start).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.sync_timers();
        match (self.wheel.next_wakeup(), self.neighbors.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the connections' timers due at `now` (found through the
    /// per-shard timer wheel, not a scan of every connection) and moves the
    /// neighbour cache on (ARP retries, failures). Returns whether anything
    /// happened: a wake-up at a wheel bucket's start only moves deadlines
    /// down a level, and the caller need not treat it as work.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        self.sync_timers();
        let mut due = std::mem::take(&mut self.due);
        self.wheel.expire(now, &mut due);
        let mut fired = false;
        for &i in &due {
            let i = i as usize;
            self.touch_timers(i);
            let Some(e) = self.slots[i].entry.as_mut() else {
                continue;
            };
            if e.conn.poll_timeout().is_some_and(|t| t <= now) {
                e.conn.handle_timeout(now);
                self.after_input(i);
                fired = true;
            }
        }
        due.clear();
        self.due = due;
        let (control, failures) = (self.control.len(), self.stats.arp_failures);
        self.service_neighbors(now);
        fired || self.control.len() != control || self.stats.arp_failures != failures
    }

    /// Queues the ARP requests due and fails the connections whose next hop
    /// gave up.
    fn service_neighbors(&mut self, now: Instant) {
        self.queue_arp_requests(now);
        if self.arp_waiting == 0 {
            return;
        }
        for i in 0..self.slots.len() {
            let Some(e) = self.slots[i].entry.as_mut() else {
                continue;
            };
            if !e.arp_wait {
                continue;
            }
            match self.neighbors.lookup(now, e.next_hop) {
                Lookup::Found(_) => {
                    e.arp_wait = false;
                    self.arp_waiting -= 1;
                    self.mark(i);
                }
                Lookup::Failed => self.fail_unreachable(i),
                Lookup::Pending | Lookup::TableFull => {}
            }
        }
    }

    /// The next hop never answered ARP: abort the connection; the application
    /// hears `Unreachable` (and the error on every call) before it is reaped.
    fn fail_unreachable(&mut self, index: usize) {
        let Some(e) = self.slots[index].entry.as_mut() else {
            return;
        };
        if e.arp_wait {
            e.arp_wait = false;
            self.arp_waiting -= 1;
        }
        e.unreachable = Some(e.next_hop);
        e.conn.abort_silently();
        self.stats.arp_failures += 1;
        self.after_input(index);
    }

    /// Learns a neighbour's MAC from outside ARP: the control plane seeds
    /// it from the kernel's table when Shunt shares the kernel's address (the
    /// kernel then receives the ARP replies). Only on-link addresses.
    pub fn add_neighbor(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) -> bool {
        self.next_hop(ip) == Some(ip) && self.neighbors.learn(now, ip, mac)
    }

    /// Learns the MAC of an on-link sender from a valid IPv4 frame addressed
    /// to us, so a passive open needs no ARP exchange of its own.
    pub(crate) fn glean(&mut self, now: Instant, src: Ipv4Addr, mac: EthernetAddress) {
        if self.next_hop(src) == Some(src) {
            self.neighbors.learn(now, src, mac);
        }
    }

    /// Per-connection options with the MSS the link allows (at most), checked.
    fn with_link_mss(&self, tcp: TcpConfig) -> Result<TcpConfig, EndpointError> {
        let tcp = TcpConfig {
            mss: tcp.mss.min(self.tcp.mss),
            ..tcp
        };
        tcp.validate().map_err(EndpointError::Options)?;
        Ok(tcp)
    }

    /// Turns Nagle's algorithm off (true) or on for one connection.
    pub fn set_nodelay(&mut self, id: ConnId, nodelay: bool) -> Result<(), EndpointError> {
        self.app_entry(id)?.conn.set_nodelay(nodelay);
        Ok(())
    }

    fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        neighbor::next_hop(dst, self.cfg.addr, self.cfg.prefix_len, self.cfg.gateway)
    }

    fn queue_control(&mut self, c: Control) {
        if self.control.len() >= self.cfg.max_control_frames {
            self.stats.control_queue_full += 1;
            return;
        }
        self.control.push_back(c);
    }

    /// ISN for a new connection of `tuple` (RFC 6528).
    fn isn_for(&self, now: Instant, tuple: &FourTuple) -> SeqNum {
        self.isn.isn(
            now,
            SocketAddr::V4(tuple.local),
            SocketAddr::V4(tuple.remote),
        )
    }
}

/// The template was validated in `Endpoint::new`, so `Connection::connect` and
/// `listen` cannot refuse it.
#[cold]
fn unreachable_config() -> ! {
    unreachable!("the connection template was validated at endpoint creation")
}

/// Flags of a segment, for the rules of RFC 9293 3.10.7.
pub(crate) fn is_plain_syn(flags: TcpFlags, ack: Option<SeqNum>) -> bool {
    flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::RST) && ack.is_none()
}
