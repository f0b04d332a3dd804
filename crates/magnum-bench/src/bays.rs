//! `magnum-bench bays`: real swarm bays on the local Docker engine, created and deleted one
//! at a time and many at once.

use crate::{median, settled, start_with, Args};
use anyhow::bail;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Real 1 master + 2 worker swarm bays (TLS) on the local Docker engine.
pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let server = start_with(binary, None, true).await?;
    let c = server.client.clone();
    let t = c
        .post(
            "/v1/clustertemplates",
            &json!({"name": "bench", "coe": "swarm-mode", "image_id": "magnum/swarm-node:latest", "flavor_id": "m1.small"}),
        )
        .await?;
    if t.status != 201 {
        bail!("template: {}", t.text);
    }
    println!("# magnum-bench bays: 1 master + 2 workers, TLS, flavor m1.small, local Docker engine");
    let (mut creates, mut deletes) = (vec![], vec![]);
    for i in 0..args.rounds {
        let started = Instant::now();
        let r = c.post("/v1/clusters", &json!({"name": format!("seq{i}"), "cluster_template_id": "bench", "node_count": 2})).await?;
        let id = r.body["uuid"].as_str().unwrap_or_default().to_owned();
        settled(&c, &format!("/v1/clusters/{id}")).await?;
        creates.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        c.delete(&format!("/v1/clusters/{id}")).await?;
        settled(&c, &format!("/v1/clusters/{id}")).await?;
        deletes.push(started.elapsed().as_secs_f64());
    }
    println!("| measure | result |\n|---|---|");
    println!(
        "| POST → CREATE_COMPLETE, one bay (median of {}) | {:.2} s (all: {:?}) |",
        args.rounds,
        median(&mut creates.clone()),
        creates.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>()
    );
    println!("| DELETE → gone, one bay (median of {}) | {:.2} s |", args.rounds, median(&mut deletes));
    let started = Instant::now();
    let mut ids = vec![];
    for i in 0..args.parallel {
        let r = c.post("/v1/clusters", &json!({"name": format!("par{i}"), "cluster_template_id": "bench", "node_count": 2})).await?;
        ids.push(r.body["uuid"].as_str().unwrap_or_default().to_owned());
    }
    let waits: Vec<_> = ids
        .iter()
        .map(|id| {
            let c = c.clone();
            let path = format!("/v1/clusters/{id}");
            tokio::spawn(async move { settled(&c, &path).await.map(|_| Instant::now()) })
        })
        .collect();
    let mut last = started;
    for w in waits {
        last = last.max(w.await??);
    }
    println!("| {} bays created at once: POST → all CREATE_COMPLETE | {:.2} s |", args.parallel, (last - started).as_secs_f64());
    let started = Instant::now();
    for id in &ids {
        c.delete(&format!("/v1/clusters/{id}")).await?;
    }
    for id in &ids {
        settled(&c, &format!("/v1/clusters/{id}")).await?;
    }
    println!("| {} bays deleted at once: DELETE → all gone | {:.2} s |", args.parallel, started.elapsed().as_secs_f64());
    Ok(())
}
