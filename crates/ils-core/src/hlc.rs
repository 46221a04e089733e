//! Hybrid logical clocks: timestamps that follow wall-clock time where they can and stay
//! strictly increasing and causally ordered where clocks disagree (a device whose clock runs
//! behind, a device that was offline for days). Every change a device records carries one, and
//! concurrent edits are resolved by it (last writer by stamp, ties by device id).
//!
//! Kulkarni et al., "Logical Physical Clocks" (2014): the stamp is (wall milliseconds, counter);
//! the device id breaks the remaining ties.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far ahead of a device's own clock a stamp from elsewhere may be before it is refused as
/// a broken clock (a workstation whose date is a year off must not drag every stamp after it).
/// Desktops and ILS Central use the same limit.
pub const MAX_DRIFT_MS: u64 = 24 * 3_600_000;

/// One stamp. Orders by wall time, then counter, then device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HlcStamp {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
    pub counter: u32,
    /// The device that made the stamp.
    pub device: u64,
}

impl Ord for HlcStamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, self.device).cmp(&(other.wall_ms, other.counter, other.device))
    }
}

impl PartialOrd for HlcStamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for HlcStamp {
    /// Fixed-width hex, so that text order is stamp order (useful in SQLite and logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:012x}-{:08x}-{:016x}",
            self.wall_ms, self.counter, self.device
        )
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a clock stamp like 0192b3c4d5e6-00000000-0000000000000001")]
pub struct BadStamp(String);

impl FromStr for HlcStamp {
    type Err = BadStamp;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadStamp(s.to_owned());
        let mut parts = s.split('-');
        let (Some(w), Some(c), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if w.len() != 12 || c.len() != 8 || d.len() != 16 {
            return Err(bad());
        }
        Ok(HlcStamp {
            wall_ms: u64::from_str_radix(w, 16).map_err(|_| bad())?,
            counter: u32::from_str_radix(c, 16).map_err(|_| bad())?,
            device: u64::from_str_radix(d, 16).map_err(|_| bad())?,
        })
    }
}

impl Serialize for HlcStamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HlcStamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The clock of one device. Time is passed in, so tests (and replays) control it.
#[derive(Clone, Debug)]
pub struct HybridClock {
    device: u64,
    last: HlcStamp,
    /// How far ahead of local time a remote stamp may be before it is refused as a broken clock.
    max_drift_ms: u64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a remote clock is {ahead_ms} ms ahead of this device's; refusing stamps more than {max_ms} ms ahead"
)]
pub struct ClockDrift {
    pub ahead_ms: u64,
    pub max_ms: u64,
}

impl HybridClock {
    /// A clock that continues after `last` (the newest stamp this device stored, if any).
    pub fn new(device: u64, last: Option<HlcStamp>, max_drift_ms: u64) -> Self {
        Self {
            device,
            last: last.unwrap_or(HlcStamp {
                wall_ms: 0,
                counter: 0,
                device,
            }),
            max_drift_ms,
        }
    }

    /// A stamp for a local event at physical time `now_ms`: never smaller than any stamp this
    /// clock has made or seen, even if the wall clock went backwards.
    pub fn tick(&mut self, now_ms: u64) -> HlcStamp {
        let stamp = if now_ms > self.last.wall_ms {
            HlcStamp {
                wall_ms: now_ms,
                counter: 0,
                device: self.device,
            }
        } else {
            HlcStamp {
                wall_ms: self.last.wall_ms,
                counter: self.last.counter.saturating_add(1),
                device: self.device,
            }
        };
        self.last = stamp;
        stamp
    }

    /// Takes in a stamp received from elsewhere, so that everything stamped here afterwards
    /// orders after it.
    pub fn observe(&mut self, remote: HlcStamp, now_ms: u64) -> Result<(), ClockDrift> {
        if remote.wall_ms > now_ms.saturating_add(self.max_drift_ms) {
            return Err(ClockDrift {
                ahead_ms: remote.wall_ms - now_ms,
                max_ms: self.max_drift_ms,
            });
        }
        let wall = now_ms.max(self.last.wall_ms).max(remote.wall_ms);
        let counter = if wall == self.last.wall_ms && wall == remote.wall_ms {
            self.last.counter.max(remote.counter).saturating_add(1)
        } else if wall == self.last.wall_ms {
            self.last.counter.saturating_add(1)
        } else if wall == remote.wall_ms {
            remote.counter.saturating_add(1)
        } else {
            0
        };
        self.last = HlcStamp {
            wall_ms: wall,
            counter,
            device: self.device,
        };
        Ok(())
    }

    pub fn last(&self) -> HlcStamp {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn stamps_increase_even_when_the_wall_clock_goes_back() {
        let mut clock = HybridClock::new(1, None, HOUR);
        let a = clock.tick(1_000);
        let b = clock.tick(1_000);
        let c = clock.tick(900); // the clock was set back
        let d = clock.tick(2_000);
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
        assert_eq!((c.wall_ms, c.counter), (1_000, 2));
        assert_eq!((d.wall_ms, d.counter), (2_000, 0));
    }

    #[test]
    fn observing_a_remote_stamp_orders_later_events_after_it() {
        let mut behind = HybridClock::new(2, None, HOUR);
        let remote = HlcStamp {
            wall_ms: 50_000,
            counter: 7,
            device: 9,
        };
        behind.observe(remote, 10_000).expect("within drift");
        let next = behind.tick(10_001);
        assert!(next > remote, "{next} after {remote}");
        assert_eq!((next.wall_ms, next.counter), (50_000, 9));
        // A broken clock far in the future is refused rather than followed.
        let absurd = HlcStamp {
            wall_ms: 10_000 + 2 * HOUR,
            counter: 0,
            device: 9,
        };
        assert_eq!(
            behind.observe(absurd, 10_000),
            Err(ClockDrift {
                ahead_ms: 2 * HOUR,
                max_ms: HOUR
            })
        );
    }

    #[test]
    fn ties_are_broken_by_device_and_text_order_is_stamp_order() {
        let a = HlcStamp {
            wall_ms: 5,
            counter: 1,
            device: 1,
        };
        let b = HlcStamp {
            wall_ms: 5,
            counter: 1,
            device: 2,
        };
        let c = HlcStamp {
            wall_ms: 5,
            counter: 2,
            device: 0,
        };
        let d = HlcStamp {
            wall_ms: 0x1_0000_0000,
            counter: 0,
            device: 0,
        };
        let mut stamps = [d, c, b, a];
        stamps.sort();
        assert_eq!(stamps, [a, b, c, d]);
        let mut texts: Vec<String> = [d, c, b, a].iter().map(ToString::to_string).collect();
        texts.sort();
        assert_eq!(
            texts,
            stamps.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
    }

    #[test]
    fn stamps_round_trip_as_text_and_json() {
        let s = HlcStamp {
            wall_ms: 1_764_331_200_000,
            counter: 3,
            device: 0xdead_beef,
        };
        assert_eq!(s.to_string().parse::<HlcStamp>(), Ok(s));
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(serde_json::from_str::<HlcStamp>(&json).expect("back"), s);
        for bad in [
            "",
            "1-2-3",
            "zzzzzzzzzzzz-00000000-0000000000000001",
            "0192b3c4d5e6-00000000-00000000000000011",
        ] {
            assert!(bad.parse::<HlcStamp>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_restarted_clock_continues_after_its_last_stamp() {
        let last = HlcStamp {
            wall_ms: 9_000,
            counter: 4,
            device: 3,
        };
        let mut clock = HybridClock::new(3, Some(last), HOUR);
        assert!(
            clock.tick(8_000) > last,
            "a reboot with a slow clock still moves forward"
        );
    }
}
