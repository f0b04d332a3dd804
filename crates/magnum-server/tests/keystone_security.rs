//! Multi-tenant security against a real Keystone (scripts/start-keystone.sh, started by
//! scripts/test.sh, which sets MAGNUM_TEST_KEYSTONE_URL): tokens, policy personas, isolation
//! over every endpoint, and no secret in the logs. Fixtures are the script's: tenant-a and
//! tenant-b each with a member and a reader, the admin, and the service user magnum.

mod common;
use common::{assert_error, Env};
use magnum_client::Client;
use magnum_types::container::{Container, ContainerStatus, CONTAINER_SCHEMA};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn keystone(test: &str) -> Option<String> {
    common::service_url("MAGNUM_TEST_KEYSTONE_URL", test, "scripts/start-keystone.sh")
}

/// A project-scoped token: (token, project id, user id).
async fn login(url: &str, user: &str, password: &str, project: &str) -> (String, String, String) {
    let ks = Client::new(url.trim_end_matches("/v3"));
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
    let r = ks.post("/v3/auth/tokens", &body).await.expect("keystone");
    assert_eq!(r.status, 201, "login {user}: {}", r.text);
    let token = r.header("x-subject-token").expect("token").to_owned();
    (
        token,
        r.body["token"]["project"]["id"].as_str().expect("project").to_owned(),
        r.body["token"]["user"]["id"].as_str().expect("user").to_owned(),
    )
}

async fn env_with_keystone(url: &str) -> Env {
    common::env_with_keystone(url, 300).await
}

fn with_token(base: &str, token: &str) -> Client {
    Client::new(base).header("X-Auth-Token", token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_tokens_are_required_validated_and_become_the_context() {
    let Some(url) = keystone("keystone_tokens_are_required_validated_and_become_the_context") else { return };
    let env = env_with_keystone(&url).await;
    let anonymous = Client::new(&env.base);
    for path in ["/v1/clusters", "/v1/clustertemplates", "/v1/mservices", "/v1/containers"] {
        let r = anonymous.get(path).await.expect("http");
        assert_error(&r, 401, "X-Auth-Token");
        assert_eq!(r.header("www-authenticate"), Some("Keystone uri=\"http://127.0.0.1:5000\""), "{path}");
    }
    // Headers that noauth would believe mean nothing here.
    let r = anonymous.clone().as_user("tenant-a", "someone", "admin").get("/v1/clusters").await.expect("http");
    assert_error(&r, 401, "X-Auth-Token");
    assert_error(&with_token(&env.base, "not-a-token").get("/v1/clusters").await.expect("http"), 401, "invalid or expired");
    assert_error(&with_token(&env.base, "bad\ttoken").get("/v1/clusters").await.expect("http"), 401, "does not hold a token");
    for path in ["/", "/v1", "/healthcheck"] {
        assert_eq!(anonymous.get(path).await.expect("http").status, 200, "{path} needs no token");
    }
    let (token, project, user) = login(&url, "a-member", "tenant-test", "tenant-a").await;
    let a = with_token(&env.base, &token);
    let t = a.post("/v1/clustertemplates", &json!({"name": "mine", "coe": "swarm-mode", "image_id": "img"})).await.expect("http");
    assert_eq!(t.status, 201, "{}", t.text);
    assert_eq!(
        (t.body["project_id"].clone(), t.body["user_id"].clone()),
        (json!(project), json!(user)),
        "the context comes from the token"
    );
    // Validated tokens are cached: a burst of requests costs Keystone one validation.
    let t0 = Instant::now();
    for _ in 0..50 {
        assert_eq!(a.get("/v1/clustertemplates").await.expect("http").status, 200);
    }
    eprintln!("50 authenticated requests in {:.0} ms", t0.elapsed().as_secs_f64() * 1e3);
    assert!(t0.elapsed() < Duration::from_secs(5), "cached validations are fast");
    // Keystone's admin is Magnum's admin; mservices is theirs alone.
    let (admin_token, _, _) = login(&url, "admin", "keystone-admin-test", "admin").await;
    assert_eq!(with_token(&env.base, &admin_token).get("/v1/mservices").await.expect("http").status, 200);
    assert_error(&a.get("/v1/mservices").await.expect("http"), 403, "magnum-service:get_all");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_projects_are_isolated_over_every_endpoint() {
    let Some(url) = keystone("keystone_projects_are_isolated_over_every_endpoint") else { return };
    let env = env_with_keystone(&url).await;
    let (ta, project_a, user_a) = login(&url, "a-member", "tenant-test", "tenant-a").await;
    let (tar, _, _) = login(&url, "a-reader", "tenant-test", "tenant-a").await;
    let (tb, _, _) = login(&url, "b-member", "tenant-test", "tenant-b").await;
    let (tadmin, _, _) = login(&url, "admin", "keystone-admin-test", "admin").await;
    // At the newest microversion, so that nodegroups (1.9) are reachable too.
    let latest = |t: &str| with_token(&env.base, t).microversion("latest");
    let (a, a_reader, b, admin) = (latest(&ta), latest(&tar), latest(&tb), latest(&tadmin));

    // Tenant A's objects: a template, a cluster (a COE without a driver: it fails at once, which
    // is fine for isolation), a container recorded on it.
    let t = a.post("/v1/clustertemplates", &json!({"name": "a-t", "coe": "swarm-mode", "image_id": "img"})).await.expect("http");
    assert_eq!(t.status, 201, "{}", t.text);
    let tid = t.body["uuid"].as_str().expect("uuid").to_owned();
    let r = a.post("/v1/clusters", &json!({"name": "a-c", "cluster_template_id": tid})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let cid = r.body["uuid"].as_str().expect("uuid").to_owned();
    common::wait_status(&a, &format!("/v1/clusters/{cid}"), "CREATE_FAILED").await;
    let checked = CONTAINER_SCHEMA.check_create(&json!({"name": "a-box", "image": "busybox", "bay_uuid": cid})).expect("valid");
    let mut box_ =
        Container::from_create(&checked, cid.parse().expect("uuid"), &project_a, &user_a, magnum_types::time::now()).expect("valid");
    box_.host = Some("node".into());
    box_.status = ContainerStatus::Running;
    let box_ = env.store.insert_container(&box_).await.expect("recorded");

    // B sees none of it, in lists or stats, and reaches none of it, by uuid or by name.
    for (path, key) in [
        ("/v1/clustertemplates", "clustertemplates"),
        ("/v1/baymodels/detail", "baymodels"),
        ("/v1/clusters", "clusters"),
        ("/v1/bays/detail", "bays"),
        ("/v1/containers/detail", "containers"),
        ("/v1/nodes", "nodes"),
    ] {
        let r = b.get(path).await.expect("http");
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.body[key], json!([]), "{path} shows B nothing of A's");
    }
    let stats = b.get("/v1/stats").await.expect("http").body;
    assert_eq!((stats["clusters"].clone(), stats["nodes"].clone()), (json!(0), json!(0)), "{stats}");
    let a_objects = [
        format!("/v1/clustertemplates/{tid}"),
        "/v1/clustertemplates/a-t".to_owned(),
        format!("/v1/baymodels/{tid}"),
        format!("/v1/clusters/{cid}"),
        "/v1/clusters/a-c".to_owned(),
        format!("/v1/bays/{cid}"),
        format!("/v1/clusters/{cid}/nodegroups"),
        format!("/v1/certificates/{cid}"),
        format!("/v1/containers/{}", box_.uuid),
        "/v1/containers/a-box".to_owned(),
    ];
    for path in &a_objects {
        let r = b.get(path).await.expect("http");
        assert_error(&r, 404, "could not be found");
        let r = b.patch(path, &json!([{"op": "replace", "path": "/name", "value": "taken"}])).await.expect("http");
        assert!(matches!(r.status, 404 | 405), "PATCH {path} by B: {}", r.text);
        let r = b.delete(path).await.expect("http");
        assert!(matches!(r.status, 404 | 405), "DELETE {path} by B: {}", r.text);
    }
    for action in ["start", "stop", "reboot", "pause", "unpause", "execute?command=id"] {
        assert_error(&b.put(&format!("/v1/containers/{}/{action}", box_.uuid), None).await.expect("http"), 404, "could not be found");
    }
    assert_error(&b.get(&format!("/v1/containers/{}/logs", box_.uuid)).await.expect("http"), 404, "could not be found");
    let resize = b.post(&format!("/v1/clusters/{cid}/actions/resize"), &json!({"node_count": 3})).await;
    assert_error(&resize.expect("http"), 404, "could not be found");
    let csr = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";
    let r = b.post("/v1/certificates", &json!({"cluster_uuid": cid, "csr": csr})).await.expect("http");
    assert!(matches!(r.status, 400 | 404), "ca-sign on A's bay by B: {}", r.text);
    let r = b.post("/v1/clusters", &json!({"name": "x", "cluster_template_id": tid})).await.expect("http");
    assert!(matches!(r.status, 400 | 404), "B cannot build from A's private template: {}", r.text);
    let r = b.post("/v1/containers", &json!({"image": "busybox", "bay_uuid": cid})).await.expect("http");
    assert_error(&r, 400, "could not be found");
    // A still has everything.
    for path in &a_objects[..8] {
        assert_eq!(a.get(path).await.expect("http").status, 200, "A reads {path}");
    }

    // A's reader reads and cannot write.
    assert_eq!(a_reader.get(&format!("/v1/clusters/{cid}")).await.expect("http").status, 200);
    // Policy lets a reader read logs; the conductor then refuses (it runs no engine driver).
    let r = a_reader.get(&format!("/v1/containers/{}/logs", box_.uuid)).await.expect("http");
    assert_error(&r, 400, "runs no containers");
    for (r, rule) in [
        (
            a_reader.post("/v1/clustertemplates", &json!({"name": "r", "coe": "kubernetes", "image_id": "i"})).await,
            "clustertemplate:create",
        ),
        (a_reader.delete(&format!("/v1/clusters/{cid}")).await, "cluster:delete"),
        (a_reader.put(&format!("/v1/containers/{}/stop", box_.uuid), None).await, "container:stop"),
        (
            a_reader.patch(&format!("/v1/clustertemplates/{tid}"), &json!([{"op": "replace", "path": "/name", "value": "n"}])).await,
            "clustertemplate:update",
        ),
    ] {
        assert_error(&r.expect("http"), 403, rule);
    }

    // Public templates: visible to every project, changeable by admins alone.
    let r =
        a.post("/v1/clustertemplates", &json!({"name": "p", "coe": "swarm-mode", "image_id": "img", "public": true})).await.expect("http");
    assert_error(&r, 403, "Not authorized to set public");
    let p = admin
        .post("/v1/clustertemplates", &json!({"name": "shared", "coe": "swarm-mode", "image_id": "img", "public": true}))
        .await
        .expect("http");
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body["uuid"].as_str().expect("uuid").to_owned();
    let listed: Vec<Value> =
        b.get("/v1/clustertemplates").await.expect("http").body["clustertemplates"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.iter().map(|t| t["uuid"].clone()).collect::<Vec<_>>(), vec![json!(pid)], "B sees the public template only");
    assert_eq!(b.get(&format!("/v1/clustertemplates/{pid}")).await.expect("http").status, 200);
    let r = b
        .patch(&format!("/v1/clustertemplates/{pid}"), &json!([{"op": "replace", "path": "/name", "value": "mine-now"}]))
        .await
        .expect("http");
    assert_error(&r, 403, "clustertemplate:update");
    assert_error(&b.delete(&format!("/v1/clustertemplates/{pid}")).await.expect("http"), 403, "clustertemplate:delete");
    let r = admin
        .patch(&format!("/v1/clustertemplates/{pid}"), &json!([{"op": "replace", "path": "/name", "value": "renamed"}]))
        .await
        .expect("http");
    assert_eq!(r.status, 200, "{}", r.text);
    // Admins list every project's with all_projects; members may not ask.
    let all = admin.get("/v1/clusters?all_projects=true").await.expect("http").body;
    assert!(all["clusters"].as_array().is_some_and(|c| c.iter().any(|x| x["uuid"] == json!(cid))), "{all}");
    assert_error(&b.get("/v1/clusters?all_projects=true").await.expect("http"), 403, "cluster:get_all_all_projects");
    env.finish().await;
}

/// Tokens, the service password and private keys never reach the logs (nor any response):
/// the real binary at debug level, driven with real tokens, its whole output searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_no_token_password_or_private_key_in_logs_or_responses() {
    let Some(url) = keystone("keystone_no_token_password_or_private_key_in_logs_or_responses") else { return };
    let dir = std::env::temp_dir().join(format!("magnum-leak-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let log = std::fs::File::create(dir.join("server.log")).expect("log");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_magnum-server"))
        .args(["--data-dir", dir.to_str().expect("utf8"), "--bind", &format!("127.0.0.1:{port}"), "all"])
        .env("MAGNUM_LOG", "debug")
        .env("MAGNUM_DOCKER__ENABLED", "false")
        .env("MAGNUM_AUTH__STRATEGY", "keystone")
        .env("MAGNUM_AUTH__AUTH_URL", &url)
        .env("MAGNUM_AUTH__USERNAME", "magnum")
        .env("MAGNUM_AUTH__PASSWORD", "magnum-service-test")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while !Client::new(&base).get("/").await.is_ok_and(|r| r.status == 200) {
        assert!(t0.elapsed() < Duration::from_secs(10), "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (token, _, _) = login(&url, "a-member", "tenant-test", "tenant-a").await;
    let (other, _, _) = login(&url, "b-reader", "tenant-test", "tenant-b").await;
    let a = with_token(&base, &token).microversion("latest");
    let mut bodies = vec![];
    let t = a.post("/v1/clustertemplates", &json!({"name": "t", "coe": "swarm-mode", "image_id": "img"})).await.expect("http");
    // This server builds no bays (no engine): a registered swarm, whose client key the user
    // gives, is the secret kept here (sealed in the store, never shown).
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["swarm".into()]).expect("params").self_signed(&key).expect("cert").pem();
    let endpoint = json!({"api_address": "tcp://127.0.0.1:9", "ca_cert": cert, "client_cert": cert, "client_key": key.serialize_pem()});
    let c = a.post("/v1/clusters", &json!({"name": "c", "cluster_template_id": "t", "external_endpoint": endpoint})).await.expect("http");
    assert_eq!(c.status, 202, "{}", c.text);
    let cid = c.body["uuid"].as_str().expect("uuid").to_owned();
    bodies.push(t.text);
    for path in
        [format!("/v1/clusters/{cid}"), format!("/v1/certificates/{cid}"), "/v1/clusters/detail".into(), "/v1/clustertemplates".into()]
    {
        bodies.push(a.get(&path).await.expect("http").text);
    }
    bodies.push(with_token(&base, &other).get("/v1/clusters").await.expect("http").text);
    bodies.push(with_token(&base, "forged-token-value-123").get("/v1/clusters").await.expect("http").text);
    let _ = server.kill();
    let _ = server.wait();
    let logs = std::fs::read_to_string(dir.join("server.log")).expect("log");
    assert!(logs.contains("request served") || logs.contains("cluster accepted"), "the log is the server's: {logs}");
    for secret in [token.as_str(), other.as_str(), "forged-token-value-123", "magnum-service-test", "PRIVATE KEY"] {
        assert!(!logs.contains(secret), "the log holds a secret ({} chars)", secret.len());
        for b in &bodies {
            assert!(!b.contains(secret), "a response holds a secret ({} chars): {b}", secret.len());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `magnum-server keystone-register` puts the container-infra service and its endpoint in
/// Keystone's catalog, and repeating it changes nothing (or moves the endpoint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_register_puts_the_service_in_the_catalog() {
    let Some(url) = keystone("keystone_register_puts_the_service_in_the_catalog") else { return };
    let name = format!("magnum-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let register = |public_url: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_magnum-server"))
            .args(["keystone-register", "--name", &name, "--public-url", public_url])
            .env("MAGNUM_AUTH__AUTH_URL", &url)
            .env("MAGNUM_AUTH__USERNAME", "magnum")
            .env("MAGNUM_AUTH__PASSWORD", "magnum-service-test")
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = register("http://127.0.0.1:19511/v1");
    assert!(first.contains("created") && first.contains("http://127.0.0.1:19511/v1 in RegionOne created"), "{first}");
    let again = register("http://127.0.0.1:19511/v1");
    assert!(again.contains("exists") && !again.contains("created"), "{again}");
    let moved = register("http://127.0.0.1:29511/v1");
    assert!(moved.contains("moved to http://127.0.0.1:29511/v1"), "{moved}");
    // What Keystone's catalog now says, read as its admin; then clean up.
    let (admin, _, _) = login(&url, "admin", "keystone-admin-test", "admin").await;
    let ks = Client::new(url.trim_end_matches("/v3")).header("X-Auth-Token", &admin).header("Connection", "close");
    let services = ks.get("/v3/services?type=container-infra").await.expect("http").body;
    let service = services["services"].as_array().into_iter().flatten().find(|s| s["name"] == json!(name)).cloned().expect("registered");
    let sid = service["id"].as_str().expect("id");
    let eps = ks.get(&format!("/v3/endpoints?service_id={sid}")).await.expect("http").body;
    let urls: Vec<Value> = eps["endpoints"].as_array().into_iter().flatten().map(|e| e["url"].clone()).collect();
    assert_eq!(urls, vec![json!("http://127.0.0.1:29511/v1")]);
    for e in eps["endpoints"].as_array().into_iter().flatten() {
        ks.delete(&format!("/v3/endpoints/{}", e["id"].as_str().expect("id"))).await.expect("http");
    }
    ks.delete(&format!("/v3/services/{sid}")).await.expect("http");
}

/// A validation is trusted for `token_cache_time` at most: a token revoked in Keystone stops
/// working here within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_revoked_token_stops_working_after_the_cache_time() {
    let Some(url) = keystone("keystone_revoked_token_stops_working_after_the_cache_time") else { return };
    let env = common::env_with_keystone(&url, 1).await;
    let (token, _, _) = login(&url, "a-member", "tenant-test", "tenant-a").await;
    let me = with_token(&env.base, &token);
    assert_eq!(me.get("/v1/clusters").await.expect("http").status, 200);
    let ks = Client::new(url.trim_end_matches("/v3")).header("X-Auth-Token", &token).header("X-Subject-Token", &token);
    let r = ks.delete("/v3/auth/tokens").await.expect("keystone");
    assert_eq!(r.status, 204, "revoke: {}", r.text);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_error(&me.get("/v1/clusters").await.expect("http"), 401, "invalid or expired");
    // A fresh token works again.
    let (fresh, _, _) = login(&url, "a-member", "tenant-test", "tenant-a").await;
    assert_eq!(with_token(&env.base, &fresh).get("/v1/clusters").await.expect("http").status, 200);
    env.finish().await;
}
