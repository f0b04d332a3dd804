//! The swarm's managers, grown and shrunk in place (a resize of the `default-master` group).
//!
//! Growing needs nothing of its own: a new manager container joins with the manager token like
//! any other node. Shrinking must keep the raft quorum: a manager that simply vanished would
//! stay a voting member, and two of three gone would leave the swarm unable to decide anything.
//! So each surplus manager is first demoted (the swarm takes it out of raft while every other
//! manager still runs), one at a time, and only then drained, forgotten and removed.

use super::SwarmDriver;
use crate::docker::nodes;
use crate::docker::{err, EngineError};
use bollard::models::NodeSpecRoleEnum;
use bollard::query_parameters::UpdateNodeOptionsBuilder;
use bollard::Docker;
use magnum_types::cluster::Cluster;
use std::time::{Duration, Instant};

/// How long the swarm gets to take a demoted manager out of raft.
const DEMOTE_WAIT: Duration = Duration::from_secs(60);

impl SwarmDriver {
    /// Demotes the manager `name`, waits until raft no longer counts it, then drains it, takes
    /// it out of the swarm and removes its container and volume. Repeatable: a manager already
    /// demoted or already gone from the swarm goes straight to removal.
    pub(super) async fn retire_manager(&self, docker: &Docker, leader: &Docker, cluster: &Cluster, name: &str) -> Result<(), EngineError> {
        tracing::info!(bay = %cluster.uuid, node = %name, "retiring a manager: demoting it out of raft first");
        let deadline = Instant::now() + DEMOTE_WAIT;
        loop {
            let Some(member) = swarm_member(leader, name).await? else { break };
            if member.manager_status.is_none() {
                break;
            }
            let (Some(id), Some(version), Some(mut spec)) = (member.id, member.version.and_then(|v| v.index), member.spec) else {
                break;
            };
            if spec.role != Some(NodeSpecRoleEnum::WORKER) {
                spec.role = Some(NodeSpecRoleEnum::WORKER);
                if let Err(e) = leader.update_node(&id, spec, UpdateNodeOptionsBuilder::new().version(version as i64).build()).await {
                    // A version that moved on (the swarm updated the node meanwhile) is read again.
                    tracing::debug!(node = %name, error = %e, "demotion not taken yet; retrying");
                }
            }
            if Instant::now() > deadline {
                return Err(EngineError(format!(
                    "manager {name} was not taken out of the swarm's raft within {} s; the bay keeps it (a retry of the \
                     resize demotes it again)",
                    DEMOTE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.drain_and_forget(leader, name).await;
        nodes::remove(docker, name).await
    }
}

/// The swarm's member whose host name is `hostname`, if it lists one.
async fn swarm_member(leader: &Docker, hostname: &str) -> Result<Option<bollard::models::Node>, EngineError> {
    let listed = leader.list_nodes(None).await.map_err(|e| err("listing swarm nodes", e))?;
    Ok(listed.into_iter().find(|n| n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(hostname)))
}
