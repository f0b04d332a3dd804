//! External bays on a real engine: a swarm bay that tenant p1 owns is registered by tenant p2
//! as an external bay, from its manager's TLS Docker API and a client certificate of its CA.
//! p2's bay completes once the endpoint answers, shows the swarm's nodes and health, runs
//! containers, never shows the key it was given, and on delete is only forgotten.

mod common;
mod docker_env;
use common::assert_error;
use docker_env::{engine, env_with_docker, settle, tls_client, user_credentials};
use magnum_drivers::docker::images;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Polls `path` until `done` holds (30 s at most).
async fn wait_for(c: &magnum_client::Client, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{path}: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_external_swarm_bay_registered_watched_used_and_forgotten() {
    let test = "docker_external_swarm_bay_registered_watched_used_and_forgotten";
    let Some(_engine) = engine(test).await else { return };
    let env = env_with_docker().await;
    let (owner, tenant) = (env.member("p1"), env.member("p2"));
    let template = json!({"name": "swarm", "coe": "swarm-mode", "image_id": images::NODE_IMAGE});
    for c in [&owner, &tenant] {
        let r = c.post("/v1/clustertemplates", &template).await.expect("http");
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = owner.post("/v1/clusters", &json!({"name": "owned", "cluster_template_id": "swarm", "node_count": 1})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (owned, _) = settle(&owner, "/v1/clusters/owned").await;
    assert_eq!(owned["status"], "CREATE_COMPLETE", "{owned}");
    let api_address = owned["api_address"].as_str().expect("api_address").to_owned();
    let creds = user_credentials(&owner, "owned").await;
    let pem = |f: &str| std::fs::read_to_string(creds.join(f)).expect("pem");
    let endpoint =
        json!({"api_address": api_address, "ca_cert": pem("ca.pem"), "client_cert": pem("cert.pem"), "client_key": pem("key.pem")});

    // Registration mistakes are 400s that name the field.
    let r = tenant.post("/v1/clusters", &json!({"name": "x", "cluster_template_id": "swarm", "external_endpoint": {"ca_cert": "x"}})).await;
    assert_error(&r.expect("http"), 400, "api_address is required");
    // (A Kubernetes template names an image the engine holds; for external bays it is never used.)
    let kube = tenant.post("/v1/clustertemplates", &json!({"name": "kube", "coe": "kubernetes", "image_id": "magnum/busybox"})).await;
    let kube = kube.expect("http");
    assert_eq!(kube.status, 201, "{}", kube.text);
    let r = tenant.post("/v1/clusters", &json!({"name": "x", "cluster_template_id": "kube", "external_endpoint": endpoint})).await;
    // A Docker endpoint is not a Kubernetes API server.
    assert_error(&r.expect("http"), 400, "must look like https://host:port");

    let r = tenant
        .post("/v1/clusters", &json!({"name": "imported", "cluster_template_id": "swarm", "external_endpoint": endpoint}))
        .await
        .expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (imported, _) = settle(&tenant, "/v1/clusters/imported").await;
    assert_eq!(
        (imported["status"].as_str(), imported["external"].as_bool(), imported["api_address"].as_str()),
        (Some("CREATE_COMPLETE"), Some(true), Some(api_address.as_str())),
        "{imported}"
    );
    assert!(imported["coe_version"].as_str().is_some_and(|v| !v.is_empty()), "{imported}");
    // The swarm's own view: its two members, both ready; healthy.
    let imported = wait_for(&tenant, "/v1/clusters/imported", |b| b["health_status"] == "HEALTHY").await;
    let nodes = tenant.get(&format!("/v1/nodes?cluster_id={}", imported["uuid"].as_str().expect("uuid"))).await.expect("http");
    let mut listed: Vec<(String, String)> = nodes.body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["bay_uuid"] == imported["uuid"])
        .map(|n| (n["role"].as_str().unwrap_or("").to_owned(), n["status"].as_str().unwrap_or("").to_owned()))
        .collect();
    listed.sort();
    assert_eq!(listed, [("master".to_owned(), "Ready".to_owned()), ("worker".to_owned(), "Ready".to_owned())], "{}", nodes.text);
    // The key it was registered with is never shown, in any view.
    let key_body: String = pem("key.pem").lines().nth(1).expect("key line").to_owned();
    for path in ["/v1/clusters/imported", "/v1/clusters/detail", "/v1/bays/imported", "/v1/certificates/imported"] {
        let text = tenant.get(path).await.expect("http").text;
        assert!(!text.contains("PRIVATE KEY") && !text.contains(&key_body), "{path} shows the key: {text}");
    }
    // ca-show gives the CA it was registered with; nothing is signed or rotated with a CA not ours.
    assert_eq!(
        tenant.get("/v1/certificates/imported").await.expect("http").body["pem"].as_str().map(str::trim),
        Some(pem("ca.pem").trim())
    );
    let r = tenant.post("/v1/certificates", &json!({"cluster_uuid": "imported", "csr": pem("cert.pem")})).await.expect("http");
    assert_error(&r, 400, "is an external bay");
    assert_error(&tenant.patch("/v1/certificates/imported", &json!({})).await.expect("http"), 400, "is an external bay");
    let grow = json!([{"op": "replace", "path": "/node_count", "value": 3}]);
    assert_error(&tenant.patch("/v1/clusters/imported", &grow).await.expect("http"), 400, "cannot resize it");

    // Containers run on the registered manager's engine.
    let r = tenant
        .post(
            "/v1/containers",
            &json!({"name": "hi", "image": images::WORKLOAD_IMAGE, "command": "sh -c 'echo hello from outside; sleep 300'", "bay_uuid": "imported"}),
        )
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(tenant.put("/v1/containers/hi/start", None).await.expect("http").body["status"], "Running");
    let logs = wait_for(&tenant, "/v1/containers/hi/logs", |b| b["output"].as_str().is_some_and(|o| o.contains("hello"))).await;
    assert_eq!(logs["output"], "hello from outside\n");
    let listed = tenant.get("/v1/containers").await.expect("http");
    assert_eq!(listed.body["containers"][0]["status"], "Running", "{}", listed.text);
    assert_eq!(tenant.delete("/v1/containers/hi").await.expect("http").status, 204);
    // One left running when the bay goes: it goes too, from the owner's engine.
    let r = tenant
        .post("/v1/containers", &json!({"name": "left", "image": images::WORKLOAD_IMAGE, "command": "sleep 300", "bay_uuid": "imported"}))
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(tenant.put("/v1/containers/left/start", None).await.expect("http").body["status"], "Running");

    // Delete forgets: the owner's swarm is untouched.
    assert_eq!(tenant.delete("/v1/clusters/imported").await.expect("http").status, 204);
    common::wait_gone(&tenant, &format!("/v1/clusters/{}", imported["uuid"].as_str().expect("uuid"))).await;
    let d = tls_client(&api_address, &creds);
    assert_eq!(d.list_nodes(None).await.expect("the owner's swarm still answers").len(), 2);
    let filters = std::collections::HashMap::from([("label".to_owned(), vec![magnum_drivers::docker::LABEL_CONTAINER.to_owned()])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    assert_eq!(d.list_containers(Some(options)).await.expect("containers").len(), 0, "no container of the API is left behind");
    assert_eq!(owner.get("/v1/clusters/owned").await.expect("http").body["status"], "CREATE_COMPLETE");

    // An endpoint that does not answer: the registration fails with the reason.
    let dead = json!({"api_address": "tcp://127.0.0.1:1"});
    let r = tenant.post("/v1/clusters", &json!({"name": "dead", "cluster_template_id": "swarm", "external_endpoint": dead})).await;
    assert_eq!(r.expect("http").status, 202);
    let (failed, _) = settle(&tenant, "/v1/clusters/dead").await;
    assert_eq!(failed["status"], "CREATE_FAILED", "{failed}");
    assert!(failed["status_reason"].as_str().is_some_and(|s| s.contains("127.0.0.1:1") && s.contains("register it again")), "{failed}");
    assert_eq!(tenant.delete("/v1/clusters/dead").await.expect("http").status, 204);

    assert_eq!(owner.delete("/v1/clusters/owned").await.expect("http").status, 204);
    common::wait_gone(&owner, &format!("/v1/clusters/{}", owned["uuid"].as_str().expect("uuid"))).await;
    let _ = std::fs::remove_dir_all(&creds);
    env.finish().await;
}
