//! The Docker engine that hosts bay nodes: connections, the labels that mark what a bay owns,
//! and label-driven cleanup (so a delete works after a conductor crash too).

pub mod images;
pub mod network;
pub mod nodes;
pub mod plan;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::{ClientVersion, Docker};
use std::collections::HashMap;

/// Debian 12's docker.io speaks API 1.41; newer engines accept it too.
pub const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };

/// Labels on every container, network and volume a bay owns.
pub const LABEL_BAY: &str = "org.openstack.magnum.bay";
pub const LABEL_PROJECT: &str = "org.openstack.magnum.project";
pub const LABEL_ROLE: &str = "org.openstack.magnum.role";
pub const LABEL_NODE: &str = "org.openstack.magnum.node";
/// On node containers: the nodegroup the node belongs to.
pub const LABEL_NODEGROUP: &str = "org.openstack.magnum.nodegroup";
/// On containers of the container API, inside bay nodes: the container's uuid.
pub const LABEL_CONTAINER: &str = "org.openstack.magnum.container";

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(pub String);

/// Asks `fence` before a change to the engine: an error once another conductor drives the bay.
pub async fn fenced(fence: &dyn crate::Fence) -> Result<(), EngineError> {
    fence.check().await.map_err(|e| EngineError(e.0))
}

pub fn err(context: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError(format!("{context}: {e}"))
}

/// Where the engine that hosts bays is, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineAccess {
    /// `unix:///path` or `tcp://host:port`.
    pub url: String,
    /// (CA, client certificate, client key) PEM files for a TLS-protected remote engine.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)>,
    /// The engine host's address where node APIs are published.
    pub publish_address: String,
}

impl EngineAccess {
    pub fn local(url: &str) -> EngineAccess {
        EngineAccess { url: url.to_owned(), tls: None, publish_address: "127.0.0.1".into() }
    }

    pub fn connect(&self, timeout_secs: u64) -> Result<Docker, EngineError> {
        match &self.tls {
            Some((ca, cert, key)) => Docker::connect_with_ssl(&self.url, key, cert, ca, timeout_secs, &API_VERSION)
                .map_err(|e| err(&format!("cannot use the Docker engine at {} over TLS (CA {})", self.url, ca.display()), e)),
            None => connect(&self.url, timeout_secs),
        }
    }
}

/// Connects to the engine at `url`: `unix:///path` or `tcp://host:port` (no TLS).
pub fn connect(url: &str, timeout_secs: u64) -> Result<Docker, EngineError> {
    if url.starts_with("unix://") || url.starts_with('/') {
        Docker::connect_with_unix(url, timeout_secs, &API_VERSION)
            .map_err(|e| err(&format!("cannot use the Docker engine socket {url}"), e))
    } else {
        Docker::connect_with_http(url, timeout_secs, &API_VERSION).map_err(|e| err(&format!("cannot use the Docker engine at {url}"), e))
    }
}

/// Whether the engine answers a ping.
pub async fn reachable(docker: &Docker) -> bool {
    docker.ping().await.is_ok()
}

pub(crate) fn bay_filter(bay: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{LABEL_BAY}={bay}")])])
}

/// Everything labelled as belonging to `bay`: (containers, networks, volumes) by name or id.
pub async fn owned_by(docker: &Docker, bay: &str) -> Result<(Vec<String>, Vec<String>, Vec<String>), EngineError> {
    let f = bay_filter(bay);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&f).build()))
        .await
        .map_err(|e| err("listing the bay's containers", e))?
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&f).build()))
        .await
        .map_err(|e| err("listing the bay's networks", e))?
        .into_iter()
        .filter_map(|n| n.id)
        .collect();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::new().filters(&f).build()))
        .await
        .map_err(|e| err("listing the bay's volumes", e))?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    Ok((containers, networks, volumes))
}

/// Removes every container, network and volume labelled for `bay`. Safe to repeat.
pub async fn remove_owned(docker: &Docker, bay: &str) -> Result<(), EngineError> {
    let (containers, networks, volumes) = owned_by(docker, bay).await?;
    for c in containers {
        remove_container(docker, &c).await?;
    }
    for n in networks {
        match docker.remove_network(&n).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(err(&format!("removing network {n}"), e)),
        }
    }
    for v in volumes {
        match docker.remove_volume(&v, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(err(&format!("removing volume {v}"), e)),
        }
    }
    Ok(())
}

pub async fn remove_container(docker: &Docker, id: &str) -> Result<(), EngineError> {
    match docker.remove_container(id, Some(RemoveContainerOptionsBuilder::new().force(true).v(true).build())).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(err(&format!("removing container {id}"), e)),
    }
}

pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}
