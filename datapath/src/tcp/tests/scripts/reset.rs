//! Resets: RFC 9293 3.10.7.4 (second, fourth) with RFC 5961, aborts
//! (RFC 9293 3.10.5) and closing with unread data (RFC 2525 2.17).

use super::*;
use crate::tcp::ConnError;

/// RFC 5961 3.2: a RST with SEG.SEQ = RCV.NXT resets the connection.
#[test]
fn rst_with_exact_sequence_resets() {
    let mut s = established(cfg());
    s.at(200).inject(rst().seq(1));
    s.expect_state(State::Closed)
        .expect_event(Event::Error(ConnError::Reset));
    s.app_recv_result(Err(ConnError::Reset));
    s.expect_nothing_until(5000);
}

/// RFC 5961 3.2: a RST in the window but not at RCV.NXT gets a challenge
/// ACK and changes nothing.
#[test]
fn rst_in_window_not_exact_gets_challenge_ack() {
    let mut s = established(cfg());
    s.at(200).inject(rst().seq(500));
    s.expect(ack().seq(1).ack(1));
    s.expect_state(State::Established);
    assert_eq!(s.conn().stats().challenge_acks, 1);
}

/// RFC 5961 3.2 / RFC 9293 3.10.7.4 (first): a RST outside the window is
/// dropped silently.
#[test]
fn rst_out_of_window_is_ignored() {
    let mut s = established(cfg());
    s.at(200).inject(rst().seq(70000));
    s.expect_nothing().expect_state(State::Established);
    s.at(210).inject(rst().seq(0));
    s.expect_nothing().expect_state(State::Established);
}

/// RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK; the
/// connection stays.
#[test]
fn syn_in_established_gets_challenge_ack() {
    let mut s = established(cfg());
    s.at(200).inject(syn().seq(500).mss(1000));
    s.expect(ack().seq(1).ack(1));
    s.expect_state(State::Established);
}

/// RFC 9293 3.10.7.4 (second, TIME-WAIT): an acceptable RST closes.
#[test]
fn rst_in_time_wait_closes() {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.at(300).inject(fin_ack().seq(1).ack(2));
    s.expect(ack().seq(2).ack(2));
    s.expect_state(State::TimeWait);
    s.at(400).inject(rst().seq(2));
    s.expect_state(State::Closed)
        .expect_no_event(Event::Error(ConnError::Reset))
        .expect_nothing();
}

/// RFC 9293 3.10.5: ABORT sends <SEQ=SND.NXT><CTL=RST>.
#[test]
fn abort_sends_rst() {
    let mut s = established(cfg());
    s.at(200).app_send(100);
    s.expect(ack().seq(1).len(100));
    s.at(210).app_abort();
    s.expect(rst().seq(101));
    s.expect_state(State::Closed).expect_nothing_until(5000);
}

/// RFC 2525 2.17: close() with unread data resets the connection.
#[test]
fn close_with_unread_data_sends_rst() {
    let mut s = established(cfg());
    s.at(200).inject(ack().seq(1).ack(1).len(100));
    s.expect(ack().ack(101));
    s.at(300).app_close();
    s.expect(rst().seq(1));
    s.expect_state(State::Closed).expect_nothing_until(5000);
}

/// RFC 2525 2.17: data arriving after close() (nobody will read it) is
/// answered with a RST.
#[test]
fn data_after_close_gets_rst() {
    let mut s = established(cfg());
    s.at(200).app_close();
    s.expect(fin_ack().seq(1).ack(1));
    s.at(300).inject(ack().seq(1).ack(2).len(100));
    s.expect(rst_ack().seq(2));
    s.expect_state(State::Closed);
}
