//! External swarm bays: a swarm manager's Docker API that someone else runs, registered as a
//! bay. Nothing is built or removed; create checks that the endpoint is a reachable swarm
//! manager, observe reports the swarm's own view of its nodes, and the container API runs on
//! the manager's engine. Its credentials are the ones it was registered with.

use super::access::Access;
use super::containers::{act_on, create_on, engine_error, exec_on, list_on, logs_on, unavailable};
use crate::containers::{Bay, BayListing, ContainerDriver, EngineState, ExecOutput};
use crate::docker::{self, err};
use crate::{Credentials, Driver, DriverError, Fence, NodeObservation, Observation, Observed};
use async_trait::async_trait;
use bollard::Docker;
use magnum_types::cluster::Cluster;
use magnum_types::container::{Container, ContainerAction};
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use magnum_types::{MagnumError, Result};

#[derive(Default)]
pub struct ExternalSwarm;

/// A client for the endpoint, with the files its TLS needs alive as long as it is.
struct Endpoint<'a> {
    docker: Docker,
    address: String,
    _access: Access<'a>,
}

fn endpoint<'a>(cluster: &Cluster, credentials: Option<&'a Credentials>) -> std::result::Result<Endpoint<'a>, docker::EngineError> {
    let address =
        cluster.api_address.clone().ok_or_else(|| docker::EngineError(format!("external bay {} has no api_address", cluster.uuid)))?;
    let access = Access::for_endpoint(credentials)?;
    let docker = access.connect(&address)?;
    Ok(Endpoint { docker, address, _access: access })
}

/// The swarm as its manager reports it: the engine's version and the members.
async fn survey(e: &Endpoint<'_>) -> std::result::Result<(Option<String>, Vec<NodeObservation>), docker::EngineError> {
    let info = e.docker.info().await.map_err(|x| err(&format!("reaching the external endpoint {}", e.address), x))?;
    let swarm = info.swarm.clone().unwrap_or_default();
    if swarm.local_node_state != Some(bollard::models::LocalNodeState::ACTIVE) || swarm.control_available != Some(true) {
        return Err(docker::EngineError(format!(
            "the external endpoint {} is a Docker engine but not a swarm manager; register a manager of an active swarm",
            e.address
        )));
    }
    let members = e.docker.list_nodes(None).await.map_err(|x| err("listing the swarm's nodes", x))?;
    let nodes = members
        .into_iter()
        .map(|n| {
            let manager = n.spec.as_ref().and_then(|s| s.role) == Some(bollard::models::NodeSpecRoleEnum::MANAGER);
            let status = n.status.clone().unwrap_or_default();
            let ready = status.state == Some(bollard::models::NodeState::READY);
            NodeObservation {
                name: n.description.as_ref().and_then(|d| d.hostname.clone()).unwrap_or_else(|| n.id.clone().unwrap_or_default()),
                role: if manager { "master".into() } else { "worker".into() },
                address: status.addr.clone(),
                status: if ready { "Ready".into() } else { status.state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into()) },
                reason: (!ready).then(|| format!("the swarm reports it {}", status.message.unwrap_or_default())),
                image: None,
                nodegroup: None,
            }
        })
        .collect();
    Ok((info.server_version, nodes))
}

#[async_trait]
impl Driver for ExternalSwarm {
    fn name(&self) -> &'static str {
        "external-swarm"
    }

    async fn create(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        credentials: Option<&Credentials>,
        _: &dyn Fence,
    ) -> std::result::Result<Observed, DriverError> {
        let e = endpoint(cluster, credentials).map_err(|x| DriverError(x.0))?;
        let (version, nodes) = survey(&e).await.map_err(|x| DriverError(format!("{}; fix the endpoint and register it again", x.0)))?;
        let addresses = |role: &str| nodes.iter().filter(|n| n.role == role).filter_map(|n| n.address.clone()).collect();
        Ok(Observed {
            api_address: Some(e.address.clone()),
            master_addresses: addresses("master"),
            node_addresses: addresses("worker"),
            coe_version: version.clone(),
            container_version: version,
        })
    }

    async fn update(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
        _: &dyn Fence,
    ) -> std::result::Result<Observed, DriverError> {
        Err(DriverError(format!("Cluster {} is an external bay: magnum-rs does not change it.", cluster.uuid)))
    }

    /// Forgetting is the whole delete: the swarm is its owner's.
    async fn delete(&self, _: &Cluster, _: &dyn Fence) -> std::result::Result<(), DriverError> {
        Ok(())
    }

    async fn observe(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        credentials: Option<&Credentials>,
    ) -> std::result::Result<Observation, DriverError> {
        let surveyed = match endpoint(cluster, credentials) {
            Ok(e) => survey(&e).await,
            Err(x) => Err(x),
        };
        Ok(match surveyed {
            Ok((_, nodes)) => Observation::from_nodes(nodes),
            Err(x) => Observation::unreachable(x.0),
        })
    }

    fn containers(&self) -> Option<&dyn ContainerDriver> {
        Some(self)
    }
}

impl ExternalSwarm {
    async fn engine<'a>(&self, bay: Bay<'a>) -> Result<Endpoint<'a>> {
        endpoint(bay.cluster, bay.credentials).map_err(unavailable)
    }
}

/// Containers of an external bay run on the engine of the registered manager: it is the one
/// endpoint magnum-rs was given.
#[async_trait]
impl ContainerDriver for ExternalSwarm {
    async fn nodes(&self, bay: Bay<'_>) -> Result<Vec<String>> {
        let e = self.engine(bay).await?;
        let info = e.docker.info().await.map_err(|x| engine_error(&format!("reaching {}", e.address), x))?;
        Ok(vec![info.name.unwrap_or_else(|| "external".into())])
    }

    async fn create(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<EngineState> {
        let e = self.engine(bay).await?;
        match e.docker.inspect_image(&c.image).await {
            Ok(_) => {}
            Err(x) if docker::is_not_found(&x) => {
                return Err(MagnumError::invalid(format!(
                    "Image {} is not on the external bay's engine ({}), and magnum-rs loads images only onto bays it built. \
                     Load it there first.",
                    c.image, e.address
                )))
            }
            Err(x) => return Err(engine_error(&format!("looking for image {}", c.image), x)),
        }
        create_on(&e.docker, host, c).await
    }

    async fn act(&self, bay: Bay<'_>, _: &str, c: &Container, action: ContainerAction) -> Result<EngineState> {
        act_on(&self.engine(bay).await?.docker, c, action).await
    }

    async fn logs(&self, bay: Bay<'_>, _: &str, c: &Container) -> Result<String> {
        logs_on(&self.engine(bay).await?.docker, c).await
    }

    async fn exec(&self, bay: Bay<'_>, _: &str, c: &Container, argv: &[String]) -> Result<ExecOutput> {
        exec_on(&self.engine(bay).await?.docker, c, argv).await
    }

    /// An external engine's restarts are its owner's to handle (its own restart policies):
    /// magnum-rs cannot tell when it last started.
    async fn revive(&self, _: Bay<'_>, _: &str, _: &Container) -> Result<Option<EngineState>> {
        Ok(None)
    }

    async fn remove(&self, bay: Bay<'_>, _: &str, c: &Container) -> Result<()> {
        docker::remove_container(&self.engine(bay).await?.docker, &c.engine_name()).await.map_err(unavailable)
    }

    async fn list(&self, bay: Bay<'_>) -> Result<BayListing> {
        let e = self.engine(bay).await?;
        let name = e.docker.info().await.ok().and_then(|i| i.name).unwrap_or_else(|| "external".into());
        Ok([(name, list_on(&e.docker).await)].into())
    }
}
