//! The provider's Docker engine restarts under a running bay (what a reboot of the machine does
//! to it): the bay comes back by itself, at the same address with the same certificates, its
//! swarm services run again, and so do the Container-API containers that were running, while
//! those their owner stopped or that ended by themselves stay stopped; a Kubernetes bay beside it
//! comes back too, its pod running again (needs a Docker engine started by
//! scripts/start-docker.sh, which this test stops and starts again, and the Kubernetes binaries
//! of scripts/build-kubernetes.sh in MAGNUM_TEST_KUBERNETES_BIN; it is alone in its test binary
//! so nothing else runs meanwhile).

mod common;
mod docker_env;
use docker_env::{engine, env_with_docker, settle, swarm_bay, tenant_docker, user_credentials, user_credentials_as};
use magnum_client::Client;
use magnum_drivers::docker::images;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn docker_as(creds: &Path, api: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&tenant_docker(creds, api, args).stdout).into_owned()
}

async fn running_tasks(creds: &Path, api: &str, want: usize) {
    let started = Instant::now();
    loop {
        let out = docker_as(creds, api, &["service", "ps", "hello", "--filter", "desired-state=running", "--format", "{{.CurrentState}}"]);
        if out.lines().filter(|l| l.starts_with("Running")).count() == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the service's {want} tasks never ran: {out}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Polls a Container-API container until the API shows `want`; returns the seconds it took.
async fn container_becomes(c: &Client, name: &str, want: &str, limit: Duration) -> f64 {
    let started = Instant::now();
    loop {
        let body: Value = c.get(&format!("/v1/containers/{name}")).await.expect("http").body;
        if body["status"] == json!(want) {
            return started.elapsed().as_secs_f64();
        }
        assert!(started.elapsed() < limit, "container {name} never became {want}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Container-API container `name` running `command` on bay "bay", started; stopped again when
/// `stop`.
async fn container(c: &Client, name: &str, command: &str, stop: bool) {
    let spec = json!({"name": name, "image": images::WORKLOAD_IMAGE, "command": command, "bay_uuid": "bay"});
    let r = c.post("/v1/containers", &spec).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let r = c.put(&format!("/v1/containers/{name}/start"), None).await.expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    if stop {
        let r = c.put(&format!("/v1/containers/{name}/stop"), None).await.expect("http");
        assert_eq!((r.status, r.body["status"].clone()), (200, json!("Stopped")), "{}", r.text);
    }
}

/// A 1+1 Kubernetes bay "kb" running the pod "sleeper", and a kubeconfig of its owner's.
struct KubeBay {
    bin: std::path::PathBuf,
    kubeconfig: std::path::PathBuf,
    creds: std::path::PathBuf,
}

impl KubeBay {
    async fn make(c: &Client, engine: &bollard::Docker, bin: std::path::PathBuf) -> KubeBay {
        magnum_drivers::kubernetes::bay::image::build(engine, &bin).await.expect("the Kubernetes node image");
        let image = magnum_drivers::kubernetes::bay::image::NODE_IMAGE;
        let t = c.post("/v1/clustertemplates", &json!({"name": "k8s", "coe": "kubernetes", "image_id": image})).await.expect("http");
        assert_eq!(t.status, 201, "{}", t.text);
        let r = c.post("/v1/clusters", &json!({"name": "kb", "cluster_template_id": "k8s", "node_count": 1})).await.expect("http");
        assert_eq!(r.status, 202, "{}", r.text);
        let (kb, _) = settle(c, "/v1/clusters/kb").await;
        assert_eq!(kb["status"], json!("CREATE_COMPLETE"), "{kb}");
        let creds = user_credentials_as(c, kb["uuid"].as_str().expect("uuid"), "owner", Some("system:masters")).await;
        let path = |f: &str| creds.join(f).display().to_string();
        let config = json!({"apiVersion": "v1", "kind": "Config", "current-context": "kb",
            "clusters": [{"name": "kb", "cluster": {"server": kb["api_address"], "certificate-authority": path("ca.pem")}}],
            "users": [{"name": "owner", "user": {"client-certificate": path("cert.pem"), "client-key": path("key.pem")}}],
            "contexts": [{"name": "kb", "context": {"cluster": "kb", "user": "owner"}}]});
        let kubeconfig = creds.join("config");
        std::fs::write(&kubeconfig, config.to_string()).expect("kubeconfig");
        let manifest = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
            "spec": {"containers": [{"name": "sleeper", "image": images::WORKLOAD_IMAGE, "command": ["sleep", "3600"]}]}});
        let r = c.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": manifest.to_string()})).await.expect("http");
        assert_eq!(r.status, 201, "{}", r.text);
        let bay = KubeBay { bin, kubeconfig, creds };
        bay.sleeper_started_after(None, Duration::from_secs(60)).await;
        bay
    }

    /// When the pod's container last started, once it runs (and started after `after`).
    async fn sleeper_started_after(&self, after: Option<&str>, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let out = Command::new(self.bin.join("kubectl"))
                .env("KUBECONFIG", &self.kubeconfig)
                .args(["get", "pod", "sleeper", "-o", "jsonpath={.status.containerStatuses[0].state.running.startedAt}"])
                .output()
                .expect("kubectl");
            let at = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            // RFC 3339 in UTC with seconds: text order is time order.
            if !at.is_empty() && after.is_none_or(|a| at.as_str() > a) {
                return at;
            }
            assert!(started.elapsed() < limit, "the pod never ran (again): {at} {}", String::from_utf8_lossy(&out.stderr));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_bay_comes_back_by_itself_after_the_engine_restarts() {
    let Some(engine) = engine("docker_a_bay_comes_back_by_itself_after_the_engine_restarts").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant");
    let before = swarm_bay(&c, "bay", 1).await;
    let bay = before["uuid"].as_str().expect("uuid").to_owned();
    let api = before["api_address"].as_str().expect("api_address").to_owned();
    let creds = user_credentials(&c, &bay).await;
    docker_as(
        &creds,
        &api,
        &[
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--endpoint-mode",
            "dnsrr",
            "--replicas",
            "2",
            "--name",
            "hello",
            images::WORKLOAD_IMAGE,
            "sleep",
            "3600",
        ],
    );
    running_tasks(&creds, &api, 2).await;
    container(&c, "kept", "sleep 3600", false).await;
    container(&c, "stopped", "sleep 3600", true).await;
    container(&c, "ended", "true", false).await;
    // The conductor's look finds it ended by itself while its node ran.
    container_becomes(&c, "ended", "Stopped", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A Kubernetes bay beside it, its pod running.
    let kube = match std::env::var("MAGNUM_TEST_KUBERNETES_BIN").ok().filter(|b| !b.is_empty()) {
        Some(bin) => Some(KubeBay::make(&c, &engine, bin.into()).await),
        None if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("MAGNUM_TEST_KUBERNETES_BIN is unset but MAGNUM_REQUIRE_SERVICES=1: run scripts/build-kubernetes.sh")
        }
        None => {
            eprintln!("\n*** the Kubernetes half of this test is SKIPPED: MAGNUM_TEST_KUBERNETES_BIN is unset ***\n");
            None
        }
    };
    let pod_started = match &kube {
        Some(k) => Some(k.sleeper_started_after(None, Duration::from_secs(10)).await),
        None => None,
    };

    // The engine stops (taking every node with it) and starts again.
    drop(engine);
    let stopped = Command::new("pkill").args(["-x", "dockerd"]).status().expect("pkill");
    assert!(stopped.success(), "this test stops the engine scripts/start-docker.sh started");
    let started = Instant::now();
    while Command::new("pgrep").args(["-x", "dockerd"]).output().is_ok_and(|o| o.status.success()) {
        assert!(started.elapsed() < Duration::from_secs(60), "dockerd did not stop");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-docker.sh");
    let again = Command::new("bash").arg(&script).output().expect("scripts/start-docker.sh");
    assert!(again.status.success(), "the engine starts again: {}", String::from_utf8_lossy(&again.stderr));
    let back = Instant::now();

    // No one asks anything of magnum: the bay is HEALTHY again once its nodes are back.
    let mut seen = json!(null);
    while back.elapsed() < Duration::from_secs(90) {
        seen = c.get("/v1/clusters/bay").await.expect("http").body;
        let nodes = c.get(&format!("/v1/nodes?cluster_uuid={bay}")).await.expect("http").body;
        let all_ready = nodes["nodes"].as_array().is_some_and(|n| n.len() == 2 && n.iter().all(|n| n["status"] == json!("Ready")));
        let swarm = docker_as(&creds, &api, &["node", "ls", "--format", "{{.Status}}"]);
        if seen["health_status"] == json!("HEALTHY") && all_ready && swarm.lines().filter(|l| *l == "Ready").count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(seen["health_status"], json!("HEALTHY"), "{seen}");
    eprintln!("bay HEALTHY, its swarm's 2 nodes Ready, {:.1} s after the engine answered again", back.elapsed().as_secs_f64());
    assert_eq!(seen["api_address"], json!(api), "the same address");
    assert_eq!(seen["status"], json!("CREATE_COMPLETE"), "{seen}");
    // The same certificates: the user's old client certificate still works, and the swarm
    // runs its service's tasks again.
    running_tasks(&creds, &api, 2).await;
    // The container left running runs again; the stopped one and the one that ended stay so.
    let secs = container_becomes(&c, "kept", "Running", Duration::from_secs(60)).await;
    eprintln!("the Container-API container running before is Running again {:.1} s after the bay was HEALTHY", secs);
    let out = c.put("/v1/containers/kept/execute?command=true", None).await.expect("http");
    assert_eq!((out.status, out.body["exit_code"].clone()), (200, json!(0)), "it really runs: {}", out.text);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for name in ["stopped", "ended"] {
        let body = c.get(&format!("/v1/containers/{name}")).await.expect("http").body;
        assert_eq!(body["status"], json!("Stopped"), "{name} stays stopped: {body}");
    }

    if let (Some(k), Some(before)) = (&kube, &pod_started) {
        let kb = c.get("/v1/clusters/kb").await.expect("http").body;
        let mut seen = kb.clone();
        while seen["health_status"] != json!("HEALTHY") {
            assert!(back.elapsed() < Duration::from_secs(120), "the Kubernetes bay never came back: {seen}");
            tokio::time::sleep(Duration::from_millis(250)).await;
            seen = c.get("/v1/clusters/kb").await.expect("http").body;
        }
        eprintln!("the Kubernetes bay HEALTHY {:.1} s after the engine answered again", back.elapsed().as_secs_f64());
        assert_eq!(seen["api_address"], kb["api_address"], "the same address");
        let again = k.sleeper_started_after(Some(before), Duration::from_secs(120)).await;
        eprintln!("its pod running again (started {again}, was {before}), {:.1} s after the engine answered", back.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&k.creds);
        assert_eq!(c.delete("/v1/clusters/kb").await.expect("http").status, 204);
        common::wait_gone(&c, "/v1/clusters/kb").await;
    }
    let _ = std::fs::remove_dir_all(&creds);
    assert_eq!(c.delete("/v1/clusters/bay").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/bay").await;
    env.finish().await;
}
