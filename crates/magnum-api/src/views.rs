//! How objects look on the wire, in both vocabularies: bay/baymodel (2015 names) and
//! cluster/clustertemplate (modern names) are one object shown two ways.

use crate::links::links;
use magnum_types::attrs::Schema;
use magnum_types::cluster::{self, Cluster};
use magnum_types::microversion::Version;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::{self, ClusterTemplate};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocab {
    Bay,
    Cluster,
}

impl Vocab {
    pub fn templates(self) -> &'static str {
        match self {
            Vocab::Bay => "baymodels",
            Vocab::Cluster => "clustertemplates",
        }
    }
    pub fn clusters(self) -> &'static str {
        match self {
            Vocab::Bay => "bays",
            Vocab::Cluster => "clusters",
        }
    }
    pub fn template_rule(self, action: &str) -> String {
        match self {
            Vocab::Bay => format!("baymodel:{action}"),
            Vocab::Cluster => format!("clustertemplate:{action}"),
        }
    }
    pub fn cluster_rule(self, action: &str) -> String {
        match self {
            Vocab::Bay => format!("bay:{action}"),
            Vocab::Cluster => format!("cluster:{action}"),
        }
    }
    pub fn template_schema(self) -> &'static Schema {
        match self {
            Vocab::Bay => &template::BAYMODEL_SCHEMA,
            Vocab::Cluster => &template::CLUSTER_TEMPLATE_SCHEMA,
        }
    }
    pub fn cluster_schema(self) -> &'static Schema {
        match self {
            Vocab::Bay => &cluster::BAY_SCHEMA,
            Vocab::Cluster => &cluster::CLUSTER_SCHEMA,
        }
    }
}

const BAYMODEL_SUMMARY: [&str; 5] = ["uuid", "name", "coe", "image_id", "apiserver_port"];
const CLUSTER_SUMMARY: [&str; 14] = [
    "uuid",
    "name",
    "cluster_template_id",
    "keypair",
    "docker_volume_size",
    "labels",
    "master_flavor_id",
    "flavor_id",
    "create_timeout",
    "node_count",
    "status",
    "master_count",
    "stack_id",
    "health_status",
];
const BAY_SUMMARY: [&str; 8] = ["uuid", "name", "baymodel_id", "node_count", "master_count", "status", "bay_create_timeout", "stack_id"];
const NODEGROUP_SUMMARY: [&str; 9] = ["uuid", "name", "flavor_id", "node_count", "role", "is_default", "image_id", "status", "stack_id"];

fn keep(doc: &mut Map<String, Value>, fields: &[&str]) {
    doc.retain(|k, _| fields.contains(&k.as_str()));
}

pub fn template(t: &ClusterTemplate, vocab: Vocab, summary: bool, base: &str) -> Value {
    let mut doc = t.to_doc();
    if summary && vocab == Vocab::Bay {
        keep(&mut doc, &BAYMODEL_SUMMARY);
    }
    doc.insert("links".into(), links(base, &format!("{}/{}", vocab.templates(), t.uuid)));
    Value::Object(doc)
}

/// How much of a cluster to show.
pub enum Level<'a> {
    /// Collection items.
    Summary,
    /// `/detail` items.
    Detail,
    /// GET of one cluster: adds label differences from its template, and faults.
    One { template_labels: &'a BTreeMap<String, String> },
}

/// The editable document of a cluster in a vocabulary (what JSON-patch applies to).
pub fn cluster_doc(c: &Cluster, vocab: Vocab) -> Map<String, Value> {
    let mut doc = c.to_doc();
    if vocab == Vocab::Bay {
        cluster::rename_keys(&mut doc, true);
        let fields: Vec<&str> = cluster::BAY_SCHEMA.attrs.iter().map(|a| a.name).collect();
        keep(&mut doc, &fields);
    }
    doc
}

pub fn cluster(c: &Cluster, vocab: Vocab, level: Level<'_>, version: Version, base: &str) -> Value {
    let mut doc = c.to_doc();
    // 1.13: the driver's id of the cluster in place of a Heat stack's.
    if vocab == Vocab::Cluster && version.at_least(13) {
        doc.remove("stack_id");
        doc.insert("cluster_id".into(), Value::String(c.driver_id()));
    }
    let summary = matches!(level, Level::Summary);
    match level {
        Level::Summary => keep(&mut doc, &CLUSTER_SUMMARY.map(|k| if k == "stack_id" && version.at_least(13) { "cluster_id" } else { k })),
        Level::Detail => {}
        Level::One { template_labels } => {
            let (overridden, added, skipped) = c.label_diffs(template_labels);
            doc.insert("labels_overridden".into(), Value::Object(overridden));
            doc.insert("labels_added".into(), Value::Object(added));
            doc.insert("labels_skipped".into(), Value::Object(skipped));
            if c.status.is_failed() {
                let reason = Value::String(c.status_reason.clone().unwrap_or_default());
                let faults: Map<String, Value> =
                    ["default-master", "default-worker"].iter().map(|ng| (ng.to_string(), reason.clone())).collect();
                doc.insert("faults".into(), Value::Object(faults));
            }
        }
    }
    if vocab == Vocab::Bay {
        cluster::rename_keys(&mut doc, true);
        let fields: Vec<&str> = if summary { BAY_SUMMARY.to_vec() } else { cluster::BAY_SCHEMA.attrs.iter().map(|a| a.name).collect() };
        keep(&mut doc, &fields);
    }
    doc.insert("links".into(), links(base, &format!("{}/{}", vocab.clusters(), c.uuid)));
    Value::Object(doc)
}

pub fn nodegroup(ng: &NodeGroup, summary: bool, base: &str) -> Value {
    let mut doc = ng.to_doc();
    if summary {
        keep(&mut doc, &NODEGROUP_SUMMARY);
    } else {
        doc.insert("links".into(), links(base, &format!("clusters/{}/nodegroups/{}", ng.cluster_id, ng.uuid)));
    }
    Value::Object(doc)
}
