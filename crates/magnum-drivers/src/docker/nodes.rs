//! Node containers on the provider engine, as every built COE makes them: labelled so the
//! conductor can always find (and clean up) what a bay owns, files put in place before a
//! node first starts, commands run inside a node through the engine's exec API (no port of
//! the node is needed for that), and the node's published ports.

use super::{err, is_not_found, EngineAccess, EngineError, LABEL_BAY, LABEL_NODE, LABEL_PROJECT, LABEL_ROLE};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerInspectResponse, NetworkSettings, VolumeCreateRequest};
use bollard::Docker;
use futures_util::StreamExt;
use magnum_types::cluster::Cluster;
use std::collections::HashMap;
use std::time::Duration;

/// CPU and memory limits of a flavor, applied to a node container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub vcpus: f64,
    pub ram_mb: u64,
}

/// The limits of a node of `role`: masters take the bay's master flavor, falling back to its
/// flavor; workers its flavor. None when the flavor is unknown or unset (no limits).
pub fn flavor_limits(flavors: &HashMap<String, Limits>, cluster: &Cluster, spec: &super::plan::NodeSpec) -> Option<Limits> {
    let flavor = match spec.role {
        _ if spec.flavor.is_some() => spec.flavor.as_ref(),
        super::plan::NodeRole::Manager => cluster.master_flavor_id.as_ref().or(cluster.flavor_id.as_ref()),
        super::plan::NodeRole::Worker => cluster.flavor_id.as_ref(),
    };
    flavor.and_then(|f| flavors.get(f)).copied()
}

/// The labels of a bay's container, network or volume (`node` for what belongs to one node).
pub fn labels(cluster: &Cluster, role: &str, node: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL_BAY.to_owned(), cluster.uuid.to_string()),
        (LABEL_PROJECT.to_owned(), cluster.project_id.clone()),
        (LABEL_ROLE.to_owned(), role.to_owned()),
    ]);
    if let Some(n) = node {
        l.insert(LABEL_NODE.to_owned(), n.to_owned());
    }
    l
}

/// The labels of a node's container: the bay's, the node's name and its nodegroup.
pub fn node_container_labels(cluster: &Cluster, spec: &super::plan::NodeSpec) -> HashMap<String, String> {
    let mut l = labels(cluster, spec.role.as_str(), Some(&spec.name));
    l.insert(super::LABEL_NODEGROUP.to_owned(), spec.group.clone());
    l
}

/// The nodegroup label of one of our node containers (None on nodes made before groups).
pub fn nodegroup_label(c: &ContainerInspectResponse) -> Option<String> {
    c.config.as_ref()?.labels.as_ref()?.get(super::LABEL_NODEGROUP).cloned()
}

/// The node name and role labels of one of our containers.
pub fn node_labels(c: &ContainerInspectResponse) -> Option<(String, String)> {
    let labels = c.config.as_ref()?.labels.as_ref()?;
    Some((labels.get(LABEL_NODE)?.clone(), labels.get(LABEL_ROLE)?.clone()))
}

pub async fn inspect(docker: &Docker, name: &str) -> Result<Option<ContainerInspectResponse>, EngineError> {
    match docker.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(err(&format!("inspecting node {name}"), e)),
    }
}

/// Creates the node's labelled volume `name` (repeatable).
pub async fn ensure_volume(docker: &Docker, cluster: &Cluster, node: &str, name: &str) -> Result<(), EngineError> {
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(labels(cluster, "volume", Some(node))),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(|e| err(&format!("creating volume {name}"), e))
}

/// Removes the bay's node volumes whose node is not in `wanted` and has no container: what a
/// node that vanished outside magnum leaves once its group shrinks or goes (a node leaving
/// normally takes its volumes with it, see [`remove`]).
pub async fn remove_orphan_volumes(docker: &Docker, cluster: &Cluster, wanted: &[&str]) -> Result<(), EngineError> {
    let filters = super::bay_filter(&cluster.uuid.to_string());
    let volumes = docker
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .map_err(|e| err("listing the bay's volumes", e))?
        .volumes
        .unwrap_or_default();
    for v in volumes {
        let Some(node) = v.labels.get(LABEL_NODE) else { continue };
        if wanted.contains(&node.as_str()) || inspect(docker, node).await?.is_some() {
            continue;
        }
        tracing::info!(bay = %cluster.uuid, node = %node, volume = %v.name, "removing the volume of a node that is gone");
        match docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) => {}
            Err(e) if super::is_not_found(&e) => {}
            Err(e) => return Err(err(&format!("removing volume {}", v.name), e)),
        }
    }
    Ok(())
}

/// The node image must be on the engine (nodes are never pulled from a registry); `build` says
/// how to make it.
pub async fn require_image(docker: &Docker, image: &str, build: &str) -> Result<(), EngineError> {
    docker
        .inspect_image(image)
        .await
        .map(|_| ())
        .map_err(|_| EngineError(format!("node image {image} is not on the Docker engine: build it with `{build}`")))
}

/// Starts the container; one already running is fine.
pub async fn start(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker.start_container(name, None::<bollard::query_parameters::StartContainerOptions>).await {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
        Err(e) => Err(err(&format!("starting node {name}"), e)),
    }
}

/// One file to put into a node: its absolute path, mode and content.
pub struct NodeFile {
    pub path: String,
    pub mode: u32,
    pub content: Vec<u8>,
}

impl NodeFile {
    pub fn new(path: impl Into<String>, mode: u32, content: impl Into<Vec<u8>>) -> NodeFile {
        NodeFile { path: path.into(), mode, content: content.into() }
    }
}

/// Writes `files` into the container (created or running), replacing what is there.
pub async fn upload(docker: &Docker, container: &str, files: &[NodeFile]) -> Result<(), EngineError> {
    let mut tar = tar::Builder::new(Vec::new());
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(f.mode);
        h.set_size(f.content.len() as u64);
        h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
        tar.append_data(&mut h, f.path.trim_start_matches('/'), f.content.as_slice())
            .map_err(|e| err(&format!("packing {} for {container}", f.path), e))?;
    }
    let bytes = tar.into_inner().map_err(|e| err("packing node files", e))?;
    let options = bollard::query_parameters::UploadToContainerOptions { path: "/".into(), ..Default::default() };
    docker
        .upload_to_container(container, Some(options), bollard::body_full(bytes.into()))
        .await
        .map_err(|e| err(&format!("writing files into {container}"), e))
}

/// The content of one file of the container (None if it has no such file).
pub async fn read_file(docker: &Docker, container: &str, path: &str) -> Option<String> {
    let options = bollard::query_parameters::DownloadFromContainerOptions { path: path.to_owned() };
    let mut stream = docker.download_from_container(container, Some(options));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.ok()?);
    }
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut s = String::new();
    std::io::Read::read_to_string(&mut entry, &mut s).ok()?;
    Some(s)
}

/// What a command run in a node printed (stdout and stderr together) and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub exit_code: i64,
    pub output: String,
}

/// Runs `argv` as root in the running container through the engine's exec API, waiting at
/// most `limit`.
pub async fn exec(docker: &Docker, container: &str, argv: &[&str], limit: Duration) -> Result<Ran, EngineError> {
    let what = || format!("running `{}` in {container}", argv.join(" "));
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv.iter().map(|a| a.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| err(&what(), e))?;
    let run = async {
        let mut output = String::new();
        if let StartExecResults::Attached { output: mut stream, .. } =
            docker.start_exec(&created.id, None).await.map_err(|e| err(&what(), e))?
        {
            while let Some(chunk) = stream.next().await {
                output.push_str(&chunk.map_err(|e| err(&what(), e))?.to_string());
            }
        }
        let inspected = docker.inspect_exec(&created.id).await.map_err(|e| err(&what(), e))?;
        Ok(Ran { exit_code: inspected.exit_code.unwrap_or(-1), output })
    };
    tokio::time::timeout(limit, run).await.map_err(|_| EngineError(format!("{} took longer than {limit:?}", what())))?
}

/// [`exec`] that must succeed: a non-zero exit is an error carrying the command's output.
pub async fn run(docker: &Docker, container: &str, argv: &[&str], limit: Duration) -> Result<String, EngineError> {
    let ran = exec(docker, container, argv, limit).await?;
    if ran.exit_code != 0 {
        return Err(EngineError(format!(
            "`{}` in {container} exited with {}: {}",
            argv.join(" "),
            ran.exit_code,
            ran.output.trim().chars().take(500).collect::<String>()
        )));
    }
    Ok(ran.output)
}

/// The port of the bay's `api_address`, for its first master when that is made again (an
/// upgrade, a heal): the bay keeps the address its users' configurations name.
pub fn kept_api_port(cluster: &Cluster, spec: &super::plan::NodeSpec) -> Option<u16> {
    if spec.name != super::plan::node_name(cluster, super::plan::NodeRole::Manager, 0) {
        return None;
    }
    cluster.api_address.as_deref()?.rsplit(':').next()?.parse().ok()
}

/// The nodes of `specs` whose container runs another image than the one they should run (their
/// group's, else `image`): what an upgrade to that template replaces. Absent ones are left to
/// the converge that follows.
pub async fn outdated(docker: &Docker, specs: &[super::plan::NodeSpec], image: &str) -> Result<Vec<super::plan::NodeSpec>, EngineError> {
    let mut stale = vec![];
    for spec in specs {
        let want = spec.image.as_deref().unwrap_or(image);
        if let Some(c) = inspect(docker, &spec.name).await? {
            if c.config.and_then(|c| c.image).as_deref() != Some(want) {
                stale.push(spec.clone());
            }
        }
    }
    Ok(stale)
}

/// A host port to publish a node's API on. Asking the engine for a fixed port (rather than
/// an ephemeral one) keeps the node's API, and so the bay's api_address, stable across
/// restarts. For a local engine it is a port free here now; for a remote one, a port from the
/// ephemeral range (the engine refuses a taken one, and the create is retried).
pub fn free_port(engine: &EngineAccess) -> Result<u16, EngineError> {
    if engine.url.starts_with("unix://") || engine.publish_address == "127.0.0.1" {
        let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| err("finding a free port on 127.0.0.1", e))?;
        return l.local_addr().map(|a| a.port()).map_err(|e| err("finding a free port on 127.0.0.1", e));
    }
    Ok(32768 + (uuid::Uuid::new_v4().as_u128() % 28000) as u16)
}

/// `publish_address:port` where the container's `port_name` (e.g. `6443/tcp`) is published.
pub fn published(settings: &NetworkSettings, engine: &EngineAccess, port_name: &str) -> Option<String> {
    let port = settings.ports.as_ref()?.get(port_name)?.as_ref()?.first()?.host_port.clone()?;
    Some(format!("{}:{port}", engine.publish_address))
}

/// The node's address on the bay's network.
pub fn bay_address(settings: &NetworkSettings, network: &str) -> Option<String> {
    settings.networks.as_ref()?.get(network)?.ip_address.clone().filter(|ip| !ip.is_empty())
}

/// The bay's node containers as they are now (found by labels): name, role, address on the bay
/// network, `Running` or `Stopped` (with why) and image, each with its network settings (where
/// its ports are published).
pub async fn survey(docker: &Docker, cluster: &Cluster) -> Result<Vec<(crate::NodeObservation, NetworkSettings)>, EngineError> {
    let network = super::plan::network_name(cluster);
    let (ids, _, _) = super::owned_by(docker, &cluster.uuid.to_string()).await?;
    let mut out = vec![];
    for id in ids {
        let Some(c) = inspect(docker, &id).await? else { continue };
        let Some((name, role)) = node_labels(&c) else { continue };
        let state = c.state.clone().unwrap_or_default();
        let settings = c.network_settings.clone().unwrap_or_default();
        let (status, reason) = if state.running.unwrap_or(false) {
            ("Running".to_owned(), None)
        } else {
            let st = state.status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
            ("Stopped".to_owned(), Some(format!("its container is {st} (exit code {})", state.exit_code.unwrap_or_default())))
        };
        let address = bay_address(&settings, &network);
        let nodegroup = nodegroup_label(&c);
        let image = c.config.and_then(|c| c.image);
        out.push((crate::NodeObservation { name, role, address, status, reason, image, nodegroup }, settings));
    }
    Ok(out)
}

/// The bay's node containers (found by their labels), each with its role and group (workers
/// made before groups existed are in the default worker group).
pub async fn members(docker: &Docker, cluster: &Cluster) -> Result<Vec<super::plan::Member>, EngineError> {
    use super::plan::{Member, NodeRole, DEFAULT_MASTER, DEFAULT_WORKER};
    let (containers, _, _) = super::owned_by(docker, &cluster.uuid.to_string()).await?;
    let mut out = vec![];
    for id in containers {
        let Some(c) = inspect(docker, &id).await? else { continue };
        let Some((name, role)) = node_labels(&c) else { continue };
        let (role, default) = match role.as_str() {
            "master" => (NodeRole::Manager, DEFAULT_MASTER),
            "worker" => (NodeRole::Worker, DEFAULT_WORKER),
            _ => continue,
        };
        let group = nodegroup_label(&c).unwrap_or_else(|| default.to_owned());
        out.push(Member { name, role, group });
    }
    Ok(out)
}

/// Makes way for `spec` to be made again by a converge: a worker's container and volumes go
/// (it comes back fresh); a master's container is restarted, keeping its state.
pub async fn make_way(docker: &Docker, spec: &super::plan::NodeSpec) -> Result<(), EngineError> {
    match spec.role {
        super::plan::NodeRole::Worker => remove(docker, &spec.name).await,
        super::plan::NodeRole::Manager => {
            match docker.restart_container(&spec.name, None::<bollard::query_parameters::RestartContainerOptions>).await {
                Ok(()) => Ok(()),
                Err(e) if super::is_not_found(&e) => Ok(()),
                Err(e) => Err(err(&format!("restarting node {}", spec.name), e)),
            }
        }
    }
}

/// Removes the node's container and every volume labelled as its own. Repeatable.
pub async fn remove(docker: &Docker, name: &str) -> Result<(), EngineError> {
    super::remove_container(docker, name).await?;
    let f = HashMap::from([("label".to_owned(), vec![format!("{LABEL_NODE}={name}")])]);
    let volumes = docker
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptionsBuilder::new().filters(&f).build()))
        .await
        .map_err(|e| err(&format!("listing the volumes of {name}"), e))?
        .volumes
        .unwrap_or_default();
    for v in volumes {
        match docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(err(&format!("removing the volume {} of {name}", v.name), e)),
        }
    }
    Ok(())
}

/// Nodes come back with the engine: after a restart of the engine (or of the machine) the engine
/// starts every node that was running, so bays return with no request from anyone. A node
/// stopped on purpose stays stopped.
pub fn restart_policy() -> bollard::models::RestartPolicy {
    bollard::models::RestartPolicy { name: Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None }
}
