//! The AMQP transport against a real RabbitMQ (scripts/start-rabbitmq.sh; scripts/test.sh
//! sets MAGNUM_TEST_AMQP_URL). Without one these tests SKIP loudly, or fail when
//! MAGNUM_REQUIRE_SERVICES=1. Each test uses its own queue.

use magnum_rpc::amqp::{remove_queue, serve, AmqpRpc};
use magnum_rpc::{CallReply, ConductorCall, ConductorCommand, ConductorRpc, Delivery};
use magnum_types::ErrorKind;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

fn broker(test: &str) -> Option<String> {
    match std::env::var("MAGNUM_TEST_AMQP_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => Some(url),
        None if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{test}: MAGNUM_TEST_AMQP_URL is not set but MAGNUM_REQUIRE_SERVICES=1: run scripts/start-rabbitmq.sh")
        }
        None => {
            eprintln!("\n*** SKIPPED {test}: no RabbitMQ (MAGNUM_TEST_AMQP_URL unset). Run scripts/test.sh for the full suite. ***\n");
            None
        }
    }
}

fn queue() -> String {
    format!("magnum-test-{}", Uuid::new_v4().simple())
}

/// A conductor stand-in: answers container logs calls with the call's uuid, records casts.
fn conductor(url: &str, queue: &str) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<ConductorCommand>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (casts_tx, casts) = mpsc::unbounded_channel();
    let bus = tokio::spawn(serve(url.to_owned(), queue.to_owned(), "test-conductor".into(), tx));
    tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            match d {
                Delivery::Cast(c) => {
                    let _ = casts_tx.send(c);
                }
                Delivery::Call(ConductorCall::ContainerLogs { uuid }, reply) => {
                    let _ = reply.send(Ok(CallReply::Output { output: uuid.to_string(), exit_code: None }));
                }
                Delivery::Call(_, reply) => {
                    let _ = reply.send(Err(magnum_types::MagnumError::invalid("not in this test")));
                }
            }
        }
    });
    (bus, casts)
}

async fn next_cast(casts: &mut mpsc::UnboundedReceiver<ConductorCommand>) -> ConductorCommand {
    tokio::time::timeout(Duration::from_secs(10), casts.recv()).await.expect("a cast arrives").expect("open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_casts_and_calls_round_trip() {
    let Some(url) = broker("amqp_casts_and_calls_round_trip") else { return };
    let q = queue();
    let (bus, mut casts) = conductor(&url, &q);
    let rpc = AmqpRpc::new(&url, &q);
    let u = Uuid::new_v4();
    rpc.cast(ConductorCommand::ClusterCreate { uuid: u }).await.expect("cast");
    assert_eq!(next_cast(&mut casts).await, ConductorCommand::ClusterCreate { uuid: u });
    for _ in 0..20 {
        let id = Uuid::new_v4();
        let reply = rpc.call(ConductorCall::ContainerLogs { uuid: id }, Duration::from_secs(10)).await.expect("answered");
        assert_eq!(reply, CallReply::Output { output: id.to_string(), exit_code: None }, "each reply reaches its own caller");
    }
    let e = rpc.call(ConductorCall::ContainerDelete { uuid: u }, Duration::from_secs(10)).await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Invalid, "a conductor's refusal comes back as it was raised");
    bus.abort();
}

/// Commands sent while no conductor runs wait in the durable queue; calls nobody answers
/// time out with a 503 and are never carried out later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_commands_wait_for_a_conductor_and_stale_calls_expire() {
    let Some(url) = broker("amqp_commands_wait_for_a_conductor_and_stale_calls_expire") else { return };
    let q = queue();
    let rpc = AmqpRpc::new(&url, &q);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    rpc.cast(ConductorCommand::ClusterCreate { uuid: a }).await.expect("cast");
    let e = rpc.call(ConductorCall::ContainerLogs { uuid: b }, Duration::from_millis(500)).await.expect_err("nobody answers");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("No conductor answered within"), "{}", e.message);
    rpc.cast(ConductorCommand::ClusterDelete { uuid: a }).await.expect("cast");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // A conductor starts: it gets both commands, in order, and not the expired call.
    let (bus, mut casts) = conductor(&url, &q);
    assert_eq!(next_cast(&mut casts).await, ConductorCommand::ClusterCreate { uuid: a });
    assert_eq!(next_cast(&mut casts).await, ConductorCommand::ClusterDelete { uuid: a });
    let id = Uuid::new_v4();
    let reply = rpc.call(ConductorCall::ContainerLogs { uuid: id }, Duration::from_secs(10)).await.expect("answered");
    assert_eq!(reply, CallReply::Output { output: id.to_string(), exit_code: None }, "the expired call was dropped, not answered late");
    bus.abort();
}

/// No broker: a cast is still accepted (kept for delivery when the broker answers; the
/// broker-restart fault test in magnum-server shows the delivery), a call is a clear 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_unreachable_broker_is_a_clear_503_for_calls() {
    let Some(_) = broker("amqp_unreachable_broker_is_a_clear_503_for_calls") else { return };
    let rpc = AmqpRpc::new("amqp://guest:guest@127.0.0.1:1/%2f", &queue());
    rpc.cast(ConductorCommand::ClusterCreate { uuid: Uuid::new_v4() }).await.expect("accepted for later delivery");
    let e = rpc.call(ConductorCall::ContainerLogs { uuid: Uuid::new_v4() }, Duration::from_secs(2)).await.expect_err("no broker");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("cannot reach the message bus at amqp://guest:***@127.0.0.1:1"), "{}", e.message);
}

/// Two deployments share a broker through their own topics: neither takes the other's work,
/// and each one's queue can be removed without touching the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_two_deployments_on_one_broker_keep_to_their_own_queues() {
    let Some(url) = broker("amqp_two_deployments_on_one_broker_keep_to_their_own_queues") else { return };
    let (ours, theirs) = (queue(), queue());
    let (bus, mut casts) = conductor(&url, &ours);
    let their_rpc = AmqpRpc::new(&url, &theirs);
    let their_work = Uuid::new_v4();
    their_rpc.cast(ConductorCommand::ClusterCreate { uuid: their_work }).await.expect("cast");
    let our_work = Uuid::new_v4();
    AmqpRpc::new(&url, &ours).cast(ConductorCommand::ClusterDelete { uuid: our_work }).await.expect("cast");
    assert_eq!(next_cast(&mut casts).await, ConductorCommand::ClusterDelete { uuid: our_work }, "only our own work arrives");
    assert!(tokio::time::timeout(Duration::from_millis(500), casts.recv()).await.is_err(), "their work never reaches our conductor");

    // Their queue holds a command nobody carried out: removing it needs --force, and says so.
    let e = remove_queue(&url, &theirs, false).await.expect_err("a queue with waiting work");
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(e.message.contains("--force"), "{}", e.message);
    assert_eq!(remove_queue(&url, &theirs, true).await.expect("forced"), 1, "the one waiting command went with it");
    // Ours is in use while our conductor runs; once it stops, the queue goes.
    let e = remove_queue(&url, &ours, false).await.expect_err("a queue in use");
    assert!(e.message.contains("stop them first"), "{}", e.message);
    bus.abort();
    let mut removed = Err(e);
    for _ in 0..50 {
        removed = remove_queue(&url, &ours, false).await;
        if removed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(removed.expect("removed once its conductor stopped"), 0);
}
