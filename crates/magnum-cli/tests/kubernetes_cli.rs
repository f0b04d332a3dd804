//! `pod-*`, `rc-*` and `coe-service-*` as a user runs them, on a real Kubernetes API server
//! (`MAGNUM_TEST_KUBECONFIG`: scripts/start-kubernetes.sh) registered as an external bay: each
//! command's exit code and output are checked, and what it did is checked in Kubernetes.

mod common;
use base64::Engine;
use common::{json, magnum, magnum_stdin, server};
use magnum_client::Client;
use magnum_drivers::kubernetes::client::KubeClient;
use magnum_types::external::ClientAuth;
use magnum_types::manifest::Kind;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The admin credentials of the test cluster, read from its kubeconfig.
struct Cluster {
    server: String,
    ca: String,
    cert: String,
    key: String,
}

fn cluster(test: &str) -> Option<Cluster> {
    let path = PathBuf::from(common::service_var("MAGNUM_TEST_KUBECONFIG", test, "scripts/start-kubernetes.sh")?);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cfg: Value = serde_yaml_ng::from_str(&text).expect("kubeconfig is YAML");
    let data = |pointer: &str| -> String {
        let b64 = cfg.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("kubeconfig lacks {pointer}"));
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")).expect("PEM text")
    };
    Some(Cluster {
        server: cfg.pointer("/clusters/0/cluster/server").and_then(Value::as_str).expect("server").to_owned(),
        ca: data("/clusters/0/cluster/certificate-authority-data"),
        cert: data("/users/0/user/client-certificate-data"),
        key: data("/users/0/user/client-key-data"),
    })
}

/// The rows of a table the CLI printed, as column → cell.
fn rows(out: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = out.lines().filter(|l| l.starts_with('|')).map(|l| {
        let inner = l.trim_start_matches('|').trim_end_matches('|');
        inner.split('|').map(|c| c.trim().to_owned()).collect::<Vec<_>>()
    });
    let header = lines.next().unwrap_or_else(|| panic!("not a table: {out}"));
    lines.map(|cells| header.iter().cloned().zip(cells).collect()).collect()
}

/// A field/value table (`*-create`, `*-show`, `*-update`) as field → value.
fn fields(out: &str) -> BTreeMap<String, String> {
    rows(out).into_iter().map(|r| (r["Field"].clone(), r["Value"].clone())).collect()
}

/// The live pods of the test's RC in Kubernetes.
async fn rc_pods(direct: &KubeClient) -> usize {
    let pods = direct.list(Kind::Pod).await.expect("pods");
    pods.iter().filter(|p| p.pointer("/metadata/labels/app").and_then(Value::as_str) == Some("cli-rc")).count()
}

async fn wait_rc_pods(direct: &KubeClient, want: usize) {
    let started = Instant::now();
    while rc_pods(direct).await != want {
        assert!(started.elapsed() < Duration::from_secs(60), "the RC's pods did not become {want}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cli-web\n  labels:\n    app: cli-web\nspec:\n  containers:\n  - name: web\n    image: magnum/busybox\n    command: [sleep, \"3600\"]\n";

fn rc(replicas: i64) -> String {
    json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "cli-rc"},
        "spec": {"replicas": replicas, "selector": {"app": "cli-rc"},
            "template": {"metadata": {"labels": {"app": "cli-rc"}},
                "spec": {"containers": [{"name": "web", "image": "magnum/busybox", "command": ["sleep", "3600"]}]}}}})
    .to_string()
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: cli-svc\nspec:\n  selector:\n    app: cli-rc\n  ports:\n  - port: 80\n    targetPort: 8080\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_cli_pods_rcs_and_services() {
    let test = "kubernetes_cli_pods_rcs_and_services";
    let Some(k8s) = cluster(test) else { return };
    let direct =
        KubeClient::new(&k8s.server, &k8s.ca, &ClientAuth::Certificate { cert: k8s.cert.clone(), key: k8s.key.clone() }).expect("client");
    // Leftovers of an interrupted run would make names clash (these pods are never bound to a
    // node, so a plain delete is immediate).
    for (kind, name) in [(Kind::Pod, "cli-web"), (Kind::ReplicationController, "cli-rc"), (Kind::Service, "cli-svc")] {
        direct.delete(kind, name).await.expect("cleanup");
    }
    wait_rc_pods(&direct, 0).await;

    let s = server(false, None).await;
    let b = s.base.as_str();
    let dir = std::env::temp_dir().join(format!("magnum-cli-k8s-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("manifest");
        path.to_str().expect("utf8").to_owned()
    };

    // The cluster as an external bay (the CLI has no option for an external endpoint).
    let (code, _, err) =
        magnum(b, &["baymodel-create", "--name", "k8s", "--coe", "kubernetes", "--image-id", "none", "--keypair-id", "kp"], &[]);
    assert_eq!(code, 0, "{err}");
    let p1 = Client::new(b).as_user("p1", "u1", "member");
    let endpoint = json!({"api_address": k8s.server, "ca_cert": k8s.ca, "client_cert": k8s.cert, "client_key": k8s.key});
    let r = p1.post("/v1/bays", &json!({"name": "kb", "baymodel_id": "k8s", "external_endpoint": endpoint})).await.expect("http");
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    let started = Instant::now();
    let bay = loop {
        let bay = p1.get("/v1/bays/kb").await.expect("http").body;
        if bay["status"] != "CREATE_IN_PROGRESS" {
            break bay;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{bay}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(bay["status"], "CREATE_COMPLETE", "{bay}");
    let bay_uuid = bay["uuid"].as_str().expect("uuid").to_owned();

    // A pod from a YAML file: its name and Kubernetes' status, Pending (no node runs it).
    let pod = file("pod.yaml", POD);
    let (code, out, err) = magnum(b, &["pod-create", "--bay", "kb", "--manifest", &pod, "--desc", "a web pod"], &[]);
    assert_eq!(code, 0, "{err}");
    let shown = fields(&out);
    assert_eq!((shown["name"].as_str(), shown["status"].as_str()), ("cli-web", "Pending"), "{out}");
    assert_eq!((shown["desc"].as_str(), shown["bay_uuid"].as_str()), ("a web pod", bay_uuid.as_str()), "{out}");
    assert_eq!((shown["images"].as_str(), shown["labels"].as_str()), ("magnum/busybox", "app=cli-web"), "{out}");
    let pod_uuid = shown["uuid"].clone();
    let live = direct.get(Kind::Pod, "cli-web").await.expect("read").expect("the pod is in Kubernetes");
    assert_eq!(live.pointer("/spec/containers/0/image").and_then(Value::as_str), Some("magnum/busybox"));

    let (code, out, err) = magnum(b, &["pod-list"], &[]);
    assert_eq!(code, 0, "{err}");
    let listed = rows(&out);
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!((listed[0]["name"].as_str(), listed[0]["status"].as_str()), ("cli-web", "Pending"), "{out}");
    assert_eq!((&listed[0]["uuid"], &listed[0]["bay_uuid"]), (&pod_uuid, &bay_uuid), "{out}");
    for args in [&["--format", "json", "pod-list"][..], &["--format", "json", "pod-list", "--bay", "kb"]] {
        let (code, out, err) = magnum(b, args, &[]);
        assert_eq!(code, 0, "{err}");
        let pods = json(&out);
        assert_eq!(pods.as_array().map(Vec::len), Some(1), "{out}");
        assert_eq!((pods[0]["name"].as_str(), pods[0]["images"].clone()), (Some("cli-web"), json!(["magnum/busybox"])), "{out}");
    }
    let (code, out, err) = magnum(b, &["pod-show", "cli-web"], &[]);
    assert_eq!(code, 0, "{err}");
    let shown = fields(&out);
    assert_eq!((shown["uuid"].as_str(), shown["status"].as_str()), (pod_uuid.as_str(), "Pending"), "{out}");
    assert_eq!((shown["desc"].as_str(), shown["labels"].as_str()), ("a web pod", "app=cli-web"), "{out}");
    let (code, out, err) = magnum(b, &["--format", "json", "pod-show", &pod_uuid, "--bay", "kb"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((json(&out)["name"].clone(), json(&out)["labels"].clone()), (json!("cli-web"), json!({"app": "cli-web"})), "{out}");

    // An RC from JSON on stdin; a new manifest from a file scales it in Kubernetes.
    let (code, out, err) = magnum_stdin(b, &["rc-create", "--bay", "kb", "--manifest", "-"], &rc(2));
    assert_eq!(code, 0, "{err}");
    let shown = fields(&out);
    assert_eq!((shown["name"].as_str(), shown["replicas"].as_str()), ("cli-rc", "2"), "{out}");
    assert_eq!((shown["images"].as_str(), shown["bay_uuid"].as_str()), ("magnum/busybox", bay_uuid.as_str()), "{out}");
    wait_rc_pods(&direct, 2).await;
    let rc3 = file("rc3.json", &rc(3));
    let (code, out, err) = magnum(b, &["rc-update", "cli-rc", "--manifest", &rc3], &[]);
    assert_eq!(code, 0, "{err}");
    let shown = fields(&out);
    assert_eq!((shown["name"].as_str(), shown["replicas"].as_str()), ("cli-rc", "3"), "{out}");
    let live = direct.get(Kind::ReplicationController, "cli-rc").await.expect("read").expect("the RC is in Kubernetes");
    assert_eq!(live.pointer("/spec/replicas").and_then(Value::as_i64), Some(3));
    wait_rc_pods(&direct, 3).await;
    let (code, out, err) = magnum(b, &["rc-list", "--bay", "kb"], &[]);
    assert_eq!(code, 0, "{err}");
    let listed = rows(&out);
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!((listed[0]["name"].as_str(), listed[0]["replicas"].as_str()), ("cli-rc", "3"), "{out}");
    let (code, out, err) = magnum(b, &["--format", "json", "rc-show", "cli-rc"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["replicas"], 3, "{out}");

    // A service: the cluster IP Kubernetes gave it, and its ports with Kubernetes' default
    // protocol.
    let svc = file("svc.yaml", SERVICE);
    let (code, out, err) = magnum(b, &["coe-service-create", "--bay", "kb", "--manifest", &svc], &[]);
    assert_eq!(code, 0, "{err}");
    let shown = fields(&out);
    let ip = shown["ip"].clone();
    let octets: Vec<u8> = ip.split('.').map(|o| o.parse().unwrap_or_else(|_| panic!("not an IPv4 address: {out}"))).collect();
    assert!(octets.len() == 4 && octets[..2] == [10, 96], "a cluster IP in 10.96.0.0/16: {out}");
    assert_eq!((shown["name"].as_str(), shown["selector"].as_str()), ("cli-svc", "app=cli-rc"), "{out}");
    assert_eq!(shown["ports"], "80/TCP→8080", "{out}");
    let live = direct.get(Kind::Service, "cli-svc").await.expect("read").expect("the service is in Kubernetes");
    assert_eq!(live.pointer("/spec/clusterIP").and_then(Value::as_str), Some(ip.as_str()));
    let (code, out, err) = magnum(b, &["coe-service-list"], &[]);
    assert_eq!(code, 0, "{err}");
    let listed = rows(&out);
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!((listed[0]["name"].as_str(), listed[0]["ip"].as_str()), ("cli-svc", ip.as_str()), "{out}");
    assert!(listed[0]["ports"].starts_with("80/TCP"), "{out}");
    let (code, out, err) = magnum(b, &["--format", "json", "coe-service-list", "--bay", "kb"], &[]);
    assert_eq!(code, 0, "{err}");
    let services = json(&out);
    assert_eq!((services[0]["ip"].as_str(), services[0]["ports"][0]["protocol"].as_str()), (Some(ip.as_str()), Some("TCP")), "{out}");

    // Deletes: from Kubernetes too, upstream's wording on stderr, nothing on stdout.
    for (cmd, name, what, kind) in [
        ("pod-delete", "cli-web", "pod", Kind::Pod),
        ("rc-delete", "cli-rc", "rc", Kind::ReplicationController),
        ("coe-service-delete", "cli-svc", "service", Kind::Service),
    ] {
        let (code, out, err) = magnum(b, &[cmd, name], &[]);
        assert_eq!((code, out.as_str()), (0, ""), "{cmd}: {err}");
        assert!(err.contains(&format!("Request to delete {what} {name} has been accepted.")), "{cmd}: {err}");
        assert!(direct.get(kind, name).await.expect("read").is_none(), "{cmd}: {name} is still in Kubernetes");
    }
    wait_rc_pods(&direct, 0).await;
    for cmd in ["pod-list", "rc-list", "coe-service-list"] {
        let (code, out, err) = magnum(b, &[cmd], &[]);
        assert_eq!(code, 0, "{cmd}: {err}");
        assert!(rows(&out).is_empty() && out.lines().count() == 4, "{cmd}: header only: {out}");
        let (code, out, err) = magnum(b, &["--format", "json", cmd, "--bay", "kb"], &[]);
        assert_eq!((code, json(&out)), (0, json!([])), "{cmd}: {err}");
    }
    let (code, out, err) = magnum(b, &["pod-delete", "cli-web"], &[]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("deleting pod cli-web failed (HTTP 404): Pod cli-web could not be found."), "{err}");
    assert!(!err.contains("has been accepted"), "{err}");

    // bay-config writes a kubeconfig naming the API server and its CA. An external bay's CA is
    // not magnum's to sign with, so it carries no credentials and the note says how to add them.
    let cfg_dir = dir.join("kube");
    let (code, out, err) = magnum(b, &["bay-config", "kb", "--dir", cfg_dir.to_str().expect("utf-8")], &[]);
    assert_eq!(code, 0, "{err}");
    let path = std::fs::canonicalize(&cfg_dir).expect("dir").join("config");
    assert_eq!(out.trim(), format!("export KUBECONFIG={}", path.display()), "{out}");
    assert!(err.contains("external bay") && err.contains("set-credentials kb"), "{err}");
    let written: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("config")).expect("YAML");
    assert_eq!(written.pointer("/clusters/0/cluster/server").and_then(Value::as_str), Some(k8s.server.as_str()), "{written}");
    assert_eq!(written.pointer("/users/0/user"), Some(&json!({})), "{written}");
    let ca = written.pointer("/clusters/0/cluster/certificate-authority-data").and_then(Value::as_str).expect("CA");
    let ca = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca).expect("base64")).expect("PEM");
    // With the user's own credential added, it reaches the cluster: the CA is the server's.
    let theirs = ClientAuth::Certificate { cert: k8s.cert.clone(), key: k8s.key.clone() };
    assert!(KubeClient::new(&k8s.server, &ca, &theirs).expect("client").version().await.is_ok());

    // The bay: forgotten by magnum (the cluster is its owner's).
    let (code, _, err) = magnum(b, &["bay-delete", "kb", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = magnum(b, &["--format", "json", "bay-list"], &[]);
    assert_eq!((code, json(&out)), (0, json!([])), "{err}");
    assert!(direct.version().await.is_ok(), "the cluster itself is untouched");
    let _ = std::fs::remove_dir_all(&dir);
    s.stop().await;
}
