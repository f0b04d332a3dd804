//! `magnum-bench kube-bays`: real Kubernetes bays on the local Docker engine (the node image
//! must be built: `magnum-server node-image build --kubernetes-bin DIR`, which
//! `scripts/bench.sh kube-bays` does). Measures 1+2 bays from POST to CREATE_COMPLETE (one at a
//! time, then several at once), pods through the API from create to Running, a worker joining
//! on resize, the memory of master and worker nodes, and the node image's size.

use crate::{median, settled, start_with, Args};
use anyhow::{bail, Context};
use magnum_client::Client;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODE_IMAGE: &str = "magnum/kubernetes-node:v1.20.2";

fn secs(v: &[f64]) -> String {
    v.iter().map(|s| format!("{s:.1}")).collect::<Vec<_>>().join(", ")
}

async fn create(c: &Client, name: &str, workers: i64) -> anyhow::Result<String> {
    let r = c.post("/v1/clusters", &json!({"name": name, "cluster_template_id": "k8s", "node_count": workers})).await?;
    if r.status != 202 {
        bail!("creating {name}: {} {}", r.status, r.text);
    }
    Ok(r.body["uuid"].as_str().unwrap_or_default().to_owned())
}

/// Seconds from the pod's POST until the API shows it Running.
async fn pod_to_running(c: &Client, bay: &str, name: &str) -> anyhow::Result<f64> {
    let manifest = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "magnum/busybox", "command": ["sleep", "3600"]}]}});
    let started = Instant::now();
    let r = c.post("/v1/pods", &json!({"bay_uuid": bay, "manifest": manifest.to_string()})).await?;
    if r.status != 201 {
        bail!("pod {name}: {} {}", r.status, r.text);
    }
    let uuid = r.body["uuid"].as_str().unwrap_or_default().to_owned();
    loop {
        let shown = c.get(&format!("/v1/pods/{uuid}")).await?.body;
        if shown["status"] == "Running" {
            let took = started.elapsed().as_secs_f64();
            c.delete(&format!("/v1/pods/{uuid}")).await?;
            return Ok(took);
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("pod {name} not Running after 120 s: {shown}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Memory of the bay's node containers (MiB) by role, as `docker stats` reports it.
fn memory(bay: &str) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let prefix = format!("magnum-{}", &bay.replace('-', "")[..8]);
    let out =
        Command::new("docker").args(["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}"]).output().context("docker stats")?;
    let (mut masters, mut workers) = (vec![], vec![]);
    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(&prefix)) {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(used)) = (parts.next(), parts.next()) else { continue };
        let mib = match used {
            u if u.ends_with("GiB") => u.trim_end_matches("GiB").parse::<f64>().unwrap_or(f64::NAN) * 1024.0,
            u if u.ends_with("MiB") => u.trim_end_matches("MiB").parse::<f64>().unwrap_or(f64::NAN),
            u => u.trim_end_matches("KiB").parse::<f64>().unwrap_or(f64::NAN) / 1024.0,
        };
        if name.contains("-master-") {
            masters.push(mib)
        } else {
            workers.push(mib)
        }
    }
    Ok((masters, workers))
}

fn image_size() -> anyhow::Result<f64> {
    let out = Command::new("docker").args(["image", "inspect", "--format", "{{.Size}}", NODE_IMAGE]).output()?;
    let bytes: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().with_context(|| format!("{NODE_IMAGE} is not built"))?;
    Ok(bytes / 1e6)
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let size = image_size()?;
    let server = start_with(binary, None, true).await?;
    let c = server.client.clone().microversion("latest");
    let t = c
        .post("/v1/clustertemplates", &json!({"name": "k8s", "coe": "kubernetes", "image_id": NODE_IMAGE, "flavor_id": "m1.small"}))
        .await?;
    if t.status != 201 {
        bail!("template: {}", t.text);
    }
    println!("# magnum-bench kube-bays: Kubernetes 1.20.2, 1 master + 2 workers, flavor m1.small, local Docker engine");
    let (mut creates, mut deletes) = (vec![], vec![]);
    let mut kept = None;
    for i in 0..args.rounds.max(1) {
        let started = Instant::now();
        let id = create(&c, &format!("seq{i}"), 2).await?;
        settled(&c, &format!("/v1/clusters/{id}")).await?;
        creates.push(started.elapsed().as_secs_f64());
        if i + 1 == args.rounds.max(1) {
            kept = Some(id);
            break;
        }
        let started = Instant::now();
        c.delete(&format!("/v1/clusters/{id}")).await?;
        settled(&c, &format!("/v1/clusters/{id}")).await?;
        deletes.push(started.elapsed().as_secs_f64());
    }
    let bay = kept.unwrap_or_default();
    println!("| measure | result |\n|---|---|");
    println!(
        "| POST → CREATE_COMPLETE, one 1+2 bay (median of {}) | {:.1} s (all: {}) |",
        creates.len(),
        median(&mut creates.clone()),
        secs(&creates)
    );
    if !deletes.is_empty() {
        println!("| DELETE → gone, one bay (median of {}) | {:.1} s |", deletes.len(), median(&mut deletes));
    }

    // Pods through the API on the bay kept: the first loads its image into the workers.
    let mut pods = vec![];
    for i in 0..args.sequential.max(1) {
        pods.push(pod_to_running(&c, &bay, &format!("bench-{i}")).await?);
    }
    let first = pods[0];
    println!("| pod POST → Running through the API, first (its image loaded into the workers) | {first:.1} s |");
    if pods.len() > 1 {
        let mut rest = pods[1..].to_vec();
        println!("| pod POST → Running through the API (median of {}) | {:.1} s |", rest.len(), median(&mut rest));
    }

    let (masters, workers) = memory(&bay)?;
    println!("| memory of a master node (idle, control plane included) | {} MiB |", secs(&masters));
    println!("| memory of a worker node (idle) | {} MiB |", secs(&workers));

    let started = Instant::now();
    let r = c.patch(&format!("/v1/clusters/{bay}"), &json!([{"op": "replace", "path": "/node_count", "value": 3}])).await?;
    if r.status != 202 {
        bail!("resize: {}", r.text);
    }
    settled(&c, &format!("/v1/clusters/{bay}")).await?;
    println!("| resize 2 → 3 workers: PATCH → UPDATE_COMPLETE (the new node Ready) | {:.1} s |", started.elapsed().as_secs_f64());

    // An upgrade in place of the 1+3 bay (its pods on it) to another node image, one node at a time.
    let image = "magnum-bench/kubernetes-node:upgraded";
    crate::copy_image(NODE_IMAGE, image)?;
    let template = json!({"name": "k8s2", "coe": "kubernetes", "image_id": image, "flavor_id": "m1.small"});
    // The API's image list may lag a moment behind the engine.
    let asked = Instant::now();
    loop {
        let r = c.post("/v1/clustertemplates", &template).await?;
        match r.status {
            201 => break,
            _ if asked.elapsed() < Duration::from_secs(20) => tokio::time::sleep(Duration::from_millis(300)).await,
            _ => bail!("template: {}", r.text),
        }
    }
    let started = Instant::now();
    let r = c.post(&format!("/v1/clusters/{bay}/actions/upgrade"), &json!({"cluster_template": "k8s2", "max_batch_size": 1})).await?;
    if r.status != 202 {
        bail!("upgrade: {}", r.text);
    }
    if settled(&c, &format!("/v1/clusters/{bay}")).await? != "UPDATE_COMPLETE" {
        bail!("the upgrade did not complete: {}", c.get(&format!("/v1/clusters/{bay}")).await?.text);
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "| upgrade of the 1+3 bay to another node image, one node at a time: POST → UPDATE_COMPLETE | {took:.1} s ({:.1} s a node) |",
        took / 4.0
    );
    c.delete(&format!("/v1/clusters/{bay}")).await?;
    settled(&c, &format!("/v1/clusters/{bay}")).await?;

    let started = Instant::now();
    let mut ids = vec![];
    for i in 0..args.parallel {
        ids.push(create(&c, &format!("par{i}"), 2).await?);
    }
    for id in &ids {
        settled(&c, &format!("/v1/clusters/{id}")).await?;
    }
    println!("| {} bays of 1+2 created at once: POST → all CREATE_COMPLETE | {:.1} s |", args.parallel, started.elapsed().as_secs_f64());
    for id in &ids {
        c.delete(&format!("/v1/clusters/{id}")).await?;
    }
    for id in &ids {
        settled(&c, &format!("/v1/clusters/{id}")).await?;
    }
    println!("| node image {NODE_IMAGE} | {size:.0} MB |");
    c.delete("/v1/clustertemplates/k8s2").await?;
    let _ = crate::docker(&["rmi", image]);
    Ok(())
}
