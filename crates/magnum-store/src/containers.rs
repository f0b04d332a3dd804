//! containers: the container API's objects, where each runs, and its last known status.
//!
//! Two writers touch a row and never each other's columns: users rename (`name`, checked
//! against `version`), the conductor records placement and engine state (`host`, `status`,
//! `status_reason`), so a status refresh never makes a rename fail and vice versa.

use crate::error::{corrupt, from_sqlx};
use crate::page::{self, Bind, KeyType, PagedQuery};
use crate::{ClusterScope, Store};
use magnum_types::container::{Container, ContainerStatus};
use magnum_types::pagination::PageRequest;
use magnum_types::time::{from_storage, now, to_storage};
use magnum_types::{ErrorKind, MagnumError, Result};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;
use uuid::Uuid;

const COLUMNS: &str = "id, uuid, version, name, project_id, user_id, bay_uuid, image, command, memory, environment, status, \
                       status_reason, host, keep_running, created_at, updated_at";

fn decode(r: &AnyRow) -> Result<Container> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(from_sqlx);
    let opt = |c: &str| r.try_get::<Option<String>, _>(c).map_err(from_sqlx);
    let uuid = |c: &str| -> Result<Uuid> {
        let s = text(c)?;
        Uuid::parse_str(&s).map_err(|e| corrupt("container uuid", e))
    };
    let status = text("status")?;
    let environment = text("environment")?;
    let created = text("created_at")?;
    Ok(Container {
        id: r.try_get("id").map_err(from_sqlx)?,
        version: r.try_get("version").map_err(from_sqlx)?,
        uuid: uuid("uuid")?,
        name: text("name")?,
        project_id: text("project_id")?,
        user_id: text("user_id")?,
        bay_uuid: uuid("bay_uuid")?,
        image: text("image")?,
        command: opt("command")?,
        memory: opt("memory")?,
        environment: serde_json::from_str(&environment).map_err(|e| corrupt("container environment", e))?,
        status: ContainerStatus::parse(&status).ok_or_else(|| corrupt("container status", &status))?,
        status_reason: opt("status_reason")?,
        host: opt("host")?,
        keep_running: r.try_get::<i64, _>("keep_running").map_err(from_sqlx)? != 0,
        created_at: from_storage(&created).ok_or_else(|| corrupt("timestamp", &created))?,
        updated_at: opt("updated_at")?.and_then(|s| from_storage(&s)),
    })
}

fn key_of(sort_key: &str) -> (&'static str, KeyType) {
    match sort_key {
        "uuid" => ("uuid", KeyType::Text),
        "name" => ("name", KeyType::Text),
        "image" => ("image", KeyType::Text),
        "status" => ("status", KeyType::Text),
        "created_at" => ("created_at", KeyType::Text),
        "updated_at" => ("updated_at", KeyType::NullableText),
        _ => ("id", KeyType::Int),
    }
}

impl Store {
    /// Records a container the conductor has just created on `c.host`. A duplicate uuid is
    /// 409; a bay deleted meanwhile is 400 (the caller removes the engine's container).
    pub async fn insert_container(&self, c: &Container) -> Result<Container> {
        let _w = self.write_guard().await;
        let environment = serde_json::to_string(&c.environment).map_err(|e| MagnumError::internal(format!("cannot encode: {e}")))?;
        let row = sqlx::query(
            "INSERT INTO containers (uuid, version, name, project_id, user_id, bay_uuid, image, command, memory, environment, \
             status, status_reason, host, keep_running, created_at, updated_at) \
             VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL) RETURNING id",
        )
        .bind(c.uuid.to_string())
        .bind(&c.name)
        .bind(&c.project_id)
        .bind(&c.user_id)
        .bind(c.bay_uuid.to_string())
        .bind(&c.image)
        .bind(&c.command)
        .bind(&c.memory)
        .bind(environment)
        .bind(c.status.as_str())
        .bind(&c.status_reason)
        .bind(&c.host)
        .bind(i64::from(c.keep_running))
        .bind(to_storage(&c.created_at))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match from_sqlx(e) {
            err if err.kind == ErrorKind::Conflict => MagnumError::conflict(format!("A container with UUID {} already exists.", c.uuid)),
            err if err.kind == ErrorKind::Invalid => MagnumError::invalid(format!("Bay {} could not be found.", c.bay_uuid)),
            err => err,
        })?;
        let mut out = c.clone();
        out.id = row.try_get("id").map_err(from_sqlx)?;
        out.version = 1;
        Ok(out)
    }

    /// By UUID or name among the containers of `scope`: 404 none, 409 ambiguous name.
    pub async fn get_container(&self, scope: &ClusterScope, ident: &str) -> Result<Container> {
        decode(&page::lookup_one(&self.pool, "containers", COLUMNS, scope.filter(1), ident, ("Container", "container")).await?)
    }

    pub async fn get_container_by_uuid(&self, uuid: Uuid) -> Result<Option<Container>> {
        let sql = format!("SELECT {COLUMNS} FROM containers WHERE uuid = $1");
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&self.pool).await.map_err(from_sqlx)?;
        row.as_ref().map(decode).transpose()
    }

    pub async fn list_containers(&self, scope: &ClusterScope, bay: Option<Uuid>, page: &PageRequest) -> Result<Vec<Container>> {
        let (mut filter, mut binds) = scope.filter(1);
        if let Some(b) = bay {
            binds.push(Bind::Text(b.to_string()));
            filter = format!("{filter} AND bay_uuid = ${}", binds.len());
        }
        let q = PagedQuery { table: "containers", columns: COLUMNS, filter, binds, key: key_of(&page.sort_key), what: "container" };
        page::fetch(&self.pool, q, page).await?.iter().map(decode).collect()
    }

    /// Every container of one bay (the conductor's status refresh).
    pub async fn bay_containers(&self, bay: Uuid) -> Result<Vec<Container>> {
        let sql = format!("SELECT {COLUMNS} FROM containers WHERE bay_uuid = $1 ORDER BY id");
        sqlx::query(&sql).bind(bay.to_string()).fetch_all(&self.pool).await.map_err(from_sqlx)?.iter().map(decode).collect()
    }

    /// How many containers each node of a bay holds (placement).
    pub async fn containers_per_host(&self, bay: Uuid) -> Result<HashMap<String, i64>> {
        let rows = sqlx::query("SELECT host, COUNT(*) AS n FROM containers WHERE bay_uuid = $1 AND host IS NOT NULL GROUP BY host")
            .bind(bay.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("host").map_err(from_sqlx)?, r.try_get::<i64, _>("n").map_err(from_sqlx)?)))
            .collect()
    }

    /// A user's rename, if nobody renamed it since it was read (409 otherwise).
    pub async fn rename_container(&self, c: &Container, name: &str) -> Result<Container> {
        let _w = self.write_guard().await;
        let t = now();
        let done = sqlx::query("UPDATE containers SET name = $1, version = version + 1, updated_at = $2 WHERE uuid = $3 AND version = $4")
            .bind(name)
            .bind(to_storage(&t))
            .bind(c.uuid.to_string())
            .bind(c.version)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(self.missing_or_stale("containers", "Container", c.uuid).await);
        }
        let mut out = c.clone();
        out.name = name.to_owned();
        out.version += 1;
        out.updated_at = Some(t);
        Ok(out)
    }

    /// What the engine says of it now. Returns false when the row is gone.
    pub async fn set_container_status(&self, uuid: Uuid, status: ContainerStatus, reason: Option<&str>) -> Result<bool> {
        self.write_container_status(uuid, status, reason, None).await
    }

    /// What an owner's action left: the engine's state and whether the owner wants it running.
    pub async fn record_container_action(
        &self,
        uuid: Uuid,
        status: ContainerStatus,
        reason: Option<&str>,
        keep_running: bool,
    ) -> Result<bool> {
        self.write_container_status(uuid, status, reason, Some(keep_running)).await
    }

    /// The engine's state, and the owner's wish when `keep_running` is given (else kept).
    async fn write_container_status(
        &self,
        uuid: Uuid,
        status: ContainerStatus,
        reason: Option<&str>,
        keep_running: Option<bool>,
    ) -> Result<bool> {
        let _w = self.write_guard().await;
        let done = sqlx::query(
            "UPDATE containers SET status = $1, status_reason = $2, keep_running = COALESCE($3, keep_running), updated_at = $4 \
             WHERE uuid = $5",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(keep_running.map(i64::from))
        .bind(to_storage(&now()))
        .bind(uuid.to_string())
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// As [`Store::record_container_action`], unless the row changed since `c` was read (an
    /// action's newer status wins over an older listing). Returns whether it wrote.
    pub async fn set_container_status_if_unchanged(
        &self,
        c: &Container,
        status: ContainerStatus,
        reason: Option<&str>,
        keep_running: bool,
    ) -> Result<bool> {
        let _w = self.write_guard().await;
        let done = sqlx::query(
            "UPDATE containers SET status = $1, status_reason = $2, keep_running = $3, updated_at = $4 \
             WHERE uuid = $5 AND status = $6 AND COALESCE(updated_at, '') = $7",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(i64::from(keep_running))
        .bind(to_storage(&now()))
        .bind(c.uuid.to_string())
        .bind(c.status.as_str())
        .bind(c.updated_at.as_ref().map(to_storage).unwrap_or_default())
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Forgets a container. Deleting a missing one is not an error (repeated deletes).
    pub async fn delete_container(&self, uuid: Uuid) -> Result<bool> {
        let _w = self.write_guard().await;
        let done =
            sqlx::query("DELETE FROM containers WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await.map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }
}
