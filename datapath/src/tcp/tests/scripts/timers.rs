//! TIME-WAIT (RFC 9293 3.6, 3.10.7.4), keepalive (RFC 1122 4.2.3.6) and
//! PAWS (RFC 7323 5).

use super::*;
use crate::tcp::{ConnError, Keepalive};

/// RFC 9293 3.10.7.4 (TIME-WAIT, eighth): a retransmitted FIN is ACKed
/// again and the 2 MSL timer restarts.
#[test]
fn retransmitted_fin_in_time_wait_is_reacked_and_restarts_timer() {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.at(300).inject(fin_ack().seq(1).ack(2));
    s.expect(ack().seq(2).ack(2));
    s.expect_state(State::TimeWait);
    s.at(800).inject(fin_ack().seq(1).ack(2));
    s.expect(ack().seq(2).ack(2));
    s.at(1300).expect_state(State::TimeWait);
    s.at(1799).expect_state(State::TimeWait);
    s.at(1800).expect_state(State::Closed).expect_nothing();
}

fn keepalive_cfg() -> TcpConfig {
    TcpConfig {
        keepalive: Some(Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(1),
            probes: 3,
        }),
        ..cfg()
    }
}

/// RFC 1122 4.2.3.6: after `idle` without news, probes <SEQ=SND.NXT-1>
/// every `interval`; after `probes` unanswered, the connection is dead.
#[test]
fn keepalive_probes_then_aborts_when_unanswered() {
    let mut s = established(keepalive_cfg());
    s.expect_nothing_until(10100);
    for at in [10100, 11100, 12100] {
        s.at(at);
        s.expect(ack().seq(0).ack(1).len(0));
        s.expect_state(State::Established);
    }
    s.expect_nothing_until(13100);
    s.expect_state(State::Closed)
        .expect_event(Event::Error(ConnError::KeepaliveTimeout));
}

/// RFC 1122 4.2.3.6: an answered probe keeps the connection, and the idle
/// time starts again from the answer.
#[test]
fn answered_keepalive_keeps_connection() {
    let mut s = established(keepalive_cfg());
    s.expect_nothing_until(10100);
    s.expect(ack().seq(0).ack(1).len(0));
    s.at(10150).inject(ack().seq(1).ack(1));
    s.expect_nothing_until(20150);
    s.expect(ack().seq(0).ack(1).len(0));
    s.expect_state(State::Established);
}

/// RFC 7323 5.3: a segment whose TSval is older than TS.Recent is dropped
/// and answered with an ACK (echoing TS.Recent).
#[test]
fn paws_drops_old_timestamp_and_acks() {
    let mut s = established_ts(cfg());
    s.at(1000).inject(ack().seq(1).ack(1).len(100).tsval(1000));
    s.expect(ack().ack(101).tsecr(1000));
    s.at(1100).inject(ack().seq(101).ack(1).len(100).tsval(500));
    s.expect(ack().ack(101).tsecr(1000));
    s.app_recv(100);
    assert_eq!(s.conn().stats().dropped_paws, 1);
}
