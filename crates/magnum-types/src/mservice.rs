//! MagnumService: a conductor's heartbeat row; `state` is derived from its age.

use crate::time::Timestamp;
use serde_json::{json, Value};

pub const CONDUCTOR_BINARY: &str = "magnum-conductor";

#[derive(Debug, Clone, PartialEq)]
pub struct MagnumService {
    pub id: i64,
    pub host: String,
    pub binary: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    pub report_count: i64,
    pub last_seen_up: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl MagnumService {
    /// `down` if forced down or not heard from within `down_after_secs`; else `up`.
    pub fn state(&self, now: Timestamp, down_after_secs: i64) -> &'static str {
        let seen = self.last_seen_up.or(self.updated_at).unwrap_or(self.created_at);
        if self.forced_down || (now - seen).num_seconds().abs() > down_after_secs {
            "down"
        } else {
            "up"
        }
    }

    pub fn to_api(&self, now: Timestamp, down_after_secs: i64) -> Value {
        json!({
            "id": self.id,
            "host": self.host,
            "binary": self.binary,
            "state": self.state(now, down_after_secs),
            "disabled": self.disabled,
            "disabled_reason": self.disabled_reason,
            "report_count": self.report_count,
            "created_at": crate::time::to_api(&self.created_at),
            "updated_at": self.updated_at.as_ref().map(crate::time::to_api),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn state_follows_heartbeat_age() {
        let now = crate::time::now();
        let mut s = MagnumService {
            id: 1,
            host: "h".into(),
            binary: CONDUCTOR_BINARY.into(),
            disabled: false,
            disabled_reason: None,
            forced_down: false,
            report_count: 3,
            last_seen_up: Some(now - Duration::seconds(10)),
            created_at: now - Duration::seconds(1000),
            updated_at: None,
        };
        assert_eq!(s.state(now, 180), "up");
        s.last_seen_up = Some(now - Duration::seconds(181));
        assert_eq!(s.state(now, 180), "down");
        s.last_seen_up = Some(now);
        s.forced_down = true;
        assert_eq!(s.state(now, 180), "down");
    }
}
