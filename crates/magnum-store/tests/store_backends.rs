//! Store behaviour, run once against SQLite and once against PostgreSQL.
//! PostgreSQL variants need MAGNUM_TEST_POSTGRES_URL (scripts/test.sh provides it).

use magnum_store::{testing, ClusterScope, Store, TemplateScope};
use magnum_types::cluster::{Cluster, ClusterCreator, CLUSTER_SCHEMA};
use magnum_types::container::{Container, ContainerStatus, CONTAINER_SCHEMA};
use magnum_types::microversion::MAX;
use magnum_types::nodegroup::{NodeGroup, Role};
use magnum_types::pagination::{PageRequest, SortDir};
use magnum_types::status::ClusterStatus;
use magnum_types::template::{ClusterTemplate, Creator, CLUSTER_TEMPLATE_SCHEMA};
use magnum_types::ErrorKind;
use serde_json::json;

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let t = magnum_store::testing::sqlite().await;
                super::$name(&t.store).await;
                t.finish().await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let Some(t) = magnum_store::testing::postgres(concat!("postgres::", stringify!($name))).await else { return };
                super::$name(&t.store).await;
                t.finish().await;
            })*
        }
    };
}

both_backends!(
    template_crud_and_stale_writes,
    name_lookups,
    template_visibility,
    cluster_with_nodegroups_and_quota,
    template_in_use_cannot_be_deleted,
    pagination,
    cluster_updates_are_versioned,
    heartbeats,
    quotas,
    concurrent_creates_respect_quota,
    containers_recorded_renamed_refreshed_and_cascaded,
    leases_are_exclusive_until_they_expire,
    writes_under_a_lost_lease_are_refused,
);

fn template(project: &str, body: serde_json::Value) -> ClusterTemplate {
    let flavors = vec!["m1.small".to_owned()];
    let checked = CLUSTER_TEMPLATE_SCHEMA.check_create(&body).expect("valid body");
    ClusterTemplate::from_create(
        &checked,
        &Creator { project_id: project, user_id: "u", flavors: &flavors, now: magnum_types::time::now() },
    )
    .expect("valid template")
}

fn cluster(t: &ClusterTemplate, name: &str) -> (Cluster, Vec<NodeGroup>) {
    let checked =
        CLUSTER_SCHEMA.check_create(&json!({"cluster_template_id": t.uuid.to_string(), "name": name, "node_count": 2})).expect("valid");
    let flavors: Vec<String> = vec![];
    let who = ClusterCreator { project_id: &t.project_id, user_id: "u", flavors: &flavors, version: MAX, now: magnum_types::time::now() };
    let c = Cluster::from_create(&checked, t, &who).expect("valid cluster");
    let ngs = vec![NodeGroup::default_for(&c, Role::Master, &t.image_id), NodeGroup::default_for(&c, Role::Worker, &t.image_id)];
    (c, ngs)
}

fn page(limit: usize) -> PageRequest {
    PageRequest { limit, marker: None, sort_key: "id".into(), sort_dir: SortDir::Asc }
}

fn own(p: &str) -> TemplateScope {
    TemplateScope { project_id: p.into(), admin: false, all_projects: false }
}

async fn template_crud_and_stale_writes(store: &Store) {
    let t = store
        .create_template(&template("p1", json!({"coe": "swarm", "image_id": "img", "name": "t1", "labels": {"a": "b"}})))
        .await
        .expect("create");
    let got = store.get_template(&own("p1"), &t.uuid.to_string()).await.expect("get");
    assert_eq!(got.labels.get("a").map(String::as_str), Some("b"));
    assert_eq!(got.name.as_deref(), Some("t1"));
    let dup = store.create_template(&t).await.expect_err("duplicate uuid");
    assert_eq!(dup.kind, ErrorKind::Conflict);

    let mut a = got.clone();
    let mut b = got.clone();
    a.name = Some("from-a".into());
    b.name = Some("from-b".into());
    let a = store.update_template(&a).await.expect("first writer wins");
    let e = store.update_template(&b).await.expect_err("second writer is stale");
    assert_eq!(e.kind, ErrorKind::Conflict, "{}", e.message);
    assert_eq!(store.get_template(&own("p1"), "from-a").await.expect("renamed").version, a.version);

    store.delete_template(t.uuid).await.expect("delete");
    assert_eq!(store.get_template(&own("p1"), &t.uuid.to_string()).await.expect_err("gone").kind, ErrorKind::NotFound);
    assert_eq!(store.delete_template(t.uuid).await.expect_err("gone").kind, ErrorKind::NotFound);
    assert_eq!(store.update_template(&a).await.expect_err("gone").kind, ErrorKind::NotFound);
}

async fn name_lookups(store: &Store) {
    for _ in 0..2 {
        store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i", "name": "twin"}))).await.expect("create");
    }
    assert_eq!(store.get_template(&own("p1"), "twin").await.expect_err("ambiguous").kind, ErrorKind::Conflict);
    assert_eq!(store.get_template(&own("p1"), "nobody").await.expect_err("none").kind, ErrorKind::NotFound);
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i", "name": "solo"}))).await.expect("create");
    let (c, ngs) = cluster(&t, "bay1");
    store.create_cluster(&c, &ngs, 20).await.expect("cluster");
    let (c2, ngs2) = cluster(&t, "bay1");
    store.create_cluster(&c2, &ngs2, 20).await.expect("same name allowed");
    assert_eq!(store.get_cluster(&ClusterScope::project("p1"), "bay1").await.expect_err("ambiguous").kind, ErrorKind::Conflict);
    assert_eq!(store.get_cluster(&ClusterScope::project("p1"), &c.uuid.to_string()).await.expect("by uuid").uuid, c.uuid);
    assert_eq!(
        store.get_cluster(&ClusterScope::project("p2"), &c.uuid.to_string()).await.expect_err("other project").kind,
        ErrorKind::NotFound
    );
}

async fn template_visibility(store: &Store) {
    let private = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let public = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i", "public": true}))).await.expect("create");
    let hidden = store
        .create_template(&template("p1", json!({"coe": "swarm", "image_id": "i", "public": true, "hidden": true})))
        .await
        .expect("create");
    let seen = |ts: Vec<ClusterTemplate>| ts.into_iter().map(|t| t.uuid).collect::<Vec<_>>();
    let p2 = seen(store.list_templates(&own("p2"), &page(100)).await.expect("list"));
    assert_eq!(p2, vec![public.uuid], "other projects see only public, not hidden");
    let admin = TemplateScope { project_id: "p2".into(), admin: true, all_projects: false };
    assert_eq!(seen(store.list_templates(&admin, &page(100)).await.expect("list")), vec![public.uuid, hidden.uuid]);
    let all = TemplateScope { project_id: "p2".into(), admin: true, all_projects: true };
    assert_eq!(store.list_templates(&all, &page(100)).await.expect("list").len(), 3);
    assert_eq!(store.get_template(&own("p2"), &private.uuid.to_string()).await.expect_err("private").kind, ErrorKind::NotFound);
    store.get_template(&own("p2"), &public.uuid.to_string()).await.expect("public is visible");
}

async fn cluster_with_nodegroups_and_quota(store: &Store) {
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let (c, ngs) = cluster(&t, "a");
    let c = store.create_cluster(&c, &ngs, 2).await.expect("first");
    let groups = store.list_nodegroups(c.uuid, None, &page(10)).await.expect("nodegroups");
    assert_eq!(
        groups.iter().map(|g| (g.name.as_str(), g.node_count)).collect::<Vec<_>>(),
        vec![("default-master", 1), ("default-worker", 2)]
    );
    let workers = store.list_nodegroups(c.uuid, Some(Role::Worker), &page(10)).await.expect("workers");
    assert_eq!(workers.len(), 1);
    assert_eq!(store.get_nodegroup(c.uuid, "default-worker").await.expect("by name").role, Role::Worker);
    let (c2, ngs2) = cluster(&t, "b");
    store.create_cluster(&c2, &ngs2, 2).await.expect("second");
    let (c3, ngs3) = cluster(&t, "c");
    let e = store.create_cluster(&c3, &ngs3, 2).await.expect_err("over quota");
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert!(e.message.contains("maximum clusters per project, 2"), "{}", e.message);
    assert!(store.get_cluster_by_uuid(c3.uuid).await.expect("query").is_none(), "nothing half-written");
    store.create_quota("p1", "Cluster", 3).await.expect("raise quota");
    store.create_cluster(&c3, &ngs3, 2).await.expect("quota row wins over the default");
    assert_eq!(store.stats(Some("p1")).await.expect("stats"), (3, 9));
    assert_eq!(store.stats(Some("p2")).await.expect("stats"), (0, 0));
    assert!(store.delete_cluster(c.uuid).await.expect("delete"));
    assert!(!store.delete_cluster(c.uuid).await.expect("repeat delete is harmless"));
    assert!(store.list_nodegroups(c.uuid, None, &page(10)).await.expect("nodegroups").is_empty(), "nodegroups go with the cluster");
}

async fn template_in_use_cannot_be_deleted(store: &Store) {
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let (c, ngs) = cluster(&t, "a");
    store.create_cluster(&c, &ngs, 20).await.expect("cluster");
    assert!(store.template_in_use(t.uuid).await.expect("query"));
    let e = store.delete_template(t.uuid).await.expect_err("in use");
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.message.contains("referenced by one or multiple clusters"), "{}", e.message);
    store.delete_cluster(c.uuid).await.expect("delete cluster");
    store.delete_template(t.uuid).await.expect("now deletable");
}

async fn pagination(store: &Store) {
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let mut names = vec![];
    for i in 0..25 {
        let name = format!("bay-{:02}", (i * 7) % 25);
        let (c, ngs) = cluster(&t, &name);
        store.create_cluster(&c, &ngs, 100).await.expect("cluster");
        names.push(name);
    }
    let scope = ClusterScope::project("p1");
    let mut seen = vec![];
    let mut req = PageRequest { limit: 10, marker: None, sort_key: "name".into(), sort_dir: SortDir::Desc };
    loop {
        let batch = store.list_clusters(&scope, &req).await.expect("page");
        seen.extend(batch.iter().map(|c| c.name.clone()));
        if batch.len() < req.limit {
            break;
        }
        req.marker = batch.last().map(|c| c.uuid);
    }
    names.sort();
    names.reverse();
    assert_eq!(seen, names, "pages are disjoint, complete and ordered");
    let by_id = store.list_clusters(&scope, &page(5)).await.expect("page");
    assert_eq!(by_id.len(), 5);
    assert!(by_id.windows(2).all(|w| w[0].id < w[1].id));
    let missing = PageRequest { marker: Some(uuid::Uuid::new_v4()), ..page(5) };
    assert_eq!(store.list_clusters(&scope, &missing).await.expect_err("marker").kind, ErrorKind::NotFound);
    let foreign = PageRequest { marker: by_id.first().map(|c| c.uuid), ..page(5) };
    assert_eq!(
        store.list_clusters(&ClusterScope::project("p2"), &foreign).await.expect_err("marker of another project").kind,
        ErrorKind::NotFound
    );
}

async fn cluster_updates_are_versioned(store: &Store) {
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let (c, ngs) = cluster(&t, "a");
    let c = store.create_cluster(&c, &ngs, 20).await.expect("cluster");
    let mut a = c.clone();
    a.status = ClusterStatus::CreateComplete;
    a.node_count = 4;
    let a = store.update_cluster(&a).await.expect("update");
    let mut stale = c.clone();
    stale.status = ClusterStatus::CreateFailed;
    assert_eq!(store.update_cluster(&stale).await.expect_err("stale").kind, ErrorKind::Conflict);
    let got = store.get_cluster_by_uuid(c.uuid).await.expect("query").expect("exists");
    assert_eq!((got.status, got.node_count, got.version), (ClusterStatus::CreateComplete, 4, a.version));
    let w = store.get_nodegroup(c.uuid, "default-worker").await.expect("ng");
    assert_eq!((w.node_count, w.status), (4, ClusterStatus::CreateComplete));
    assert_eq!(store.clusters_in_progress().await.expect("sweep").len(), 0);
    assert_eq!(store.count_by_status(ClusterStatus::CreateComplete).await.expect("count"), 1);
}

async fn heartbeats(store: &Store) {
    assert_eq!(store.conductors_build().await.expect("builds"), None, "no conductor has said");
    store.heartbeat("h1", "magnum-conductor", &[]).await.expect("beat");
    assert_eq!(store.conductors_build().await.expect("builds"), Some(vec![]), "one that builds nothing has");
    store.heartbeat("h1", "magnum-conductor", &["swarm-mode"]).await.expect("beat");
    store.heartbeat("h2", "magnum-conductor", &["kubernetes", "swarm-mode"]).await.expect("beat");
    let s = store.list_services().await.expect("list");
    assert_eq!(s.iter().map(|s| (s.host.as_str(), s.report_count)).collect::<Vec<_>>(), vec![("h1", 2), ("h2", 1)]);
    assert!(s[0].last_seen_up.is_some());
    assert_eq!(store.conductors_build().await.expect("builds"), Some(vec!["kubernetes".to_owned(), "swarm-mode".to_owned()]));
}

async fn quotas(store: &Store) {
    store.create_quota("p1", "Cluster", 5).await.expect("create");
    assert_eq!(store.create_quota("p1", "Cluster", 6).await.expect_err("dup").kind, ErrorKind::Conflict);
    assert_eq!(store.update_quota("p1", "Cluster", 7).await.expect("update").hard_limit, 7);
    store.create_quota("p2", "Cluster", 1).await.expect("create");
    assert_eq!(store.list_quotas(None, 100, None).await.expect("all").len(), 2);
    let first = store.list_quotas(None, 1, None).await.expect("page");
    assert_eq!(store.list_quotas(None, 10, Some(first[0].id)).await.expect("after marker").len(), 1);
    assert_eq!(store.list_quotas(Some("p2"), 100, None).await.expect("p2").len(), 1);
    store.delete_quota("p1", "Cluster").await.expect("delete");
    assert_eq!(store.delete_quota("p1", "Cluster").await.expect_err("gone").kind, ErrorKind::NotFound);
    assert!(store.get_quota("p1", "Cluster").await.expect("get").is_none());
}

async fn concurrent_creates_respect_quota(store: &Store) {
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let mut tasks = vec![];
    for i in 0..10 {
        let store = store.clone();
        let (c, ngs) = cluster(&t, &format!("c{i}"));
        tasks.push(tokio::spawn(async move { store.create_cluster(&c, &ngs, 5).await }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.kind, ErrorKind::Forbidden, "{}", e.message),
        }
    }
    assert_eq!(ok, 5, "exactly the quota is admitted");
    assert_eq!(store.stats(Some("p1")).await.expect("stats").0, 5);
}

#[tokio::test]
async fn migrations_apply_once_and_reopen_cleanly() {
    let t = testing::sqlite().await;
    let again = Store::open(&t.url, 2).await.expect("reopen applies nothing new");
    again.close().await;
    t.finish().await;
}

#[tokio::test]
async fn unreachable_database_is_unavailable_not_internal() {
    let e = Store::open("postgres://nobody:pw@127.0.0.1:1/none", 1).await.err().expect("refused");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
    assert!(!e.message.contains(":pw@"), "password must not leak: {}", e.message);
    let e = Store::open("mysql://x", 1).await.err().expect("unsupported");
    assert_eq!(e.kind, ErrorKind::Invalid);
}

fn container(bay: &Cluster, name: &str, host: &str) -> Container {
    let checked = CONTAINER_SCHEMA.check_create(&json!({"name": name, "image": "busybox", "bay_uuid": "x"})).expect("valid");
    let mut c = Container::from_create(&checked, bay.uuid, &bay.project_id, "u", magnum_types::time::now()).expect("valid");
    c.host = Some(host.into());
    c.status = ContainerStatus::Stopped;
    c
}

async fn containers_recorded_renamed_refreshed_and_cascaded(store: &Store) {
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let (bay, ngs) = cluster(&t, "bay");
    let bay = store.create_cluster(&bay, &ngs, 10).await.expect("bay");
    let a = store.insert_container(&container(&bay, "web", "w-0")).await.expect("insert");
    store.insert_container(&container(&bay, "web", "w-1")).await.expect("names may repeat");
    store.insert_container(&container(&bay, "db", "w-0")).await.expect("insert");
    let e = store.insert_container(&a).await.expect_err("same uuid");
    assert_eq!(e.kind, ErrorKind::Conflict);
    let (other, ngs) = cluster(&t, "gone");
    let e = store.insert_container(&container(&other, "x", "w-0")).await.expect_err("bay not stored");
    assert_eq!((e.kind, e.message.contains("could not be found")), (ErrorKind::Invalid, true), "{}", e.message);
    drop(ngs);

    // Lookups are scoped by project; a repeated name is ambiguous.
    let p1 = ClusterScope::project("p1");
    assert_eq!(store.get_container(&p1, "db").await.expect("by name").host.as_deref(), Some("w-0"));
    assert_eq!(store.get_container(&p1, "web").await.expect_err("two").kind, ErrorKind::Conflict);
    assert_eq!(
        store.get_container(&ClusterScope::project("p2"), &a.uuid.to_string()).await.expect_err("other project").kind,
        ErrorKind::NotFound
    );
    assert_eq!(store.list_containers(&p1, Some(bay.uuid), &page(2)).await.expect("page").len(), 2);
    assert_eq!(store.list_containers(&ClusterScope::project("p2"), None, &page(10)).await.expect("list").len(), 0);
    let per_host = store.containers_per_host(bay.uuid).await.expect("counts");
    assert_eq!((per_host["w-0"], per_host["w-1"]), (2, 1));

    // Renames are versioned; status writes are the conductor's and do not bump the version.
    let renamed = store.rename_container(&a, "front").await.expect("rename");
    assert_eq!(store.rename_container(&a, "stale").await.expect_err("stale version").kind, ErrorKind::Conflict);
    assert!(store.set_container_status(a.uuid, ContainerStatus::Running, None).await.expect("status"));
    let now = store.get_container_by_uuid(a.uuid).await.expect("read").expect("exists");
    assert_eq!((now.name.as_str(), now.status, now.version), ("front", ContainerStatus::Running, renamed.version));
    // A refresh based on an older read does not overwrite a newer status.
    assert!(!store.set_container_status_if_unchanged(&a, ContainerStatus::Error, Some("old listing"), false).await.expect("cas"));
    assert!(store.set_container_status_if_unchanged(&now, ContainerStatus::Paused, None, false).await.expect("cas"));
    assert_eq!(store.get_container_by_uuid(a.uuid).await.expect("read").expect("exists").status, ContainerStatus::Paused);
    // Whether its owner left it running is kept with it, and cleared only by a write that saw
    // the row as it is.
    assert!(!now.keep_running, "a new container is not kept running");
    assert!(store.record_container_action(a.uuid, ContainerStatus::Running, None, true).await.expect("action"));
    let kept = store.get_container_by_uuid(a.uuid).await.expect("read").expect("exists");
    assert!(kept.keep_running && kept.status == ContainerStatus::Running);
    assert!(!store.set_container_status_if_unchanged(&now, ContainerStatus::Stopped, None, false).await.expect("cas"));
    assert!(store.get_container_by_uuid(a.uuid).await.expect("read").expect("exists").keep_running, "a stale listing keeps it");
    assert!(store
        .set_container_status_if_unchanged(&kept, ContainerStatus::Stopped, Some("exited with code 0"), false)
        .await
        .expect("cas"));
    assert!(!store.get_container_by_uuid(a.uuid).await.expect("read").expect("exists").keep_running);

    assert!(store.delete_container(a.uuid).await.expect("delete"));
    assert!(!store.delete_container(a.uuid).await.expect("repeat delete is harmless"));
    assert!(store.delete_cluster(bay.uuid).await.expect("delete bay"));
    assert!(store.bay_containers(bay.uuid).await.expect("list").is_empty(), "containers go with their bay");
}

async fn leases_are_exclusive_until_they_expire(store: &Store) {
    use std::time::Duration;
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let (bay, ngs) = cluster(&t, "bay");
    let bay = store.create_cluster(&bay, &ngs, 10).await.expect("bay");
    let long = Duration::from_secs(60);
    let take = |holder: &'static str| {
        let store = store.clone();
        async move { store.acquire_lease(bay.uuid, holder, long).await.expect("acquire") }
    };
    let a1 = take("a").await.expect("free: taken");
    assert!(take("b").await.is_none(), "held by a live holder");
    let a2 = take("a").await.expect("the holder may take it again");
    assert!(a2.generation > a1.generation, "each taking is a new generation: {a1:?} then {a2:?}");
    assert!(!store.lease_is_current(&a1).await.expect("check"), "an older generation of the same holder is stale");
    assert!(store.renew_lease(&a2, Duration::ZERO).await.expect("renew"), "renewed (to expire now)");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = take("b").await.expect("expired: taken over");
    assert_eq!(store.lease_holder(bay.uuid).await.expect("holder").as_deref(), Some("b"));
    assert!(!store.renew_lease(&a2, long).await.expect("renew"), "the old holder learns it lost the lease");
    store.release_lease(&a2).await.expect("release by a former holder does nothing");
    assert!(take("c").await.is_none(), "b still holds it");
    store.release_lease(&b).await.expect("release");
    let c = take("c").await.expect("released: free again");
    assert!(c.generation > b.generation, "a released lease keeps counting: a stale generation never comes back");
    assert!(!store.lease_is_current(&b).await.expect("check") && store.lease_is_current(&c).await.expect("check"));
    // Racing conductors: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.acquire_lease(bay.uuid, &format!("r{i}"), long).await.expect("acquire") })
        })
        .collect();
    store.release_lease(&c).await.expect("release");
    let mut winners = 0;
    for r in racers {
        winners += r.await.expect("task").is_some() as usize;
    }
    assert!(winners <= 1, "{winners} conductors hold one lease");
    assert!(store.delete_cluster(bay.uuid).await.expect("delete"));
    assert_eq!(store.lease_holder(bay.uuid).await.expect("holder"), None, "leases go with their bay");
    let (gone, _) = cluster(&t, "gone");
    assert!(store.acquire_lease(gone.uuid, "a", long).await.expect("no cluster, no lease").is_none());
}

/// A conductor that lost a bay's lease writes nothing to it: not its status, not its nodes,
/// not its deletion. The holder's writes go through.
async fn writes_under_a_lost_lease_are_refused(store: &Store) {
    use magnum_store::Fenced;
    use std::time::Duration;
    let t = store.create_template(&template("p1", json!({"coe": "swarm", "image_id": "i"}))).await.expect("create");
    let (bay, ngs) = cluster(&t, "bay");
    let bay = store.create_cluster(&bay, &ngs, 10).await.expect("bay");
    let stale = store.acquire_lease(bay.uuid, "a", Duration::ZERO).await.expect("acquire").expect("free");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let current = store.acquire_lease(bay.uuid, "b", Duration::from_secs(60)).await.expect("acquire").expect("expired: taken");

    let mut by_a = store.get_cluster_by_uuid(bay.uuid).await.expect("read").expect("there");
    by_a.status = ClusterStatus::CreateFailed;
    assert_eq!(store.update_cluster_under(&by_a, &stale).await.expect("update"), Fenced::LeaseLost);
    let node = magnum_types::node::Node {
        uuid: uuid::Uuid::new_v4(),
        cluster_uuid: bay.uuid,
        project_id: "p1".into(),
        nodegroup: "default-worker".into(),
        role: "worker".into(),
        name: "resurrected".into(),
        address: None,
        status: "Ready".into(),
        status_reason: None,
        image_id: None,
        created_at: magnum_types::time::now(),
        updated_at: None,
    };
    assert_eq!(store.record_nodes_under(&stale, "p1", std::slice::from_ref(&node)).await.expect("nodes"), Fenced::LeaseLost);
    assert_eq!(store.delete_cluster_under(&stale).await.expect("delete"), Fenced::LeaseLost);
    let now = store.get_cluster_by_uuid(bay.uuid).await.expect("read").expect("the stale delete removed nothing");
    assert_eq!((now.status, now.version), (bay.status, bay.version), "the stale update wrote nothing");
    let nodes = store.list_nodes(&ClusterScope::all(), Some(bay.uuid), &page(10)).await.expect("list");
    assert!(nodes.is_empty(), "the stale nodes were not recorded: {nodes:?}");

    let mut by_b = now.clone();
    by_b.status = ClusterStatus::CreateComplete;
    assert!(
        matches!(store.update_cluster_under(&by_b, &current).await.expect("update"), Fenced::Done(c) if c.status == ClusterStatus::CreateComplete)
    );
    assert_eq!(store.record_nodes_under(&current, "p1", &[node]).await.expect("nodes"), Fenced::Done(()));
    assert_eq!(store.delete_cluster_under(&current).await.expect("delete"), Fenced::Done(true));
    assert!(store.get_cluster_by_uuid(bay.uuid).await.expect("read").is_none());
}
