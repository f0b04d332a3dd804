//! Create and resize are one convergence: make the nodes the plan wants (each with its files
//! before its first start), keep every node's routes to the others' pod ranges in step with
//! membership, bootstrap what pods need, drain and remove surplus workers, and wait until
//! every wanted node is Ready. Each step checks what exists first, so repeating it after a
//! crash or a takeover finishes the work instead of duplicating it.

use super::layout::{self, Placed, API_PORT};
use super::node::{self, ENV_FILE, ROUTES_FILE};
use super::{client, need_credentials, KubernetesDriver};
use super::{drain, pki};
use crate::docker::nodes::{self, NodeFile};
use crate::docker::plan::{self, NodeRole};
use crate::docker::{err, fenced, EngineError};
use crate::kubernetes::client::{name_of, ready_condition, KubeClient};
use crate::{Fence, Observed};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use magnum_types::{ErrorKind, MagnumError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const EXEC_LIMIT: Duration = Duration::from_secs(30);
/// The service-account token secret the conductor makes for the default service account, so
/// pods are admitted as soon as the API server is up (not when the controller-manager's token
/// controller gets to it, ~20 s later on a busy machine).
const DEFAULT_TOKEN_SECRET: &str = "default-token-magnum";

pub(super) fn kube_failed(e: MagnumError) -> EngineError {
    EngineError(e.message)
}

/// The bay a converge works on, as its nodes are made.
#[derive(Clone, Copy)]
struct Target<'a> {
    cluster: &'a Cluster,
    template: &'a ClusterTemplate,
    creds: &'a crate::Credentials,
    master: &'a Placed,
    all: &'a [Placed],
    network: &'a str,
    fence: &'a dyn Fence,
}

impl KubernetesDriver {
    /// Brings the bay to its plan; the nodes named in `replace` are made way for first
    /// (see [`nodes::make_way`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn converge(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&crate::Credentials>,
        fence: &dyn Fence,
        replace: &[String],
    ) -> Result<Observed, EngineError> {
        let creds = need_credentials(cluster, credentials).map_err(kube_failed)?;
        let docker = self.docker()?;
        nodes::require_image(&docker, &template.image_id, super::BUILD_HINT).await?;
        let deadline = Instant::now() + self.node_timeout;
        fenced(fence).await?;
        let (network, subnet) = crate::docker::network::ensure(&docker, cluster).await?;
        let plan = plan::plan(cluster, groups, &nodes::members(&docker, cluster).await?);
        let placed = plan.nodes.iter().map(|s| layout::place(subnet, s)).collect::<Result<Vec<_>, _>>().map_err(EngineError)?;
        let master = placed.first().cloned().ok_or_else(|| EngineError("the plan has no master".into()))?;
        for n in placed.iter().filter(|n| replace.contains(&n.spec.name)) {
            fenced(fence).await?;
            tracing::info!(bay = %cluster.uuid, node = %n.spec.name, "replacing a failed node");
            nodes::make_way(&docker, &n.spec).await?;
        }
        // The master first (its API server is what everything waits for), then the workers
        // all at once.
        // A node made now may still be listed Ready from before (an upgrade made it again): its
        // Ready counts once its new kubelet has reported after this moment.
        let since = magnum_types::time::now();
        let mut fresh = vec![];
        let on = Target { cluster, template, creds, master: &master, all: &placed, network: &network, fence };
        if self.ensure_node(&docker, &on, &master).await? {
            fresh.push(master.spec.name.clone());
        }
        let workers = placed.iter().skip(1).map(|n| self.ensure_node(&docker, &on, n));
        for (n, made) in placed.iter().skip(1).zip(futures_util::future::join_all(workers).await) {
            if made? {
                fresh.push(n.spec.name.clone());
            }
        }
        fenced(fence).await?;
        self.push_routes(&docker, &placed, &fresh).await?;
        let api_address = self.api_address(&docker, &master).await?;
        let kube_client = client(&api_address, creds).map_err(kube_failed)?;
        let started = Instant::now();
        wait_api(&docker, &kube_client, &master, deadline).await?;
        tracing::info!(bay = %cluster.uuid, seconds = started.elapsed().as_secs_f64(), "API server ready");
        fenced(fence).await?;
        super::conductor::ensure_bound(&kube_client, &api_address, creds).await?;
        // The API server makes the default namespace a moment after it first answers.
        fenced(fence).await?;
        loop {
            match bootstrap(&kube_client).await {
                Err(e) if e.kind == ErrorKind::NotFound && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                done => break done.map_err(kube_failed)?,
            }
        }
        super::confinement::ensure(&kube_client).await.map_err(kube_failed)?;
        // All leaving workers are cordoned before any is drained, so no pod moves onto one
        // that is about to go.
        for name in &plan.remove {
            fenced(fence).await?;
            drain::cordon(&kube_client, name).await?;
        }
        for name in &plan.remove {
            fenced(fence).await?;
            drain::remove_worker(&docker, &kube_client, name).await?;
        }
        nodes::remove_orphan_volumes(&docker, cluster, &plan.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>()).await?;
        wait_ready(&docker, &kube_client, cluster, (&placed, &fresh, since), deadline).await?;
        tracing::info!(bay = %cluster.uuid, seconds = started.elapsed().as_secs_f64(), nodes = placed.len(), "every node Ready");
        if !fresh.is_empty() {
            fenced(fence).await?;
            self.seed_new_nodes(&docker, cluster, &fresh).await?;
        }
        let version = kube_client.version().await.map_err(kube_failed)?;
        let engine_version = docker.version().await.ok().and_then(|v| v.version);
        let addresses = |role: NodeRole| placed.iter().filter(|n| n.spec.role == role).map(|n| n.ip.to_string()).collect();
        Ok(Observed {
            api_address: Some(api_address),
            node_addresses: addresses(NodeRole::Worker),
            master_addresses: addresses(NodeRole::Manager),
            coe_version: Some(version),
            container_version: engine_version,
        })
    }

    /// Makes the node (volumes, container, files, start) unless it exists; starts it if it is
    /// stopped. True when it was made now.
    async fn ensure_node(&self, docker: &Docker, on: &Target<'_>, n: &Placed) -> Result<bool, EngineError> {
        let Target { cluster, template, creds, master, all, network, fence } = *on;
        let name = &n.spec.name;
        fenced(fence).await?;
        if nodes::inspect(docker, name).await?.is_some() {
            if nodes::read_file(docker, name, ENV_FILE).await.is_some() {
                nodes::start(docker, name).await?;
                return Ok(false);
            }
            // Made, but never given its files (an interrupted create): made again.
            tracing::info!(node = %name, "node container has no settings; making it again");
            nodes::remove(docker, name).await?;
        }
        for (volume, _) in node::volumes(n) {
            nodes::ensure_volume(docker, cluster, name, &volume).await?;
        }
        let limits = nodes::flavor_limits(&self.flavors, cluster, &n.spec);
        let image = n.spec.image.as_deref().unwrap_or(&template.image_id);
        let body = node::container(cluster, image, n, network, &self.engine, limits)?;
        docker
            .create_container(Some(CreateContainerOptionsBuilder::new().name(name).build()), body)
            .await
            .map_err(|e| err(&format!("creating node {name}"), e))?;
        // A node made again (an upgrade) finds its certificates on its volume, and keeps them
        // unless they come from another CA.
        let kept = nodes::read_file(docker, name, pki::KEPT_MARK).await.is_some_and(|ca| ca == creds.ca.cert_pem);
        let mut files = if kept { vec![] } else { pki::node_files(&creds.ca, n, &self.engine.publish_address).map_err(kube_failed)? };
        files.extend(node::settings(n, master, &layout::routes_for(n, all)));
        nodes::upload(docker, name, &files).await?;
        nodes::start(docker, name).await?;
        tracing::info!(node = %name, address = %n.ip, pods = %n.pod_cidr, "node started");
        Ok(true)
    }

    /// Every node that was there already gets routes to exactly the current members' pod
    /// ranges, and its settings as its group now is (new nodes were made with both). A stopped
    /// node applies its files when started.
    async fn push_routes(&self, docker: &Docker, all: &[Placed], fresh: &[String]) -> Result<(), EngineError> {
        let master = all.iter().find(|n| n.spec.role == NodeRole::Manager);
        for n in all.iter().filter(|n| !fresh.contains(&n.spec.name)) {
            if let Some(master) = master {
                super::placement::rewrite_settings(docker, n, master).await?;
            }
            let want = layout::routes_for(n, all);
            if nodes::read_file(docker, &n.spec.name, ROUTES_FILE).await.as_deref() == Some(want.as_str()) {
                continue;
            }
            nodes::upload(docker, &n.spec.name, &[NodeFile::new(ROUTES_FILE, 0o644, want)]).await?;
            match nodes::run(docker, &n.spec.name, &["magnum-routes"], EXEC_LIMIT).await {
                Ok(_) => tracing::info!(node = %n.spec.name, "routes to the other nodes' pods updated"),
                Err(e) => tracing::warn!(node = %n.spec.name, error = %e.0, "routes not applied now; the node applies them when it starts"),
            }
        }
        Ok(())
    }

    /// `https://publish_address:port` of the master's API server.
    pub(super) async fn api_address(&self, docker: &Docker, master: &Placed) -> Result<String, EngineError> {
        let c = nodes::inspect(docker, &master.spec.name)
            .await?
            .ok_or_else(|| EngineError(format!("master {} does not exist", master.spec.name)))?;
        let published = c.network_settings.as_ref().and_then(|s| nodes::published(s, &self.engine, API_PORT));
        published
            .map(|a| format!("https://{a}"))
            .ok_or_else(|| EngineError(format!("master {} publishes no API port (is it running?)", master.spec.name)))
    }

    /// New nodes get the workload images the other workers already hold (loaded there for
    /// earlier pods), so pods rescheduled onto them find their images.
    async fn seed_new_nodes(&self, docker: &Docker, cluster: &Cluster, fresh: &[String]) -> Result<(), EngineError> {
        let workers = super::objects::running(docker, cluster, "worker").await?;
        let (new, old): (Vec<_>, Vec<_>) = workers.into_iter().partition(|(name, _)| fresh.contains(name));
        let Some((donor, _)) = old.first() else { return Ok(()) };
        let images = super::objects::node_images(docker, donor).await?;
        let wanted: Vec<String> = images.into_iter().filter(|i| i != node::PAUSE_IMAGE).collect();
        if wanted.is_empty() || new.is_empty() {
            return Ok(());
        }
        super::objects::load_images(docker, &new, &wanted, &self.held).await.map_err(kube_failed)
    }
}

/// Whether the node container runs; if not, why (for errors).
async fn stopped(docker: &Docker, name: &str) -> Result<Option<String>, EngineError> {
    let Some(c) = nodes::inspect(docker, name).await? else { return Ok(Some(format!("node {name} was removed"))) };
    let state = c.state.unwrap_or_default();
    if state.running.unwrap_or(false) {
        return Ok(None);
    }
    Ok(Some(format!(
        "node {name} stopped (exit code {}); see `docker logs {name}` and its /var/log/magnum/",
        state.exit_code.unwrap_or_default()
    )))
}

async fn wait_api(docker: &Docker, kube: &KubeClient, master: &Placed, deadline: Instant) -> Result<(), EngineError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if let Ok(true) = kube.ready().await {
            return Ok(());
        }
        if attempt.is_multiple_of(8) {
            if let Some(why) = stopped(docker, &master.spec.name).await? {
                return Err(EngineError(why));
            }
        }
        if Instant::now() > deadline {
            return Err(EngineError(format!(
                "the API server on {} did not become ready in time; see `docker exec {} tail /var/log/magnum/kube-apiserver.log`",
                master.spec.name, master.spec.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn ignore_conflict<T>(r: magnum_types::Result<T>) -> magnum_types::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
        Err(e) => Err(e),
    }
}

const DEFAULT_SA: &str = "/api/v1/namespaces/default/serviceaccounts/default";

/// The default service account with a token secret of ours, so pods are admitted at once.
async fn bootstrap(kube: &KubeClient) -> magnum_types::Result<()> {
    let sa = match kube.fetch(DEFAULT_SA).await? {
        Some(sa) => sa,
        None => {
            let doc = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
            ignore_conflict(kube.post("/api/v1/namespaces/default/serviceaccounts", &doc, "creating the default service account").await)?;
            kube.fetch(DEFAULT_SA).await?.unwrap_or_default()
        }
    };
    let has_secret = sa.get("secrets").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let Some(uid) = sa.pointer("/metadata/uid").and_then(Value::as_str).filter(|_| !has_secret) else { return Ok(()) };
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": DEFAULT_TOKEN_SECRET, "annotations": {
            "kubernetes.io/service-account.name": "default", "kubernetes.io/service-account.uid": uid}}
    });
    ignore_conflict(kube.post("/api/v1/namespaces/default/secrets", &secret, "creating the default token secret").await)?;
    let patch = json!({"secrets": [{"name": DEFAULT_TOKEN_SECRET}]});
    kube.merge_patch(DEFAULT_SA, &patch, "giving the default service account its token").await.map(|_| ())
}

/// Until every wanted node is Ready and the default service account's token is made; Node
/// objects of this bay that the plan no longer wants (a removal interrupted after its
/// container went) are deleted, and nodes get their role labels and their group's labels and
/// taints.
async fn wait_ready(
    docker: &Docker,
    kube: &KubeClient,
    cluster: &Cluster,
    (all, fresh, since): (&[Placed], &[String], magnum_types::time::Timestamp),
    deadline: Instant,
) -> Result<(), EngineError> {
    // Kubelet's heartbeats have whole seconds: one in the second of `since` may be the old one's.
    let since = since.timestamp();
    let prefix = format!("{}-", plan::prefix(cluster));
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let listed = kube.nodes().await.map_err(kube_failed)?;
        let mut not_ready = vec![];
        for n in all {
            let name = n.spec.name.as_str();
            match listed.iter().find(|o| name_of(o) == name) {
                None => not_ready.push(format!("{name} (not registered yet)")),
                Some(o) => {
                    let role_label = format!("node-role.kubernetes.io/{}", n.spec.role.as_str());
                    if o.pointer("/metadata/labels").and_then(|l| l.get(&role_label)).is_none() {
                        let patch = json!({"metadata": {"labels": {role_label: ""}}});
                        kube.merge_patch(&format!("/api/v1/nodes/{name}"), &patch, &format!("labelling {name}"))
                            .await
                            .map_err(kube_failed)?;
                    }
                    if !super::placement::sync(kube, o, &n.spec).await.map_err(kube_failed)? {
                        not_ready.push(format!("{name} (its labels and taints are being set)"));
                    } else if let (false, why) = ready_condition(o) {
                        not_ready.push(format!("{name} ({})", why.unwrap_or_else(|| "no Ready condition yet".into())));
                    } else if fresh.contains(&n.spec.name) && ready_heartbeat(o).is_none_or(|t| t.timestamp() <= since) {
                        not_ready.push(format!("{name} (its kubelet has not reported since the node was made)"));
                    } else if has_taint(o, NOT_READY_TAINT) {
                        lift_not_ready_taint(kube, o).await.map_err(kube_failed)?;
                        not_ready.push(format!("{name} (tainted {NOT_READY_TAINT})"));
                    }
                }
            }
        }
        for stale in listed.iter().map(name_of).filter(|n| n.starts_with(&prefix) && !all.iter().any(|p| p.spec.name == *n)) {
            tracing::info!(node = stale, "deleting the Node object of a removed node");
            kube.remove(&format!("/api/v1/nodes/{stale}"), &format!("deleting node {stale}")).await.map_err(kube_failed)?;
        }
        let token = token_made(kube).await.map_err(kube_failed)?;
        let scheduling = scheduler_running(kube).await.map_err(kube_failed)?;
        if not_ready.is_empty() && token && scheduling {
            return Ok(());
        }
        if attempt.is_multiple_of(8) {
            for n in all {
                if let Some(why) = stopped(docker, &n.spec.name).await? {
                    return Err(EngineError(why));
                }
            }
        }
        if Instant::now() > deadline {
            let mut why = format!("{} of {} nodes are Ready", all.len() - not_ready.len(), all.len());
            if !not_ready.is_empty() {
                why.push_str(&format!("; not Ready: {}", not_ready.join(", ")));
            }
            if !token {
                why.push_str("; the controller-manager has not made the default service account's token");
            }
            if !scheduling {
                why.push_str("; the scheduler does not run (no recent kube-system/kube-scheduler lease)");
            }
            return Err(EngineError(why));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Kubelet registers a node with this taint; the controller-manager lifts it once the node is
/// Ready, but only once all its controllers have started (seconds after the API server, on a
/// busy master). The conductor lifts it from a Ready node itself: pods are schedulable at once,
/// and the controller-manager, when it comes, finds the node as it would have left it.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// Removes the not-ready taint from a Ready node, unless the node changed meanwhile (the
/// patch names the version it read: a conflict leaves it to the next look).
async fn lift_not_ready_taint(kube: &KubeClient, node: &Value) -> magnum_types::Result<()> {
    let taints: Vec<&Value> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("key").and_then(Value::as_str) != Some(NOT_READY_TAINT))
        .collect();
    let patch = json!({"metadata": {"resourceVersion": node.pointer("/metadata/resourceVersion")}, "spec": {"taints": taints}});
    let name = name_of(node);
    match kube.merge_patch(&format!("/api/v1/nodes/{name}"), &patch, &format!("lifting the not-ready taint of {name}")).await {
        Err(e) if e.kind != ErrorKind::Conflict => Err(e),
        _ => Ok(()),
    }
}

/// Whether the scheduler runs: it holds the kube-system/kube-scheduler lease and renewed it in
/// the last 10 s.
async fn scheduler_running(kube: &KubeClient) -> magnum_types::Result<bool> {
    let Some(lease) = kube.fetch("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler").await? else {
        return Ok(false);
    };
    let renewed = lease.pointer("/spec/renewTime").and_then(Value::as_str).and_then(magnum_types::time::from_storage);
    Ok(renewed.is_some_and(|t| (magnum_types::time::now() - t).num_seconds() < 10))
}

/// When the node's kubelet last reported its Ready condition.
fn ready_heartbeat(node: &Value) -> Option<magnum_types::time::Timestamp> {
    let conditions = node.pointer("/status/conditions").and_then(Value::as_array)?;
    let ready = conditions.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?;
    magnum_types::time::from_storage(ready.get("lastHeartbeatTime").and_then(Value::as_str)?)
}

fn has_taint(node: &Value, key: &str) -> bool {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t.get("key").and_then(Value::as_str) == Some(key)))
}

/// Whether the default service account's token secret holds a token (the controller-manager
/// works, and pods get working credentials).
async fn token_made(kube: &KubeClient) -> magnum_types::Result<bool> {
    let Some(sa) = kube.fetch(DEFAULT_SA).await? else { return Ok(false) };
    for s in sa.get("secrets").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = s.get("name").and_then(Value::as_str) else { continue };
        if let Some(secret) = kube.fetch(&format!("/api/v1/namespaces/default/secrets/{name}")).await? {
            if secret.pointer("/data/token").and_then(Value::as_str).is_some_and(|t| !t.is_empty()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
