//! Endpoint tests: two endpoints joined by an in-memory Ethernet segment in
//! virtual time, and single endpoints fed crafted frames.

use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;

use super::*;
use crate::tcp::ports::{PortError, PortRange};
use crate::tcp::{ConnError, Event};
use crate::time::Duration;
use crate::wire::{
    ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    TcpPacket, TcpRepr, TcpTimestamps,
};

const SECRET: [u8; 32] = [0x5a; 32];
const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SILENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);
const A_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const B_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PORT: u16 = 80;
/// One-way delay of the test segment.
const DELAY: Duration = Duration::from_micros(500);

fn config(addr: Ipv4Addr, mac: EthernetAddress) -> EndpointConfig {
    let mut c = EndpointConfig::new(addr, 24, mac, SECRET);
    c.tcp.time_wait = Duration::from_secs(2);
    c
}

/// Two endpoints on one Ethernet segment, frames delayed by [`DELAY`].
struct Net {
    a: Endpoint,
    b: Endpoint,
    now: Instant,
    ab: VecDeque<(Instant, Vec<u8>)>,
    ba: VecDeque<(Instant, Vec<u8>)>,
    /// Every frame each side sent.
    log_a: Vec<Vec<u8>>,
    log_b: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl Net {
    fn new(a: EndpointConfig, b: EndpointConfig) -> Net {
        Net {
            a: Endpoint::new(a).unwrap(),
            b: Endpoint::new(b).unwrap(),
            now: Instant::from_millis(1),
            ab: VecDeque::new(),
            ba: VecDeque::new(),
            log_a: Vec::new(),
            log_b: Vec::new(),
            buf: vec![0u8; 1514],
        }
    }

    fn pair() -> Net {
        Net::new(config(A_IP, A_MAC), config(B_IP, B_MAC))
    }

    fn flush(&mut self) {
        for _ in 0..100_000 {
            let mut any = false;
            if let Some(n) = self.a.poll_frame(self.now, &mut self.buf).map(|f| f.len) {
                self.log_a.push(self.buf[..n].to_vec());
                self.ab
                    .push_back((self.now + DELAY, self.buf[..n].to_vec()));
                any = true;
            }
            if let Some(n) = self.b.poll_frame(self.now, &mut self.buf).map(|f| f.len) {
                self.log_b.push(self.buf[..n].to_vec());
                self.ba
                    .push_back((self.now + DELAY, self.buf[..n].to_vec()));
                any = true;
            }
            if !any {
                return;
            }
        }
        panic!("livelock: endless frames at {:?}", self.now);
    }

    /// Sends, jumps to the next event, delivers and fires timers. False when
    /// nothing is left to happen.
    fn step(&mut self) -> bool {
        self.flush();
        let next = [
            self.ab.front().map(|f| f.0),
            self.ba.front().map(|f| f.0),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(t) = next else {
            return false;
        };
        self.now = self.now.max(t);
        while self.ab.front().is_some_and(|f| f.0 <= self.now) {
            let (_, f) = self.ab.pop_front().unwrap();
            self.b.handle_frame(self.now, &f);
        }
        while self.ba.front().is_some_and(|f| f.0 <= self.now) {
            let (_, f) = self.ba.pop_front().unwrap();
            self.a.handle_frame(self.now, &f);
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.flush();
        true
    }
}

/// Builds a frame from `src` to `dst` carrying `seg`.
fn tcp_frame(
    src: (EthernetAddress, Ipv4Addr),
    dst: (EthernetAddress, Ipv4Addr),
    seg: &TcpRepr<'_>,
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src.1,
        dst_addr: dst.1,
        protocol: IpProtocol::Tcp,
        payload_len: seg.buffer_len(),
        ttl: 64,
        dscp_ecn: 0,
        dont_frag: true,
        ident: 7,
    };
    let eth = EthernetRepr {
        src_addr: src.0,
        dst_addr: dst.0,
        ethertype: EtherType::Ipv4,
    };
    let mut frame = vec![0u8; eth.buffer_len(ip.buffer_len())];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f).unwrap();
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p).unwrap();
    seg.emit(&mut TcpPacket::new_unchecked(p.payload_mut()), src.1, dst.1)
        .unwrap();
    frame
}

/// Parses a frame as Ethernet/IPv4/TCP: (IP header, segment).
fn parse_tcp(frame: &[u8]) -> Option<(Ipv4Repr, TcpRepr<'_>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let rest = &frame[14..];
    let p = Ipv4Packet::new_checked(rest).ok()?;
    let ip = Ipv4Repr::parse(&p, true).ok()?;
    let tcp = &rest[p.header_len()..usize::from(p.total_len())];
    let seg = TcpRepr::parse(
        &TcpPacket::new_checked(tcp).ok()?,
        ip.src_addr,
        ip.dst_addr,
        true,
    )
    .ok()?;
    Some((ip, seg))
}

fn parse_arp(frame: &[u8]) -> Option<ArpRepr> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Arp {
        return None;
    }
    ArpRepr::parse(&ArpPacket::new_checked(&frame[14..]).ok()?).ok()
}

fn syn(src_port: u16, dst_port: u16, seq: u32) -> TcpRepr<'static> {
    TcpRepr {
        src_port,
        dst_port,
        seq: SeqNum::new(seq),
        flags: TcpFlags::SYN,
        window_len: 65535,
        mss: Some(1460),
        ..TcpRepr::default()
    }
}

/// All frames `ep` has to send now.
fn drain(ep: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 1514];
    let mut out = Vec::new();
    while let Some(n) = ep.poll_frame(now, &mut buf).map(|f| f.len) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 10_000, "livelock");
    }
    out
}

fn events(ep: &mut Endpoint) -> Vec<EndpointEvent> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

// ---- Pair tests ------------------------------------------------------

/// The bytes one side of a connection sends, from its client port.
fn pattern(client_port: u16, from_client: bool) -> Vec<u8> {
    let mut x = u32::from(client_port)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u32::from(from_client));
    let len = (x % 60_000) as usize + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[derive(Debug)]
struct AppConn {
    id: ConnId,
    out: Vec<u8>,
    sent: usize,
    expect: Vec<u8>,
    got: Vec<u8>,
    shut: bool,
    closed: bool,
}

impl AppConn {
    fn new(ep: &Endpoint, id: ConnId, client: bool) -> AppConn {
        let t = ep.tuple(id).unwrap();
        let port = if client {
            t.local.port()
        } else {
            t.remote.port()
        };
        AppConn {
            id,
            out: pattern(port, client),
            sent: 0,
            expect: pattern(port, !client),
            got: Vec::new(),
            shut: false,
            closed: false,
        }
    }

    /// Sends what fits, reads what arrived, closes at the end of both.
    fn run(&mut self, ep: &mut Endpoint, now: Instant) {
        if self.closed {
            return;
        }
        while self.sent < self.out.len() {
            let n = ep.send(self.id, &self.out[self.sent..]).unwrap();
            if n == 0 {
                break;
            }
            self.sent += n;
        }
        // A shutdown in SYN-SENT would delete the connection (RFC 9293
        // 3.10.4): wait for the handshake.
        let open = ep.state(self.id).unwrap().is_synchronized();
        if self.sent == self.out.len() && !self.shut && open {
            ep.shutdown(self.id).unwrap();
            self.shut = true;
        }
        let mut buf = [0u8; 4096];
        loop {
            match ep.recv(self.id, &mut buf) {
                Ok(0) => break,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(EndpointError::Conn(ConnError::Finished)) => {
                    assert_eq!(self.got.len(), self.expect.len());
                    assert!(self.got == self.expect, "{} data corrupted", self.id);
                    if self.shut {
                        ep.close(now, self.id).unwrap();
                        self.closed = true;
                    }
                    break;
                }
                Err(e) => panic!(
                    "{}: {e} in {:?} at {:?}, got {} of {}, sent {} of {}",
                    self.id,
                    ep.state(self.id),
                    now,
                    self.got.len(),
                    self.expect.len(),
                    self.sent,
                    self.out.len()
                ),
            }
        }
    }
}

#[test]
fn fifty_connections_resolve_arp_handshake_exchange_data_both_ways_and_close() {
    let mut net = Net::pair();
    let listener = net.b.listen(PORT, 64).unwrap();
    let mut clients: Vec<AppConn> = Vec::new();
    for _ in 0..50 {
        let id = net
            .a
            .connect(net.now, SocketAddrV4::new(B_IP, PORT))
            .unwrap();
        clients.push(AppConn::new(&net.a, id, true));
    }
    let mut servers: Vec<AppConn> = Vec::new();
    let end = net.now + Duration::from_secs(60);
    for _ in 0..1_000_000 {
        for ev in events(&mut net.b) {
            if let EndpointEvent::Acceptable(l) = ev {
                while let Some(id) = net.b.accept(l).unwrap() {
                    servers.push(AppConn::new(&net.b, id, false));
                }
            }
        }
        for ev in events(&mut net.a) {
            assert!(
                !matches!(ev, EndpointEvent::Conn(_, Event::Error(_))),
                "{ev:?}"
            );
        }
        for c in &mut clients {
            c.run(&mut net.a, net.now);
        }
        for s in &mut servers {
            s.run(&mut net.b, net.now);
        }
        let all_closed = clients.iter().chain(&servers).all(|c| c.closed);
        if servers.len() == 50
            && all_closed
            && net.a.connection_count() == 0
            && net.b.connection_count() == 0
        {
            break;
        }
        assert!(net.now < end, "stuck at {:?}", net.now);
        assert!(net.step(), "nothing left to happen before the end");
    }
    assert_eq!(servers.len(), 50);
    let (a, b) = (net.a.stats(), net.b.stats());
    assert_eq!((a.arp_requests_out, b.arp_replies_out), (1, 1));
    assert_eq!(b.arp_requests_out, 0, "B learned A from its request");
    assert_eq!((a.active_opens, b.passive_opens), (50, 50));
    assert_eq!((a.reaped, b.reaped), (50, 50));
    assert_eq!(net.a.ephemeral_ports_held(), 0);
    assert_eq!(a.no_listener_rst + b.no_listener_rst, 0);
    for c in &clients {
        assert_eq!(net.a.state(c.id), Err(EndpointError::StaleHandle));
    }
    let _ = listener;
}

#[test]
fn frames_out_carry_ttl_64_df_and_an_incrementing_ident() {
    let mut net = Net::pair();
    net.b.listen(PORT, 8).unwrap();
    net.a
        .connect(net.now, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    for _ in 0..20 {
        net.step();
    }
    let idents: Vec<u16> = net
        .log_a
        .iter()
        .filter_map(|f| parse_tcp(f))
        .map(|(ip, _)| {
            assert_eq!((ip.ttl, ip.dont_frag, ip.src_addr), (64, true, A_IP));
            ip.ident
        })
        .collect();
    assert!(idents.len() >= 2);
    assert!(idents.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
}

// ---- Resets for closed ports (RFC 9293 3.10.7.1) ---------------------

const PEER: (EthernetAddress, Ipv4Addr) = (EthernetAddress([2, 0, 0, 0, 0, 7]), A_IP);
const US: (EthernetAddress, Ipv4Addr) = (B_MAC, B_IP);

fn lone_b() -> Endpoint {
    Endpoint::new(config(B_IP, B_MAC)).unwrap()
}

#[test]
fn syn_to_closed_port_gets_rst_ack_with_seq_zero_and_ack_seq_plus_len() {
    let mut b = lone_b();
    let now = Instant::from_millis(5);
    b.handle_frame(now, &tcp_frame(PEER, US, &syn(40000, 81, 1000)));
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    let (ip, rst) = parse_tcp(&out[0]).unwrap();
    assert_eq!((ip.src_addr, ip.dst_addr), (B_IP, A_IP));
    assert_eq!(&out[0][0..6], PEER.0.as_bytes(), "back to the sender's MAC");
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!(rst.seq, SeqNum::new(0));
    assert_eq!(rst.ack, Some(SeqNum::new(1001)));
    assert_eq!((rst.src_port, rst.dst_port), (81, 40000));
    assert_eq!(b.stats().no_listener_rst, 1);
}

#[test]
fn data_with_fin_to_closed_port_is_acknowledged_by_its_whole_length() {
    let mut b = lone_b();
    let seg = TcpRepr {
        flags: TcpFlags::FIN,
        payload: b"hello",
        ..syn(40000, 81, 500)
    };
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &seg));
    let out = drain(&mut b, Instant::ZERO);
    let (_, rst) = parse_tcp(&out[0]).unwrap();
    assert_eq!(rst.ack, Some(SeqNum::new(506)));
}

#[test]
fn ack_to_closed_port_gets_rst_with_seq_of_seg_ack() {
    let mut b = lone_b();
    let seg = TcpRepr {
        flags: TcpFlags::empty(),
        ack: Some(SeqNum::new(777_777)),
        payload: b"x",
        ..syn(40000, 81, 1000)
    };
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &seg));
    let out = drain(&mut b, Instant::ZERO);
    assert_eq!(out.len(), 1);
    let (_, rst) = parse_tcp(&out[0]).unwrap();
    assert_eq!(rst.flags, TcpFlags::RST);
    assert_eq!((rst.seq, rst.ack), (SeqNum::new(777_777), None));
}

#[test]
fn rst_to_closed_port_is_not_answered() {
    let mut b = lone_b();
    let seg = TcpRepr {
        flags: TcpFlags::RST,
        ..syn(40000, 81, 1000)
    };
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &seg));
    assert!(drain(&mut b, Instant::ZERO).is_empty());
    assert_eq!(b.stats().rst_to_closed, 1);
}

#[test]
fn ack_to_listening_port_without_connection_gets_rst() {
    let mut b = lone_b();
    b.listen(PORT, 4).unwrap();
    let seg = TcpRepr {
        flags: TcpFlags::empty(),
        ack: Some(SeqNum::new(42)),
        ..syn(40000, PORT, 1)
    };
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &seg));
    let out = drain(&mut b, Instant::ZERO);
    let (_, rst) = parse_tcp(&out[0]).unwrap();
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, SeqNum::new(42)));
    assert_eq!(b.connection_count(), 0);
}

// ---- Listener bounds ---------------------------------------------------

#[test]
fn full_backlog_drops_syns_and_counts_them() {
    let mut b = lone_b();
    b.listen(PORT, 2).unwrap();
    for port in 40000..40003 {
        b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &syn(port, PORT, 1)));
    }
    assert_eq!(b.connection_count(), 2);
    assert_eq!(b.stats().backlog_full, 1);
    assert_eq!(b.stats().passive_opens, 2);
    // A retransmitted SYN of an admitted connection is its own business.
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &syn(40000, PORT, 1)));
    assert_eq!(b.stats().backlog_full, 1);
}

#[test]
fn syns_beyond_the_connection_limit_are_dropped_and_counted() {
    let mut cfg = config(B_IP, B_MAC);
    cfg.max_connections = 1;
    let mut b = Endpoint::new(cfg).unwrap();
    b.listen(PORT, 8).unwrap();
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &syn(40000, PORT, 1)));
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &syn(40001, PORT, 1)));
    assert_eq!(b.connection_count(), 1);
    assert_eq!(b.stats().conn_limit, 1);
    assert_eq!(
        b.connect(Instant::ZERO, SocketAddrV4::new(A_IP, 9)),
        Err(EndpointError::TooManyConnections)
    );
    assert_eq!(b.stats().conn_limit, 2);
}

#[test]
fn listen_refuses_a_taken_port_and_port_zero() {
    let mut b = lone_b();
    let l = b.listen(PORT, 4).unwrap();
    assert_eq!(b.listen(PORT, 4), Err(EndpointError::PortInUse(PORT)));
    assert_eq!(b.listen(0, 4), Err(EndpointError::PortZero));
    b.handle_frame(Instant::ZERO, &tcp_frame(PEER, US, &syn(40000, PORT, 1)));
    assert_eq!(b.connection_count(), 1);
    b.unlisten(l).unwrap();
    assert_eq!(b.accept(l), Err(EndpointError::UnknownListener));
    // Its pending connection is reset once the peer's MAC is known (here the
    // peer never answers ARP, so the reset is dropped with the connection).
    let mut now = Instant::ZERO;
    for _ in 0..100 {
        drain(&mut b, now);
        let Some(t) = b.poll_timeout() else { break };
        now = now.max(t);
        b.handle_timeout(now);
    }
    assert_eq!(b.connection_count(), 0);
    let l2 = b.listen(PORT, 4).unwrap();
    assert_ne!(l, l2, "a new listener in the same slot is a new handle");
}

// ---- ARP ---------------------------------------------------------------

#[test]
fn connect_to_a_host_that_never_answers_arp_fails_with_no_arp_reply() {
    let mut a = Endpoint::new(config(A_IP, A_MAC)).unwrap();
    let mut now = Instant::from_millis(1);
    let id = a.connect(now, SocketAddrV4::new(SILENT_IP, PORT)).unwrap();
    let mut requests = 0;
    let mut got = None;
    for _ in 0..1000 {
        for f in drain(&mut a, now) {
            let arp = parse_arp(&f).expect("only ARP may leave");
            assert_eq!(arp.target_protocol_addr, SILENT_IP);
            assert_eq!(&f[0..6], EthernetAddress::BROADCAST.as_bytes());
            requests += 1;
        }
        if let Some(ev) = a.poll_event() {
            got = Some(ev);
            break;
        }
        let Some(t) = a.poll_timeout() else { break };
        now = now.max(t);
        a.handle_timeout(now);
    }
    assert_eq!(got, Some(EndpointEvent::Unreachable(id, SILENT_IP)));
    assert_eq!(requests, 3, "the neighbour cache's retries");
    assert_eq!(
        a.send(id, b"x"),
        Err(EndpointError::NoArpReply(SILENT_IP)),
        "the error sticks until the event was read and the slot reaped"
    );
    assert_eq!(a.stats().arp_failures, 1);
    assert_eq!(a.poll_event(), None);
    assert_eq!(a.state(id), Err(EndpointError::StaleHandle));
    assert_eq!(a.ephemeral_ports_held(), 0);
}

#[test]
fn arp_request_for_us_is_answered_to_the_asker() {
    let mut b = lone_b();
    let req = ArpRepr {
        operation: crate::wire::ArpOperation::Request,
        source_hardware_addr: PEER.0,
        source_protocol_addr: PEER.1,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: B_IP,
    };
    let mut frame = vec![0u8; 42];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: PEER.0,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EtherType::Arp,
    }
    .emit(&mut f)
    .unwrap();
    req.emit(&mut ArpPacket::new_unchecked(f.payload_mut()))
        .unwrap();
    b.handle_frame(Instant::ZERO, &frame);
    let out = drain(&mut b, Instant::ZERO);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][0..6], PEER.0.as_bytes());
    let reply = parse_arp(&out[0]).unwrap();
    assert_eq!(
        (reply.source_hardware_addr, reply.target_protocol_addr),
        (B_MAC, PEER.1)
    );
    assert_eq!(b.stats().arp_replies_out, 1);
}

// ---- Malformed frames ----------------------------------------------------

#[test]
fn malformed_and_foreign_frames_are_counted_drops_by_cause() {
    let mut b = lone_b();
    b.listen(PORT, 4).unwrap();
    let good = tcp_frame(PEER, US, &syn(40000, PORT, 1));
    let t = Instant::ZERO;

    b.handle_frame(t, &good[..10]);
    b.handle_frame(t, &good[..20]); // IPv4 header cut short
    let mut wrong_mac = good.clone();
    wrong_mac[0..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
    b.handle_frame(t, &wrong_mac);
    b.handle_frame(
        t,
        &tcp_frame(PEER, (B_MAC, Ipv4Addr::new(198, 18, 0, 3)), &syn(1, 2, 3)),
    );
    let mut bad_ip_sum = good.clone();
    bad_ip_sum[14 + 10] ^= 0xff;
    b.handle_frame(t, &bad_ip_sum);
    let mut fragment = good.clone();
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut fragment[14..]);
        ip.set_flags_and_frag(false, true, 0);
        ip.fill_checksum();
    }
    b.handle_frame(t, &fragment);
    let mut bad_tcp_sum = good.clone();
    let last = bad_tcp_sum.len() - 1;
    bad_tcp_sum[last] ^= 0x01;
    b.handle_frame(t, &bad_tcp_sum);
    let mut ipv6 = good.clone();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    b.handle_frame(t, &ipv6);
    let mut udp = good.clone();
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut udp[14..]);
        ip.set_protocol(IpProtocol::Udp);
        ip.fill_checksum();
    }
    b.handle_frame(t, &udp);
    let mut from_broadcast = good.clone();
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut from_broadcast[14..]);
        ip.set_src_addr(Ipv4Addr::BROADCAST);
        ip.fill_checksum();
    }
    b.handle_frame(t, &from_broadcast);
    let mut bad_data_offset = good.clone();
    bad_data_offset[14 + 20 + 12] = 0x20; // 8-byte TCP header
    b.handle_frame(t, &bad_data_offset);

    let s = b.stats();
    assert_eq!(s.frames_in, 11);
    assert_eq!(s.bad_ethernet, 1);
    assert_eq!(s.bad_ip, 1);
    assert_eq!(s.not_our_mac, 1);
    assert_eq!(s.not_our_ip, 1);
    assert_eq!(s.bad_ip_checksum, 1);
    assert_eq!(s.ip_fragments, 1);
    assert_eq!(s.bad_tcp_checksum, 1);
    assert_eq!(s.other_ethertype, 1);
    assert_eq!(s.other_protocol, 1);
    assert_eq!(s.bad_source, 1);
    assert_eq!(s.bad_tcp, 1);
    assert_eq!(b.connection_count(), 0);
    assert!(drain(&mut b, t).is_empty(), "no answer to any of them");
}

#[test]
fn random_bytes_never_panic_the_endpoint() {
    let mut b = lone_b();
    b.listen(PORT, 4).unwrap();
    let good = tcp_frame(PEER, US, &syn(40000, PORT, 1));
    let mut x: u32 = 12345;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for _ in 0..5000 {
        let mut f = good.clone();
        let len = (next() as usize) % (f.len() + 1);
        f.truncate(len);
        for _ in 0..(next() % 4) {
            if !f.is_empty() {
                let i = next() as usize % f.len();
                f[i] = next() as u8;
            }
        }
        b.handle_frame(Instant::ZERO, &f);
        drain(&mut b, Instant::ZERO);
    }
    assert_eq!(b.stats().frames_in, 5000);
}

// ---- TIME-WAIT reuse -------------------------------------------------------

/// A connects to B, B closes first and ends in TIME-WAIT; returns the client
/// port and the last segment A sent (its SEQ is B's RCV.NXT).
fn server_in_time_wait(net: &mut Net) -> (u16, Option<u32>, SeqNum) {
    let l = net.b.listen(PORT, 8).unwrap();
    let c = net
        .a
        .connect(net.now, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    let mut s = None;
    for _ in 0..100 {
        net.step();
        if s.is_none()
            && let Some(id) = net.b.accept(l).unwrap()
        {
            net.b.close(net.now, id).unwrap();
            s = Some(id);
        }
        if net.a.state(c) == Ok(State::CloseWait) {
            net.a.close(net.now, c).unwrap();
        }
        if net.a.connection_count() == 0 {
            break;
        }
    }
    assert_eq!(net.a.connection_count(), 0, "client done");
    assert_eq!(net.b.connection_count(), 1, "server in TIME-WAIT");
    let (_, last) = net
        .log_a
        .iter()
        .rev()
        .find_map(|f| parse_tcp(f))
        .expect("A sent segments");
    (last.src_port, last.timestamps.map(|t| t.tsval), last.seq)
}

#[test]
fn syn_with_newer_timestamp_reuses_a_time_wait_connection() {
    let mut net = Net::pair();
    let (port, tsval, _) = server_in_time_wait(&mut net);
    let tsval = tsval.expect("timestamps on");
    let src = (A_MAC, A_IP);
    let with_ts = |tsval: u32| TcpRepr {
        timestamps: Some(TcpTimestamps { tsval, tsecr: 0 }),
        ..syn(port, PORT, 1)
    };
    // An old duplicate: the TIME-WAIT connection answers it (an ACK).
    net.b.handle_frame(
        net.now,
        &tcp_frame(src, US, &with_ts(tsval.wrapping_sub(5))),
    );
    assert_eq!(net.b.stats().time_wait_reuse, 0);
    for f in drain(&mut net.b, net.now) {
        let (_, seg) = parse_tcp(&f).unwrap();
        assert!(!seg.flags.contains(TcpFlags::SYN));
    }
    // A newer incarnation: a new connection, answered with a SYN-ACK.
    net.b.handle_frame(
        net.now,
        &tcp_frame(src, US, &with_ts(tsval.wrapping_add(5))),
    );
    assert_eq!(net.b.stats().time_wait_reuse, 1);
    assert_eq!(net.b.connection_count(), 1);
    let out = drain(&mut net.b, net.now);
    let (_, synack) = parse_tcp(&out[0]).unwrap();
    assert!(synack.flags.contains(TcpFlags::SYN));
    assert_eq!(synack.ack, Some(SeqNum::new(2)));
}

// ---- Handles and ports -------------------------------------------------------

#[test]
fn stale_conn_id_after_reaping_is_refused_and_never_reaches_the_new_connection() {
    let mut a = Endpoint::new(config(A_IP, A_MAC)).unwrap();
    let now = Instant::ZERO;
    let old = a.connect(now, SocketAddrV4::new(B_IP, PORT)).unwrap();
    a.abort(old).unwrap();
    assert_eq!(
        a.connection_count(),
        0,
        "a SYN-SENT abort is reaped at once"
    );
    assert_eq!(a.state(old), Err(EndpointError::StaleHandle));
    let new = a.connect(now, SocketAddrV4::new(B_IP, PORT)).unwrap();
    assert_eq!(new.index, old.index, "the slot is reused");
    assert_eq!(a.send(old, b"x"), Err(EndpointError::StaleHandle));
    assert_eq!(a.close(now, old), Err(EndpointError::StaleHandle));
    assert_eq!(a.state(new), Ok(State::SynSent));
}

#[test]
fn ephemeral_ports_come_from_the_range_and_are_released_on_reaping() {
    let mut cfg = config(A_IP, A_MAC);
    cfg.ephemeral_ports = PortRange::new(50000, 50003).unwrap();
    let mut a = Endpoint::new(cfg).unwrap();
    let now = Instant::ZERO;
    let remote = SocketAddrV4::new(B_IP, PORT);
    let ids: Vec<ConnId> = (0..4).map(|_| a.connect(now, remote).unwrap()).collect();
    let mut ports: Vec<u16> = ids
        .iter()
        .map(|&id| a.tuple(id).unwrap().local.port())
        .collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![50000, 50001, 50002, 50003]);
    assert_eq!(
        a.connect(now, remote),
        Err(EndpointError::Ports(PortError::PortsExhausted))
    );
    let freed = a.tuple(ids[2]).unwrap().local.port();
    a.abort(ids[2]).unwrap();
    assert_eq!(a.ephemeral_ports_held(), 3);
    let again = a.connect(now, remote).unwrap();
    assert_eq!(a.tuple(again).unwrap().local.port(), freed);
}

#[test]
fn connect_off_link_without_gateway_is_refused_with_no_route() {
    let mut a = Endpoint::new(config(A_IP, A_MAC)).unwrap();
    let far = Ipv4Addr::new(203, 0, 113, 1);
    assert_eq!(
        a.connect(Instant::ZERO, SocketAddrV4::new(far, PORT)),
        Err(EndpointError::NoRoute(far))
    );
}

#[test]
fn off_link_frames_go_to_the_gateway_mac() {
    let gw = Ipv4Addr::new(198, 18, 0, 254);
    let mut cfg = config(A_IP, A_MAC);
    cfg.gateway = Some(gw);
    let mut a = Endpoint::new(cfg).unwrap();
    a.connect(
        Instant::ZERO,
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), PORT),
    )
    .unwrap();
    let out = drain(&mut a, Instant::ZERO);
    let arp = parse_arp(&out[0]).unwrap();
    assert_eq!(arp.target_protocol_addr, gw);
}

#[test]
fn without_timestamps_syn_past_rcv_nxt_reuses_a_time_wait_connection() {
    let mut a = config(A_IP, A_MAC);
    a.tcp.timestamps = false;
    let mut b = config(B_IP, B_MAC);
    b.tcp.timestamps = false;
    let mut net = Net::new(a, b);
    let (port, tsval, rcv_nxt) = server_in_time_wait(&mut net);
    assert_eq!(tsval, None);
    let old = syn(port, PORT, rcv_nxt.raw().wrapping_sub(1000));
    net.b
        .handle_frame(net.now, &tcp_frame((A_MAC, A_IP), US, &old));
    assert_eq!(net.b.stats().time_wait_reuse, 0);
    drain(&mut net.b, net.now);
    let new = syn(port, PORT, rcv_nxt.raw().wrapping_add(1000));
    net.b
        .handle_frame(net.now, &tcp_frame((A_MAC, A_IP), US, &new));
    assert_eq!(net.b.stats().time_wait_reuse, 1);
    let out = drain(&mut net.b, net.now);
    let (_, synack) = parse_tcp(&out[0]).unwrap();
    assert!(synack.flags.contains(TcpFlags::SYN));
}

#[test]
fn passive_open_answers_at_once_by_gleaning_the_senders_mac() {
    // When the kernel shares our address it answers ARP, so the SYN may be
    // the first we hear of the peer: its frame gives the MAC (no ARP round).
    let mut b = lone_b();
    b.listen(PORT, 4).unwrap();
    let now = Instant::from_millis(5);
    b.handle_frame(now, &tcp_frame(PEER, US, &syn(40000, PORT, 1000)));
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1, "a SYN-ACK, no ARP request");
    let (_, syn_ack) = parse_tcp(&out[0]).expect("a TCP frame");
    assert!(syn_ack.flags.contains(TcpFlags::SYN) && syn_ack.ack.is_some());
    assert_eq!(&out[0][0..6], PEER.0.as_bytes());
}

#[test]
fn a_neighbour_seeded_from_outside_is_used_without_arp() {
    let mut b = lone_b();
    let now = Instant::from_millis(5);
    assert!(b.add_neighbor(now, A_IP, PEER.0));
    assert!(
        !b.add_neighbor(now, Ipv4Addr::new(8, 8, 8, 8), PEER.0),
        "off-link refused"
    );
    b.connect(now, SocketAddrV4::new(A_IP, PORT)).unwrap();
    let out = drain(&mut b, now);
    assert_eq!(out.len(), 1);
    assert!(
        parse_tcp(&out[0]).is_some_and(|(_, s)| s.flags.contains(TcpFlags::SYN)),
        "a SYN, no ARP"
    );
}

#[test]
fn per_connection_options_apply_and_bad_ones_are_refused() {
    let mut b = lone_b();
    let now = Instant::from_millis(5);
    let small = TcpConfig {
        recv_buffer: 4096,
        send_buffer: 4096,
        nodelay: false,
        ..TcpConfig::default()
    };
    b.add_neighbor(now, A_IP, PEER.0);
    let id = b
        .connect_with(now, SocketAddrV4::new(A_IP, PORT), small.clone())
        .unwrap();
    let out = drain(&mut b, now);
    let (_, first) = parse_tcp(&out[0]).unwrap();
    assert_eq!(
        first.window_len, 4096,
        "the SYN advertises this connection's own buffer"
    );
    b.set_nodelay(id, true).unwrap();
    let bad = TcpConfig {
        recv_buffer: 10,
        ..TcpConfig::default()
    };
    assert!(matches!(
        b.connect_with(now, SocketAddrV4::new(A_IP, PORT), bad.clone()),
        Err(EndpointError::Options(_))
    ));
    assert!(matches!(
        b.listen_with(81, 4, bad),
        Err(EndpointError::Options(_))
    ));
    // A listener's options go to the connections it accepts.
    b.listen_with(PORT, 4, small).unwrap();
    b.handle_frame(now, &tcp_frame(PEER, US, &syn(40001, PORT, 1000)));
    let out = drain(&mut b, now);
    let (_, syn_ack) = parse_tcp(&out[0]).unwrap();
    assert_eq!(syn_ack.window_len, 4096);
}

/// The per-shard timer wheel: a thousand connections to a peer that never
/// answers each retransmit their SYN exactly when its RTO (1 s, then 2 s)
/// is due, found through the wheel; the wake-ups the endpoint asks for are
/// never late and few (one per wheel level on the way down, not one per
/// connection or per tick).
#[test]
fn a_thousand_syn_timers_fire_on_time_through_the_wheel() {
    let mut cfg = config(B_IP, B_MAC);
    cfg.max_connections = 1000;
    let mut b = Endpoint::new(cfg).unwrap();
    let start = Instant::from_millis(5);
    assert!(b.add_neighbor(start, A_IP, PEER.0));
    for k in 0..1000u64 {
        // Spread over 1 ms, one microsecond apart.
        let at = start + Duration::from_micros(k);
        b.connect(at, SocketAddrV4::new(A_IP, PORT)).unwrap();
        assert_eq!(drain(&mut b, at).len(), 1, "one SYN each");
    }
    let mut now = start;
    let mut wakeups = 0;
    let mut resent = Vec::new();
    while let Some(t) = b.poll_timeout() {
        assert!(t >= now, "wake-ups move forward");
        now = t;
        if now > start + Duration::from_millis(3_100) {
            break;
        }
        wakeups += 1;
        b.handle_timeout(now);
        for f in drain(&mut b, now) {
            let (_, seg) = parse_tcp(&f).expect("a TCP frame");
            assert!(seg.flags.contains(TcpFlags::SYN));
            resent.push(now);
        }
    }
    assert_eq!(resent.len(), 2000, "every SYN resent twice");
    for (k, at) in resent[..1000].iter().enumerate() {
        assert_eq!(
            *at,
            start + Duration::from_micros(k as u64) + Duration::from_secs(1)
        );
    }
    for (k, at) in resent[1000..].iter().enumerate() {
        assert_eq!(
            *at,
            start + Duration::from_micros(k as u64) + Duration::from_secs(3)
        );
    }
    assert!(wakeups <= 2000 + 64, "{wakeups} wake-ups");
}

/// Connections with data waiting take turns frame by frame (the ready queue
/// is round-robin), and an idle connection costs nothing to skip.
#[test]
fn connections_with_data_take_turns_frame_by_frame() {
    let mut net = Net::pair();
    let listener = net.b.listen(PORT, 8).unwrap();
    let ids: Vec<ConnId> = (0..3)
        .map(|_| {
            net.a
                .connect(net.now, SocketAddrV4::new(B_IP, PORT))
                .unwrap()
        })
        .collect();
    for _ in 0..100 {
        net.step();
        while net.b.accept(listener).unwrap().is_some() {}
        if ids
            .iter()
            .all(|id| net.a.state(*id) == Ok(State::Established))
        {
            break;
        }
    }
    let ports: Vec<u16> = ids
        .iter()
        .map(|id| net.a.tuple(*id).unwrap().local.port())
        .collect();
    // Two of the three have 4 segments each to send (MSS 1448 with
    // timestamps); the third is idle.
    for id in &ids[..2] {
        assert_eq!(net.a.send(*id, &[7u8; 4 * 1448]).unwrap(), 4 * 1448);
    }
    let order: Vec<u16> = drain(&mut net.a, net.now)
        .iter()
        .filter_map(|f| parse_tcp(f).filter(|(_, s)| !s.payload.is_empty()))
        .map(|(_, s)| s.src_port)
        .collect();
    let expected: Vec<u16> = (0..8).map(|k| ports[k % 2]).collect();
    assert_eq!(order, expected);
}

#[test]
fn a_connection_that_sent_everything_is_polled_again_only_when_touched() {
    let mut net = Net::pair();
    let listener = net.b.listen(PORT, 8).unwrap();
    let id = net
        .a
        .connect(net.now, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    for _ in 0..100 {
        net.step();
        while net.b.accept(listener).unwrap().is_some() {}
        if net.a.state(id) == Ok(State::Established) {
            break;
        }
    }
    net.flush();
    assert_eq!(net.a.send(id, &[1u8; 64]).unwrap(), 64);
    let _ = events(&mut net.a);
    assert_eq!(drain(&mut net.a, net.now).len(), 1, "the request left");
    // Nothing more to send: off the transmit queue, and no empty event poll.
    assert!(net.a.tx_ready.is_empty());
    assert!(net.a.ev_ready.is_empty());
    // The application writes again: polled and sent at once.
    assert_eq!(net.a.send(id, &[2u8; 64]).unwrap(), 64);
    assert_eq!(
        drain(&mut net.a, net.now).len(),
        1,
        "the second request left"
    );
    // More than one segment's worth: queued again after each until done.
    assert_eq!(net.a.send(id, &[3u8; 3 * 1448]).unwrap(), 3 * 1448);
    let first = net.a.poll_frame(net.now, &mut net.buf).map(|f| f.len);
    assert!(first.is_some());
    assert_eq!(net.a.tx_ready.len(), 1, "still has data: polled again");
}

/// A connection from A that A closed first, left in TIME-WAIT on A; returns
/// it, its port and the sequence number just past A's FIN (its SND.MAX).
fn client_in_time_wait(net: &mut Net, listener: ListenerId) -> (ConnId, u16, SeqNum) {
    client_in_time_wait_after(net, listener, true)
}

/// [`client_in_time_wait`], A ending its side with `close` (letting the
/// connection go) or, with `close` false, `shutdown` (still holding it).
fn client_in_time_wait_after(
    net: &mut Net,
    listener: ListenerId,
    close: bool,
) -> (ConnId, u16, SeqNum) {
    let c = net
        .a
        .connect(net.now, SocketAddrV4::new(B_IP, PORT))
        .unwrap();
    let mut closed = false;
    for _ in 0..100 {
        net.step();
        while net.b.accept(listener).unwrap().is_some() {}
        if !closed && net.a.state(c) == Ok(State::Established) {
            if close {
                net.a.close(net.now, c).unwrap();
            } else {
                net.a.shutdown(c).unwrap();
            }
            closed = true;
        }
        for ev in events(&mut net.b) {
            if let EndpointEvent::Conn(id, Event::PeerClosed) = ev {
                net.b.close(net.now, id).unwrap();
            }
        }
        if net.a.state(c) == Ok(State::TimeWait) {
            break;
        }
    }
    assert_eq!(net.a.state(c), Ok(State::TimeWait), "A closed first");
    let port = net.a.tuple(c).unwrap().local.port();
    let fin_end = net
        .log_a
        .iter()
        .filter_map(|f| parse_tcp(f).map(|(_, s)| s))
        .filter(|s| s.src_port == port && s.flags.contains(TcpFlags::FIN))
        .map(|s| s.seq + s.payload.len() + 1)
        .next_back()
        .expect("A sent its FIN");
    (c, port, fin_end)
}

/// A pair whose A keeps TIME-WAIT for 30 s, with `tweak` applied to A's
/// settings, and B listening.
fn time_wait_net(tweak: impl FnOnce(&mut EndpointConfig)) -> (Net, ListenerId) {
    let mut a = config(A_IP, A_MAC);
    a.tcp.time_wait = Duration::from_secs(30);
    tweak(&mut a);
    let mut net = Net::new(a, config(B_IP, B_MAC));
    let listener = net.b.listen(PORT, 8).unwrap();
    (net, listener)
}

/// Two ephemeral ports, both in TIME-WAIT toward B after one connection
/// each; `reuse` and `timestamps` as given.
fn two_ports_in_time_wait(reuse: bool, timestamps: bool) -> (Net, ListenerId, Vec<(u16, SeqNum)>) {
    let (mut net, listener) = time_wait_net(|a| {
        a.ephemeral_ports = PortRange::new(50000, 50001).unwrap();
        a.time_wait_reuse = reuse;
        a.tcp.timestamps = timestamps;
    });
    let old: Vec<(u16, SeqNum)> = (0..2)
        .map(|_| {
            let (_, port, fin_end) = client_in_time_wait(&mut net, listener);
            (port, fin_end)
        })
        .collect();
    assert_eq!(
        net.a.connect(net.now, SocketAddrV4::new(B_IP, PORT)),
        Err(EndpointError::Ports(PortError::PortsExhausted)),
        "every port in TIME-WAIT, the last timestamps fresh"
    );
    (net, listener, old)
}

#[test]
fn active_open_takes_over_a_time_wait_port_a_second_after_its_last_timestamp() {
    let (mut net, listener, old) = two_ports_in_time_wait(true, true);
    net.now += Duration::from_millis(1100);
    let c = net
        .a
        .connect(net.now, SocketAddrV4::new(B_IP, PORT))
        .expect("a TIME-WAIT port taken over");
    assert_eq!(net.a.stats().time_wait_takeover, 1);
    let port = net.a.tuple(c).unwrap().local.port();
    let &(_, fin_end) = old.iter().find(|(p, _)| *p == port).expect("an old port");
    // Linux's margin: the new ISS is past the old connection's sequence space.
    let syn = net
        .a
        .poll_frame(net.now, &mut net.buf)
        .map(|f| f.len)
        .unwrap();
    let (_, seg) = parse_tcp(&net.buf[..syn]).unwrap();
    assert!(seg.flags.contains(TcpFlags::SYN));
    assert_eq!(seg.seq, fin_end + 65537);
    net.ab.push_back((net.now + DELAY, net.buf[..syn].to_vec()));
    for _ in 0..50 {
        net.step();
        while net.b.accept(listener).unwrap().is_some() {}
        if net.a.state(c) == Ok(State::Established) {
            break;
        }
    }
    assert_eq!(
        net.a.state(c),
        Ok(State::Established),
        "the new incarnation opens"
    );
}

#[test]
fn no_time_wait_takeover_without_timestamps_or_when_turned_off() {
    for (reuse, timestamps) in [(true, false), (false, true)] {
        let (mut net, _, _) = two_ports_in_time_wait(reuse, timestamps);
        net.now += Duration::from_millis(1100);
        assert_eq!(
            net.a.connect(net.now, SocketAddrV4::new(B_IP, PORT)),
            Err(EndpointError::Ports(PortError::PortsExhausted)),
            "reuse {reuse}, timestamps {timestamps}"
        );
        assert_eq!(net.a.stats().time_wait_takeover, 0);
    }
}

#[test]
fn at_the_connection_limit_a_time_wait_connection_makes_room() {
    let (mut net, listener) = time_wait_net(|a| a.max_connections = 1);
    let (old, _, _) = client_in_time_wait(&mut net, listener);
    assert_eq!(
        net.a.connect(net.now, SocketAddrV4::new(B_IP, PORT)),
        Err(EndpointError::TooManyConnections)
    );
    net.now += Duration::from_millis(1100);
    let c = net
        .a
        .connect(net.now, SocketAddrV4::new(B_IP, PORT))
        .expect("room made");
    assert_ne!(c, old);
    assert!(
        net.a.state(old).is_err(),
        "the TIME-WAIT connection is gone"
    );
    assert_eq!(net.a.stats().time_wait_takeover, 1);
}

#[test]
fn the_time_wait_list_stays_bounded_when_connections_leave_it_out_of_order() {
    let (mut net, listener) = time_wait_net(|a| a.max_connections = 4);
    let (first, _, _) = client_in_time_wait(&mut net, listener);
    // Entries of connections that left TIME-WAIT early, behind one that has
    // not (the front is only pruned up to a live entry).
    for generation in 100..110 {
        net.a.time_wait.push_back(ConnId {
            index: first.index,
            generation,
        });
    }
    let (second, _, _) = client_in_time_wait(&mut net, listener);
    assert_eq!(
        net.a.time_wait.iter().copied().collect::<Vec<_>>(),
        vec![first, second]
    );
}

#[test]
fn no_time_wait_takeover_of_a_connection_the_application_holds_or_for_one_without_timestamps() {
    let (mut net, listener) = time_wait_net(|a| {
        a.ephemeral_ports = PortRange::new(50000, 50000).unwrap();
    });
    // Shut down, not closed: its events (Closed) are still the application's.
    let (held, _, _) = client_in_time_wait_after(&mut net, listener, false);
    net.now += Duration::from_millis(1100);
    assert_eq!(
        net.a.connect(net.now, SocketAddrV4::new(B_IP, PORT)),
        Err(EndpointError::Ports(PortError::PortsExhausted))
    );
    assert_eq!(net.a.state(held), Ok(State::TimeWait));
    // Let go of: taken over, but not by a connection without timestamps.
    net.a.close(net.now, held).unwrap();
    let tcp = TcpConfig {
        timestamps: false,
        ..net.a.config().tcp.clone()
    };
    assert_eq!(
        net.a
            .connect_with(net.now, SocketAddrV4::new(B_IP, PORT), tcp),
        Err(EndpointError::Ports(PortError::PortsExhausted))
    );
    assert!(
        net.a
            .connect(net.now, SocketAddrV4::new(B_IP, PORT))
            .is_ok()
    );
    assert_eq!(net.a.stats().time_wait_takeover, 1);
}

#[test]
fn a_frame_handed_over_by_another_shard_is_not_checksummed_again() {
    let mut b = lone_b();
    let mut frame = tcp_frame((A_MAC, A_IP), (B_MAC, B_IP), &syn(40000, 81, 1));
    // The last byte of a SYN without payload is in its options: the TCP
    // checksum no longer matches.
    *frame.last_mut().unwrap() ^= 0xff;
    let _ = b.handle_frame(Instant::from_millis(1), &frame);
    assert_eq!(b.stats().bad_tcp_checksum, 1, "checked on the first shard");
    // Handed over (the first shard checked it): answered, a RST for the
    // closed port, not dropped for its checksum again.
    let _ = b.handle_handed_frame(Instant::from_millis(1), &frame);
    assert_eq!(b.stats().bad_tcp_checksum, 1);
    let out = drain(&mut b, Instant::from_millis(1));
    let (_, rst) = parse_tcp(&out[0]).expect("a reset");
    assert!(rst.flags.contains(TcpFlags::RST));
}
