//! Kubernetes objects on a Kubernetes bay: `pod-*`, `rc-*` and `coe-service-*` (client 2.x's
//! shapes: `--bay` as an option, not a positional).

use crate::more::{items, patch};
use crate::output::{expect, list, show, Format};
use anyhow::Context;
use clap::{Args, Subcommand};
use magnum_client::Client;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum Kube {
    /// Create a pod on a Kubernetes bay from a manifest.
    PodCreate {
        #[command(flatten)]
        new: Create,
        /// A description of the pod.
        #[arg(long)]
        desc: Option<String>,
    },
    PodList(List),
    PodShow(One),
    PodUpdate(Update),
    PodDelete(Delete),
    /// Create a replication controller on a Kubernetes bay from a manifest.
    RcCreate(Create),
    RcList(List),
    RcShow(One),
    RcUpdate(Update),
    RcDelete(Delete),
    /// Create a Kubernetes service on a Kubernetes bay from a manifest.
    CoeServiceCreate(Create),
    CoeServiceList(List),
    CoeServiceShow(One),
    CoeServiceUpdate(Update),
    CoeServiceDelete(Delete),
}

#[derive(Args)]
pub struct Create {
    /// The Kubernetes bay (name or UUID).
    #[arg(long)]
    bay: String,
    /// The object's manifest, YAML or JSON; `-` reads stdin.
    #[arg(long, required_unless_present = "manifest_url", conflicts_with = "manifest_url")]
    manifest: Option<PathBuf>,
    /// An http(s) URL the server fetches the manifest from.
    #[arg(long)]
    manifest_url: Option<String>,
}

/// List the objects (all bays', or one bay's with --bay).
#[derive(Args)]
pub struct List {
    /// Only the objects of this bay.
    #[arg(long)]
    bay: Option<String>,
}

/// Show one object.
#[derive(Args)]
pub struct One {
    /// Name or UUID.
    ident: String,
    /// The bay, when the name is used on more than one.
    #[arg(long)]
    bay: Option<String>,
}

/// Change an object: <op> <path=value>... as bay-update, and/or --manifest <file> to replace its
/// manifest (Kubernetes then replaces the object).
#[derive(Args)]
pub struct Update {
    /// Name or UUID.
    ident: String,
    /// The bay, when the name is used on more than one.
    #[arg(long)]
    bay: Option<String>,
    /// add, replace or remove.
    #[arg(required_unless_present = "manifest", requires = "attributes")]
    op: Option<String>,
    /// path=value (values are JSON-decoded when they can be).
    attributes: Vec<String>,
    /// A new manifest (Kubernetes replaces the object); `-` reads stdin.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

/// Delete objects, from Kubernetes too.
#[derive(Args)]
pub struct Delete {
    /// Names or UUIDs.
    #[arg(required = true)]
    idents: Vec<String>,
    /// The bay, when a name is used on more than one.
    #[arg(long)]
    bay: Option<String>,
}

#[derive(Clone, Copy)]
enum Kind {
    Pod,
    Rc,
    Service,
}

impl Kind {
    /// The URL segment under /v1, which is also the list's key in the answer.
    fn collection(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Rc => "rcs",
            Kind::Service => "services",
        }
    }
    /// The command prefix, for error messages.
    fn command(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Rc => "rc",
            Kind::Service => "coe-service",
        }
    }
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Pod => &["uuid", "name", "status", "host", "images", "bay_uuid"],
            Kind::Rc => &["uuid", "name", "replicas", "ready_replicas", "images", "bay_uuid"],
            Kind::Service => &["uuid", "name", "ip", "ports", "selector", "bay_uuid"],
        }
    }
}

pub async fn run(c: &Client, cmd: Kube, format: Format) -> anyhow::Result<()> {
    match cmd {
        Kube::PodCreate { new, desc } => create(c, Kind::Pod, new, desc, format).await,
        Kube::PodList(a) => list_objects(c, Kind::Pod, a, format).await,
        Kube::PodShow(a) => show_one(c, Kind::Pod, a, format).await,
        Kube::PodUpdate(a) => update(c, Kind::Pod, a, format).await,
        Kube::PodDelete(a) => delete(c, Kind::Pod, a).await,
        Kube::RcCreate(new) => create(c, Kind::Rc, new, None, format).await,
        Kube::RcList(a) => list_objects(c, Kind::Rc, a, format).await,
        Kube::RcShow(a) => show_one(c, Kind::Rc, a, format).await,
        Kube::RcUpdate(a) => update(c, Kind::Rc, a, format).await,
        Kube::RcDelete(a) => delete(c, Kind::Rc, a).await,
        Kube::CoeServiceCreate(new) => create(c, Kind::Service, new, None, format).await,
        Kube::CoeServiceList(a) => list_objects(c, Kind::Service, a, format).await,
        Kube::CoeServiceShow(a) => show_one(c, Kind::Service, a, format).await,
        Kube::CoeServiceUpdate(a) => update(c, Kind::Service, a, format).await,
        Kube::CoeServiceDelete(a) => delete(c, Kind::Service, a).await,
    }
}

/// The manifest's text; `-` is stdin. An unreadable file is an error naming it (exit 1, as
/// ca-sign's --csr).
fn read_manifest(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return std::io::read_to_string(std::io::stdin()).context("reading the manifest from stdin");
    }
    std::fs::read_to_string(path).with_context(|| format!("reading the manifest {}", path.display()))
}

/// `/v1/<coll>/<ident>`, with `?bay_ident=` when a bay is given: a name is unique per bay only.
fn item_path(kind: Kind, ident: &str, bay: &Option<String>) -> String {
    let query = bay.as_ref().map(|b| format!("?bay_ident={b}")).unwrap_or_default();
    format!("/v1/{}/{ident}{query}", kind.collection())
}

async fn create(c: &Client, kind: Kind, new: Create, desc: Option<String>, format: Format) -> anyhow::Result<()> {
    let mut b = json!({"bay_uuid": new.bay});
    match (&new.manifest, new.manifest_url) {
        (Some(path), _) => b["manifest"] = json!(read_manifest(path)?),
        (None, Some(url)) => b["manifest_url"] = json!(url),
        (None, None) => anyhow::bail!("give --manifest or --manifest-url"),
    }
    if let Some(d) = desc {
        b["desc"] = json!(d);
    }
    let r = expect(c.post(&format!("/v1/{}", kind.collection()), &b).await?, &[201], &format!("{}-create", kind.command()))?;
    show(&for_table(&r.body, format), format);
    Ok(())
}

async fn list_objects(c: &Client, kind: Kind, a: List, format: Format) -> anyhow::Result<()> {
    let query = a.bay.map(|b| format!("&bay_ident={b}")).unwrap_or_default();
    let r = expect(c.get(&format!("/v1/{}?limit=1000{query}", kind.collection())).await?, &[200], &format!("{}-list", kind.command()))?;
    let rows: Vec<Value> = items(&r.body, kind.collection()).iter().map(|o| for_table(o, format)).collect();
    list(&rows, kind.columns(), format);
    Ok(())
}

async fn show_one(c: &Client, kind: Kind, a: One, format: Format) -> anyhow::Result<()> {
    let r = expect(c.get(&item_path(kind, &a.ident, &a.bay)).await?, &[200], &format!("{}-show", kind.command()))?;
    show(&for_table(&r.body, format), format);
    Ok(())
}

async fn update(c: &Client, kind: Kind, a: Update, format: Format) -> anyhow::Result<()> {
    let mut ops = match &a.op {
        Some(op) => patch(op, &a.attributes)?,
        None => vec![],
    };
    if let Some(path) = &a.manifest {
        ops.push(json!({"op": "replace", "path": "/manifest", "value": read_manifest(path)?}));
    }
    let r = expect(c.patch(&item_path(kind, &a.ident, &a.bay), &Value::Array(ops)).await?, &[200], &format!("{}-update", kind.command()))?;
    show(&for_table(&r.body, format), format);
    Ok(())
}

async fn delete(c: &Client, kind: Kind, a: Delete) -> anyhow::Result<()> {
    for ident in &a.idents {
        let what = format!("deleting {} {ident}", kind.command());
        expect(c.delete(&item_path(kind, ident, &a.bay)).await?, &[204], &what)?;
        // Upstream's wording: pod, rc, service.
        eprintln!("Request to delete {} {ident} has been accepted.", kind.collection().trim_end_matches('s'));
    }
    Ok(())
}

/// For tables, every list or dict value as one short cell (`a,b`, `k=v,k2=v2`, ports as
/// `80/TCP→8080`); JSON output keeps the server's document untouched.
fn for_table(obj: &Value, format: Format) -> Value {
    let Some(m) = obj.as_object().filter(|_| format == Format::Table) else {
        return obj.clone();
    };
    let compact = |k: &str, v: &Value| match v {
        Value::Array(a) if k == "ports" => json!(a.iter().map(port).collect::<Vec<_>>().join(",")),
        Value::Array(a) => json!(a.iter().map(scalar).collect::<Vec<_>>().join(",")),
        Value::Object(o) => json!(o.iter().map(|(k, v)| format!("{k}={}", scalar(v))).collect::<Vec<_>>().join(",")),
        other => other.clone(),
    };
    Value::Object(m.iter().map(|(k, v)| (k.clone(), compact(k, v))).collect::<Map<_, _>>())
}

fn scalar(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// A Kubernetes service port: `port/protocol`, and `→target` when Kubernetes says where it goes.
fn port(p: &Value) -> String {
    let proto = p.get("protocol").map(scalar).unwrap_or_else(|| "TCP".to_owned());
    let target = p.get("targetPort").map(|t| format!("→{}", scalar(t))).unwrap_or_default();
    format!("{}/{proto}{target}", p.get("port").map(scalar).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_are_compact_and_json_is_untouched() {
        let svc = json!({"name": "web", "ip": "10.0.0.1", "selector": {"app": "web", "tier": "fe"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 53, "protocol": "UDP"}], "host": null});
        let t = for_table(&svc, Format::Table);
        assert_eq!(t["ports"], "80/TCP→8080,53/UDP");
        assert_eq!(t["selector"], "app=web,tier=fe");
        assert_eq!((t["name"].clone(), t["host"].clone()), (json!("web"), Value::Null));
        assert_eq!(for_table(&json!({"images": ["busybox", "nginx"]}), Format::Table)["images"], "busybox,nginx");
        assert_eq!(for_table(&svc, Format::Json), svc);
    }
}
