//! Pair tests: two connections over the simulator, virtual time.

use super::pair::{Pair, events};
use crate::sim::LinkProfile;
use crate::tcp::{ConnError, Event, State, TcpConfig};
use crate::time::Duration;

/// Moves `data` from one side to the other through `send`/`recv`, both ways
/// at once, until everything arrived or `limit` passed. Returns what each
/// side received.
fn exchange(p: &mut Pair, a_to_b: &[u8], b_to_a: &[u8], limit: Duration) -> (Vec<u8>, Vec<u8>) {
    let (mut sa, mut sb) = (0, 0);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    p.run_until(limit, |p| {
        if sa < a_to_b.len() {
            sa += p.a.send(&a_to_b[sa..]).unwrap_or(0);
        }
        if sb < b_to_a.len() {
            sb += p.b.send(&b_to_a[sb..]).unwrap_or(0);
        }
        while let Ok(n @ 1..) = p.b.recv(&mut buf) {
            rb.extend_from_slice(&buf[..n]);
        }
        while let Ok(n @ 1..) = p.a.recv(&mut buf) {
            ra.extend_from_slice(&buf[..n]);
        }
        rb.len() == a_to_b.len() && ra.len() == b_to_a.len()
    });
    (rb, ra)
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn three_way_handshake_establishes_both_sides() {
    let mut p = Pair::clean();
    assert!(p.established());
    assert!(events(&mut p.a).contains(&Event::Connected));
    assert!(events(&mut p.b).contains(&Event::Connected));
    assert_eq!(p.log_a.len(), 2, "SYN and the final ACK");
    assert_eq!(p.log_b.len(), 1, "SYN-ACK");
}

#[test]
fn data_flows_both_ways_intact() {
    let mut p = Pair::clean();
    assert!(p.established());
    let (x, y) = (pattern(300_000, 1), pattern(123_457, 9));
    let (at_b, at_a) = exchange(&mut p, &x, &y, Duration::from_secs(30));
    assert!(
        at_b == x,
        "a->b differs: {} of {} bytes",
        at_b.len(),
        x.len()
    );
    assert!(
        at_a == y,
        "b->a differs: {} of {} bytes",
        at_a.len(),
        y.len()
    );
}

#[test]
fn orderly_close_reaches_time_wait_and_closed() {
    let cfg = TcpConfig {
        time_wait: Duration::from_secs(1),
        ..TcpConfig::default()
    };
    let mut p = Pair::new(LinkProfile::clean(), 3, cfg.clone(), cfg);
    assert!(p.established());
    p.a.send(b"bye").unwrap();
    p.a.shutdown();
    assert_eq!(p.a.state(), State::FinWait1);
    assert!(p.run_until(Duration::from_secs(5), |p| p.b.state() == State::CloseWait));
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(&mut buf), Ok(3));
    assert_eq!(p.b.recv(&mut buf), Err(ConnError::Finished));
    p.b.shutdown();
    assert!(
        p.run_until(Duration::from_secs(5), |p| p.a.state() == State::TimeWait
            && p.b.state() == State::Closed)
    );
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.state() == State::Closed));
    assert!(events(&mut p.b).contains(&Event::Closed));
}

#[test]
fn transfer_survives_five_percent_loss() {
    let mut p = Pair::new(
        LinkProfile::lossy(5.0),
        42,
        TcpConfig::default(),
        TcpConfig::default(),
    );
    assert!(p.established());
    let x = pattern(500_000, 3);
    let (at_b, _) = exchange(&mut p, &x, &[], Duration::from_secs(300));
    assert_eq!(at_b.len(), x.len());
    assert!(at_b == x);
    assert!(p.a.stats().retransmits > 0);
}
