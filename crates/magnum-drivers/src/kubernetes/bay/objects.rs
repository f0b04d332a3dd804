//! Pods, replication controllers and services on a built Kubernetes bay: carried out by the
//! bay's API server, as on an external one, after the images the manifest names are put on
//! the nodes. Nodes have no registry: an image comes from the provider's engine (as the
//! container API's do), and a manifest naming one that neither the engine nor the nodes hold
//! is refused with a 400 naming it. Containers that do not say how to pull get
//! `imagePullPolicy: IfNotPresent`, since a pull (Kubernetes' default for `:latest`) can only fail.

use super::node::PAUSE_IMAGE;
use super::{client, need_credentials, KubernetesDriver};
use crate::containers::Bay;
use crate::docker::nodes::{self, NodeFile};
use crate::docker::{images, EngineError};
use crate::kubernetes::client::KubeClient;
use crate::kubernetes::KubeObjects;
use async_trait::async_trait;
use bollard::Docker;
use magnum_types::manifest::Kind;
use magnum_types::{MagnumError, Result};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

const LOAD_LIMIT: Duration = Duration::from_secs(300);

fn unavailable(e: EngineError) -> MagnumError {
    MagnumError::unavailable(format!("{}; retry when the bay's nodes answer.", e.0))
}

/// `name` as the engine lists it: `repo:tag`, `:latest` when no tag is given.
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// The images the manifest's containers name; each container without a pull policy gets
/// `IfNotPresent`.
fn images_of(kind: Kind, doc: &mut Value) -> Vec<String> {
    let spec = match kind {
        Kind::Pod => doc.pointer_mut("/spec"),
        Kind::ReplicationController => doc.pointer_mut("/spec/template/spec"),
        Kind::Service => None,
    };
    let mut out = vec![];
    let Some(spec) = spec else { return out };
    for list in ["initContainers", "containers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(image) = c.get("image").and_then(Value::as_str) {
                out.push(image.to_owned());
            }
            if let Some(c) = c.as_object_mut() {
                c.entry("imagePullPolicy").or_insert_with(|| Value::String("IfNotPresent".into()));
            }
        }
    }
    out
}

/// Images a node's container engine holds, as `repo:tag`.
pub(super) async fn node_images(docker: &Docker, node: &str) -> std::result::Result<Vec<String>, EngineError> {
    let out = nodes::run(docker, node, &["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], Duration::from_secs(30)).await?;
    Ok(out.lines().map(str::trim).filter(|l| !l.is_empty() && !l.contains("<none>")).map(str::to_owned).collect())
}

async fn load_into(docker: &Docker, node: &str, image: &str, archive: &bytes::Bytes) -> std::result::Result<(), EngineError> {
    let path = format!("/var/lib/docker/magnum-load-{}.tar", uuid::Uuid::new_v4().simple());
    nodes::upload(docker, node, &[NodeFile::new(path.clone(), 0o600, archive.to_vec())]).await?;
    let loaded = nodes::run(docker, node, &["docker", "load", "-q", "-i", &path], LOAD_LIMIT).await;
    let _ = nodes::exec(docker, node, &["rm", "-f", &path], Duration::from_secs(10)).await;
    loaded.map(|_| tracing::info!(node, image, "image loaded into the node"))
}

/// Which images each node container is known to hold (by container id: a node made again under
/// the same name starts empty), so a pod's create asks a node only about images not seen there
/// yet. Images leave a node only with the node (image GC never runs: its threshold is 100%).
#[derive(Default)]
pub(super) struct HeldImages(std::sync::Mutex<BTreeSet<(String, String)>>);

impl HeldImages {
    /// Forgets everything past this many entries (nodes of deleted bays).
    const LIMIT: usize = 20_000;

    fn has(&self, container: &str, image: &str) -> bool {
        self.0.lock().is_ok_and(|held| held.contains(&(container.to_owned(), image.to_owned())))
    }

    fn add(&self, container: &str, images: impl IntoIterator<Item = String>) {
        if let Ok(mut held) = self.0.lock() {
            if held.len() > Self::LIMIT {
                held.clear();
            }
            held.extend(images.into_iter().map(|i| (container.to_owned(), i)));
        }
    }
}

/// A node container: its name and its id.
pub(super) type Target = (String, String);

/// Puts each of `wanted` on every one of `targets` that lacks it, from the provider's engine.
pub(super) async fn load_images(docker: &Docker, targets: &[Target], wanted: &[String], held: &HeldImages) -> Result<()> {
    let wanted: BTreeSet<String> = wanted.iter().map(|i| with_tag(i)).collect();
    let mut on: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for (name, id) in targets {
        if wanted.iter().all(|i| held.has(id, i)) {
            on.insert(name, wanted.clone());
            continue;
        }
        let listed = node_images(docker, name).await.map_err(unavailable)?;
        held.add(id, listed.iter().cloned());
        on.insert(name, listed.into_iter().collect());
    }
    for image in wanted {
        let missing: Vec<&Target> = targets.iter().filter(|(name, _)| !on[name.as_str()].contains(&image)).collect();
        if missing.is_empty() {
            continue;
        }
        if docker.inspect_image(&image).await.is_err() {
            let on_some = missing.len() < targets.len();
            return Err(MagnumError::invalid(format!(
                "Image {image} is not on the Docker engine of this deployment{}: bay nodes cannot pull from a registry. \
                 Load it into the engine (docker load) and retry.",
                if on_some { " (only some of the bay's nodes hold it)" } else { " nor on the bay's nodes" }
            )));
        }
        let archive = images::export(docker, &image).await.map_err(unavailable)?;
        let loads = missing.iter().map(|(name, _)| load_into(docker, name, &image, &archive));
        for (r, (_, id)) in futures_util::future::join_all(loads).await.into_iter().zip(&missing) {
            r.map_err(unavailable)?;
            held.add(id, [image.clone()]);
        }
    }
    Ok(())
}

impl KubernetesDriver {
    fn kube(&self, bay: Bay<'_>) -> Result<KubeClient> {
        let address =
            bay.cluster.api_address.as_deref().ok_or_else(|| {
                MagnumError::invalid(format!("Bay {} has no API address yet: wait for CREATE_COMPLETE.", bay.cluster.uuid))
            })?;
        client(address, need_credentials(bay.cluster, bay.credentials)?)
    }

    /// The manifest as it is sent, once the images it names are on the nodes pods run on.
    async fn prepare(&self, bay: Bay<'_>, kind: Kind, doc: &Value) -> Result<Value> {
        let mut doc = doc.clone();
        let wanted: Vec<String> = images_of(kind, &mut doc).into_iter().filter(|i| i != PAUSE_IMAGE).collect();
        if wanted.is_empty() {
            return Ok(doc);
        }
        let docker = self.docker().map_err(unavailable)?;
        let cluster = bay.cluster;
        // Pods run on the workers (the master is tainted); a bay without workers has only it.
        let mut targets = running(&docker, cluster, "worker").await.map_err(unavailable)?;
        if targets.is_empty() {
            targets = running(&docker, cluster, "master").await.map_err(unavailable)?;
        }
        load_images(&docker, &targets, &wanted, &self.held).await?;
        Ok(doc)
    }
}

/// The bay's running node containers of `role`.
pub(super) async fn running(
    docker: &Docker,
    cluster: &magnum_types::cluster::Cluster,
    role: &str,
) -> std::result::Result<Vec<Target>, EngineError> {
    let mut out = vec![];
    for member in nodes::members(docker, cluster).await?.into_iter().filter(|m| m.role.as_str() == role) {
        if let Some(c) = nodes::inspect(docker, &member.name).await? {
            if c.state.and_then(|s| s.running).unwrap_or(false) {
                out.push((member.name, c.id.unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl KubeObjects for KubernetesDriver {
    async fn create(&self, bay: Bay<'_>, kind: Kind, doc: &Value) -> Result<Value> {
        let doc = self.prepare(bay, kind, doc).await?;
        self.kube(bay)?.create(kind, &doc).await
    }

    async fn replace(&self, bay: Bay<'_>, kind: Kind, name: &str, doc: &Value) -> Result<Value> {
        let doc = self.prepare(bay, kind, doc).await?;
        self.kube(bay)?.replace(kind, name, &doc).await
    }

    async fn get(&self, bay: Bay<'_>, kind: Kind, name: &str) -> Result<Option<Value>> {
        self.kube(bay)?.get(kind, name).await
    }

    async fn delete(&self, bay: Bay<'_>, kind: Kind, name: &str) -> Result<()> {
        self.kube(bay)?.delete(kind, name).await
    }

    async fn list(&self, bay: Bay<'_>, kind: Kind) -> Result<Vec<Value>> {
        self.kube(bay)?.list(kind).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_found_and_pull_policies_filled_in() {
        let mut rc = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "image": "magnum/busybox"}],
            "containers": [{"name": "a", "image": "web:1.0", "imagePullPolicy": "Always"}, {"name": "b", "image": "reg.example/x/y"}]}}}});
        let found = images_of(Kind::ReplicationController, &mut rc);
        assert_eq!(found, ["magnum/busybox", "web:1.0", "reg.example/x/y"]);
        let containers = &rc["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            (containers[0]["imagePullPolicy"].as_str(), containers[1]["imagePullPolicy"].as_str()),
            (Some("Always"), Some("IfNotPresent"))
        );
        assert!(images_of(Kind::Service, &mut json!({"spec": {}})).is_empty());
        assert_eq!(with_tag("magnum/busybox"), "magnum/busybox:latest");
        assert_eq!(with_tag("reg:5000/busybox"), "reg:5000/busybox:latest");
        assert_eq!(with_tag("reg:5000/busybox:1"), "reg:5000/busybox:1");
    }
}
