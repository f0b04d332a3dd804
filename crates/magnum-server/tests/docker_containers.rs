//! The container API on a real swarm bay (needs a Docker engine, as docker_swarm_bays.rs):
//! containers run on the bay's nodes and everything the API says is checked against what the
//! node's own engine says, reached as a user would with a ca-signed client certificate.

mod common;
mod docker_env;
use bollard::query_parameters::ListContainersOptionsBuilder;
use common::assert_error;
use docker_env::{engine, env_with_docker, settle, tls_client, user_credentials};
use magnum_client::Client;
use magnum_drivers::docker::{images, LABEL_CONTAINER};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The Docker API of bay node `node`, as published on the host.
async fn node_api(engine: &bollard::Docker, node: &str) -> String {
    let c = engine.inspect_container(node, None::<bollard::query_parameters::InspectContainerOptions>).await.expect("node exists");
    let ports = c.network_settings.and_then(|n| n.ports).expect("published ports");
    let port = ports["2376/tcp"].as_ref().and_then(|b| b.first()).and_then(|b| b.host_port.clone()).expect("TLS API published");
    format!("tcp://127.0.0.1:{port}")
}

/// The engine's view of the container of the API with `uuid` on `node`.
async fn on_engine(node: &bollard::Docker, uuid: &str) -> Option<bollard::models::ContainerInspectResponse> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_CONTAINER}={uuid}")])]);
    let list = node.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build())).await.expect("list");
    let id = list.into_iter().next()?.id?;
    node.inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>).await.ok()
}

async fn put(c: &Client, path: &str) -> Value {
    let r = c.put(path, None).await.expect("http");
    assert_eq!(r.status, 200, "PUT {path}: {}", r.text);
    r.body
}

/// Polls a container until the API shows `want` (the conductor refreshes every second here).
async fn wait_container(c: &Client, path: &str, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        if body["status"] == json!(want) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{path} never became {want}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_containers_on_a_swarm_bay() {
    let Some(engine) = engine("docker_containers_on_a_swarm_bay").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let t = c.post("/v1/baymodels", &json!({"name": "swarm", "coe": "swarm-mode", "image_id": images::NODE_IMAGE})).await.expect("http");
    assert_eq!(t.status, 201, "{}", t.text);
    let r = c.post("/v1/bays", &json!({"name": "bay1", "baymodel_id": "swarm", "master_count": 1, "node_count": 2})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let bay = r.body["uuid"].as_str().expect("uuid").to_owned();
    let (shown, _) = settle(&c, "/v1/bays/bay1").await;
    assert_eq!(shown["status"], json!("CREATE_COMPLETE"), "{shown}");
    let creds = user_credentials(&c, &bay).await;

    // An image no node and not the engine has is refused before anything is recorded.
    let r = c.post("/v1/containers", &json!({"image": "no-such-image:1", "bay_uuid": "bay1"})).await.expect("http");
    assert_error(&r, 400, "never pull");
    assert_eq!(c.get("/v1/containers").await.expect("http").body["containers"], json!([]));

    // A busybox container that echoes, created (Stopped, as upstream), then started.
    let spec = json!({
        "name": "echo",
        "image": images::WORKLOAD_IMAGE,
        "command": "sh -c 'echo hello from magnum; exec sleep 600'",
        "memory": "64m",
        "environment": {"GREETING": "hi"},
        "bay_uuid": "bay1",
    });
    let r = c.post("/v1/containers", &spec).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let uuid = r.body["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(r.header("location").map(str::to_owned), Some(format!("{}/v1/containers/{uuid}", env.base)));
    assert_eq!(r.body["status"], json!("Stopped"), "{}", r.text);
    assert_eq!(r.body["bay_uuid"], json!(bay));
    let host = r.body["host"].as_str().expect("placed on a node").to_owned();
    assert!(host.contains("-worker-"), "containers go to workers: {host}");
    let node = tls_client(&node_api(&engine, &host).await, &creds);
    let inspected = on_engine(&node, &uuid).await.expect("the container exists on its node's engine");
    let hc = inspected.host_config.expect("host config");
    assert_eq!(hc.memory, Some(64 << 20), "memory limit applied");
    let env_vars = inspected.config.and_then(|c| c.env).unwrap_or_default();
    assert!(env_vars.contains(&"GREETING=hi".to_owned()), "{env_vars:?}");

    let path = format!("/v1/containers/{uuid}");
    let started = put(&c, &format!("{path}/start")).await;
    assert_eq!(started["status"], json!("Running"), "{started}");
    assert_eq!(on_engine(&node, &uuid).await.and_then(|i| i.state).and_then(|s| s.running), Some(true));
    let t0 = Instant::now();
    loop {
        let logs = c.get(&format!("{path}/logs")).await.expect("http");
        assert_eq!(logs.status, 200, "{}", logs.text);
        if logs.body["output"].as_str().is_some_and(|o| o.contains("hello from magnum")) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "logs never showed the echo: {}", logs.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // execute: query form and JSON body form, output and exit code.
    let r = c.put(&format!("{path}/execute?command=uname%20-a"), None).await.expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["output"].as_str().is_some_and(|o| o.starts_with("Linux ")), "{}", r.text);
    assert_eq!(r.body["exit_code"], json!(0));
    let r = c.put(&format!("{path}/execute"), Some(&json!({"command": "sh -c 'echo to-stderr >&2; exit 3'"}))).await.expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["output"].clone(), r.body["exit_code"].clone()), (json!("to-stderr\n"), json!(3)), "{}", r.text);
    assert_error(&c.put(&format!("{path}/execute"), None).await.expect("http"), 400, "Missing command");
    assert_error(&c.put(&format!("{path}/execute?command=sh%20'x"), None).await.expect("http"), 400, "not closed");

    // Actions, each observed through the node's own engine.
    let state = |node: &bollard::Docker, uuid: &str| {
        let (node, uuid) = (node.clone(), uuid.to_owned());
        async move { on_engine(&node, &uuid).await.and_then(|i| i.state).expect("state") }
    };
    assert_eq!(put(&c, &format!("{path}/pause")).await["status"], json!("Paused"));
    assert_eq!(state(&node, &uuid).await.paused, Some(true));
    assert_eq!(c.get(&path).await.expect("http").body["status"], json!("Paused"), "show reports the last known state");
    assert_eq!(put(&c, &format!("{path}/unpause")).await["status"], json!("Running"));
    assert_eq!(state(&node, &uuid).await.paused, Some(false));
    let before = state(&node, &uuid).await.started_at;
    assert_eq!(put(&c, &format!("{path}/reboot")).await["status"], json!("Running"));
    let after = state(&node, &uuid).await;
    assert_eq!(after.running, Some(true));
    assert_ne!(after.started_at, before, "reboot restarted the process");
    let stopped = put(&c, &format!("{path}/stop")).await;
    assert_eq!(stopped["status"], json!("Stopped"), "{stopped}");
    assert_eq!(state(&node, &uuid).await.running, Some(false));
    // Pausing a stopped container is the engine's 409, passed on with its reason.
    assert_error(&c.put(&format!("{path}/pause"), None).await.expect("http"), 409, "is not running");

    // Wrong methods on actions are 405 in Magnum's error format.
    assert_error(&c.get(&format!("{path}/start")).await.expect("http"), 405, "");
    assert_error(&c.post(&format!("{path}/logs"), &json!({})).await.expect("http"), 405, "");
    assert_error(&c.get(&format!("{path}/execute")).await.expect("http"), 405, "");

    // Status follows the engine: started behind the API's back, then refreshed.
    node.start_container(&uuid, None::<bollard::query_parameters::StartContainerOptions>).await.expect("start through the node's engine");
    wait_container(&c, &path, "Running").await;

    // Rename (the only patchable field), then lookups by the new name.
    let r = c.patch(&path, &json!([{"op": "replace", "path": "/name", "value": "greeter"}])).await.expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.get("/v1/containers/greeter").await.expect("http").body["uuid"], json!(uuid));
    let r = c.patch(&path, &json!([{"op": "replace", "path": "/image", "value": "x"}])).await.expect("http");
    assert_error(&r, 400, "internal attribute");

    // Placement spreads: three more containers; the two workers hold two each.
    for i in 0..3 {
        let r = c
            .post(
                "/v1/containers",
                &json!({"name": format!("c{i}"), "image": images::WORKLOAD_IMAGE, "command": "sleep 600", "bay_uuid": bay}),
            )
            .await
            .expect("http");
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let detail = c.get("/v1/containers/detail").await.expect("http").body;
    let mut per_host: HashMap<String, usize> = HashMap::new();
    for item in detail["containers"].as_array().expect("list") {
        *per_host.entry(item["host"].as_str().expect("host").to_owned()).or_default() += 1;
    }
    assert_eq!(per_host.len(), 2, "{per_host:?}");
    assert!(per_host.values().all(|n| *n == 2), "{per_host:?}");
    let summary = c.get("/v1/containers").await.expect("http").body;
    let keys: Vec<&str> = summary["containers"][0].as_object().expect("item").keys().map(String::as_str).collect();
    for k in ["uuid", "name", "bay_uuid", "image", "command", "status", "memory", "links"] {
        assert!(keys.contains(&k), "list item lacks {k}: {keys:?}");
    }
    assert!(!keys.contains(&"host"), "the list view is upstream's reduced one");

    // Other tenants see nothing and reach nothing.
    let other = env.member("other-tenant");
    assert_eq!(other.get("/v1/containers").await.expect("http").body["containers"], json!([]));
    assert_error(&other.get(&path).await.expect("http"), 404, "could not be found");
    assert_error(&other.put(&format!("{path}/stop"), None).await.expect("http"), 404, "could not be found");
    let r = other.post("/v1/containers", &json!({"image": images::WORKLOAD_IMAGE, "bay_uuid": bay})).await.expect("http");
    assert_error(&r, 400, "could not be found");
    // A reader reads logs but cannot act.
    let reader = env.reader("tenant");
    assert_eq!(reader.get(&format!("{path}/logs")).await.expect("http").status, 200);
    assert_error(&reader.put(&format!("{path}/stop"), None).await.expect("http"), 403, "container:stop");

    // Delete removes the engine's container.
    let r = c.delete(&path).await.expect("http");
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(on_engine(&node, &uuid).await.is_none(), "the engine's container is gone");
    assert_error(&c.get(&path).await.expect("http"), 404, "could not be found");

    // A create whose conductor died between recording it and the engine: after the grace, the
    // refresh shows it Error with the reason, and it can be deleted.
    let checked = magnum_types::container::CONTAINER_SCHEMA
        .check_create(&json!({"name": "orphan", "image": images::WORKLOAD_IMAGE, "bay_uuid": bay}))
        .expect("valid");
    let long_ago = magnum_types::time::now() - chrono::TimeDelta::minutes(5);
    let mut half = magnum_types::container::Container::from_create(&checked, bay.parse().expect("uuid"), "tenant", "user-tenant", long_ago)
        .expect("valid");
    half.host = Some(host.clone());
    half.status_reason = Some(format!("being created on node {host}"));
    env.store.insert_container(&half).await.expect("recorded");
    let shown = wait_container(&c, &format!("/v1/containers/{}", half.uuid), "Error").await;
    assert!(shown["status_reason"].as_str().is_some_and(|r| r.contains("gone from node")), "{shown}");
    assert_eq!(c.delete(&format!("/v1/containers/{}", half.uuid)).await.expect("http").status, 204);

    // A stopped node: lists still answer from the store at once, and its containers turn
    // Unknown, with the node and the reason, when the conductor next looks.
    engine.stop_container(&host, None::<bollard::query_parameters::StopContainerOptions>).await.expect("stop a worker");
    let t0 = Instant::now();
    loop {
        let r = c.get("/v1/containers/detail").await.expect("http");
        assert_eq!(r.status, 200, "{}", r.text);
        let on_host: Vec<&Value> = r.body["containers"].as_array().expect("list").iter().filter(|i| i["host"] == json!(host)).collect();
        if !on_host.is_empty() && on_host.iter().all(|i| i["status"] == json!("Unknown")) {
            let reason = on_host[0]["status_reason"].as_str().unwrap_or_default();
            assert!(reason.starts_with(&format!("node {host}: ")), "the reason names the node: {reason}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "containers on a stopped node never turned Unknown: {}", r.text);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Deleting the bay deletes its containers.
    let r = c.delete("/v1/bays/bay1").await.expect("http");
    assert_eq!(r.status, 204, "{}", r.text);
    let t0 = Instant::now();
    while c.get("/v1/bays/bay1").await.expect("http").status != 404 {
        assert!(t0.elapsed() < Duration::from_secs(60), "bay never deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(c.get("/v1/containers").await.expect("http").body["containers"], json!([]));
    env.finish().await;
}
