//! The OpenAPI document at /v1/openapi.json against the server it describes: every operation it
//! lists is called on a real server, and the document and every answer are checked by
//! third-party validators (openapi-spec-validator and jsonschema from PyPI; scripts/test.sh
//! installs them and sets MAGNUM_TEST_OPENAPI_PYTHON).

mod common;
use common::{mark_complete, Backend, Env};
use magnum_client::Method;
use magnum_client::{Client, Reply};
use magnum_types::k8s_object::KubeObject;
use magnum_types::manifest::Kind;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Calls the server and keeps each answer with the document's spelling of its path.
struct Recorder {
    samples: Vec<Value>,
}

impl Recorder {
    async fn call(&mut self, c: &Client, method: Method, template: &str, path: &str, body: Option<Value>) -> Reply {
        let r = c.send(method.clone(), path, body.map(|b| b.to_string())).await.expect("http");
        let body = if r.text.is_empty() { Value::Null } else { r.body.clone() };
        assert!(r.status < 500, "{method} {path} answered {}: {}", r.status, r.text);
        self.samples.push(json!({"method": method.as_str().to_lowercase(), "path": template, "status": r.status, "body": body}));
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_real_answers() {
    let env = Env::start(Backend::Sqlite).await.expect("server");
    let c = &env.admin;
    let mut rec = Recorder { samples: vec![] };
    let doc = rec.call(c, Method::GET, "/v1/openapi.json", "/v1/openapi.json", None).await.body;
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    // The document is public, like the version documents.
    assert_eq!(Client::new(&env.base).get("/v1/openapi.json").await.expect("http").status, 200);
    rec.call(c, Method::GET, "/", "/", None).await;
    rec.call(c, Method::GET, "/v1", "/v1", None).await;

    // Templates in both vocabularies.
    for (coll, name) in [("clustertemplates", "t1"), ("baymodels", "m1")] {
        let body = json!({"name": name, "coe": "swarm-mode", "image_id": "img", "keypair_id": "kp", "labels": {"a": "b"}});
        let r = rec.call(c, Method::POST, &format!("/v1/{coll}"), &format!("/v1/{coll}"), Some(body)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        rec.call(c, Method::GET, &format!("/v1/{coll}"), &format!("/v1/{coll}"), None).await;
        rec.call(c, Method::GET, &format!("/v1/{coll}/detail"), &format!("/v1/{coll}/detail?limit=1"), None).await;
        rec.call(c, Method::GET, &format!("/v1/{coll}/{{ident}}"), &format!("/v1/{coll}/{name}"), None).await;
        let patch = json!([{"op": "replace", "path": "/dns_nameserver", "value": "8.8.4.4"}]);
        let r = rec.call(c, Method::PATCH, &format!("/v1/{coll}/{{ident}}"), &format!("/v1/{coll}/{name}"), Some(patch)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        rec.call(c, Method::GET, &format!("/v1/{coll}/{{ident}}"), &format!("/v1/{coll}/nope"), None).await;
    }

    // A cluster, marked complete as a driver would (this server runs no engine).
    let r = rec.call(c, Method::POST, "/v1/clusters", "/v1/clusters", Some(json!({"name": "c1", "cluster_template_id": "t1"}))).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let uuid = r.body["uuid"].as_str().expect("uuid").to_owned();
    common::wait_status(c, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &uuid).await;
    rec.call(c, Method::GET, "/v1/clusters", "/v1/clusters", None).await;
    rec.call(c, Method::GET, "/v1/clusters/detail", "/v1/clusters/detail", None).await;
    rec.call(c, Method::GET, "/v1/clusters/{ident}", "/v1/clusters/c1", None).await;
    rec.call(c, Method::GET, "/v1/clusters/{ident}/nodegroups", "/v1/clusters/c1/nodegroups", None).await;
    rec.call(c, Method::GET, "/v1/clusters/{ident}/nodegroups/{ng}", "/v1/clusters/c1/nodegroups/default-worker", None).await;
    let v = c.clone().microversion("1.10");
    let ngs = "/v1/clusters/{ident}/nodegroups";
    let r = rec.call(&v, Method::POST, ngs, "/v1/clusters/c1/nodegroups", Some(json!({"name": "extra", "node_count": 1}))).await;
    assert_eq!(r.status, 202, "{}", r.text);
    rec.call(&v, Method::POST, ngs, "/v1/clusters/c1/nodegroups", Some(json!({"name": "extra"}))).await;
    let one = "/v1/clusters/{ident}/nodegroups/{ng}";
    let patch = json!([{"op": "replace", "path": "/max_node_count", "value": 3}]);
    let r = rec.call(&v, Method::PATCH, one, "/v1/clusters/c1/nodegroups/extra", Some(patch)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    rec.call(
        &v,
        Method::PATCH,
        one,
        "/v1/clusters/c1/nodegroups/extra",
        Some(json!([{"op": "replace", "path": "/node_count", "value": 3}])),
    )
    .await;
    common::wait_status(c, &format!("/v1/clusters/{uuid}"), "UPDATE_FAILED").await;
    rec.call(&v, Method::DELETE, one, "/v1/clusters/c1/nodegroups/default-worker", None).await;
    assert_eq!(rec.call(&v, Method::DELETE, one, "/v1/clusters/c1/nodegroups/extra", None).await.status, 204);
    common::wait_status(c, &format!("/v1/clusters/{uuid}"), "UPDATE_FAILED").await;
    mark_complete(&env.store, &uuid).await;
    rec.call(c, Method::GET, "/v1/certificates/{ident}", "/v1/certificates/c1", None).await;
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "openapi");
    let csr = params.serialize_request(&key).expect("csr").pem().expect("pem");
    let r = rec.call(c, Method::POST, "/v1/certificates", "/v1/certificates", Some(json!({"cluster_uuid": uuid, "csr": csr}))).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A node as the health sync records it, and a container as the API records it.
    let now = magnum_types::time::now();
    let project = "admin-project"; // env.admin's
    let node = magnum_types::node::Node {
        uuid: uuid::Uuid::new_v4(),
        cluster_uuid: uuid.parse().expect("uuid"),
        project_id: project.into(),
        nodegroup: "default-worker".into(),
        role: "worker".into(),
        name: "c1-worker-0".into(),
        address: Some("10.0.0.3".into()),
        status: "Ready".into(),
        status_reason: None,
        image_id: Some("img".into()),
        created_at: now,
        updated_at: None,
    };
    env.store.record_nodes(node.cluster_uuid, project, std::slice::from_ref(&node)).await.expect("nodes");
    rec.call(c, Method::GET, "/v1/nodes", "/v1/nodes", None).await;
    rec.call(c, Method::GET, "/v1/nodes/detail", "/v1/nodes/detail", None).await;
    let listed = c.get("/v1/nodes").await.expect("http");
    let node_uuid = listed.body["nodes"][0]["uuid"].as_str().expect("a node").to_owned();
    rec.call(c, Method::GET, "/v1/nodes/{ident}", &format!("/v1/nodes/{node_uuid}"), None).await;
    let container = magnum_types::container::Container {
        id: 0,
        version: 0,
        uuid: uuid::Uuid::new_v4(),
        name: "web".into(),
        project_id: project.into(),
        user_id: "admin".into(),
        bay_uuid: node.cluster_uuid,
        image: "magnum/workload".into(),
        command: Some("sleep 1".into()),
        memory: Some("64m".into()),
        environment: [("A".to_owned(), "1".to_owned())].into(),
        status: magnum_types::container::ContainerStatus::Running,
        status_reason: None,
        host: Some("c1-worker-0".into()),
        keep_running: false,
        created_at: now,
        updated_at: None,
    };
    env.store.insert_container(&container).await.expect("container");
    rec.call(c, Method::GET, "/v1/containers", "/v1/containers", None).await;
    rec.call(c, Method::GET, "/v1/containers/detail", "/v1/containers/detail", None).await;
    rec.call(c, Method::GET, "/v1/containers/{ident}", "/v1/containers/web", None).await;
    let patch = json!([{"op": "replace", "path": "/name", "value": "web2"}]);
    assert_eq!(rec.call(c, Method::PATCH, "/v1/containers/{ident}", "/v1/containers/web", Some(patch)).await.status, 200);
    // Without an engine the rest are refused; their errors are checked against the document.
    let r = rec.call(c, Method::POST, "/v1/containers", "/v1/containers", Some(json!({"image": "x", "bay_uuid": "c1"}))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    rec.call(c, Method::GET, "/v1/containers/{ident}/logs", "/v1/containers/web2/logs", None).await;
    rec.call(c, Method::PUT, "/v1/containers/{ident}/execute", "/v1/containers/web2/execute?command=true", None).await;
    for action in magnum_types::container::ContainerAction::ALL {
        let a = action.as_str();
        rec.call(c, Method::PUT, &format!("/v1/containers/{{ident}}/{a}"), &format!("/v1/containers/web2/{a}"), None).await;
    }
    rec.call(c, Method::DELETE, "/v1/containers/{ident}", "/v1/containers/web2", None).await;

    // A pod, an RC and a service as the conductor records them. Bay c1 is a swarm bay, so the
    // calls that reach Kubernetes are refused; their errors are checked against the document.
    for (kind, manifest) in [
        (Kind::Pod, "metadata: {name: web, labels: {app: web}}\nspec: {containers: [{name: w, image: busybox}]}\n"),
        (
            Kind::ReplicationController,
            "metadata: {name: web}\nspec: {replicas: 2, selector: {app: web}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: w, image: busybox}]}}}\n",
        ),
        (Kind::Service, "metadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n"),
    ] {
        let coll = kind.collection();
        let parsed = magnum_types::manifest::parse(manifest, kind).expect("manifest");
        let o = KubeObject::from_create(kind, &Default::default(), &parsed, node.cluster_uuid, project, "admin", now).expect("object");
        env.store.insert_kube_object(&o).await.expect("recorded");
        rec.call(c, Method::GET, &format!("/v1/{coll}"), &format!("/v1/{coll}?bay_ident=c1"), None).await;
        rec.call(c, Method::GET, &format!("/v1/{coll}/detail"), &format!("/v1/{coll}/detail"), None).await;
        let item = format!("/v1/{coll}/{{ident}}");
        let r = rec.call(c, Method::GET, &item, &format!("/v1/{coll}/web"), None).await;
        assert_eq!(r.status, 400, "{}", r.text);
        let body = json!({"bay_uuid": "c1", "manifest": manifest});
        let r = rec.call(c, Method::POST, &format!("/v1/{coll}"), &format!("/v1/{coll}"), Some(body)).await;
        assert!(r.text.contains("expecting a kubernetes bay"), "{}", r.text);
        let patch = json!([{"op": "replace", "path": "/manifest", "value": manifest}]);
        assert_eq!(rec.call(c, Method::PATCH, &item, &format!("/v1/{coll}/web"), Some(patch)).await.status, 400);
        assert_eq!(rec.call(c, Method::DELETE, &item, &format!("/v1/{coll}/web"), None).await.status, 400);
    }

    let patch = json!([{"op": "replace", "path": "/node_count", "value": 2}]);
    assert_eq!(rec.call(c, Method::PATCH, "/v1/clusters/{ident}", "/v1/clusters/c1", Some(patch)).await.status, 202);
    common::wait_status(c, &format!("/v1/clusters/{uuid}"), "UPDATE_FAILED").await;
    let resize = json!({"node_count": 3});
    rec.call(c, Method::POST, "/v1/clusters/{ident}/actions/resize", "/v1/clusters/c1/actions/resize", Some(resize)).await;
    rec.call(
        c,
        Method::POST,
        "/v1/clusters/{ident}/actions/upgrade",
        "/v1/clusters/c1/actions/upgrade",
        Some(json!({"cluster_template": "t1"})),
    )
    .await;
    rec.call(c, Method::PATCH, "/v1/certificates/{ident}", "/v1/certificates/c1", None).await;
    common::wait_status(c, &format!("/v1/clusters/{uuid}"), "UPDATE_FAILED").await;
    rec.call(c, Method::PATCH, "/v1/credentials/{ident}", "/v1/credentials/c1", None).await;

    // Bays: 201 with the bay at 1.1, 202 from 1.2.
    let old = c.clone().microversion("1.1");
    let r = rec.call(&old, Method::POST, "/v1/bays", "/v1/bays", Some(json!({"name": "b1", "baymodel_id": "m1"}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new = c.clone().microversion("latest");
    let r = rec.call(&new, Method::POST, "/v1/bays", "/v1/bays", Some(json!({"name": "b2", "baymodel_id": "m1", "node_count": 0}))).await;
    assert_eq!(r.status, 202, "{}", r.text);
    for name in ["b1", "b2"] {
        let u = c.get(&format!("/v1/bays/{name}")).await.expect("http").body["uuid"].as_str().expect("uuid").to_owned();
        common::wait_status(c, &format!("/v1/bays/{u}"), "CREATE_FAILED").await;
        mark_complete(&env.store, &u).await;
    }
    rec.call(c, Method::GET, "/v1/bays", "/v1/bays", None).await;
    rec.call(&old, Method::GET, "/v1/bays/detail", "/v1/bays/detail", None).await;
    rec.call(c, Method::GET, "/v1/bays/{ident}", "/v1/bays/b1", None).await;
    let patch = json!([{"op": "replace", "path": "/node_count", "value": 2}]);
    rec.call(&old, Method::PATCH, "/v1/bays/{ident}", "/v1/bays/b1", Some(patch.clone())).await;
    rec.call(&new, Method::PATCH, "/v1/bays/{ident}", "/v1/bays/b2", Some(patch)).await;

    rec.call(c, Method::GET, "/v1/mservices", "/v1/mservices", None).await;
    rec.call(c, Method::GET, "/v1/stats", "/v1/stats", None).await;
    let quota = json!({"project_id": "p1", "resource": "Cluster", "hard_limit": 3});
    assert_eq!(rec.call(c, Method::POST, "/v1/quotas", "/v1/quotas", Some(quota)).await.status, 201);
    rec.call(c, Method::GET, "/v1/quotas", "/v1/quotas", None).await;
    rec.call(c, Method::GET, "/v1/quotas/{project_id}/{resource}", "/v1/quotas/p1/Cluster", None).await;
    let patch = json!([{"op": "replace", "path": "/hard_limit", "value": 4}]);
    rec.call(c, Method::PATCH, "/v1/quotas/{project_id}/{resource}", "/v1/quotas/p1/Cluster", Some(patch)).await;
    rec.call(c, Method::DELETE, "/v1/quotas/{project_id}/{resource}", "/v1/quotas/p1/Cluster", None).await;

    for (coll, name) in [("clusters", "c1"), ("bays", "b1"), ("bays", "b2")] {
        let u = c.get(&format!("/v1/{coll}/{name}")).await.expect("http").body["uuid"].as_str().expect("uuid").to_owned();
        assert_eq!(rec.call(c, Method::DELETE, &format!("/v1/{coll}/{{ident}}"), &format!("/v1/{coll}/{name}"), None).await.status, 204);
        common::wait_gone(c, &format!("/v1/{coll}/{u}")).await;
    }
    // Bad input answers in the document's error format too.
    rec.call(c, Method::POST, "/v1/clustertemplates", "/v1/clustertemplates", Some(json!({"coe": "swarm", "bogus": 1}))).await;
    for (coll, name) in [("clustertemplates", "t1"), ("baymodels", "m1")] {
        assert_eq!(rec.call(c, Method::DELETE, &format!("/v1/{coll}/{{ident}}"), &format!("/v1/{coll}/{name}"), None).await.status, 204);
    }

    // Every operation of the document was called, and the document lists no path the router lacks.
    let called: BTreeSet<(String, String)> =
        rec.samples.iter().map(|s| (s["method"].as_str().unwrap_or("").to_owned(), s["path"].as_str().unwrap_or("").to_owned())).collect();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, ops) in paths {
        for method in ops.as_object().expect("operations").keys() {
            assert!(called.contains(&(method.clone(), path.clone())), "{method} {path} is documented but this test never called it");
        }
    }
    for s in &rec.samples {
        assert!(s["status"] != json!(404) || s["body"]["errors"][0]["detail"].as_str().is_some_and(|d| d.contains("could not be found")));
        assert_ne!(s["status"], json!(405), "{s}");
    }

    match std::env::var("MAGNUM_TEST_OPENAPI_PYTHON").ok().filter(|p| std::path::Path::new(p).exists()) {
        Some(python) => {
            let dir = std::env::temp_dir().join(format!("magnum-openapi-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("openapi.json"), doc.to_string()).expect("write");
            std::fs::write(dir.join("samples.json"), Value::Array(rec.samples.clone()).to_string()).expect("write");
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi/validate.py");
            let out = std::process::Command::new(python)
                .arg(script)
                .arg(dir.join("openapi.json"))
                .arg(dir.join("samples.json"))
                .output()
                .expect("run the validator");
            let _ = std::fs::remove_dir_all(&dir);
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success(), "the document or an answer does not validate:\n{text}");
            assert!(text.contains(&format!("{} answers checked", rec.samples.len())), "{text}");
        }
        None if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("MAGNUM_TEST_OPENAPI_PYTHON is not set but MAGNUM_REQUIRE_SERVICES=1: run scripts/test.sh")
        }
        None => eprintln!("\n*** SKIPPED the third-party validation: MAGNUM_TEST_OPENAPI_PYTHON is unset (scripts/test.sh sets it). ***\n"),
    }
    env.finish().await;
}
