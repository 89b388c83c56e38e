//! Times as UTC ISO-8601 (`2025-12-05T08:47:12Z`) and durations as `4m12s`.

use sluice_core::time::Millis;

/// Milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(at: Millis) -> String {
    let secs = at.0 / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A duration in milliseconds as `1h2m`, `4m12s`, `12s`, `800ms`.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(iso8601(Millis(0)), "1970-01-01T00:00:00Z");
        // 5 Dec 2025 08:47:12 UTC
        assert_eq!(iso8601(Millis(1_764_924_432_000)), "2025-12-05T08:47:12Z");
        // a leap day
        assert_eq!(iso8601(Millis(951_782_400_000)), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(800), "800ms");
        assert_eq!(duration(12_000), "12s");
        assert_eq!(duration(252_000), "4m12s");
        assert_eq!(duration(300_000), "5m");
        assert_eq!(duration(3_720_000), "1h2m");
    }
}
