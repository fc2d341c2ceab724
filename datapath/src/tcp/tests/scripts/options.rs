//! Option negotiation: MSS (RFC 9293 3.7.1), window scale and timestamps
//! (RFC 7323), SACK-permitted (RFC 2018).

use super::*;

/// RFC 9293 3.7.1: without an MSS option the peer's MSS is 536.
#[test]
fn mss_defaults_to_536_when_absent() {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(65535).no_mss());
    s.expect(ack().seq(1).ack(1));
    s.at(200).app_send(1200);
    s.expect(ack().seq(1).ack(1).len(536));
    s.expect(ack().seq(537).ack(1).len(536));
    s.expect(ack().seq(1073).ack(1).len(128));
    s.expect_nothing();
}

/// RFC 9293 3.7.1: segments are no larger than the peer's MSS.
#[test]
fn segments_respect_peer_mss() {
    let mut s = established(cfg());
    s.at(200).app_send(2500);
    s.expect(ack().seq(1).ack(1).len(1000));
    s.expect(ack().seq(1001).ack(1).len(1000));
    s.expect(ack().seq(2001).ack(1).len(500));
    s.expect_nothing();
}

/// RFC 7323 1.3, 2.2: window scaling is in force only if both SYNs carried
/// the option. The peer sent none: its window fields are taken as is, and
/// ours are not scaled (default 256 KiB buffer: the field says 65535).
#[test]
fn window_scale_used_only_when_both_sides_send_it() {
    let mut s = Script::new(TcpConfig::default());
    s.at(0).app_connect();
    s.expect(syn().seq(0).ws(ANY));
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(65535).mss(1000));
    s.expect(ack().seq(1).ack(1).win(65535));
    // 1500 bytes, not 1500 << 3: one full segment; the 500 left over wait
    // (sender SWS avoidance, RFC 1122 4.2.3.4).
    s.at(150).inject(ack().seq(1).ack(1).win(1500));
    s.at(200).app_send(3000);
    s.expect(ack().seq(1).ack(1).len(1000));
    s.expect_nothing();
}

/// RFC 7323 2.2, 2.3: with both options, the peer's window field is
/// shifted by its scale (not on the SYN-ACK itself), and ours by our scale
/// (256 KiB buffer: shift 3, field 32768).
#[test]
fn scaled_windows_are_honoured_both_ways() {
    let mut s = Script::new(TcpConfig::default());
    s.at(0).app_connect();
    s.expect(syn().seq(0).ws(3));
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(1000).mss(1000).ws(2));
    s.expect(ack().seq(1).ack(1).win(32768));
    // 500 << 2 = 2000 bytes of window.
    s.at(150).inject(ack().seq(1).ack(1).win(500));
    s.at(200).app_send(3000);
    s.expect(ack().seq(1).ack(1).len(1000));
    s.expect(ack().seq(1001).ack(1).len(1000));
    s.expect_nothing();
}

/// RFC 7323 2.2: the window of a SYN-ACK is never scaled: 1000 bytes.
#[test]
fn syn_ack_window_is_not_scaled() {
    let mut s = Script::new(TcpConfig::default());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(100)
        .inject(syn_ack().seq(0).ack(1).win(1000).mss(1000).ws(4));
    s.expect(ack().seq(1).ack(1));
    s.at(200).app_send(3000);
    s.expect(ack().seq(1).ack(1).len(1000));
    s.expect_nothing();
}

/// RFC 2018 2: SACK blocks are sent only when the peer sent SACK-permitted.
#[test]
fn no_sack_blocks_without_sack_permitted() {
    let mut s = established(cfg());
    s.at(200).inject(ack().seq(1001).ack(1).len(1000));
    s.expect(ack().seq(1).ack(1).no_sack());
}

/// RFC 7323 3.2, 4.3: every segment carries TSval from our clock and
/// echoes the most recent TSval of the peer (TS.Recent) in TSecr.
#[test]
fn timestamps_echo_the_peer_and_follow_our_clock() {
    let mut s = established_ts(cfg());
    s.at(500).inject(ack().seq(1).ack(1).len(100).tsval(450));
    s.expect(ack().seq(1).ack(101).tsval(500).tsecr(450));
    s.at(700).app_send(10);
    s.expect(ack().seq(1).ack(101).len(10).tsval(700).tsecr(450));
    s.at(800).inject(ack().seq(101).ack(11).tsval(790));
    s.at(900).app_send(10);
    s.expect(ack().seq(11).ack(101).len(10).tsval(900).tsecr(790));
}

/// RFC 7323 3.2: a side that did not receive the option in the SYN does
/// not send it.
#[test]
fn no_timestamps_when_peer_did_not_offer() {
    let mut s = established(cfg());
    s.at(200).app_send(10);
    s.expect(ack().seq(1).ack(1).len(10).no_ts());
}
