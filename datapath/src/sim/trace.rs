//! Per-connection time series for plots: cwnd, ssthresh, bytes in flight,
//! SRTT, min RTT, RTO, the peer's window, the pacing and delivery rates and
//! the controller's state over (virtual or real) time; CSV or JSON.
//!
//! Bounded: when the buffer is full, every other sample is dropped and the
//! sampling interval doubles, so a trace of any length keeps its whole time
//! span at a coarser grain. Recording is a copy of a few words; no allocation
//! after creation.

use crate::tcp::{ConnInfo, State};
use crate::time::{Duration, Instant};

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceSample {
    pub at: Instant,
    pub state: State,
    pub cwnd: usize,
    pub ssthresh: usize,
    pub bytes_in_flight: usize,
    pub srtt: Option<Duration>,
    pub rto: Duration,
    pub snd_wnd: usize,
    pub in_recovery: bool,
    pub min_rtt: Option<Duration>,
    /// Bytes per second.
    pub pacing_rate: Option<u64>,
    /// Bytes per second.
    pub delivery_rate: Option<u64>,
    pub delivered: u64,
    pub lost: u64,
    pub cc_state: &'static str,
}

/// A bounded, self-decimating series of samples of one connection.
#[derive(Debug, Clone)]
pub struct ConnTrace {
    samples: Vec<TraceSample>,
    capacity: usize,
    interval: Duration,
    next_at: Instant,
}

impl ConnTrace {
    /// Keeps at most `capacity` samples (at least 2), taken at least
    /// `interval` apart (zero: every call).
    pub fn new(capacity: usize, interval: Duration) -> ConnTrace {
        let capacity = capacity.max(2);
        ConnTrace {
            samples: Vec::with_capacity(capacity),
            capacity,
            interval,
            next_at: Instant::ZERO,
        }
    }

    /// Records `info` at `now` if the interval has passed.
    pub fn record(&mut self, now: Instant, info: &ConnInfo) {
        if now < self.next_at {
            return;
        }
        if self.samples.len() == self.capacity {
            // Keep every other sample and sample half as often from now on.
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.interval = (self.interval * 2).max(Duration::from_nanos(1));
        }
        self.samples.push(TraceSample {
            at: now,
            state: info.state,
            cwnd: info.cwnd,
            ssthresh: info.ssthresh,
            bytes_in_flight: info.bytes_in_flight,
            srtt: info.srtt,
            rto: info.rto,
            snd_wnd: info.snd_wnd,
            in_recovery: info.in_recovery,
            min_rtt: info.min_rtt,
            pacing_rate: info.pacing_rate,
            delivery_rate: info.delivery_rate,
            delivered: info.delivered,
            lost: info.lost,
            cc_state: info.cc_state,
        });
        self.next_at = now + self.interval;
    }

    pub fn samples(&self) -> &[TraceSample] {
        &self.samples
    }

    /// The samples as a JSON array of objects (the CSV's columns; `null`
    /// where a value is unknown or unbounded).
    pub fn to_json(&self) -> String {
        let opt = |v: Option<u64>| v.map_or_else(|| "null".to_string(), |x| x.to_string());
        let mut out = String::from("[");
        for (i, s) in self.samples.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let ssthresh = (s.ssthresh != usize::MAX).then_some(s.ssthresh as u64);
            out.push_str(&format!(
                concat!(
                    "{{\"time_us\":{},\"state\":\"{}\",\"cwnd_bytes\":{},\"ssthresh_bytes\":{},",
                    "\"bytes_in_flight\":{},\"srtt_us\":{},\"min_rtt_us\":{},\"rto_us\":{},",
                    "\"snd_wnd_bytes\":{},\"in_recovery\":{},\"pacing_rate_bps\":{},",
                    "\"delivery_rate_bps\":{},\"delivered_bytes\":{},\"lost_bytes\":{},\"cc_state\":\"{}\"}}"
                ),
                s.at.as_micros(),
                s.state,
                s.cwnd,
                opt(ssthresh),
                s.bytes_in_flight,
                opt(s.srtt.map(|d| d.as_micros())),
                opt(s.min_rtt.map(|d| d.as_micros())),
                s.rto.as_micros(),
                s.snd_wnd,
                s.in_recovery,
                opt(s.pacing_rate.map(|r| r.saturating_mul(8))),
                opt(s.delivery_rate.map(|r| r.saturating_mul(8))),
                s.delivered,
                s.lost,
                s.cc_state,
            ));
        }
        out.push(']');
        out
    }

    /// The samples as CSV with a header line; times in microseconds, sizes in
    /// bytes, an empty ssthresh while it is unbounded.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "time_us,state,cwnd_bytes,ssthresh_bytes,bytes_in_flight,srtt_us,rto_us,snd_wnd_bytes,in_recovery,min_rtt_us,pacing_rate_bps,delivery_rate_bps,delivered_bytes,lost_bytes,cc_state\n",
        );
        for s in &self.samples {
            let ssthresh = if s.ssthresh == usize::MAX {
                String::new()
            } else {
                s.ssthresh.to_string()
            };
            let srtt = s
                .srtt
                .map(|d| d.as_micros().to_string())
                .unwrap_or_default();
            let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                s.at.as_micros(),
                s.state,
                s.cwnd,
                ssthresh,
                s.bytes_in_flight,
                srtt,
                s.rto.as_micros(),
                s.snd_wnd,
                u8::from(s.in_recovery),
                opt(s.min_rtt.map(|d| d.as_micros())),
                opt(s.pacing_rate.map(|r| r.saturating_mul(8))),
                opt(s.delivery_rate.map(|r| r.saturating_mul(8))),
                s.delivered,
                s.lost,
                s.cc_state,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(cwnd: usize) -> ConnInfo {
        ConnInfo {
            state: State::Established,
            srtt: Some(Duration::from_millis(10)),
            rttvar: None,
            min_rtt: None,
            rto: Duration::from_millis(200),
            cwnd,
            ssthresh: usize::MAX,
            bytes_in_flight: cwnd / 2,
            snd_wnd: 65535,
            rcv_wnd: 65535,
            mss: 1448,
            in_recovery: false,
            pacing_rate: Some(1_000_000),
            delivery_rate: None,
            delivered: 0,
            lost: 0,
            cc: "cubic",
            cc_state: "slow_start",
        }
    }

    #[test]
    fn samples_respect_the_interval() {
        let mut t = ConnTrace::new(100, Duration::from_millis(10));
        for ms in 0..100 {
            t.record(Instant::from_millis(ms), &info(ms as usize));
        }
        assert_eq!(t.samples().len(), 10);
        assert_eq!(t.samples()[1].at, Instant::from_millis(10));
    }

    #[test]
    fn a_full_trace_halves_its_resolution_and_keeps_its_time_span() {
        let mut t = ConnTrace::new(8, Duration::ZERO);
        for ms in 0..1000 {
            t.record(Instant::from_millis(ms), &info(ms as usize));
        }
        let s = t.samples();
        assert!(s.len() <= 8);
        assert_eq!(s[0].at, Instant::ZERO, "the start is kept");
        assert!(
            s.last().unwrap().at >= Instant::from_millis(900),
            "and the end is recent"
        );
        assert!(s.windows(2).all(|w| w[0].at < w[1].at));
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_sample() {
        let mut t = ConnTrace::new(10, Duration::ZERO);
        t.record(Instant::from_millis(1), &info(14480));
        let csv = t.to_csv();
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("time_us,state,cwnd_bytes"));
        assert_eq!(
            lines[1],
            "1000,ESTABLISHED,14480,,7240,10000,200000,65535,0,,8000000,,0,0,slow_start"
        );
    }

    #[test]
    fn json_has_one_object_per_sample_with_nulls_for_unknowns() {
        let mut t = ConnTrace::new(10, Duration::ZERO);
        t.record(Instant::from_millis(1), &info(14480));
        t.record(Instant::from_millis(2), &info(28960));
        let json = t.to_json();
        assert!(json.starts_with("[{\"time_us\":1000,"));
        assert_eq!(json.matches("\"cwnd_bytes\"").count(), 2);
        assert!(json.contains("\"ssthresh_bytes\":null"));
        assert!(json.contains("\"pacing_rate_bps\":8000000"));
        assert!(json.contains("\"cc_state\":\"slow_start\"}]"));
    }
}
