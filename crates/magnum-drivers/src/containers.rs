//! The container API's contract with drivers: Docker containers run on one node of a bay.
//!
//! The conductor chooses the node (placement is its rule, not the driver's) and records what
//! the driver reports. Errors are [`MagnumError`]s whose kind the API shows as is: a missing
//! image is 400, a container the engine no longer has is 404, a node that does not answer
//! is 503.

use crate::Credentials;
use async_trait::async_trait;
use magnum_types::cluster::Cluster;
use magnum_types::container::{Container, ContainerAction, ContainerStatus};
use magnum_types::template::ClusterTemplate;
use magnum_types::Result;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// One bay, as a container operation needs it.
#[derive(Clone, Copy)]
pub struct Bay<'a> {
    pub cluster: &'a Cluster,
    pub template: &'a ClusterTemplate,
    pub credentials: Option<&'a Credentials>,
}

/// What the engine says of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineState {
    pub status: ContainerStatus,
    pub reason: Option<String>,
}

/// Combined stdout and stderr of a command run in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub output: String,
    /// None when the command did not finish within the driver's limit.
    pub exit_code: Option<i64>,
}

/// Each node's containers: by node name, what its engine lists (or why it could not).
pub type BayListing = BTreeMap<String, std::result::Result<HashMap<Uuid, EngineState>, String>>;

#[async_trait]
pub trait ContainerDriver: Send + Sync {
    /// Running nodes that take containers: the workers, or the masters of a bay without any.
    async fn nodes(&self, bay: Bay<'_>) -> Result<Vec<String>>;
    /// Creates (does not start) `c` on node `host`. The image must be on the node, or on the
    /// provider's engine, from where it is loaded onto the node (nodes never pull).
    async fn create(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<EngineState>;
    async fn act(&self, bay: Bay<'_>, host: &str, c: &Container, action: ContainerAction) -> Result<EngineState>;
    async fn logs(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<String>;
    async fn exec(&self, bay: Bay<'_>, host: &str, c: &Container, argv: &[String]) -> Result<ExecOutput>;
    /// Starts `c` again if it was running when its node went down (a reboot of the machine, the
    /// engine restarted): it is not running and it last started before its node did. Returns
    /// its state after the start, or None when it ended during the node's present life (by
    /// itself or by a stop) or when the driver cannot tell: it is left as it is.
    async fn revive(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<Option<EngineState>>;
    /// Removes it from its node; one that is already gone (or whose node is) is no error.
    async fn remove(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<()>;
    /// Every container on every node of the bay, one listing per node.
    async fn list(&self, bay: Bay<'_>) -> Result<BayListing>;
}
