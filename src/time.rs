//! Time as plain values: a monotonic [`Instant`] in milliseconds and a wall
//! clock [`UnixTime`] in seconds. Pure: nothing here reads a clock.
//!
//! The protocol cores take `now` from their caller (`sys::clock::now()` in
//! the applets, a number in tests), so every timer rule is a deterministic
//! test at exact times. `std::time::Instant` cannot be constructed from a
//! number, which is why this newtype exists.
//!
//! Arithmetic saturates instead of panicking: a lease time of 0xFFFFFFFF
//! seconds from a server must not crash the client.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point on the monotonic timeline, in milliseconds since an arbitrary
/// origin (boot, for `sys::clock::now()`).
///
/// Adding a [`Duration`] rounds it *up* to whole milliseconds, so a deadline
/// computed as `now + d` is never earlier than `d` after `now` (a timer that
/// fires early would make a poll loop spin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// Whole milliseconds in `d`, rounded up, saturating at `u64::MAX`.
fn millis_ceil(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

impl Instant {
    /// The instant `ms` milliseconds after the origin (tests use small numbers).
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or `None` if `earlier` is later than `self`.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_millis)
    }

    /// `self - earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.checked_duration_since(earlier).unwrap_or_default()
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let ms = u64::try_from(d.as_nanos().div_ceil(1_000_000)).ok()?;
        self.0.checked_add(ms).map(Instant)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating; the duration is rounded up to whole milliseconds.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(millis_ceil(d)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an `earlier` that is in fact later gives zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating at the origin; the duration is rounded up to whole ms.
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(millis_ceil(d)))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// Wall-clock time in whole seconds since 1970-01-01 UTC, as stored in lease
/// files. Only for what must survive a reboot or be shown to people; timers
/// use [`Instant`], which does not jump when the clock is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The time `secs` seconds after the epoch (negative: before it).
    pub const fn from_secs(secs: i64) -> Self {
        UnixTime(secs)
    }

    /// Seconds since the epoch.
    pub const fn as_secs(self) -> i64 {
        self.0
    }
}

impl Add<Duration> for UnixTime {
    type Output = UnixTime;
    /// Saturating; sub-second parts are dropped.
    fn add(self, d: Duration) -> UnixTime {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        UnixTime(self.0.saturating_add(secs))
    }
}

impl Sub<UnixTime> for UnixTime {
    type Output = i64;
    /// Signed seconds from `other` to `self` (saturating): negative when
    /// `self` is earlier, e.g. an expiry already in the past.
    fn sub(self, other: UnixTime) -> i64 {
        self.0.saturating_sub(other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic() {
        let t = Instant::from_millis(1_000);
        assert_eq!((t + Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!(t + Duration::from_secs(2) - t, Duration::from_secs(2));
        assert_eq!(t - Instant::from_millis(5_000), Duration::ZERO);
        assert_eq!(t.checked_duration_since(Instant::from_millis(1_001)), None);
        assert_eq!(
            t.checked_duration_since(Instant::from_millis(400)),
            Some(Duration::from_millis(600))
        );
        assert_eq!(t - Duration::from_secs(5), Instant::from_millis(0));
        let mut u = t;
        u += Duration::from_millis(1);
        assert!(u > t);
    }

    #[test]
    fn instant_rounds_up_and_saturates() {
        let t = Instant::from_millis(10);
        assert_eq!(t + Duration::from_micros(1), Instant::from_millis(11));
        assert_eq!(t + Duration::from_micros(1000), Instant::from_millis(11));
        assert_eq!(t + Duration::ZERO, t);
        assert_eq!(
            Instant::from_millis(u64::MAX - 1) + Duration::from_secs(1),
            Instant::from_millis(u64::MAX)
        );
        assert_eq!(t + Duration::MAX, Instant::from_millis(u64::MAX));
        assert_eq!(t.checked_add(Duration::MAX), None);
        assert_eq!(
            t.checked_add(Duration::from_millis(5)),
            Some(Instant::from_millis(15))
        );
        assert_eq!(Instant::from_millis(61_005).to_string(), "61.005");
    }

    #[test]
    fn unix_time_arithmetic() {
        let t = UnixTime::from_secs(1_700_000_000);
        assert_eq!((t + Duration::from_secs(3600)).as_secs(), 1_700_003_600);
        assert_eq!(t + Duration::from_millis(999), t);
        assert_eq!(UnixTime(10) - UnixTime(25), -15);
        assert_eq!(
            UnixTime(i64::MAX) + Duration::from_secs(1),
            UnixTime(i64::MAX)
        );
        assert_eq!(UnixTime(i64::MIN) - UnixTime(1), i64::MIN);
        assert_eq!(t + Duration::MAX, UnixTime(i64::MAX));
    }
}
