//! cluster_leases: each bay is driven by one conductor at a time, and a conductor that lost a
//! bay can no longer change it.
//!
//! A lease names its holder, an expiry and a generation. Taking one succeeds when nobody holds
//! it, when the caller already does, or when the holder let it expire (it died, or stalled):
//! that is how a surviving conductor takes over the bays of a dead one. All in one statement,
//! so two conductors racing for a lease cannot both win. Every taking counts the generation
//! up, and the writes a conductor makes under a lease ([`Store::update_cluster_under`] and the
//! like) go through only while its generation is the current one: a conductor that was paused
//! past its lease finds its writes refused instead of undoing its successor's work.

use crate::error::from_sqlx;
use crate::{Backend, Store};
use magnum_types::time::{after, now, to_storage};
use magnum_types::{ErrorKind, Result};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

/// One conductor's hold on one bay, valid while its generation is the lease's current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub cluster: Uuid,
    pub holder: String,
    pub generation: i64,
}

/// The outcome of a write made under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fenced<T> {
    Done(T),
    /// Another conductor took the lease since: nothing was written.
    LeaseLost,
}

fn expiry(ttl: Duration) -> String {
    to_storage(&after(ttl))
}

impl Store {
    /// Takes (or takes again) the lease of `cluster` for `holder`, with a new generation; None
    /// when another live holder has it, or the cluster is gone.
    pub async fn acquire_lease(&self, cluster: Uuid, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let _w = self.write_guard().await;
        let row = sqlx::query(
            "INSERT INTO cluster_leases (cluster_uuid, holder, expires_at, generation) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (cluster_uuid) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
             generation = cluster_leases.generation + 1 \
             WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at < $4 \
             RETURNING generation",
        )
        .bind(cluster.to_string())
        .bind(holder)
        .bind(expiry(ttl))
        .bind(to_storage(&now()))
        .fetch_optional(&self.pool)
        .await;
        match row {
            Ok(Some(r)) => {
                let generation: i64 = r.try_get("generation").map_err(from_sqlx)?;
                Ok(Some(Lease { cluster, holder: holder.to_owned(), generation }))
            }
            Ok(None) => Ok(None),
            // The cluster was deleted meanwhile: nothing to hold.
            Err(e) => match from_sqlx(e) {
                err if err.kind == ErrorKind::Invalid => Ok(None),
                err => Err(err),
            },
        }
    }

    /// Extends `lease`; false when it was lost (it expired and another conductor took it).
    pub async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let _w = self.write_guard().await;
        let done = sqlx::query("UPDATE cluster_leases SET expires_at = $1 WHERE cluster_uuid = $2 AND holder = $3 AND generation = $4")
            .bind(expiry(ttl))
            .bind(lease.cluster.to_string())
            .bind(&lease.holder)
            .bind(lease.generation)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(done.rows_affected() > 0)
    }

    /// Lets the lease go at once. The row stays (expired), so the generation keeps counting:
    /// a generation once given out is never valid again.
    pub async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let _w = self.write_guard().await;
        sqlx::query("UPDATE cluster_leases SET expires_at = $1 WHERE cluster_uuid = $2 AND holder = $3 AND generation = $4")
            .bind(to_storage(&magnum_types::time::Timestamp::UNIX_EPOCH))
            .bind(lease.cluster.to_string())
            .bind(&lease.holder)
            .bind(lease.generation)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    /// Whether `lease` is still the bay's current one (nobody took the bay over since).
    pub async fn lease_is_current(&self, lease: &Lease) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS held FROM cluster_leases WHERE cluster_uuid = $1 AND holder = $2 AND generation = $3")
            .bind(lease.cluster.to_string())
            .bind(&lease.holder)
            .bind(lease.generation)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(row.is_some())
    }

    /// Who last took the lease of `cluster`, if anyone (expired or not).
    pub async fn lease_holder(&self, cluster: Uuid) -> Result<Option<String>> {
        let row = sqlx::query("SELECT holder FROM cluster_leases WHERE cluster_uuid = $1")
            .bind(cluster.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(from_sqlx)?;
        row.map(|r| r.try_get::<String, _>("holder").map_err(from_sqlx)).transpose()
    }

    /// Inside a write transaction: whether `lease` is current, holding the lease row until the
    /// transaction ends (on PostgreSQL, a takeover waits for this write to commit; on SQLite
    /// the single writer already orders them).
    pub(crate) async fn holds(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, lease: &Lease) -> Result<bool> {
        let lock = match self.backend {
            Backend::Postgres => " FOR SHARE",
            Backend::Sqlite => "",
        };
        let sql = format!("SELECT 1 AS held FROM cluster_leases WHERE cluster_uuid = $1 AND holder = $2 AND generation = $3{lock}");
        let row = sqlx::query(&sql)
            .bind(lease.cluster.to_string())
            .bind(&lease.holder)
            .bind(lease.generation)
            .fetch_optional(&mut **tx)
            .await
            .map_err(from_sqlx)?;
        Ok(row.is_some())
    }
}
