//! Handles the application holds, the errors it gets back and the events it
//! polls.
//!
//! A [`ConnId`] is a generational index: the slot number plus the generation
//! of the slot when the connection was created. Reaping bumps the generation,
//! so a handle kept after its connection was reaped never reaches the next
//! connection in the same slot: it gets [`EndpointError::StaleHandle`].

use core::fmt;
use core::net::Ipv4Addr;

use crate::tcp::ports::PortError;
use crate::tcp::{ConnError, Event};

/// A connection of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// A small number for per-connection state in a `Vec` instead of a
    /// map: below the endpoint's connection limit, unique among its live
    /// connections, and reused once a connection is reaped (so compare the
    /// whole `ConnId` before trusting what is stored under it).
    pub fn slot(&self) -> usize {
        self.index as usize
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.generation)
    }
}

/// A listening port of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// What the application should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// An event of a connection the application holds.
    Conn(ConnId, Event),
    /// The connection ended because its next hop never answered ARP; it is
    /// reaped after this event.
    Unreachable(ConnId, Ipv4Addr),
    /// A connection on this listener completed its handshake: `accept` it.
    Acceptable(ListenerId),
}

/// Why an endpoint call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("the connection handle is stale (its connection was reaped)")]
    StaleHandle,
    #[error("the listener handle is stale or unknown")]
    UnknownListener,
    #[error("port {0} already has a listener")]
    PortInUse(u16),
    #[error("port 0 cannot be listened on or connected to")]
    PortZero,
    #[error("the listener limit is reached")]
    TooManyListeners,
    #[error("the connection limit is reached")]
    TooManyConnections,
    #[error("no ephemeral port: {0}")]
    Ports(PortError),
    #[error("no route to {0} (off-link and no gateway)")]
    NoRoute(Ipv4Addr),
    #[error("no ARP reply from {0}")]
    NoArpReply(Ipv4Addr),
    #[error("{0}")]
    Conn(ConnError),
    #[error("bad connection options: {0}")]
    Options(crate::tcp::ConfigError),
}

impl From<ConnError> for EndpointError {
    fn from(e: ConnError) -> Self {
        EndpointError::Conn(e)
    }
}
