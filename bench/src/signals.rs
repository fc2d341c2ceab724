//! Ctrl-C (and SIGTERM, SIGHUP) leave no test host behind.
//!
//! [`install`] blocks the three signals in the calling thread, so every
//! thread spawned afterwards (the bench's, the runtime's shards) inherits the
//! mask, and starts one thread that waits for them with `sigwait`. When one
//! arrives, that thread deletes the network namespaces this process made
//! (their names carry its pid) and exits with 128 + the signal's number.
//! Deleting a namespace removes its veth end, hence the pair; the XDP and tc
//! programs go with the interfaces and the process. Programs the bench
//! starts (`ip`, `ethtool`, `tc`) get a cleared mask (the standard library
//! resets it before `exec`).
//!
//! Call it first thing in `main`, before any thread exists.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, Signal};

/// Set by a program that stops by itself when asked (`serve`): the first
/// signal then sets [`STOP`] instead of exiting; a second one exits.
pub static GRACEFUL: AtomicBool = AtomicBool::new(false);
/// A signal arrived while [`GRACEFUL`] was set.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Blocks SIGINT, SIGTERM and SIGHUP here and starts the thread that cleans
/// up and exits when one arrives.
pub fn install() -> crate::Result<()> {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block()
        .map_err(|e| crate::BenchError(format!("blocking signals: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let sig = loop {
                let Ok(sig) = set.wait() else {
                    return;
                };
                if GRACEFUL.load(Ordering::Relaxed) && !STOP.swap(true, Ordering::Relaxed) {
                    eprintln!("\nshunt-bench: {sig}: stopping (again to exit at once)");
                    continue;
                }
                break sig;
            };
            let removed = testhosts::remove_namespaces_of(std::process::id());
            eprintln!("\nshunt-bench: {sig}: stopped; removed {removed} test host namespaces");
            std::process::exit(128 + sig as i32);
        })
        .map_err(|e| crate::BenchError(format!("starting the signal thread: {e}")))?;
    Ok(())
}
