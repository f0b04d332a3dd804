//! `/v1/clusters/{cluster}/nodegroups` (read-only here; microversion 1.9 and later).

use super::require;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, links, policy, views, AppState};
use axum::extract::{Path, RawQuery, State};
use http::StatusCode;
use magnum_store::ClusterScope;
use magnum_types::nodegroup::{self, Role};
use serde_json::{json, Value};

fn scope(caller: &Caller) -> ClusterScope {
    if caller.ctx.is_admin() {
        ClusterScope::all()
    } else {
        ClusterScope::project(&caller.ctx.project_id)
    }
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, RawQuery(q): RawQuery) -> ApiResult {
    require(caller.version, 9, "nodegroups")?;
    let q = input::query(q.as_deref())?;
    let c = s.store.get_cluster(&scope(&caller), &ident).await?;
    policy::enforce("nodegroup:get_all", &caller, &c.project_id)?;
    let page = input::page(&q, &nodegroup::SORT_KEYS, s.config.api.max_limit)?;
    let items = match q.get("role").map(String::as_str) {
        // Upstream filters by the given string: an unknown role matches nothing.
        Some(r) => match Role::parse(r) {
            Some(role) => s.store.list_nodegroups(c.uuid, Some(role), &page).await?,
            None => vec![],
        },
        None => s.store.list_nodegroups(c.uuid, None, &page).await?,
    };
    let path = format!("clusters/{}/nodegroups", c.uuid);
    let next = links::next(&caller.base, &path, &page, items.len(), items.last().map(|n| n.uuid.to_string()));
    let rendered: Vec<Value> = items.iter().map(|n| views::nodegroup(n, true, &caller.base)).collect();
    let mut body = json!({ "nodegroups": rendered });
    if let Some(n) = next {
        body["next"] = Value::String(n);
    }
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path((ident, ng)): Path<(String, String)>) -> ApiResult {
    require(caller.version, 9, "nodegroups")?;
    let c = s.store.get_cluster(&scope(&caller), &ident).await?;
    policy::enforce("nodegroup:get", &caller, &c.project_id)?;
    let mut ng = s.store.get_nodegroup(c.uuid, &ng).await?;
    // The addresses of the group's nodes as last observed.
    let all = magnum_types::pagination::PageRequest {
        limit: 10_000,
        marker: None,
        sort_key: "id".into(),
        sort_dir: magnum_types::pagination::SortDir::Asc,
    };
    ng.node_addresses = s
        .store
        .list_nodes(&ClusterScope::all(), Some(c.uuid), &all)
        .await?
        .into_iter()
        .filter(|n| n.nodegroup == ng.name)
        .filter_map(|n| n.address)
        .collect();
    Ok(json_response(StatusCode::OK, &views::nodegroup(&ng, false, &caller.base)))
}
