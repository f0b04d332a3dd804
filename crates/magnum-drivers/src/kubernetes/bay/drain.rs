//! Moving work off nodes before they go: cordon (no new pods), evict (their controllers start
//! them elsewhere), and wait until they run elsewhere. Used by a resize (the leaving worker goes
//! with its volumes) and by an upgrade (the node comes back, made from another image).

use super::converge::kube_failed;
use crate::docker::{nodes, EngineError};
use crate::kubernetes::client::{items, name_of, KubeClient};
use bollard::Docker;
use magnum_types::ErrorKind;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long a leaving node's pods get to stop (and, in an upgrade, to run elsewhere) before
/// the node goes anyway.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Marks a node cordoned by an upgrade, so the upgrade (or its retry) makes it schedulable again
/// and leaves alone the nodes a user cordoned.
const CORDONED_FOR_UPGRADE: &str = "magnum.openstack.org/cordoned-for-upgrade";

/// Marks the node unschedulable (one already gone is fine).
pub async fn cordon(kube: &KubeClient, name: &str) -> Result<(), EngineError> {
    patch_node(kube, name, &json!({"spec": {"unschedulable": true}}), "cordoning").await
}

/// Cordons the node for an upgrade, unless it is cordoned already (a user's decision, kept).
pub async fn cordon_for_upgrade(kube: &KubeClient, name: &str) -> Result<(), EngineError> {
    let node = kube.fetch(&format!("/api/v1/nodes/{name}")).await.map_err(kube_failed)?;
    if node.is_none_or(|n| n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true)) {
        return Ok(());
    }
    let patch = json!({"metadata": {"annotations": {CORDONED_FOR_UPGRADE: "true"}}, "spec": {"unschedulable": true}});
    patch_node(kube, name, &patch, "cordoning for the upgrade").await
}

/// Makes every node an upgrade cordoned schedulable again.
pub async fn uncordon_upgraded(kube: &KubeClient) -> Result<(), EngineError> {
    for node in kube.nodes().await.map_err(kube_failed)? {
        if node.pointer("/metadata/annotations").and_then(|a| a.get(CORDONED_FOR_UPGRADE)).is_none() {
            continue;
        }
        let patch = json!({"metadata": {"annotations": {CORDONED_FOR_UPGRADE: null}}, "spec": {"unschedulable": null}});
        patch_node(kube, name_of(&node), &patch, "making schedulable again after the upgrade").await?;
        tracing::info!(node = name_of(&node), "schedulable again");
    }
    Ok(())
}

async fn patch_node(kube: &KubeClient, name: &str, patch: &Value, what: &str) -> Result<(), EngineError> {
    match kube.merge_patch(&format!("/api/v1/nodes/{name}"), patch, &format!("{what} {name}")).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(kube_failed(e)),
    }
}

fn pods_on(name: &str) -> String {
    format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{name}")
}

/// Whether a controller (not a DaemonSet, which would start it on the same node) owns the pod:
/// deleted, it runs again elsewhere.
fn moves_elsewhere(pod: &Value) -> bool {
    pod.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|owners| {
        owners.iter().any(|o| o.get("controller") == Some(&json!(true)) && o.get("kind") != Some(&json!("DaemonSet")))
    })
}

/// Deletes every pod on the node.
async fn delete_pods(kube: &KubeClient, name: &str) -> Result<(), EngineError> {
    for pod in kube.fetch(&pods_on(name)).await.map_err(kube_failed)?.map(items).unwrap_or_default() {
        let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
        let path = format!("/api/v1/namespaces/{ns}/pods/{}", name_of(&pod));
        kube.remove(&path, &format!("evicting pod {} from {name}", name_of(&pod))).await.map_err(kube_failed)?;
    }
    Ok(())
}

/// Deletes the (cordoned) worker's pods and waits until its kubelet has stopped them (their
/// controllers start them elsewhere), then forgets its Node object and removes its container
/// and volumes.
pub async fn remove_worker(docker: &Docker, kube: &KubeClient, name: &str) -> Result<(), EngineError> {
    tracing::info!(node = %name, "draining and removing worker");
    delete_pods(kube, name).await?;
    let running = nodes::inspect(docker, name).await?.and_then(|c| c.state).and_then(|s| s.running).unwrap_or(false);
    // A stopped worker's kubelet cannot stop anything: its pods go with its Node object.
    let deadline = Instant::now() + if running { DRAIN_LIMIT } else { Duration::ZERO };
    loop {
        let left = kube.fetch(&pods_on(name)).await.map_err(kube_failed)?.map(items).unwrap_or_default();
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            tracing::warn!(node = %name, pods = left.len(), "pods did not stop in time; removing the worker anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    kube.remove(&format!("/api/v1/nodes/{name}"), &format!("deleting node {name}")).await.map_err(kube_failed)?;
    nodes::remove(docker, name).await
}

/// How long one moved pod gets to run elsewhere before the next is moved anyway.
const MOVE_LIMIT: Duration = Duration::from_secs(20);

/// Moves the controlled pods off the (cordoned) nodes one at a time through the eviction API
/// (so disruption budgets hold): each next one once the pods elsewhere all run again, one more
/// than before. Pods no controller owns stay: they run again on their node when it is back.
/// With no room elsewhere a pod waits [`MOVE_LIMIT`], and the rest then go without waiting.
pub async fn move_pods(kube: &KubeClient, names: &[&str]) -> Result<(), EngineError> {
    let on = |p: &Value| p.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| names.contains(&n));
    let all = || async { kube.fetch("/api/v1/pods").await.map_err(kube_failed).map(|d| d.map(items).unwrap_or_default()) };
    let moving: Vec<Value> = all().await?.into_iter().filter(|p| on(p) && moves_elsewhere(p)).collect();
    let mut patient = true;
    for pod in &moving {
        let running_elsewhere = |pods: &[Value]| pods.iter().filter(|p| !on(p) && settled(p)).count();
        let before = running_elsewhere(&all().await?);
        evict_one(kube, pod).await?;
        let deadline = Instant::now() + if patient { MOVE_LIMIT } else { Duration::ZERO };
        loop {
            let pods = all().await?;
            let waiting: Vec<String> = pods.iter().filter(|p| !on(p) && !settled(p)).map(described).collect();
            if waiting.is_empty() && running_elsewhere(&pods) > before {
                break;
            }
            if Instant::now() > deadline {
                if patient {
                    tracing::warn!(pod = name_of(pod), waiting = ?waiting, "the moved pod does not run elsewhere within {} s; moving the rest without waiting", MOVE_LIMIT.as_secs());
                }
                patient = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    // The moved pods stop (within their grace period) before their node goes.
    let deadline = Instant::now() + DRAIN_LIMIT;
    loop {
        let left: Vec<String> = all().await?.iter().filter(|p| on(p) && moves_elsewhere(p)).map(described).collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            tracing::warn!(nodes = ?names, pods = ?left, "moved pods did not stop within {} s; going on", DRAIN_LIMIT.as_secs());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Evicts the pod, retrying while a disruption budget refuses (at most [`DRAIN_LIMIT`]).
async fn evict_one(kube: &KubeClient, pod: &Value) -> Result<(), EngineError> {
    let (name, ns) = (name_of(pod), pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default"));
    let eviction = json!({"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}});
    let deadline = Instant::now() + DRAIN_LIMIT;
    loop {
        match kube.post(&format!("/api/v1/namespaces/{ns}/pods/{name}/eviction"), &eviction, &format!("evicting pod {name}")).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind == ErrorKind::Unavailable && Instant::now() < deadline => {
                tracing::info!(pod = name, why = %e.message, "eviction not allowed yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(kube_failed(e)),
        }
    }
}

/// "name on node (phase, why)", for the log of a drain that did not finish.
fn described(pod: &Value) -> String {
    let s = |path: &str| pod.pointer(path).and_then(Value::as_str).unwrap_or("-");
    let waiting = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",");
    let why = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|c| c.get("message"))
        .and_then(Value::as_str);
    format!(
        "{} on {} ({}, {}{})",
        name_of(pod),
        s("/spec/nodeName"),
        s("/status/phase"),
        waiting,
        why.map(|w| format!(" {w}")).unwrap_or_default()
    )
}

/// A pod that runs (or has ended for good) and is not being deleted.
fn settled(pod: &Value) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    pod.pointer("/metadata/deletionTimestamp").is_none() && matches!(phase, Some("Running" | "Succeeded" | "Failed"))
}
