//! Real swarm bays on a real Docker engine (needs one: scripts/start-docker.sh, which
//! scripts/test.sh and .ci/run call). Without an engine these tests SKIP loudly, or fail when
//! MAGNUM_REQUIRE_SERVICES=1.

mod common;
mod docker_env;
use common::{assert_error, Backend, Env};
use docker_env::{engine, env_with_docker, settle, tls_client, user_credentials, ENGINE};
use magnum_client::Client;
use magnum_drivers::docker::{self, images, LABEL_BAY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One member of a swarm, as its manager lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SwarmMember {
    host: String,
    /// `ready`, `down`, ...
    state: String,
    /// Its `magnum.nodegroup` label.
    group: String,
    /// Every label of its swarm node.
    labels: std::collections::HashMap<String, String>,
    /// `leader`, `reachable` or `unreachable` for a manager (a raft member); None for a worker.
    manager: Option<String>,
}

async fn swarm_members(d: &bollard::Docker) -> Vec<SwarmMember> {
    let mut members: Vec<SwarmMember> = d
        .list_nodes(None)
        .await
        .expect("node list through api_address")
        .into_iter()
        .map(|n| SwarmMember {
            host: n.description.and_then(|d| d.hostname).unwrap_or_default(),
            state: n.status.and_then(|s| s.state).map(|s| s.to_string()).unwrap_or_default(),
            group: n.spec.as_ref().and_then(|s| s.labels.as_ref()).and_then(|l| l.get("magnum.nodegroup").cloned()).unwrap_or_default(),
            labels: n.spec.and_then(|s| s.labels).unwrap_or_default(),
            manager: n.manager_status.map(|m| match m.leader {
                Some(true) => "leader".to_owned(),
                _ => m.reachability.map(|r| r.to_string()).unwrap_or_default(),
            }),
        })
        .collect();
    members.sort_by(|a, b| a.host.cmp(&b.host));
    members
}

/// Polls until the cluster's health_status is `want` (30 s at most).
async fn wait_health(c: &Client, path: &str, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        if body["health_status"] == json!(want) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{path} never became {want}: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn labelled(d: &bollard::Docker, bay: &str) -> (usize, usize, usize) {
    let (c, n, v) = docker::owned_by(d, bay).await.expect("list by label");
    (c.len(), n.len(), v.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_swarm_bay_lifecycle() {
    let Some(engine) = engine("docker_swarm_bay_lifecycle").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let t = c
        .post(
            "/v1/clustertemplates",
            &json!({"name": "swarm", "coe": "swarm-mode", "image_id": images::NODE_IMAGE, "flavor_id": "m1.small"}),
        )
        .await
        .expect("http");
    assert_eq!(t.status, 201, "{}", t.text);

    // Create 1 master + 2 workers.
    let r = c
        .post("/v1/clusters", &json!({"name": "bay1", "cluster_template_id": "swarm", "master_count": 1, "node_count": 2}))
        .await
        .expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let bay = r.body["uuid"].as_str().expect("uuid").to_owned();
    let (shown, secs) = settle(&c, "/v1/clusters/bay1").await;
    assert_eq!(shown["status"], json!("CREATE_COMPLETE"), "{shown}");
    eprintln!("1+2 bay CREATE_COMPLETE in {secs:.1} s");
    let api = shown["api_address"].as_str().expect("api_address").to_owned();
    assert!(api.starts_with("tcp://127.0.0.1:"), "the API is published on the host's loopback: {api}");
    assert_eq!(shown["master_addresses"].as_array().map(Vec::len), Some(1));
    assert_eq!(shown["node_addresses"].as_array().map(Vec::len), Some(2));
    let creds = user_credentials(&c, &bay).await;
    let user = tls_client(&api, &creds);
    let nodes = swarm_members(&user).await;
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert!(nodes.iter().all(|n| n.state == "ready"), "{nodes:?}");
    let info = user.info().await.expect("docker info through api_address with a ca-signed client certificate");
    assert_eq!(info.swarm.and_then(|s| s.nodes), Some(3), "docker info counts 3 swarm nodes");
    assert!(docker::connect(&api, 5).expect("plain client").info().await.is_err(), "the node API refuses clients without TLS");
    // What a user types: the Docker CLI with the ca-signed certificate.
    let cli = std::process::Command::new("docker")
        .args([
            "--tlsverify",
            "--tlscacert",
            "ca.pem",
            "--tlscert",
            "cert.pem",
            "--tlskey",
            "key.pem",
            "-H",
            &api,
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.Status}}",
        ])
        .current_dir(&creds)
        .output()
        .expect("the docker CLI (from docker.io) runs");
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "docker --tlsverify node ls: {}", String::from_utf8_lossy(&cli.stderr));
    assert_eq!(out.lines().filter(|l| l.ends_with(" Ready")).count(), 3, "{out}");
    // The bay runs workloads at once, without any registry: a swarm service of the offline
    // workload image (dnsrr: this kernel has no IPVS for swarm's virtual IPs).
    let svc = std::process::Command::new("docker")
        .args(["--tlsverify", "--tlscacert", "ca.pem", "--tlscert", "cert.pem", "--tlskey", "key.pem", "-H", &api])
        .args(["service", "create", "--detach", "--no-resolve-image", "--endpoint-mode", "dnsrr", "--replicas", "2", "--name", "hello"])
        .args([images::WORKLOAD_IMAGE, "sh", "-c", "echo hello from a bay; sleep 3600"])
        .current_dir(&creds)
        .output()
        .expect("docker service create");
    assert!(svc.status.success(), "{}", String::from_utf8_lossy(&svc.stderr));
    let mut running = 0;
    for _ in 0..100 {
        let ps = std::process::Command::new("docker")
            .args(["--tlsverify", "--tlscacert", "ca.pem", "--tlscert", "cert.pem", "--tlskey", "key.pem", "-H", &api])
            .args(["service", "ps", "hello", "--format", "{{.CurrentState}}"])
            .current_dir(&creds)
            .output()
            .expect("docker service ps");
        running = String::from_utf8_lossy(&ps.stdout).lines().filter(|l| l.starts_with("Running")).count();
        if running == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(running, 2, "both replicas of the workload run on the bay");
    // Flavor limits reach the node containers.
    let master = engine
        .inspect_container(
            &format!("magnum-{}-master-0", &bay.replace('-', "")[..8]),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("node container");
    assert_eq!(master.host_config.and_then(|h| h.memory), Some(1024 * 1024 * 1024), "m1.small = 1 GiB");

    // The conductor reports the nodes it observes, and the bay's health.
    let listed = c.get("/v1/nodes").await.expect("http");
    let listed = listed.body["nodes"].as_array().expect("nodes").clone();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|n| n["status"] == json!("Ready") && n["bay_uuid"] == json!(bay)), "{listed:?}");
    let one = c.get(&format!("/v1/nodes/{}", listed[0]["uuid"].as_str().expect("uuid"))).await.expect("http");
    assert_eq!(one.body["image_id"], json!(images::NODE_IMAGE), "{}", one.text);
    assert!(one.body["addresses"][0].is_string());
    assert_eq!(env.member("other").get("/v1/nodes").await.expect("http").body["nodes"], json!([]), "other projects see none");
    assert_eq!(wait_health(&c, "/v1/clusters/bay1", "HEALTHY").await["health_status_reason"], json!({}));
    let workers = c.clone().microversion("1.9").get("/v1/clusters/bay1/nodegroups/default-worker").await.expect("http");
    assert_eq!(workers.body["node_addresses"].as_array().map(Vec::len), Some(2), "{}", workers.text);

    // Scale 2 → 4 → 1, the last removing a named worker first.
    let r = c.patch("/v1/clusters/bay1", &json!([{"op": "replace", "path": "/node_count", "value": 4}])).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (up, _) = settle(&c, "/v1/clusters/bay1").await;
    assert_eq!((up["status"].clone(), up["node_count"].clone()), (json!("UPDATE_COMPLETE"), json!(4)), "{up}");
    assert_eq!(swarm_members(&user).await.len(), 5);
    let named = nodes.iter().map(|n| n.host.clone()).find(|h| h.ends_with("worker-0")).expect("worker-0");
    let r = c
        .clone()
        .microversion("1.7")
        .post("/v1/clusters/bay1/actions/resize", &json!({"node_count": 1, "nodes_to_remove": [named]}))
        .await
        .expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (down, _) = settle(&c, "/v1/clusters/bay1").await;
    assert_eq!((down["status"].clone(), down["node_count"].clone()), (json!("UPDATE_COMPLETE"), json!(1)), "{down}");
    let left = swarm_members(&user).await;
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.iter().any(|n| n.host == named), "the named worker left the swarm: {left:?}");
    assert_eq!(labelled(&engine, &bay).await, (2, 1, 2), "containers, network, volumes of a 1+1 bay");
    let groups = c.clone().microversion("1.9").get("/v1/clusters/bay1/nodegroups/default-worker").await.expect("http");
    assert_eq!(groups.body["node_count"], json!(1));

    // A stopped node makes the bay UNHEALTHY, with a reason naming it.
    let worker = left.iter().map(|n| n.host.clone()).find(|h| h.contains("-worker-")).expect("a worker");
    engine.stop_container(&worker, None::<bollard::query_parameters::StopContainerOptions>).await.expect("stop a node");
    let sick = wait_health(&c, "/v1/clusters/bay1", "UNHEALTHY").await;
    assert!(sick["health_status_reason"][&worker].as_str().is_some_and(|r| r.contains("exited")), "{sick}");
    engine.start_container(&worker, None::<bollard::query_parameters::StartContainerOptions>).await.expect("start it again");
    wait_health(&c, "/v1/clusters/bay1", "HEALTHY").await;
    // A node removed behind the conductor's back is reported, not ignored.
    docker::remove_container(&engine, &worker).await.expect("remove a node");
    let missing = wait_health(&c, "/v1/clusters/bay1", "UNHEALTHY").await;
    assert!(missing["health_status_reason"][&worker].as_str().is_some_and(|r| r.contains("removed outside magnum")), "{missing}");
    let nodes = c.get("/v1/nodes/detail").await.expect("http");
    assert!(
        nodes.body["nodes"].as_array().expect("nodes").iter().any(|n| n["name"] == json!(worker) && n["status"] == json!("Missing")),
        "{}",
        nodes.text
    );
    // An update converges the bay again: the missing worker is rebuilt.
    let r = c.clone().microversion("1.7").post("/v1/clusters/bay1/actions/resize", &json!({"node_count": 1})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (healed, _) = settle(&c, "/v1/clusters/bay1").await;
    assert_eq!(healed["status"], json!("UPDATE_COMPLETE"), "{healed}");
    wait_health(&c, "/v1/clusters/bay1", "HEALTHY").await;

    // Rotating the CA re-issues the node certificates: old client certificates stop working.
    let r = c.patch(&format!("/v1/certificates/{bay}"), &json!([])).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (rotated, _) = settle(&c, "/v1/clusters/bay1").await;
    assert_eq!(rotated["status"], json!("UPDATE_COMPLETE"), "{rotated}");
    assert_eq!(rotated["api_address"], json!(api), "the API address survives node restarts");
    assert!(user.info().await.is_err(), "a certificate from the old CA is refused");
    let fresh = user_credentials(&c, &bay).await;
    assert_eq!(swarm_members(&tls_client(&api, &fresh)).await.len(), 2, "a certificate from the new CA works");
    let _ = std::fs::remove_dir_all(&creds);
    let _ = std::fs::remove_dir_all(&fresh);

    // Delete leaves nothing with the bay's label.
    assert_eq!(c.delete("/v1/clusters/bay1").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/bay1").await;
    assert_eq!(labelled(&engine, &bay).await, (0, 0, 0), "nothing labelled {LABEL_BAY}={bay} is left");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_bays_that_cannot_be_built_fail_with_a_reason_and_leave_nothing() {
    let Some(engine) = engine("docker_bays_that_cannot_be_built_fail_with_a_reason_and_leave_nothing").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    // A template must name an image the engine holds.
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "magnum/not-built:1"})).await.expect("http");
    assert_error(&r, 400, "is not on the Docker engine");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "magnum/swarm-node"})).await.expect("http");
    assert_eq!(r.status, 201, "a name without a tag means :latest: {}", r.text);
    for (name, body, reason) in [
        // The workload image has no dockerd: its node containers exit at once.
        ("notanode", json!({"coe": "swarm", "image_id": images::WORKLOAD_IMAGE, "tls_disabled": true}), "-master-0"),
    ] {
        let mut body = body;
        body["name"] = json!(name);
        assert_eq!(c.post("/v1/clustertemplates", &body).await.expect("http").status, 201);
        let r = c.post("/v1/clusters", &json!({"name": format!("b-{name}"), "cluster_template_id": name})).await.expect("http");
        let bay = r.body["uuid"].as_str().expect("uuid").to_owned();
        let (shown, _) = settle(&c, &format!("/v1/clusters/{bay}")).await;
        assert_eq!(shown["status"], json!("CREATE_FAILED"), "{shown}");
        assert!(shown["status_reason"].as_str().is_some_and(|r| r.contains(reason)), "{shown}");
        assert_eq!(c.delete(&format!("/v1/clusters/{bay}")).await.expect("http").status, 204, "a failed bay can be deleted");
        common::wait_gone(&c, &format!("/v1/clusters/{bay}")).await;
        assert_eq!(labelled(&engine, &bay).await, (0, 0, 0));
    }
    assert_error(&c.post("/v1/clusters", &json!({"cluster_template_id": "nothing"})).await.expect("http"), 400, "could not be found");
    env.finish().await;
}

/// The swarm nodes' (hostname, state, nodegroup label), sorted.
/// Worker nodegroups on a real swarm bay: a group added with its own node count is built and
/// labelled in the swarm, resized on its own, and removed with its nodes; the default groups
/// stay as they were throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_swarm_nodegroups_are_added_resized_and_removed() {
    let Some(engine) = engine("docker_swarm_nodegroups_are_added_resized_and_removed").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let bay = docker_env::swarm_bay(&c, "grouped", 1).await;
    let uuid = bay["uuid"].as_str().expect("uuid").to_owned();
    let v = c.clone().microversion("1.10");
    let groups = format!("/v1/clusters/{uuid}/nodegroups");

    let started = Instant::now();
    let r = v
        .post(&groups, &json!({"name": "gpu", "node_count": 2, "max_node_count": 3, "node_labels": {"accel": "nvidia"}}))
        .await
        .expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (shown, secs) = settle(&c, "/v1/clusters/grouped").await;
    assert_eq!(shown["status"], json!("UPDATE_COMPLETE"), "{shown}");
    eprintln!("a 2-node group added in {:.1} s ({secs:.1} s after the request settled)", started.elapsed().as_secs_f64());
    let gpu = v.get(&format!("{groups}/gpu")).await.expect("http").body;
    assert_eq!((gpu["status"].clone(), gpu["node_count"].clone()), (json!("CREATE_COMPLETE"), json!(2)), "{gpu}");
    assert_eq!(shown["node_count"], json!(1), "the default worker group keeps its size");
    assert_eq!(labelled(&engine, &uuid).await, (4, 1, 4), "a manager, the default worker and the group's two");

    let creds = user_credentials(&c, &uuid).await;
    let swarm = tls_client(shown["api_address"].as_str().expect("api_address"), &creds);
    let members = swarm_members(&swarm).await;
    assert_eq!(members.len(), 4, "{members:?}");
    assert!(members.iter().all(|m| m.state == "ready"), "{members:?}");
    let in_group = |members: &[SwarmMember], g: &str| members.iter().filter(|m| m.group == g).count();
    assert_eq!(
        (in_group(&members, "gpu"), in_group(&members, "default-worker"), in_group(&members, "default-master")),
        (2, 1, 1),
        "{members:?}"
    );
    let accel = |m: &SwarmMember| m.labels.get("accel").cloned();
    assert!(
        members.iter().filter(|m| m.group == "gpu").all(|m| accel(m).as_deref() == Some("nvidia")),
        "the group's node labels: {members:?}"
    );
    assert!(members.iter().filter(|m| m.group != "gpu").all(|m| accel(m).is_none()), "only on the group's nodes: {members:?}");
    // New labels for the group: its nodes carry them, and no longer the old ones.
    let r = v.patch(&format!("{groups}/gpu"), &json!([{"op": "replace", "path": "/node_labels", "value": {"tier": "batch"}}])).await;
    assert_eq!(r.expect("http").status, 202);
    let (shown, _) = settle(&c, "/v1/clusters/grouped").await;
    assert_eq!(shown["status"], json!("UPDATE_COMPLETE"), "{shown}");
    let members = swarm_members(&swarm).await;
    let relabelled = members.iter().filter(|m| m.group == "gpu");
    assert!(
        relabelled.clone().count() == 2
            && relabelled.clone().all(|m| accel(m).is_none() && m.labels.get("tier").map(String::as_str) == Some("batch")),
        "the group's new labels, the old one gone: {members:?}"
    );
    assert_eq!(labelled(&engine, &uuid).await, (4, 1, 4), "relabelled in place: no node made again");
    let nodes = c.get(&format!("/v1/nodes/detail?cluster_uuid={uuid}")).await.expect("http").body;
    let node_groups: Vec<&str> = nodes["nodes"].as_array().expect("nodes").iter().filter_map(|n| n["nodegroup"].as_str()).collect();
    assert_eq!(node_groups.iter().filter(|g| **g == "gpu").count(), 2, "{nodes}");
    let gpu = v.get(&format!("{groups}/gpu")).await.expect("http").body;
    assert_eq!(gpu["node_addresses"].as_array().map(Vec::len), Some(2), "{gpu}");

    let resize = format!("/v1/clusters/{uuid}/actions/resize");
    assert_error(&v.post(&resize, &json!({"node_count": 4, "nodegroup": "gpu"})).await.expect("http"), 400, "between 0 and 3");
    let r = v.post(&resize, &json!({"node_count": 1, "nodegroup": "gpu"})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (shown, _) = settle(&c, "/v1/clusters/grouped").await;
    assert_eq!(shown["status"], json!("UPDATE_COMPLETE"), "{shown}");
    let gpu = v.get(&format!("{groups}/gpu")).await.expect("http").body;
    assert_eq!((gpu["status"].clone(), gpu["node_count"].clone()), (json!("UPDATE_COMPLETE"), json!(1)), "{gpu}");
    assert_eq!(labelled(&engine, &uuid).await, (3, 1, 3));
    let members = swarm_members(&swarm).await;
    assert_eq!((members.len(), in_group(&members, "gpu")), (3, 1), "{members:?}");
    // A group's node whose container vanished counts against the bay, like a default one's.
    let gone = members.iter().find(|m| m.group == "gpu").map(|m| m.host.clone()).expect("the gpu node");
    docker::remove_container(&engine, &gone).await.expect("remove the group's node");
    // (A look while the engine is still removing it reports the container as removing.)
    let t0 = Instant::now();
    loop {
        let seen = c.get("/v1/clusters/grouped").await.expect("http").body;
        let bay_reason = seen["health_status_reason"]["bay"].as_str().unwrap_or_default().to_owned();
        if seen["health_status"] == json!("UNHEALTHY") && bay_reason.contains("2 of 3 node containers exist") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "the bay never counted the missing node: {seen}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    assert_eq!(v.delete(&format!("{groups}/gpu")).await.expect("http").status, 204);
    let (shown, _) = settle(&c, "/v1/clusters/grouped").await;
    assert_eq!(shown["status"], json!("UPDATE_COMPLETE"), "{shown}");
    assert_error(&v.get(&format!("{groups}/gpu")).await.expect("http"), 404, "Nodegroup gpu");
    assert_eq!(labelled(&engine, &uuid).await, (2, 1, 2), "the group's node went with it");
    let members = swarm_members(&swarm).await;
    assert_eq!((members.len(), in_group(&members, "gpu")), (2, 0), "{members:?}");
    wait_health(&c, "/v1/clusters/grouped", "HEALTHY").await;
    let _ = std::fs::remove_dir_all(&creds);

    assert_eq!(c.delete("/v1/clusters/grouped").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/grouped").await;
    assert_eq!(labelled(&engine, &uuid).await, (0, 0, 0));
    env.finish().await;
}

/// The control plane of a swarm bay resized in place, 1 → 3 → 1 managers: the new managers join
/// raft, and on the way down each is demoted before it goes, so the swarm keeps its quorum and
/// its state (a service made on three managers still runs, and the last manager still accepts
/// changes). The bay keeps its api_address throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_swarm_managers_are_resized_1_3_1_keeping_the_raft_quorum() {
    let Some(engine) = engine("docker_swarm_managers_are_resized_1_3_1_keeping_the_raft_quorum").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let bay = docker_env::swarm_bay(&c, "quorum", 1).await;
    let uuid = bay["uuid"].as_str().expect("uuid").to_owned();
    let api = bay["api_address"].as_str().expect("api_address").to_owned();
    let creds = user_credentials(&c, &uuid).await;
    let swarm = tls_client(&api, &creds);
    let v = c.clone().microversion("1.9");
    let resize = format!("/v1/clusters/{uuid}/actions/resize");
    let managers = |members: &[SwarmMember]| {
        let mut m: Vec<String> = members.iter().filter_map(|m| m.manager.clone()).collect();
        m.sort();
        m
    };

    let started = Instant::now();
    let r = v.post(&resize, &json!({"node_count": 3, "nodegroup": "default-master"})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (grown, _) = settle(&c, "/v1/clusters/quorum").await;
    eprintln!("managers 1 -> 3 in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(grown["status"], json!("UPDATE_COMPLETE"), "{grown}");
    assert_eq!((grown["master_count"].clone(), grown["node_count"].clone()), (json!(3), json!(1)), "{grown}");
    assert_eq!(grown["master_addresses"].as_array().map(Vec::len), Some(3), "{grown}");
    assert_eq!(grown["api_address"], json!(api), "the bay keeps its api_address");
    let members = swarm_members(&swarm).await;
    assert_eq!(managers(&members), ["leader", "reachable", "reachable"], "three raft members: {members:?}");
    assert!(members.iter().all(|m| m.state == "ready"), "{members:?}");
    assert_eq!(labelled(&engine, &uuid).await, (4, 1, 4), "3 managers and the worker");
    let group = v.get(&format!("/v1/clusters/{uuid}/nodegroups/default-master")).await.expect("http").body;
    assert_eq!(group["node_count"], json!(3), "{group}");

    // State written while three managers hold it must survive the shrink.
    let args = ["service", "create", "--detach", "--no-resolve-image", "--replicas", "2", "--name", "kept"];
    let mut args = args.to_vec();
    args.extend([images::WORKLOAD_IMAGE, "sleep", "3600"]);
    let out = docker_env::tenant_docker(&creds, &api, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let started = Instant::now();
    let r = v.post(&resize, &json!({"node_count": 1, "nodegroup": "default-master"})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (shrunk, _) = settle(&c, "/v1/clusters/quorum").await;
    eprintln!("managers 3 -> 1 in {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(shrunk["status"], json!("UPDATE_COMPLETE"), "{shrunk}");
    assert_eq!(shrunk["master_count"], json!(1), "{shrunk}");
    assert_eq!(shrunk["master_addresses"].as_array().map(Vec::len), Some(1), "{shrunk}");
    assert_eq!(shrunk["api_address"], json!(api));
    let members = swarm_members(&swarm).await;
    assert_eq!(managers(&members), ["leader"], "one raft member left, and it leads: {members:?}");
    assert_eq!(members.len(), 2, "the retired managers left the swarm: {members:?}");
    assert!(members.iter().all(|m| m.state == "ready"), "{members:?}");
    assert_eq!(labelled(&engine, &uuid).await, (2, 1, 2), "the retired managers' containers and volumes are gone");
    // The raft state is intact and writable: the service is there, and can be changed.
    let out = docker_env::tenant_docker(&creds, &api, &["service", "scale", "--detach", "kept=3"]);
    assert!(out.status.success(), "the last manager accepts changes: {}", String::from_utf8_lossy(&out.stderr));
    let t0 = Instant::now();
    while running_tasks(&creds, &api, "kept") != Some(3) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the service made on three managers never ran its 3 tasks");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_health(&c, "/v1/clusters/quorum", "HEALTHY").await;
    let _ = std::fs::remove_dir_all(&creds);

    assert_eq!(c.delete("/v1/clusters/quorum").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/quorum").await;
    assert_eq!(labelled(&engine, &uuid).await, (0, 0, 0));
    env.finish().await;
}

/// The conductor's credentials for a bay, as the store holds them, written for the docker CLI.
async fn conductor_credentials(env: &Env, bay: &str) -> std::path::PathBuf {
    let certs = env.store.get_certificates(bay.parse().expect("uuid")).await.expect("certificates");
    let cipher = magnum_server::load_cipher(&env.config).expect("the server's key");
    let dir = std::env::temp_dir().join(format!("magnum-conductor-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), &certs.ca_cert).expect("ca");
    std::fs::write(dir.join("cert.pem"), &certs.client_cert).expect("cert");
    std::fs::write(dir.join("key.pem"), cipher.decrypt(&certs.client_key).expect("key")).expect("key");
    dir
}

/// Credential rotation (1.12) on a real swarm bay: the conductor gets a new certificate, every
/// node pins it, and the old one is refused everything from then on, while users' certificates
/// and the bay's own operations keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_rotated_conductor_credentials_retire_the_old_certificate() {
    let Some(engine) = engine("docker_rotated_conductor_credentials_retire_the_old_certificate").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let bay = docker_env::swarm_bay(&c, "rotated", 1).await;
    let uuid = bay["uuid"].as_str().expect("uuid").to_owned();
    let api = bay["api_address"].as_str().expect("api_address").to_owned();
    let user = user_credentials(&c, &uuid).await;
    let old = conductor_credentials(&env, &uuid).await;
    let manage = |creds: &std::path::Path| docker_env::tenant_docker(creds, &api, &["swarm", "join-token", "-q", "worker"]);
    assert!(
        manage(&old).status.success(),
        "the conductor's certificate manages the swarm: {}",
        String::from_utf8_lossy(&manage(&old).stderr)
    );
    assert!(!manage(&user).status.success(), "a user's does not");

    let r = c.clone().microversion("1.12").patch(&format!("/v1/credentials/{uuid}"), &json!({})).await.expect("http");
    assert_eq!((r.status, r.body.clone()), (202, json!({"uuid": uuid})), "{}", r.text);
    let (rotated, _) = settle(&c, "/v1/clusters/rotated").await;
    assert_eq!(rotated["status"], json!("UPDATE_COMPLETE"), "{rotated}");

    let refused = docker_env::tenant_docker(&old, &api, &["info"]);
    assert!(!refused.status.success(), "the old certificate is refused even a read");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("retired by a credential rotation"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let new = conductor_credentials(&env, &uuid).await;
    assert!(manage(&new).status.success(), "the new one manages the swarm: {}", String::from_utf8_lossy(&manage(&new).stderr));
    let listed = docker_env::tenant_docker(&user, &api, &["node", "ls"]);
    assert!(listed.status.success(), "users' certificates keep working: {}", String::from_utf8_lossy(&listed.stderr));
    // The conductor works on with the new certificate: a resize, and the bay HEALTHY.
    let r = c.patch("/v1/clusters/rotated", &json!([{"op": "replace", "path": "/node_count", "value": 2}])).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (grown, _) = settle(&c, "/v1/clusters/rotated").await;
    assert_eq!(grown["status"], json!("UPDATE_COMPLETE"), "{grown}");
    assert_eq!(labelled(&engine, &uuid).await, (3, 1, 3));
    wait_health(&c, "/v1/clusters/rotated", "HEALTHY").await;
    assert!(!manage(&old).status.success(), "still refused after another update");
    for dir in [user, old, new] {
        let _ = std::fs::remove_dir_all(dir);
    }

    assert_eq!(c.delete("/v1/clusters/rotated").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/rotated").await;
    env.finish().await;
}

/// Every node container of a bay stopped behind magnum's back (all stopped by hand, or a reboot
/// that did not restart them): the bay, though it did not ask for healing, is started again by
/// itself, its swarm and a container left running with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_bay_whose_nodes_were_all_stopped_starts_again_by_itself() {
    let Some(engine) = engine("docker_a_bay_whose_nodes_were_all_stopped_starts_again_by_itself").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let bay = docker_env::swarm_bay(&c, "stopped", 1).await;
    let uuid = bay["uuid"].as_str().expect("uuid").to_owned();
    let api = bay["api_address"].as_str().expect("api_address").to_owned();
    let spec = json!({"name": "kept", "image": images::WORKLOAD_IMAGE, "command": "sleep 3600", "bay_uuid": "stopped"});
    assert_eq!(c.post("/v1/containers", &spec).await.expect("http").status, 201);
    assert_eq!(c.put("/v1/containers/kept/start", None).await.expect("http").body["status"], json!("Running"));
    wait_health(&c, "/v1/clusters/stopped", "HEALTHY").await;

    let prefix = format!("magnum-{}", &uuid.replace('-', "")[..8]);
    for node in ["master-0", "worker-0"] {
        engine
            .stop_container(&format!("{prefix}-{node}"), None::<bollard::query_parameters::StopContainerOptions>)
            .await
            .expect("stop a node");
    }
    let stopped = Instant::now();
    let back = loop {
        let b = c.get("/v1/clusters/stopped").await.expect("http").body;
        if b["health_status"] == json!("HEALTHY") && b["health_status_reason"]["healed"].as_str().is_some_and(|n| n.contains("all started"))
        {
            break b;
        }
        assert!(stopped.elapsed() < Duration::from_secs(90), "the bay never started again: {b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("every node stopped; the bay HEALTHY again by itself {:.1} s later", stopped.elapsed().as_secs_f64());
    assert_eq!(back["api_address"], json!(api), "the same address");
    assert_eq!(labelled(&engine, &uuid).await, (2, 1, 2), "the same nodes, started, not replaced");
    let creds = user_credentials(&c, &uuid).await;
    let members = swarm_members(&tls_client(&api, &creds)).await;
    assert_eq!(members.iter().filter(|m| m.state == "ready").count(), 2, "the same swarm: {members:?}");
    let t0 = Instant::now();
    while c.get("/v1/containers/kept").await.expect("http").body["status"] != json!("Running") {
        assert!(t0.elapsed() < Duration::from_secs(30), "the container left running never ran again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = std::fs::remove_dir_all(&creds);

    assert_eq!(c.delete("/v1/clusters/stopped").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/stopped").await;
    assert_eq!(labelled(&engine, &uuid).await, (0, 0, 0));
    env.finish().await;
}

/// Polls the bay until it is HEALTHY with a new `healed` note (not `before`) naming `node`;
/// returns the bay and the seconds it took.
async fn healed(c: &Client, path: &str, node: &str, before: &Value) -> (Value, f64) {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        let note = &body["health_status_reason"]["healed"];
        if body["health_status"] == json!("HEALTHY") && note != before && note.as_str().is_some_and(|n| n.contains(node)) {
            return (body, started.elapsed().as_secs_f64());
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{node} was never healed: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A bay labelled auto_healing_enabled=true gets a worker that was stopped, and then one that
/// was removed, made again under the same name, and a stopped manager started again with its
/// swarm; the bay says what it healed and when. A bay without the label only reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_auto_healing_replaces_failed_nodes_and_says_so() {
    let Some(engine) = engine("docker_auto_healing_replaces_failed_nodes_and_says_so").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let r = c.post("/v1/clustertemplates", &json!({"name": "heal", "coe": "swarm-mode", "image_id": images::NODE_IMAGE})).await;
    assert_eq!(r.expect("http").status, 201);
    let body = json!({"name": "healing", "cluster_template_id": "heal", "node_count": 1, "labels": {"auto_healing_enabled": "true"}});
    let r = c.post("/v1/clusters", &body).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let uuid = r.body["uuid"].as_str().expect("uuid").to_owned();
    let (shown, _) = settle(&c, "/v1/clusters/healing").await;
    assert_eq!(shown["status"], json!("CREATE_COMPLETE"), "{shown}");
    let plain = docker_env::swarm_bay(&c, "plain", 1).await;
    let prefix = |bay: &str| format!("magnum-{}", &bay.replace('-', "")[..8]);
    let (worker, manager) = (format!("{}-worker-0", prefix(&uuid)), format!("{}-master-0", prefix(&uuid)));
    wait_health(&c, "/v1/clusters/healing", "HEALTHY").await;
    let id_of = |name: String| {
        let engine = engine.clone();
        async move { engine.inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>).await.expect("inspect").id }
    };
    let first = id_of(worker.clone()).await;

    // A stopped worker (the engine leaves it stopped: it was stopped on purpose, as far as the
    // engine knows) is made again under its name.
    engine.stop_container(&worker, None::<bollard::query_parameters::StopContainerOptions>).await.expect("stop");
    let (bay, secs) = healed(&c, "/v1/clusters/healing", &worker, &Value::Null).await;
    eprintln!("stopped worker replaced, bay HEALTHY again {secs:.1} s after the stop");
    assert!(bay["health_status_reason"]["healed"].as_str().is_some_and(|n| n.contains("replaced at")), "{bay}");
    assert_ne!(id_of(worker.clone()).await, first, "a fresh container under the same name");
    assert_eq!(bay["status"], json!("CREATE_COMPLETE"), "healing is not an update: {bay}");
    assert_eq!(labelled(&engine, &uuid).await, (2, 1, 2));

    // A removed worker, the same.
    docker::remove_container(&engine, &worker).await.expect("remove");
    let (bay, secs) = healed(&c, "/v1/clusters/healing", &worker, &bay["health_status_reason"]["healed"]).await;
    eprintln!("removed worker replaced, bay HEALTHY again {secs:.1} s after the removal");
    let creds = user_credentials(&c, &uuid).await;
    let swarm = tls_client(shown["api_address"].as_str().expect("api_address"), &creds);
    let members = swarm_members(&swarm).await;
    assert_eq!(
        members.iter().map(|m| (m.host.clone(), m.state.clone())).collect::<Vec<_>>(),
        vec![(manager.clone(), "ready".into()), (worker.clone(), "ready".into())],
        "one swarm of two, the old self forgotten"
    );

    // A stopped manager is started again with its state: the same swarm answers.
    engine.stop_container(&manager, None::<bollard::query_parameters::StopContainerOptions>).await.expect("stop");
    let (_, secs) = healed(&c, "/v1/clusters/healing", &manager, &bay["health_status_reason"]["healed"]).await;
    eprintln!("stopped manager restarted, bay HEALTHY again {secs:.1} s after the stop");
    let swarm = tls_client(shown["api_address"].as_str().expect("api_address"), &creds);
    assert_eq!(swarm_members(&swarm).await.len(), 2, "the swarm kept its members");
    let _ = std::fs::remove_dir_all(&creds);

    // Without the label a stopped worker is only reported.
    let plain_worker = format!("{}-worker-0", prefix(plain["uuid"].as_str().expect("uuid")));
    engine.stop_container(&plain_worker, None::<bollard::query_parameters::StopContainerOptions>).await.expect("stop");
    let sick = wait_health(&c, "/v1/clusters/plain", "UNHEALTHY").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = c.get("/v1/clusters/plain").await.expect("http").body;
    assert_eq!(still["health_status"], json!("UNHEALTHY"), "{sick}");
    assert!(still["health_status_reason"].get("healed").is_none(), "{still}");
    let state = engine.inspect_container(&plain_worker, None::<bollard::query_parameters::InspectContainerOptions>).await.expect("inspect");
    assert_eq!(state.state.and_then(|s| s.running), Some(false), "left as it was");

    for name in ["healing", "plain"] {
        assert_eq!(c.delete(&format!("/v1/clusters/{name}")).await.expect("http").status, 204);
        common::wait_gone(&c, &format!("/v1/clusters/{name}")).await;
    }
    assert_eq!(labelled(&engine, &uuid).await, (0, 0, 0));
    env.finish().await;
}

/// How many of the service's tasks run, as the tenant's docker CLI sees them through the
/// bay's API; None when the swarm cannot say (its manager is being replaced: no answer, or,
/// while it loads its state, an answer that lists no task at all).
fn running_tasks(creds: &std::path::Path, api: &str, service: &str) -> Option<usize> {
    let args = ["service", "ps", service, "--filter", "desired-state=running", "--format", "{{.CurrentState}}"];
    let out = docker_env::tenant_docker(creds, api, &args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && text.lines().count() > 0).then(|| text.lines().filter(|l| l.starts_with("Running")).count())
}

/// How many of the service's task containers run on the bay's nodes, asked of each node's own
/// engine (what runs, whatever the swarm's manager, itself being replaced, reports).
async fn running_replicas(engine: &bollard::Docker, creds: &std::path::Path, nodes: &[String], service: &str) -> usize {
    let filters = std::collections::HashMap::from([
        ("label".to_owned(), vec![format!("com.docker.swarm.service.name={service}")]),
        ("status".to_owned(), vec!["running".to_owned()]),
    ]);
    let mut running = 0;
    for node in nodes {
        let Ok(c) = engine.inspect_container(node, None::<bollard::query_parameters::InspectContainerOptions>).await else { continue };
        let port =
            c.network_settings.and_then(|n| n.ports).and_then(|p| p.get("2376/tcp").cloned().flatten()).and_then(|b| b.first().cloned());
        let Some(port) = port.and_then(|b| b.host_port) else { continue };
        let d = tls_client(&format!("tcp://127.0.0.1:{port}"), creds);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new().filters(&filters).build();
        if let Ok(Ok(list)) = tokio::time::timeout(Duration::from_secs(2), d.list_containers(Some(options))).await {
            running += list.len();
        }
    }
    running
}

/// An upgrade of a 1+2 swarm bay to a template with another node image: every node is made
/// again from it one at a time (the manager first) keeping its name, address and volume, a
/// replicated service keeps running throughout, and the bay's template changes at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_swarm_upgrade_replaces_nodes_in_batches_while_a_service_keeps_running() {
    let Some(engine) = engine("docker_swarm_upgrade_replaces_nodes_in_batches_while_a_service_keeps_running").await else { return };
    // Another node image: the node image with one more label, so another image id.
    let (repo, tag) = ("magnum-test/swarm-node", "upgraded");
    let v2 = format!("{repo}:{tag}");
    let body = bollard::models::ContainerCreateBody { image: Some(images::NODE_IMAGE.into()), ..Default::default() };
    let made =
        engine.create_container(None::<bollard::query_parameters::CreateContainerOptions>, body).await.expect("a container to commit");
    let options = bollard::query_parameters::CommitContainerOptionsBuilder::new().container(&made.id).repo(repo).tag(tag).build();
    let labels = std::collections::HashMap::from([("org.openstack.magnum.test".to_owned(), "upgraded".to_owned())]);
    let config = bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() };
    engine.commit_container(options, config).await.expect("commit the upgraded node image");
    docker::remove_container(&engine, &made.id).await.expect("cleanup");

    let env = env_with_docker().await;
    let c = env.member("tenant");
    let before = docker_env::swarm_bay(&c, "up", 2).await;
    let uuid = before["uuid"].as_str().expect("uuid").to_owned();
    let api = before["api_address"].as_str().expect("api_address").to_owned();
    let started = Instant::now();
    let t2 = loop {
        // The conductor reports the engine's images; the API asks it again for one it lacks.
        let r = c.post("/v1/clustertemplates", &json!({"name": "up2", "coe": "swarm-mode", "image_id": v2})).await.expect("http");
        if r.status == 201 || started.elapsed() > Duration::from_secs(20) {
            assert_eq!(r.status, 201, "{}", r.text);
            break r.body["uuid"].as_str().expect("uuid").to_owned();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let creds = user_credentials(&c, &uuid).await;
    // One replica per node: whichever node goes, the others run theirs.
    let args = ["service", "create", "--detach", "--no-resolve-image", "--endpoint-mode", "dnsrr", "--replicas", "3", "--name", "hello"];
    let mut args = args.to_vec();
    args.extend([images::WORKLOAD_IMAGE, "sleep", "3600"]);
    let out = docker_env::tenant_docker(&creds, &api, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t0 = Instant::now();
    while running_tasks(&creds, &api, "hello") != Some(3) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the service never ran");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let ids = |names: Vec<String>| {
        let engine = engine.clone();
        async move {
            let mut out = vec![];
            for n in names {
                let c = engine.inspect_container(&n, None::<bollard::query_parameters::InspectContainerOptions>).await.expect("inspect");
                out.push((c.id.unwrap_or_default(), c.config.and_then(|c| c.image).unwrap_or_default()));
            }
            out
        }
    };
    let prefix = format!("magnum-{}", &uuid.replace('-', "")[..8]);
    let names: Vec<String> = ["master-0", "worker-0", "worker-1"].iter().map(|n| format!("{prefix}-{n}")).collect();
    let old = ids(names.clone()).await;

    let v8 = c.clone().microversion("1.8");
    let started = Instant::now();
    let r = v8
        .post(&format!("/v1/clusters/{uuid}/actions/upgrade"), &json!({"cluster_template": "up2", "max_batch_size": 1}))
        .await
        .expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (mut fewest, mut asked) = (usize::MAX, 0);
    let done = loop {
        let n = running_replicas(&engine, &creds, &names, "hello").await;
        (fewest, asked) = (fewest.min(n), asked + 1);
        let bay = c.get("/v1/clusters/up").await.expect("http").body;
        if !bay["status"].as_str().unwrap_or_default().ends_with("IN_PROGRESS") {
            break bay;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "the upgrade never ended: {bay}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(done["status"], json!("UPDATE_COMPLETE"), "{done}");
    eprintln!(
        "1+2 bay upgraded one node at a time in {:.1} s ({:.1} s a node); the service kept at least {fewest} of 3 tasks running over {asked} looks",
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() / 3.0
    );
    assert!(fewest >= 1 && asked > 0, "the service kept running: at least {fewest} task over {asked} looks");
    assert_eq!(done["cluster_template_id"], json!(t2), "the template changes on success");
    let new = ids(names.clone()).await;
    for ((old_id, _), (new_id, image)) in old.iter().zip(&new) {
        assert_ne!(old_id, new_id, "every node was made again");
        assert_eq!(image, &v2, "from the new image");
    }
    assert_eq!(labelled(&engine, &uuid).await, (3, 1, 3), "the same volumes, nothing left over");
    let swarm = tls_client(&api, &creds);
    let members = swarm_members(&swarm).await;
    assert_eq!(members.iter().filter(|m| m.state == "ready").count(), 3, "the same swarm of three: {members:?}");
    let t0 = Instant::now();
    while running_tasks(&creds, &api, "hello") != Some(3) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the service's 3 tasks never ran again");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Upgrading to the template it now has is done at once.
    let r = v8.post(&format!("/v1/clusters/{uuid}/actions/upgrade"), &json!({"cluster_template": "up2"})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(c.get("/v1/clusters/up").await.expect("http").body["status"], json!("UPDATE_COMPLETE"));
    let _ = std::fs::remove_dir_all(&creds);

    assert_eq!(c.delete("/v1/clusters/up").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/up").await;
    assert_eq!(labelled(&engine, &uuid).await, (0, 0, 0));
    assert_eq!(c.delete("/v1/clustertemplates/up2").await.expect("http").status, 204);
    let _ = engine.remove_image(&v2, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    env.finish().await;
}

/// A create that failed (its manager froze, so the swarm never formed in time) is retried by
/// setting the node count again, and completes on the nodes that exist: none made twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_failed_create_is_retried_to_completion() {
    let Some(engine) = engine("docker_a_failed_create_is_retried_to_completion").await else { return };
    let env = Env::start_with(Backend::Sqlite, |c| {
        c.docker.enabled = true;
        c.docker.url = ENGINE.into();
        c.docker.node_timeout = 15;
        c.conductor.health_interval = 1;
    })
    .await
    .expect("server");
    let c = env.member("tenant");
    let r = c.post("/v1/clustertemplates", &json!({"name": "swarm", "coe": "swarm-mode", "image_id": images::NODE_IMAGE})).await;
    assert_eq!(r.expect("http").status, 201);
    let r = c.post("/v1/clusters", &json!({"name": "again", "cluster_template_id": "swarm", "node_count": 1})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let bay = r.body["uuid"].as_str().expect("uuid").to_owned();

    // The manager freezes as soon as it runs.
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("{LABEL_BAY}={bay}"), format!("{}=master", docker::LABEL_ROLE)],
    )]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::new().filters(&filters).build();
    let started = Instant::now();
    let manager = loop {
        if let Some(id) = engine.list_containers(Some(options.clone())).await.expect("list").into_iter().find_map(|c| c.id) {
            break id;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the manager never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    engine.pause_container(&manager).await.expect("pause the manager");
    let (failed, _) = settle(&c, "/v1/clusters/again").await;
    assert_eq!(failed["status"], json!("CREATE_FAILED"), "{failed}");
    assert!(failed["status_reason"].as_str().is_some_and(|r| !r.is_empty()), "a failed create says why: {failed}");
    let partial = labelled(&engine, &bay).await;

    engine.unpause_container(&manager).await.expect("unpause the manager");
    let r = c.patch("/v1/clusters/again", &json!([{"op": "replace", "path": "/node_count", "value": 1}])).await.expect("http");
    assert_eq!(r.status, 202, "setting the node count of a failed create again retries it: {}", r.text);
    let (done, secs) = settle(&c, "/v1/clusters/again").await;
    assert_eq!(done["status"], json!("UPDATE_COMPLETE"), "{done}");
    eprintln!("create failed with {partial:?} (containers, networks, volumes); the retry completed in {secs:.1} s");
    assert!(done["status_reason"].is_null(), "the old reason is gone: {done}");
    assert_eq!(done["node_addresses"].as_array().map(Vec::len), Some(1), "{done}");
    assert_eq!(labelled(&engine, &bay).await, (2, 1, 2), "one manager and one worker, their network and volumes: none made twice");
    let creds = user_credentials(&c, &bay).await;
    let swarm = tls_client(done["api_address"].as_str().expect("api_address"), &creds);
    assert_eq!(swarm_members(&swarm).await.iter().filter(|m| m.state == "ready").count(), 2, "both nodes in one swarm");
    let _ = std::fs::remove_dir_all(&creds);
    wait_health(&c, "/v1/clusters/again", "HEALTHY").await;

    assert_eq!(c.delete("/v1/clusters/again").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/again").await;
    assert_eq!(labelled(&engine, &bay).await, (0, 0, 0));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_tls_disabled_bay_serves_plain_tcp_and_refuses_ca_rotation() {
    let Some(engine) = engine("docker_tls_disabled_bay_serves_plain_tcp_and_refuses_ca_rotation").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    c.post("/v1/clustertemplates", &json!({"name": "plain", "coe": "swarm", "image_id": images::NODE_IMAGE, "tls_disabled": true}))
        .await
        .expect("http");
    let r = c.post("/v1/clusters", &json!({"name": "p", "cluster_template_id": "plain", "node_count": 1})).await.expect("http");
    let bay = r.body["uuid"].as_str().expect("uuid").to_owned();
    let (shown, _) = settle(&c, "/v1/clusters/p").await;
    assert_eq!(shown["status"], json!("CREATE_COMPLETE"), "{shown}");
    let plain = docker::connect(shown["api_address"].as_str().expect("api"), 30).expect("client");
    assert_eq!(swarm_members(&plain).await.len(), 2);
    assert_error(&c.patch(&format!("/v1/certificates/{bay}"), &json!([])).await.expect("http"), 400, "disables TLS");
    assert_eq!(c.delete("/v1/clusters/p").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/p").await;
    assert_eq!(labelled(&engine, &bay).await, (0, 0, 0));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_create_timeout_fails_the_bay_and_cleans_up() {
    let Some(engine) = engine("docker_create_timeout_fails_the_bay_and_cleans_up").await else { return };
    // A "node image" whose nodes never answer: busybox sleeping instead of running dockerd.
    let sleeper = "magnum-test/sleeper:latest";
    let body = bollard::models::ContainerCreateBody { image: Some(images::WORKLOAD_IMAGE.into()), ..Default::default() };
    let made =
        engine.create_container(None::<bollard::query_parameters::CreateContainerOptions>, body).await.expect("a container to commit");
    let options = bollard::query_parameters::CommitContainerOptionsBuilder::new()
        .container(&made.id)
        .repo("magnum-test/sleeper")
        .tag("latest")
        .build();
    let config = bollard::models::ContainerConfig {
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), "sleep 3600".into()]),
        ..Default::default()
    };
    engine.commit_container(options, config).await.expect("commit the sleeper image");
    docker::remove_container(&engine, &made.id).await.expect("cleanup");
    let env = Env::start_with(Backend::Sqlite, |c| {
        c.docker.enabled = true;
        c.docker.url = ENGINE.into();
        c.docker.node_timeout = 600; // longer than create_timeout: the timeout must come from create_timeout
        c.conductor.health_interval = 1;
    })
    .await
    .expect("server");
    let c = env.member("tenant");
    let r = c
        .post("/v1/clustertemplates", &json!({"name": "slow", "coe": "swarm", "image_id": sleeper, "tls_disabled": true}))
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let r = c
        .post("/v1/clusters", &json!({"name": "late", "cluster_template_id": "slow", "node_count": 1, "create_timeout": 1}))
        .await
        .expect("http");
    let bay = r.body["uuid"].as_str().expect("uuid").to_owned();
    let (shown, secs) = settle(&c, "/v1/clusters/late").await;
    assert_eq!(shown["status"], json!("CREATE_FAILED"), "{shown}");
    assert!(shown["status_reason"].as_str().is_some_and(|r| r.contains("timed out after 1 minutes")), "{shown}");
    assert!((55.0..120.0).contains(&secs), "failed after {secs:.0} s, for a 1-minute create_timeout");
    assert_eq!(labelled(&engine, &bay).await, (0, 0, 0), "a timed-out create leaves nothing behind");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_remote_engine_over_tcp_and_tls() {
    let Some(local) = engine("docker_remote_engine_over_tcp_and_tls").await else { return };
    let dir =
        std::path::PathBuf::from(std::env::var("MAGNUM_TEST_ENGINE_TLS_DIR").unwrap_or_else(|_| "/var/lib/magnum-rs/engine-tls".into()));
    if !dir.join("client-key.pem").exists() {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("no TLS endpoint certificates in {}: run scripts/start-docker.sh", dir.display());
        }
        eprintln!("\n*** SKIPPED docker_remote_engine_over_tcp_and_tls: no {} (scripts/start-docker.sh makes it). ***\n", dir.display());
        return;
    }
    // The same engine, reached as a remote one: TCP with mutual TLS.
    let env = Env::start_with(Backend::Sqlite, |c| {
        c.docker.enabled = true;
        c.docker.url = "tcp://127.0.0.1:2376".into();
        c.docker.tls_ca_file = Some(dir.join("ca.pem"));
        c.docker.tls_cert_file = Some(dir.join("client-cert.pem"));
        c.docker.tls_key_file = Some(dir.join("client-key.pem"));
        c.docker.publish_address = "127.0.0.1".into();
    })
    .await
    .expect("server");
    let c = env.member("tenant");
    let r = c
        .post("/v1/clustertemplates", &json!({"name": "remote", "coe": "swarm", "image_id": images::NODE_IMAGE, "tls_disabled": true}))
        .await
        .expect("http");
    assert_eq!(r.status, 201, "the image check works through the remote engine: {}", r.text);
    let r = c.post("/v1/clusters", &json!({"name": "r", "cluster_template_id": "remote", "node_count": 1})).await.expect("http");
    let bay = r.body["uuid"].as_str().expect("uuid").to_owned();
    let (shown, _) = settle(&c, "/v1/clusters/r").await;
    assert_eq!(shown["status"], json!("CREATE_COMPLETE"), "{shown}");
    assert_eq!(labelled(&local, &bay).await.0, 2, "the nodes run on the engine reached over TCP+TLS");
    assert_eq!(c.delete("/v1/clusters/r").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/r").await;
    assert_eq!(labelled(&local, &bay).await, (0, 0, 0));
    env.finish().await;
}

/// Posts a Kubernetes template naming `image` until the answer's detail contains `want`.
async fn template_refused_with(c: &Client, image: &str, want: &str) {
    let started = Instant::now();
    loop {
        let r = c.post("/v1/clustertemplates", &json!({"coe": "kubernetes", "image_id": image})).await.expect("http");
        assert_eq!(r.status, 400, "{}", r.text);
        if r.text.contains(want) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "never refused with '{want}': {}", r.text);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_an_image_being_built_is_announced_not_missing() {
    let Some(_engine) = engine("docker_an_image_being_built_is_announced_not_missing").await else { return };
    let dir = std::env::temp_dir().join(format!("magnum-builds-{}", uuid::Uuid::new_v4().simple()));
    let data_dir = dir.clone();
    let env = Env::start_with(Backend::Sqlite, move |c| {
        c.docker.enabled = true;
        c.docker.url = ENGINE.into();
        c.conductor.health_interval = 1;
        c.data_dir = data_dir;
    })
    .await
    .expect("server");
    let c = env.member("tenant");
    let image = "magnum/kubernetes-node:v0-being-built";
    // `magnum-server node-image announce-build` writes this file: the image, then the builder's pid.
    let builds = dir.join("image-builds");
    std::fs::create_dir_all(&builds).expect("dir");
    let marker = builds.join("magnum_kubernetes-node_v0-being-built");
    std::fs::write(&marker, format!("{image}\n{}\n", std::process::id())).expect("marker");
    template_refused_with(&c, image, "is being built").await;
    // The build ended without producing the image: then it is simply missing.
    std::fs::remove_file(&marker).expect("remove");
    template_refused_with(&c, image, "is not on the Docker engine").await;
    // A builder that died leaves no claim: its announcement is ignored and cleared.
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let dead = gone.id();
    gone.wait().expect("wait");
    std::fs::write(&marker, format!("{image}\n{dead}\n")).expect("marker");
    template_refused_with(&c, image, "is not on the Docker engine").await;
    let started = Instant::now();
    while marker.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "the dead builder's announcement is removed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_an_image_loaded_a_moment_ago_is_accepted_at_once() {
    let Some(engine) = engine("docker_an_image_loaded_a_moment_ago_is_accepted_at_once").await else { return };
    // Health ticks an hour apart: the stored report of the engine's images is the first tick's.
    let env = Env::start_with(Backend::Sqlite, |c| {
        c.docker.enabled = true;
        c.docker.url = ENGINE.into();
        c.conductor.health_interval = 3600;
    })
    .await
    .expect("server");
    let c = env.member("tenant");
    let image = format!("magnum/fresh-node:{}", uuid::Uuid::new_v4().simple());
    // The first tick's report is in once an image it saw is accepted.
    let started = Instant::now();
    loop {
        let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm-mode", "image_id": images::NODE_IMAGE})).await.expect("http");
        if r.status == 201 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the engine's images were never reported: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (repo, tag) = image.split_once(':').expect("tag");
    engine
        .tag_image(images::NODE_IMAGE, Some(bollard::query_parameters::TagImageOptions { repo: Some(repo.into()), tag: Some(tag.into()) }))
        .await
        .expect("tag the node image anew");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm-mode", "image_id": image})).await.expect("http");
    assert_eq!(r.status, 201, "an image loaded a moment ago is accepted at once: {}", r.text);
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm-mode", "image_id": "magnum/never-loaded:1"})).await.expect("http");
    assert!(r.status == 400 && r.text.contains("is not on the Docker engine"), "{}", r.text);
    let _ = engine.remove_image(&image, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    env.finish().await;
}
