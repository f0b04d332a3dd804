//! The bay's own network, with a subnet that stays put: Kubernetes nodes need fixed addresses
//! (certificates, routes and kubelet's node address name them), and the engine gives fixed
//! addresses only on networks whose subnet was configured. So the engine first chooses a free
//! subnet for a short-lived probe network (it knows which ranges its other networks and the
//! host's routes use), and the bay's network is then made with that subnet, configured.

use super::layout::Subnet;
use crate::docker::nodes;
use crate::docker::plan;
use crate::docker::{err, is_not_found, EngineError};
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest, NetworkInspect as Network};
use bollard::Docker;
use magnum_types::cluster::Cluster;

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
