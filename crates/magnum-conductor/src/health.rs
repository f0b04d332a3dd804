//! Health and nodes of settled clusters: every `health_interval`, ask the driver what each
//! cluster looks like, record its nodes (for `/v1/nodes`), its containers' statuses, its
//! Kubernetes objects' state, and its health (with a reason per unhealthy node) when they changed.

use crate::healing::{self, Healing};
use crate::leases::Held;
use crate::Conductor;
use magnum_store::Fenced;
use magnum_types::coe::Coe;
use magnum_types::node::Node;
use magnum_types::status::HealthStatus;
use magnum_types::{ErrorKind, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// What one look at a bay found: its health, why (per node, or `bay`), and its nodes (None
/// when it could not be looked at).
pub(crate) struct Seen {
    pub health: HealthStatus,
    pub reasons: BTreeMap<String, String>,
    pub nodes: Option<Vec<Node>>,
}

/// Stable node identities: the same bay and node name always give the same uuid.
fn node_uuid(cluster: Uuid, name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("magnum-node:{cluster}/{name}").as_bytes())
}

impl Conductor {
    pub(crate) async fn health_loop(self: Arc<Self>) {
        let mut tick = crate::ticker(self.config.health_interval);
        loop {
            tick.tick().await;
            self.report_images().await;
            let settled = match self.store.clusters_settled().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "health loop could not list clusters; will retry");
                    continue;
                }
            };
            // A cluster someone is working on is observed after that work.
            // One conductor observes a bay at a time: whoever gets its lease.
            self.spawn_unlocked(settled.iter().map(|c| c.uuid), |me, uuid| async move {
                let me = &me;
                if let Some(Err(e)) = me.with_lease(uuid, |held| async move { me.observe_under(&held).await }).await {
                    tracing::debug!(cluster = %uuid, error = %e, "observation failed");
                }
            });
        }
    }

    /// Tells the store which images this conductor's engines hold (templates are checked
    /// against them). Quiet when nothing changed.
    pub async fn report_images(&self) {
        let mut names = vec![];
        for d in self.drivers.drivers() {
            match d.images().await {
                Ok(n) => names.extend(n),
                Err(e) => {
                    tracing::debug!(driver = d.name(), error = %e, "cannot list images");
                    return;
                }
            }
        }
        names.extend(self.images_being_built());
        names.sort();
        names.dedup();
        let mut last = self.reported_images.lock().await;
        if *last == names {
            return;
        }
        match self.store.report_engine_images(&self.config.host, &names).await {
            Ok(()) => *last = names,
            Err(e) => tracing::warn!(error = %e, "cannot record the engine's images"),
        }
    }

    /// Images being built on this host, as `building:<image>`: each announced by a file in
    /// `image_builds_dir` holding the image's name and the builder's pid. A file whose builder
    /// is gone (it died, or finished without cleaning up) is removed.
    fn images_being_built(&self) -> Vec<String> {
        let Some(dir) = &self.config.image_builds_dir else { return vec![] };
        let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
        let mut out = vec![];
        for path in entries.flatten().map(|e| e.path()) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut lines = text.lines().map(str::trim);
            let (Some(image), Some(pid)) = (lines.next(), lines.next()) else { continue };
            if pid.parse::<u32>().is_ok() && std::path::Path::new(&format!("/proc/{pid}")).exists() {
                out.push(format!("{}{image}", magnum_store::BUILDING));
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
        out
    }

    /// One look at a bay through its driver.
    async fn look(
        &self,
        driver: &dyn magnum_drivers::Driver,
        cluster: &magnum_types::cluster::Cluster,
        template: &magnum_types::template::ClusterTemplate,
        groups: &[magnum_types::nodegroup::NodeGroup],
        credentials: Option<&magnum_drivers::Credentials>,
    ) -> Seen {
        let uuid = cluster.uuid;
        let (health, reasons, nodes) = match driver.observe(cluster, template, groups, credentials).await {
            Ok(o) => {
                let now = magnum_types::time::now();
                let nodes: Vec<Node> = o
                    .nodes
                    .iter()
                    .map(|n| Node {
                        uuid: node_uuid(uuid, &n.name),
                        cluster_uuid: uuid,
                        project_id: cluster.project_id.clone(),
                        nodegroup: n.nodegroup.clone().unwrap_or_else(|| {
                            if n.role == "master" {
                                "default-master".into()
                            } else {
                                "default-worker".into()
                            }
                        }),
                        role: n.role.clone(),
                        name: n.name.clone(),
                        address: n.address.clone(),
                        status: n.status.clone(),
                        status_reason: n.reason.clone(),
                        image_id: n.image.clone(),
                        created_at: now,
                        updated_at: None,
                    })
                    .collect();
                (if o.healthy { HealthStatus::Healthy } else { HealthStatus::Unhealthy }, o.reasons, Some(nodes))
            }
            Err(e) => (HealthStatus::Unknown, BTreeMap::from([("bay".to_owned(), format!("cannot observe the bay: {e}"))]), None),
        };
        Seen { health, reasons, nodes }
    }

    /// Observes one cluster through its driver and records nodes and health, under its lease
    /// (healing its failed nodes first when it asks for that: `healing.rs`).
    pub(crate) async fn observe_under(&self, held: &Held) -> Result<()> {
        let uuid = held.lease.cluster;
        let Some(cluster) = self.store.get_cluster_by_uuid(uuid).await? else { return Ok(()) };
        let template = self.store.get_template_by_uuid(cluster.cluster_template_id).await?;
        let Some(driver) = self.drivers.for_cluster(&cluster, Coe::parse(&template.coe)?) else { return Ok(()) };
        let credentials = self.credentials(uuid).await?;
        let groups = self.store.list_nodegroups(uuid, None, &magnum_types::pagination::PageRequest::everything()).await?;
        let look = || self.look(driver.as_ref(), &cluster, &template, &groups, credentials.as_ref());
        let mut seen = look().await;
        let bay = (&cluster, &template, groups.as_slice());
        let healing = match self.start_if_all_stopped(held, driver.as_ref(), bay, credentials.as_ref(), &seen).await {
            Some(started) => Some(started),
            None => self.heal_if_asked(held, driver.as_ref(), bay, credentials.as_ref(), &seen).await,
        };
        match healing {
            Some(Healing::Done(note)) => {
                seen = look().await;
                seen.reasons.insert(healing::HEALED.into(), note);
            }
            Some(Healing::Failed(note)) => {
                seen.reasons.insert(healing::HEALING.into(), note);
            }
            // What was healed last stays on record until the next healing.
            None => {
                if let Some(note) = cluster.health_status_reason.get(healing::HEALED) {
                    seen.reasons.insert(healing::HEALED.into(), note.clone());
                }
            }
        }
        let Seen { health, reasons, nodes } = seen;
        if let Some(nodes) = nodes {
            match self.store.record_nodes_under(&held.lease, &cluster.project_id, &nodes).await {
                Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
                Ok(Fenced::LeaseLost) => {
                    held.lose("the bay was taken over before its nodes were recorded");
                    return Ok(());
                }
                other => other.map(|_| ())?,
            }
        }
        if let Err(e) = self.refresh_containers(&cluster, &template, credentials.as_ref()).await {
            tracing::debug!(cluster = %uuid, error = %e, "container statuses not refreshed; next tick retries");
        }
        if let Err(e) = self.refresh_kube_objects(&cluster, &template, credentials.as_ref()).await {
            tracing::debug!(cluster = %uuid, error = %e, "Kubernetes objects not refreshed; next tick retries");
        }
        if cluster.health_status == Some(health) && cluster.health_status_reason == reasons {
            return Ok(());
        }
        let mut changed = cluster;
        tracing::info!(cluster = %uuid, health = health.as_str(), reasons = ?reasons, "health changed");
        changed.health_status = Some(health);
        changed.health_status_reason = reasons;
        match self.store.update_cluster_under(&changed, &held.lease).await {
            // Someone else wrote meanwhile: the next tick observes again.
            Err(e) if matches!(e.kind, ErrorKind::Conflict | ErrorKind::NotFound) => Ok(()),
            Ok(Fenced::LeaseLost) => {
                held.lose("the bay was taken over before its health was recorded");
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }
}
