//! cluster_templates: who sees what (own project, public, hidden) and the in-use rule.

use crate::error::{corrupt, from_sqlx};
use crate::page::{self, Bind, KeyType, PagedQuery};
use crate::Store;
use magnum_types::pagination::PageRequest;
use magnum_types::template::ClusterTemplate;
use magnum_types::time::{from_storage, to_storage};
use magnum_types::{MagnumError, Result};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

/// Which templates a caller sees: its project's, public ones (hidden public ones only for
/// admins), or every project's (`all_projects`, admins).
#[derive(Debug, Clone)]
pub struct TemplateScope {
    pub project_id: String,
    pub admin: bool,
    pub all_projects: bool,
}

impl TemplateScope {
    fn filter(&self, first: usize) -> (String, Vec<Bind>) {
        if self.all_projects {
            return ("1 = 1".into(), vec![]);
        }
        let hidden = if self.admin { "" } else { " AND hidden = 0" };
        (format!("(project_id = ${first} OR (public = 1{hidden}))"), vec![Bind::Text(self.project_id.clone())])
    }
}

const COLUMNS: &str = "id, version, project_id, user_id, name, coe, image_id, public, hidden, created_at, updated_at, body";

fn key_of(sort_key: &str) -> (&'static str, KeyType) {
    match sort_key {
        "uuid" => ("uuid", KeyType::Text),
        "name" => ("name", KeyType::NullableText),
        "coe" => ("coe", KeyType::Text),
        "image_id" => ("image_id", KeyType::Text),
        "flavor_id" => ("flavor_id", KeyType::NullableText),
        "apiserver_port" => ("apiserver_port", KeyType::NullableInt),
        "created_at" => ("created_at", KeyType::Text),
        "updated_at" => ("updated_at", KeyType::NullableText),
        "public" => ("public", KeyType::Int),
        "server_type" => ("server_type", KeyType::Text),
        _ => ("id", KeyType::Int),
    }
}

fn decode(row: &AnyRow) -> Result<ClusterTemplate> {
    let body: String = row.try_get("body").map_err(from_sqlx)?;
    let mut t: ClusterTemplate = serde_json::from_str(&body).map_err(|e| corrupt("cluster template", e))?;
    t.id = row.try_get("id").map_err(from_sqlx)?;
    t.version = row.try_get("version").map_err(from_sqlx)?;
    t.name = row.try_get("name").map_err(from_sqlx)?;
    t.public = row.try_get::<i64, _>("public").map_err(from_sqlx)? != 0;
    t.hidden = row.try_get::<i64, _>("hidden").map_err(from_sqlx)? != 0;
    t.project_id = row.try_get("project_id").map_err(from_sqlx)?;
    let created: String = row.try_get("created_at").map_err(from_sqlx)?;
    t.created_at = from_storage(&created).ok_or_else(|| corrupt("timestamp", &created))?;
    t.updated_at = row.try_get::<Option<String>, _>("updated_at").map_err(from_sqlx)?.and_then(|s| from_storage(&s));
    Ok(t)
}

fn body_of(t: &ClusterTemplate) -> Result<String> {
    serde_json::to_string(t).map_err(|e| MagnumError::internal(format!("cannot encode template: {e}")))
}

impl Store {
    pub async fn create_template(&self, t: &ClusterTemplate) -> Result<ClusterTemplate> {
        let _w = self.write_guard().await;
        let row = sqlx::query(
            "INSERT INTO cluster_templates (uuid, version, project_id, user_id, name, coe, image_id, flavor_id, apiserver_port, \
             public, hidden, server_type, created_at, updated_at, body) \
             VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, $13) RETURNING id",
        )
        .bind(t.uuid.to_string())
        .bind(&t.project_id)
        .bind(&t.user_id)
        .bind(&t.name)
        .bind(&t.coe)
        .bind(&t.image_id)
        .bind(&t.flavor_id)
        .bind(t.apiserver_port)
        .bind(t.public as i64)
        .bind(t.hidden as i64)
        .bind(&t.server_type)
        .bind(to_storage(&t.created_at))
        .bind(body_of(t)?)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match from_sqlx(e) {
            err if err.kind == magnum_types::ErrorKind::Conflict => {
                MagnumError::conflict(format!("A cluster template with UUID {} already exists.", t.uuid))
            }
            err => err,
        })?;
        let mut out = t.clone();
        out.id = row.try_get("id").map_err(from_sqlx)?;
        out.version = 1;
        Ok(out)
    }

    /// By UUID or name within `scope`: 404 when none, 409 when a name is ambiguous.
    pub async fn get_template(&self, scope: &TemplateScope, ident: &str) -> Result<ClusterTemplate> {
        let row =
            page::lookup_one(&self.pool, "cluster_templates", COLUMNS, scope.filter(1), ident, ("ClusterTemplate", "cluster template"))
                .await?;
        decode(&row)
    }

    /// By UUID regardless of project (conductor use).
    pub async fn get_template_by_uuid(&self, uuid: Uuid) -> Result<ClusterTemplate> {
        let sql = format!("SELECT {COLUMNS} FROM cluster_templates WHERE uuid = $1");
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&self.pool).await.map_err(from_sqlx)?;
        decode(&row.ok_or_else(|| MagnumError::not_found(format!("ClusterTemplate {uuid} could not be found.")))?)
    }

    pub async fn list_templates(&self, scope: &TemplateScope, page: &PageRequest) -> Result<Vec<ClusterTemplate>> {
        let (filter, binds) = scope.filter(1);
        let q = PagedQuery {
            table: "cluster_templates",
            columns: COLUMNS,
            filter,
            binds,
            key: key_of(&page.sort_key),
            what: "cluster template",
        };
        page::fetch(&self.pool, q, page).await?.iter().map(decode).collect()
    }

    /// Writes `t` if nobody changed it since it was read (`t.version`); 409 otherwise.
    pub async fn update_template(&self, t: &ClusterTemplate) -> Result<ClusterTemplate> {
        let _w = self.write_guard().await;
        let now = magnum_types::time::now();
        let mut out = t.clone();
        out.updated_at = Some(now);
        let done = sqlx::query(
            "UPDATE cluster_templates SET version = version + 1, name = $1, coe = $2, image_id = $3, flavor_id = $4, \
             apiserver_port = $5, public = $6, hidden = $7, server_type = $8, updated_at = $9, body = $10 \
             WHERE uuid = $11 AND version = $12",
        )
        .bind(&out.name)
        .bind(&out.coe)
        .bind(&out.image_id)
        .bind(&out.flavor_id)
        .bind(out.apiserver_port)
        .bind(out.public as i64)
        .bind(out.hidden as i64)
        .bind(&out.server_type)
        .bind(to_storage(&now))
        .bind(body_of(&out)?)
        .bind(out.uuid.to_string())
        .bind(out.version)
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(self.missing_or_stale("cluster_templates", "ClusterTemplate", out.uuid).await);
        }
        out.version += 1;
        Ok(out)
    }

    /// Deletes a template no cluster uses; 400 when one does (in any project).
    pub async fn delete_template(&self, uuid: Uuid) -> Result<()> {
        let _w = self.write_guard().await;
        let referenced = || {
            MagnumError::invalid(format!("ClusterTemplate {uuid} is referenced by one or multiple clusters. Delete those clusters first."))
        };
        let done =
            sqlx::query("DELETE FROM cluster_templates WHERE uuid = $1").bind(uuid.to_string()).execute(&self.pool).await.map_err(|e| {
                match from_sqlx(e) {
                    err if err.kind == magnum_types::ErrorKind::Invalid => referenced(),
                    err => err,
                }
            })?;
        if done.rows_affected() == 0 {
            return Err(MagnumError::not_found(format!("ClusterTemplate {uuid} could not be found.")));
        }
        Ok(())
    }

    pub async fn template_in_use(&self, uuid: Uuid) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM clusters WHERE cluster_template_id = $1")
            .bind(uuid.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(row.try_get::<i64, _>("n").map_err(from_sqlx)? > 0)
    }
}

impl Store {
    /// Why a versioned write touched no row: the object is gone (404), or another writer
    /// changed it first (409).
    pub(crate) async fn missing_or_stale(&self, table: &str, what: &str, uuid: Uuid) -> MagnumError {
        let sql = format!("SELECT 1 AS one FROM {table} WHERE uuid = $1");
        match sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&self.pool).await {
            Ok(None) => MagnumError::not_found(format!("{what} {uuid} could not be found.")),
            Ok(Some(_)) => MagnumError::conflict(format!(
                "{what} {uuid} was changed by another request while this one was in flight. Reload it and retry."
            )),
            Err(e) => from_sqlx(e),
        }
    }
}
