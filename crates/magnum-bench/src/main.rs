//! `magnum-bench api`: the control-plane benchmark (issue "control plane", item 8);
//! `magnum-bench bays` (bays.rs) and `magnum-bench containers` (containers.rs) use real engines.
//!
//! For each store backend it starts the real `magnum-server all` binary (release build),
//! measures the idle server's memory, stores N bays through the API, then runs `--clients`
//! concurrent clients for `--seconds` on each of: list (limit 50), detail list (limit 50) and
//! show, printing requests/s and p50/p99 latency. Clients and server share this machine.

mod auth;
mod bays;
mod chaos;
mod containers;
mod guard;
mod kube;
mod kube_bays;
mod lifecycle;
mod scale_out;

use anyhow::{bail, Context};
use clap::Parser;
use magnum_client::Client;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Benchmarks magnum-rs: `api` (the control plane with N stored bays), `bays` (real swarm bays on Docker) or `containers` (the container API on a real bay), `kube` (pods on a real Kubernetes API server), `kube-bays` (real Kubernetes bays on Docker), `lifecycle` (nodegroups and auto-healing on a real swarm bay), `chaos` (a soak under combined faults)"
)]
pub(crate) struct Args {
    /// Which benchmark: api or bays.
    #[arg(default_value = "api")]
    suite: String,
    /// bays: sequential creates (median reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// bays: bays created at once.
    #[arg(long, default_value_t = 10)]
    parallel: usize,
    /// containers: sequential create+start rounds (median reported); kube: pods created one at a time.
    #[arg(long, default_value_t = 20)]
    sequential: usize,
    /// containers: containers created and started at once.
    #[arg(long, default_value_t = 50)]
    burst: usize,
    /// Backends to measure: sqlite, postgres, or both.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Bays stored before measuring.
    #[arg(long, default_value_t = 1000)]
    bays: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// PostgreSQL server URL (a fresh database is created on it). Default: $MAGNUM_TEST_POSTGRES_URL.
    #[arg(long)]
    postgres_url: Option<String>,
    /// The server binary. Default: target/release/magnum-server next to this binary.
    #[arg(long)]
    server: Option<PathBuf>,
    /// chaos: seconds of workload under faults (then the faults end and the bays settle).
    #[arg(long, default_value_t = 180)]
    soak_seconds: u64,
    /// chaos: seconds between faults, on average.
    #[arg(long, default_value_t = 10.0)]
    fault_interval: f64,
    /// chaos: the workload stops after this many requests, if that comes first.
    #[arg(long, default_value_t = 20_000)]
    max_requests: usize,
    /// chaos: seed of the workload's and the faults' choices (the same seed, the same choices).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// chaos: Kubernetes bays in the workload too (needs magnum/kubernetes-node on the engine).
    #[arg(long)]
    kubernetes: bool,
    /// chaos: how long bays may take to settle once the faults end.
    #[arg(long, default_value_t = 300)]
    settle_seconds: u64,
    /// chaos: the PostgreSQL cluster (VERSION/NAME, for pg_ctlcluster) serving --postgres-url,
    /// which the run stops and starts.
    #[arg(long, default_value = "15/faults")]
    pg_cluster: String,
}

pub(crate) struct Server {
    child: Child,
    client: Client,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn server_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.server {
        return Ok(p.clone());
    }
    let me = std::env::current_exe()?;
    let p = me.with_file_name("magnum-server");
    if !p.exists() {
        bail!("{} not found: run `cargo build --release -p magnum-server` first, or pass --server", p.display());
    }
    Ok(p)
}

pub(crate) async fn start(binary: &Path, database: Option<&str>) -> anyhow::Result<Server> {
    start_with(binary, database, false).await
}

pub(crate) async fn start_with(binary: &Path, database: Option<&str>, docker: bool) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let dir = std::env::temp_dir().join(format!("magnum-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut cmd = Command::new(binary);
    cmd.args(["--data-dir", &dir.display().to_string(), "--bind", &format!("127.0.0.1:{port}"), "all"])
        .env("MAGNUM_LOG", "warn")
        // The control-plane benchmark stores bays; it must not build 1,000 real swarms.
        .env("MAGNUM_DOCKER__ENABLED", if docker { "true" } else { "false" })
        .env("MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database {
        cmd.env("MAGNUM_DATABASE__CONNECTION", url);
    }
    let child = cmd.spawn().with_context(|| format!("starting {}", binary.display()))?;
    let client = Client::new(&format!("http://127.0.0.1:{port}")).as_user("bench", "bench", "admin");
    let server = Server { child, client, dir };
    for _ in 0..100 {
        if server.client.get("/").await.is_ok_and(|r| r.status == 200) {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not answer within 10 s")
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Stores `n` bays through the API; returns their uuids and the creation rate.
async fn seed(c: &Client, n: usize) -> anyhow::Result<(Vec<String>, f64)> {
    let r = c.post("/v1/quotas", &json!({"project_id": "bench", "resource": "Cluster", "hard_limit": n + 10})).await?;
    if r.status != 201 {
        bail!("quota: {}", r.text);
    }
    let r = c.post("/v1/baymodels", &json!({"name": "bench", "coe": "swarm", "image_id": "magnum/swarm-node", "keypair_id": "kp"})).await?;
    if r.status != 201 {
        bail!("baymodel: {}", r.text);
    }
    let started = Instant::now();
    let mut uuids = Vec::with_capacity(n);
    let v = c.clone().microversion("1.2");
    for i in 0..n {
        // Registered swarms at an address nothing serves: the server builds no bays (the benchmark
        // stores them, it does not build 1,000 swarms), and its conductor fails each at once.
        let body = json!({"name": format!("bay-{i:04}"), "baymodel_id": "bench", "node_count": 2,
            "external_endpoint": {"api_address": "tcp://127.0.0.1:9"}});
        let r = v.post("/v1/bays", &body).await?;
        if r.status != 202 {
            bail!("bay {i}: {} {}", r.status, r.text);
        }
        uuids.push(r.body["uuid"].as_str().unwrap_or_default().to_owned());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    // Let the conductor finish with them (each becomes CREATE_FAILED: nothing answers at their
    // address) so its writes do not overlap the read measurements.
    for _ in 0..600 {
        let r = c.get("/v1/bays?limit=1000&sort_key=status&sort_dir=desc").await?;
        let pending =
            r.body["bays"].as_array().map(|b| b.iter().filter(|x| x["status"] == json!("CREATE_IN_PROGRESS")).count()).unwrap_or(0);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((uuids, rate))
}

pub(crate) struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

pub(crate) enum Op {
    Get(Arc<Vec<String>>),
    CreateTemplate,
}

/// `clients` concurrent clients, client k on `apis[k mod len]`, for `seconds`.
pub(crate) async fn measure(apis: &[Client], clients: usize, seconds: u64, op: Arc<Op>) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let c = apis[k % apis.len()].clone();
            let op = op.clone();
            tokio::spawn(async move {
                let (mut lat, mut errors, mut i) = (Vec::new(), 0usize, k);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = match op.as_ref() {
                        Op::Get(paths) => c.get(&paths[i % paths.len()]).await.is_ok_and(|r| r.status == 200),
                        Op::CreateTemplate => c
                            .post("/v1/clustertemplates", &json!({"name": format!("t-{k}-{i}"), "coe": "swarm-mode", "image_id": "img"}))
                            .await
                            .is_ok_and(|r| r.status == 201),
                    };
                    if ok {
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    } else {
                        errors += 1;
                    }
                    i += clients;
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(f64::NAN);
    Figures { rps: all.len() as f64 / seconds as f64, p50_ms: pct(0.50), p99_ms: pct(0.99), errors }
}

pub(crate) async fn fresh_postgres(admin_url: &str) -> anyhow::Result<(String, String)> {
    sqlx::any::install_default_drivers();
    let name = format!("magnum_bench_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(admin_url).await.context("connecting to PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await?;
    pool.close().await;
    let base = &admin_url[..admin_url.rfind('/').context("the PostgreSQL URL must end in /DATABASE")?];
    Ok((format!("{base}/{name}"), name))
}

pub(crate) async fn drop_postgres(admin_url: &str, name: &str) {
    if let Ok(pool) = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&pool).await;
        pool.close().await;
    }
}

/// Refreshes PostgreSQL's planner statistics, as autovacuum does within a minute of a bulk
/// load, so the figures show the steady state rather than the first minute after seeding.
pub(crate) async fn analyze(url: &str) -> anyhow::Result<()> {
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    Ok(())
}

async fn run_backend(args: &Args, binary: &Path, label: &str, database: Option<&str>) -> anyhow::Result<()> {
    let server = start(binary, database).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_mib(server.child.id());
    let c = &server.client;
    let (uuids, create_rate) = seed(c, args.bays).await?;
    println!("\n## {label}: {} bays stored ({create_rate:.0} bay creates/s through the API, sequential)", uuids.len());
    if let Some(url) = database {
        analyze(url).await?;
        println!("(planner statistics refreshed with ANALYZE after seeding, as autovacuum would)");
    }
    println!("idle server memory (RSS, before seeding): {idle:.1} MiB");
    println!("| scenario | clients | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    let scenarios: [(&str, Vec<String>); 3] = [
        ("list /v1/bays?limit=50", vec!["/v1/bays?limit=50".to_owned()]),
        ("detail /v1/bays/detail?limit=50", vec!["/v1/bays/detail?limit=50".to_owned()]),
        ("show /v1/bays/{uuid}", uuids.iter().map(|u| format!("/v1/bays/{u}")).collect()),
    ];
    for (name, paths) in scenarios {
        let f =
            measure(std::slice::from_ref(c), args.clients, args.seconds, std::sync::Arc::new(Op::Get(std::sync::Arc::new(paths)))).await;
        println!("| {name} | {} | {:.0} | {:.2} | {:.2} | {} |", args.clients, f.rps, f.p50_ms, f.p99_ms, f.errors);
    }
    println!("server memory after the runs (RSS): {:.1} MiB", rss_mib(server.child.id()));
    Ok(())
}

/// Polls `path` until its status leaves `*_IN_PROGRESS` (or it is gone); returns the status.
pub(crate) async fn settled(c: &Client, path: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let r = c.get(path).await?;
        if r.status == 404 {
            return Ok("GONE".into());
        }
        let status = r.body["status"].as_str().unwrap_or_default().to_owned();
        if !status.ends_with("IN_PROGRESS") {
            if status.ends_with("FAILED") {
                bail!("{path}: {status}: {}", r.body["status_reason"]);
            }
            return Ok(status);
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!("{path} still {status} after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn docker(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("docker").args(args).output().context("running the docker CLI")?;
    if !out.status.success() {
        bail!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `image` as `to` with one more label: the same content under another image id, what an
/// upgrade to "another node image" needs.
pub(crate) fn copy_image(image: &str, to: &str) -> anyhow::Result<()> {
    let copy = "magnum-bench-image-copy";
    let _ = docker(&["rm", "--force", copy]);
    docker(&["create", "--name", copy, image])?;
    docker(&["commit", "--change", "LABEL org.openstack.magnum.bench=upgraded", copy, to])?;
    docker(&["rm", "--force", copy])
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = server_binary(&args)?;
    match args.suite.as_str() {
        "bays" => return bays::run(&args, &binary).await,
        "chaos" => return chaos::run(&args, &binary).await,
        "lifecycle" => return lifecycle::run(&args, &binary).await,
        "containers" => return containers::run(&args, &binary).await,
        "kube" => return kube::run(&args, &binary).await,
        "kube-bays" => return kube_bays::run(&args, &binary).await,
        "scale-out" => return scale_out::run(&args, &binary).await,
        "auth" => return auth::run(&args, &binary).await,
        "guard" => return guard::run(&args).await,
        "api" => {}
        other => bail!("unknown benchmark {other}: use api, bays, chaos, containers, guard, kube, kube-bays, lifecycle, scale-out or auth"),
    }
    println!(
        "# magnum-bench api: {} bays, {} clients, {} s per scenario, {} CPUs",
        args.bays,
        args.clients,
        args.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    if matches!(args.backend.as_str(), "sqlite" | "both") {
        run_backend(&args, &binary, "SQLite", None).await?;
    }
    if matches!(args.backend.as_str(), "postgres" | "both") {
        let admin = args
            .postgres_url
            .clone()
            .or_else(|| std::env::var("MAGNUM_TEST_POSTGRES_URL").ok())
            .context("PostgreSQL: pass --postgres-url or set MAGNUM_TEST_POSTGRES_URL (scripts/bench.sh does)")?;
        let (url, name) = fresh_postgres(&admin).await?;
        let result = run_backend(&args, &binary, "PostgreSQL 15", Some(&url)).await;
        drop_postgres(&admin, &name).await;
        result?;
    }
    Ok(())
}
