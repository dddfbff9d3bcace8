//! Time: the TSC clock that times calls and requests, and the wall clock derived from it
//! for spans, logs and exemplars.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The process-wide TSC clock (calibrated once), read raw on the hot path.
pub(crate) fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Nanoseconds since the Unix epoch from the system clock (0 before 1970).
fn system_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// How often the TSC-derived wall clock is re-anchored to the system clock, in ns, so
/// that NTP adjustments reach span timestamps.
const REANCHOR_NANOS: u64 = 10_000_000_000;

/// The raw TSC reading all offsets are measured from.
struct Anchor {
    base_raw: u64,
    /// Unix nanoseconds at `base_raw`, as last measured.
    offset: AtomicU64,
    /// Nanoseconds after `base_raw` of the last re-anchoring.
    anchored_at: AtomicU64,
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let base_raw = clock().raw();
        Anchor {
            base_raw,
            offset: AtomicU64::new(system_unix_nanos()),
            anchored_at: AtomicU64::new(0),
        }
    })
}

/// Nanoseconds since the Unix epoch, from the TSC clock (one raw read and a multiply,
/// about half the cost of `SystemTime::now` here), re-anchored to the system clock every
/// 10 s.
pub(crate) fn unix_nanos() -> u64 {
    let anchor = anchor();
    let clock = clock();
    let since_base = clock.delta_as_nanos(anchor.base_raw, clock.raw());
    if since_base.saturating_sub(anchor.anchored_at.load(Ordering::Relaxed)) > REANCHOR_NANOS {
        reanchor(anchor, since_base);
    }
    anchor
        .offset
        .load(Ordering::Relaxed)
        .saturating_add(since_base)
}

/// Seconds since the Unix epoch (exemplar timestamps, `_created` samples).
pub(crate) fn unix_seconds() -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "microsecond precision is kept")]
    let seconds = unix_nanos() as f64 * 1e-9;
    seconds
}

#[cold]
fn reanchor(anchor: &Anchor, since_base: u64) {
    anchor.anchored_at.store(since_base, Ordering::Relaxed);
    anchor.offset.store(
        system_unix_nanos().saturating_sub(since_base),
        Ordering::Relaxed,
    );
}

/// Writes `nanos` (since the Unix epoch) as RFC 3339 UTC with microseconds, e.g.
/// `2026-11-21T23:29:33.123456Z`.
pub(crate) fn write_rfc3339(out: &mut String, nanos: u64) {
    let secs = nanos / 1_000_000_000;
    let micros = (nanos % 1_000_000_000) / 1_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Digits written in place: one log line each, so no formatting machinery (a `u64` of
    // nanoseconds ends in the year 2554, four digits).
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    for (range, value) in [
        (0..4, year),
        (5..7, month),
        (8..10, day),
        (11..13, h),
        (14..16, m),
        (17..19, s),
        (20..26, micros),
    ] {
        let mut n = value;
        for digit in text[range].iter_mut().rev() {
            *digit = b'0' + u8::try_from(n % 10).unwrap_or(0);
            n /= 10;
        }
    }
    out.push_str(core::str::from_utf8(&text).unwrap_or_default());
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(nanos: u64) -> String {
        let mut s = String::new();
        write_rfc3339(&mut s, nanos);
        s
    }

    #[test]
    fn tsc_wall_clock_tracks_the_system_clock() {
        for _ in 0..3 {
            let ours = unix_nanos();
            let system = system_unix_nanos();
            assert!(ours.abs_diff(system) < 50_000_000, "{ours} vs {system}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let a = unix_nanos();
        let b = unix_nanos();
        assert!(b >= a);
    }

    #[test]
    fn known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789012
        assert_eq!(
            format(951_827_696_789_012_345),
            "2000-02-29T12:34:56.789012Z"
        );
        assert_eq!(
            format(1_795_390_173_000_000_000),
            "2026-11-22T23:29:33.000000Z"
        );
        assert_eq!(
            format(4_102_444_799_999_999_999),
            "2099-12-31T23:59:59.999999Z"
        );
        // The last instant a u64 of nanoseconds holds: still four year digits.
        assert_eq!(format(u64::MAX), "2554-07-21T23:34:33.709551Z");
    }
}
