//! A group's `node_labels` and `node_taints` on its Nodes. Kubelet registers a node with them
//! (node.env); when the group's change later, the converge sets them on the Node objects. The
//! keys magnum set are recorded on each Node (two annotations), so the ones a group no longer
//! has are taken away while labels and taints of others (kubelet's, the controllers') stay.

use super::node::{self, ENV_FILE};
use crate::docker::nodes::{self, NodeFile};
use crate::docker::plan::NodeSpec;
use crate::docker::EngineError;
use crate::kubernetes::client::{name_of, KubeClient};
use bollard::Docker;
use magnum_types::ErrorKind;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

const LABEL_KEYS: &str = "magnum.openstack.org/node-labels";
const TAINT_KEYS: &str = "magnum.openstack.org/node-taints";

fn recorded(node: &Value, annotation: &str) -> BTreeSet<String> {
    node.pointer("/metadata/annotations")
        .and_then(|a| a.get(annotation))
        .and_then(Value::as_str)
        .map(|s| s.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect())
        // A node from before the record: the group's own keys are what kubelet registered.
        .unwrap_or_default()
}

/// The merge patch that gives `node` the labels and taints of `spec` (None when it has them).
pub(super) fn patch_for(node: &Value, spec: &NodeSpec) -> Option<Value> {
    let labels = node.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
    let (had_labels, had_taints) = (recorded(node, LABEL_KEYS), recorded(node, TAINT_KEYS));
    let mut label_patch = Map::new();
    for gone in had_labels.iter().filter(|k| !spec.labels.contains_key(*k) && labels.contains_key(*k)) {
        label_patch.insert(gone.clone(), Value::Null);
    }
    for (k, v) in &spec.labels {
        if labels.get(k).and_then(Value::as_str) != Some(v.as_str()) {
            label_patch.insert(k.clone(), Value::String(v.clone()));
        }
    }
    let taints: Vec<Value> = node.pointer("/spec/taints").and_then(Value::as_array).cloned().unwrap_or_default();
    let wanted_keys: BTreeSet<&str> = spec.taints.iter().map(|t| t.key.as_str()).collect();
    let mut next: Vec<Value> = taints
        .iter()
        .filter(|t| t.get("key").and_then(Value::as_str).is_some_and(|k| !had_taints.contains(k) && !wanted_keys.contains(k)))
        .cloned()
        .collect();
    next.extend(spec.taints.iter().map(|t| json!({"key": t.key, "value": t.value.clone().unwrap_or_default(), "effect": t.effect})));
    let same_taints = next.len() == taints.len() && next.iter().all(|t| taints.iter().any(|u| same_taint(t, u)));
    let label_keys = spec.labels.keys().cloned().collect::<Vec<_>>().join(",");
    let taint_keys = wanted_keys.iter().copied().collect::<Vec<_>>().join(",");
    let annotations = node.pointer("/metadata/annotations");
    let noted = |a: &str, v: &str| annotations.and_then(|x| x.get(a)).and_then(Value::as_str) == Some(v);
    if label_patch.is_empty() && same_taints && noted(LABEL_KEYS, &label_keys) && noted(TAINT_KEYS, &taint_keys) {
        return None;
    }
    Some(json!({
        "metadata": {
            "resourceVersion": node.pointer("/metadata/resourceVersion"),
            "labels": label_patch,
            "annotations": {LABEL_KEYS: label_keys, TAINT_KEYS: taint_keys},
        },
        "spec": {"taints": next},
    }))
}

fn same_taint(a: &Value, b: &Value) -> bool {
    let field = |t: &Value, k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    ["key", "value", "effect"].iter().all(|k| field(a, k) == field(b, k))
}

/// Sets the labels and taints of `spec` on its Node `node`; false when the Node changed
/// meanwhile (the patch names the version it read), for the next look to do again.
pub(super) async fn sync(kube: &KubeClient, node: &Value, spec: &NodeSpec) -> magnum_types::Result<bool> {
    let Some(patch) = patch_for(node, spec) else { return Ok(true) };
    let name = name_of(node);
    match kube.merge_patch(&format!("/api/v1/nodes/{name}"), &patch, &format!("setting the labels and taints of {name}")).await {
        Ok(_) => {
            tracing::info!(node = name, labels = ?spec.labels, taints = spec.taints.len(), "node labels and taints set as its group has them");
            Ok(true)
        }
        Err(e) if e.kind == ErrorKind::Conflict => Ok(false),
        Err(e) => Err(e),
    }
}

/// A node's settings file made again for its group's present labels and taints (read by its
/// kubelet when it next registers), where it differs.
pub(super) async fn rewrite_settings(
    docker: &Docker,
    n: &super::layout::Placed,
    master: &super::layout::Placed,
) -> Result<(), EngineError> {
    let want = node::env_file(n, master);
    if nodes::read_file(docker, &n.spec.name, ENV_FILE).await.as_deref() == Some(want.as_str()) {
        return Ok(());
    }
    nodes::upload(docker, &n.spec.name, &[NodeFile::new(ENV_FILE, 0o644, want)]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::plan::NodeRole;
    use magnum_types::node_placement::Taint;

    fn spec(labels: &[(&str, &str)], taints: &[(&str, &str)]) -> NodeSpec {
        let mut s = NodeSpec::new("magnum-x-gpu-3".into(), NodeRole::Worker);
        s.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        s.taints =
            taints.iter().map(|(k, v)| Taint { key: k.to_string(), value: Some(v.to_string()), effect: "NoSchedule".into() }).collect();
        s
    }

    fn node(labels: Value, taints: Value, annotations: Value) -> Value {
        json!({"metadata": {"name": "magnum-x-gpu-3", "resourceVersion": "41", "labels": labels, "annotations": annotations},
               "spec": {"taints": taints}})
    }

    #[test]
    fn a_node_as_kubelet_registered_it_only_gets_the_record_of_what_is_magnums() {
        let n = node(
            json!({"accel": "nvidia", "kubernetes.io/hostname": "magnum-x-gpu-3"}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
            json!({}),
        );
        let p = patch_for(&n, &spec(&[("accel", "nvidia")], &[("dedicated", "gpu")])).expect("the record is written");
        assert_eq!(p["metadata"]["labels"], json!({}), "labels as wanted: none changed");
        assert_eq!(p["metadata"]["annotations"], json!({LABEL_KEYS: "accel", TAINT_KEYS: "dedicated"}));
        assert_eq!(p["metadata"]["resourceVersion"], json!("41"), "the patch names the version it read");
        let taints = p["spec"]["taints"].as_array().expect("taints");
        assert_eq!(taints.len(), 2, "others' taints stay: {taints:?}");
        // Once recorded, nothing more to do.
        let done = node(n["metadata"]["labels"].clone(), n["spec"]["taints"].clone(), p["metadata"]["annotations"].clone());
        assert_eq!(patch_for(&done, &spec(&[("accel", "nvidia")], &[("dedicated", "gpu")])), None);
    }

    #[test]
    fn what_the_group_no_longer_has_goes_and_what_it_has_now_comes() {
        let n = node(
            json!({"accel": "nvidia", "kubernetes.io/hostname": "magnum-x-gpu-3"}),
            json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, {"key": "other", "value": "x", "effect": "NoExecute"}]),
            json!({LABEL_KEYS: "accel", TAINT_KEYS: "dedicated"}),
        );
        let p = patch_for(&n, &spec(&[("zone", "a")], &[])).expect("a change");
        assert_eq!(p["metadata"]["labels"], json!({"accel": null, "zone": "a"}), "kubelet's own label untouched");
        assert_eq!(p["spec"]["taints"], json!([{"key": "other", "value": "x", "effect": "NoExecute"}]), "only magnum's taint goes");
        assert_eq!(p["metadata"]["annotations"], json!({LABEL_KEYS: "zone", TAINT_KEYS: ""}));
    }
}
