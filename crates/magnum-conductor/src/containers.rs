//! Container operations: calls from the API, carried out on a node of the container's bay
//! through the bay's driver and recorded in the store; and the status refresh that keeps
//! stored statuses following the engines (one listing per node, never one call per container).
//!
//! A container is recorded (status Unknown, "being created") before its engine container is
//! made, and its row removed again if the engine refuses: a crash in between leaves a record
//! the status refresh marks Error and the user can delete, never an engine container that no
//! record names.

use crate::Conductor;
use magnum_drivers::containers::{Bay, ContainerDriver};
use magnum_drivers::{Credentials, Driver};
use magnum_rpc::{CallReply, CallResult, ConductorCall};
use magnum_types::cluster::Cluster;
use magnum_types::coe::Coe;
use magnum_types::container::{Container, ContainerAction, ContainerStatus};
use magnum_types::template::ClusterTemplate;
use magnum_types::{ErrorKind, MagnumError, Result};
use std::sync::Arc;
use uuid::Uuid;

/// A container's bay with everything its driver needs.
struct BayContext {
    cluster: Cluster,
    template: ClusterTemplate,
    credentials: Option<Credentials>,
    driver: Arc<dyn Driver>,
}

impl BayContext {
    fn bay(&self) -> Bay<'_> {
        Bay { cluster: &self.cluster, template: &self.template, credentials: self.credentials.as_ref() }
    }

    fn containers(&self) -> Result<&dyn ContainerDriver> {
        self.driver.containers().ok_or_else(|| {
            MagnumError::invalid(format!("The {} driver of bay {} runs no containers.", self.driver.name(), self.cluster.uuid))
        })
    }
}

/// Seconds a container may stay "being created" before the refresh judges it by the engine.
const CREATE_GRACE_SECS: i64 = 120;

fn no_container(uuid: Uuid) -> MagnumError {
    MagnumError::not_found(format!("Container {uuid} could not be found."))
}

impl Conductor {
    /// Carries out one call from the API and answers it.
    pub async fn handle_call(&self, call: ConductorCall) -> CallResult {
        let output = |output: String, exit_code| CallReply::Output { output, exit_code };
        match call {
            ConductorCall::ContainerCreate { container } => {
                self.container_create(*container).await.map(|c| CallReply::Container { container: Box::new(c) })
            }
            ConductorCall::ContainerAction { uuid, action } => {
                self.container_action(uuid, action).await.map(|c| CallReply::Container { container: Box::new(c) })
            }
            ConductorCall::ContainerLogs { uuid } => self.container_logs(uuid).await.map(|o| output(o, None)),
            ConductorCall::ContainerExec { uuid, command } => {
                self.container_exec(uuid, &command).await.map(|o| output(o.output, o.exit_code))
            }
            ConductorCall::ContainerDelete { uuid } => self.container_delete(uuid).await.map(|()| CallReply::Done),
            kube @ (ConductorCall::KubeCreate { .. }
            | ConductorCall::KubeShow { .. }
            | ConductorCall::KubeReplace { .. }
            | ConductorCall::KubeDelete { .. }) => self.handle_kube_call(kube).await,
            ConductorCall::ReportImages => {
                self.report_images().await;
                Ok(CallReply::Done)
            }
        }
    }

    async fn bay_context(&self, bay: Uuid) -> Result<BayContext> {
        let cluster =
            self.store.get_cluster_by_uuid(bay).await?.ok_or_else(|| MagnumError::invalid(format!("Bay {bay} could not be found.")))?;
        let template = self.store.get_template_by_uuid(cluster.cluster_template_id).await?;
        let coe = Coe::parse(&template.coe)?;
        if !coe.is_swarm() {
            return Err(MagnumError::invalid(format!("Bay {bay} is a {coe} bay; containers run on swarm bays only.")));
        }
        let driver = self.drivers.for_cluster(&cluster, coe).ok_or_else(|| {
            MagnumError::invalid(format!("No driver for COE '{coe}' is enabled in this conductor, so bay {bay} runs no containers."))
        })?;
        let credentials = self.credentials(bay).await?;
        Ok(BayContext { cluster, template, credentials, driver })
    }

    async fn stored_container(&self, uuid: Uuid) -> Result<(Container, BayContext, String)> {
        let c = self.store.get_container_by_uuid(uuid).await?.ok_or_else(|| no_container(uuid))?;
        let ctx = self.bay_context(c.bay_uuid).await?;
        let host = c.host.clone().ok_or_else(|| MagnumError::conflict(format!("Container {uuid} was never placed on a node.")))?;
        Ok((c, ctx, host))
    }

    async fn container_create(&self, mut c: Container) -> Result<Container> {
        if self.store.get_container_by_uuid(c.uuid).await?.is_some() {
            return Err(MagnumError::conflict(format!("A container with UUID {} already exists.", c.uuid)));
        }
        let ctx = self.bay_context(c.bay_uuid).await?;
        if !ctx.cluster.status.is_complete() {
            return Err(MagnumError::invalid(format!(
                "Bay {} is {}: containers can be created on a bay whose status is CREATE_COMPLETE or UPDATE_COMPLETE.",
                c.bay_uuid, ctx.cluster.status
            )));
        }
        let driver = ctx.containers()?;
        let nodes = driver.nodes(ctx.bay()).await?;
        let reservation = self
            .placement
            .choose(c.bay_uuid, &nodes, || self.store.containers_per_host(c.bay_uuid))
            .await?
            .ok_or_else(|| MagnumError::unavailable(format!("Bay {} has no running node to place the container on.", c.bay_uuid)))?;
        let host = reservation.node().to_owned();
        // Intent first: the row exists (status Unknown, "being created") before the engine's
        // container does, so a conductor that dies in between leaves a visible, deletable
        // record rather than an engine container nobody knows of.
        c.host = Some(host.clone());
        c.status = ContainerStatus::Unknown;
        c.status_reason = Some(format!("being created on node {host}"));
        let mut recorded = self.store.insert_container(&c).await?;
        drop(reservation);
        match driver.create(ctx.bay(), &host, &c).await {
            Ok(state) => {
                self.store.set_container_status(c.uuid, state.status, state.reason.as_deref()).await?;
                tracing::info!(container = %c.uuid, bay = %c.bay_uuid, node = %host, image = %c.image, "container created");
                recorded.status = state.status;
                recorded.status_reason = state.reason;
                recorded.updated_at = Some(magnum_types::time::now());
                Ok(recorded)
            }
            Err(e) => {
                // The engine refused (or half-made it): nothing stays behind, row or container.
                if let Err(cleanup) = driver.remove(ctx.bay(), &host, &c).await {
                    tracing::warn!(container = %c.uuid, node = %host, error = %cleanup, "could not remove a failed container");
                }
                self.store.delete_container(c.uuid).await?;
                Err(e)
            }
        }
    }

    async fn container_action(&self, uuid: Uuid, action: ContainerAction) -> Result<Container> {
        let (mut c, ctx, host) = self.stored_container(uuid).await?;
        let state = match ctx.containers()?.act(ctx.bay(), &host, &c, action).await {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::NotFound => {
                let reason = format!("it is gone from node {host}");
                self.store.set_container_status(uuid, ContainerStatus::Error, Some(&reason)).await?;
                return Err(MagnumError::conflict(format!("Cannot {} container {uuid}: {reason}. Delete it.", action.as_str())));
            }
            Err(e) => return Err(e),
        };
        // Whether the owner leaves it running: what a node's restart must bring back.
        let keep_running = match action {
            ContainerAction::Start | ContainerAction::Reboot | ContainerAction::Unpause => state.status == ContainerStatus::Running,
            ContainerAction::Stop | ContainerAction::Pause => false,
        };
        self.store.record_container_action(uuid, state.status, state.reason.as_deref(), keep_running).await?;
        tracing::info!(container = %uuid, action = action.as_str(), status = %state.status, "container action done");
        c.status = state.status;
        c.status_reason = state.reason;
        c.updated_at = Some(magnum_types::time::now());
        Ok(c)
    }

    async fn container_logs(&self, uuid: Uuid) -> Result<String> {
        let (c, ctx, host) = self.stored_container(uuid).await?;
        ctx.containers()?.logs(ctx.bay(), &host, &c).await
    }

    async fn container_exec(&self, uuid: Uuid, argv: &[String]) -> Result<magnum_drivers::containers::ExecOutput> {
        let (c, ctx, host) = self.stored_container(uuid).await?;
        ctx.containers()?.exec(ctx.bay(), &host, &c, argv).await
    }

    async fn container_delete(&self, uuid: Uuid) -> Result<()> {
        let Some(c) = self.store.get_container_by_uuid(uuid).await? else { return Ok(()) };
        // Without its bay (deleted meanwhile) there is no engine container left to remove.
        if self.store.get_cluster_by_uuid(c.bay_uuid).await?.is_some() {
            let ctx = self.bay_context(c.bay_uuid).await?;
            if let Some(host) = &c.host {
                ctx.containers()?.remove(ctx.bay(), host, &c).await?;
            }
        }
        self.store.delete_container(uuid).await?;
        tracing::info!(container = %uuid, "container deleted");
        Ok(())
    }

    /// Brings the stored statuses of a bay's containers in line with its nodes' engines. A
    /// status written meanwhile by an action is newer than this listing and is kept.
    pub(crate) async fn refresh_containers(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        credentials: Option<&Credentials>,
    ) -> Result<()> {
        let rows = self.store.bay_containers(cluster.uuid).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let Some(driver) = Coe::parse(&template.coe).ok().and_then(|coe| self.drivers.for_cluster(cluster, coe)) else { return Ok(()) };
        let Some(containers) = driver.containers() else { return Ok(()) };
        let listing = containers.list(Bay { cluster, template, credentials }).await?;
        for c in rows {
            let Some(host) = &c.host else { continue };
            // A create in flight is not a vanished container (unless it has hung for minutes).
            let creating =
                c.status == ContainerStatus::Unknown && c.status_reason.as_deref().is_some_and(|r| r.starts_with("being created"));
            if creating && (magnum_types::time::now() - c.created_at).num_seconds() < CREATE_GRACE_SECS {
                continue;
            }
            let (mut status, mut reason) = match listing.get(host) {
                None => (ContainerStatus::Error, Some(format!("its node {host} no longer exists"))),
                Some(Err(why)) => (ContainerStatus::Unknown, Some(format!("node {host}: {why}"))),
                Some(Ok(states)) => match states.get(&c.uuid) {
                    Some(s) => (s.status, s.reason.clone()),
                    None => (ContainerStatus::Error, Some(format!("it is gone from node {host}"))),
                },
            };
            let mut keep_running = c.keep_running;
            if keep_running && status == ContainerStatus::Stopped {
                // Left running by its owner and found stopped: brought back if its node went
                // down under it, else it ended by itself and is left so from now on.
                let bay = Bay { cluster, template, credentials };
                match containers.revive(bay, host, &c).await {
                    Ok(Some(state)) => {
                        tracing::info!(container = %c.uuid, node = %host, "container running again after its node restarted");
                        (status, reason) = (state.status, state.reason);
                    }
                    Ok(None) => keep_running = false,
                    Err(e) => tracing::debug!(container = %c.uuid, error = %e, "not revived yet; next look retries"),
                }
            }
            if (status, &reason, keep_running) != (c.status, &c.status_reason, c.keep_running) {
                let changed = self.store.set_container_status_if_unchanged(&c, status, reason.as_deref(), keep_running).await?;
                if changed {
                    tracing::info!(container = %c.uuid, was = %c.status, now = %status, reason = ?reason, "container status changed");
                }
            }
        }
        Ok(())
    }
}
