//! Per-connection configuration, with defaults that match Linux where Linux
//! has a sensible default, and validation with reasons.

use crate::cc::Algorithm;
use crate::time::Duration;

/// Settings of one connection. Cheap to copy; the endpoint hands each new
/// connection a copy of its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConfig {
    /// Send buffer in bytes (bounds what the application may queue).
    pub send_buffer: usize,
    /// Receive buffer in bytes (bounds the advertised window).
    pub recv_buffer: usize,
    /// Out-of-order ranges the receive side keeps (RFC 9293 3.10.7.4 lets a
    /// receiver hold out-of-order data; beyond this bound a segment that would
    /// open a new range is dropped and counted).
    pub max_ooo_ranges: usize,
    /// Ranges the SACK scoreboard keeps.
    pub max_sack_ranges: usize,
    /// MSS we advertise: the link MTU less 40 bytes of IPv4 and TCP headers.
    pub mss: u16,
    /// Disable Nagle's algorithm (RFC 1122 4.2.3.4). Default true: RPC users
    /// expect small writes to leave at once.
    pub nodelay: bool,
    /// Offer window scaling (RFC 7323 2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 3).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// RTO bounds and start (RFC 6298 2.1, 2.4; Linux: 200 ms, 120 s, 1 s).
    pub min_rto: Duration,
    pub max_rto: Duration,
    pub initial_rto: Duration,
    /// Delayed ACK timeout (RFC 1122 4.2.3.2 allows up to 500 ms; Linux's
    /// minimum delayed ACK is 40 ms).
    pub delayed_ack: Duration,
    /// Segments ACKed immediately at the start of a connection (Linux
    /// "quickack" mode), so slow start is not slowed by delayed ACKs.
    pub initial_quickacks: u32,
    /// TIME-WAIT duration, 2*MSL (Linux: 60 s).
    pub time_wait: Duration,
    /// SYN (and SYN-ACK) retransmissions before giving up (Linux tcp_syn_retries 6).
    pub syn_retries: u32,
    /// Data retransmissions before giving up (Linux tcp_retries2 15).
    pub max_retransmits: u32,
    /// Abort when sent data stays unacknowledged this long (RFC 5482 user
    /// timeout); `None` leaves it to `max_retransmits`.
    pub user_timeout: Option<Duration>,
    /// Keepalive (RFC 1122 4.2.3.6): off by default, as in Linux; Linux's
    /// values when on: 7200 s idle, 75 s interval, 9 probes.
    pub keepalive: Option<Keepalive>,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_cwnd_segments: u32,
    /// The congestion controller (Linux's default is CUBIC).
    pub congestion_control: Algorithm,
    /// Pace segments at the controller's rate (earliest departure time).
    /// Controllers without a rate of their own (NewReno, CUBIC) are paced at
    /// 2x cwnd/srtt in slow start and 1.2x after, as Linux does with fq.
    pub pacing: bool,
}

/// Keepalive timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub idle: Duration,
    pub interval: Duration,
    pub probes: u32,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            max_ooo_ranges: 32,
            max_sack_ranges: 64,
            mss: 1460,
            nodelay: true,
            window_scaling: true,
            timestamps: true,
            sack: true,
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(120),
            initial_rto: Duration::from_secs(1),
            delayed_ack: Duration::from_millis(40),
            initial_quickacks: 16,
            time_wait: Duration::from_secs(60),
            syn_retries: 6,
            max_retransmits: 15,
            user_timeout: None,
            keepalive: None,
            initial_cwnd_segments: 10,
            congestion_control: Algorithm::default(),
            pacing: true,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("buffers must be between 1 KiB and 1 GiB")]
    BufferSize,
    #[error("mss must be between 88 and 65495 bytes")]
    Mss,
    #[error("min_rto must be at most max_rto, and initial_rto between them")]
    Rto,
    #[error("max_ooo_ranges and max_sack_ranges must be between 1 and 4096")]
    Ranges,
    #[error("keepalive idle and interval must be non-zero, and probes at least 1")]
    Keepalive,
    #[error("initial_cwnd_segments must be between 1 and 1000")]
    InitialCwnd,
}

impl TcpConfig {
    /// Records of sent segments a connection keeps (RACK and rate
    /// sampling): enough for a full send buffer of 128-byte segments, within
    /// 256..=65536.
    pub fn sent_records(&self) -> usize {
        (self.send_buffer / 128).clamp(256, 65_536)
    }

    /// Checks the settings; every connection's config passed this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let buf = 1024..=(1 << 30);
        if !buf.contains(&self.send_buffer) || !buf.contains(&self.recv_buffer) {
            return Err(ConfigError::BufferSize);
        }
        // 88 = 64 (minimum IPv4 MTU 68... less headers) plus room for options.
        if !(88..=65495).contains(&self.mss) {
            return Err(ConfigError::Mss);
        }
        if self.min_rto > self.max_rto
            || self.initial_rto < self.min_rto
            || self.initial_rto > self.max_rto
        {
            return Err(ConfigError::Rto);
        }
        if !(1..=4096).contains(&self.max_ooo_ranges) || !(1..=4096).contains(&self.max_sack_ranges)
        {
            return Err(ConfigError::Ranges);
        }
        if let Some(k) = self.keepalive
            && (k.idle.is_zero() || k.interval.is_zero() || k.probes == 0)
        {
            return Err(ConfigError::Keepalive);
        }
        if !(1..=1000).contains(&self.initial_cwnd_segments) {
            return Err(ConfigError::InitialCwnd);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(TcpConfig::default().validate(), Ok(()));
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let d = TcpConfig::default;
        assert_eq!(
            TcpConfig {
                recv_buffer: 10,
                ..d()
            }
            .validate(),
            Err(ConfigError::BufferSize)
        );
        assert_eq!(
            TcpConfig { mss: 20, ..d() }.validate(),
            Err(ConfigError::Mss)
        );
        let rto = TcpConfig {
            min_rto: Duration::from_secs(5),
            ..d()
        };
        assert_eq!(rto.validate(), Err(ConfigError::Rto));
        assert_eq!(
            TcpConfig {
                max_sack_ranges: 0,
                ..d()
            }
            .validate(),
            Err(ConfigError::Ranges)
        );
        let ka = Keepalive {
            probes: 0,
            ..Keepalive::default()
        };
        assert_eq!(
            TcpConfig {
                keepalive: Some(ka),
                ..d()
            }
            .validate(),
            Err(ConfigError::Keepalive)
        );
        let cw = TcpConfig {
            initial_cwnd_segments: 0,
            ..d()
        };
        assert_eq!(cw.validate(), Err(ConfigError::InitialCwnd));
    }
}
