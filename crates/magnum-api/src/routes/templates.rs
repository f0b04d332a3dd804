//! `/v1/clustertemplates` and `/v1/baymodels`.

use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::views::{self, Vocab};
use crate::{input, links, policy, AppState};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use magnum_store::TemplateScope;
use magnum_types::attrs::Access;
use magnum_types::template::{self, ClusterTemplate, Creator};
use magnum_types::{patch, MagnumError};
use serde_json::{json, Value};

/// Templates a caller may read: own project's and public ones (all for admins).
fn read_scope(caller: &Caller, all_projects: bool) -> TemplateScope {
    TemplateScope { project_id: caller.ctx.project_id.clone(), admin: caller.ctx.is_admin(), all_projects }
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery, vocab: Vocab, detail: bool) -> ApiResult {
    let q = input::query(q.as_deref())?;
    let rule = vocab.template_rule(if detail { "detail" } else { "get_all" });
    policy::enforce(&rule, &caller, &caller.ctx.project_id)?;
    let all = input::all_projects(&q)?;
    if all {
        policy::enforce(&format!("{rule}_all_projects"), &caller, &caller.ctx.project_id)?;
    }
    let page = input::page(&q, &template::SORT_KEYS, s.config.api.max_limit)?;
    let items = s.store.list_templates(&read_scope(&caller, all), &page).await?;
    let path = if detail { format!("{}/detail", vocab.templates()) } else { vocab.templates().to_owned() };
    let next = links::next(&caller.base, &path, &page, items.len(), items.last().map(|t| t.uuid.to_string()));
    let rendered: Vec<Value> = items.iter().map(|t| views::template(t, vocab, !detail, &caller.base)).collect();
    let mut body = json!({ vocab.templates(): rendered });
    if let Some(n) = next {
        body["next"] = Value::String(n);
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, vocab: Vocab) -> ApiResult {
    let t = s.store.get_template(&read_scope(&caller, caller.ctx.is_admin()), &ident).await?;
    if !t.public {
        policy::enforce(&vocab.template_rule("get"), &caller, &t.project_id)?;
    }
    Ok(json_response(StatusCode::OK, &views::template(&t, vocab, false, &caller.base)))
}

pub(crate) async fn create(State(s): State<AppState>, caller: Caller, body: Bytes, vocab: Vocab) -> ApiResult {
    policy::enforce(&vocab.template_rule("create"), &caller, &caller.ctx.project_id)?;
    let checked = vocab.template_schema().check_create(&input::json_body(&body)?)?;
    let who =
        Creator { project_id: &caller.ctx.project_id, user_id: &caller.ctx.user_id, flavors: &s.flavors, now: magnum_types::time::now() };
    let t = ClusterTemplate::from_create(&checked, &who)?;
    check_image(&s, &t).await?;
    if t.public || t.hidden {
        policy::enforce(&vocab.template_rule("publish"), &caller, &caller.ctx.project_id)
            .map_err(|_| MagnumError::forbidden("Not authorized to set public or hidden flag for cluster template."))?;
    }
    let t = s.store.create_template(&t).await?;
    tracing::info!(template = %t.uuid, coe = %t.coe, "cluster template created");
    let mut resp = json_response(StatusCode::CREATED, &views::template(&t, vocab, false, &caller.base));
    if let Ok(loc) = HeaderValue::from_str(&format!("{}/v1/{}/{}", caller.base, vocab.templates(), t.uuid)) {
        resp.headers_mut().insert(LOCATION, loc);
    }
    Ok(resp)
}

pub(crate) async fn update(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, body: Bytes, vocab: Vocab) -> ApiResult {
    // The body is checked before the lookup, as upstream does (a bad patch is 400 even for a
    // template that does not exist).
    let ops = patch::parse(&input::json_body(&body)?)?;
    let t = s.store.get_template(&read_scope(&caller, caller.ctx.is_admin()), &ident).await?;
    policy::enforce(&vocab.template_rule("update"), &caller, &t.project_id)?;
    let before = t.to_doc();
    let after = patch::apply(&before, &ops, &template::PATCH_RULES)?;
    let changed = patch::changed(&before, &after);
    let schema = vocab.template_schema();
    let mut checked = after.clone();
    for key in &changed {
        let attr = schema
            .get(key)
            .filter(|a| a.access != Access::ReadOnly)
            .ok_or_else(|| MagnumError::invalid(format!("'/{key}' is an internal attribute and can not be updated")))?;
        checked.insert(key.clone(), schema.check_value(attr, &after[key.as_str()])?);
    }
    if changed.iter().any(|c| c == "public" || c == "hidden") {
        policy::enforce(&vocab.template_rule("publish"), &caller, &t.project_id)
            .map_err(|_| MagnumError::forbidden("Not authorized to set public or hidden flag for cluster template."))?;
    }
    if !changed.is_empty() && !template::change_allowed_while_in_use(&changed) && s.store.template_in_use(t.uuid).await? {
        return Err(MagnumError::invalid(format!(
            "ClusterTemplate {} is referenced by one or multiple clusters: only its name, public, hidden and tags can change.",
            t.uuid
        ))
        .into());
    }
    let updated = if changed.is_empty() {
        t
    } else {
        let next = t.with_doc(&checked, &s.flavors)?;
        if changed.iter().any(|c| c == "image_id" || c == "coe") {
            check_image(&s, &next).await?;
        }
        s.store.update_template(&next).await?
    };
    Ok(json_response(StatusCode::OK, &views::template(&updated, vocab, false, &caller.base)))
}

pub(crate) async fn delete(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, vocab: Vocab) -> ApiResult<Response> {
    let t = s.store.get_template(&read_scope(&caller, caller.ctx.is_admin()), &ident).await?;
    policy::enforce(&vocab.template_rule("delete"), &caller, &t.project_id)?;
    s.store.delete_template(t.uuid).await?;
    tracing::info!(template = %t.uuid, "cluster template deleted");
    Ok(empty(StatusCode::NO_CONTENT))
}

/// A template of a COE this deployment builds must name an image some conductor's Docker
/// engine holds (the conductors report their images, and the images being built on their
/// hosts; the API never asks an engine itself). Its labels must be ones the driver can honour.
/// How long a template check waits for a conductor to look at its engine's images again.
const IMAGE_LOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn check_image(s: &AppState, t: &ClusterTemplate) -> Result<(), MagnumError> {
    let coe = magnum_types::coe::Coe::parse(&t.coe)?;
    magnum_types::buildable::check_labels(coe, &t.labels)?;
    if !s.config.docker.enabled {
        return Ok(());
    }
    let default = if coe.is_swarm() { "magnum/swarm-node:latest" } else { "magnum/kubernetes-node:v1.20.2" };
    let mut report = s.store.engine_image_known(&t.image_id).await?;
    if !report.present && report.reported {
        // The store holds what conductors saw at their last health tick: an image loaded
        // since then is looked for again before it is called missing. A conductor that does not
        // answer in time leaves the stored answer standing.
        if let Err(e) = s.rpc.call(magnum_rpc::ConductorCall::ReportImages, IMAGE_LOOK_TIMEOUT).await {
            tracing::debug!(error = %e, "no conductor looked at the engine's images again");
        }
        report = s.store.engine_image_known(&t.image_id).await?;
    }
    if report.present {
        return Ok(());
    }
    if report.building {
        return Err(MagnumError::invalid(format!(
            "Image {} is being built on a conductor's host (`magnum-server node-image build`); try again when it is done.",
            t.image_id
        )));
    }
    if !report.reported {
        return Err(MagnumError::invalid(format!(
            "Image {} cannot be checked: no conductor has reported its Docker engine's images yet. \
             Start a conductor (with a reachable engine) and retry.",
            t.image_id
        )));
    }
    Err(MagnumError::invalid(format!(
        "Image {} is not on the Docker engine. Build the node image with `magnum-server node-image build` \
         ({} nodes use {default}), or load yours into the engine.",
        t.image_id, t.coe
    )))
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = status;
    r
}
