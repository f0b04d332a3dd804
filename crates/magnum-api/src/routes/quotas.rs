//! `/v1/quotas`: clusters per project (upstream's `Cluster`) and nodes per project (our `Node`:
//! every nodegroup's nodes, masters included); create/update/delete for admins.

use super::templates::empty;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, policy, AppState};
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::StatusCode;
use magnum_types::quota::{CLUSTER_RESOURCE, NODE_RESOURCE, QUOTA_SCHEMA};
use magnum_types::MagnumError;
use serde_json::{json, Map, Value};

fn check_resource(resource: &str) -> Result<(), MagnumError> {
    if resource == CLUSTER_RESOURCE || resource == NODE_RESOURCE {
        Ok(())
    } else {
        Err(MagnumError::invalid(format!(
            "Invalid quota resource '{resource}'. Only '{CLUSTER_RESOURCE}' and '{NODE_RESOURCE}' quotas are supported."
        )))
    }
}

fn fields(checked: &Map<String, Value>) -> (String, String, i64) {
    let s = |k: &str| checked.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    (s("project_id"), s("resource"), checked.get("hard_limit").and_then(Value::as_i64).unwrap_or(1))
}

pub(crate) async fn create(State(s): State<AppState>, caller: Caller, body: Bytes) -> ApiResult {
    let checked = QUOTA_SCHEMA.check_create(&input::json_body(&body)?)?;
    let (project, resource, limit) = fields(&checked);
    policy::enforce("quota:create", &caller, &project)?;
    check_resource(&resource)?;
    let q = s.store.create_quota(&project, &resource, limit).await?;
    Ok(json_response(StatusCode::CREATED, &q.to_api()))
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> ApiResult {
    let q = input::query(raw.as_deref())?;
    let all = input::all_projects(&q)? && caller.ctx.is_admin();
    if all {
        policy::enforce("quota:get_all", &caller, &caller.ctx.project_id)?;
    } else {
        policy::enforce("quota:get", &caller, &caller.ctx.project_id)?;
    }
    let limit = match q.get("limit") {
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n > 0 => (n as usize).min(s.config.api.max_limit),
            _ => return Err(MagnumError::invalid("Limit must be positive").into()),
        },
        None => s.config.api.max_limit,
    };
    let marker = match q.get("marker") {
        Some(m) => {
            Some(m.parse::<i64>().map_err(|_| MagnumError::invalid(format!("Invalid marker '{m}': quota markers are integer ids.")))?)
        }
        None => None,
    };
    let project = (!all).then(|| caller.ctx.project_id.clone());
    let items = s.store.list_quotas(project.as_deref(), limit, marker).await?;
    let mut body = json!({"quotas": items.iter().map(|q| q.to_api()).collect::<Vec<_>>()});
    if items.len() == limit {
        if let Some(last) = items.last() {
            body["next"] = Value::String(format!("{}/v1/quotas?limit={limit}&marker={}", caller.base, last.id));
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path((project, resource)): Path<(String, String)>) -> ApiResult {
    policy::enforce("quota:get", &caller, &project)?;
    check_resource(&resource)?;
    let body = match s.store.get_quota(&project, &resource).await? {
        Some(q) => q.to_api(),
        None if resource == NODE_RESOURCE => {
            return Err(MagnumError::not_found(format!(
                "Quota for project {project} and resource {NODE_RESOURCE} is not set: the project's nodes are not limited."
            ))
            .into())
        }
        None => json!({"project_id": project, "resource": resource, "hard_limit": s.config.quotas.max_clusters_per_project}),
    };
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, resource)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    policy::enforce("quota:update", &caller, &project)?;
    let mut given = input::json_body(&body)?;
    // The body is a quota object; path values fill what it leaves out.
    if let Some(obj) = given.as_object_mut() {
        obj.entry("project_id").or_insert_with(|| Value::String(project.clone()));
        obj.entry("resource").or_insert_with(|| Value::String(resource.clone()));
    }
    let checked = QUOTA_SCHEMA.check_create(&given)?;
    let (p, r, limit) = fields(&checked);
    if p != project || r != resource {
        return Err(MagnumError::invalid("project_id and resource in the body must match the URL.").into());
    }
    check_resource(&resource)?;
    if !checked.contains_key("hard_limit") {
        return Err(MagnumError::invalid("Mandatory field missing: hard_limit.").into());
    }
    let q = s.store.update_quota(&project, &resource, limit).await?;
    Ok(json_response(StatusCode::ACCEPTED, &q.to_api()))
}

pub(crate) async fn delete(State(s): State<AppState>, caller: Caller, Path((project, resource)): Path<(String, String)>) -> ApiResult {
    policy::enforce("quota:delete", &caller, &project)?;
    s.store.delete_quota(&project, &resource).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
