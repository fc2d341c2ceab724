//! One shard: the run-to-completion loop of one queue.
//!
//! Each turn: receive a batch of frames into the endpoint, fire due timers,
//! hand endpoint events to the application's callbacks (on this thread, so the
//! application reads received data in place), run commands submitted from
//! other threads, then build a batch of frames and make them leave. A shard
//! owns its packet I/O, its endpoint and its application: nothing is shared
//! with other shards. Other threads reach it only through a [`ShardHandle`]
//! (a bounded queue of commands) and read its counters (atomics it alone
//! writes, once per turn).
//!
//! Busy polling is the default; after `idle_turns` turns without work the
//! shard blocks in the I/O's wait (a `poll()` on the AF_XDP socket) for at
//! most `max_block` or until its next timer, so an idle shard does not burn a
//! core. Commands from handles are picked up within `max_block`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::endpoint::{Endpoint, EndpointEvent, Rx};
use crate::io::PacketIo;
use crate::time::Instant;
use crate::wire::ChecksumFill;

/// How a shard polls.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    pub rx_batch: u32,
    pub tx_batch: u32,
    /// Turns without work before blocking; 0 blocks at once (no busy
    /// polling: for tests on two cores, or when CPU matters more than latency).
    /// Between two idle turns the shard watches its rings for ~0.3 us, so
    /// the default spins for about a millisecond before it blocks.
    /// Busy polling needs the shard alone on its core: two spinning threads on
    /// one core only meet at timer ticks (milliseconds).
    pub idle_turns: u32,
    /// Longest single block while idle.
    pub max_block: std::time::Duration,
    /// Commands queued from handles at most.
    pub command_queue: usize,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            rx_batch: 64,
            tx_batch: 64,
            idle_turns: 2_000,
            max_block: std::time::Duration::from_millis(2),
            command_queue: 1024,
        }
    }
}

impl ShardConfig {
    /// No busy polling: block whenever there is nothing to do (tests on two
    /// cores, or when CPU matters more than latency).
    pub fn blocking() -> Self {
        ShardConfig {
            idle_turns: 0,
            ..ShardConfig::default()
        }
    }
}

/// What the application sees on its shard.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub now: Instant,
    pub endpoint: &'a mut Endpoint,
}

/// The application's callbacks, run on the shard's thread.
pub trait App: Send {
    /// Once, before the first turn.
    fn on_start(&mut self, _ctx: &mut Ctx<'_>) {}
    /// An endpoint event: a connection became readable, writable, closed...
    fn on_event(&mut self, ctx: &mut Ctx<'_>, event: EndpointEvent);
    /// Every turn, after events: for applications with work of their own.
    /// Returns whether it did any (busy polling continues while it does).
    fn on_turn(&mut self, _ctx: &mut Ctx<'_>) -> bool {
        false
    }
    /// The shard stops after the turn in which this becomes true.
    fn finished(&self) -> bool {
        false
    }
}

type Command<A> = Box<dyn FnOnce(&mut A, &mut Ctx<'_>) + Send>;

/// Counters of a shard, readable from any thread while it runs.
#[derive(Debug, Default)]
pub struct ShardCounters {
    pub turns: AtomicU64,
    pub rx_frames: AtomicU64,
    pub tx_frames: AtomicU64,
    pub blocks: AtomicU64,
    pub commands: AtomicU64,
    pub events: AtomicU64,
    pub handed_off: AtomicU64,
    pub handed_in: AtomicU64,
    pub handoff_dropped: AtomicU64,
}

/// A snapshot of [`ShardCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub turns: u64,
    pub rx_frames: u64,
    pub tx_frames: u64,
    pub blocks: u64,
    pub commands: u64,
    pub events: u64,
    /// Frames received here for another shard's connection and passed on.
    pub handed_off: u64,
    /// Frames other shards passed to this one.
    pub handed_in: u64,
    /// Frames for another shard dropped because its inbox was full.
    pub handoff_dropped: u64,
}

impl ShardStats {
    /// The change from `earlier` to `self`.
    pub fn since(&self, earlier: &ShardStats) -> ShardStats {
        ShardStats {
            turns: self.turns.wrapping_sub(earlier.turns),
            rx_frames: self.rx_frames.wrapping_sub(earlier.rx_frames),
            tx_frames: self.tx_frames.wrapping_sub(earlier.tx_frames),
            blocks: self.blocks.wrapping_sub(earlier.blocks),
            commands: self.commands.wrapping_sub(earlier.commands),
            events: self.events.wrapping_sub(earlier.events),
            handed_off: self.handed_off.wrapping_sub(earlier.handed_off),
            handed_in: self.handed_in.wrapping_sub(earlier.handed_in),
            handoff_dropped: self.handoff_dropped.wrapping_sub(earlier.handoff_dropped),
        }
    }
}

impl ShardCounters {
    pub fn snapshot(&self) -> ShardStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ShardStats {
            turns: l(&self.turns),
            rx_frames: l(&self.rx_frames),
            tx_frames: l(&self.tx_frames),
            blocks: l(&self.blocks),
            commands: l(&self.commands),
            events: l(&self.events),
            handed_off: l(&self.handed_off),
            handed_in: l(&self.handed_in),
            handoff_dropped: l(&self.handoff_dropped),
        }
    }
}

/// Why a handle could not reach its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("the shard's command queue is full")]
    Full,
    #[error("the shard has stopped")]
    Stopped,
}

/// A thread-safe way into a shard: run a closure on it (with the
/// application and the endpoint), stop it, read its counters.
pub struct ShardHandle<A> {
    commands: Sender<Command<A>>,
    stop: Arc<AtomicBool>,
    counters: Arc<ShardCounters>,
}

impl<A> Clone for ShardHandle<A> {
    fn clone(&self) -> Self {
        ShardHandle {
            commands: self.commands.clone(),
            stop: self.stop.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<A> std::fmt::Debug for ShardHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardHandle")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<A> ShardHandle<A> {
    /// Queues `f` to run on the shard; does not wait.
    pub fn submit(
        &self,
        f: impl FnOnce(&mut A, &mut Ctx<'_>) + Send + 'static,
    ) -> Result<(), HandleError> {
        self.commands.try_send(Box::new(f)).map_err(|e| match e {
            TrySendError::Full(_) => HandleError::Full,
            TrySendError::Disconnected(_) => HandleError::Stopped,
        })
    }

    /// Runs `f` on the shard and waits for its result.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut A, &mut Ctx<'_>) -> R + Send + 'static,
    ) -> Result<R, HandleError> {
        let (tx, rx) = bounded(1);
        self.submit(move |app, ctx| {
            let _ = tx.send(f(app, ctx));
        })?;
        rx.recv().map_err(|_| HandleError::Stopped)
    }

    /// Asks the shard to stop after its current turn.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stats(&self) -> ShardStats {
        self.counters.snapshot()
    }
}

/// Looks at the queues per [`Shard::watch`]: each a few loads, ~10 ns.
const WATCH_LOOKS: u32 = 32;

/// Maps the monotonic clock onto the datapath's [`Instant`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: std::time::Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base: std::time::Instant::now(),
        }
    }
    pub fn now(&self) -> Instant {
        // Starts at 1 ms so that no real time is ever Instant::ZERO.
        Instant::from_nanos(self.base.elapsed().as_nanos() as u64 + 1_000_000)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A shard: packet I/O, an endpoint and an application, driven by [`Shard::run`].
pub struct Shard<I: PacketIo, A: App> {
    io: I,
    endpoint: Endpoint,
    app: A,
    cfg: ShardConfig,
    clock: Clock,
    commands: Receiver<Command<A>>,
    stop: Arc<AtomicBool>,
    counters: Arc<ShardCounters>,
    local: ShardStats,
    /// Frames other shards received for our connections.
    inbox: Option<Receiver<Vec<u8>>>,
    /// The other shards' inboxes, by shard index (our own slot unused).
    peers: Vec<Sender<Vec<u8>>>,
    /// The last transmit stopped at a full ring with frames still waiting.
    tx_backlog: bool,
}

/// Inboxes for `n` shards: for each, its receiver and every shard's sender.
/// Frames of another shard's connection travel through these (bounded: a
/// full inbox drops the frame and counts it, TCP retransmits).
pub type Mesh = Vec<(Receiver<Vec<u8>>, Vec<Sender<Vec<u8>>>)>;

/// Builds the inboxes of `n` shards, `capacity` frames each.
pub fn mesh(n: usize, capacity: usize) -> Mesh {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(capacity)).unzip();
    rxs.into_iter().map(|rx| (rx, txs.clone())).collect()
}

impl<I: PacketIo, A: App> std::fmt::Debug for Shard<I, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("stats", &self.local)
            .finish_non_exhaustive()
    }
}

impl<I: PacketIo, A: App> Shard<I, A> {
    pub fn new(
        io: I,
        endpoint: Endpoint,
        app: A,
        cfg: ShardConfig,
    ) -> (Shard<I, A>, ShardHandle<A>) {
        let mut endpoint = endpoint;
        // Segments carry only the pseudo-header sum when the device
        // finishes checksums: the payload is then never summed here.
        endpoint.set_tx_checksum(if io.tx_checksum_offload() {
            ChecksumFill::PseudoHeaderOnly
        } else {
            ChecksumFill::Full
        });
        let (tx, rx) = bounded(cfg.command_queue.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(ShardCounters::default());
        let handle = ShardHandle {
            commands: tx,
            stop: stop.clone(),
            counters: counters.clone(),
        };
        let shard = Shard {
            io,
            endpoint,
            app,
            cfg,
            clock: Clock::new(),
            commands: rx,
            stop,
            counters,
            local: ShardStats::default(),
            inbox: None,
            peers: Vec::new(),
            tx_backlog: false,
        };
        (shard, handle)
    }

    /// Joins a mesh of shards (see [`mesh`]): frames of connections this
    /// shard does not own go to their owner, and the owner's frames that
    /// other shards received come in through `inbox`.
    pub fn join_mesh(&mut self, inbox: Receiver<Vec<u8>>, peers: Vec<Sender<Vec<u8>>>) {
        self.inbox = Some(inbox);
        self.peers = peers;
    }

    /// Takes the shard apart after it stopped.
    pub fn into_parts(self) -> (I, Endpoint, A) {
        (self.io, self.endpoint, self.app)
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    pub fn app(&self) -> &A {
        &self.app
    }
    pub fn io(&self) -> &I {
        &self.io
    }

    /// Runs turns until stopped (by a handle or by the application).
    pub fn run(&mut self) {
        let now = self.clock.now();
        self.app.on_start(&mut Ctx {
            now,
            endpoint: &mut self.endpoint,
        });
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Relaxed) && !self.app.finished() {
            if self.turn() {
                idle = 0;
            } else {
                idle = idle.saturating_add(1);
                if idle > self.cfg.idle_turns {
                    self.block();
                } else {
                    self.watch();
                }
            }
        }
        self.publish();
    }

    /// One turn; returns whether anything happened.
    pub fn turn(&mut self) -> bool {
        let now = self.clock.now();
        let mut work = false;

        let (endpoint, peers, local) = (&mut self.endpoint, &self.peers, &mut self.local);
        let rx = self.io.recv(self.cfg.rx_batch, |frame| {
            if let Rx::Foreign(owner) = endpoint.handle_frame(now, frame) {
                // Copied per frame: only replies that hashed to the wrong queue.
                let sent = peers
                    .get(owner as usize)
                    .is_some_and(|p| p.try_send(frame.to_vec()).is_ok());
                if sent {
                    local.handed_off += 1;
                } else {
                    local.handoff_dropped += 1;
                }
            }
        });
        self.local.rx_frames += u64::from(rx);
        work |= rx > 0;
        if let Some(inbox) = &self.inbox {
            while let Ok(frame) = inbox.try_recv() {
                // A frame handed over is ours by the port ranges; if not (a
                // stale connection), it is counted there, never passed on again.
                let _ = self.endpoint.handle_handed_frame(now, &frame);
                self.local.handed_in += 1;
                work = true;
            }
        }

        let mut ctx = Ctx {
            now,
            endpoint: &mut self.endpoint,
        };
        while let Some(ev) = ctx.endpoint.poll_event() {
            self.local.events += 1;
            self.app.on_event(&mut ctx, ev);
            work = true;
        }
        while let Ok(cmd) = self.commands.try_recv() {
            self.local.commands += 1;
            cmd(&mut self.app, &mut ctx);
            work = true;
        }
        work |= self.app.on_turn(&mut ctx);

        // Output of input and the application leaves first; timers are
        // served after its kick, off the round trip's path, and what they
        // produce (retransmissions, delayed ACKs, paced segments) leaves in
        // the same turn.
        work |= self.transmit(now, work);
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now)
            && self.endpoint.handle_timeout(now)
        {
            work = true;
            self.transmit(now, true);
        }
        self.local.turns += 1;
        if self.local.turns.is_multiple_of(64) || !work {
            self.publish();
        }
        work
    }

    /// Transmits until the endpoint has nothing more (or the ring is full);
    /// returns whether anything left. Output only arises from input, timers
    /// and the application, so without `work` this is skipped, unless the
    /// ring was full last time with frames still waiting.
    fn transmit(&mut self, now: Instant, work: bool) -> bool {
        let mut sent = false;
        if work || self.tx_backlog {
            loop {
                let endpoint = &mut self.endpoint;
                let mut drained = false;
                let n = self.io.transmit(self.cfg.tx_batch, |buf| {
                    let frame = endpoint.poll_frame(now, buf);
                    drained |= frame.is_none();
                    frame
                });
                self.local.tx_frames += u64::from(n);
                if n > 0 {
                    self.io.flush();
                    sent = true;
                }
                if n < self.cfg.tx_batch {
                    self.tx_backlog = !drained;
                    break;
                }
            }
        }
        sent
    }

    /// Between idle turns: watches only the RX ring, the inbox and the
    /// command queue for a few hundred nanoseconds, so that a frame is seen
    /// within a few cycles of its arrival instead of after the rest of a
    /// turn (clock, timers, events, application; ~280 cycles here). Timers
    /// and the application's `on_turn` wait at most one watch.
    fn watch(&mut self) {
        if self.tx_backlog {
            return;
        }
        for _ in 0..WATCH_LOOKS {
            if self.io.rx_waiting()
                || !self.commands.is_empty()
                || self.inbox.as_ref().is_some_and(|i| !i.is_empty())
            {
                return;
            }
        }
    }

    /// Blocks until frames arrive, the next timer, or `max_block`.
    fn block(&mut self) {
        let now = self.clock.now();
        let until_timer = self
            .endpoint
            .poll_timeout()
            .map(|t| std::time::Duration::from(t.saturating_since(now)))
            .unwrap_or(self.cfg.max_block);
        let timeout = until_timer.min(self.cfg.max_block);
        if !timeout.is_zero() {
            self.local.blocks += 1;
            self.io.wait(timeout);
        }
    }

    fn publish(&self) {
        let c = &self.counters;
        c.turns.store(self.local.turns, Ordering::Relaxed);
        c.rx_frames.store(self.local.rx_frames, Ordering::Relaxed);
        c.tx_frames.store(self.local.tx_frames, Ordering::Relaxed);
        c.blocks.store(self.local.blocks, Ordering::Relaxed);
        c.commands.store(self.local.commands, Ordering::Relaxed);
        c.events.store(self.local.events, Ordering::Relaxed);
        c.handed_off.store(self.local.handed_off, Ordering::Relaxed);
        c.handed_in.store(self.local.handed_in, Ordering::Relaxed);
        c.handoff_dropped
            .store(self.local.handoff_dropped, Ordering::Relaxed);
    }
}
