//! Pods, replication controllers and services on a real Kubernetes API server
//! (`MAGNUM_TEST_KUBECONFIG`: scripts/start-kubernetes.sh builds kube-apiserver,
//! kube-controller-manager and kube-scheduler from Debian's kubernetes source package and
//! starts them with etcd on 127.0.0.1). The cluster is registered as an external bay with its
//! CA and a client certificate (and again with a bearer token); every object is then checked
//! both through magnum's API and directly in Kubernetes.

mod common;
use base64::Engine;
use common::{assert_error, Backend, Env};
use magnum_client::Client;
use magnum_drivers::kubernetes::client::KubeClient;
use magnum_types::external::ClientAuth;
use magnum_types::manifest::Kind;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The admin credentials of the test cluster, read from its kubeconfig.
struct Cluster {
    server: String,
    ca: String,
    cert: String,
    key: String,
    /// A bearer token the API server also accepts (scripts/start-kubernetes.sh writes it
    /// next to the kubeconfig).
    token: Option<String>,
}

fn cluster(test: &str) -> Option<Cluster> {
    let path = PathBuf::from(common::service_url("MAGNUM_TEST_KUBECONFIG", test, "scripts/start-kubernetes.sh")?);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cfg: Value = serde_yaml_ng::from_str(&text).expect("kubeconfig is YAML");
    let data = |pointer: &str| -> String {
        let b64 = cfg.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("kubeconfig lacks {pointer}"));
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")).expect("PEM text")
    };
    let token = std::fs::read_to_string(path.with_file_name("admin.token")).ok().map(|t| t.trim().to_owned());
    Some(Cluster {
        server: cfg.pointer("/clusters/0/cluster/server").and_then(Value::as_str).expect("server").to_owned(),
        ca: data("/clusters/0/cluster/certificate-authority-data"),
        cert: data("/users/0/user/client-certificate-data"),
        key: data("/users/0/user/client-key-data"),
        token,
    })
}

impl Cluster {
    fn direct(&self) -> KubeClient {
        KubeClient::new(&self.server, &self.ca, &ClientAuth::Certificate { cert: self.cert.clone(), key: self.key.clone() })
            .expect("client")
    }

    /// A raw request to the API server as its admin, for what magnum's client never does
    /// (a scheduler's binding, a kubelet's status report).
    async fn raw(&self, method: reqwest::Method, path: &str, content_type: &str, body: Value) -> (u16, Value) {
        let identity = reqwest::Identity::from_pem(format!("{}\n{}", self.cert, self.key).as_bytes()).expect("identity");
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.as_bytes()).expect("ca"))
            .identity(identity)
            .build()
            .expect("client");
        let r = http
            .request(method, format!("{}{path}", self.server))
            .header("Content-Type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn raw_ok(&self, method: reqwest::Method, path: &str, content_type: &str, body: Value) -> Value {
        let (status, doc) = self.raw(method, path, content_type, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {doc}");
        doc
    }

    /// Deletes a pod at once: a pod bound to a node waits for that node's kubelet to confirm
    /// a graceful delete, and this cluster runs none.
    async fn force_delete_pod(&self, name: &str) {
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        let (status, doc) = self.raw(reqwest::Method::DELETE, &path, "application/json", options).await;
        assert!((200..300).contains(&status) || status == 404, "{path}: {status} {doc}");
    }
}

/// Polls `path` until `done` holds (60 s at most: the controller-manager works at its pace).
async fn wait_for(c: &Client, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        if done(&body) {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{path}: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Serves `body` once per connection at http://127.0.0.1:<port>/ (for manifest_url).
async fn serve(body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        }
    });
    format!("http://{addr}/manifest.yaml")
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: magnum-web\n  labels:\n    app: magnum-web\nspec:\n  containers:\n  - name: web\n    image: magnum/busybox\n    command: [sleep, \"3600\"]\n";

fn rc(replicas: i64) -> String {
    json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "magnum-rc", "labels": {"tier": "front"}},
        "spec": {"replicas": replicas, "selector": {"app": "magnum-rc"},
            "template": {"metadata": {"labels": {"app": "magnum-rc"}},
                "spec": {"containers": [{"name": "web", "image": "magnum/busybox", "command": ["sleep", "3600"]}]}}}})
    .to_string()
}

const SERVICE: &str =
    "kind: Service\nmetadata:\n  name: magnum-svc\nspec:\n  selector:\n    app: magnum-rc\n  ports:\n  - port: 80\n    targetPort: 8080\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_objects_on_an_external_cluster() {
    let test = "kubernetes_objects_on_an_external_cluster";
    let Some(k8s) = cluster(test) else { return };
    let direct = k8s.direct();
    // Leftovers of an interrupted run would make names clash.
    for (kind, name) in [(Kind::ReplicationController, "magnum-rc"), (Kind::Service, "magnum-svc")] {
        direct.delete(kind, name).await.expect("cleanup");
    }
    k8s.force_delete_pod("magnum-web").await;
    let env = Env::start(Backend::Sqlite).await.expect("server");
    let (p1, p2) = (env.member("p1"), env.member("p2"));
    for c in [&p1, &p2] {
        let r = c.post("/v1/baymodels", &json!({"name": "k8s", "coe": "kubernetes", "image_id": "none", "keypair_id": "kp"})).await;
        assert_eq!(r.expect("http").status, 201);
    }
    let swarm = p1.post("/v1/baymodels", &json!({"name": "sw", "coe": "swarm-mode", "image_id": "img", "keypair_id": "kp"})).await;
    assert_eq!(swarm.expect("http").status, 201);

    // A Kubernetes bay this server would have to build (its conductor builds nothing: no
    // engine) fails with the reason, and takes no objects.
    let r = p1.post("/v1/bays", &json!({"name": "built", "baymodel_id": "k8s"})).await.expect("http");
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    let built = wait_for(&p1, "/v1/bays/built", |b| b["status"] != "CREATE_IN_PROGRESS").await;
    assert_eq!(built["status"], "CREATE_FAILED", "{built}");
    assert!(built["status_reason"].as_str().is_some_and(|r| r.contains("The kubernetes driver builds nothing")), "{built}");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n";
    assert_error(&p1.post("/v1/pods", &json!({"bay_uuid": "built", "manifest": pod})).await.expect("http"), 400, "CREATE_FAILED");
    assert_eq!(p1.delete("/v1/bays/built").await.expect("http").status, 204);

    // Registered with the admin client certificate: complete once the API answers.
    let endpoint = json!({"api_address": k8s.server, "ca_cert": k8s.ca, "client_cert": k8s.cert, "client_key": k8s.key});
    let r = p1.post("/v1/bays", &json!({"name": "kb", "baymodel_id": "k8s", "external_endpoint": endpoint})).await.expect("http");
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    let bay = wait_for(&p1, "/v1/bays/kb", |b| b["status"] != "CREATE_IN_PROGRESS").await;
    assert_eq!(bay["status"], "CREATE_COMPLETE", "{bay}");
    let kb_uuid = bay["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(bay["coe_version"].as_str().map(|v| v.starts_with("v1.")), Some(true), "{bay}");
    let key_line = k8s.key.lines().nth(1).expect("key").to_owned();
    for path in ["/v1/bays/kb", "/v1/bays/detail", "/v1/clusters/kb", "/v1/certificates/kb"] {
        let text = p1.get(path).await.expect("http").text;
        assert!(!text.contains("PRIVATE KEY") && !text.contains(&key_line), "{path} shows the key: {text}");
    }

    // Manifest errors are 400s naming the field, and nothing is recorded.
    let r = p1.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": "metadata: {labels: {a: b}}\nspec: {}\n"})).await.expect("http");
    assert_error(&r, 400, "Field metadata['name'] can't be empty in manifest.");
    let r = p1.post("/v1/pods", &json!({"bay_uuid": "kb"})).await.expect("http");
    assert_error(&r, 400, "manifest");
    // What only Kubernetes knows is wrong comes back as Kubernetes said it.
    let bad_name = POD.replace("name: magnum-web\n  labels", "name: Magnum_Web\n  labels");
    let r = p1.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": bad_name})).await.expect("http");
    assert_error(&r, 400, "Kubernetes refused creating Pod Magnum_Web");
    assert_eq!(p1.get("/v1/pods").await.expect("http").body["pods"], json!([]));
    // Only Kubernetes bays of the caller's own.
    let r = p2.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": POD})).await.expect("http");
    assert_error(&r, 400, "could not be found");

    // A pod from YAML: created in Kubernetes, shown as Kubernetes reports it.
    let r = p1.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": POD, "desc": "a web pod"})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let pod = r.body;
    assert_eq!((pod["name"].as_str(), pod["desc"].as_str()), (Some("magnum-web"), Some("a web pod")), "{pod}");
    assert_eq!((pod["images"].clone(), pod["labels"].clone()), (json!(["magnum/busybox"]), json!({"app": "magnum-web"})));
    let live = direct.get(Kind::Pod, "magnum-web").await.expect("read").expect("the pod is in Kubernetes");
    let phase = live.pointer("/status/phase").and_then(Value::as_str).unwrap_or("Pending").to_owned();
    assert_eq!(pod["status"].as_str(), Some(phase.as_str()), "{pod}");
    // Its node and phase are whatever Kubernetes says: bind it to a node as a scheduler
    // would, and report it running as a kubelet would (this cluster runs neither for pods).
    let pods = "/api/v1/namespaces/default/pods/magnum-web";
    let binding =
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "magnum-web"}, "target": {"kind": "Node", "name": "node-a"}});
    k8s.raw_ok(reqwest::Method::POST, &format!("{pods}/binding"), "application/json", binding).await;
    let shown = p1.get("/v1/pods/magnum-web").await.expect("http").body;
    assert_eq!((shown["host"].as_str(), shown["status"].as_str()), (Some("node-a"), Some("Pending")), "{shown}");
    let running = json!({"status": {"phase": "Running"}});
    k8s.raw_ok(reqwest::Method::PATCH, &format!("{pods}/status"), "application/merge-patch+json", running).await;
    assert_eq!(p1.get("/v1/pods/magnum-web").await.expect("http").body["status"], "Running");
    // The list catches up through the conductor's refresh.
    let listed = wait_for(&p1, "/v1/pods", |b| b["pods"][0]["status"] == "Running").await;
    assert_eq!(listed["pods"][0]["host"], "node-a", "{listed}");
    let r = p1.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": POD})).await.expect("http");
    assert_error(&r, 409, "magnum-web");
    assert_eq!(p2.get("/v1/pods/magnum-web").await.expect("http").status, 404, "another project sees nothing");
    assert_eq!(p2.get("/v1/pods").await.expect("http").body["pods"], json!([]));

    // An RC from JSON served at a manifest_url: the controller-manager makes its pods.
    let url = serve(rc(2)).await;
    let r = p1.post("/v1/rcs", &json!({"bay_uuid": "kb", "manifest_url": url})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((r.body["name"].as_str(), r.body["replicas"].as_i64()), (Some("magnum-rc"), Some(2)), "{}", r.text);
    let pods_of_rc = || async {
        let pods = direct.list(Kind::Pod).await.expect("pods");
        pods.iter().filter(|p| p.pointer("/metadata/labels/app").and_then(Value::as_str) == Some("magnum-rc")).count()
    };
    let started = Instant::now();
    while pods_of_rc().await != 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "the RC's pods did not appear");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A service: Kubernetes gives it a cluster IP and fills in its ports.
    let r = p1.post("/v1/services", &json!({"bay_uuid": "kb", "manifest": SERVICE})).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let ip = r.body["ip"].as_str().expect("a cluster IP").to_owned();
    let live = direct.get(Kind::Service, "magnum-svc").await.expect("read").expect("in Kubernetes");
    assert_eq!(live.pointer("/spec/clusterIP").and_then(Value::as_str), Some(ip.as_str()));
    assert_eq!(r.body["ports"][0]["protocol"], "TCP", "Kubernetes' default shows: {}", r.text);
    assert_eq!(r.body["selector"], json!({"app": "magnum-rc"}));

    // Lists: the summary fields, narrowed by bay.
    let listed = p1.get("/v1/rcs?bay_ident=kb").await.expect("http").body;
    assert_eq!(listed["rcs"][0]["name"], "magnum-rc", "{listed}");
    assert!(listed["rcs"][0].get("created_at").is_none(), "{listed}");
    assert_eq!(p1.get("/v1/services/detail").await.expect("http").body["services"][0]["ip"], json!(ip));

    // PATCH with a new manifest replaces the RC in Kubernetes.
    let patch = json!([{"op": "replace", "path": "/manifest", "value": rc(3)}]);
    let r = p1.patch("/v1/rcs/magnum-rc/kb", &patch).await.expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["replicas"], 3, "{}", r.text);
    let live = direct.get(Kind::ReplicationController, "magnum-rc").await.expect("read").expect("rc");
    assert_eq!(live.pointer("/spec/replicas").and_then(Value::as_i64), Some(3));
    let renamed = json!([{"op": "replace", "path": "/manifest", "value": rc(1).replace("magnum-rc\"", "other-rc\"")}]);
    assert_error(&p1.patch("/v1/rcs/magnum-rc", &renamed).await.expect("http"), 400, "cannot rename");
    assert_error(
        &p1.patch("/v1/rcs/magnum-rc", &json!([{"op": "replace", "path": "/replicas", "value": 5}])).await.expect("http"),
        400,
        "internal",
    );

    // Reads follow Kubernetes: a scale made behind magnum's back shows.
    let scaled = direct.replace(Kind::ReplicationController, "magnum-rc", &serde_json::from_str(&rc(1)).expect("json")).await;
    assert_eq!(scaled.expect("scaled outside").pointer("/spec/replicas").and_then(Value::as_i64), Some(1));
    assert_eq!(p1.get("/v1/rcs/magnum-rc").await.expect("http").body["replicas"], 1);
    // ... and so does a pod deleted there (the list catches up through the health refresh).
    k8s.force_delete_pod("magnum-web").await;
    let started = Instant::now();
    loop {
        let shown = p1.get("/v1/pods/magnum-web").await.expect("http").body;
        if shown["status"] == "Unknown" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{shown}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A second registration of the same cluster, with a bearer token.
    if let Some(token) = &k8s.token {
        let endpoint = json!({"api_address": k8s.server, "ca_cert": k8s.ca, "token": token});
        let r = p1.post("/v1/bays", &json!({"name": "kt", "baymodel_id": "k8s", "external_endpoint": endpoint})).await.expect("http");
        assert!(r.status == 201 || r.status == 202, "{}", r.text);
        let bay = wait_for(&p1, "/v1/bays/kt", |b| b["status"] != "CREATE_IN_PROGRESS").await;
        assert_eq!(bay["status"], "CREATE_COMPLETE", "{bay}");
        assert!(!p1.get("/v1/bays/detail").await.expect("http").text.contains(token.as_str()), "the token is never shown");
        let r = p1.post("/v1/pods", &json!({"bay_uuid": "kt", "manifest": POD})).await.expect("http");
        assert_eq!(r.status, 201, "{}", r.text);
        // The same pod name on two bays: a name lookup needs the bay.
        assert_error(&p1.get("/v1/pods/magnum-web").await.expect("http"), 409, "magnum-web");
        assert_eq!(p1.get("/v1/pods/magnum-web/kt").await.expect("http").body["bay_uuid"], bay["uuid"]);
        assert_eq!(p1.delete("/v1/pods/magnum-web?bay_ident=kt").await.expect("http").status, 204);
        assert!(direct.get(Kind::Pod, "magnum-web").await.expect("read").is_none(), "deleted in Kubernetes");
        assert_eq!(p1.delete("/v1/bays/kt").await.expect("http").status, 204);
    } else {
        eprintln!("{test}: no admin.token next to the kubeconfig; the token registration is not exercised");
    }

    // Deletes remove the objects from Kubernetes (an RC with its pods).
    assert_eq!(p1.delete("/v1/pods/magnum-web").await.expect("http").status, 204);
    assert_eq!(p1.delete("/v1/rcs/magnum-rc").await.expect("http").status, 204);
    assert!(direct.get(Kind::ReplicationController, "magnum-rc").await.expect("read").is_none());
    let started = Instant::now();
    while pods_of_rc().await != 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the RC's pods were not removed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Deleting the bay only forgets it: the service stays in the cluster, its record goes.
    assert_eq!(p1.delete("/v1/bays/kb").await.expect("http").status, 204);
    common::wait_gone(&p1, &format!("/v1/bays/{kb_uuid}")).await;
    assert_eq!(p1.get("/v1/services").await.expect("http").body["services"], json!([]));
    assert!(direct.get(Kind::Service, "magnum-svc").await.expect("read").is_some(), "the cluster is its owner's");
    direct.delete(Kind::Service, "magnum-svc").await.expect("cleanup");
    env.finish().await;
}
