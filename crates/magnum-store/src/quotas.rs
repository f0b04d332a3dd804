//! quotas: per-project limits (only `Cluster` upstream).

use crate::error::{corrupt, from_sqlx};
use crate::page::{self, Bind};
use crate::Store;
use magnum_types::quota::Quota;
use magnum_types::time::{from_storage, now, to_storage};
use magnum_types::{ErrorKind, MagnumError, Result};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "id, project_id, resource, hard_limit, created_at, updated_at";

fn decode(r: &AnyRow) -> Result<Quota> {
    let created: String = r.try_get("created_at").map_err(from_sqlx)?;
    Ok(Quota {
        id: r.try_get("id").map_err(from_sqlx)?,
        project_id: r.try_get("project_id").map_err(from_sqlx)?,
        resource: r.try_get("resource").map_err(from_sqlx)?,
        hard_limit: r.try_get("hard_limit").map_err(from_sqlx)?,
        created_at: from_storage(&created).ok_or_else(|| corrupt("timestamp", &created))?,
        updated_at: r.try_get::<Option<String>, _>("updated_at").map_err(from_sqlx)?.and_then(|s| from_storage(&s)),
    })
}

impl Store {
    pub async fn create_quota(&self, project_id: &str, resource: &str, hard_limit: i64) -> Result<Quota> {
        let _w = self.write_guard().await;
        let t = now();
        let row = sqlx::query(&format!(
            "INSERT INTO quotas (project_id, resource, hard_limit, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL) RETURNING {COLUMNS}"
        ))
        .bind(project_id)
        .bind(resource)
        .bind(hard_limit)
        .bind(to_storage(&t))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match from_sqlx(e) {
            err if err.kind == ErrorKind::Conflict => {
                MagnumError::conflict(format!("Quota for project {project_id} and resource {resource} already exists."))
            }
            err => err,
        })?;
        decode(&row)
    }

    pub async fn get_quota(&self, project_id: &str, resource: &str) -> Result<Option<Quota>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM quotas WHERE project_id = $1 AND resource = $2"))
            .bind(project_id)
            .bind(resource)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.as_ref().map(decode).transpose()
    }

    /// Quotas of one project, or all; paged by integer `id` marker as upstream.
    pub async fn list_quotas(&self, project: Option<&str>, limit: usize, marker: Option<i64>) -> Result<Vec<Quota>> {
        let mut filter = "1 = 1".to_owned();
        let mut binds = vec![];
        if let Some(p) = project {
            binds.push(Bind::Text(p.to_owned()));
            filter = format!("project_id = ${}", binds.len());
        }
        if let Some(m) = marker {
            binds.push(Bind::Int(m));
            filter = format!("{filter} AND id > ${}", binds.len());
        }
        let sql = format!("SELECT {COLUMNS} FROM quotas WHERE {filter} ORDER BY id LIMIT {limit}");
        page::bind_all(sqlx::query(&sql), &binds).fetch_all(&self.pool).await.map_err(from_sqlx)?.iter().map(decode).collect()
    }

    pub async fn update_quota(&self, project_id: &str, resource: &str, hard_limit: i64) -> Result<Quota> {
        let _w = self.write_guard().await;
        let row = sqlx::query(&format!(
            "UPDATE quotas SET hard_limit = $1, updated_at = $2 WHERE project_id = $3 AND resource = $4 RETURNING {COLUMNS}"
        ))
        .bind(hard_limit)
        .bind(to_storage(&now()))
        .bind(project_id)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlx)?;
        decode(&row.ok_or_else(|| quota_missing(project_id, resource))?)
    }

    pub async fn delete_quota(&self, project_id: &str, resource: &str) -> Result<()> {
        let _w = self.write_guard().await;
        let done = sqlx::query("DELETE FROM quotas WHERE project_id = $1 AND resource = $2")
            .bind(project_id)
            .bind(resource)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(quota_missing(project_id, resource));
        }
        Ok(())
    }
}

fn quota_missing(project_id: &str, resource: &str) -> MagnumError {
    MagnumError::not_found(format!("Quota for project {project_id} and resource {resource} could not be found."))
}
