//! The pod, RC and service APIs' rules that need no Kubernetes: input validation, which bays
//! may take objects (a registered endpoint that does not answer fails, and then takes none),
//! lookups and methods. Objects on a real Kubernetes API are in kubernetes_objects.rs.

mod common;
use common::{assert_error, Env};
use serde_json::json;
use std::time::{Duration, Instant};

both_backends!(objects_need_a_complete_kubernetes_bay_of_ones_own);

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
const POD: &str = "metadata: {name: web}\nspec: {containers: [{name: w, image: busybox}]}\n";

async fn objects_need_a_complete_kubernetes_bay_of_ones_own(env: &Env) {
    let c = env.member("p1");
    for (name, coe) in [("k8s", "kubernetes"), ("sw", "swarm-mode")] {
        let r = c.post("/v1/baymodels", &json!({"name": name, "coe": coe, "image_id": "img", "keypair_id": "kp"})).await;
        assert_eq!(r.expect("http").status, 201);
    }
    // Registration mistakes are 400s naming the field; nothing is recorded.
    let bad = [
        (json!({"api_address": "tcp://127.0.0.1:1", "ca_cert": CA, "token": "t"}), "must look like https://host:port"),
        (json!({"api_address": "https://127.0.0.1:1", "token": "t"}), "needs ca_cert"),
        (json!({"api_address": "https://127.0.0.1:1", "ca_cert": CA, "token": "a b"}), "one word"),
    ];
    for (endpoint, needle) in bad {
        let r = c.post("/v1/bays", &json!({"name": "x", "baymodel_id": "k8s", "external_endpoint": endpoint})).await.expect("http");
        assert_error(&r, 400, needle);
    }
    assert_eq!(c.get("/v1/bays").await.expect("http").body["bays"], json!([]));

    // An endpoint that does not answer: the bay fails with the reason, and takes no object.
    let dead = json!({"api_address": "https://127.0.0.1:1", "ca_cert": CA, "token": "secret-token"});
    let r = c.post("/v1/bays", &json!({"name": "dead", "baymodel_id": "k8s", "external_endpoint": dead})).await.expect("http");
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    let started = Instant::now();
    let bay = loop {
        let b = c.get("/v1/bays/dead").await.expect("http").body;
        if b["status"] != "CREATE_IN_PROGRESS" {
            break b;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(bay["status"], "CREATE_FAILED", "{bay}");
    assert!(bay["status_reason"].as_str().is_some_and(|r| r.contains("register it again")), "{bay}");
    assert!(!c.get("/v1/bays/detail").await.expect("http").text.contains("secret-token"), "the token is never shown");
    let r = c.post("/v1/pods", &json!({"bay_uuid": "dead", "manifest": POD})).await.expect("http");
    assert_error(&r, 400, "is CREATE_FAILED");

    // Not a Kubernetes bay, not one's own, no such bay: 400 as upstream.
    let r = c.post("/v1/bays", &json!({"name": "swarm", "baymodel_id": "sw"})).await.expect("http");
    assert!(r.status < 300, "{}", r.text);
    let r = c.post("/v1/rcs", &json!({"bay_uuid": "swarm", "manifest": POD})).await.expect("http");
    assert_error(&r, 400, "expecting a kubernetes bay");
    let r = env.member("p2").post("/v1/services", &json!({"bay_uuid": "dead", "manifest": POD})).await.expect("http");
    assert_error(&r, 400, "could not be found");

    // The body's own rules.
    let cases = [
        (json!({"manifest": POD}), "Mandatory field missing: bay_uuid"),
        (json!({"bay_uuid": "dead", "manifest": POD, "name": "x"}), "read only"),
        (json!({"bay_uuid": "dead", "manifest": POD, "replicas": 2}), "Unknown attribute for argument pod: replicas"),
        (json!({"bay_uuid": "dead", "manifest": 5}), "Expected 'str'"),
    ];
    for (body, needle) in cases {
        assert_error(&c.post("/v1/pods", &body).await.expect("http"), 400, needle);
    }

    // Lookups and methods.
    for coll in ["pods", "rcs", "services"] {
        assert_eq!(c.get(&format!("/v1/{coll}")).await.expect("http").body[coll], json!([]));
        assert_error(&c.get(&format!("/v1/{coll}/nope")).await.expect("http"), 404, "nope could not be found");
        assert_error(&c.get(&format!("/v1/{coll}/nope/dead")).await.expect("http"), 404, "nope could not be found");
        assert_error(&c.get(&format!("/v1/{coll}?bay_ident=elsewhere")).await.expect("http"), 404, "elsewhere");
        let patch = json!([{"op": "replace", "path": "/manifest", "value": POD}]);
        assert_error(&c.patch(&format!("/v1/{coll}/nope"), &patch).await.expect("http"), 404, "could not be found");
        assert_error(&c.delete(&format!("/v1/{coll}/nope")).await.expect("http"), 404, "could not be found");
        let r = c.put(&format!("/v1/{coll}/nope"), None).await.expect("http");
        assert_eq!(r.status, 405, "{}", r.text);
    }
}
