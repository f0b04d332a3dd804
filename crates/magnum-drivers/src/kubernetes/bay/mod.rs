//! Kubernetes bays built on the Docker provider: every node is a container of the Kubernetes
//! node image (`image.rs`), running dockerd for kubelet's dockershim, kubelet and kube-proxy;
//! the master also runs etcd (its data on a volume), the API server, the controller-manager and
//! the scheduler, as plain processes (`node/entrypoint.sh`). Kubernetes 1.20.2, built from
//! Debian's `kubernetes` source package.
//!
//! - `conductor.rs`: the conductor's user and the binding that makes it (alone) cluster admin;
//! - `layout.rs`: each node's fixed address on the bay network and its pods' /24;
//! - `docker/network.rs` (shared with swarm bays): the bay network with a pinned subnet;
//! - `pki.rs`: every certificate, from the bay's CA, kept on each node's volume;
//! - `node.rs`: what the engine grants a node container, and the files written into it;
//! - `converge.rs`: create and resize (one convergence), bootstrap;
//! - `drain.rs`: cordon, move pods off a node, remove a worker;
//! - `upgrade.rs`: nodes made again from another template, in batches, the master first;
//! - `look.rs`: health, from the node containers and the Kubernetes nodes' conditions;
//! - `objects.rs`: pods, RCs and services, with the images they name loaded into the nodes.
//!
//! The conductor talks to the API server published on the engine's host with its own client
//! certificate (a user of its own, made cluster admin by one binding: `conductor.rs`), and to
//! node internals through the engine's exec API: no node port but the API server's is published.

mod conductor;
mod confinement;
mod converge;
mod drain;
pub mod image;
pub mod layout;
mod look;
pub mod node;
mod objects;
mod pki;
mod placement;
mod upgrade;

use super::client::KubeClient;
use super::KubeObjects;
use crate::docker::nodes::Limits;
use crate::docker::{EngineAccess, EngineError};
use crate::{Credentials, Driver, DriverError, Fence, Observation, Observed};
use async_trait::async_trait;
use bollard::Docker;
use magnum_types::cluster::Cluster;
use magnum_types::external::ClientAuth;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use magnum_types::MagnumError;
use std::collections::HashMap;
use std::time::Duration;

/// How to build the node image a template names, for the error when the engine lacks it.
const BUILD_HINT: &str = "magnum-server node-image build --kubernetes-bin DIR";

/// The Kubernetes version this build's node image carries.
pub const VERSION: &str = "v1.20.2";

pub struct KubernetesDriver {
    engine: EngineAccess,
    flavors: HashMap<String, Limits>,
    /// How long nodes may take to register and become Ready before the operation fails.
    pub node_timeout: Duration,
    /// Images known to be on each node (see `objects.rs`).
    held: objects::HeldImages,
}

impl KubernetesDriver {
    pub fn new(engine: EngineAccess, flavors: HashMap<String, Limits>) -> KubernetesDriver {
        KubernetesDriver { engine, flavors, node_timeout: Duration::from_secs(180), held: Default::default() }
    }

    fn docker(&self) -> Result<Docker, EngineError> {
        self.engine.connect(60)
    }
}

/// The bay's Kubernetes API at `api_address`, as the conductor (a cluster admin).
fn client(api_address: &str, credentials: &Credentials) -> magnum_types::Result<KubeClient> {
    KubeClient::new(
        api_address,
        &credentials.ca.cert_pem,
        &ClientAuth::Certificate { cert: credentials.client.cert_pem.clone(), key: credentials.client.key_pem.clone() },
    )
}

/// A built Kubernetes bay always has certificates: the conductor cannot reach it without.
fn need_credentials<'a>(cluster: &Cluster, credentials: Option<&'a Credentials>) -> magnum_types::Result<&'a Credentials> {
    credentials.ok_or_else(|| {
        MagnumError::unavailable(format!(
            "The certificates of bay {} cannot be read by this conductor (no deployment key); give it the [certificates] \
             key file the API uses.",
            cluster.uuid
        ))
    })
}

fn failed(e: EngineError) -> DriverError {
    DriverError(e.0)
}

#[async_trait]
impl Driver for KubernetesDriver {
    fn name(&self) -> &'static str {
        "docker-kubernetes"
    }

    async fn create(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        self.converge(cluster, template, groups, credentials, fence, &[]).await.map_err(failed)
    }

    async fn update(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
    ) -> Result<Observed, DriverError> {
        self.converge(cluster, template, groups, credentials, fence, &[]).await.map_err(failed)
    }

    async fn delete(&self, cluster: &Cluster, fence: &dyn Fence) -> Result<(), DriverError> {
        let docker = self.docker().map_err(failed)?;
        fence.check().await?;
        crate::docker::remove_owned(&docker, &cluster.uuid.to_string()).await.map_err(failed)
    }

    async fn heal(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        nodes: &[String],
    ) -> Result<Observed, DriverError> {
        self.converge(cluster, template, groups, credentials, fence, nodes).await.map_err(failed)
    }

    async fn upgrade(
        &self,
        cluster: &Cluster,
        to: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
        fence: &dyn Fence,
        max_batch: usize,
    ) -> Result<Observed, DriverError> {
        self.upgrade_in_place(cluster, to, groups, credentials, fence, max_batch).await.map_err(failed)
    }

    async fn provider_answers(&self) -> bool {
        match self.docker() {
            Ok(d) => crate::docker::reachable(&d).await,
            Err(_) => false,
        }
    }

    async fn images(&self) -> Result<Vec<String>, DriverError> {
        let docker = self.docker().map_err(failed)?;
        crate::docker::images::names(&docker).await.map_err(failed)
    }

    async fn observe(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        groups: &[NodeGroup],
        credentials: Option<&Credentials>,
    ) -> Result<Observation, DriverError> {
        self.look(cluster, groups, credentials).await.map_err(failed)
    }

    fn kube_objects(&self) -> Option<&dyn KubeObjects> {
        Some(self)
    }
}
