//! The `magnum` binary as a user runs it, against a real server: outputs checked, exit codes
//! checked, `--wait` followed to the end. Docker and Keystone variants need those services
//! (scripts/test.sh starts them).

mod common;
use common::{json, magnum, magnum_stdin, server};
use serde_json::Value;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_templates_clusters_errors_and_exit_codes() {
    let s = server(false, None).await;
    let b = s.base.as_str();
    let (code, out, err) = magnum(b, &["cluster-template-create", "--name", "k8s", "--coe", "kubernetes", "--image", "img"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("| coe ") && out.contains("kubernetes"), "a field/value table: {out}");
    let (code, out, _) = magnum(b, &["--format", "json", "cluster-template-list"], &[]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)[0]["name"], "k8s");

    // What a Kubernetes bay cannot be is refused at once (here: three masters).
    let (code, _, err) = magnum(b, &["cluster-create", "kube", "--cluster-template", "k8s", "--master-count", "3"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 400"), "{err}");
    // --wait follows the create to its end; a failed cluster is exit 1 with the reason (this
    // server's conductor builds nothing: no engine).
    let (code, _, err) = magnum(b, &["cluster-template-create", "--name", "sw", "--coe", "swarm-mode", "--image", "img"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = magnum(b, &["cluster-create", "demo", "--cluster-template", "sw", "--node-count", "2", "--wait"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("CREATE_FAILED") && err.contains("The swarm-mode driver builds nothing"), "{err}");
    assert!(err.contains("Request to create cluster"), "{err}");
    let (code, out, _) = magnum(b, &["cluster-list"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("| demo ") && out.contains("CREATE_FAILED"), "{out}");
    let (code, out, _) = magnum(b, &["--format", "json", "cluster-show", "demo"], &[]);
    assert_eq!((code, json(&out)["node_count"].clone()), (0, Value::from(2)));
    let (code, out, _) = magnum(b, &["--format", "json", "stats-list"], &[]);
    assert_eq!((code, json(&out)["clusters"].clone()), (0, Value::from(1)));

    // Errors: Magnum's reason on stderr, exit 1; bad usage, exit 2; policy, exit 1.
    let (code, _, err) = magnum(b, &["cluster-show", "nope"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("could not be found") && err.contains("HTTP 404"), "{err}");
    let (code, _, err) = magnum(b, &["cluster-create"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = magnum(b, &["service-list"], &[]);
    assert_eq!(code, 1, "a member may not list services");
    assert!(err.contains("magnum-service:get_all"), "{err}");
    let (code, out, _) = magnum(b, &["--format", "json", "service-list"], &[("OS_ROLES", "admin")]);
    assert_eq!((code, json(&out)[0]["host"].clone()), (0, Value::from("cli-test")));

    // The 2015 vocabulary, nodegroups, quotas.
    let (code, out, err) = magnum(
        b,
        &["--format", "json", "baymodel-create", "--name", "bm", "--coe", "swarm-mode", "--image-id", "img", "--keypair-id", "kp"],
        &[],
    );
    assert_eq!((code, json(&out)["keypair_id"].clone()), (0, Value::from("kp")), "{err}");
    let (code, out, _) = magnum(b, &["baymodel-list"], &[]);
    assert!(code == 0 && out.contains("| bm "), "{out}");
    let (code, _, err) = magnum(b, &["bay-create", "--name", "oldbay", "--baymodel", "bm", "--wait"], &[]);
    assert!(code == 1 && err.contains("Request to create bay") && err.contains("CREATE_FAILED"), "{err}");
    let (code, out, _) = magnum(b, &["--format", "json", "bay-show", "oldbay"], &[]);
    assert_eq!((code, json(&out)["baymodel_id"].is_string()), (0, true), "{out}");
    let (code, out, _) = magnum(b, &["--format", "json", "nodegroup-list", "demo"], &[]);
    let names: Vec<Value> = json(&out).as_array().expect("list").iter().map(|g| g["name"].clone()).collect();
    assert_eq!((code, names), (0, vec![Value::from("default-master"), Value::from("default-worker")]));
    let (code, _, err) = magnum(b, &["bay-update", "oldbay", "replace", "node_count=3", "--wait"], &[]);
    assert_eq!(code, 1, "a failed bay's update is a retry, which fails here for the same reason: {err}");
    assert!(err.contains("Request to update bay") && err.contains("UPDATE_FAILED") && err.contains("builds nothing"), "{err}");

    // Worker nodegroups (the cluster's update fails here: nothing is built).
    let (code, _, err) = magnum(b, &["nodegroup-create", "demo", "gpu", "--node-count", "5", "--max-nodes", "3"], &[]);
    assert!(code == 1 && err.contains("HTTP 409") && err.contains("max_node_count 3"), "{err}");
    let (code, out, err) =
        magnum(b, &["--format", "json", "nodegroup-create", "demo", "gpu", "--node-count", "2", "--labels", "a=b,c=d"], &[]);
    assert_eq!(code, 0, "{err}");
    let made = json(&out);
    assert_eq!(
        (made["status"].clone(), made["labels"].clone()),
        (Value::from("CREATE_IN_PROGRESS"), serde_json::json!({"a": "b", "c": "d"}))
    );
    let (code, out, err) = magnum(b, &["--format", "json", "nodegroup-update", "demo", "gpu", "replace", "max_node_count=4"], &[]);
    assert_eq!((code, json(&out)["max_node_count"].clone()), (0, Value::from(4)), "{err}");
    let (code, _, err) = magnum(b, &["nodegroup-delete", "demo", "default-worker"], &[]);
    assert!(code == 1 && err.contains("HTTP 400") && err.contains("default nodegroup"), "{err}");
    for _ in 0..100 {
        let (_, out, _) = magnum(b, &["--format", "json", "cluster-show", "demo"], &[]);
        if json(&out)["status"] == "UPDATE_FAILED" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (code, _, err) = magnum(b, &["nodegroup-delete", "demo", "gpu"], &[]);
    assert!(code == 0 && err.contains("Request to delete nodegroup gpu"), "{err}");
    let (code, out, _) = magnum(b, &["--format", "json", "nodegroup-show", "demo", "gpu"], &[]);
    let status = json(&out)["status"].as_str().unwrap_or_default().to_owned();
    assert!(
        code == 0 && (status == "DELETE_IN_PROGRESS" || status == "DELETE_FAILED"),
        "being removed (the update that removes it fails here): {status}"
    );
    let admin = [("OS_ROLES", "admin")];
    let (code, _, err) = magnum(b, &["quotas-create", "--project-id", "p1", "--hard-limit", "7"], &admin);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = magnum(b, &["--format", "json", "quotas-show", "--project-id", "p1"], &admin);
    assert_eq!((code, json(&out)["hard_limit"].clone()), (0, Value::from(7)));
    let (code, _, _) = magnum(b, &["quotas-delete", "--project-id", "p1"], &admin);
    assert_eq!(code, 0);
    let (code, _, err) = magnum(b, &["bay-delete", "oldbay", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");

    let (code, _, err) = magnum(b, &["cluster-delete", "demo", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deleted"), "{err}");
    for t in ["k8s", "sw"] {
        let (code, _, err) = magnum(b, &["cluster-template-delete", t], &[]);
        assert_eq!(code, 0, "{err}");
    }
    s.running.stop();
    s.store.finish().await;
}

/// pod-*, rc-* and coe-service-* without Kubernetes: usage errors, unreadable manifests, the
/// server's refusal of a bay that is not a Kubernetes one, and empty lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_kubernetes_objects_without_kubernetes() {
    let s = server(false, None).await;
    let b = s.base.as_str();
    let dir = std::env::temp_dir().join(format!("magnum-cli-kube-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: nginx}]\n")
        .expect("manifest");
    let pod = pod.to_str().expect("utf8");

    // Bad usage is exit 2, before anything is sent.
    for args in [
        &["pod-create", "--manifest", pod][..],
        &["rc-create", "--bay", "k"],
        &["coe-service-create", "--bay", "k", "--manifest", pod, "--manifest-url", "http://example.com/s.yaml"],
        &["pod-update", "web"],
        &["rc-update", "web", "replace"],
        &["coe-service-delete"],
    ] {
        let (code, _, err) = magnum(b, args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    // A manifest that cannot be read: exit 1 naming it, as ca-sign's --csr.
    for cmd in ["pod-create", "rc-create", "coe-service-create"] {
        let (code, _, err) = magnum(b, &[cmd, "--bay", "k", "--manifest", "/nonexistent/m.yaml"], &[]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("/nonexistent/m.yaml"), "{err}");
    }
    let (code, _, err) = magnum(b, &["pod-update", "web", "--manifest", "/nonexistent/m.yaml"], &[]);
    assert!(code == 1 && err.contains("/nonexistent/m.yaml"), "{err}");

    // Empty project: empty tables (header only), empty JSON lists, for all bays or one.
    let (code, _, err) = magnum(b, &["cluster-template-create", "--name", "sw", "--coe", "swarm-mode", "--image", "img"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = magnum(b, &["cluster-create", "swarmbay", "--cluster-template", "sw"], &[]);
    assert_eq!(code, 0, "{err}");
    for (cmd, column) in [("pod-list", "| status "), ("rc-list", "| ready_replicas "), ("coe-service-list", "| ports ")] {
        let (code, out, err) = magnum(b, &[cmd], &[]);
        assert_eq!(code, 0, "{cmd}: {err}");
        assert!(out.contains(column) && out.lines().count() == 4, "{cmd}: {out}");
        let (code, out, err) = magnum(b, &["--format", "json", cmd, "--bay", "swarmbay"], &[]);
        assert_eq!((code, json(&out)), (0, Value::Array(vec![])), "{cmd}: {err}");
    }

    // A swarm bay is refused with the server's 400; so is a bay that does not exist.
    let (code, _, err) = magnum(b, &["pod-create", "--bay", "swarmbay", "--manifest", pod, "--desc", "d"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 400") && err.contains("expecting a kubernetes bay"), "{err}");
    let rc = "kind: ReplicationController\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: w, image: nginx}]}\n";
    let (code, _, err) = magnum_stdin(b, &["rc-create", "--bay", "swarmbay", "--manifest", "-"], rc);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 400") && err.contains("expecting a kubernetes bay"), "{err}");
    let (code, _, err) = magnum(b, &["coe-service-create", "--bay", "nobay", "--manifest-url", "http://127.0.0.1:1/s.yaml"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 400"), "{err}");
    let (code, _, err) = magnum(b, &["pod-show", "web", "--bay", "swarmbay"], &[]);
    assert!(code == 1 && err.contains("HTTP 404"), "{err}");

    let (code, _, err) = magnum(b, &["cluster-delete", "swarmbay", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    s.running.stop();
    s.store.finish().await;
}

/// A real swarm bay: --wait shows nodes becoming ready, cluster-config gives the docker CLI
/// what it needs, resize and delete wait too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_builds_configures_resizes_and_deletes_a_real_bay() {
    // The node images, built from this host's packages if this is the first test to need them.
    let engine = magnum_drivers::docker::connect("unix:///var/run/docker.sock", 600).ok();
    let up = match &engine {
        Some(d) => magnum_drivers::docker::reachable(d).await,
        None => false,
    };
    if !up {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("no Docker engine but MAGNUM_REQUIRE_SERVICES=1: run scripts/start-docker.sh");
        }
        eprintln!("\n*** SKIPPED docker_cli_builds_configures_resizes_and_deletes_a_real_bay: no Docker engine ***\n");
        return;
    }
    let engine = engine.expect("engine");
    magnum_drivers::docker::images::build_all(&engine).await.expect("build the node and workload images");
    let s = server(true, None).await;
    let b = s.base.as_str();
    let (code, _, err) =
        magnum(b, &["cluster-template-create", "--name", "swarm", "--coe", "swarm-mode", "--image", "magnum/swarm-node:latest"], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) =
        magnum(b, &["--format", "json", "cluster-create", "bay", "--cluster-template", "swarm", "--node-count", "2", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["status"], "CREATE_COMPLETE");
    assert!(err.contains("nodes ready 3/3") || err.contains("CREATE_COMPLETE"), "progress shown: {err}");
    let dir = std::env::temp_dir().join(format!("magnum-cli-certs-{}", uuid::Uuid::new_v4().simple()));
    let (code, out, err) = magnum(b, &["cluster-config", "bay", "--dir", dir.to_str().expect("utf8")], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("export DOCKER_HOST=tcp://127.0.0.1:") && out.contains("export DOCKER_TLS_VERIFY=1"), "{out}");
    let host = out.lines().find_map(|l| l.strip_prefix("export DOCKER_HOST=")).expect("DOCKER_HOST").to_owned();
    // The docker CLI, configured exactly as printed, lists the swarm's three nodes.
    let docker = Command::new("docker")
        .args(["node", "ls", "--format", "{{.Hostname}}"])
        .env("DOCKER_HOST", &host)
        .env("DOCKER_CERT_PATH", &dir)
        .env("DOCKER_TLS_VERIFY", "1")
        .output()
        .expect("docker CLI");
    assert!(docker.status.success(), "{}", String::from_utf8_lossy(&docker.stderr));
    assert_eq!(String::from_utf8_lossy(&docker.stdout).lines().count(), 3);
    let key_mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("key.pem")).expect("key").permissions());
    assert_eq!(key_mode & 0o777, 0o600, "the private key is the user's alone");
    // Containers on it.
    let (code, out, err) = magnum(
        b,
        &[
            "--format",
            "json",
            "container-create",
            "--image",
            "magnum/busybox:latest",
            "--bay",
            "bay",
            "--name",
            "hi",
            "--command",
            "sh -c 'echo hello; exec sleep 600'",
        ],
        &[],
    );
    assert_eq!((code, json(&out)["status"].clone()), (0, Value::from("Stopped")), "{err}");
    let (code, out, _) = magnum(b, &["container-start", "hi"], &[]);
    assert_eq!((code, out.trim()), (0, "hi Running"));
    let (code, out, _) = magnum(b, &["container-logs", "hi"], &[]);
    assert_eq!((code, out.as_str()), (0, "hello\n"));
    let (code, out, _) = magnum(b, &["container-exec", "hi", "--command", "sh -c 'echo out; exit 3'"], &[]);
    assert_eq!((code, out.as_str()), (3, "out\n"), "the command's exit code is the CLI's");
    let (code, out, _) = magnum(b, &["container-list"], &[]);
    assert!(code == 0 && out.contains("| hi ") && out.contains("Running"), "{out}");
    let (code, _, _) = magnum(b, &["container-delete", "hi"], &[]);
    assert_eq!(code, 0);
    let (code, out, _) = magnum(b, &["--format", "json", "node-list"], &[]);
    assert_eq!((code, json(&out).as_array().map(Vec::len)), (0, Some(3)));
    let (code, out, err) = magnum(b, &["--format", "json", "cluster-resize", "bay", "1", "--wait"], &[("OS_ROLES", "member")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((json(&out)["status"].clone(), json(&out)["node_count"].clone()), (Value::from("UPDATE_COMPLETE"), Value::from(1)));
    let (code, out, err) = magnum(b, &["--format", "json", "cluster-resize", "bay", "2", "--nodegroup", "default-master", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nodegroup default-master"), "{err}");
    assert_eq!((json(&out)["master_count"].clone(), json(&out)["node_count"].clone()), (Value::from(2), Value::from(1)), "{out}");
    let (code, _, err) = magnum(b, &["cluster-resize", "bay", "2", "--nodegroup", "gpu"], &[]);
    assert!(code != 0 && err.contains("Nodegroup gpu"), "{err}");
    let (code, out, err) = magnum(b, &["--format", "json", "credential-rotate", "bay", "--wait"], &[]);
    assert_eq!((code, json(&out)["status"].clone()), (0, Value::from("UPDATE_COMPLETE")), "{err}");
    // An upgrade to the bay's own template is done as it is accepted; an unknown template is refused.
    let (code, out, err) = magnum(b, &["--format", "json", "cluster-upgrade", "bay", "swarm", "--wait"], &[]);
    assert_eq!((code, json(&out)["status"].clone()), (0, Value::from("UPDATE_COMPLETE")), "{err}");
    assert!(err.contains("to template swarm accepted"), "{err}");
    let (code, _, err) = magnum(b, &["cluster-upgrade", "bay", "nope", "--max-batch-size", "2"], &[]);
    assert!(code != 0 && err.contains("ClusterTemplate nope could not be found"), "{err}");
    let (code, _, err) = magnum(b, &["cluster-delete", "bay", "--wait"], &[]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    s.running.stop();
    s.store.finish().await;
}

/// Keystone password authentication from the OS_* variables, as with the upstream client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_cli_logs_in_with_os_variables() {
    let Some(url) = std::env::var("MAGNUM_TEST_KEYSTONE_URL").ok().filter(|u| !u.is_empty()) else {
        if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("MAGNUM_TEST_KEYSTONE_URL is not set but MAGNUM_REQUIRE_SERVICES=1");
        }
        eprintln!("\n*** SKIPPED keystone_cli_logs_in_with_os_variables: no Keystone ***\n");
        return;
    };
    let s = server(false, Some(&url)).await;
    let login =
        [("OS_AUTH_URL", url.as_str()), ("OS_USERNAME", "a-member"), ("OS_PASSWORD", "tenant-test"), ("OS_PROJECT_NAME", "tenant-a")];
    let (code, out, err) =
        magnum(&s.base, &["--format", "json", "cluster-template-create", "--name", "t", "--coe", "kubernetes", "--image", "i"], &login);
    assert_eq!(code, 0, "{err}");
    assert_ne!(json(&out)["project_id"], "p1", "the project comes from the token, not from OS_PROJECT_ID");
    let wrong = [("OS_AUTH_URL", url.as_str()), ("OS_USERNAME", "a-member"), ("OS_PASSWORD", "wrong"), ("OS_PROJECT_NAME", "tenant-a")];
    let (code, _, err) = magnum(&s.base, &["cluster-template-list"], &wrong);
    assert_eq!(code, 1);
    assert!(err.contains("refused the login of a-member"), "{err}");
    let (code, _, err) = magnum(&s.base, &["cluster-template-list"], &[]);
    assert_eq!(code, 1, "no credentials against a Keystone-protected server");
    assert!(err.contains("HTTP 401"), "{err}");
    s.running.stop();
    s.store.finish().await;
}
