//! kube_objects: pods, replication controllers and services of Kubernetes bays.
//!
//! Users change only a pod's description (checked against `version`); the conductor writes
//! `state`, what Kubernetes last said of the object. A refresh writes only if nobody wrote the
//! row since it was read, so a listing taken before a replace never hides the replace.

use crate::error::{corrupt, from_sqlx};
use crate::page::{self, Bind, KeyType, PagedQuery};
use crate::{ClusterScope, Store};
use magnum_types::k8s_object::{KubeObject, LiveState};
use magnum_types::manifest::Kind;
use magnum_types::pagination::PageRequest;
use magnum_types::time::{from_storage, now, to_storage, Timestamp};
use magnum_types::{ErrorKind, MagnumError, Result};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

const COLUMNS: &str = "id, uuid, version, kind, name, description, project_id, user_id, bay_uuid, state, created_at, updated_at";

fn decode(r: &AnyRow) -> Result<KubeObject> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(from_sqlx);
    let opt = |c: &str| r.try_get::<Option<String>, _>(c).map_err(from_sqlx);
    let uuid = |c: &str| -> Result<Uuid> { Uuid::parse_str(&text(c)?).map_err(|e| corrupt("kube object uuid", e)) };
    let kind = text("kind")?;
    let state = text("state")?;
    let created = text("created_at")?;
    Ok(KubeObject {
        id: r.try_get("id").map_err(from_sqlx)?,
        version: r.try_get("version").map_err(from_sqlx)?,
        uuid: uuid("uuid")?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("kube object kind", &kind))?,
        name: text("name")?,
        description: opt("description")?,
        project_id: text("project_id")?,
        user_id: text("user_id")?,
        bay_uuid: uuid("bay_uuid")?,
        state: serde_json::from_str(&state).map_err(|e| corrupt("kube object state", e))?,
        created_at: from_storage(&created).ok_or_else(|| corrupt("timestamp", &created))?,
        updated_at: opt("updated_at")?.and_then(|s| from_storage(&s)),
    })
}

fn encode(state: &LiveState) -> Result<String> {
    serde_json::to_string(state).map_err(|e| MagnumError::internal(format!("cannot encode an object's state: {e}")))
}

fn key_of(sort_key: &str) -> (&'static str, KeyType) {
    match sort_key {
        "uuid" => ("uuid", KeyType::Text),
        "name" => ("name", KeyType::Text),
        "created_at" => ("created_at", KeyType::Text),
        "updated_at" => ("updated_at", KeyType::NullableText),
        _ => ("id", KeyType::Int),
    }
}

/// The scope's filter narrowed to one kind and, if given, one bay.
fn filter(scope: &ClusterScope, kind: Kind, bay: Option<Uuid>) -> (String, Vec<Bind>) {
    let (mut sql, mut binds) = scope.filter(1);
    binds.push(Bind::Text(kind.as_str().to_owned()));
    sql = format!("{sql} AND kind = ${}", binds.len());
    if let Some(b) = bay {
        binds.push(Bind::Text(b.to_string()));
        sql = format!("{sql} AND bay_uuid = ${}", binds.len());
    }
    (sql, binds)
}

impl Store {
    /// Records an object about to be created in its bay's Kubernetes. A uuid or a name already
    /// used on that bay is 409; a bay deleted meanwhile is 400.
    pub async fn insert_kube_object(&self, o: &KubeObject) -> Result<KubeObject> {
        let _w = self.write_guard().await;
        let row = sqlx::query(
            "INSERT INTO kube_objects (uuid, version, kind, name, description, project_id, user_id, bay_uuid, state, created_at, \
             updated_at) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, NULL) RETURNING id",
        )
        .bind(o.uuid.to_string())
        .bind(o.kind.as_str())
        .bind(&o.name)
        .bind(&o.description)
        .bind(&o.project_id)
        .bind(&o.user_id)
        .bind(o.bay_uuid.to_string())
        .bind(encode(&o.state)?)
        .bind(to_storage(&o.created_at))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match from_sqlx(e) {
            err if err.kind == ErrorKind::Conflict => MagnumError::conflict(format!(
                "A {} with UUID {} or named {} already exists on bay {}.",
                o.kind.as_str(),
                o.uuid,
                o.name,
                o.bay_uuid
            )),
            err if err.kind == ErrorKind::Invalid => MagnumError::invalid(format!("Bay {} could not be found.", o.bay_uuid)),
            err => err,
        })?;
        let mut out = o.clone();
        out.id = row.try_get("id").map_err(from_sqlx)?;
        out.version = 1;
        Ok(out)
    }

    /// By UUID or name among the scope's objects of `kind` (on `bay` if given): 404 none,
    /// 409 a name used on several bays.
    pub async fn get_kube_object(&self, scope: &ClusterScope, kind: Kind, bay: Option<Uuid>, ident: &str) -> Result<KubeObject> {
        let title = kind.as_str();
        let plain = kind.resource();
        decode(&page::lookup_one(&self.pool, "kube_objects", COLUMNS, filter(scope, kind, bay), ident, (title, plain)).await?)
    }

    pub async fn get_kube_object_by_uuid(&self, uuid: Uuid) -> Result<Option<KubeObject>> {
        let sql = format!("SELECT {COLUMNS} FROM kube_objects WHERE uuid = $1");
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&self.pool).await.map_err(from_sqlx)?;
        row.as_ref().map(decode).transpose()
    }

    pub async fn list_kube_objects(
        &self,
        scope: &ClusterScope,
        kind: Kind,
        bay: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Vec<KubeObject>> {
        let (filter, binds) = filter(scope, kind, bay);
        let q = PagedQuery { table: "kube_objects", columns: COLUMNS, filter, binds, key: key_of(&page.sort_key), what: kind.resource() };
        page::fetch(&self.pool, q, page).await?.iter().map(decode).collect()
    }

    /// Every object of one bay (the conductor's refresh).
    pub async fn bay_kube_objects(&self, bay: Uuid) -> Result<Vec<KubeObject>> {
        let sql = format!("SELECT {COLUMNS} FROM kube_objects WHERE bay_uuid = $1 ORDER BY id");
        sqlx::query(&sql).bind(bay.to_string()).fetch_all(&self.pool).await.map_err(from_sqlx)?.iter().map(decode).collect()
    }

    /// What Kubernetes says of it now (after a create, show or replace). Returns the time
    /// written, or None when the row is gone.
    pub async fn set_kube_state(&self, uuid: Uuid, state: &LiveState) -> Result<Option<Timestamp>> {
        let _w = self.write_guard().await;
        let t = now();
        let done = sqlx::query("UPDATE kube_objects SET state = $1, updated_at = $2 WHERE uuid = $3")
            .bind(encode(state)?)
            .bind(to_storage(&t))
            .bind(uuid.to_string())
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok((done.rows_affected() > 0).then_some(t))
    }

    /// As [`Store::set_kube_state`], unless the row was written since `o` was read (a newer
    /// answer wins over an older listing). Returns whether it wrote.
    pub async fn set_kube_state_if_unchanged(&self, o: &KubeObject, state: &LiveState) -> Result<bool> {
        let _w = self.write_guard().await;
        let done = sqlx::query(
            "UPDATE kube_objects SET state = $1, updated_at = $2 WHERE uuid = $3 AND version = $4 AND COALESCE(updated_at, '') = $5",
        )
        .bind(encode(state)?)
        .bind(to_storage(&now()))
        .bind(o.uuid.to_string())
        .bind(o.version)
        .bind(o.updated_at.as_ref().map(to_storage).unwrap_or_default())
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// A user's new description for a pod, if nobody changed it since it was read (409).
    pub async fn set_kube_description(&self, o: &KubeObject, description: Option<&str>) -> Result<KubeObject> {
        let _w = self.write_guard().await;
        let t = now();
        let done = sqlx::query(
            "UPDATE kube_objects SET description = $1, version = version + 1, updated_at = $2 WHERE uuid = $3 AND version = $4",
        )
        .bind(description)
        .bind(to_storage(&t))
        .bind(o.uuid.to_string())
        .bind(o.version)
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(self.missing_or_stale("kube_objects", o.kind.as_str(), o.uuid).await);
        }
        let mut out = o.clone();
        out.description = description.map(str::to_owned);
        out.version += 1;
        out.updated_at = Some(t);
        Ok(out)
    }

    /// Forgets an object. Deleting a missing one is not an error (repeated deletes).
    pub async fn delete_kube_object(&self, uuid: Uuid) -> Result<bool> {
        let _w = self.write_guard().await;
        let done =
            sqlx::query("DELETE FROM kube_objects WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await.map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }
}
