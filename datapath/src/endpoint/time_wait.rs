//! TIME-WAIT assassination by a new SYN, done safely (RFC 6191, RFC 9293
//! 3.6.1, as Linux does in `tcp_timewait_state_process`).
//!
//! A SYN for a 4-tuple whose connection is in TIME-WAIT starts a new
//! incarnation only if it cannot be an old duplicate: its timestamp is newer
//! than the last one the old connection saw, or, without timestamps, its
//! sequence number is past everything the old connection received. Otherwise
//! the old connection handles the SYN (it re-ACKs, RFC 9293 3.10.7.4).

use crate::wire::{SeqNum, TcpRepr};

/// What the endpoint knows of an old incarnation from the segments it fed it.
///
/// The Connection keeps TS.Recent and RCV.NXT private, so the endpoint tracks
/// them itself from every segment it hands over: the newest TSval seen and the
/// highest `SEG.SEQ + SEG.LEN`. In TIME-WAIT every byte and the FIN were
/// received in order, so the highest end is RCV.NXT, and the newest TSval is
/// TS.Recent up to segments the connection refused (which can only make the
/// rule stricter, never accept an old duplicate of an accepted segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerTrack {
    /// Newest TSval seen from the peer (an approximation of TS.Recent).
    pub ts_recent: Option<u32>,
    /// Highest SEG.SEQ + SEG.LEN seen (RCV.NXT once in TIME-WAIT).
    pub rcv_nxt: SeqNum,
}

impl PeerTrack {
    /// The track after the peer's first segment (its SYN, or our SYN-ACK's
    /// answer).
    pub fn new(seg: &TcpRepr<'_>) -> Self {
        PeerTrack {
            ts_recent: seg.timestamps.map(|t| t.tsval),
            rcv_nxt: seg.seq + seg.segment_len(),
        }
    }

    /// Takes note of a segment handed to the connection.
    pub fn observe(&mut self, seg: &TcpRepr<'_>) {
        if let Some(ts) = seg.timestamps {
            // RFC 7323 5.3: timestamps compare modulo 2^32.
            let newer = self
                .ts_recent
                .is_none_or(|recent| ts.tsval.wrapping_sub(recent) as i32 > 0);
            if newer {
                self.ts_recent = Some(ts.tsval);
            }
        }
        let end = seg.seq + seg.segment_len();
        if end > self.rcv_nxt {
            self.rcv_nxt = end;
        }
    }
}

/// Whether `syn` may replace the TIME-WAIT connection described by `old`.
///
/// RFC 6191 2: if the old incarnation used timestamps and the SYN carries
/// one, accept when SEG.TSval > TS.Recent; otherwise (no timestamps on
/// either side) accept when SEG.SEQ > RCV.NXT (RFC 9293 3.6.1, RFC 1122
/// 4.2.2.13).
pub fn time_wait_accepts_syn(old: &PeerTrack, syn: &TcpRepr<'_>) -> bool {
    match (old.ts_recent, syn.timestamps) {
        (Some(recent), Some(ts)) => ts.tsval.wrapping_sub(recent) as i32 > 0,
        _ => syn.seq > old.rcv_nxt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TcpFlags, TcpTimestamps};

    fn syn(seq: u32, tsval: Option<u32>) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: SeqNum::new(seq),
            flags: TcpFlags::SYN,
            timestamps: tsval.map(|tsval| TcpTimestamps { tsval, tsecr: 0 }),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn newer_timestamp_is_accepted_even_with_an_older_sequence_number() {
        let old = PeerTrack {
            ts_recent: Some(1000),
            rcv_nxt: SeqNum::new(5000),
        };
        assert!(time_wait_accepts_syn(&old, &syn(10, Some(1001))));
        assert!(!time_wait_accepts_syn(&old, &syn(9000, Some(1000))));
        assert!(!time_wait_accepts_syn(&old, &syn(9000, Some(999))));
    }

    #[test]
    fn timestamps_compare_modulo_2_pow_32() {
        let old = PeerTrack {
            ts_recent: Some(u32::MAX - 1),
            rcv_nxt: SeqNum::new(0),
        };
        assert!(time_wait_accepts_syn(&old, &syn(0, Some(3))));
    }

    #[test]
    fn without_timestamps_the_sequence_number_must_pass_rcv_nxt() {
        let old = PeerTrack {
            ts_recent: None,
            rcv_nxt: SeqNum::new(5000),
        };
        assert!(time_wait_accepts_syn(&old, &syn(5001, None)));
        assert!(!time_wait_accepts_syn(&old, &syn(5000, None)));
        assert!(!time_wait_accepts_syn(&old, &syn(4000, Some(7))));
    }

    #[test]
    fn track_follows_the_newest_timestamp_and_the_highest_end() {
        let first = syn(100, Some(50));
        let mut t = PeerTrack::new(&first);
        assert_eq!(t.rcv_nxt, SeqNum::new(101));
        let data = TcpRepr {
            flags: TcpFlags::FIN,
            seq: SeqNum::new(101),
            payload: b"abc",
            timestamps: Some(TcpTimestamps {
                tsval: 60,
                tsecr: 0,
            }),
            ..first
        };
        t.observe(&data);
        let stale = TcpRepr {
            seq: SeqNum::new(101),
            timestamps: Some(TcpTimestamps {
                tsval: 55,
                tsecr: 0,
            }),
            ..TcpRepr::default()
        };
        t.observe(&stale);
        assert_eq!(t.ts_recent, Some(60));
        assert_eq!(t.rcv_nxt, SeqNum::new(105));
    }
}
