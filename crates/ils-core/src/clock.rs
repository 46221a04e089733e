//! The practice's calendar. Rules that speak of "today" (a birth date not in the future, a
//! prescription not expired, a promised date not passed) use the date where the practice is,
//! not the server's or the workstation's: a practice in Sydney and one in Los Angeles have
//! different todays at the same instant, and both halves must agree on each.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::validation::FieldError;

/// The practice's time zone when none is set.
pub const DEFAULT_TIME_ZONE: Tz = Tz::UTC;

/// The practice's date at `now`.
pub fn practice_date(now: DateTime<Utc>, time_zone: Tz) -> NaiveDate {
    now.with_timezone(&time_zone).date_naive()
}

/// An IANA time zone name (`Europe/London`, `Australia/Sydney`, `UTC`).
pub fn time_zone(field: &str, value: &str) -> Result<Tz, FieldError> {
    value.trim().parse::<Tz>().map_err(|_| {
        FieldError::new(
            field,
            "company.time_zone_invalid",
            format!("{value:?} is not a time zone; use an IANA name such as Europe/London"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_instant_is_two_dates() {
        let instant = DateTime::<Utc>::from_timestamp(1_764_633_600, 0).unwrap_or_default(); // 2025-12-02T00:00Z
        let sydney = time_zone("tz", "Australia/Sydney").expect("tz");
        let los_angeles = time_zone("tz", " America/Los_Angeles ").expect("tz");
        assert_eq!(practice_date(instant, sydney).to_string(), "2025-12-02");
        assert_eq!(
            practice_date(instant, los_angeles).to_string(),
            "2025-12-01"
        );
        assert_eq!(
            practice_date(instant, DEFAULT_TIME_ZONE).to_string(),
            "2025-12-02"
        );
        assert_eq!(
            time_zone("time_zone", "Mars/Olympus").expect_err("no").code,
            "company.time_zone_invalid"
        );
    }
}
