//! The RabbitMQ transport (AMQP 0-9-1, through lapin): what lets several `magnum-server api`
//! and `magnum-server conductor` processes work together.
//!
//! - One durable queue, named by the conductors' topic (`magnum-conductor` by default), that
//!   every conductor consumes from (competing consumers):
//!   a command sent while no conductor runs waits there, persistent, until one starts.
//! - Casts are published persistent with publisher confirms. When the broker cannot take one
//!   (restarting, unreachable), the API does not fail the request, whose intent is already in
//!   the store: the command goes to a retry queue that republishes it, in order, as soon as the
//!   broker is back (and the conductors' sweep would find the work anyway).
//! - Calls carry `reply_to` (the API process's own exclusive reply queue), a `correlation_id`
//!   and an `expiration` equal to the caller's timeout, so a call nobody waits for any more is
//!   never carried out. The conductor answers on the reply queue.
//! - Both sides reconnect with exponential backoff (0.1 s doubling to 5 s) when the broker goes
//!   away; a conductor takes a message off the queue only once it holds it (ack on hand-off).

use crate::{CallResult, ConductorCall, ConductorCommand, ConductorRpc, Delivery, RpcError};
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use magnum_types::MagnumError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Messages a conductor may hold unacknowledged (they are acknowledged on hand-off).
const PREFETCH: u16 = 64;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a request waits for the broker to confirm a cast before leaving it to the retry queue.
const CAST_WAIT: Duration = Duration::from_millis(1500);

/// What travels in a message body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Cast { command: ConductorCommand },
    Call { call: ConductorCall },
}

/// Doubles a delay up to [`BACKOFF_MAX`].
fn next(delay: Duration) -> Duration {
    (delay * 2).min(BACKOFF_MAX)
}

async fn declare_queue(channel: &Channel, queue: &str) -> lapin::Result<()> {
    channel.queue_declare(queue.into(), QueueDeclareOptions::durable(), FieldTable::default()).await.map(|_| ())
}

/// One live connection of the API side: a confirming channel and its reply queue.
struct Link {
    _connection: Connection,
    channel: Channel,
    reply_queue: String,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<CallResult>>>>;

/// The API's side: publishes casts and calls to the conductors' queue.
pub struct AmqpRpc {
    url: String,
    queue: String,
    link: tokio::sync::Mutex<Option<Arc<Link>>>,
    pending: Pending,
    /// Casts the broker could not take; republished in order when it is back.
    retry: mpsc::UnboundedSender<ConductorCommand>,
}

impl AmqpRpc {
    /// Connects lazily: the API starts (and serves reads) while the broker is down.
    pub fn new(url: &str, queue: &str) -> Arc<AmqpRpc> {
        let (retry, mut waiting) = mpsc::unbounded_channel::<ConductorCommand>();
        let rpc = Arc::new(AmqpRpc {
            url: url.to_owned(),
            queue: queue.to_owned(),
            link: Default::default(),
            pending: Default::default(),
            retry,
        });
        let weak = Arc::downgrade(&rpc);
        tokio::spawn(async move {
            while let Some(command) = waiting.recv().await {
                let mut delay = BACKOFF_START;
                loop {
                    let Some(rpc) = weak.upgrade() else { return };
                    match rpc.publish(&Wire::Cast { command: command.clone() }, persistent()).await {
                        Ok(()) => {
                            tracing::info!(?command, "command delivered to the message bus after a retry");
                            break;
                        }
                        Err(e) => tracing::debug!(?command, error = %e, "message bus still unavailable; retrying"),
                    }
                    drop(rpc);
                    tokio::time::sleep(delay).await;
                    delay = next(delay);
                }
            }
        });
        rpc
    }

    /// The current link, or a new one.
    async fn link(&self) -> lapin::Result<Arc<Link>> {
        let mut current = self.link.lock().await;
        if let Some(l) = current.as_ref() {
            if l.channel.status().connected() {
                return Ok(l.clone());
            }
        }
        *current = None;
        let connection = Connection::connect(&self.url, ConnectionProperties::default().with_connection_name("magnum-api".into())).await?;
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_queue(&channel, &self.queue).await?;
        let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
        let reply = channel.queue_declare("".into(), options, FieldTable::default()).await?;
        let reply_queue = reply.name().to_string();
        let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
        let mut replies = channel.basic_consume(reply.name().clone(), "".into(), no_ack, FieldTable::default()).await?;
        let pending = self.pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(d)) = replies.next().await {
                let Some(id) = d.properties.correlation_id().as_ref().map(|i| i.to_string()) else { continue };
                let result: CallResult = serde_json::from_slice(&d.data)
                    .unwrap_or_else(|e| Err(MagnumError::internal(format!("a conductor's reply could not be read: {e}"))));
                let waiter = pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                if let Some(tx) = waiter {
                    let _ = tx.send(result);
                }
            }
        });
        tracing::info!(url = %magnum_types::redact::url(&self.url), "connected to the message bus");
        let link = Arc::new(Link { _connection: connection, channel, reply_queue });
        *current = Some(link.clone());
        Ok(link)
    }

    async fn forget_link(&self) {
        *self.link.lock().await = None;
    }

    /// Publishes to the conductors' queue and waits for the broker's confirm.
    async fn publish(&self, wire: &Wire, properties: BasicProperties) -> Result<(), String> {
        self.publish_on(wire, |_| properties).await.map(|_| ())
    }

    async fn publish_on(&self, wire: &Wire, properties: impl FnOnce(&Link) -> BasicProperties) -> Result<Arc<Link>, String> {
        let body = serde_json::to_vec(wire).map_err(|e| format!("cannot encode the message: {e}"))?;
        let link =
            self.link().await.map_err(|e| format!("cannot reach the message bus at {}: {e}", magnum_types::redact::url(&self.url)))?;
        let outcome = async {
            let confirm = link
                .channel
                .basic_publish("".into(), self.queue.as_str().into(), BasicPublishOptions::default(), &body, properties(&link))
                .await?
                .await?;
            Ok::<_, lapin::Error>(confirm.is_ack())
        }
        .await;
        match outcome {
            Ok(true) => Ok(link),
            Ok(false) => Err("the message bus refused the message".into()),
            Err(e) => {
                self.forget_link().await;
                Err(format!("publishing to the message bus failed: {e}"))
            }
        }
    }
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2).with_content_type("application/json".into())
}

#[async_trait]
impl ConductorRpc for AmqpRpc {
    async fn cast(&self, command: ConductorCommand) -> Result<(), RpcError> {
        // A broker that is going away can hold a publish for long: the request does not wait
        // for it (a command that arrives twice is harmless; one that never does is not).
        let sent = tokio::time::timeout(CAST_WAIT, self.publish(&Wire::Cast { command: command.clone() }, persistent())).await;
        let failure = match sent {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => format!("no confirm from the message bus within {} ms", CAST_WAIT.as_millis()),
        };
        tracing::warn!(?command, error = %failure, "message bus unavailable; the command will be sent when it is back");
        self.retry.send(command).map_err(|_| RpcError::Closed)
    }

    async fn call(&self, call: ConductorCall, timeout: Duration) -> CallResult {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), tx);
        let forget = || {
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        };
        let properties = |link: &Link| {
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_correlation_id(id.clone().into())
                .with_reply_to(link.reply_queue.clone().into())
                // A call nobody waits for any more is dropped by the broker, never carried out.
                .with_expiration(timeout.as_millis().to_string().into())
        };
        if let Err(e) = self.publish_on(&Wire::Call { call }, properties).await {
            forget();
            return Err(MagnumError::unavailable(format!("{e}. Retry when the message bus is back.")));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(MagnumError::unavailable("The reply channel closed before a conductor answered; retry.")),
            Err(_) => {
                forget();
                Err(MagnumError::unavailable(format!(
                    "No conductor answered within {} s; the operation may still complete. Check the object's status and retry.",
                    timeout.as_secs()
                )))
            }
        }
    }

    fn transport(&self) -> &'static str {
        "amqp"
    }
}

/// The conductor's side: consumes the conductors' queue and hands every message to `tx` (the
/// conductor's command loop), answering calls on their reply queues. Reconnects forever with
/// backoff; returns when the conductor stops listening.
pub async fn serve(url: String, queue: String, name: String, tx: mpsc::UnboundedSender<Delivery>) {
    let mut delay = BACKOFF_START;
    loop {
        match consume(&url, &queue, &name, &tx).await {
            Ok(()) => {
                tracing::warn!("the message bus closed the connection; reconnecting");
                delay = BACKOFF_START;
            }
            Err(e) => {
                tracing::warn!(url = %magnum_types::redact::url(&url), error = %e, retry_in_ms = delay.as_millis() as u64, "message bus unavailable")
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(delay).await;
        delay = next(delay);
    }
}

async fn consume(url: &str, queue: &str, name: &str, tx: &mpsc::UnboundedSender<Delivery>) -> lapin::Result<()> {
    let connection = Connection::connect(url, ConnectionProperties::default().with_connection_name(name.to_owned().into())).await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    declare_queue(&channel, queue).await?;
    let mut deliveries =
        channel.basic_consume(queue.into(), name.to_owned().into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    tracing::info!(url = %magnum_types::redact::url(url), queue, "consuming from the message bus");
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let wire = serde_json::from_slice::<Wire>(&delivery.data);
        let reply_to = delivery.properties.reply_to().as_ref().map(|r| r.to_string());
        let correlation = delivery.properties.correlation_id().clone();
        // Held in memory from here on: a crash after this loses only a trigger, and the
        // conductors' sweep finds the work in the store.
        delivery.ack(BasicAckOptions::default()).await?;
        match wire {
            Err(e) => tracing::warn!(error = %e, "dropped a message that is not a conductor command"),
            Ok(Wire::Cast { command }) => {
                if tx.send(Delivery::Cast(command)).is_err() {
                    return Ok(());
                }
            }
            Ok(Wire::Call { call }) => {
                let (answer, answered) = oneshot::channel();
                if tx.send(Delivery::Call(call, answer)).is_err() {
                    return Ok(());
                }
                let channel = channel.clone();
                tokio::spawn(async move {
                    let result =
                        answered.await.unwrap_or_else(|_| Err(MagnumError::unavailable("The conductor stopped before answering; retry.")));
                    let (Some(reply_to), Some(correlation)) = (reply_to, correlation) else { return };
                    let body = match serde_json::to_vec(&result) {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot encode a reply");
                            return;
                        }
                    };
                    let properties =
                        BasicProperties::default().with_correlation_id(correlation).with_content_type("application/json".into());
                    if let Err(e) =
                        channel.basic_publish("".into(), reply_to.into(), BasicPublishOptions::default(), &body, properties).await
                    {
                        tracing::warn!(error = %e, "could not send a reply; the caller will time out");
                    }
                });
            }
        }
    }
    Ok(())
}

/// Removes a deployment's queue (its conductors' topic) from the broker; answers how many
/// messages went with it. Refused while conductors consume from it, and, unless `force`, while
/// commands wait in it, so a deployment's pending work is never dropped by accident.
pub async fn remove_queue(url: &str, queue: &str, force: bool) -> Result<u32, MagnumError> {
    let unreachable =
        |e: lapin::Error| MagnumError::unavailable(format!("cannot reach the message bus at {}: {e}", magnum_types::redact::url(url)));
    let connection = Connection::connect(url, ConnectionProperties::default().with_connection_name("magnum-queue-remove".into()))
        .await
        .map_err(unreachable)?;
    let channel = connection.create_channel().await.map_err(unreachable)?;
    let options = lapin::options::QueueDeleteOptions { if_unused: !force, if_empty: !force, nowait: false };
    let removed = channel.queue_delete(queue.into(), options).await.map_err(|e| {
        MagnumError::conflict(format!(
            "queue {queue} was not removed: {e}. It is in use while this deployment's conductors run (stop them first), \
             and it keeps commands not yet carried out (pass --force to drop them)."
        ))
    });
    let _ = connection.close(200, "done".into()).await;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_backoff() {
        let u = uuid::Uuid::nil();
        let cast = serde_json::to_value(Wire::Cast { command: ConductorCommand::ClusterCreate { uuid: u } }).expect("encodes");
        assert_eq!(cast, serde_json::json!({"kind": "cast", "command": {"method": "cluster_create", "uuid": u.to_string()}}));
        let mut d = BACKOFF_START;
        for _ in 0..10 {
            d = next(d);
        }
        assert_eq!(d, BACKOFF_MAX);
    }
}
