//! `shunt-bench cc`: Shunt's congestion controllers and pacing on a
//! self-made veth pair (MTU 1500), and Shunt against the kernel under loss.
//!
//! - Shunt -> Shunt bulk (one connection, busy-polled, as `bulk` runs it)
//!   for every controller with pacing on and off, no loss: goodput, the
//!   sender connection's loss-recovery counters over the window, and the
//!   ratio to the raw AF_XDP ceiling (`bulk`'s: 1514-byte frames x MSS);
//! - with loss: kernel CUBIC, kernel BBR, Shunt CUBIC and Shunt BBR (pacing
//!   on), each dropping the same fraction of data frames, and the two ratios
//!   the BBR work aims at: Shunt BBR / kernel CUBIC >= 2 and Shunt BBR /
//!   kernel BBR >= 1.
//!
//! Where the loss is made differs because the two stacks' frames take
//! different paths. AF_XDP copy-mode TX bypasses the qdisc and tc egress, and
//! XDP redirects to Shunt's socket before tc ingress runs, so no tc program
//! sees Shunt's frames: Shunt's receiver has its steering program drop data
//! frames to the owned port. The kernel's frames do pass tc: a tc program on
//! the kernel receiver's veth ingress drops frames of the data port. Both are
//! armed once the connection is up (the handshake is spared) and cover the
//! data direction only (the receivers' ACKs pass). The kernel sender's veth
//! has TSO/GSO off, so MTU frames cross the veth as with Shunt. The drop is
//! not at the sender's tc egress: TCP hands the device GSO super-packets
//! whatever its offloads, cut into MTU frames only after tc egress, so a drop
//! there would take a burst of up to 64 KB (`bulk::kernel_bulk`).

use serde_json::{Value, json};
use std::time::Duration;

use datapath::cc::Algorithm;
use datapath::shard::ShardConfig;

use crate::bulk::{
    self, BulkOpts, KernelFlow, KernelRun, MSS, ShuntFlow, ShuntRun, ceiling_gbps, kernel_cc_name,
};
use crate::ratio;
use crate::{BenchError, Result};

/// What to run.
#[derive(Debug, Clone)]
pub struct CcOpts {
    pub bulk: BulkOpts,
    /// Shunt controllers of the no-loss table, each with every `pacing`.
    pub controllers: Vec<Algorithm>,
    pub pacing: Vec<bool>,
    /// Loss on the data direction for the comparison with the kernel, in
    /// percent; 0 skips the comparison.
    pub loss_percent: f64,
}

/// One Shunt figure without loss.
#[derive(Debug, Clone)]
pub struct CcRow {
    pub cc: Algorithm,
    pub pacing: bool,
    pub run: ShuntRun,
}

/// The four flows under loss.
#[derive(Debug, Clone)]
pub struct LossReport {
    pub ppm: u32,
    pub kernel_cubic: KernelRun,
    pub kernel_bbr: KernelRun,
    pub shunt_cubic: ShuntRun,
    pub shunt_bbr: ShuntRun,
}

impl LossReport {
    /// Shunt BBR / kernel CUBIC (the goal is at least 2).
    pub fn bbr_over_kernel_cubic(&self) -> f64 {
        ratio(self.shunt_bbr.gbps, self.kernel_cubic.gbps)
    }
    /// Shunt BBR / kernel BBR (the goal is at least 1).
    pub fn bbr_over_kernel_bbr(&self) -> f64 {
        ratio(self.shunt_bbr.gbps, self.kernel_bbr.gbps)
    }
}

#[derive(Debug, Clone)]
pub struct CcReport {
    pub raw_pps: f64,
    pub rows: Vec<CcRow>,
    pub loss: Option<LossReport>,
}

pub fn run(seconds: u64, loss_percent: f64, json: Option<&std::path::Path>) -> Result<()> {
    let opts = CcOpts {
        bulk: BulkOpts {
            flows: 1,
            warmup: crate::raw::WARMUP,
            window: Duration::from_secs(seconds.max(1)),
            shard: ShardConfig::default(),
        },
        controllers: Algorithm::ALL.to_vec(),
        pacing: vec![true, false],
        loss_percent,
    };
    let machine = crate::raw::machine();
    println!("{machine}");
    let r = measure_all(&opts)?;
    print_report(&opts, &r);
    if let Some(path) = json {
        std::fs::write(path, to_json(&machine, &opts, &r))
            .map_err(|e| BenchError(format!("writing {}: {e}", path.display())))?;
        println!("figures written to {}", path.display());
    }
    Ok(())
}

/// Runs every figure, each flow on test hosts of its own.
pub fn measure_all(opts: &CcOpts) -> Result<CcReport> {
    if !(0.0..=50.0).contains(&opts.loss_percent) {
        return Err(BenchError(format!(
            "loss {}% is outside 0..=50",
            opts.loss_percent
        )));
    }
    let raw_pps = bulk::raw_ceiling_pps(&opts.bulk)?;
    let mut rows = Vec::new();
    for &cc in &opts.controllers {
        for &pacing in &opts.pacing {
            let flow = ShuntFlow {
                cc,
                pacing,
                ..ShuntFlow::default()
            };
            rows.push(CcRow {
                cc,
                pacing,
                run: shunt(&opts.bulk, flow)?,
            });
        }
    }
    let ppm = xdp_prog::Faults::ppm_from_percent(opts.loss_percent);
    let loss = if ppm == 0 {
        None
    } else {
        let kernel = |cc| {
            let flow = KernelFlow {
                cc: Some(cc),
                offloads: false,
                loss_ppm: ppm,
            };
            bulk::kernel_bulk(&opts.bulk, flow)
                .map_err(|e| BenchError(format!("kernel {} with loss: {e}", kernel_cc_name(cc))))
        };
        let shunt_lossy = |cc| {
            let flow = ShuntFlow {
                cc,
                pacing: true,
                loss_ppm: ppm,
                ..ShuntFlow::default()
            };
            shunt(&opts.bulk, flow)
        };
        Some(LossReport {
            ppm,
            kernel_cubic: kernel(Algorithm::Cubic)?,
            kernel_bbr: kernel(Algorithm::Bbr)?,
            shunt_cubic: shunt_lossy(Algorithm::Cubic)?,
            shunt_bbr: shunt_lossy(Algorithm::Bbr)?,
        })
    };
    Ok(CcReport {
        raw_pps,
        rows,
        loss,
    })
}

fn shunt(opts: &BulkOpts, flow: ShuntFlow) -> Result<ShuntRun> {
    bulk::shunt_bulk(opts, flow).map_err(|e| {
        BenchError(format!(
            "Shunt {}, pacing {}, {} ppm loss: {e}",
            flow.cc,
            on_off(flow.pacing),
            flow.loss_ppm
        ))
    })
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Dropped frames of those the injector could drop, percent.
fn shunt_drop_percent(r: &ShuntRun) -> f64 {
    let s = &r.steering;
    100.0
        * ratio(
            s.fault_dropped as f64,
            (s.redirected + s.fault_dropped) as f64,
        )
}

fn kernel_drop_percent(r: &KernelRun) -> f64 {
    r.faults
        .map_or(0.0, |f| 100.0 * ratio(f.dropped as f64, f.matched as f64))
}

fn print_report(opts: &CcOpts, r: &CcReport) {
    let b = &opts.bulk;
    println!(
        "veth pair, MTU 1500, one connection, one direction, {} s per figure after {} ms warm-up; Shunt: receiver in host A on core 0, sender in host B on core 1, busy-polled",
        b.window.as_secs_f64(),
        b.warmup.as_millis()
    );
    println!(
        "Shunt controllers in this build: {} (\"ran\": the controller the sender connection named)",
        Algorithm::ALL.map(|a| a.name()).join(", ")
    );
    println!(
        "Sender counters over the window: retransmitted segments, RTOs, tail loss probes, bytes RACK declared lost, pacer holds"
    );
    println!();
    let ceiling = ceiling_gbps(r.raw_pps);
    println!(
        "{:<40} | {:>7} | {:>7} | {:>7} {:>5} {:>6} {:>10} {:>9} | {:<8}",
        "Shunt -> Shunt, no loss",
        "Gbit/s",
        "/ raw",
        "retrans",
        "RTOs",
        "TLPs",
        "RACK lost",
        "pace hold",
        "ran"
    );
    for row in &r.rows {
        let run = &row.run;
        println!(
            "{:<40} | {:>7.2} | {:>6.2}x | {:>7} {:>5} {:>6} {:>10} {:>9} | {:<8}",
            format!("{}, pacing {}", row.cc, on_off(row.pacing)),
            run.gbps,
            ratio(run.gbps, ceiling),
            run.conn_delta(|c| c.retransmits),
            run.conn_delta(|c| c.rtos),
            run.conn_delta(|c| c.tlp_probes),
            run.conn_delta(|c| c.rack_lost_bytes),
            run.conn_delta(|c| c.pacing_holds),
            run.cc_ran()
        );
    }
    println!(
        "{:<40} | {:>7.2} |",
        format!("raw AF_XDP ceiling, {:.3} Mpps x {MSS} B", r.raw_pps / 1e6),
        ceiling
    );
    let mut noted = Vec::new();
    for row in &r.rows {
        let ran = row.run.cc_ran();
        if ran != row.cc.name() && !noted.contains(&row.cc) {
            noted.push(row.cc);
            println!("note: {} ran the {ran} controller in this build", row.cc);
        }
    }
    let Some(l) = &r.loss else {
        return;
    };
    println!();
    println!(
        "{}% loss on the data direction: kernel by a tc BPF drop on the receiver's veth ingress (data port; TSO/GSO off on the sender's veth, so MTU frames, each dropped alone), Shunt by the receiver's XDP steering program (data frames to its port)",
        opts.loss_percent
    );
    println!();
    println!(
        "{:<40} | {:>7} | {:>8} | {:>9} {:>7} {:>5} {:>6} | {:<8}",
        "with loss", "Gbit/s", "dropped", "segs out", "retrans", "RTOs", "TLPs", "ran"
    );
    let kernel_row = |name: &str, k: &KernelRun| {
        println!(
            "{:<40} | {:>7.2} | {:>7.2}% | {:>9} {:>7} {:>5} {:>6} | {:<8}",
            name,
            k.gbps,
            kernel_drop_percent(k),
            k.tcp.out_segs,
            k.tcp.retrans_segs,
            k.tcp.timeouts,
            k.tcp.loss_probes,
            k.cc
        );
    };
    let shunt_row = |name: &str, s: &ShuntRun| {
        println!(
            "{:<40} | {:>7.2} | {:>7.2}% | {:>9} {:>7} {:>5} {:>6} | {:<8}",
            name,
            s.gbps,
            shunt_drop_percent(s),
            s.conn_delta(|c| c.segs_out),
            s.conn_delta(|c| c.retransmits),
            s.conn_delta(|c| c.rtos),
            s.conn_delta(|c| c.tlp_probes),
            s.cc_ran()
        );
    };
    kernel_row("kernel CUBIC, TSO/GSO off", &l.kernel_cubic);
    kernel_row("kernel BBR, TSO/GSO off", &l.kernel_bbr);
    shunt_row("Shunt CUBIC, pacing on", &l.shunt_cubic);
    shunt_row("Shunt BBR, pacing on", &l.shunt_bbr);
    println!(
        "(kernel counters: the sender namespace over the whole flow, warm-up included; Shunt's: the window)"
    );
    println!();
    let goal = |v: f64, g: f64| if v >= g { "met" } else { "missed" };
    println!(
        "Shunt BBR / kernel CUBIC: {:.2}x (goal >= 2x: {});  Shunt BBR / kernel BBR: {:.2}x (goal >= 1x: {})",
        l.bbr_over_kernel_cubic(),
        goal(l.bbr_over_kernel_cubic(), 2.0),
        l.bbr_over_kernel_bbr(),
        goal(l.bbr_over_kernel_bbr(), 1.0)
    );
}

/// A number for JSON: non-finite values (a ratio over zero) become null.
fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn shunt_json(cc: Algorithm, pacing: bool, s: &ShuntRun, ceiling: f64) -> Value {
    let secs = s.secs.max(1e-9);
    json!({
        "stack": "shunt",
        "cc": cc.name(),
        "cc_ran": s.cc_ran(),
        "pacing": pacing,
        "gbps": num(s.gbps),
        "sent_gbps": num(s.sent_gbps),
        "ratio_to_raw_ceiling": num(ratio(s.gbps, ceiling)),
        "window_s": num(s.secs),
        "sender_tx_mpps": num(s.client.tx_frames as f64 / secs / 1e6),
        "receiver_rx_mpps": num(s.server.rx_frames as f64 / secs / 1e6),
        "segs_out": s.conn_delta(|c| c.segs_out),
        "retransmits": s.conn_delta(|c| c.retransmits),
        "fast_retransmits": s.conn_delta(|c| c.fast_retransmits),
        "rtos": s.conn_delta(|c| c.rtos),
        "tlp_probes": s.conn_delta(|c| c.tlp_probes),
        "tlp_recoveries": s.conn_delta(|c| c.tlp_recoveries),
        "rack_lost_bytes": s.conn_delta(|c| c.rack_lost_bytes),
        "pacing_holds": s.conn_delta(|c| c.pacing_holds),
        "dup_acks": s.conn_delta(|c| c.dup_acks),
        "sent_table_full": s.conn_delta(|c| c.sent_table_full),
        "fault_dropped": s.steering.fault_dropped,
        "redirected": s.steering.redirected,
        "dropped_percent": num(shunt_drop_percent(s)),
        "cwnd_end": s.info.map(|i| i.cwnd),
        "srtt_us_end": s.info.and_then(|i| i.srtt).map(|d| d.as_micros()),
        "pacing_rate_end": s.info.and_then(|i| i.pacing_rate),
    })
}

fn kernel_json(k: &KernelRun) -> Value {
    let f = k.faults.unwrap_or_default();
    json!({
        "stack": "kernel",
        "cc": k.cc,
        "tso_gso": false,
        "gbps": num(k.gbps),
        "out_segs": k.tcp.out_segs,
        "retrans_segs": k.tcp.retrans_segs,
        "rtos": k.tcp.timeouts,
        "tlp_probes": k.tcp.loss_probes,
        "fault_matched": f.matched,
        "fault_dropped": f.dropped,
        "dropped_percent": num(kernel_drop_percent(k)),
    })
}

fn to_json(machine: &str, opts: &CcOpts, r: &CcReport) -> String {
    let ceiling = ceiling_gbps(r.raw_pps);
    let rows: Vec<Value> = r
        .rows
        .iter()
        .map(|row| shunt_json(row.cc, row.pacing, &row.run, ceiling))
        .collect();
    let mut out = json!({
        "machine": machine.trim_start_matches("machine: "),
        "window_s": num(opts.bulk.window.as_secs_f64()),
        "warmup_s": num(opts.bulk.warmup.as_secs_f64()),
        "loss_percent": num(opts.loss_percent),
        "raw_ceiling": {
            "mpps": num(r.raw_pps / 1e6),
            "mss": num(MSS),
            "gbps": num(ceiling),
        },
        "no_loss": rows,
    });
    if let Some(l) = &r.loss {
        out["loss"] = json!({
            "ppm": l.ppm,
            "kernel_method": "tc BPF drop on the receiver's veth ingress, data port only; TSO/GSO off on the sender's veth (MTU frames)",
            "shunt_method": "XDP steering program drop on the receiver, data frames to the owned port",
            "kernel_cubic": kernel_json(&l.kernel_cubic),
            "kernel_bbr": kernel_json(&l.kernel_bbr),
            "shunt_cubic": shunt_json(Algorithm::Cubic, true, &l.shunt_cubic, ceiling),
            "shunt_bbr": shunt_json(Algorithm::Bbr, true, &l.shunt_bbr, ceiling),
            "shunt_bbr_over_kernel_cubic": num(l.bbr_over_kernel_cubic()),
            "shunt_bbr_over_kernel_bbr": num(l.bbr_over_kernel_bbr()),
        });
    }
    out.to_string() + "\n"
}
