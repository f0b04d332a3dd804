//! Cluster (Bay): a set of nodes running a COE, built from a template.
//! One object, two vocabularies: a bay's `baymodel_id` is a cluster's `cluster_template_id`.

use crate::attrs::{int, opt, req, ro, string, AttrType, Schema};
use crate::error::{MagnumError, Result};
use crate::microversion::Version;
use crate::patch::PatchRules;
use crate::status::{ClusterStatus, HealthStatus};
use crate::template::{dict, ClusterTemplate};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub version: i64,
    pub uuid: Uuid,
    pub name: String,
    pub cluster_template_id: Uuid,
    pub keypair: Option<String>,
    /// Desired workers of the default worker nodegroup.
    pub node_count: i64,
    /// Desired masters of the default master nodegroup.
    pub master_count: i64,
    pub docker_volume_size: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub master_flavor_id: Option<String>,
    pub flavor_id: Option<String>,
    /// Minutes; 0 means no timeout.
    pub create_timeout: i64,
    pub stack_id: Option<String>,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub health_status: Option<HealthStatus>,
    pub health_status_reason: BTreeMap<String, String>,
    pub discovery_url: Option<String>,
    pub api_address: Option<String>,
    pub coe_version: Option<String>,
    pub container_version: Option<String>,
    pub node_addresses: Vec<String>,
    pub master_addresses: Vec<String>,
    pub fixed_network: Option<String>,
    pub fixed_subnet: Option<String>,
    pub floating_ip_enabled: bool,
    pub master_lb_enabled: bool,
    pub project_id: String,
    pub user_id: String,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    /// Nodes a resize asked to remove first (driver input; not shown).
    #[serde(default)]
    pub nodes_to_remove: Vec<String>,
    /// A registered endpoint (see `external.rs`): nothing is built, delete only forgets.
    #[serde(default)]
    pub external: bool,
    /// An upgrade asked for and not yet done (driver input; not shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
}

/// An upgrade of a cluster to another template of its COE: its nodes are replaced at most
/// `max_batch_size` at a time, the masters first; `cluster_template_id` changes on success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upgrade {
    pub to: Uuid,
    pub max_batch_size: i64,
}

const S255: AttrType = string(1, 255);
const COUNT: AttrType = int(0, 1_000);

static CLUSTER_ATTRS: [crate::attrs::Attr; 39] = [
    opt("uuid", string(36, 36)),
    opt("name", string(1, 242)),
    req("cluster_template_id", S255),
    opt("keypair", S255),
    opt("node_count", COUNT),
    opt("master_count", int(1, 1_000)),
    opt("docker_volume_size", int(1, i32::MAX as i64)),
    opt("labels", AttrType::Dict),
    opt("master_flavor_id", S255),
    opt("flavor_id", S255),
    opt("create_timeout", int(0, i32::MAX as i64)),
    opt("discovery_url", S255),
    opt("merge_labels", AttrType::Bool),
    opt("fixed_network", S255),
    opt("fixed_subnet", S255),
    opt("floating_ip_enabled", AttrType::Bool),
    opt("master_lb_enabled", AttrType::Bool),
    opt("health_status", string(1, 20)),
    opt("health_status_reason", AttrType::Dict),
    ro("status", AttrType::Any),
    ro("status_reason", AttrType::Any),
    ro("stack_id", AttrType::Any),
    ro("api_address", AttrType::Any),
    ro("coe_version", AttrType::Any),
    ro("container_version", AttrType::Any),
    ro("node_addresses", AttrType::Any),
    ro("master_addresses", AttrType::Any),
    ro("faults", AttrType::Any),
    ro("labels_overridden", AttrType::Any),
    ro("labels_added", AttrType::Any),
    ro("labels_skipped", AttrType::Any),
    ro("project_id", AttrType::Any),
    ro("user_id", AttrType::Any),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
    ro("cluster_id", AttrType::Any),
    opt("external_endpoint", AttrType::Any),
    ro("external", AttrType::Bool),
];

static BAY_ATTRS: [crate::attrs::Attr; 26] = [
    opt("uuid", string(36, 36)),
    opt("name", string(1, 242)),
    req("baymodel_id", S255),
    opt("keypair", S255),
    opt("node_count", COUNT),
    opt("master_count", int(1, 1_000)),
    opt("docker_volume_size", int(1, i32::MAX as i64)),
    opt("labels", AttrType::Dict),
    opt("master_flavor_id", S255),
    opt("flavor_id", S255),
    opt("bay_create_timeout", int(0, i32::MAX as i64)),
    opt("discovery_url", S255),
    ro("status", AttrType::Any),
    ro("status_reason", AttrType::Any),
    ro("stack_id", AttrType::Any),
    ro("api_address", AttrType::Any),
    ro("coe_version", AttrType::Any),
    ro("container_version", AttrType::Any),
    ro("node_addresses", AttrType::Any),
    ro("master_addresses", AttrType::Any),
    ro("bay_faults", AttrType::Any),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
    opt("external_endpoint", AttrType::Any),
    ro("external", AttrType::Bool),
];

pub static CLUSTER_SCHEMA: Schema = Schema { resource: "cluster", attrs: &CLUSTER_ATTRS };
pub static BAY_SCHEMA: Schema = Schema { resource: "bay", attrs: &BAY_ATTRS };

static RESIZE_ATTRS: [crate::attrs::Attr; 3] =
    [req("node_count", COUNT), opt("nodes_to_remove", AttrType::StrList), opt("nodegroup", S255)];
/// The body of `actions/resize` (1.7).
pub static RESIZE_SCHEMA: Schema = Schema { resource: "resize", attrs: &RESIZE_ATTRS };

static UPGRADE_ATTRS: [crate::attrs::Attr; 3] =
    [req("cluster_template", S255), opt("max_batch_size", int(1, 1_000)), opt("nodegroup", S255)];
/// The body of `actions/upgrade` (1.8).
pub static UPGRADE_SCHEMA: Schema = Schema { resource: "upgrade", attrs: &UPGRADE_ATTRS };

/// Bay words and the cluster words they stand for.
pub const BAY_RENAMES: [(&str, &str); 3] =
    [("baymodel_id", "cluster_template_id"), ("bay_create_timeout", "create_timeout"), ("bay_faults", "faults")];

/// Renames bay keys of a body to cluster keys (or back, with `to_bay`).
pub fn rename_keys(doc: &mut Map<String, Value>, to_bay: bool) {
    for (bay, cluster) in BAY_RENAMES {
        let (from, to) = if to_bay { (cluster, bay) } else { (bay, cluster) };
        if let Some(v) = doc.remove(from) {
            doc.insert(to.to_owned(), v);
        }
    }
}

const INTERNAL: [&str; 11] = [
    "api_address",
    "node_addresses",
    "master_addresses",
    "stack_id",
    "cluster_id",
    "ca_cert_ref",
    "magnum_cert_ref",
    "etcd_ca_cert_ref",
    "front_proxy_ca_cert_ref",
    "status",
    "status_reason",
];

pub static CLUSTER_PATCH_RULES: PatchRules<'static> =
    PatchRules { internal: &INTERNAL, non_removable: &["cluster_template_id", "baymodel_id"] };

/// Attributes a cluster PATCH may change (everything else is a 400).
pub const PATCHABLE: [&str; 3] = ["node_count", "health_status", "health_status_reason"];

pub const SORT_KEYS: [&str; 9] =
    ["uuid", "name", "status", "node_count", "master_count", "created_at", "updated_at", "create_timeout", "cluster_template_id"];

pub struct ClusterCreator<'a> {
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub flavors: &'a [String],
    pub version: Version,
    pub now: Timestamp,
}

impl Cluster {
    /// The bay's name on its engine, which its network, nodes and volumes carry
    /// (`magnum-<first 8 hex of the uuid>`): what upstream shows as `cluster_id` from 1.13, the
    /// driver's own id of the cluster.
    pub fn driver_id(&self) -> String {
        format!("magnum-{}", &self.uuid.simple().to_string()[..8])
    }

    /// Builds a cluster from a checked POST body (cluster vocabulary) and its template.
    pub fn from_create(body: &Map<String, Value>, template: &ClusterTemplate, who: &ClusterCreator<'_>) -> Result<Cluster> {
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let i = |k: &str| body.get(k).and_then(Value::as_i64);
        let b = |k: &str| body.get(k).and_then(Value::as_bool);
        let uuid = Uuid::new_v4();
        let name = match s("name") {
            Some(n) => {
                crate::names::check_cluster_name(&n)?;
                n
            }
            None => crate::names::generated_name(&uuid, "cluster"),
        };
        let node_count = i("node_count").unwrap_or(1);
        check_node_count(node_count, who.version)?;
        let master_count = i("master_count").unwrap_or(1);
        let master_lb_enabled = b("master_lb_enabled").unwrap_or(template.master_lb_enabled);
        if master_count > 1 && template.coe == "kubernetes" && !master_lb_enabled {
            return Err(MagnumError::invalid(
                "master_count must be 1 when master_lb_enabled is False. Enable master_lb_enabled in the template or the cluster.",
            ));
        }
        let given_labels = body.get("labels").filter(|v| !v.is_null()).map(|v| dict(Some(v)));
        let labels = match (given_labels, b("merge_labels").unwrap_or(false)) {
            (Some(given), true) => {
                let mut merged = template.labels.clone();
                merged.extend(given);
                merged
            }
            (Some(given), false) => given,
            (None, _) => template.labels.clone(),
        };
        let flavor_id = s("flavor_id").or_else(|| template.flavor_id.clone());
        let master_flavor_id = s("master_flavor_id").or_else(|| template.master_flavor_id.clone());
        for (field, flavor) in [("flavor_id", &flavor_id), ("master_flavor_id", &master_flavor_id)] {
            if let Some(f) = flavor {
                if !who.flavors.iter().any(|k| k == f) {
                    return Err(MagnumError::invalid(format!(
                        "Unable to find flavor {f} ({field}). Known flavors: {}.",
                        who.flavors.join(", ")
                    )));
                }
            }
        }
        Ok(Cluster {
            id: 0,
            version: 1,
            uuid,
            name,
            cluster_template_id: template.uuid,
            keypair: s("keypair").or_else(|| template.keypair_id.clone()),
            node_count,
            master_count,
            docker_volume_size: i("docker_volume_size").or(template.docker_volume_size),
            labels,
            master_flavor_id,
            flavor_id,
            create_timeout: i("create_timeout").unwrap_or(60),
            stack_id: None,
            status: ClusterStatus::CreateInProgress,
            status_reason: None,
            health_status: None,
            health_status_reason: BTreeMap::new(),
            discovery_url: s("discovery_url"),
            api_address: None,
            coe_version: None,
            container_version: None,
            node_addresses: vec![],
            master_addresses: vec![],
            fixed_network: s("fixed_network").or_else(|| template.fixed_network.clone()),
            fixed_subnet: s("fixed_subnet").or_else(|| template.fixed_subnet.clone()),
            floating_ip_enabled: b("floating_ip_enabled").unwrap_or(template.floating_ip_enabled),
            master_lb_enabled,
            project_id: who.project_id.to_owned(),
            user_id: who.user_id.to_owned(),
            created_at: who.now,
            updated_at: None,
            nodes_to_remove: vec![],
            external: body.get("external_endpoint").is_some_and(|v| !v.is_null()),
            upgrade: None,
        })
    }

    /// The API-visible attributes (cluster vocabulary), before links and view trimming.
    pub fn to_doc(&self) -> Map<String, Value> {
        let mut doc = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        crate::time::api_timestamps(&mut doc, &self.created_at, self.updated_at.as_ref());
        doc.remove("nodes_to_remove");
        doc.remove("upgrade");
        doc.insert("merge_labels".into(), Value::Bool(false));
        doc.insert("faults".into(), Value::Object(Map::new()));
        if self.health_status_reason.is_empty() {
            doc.insert("health_status_reason".into(), Value::Object(Map::new()));
        }
        doc
    }

    /// Label differences against the template's labels (shown on GET of one cluster).
    pub fn label_diffs(&self, template_labels: &BTreeMap<String, String>) -> (Map<String, Value>, Map<String, Value>, Map<String, Value>) {
        let (mut overridden, mut added, mut skipped) = (Map::new(), Map::new(), Map::new());
        for (k, v) in &self.labels {
            match template_labels.get(k) {
                Some(tv) if tv != v => {
                    overridden.insert(k.clone(), Value::String(tv.clone()));
                }
                None => {
                    added.insert(k.clone(), Value::String(v.clone()));
                }
                _ => {}
            }
        }
        for (k, v) in template_labels {
            if !self.labels.contains_key(k) {
                skipped.insert(k.clone(), Value::String(v.clone()));
            }
        }
        (overridden, added, skipped)
    }
}

/// Zero-node clusters exist from microversion 1.10.
pub fn check_node_count(n: i64, version: Version) -> Result<()> {
    if n < 0 {
        return Err(MagnumError::invalid(format!(
            "Invalid input for field/attribute node_count. Value: '{n}'. Value should be greater or equal to 0"
        )));
    }
    if n == 0 && !version.at_least(10) {
        return Err(MagnumError::invalid(format!(
            "Invalid input for field/attribute node_count. Value: '0'. Value should be greater or equal to 1. \
             (Zero-node clusters need microversion 1.10 or later; you asked for {version}.)"
        )));
    }
    Ok(())
}

/// A checked cluster PATCH: what the user wants changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterChange {
    pub node_count: Option<i64>,
    pub health_status: Option<HealthStatus>,
    pub health_status_reason: Option<BTreeMap<String, String>>,
}

impl ClusterChange {
    pub fn is_empty(&self) -> bool {
        self.node_count.is_none() && self.health_status.is_none() && self.health_status_reason.is_none()
    }
}

/// Checks a patched document against the original and returns the allowed change (possibly
/// empty: the caller decides whether an unchanged `node_count` is a retry).
pub fn cluster_change(before: &Map<String, Value>, after: &Map<String, Value>, version: Version) -> Result<ClusterChange> {
    let changed = crate::patch::changed(before, after);
    let mut refused: Vec<&str> = changed.iter().map(String::as_str).filter(|c| !PATCHABLE.contains(c)).collect();
    refused.sort_unstable();
    if !refused.is_empty() {
        return Err(MagnumError::invalid(format!("cannot change cluster property(ies) {}.", refused.join(", "))));
    }
    let mut change = ClusterChange { node_count: None, health_status: None, health_status_reason: None };
    for key in &changed {
        let attr = CLUSTER_SCHEMA.get(key).ok_or_else(|| MagnumError::invalid(format!("Unknown attribute {key}")))?;
        let value = CLUSTER_SCHEMA.check_value(attr, &after[key.as_str()])?;
        match key.as_str() {
            "node_count" => {
                let n = value.as_i64().ok_or_else(|| MagnumError::invalid("node_count can not be removed."))?;
                check_node_count(n, version)?;
                change.node_count = Some(n);
            }
            "health_status" => {
                change.health_status = value.as_str().map(str::parse).transpose()?;
            }
            _ => change.health_status_reason = Some(dict(Some(&value))),
        }
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::microversion::{MAX, MIN};
    use serde_json::json;

    fn template() -> ClusterTemplate {
        let body = crate::template::CLUSTER_TEMPLATE_SCHEMA
            .check_create(&json!({"coe": "swarm", "image_id": "img", "labels": {"a": "1", "b": "2"}, "keypair_id": "kp"}))
            .expect("valid");
        let flavors = vec!["m1.small".to_owned()];
        ClusterTemplate::from_create(
            &body,
            &crate::template::Creator { project_id: "p", user_id: "u", flavors: &flavors, now: crate::time::now() },
        )
        .expect("valid")
    }

    fn create(body: Value, version: Version) -> Result<Cluster> {
        let checked = CLUSTER_SCHEMA.check_create(&body)?;
        let flavors = vec!["m1.small".to_owned()];
        let who = ClusterCreator { project_id: "p", user_id: "u", flavors: &flavors, version, now: crate::time::now() };
        Cluster::from_create(&checked, &template(), &who)
    }

    #[test]
    fn defaults_come_from_the_template() {
        let c = create(json!({"cluster_template_id": "x"}), MIN).expect("valid");
        assert_eq!((c.node_count, c.master_count, c.create_timeout), (1, 1, 60));
        assert_eq!(c.keypair.as_deref(), Some("kp"));
        assert_eq!(c.labels.len(), 2);
        assert_eq!(c.status, ClusterStatus::CreateInProgress);
        let merged = create(json!({"cluster_template_id": "x", "labels": {"b": "9", "c": "3"}, "merge_labels": true}), MIN).expect("valid");
        assert_eq!(merged.labels.get("b").map(String::as_str), Some("9"));
        let (over, added, skipped) = merged.label_diffs(&template().labels);
        assert_eq!((over.len(), added.len(), skipped.len()), (1, 1, 0));
    }

    #[test]
    fn counts_and_names() {
        assert!(create(json!({"cluster_template_id": "x", "node_count": 0}), MIN).is_err());
        assert_eq!(create(json!({"cluster_template_id": "x", "node_count": 0}), MAX).expect("1.10").node_count, 0);
        assert!(create(json!({"cluster_template_id": "x", "master_count": 0}), MAX).is_err());
        assert!(create(json!({"cluster_template_id": "x", "name": "9lives"}), MAX).is_err());
        assert!(create(json!({"cluster_template_id": "x", "flavor_id": "nope"}), MAX).is_err());
    }

    #[test]
    fn patch_rules() {
        let c = create(json!({"cluster_template_id": "x"}), MIN).expect("valid");
        let before = c.to_doc();
        let mut after = before.clone();
        after.insert("node_count".into(), json!(3));
        assert_eq!(cluster_change(&before, &after, MIN).expect("ok").node_count, Some(3));
        after.insert("name".into(), json!("other"));
        let e = cluster_change(&before, &after, MIN).expect_err("name refused");
        assert!(e.message.contains("cannot change cluster property(ies) name"), "{}", e.message);
        let mut zero = before.clone();
        zero.insert("node_count".into(), json!(0));
        assert!(cluster_change(&before, &zero, MIN).is_err());
        assert!(cluster_change(&before, &zero, MAX).is_ok());
        let mut health = before.clone();
        health.insert("health_status".into(), json!("SICK"));
        assert!(cluster_change(&before, &health, MAX).is_err());
    }

    #[test]
    fn bay_keys_rename_both_ways() {
        let mut m = json!({"baymodel_id": "t", "bay_create_timeout": 5}).as_object().cloned().expect("object");
        rename_keys(&mut m, false);
        assert_eq!(m.get("cluster_template_id"), Some(&json!("t")));
        rename_keys(&mut m, true);
        assert_eq!(m.get("bay_create_timeout"), Some(&json!(5)));
    }
}
