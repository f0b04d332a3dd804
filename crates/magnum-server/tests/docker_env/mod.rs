//! What the tests of real bays share: the engine (images built once per test process), a
//! server that drives it, and a user's TLS access to a bay's nodes.

#![allow(dead_code)]

use crate::common::{Backend, Env};
use magnum_client::Client;
use magnum_drivers::docker::{self, images};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const ENGINE: &str = "unix:///var/run/docker.sock";

/// The engine, with the node and workload images built (once per test process).
pub async fn engine(test: &str) -> Option<bollard::Docker> {
    static IMAGES: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let d = docker::connect(ENGINE, 600).ok();
    let up = match &d {
        Some(d) => docker::reachable(d).await,
        None => false,
    };
    if !up {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{test}: no Docker engine at {ENGINE} but MAGNUM_REQUIRE_SERVICES=1: run scripts/start-docker.sh");
        }
        eprintln!("\n*** SKIPPED {test}: no Docker engine at {ENGINE}. Run scripts/test.sh for the full suite. ***\n");
        return None;
    }
    let d = d?;
    IMAGES.get_or_init(|| async { images::build_all(&d).await.map(|_| ()).expect("build the node and workload images") }).await;
    Some(d)
}

pub async fn env_with_docker() -> Env {
    Env::start_with(Backend::Sqlite, |c| {
        c.docker.enabled = true;
        c.docker.url = ENGINE.into();
        c.docker.node_timeout = 90;
        c.conductor.health_interval = 1;
    })
    .await
    .expect("server")
}

/// Polls a cluster until it leaves `*_IN_PROGRESS`; returns it and the seconds it took.
pub async fn settle(c: &Client, path: &str) -> (Value, f64) {
    let started = Instant::now();
    loop {
        let body = c.get(path).await.expect("http").body;
        let status = body["status"].as_str().unwrap_or_default().to_owned();
        if !status.ends_with("IN_PROGRESS") {
            return (body, started.elapsed().as_secs_f64());
        }
        assert!(started.elapsed() < Duration::from_secs(150), "{path} stuck in {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A user's client credentials for a bay: a fresh key, its CSR signed through ca-sign, and the
/// bay's CA from ca-show, written where bollard's TLS connector can read them.
pub async fn user_credentials(c: &Client, bay: &str) -> std::path::PathBuf {
    user_credentials_as(c, bay, "tenant-user", None).await
}

/// [`user_credentials`] for the common name `cn`, in `organization` if given (on a Kubernetes
/// bay, `system:masters` is signed as its tenant-admins group).
pub async fn user_credentials_as(c: &Client, bay: &str, cn: &str, organization: Option<&str>) -> std::path::PathBuf {
    let ca = c.get(&format!("/v1/certificates/{bay}")).await.expect("http");
    assert_eq!(ca.status, 200, "{}", ca.text);
    let ca_pem = ca.body["pem"].as_str().expect("pem").to_owned();
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!ca.text.contains("PRIVATE KEY"), "ca-show never returns a private key");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    if let Some(o) = organization {
        params.distinguished_name.push(rcgen::DnType::OrganizationName, o);
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let csr = params.serialize_request(&key).expect("csr").pem().expect("pem");
    let signed = c.post("/v1/certificates", &json!({"bay_uuid": bay, "csr": csr})).await.expect("http");
    assert_eq!(signed.status, 201, "{}", signed.text);
    let dir = std::env::temp_dir().join(format!("magnum-user-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("ca.pem"), ca_pem).expect("ca");
    std::fs::write(dir.join("cert.pem"), signed.body["pem"].as_str().expect("pem")).expect("cert");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key");
    dir
}

pub fn tls_client(api_address: &str, creds: &std::path::Path) -> bollard::Docker {
    bollard::Docker::connect_with_ssl(
        api_address,
        &creds.join("key.pem"),
        &creds.join("cert.pem"),
        &creds.join("ca.pem"),
        30,
        &docker::API_VERSION,
    )
    .expect("TLS client")
}

/// A swarm bay of `node_count` workers (and its template, of the same name) for `c`; returns
/// it once CREATE_COMPLETE.
pub async fn swarm_bay(c: &Client, name: &str, node_count: i64) -> Value {
    let t =
        c.post("/v1/clustertemplates", &json!({"name": name, "coe": "swarm-mode", "image_id": images::NODE_IMAGE})).await.expect("http");
    assert_eq!(t.status, 201, "{}", t.text);
    let r = c.post("/v1/clusters", &json!({"name": name, "cluster_template_id": name, "node_count": node_count})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let (shown, _) = settle(c, &format!("/v1/clusters/{name}")).await;
    assert_eq!(shown["status"], json!("CREATE_COMPLETE"), "{shown}");
    shown
}

/// The docker CLI as a tenant runs it against a bay's node API, with the credentials of
/// [`user_credentials`] (the classic builder: the nodes refuse BuildKit sessions).
pub fn tenant_docker(creds: &std::path::Path, api: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .args(["--tlsverify", "--tlscacert", "ca.pem", "--tlscert", "cert.pem", "--tlskey", "key.pem", "-H", api])
        .args(args)
        .current_dir(creds)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("the docker CLI runs")
}
