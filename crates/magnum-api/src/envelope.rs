//! Wraps every request: assigns the request id, negotiates the microversion for `/v1`,
//! and turns every non-2xx response (ours or the framework's) into Magnum's error body.

use crate::error::ErrorDetail;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use magnum_types::microversion::{self, Negotiated, MAX, MIN};
use serde_json::{json, Value};
use std::time::Instant;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

pub(crate) const VERSION_HEADER: &str = "openstack-api-version";
pub(crate) const LEGACY_VERSION_HEADER: &str = "x-openstack-magnum-api-version";

pub(crate) async fn envelope(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    // Read once here; `negotiate` refuses it where a route and method matched, and the headers
    // echo it whatever the answer.
    let asked = requested_version(&req);
    req.extensions_mut().insert(Asked(asked.clone()));
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!("request", id = %request_id, %method, %path);
    let mut resp = next.run(req).instrument(span).await;
    let status = resp.status();
    let refused = resp.extensions().get::<VersionRefused>().is_some();
    if !status.is_success() && !status.is_redirection() && !refused {
        resp = render_error(resp, &request_id).await;
    }
    let negotiated = asked.ok().flatten().unwrap_or_else(default_negotiated);
    // Unversioned paths (`/`, `/healthcheck`) still advertise the range, at the minimum.
    finish_headers(&mut resp, &request_id, Some(&negotiated), !refused);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match resp.status().as_u16() {
        500.. => tracing::error!(request_id, %method, %path, status = resp.status().as_u16(), ms, "request failed"),
        400..=499 => tracing::info!(request_id, %method, %path, status = resp.status().as_u16(), ms, "request refused"),
        _ => tracing::debug!(request_id, %method, %path, status = resp.status().as_u16(), ms, "request served"),
    }
    resp
}

/// Marks the 406 of a refused microversion, whose body is upstream's own and kept as made.
#[derive(Clone)]
struct VersionRefused;

/// What a request's version headers ask for, as the envelope read them.
#[derive(Clone)]
struct Asked(Result<Option<Negotiated>, microversion::VersionError>);

/// The microversion a `/v1` request asks for (None for other paths).
fn requested_version(req: &Request) -> Result<Option<Negotiated>, microversion::VersionError> {
    let path = req.uri().path();
    if path != "/v1" && !path.starts_with("/v1/") {
        return Ok(None);
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    microversion::negotiate(header(VERSION_HEADER), header(LEGACY_VERSION_HEADER)).map(Some)
}

/// Negotiates the microversion of a request a route matched, method included: a method the
/// route does not serve is a 405 whatever the header says.
pub(crate) async fn negotiate(mut req: Request, next: Next) -> Response {
    let asked = match req.extensions().get::<Asked>() {
        Some(Asked(a)) => a.clone(),
        None => requested_version(&req),
    };
    match asked {
        Ok(Some(n)) => {
            req.extensions_mut().insert(n);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(e) => {
            let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            tracing::info!(request_id, path = %req.uri().path(), detail = %e.detail(), "microversion refused");
            let mut resp = version_refusal(&request_id, &e.detail());
            resp.extensions_mut().insert(VersionRefused);
            resp
        }
    }
}

fn default_negotiated() -> Negotiated {
    Negotiated { version: MIN, service: microversion::DEFAULT_SERVICE.into() }
}

fn finish_headers(resp: &mut Response, request_id: &str, n: Option<&Negotiated>, echo_version: bool) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(HeaderName::from_static("x-openstack-request-id"), v);
    }
    let Some(n) = n else { return };
    let svc = &n.service;
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    if echo_version {
        set("openstack-api-version", format!("{svc} {}", n.version));
        set("x-openstack-magnum-api-version", n.version.to_string());
    }
    set("openstack-api-minimum-version", format!("{svc} {MIN}"));
    set("openstack-api-maximum-version", format!("{svc} {MAX}"));
    set("x-openstack-magnum-api-minimum-version", MIN.to_string());
    set("x-openstack-magnum-api-maximum-version", MAX.to_string());
    set("vary", "OpenStack-API-Version".into());
}

/// 406 with upstream's microversion error body.
fn version_refusal(request_id: &str, detail: &str) -> Response {
    let body = json!({"errors": [{
        "request_id": request_id,
        "links": [{"rel": "help", "href": "http://docs.openstack.org/api-guide/compute/microversions.html"}],
        "status": 406,
        "code": "magnum.microversion-unsupported",
        "title": "Requested microversion is unsupported",
        "detail": detail,
        "max_version": MAX.to_string(),
        "min_version": MIN.to_string(),
    }]});
    json_response(StatusCode::NOT_ACCEPTABLE, &body)
}

/// Magnum's error body: `{"errors":[{request_id, code, status, title, detail, links}]}`.
pub(crate) fn error_body(status: StatusCode, detail: &str, request_id: &str) -> Value {
    let title = detail.split(". ").next().unwrap_or(detail).trim_end_matches('.');
    let title = if title.is_empty() { status.canonical_reason().unwrap_or("Error") } else { title };
    json!({"errors": [{
        "request_id": request_id,
        "code": if status.is_server_error() { "server" } else { "client" },
        "status": status.as_u16(),
        "title": title,
        "detail": detail,
        "links": [],
    }]})
}

async fn render_error(resp: Response, request_id: &str) -> Response {
    let status = resp.status();
    if let Some(ErrorDetail(err)) = resp.extensions().get::<ErrorDetail>().cloned() {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(request_id, error = %err.message, "unavailable for now");
        } else if status.is_server_error() {
            tracing::error!(request_id, error = %err.message, "internal error");
        }
        let mut out = json_response(status, &error_body(status, &err.message, request_id));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(allow) = resp.headers().get(http::header::ALLOW) {
                out.headers_mut().insert(http::header::ALLOW, allow.clone());
            }
        }
        return retry_later(out);
    }
    // A response the framework made (405, 413, 415...): keep its status, reword its text.
    let allow = resp.headers().get(http::header::ALLOW).cloned();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for the requested URL.".to_owned(),
        StatusCode::NOT_FOUND if text.is_empty() => "The resource could not be found.".to_owned(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("Error").to_owned(),
        _ => text,
    };
    let mut out = json_response(status, &error_body(status, &detail, request_id));
    if let Some(a) = allow {
        out.headers_mut().insert(http::header::ALLOW, a);
    }
    retry_later(out)
}

/// Seconds a client is told to wait before it retries a 503 (the store, the bus or a bay's
/// engine is away for now: each is retried by the server at about this pace too).
const RETRY_AFTER_SECONDS: &str = "5";

/// Every 503 says when to retry (RFC 9110 `Retry-After`).
fn retry_later(mut out: Response) -> Response {
    if out.status() == StatusCode::SERVICE_UNAVAILABLE {
        out.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    out
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A panic in a handler is a bug: log it and answer 500 (the envelope adds the body).
pub(crate) fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let what = err.downcast_ref::<String>().map(String::as_str).or_else(|| err.downcast_ref::<&str>().copied()).unwrap_or("unknown panic");
    tracing::error!(panic = what, "handler panicked");
    crate::ApiError(magnum_types::MagnumError::internal("An internal error occurred; it has been logged.")).into_response()
}
