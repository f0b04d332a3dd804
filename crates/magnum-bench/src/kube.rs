//! `magnum-bench kube`: pods through the API on a real Kubernetes API server registered as an
//! external bay (`MAGNUM_TEST_KUBECONFIG`, as scripts/start-kubernetes.sh prints it).
//!
//! Measures, one request at a time: pod create (API → conductor → Kubernetes → store), show
//! (a live read from Kubernetes), list of every pod (the store only), delete.

use crate::{median, settled, start_with, Args};
use anyhow::{bail, Context};
use base64::Engine;
use magnum_client::Client;
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;
use std::time::Instant;

fn p90(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get((v.len() * 9 / 10).min(v.len().saturating_sub(1))).copied().unwrap_or(f64::NAN)
}

/// The external endpoint of the kubeconfig's cluster, with its admin client certificate.
fn endpoint(kubeconfig: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(kubeconfig).with_context(|| format!("reading {kubeconfig}"))?;
    let cfg: Value = serde_yaml_ng::from_str(&text).context("the kubeconfig is not YAML")?;
    let data = |p: &str| -> anyhow::Result<String> {
        let b64 = cfg.pointer(p).and_then(Value::as_str).with_context(|| format!("the kubeconfig lacks {p}"))?;
        Ok(String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64)?)?)
    };
    Ok(json!({
        "api_address": cfg.pointer("/clusters/0/cluster/server").and_then(Value::as_str).context("no server")?,
        "ca_cert": data("/clusters/0/cluster/certificate-authority-data")?,
        "client_cert": data("/users/0/user/client-certificate-data")?,
        "client_key": data("/users/0/user/client-key-data")?,
    }))
}

/// Milliseconds of `n` rounds of `f(i)`, which must answer `want`.
async fn timed<F, Fut>(n: usize, want: u16, f: F) -> anyhow::Result<Vec<f64>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<magnum_client::Reply>>,
{
    let mut out = vec![];
    for i in 0..n {
        let t = Instant::now();
        let r = f(i).await?;
        if r.status != want {
            bail!("expected {want}, got {} {}", r.status, r.text);
        }
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(out)
}

fn pod(i: usize) -> String {
    format!("metadata: {{name: bench-{i}, labels: {{app: bench}}}}\nspec: {{containers: [{{name: c, image: magnum/busybox}}]}}\n")
}

pub(crate) async fn run(args: &Args, binary: &Path) -> anyhow::Result<()> {
    let kubeconfig = std::env::var("MAGNUM_TEST_KUBECONFIG")
        .context("set MAGNUM_TEST_KUBECONFIG to a kubeconfig (scripts/bench.sh kube starts a Kubernetes API server)")?;
    let server = start_with(binary, None, false).await?;
    let c: Client = server.client.clone();
    let t = c.post("/v1/baymodels", &json!({"name": "k8s", "coe": "kubernetes", "image_id": "none", "keypair_id": "kp"})).await?;
    if t.status != 201 {
        bail!("baymodel: {}", t.text);
    }
    let r = c.post("/v1/bays", &json!({"name": "kb", "baymodel_id": "k8s", "external_endpoint": endpoint(&kubeconfig)?})).await?;
    let bay = r.body["uuid"].as_str().with_context(|| format!("bay: {}", r.text))?.to_owned();
    settled(&c, &format!("/v1/bays/{bay}")).await?;
    let n = args.sequential;
    // Leftovers of an interrupted run.
    for i in 0..n {
        let _ = c.delete(&format!("/v1/pods/bench-{i}")).await;
    }
    println!("# magnum-bench kube: {n} pods one at a time on a Kubernetes 1.20 API server (external bay, client certificate)");
    println!("| measure | median | p90 |\n|---|---|---|");
    let row = |what: &str, mut v: Vec<f64>| {
        println!("| {what} | {:.1} ms | {:.1} ms |", median(&mut v), p90(&mut v));
    };
    let c = &c;
    row(
        "pod create (API → conductor → Kubernetes → store)",
        timed(n, 201, |i| async move { Ok(c.post("/v1/pods", &json!({"bay_uuid": "kb", "manifest": pod(i)})).await?) }).await?,
    );
    row(
        "pod show (a live read from Kubernetes)",
        timed(n, 200, |i| async move { Ok(c.get(&format!("/v1/pods/bench-{i}")).await?) }).await?,
    );
    row(&format!("pod list ({n} pods, from the store)"), timed(50, 200, |_| async move { Ok(c.get("/v1/pods").await?) }).await?);
    row(
        "pod delete (Kubernetes, then the store)",
        timed(n, 204, |i| async move { Ok(c.delete(&format!("/v1/pods/bench-{i}")).await?) }).await?,
    );
    let r = c.delete(&format!("/v1/bays/{bay}")).await?;
    if r.status != 204 {
        bail!("bay delete: {}", r.text);
    }
    Ok(())
}
