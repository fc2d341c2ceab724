//! Op-model tests of every congestion controller ([`Algorithm::ALL`], built
//! through [`Algorithm::build`], so a new controller is covered as soon as it
//! is wired in).
//!
//! A model connection sends segments within the window, acknowledges and
//! loses bytes of what is in flight (with delivery-rate samples from a real
//! [`RateSampler`] and an RTT estimate), enters and leaves recovery, times
//! out (go-back-N: nothing is left in flight), reports spurious losses and
//! moves time by anything from nothing to days. After every step the
//! controller must still make sense: a window of at least one segment and at
//! most [`MAX_SANE_CWND`], an ssthresh of at least two segments once set, a
//! positive pacing rate if any, a send quantum of at least one segment, and
//! no panic.

use std::collections::VecDeque;

use proptest::prelude::*;

use crate::cc::{AckSample, Algorithm, CongestionControl, PacketState, RateSampler};
use crate::time::{Duration, Instant};

/// Far above any window a real path needs (4 GiB); a window beyond it means
/// runaway arithmetic.
const MAX_SANE_CWND: usize = u32::MAX as usize;

#[derive(Debug, Clone)]
enum Op {
    /// Send up to `segments` full segments, as far as the window allows;
    /// `app_limited`: the application had no more (the sampler marks it).
    Send { segments: usize, app_limited: bool },
    /// An ACK: `lost_pct` percent of the flight (oldest first) is declared
    /// lost, then `acked_pct` percent of the rest is delivered (0 is a
    /// duplicate ACK).
    Ack {
        lost_pct: usize,
        acked_pct: usize,
        cwnd_limited: bool,
    },
    /// Loss detected: recovery starts (only outside recovery, the trait's
    /// once-per-episode contract).
    CongestionEvent,
    /// Recovery ends (only inside it).
    RecoveryExit,
    /// The retransmission timer fires; everything in flight is given up.
    Rto,
    /// The last reduction turned out spurious.
    SpuriousLoss,
    /// Time passes.
    Advance(Duration),
}

fn op() -> impl Strategy<Value = Op> {
    let advance = prop_oneof![
        2 => Just(Duration::ZERO),
        4 => (1u64..2_000).prop_map(Duration::from_micros),
        6 => (1u64..500).prop_map(Duration::from_millis),
        2 => (1u64..3_600).prop_map(Duration::from_secs),
        1 => (1u64..u64::MAX / 4).prop_map(Duration::from_nanos),
    ];
    prop_oneof![
        8 => (1usize..64, any::<bool>())
            .prop_map(|(segments, app_limited)| Op::Send { segments, app_limited }),
        10 => (prop_oneof![4 => Just(0usize), 1 => 0usize..=100], 0usize..=100, prop::bool::weighted(0.8))
            .prop_map(|(lost_pct, acked_pct, cwnd_limited)| Op::Ack {
                lost_pct,
                acked_pct,
                cwnd_limited,
            }),
        2 => Just(Op::CongestionEvent),
        2 => Just(Op::RecoveryExit),
        1 => Just(Op::Rto),
        1 => Just(Op::SpuriousLoss),
        8 => advance.prop_map(Op::Advance),
    ]
}

/// A segment in flight: its payload bytes and what the sampler gave it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    bytes: usize,
    state: PacketState,
}

/// The connection around a controller, as far as the controller can tell.
#[derive(Debug)]
struct Model {
    cc: Box<dyn CongestionControl>,
    sampler: RateSampler,
    mss: usize,
    now: Instant,
    /// Oldest first.
    flight: VecDeque<Sent>,
    in_flight: usize,
    in_recovery: bool,
    srtt: Option<Duration>,
    min_rtt: Option<Duration>,
}

impl Model {
    fn new(alg: Algorithm, initial_cwnd: usize, mss: usize, start: Instant) -> Model {
        Model {
            cc: alg.build(initial_cwnd, mss),
            sampler: RateSampler::new(),
            mss,
            now: start,
            flight: VecDeque::new(),
            in_flight: 0,
            in_recovery: false,
            srtt: None,
            min_rtt: None,
        }
    }

    /// Takes `bytes` off the front of the flight (splitting a segment if
    /// need be) and hands each piece to `f`.
    fn take_front(&mut self, mut bytes: usize, mut f: impl FnMut(&mut RateSampler, Sent)) {
        while bytes > 0 {
            let Some(front) = self.flight.front_mut() else {
                break;
            };
            let piece = front.bytes.min(bytes);
            let taken = Sent {
                bytes: piece,
                state: front.state,
            };
            front.bytes -= piece;
            if front.bytes == 0 {
                self.flight.pop_front();
            }
            self.in_flight -= piece;
            bytes -= piece;
            f(&mut self.sampler, taken);
        }
    }

    /// RFC 6298 2.3 smoothing, enough for a plausible srtt.
    fn on_rtt(&mut self, rtt: Duration) {
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => s.mul_ratio(7, 8) + rtt.mul_ratio(1, 8),
        });
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let (now, mss) = (self.now, self.mss);
        match *op {
            Op::Send {
                segments,
                app_limited,
            } => {
                let room = self.cc.cwnd().saturating_sub(self.in_flight) / mss;
                let n = segments.min(room);
                if app_limited {
                    self.sampler.on_app_limited(self.in_flight);
                }
                for _ in 0..n {
                    let state = self.sampler.on_send(now, self.in_flight, mss);
                    self.cc.on_send(now, mss, self.in_flight, app_limited);
                    self.flight.push_back(Sent { bytes: mss, state });
                    self.in_flight += mss;
                }
            }
            Op::Ack {
                lost_pct,
                acked_pct,
                cwnd_limited,
            } => {
                let prior_in_flight = self.in_flight;
                let lost = prior_in_flight * lost_pct / 100;
                let acked = (prior_in_flight - lost) * acked_pct / 100;
                prop_assert!(lost + acked <= prior_in_flight);
                self.take_front(lost, |s, p| s.on_lost(p.bytes));
                self.take_front(acked, |s, p| s.on_delivered(now, &p.state, p.bytes, false));
                prop_assert_eq!(self.in_flight, prior_in_flight - lost - acked);
                let rate = self.sampler.finish(now, self.min_rtt);
                if let Some(rtt) = rate.rtt {
                    self.on_rtt(rtt);
                }
                let sample = AckSample {
                    now,
                    delivered: acked,
                    lost,
                    prior_in_flight,
                    in_flight: self.in_flight,
                    rate,
                    rtt: rate.rtt,
                    srtt: self.srtt,
                    min_rtt: self.min_rtt,
                    mss,
                    in_recovery: self.in_recovery,
                    cwnd_limited,
                };
                let held: usize = self.flight.iter().map(|s| s.bytes).sum();
                prop_assert_eq!(sample.in_flight, held, "the model's own books");
                self.cc.on_ack(&sample);
            }
            Op::CongestionEvent => {
                if !self.in_recovery {
                    self.cc.on_congestion_event(now, self.in_flight, mss);
                    self.in_recovery = true;
                }
            }
            Op::RecoveryExit => {
                if self.in_recovery {
                    self.cc.on_recovery_exit(now);
                    self.in_recovery = false;
                }
            }
            Op::Rto => {
                self.cc.on_rto(now, self.in_flight, mss);
                let all = self.in_flight;
                self.take_front(all, |s, p| s.on_lost(p.bytes));
                self.in_recovery = false;
            }
            Op::SpuriousLoss => self.cc.on_spurious_loss(now),
            Op::Advance(d) => self.now = now + d,
        }
        Ok(())
    }

    /// What every controller must satisfy after every step.
    fn check(&self, alg: Algorithm, op: &Op) -> Result<(), TestCaseError> {
        let (cc, mss) = (&self.cc, self.mss);
        let held: usize = self.flight.iter().map(|s| s.bytes).sum();
        prop_assert_eq!(self.in_flight, held);
        let cwnd = cc.cwnd();
        prop_assert!(cwnd >= mss, "{alg}: cwnd {cwnd} < mss {mss} after {op:?}");
        prop_assert!(
            cwnd <= MAX_SANE_CWND,
            "{alg}: cwnd {cwnd} runaway after {op:?}"
        );
        let ssthresh = cc.ssthresh();
        prop_assert!(
            ssthresh == usize::MAX || ssthresh >= 2 * mss,
            "{alg}: ssthresh {ssthresh} < 2 mss ({mss}) after {op:?}"
        );
        if let Some(rate) = cc.pacing_rate() {
            prop_assert!(rate > 0, "{alg}: zero pacing rate after {op:?}");
        }
        let quantum = cc.send_quantum(mss);
        prop_assert!(
            quantum >= mss,
            "{alg}: send quantum {quantum} < mss {mss} after {op:?}"
        );
        prop_assert!(!cc.name().is_empty() && !cc.state().is_empty());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every controller, fed the same random life of a connection, keeps
    /// its window, threshold, pacing rate and quantum sane after every step.
    #[test]
    fn every_controller_stays_sane_through_random_connection_events(
        mss in prop_oneof![Just(536usize), Just(1448), Just(8948), 1usize..9000],
        initial_segments in 1usize..=100,
        start in 0u64..(1 << 50),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        for alg in Algorithm::ALL {
            let mut m = Model::new(alg, initial_segments * mss, mss, Instant::from_nanos(start));
            m.check(alg, &Op::Advance(Duration::ZERO))?;
            for op in &ops {
                m.step(op)?;
                m.check(alg, op)?;
            }
        }
    }
}

/// The model drives the controllers it claims to: a cwnd-limited run of
/// ACKs grows every one of them, and a congestion event shrinks the
/// loss-based ones (BBR need not reduce on loss).
#[test]
fn the_model_exercises_growth_and_reduction() {
    let mss = 1000;
    for alg in Algorithm::ALL {
        let mut m = Model::new(alg, 10 * mss, mss, Instant::ZERO);
        let start = m.cc.cwnd();
        for _ in 0..20 {
            let steps = [
                Op::Send {
                    segments: 64,
                    app_limited: false,
                },
                Op::Advance(Duration::from_millis(50)),
                Op::Ack {
                    lost_pct: 0,
                    acked_pct: 100,
                    cwnd_limited: true,
                },
            ];
            for op in &steps {
                m.step(op).expect("step");
                m.check(alg, op).expect("invariants");
            }
        }
        let grown = m.cc.cwnd();
        assert!(grown > start, "{alg}: {start} -> {grown}");
        m.step(&Op::Send {
            segments: 64,
            app_limited: false,
        })
        .expect("step");
        m.step(&Op::CongestionEvent).expect("step");
        if matches!(alg, Algorithm::NewReno | Algorithm::Cubic) {
            assert!(m.cc.cwnd() < grown, "{alg}: no reduction");
        }
    }
}
