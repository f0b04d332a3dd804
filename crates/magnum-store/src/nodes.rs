//! nodes: what the conductor last observed of each bay's machines.

use crate::error::{corrupt, from_sqlx};
use crate::page::{self, Bind, KeyType, PagedQuery};
use crate::{ClusterScope, Fenced, Lease, Store};
use magnum_types::node::Node;
use magnum_types::pagination::PageRequest;
use magnum_types::time::{from_storage, now, to_storage};
use magnum_types::{MagnumError, Result};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

const COLUMNS: &str =
    "id, uuid, cluster_uuid, project_id, nodegroup, role, name, address, status, status_reason, image_id, created_at, updated_at";

fn decode(r: &AnyRow) -> Result<Node> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(from_sqlx);
    let uuid = |c: &str| -> Result<Uuid> {
        let s = text(c)?;
        Uuid::parse_str(&s).map_err(|e| corrupt("node uuid", e))
    };
    let created = text("created_at")?;
    Ok(Node {
        uuid: uuid("uuid")?,
        cluster_uuid: uuid("cluster_uuid")?,
        project_id: text("project_id")?,
        nodegroup: text("nodegroup")?,
        role: text("role")?,
        name: text("name")?,
        address: r.try_get("address").map_err(from_sqlx)?,
        status: text("status")?,
        status_reason: r.try_get("status_reason").map_err(from_sqlx)?,
        image_id: r.try_get("image_id").map_err(from_sqlx)?,
        created_at: from_storage(&created).ok_or_else(|| corrupt("timestamp", &created))?,
        updated_at: r.try_get::<Option<String>, _>("updated_at").map_err(from_sqlx)?.and_then(|s| from_storage(&s)),
    })
}

fn key_of(sort_key: &str) -> (&'static str, KeyType) {
    match sort_key {
        "uuid" => ("uuid", KeyType::Text),
        "name" => ("name", KeyType::Text),
        "role" => ("role", KeyType::Text),
        "status" => ("status", KeyType::Text),
        _ => ("id", KeyType::Int),
    }
}

impl Store {
    /// Replaces what is known of a bay's nodes with `observed` (one transaction). Nodes keep
    /// their creation time across observations.
    pub async fn record_nodes(&self, cluster: Uuid, project_id: &str, observed: &[Node]) -> Result<()> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        record_in(&mut tx, cluster, project_id, observed).await?;
        tx.commit().await.map_err(from_sqlx)
    }

    /// [`Store::record_nodes`] by a conductor holding the bay's `lease`.
    pub async fn record_nodes_under(&self, lease: &Lease, project_id: &str, observed: &[Node]) -> Result<Fenced<()>> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        if !self.holds(&mut tx, lease).await? {
            return Ok(Fenced::LeaseLost);
        }
        record_in(&mut tx, lease.cluster, project_id, observed).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(Fenced::Done(()))
    }

    pub async fn list_nodes(&self, scope: &ClusterScope, cluster: Option<Uuid>, page: &PageRequest) -> Result<Vec<Node>> {
        let (mut filter, mut binds) = scope.filter(1);
        if let Some(c) = cluster {
            binds.push(Bind::Text(c.to_string()));
            filter = format!("{filter} AND cluster_uuid = ${}", binds.len());
        }
        let q = PagedQuery { table: "nodes", columns: COLUMNS, filter, binds, key: key_of(&page.sort_key), what: "node" };
        page::fetch(&self.pool, q, page).await?.iter().map(decode).collect()
    }

    pub async fn get_node(&self, scope: &ClusterScope, ident: &str) -> Result<Node> {
        decode(&page::lookup_one(&self.pool, "nodes", COLUMNS, scope.filter(1), ident, ("Node", "node")).await?)
    }
}

/// Replaces what is known of `cluster`'s nodes with `observed`, inside `tx`.
async fn record_in(tx: &mut sqlx::Transaction<'_, sqlx::Any>, cluster: Uuid, project_id: &str, observed: &[Node]) -> Result<()> {
    let t = to_storage(&now());
    let keep: Vec<String> = observed.iter().map(|n| n.uuid.to_string()).collect();
    let existing = sqlx::query("SELECT uuid FROM nodes WHERE cluster_uuid = $1")
        .bind(cluster.to_string())
        .fetch_all(&mut **tx)
        .await
        .map_err(from_sqlx)?;
    for row in existing {
        let u: String = row.try_get("uuid").map_err(from_sqlx)?;
        if !keep.contains(&u) {
            sqlx::query("DELETE FROM nodes WHERE uuid = $1").bind(&u).execute(&mut **tx).await.map_err(from_sqlx)?;
        }
    }
    for n in observed {
        sqlx::query(
                "INSERT INTO nodes (uuid, cluster_uuid, project_id, nodegroup, role, name, address, status, status_reason, image_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL) \
                 ON CONFLICT (uuid) DO UPDATE SET address = $7, status = $8, status_reason = $9, image_id = $10, updated_at = $11",
            )
            .bind(n.uuid.to_string())
            .bind(cluster.to_string())
            .bind(project_id)
            .bind(&n.nodegroup)
            .bind(&n.role)
            .bind(&n.name)
            .bind(&n.address)
            .bind(&n.status)
            .bind(&n.status_reason)
            .bind(&n.image_id)
            .bind(&t)
            .execute(&mut **tx)
            .await
            .map_err(|e| match from_sqlx(e) {
                // The bay was deleted meanwhile: nothing to record.
                err if err.kind == magnum_types::ErrorKind::Invalid => MagnumError::not_found(format!("Cluster {cluster} could not be found.")),
                err => err,
            })?;
    }
    Ok(())
}
