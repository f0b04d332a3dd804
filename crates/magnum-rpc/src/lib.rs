//! RPC between magnum-api and magnum-conductor.
//!
//! A command is a trigger, not the work: it names a cluster whose desired state the API has
//! already written (durably) to the store. The conductor reads the cluster and makes the world
//! match it, so a lost, repeated or reordered command is harmless: the conductor's periodic
//! sweep picks up any in-progress cluster no command reached.
//!
//! A call is different: the API waits for its answer (a container's operations act on an
//! engine at once and return what happened, as upstream's synchronous RPCs did). Calls carry
//! a timeout, and a conductor's refusal comes back as the same [`MagnumError`] it raised.
//!
//! Transports:
//! - [`InProcessBus`]: a channel inside one process (all-in-one mode), casts and calls.
//! - [`amqp::AmqpRpc`] / [`amqp::serve`]: RabbitMQ, for several api and conductor processes.
//! - [`StoreSweep`]: no message at all; separate api and conductor processes sharing one
//!   database rely on the conductor's sweep alone (pickup within its `periodic_interval`).
//!   It cannot carry calls: they answer 503 saying what to configure.

pub mod amqp;

use async_trait::async_trait;
use magnum_types::container::{Container, ContainerAction};
use magnum_types::k8s_object::KubeObject;
use magnum_types::MagnumError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
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

/// Work the API waits for. Serialized as `{"method": ..., ...}` on message transports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum ConductorCall {
    /// Place the container on a node of its bay, create it there and record it.
    ContainerCreate {
        container: Box<Container>,
    },
    /// Start, stop, reboot, pause or unpause it; answers with its new state.
    ContainerAction {
        uuid: Uuid,
        action: ContainerAction,
    },
    ContainerLogs {
        uuid: Uuid,
    },
    ContainerExec {
        uuid: Uuid,
        command: Vec<String>,
    },
    /// Remove it from its node and forget it.
    ContainerDelete {
        uuid: Uuid,
    },
    /// Record the pod, RC or service and create `document` (its manifest) in the bay's
    /// Kubernetes; answers it as Kubernetes stored it.
    KubeCreate {
        object: Box<KubeObject>,
        document: Value,
    },
    /// Read it from the bay's Kubernetes now (and record what was read).
    KubeShow {
        uuid: Uuid,
    },
    /// Replace it in Kubernetes with `document` (a new manifest).
    KubeReplace {
        uuid: Uuid,
        document: Value,
    },
    /// Delete it from Kubernetes and forget it.
    KubeDelete {
        uuid: Uuid,
    },
    /// List the engines' images now and record them (and the builds under way), so a check
    /// made next reads the engine as it is, not as the last health tick saw it.
    ReportImages,
}

/// A conductor's answer to a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum CallReply {
    Container { container: Box<Container> },
    KubeObject { object: Box<KubeObject> },
    Output { output: String, exit_code: Option<i64> },
    Done,
}

pub type CallResult = Result<CallReply, MagnumError>;

/// What a conductor receives: a command, or a call with the way back to its caller.
#[derive(Debug)]
pub enum Delivery {
    Cast(ConductorCommand),
    Call(ConductorCall, oneshot::Sender<CallResult>),
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("no conductor is listening on the in-process bus")]
    Closed,
}

/// The API's side of the bus.
#[async_trait]
pub trait ConductorRpc: Send + Sync {
    /// Sends a command without waiting for its outcome.
    async fn cast(&self, command: ConductorCommand) -> Result<(), RpcError>;
    /// Sends a call and waits at most `timeout` for its answer (503 when none comes).
    async fn call(&self, call: ConductorCall, timeout: Duration) -> CallResult;
    /// A name for logs and `/v1` diagnostics.
    fn transport(&self) -> &'static str;
}

/// The all-in-one transport: an unbounded channel to the conductor in the same process.
#[derive(Clone)]
pub struct InProcessBus {
    tx: mpsc::UnboundedSender<Delivery>,
}

impl InProcessBus {
    /// The sender for the API and the receiver for the conductor.
    pub fn new() -> (InProcessBus, mpsc::UnboundedReceiver<Delivery>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (InProcessBus { tx }, rx)
    }
}

#[async_trait]
impl ConductorRpc for InProcessBus {
    async fn cast(&self, command: ConductorCommand) -> Result<(), RpcError> {
        self.tx.send(Delivery::Cast(command)).map_err(|_| RpcError::Closed)
    }
    async fn call(&self, call: ConductorCall, timeout: Duration) -> CallResult {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Delivery::Call(call, reply)).map_err(|_| no_conductor())?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(no_conductor()),
            Err(_) => Err(MagnumError::unavailable(format!(
                "The conductor did not answer within {} s; the operation may still complete. Check the object's status and retry.",
                timeout.as_secs()
            ))),
        }
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
    async fn call(&self, call: ConductorCall, _timeout: Duration) -> CallResult {
        tracing::debug!(?call, "a call cannot travel without a message bus");
        Err(MagnumError::unavailable(
            "This API server reaches its conductors through the database only, which cannot carry operations that \
             answer at once (containers, pods, services, RCs). Run `magnum-server all`, or give api and conductors a message bus.",
        ))
    }
    fn transport(&self) -> &'static str {
        "store-sweep"
    }
}

fn no_conductor() -> MagnumError {
    MagnumError::unavailable("No conductor is running in this process to carry out the operation; retry when it is back.")
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
        assert!(matches!(rx.recv().await, Some(Delivery::Cast(ConductorCommand::ClusterCreate { uuid })) if uuid == a));
        assert!(matches!(rx.recv().await, Some(Delivery::Cast(ConductorCommand::ClusterDelete { uuid })) if uuid == a));
        drop(rx);
        assert!(matches!(bus.cast(ConductorCommand::ClusterUpdate { uuid: a }).await, Err(RpcError::Closed)));
    }

    #[tokio::test]
    async fn calls_are_answered_refused_or_time_out() {
        let (bus, mut rx) = InProcessBus::new();
        let u = Uuid::new_v4();
        let conductor = tokio::spawn(async move {
            while let Some(d) = rx.recv().await {
                if let Delivery::Call(call, reply) = d {
                    match call {
                        ConductorCall::ContainerLogs { .. } => {
                            let _ = reply.send(Ok(CallReply::Output { output: "hi\n".into(), exit_code: None }));
                        }
                        ConductorCall::ContainerDelete { .. } => {
                            let _ = reply.send(Err(MagnumError::not_found("Container x could not be found.")));
                        }
                        // Never answered: the caller's timeout ends the wait.
                        other => std::mem::forget((other, reply)),
                    }
                }
            }
        });
        let t = Duration::from_millis(200);
        let out = bus.call(ConductorCall::ContainerLogs { uuid: u }, t).await.expect("answered");
        assert_eq!(out, CallReply::Output { output: "hi\n".into(), exit_code: None });
        let e = bus.call(ConductorCall::ContainerDelete { uuid: u }, t).await.expect_err("refused");
        assert_eq!(e.kind, magnum_types::ErrorKind::NotFound);
        let e = bus.call(ConductorCall::ContainerExec { uuid: u, command: vec!["true".into()] }, t).await.expect_err("no answer");
        assert_eq!(e.kind, magnum_types::ErrorKind::Unavailable);
        assert!(e.message.contains("did not answer"), "{}", e.message);
        conductor.abort();
    }

    #[test]
    fn call_wire_form() {
        let u = Uuid::nil();
        let call = ConductorCall::ContainerAction { uuid: u, action: ContainerAction::Pause };
        let json = serde_json::to_value(&call).expect("encodes");
        assert_eq!(json, serde_json::json!({"method": "container_action", "uuid": u.to_string(), "action": "pause"}));
        let reply: CallResult = Err(MagnumError::invalid("bad"));
        let back: CallResult = serde_json::from_str(&serde_json::to_string(&reply).expect("encodes")).expect("decodes");
        assert_eq!(back, reply);
    }
}
