//! `/v1/pods`, `/v1/rcs`, `/v1/services`: Kubernetes objects of Kubernetes bays, made from
//! manifests (reference §A5). One set of handlers serves the three kinds.
//!
//! Lists read the store, whose state the conductor keeps following Kubernetes; show, create,
//! replace (PATCH with a new manifest) and delete are calls to the conductor, which acts on the
//! bay's Kubernetes API and answers what Kubernetes says. Item URLs also take upstream's second
//! segment, `/v1/pods/{ident}/{bay_ident}` (or `?bay_ident=`), which here narrows a name
//! lookup to one bay.

use super::templates::empty;
use crate::caller::one_scope;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, links, manifest_url, policy, AppState};
use axum::extract::{RawQuery, State};
use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use magnum_rpc::{CallReply, ConductorCall};
use magnum_store::ClusterScope;
use magnum_types::coe::Coe;
use magnum_types::k8s_object::{self, not_kubernetes, KubeObject, NAMESPACE, PATCH_RULES};
use magnum_types::manifest::{self, Kind, Parsed};
use magnum_types::{patch, ErrorKind, MagnumError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// How long the API waits for a conductor's answer (a Kubernetes call, maybe slow to connect).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn view(o: &KubeObject, summary: bool, base: &str) -> Value {
    let mut doc = o.to_api();
    if summary {
        let keep = k8s_object::summary(o.kind);
        doc.retain(|k, _| keep.contains(&k.as_str()));
    }
    doc.insert("links".into(), links::links(base, &format!("{}/{}", o.kind.collection(), o.uuid)));
    Value::Object(doc)
}

/// The bay `ident` names among `scope`'s, for narrowing a lookup or a list.
async fn bay_of(s: &AppState, scope: &ClusterScope, ident: Option<&str>) -> ApiResult<Option<Uuid>> {
    match ident {
        Some(i) => Ok(Some(s.store.get_cluster(scope, i).await?.uuid)),
        None => Ok(None),
    }
}

async fn lookup(s: &AppState, caller: &Caller, kind: Kind, ident: &str, bay_ident: Option<&str>, action: &str) -> ApiResult<KubeObject> {
    let scope = one_scope(caller);
    let bay = bay_of(s, &scope, bay_ident).await?;
    let o = s.store.get_kube_object(&scope, kind, bay, ident).await?;
    policy::enforce(&format!("{}:{action}", kind.resource()), caller, &o.project_id)?;
    Ok(o)
}

async fn call(s: &AppState, call: ConductorCall) -> ApiResult<KubeObject> {
    match s.rpc.call(call, CALL_TIMEOUT).await? {
        CallReply::KubeObject { object } => Ok(*object),
        other => Err(MagnumError::internal(format!("the conductor answered with an unexpected reply: {other:?}")).into()),
    }
}

/// Item paths: `{ident}` or `{ident}/{bay_ident}`, and `?bay_ident=` on either.
pub(crate) struct Item {
    ident: String,
    bay: Option<String>,
}

impl Item {
    pub(crate) fn one(ident: String, q: Option<&str>) -> ApiResult<Item> {
        let q = input::query(q)?;
        Ok(Item { ident, bay: q.get("bay_ident").cloned() })
    }
    pub(crate) fn two(ident: String, bay: String) -> Item {
        Item { ident, bay: Some(bay) }
    }
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery, kind: Kind, detail: bool) -> ApiResult {
    let q = input::query(q.as_deref())?;
    let rule = format!("{}:{}", kind.resource(), if detail { "detail" } else { "get_all" });
    let scope = super::list_scope(&caller, &q, &rule)?;
    let bay = bay_of(&s, &scope, q.get("bay_ident").or_else(|| q.get("bay_uuid")).map(String::as_str)).await?;
    let page = input::page(&q, &k8s_object::SORT_KEYS, s.config.api.max_limit)?;
    let items = s.store.list_kube_objects(&scope, kind, bay, &page).await?;
    let path = if detail { format!("{}/detail", kind.collection()) } else { kind.collection().to_owned() };
    let next = links::next(&caller.base, &path, &page, items.len(), items.last().map(|o| o.uuid.to_string()));
    Ok(super::collection(kind.collection(), items.iter().map(|o| view(o, !detail, &caller.base)).collect(), next))
}

/// Kubernetes' view of it now; the recorded one when no conductor can be asked.
pub(crate) async fn show(State(s): State<AppState>, caller: Caller, item: Item, kind: Kind) -> ApiResult {
    let o = lookup(&s, &caller, kind, &item.ident, item.bay.as_deref(), "get").await?;
    let o = match call(&s, ConductorCall::KubeShow { uuid: o.uuid }).await {
        Ok(live) => live,
        Err(e) if e.0.kind == ErrorKind::Unavailable => {
            tracing::warn!(uuid = %o.uuid, error = %e.0, "no conductor answered; showing the recorded state");
            o
        }
        Err(e) => return Err(e),
    };
    Ok(json_response(StatusCode::OK, &view(&o, false, &caller.base)))
}

/// The manifest text of a body: `manifest`, or what `manifest_url` serves.
async fn manifest_text(body: &Map<String, Value>) -> ApiResult<String> {
    match (body.get("manifest").and_then(Value::as_str), body.get("manifest_url").and_then(Value::as_str)) {
        (Some(_), Some(_)) => Err(MagnumError::invalid("Give either manifest or manifest_url, not both.").into()),
        (Some(text), None) => Ok(text.to_owned()),
        (None, Some(url)) => Ok(manifest_url::fetch(url).await?),
        (None, None) => Err(MagnumError::invalid("A manifest is required: give manifest (YAML or JSON text) or manifest_url.").into()),
    }
}

/// The document sent to Kubernetes: the manifest with its kind and API version made explicit,
/// in magnum's namespace.
fn kubernetes_document(kind: Kind, parsed: &Parsed) -> ApiResult<Value> {
    let mut doc = parsed.document.clone();
    let obj = doc.as_object_mut().ok_or_else(|| MagnumError::invalid("The manifest must be a mapping."))?;
    match obj.get("apiVersion").and_then(Value::as_str) {
        None => {
            obj.insert("apiVersion".into(), Value::String("v1".into()));
        }
        Some("v1") => {}
        Some(other) => {
            return Err(MagnumError::invalid(format!(
                "The manifest's apiVersion is {other}; {}s are managed through the core API, apiVersion v1.",
                kind.as_str()
            ))
            .into())
        }
    }
    obj.insert("kind".into(), Value::String(kind.as_str().into()));
    match doc.pointer("/metadata/namespace").and_then(Value::as_str) {
        None => {}
        Some(ns) if ns == NAMESPACE => {}
        Some(ns) => {
            return Err(MagnumError::invalid(format!(
            "The manifest puts the object in namespace {ns}; magnum manages objects in namespace {NAMESPACE}. Remove metadata.namespace."
        ))
            .into())
        }
    }
    Ok(doc)
}

pub(crate) async fn create(State(s): State<AppState>, caller: Caller, body: Bytes, kind: Kind) -> ApiResult {
    policy::enforce(&format!("{}:create", kind.resource()), &caller, &caller.ctx.project_id)?;
    let checked = k8s_object::schema(kind).check_create(&input::json_body(&body)?)?;
    let bay_ident = checked.get("bay_uuid").and_then(Value::as_str).unwrap_or_default();
    let (bay, template) = super::own_bay(&s, &caller, bay_ident).await?;
    if Coe::parse(&template.coe).ok() != Some(Coe::Kubernetes) {
        return Err(not_kubernetes(&template.coe).into());
    }
    if !bay.status.is_complete() {
        return Err(MagnumError::invalid(format!(
            "Bay {} is {}: objects can be created on a bay whose status is CREATE_COMPLETE or UPDATE_COMPLETE.",
            bay.name, bay.status
        ))
        .into());
    }
    let parsed = manifest::parse(&manifest_text(&checked).await?, kind)?;
    let document = kubernetes_document(kind, &parsed)?;
    let o =
        KubeObject::from_create(kind, &checked, &parsed, bay.uuid, &caller.ctx.project_id, &caller.ctx.user_id, magnum_types::time::now())?;
    let created = call(&s, ConductorCall::KubeCreate { object: Box::new(o), document }).await?;
    let mut resp = json_response(StatusCode::CREATED, &view(&created, false, &caller.base));
    if let Ok(loc) = HeaderValue::from_str(&format!("{}/v1/{}/{}", caller.base, kind.collection(), created.uuid)) {
        resp.headers_mut().insert(LOCATION, loc);
    }
    Ok(resp)
}

/// PATCH: a new `manifest` (or `manifest_url`) replaces the object in Kubernetes; a pod's
/// `desc` is magnum's own. Everything else is Kubernetes' to say.
pub(crate) async fn update(State(s): State<AppState>, caller: Caller, item: Item, body: Bytes, kind: Kind) -> ApiResult {
    let ops = patch::parse(&input::json_body(&body)?)?;
    let o = lookup(&s, &caller, kind, &item.ident, item.bay.as_deref(), "update").await?;
    let mut before = o.to_api();
    before.insert("manifest".into(), Value::Null);
    before.insert("manifest_url".into(), Value::Null);
    let after = patch::apply(&before, &ops, &PATCH_RULES)?;
    let changed: HashMap<String, Value> =
        patch::changed(&before, &after).into_iter().map(|k| (k.clone(), after.get(&k).cloned().unwrap_or(Value::Null))).collect();
    if changed.is_empty() {
        return Err(MagnumError::invalid("The patch changes nothing.").into());
    }
    let schema = k8s_object::schema(kind);
    let mut checked = Map::new();
    for (k, v) in &changed {
        let attr = schema.get(k).ok_or_else(|| MagnumError::invalid(format!("Unknown attribute for argument {}: {k}", kind.resource())))?;
        checked.insert(k.clone(), schema.check_value(attr, v)?);
    }
    let mut current = o.clone();
    if checked.contains_key("desc") {
        let desc = checked.get("desc").and_then(Value::as_str);
        current = s.store.set_kube_description(&o, desc).await?;
    }
    if checked.contains_key("manifest") || checked.contains_key("manifest_url") {
        let parsed = manifest::parse(&manifest_text(&checked).await?, kind)?;
        if parsed.name != o.name {
            return Err(MagnumError::invalid(format!(
                "The manifest names {} {}, but this one is {}: Kubernetes cannot rename an object. Create a new one instead.",
                kind.as_str(),
                parsed.name,
                o.name
            ))
            .into());
        }
        let document = kubernetes_document(kind, &parsed)?;
        current = call(&s, ConductorCall::KubeReplace { uuid: o.uuid, document }).await?;
    }
    Ok(json_response(StatusCode::OK, &view(&current, false, &caller.base)))
}

pub(crate) async fn delete(State(s): State<AppState>, caller: Caller, item: Item, kind: Kind) -> ApiResult {
    let o = lookup(&s, &caller, kind, &item.ident, item.bay.as_deref(), "delete").await?;
    match s.rpc.call(ConductorCall::KubeDelete { uuid: o.uuid }, CALL_TIMEOUT).await? {
        CallReply::Done => Ok(empty(StatusCode::NO_CONTENT)),
        other => Err(MagnumError::internal(format!("the conductor answered with an unexpected reply: {other:?}")).into()),
    }
}
