//! The checks at the end of a soak, once every fault is undone and the bays had time to
//! settle: what the service promised against what it holds and what is on the engine.

use super::api::Api;
use super::services::Services;
use anyhow::bail;
use magnum_client::Reply;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The invariants, in the order the report prints them.
pub(crate) const INVARIANTS: [&str; 7] = [
    "every answer a 2xx, a 4xx or a 503 with Retry-After (no other 5xx)",
    "every accepted create, resize and delete carried out (or failed with a reason)",
    "no bay left *_IN_PROGRESS",
    "every *_FAILED bay says why",
    "no container, network or volume that belongs to no bay",
    "no process died of a panic",
    "deleting every bay leaves nothing on the engine",
];

#[derive(Default)]
pub(crate) struct Verdict {
    /// Findings per invariant (index into INVARIANTS).
    pub violations: BTreeMap<usize, Vec<String>>,
    /// What the bays ended as: status → count.
    pub statuses: BTreeMap<String, usize>,
    /// Why bays failed (reason → count): not violations, but what to read.
    pub failures: BTreeMap<String, usize>,
    pub settle_seconds: f64,
}

impl Verdict {
    pub fn violate(&mut self, invariant: usize, what: String) {
        self.violations.entry(invariant).or_default().push(what);
    }

    pub fn total(&self) -> usize {
        self.violations.values().map(Vec::len).sum()
    }
}

/// GET that waits out the deployment's recovery: retried on no answer or a 503, up to 60 s.
pub(crate) async fn read(api: &Api, path: &str) -> anyhow::Result<Reply> {
    let started = Instant::now();
    loop {
        for which in 0..api.count() {
            if let Ok(r) = api.plain(which).get(path).await {
                if r.status != 503 {
                    return Ok(r);
                }
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("GET {path}: no answer but 503s for 60 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every bay of the workload's project, by uuid (detail view).
pub(crate) async fn stored_bays(api: &Api) -> anyhow::Result<BTreeMap<String, Value>> {
    let r = read(api, "/v1/clusters/detail?limit=1000").await?;
    let Some(items) = r.body["clusters"].as_array() else { bail!("GET /v1/clusters/detail: {} {}", r.status, r.text) };
    Ok(items.iter().filter_map(|c| Some((c["uuid"].as_str()?.to_owned(), c.clone()))).collect())
}

/// Waits until no bay is `*_IN_PROGRESS` (or `limit` passes); returns the seconds it took.
pub(crate) async fn settle(api: &Api, limit: Duration) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let bays = stored_bays(api).await?;
        let busy: Vec<String> = bays
            .values()
            .filter(|b| b["status"].as_str().is_some_and(|s| s.ends_with("_IN_PROGRESS")))
            .map(|b| format!("{} {}", b["name"].as_str().unwrap_or("?"), b["status"].as_str().unwrap_or("?")))
            .collect();
        if busy.is_empty() || started.elapsed() > limit {
            return Ok(started.elapsed().as_secs_f64());
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("[chaos settle {:>4.0} s] still in progress: {}", started.elapsed().as_secs_f64(), busy.join(", "));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn status_of(bay: &Value) -> &str {
    bay["status"].as_str().unwrap_or("?")
}

/// The checks of a settled deployment; `exits` are processes that ended by themselves.
pub(crate) async fn check(api: &Api, services: &Services, exits: &[String], v: &mut Verdict) -> anyhow::Result<()> {
    let (_, _, server_errors) = api.ledger.tally();
    for e in server_errors {
        v.violate(0, e);
    }
    let stored = stored_bays(api).await?;
    let engine_nodes = services.owned("container").await?;
    let nodes_of = |bay: &str| engine_nodes.iter().filter(|(_, b)| b == bay).count();
    for (uuid, intent) in api.ledger.bays() {
        let name = &intent.name;
        match (stored.get(&uuid), intent.deleted) {
            (None, true) => {}
            (Some(b), true) if status_of(b) == "DELETE_FAILED" => {}
            (Some(b), true) => v.violate(1, format!("bay {name}: delete accepted, but it is {}", status_of(b))),
            (None, false) => v.violate(1, format!("bay {name} ({uuid}): accepted, then lost")),
            (Some(b), false) if status_of(b).ends_with("_COMPLETE") => {
                let shown = b["node_count"].as_i64().unwrap_or(-1);
                if shown != intent.node_count {
                    v.violate(1, format!("bay {name}: {} with node_count {shown}, last accepted {}", status_of(b), intent.node_count));
                }
                let groups = read(api, &format!("/v1/clusters/{uuid}/nodegroups")).await?;
                let groups = groups.body["nodegroups"].as_array().cloned().unwrap_or_default();
                let added: BTreeSet<&str> =
                    groups.iter().filter_map(|g| g["name"].as_str()).filter(|n| !n.starts_with("default-")).collect();
                let asked: BTreeSet<&str> = intent.groups.keys().map(String::as_str).collect();
                if added != asked {
                    v.violate(
                        1,
                        format!("bay {name}: {} with worker groups {added:?}, but the accepted requests leave {asked:?}", status_of(b)),
                    );
                }
                let planned: i64 = groups.iter().filter_map(|g| g["node_count"].as_i64()).sum();
                let on_engine = nodes_of(&uuid) as i64;
                if on_engine != planned {
                    v.violate(
                        1,
                        format!(
                            "bay {name}: {} with {planned} nodes, but the engine holds {on_engine} of its node containers",
                            status_of(b)
                        ),
                    );
                }
            }
            (Some(_), false) => {}
        }
    }
    for b in stored.values() {
        let (name, status) = (b["name"].as_str().unwrap_or("?"), status_of(b));
        *v.statuses.entry(status.to_owned()).or_default() += 1;
        if status.ends_with("_IN_PROGRESS") {
            v.violate(2, format!("bay {name} still {status} {:.0} s after the faults ended", v.settle_seconds));
        }
        if status.ends_with("_FAILED") {
            let reason = b["status_reason"].as_str().unwrap_or_default();
            if reason.trim().is_empty() {
                v.violate(3, format!("bay {name} is {status} with no reason"));
            }
            *v.failures.entry(format!("{status}: {}", reason.chars().take(160).collect::<String>())).or_default() += 1;
        }
    }
    let known: BTreeSet<&String> = stored.keys().collect();
    for kind in ["container", "network", "volume"] {
        let owned = if kind == "container" { engine_nodes.clone() } else { services.owned(kind).await? };
        for (object, bay) in owned.iter().filter(|(_, b)| !known.contains(b)) {
            v.violate(4, format!("{kind} {object} belongs to bay {bay}, which the service does not hold"));
        }
    }
    check_objects(api, v, &stored).await?;
    for e in exits.iter().filter(|e| e.contains("exit status: 101")) {
        v.violate(5, format!("{e} (a panic: see its log)"));
    }
    Ok(())
}

/// Containers, pods and templates: each accepted one is there, each deleted one gone.
async fn check_objects(api: &Api, v: &mut Verdict, stored: &BTreeMap<String, Value>) -> anyhow::Result<()> {
    for (collection, objects) in [("containers", api.ledger.containers()), ("pods", api.ledger.pods())] {
        for (uuid, o) in objects {
            let bay_there = stored.contains_key(&o.bay);
            let r = read(api, &format!("/v1/{collection}/{uuid}")).await?;
            match (o.deleted || !bay_there, r.status) {
                (true, 404) | (false, 200) => {}
                (true, s) => v.violate(1, format!("{collection} {uuid}: deleted (or its bay is gone), but GET answers {s}: {}", r.text)),
                (false, s) => v.violate(1, format!("{collection} {uuid}: accepted on bay {}, but GET answers {s}: {}", o.bay, r.text)),
            }
        }
    }
    for (uuid, t) in api.ledger.templates() {
        let r = read(api, &format!("/v1/clustertemplates/{uuid}")).await?;
        match (t.deleted, r.status) {
            (true, 404) => {}
            (false, 200) if r.body["name"].as_str() == Some(t.name.as_str()) => {}
            (false, 200) => v.violate(1, format!("template {uuid}: last renamed to {}, shows {}", t.name, r.body["name"])),
            (d, s) => v.violate(1, format!("template {uuid} (deleted: {d}): GET answers {s}")),
        }
    }
    Ok(())
}

/// Deletes every bay of the workload and checks the engine holds nothing of theirs after.
pub(crate) async fn clean_up(api: &Api, services: &Services, v: &mut Verdict) -> anyhow::Result<()> {
    let stored = stored_bays(api).await?;
    for uuid in stored.keys() {
        let r = api.plain(0).delete(&format!("/v1/clusters/{uuid}")).await?;
        if r.status != 204 && r.status != 404 {
            v.violate(6, format!("DELETE bay {uuid}: {} {}", r.status, r.text));
        }
    }
    let started = Instant::now();
    while !stored_bays(api).await?.is_empty() {
        if started.elapsed() > Duration::from_secs(180) {
            for b in stored_bays(api).await?.values() {
                v.violate(6, format!("bay {} still {} 180 s after its delete: {}", b["name"], status_of(b), b["status_reason"]));
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for kind in ["container", "network", "volume"] {
        for (object, bay) in services.owned(kind).await? {
            v.violate(6, format!("{kind} {object} of bay {bay} is left after every bay was deleted"));
        }
    }
    Ok(())
}
