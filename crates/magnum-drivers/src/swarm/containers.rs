//! The container API on swarm bays: each container runs on one node, through that node's own
//! Docker API (TLS with the conductor's certificate from the bay's CA, unless `tls_disabled`).
//! Containers carry the label [`LABEL_CONTAINER`] with their uuid, so a node's containers are
//! listed in one call and a repeated create finds the first attempt's container.

use super::access::Access;
use super::{api_port, SwarmDriver};
use crate::containers::{Bay, BayListing, ContainerDriver, EngineState, ExecOutput};
use crate::docker::nodes::node_labels;
use crate::docker::{self, EngineError, LABEL_BAY, LABEL_CONTAINER, LABEL_PROJECT};
use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ContainerState, ContainerSummaryStateEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder, RestartContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use magnum_types::container::{memory_bytes, Container, ContainerAction, ContainerStatus};
use magnum_types::{MagnumError, Result};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Logs and exec output beyond this keep only their end.
const MAX_OUTPUT: usize = 1 << 20;
/// How long `execute` waits for its command; a longer one returns what it printed so far.
const EXEC_LIMIT: Duration = Duration::from_secs(60);
/// Seconds a stop or reboot gives the main process before killing it (Docker's default).
const STOP_GRACE: i32 = 10;

pub(super) fn unavailable(e: EngineError) -> MagnumError {
    MagnumError::unavailable(format!("{}. Retry when the bay's nodes answer again.", e.0))
}

/// A node engine's refusal, by its status: bad input stays a 400, a conflict of state a 409.
pub(super) fn engine_error(what: &str, e: DockerError) -> MagnumError {
    match e {
        DockerError::DockerResponseServerError { status_code, message } => match status_code {
            400 => MagnumError::invalid(format!("{what}: {message}")),
            404 => MagnumError::not_found(format!("{what}: {message}")),
            409 => MagnumError::conflict(format!("{what}: {message}")),
            _ => MagnumError::internal(format!("Docker internal Error: {what}: {message}")),
        },
        other => unavailable(EngineError(format!("{what}: {other}"))),
    }
}

fn not_modified(e: &DockerError) -> bool {
    matches!(e, DockerError::DockerResponseServerError { status_code: 304, .. })
}

/// Upstream's mapping of `docker inspect`: an error or a dead container is `Error`.
fn state_of(s: &ContainerState) -> EngineState {
    let error = s.error.clone().filter(|e| !e.is_empty());
    if let Some(e) = error {
        return EngineState { status: ContainerStatus::Error, reason: Some(e) };
    }
    if s.dead == Some(true) {
        return EngineState { status: ContainerStatus::Error, reason: Some("the container is dead".into()) };
    }
    if s.paused == Some(true) {
        return EngineState { status: ContainerStatus::Paused, reason: None };
    }
    if s.running == Some(true) {
        return EngineState { status: ContainerStatus::Running, reason: None };
    }
    let exited = s.status.map(|st| st.to_string()) == Some("exited".into());
    EngineState {
        status: ContainerStatus::Stopped,
        reason: exited.then(|| format!("exited with code {}", s.exit_code.unwrap_or_default())),
    }
}

/// The same mapping from a listing (one call per node rather than one per container).
fn summary_state(state: Option<ContainerSummaryStateEnum>, status: Option<String>) -> EngineState {
    use ContainerSummaryStateEnum as S;
    match state {
        Some(S::RUNNING | S::RESTARTING) => EngineState { status: ContainerStatus::Running, reason: None },
        Some(S::PAUSED) => EngineState { status: ContainerStatus::Paused, reason: None },
        Some(S::DEAD | S::REMOVING) => EngineState { status: ContainerStatus::Error, reason: status },
        Some(S::EXITED) => EngineState { status: ContainerStatus::Stopped, reason: status.map(|s| s.to_lowercase()) },
        _ => EngineState { status: ContainerStatus::Stopped, reason: None },
    }
}

fn text_of(chunks: Vec<bollard::container::LogOutput>) -> String {
    let mut bytes = Vec::new();
    for c in chunks {
        bytes.extend_from_slice(&c.into_bytes());
    }
    if bytes.len() > MAX_OUTPUT {
        bytes.drain(..bytes.len() - MAX_OUTPUT);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A client for one node's Docker API. bollard reads the client certificate at every TLS
/// handshake, so the files of [`Access`] live as long as the client.
struct NodeClient<'a> {
    docker: Docker,
    _access: Access<'a>,
}

impl std::ops::Deref for NodeClient<'_> {
    type Target = Docker;
    fn deref(&self) -> &Docker {
        &self.docker
    }
}

impl SwarmDriver {
    /// A client for node `host`'s Docker API, after checking the node belongs to the bay.
    async fn node_client<'a>(&self, bay: Bay<'a>, host: &str) -> Result<NodeClient<'a>> {
        let engine = self.engine().map_err(unavailable)?;
        let gone = || MagnumError::not_found(format!("Node {host} of bay {} no longer exists.", bay.cluster.uuid));
        let node = match engine.inspect_container(host, None::<bollard::query_parameters::InspectContainerOptions>).await {
            Ok(n) => n,
            Err(e) if docker::is_not_found(&e) => return Err(gone()),
            Err(e) => return Err(unavailable(docker::err(&format!("inspecting node {host}"), e))),
        };
        let owner = node.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(LABEL_BAY));
        if owner != Some(&bay.cluster.uuid.to_string()) {
            return Err(gone());
        }
        if node.state.as_ref().and_then(|s| s.running) != Some(true) {
            return Err(MagnumError::unavailable(format!("Node {host} of bay {} is not running.", bay.cluster.uuid)));
        }
        let access = Access::for_bay(bay.template, bay.credentials).map_err(unavailable)?;
        let settings = node.network_settings.unwrap_or_default();
        let api = self
            .published_api(&settings, api_port(access.tls.is_some()))
            .ok_or_else(|| MagnumError::unavailable(format!("Node {host} publishes no Docker API.")))?;
        let docker = access.connect(&api).map_err(unavailable)?;
        Ok(NodeClient { docker, _access: access })
    }

    /// The image on the node, loaded from the provider's engine when only it has the image.
    async fn ensure_image(&self, node: &Docker, host: &str, image: &str) -> Result<()> {
        match node.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if docker::is_not_found(&e) => {}
            Err(e) => return Err(engine_error(&format!("looking for image {image} on node {host}"), e)),
        }
        let engine = self.engine().map_err(unavailable)?;
        if engine.inspect_image(image).await.is_err() {
            return Err(MagnumError::invalid(format!(
                "Image {image} is neither on node {host} nor on the provider's Docker engine, and bay nodes never pull from \
                 registries. Load it onto the engine first (docker load, or `magnum-server node-image build` for {}).",
                docker::images::WORKLOAD_IMAGE
            )));
        }
        tracing::info!(image, node = host, "loading an image from the provider's engine onto a node");
        let archive = docker::images::export(&engine, image).await.map_err(unavailable)?;
        docker::images::load(node, archive, &format!("{image} onto node {host}")).await.map_err(unavailable)
    }

    /// One node's containers of the container API, by uuid.
    async fn list_node(&self, access: &Access<'_>, api: &str) -> std::result::Result<HashMap<Uuid, EngineState>, String> {
        let node = access.connect(api).map_err(|e| e.0)?;
        list_on(&node).await
    }
}

pub(super) async fn inspect_state(node: &Docker, c: &Container) -> Result<EngineState> {
    let info = node
        .inspect_container(&c.engine_name(), None::<bollard::query_parameters::InspectContainerOptions>)
        .await
        .map_err(|e| engine_error(&format!("inspecting container {}", c.uuid), e))?;
    Ok(info.state.as_ref().map(state_of).unwrap_or(EngineState { status: ContainerStatus::Unknown, reason: None }))
}

/// One engine's containers of the container API, by uuid.
pub(super) async fn list_on(node: &Docker) -> std::result::Result<HashMap<Uuid, EngineState>, String> {
    let filters = HashMap::from([("label".to_owned(), vec![LABEL_CONTAINER.to_owned()])]);
    let list = node
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .map_err(|e| format!("its Docker API does not answer: {e}"))?;
    Ok(list
        .into_iter()
        .filter_map(|s| {
            let uuid = s.labels.as_ref()?.get(LABEL_CONTAINER).and_then(|u| Uuid::parse_str(u).ok())?;
            Some((uuid, summary_state(s.state, s.status)))
        })
        .collect())
}

#[async_trait]
impl ContainerDriver for SwarmDriver {
    async fn nodes(&self, bay: Bay<'_>) -> Result<Vec<String>> {
        let engine = self.engine().map_err(unavailable)?;
        let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_BAY}={}", bay.cluster.uuid)])]);
        let list = engine
            .list_containers(Some(ListContainersOptionsBuilder::new().filters(&filters).build()))
            .await
            .map_err(|e| unavailable(docker::err("listing the bay's nodes", e)))?;
        let mut workers = vec![];
        let mut masters = vec![];
        for s in list {
            let labels = s.labels.unwrap_or_default();
            let (Some(name), Some(role)) = (labels.get(docker::LABEL_NODE), labels.get(docker::LABEL_ROLE)) else { continue };
            if role == "worker" {
                workers.push(name.clone());
            } else {
                masters.push(name.clone());
            }
        }
        // Managers take containers only in a bay without workers.
        let mut chosen = if workers.is_empty() { masters } else { workers };
        chosen.sort();
        Ok(chosen)
    }

    async fn create(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<EngineState> {
        let node = self.node_client(bay, host).await?;
        self.ensure_image(&node, host, &c.image).await?;
        create_on(&node, host, c).await
    }

    async fn act(&self, bay: Bay<'_>, host: &str, c: &Container, action: ContainerAction) -> Result<EngineState> {
        act_on(&*self.node_client(bay, host).await?, c, action).await
    }

    async fn logs(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<String> {
        logs_on(&*self.node_client(bay, host).await?, c).await
    }

    async fn exec(&self, bay: Bay<'_>, host: &str, c: &Container, argv: &[String]) -> Result<ExecOutput> {
        exec_on(&*self.node_client(bay, host).await?, c, argv).await
    }
    async fn revive(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<Option<EngineState>> {
        let engine = self.engine().map_err(unavailable)?;
        let node_started = engine
            .inspect_container(host, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .ok()
            .and_then(|n| n.state)
            .and_then(|s| s.started_at)
            .and_then(|t| magnum_types::time::from_storage(&t));
        let node = self.node_client(bay, host).await?;
        let Some(node_started) = node_started else { return Ok(None) };
        revive_on(&node, host, c, node_started).await
    }

    async fn remove(&self, bay: Bay<'_>, host: &str, c: &Container) -> Result<()> {
        let node = match self.node_client(bay, host).await {
            Ok(n) => n,
            // Its node is gone, and the container with it.
            Err(e) if e.kind == magnum_types::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        docker::remove_container(&node, &c.engine_name()).await.map_err(unavailable)
    }

    async fn list(&self, bay: Bay<'_>) -> Result<BayListing> {
        let engine = self.engine().map_err(unavailable)?;
        let access = Access::for_bay(bay.template, bay.credentials).map_err(unavailable)?;
        let (ids, _, _) = docker::owned_by(&engine, &bay.cluster.uuid.to_string()).await.map_err(unavailable)?;
        let mut nodes = vec![];
        for id in ids {
            let Ok(c) = engine.inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>).await else { continue };
            let Some((name, _)) = node_labels(&c) else { continue };
            let running = c.state.as_ref().and_then(|s| s.running) == Some(true);
            let api = c.network_settings.as_ref().and_then(|n| self.published_api(n, api_port(access.tls.is_some())));
            nodes.push((name, running, api));
        }
        let listings = nodes.iter().map(|(name, running, api)| {
            let access = &access;
            async move {
                let listing = match (running, api) {
                    (false, _) => Err("the node is not running".to_owned()),
                    (true, None) => Err("the node publishes no Docker API".to_owned()),
                    (true, Some(api)) => self.list_node(access, api).await,
                };
                (name.clone(), listing)
            }
        });
        Ok(futures_util::future::join_all(listings).await.into_iter().collect())
    }
}

pub(super) async fn create_on(node: &Docker, host: &str, c: &Container) -> Result<EngineState> {
    let memory = c.memory.as_deref().map(memory_bytes).transpose()?.map(|b| b as i64);
    let labels = HashMap::from([
        (LABEL_CONTAINER.to_owned(), c.uuid.to_string()),
        (LABEL_BAY.to_owned(), c.bay_uuid.to_string()),
        (LABEL_PROJECT.to_owned(), c.project_id.clone()),
    ]);
    let body = ContainerCreateBody {
        image: Some(c.image.clone()),
        cmd: c.argv()?,
        env: Some(c.environment.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        // Upstream's convention: the hostname is the container's uuid.
        hostname: Some(c.uuid.to_string()),
        labels: Some(labels),
        // An init as PID 1 passes signals on, so stop and reboot take effect at once.
        host_config: Some(HostConfig { memory, init: Some(true), ..Default::default() }),
        ..Default::default()
    };
    let name = c.engine_name();
    match node.create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body).await {
        Ok(_) => {}
        // The name is taken: by an earlier attempt of this very create (after a crash or a
        // timeout), which is then done; by anything else, a conflict.
        Err(DockerError::DockerResponseServerError { status_code: 409, message }) => {
            let existing = node
                .inspect_container(&name, None::<bollard::query_parameters::InspectContainerOptions>)
                .await
                .map_err(|e| engine_error(&format!("inspecting container {name}"), e))?;
            let owner = existing.config.and_then(|c| c.labels).and_then(|l| l.get(LABEL_CONTAINER).cloned());
            if owner != Some(c.uuid.to_string()) {
                return Err(MagnumError::conflict(format!("Creating container {name} on node {host}: {message}")));
            }
        }
        Err(e) => return Err(engine_error(&format!("Creating container {name} on node {host}"), e)),
    }
    inspect_state(node, c).await
}

pub(super) async fn act_on(node: &Docker, c: &Container, action: ContainerAction) -> Result<EngineState> {
    let name = c.engine_name();
    let done = match action {
        ContainerAction::Start => node.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>).await,
        ContainerAction::Stop => node.stop_container(&name, Some(StopContainerOptionsBuilder::new().t(STOP_GRACE).build())).await,
        ContainerAction::Reboot => node.restart_container(&name, Some(RestartContainerOptionsBuilder::new().t(STOP_GRACE).build())).await,
        ContainerAction::Pause => node.pause_container(&name).await,
        ContainerAction::Unpause => node.unpause_container(&name).await,
    };
    match done {
        Ok(()) => {}
        // Already in the asked state.
        Err(e) if not_modified(&e) => {}
        Err(e) => return Err(engine_error(&format!("{} of container {}", action.as_str(), c.uuid), e)),
    }
    inspect_state(node, c).await
}

/// Starts `c` on `node` if it is stopped and last started before the node did (at
/// `node_started`): it was running when the node went down.
async fn revive_on(node: &Docker, host: &str, c: &Container, node_started: magnum_types::time::Timestamp) -> Result<Option<EngineState>> {
    let info = node
        .inspect_container(&c.engine_name(), None::<bollard::query_parameters::InspectContainerOptions>)
        .await
        .map_err(|e| engine_error(&format!("inspecting container {}", c.uuid), e))?;
    let state = info.state.unwrap_or_default();
    if state.running == Some(true) {
        return Ok(Some(state_of(&state)));
    }
    let last_started = state.started_at.as_deref().and_then(magnum_types::time::from_storage);
    if last_started.is_none_or(|t| t >= node_started) {
        return Ok(None);
    }
    tracing::info!(container = %c.uuid, node = host, "starting a container that was running when its node went down");
    act_on(node, c, ContainerAction::Start).await.map(Some)
}

pub(super) async fn logs_on(node: &Docker, c: &Container) -> Result<String> {
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).tail("all").build();
    let mut stream = node.logs(&c.engine_name(), Some(options));
    let mut chunks = vec![];
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.map_err(|e| engine_error(&format!("reading the logs of container {}", c.uuid), e))?);
    }
    Ok(text_of(chunks))
}

pub(super) async fn exec_on(node: &Docker, c: &Container, argv: &[String]) -> Result<ExecOutput> {
    let what = format!("executing {:?} in container {}", argv.join(" "), c.uuid);
    let config = CreateExecOptions { cmd: Some(argv.to_vec()), attach_stdout: Some(true), attach_stderr: Some(true), ..Default::default() };
    let exec = node.create_exec(&c.engine_name(), config).await.map_err(|e| engine_error(&what, e))?;
    let StartExecResults::Attached { mut output, .. } = node.start_exec(&exec.id, None).await.map_err(|e| engine_error(&what, e))? else {
        return Err(MagnumError::internal(format!("{what}: the engine detached the command")));
    };
    let mut chunks = vec![];
    let finished = tokio::time::timeout(EXEC_LIMIT, async {
        while let Some(chunk) = output.next().await {
            chunks.push(chunk.map_err(|e| engine_error(&what, e))?);
        }
        Ok::<_, MagnumError>(())
    })
    .await;
    let exit_code = match finished {
        Ok(r) => {
            r?;
            node.inspect_exec(&exec.id).await.map_err(|e| engine_error(&what, e))?.exit_code
        }
        Err(_) => None,
    };
    Ok(ExecOutput { output: text_of(chunks), exit_code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_states_map_as_upstream() {
        use bollard::models::ContainerStateStatusEnum as St;
        let s = |running, paused, status, error: &str| ContainerState {
            running: Some(running),
            paused: Some(paused),
            status: Some(status),
            error: Some(error.to_owned()),
            exit_code: Some(3),
            ..Default::default()
        };
        assert_eq!(state_of(&s(true, false, St::RUNNING, "")).status, ContainerStatus::Running);
        assert_eq!(state_of(&s(true, true, St::PAUSED, "")).status, ContainerStatus::Paused);
        let exited = state_of(&s(false, false, St::EXITED, ""));
        assert_eq!((exited.status, exited.reason.as_deref()), (ContainerStatus::Stopped, Some("exited with code 3")));
        assert_eq!(state_of(&s(false, false, St::CREATED, "")).reason, None);
        let failed = state_of(&s(false, false, St::EXITED, "exec: \"nope\": executable file not found"));
        assert_eq!(failed.status, ContainerStatus::Error);
        assert!(failed.reason.is_some_and(|r| r.contains("nope")));
    }

    #[test]
    fn listing_states_map_the_same_way() {
        use ContainerSummaryStateEnum as S;
        assert_eq!(summary_state(Some(S::RUNNING), None).status, ContainerStatus::Running);
        assert_eq!(summary_state(Some(S::PAUSED), None).status, ContainerStatus::Paused);
        assert_eq!(summary_state(Some(S::CREATED), None).status, ContainerStatus::Stopped);
        assert_eq!(summary_state(Some(S::DEAD), None).status, ContainerStatus::Error);
        let e = summary_state(Some(S::EXITED), Some("Exited (0) 2 seconds ago".into()));
        assert_eq!((e.status, e.reason.as_deref()), (ContainerStatus::Stopped, Some("exited (0) 2 seconds ago")));
    }

    #[test]
    fn long_output_keeps_its_end() {
        let big = bollard::container::LogOutput::StdOut { message: vec![b'a'; MAX_OUTPUT].into() };
        let tail = bollard::container::LogOutput::StdErr { message: b"the end\n".to_vec().into() };
        let out = text_of(vec![big, tail]);
        assert_eq!(out.len(), MAX_OUTPUT);
        assert!(out.ends_with("the end\n"));
    }
}
