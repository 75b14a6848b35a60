//! Five-field cron expressions (croner, Sunday = 0) in an IANA time zone.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;

use crate::core::error::{Result, ShannonError};

/// A parsed, validated cron expression in its time zone.
pub(super) struct CronIn {
    cron: Cron,
    tz: chrono_tz::Tz,
}

impl CronIn {
    pub fn parse(expression: &str, timezone: &str) -> Result<Self> {
        let tz = chrono_tz::Tz::from_str(timezone.trim())
            .map_err(|_| ShannonError::invalid(format!("invalid timezone: {timezone}")))?;
        let fields = expression.split_whitespace().count();
        if fields != 5 || expression.contains('@') {
            return Err(ShannonError::invalid(format!(
                "invalid cron expression: expected 5 fields (minute hour day-of-month month day-of-week), got {expression:?}"
            )));
        }
        let cron = Cron::new(expression.trim())
            .parse()
            .map_err(|e| ShannonError::invalid(format!("invalid cron expression: {e}")))?;
        Ok(Self { cron, tz })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Refuses schedules firing more often than `min`: the gap between the next two fire times.
    pub fn check_interval(&self, min: Duration, now: DateTime<Utc>) -> Result<()> {
        let first = self.next_after(now);
        let second = first.and_then(|f| self.next_after(f));
        if let (Some(a), Some(b)) = (first, second)
            && (b - a).num_seconds() < min.as_secs() as i64
        {
            return Err(ShannonError::invalid(format!(
                "cron interval too short: must be at least {} minutes",
                min.as_secs() / 60
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_in_a_time_zone_with_sunday_as_zero() {
        let c = CronIn::parse("30 9 * * 1-5", "Europe/Paris").unwrap();
        // Saturday 2026-11-28 → Monday 09:30 in Paris (08:30 UTC in winter).
        assert_eq!(
            c.next_after(at("2026-11-28T12:00:00Z")),
            Some(at("2026-11-30T08:30:00Z"))
        );
        let sunday = CronIn::parse("0 12 * * 0", "UTC").unwrap();
        assert_eq!(
            sunday.next_after(at("2026-11-25T00:00:00Z")),
            Some(at("2026-11-29T12:00:00Z"))
        );
    }

    #[test]
    fn seconds_descriptors_bad_zones_and_short_intervals_are_refused() {
        for bad in ["0 * * * * *", "@daily", "* * *", "61 * * * *"] {
            let e = CronIn::parse(bad, "UTC").err().unwrap();
            assert!(
                e.to_string().contains("invalid cron expression"),
                "{bad}: {e}"
            );
        }
        let e = CronIn::parse("0 * * * *", "Mars/Olympus").err().unwrap();
        assert!(e.to_string().contains("invalid timezone: Mars/Olympus"));
        let every_5 = CronIn::parse("*/5 * * * *", "UTC").unwrap();
        let e = every_5
            .check_interval(Duration::from_secs(3600), Utc::now())
            .unwrap_err();
        assert!(e.to_string().contains("at least 60 minutes"));
        let hourly = CronIn::parse("0 * * * *", "UTC").unwrap();
        hourly
            .check_interval(Duration::from_secs(3600), Utc::now())
            .unwrap();
    }
}
