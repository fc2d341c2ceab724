//! Closing (RFC 9293 3.6, 3.10.4, 3.10.7.4 eighth).

use super::*;
use crate::tcp::ConnError;

/// RFC 9293 3.6 (Figure 12): active close, FIN-WAIT-1 -> FIN-WAIT-2 ->
/// TIME-WAIT -> CLOSED after `time_wait` (1 s).
#[test]
fn active_close_through_fin_wait_and_time_wait() {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.expect_state(State::FinWait1);
    s.at(300).inject(ack().seq(1).ack(2));
    s.expect_state(State::FinWait2).expect_nothing();
    s.at(400).inject(fin_ack().seq(1).ack(2));
    s.expect(ack().seq(2).ack(2));
    s.expect_state(State::TimeWait)
        .expect_event(Event::PeerClosed)
        .expect_event(Event::Closed);
    s.at(1399).expect_state(State::TimeWait);
    s.at(1400).expect_state(State::Closed).expect_nothing();
}

/// RFC 9293 3.6: passive close, CLOSE-WAIT -> LAST-ACK -> CLOSED.
#[test]
fn passive_close_through_close_wait_and_last_ack() {
    let mut s = established(cfg());
    s.at(200).inject(fin_ack().seq(1).ack(1));
    s.expect(ack().seq(1).ack(2));
    s.expect_state(State::CloseWait)
        .expect_event(Event::PeerClosed);
    s.app_recv_result(Err(ConnError::Finished));
    s.at(300).app_shutdown();
    s.expect(fin_ack().seq(1).ack(2));
    s.expect_state(State::LastAck);
    s.at(400).inject(ack().seq(2).ack(2));
    s.expect_state(State::Closed).expect_event(Event::Closed);
    s.expect_nothing_until(5000);
}

/// RFC 9293 3.6 (Figure 13): simultaneous close goes through CLOSING.
#[test]
fn simultaneous_close_through_closing() {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.at(210).inject(fin_ack().seq(1).ack(1));
    s.expect(ack().seq(2).ack(2));
    s.expect_state(State::Closing);
    s.at(300).inject(ack().seq(2).ack(2));
    s.expect_state(State::TimeWait);
    s.at(1300).expect_state(State::Closed);
}

/// RFC 9293 3.10.7.4 (seventh, eighth): a FIN carrying data: the data is
/// delivered, then end of stream.
#[test]
fn fin_with_data() {
    let mut s = established(cfg());
    s.at(200).inject(fin_ack().seq(1).ack(1).len(100));
    s.expect(ack().seq(1).ack(102));
    s.expect_state(State::CloseWait);
    s.app_recv(100);
    s.app_recv_result(Err(ConnError::Finished));
}

/// RFC 9293 3.10.4: after our FIN the connection goes on receiving
/// (FIN-WAIT-2 accepts data).
#[test]
fn data_received_after_local_half_close() {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.at(300).inject(ack().seq(1).ack(2));
    s.at(400).inject(ack().seq(1).ack(2).len(100));
    s.expect(ack().seq(2).ack(101));
    s.app_recv(100);
    s.at(500).inject(fin_ack().seq(101).ack(2));
    s.expect(ack().seq(2).ack(102));
    s.expect_state(State::TimeWait);
}

/// RFC 9293 3.10.4, 3.6: in CLOSE-WAIT we may still send.
#[test]
fn data_sent_after_peer_half_close() {
    let mut s = established(cfg());
    s.at(200).inject(fin_ack().seq(1).ack(1));
    s.expect(ack().seq(1).ack(2));
    s.at(300).app_send(100);
    s.expect(ack().seq(1).ack(2).len(100));
    s.at(400).inject(ack().seq(2).ack(101));
    s.app_shutdown();
    s.expect(fin_ack().seq(101).ack(2));
    s.at(500).inject(ack().seq(2).ack(102));
    s.expect_state(State::Closed);
}

/// RFC 9293 3.10.7.4 (eighth): a FIN is processed only once everything
/// before it has arrived.
#[test]
fn out_of_order_fin_waits_for_the_hole() {
    let mut s = established(cfg());
    s.at(200).inject(fin_ack().seq(101).ack(1));
    s.expect(ack().seq(1).ack(1));
    s.expect_state(State::Established);
    s.at(210).inject(ack().seq(1).ack(1).len(100));
    s.expect(ack().seq(1).ack(102));
    s.expect_state(State::CloseWait);
    s.app_recv(100);
    s.app_recv_result(Err(ConnError::Finished));
}

/// RFC 6298 5.4, RFC 9293 3.10.4: an unacknowledged FIN is retransmitted
/// on the retransmission timer.
#[test]
fn unacked_fin_is_retransmitted() {
    let mut s = established(cfg());
    s.at(200).app_shutdown();
    s.expect(fin_ack().seq(1).ack(1));
    s.expect_nothing_until(500);
    s.expect(fin_ack().seq(1).ack(1));
    s.at(550).inject(ack().seq(1).ack(2));
    s.expect_state(State::FinWait2).expect_nothing_until(5000);
}

/// A connection in TIME-WAIT stays for 2 MSL but will never send or take
/// data again: its buffers are given back when it gets there (the receive
/// buffer once the application has read everything), so closed connections
/// cost a few hundred bytes each, not their buffers.
#[test]
fn time_wait_gives_its_buffers_back_once_the_data_is_read() {
    let mut s = established(cfg());
    assert!(s.conn().buffer_memory() >= 2 * 65535);
    s.at(200).inject(ack().seq(1).ack(1).len(100));
    s.expect(ack().seq(1).ack(101));
    s.at(210).app_shutdown();
    s.expect(fin_ack().seq(1).ack(101));
    s.at(300).inject(fin_ack().seq(101).ack(2));
    s.expect(ack().seq(2).ack(102));
    s.expect_state(State::TimeWait);
    // 100 bytes are still unread: the receive buffer stays.
    assert!(s.conn().buffer_memory() >= 65535);
    s.app_recv(100);
    assert_eq!(s.conn().buffer_memory(), 0);
    // A retransmitted FIN is still answered.
    s.at(400).inject(fin_ack().seq(101).ack(2));
    s.expect(ack().seq(2).ack(102));
    s.expect_state(State::TimeWait);
}
