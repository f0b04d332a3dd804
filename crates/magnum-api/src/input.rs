//! Request input: JSON bodies and query strings, with 400s that say what is wrong.

use bytes::Bytes;
use magnum_types::{MagnumError, Result};
use serde_json::Value;
use std::collections::HashMap;

pub fn json_body(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(MagnumError::invalid("The request body is empty; send a JSON document."));
    }
    serde_json::from_slice(body).map_err(|e| MagnumError::invalid(format!("Malformed JSON in request body: {e}.")))
}

/// Query parameters (the last of repeated names wins).
pub fn query(raw: Option<&str>) -> Result<HashMap<String, String>> {
    match raw {
        None | Some("") => Ok(HashMap::new()),
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .map(|pairs| pairs.into_iter().collect())
            .map_err(|e| MagnumError::invalid(format!("Malformed query string: {e}."))),
    }
}

/// `all_projects` / `all_tenants` as booleans (absent = false).
pub fn all_projects(q: &HashMap<String, String>) -> Result<bool> {
    for key in ["all_projects", "all_tenants"] {
        if let Some(v) = q.get(key) {
            return magnum_types::attrs::as_bool(&Value::String(v.clone()))
                .ok_or_else(|| MagnumError::invalid(format!("Invalid value for {key}: '{v}'. Expected true or false.")));
        }
    }
    Ok(false)
}

pub fn page(q: &HashMap<String, String>, sortable: &[&str], max_limit: usize) -> Result<magnum_types::pagination::PageRequest> {
    let get = |k: &str| q.get(k).map(String::as_str);
    magnum_types::pagination::parse(
        &magnum_types::pagination::PageQuery {
            limit: get("limit"),
            marker: get("marker"),
            sort_key: get("sort_key"),
            sort_dir: get("sort_dir"),
        },
        sortable,
        max_limit,
    )
}
