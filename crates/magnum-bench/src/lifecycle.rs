//! `magnum-bench lifecycle`: what changing a running swarm bay costs. A worker nodegroup of one
//! node added and removed, and a failed worker replaced by auto-healing (a stopped container,
//! then a removed one), on a 1+1 bay labelled `auto_healing_enabled=true`, with the
//! conductor's default health interval (healing waits for two looks that find the node failed);
//! the same bay's managers resized 1 → 3 → 1; then a 1+2 bay upgraded to another node image and
//! back, one node at a time.

use crate::{copy_image, docker, median, settled, start_with, Args};
use anyhow::bail;
use magnum_client::Client;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Seconds until the bay is HEALTHY with a `healed` note other than `before`, and that note.
async fn until_healed(c: &Client, path: &str, before: &Value) -> anyhow::Result<(f64, Value)> {
    let started = Instant::now();
    loop {
        let bay = c.get(path).await?.body;
        let note = bay["health_status_reason"]["healed"].clone();
        if bay["health_status"] == json!("HEALTHY") && !note.is_null() && &note != before {
            return Ok((started.elapsed().as_secs_f64(), note));
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("{path} not healed after 120 s: {bay}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn healthy(c: &Client, path: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while c.get(path).await?.body["health_status"] != json!("HEALTHY") {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("{path} not HEALTHY after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let server = start_with(binary, None, true).await?;
    let c = server.client.clone().microversion("1.10");
    let t = c.post("/v1/clustertemplates", &json!({"name": "bench", "coe": "swarm-mode", "image_id": "magnum/swarm-node:latest"})).await?;
    if t.status != 201 {
        bail!("template: {}", t.text);
    }
    let body = json!({"name": "life", "cluster_template_id": "bench", "node_count": 1, "labels": {"auto_healing_enabled": "true"}});
    let r = c.post("/v1/clusters", &body).await?;
    let uuid = r.body["uuid"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/clusters/{uuid}");
    settled(&c, &path).await?;
    healthy(&c, &path).await?;
    let worker = format!("magnum-{}-worker-0", &uuid.replace('-', "")[..8]);
    println!("# magnum-bench lifecycle: a 1+1 swarm bay (TLS) on the local engine, auto_healing_enabled=true, health interval 5 s");
    let (mut adds, mut removes, mut stops, mut removals) = (vec![], vec![], vec![], vec![]);
    let (mut grows, mut shrinks) = (vec![], vec![]);
    let mut note = Value::Null;
    for i in 0..args.rounds {
        let started = Instant::now();
        let r = c.post(&format!("{path}/nodegroups"), &json!({"name": format!("g{i}"), "node_count": 1})).await?;
        if r.status != 202 {
            bail!("nodegroup create: {}", r.text);
        }
        settled(&c, &path).await?;
        adds.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        c.delete(&format!("{path}/nodegroups/g{i}")).await?;
        settled(&c, &path).await?;
        removes.push(started.elapsed().as_secs_f64());
        healthy(&c, &path).await?;

        docker(&["stop", "--time", "1", &worker])?;
        let (secs, n) = until_healed(&c, &path, &note).await?;
        (note, _) = (n, stops.push(secs));
        docker(&["rm", "--force", &worker])?;
        let (secs, n) = until_healed(&c, &path, &note).await?;
        (note, _) = (n, removals.push(secs));

        for (managers, took) in [(3, &mut grows), (1, &mut shrinks)] {
            let started = Instant::now();
            let body = json!({"node_count": managers, "nodegroup": "default-master"});
            let r = c.post(&format!("{path}/actions/resize"), &body).await?;
            if r.status != 202 {
                bail!("manager resize: {}", r.text);
            }
            settled(&c, &path).await?;
            took.push(started.elapsed().as_secs_f64());
        }
        healthy(&c, &path).await?;
    }
    let upgrades = upgrade_rounds(&c, args.rounds).await?;
    let all = |v: &[f64]| v.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>().join(", ");
    println!("| measure (median of {}) | result |\n|---|---|", args.rounds);
    println!("| nodegroup of 1 worker: POST → UPDATE_COMPLETE | {:.1} s ({}) |", median(&mut adds.clone()), all(&adds));
    println!(
        "| nodegroup DELETE → UPDATE_COMPLETE (its node drained and removed) | {:.1} s ({}) |",
        median(&mut removes.clone()),
        all(&removes)
    );
    println!("| worker container stopped → replaced, bay HEALTHY | {:.1} s ({}) |", median(&mut stops.clone()), all(&stops));
    println!("| worker container removed → replaced, bay HEALTHY | {:.1} s ({}) |", median(&mut removals.clone()), all(&removals));
    println!("| managers 1 → 3 (two join raft) → UPDATE_COMPLETE | {:.1} s ({}) |", median(&mut grows.clone()), all(&grows));
    println!(
        "| managers 3 → 1 (each demoted out of raft, then removed) → UPDATE_COMPLETE | {:.1} s ({}) |",
        median(&mut shrinks.clone()),
        all(&shrinks)
    );
    println!(
        "| upgrade of a 1+2 bay to another node image, one node at a time: seconds per node | {:.1} s ({}) |",
        median(&mut upgrades.clone()),
        all(&upgrades)
    );
    c.delete(&path).await?;
    settled(&c, &path).await?;
    Ok(())
}

/// Upgrades a 1+2 bay `rounds` times between the node image and a copy of it with one more
/// label (another image id); returns the seconds per node of each.
async fn upgrade_rounds(c: &Client, rounds: usize) -> anyhow::Result<Vec<f64>> {
    let image = "magnum-bench/swarm-node:upgraded";
    copy_image("magnum/swarm-node:latest", image)?;
    let started = Instant::now();
    loop {
        let r = c.post("/v1/clustertemplates", &json!({"name": "bench2", "coe": "swarm-mode", "image_id": image})).await?;
        match r.status {
            201 => break,
            _ if started.elapsed() < Duration::from_secs(20) => tokio::time::sleep(Duration::from_millis(300)).await,
            _ => bail!("template: {}", r.text),
        }
    }
    let r = c.post("/v1/clusters", &json!({"name": "up", "cluster_template_id": "bench", "node_count": 2})).await?;
    let path = format!("/v1/clusters/{}", r.body["uuid"].as_str().unwrap_or_default());
    settled(c, &path).await?;
    let mut per_node = vec![];
    for i in 0..rounds {
        let target = if i % 2 == 0 { "bench2" } else { "bench" };
        let started = Instant::now();
        let r = c.post(&format!("{path}/actions/upgrade"), &json!({"cluster_template": target, "max_batch_size": 1})).await?;
        if r.status != 202 {
            bail!("upgrade: {}", r.text);
        }
        settled(c, &path).await?;
        per_node.push(started.elapsed().as_secs_f64() / 3.0);
    }
    c.delete(&path).await?;
    settled(c, &path).await?;
    c.delete("/v1/clustertemplates/bench2").await?;
    let _ = docker(&["rmi", image]);
    Ok(per_node)
}
