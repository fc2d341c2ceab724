//! Shard applications the bench runs on Shunt: a request/response client that
//! times every round trip, a bulk sender and a discarding server. The server
//! side of request/response is the datapath's `EchoServer` (a response is the
//! echo of the request).

use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use datapath::endpoint::{ConnId, EndpointError, EndpointEvent, ListenerId};
use datapath::shard::{App, Ctx};
use datapath::tcp::ports::PortError;
use datapath::tcp::{ConnError, ConnInfo, ConnStats, Event};
use hdrhistogram::Histogram;

/// A histogram of nanoseconds, 3 significant digits, up to a minute.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("constant bounds are valid")
}

/// Operations (round trips, connections) timed with the monotonic clock:
/// those that start once `warmup` has passed since [`Timed::start`] go into
/// the histogram, until `window` more has passed.
#[derive(Debug)]
pub struct Timed {
    warmup: Duration,
    window: Duration,
    measure_from: Option<Instant>,
    stop_at: Option<Instant>,
    /// Times of the operations of the measured window, in nanoseconds.
    pub hist: Histogram<u64>,
    /// Start of the first and end of the last operation of the window.
    pub window_start: Option<Instant>,
    pub window_end: Option<Instant>,
    /// Operations in the window.
    pub measured: u64,
    /// Operations since the start, warm-up included.
    pub total: u64,
}

impl Timed {
    pub fn new(warmup: Duration, window: Duration) -> Timed {
        Timed {
            warmup,
            window,
            measure_from: None,
            stop_at: None,
            hist: new_histogram(),
            window_start: None,
            window_end: None,
            measured: 0,
            total: 0,
        }
    }

    pub fn started(&self) -> bool {
        self.stop_at.is_some()
    }

    /// Starts the clock.
    pub fn start(&mut self, now: Instant) {
        self.measure_from = Some(now + self.warmup);
        self.stop_at = Some(now + self.warmup + self.window);
    }

    /// Whether the window is over at `now` (or was never started).
    pub fn over(&self, now: Instant) -> bool {
        self.stop_at.is_none_or(|stop| now >= stop)
    }

    /// Records an operation that began at `began` and ended at `now`;
    /// returns whether the window is over (or the clock never started).
    pub fn record(&mut self, began: Instant, now: Instant) -> bool {
        let (Some(from), Some(stop)) = (self.measure_from, self.stop_at) else {
            return true;
        };
        self.total += 1;
        if began >= from {
            let _ = self.hist.record(((now - began).as_nanos() as u64).max(1));
            self.measured += 1;
            self.window_start.get_or_insert(began);
            self.window_end = Some(now);
        }
        now >= stop
    }
}

/// Request/response over `conns` connections with `depth` requests of
/// `size` bytes in flight on each: every `size` bytes of response complete
/// the oldest request of their connection, and the next request is issued
/// from the same callback. Requests are timed with the monotonic clock from
/// issue to the last byte of their response ([`Timed`], started when the
/// first connection is up). Once the window is over no request is issued;
/// the client reads those in flight and sets `done`, so that both ends saw
/// the same bytes.
#[derive(Debug)]
pub struct RrClient {
    remote: SocketAddrV4,
    req: Vec<u8>,
    buf: Vec<u8>,
    conns: usize,
    depth: usize,
    flights: Vec<Flight>,
    over: bool,
    /// Round trips since the first connection was up.
    pub timed: Timed,
    /// The first connection's counters at the end.
    pub conn_stats: Option<ConnStats>,
    /// Segments retransmitted, summed over the connections at the end.
    pub retransmits: u64,
    pub done: bool,
    pub error: Option<String>,
}

/// One connection of an [`RrClient`].
#[derive(Debug)]
struct Flight {
    id: ConnId,
    /// When each request in flight was issued, oldest first.
    issued: VecDeque<Instant>,
    /// Request bytes the send buffer has not taken yet.
    unsent: usize,
    /// Bytes of the oldest request's response received so far.
    got: usize,
}

impl RrClient {
    pub fn new(
        remote: SocketAddrV4,
        size: usize,
        conns: usize,
        depth: usize,
        warmup: Duration,
        window: Duration,
    ) -> RrClient {
        RrClient {
            remote,
            req: vec![0x42; size.max(1)],
            buf: vec![0; CHUNK],
            conns: conns.max(1),
            depth: depth.max(1),
            flights: Vec::new(),
            over: false,
            timed: Timed::new(warmup, window),
            conn_stats: None,
            retransmits: 0,
            done: false,
            error: None,
        }
    }

    /// Opens the connections (call once the peer's MAC is known).
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        for _ in 0..self.conns {
            match ctx.endpoint.connect(ctx.now, self.remote) {
                Ok(id) => self.flights.push(Flight {
                    id,
                    issued: VecDeque::with_capacity(self.depth),
                    unsent: 0,
                    got: 0,
                }),
                Err(e) => return self.fail(format!("connect: {e}")),
            }
        }
    }

    fn fail(&mut self, e: String) {
        self.error.get_or_insert(e);
        self.done = true;
    }

    fn flight(&self, id: ConnId) -> Option<usize> {
        self.flights.iter().position(|f| f.id == id)
    }

    /// Issues `n` requests on flight `i` at `at`.
    fn issue(&mut self, i: usize, n: usize, at: Instant) {
        let size = self.req.len();
        let f = &mut self.flights[i];
        for _ in 0..n {
            f.issued.push_back(at);
            f.unsent += size;
        }
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        let size = self.req.len();
        let f = &mut self.flights[i];
        while f.unsent > 0 {
            // The unsent bytes end on a request's end.
            let from = (size - f.unsent % size) % size;
            match ctx.endpoint.send(f.id, &self.req[from..]) {
                Ok(0) => return,
                Ok(n) => f.unsent -= n,
                Err(e) => return self.fail(format!("send: {e}")),
            }
        }
    }

    fn pull(&mut self, ctx: &mut Ctx<'_>, i: usize) {
        let size = self.req.len();
        loop {
            let n = match ctx.endpoint.recv(self.flights[i].id, &mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(EndpointError::Conn(ConnError::Finished)) => {
                    return self.fail("the server closed the connection".into());
                }
                Err(e) => return self.fail(format!("recv: {e}")),
            };
            let f = &mut self.flights[i];
            f.got += n;
            let mut next = 0;
            // One clock read: the responses' end and the next requests' start
            // (a read costs as much as a tenth of Shunt's work per response).
            let now = Instant::now();
            while f.got >= size {
                f.got -= size;
                let Some(began) = f.issued.pop_front() else {
                    return self.fail("a response longer than the requests".into());
                };
                self.over |= self.timed.record(began, now);
                next += usize::from(!self.over);
            }
            self.issue(i, next, now);
        }
        self.push(ctx, i);
        if self.over && self.flights.iter().all(|f| f.issued.is_empty()) {
            let stats: Vec<ConnStats> = self
                .flights
                .iter()
                .filter_map(|f| ctx.endpoint.conn_stats(f.id).ok())
                .collect();
            self.retransmits = stats.iter().map(|c| c.retransmits).sum();
            self.conn_stats = stats.first().copied();
            self.done = true;
        }
    }
}

impl App for RrClient {
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        if self.done {
            return;
        }
        let (id, ev) = match event {
            EndpointEvent::Conn(id, ev) => (id, ev),
            EndpointEvent::Unreachable(_, ip) => {
                return self.fail(format!("no ARP reply from {ip}"));
            }
            EndpointEvent::Acceptable(_) => return,
        };
        let Some(i) = self.flight(id) else {
            return;
        };
        match ev {
            Event::Connected => {
                if !self.timed.started() {
                    self.timed.start(Instant::now());
                }
                self.issue(i, self.depth, Instant::now());
                self.push(ctx, i);
            }
            Event::Readable => self.pull(ctx, i),
            Event::Writable => self.push(ctx, i),
            Event::PeerClosed | Event::Closed => {
                self.fail("the server closed the connection".into())
            }
            Event::Error(e) => self.fail(format!("connection: {e}")),
        }
    }
}

const CHUNK: usize = 64 * 1024;

/// `flows` connections that send as fast as their send buffers and windows
/// allow, from the callbacks and every turn.
#[derive(Debug)]
pub struct BulkSender {
    remote: SocketAddrV4,
    flows: usize,
    data: Box<[u8]>,
    /// Each connection, and whether it is up.
    conns: Vec<(ConnId, bool)>,
    /// [`BulkSender::finish`] was called: nothing more is written.
    finished: bool,
    /// Bytes the send buffers took so far.
    pub sent: Arc<AtomicU64>,
    pub error: Option<String>,
}

impl BulkSender {
    pub fn new(remote: SocketAddrV4, flows: usize) -> BulkSender {
        BulkSender {
            remote,
            flows: flows.max(1),
            data: vec![0x5a; CHUNK].into_boxed_slice(),
            conns: Vec::new(),
            finished: false,
            sent: Arc::new(AtomicU64::new(0)),
            error: None,
        }
    }

    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        for _ in 0..self.flows {
            match ctx.endpoint.connect(ctx.now, self.remote) {
                Ok(id) => self.conns.push((id, false)),
                Err(e) => {
                    self.error = Some(format!("connect: {e}"));
                    return;
                }
            }
        }
    }

    /// Stops writing and closes the sending sides: the receiver reads
    /// everything written so far, then the end of the streams.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.finished = true;
        for &(id, _) in &self.conns {
            if let Err(e) = ctx.endpoint.shutdown(id) {
                self.error.get_or_insert(format!("shutdown: {e}"));
            }
        }
    }

    /// The first connection's counters.
    pub fn conn_stats(&self, ctx: &Ctx<'_>) -> Option<ConnStats> {
        ctx.endpoint.conn_stats(self.conns.first()?.0).ok()
    }

    /// The first connection's variables (controller, windows, rates).
    pub fn conn_info(&self, ctx: &Ctx<'_>) -> Option<ConnInfo> {
        ctx.endpoint.info(self.conns.first()?.0).ok()
    }

    /// Segments retransmitted, summed over the connections.
    pub fn retransmits(&self, ctx: &Ctx<'_>) -> u64 {
        self.conns
            .iter()
            .filter_map(|&(id, _)| ctx.endpoint.conn_stats(id).ok())
            .map(|c| c.retransmits)
            .sum()
    }

    fn fill(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.finished || self.error.is_some() {
            return false;
        }
        let mut total = 0u64;
        for &(id, up) in &self.conns {
            if !up {
                continue;
            }
            loop {
                match ctx.endpoint.send(id, &self.data) {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e) => {
                        self.error = Some(format!("send: {e}"));
                        break;
                    }
                }
            }
        }
        if total > 0 {
            self.sent.fetch_add(total, Ordering::Relaxed);
        }
        total > 0
    }
}

impl App for BulkSender {
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        match event {
            EndpointEvent::Conn(id, Event::Connected) => {
                if let Some(c) = self.conns.iter_mut().find(|c| c.0 == id) {
                    c.1 = true;
                }
                self.fill(ctx);
            }
            EndpointEvent::Conn(_, Event::Writable) => {
                self.fill(ctx);
            }
            EndpointEvent::Conn(_, Event::Error(e)) => {
                self.error.get_or_insert(format!("connection: {e}"));
            }
            // After `finish` the server closes its side in answer.
            EndpointEvent::Conn(_, Event::PeerClosed | Event::Closed) if self.finished => {}
            EndpointEvent::Conn(_, Event::PeerClosed | Event::Closed) => {
                self.error
                    .get_or_insert("the server closed the connection".into());
            }
            EndpointEvent::Unreachable(_, ip) => {
                self.error.get_or_insert(format!("no ARP reply from {ip}"));
            }
            EndpointEvent::Conn(_, Event::Readable) | EndpointEvent::Acceptable(_) => {}
        }
    }

    fn on_turn(&mut self, ctx: &mut Ctx<'_>) -> bool {
        self.fill(ctx)
    }
}

/// Accepts every connection on `port` and throws away what it reads,
/// counting the bytes.
#[derive(Debug)]
pub struct Discard {
    port: u16,
    listener: Option<ListenerId>,
    buf: Box<[u8]>,
    /// The connections it accepted and that are open.
    conns: std::collections::HashSet<ConnId>,
    /// Bytes read so far.
    pub received: Arc<AtomicU64>,
    pub error: Option<String>,
}

impl Discard {
    pub fn new(port: u16) -> Discard {
        Discard {
            port,
            listener: None,
            buf: vec![0; CHUNK].into_boxed_slice(),
            conns: std::collections::HashSet::new(),
            received: Arc::new(AtomicU64::new(0)),
            error: None,
        }
    }

    /// Whether `event` is about its listener or one of its connections.
    pub fn owns(&self, event: &EndpointEvent) -> bool {
        match event {
            EndpointEvent::Acceptable(l) => self.listener == Some(*l),
            EndpointEvent::Conn(id, _) | EndpointEvent::Unreachable(id, _) => {
                self.conns.contains(id)
            }
        }
    }

    fn drain(&mut self, ctx: &mut Ctx<'_>, id: ConnId) {
        let mut total = 0u64;
        loop {
            match ctx.endpoint.recv(id, &mut self.buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(EndpointError::Conn(ConnError::Finished)) => {
                    let _ = ctx.endpoint.close(ctx.now, id);
                    break;
                }
                Err(_) => break,
            }
        }
        if total > 0 {
            self.received.fetch_add(total, Ordering::Relaxed);
        }
    }
}

impl App for Discard {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        match ctx.endpoint.listen(self.port, 16) {
            Ok(l) => self.listener = Some(l),
            Err(e) => self.error = Some(format!("listen on {}: {e}", self.port)),
        }
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        match event {
            EndpointEvent::Acceptable(l) => {
                while let Ok(Some(id)) = ctx.endpoint.accept(l) {
                    self.conns.insert(id);
                }
            }
            EndpointEvent::Conn(id, Event::Readable | Event::PeerClosed) => self.drain(ctx, id),
            EndpointEvent::Conn(id, Event::Closed | Event::Error(_))
            | EndpointEvent::Unreachable(id, _) => {
                self.conns.remove(&id);
            }
            _ => {}
        }
    }
}

/// Connection rate, one connection at a time: connect, send `size` bytes,
/// read the `size`-byte echo, close (our FIN first, so TIME-WAIT is ours, as
/// with a kernel client), and connect again from the callback in which the
/// close was made. Each connection is timed from `connect` to the last byte
/// of the echo and recorded once `warmup` has passed since [`start`]; after
/// `window` more, or `max_connections` in all, it stops and sets `done`. A
/// connect the endpoint refuses because every port toward the server (or
/// every connection slot) is held by TIME-WAIT is tried again every
/// millisecond (the endpoint takes over a TIME-WAIT port a second after its
/// last use), the time counting against the rate, and the waits are noted in
/// `stopped`; any other refusal ends the run early, with the reason there.
///
/// [`start`]: ConnRateClient::start
#[derive(Debug)]
pub struct ConnRateClient {
    remote: SocketAddrV4,
    req: Vec<u8>,
    buf: Vec<u8>,
    max_connections: u64,
    /// The open connection, when it was opened, and bytes sent and received.
    current: Option<(ConnId, Instant, usize, usize)>,
    /// Connect-to-echo times.
    pub timed: Timed,
    /// Segments retransmitted, summed over the completed connections.
    pub retransmits: u64,
    pub stopped: Option<String>,
    pub done: bool,
    pub error: Option<String>,
    /// A refused connect is tried again at this time.
    retry_at: Option<Instant>,
    /// Connects that had to wait for a port.
    port_waits: u64,
}

/// How long a connect refused for want of a port waits before it is tried
/// again.
const PORT_RETRY: Duration = Duration::from_millis(1);

impl ConnRateClient {
    pub fn new(
        remote: SocketAddrV4,
        size: usize,
        warmup: Duration,
        window: Duration,
        max_connections: u64,
    ) -> ConnRateClient {
        ConnRateClient {
            remote,
            req: vec![0x43; size.max(1)],
            buf: vec![0; size.max(1).max(2048)],
            max_connections,
            current: None,
            timed: Timed::new(warmup, window),
            retransmits: 0,
            stopped: None,
            done: false,
            error: None,
            retry_at: None,
            port_waits: 0,
        }
    }

    /// Starts the clock and opens the first connection (call once the
    /// peer's MAC is known).
    pub fn start(&mut self, ctx: &mut Ctx<'_>) {
        self.timed.start(Instant::now());
        self.open(ctx);
    }

    fn open(&mut self, ctx: &mut Ctx<'_>) {
        match ctx.endpoint.connect(ctx.now, self.remote) {
            Ok(id) => self.current = Some((id, Instant::now(), 0, 0)),
            Err(
                EndpointError::TooManyConnections | EndpointError::Ports(PortError::PortsExhausted),
            ) if !self.timed.over(Instant::now()) => {
                self.port_waits += 1;
                self.stopped = Some(format!(
                    "{} connects waited for a TIME-WAIT port to be taken over",
                    self.port_waits
                ));
                self.retry_at = Some(Instant::now() + PORT_RETRY);
            }
            // The window ended while waiting for a port.
            Err(
                EndpointError::TooManyConnections | EndpointError::Ports(PortError::PortsExhausted),
            ) if self.port_waits > 0 => self.done = true,
            Err(e) => {
                self.stopped = Some(format!(
                    "stopped early: connect refused by Shunt's endpoint after {} connections: {e}",
                    self.timed.total
                ));
                self.done = true;
            }
        }
    }

    fn fail(&mut self, e: String) {
        self.error.get_or_insert(e);
        self.done = true;
    }

    fn push(&mut self, ctx: &mut Ctx<'_>) {
        let Some((id, _, sent, _)) = self.current.as_mut() else {
            return;
        };
        while *sent < self.req.len() {
            match ctx.endpoint.send(*id, &self.req[*sent..]) {
                Ok(0) => return,
                Ok(n) => *sent += n,
                Err(e) => return self.fail(format!("send: {e}")),
            }
        }
    }

    fn pull(&mut self, ctx: &mut Ctx<'_>) {
        let Some((id, opened, _, got)) = self.current.as_mut() else {
            return;
        };
        let (id, opened) = (*id, *opened);
        while *got < self.req.len() {
            match ctx.endpoint.recv(id, &mut self.buf) {
                Ok(0) => return,
                Ok(n) => *got += n,
                Err(e) => return self.fail(format!("recv: {e}")),
            }
        }
        if *got > self.req.len() {
            return self.fail("the response is longer than the request".into());
        }
        let now = Instant::now();
        if let Ok(stats) = ctx.endpoint.conn_stats(id) {
            self.retransmits += stats.retransmits;
        }
        if let Err(e) = ctx.endpoint.close(ctx.now, id) {
            return self.fail(format!("close: {e}"));
        }
        self.current = None;
        let over = self.timed.record(opened, now);
        if over || self.timed.total >= self.max_connections {
            self.done = true;
        } else {
            self.open(ctx);
        }
    }
}

impl App for ConnRateClient {
    fn on_turn(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(at) = self.retry_at.filter(|_| !self.done) else {
            return false;
        };
        if Instant::now() >= at {
            self.retry_at = None;
            self.open(ctx);
        }
        // Waiting for a port counts as work: the shard must not block
        // (milliseconds) past the retry.
        true
    }

    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent) {
        let current = self.current.map(|c| c.0);
        match event {
            _ if self.done => {}
            EndpointEvent::Conn(id, _) if Some(id) != current => {}
            EndpointEvent::Conn(_, Event::Connected | Event::Writable) => self.push(ctx),
            EndpointEvent::Conn(_, Event::Readable) => self.pull(ctx),
            EndpointEvent::Conn(_, Event::PeerClosed | Event::Closed) => {
                self.fail("the server closed the connection before echoing".into())
            }
            EndpointEvent::Conn(_, Event::Error(e)) => self.fail(format!("connection: {e}")),
            EndpointEvent::Unreachable(_, ip) => self.fail(format!("no ARP reply from {ip}")),
            EndpointEvent::Acceptable(_) => {}
        }
    }
}
