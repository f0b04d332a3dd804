//! magnum_services: conductor heartbeats.

use crate::error::{corrupt, from_sqlx};
use crate::Store;
use magnum_types::mservice::MagnumService;
use magnum_types::time::{from_storage, now, to_storage};
use magnum_types::Result;
use sqlx::Row;

/// A conductor reports an image it is building as this prefix and the image's name.
pub const BUILDING: &str = "building:";

/// What the conductors said of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageReport {
    /// Some conductor's engine holds it.
    pub present: bool,
    /// Some conductor's host is building it.
    pub building: bool,
    /// Some conductor reported its images at all.
    pub reported: bool,
}

impl Store {
    /// Records that `binary` on `host` is alive, building bays of the COEs `builds`: creates its
    /// row or bumps `report_count`.
    pub async fn heartbeat(&self, host: &str, binary: &str, builds: &[&str]) -> Result<()> {
        let _w = self.write_guard().await;
        let t = to_storage(&now());
        sqlx::query(
            "INSERT INTO magnum_services (host, binary_name, report_count, last_seen_up, created_at, updated_at, builds) \
             VALUES ($1, $2, 1, $3, $3, NULL, $4) \
             ON CONFLICT (host, binary_name) DO UPDATE SET report_count = magnum_services.report_count + 1, \
             last_seen_up = $3, updated_at = $3, builds = $4",
        )
        .bind(host)
        .bind(binary)
        .bind(&t)
        .bind(builds.join(","))
        .execute(&self.pool)
        .await
        .map_err(from_sqlx)?;
        Ok(())
    }

    /// The COEs any conductor said it builds, or None when no conductor has said (none ran
    /// yet, or only ones older than the report). Conductors that are down count too: their
    /// configuration is the deployment's until they are retired.
    pub async fn conductors_build(&self) -> Result<Option<Vec<String>>> {
        let rows =
            sqlx::query("SELECT builds FROM magnum_services WHERE builds IS NOT NULL").fetch_all(&self.pool).await.map_err(from_sqlx)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut coes = vec![];
        for r in &rows {
            let builds: String = r.try_get("builds").map_err(from_sqlx)?;
            coes.extend(builds.split(',').filter(|c| !c.is_empty()).map(str::to_owned));
        }
        coes.sort();
        coes.dedup();
        Ok(Some(coes))
    }

    pub async fn list_services(&self) -> Result<Vec<MagnumService>> {
        let rows = sqlx::query(
            "SELECT id, host, binary_name, disabled, disabled_reason, forced_down, report_count, last_seen_up, created_at, updated_at \
             FROM magnum_services ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        rows.iter()
            .map(|r| {
                let ts = |c: &str| -> Result<Option<magnum_types::time::Timestamp>> {
                    Ok(r.try_get::<Option<String>, _>(c).map_err(from_sqlx)?.and_then(|s| from_storage(&s)))
                };
                Ok(MagnumService {
                    id: r.try_get("id").map_err(from_sqlx)?,
                    host: r.try_get("host").map_err(from_sqlx)?,
                    binary: r.try_get("binary_name").map_err(from_sqlx)?,
                    disabled: r.try_get::<i64, _>("disabled").map_err(from_sqlx)? != 0,
                    disabled_reason: r.try_get("disabled_reason").map_err(from_sqlx)?,
                    forced_down: r.try_get::<i64, _>("forced_down").map_err(from_sqlx)? != 0,
                    report_count: r.try_get("report_count").map_err(from_sqlx)?,
                    last_seen_up: ts("last_seen_up")?,
                    created_at: ts("created_at")?.ok_or_else(|| corrupt("service", "no created_at"))?,
                    updated_at: ts("updated_at")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Replaces the images `reporter` (a conductor host) says its engine holds. Names are
    /// `repo:tag` and image ids (`sha256:...`).
    pub async fn report_engine_images(&self, reporter: &str, names: &[String]) -> Result<()> {
        let _w = self.write_guard().await;
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        sqlx::query("DELETE FROM engine_images WHERE reporter = $1").bind(reporter).execute(&mut *tx).await.map_err(from_sqlx)?;
        let t = to_storage(&now());
        for n in names {
            sqlx::query("INSERT INTO engine_images (reporter, name, reported_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(reporter)
                .bind(n)
                .bind(&t)
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
        }
        tx.commit().await.map_err(from_sqlx)?;
        Ok(())
    }

    /// What the conductors reported of image `name` (`repo` alone means `repo:latest`).
    pub async fn engine_image_known(&self, name: &str) -> Result<ImageReport> {
        let with_tag = if name.contains(':') || name.starts_with("sha256:") { name.to_owned() } else { format!("{name}:latest") };
        let rows = sqlx::query("SELECT DISTINCT name FROM engine_images WHERE name IN ($1, $2, $3, $4)")
            .bind(name)
            .bind(&with_tag)
            .bind(format!("{BUILDING}{name}"))
            .bind(format!("{BUILDING}{with_tag}"))
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlx)?;
        let names: Vec<String> = rows.iter().filter_map(|r| r.try_get::<String, _>("name").ok()).collect();
        let reported = sqlx::query("SELECT COUNT(*) AS n FROM engine_images")
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlx)?
            .try_get::<i64, _>("n")
            .map_err(from_sqlx)?;
        Ok(ImageReport {
            present: names.iter().any(|n| !n.starts_with(BUILDING)),
            building: names.iter().any(|n| n.starts_with(BUILDING)),
            reported: reported > 0,
        })
    }
}
