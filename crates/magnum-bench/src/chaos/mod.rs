//! `magnum-bench chaos`: a soak under combined faults. Two APIs and two conductors over
//! PostgreSQL and RabbitMQ (release builds, or the binary `--server` names) run a mixed
//! workload while faults are injected at random; then every fault is undone, the bays get time
//! to settle, and the run checks and prints the invariants (`verdict.rs`). Bounded in time
//! (`--soak-seconds`) and in requests (`--max-requests`); exits 1 on any violation.

mod api;
mod deployment;
mod faults;
mod ledger;
mod rng;
mod services;
mod verdict;
mod workload;

use crate::{drop_postgres, fresh_postgres, Args};
use anyhow::{bail, Context};
use api::Api;
use deployment::Deployment;
use faults::{Fault, Injector};
use rng::Rng;
use serde_json::json;
use services::Services;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use verdict::{Verdict, INVARIANTS};
use workload::{Templates, Workload};

const SWARM_IMAGE: &str = "magnum/swarm-node:latest";
const KUBERNETES_IMAGE: &str = "magnum/kubernetes-node:v1.20.2";

fn image_present(image: &str) -> bool {
    std::process::Command::new("docker").args(["image", "inspect", image]).output().is_ok_and(|o| o.status.success())
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    for image in [SWARM_IMAGE, "magnum/busybox:latest"].into_iter().chain(args.kubernetes.then_some(KUBERNETES_IMAGE)) {
        if !image_present(image) {
            bail!("{image} is not on the Docker engine: `magnum-server node-image build` (with --kubernetes-bin for Kubernetes) first; scripts/bench.sh chaos does it");
        }
    }
    let admin = args
        .postgres_url
        .clone()
        .or_else(|| std::env::var("MAGNUM_TEST_FAULT_POSTGRES_URL").ok())
        .context("PostgreSQL: pass --postgres-url or set MAGNUM_TEST_FAULT_POSTGRES_URL to a cluster this run may stop (scripts/bench.sh chaos does)")?;
    let amqp = std::env::var("MAGNUM_TEST_AMQP_URL").context("RabbitMQ: set MAGNUM_TEST_AMQP_URL (scripts/bench.sh chaos does)")?;
    let pg_cluster = args.pg_cluster.split_once('/').context("--pg-cluster is VERSION/NAME, e.g. 15/faults")?;
    let scripts = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts"));
    let project = format!("chaos-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let services = Arc::new(Services { scripts, pg_cluster: (pg_cluster.0.to_owned(), pg_cluster.1.to_owned()), project: project.clone() });
    let (db, name) = fresh_postgres(&admin).await?;
    let result = soak(args, binary, &db, &amqp, services, &project).await;
    drop_postgres(&admin, &name).await;
    result
}

async fn soak(args: &Args, binary: &Path, db: &str, amqp: &str, services: Arc<Services>, project: &str) -> anyhow::Result<()> {
    let lease_ttl = 6;
    let deployment = Arc::new(Deployment::start(binary, db, amqp, lease_ttl).await?);
    let api = Api::new(&deployment.apis, project, Arc::default(), Duration::from_secs(100));
    let templates = make_templates(&api, args.kubernetes).await?;
    println!(
        "# magnum-bench chaos: 2 APIs + 2 conductors over PostgreSQL and RabbitMQ on the local Docker engine; {} s of faults (one every ~{} s), \
         at most {} requests, seed {}, Kubernetes bays {}, {} CPUs",
        args.soak_seconds,
        args.fault_interval,
        args.max_requests,
        args.seed,
        if args.kubernetes { "on" } else { "off" },
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let mut rng = Rng::new(args.seed);
    let until = Instant::now() + Duration::from_secs(args.soak_seconds);
    let injector = Arc::new(Injector::new(deployment.clone(), services.clone(), lease_ttl));
    let kube_bays = if args.kubernetes { 1 } else { 0 };
    let work = Workload::new(api.clone(), templates, 2, kube_bays, until, args.max_requests);
    let (mut work_rng, mut fault_rng) = (rng.fork(), rng.fork());
    let soak_started = Instant::now();
    let workload = tokio::spawn(async move { work.run(&mut work_rng).await });
    let (me, interval) = (injector.clone(), args.fault_interval);
    let faults = tokio::spawn(async move { me.run(&mut fault_rng, interval, until).await });
    let (mut exits, mut progress) = (vec![], Instant::now());
    while !workload.is_finished() || !faults.is_finished() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        exits.extend(deployment.supervise()?);
        if progress.elapsed() >= Duration::from_secs(30) {
            progress = Instant::now();
            let injected: usize = injector.counts.lock().map(|c| c.values().sum()).unwrap_or(0);
            let live = api.ledger.bays().values().filter(|b| !b.deleted).count();
            eprintln!(
                "[chaos {:>4.0} s] {} requests, {injected} faults injected, {live} bays live",
                soak_started.elapsed().as_secs_f64(),
                api.ledger.requests()
            );
        }
    }
    let _ = workload.await;
    let _ = faults.await;

    // Every fault undone: processes running, services up.
    exits.extend(deployment.revive_all()?);
    restore_services(&services, &injector).await;
    for base in &deployment.apis {
        deployment::wait_answering(base, Duration::from_secs(60)).await?;
    }
    eprintln!("[chaos] faults over after {:.0} s; letting the bays settle", soak_started.elapsed().as_secs_f64());
    let settle_seconds = verdict::settle(&api, Duration::from_secs(args.settle_seconds)).await?;
    let mut v = Verdict { settle_seconds, ..Default::default() };
    verdict::check(&api, &services, &exits, &mut v).await?;
    report(&api, &injector, &exits, &v);
    let before_cleanup = v.total();
    verdict::clean_up(&api, &services, &mut v).await?;
    if v.total() > before_cleanup {
        println!("\ncleaning up found {} more:", v.total() - before_cleanup);
        for w in v.violations.get(&6).into_iter().flatten() {
            println!("- {w}");
        }
    }
    println!("\ninvariant violations: {}", v.total());
    if v.total() > 0 {
        // The processes go with the deployment; their logs stay for reading.
        bail!("{} invariant violations; the processes' logs are in {}", v.total(), deployment.dir.display());
    }
    let _ = std::fs::remove_dir_all(&deployment.dir);
    Ok(())
}

/// The templates bays are made from; the API accepts a node image once a conductor reported it.
async fn make_templates(api: &Api, kubernetes: bool) -> anyhow::Result<Templates> {
    let c = api.plain(0);
    let mut wanted = vec![
        ("chaos-swarm", json!({"name": "chaos-swarm", "coe": "swarm-mode", "image_id": SWARM_IMAGE})),
        (
            "chaos-swarm-healing",
            json!({"name": "chaos-swarm-healing", "coe": "swarm-mode", "image_id": SWARM_IMAGE, "labels": {"auto_healing_enabled": "true"}}),
        ),
    ];
    if kubernetes {
        wanted
            .push(("chaos-k8s", json!({"name": "chaos-k8s", "coe": "kubernetes", "image_id": KUBERNETES_IMAGE, "flavor_id": "m1.small"})));
    }
    for (name, body) in wanted {
        let started = Instant::now();
        loop {
            let r = c.post("/v1/clustertemplates", &body).await?;
            if r.status == 201 {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("template {name}: {} {}", r.status, r.text);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(Templates {
        swarm: "chaos-swarm".into(),
        swarm_healing: "chaos-swarm-healing".into(),
        kubernetes: kubernetes.then(|| "chaos-k8s".into()),
    })
}

/// A service a fault left down (its start failed) is started again; each such case is noted.
async fn restore_services(services: &Services, injector: &Injector) {
    for _ in 0..3 {
        if services.all_up().await {
            return;
        }
        let _ = services.start_database().await;
        for script in ["start-rabbitmq.sh", "start-docker.sh"] {
            let _ = tokio::process::Command::new("bash").arg(services.scripts.join(script)).output().await;
        }
    }
    if let Ok(mut t) = injector.troubles.lock() {
        t.push("a service was still down after three attempts to start it".into());
    }
}

fn report(api: &Api, injector: &Injector, exits: &[String], v: &Verdict) {
    let counts = injector.counts.lock().map(|c| c.clone()).unwrap_or_default();
    println!("\n## Faults injected: {}\n\n| fault | times |\n|---|---|", counts.values().sum::<usize>());
    for f in Fault::ALL {
        println!("| {} | {} |", f.describe(), counts.get(&f).copied().unwrap_or(0));
    }
    for t in injector.troubles.lock().map(|t| t.clone()).unwrap_or_default() {
        println!("- trouble injecting: {t}");
    }
    for e in exits {
        println!("- a process ended by itself and was started again (as a service manager would): {e}");
    }
    let (answers, unanswered, _) = api.ledger.tally();
    println!(
        "\n## Requests: {} ({unanswered} unanswered: their API down, paused or killed while answering)\n\n| answer | count |\n|---|---|",
        api.ledger.requests()
    );
    for (kind, n) in answers {
        println!("| {kind} | {n} |");
    }
    println!("\n| most frequent refusals (4xx) | count |\n|---|---|");
    for (why, n) in api.ledger.refusals(12) {
        println!("| {} | {n} |", why.replace('|', "/"));
    }
    let bays = api.ledger.bays();
    let kube = bays.values().filter(|b| b.kubernetes).count();
    println!(
        "\n## Bays: {} accepted ({kube} Kubernetes), {} resizes accepted, {} deletes accepted; settled {:.1} s after the faults ended\n",
        bays.len(),
        api.ledger.resizes(),
        bays.values().filter(|b| b.deleted).count(),
        v.settle_seconds
    );
    let (groups_added, groups_removed) = api.ledger.group_changes();
    println!(
        "Nodegroups added: {groups_added}, removed: {groups_removed}; containers accepted: {}; pods accepted: {}; templates made: {}.\n",
        api.ledger.containers().len(),
        api.ledger.pods().len(),
        api.ledger.templates().len()
    );
    println!("| status at the end | bays |\n|---|---|");
    for (s, n) in &v.statuses {
        println!("| {s} | {n} |");
    }
    if !v.failures.is_empty() {
        println!("\n| why a bay failed (allowed: failed with a reason) | bays |\n|---|---|");
        for (why, n) in &v.failures {
            println!("| {} | {n} |", why.replace('|', "/"));
        }
    }
    println!("\n## Invariants\n\n| invariant | violations |\n|---|---|");
    for (i, name) in INVARIANTS.iter().enumerate().take(INVARIANTS.len() - 1) {
        println!("| {name} | {} |", v.violations.get(&i).map_or(0, Vec::len));
    }
    for (i, found) in &v.violations {
        for f in found {
            println!("- {}: {f}", INVARIANTS[*i]);
        }
    }
}
