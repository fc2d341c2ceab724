//! Windowed min and max filters: the best value seen over a sliding window of
//! time, in constant space.
//!
//! Kathleen Nichols' algorithm, as Linux `lib/win_minmax.c` uses it for BBR:
//! instead of every sample of the window, keep three — the best, the best
//! since a quarter of the window after it, the best since half the window
//! after it — each with its time. A better (or equal) sample replaces what it
//! beats; when the best grows older than the window, the second takes its
//! place, then the third, so the estimate falls back to the best of the more
//! recent part of the window. The result is the exact windowed best whenever
//! the best samples are spread out, and otherwise a value that is at most
//! three quarter-windows stale.
//!
//! The time axis is generic: BBR's bottleneck bandwidth is a maximum over ten
//! round trips (a round count), its RTprop a minimum over ten seconds (an
//! [`Instant`]). Time that goes backwards counts as no time at all.

use core::fmt::Debug;
use core::marker::PhantomData;

use crate::time::{Duration, Instant};

/// A time axis for a windowed filter.
pub trait Timeline: Copy + Ord + Debug {
    /// A length of time on this axis.
    type Span: Copy + Ord + Debug;
    /// The time from `earlier` to `self`; zero if `earlier` is later.
    fn since(self, earlier: Self) -> Self::Span;
    /// `span / parts` (the quarter and half sub-windows).
    fn part(span: Self::Span, parts: u64) -> Self::Span;
}

/// Counted time: round trips, for BBR's bandwidth filter.
impl Timeline for u64 {
    type Span = u64;
    fn since(self, earlier: u64) -> u64 {
        self.saturating_sub(earlier)
    }
    fn part(span: u64, parts: u64) -> u64 {
        span.checked_div(parts).unwrap_or(span)
    }
}

/// Clock time, for BBR's RTprop filter.
impl Timeline for Instant {
    type Span = Duration;
    fn since(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
    fn part(span: Duration, parts: u64) -> Duration {
        if parts == 0 { span } else { span / parts }
    }
}

/// Which end of the order a filter keeps.
pub trait Extremum: Copy + Debug {
    /// `candidate` is at least as good as `incumbent` (so it replaces it).
    fn at_least_as_good<V: Ord>(candidate: &V, incumbent: &V) -> bool;
}

/// Keep the largest value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Max;

/// Keep the smallest value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Min;

impl Extremum for Max {
    fn at_least_as_good<V: Ord>(candidate: &V, incumbent: &V) -> bool {
        candidate >= incumbent
    }
}

impl Extremum for Min {
    fn at_least_as_good<V: Ord>(candidate: &V, incumbent: &V) -> bool {
        candidate <= incumbent
    }
}

/// One remembered sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample<V, T> {
    value: V,
    time: T,
}

/// The best value over the last `window` of time (see the module docs).
#[derive(Debug, Clone)]
pub struct WindowedFilter<V, T: Timeline, E> {
    window: T::Span,
    /// Best, second and third choice, in that order (by value and by age:
    /// later choices are never older). `None` before the first sample.
    choices: Option<[Sample<V, T>; 3]>,
    extremum: PhantomData<E>,
}

/// The largest value over a window.
pub type MaxFilter<V, T> = WindowedFilter<V, T, Max>;
/// The smallest value over a window.
pub type MinFilter<V, T> = WindowedFilter<V, T, Min>;

impl<V, T, E> WindowedFilter<V, T, E>
where
    V: Copy + Ord + Debug,
    T: Timeline,
    E: Extremum,
{
    /// An empty filter over `window`.
    pub fn new(window: T::Span) -> Self {
        WindowedFilter {
            window,
            choices: None,
            extremum: PhantomData,
        }
    }

    /// The window the filter covers.
    pub fn window(&self) -> T::Span {
        self.window
    }

    /// The best value of the window; `None` before the first sample.
    pub fn get(&self) -> Option<V> {
        self.choices.map(|c| c[0].value)
    }

    /// When the current best value was measured.
    pub fn best_time(&self) -> Option<T> {
        self.choices.map(|c| c[0].time)
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.choices = None;
    }

    /// Forgets every sample but this one.
    pub fn reset(&mut self, time: T, value: V) {
        self.choices = Some([Sample { value, time }; 3]);
    }

    /// Takes a sample measured at `time` and returns the new best value.
    pub fn update(&mut self, time: T, value: V) -> V {
        let new = Sample { value, time };
        let Some(c) = self.choices.as_mut() else {
            self.reset(time, value);
            return value;
        };
        // A new best, or every remembered sample has left the window: start
        // over from this sample.
        if E::at_least_as_good(&value, &c[0].value) || time.since(c[2].time) > self.window {
            self.reset(time, value);
            return value;
        }
        if E::at_least_as_good(&value, &c[1].value) {
            c[1] = new;
            c[2] = new;
        } else if E::at_least_as_good(&value, &c[2].value) {
            c[2] = new;
        }
        Self::age(c, self.window, new);
        c[0].value
    }

    /// Moves the choices along as the best one ages (win_minmax.c
    /// `minmax_subwin_update`).
    fn age(c: &mut [Sample<V, T>; 3], window: T::Span, new: Sample<V, T>) {
        let best_age = new.time.since(c[0].time);
        if best_age > window {
            // The best has left the window: promote the second and third
            // choices. The second may have left too (the third is inside,
            // checked by the caller), hence up to two steps.
            for _ in 0..2 {
                if new.time.since(c[0].time) <= window {
                    break;
                }
                c[0] = c[1];
                c[1] = c[2];
                c[2] = new;
            }
        } else if c[1].time == c[0].time && best_age > T::part(window, 4) {
            // A quarter of the window without a second choice: take one from
            // the second quarter.
            c[1] = new;
            c[2] = new;
        } else if c[2].time == c[1].time && best_age > T::part(window, 2) {
            // Half the window without a third choice: take one from the
            // second half.
            c[2] = new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Instant {
        Instant::from_millis(secs * 1000)
    }

    #[test]
    fn an_empty_filter_has_no_value_and_takes_the_first_sample() {
        let mut f: MaxFilter<u64, u64> = MaxFilter::new(10);
        assert_eq!(f.get(), None);
        assert_eq!(f.update(3, 7), 7);
        assert_eq!(f.get(), Some(7));
        assert_eq!(f.best_time(), Some(3));
    }

    #[test]
    fn max_filter_keeps_the_largest_value_of_the_window() {
        let mut f: MaxFilter<u64, u64> = MaxFilter::new(10);
        for (round, v) in [(0, 50), (1, 90), (2, 60), (3, 80), (4, 70)] {
            f.update(round, v);
        }
        assert_eq!(f.get(), Some(90));
        // Still inside the window ten rounds after the peak.
        f.update(11, 10);
        assert_eq!(f.get(), Some(90));
    }

    #[test]
    fn max_filter_forgets_a_peak_once_it_leaves_the_window() {
        let mut f: MaxFilter<u64, u64> = MaxFilter::new(10);
        f.update(0, 100);
        // Lower samples every round: the choices from later quarters of the
        // window take over when the peak is more than ten rounds old.
        for round in 1..=11 {
            f.update(round, 100 - round);
        }
        let v = f.get().unwrap();
        assert!(v < 100, "the peak of round 0 expired, got {v}");
        assert!(v >= 89, "the fallback is a recent good sample, got {v}");
    }

    #[test]
    fn min_filter_over_seconds_falls_back_to_the_best_recent_sample() {
        let mut f: MinFilter<Duration, Instant> = MinFilter::new(Duration::from_secs(10));
        let ms = Duration::from_millis;
        f.update(s(0), ms(20));
        f.update(s(3), ms(25)); // second quarter: second choice
        f.update(s(6), ms(30)); // second half: third choice
        assert_eq!(f.get(), Some(ms(20)));
        f.update(s(9), ms(40));
        assert_eq!(f.get(), Some(ms(20)));
        // t=11: the 20 ms sample is 11 s old; the 25 ms one is the best left.
        assert_eq!(f.update(s(11), ms(40)), ms(25));
        // t=14: 25 ms (t=3) is 11 s old too; the 30 ms of t=6 remains.
        assert_eq!(f.update(s(14), ms(40)), ms(30));
    }

    #[test]
    fn an_equal_sample_renews_the_best() {
        let mut f: MinFilter<Duration, Instant> = MinFilter::new(Duration::from_secs(10));
        let rtt = Duration::from_millis(20);
        f.update(s(0), rtt);
        f.update(s(8), rtt);
        assert_eq!(f.best_time(), Some(s(8)));
        assert_eq!(f.update(s(15), Duration::from_millis(30)), rtt);
    }

    #[test]
    fn a_gap_longer_than_the_window_starts_over() {
        let mut f: MaxFilter<u64, u64> = MaxFilter::new(10);
        f.update(0, 100);
        f.update(1, 90);
        f.update(2, 80);
        assert_eq!(f.update(50, 5), 5, "every choice is older than the window");
    }

    #[test]
    fn time_going_backwards_counts_as_no_time() {
        let mut f: MinFilter<Duration, Instant> = MinFilter::new(Duration::from_secs(10));
        let ms = Duration::from_millis;
        f.update(s(100), ms(20));
        f.update(s(5), ms(30));
        assert_eq!(f.get(), Some(ms(20)));
        f.update(Instant::ZERO, ms(10));
        assert_eq!(f.get(), Some(ms(10)));
    }

    #[test]
    fn a_zero_window_keeps_only_the_latest_best() {
        let mut f: MaxFilter<u64, u64> = MaxFilter::new(0);
        f.update(0, 10);
        assert_eq!(f.update(0, 5), 10, "same time: still inside");
        assert_eq!(f.update(1, 5), 5);
    }

    #[test]
    fn clear_and_reset() {
        let mut f: MaxFilter<u64, u64> = MaxFilter::new(10);
        f.update(0, 10);
        f.reset(1, 3);
        assert_eq!(f.get(), Some(3));
        f.clear();
        assert_eq!(f.get(), None);
        assert_eq!(f.window(), 10);
    }
}
