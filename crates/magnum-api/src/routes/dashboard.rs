//! The dashboard: one static page (no build step) that drives the same v1 API from the
//! browser. It needs no token to load; its API calls carry the caller's token, if any.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../dashboard/index.html");

pub(crate) async fn page() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8"), (CACHE_CONTROL, "no-cache")], PAGE).into_response()
}
