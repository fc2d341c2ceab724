//! A flow over time: the bytes its receiver has taken, and for a Shunt
//! sender its connection's congestion window, pacing rate and smoothed RTT,
//! sampled every [`PERIOD`] from the start of the flow (warm-up included,
//! so that slow start shows).

use std::time::{Duration, Instant};

use datapath::tcp::ConnInfo;

/// How often a flow is sampled.
pub const PERIOD: Duration = Duration::from_millis(10);

/// A Shunt sender connection's variables at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnSample {
    pub cwnd_bytes: u64,
    /// Bytes per second (`None`: unpaced).
    pub pacing_rate: Option<u64>,
    pub srtt: Option<Duration>,
    pub bytes_in_flight: u64,
}

impl From<ConnInfo> for ConnSample {
    fn from(i: ConnInfo) -> Self {
        ConnSample {
            cwnd_bytes: i.cwnd as u64,
            pacing_rate: i.pacing_rate,
            srtt: i.srtt.map(|d| Duration::from_nanos(d.as_nanos())),
            bytes_in_flight: i.bytes_in_flight as u64,
        }
    }
}

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the flow started.
    pub t: f64,
    /// Bytes the receiver took so far.
    pub received: u64,
    pub conn: Option<ConnSample>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub samples: Vec<Sample>,
    /// When the measured window started and ended, seconds since the flow
    /// started.
    pub window: (f64, f64),
}

impl Timeline {
    /// Goodput between consecutive samples, Gbit/s, at the later sample's
    /// time.
    pub fn gbps(&self) -> Vec<(f64, f64)> {
        self.samples
            .windows(2)
            .filter(|w| w[1].t > w[0].t)
            .map(|w| {
                let bits = w[1].received.saturating_sub(w[0].received) as f64 * 8.0;
                (w[1].t, bits / (w[1].t - w[0].t) / 1e9)
            })
            .collect()
    }

    /// Whether any sample carries a connection's variables.
    pub fn has_conn(&self) -> bool {
        self.samples.iter().any(|s| s.conn.is_some())
    }
}

/// Samples `read` every [`PERIOD`] until `until`, into `tl`; `start` is the
/// flow's start.
pub fn sample_until(
    tl: &mut Timeline,
    start: Instant,
    until: Instant,
    mut read: impl FnMut() -> (u64, Option<ConnInfo>),
) {
    loop {
        let now = Instant::now();
        let (received, conn) = read();
        tl.samples.push(Sample {
            t: (now - start).as_secs_f64(),
            received,
            conn: conn.map(ConnSample::from),
        });
        if now >= until {
            return;
        }
        std::thread::sleep(PERIOD.min(until - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_is_the_byte_difference_over_the_time_difference() {
        let tl = Timeline {
            samples: vec![
                Sample {
                    t: 0.0,
                    received: 0,
                    conn: None,
                },
                Sample {
                    t: 0.5,
                    received: 125_000_000,
                    conn: None,
                },
                Sample {
                    t: 1.0,
                    received: 125_000_000,
                    conn: None,
                },
            ],
            window: (0.0, 1.0),
        };
        assert_eq!(tl.gbps(), vec![(0.5, 2.0), (1.0, 0.0)]);
        assert!(!tl.has_conn());
    }
}
