//! One Kubernetes node container: how it is made (what the engine must grant it, and nothing
//! more), and the files the conductor writes into it before its first start. The node's own
//! programs (`node/entrypoint.sh`, `node/routes.sh`) are in the node image.

use super::layout::{Placed, API_PORT, CLUSTER_CIDR, SERVICE_CIDR};
use super::pki;
use crate::docker::nodes::{self, Limits, NodeFile};
use crate::docker::plan::NodeRole;
use crate::docker::{EngineAccess, EngineError};
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum, PortBinding};
use magnum_types::cluster::Cluster;
use std::collections::HashMap;

/// Started by tini as the node's main process.
pub const ENTRYPOINT: &str = include_str!("node/entrypoint.sh");
/// Installed as `magnum-routes`: applies /etc/magnum/routes.
pub const ROUTES: &str = include_str!("node/routes.sh");
pub const ENV_FILE: &str = "/etc/magnum/node.env";
pub const ROUTES_FILE: &str = "/etc/magnum/routes";
/// The pod sandbox image, baked into the node image and loaded by each node at start.
pub const PAUSE_IMAGE: &str = "magnum/pause:3.2";

/// The node's settings, read by its entrypoint.
pub fn env_file(node: &Placed, master: &Placed) -> String {
    let role = node.spec.role.as_str();
    format!(
        "ROLE={role}\nNODE_NAME={}\nNODE_IP={}\nPOD_CIDR={}\nCLUSTER_CIDR={CLUSTER_CIDR}\nSERVICE_CIDR={SERVICE_CIDR}\n\
         API_SERVER=https://{}:6443\nPAUSE_IMAGE={PAUSE_IMAGE}\nNODEGROUP={}\nNODE_LABELS={}\nNODE_TAINTS={}\n",
        node.spec.name,
        node.ip,
        node.pod_cidr,
        master.ip,
        label_value(&node.spec.group),
        // Checked by magnum_types::node_placement: no character the shell would read.
        magnum_types::node_placement::labels_flag(&node.spec.labels),
        magnum_types::node_placement::taints_flag(&node.spec.taints)
    )
}

/// `s` as a Kubernetes label value: at most 63 of `[A-Za-z0-9._-]`, starting and ending
/// with a letter or digit (anything else becomes `-`).
pub fn label_value(s: &str) -> String {
    let mapped: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).take(63).collect();
    mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_owned()
}

/// The node's settings and routes, written into every new container of the node.
pub fn settings(node: &Placed, master: &Placed, routes: &str) -> Vec<NodeFile> {
    vec![NodeFile::new(ENV_FILE, 0o644, env_file(node, master)), NodeFile::new(ROUTES_FILE, 0o644, routes.to_owned())]
}

/// The node's volumes: its container engine's store, its certificates (so a node made again
/// keeps its identities: on a master, the service-account key every token is signed with), and
/// on a master etcd's data.
pub fn volumes(node: &Placed) -> Vec<(String, &'static str)> {
    let mut v = vec![(format!("{}-docker", node.spec.name), "/var/lib/docker"), (format!("{}-pki", node.spec.name), pki::DIR)];
    if node.spec.role == NodeRole::Manager {
        v.push((format!("{}-etcd", node.spec.name), "/var/lib/etcd"));
    }
    v
}

/// What the engine grants a node: the capabilities its daemons need (mounts and cgroups:
/// SYS_ADMIN; pod networking and kube-proxy: NET_ADMIN; reading the kernel log kubelet watches
/// for OOM kills: SYSLOG), its own cgroup namespace, /dev/kmsg, IP forwarding in its own network
/// namespace, and a fixed address on the bay's network. The seccomp profile is off because the
/// node's runtime needs calls Docker's default profile refuses (keyctl, pivot_root, mount).
pub fn container(
    cluster: &Cluster,
    image: &str,
    node: &Placed,
    network: &str,
    engine: &EngineAccess,
    limits: Option<Limits>,
) -> Result<ContainerCreateBody, EngineError> {
    let mut ports = HashMap::new();
    let mut exposed = vec![];
    if node.spec.role == NodeRole::Manager {
        let port = match nodes::kept_api_port(cluster, &node.spec) {
            Some(port) => port,
            None => nodes::free_port(engine)?,
        };
        let binding = PortBinding { host_ip: Some(engine.publish_address.clone()), host_port: Some(port.to_string()) };
        ports.insert(API_PORT.to_owned(), Some(vec![binding]));
        exposed.push(API_PORT.to_owned());
    }
    let host = HostConfig {
        cap_add: Some(vec!["SYS_ADMIN".into(), "NET_ADMIN".into(), "SYSLOG".into()]),
        security_opt: Some(vec!["seccomp=unconfined".into()]),
        cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
        restart_policy: Some(nodes::restart_policy()),
        devices: Some(vec![DeviceMapping {
            path_on_host: Some("/dev/kmsg".into()),
            path_in_container: Some("/dev/kmsg".into()),
            cgroup_permissions: Some("r".into()),
        }]),
        sysctls: Some(HashMap::from([("net.ipv4.ip_forward".to_owned(), "1".to_owned())])),
        network_mode: Some(network.to_owned()),
        binds: Some(volumes(node).into_iter().map(|(v, at)| format!("{v}:{at}")).collect()),
        port_bindings: Some(ports),
        // Under contention a master's control plane goes before workloads (and a starting bay's
        // API server before its workers' daemons): 4:1 against a worker.
        cpu_shares: Some(if node.spec.role == NodeRole::Manager { 2048 } else { 512 }),
        memory: limits.map(|l| (l.ram_mb * 1024 * 1024) as i64),
        nano_cpus: limits.map(|l| (l.vcpus * 1e9) as i64),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(image.to_owned()),
        hostname: Some(node.spec.name.clone()),
        labels: Some(nodes::node_container_labels(cluster, &node.spec)),
        exposed_ports: Some(exposed),
        host_config: Some(host),
        networking_config: Some(crate::docker::network::attach(network, node.ip)),
        ..Default::default()
    })
}
