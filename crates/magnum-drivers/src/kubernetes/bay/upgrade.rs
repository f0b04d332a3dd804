//! A Kubernetes bay moved to another template in place. Each node whose container runs another
//! image than its template (or group) names is made again from it, keeping its name, address and
//! volumes: its certificates (the master's service-account key among them, so every token stays
//! valid), the master's etcd data and published API port, and each node's image store. Nodes go
//! at most `max_batch` at a time, within one nodegroup, the master first. Each batch is cordoned and
//! its controlled pods are moved (deleted, then run elsewhere by their controllers) before it
//! goes; pods no controller owns stay bound to their node and run again when it is back. A node
//! is schedulable again once the converge that makes it has found it Ready. A retry after a
//! failure finds the replaced nodes up to date and carries on with the rest.

use super::converge::kube_failed;
use super::{client, drain, need_credentials, KubernetesDriver};
use crate::docker::plan;
use crate::docker::{self, fenced, nodes, EngineError};
use crate::{Credentials, Fence, Observed};
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use std::time::Instant;

impl KubernetesDriver {
    pub(super) async fn upgrade_in_place(
        &self,
        cluster: &Cluster,
        to: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        max_batch: usize,
    ) -> Result<Observed, EngineError> {
        let creds = need_credentials(cluster, credentials).map_err(kube_failed)?;
        let docker = self.docker()?;
        nodes::require_image(&docker, &to.image_id, super::BUILD_HINT).await?;
        // The bay whole and answering first (a node missing is made from the new template).
        let mut observed = self.converge(cluster, to, groups, credentials, fence, &[]).await?;
        let api_address = observed.api_address.clone().ok_or_else(|| EngineError("the bay has no API address".into()))?;
        let kube = client(&api_address, creds).map_err(kube_failed)?;
        let plan = plan::plan(cluster, groups, &nodes::members(&docker, cluster).await?);
        let stale = nodes::outdated(&docker, &plan.nodes, &to.image_id).await?;
        let batches = plan::batches(&stale, max_batch);
        tracing::info!(bay = %cluster.uuid, nodes = stale.len(), batches = batches.len(), template = %to.uuid, "upgrading in place");
        // A retry finds the nodes an interrupted upgrade cordoned: schedulable again.
        drain::uncordon_upgraded(&kube).await?;
        for batch in &batches {
            let names: Vec<&str> = batch.iter().map(|s| s.name.as_str()).collect();
            fenced(fence).await?;
            for name in &names {
                drain::cordon_for_upgrade(&kube, name).await?;
            }
            drain::move_pods(&kube, &names).await?;
            fenced(fence).await?;
            for name in &names {
                tracing::info!(bay = %cluster.uuid, node = %name, "replacing the node's container from the new template");
                docker::remove_container(&docker, name).await?;
            }
            let started = Instant::now();
            observed = self.converge(cluster, to, groups, credentials, fence, &[]).await?;
            drain::uncordon_upgraded(&kube).await?;
            tracing::info!(bay = %cluster.uuid, nodes = ?names, seconds = started.elapsed().as_secs_f64(), "batch upgraded");
        }
        Ok(observed)
    }
}
