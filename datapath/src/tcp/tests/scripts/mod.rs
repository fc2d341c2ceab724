//! Conformance scripts in the manner of packetdrill: one connection under
//! test, the remote peer played by the script, virtual time. Each script
//! names the behaviour it checks and cites the RFC section that requires it.
//! The harness is in [`harness`]; a script reads
//!
//! ```text
//! s.at(0).app_connect();
//! s.expect(syn().seq(0).mss(1460).ws(ANY).sack_perm().ts());
//! s.at(100).inject(syn_ack().seq(0).ack(1).win(65535).mss(1000));
//! s.expect(ack().seq(1).ack(1));
//! ```
//!
//! A script that shows what we believe is a bug in the connection keeps the
//! RFC's expectation and is `#[ignore = "BUG: ..."]`.

mod harness;

mod close;
mod data;
mod handshake;
mod options;
mod recovery;
mod reset;
mod states;
mod timers;
mod window;

use harness::*;

use crate::tcp::{Event, State, TcpConfig};
use crate::time::Duration;

/// Short timers and a receive buffer that needs no window scaling (its
/// window field is the free space as is).
/// Scripts check RFC behaviour segment by segment: NewReno's window
/// arithmetic, and no pacing (which only spreads the same segments in time;
/// it has tests of its own).
fn cfg() -> TcpConfig {
    TcpConfig {
        recv_buffer: 65535,
        time_wait: Duration::from_secs(1),
        congestion_control: crate::cc::Algorithm::NewReno,
        pacing: false,
        ..TcpConfig::default()
    }
}

/// `cfg()` with every received segment subject to the delayed-ACK rules
/// (no quick ACKs at the start).
fn cfg_delack() -> TcpConfig {
    TcpConfig {
        initial_quickacks: 0,
        ..cfg()
    }
}

/// Active open at 0 ms; the SYN-ACK arrives at 100 ms (one RTT sample of
/// 100 ms: SRTT 100, RTTVAR 50, RTO 300 ms) with MSS 1000 and no other
/// option, window 65535.
fn established(cfg: TcpConfig) -> Script {
    let mut s = Script::new(cfg);
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(65535).mss(1000));
    s.expect(ack().seq(1).ack(1));
    s.expect_state(State::Established)
        .expect_event(Event::Connected);
    s
}

/// Passive open: the peer's SYN at 0 ms (MSS 1000, no other option), our
/// SYN-ACK, the peer's ACK at 100 ms.
fn established_passive(cfg: TcpConfig) -> Script {
    let mut s = Script::new(cfg);
    s.at(0).app_listen();
    s.inject(syn().seq(0).win(65535).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.at(100).inject(ack().seq(1).ack(1).win(65535));
    s.expect_state(State::Established)
        .expect_event(Event::Connected);
    s
}

/// As [`established`], the peer also permitting SACK.
fn established_sack(cfg: TcpConfig) -> Script {
    let mut s = Script::new(cfg);
    s.at(0).app_connect();
    s.expect(syn().seq(0).sack_perm());
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(65535).mss(1000).sack_perm());
    s.expect(ack().seq(1).ack(1).no_sack());
    s.expect_state(State::Established);
    s
}

/// As [`established`], with timestamps (MSS 1012, so 1000 bytes of payload
/// beside the 12-byte option); the SYN-ACK's TSval is 100.
fn established_ts(cfg: TcpConfig) -> Script {
    let mut s = Script::new(cfg);
    s.at(0).app_connect();
    s.expect(syn().seq(0).tsval(0).tsecr(0));
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(65535).mss(1012).tsval(100));
    s.expect(ack().seq(1).ack(1).tsval(100).tsecr(100));
    s.expect_state(State::Established);
    s
}
