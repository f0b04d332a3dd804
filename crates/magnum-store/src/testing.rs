//! Fresh, isolated stores for tests of this crate and the ones above it.
//!
//! PostgreSQL tests need `MAGNUM_TEST_POSTGRES_URL` (scripts/test.sh starts PostgreSQL and
//! sets it). Without it they print a loud SKIP, unless `MAGNUM_REQUIRE_SERVICES=1` (set by
//! scripts/test.sh and .ci/run), where a missing service is a failure, never a silent pass.

use crate::Store;
use uuid::Uuid;

pub const POSTGRES_ENV: &str = "MAGNUM_TEST_POSTGRES_URL";

/// A store for one test, and what must be cleaned up after it.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl TestStore {
    /// Closes the store and removes its file or database.
    pub async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::File(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                if let Ok(admin) = Store::raw_pool(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
                    admin.close().await;
                }
            }
        }
    }
}

/// A SQLite store in a fresh temporary directory.
pub async fn sqlite() -> TestStore {
    let dir = std::env::temp_dir().join(format!("magnum-test-{}", Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", dir.join("magnum.sqlite").display());
    let store = Store::open(&url, 4).await.unwrap_or_else(|e| panic!("open the SQLite test store at {url}: {e}"));
    TestStore { store, url, cleanup: Cleanup::File(dir) }
}

/// A PostgreSQL store in a fresh database, or `None` (with a loud message) when no server
/// was provided.
pub async fn postgres(test: &str) -> Option<TestStore> {
    let Some(admin_url) = std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty()) else {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{test}: {POSTGRES_ENV} is not set but MAGNUM_REQUIRE_SERVICES=1: start PostgreSQL with scripts/start-postgres.sh");
        }
        eprintln!("\n*** SKIPPED {test}: PostgreSQL not configured ({POSTGRES_ENV} unset). Run scripts/test.sh for the full suite. ***\n");
        return None;
    };
    let name = format!("magnum_t_{}", Uuid::new_v4().simple());
    let admin = Store::raw_pool(&admin_url).await.unwrap_or_else(|e| {
        panic!("{test}: connect to the PostgreSQL test server ({POSTGRES_ENV} = {:?}): {e}", crate::redact(&admin_url))
    });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("{test}: create the test database {name}: {e}"));
    admin.close().await;
    let url = match admin_url.rfind('/') {
        Some(i) => format!("{}/{name}", &admin_url[..i]),
        None => panic!("{POSTGRES_ENV} must end in /DATABASE"),
    };
    let store = Store::open(&url, 4).await.unwrap_or_else(|e| panic!("{test}: open the PostgreSQL test store {name}: {e}"));
    Some(TestStore { store, url, cleanup: Cleanup::Database { admin_url, name } })
}

impl Store {
    async fn raw_pool(url: &str) -> Result<sqlx::AnyPool, sqlx::Error> {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await
    }
}
