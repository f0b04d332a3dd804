//! `/v1/clusters/{cluster}/nodegroups` (microversion 1.9 and later): the default master and
//! worker groups every cluster has, and the worker groups users add, resize (through
//! `actions/resize` with `nodegroup`) and remove. Adding or removing a group is an update of
//! its cluster: the cluster goes `UPDATE_IN_PROGRESS` with the group, and both settle together.

use super::cluster_writes::{write_cluster_with, With};
use super::clusters::{cast, check_counts, not_resizable};
use super::require;
use super::templates::empty;
use crate::caller::Caller;
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::{input, links, policy, views, AppState};
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::StatusCode;
use magnum_rpc::ConductorCommand;
use magnum_store::ClusterScope;
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::{self, GroupCreator, NodeGroup, Role, NODEGROUP_SCHEMA};
use magnum_types::pagination::PageRequest;
use magnum_types::status::{begin, ClusterStatus, Operation};
use magnum_types::{patch, MagnumError};
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
    ng.node_addresses = s
        .store
        .list_nodes(&ClusterScope::all(), Some(c.uuid), &PageRequest::everything())
        .await?
        .into_iter()
        .filter(|n| n.nodegroup == ng.name)
        .filter_map(|n| n.address)
        .collect();
    Ok(json_response(StatusCode::OK, &views::nodegroup(&ng, false, &caller.base)))
}

/// Every nodegroup of a cluster (a cluster has few).
pub(crate) async fn all_groups(s: &AppState, cluster: uuid::Uuid) -> ApiResult<Vec<NodeGroup>> {
    Ok(s.store.list_nodegroups(cluster, None, &PageRequest::everything()).await?)
}

/// Workers the cluster would have with `changed` in place of its stored self (or added); the
/// default worker group counts as `c.node_count`.
pub(crate) fn workers_with(groups: &[NodeGroup], c: &Cluster, changed: &NodeGroup) -> i64 {
    let count = |g: &NodeGroup| match g {
        g if !g.is_wanted() => 0,
        g if g.is_default => c.node_count,
        g => g.node_count,
    };
    let stored: i64 = groups.iter().filter(|g| g.role == Role::Worker && g.uuid != changed.uuid).map(count).sum();
    stored + if changed.role == Role::Worker { count(changed) } else { 0 }
}

/// A cluster that can take a change of its groups: one it built (not an external bay), in a
/// state an update may start from. Marks it `UPDATE_IN_PROGRESS`.
fn start_update(c: &mut Cluster) -> Result<(), MagnumError> {
    if c.external {
        return Err(not_resizable(c));
    }
    c.status = begin(c.status, Operation::Update)?;
    c.status_reason = None;
    c.nodes_to_remove.clear();
    Ok(())
}

pub(crate) async fn create(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, body: Bytes) -> ApiResult {
    require(caller.version, 9, "nodegroups")?;
    let checked = NODEGROUP_SCHEMA.check_create(&input::json_body(&body)?)?;
    let c = s.store.get_cluster(&scope(&caller), &ident).await?;
    policy::enforce("nodegroup:create", &caller, &c.project_id)?;
    let template = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    let who = GroupCreator {
        cluster: &c,
        image_id: &template.image_id,
        flavors: &s.flavors,
        version: caller.version,
        now: magnum_types::time::now(),
    };
    let ng = NodeGroup::from_create(&checked, &who)?;
    let groups = all_groups(&s, c.uuid).await?;
    if groups.iter().any(|g| g.name == ng.name) {
        return Err(MagnumError::conflict(format!(
            "A nodegroup named {} already exists in cluster {}. Choose another name.",
            ng.name, c.uuid
        ))
        .into());
    }
    let coe = magnum_types::coe::Coe::parse(&template.coe)?;
    magnum_types::buildable::check_nodegroup(coe, &ng)?;
    check_counts(&s, &c, c.master_count, workers_with(&groups, &c, &ng)).await?;
    if ng.image_id.as_deref() != Some(template.image_id.as_str()) {
        let mut with_image = template.clone();
        with_image.image_id = ng.image_id.clone().unwrap_or_default();
        super::templates::check_image(&s, &with_image).await?;
    }
    let c = write_cluster_with(&s, c, start_update, With::NewGroup(&ng)).await?;
    tracing::info!(cluster = %c.uuid, nodegroup = %ng.name, nodes = ng.node_count, "nodegroup create accepted");
    cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    let stored = s.store.get_nodegroup(c.uuid, &ng.uuid.to_string()).await?;
    Ok(json_response(StatusCode::ACCEPTED, &views::nodegroup(&stored, false, &caller.base)))
}

/// Attributes a nodegroup PATCH may change (upstream's list). Bounds are the group's record
/// alone; labels and taints go to its nodes, so changing them is an update of the cluster.
const PATCHABLE: [&str; 4] = ["min_node_count", "max_node_count", "node_labels", "node_taints"];

pub(crate) async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path((ident, ng_ident)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    require(caller.version, 9, "nodegroups")?;
    let ops = patch::parse(&input::json_body(&body)?)?;
    let c = s.store.get_cluster(&scope(&caller), &ident).await?;
    policy::enforce("nodegroup:update", &caller, &c.project_id)?;
    for op in &ops {
        let field = op.path.first().map(String::as_str).unwrap_or_default();
        if !PATCHABLE.contains(&field) {
            return Err(MagnumError::invalid(format!(
                "Cannot change nodegroup attribute /{}: only {} can be patched (resize a group with actions/resize).",
                op.path.join("/"),
                PATCHABLE.map(|p| format!("/{p}")).join(", ")
            ))
            .into());
        }
    }
    // The conductor writes the group's status as its cluster's work ends: a write that lands
    // in between is read again and the patch applied to what it left.
    let mut stored = s.store.get_nodegroup(c.uuid, &ng_ident).await?;
    let mut attempt = 0;
    let ng = loop {
        let ng = patched(stored.clone(), &ops)?;
        if ng.node_labels != stored.node_labels || ng.node_taints != stored.node_taints {
            return update_placement(&s, &caller, c, ng).await;
        }
        match s.store.update_nodegroup(None, &ng).await {
            Err(e) if e.kind == magnum_types::ErrorKind::Conflict && attempt < 4 => {
                attempt += 1;
                stored = s.store.get_nodegroup(c.uuid, &ng_ident).await?;
            }
            other => break other?,
        }
    };
    tracing::info!(cluster = %c.uuid, nodegroup = %ng.name, min = ng.min_node_count, max = ?ng.max_node_count, "nodegroup updated");
    Ok(json_response(StatusCode::ACCEPTED, &views::nodegroup(&ng, false, &caller.base)))
}

/// New labels or taints for a group's nodes: checked as at the group's creation, stored with
/// the group and its cluster `UPDATE_IN_PROGRESS`, then carried to the nodes by the conductor.
async fn update_placement(s: &AppState, caller: &Caller, c: Cluster, mut ng: NodeGroup) -> ApiResult {
    if ng.role == Role::Master {
        return Err(MagnumError::invalid(format!(
            "Nodegroup {}: a master group takes no node_labels or node_taints (its nodes run the control plane).",
            ng.name
        ))
        .into());
    }
    let template = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    magnum_types::buildable::check_nodegroup(magnum_types::coe::Coe::parse(&template.coe)?, &ng)?;
    ng.status = ClusterStatus::UpdateInProgress;
    ng.status_reason = None;
    let c = write_cluster_with(s, c, start_update, With::Group(&ng)).await?;
    tracing::info!(cluster = %c.uuid, nodegroup = %ng.name, labels = ?ng.node_labels, taints = ng.node_taints.len(), "nodegroup placement update accepted");
    cast(s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    let stored = s.store.get_nodegroup(c.uuid, &ng.uuid.to_string()).await?;
    Ok(json_response(StatusCode::ACCEPTED, &views::nodegroup(&stored, false, &caller.base)))
}

/// `ng` with the patch applied and checked.
fn patched(mut ng: NodeGroup, ops: &[patch::PatchOp]) -> ApiResult<NodeGroup> {
    let rules = patch::PatchRules { internal: &[], non_removable: &["min_node_count"] };
    let after = patch::apply(&ng.to_doc(), ops, &rules)?;
    for field in ["min_node_count", "max_node_count"] {
        let attr = NODEGROUP_SCHEMA.get(field).ok_or_else(|| MagnumError::internal(format!("no schema for {field}")))?;
        let v = NODEGROUP_SCHEMA.check_value(attr, after.get(field).unwrap_or(&Value::Null))?;
        match field {
            "min_node_count" => ng.min_node_count = v.as_i64().unwrap_or(0),
            _ => ng.max_node_count = v.as_i64(),
        }
    }
    ng.node_labels = magnum_types::node_placement::node_labels(after.get("node_labels"))?;
    ng.node_taints = magnum_types::node_placement::node_taints(after.get("node_taints"))?;
    if ng.max_node_count.is_some_and(|m| m < ng.min_node_count) {
        return Err(MagnumError::conflict(format!(
            "Nodegroup {}: max_node_count {} is below min_node_count {}.",
            ng.name,
            ng.max_node_count.unwrap_or_default(),
            ng.min_node_count
        ))
        .into());
    }
    nodegroup::check_bounds(&ng.name, ng.node_count, ng.min_node_count, ng.max_node_count)?;
    Ok(ng)
}

pub(crate) async fn delete(State(s): State<AppState>, caller: Caller, Path((ident, ng_ident)): Path<(String, String)>) -> ApiResult {
    require(caller.version, 9, "nodegroups")?;
    let c = s.store.get_cluster(&scope(&caller), &ident).await?;
    policy::enforce("nodegroup:delete", &caller, &c.project_id)?;
    let mut ng = s.store.get_nodegroup(c.uuid, &ng_ident).await?;
    if ng.is_default {
        return Err(MagnumError::invalid(format!(
            "Deleting a default nodegroup is not supported: {} goes with its cluster. Resize it, or delete the cluster.",
            ng.name
        ))
        .into());
    }
    ng.status = ClusterStatus::DeleteInProgress;
    ng.status_reason = None;
    write_cluster_with(&s, c, start_update, With::Group(&ng)).await?;
    tracing::info!(cluster = %ng.cluster_id, nodegroup = %ng.name, "nodegroup delete accepted");
    cast(&s, ConductorCommand::ClusterUpdate { uuid: ng.cluster_id }).await;
    Ok(empty(StatusCode::NO_CONTENT))
}
