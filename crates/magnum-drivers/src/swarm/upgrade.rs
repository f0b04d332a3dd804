//! A swarm bay moved to another template in place. Each node whose container runs another
//! image than its template (or group) names is made again from it, keeping its name, address
//! and volume: the node's dockerd comes back with its swarm identity and its containers, so the
//! swarm never loses a member. Nodes go at most `max_batch` at a time, within one nodegroup,
//! managers first; each is
//! drained before it goes, and goes once the swarm runs its tasks elsewhere (managers run tasks
//! too), then is made active again once it is Ready. A retry after a failure finds the replaced nodes up to date
//! and carries on with the rest.

use super::access::Access;
use super::api_port;
use super::{NodeInfo, SwarmDriver};
use crate::docker::nodes;
use crate::docker::plan::{self, NodeRole, NodeSpec};
use crate::docker::{self, err, EngineError};
use crate::{Credentials, Fence, Observed};
use bollard::models::{NodeSpecAvailabilityEnum, TaskState};
use bollard::query_parameters::{ListTasksOptionsBuilder, UpdateNodeOptionsBuilder};
use bollard::Docker;
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a drained worker's tasks get to move before the worker goes anyway.
const DRAIN_WAIT: Duration = Duration::from_secs(20);

impl SwarmDriver {
    pub(super) async fn upgrade_in_place(
        &self,
        cluster: &Cluster,
        to: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        max_batch: usize,
    ) -> Result<Observed, EngineError> {
        let docker = self.engine()?;
        nodes::require_image(&docker, &to.image_id, "magnum-server node-image build").await?;
        let plan = plan::plan(cluster, groups, &nodes::members(&docker, cluster).await?);
        let stale = nodes::outdated(&docker, &plan.nodes, &to.image_id).await?;
        tracing::info!(bay = %cluster.uuid, nodes = stale.len(), batch = max_batch, template = %to.uuid, "upgrading in place");
        for batch in &plan::batches(&stale, max_batch) {
            docker::fenced(fence).await?;
            // Every node of the batch (a manager runs tasks too) is drained first, and its tasks
            // run elsewhere before it goes.
            let names: Vec<&str> = batch.iter().map(|s| s.name.as_str()).collect();
            let leader = self.leader(&docker, cluster, to, credentials).await?;
            for n in &names {
                set_availability(&leader, n, NodeSpecAvailabilityEnum::DRAIN).await?;
            }
            wait_moved(&leader, &names).await;
            for spec in batch {
                tracing::info!(bay = %cluster.uuid, node = %spec.name, "replacing the node's container from the new template");
                docker::remove_container(&docker, &spec.name).await?;
            }
            let started = Instant::now();
            self.converge(cluster, to, groups, credentials, fence, &[]).await?;
            tracing::info!(bay = %cluster.uuid, nodes = ?names, seconds = started.elapsed().as_secs_f64(), "batch upgraded");
            let leader = self.leader(&docker, cluster, to, credentials).await?;
            for n in &names {
                set_availability(&leader, n, NodeSpecAvailabilityEnum::ACTIVE).await?;
            }
        }
        self.converge(cluster, to, groups, credentials, fence, &[]).await
    }

    /// The first manager's Docker API (where the swarm is managed).
    async fn leader(
        &self,
        docker: &Docker,
        cluster: &Cluster,
        template: &ClusterTemplate,
        credentials: Option<&Credentials>,
    ) -> Result<Docker, EngineError> {
        let access = Access::for_bay(template, credentials)?;
        let spec = NodeSpec::new(plan::node_name(cluster, NodeRole::Manager, 0), NodeRole::Manager);
        let info: NodeInfo = self.node_info(docker, spec, &plan::network_name(cluster), api_port(access.tls.is_some())).await?;
        self.node_api(&info, &access, Instant::now() + self.node_timeout).await
    }
}

/// Sets the availability of the swarm member named `hostname` (every member of that name).
async fn set_availability(leader: &Docker, hostname: &str, to: NodeSpecAvailabilityEnum) -> Result<(), EngineError> {
    let listed = leader.list_nodes(None).await.map_err(|e| err("listing swarm nodes", e))?;
    for n in listed.into_iter().filter(|n| n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(hostname)) {
        let (Some(id), Some(version), Some(mut spec)) = (n.id, n.version.and_then(|v| v.index), n.spec) else { continue };
        if spec.availability == Some(to) {
            continue;
        }
        spec.availability = Some(to);
        leader
            .update_node(&id, spec, UpdateNodeOptionsBuilder::new().version(version as i64).build())
            .await
            .map_err(|e| err(&format!("setting swarm node {hostname} {to}"), e))?;
    }
    Ok(())
}

/// Waits (at most [`DRAIN_WAIT`]) until the swarm has moved the drained nodes' work: no task
/// meant to run is on them, and every task meant to run runs. (With no room elsewhere, the
/// tasks stay down until the nodes are back; the wait then ends at its limit.)
async fn wait_moved(leader: &Docker, hostnames: &[&str]) {
    let deadline = Instant::now() + DRAIN_WAIT;
    let Ok(listed) = leader.list_nodes(None).await else { return };
    let drained: Vec<String> = listed
        .into_iter()
        .filter(|n| n.description.as_ref().and_then(|d| d.hostname.as_deref()).is_some_and(|h| hostnames.contains(&h)))
        .filter_map(|n| n.id)
        .collect();
    let filters = HashMap::from([("desired-state".to_owned(), vec!["running".to_owned()])]);
    while Instant::now() < deadline {
        match leader.list_tasks(Some(ListTasksOptionsBuilder::new().filters(&filters).build())).await {
            Ok(tasks) => {
                let on_drained = tasks.iter().any(|t| t.node_id.as_ref().is_some_and(|id| drained.contains(id)));
                let running = |t: &bollard::models::Task| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING);
                if !on_drained && tasks.iter().all(running) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the swarm's tasks; going on");
                return;
            }
        }
    }
    tracing::warn!(nodes = ?hostnames, "the drained nodes' tasks did not all run elsewhere within {} s; going on", DRAIN_WAIT.as_secs());
}
