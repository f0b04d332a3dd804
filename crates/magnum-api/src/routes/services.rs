//! `/v1/mservices`: conductors and whether they are up (admin only).

use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{policy, AppState};
use axum::extract::State;
use http::StatusCode;
use serde_json::{json, Value};

pub(crate) async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult {
    policy::enforce("magnum-service:get_all", &caller, &caller.ctx.project_id)?;
    let now = magnum_types::time::now();
    let down_after = s.config.conductor.service_down_time;
    let items: Vec<Value> = s.store.list_services().await?.iter().map(|m| m.to_api(now, down_after)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "mservices": items })))
}
