//! The control-plane tests' deployment: conductors that build swarm and Kubernetes bays in
//! name only. The API accepts such bays (a conductor builds their COE), and the conductor's own
//! rules decide their fate: every create and update fails with a reason, a delete removes the
//! record (nothing was built). Tests of real bays use the real drivers on a real engine instead.

use async_trait::async_trait;
use magnum_drivers::{Credentials, Driver, DriverError, DriverRegistry, Fence, Observation, Observed};
use magnum_types::cluster::Cluster;
use magnum_types::coe::Coe;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use std::sync::Arc;

/// What a failed create or update of these tests says.
pub const NOTHING_BUILT: &str = "builds nothing: this deployment of the control-plane tests has no engine";

/// A driver that builds nothing (see the module's header).
pub struct NothingBuilt;

fn refused(template: &ClusterTemplate) -> DriverError {
    DriverError(format!("The {} driver {NOTHING_BUILT}.", template.coe))
}

#[async_trait]
impl Driver for NothingBuilt {
    fn name(&self) -> &'static str {
        "nothing-built"
    }

    async fn create(
        &self,
        _: &Cluster,
        template: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        fence.check().await?;
        Err(refused(template))
    }

    async fn update(
        &self,
        _: &Cluster,
        template: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        fence.check().await?;
        Err(refused(template))
    }

    async fn delete(&self, _: &Cluster, fence: &dyn Fence) -> Result<(), DriverError> {
        fence.check().await
    }

    async fn observe(
        &self,
        _: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
    ) -> Result<Observation, DriverError> {
        Ok(Observation::unreachable("nothing was built".into()))
    }
}

/// `registry` (the deployment's own: external bays among them) with swarm and Kubernetes bays
/// built in name only.
pub fn nothing_built(mut registry: DriverRegistry) -> DriverRegistry {
    registry.register(Coe::SwarmMode, Arc::new(NothingBuilt));
    registry.register(Coe::Kubernetes, Arc::new(NothingBuilt));
    registry
}
