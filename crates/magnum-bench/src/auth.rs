//! `magnum-bench auth`: what Keystone authentication costs. The release all-in-one server with
//! `[auth] strategy = keystone` against the Keystone of scripts/start-keystone.sh: a request
//! with a token the server has not seen (one validation round trip to Keystone), and requests
//! with a token it has validated before (cached until it expires), beside the same requests
//! under noauth.

use crate::{measure, median, Args, Op};
use anyhow::{bail, Context};
use magnum_client::Client;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn token(keystone: &str) -> anyhow::Result<String> {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "a-member", "domain": {"id": "default"}, "password": "tenant-test"}}},
        "scope": {"project": {"name": "tenant-a", "domain": {"id": "default"}}}}});
    let r = Client::new(keystone.trim_end_matches("/v3")).post("/v3/auth/tokens", &body).await?;
    if r.status != 201 {
        bail!("Keystone login: {} {}", r.status, r.text);
    }
    Ok(r.header("x-subject-token").context("no token")?.to_owned())
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let keystone = std::env::var("MAGNUM_TEST_KEYSTONE_URL").context("set MAGNUM_TEST_KEYSTONE_URL (scripts/bench.sh auth does)")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = std::env::temp_dir().join(format!("magnum-bench-auth-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut child = Command::new(binary)
        .args(["--data-dir", &dir.display().to_string(), "--bind", &format!("127.0.0.1:{port}"), "all"])
        .env("MAGNUM_LOG", "warn")
        .env("MAGNUM_DOCKER__ENABLED", "false")
        .env("MAGNUM_AUTH__STRATEGY", "keystone")
        .env("MAGNUM_AUTH__AUTH_URL", &keystone)
        .env("MAGNUM_AUTH__USERNAME", "magnum")
        .env("MAGNUM_AUTH__PASSWORD", "magnum-service-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let result = async {
        let t0 = Instant::now();
        while !Client::new(&base).get("/").await.is_ok_and(|r| r.status == 200) {
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("the server did not start");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // First use of a token: one validation by Keystone. Fresh tokens, one request each.
        let mut cold = vec![];
        for _ in 0..20 {
            let t = token(&keystone).await?;
            let c = Client::new(&base).header("X-Auth-Token", &t);
            let started = Instant::now();
            let r = c.get("/v1/clustertemplates").await?;
            if r.status != 200 {
                bail!("cold request: {} {}", r.status, r.text);
            }
            cold.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let t = token(&keystone).await?;
        let c = Client::new(&base).header("X-Auth-Token", &t);
        let r = c.post("/v1/clustertemplates", &json!({"name": "bench", "coe": "swarm-mode", "image_id": "img"})).await?;
        if r.status != 201 {
            bail!("template: {}", r.text);
        }
        let uuid = r.body["uuid"].as_str().unwrap_or_default().to_owned();
        let warm =
            measure(&[c], args.clients, args.seconds, Arc::new(Op::Get(Arc::new(vec![format!("/v1/clustertemplates/{uuid}")])))).await;
        println!("# magnum-bench auth: all-in-one (SQLite) with Keystone on 127.0.0.1:5000, {} clients, {} s", args.clients, args.seconds);
        println!("| measure | result |\n|---|---|");
        println!(
            "| a token's first request (validated by Keystone), median of {} | {:.1} ms (max {:.1} ms) |",
            cold.len(),
            median(&mut cold.clone()),
            cold.iter().copied().fold(0.0, f64::max)
        );
        println!(
            "| template show with a validated (cached) token | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors |",
            warm.rps, warm.p50_ms, warm.p99_ms, warm.errors
        );
        Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
