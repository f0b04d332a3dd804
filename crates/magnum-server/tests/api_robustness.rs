//! Bad input anywhere is a 4xx in Magnum's format: never a 500, a panic or a half-written row.
//! Every attribute of every writable resource gets every wrong kind of JSON value.

mod common;
use common::{make_cluster, make_template, mark_complete, Env};
use serde_json::{json, Value};

both_backends!(no_body_or_value_makes_a_server_error,);

fn hostile_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1e300),
        json!(9_223_372_036_854_775_807i64),
        json!(""),
        json!("x".repeat(70_000)),
        json!("\u{0000}\u{202e}é😀"),
        json!([]),
        json!([1, "a"]),
        json!({}),
        json!({"nested": {"deep": [1]}}),
    ]
}

async fn no_body_or_value_makes_a_server_error(env: &Env) {
    let c = env.member("fuzz").microversion("latest");
    let t = make_template(&c, "t").await["uuid"].as_str().expect("uuid").to_owned();
    let cluster = make_cluster(&c, &t, "k").await;
    mark_complete(&env.store, &cluster).await;
    let posts: [(&str, Value, &[&str]); 4] = [
        (
            "/v1/clustertemplates",
            json!({"coe": "swarm", "image_id": "i"}),
            &[
                "name",
                "coe",
                "image_id",
                "flavor_id",
                "dns_nameserver",
                "apiserver_port",
                "docker_volume_size",
                "labels",
                "public",
                "tls_disabled",
                "uuid",
                "server_type",
                "docker_storage_driver",
                "network_driver",
            ],
        ),
        ("/v1/baymodels", json!({"coe": "swarm", "image_id": "i"}), &["name", "coe", "image_id", "labels", "registry_enabled"]),
        (
            "/v1/clusters",
            json!({"cluster_template_id": t}),
            &[
                "name",
                "cluster_template_id",
                "node_count",
                "master_count",
                "labels",
                "create_timeout",
                "flavor_id",
                "merge_labels",
                "keypair",
            ],
        ),
        ("/v1/bays", json!({"baymodel_id": t}), &["name", "baymodel_id", "node_count", "master_count", "bay_create_timeout", "labels"]),
    ];
    let mut sent = 0;
    for (path, base, fields) in posts {
        for field in fields {
            for v in hostile_values() {
                let mut body = base.clone();
                body[*field] = v.clone();
                let r = c.post(path, &body).await.expect("http");
                assert!(r.status < 500, "POST {path} {field}={v}: {} {}", r.status, r.text);
                if r.status >= 400 {
                    assert!(r.body["errors"][0]["detail"].is_string(), "POST {path}: not Magnum's error format: {}", r.text);
                }
                sent += 1;
            }
        }
    }
    let patches = [format!("/v1/clustertemplates/{t}"), format!("/v1/clusters/{cluster}"), format!("/v1/bays/{cluster}")];
    for path in &patches {
        for p in ["/name", "/node_count", "/labels", "/labels/x", "/image_id", "/health_status", "/public", "/master_count"] {
            for op in ["add", "replace", "remove"] {
                for v in hostile_values() {
                    let r = c.patch(path, &json!([{"op": op, "path": p, "value": v}])).await.expect("http");
                    assert!(r.status < 500, "PATCH {path} {op} {p}={v}: {} {}", r.status, r.text);
                    sent += 1;
                }
            }
        }
        for body in [json!(null), json!(1), json!("s"), json!([null]), json!([{"op": "add"}]), json!([{"path": "/name"}])] {
            let r = c.patch(path, &body).await.expect("http");
            assert!((400..500).contains(&r.status), "PATCH {path} {body}: {} {}", r.status, r.text);
        }
    }
    for body in ["", "{", "[", "nul", "\u{feff}{}", "{\"a\":}", "{}{}"] {
        for path in ["/v1/clustertemplates", "/v1/clusters", "/v1/quotas", &format!("/v1/clusters/{cluster}/actions/resize")] {
            let r = c.send(magnum_client::Method::POST, path, Some(body.to_owned())).await.expect("http");
            assert!((400..500).contains(&r.status), "POST {path} {body:?}: {} {}", r.status, r.text);
        }
    }
    // Certificates: every wrong CSR and bay reference is a 4xx, never a 500.
    let ca = c.get(&format!("/v1/certificates/{cluster}")).await.expect("http");
    assert_eq!(ca.status, 200, "{}", ca.text);
    let ca_pem = ca.body["pem"].as_str().expect("pem").to_owned();
    let truncated = ca_pem[..ca_pem.len() / 2].to_owned();
    for csr in [
        json!(""),
        json!("garbage"),
        json!(ca_pem),
        json!(truncated),
        json!("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        json!(7),
        json!(null),
    ] {
        for bay in [json!(cluster), json!("no-such-bay"), json!(""), json!(1)] {
            let r = c.post("/v1/certificates", &json!({"cluster_uuid": bay, "csr": csr})).await.expect("http");
            assert!((400..500).contains(&r.status), "ca-sign {bay} {csr}: {} {}", r.status, r.text);
        }
    }
    for q in ["limit=-1", "limit=99999999999999999999", "marker=%ZZ", "sort_key=", "sort_dir=%00", "all_projects=maybe"] {
        let r = c.get(&format!("/v1/clusters?{q}")).await.expect("http");
        assert!(r.status < 500, "GET ?{q}: {} {}", r.status, r.text);
    }
    assert!(sent > 500, "the sweep covered {sent} requests");
    // Whatever was accepted is whole: every stored cluster reads back and has its nodegroups.
    let all = c.get("/v1/clusters?limit=1000").await.expect("http");
    for item in all.body["clusters"].as_array().expect("list") {
        let id = item["uuid"].as_str().expect("uuid");
        let ngs = c.get(&format!("/v1/clusters/{id}/nodegroups")).await.expect("http");
        assert_eq!(ngs.body["nodegroups"].as_array().map(Vec::len), Some(2), "{id} is whole");
    }
}
