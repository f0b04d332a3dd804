//! DESIGN.md §4 conventions over HTTP: root documents, microversions, error bodies,
//! request ids, malformed input, unknown routes and methods, pagination.

mod common;
use common::{assert_error, make_cluster, make_template, Env};
use magnum_client::Method;
use serde_json::json;

both_backends!(root_documents_need_no_token, microversion_negotiation, malformed_input_is_400, unknown_routes_and_methods, pagination,);

async fn root_documents_need_no_token(env: &Env) {
    let anon = magnum_client::Client::new(&env.base);
    let r = anon.get("/").await.expect("http");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["versions"][0]["id"], json!("v1"));
    assert_eq!(r.body["versions"][0]["min_version"], json!("1.1"));
    assert_eq!(r.body["versions"][0]["max_version"], json!("1.14"));
    assert_eq!(r.body["versions"][0]["links"][0]["href"], json!(format!("{}/v1/", env.base)));
    assert!(r.header("x-openstack-request-id").is_some_and(|id| id.starts_with("req-")));
    assert_eq!(r.header("openstack-api-maximum-version"), Some("container-infra 1.14"), "every response advertises the range");
    let v1 = anon.get("/v1").await.expect("http");
    assert_eq!(v1.status, 200);
    assert_eq!(v1.body["id"], json!("v1"));
    assert_eq!(v1.body["clusters"][0]["href"], json!(format!("{}/v1/clusters/", env.base)));
    assert_eq!(v1.body["bays"][1]["rel"], json!("bookmark"));
    assert_eq!(v1.header("openstack-api-version"), Some("container-infra 1.1"));
    assert_eq!(anon.get("/v1/").await.expect("http").status, 200);
    let bad = anon.clone().microversion("9.9").get("/").await.expect("http");
    assert_eq!(bad.status, 200, "the root document is served whatever version is asked");
    let health = anon.get("/healthcheck").await.expect("http");
    assert_eq!((health.status, health.body["status"].clone()), (200, json!("OK")));
}

async fn microversion_negotiation(env: &Env) {
    let r = env.admin.clone().microversion("latest").get("/v1/clusters").await.expect("http");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("openstack-api-version"), Some("container-infra 1.14"));
    assert_eq!(r.header("openstack-api-minimum-version"), Some("container-infra 1.1"));
    assert_eq!(r.header("openstack-api-maximum-version"), Some("container-infra 1.14"));
    assert_eq!(r.header("vary"), Some("OpenStack-API-Version"));

    let r = env
        .admin
        .clone()
        .header("OpenStack-API-Version", "container-infrastructure-management 1.9")
        .get("/v1/clusters")
        .await
        .expect("http");
    assert_eq!(r.header("openstack-api-version"), Some("container-infrastructure-management 1.9"));

    let r = env.admin.clone().header("X-OpenStack-Magnum-API-Version", "1.1").get("/v1/bays").await.expect("http");
    assert_eq!((r.status, r.header("x-openstack-magnum-api-version")), (200, Some("1.1")), "legacy header accepted");

    for bad in ["container-infra 1.99", "container-infra 1.0", "container-infra 2.1"] {
        let r = env.admin.clone().header("OpenStack-API-Version", bad).get("/v1/clusters").await.expect("http");
        assert_eq!(r.status, 406, "{bad}");
        let e = &r.body["errors"][0];
        assert_eq!(e["code"], json!("magnum.microversion-unsupported"));
        assert_eq!(e["title"], json!("Requested microversion is unsupported"));
        assert_eq!((e["min_version"].clone(), e["max_version"].clone()), (json!("1.1"), json!("1.14")));
        assert_eq!(e["request_id"], json!(r.header("x-openstack-request-id").expect("id")));
        assert_eq!(r.header("openstack-api-maximum-version"), Some("container-infra 1.14"));
    }
    for bad in ["1.2", "compute 1.2", "container-infra one"] {
        let r = env.admin.clone().header("OpenStack-API-Version", bad).get("/v1/clusters").await.expect("http");
        assert_eq!(r.status, 406, "{bad}: {}", r.text);
    }
}

async fn malformed_input_is_400(env: &Env) {
    let c = &env.admin;
    let r = c.send(Method::POST, "/v1/clustertemplates", Some("{not json".into())).await.expect("http");
    assert_error(&r, 400, "Malformed JSON");
    let r = c.send(Method::POST, "/v1/clusters", Some(String::new())).await.expect("http");
    assert_error(&r, 400, "empty");
    let r = c.post("/v1/clustertemplates", &json!(["a"])).await.expect("http");
    assert_error(&r, 400, "JSON object");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i", "colour": "red"})).await.expect("http");
    assert_error(&r, 400, "Unknown attribute for argument cluster_template: colour");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i", "os_distro": "fedora"})).await.expect("http");
    assert_error(&r, 400, "Unknown attribute for argument cluster_template: os_distro");
    let r = c.post("/v1/baymodels", &json!({"coe": "swarm", "image_id": "i", "created_at": "now"})).await.expect("http");
    assert_error(&r, 400, "read only");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": 7})).await.expect("http");
    assert_error(&r, 400, "Expected 'str'");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i", "apiserver_port": 80})).await.expect("http");
    assert_error(&r, 400, "greater or equal to 1024");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i", "tls_disabled": "perhaps"})).await.expect("http");
    assert_error(&r, 400, "Expected 'bool'");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm"})).await.expect("http");
    assert_error(&r, 400, "Mandatory field missing: image_id");
    let r = c.get("/v1/clusters?limit=ten").await.expect("http");
    assert_error(&r, 400, "limit");
    // Nothing half-written by any of the refusals above.
    let list = c.get("/v1/clustertemplates").await.expect("http");
    assert_eq!(list.body["clustertemplates"], json!([]));
}

async fn unknown_routes_and_methods(env: &Env) {
    let r = env.admin.get("/v1/widgets").await.expect("http");
    assert_error(&r, 404, "could not be found");
    let r = env.admin.get("/v1/clusters/abc/detail").await.expect("http");
    assert_error(&r, 404, "could not be found");
    let r = env.admin.send(Method::PUT, "/v1/clusters", Some("{}".into())).await.expect("http");
    assert_error(&r, 405, "not allowed");
    assert!(r.header("allow").is_some_and(|a| a.contains("GET") && a.contains("POST")), "{:?}", r.headers);
    // A method no route serves is a 405 whatever the version asked; a served one is a 406 then.
    let unreadable = env.admin.clone().header("OpenStack-API-Version", "container-infra x.y");
    let r = unreadable.send(Method::PUT, "/v1/clusters", Some("{}".into())).await.expect("http");
    assert_error(&r, 405, "not allowed");
    let r = unreadable.get("/v1/clusters").await.expect("http");
    assert_eq!(r.status, 406, "{}", r.text);
    assert_eq!(r.body["errors"][0]["code"], "magnum.microversion-unsupported", "{}", r.text);
    // An unknown path is a 404, and still says which versions are served.
    let r = unreadable.get("/v1/widgets").await.expect("http");
    assert_error(&r, 404, "could not be found");
    assert!(r.header("openstack-api-maximum-version").is_some(), "{:?}", r.headers);
    let r = env.admin.get("/v1/clusters/00000000-0000-4000-8000-000000000000").await.expect("http");
    assert_error(&r, 404, "Cluster 00000000-0000-4000-8000-000000000000 could not be found");
}

async fn pagination(env: &Env) {
    let c = env.member("pager");
    let t = make_template(&c, "t").await["uuid"].as_str().expect("uuid").to_owned();
    let mut made = vec![];
    for i in 0..7 {
        made.push(make_cluster(&c, &t, &format!("c{i}")).await);
    }
    let first = c.get("/v1/clusters?limit=3").await.expect("http");
    let page: Vec<String> =
        first.body["clusters"].as_array().expect("list").iter().map(|x| x["uuid"].as_str().expect("uuid").to_owned()).collect();
    assert_eq!(page, made[..3]);
    let next = first.body["next"].as_str().expect("next link on a full page").to_owned();
    assert!(next.starts_with(&format!("{}/v1/clusters?", env.base)) && next.contains(&format!("marker={}", made[2])), "{next}");
    let mut seen = page;
    let mut url = Some(next);
    while let Some(u) = url {
        let r = c.get(u.trim_start_matches(&env.base)).await.expect("http");
        seen.extend(r.body["clusters"].as_array().expect("list").iter().map(|x| x["uuid"].as_str().expect("uuid").to_owned()));
        url = r.body["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, made, "following next visits every cluster once, in order");
    let desc = c.get("/v1/clusters/detail?sort_key=name&sort_dir=desc&limit=2").await.expect("http");
    assert_eq!(desc.body["clusters"][0]["name"], json!("c6"));
    assert!(
        desc.body["clusters"][0]["status_reason"].is_string() || desc.body["clusters"][0].get("status_reason").is_some(),
        "detail items are full"
    );
    assert!(desc.body["next"].as_str().is_some_and(|n| n.contains("/v1/clusters/detail?")));
    assert_error(&c.get("/v1/clusters?limit=0").await.expect("http"), 400, "Limit must be positive");
    assert_error(&c.get("/v1/clusters?sort_key=secret").await.expect("http"), 400, "invalid field for sorting");
    assert_error(&c.get("/v1/clusters?sort_dir=up").await.expect("http"), 400, "Invalid sort direction");
    assert_error(&c.get("/v1/clusters?marker=xyz").await.expect("http"), 400, "Invalid marker");
    assert_error(&c.get("/v1/clusters?marker=00000000-0000-4000-8000-000000000000").await.expect("http"), 404, "Marker");
    let all = c.get("/v1/clusters?limit=5000").await.expect("http");
    assert_eq!(all.body["clusters"].as_array().expect("list").len(), 7);
    assert!(all.body.get("next").is_none(), "no next on a partial page");
    let bays = c.get("/v1/bays?sort_key=baymodel_id").await.expect("http");
    assert_eq!(bays.status, 200, "{}", bays.text);
}
