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
        conns: 1,
        depth: 1,
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
fn quick_rr_with_several_connections_and_requests_in_flight() {
    let opts = RrOpts {
        size: 100,
        conns: 3,
        depth: 4,
        warmup: Duration::from_millis(50),
        window: Duration::from_millis(300),
        shard: ShardConfig::blocking(),
    };
    let figures = [
        ("kernel blocking", rr::kernel_figure(&opts, false)),
        ("kernel busy", rr::kernel_figure(&opts, true)),
        ("Shunt", rr::shunt_figure(&opts)),
        (
            "kernel client, Shunt server",
            rr::kernel_to_shunt_figure(&opts),
        ),
    ];
    for (name, f) in figures {
        let f = f.unwrap_or_else(|e| panic!("{name}: {e}"));
        sane(name, &f);
        assert!(
            f.client_bytes > 0 && f.client_bytes == f.server_bytes,
            "{name}: client {} bytes, server echoed {}",
            f.client_bytes,
            f.server_bytes
        );
        assert_eq!(f.client_bytes, f.work.requests * 100, "{name}");
    }
}

#[test]
fn quick_bulk_over_several_connections_delivers_what_was_sent() {
    let opts = BulkOpts {
        flows: 3,
        warmup: Duration::from_millis(100),
        window: Duration::from_millis(300),
        shard: ShardConfig::blocking(),
    };
    let kernel = bulk::kernel_bulk(&opts, bulk::KernelFlow::default()).expect("kernel");
    let shunt = bulk::shunt_bulk(&opts, bulk::ShuntFlow::default()).expect("Shunt");
    let to_shunt =
        bulk::kernel_to_shunt_bulk(&opts, bulk::KernelFlow::default()).expect("kernel to Shunt");
    for (name, gbps, sent, received) in [
        (
            "kernel",
            kernel.gbps,
            kernel.sent_bytes,
            kernel.received_bytes,
        ),
        ("Shunt", shunt.gbps, shunt.sent_bytes, shunt.received_bytes),
        (
            "kernel to Shunt",
            to_shunt.gbps,
            to_shunt.sent_bytes,
            to_shunt.received_bytes,
        ),
    ] {
        assert!(gbps > 0.0, "{name}: no goodput");
        assert!(
            sent > 0 && sent == received,
            "{name}: sent {sent} received {received}"
        );
    }
    assert!(shunt.timeline.has_conn() && !to_shunt.timeline.has_conn());
}

#[test]
fn quick_bulk_moves_bytes() {
    let opts = BulkOpts {
        flows: 1,
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
            flows: 1,
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

/// Options of a quick `compare`: every workload, a second per figure,
/// shards blocking when idle.
fn quick_compare_opts() -> crate::compare::CompareOpts {
    use crate::compare::{CompareOpts, Workload};
    CompareOpts {
        workloads: Workload::ALL.to_vec(),
        warmup: Duration::from_millis(100),
        // One 200 ms RTO under 1% loss cannot empty a window this long.
        window: Duration::from_millis(1000),
        flows: 1,
        rr_size: 64,
        rr_conns: 1,
        rr_depth: 1,
        conn_size: 1,
        max_connections: 20_000,
        loss_percent: 1.0,
        cc: Algorithm::Cubic,
        shard: ShardConfig::blocking(),
    }
}

/// Every workload on every stack, about a second each, through the same
/// code `compare` runs: the JSON carries every field, the numbers are sane,
/// both ends saw the same bytes, and the plots are SVG with the series
/// expected.
#[test]
fn quick_compare_runs_every_workload_on_every_stack() {
    use crate::compare::{self, Workload};
    let opts = quick_compare_opts();
    let report = compare::measure(&opts).expect("compare");
    for row in &report.rows {
        assert!(
            row.result.is_ok(),
            "{} {}: {:?}",
            row.workload.name(),
            row.label,
            row.result
        );
    }
    let stacks = |w: Workload| -> Vec<&str> {
        report
            .rows
            .iter()
            .filter(|r| r.workload == w)
            .map(|r| r.stack)
            .collect()
    };
    assert_eq!(
        stacks(Workload::Bulk),
        ["kernel", "kernel_no_gso", "shunt", "kernel_to_shunt"]
    );
    assert_eq!(
        stacks(Workload::Rr),
        ["kernel", "kernel_busy", "shunt", "kernel_to_shunt"]
    );
    assert_eq!(
        stacks(Workload::Connrate),
        ["kernel", "shunt", "kernel_to_shunt"]
    );
    assert_eq!(
        stacks(Workload::Loss),
        ["kernel_no_gso", "shunt", "kernel_to_shunt"]
    );

    // The JSON, as written and read back.
    let text = serde_json::to_string(&compare::to_json(&opts, &report)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON parses");
    let m = &json["machine"];
    for key in ["cpu", "kernel", "nic", "driver", "xdp_mode", "xsk_mode"] {
        assert!(
            m[key].as_str().is_some_and(|s| !s.is_empty()),
            "machine.{key}: {m}"
        );
    }
    for key in ["cores", "mtu", "queues"] {
        assert!(m[key].as_u64().is_some_and(|n| n > 0), "machine.{key}: {m}");
    }
    assert_eq!(m["driver"], "veth");
    assert!(
        ["native", "generic"].contains(&m["xdp_mode"].as_str().unwrap()),
        "{m}"
    );
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), report.rows.len());
    for row in rows {
        let name = format!("{} {}", row["workload"], row["label"]);
        let f = &row["figure"];
        assert!(f.is_object(), "{name}: {row}");
        assert!(
            f["gbps"].as_f64().is_some_and(|g| g > 0.0),
            "{name}: no throughput: {f}"
        );
        let (sent, received) = (
            f["sent_bytes"].as_u64().unwrap(),
            f["received_bytes"].as_u64().unwrap(),
        );
        assert!(
            sent > 0 && sent == received,
            "{name}: sent {sent}, received {received}"
        );
        let cpu = &f["cpu"];
        assert!(cpu["client_s"].as_f64().unwrap() > 0.0, "{name}: {cpu}");
        assert!(cpu["server_s"].as_f64().unwrap() > 0.0, "{name}: {cpu}");
        assert!(f["retransmits"].as_u64().is_some(), "{name}");
        if row["workload"] == "rr" || row["workload"] == "connrate" {
            assert!(f["per_sec"].as_f64().unwrap() > 0.0, "{name}");
            assert!(cpu["cycles_per_request"].as_f64().unwrap() > 0.0, "{name}");
            let l = &f["latency"];
            let q: Vec<f64> = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
                .iter()
                .map(|k| l[k].as_f64().unwrap())
                .collect();
            assert!(
                q[0] > 0.0 && q.windows(2).all(|w| w[0] <= w[1]),
                "{name}: {l}"
            );
        } else {
            assert!(cpu["cycles_per_byte"].as_f64().unwrap() > 0.0, "{name}");
        }
        if row["workload"] == "loss" {
            let d = &f["dropped"];
            assert!(
                d["frames"].as_u64().unwrap() > 0,
                "{name}: nothing dropped: {d}"
            );
        }
        if row["baseline"] == false {
            assert!(
                f["vs_baseline"]["throughput"].as_f64().unwrap() > 0.0,
                "{name}"
            );
        }
    }

    // The table names every figure.
    let table = compare::table(&opts, &report);
    for row in &report.rows {
        assert!(
            table.contains(&row.label),
            "{} missing from\n{table}",
            row.label
        );
    }

    // The plots.
    let dir = std::env::temp_dir().join(format!("shunt-bench-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = compare::write_plots(&dir, &report).expect("plots");
    let series_of = |file: &str| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("series"))
            .map(|n| {
                let points = n
                    .descendants()
                    .find(|p| p.has_tag_name("polyline"))
                    .and_then(|p| p.attribute("points"))
                    .unwrap_or("");
                assert!(!points.is_empty(), "{file}: an empty series");
                n.attribute("data-name").unwrap_or("").to_string()
            })
            .collect()
    };
    let labels = |w: Workload| -> Vec<String> {
        report
            .rows
            .iter()
            .filter(|r| r.workload == w)
            .map(|r| r.label.clone())
            .collect()
    };
    assert_eq!(series_of("bulk_throughput.svg"), labels(Workload::Bulk));
    assert_eq!(series_of("loss_throughput.svg"), labels(Workload::Loss));
    assert_eq!(series_of("rr_latency_cdf.svg"), labels(Workload::Rr));
    assert_eq!(
        series_of("connrate_latency_cdf.svg"),
        labels(Workload::Connrate)
    );
    for file in ["bulk_shunt_conn.svg", "loss_shunt_conn.svg"] {
        assert!(files.iter().any(|f| f == file), "{file} not in {files:?}");
        assert_eq!(series_of(file), ["cwnd", "pacing rate", "srtt"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_refuses_bad_options_with_a_reason() {
    use crate::compare::{CompareOpts, Workload};
    let good = CompareOpts {
        workloads: vec![Workload::Rr],
        warmup: Duration::from_millis(100),
        window: Duration::from_secs(1),
        flows: 1,
        rr_size: 64,
        rr_conns: 1,
        rr_depth: 1,
        conn_size: 1,
        max_connections: 1000,
        loss_percent: 1.0,
        cc: Algorithm::Cubic,
        shard: ShardConfig::blocking(),
    };
    assert!(good.check().is_ok());
    let bad = [
        CompareOpts {
            workloads: vec![],
            ..good.clone()
        },
        CompareOpts {
            window: Duration::ZERO,
            ..good.clone()
        },
        CompareOpts {
            rr_size: 0,
            ..good.clone()
        },
        CompareOpts {
            conn_size: 5000,
            ..good.clone()
        },
        CompareOpts {
            max_connections: 0,
            ..good.clone()
        },
        CompareOpts {
            loss_percent: 0.0,
            ..good.clone()
        },
        CompareOpts {
            loss_percent: f64::NAN,
            ..good.clone()
        },
    ];
    for o in bad {
        let e = o.check().expect_err("refused").to_string();
        assert!(!e.is_empty());
    }
}

/// Real-host mode on test hosts: `serve` in host A, `compare --iface
/// --peer` in host B against it; then `serve` stops and leaves nothing
/// attached.
#[test]
fn real_host_compare_against_serve_on_test_hosts() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::compare::{self, CompareOpts};
    use crate::remote::{self, RealHosts};

    // Two queues: one Shunt shard per queue on the server.
    let hosts = rr::new_hosts(testhosts::Config {
        queues: 2,
        ..testhosts::Config::default()
    })
    .expect("test hosts");
    let (a, b) = (hosts.a().clone(), hosts.b().clone());
    let peer = a.addr().to_string();

    // Nothing serves yet, and a wrong interface: clear errors.
    let e = b
        .run_in(|| RealHosts::new(b.ifname(), &peer, None))
        .unwrap()
        .expect_err("no server");
    assert!(e.to_string().contains("shunt-bench serve"), "{e}");
    let e = b
        .run_in(|| RealHosts::new("nosuchif0", &peer, None))
        .unwrap()
        .expect_err("no interface");
    assert!(e.to_string().contains("nosuchif0"), "{e}");

    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (a, stop) = (a.clone(), stop.clone());
        a.clone().spawn_thread(move || -> crate::Result<()> {
            let iface = remote::Iface::resolve(a.ifname(), None)?;
            assert_eq!(iface.addr, a.addr());
            remote::serve(&iface, &ShardConfig::blocking(), &stop)
        })
    };
    let opts = CompareOpts {
        max_connections: 5_000,
        ..quick_compare_opts()
    };
    let report = b.run_in(|| {
        // The server needs a moment to listen.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let real = loop {
            match RealHosts::new(b.ifname(), &peer, None) {
                Ok(r) => break r,
                Err(e) if std::time::Instant::now() > deadline => panic!("serve: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        compare::measure_real(&opts, &real)
    });
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap().unwrap().expect("serve");
    let report = report.unwrap().expect("compare");

    print!("{}", compare::table(&opts, &report));
    let stacks: Vec<(&str, &str)> = report
        .rows
        .iter()
        .map(|r| (r.workload.name(), r.stack))
        .collect();
    assert_eq!(
        stacks,
        [
            ("bulk", "kernel"),
            ("bulk", "shunt"),
            ("bulk", "kernel_to_shunt"),
            ("rr", "kernel"),
            ("rr", "kernel_busy"),
            ("rr", "kernel_to_shunt"),
            ("rr", "shunt"),
            ("connrate", "kernel"),
            ("connrate", "shunt"),
            ("connrate", "kernel_to_shunt"),
        ]
    );
    let text = serde_json::to_string(&compare::to_json(&opts, &report)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON parses");
    assert_eq!(json["machine"]["topology"], "real hosts");
    assert_eq!(json["machine"]["driver"], "veth");
    assert_eq!(json["machine"]["queues"], 2);
    for row in json["rows"].as_array().unwrap() {
        let f = &row["figure"];
        assert!(f.is_object(), "failed: {row}");
        assert!(f["gbps"].as_f64().unwrap() > 0.0, "{row}");
        assert!(f["cpu"]["server_s"].as_f64().unwrap() > 0.0, "{row}");
        // What the client sent, the server saw.
        assert_eq!(f["sent_bytes"], f["received_bytes"], "{row}");
        if let Some(l) = f["latency"].as_object() {
            let q: Vec<f64> = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us"]
                .iter()
                .map(|k| l[*k].as_f64().unwrap())
                .collect();
            assert!(q[0] > 0.0 && q.windows(2).all(|w| w[0] <= w[1]), "{row}");
            assert!(f["per_sec"].as_f64().unwrap() > 0.0, "{row}");
        }
    }

    // Nothing left on A's interface.
    let link = a
        .run("ip", &["-d", "link", "show", "dev", a.ifname()])
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout).to_string();
    assert!(!link.contains("xdp"), "{link}");
    let ns = [a.ns().to_string(), b.ns().to_string()];
    drop(hosts);
    let left = testhosts::existing_namespaces();
    assert!(!ns.iter().any(|n| left.contains(n)), "{left:?}");
}
