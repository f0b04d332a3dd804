//! RPC between magnum-api and magnum-conductor.
//!
//! A command is a trigger, not the work: it names a cluster whose desired state the API has
//! already written (durably) to the store. The conductor reads the cluster and makes the world
//! match it, so a lost, repeated or reordered command is harmless: the conductor's periodic
//! sweep picks up any in-progress cluster no command reached.
//!
//! Transports:
//! - [`InProcessBus`]: a channel inside one process (all-in-one mode).
//! - [`StoreSweep`]: no message at all; separate api and conductor processes sharing one
//!   database rely on the conductor's sweep alone (pickup within its `periodic_interval`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Everything the API asks of conductors. Serialized as `{"method": ..., "uuid": ...}` on
/// message transports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ConductorCommand {
    /// The cluster was inserted with `CREATE_IN_PROGRESS`: build it.
    ClusterCreate { uuid: Uuid },
    /// The cluster's desired node counts changed (`UPDATE_IN_PROGRESS`): converge.
    ClusterUpdate { uuid: Uuid },
    /// The cluster is `DELETE_IN_PROGRESS`: tear it down and forget it.
    ClusterDelete { uuid: Uuid },
}

impl ConductorCommand {
    pub fn cluster(&self) -> Uuid {
        match self {
            ConductorCommand::ClusterCreate { uuid }
            | ConductorCommand::ClusterUpdate { uuid }
            | ConductorCommand::ClusterDelete { uuid } => *uuid,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("no conductor is listening on the in-process bus")]
    Closed,
}

/// The API's side: send a command without waiting for its outcome.
#[async_trait]
pub trait ConductorRpc: Send + Sync {
    async fn cast(&self, command: ConductorCommand) -> Result<(), RpcError>;
    /// A name for logs and `/v1` diagnostics.
    fn transport(&self) -> &'static str;
}

/// The all-in-one transport: an unbounded channel to the conductor in the same process.
#[derive(Clone)]
pub struct InProcessBus {
    tx: mpsc::UnboundedSender<ConductorCommand>,
}

impl InProcessBus {
    /// The sender for the API and the receiver for the conductor.
    pub fn new() -> (InProcessBus, mpsc::UnboundedReceiver<ConductorCommand>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (InProcessBus { tx }, rx)
    }
}

#[async_trait]
impl ConductorRpc for InProcessBus {
    async fn cast(&self, command: ConductorCommand) -> Result<(), RpcError> {
        self.tx.send(command).map_err(|_| RpcError::Closed)
    }
    fn transport(&self) -> &'static str {
        "in-process"
    }
}

/// For an API process whose conductors share its database but no message bus: the command
/// is already durable in the store, and the conductors' sweep finds it.
pub struct StoreSweep;

#[async_trait]
impl ConductorRpc for StoreSweep {
    async fn cast(&self, command: ConductorCommand) -> Result<(), RpcError> {
        tracing::debug!(?command, "left for the conductors' sweep");
        Ok(())
    }
    fn transport(&self) -> &'static str {
        "store-sweep"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let u = Uuid::nil();
        let json = serde_json::to_string(&ConductorCommand::ClusterDelete { uuid: u }).expect("encodes");
        assert_eq!(json, format!("{{\"method\":\"cluster_delete\",\"uuid\":\"{u}\"}}"));
        let back: ConductorCommand = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back.cluster(), u);
    }

    #[tokio::test]
    async fn in_process_delivers_in_order_and_reports_closed() {
        let (bus, mut rx) = InProcessBus::new();
        let a = Uuid::new_v4();
        bus.cast(ConductorCommand::ClusterCreate { uuid: a }).await.expect("sent");
        bus.cast(ConductorCommand::ClusterDelete { uuid: a }).await.expect("sent");
        assert_eq!(rx.recv().await, Some(ConductorCommand::ClusterCreate { uuid: a }));
        assert_eq!(rx.recv().await, Some(ConductorCommand::ClusterDelete { uuid: a }));
        drop(rx);
        assert!(matches!(bus.cast(ConductorCommand::ClusterUpdate { uuid: a }).await, Err(RpcError::Closed)));
    }
}
