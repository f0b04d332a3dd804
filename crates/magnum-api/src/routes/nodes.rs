//! `/v1/nodes`: the machines of the caller's bays, as the conductor last observed them.

use crate::caller::one_scope;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, links, policy, AppState};
use axum::extract::{Path, RawQuery, State};
use http::StatusCode;
use magnum_types::node::{self, Node};
use serde_json::Value;

const SUMMARY: [&str; 6] = ["uuid", "name", "bay_uuid", "role", "status", "addresses"];

fn view(n: &Node, summary: bool, base: &str) -> Value {
    let mut doc = n.to_api();
    if summary {
        doc.retain(|k, _| SUMMARY.contains(&k.as_str()));
    }
    doc.insert("links".into(), links::links(base, &format!("nodes/{}", n.uuid)));
    Value::Object(doc)
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery, detail: bool) -> ApiResult {
    let q = input::query(q.as_deref())?;
    let rule = if detail { "node:detail" } else { "node:get_all" };
    let scope = super::list_scope(&caller, &q, rule)?;
    // `bay_ident` (the 2015 name), `cluster_id`, `cluster_uuid` or `bay_uuid` narrows the list
    // to one bay.
    let named = ["bay_ident", "cluster_id", "cluster_uuid", "bay_uuid"].iter().find_map(|k| q.get(*k));
    let cluster = match named {
        Some(ident) => Some(s.store.get_cluster(&scope, ident).await?.uuid),
        None => None,
    };
    let page = input::page(&q, &node::SORT_KEYS, s.config.api.max_limit)?;
    let items = s.store.list_nodes(&scope, cluster, &page).await?;
    let path = if detail { "nodes/detail" } else { "nodes" };
    let next = links::next(&caller.base, path, &page, items.len(), items.last().map(|n| n.uuid.to_string()));
    Ok(super::collection("nodes", items.iter().map(|n| view(n, !detail, &caller.base)).collect(), next))
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>) -> ApiResult {
    let n = s.store.get_node(&one_scope(&caller), &ident).await?;
    policy::enforce("node:get", &caller, &n.project_id)?;
    Ok(json_response(StatusCode::OK, &view(&n, false, &caller.base)))
}
