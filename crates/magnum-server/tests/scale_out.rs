//! Several `magnum-server api` and `magnum-server conductor` processes against one
//! PostgreSQL and one RabbitMQ (both started by scripts/test.sh). No engine here: bays of a
//! COE without a driver are failed by whichever conductor gets them, which is what shows the
//! work went through the bus and a conductor.

mod common;
mod processes;
use magnum_client::Client;
use processes::Deployment;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn wait_for(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(seconds), "{what} did not happen within {seconds} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn services(c: &Client) -> Vec<(String, String)> {
    let body = c.get("/v1/mservices").await.expect("http").body;
    let mut v: Vec<(String, String)> = body["mservices"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| (s["host"].as_str().unwrap_or_default().to_owned(), s["state"].as_str().unwrap_or_default().to_owned()))
        .collect();
    v.sort();
    v
}

/// A create of a registered swarm whose endpoint does not answer: the conductor that takes it
/// fails it (the API accepts it; these deployments build no bays of their own).
fn unreachable_swarm(name: &str) -> Value {
    json!({"name": name, "cluster_template_id": "k8s", "external_endpoint": {"api_address": "tcp://127.0.0.1:9"}})
}

/// Every bay of `uuids` has left CREATE_IN_PROGRESS (a conductor carried the create out).
async fn all_processed(c: &Client, uuids: &[String]) -> bool {
    for u in uuids {
        let r = c.get(&format!("/v1/clusters/{u}")).await.expect("http");
        if r.body["status"] != json!("CREATE_FAILED") {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_postgres_two_apis_two_conductors_share_the_work_and_survive_one() {
    let Some(mut d) = Deployment::new("amqp_postgres_two_apis_two_conductors_share_the_work_and_survive_one").await else { return };
    d.conductor("c1");
    d.conductor("c2");
    let api1 = d.api("api1").await.as_user("p1", "u1", "member").microversion("latest");
    let api2 = d.api("api2").await.as_user("p1", "u1", "member").microversion("latest");
    let admin = api1.clone().as_user("admin", "admin", "admin");
    wait_for("both conductors up", 20, async || {
        (services(&admin).await == [("c1".into(), "up".into()), ("c2".into(), "up".into())]).then_some(Value::Null)
    })
    .await;

    // Work accepted by either API is carried out by some conductor and seen through both.
    let t = api1.post("/v1/clustertemplates", &json!({"name": "k8s", "coe": "swarm-mode", "image_id": "img"})).await.expect("http");
    assert_eq!(t.status, 201, "{}", t.text);
    let mut uuids = vec![];
    for i in 0..20 {
        let api = if i % 2 == 0 { &api1 } else { &api2 };
        let r = api.post("/v1/clusters", &unreachable_swarm(&format!("b{i}"))).await.expect("http");
        assert_eq!(r.status, 202, "{}", r.text);
        uuids.push(r.body["uuid"].as_str().expect("uuid").to_owned());
    }
    wait_for("20 creates carried out", 30, async || all_processed(&api2, &uuids).await.then_some(Value::Null)).await;
    let shown = api2.get(&format!("/v1/clusters/{}", uuids[0])).await.expect("http").body;
    assert!(shown["status_reason"].as_str().is_some_and(|r| r.contains("fix the endpoint and register it again")), "{shown}");
    let (c1, c2) = (d.log("c1"), d.log("c2"));
    let reconciled = |log: &str| log.matches("reconciling").count();
    assert_eq!(
        reconciled(&c1) + reconciled(&c2),
        20,
        "each create reconciled exactly once (c1 {}, c2 {})",
        reconciled(&c1),
        reconciled(&c2)
    );
    assert!(reconciled(&c1) > 0 && reconciled(&c2) > 0, "both conductors took work (c1 {}, c2 {})", reconciled(&c1), reconciled(&c2));

    // One conductor dies: mservices says so, and the other carries on alone.
    d.kill9("c1");
    wait_for("c1 reported down", 20, async || {
        (services(&admin).await == [("c1".into(), "down".into()), ("c2".into(), "up".into())]).then_some(Value::Null)
    })
    .await;
    let mut more = vec![];
    for i in 0..10 {
        let api = if i % 2 == 0 { &api1 } else { &api2 };
        let r = api.post("/v1/clusters", &unreachable_swarm(&format!("after{i}"))).await.expect("http");
        assert_eq!(r.status, 202, "{}", r.text);
        more.push(r.body["uuid"].as_str().expect("uuid").to_owned());
    }
    wait_for("creates after the crash carried out", 30, async || all_processed(&api1, &more).await.then_some(Value::Null)).await;

    // No conductor at all: accepted work waits (in the store and the durable queue) and is
    // carried out by the next conductor that starts.
    d.kill9("c2");
    let r = api1.post("/v1/clusters", &unreachable_swarm("waiting")).await.expect("http");
    assert_eq!(r.status, 202, "{}", r.text);
    let waiting = r.body["uuid"].as_str().expect("uuid").to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(api2.get(&format!("/v1/clusters/{waiting}")).await.expect("http").body["status"], json!("CREATE_IN_PROGRESS"));
    d.conductor("c3");
    wait_for("the waiting create carried out", 30, async || {
        all_processed(&api2, std::slice::from_ref(&waiting)).await.then_some(Value::Null)
    })
    .await;
    d.finish().await;
}
