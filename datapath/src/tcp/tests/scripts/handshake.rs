//! Opening a connection (RFC 9293 3.5, 3.10.7.2, 3.10.7.3).

use super::*;
use crate::tcp::ConnError;

/// RFC 9293 3.5 (Figure 6) and 3.10.7.3: SYN with our options, SYN-ACK,
/// ACK; ESTABLISHED.
#[test]
fn active_open_three_way_handshake() {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect_state(State::SynSent);
    s.expect(syn().seq(0).mss(1460).ws(ANY).sack_perm().ts());
    s.at(50)
        .inject(syn_ack().seq(0).ack(1).win(65535).mss(1460));
    s.expect(ack().seq(1).ack(1).no_ts().no_sack());
    s.expect_state(State::Established)
        .expect_event(Event::Connected);
    s.expect_nothing_until(5000);
}

/// RFC 9293 3.10.7.2: a SYN in LISTEN is answered with a SYN-ACK offering
/// only the options the SYN offered (RFC 7323 1.3, 3.2; RFC 2018 2); the
/// ACK completes the handshake (3.10.7.4 fifth).
#[test]
fn passive_open_from_listen() {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.expect_state(State::Listen).expect_nothing();
    s.at(10).inject(syn().seq(0).win(65535).mss(1000));
    s.expect(
        syn_ack()
            .seq(0)
            .ack(1)
            .mss(1460)
            .no_ws()
            .no_sack_perm()
            .no_ts(),
    );
    s.expect_state(State::SynReceived);
    s.at(60).inject(ack().seq(1).ack(1));
    s.expect_state(State::Established)
        .expect_event(Event::Connected)
        .expect_nothing();
    s.app_send(10);
    s.expect(ack().seq(1).ack(1).len(10));
}

/// RFC 7323 3.2, RFC 2018 2: a passive opener echoes the options offered;
/// its SYN-ACK echoes the SYN's TSval.
#[test]
fn passive_open_echoes_offered_options() {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.at(10)
        .inject(syn().seq(0).mss(1000).ws(7).sack_perm().tsval(777));
    s.expect(
        syn_ack()
            .seq(0)
            .ack(1)
            .mss(1460)
            .ws(ANY)
            .sack_perm()
            .tsecr(777),
    );
}

/// RFC 9293 3.5 (Figure 8): simultaneous open. Our SYN crosses the peer's;
/// we answer with SYN-ACK and enter SYN-RECEIVED; the peer's SYN-ACK takes
/// us to ESTABLISHED.
#[test]
fn simultaneous_open() {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(10).inject(syn().seq(0).win(65535).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.expect_state(State::SynReceived);
    s.at(20)
        .inject(syn_ack().seq(0).ack(1).win(65535).mss(1000));
    s.expect_state(State::Established)
        .expect_event(Event::Connected);
}

/// RFC 6298 5.5 and 5.7 with RFC 1122 4.2.3.5 (R2 for a SYN): the SYN is
/// retransmitted after the initial 1 s RTO, doubling each time, and the
/// connection gives up after `syn_retries` retransmissions.
#[test]
fn syn_retransmitted_with_backoff_then_times_out() {
    let mut s = Script::new(TcpConfig {
        syn_retries: 3,
        ..cfg()
    });
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.expect_nothing_until(1000);
    s.expect(syn().seq(0));
    s.expect_nothing_until(3000);
    s.expect(syn().seq(0));
    s.expect_nothing_until(7000);
    s.expect(syn().seq(0));
    s.expect_state(State::SynSent);
    s.expect_nothing_until(15000);
    s.expect_state(State::Closed)
        .expect_event(Event::Error(ConnError::TimedOut));
    s.expect_nothing_until(60000);
}

/// RFC 9293 3.8.1 / RFC 6298 5: our SYN-ACK is lost; it is retransmitted
/// when the retransmission timer (initial 1 s) expires.
#[test]
fn lost_syn_ack_is_retransmitted_after_rto() {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.inject(syn().seq(0).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.expect_nothing_until(1000);
    s.expect(syn_ack().seq(0).ack(1));
    s.at(1100).inject(ack().seq(1).ack(1));
    s.expect_state(State::Established)
        .expect_nothing_until(5000);
}

/// RFC 9293 3.10.7.4 (SYN-RECEIVED): the peer's SYN again means our
/// SYN-ACK was lost; it is sent again at once.
#[test]
fn retransmitted_syn_in_syn_received_gets_syn_ack() {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.inject(syn().seq(0).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.at(500).inject(syn().seq(0).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.expect_state(State::SynReceived);
}

/// RFC 9293 3.10.7.3 (second): a RST acknowledging our SYN refuses the
/// connection; nothing more is sent.
#[test]
fn rst_in_reply_to_syn_means_refused() {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(10).inject(rst_ack().seq(0).ack(1));
    s.expect_state(State::Closed)
        .expect_event(Event::Error(ConnError::Refused));
    s.expect_nothing_until(10000);
}

/// RFC 9293 3.10.7.3 (second): in SYN-SENT a RST without an ACK is dropped.
#[test]
fn rst_without_ack_in_syn_sent_is_ignored() {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(10).inject(rst().seq(0));
    s.expect_state(State::SynSent).expect_nothing_until(1000);
    s.expect(syn().seq(0));
}

/// RFC 9293 3.10.7.3 (first): a SYN-ACK acknowledging something we never
/// sent gets <SEQ=SEG.ACK><CTL=RST>; we stay in SYN-SENT.
#[test]
fn bad_ack_in_syn_sent_gets_rst() {
    let mut s = Script::new(cfg());
    s.at(0).app_connect();
    s.expect(syn().seq(0));
    s.at(10).inject(syn_ack().seq(0).ack(5000).mss(1000));
    s.expect(rst().seq(5000));
    s.expect_state(State::SynSent);
    s.at(20).inject(syn_ack().seq(0).ack(1).mss(1000));
    s.expect(ack().seq(1).ack(1));
    s.expect_state(State::Established);
}

/// RFC 9293 3.10.7.2 (second): an ACK in LISTEN gets <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn ack_in_listen_gets_rst() {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.inject(ack().seq(1).ack(1234));
    s.expect(rst().seq(1234));
}

/// RFC 9293 3.10.7.4 (fifth, SYN-RECEIVED): an ACK outside
/// SND.UNA < SEG.ACK =< SND.NXT gets <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn bad_ack_in_syn_received_gets_rst() {
    let mut s = Script::new(cfg());
    s.at(0).app_listen();
    s.inject(syn().seq(0).mss(1000));
    s.expect(syn_ack().seq(0).ack(1));
    s.at(10).inject(ack().seq(1).ack(3000));
    s.expect(rst().seq(3000));
    s.expect_state(State::SynReceived);
    s.at(20).inject(ack().seq(1).ack(1));
    s.expect_state(State::Established);
}
