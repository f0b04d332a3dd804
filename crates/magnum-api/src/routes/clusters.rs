//! `/v1/clusters` and `/v1/bays`, and the cluster actions (resize, upgrade).

use super::cluster_writes::{write_cluster, write_cluster_with, With};
use super::require;
use super::templates::empty;
use crate::caller::{one_scope, Caller};
use crate::envelope::json_response;
use crate::error::ApiResult;
use crate::views::{self, Level, Vocab};
use crate::{input, links, policy, AppState};
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use http::header::LOCATION;
use http::{HeaderValue, StatusCode};
use magnum_rpc::ConductorCommand;
use magnum_store::TemplateScope;
use magnum_types::attrs;
use magnum_types::buildable;
use magnum_types::cluster::{self, Cluster, ClusterCreator};
use magnum_types::cluster::{RESIZE_SCHEMA, UPGRADE_SCHEMA};
use magnum_types::coe::Coe;
use magnum_types::nodegroup::{NodeGroup, Role};
use magnum_types::status::{begin, Operation};
use magnum_types::template::ClusterTemplate;
use magnum_types::{patch, ErrorKind, MagnumError};
use serde_json::{json, Value};

async fn lookup(s: &AppState, caller: &Caller, ident: &str, vocab: Vocab, action: &str) -> ApiResult<Cluster> {
    let c = s.store.get_cluster(&one_scope(caller), ident).await?;
    policy::enforce(&vocab.cluster_rule(action), caller, &c.project_id)?;
    Ok(c)
}

/// The template a new cluster names. Missing is 400 below microversion 1.10 and 404 from it.
async fn template_for(s: &AppState, caller: &Caller, ident: &str) -> ApiResult<ClusterTemplate> {
    let scope = TemplateScope { project_id: caller.ctx.project_id.clone(), admin: true, all_projects: caller.ctx.is_admin() };
    let t = s.store.get_template(&scope, ident).await.map_err(|e| match e.kind {
        ErrorKind::NotFound if !caller.version.at_least(10) => MagnumError::invalid(e.message),
        _ => e,
    })?;
    if t.hidden && !caller.ctx.is_admin() && t.project_id != caller.ctx.project_id {
        return Err(MagnumError::forbidden(format!("ClusterTemplate {ident} is hidden: only admins may create clusters from it.")).into());
    }
    Ok(t)
}

/// Accepted work goes to the conductors. The desired state is already durable, so a failed
/// cast only delays the work until a conductor's sweep finds it.
pub(crate) async fn cast(s: &AppState, command: ConductorCommand) {
    if let Err(e) = s.rpc.cast(command.clone()).await {
        tracing::warn!(?command, error = %e, "cast failed; the conductors' sweep will pick the work up");
    }
}

fn accepted(uuid: uuid::Uuid) -> axum::response::Response {
    json_response(StatusCode::ACCEPTED, &json!({"uuid": uuid.to_string()}))
}

pub(crate) async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery, vocab: Vocab, detail: bool) -> ApiResult {
    let q = input::query(q.as_deref())?;
    let rule = vocab.cluster_rule(if detail { "detail" } else { "get_all" });
    let scope = super::list_scope(&caller, &q, &rule)?;
    let mut sortable = cluster::SORT_KEYS.to_vec();
    if vocab == Vocab::Bay {
        sortable.push("baymodel_id");
    }
    let mut page = input::page(&q, &sortable, s.config.api.max_limit)?;
    if page.sort_key == "baymodel_id" {
        page.sort_key = "cluster_template_id".into();
    }
    let items = s.store.list_clusters(&scope, &page).await?;
    let path = if detail { format!("{}/detail", vocab.clusters()) } else { vocab.clusters().to_owned() };
    let next = links::next(&caller.base, &path, &page, items.len(), items.last().map(|c| c.uuid.to_string()));
    let level = || if detail { Level::Detail } else { Level::Summary };
    let rendered: Vec<Value> = items.iter().map(|c| views::cluster(c, vocab, level(), caller.version, &caller.base)).collect();
    Ok(super::collection(vocab.clusters(), rendered, next))
}

pub(crate) async fn show(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, vocab: Vocab) -> ApiResult {
    let c = lookup(&s, &caller, &ident, vocab, "get").await?;
    let template_labels = s.store.get_template_by_uuid(c.cluster_template_id).await.map(|t| t.labels).unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &views::cluster(&c, vocab, Level::One { template_labels: &template_labels }, caller.version, &caller.base),
    ))
}

pub(crate) async fn create(State(s): State<AppState>, caller: Caller, body: Bytes, vocab: Vocab) -> ApiResult {
    policy::enforce(&vocab.cluster_rule("create"), &caller, &caller.ctx.project_id)?;
    let mut checked = vocab.cluster_schema().check_create(&input::json_body(&body)?)?;
    if vocab == Vocab::Bay {
        cluster::rename_keys(&mut checked, false);
    }
    let ident = checked.get("cluster_template_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let template = template_for(&s, &caller, &ident).await?;
    let coe = Coe::parse(&template.coe)?;
    let external = match checked.get("external_endpoint").filter(|v| !v.is_null()) {
        Some(v) => Some(magnum_types::external::parse(v, coe)?),
        None => None,
    };
    let who = ClusterCreator {
        project_id: &caller.ctx.project_id,
        user_id: &caller.ctx.user_id,
        flavors: &s.flavors,
        version: caller.version,
        now: magnum_types::time::now(),
    };
    let mut c = Cluster::from_create(&checked, &template, &who)?;
    if external.is_none() {
        buildable::check_labels(coe, &c.labels)?;
        buildable::check_counts(coe, c.master_count, c.node_count)?;
        buildable::check_builders(coe, s.store.conductors_build().await?.as_deref())?;
        super::templates::check_image(&s, &template).await?;
    }
    let groups =
        [NodeGroup::default_for(&c, Role::Master, &template.image_id), NodeGroup::default_for(&c, Role::Worker, &template.image_id)];
    let certs = match &external {
        None => Some(super::certificates::new_bay_certificates(&s, &c, coe)?),
        Some(e) => {
            c.api_address = Some(e.api_address.clone());
            super::certificates::external_bay_certificates(&s, e)?
        }
    };
    let c = s.store.create_cluster_with_certificates(&c, &groups, s.config.quotas.max_clusters_per_project, certs.as_ref()).await?;
    tracing::info!(cluster = %c.uuid, name = %c.name, masters = c.master_count, workers = c.node_count, "cluster accepted");
    cast(&s, ConductorCommand::ClusterCreate { uuid: c.uuid }).await;
    // Bays were synchronous at 1.1 (201 with the bay); everything else answers 202.
    if vocab == Vocab::Bay && !caller.version.at_least(2) {
        let labels = template.labels.clone();
        let mut resp = json_response(
            StatusCode::CREATED,
            &views::cluster(&c, vocab, Level::One { template_labels: &labels }, caller.version, &caller.base),
        );
        if let Ok(loc) = HeaderValue::from_str(&format!("{}/v1/bays/{}", caller.base, c.uuid)) {
            resp.headers_mut().insert(LOCATION, loc);
        }
        return Ok(resp);
    }
    Ok(accepted(c.uuid))
}

/// A new size must be one the bay's driver can build.
pub(crate) async fn check_counts(s: &AppState, c: &Cluster, masters: i64, workers: i64) -> Result<(), MagnumError> {
    let template = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    buildable::check_counts(Coe::parse(&template.coe)?, masters, workers)
}

/// An external bay's size is its owner's: magnum-rs never built its nodes.
pub(crate) fn not_resizable(c: &Cluster) -> MagnumError {
    MagnumError::invalid(format!("Cluster {} is an external bay: magnum-rs does not build its nodes, so it cannot resize it.", c.uuid))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    caller: Caller,
    Path(ident): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
    vocab: Vocab,
) -> ApiResult {
    let q = input::query(q.as_deref())?;
    if let Some(v) = q.get("rollback") {
        if !caller.version.at_least(3) {
            return Err(MagnumError::invalid("The rollback parameter needs microversion 1.3 or later.").into());
        }
        attrs::as_bool(&Value::String(v.clone()))
            .ok_or_else(|| MagnumError::invalid(format!("Invalid value for rollback: '{v}'. Expected true or false.")))?;
    }
    let ops = patch::parse(&input::json_body(&body)?)?;
    let c = lookup(&s, &caller, &ident, vocab, "update").await?;
    let mut before = views::cluster_doc(&c, vocab);
    let mut after = patch::apply(&before, &ops, &cluster::CLUSTER_PATCH_RULES)?;
    if vocab == Vocab::Bay {
        cluster::rename_keys(&mut before, false);
        cluster::rename_keys(&mut after, false);
    }
    let change = cluster::cluster_change(&before, &after, caller.version)?;
    let retry = ops.iter().any(|o| o.path[0] == "node_count") && c.status.accepts_retry();
    if change.is_empty() && !retry {
        return Err(MagnumError::invalid("The patch changes nothing.").into());
    }
    let resize = change.node_count.is_some() || retry;
    if resize && c.external {
        return Err(not_resizable(&c).into());
    }
    if resize {
        check_counts(&s, &c, c.master_count, change.node_count.unwrap_or(c.node_count)).await?;
    }
    let c = write_cluster_with(
        &s,
        c,
        |c| {
            if let Some(h) = change.health_status {
                c.health_status = Some(h);
            }
            if let Some(r) = &change.health_status_reason {
                c.health_status_reason = r.clone();
            }
            if resize {
                c.status = begin(c.status, Operation::Update)?;
                c.status_reason = None;
                c.node_count = change.node_count.unwrap_or(c.node_count);
                c.nodes_to_remove.clear();
            }
            Ok(())
        },
        if resize { With::Resize } else { With::Nothing },
    )
    .await?;
    if resize {
        tracing::info!(cluster = %c.uuid, workers = c.node_count, "cluster update accepted");
        cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    }
    if vocab == Vocab::Bay && !caller.version.at_least(2) {
        return Ok(json_response(StatusCode::OK, &views::cluster(&c, vocab, Level::Detail, caller.version, &caller.base)));
    }
    Ok(accepted(c.uuid))
}

pub(crate) async fn delete(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, vocab: Vocab) -> ApiResult {
    let c = lookup(&s, &caller, &ident, vocab, "delete").await?;
    let c = write_cluster(&s, c, |c| {
        c.status = begin(c.status, Operation::Delete)?;
        c.status_reason = None;
        Ok(())
    })
    .await?;
    tracing::info!(cluster = %c.uuid, "cluster delete accepted");
    cast(&s, ConductorCommand::ClusterDelete { uuid: c.uuid }).await;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(crate) async fn resize(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, body: Bytes) -> ApiResult {
    require(caller.version, 7, "resize")?;
    let checked = RESIZE_SCHEMA.check_create(&input::json_body(&body)?)?;
    let mut c = lookup(&s, &caller, &ident, Vocab::Cluster, "resize").await?;
    if c.external {
        return Err(not_resizable(&c).into());
    }
    let ng_ident = checked.get("nodegroup").and_then(Value::as_str).unwrap_or("default-worker");
    let ng = s.store.get_nodegroup(c.uuid, ng_ident).await?;
    let n = checked.get("node_count").and_then(Value::as_i64).unwrap_or_default();
    if ng.role == Role::Master {
        return resize_control_plane(
            &s,
            c,
            n,
            checked.get("nodes_to_remove").and_then(Value::as_array).is_some_and(|names| !names.is_empty()),
        )
        .await;
    }
    cluster::check_node_count(n, caller.version)?;
    if !ng.is_wanted() {
        return Err(MagnumError::invalid(format!("Nodegroup {} is being deleted; it cannot be resized.", ng.name)).into());
    }
    let groups = super::nodegroups::all_groups(&s, c.uuid).await?;
    let mut resized = ng.clone();
    resized.node_count = n;
    if ng.is_default {
        c.node_count = n;
    }
    check_counts(&s, &c, c.master_count, super::nodegroups::workers_with(&groups, &c, &resized)).await?;
    if n < ng.min_node_count || ng.max_node_count.is_some_and(|max| n > max) {
        return Err(MagnumError::invalid(format!(
            "Resizing nodegroup {} to {n} nodes is not allowed: it must stay between {} and {}.",
            ng.name,
            ng.min_node_count,
            ng.max_node_count.map(|m| m.to_string()).unwrap_or_else(|| "unlimited".into())
        ))
        .into());
    }
    let nodes_to_remove: Vec<String> = checked
        .get("nodes_to_remove")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if !ng.is_default {
        resized.status = magnum_types::status::ClusterStatus::UpdateInProgress;
        let start = |c: &mut Cluster| {
            c.status = begin(c.status, Operation::Update)?;
            c.status_reason = None;
            c.nodes_to_remove = nodes_to_remove.clone();
            Ok(())
        };
        write_cluster_with(&s, c.clone(), start, With::Group(&resized)).await?;
        tracing::info!(cluster = %c.uuid, nodegroup = %ng.name, nodes = n, remove = ?c.nodes_to_remove, "nodegroup resize accepted");
        cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
        return Ok(accepted(c.uuid));
    }
    let grow = |c: &mut Cluster| {
        c.status = begin(c.status, Operation::Update)?;
        c.status_reason = None;
        c.node_count = n;
        c.nodes_to_remove = nodes_to_remove.clone();
        Ok(())
    };
    let c = write_cluster_with(&s, c, grow, With::Resize).await?;
    tracing::info!(cluster = %c.uuid, workers = n, remove = ?c.nodes_to_remove, "cluster resize accepted");
    cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    Ok(accepted(c.uuid))
}

/// A resize of the master group: the control plane grows or shrinks in place where the bay's
/// driver builds that (swarm managers, keeping the raft quorum); elsewhere a 400 names the limit.
async fn resize_control_plane(s: &AppState, c: Cluster, masters: i64, names_nodes: bool) -> ApiResult {
    if masters < 1 {
        return Err(MagnumError::invalid(format!(
            "node_count {masters} is not allowed for the master nodegroup: a cluster needs at least 1 master."
        ))
        .into());
    }
    if names_nodes {
        return Err(MagnumError::invalid(
            "nodes_to_remove cannot name masters: a master nodegroup shrinks from its highest-numbered master (the first \
             one serves the cluster's api_address). Resize without nodes_to_remove.",
        )
        .into());
    }
    check_counts(s, &c, masters, c.node_count).await?;
    let c = write_cluster_with(
        s,
        c,
        |c| {
            c.status = begin(c.status, Operation::Update)?;
            c.status_reason = None;
            c.nodes_to_remove.clear();
            c.master_count = masters;
            Ok(())
        },
        With::Resize,
    )
    .await?;
    tracing::info!(cluster = %c.uuid, masters, "control-plane resize accepted");
    cast(s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    Ok(accepted(c.uuid))
}

pub(crate) async fn upgrade(State(s): State<AppState>, caller: Caller, Path(ident): Path<String>, body: Bytes) -> ApiResult {
    require(caller.version, 8, "upgrade")?;
    let checked = UPGRADE_SCHEMA.check_create(&input::json_body(&body)?)?;
    let c = lookup(&s, &caller, &ident, Vocab::Cluster, "upgrade").await?;
    if c.external {
        return Err(MagnumError::invalid(format!(
            "Cluster {} is an external bay: magnum-rs does not build its nodes, so it cannot upgrade it.",
            c.uuid
        ))
        .into());
    }
    let target = checked.get("cluster_template").and_then(Value::as_str).unwrap_or_default();
    let to = template_for(&s, &caller, target).await?;
    let from = s.store.get_template_by_uuid(c.cluster_template_id).await?;
    if Coe::parse(&to.coe)?.is_swarm() != Coe::parse(&from.coe)?.is_swarm() {
        return Err(MagnumError::invalid(format!(
            "Invalid cluster_template {target}: it is a {} template, and cluster {} is a {} cluster. Upgrade to a template of the same COE.",
            to.coe, c.name, from.coe
        ))
        .into());
    }
    if to.tls_disabled != from.tls_disabled {
        return Err(MagnumError::invalid(format!(
            "Invalid cluster_template {target}: its tls_disabled is {}, the cluster's template's is {}; an upgrade keeps the bay's TLS setting.",
            to.tls_disabled, from.tls_disabled
        ))
        .into());
    }
    if let Some(ng) = checked.get("nodegroup").and_then(Value::as_str) {
        let group = s.store.get_nodegroup(c.uuid, ng).await?;
        if !group.is_default {
            return Err(MagnumError::conflict(format!(
                "Nodegroup {} runs its own image; only the whole cluster (or a default nodegroup) is upgraded to another template.",
                group.name
            ))
            .into());
        }
    }
    buildable::check_labels(Coe::parse(&to.coe)?, &to.labels)?;
    super::templates::check_image(&s, &to).await?;
    let max_batch_size = checked.get("max_batch_size").and_then(Value::as_i64).unwrap_or(1);
    let c = write_cluster(&s, c, |c| {
        c.status = begin(c.status, Operation::Update)?;
        c.status_reason = None;
        if c.cluster_template_id == to.uuid && c.upgrade.is_none() {
            // Nothing to replace: the upgrade is done as it is accepted.
            c.status = magnum_types::status::ClusterStatus::UpdateComplete;
        } else {
            c.upgrade = Some(cluster::Upgrade { to: to.uuid, max_batch_size });
            c.nodes_to_remove.clear();
        }
        Ok(())
    })
    .await?;
    if c.upgrade.is_none() {
        tracing::info!(cluster = %c.uuid, template = %to.uuid, "upgrade to the cluster's own template: nothing to do");
        return Ok(accepted(c.uuid));
    }
    tracing::info!(cluster = %c.uuid, from = %from.uuid, to = %to.uuid, max_batch_size, "cluster upgrade accepted");
    cast(&s, ConductorCommand::ClusterUpdate { uuid: c.uuid }).await;
    Ok(accepted(c.uuid))
}
