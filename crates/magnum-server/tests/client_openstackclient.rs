//! The current python-magnumclient through python-openstackclient (`openstack coe ...`), from
//! PyPI (scripts/test.sh installs them and sets MAGNUM_TEST_OPENSTACK), against a noauth
//! server the way that client allows it: `--os-auth-type none --os-endpoint <url>/v1`.
//! Every command's output is checked, not only its exit code.

mod common;
use common::{mark_complete, Backend, Env};
use serde_json::Value;
use std::process::Command;

struct Osc {
    bin: String,
    endpoint: String,
}

impl Osc {
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(&self.bin)
            .args(["--os-auth-type", "none", "--os-endpoint", &self.endpoint])
            .args(args)
            .output()
            .expect("run openstack");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstackclient_coe_commands() {
    let Some(bin) = std::env::var("MAGNUM_TEST_OPENSTACK").ok().filter(|b| std::path::Path::new(b).exists()) else {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("MAGNUM_TEST_OPENSTACK is not set but MAGNUM_REQUIRE_SERVICES=1: run scripts/test.sh");
        }
        eprintln!("\n*** SKIPPED openstackclient_coe_commands: python-openstackclient not installed (scripts/test.sh installs it). ***\n");
        return;
    };
    let env = Env::start(Backend::Sqlite).await.expect("server");
    let osc = Osc { bin, endpoint: format!("{}/v1", env.base) };

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

    let groups = osc.json(&["coe", "nodegroup", "list", "c1"]);
    let names: Vec<&str> = groups.as_array().expect("list").iter().filter_map(|g| g["name"].as_str()).collect();
    assert_eq!(names, ["default-master", "default-worker"], "{groups}");
    let (ok, out, err) = osc.run(&["coe", "ca", "show", "c1"]);
    assert!(ok && out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}{err}");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "osc-user");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let csr_file = std::env::temp_dir().join(format!("osc-{}.csr", uuid::Uuid::new_v4().simple()));
    std::fs::write(&csr_file, params.serialize_request(&key).expect("csr").pem().expect("pem")).expect("write");
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
