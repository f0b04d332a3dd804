//! Pods, replication controllers and services: Kubernetes objects of a Kubernetes bay, kept
//! as per-project API resources (reference §A5).
//!
//! Magnum records who made which object on which bay (uuid, name, project, bay); what the
//! object *is* belongs to the bay's Kubernetes API. The conductor copies the fields the API
//! shows (phase, node, replicas, cluster IP, ...) from Kubernetes into [`LiveState`] whenever it
//! reads the object, so reads show Kubernetes' view, not the manifest as it was sent.
//! Manifests themselves are not stored (as upstream): Kubernetes holds the object.

use crate::attrs::{self, opt, req, ro, AttrType, Schema};
use crate::error::{MagnumError, Result};
use crate::manifest::{Kind, Parsed};
use crate::patch::PatchRules;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The Kubernetes namespace magnum-rs puts objects in (upstream's choice).
pub const NAMESPACE: &str = "default";

/// What Kubernetes last said of an object: the fields the API shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveState {
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Pods: `status.phase` (`Pending`, `Running`, ...); `Unknown` when it is gone from the bay.
    #[serde(default)]
    pub status: Option<String>,
    /// Pods: the node it was scheduled to.
    #[serde(default)]
    pub host: Option<String>,
    /// RCs: desired replicas as Kubernetes holds them (a scale outside magnum shows).
    #[serde(default)]
    pub replicas: Option<i64>,
    /// RCs: pods ready now.
    #[serde(default)]
    pub ready_replicas: Option<i64>,
    /// Services: the pod selector.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// Services: the cluster IP Kubernetes gave it.
    #[serde(default)]
    pub ip: Option<String>,
    /// Services: the ports with Kubernetes' defaults filled in.
    #[serde(default)]
    pub ports: Vec<Value>,
}

impl LiveState {
    /// What a manifest says, before Kubernetes has answered.
    pub fn from_manifest(kind: Kind, p: &Parsed) -> LiveState {
        LiveState {
            images: p.images.clone(),
            labels: p.labels.clone(),
            status: (kind == Kind::Pod).then(|| "Pending".to_owned()),
            replicas: p.replicas,
            selector: p.selector.clone(),
            ports: p.ports.clone(),
            ..LiveState::default()
        }
    }

    /// Reads the shown fields from an object as the Kubernetes API returns it.
    pub fn from_kubernetes(kind: Kind, obj: &Value) -> LiveState {
        let text = |p: &str| obj.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let map = |p: &str| -> BTreeMap<String, String> {
            obj.pointer(p)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect())
                .unwrap_or_default()
        };
        let images = |p: &str| -> Vec<String> {
            obj.pointer(p)
                .and_then(Value::as_array)
                .map(|cs| cs.iter().filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let labels = map("/metadata/labels");
        match kind {
            Kind::Pod => LiveState {
                images: images("/spec/containers"),
                labels,
                status: Some(text("/status/phase").unwrap_or_else(|| "Pending".to_owned())),
                host: text("/spec/nodeName"),
                ..LiveState::default()
            },
            Kind::ReplicationController => LiveState {
                images: images("/spec/template/spec/containers"),
                labels,
                replicas: Some(obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)),
                ready_replicas: Some(obj.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0)),
                ..LiveState::default()
            },
            Kind::Service => LiveState {
                labels,
                selector: map("/spec/selector"),
                ip: text("/spec/clusterIP").filter(|ip| ip != "None"),
                ports: obj.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default(),
                ..LiveState::default()
            },
        }
    }

    /// The state of an object Kubernetes no longer has (deleted outside magnum).
    pub fn gone(&self, kind: Kind) -> LiveState {
        let mut s = self.clone();
        match kind {
            Kind::Pod => s.status = Some("Unknown".to_owned()),
            Kind::ReplicationController => s.ready_replicas = Some(0),
            Kind::Service => s.ip = None,
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KubeObject {
    /// Internal row id, never shown.
    #[serde(skip)]
    pub id: i64,
    /// Optimistic-concurrency counter for user edits.
    #[serde(skip)]
    pub version: i64,
    pub uuid: Uuid,
    pub kind: Kind,
    /// `metadata.name` in Kubernetes; unique per bay and kind.
    pub name: String,
    /// Pods only (upstream's `desc`).
    pub description: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub bay_uuid: Uuid,
    pub state: LiveState,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

const MANIFEST_MAX_CHARS: usize = crate::manifest::MAX_MANIFEST_BYTES;

static POD_ATTRS: [attrs::Attr; 13] = [
    opt("uuid", attrs::string(36, 36)),
    ro("name", AttrType::Any),
    opt("desc", attrs::string(0, 255)),
    req("bay_uuid", attrs::string(1, 255)),
    ro("images", AttrType::Any),
    ro("labels", AttrType::Any),
    ro("status", AttrType::Any),
    ro("host", AttrType::Any),
    opt("manifest", attrs::string(1, MANIFEST_MAX_CHARS)),
    opt("manifest_url", attrs::string(1, 2048)),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
];

static RC_ATTRS: [attrs::Attr; 12] = [
    opt("uuid", attrs::string(36, 36)),
    ro("name", AttrType::Any),
    req("bay_uuid", attrs::string(1, 255)),
    ro("images", AttrType::Any),
    ro("labels", AttrType::Any),
    ro("replicas", AttrType::Any),
    ro("ready_replicas", AttrType::Any),
    opt("manifest", attrs::string(1, MANIFEST_MAX_CHARS)),
    opt("manifest_url", attrs::string(1, 2048)),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
];

static SERVICE_ATTRS: [attrs::Attr; 12] = [
    opt("uuid", attrs::string(36, 36)),
    ro("name", AttrType::Any),
    req("bay_uuid", attrs::string(1, 255)),
    ro("labels", AttrType::Any),
    ro("selector", AttrType::Any),
    ro("ip", AttrType::Any),
    ro("ports", AttrType::Any),
    opt("manifest", attrs::string(1, MANIFEST_MAX_CHARS)),
    opt("manifest_url", attrs::string(1, 2048)),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
];

pub static POD_SCHEMA: Schema = Schema { resource: "pod", attrs: &POD_ATTRS };
pub static RC_SCHEMA: Schema = Schema { resource: "rc", attrs: &RC_ATTRS };
pub static SERVICE_SCHEMA: Schema = Schema { resource: "service", attrs: &SERVICE_ATTRS };

/// A patch may send a new manifest (Kubernetes replaces the object) or, for pods, change the
/// description; everything else is read from Kubernetes. The bay is fixed: an object cannot
/// move between clusters.
pub static PATCH_RULES: PatchRules<'static> = PatchRules {
    internal: &["name", "labels", "images", "status", "host", "bay_uuid", "replicas", "ready_replicas", "selector", "ip", "ports"],
    non_removable: &[],
};

pub const SORT_KEYS: [&str; 4] = ["uuid", "name", "created_at", "updated_at"];

pub fn schema(kind: Kind) -> &'static Schema {
    match kind {
        Kind::Pod => &POD_SCHEMA,
        Kind::ReplicationController => &RC_SCHEMA,
        Kind::Service => &SERVICE_SCHEMA,
    }
}

/// The fields of each kind's list view (upstream's), besides `links`.
pub fn summary(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &["uuid", "name", "desc", "bay_uuid", "images", "labels", "status", "host"],
        Kind::ReplicationController => &["uuid", "name", "images", "bay_uuid", "labels", "replicas", "ready_replicas"],
        Kind::Service => &["uuid", "name", "bay_uuid", "labels", "selector", "ip", "ports"],
    }
}

impl KubeObject {
    /// A new object from a checked POST body and its parsed manifest.
    pub fn from_create(
        kind: Kind,
        body: &Map<String, Value>,
        parsed: &Parsed,
        bay: Uuid,
        project_id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> Result<KubeObject> {
        let uuid = match body.get("uuid").and_then(Value::as_str) {
            Some(u) => crate::names::parse_uuid(u)
                .ok_or_else(|| MagnumError::invalid(format!("Expected a uuid but received {u}. Use the canonical lowercase form.")))?,
            None => Uuid::new_v4(),
        };
        Ok(KubeObject {
            id: 0,
            version: 1,
            uuid,
            kind,
            name: parsed.name.clone(),
            description: body.get("desc").and_then(Value::as_str).map(str::to_owned),
            project_id: project_id.to_owned(),
            user_id: user_id.to_owned(),
            bay_uuid: bay,
            state: LiveState::from_manifest(kind, parsed),
            created_at: now,
            updated_at: None,
        })
    }

    /// The API's document of the object (without `links`).
    pub fn to_api(&self) -> Map<String, Value> {
        let s = &self.state;
        let mut doc = json!({
            "uuid": self.uuid.to_string(),
            "name": self.name,
            "bay_uuid": self.bay_uuid.to_string(),
            "labels": s.labels,
            "created_at": crate::time::to_api(&self.created_at),
            "updated_at": self.updated_at.as_ref().map(crate::time::to_api),
        });
        let extra = match self.kind {
            Kind::Pod => json!({"desc": self.description, "images": s.images, "status": s.status, "host": s.host}),
            Kind::ReplicationController => json!({"images": s.images, "replicas": s.replicas, "ready_replicas": s.ready_replicas}),
            Kind::Service => json!({"selector": s.selector, "ip": s.ip, "ports": s.ports}),
        };
        if let (Some(d), Value::Object(e)) = (doc.as_object_mut(), extra) {
            d.extend(e);
        }
        match doc {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// Upstream's message when the bay is not a Kubernetes one.
pub fn not_kubernetes(coe: &str) -> MagnumError {
    MagnumError::invalid(format!("Cannot fulfill request with a {coe} bay, expecting a kubernetes bay."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;

    #[test]
    fn live_state_follows_what_kubernetes_returns() {
        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web", "tier": 2}},
            "spec": {"nodeName": "node-1", "containers": [{"image": "busybox"}, {"image": "nginx"}]},
            "status": {"phase": "Running"}});
        let s = LiveState::from_kubernetes(Kind::Pod, &pod);
        assert_eq!((s.status.as_deref(), s.host.as_deref()), (Some("Running"), Some("node-1")));
        assert_eq!(s.images, vec!["busybox".to_owned(), "nginx".to_owned()]);
        assert_eq!(s.labels.get("tier").map(String::as_str), Some("2"));
        let unscheduled = LiveState::from_kubernetes(Kind::Pod, &json!({"spec": {"containers": []}}));
        assert_eq!((unscheduled.status.as_deref(), unscheduled.host), (Some("Pending"), None));

        let rc = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "x"}]}}}, "status": {"readyReplicas": 2}});
        let s = LiveState::from_kubernetes(Kind::ReplicationController, &rc);
        assert_eq!((s.replicas, s.ready_replicas, s.images.len()), (Some(3), Some(2), 1));

        let svc = json!({"spec": {"clusterIP": "10.0.0.12", "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]}});
        let s = LiveState::from_kubernetes(Kind::Service, &svc);
        assert_eq!((s.ip.as_deref(), s.ports.len(), s.selector.len()), (Some("10.0.0.12"), 1, 1));
        let headless = LiveState::from_kubernetes(Kind::Service, &json!({"spec": {"clusterIP": "None"}}));
        assert_eq!(headless.ip, None);
    }

    #[test]
    fn views_carry_each_kinds_fields() {
        let text = "kind: ReplicationController\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {app: web}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: w, image: busybox}]}\n";
        let parsed = parse(text, Kind::ReplicationController).expect("rc");
        let body = Map::new();
        let o = KubeObject::from_create(Kind::ReplicationController, &body, &parsed, Uuid::nil(), "p", "u", crate::time::now())
            .expect("object");
        let doc = o.to_api();
        assert_eq!((doc["name"].as_str(), doc["replicas"].as_i64()), (Some("web"), Some(2)));
        assert!(!doc.contains_key("ip") && !doc.contains_key("host"), "{doc:?}");
        for k in summary(Kind::ReplicationController) {
            assert!(doc.contains_key(*k), "{k} missing from {doc:?}");
        }
        let bad = Map::from_iter([("uuid".to_owned(), json!("not-a-uuid"))]);
        assert!(KubeObject::from_create(Kind::Pod, &bad, &parsed, Uuid::nil(), "p", "u", crate::time::now()).is_err());
    }

    #[test]
    fn a_deleted_object_says_so() {
        let s = LiveState { status: Some("Running".into()), host: Some("n".into()), ..LiveState::default() };
        assert_eq!(s.gone(Kind::Pod).status.as_deref(), Some("Unknown"));
    }
}
