//! `shunt-bench compare` leaves no test host behind: after a run that
//! succeeds, one in which a figure fails, and one stopped by Ctrl-C (SIGINT).
//! Each test runs the binary as a process of its own, so its namespaces
//! carry its pid. They need root, like every test that makes test hosts.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shunt-bench");

use testhosts::namespaces_of;

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shunt-bench")
}

/// Waits (at most `limit`) until `pid` has made a namespace; returns its
/// namespaces then.
fn wait_for_namespaces(pid: u32, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let ns = namespaces_of(pid);
        if !ns.is_empty() || Instant::now() >= deadline {
            return ns;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the process to end, killing it after `limit`.
fn finish(mut child: Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn no_namespace_is_left_after_a_run_that_succeeds() {
    let json = std::env::temp_dir().join(format!("shunt-bench-ok-{}.json", std::process::id()));
    let child = spawn(&[
        "compare",
        "--workloads",
        "rr",
        "--seconds",
        "0.5",
        "--warmup-ms",
        "50",
        "--idle-turns",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    let pid = child.id();
    let out = finish(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Shunt <-> Shunt"), "{stdout}");
    let text = std::fs::read_to_string(&json).expect("JSON written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON parses");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(4));
    let _ = std::fs::remove_file(&json);
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
}

#[test]
fn no_namespace_is_left_after_a_figure_fails() {
    let child = spawn(&[
        "compare",
        "--workloads",
        "rr",
        "--seconds",
        "1",
        "--warmup-ms",
        "50",
        "--idle-turns",
        "0",
    ]);
    let pid = child.id();
    // The first figure's pair is up (pair 0 is the link probe, which ends at
    // once): cut its link, so that the figure's connection fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    let figure_pair = loop {
        let found = namespaces_of(pid).into_iter().find(|n| {
            n.strip_suffix("-a")
                .and_then(|rest| rest.rsplit('-').next())
                .and_then(|k| k.parse::<u32>().ok())
                .is_some_and(|k| k >= 1)
        });
        if found.is_some() || Instant::now() >= deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(a) = figure_pair else {
        let out = finish(child, Duration::from_secs(1));
        panic!("no figure's namespace appeared: {out:?}");
    };
    std::thread::sleep(Duration::from_millis(200));
    let cut = Command::new("ip")
        .args(["-n", &a, "link", "del", "veth0"])
        .status()
        .expect("ip");
    assert!(cut.success(), "could not cut {a}'s link");
    let out = finish(child, Duration::from_secs(90));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("figures failed"), "{stderr}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "{stderr}");
}

#[test]
fn no_namespace_is_left_after_ctrl_c() {
    let child = spawn(&[
        "compare",
        "--workloads",
        "rr",
        "--seconds",
        "10",
        "--idle-turns",
        "0",
    ]);
    let pid = child.id();
    let made = wait_for_namespaces(pid, Duration::from_secs(20));
    assert!(!made.is_empty(), "no namespace appeared");
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = finish(child, Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("removed"), "{stderr}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "{stderr}");
}
