//! Collection paging: `limit`, `marker`, `sort_key`, `sort_dir`, as upstream.

use crate::error::{MagnumError, Result};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub marker: Option<Uuid>,
    pub sort_key: String,
    pub sort_dir: SortDir,
}

impl PageRequest {
    /// Every row, in creation order: for the few rows that belong to one object (its
    /// nodegroups, its nodes), which callers read whole.
    pub fn everything() -> PageRequest {
        PageRequest { limit: 100_000, marker: None, sort_key: "id".into(), sort_dir: SortDir::Asc }
    }
}

/// Raw query values as received (absent = `None`).
#[derive(Debug, Default, Clone)]
pub struct PageQuery<'a> {
    pub limit: Option<&'a str>,
    pub marker: Option<&'a str>,
    pub sort_key: Option<&'a str>,
    pub sort_dir: Option<&'a str>,
}

/// Validates a page request. `sortable` lists the columns a client may sort by; the default
/// key is `id` (insertion order), always used as the tie-breaker by the store.
pub fn parse(q: &PageQuery<'_>, sortable: &[&str], max_limit: usize) -> Result<PageRequest> {
    let limit = match q.limit {
        None => max_limit,
        Some(raw) => {
            let n: i64 = raw.trim().parse().map_err(|_| {
                MagnumError::invalid(format!("Invalid input for field/attribute limit. Value: '{raw}'. Wrong type. Expected 'int'."))
            })?;
            if n <= 0 {
                return Err(MagnumError::invalid("Limit must be positive"));
            }
            (n as u64).min(max_limit as u64) as usize
        }
    };
    let marker = match q.marker {
        None | Some("") => None,
        Some(raw) => {
            Some(crate::names::parse_uuid(raw).ok_or_else(|| MagnumError::invalid(format!("Invalid marker '{raw}': expected a UUID.")))?)
        }
    };
    let sort_key = match q.sort_key {
        None | Some("") => "id".to_owned(),
        Some(k) if k == "id" || sortable.contains(&k) => k.to_owned(),
        Some(k) => return Err(MagnumError::invalid(format!("The sort_key value \"{k}\" is an invalid field for sorting"))),
    };
    let sort_dir = match q.sort_dir {
        None | Some("") | Some("asc") => SortDir::Asc,
        Some("desc") => SortDir::Desc,
        Some(other) => return Err(MagnumError::invalid(format!("Invalid sort direction: {other}. Acceptable values are 'asc' or 'desc'"))),
    };
    Ok(PageRequest { limit, marker, sort_key, sort_dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(limit: Option<&'a str>, marker: Option<&'a str>, key: Option<&'a str>, dir: Option<&'a str>) -> PageQuery<'a> {
        PageQuery { limit, marker, sort_key: key, sort_dir: dir }
    }

    #[test]
    fn defaults_and_clamp() {
        let p = parse(&q(None, None, None, None), &["name"], 1000).expect("ok");
        assert_eq!((p.limit, p.sort_key.as_str(), p.sort_dir), (1000, "id", SortDir::Asc));
        assert_eq!(parse(&q(Some("5000"), None, None, None), &[], 1000).expect("ok").limit, 1000);
    }

    #[test]
    fn errors() {
        for (query, needle) in [
            (q(Some("0"), None, None, None), "Limit must be positive"),
            (q(Some("-3"), None, None, None), "Limit must be positive"),
            (q(Some("ten"), None, None, None), "Expected 'int'"),
            (q(None, Some("nope"), None, None), "Invalid marker"),
            (q(None, None, Some("secret"), None), "invalid field for sorting"),
            (q(None, None, None, Some("up")), "Invalid sort direction: up"),
        ] {
            let e = parse(&query, &["name"], 1000).expect_err("fails");
            assert!(e.message.contains(needle), "{}", e.message);
        }
    }
}
