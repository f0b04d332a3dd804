//! The conductor against a real store (SQLite and PostgreSQL). Engine drivers arrive with the
//! swarm-bays issue; here a scripted driver stands in for one so that the conductor's own
//! rules (outcome recording, failure reasons, dropped stale results, sweeping) are exercised.

use async_trait::async_trait;
use magnum_conductor::Conductor;
use magnum_config::ConductorConfig;
use magnum_drivers::{Credentials, Driver, DriverError, DriverRegistry, Fence, Observation, Observed};
use magnum_store::{testing, Store};
use magnum_types::cluster::{Cluster, ClusterCreator, CLUSTER_SCHEMA};
use magnum_types::coe::Coe;
use magnum_types::microversion::MAX;
use magnum_types::nodegroup::{NodeGroup, Role};
use magnum_types::status::ClusterStatus;
use magnum_types::template::{ClusterTemplate, Creator, CLUSTER_TEMPLATE_SCHEMA};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Answers create/update/delete with a fixed result after an optional pause; `provider_down`
/// plays an engine that does not answer.
struct ScriptedDriver {
    fail_with: Option<&'static str>,
    pause: Duration,
    provider_down: bool,
}

fn scripted(fail_with: Option<&'static str>, pause: Duration) -> ScriptedDriver {
    ScriptedDriver { fail_with, pause, provider_down: false }
}

#[async_trait]
impl Driver for ScriptedDriver {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn create(
        &self,
        _: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        tokio::time::sleep(self.pause).await;
        fence.check().await?;
        match self.fail_with {
            Some(why) => Err(DriverError(why.into())),
            None => Ok(Observed {
                api_address: Some("tcp://127.0.0.1:2376".into()),
                node_addresses: vec!["10.0.0.3".into()],
                ..Default::default()
            }),
        }
    }
    async fn update(
        &self,
        c: &Cluster,
        t: &ClusterTemplate,
        groups: &[NodeGroup],
        creds: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        self.create(c, t, groups, creds, fence).await
    }
    async fn provider_answers(&self) -> bool {
        !self.provider_down
    }
    async fn observe(
        &self,
        _: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
    ) -> Result<Observation, DriverError> {
        Ok(Observation { healthy: true, reasons: Default::default(), nodes: vec![] })
    }
    async fn delete(&self, _: &Cluster, fence: &dyn Fence) -> Result<(), DriverError> {
        fence.check().await?;
        match self.fail_with {
            Some(why) => Err(DriverError(why.into())),
            None => Ok(()),
        }
    }
}

fn config() -> ConductorConfig {
    ConductorConfig { host: "test-conductor".into(), report_interval: 1, periodic_interval: 1, health_interval: 1, ..Default::default() }
}

async fn seed(store: &Store, coe: &str) -> Cluster {
    let flavors: Vec<String> = vec![];
    let body = CLUSTER_TEMPLATE_SCHEMA.check_create(&json!({"coe": coe, "image_id": "img"})).expect("valid");
    let t =
        ClusterTemplate::from_create(&body, &Creator { project_id: "p", user_id: "u", flavors: &flavors, now: magnum_types::time::now() })
            .expect("template");
    let t = store.create_template(&t).await.expect("stored");
    let body = CLUSTER_SCHEMA.check_create(&json!({"cluster_template_id": t.uuid.to_string(), "name": "c1"})).expect("valid");
    let who = ClusterCreator { project_id: "p", user_id: "u", flavors: &flavors, version: MAX, now: magnum_types::time::now() };
    let c = Cluster::from_create(&body, &t, &who).expect("cluster");
    let ngs = [NodeGroup::default_for(&c, Role::Master, "img"), NodeGroup::default_for(&c, Role::Worker, "img")];
    store.create_cluster(&c, &ngs, 20).await.expect("stored")
}

fn registry(driver: ScriptedDriver) -> DriverRegistry {
    let mut r = DriverRegistry::empty();
    r.register(Coe::SwarmMode, Arc::new(driver));
    r
}

async fn status(store: &Store, c: &Cluster) -> Option<(ClusterStatus, Option<String>)> {
    store.get_cluster_by_uuid(c.uuid).await.expect("read").map(|c| (c.status, c.status_reason))
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[tokio::test] async fn $name() {
            let t = magnum_store::testing::sqlite().await; super::$name(&t.store).await; t.finish().await;
        })* }
        mod postgres { $(#[tokio::test] async fn $name() {
            let Some(t) = magnum_store::testing::postgres(concat!("postgres::", stringify!($name))).await else { return };
            super::$name(&t.store).await; t.finish().await;
        })* }
    };
}

both_backends!(
    no_driver_fails_at_once_with_a_reason,
    no_driver_delete_forgets_the_cluster,
    driver_success_and_failure_are_recorded,
    delete_during_create_drops_the_create_result,
    sweep_finds_work_no_command_reached,
    a_failure_while_the_engine_is_away_waits_for_it,
    a_bay_without_a_driver_here_is_left_to_a_conductor_that_builds_it,
);

async fn no_driver_fails_at_once_with_a_reason(store: &Store) {
    let c = seed(store, "kubernetes").await;
    let conductor = Conductor::new(store.clone(), registry(scripted(None, Duration::ZERO)), config());
    conductor.reconcile(c.uuid).await.expect("reconciled");
    let (st, reason) = status(store, &c).await.expect("still there");
    assert_eq!(st, ClusterStatus::CreateFailed);
    let reason = reason.expect("a reason");
    assert!(reason.contains("No driver for COE 'kubernetes'") && reason.contains("enabled: swarm-mode"), "{reason}");
    conductor.reconcile(c.uuid).await.expect("a repeat is harmless");
    assert_eq!(status(store, &c).await.expect("there").0, ClusterStatus::CreateFailed);
}

async fn no_driver_delete_forgets_the_cluster(store: &Store) {
    let mut c = seed(store, "swarm").await;
    c.status = ClusterStatus::DeleteInProgress;
    store.update_cluster(&c).await.expect("marked");
    Conductor::new(store.clone(), DriverRegistry::empty(), config()).reconcile(c.uuid).await.expect("reconciled");
    assert_eq!(status(store, &c).await, None);
}

async fn driver_success_and_failure_are_recorded(store: &Store) {
    let ok = seed(store, "swarm").await;
    Conductor::new(store.clone(), registry(scripted(None, Duration::ZERO)), config()).reconcile(ok.uuid).await.expect("reconciled");
    let got = store.get_cluster_by_uuid(ok.uuid).await.expect("read").expect("there");
    assert_eq!((got.status, got.api_address.as_deref()), (ClusterStatus::CreateComplete, Some("tcp://127.0.0.1:2376")));
    assert_eq!(got.node_addresses, vec!["10.0.0.3"]);

    let bad = seed(store, "swarm").await;
    Conductor::new(store.clone(), registry(scripted(Some("node image missing"), Duration::ZERO)), config())
        .reconcile(bad.uuid)
        .await
        .expect("reconciled");
    assert_eq!(status(store, &bad).await, Some((ClusterStatus::CreateFailed, Some("node image missing".into()))));
    let mut failed = store.get_cluster_by_uuid(bad.uuid).await.expect("read").expect("there");
    failed.status = ClusterStatus::DeleteInProgress;
    store.update_cluster(&failed).await.expect("delete asked");
    Conductor::new(store.clone(), registry(scripted(Some("engine down"), Duration::ZERO)), config())
        .reconcile(bad.uuid)
        .await
        .expect("reconciled");
    assert_eq!(status(store, &bad).await, Some((ClusterStatus::DeleteFailed, Some("engine down".into()))));
}

async fn a_bay_without_a_driver_here_is_left_to_a_conductor_that_builds_it(store: &Store) {
    let c = seed(store, "kubernetes").await;
    store.heartbeat("builder", "magnum-conductor", &["kubernetes"]).await.expect("the other conductor's heartbeat");
    let here = Conductor::new(store.clone(), registry(scripted(None, Duration::ZERO)), config());
    here.reconcile(c.uuid).await.expect("reconciled");
    assert_eq!(status(store, &c).await, Some((ClusterStatus::CreateInProgress, None)), "not failed: another conductor builds it");
    let mut d = store.get_cluster_by_uuid(c.uuid).await.expect("read").expect("there");
    d.status = ClusterStatus::DeleteInProgress;
    store.update_cluster(&d).await.expect("delete asked");
    here.reconcile(c.uuid).await.expect("reconciled");
    assert_eq!(
        status(store, &c).await.map(|s| s.0),
        Some(ClusterStatus::DeleteInProgress),
        "nor forgotten: the builder deletes what it built"
    );
}

async fn a_failure_while_the_engine_is_away_waits_for_it(store: &Store) {
    let c = seed(store, "swarm").await;
    let away = ScriptedDriver { fail_with: Some("cannot use the Docker engine socket"), pause: Duration::ZERO, provider_down: true };
    Conductor::new(store.clone(), registry(away), config()).reconcile(c.uuid).await.expect("reconciled");
    let (st, reason) = status(store, &c).await.expect("still there");
    assert_eq!(st, ClusterStatus::CreateInProgress, "not failed while the engine is away");
    let reason = reason.expect("says what it waits for");
    assert!(reason.contains("Waiting for the Docker engine") && reason.contains("cannot use the Docker engine socket"), "{reason}");
    // The engine is back: the next reconcile (the sweep's) finishes the create.
    Conductor::new(store.clone(), registry(scripted(None, Duration::ZERO)), config()).reconcile(c.uuid).await.expect("reconciled");
    assert_eq!(status(store, &c).await, Some((ClusterStatus::CreateComplete, None)));
    // An engine that answers and still fails the operation fails it, as before.
    let mut d = store.get_cluster_by_uuid(c.uuid).await.expect("read").expect("there");
    d.status = ClusterStatus::DeleteInProgress;
    store.update_cluster(&d).await.expect("delete asked");
    Conductor::new(store.clone(), registry(scripted(Some("volume in use"), Duration::ZERO)), config())
        .reconcile(c.uuid)
        .await
        .expect("reconciled");
    assert_eq!(status(store, &c).await, Some((ClusterStatus::DeleteFailed, Some("volume in use".into()))));
}

async fn delete_during_create_drops_the_create_result(store: &Store) {
    let c = seed(store, "swarm").await;
    let conductor = Conductor::new(store.clone(), registry(scripted(None, Duration::from_millis(300))), config());
    let creating = tokio::spawn({
        let conductor = conductor.clone();
        async move { conductor.reconcile(c.uuid).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut now = store.get_cluster_by_uuid(c.uuid).await.expect("read").expect("there");
    now.status = ClusterStatus::DeleteInProgress;
    store.update_cluster(&now).await.expect("delete asked mid-create");
    creating.await.expect("joined").expect("reconciled");
    assert_eq!(status(store, &c).await.map(|s| s.0), Some(ClusterStatus::DeleteInProgress), "create result must not overwrite the delete");
    conductor.reconcile(c.uuid).await.expect("delete runs");
    assert_eq!(status(store, &c).await, None);
}

async fn sweep_finds_work_no_command_reached(store: &Store) {
    let c = seed(store, "swarm").await;
    let conductor = Conductor::new(store.clone(), registry(scripted(None, Duration::ZERO)), config());
    let running = conductor.start(None);
    let mut done = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if status(store, &c).await.map(|s| s.0) == Some(ClusterStatus::CreateComplete) {
            done = true;
            break;
        }
    }
    let services = store.list_services().await.expect("services");
    running.stop();
    assert!(done, "the sweep completed the cluster without any command");
    assert_eq!(services.len(), 1, "the conductor reported its heartbeat");
    assert_eq!(services[0].host, "test-conductor");
}

#[tokio::test]
async fn sqlite_store_is_real() {
    // Guards the macro above: the SQLite variant always runs, whatever the environment.
    let t = testing::sqlite().await;
    assert_eq!(t.store.backend(), magnum_store::Backend::Sqlite);
    t.finish().await;
}
