//! Timestamps: RFC 3339 UTC strings with microseconds (they sort lexically in SQLite).

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now() -> String {
    format(Utc::now())
}

pub fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn unix_now() -> i64 {
    Utc::now().timestamp()
}
