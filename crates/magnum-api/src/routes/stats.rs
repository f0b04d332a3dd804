//! `/v1/stats`: how many clusters and nodes a project (or, for admins, everyone) has.

use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, policy, AppState};
use axum::extract::{RawQuery, State};
use http::StatusCode;
use magnum_types::MagnumError;
use serde_json::json;

pub(crate) async fn get(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery) -> ApiResult {
    let q = input::query(q.as_deref())?;
    if let Some(t) = q.get("type").filter(|t| t.as_str() != "cluster") {
        return Err(MagnumError::invalid(format!("Invalid stats type '{t}'. Only 'cluster' is supported.")).into());
    }
    let project = match q.get("project_id").filter(|p| !p.is_empty()) {
        Some(p) => {
            policy::enforce("stats:get_all", &caller, p)?;
            Some(p.clone())
        }
        None if caller.ctx.is_admin() => None,
        None => {
            policy::enforce("stats:get_all", &caller, &caller.ctx.project_id)?;
            Some(caller.ctx.project_id.clone())
        }
    };
    let (clusters, nodes) = s.store.stats(project.as_deref()).await?;
    Ok(json_response(StatusCode::OK, &json!({"clusters": clusters, "nodes": nodes})))
}
