//! Cluster templates and baymodels over HTTP: both vocabularies, every error path.

mod common;
use common::{assert_error, make_cluster, make_template, Env};
use serde_json::json;

both_backends!(
    template_lifecycle,
    baymodel_vocabulary,
    template_validation,
    public_needs_admin,
    template_in_use,
    template_visibility_between_projects,
);

async fn template_lifecycle(env: &Env) {
    let c = env.member("p1");
    let r = c
        .post(
            "/v1/clustertemplates",
            &json!({"name": "t1", "coe": "swarm", "image_id": "img", "labels": {"a": "1"}, "flavor_id": "m1.small"}),
        )
        .await
        .expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let uuid = r.body["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(r.header("location"), Some(format!("{}/v1/clustertemplates/{uuid}", env.base).as_str()));
    assert_eq!(r.body["project_id"], json!("p1"));
    assert_eq!(r.body["network_driver"], json!("docker"));
    assert_eq!(r.body["links"][0]["href"], json!(format!("{}/v1/clustertemplates/{uuid}", env.base)));
    assert!(r.body["created_at"].as_str().is_some_and(|t| t.ends_with("+00:00")));
    assert_eq!(r.body["updated_at"], json!(null));

    assert_eq!(c.get("/v1/clustertemplates/t1").await.expect("http").body["uuid"], json!(uuid));
    let list = c.get("/v1/clustertemplates").await.expect("http");
    assert_eq!(list.body["clustertemplates"][0]["labels"], json!({"a": "1"}), "modern lists show every field");

    let patched = c
        .patch(
            &format!("/v1/clustertemplates/{uuid}"),
            &json!([{"op": "replace", "path": "/name", "value": "t2"}, {"op": "add", "path": "/labels/b", "value": "2"}]),
        )
        .await
        .expect("http");
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!((patched.body["name"].clone(), patched.body["labels"].clone()), (json!("t2"), json!({"a": "1", "b": "2"})));
    assert!(patched.body["updated_at"].is_string());
    assert_eq!(c.get("/v1/clustertemplates/t2").await.expect("http").body["uuid"], json!(uuid));

    let p = |ops: serde_json::Value| {
        let c = c.clone();
        let path = format!("/v1/clustertemplates/{uuid}");
        async move { c.patch(&path, &ops).await.expect("http") }
    };
    assert_error(&p(json!([{"op": "replace", "path": "/uuid", "value": "x"}])).await, 400, "internal attribute");
    assert_error(&p(json!([{"op": "replace", "path": "/project_id", "value": "x"}])).await, 400, "internal attribute");
    assert_error(&p(json!([{"op": "remove", "path": "/image_id"}])).await, 400, "mandatory attribute");
    assert_error(&p(json!([{"op": "add", "path": "/colour", "value": "x"}])).await, 400, "Adding a new attribute");
    assert_error(&p(json!([{"op": "replace", "path": "/apiserver_port", "value": 1}])).await, 400, "greater or equal to 1024");
    assert_error(&p(json!([{"op": "replace", "path": "/coe", "value": "mesos"}])).await, 400, "COE type mesos");
    assert_error(&p(json!([{"op": "replace", "path": "/flavor_id", "value": "m1.gigantic"}])).await, 400, "Unable to find flavor");
    assert_error(&p(json!({"op": "replace"})).await, 400, "JSON array");
    // A bad patch is 400 even for a template that does not exist (the body is checked first).
    let r = c.patch("/v1/clustertemplates/00000000-0000-4000-8000-000000000000", &json!({"op": "x"})).await.expect("http");
    assert_error(&r, 400, "JSON array");
    let r = c
        .patch("/v1/clustertemplates/00000000-0000-4000-8000-000000000000", &json!([{"op": "replace", "path": "/name", "value": "x"}]))
        .await
        .expect("http");
    assert_error(&r, 404, "could not be found");
    assert_error(
        &c.patch("/v1/clustertemplates/fooo", &json!([{"op": "replace", "path": "/name", "value": "x"}])).await.expect("http"),
        404,
        "fooo",
    );

    let d = c.delete("/v1/clustertemplates/t2").await.expect("http");
    assert_eq!((d.status, d.text.as_str()), (204, ""));
    assert_error(&c.get(&format!("/v1/clustertemplates/{uuid}")).await.expect("http"), 404, "could not be found");
    assert_error(&c.delete(&format!("/v1/clustertemplates/{uuid}")).await.expect("http"), 404, "could not be found");
    assert_error(&c.delete("/v1/clustertemplates/fooo").await.expect("http"), 404, "could not be found");

    make_template(&c, "twin").await;
    make_template(&c, "twin").await;
    assert_error(&c.get("/v1/clustertemplates/twin").await.expect("http"), 409, "Multiple cluster templates");
    assert_error(&c.delete("/v1/clustertemplates/twin").await.expect("http"), 409, "Multiple cluster templates");
}

async fn baymodel_vocabulary(env: &Env) {
    let c = env.member("p1");
    // What python-magnumclient 3.7.0's baymodel-create sends.
    let body = json!({"name": "bm", "image_id": "fedora", "keypair_id": "kp", "external_network_id": "public", "coe": "swarm",
                      "dns_nameserver": "8.8.8.8", "flavor_id": "m1.medium", "docker_volume_size": 5, "tls_disabled": false, "public": false,
                      "labels": {}, "server_type": "vm", "registry_enabled": false, "master_lb_enabled": false, "floating_ip_enabled": true});
    let r = c.post("/v1/baymodels", &body).await.expect("http");
    assert_eq!(r.status, 201, "{}", r.text);
    let uuid = r.body["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(r.header("location"), Some(format!("{}/v1/baymodels/{uuid}", env.base).as_str()));
    let list = c.get("/v1/baymodels").await.expect("http");
    let item = &list.body["baymodels"][0];
    let mut keys: Vec<&str> = item.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["apiserver_port", "coe", "image_id", "links", "name", "uuid"], "baymodel lists are the summary view");
    assert_eq!(item["links"][1]["href"], json!(format!("{}/baymodels/{uuid}", env.base)));
    let detail = c.get("/v1/baymodels/detail").await.expect("http");
    assert_eq!(detail.body["baymodels"][0]["keypair_id"], json!("kp"));
    // The same object under its modern name.
    assert_eq!(c.get(&format!("/v1/clustertemplates/{uuid}")).await.expect("http").body["name"], json!("bm"));
    let r = c.patch("/v1/baymodels/bm", &json!([{"op": "replace", "path": "/docker_volume_size", "value": 10}])).await.expect("http");
    assert_eq!((r.status, r.body["docker_volume_size"].clone()), (200, json!(10)), "{}", r.text);
    assert_eq!(c.delete("/v1/baymodels/bm").await.expect("http").status, 204);
}

async fn template_validation(env: &Env) {
    let c = env.member("p1");
    let post = |body: serde_json::Value| {
        let c = c.clone();
        async move { c.post("/v1/clustertemplates", &body).await.expect("http") }
    };
    assert_error(&post(json!({"coe": "mesos", "image_id": "i"})).await, 400, "COE type mesos is not supported");
    assert_error(&post(json!({"image_id": "i"})).await, 400, "Mandatory field missing: coe");
    assert_error(&post(json!({"coe": "kubernetes", "image_id": "i", "network_driver": "weave"})).await, 400, "network_driver");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "volume_driver": "cinder"})).await, 400, "volume_driver");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "flavor_id": "m1.nope"})).await, 400, "Unable to find flavor m1.nope");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "master_flavor_id": "x"})).await, 400, "Unable to find flavor x");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "dns_nameserver": "dns.example"})).await, 400, "dns_nameserver");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "docker_volume_size": 0})).await, 400, "greater or equal to 1");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "server_type": "pc"})).await, 400, "server_type");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "name": ""})).await, 400, "minimum character");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "uuid": "not-a-uuid"})).await, 400, "uuid");
    let r = post(json!({"coe": "swarm", "image_id": "i"})).await;
    assert_eq!(r.status, 201, "keypair is optional: {}", r.text);
    assert!(r.body["name"].as_str().is_some_and(|n| n.ends_with("-template")), "a name is generated");
    let given = "11111111-2222-4333-8444-555555555555";
    assert_eq!(post(json!({"coe": "swarm", "image_id": "i", "uuid": given})).await.body["uuid"], json!(given), "a given uuid is honoured");
    assert_error(&post(json!({"coe": "swarm", "image_id": "i", "uuid": given})).await, 409, "already exists");
}

async fn public_needs_admin(env: &Env) {
    let c = env.member("p1");
    let r = c.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i", "public": true})).await.expect("http");
    assert_error(&r, 403, "Not authorized to set public");
    let r = c.post("/v1/baymodels", &json!({"coe": "swarm", "image_id": "i", "hidden": true})).await.expect("http");
    assert_error(&r, 403, "Not authorized");
    let t = make_template(&c, "mine").await;
    let path = format!("/v1/clustertemplates/{}", t["uuid"].as_str().expect("uuid"));
    assert_error(
        &c.patch(&path, &json!([{"op": "replace", "path": "/public", "value": true}])).await.expect("http"),
        403,
        "Not authorized",
    );
    let r = env.admin.patch(&path, &json!([{"op": "replace", "path": "/public", "value": true}])).await.expect("http");
    assert_eq!((r.status, r.body["public"].clone()), (200, json!(true)), "{}", r.text);
    let r = env.admin.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i", "public": true})).await.expect("http");
    assert_eq!((r.status, r.body["public"].clone()), (201, json!(true)));
    let reader = env.reader("p1");
    assert_error(
        &reader.post("/v1/clustertemplates", &json!({"coe": "swarm", "image_id": "i"})).await.expect("http"),
        403,
        "Policy doesn't allow clustertemplate:create",
    );
    assert_eq!(reader.get(&path).await.expect("http").status, 200, "readers read");
}

async fn template_in_use(env: &Env) {
    let c = env.member("p1");
    let t = make_template(&c, "used").await;
    let uuid = t["uuid"].as_str().expect("uuid").to_owned();
    make_cluster(&c, &uuid, "c1").await;
    let path = format!("/v1/clustertemplates/{uuid}");
    assert_error(&c.delete(&path).await.expect("http"), 400, "referenced by one or multiple clusters");
    assert_error(&c.delete("/v1/baymodels/used").await.expect("http"), 400, "referenced by one or multiple clusters");
    assert_error(
        &c.patch(&path, &json!([{"op": "replace", "path": "/image_id", "value": "other"}])).await.expect("http"),
        400,
        "referenced",
    );
    let r = c.patch(&path, &json!([{"op": "replace", "path": "/name", "value": "renamed"}])).await.expect("http");
    assert_eq!(r.status, 200, "a rename is allowed while in use: {}", r.text);
}

async fn template_visibility_between_projects(env: &Env) {
    let a = env.member("pa");
    let b = env.member("pb");
    let private = make_template(&a, "private").await;
    let pid = private["uuid"].as_str().expect("uuid");
    let public = env
        .admin
        .post("/v1/clustertemplates", &json!({"name": "shared", "coe": "swarm", "image_id": "i", "public": true}))
        .await
        .expect("http");
    let public_id = public.body["uuid"].as_str().expect("uuid");
    let listed = b.get("/v1/clustertemplates").await.expect("http");
    let ids: Vec<&str> = listed.body["clustertemplates"].as_array().expect("list").iter().filter_map(|t| t["uuid"].as_str()).collect();
    assert_eq!(ids, vec![public_id], "other projects see public templates only");
    assert_error(&b.get(&format!("/v1/clustertemplates/{pid}")).await.expect("http"), 404, "could not be found");
    assert_error(&b.delete(&format!("/v1/clustertemplates/{pid}")).await.expect("http"), 404, "could not be found");
    assert_eq!(b.get(&format!("/v1/clustertemplates/{public_id}")).await.expect("http").status, 200);
    let r = b
        .patch(&format!("/v1/clustertemplates/{public_id}"), &json!([{"op": "replace", "path": "/name", "value": "mine"}]))
        .await
        .expect("http");
    assert_error(&r, 403, "Policy doesn't allow clustertemplate:update");
    assert_error(&b.delete(&format!("/v1/clustertemplates/{public_id}")).await.expect("http"), 403, "clustertemplate:delete");
    let c = make_cluster(&b, public_id, "on-shared").await;
    assert!(!c.is_empty(), "clusters can be built from public templates");
    assert_error(&b.get("/v1/clustertemplates?all_projects=true").await.expect("http"), 403, "all_projects");
    let all = env.admin.get("/v1/clustertemplates?all_projects=true").await.expect("http");
    assert_eq!(all.body["clustertemplates"].as_array().expect("list").len(), 2);
}
