//! An echo server and a client that checks its echo, as shard applications.
//!
//! The server accepts every connection on its port and writes back what it
//! reads; when the peer closes its side, the server closes its own after the
//! last byte. Backpressure: a connection whose echo cannot be written is not
//! read until the send buffer takes it. Buffers are per connection and
//! allocated when it is accepted, not per packet.

use std::net::SocketAddrV4;

use crate::endpoint::{ConnId, EndpointError, EndpointEvent, ListenerId};
use crate::shard::{App, Ctx};
use crate::tcp::{ConnError, Event};

const CHUNK: usize = 16 * 1024;

struct Pending {
    buf: Box<[u8]>,
    off: usize,
    len: usize,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} bytes to echo)", self.len - self.off)
    }
}

impl Pending {
    fn new() -> Pending {
        Pending {
            buf: vec![0u8; CHUNK].into_boxed_slice(),
            off: 0,
            len: 0,
        }
    }
}

/// Echoes every connection accepted on `port`.
#[derive(Debug)]
pub struct EchoServer {
    port: u16,
    backlog: usize,
    listener: Option<ListenerId>,
    /// By [`ConnId::slot`]: no hashing per event.
    conns: Vec<Option<(ConnId, Pending)>>,
    open: usize,
    /// Connections accepted so far.
    pub accepted: u64,
    /// Bytes echoed so far.
    pub echoed: u64,
    /// Connections that ended with an error (reset, timeout).
    pub errors: u64,
    /// Error of the listen call, if it failed.
    pub listen_error: Option<EndpointError>,
}

impl EchoServer {
    pub fn new(port: u16, backlog: usize) -> EchoServer {
        EchoServer {
            port,
            backlog,
            listener: None,
            conns: Vec::new(),
            open: 0,
            accepted: 0,
            echoed: 0,
            errors: 0,
            listen_error: None,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
    }

    fn get_mut(&mut self, id: ConnId) -> Option<&mut Pending> {
        match self.conns.get_mut(id.slot()) {
            Some(Some((held, p))) if *held == id => Some(p),
            _ => None,
        }
    }

    fn insert(&mut self, id: ConnId) {
        let slot = id.slot();
        if self.conns.len() <= slot {
            self.conns.resize_with(slot + 1, || None);
        }
        if self.conns[slot].replace((id, Pending::new())).is_none() {
            self.open += 1;
        }
    }

    fn remove(&mut self, id: ConnId) {
        if let Some(e) = self.conns.get_mut(id.slot())
            && e.as_ref().is_some_and(|(held, _)| *held == id)
        {
            *e = None;
            self.open -= 1;
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<'_>, id: ConnId) {
        let Some(p) = self.get_mut(id) else {
            return;
        };
        let (echoed, keep) = Self::echo(ctx, id, p);
        self.echoed += echoed;
        if !keep {
            self.remove(id);
        }
    }

    /// Echoes what `id` has to read until its send buffer is full or
    /// nothing is left; returns the bytes echoed and whether to keep the
    /// connection.
    fn echo(ctx: &mut Ctx<'_>, id: ConnId, p: &mut Pending) -> (u64, bool) {
        let mut echoed = 0;
        loop {
            while p.off < p.len {
                match ctx.endpoint.send(id, &p.buf[p.off..p.len]) {
                    Ok(0) => return (echoed, true), // wait for Writable
                    Ok(n) => {
                        p.off += n;
                        echoed += n as u64;
                    }
                    Err(_) => return (echoed, false),
                }
            }
            p.off = 0;
            p.len = 0;
            match ctx.endpoint.recv(id, &mut p.buf) {
                Ok(0) => return (echoed, true),
                Ok(n) => p.len = n,
                Err(EndpointError::Conn(ConnError::Finished)) => {
                    // Everything is echoed: close, and forget the connection
                    // (the endpoint finishes the close and reaps it without
                    // further events for us).
                    let _ = ctx.endpoint.close(ctx.now, id);
                    return (echoed, false);
                }
                Err(_) => return (echoed, false),
            }
        }
    }
}

impl App for EchoServer {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        match ctx.endpoint.listen(self.port, self.backlog) {
            Ok(l) => self.listener = Some(l),
            Err(e) => self.listen_error = Some(e),
        }
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        match event {
            EndpointEvent::Acceptable(l) => {
                while let Ok(Some(id)) = ctx.endpoint.accept(l) {
                    self.accepted += 1;
                    self.insert(id);
                    self.pump(ctx, id);
                }
            }
            EndpointEvent::Conn(id, Event::Readable | Event::Writable | Event::PeerClosed) => {
                self.pump(ctx, id)
            }
            EndpointEvent::Conn(id, Event::Closed) => {
                self.remove(id);
            }
            EndpointEvent::Conn(id, Event::Error(_)) | EndpointEvent::Unreachable(id, _) => {
                self.errors += 1;
                self.remove(id);
            }
            EndpointEvent::Conn(_, Event::Connected) => {}
        }
    }
}

/// Connects to `remote`, sends `data`, reads the echo, closes, and checks
/// that what came back is what went out.
#[derive(Debug)]
pub struct EchoClient {
    remote: SocketAddrV4,
    data: Vec<u8>,
    conn: Option<ConnId>,
    sent: usize,
    shut: bool,
    /// What came back.
    pub received: Vec<u8>,
    /// The echo ended (end of stream from the server).
    pub eof: bool,
    /// The connection ended with this error.
    pub error: Option<String>,
    done: bool,
}

impl EchoClient {
    pub fn new(remote: SocketAddrV4, data: Vec<u8>) -> EchoClient {
        EchoClient {
            remote,
            data,
            conn: None,
            sent: 0,
            shut: false,
            received: Vec::new(),
            eof: false,
            error: None,
            done: false,
        }
    }

    /// Whether the echo matched what was sent.
    pub fn matched(&self) -> bool {
        self.eof && self.received == self.data
    }

    fn pump(&mut self, ctx: &mut Ctx<'_>) {
        let Some(id) = self.conn else { return };
        while self.sent < self.data.len() {
            match ctx.endpoint.send(id, &self.data[self.sent..]) {
                Ok(0) => break,
                Ok(n) => self.sent += n,
                Err(e) => return self.fail(e.to_string()),
            }
        }
        if self.sent == self.data.len()
            && !self.shut
            && ctx.endpoint.state(id).is_ok_and(|s| {
                matches!(
                    s,
                    crate::tcp::State::Established | crate::tcp::State::CloseWait
                )
            })
        {
            self.shut = true;
            let _ = ctx.endpoint.shutdown(id);
        }
        let mut buf = [0u8; CHUNK];
        loop {
            match ctx.endpoint.recv(id, &mut buf) {
                Ok(0) => break,
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(EndpointError::Conn(ConnError::Finished)) => {
                    self.eof = true;
                    break;
                }
                Err(EndpointError::StaleHandle) => break,
                Err(e) => return self.fail(e.to_string()),
            }
        }
    }

    fn fail(&mut self, e: String) {
        self.error.get_or_insert(e);
        self.done = true;
    }
}

impl EchoClient {
    /// Opens the connection.
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        match ctx.endpoint.connect(ctx.now, self.remote) {
            Ok(id) => self.conn = Some(id),
            Err(e) => self.fail(e.to_string()),
        }
    }

    /// The connection, once opened.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    /// Whether the exchange is over (matched or failed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// An event of this client's connection.
    pub fn handle(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        match event {
            EndpointEvent::Conn(_, Event::Closed) => {
                self.pump(ctx);
                self.done = true;
            }
            EndpointEvent::Conn(_, Event::Error(e)) => self.fail(e.to_string()),
            EndpointEvent::Unreachable(_, ip) => self.fail(format!("no ARP reply from {ip}")),
            EndpointEvent::Conn(..) => self.pump(ctx),
            EndpointEvent::Acceptable(_) => {}
        }
    }
}

impl App for EchoClient {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.start(ctx);
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        self.handle(ctx, event);
    }

    fn finished(&self) -> bool {
        self.done
    }
}

/// Many echo clients on one shard, started on demand (from a handle).
#[derive(Debug, Default)]
pub struct EchoClients {
    pub clients: Vec<EchoClient>,
}

impl EchoClients {
    /// Starts a client that sends `data` to `remote`; returns its index.
    pub fn add(&mut self, ctx: &mut Ctx<'_>, remote: SocketAddrV4, data: Vec<u8>) -> usize {
        let mut c = EchoClient::new(remote, data);
        c.start(ctx);
        self.clients.push(c);
        self.clients.len() - 1
    }

    /// Whether every client is done.
    pub fn all_done(&self) -> bool {
        self.clients.iter().all(EchoClient::is_done)
    }
}

impl App for EchoClients {
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        let id = match event {
            EndpointEvent::Conn(id, _) | EndpointEvent::Unreachable(id, _) => id,
            EndpointEvent::Acceptable(_) => return,
        };
        if let Some(c) = self.clients.iter_mut().find(|c| c.conn() == Some(id)) {
            c.handle(ctx, event);
        }
    }
}
