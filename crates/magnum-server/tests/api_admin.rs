//! Quotas, stats and mservices over HTTP.

mod common;
use common::{assert_error, make_cluster, make_template, mark_complete, wait_status, Env};
use serde_json::json;
use std::time::Duration;

both_backends!(quotas, quota_limits_cluster_creation, node_quota_limits_clusters_and_nodegroups, stats, mservices,);

async fn quotas(env: &Env) {
    let m = env.member("p1");
    let a = &env.admin;
    assert_error(
        &m.post("/v1/quotas", &json!({"project_id": "p1", "resource": "Cluster", "hard_limit": 5})).await.expect("http"),
        403,
        "quota:create",
    );
    let r = a.post("/v1/quotas", &json!({"project_id": "p1", "resource": "Cluster", "hard_limit": 5})).await.expect("http");
    assert_eq!((r.status, r.body["hard_limit"].clone(), r.body["project_id"].clone()), (201, json!(5), json!("p1")), "{}", r.text);
    assert!(r.body["id"].is_i64());
    assert_error(&a.post("/v1/quotas", &json!({"project_id": "p1", "resource": "Cluster"})).await.expect("http"), 409, "already exists");
    assert_error(&a.post("/v1/quotas", &json!({"project_id": "p1", "resource": "Pod"})).await.expect("http"), 400, "Only 'Cluster'");
    assert_error(
        &a.post("/v1/quotas", &json!({"project_id": "p1", "resource": "Cluster", "hard_limit": -1})).await.expect("http"),
        400,
        "hard_limit",
    );
    assert_error(&a.post("/v1/quotas", &json!({"resource": "Cluster"})).await.expect("http"), 400, "Mandatory field missing: project_id");
    let d = a.post("/v1/quotas", &json!({"project_id": "p2", "resource": "Cluster"})).await.expect("http");
    assert_eq!(d.body["hard_limit"], json!(1), "hard_limit defaults to 1");

    assert_eq!(m.get("/v1/quotas/p1/Cluster").await.expect("http").body["hard_limit"], json!(5));
    assert_error(&m.get("/v1/quotas/p2/Cluster").await.expect("http"), 403, "quota:get");
    let synthesized = a.get("/v1/quotas/p3/Cluster").await.expect("http");
    assert_eq!((synthesized.status, synthesized.body["hard_limit"].clone()), (200, json!(20)), "no row: the configured default");
    let own = m.get("/v1/quotas").await.expect("http");
    assert_eq!(own.body["quotas"].as_array().expect("list").len(), 1);
    let all = a.get("/v1/quotas?all_tenants=true").await.expect("http");
    assert_eq!(all.body["quotas"].as_array().expect("list").len(), 2);
    let page = a.get("/v1/quotas?all_tenants=true&limit=1").await.expect("http");
    assert!(page.body["next"].as_str().is_some_and(|n| n.contains("marker=")), "{}", page.text);

    assert_error(&m.patch("/v1/quotas/p1/Cluster", &json!({"hard_limit": 9})).await.expect("http"), 403, "quota:update");
    let u = a.patch("/v1/quotas/p1/Cluster", &json!({"project_id": "p1", "resource": "Cluster", "hard_limit": 9})).await.expect("http");
    assert_eq!((u.status, u.body["hard_limit"].clone()), (202, json!(9)), "{}", u.text);
    assert_error(
        &a.patch("/v1/quotas/p1/Cluster", &json!({"project_id": "p9", "hard_limit": 9})).await.expect("http"),
        400,
        "must match the URL",
    );
    assert_error(&a.patch("/v1/quotas/p7/Cluster", &json!({"hard_limit": 9})).await.expect("http"), 404, "could not be found");
    assert_error(&m.delete("/v1/quotas/p1/Cluster").await.expect("http"), 403, "quota:delete");
    assert_eq!(a.delete("/v1/quotas/p1/Cluster").await.expect("http").status, 204);
    assert_error(&a.delete("/v1/quotas/p1/Cluster").await.expect("http"), 404, "could not be found");
}

async fn quota_limits_cluster_creation(env: &Env) {
    let m = env.member("small");
    env.admin.post("/v1/quotas", &json!({"project_id": "small", "resource": "Cluster", "hard_limit": 2})).await.expect("http");
    let t = make_template(&m, "t").await["uuid"].as_str().expect("uuid").to_owned();
    make_cluster(&m, &t, "a").await;
    make_cluster(&m, &t, "b").await;
    let r = m.post("/v1/clusters", &json!({"cluster_template_id": t, "name": "c"})).await.expect("http");
    assert_error(&r, 403, "maximum clusters per project, 2");
    assert_eq!(m.get("/v1/clusters").await.expect("http").body["clusters"].as_array().expect("list").len(), 2, "nothing half-written");
}

/// A `Node` quota limits every nodegroup's nodes of the project's clusters, masters included:
/// a create, a nodegroup or a resize that would pass it is a 403 storing nothing; shrinking
/// always passes. Without one, nodes are not limited.
async fn node_quota_limits_clusters_and_nodegroups(env: &Env) {
    let m = env.member("nodes").microversion("latest");
    let a = &env.admin;
    let r = a.post("/v1/quotas", &json!({"project_id": "nodes", "resource": "Node", "hard_limit": 4})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(m.get("/v1/quotas/nodes/Node").await.expect("http").body["hard_limit"], json!(4));
    assert_error(&a.get("/v1/quotas/other/Node").await.expect("http"), 404, "not limited");
    let t = make_template(&m, "t").await["uuid"].as_str().expect("uuid").to_owned();

    let r = m.post("/v1/clusters", &json!({"cluster_template_id": t, "name": "big", "node_count": 5})).await.expect("http");
    assert_error(&r, 403, "maximum nodes per project, 4 (this change would make 6)");
    assert_eq!(m.get("/v1/clusters").await.expect("http").body["clusters"], json!([]), "nothing half-written");
    let r = m.post("/v1/clusters", &json!({"cluster_template_id": t, "name": "c", "node_count": 2})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["uuid"].as_str().expect("uuid").to_owned();
    let path = format!("/v1/clusters/{id}");
    wait_status(&m, &path, "CREATE_FAILED").await;
    mark_complete(&env.store, &id).await;

    let groups = format!("{path}/nodegroups");
    assert_error(&m.post(&groups, &json!({"name": "two", "node_count": 2})).await.expect("http"), 403, "maximum nodes per project, 4");
    assert_eq!(m.get(&groups).await.expect("http").body["nodegroups"].as_array().map(Vec::len), Some(2), "no group stored");
    let r = m.post(&groups, &json!({"name": "one", "node_count": 1})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    wait_status(&m, &path, "UPDATE_FAILED").await;
    let r = m.post(&format!("{path}/actions/resize"), &json!({"node_count": 3})).await.expect("http");
    assert_error(&r, 403, "maximum nodes per project, 4 (this change would make 5)");
    assert_eq!(m.get(&path).await.expect("http").body["node_count"], json!(2), "the refused resize changed nothing");
    // A quota lowered below what the project has: shrinking still passes.
    let r = a.patch("/v1/quotas/nodes/Node", &json!({"project_id": "nodes", "resource": "Node", "hard_limit": 1})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let r = m.post(&format!("{path}/actions/resize"), &json!({"node_count": 1})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
}

async fn stats(env: &Env) {
    let m = env.member("p1");
    let t = make_template(&m, "t").await["uuid"].as_str().expect("uuid").to_owned();
    m.post("/v1/clusters", &json!({"cluster_template_id": t, "node_count": 3})).await.expect("http");
    m.post("/v1/clusters", &json!({"cluster_template_id": t, "node_count": 1, "master_count": 1})).await.expect("http");
    assert_eq!(m.get("/v1/stats").await.expect("http").body, json!({"clusters": 2, "nodes": 6}));
    assert_eq!(m.get("/v1/stats?project_id=p1&type=cluster").await.expect("http").body, json!({"clusters": 2, "nodes": 6}));
    assert_error(&m.get("/v1/stats?project_id=p2").await.expect("http"), 403, "stats:get_all");
    assert_error(&m.get("/v1/stats?type=pod").await.expect("http"), 400, "Only 'cluster'");
    assert_eq!(env.member("p2").get("/v1/stats").await.expect("http").body, json!({"clusters": 0, "nodes": 0}));
    assert_eq!(env.admin.get("/v1/stats").await.expect("http").body["clusters"], json!(2), "admins see all projects");
}

async fn mservices(env: &Env) {
    let mut listed = json!(null);
    for _ in 0..50 {
        let r = env.admin.get("/v1/mservices").await.expect("http");
        assert_eq!(r.status, 200);
        if r.body["mservices"].as_array().is_some_and(|l| !l.is_empty()) {
            listed = r.body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = &listed["mservices"][0];
    assert_eq!(
        (s["binary"].clone(), s["host"].clone(), s["state"].clone()),
        (json!("magnum-conductor"), json!("test-host"), json!("up")),
        "{listed}"
    );
    assert!(s["report_count"].as_i64().is_some_and(|n| n >= 1));
    assert_eq!(s["disabled"], json!(false));
    assert_error(&env.member("p1").get("/v1/mservices").await.expect("http"), 403, "magnum-service:get_all");
}

/// `[policy] file` overrides the built-in defaults for the rules it names, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_file_overrides_the_defaults() {
    let dir = std::env::temp_dir().join(format!("magnum-policy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("policy.yaml");
    std::fs::write(
        &file,
        "# Only admins create templates here; anyone may read stats.\n\"clustertemplate:create\": \"role:admin\"\nstats:get_all: \"@\"\n",
    )
    .expect("write");
    let path = file.clone();
    let env = Env::start_with(common::Backend::Sqlite, move |c| c.policy.file = Some(path)).await.expect("env");
    let member = env.member("p1");
    let r = member.post("/v1/clustertemplates", &json!({"name": "t", "coe": "swarm", "image_id": "i"})).await.expect("http");
    assert_error(&r, 403, "clustertemplate:create");
    let r = env.admin.post("/v1/clustertemplates", &json!({"name": "t", "coe": "swarm", "image_id": "i"})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let nobody = magnum_client::Client::new(&env.base).as_user("p9", "u9", "guest");
    assert_eq!(nobody.get("/v1/stats").await.expect("http").status, 200, "overridden to everyone");
    assert_error(&nobody.get("/v1/clusters").await.expect("http"), 403, "cluster:get_all");
    env.finish().await;

    // A policy file that does not parse stops the server, naming the rule.
    std::fs::write(&file, "\"cluster:create\": \"role:admin or\"\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_magnum-server"))
        .args(["--data-dir", dir.to_str().expect("utf8"), "--bind", "127.0.0.1:0", "all"])
        .env("MAGNUM_POLICY__FILE", &file)
        .env("MAGNUM_DOCKER__ENABLED", "false")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cluster:create"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
