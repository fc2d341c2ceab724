//! The endpoint's settings: the interface it serves, the template every
//! connection is built from, and the bounds of every table.
//!
//! Must never: print the secret (it keys the ISNs and the port choice).

use core::fmt;
use core::net::Ipv4Addr;

use super::neighbor::NeighborConfig;
use crate::tcp::ports::PortRange;
use crate::tcp::{ConfigError, TcpConfig};
use crate::wire::EthernetAddress;

/// IPv4 (20) plus TCP (20) header bytes: MSS = MTU - 40 (RFC 9293 3.7.1).
pub const IPV4_TCP_HEADERS: usize = 40;
/// The smallest MTU an IPv4 host must accept (RFC 791: 68), rounded so the
/// derived MSS passes [`TcpConfig::validate`] (88 bytes at least).
pub const MIN_MTU: usize = 128;
/// Largest MTU: the IPv4 total length field.
pub const MAX_MTU: usize = 65535;

/// Settings of one endpoint (one core, one NIC queue).
#[derive(Clone)]
pub struct EndpointConfig {
    /// Our IPv4 address on the interface.
    pub addr: Ipv4Addr,
    /// Prefix length of the interface's subnet (on-link destinations).
    pub prefix_len: u8,
    /// Next hop for destinations off the subnet; `None`: unreachable.
    pub gateway: Option<Ipv4Addr>,
    /// Our MAC address.
    pub mac: EthernetAddress,
    /// Link MTU in bytes (IP packet size, without the Ethernet header).
    pub mtu: usize,
    /// Template of every connection; its `mss` is replaced by `mtu - 40`.
    pub tcp: TcpConfig,
    /// Local ports for active opens (keep listeners outside it).
    pub ephemeral_ports: PortRange,
    /// Connections at once, in every state (TIME-WAIT included).
    pub max_connections: usize,
    /// An active open (with timestamps) that finds every ephemeral port
    /// toward its peer taken, or the connection limit reached, takes over
    /// the oldest connection in TIME-WAIT that may safely be replaced: one
    /// the application closed, with timestamps, a second since its last one
    /// (the new ISS beyond its sequence space), as Linux's
    /// `net.ipv4.tcp_tw_reuse = 1`. Without it such opens fail until
    /// TIME-WAIT ends (2 MSL: a minute by default), which caps a client's
    /// connection rate to one server at ports / 60 s.
    pub time_wait_reuse: bool,
    /// Listening ports at once.
    pub max_listeners: usize,
    /// Upper bound of the backlog a `listen` call may ask for.
    pub max_backlog: usize,
    /// Control frames (ARP replies and requests, resets) queued for output;
    /// beyond it they are dropped and counted.
    pub max_control_frames: usize,
    /// Endpoint events (listener readiness, failures) queued for the
    /// application; beyond it the oldest is dropped and counted.
    pub max_events: usize,
    pub neighbor: NeighborConfig,
    /// Keys the RFC 6528 ISNs, the RFC 6056 port choice and the demux hash;
    /// the caller draws it from a CSPRNG (tests pass a fixed one).
    pub secret: [u8; 32],
    /// Verify IPv4 and TCP checksums (off when the NIC verified them).
    pub verify_checksums: bool,
    /// Ephemeral ranges of the other shards on this interface, with their
    /// index: a segment for one of those ports with no connection here is
    /// handed to its shard (`Rx::Foreign`), not answered with a reset.
    pub foreign_ports: Vec<(PortRange, u32)>,
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("addr", &self.addr)
            .field("prefix_len", &self.prefix_len)
            .field("gateway", &self.gateway)
            .field("mac", &self.mac)
            .field("mtu", &self.mtu)
            .field("tcp", &self.tcp)
            .field("ephemeral_ports", &self.ephemeral_ports)
            .field("max_connections", &self.max_connections)
            .field("time_wait_reuse", &self.time_wait_reuse)
            .field("max_listeners", &self.max_listeners)
            .field("max_backlog", &self.max_backlog)
            .field("max_control_frames", &self.max_control_frames)
            .field("max_events", &self.max_events)
            .field("neighbor", &self.neighbor)
            .field("secret", &"<secret>")
            .field("verify_checksums", &self.verify_checksums)
            .finish()
    }
}

impl EndpointConfig {
    /// A configuration for `addr/prefix_len` at `mac`, with Linux-like
    /// defaults for the rest (MTU 1500, 4096 connections, backlog up to 128).
    pub fn new(addr: Ipv4Addr, prefix_len: u8, mac: EthernetAddress, secret: [u8; 32]) -> Self {
        EndpointConfig {
            addr,
            prefix_len,
            gateway: None,
            mac,
            mtu: 1500,
            tcp: TcpConfig::default(),
            ephemeral_ports: PortRange::DEFAULT,
            max_connections: 4096,
            time_wait_reuse: true,
            max_listeners: 64,
            max_backlog: 128,
            max_control_frames: 256,
            max_events: 1024,
            neighbor: NeighborConfig::default(),
            secret,
            verify_checksums: true,
            foreign_ports: Vec::new(),
        }
    }

    /// The connection template with the MSS the MTU allows.
    pub(crate) fn tcp_template(&self) -> TcpConfig {
        let mss = self
            .mtu
            .saturating_sub(IPV4_TCP_HEADERS)
            .min(usize::from(u16::MAX));
        TcpConfig {
            mss: mss as u16,
            ..self.tcp.clone()
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), EndpointConfigError> {
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(EndpointConfigError::Mtu);
        }
        if self.prefix_len > 32 {
            return Err(EndpointConfigError::PrefixLen);
        }
        if !self.mac.is_unicast() {
            return Err(EndpointConfigError::Mac);
        }
        if self.addr.is_unspecified() || self.addr.is_broadcast() || self.addr.is_multicast() {
            return Err(EndpointConfigError::Addr);
        }
        if self.max_connections == 0
            || self.max_listeners == 0
            || self.max_backlog == 0
            || self.max_control_frames == 0
            || self.max_events == 0
        {
            return Err(EndpointConfigError::ZeroBound);
        }
        // Slot indices and generations are u32.
        if self.max_connections > u32::MAX as usize / 2 {
            return Err(EndpointConfigError::TooManyConnections);
        }
        self.tcp_template()
            .validate()
            .map_err(EndpointConfigError::Tcp)
    }
}

/// Why an [`EndpointConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointConfigError {
    #[error("mtu must be between {MIN_MTU} and {MAX_MTU} bytes")]
    Mtu,
    #[error("prefix length must be at most 32")]
    PrefixLen,
    #[error("the interface MAC must be a unicast address")]
    Mac,
    #[error("the interface address must be a unicast address")]
    Addr,
    #[error("table bounds (connections, listeners, backlog, queues) must be non-zero")]
    ZeroBound,
    #[error("max_connections must fit a 31-bit slot index")]
    TooManyConnections,
    #[error("connection template: {0}")]
    Tcp(ConfigError),
}
