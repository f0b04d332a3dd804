//! NodeGroup: a group of nodes of one role in a cluster. Every cluster has a default master
//! and a default worker nodegroup; `node_count`/`master_count` of a cluster are theirs.

use crate::attrs::{int, opt, req, ro, string, AttrType, Schema};
use crate::error::{MagnumError, Result};
use crate::microversion::Version;
use crate::status::ClusterStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Worker => "worker",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "master" => Some(Role::Master),
            "worker" => Some(Role::Worker),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeGroup {
    /// Exposed: nodegroups show their integer id upstream.
    pub id: i64,
    #[serde(skip)]
    pub version: i64,
    pub uuid: Uuid,
    pub name: String,
    pub cluster_id: Uuid,
    pub project_id: String,
    pub role: Role,
    pub is_default: bool,
    pub node_count: i64,
    pub min_node_count: i64,
    pub max_node_count: Option<i64>,
    pub flavor_id: Option<String>,
    pub image_id: Option<String>,
    pub docker_volume_size: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// Labels its nodes carry (1.14): swarm node labels, Kubernetes node labels.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    /// Taints its nodes carry (1.14; Kubernetes only).
    #[serde(default)]
    pub node_taints: Vec<crate::node_placement::Taint>,
    pub node_addresses: Vec<String>,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub stack_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

pub const SORT_KEYS: [&str; 6] = ["uuid", "name", "role", "node_count", "created_at", "updated_at"];

static NODEGROUP_ATTRS: [crate::attrs::Attr; 24] = [
    req("name", string(1, 255)),
    opt("node_count", int(0, 1_000)),
    opt("min_node_count", int(0, 1_000)),
    opt("max_node_count", int(0, 1_000)),
    opt("role", string(1, 255)),
    opt("flavor_id", string(1, 255)),
    opt("image_id", string(1, 255)),
    opt("docker_volume_size", int(1, 10_000)),
    opt("labels", AttrType::Dict),
    opt("merge_labels", AttrType::Bool),
    opt("node_labels", AttrType::Any),
    opt("node_taints", AttrType::Any),
    ro("id", AttrType::Any),
    ro("uuid", AttrType::Any),
    ro("cluster_id", AttrType::Any),
    ro("project_id", AttrType::Any),
    ro("is_default", AttrType::Any),
    ro("node_addresses", AttrType::Any),
    ro("status", AttrType::Any),
    ro("status_reason", AttrType::Any),
    ro("stack_id", AttrType::Any),
    ro("version", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
];
pub static NODEGROUP_SCHEMA: Schema = Schema { resource: "nodegroup", attrs: &NODEGROUP_ATTRS };

/// Who adds a nodegroup, to which cluster, with which defaults.
pub struct GroupCreator<'a> {
    pub cluster: &'a crate::cluster::Cluster,
    /// The cluster template's image: a group's nodes run it unless the group names another.
    pub image_id: &'a str,
    pub flavors: &'a [String],
    pub version: Version,
    pub now: Timestamp,
}

/// `min ≤ node_count ≤ max`, else a 409 naming the three (upstream's NodeGroupInvalidInput).
pub fn check_bounds(name: &str, node_count: i64, min: i64, max: Option<i64>) -> Result<()> {
    if node_count < min || max.is_some_and(|m| node_count > m) {
        return Err(MagnumError::conflict(format!(
            "Nodegroup {name}: node_count {node_count} must lie between min_node_count {min} and max_node_count {}.",
            max.map(|m| m.to_string()).unwrap_or_else(|| "(unlimited)".into())
        )));
    }
    Ok(())
}

impl NodeGroup {
    /// A new worker group of `who.cluster` from a checked POST body: upstream's defaults
    /// (1 node, min 0, no max, the cluster's flavor and labels, the template's image).
    pub fn from_create(body: &Map<String, Value>, who: &GroupCreator<'_>) -> Result<NodeGroup> {
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let i = |k: &str| body.get(k).and_then(Value::as_i64);
        let name = s("name").unwrap_or_default();
        let role = match s("role").as_deref() {
            None | Some("worker") => Role::Worker,
            Some("master") => {
                return Err(MagnumError::invalid(
                    "Creating master nodegroups is not supported: a cluster has one master group, default-master.",
                ))
            }
            Some(other) => {
                return Err(MagnumError::invalid(format!("Invalid input for field/attribute role. Value: '{other}'. Use 'worker'.")))
            }
        };
        let node_count = i("node_count").unwrap_or(1);
        crate::cluster::check_node_count(node_count, who.version)?;
        let (min, max) = (i("min_node_count").unwrap_or(0), i("max_node_count"));
        if max.is_some_and(|m| m < min) {
            return Err(MagnumError::conflict(format!(
                "Nodegroup {name}: max_node_count {} is below min_node_count {min}.",
                max.unwrap_or_default()
            )));
        }
        check_bounds(&name, node_count, min, max)?;
        let flavor_id = s("flavor_id").or_else(|| who.cluster.flavor_id.clone());
        if let Some(f) = &flavor_id {
            if !who.flavors.iter().any(|k| k == f) {
                return Err(MagnumError::invalid(format!(
                    "Unable to find flavor {f} (flavor_id). Known flavors: {}.",
                    who.flavors.join(", ")
                )));
            }
        }
        let given = body.get("labels").filter(|v| !v.is_null()).map(|v| crate::template::dict(Some(v)));
        let merge = body.get("merge_labels").and_then(Value::as_bool).unwrap_or(false);
        let labels = match given {
            Some(given) if merge => {
                let mut merged = who.cluster.labels.clone();
                merged.extend(given);
                merged
            }
            Some(given) => given,
            None => who.cluster.labels.clone(),
        };
        Ok(NodeGroup {
            id: 0,
            version: 1,
            uuid: Uuid::new_v4(),
            name,
            cluster_id: who.cluster.uuid,
            project_id: who.cluster.project_id.clone(),
            role,
            is_default: false,
            node_count,
            min_node_count: min,
            max_node_count: max,
            flavor_id,
            image_id: Some(s("image_id").unwrap_or_else(|| who.image_id.to_owned())),
            docker_volume_size: i("docker_volume_size").or(who.cluster.docker_volume_size),
            labels,
            node_labels: crate::node_placement::node_labels(body.get("node_labels"))?,
            node_taints: crate::node_placement::node_taints(body.get("node_taints"))?,
            node_addresses: vec![],
            status: ClusterStatus::CreateInProgress,
            status_reason: None,
            stack_id: None,
            created_at: who.now,
            updated_at: None,
        })
    }

    /// Whether the cluster's nodes should include this group's (a group being removed has none).
    pub fn is_wanted(&self) -> bool {
        !matches!(self.status, ClusterStatus::DeleteInProgress | ClusterStatus::DeleteFailed | ClusterStatus::DeleteComplete)
    }

    /// The default nodegroup of `role` for a new cluster.
    pub fn default_for(cluster: &crate::cluster::Cluster, role: Role, image_id: &str) -> NodeGroup {
        let (name, count, flavor) = match role {
            Role::Master => ("default-master", cluster.master_count, cluster.master_flavor_id.clone()),
            Role::Worker => ("default-worker", cluster.node_count, cluster.flavor_id.clone()),
        };
        NodeGroup {
            id: 0,
            version: 1,
            uuid: Uuid::new_v4(),
            name: name.to_owned(),
            cluster_id: cluster.uuid,
            project_id: cluster.project_id.clone(),
            role,
            is_default: true,
            node_count: count,
            min_node_count: if role == Role::Master { 1 } else { 0 },
            max_node_count: None,
            flavor_id: flavor,
            image_id: Some(image_id.to_owned()),
            docker_volume_size: cluster.docker_volume_size,
            labels: cluster.labels.clone(),
            node_labels: BTreeMap::new(),
            node_taints: vec![],
            node_addresses: vec![],
            status: cluster.status,
            status_reason: None,
            stack_id: None,
            created_at: cluster.created_at,
            updated_at: None,
        }
    }

    pub fn to_doc(&self) -> Map<String, Value> {
        let mut doc = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        crate::time::api_timestamps(&mut doc, &self.created_at, self.updated_at.as_ref());
        doc.insert("version".into(), Value::Null);
        doc.insert("merge_labels".into(), Value::Bool(false));
        doc
    }
}
