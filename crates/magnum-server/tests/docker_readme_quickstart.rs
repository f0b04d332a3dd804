//! README.md's quickstart, run as written: steps 2 and 3 (a swarm bay, a container on it) are
//! taken from the README, pointed at a real `magnum-server all` on a free port and run with
//! bash; every `# ...` line under a command must match what the commands printed, in order,
//! `…` standing for what differs between runs. A README that drifts from the product fails here.

mod common;
mod docker_env;
use docker_env::engine;
use magnum_client::Client;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The quickstart's `sh` blocks after the given step markers.
fn blocks(readme: &str, steps: &[&str]) -> Vec<String> {
    let start = readme.find("## Quickstart").expect("a Quickstart section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map(|i| i + 3).unwrap_or(section.len())];
    steps
        .iter()
        .map(|marker| {
            let at = section.find(marker).unwrap_or_else(|| panic!("step {marker} in the quickstart"));
            let rest = &section[at..];
            let open = rest.find("```sh\n").expect("an sh block") + 6;
            let close = rest[open..].find("```").expect("its end") + open;
            rest[open..close].to_owned()
        })
        .collect()
}

/// Checks `output` against a block's `#` lines: their pieces between `…` appear in order.
fn check(block: &str, output: &str) {
    let mut at = 0;
    for line in block.lines().filter(|l| l.starts_with('#')) {
        for piece in line.trim_start_matches('#').trim().split('…').map(str::trim).filter(|p| !p.is_empty()) {
            match output[at..].find(piece) {
                Some(i) => at += i + piece.len(),
                None => panic!(
                    "the README promises {piece:?} (from {line:?}), but after what matched so far the commands printed:\n{}",
                    &output[at..]
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_readme_quickstart_runs_as_written() {
    let test = "docker_readme_quickstart_runs_as_written";
    let Some(_engine) = engine(test).await else { return };
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let steps = blocks(&readme, &["**2.", "**3."]);

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let data = std::env::temp_dir().join(format!("magnum-quickstart-{}", uuid::Uuid::new_v4().simple()));
    let mut server = Command::new(env!("CARGO_BIN_EXE_magnum-server"))
        .args(["all", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .env("MAGNUM_CONDUCTOR__HEALTH_INTERVAL", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start magnum-server all");
    let base = format!("http://127.0.0.1:{port}");
    let c = Client::new(&base);
    // Ready when a template naming the node image is accepted: the conductor has reported the
    // engine's images (a user starting run.sh waits the same few seconds).
    let started = Instant::now();
    loop {
        let r =
            c.post("/v1/clustertemplates", &json!({"name": "probe", "coe": "swarm-mode", "image_id": "magnum/swarm-node:latest"})).await;
        if r.as_ref().is_ok_and(|r| r.status == 201) {
            assert_eq!(c.delete("/v1/clustertemplates/probe").await.expect("http").status, 204);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server never got ready: {r:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    for block in &steps {
        let script = format!("set -euo pipefail\n{}", block.replace("localhost:9511", &format!("127.0.0.1:{port}")));
        let out = tokio::time::timeout(Duration::from_secs(240), tokio::process::Command::new("bash").arg("-c").arg(&script).output())
            .await
            .expect("the step finishes within 4 minutes")
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "the step failed:\n{script}\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
        check(block, &stdout);
    }

    // Tidy up as a user would: the bay (and its container with it).
    let demo = c.get("/v1/clusters/demo").await.expect("http").body["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(c.delete("/v1/clusters/demo").await.expect("http").status, 204);
    common::wait_gone_within(&c, &format!("/v1/clusters/{demo}"), Duration::from_secs(60)).await;
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_checker_catches_a_drifted_promise() {
    let block = "echo a\n# {\"output\":\"…hello…\"}\n";
    check(block, "{\"output\":\"well hello there\"}");
    let drifted = std::panic::catch_unwind(|| check(block, "{\"result\":\"hello\"}"));
    assert!(drifted.is_err(), "a missing piece must fail");
}
