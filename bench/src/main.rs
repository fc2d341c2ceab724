//! shunt-bench: load tests on self-made test hosts, or between two real
//! hosts (`serve` on the far one, `compare --iface --peer` here).
//!
//! `demo` (the steering program on a veth pair, with its counters while the
//! peer sends traffic), `raw` (the AF_XDP ring layer's packet rates next to
//! the kernel's UDP sockets on the same link), `rr` (request/response round
//! trips and latencies: kernel, Shunt, and the raw AF_XDP ceiling), `bulk`
//! (one-way goodput: kernel, Shunt, and the raw ceiling) and `cc` (Shunt's
//! congestion controllers and pacing, and Shunt against the kernel under
//! loss). `compare` runs them all side by side, the kernel stack against
//! Shunt on the same link, into one table (and JSON, and SVG plots).

mod apps;
mod bulk;
mod cc;
mod compare;
mod connrate;
mod cpu;
mod demo;
mod frames;
mod pipeline;
mod plot;
mod raw;
mod remote;
mod rr;
mod signals;
#[cfg(test)]
mod tests;
mod timeline;

use std::time::Duration;

use clap::{Parser, Subcommand};
use datapath::io::xdp::TxChecksumOffload;
use datapath::shard::ShardConfig;

#[derive(Debug, Parser)]
#[command(
    name = "shunt-bench",
    version,
    about = "Load-test Shunt against the kernel stack on the same link"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Attach the steering program to a self-made veth pair and show its
    /// counters while the peer sends owned and other traffic.
    Demo {
        /// How long the peer sends traffic.
        #[arg(long, default_value_t = 4)]
        seconds: u64,
    },
    /// Raw packet rates: AF_XDP TX -> XDP -> AF_XDP RX with Shunt's ring layer,
    /// and kernel UDP socket to kernel UDP socket, on the same veth pair.
    Raw {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Frame sizes in bytes (Ethernet header included, FCS excluded).
        #[arg(long, value_delimiter = ',', default_values_t = [64usize, 1514])]
        sizes: Vec<usize>,
    },
    /// One connection, request/response: round trips per second and latency
    /// percentiles of the kernel (blocking and busy-polled), Shunt, and a raw
    /// AF_XDP frame ping-pong (the ceiling).
    Rr {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Request and response size in bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Turns a Shunt shard spins without work before it blocks (default:
        /// the shard's default).
        #[arg(long)]
        idle_turns: Option<u32>,
    },
    /// One connection, one direction: goodput of the kernel (with its
    /// offloads) and Shunt, and the raw AF_XDP frame rate times the MSS.
    Bulk {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Who finishes Shunt's TCP checksums: `auto` (the device if it
        /// can, else Shunt), `off` (Shunt), `kernel` (the kernel's copy
        /// path, on the CPU: XDP_UMEM_TX_SW_CSUM).
        #[arg(long, default_value = "auto", value_parser = parse_tx_checksum)]
        tx_checksum: TxChecksumOffload,
    },
    /// Bulk goodput of Shunt with each congestion controller, pacing on and
    /// off; then kernel CUBIC and BBR against Shunt CUBIC and BBR with the
    /// same loss injected on the data direction.
    Cc {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Loss on the data direction, percent (0 skips the comparison with
        /// the kernel).
        #[arg(long, default_value_t = 1.0)]
        loss: f64,
        /// Also write every figure to this file as JSON.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
    /// The kernel stack against Shunt on the same link, in one run: bulk,
    /// request/response, connection rate and bulk under loss, on kernel <->
    /// kernel, Shunt <-> Shunt and kernel client <-> Shunt server, in one
    /// table with each figure's ratio to the kernel's.
    Compare {
        /// Workloads to run, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = compare::Workload::ALL)]
        workloads: Vec<compare::Workload>,
        /// Seconds per figure, after the warm-up.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Warm-up before each figure's window, milliseconds.
        #[arg(long, default_value_t = 300)]
        warmup_ms: u64,
        /// Connections of bulk and loss, from one sender to one receiver.
        #[arg(long, default_value_t = 1)]
        flows: usize,
        /// Request and response size of request/response, bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Connections of request/response.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Requests in flight on each request/response connection
        /// (pipelining).
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Request and response size of the connection-rate workload, bytes.
        #[arg(long, default_value_t = 1)]
        conn_size: usize,
        /// Connections per connection-rate figure at most.
        #[arg(long, default_value_t = connrate::MAX_CONNECTIONS)]
        max_connections: u64,
        /// Data frames dropped in the loss workload, percent.
        #[arg(long, default_value_t = 1.0)]
        loss: f64,
        /// Congestion controller of every bulk sender (kernel: TCP_CONGESTION
        /// on its socket): newreno (reno), cubic or bbr.
        #[arg(long, default_value = "cubic")]
        cc: datapath::cc::Algorithm,
        /// Turns a Shunt shard spins without work before it blocks (default:
        /// the shard's default).
        #[arg(long)]
        idle_turns: Option<u32>,
        /// Also write every figure and the machine to this file as JSON.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
        /// Write SVG plots into this directory (made if missing).
        #[arg(long)]
        plot: Option<std::path::PathBuf>,
        /// Real-host mode: the interface towards the peer (Shunt's clients
        /// run on it); with --peer.
        #[arg(long, requires = "peer")]
        iface: Option<String>,
        /// Real-host mode: the far host's address, where `shunt-bench serve`
        /// runs; with --iface.
        #[arg(long, requires = "iface")]
        peer: Option<String>,
        /// Real-host mode: this host's address on --iface, A.B.C.D/len
        /// (default: the interface's first IPv4 address).
        #[arg(long, requires = "iface")]
        addr: Option<String>,
    },
    /// The far host's side of `compare --iface --peer`: the kernel's and
    /// Shunt's servers of every workload on fixed ports, until Ctrl-C or
    /// SIGTERM.
    Serve {
        /// The interface the peer reaches this host on (Shunt attaches to
        /// it).
        #[arg(long)]
        iface: String,
        /// This host's address on it, A.B.C.D/len (default: the interface's
        /// first IPv4 address).
        #[arg(long)]
        addr: Option<String>,
        /// Turns the Shunt shard spins without work before it blocks.
        #[arg(long)]
        idle_turns: Option<u32>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = signals::install() {
        eprintln!("shunt-bench: {e}");
        std::process::exit(1);
    }
    let r = match cli.cmd {
        Cmd::Demo { seconds } => demo::run(seconds),
        Cmd::Raw { seconds, sizes } => raw::run(seconds, &sizes),
        Cmd::Rr {
            seconds,
            size,
            idle_turns,
        } => rr::run(seconds, size, idle_turns),
        Cmd::Bulk {
            seconds,
            tx_checksum,
        } => bulk::run(seconds, tx_checksum),
        Cmd::Cc {
            seconds,
            loss,
            json,
        } => cc::run(seconds, loss, json.as_deref()),
        Cmd::Compare {
            workloads,
            seconds,
            warmup_ms,
            flows,
            size,
            conns,
            depth,
            conn_size,
            max_connections,
            loss,
            cc,
            idle_turns,
            json,
            plot,
            iface,
            peer,
            addr,
        } => Duration::try_from_secs_f64(seconds)
            .map_err(|_| BenchError(format!("--seconds {seconds}: not a duration")))
            .and_then(|window| {
                let mut shard = ShardConfig::default();
                if let Some(n) = idle_turns {
                    shard.idle_turns = n;
                }
                compare::run(&compare::CompareArgs {
                    opts: compare::CompareOpts {
                        workloads,
                        warmup: Duration::from_millis(warmup_ms),
                        window,
                        flows,
                        rr_size: size,
                        rr_conns: conns,
                        rr_depth: depth,
                        conn_size,
                        max_connections,
                        loss_percent: loss,
                        cc,
                        shard,
                    },
                    json,
                    plot,
                    iface,
                    peer,
                    addr,
                })
            }),
        Cmd::Serve {
            iface,
            addr,
            idle_turns,
        } => remote::Iface::resolve(&iface, addr.as_deref()).and_then(|iface| {
            let mut shard = ShardConfig::default();
            if let Some(n) = idle_turns {
                shard.idle_turns = n;
            }
            signals::GRACEFUL.store(true, std::sync::atomic::Ordering::Relaxed);
            remote::serve(&iface, &shard, &signals::STOP)
        }),
    };
    if let Err(e) = r {
        eprintln!("shunt-bench: {e}");
        std::process::exit(1);
    }
}

fn parse_tx_checksum(s: &str) -> std::result::Result<TxChecksumOffload, String> {
    match s {
        "auto" => Ok(TxChecksumOffload::Auto),
        "off" => Ok(TxChecksumOffload::Off),
        "kernel" => Ok(TxChecksumOffload::KernelSoftware),
        _ => Err(format!("{s}: expected auto, off or kernel")),
    }
}

/// Errors of the bench, with the message a user sees.
#[derive(Debug)]
pub struct BenchError(String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for BenchError {
    fn from(e: E) -> Self {
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            let s_msg = s.to_string();
            if !msg.contains(&s_msg) {
                msg.push_str(": ");
                msg.push_str(&s_msg);
            }
            src = s.source();
        }
        BenchError(msg)
    }
}

pub type Result<T> = std::result::Result<T, BenchError>;

/// `a / b`, with a zero `b` giving a large number instead of infinity.
pub fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-9)
}

/// Longest a run may take beyond its warm-up and window before it is
/// called stuck.
pub(crate) const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Pins the calling thread to `core` (modulo the machine's cores).
pub fn pin(core: usize) {
    control::runtime::pin_current_thread(core);
}
