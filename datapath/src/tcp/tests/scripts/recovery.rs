//! Loss recovery: the retransmission timer (RFC 6298), fast retransmit
//! (RFC 5681 3.2), NewReno (RFC 6582), SACK (RFC 2018, RFC 2883, RFC 6675).

use super::*;
use crate::tcp::ConnError;

/// RFC 6298 5.4-5.6: on expiry the oldest segment is retransmitted and the
/// RTO doubles (300 ms after the handshake's 100 ms sample: 300, 600, 1200).
#[test]
fn rto_retransmits_with_exponential_backoff() {
    let mut s = established(cfg());
    s.at(1000).app_send(100);
    s.expect(ack().seq(1).ack(1).len(100));
    s.expect_nothing_until(1300);
    s.expect(ack().seq(1).ack(1).len(100));
    s.expect_nothing_until(1900);
    s.expect(ack().seq(1).ack(1).len(100));
    s.expect_nothing_until(3100);
    s.expect(ack().seq(1).ack(1).len(100));
    s.at(3150).inject(ack().seq(1).ack(101));
    s.expect_nothing_until(20000);
}

/// RFC 6298 2.3: a new RTT sample updates SRTT and RTTVAR, and the RTO is
/// SRTT + 4 RTTVAR. Samples 100 ms then 200 ms: SRTT 112.5, RTTVAR 62.5,
/// RTO 362.5 ms.
#[test]
fn rtt_sample_updates_rto() {
    let mut s = established(cfg());
    s.at(1000).app_send(100);
    s.expect(ack().seq(1).len(100));
    s.at(1200).inject(ack().seq(1).ack(101));
    assert_eq!(s.conn().info().srtt, Some(Duration::from_micros(112_500)));
    assert_eq!(s.conn().info().rto, Duration::from_micros(362_500));
    s.at(2000).app_send(100);
    s.expect(ack().seq(101).len(100));
    s.expect_nothing_until(2362);
    s.tolerance(1).at(2363);
    s.expect(ack().seq(101).len(100));
}

/// RFC 9293 3.8.3 (R2), RFC 1122 4.2.3.5: after `max_retransmits`
/// retransmissions without an ACK the connection gives up (TimedOut).
#[test]
fn gives_up_after_max_retransmits() {
    let mut s = established(TcpConfig {
        max_retransmits: 3,
        ..cfg()
    });
    s.at(1000).app_send(100);
    s.expect(ack().seq(1).len(100));
    for at in [1300, 1900, 3100] {
        s.expect_nothing_until(at);
        s.expect(ack().seq(1).len(100));
    }
    s.at(5499).expect_state(State::Established);
    s.at(5500)
        .expect_state(State::Closed)
        .expect_event(Event::Error(ConnError::TimedOut));
    s.app_send_fails(ConnError::TimedOut);
}

/// RFC 5681 3.2: the third duplicate ACK, not the second, triggers a fast
/// retransmit of the first unacknowledged segment.
#[test]
fn fast_retransmit_on_third_duplicate_ack_not_second() {
    let mut s = established(cfg());
    s.at(200).app_send(5000);
    for seq in [1, 1001, 2001, 3001, 4001] {
        s.expect(ack().seq(seq).len(1000));
    }
    s.at(300).inject(ack().seq(1).ack(1001));
    s.at(310).inject(ack().seq(1).ack(1001));
    s.at(320).inject(ack().seq(1).ack(1001));
    s.expect_nothing();
    s.at(330).inject(ack().seq(1).ack(1001));
    s.expect(ack().seq(1001).len(1000));
    assert_eq!(s.conn().stats().fast_retransmits, 1);
    assert!(s.conn().info().in_recovery);
}

/// RFC 6582 3.2 step 5: in recovery, a partial ACK retransmits the next
/// hole at once; the ACK of everything sent before recovery ends it (step 3).
#[test]
fn newreno_partial_ack_retransmits_next_hole() {
    let mut s = established(cfg());
    s.at(200).app_send(5000);
    for seq in [1, 1001, 2001, 3001, 4001] {
        s.expect(ack().seq(seq).len(1000));
    }
    // Segments 1 and 2001 are lost.
    for at in [300, 310, 320] {
        s.at(at).inject(ack().seq(1).ack(1));
    }
    s.expect(ack().seq(1).len(1000));
    s.at(400).inject(ack().seq(1).ack(2001));
    s.expect(ack().seq(2001).len(1000));
    assert!(s.conn().info().in_recovery);
    s.at(450).inject(ack().seq(1).ack(5001));
    assert!(!s.conn().info().in_recovery);
    s.expect_nothing_until(5000);
}

/// RFC 2018 4, RFC 5681 4.2: out-of-order data is acknowledged at once with
/// SACK blocks, the most recently received block first.
#[test]
fn out_of_order_data_gets_sack_blocks_most_recent_first() {
    let mut s = established_sack(cfg_delack());
    s.at(200).inject(ack().seq(1001).ack(1).len(1000));
    s.expect(ack().ack(1).sack(&[(1001, 2001)]));
    s.at(210).inject(ack().seq(3001).ack(1).len(1000));
    s.expect(ack().ack(1).sack(&[(3001, 4001), (1001, 2001)]));
    s.at(220).inject(ack().seq(1).ack(1).len(1000));
    s.expect(ack().ack(2001).sack(&[(3001, 4001)]));
    s.app_recv(2000);
}

/// RFC 2883 4: a duplicate segment is reported in a D-SACK block.
#[test]
fn duplicate_segment_gets_dsack() {
    let mut s = established_sack(cfg());
    s.at(200).inject(ack().seq(1).ack(1).len(1000));
    s.expect(ack().ack(1001).no_sack());
    s.at(300).inject(ack().seq(1).ack(1).len(1000));
    s.expect(ack().ack(1001).sack(&[(1, 1001)]));
}

/// RFC 6675 5, 4 (NextSeg): with SACK the sender retransmits the hole the
/// scoreboard shows lost, and never the SACKed data.
#[test]
fn sack_sender_retransmits_only_the_hole() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(5000);
    for seq in [1, 1001, 2001, 3001, 4001] {
        s.expect(ack().seq(seq).len(1000));
    }
    s.at(300).inject(ack().seq(1).ack(1).sack(&[(1001, 2001)]));
    s.at(310).inject(ack().seq(1).ack(1).sack(&[(1001, 3001)]));
    s.expect_nothing();
    s.at(320).inject(ack().seq(1).ack(1).sack(&[(1001, 4001)]));
    s.expect(ack().seq(1).len(1000));
    s.at(330).inject(ack().seq(1).ack(1).sack(&[(1001, 5001)]));
    s.expect_nothing_until(450);
    s.inject(ack().seq(1).ack(5001));
    s.expect_nothing_until(5000);
}

/// RFC 7323 4.1 and 4.3 with RFC 6298 5.5: after a timeout, an ACK echoing
/// the timestamp of a segment sent before the timeout (as an ACK provoked by a
/// duplicate does) is no RTT sample: it would measure the whole outage. The
/// seeded sweep found RTOs blown up to 120 s this way at 20% loss.
#[test]
fn stale_timestamp_echo_after_a_timeout_is_not_an_rtt_sample() {
    let mut s = established_ts(cfg());
    let srtt = s.conn().info().srtt;
    s.at(1000).app_send(100);
    s.expect(ack().seq(1).len(100));
    let original_tsval = s.last_local_tsval();
    // Handshake sample 100 ms: RTO 300 ms, so the retransmission is at 1300.
    s.expect_nothing_until(1300);
    s.expect(ack().seq(1).len(100));
    s.at(1900)
        .inject(ack().seq(1).ack(101).tsecr(original_tsval));
    assert_eq!(
        s.conn().info().srtt,
        srtt,
        "the 900 ms 'sample' was not taken"
    );
}

/// RFC 8985 6.2: with a single SACK (no third duplicate ACK), RACK declares
/// the segments sent before the SACKed one lost once RACK.rtt plus the
/// reordering window (min_RTT / 4 = 25 ms) has passed since they were sent,
/// and recovery retransmits the first.
#[test]
fn rack_declares_loss_after_the_reordering_window_without_three_dupacks() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(3000);
    for seq in [1, 1001, 2001] {
        s.expect(ack().seq(seq).len(1000));
    }
    // The third segment is SACKed 100 ms later: RACK.rtt = 100 ms.
    s.at(300).inject(ack().seq(1).ack(1).sack(&[(2001, 3001)]));
    s.expect_nothing_until(325);
    s.expect(ack().seq(1).len(1000));
    assert!(s.conn().info().in_recovery);
    assert_eq!(s.conn().stats().rack_lost_bytes, 2000);
}

/// RFC 8985 6.2 step 2 and 6.3: a SACK below one received earlier shows
/// reordering, which keeps a reordering window even in recovery.
#[test]
fn rack_reordering_seen_keeps_the_window_open() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(4000);
    for seq in [1, 1001, 2001, 3001] {
        s.expect(ack().seq(seq).len(1000));
    }
    s.at(300).inject(ack().seq(1).ack(1).sack(&[(3001, 4001)]));
    s.at(301)
        .inject(ack().seq(1).ack(1).sack(&[(2001, 2501), (3001, 4001)]));
    s.expect_nothing_until(325);
    s.expect(ack().seq(1).len(1000));
}

/// RFC 8985 7.2, 7.3: with data in flight and no ACK, a probe goes out
/// after PTO = 2 SRTT (200 ms), before the RTO (300 ms); with nothing new to
/// send it is the highest segment again.
#[test]
fn tail_loss_probe_retransmits_the_last_segment_after_two_srtt() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(3000);
    for seq in [1, 1001, 2001] {
        s.expect(ack().seq(seq).len(1000));
    }
    s.expect_nothing_until(400);
    s.expect(ack().seq(2001).len(1000));
    assert_eq!(s.conn().stats().tlp_probes, 1);
    assert_eq!(s.conn().stats().rtos, 0);
    s.at(450).inject(ack().seq(1).ack(3001));
    s.expect_nothing_until(5000);
    assert_eq!(s.conn().stats().rtos, 0);
}

/// RFC 8985 7.2: with a single segment in flight the probe timeout adds
/// the worst-case delayed ACK (200 ms), which here puts it after the RTO:
/// the RTO fires instead.
#[test]
fn tail_loss_probe_waits_for_a_delayed_ack_with_one_segment_in_flight() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(1000);
    s.expect(ack().seq(1).len(1000));
    s.expect_nothing_until(500);
    s.expect(ack().seq(1).len(1000));
    assert_eq!(s.conn().stats().tlp_probes, 0);
    assert_eq!(s.conn().stats().rtos, 1);
}

/// RFC 8985 7.3: the probe is new data when the receive window allows,
/// even if the congestion window is full.
#[test]
fn tail_loss_probe_sends_new_data_when_the_window_allows() {
    let mut s = established_sack(TcpConfig {
        initial_cwnd_segments: 2,
        mss: 1000,
        ..cfg()
    });
    s.at(200).app_send(5000);
    for seq in [1, 1001] {
        s.expect(ack().seq(seq).len(1000));
    }
    s.expect_nothing_until(400);
    s.expect(ack().seq(2001).len(1000));
    assert_eq!(s.conn().stats().tlp_probes, 1);
}

/// RFC 8985 7.4.1: a D-SACK for a retransmitted probe shows the original
/// arrived: no congestion response.
#[test]
fn tail_loss_probe_dsack_means_no_loss() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(2000);
    s.expect(ack().seq(1).len(1000));
    s.expect(ack().seq(1001).len(1000));
    s.expect_nothing_until(400);
    s.expect(ack().seq(1001).len(1000));
    let cwnd = s.conn().info().cwnd;
    s.at(410).inject(ack().seq(1).ack(2001));
    s.at(420)
        .inject(ack().seq(1).ack(2001).sack(&[(1001, 2001)]));
    assert_eq!(s.conn().stats().tlp_recoveries, 0);
    assert!(s.conn().info().cwnd >= cwnd);
}

/// RFC 8985 7.4.2: an ACK beyond the probe's end without a D-SACK shows
/// the probe repaired a loss: the controller reduces its window once.
#[test]
fn tail_loss_probe_that_repaired_a_loss_reduces_the_window() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(2000);
    s.expect(ack().seq(1).len(1000));
    s.expect(ack().seq(1001).len(1000));
    s.expect_nothing_until(400);
    s.expect(ack().seq(1001).len(1000));
    s.at(405).app_send(1000);
    s.expect(ack().seq(2001).len(1000));
    let cwnd = s.conn().info().cwnd;
    s.at(500).inject(ack().seq(1).ack(3001));
    assert_eq!(s.conn().stats().tlp_recoveries, 1);
    assert!(s.conn().info().cwnd < cwnd);
}

/// A resend after a timeout is cut anew at the MSS and may run past
/// everything sent before: the part beyond the old SND.MAX is new data and
/// gets a record of its own, so delivery accounting (rate samples, RACK)
/// continues for everything after it.
#[test]
fn a_resend_past_snd_max_records_its_new_part() {
    let mut s = established(TcpConfig {
        initial_cwnd_segments: 1,
        mss: 1000,
        ..cfg()
    });
    s.at(200).app_send(100);
    s.expect(ack().seq(1).len(100));
    // More data waits: 900 bytes of window are left, too little for a
    // full segment (sender-side SWS avoidance).
    s.at(210).app_send(2000);
    s.expect_nothing_until(500);
    // RTO: go back to SND.UNA and send a full segment, 900 bytes of it new.
    s.expect(ack().seq(1).len(1000));
    s.at(600).inject(ack().seq(1).ack(1001));
    assert_eq!(s.conn().info().delivered, 1000);
    s.expect(ack().seq(1001).len(1000));
    s.expect(ack().seq(2001).len(100));
    s.at(700).inject(ack().seq(1).ack(2101));
    assert_eq!(s.conn().info().delivered, 2100);
}

/// Pacing: a window controller is paced at 2 x cwnd / SRTT in slow start
/// (Linux's ratio) once it has an RTT from a data ACK. Here cwnd 10 x 1000 B
/// (the first segment did not fill the window, so it did not grow, RFC 7661)
/// and SRTT 100 ms give 200 kB/s with bursts of two segments: the third
/// segment leaves 5 ms after the first two, and the hold is counted.
#[test]
fn pacer_spaces_segments_at_the_controllers_rate_and_counts_holds() {
    let mut s = established(TcpConfig {
        mss: 1000,
        pacing: true,
        ..cfg()
    });
    s.at(200).app_send(1000);
    s.expect(ack().seq(1).len(1000));
    s.at(300).inject(ack().seq(1).ack(1001));
    assert_eq!(s.conn().info().pacing_rate, Some(200_000));
    s.app_send(3000);
    s.expect(ack().seq(1001).len(1000));
    s.expect(ack().seq(2001).len(1000));
    s.expect_nothing_until(305);
    s.expect(ack().seq(3001).len(1000));
    assert_eq!(s.conn().stats().pacing_holds, 1);
}

/// Eight segments, the first lost and fast-retransmitted (SACKs when
/// `sack`), the full ACK at RecoveryPoint = 8001 ends that recovery (cwnd
/// 4000 after NewReno's halving), and four new segments leave: 8001 to
/// 12001.
fn one_recovery_then_four_new_segments(s: &mut Script, sack: bool) {
    s.at(200).app_send(8000);
    for seq in (0..8).map(|k| 1 + 1000 * k) {
        s.expect(ack().seq(seq).len(1000));
    }
    for (t, end) in [(300, 2001), (301, 3001), (302, 4001)] {
        let dup = ack().seq(1).ack(1);
        s.at(t)
            .inject(if sack { dup.sack(&[(1001, end)]) } else { dup });
    }
    s.expect(ack().seq(1).len(1000));
    s.at(400).inject(ack().seq(1).ack(8001));
    assert!(!s.conn().info().in_recovery);
    s.at(410).app_send(4000);
    for seq in [8001, 9001, 10001, 11001] {
        s.expect(ack().seq(seq).len(1000));
    }
}

/// RFC 6675 5 and 5.1: with SACK, a loss of the first segment sent after the
/// last recovery began (the ACK stands exactly at the old RecoveryPoint)
/// starts a new fast recovery at the third duplicate ACK. RFC 6582 4.1's
/// "ACK beyond recover" rule is for NewReno without SACK; applied here it
/// left the hole to the 200 ms RTO (13 RTOs in 3 s on a 50 us veth link at
/// 1% loss).
#[test]
fn sack_loss_at_the_old_recovery_point_starts_a_new_recovery() {
    let mut s = established_sack(cfg());
    one_recovery_then_four_new_segments(&mut s, true);
    // 8001 is lost: three duplicate ACKs at the old RecoveryPoint.
    for (t, end) in [(500, 10001), (501, 11001), (502, 12001)] {
        s.at(t).inject(ack().seq(1).ack(8001).sack(&[(9001, end)]));
    }
    s.expect(ack().seq(8001).len(1000));
    assert!(s.conn().info().in_recovery);
    assert_eq!(s.conn().stats().fast_retransmits, 2);
    assert_eq!(s.conn().stats().rtos, 0);
}

/// RFC 6582 4.1: without SACK, duplicate ACKs at the old `recover` may be
/// echoes of the last episode's retransmissions, so they start no new fast
/// retransmit; the timer repairs that loss.
#[test]
fn newreno_without_sack_needs_an_ack_beyond_recover_for_a_new_recovery() {
    let mut s = established(cfg());
    one_recovery_then_four_new_segments(&mut s, false);
    for t in [500, 501, 502] {
        s.at(t).inject(ack().seq(1).ack(8001));
    }
    s.expect_nothing_until(600);
    assert_eq!(s.conn().stats().fast_retransmits, 1);
}

/// RFC 8985 6.2 with RFC 6675 5.1, as Linux's loss state: after a timeout,
/// a retransmission that RACK finds lost again is resent once RACK's
/// reordering window has passed, not left to a second, backed-off timeout.
/// (A new recovery phase still waits for RecoveryPoint, RFC 6675 5.1.)
#[test]
fn after_a_timeout_a_resend_lost_again_is_resent_without_a_second_timeout() {
    let mut s = established_sack(cfg());
    s.at(200).app_send(4000);
    for seq in [1, 1001, 2001, 3001] {
        s.expect(ack().seq(seq).len(1000));
    }
    // Everything is lost: the tail loss probe (2 SRTT) resends the last
    // segment and is lost too; the RTO (300 ms after the probe) resends the
    // first with a window of one.
    s.expect_nothing_until(400);
    s.expect(ack().seq(3001).len(1000));
    s.expect_nothing_until(700);
    s.expect(ack().seq(1).len(1000));
    s.at(820).inject(ack().seq(1).ack(1001));
    // cwnd 2: the next two go out again.
    s.expect(ack().seq(1001).len(1000));
    s.expect(ack().seq(2001).len(1000));
    // The resend of 1001 is lost; 2001 arrives (SACKed) one min RTT later
    // (sooner would be ambiguous: the original's delivery, RFC 8985 6.2).
    s.at(920)
        .inject(ack().seq(1).ack(1001).sack(&[(2001, 3001)]));
    // RACK: 1001 left with 2001, below it; once RACK.rtt (100 ms) plus the
    // reordering window (min RTT / 4) has passed, 1001 is lost and resent,
    // long before the backed-off RTO (600 ms after 820).
    s.at(1000).tolerance(80);
    s.expect(ack().seq(1001).len(1000));
    assert_eq!(s.conn().stats().rtos, 1);
}

/// A CUBIC connection sends four segments; three SACKs make it fast-
/// retransmit the first. Returns the window before the reduction.
fn cubic_fast_retransmit_of_the_first_of_four() -> (Script, usize) {
    let mut s = established_sack(TcpConfig {
        congestion_control: crate::cc::Algorithm::Cubic,
        ..cfg()
    });
    s.at(200).app_send(4000);
    for seq in [1, 1001, 2001, 3001] {
        s.expect(ack().seq(seq).len(1000));
    }
    let before = s.conn().info().cwnd;
    for (t, end) in [(300, 2001), (301, 3001), (302, 4001)] {
        s.at(t).inject(ack().seq(1).ack(1).sack(&[(1001, end)]));
    }
    s.expect(ack().seq(1).len(1000));
    assert!(s.conn().info().cwnd < before, "reduced on the loss");
    (s, before)
}

/// RFC 2883 4 with RFC 9438 4.9: the first segment was only delayed; its
/// fast retransmission arrives as a duplicate, the receiver reports it with
/// a D-SACK, and CUBIC restores the window it had before the reduction.
#[test]
fn dsack_of_every_retransmission_undoes_the_reduction() {
    let (mut s, before) = cubic_fast_retransmit_of_the_first_of_four();
    // The original arrives: everything is acknowledged; then the
    // retransmission arrives too and is reported as a duplicate.
    s.at(310).inject(ack().seq(1).ack(4001));
    s.at(400).inject(ack().seq(1).ack(4001).sack(&[(1, 1001)]));
    assert_eq!(s.conn().stats().spurious_undos, 1);
    assert!(s.conn().info().cwnd >= before, "the reduction was undone");
}

/// A D-SACK for something the episode did not retransmit (the network
/// duplicated a segment) undoes nothing.
#[test]
fn dsack_of_an_original_segment_undoes_nothing() {
    let (mut s, before) = cubic_fast_retransmit_of_the_first_of_four();
    s.at(400)
        .inject(ack().seq(1).ack(4001).sack(&[(2001, 3001)]));
    assert_eq!(s.conn().stats().spurious_undos, 0);
    assert!(s.conn().info().cwnd < before);
}
