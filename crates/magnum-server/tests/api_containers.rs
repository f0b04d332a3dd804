//! The container API's rules that need no engine: input validation, which bays may take
//! containers, lookups, policy, methods, and what a split api process says of calls.
//! Containers on real bays are in docker_containers.rs.

mod common;
use common::{assert_error, make_cluster, make_template, mark_complete, wait_status, Env};
use magnum_types::container::{Container, ContainerStatus, CONTAINER_SCHEMA};
use serde_json::json;

both_backends!(create_is_validated, bays_that_cannot_take_containers, lookups_methods_and_policy);

/// A swarm bay the store says is complete (nothing is built in these tests).
async fn complete_bay(env: &Env, project: &str, name: &str) -> String {
    let c = env.member(project);
    let t = make_template(&c, &format!("t-{name}")).await;
    let uuid = make_cluster(&c, t["uuid"].as_str().expect("uuid"), name).await;
    wait_status(&c, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &uuid).await;
    uuid
}

async fn create_is_validated(env: &Env) {
    let c = env.member("p1");
    complete_bay(env, "p1", "bay").await;
    let cases = [
        (json!({"bay_uuid": "bay"}), "Mandatory field missing: image"),
        (json!({"image": "busybox"}), "Mandatory field missing: bay_uuid"),
        (json!({"image": "busybox", "bay_uuid": "bay", "cpus": 2}), "Unknown attribute for argument container: cpus"),
        (json!({"image": "busybox", "bay_uuid": "bay", "status": "Running"}), "read only"),
        (json!({"image": "busybox", "bay_uuid": "bay", "memory": "lots"}), "Invalid memory 'lots'"),
        (json!({"image": "busybox", "bay_uuid": "bay", "memory": "1m"}), "below Docker's minimum"),
        (json!({"image": "busybox", "bay_uuid": "bay", "memory": 512}), "Expected 'str'"),
        (json!({"image": "busybox", "bay_uuid": "bay", "command": "sh -c 'echo"}), "not closed"),
        (json!({"image": "busybox", "bay_uuid": "bay", "environment": ["A=1"]}), "dict"),
        (json!({"image": "", "bay_uuid": "bay"}), "minimum character"),
        (json!({"image": "busybox", "bay_uuid": "no-such-bay"}), "Cluster no-such-bay could not be found"),
    ];
    for (body, needle) in cases {
        let r = c.post("/v1/containers", &body).await.expect("http");
        assert_error(&r, 400, needle);
    }
    assert_error(&c.send(magnum_client::Method::POST, "/v1/containers", Some("{".into())).await.expect("http"), 400, "Malformed JSON");
    assert_eq!(c.get("/v1/containers").await.expect("http").body, json!({"containers": []}), "nothing half-written");
}

async fn bays_that_cannot_take_containers(env: &Env) {
    let c = env.member("p1");
    let mine = complete_bay(env, "p1", "mine").await;
    // Another project's bay is not the caller's to use: as unknown.
    let theirs = complete_bay(env, "p2", "theirs").await;
    let r = c.post("/v1/containers", &json!({"image": "busybox", "bay_uuid": theirs})).await.expect("http");
    assert_error(&r, 400, "could not be found");
    // A bay still being built.
    let t = make_template(&c, "t2").await;
    let building = make_cluster(&c, t["uuid"].as_str().expect("uuid"), "building").await;
    wait_status(&c, &format!("/v1/clusters/{building}"), "CREATE_FAILED").await;
    let r = c.post("/v1/containers", &json!({"image": "busybox", "bay_uuid": building})).await.expect("http");
    assert_error(&r, 400, "is CREATE_FAILED");
    // A Kubernetes bay. The API builds none, so one is made from a swarm bay whose template
    // becomes a Kubernetes one in the store.
    let k = c.post("/v1/clustertemplates", &json!({"name": "k8s", "coe": "swarm-mode", "image_id": "img"})).await.expect("http");
    assert_eq!(k.status, 201, "{}", k.text);
    let kb = make_cluster(&c, "k8s", "kbay").await;
    wait_status(&c, &format!("/v1/clusters/{kb}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &kb).await;
    let mut kt = env.store.get_template_by_uuid(k.body["uuid"].as_str().expect("uuid").parse().expect("uuid")).await.expect("template");
    kt.coe = "kubernetes".into();
    env.store.update_template(&kt).await.expect("template");
    let r = c.post("/v1/containers", &json!({"image": "busybox", "bay_uuid": "kbay"})).await.expect("http");
    assert_error(&r, 400, "containers run on swarm bays only");
    // A complete swarm bay whose conductor's driver runs no containers: its refusal comes back.
    let r = c.post("/v1/containers", &json!({"image": "busybox", "bay_uuid": mine})).await.expect("http");
    assert_error(&r, 400, "runs no containers");
    assert_eq!(c.get("/v1/containers").await.expect("http").body["containers"], json!([]));
}

async fn lookups_methods_and_policy(env: &Env) {
    let c = env.member("p1");
    let bay = complete_bay(env, "p1", "bay").await;
    // A container recorded as a conductor would have (no engine in these tests).
    let checked = CONTAINER_SCHEMA.check_create(&json!({"name": "web", "image": "busybox", "bay_uuid": bay})).expect("valid");
    let mut web = Container::from_create(&checked, bay.parse().expect("uuid"), "p1", "user-p1", magnum_types::time::now()).expect("valid");
    web.host = Some("node-0".into());
    web.status = ContainerStatus::Running;
    let web = env.store.insert_container(&web).await.expect("recorded");
    let path = format!("/v1/containers/{}", web.uuid);

    let shown = c.get("/v1/containers/web").await.expect("http");
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!((shown.body["status"].clone(), shown.body["host"].clone()), (json!("Running"), json!("node-0")));
    assert_eq!(shown.body["links"][0]["href"], json!(format!("{}{path}", env.base)));
    let list = c.get(&format!("/v1/containers?bay_ident={bay}")).await.expect("http").body;
    assert_eq!(list["containers"].as_array().map(Vec::len), Some(1));
    assert_error(&c.get("/v1/containers?limit=0").await.expect("http"), 400, "");
    assert_error(&c.get("/v1/containers?sort_key=host").await.expect("http"), 400, "sort_key");
    assert_error(&c.get("/v1/containers/nope").await.expect("http"), 404, "Container nope could not be found");

    // Rename: the only attribute a patch may change.
    let r = c.patch(&path, &json!([{"op": "replace", "path": "/name", "value": "front"}])).await.expect("http");
    assert_eq!((r.status, r.body["name"].clone()), (200, json!("front")), "{}", r.text);
    for (op, needle) in [
        (json!([{"op": "replace", "path": "/status", "value": "Stopped"}]), "internal attribute"),
        (json!([{"op": "replace", "path": "/bay_uuid", "value": "x"}]), "internal attribute"),
        (json!([{"op": "remove", "path": "/name"}]), "mandatory attribute"),
        (json!([{"op": "replace", "path": "/name", "value": "front"}]), "changes nothing"),
        (json!([{"op": "replace", "path": "/name", "value": "x".repeat(256)}]), "maximum character"),
    ] {
        assert_error(&c.patch(&path, &op).await.expect("http"), 400, needle);
    }

    // Wrong methods are 405; execute needs a command; actions on unknown containers are 404.
    assert_error(&c.get(&format!("{path}/stop")).await.expect("http"), 405, "");
    assert_error(&c.post(&format!("{path}/reboot"), &json!({})).await.expect("http"), 405, "");
    assert_error(&c.put(&format!("{path}/logs"), None).await.expect("http"), 405, "");
    assert_error(&c.put(&format!("{path}/execute"), Some(&json!({"cmd": "ls"}))).await.expect("http"), 400, "{\"command\"");
    assert_error(&c.put("/v1/containers/nope/start", None).await.expect("http"), 404, "could not be found");
    assert_error(&c.put("/v1/containers/nope/execute?command=ls", None).await.expect("http"), 404, "could not be found");

    // Policy: readers read, members act, other projects see nothing.
    let reader = env.reader("p1");
    assert_eq!(reader.get(&path).await.expect("http").status, 200);
    assert_error(&reader.put(&format!("{path}/pause"), None).await.expect("http"), 403, "container:pause");
    assert_error(&reader.put(&format!("{path}/execute?command=ls"), None).await.expect("http"), 403, "container:execute");
    assert_error(&reader.post("/v1/containers", &json!({"image": "b", "bay_uuid": bay})).await.expect("http"), 403, "container:create");
    assert_error(&reader.delete(&path).await.expect("http"), 403, "container:delete");
    let other = env.member("p2");
    assert_error(&other.get(&path).await.expect("http"), 404, "could not be found");
    assert_eq!(other.get("/v1/containers").await.expect("http").body["containers"], json!([]));
    let all = env.admin.get("/v1/containers?all_projects=true").await.expect("http").body;
    assert_eq!(all["containers"].as_array().map(Vec::len), Some(1), "admins list every project's");
    assert_error(&c.get("/v1/containers?all_projects=true").await.expect("http"), 403, "container:get_all_all_projects");

    // Deleting the bay forgets its containers.
    assert_eq!(c.delete(&format!("/v1/clusters/{bay}")).await.expect("http").status, 204);
    common::wait_gone(&c, &format!("/v1/clusters/{bay}")).await;
    assert_error(&c.get(&path).await.expect("http"), 404, "could not be found");
}

/// An api process without a conductor in it answers calls with a 503 that says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_api_process_cannot_carry_calls() {
    let env = Env::start(common::Backend::Sqlite).await.expect("env");
    let bay = complete_bay(&env, "p1", "bay").await;
    let checked = CONTAINER_SCHEMA.check_create(&json!({"image": "busybox", "bay_uuid": bay})).expect("valid");
    let mut c = Container::from_create(&checked, bay.parse().expect("uuid"), "p1", "u", magnum_types::time::now()).expect("valid");
    c.host = Some("node-0".into());
    env.store.insert_container(&c).await.expect("recorded");
    let mut config = magnum_config::Config::load(None, Vec::<(String, String)>::new()).expect("config");
    config.api.bind = "127.0.0.1:0".parse().expect("addr");
    config.data_dir = std::env::temp_dir().join(format!("magnum-api-{}", uuid::Uuid::new_v4().simple()));
    config.docker.enabled = false;
    let api = magnum_server::start_with_store(magnum_server::Mode::Api, config, env.store.clone(), std::future::pending::<()>())
        .await
        .expect("api starts");
    let client = magnum_client::Client::new(&format!("http://{}", api.addr.expect("listening"))).as_user("p1", "u", "member");
    let r = client.put(&format!("/v1/containers/{}/start", c.uuid), None).await.expect("http");
    assert_error(&r, 503, "through the database only");
    assert_eq!(client.get(&format!("/v1/containers/{}", c.uuid)).await.expect("http").status, 200, "reads still work");
    api.stop();
    env.finish().await;
}
