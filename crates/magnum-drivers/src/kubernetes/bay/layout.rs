//! Where each node of a Kubernetes bay lives on the bay's network, and which pod range it
//! hands out: pure, and a function of the node's name alone, so a node keeps its address and
//! its pods' range across restarts, resizes and conductor takeovers.
//!
//! On the bay's network (a subnet the engine chose, then pinned): master-i is host 2+i,
//! worker-j host 10+j. Host k's pods get 10.100.k.0/24 of the cluster range 10.100.0.0/16
//! (upstream Magnum's default pod network); services get 10.254.0.0/16 (upstream's default).

use crate::docker::network::{self, Subnet};
use crate::docker::plan::{NodeRole, NodeSpec};
use std::net::Ipv4Addr;

pub const CLUSTER_CIDR: &str = "10.100.0.0/16";
pub const SERVICE_CIDR: &str = "10.254.0.0/16";
/// The `kubernetes` service's address: the first of the service range.
pub const FIRST_SERVICE_IP: &str = "10.254.0.1";
/// The API server's port inside the master.
pub const API_PORT: &str = "6443/tcp";
const LAST_HOST: u32 = 255;
/// Workers one bay can have: one /24 pod range each, up to 10.100.255.0/24 (the API refuses
/// more with the same figure).
pub const MAX_WORKERS: u32 = LAST_HOST - network::FIRST_WORKER_HOST + 1;
/// Masters one bay can have: a single stacked control plane (etcd and the API server on it).
pub const MAX_MASTERS: u32 = 1;

/// One node: its name and role, its address on the bay network, its pods' range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub spec: NodeSpec,
    pub ip: Ipv4Addr,
    pub pod_cidr: String,
}

/// Where `spec` lives in `subnet`; an error names what does not fit.
pub fn place(subnet: Subnet, spec: &NodeSpec) -> Result<Placed, String> {
    let host = network::node_host(spec)?;
    match spec.role {
        NodeRole::Manager if host - 2 >= MAX_MASTERS => {
            return Err(format!("a Kubernetes bay has at most {MAX_MASTERS} master here, not {}", host - 1))
        }
        NodeRole::Worker if host - network::FIRST_WORKER_HOST >= MAX_WORKERS => {
            return Err(format!("a Kubernetes bay has at most {MAX_WORKERS} workers here (one /24 pod range each)"))
        }
        _ => {}
    }
    let ip = network::address(subnet, spec)?;
    Ok(Placed { spec: spec.clone(), ip, pod_cidr: format!("10.100.{host}.0/24") })
}

/// The lines of `node`'s routes file: every other node's pod range through that node.
pub fn routes_for(node: &Placed, all: &[Placed]) -> String {
    all.iter().filter(|o| o.spec.name != node.spec.name).map(|o| format!("{} {}\n", o.pod_cidr, o.ip)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, role: NodeRole) -> NodeSpec {
        NodeSpec::new(name.into(), role)
    }

    #[test]
    fn addresses_and_pod_ranges_follow_the_node_name() {
        let net = Subnet::parse("172.19.0.0/16").expect("subnet");
        let m = place(net, &spec("magnum-ab-master-0", NodeRole::Manager)).expect("master");
        let w = place(net, &spec("magnum-ab-worker-3", NodeRole::Worker)).expect("worker");
        assert_eq!((m.ip.to_string(), m.pod_cidr.as_str()), ("172.19.0.2".into(), "10.100.2.0/24"));
        assert_eq!((w.ip.to_string(), w.pod_cidr.as_str()), ("172.19.0.13".into(), "10.100.13.0/24"));
        assert_eq!(routes_for(&m, &[m.clone(), w.clone()]), "10.100.13.0/24 172.19.0.13\n");
    }

    #[test]
    fn what_does_not_fit_is_named() {
        let net = Subnet::parse("192.168.7.9/28").expect("subnet");
        assert_eq!(net.to_string(), "192.168.7.0/28");
        assert!(place(net, &spec("b-worker-4", NodeRole::Worker)).is_ok());
        assert!(place(net, &spec("b-worker-5", NodeRole::Worker)).is_err_and(|e| e.contains("too small")), "the broadcast address");
        let big = Subnet::parse("10.1.0.0/16").expect("subnet");
        assert!(place(big, &spec("b-master-1", NodeRole::Manager)).is_err_and(|e| e.contains("at most 1 master")));
        assert!(place(big, &spec("b-worker-245", NodeRole::Worker)).is_ok());
        assert!(place(big, &spec("b-worker-246", NodeRole::Worker)).is_err_and(|e| e.contains("at most 246 workers")));
    }

    #[test]
    fn the_api_refuses_what_does_not_fit() {
        use magnum_types::buildable::{KUBERNETES_MAX_MASTERS, KUBERNETES_MAX_WORKERS};
        assert_eq!((MAX_MASTERS as i64, MAX_WORKERS as i64), (KUBERNETES_MAX_MASTERS, KUBERNETES_MAX_WORKERS));
        assert_eq!(network::MAX_MANAGERS as i64, magnum_types::buildable::SWARM_MAX_MASTERS);
    }
}
