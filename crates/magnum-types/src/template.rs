//! ClusterTemplate (BayModel): a template for clusters. One object, two vocabularies.

use crate::attrs::{int, opt, req, ro, string, Access, AttrType, Schema};
use crate::coe::Coe;
use crate::error::{MagnumError, Result};
use crate::patch::PatchRules;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterTemplate {
    /// Internal row id: the default sort order; never shown.
    #[serde(skip)]
    pub id: i64,
    /// Optimistic-concurrency version; never shown.
    #[serde(skip)]
    pub version: i64,
    pub uuid: Uuid,
    pub name: Option<String>,
    pub coe: String,
    pub image_id: String,
    pub flavor_id: Option<String>,
    pub master_flavor_id: Option<String>,
    pub dns_nameserver: Option<String>,
    pub keypair_id: Option<String>,
    pub external_network_id: Option<String>,
    pub fixed_network: Option<String>,
    pub fixed_subnet: Option<String>,
    pub network_driver: Option<String>,
    pub volume_driver: Option<String>,
    pub apiserver_port: Option<i64>,
    pub docker_volume_size: Option<i64>,
    pub docker_storage_driver: Option<String>,
    pub cluster_distro: Option<String>,
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub ssh_authorized_key: Option<String>,
    pub registry_enabled: bool,
    pub labels: BTreeMap<String, String>,
    pub tls_disabled: bool,
    pub public: bool,
    pub server_type: String,
    pub insecure_registry: Option<String>,
    pub master_lb_enabled: bool,
    pub floating_ip_enabled: bool,
    pub hidden: bool,
    pub tags: Option<String>,
    pub driver: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

const S255: AttrType = string(1, 255);

static ATTRS: [crate::attrs::Attr; 37] = [
    opt("uuid", string(36, 36)),
    opt("name", S255),
    req("coe", S255),
    req("image_id", S255),
    opt("flavor_id", S255),
    opt("master_flavor_id", S255),
    opt("dns_nameserver", S255),
    opt("keypair_id", S255),
    opt("external_network_id", S255),
    opt("fixed_network", S255),
    opt("fixed_subnet", S255),
    opt("network_driver", S255),
    opt("volume_driver", S255),
    opt("apiserver_port", int(1024, 65535)),
    opt("docker_volume_size", int(1, i32::MAX as i64)),
    opt("docker_storage_driver", S255),
    opt("cluster_distro", S255),
    opt("http_proxy", S255),
    opt("https_proxy", S255),
    opt("no_proxy", S255),
    opt("ssh_authorized_key", string(1, 65535)),
    opt("registry_enabled", AttrType::Bool),
    opt("labels", AttrType::Dict),
    opt("tls_disabled", AttrType::Bool),
    opt("public", AttrType::Bool),
    opt("server_type", S255),
    opt("insecure_registry", S255),
    opt("master_lb_enabled", AttrType::Bool),
    opt("floating_ip_enabled", AttrType::Bool),
    opt("hidden", AttrType::Bool),
    opt("tags", string(0, 255)),
    opt("driver", string(0, 255)),
    ro("project_id", S255),
    ro("user_id", S255),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
];

pub static BAYMODEL_SCHEMA: Schema = Schema { resource: "baymodel", attrs: &ATTRS };
pub static CLUSTER_TEMPLATE_SCHEMA: Schema = Schema { resource: "cluster_template", attrs: &ATTRS };

pub static PATCH_RULES: PatchRules<'static> = PatchRules {
    internal: &[],
    non_removable: &[
        "network_driver",
        "external_network_id",
        "tls_disabled",
        "public",
        "server_type",
        "coe",
        "registry_enabled",
        "cluster_distro",
        "hidden",
        "image_id",
    ],
};

/// Columns a client may sort template lists by.
pub const SORT_KEYS: [&str; 10] =
    ["uuid", "name", "coe", "image_id", "flavor_id", "apiserver_port", "created_at", "updated_at", "public", "server_type"];

const STORAGE_DRIVERS: [&str; 3] = ["devicemapper", "overlay", "overlay2"];
const SERVER_TYPES: [&str; 2] = ["vm", "bm"];

/// Who creates the template, and what the deployment knows (for validation).
pub struct Creator<'a> {
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub flavors: &'a [String],
    pub now: Timestamp,
}

impl ClusterTemplate {
    /// Builds a template from a checked POST body (see [`Schema::check_create`]).
    pub fn from_create(body: &Map<String, Value>, who: &Creator<'_>) -> Result<ClusterTemplate> {
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let i = |k: &str| body.get(k).and_then(Value::as_i64);
        let b = |k: &str, default: bool| body.get(k).and_then(Value::as_bool).unwrap_or(default);
        let uuid = match s("uuid") {
            Some(u) => crate::names::parse_uuid(&u).ok_or_else(|| MagnumError::invalid(format!("Expected a uuid but received {u}.")))?,
            None => Uuid::new_v4(),
        };
        let coe = Coe::parse(&s("coe").unwrap_or_default())?;
        let mut t = ClusterTemplate {
            id: 0,
            version: 1,
            uuid,
            name: Some(s("name").unwrap_or_else(|| crate::names::generated_name(&uuid, "template"))),
            coe: coe.as_str().to_owned(),
            image_id: s("image_id").unwrap_or_default(),
            flavor_id: s("flavor_id"),
            master_flavor_id: s("master_flavor_id"),
            dns_nameserver: s("dns_nameserver"),
            keypair_id: s("keypair_id"),
            external_network_id: s("external_network_id"),
            fixed_network: s("fixed_network"),
            fixed_subnet: s("fixed_subnet"),
            network_driver: s("network_driver").or_else(|| Some(coe.network_drivers()[0].to_owned())),
            volume_driver: s("volume_driver"),
            apiserver_port: i("apiserver_port"),
            docker_volume_size: i("docker_volume_size"),
            docker_storage_driver: s("docker_storage_driver"),
            cluster_distro: s("cluster_distro"),
            http_proxy: s("http_proxy"),
            https_proxy: s("https_proxy"),
            no_proxy: s("no_proxy"),
            ssh_authorized_key: s("ssh_authorized_key"),
            registry_enabled: b("registry_enabled", false),
            labels: dict(body.get("labels")),
            tls_disabled: b("tls_disabled", false),
            public: b("public", false),
            server_type: s("server_type").unwrap_or_else(|| "vm".into()),
            insecure_registry: s("insecure_registry"),
            master_lb_enabled: b("master_lb_enabled", false),
            floating_ip_enabled: b("floating_ip_enabled", true),
            hidden: b("hidden", false),
            tags: s("tags"),
            driver: s("driver"),
            project_id: who.project_id.to_owned(),
            user_id: who.user_id.to_owned(),
            created_at: who.now,
            updated_at: None,
        };
        t.validate(who.flavors)?;
        t.image_id = t.image_id.trim().to_owned();
        Ok(t)
    }

    /// Rules across fields, run after create and after every patch.
    pub fn validate(&self, flavors: &[String]) -> Result<()> {
        let coe = Coe::parse(&self.coe)?;
        if let Some(nd) = &self.network_driver {
            if !coe.network_drivers().contains(&nd.as_str()) {
                return Err(MagnumError::invalid(format!(
                    "Cannot fulfill request with a {nd} network_driver, expecting a {} network_driver.",
                    coe.network_drivers().join("/")
                )));
            }
        }
        if let Some(vd) = &self.volume_driver {
            if !coe.volume_drivers().contains(&vd.as_str()) {
                return Err(MagnumError::invalid(format!(
                    "Cannot fulfill request with a {vd} volume_driver, expecting a {} volume_driver.",
                    coe.volume_drivers().join("/")
                )));
            }
        }
        if let Some(dns) = &self.dns_nameserver {
            for part in dns.split(',') {
                if part.trim().parse::<Ipv4Addr>().is_err() {
                    return Err(MagnumError::invalid(format!(
                        "Invalid dns_nameserver '{dns}': expected IPv4 addresses separated by commas."
                    )));
                }
            }
        }
        if let Some(sd) = &self.docker_storage_driver {
            if !STORAGE_DRIVERS.contains(&sd.as_str()) {
                return Err(MagnumError::invalid(format!(
                    "Invalid docker_storage_driver '{sd}'. Acceptable values are: {}.",
                    STORAGE_DRIVERS.join(", ")
                )));
            }
            if sd == "devicemapper" && self.docker_volume_size.is_some_and(|v| v < 3) {
                return Err(MagnumError::invalid("docker volume size must be at least 3 GB when using the devicemapper storage driver."));
            }
        }
        if !SERVER_TYPES.contains(&self.server_type.as_str()) {
            return Err(MagnumError::invalid(format!("Invalid server_type '{}'. Acceptable values are: vm, bm.", self.server_type)));
        }
        for (field, flavor) in [("flavor_id", &self.flavor_id), ("master_flavor_id", &self.master_flavor_id)] {
            if let Some(f) = flavor {
                if !flavors.iter().any(|known| known == f) {
                    return Err(MagnumError::invalid(format!(
                        "Unable to find flavor {f} ({field}). Known flavors: {}.",
                        flavors.join(", ")
                    )));
                }
            }
        }
        if self.image_id.trim().is_empty() {
            return Err(MagnumError::invalid("Mandatory field missing: image_id."));
        }
        Ok(())
    }

    /// The API-visible attributes as a JSON object (before links and vocabulary changes).
    pub fn to_doc(&self) -> Map<String, Value> {
        let mut doc = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        crate::time::api_timestamps(&mut doc, &self.created_at, self.updated_at.as_ref());
        doc
    }

    /// Applies a patched document (already checked against the schema) to a copy of self.
    pub fn with_doc(&self, doc: &Map<String, Value>, flavors: &[String]) -> Result<ClusterTemplate> {
        let mut merged = serde_json::to_value(self).map_err(|e| MagnumError::internal(e.to_string()))?;
        if let Value::Object(m) = &mut merged {
            for (k, v) in doc {
                if ATTRS.iter().any(|a| a.name == k && a.access != Access::ReadOnly) {
                    m.insert(k.clone(), v.clone());
                }
            }
            // Booleans and labels have defaults rather than nulls.
            for (k, default) in [
                ("registry_enabled", false),
                ("tls_disabled", false),
                ("public", false),
                ("master_lb_enabled", false),
                ("floating_ip_enabled", true),
                ("hidden", false),
            ] {
                if m.get(k).is_none_or(Value::is_null) {
                    m.insert(k.into(), Value::Bool(default));
                }
            }
            if m.get("labels").is_none_or(Value::is_null) {
                m.insert("labels".into(), Value::Object(Map::new()));
            }
            if m.get("server_type").is_none_or(Value::is_null) {
                m.insert("server_type".into(), Value::String("vm".into()));
            }
        }
        let mut t: ClusterTemplate = serde_json::from_value(merged).map_err(|e| MagnumError::invalid(format!("Invalid patch: {e}")))?;
        t.id = self.id;
        t.version = self.version;
        t.coe = Coe::parse(&t.coe)?.as_str().to_owned();
        t.validate(flavors)?;
        Ok(t)
    }
}

/// Changes allowed on a template some cluster uses: a rename, or publishing it.
pub fn change_allowed_while_in_use(changed: &[String]) -> bool {
    changed == ["name"] || changed.iter().all(|c| matches!(c.as_str(), "public" | "hidden" | "tags"))
}

pub(crate) fn dict(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn creator(flavors: &[String]) -> Creator<'_> {
        Creator { project_id: "p1", user_id: "u1", flavors, now: crate::time::now() }
    }

    fn make(body: Value) -> Result<ClusterTemplate> {
        let flavors = vec!["m1.small".to_owned()];
        let checked = CLUSTER_TEMPLATE_SCHEMA.check_create(&body)?;
        ClusterTemplate::from_create(&checked, &creator(&flavors))
    }

    #[test]
    fn defaults() {
        let t = make(json!({"coe": "swarm", "image_id": "magnum/swarm-node"})).expect("valid");
        assert_eq!(t.network_driver.as_deref(), Some("docker"));
        assert_eq!(t.server_type, "vm");
        assert!(t.floating_ip_enabled && !t.public && !t.tls_disabled);
        assert!(t.name.as_deref().is_some_and(|n| n.ends_with("-template")));
    }

    #[test]
    fn validation_errors() {
        for (body, needle) in [
            (json!({"coe": "mesos", "image_id": "i"}), "COE type mesos is not supported"),
            (json!({"coe": "kubernetes", "image_id": "i", "network_driver": "docker"}), "network_driver"),
            (json!({"coe": "swarm", "image_id": "i", "volume_driver": "cinder"}), "volume_driver"),
            (json!({"coe": "swarm", "image_id": "i", "dns_nameserver": "8.8.8.999"}), "dns_nameserver"),
            (json!({"coe": "swarm", "image_id": "i", "flavor_id": "m1.huge"}), "Unable to find flavor m1.huge"),
            (json!({"coe": "swarm", "image_id": "i", "server_type": "pc"}), "server_type"),
            (json!({"coe": "swarm", "image_id": "i", "apiserver_port": 80}), "greater or equal to 1024"),
            (json!({"coe": "swarm", "image_id": "i", "docker_storage_driver": "devicemapper", "docker_volume_size": 2}), "at least 3 GB"),
            (json!({"coe": "swarm", "image_id": "i", "uuid": "not-a-uuid-but-36-characters-long-xx"}), "Expected a uuid"),
        ] {
            let e = make(body.clone()).expect_err("must fail");
            assert_eq!(e.kind, crate::ErrorKind::Invalid);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }

    #[test]
    fn patch_round_trip_keeps_identity() {
        let t = make(json!({"coe": "swarm", "image_id": "i", "labels": {"a": "b"}})).expect("valid");
        let mut doc = t.to_doc();
        doc.insert("name".into(), json!("renamed"));
        doc.insert("labels".into(), Value::Null);
        let flavors = vec![];
        let p = t.with_doc(&doc, &flavors).expect("applies");
        assert_eq!((p.uuid, p.name.as_deref(), p.labels.len()), (t.uuid, Some("renamed"), 0));
    }

    #[test]
    fn in_use_changes() {
        assert!(change_allowed_while_in_use(&["name".into()]));
        assert!(change_allowed_while_in_use(&["public".into()]));
        assert!(!change_allowed_while_in_use(&["image_id".into()]));
        assert!(!change_allowed_while_in_use(&["name".into(), "image_id".into()]));
    }
}
