//! certificates: each bay's CA and the conductor's client certificate, keys as stored
//! (already encrypted by the caller: the store never sees a private key in the clear).

use crate::error::from_sqlx;
use crate::Store;
use magnum_types::time::{now, to_storage};
use magnum_types::{MagnumError, Result};
use sqlx::Row;
use uuid::Uuid;

/// A bay's certificates; `*_key` fields are ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCertificates {
    pub ca_cert: String,
    pub ca_key: String,
    pub client_cert: String,
    pub client_key: String,
}

impl Store {
    pub(crate) async fn insert_certificates(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        cluster: Uuid,
        c: &StoredCertificates,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO certificates (cluster_uuid, version, ca_cert, ca_key, client_cert, client_key, created_at, updated_at) \
             VALUES ($1, 1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(cluster.to_string())
        .bind(&c.ca_cert)
        .bind(&c.ca_key)
        .bind(&c.client_cert)
        .bind(&c.client_key)
        .bind(to_storage(&now()))
        .execute(&mut **tx)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    pub async fn get_certificates(&self, cluster: Uuid) -> Result<StoredCertificates> {
        let row = sqlx::query("SELECT ca_cert, ca_key, client_cert, client_key FROM certificates WHERE cluster_uuid = $1")
            .bind(cluster.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?
            .ok_or_else(|| MagnumError::not_found(format!("Certificates of cluster {cluster} could not be found.")))?;
        Ok(StoredCertificates {
            ca_cert: row.try_get("ca_cert").map_err(from_sqlx)?,
            ca_key: row.try_get("ca_key").map_err(from_sqlx)?,
            client_cert: row.try_get("client_cert").map_err(from_sqlx)?,
            client_key: row.try_get("client_key").map_err(from_sqlx)?,
        })
    }

    /// Replaces a bay's certificates (CA rotation) and marks the cluster for an update, in one
    /// transaction, so the conductor re-issues node certificates from the new CA.
    pub async fn rotate_certificates(
        &self,
        cluster: &magnum_types::cluster::Cluster,
        c: &StoredCertificates,
    ) -> Result<magnum_types::cluster::Cluster> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let done = sqlx::query(
            "UPDATE certificates SET version = version + 1, ca_cert = $1, ca_key = $2, client_cert = $3, client_key = $4, updated_at = $5 \
             WHERE cluster_uuid = $6",
        )
        .bind(&c.ca_cert)
        .bind(&c.ca_key)
        .bind(&c.client_cert)
        .bind(&c.client_key)
        .bind(to_storage(&now()))
        .bind(cluster.uuid.to_string())
        .execute(&mut *tx)
        .await
        .map_err(from_sqlx)?;
        if done.rows_affected() == 0 {
            return Err(MagnumError::not_found(format!("Certificates of cluster {} could not be found.", cluster.uuid)));
        }
        let updated = crate::clusters::update_in(&mut tx, cluster).await?;
        let Some(updated) = updated else {
            drop(tx);
            return Err(self.missing_or_stale("clusters", "Cluster", cluster.uuid).await);
        };
        tx.commit().await.map_err(from_sqlx)?;
        Ok(updated)
    }
}
