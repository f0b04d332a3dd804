//! Clusters and bays over HTTP: create, read, update, delete, actions, nodegroups, the
//! conductor's verdict when nothing is built (these deployments have no engine), and project isolation.

mod common;
use common::{assert_error, make_cluster, make_template, mark_complete, wait_gone, wait_status, Env};
use serde_json::json;

both_backends!(
    cluster_create_and_show,
    bay_vocabulary_and_microversions,
    cluster_create_errors,
    cluster_patch_rules,
    cluster_update_and_retry,
    cluster_delete,
    resize_and_upgrade,
    requests_are_applied_while_the_conductor_writes,
    credential_rotation,
    cluster_id_replaces_stack_id_from_1_13,
    nodegroups,
    projects_are_isolated,
);

fn uuid_of(v: &serde_json::Value) -> String {
    v["uuid"].as_str().expect("uuid").to_owned()
}

async fn cluster_create_and_show(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    c.patch(&format!("/v1/clustertemplates/{t}"), &json!([{"op": "add", "path": "/labels/a", "value": "1"}])).await.expect("http");
    let r = c
        .post(
            "/v1/clusters",
            &json!({"name": "k1", "cluster_template_id": "t", "node_count": 2, "labels": {"b": "2"}, "merge_labels": true}),
        )
        .await
        .expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let keys: Vec<&String> = r.body.as_object().expect("object").keys().collect();
    assert_eq!(keys, vec!["uuid"], "202 carries only the uuid");
    let id = uuid_of(&r.body);
    let shown = c.get(&format!("/v1/clusters/{id}")).await.expect("http").body;
    assert_eq!(shown["cluster_template_id"], json!(t));
    assert_eq!(
        (shown["node_count"].clone(), shown["master_count"].clone(), shown["create_timeout"].clone()),
        (json!(2), json!(1), json!(60))
    );
    assert_eq!(shown["labels"], json!({"a": "1", "b": "2"}));
    assert_eq!(shown["labels_added"], json!({"b": "2"}));
    assert_eq!(shown["keypair"], json!("kp"), "defaults come from the template");
    // This deployment's conductors build nothing (no engine): the cluster fails with the reason.
    let failed = wait_status(&c, "/v1/clusters/k1", "CREATE_FAILED").await;
    assert!(failed["status_reason"].as_str().is_some_and(|r| r.contains("The swarm driver builds nothing")), "{failed}");
    assert_eq!(failed["faults"]["default-worker"], failed["status_reason"]);
    let list = c.get("/v1/clusters").await.expect("http");
    let item = &list.body["clusters"][0];
    assert_eq!((item["uuid"].clone(), item["status"].clone()), (json!(id), json!("CREATE_FAILED")));
    assert!(item.get("status_reason").is_none(), "list items are the summary view");
    assert!(c.get("/v1/clusters/detail").await.expect("http").body["clusters"][0].get("status_reason").is_some());
}

async fn bay_vocabulary_and_microversions(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "bm").await);
    // 1.1: synchronous form, 201 with the bay and its Location, CREATE_IN_PROGRESS at once.
    let r =
        c.post("/v1/bays", &json!({"name": "b1", "baymodel_id": "bm", "node_count": null, "bay_create_timeout": 15})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let id = uuid_of(&r.body);
    assert_eq!(r.header("location"), Some(format!("{}/v1/bays/{id}", env.base).as_str()));
    assert_eq!((r.body["status"].clone(), r.body["baymodel_id"].clone()), (json!("CREATE_IN_PROGRESS"), json!(t)));
    assert_eq!((r.body["node_count"].clone(), r.body["bay_create_timeout"].clone()), (json!(1), json!(15)));
    assert!(r.body.get("cluster_template_id").is_none(), "bays speak their own vocabulary");
    // 1.2+: asynchronous form.
    let r = c.clone().microversion("1.2").post("/v1/bays", &json!({"name": "b2", "baymodel_id": t})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let list = c.get("/v1/bays").await.expect("http");
    let mut keys: Vec<&str> = list.body["bays"][0].as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bay_create_timeout", "baymodel_id", "links", "master_count", "name", "node_count", "stack_id", "status", "uuid"]);
    // One table, two vocabularies.
    assert_eq!(c.get(&format!("/v1/clusters/{id}")).await.expect("http").body["name"], json!("b1"));
    assert_eq!(c.get("/v1/clusters").await.expect("http").body["clusters"].as_array().expect("list").len(), 2);
    let failed = wait_status(&c, "/v1/bays/b1", "CREATE_FAILED").await;
    assert!(failed["bay_faults"]["default-master"].is_string(), "{failed}");
    assert_error(
        &c.post("/v1/bays", &json!({"baymodel_id": t, "keypair_id": "kp"})).await.expect("http"),
        400,
        "Unknown attribute for argument bay: keypair_id",
    );
    assert_error(&c.post("/v1/bays", &json!({"baymodel_id": "nope"})).await.expect("http"), 400, "could not be found");
    assert_error(&c.post("/v1/bays", &json!({"name": "x"})).await.expect("http"), 400, "Mandatory field missing: baymodel_id");
}

async fn cluster_create_errors(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let post = |body: serde_json::Value, v: &'static str| {
        let c = c.clone().microversion(v);
        async move { c.post("/v1/clusters", &body).await.expect("http") }
    };
    assert_error(&post(json!({"cluster_template_id": "this-does-not-exist"}), "1.1").await, 400, "could not be found");
    assert_error(&post(json!({"cluster_template_id": "this-does-not-exist"}), "1.10").await, 404, "could not be found");
    assert_error(&post(json!({"cluster_template_id": t, "node_count": 0}), "1.1").await, 400, "node_count");
    assert_eq!(post(json!({"cluster_template_id": t, "node_count": 0}), "1.10").await.status, 202, "zero workers from 1.10");
    assert_error(&post(json!({"cluster_template_id": t, "master_count": 0}), "latest").await, 400, "master_count");
    assert_error(&post(json!({"cluster_template_id": t, "node_count": -1}), "latest").await, 400, "node_count");
    // What a Kubernetes bay can be is checked at once, in both vocabularies: a kube_tag naming a
    // version this deployment lacks, more masters than it builds, more workers than the pod
    // network holds. Nothing is recorded.
    let k = c.post("/v1/clustertemplates", &json!({"name": "kube", "coe": "kubernetes", "image_id": "img"})).await.expect("http");
    assert_eq!(k.status, 201, "{}", k.text);
    let tagged = json!({"name": "kb", "cluster_template_id": "kube", "labels": {"kube_tag": "v1.28.0"}});
    assert_error(&post(tagged, "latest").await, 400, "Label kube_tag=v1.28.0 names a Kubernetes version this deployment does not have");
    let masters = json!({"name": "kb", "cluster_template_id": "kube", "master_count": 2, "master_lb_enabled": true});
    assert_error(&post(masters, "latest").await, 400, "master_count 2 is not supported for Kubernetes bays");
    let r = c.post("/v1/bays", &json!({"name": "kb", "baymodel_id": "kube", "node_count": 247})).await.expect("http");
    assert_error(&r, 400, "at most 246 workers");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "kubernetes", "image_id": "img", "labels": {"kube_tag": "1.19.0"}})).await;
    assert_error(&r.expect("http"), 400, "Available: v1.20.2");
    assert_error(&c.get("/v1/clusters/kb").await.expect("http"), 404, "could not be found");
    assert_error(&post(json!({"cluster_template_id": t, "name": "1-starts-with-digit"}), "latest").await, 400, "Cluster name");
    assert_error(&post(json!({"cluster_template_id": t, "flavor_id": "m1.none"}), "latest").await, 400, "Unable to find flavor");
    assert_error(&post(json!({"cluster_template_id": t, "create_timeout": -5}), "latest").await, 400, "create_timeout");
    assert_error(&post(json!({"cluster_template_id": t, "status": "CREATE_COMPLETE"}), "latest").await, 400, "read only");
    assert_error(&post(json!({"cluster_template_id": t, "api_address": "x"}), "latest").await, 400, "read only");
    assert_error(&post(json!({"cluster_template_id": t, "node_count": "two"}), "latest").await, 400, "Expected 'int'");
    make_template(&c, "dup").await;
    make_template(&c, "dup").await;
    assert_error(&post(json!({"cluster_template_id": "dup"}), "latest").await, 409, "Multiple cluster templates");
    let reader = env.reader("p1");
    assert_error(
        &reader.post("/v1/clusters", &json!({"cluster_template_id": t})).await.expect("http"),
        403,
        "Policy doesn't allow cluster:create",
    );
    let generated = post(json!({"cluster_template_id": t}), "latest").await;
    let shown = c.get(&format!("/v1/clusters/{}", uuid_of(&generated.body))).await.expect("http");
    assert!(shown.body["name"].as_str().is_some_and(|n| n.ends_with("-cluster")), "{}", shown.text);
}

async fn cluster_patch_rules(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let path = format!("/v1/clusters/{id}");
    let p = |ops: serde_json::Value| {
        let c = c.clone();
        let path = path.clone();
        async move { c.patch(&path, &ops).await.expect("http") }
    };
    assert_error(&p(json!([{"op": "replace", "path": "/name", "value": "k2"}])).await, 400, "cannot change cluster property(ies) name");
    assert_error(&p(json!([{"op": "replace", "path": "/api_address", "value": "x"}])).await, 400, "internal attribute");
    assert_error(&p(json!([{"op": "replace", "path": "/status", "value": "CREATE_COMPLETE"}])).await, 400, "internal attribute");
    assert_error(&p(json!([{"op": "remove", "path": "/cluster_template_id"}])).await, 400, "mandatory attribute");
    assert_error(&p(json!([{"op": "replace", "path": "/node_count", "value": "many"}])).await, 400, "Expected 'int'");
    assert_error(&p(json!([{"op": "replace", "path": "/node_count"}])).await, 400, "need a value");
    assert_error(&p(json!([{"op": "replace", "path": "/health_status", "value": "GREAT"}])).await, 400, "health status");
    assert_error(
        &c.patch("/v1/clusters/fooo", &json!([{"op": "replace", "path": "/node_count", "value": 2}])).await.expect("http"),
        404,
        "fooo",
    );
    wait_status(&c, &path, "CREATE_FAILED").await;
    let r = p(json!([{"op": "replace", "path": "/node_count", "value": 1}])).await;
    assert_eq!(r.status, 202, "setting the node count of a failed create again is a retry: {}", r.text);
    let failed = wait_status(&c, &path, "UPDATE_FAILED").await;
    assert!(
        failed["status_reason"].as_str().is_some_and(|r| r.contains("builds nothing")),
        "the retry failed for the same reason: {failed}"
    );
    let r = p(json!([{"op": "replace", "path": "/health_status", "value": "UNHEALTHY"}])).await;
    assert_eq!(r.status, 202, "health can be reported in any state: {}", r.text);
    assert_eq!(c.get(&path).await.expect("http").body["health_status"], json!("UNHEALTHY"));
    assert_error(&p(json!([{"op": "replace", "path": "/health_status", "value": "UNHEALTHY"}])).await, 400, "changes nothing");
    let bay = c.patch(&format!("/v1/bays/{id}"), &json!([{"op": "replace", "path": "/baymodel_id", "value": t}])).await.expect("http");
    assert_error(&bay, 400, "changes nothing");
}

async fn cluster_update_and_retry(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let path = format!("/v1/clusters/{id}");
    wait_status(&c, &path, "CREATE_FAILED").await;
    mark_complete(&env.store, &id).await;
    let r = c.patch(&path, &json!([{"op": "replace", "path": "/node_count", "value": 3}])).await.expect("http");
    assert_eq!((r.status, r.body.clone()), (202, json!({"uuid": id})), "{}", r.text);
    // Nothing is built here: the update fails with a reason; the desired count is kept for a retry.
    let failed = wait_status(&c, &path, "UPDATE_FAILED").await;
    assert_eq!(failed["node_count"], json!(3));
    assert!(failed["status_reason"].as_str().is_some_and(|r| r.contains("builds nothing")), "{failed}");
    let ng = c.clone().microversion("1.9").get(&format!("{path}/nodegroups/default-worker")).await.expect("http");
    assert_eq!((ng.body["node_count"].clone(), ng.body["status"].clone()), (json!(3), json!("UPDATE_FAILED")));
    let retry = c.patch(&path, &json!([{"op": "replace", "path": "/node_count", "value": 3}])).await.expect("http");
    assert_eq!(retry.status, 202, "an update of an UPDATE_FAILED cluster is a retry: {}", retry.text);
    wait_status(&c, &path, "UPDATE_FAILED").await;
    // The 2015 bay form answers the bay at 1.1.
    mark_complete(&env.store, &id).await;
    let bay = c.patch(&format!("/v1/bays/{id}"), &json!([{"op": "replace", "path": "/node_count", "value": 1}])).await.expect("http");
    assert_eq!(
        (bay.status, bay.body["node_count"].clone(), bay.body["status"].clone()),
        (200, json!(1), json!("UPDATE_IN_PROGRESS")),
        "{}",
        bay.text
    );
    let reader = env.reader("p1");
    assert_error(
        &reader.patch(&path, &json!([{"op": "replace", "path": "/node_count", "value": 2}])).await.expect("http"),
        403,
        "cluster:update",
    );
}

async fn cluster_delete(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let r = c.delete(&format!("/v1/clusters/{id}")).await.expect("http");
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    wait_gone(&c, &format!("/v1/clusters/{id}")).await;
    assert_error(&c.delete(&format!("/v1/clusters/{id}")).await.expect("http"), 404, "could not be found");
    assert_error(&c.delete("/v1/bays/00000000-0000-4000-8000-000000000000").await.expect("http"), 404, "could not be found");
    let b = make_cluster(&c, &t, "k2").await;
    wait_status(&c, &format!("/v1/bays/{b}"), "CREATE_FAILED").await;
    assert_eq!(c.delete("/v1/bays/k2").await.expect("http").status, 204, "a failed bay can always be deleted");
    wait_gone(&c, &format!("/v1/bays/{b}")).await;
    assert_eq!(c.delete(&format!("/v1/clustertemplates/{t}")).await.expect("http").status, 204, "the template is free again");
    let stats = c.get("/v1/stats").await.expect("http");
    assert_eq!(stats.body, json!({"clusters": 0, "nodes": 0}));
}

async fn resize_and_upgrade(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let path = format!("/v1/clusters/{id}/actions/resize");
    assert_eq!(c.post(&path, &json!({"node_count": 2})).await.expect("http").status, 406, "resize needs 1.7");
    let v = c.clone().microversion("1.7");
    wait_status(&c, &format!("/v1/clusters/{id}"), "CREATE_FAILED").await;
    assert_eq!(v.post(&path, &json!({"node_count": 2})).await.expect("http").status, 202, "resizing a failed create retries it");
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    mark_complete(&env.store, &id).await;
    assert_error(&v.post(&path, &json!({})).await.expect("http"), 400, "Mandatory field missing: node_count");
    let masters = |n: i64, remove: &[&str]| json!({"node_count": n, "nodegroup": "default-master", "nodes_to_remove": remove});
    assert_error(&v.post(&path, &masters(0, &[])).await.expect("http"), 400, "at least 1 master");
    assert_error(&v.post(&path, &masters(2, &["x"])).await.expect("http"), 400, "nodes_to_remove cannot name masters");
    assert_error(&v.post(&path, &masters(9, &[])).await.expect("http"), 400, "at most 8 managers");
    assert_eq!(c.get(&format!("/v1/clusters/{id}")).await.expect("http").body["master_count"], json!(1), "refusals change nothing");
    assert_error(&v.post(&path, &json!({"node_count": 2, "nodegroup": "gpu"})).await.expect("http"), 404, "Nodegroup gpu");
    assert_error(&v.post(&path, &json!({"node_count": 0})).await.expect("http"), 400, "node_count");
    let r = v.post(&path, &json!({"node_count": 4, "nodes_to_remove": []})).await.expect("http");
    assert_eq!((r.status, r.body.clone()), (202, json!({"uuid": id})), "{}", r.text);
    assert_eq!(c.get(&format!("/v1/clusters/{id}")).await.expect("http").body["node_count"], json!(4));
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    let r = v.post(&path, &masters(3, &[])).await.expect("http");
    assert_eq!((r.status, r.body.clone()), (202, json!({"uuid": id})), "a swarm's managers are resized: {}", r.text);
    let after = c.get(&format!("/v1/clusters/{id}")).await.expect("http").body;
    assert_eq!((after["master_count"].clone(), after["node_count"].clone()), (json!(3), json!(4)));
    let group = c.clone().microversion("1.9").get(&format!("/v1/clusters/{id}/nodegroups/default-master")).await.expect("http");
    assert_eq!(group.body["node_count"], json!(3), "{}", group.text);
    let up = format!("/v1/clusters/{id}/actions/upgrade");
    assert_eq!(v.post(&up, &json!({"cluster_template": t})).await.expect("http").status, 406, "upgrade needs 1.8");
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    let v8 = c.clone().microversion("1.8");
    let upgrade = |body: serde_json::Value| {
        let (v8, up) = (v8.clone(), up.clone());
        async move { v8.post(&up, &body).await.expect("http") }
    };
    let r = c.post("/v1/clustertemplates", &json!({"name": "k", "coe": "kubernetes", "image_id": "img"})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_error(&upgrade(json!({"cluster_template": "k"})).await, 400, "Invalid cluster_template k");
    let kube = make_cluster(&c, "k", "kb").await;
    let kube_resize = format!("/v1/clusters/{kube}/actions/resize");
    assert_error(&v.post(&kube_resize, &masters(3, &[])).await.expect("http"), 400, "master_count 3 is not supported for Kubernetes");
    let body = json!({"name": "plain", "coe": "swarm", "image_id": "magnum/swarm-node", "tls_disabled": true});
    assert_eq!(c.post("/v1/clustertemplates", &body).await.expect("http").status, 201);
    assert_error(&upgrade(json!({"cluster_template": "plain"})).await, 400, "tls_disabled");
    assert_error(&upgrade(json!({"cluster_template": "nope"})).await, 400, "ClusterTemplate nope could not be found");
    assert_error(&upgrade(json!({"cluster_template": t, "max_batch_size": 0})).await, 400, "max_batch_size");
    assert_error(&upgrade(json!({"cluster_template": t, "nodegroup": "gpu"})).await, 404, "Nodegroup gpu");
    // To its own template: nothing to replace, so it is done as it is accepted.
    let r = upgrade(json!({"cluster_template": t, "max_batch_size": 1})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(c.get(&format!("/v1/clusters/{id}")).await.expect("http").body["status"], json!("UPDATE_COMPLETE"));
    // To another template of its COE: accepted; the template changes only when every node runs
    // it (nothing is built here, so the upgrade fails and the cluster keeps its template).
    let t2 = uuid_of(&make_template(&c, "t2").await);
    let r = upgrade(json!({"cluster_template": "t2", "max_batch_size": 2})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let failed = wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    assert_eq!(failed["cluster_template_id"], json!(t), "{failed}");
    assert!(failed["status_reason"].as_str().is_some_and(|r| r.contains("cannot upgrade a cluster in place")), "{failed}");
    assert!(failed.get("upgrade").is_none(), "the pending upgrade is not shown: {failed}");
    assert_ne!(t2, t);
}

/// The conductor writes a cluster now and then (health, progress). A user's request that lands
/// meanwhile is applied to the cluster as it now is, not refused because it raced a write it
/// could not see: here a writer changes the cluster every few milliseconds while 40 PATCHes and a delete
/// arrive, and every one is accepted.
async fn requests_are_applied_while_the_conductor_writes(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let path = format!("/v1/clusters/{id}");
    wait_status(&c, &path, "CREATE_FAILED").await;
    mark_complete(&env.store, &id).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop, uuid) = (env.store.clone(), stop.clone(), id.parse().expect("uuid"));
        tokio::spawn(async move {
            let mut writes = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(Some(mut c)) = store.get_cluster_by_uuid(uuid).await {
                    c.coe_version = Some(format!("seen {writes}"));
                    if store.update_cluster(&c).await.is_ok() {
                        writes += 1;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            writes
        })
    };
    let mut refused = vec![];
    for i in 0..40 {
        let reason = json!({"note": format!("look {i}")});
        let r = c.patch(&path, &json!([{"op": "replace", "path": "/health_status_reason", "value": reason}])).await.expect("http");
        if r.status != 202 {
            refused.push(format!("{}: {}", r.status, r.text));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let r = c.delete(&path).await.expect("http");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.expect("writer");
    assert!(writes > 20, "the writer wrote meanwhile ({writes} writes)");
    assert!(refused.is_empty(), "{} of 40 PATCHes refused while the conductor wrote, the first: {}", refused.len(), refused[0]);
    assert_eq!(r.status, 204, "{}", r.text);
    wait_gone(&c, &path).await;
}

/// `PATCH /v1/credentials/{cluster}` (1.12): a new conductor certificate from the bay's own CA,
/// the bay updated so its nodes pin it (swarm) or its binding names it (Kubernetes); refused where
/// the old one could not be retired.
async fn credential_rotation(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let path = format!("/v1/credentials/{id}");
    wait_status(&c, &format!("/v1/clusters/{id}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &id).await;
    let v = c.clone().microversion("1.12");
    assert_error(&c.clone().microversion("1.11").patch(&path, &json!({})).await.expect("http"), 406, "1.12");
    assert_error(&env.reader("p1").microversion("1.12").patch(&path, &json!({})).await.expect("http"), 403, "credential:rotate");
    assert_error(&env.member("p2").microversion("1.12").patch(&path, &json!({})).await.expect("http"), 404, "could not be found");
    let before = env.store.get_certificates(id.parse().expect("uuid")).await.expect("certificates");
    let r = v.patch(&path, &json!({})).await.expect("http");
    assert_eq!((r.status, r.body.clone()), (202, json!({"uuid": id})), "{}", r.text);
    let after = env.store.get_certificates(id.parse().expect("uuid")).await.expect("certificates");
    assert_eq!(after.ca_cert, before.ca_cert, "the CA stays: users' certificates keep working");
    assert_ne!(after.client_cert, before.client_cert, "the conductor has a new certificate");
    // The bay is updated so its nodes pin the new certificate (nothing is built here: it fails).
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;

    let body = json!({"name": "plain", "coe": "swarm", "image_id": "magnum/swarm-node", "tls_disabled": true});
    assert_eq!(c.post("/v1/clustertemplates", &body).await.expect("http").status, 201);
    let plain = make_cluster(&c, "plain", "plain").await;
    assert_error(&v.patch(&format!("/v1/credentials/{plain}"), &json!({})).await.expect("http"), 400, "disables TLS");
    let body = json!({"name": "k", "coe": "kubernetes", "image_id": "img"});
    assert_eq!(c.post("/v1/clustertemplates", &body).await.expect("http").status, 201);
    // On Kubernetes the conductor gets a new user of its own (never in system:masters).
    let kube = make_cluster(&c, "k", "kb").await;
    wait_status(&c, &format!("/v1/clusters/{kube}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &kube).await;
    let subject = |pem: &str| magnum_certs::subject_of(pem).expect("a certificate");
    let before = env.store.get_certificates(kube.parse().expect("uuid")).await.expect("certificates");
    let (old_user, old_groups) = subject(&before.client_cert);
    assert!(old_user.starts_with("system:magnum-conductor:") && old_groups.is_empty(), "{old_user} {old_groups:?}");
    let r = v.patch(&format!("/v1/credentials/{kube}"), &json!({})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let after = env.store.get_certificates(kube.parse().expect("uuid")).await.expect("certificates");
    let (new_user, new_groups) = subject(&after.client_cert);
    assert!(new_user.starts_with("system:magnum-conductor:") && new_user != old_user && new_groups.is_empty(), "{new_user}");
}

/// 1.13: clusters show the driver's id of the cluster as `cluster_id` in place of `stack_id`.
async fn cluster_id_replaces_stack_id_from_1_13(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let id = make_cluster(&c, &t, "k1").await;
    let path = format!("/v1/clusters/{id}");
    let at = |v: &str| c.clone().microversion(v);
    let old = at("1.12").get(&path).await.expect("http").body;
    assert!(old.get("stack_id").is_some() && old.get("cluster_id").is_none(), "{old}");
    let new = at("1.13").get(&path).await.expect("http").body;
    let engine_name = format!("magnum-{}", &id.replace('-', "")[..8]);
    assert_eq!(new["cluster_id"], json!(engine_name), "the name the bay's engine objects carry: {new}");
    assert!(new.get("stack_id").is_none(), "{new}");
    let listed = at("latest").get("/v1/clusters").await.expect("http").body;
    assert_eq!(listed["clusters"][0]["cluster_id"], json!(engine_name), "{listed}");
    assert!(listed["clusters"][0].get("stack_id").is_none(), "{listed}");
    let bay = at("latest").get(&format!("/v1/bays/{id}")).await.expect("http").body;
    assert!(bay.get("stack_id").is_some() && bay.get("cluster_id").is_none(), "bays keep their shape: {bay}");
    let patch = json!([{"op": "replace", "path": "/cluster_id", "value": "x"}]);
    assert_error(&at("1.13").patch(&path, &patch).await.expect("http"), 400, "cluster_id");
}

async fn nodegroups(env: &Env) {
    let c = env.member("p1");
    let t = uuid_of(&make_template(&c, "t").await);
    let r = c.post("/v1/clusters", &json!({"name": "k1", "cluster_template_id": t, "node_count": 3})).await.expect("http");
    let id = uuid_of(&r.body);
    let path = format!("/v1/clusters/{id}/nodegroups");
    assert_eq!(c.get(&path).await.expect("http").status, 406, "nodegroups need 1.9");
    let v = c.clone().microversion("1.9");
    let list = v.get(&path).await.expect("http");
    assert_eq!(list.status, 200, "{}", list.text);
    let groups = list.body["nodegroups"].as_array().expect("list");
    let summary: Vec<(String, i64, String, bool)> = groups
        .iter()
        .map(|g| {
            (
                g["name"].as_str().expect("name").to_owned(),
                g["node_count"].as_i64().expect("count"),
                g["role"].as_str().expect("role").to_owned(),
                g["is_default"] == json!(true),
            )
        })
        .collect();
    assert_eq!(summary, vec![("default-master".into(), 1, "master".into(), true), ("default-worker".into(), 3, "worker".into(), true)]);
    assert!(groups[0].get("links").is_none(), "list items carry no links");
    let workers = v.get(&format!("{path}?role=worker")).await.expect("http");
    assert_eq!(workers.body["nodegroups"].as_array().expect("list").len(), 1);
    assert_eq!(v.get(&format!("{path}?role=gpu")).await.expect("http").body["nodegroups"], json!([]));
    let one = v.get(&format!("{path}/default-master")).await.expect("http");
    assert_eq!((one.body["cluster_id"].clone(), one.body["role"].clone()), (json!(id), json!("master")));
    assert!(one.body["links"][0]["href"].as_str().is_some_and(|h| h.contains(&format!("/v1/clusters/{id}/nodegroups/"))));
    let by_uuid = v.get(&format!("{path}/{}", one.body["uuid"].as_str().expect("uuid"))).await.expect("http");
    assert_eq!(by_uuid.body["name"], json!("default-master"));
    assert_error(&v.get(&format!("{path}/nope")).await.expect("http"), 404, "Nodegroup nope");
    assert_error(&v.get("/v1/clusters/nope/nodegroups").await.expect("http"), 404, "Cluster nope");
    assert_error(&env.member("p2").microversion("1.9").get(&path).await.expect("http"), 404, "could not be found");
    nodegroup_writes(env, &id, &t).await;
}

/// Adding, changing and removing worker groups: upstream's rules and codes, each refusal
/// leaving everything as it was. (Nothing is built here: the cluster's update fails, and with it
/// the group's; a real bay's groups are built in docker_swarm_bays.rs.)
async fn nodegroup_writes(env: &Env, id: &str, template: &str) {
    let c = env.member("p1");
    let v = c.clone().microversion("1.9");
    let path = format!("/v1/clusters/{id}/nodegroups");
    let create = |body: serde_json::Value| {
        let (v, path) = (v.clone(), path.clone());
        async move { v.post(&path, &body).await.expect("http") }
    };
    wait_status(&c, &format!("/v1/clusters/{id}"), "CREATE_FAILED").await;
    mark_complete(&env.store, id).await;
    assert_eq!(c.post(&path, &json!({"name": "gpu"})).await.expect("http").status, 406, "nodegroup writes need 1.9");
    assert_error(&env.reader("p1").microversion("1.9").post(&path, &json!({"name": "gpu"})).await.expect("http"), 403, "nodegroup:create");
    assert_error(&create(json!({"node_count": 1})).await, 400, "Mandatory field missing: name");
    assert_error(&create(json!({"name": "default-worker"})).await, 409, "already exists");
    assert_error(&create(json!({"name": "m", "role": "master"})).await, 400, "master nodegroups");
    assert_error(&create(json!({"name": "x", "role": "gpu"})).await, 400, "role");
    assert_error(&create(json!({"name": "x", "node_count": 5, "max_node_count": 3})).await, 409, "max_node_count 3");
    assert_error(&create(json!({"name": "x", "node_count": 1, "min_node_count": 2})).await, 409, "min_node_count 2");
    assert_error(&create(json!({"name": "x", "min_node_count": 3, "max_node_count": 2})).await, 409, "below min_node_count");
    assert_error(&create(json!({"name": "x", "node_count": 0})).await, 400, "1.10");
    assert_error(&create(json!({"name": "x", "flavor_id": "m9.huge"})).await, 400, "Unable to find flavor m9.huge");
    assert_error(&create(json!({"name": "x", "status": "CREATE_COMPLETE"})).await, 400, "read only");
    // 1.14 node labels and taints: Kubernetes' syntax and namespaces; a swarm has no taints.
    assert_error(&create(json!({"name": "x", "node_labels": {"kubernetes.io/role": "gpu"}})).await, 400, "node_labels");
    assert_error(&create(json!({"name": "x", "node_labels": {"k": "two words"}})).await, 400, "node_labels");
    assert_error(&create(json!({"name": "x", "node_taints": [{"key": "k", "effect": "Never"}]})).await, 400, "effect 'Never'");
    let taint = json!({"name": "x", "node_taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]});
    assert_error(&create(taint).await, 400, "a swarm has no taints");
    let listed = |v: magnum_client::Client, path: String| async move {
        v.get(&path).await.expect("http").body["nodegroups"].as_array().map(Vec::len)
    };
    assert_eq!(listed(v.clone(), path.clone()).await, Some(2), "no refusal stored anything");

    let r = create(
        json!({"name": "gpu", "node_count": 2, "max_node_count": 4, "labels": {"accel": "yes"}, "node_labels": {"accel": "nvidia"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let t = c.get(&format!("/v1/clustertemplates/{template}")).await.expect("http").body;
    assert_eq!(
        (r.body["role"].clone(), r.body["is_default"].clone(), r.body["status"].clone(), r.body["image_id"].clone()),
        (json!("worker"), json!(false), json!("CREATE_IN_PROGRESS"), t["image_id"].clone()),
        "{}",
        r.text
    );
    assert_eq!(
        (r.body["node_count"].clone(), r.body["min_node_count"].clone(), r.body["max_node_count"].clone()),
        (json!(2), json!(0), json!(4))
    );
    assert_eq!(r.body["labels"], json!({"accel": "yes"}));
    assert_eq!((r.body["node_labels"].clone(), r.body["node_taints"].clone()), (json!({"accel": "nvidia"}), json!([])));
    // Nothing is built here: the cluster's update fails, and the group's create with it.
    let failed = wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    assert!(failed["status_reason"].as_str().is_some_and(|r| r.contains("builds nothing")), "{failed}");
    assert_eq!(v.get(&format!("{path}/gpu")).await.expect("http").body["status"], json!("CREATE_FAILED"));
    assert_eq!(c.get("/v1/stats").await.expect("http").body["nodes"], json!(1 + 3 + 2), "stats count every group's nodes");

    let patch = |body: serde_json::Value, ng: &'static str| {
        let (v, path) = (v.clone(), path.clone());
        async move { v.patch(&format!("{path}/{ng}"), &body).await.expect("http") }
    };
    assert_error(&patch(json!([{"op": "replace", "path": "/node_count", "value": 3}]), "gpu").await, 400, "resize a group");
    assert_error(&patch(json!([{"op": "replace", "path": "/max_node_count", "value": 1}]), "gpu").await, 409, "max_node_count 1");
    assert_error(&patch(json!([{"op": "replace", "path": "/min_node_count", "value": "many"}]), "gpu").await, 400, "Expected 'int'");
    let r =
        patch(json!([{"op": "replace", "path": "/min_node_count", "value": 1}, {"op": "remove", "path": "/max_node_count"}]), "gpu").await;
    assert_eq!((r.status, r.body["min_node_count"].clone(), r.body["max_node_count"].clone()), (202, json!(1), json!(null)), "{}", r.text);
    assert_eq!(
        c.get(&format!("/v1/clusters/{id}")).await.expect("http").body["status"],
        json!("UPDATE_FAILED"),
        "bounds are the record's alone"
    );
    // Labels (1.14) go to the group's nodes: the change is an update of the cluster.
    assert_error(&patch(json!([{"op": "replace", "path": "/node_labels", "value": {"k": "two words"}}]), "gpu").await, 400, "node_labels");
    let taint = json!([{"op": "replace", "path": "/node_taints", "value": [{"key": "k", "effect": "NoSchedule"}]}]);
    assert_error(&patch(taint, "gpu").await, 400, "a swarm has no taints");
    let labels = json!([{"op": "replace", "path": "/node_labels", "value": {"zone": "b"}}]);
    assert_error(&patch(labels.clone(), "default-master").await, 400, "a master group takes no node_labels");
    let r = patch(labels, "gpu").await;
    assert_eq!(
        (r.status, r.body["node_labels"].clone(), r.body["status"].clone()),
        (202, json!({"zone": "b"}), json!("UPDATE_IN_PROGRESS")),
        "{}",
        r.text
    );
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    let r = patch(json!([{"op": "add", "path": "/node_labels/rack", "value": "r2"}]), "gpu").await;
    assert_eq!((r.status, r.body["node_labels"].clone()), (202, json!({"rack": "r2", "zone": "b"})), "{}", r.text);
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;

    let resize = format!("/v1/clusters/{id}/actions/resize");
    let v17 = c.clone().microversion("1.10");
    assert_error(&v17.post(&resize, &json!({"node_count": 0, "nodegroup": "gpu"})).await.expect("http"), 400, "between 1 and unlimited");
    let r = v17.post(&resize, &json!({"node_count": 3, "nodegroup": "gpu"})).await.expect("http");
    assert_eq!(r.status, 202, "resizing a group of an UPDATE_FAILED cluster retries: {}", r.text);
    let shown = v.get(&format!("{path}/gpu")).await.expect("http").body;
    assert_eq!(shown["node_count"], json!(3), "{shown}");
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    assert_eq!(c.get(&format!("/v1/clusters/{id}")).await.expect("http").body["node_count"], json!(3), "the default group is untouched");

    assert_error(&v.delete(&format!("{path}/default-worker")).await.expect("http"), 400, "default nodegroup");
    assert_error(&v.delete(&format!("{path}/default-master")).await.expect("http"), 400, "default nodegroup");
    assert_eq!(v.delete(&format!("{path}/gpu")).await.expect("http").status, 204);
    assert_eq!(v.get(&format!("{path}/gpu")).await.expect("http").body["status"], json!("DELETE_IN_PROGRESS"));
    wait_status(&c, &format!("/v1/clusters/{id}"), "UPDATE_FAILED").await;
    assert_eq!(v.get(&format!("{path}/gpu")).await.expect("http").body["status"], json!("DELETE_FAILED"));
    // Once the cluster's work succeeds (a driver would say so), the group is gone.
    mark_complete(&env.store, id).await;
    assert_error(&v.get(&format!("{path}/gpu")).await.expect("http"), 404, "Nodegroup gpu");
    assert_eq!(listed(v.clone(), path.clone()).await, Some(2));
}

async fn projects_are_isolated(env: &Env) {
    let a = env.member("pa");
    let b = env.member("pb");
    let t = uuid_of(&make_template(&a, "t").await);
    let id = make_cluster(&a, &t, "secret").await;
    assert_error(&b.get(&format!("/v1/clusters/{id}")).await.expect("http"), 404, "could not be found");
    assert_error(&b.get("/v1/bays/secret").await.expect("http"), 404, "could not be found");
    assert_error(&b.delete(&format!("/v1/clusters/{id}")).await.expect("http"), 404, "could not be found");
    assert_error(
        &b.patch(&format!("/v1/clusters/{id}"), &json!([{"op": "replace", "path": "/node_count", "value": 2}])).await.expect("http"),
        404,
        "could not be found",
    );
    assert_eq!(b.get("/v1/clusters").await.expect("http").body["clusters"], json!([]));
    assert_eq!(b.get("/v1/bays/detail").await.expect("http").body["bays"], json!([]));
    assert_error(&b.post("/v1/clusters", &json!({"cluster_template_id": t})).await.expect("http"), 400, "could not be found");
    assert_error(&b.get("/v1/clusters?all_projects=true").await.expect("http"), 403, "cluster:get_all_all_projects");
    let all = env.admin.get("/v1/clusters?all_tenants=1").await.expect("http");
    assert_eq!(all.body["clusters"].as_array().expect("list").len(), 1);
    assert_eq!(env.admin.get(&format!("/v1/clusters/{id}")).await.expect("http").status, 200, "admins reach every project's clusters");
}
