//! A connection's timers: a closed enum indexed into a table of deadlines.

use crate::time::Instant;

/// Every timer a connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Retransmission (RFC 6298), also for SYN and FIN.
    Retransmit = 0,
    /// Zero-window probe (RFC 9293 3.8.6.1).
    Persist = 1,
    /// Delayed ACK (RFC 1122 4.2.3.2).
    DelayedAck = 2,
    /// Keepalive (RFC 1122 4.2.3.6).
    Keepalive = 3,
    /// 2*MSL in TIME-WAIT (RFC 9293 3.10.7.4).
    TimeWait = 4,
    /// RACK's reordering window ran out (RFC 8985 6.3).
    Rack = 5,
    /// Tail loss probe timeout, PTO (RFC 8985 7.2).
    LossProbe = 6,
}

const TIMERS: [Timer; 7] = [
    Timer::Retransmit,
    Timer::Persist,
    Timer::DelayedAck,
    Timer::Keepalive,
    Timer::TimeWait,
    Timer::Rack,
    Timer::LossProbe,
];

/// Deadlines of the timers; `None` is stopped.
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    deadline: [Option<Instant>; 7],
}

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.deadline[t as usize] = Some(at);
    }
    pub fn stop(&mut self, t: Timer) {
        self.deadline[t as usize] = None;
    }
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.deadline[t as usize]
    }
    pub fn is_set(&self, t: Timer) -> bool {
        self.deadline[t as usize].is_some()
    }
    pub fn stop_all(&mut self) {
        self.deadline = [None; 7];
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.deadline.iter().flatten().min().copied()
    }
    /// Takes the expired timer with the earliest deadline, if any.
    pub fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let t = TIMERS
            .iter()
            .filter(|t| self.deadline[**t as usize].is_some_and(|d| d <= now))
            .min_by_key(|t| self.deadline[**t as usize])?;
        self.deadline[*t as usize] = None;
        Some(*t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_timers_come_out_earliest_first_and_once() {
        let mut t = TimerTable::default();
        t.set(Timer::DelayedAck, Instant::from_millis(40));
        t.set(Timer::Retransmit, Instant::from_millis(20));
        t.set(Timer::TimeWait, Instant::from_millis(90));
        assert_eq!(t.next(), Some(Instant::from_millis(20)));
        let now = Instant::from_millis(50);
        assert_eq!(t.take_expired(now), Some(Timer::Retransmit));
        assert_eq!(t.take_expired(now), Some(Timer::DelayedAck));
        assert_eq!(t.take_expired(now), None);
        assert_eq!(t.next(), Some(Instant::from_millis(90)));
    }
}
