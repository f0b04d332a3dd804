//! Node: one machine of a bay, as the conductor last observed it.

use crate::time::Timestamp;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub uuid: Uuid,
    pub cluster_uuid: Uuid,
    pub project_id: String,
    /// Name of its nodegroup (`default-master`, `default-worker`).
    pub nodegroup: String,
    /// `master` or `worker`.
    pub role: String,
    pub name: String,
    /// Its address on the bay's network.
    pub address: Option<String>,
    /// What the engine and the COE say: `Ready`, `Down`, `Stopped`, ...
    pub status: String,
    pub status_reason: Option<String>,
    pub image_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

pub const SORT_KEYS: [&str; 4] = ["uuid", "name", "role", "status"];

impl Node {
    pub fn to_api(&self) -> serde_json::Map<String, Value> {
        let v = json!({
            "uuid": self.uuid.to_string(),
            "bay_uuid": self.cluster_uuid.to_string(),
            "cluster_id": self.cluster_uuid.to_string(),
            "nodegroup": self.nodegroup,
            "role": self.role,
            "name": self.name,
            "addresses": self.address.iter().collect::<Vec<_>>(),
            "status": self.status,
            "status_reason": self.status_reason,
            "image_id": self.image_id,
            "created_at": crate::time::to_api(&self.created_at),
            "updated_at": self.updated_at.as_ref().map(crate::time::to_api),
        });
        match v {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        }
    }
}
