//! Kubernetes bays built by magnum-rs, used as a tenant uses them: created with `magnum
//! cluster-create --wait` on the local Docker engine (the node image built from the binaries of
//! `scripts/build-kubernetes.sh`, `MAGNUM_TEST_KUBERNETES_BIN`), reached with the kubeconfig
//! `magnum cluster-config` writes and Kubernetes' own kubectl, given pods, an RC and a service
//! through magnum, resized, watched and deleted. Needs a Docker engine and the binaries
//! (scripts/test.sh provides both); without them it SKIPS loudly, or fails under
//! MAGNUM_REQUIRE_SERVICES=1.

mod common;
use common::{json, magnum, server};
use magnum_client::Client;
use magnum_drivers::docker::{self, images};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NODE_IMAGE: &str = magnum_drivers::kubernetes::bay::image::NODE_IMAGE;

/// The engine with the workload image and the Kubernetes node image built, and the directory
/// of the Kubernetes binaries (kubectl among them).
async fn engine(test: &str) -> Option<(bollard::Docker, PathBuf)> {
    let bin = PathBuf::from(common::service_var("MAGNUM_TEST_KUBERNETES_BIN", test, "scripts/build-kubernetes.sh")?);
    let d = docker::connect("unix:///var/run/docker.sock", 600).expect("engine client");
    if !docker::reachable(&d).await {
        assert!(std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() != Ok("1"), "{test}: no Docker engine: run scripts/start-docker.sh");
        eprintln!("\n*** SKIPPED {test}: no Docker engine. Run scripts/test.sh for the full suite. ***\n");
        return None;
    }
    images::build_all(&d).await.expect("swarm node and workload images");
    magnum_drivers::kubernetes::bay::image::build(&d, &bin).await.expect("the Kubernetes node image");
    Some((d, bin))
}

/// `kubectl args...` with `kubeconfig`; (exit code, stdout, stderr).
fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin.join("kubectl")).env("KUBECONFIG", kubeconfig).args(args).output().expect("run kubectl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn kubectl_json(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let (code, out, err) = kubectl(bin, kubeconfig, &all);
    assert_eq!(code, 0, "kubectl {args:?}: {err}");
    json(&out)
}

/// Polls `check` every 300 ms until it gives a value, for at most `limit`.
async fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Nodes as (name, Ready, roles), sorted by name.
fn nodes(bin: &Path, cfg: &Path) -> Vec<(String, bool, String)> {
    let list = kubectl_json(bin, cfg, &["get", "nodes"]);
    let mut out: Vec<_> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| {
            let ready = n["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True");
            let roles: Vec<&str> = n["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            (n["metadata"]["name"].as_str().unwrap_or_default().to_owned(), ready, roles.join(","))
        })
        .collect();
    out.sort();
    out
}

/// The pods of `selector` as (name, node, IP), once all of `want` run.
async fn running_pods(bin: &Path, cfg: &Path, selector: &str, want: usize) -> Vec<(String, String, String)> {
    eventually(&format!("{want} running pods {selector}"), Duration::from_secs(90), || {
        let list = kubectl_json(bin, cfg, &["get", "pods", "-l", selector]);
        let pods: Vec<_> = list["items"]
            .as_array()?
            .iter()
            .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (s(&p["metadata"]["name"]), s(&p["spec"]["nodeName"]), s(&p["status"]["podIP"]))
            })
            .collect();
        (pods.len() == want).then_some(pods)
    })
    .await
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

/// A busybox pod (or pod template) that serves `hi from <hostname>` on 8080, and ends when
/// asked to (as PID 1 it would otherwise ignore SIGTERM and hold every drain for its 30 s grace).
fn web_spec() -> Value {
    json!({"containers": [{"name": "web", "image": "magnum/busybox",
        "command": ["sh", "-c", "echo hi from $(hostname) > /tmp/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /tmp & wait"]}]})
}

/// The bay owner's admin kubeconfig (its CSR asks for `system:masters`; ca-sign signs it into
/// `magnum:tenant-admins`) runs only what the bay's pod security policy allows, and cannot widen
/// it; neither can a manifest sent through `/v1/pods`. Inside an admitted pod the kernel's
/// interfaces stay closed.
async fn confinement(b: &str, bin: &Path, cfg: &Path, dir: &Path, running: &str) {
    for (verb, what) in [("create", "podsecuritypolicies"), ("update", "clusterroles"), ("get", "secrets --namespace kube-system")] {
        let mut args = vec!["auth", "can-i", verb];
        args.extend(what.split(' '));
        let (_, out, _) = kubectl(bin, cfg, &args);
        assert_eq!(out.trim(), "no", "the bay owner may not {verb} {what}");
    }
    let (code, _, err) =
        kubectl(bin, cfg, &["create", "clusterrolebinding", "mine", "--clusterrole=cluster-admin", "--group=magnum:tenant-admins"]);
    assert!(code != 0 && err.contains("forbidden"), "binding cluster-admin: {err}");
    let container = |extra: Value| {
        let mut c = json!({"name": "c", "image": "magnum/busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "600"]});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    };
    let escapes = [
        ("privileged", json!({"containers": [container(json!({"securityContext": {"privileged": true}}))]})),
        ("cap-sys-admin", json!({"containers": [container(json!({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}))]})),
        ("host-network", json!({"hostNetwork": true, "containers": [container(json!({}))]})),
        ("host-pid", json!({"hostPID": true, "containers": [container(json!({}))]})),
        (
            "host-path",
            json!({"volumes": [{"name": "node", "hostPath": {"path": "/"}}],
                "containers": [container(json!({"volumeMounts": [{"name": "node", "mountPath": "/node"}]}))]}),
        ),
        ("unconfined", json!({"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [container(json!({}))]})),
    ];
    for (name, spec) in escapes {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec});
        let file = write(dir, &format!("{name}.json"), &pod.to_string());
        let (code, _, err) = kubectl(bin, cfg, &["create", "-f", &file]);
        assert!(code != 0 && err.contains("PodSecurityPolicy: unable to admit pod"), "kubectl: a {name} pod: {err}");
        let (code, _, err) = magnum(b, &["pod-create", "--bay", "kb", "--manifest", &file], &[]);
        assert!(code == 1 && err.contains("HTTP 403") && err.contains("pod security policy"), "/v1/pods: a {name} pod: {err}");
    }
    // An RC's pods are made by the controller-manager, and held to the same policy.
    let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "sneaky"},
        "spec": {"replicas": 1, "selector": {"app": "sneaky"}, "template": {"metadata": {"labels": {"app": "sneaky"}},
        "spec": {"hostNetwork": true, "containers": [container(json!({}))]}}}});
    let (code, _, err) = kubectl(bin, cfg, &["create", "-f", &write(dir, "sneaky.json", &rc.to_string())]);
    assert_eq!(code, 0, "{err}");
    let events = eventually("the RC's host-network pod refused", Duration::from_secs(20), || {
        let (_, out, _) = kubectl(bin, cfg, &["describe", "rc", "sneaky"]);
        out.contains("PodSecurityPolicy: unable to admit pod").then_some(out)
    })
    .await;
    assert!(kubectl(bin, cfg, &["get", "pods", "-l", "app=sneaky", "-o", "name"]).1.trim().is_empty(), "{events}");
    assert_eq!(kubectl(bin, cfg, &["delete", "rc", "sneaky"]).0, 0);
    // Inside an admitted pod: the runtime's default seccomp filter, no mounts, no host sysctls.
    let probe = "grep -q '^Seccomp:.*2' /proc/self/status && echo FILTERED; mkdir -p /m; \
        mount -t proc proc /m 2>/dev/null && echo MOUNTED-PROC; mount -t cgroup -o memory cgroup /m 2>/dev/null && echo MOUNTED-CGROUP; \
        v=$(cat /proc/sys/vm/overcommit_ratio); echo \"$v\" 2>/dev/null > /proc/sys/vm/overcommit_ratio && echo WROTE-SYSCTL; echo PROBED";
    let (_, out, err) = kubectl(bin, cfg, &["exec", running, "--", "sh", "-c", probe]);
    assert!(out.contains("PROBED") && out.contains("FILTERED"), "the probe ran under seccomp: {out}{err}");
    for escape in ["MOUNTED-PROC", "MOUNTED-CGROUP", "WROTE-SYSCTL"] {
        assert!(!out.contains(escape), "{escape} from a pod: {out}");
    }
}

/// What `pod` gets from `address:port` over HTTP (empty when nothing answers in 3 s).
fn fetch_from(bin: &Path, cfg: &Path, pod: &str, address: &str, port: u16) -> String {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port} | tail -n 1");
    kubectl(bin, cfg, &["exec", pod, "--", "sh", "-c", &script]).1.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_kubernetes_bay_lifecycle() {
    let test = "docker_kubernetes_bay_lifecycle";
    let Some((engine, bin)) = engine(test).await else { return };
    let s = server(true, None).await;
    let b = s.base.as_str();
    let p1 = Client::new(b).as_user("p1", "u1", "member");
    let dir = std::env::temp_dir().join(format!("magnum-k8s-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let latest = |c: &Client| c.clone().microversion("latest");

    // The template names the node image; what this deployment cannot build is refused at once.
    let (code, _, err) =
        magnum(b, &["cluster-template-create", "--name", "k8s", "--coe", "kubernetes", "--image", NODE_IMAGE, "--flavor", "m1.small"], &[]);
    assert_eq!(code, 0, "{err}");
    let r = p1
        .post(
            "/v1/clustertemplates",
            &json!({"name": "new", "coe": "kubernetes", "image_id": NODE_IMAGE, "labels": {"kube_tag": "v1.27.3"}}),
        )
        .await
        .expect("http");
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("kube_tag=v1.27.3") && r.text.contains("v1.20.2"), "{}", r.text);
    let r = p1
        .post("/v1/clustertemplates", &json!({"name": "noimage", "coe": "kubernetes", "image_id": "magnum/kubernetes-node:v9"}))
        .await
        .expect("http");
    assert!(r.status == 400 && r.text.contains("is not on the Docker engine"), "{}", r.text);
    let ha = json!({"name": "ha", "cluster_template_id": "k8s", "master_count": 3, "master_lb_enabled": true});
    let r = latest(&p1).post("/v1/clusters", &ha).await.expect("http");
    assert!(r.status == 400 && r.text.contains("master_count 3"), "{}", r.text);

    // Two bays at once: a 1+2 one followed with --wait, and a 1+1 one of the same tenant.
    let other = json!({"name": "other", "cluster_template_id": "k8s", "node_count": 1, "labels": {"auto_healing_enabled": "true"}});
    let r = latest(&p1).post("/v1/clusters", &other).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let started = Instant::now();
    let (code, out, err) = magnum(b, &["cluster-create", "kb", "--cluster-template", "k8s", "--node-count", "2", "--wait"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    eprintln!("1+2 Kubernetes bay (beside a 1+1 one) CREATE_COMPLETE in {:.1} s", started.elapsed().as_secs_f64());
    let bay = p1.get("/v1/clusters/kb").await.expect("http").body;
    assert_eq!((bay["status"].as_str(), bay["coe_version"].as_str()), (Some("CREATE_COMPLETE"), Some("v1.20.2")), "{bay}");
    let api = bay["api_address"].as_str().expect("api_address").to_owned();
    assert!(api.starts_with("https://127.0.0.1:"), "{api}");
    assert_eq!((bay["master_addresses"].as_array().map(Vec::len), bay["node_addresses"].as_array().map(Vec::len)), (Some(1), Some(2)));
    let uuid = bay["uuid"].as_str().expect("uuid").to_owned();
    let prefix = format!("magnum-{}", &uuid.replace('-', "")[..8]);

    // cluster-config: a kubeconfig with an admin certificate from the bay's CA.
    let (code, out, err) = magnum(b, &["cluster-config", "kb", "--dir", dir.join("kb").to_str().expect("utf-8")], &[]);
    assert_eq!(code, 0, "{err}");
    let cfg = PathBuf::from(out.trim().strip_prefix("export KUBECONFIG=").expect("KUBECONFIG line"));
    let names = |n: &[(String, bool, String)]| n.iter().map(|(name, _, _)| name.clone()).collect::<Vec<_>>();
    let seen = nodes(&bin, &cfg);
    assert_eq!(
        seen,
        vec![
            (format!("{prefix}-master-0"), true, "master".into()),
            (format!("{prefix}-worker-0"), true, "worker".into()),
            (format!("{prefix}-worker-1"), true, "worker".into())
        ]
    );
    let listed = p1.get(&format!("/v1/nodes?cluster_uuid={uuid}")).await.expect("http");
    assert!(listed.text.contains(&format!("{prefix}-worker-1")), "/v1/nodes shows the Kubernetes nodes: {}", listed.text);

    // A pod through /v1/pods runs on a worker, its image loaded from the engine.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hello", "labels": {"app": "hello"}}, "spec": web_spec()});
    let (code, out, err) = magnum(b, &["pod-create", "--bay", "kb", "--manifest", &write(&dir, "pod.json", &pod.to_string())], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let started = Instant::now();
    let hello = eventually("the pod Running through /v1/pods", Duration::from_secs(60), || {
        let shown = json(&magnum(b, &["--format", "json", "pod-show", "hello"], &[]).1);
        (shown["status"] == "Running").then_some(shown)
    })
    .await;
    eprintln!("pod Running {:.1} s after its create answered", started.elapsed().as_secs_f64());
    let hello_node = hello["host"].as_str().expect("host").to_owned();
    // An image neither the engine nor the nodes hold cannot run here: a 400 naming it, nothing kept.
    let absent = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "absent"},
        "spec": {"containers": [{"name": "c", "image": "magnum/absent:1"}]}});
    let (code, _, err) = magnum(b, &["pod-create", "--bay", "kb", "--manifest", &write(&dir, "absent.json", &absent.to_string())], &[]);
    assert!(code == 1 && err.contains("HTTP 400") && err.contains("Image magnum/absent:1 is not on the Docker engine"), "{err}");
    assert_eq!(kubectl(&bin, &cfg, &["get", "pod", "absent"]).0, 1, "the refused pod is not in Kubernetes");
    assert!(hello_node.starts_with(&format!("{prefix}-worker-")), "{hello}");

    // A service whose only backend is that pod; an RC of 3 made after it spreads over both
    // workers, and from a replica on the other worker the service answers (its address comes in
    // the replica's environment: there is no cluster DNS), and so does the pod directly.
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello"},
        "spec": {"selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let (code, out, err) = magnum(
        b,
        &["--format", "json", "coe-service-create", "--bay", "kb", "--manifest", &write(&dir, "svc.json", &svc.to_string())],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let cluster_ip = json(&out)["ip"].as_str().expect("cluster IP").to_owned();
    assert!(cluster_ip.starts_with("10.254."), "{out}");
    let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"app": "web"}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": web_spec()}}});
    let (code, _, err) = magnum(b, &["rc-create", "--bay", "kb", "--manifest", &write(&dir, "rc.json", &rc.to_string())], &[]);
    assert_eq!(code, 0, "{err}");
    let replicas = running_pods(&bin, &cfg, "app=web", 3).await;
    let used: std::collections::BTreeSet<&str> = replicas.iter().map(|(_, node, _)| node.as_str()).collect();
    assert_eq!(used.len(), 2, "the RC's pods spread over both workers: {replicas:?}");
    let (client, _, _) = replicas.iter().find(|(_, node, _)| *node != hello_node).expect("a replica on the other worker");
    let hello_ip = kubectl_json(&bin, &cfg, &["get", "pod", "hello"])["status"]["podIP"].as_str().expect("pod IP").to_owned();
    assert_eq!(fetch_from(&bin, &cfg, client, &cluster_ip, 80), "hi from hello", "service across nodes");
    assert_eq!(fetch_from(&bin, &cfg, client, &hello_ip, 8080), "hi from hello", "pod to pod across nodes");
    let (code, out, _) = kubectl(&bin, &cfg, &["exec", client, "--", "sh", "-c", "echo $HELLO_SERVICE_HOST"]);
    assert_eq!((code, out.trim()), (0, cluster_ip.as_str()), "services are found through environment variables");

    // The other bay: its nodes and pods are out of this bay's reach.
    let other_bay = common_settle(&p1, "/v1/clusters/other").await;
    assert_eq!(other_bay["status"], "CREATE_COMPLETE", "{other_bay}");
    let (code, out, err) = magnum(b, &["cluster-config", "other", "--dir", dir.join("other").to_str().expect("utf-8")], &[]);
    assert_eq!(code, 0, "{err}");
    let other_cfg = PathBuf::from(out.trim().strip_prefix("export KUBECONFIG=").expect("KUBECONFIG line"));
    let theirs =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "theirs", "labels": {"app": "theirs"}}, "spec": web_spec()});
    let (code, _, err) = magnum(b, &["pod-create", "--bay", "other", "--manifest", &write(&dir, "theirs.json", &theirs.to_string())], &[]);
    assert_eq!(code, 0, "{err}");
    let their_pod = running_pods(&bin, &other_cfg, "app=theirs", 1).await;
    assert_eq!(fetch_from(&bin, &other_cfg, &their_pod[0].0, &their_pod[0].2, 8080), "hi from theirs", "it serves in its own bay");
    let their_master = other_bay["master_addresses"][0].as_str().expect("master address");
    let (code, _, _) = kubectl(&bin, &cfg, &["exec", client, "--", "nc", "-w", "2", their_master, "6443"]);
    assert_ne!(code, 0, "a pod of kb must not reach the other bay's master");
    // Pod ranges are each bay's own: the other bay's pod address, asked from kb, is kb's (or nobody's).
    assert_ne!(fetch_from(&bin, &cfg, client, &their_pod[0].2, 8080), "hi from theirs", "a pod of kb reached the other bay's pod");

    // Auto-healing on a Kubernetes bay (the other bay asked for it): its worker, removed behind
    // magnum's back, is made again under its name, Ready, and the bay says what it healed.
    let other_uuid = other_bay["uuid"].as_str().expect("uuid").to_owned();
    let their_worker = format!("magnum-{}-worker-0", &other_uuid.replace('-', "")[..8]);
    let removed = Instant::now();
    let force = bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).build();
    engine.remove_container(&their_worker, Some(force)).await.expect("remove the other bay's worker");
    let healed = loop {
        let bay = p1.get("/v1/clusters/other").await.expect("http").body;
        let note = bay["health_status_reason"]["healed"].as_str().unwrap_or_default().to_owned();
        if bay["health_status"] == "HEALTHY" && note.contains(&their_worker) {
            break bay;
        }
        assert!(removed.elapsed() < Duration::from_secs(120), "the other bay was never healed: {bay}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    eprintln!("a removed Kubernetes worker replaced by auto-healing, bay HEALTHY in {:.1} s", removed.elapsed().as_secs_f64());
    assert_eq!(healed["status"], "CREATE_COMPLETE", "healing is not an update of the bay: {healed}");
    let their_nodes = nodes(&bin, &other_cfg);
    assert_eq!(their_nodes.len(), 2, "{their_nodes:?}");
    assert!(their_nodes.iter().all(|(_, ready, _)| *ready), "the replaced worker is Ready under its name: {their_nodes:?}");

    // A certificate from ca-sign is a kubectl credential under RBAC: CN is the user, O the group.
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "team-a");
    let csr = params.serialize_request(&key).expect("csr").pem().expect("pem");
    let signed = p1.post("/v1/certificates", &json!({"cluster_uuid": "kb", "csr": csr})).await.expect("http");
    assert_eq!(signed.status, 201, "{}", signed.text);
    let alice_dir = dir.join("alice");
    std::fs::create_dir_all(&alice_dir).expect("dir");
    let cert = write(&alice_dir, "cert.pem", signed.body["pem"].as_str().expect("pem"));
    let key_file = write(&alice_dir, "key.pem", &key.serialize_pem());
    let alice = alice_dir.join("config");
    std::fs::copy(&cfg, &alice).expect("copy");
    let (code, _, err) =
        kubectl(&bin, &alice, &["config", "set-credentials", "kb", "--client-certificate", &cert, "--client-key", &key_file]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = kubectl(&bin, &alice, &["get", "pods"]);
    assert!(code != 0 && err.contains("User \"alice\" cannot list resource \"pods\""), "RBAC knows alice: {err}");
    let (code, _, err) = kubectl(&bin, &cfg, &["create", "rolebinding", "team-a-view", "--clusterrole=view", "--group=team-a"]);
    assert_eq!(code, 0, "{err}");
    eventually("alice's group may read pods", Duration::from_secs(10), || (kubectl(&bin, &alice, &["get", "pods"]).0 == 0).then_some(()))
        .await;

    confinement(b, &bin, &cfg, &dir, client).await;

    upgrade_in_place(&engine, &p1, (&bin, &cfg, &dir), &prefix, &api, &hello_node).await;
    // The conductor's credentials rotated; the resize and nodegroup changes below run on the new ones.
    rotated_credentials(&s, &uuid, (&bin, &cfg, &dir)).await;

    // Resize 2 → 3 → 1 (worker-0 named for removal): nodes join Ready, the leaving ones are
    // drained and forgotten, survivors keep their names, and the RC's pods all run again.
    let started = Instant::now();
    let (code, out, err) = magnum(b, &["cluster-resize", "kb", "3", "--wait"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    eprintln!("worker joined Ready in {:.1} s (resize 2 → 3)", started.elapsed().as_secs_f64());
    assert_eq!(names(&nodes(&bin, &cfg)).len(), 4);
    assert!(nodes(&bin, &cfg).iter().all(|(_, ready, _)| *ready));
    // Routes follow membership: worker-1 reaches the new worker's pod range through it.
    let routes = |node: &str| {
        let out = Command::new("docker").args(["exec", node, "ip", "route"]).output().expect("docker exec");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(routes(&format!("{prefix}-worker-1")).contains("10.100.12.0/24 via"), "{}", routes(&format!("{prefix}-worker-1")));
    // No node has a route out of the bay.
    assert!(!routes(&format!("{prefix}-master-0")).contains("default"), "{}", routes(&format!("{prefix}-master-0")));
    let (code, out, err) = magnum(b, &["cluster-resize", "kb", "1", "--nodes-to-remove", &format!("{prefix}-worker-0"), "--wait"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(names(&nodes(&bin, &cfg)), vec![format!("{prefix}-master-0"), format!("{prefix}-worker-1")]);
    let left = routes(&format!("{prefix}-worker-1"));
    assert!(left.contains("10.100.2.0/24 via") && !left.contains("10.100.10.0/24") && !left.contains("10.100.12.0/24"), "{left}");
    let replicas = running_pods(&bin, &cfg, "app=web", 3).await;
    assert!(replicas.iter().all(|(_, node, _)| *node == format!("{prefix}-worker-1")), "{replicas:?}");
    let bay = p1.get("/v1/clusters/kb").await.expect("http").body;
    assert_eq!((bay["status"].as_str(), bay["node_count"].as_i64()), (Some("UPDATE_COMPLETE"), Some(1)), "{bay}");

    // Health follows the nodes: a stopped worker is UNHEALTHY with its reason, and back.
    let worker = format!("{prefix}-worker-1");
    engine.stop_container(&worker, None::<bollard::query_parameters::StopContainerOptions>).await.expect("stop");
    let sick = eventually_health(&p1, "UNHEALTHY").await;
    assert!(sick["health_status_reason"][&worker].as_str().is_some_and(|r| r.contains("exited")), "{sick}");
    engine.start_container(&worker, None::<bollard::query_parameters::StartContainerOptions>).await.expect("start");
    eventually_health(&p1, "HEALTHY").await;

    // A worker nodegroup: its node joins Ready carrying the group's label and its own labels and
    // taints (1.14), and leaves with it.
    let started = Instant::now();
    let group = json!({"name": "GPU nodes", "node_count": 1, "node_labels": {"accel": "nvidia", "example.com/tier": "batch"},
        "node_taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]});
    let r = latest(&p1).post("/v1/clusters/kb/nodegroups", &group).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let bay = common_settle(&p1, "/v1/clusters/kb").await;
    assert_eq!(bay["status"], "UPDATE_COMPLETE", "{bay}");
    eprintln!("a 1-node nodegroup joined Ready in {:.1} s", started.elapsed().as_secs_f64());
    let grouped = kubectl_json(&bin, &cfg, &["get", "nodes", "-l", "magnum.openstack.org/nodegroup=GPU-nodes"]);
    let grouped: Vec<&str> = grouped["items"].as_array().expect("items").iter().filter_map(|n| n["metadata"]["name"].as_str()).collect();
    assert_eq!(grouped, vec![format!("{prefix}-gpu-nodes-0")], "the group's node, labelled, at the bay's lowest free index");
    let node = kubectl_json(&bin, &cfg, &["get", "node", &format!("{prefix}-gpu-nodes-0")]);
    let labels = &node["metadata"]["labels"];
    assert_eq!((labels["accel"].clone(), labels["example.com/tier"].clone()), (json!("nvidia"), json!("batch")), "{labels}");
    assert_eq!(node["spec"]["taints"], json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]), "{node}");
    assert!(nodes(&bin, &cfg).iter().all(|(_, ready, _)| *ready));
    // New labels and taints for the group: set on its Node in place, the old ones gone, the
    // labels kubelet and magnum set themselves kept.
    let change = json!([{"op": "replace", "path": "/node_labels", "value": {"zone": "b"}},
        {"op": "replace", "path": "/node_taints", "value": [{"key": "batch", "effect": "PreferNoSchedule"}]}]);
    let r = latest(&p1).patch("/v1/clusters/kb/nodegroups/GPU%20nodes", &change).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let bay = common_settle(&p1, "/v1/clusters/kb").await;
    assert_eq!(bay["status"], "UPDATE_COMPLETE", "{bay}");
    let node = kubectl_json(&bin, &cfg, &["get", "node", &format!("{prefix}-gpu-nodes-0")]);
    let labels = &node["metadata"]["labels"];
    assert_eq!((labels["zone"].clone(), labels.get("accel"), labels.get("example.com/tier")), (json!("b"), None, None), "{labels}");
    assert_eq!(labels["magnum.openstack.org/nodegroup"], json!("GPU-nodes"), "{labels}");
    assert_eq!(node["spec"]["taints"], json!([{"key": "batch", "effect": "PreferNoSchedule"}]), "{node}");
    let r = latest(&p1).delete("/v1/clusters/kb/nodegroups/GPU%20nodes").await.expect("http");
    assert_eq!(r.status, 204, "{}", r.text);
    let bay = common_settle(&p1, "/v1/clusters/kb").await;
    assert_eq!(bay["status"], "UPDATE_COMPLETE", "{bay}");
    assert_eq!(names(&nodes(&bin, &cfg)), vec![format!("{prefix}-master-0"), format!("{prefix}-worker-1")]);

    // A Kubernetes bay's CA is not rotated in place.
    let r = p1.patch("/v1/certificates/kb", &json!([])).await.expect("http");
    assert!(r.status == 400 && r.text.contains("Kubernetes"), "{}", r.text);

    // Delete: nothing labelled with either bay stays on the engine.
    let (code, _, err) = magnum(b, &["cluster-delete", "kb", "other", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    for id in [uuid.as_str(), other_bay["uuid"].as_str().expect("uuid")] {
        let (c, n, v) = docker::owned_by(&engine, id).await.expect("list by label");
        assert_eq!((c.len(), n.len(), v.len()), (0, 0, 0), "bay {id} left containers, networks or volumes");
    }
    let _ = std::fs::remove_dir_all(&dir);
    s.stop().await;
}

/// The RC's pod containers running on the bay's nodes, counted on each node's own engine (the
/// API server is down while the master is made again).
fn web_containers_running(prefix: &str) -> usize {
    ["master-0", "worker-0", "worker-1"]
        .iter()
        .map(|n| {
            let format = "{{.Label \"io.kubernetes.pod.name\"}} {{.Label \"io.kubernetes.container.name\"}}";
            let out = Command::new("docker").args(["exec", &format!("{prefix}-{n}"), "docker", "ps", "--format", format]).output();
            let out = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
            out.lines().filter(|l| l.starts_with("web-") && l.ends_with(" web")).count()
        })
        .sum()
}

/// kb (1+2, the RC of 3 and the bare pod `hello` on `hello_node`) upgraded in place to a
/// template with another node image, one node at a time, the master first: the RC keeps pods
/// running throughout, the bare pod runs again on its node, a service-account token issued
/// before still authenticates, and the kubeconfig keeps working at the same address.
async fn upgrade_in_place(
    engine: &bollard::Docker,
    p1: &Client,
    (bin, cfg, dir): (&Path, &Path, &Path),
    prefix: &str,
    api: &str,
    hello_node: &str,
) {
    let b = p1.base();
    // Another node image: the node image with one more label, so another image id.
    let (repo, tag) = ("magnum-test/kubernetes-node", "upgraded");
    let body = bollard::models::ContainerCreateBody { image: Some(NODE_IMAGE.into()), ..Default::default() };
    let made = engine.create_container(None::<bollard::query_parameters::CreateContainerOptions>, body).await.expect("a container");
    let options = bollard::query_parameters::CommitContainerOptionsBuilder::new().container(&made.id).repo(repo).tag(tag).build();
    let labels = std::collections::HashMap::from([("org.openstack.magnum.test".to_owned(), "upgraded".to_owned())]);
    let config = bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() };
    engine.commit_container(options, config).await.expect("commit the upgraded node image");
    docker::remove_container(engine, &made.id).await.expect("cleanup");
    let v2 = format!("{repo}:{tag}");
    let (code, _, err) =
        magnum(b, &["cluster-template-create", "--name", "k8s-next", "--coe", "kubernetes", "--image", &v2, "--flavor", "m1.small"], &[]);
    assert_eq!(code, 0, "{err}");

    // A token the bay's service-account key signed before the upgrade.
    let template = "--template={{.data.token | base64decode}}";
    let (code, token, err) = kubectl(bin, cfg, &["get", "secret", "default-token-magnum", "-o", "go-template", template]);
    assert_eq!(code, 0, "{err}");
    let as_sa = dir.join("sa-config");
    std::fs::copy(cfg, &as_sa).expect("copy");
    assert_eq!(kubectl(bin, &as_sa, &["config", "set-credentials", "sa", &format!("--token={token}")]).0, 0);
    assert_eq!(kubectl(bin, &as_sa, &["config", "set-context", "--current", "--user=sa"]).0, 0);
    let (_, _, err) = kubectl(bin, &as_sa, &["get", "pods"]);
    assert!(err.contains("system:serviceaccount:default:default"), "the token authenticates before the upgrade: {err}");

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (stop, prefix) = (stop.clone(), prefix.to_owned());
        std::thread::spawn(move || {
            let mut counts = vec![];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                counts.push(web_containers_running(&prefix));
                std::thread::sleep(Duration::from_millis(300));
            }
            counts
        })
    };
    let started = Instant::now();
    let (code, out, err) = magnum(b, &["cluster-upgrade", "kb", "k8s-next", "--max-batch-size", "1", "--wait"], &[]);
    let took = started.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let counts = sampler.join().expect("sampler");
    assert_eq!(code, 0, "{out}{err}");
    let fewest = counts.iter().copied().min().unwrap_or(0);
    eprintln!(
        "1+2 Kubernetes bay upgraded one node at a time in {took:.1} s ({:.1} s a node); the RC kept at least {fewest} of 3 pods running over {} looks",
        took / 3.0,
        counts.len()
    );
    assert!(fewest >= 1 && counts.len() >= 5, "the RC's pods kept running through the upgrade: {counts:?}");

    let bay = p1.get("/v1/clusters/kb").await.expect("http").body;
    let next = p1.get("/v1/clustertemplates/k8s-next").await.expect("http").body;
    assert_eq!((bay["status"].as_str(), bay["cluster_template_id"].clone()), (Some("UPDATE_COMPLETE"), next["uuid"].clone()), "{bay}");
    assert_eq!(bay["api_address"].as_str(), Some(api), "the bay keeps its API address");
    for n in ["master-0", "worker-0", "worker-1"] {
        let c = engine.inspect_container(&format!("{prefix}-{n}"), None).await.expect("node container");
        assert_eq!(c.config.and_then(|c| c.image).as_deref(), Some(v2.as_str()), "{n} runs the new image");
    }
    let listed = kubectl_json(bin, cfg, &["get", "nodes"]);
    for n in listed["items"].as_array().expect("items") {
        assert!(n["spec"]["unschedulable"].is_null(), "every node is schedulable again: {n}");
    }
    assert!(nodes(bin, cfg).iter().all(|(_, ready, _)| *ready), "every node Ready with the same kubeconfig");
    running_pods(bin, cfg, "app=web", 3).await;
    let hello = running_pods(bin, cfg, "app=hello", 1).await;
    assert_eq!(hello[0].1, hello_node, "the bare pod runs again on its own node");
    let (_, _, err) = kubectl(bin, &as_sa, &["get", "pods"]);
    assert!(err.contains("system:serviceaccount:default:default"), "the token issued before still authenticates: {err}");
}

/// A kubeconfig as the conductor of bay `uuid` now is (its certificate read from the store).
async fn as_conductor(s: &common::Server, uuid: &str, cfg: &Path, dir: &Path, name: &str) -> PathBuf {
    let stored = s.store.store.get_certificates(uuid.parse().expect("uuid")).await.expect("certificates");
    let cipher = magnum_server::load_cipher(&s.config).expect("the deployment's key");
    let key = cipher.decrypt(&stored.client_key).expect("the conductor's key");
    let cert = write(dir, &format!("{name}-cert.pem"), &stored.client_cert);
    let key = write(dir, &format!("{name}-key.pem"), &key);
    let config = dir.join(format!("{name}-config"));
    std::fs::copy(cfg, &config).expect("copy");
    let bin = PathBuf::from(std::env::var("MAGNUM_TEST_KUBERNETES_BIN").expect("binaries"));
    let set = kubectl(&bin, &config, &["config", "set-credentials", name, "--client-certificate", &cert, "--client-key", &key]);
    assert_eq!(set.0, 0, "{}", set.2);
    assert_eq!(kubectl(&bin, &config, &["config", "set-context", "--current", &format!("--user={name}")]).0, 0);
    config
}

/// Credential rotation (1.12) on a Kubernetes bay: the conductor's old certificate, cluster admin
/// before, is refused everything after; the new one is cluster admin (and drives later changes).
async fn rotated_credentials(s: &common::Server, uuid: &str, (bin, cfg, dir): (&Path, &Path, &Path)) {
    let old = as_conductor(s, uuid, cfg, dir, "conductor-old").await;
    let (code, _, err) = kubectl(bin, &old, &["auth", "can-i", "create", "clusterrolebindings"]);
    assert_eq!(code, 0, "the conductor is cluster admin before the rotation: {err}");
    let started = Instant::now();
    let (code, out, err) = magnum(&s.base, &["--format", "json", "credential-rotate", "kb", "--wait"], &[]);
    assert_eq!((code, json(&out)["status"].clone()), (0, json!("UPDATE_COMPLETE")), "{err}");
    eprintln!("Kubernetes bay credentials rotated in {:.1} s", started.elapsed().as_secs_f64());
    let (code, _, err) = kubectl(bin, &old, &["get", "pods"]);
    assert!(code != 0 && err.contains("forbidden") && err.contains("system:magnum-conductor:"), "the old certificate is refused: {err}");
    let new = as_conductor(s, uuid, cfg, dir, "conductor-new").await;
    let (code, out, err) = kubectl(bin, &new, &["auth", "can-i", "create", "clusterrolebindings"]);
    assert_eq!((code, out.trim()), (0, "yes"), "the new certificate is cluster admin: {err}");
}

async fn common_settle(c: &Client, path: &str) -> Value {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        if !body["status"].as_str().unwrap_or_default().ends_with("IN_PROGRESS") {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "{path} stuck: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn eventually_health(c: &Client, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let body = c.get("/v1/clusters/kb").await.expect("http").body;
        if body["health_status"] == want {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "kb never became {want}: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
