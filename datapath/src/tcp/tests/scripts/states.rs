//! One fixture per state of RFC 9293 3.3.2, and what RST and FIN do in each
//! (RFC 9293 3.10.7, with RFC 5961 3.2 for RST).
//!
//! Each fixture returns a script whose connection is in that state, with the
//! peer's next sequence number (relative) that an exact RST or FIN must carry.

use super::*;
use crate::tcp::ConnError;

fn listen() -> (Script, u32) {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.expect_state(State::Listen);
    (s, 0)
}

fn syn_sent() -> (Script, u32) {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.expect_state(State::SynSent);
    (s, 0)
}

fn syn_received() -> (Script, u32) {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.inject(syn().seq(0).win(65535).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.expect_state(State::SynReceived);
    (s, 1)
}

fn fin_wait_1() -> (Script, u32) {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.expect_state(State::FinWait1);
    (s, 1)
}

fn fin_wait_2() -> (Script, u32) {
    let (mut s, next) = fin_wait_1();
    s.at(210).inject(ack().seq(1).ack(2));
    s.expect_state(State::FinWait2);
    (s, next)
}

fn close_wait() -> (Script, u32) {
    let mut s = established(cfg());
    s.at(200).inject(fin_ack().seq(1).ack(1));
    s.expect(ack().seq(1).ack(2));
    s.expect_state(State::CloseWait);
    (s, 2)
}

fn closing() -> (Script, u32) {
    let (mut s, _) = fin_wait_1();
    s.at(210).inject(fin_ack().seq(1).ack(1));
    s.expect(ack().seq(2).ack(2));
    s.expect_state(State::Closing);
    (s, 2)
}

fn last_ack() -> (Script, u32) {
    let (mut s, next) = close_wait();
    s.at(300).app_shutdown();
    s.expect(fin_ack().seq(1).ack(2));
    s.expect_state(State::LastAck);
    (s, next)
}

fn time_wait() -> (Script, u32) {
    let (mut s, _) = fin_wait_2();
    s.at(220).inject(fin_ack().seq(1).ack(2));
    s.expect(ack().seq(2).ack(2));
    s.expect_state(State::TimeWait);
    (s, 2)
}

/// RFC 9293 3.10.7.2: a RST to LISTEN is ignored; nothing is sent.
#[test]
fn rst_in_listen_is_ignored() {
    let (mut s, _) = listen();
    s.at(10).inject(rst().seq(0));
    s.expect_nothing_until(5000);
}

/// RFC 9293 3.10.7.3: in SYN-SENT a RST is acceptable only with an ACK of our
/// SYN; then the connection is refused.
#[test]
fn rst_with_ack_in_syn_sent_refuses() {
    let (mut s, _) = syn_sent();
    s.at(10).inject(rst_ack().seq(0).ack(1));
    s.expect_state(State::Closed)
        .expect_event(Event::Error(ConnError::Refused));
}

/// RFC 9293 3.10.7.4 second, SYN-RECEIVED, with RFC 5961 3.2: an exact RST
/// ends the embryonic connection.
#[test]
fn rst_in_syn_received_closes() {
    let (mut s, next) = syn_received();
    s.at(10).inject(rst().seq(next));
    s.expect_state(State::Closed);
    s.expect_nothing_until(5000);
}

/// RFC 9293 3.10.7.4 second: in ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 and
/// CLOSE-WAIT an exact RST resets the connection and the application hears
/// "connection reset".
#[test]
fn rst_in_synchronized_states_with_data_outstanding_resets() {
    for (name, fixture) in [
        ("FIN-WAIT-1", fin_wait_1 as fn() -> (Script, u32)),
        ("FIN-WAIT-2", fin_wait_2),
        ("CLOSE-WAIT", close_wait),
    ] {
        let (mut s, next) = fixture();
        s.at(400).inject(rst().seq(next));
        s.expect_state(State::Closed)
            .expect_event(Event::Error(ConnError::Reset));
        assert_eq!(s.conn().error(), Some(ConnError::Reset), "{name}");
    }
}

/// RFC 9293 3.10.7.4 second: in CLOSING, LAST-ACK and TIME-WAIT an exact RST
/// just ends the connection; both sides had already closed.
#[test]
fn rst_in_closing_last_ack_and_time_wait_closes_without_error() {
    for (name, fixture) in [
        ("CLOSING", closing as fn() -> (Script, u32)),
        ("LAST-ACK", last_ack),
        ("TIME-WAIT", time_wait),
    ] {
        let (mut s, next) = fixture();
        s.at(400).inject(rst().seq(next));
        s.expect_state(State::Closed);
        assert_eq!(s.conn().error(), None, "{name}");
        s.expect_nothing_until(5000);
    }
}

/// RFC 5961 3.2 in every synchronized state: a RST inside the window but not
/// at RCV.NXT draws a challenge ACK and changes nothing.
#[test]
fn inexact_rst_in_every_synchronized_state_gets_a_challenge_ack() {
    for (state, fixture) in [
        (State::FinWait1, fin_wait_1 as fn() -> (Script, u32)),
        (State::FinWait2, fin_wait_2),
        (State::CloseWait, close_wait),
        (State::Closing, closing),
        (State::LastAck, last_ack),
    ] {
        let (mut s, next) = fixture();
        let before = s.conn().stats().challenge_acks;
        s.at(400).inject(rst().seq(next + 100));
        s.expect_state(state);
        assert_eq!(s.conn().stats().challenge_acks, before + 1, "{state}");
    }
}

/// RFC 9293 3.10.7.4 eighth: a FIN in FIN-WAIT-2 ends in TIME-WAIT, which
/// lasts 2*MSL and then closes.
#[test]
fn fin_in_fin_wait_2_enters_time_wait_for_two_msl() {
    let (mut s, _) = time_wait();
    s.at(1219).expect_state(State::TimeWait);
    s.at(1221).expect_state(State::Closed);
}

/// RFC 9293 3.10.7.4 eighth: in CLOSE-WAIT, CLOSING and LAST-ACK a FIN has
/// been seen already; a retransmitted one is acknowledged again and the state
/// stays.
#[test]
fn retransmitted_fin_in_close_wait_closing_and_last_ack_is_acknowledged_again() {
    for (state, fixture, our_seq) in [
        (State::CloseWait, close_wait as fn() -> (Script, u32), 1),
        (State::Closing, closing, 2),
        (State::LastAck, last_ack, 2),
    ] {
        let (mut s, _) = fixture();
        let ack_seq = if state == State::Closing { 2 } else { 1 };
        s.at(400).inject(fin_ack().seq(1).ack(ack_seq));
        s.expect(ack().seq(our_seq).ack(2));
        s.expect_state(state);
    }
}

/// RFC 9293 3.10.7.4 fifth: our FIN acknowledged in LAST-ACK closes the
/// connection, and the application hears of an orderly close.
#[test]
fn ack_of_our_fin_in_last_ack_closes() {
    let (mut s, _) = last_ack();
    s.at(400).inject(ack().seq(2).ack(2));
    s.expect_state(State::Closed).expect_event(Event::Closed);
}
