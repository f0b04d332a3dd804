//! cluster_leases: each bay is driven by one conductor at a time.
//!
//! A lease names its holder and an expiry. Taking one succeeds when nobody holds it, when the
//! caller already does, or when the holder let it expire (it died, or stalled): that is how a
//! surviving conductor takes over the bays of a dead one. All in one statement, so two
//! conductors racing for a lease cannot both win.

use crate::error::from_sqlx;
use crate::Store;
use magnum_types::time::{after, now, to_storage};
use magnum_types::{ErrorKind, Result};
use std::time::Duration;
use uuid::Uuid;

fn expiry(ttl: Duration) -> String {
    to_storage(&after(ttl))
}

impl Store {
    /// Takes (or renews) the lease of `cluster` for `holder`; false when another live holder has
    /// it, or the cluster is gone.
    pub async fn acquire_lease(&self, cluster: Uuid, holder: &str, ttl: Duration) -> Result<bool> {
        let _w = self.write_guard().await;
        let done = sqlx::query(
            "INSERT INTO cluster_leases (cluster_uuid, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (cluster_uuid) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at < $4",
        )
        .bind(cluster.to_string())
        .bind(holder)
        .bind(expiry(ttl))
        .bind(to_storage(&now()))
        .execute(&self.pool)
        .await;
        match done {
            Ok(d) => Ok(d.rows_affected() > 0),
            // The cluster was deleted meanwhile: nothing to hold.
            Err(e) => match from_sqlx(e) {
                err if err.kind == ErrorKind::Invalid => Ok(false),
                err => Err(err),
            },
        }
    }

    /// Extends a lease `holder` has; false when it lost it (expired and taken over).
    pub async fn renew_lease(&self, cluster: Uuid, holder: &str, ttl: Duration) -> Result<bool> {
        let _w = self.write_guard().await;
        let done = sqlx::query("UPDATE cluster_leases SET expires_at = $1 WHERE cluster_uuid = $2 AND holder = $3")
            .bind(expiry(ttl))
            .bind(cluster.to_string())
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn release_lease(&self, cluster: Uuid, holder: &str) -> Result<()> {
        let _w = self.write_guard().await;
        sqlx::query("DELETE FROM cluster_leases WHERE cluster_uuid = $1 AND holder = $2")
            .bind(cluster.to_string())
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    /// Who holds the lease of `cluster`, if anyone (expired or not).
    pub async fn lease_holder(&self, cluster: Uuid) -> Result<Option<String>> {
        let row = sqlx::query("SELECT holder FROM cluster_leases WHERE cluster_uuid = $1")
            .bind(cluster.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(|r| sqlx::Row::try_get::<String, _>(&r, "holder").map_err(from_sqlx)).transpose()
    }
}
