//! A bay's owner holds the keys to the bay's Docker API (ca-sign hands them out by design) and
//! can still run only what Docker runs by default: every way out of that confinement is tried
//! here as a tenant would try it, and refused with a reason, while ordinary workloads run (needs
//! a Docker engine: scripts/start-docker.sh).

mod common;
mod docker_env;
use docker_env::{engine, env_with_docker, swarm_bay, tenant_docker, user_credentials};
use magnum_drivers::docker::images::WORKLOAD_IMAGE;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bay's Docker API as the tenant reaches it: raw requests (to send exactly the bodies a
/// tool would not) and the docker CLI.
struct NodeApi {
    http: reqwest::Client,
    base: String,
    api: String,
    creds: PathBuf,
}

impl NodeApi {
    fn new(api: &str, creds: &Path) -> NodeApi {
        let read = |f: &str| std::fs::read_to_string(creds.join(f)).expect("credential file");
        let identity = reqwest::Identity::from_pem(format!("{}\n{}", read("cert.pem"), read("key.pem")).as_bytes()).expect("identity");
        let ca = reqwest::Certificate::from_pem(read("ca.pem").as_bytes()).expect("ca");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(identity)
            .build()
            .expect("client");
        NodeApi { http, base: api.replace("tcp://", "https://"), api: api.to_owned(), creds: creds.to_owned() }
    }

    async fn send(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b.to_owned());
        }
        let resp = req.send().await.expect("the node's API answers");
        (resp.status().as_u16(), resp.text().await.unwrap_or_default())
    }

    /// `docker args...` with the tenant's certificate: (success, stdout, stderr).
    fn docker(&self, args: &[&str]) -> (bool, String, String) {
        let out = tenant_docker(&self.creds, &self.api, args);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// What runs a shell in a default container on the node: its output.
fn in_default_container(node: &NodeApi, script: &str) -> String {
    let (ok, out, err) = node.docker(&["run", "--rm", WORKLOAD_IMAGE, "sh", "-c", script]);
    assert!(ok, "a default container runs: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_tenant_cannot_leave_the_default_confinement_of_its_swarm_bay() {
    let Some(engine) = engine("docker_a_tenant_cannot_leave_the_default_confinement_of_its_swarm_bay").await else { return };
    let env = env_with_docker().await;
    let c = env.member("tenant").microversion("latest");
    let shown = swarm_bay(&c, "bay", 0).await;
    let bay = shown["uuid"].as_str().expect("uuid").to_owned();
    let node_ip = shown["master_addresses"][0].as_str().expect("address").to_owned();
    let creds = user_credentials(&c, &bay).await;
    let node = NodeApi::new(shown["api_address"].as_str().expect("api_address"), &creds);

    // Ordinary workloads run: a container with a published port and a named volume, and a
    // swarm service.
    let (ok, _, err) = node.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "18080:8080",
        "-v",
        "site:/www",
        WORKLOAD_IMAGE,
        "sh",
        "-c",
        "echo hello from a confined container > /www/index.html; exec httpd -f -p 8080 -h /www",
    ]);
    assert!(ok, "docker run -d -p: {err}");
    let mut answer = String::new();
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(format!("http://{node_ip}:18080/")).await {
            answer = r.text().await.unwrap_or_default();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answer.trim(), "hello from a confined container", "the published port answers");
    let (ok, _, err) = node.docker(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--endpoint-mode",
        "dnsrr",
        "--name",
        "worker",
        WORKLOAD_IMAGE,
        "sleep",
        "600",
    ]);
    assert!(ok, "docker service create: {err}");

    // Every way out is refused by the node's engine with a 403 that says what and why.
    let nodes: Value = serde_json::from_str(&node.send("GET", "/v1.41/nodes", None).await.1).expect("nodes");
    let node_id = nodes[0]["ID"].as_str().expect("node id").to_owned();
    let version = nodes[0]["Version"]["Index"].as_u64().expect("version");
    let create = |host: &str| format!(r#"{{"Image":"{WORKLOAD_IMAGE}","Cmd":["true"],"HostConfig":{host}}}"#);
    let service = |spec: &str| format!(r#"{{"Name":"escape","TaskTemplate":{{"ContainerSpec":{{"Image":"{WORKLOAD_IMAGE}",{spec}}}}}}}"#);
    let containers = "/v1.41/containers/create";
    let refusals: Vec<(&str, &str, String, Option<String>, &str)> = vec![
        ("privileged mode", "POST", containers.into(), Some(create(r#"{"Privileged":true}"#)), "privileged mode is refused"),
        ("privileged, in lower case", "POST", containers.into(), Some(create(r#"{"privileged":true}"#)), "privileged mode is refused"),
        ("a field given twice", "POST", containers.into(), Some(create(r#"{"Privileged":false,"privileged":true}"#)), "more than once"),
        ("an added capability", "POST", containers.into(), Some(create(r#"{"CapAdd":["SYS_ADMIN"]}"#)), "capability 'SYS_ADMIN'"),
        ("the node's root as a bind", "POST", containers.into(), Some(create(r#"{"Binds":["/:/node"]}"#)), "node path '/'"),
        (
            "a bind mount",
            "POST",
            containers.into(),
            Some(create(r#"{"Mounts":[{"Type":"bind","Source":"/","Target":"/node"}]}"#)),
            "'bind' mount",
        ),
        (
            "a device",
            "POST",
            containers.into(),
            Some(create(r#"{"Devices":[{"PathOnHost":"/dev/kmsg","PathInContainer":"/dev/kmsg","CgroupPermissions":"rwm"}]}"#)),
            "a device",
        ),
        ("the node's network", "POST", containers.into(), Some(create(r#"{"NetworkMode":"host"}"#)), "network namespace"),
        ("the node's processes", "POST", containers.into(), Some(create(r#"{"PidMode":"host"}"#)), "process namespace"),
        (
            "an unconfined seccomp profile",
            "POST",
            containers.into(),
            Some(create(r#"{"SecurityOpt":["seccomp=unconfined"]}"#)),
            "security option",
        ),
        ("unmasked /proc", "POST", containers.into(), Some(create(r#"{"SecurityOpt":["systempaths=unconfined"]}"#)), "security option"),
        (
            "a privileged exec",
            "POST",
            "/v1.41/containers/web/exec".into(),
            Some(r#"{"Cmd":["sh"],"Privileged":true}"#.into()),
            "privileged exec",
        ),
        (
            "a volume binding the node's root",
            "POST",
            "/v1.41/volumes/create".into(),
            Some(r#"{"Name":"root","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#.into()),
            "driver options",
        ),
        (
            "a service binding the node's root",
            "POST",
            "/v1.41/services/create".into(),
            Some(service(r#""Mounts":[{"Type":"bind","Source":"/","Target":"/node"}]"#)),
            "'bind' mount",
        ),
        (
            "a service with an added capability",
            "POST",
            "/v1.41/services/create".into(),
            Some(service(r#""CapabilityAdd":["CAP_SYS_ADMIN"]"#)),
            "capability",
        ),
        (
            "a service without seccomp",
            "POST",
            "/v1.41/services/create".into(),
            Some(service(r#""Privileges":{"Seccomp":{"Mode":"unconfined"}}"#)),
            "seccomp",
        ),
        ("the swarm's join tokens", "GET", "/v1.41/swarm".into(), None, "join tokens"),
        ("leaving the swarm", "POST", "/v1.41/swarm/leave?force=true".into(), None, "membership"),
        (
            "changing a node's role",
            "POST",
            format!("/v1.41/nodes/{node_id}/update?version={version}"),
            Some(r#"{"Role":"worker","Availability":"drain"}"#.into()),
            "membership",
        ),
        ("removing a node", "DELETE", format!("/v1.41/nodes/{node_id}?force=true"), None, "membership"),
        ("an engine plugin", "POST", "/v1.41/plugins/pull?remote=evil".into(), Some("[]".into()), "engine plugins"),
    ];
    for (what, method, path, body, why) in &refusals {
        let (status, text) = node.send(method, path, body.as_deref()).await;
        assert_eq!(status, 403, "{what} ({method} {path}) was not refused: {text}");
        assert!(text.contains(why) && text.contains("magnum-node-guard"), "{what}: the refusal says why: {text}");
    }
    // The same through the CLI, which names the node's network by its ID for a service.
    let (ok, _, err) = node.docker(&["run", "--rm", "--privileged", WORKLOAD_IMAGE, "true"]);
    assert!(!ok && err.contains("privileged mode is refused"), "docker run --privileged: {err}");
    let (ok, _, err) = node.docker(&[
        "service",
        "create",
        "--detach",
        "--no-resolve-image",
        "--network",
        "host",
        "--name",
        "hostnet",
        WORKLOAD_IMAGE,
        "true",
    ]);
    assert!(!ok && err.contains("network namespace"), "docker service create --network host: {err}");
    let (ok, _, err) = node.docker(&["swarm", "join-token", "worker"]);
    assert!(!ok && err.contains("join tokens"), "docker swarm join-token: {err}");

    // Inside a default container the kernel's interfaces stay closed, and the engine host's
    // Docker API is out of reach.
    let gateway = engine
        .inspect_container(
            &format!("magnum-{}-master-0", &bay.replace('-', "")[..8]),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("node")
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.into_values().next())
        .and_then(|n| n.gateway)
        .expect("the bay network's gateway (the engine host)");
    let probe = format!(
        "mkdir -p /m; mount -t proc proc /m 2>/dev/null && echo MOUNTED-PROC; \
         mount -t cgroup -o memory cgroup /m 2>/dev/null && echo MOUNTED-CGROUP; \
         v=$(cat /proc/sys/vm/overcommit_ratio); echo \"$v\" 2>/dev/null > /proc/sys/vm/overcommit_ratio && echo WROTE-SYSCTL; \
         [ -e /var/run/docker.sock ] && echo HAS-ENGINE-SOCKET; \
         for port in 2375 2376; do nc -w 2 {gateway} $port </dev/null 2>/dev/null && echo REACHED-ENGINE-$port; done; echo PROBED"
    );
    let out = in_default_container(&node, &probe);
    assert!(out.contains("PROBED"), "the probe ran: {out}");
    for escape in ["MOUNTED-PROC", "MOUNTED-CGROUP", "WROTE-SYSCTL", "HAS-ENGINE-SOCKET", "REACHED-ENGINE"] {
        assert!(!out.contains(escape), "{escape} from a default container: {out}");
    }

    // The node itself has its own cgroup tree: a cgroup filesystem mounted there shows none of
    // the host's hierarchy roots, so no release_agent.
    let master = format!("magnum-{}-master-0", &bay.replace('-', "")[..8]);
    let inside = Command::new("docker")
        .args(["exec", &master, "sh", "-c", "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg && ls /tmp/cg; umount /tmp/cg"])
        .output()
        .expect("docker exec on the engine");
    let listing = String::from_utf8_lossy(&inside.stdout);
    assert!(listing.contains("memory.limit_in_bytes"), "the cgroup mount worked: {listing} {}", String::from_utf8_lossy(&inside.stderr));
    assert!(!listing.contains("release_agent"), "the node sees a hierarchy root of the host: {listing}");
    // What the node runs sees the host's global sysctls read-only.
    let write = "v=$(cat /proc/sys/vm/overcommit_ratio); echo \"$v\" 2>/dev/null > /proc/sys/vm/overcommit_ratio && echo WROTE; echo TRIED";
    let tried = Command::new("docker").args(["exec", &master, "sh", "-c", write]).output().expect("docker exec on the engine");
    let tried = String::from_utf8_lossy(&tried.stdout);
    assert!(tried.contains("TRIED") && !tried.contains("WROTE"), "a host sysctl written from the node: {tried}");
    // Nor a route out of the bay: its own network is on-link, nothing else is routed.
    let routes = Command::new("docker").args(["exec", &master, "ip", "route"]).output().expect("docker exec on the engine");
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(routes.contains("dev eth0") && !routes.contains("default"), "the node's routes: {routes}");

    // ca-sign never signs the conductor's identity, which alone may change the swarm.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "Magnum-Conductor");
    let csr = params.serialize_request(&key).expect("csr").pem().expect("pem");
    let r = c.post("/v1/certificates", &json!({"cluster_uuid": bay, "csr": csr})).await.expect("http");
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("reserved"), "{}", r.text);

    let _ = std::fs::remove_dir_all(&creds);
    assert_eq!(c.delete("/v1/clusters/bay").await.expect("http").status, 204);
    common::wait_gone(&c, "/v1/clusters/bay").await;
    env.finish().await;
}
