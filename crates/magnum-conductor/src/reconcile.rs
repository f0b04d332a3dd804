//! One cluster's reconcile: read what was asked, let the driver act, record the outcome.

use crate::leases::Held;
use crate::Conductor;
use magnum_drivers::{DriverError, Fence, Observed};
use magnum_store::Fenced;
use magnum_types::coe::Coe;
use magnum_types::status::{finish, ClusterStatus, Outcome};
use magnum_types::{ErrorKind, Result};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A create waits for an absent engine no longer than its `create_timeout`, counted from the
/// bay's creation; updates and deletes wait as long as it takes.
fn past_create_deadline(cluster: &magnum_types::cluster::Cluster, op: Op) -> bool {
    op == Op::Create
        && cluster.create_timeout > 0
        && magnum_types::time::older_than(&cluster.created_at, Duration::from_secs(cluster.create_timeout as u64 * 60))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Update,
    Delete,
}

impl Conductor {
    /// Drives cluster `uuid` one step: runs the in-progress operation to its end and records
    /// it. Does nothing for clusters that are not in progress (a duplicate or stale command),
    /// nor while another conductor holds the cluster's lease.
    pub async fn reconcile(&self, uuid: Uuid) -> Result<()> {
        self.with_lease(uuid, |held| self.reconcile_under(held)).await.unwrap_or(Ok(()))
    }

    async fn reconcile_under(&self, held: Arc<Held>) -> Result<()> {
        let uuid = held.lease.cluster;
        let Some(cluster) = self.store.get_cluster_by_uuid(uuid).await? else { return Ok(()) };
        let op = match cluster.status {
            ClusterStatus::CreateInProgress => Op::Create,
            ClusterStatus::UpdateInProgress => Op::Update,
            ClusterStatus::DeleteInProgress => Op::Delete,
            _ => return Ok(()),
        };
        let template = self.store.get_template_by_uuid(cluster.cluster_template_id).await?;
        let coe = Coe::parse(&template.coe)?;
        let started = cluster.status;
        tracing::info!(cluster = %uuid, name = %cluster.name, status = %started, "reconciling");

        let Some(driver) = self.drivers.for_cluster(&cluster, coe) else {
            if self.store.conductors_build().await?.is_some_and(|b| coe.among(&b)) {
                // Another conductor of the deployment builds (and so deletes) such bays: its
                // sweep takes this one. Forgetting it here could orphan what that one built.
                tracing::debug!(cluster = %uuid, %coe, "no driver here; left to a conductor that builds it");
                return Ok(());
            }
            if op == Op::Delete {
                // Without a driver nothing was ever built: forgetting the row is the whole delete.
                match self.store.delete_cluster_under(&held.lease).await? {
                    Fenced::Done(_) => tracing::info!(cluster = %uuid, "deleted (no driver had built anything)"),
                    Fenced::LeaseLost => held.lose("the bay was taken over before its delete was recorded"),
                }
                return Ok(());
            }
            let enabled = self.drivers.coes();
            let reason = format!(
                "No driver for COE '{coe}' is enabled in this conductor (enabled: {}). \
                 Use a template whose COE has a driver, then delete this cluster.",
                if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
            );
            return self.record(&held, started, Outcome::Failed(reason), None).await;
        };

        let credentials = self.credentials(uuid).await?;
        let groups = self.store.list_nodegroups(uuid, None, &magnum_types::pagination::PageRequest::everything()).await?;
        let result = match op {
            Op::Create => {
                let work = driver.create(&cluster, &template, &groups, credentials.as_ref(), held.as_ref());
                match cluster.create_timeout {
                    0 => work.await,
                    minutes => match tokio::time::timeout(Duration::from_secs(minutes as u64 * 60), work).await {
                        Ok(r) => r,
                        Err(_) => {
                            if let Err(e) = driver.delete(&cluster, held.as_ref()).await {
                                tracing::warn!(cluster = %uuid, error = %e, "cleanup after create timeout failed");
                            }
                            Err(DriverError(format!("Cluster creation timed out after {minutes} minutes (create_timeout).")))
                        }
                    },
                }
            }
            Op::Update => match &cluster.upgrade {
                Some(up) => match self.store.get_template_by_uuid(up.to).await {
                    Ok(to) => {
                        let batch = up.max_batch_size.max(1) as usize;
                        driver.upgrade(&cluster, &to, &groups, credentials.as_ref(), held.as_ref(), batch).await
                    }
                    Err(e) => Err(DriverError(format!("the upgrade's template {} cannot be read: {}", up.to, e.message))),
                },
                None => driver.update(&cluster, &template, &groups, credentials.as_ref(), held.as_ref()).await,
            },
            Op::Delete => {
                if cluster.external {
                    self.remove_external_containers(driver.as_ref(), &cluster, &template, credentials.as_ref(), &held).await?;
                }
                driver.delete(&cluster, held.as_ref()).await.map(|()| Observed::default())
            }
        };
        if held.lost() {
            // The driver stopped at the fence: whatever it did or did not finish is the new
            // holder's to judge, so nothing is recorded.
            tracing::info!(cluster = %uuid, outcome = ?result.err(), "stopped without recording: the bay has another holder");
            return Ok(());
        }
        match result {
            Ok(observed) => {
                self.record(&held, started, Outcome::Succeeded, Some(observed)).await?;
                if op != Op::Delete && !held.lost() {
                    // Nodes and health show at once rather than at the next health tick.
                    if let Err(e) = self.observe_under(&held).await {
                        tracing::warn!(cluster = %uuid, error = %e, "first observation failed; the health loop will retry");
                    }
                }
                Ok(())
            }
            Err(e) if !driver.provider_answers().await && !past_create_deadline(&cluster, op) => {
                // The engine that hosts the bay's nodes is away (restarting, its machine
                // rebooting): the operation is not failed for that. It stays in progress and the
                // sweep carries it on once the engine answers again.
                tracing::warn!(cluster = %uuid, driver = driver.name(), error = %e, "the provider engine does not answer; the operation waits for it");
                self.note_waiting(&held, &cluster, &e).await
            }
            Err(e) => {
                tracing::warn!(cluster = %uuid, driver = driver.name(), error = %e, "driver failed");
                self.record(&held, started, Outcome::Failed(e.0), None).await
            }
        }
    }

    /// Says in the bay's `status_reason` what its operation waits for (it is cleared when the
    /// operation ends). A bay that changed meanwhile keeps its own reason.
    async fn note_waiting(&self, held: &Held, cluster: &magnum_types::cluster::Cluster, e: &DriverError) -> Result<()> {
        let mut noted = cluster.clone();
        noted.status_reason = Some(format!("Waiting for the Docker engine to answer again; the operation resumes then ({e})."));
        match self.store.update_cluster_under(&noted, &held.lease).await {
            Ok(Fenced::Done(_)) => Ok(()),
            Ok(Fenced::LeaseLost) => {
                held.lose("the bay was taken over while it waited for the engine");
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An external bay's engine outlives the bay: the containers made on it through the API
    /// are removed first, so forgetting the bay orphans nothing. One that cannot be removed
    /// fails the delete (it can be retried).
    async fn remove_external_containers(
        &self,
        driver: &dyn magnum_drivers::Driver,
        cluster: &magnum_types::cluster::Cluster,
        template: &magnum_types::template::ClusterTemplate,
        credentials: Option<&magnum_drivers::Credentials>,
        held: &Held,
    ) -> Result<()> {
        let Some(engine) = driver.containers() else { return Ok(()) };
        let bay = magnum_drivers::containers::Bay { cluster, template, credentials };
        for c in self.store.bay_containers(cluster.uuid).await? {
            held.check().await.map_err(|e| magnum_types::MagnumError::unavailable(e.0))?;
            engine.remove(bay, c.host.as_deref().unwrap_or_default(), &c).await.map_err(|e| {
                magnum_types::MagnumError::unavailable(format!(
                    "Removing container {} from external bay {} failed ({}); retry the delete.",
                    c.uuid, cluster.uuid, e.message
                ))
            })?;
            tracing::info!(container = %c.uuid, cluster = %cluster.uuid, "container removed from the external bay's engine");
        }
        Ok(())
    }

    /// The bay's certificates, keys decrypted in memory for this operation (None for bays
    /// stored without certificates).
    pub(crate) async fn credentials(&self, uuid: Uuid) -> Result<Option<magnum_drivers::Credentials>> {
        let Some(cipher) = &self.cipher else { return Ok(None) };
        let stored = match self.store.get_certificates(uuid).await {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(magnum_drivers::Credentials {
            ca: magnum_certs::CaBundle { cert_pem: stored.ca_cert, key_pem: cipher.decrypt(&stored.ca_key)? },
            client: magnum_certs::Issued { cert_pem: stored.client_cert, key_pem: cipher.decrypt(&stored.client_key)? },
        }))
    }

    /// Records an outcome unless the cluster moved on meanwhile (e.g. a delete was asked
    /// during a create): then the newer request owns the cluster and this result is dropped.
    /// Nothing is recorded once another conductor has taken the cluster's lease.
    async fn record(&self, held: &Held, started: ClusterStatus, outcome: Outcome, observed: Option<Observed>) -> Result<()> {
        let uuid = held.lease.cluster;
        for _ in 0..5 {
            let Some(mut cluster) = self.store.get_cluster_by_uuid(uuid).await? else { return Ok(()) };
            if cluster.status != started {
                tracing::info!(cluster = %uuid, was = %started, now = %cluster.status, "cluster changed meanwhile; result dropped");
                return Ok(());
            }
            let Some(next) = finish(started, &outcome) else { return Ok(()) };
            if next == ClusterStatus::DeleteComplete {
                match self.store.delete_cluster_under(&held.lease).await? {
                    Fenced::Done(_) => tracing::info!(cluster = %uuid, "deleted"),
                    Fenced::LeaseLost => held.lose("the bay was taken over before its delete was recorded"),
                }
                return Ok(());
            }
            cluster.status = next;
            cluster.status_reason = match &outcome {
                Outcome::Failed(reason) => Some(reason.clone()),
                Outcome::Succeeded => None,
            };
            // The template changes only once every node runs it; a failed upgrade stays asked
            // for, so a retry carries on from the nodes already replaced.
            if outcome == Outcome::Succeeded && started == ClusterStatus::UpdateInProgress {
                if let Some(up) = cluster.upgrade.take() {
                    cluster.cluster_template_id = up.to;
                }
            }
            if let Some(o) = &observed {
                cluster.api_address = o.api_address.clone().or(cluster.api_address);
                cluster.node_addresses = o.node_addresses.clone();
                cluster.master_addresses = o.master_addresses.clone();
                cluster.coe_version = o.coe_version.clone().or(cluster.coe_version);
                cluster.container_version = o.container_version.clone().or(cluster.container_version);
            }
            match self.store.update_cluster_under(&cluster, &held.lease).await {
                Ok(Fenced::Done(_)) => {
                    tracing::info!(cluster = %uuid, status = %next, reason = ?cluster.status_reason, "recorded");
                    return Ok(());
                }
                Ok(Fenced::LeaseLost) => {
                    held.lose("the bay was taken over before its outcome was recorded");
                    return Ok(());
                }
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(magnum_types::MagnumError::conflict(format!("cluster {uuid} kept changing; its outcome will be recorded by the next sweep")))
    }
}
