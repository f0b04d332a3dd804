//! `magnum-bench guard`: what the node guard (dockerd's authorization plugin in every swarm
//! node) adds to each request a tenant sends to a bay's Docker API.
//!
//! Two containers of the swarm node image run side by side on the engine, alike but for the
//! guard: one with the image's own entrypoint (guard consulted), one starting dockerd alone.
//! Each gets `--sequential` requests of three kinds, one at a time from this machine: a read
//! (`GET /version`), a checked create (`POST /volumes/create`, whose body the guard reads) with
//! its delete, and a refused request (a privileged container). Then the guard's decision alone
//! is timed in-process on a typical container-create body.

use crate::{median, Args};
use anyhow::{bail, Context};
use magnum_node_guard::route::Route;
use magnum_node_guard::rules::{decide, Policy, Request};
use std::process::Command;
use std::time::{Duration, Instant};

const NODE_IMAGE: &str = "magnum/swarm-node:latest";

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker").args(args).output().context("running the docker CLI")?;
    if !out.status.success() {
        bail!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Starts a node container publishing plain TCP on loopback; returns (name, base URL).
fn start_node(name: &str, guarded: bool) -> anyhow::Result<(String, String)> {
    let _ = docker(&["rm", "-f", name]);
    let mut args = vec![
        "run",
        "-d",
        "--name",
        name,
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--cgroupns",
        "private",
        "-p",
        "127.0.0.1::2375",
    ];
    if !guarded {
        args.extend(["--entrypoint", "dockerd"]);
    }
    args.push(NODE_IMAGE);
    if !guarded {
        args.push("--host=unix:///var/run/docker.sock");
    }
    args.extend(["--host=tcp://0.0.0.0:2375", "--tls=false"]);
    docker(&args)?;
    let port = docker(&["port", name, "2375/tcp"])?;
    let address = port.lines().next().context("no published port")?.to_owned();
    Ok((name.to_owned(), format!("http://{address}")))
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if http.get(format!("{base}/_ping")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{base} did not answer in 60 s")
}

/// Median and p99 (ms) of `n` runs of `op`.
async fn time<F, Fut>(n: usize, mut op: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        op(i).await?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let p50 = median(&mut v);
    let p99 = v[(v.len() * 99 / 100).min(v.len() - 1)];
    Ok((p50, p99))
}

async fn measure(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<[(f64, f64); 3]> {
    let read = time(n, |_| async {
        http.get(format!("{base}/v1.41/version")).send().await?.error_for_status()?;
        Ok(())
    })
    .await?;
    let create = time(n, |i| async move {
        let body = format!(r#"{{"Name":"bench{i}"}}"#);
        let r = http.post(format!("{base}/v1.41/volumes/create")).header("Content-Type", "application/json").body(body).send().await?;
        r.error_for_status()?;
        http.delete(format!("{base}/v1.41/volumes/bench{i}")).send().await?.error_for_status()?;
        Ok(())
    })
    .await?;
    let refused = time(n, |_| async {
        let body = r#"{"Image":"none","HostConfig":{"Privileged":true}}"#;
        let r = http.post(format!("{base}/v1.41/containers/create")).header("Content-Type", "application/json").body(body).send().await?;
        // Without the guard the engine answers 404 (no such image); with it, 403.
        if r.status().is_success() {
            bail!("a privileged container was created");
        }
        Ok(())
    })
    .await?;
    Ok([read, create, refused])
}

fn decision_cost() -> f64 {
    let policy = Policy { manager: "Magnum-Conductor".into(), anonymous_manages: false };
    let body = br#"{"Image":"magnum/busybox:latest","Cmd":["sh","-c","sleep 3600"],"Env":["A=1","B=2"],"Labels":{"app":"web"},
        "HostConfig":{"Binds":["data:/data"],"PortBindings":{"8080/tcp":[{"HostIp":"","HostPort":"18080"}]},"Memory":268435456,
        "RestartPolicy":{"Name":"unless-stopped"},"Mounts":[{"Type":"tmpfs","Target":"/tmp"}]},"NetworkingConfig":{"EndpointsConfig":{"web":{}}}}"#;
    let n = 100_000;
    let started = Instant::now();
    for _ in 0..n {
        let request = Request { user: "alice", route: Route::parse("POST", "/v1.41/containers/create?name=web"), body: Some(body) };
        let verdict = decide(&policy, &request, &|name| name == "host");
        std::hint::black_box(verdict).ok();
    }
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

pub(crate) async fn run(args: &Args) -> anyhow::Result<()> {
    let n = args.sequential.max(10);
    let http = reqwest::Client::builder().build()?;
    let guarded = start_node("magnum-bench-guarded", true)?;
    let bare = start_node("magnum-bench-bare", false)?;
    let result = async {
        wait_ready(&http, &guarded.1).await?;
        wait_ready(&http, &bare.1).await?;
        let with = measure(&http, &guarded.1, n).await?;
        let without = measure(&http, &bare.1, n).await?;
        anyhow::Ok((with, without))
    }
    .await;
    let _ = docker(&["rm", "-f", "-v", &guarded.0, &bare.0]);
    let (with, without) = result?;
    println!("# magnum-bench guard: {n} requests of each kind, one at a time, to a swarm node's Docker API with and without the guard");
    println!("| request | without guard (median / p99) | with guard (median / p99) | added (median) |\n|---|---|---|---|");
    for (i, what) in ["GET /version", "POST /volumes/create + DELETE (body checked)", "privileged container create (refused by the guard)"]
        .iter()
        .enumerate()
    {
        println!(
            "| {what} | {:.2} ms / {:.2} ms | {:.2} ms / {:.2} ms | {:+.2} ms |",
            without[i].0,
            without[i].1,
            with[i].0,
            with[i].1,
            with[i].0 - without[i].0
        );
    }
    println!("| the guard's decision alone (container create body, in-process) | | {:.1} µs | |", decision_cost());
    Ok(())
}
