//! The engine's other objects a tenant makes: networks, volumes, secrets and configs, images
//! and builds. None of them may reach past the node's default confinement either.

use super::workloads::{refuse, Check, HostNetwork};
use crate::json::Json;
use crate::route::Route;

/// `POST /networks/create`: bridge and overlay networks of the tenant's own.
pub fn network_create(body: &Json) -> Check {
    match body.field("Driver")?.and_then(Json::as_str) {
        None | Some("") | Some("bridge") | Some("overlay") => {}
        Some(d) => return refuse(&format!("network driver '{d}' (bridge and overlay networks are allowed)")),
    }
    if body.field("Ingress")?.is_some_and(|v| !v.is_unset()) {
        return refuse("replacing the swarm's ingress network");
    }
    if let Some(ipam) = body.field("IPAM")? {
        if ipam.field("Driver")?.and_then(Json::as_str).is_some_and(|d| !d.is_empty() && d != "default") {
            return refuse("an IPAM driver plugin");
        }
    }
    Ok(())
}

/// `POST /networks/{id}/connect`.
pub fn network_connect(network: &str, host_network: HostNetwork) -> Check {
    if host_network(network) {
        return refuse("the node's network namespace");
    }
    Ok(())
}

/// `POST /volumes/create`: the local driver without options (its options bind node paths).
pub fn volume_create(body: &Json) -> Check {
    match body.field("Driver")?.and_then(Json::as_str) {
        None | Some("") | Some("local") => {}
        Some(d) => return refuse(&format!("volume driver '{d}'")),
    }
    if body.field("DriverOpts")?.is_some_and(|v| !v.is_unset()) {
        return refuse("a volume with driver options");
    }
    if body.field("ClusterVolumeSpec")?.is_some() {
        return refuse("a cluster (CSI) volume");
    }
    Ok(())
}

/// `POST /secrets/create`, `POST /configs/create`: kept in the swarm, not by a driver plugin.
pub fn secret_create(body: &Json) -> Check {
    if body.field("Driver")?.is_some_and(|v| !v.is_unset()) {
        return refuse("a secret driver plugin");
    }
    Ok(())
}

/// `POST /images/create`: pulling by name, or importing the request's own body; never an
/// import the node fetches from an address.
pub fn image_create(route: &Route) -> Check {
    for source in route.query_values("fromSrc") {
        if source != "-" {
            return refuse(&format!("importing an image from '{source}'"));
        }
    }
    Ok(())
}

/// `POST /build` (the classic builder): its steps run as ordinary containers unless the
/// query asks for the node's network or a remote context the node would fetch.
pub fn build(route: &Route, host_network: HostNetwork) -> Check {
    for mode in route.query_values("networkmode") {
        if host_network(mode) {
            return refuse("a build step in the node's network namespace");
        }
    }
    if route.query_values("cgroupparent").any(|c| !c.is_empty()) {
        return refuse("choosing the cgroup parent of build steps");
    }
    if route.query_values("remote").any(|r| !r.is_empty()) {
        return refuse("a remote build context (send the context in the request)");
    }
    Ok(())
}
