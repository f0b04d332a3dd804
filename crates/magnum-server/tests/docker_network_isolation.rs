//! Tenants' bays cannot reach each other over the network (needs a Docker engine): a
//! container on tenant A's bay reaches its own bay's node but not tenant B's, while both run.

mod common;
mod docker_env;
use docker_env::{engine, env_with_docker, swarm_bay};
use magnum_client::Client;
use magnum_drivers::docker::images;
use serde_json::{json, Value};

/// Sends a plain HTTP request to `ip:port` with busybox nc from the container: true when a
/// server answered (a node's Docker API answers plain HTTP on its TLS port with "400 Bad
/// Request"), false when the connection was refused or timed out.
async fn answers(c: &Client, container: &str, ip: &str, port: u16) -> bool {
    let cmd = format!("sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 3 {ip} {port}'");
    let r = c.put(&format!("/v1/containers/{container}/execute"), Some(&json!({"command": cmd}))).await.expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    let out = r.body["output"].as_str().unwrap_or_default().to_owned();
    let answered = out.contains("Bad Request") || out.contains("HTTP/");
    let unreachable = out.contains("can't connect") || out.contains("timed out") || out.contains("No route");
    assert!(answered != unreachable, "{cmd}: cannot tell what happened: {}", r.text);
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_tenants_container_cannot_reach_another_tenants_bay() {
    let Some(_engine) = engine("docker_a_tenants_container_cannot_reach_another_tenants_bay").await else { return };
    let env = env_with_docker().await;
    let a = env.member("tenant-a").microversion("latest");
    let b = env.member("tenant-b").microversion("latest");
    let (bay_a, bay_b) = tokio::join!(swarm_bay(&a, "bay-a", 0), swarm_bay(&b, "bay-b", 0));
    let ip = |bay: &Value| bay["master_addresses"][0].as_str().expect("master address").to_owned();
    let (ip_a, ip_b) = (ip(&bay_a), ip(&bay_b));

    let r = a
        .post("/v1/containers", &json!({"name": "probe", "image": images::WORKLOAD_IMAGE, "command": "sleep 600", "bay_uuid": "bay-a"}))
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(a.put("/v1/containers/probe/start", None).await.expect("http").body["status"], json!("Running"));

    // The probe works: it reaches its own bay's node (its Docker API port, 2376).
    assert!(answers(&a, "probe", &ip_a, 2376).await, "a container reaches its own bay's node {ip_a}");
    // Tenant B's node answers on the same port, but not to tenant A's container.
    assert!(!answers(&a, "probe", &ip_b, 2376).await, "tenant A's container reached tenant B's node {ip_b}");
    for (c, name) in [(&a, "bay-a"), (&b, "bay-b")] {
        assert_eq!(c.delete(&format!("/v1/clusters/{name}")).await.expect("http").status, 204);
    }
    for (c, name) in [(&a, "bay-a"), (&b, "bay-b")] {
        common::wait_gone(c, &format!("/v1/clusters/{name}")).await;
    }
    env.finish().await;
}
