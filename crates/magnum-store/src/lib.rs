//! # Persistence
//!
//! What is stored, and why:
//! - **cluster_templates** and **clusters** (bays): what users asked for, plus what the
//!   conductor observed (status, addresses). The API writes intent; the conductor writes
//!   observations. Both go through [`Store`] with a `version` check, so two API servers or
//!   conductors can never silently overwrite each other: a stale write is a `Conflict`.
//! - **nodegroups**: each cluster's default master and worker groups, written in the same
//!   transaction as the cluster, so a cluster is never half-written.
//! - **containers**: the container API's objects; the API writes what was asked, the conductor
//!   where each runs and what the engine last said of it.
//! - **magnum_services**: conductor heartbeats (`/v1/mservices`).
//! - **quotas**: clusters allowed per project, and (with a `Node` quota) its nodes; checked in
//!   the transaction that writes the cluster or nodegroup, so concurrent writes cannot overshoot.
//!
//! Rows carry the columns we filter and sort by, and a JSON `body` with the rest of the object;
//! where both hold a value, the column is the truth. One SQL dialect serves SQLite and
//! PostgreSQL (`$N` placeholders, `ON CONFLICT`, `RETURNING`) through sqlx's Any driver;
//! migrations are embedded and applied at open.

mod certificates;
mod clusters;
mod containers;
mod error;
mod kube_objects;
mod leases;
mod migrate;
mod nodes;
mod page;
mod quotas;
mod services;
mod templates;
pub mod testing;

pub use certificates::StoredCertificates;
pub use clusters::ClusterScope;
pub use leases::{Fenced, Lease};
pub use services::{ImageReport, BUILDING};
pub use templates::TemplateScope;

use magnum_types::Result;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The store. Cheap to clone; all clones share one pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer; taking this lock first turns "database is locked" races
    /// between pooled connections into an orderly queue. PostgreSQL needs no such lock.
    sqlite_writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Connects and applies migrations. `url`: `sqlite://PATH?mode=rwc` or `postgres://...`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            magnum_types::MagnumError::invalid(format!(
                "Unsupported database URL '{}': use sqlite://PATH or postgres://USER:PASS@HOST/DB.",
                redact(url)
            ))
        })?;
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(url)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| error::from_sqlx_connect(e, url))?;
        let store = Store { pool, backend, sqlite_writer: Default::default() };
        if backend == Backend::Sqlite {
            // Readers do not block the writer in WAL mode; the setting persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&store.pool).await.map_err(error::from_sqlx)?;
        }
        migrate::run(&store).await?;
        tracing::info!(backend = ?backend, "store ready");
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Answers whether the database is reachable (used by readiness checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(error::from_sqlx)?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Serializes writers on SQLite; a no-op guard on PostgreSQL.
    async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.lock().await),
            Backend::Postgres => None,
        }
    }
}

fn ensure_sqlite_dir(url: &str) -> Result<()> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| magnum_types::MagnumError::unavailable(format!("cannot create database directory {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// A URL with its password hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    magnum_types::redact::url(url)
}
