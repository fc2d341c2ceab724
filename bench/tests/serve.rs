//! `shunt-bench serve` and `shunt-bench compare --iface --peer` as
//! processes, on test hosts: serve in host A, compare in host B; then
//! SIGTERM stops serve, which takes Shunt off its interface. They need root,
//! like every test that makes test hosts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testhosts::{Config, Host, TestHosts};

const BIN: &str = env!("CARGO_BIN_EXE_shunt-bench");

/// Whether an XDP program is attached to `host`'s interface.
fn has_xdp(host: &Host) -> bool {
    let out = host
        .run("ip", &["-d", "link", "show", "dev", host.ifname()])
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout).contains("xdp")
}

fn in_ns(host: &Host, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", host.ns(), BIN])
        .args(args)
        .stdin(Stdio::null());
    c
}

#[test]
fn serve_answers_compare_and_leaves_nothing_attached_after_sigterm() {
    let hosts = TestHosts::new(Config::default()).expect("test hosts (needs root)");
    let (a, b) = (hosts.a(), hosts.b());
    let peer = a.addr().to_string();
    let mut server = in_ns(a, &["serve", "--iface", a.ifname(), "--idle-turns", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_xdp(a) {
        assert!(Instant::now() < deadline, "serve did not attach");
        assert!(server.try_wait().unwrap().is_none(), "serve ended");
        std::thread::sleep(Duration::from_millis(20));
    }

    let json = std::env::temp_dir().join(format!("shunt-bench-real-{}.json", std::process::id()));
    let out = in_ns(
        b,
        &[
            "compare",
            "--iface",
            b.ifname(),
            "--peer",
            &peer,
            "--workloads",
            "rr,loss",
            "--seconds",
            "0.3",
            "--warmup-ms",
            "50",
            "--idle-turns",
            "0",
            "--json",
            json.to_str().unwrap(),
        ],
    )
    .output()
    .expect("compare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stderr.contains("loss workload is left out"), "{stderr}");
    assert!(stdout.contains("real hosts"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
            .expect("JSON parses");
    let _ = std::fs::remove_file(&json);
    assert_eq!(v["machine"]["topology"], "real hosts");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(4), "{v}");

    let pid = nix::unistd::Pid::from_raw(server.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = server.kill();
            panic!("serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = server.wait_with_output().expect("serve's output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", out.status);
    assert!(stdout.contains("stopped"), "{stdout}");
    assert!(!has_xdp(a), "Shunt is still attached");
}

#[test]
fn compare_says_when_no_serve_answers() {
    let hosts = TestHosts::new(Config::default()).expect("test hosts (needs root)");
    let (a, b) = (hosts.a(), hosts.b());
    let out = in_ns(
        b,
        &[
            "compare",
            "--iface",
            b.ifname(),
            "--peer",
            &a.addr().to_string(),
        ],
    )
    .output()
    .expect("compare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no shunt-bench serve at"), "{stderr}");
    let out = in_ns(b, &["serve", "--iface", "nosuchif0"])
        .output()
        .expect("serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nosuchif0"), "{stderr}");
}
