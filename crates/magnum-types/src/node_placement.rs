//! A nodegroup's `node_labels` and `node_taints` (1.14): what its nodes carry so workloads can
//! be placed on them, or kept off. Checked here once, with Kubernetes' syntax (the stricter of
//! the two COEs): a swarm takes the labels as node labels; Kubernetes takes both at kubelet
//! registration.

use crate::error::{MagnumError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

pub const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Labels in Kubernetes' own namespaces a kubelet may set on its node (any other key there is
/// refused at registration, so it is refused here first).
const KUBELET_LABELS: [&str; 9] = [
    "kubernetes.io/hostname",
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "node.kubernetes.io/instance-type",
];
const KUBELET_PREFIXES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];
/// Labels magnum sets itself on every node.
const OWN_PREFIX: &str = "magnum.openstack.org";

fn bad(field: &str, why: String) -> MagnumError {
    MagnumError::invalid(format!("Invalid {field}: {why}"))
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters (empty when `empty_ok`).
fn name_part(s: &str, empty_ok: bool) -> bool {
    if s.is_empty() {
        return empty_ok;
    }
    let edge = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.starts_with(edge)
        && s.ends_with(edge)
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A DNS subdomain: dot-separated lowercase labels, at most 253 characters.
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A label or taint key: `[prefix/]name`.
fn check_key(field: &str, key: &str) -> Result<Option<String>> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if !name_part(name, false) || prefix.is_some_and(|p| !dns_subdomain(p)) {
        return Err(bad(
            field,
            format!(
                "key '{key}' is not a label key: an optional DNS-name prefix and '/', then at most 63 of letters, digits, \
                 '-', '_' and '.', starting and ending with a letter or digit."
            ),
        ));
    }
    Ok(prefix.map(str::to_owned))
}

fn in_namespace(prefix: &str, ns: &str) -> bool {
    prefix == ns || prefix.ends_with(&format!(".{ns}"))
}

/// `node_labels` of a POST body: a dict of label keys to label values.
pub fn node_labels(v: Option<&Value>) -> Result<BTreeMap<String, String>> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(BTreeMap::new()) };
    let Some(map) = v.as_object() else { return Err(bad("node_labels", "it must be an object of label keys to values.".into())) };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let prefix = check_key("node_labels", key)?;
        if let Some(p) = &prefix {
            if in_namespace(p, OWN_PREFIX) {
                return Err(bad("node_labels", format!("key '{key}': the {OWN_PREFIX} namespace is magnum's own.")));
            }
            let kubernetes = in_namespace(p, "kubernetes.io") || in_namespace(p, "k8s.io");
            let allowed = KUBELET_LABELS.contains(&key.as_str()) || KUBELET_PREFIXES.iter().any(|ns| in_namespace(p, ns));
            if kubernetes && !allowed {
                return Err(bad(
                    "node_labels",
                    format!(
                        "key '{key}' is in Kubernetes' own namespace, where a node may set only {} and keys under {}.",
                        KUBELET_LABELS.join(", "),
                        KUBELET_PREFIXES.join(", ")
                    ),
                ));
            }
        }
        let Some(value) = value.as_str() else { return Err(bad("node_labels", format!("the value of '{key}' must be a string."))) };
        if !name_part(value, true) {
            return Err(bad(
                "node_labels",
                format!("value '{value}' of '{key}': at most 63 of letters, digits, '-', '_' and '.', starting and ending with a letter or digit."),
            ));
        }
        out.insert(key.clone(), value.to_owned());
    }
    Ok(out)
}

/// `node_taints` of a POST body: a list of `{key, value?, effect}`.
pub fn node_taints(v: Option<&Value>) -> Result<Vec<Taint>> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(vec![]) };
    let Some(list) = v.as_array() else { return Err(bad("node_taints", "it must be a list of {key, value, effect}.".into())) };
    let mut out = vec![];
    for item in list {
        let Some(obj) = item.as_object() else { return Err(bad("node_taints", format!("{item} is not a {{key, value, effect}} object."))) };
        if let Some(unknown) = obj.keys().find(|k| !matches!(k.as_str(), "key" | "value" | "effect")) {
            return Err(bad("node_taints", format!("unknown attribute '{unknown}' (a taint has key, value and effect).")));
        }
        let key = obj.get("key").and_then(Value::as_str).ok_or_else(|| bad("node_taints", format!("{item} has no key.")))?;
        check_key("node_taints", key)?;
        let value = match obj.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if name_part(s, true) => Some(s.clone()),
            Some(other) => return Err(bad("node_taints", format!("value {other} of taint '{key}' is not a label value."))),
        };
        let effect = obj.get("effect").and_then(Value::as_str).unwrap_or_default();
        if !TAINT_EFFECTS.contains(&effect) {
            return Err(bad("node_taints", format!("effect '{effect}' of taint '{key}': use one of {}.", TAINT_EFFECTS.join(", "))));
        }
        out.push(Taint { key: key.to_owned(), value, effect: effect.to_owned() });
    }
    Ok(out)
}

/// Labels as kubelet's `--node-labels` takes them: `k=v,k2=v2`.
pub fn labels_flag(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Taints as kubelet's `--register-with-taints` takes them: `k=v:Effect,k2=:Effect`.
pub fn taints_flag(taints: &[Taint]) -> String {
    taints.iter().map(|t| format!("{}={}:{}", t.key, t.value.as_deref().unwrap_or_default(), t.effect)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_follow_kubernetes_syntax_and_namespaces() {
        let ok = node_labels(Some(&json!({"gpu": "nvidia", "example.com/tier": "", "node.kubernetes.io/pool": "a"}))).expect("ok");
        assert_eq!(labels_flag(&ok), "example.com/tier=,gpu=nvidia,node.kubernetes.io/pool=a");
        for (body, needle) in [
            (json!({"kubernetes.io/role": "x"}), "Kubernetes' own namespace"),
            (json!({"a.k8s.io/x": "y"}), "Kubernetes' own namespace"),
            (json!({"magnum.openstack.org/nodegroup": "x"}), "magnum's own"),
            (json!({"-bad": "x"}), "not a label key"),
            (json!({"UPPER.example/x": "y"}), "not a label key"),
            (json!({"k": "has space"}), "value 'has space'"),
            (json!({"k": 3}), "must be a string"),
            (json!(["k"]), "object"),
        ] {
            let e = node_labels(Some(&body)).expect_err("refused");
            assert!(e.message.contains(needle) && e.message.contains("node_labels"), "{body}: {}", e.message);
        }
        assert!(node_labels(Some(&json!({"kubernetes.io/arch": "amd64"}))).is_ok(), "on the kubelet's list");
    }

    #[test]
    fn taints_need_a_key_and_a_known_effect() {
        let t = node_taints(Some(&json!([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}, {"key": "x", "effect": "NoExecute"}])))
            .expect("ok");
        assert_eq!(taints_flag(&t), "gpu=yes:NoSchedule,x=:NoExecute");
        for (body, needle) in [
            (json!([{"value": "v", "effect": "NoSchedule"}]), "no key"),
            (json!([{"key": "k", "effect": "Sometimes"}]), "effect 'Sometimes'"),
            (json!([{"key": "k", "effect": "NoSchedule", "operator": "Exists"}]), "unknown attribute 'operator'"),
            (json!({"key": "k"}), "list"),
        ] {
            let e = node_taints(Some(&body)).expect_err("refused");
            assert!(e.message.contains(needle) && e.message.contains("node_taints"), "{body}: {}", e.message);
        }
    }
}
