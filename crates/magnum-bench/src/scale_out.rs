//! `magnum-bench scale-out`: two `magnum-server api` and two `magnum-server conductor`
//! processes (release builds) over one PostgreSQL database and one RabbitMQ queue, clients
//! spread over both APIs.
//!
//! 1. `--bays` registered swarms at an address nothing serves (each is failed by a conductor at
//!    once) created through both APIs: accepted per second, and bays per minute carried through
//!    the whole path (API → store → AMQP → conductor → store).
//! 2. Template create, bay list (limit 50) and bay show: requests/s, p50 and p99.
//! 3. `--parallel` real swarm bays (1 manager + 1 worker, TLS) at once through both APIs:
//!    bays per minute to CREATE_COMPLETE.

use crate::{analyze, drop_postgres, fresh_postgres, measure, median, Args, Op};
use anyhow::{bail, Context};
use magnum_client::Client;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Deployment {
    procs: Vec<Proc>,
    apis: Vec<Client>,
    dir: PathBuf,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.procs.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Two conductors and two APIs; `docker` gives the conductors the Docker (swarm) driver.
async fn deploy(binary: &Path, db: &str, amqp: &str, docker: bool) -> anyhow::Result<Deployment> {
    let dir = std::env::temp_dir().join(format!("magnum-bench-scale-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let topic = format!("magnum-bench-{}", uuid::Uuid::new_v4().simple());
    let spawn = |args: &[&str], host: &str| -> anyhow::Result<Proc> {
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(&dir)
            .args(args)
            .env("MAGNUM_LOG", "warn")
            .env("MAGNUM_DATABASE__CONNECTION", db)
            .env("MAGNUM_TRANSPORT_URL", amqp)
            .env("MAGNUM_CONDUCTOR__TOPIC", &topic)
            .env("MAGNUM_CONDUCTOR__HOST", host)
            .env("MAGNUM_DOCKER__ENABLED", if docker { "true" } else { "false" })
            .env("MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT", "100000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Proc(child))
    };
    let mut d = Deployment { procs: vec![], apis: vec![], dir: dir.clone() };
    for host in ["conductor-1", "conductor-2"] {
        d.procs.push(spawn(&["conductor"], host)?);
    }
    for i in 0..2 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        d.procs.push(spawn(&["--bind", &format!("127.0.0.1:{port}"), "api"], &format!("api-{i}"))?);
        let c = Client::new(&format!("http://127.0.0.1:{port}")).as_user("bench", "bench", "admin");
        let mut up = false;
        for _ in 0..100 {
            if c.get("/").await.is_ok_and(|r| r.status == 200) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !up {
            bail!("api {i} did not answer within 10 s");
        }
        d.apis.push(c);
    }
    Ok(d)
}

/// Creates `n` bays of `template` through both APIs with `clients` concurrent clients.
async fn create_bays(apis: &[Client], clients: usize, n: usize, template: &str, workers: i64) -> anyhow::Result<Vec<String>> {
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let c = apis[k % apis.len()].clone();
            let template = template.to_owned();
            tokio::spawn(async move {
                let mut out = vec![];
                for i in (k..n).step_by(clients) {
                    let mut body = json!({"name": format!("{template}-{i}"), "cluster_template_id": template, "node_count": workers});
                    if template == "registered" {
                        body["external_endpoint"] = json!({"api_address": "tcp://127.0.0.1:9"});
                    }
                    let r = c.post("/v1/clusters", &body).await?;
                    if r.status != 202 {
                        bail!("create {i}: {} {}", r.status, r.text);
                    }
                    out.push(r.body["uuid"].as_str().unwrap_or_default().to_owned());
                }
                Ok(out)
            })
        })
        .collect();
    let mut uuids = vec![];
    for t in tasks {
        uuids.extend(t.await??);
    }
    Ok(uuids)
}

/// Waits until no bay of the project is CREATE_IN_PROGRESS; returns (complete, failed).
async fn settle_all(c: &Client, limit_s: u64) -> anyhow::Result<(usize, usize)> {
    let t0 = Instant::now();
    loop {
        let (mut pending, mut complete, mut failed, mut marker) = (0, 0, 0, None::<String>);
        loop {
            let path = match &marker {
                Some(m) => format!("/v1/clusters?limit=1000&marker={m}"),
                None => "/v1/clusters?limit=1000".to_owned(),
            };
            let r = c.get(&path).await?;
            let items = r.body["clusters"].as_array().cloned().unwrap_or_default();
            for i in &items {
                match i["status"].as_str().unwrap_or_default() {
                    "CREATE_IN_PROGRESS" => pending += 1,
                    "CREATE_COMPLETE" => complete += 1,
                    _ => failed += 1,
                }
            }
            if items.len() < 1000 {
                break;
            }
            marker = items.last().and_then(|i| i["uuid"].as_str()).map(str::to_owned);
        }
        if pending == 0 {
            return Ok((complete, failed));
        }
        if t0.elapsed() > Duration::from_secs(limit_s) {
            bail!("{pending} bays still CREATE_IN_PROGRESS after {limit_s} s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let admin = args
        .postgres_url
        .clone()
        .or_else(|| std::env::var("MAGNUM_TEST_POSTGRES_URL").ok())
        .context("PostgreSQL: pass --postgres-url or set MAGNUM_TEST_POSTGRES_URL (scripts/bench.sh does)")?;
    let amqp = std::env::var("MAGNUM_TEST_AMQP_URL").context("RabbitMQ: set MAGNUM_TEST_AMQP_URL (scripts/bench.sh does)")?;
    let (db, name) = fresh_postgres(&admin).await?;
    let result = measure_all(args, binary, &db, &amqp).await;
    drop_postgres(&admin, &name).await;
    result
}

async fn measure_all(args: &Args, binary: &Path, db: &str, amqp: &str) -> anyhow::Result<()> {
    // Phases 1 and 2 run on conductors without the Docker driver (they build no bays; registered
    // ones they take), phase 3 on ones with it.
    let d = deploy(binary, db, amqp, false).await?;
    let apis = &d.apis;
    let c = &apis[0];
    println!(
        "# magnum-bench scale-out: 2 api + 2 conductor processes, PostgreSQL 15, RabbitMQ, {} clients spread over both APIs, {} CPUs",
        args.clients,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let r = c.post("/v1/clustertemplates", &json!({"name": "registered", "coe": "swarm-mode", "image_id": "img"})).await?;
    if r.status != 201 {
        bail!("template: {}", r.text);
    }
    let t0 = Instant::now();
    let uuids = create_bays(apis, args.clients, args.bays, "registered", 1).await?;
    let accepted = t0.elapsed().as_secs_f64();
    let (_, failed) = settle_all(c, 600).await?;
    let through = t0.elapsed().as_secs_f64();
    if failed != uuids.len() {
        bail!("expected {} unreachable registered bays failed by a conductor, saw {failed}", uuids.len());
    }
    analyze(db).await?;
    println!("| measure | result |\n|---|---|");
    println!(
        "| {} registered bays (unreachable) through both APIs: accepted | {:.1} s ({:.0}/s) |",
        uuids.len(),
        accepted,
        uuids.len() as f64 / accepted
    );
    println!(
        "| … carried out by the conductors (API → store → AMQP → conductor → store) | {:.1} s: {:.0} bays/min |",
        through,
        uuids.len() as f64 / through * 60.0
    );
    println!("\n| scenario | clients | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|");
    let paths: Vec<String> = uuids.iter().map(|u| format!("/v1/clusters/{u}")).collect();
    let scenarios: [(&str, Op); 3] = [
        ("template create POST /v1/clustertemplates", Op::CreateTemplate),
        ("bay list /v1/bays?limit=50", Op::Get(Arc::new(vec!["/v1/bays?limit=50".to_owned()]))),
        ("bay show /v1/bays/{uuid}", Op::Get(Arc::new(paths))),
    ];
    for (name, op) in scenarios {
        let f = measure(apis, args.clients, args.seconds, Arc::new(op)).await;
        println!("| {name} | {} | {:.0} | {:.2} | {:.2} | {} |", args.clients, f.rps, f.p50_ms, f.p99_ms, f.errors);
    }

    // Real bays: the whole path down to swarm nodes on the engine.
    drop(d);
    let d = deploy(binary, db, amqp, true).await?;
    let apis = &d.apis;
    let c = &apis[0];
    // The API accepts the node image once a conductor has reported its engine's images.
    let started = Instant::now();
    loop {
        let r =
            c.post("/v1/clustertemplates", &json!({"name": "swarm", "coe": "swarm-mode", "image_id": "magnum/swarm-node:latest"})).await?;
        if r.status == 201 {
            break;
        }
        if !r.text.contains("no conductor has reported") || started.elapsed() > Duration::from_secs(30) {
            bail!("swarm template: {}", r.text);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let t0 = Instant::now();
    let real = create_bays(apis, args.parallel.min(args.clients.max(1)), args.parallel, "swarm", 1).await?;
    let mut times = vec![];
    for u in &real {
        let started = Instant::now();
        loop {
            let s = c.get(&format!("/v1/clusters/{u}")).await?.body["status"].as_str().unwrap_or_default().to_owned();
            if s == "CREATE_COMPLETE" {
                break;
            }
            if s != "CREATE_IN_PROGRESS" {
                bail!("real bay {u}: {s}");
            }
            if started.elapsed() > Duration::from_secs(300) {
                bail!("real bay {u} not complete after 300 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        times.push(t0.elapsed().as_secs_f64());
    }
    let all = times.iter().copied().fold(0.0, f64::max);
    println!(
        "\n| {} real 1+1 TLS swarm bays at once through both APIs | all CREATE_COMPLETE in {:.1} s: {:.0} bays/min (median bay {:.1} s) |",
        real.len(),
        all,
        real.len() as f64 / all * 60.0,
        median(&mut times)
    );
    for u in &real {
        c.delete(&format!("/v1/clusters/{u}")).await?;
    }
    let t0 = Instant::now();
    loop {
        let r = c.get("/v1/clusters?limit=1000&sort_key=status").await?;
        let left =
            r.body["clusters"].as_array().map(|a| a.iter().filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with("swarm-"))).count());
        if left == Some(0) || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
