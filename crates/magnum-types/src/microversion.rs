//! `OpenStack-API-Version: container-infra X.Y` negotiation.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }
    pub fn at_least(self, minor: u16) -> bool {
        self >= Version::new(1, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

pub const MIN: Version = Version::new(1, 1);
/// 1.10: zero-node clusters. Resize (1.7) and nodegroups (1.9) are served; upgrade (1.8)
/// answers 400 as upstream does for drivers without it.
pub const MAX: Version = Version::new(1, 14);

/// Service words accepted before the version (22.0.0 accepts all three).
pub const SERVICE_TYPES: [&str; 3] = ["container-infra", "container-infrastructure", "container-infrastructure-management"];
pub const DEFAULT_SERVICE: &str = "container-infra";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub version: Version,
    /// The service word to echo in response headers.
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionError {
    /// Syntax error in the header.
    Invalid(String),
    /// Well-formed but outside [MIN, MAX].
    Unsupported(Version),
}

impl VersionError {
    pub fn detail(&self) -> String {
        match self {
            VersionError::Invalid(why) => why.clone(),
            VersionError::Unsupported(v) => format!(
                "Version {v} was requested but the minor version is not supported by this service. \
                 The supported version range is: [{MIN}, {MAX}]."
            ),
        }
    }
}

/// `modern`: the `OpenStack-API-Version` header; `legacy`: `X-OpenStack-Magnum-API-Version`.
/// Absent headers mean the minimum version, as upstream.
pub fn negotiate(modern: Option<&str>, legacy: Option<&str>) -> Result<Negotiated, VersionError> {
    if let Some(raw) = modern {
        let mut words = raw.split_whitespace();
        let (service, value) = match (words.next(), words.next(), words.next()) {
            (Some(s), Some(v), None) => (s, v),
            _ => {
                return Err(VersionError::Invalid(format!(
                    "Invalid service type for OpenStack-API-Version header: '{raw}'. Expected 'container-infra X.Y'."
                )))
            }
        };
        if !SERVICE_TYPES.contains(&service) {
            return Err(VersionError::Invalid(format!("Invalid service type for OpenStack-API-Version header: '{service}'.")));
        }
        return Ok(Negotiated { version: parse_value(value)?, service: service.to_owned() });
    }
    let version = match legacy {
        Some(v) => parse_value(v.trim())?,
        None => MIN,
    };
    Ok(Negotiated { version, service: DEFAULT_SERVICE.to_owned() })
}

fn parse_value(value: &str) -> Result<Version, VersionError> {
    if value.eq_ignore_ascii_case("latest") {
        return Ok(MAX);
    }
    let invalid = || VersionError::Invalid(format!("Invalid value for OpenStack-API-Version header: '{value}'. Expected X.Y or 'latest'."));
    let (a, b) = value.split_once('.').ok_or_else(invalid)?;
    let v = Version::new(a.parse().map_err(|_| invalid())?, b.parse().map_err(|_| invalid())?);
    if v < MIN || v > MAX {
        return Err(VersionError::Unsupported(v));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None, None).expect("default").version, MIN);
        assert_eq!(negotiate(Some("container-infra latest"), None).expect("latest").version, MAX);
        let n = negotiate(Some("container-infrastructure-management 1.9"), None).expect("ok");
        assert_eq!((n.version, n.service.as_str()), (Version::new(1, 9), "container-infrastructure-management"));
        assert_eq!(negotiate(None, Some("1.1")).expect("legacy").version, MIN);
        assert_eq!(negotiate(None, Some("latest")).expect("legacy latest").version, MAX);
    }

    #[test]
    fn refusals() {
        assert!(matches!(negotiate(Some("1.2"), None), Err(VersionError::Invalid(_))));
        assert!(matches!(negotiate(Some("compute 1.2"), None), Err(VersionError::Invalid(_))));
        assert!(matches!(negotiate(Some("container-infra one.two"), None), Err(VersionError::Invalid(_))));
        assert_eq!(negotiate(Some("container-infra 1.0"), None), Err(VersionError::Unsupported(Version::new(1, 0))));
        assert_eq!(negotiate(Some("container-infra 2.1"), None), Err(VersionError::Unsupported(Version::new(2, 1))));
        assert_eq!(negotiate(Some("container-infra 1.99"), None), Err(VersionError::Unsupported(Version::new(1, 99))));
    }
}
