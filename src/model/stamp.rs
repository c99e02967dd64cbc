//! A cached pod's times, in 8 bytes.

use std::fmt;
use std::num::NonZeroI64;

use jiff::Timestamp;

/// A time to the second, as the API writes a pod's (`metav1.Time` has no fraction).
/// `Option<Stamp>` takes 8 bytes where `Option<Timestamp>` takes 24: with four of them
/// per cached pod, that is what keeps `PodInfo` in jemalloc's 256-byte class at
/// 150,000 pods (BENCHMARKS.md, "Incremental join").
///
/// The second is stored XOR `i64::MIN`, which is zero only for `i64::MIN` itself, far
/// outside the range `Timestamp` allows: that leaves zero free for `None`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp(NonZeroI64);

impl Stamp {
    pub fn get(self) -> Timestamp {
        let second = self.0.get() ^ i64::MIN;
        // Built from a `Timestamp`'s second, so always in range.
        Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

impl From<Timestamp> for Stamp {
    /// Drops any fraction of a second, which the API never writes.
    fn from(time: Timestamp) -> Self {
        let second = time.as_second() ^ i64::MIN;
        Stamp(NonZeroI64::new(second).expect("a Timestamp's second is never i64::MIN"))
    }
}

impl From<Stamp> for Timestamp {
    fn from(stamp: Stamp) -> Self {
        stamp.get()
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Stamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.get().cmp(&other.get())
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.get(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_second_timestamp_allows() {
        for time in [
            Timestamp::MIN,
            Timestamp::from_second(-1).unwrap(),
            Timestamp::UNIX_EPOCH,
            "2026-11-24T09:05:02Z".parse().unwrap(),
            Timestamp::from_second(Timestamp::MAX.as_second()).unwrap(),
        ] {
            assert_eq!(Stamp::from(time).get(), time);
        }
        assert_eq!(size_of::<Option<Stamp>>(), 8);
    }

    #[test]
    fn keeps_the_second_and_its_order() {
        let early: Timestamp = "2026-11-24T09:05:02.75Z".parse().unwrap();
        let late: Timestamp = "2026-11-24T09:05:03Z".parse().unwrap();
        assert_eq!(
            Stamp::from(early).get(),
            "2026-11-24T09:05:02Z".parse::<Timestamp>().unwrap()
        );
        assert!(Stamp::from(early) < Stamp::from(late));
        assert!(Stamp::from(Timestamp::from_second(-5).unwrap()) < Stamp::from(early));
    }
}
