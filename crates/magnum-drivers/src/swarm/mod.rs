//! The swarm-mode driver: a bay is a Docker Swarm whose nodes are containers on the engine.
//!
//! Each bay gets its own bridge network; each node is a container of the node image running
//! dockerd (with CAP_SYS_ADMIN and CAP_NET_ADMIN, not `--privileged`), its image store on a
//! labelled volume, its Docker API published on 127.0.0.1. Managers `swarm init`/`join`, workers
//! join; the bay is complete when every node is Ready. Every step checks what exists first, so
//! repeating create, update or delete after a crash converges instead of duplicating.

mod access;
mod containers;
mod control_plane;
pub mod external;
mod upgrade;

use crate::docker::network::{self, Subnet};
use crate::docker::nodes::{self, NodeFile};
use crate::docker::plan::{self, NodeRole, NodeSpec};
use crate::docker::{self, err, EngineError};
use crate::{Credentials, Driver, DriverError, Fence, NodeObservation, Observation, Observed};
use access::Access;
use async_trait::async_trait;
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, NodeSpecAvailabilityEnum, PortBinding, SwarmInitRequest, SwarmJoinRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, DeleteNodeOptionsBuilder, UpdateNodeOptionsBuilder};
use bollard::Docker;
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The port each node's dockerd serves its API on: 2376 with TLS, 2375 without (Docker's own
/// conventions).
pub(super) fn api_port(tls: bool) -> &'static str {
    if tls {
        "2376/tcp"
    } else {
        "2375/tcp"
    }
}

/// Where a node keeps its certificates, and the fingerprint of the CA that issued them.
const CERT_DIR: &str = "/certs";
const CA_FINGERPRINT_FILE: &str = "ca.sha256";
/// The conductor's current certificate: the node guard takes only it as the conductor's
/// (magnum-node-guard's default `--pinned`).
const CONDUCTOR_PIN: &str = "/certs/conductor.pem";

pub use crate::docker::nodes::Limits;

pub struct SwarmDriver {
    engine: docker::EngineAccess,
    flavors: HashMap<String, Limits>,
    /// How long to wait for nodes to answer and join before giving up.
    pub node_timeout: Duration,
}

/// What the driver learned about one running node.
#[derive(Debug, Clone)]
struct NodeInfo {
    spec: NodeSpec,
    /// Address on the bay network.
    ip: String,
    /// Its Docker API, published on the host's loopback.
    api: String,
}

impl SwarmDriver {
    pub fn new(engine: docker::EngineAccess, flavors: HashMap<String, Limits>) -> SwarmDriver {
        SwarmDriver { engine, flavors, node_timeout: Duration::from_secs(120) }
    }

    fn engine(&self) -> Result<Docker, EngineError> {
        self.engine.connect(60)
    }

    /// Creates (if missing) and starts (if stopped) one node; returns where it is.
    #[allow(clippy::too_many_arguments)]
    async fn ensure_node(
        &self,
        docker: &Docker,
        cluster: &Cluster,
        template: &ClusterTemplate,
        spec: &NodeSpec,
        (network, subnet): (&str, Subnet),
        access: &Access<'_>,
        fence: &dyn Fence,
    ) -> Result<NodeInfo, EngineError> {
        let tls = access.tls.as_ref().map(|(c, _)| *c);
        let port = api_port(tls.is_some());
        docker::fenced(fence).await?;
        if nodes::inspect(docker, &spec.name).await?.is_none() {
            let volume = format!("{}-docker", spec.name);
            nodes::ensure_volume(docker, cluster, &spec.name, &volume).await?;
            let limits = nodes::flavor_limits(&self.flavors, cluster, spec);
            let host = HostConfig {
                cap_add: Some(vec!["SYS_ADMIN".into(), "NET_ADMIN".into()]),
                // Docker's default seccomp profile forbids keyctl and pivot_root, which the
                // node's own container runtime needs.
                security_opt: Some(vec!["seccomp=unconfined".into()]),
                // Its own cgroup tree: a cgroup filesystem mounted in the node shows no
                // hierarchy root of the host's (and so no release_agent).
                cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
                restart_policy: Some(nodes::restart_policy()),
                network_mode: Some(network.to_owned()),
                binds: Some(vec![format!("{volume}:/var/lib/docker")]),
                port_bindings: Some(HashMap::from([(
                    port.to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some(self.engine.publish_address.clone()),
                        host_port: Some(match nodes::kept_api_port(cluster, spec) {
                            Some(port) => port.to_string(),
                            None => nodes::free_port(&self.engine)?.to_string(),
                        }),
                    }]),
                )])),
                memory: limits.map(|l| (l.ram_mb * 1024 * 1024) as i64),
                nano_cpus: limits.map(|l| (l.vcpus * 1e9) as i64),
                ..Default::default()
            };
            // A fixed address, so the swarm (whose members advertise theirs) survives a restart
            // of the engine, which hands dynamic addresses out again in whatever order.
            let ip = network::address(subnet, spec).map_err(EngineError)?;
            let body = ContainerCreateBody {
                networking_config: Some(network::attach(network, ip)),
                image: Some(spec.image.clone().unwrap_or_else(|| template.image_id.clone())),
                hostname: Some(spec.name.clone()),
                labels: Some(nodes::node_container_labels(cluster, spec)),
                env: Some(vec!["DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1".into()]),
                cmd: Some(dockerd_args(tls.is_some())),
                exposed_ports: Some(vec![port.to_owned()]),
                host_config: Some(host),
                ..Default::default()
            };
            docker
                .create_container(Some(CreateContainerOptionsBuilder::new().name(&spec.name).build()), body)
                .await
                .map_err(|e| err(&format!("creating node {}", spec.name), e))?;
            if let Some(creds) = tls {
                self.install_certificates(docker, &spec.name, creds).await?;
            }
        } else if let Some(creds) = tls {
            // A rotated CA: the node gets certificates from the new one and restarts dockerd.
            if self.ca_fingerprint(docker, &spec.name).await.as_deref() != Some(magnum_certs::fingerprint(&creds.ca.cert_pem).as_str()) {
                tracing::info!(node = %spec.name, "issuing certificates from the bay's current CA");
                self.install_certificates(docker, &spec.name, creds).await?;
                docker
                    .restart_container(&spec.name, None::<bollard::query_parameters::RestartContainerOptions>)
                    .await
                    .map_err(|e| err(&format!("restarting node {}", spec.name), e))?;
            } else if nodes::read_file(docker, &spec.name, CONDUCTOR_PIN).await.as_deref() != Some(creds.client.cert_pem.as_str()) {
                // Rotated credentials: from now on the node's guard takes only the new
                // certificate as the conductor's (written before any call to the node).
                tracing::info!(node = %spec.name, "pinning the conductor's current certificate");
                nodes::upload(docker, &spec.name, &[NodeFile::new(CONDUCTOR_PIN, 0o644, creds.client.cert_pem.as_bytes())]).await?;
            }
        }
        nodes::start(docker, &spec.name).await?;
        self.node_info(docker, spec.clone(), network, port).await
    }

    /// Loads the offline workload image into every node that lacks it, so a new bay runs
    /// workloads with no registry (nodes never pull: DOCKER_SERVICE_PREFER_OFFLINE_IMAGE).
    /// Skipped when the engine has no such image (it was never built).
    async fn seed_workload_image(&self, engine: &Docker, nodes: &[NodeInfo], access: &Access<'_>) -> Result<(), EngineError> {
        use crate::docker::images::WORKLOAD_IMAGE;
        if engine.inspect_image(WORKLOAD_IMAGE).await.is_err() {
            return Ok(());
        }
        let archive = docker::images::export(engine, WORKLOAD_IMAGE).await?;
        // All nodes load at once: each load takes a few hundred milliseconds of its own dockerd.
        let loads = nodes.iter().map(|node| {
            let archive = archive.clone();
            async move {
                let api = access.connect(&node.api)?;
                if api.inspect_image(WORKLOAD_IMAGE).await.is_ok() {
                    return Ok(());
                }
                docker::images::load(&api, archive, &format!("{WORKLOAD_IMAGE} into {}", node.spec.name)).await
            }
        });
        futures_util::future::join_all(loads).await.into_iter().collect()
    }

    /// Where the node's Docker API (container port `port_name`) is published.
    fn published_api(&self, settings: &bollard::models::NetworkSettings, port_name: &str) -> Option<String> {
        nodes::published(settings, &self.engine, port_name).map(|a| format!("tcp://{a}"))
    }

    /// Puts a server certificate for the node, signed by the bay's CA, under /certs.
    async fn install_certificates(&self, docker: &Docker, node: &str, creds: &Credentials) -> Result<(), EngineError> {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned(), node.to_owned()];
        let server = magnum_certs::issue(&creds.ca, node, magnum_certs::Purpose::Server { names }).map_err(|e| EngineError(e.message))?;
        let fingerprint = magnum_certs::fingerprint(&creds.ca.cert_pem);
        let files = [
            NodeFile::new(format!("{CERT_DIR}/ca.pem"), 0o644, creds.ca.cert_pem.as_bytes()),
            NodeFile::new(format!("{CERT_DIR}/cert.pem"), 0o644, server.cert_pem.as_bytes()),
            NodeFile::new(format!("{CERT_DIR}/key.pem"), 0o600, server.key_pem.as_bytes()),
            NodeFile::new(format!("{CERT_DIR}/{CA_FINGERPRINT_FILE}"), 0o644, fingerprint.as_bytes()),
            NodeFile::new(CONDUCTOR_PIN, 0o644, creds.client.cert_pem.as_bytes()),
        ];
        nodes::upload(docker, node, &files).await
    }

    /// The fingerprint of the CA whose certificates the node holds (None if it holds none).
    async fn ca_fingerprint(&self, docker: &Docker, node: &str) -> Option<String> {
        nodes::read_file(docker, node, &format!("{CERT_DIR}/{CA_FINGERPRINT_FILE}")).await.map(|s| s.trim().to_owned())
    }

    async fn node_info(&self, docker: &Docker, spec: NodeSpec, network: &str, port_name: &str) -> Result<NodeInfo, EngineError> {
        let c = docker
            .inspect_container(&spec.name, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(|e| err(&format!("inspecting node {}", spec.name), e))?;
        let settings = c.network_settings.unwrap_or_default();
        match (nodes::bay_address(&settings, network), self.published_api(&settings, port_name)) {
            (Some(ip), Some(api)) => Ok(NodeInfo { spec, ip, api }),
            _ => Err(EngineError(format!("node {} has no address yet (is it running?)", spec.name))),
        }
    }

    /// Waits until the node's dockerd answers on its published port; fails at once if the
    /// node's container stops meanwhile (a broken node image, say).
    async fn node_api(&self, node: &NodeInfo, access: &Access<'_>, deadline: Instant) -> Result<Docker, EngineError> {
        let d = access.connect(&node.api)?;
        let engine = self.engine()?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if docker::reachable(&d).await {
                return Ok(d);
            }
            if attempt.is_multiple_of(10) {
                let c = engine
                    .inspect_container(&node.spec.name, None::<bollard::query_parameters::InspectContainerOptions>)
                    .await
                    .map_err(|e| err("inspecting a node", e))?;
                let state = c.state.unwrap_or_default();
                if !state.running.unwrap_or(false) {
                    return Err(EngineError(format!(
                        "node {} stopped before its Docker API answered (exit code {}{}); see its log with `docker logs {}`",
                        node.spec.name,
                        state.exit_code.unwrap_or_default(),
                        state.error.filter(|e| !e.is_empty()).map(|e| format!(": {e}")).unwrap_or_default(),
                        node.spec.name
                    )));
                }
            }
            if Instant::now() > deadline {
                return Err(EngineError(format!("node {}: dockerd did not answer on {} in time", node.spec.name, node.api)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `swarm init` on the first manager (once), `swarm join` for every other node not yet in.
    async fn form_swarm(&self, nodes: &[NodeInfo], access: &Access<'_>, deadline: Instant) -> Result<Docker, EngineError> {
        let first = nodes.first().ok_or_else(|| EngineError("a bay needs at least one manager".into()))?;
        let leader = self.node_api(first, access, deadline).await?;
        if !in_swarm(&leader).await? {
            leader
                .init_swarm(SwarmInitRequest {
                    listen_addr: Some("0.0.0.0:2377".into()),
                    advertise_addr: Some(first.ip.clone()),
                    ..Default::default()
                })
                .await
                .map_err(|e| err(&format!("swarm init on {}", first.spec.name), e))?;
        }
        let tokens = leader.inspect_swarm().await.map_err(|e| err("reading the swarm's join tokens", e))?.join_tokens.unwrap_or_default();
        for node in &nodes[1..] {
            let api = self.node_api(node, access, deadline).await?;
            if in_swarm(&api).await? {
                continue;
            }
            let token = match node.spec.role {
                NodeRole::Manager => tokens.manager.clone(),
                NodeRole::Worker => tokens.worker.clone(),
            };
            api.join_swarm(SwarmJoinRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: Some(node.ip.clone()),
                remote_addrs: Some(vec![format!("{}:2377", first.ip)]),
                join_token: token,
                ..Default::default()
            })
            .await
            .map_err(|e| err(&format!("swarm join of {}", node.spec.name), e))?;
            forget_former_selves(&leader, &api, &node.spec.name).await;
        }
        Ok(leader)
    }

    /// Waits until every wanted node is Ready, forgetting swarm members that are not wanted or
    /// were replaced by a newer node of the same name (a rebuilt node).
    async fn wait_ready(&self, leader: &Docker, nodes: &[NodeInfo], deadline: Instant) -> Result<(), EngineError> {
        let wanted: Vec<&str> = nodes.iter().map(|n| n.spec.name.as_str()).collect();
        loop {
            let listed = leader.list_nodes(None).await.map_err(|e| err("listing swarm nodes", e))?;
            let host = |n: &bollard::models::Node| n.description.as_ref().and_then(|d| d.hostname.clone()).unwrap_or_default();
            let ready = |n: &bollard::models::Node| n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY);
            let ready_hosts: Vec<String> = listed.iter().filter(|n| ready(n)).map(host).collect();
            // Members the plan does not want are forgotten whatever the swarm reports (it can
            // call a node whose container is gone Ready until its heartbeat times out); a down
            // member whose name a Ready node now carries is a rebuilt node's old self.
            let unwanted = |n: &bollard::models::Node| !wanted.contains(&host(n).as_str());
            let replaced = |n: &bollard::models::Node| !ready(n) && ready_hosts.contains(&host(n));
            for stale in listed.iter().filter(|n| unwanted(n) || replaced(n)) {
                if let Some(id) = &stale.id {
                    tracing::info!(node = %host(stale), "forgetting a swarm member that is down and replaced or unwanted");
                    if let Err(e) = leader.delete_node(id, Some(DeleteNodeOptionsBuilder::new().force(true).build())).await {
                        tracing::warn!(node = %host(stale), error = %e, "could not forget a stale swarm member");
                    }
                }
            }
            let missing: Vec<&str> = wanted.iter().copied().filter(|w| !ready_hosts.iter().any(|h| h == w)).collect();
            if missing.is_empty() {
                return label_groups(leader, &listed, nodes).await;
            }
            if Instant::now() > deadline {
                return Err(EngineError(format!(
                    "{} of {} nodes are Ready in the swarm; not Ready: {}",
                    wanted.len() - missing.len(),
                    wanted.len(),
                    missing.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Brings the bay to its desired nodes: creates what is missing, retires surplus managers
    /// (demoted first, see [`control_plane`]), removes surplus workers (drained and out of the
    /// swarm first), and waits until every node is Ready. The nodes
    /// named in `replace` are made way for first (see [`nodes::make_way`]).
    #[allow(clippy::too_many_arguments)]
    async fn converge(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        replace: &[String],
    ) -> Result<Observed, EngineError> {
        let access = Access::for_bay(template, credentials)?;
        let docker = self.engine()?;
        nodes::require_image(&docker, &template.image_id, "magnum-server node-image build").await?;
        let deadline = Instant::now() + self.node_timeout;
        docker::fenced(fence).await?;
        let (network, subnet) = network::ensure(&docker, cluster).await?;
        let plan = plan::plan(cluster, groups, &nodes::members(&docker, cluster).await?);
        for spec in plan.nodes.iter().filter(|n| replace.contains(&n.name)) {
            docker::fenced(fence).await?;
            tracing::info!(bay = %cluster.uuid, node = %spec.name, "replacing a failed node");
            nodes::make_way(&docker, spec).await?;
        }
        let mut nodes = Vec::with_capacity(plan.nodes.len());
        for spec in &plan.nodes {
            nodes.push(self.ensure_node(&docker, cluster, template, spec, (&network, subnet), &access, fence).await?);
        }
        docker::fenced(fence).await?;
        let leader = self.form_swarm(&nodes, &access, deadline).await?;
        self.seed_workload_image(&docker, &nodes, &access).await?;
        for name in &plan.retire {
            docker::fenced(fence).await?;
            self.retire_manager(&docker, &leader, cluster, name).await?;
        }
        for name in &plan.remove {
            docker::fenced(fence).await?;
            self.remove_worker(&docker, &leader, cluster, name).await?;
        }
        nodes::remove_orphan_volumes(&docker, cluster, &plan.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>()).await?;
        self.wait_ready(&leader, &nodes, deadline).await?;
        let version = leader.version().await.ok().and_then(|v| v.version);
        let addrs = |role: NodeRole| nodes.iter().filter(|n| n.spec.role == role).map(|n| n.ip.clone()).collect::<Vec<_>>();
        Ok(Observed {
            api_address: Some(nodes[0].api.clone()),
            node_addresses: addrs(NodeRole::Worker),
            master_addresses: addrs(NodeRole::Manager),
            coe_version: version.clone(),
            container_version: version,
        })
    }

    /// Drains the worker, takes it out of the swarm, then removes its container and volume.
    async fn remove_worker(&self, docker: &Docker, leader: &Docker, cluster: &Cluster, name: &str) -> Result<(), EngineError> {
        tracing::info!(bay = %cluster.uuid, node = %name, "removing worker");
        self.drain_and_forget(leader, name).await;
        nodes::remove(docker, name).await
    }

    /// Best effort: a node that is already gone from the swarm is fine.
    async fn drain_and_forget(&self, leader: &Docker, hostname: &str) {
        let Ok(nodes) = leader.list_nodes(None).await else { return };
        for n in nodes.into_iter().filter(|n| n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(hostname)) {
            let (Some(id), Some(version), Some(mut spec)) = (n.id, n.version.and_then(|v| v.index), n.spec) else { continue };
            spec.availability = Some(NodeSpecAvailabilityEnum::DRAIN);
            if let Err(e) = leader.update_node(&id, spec, UpdateNodeOptionsBuilder::new().version(version as i64).build()).await {
                tracing::warn!(node = hostname, error = %e, "drain failed; removing anyway");
            }
            if let Err(e) = leader.delete_node(&id, Some(DeleteNodeOptionsBuilder::new().force(true).build())).await {
                tracing::warn!(node = hostname, error = %e, "could not remove the node from the swarm");
            }
        }
    }
}

impl SwarmDriver {
    /// Each node container's state, joined with what the swarm's managers say of it.
    async fn look(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
    ) -> Result<Observation, EngineError> {
        let access = Access::for_bay(template, credentials)?;
        let docker = self.engine()?;
        let mut nodes = Vec::new();
        let mut reasons = std::collections::BTreeMap::new();
        let mut manager_api = None;
        for (node, settings) in nodes::survey(&docker, cluster).await? {
            if node.status == "Running" && node.role == "master" && manager_api.is_none() {
                manager_api = self.published_api(&settings, api_port(access.tls.is_some()));
            }
            nodes.push(node);
        }
        // What the swarm itself says of its members.
        let mut in_swarm: HashMap<String, (String, Option<String>)> = HashMap::new();
        match manager_api {
            Some(api) => match access.connect(&api) {
                Ok(d) => match d.list_nodes(None).await {
                    Ok(list) => {
                        for n in list {
                            let host = n.description.and_then(|d| d.hostname).unwrap_or_default();
                            let status = n.status.unwrap_or_default();
                            let state = status.state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
                            in_swarm.insert(host, (state, status.message.filter(|m| !m.is_empty())));
                        }
                    }
                    Err(e) => {
                        reasons.insert("bay".into(), format!("the swarm manager does not answer: {e}"));
                    }
                },
                Err(e) => {
                    reasons.insert("bay".into(), e.0);
                }
            },
            None => {
                reasons.insert("bay".into(), "no manager node is running".into());
            }
        }
        for node in &mut nodes {
            if node.status != "Running" {
                continue;
            }
            match in_swarm.get(&node.name) {
                Some((state, _)) if state == "ready" => node.status = "Ready".into(),
                Some((state, msg)) => {
                    node.status = capitalize(state);
                    node.reason =
                        Some(format!("the swarm reports it {state}{}", msg.as_ref().map(|m| format!(": {m}")).unwrap_or_default()));
                }
                None if !in_swarm.is_empty() => {
                    node.status = "NotJoined".into();
                    node.reason = Some("its container runs but it is not a member of the swarm".into());
                }
                None => {}
            }
        }
        // Swarm members whose container is gone: removed behind the conductor's back.
        for (host, (state, _)) in &in_swarm {
            if !nodes.iter().any(|n| &n.name == host) {
                nodes.push(NodeObservation {
                    name: host.clone(),
                    role: if host.contains("-master-") { "master".into() } else { "worker".into() },
                    address: None,
                    status: "Missing".into(),
                    reason: Some(format!("its container was removed outside magnum (the swarm reports it {state})")),
                    image: None,
                    nodegroup: None,
                });
            }
        }
        Ok(Observation::of_bay(cluster, groups, nodes, reasons))
    }
}

/// A node that just joined under a name the swarm already lists: the other members of that
/// name are its former selves (a replaced node), forgotten at once rather than when their
/// heartbeats time out (until then the swarm would call both Ready). Best effort.
async fn forget_former_selves(leader: &Docker, joined: &Docker, hostname: &str) {
    let Some(me) = joined.info().await.ok().and_then(|i| i.swarm).and_then(|s| s.node_id) else { return };
    let Ok(listed) = leader.list_nodes(None).await else { return };
    for n in listed {
        let host = n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(hostname);
        if let (true, Some(id)) = (host, n.id) {
            if id != me {
                tracing::info!(node = hostname, "forgetting the former self of a replaced node");
                if let Err(e) = leader.delete_node(&id, Some(DeleteNodeOptionsBuilder::new().force(true).build())).await {
                    tracing::warn!(node = hostname, error = %e, "could not forget a former self");
                }
            }
        }
    }
}

/// The swarm label that names a node's nodegroup: placement constraints can use it
/// (`--constraint node.labels.magnum.nodegroup==gpu`).
pub const SWARM_GROUP_LABEL: &str = "magnum.nodegroup";

/// Gives every Ready node exactly the label of its nodegroup and the group's `node_labels`: a
/// label the group no longer has goes (a node's labels are magnum's alone: tenants cannot
/// change nodes), and a node that has its labels is left alone.
async fn label_groups(leader: &Docker, listed: &[bollard::models::Node], nodes: &[NodeInfo]) -> Result<(), EngineError> {
    for n in listed {
        let host = n.description.as_ref().and_then(|d| d.hostname.clone()).unwrap_or_default();
        let Some(info) = nodes.iter().find(|i| i.spec.name == host) else { continue };
        let (Some(id), Some(version), Some(mut spec)) = (n.id.clone(), n.version.as_ref().and_then(|v| v.index), n.spec.clone()) else {
            continue;
        };
        let mut wanted: HashMap<String, String> = info.spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        wanted.insert(SWARM_GROUP_LABEL.to_owned(), info.spec.group.clone());
        if spec.labels.as_ref() == Some(&wanted) {
            continue;
        }
        spec.labels = Some(wanted);
        leader
            .update_node(&id, spec, UpdateNodeOptionsBuilder::new().version(version as i64).build())
            .await
            .map_err(|e| err(&format!("labelling swarm node {host} with its nodegroup"), e))?;
    }
    Ok(())
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// The node image's entrypoint runs dockerd with these (after its own unix socket).
fn dockerd_args(tls: bool) -> Vec<String> {
    if tls {
        ["--host=tcp://0.0.0.0:2376", "--tlsverify", "--tlscacert=/certs/ca.pem", "--tlscert=/certs/cert.pem", "--tlskey=/certs/key.pem"]
            .map(String::from)
            .to_vec()
    } else {
        // Without --tls=false, dockerd pauses 15 s before serving plain TCP, to discourage it.
        vec!["--host=tcp://0.0.0.0:2375".into(), "--tls=false".into()]
    }
}

async fn in_swarm(d: &Docker) -> Result<bool, EngineError> {
    let info = d.info().await.map_err(|e| err("reading node info", e))?;
    Ok(info.swarm.and_then(|s| s.local_node_state) == Some(bollard::models::LocalNodeState::ACTIVE))
}

#[async_trait]
impl Driver for SwarmDriver {
    fn name(&self) -> &'static str {
        "docker-swarm"
    }

    async fn create(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        self.converge(cluster, template, groups, credentials, fence, &[]).await.map_err(|e| DriverError(e.0))
    }

    async fn update(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        self.converge(cluster, template, groups, credentials, fence, &[]).await.map_err(|e| DriverError(e.0))
    }

    async fn heal(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        nodes: &[String],
    ) -> Result<Observed, DriverError> {
        self.converge(cluster, template, groups, credentials, fence, nodes).await.map_err(|e| DriverError(e.0))
    }

    async fn upgrade(
        &self,
        cluster: &Cluster,
        to: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        max_batch: usize,
    ) -> Result<Observed, DriverError> {
        self.upgrade_in_place(cluster, to, groups, credentials, fence, max_batch).await.map_err(|e| DriverError(e.0))
    }

    async fn provider_answers(&self) -> bool {
        match self.engine() {
            Ok(d) => docker::reachable(&d).await,
            Err(_) => false,
        }
    }

    async fn images(&self) -> Result<Vec<String>, DriverError> {
        let docker = self.engine().map_err(|e| DriverError(e.0))?;
        docker::images::names(&docker).await.map_err(|e| DriverError(e.0))
    }

    async fn observe(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
    ) -> Result<Observation, DriverError> {
        self.look(cluster, template, groups, credentials).await.map_err(|e| DriverError(e.0))
    }

    async fn delete(&self, cluster: &Cluster, fence: &dyn Fence) -> Result<(), DriverError> {
        let docker = self.engine().map_err(|e| DriverError(e.0))?;
        fence.check().await?;
        docker::remove_owned(&docker, &cluster.uuid.to_string()).await.map_err(|e| DriverError(e.0))
    }

    fn containers(&self) -> Option<&dyn crate::containers::ContainerDriver> {
        Some(self)
    }
}
