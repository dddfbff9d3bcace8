//! Wall-clock time for spans, logs and exemplars.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 for a clock set before 1970).
pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
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
    let _ = std::fmt::Write::write_fmt(
        out,
        format_args!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{micros:06}Z"),
    );
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
    }
}
