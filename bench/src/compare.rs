//! `shunt-bench compare`: the kernel stack and Shunt on the same link, in one
//! run, every workload on every stack, one table with each Shunt figure as a
//! ratio to the kernel's.
//!
//! Workloads (each figure on test hosts of its own, removed after it; the
//! server in host A on core 0, the client or sender in host B on core 1):
//! - `bulk`: one connection, one direction; kernel -> kernel with its
//!   offloads (64 KB GSO/TSO, the baseline) and without (MTU frames, one at
//!   a time, as Shunt sends them), Shunt -> Shunt, kernel -> Shunt;
//! - `rr`: one connection, request/response of `rr_size` bytes each way;
//!   kernel blocking, kernel busy-polled (the baseline), Shunt, kernel
//!   client -> Shunt server;
//! - `connrate`: connect, one exchange of `conn_size` bytes, close, one
//!   connection at a time; kernel (the baseline), Shunt, kernel client ->
//!   Shunt server;
//! - `loss`: `bulk` with a fraction of the data frames dropped at the
//!   receiver (tc on a kernel receiver's veth, XDP on Shunt's); kernel ->
//!   kernel with TSO/GSO off (the baseline), Shunt -> Shunt, kernel -> Shunt.
//!
//! The measuring code is `bulk`'s, `rr`'s and `connrate`'s; this module
//! picks the figures, runs them with a progress bar, and writes the table,
//! the JSON and the plots. A figure that fails is reported as failed and the
//! others still run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use datapath::cc::Algorithm;
use datapath::shard::ShardConfig;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::bulk::{self, BulkOpts, KernelFlow, KernelRun, ShuntFlow, ShuntRun};
use crate::connrate::{self, ConnRateOpts};
use crate::cpu::{Work, cpu_hz};
use crate::plot::{Chart, Series, write_svg};
use crate::remote::RealHosts;
use crate::rr::{self, RrFigure, RrOpts};
use crate::timeline::Timeline;
use crate::{BenchError, Result, ratio};

/// A workload of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    Bulk,
    Rr,
    Connrate,
    Loss,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Bulk,
        Workload::Rr,
        Workload::Connrate,
        Workload::Loss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Bulk => "bulk",
            Workload::Rr => "rr",
            Workload::Connrate => "connrate",
            Workload::Loss => "loss",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CompareOpts {
    pub workloads: Vec<Workload>,
    pub warmup: Duration,
    pub window: Duration,
    /// Connections of `bulk` and `loss`.
    pub flows: usize,
    /// Request and response size of `rr`, bytes.
    pub rr_size: usize,
    /// Connections of `rr`, and requests in flight on each.
    pub rr_conns: usize,
    pub rr_depth: usize,
    /// Request and response size of `connrate`, bytes.
    pub conn_size: usize,
    /// Connections per `connrate` figure at most.
    pub max_connections: u64,
    /// Data frames dropped in `loss`, percent.
    pub loss_percent: f64,
    /// The congestion controller of every bulk sender, kernel and Shunt.
    pub cc: Algorithm,
    pub shard: ShardConfig,
}

impl CompareOpts {
    /// Refuses options no figure could run with, before anything runs.
    pub fn check(&self) -> Result<()> {
        if self.workloads.is_empty() {
            return Err(BenchError("no workload chosen".into()));
        }
        if self.window.is_zero() {
            return Err(BenchError("the window must be longer than zero".into()));
        }
        if self.window > Duration::from_secs(600) || self.warmup > Duration::from_secs(60) {
            return Err(BenchError(
                "windows of at most 600 s and warm-ups of at most 60 s".into(),
            ));
        }
        self.rr_opts().check()?;
        if !(1..=bulk::MAX_FLOWS).contains(&self.flows) {
            return Err(BenchError(format!(
                "{} bulk connections: must be 1..={}",
                self.flows,
                bulk::MAX_FLOWS
            )));
        }
        connrate::check(&self.conn_opts())?;
        if !(self.loss_percent > 0.0 && self.loss_percent <= 50.0) {
            return Err(BenchError(format!(
                "loss {}% is outside (0, 50]",
                self.loss_percent
            )));
        }
        Ok(())
    }

    pub(crate) fn bulk_opts(&self) -> BulkOpts {
        BulkOpts {
            flows: self.flows,
            warmup: self.warmup,
            window: self.window,
            shard: self.shard.clone(),
        }
    }

    pub(crate) fn conn_opts(&self) -> ConnRateOpts {
        ConnRateOpts {
            size: self.conn_size,
            warmup: self.warmup,
            window: self.window,
            shard: self.shard.clone(),
            max_connections: self.max_connections,
        }
    }

    pub(crate) fn rr_opts(&self) -> RrOpts {
        RrOpts {
            size: self.rr_size,
            conns: self.rr_conns,
            depth: self.rr_depth,
            warmup: self.warmup,
            window: self.window,
            shard: self.shard.clone(),
        }
    }
}

/// One measured figure, whatever its workload.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Payload goodput, Gbit/s (request/response: both directions).
    pub gbps: f64,
    /// Round trips or connections per second (request/response, connection
    /// rate).
    pub per_sec: Option<f64>,
    /// Nanoseconds per round trip or connection.
    pub latency: Option<Histogram<u64>>,
    pub work: Work,
    pub retransmits: u64,
    /// Payload bytes the client or sender wrote and the server or receiver
    /// read (echoed, for request/response), over the whole run.
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub timeline: Option<Timeline>,
    /// Data frames the fault injector dropped, and those it could have.
    pub dropped: Option<(u64, u64)>,
    /// The sender's congestion controller, as it named itself.
    pub cc: Option<String>,
    /// Why the run ended early, if it did.
    pub note: Option<String>,
}

impl From<RrFigure> for Figure {
    fn from(f: RrFigure) -> Self {
        Figure {
            gbps: f.work.bytes as f64 * 8.0 / f.work.wall.as_secs_f64().max(1e-9) / 1e9,
            per_sec: Some(f.rate()),
            latency: Some(f.hist),
            work: f.work,
            retransmits: f.retransmits,
            sent_bytes: f.client_bytes,
            received_bytes: f.server_bytes,
            timeline: None,
            dropped: None,
            cc: None,
            note: f.stopped,
        }
    }
}

impl From<KernelRun> for Figure {
    fn from(k: KernelRun) -> Self {
        Figure {
            gbps: k.gbps,
            per_sec: None,
            latency: None,
            work: k.work,
            retransmits: k.tcp.retrans_segs,
            sent_bytes: k.sent_bytes,
            received_bytes: k.received_bytes,
            timeline: Some(k.timeline),
            dropped: k.faults.map(|f| (f.dropped, f.matched)),
            cc: Some(k.cc),
            note: None,
        }
    }
}

impl Figure {
    pub(crate) fn from_shunt(s: ShuntRun, loss: bool) -> Figure {
        let x = s.steering;
        Figure {
            gbps: s.gbps,
            per_sec: None,
            latency: None,
            work: s.work,
            retransmits: s.retransmits,
            sent_bytes: s.sent_bytes,
            received_bytes: s.received_bytes,
            dropped: loss.then_some((x.fault_dropped, x.redirected + x.fault_dropped)),
            cc: s.info.map(|i| i.cc.to_string()),
            timeline: Some(s.timeline),
            note: None,
        }
    }

    /// The headline number: Gbit/s for bulk, per second otherwise.
    fn throughput(&self) -> f64 {
        self.per_sec.unwrap_or(self.gbps)
    }

    /// Microseconds at quantile `q`.
    fn us(&self, q: f64) -> Option<f64> {
        self.latency
            .as_ref()
            .map(|h| h.value_at_quantile(q) as f64 / 1e3)
    }

    fn max_us(&self) -> Option<f64> {
        self.latency.as_ref().map(|h| h.max() as f64 / 1e3)
    }

    /// Cycles per request (request/response, connections) or per byte.
    fn cycles(&self, hz: f64) -> Option<f64> {
        if self.per_sec.is_some() {
            self.work.cycles_per_request(hz)
        } else {
            self.work.cycles_per_byte(hz)
        }
    }
}

/// One row of the comparison.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: Workload,
    /// `kernel`, `kernel_busy`, `kernel_no_gso`, `shunt`, `kernel_to_shunt`.
    pub stack: &'static str,
    pub label: String,
    /// The kernel figure the workload's others are compared with.
    pub baseline: bool,
    pub result: std::result::Result<Figure, String>,
}

impl Row {
    pub fn figure(&self) -> Option<&Figure> {
        self.result.as_ref().ok()
    }
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: Machine,
    pub rows: Vec<Row>,
}

impl Report {
    fn baseline(&self, w: Workload) -> Option<&Figure> {
        self.rows
            .iter()
            .find(|r| r.workload == w && r.baseline)
            .and_then(Row::figure)
    }

    /// Whether every figure ran.
    pub fn all_ok(&self) -> bool {
        self.rows.iter().all(|r| r.result.is_ok())
    }
}

/// The machine and the link, for the record.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `self-made test hosts` or `real hosts`.
    pub topology: String,
    pub cpu: String,
    pub cores: usize,
    pub cpu_hz: Option<f64>,
    pub kernel: String,
    pub nic: String,
    pub driver: String,
    pub mtu: u32,
    pub queues: u32,
    pub xdp_mode: String,
    pub xsk_mode: String,
}

impl Machine {
    /// Reads the machine and probes the link: a pair of test hosts as the
    /// figures get them, Shunt started on one end to see how the steering
    /// program and the socket attach. Fails when no test host can be made
    /// (then no figure could run).
    pub fn probe(shard: &ShardConfig) -> Result<Machine> {
        let mut m = Machine::this_one();
        let hosts = rr::new_hosts(testhosts::Config::default())?;
        let a = hosts.a();
        if let Ok(out) = a.run("ethtool", &["-i", a.ifname()]) {
            m.driver = driver(&String::from_utf8_lossy(&out.stdout));
        }
        let cfg = rr::shunt_config(a, shard);
        if let Ok(modes) = a.run_in(|| attach_modes(cfg)) {
            m.set_modes(modes);
        }
        Ok(m)
    }

    /// The machine, and the interface of real-host mode: its driver, MTU
    /// and queues, and how Shunt attaches to it.
    pub fn probe_real(hosts: &RealHosts, shard: &ShardConfig) -> Machine {
        let mut m = Machine::this_one();
        let i = &hosts.iface;
        m.topology = "real hosts".into();
        m.nic = format!(
            "{} ({}/{}) to the peer {}",
            i.name, i.addr, i.prefix_len, hosts.peer
        );
        if let Ok(out) = std::process::Command::new("ethtool")
            .args(["-i", &i.name])
            .output()
        {
            m.driver = driver(&String::from_utf8_lossy(&out.stdout));
        }
        let (mtu, queues) = i.mtu_queues();
        m.mtu = mtu.unwrap_or(0);
        m.queues = queues.unwrap_or(0);
        let mut cfg = i.runtime_config(shard, 1);
        cfg.listen_ports = vec![7399];
        m.set_modes(attach_modes(cfg));
        m
    }

    /// The CPU and kernel; the link as the test hosts make it.
    fn this_one() -> Machine {
        Machine {
            topology: "self-made test hosts".into(),
            cpu: crate::cpu::cpu_model(),
            cores: control::runtime::online_cpus(),
            cpu_hz: cpu_hz(),
            kernel: crate::cpu::kernel_release(),
            nic: "veth pair between two network namespaces".into(),
            driver: "unknown".into(),
            mtu: testhosts::Config::default().mtu,
            queues: testhosts::Config::default().queues,
            xdp_mode: "unknown".into(),
            xsk_mode: "unknown".into(),
        }
    }

    fn set_modes(&mut self, modes: Option<(String, String)>) {
        if let Some((xdp, xsk)) = modes {
            (self.xdp_mode, self.xsk_mode) = (xdp, xsk);
        }
    }

    fn hz(&self) -> f64 {
        self.cpu_hz.unwrap_or(0.0)
    }
}

/// The driver `ethtool -i` names.
fn driver(ethtool: &str) -> String {
    ethtool
        .lines()
        .find_map(|l| l.strip_prefix("driver:"))
        .map_or_else(|| "unknown".into(), |d| d.trim().to_string())
}

/// How Shunt attaches with `cfg` (started and stopped at once): the XDP
/// mode and the AF_XDP sockets' modes.
fn attach_modes(cfg: control::RuntimeConfig) -> Option<(String, String)> {
    let rt = control::Runtime::start(cfg, |_| datapath::apps::EchoServer::new(7399, 1)).ok()?;
    let (xdp, xsk) = rt.modes();
    drop(rt.stop());
    Some((
        xdp.map_or_else(|| "unknown".into(), |x| x.to_string()),
        xsk.iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

/// A figure to run: its row's fields and the code that measures it.
pub(crate) struct Planned {
    workload: Workload,
    stack: &'static str,
    label: String,
    baseline: bool,
    run: Box<dyn FnOnce() -> Result<Figure>>,
}

pub(crate) fn item(
    workload: Workload,
    stack: &'static str,
    label: impl Into<String>,
    baseline: bool,
    run: impl FnOnce() -> Result<Figure> + 'static,
) -> Planned {
    Planned {
        workload,
        stack,
        label: label.into(),
        baseline,
        run: Box::new(run),
    }
}

/// The figures `opts` asks for, in the order they run.
fn plan(opts: &CompareOpts) -> Vec<Planned> {
    let (bulk_opts, rr_opts, conn_opts) = (opts.bulk_opts(), opts.rr_opts(), opts.conn_opts());
    let cc = opts.cc;
    let ppm = xdp_prog::Faults::ppm_from_percent(opts.loss_percent);
    let mut out = Vec::new();
    for &w in &opts.workloads {
        match w {
            Workload::Bulk | Workload::Loss => {
                let loss = w == Workload::Loss;
                let loss_ppm = if loss { ppm } else { 0 };
                let kernel = move |offloads| KernelFlow {
                    cc: Some(cc),
                    offloads,
                    loss_ppm,
                };
                let shunt = ShuntFlow {
                    cc,
                    loss_ppm,
                    ..ShuntFlow::default()
                };
                if !loss {
                    let o = bulk_opts.clone();
                    out.push(item(
                        w,
                        "kernel",
                        format!("kernel -> kernel, {cc}, GSO/TSO"),
                        true,
                        move || Ok(bulk::kernel_bulk(&o, kernel(true))?.into()),
                    ));
                }
                let o = bulk_opts.clone();
                out.push(item(
                    w,
                    "kernel_no_gso",
                    format!("kernel -> kernel, {cc}, TSO/GSO off"),
                    loss,
                    move || Ok(bulk::kernel_bulk(&o, kernel(false))?.into()),
                ));
                let o = bulk_opts.clone();
                out.push(item(
                    w,
                    "shunt",
                    format!("Shunt -> Shunt, {cc}"),
                    false,
                    move || Ok(Figure::from_shunt(bulk::shunt_bulk(&o, shunt)?, loss)),
                ));
                let o = bulk_opts.clone();
                out.push(item(
                    w,
                    "kernel_to_shunt",
                    format!("kernel -> Shunt, {cc}, TSO/GSO off"),
                    false,
                    move || {
                        let run = bulk::kernel_to_shunt_bulk(&o, kernel(false))?;
                        Ok(Figure::from_shunt(run, loss))
                    },
                ));
            }
            Workload::Rr => {
                let o = rr_opts.clone();
                out.push(item(
                    w,
                    "kernel",
                    "kernel <-> kernel, blocking",
                    false,
                    move || Ok(rr::kernel_figure(&o, false)?.into()),
                ));
                let o = rr_opts.clone();
                out.push(item(
                    w,
                    "kernel_busy",
                    "kernel <-> kernel, busy-polled",
                    true,
                    move || Ok(rr::kernel_figure(&o, true)?.into()),
                ));
                let o = rr_opts.clone();
                out.push(item(w, "shunt", "Shunt <-> Shunt", false, move || {
                    Ok(rr::shunt_figure(&o)?.into())
                }));
                let o = rr_opts.clone();
                out.push(item(
                    w,
                    "kernel_to_shunt",
                    "kernel (busy) -> Shunt server",
                    false,
                    move || Ok(rr::kernel_to_shunt_figure(&o)?.into()),
                ));
            }
            Workload::Connrate => {
                let o = conn_opts.clone();
                out.push(item(w, "kernel", "kernel -> kernel", true, move || {
                    Ok(connrate::kernel_connrate(&o)?.into())
                }));
                let o = conn_opts.clone();
                out.push(item(w, "shunt", "Shunt -> Shunt", false, move || {
                    Ok(connrate::shunt_connrate(&o)?.into())
                }));
                let o = conn_opts.clone();
                out.push(item(
                    w,
                    "kernel_to_shunt",
                    "kernel -> Shunt server",
                    false,
                    move || Ok(connrate::kernel_to_shunt_connrate(&o)?.into()),
                ));
            }
        }
    }
    out
}

/// Runs every figure `opts` asks for, with a progress bar on a terminal.
pub fn measure(opts: &CompareOpts) -> Result<Report> {
    opts.check()?;
    let machine = Machine::probe(&opts.shard)?;
    Ok(run_plan(machine, plan(opts)))
}

/// Runs every figure `opts` asks for between this host and `hosts.peer`
/// (where `shunt-bench serve` runs), but the loss workload.
pub fn measure_real(opts: &CompareOpts, hosts: &RealHosts) -> Result<Report> {
    opts.check()?;
    let opts = CompareOpts {
        workloads: crate::remote::workloads(&opts.workloads)?,
        ..opts.clone()
    };
    let machine = Machine::probe_real(hosts, &opts.shard);
    Ok(run_plan(machine, crate::remote::plan(&opts, hosts)))
}

/// Runs the figures of `plan`, with a progress bar on a terminal.
fn run_plan(machine: Machine, plan: Vec<Planned>) -> Report {
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(plan.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut rows = Vec::new();
    for Planned {
        workload,
        stack,
        label,
        baseline,
        run,
    } in plan
    {
        bar.set_message(format!("{}: {label}", workload.name()));
        let result = run().map_err(|e| e.to_string());
        if let Err(e) = &result {
            bar.println(format!("{}: {label}: failed: {e}", workload.name()));
        }
        rows.push(Row {
            workload,
            stack,
            label,
            baseline,
            result,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Report { machine, rows }
}

/// The options `compare` was given on the command line.
#[derive(Debug, Clone)]
pub struct CompareArgs {
    pub opts: CompareOpts,
    pub json: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub iface: Option<String>,
    pub peer: Option<String>,
    /// This host's address on `iface` (default: its first IPv4 address).
    pub addr: Option<String>,
}

/// `shunt-bench compare`: measures, prints the table, writes the JSON and the
/// plots; an error if any figure failed (after everything was written).
pub fn run(args: &CompareArgs) -> Result<()> {
    let real = match (&args.iface, &args.peer) {
        (Some(iface), Some(peer)) => Some(RealHosts::new(iface, peer, args.addr.as_deref())?),
        (None, None) => None,
        _ => {
            return Err(BenchError(
                "--iface and --peer go together (real-host mode: `shunt-bench serve --iface \
                 IFACE` on the peer first)"
                    .into(),
            ));
        }
    };
    args.opts.check()?;
    let mut opts = args.opts.clone();
    if real.is_some() {
        if opts.workloads.contains(&Workload::Loss) {
            eprintln!(
                "shunt-bench: the loss workload is left out between real hosts (its drops are \
                 made at the far host's receiver)"
            );
        }
        opts.workloads = crate::remote::workloads(&opts.workloads)?;
    }
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir)
            .map_err(|e| BenchError(format!("creating {}: {e}", dir.display())))?;
    }
    // A JSON file that cannot be written is said before a minute of figures.
    if let Some(path) = &args.json {
        std::fs::File::create(path)
            .map_err(|e| BenchError(format!("writing {}: {e}", path.display())))?;
    }
    let report = match &real {
        Some(hosts) => measure_real(&opts, hosts)?,
        None => measure(&opts)?,
    };
    print!("{}", table(&opts, &report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&to_json(&opts, &report))
            .map_err(|e| BenchError(format!("JSON: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| BenchError(format!("writing {}: {e}", path.display())))?;
        println!("figures written to {}", path.display());
    }
    if let Some(dir) = &args.plot {
        let files = write_plots(dir, &report)?;
        println!("plots written to {}: {}", dir.display(), files.join(", "));
    }
    if report.all_ok() {
        Ok(())
    } else {
        let failed: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.result.is_err())
            .map(|r| format!("{} {}", r.workload.name(), r.label))
            .collect();
        Err(BenchError(format!("figures failed: {}", failed.join("; "))))
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k/s", v / 1e3)
    } else {
        format!("{v:.0}/s")
    }
}

fn fmt_cycles(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1e4 => format!("{:.1}k", v / 1e3),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{v:.2}x"))
}

fn heading(opts: &CompareOpts, w: Workload) -> String {
    match w {
        Workload::Bulk => format!(
            "bulk: {} connection(s), one direction (Gbit/s; cycles per byte)",
            opts.flows
        ),
        Workload::Rr => format!(
            "request/response: {} connection(s), {} request(s) in flight on each, {} B each way (round trips/s; cycles per round trip)",
            opts.rr_conns, opts.rr_depth, opts.rr_size
        ),
        Workload::Connrate => format!(
            "connection rate: connect, {} B each way, close, one at a time (connections/s; cycles per connection)",
            opts.conn_size
        ),
        Workload::Loss => format!(
            "bulk, {} connection(s), {}% of data frames dropped at the receiver (Gbit/s; cycles per byte)",
            opts.flows, opts.loss_percent
        ),
    }
}

/// The comparison table.
pub fn table(opts: &CompareOpts, r: &Report) -> String {
    let m = &r.machine;
    let hz = m.hz();
    let mut out = format!(
        "machine: {}, {} {} (clock {} MHz, the cycle estimates' basis), Linux {}\n\
         link: {} ({} driver), MTU {}, {} queue(s), XDP {} mode, AF_XDP {} mode\n\
         {}: {} s per figure after {} ms warm-up; {}; Shunt shards busy-poll\n",
        m.cpu,
        m.cores,
        if m.cores == 1 { "core" } else { "cores" },
        fmt_opt(m.cpu_hz.map(|h| h / 1e6), 0),
        m.kernel,
        m.nic,
        m.driver,
        m.mtu,
        m.queues,
        m.xdp_mode,
        m.xsk_mode,
        m.topology,
        opts.window.as_secs_f64(),
        opts.warmup.as_millis(),
        if m.topology == "real hosts" {
            "servers on the peer (shunt-bench serve), clients here"
        } else {
            "server on core 0, client on core 1"
        },
    );
    let header = format!(
        "  {:<38} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} | {:>6} {:>6} {:>6}\n",
        "",
        "throughput",
        "p50 us",
        "p90 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "cycles",
        "retrans",
        "x thr",
        "x p99",
        "x cyc"
    );
    for w in Workload::ALL {
        let rows: Vec<&Row> = r.rows.iter().filter(|row| row.workload == w).collect();
        if rows.is_empty() {
            continue;
        }
        out.push('\n');
        out.push_str(&heading(opts, w));
        out.push('\n');
        out.push_str(&header);
        let base = r.baseline(w);
        for row in rows {
            let f = match &row.result {
                Ok(f) => f,
                Err(e) => {
                    out.push_str(&format!("  {:<38} failed: {e}\n", row.label));
                    continue;
                }
            };
            let thr = if f.per_sec.is_some() {
                fmt_rate(f.throughput())
            } else {
                format!("{:.2} Gb/s", f.gbps)
            };
            let (x_thr, x_p99, x_cyc) = match base {
                Some(b) if !row.baseline => (
                    fmt_ratio(Some(ratio(f.throughput(), b.throughput()))),
                    fmt_ratio(f.us(0.99).zip(b.us(0.99)).map(|(a, b)| ratio(a, b))),
                    fmt_ratio(f.cycles(hz).zip(b.cycles(hz)).map(|(a, b)| ratio(a, b))),
                ),
                Some(_) => ("base".into(), "base".into(), "base".into()),
                None => ("-".into(), "-".into(), "-".into()),
            };
            out.push_str(&format!(
                "  {:<38} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} | {:>6} {:>6} {:>6}\n",
                row.label,
                thr,
                fmt_opt(f.us(0.5), 1),
                fmt_opt(f.us(0.9), 1),
                fmt_opt(f.us(0.99), 1),
                fmt_opt(f.us(0.999), 1),
                fmt_opt(f.max_us(), 1),
                fmt_cycles(f.cycles(hz)),
                f.retransmits,
                x_thr,
                x_p99,
                x_cyc
            ));
            if let Some(note) = &f.note {
                out.push_str(&format!("  {:<38} note: {note}\n", ""));
            }
            if let Some((dropped, of)) = f.dropped {
                out.push_str(&format!(
                    "  {:<38} dropped {dropped} of {of} data frames ({:.2}%)\n",
                    "",
                    100.0 * ratio(dropped as f64, of as f64)
                ));
            }
        }
    }
    out.push_str(
        "\nx thr, x p99, x cyc: the figure over its workload's baseline (\"base\"): kernel with GSO/TSO \
         for bulk, kernel busy-polled for request/response, kernel for connections, kernel with TSO/GSO \
         off for loss.\n\
         cycles: both ends' thread CPU time (user + system, softirq work on their cores included) over \
         the whole run x the clock rate above, per byte or per request: an estimate. Busy-polling ends \
         spend their whole core. retrans: segments the sender or client retransmitted (kernel: its \
         namespace's RetransSegs; Shunt: its connections' counters).\n",
    );
    out
}

fn quantiles(h: &Histogram<u64>) -> Value {
    json!({
        "p50_us": h.value_at_quantile(0.5) as f64 / 1e3,
        "p90_us": h.value_at_quantile(0.9) as f64 / 1e3,
        "p99_us": h.value_at_quantile(0.99) as f64 / 1e3,
        "p999_us": h.value_at_quantile(0.999) as f64 / 1e3,
        "max_us": h.max() as f64 / 1e3,
        "mean_us": h.mean() / 1e3,
        "count": h.len(),
    })
}

fn figure_json(f: &Figure, base: Option<&Figure>, hz: f64) -> Value {
    let w = &f.work;
    let ratios = base.map(|b| {
        json!({
            "throughput": ratio(f.throughput(), b.throughput()),
            "p99": f.us(0.99).zip(b.us(0.99)).map(|(a, b)| ratio(a, b)),
            "cycles": f.cycles(hz).zip(b.cycles(hz)).map(|(a, b)| ratio(a, b)),
        })
    });
    json!({
        "gbps": f.gbps,
        "per_sec": f.per_sec,
        "latency": f.latency.as_ref().map(quantiles),
        "cpu": {
            "client_s": w.client_cpu.as_secs_f64(),
            "server_s": w.server_cpu.as_secs_f64(),
            "wall_s": w.wall.as_secs_f64(),
            "client_utilization": w.utilization(w.client_cpu),
            "server_utilization": w.utilization(w.server_cpu),
            "requests": w.requests,
            "bytes": w.bytes,
            "cycles_per_request": w.cycles_per_request(hz),
            "cycles_per_byte": w.cycles_per_byte(hz),
        },
        "retransmits": f.retransmits,
        "sent_bytes": f.sent_bytes,
        "received_bytes": f.received_bytes,
        "dropped": f.dropped.map(|(d, of)| json!({"frames": d, "of": of})),
        "cc": f.cc,
        "note": f.note,
        "vs_baseline": ratios,
    })
}

/// Every figure, the options and the machine, as JSON.
pub fn to_json(opts: &CompareOpts, r: &Report) -> Value {
    let m = &r.machine;
    let hz = m.hz();
    let rows: Vec<Value> = r
        .rows
        .iter()
        .map(|row| {
            let base = r.baseline(row.workload).filter(|_| !row.baseline);
            let mut v = json!({
                "workload": row.workload.name(),
                "stack": row.stack,
                "label": row.label,
                "baseline": row.baseline,
            });
            match &row.result {
                Ok(f) => v["figure"] = figure_json(f, base, hz),
                Err(e) => v["error"] = json!(e),
            }
            v
        })
        .collect();
    json!({
        "machine": {
            "topology": m.topology,
            "cpu": m.cpu,
            "cores": m.cores,
            "cpu_mhz": m.cpu_hz.map(|h| h / 1e6),
            "cycles_are_estimates": true,
            "kernel": m.kernel,
            "nic": m.nic,
            "driver": m.driver,
            "mtu": m.mtu,
            "queues": m.queues,
            "xdp_mode": m.xdp_mode,
            "xsk_mode": m.xsk_mode,
        },
        "options": {
            "workloads": opts.workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
            "warmup_s": opts.warmup.as_secs_f64(),
            "window_s": opts.window.as_secs_f64(),
            "flows": opts.flows,
            "rr_size": opts.rr_size,
            "rr_conns": opts.rr_conns,
            "rr_depth": opts.rr_depth,
            "conn_size": opts.conn_size,
            "max_connections": opts.max_connections,
            "loss_percent": opts.loss_percent,
            "cc": opts.cc.name(),
            "shard_idle_turns": opts.shard.idle_turns,
        },
        "rows": rows,
    })
}

/// A latency CDF's points: (microseconds, fraction at or below).
fn cdf(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = h
        .iter_recorded()
        .map(|v| (v.value_iterated_to() as f64 / 1e3, v.quantile_iterated_to()))
        .collect();
    // At most about 500 points a line.
    let step = pts.len().div_ceil(500).max(1);
    if step > 1 {
        let last = pts.last().copied();
        pts = pts.into_iter().step_by(step).collect();
        pts.extend(last);
    }
    pts
}

/// Writes the plots of the report into `dir`; returns the file names.
pub fn write_plots(dir: &Path, r: &Report) -> Result<Vec<String>> {
    let mut files = Vec::new();
    let mut write = |name: String, charts: &[Chart]| -> Result<()> {
        write_svg(&dir.join(&name), charts)?;
        files.push(name);
        Ok(())
    };
    // The measured window of a workload's first flow (the others' differ by
    // milliseconds).
    let marks = |w: Workload| -> Vec<(f64, String)> {
        r.rows
            .iter()
            .filter(|row| row.workload == w)
            .find_map(|row| row.figure()?.timeline.as_ref())
            .map(|tl| {
                vec![
                    (tl.window.0, "window starts".to_string()),
                    (tl.window.1, "window ends".to_string()),
                ]
            })
            .unwrap_or_default()
    };
    for w in [Workload::Bulk, Workload::Loss] {
        let series: Vec<Series> = r
            .rows
            .iter()
            .filter(|row| row.workload == w)
            .filter_map(|row| {
                let tl = row.figure()?.timeline.as_ref()?;
                Some(Series {
                    name: row.label.clone(),
                    points: tl.gbps(),
                })
            })
            .collect();
        if !series.is_empty() {
            write(
                format!("{}_throughput.svg", w.name()),
                &[Chart {
                    title: format!("{}: goodput at the receiver over time", w.name()),
                    x_label: "seconds since the flow started".into(),
                    y_label: "Gbit/s".into(),
                    log_x: false,
                    series,
                    marks: marks(w),
                }],
            )?;
        }
    }
    for w in [Workload::Rr, Workload::Connrate] {
        let series: Vec<Series> = r
            .rows
            .iter()
            .filter(|row| row.workload == w)
            .filter_map(|row| {
                Some(Series {
                    name: row.label.clone(),
                    points: cdf(row.figure()?.latency.as_ref()?),
                })
            })
            .collect();
        if !series.is_empty() {
            write(
                format!("{}_latency_cdf.svg", w.name()),
                &[Chart {
                    title: format!("{}: latency CDF", w.name()),
                    x_label: "microseconds (log scale)".into(),
                    y_label: "fraction at or below".into(),
                    log_x: true,
                    series,
                    marks: Vec::new(),
                }],
            )?;
        }
    }
    for row in &r.rows {
        let Some(tl) = row.figure().and_then(|f| f.timeline.as_ref()) else {
            continue;
        };
        if !tl.has_conn() {
            continue;
        }
        let conn = |f: &dyn Fn(&crate::timeline::ConnSample) -> Option<f64>| {
            tl.samples
                .iter()
                .filter_map(|s| Some((s.t, f(s.conn.as_ref()?)?)))
                .collect::<Vec<_>>()
        };
        let panel = |title: &str, y: &str, name: &str, points| Chart {
            title: format!("{}: {title}", row.label),
            x_label: "seconds since the flow started".into(),
            y_label: y.into(),
            log_x: false,
            series: vec![Series {
                name: name.into(),
                points,
            }],
            marks: vec![
                (tl.window.0, "window starts".to_string()),
                (tl.window.1, "window ends".to_string()),
            ],
        };
        write(
            format!("{}_{}_conn.svg", row.workload.name(), row.stack),
            &[
                panel(
                    "congestion window",
                    "KiB",
                    "cwnd",
                    conn(&|c| Some(c.cwnd_bytes as f64 / 1024.0)),
                ),
                panel(
                    "pacing rate",
                    "Gbit/s",
                    "pacing rate",
                    conn(&|c| c.pacing_rate.map(|r| r as f64 * 8.0 / 1e9)),
                ),
                panel(
                    "smoothed RTT",
                    "microseconds",
                    "srtt",
                    conn(&|c| c.srtt.map(|d| d.as_secs_f64() * 1e6)),
                ),
            ],
        )?;
    }
    Ok(files)
}
