//! Kubernetes manifests of the pod, replication-controller and service APIs (reference §A5):
//! the text is JSON when it starts with `{`, YAML otherwise, and must be a mapping. What the
//! API shows of an object (name, labels, images, replicas, selector, ports) is read from it;
//! a missing required field is a 400 naming it as upstream does:
//! `Field metadata['name'] can't be empty in manifest.`

use crate::error::{MagnumError, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The most a manifest may weigh (upstream's `max_manifest_size`).
pub const MAX_MANIFEST_BYTES: usize = 512 * 1024;

/// What a manifest says of its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Pods and RCs: the containers' images, in order.
    pub images: Vec<String>,
    /// RCs: desired replicas (1 when unset, as Kubernetes defaults it).
    pub replicas: Option<i64>,
    /// Services: the pod selector.
    pub selector: BTreeMap<String, String>,
    /// Services: the ports as written.
    pub ports: Vec<Value>,
    /// The whole document, for the Kubernetes API.
    pub document: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Pod,
    ReplicationController,
    Service,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::ReplicationController => "ReplicationController",
            Kind::Service => "Service",
        }
    }

    /// The collection in the Kubernetes API (`/api/v1/namespaces/<ns>/<plural>`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::ReplicationController => "replicationcontrollers",
            Kind::Service => "services",
        }
    }

    /// The collection in Magnum's API (`/v1/<collection>`).
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::ReplicationController => "rcs",
            Kind::Service => "services",
        }
    }

    /// The resource word of Magnum's messages and policy rules (`pod:create`, `rc:get`).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::ReplicationController => "rc",
            Kind::Service => "service",
        }
    }

    /// How Magnum's messages name it (`Pod`, `ReplicationController`, `Service`).
    pub fn title(self) -> &'static str {
        self.as_str()
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Pod, Kind::ReplicationController, Kind::Service].into_iter().find(|k| k.as_str() == s)
    }
}

/// The manifest text as a JSON document (YAML is read into the same shape).
pub fn document(text: &str) -> Result<Value> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(MagnumError::invalid(format!("The manifest is larger than {MAX_MANIFEST_BYTES} bytes.")));
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(MagnumError::invalid("The manifest is empty."));
    }
    let doc: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| MagnumError::invalid(format!("The manifest is not valid JSON: {e}.")))?
    } else {
        serde_yaml_ng::from_str(trimmed).map_err(|e| MagnumError::invalid(format!("The manifest is not valid YAML: {e}.")))?
    };
    if !doc.is_object() {
        return Err(MagnumError::invalid("The manifest must be a mapping (a Kubernetes object), not a list or a scalar."));
    }
    Ok(doc)
}

/// Reads the fields the API shows for an object of `kind`, checking the required ones.
pub fn parse(text: &str, kind: Kind) -> Result<Parsed> {
    let doc = document(text)?;
    if let Some(k) = doc.get("kind").and_then(Value::as_str) {
        if k != kind.as_str() {
            return Err(MagnumError::invalid(format!("The manifest describes a {k}, but this API takes a {}.", kind.as_str())));
        }
    }
    let name = required(&doc, &["metadata", "name"])?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| empty(&["metadata", "name"]))?;
    let labels = string_map(doc.pointer("/metadata/labels"), &["metadata", "labels"])?;
    let mut parsed =
        Parsed { name, labels, images: vec![], replicas: None, selector: BTreeMap::new(), ports: vec![], document: doc.clone() };
    match kind {
        Kind::Pod => parsed.images = images(&doc, &["spec", "containers"])?,
        Kind::ReplicationController => {
            parsed.selector = string_map(Some(required(&doc, &["spec", "selector"])?), &["spec", "selector"])?;
            required(&doc, &["spec", "template", "metadata", "labels"])?;
            parsed.images = images(&doc, &["spec", "template", "spec", "containers"])?;
            parsed.replicas = Some(match doc.pointer("/spec/replicas") {
                None | Some(Value::Null) => 1,
                Some(v) => v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    MagnumError::invalid(format!("Field {} must be a whole number of at least 0 in manifest.", path(&["spec", "replicas"])))
                })?,
            });
        }
        Kind::Service => {
            parsed.ports = required(&doc, &["spec", "ports"])?
                .as_array()
                .filter(|a| !a.is_empty())
                .cloned()
                .ok_or_else(|| empty(&["spec", "ports"]))?;
            parsed.selector = string_map(doc.pointer("/spec/selector"), &["spec", "selector"])?;
        }
    }
    Ok(parsed)
}

/// Upstream's spelling of a field path: `spec['template']['spec']`.
fn path(keys: &[&str]) -> String {
    let (first, rest) = keys.split_first().map(|(f, r)| (*f, r)).unwrap_or(("", &[]));
    rest.iter().fold(first.to_owned(), |acc, k| format!("{acc}['{k}']"))
}

fn empty(keys: &[&str]) -> MagnumError {
    MagnumError::invalid(format!("Field {} can't be empty in manifest.", path(keys)))
}

fn required<'a>(doc: &'a Value, keys: &[&str]) -> Result<&'a Value> {
    let mut v = doc;
    for k in keys {
        v = v.get(*k).ok_or_else(|| empty(keys))?;
    }
    match v {
        Value::Null => Err(empty(keys)),
        Value::Object(m) if m.is_empty() => Err(empty(keys)),
        Value::Array(a) if a.is_empty() => Err(empty(keys)),
        Value::String(s) if s.is_empty() => Err(empty(keys)),
        v => Ok(v),
    }
}

fn images(doc: &Value, keys: &[&str]) -> Result<Vec<String>> {
    let containers = required(doc, keys)?.as_array().ok_or_else(|| empty(keys))?;
    containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.get("image")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| MagnumError::invalid(format!("Field {}[{i}]['image'] can't be empty in manifest.", path(keys))))
        })
        .collect()
}

/// A mapping of labels or selectors; values of other scalar types become strings.
fn string_map(v: Option<&Value>, keys: &[&str]) -> Result<BTreeMap<String, String>> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(BTreeMap::new()) };
    let obj: &Map<String, Value> =
        v.as_object().ok_or_else(|| MagnumError::invalid(format!("Field {} must be a mapping in manifest.", path(keys))))?;
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
            _ => Err(MagnumError::invalid(format!("Field {}['{k}'] must be a string in manifest.", path(keys)))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: redis-master\n  labels:\n    name: redis-master\nspec:\n  containers:\n  - name: master\n    image: redis\n    ports:\n    - containerPort: 6379\n";

    #[test]
    fn a_yaml_pod_and_the_same_in_json() {
        let p = parse(POD, Kind::Pod).expect("pod");
        assert_eq!((p.name.as_str(), p.images.clone()), ("redis-master", vec!["redis".to_owned()]));
        assert_eq!(p.labels.get("name").map(String::as_str), Some("redis-master"));
        let json = serde_json::to_string(&p.document).expect("json");
        assert_eq!(parse(&json, Kind::Pod).expect("json pod"), p);
    }

    #[test]
    fn an_rc_with_replicas_and_a_service_with_ports() {
        let rc = "{\"kind\": \"ReplicationController\", \"metadata\": {\"name\": \"web\"}, \"spec\": {\"replicas\": 3, \
                  \"selector\": {\"app\": \"web\"}, \"template\": {\"metadata\": {\"labels\": {\"app\": \"web\"}}, \
                  \"spec\": {\"containers\": [{\"name\": \"w\", \"image\": \"nginx\"}, {\"name\": \"s\", \"image\": \"busybox\"}]}}}}";
        let p = parse(rc, Kind::ReplicationController).expect("rc");
        assert_eq!((p.replicas, p.images.len(), p.selector.get("app").cloned()), (Some(3), 2, Some("web".into())));
        let no_replicas = rc.replace("\"replicas\": 3, ", "");
        assert_eq!(parse(&no_replicas, Kind::ReplicationController).expect("rc").replicas, Some(1));
        let svc =
            "kind: Service\nmetadata:\n  name: front\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n";
        let s = parse(svc, Kind::Service).expect("service");
        assert_eq!((s.name.as_str(), s.ports.len(), s.selector.len()), ("front", 1, 1));
    }

    #[test]
    fn every_missing_field_is_named_as_upstream_names_it() {
        let cases = [
            ("", Kind::Pod, "The manifest is empty."),
            ("- a\n- b\n", Kind::Pod, "must be a mapping"),
            ("{not json", Kind::Pod, "not valid JSON"),
            ("a: [unclosed\n", Kind::Pod, "not valid YAML"),
            ("kind: Pod\nspec: {}\n", Kind::Pod, "Field metadata['name'] can't be empty in manifest."),
            ("metadata: {name: p}\nspec: {}\n", Kind::Pod, "Field spec['containers'] can't be empty in manifest."),
            ("metadata: {name: p}\nspec: {containers: [{name: c}]}\n", Kind::Pod, "Field spec['containers'][0]['image'] can't be empty"),
            ("metadata: {name: r}\nspec: {template: {}}\n", Kind::ReplicationController, "Field spec['selector'] can't be empty"),
            (
                "metadata: {name: r}\nspec: {selector: {a: b}, template: {spec: {}}}\n",
                Kind::ReplicationController,
                "Field spec['template']['metadata']['labels'] can't be empty",
            ),
            ("metadata: {name: s}\nspec: {ports: []}\n", Kind::Service, "Field spec['ports'] can't be empty"),
            ("kind: Service\nmetadata: {name: s}\n", Kind::Pod, "describes a Service"),
            (
                "metadata: {name: p, labels: [a]}\nspec: {containers: [{image: x}]}\n",
                Kind::Pod,
                "Field metadata['labels'] must be a mapping",
            ),
        ];
        for (text, kind, want) in cases {
            let e = parse(text, kind).expect_err(text);
            assert!(e.message.contains(want), "{text:?}: {}", e.message);
        }
        let big = format!("metadata: {{name: p}}\n#{}", "x".repeat(MAX_MANIFEST_BYTES));
        assert!(parse(&big, Kind::Pod).expect_err("big").message.contains("larger than"));
    }
}
