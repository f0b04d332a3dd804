//! Drivers make clusters real on some engine. The conductor picks one by the template's COE
//! and calls it; a driver never touches the store, it returns what it observed.
//!
//! Every operation must be safe to repeat: after a conductor crash the same create, update or
//! delete is called again for the same cluster, and must converge rather than duplicate.
//!
//! This crate holds the contract and the registry. Engine drivers (the Docker-engine swarm
//! driver, then Kubernetes) register here; a COE with no registered driver makes cluster
//! creation fail at once with a reason saying so.

pub mod containers;
pub mod docker;
pub mod kubernetes;
pub mod swarm;

use async_trait::async_trait;
use magnum_types::cluster::Cluster;
use magnum_types::coe::Coe;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use std::collections::HashMap;
use std::sync::Arc;

/// One machine of a bay as the driver sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeObservation {
    pub name: String,
    /// `master` or `worker`.
    pub role: String,
    pub address: Option<String>,
    /// `Ready`, `Down`, `Stopped`, `Missing`, ...
    pub status: String,
    pub reason: Option<String>,
    pub image: Option<String>,
    /// The nodegroup the node belongs to, where the driver knows it.
    pub nodegroup: Option<String>,
}

/// A bay's nodes and health, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub healthy: bool,
    /// Why not healthy, per node (or `bay` for the whole): shown as `health_status_reason`.
    pub reasons: std::collections::BTreeMap<String, String>,
    pub nodes: Vec<NodeObservation>,
}

impl Observation {
    /// Health from the nodes' own reasons (healthy when none has one).
    pub fn from_nodes(nodes: Vec<NodeObservation>) -> Observation {
        let reasons: std::collections::BTreeMap<String, String> =
            nodes.iter().filter_map(|n| n.reason.clone().map(|r| (n.name.clone(), r))).collect();
        Observation { healthy: reasons.is_empty(), reasons, nodes }
    }

    /// A built bay: healthy when no node has a reason, `reasons` (the bay's own) is empty and
    /// every node the bay wants (its default groups' and its other worker groups') has a
    /// container; nodes sorted by role and name.
    pub fn of_bay(
        cluster: &Cluster,
        groups: &[NodeGroup],
        mut nodes: Vec<NodeObservation>,
        mut reasons: std::collections::BTreeMap<String, String>,
    ) -> Observation {
        let others: i64 = groups.iter().filter(|g| !g.is_default && g.is_wanted()).map(|g| g.node_count.max(0)).sum();
        let expected = (cluster.master_count + cluster.node_count + others) as usize;
        let present = nodes.iter().filter(|n| n.status != "Missing").count();
        if present < expected {
            reasons.entry("bay".into()).or_insert_with(|| format!("{present} of {expected} node containers exist"));
        }
        for n in &nodes {
            if let Some(r) = &n.reason {
                reasons.insert(n.name.clone(), r.clone());
            }
        }
        nodes.sort_by(|a, b| (&a.role, &a.name).cmp(&(&b.role, &b.name)));
        Observation { healthy: reasons.is_empty(), reasons, nodes }
    }

    /// A bay that could not be looked at: unhealthy, with why.
    pub fn unreachable(why: String) -> Observation {
        Observation { healthy: false, reasons: [("bay".to_owned(), why)].into(), nodes: vec![] }
    }
}

/// What a driver saw of a cluster after acting on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub api_address: Option<String>,
    pub node_addresses: Vec<String>,
    pub master_addresses: Vec<String>,
    pub coe_version: Option<String>,
    pub container_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(pub String);

/// A bay's CA (to issue node certificates) and the conductor's client certificate (to talk
/// to the nodes), decrypted for the duration of one operation.
#[derive(Clone)]
pub struct Credentials {
    pub ca: magnum_certs::CaBundle,
    pub client: magnum_certs::Issued,
}

/// Proof that the caller still drives the bay. A driver asks before each change it makes to
/// the engine and stops with the error once another conductor has taken the bay over, so a
/// conductor that stalled past its lease never undoes what its successor did.
#[async_trait]
pub trait Fence: Send + Sync {
    async fn check(&self) -> Result<(), DriverError>;
}

#[async_trait]
pub trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    /// Build the cluster's nodes to the desired counts (`groups`: its nodegroups, defaults
    /// included; the default worker group's size is `cluster.node_count`).
    async fn create(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError>;
    /// Converge an existing cluster to its desired groups and counts (and its current CA).
    async fn update(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError>;
    /// Replace the named nodes (found dead, or not answering) and converge: a worker is made
    /// again, fresh, under the same name, group and address; a master is restarted with its
    /// state (the bay's swarm or etcd lives on it).
    #[allow(clippy::too_many_arguments)]
    async fn heal(
        &self,
        _cluster: &Cluster,
        _template: &ClusterTemplate,
        _groups: &[NodeGroup],
        _credentials: Option<&Credentials>,
        _fence: &dyn Fence,
        _nodes: &[String],
    ) -> Result<Observed, DriverError> {
        Err(DriverError(format!("the {} driver cannot replace nodes", self.name())))
    }
    /// Move the cluster's nodes to template `to` (another node image, other labels): nodes are
    /// replaced in place (same name, address and volumes) at most `max_batch` at a time, the
    /// masters first, each batch Ready before the next; workers are drained first so their
    /// workloads move. Safe to repeat after a failure: replaced nodes are left alone.
    #[allow(clippy::too_many_arguments)]
    async fn upgrade(
        &self,
        cluster: &Cluster,
        _to: &ClusterTemplate,
        _groups: &[NodeGroup],
        _credentials: Option<&Credentials>,
        _fence: &dyn Fence,
        _max_batch: usize,
    ) -> Result<Observed, DriverError> {
        Err(DriverError(format!("cluster {}: the {} driver cannot upgrade a cluster in place", cluster.uuid, self.name())))
    }
    /// Remove everything the cluster owns. Deleting what is already gone succeeds.
    async fn delete(&self, cluster: &Cluster, fence: &dyn Fence) -> Result<(), DriverError>;
    /// Whether the engine this driver builds bays on answers now. An operation that failed while
    /// it did not (the engine restarting, its machine rebooting) is waited out, not failed.
    /// Drivers that build on no engine of ours always answer true.
    async fn provider_answers(&self) -> bool {
        true
    }
    /// Images the engine holds (names and ids), so templates naming others can be refused.
    async fn images(&self) -> Result<Vec<String>, DriverError> {
        Ok(vec![])
    }
    /// Look at the cluster without changing it: its nodes (every group's) and its health.
    async fn observe(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
    ) -> Result<Observation, DriverError>;
    /// The container API on this driver's bays, if it has one.
    fn containers(&self) -> Option<&dyn containers::ContainerDriver> {
        None
    }
    /// The Kubernetes object API (pods, services, RCs) on this driver's bays, if it has one.
    fn kube_objects(&self) -> Option<&dyn kubernetes::KubeObjects> {
        None
    }
}

/// Drivers by COE (swarm and swarm-mode share one), and those for external bays (one for
/// swarm endpoints, one for Kubernetes API servers).
#[derive(Clone, Default)]
pub struct DriverRegistry {
    by_coe: HashMap<Coe, Arc<dyn Driver>>,
    external: HashMap<Coe, Arc<dyn Driver>>,
}

impl DriverRegistry {
    pub fn empty() -> Self {
        Self::default()
    }

    pub fn register(&mut self, coe: Coe, driver: Arc<dyn Driver>) {
        self.by_coe.insert(coe, driver);
    }

    /// Registered endpoints (external bays) of `coe` go to this driver (swarm and swarm-mode
    /// share one).
    pub fn register_external(&mut self, coe: Coe, driver: Arc<dyn Driver>) {
        self.external.insert(coe, driver);
    }

    /// The driver of one cluster: the external one for registered endpoints, else by COE.
    pub fn for_cluster(&self, cluster: &Cluster, coe: Coe) -> Option<Arc<dyn Driver>> {
        if cluster.external {
            return lookup(&self.external, coe);
        }
        self.for_coe(coe)
    }

    pub fn for_coe(&self, coe: Coe) -> Option<Arc<dyn Driver>> {
        lookup(&self.by_coe, coe)
    }

    /// Every registered driver once (swarm and swarm-mode share one).
    pub fn drivers(&self) -> Vec<Arc<dyn Driver>> {
        let mut out: Vec<Arc<dyn Driver>> = vec![];
        for d in self.by_coe.values() {
            if !out.iter().any(|o| Arc::ptr_eq(o, d)) {
                out.push(d.clone());
            }
        }
        out
    }

    /// COEs that have a driver, for messages.
    pub fn coes(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.by_coe.keys().map(|c| c.as_str()).collect();
        v.sort_unstable();
        v
    }
}

/// By COE, letting swarm and swarm-mode stand for each other.
fn lookup(map: &HashMap<Coe, Arc<dyn Driver>>, coe: Coe) -> Option<Arc<dyn Driver>> {
    let key = if coe.is_swarm() && !map.contains_key(&coe) {
        if coe == Coe::Swarm {
            Coe::SwarmMode
        } else {
            Coe::Swarm
        }
    } else {
        coe
    };
    map.get(&key).cloned()
}
