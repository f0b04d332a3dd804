//! `magnum-bench containers`: the container API on one real 1 master + 2 worker TLS swarm bay.
//!
//! Measures create+start latency one container at a time (median and p90 of `--sequential`),
//! then `--burst` containers created and started at once (all accepted, wall time, per-request
//! latencies), then how fast the list of every container answers (it reads the store only).

use crate::{median, settled, start_with, Args};
use anyhow::{bail, Context};
use magnum_client::Client;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

const IMAGE: &str = "magnum/busybox:latest";

fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get((v.len() * 9 / 10).min(v.len().saturating_sub(1))).copied().unwrap_or(f64::NAN)
}

/// Creates and starts one container; returns (create ms, start ms).
async fn create_and_start(c: &Client, name: &str) -> anyhow::Result<(f64, f64)> {
    let t0 = Instant::now();
    let r = c.post("/v1/containers", &json!({"name": name, "image": IMAGE, "command": "sleep 3600", "bay_uuid": "bench"})).await?;
    if r.status != 201 {
        bail!("create {name}: {} {}", r.status, r.text);
    }
    let created = t0.elapsed().as_secs_f64() * 1e3;
    let uuid = r.body["uuid"].as_str().context("uuid")?.to_owned();
    let t1 = Instant::now();
    let r = c.put(&format!("/v1/containers/{uuid}/start"), None).await?;
    if r.status != 200 || r.body["status"] != json!("Running") {
        bail!("start {name}: {} {}", r.status, r.text);
    }
    Ok((created, t1.elapsed().as_secs_f64() * 1e3))
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let server = start_with(binary, None, true).await?;
    let c = server.client.clone();
    let t = c.post("/v1/clustertemplates", &json!({"name": "bench", "coe": "swarm-mode", "image_id": "magnum/swarm-node:latest"})).await?;
    if t.status != 201 {
        bail!("template: {}", t.text);
    }
    let r = c.post("/v1/clusters", &json!({"name": "bench", "cluster_template_id": "bench", "node_count": 2})).await?;
    let bay = r.body["uuid"].as_str().context("bay uuid")?.to_owned();
    settled(&c, &format!("/v1/clusters/{bay}")).await?;
    println!("# magnum-bench containers: busybox on a 1 master + 2 worker TLS swarm bay, local Docker engine");
    println!("| measure | result |\n|---|---|");

    let (mut creates, mut starts, mut both) = (vec![], vec![], vec![]);
    for i in 0..args.sequential {
        let (create, start) = create_and_start(&c, &format!("seq{i}")).await?;
        creates.push(create);
        starts.push(start);
        both.push(create + start);
    }
    println!(
        "| create + start, one at a time (median / p90 of {}) | {:.0} ms / {:.0} ms (create {:.0} ms + start {:.0} ms, medians) |",
        args.sequential,
        median(&mut both.clone()),
        p90(&mut both),
        median(&mut creates),
        median(&mut starts)
    );

    let t0 = Instant::now();
    let tasks: Vec<_> = (0..args.burst)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { create_and_start(&c, &format!("burst{i}")).await })
        })
        .collect();
    let mut latencies = vec![];
    for t in tasks {
        let (create, start) = t.await??;
        latencies.push(create + start);
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "| {} containers created and started at once | all {} Running in {:.2} s ({:.1}/s); per container median {:.0} ms, max {:.0} ms |",
        args.burst,
        latencies.len(),
        wall,
        latencies.len() as f64 / wall,
        median(&mut latencies.clone()),
        latencies.iter().copied().fold(0.0, f64::max)
    );

    let total = args.sequential + args.burst;
    let mut lists = vec![];
    for _ in 0..200 {
        let t = Instant::now();
        let r = c.get("/v1/containers?limit=1000").await?;
        lists.push(t.elapsed().as_secs_f64() * 1e3);
        if r.body["containers"].as_array().map(Vec::len) != Some(total) {
            bail!("list: expected {total} containers: {}", r.text);
        }
    }
    println!(
        "| list of all {total} containers (200 requests) | median {:.2} ms, p90 {:.2} ms |",
        median(&mut lists.clone()),
        p90(&mut lists)
    );

    let per_host = c.get("/v1/containers/detail?limit=1000").await?.body;
    let mut hosts = std::collections::BTreeMap::<String, usize>::new();
    for item in per_host["containers"].as_array().into_iter().flatten() {
        *hosts.entry(item["host"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
    }
    println!("| placement | {hosts:?} |");
    c.delete(&format!("/v1/clusters/{bay}")).await?;
    settled(&c, &format!("/v1/clusters/{bay}")).await?;
    Ok(())
}
