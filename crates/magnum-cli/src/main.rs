//! `magnum`: the command-line client, with upstream's command names.
//!
//! Exit codes scripts can trust: 0 done; 1 the API (or the operation waited for with `--wait`)
//! failed, with Magnum's reason on stderr; 2 bad usage.

mod cluster_config;
mod kube;
mod more;
mod output;
mod session;
mod wait;

use anyhow::Context;
use clap::{Parser, Subcommand};
use magnum_client::Client;
use output::{expect, list, show, Format};
use serde_json::{json, Map, Value};

#[derive(Parser)]
#[command(name = "magnum", version, about = "Command-line client for magnum-rs (OpenStack Magnum's API)")]
struct Cli {
    #[command(flatten)]
    auth: session::AuthArgs,
    /// Output: aligned tables, or JSON for scripts.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a cluster template.
    ClusterTemplateCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        coe: String,
        #[arg(long)]
        image: String,
        #[arg(long)]
        flavor: Option<String>,
        #[arg(long)]
        master_flavor: Option<String>,
        #[arg(long)]
        tls_disabled: bool,
        #[arg(long)]
        public: bool,
    },
    ClusterTemplateList,
    ClusterTemplateShow {
        template: String,
    },
    ClusterTemplateDelete {
        templates: Vec<String>,
    },
    /// Create a cluster; with --wait, follow it to CREATE_COMPLETE (exit 1 if it fails).
    ClusterCreate {
        name: String,
        #[arg(long)]
        cluster_template: String,
        #[arg(long)]
        node_count: Option<i64>,
        #[arg(long)]
        master_count: Option<i64>,
        /// Minutes before the create fails (0: none).
        #[arg(long)]
        timeout: Option<i64>,
        #[arg(long)]
        wait: bool,
    },
    ClusterList,
    ClusterShow {
        cluster: String,
    },
    /// Delete clusters; with --wait, until they are gone.
    ClusterDelete {
        clusters: Vec<String>,
        #[arg(long)]
        wait: bool,
    },
    /// Resize a nodegroup (the default worker group unless --nodegroup names another; the
    /// swarm's managers with `--nodegroup default-master`); with --wait, follow it to
    /// UPDATE_COMPLETE.
    ClusterResize {
        cluster: String,
        node_count: i64,
        /// Workers to remove first (names), comma-separated.
        #[arg(long, value_delimiter = ',')]
        nodes_to_remove: Vec<String>,
        /// The nodegroup to resize (name or uuid).
        #[arg(long)]
        nodegroup: Option<String>,
        #[arg(long)]
        wait: bool,
    },
    /// Upgrade a cluster in place to another template of its COE (nodes made again from it, in
    /// batches, the masters first); with --wait, follow it to UPDATE_COMPLETE.
    ClusterUpgrade {
        cluster: String,
        cluster_template: String,
        /// How many nodes are replaced at once.
        #[arg(long, default_value_t = 1)]
        max_batch_size: i64,
        /// The nodegroup to upgrade (a default one).
        #[arg(long)]
        nodegroup: Option<String>,
        #[arg(long)]
        wait: bool,
    },
    /// Rotate the credentials the conductor uses for a cluster (the old ones stop working);
    /// with --wait, follow it to UPDATE_COMPLETE.
    CredentialRotate {
        cluster: String,
        #[arg(long)]
        wait: bool,
    },
    /// The cluster's CA certificate.
    CaShow {
        #[arg(long)]
        cluster: String,
    },
    /// Swarm: writes ca.pem, cert.pem and key.pem (a fresh key, signed by the cluster's CA) into
    /// --dir and prints the environment that points the docker CLI at the cluster. Kubernetes:
    /// writes a kubeconfig (`config`) and prints KUBECONFIG.
    #[command(alias = "bay-config")]
    ClusterConfig {
        cluster: String,
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
    },
    ServiceList,
    StatsList,
    #[command(flatten)]
    More(more::More),
    #[command(flatten)]
    Kube(kube::Kube),
}

fn body(pairs: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if !v.is_null() {
            m.insert((*k).to_owned(), v.clone());
        }
    }
    Value::Object(m)
}

async fn run(c: &Client, cmd: Command, format: Format) -> anyhow::Result<()> {
    match cmd {
        Command::ClusterTemplateCreate { name, coe, image, flavor, master_flavor, tls_disabled, public } => {
            let b = body(&[
                ("name", json!(name)),
                ("coe", json!(coe)),
                ("image_id", json!(image)),
                ("flavor_id", json!(flavor)),
                ("master_flavor_id", json!(master_flavor)),
                ("tls_disabled", json!(tls_disabled)),
                ("public", json!(public)),
            ]);
            let r = expect(c.post("/v1/clustertemplates", &b).await?, &[201], "cluster-template-create")?;
            show(&r.body, format);
        }
        Command::ClusterTemplateList => {
            let r = expect(c.get("/v1/clustertemplates?limit=1000").await?, &[200], "cluster-template-list")?;
            list(r.body["clustertemplates"].as_array().map(Vec::as_slice).unwrap_or(&[]), &["uuid", "name", "coe"], format);
        }
        Command::ClusterTemplateShow { template } => {
            let r = expect(c.get(&format!("/v1/clustertemplates/{template}")).await?, &[200], "cluster-template-show")?;
            show(&r.body, format);
        }
        Command::ClusterTemplateDelete { templates } => {
            for t in templates {
                expect(c.delete(&format!("/v1/clustertemplates/{t}")).await?, &[204], &format!("deleting cluster template {t}"))?;
                eprintln!("Request to delete cluster template {t} has been accepted.");
            }
        }
        Command::ClusterCreate { name, cluster_template, node_count, master_count, timeout, wait } => {
            let b = body(&[
                ("name", json!(name)),
                ("cluster_template_id", json!(cluster_template)),
                ("node_count", json!(node_count)),
                ("master_count", json!(master_count)),
                ("create_timeout", json!(timeout)),
            ]);
            let r = expect(c.post("/v1/clusters", &b).await?, &[202], "cluster-create")?;
            let uuid = r.body["uuid"].as_str().context("no uuid in the answer")?.to_owned();
            eprintln!("Request to create cluster {uuid} accepted");
            if wait {
                let shown = wait::settle(c, &uuid, wait::Goal::Complete).await?;
                show(&shown, format);
            } else if format == Format::Json {
                println!("{}", r.body);
            }
        }
        Command::ClusterList => {
            let r = expect(c.get("/v1/clusters?limit=1000").await?, &[200], "cluster-list")?;
            let cols = ["uuid", "name", "keypair", "node_count", "master_count", "status", "health_status"];
            list(r.body["clusters"].as_array().map(Vec::as_slice).unwrap_or(&[]), &cols, format);
        }
        Command::ClusterShow { cluster } => {
            let r = expect(c.get(&format!("/v1/clusters/{cluster}")).await?, &[200], "cluster-show")?;
            show(&r.body, format);
        }
        Command::ClusterDelete { clusters, wait } => {
            for cl in &clusters {
                expect(c.delete(&format!("/v1/clusters/{cl}")).await?, &[204], &format!("deleting cluster {cl}"))?;
                eprintln!("Request to delete cluster {cl} has been accepted.");
            }
            if wait {
                for cl in &clusters {
                    wait::settle(c, cl, wait::Goal::Gone).await?;
                }
            }
        }
        Command::ClusterResize { cluster, node_count, nodes_to_remove, nodegroup, wait } => {
            let mut b = json!({"node_count": node_count});
            if !nodes_to_remove.is_empty() {
                b["nodes_to_remove"] = json!(nodes_to_remove);
            }
            if let Some(group) = &nodegroup {
                b["nodegroup"] = json!(group);
            }
            let r = expect(c.post(&format!("/v1/clusters/{cluster}/actions/resize"), &b).await?, &[202], "cluster-resize")?;
            let uuid = r.body["uuid"].as_str().context("no uuid in the answer")?.to_owned();
            let group = nodegroup.as_deref().unwrap_or("default-worker");
            eprintln!("Request to resize nodegroup {group} of cluster {uuid} to {node_count} nodes accepted");
            if wait {
                let shown = wait::settle(c, &uuid, wait::Goal::Complete).await?;
                show(&shown, format);
            }
        }
        Command::ClusterUpgrade { cluster, cluster_template, max_batch_size, nodegroup, wait } => {
            let c = c.clone().microversion("1.8");
            let mut b = json!({"cluster_template": cluster_template, "max_batch_size": max_batch_size});
            if let Some(group) = &nodegroup {
                b["nodegroup"] = json!(group);
            }
            let r = expect(c.post(&format!("/v1/clusters/{cluster}/actions/upgrade"), &b).await?, &[202], "cluster-upgrade")?;
            let uuid = r.body["uuid"].as_str().context("no uuid in the answer")?.to_owned();
            eprintln!("Request to upgrade cluster {uuid} to template {cluster_template} accepted");
            if wait {
                let shown = wait::settle(&c, &uuid, wait::Goal::Complete).await?;
                show(&shown, format);
            }
        }
        Command::CredentialRotate { cluster, wait } => {
            let c = c.clone().microversion("1.12");
            let r = expect(c.patch(&format!("/v1/credentials/{cluster}"), &json!({})).await?, &[202], "credential-rotate")?;
            let uuid = r.body["uuid"].as_str().context("no uuid in the answer")?.to_owned();
            eprintln!("Request to rotate the credentials of cluster {uuid} accepted");
            if wait {
                let shown = wait::settle(&c, &uuid, wait::Goal::Complete).await?;
                show(&shown, format);
            }
        }
        Command::CaShow { cluster } => {
            let r = expect(c.get(&format!("/v1/certificates/{cluster}")).await?, &[200], "ca-show")?;
            match format {
                Format::Json => println!("{}", r.body),
                Format::Table => print!("{}", r.body["pem"].as_str().unwrap_or_default()),
            }
        }
        Command::ClusterConfig { cluster, dir } => cluster_config::run(c, &cluster, &dir).await?,
        Command::ServiceList => {
            let r = expect(c.get("/v1/mservices").await?, &[200], "service-list")?;
            let cols = ["id", "host", "binary", "state", "disabled", "disabled_reason", "created_at", "updated_at"];
            list(r.body["mservices"].as_array().map(Vec::as_slice).unwrap_or(&[]), &cols, format);
        }
        Command::More(m) => more::run(c, m, format).await?,
        Command::Kube(k) => kube::run(c, k, format).await?,
        Command::StatsList => {
            let r = expect(c.get("/v1/stats").await?, &[200], "stats-list")?;
            show(&r.body, format);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = async {
        let c = session::connect(&cli.auth).await?;
        run(&c, cli.command, cli.format).await
    }
    .await;
    if let Err(e) = result {
        eprintln!("ERROR: {e:#}");
        std::process::exit(1);
    }
}
