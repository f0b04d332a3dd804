//! `GET /` and `GET /v1`: version discovery, no token needed.

use crate::caller::BaseUrl;
use crate::envelope::json_response;
use axum::response::Response;
use http::StatusCode;
use magnum_types::microversion::{MAX, MIN};
use serde_json::{json, Value};

pub(crate) async fn root(BaseUrl(base): BaseUrl) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "name": "OpenStack Magnum API",
            "description": "Magnum is an OpenStack project which aims to provide container cluster management.",
            "versions": [{
                "id": "v1",
                "links": [{"href": format!("{base}/v1/"), "rel": "self"}],
                "status": "CURRENT",
                "min_version": MIN.to_string(),
                "max_version": MAX.to_string(),
            }],
        }),
    )
}

pub(crate) async fn v1(BaseUrl(base): BaseUrl) -> Response {
    let mut doc = serde_json::Map::new();
    doc.insert("id".into(), json!("v1"));
    doc.insert("media_types".into(), json!([{"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}]));
    doc.insert(
        "links".into(),
        json!([
            {"href": format!("{base}/v1/"), "rel": "self"},
            {"href": "http://docs.openstack.org/developer/magnum/dev/api-spec-v1.html", "rel": "describedby", "type": "text/html"},
        ]),
    );
    for coll in [
        "clustertemplates",
        "clusters",
        "baymodels",
        "bays",
        "quotas",
        "certificates",
        "mservices",
        "stats",
        "nodegroups",
        "credentials",
        "nodes",
        "containers",
        "pods",
        "rcs",
        "services",
    ] {
        let links: Value = json!([
            {"href": format!("{base}/v1/{coll}/"), "rel": "self"},
            {"href": format!("{base}/{coll}/"), "rel": "bookmark"},
        ]);
        doc.insert(coll.into(), links);
    }
    json_response(StatusCode::OK, &Value::Object(doc))
}

/// For load balancers: 200 while the store answers, 503 (Magnum's error body) when it does not.
pub(crate) async fn healthcheck(axum::extract::State(s): axum::extract::State<crate::AppState>) -> crate::error::ApiResult {
    s.store.ping().await?;
    Ok(json_response(StatusCode::OK, &json!({"status": "OK"})))
}

/// The OpenAPI document, built once per way of authenticating (a noauth deployment asks for no
/// token, and its document says so).
pub(crate) async fn openapi(axum::extract::State(s): axum::extract::State<crate::AppState>) -> Response {
    use std::sync::OnceLock;
    static WITH_TOKEN: OnceLock<Value> = OnceLock::new();
    static WITHOUT: OnceLock<Value> = OnceLock::new();
    let keystone = s.keystone.is_some();
    let doc = if keystone { &WITH_TOKEN } else { &WITHOUT };
    json_response(StatusCode::OK, doc.get_or_init(|| crate::openapi::document(keystone)))
}
