//! Which node containers a bay should have: pure, so the naming and scale-down choice are
//! unit-tested without an engine.

use magnum_types::cluster::Cluster;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    Manager,
    Worker,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Manager => "master",
            NodeRole::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub role: NodeRole,
}

/// `magnum-<first 8 hex of the bay uuid>`: short, unique enough, and easy to spot in `docker ps`.
pub fn prefix(cluster: &Cluster) -> String {
    format!("magnum-{}", &cluster.uuid.simple().to_string()[..8])
}

pub fn network_name(cluster: &Cluster) -> String {
    format!("{}-net", prefix(cluster))
}

pub fn node_name(cluster: &Cluster, role: NodeRole, index: usize) -> String {
    format!("{}-{}-{index}", prefix(cluster), role.as_str())
}

/// What a bay should consist of, given the workers it has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Managers first, then workers: the nodes that must exist and be Ready.
    pub nodes: Vec<NodeSpec>,
    /// Existing workers to drain and remove.
    pub remove: Vec<String>,
}

/// Keeps the surviving workers (a scale-down never renames anyone), adds workers at the
/// lowest free indexes when growing, and names the surplus to remove.
pub fn plan(cluster: &Cluster, existing_workers: &[String]) -> Plan {
    let masters = (0..cluster.master_count.max(1) as usize)
        .map(|i| NodeSpec { name: node_name(cluster, NodeRole::Manager, i), role: NodeRole::Manager });
    let want = cluster.node_count.max(0) as usize;
    let remove = workers_to_remove(existing_workers, want, &cluster.nodes_to_remove);
    let mut workers: Vec<String> = existing_workers.iter().filter(|w| !remove.contains(w)).cloned().collect();
    let mut index = 0;
    while workers.len() < want {
        let name = node_name(cluster, NodeRole::Worker, index);
        if !workers.contains(&name) && !remove.contains(&name) {
            workers.push(name);
        }
        index += 1;
    }
    workers.sort_by_key(|n| index_of(n));
    let nodes = masters.chain(workers.into_iter().map(|name| NodeSpec { name, role: NodeRole::Worker })).collect();
    Plan { nodes, remove }
}

fn index_of(name: &str) -> usize {
    name.rsplit('-').next().and_then(|i| i.parse().ok()).unwrap_or(0)
}

/// Workers to remove to get from `existing` to `want` workers: the ones the user named in
/// `nodes_to_remove` first (by container name or swarm node name), then the highest indexes.
pub fn workers_to_remove(existing: &[String], want: usize, nodes_to_remove: &[String]) -> Vec<String> {
    let surplus = existing.len().saturating_sub(want);
    let mut chosen: Vec<String> = existing.iter().filter(|n| nodes_to_remove.contains(n)).take(surplus).cloned().collect();
    let mut rest: Vec<&String> = existing.iter().filter(|n| !chosen.contains(n)).collect();
    rest.sort_by_key(|n| std::cmp::Reverse(index_of(n)));
    for n in rest {
        if chosen.len() >= surplus {
            break;
        }
        chosen.push(n.clone());
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(workers: i64, remove: &[&str]) -> Cluster {
        let t: magnum_types::template::ClusterTemplate = serde_json::from_value(serde_json::json!({
            "uuid": "4cde7cfd-18bc-4d11-b345-7bbb4f40c8b9", "name": "t", "coe": "swarm", "image_id": "i", "flavor_id": null,
            "master_flavor_id": null, "dns_nameserver": null, "keypair_id": null, "external_network_id": null, "fixed_network": null,
            "fixed_subnet": null, "network_driver": null, "volume_driver": null, "apiserver_port": null, "docker_volume_size": null,
            "docker_storage_driver": null, "cluster_distro": null, "http_proxy": null, "https_proxy": null, "no_proxy": null,
            "ssh_authorized_key": null, "registry_enabled": false, "labels": {}, "tls_disabled": true, "public": false,
            "server_type": "vm", "insecure_registry": null, "master_lb_enabled": false, "floating_ip_enabled": true, "hidden": false,
            "tags": null, "driver": null, "project_id": "p", "user_id": "u", "created_at": "2026-01-01T00:00:00Z", "updated_at": null
        }))
        .expect("template");
        let body = magnum_types::cluster::CLUSTER_SCHEMA
            .check_create(&serde_json::json!({"cluster_template_id": "x", "node_count": workers}))
            .expect("body");
        let who = magnum_types::cluster::ClusterCreator {
            project_id: "p",
            user_id: "u",
            flavors: &[],
            version: magnum_types::microversion::MAX,
            now: magnum_types::time::now(),
        };
        let mut c = Cluster::from_create(&body, &t, &who).expect("cluster");
        c.uuid = t.uuid;
        c.nodes_to_remove = remove.iter().map(|s| s.to_string()).collect();
        c
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn grow_keeps_and_fills_lowest_free_indexes() {
        let p = plan(&cluster(3, &[]), &["magnum-4cde7cfd-worker-1".into()]);
        assert_eq!(
            names(&p),
            ["magnum-4cde7cfd-master-0", "magnum-4cde7cfd-worker-0", "magnum-4cde7cfd-worker-1", "magnum-4cde7cfd-worker-2"]
        );
        assert!(p.remove.is_empty());
    }

    #[test]
    fn shrink_removes_the_named_worker_and_keeps_the_rest_by_name() {
        let existing: Vec<String> = (0..4).map(|i| format!("magnum-4cde7cfd-worker-{i}")).collect();
        let p = plan(&cluster(1, &["magnum-4cde7cfd-worker-0"]), &existing);
        assert_eq!(names(&p), ["magnum-4cde7cfd-master-0", "magnum-4cde7cfd-worker-1"]);
        assert_eq!(p.remove, ["magnum-4cde7cfd-worker-0", "magnum-4cde7cfd-worker-3", "magnum-4cde7cfd-worker-2"]);
    }

    #[test]
    fn scale_down_prefers_named_then_newest() {
        let existing: Vec<String> = (0..5).map(|i| format!("magnum-ab-worker-{i}")).collect();
        assert_eq!(workers_to_remove(&existing, 3, &[]), vec!["magnum-ab-worker-4", "magnum-ab-worker-3"]);
        assert_eq!(workers_to_remove(&existing, 3, &["magnum-ab-worker-1".into()]), vec!["magnum-ab-worker-1", "magnum-ab-worker-4"]);
        assert_eq!(workers_to_remove(&existing, 5, &["magnum-ab-worker-1".into()]), Vec::<String>::new());
        assert_eq!(workers_to_remove(&existing, 0, &[]).len(), 5);
    }
}
