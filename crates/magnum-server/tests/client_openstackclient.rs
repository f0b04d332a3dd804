//! The current python-magnumclient through python-openstackclient (`openstack coe ...`), from
//! PyPI (scripts/test.sh installs them and sets MAGNUM_TEST_OPENSTACK), against a noauth
//! server the way that client allows it: `--os-auth-type none --os-endpoint <url>/v1`.
//! Every command's output is checked, not only its exit code.

mod common;
use common::{mark_complete, Backend, Env};
use magnum_client::Client;
use serde_json::{json, Value};
use std::process::Command;

struct Osc {
    bin: String,
    /// How the client authenticates: noauth with an endpoint, or Keystone password options.
    auth: Vec<String>,
}

impl Osc {
    fn noauth(bin: &str, endpoint: String) -> Osc {
        Osc { bin: bin.to_owned(), auth: vec!["--os-auth-type".into(), "none".into(), "--os-endpoint".into(), endpoint] }
    }

    /// Keystone password auth; the endpoint comes from the catalog of `region`.
    fn keystone(bin: &str, auth_url: &str, region: &str, user: &str, password: &str, project: &str) -> Osc {
        let auth = [
            ("--os-auth-url", auth_url),
            ("--os-identity-api-version", "3"),
            ("--os-username", user),
            ("--os-password", password),
            ("--os-project-name", project),
            ("--os-user-domain-id", "default"),
            ("--os-project-domain-id", "default"),
            ("--os-region-name", region),
            ("--os-interface", "public"),
        ];
        Osc { bin: bin.to_owned(), auth: auth.iter().flat_map(|(k, v)| [k.to_string(), v.to_string()]).collect() }
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.bin).args(&self.auth).args(args).output().expect("run openstack");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// A command that must succeed, with `-f json` output parsed.
    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-f", "json"]);
        let (ok, out, err) = self.run(&a);
        assert!(ok, "openstack {args:?} failed:\nstdout: {out}\nstderr: {err}");
        // Some commands print a line ("Request to create ... accepted") before the document.
        let doc = out.find(['{', '[']).map(|i| &out[i..]).unwrap_or(&out);
        serde_json::from_str(doc).unwrap_or_else(|e| panic!("openstack {args:?}: not JSON ({e}): {out}"))
    }
}

/// A client certificate request for `cn` in a temporary file, as `coe ca sign` reads it.
fn csr_file(cn: &str) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let file = std::env::temp_dir().join(format!("osc-{}.csr", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, params.serialize_request(&key).expect("csr").pem().expect("pem")).expect("write");
    file
}

fn openstack_bin(test: &str) -> Option<String> {
    let bin = std::env::var("MAGNUM_TEST_OPENSTACK").ok().filter(|b| std::path::Path::new(b).exists());
    if bin.is_none() {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("MAGNUM_TEST_OPENSTACK is not set but MAGNUM_REQUIRE_SERVICES=1: run scripts/test.sh");
        }
        eprintln!("\n*** SKIPPED {test}: python-openstackclient not installed (scripts/test.sh installs it). ***\n");
    }
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstackclient_coe_commands() {
    let Some(bin) = openstack_bin("openstackclient_coe_commands") else { return };
    let env = Env::start(Backend::Sqlite).await.expect("server");
    let osc = Osc::noauth(&bin, format!("{}/v1", env.base));

    let t = osc.json(&[
        "coe",
        "cluster",
        "template",
        "create",
        "--coe",
        "swarm-mode",
        "--image",
        "img",
        "--external-network",
        "public",
        "tmpl",
    ]);
    assert_eq!((t["name"].clone(), t["coe"].clone()), (Value::from("tmpl"), Value::from("swarm-mode")), "{t}");
    let list = osc.json(&["coe", "cluster", "template", "list"]);
    assert_eq!(list[0]["name"], "tmpl", "{list}");
    let shown = osc.json(&["coe", "cluster", "template", "show", "tmpl"]);
    assert_eq!(shown["uuid"], t["uuid"]);
    let (ok, out, err) = osc.run(&["coe", "cluster", "template", "update", "tmpl", "--name", "tmpl2"]);
    assert!(ok && out.contains("tmpl2"), "{out}{err}");

    let (ok, out, err) = osc.run(&["coe", "cluster", "create", "--cluster-template", "tmpl2", "--node-count", "2", "c1"]);
    assert!(ok && out.contains("Request to create cluster"), "{out}{err}");
    let uuid = out.split_whitespace().find(|w| w.len() == 36).expect("uuid in the answer").to_owned();
    let clusters = osc.json(&["coe", "cluster", "list"]);
    assert_eq!((clusters[0]["name"].clone(), clusters[0]["node_count"].clone()), (Value::from("c1"), Value::from(2)), "{clusters}");
    // No engine here: the bay is marked complete as a driver would, so it can be updated.
    common::wait_status(&env.admin, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &uuid).await;
    let shown = osc.json(&["coe", "cluster", "show", "c1"]);
    assert_eq!(shown["status"], "CREATE_COMPLETE", "{shown}");
    let (ok, out, err) = osc.run(&["coe", "cluster", "update", "c1", "--node-count", "3"]);
    assert!(ok && out.contains("Request to update cluster"), "{out}{err}");
    assert_eq!(osc.json(&["coe", "cluster", "show", "c1"])["node_count"], 3);
    // Credential rotation (1.12): the conductor's certificate for the bay is replaced.
    common::wait_status(&env.admin, &format!("/v1/clusters/{uuid}"), "UPDATE_FAILED").await;
    let before = env.store.get_certificates(uuid.parse().expect("uuid")).await.expect("certificates");
    let (ok, out, err) = osc.run(&["coe", "credential", "rotate", "c1"]);
    assert!(ok, "{out}{err}");
    let after = env.store.get_certificates(uuid.parse().expect("uuid")).await.expect("certificates");
    assert_ne!(after.client_cert, before.client_cert, "rotated: {out}");
    common::wait_status(&env.admin, &format!("/v1/clusters/{uuid}"), "UPDATE_FAILED").await;

    let groups = osc.json(&["coe", "nodegroup", "list", "c1"]);
    let names: Vec<&str> = groups.as_array().expect("list").iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["default-master", "default-worker"], "{groups}");
    let (ok, out, err) = osc.run(&["coe", "ca", "show", "c1"]);
    assert!(ok && out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}{err}");
    let csr_file = csr_file("osc-user");
    let (ok, out, err) = osc.run(&["coe", "ca", "sign", "c1", csr_file.to_str().expect("utf8")]);
    assert!(ok && out.contains("-----BEGIN CERTIFICATE-----"), "{out}{err}");
    let _ = std::fs::remove_file(&csr_file);
    // This command has no -f: its table says one cluster with its 1 master and 3 workers.
    let (ok, out, err) = osc.run(&["coe", "stats", "list", "admin"]);
    let row = |k: &str| out.lines().find(|l| l.contains(&format!("| {k} "))).map(|l| l.split('|').map(str::trim).collect::<Vec<_>>());
    assert!(ok, "{err}");
    assert_eq!(
        (row("clusters").map(|r| r[2].to_owned()), row("nodes").map(|r| r[2].to_owned())),
        (Some("1".into()), Some("4".into())),
        "{out}"
    );
    let (ok, out, err) = osc.run(&["coe", "quotas", "create", "--project-id", "p9", "--resource", "Cluster", "--hard-limit", "4"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = osc.run(&["coe", "quotas", "list", "--all-tenants"]);
    let row = out.lines().find(|l| l.contains("| p9 ")).map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>());
    assert!(ok && row.as_ref().is_some_and(|r| r.contains(&"Cluster") && r.contains(&"4")), "{out}{err}");

    // An error as that client shows it: Magnum's detail and a failing exit code.
    let (ok, _, err) = osc.run(&["coe", "cluster", "show", "nope"]);
    assert!(!ok && err.contains("Cluster nope could not be found"), "{err}");

    let (ok, out, err) = osc.run(&["coe", "cluster", "delete", "c1"]);
    assert!(ok, "{out}{err}");
    common::wait_gone(&env.admin, &format!("/v1/clusters/{uuid}")).await;
    let (ok, out, err) = osc.run(&["coe", "cluster", "template", "delete", "tmpl2"]);
    assert!(ok, "{out}{err}");
    assert_eq!(osc.json(&["coe", "cluster", "template", "list"]), Value::Array(vec![]));
    env.finish().await;
}

/// An admin token from the Keystone of scripts/start-keystone.sh.
async fn admin_token(keystone: &str) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "keystone-admin-test"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = Client::new(keystone.trim_end_matches("/v3")).post("/v3/auth/tokens", &body).await.expect("keystone");
    assert_eq!(r.status, 201, "admin login: {}", r.text);
    r.header("x-subject-token").expect("token").to_owned()
}

/// The same client with Keystone password auth, finding this server through the catalog: the
/// test registers a region of its own whose container-infra endpoint is this server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_openstackclient_coe_commands() {
    let test = "keystone_openstackclient_coe_commands";
    let Some(keystone) = common::service_url("MAGNUM_TEST_KEYSTONE_URL", test, "scripts/start-keystone.sh") else { return };
    let Some(bin) = openstack_bin(test) else { return };
    let env = common::env_with_keystone(&keystone, 300).await;

    let token = admin_token(&keystone).await;
    let admin = Client::new(keystone.trim_end_matches("/v3")).header("X-Auth-Token", &token);
    // This server believes tokens only: the test watches it with the admin's.
    let watcher = Client::new(&env.base).header("X-Auth-Token", &token);
    let region = format!("magnum-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let r = admin.post("/v3/regions", &json!({"region": {"id": region}})).await.expect("keystone");
    assert_eq!(r.status, 201, "region: {}", r.text);
    let services = admin.get("/v3/services?type=container-infra").await.expect("keystone");
    let service = services.body["services"][0]["id"].as_str().expect("start-keystone.sh registers container-infra").to_owned();
    let endpoint =
        json!({"endpoint": {"service_id": service, "interface": "public", "region_id": region, "url": format!("{}/v1", env.base)}});
    let r = admin.post("/v3/endpoints", &endpoint).await.expect("keystone");
    assert_eq!(r.status, 201, "endpoint: {}", r.text);
    let endpoint_id = r.body["endpoint"]["id"].as_str().expect("id").to_owned();

    let member = Osc::keystone(&bin, &keystone, &region, "a-member", "tenant-test", "tenant-a");
    let reader = Osc::keystone(&bin, &keystone, &region, "a-reader", "tenant-test", "tenant-a");
    let other = Osc::keystone(&bin, &keystone, &region, "b-member", "tenant-test", "tenant-b");
    let operator = Osc::keystone(&bin, &keystone, &region, "admin", "keystone-admin-test", "admin");

    let t = member.json(&[
        "coe",
        "cluster",
        "template",
        "create",
        "--coe",
        "swarm-mode",
        "--image",
        "img",
        "--external-network",
        "public",
        "ks-tmpl",
    ]);
    assert_eq!(t["name"], "ks-tmpl", "{t}");
    let project_a = t["project_id"].as_str().expect("the template belongs to the token's project").to_owned();
    assert_eq!(reader.json(&["coe", "cluster", "template", "list"])[0]["name"], "ks-tmpl");
    // Policy through the real client: the reader may not write, tenant B does not see A's template.
    // This client reports a failed delete on stdout and still exits 0; the template stays.
    let (_, out, err) = reader.run(&["coe", "cluster", "template", "delete", "ks-tmpl"]);
    assert!(out.contains("Policy doesn't allow clustertemplate:delete") && out.contains("HTTP 403"), "{out}{err}");
    assert_eq!(member.json(&["coe", "cluster", "template", "show", "ks-tmpl"])["name"], "ks-tmpl");
    assert_eq!(other.json(&["coe", "cluster", "template", "list"]), Value::Array(vec![]));
    let (ok, out, err) = member.run(&["coe", "cluster", "template", "update", "ks-tmpl", "--name", "ks-tmpl2"]);
    assert!(ok && out.contains("ks-tmpl2"), "{out}{err}");

    let (ok, out, err) = member.run(&["coe", "cluster", "create", "--cluster-template", "ks-tmpl2", "--node-count", "2", "ks-c"]);
    assert!(ok && out.contains("Request to create cluster"), "{out}{err}");
    let uuid = out.split_whitespace().find(|w| w.len() == 36).expect("uuid in the answer").to_owned();
    common::wait_status(&watcher, &format!("/v1/clusters/{uuid}"), "CREATE_FAILED").await;
    mark_complete(&env.store, &uuid).await;
    let shown = member.json(&["coe", "cluster", "show", "ks-c"]);
    assert_eq!((shown["status"].as_str(), shown["project_id"].as_str()), (Some("CREATE_COMPLETE"), Some(project_a.as_str())), "{shown}");
    let (ok, _, err) = other.run(&["coe", "cluster", "show", "ks-c"]);
    assert!(!ok && err.contains("could not be found"), "tenant B must not see A's cluster: {err}");
    let (ok, out, err) = member.run(&["coe", "cluster", "update", "ks-c", "--node-count", "3"]);
    assert!(ok && out.contains("Request to update cluster"), "{out}{err}");
    assert_eq!(reader.json(&["coe", "cluster", "list"])[0]["node_count"], 3);
    let groups = reader.json(&["coe", "nodegroup", "list", "ks-c"]);
    assert_eq!(groups.as_array().map(Vec::len), Some(2), "{groups}");
    let (ok, out, err) = member.run(&["coe", "ca", "show", "ks-c"]);
    assert!(ok && out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}{err}");
    // Upstream's rule: a bay's CA is for the user who made the bay (or an admin).
    let (ok, out, err) = reader.run(&["coe", "ca", "show", "ks-c"]);
    assert!(!ok && err.contains("Policy doesn't allow certificate:get"), "{out}{err}");
    let csr_file = csr_file("ks-user");
    let (ok, out, err) = member.run(&["coe", "ca", "sign", "ks-c", csr_file.to_str().expect("utf8")]);
    let _ = std::fs::remove_file(&csr_file);
    assert!(ok && out.contains("-----BEGIN CERTIFICATE-----"), "{out}{err}");
    let (ok, out, err) = member.run(&["coe", "stats", "list", &project_a]);
    assert!(ok && out.lines().any(|l| l.contains("| clusters ") && l.contains("| 1 ")), "{out}{err}");
    // Quotas are the operator's.
    let (_, out, err) = member.run(&["coe", "quotas", "create", "--project-id", &project_a, "--resource", "Cluster", "--hard-limit", "5"]);
    // Again reported on stdout with exit code 0 by this client.
    assert!(out.contains("Policy doesn't allow quota:create") && out.contains("HTTP 403"), "{out}{err}");
    let (ok, out, err) =
        operator.run(&["coe", "quotas", "create", "--project-id", &project_a, "--resource", "Cluster", "--hard-limit", "5"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = operator.run(&["coe", "quotas", "list", "--all-tenants"]);
    assert!(ok && out.lines().any(|l| l.contains(&project_a) && l.contains("| 5 ")), "{out}{err}");

    let (ok, out, err) = member.run(&["coe", "cluster", "delete", "ks-c"]);
    assert!(ok, "{out}{err}");
    common::wait_gone(&watcher, &format!("/v1/clusters/{uuid}")).await;
    let (ok, out, err) = member.run(&["coe", "cluster", "template", "delete", "ks-tmpl2"]);
    assert!(ok, "{out}{err}");
    assert_eq!(member.json(&["coe", "cluster", "template", "list"]), Value::Array(vec![]));

    let _ = admin.delete(&format!("/v3/endpoints/{endpoint_id}")).await;
    let _ = admin.delete(&format!("/v3/regions/{region}")).await;
    env.finish().await;
}
