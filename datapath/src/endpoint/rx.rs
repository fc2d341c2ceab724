//! Frames in: Ethernet, then ARP or IPv4, then TCP, then the demux.
//!
//! Every check that fails counts one drop cause in [`EndpointStats`] and
//! returns; nothing here can panic on bytes from the wire (every view is made
//! with `new_checked` before its fields are read).
//!
//! [`EndpointStats`]: super::EndpointStats

use core::net::{Ipv4Addr, SocketAddrV4};

use super::time_wait::{PeerTrack, time_wait_accepts_syn};
use super::{Control, Endpoint, Entry, FourTuple, Owner, RstOut, is_plain_syn};
use crate::tcp::{Connection, State};
use crate::time::Instant;
use crate::wire::{
    ArpPacket, ArpRepr, Error, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Packet, Ipv4Repr, SeqNum, TcpFlags, TcpPacket, TcpRepr, ethernet,
};

/// What became of a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rx {
    /// Handled here (delivered, answered or counted as a drop).
    Done,
    /// Belongs to the connection of another shard, by that shard's index.
    Foreign(u32),
}

impl Endpoint {
    /// Handles one received frame (without FCS). Never panics; every frame
    /// that goes nowhere is counted by cause.
    ///
    /// Returns [`Rx::Foreign`] for a segment of a connection that another
    /// shard opened (its local port is in that shard's ephemeral range): the
    /// caller hands the frame to that shard.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> Rx {
        self.receive(now, frame, self.cfg.verify_checksums)
    }

    /// Handles a frame another shard's endpoint received, checked and found
    /// to be ours ([`Rx::Foreign`]): its checksums are not summed again.
    pub fn handle_handed_frame(&mut self, now: Instant, frame: &[u8]) -> Rx {
        self.receive(now, frame, false)
    }

    fn receive(&mut self, now: Instant, frame: &[u8], verify: bool) -> Rx {
        self.stats.frames_in += 1;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.stats.bad_ethernet += 1;
            return Rx::Done;
        };
        let Ok(eth_repr) = EthernetRepr::parse(&eth) else {
            self.stats.bad_ethernet += 1;
            return Rx::Done;
        };
        let payload = &frame[ethernet::HEADER_LEN..];
        let to_us = eth_repr.dst_addr == self.cfg.mac;
        match eth_repr.ethertype {
            EtherType::Arp if to_us || eth_repr.dst_addr.is_broadcast() => {
                self.handle_arp(now, payload)
            }
            EtherType::Ipv4 if to_us => {
                return self.handle_ipv4(now, eth_repr.src_addr, payload, verify);
            }
            EtherType::Arp | EtherType::Ipv4 => self.stats.not_our_mac += 1,
            EtherType::Ipv6 | EtherType::Unknown(_) => self.stats.other_ethertype += 1,
        }
        Rx::Done
    }

    fn handle_arp(&mut self, now: Instant, bytes: &[u8]) {
        let repr = ArpPacket::new_checked(bytes).and_then(|p| ArpRepr::parse(&p));
        let Ok(arp) = repr else {
            self.stats.bad_arp += 1;
            return;
        };
        self.stats.arp_in += 1;
        if let Some(reply) = self.neighbors.on_arp(now, &arp) {
            self.queue_control(Control::Arp(reply));
        }
        // A resolved next hop releases the connections held for it; the
        // first `poll_frame` finds them.
        if self.arp_waiting > 0 {
            self.service_neighbors(now);
        }
    }

    fn handle_ipv4(
        &mut self,
        now: Instant,
        src_mac: EthernetAddress,
        bytes: &[u8],
        verify: bool,
    ) -> Rx {
        let packet = match Ipv4Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(_) => {
                self.stats.bad_ip += 1;
                return Rx::Done;
            }
        };
        let ip = match Ipv4Repr::parse(&packet, verify) {
            Ok(r) => r,
            Err(Error::BadChecksum) => {
                self.stats.bad_ip_checksum += 1;
                return Rx::Done;
            }
            Err(Error::Fragmented) => {
                self.stats.ip_fragments += 1;
                return Rx::Done;
            }
            Err(_) => {
                self.stats.bad_ip += 1;
                return Rx::Done;
            }
        };
        if ip.dst_addr != self.cfg.addr {
            self.stats.not_our_ip += 1;
            return Rx::Done;
        }
        if !is_unicast_source(ip.src_addr) || ip.src_addr == self.cfg.addr {
            // RFC 1122 4.2.3.10: never answer, never connect.
            self.stats.bad_source += 1;
            return Rx::Done;
        }
        if ip.protocol != IpProtocol::Tcp {
            self.stats.other_protocol += 1;
            return Rx::Done;
        }
        self.glean(now, ip.src_addr, src_mac);
        // The IP payload, without the Ethernet padding of short frames.
        let end = usize::from(packet.total_len());
        let tcp_bytes = &bytes[packet.header_len()..end];
        let seg = match TcpPacket::new_checked(tcp_bytes)
            .and_then(|p| TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, verify))
        {
            Ok(s) => s,
            Err(Error::BadChecksum) => {
                self.stats.bad_tcp_checksum += 1;
                return Rx::Done;
            }
            Err(_) => {
                self.stats.bad_tcp += 1;
                return Rx::Done;
            }
        };
        if seg.src_port == 0 || seg.dst_port == 0 {
            self.stats.bad_tcp += 1;
            return Rx::Done;
        }
        let tuple = FourTuple {
            local: SocketAddrV4::new(ip.dst_addr, seg.dst_port),
            remote: SocketAddrV4::new(ip.src_addr, seg.src_port),
        };
        self.handle_segment(now, src_mac, tuple, &seg)
    }

    /// The demux: the tuple's connection, else a listener, else a reset.
    fn handle_segment(
        &mut self,
        now: Instant,
        src_mac: EthernetAddress,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
    ) -> Rx {
        if let Some(&index) = self.tuples.get(&tuple) {
            let index = index as usize;
            if self.syn_replaces_time_wait(index, seg) {
                // RFC 6191: the old incarnation is over; the SYN opens anew.
                self.stats.time_wait_reuse += 1;
                self.reap(index);
            } else {
                self.deliver_to_connection(now, index, seg);
                return Rx::Done;
            }
        }
        let port = tuple.local.port();
        match self.listener_index(port) {
            Some(listener) => self.deliver_to_listener(now, src_mac, listener, tuple, seg),
            None => {
                if let Some(&(_, shard)) = self
                    .cfg
                    .foreign_ports
                    .iter()
                    .find(|(range, _)| range.contains(port))
                {
                    // Another shard's active open: its queue was not the one
                    // this reply hashed to.
                    self.stats.foreign += 1;
                    return Rx::Foreign(shard);
                }
                self.closed_port(src_mac, tuple, seg)
            }
        }
        Rx::Done
    }

    fn deliver_to_connection(&mut self, now: Instant, index: usize, seg: &TcpRepr<'_>) {
        let Some(e) = self.slots[index].entry.as_mut() else {
            return;
        };
        self.stats.segs_to_conns += 1;
        match e.peer.as_mut() {
            Some(p) => p.observe(seg),
            None if !seg.flags.contains(TcpFlags::RST) => e.peer = Some(PeerTrack::new(seg)),
            None => {}
        }
        e.conn.handle_segment(now, seg);
        self.after_input(index);
    }

    /// Whether a SYN for a connection in TIME-WAIT starts a new one: only
    /// when a listener would take it and the RFC 6191 rule allows it.
    fn syn_replaces_time_wait(&self, index: usize, seg: &TcpRepr<'_>) -> bool {
        let Some(e) = self.slots[index].entry.as_ref() else {
            return false;
        };
        if e.conn.state() != State::TimeWait || !is_plain_syn(seg.flags, seg.ack) {
            return false;
        }
        if self.listener_index(e.tuple.local.port()).is_none() {
            return false;
        }
        e.peer
            .as_ref()
            .is_some_and(|old| time_wait_accepts_syn(old, seg))
    }

    /// RFC 9293 3.10.7.2 (LISTEN), for a segment without a connection.
    fn deliver_to_listener(
        &mut self,
        now: Instant,
        src_mac: EthernetAddress,
        listener: u32,
        tuple: FourTuple,
        seg: &TcpRepr<'_>,
    ) {
        if seg.flags.contains(TcpFlags::RST) {
            // First: an incoming RST is ignored.
            self.stats.listener_non_syn += 1;
            return;
        }
        if let Some(ack) = seg.ack {
            // Second: any acknowledgment is bad: <SEQ=SEG.ACK><CTL=RST>.
            // (SYN cookies would be checked here.)
            self.stats.listener_non_syn += 1;
            self.queue_rst_for(tuple, src_mac, ack, None);
            return;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            // Fourth: anything else is dropped.
            self.stats.listener_non_syn += 1;
            return;
        }
        // Third: a SYN.
        let Some(l) = self.listeners[listener as usize].listener.as_ref() else {
            return;
        };
        if l.pending >= l.backlog {
            // Linux drops the SYN of a full queue; the peer retransmits.
            self.stats.backlog_full += 1;
            return;
        }
        let tcp = l.tcp.clone();
        if self.live >= self.cfg.max_connections {
            self.stats.conn_limit += 1;
            return;
        }
        let Some(next_hop) = self.next_hop(*tuple.remote.ip()) else {
            self.stats.no_route += 1;
            return;
        };
        let iss = self.isn_for(now, &tuple);
        let mut conn = match Connection::listen(now, tuple.local, tuple.remote, iss, tcp) {
            Ok(c) => c,
            Err(_) => super::unreachable_config(),
        };
        conn.set_ts_offset(self.isn.ts_offset(tuple.local.into(), tuple.remote.into()));
        conn.handle_segment(now, seg);
        self.stats.passive_opens += 1;
        self.stats.segs_to_conns += 1;
        if let Some(l) = self.listeners[listener as usize].listener.as_mut() {
            l.pending += 1;
        }
        let id = self.insert(Entry {
            conn,
            tuple,
            owner: Owner::Listener {
                listener,
                queued: false,
            },
            ephemeral: false,
            next_hop,
            arp_wait: false,
            unreachable: None,
            unreachable_reported: false,
            peer: Some(PeerTrack::new(seg)),
        });
        self.after_input(id.index as usize);
    }

    /// RFC 9293 3.10.7.1: no connection and no listener ("CLOSED").
    fn closed_port(&mut self, src_mac: EthernetAddress, tuple: FourTuple, seg: &TcpRepr<'_>) {
        if seg.flags.contains(TcpFlags::RST) {
            // An incoming segment containing a RST is discarded.
            self.stats.rst_to_closed += 1;
            return;
        }
        self.stats.no_listener_rst += 1;
        match seg.ack {
            // If the ACK bit is on: <SEQ=SEG.ACK><CTL=RST>.
            Some(ack) => self.queue_rst_for(tuple, src_mac, ack, None),
            // Else: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
            None => self.queue_rst_for(
                tuple,
                src_mac,
                SeqNum::new(0),
                Some(seg.seq + seg.segment_len()),
            ),
        }
    }

    /// Queues a reset from `tuple.local` to `tuple.remote`. It goes to the MAC
    /// the segment came from (the peer, or the router that forwarded it),
    /// which is the right next hop and needs no ARP.
    fn queue_rst_for(
        &mut self,
        tuple: FourTuple,
        dst_mac: EthernetAddress,
        seq: SeqNum,
        ack: Option<SeqNum>,
    ) {
        self.queue_control(Control::Rst(RstOut {
            dst_mac,
            dst_ip: *tuple.remote.ip(),
            src_port: tuple.local.port(),
            dst_port: tuple.remote.port(),
            seq,
            ack,
        }));
    }
}

/// A source address a TCP segment may come from (RFC 1122 3.2.1.3, 4.2.3.10).
fn is_unicast_source(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
}
