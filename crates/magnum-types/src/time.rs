//! Timestamps: stored as RFC 3339 text in UTC with microseconds (sortable as text),
//! shown to clients the way Magnum does: seconds precision with a `+00:00` offset.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

#[allow(clippy::disallowed_methods)] // the one clock the rest of the code reads
pub fn now() -> Timestamp {
    Utc::now()
}

/// `d` from now (leases, deadlines).
pub fn after(d: std::time::Duration) -> Timestamp {
    let t = now();
    let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(365));
    t.checked_add_signed(d).unwrap_or(t)
}

/// Whether more than `d` has passed since `t`.
pub fn older_than(t: &Timestamp, d: std::time::Duration) -> bool {
    chrono::Duration::from_std(d).is_ok_and(|d| now().signed_duration_since(*t) > d)
}

/// The stored form: fixed width, so text order is time order.
pub fn to_storage(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}

pub fn from_storage(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// The API form, e.g. `2015-04-20T19:05:27+00:00`.
pub fn to_api(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Rewrites `created_at`/`updated_at` of a serialized object into the API form.
pub fn api_timestamps(doc: &mut serde_json::Map<String, serde_json::Value>, created: &Timestamp, updated: Option<&Timestamp>) {
    doc.insert("created_at".into(), serde_json::Value::String(to_api(created)));
    doc.insert("updated_at".into(), updated.map(|u| serde_json::Value::String(to_api(u))).unwrap_or(serde_json::Value::Null));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_compares_with_the_clock() {
        let hour_ago = now() - chrono::Duration::hours(1);
        assert!(older_than(&hour_ago, std::time::Duration::from_secs(60)));
        assert!(!older_than(&hour_ago, std::time::Duration::from_secs(7200)));
        assert!(!older_than(&now(), std::time::Duration::from_secs(1)));
    }

    #[test]
    fn storage_round_trip_and_api_form() {
        let t = from_storage("2015-04-20T19:05:27.123456+00:00").expect("parses");
        assert_eq!(to_storage(&t), "2015-04-20T19:05:27.123456+00:00");
        assert_eq!(to_api(&t), "2015-04-20T19:05:27+00:00");
    }
}
