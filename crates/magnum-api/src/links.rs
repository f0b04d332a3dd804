//! `links` arrays and `next` URLs, built from the URL the client used.

use magnum_types::pagination::PageRequest;
use serde_json::{json, Value};

/// `[{self: BASE/v1/<path>}, {bookmark: BASE/<path>}]`
pub fn links(base: &str, path: &str) -> Value {
    json!([
        {"href": format!("{base}/v1/{path}"), "rel": "self"},
        {"href": format!("{base}/{path}"), "rel": "bookmark"},
    ])
}

/// The `next` URL when a page is full, continuing after `last`.
pub fn next(base: &str, collection_path: &str, page: &PageRequest, count: usize, last: Option<String>) -> Option<String> {
    if count < page.limit {
        return None;
    }
    let last = last?;
    Some(format!(
        "{base}/v1/{collection_path}?limit={}&sort_key={}&sort_dir={}&marker={last}",
        page.limit,
        page.sort_key,
        page.sort_dir.as_str()
    ))
}
