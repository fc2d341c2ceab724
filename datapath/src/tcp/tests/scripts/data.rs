//! Data and acknowledgments (RFC 9293 3.10.7.4), delayed ACKs (RFC 1122
//! 4.2.3.2, RFC 5681 4.2) and Nagle (RFC 1122 4.2.3.4).

use super::*;

/// RFC 9293 3.10.7.4 (seventh): in-order data is delivered and acknowledged.
#[test]
fn in_order_data_is_acked_and_readable() {
    let mut s = established(cfg());
    s.at(200).inject(ack().seq(1).ack(1).len(300));
    s.expect(ack().seq(1).ack(301));
    s.expect_event(Event::Readable);
    s.app_recv(300);
    s.at(210).inject(ack().seq(301).ack(1).len(300));
    s.expect(ack().seq(1).ack(601));
    s.app_recv(300);
}

/// RFC 9293 3.8.6, 3.10.7.3: after an active open the window we advertise
/// is our free receive buffer (65535, then 65535 - 300 after 300 bytes),
/// whatever the peer's ISN. REMOTE_ISN is 256 below 2^32.
#[test]
fn advertised_window_is_free_buffer_after_active_open() {
    let mut s = established(cfg());
    s.at(200).inject(ack().seq(1).ack(1).len(300));
    s.expect(ack().seq(1).ack(301).win(65535 - 300));
    s.app_recv(300);
}

/// RFC 9293 3.10.7.4 (fifth): one cumulative ACK acknowledges every segment
/// below it; nothing is retransmitted afterwards.
#[test]
fn cumulative_ack_covers_all_segments() {
    let mut s = established(cfg());
    s.at(200).app_send(3000);
    s.expect(ack().seq(1).len(1000));
    s.expect(ack().seq(1001).len(1000));
    s.expect(ack().seq(2001).len(1000));
    s.at(300).inject(ack().seq(1).ack(3001));
    s.expect_event(Event::Writable);
    assert_eq!(s.conn().info().bytes_in_flight, 0);
    s.expect_nothing_until(10000);
}

/// RFC 9293 3.10.7.4 (first, "segments with higher beginning sequence
/// numbers"): data beyond the window is trimmed; the rest is kept.
#[test]
fn data_beyond_window_is_trimmed() {
    let mut s = established_passive(TcpConfig {
        recv_buffer: 2048,
        ..cfg()
    });
    s.at(200).inject(ack().seq(1).ack(1).len(1000));
    s.expect(ack().seq(1).ack(1001).win(1048));
    s.at(210).inject(ack().seq(1001).ack(1).len(1500));
    s.expect(ack().seq(1).ack(2049).win(0));
    s.app_recv(2048);
}

/// RFC 9293 3.10.7.4 (first): an old duplicate is not acceptable; it is
/// answered with an ACK and dropped.
#[test]
fn old_duplicate_data_is_reacked() {
    let mut s = established(cfg());
    s.at(200).inject(ack().seq(1).ack(1).len(100));
    s.expect(ack().seq(1).ack(101));
    s.at(300).inject(ack().seq(1).ack(1).len(100));
    s.expect(ack().seq(1).ack(101));
    s.app_recv(100);
}

/// RFC 9293 3.10.7.4 (fifth): an ACK of something not yet sent is answered
/// with an ACK, and the segment (its data too) is dropped.
#[test]
fn ack_of_unsent_data_is_acked_and_dropped() {
    let mut s = established(cfg());
    s.at(200).app_send(100);
    s.expect(ack().seq(1).ack(1).len(100));
    s.at(250).inject(ack().seq(1).ack(500).len(50));
    s.expect(ack().seq(101).ack(1));
    s.app_recv(0);
    assert_eq!(s.conn().info().bytes_in_flight, 100);
}

/// RFC 1122 4.2.3.2, RFC 5681 4.2: one segment alone is acknowledged when
/// the delayed-ACK timer (40 ms) expires.
#[test]
fn single_segment_acked_after_delayed_ack_timeout() {
    let mut s = established(cfg_delack());
    s.at(200).inject(ack().seq(1).ack(1).len(500));
    s.expect_nothing_until(240);
    s.expect(ack().seq(1).ack(501));
}

/// RFC 5681 4.2: an ACK for at least every second full-sized segment.
#[test]
fn second_full_segment_is_acked_at_once() {
    let mut s = established(cfg_delack());
    s.at(200).inject(ack().seq(1).ack(1).len(1460));
    s.expect_nothing();
    s.at(210).inject(ack().seq(1461).ack(1).len(1460));
    s.expect(ack().seq(1).ack(2921));
    s.expect_nothing_until(1000);
}

/// Quick ACKs at the start (Linux quickack mode, within RFC 5681 4.2's
/// SHOULD): the first `initial_quickacks` segments are acknowledged at once,
/// later ones are delayed.
#[test]
fn first_segments_are_quick_acked() {
    let mut s = established(TcpConfig {
        initial_quickacks: 2,
        ..cfg()
    });
    s.at(200).inject(ack().seq(1).ack(1).len(100));
    s.expect(ack().ack(101));
    s.at(300).inject(ack().seq(101).ack(1).len(100));
    s.expect(ack().ack(201));
    s.at(400).inject(ack().seq(201).ack(1).len(100));
    s.expect_nothing_until(440);
    s.expect(ack().ack(301));
}

/// RFC 5681 4.2: an out-of-order segment, and the one filling the hole,
/// are acknowledged at once, delayed ACKs or not.
#[test]
fn out_of_order_and_hole_filling_segments_acked_at_once() {
    let mut s = established(cfg_delack());
    s.at(200).inject(ack().seq(1001).ack(1).len(1000));
    s.expect(ack().seq(1).ack(1));
    s.at(210).inject(ack().seq(1).ack(1).len(1000));
    s.expect(ack().seq(1).ack(2001));
    s.app_recv(2000);
}

/// RFC 1122 4.2.3.4 (Nagle): with data unacknowledged, a second small
/// write waits for the ACK.
#[test]
fn nagle_holds_small_write_until_ack() {
    let mut s = established(TcpConfig {
        nodelay: false,
        ..cfg()
    });
    s.at(200).app_send(10);
    s.expect(ack().seq(1).len(10));
    s.at(210).app_send(10);
    s.expect_nothing_until(300);
    s.inject(ack().seq(1).ack(11));
    s.expect(ack().seq(11).len(10));
}

/// RFC 1122 4.2.3.4: Nagle lets a full-sized segment go even with data
/// unacknowledged.
#[test]
fn nagle_sends_full_segment_with_data_in_flight() {
    let mut s = established(TcpConfig {
        nodelay: false,
        ..cfg()
    });
    s.at(200).app_send(10);
    s.expect(ack().seq(1).len(10));
    s.at(210).app_send(1200);
    s.expect(ack().seq(11).len(1000));
    s.expect_nothing_until(300);
}

/// With Nagle off (TCP_NODELAY), small writes leave at once.
#[test]
fn nodelay_sends_small_writes_at_once() {
    let mut s = established(cfg());
    s.at(200).app_send(10);
    s.expect(ack().seq(1).len(10));
    s.at(210).app_send(10);
    s.expect(ack().seq(11).len(10).psh());
}
