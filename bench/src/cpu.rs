//! CPU time of the threads that do a workload's work, and what it costs in
//! cycles.
//!
//! Each end of a measured flow runs on a thread of its own (the kernel
//! stack's client and server threads, Shunt's shard threads), pinned to a
//! core of its own. A thread reads its own CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`: user and system time, which includes the
//! kernel's softirq work done on that core while the thread runs) when its
//! part starts and ends; Shunt's shard threads are asked through their handle
//! ([`datapath::shard::ShardHandle::call`]). Cycles are CPU seconds times the
//! clock rate `/proc/cpuinfo` reports: an estimate (frequency scaling and a
//! VM's steal time are not seen).

use std::time::Duration;

/// The calling thread's CPU time so far.
pub fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// The CPU clock rate `/proc/cpuinfo` reports for the first CPU, Hz
/// (`None` when it reports none, as on some ARM machines).
pub fn cpu_hz() -> Option<f64> {
    cpuinfo("cpu MHz")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|mhz| *mhz > 0.0)
        .map(|mhz| mhz * 1e6)
}

/// The CPU model `/proc/cpuinfo` names for the first CPU.
pub fn cpu_model() -> String {
    cpuinfo("model name").unwrap_or_else(|| "unknown CPU".into())
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The first `/proc/cpuinfo` line starting with `key`: its value, trimmed.
fn cpuinfo(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
}

/// What both ends of one figure spent, and the work they did for it, over
/// the same span (the whole run of the connection, warm-up included, so
/// that CPU and work are counted over the same instants).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    pub client_cpu: Duration,
    pub server_cpu: Duration,
    /// Wall-clock time of the span.
    pub wall: Duration,
    /// Requests (round trips, or connections) completed in the span.
    pub requests: u64,
    /// Payload bytes delivered in the span (one direction for bulk; both
    /// directions for request/response).
    pub bytes: u64,
}

impl Work {
    /// Both ends' CPU time.
    pub fn cpu(&self) -> Duration {
        self.client_cpu + self.server_cpu
    }

    /// Cycles per request at `hz` (None without requests).
    pub fn cycles_per_request(&self, hz: f64) -> Option<f64> {
        (self.requests > 0).then(|| self.cpu().as_secs_f64() * hz / self.requests as f64)
    }

    /// Cycles per payload byte at `hz` (None without bytes).
    pub fn cycles_per_byte(&self, hz: f64) -> Option<f64> {
        (self.bytes > 0).then(|| self.cpu().as_secs_f64() * hz / self.bytes as f64)
    }

    /// How busy an end's core was: CPU time over wall time.
    pub fn utilization(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_cpu_advances_while_the_thread_works() {
        let t0 = thread_cpu();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(20) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        assert!(thread_cpu() > t0);
    }

    #[test]
    fn cycles_divide_both_ends_cpu_by_the_work() {
        let w = Work {
            client_cpu: Duration::from_millis(300),
            server_cpu: Duration::from_millis(700),
            wall: Duration::from_secs(1),
            requests: 1000,
            bytes: 2_000_000,
        };
        assert_eq!(w.cycles_per_request(1e9), Some(1e6));
        assert_eq!(w.cycles_per_byte(1e9), Some(500.0));
        assert!((w.utilization(w.server_cpu) - 0.7).abs() < 1e-9);
        assert_eq!(Work::default().cycles_per_request(1e9), None);
    }
}
