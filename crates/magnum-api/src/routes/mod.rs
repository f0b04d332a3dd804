//! The URL map. One module per resource; bays and baymodels share the cluster and template
//! handlers, told apart by a [`Vocab`](crate::views::Vocab).

mod certificates;
mod cluster_writes;
mod clusters;
mod containers;
mod credentials;
mod dashboard;
mod kube_objects;
mod nodegroups;
mod nodes;
mod quotas;
mod root;
mod services;
mod stats;
mod templates;

use crate::error::{ApiError, ApiResult};
use crate::views::Vocab;
use crate::AppState;
use axum::extract::{Path, RawQuery};
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use magnum_types::manifest::Kind;
use magnum_types::microversion::Version;
use magnum_types::MagnumError;

/// A route whose handlers run only at a microversion the server serves. Negotiated per method,
/// so a method the route does not serve is a 405 whatever the version header says.
trait Versioned {
    fn versioned(self, path: &str, methods: MethodRouter<AppState>) -> Self;
}

impl Versioned for Router<AppState> {
    fn versioned(self, path: &str, methods: MethodRouter<AppState>) -> Self {
        self.route(path, methods.route_layer(axum::middleware::from_fn(crate::envelope::negotiate)))
    }
}

pub(crate) fn all() -> Router<AppState> {
    let mut r = Router::new()
        .versioned("/", get(root::root))
        .versioned("/healthcheck", get(root::healthcheck))
        .versioned("/v1", get(root::v1))
        .versioned("/v1/", get(root::v1))
        .versioned("/v1/openapi.json", get(root::openapi))
        .versioned("/dashboard", get(dashboard::page))
        .versioned("/v1/mservices", get(services::list))
        .versioned("/v1/nodes", get(|s, c, q| nodes::list(s, c, q, false)))
        .versioned("/v1/nodes/detail", get(|s, c, q| nodes::list(s, c, q, true)))
        .versioned("/v1/nodes/{ident}", get(nodes::show))
        .versioned("/v1/stats", get(stats::get))
        .versioned("/v1/certificates", post(certificates::sign))
        .versioned("/v1/certificates/{ident}", get(certificates::show).patch(certificates::rotate))
        .versioned("/v1/credentials/{ident}", axum::routing::patch(credentials::rotate))
        .versioned("/v1/quotas", get(quotas::list).post(quotas::create))
        .versioned("/v1/quotas/{project_id}/{resource}", get(quotas::show).patch(quotas::update).delete(quotas::delete))
        .versioned("/v1/clusters/{ident}/actions/resize", post(clusters::resize))
        .versioned("/v1/clusters/{ident}/actions/upgrade", post(clusters::upgrade))
        .versioned("/v1/clusters/{ident}/nodegroups", get(nodegroups::list).post(nodegroups::create))
        // The current python-magnumclient asks for the list with a trailing slash.
        .versioned("/v1/clusters/{ident}/nodegroups/", get(nodegroups::list).post(nodegroups::create))
        .versioned("/v1/clusters/{ident}/nodegroups/{ng}", get(nodegroups::show).patch(nodegroups::update).delete(nodegroups::delete))
        .versioned("/v1/containers", get(|s, c, q| containers::list(s, c, q, false)).post(containers::create))
        .versioned("/v1/containers/detail", get(|s, c, q| containers::list(s, c, q, true)))
        .versioned("/v1/containers/{ident}", get(containers::show).patch(containers::update).delete(containers::delete))
        .versioned("/v1/containers/{ident}/logs", get(containers::logs))
        .versioned("/v1/containers/{ident}/execute", put(containers::execute));
    for action in magnum_types::container::ContainerAction::ALL {
        r = r.versioned(&format!("/v1/containers/{{ident}}/{}", action.as_str()), put(move |s, c, p| containers::act(s, c, p, action)));
    }
    for kind in [Kind::Pod, Kind::ReplicationController, Kind::Service] {
        use kube_objects::Item;
        let coll = kind.collection();
        r = r
            .versioned(
                &format!("/v1/{coll}"),
                get(move |s, c, q| kube_objects::list(s, c, q, kind, false)).post(move |s, c, b| kube_objects::create(s, c, b, kind)),
            )
            .versioned(&format!("/v1/{coll}/detail"), get(move |s, c, q| kube_objects::list(s, c, q, kind, true)))
            .versioned(
                &format!("/v1/{coll}/{{ident}}"),
                get(move |s, c, Path(i): Path<String>, RawQuery(q): RawQuery| async move {
                    kube_objects::show(s, c, Item::one(i, q.as_deref())?, kind).await
                })
                .patch(move |s, c, Path(i): Path<String>, RawQuery(q): RawQuery, b| async move {
                    kube_objects::update(s, c, Item::one(i, q.as_deref())?, b, kind).await
                })
                .delete(move |s, c, Path(i): Path<String>, RawQuery(q): RawQuery| async move {
                    kube_objects::delete(s, c, Item::one(i, q.as_deref())?, kind).await
                }),
            )
            // Upstream's item URLs name the bay as a second segment.
            .versioned(
                &format!("/v1/{coll}/{{ident}}/{{bay_ident}}"),
                get(move |s, c, Path((i, b)): Path<(String, String)>| kube_objects::show(s, c, Item::two(i, b), kind))
                    .patch(move |s, c, Path((i, b)): Path<(String, String)>, body| kube_objects::update(s, c, Item::two(i, b), body, kind))
                    .delete(move |s, c, Path((i, b)): Path<(String, String)>| kube_objects::delete(s, c, Item::two(i, b), kind)),
            );
    }
    for vocab in [Vocab::Bay, Vocab::Cluster] {
        r = r
            .versioned(
                &format!("/v1/{}", vocab.templates()),
                get(move |s, c, q| templates::list(s, c, q, vocab, false)).post(move |s, c, b| templates::create(s, c, b, vocab)),
            )
            .versioned(&format!("/v1/{}/detail", vocab.templates()), get(move |s, c, q| templates::list(s, c, q, vocab, true)))
            .versioned(
                &format!("/v1/{}/{{ident}}", vocab.templates()),
                get(move |s, c, p| templates::show(s, c, p, vocab))
                    .patch(move |s, c, p, b| templates::update(s, c, p, b, vocab))
                    .delete(move |s, c, p| templates::delete(s, c, p, vocab)),
            )
            .versioned(
                &format!("/v1/{}", vocab.clusters()),
                get(move |s, c, q| clusters::list(s, c, q, vocab, false)).post(move |s, c, b| clusters::create(s, c, b, vocab)),
            )
            .versioned(&format!("/v1/{}/detail", vocab.clusters()), get(move |s, c, q| clusters::list(s, c, q, vocab, true)))
            .versioned(
                &format!("/v1/{}/{{ident}}", vocab.clusters()),
                get(move |s, c, p| clusters::show(s, c, p, vocab))
                    .patch(move |s, c, p, q, b| clusters::update(s, c, p, q, b, vocab))
                    .delete(move |s, c, p| clusters::delete(s, c, p, vocab)),
            );
    }
    r
}

/// The scope of a list: the caller's project after `rule`, or every project with
/// `all_projects`/`all_tenants` (which needs `<rule>_all_projects`).
pub(crate) fn list_scope(
    caller: &crate::caller::Caller,
    q: &std::collections::HashMap<String, String>,
    rule: &str,
) -> ApiResult<magnum_store::ClusterScope> {
    crate::policy::enforce(rule, caller, &caller.ctx.project_id)?;
    if crate::input::all_projects(q)? {
        crate::policy::enforce(&format!("{rule}_all_projects"), caller, &caller.ctx.project_id)?;
        Ok(magnum_store::ClusterScope::all())
    } else {
        Ok(magnum_store::ClusterScope::project(&caller.ctx.project_id))
    }
}

/// A collection body, `{"<key>": [...], "next": <url>}` (`next` only when there may be more).
pub(crate) fn collection(key: &str, items: Vec<serde_json::Value>, next: Option<String>) -> axum::response::Response {
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), serde_json::Value::Array(items));
    if let Some(n) = next {
        body.insert("next".into(), serde_json::Value::String(n));
    }
    crate::envelope::json_response(http::StatusCode::OK, &serde_json::Value::Object(body))
}

/// The bay an object is created on: the caller's own; naming a missing one is a bad request
/// (400, as upstream), not a 404 of the object's URL. Answers it with its template.
pub(crate) async fn own_bay(
    s: &AppState,
    caller: &crate::caller::Caller,
    ident: &str,
) -> ApiResult<(magnum_types::cluster::Cluster, magnum_types::template::ClusterTemplate)> {
    let scope = magnum_store::ClusterScope::project(&caller.ctx.project_id);
    let bay = s.store.get_cluster(&scope, ident).await.map_err(|e| match e.kind {
        magnum_types::ErrorKind::NotFound => MagnumError::invalid(e.message),
        _ => e,
    })?;
    let template = s.store.get_template_by_uuid(bay.cluster_template_id).await?;
    Ok((bay, template))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError(MagnumError::not_found("The resource could not be found."))
}

/// 406 for an API that exists only from `minor` on, as upstream words it.
pub(crate) fn require(version: Version, minor: u16, api: &str) -> ApiResult<()> {
    if version.at_least(minor) {
        Ok(())
    } else {
        Err(ApiError(MagnumError::new(
            magnum_types::ErrorKind::NotAcceptable,
            format!("Version {version} was requested but the requested API {api} is not supported for this version. It needs 1.{minor} or later."),
        )))
    }
}
