//! Quotas: how many clusters a project may have (upstream's one resource), and how many nodes its
//! clusters may have in all, nodegroups included (ours: no limit unless set).

use crate::attrs::{int, opt, req, ro, string, AttrType, Schema};
use crate::time::Timestamp;
use serde_json::{json, Value};

/// The only resource upstream quotas cover.
pub const CLUSTER_RESOURCE: &str = "Cluster";

/// The nodes of every nodegroup of a project's clusters, masters included.
pub const NODE_RESOURCE: &str = "Node";

#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub id: i64,
    pub project_id: String,
    pub resource: String,
    pub hard_limit: i64,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

static ATTRS: [crate::attrs::Attr; 6] = [
    req("project_id", string(1, 255)),
    req("resource", string(1, 255)),
    opt("hard_limit", int(0, i64::MAX)),
    ro("id", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
];

pub static QUOTA_SCHEMA: Schema = Schema { resource: "quota", attrs: &ATTRS };

impl Quota {
    pub fn to_api(&self) -> Value {
        json!({
            "id": self.id,
            "project_id": self.project_id,
            "resource": self.resource,
            "hard_limit": self.hard_limit,
            "created_at": crate::time::to_api(&self.created_at),
            "updated_at": self.updated_at.as_ref().map(crate::time::to_api),
        })
    }
}
