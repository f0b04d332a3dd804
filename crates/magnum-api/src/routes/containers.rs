//! `/v1/containers`: Docker containers on swarm bays, and their actions (reference §A6).
//!
//! Reads come from the store (statuses the conductor keeps current), so listing a hundred
//! containers asks no engine anything. Everything that acts on an engine is a call to the
//! conductor, which answers with the outcome. Every endpoint, actions included, has its
//! `container:<action>` policy rule.

use super::templates::empty;
use crate::caller::one_scope;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, links, policy, AppState};
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use magnum_rpc::{CallReply, ConductorCall};
use magnum_types::coe::Coe;
use magnum_types::container::{self, split_command, Container, ContainerAction, CONTAINER_PATCH_RULES, CONTAINER_SCHEMA};
use magnum_types::{patch, MagnumError};
use serde_json::{json, Value};
use std::time::Duration;

/// How long the API waits for a conductor's answer: an `execute` may run for a minute, and a
/// create may first load its image onto the node.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

fn view(c: &Container, summary: bool, base: &str) -> Value {
    let mut doc = c.to_api();
    if summary {
        doc.retain(|k, _| container::SUMMARY.contains(&k.as_str()));
    }
    doc.insert("links".into(), links::links(base, &format!("containers/{}", c.uuid)));
    Value::Object(doc)
}

async fn lookup(s: &AppState, caller: &Caller, ident: &str, action: &str) -> ApiResult<Container> {
    let c = s.store.get_container(&one_scope(caller), ident).await?;
    policy::enforce(&format!("container:{action}"), caller, &c.project_id)?;
    Ok(c)
}

async fn call(s: &AppState, call: ConductorCall) -> ApiResult<CallReply> {
    Ok(s.rpc.call(call, CALL_TIMEOUT).await?)
}

fn unexpected(reply: CallReply) -> MagnumError {
    MagnumError::internal(format!("the conductor answered with an unexpected reply: {reply:?}"))
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery, detail: bool) -> ApiResult {
    let q = input::query(q.as_deref())?;
    let rule = if detail { "container:detail" } else { "container:get_all" };
    let scope = super::list_scope(&caller, &q, rule)?;
    // `bay_ident` (what the 2015 client sends) or `bay_uuid` narrows the list to one bay.
    let bay = match q.get("bay_ident").or_else(|| q.get("bay_uuid")) {
        Some(ident) => Some(s.store.get_cluster(&scope, ident).await?.uuid),
        None => None,
    };
    let page = input::page(&q, &container::SORT_KEYS, s.config.api.max_limit)?;
    let items = s.store.list_containers(&scope, bay, &page).await?;
    let path = if detail { "containers/detail" } else { "containers" };
    let next = links::next(&caller.base, path, &page, items.len(), items.last().map(|c| c.uuid.to_string()));
    Ok(super::collection("containers", items.iter().map(|c| view(c, !detail, &caller.base)).collect(), next))
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    let c = lookup(&s, &caller, &ident, "get").await?;
    Ok(json_response(StatusCode::OK, &view(&c, false, &caller.base)))
}

pub(crate) async fn create(State(s): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    policy::enforce("container:create", &caller, &caller.ctx.project_id)?;
    let checked = CONTAINER_SCHEMA.check_create(&input::json_body(&body)?)?;
    let bay_ident = checked.get("bay_uuid").and_then(Value::as_str).unwrap_or_default();
    let (bay, template) = super::own_bay(&s, &caller, bay_ident).await?;
    if !Coe::parse(&template.coe).is_ok_and(Coe::is_swarm) {
        return Err(MagnumError::invalid(format!(
            "Bay {} is a {} bay; containers run on swarm bays only (coe swarm or swarm-mode).",
            bay.name, template.coe
        ))
        .into());
    }
    if !bay.status.is_complete() {
        return Err(MagnumError::invalid(format!(
            "Bay {} is {}: containers can be created on a bay whose status is CREATE_COMPLETE or UPDATE_COMPLETE.",
            bay.name, bay.status
        ))
        .into());
    }
    let c = Container::from_create(&checked, bay.uuid, &caller.ctx.project_id, &caller.ctx.user_id, magnum_types::time::now())?;
    let created = match call(&s, ConductorCall::ContainerCreate { container: Box::new(c) }).await? {
        CallReply::Container { container } => container,
        other => return Err(unexpected(other).into()),
    };
    let mut resp = json_response(StatusCode::CREATED, &view(&created, false, &caller.base));
    if let Ok(loc) = HeaderValue::from_str(&format!("{}/v1/containers/{}", caller.base, created.uuid)) {
        resp.headers_mut().insert(LOCATION, loc);
    }
    Ok(resp)
}

pub(crate) async fn update(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, body: Bytes) -> ApiResult {
    let ops = patch::parse(&input::json_body(&body)?)?;
    let c = lookup(&s, &caller, &ident, "update").await?;
    let after = patch::apply(&c.to_api(), &ops, &CONTAINER_PATCH_RULES)?;
    let name_attr = CONTAINER_SCHEMA.get("name").ok_or_else(|| MagnumError::internal("the container schema has no name"))?;
    let name = CONTAINER_SCHEMA.check_value(name_attr, after.get("name").unwrap_or(&Value::Null))?;
    let name = name.as_str().ok_or_else(|| MagnumError::invalid("'/name' is a mandatory attribute and can not be removed"))?;
    if name == c.name {
        return Err(MagnumError::invalid("The patch changes nothing.").into());
    }
    let renamed = s.store.rename_container(&c, name).await?;
    Ok(json_response(StatusCode::OK, &view(&renamed, false, &caller.base)))
}

pub(crate) async fn delete(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    let c = lookup(&s, &caller, &ident, "delete").await?;
    call(&s, ConductorCall::ContainerDelete { uuid: c.uuid }).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `PUT /v1/containers/{ident}/{start|stop|reboot|pause|unpause}`: 200 with the container in
/// the state the engine reports after the action.
pub(crate) async fn act(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, action: ContainerAction) -> ApiResult {
    let c = lookup(&s, &caller, &ident, action.as_str()).await?;
    match call(&s, ConductorCall::ContainerAction { uuid: c.uuid, action }).await? {
        CallReply::Container { container } => Ok(json_response(StatusCode::OK, &view(&container, false, &caller.base))),
        other => Err(unexpected(other).into()),
    }
}

pub(crate) async fn logs(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    let c = lookup(&s, &caller, &ident, "logs").await?;
    match call(&s, ConductorCall::ContainerLogs { uuid: c.uuid }).await? {
        CallReply::Output { output, .. } => Ok(json_response(StatusCode::OK, &json!({"output": output}))),
        other => Err(unexpected(other).into()),
    }
}

/// `PUT /v1/containers/{ident}/execute?command=...`, or with `{"command": "..."}` as body:
/// `{"output": <stdout and stderr>, "exit_code": <n, or null if still running after 60 s>}`.
pub(crate) async fn execute(
    State(s): State<AppState>,
    caller: Caller,
    Path(ident): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult {
    let q = input::query(q.as_deref())?;
    let command = match q.get("command") {
        Some(c) => c.clone(),
        None if body.iter().all(u8::is_ascii_whitespace) => {
            return Err(MagnumError::invalid("Missing command: give it as ?command=... or as {\"command\": \"...\"}.").into())
        }
        None => match input::json_body(&body)?.get("command") {
            Some(Value::String(c)) => c.clone(),
            _ => return Err(MagnumError::invalid("Invalid input for execute: the body must be {\"command\": \"<command line>\"}.").into()),
        },
    };
    let argv = split_command(&command)?;
    let c = lookup(&s, &caller, &ident, "execute").await?;
    match call(&s, ConductorCall::ContainerExec { uuid: c.uuid, command: argv }).await? {
        CallReply::Output { output, exit_code } => Ok(json_response(StatusCode::OK, &json!({"output": output, "exit_code": exit_code}))),
        other => Err(unexpected(other).into()),
    }
}
