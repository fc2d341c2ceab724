//! Per-connection TCP configuration and its validation.
//!
//! Owns [`TcpConfig`]: every size and timer a connection is built with, with
//! defaults that match Linux where Linux has a sensible fixed value (each
//! default says where it comes from), and [`TcpConfig::validate`], which
//! refuses combinations a connection cannot honour and says why.
//!
//! Must never: be consulted per segment for anything but plain reads (all
//! derived sizes are fixed at connection creation), or silently fix up a bad
//! value (validation refuses; the daemon reports the error at its edge).

use crate::tcp::rtt::RttConfig;
use crate::time::Duration;

/// Smallest MSS we accept; Linux's `TCP_MIN_MSS` (88 bytes). Anything lower
/// only multiplies per-segment cost and has been used for resource attacks.
pub const MIN_MSS: u16 = 88;
/// Largest MSS: a 65535-byte IPv4 datagram minus 20 bytes of IP and 20 of TCP.
pub const MAX_MSS: u16 = 65_495;
/// Largest receive window that can be advertised with window scaling
/// (RFC 7323 2.3: shift at most 14, so 2^30 bytes).
pub const MAX_RECV_BUFFER: usize = 1 << 30;
/// A delayed ACK must not be delayed this long or more (RFC 1122 4.2.3.2,
/// RFC 9293 3.8.6.3: "MUST be less than 0.5 seconds").
pub const MAX_DELAYED_ACK: Duration = Duration::from_millis(500);

/// Keepalive probing (RFC 1122 4.2.3.6, RFC 9293 3.8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveConfig {
    /// Whether probes are sent at all. Off by default, as in Linux
    /// (`SO_KEEPALIVE` unset) and RFC 1122 4.2.3.6 ("MUST default to off").
    pub enabled: bool,
    /// Idle time before the first probe. Linux `tcp_keepalive_time`, 7200 s;
    /// RFC 1122 4.2.3.6: "MUST be configurable and MUST default to no less
    /// than two hours".
    pub idle: Duration,
    /// Time between unanswered probes. Linux `tcp_keepalive_intvl`, 75 s.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped. Linux
    /// `tcp_keepalive_probes`, 9.
    pub count: u32,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        KeepaliveConfig {
            enabled: false,
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            count: 9,
        }
    }
}

/// Everything a connection is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Send buffer capacity in bytes, allocated once per connection. Linux
    /// starts at 16 KiB (`tcp_wmem[1]`) and autotunes up to 4 MiB; we do not
    /// autotune yet, so 256 KiB: enough for a 20 Gbit/s x 100 us datacenter
    /// BDP, small enough for many connections per core.
    pub send_buffer: usize,
    /// Receive buffer capacity in bytes, which bounds the advertised window.
    /// Linux starts at 128 KiB (`tcp_rmem[1]`) and autotunes up to 6 MiB; the
    /// same 256 KiB as the send side, for the same reason.
    pub recv_buffer: usize,
    /// Out-of-order ranges the receive side tracks; a segment that would need
    /// one more is dropped and counted. 32 covers any SACK-driven recovery
    /// (at most 4 blocks are reported per ACK) with room to spare.
    pub max_ooo_ranges: usize,
    /// Our MSS, advertised in the SYN: 1460, the Ethernet MTU of 1500 minus
    /// 20 bytes of IPv4 and 20 of TCP header, as Linux advertises on Ethernet.
    pub mss: u16,
    /// MSS assumed for a peer whose SYN carries no MSS option: 536
    /// (RFC 9293 3.7.1, RFC 1122 4.2.2.6; Linux `TCP_MSS_DEFAULT`).
    pub default_peer_mss: u16,
    /// RTO bounds, initial RTO and clock granularity (RFC 6298); see
    /// [`RttConfig`]'s defaults.
    pub rtt: RttConfig,
    /// Longest delay of an ACK for in-order data. 40 ms is Linux's
    /// `TCP_DELACK_MIN`, where its adaptive delayed-ACK timer starts; must be
    /// below 500 ms (RFC 9293 3.8.6.3).
    pub delayed_ack_timeout: Duration,
    /// TIME-WAIT duration, 2 * MSL (RFC 9293 3.4.2, 3.10.7.4). The RFC's MSL
    /// of 2 minutes would give 4 minutes; Linux uses 60 s (`TCP_TIMEWAIT_LEN`)
    /// and so do we: with timestamps (RFC 7323 5) old duplicates are rejected
    /// anyway, and a 4-minute TIME-WAIT wastes connection slots.
    pub time_wait: Duration,
    /// Keepalive probing.
    pub keepalive: KeepaliveConfig,
    /// Give up on a connection whose sent data stays unacknowledged this long
    /// (RFC 9293 3.8.3 USER TIMEOUT, RFC 5482). `None`: off, so the limit is
    /// `max_retransmits`, as in Linux (`TCP_USER_TIMEOUT` = 0).
    pub user_timeout: Option<Duration>,
    /// Disable Nagle's algorithm (RFC 9293 3.7.4, RFC 1122 4.2.3.4). Default
    /// true: Shunt is built for request/response latency, and the
    /// application writes whole messages, so coalescing small writes only
    /// adds delay (Linux defaults to Nagle on; `TCP_NODELAY` turns it off).
    pub no_delay: bool,
    /// SYN retransmissions before an active open fails. Linux
    /// `tcp_syn_retries`, 6 (about 127 s with a 1 s initial RTO).
    pub max_syn_retries: u32,
    /// SYN-ACK retransmissions before a passive open is abandoned. Linux
    /// `tcp_synack_retries`, 5.
    pub max_synack_retries: u32,
    /// Retransmission timeouts in a row before the connection is dropped
    /// (RFC 9293 3.8.3 R2). Linux `tcp_retries2`, 15 (about 15 minutes with
    /// back-off capped at 120 s).
    pub max_retransmits: u32,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            max_ooo_ranges: 32,
            mss: 1460,
            default_peer_mss: 536,
            rtt: RttConfig::default(),
            delayed_ack_timeout: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            keepalive: KeepaliveConfig::default(),
            user_timeout: None,
            no_delay: true,
            max_syn_retries: 6,
            max_synack_retries: 5,
            max_retransmits: 15,
        }
    }
}

/// Why a [`TcpConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("MSS {mss} is outside {MIN_MSS}..={MAX_MSS}")]
    MssOutOfRange { mss: u16 },
    #[error("default peer MSS {mss} is outside {MIN_MSS}..={MAX_MSS}")]
    DefaultPeerMssOutOfRange { mss: u16 },
    #[error("send buffer of {bytes} bytes cannot hold one {mss}-byte segment")]
    SendBufferSmallerThanMss { bytes: usize, mss: u16 },
    #[error("receive buffer of {bytes} bytes cannot hold one {mss}-byte segment")]
    RecvBufferSmallerThanMss { bytes: usize, mss: u16 },
    #[error(
        "receive buffer of {bytes} bytes exceeds the largest scalable window, {MAX_RECV_BUFFER}"
    )]
    RecvBufferTooLarge { bytes: usize },
    #[error("minimum RTO must be above zero, or a timeout would fire at once")]
    ZeroMinRto,
    #[error("minimum RTO {min:?} is above maximum RTO {max:?}")]
    MinRtoAboveMaxRto { min: Duration, max: Duration },
    #[error("initial RTO {initial:?} is outside the RTO bounds {min:?}..={max:?}")]
    InitialRtoOutOfBounds {
        initial: Duration,
        min: Duration,
        max: Duration,
    },
    #[error("delayed-ACK timeout {0:?} is not below 500 ms (RFC 9293 3.8.6.3)")]
    DelayedAckTooLong(Duration),
    #[error("keepalive is enabled with a zero idle time, interval or probe count")]
    KeepaliveZero,
    #[error("user timeout must be above zero")]
    ZeroUserTimeout,
}

impl TcpConfig {
    /// Checks that a connection can honour this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_MSS..=MAX_MSS).contains(&self.mss) {
            return Err(ConfigError::MssOutOfRange { mss: self.mss });
        }
        if !(MIN_MSS..=MAX_MSS).contains(&self.default_peer_mss) {
            return Err(ConfigError::DefaultPeerMssOutOfRange {
                mss: self.default_peer_mss,
            });
        }
        if self.send_buffer < usize::from(self.mss) {
            return Err(ConfigError::SendBufferSmallerThanMss {
                bytes: self.send_buffer,
                mss: self.mss,
            });
        }
        if self.recv_buffer < usize::from(self.mss) {
            return Err(ConfigError::RecvBufferSmallerThanMss {
                bytes: self.recv_buffer,
                mss: self.mss,
            });
        }
        if self.recv_buffer > MAX_RECV_BUFFER {
            return Err(ConfigError::RecvBufferTooLarge {
                bytes: self.recv_buffer,
            });
        }
        let rtt = &self.rtt;
        if rtt.min_rto.is_zero() {
            return Err(ConfigError::ZeroMinRto);
        }
        if rtt.min_rto > rtt.max_rto {
            return Err(ConfigError::MinRtoAboveMaxRto {
                min: rtt.min_rto,
                max: rtt.max_rto,
            });
        }
        if rtt.initial_rto < rtt.min_rto || rtt.initial_rto > rtt.max_rto {
            return Err(ConfigError::InitialRtoOutOfBounds {
                initial: rtt.initial_rto,
                min: rtt.min_rto,
                max: rtt.max_rto,
            });
        }
        // RFC 9293 3.8.6.3: the delay MUST be less than 0.5 seconds.
        if self.delayed_ack_timeout >= MAX_DELAYED_ACK {
            return Err(ConfigError::DelayedAckTooLong(self.delayed_ack_timeout));
        }
        let ka = &self.keepalive;
        if ka.enabled && (ka.idle.is_zero() || ka.interval.is_zero() || ka.count == 0) {
            return Err(ConfigError::KeepaliveZero);
        }
        if self.user_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroUserTimeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut TcpConfig)) -> Result<(), ConfigError> {
        let mut c = TcpConfig::default();
        f(&mut c);
        c.validate()
    }

    #[test]
    fn default_config_is_valid_and_matches_linux_where_stated() {
        let c = TcpConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.rtt.min_rto, Duration::from_millis(200));
        assert_eq!(c.rtt.max_rto, Duration::from_secs(120));
        assert_eq!(c.rtt.initial_rto, Duration::from_secs(1));
        assert_eq!(c.time_wait, Duration::from_secs(60));
        assert_eq!((c.max_syn_retries, c.max_retransmits), (6, 15));
        assert!(c.no_delay);
        assert!(!c.keepalive.enabled);
    }

    #[test]
    fn mss_outside_linux_bounds_is_refused() {
        assert_eq!(
            with(|c| c.mss = 87),
            Err(ConfigError::MssOutOfRange { mss: 87 })
        );
        assert_eq!(
            with(|c| c.mss = 65_496),
            Err(ConfigError::MssOutOfRange { mss: 65_496 })
        );
        assert_eq!(
            with(|c| c.default_peer_mss = 0),
            Err(ConfigError::DefaultPeerMssOutOfRange { mss: 0 })
        );
    }

    #[test]
    fn buffers_smaller_than_one_segment_are_refused() {
        assert_eq!(
            with(|c| c.send_buffer = 1000),
            Err(ConfigError::SendBufferSmallerThanMss {
                bytes: 1000,
                mss: 1460
            })
        );
        assert_eq!(
            with(|c| c.recv_buffer = 0),
            Err(ConfigError::RecvBufferSmallerThanMss {
                bytes: 0,
                mss: 1460
            })
        );
    }

    #[test]
    fn receive_buffer_beyond_scaled_window_is_refused() {
        assert_eq!(
            with(|c| c.recv_buffer = MAX_RECV_BUFFER + 1),
            Err(ConfigError::RecvBufferTooLarge {
                bytes: MAX_RECV_BUFFER + 1
            })
        );
        assert_eq!(with(|c| c.recv_buffer = MAX_RECV_BUFFER), Ok(()));
    }

    #[test]
    fn inconsistent_rto_bounds_are_refused() {
        assert_eq!(
            with(|c| c.rtt.min_rto = Duration::ZERO),
            Err(ConfigError::ZeroMinRto)
        );
        assert!(matches!(
            with(|c| c.rtt.min_rto = Duration::from_secs(200)),
            Err(ConfigError::MinRtoAboveMaxRto { .. })
        ));
        assert!(matches!(
            with(|c| c.rtt.initial_rto = Duration::from_millis(100)),
            Err(ConfigError::InitialRtoOutOfBounds { .. })
        ));
    }

    #[test]
    fn delayed_ack_of_half_a_second_is_refused() {
        assert_eq!(
            with(|c| c.delayed_ack_timeout = Duration::from_millis(500)),
            Err(ConfigError::DelayedAckTooLong(Duration::from_millis(500)))
        );
        assert_eq!(
            with(|c| c.delayed_ack_timeout = Duration::from_millis(499)),
            Ok(())
        );
    }

    #[test]
    fn enabled_keepalive_with_zero_count_is_refused() {
        assert_eq!(
            with(|c| {
                c.keepalive.enabled = true;
                c.keepalive.count = 0;
            }),
            Err(ConfigError::KeepaliveZero)
        );
        // Disabled keepalive values are not checked.
        assert_eq!(with(|c| c.keepalive.count = 0), Ok(()));
    }

    #[test]
    fn zero_user_timeout_is_refused() {
        assert_eq!(
            with(|c| c.user_timeout = Some(Duration::ZERO)),
            Err(ConfigError::ZeroUserTimeout)
        );
        assert_eq!(
            with(|c| c.user_timeout = Some(Duration::from_secs(300))),
            Ok(())
        );
    }

    #[test]
    fn error_messages_say_why() {
        let e = ConfigError::MssOutOfRange { mss: 10 };
        assert_eq!(e.to_string(), "MSS 10 is outside 88..=65495");
    }
}
