//! The OpenAPI 3.1 document of the API, served without a token at `/v1/openapi.json`.
//!
//! The request bodies and the objects of templates, clusters, bays, containers, pods, RCs,
//! services and quotas are
//! generated from the attribute schemas the handlers validate with ([`Schema`]), so the document
//! says what the API really accepts: an attribute added there appears here. The path table below
//! sits next to the router it describes; `tests/api_openapi.rs` drives every operation listed
//! here against a real server and validates each answer against this document.

use crate::views::Vocab;
use magnum_types::attrs::{Access, AttrType, Schema};
use magnum_types::manifest::Kind;
use magnum_types::{cluster, container, k8s_object, microversion, quota, template};
use serde_json::{json, Map, Value};

/// One JSON Schema for an attribute type; `nullable` for what responses show as `null` when unset.
fn attr_schema(ty: AttrType, nullable: bool) -> Value {
    let (kind, mut s) = match ty {
        AttrType::Str { min, max } => ("string", json!({"minLength": min, "maxLength": max})),
        AttrType::Int { min, max } => ("integer", json!({"minimum": min, "maximum": max})),
        AttrType::Bool => ("boolean", json!({})),
        AttrType::Dict => ("object", json!({"additionalProperties": {"type": "string"}})),
        AttrType::StrList => ("array", json!({"items": {"type": "string"}})),
        AttrType::Any => return json!({}),
    };
    s["type"] = if nullable { json!([kind, "null"]) } else { json!(kind) };
    s
}

/// What a create body may hold: the writable attributes, the mandatory ones required.
fn body_schema(schema: &Schema) -> Value {
    let writable = schema.attrs.iter().filter(|a| a.access != Access::ReadOnly);
    let properties: Map<String, Value> = writable.clone().map(|a| (a.name.to_owned(), attr_schema(a.ty, true))).collect();
    let required: Vec<&str> = writable.filter(|a| a.access == Access::Mandatory).map(|a| a.name).collect();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The object as answers show it: every attribute, any of them possibly `null`, nothing else.
fn object_schema(schema: &Schema, extra: &[(&str, Value)]) -> Value {
    let mut properties: Map<String, Value> = schema.attrs.iter().map(|a| (a.name.to_owned(), attr_schema(a.ty, true))).collect();
    for (name, s) in extra {
        properties.insert((*name).to_owned(), s.clone());
    }
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `{"<key>": [<item>], "next": ...}`, the shape of every v1 list.
fn collection(key: &str, item: &str) -> Value {
    json!({"type": "object", "required": [key], "additionalProperties": false,
        "properties": {key: {"type": "array", "items": reference(item)}, "next": {"type": "string"}}})
}

const KINDS: [Kind; 3] = [Kind::Pod, Kind::ReplicationController, Kind::Service];

/// The component naming a Kubernetes object kind (`Pod`, `ReplicationController`, `Service`).
fn kind_component(kind: Kind) -> &'static str {
    kind.as_str()
}

fn loose_object(required: &[&str]) -> Value {
    json!({"type": "object", "required": required})
}

/// `{"errors": [one error]}`: Magnum's error body, with `code` as given and `extra` fields.
fn error_schema(code: Value, extra: &[(&str, Value)]) -> Value {
    let mut properties = json!({"request_id": {"type": "string"}, "code": code, "status": {"type": "integer"},
        "title": {"type": "string"}, "detail": {"type": "string"}, "links": {"type": "array"}});
    let mut required = vec!["request_id", "code", "status", "title", "detail", "links"];
    for (name, schema) in extra {
        properties[*name] = schema.clone();
        required.push(name);
    }
    json!({"type": "object", "required": ["errors"], "additionalProperties": false, "properties": {"errors": {
        "type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": false,
            "required": required, "properties": properties}}}})
}

/// What `OpenStack-API-Version` may say: `<service> X.Y` or `<service> latest` (any case);
/// a version outside the served range is then a 406.
fn version_header_pattern() -> String {
    let services = microversion::SERVICE_TYPES.join("|");
    format!("^[ \\t]*({services})[ \\t]+([0-9]{{1,4}}\\.[0-9]{{1,4}}|[Ll][Aa][Tt][Ee][Ss][Tt])[ \\t]*$")
}

fn components() -> Value {
    let mut schemas = Map::new();
    let mut put = |name: &str, s: Value| {
        schemas.insert(name.to_owned(), s);
    };
    let links = json!({"type": "array", "items": {"type": "object", "required": ["href", "rel"]}});
    // Fields the views add to the attribute set, by microversion.
    let cluster_extra = [("links", links.clone())];
    put("ClusterTemplate", object_schema(&template::CLUSTER_TEMPLATE_SCHEMA, &[("links", links.clone())]));
    put("ClusterTemplateCreate", body_schema(&template::CLUSTER_TEMPLATE_SCHEMA));
    put("BayModel", object_schema(&template::BAYMODEL_SCHEMA, &[("links", links.clone())]));
    put("BayModelCreate", body_schema(&template::BAYMODEL_SCHEMA));
    put("Cluster", object_schema(&cluster::CLUSTER_SCHEMA, &cluster_extra));
    put("ClusterCreate", body_schema(&cluster::CLUSTER_SCHEMA));
    put("Resize", body_schema(&cluster::RESIZE_SCHEMA));
    put("Upgrade", body_schema(&cluster::UPGRADE_SCHEMA));
    put("Bay", object_schema(&cluster::BAY_SCHEMA, &cluster_extra));
    put("BayCreate", body_schema(&cluster::BAY_SCHEMA));
    put("Container", object_schema(&container::CONTAINER_SCHEMA, &[("uuid", json!({"type": "string"})), ("links", links.clone())]));
    put("ContainerCreate", body_schema(&container::CONTAINER_SCHEMA));
    for kind in KINDS {
        let name = kind_component(kind);
        put(name, object_schema(k8s_object::schema(kind), &[("links", links.clone())]));
        put(&format!("{name}Create"), body_schema(k8s_object::schema(kind)));
    }
    put("Quota", object_schema(&quota::QUOTA_SCHEMA, &[]));
    put("QuotaCreate", body_schema(&quota::QUOTA_SCHEMA));
    put("Accepted", json!({"type": "object", "required": ["uuid"], "properties": {"uuid": {"type": "string", "format": "uuid"}}}));
    put(
        "Patch",
        json!({"type": "array", "items": {"type": "object", "required": ["op", "path"],
        "properties": {"op": {"enum": ["add", "replace", "remove"]}, "path": {"type": "string"}, "value": {}}}}),
    );
    put("Output", json!({"type": "object", "required": ["output"], "properties": {"output": {"type": "string"}}}));
    put("Error", error_schema(json!({"enum": ["client", "server"]}), &[]));
    // A microversion the server does not serve (or a header it cannot read): upstream's body,
    // with the range it does serve.
    put(
        "VersionRefusal",
        error_schema(
            json!({"enum": ["magnum.microversion-unsupported"]}),
            &[("max_version", json!({"type": "string"})), ("min_version", json!({"type": "string"}))],
        ),
    );
    // Below an operation's first microversion the refusal is an ordinary error.
    put("NotAcceptable", json!({"oneOf": [reference("VersionRefusal"), reference("Error")]}));
    put(
        "Certificate",
        json!({"type": "object", "required": ["pem", "links"], "properties": {
        "cluster_uuid": {"type": "string"}, "bay_uuid": {"type": "string"}, "pem": {"type": "string"}, "csr": {"type": "string"},
        "links": {"type": "array"}}}),
    );
    put(
        "CertificateSign",
        json!({"type": "object", "required": ["csr"], "properties": {
        "cluster_uuid": {"type": "string"}, "bay_uuid": {"type": "string"}, "csr": {"type": "string"}}}),
    );
    // A list shows each group's summary; `cluster_id` and the rest are in the one-group view.
    put("NodeGroup", loose_object(&["uuid", "name", "role", "node_count"]));
    put("NodeGroupCreate", body_schema(&magnum_types::nodegroup::NODEGROUP_SCHEMA));
    put("Node", loose_object(&["uuid", "name", "role", "status"]));
    put("MService", loose_object(&["id", "host", "binary", "state"]));
    put(
        "Stats",
        json!({"type": "object", "required": ["clusters", "nodes"], "additionalProperties": false,
        "properties": {"clusters": {"type": "integer", "minimum": 0}, "nodes": {"type": "integer", "minimum": 0}}}),
    );
    put("Versions", loose_object(&["versions"]));
    put("V1", loose_object(&["id", "links"]));
    put("OpenApi", loose_object(&["openapi", "info", "paths", "components"]));
    for (key, item) in [
        ("clustertemplates", "ClusterTemplate"),
        ("baymodels", "BayModel"),
        ("clusters", "Cluster"),
        ("bays", "Bay"),
        ("containers", "Container"),
        ("pods", "Pod"),
        ("rcs", "ReplicationController"),
        ("services", "Service"),
        ("quotas", "Quota"),
        ("nodegroups", "NodeGroup"),
        ("nodes", "Node"),
        ("mservices", "MService"),
    ] {
        put(&format!("{item}List"), collection(key, item));
    }
    json!({
        "schemas": schemas,
        "parameters": {
            "ident": {"name": "ident", "in": "path", "required": true, "description": "A name or a uuid.", "schema": {"type": "string"}},
            "version": {"name": "OpenStack-API-Version", "in": "header", "required": false,
                "description": format!("`container-infra X.Y` from {} to {}, or `latest`; another version is a 406.", microversion::MIN, microversion::MAX),
                "schema": {"type": "string", "pattern": version_header_pattern()}},
            "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            "marker": {"name": "marker", "in": "query", "schema": {"type": "string"}},
            "id_marker": {"name": "marker", "in": "query", "description": "The id of the last one of the page before.",
                "schema": {"type": "integer"}},
            "sort_key": {"name": "sort_key", "in": "query", "schema": {"type": "string"}},
            "sort_dir": {"name": "sort_dir", "in": "query", "description": "Empty means `asc`.", "schema": {"enum": ["asc", "desc", ""]}},
        },
        "securitySchemes": {"keystone": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}},
    })
}

/// One operation: its success status and body (a component name, or none) and request body.
struct Op {
    method: &'static str,
    path: String,
    summary: String,
    request: Option<&'static str>,
    ok: &'static [(u16, Option<&'static str>)],
    /// The paging parameters (components) it takes.
    paging: &'static [&'static str],
    public: bool,
    query: &'static [&'static str],
}

fn op(method: &'static str, path: impl Into<String>, summary: impl Into<String>) -> Op {
    Op { method, path: path.into(), summary: summary.into(), request: None, ok: &[(200, None)], paging: &[], public: false, query: &[] }
}

impl Op {
    fn body(mut self, name: &'static str) -> Op {
        self.request = Some(name);
        self
    }
    fn answers(mut self, ok: &'static [(u16, Option<&'static str>)]) -> Op {
        self.ok = ok;
        self
    }
    fn listing(mut self) -> Op {
        self.paging = &["limit", "marker", "sort_key", "sort_dir"];
        self
    }
    /// Quotas page by their integer ids and are always in id order.
    fn listing_by_id(mut self) -> Op {
        self.paging = &["limit", "id_marker"];
        self
    }
    /// Whether it answers by the microversion asked (`/` is the same whatever is asked).
    fn versioned(&self) -> bool {
        self.path != "/"
    }
    fn public(mut self) -> Op {
        self.public = true;
        self
    }
    /// Optional string query parameters of its own.
    fn query(mut self, names: &'static [&'static str]) -> Op {
        self.query = names;
        self
    }
}

type Answers = &'static [(u16, Option<&'static str>)];

/// What differs between the two vocabularies' operations: component names and answers.
struct VocabDoc {
    template: &'static str,
    template_create: &'static str,
    cluster: &'static str,
    cluster_create: &'static str,
    template_created: Answers,
    template_one: Answers,
    template_list: Answers,
    cluster_one: Answers,
    cluster_list: Answers,
    cluster_created: Answers,
    cluster_patched: Answers,
}

const MODERN: VocabDoc = VocabDoc {
    template: "ClusterTemplate",
    template_create: "ClusterTemplateCreate",
    cluster: "Cluster",
    cluster_create: "ClusterCreate",
    template_created: &[(201, Some("ClusterTemplate"))],
    template_one: &[(200, Some("ClusterTemplate"))],
    template_list: &[(200, Some("ClusterTemplateList"))],
    cluster_one: &[(200, Some("Cluster"))],
    cluster_list: &[(200, Some("ClusterList"))],
    cluster_created: &[(202, Some("Accepted"))],
    cluster_patched: &[(202, Some("Accepted"))],
};

/// Bays answered 201 (create) and 200 (patch) with the bay at 1.1; `{"uuid"}` 202s from 1.2.
const OF_2015: VocabDoc = VocabDoc {
    template: "BayModel",
    template_create: "BayModelCreate",
    cluster: "Bay",
    cluster_create: "BayCreate",
    template_created: &[(201, Some("BayModel"))],
    template_one: &[(200, Some("BayModel"))],
    template_list: &[(200, Some("BayModelList"))],
    cluster_one: &[(200, Some("Bay"))],
    cluster_list: &[(200, Some("BayList"))],
    cluster_created: &[(201, Some("Bay")), (202, Some("Accepted"))],
    cluster_patched: &[(200, Some("Bay")), (202, Some("Accepted"))],
};

fn operations() -> Vec<Op> {
    let mut ops = vec![
        op("get", "/", "The API versions.").answers(&[(200, Some("Versions"))]).public(),
        op("get", "/v1", "The v1 document: links to every collection.").answers(&[(200, Some("V1"))]).public(),
        op("get", "/v1/openapi.json", "This document.").answers(&[(200, Some("OpenApi"))]).public(),
        op("get", "/v1/mservices", "Conductors, up or down.").answers(&[(200, Some("MServiceList"))]),
        op("get", "/v1/nodes", "Nodes of the caller's bays.").answers(&[(200, Some("NodeList"))]).listing(),
        op("get", "/v1/nodes/detail", "Nodes, every field.").answers(&[(200, Some("NodeList"))]).listing(),
        op("get", "/v1/nodes/{ident}", "One node.").answers(&[(200, Some("Node"))]),
        op("get", "/v1/stats", "Cluster and node counts of a project (or all, for admins).").answers(&[(200, Some("Stats"))]),
        op("post", "/v1/certificates", "Sign a CSR with a bay's CA (ca-sign).")
            .body("CertificateSign")
            .answers(&[(201, Some("Certificate"))]),
        op("get", "/v1/certificates/{ident}", "A bay's CA certificate (ca-show).").answers(&[(200, Some("Certificate"))]),
        op("patch", "/v1/certificates/{ident}", "Rotate a bay's CA (ca-rotate).").answers(&[(202, Some("Accepted"))]),
        op(
            "patch",
            "/v1/credentials/{ident}",
            "Rotate the credentials the conductor uses for a swarm bay; the old ones stop working (1.12).",
        )
        .answers(&[(202, Some("Accepted"))]),
        op("get", "/v1/quotas", "Quotas, in id order.").answers(&[(200, Some("QuotaList"))]).listing_by_id(),
        op("post", "/v1/quotas", "Set a project's quota.").body("QuotaCreate").answers(&[(201, Some("Quota"))]),
        op("get", "/v1/quotas/{project_id}/{resource}", "One quota.").answers(&[(200, Some("Quota"))]),
        op("patch", "/v1/quotas/{project_id}/{resource}", "Change a quota.").body("Patch").answers(&[(202, Some("Quota"))]),
        op("delete", "/v1/quotas/{project_id}/{resource}", "Remove a quota.").answers(&[(204, None)]),
        op("post", "/v1/clusters/{ident}/actions/resize", "Resize a cluster (1.7).").body("Resize").answers(&[(202, Some("Accepted"))]),
        op("post", "/v1/clusters/{ident}/actions/upgrade", "Upgrade a cluster (1.8).").body("Upgrade").answers(&[(202, Some("Accepted"))]),
        op("get", "/v1/clusters/{ident}/nodegroups", "A cluster's nodegroups (1.9).").answers(&[(200, Some("NodeGroupList"))]),
        op("post", "/v1/clusters/{ident}/nodegroups", "Add a worker nodegroup to a cluster (1.9); the cluster updates.")
            .body("NodeGroupCreate")
            .answers(&[(202, Some("NodeGroup"))]),
        op("get", "/v1/clusters/{ident}/nodegroups/{ng}", "One nodegroup (1.9).").answers(&[(200, Some("NodeGroup"))]),
        op("patch", "/v1/clusters/{ident}/nodegroups/{ng}", "Change a nodegroup's min_node_count and max_node_count (1.9).")
            .body("Patch")
            .answers(&[(202, Some("NodeGroup"))]),
        op("delete", "/v1/clusters/{ident}/nodegroups/{ng}", "Remove a non-default nodegroup and its nodes (1.9).").answers(&[(204, None)]),
        op("get", "/v1/containers", "Containers.").answers(&[(200, Some("ContainerList"))]).listing(),
        op("post", "/v1/containers", "Create and start a container on a swarm bay.")
            .body("ContainerCreate")
            .answers(&[(201, Some("Container"))]),
        op("get", "/v1/containers/detail", "Containers, every field.").answers(&[(200, Some("ContainerList"))]).listing(),
        op("get", "/v1/containers/{ident}", "One container.").answers(&[(200, Some("Container"))]),
        op("patch", "/v1/containers/{ident}", "Rename a container.").body("Patch").answers(&[(200, Some("Container"))]),
        op("delete", "/v1/containers/{ident}", "Delete a container and its engine container.").answers(&[(204, None)]),
        op("get", "/v1/containers/{ident}/logs", "A container's output.").answers(&[(200, Some("Output"))]),
        op("put", "/v1/containers/{ident}/execute", "Run a command in a container (`?command=`).")
            .query(&["command"])
            .answers(&[(200, Some("Output"))]),
    ];
    for action in magnum_types::container::ContainerAction::ALL {
        let a = action.as_str();
        ops.push(op("put", format!("/v1/containers/{{ident}}/{a}"), format!("{a} a container.")).answers(&[(200, Some("Container"))]));
    }
    for kind in KINDS {
        let (coll, name) = (kind.collection(), kind_component(kind));
        let (one, list, create): (Answers, Answers, &'static str) = match kind {
            Kind::Pod => (&[(200, Some("Pod"))], &[(200, Some("PodList"))], "PodCreate"),
            Kind::ReplicationController => {
                (&[(200, Some("ReplicationController"))], &[(200, Some("ReplicationControllerList"))], "ReplicationControllerCreate")
            }
            Kind::Service => (&[(200, Some("Service"))], &[(200, Some("ServiceList"))], "ServiceCreate"),
        };
        let created: Answers = match kind {
            Kind::Pod => &[(201, Some("Pod"))],
            Kind::ReplicationController => &[(201, Some("ReplicationController"))],
            Kind::Service => &[(201, Some("Service"))],
        };
        ops.extend([
            op("get", format!("/v1/{coll}"), format!("{name}s of the caller's Kubernetes bays (`?bay_ident=` narrows)."))
                .answers(list)
                .listing(),
            op("post", format!("/v1/{coll}"), format!("Create a {name} from a manifest on a Kubernetes bay."))
                .body(create)
                .answers(created),
            op("get", format!("/v1/{coll}/detail"), format!("{name}s, every field.")).answers(list).listing(),
            op("get", format!("/v1/{coll}/{{ident}}"), format!("One {name}, as Kubernetes reports it now.")).answers(one),
            op("patch", format!("/v1/{coll}/{{ident}}"), format!("Replace a {name} with a new manifest (JSON patch of /manifest)."))
                .body("Patch")
                .answers(one),
            op("delete", format!("/v1/{coll}/{{ident}}"), format!("Delete a {name} from Kubernetes.")).answers(&[(204, None)]),
        ]);
    }
    for (vocab, d) in [(Vocab::Cluster, &MODERN), (Vocab::Bay, &OF_2015)] {
        let (t, c) = (vocab.templates(), vocab.clusters());
        let (tn, cn) = (d.template, d.cluster);
        let (t_create, c_create, t_ok, t_one, t_list_ok) =
            (d.template_create, d.cluster_create, d.template_created, d.template_one, d.template_list);
        let (c_one, c_created, c_patched, c_list_ok) = (d.cluster_one, d.cluster_created, d.cluster_patched, d.cluster_list);
        ops.extend([
            op("get", format!("/v1/{t}"), format!("{tn}s visible to the caller.")).answers(t_list_ok).listing(),
            op("post", format!("/v1/{t}"), format!("Create a {tn}.")).body(t_create).answers(t_ok),
            op("get", format!("/v1/{t}/detail"), format!("{tn}s, every field.")).answers(t_list_ok).listing(),
            op("get", format!("/v1/{t}/{{ident}}"), format!("One {tn}.")).answers(t_one),
            op("patch", format!("/v1/{t}/{{ident}}"), format!("Change a {tn} (JSON patch).")).body("Patch").answers(t_one),
            op("delete", format!("/v1/{t}/{{ident}}"), format!("Delete a {tn} no bay uses.")).answers(&[(204, None)]),
            op("get", format!("/v1/{c}"), format!("{cn}s of the caller's project.")).answers(c_list_ok).listing(),
            op("post", format!("/v1/{c}"), format!("Create a {cn}; the conductor builds it.")).body(c_create).answers(c_created),
            op("get", format!("/v1/{c}/detail"), format!("{cn}s, every field.")).answers(c_list_ok).listing(),
            op("get", format!("/v1/{c}/{{ident}}"), format!("One {cn}.")).answers(c_one),
            op("patch", format!("/v1/{c}/{{ident}}"), format!("Change a {cn}'s node_count (JSON patch).")).body("Patch").answers(c_patched),
            op("delete", format!("/v1/{c}/{{ident}}"), format!("Delete a {cn} and everything it owns.")).answers(&[(204, None)]),
        ]);
    }
    ops
}

/// Every error an operation can answer, with when; each body is Magnum's error format.
fn refusals(o: &Op) -> Vec<(u16, &'static str)> {
    let mut out = vec![];
    if !o.versioned() {
        return out; // Open, and the same whatever is asked.
    }
    out.push((
        406,
        "The OpenStack-API-Version header cannot be read, names a version outside the served range, or one before this operation's first.",
    ));
    if o.public {
        return out;
    }
    out.extend([
        (400, "Bad input: the message names the field or parameter."),
        (401, "No valid token (Keystone deployments)."),
        (403, "Policy forbids it, or a quota would be exceeded."),
        (404, "The object named, or one it refers to, does not exist or is not visible to the caller."),
    ]);
    if o.method != "get" {
        out.push((409, "The object's state does not allow it now (the message names the state), or the name is taken."));
    }
    if o.request.is_some() {
        out.push((413, "The body is larger than the server accepts."));
    }
    out.push((503, "The store, the message bus or the bay's engine is away for now; retry after Retry-After seconds."));
    out
}

fn operation(o: &Op) -> Value {
    let mut params = if o.versioned() { vec![json!({"$ref": "#/components/parameters/version"})] } else { vec![] };
    for name in ["ident", "ng", "project_id", "resource"] {
        if o.path.contains(&format!("{{{name}}}")) {
            params.push(if name == "ident" {
                json!({"$ref": "#/components/parameters/ident"})
            } else {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            });
        }
    }
    for name in o.paging {
        params.push(json!({"$ref": format!("#/components/parameters/{name}")}));
    }
    for name in o.query {
        params.push(json!({"name": name, "in": "query", "schema": {"type": "string"}}));
    }
    let mut responses = Map::new();
    for (status, body) in o.ok {
        let mut r = json!({"description": "Success."});
        if let Some(name) = body {
            r["content"] = json!({"application/json": {"schema": reference(name)}});
        }
        responses.insert(status.to_string(), r);
    }
    for (status, why) in refusals(o) {
        let body = if status == 406 { "NotAcceptable" } else { "Error" };
        let mut r = json!({"description": why, "content": {"application/json": {"schema": reference(body)}}});
        if status == 503 {
            r["headers"] = json!({"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}});
        }
        responses.insert(status.to_string(), r);
    }
    let mut v = json!({"summary": o.summary, "parameters": params, "responses": responses});
    if let Some(name) = o.request {
        v["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": reference(name)}}});
    }
    if o.public {
        v["security"] = json!([]);
    }
    v
}

/// The whole document; `keystone`: whether this deployment asks for a token (noauth does not).
pub fn document(keystone: bool) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for o in operations() {
        let entry = paths.entry(o.path.clone()).or_insert_with(|| json!({}));
        entry[o.method] = operation(&o);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "magnum-rs container-infra API",
            "version": microversion::MAX.to_string(),
            "description": "OpenStack Magnum's v1 API. Errors are `{\"errors\": [...]}`; every answer carries \
                OpenStack-API-Version and X-OpenStack-Request-Id.",
        },
        "servers": [{"url": "/"}],
        "security": if keystone { json!([{"keystone": []}]) } else { json!([]) },
        "paths": paths,
        "components": components(),
    })
}
