//! Flow control: zero windows and probes (RFC 9293 3.8.6.1, RFC 1122
//! 4.2.2.17) and the window we advertise (RFC 9293 3.8.6.2, RFC 1122 4.2.3.3).

use super::*;

/// RFC 9293 3.8.6.1: a sender facing a zero window stops sending data,
/// probes after one RTO, backs the probes off exponentially, and resumes
/// when the window opens. (Probes are <SEQ=SND.UNA-1>, no data, as Linux.)
#[test]
fn zero_window_stops_sender_and_probes_with_backoff() {
    let mut s = established(cfg());
    s.at(150).inject(ack().seq(1).ack(1).win(1000));
    s.at(1000).app_send(2000);
    s.expect(ack().seq(1).len(1000));
    s.expect_nothing();
    // Second RTT sample (100 ms): RTO 250 ms.
    s.at(1100).inject(ack().seq(1).ack(1001).win(0));
    s.expect_nothing_until(1350);
    s.expect(ack().seq(1000).ack(1).len(0));
    s.expect_nothing_until(1850);
    s.expect(ack().seq(1000).ack(1).len(0));
    s.expect_nothing_until(2850);
    s.expect(ack().seq(1000).ack(1).len(0));
    s.at(2900).inject(ack().seq(1).ack(1001).win(65535));
    s.expect(ack().seq(1001).len(1000));
    assert!(s.conn().stats().zero_window_probes >= 3);
}

/// RFC 9293 3.8.6.1: the same when the window was already closed when the
/// application wrote: the data must not wait forever for a window update
/// that may be lost.
#[test]
fn zero_window_probe_when_app_writes_into_closed_window() {
    let mut s = established(cfg());
    s.at(150).inject(ack().seq(1).ack(1).win(0));
    s.at(1000).app_send(100);
    s.expect_nothing_until(1300);
    s.expect(ack().seq(0).ack(1).len(0));
}

/// RFC 9293 3.8.6.2.2, 3.10.7.4: a full buffer advertises a zero window;
/// data beyond it is ACKed (window still 0) and dropped; once the
/// application reads, a window update goes out (RFC 1122 4.2.3.3).
#[test]
fn receiver_advertises_zero_window_then_window_update_after_read() {
    let mut s = established_passive(TcpConfig {
        recv_buffer: 2048,
        ..cfg()
    });
    s.at(200).inject(ack().seq(1).ack(1).len(1000));
    s.expect(ack().ack(1001).win(1048));
    s.at(210).inject(ack().seq(1001).ack(1).len(1048));
    s.expect(ack().ack(2049).win(0));
    s.at(300).inject(ack().seq(2049).ack(1).len(100));
    s.expect(ack().ack(2049).win(0));
    s.at(400).app_recv(2048);
    s.expect(ack().ack(2049).win(2048));
}
