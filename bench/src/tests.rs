//! Quick runs of `rr`, `bulk` and `cc` (about a second per figure, shards
//! blocking when idle) that check the numbers are sane, so a broken bench
//! shows in CI.
//! They need root (network namespaces), like the interop tests.

use std::time::Duration;

use datapath::cc::Algorithm;
use datapath::io::xdp::TxChecksumOffload;
use datapath::shard::ShardConfig;

use crate::bulk::{self, BulkOpts};
use crate::cc::{self, CcOpts};
use crate::rr::{self, RrFigure, RrOpts};

fn sane(name: &str, f: &RrFigure) {
    assert!(
        f.round_trips > 0 && f.rate() > 0.0,
        "{name}: no round trips"
    );
    let (p50, p99, max) = (f.us(0.5), f.us(0.99), f.max_us());
    assert!(
        p50 > 0.0 && p50 <= p99 && p99 <= max,
        "{name}: p50 {p50} p99 {p99} max {max}"
    );
    assert!(
        f.us(0.9) <= f.us(0.999) && f.us(0.999) <= max,
        "{name}: percentiles out of order"
    );
}

#[test]
fn quick_rr_gives_round_trips_and_ordered_percentiles() {
    let opts = RrOpts {
        size: 64,
        warmup: Duration::from_millis(50),
        window: Duration::from_millis(200),
        shard: ShardConfig::blocking(),
    };
    let r = rr::measure_all(&opts).expect("rr");
    sane("kernel blocking", &r.kernel_blocking);
    sane("kernel busy", &r.kernel_busy);
    sane("Shunt", &r.shunt);
    sane("kernel client, Shunt server", &r.kernel_to_shunt);
    sane("raw", &r.raw);
    assert!(r.shunt_detail.total >= r.shunt.round_trips);
    assert!(r.shunt_detail.client.tx_frames >= r.shunt_detail.total);
}

#[test]
fn quick_bulk_moves_bytes() {
    let opts = BulkOpts {
        warmup: Duration::from_millis(100),
        window: Duration::from_millis(300),
        shard: ShardConfig::blocking(),
    };
    // With the kernel finishing Shunt's checksums: the flag reaches the
    // sockets and the flow still moves.
    let r = bulk::measure_all(&opts, TxChecksumOffload::KernelSoftware).expect("bulk");
    assert!(r.shunt.tx_checksum.contains("kernel"), "{r:?}");
    assert!(r.kernel_gbps > 0.0, "{r:?}");
    assert!(r.shunt.gbps > 0.0, "{r:?}");
    assert!(r.raw_pps > 0.0 && r.ceiling_gbps() > 0.0, "{r:?}");
    assert!(r.shunt.client.tx_frames > 0 && r.shunt.server.rx_frames > 0);
}

#[test]
fn quick_cc_moves_bytes_with_every_controller_and_under_loss() {
    let opts = CcOpts {
        bulk: BulkOpts {
            warmup: Duration::from_millis(100),
            // Long enough that one 200 ms RTO at 1% loss (a lost handshake
            // segment or retransmission) cannot empty the window.
            window: Duration::from_millis(1000),
            shard: ShardConfig::blocking(),
        },
        controllers: Algorithm::ALL.to_vec(),
        pacing: vec![true],
        loss_percent: 1.0,
    };
    let r = cc::measure_all(&opts).expect("cc");
    assert!(r.raw_pps > 0.0, "{r:?}");
    assert_eq!(r.rows.len(), Algorithm::ALL.len());
    for row in &r.rows {
        assert!(row.run.gbps > 0.0, "{} moved nothing: {row:?}", row.cc);
        assert!(row.run.conn_end.is_some() && row.run.info.is_some());
        assert_eq!(row.run.steering.fault_dropped, 0, "no loss asked for");
    }
    let l = r.loss.expect("loss figures");
    assert_eq!(l.ppm, 10_000);
    assert_eq!(
        (l.kernel_cubic.cc.as_str(), l.kernel_bbr.cc.as_str()),
        ("cubic", "bbr")
    );
    for (name, k) in [
        ("kernel cubic", &l.kernel_cubic),
        ("kernel bbr", &l.kernel_bbr),
    ] {
        assert!(k.gbps > 0.0, "{name}: {k:?}");
        let f = k.faults.expect("fault counters");
        assert!(f.dropped > 0 && f.dropped < f.matched, "{name}: {f:?}");
    }
    for (name, s) in [("Shunt cubic", &l.shunt_cubic), ("Shunt bbr", &l.shunt_bbr)] {
        assert!(s.gbps > 0.0, "{name}: {s:?}");
        assert!(s.steering.fault_dropped > 0, "{name}: no drop: {s:?}");
        assert!(s.conn_delta(|c| c.retransmits) > 0, "{name}: no retransmit");
    }
    assert!(l.bbr_over_kernel_cubic().is_finite() && l.bbr_over_kernel_bbr().is_finite());
}
