//! Conversions between [`super::UnixMs`] and chrono, and the occurrence-id
//! time format (RFC 3339, UTC, milliseconds).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

use super::UnixMs;

/// `ms` as a chrono instant; out-of-range values clamp to the epoch.
pub fn to_datetime(ms: UnixMs) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// A chrono instant as milliseconds since the epoch.
pub fn from_datetime(t: DateTime<Utc>) -> UnixMs {
    t.timestamp_millis()
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-03-08T07:00:00.000Z`.
pub fn rfc3339_ms(ms: UnixMs) -> String {
    to_datetime(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        assert_eq!(rfc3339_ms(1_772_953_200_000), "2026-03-08T07:00:00.000Z");
        assert_eq!(rfc3339_ms(5), "1970-01-01T00:00:00.005Z");
    }
}
