//! The `magnum-server` binary as a user runs it: flags, environment, the noauth banner,
//! durability across a restart, and clear refusals of bad configuration.

use magnum_client::Client;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn spawn(data_dir: &Path, port: u16, env: &[(&str, &str)], stderr_to: &Path) -> Child {
    let log = std::fs::File::create(stderr_to).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_magnum-server"))
        .args(["--data-dir", data_dir.to_str().expect("utf8"), "--bind", &format!("127.0.0.1:{port}"), "all"])
        .envs(env.iter().copied())
        .env("MAGNUM_DOCKER__ENABLED", "false")
        .env_remove("MAGNUM_DATABASE__CONNECTION")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn magnum-server")
}

async fn wait_up(c: &Client) {
    for _ in 0..100 {
        if c.get("/").await.is_ok_and(|r| r.status == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("magnum-server did not answer on {}", c.base());
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn all_in_one_starts_announces_noauth_and_keeps_state_across_restarts() {
    let dir = std::env::temp_dir().join(format!("magnum-bin-{}", uuid::Uuid::new_v4().simple()));
    let log = dir.with_extension("log");
    std::fs::create_dir_all(&dir).expect("tmp");
    let port = free_port();
    let c = Client::new(&format!("http://127.0.0.1:{port}"));
    let child = spawn(&dir, port, &[("MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT", "1")], &log);
    wait_up(&c).await;
    let banner = std::fs::read_to_string(&log).expect("log");
    assert!(banner.contains("AUTHENTICATION IS OFF"), "noauth must be announced: {banner}");
    assert!(dir.join("magnum.sqlite").exists(), "SQLite file under --data-dir");

    let t = c.post("/v1/clustertemplates", &json!({"name": "t", "coe": "swarm", "image_id": "i"})).await.expect("http");
    assert_eq!(t.status, 201, "{}", t.text);
    // This one runs no engine (MAGNUM_DOCKER__ENABLED=false): a bay it would have to build is
    // refused at once, never accepted and failed later.
    let built = c.post("/v1/clusters", &json!({"cluster_template_id": "t", "name": "built"})).await.expect("http");
    assert_eq!(built.status, 400, "{}", built.text);
    assert!(built.text.contains("No conductor of this deployment builds swarm bays (they build: nothing)"), "{}", built.text);
    // A registered swarm (an external bay) needs no engine of ours.
    let registered =
        |name: &str| json!({"cluster_template_id": "t", "name": name, "external_endpoint": {"api_address": "tcp://127.0.0.1:9"}});
    let latest = c.clone().microversion("latest");
    let one = latest.post("/v1/clusters", &registered("one")).await.expect("http");
    assert_eq!(one.status, 202, "{}", one.text);
    let second = latest.post("/v1/clusters", &registered("two")).await.expect("http");
    assert_eq!(second.status, 403, "MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT=1 applies: {}", second.text);
    stop(child);

    let child = spawn(&dir, port, &[], &log);
    wait_up(&c).await;
    let shown = c.get("/v1/clustertemplates/t").await.expect("http");
    assert_eq!(shown.body["uuid"], t.body["uuid"], "state survives a restart");
    assert_eq!(c.get("/v1/clusters/one").await.expect("http").status, 200);
    stop(child);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn bad_configuration_is_refused_with_a_reason() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_magnum-server")).args(args).envs(env.iter().copied()).output().expect("run");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = run(&["--config-file", "/nonexistent/magnum.toml", "all"], &[]);
    assert!(!ok && err.contains("/nonexistent/magnum.toml"), "{err}");
    let (ok, err) = run(&["all"], &[("MAGNUM_API__BIND", "nowhere")]);
    assert!(!ok && err.contains("invalid"), "{err}");
    let dir = std::env::temp_dir().join(format!("magnum-bin-{}", uuid::Uuid::new_v4().simple()));
    let (ok, err) = run(
        &["--data-dir", dir.to_str().expect("utf8"), "--bind", "127.0.0.1:0", "all"],
        &[("MAGNUM_TRANSPORT_URL", "kafka://user:secret@127.0.0.1:9092/")],
    );
    assert!(!ok && err.contains("transport_url kafka://user:***@127.0.0.1:9092/ is not supported: use amqp://"), "{err}");
    let (ok, err) = run(&["all"], &[("MAGNUM_DATABASE__CONNECTION", "mysql://x")]);
    assert!(!ok && err.contains("Unsupported database URL"), "{err}");
    let (ok, err) = run(&["--help"], &[]);
    assert!(ok && err.is_empty(), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn api_and_conductor_run_as_separate_processes_over_one_database() {
    let dir = std::env::temp_dir().join(format!("magnum-split-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let port = free_port();
    let start = |mode: &str, log: &str| {
        Command::new(env!("CARGO_BIN_EXE_magnum-server"))
            .args(["--data-dir", dir.to_str().expect("utf8"), "--bind", &format!("127.0.0.1:{port}"), mode])
            .env("MAGNUM_CONDUCTOR__PERIODIC_INTERVAL", "1")
            .env("MAGNUM_CONDUCTOR__REPORT_INTERVAL", "1")
            .env("MAGNUM_CONDUCTOR__HOST", "conductor-1")
            .env("MAGNUM_DOCKER__ENABLED", "false")
            .env_remove("MAGNUM_DATABASE__CONNECTION")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).expect("log"))
            .spawn()
            .expect("spawn")
    };
    let api = start("api", "api.log");
    let c = Client::new(&format!("http://127.0.0.1:{port}"));
    wait_up(&c).await;
    c.post("/v1/clustertemplates", &json!({"name": "t", "coe": "swarm", "image_id": "i"})).await.expect("http");
    let r = c.post("/v1/clusters", &json!({"cluster_template_id": "t", "name": "k"})).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        c.get("/v1/clusters/k").await.expect("http").body["status"],
        json!("CREATE_IN_PROGRESS"),
        "no conductor yet: the work waits"
    );
    let conductor = start("conductor", "conductor.log");
    let mut status = json!(null);
    for _ in 0..100 {
        status = c.get("/v1/clusters/k").await.expect("http").body["status"].clone();
        if status == json!("CREATE_FAILED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, json!("CREATE_FAILED"), "the conductor process picked the work up from the shared database");
    // Accepted while no conductor had said what it builds; now one has (nothing: it runs no
    // engine), and the same request is refused at once.
    let r = c.post("/v1/clusters", &json!({"cluster_template_id": "t", "name": "k2"})).await.expect("http");
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("No conductor of this deployment builds swarm bays"), "{}", r.text);
    let services = c.get("/v1/mservices").await.expect("http");
    assert_eq!(services.body["mservices"][0]["host"], json!("conductor-1"), "{}", services.text);
    assert_eq!(services.body["mservices"][0]["state"], json!("up"));
    stop(conductor);
    stop(api);
    let _ = std::fs::remove_dir_all(&dir);
}
