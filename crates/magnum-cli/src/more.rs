//! The 2015 vocabulary (`baymodel-*`, `bay-*`), nodegroups and nodes, containers, certificate
//! signing and rotation, and quotas.

use crate::output::{expect, list, show, Format};
use anyhow::Context;
use clap::Subcommand;
use magnum_client::Client;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum More {
    BaymodelCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        coe: String,
        #[arg(long)]
        image_id: String,
        #[arg(long)]
        keypair_id: Option<String>,
        #[arg(long)]
        flavor_id: Option<String>,
        #[arg(long)]
        tls_disabled: bool,
    },
    BaymodelList,
    BaymodelShow {
        baymodel: String,
    },
    BaymodelDelete {
        baymodels: Vec<String>,
    },
    BayCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        baymodel: String,
        #[arg(long)]
        node_count: Option<i64>,
        #[arg(long)]
        master_count: Option<i64>,
        #[arg(long)]
        wait: bool,
    },
    BayList,
    BayShow {
        bay: String,
    },
    /// `bay-update BAY replace node_count=N` (JSON-decoded values, as upstream's client).
    BayUpdate {
        bay: String,
        op: String,
        attributes: Vec<String>,
        #[arg(long)]
        wait: bool,
    },
    BayDelete {
        bays: Vec<String>,
        #[arg(long)]
        wait: bool,
    },
    NodegroupList {
        cluster: String,
    },
    NodegroupShow {
        cluster: String,
        nodegroup: String,
    },
    /// Add a worker group to a cluster; with --wait, follow the cluster's update to its end.
    NodegroupCreate {
        cluster: String,
        name: String,
        #[arg(long)]
        node_count: Option<i64>,
        #[arg(long = "min-nodes")]
        min_nodes: Option<i64>,
        #[arg(long = "max-nodes")]
        max_nodes: Option<i64>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        image: Option<String>,
        #[arg(long)]
        flavor: Option<String>,
        /// `key=value`, repeatable or comma-separated.
        #[arg(long)]
        labels: Vec<String>,
        #[arg(long)]
        merge_labels: bool,
        #[arg(long)]
        wait: bool,
    },
    /// `nodegroup-update CLUSTER GROUP replace max_node_count=N` (min_node_count, max_node_count).
    NodegroupUpdate {
        cluster: String,
        nodegroup: String,
        op: String,
        attributes: Vec<String>,
    },
    NodegroupDelete {
        cluster: String,
        nodegroups: Vec<String>,
        #[arg(long)]
        wait: bool,
    },
    NodeList,
    ContainerCreate {
        #[arg(long)]
        image: String,
        #[arg(long)]
        bay: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        command: Option<String>,
        #[arg(long)]
        memory: Option<String>,
    },
    ContainerList,
    ContainerShow {
        container: String,
    },
    ContainerDelete {
        containers: Vec<String>,
    },
    ContainerStart {
        containers: Vec<String>,
    },
    ContainerStop {
        containers: Vec<String>,
    },
    ContainerReboot {
        containers: Vec<String>,
    },
    ContainerPause {
        containers: Vec<String>,
    },
    ContainerUnpause {
        containers: Vec<String>,
    },
    ContainerLogs {
        container: String,
    },
    ContainerExec {
        container: String,
        #[arg(long)]
        command: String,
    },
    /// Signs a CSR (a PEM file) with the cluster's CA; prints the certificate.
    CaSign {
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        csr: std::path::PathBuf,
    },
    /// Replaces the cluster's CA (nodes get certificates from the new one).
    CaRotate {
        #[arg(long)]
        cluster: String,
    },
    QuotasCreate {
        #[arg(long)]
        project_id: String,
        #[arg(long, default_value = "Cluster")]
        resource: String,
        #[arg(long)]
        hard_limit: i64,
    },
    QuotasList,
    QuotasShow {
        #[arg(long)]
        project_id: String,
        #[arg(long, default_value = "Cluster")]
        resource: String,
    },
    QuotasDelete {
        #[arg(long)]
        project_id: String,
        #[arg(long, default_value = "Cluster")]
        resource: String,
    },
}

pub(crate) fn items<'a>(r: &'a Value, key: &str) -> &'a [Value] {
    r[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Upstream's `key=value` patch arguments; values are JSON-decoded when they can be.
pub(crate) fn patch(op: &str, attributes: &[String]) -> anyhow::Result<Vec<Value>> {
    attributes
        .iter()
        .map(|a| {
            let (k, v) = a.split_once('=').map(|(k, v)| (k, Some(v))).unwrap_or((a.as_str(), None));
            let mut o = json!({"op": op, "path": format!("/{}", k.trim_start_matches('/'))});
            if let Some(v) = v {
                o["value"] = serde_json::from_str(v).unwrap_or(Value::String(v.to_owned()));
            } else if op != "remove" {
                anyhow::bail!("'{a}': give key=value for {op}");
            }
            Ok(o)
        })
        .collect()
}

/// `key=value` arguments (each may hold several, comma-separated) as a JSON object of strings.
fn key_values(args: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for pair in args.iter().flat_map(|a| a.split(',')).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').with_context(|| format!("'{pair}': give labels as key=value"))?;
        out.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Ok(out)
}

pub async fn run(c: &Client, cmd: More, format: Format) -> anyhow::Result<()> {
    // Bays at 1.1 are answered synchronously with the bay; ask for the modern behaviour.
    match cmd {
        More::BaymodelCreate { name, coe, image_id, keypair_id, flavor_id, tls_disabled } => {
            let mut b = json!({"name": name, "coe": coe, "image_id": image_id, "tls_disabled": tls_disabled});
            for (k, v) in [("keypair_id", keypair_id), ("flavor_id", flavor_id)] {
                if let Some(v) = v {
                    b[k] = json!(v);
                }
            }
            show(&expect(c.post("/v1/baymodels", &b).await?, &[201], "baymodel-create")?.body, format);
        }
        More::BaymodelList => {
            let r = expect(c.get("/v1/baymodels?limit=1000").await?, &[200], "baymodel-list")?;
            list(items(&r.body, "baymodels"), &["uuid", "name"], format);
        }
        More::BaymodelShow { baymodel } => {
            show(&expect(c.get(&format!("/v1/baymodels/{baymodel}")).await?, &[200], "baymodel-show")?.body, format)
        }
        More::BaymodelDelete { baymodels } => {
            for b in baymodels {
                expect(c.delete(&format!("/v1/baymodels/{b}")).await?, &[204], &format!("deleting baymodel {b}"))?;
                eprintln!("Request to delete baymodel {b} has been accepted.");
            }
        }
        More::BayCreate { name, baymodel, node_count, master_count, wait } => {
            let mut b = json!({"name": name, "baymodel_id": baymodel});
            for (k, v) in [("node_count", node_count), ("master_count", master_count)] {
                if let Some(v) = v {
                    b[k] = json!(v);
                }
            }
            let r = expect(c.post("/v1/bays", &b).await?, &[202], "bay-create")?;
            let uuid = r.body["uuid"].as_str().context("no uuid in the answer")?.to_owned();
            eprintln!("Request to create bay {uuid} accepted");
            if wait {
                show(&crate::wait::settle(c, &uuid, crate::wait::Goal::Complete).await?, format);
            }
        }
        More::BayList => {
            let r = expect(c.get("/v1/bays?limit=1000").await?, &[200], "bay-list")?;
            list(items(&r.body, "bays"), &["uuid", "name", "node_count", "master_count", "status"], format);
        }
        More::BayShow { bay } => show(&expect(c.get(&format!("/v1/bays/{bay}")).await?, &[200], "bay-show")?.body, format),
        More::BayUpdate { bay, op, attributes, wait } => {
            let r = expect(c.patch(&format!("/v1/bays/{bay}"), &Value::Array(patch(&op, &attributes)?)).await?, &[202], "bay-update")?;
            let uuid = r.body["uuid"].as_str().unwrap_or(&bay).to_owned();
            eprintln!("Request to update bay {uuid} accepted");
            if wait {
                show(&crate::wait::settle(c, &uuid, crate::wait::Goal::Complete).await?, format);
            }
        }
        More::BayDelete { bays, wait } => {
            for b in &bays {
                expect(c.delete(&format!("/v1/bays/{b}")).await?, &[204], &format!("deleting bay {b}"))?;
                eprintln!("Request to delete bay {b} has been accepted.");
            }
            if wait {
                for b in &bays {
                    crate::wait::settle(c, b, crate::wait::Goal::Gone).await?;
                }
            }
        }
        More::NodegroupList { cluster } => {
            let r = expect(c.get(&format!("/v1/clusters/{cluster}/nodegroups")).await?, &[200], "nodegroup-list")?;
            list(items(&r.body, "nodegroups"), &["uuid", "name", "flavor_id", "image_id", "node_count", "role", "status"], format);
        }
        More::NodegroupShow { cluster, nodegroup } => {
            show(&expect(c.get(&format!("/v1/clusters/{cluster}/nodegroups/{nodegroup}")).await?, &[200], "nodegroup-show")?.body, format)
        }
        More::NodegroupCreate { cluster, name, node_count, min_nodes, max_nodes, role, image, flavor, labels, merge_labels, wait } => {
            let mut b = json!({"name": name});
            for (k, v) in [("node_count", node_count), ("min_node_count", min_nodes), ("max_node_count", max_nodes)] {
                if let Some(v) = v {
                    b[k] = json!(v);
                }
            }
            for (k, v) in [("role", role), ("image_id", image), ("flavor_id", flavor)] {
                if let Some(v) = v {
                    b[k] = json!(v);
                }
            }
            if !labels.is_empty() {
                b["labels"] = Value::Object(key_values(&labels)?);
            }
            if merge_labels {
                b["merge_labels"] = json!(true);
            }
            let r = expect(c.post(&format!("/v1/clusters/{cluster}/nodegroups"), &b).await?, &[202], "nodegroup-create")?;
            eprintln!("Request to create nodegroup {} accepted", r.body["uuid"].as_str().unwrap_or(&name));
            if wait {
                let done = crate::wait::settle(c, &cluster, crate::wait::Goal::Complete).await?;
                let group = expect(
                    c.get(&format!("/v1/clusters/{}/nodegroups/{name}", done["uuid"].as_str().unwrap_or(&cluster))).await?,
                    &[200],
                    "nodegroup-show",
                )?;
                show(&group.body, format);
            } else {
                show(&r.body, format);
            }
        }
        More::NodegroupUpdate { cluster, nodegroup, op, attributes } => {
            let body = Value::Array(patch(&op, &attributes)?);
            let r = expect(c.patch(&format!("/v1/clusters/{cluster}/nodegroups/{nodegroup}"), &body).await?, &[202], "nodegroup-update")?;
            show(&r.body, format);
        }
        More::NodegroupDelete { cluster, nodegroups, wait } => {
            for g in &nodegroups {
                expect(c.delete(&format!("/v1/clusters/{cluster}/nodegroups/{g}")).await?, &[204], &format!("deleting nodegroup {g}"))?;
                eprintln!("Request to delete nodegroup {g} has been accepted.");
            }
            if wait {
                crate::wait::settle(c, &cluster, crate::wait::Goal::Complete).await?;
            }
        }
        More::NodeList => {
            let r = expect(c.get("/v1/nodes?limit=1000").await?, &[200], "node-list")?;
            list(items(&r.body, "nodes"), &["uuid", "name", "bay_uuid", "role", "status", "addresses"], format);
        }
        More::ContainerCreate { image, bay, name, command, memory } => {
            let mut b = json!({"image": image, "bay_uuid": bay});
            for (k, v) in [("name", name), ("command", command), ("memory", memory)] {
                if let Some(v) = v {
                    b[k] = json!(v);
                }
            }
            show(&expect(c.post("/v1/containers", &b).await?, &[201], "container-create")?.body, format);
        }
        More::ContainerList => {
            let r = expect(c.get("/v1/containers?limit=1000").await?, &[200], "container-list")?;
            list(items(&r.body, "containers"), &["uuid", "name", "status", "image", "command"], format);
        }
        More::ContainerShow { container } => {
            show(&expect(c.get(&format!("/v1/containers/{container}")).await?, &[200], "container-show")?.body, format)
        }
        More::ContainerDelete { containers } => {
            for ct in containers {
                expect(c.delete(&format!("/v1/containers/{ct}")).await?, &[204], &format!("deleting container {ct}"))?;
                eprintln!("Request to delete container {ct} has been accepted.");
            }
        }
        More::ContainerStart { containers } => act(c, containers, "start").await?,
        More::ContainerStop { containers } => act(c, containers, "stop").await?,
        More::ContainerReboot { containers } => act(c, containers, "reboot").await?,
        More::ContainerPause { containers } => act(c, containers, "pause").await?,
        More::ContainerUnpause { containers } => act(c, containers, "unpause").await?,
        More::ContainerLogs { container } => {
            let r = expect(c.get(&format!("/v1/containers/{container}/logs")).await?, &[200], "container-logs")?;
            print!("{}", r.body["output"].as_str().unwrap_or_default());
        }
        More::ContainerExec { container, command } => {
            let r = expect(
                c.put(&format!("/v1/containers/{container}/execute"), Some(&json!({"command": command}))).await?,
                &[200],
                "container-exec",
            )?;
            print!("{}", r.body["output"].as_str().unwrap_or_default());
            // The command's own exit code becomes ours, so scripts can test it.
            if let Some(code) = r.body["exit_code"].as_i64().filter(|c| *c != 0) {
                std::process::exit(code.clamp(1, 255) as i32);
            }
        }
        More::CaSign { cluster, csr } => {
            let pem = std::fs::read_to_string(&csr).with_context(|| format!("reading {}", csr.display()))?;
            let r = expect(c.post("/v1/certificates", &json!({"cluster_uuid": cluster, "csr": pem})).await?, &[201], "ca-sign")?;
            match format {
                Format::Json => println!("{}", r.body),
                Format::Table => print!("{}", r.body["pem"].as_str().unwrap_or_default()),
            }
        }
        More::CaRotate { cluster } => {
            expect(c.patch(&format!("/v1/certificates/{cluster}"), &json!([])).await?, &[202], "ca-rotate")?;
            eprintln!("Request to rotate the CA of cluster {cluster} has been accepted.");
        }
        More::QuotasCreate { project_id, resource, hard_limit } => {
            let b = json!({"project_id": project_id, "resource": resource, "hard_limit": hard_limit});
            show(&expect(c.post("/v1/quotas", &b).await?, &[201], "quotas-create")?.body, format);
        }
        More::QuotasList => {
            let r = expect(c.get("/v1/quotas").await?, &[200], "quotas-list")?;
            list(items(&r.body, "quotas"), &["project_id", "resource", "hard_limit"], format);
        }
        More::QuotasShow { project_id, resource } => {
            show(&expect(c.get(&format!("/v1/quotas/{project_id}/{resource}")).await?, &[200], "quotas-show")?.body, format)
        }
        More::QuotasDelete { project_id, resource } => {
            expect(c.delete(&format!("/v1/quotas/{project_id}/{resource}")).await?, &[204], "quotas-delete")?;
            eprintln!("Request to delete the {resource} quota of {project_id} has been accepted.");
        }
    }
    Ok(())
}

async fn act(c: &Client, containers: Vec<String>, action: &str) -> anyhow::Result<()> {
    for ct in containers {
        let r = expect(c.put(&format!("/v1/containers/{ct}/{action}"), None).await?, &[200], &format!("container-{action} {ct}"))?;
        println!("{} {}", ct, r.body["status"].as_str().unwrap_or_default());
    }
    Ok(())
}
