//! A real magnum-server (API + conductor, in-process bus) on an ephemeral 127.0.0.1 port,
//! over a fresh SQLite file or a fresh PostgreSQL database.

#![allow(dead_code)]

use magnum_client::{Client, Reply};
use magnum_config::Config;
use magnum_server::{start_with_drivers, Mode, Running};
use magnum_store::testing::TestStore;
use magnum_store::Store;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Env {
    pub admin: Client,
    pub base: String,
    pub store: Store,
    /// The server's configuration (its data directory holds the key that seals bay keys).
    pub config: Config,
    running: Running,
    test_store: TestStore,
}

pub enum Backend {
    Sqlite,
    Postgres(&'static str),
}

impl Env {
    pub async fn start(backend: Backend) -> Option<Env> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Env> {
        // MAGNUM_TEST_LOG=debug (or any filter) shows the server's logs while debugging a test.
        if let Ok(filter) = std::env::var("MAGNUM_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let test_store = match backend {
            Backend::Sqlite => magnum_store::testing::sqlite().await,
            Backend::Postgres(name) => magnum_store::testing::postgres(name).await?,
        };
        let mut config = Config::load(None, Vec::<(String, String)>::new()).expect("default config");
        config.api.bind = "127.0.0.1:0".parse().expect("addr");
        config.data_dir = std::env::temp_dir().join(format!("magnum-env-{}", uuid::Uuid::new_v4().simple()));
        config.conductor.periodic_interval = 1;
        config.conductor.report_interval = 1;
        config.conductor.host = "test-host".into();
        // Control-plane tests: no engine, and conductors that build bays in name only
        // (magnum_test_support), so every cluster's fate is decided by the conductor's own rules.
        // Tests of real bays turn the Docker driver on.
        config.docker.enabled = false;
        tweak(&mut config);
        let mut drivers = magnum_server::drivers(&config);
        if !config.docker.enabled {
            drivers = magnum_test_support::nothing_built(drivers);
        }
        let running = start_with_drivers(Mode::All, config.clone(), test_store.store.clone(), drivers, std::future::pending::<()>())
            .await
            .expect("server starts");
        let base = format!("http://{}", running.addr.expect("listening"));
        let admin = Client::new(&base).as_user("admin-project", "admin", "admin");
        Some(Env { admin, base, store: test_store.store.clone(), config, running, test_store })
    }

    /// A member (read/write) of `project`.
    pub fn member(&self, project: &str) -> Client {
        Client::new(&self.base).as_user(project, &format!("user-{project}"), "member")
    }

    pub fn reader(&self, project: &str) -> Client {
        Client::new(&self.base).as_user(project, &format!("reader-{project}"), "reader")
    }

    pub async fn finish(self) {
        self.running.stop();
        self.test_store.finish().await;
    }
}

/// The URL of a service a test needs, from `var`; None with a loud SKIP when unset, or a panic
/// when MAGNUM_REQUIRE_SERVICES=1 (scripts/test.sh and CI start every service).
/// A server that validates tokens with the Keystone at `url` (scripts/start-keystone.sh and
/// its `magnum` service user), trusting a validation for `token_cache_time` seconds.
pub async fn env_with_keystone(url: &str, token_cache_time: u64) -> Env {
    let url = url.to_owned();
    Env::start_with(Backend::Sqlite, move |c| {
        c.auth.token_cache_time = token_cache_time;
        c.auth.strategy = magnum_config::AuthStrategy::Keystone;
        c.auth.auth_url = Some(url);
        c.auth.username = Some("magnum".into());
        c.auth.password = Some("magnum-service-test".into());
        c.auth.project_name = "service".into();
    })
    .await
    .expect("server")
}

pub fn service_url(var: &str, test: &str, start_with: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|u| !u.is_empty()) {
        Some(u) => Some(u),
        None if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{test}: {var} is not set but MAGNUM_REQUIRE_SERVICES=1: run {start_with}")
        }
        None => {
            eprintln!("\n*** SKIPPED {test}: {var} is unset. Run scripts/test.sh for the full suite. ***\n");
            None
        }
    }
}

/// Asserts a Magnum error: status, body shape, request id matching the header.
pub fn assert_error(r: &Reply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "expected {status}, got {}: {}", r.status, r.text);
    let e = &r.body["errors"][0];
    assert_eq!(e["status"], json!(status), "{}", r.text);
    assert_eq!(e["code"], json!(if status >= 500 { "server" } else { "client" }), "{}", r.text);
    assert!(e["title"].as_str().is_some_and(|t| !t.is_empty()), "{}", r.text);
    assert_eq!(e["links"], json!([]), "{}", r.text);
    let detail = e["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "detail {detail:?} lacks {needle:?}");
    let id = r.header("x-openstack-request-id").expect("request id header");
    assert_eq!(e["request_id"], json!(id));
}

pub async fn make_template(c: &Client, name: &str) -> Value {
    let r = c
        .post("/v1/clustertemplates", &json!({"name": name, "coe": "swarm", "image_id": "magnum/swarm-node", "keypair_id": "kp"}))
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

pub async fn make_cluster(c: &Client, template: &str, name: &str) -> String {
    let r = c.post("/v1/clusters", &json!({"name": name, "cluster_template_id": template})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    r.body["uuid"].as_str().expect("uuid").to_owned()
}

/// Polls `path` until its `status` is `want` (10 s at most).
pub async fn wait_status(c: &Client, path: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let r = c.get(path).await.expect("http");
        if r.body["status"] == json!(want) {
            return r.body;
        }
        last = r.body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never reached {want}: last {last}");
}

/// Polls `path` until it answers 404 (10 s at most).
pub async fn wait_gone(c: &Client, path: &str) {
    wait_gone_within(c, path, Duration::from_secs(10)).await
}

/// Polls `path` until it answers 404, for at most `limit`.
pub async fn wait_gone_within(c: &Client, path: &str, limit: Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if c.get(path).await.expect("http").status == 404 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never disappeared");
}

/// Marks a cluster CREATE_COMPLETE in the store, as a driver would have. Retries when the
/// conductor writes the same row in between (the store refuses stale writes).
pub async fn mark_complete(store: &Store, uuid: &str) {
    let u = uuid.parse().expect("uuid");
    for _ in 0..20 {
        let mut c = store.get_cluster_by_uuid(u).await.expect("read").expect("exists");
        c.status = magnum_types::status::ClusterStatus::CreateComplete;
        c.status_reason = None;
        match store.update_cluster(&c).await {
            Ok(_) => return,
            Err(e) if e.kind == magnum_types::ErrorKind::Conflict => continue,
            Err(e) => panic!("write: {e}"),
        }
    }
    panic!("cluster {uuid} kept changing");
}

#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let env = $crate::common::Env::start($crate::common::Backend::Sqlite).await.expect("sqlite env");
            super::$name(&env).await;
            env.finish().await;
        })* }
        mod postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let Some(env) = $crate::common::Env::start($crate::common::Backend::Postgres(concat!("postgres::", stringify!($name)))).await else { return };
            super::$name(&env).await;
            env.finish().await;
        })* }
    };
}
