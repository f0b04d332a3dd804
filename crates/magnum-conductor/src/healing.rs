//! Auto-healing: a bay labelled `auto_healing_enabled=true` gets its failed nodes replaced by
//! the conductor that observes it. A node counts as failed when two looks in a row find it
//! unhealthy (its container stopped or gone, its agent not answering the swarm or the API
//! server): one bad look may be a node still starting. The driver makes way for the node and
//! converges (a worker comes back fresh under the same name, group and address; a master is
//! restarted with its state), and the bay's `health_status_reason` keeps what was healed and
//! when under `healed`. Without the label, failed nodes are only reported, except when every
//! node of the bay is stopped: then the bay is started again, whatever its labels.

use crate::health::Seen;
use crate::leases::Held;
use crate::Conductor;
use magnum_drivers::{Credentials, Driver};
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;

pub(crate) const LABEL: &str = "auto_healing_enabled";
/// The key of `health_status_reason` that tells what was healed and when.
pub(crate) const HEALED: &str = "healed";
/// The key under which a failed attempt is reported.
pub(crate) const HEALING: &str = "healing";

fn wanted(c: &Cluster) -> bool {
    c.labels.get(LABEL).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What an attempt came to: the note for `health_status_reason`.
pub(crate) enum Healing {
    Done(String),
    Failed(String),
}

impl Conductor {
    /// Starts a bay none of whose node containers runs, found so at two looks in a row (every
    /// node stopped behind magnum's back: a reboot that did not bring them back, or all stopped
    /// by hand), whether or not it asks for healing: nothing of it runs, so starting it loses
    /// nothing, and its nodes come back with their state (their containers are started, not
    /// replaced). None when that is not the case.
    pub(crate) async fn start_if_all_stopped(
        &self,
        held: &Held,
        driver: &dyn Driver,
        (cluster, template, groups): (&Cluster, &ClusterTemplate, &[NodeGroup]),
        credentials: Option<&Credentials>,
        seen: &Seen,
    ) -> Option<Healing> {
        let nodes = seen.nodes.as_ref()?;
        let all_stopped =
            !nodes.is_empty() && nodes.iter().all(|n| n.status == "Stopped" && cluster.health_status_reason.contains_key(&n.name));
        if !all_stopped || !cluster.status.is_complete() {
            return None;
        }
        tracing::warn!(cluster = %cluster.uuid, nodes = nodes.len(), "every node container is stopped: starting the bay again");
        let when = magnum_types::time::to_api(&magnum_types::time::now());
        match driver.update(cluster, template, groups, credentials, held).await {
            Ok(_) => Some(Healing::Done(format!("every node container was found stopped; all started again at {when}"))),
            Err(e) => Some(Healing::Failed(format!("starting the stopped bay at {when} failed: {e}; the next look retries"))),
        }
    }

    /// Replaces the failed nodes of `cluster` if it asks for healing; None when nothing was
    /// to be done.
    pub(crate) async fn heal_if_asked(
        &self,
        held: &Held,
        driver: &dyn Driver,
        (cluster, template, groups): (&Cluster, &ClusterTemplate, &[NodeGroup]),
        credentials: Option<&Credentials>,
        seen: &Seen,
    ) -> Option<Healing> {
        if !wanted(cluster) || !cluster.status.is_complete() {
            return None;
        }
        let nodes = seen.nodes.as_ref()?;
        // Failed now, and at the look before.
        let failed: Vec<(&String, &String)> = seen
            .reasons
            .iter()
            .filter(|(name, _)| nodes.iter().any(|n| &n.name == *name) && cluster.health_status_reason.contains_key(*name))
            .collect();
        if failed.is_empty() {
            return None;
        }
        let names: Vec<String> = failed.iter().map(|(n, _)| (*n).clone()).collect();
        tracing::warn!(cluster = %cluster.uuid, nodes = ?names, "auto-healing: replacing failed nodes");
        let when = magnum_types::time::to_api(&magnum_types::time::now());
        match driver.heal(cluster, template, groups, credentials, held, &names).await {
            Ok(_) => {
                let what: Vec<String> = failed.iter().map(|(n, why)| format!("{n} replaced at {when} ({why})")).collect();
                tracing::info!(cluster = %cluster.uuid, healed = ?what, "auto-healing done");
                Some(Healing::Done(what.join("; ")))
            }
            Err(e) => {
                tracing::warn!(cluster = %cluster.uuid, error = %e, "auto-healing failed; the next look retries");
                Some(Healing::Failed(format!("replacing {} at {when} failed: {e}; the next look retries", names.join(", "))))
            }
        }
    }
}
