//! NodeGroup: a group of nodes of one role in a cluster. Every cluster has a default master
//! and a default worker nodegroup; `node_count`/`master_count` of a cluster are theirs.

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
    pub node_addresses: Vec<String>,
    pub status: ClusterStatus,
    pub status_reason: Option<String>,
    pub stack_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

pub const SORT_KEYS: [&str; 6] = ["uuid", "name", "role", "node_count", "created_at", "updated_at"];

impl NodeGroup {
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
