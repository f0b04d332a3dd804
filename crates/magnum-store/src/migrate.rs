//! Embedded migrations, applied in order at open and recorded in `schema_migrations`.
//! On PostgreSQL an advisory lock keeps concurrently starting processes from racing.

use crate::error::from_sqlx;
use crate::{Backend, Store};
use magnum_types::Result;
use sqlx::Row;

const MIGRATIONS: [(i64, &str, &str); 10] = [
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "certificates", include_str!("../migrations/0002_certificates.sql")),
    (3, "nodes", include_str!("../migrations/0003_nodes.sql")),
    (4, "engine_images", include_str!("../migrations/0004_engine_images.sql")),
    (5, "containers", include_str!("../migrations/0005_containers.sql")),
    (6, "cluster_leases", include_str!("../migrations/0006_cluster_leases.sql")),
    (7, "kube_objects", include_str!("../migrations/0007_kube_objects.sql")),
    (8, "lease_generations", include_str!("../migrations/0008_lease_generations.sql")),
    (9, "container_keep_running", include_str!("../migrations/0009_container_keep_running.sql")),
    (10, "conductor_builds", include_str!("../migrations/0010_conductor_builds.sql")),
];

/// An arbitrary constant naming our migration lock.
const LOCK_KEY: i64 = 0x6d61_676e_756d;

pub(crate) async fn run(store: &Store) -> Result<()> {
    let _guard = store.write_guard().await;
    let mut conn = store.pool.acquire().await.map_err(from_sqlx)?;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_lock($1)) AS l").bind(LOCK_KEY).fetch_all(&mut *conn).await.map_err(from_sqlx)?;
    }
    let result = apply_all(store.backend, &mut conn).await;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_unlock($1)) AS l").bind(LOCK_KEY).fetch_all(&mut *conn).await.map_err(from_sqlx)?;
    }
    result
}

async fn apply_all(backend: Backend, conn: &mut sqlx::AnyConnection) -> Result<()> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        .execute(&mut *conn)
        .await
        .map_err(from_sqlx)?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await
        .map_err(from_sqlx)?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .map_err(from_sqlx)?;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        let (serial, bigint) = match backend {
            Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
            Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "BIGINT"),
        };
        let sql = sql.replace("{serial}", serial).replace("{bigint}", bigint);
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(from_sqlx)?;
        // Comments go first: a ';' in one must not split a statement.
        for stmt in strip_comments(&sql).split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(stmt).execute(&mut *tx).await.map_err(from_sqlx)?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(name)
            .bind(magnum_types::time::to_storage(&magnum_types::time::now()))
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        tx.commit().await.map_err(from_sqlx)?;
        tracing::info!(version, name, "applied migration");
    }
    Ok(())
}

fn strip_comments(sql: &str) -> String {
    sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n")
}
