//! clusters (bays) and their nodegroups; the quota check; stats.

use crate::error::{corrupt, from_sqlx};
use crate::page::{self, Bind, KeyType, PagedQuery};
use crate::{Backend, Fenced, Lease, Store};
use magnum_types::cluster::Cluster;
use magnum_types::names::is_uuid_like;
use magnum_types::nodegroup::{NodeGroup, Role};
use magnum_types::pagination::PageRequest;
use magnum_types::status::ClusterStatus;
use magnum_types::time::{from_storage, to_storage};
use magnum_types::{ErrorKind, MagnumError, Result};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

/// Whose clusters a caller sees: one project's, or all (`None`, admins with all_projects).
#[derive(Debug, Clone)]
pub struct ClusterScope {
    pub project_id: Option<String>,
}

impl ClusterScope {
    pub fn project(p: &str) -> Self {
        ClusterScope { project_id: Some(p.to_owned()) }
    }
    pub fn all() -> Self {
        ClusterScope { project_id: None }
    }
    pub(crate) fn filter(&self, first: usize) -> (String, Vec<Bind>) {
        match &self.project_id {
            Some(p) => (format!("project_id = ${first}"), vec![Bind::Text(p.clone())]),
            None => ("1 = 1".into(), vec![]),
        }
    }
}

const COLUMNS: &str =
    "id, version, project_id, name, cluster_template_id, status, node_count, master_count, create_timeout, created_at, updated_at, body";
const NG_COLUMNS: &str = "id, version, cluster_id, project_id, name, role, is_default, node_count, status, created_at, updated_at, body";

fn key_of(sort_key: &str) -> (&'static str, KeyType) {
    match sort_key {
        "uuid" => ("uuid", KeyType::Text),
        "name" => ("name", KeyType::Text),
        "status" => ("status", KeyType::Text),
        "node_count" => ("node_count", KeyType::Int),
        "master_count" => ("master_count", KeyType::Int),
        "create_timeout" => ("create_timeout", KeyType::Int),
        "created_at" => ("created_at", KeyType::Text),
        "updated_at" => ("updated_at", KeyType::NullableText),
        "cluster_template_id" => ("cluster_template_id", KeyType::Text),
        _ => ("id", KeyType::Int),
    }
}

fn ng_key_of(sort_key: &str) -> (&'static str, KeyType) {
    match sort_key {
        "uuid" => ("uuid", KeyType::Text),
        "name" => ("name", KeyType::Text),
        "role" => ("role", KeyType::Text),
        "node_count" => ("node_count", KeyType::Int),
        "created_at" => ("created_at", KeyType::Text),
        "updated_at" => ("updated_at", KeyType::NullableText),
        _ => ("id", KeyType::Int),
    }
}

fn timestamps(row: &AnyRow) -> Result<(magnum_types::time::Timestamp, Option<magnum_types::time::Timestamp>)> {
    let created: String = row.try_get("created_at").map_err(from_sqlx)?;
    let created = from_storage(&created).ok_or_else(|| corrupt("timestamp", &created))?;
    let updated = row.try_get::<Option<String>, _>("updated_at").map_err(from_sqlx)?.and_then(|s| from_storage(&s));
    Ok((created, updated))
}

fn decode(row: &AnyRow) -> Result<Cluster> {
    let body: String = row.try_get("body").map_err(from_sqlx)?;
    let mut c: Cluster = serde_json::from_str(&body).map_err(|e| corrupt("cluster", e))?;
    c.id = row.try_get("id").map_err(from_sqlx)?;
    c.version = row.try_get("version").map_err(from_sqlx)?;
    c.project_id = row.try_get("project_id").map_err(from_sqlx)?;
    c.name = row.try_get("name").map_err(from_sqlx)?;
    let status: String = row.try_get("status").map_err(from_sqlx)?;
    c.status = status.parse().map_err(|e| corrupt("cluster status", e))?;
    c.node_count = row.try_get("node_count").map_err(from_sqlx)?;
    c.master_count = row.try_get("master_count").map_err(from_sqlx)?;
    c.create_timeout = row.try_get("create_timeout").map_err(from_sqlx)?;
    (c.created_at, c.updated_at) = timestamps(row)?;
    Ok(c)
}

fn decode_ng(row: &AnyRow) -> Result<NodeGroup> {
    let body: String = row.try_get("body").map_err(from_sqlx)?;
    let mut ng: NodeGroup = serde_json::from_str(&body).map_err(|e| corrupt("nodegroup", e))?;
    ng.id = row.try_get("id").map_err(from_sqlx)?;
    ng.version = row.try_get("version").map_err(from_sqlx)?;
    ng.node_count = row.try_get("node_count").map_err(from_sqlx)?;
    let status: String = row.try_get("status").map_err(from_sqlx)?;
    ng.status = status.parse().map_err(|e| corrupt("nodegroup status", e))?;
    let role: String = row.try_get("role").map_err(from_sqlx)?;
    ng.role = Role::parse(&role).ok_or_else(|| corrupt("nodegroup role", &role))?;
    (ng.created_at, ng.updated_at) = timestamps(row)?;
    Ok(ng)
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| MagnumError::internal(format!("cannot encode: {e}")))
}

impl Store {
    /// Inserts a cluster with its default nodegroups, in one transaction with the quota check:
    /// the project may hold at most its quota (or `default_limit`) clusters.
    pub async fn create_cluster(&self, c: &Cluster, nodegroups: &[NodeGroup], default_limit: i64) -> Result<Cluster> {
        self.create_cluster_with_certificates(c, nodegroups, default_limit, None).await
    }

    /// As [`Store::create_cluster`], storing the bay's certificates in the same transaction.
    pub async fn create_cluster_with_certificates(
        &self,
        c: &Cluster,
        nodegroups: &[NodeGroup],
        default_limit: i64,
        certificates: Option<&crate::StoredCertificates>,
    ) -> Result<Cluster> {
        // Read before the transaction: inside it, a second connection could wait on a pool that
        // concurrent creates hold.
        let node_limit = node_limit(&self.pool, &c.project_id).await?;
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        if self.backend == Backend::Postgres {
            // Serializes creates per project so the count below cannot go stale.
            sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l")
                .bind(&c.project_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        }
        let limit = sqlx::query("SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = 'Cluster'")
            .bind(&c.project_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(from_sqlx)?
            .map(|r| r.try_get::<i64, _>("hard_limit"))
            .transpose()
            .map_err(from_sqlx)?
            .unwrap_or(default_limit);
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM clusters WHERE project_id = $1")
            .bind(&c.project_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlx)?
            .try_get("n")
            .map_err(from_sqlx)?;
        if count >= limit {
            return Err(MagnumError::forbidden(format!(
                "Resource limit exceeded: You have reached the maximum clusters per project, {limit}. \
                 You may delete a cluster to make room for a new one."
            )));
        }
        let quota = node_quota(&mut tx, self.backend, &c.project_id, node_limit).await?;
        let row = sqlx::query(
            "INSERT INTO clusters (uuid, version, project_id, user_id, name, cluster_template_id, status, node_count, \
             master_count, create_timeout, created_at, updated_at, body) \
             VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11) RETURNING id",
        )
        .bind(c.uuid.to_string())
        .bind(&c.project_id)
        .bind(&c.user_id)
        .bind(&c.name)
        .bind(c.cluster_template_id.to_string())
        .bind(c.status.as_str())
        .bind(c.node_count)
        .bind(c.master_count)
        .bind(c.create_timeout)
        .bind(to_storage(&c.created_at))
        .bind(json(c)?)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match from_sqlx(e) {
            err if err.kind == ErrorKind::Invalid => {
                MagnumError::invalid(format!("ClusterTemplate {} could not be found.", c.cluster_template_id))
            }
            err => err,
        })?;
        for ng in nodegroups {
            insert_nodegroup(&mut tx, ng).await?;
        }
        check_node_quota(&mut tx, &c.project_id, quota).await?;
        if let Some(certs) = certificates {
            Store::insert_certificates(&mut tx, c.uuid, certs).await?;
        }
        tx.commit().await.map_err(from_sqlx)?;
        let mut out = c.clone();
        out.id = row.try_get("id").map_err(from_sqlx)?;
        out.version = 1;
        Ok(out)
    }

    /// By UUID or name within `scope`: 404 when none, 409 when a name is ambiguous.
    pub async fn get_cluster(&self, scope: &ClusterScope, ident: &str) -> Result<Cluster> {
        decode(&page::lookup_one(&self.pool, "clusters", COLUMNS, scope.filter(1), ident, ("Cluster", "cluster")).await?)
    }

    pub async fn get_cluster_by_uuid(&self, uuid: Uuid) -> Result<Option<Cluster>> {
        let sql = format!("SELECT {COLUMNS} FROM clusters WHERE uuid = $1");
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&self.pool).await.map_err(from_sqlx)?;
        row.as_ref().map(decode).transpose()
    }

    pub async fn list_clusters(&self, scope: &ClusterScope, page: &PageRequest) -> Result<Vec<Cluster>> {
        let (filter, binds) = scope.filter(1);
        let q = PagedQuery { table: "clusters", columns: COLUMNS, filter, binds, key: key_of(&page.sort_key), what: "cluster" };
        page::fetch(&self.pool, q, page).await?.iter().map(decode).collect()
    }

    /// Clusters with an operation in progress, oldest first (the conductor's sweep).
    pub async fn clusters_in_progress(&self) -> Result<Vec<Cluster>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clusters WHERE status IN ('CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS', \
             'DELETE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS') ORDER BY id"
        );
        sqlx::query(&sql).fetch_all(&self.pool).await.map_err(from_sqlx)?.iter().map(decode).collect()
    }

    /// Clusters whose last operation finished (complete, or a failed update that left nodes
    /// running): the ones whose health and nodes the conductor watches.
    pub async fn clusters_settled(&self) -> Result<Vec<Cluster>> {
        let settled: Vec<String> = ClusterStatus::ALL
            .iter()
            .filter(|s| s.is_complete() || **s == ClusterStatus::UpdateFailed)
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        let sql = format!("SELECT {COLUMNS} FROM clusters WHERE status IN ({}) ORDER BY id", settled.join(", "));
        sqlx::query(&sql).fetch_all(&self.pool).await.map_err(from_sqlx)?.iter().map(decode).collect()
    }

    /// Writes `c` if nobody changed it since it was read (`c.version`); 409 otherwise. The
    /// default nodegroups follow the cluster's counts and status in the same transaction.
    pub async fn update_cluster(&self, c: &Cluster) -> Result<Cluster> {
        self.write_cluster(c, None).await
    }

    /// [`Store::update_cluster`] for a write that adds nodes (a resize up): refused with a 403
    /// when it takes the project past its node quota.
    pub async fn grow_cluster(&self, c: &Cluster) -> Result<Cluster> {
        self.write_cluster(c, node_limit(&self.pool, &c.project_id).await?).await
    }

    async fn write_cluster(&self, c: &Cluster, node_limit: Option<i64>) -> Result<Cluster> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let quota = node_quota(&mut tx, self.backend, &c.project_id, node_limit).await?;
        match update_in(&mut tx, c).await? {
            Some(out) => {
                check_node_quota(&mut tx, &c.project_id, quota).await?;
                tx.commit().await.map_err(from_sqlx)?;
                Ok(out)
            }
            None => {
                drop(tx);
                Err(self.missing_or_stale("clusters", "Cluster", c.uuid).await)
            }
        }
    }

    /// [`Store::update_cluster`] by a conductor holding the bay's `lease`: nothing is written
    /// once another conductor has taken the bay over.
    pub async fn update_cluster_under(&self, c: &Cluster, lease: &Lease) -> Result<Fenced<Cluster>> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        if !self.holds(&mut tx, lease).await? {
            return Ok(Fenced::LeaseLost);
        }
        match update_in(&mut tx, c).await? {
            Some(out) => {
                tx.commit().await.map_err(from_sqlx)?;
                Ok(Fenced::Done(out))
            }
            None => {
                drop(tx);
                Err(self.missing_or_stale("clusters", "Cluster", c.uuid).await)
            }
        }
    }

    /// [`Store::delete_cluster`] by a conductor holding the bay's `lease` (the lease goes
    /// with the bay).
    pub async fn delete_cluster_under(&self, lease: &Lease) -> Result<Fenced<bool>> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        if !self.holds(&mut tx, lease).await? {
            return Ok(Fenced::LeaseLost);
        }
        let done = sqlx::query("DELETE FROM clusters WHERE uuid = $1")
            .bind(lease.cluster.to_string())
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(Fenced::Done(done.rows_affected() > 0))
    }

    /// Removes a cluster and its nodegroups. Deleting a missing cluster is not an error: the
    /// conductor may repeat a delete after a crash.
    pub async fn delete_cluster(&self, uuid: Uuid) -> Result<bool> {
        let _w = self.write_guard().await;
        let done =
            sqlx::query("DELETE FROM clusters WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await.map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn list_nodegroups(&self, cluster: Uuid, role: Option<Role>, page: &PageRequest) -> Result<Vec<NodeGroup>> {
        let mut filter = "cluster_id = $1".to_owned();
        let mut binds = vec![Bind::Text(cluster.to_string())];
        if let Some(r) = role {
            filter.push_str(" AND role = $2");
            binds.push(Bind::Text(r.as_str().to_owned()));
        }
        let q = PagedQuery { table: "nodegroups", columns: NG_COLUMNS, filter, binds, key: ng_key_of(&page.sort_key), what: "nodegroup" };
        page::fetch(&self.pool, q, page).await?.iter().map(decode_ng).collect()
    }

    pub async fn get_nodegroup(&self, cluster: Uuid, ident: &str) -> Result<NodeGroup> {
        let by = if is_uuid_like(ident) { "uuid" } else { "name" };
        let sql = format!("SELECT {NG_COLUMNS} FROM nodegroups WHERE cluster_id = $1 AND {by} = $2");
        let row = sqlx::query(&sql).bind(cluster.to_string()).bind(ident).fetch_optional(&self.pool).await.map_err(from_sqlx)?;
        decode_ng(&row.ok_or_else(|| MagnumError::not_found(format!("Nodegroup {ident} could not be found.")))?)
    }

    /// Adds a nodegroup to a cluster, writing the cluster's new state (`c`, version-checked)
    /// in the same transaction: a group is never stored without the cluster knowing to build
    /// it. A name the cluster already has is a 409.
    pub async fn add_nodegroup(&self, c: &Cluster, ng: &NodeGroup) -> Result<Cluster> {
        let limit = node_limit(&self.pool, &c.project_id).await?;
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let quota = node_quota(&mut tx, self.backend, &c.project_id, limit).await?;
        let Some(out) = update_in(&mut tx, c).await? else {
            drop(tx);
            return Err(self.missing_or_stale("clusters", "Cluster", c.uuid).await);
        };
        insert_nodegroup(&mut tx, ng).await.map_err(|e| match e.kind {
            ErrorKind::Conflict => {
                MagnumError::conflict(format!("A nodegroup named {} already exists in cluster {}. Choose another name.", ng.name, c.uuid))
            }
            _ => e,
        })?;
        check_node_quota(&mut tx, &c.project_id, quota).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(out)
    }

    /// Writes a changed non-default nodegroup (version-checked, 409 when stale), and the
    /// cluster's new state with it when given (a resize or delete of the group starts an
    /// update of the cluster).
    pub async fn update_nodegroup(&self, c: Option<&Cluster>, ng: &NodeGroup) -> Result<NodeGroup> {
        let limit = node_limit(&self.pool, &ng.project_id).await?;
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let quota = node_quota(&mut tx, self.backend, &ng.project_id, limit).await?;
        if let Some(c) = c {
            if update_in(&mut tx, c).await?.is_none() {
                drop(tx);
                return Err(self.missing_or_stale("clusters", "Cluster", c.uuid).await);
            }
        }
        let now = magnum_types::time::now();
        let mut out = ng.clone();
        out.updated_at = Some(now);
        let done = sqlx::query(
            "UPDATE nodegroups SET version = version + 1, node_count = $1, status = $2, updated_at = $3, body = $4 \
             WHERE uuid = $5 AND version = $6",
        )
        .bind(out.node_count)
        .bind(out.status.as_str())
        .bind(to_storage(&now))
        .bind(json(&out)?)
        .bind(out.uuid.to_string())
        .bind(out.version)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            drop(tx);
            return Err(self.missing_or_stale("nodegroups", "Nodegroup", ng.uuid).await);
        }
        check_node_quota(&mut tx, &ng.project_id, quota).await?;
        tx.commit().await.map_err(from_sqlx)?;
        out.version += 1;
        Ok(out)
    }

    /// `(clusters, nodes)` of one project, or of all projects with `None`.
    pub async fn stats(&self, project: Option<&str>) -> Result<(i64, i64)> {
        // Upstream counts the nodes of every nodegroup.
        let (clusters, nodes) =
            ("SELECT COUNT(*) AS n FROM clusters", "SELECT CAST(COALESCE(SUM(node_count), 0) AS BIGINT) AS n FROM nodegroups");
        let mut out = [0i64; 2];
        for (i, base) in [clusters, nodes].into_iter().enumerate() {
            let row = match project {
                Some(p) => sqlx::query(&format!("{base} WHERE project_id = $1")).bind(p).fetch_one(&self.pool).await,
                None => sqlx::query(base).fetch_one(&self.pool).await,
            }
            .map_err(from_sqlx)?;
            out[i] = row.try_get("n").map_err(from_sqlx)?;
        }
        Ok((out[0], out[1]))
    }

    /// How many clusters of each status exist (for logs and tests).
    pub async fn count_by_status(&self, status: ClusterStatus) -> Result<i64> {
        sqlx::query("SELECT COUNT(*) AS n FROM clusters WHERE status = $1")
            .bind(status.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?
            .try_get("n")
            .map_err(from_sqlx)
    }
}

/// A project's node quota and its nodes before a write, read inside the write's transaction.
struct NodeQuota {
    limit: i64,
    before: i64,
}

/// The project's node quota, if one is set. Read before the write's transaction, so the
/// writes of the many projects without one spend nothing on it under the write lock.
async fn node_limit(pool: &sqlx::AnyPool, project: &str) -> Result<Option<i64>> {
    sqlx::query("SELECT hard_limit FROM quotas WHERE project_id = $1 AND resource = $2")
        .bind(project)
        .bind(magnum_types::quota::NODE_RESOURCE)
        .fetch_optional(pool)
        .await
        .map_err(from_sqlx)?
        .map(|r| r.try_get::<i64, _>("hard_limit"))
        .transpose()
        .map_err(from_sqlx)
}

/// With a node quota set, the project's nodes before the write, read inside its transaction. On
/// PostgreSQL the writes of one project's counts are serialized first, so the sum cannot go
/// stale before [`check_node_quota`].
async fn node_quota(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    project: &str,
    limit: Option<i64>,
) -> Result<Option<NodeQuota>> {
    let Some(limit) = limit else { return Ok(None) };
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l")
            .bind(project)
            .fetch_all(&mut **tx)
            .await
            .map_err(from_sqlx)?;
    }
    Ok(Some(NodeQuota { limit, before: project_nodes(tx, project).await? }))
}

async fn project_nodes(tx: &mut sqlx::Transaction<'_, sqlx::Any>, project: &str) -> Result<i64> {
    sqlx::query("SELECT CAST(COALESCE(SUM(node_count), 0) AS BIGINT) AS n FROM nodegroups WHERE project_id = $1")
        .bind(project)
        .fetch_one(&mut **tx)
        .await
        .map_err(from_sqlx)?
        .try_get("n")
        .map_err(from_sqlx)
}

/// Refuses a write that took the project's nodes above its node quota (a write that lowers them,
/// or keeps them, always passes: a project above a quota set later can still shrink).
async fn check_node_quota(tx: &mut sqlx::Transaction<'_, sqlx::Any>, project: &str, quota: Option<NodeQuota>) -> Result<()> {
    let Some(NodeQuota { limit, before }) = quota else { return Ok(()) };
    let after = project_nodes(tx, project).await?;
    if after > limit && after > before {
        return Err(MagnumError::forbidden(format!(
            "Resource limit exceeded: You have reached the maximum nodes per project, {limit} (this change would make {after}). \
             Remove nodes or clusters, or ask an admin to raise the project's Node quota."
        )));
    }
    Ok(())
}

async fn insert_nodegroup(tx: &mut sqlx::Transaction<'_, sqlx::Any>, ng: &NodeGroup) -> Result<()> {
    sqlx::query(
        "INSERT INTO nodegroups (uuid, version, cluster_id, project_id, name, role, is_default, node_count, status, \
         created_at, updated_at, body) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)",
    )
    .bind(ng.uuid.to_string())
    .bind(ng.cluster_id.to_string())
    .bind(&ng.project_id)
    .bind(&ng.name)
    .bind(ng.role.as_str())
    .bind(ng.is_default as i64)
    .bind(ng.node_count)
    .bind(ng.status.as_str())
    .bind(to_storage(&ng.created_at))
    .bind(json(ng)?)
    .execute(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    Ok(())
}

/// The versioned cluster write inside a transaction: `None` when the row is gone or stale.
pub(crate) async fn update_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, c: &Cluster) -> Result<Option<Cluster>> {
    let now = magnum_types::time::now();
    let mut out = c.clone();
    out.updated_at = Some(now);
    let done = sqlx::query(
        "UPDATE clusters SET version = version + 1, name = $1, status = $2, node_count = $3, master_count = $4, \
         create_timeout = $5, updated_at = $6, body = $7, cluster_template_id = $10 WHERE uuid = $8 AND version = $9",
    )
    .bind(&out.name)
    .bind(out.status.as_str())
    .bind(out.node_count)
    .bind(out.master_count)
    .bind(out.create_timeout)
    .bind(to_storage(&now))
    .bind(json(&out)?)
    .bind(out.uuid.to_string())
    .bind(out.version)
    .bind(out.cluster_template_id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(from_sqlx)?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    settle_nodegroups(tx, out.uuid, out.status, &now).await?;
    for (role, count) in [(Role::Master, out.master_count), (Role::Worker, out.node_count)] {
        sqlx::query(
            "UPDATE nodegroups SET version = version + 1, node_count = $1, status = $2, updated_at = $3 \
             WHERE cluster_id = $4 AND is_default = 1 AND role = $5",
        )
        .bind(count)
        .bind(out.status.as_str())
        .bind(to_storage(&now))
        .bind(out.uuid.to_string())
        .bind(role.as_str())
        .execute(&mut **tx)
        .await
        .map_err(from_sqlx)?;
    }
    out.version += 1;
    Ok(Some(out))
}

/// When a cluster's operation ends, its non-default nodegroups that were being made, changed
/// or removed end with it: a success completes them (a removed group's row goes), a failure
/// marks those in progress failed with the cluster's reason kept on the cluster. While the
/// cluster is in progress they are left as they are.
async fn settle_nodegroups(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cluster: Uuid,
    status: ClusterStatus,
    now: &magnum_types::time::Timestamp,
) -> Result<()> {
    use ClusterStatus::*;
    if status.is_in_progress() {
        return Ok(());
    }
    let ok = status.is_complete();
    let rows = sqlx::query(&format!("SELECT {NG_COLUMNS} FROM nodegroups WHERE cluster_id = $1 AND is_default = 0"))
        .bind(cluster.to_string())
        .fetch_all(&mut **tx)
        .await
        .map_err(from_sqlx)?;
    for row in rows {
        let mut ng = decode_ng(&row)?;
        let next = match (ng.status, ok) {
            (DeleteInProgress | DeleteFailed, true) => {
                sqlx::query("DELETE FROM nodegroups WHERE uuid = $1")
                    .bind(ng.uuid.to_string())
                    .execute(&mut **tx)
                    .await
                    .map_err(from_sqlx)?;
                continue;
            }
            (CreateInProgress | CreateFailed, true) => CreateComplete,
            (UpdateInProgress | UpdateFailed, true) => UpdateComplete,
            (CreateInProgress, false) => CreateFailed,
            (UpdateInProgress, false) => UpdateFailed,
            (DeleteInProgress, false) => DeleteFailed,
            _ => continue,
        };
        ng.status = next;
        ng.updated_at = Some(*now);
        sqlx::query("UPDATE nodegroups SET version = version + 1, status = $1, updated_at = $2, body = $3 WHERE uuid = $4")
            .bind(next.as_str())
            .bind(to_storage(now))
            .bind(json(&ng)?)
            .bind(ng.uuid.to_string())
            .execute(&mut **tx)
            .await
            .map_err(from_sqlx)?;
    }
    Ok(())
}
