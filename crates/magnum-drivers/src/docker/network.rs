//! A built bay's own network, with a subnet that stays put, and where each node lives on it.
//! Nodes need fixed addresses (a swarm's members advertise theirs; Kubernetes certificates,
//! routes and kubelet's node address name them; after an engine restart each node must come
//! back where it was), and the engine gives fixed addresses only on networks whose subnet was
//! configured. So the engine first chooses a free
//! subnet for a short-lived probe network (it knows which ranges its other networks and the
//! host's routes use), and the bay's network is then made with that subnet, configured.

use crate::docker::nodes;
use crate::docker::plan::{self, NodeRole, NodeSpec};
use crate::docker::{err, is_not_found, EngineError};
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest, NetworkInspect as Network, NetworkingConfig,
};
use bollard::Docker;
use magnum_types::cluster::Cluster;
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Managers are hosts 2 to 9 of the bay's subnet (manager-i is host 2+i), workers from 10 on
/// (worker-j is host 10+j): a function of the node's name alone.
pub const FIRST_WORKER_HOST: u32 = 10;
pub const MAX_MANAGERS: u32 = FIRST_WORKER_HOST - 2;

/// The bay network's IPv4 subnet, e.g. 172.19.0.0/16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Option<Subnet> {
        let (addr, prefix) = s.split_once('/')?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 30)?;
        let base: Ipv4Addr = addr.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
        Some(Subnet { base: Ipv4Addr::from(u32::from(base) & mask), prefix })
    }

    pub fn host(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - self.prefix as u32);
        // The last address is the broadcast address.
        (u64::from(n) < size - 1).then(|| Ipv4Addr::from(u32::from(self.base) + n))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn index_of(name: &str) -> Option<u32> {
    name.rsplit('-').next()?.parse().ok()
}

/// Which host of the bay's subnet `spec` is; an error names what does not fit.
pub fn node_host(spec: &NodeSpec) -> Result<u32, String> {
    let index = index_of(&spec.name).ok_or_else(|| format!("node {} has no index in its name", spec.name))?;
    match spec.role {
        NodeRole::Manager if index < MAX_MANAGERS => Ok(2 + index),
        NodeRole::Manager => Err(format!("a bay has at most {MAX_MANAGERS} managers here, not {}", index + 1)),
        NodeRole::Worker => Ok(FIRST_WORKER_HOST + index),
    }
}

/// `spec`'s address on a bay network of `subnet`.
pub fn address(subnet: Subnet, spec: &NodeSpec) -> Result<Ipv4Addr, String> {
    let host = node_host(spec)?;
    subnet.host(host).ok_or_else(|| format!("the bay network {subnet} is too small for node {}", spec.name))
}

/// How a node container joins the bay network `network` at its fixed address `ip`.
pub fn attach(network: &str, ip: Ipv4Addr) -> NetworkingConfig {
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig { ipv4_address: Some(ip.to_string()), ..Default::default() }),
        ..Default::default()
    };
    NetworkingConfig { endpoints_config: Some(HashMap::from([(network.to_owned(), endpoint)])) }
}

async fn inspect(docker: &Docker, name: &str) -> Result<Option<Network>, EngineError> {
    match docker.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>).await {
        Ok(n) => Ok(Some(n)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(err(&format!("inspecting network {name}"), e)),
    }
}

fn subnet_of(n: &Network) -> Option<Subnet> {
    n.ipam.as_ref()?.config.as_ref()?.iter().filter_map(|c| c.subnet.as_deref()).find_map(Subnet::parse)
}

async fn remove(docker: &Docker, name: &str) -> Result<(), EngineError> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(err(&format!("removing network {name}"), e)),
    }
}

async fn create(docker: &Docker, cluster: &Cluster, name: &str, subnet: Option<Subnet>) -> Result<(), EngineError> {
    let ipam =
        subnet.map(|s| Ipam { config: Some(vec![IpamConfig { subnet: Some(s.to_string()), ..Default::default() }]), ..Default::default() });
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        ipam,
        labels: Some(nodes::labels(cluster, "network", None)),
        ..Default::default()
    };
    docker.create_network(request).await.map(|_| ()).map_err(|e| err(&format!("creating network {name}"), e))
}

/// The bay's network (made if missing) and its subnet.
pub async fn ensure(docker: &Docker, cluster: &Cluster) -> Result<(String, Subnet), EngineError> {
    let name = plan::network_name(cluster);
    let probe = format!("{name}-probe");
    for _ in 0..3 {
        if let Some(n) = inspect(docker, &name).await? {
            remove(docker, &probe).await?;
            let subnet = subnet_of(&n).ok_or_else(|| EngineError(format!("network {name} has no IPv4 subnet")))?;
            return Ok((name, subnet));
        }
        // A probe an interrupted earlier attempt left is as good as a new one.
        if inspect(docker, &probe).await?.is_none() {
            create(docker, cluster, &probe, None).await?;
        }
        let chosen = inspect(docker, &probe)
            .await?
            .as_ref()
            .and_then(subnet_of)
            .ok_or_else(|| EngineError(format!("the engine gave network {probe} no IPv4 subnet")))?;
        remove(docker, &probe).await?;
        match create(docker, cluster, &name, Some(chosen)).await {
            Ok(()) => tracing::info!(bay = %cluster.uuid, network = %name, subnet = %chosen, "bay network made"),
            // Another network took the subnet meanwhile: choose again.
            Err(e) => tracing::warn!(network = %name, error = %e.0, "could not pin the subnet; choosing again"),
        }
    }
    Err(EngineError(format!("could not make network {name} with a fixed subnet after 3 attempts")))
}
