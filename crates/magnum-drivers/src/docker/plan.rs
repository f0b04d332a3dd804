//! Which node containers a bay should have: pure, so the naming and scale-down choice are
//! unit-tested without an engine.

use magnum_types::cluster::Cluster;
use magnum_types::node_placement::Taint;
use magnum_types::nodegroup::{NodeGroup, Role};
use std::collections::BTreeMap;

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
    /// The nodegroup the node belongs to (`default-master`, `default-worker`, or a user's).
    pub group: String,
    /// The group's own image and flavor; None means the bay's (its template's image, its flavor).
    pub image: Option<String>,
    pub flavor: Option<String>,
    /// The group's node labels and taints (1.14).
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

impl NodeSpec {
    pub fn new(name: String, role: NodeRole) -> NodeSpec {
        let group = match role {
            NodeRole::Manager => DEFAULT_MASTER,
            NodeRole::Worker => DEFAULT_WORKER,
        };
        NodeSpec { name, role, group: group.to_owned(), image: None, flavor: None, labels: BTreeMap::new(), taints: vec![] }
    }
}

pub const DEFAULT_MASTER: &str = "default-master";
pub const DEFAULT_WORKER: &str = "default-worker";

/// A node container that exists, with the role and group its labels name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub role: NodeRole,
    pub group: String,
}

/// `magnum-<first 8 hex of the bay uuid>`: short, unique enough, and easy to spot in `docker ps`.
pub fn prefix(cluster: &Cluster) -> String {
    cluster.driver_id()
}

pub fn network_name(cluster: &Cluster) -> String {
    format!("{}-net", prefix(cluster))
}

pub fn node_name(cluster: &Cluster, role: NodeRole, index: usize) -> String {
    format!("{}-{}-{index}", prefix(cluster), role.as_str())
}

/// A worker of `group` at `index`: `worker-<index>` in the default group, `<group>-<index>`
/// (the name made fit for a host name) in others. Indexes are unique across a bay's groups:
/// a node's address and pod range follow from its index alone.
pub fn worker_name(cluster: &Cluster, group: &str, index: usize) -> String {
    if group == DEFAULT_WORKER {
        return node_name(cluster, NodeRole::Worker, index);
    }
    let mut slug: String = group.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(20).collect();
    slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        slug = "group".into();
    }
    format!("{}-{slug}-{index}", prefix(cluster))
}

/// What a bay should consist of, given the nodes it has now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Managers first, then workers: the nodes that must exist and be Ready.
    pub nodes: Vec<NodeSpec>,
    /// Existing workers to drain and remove.
    pub remove: Vec<String>,
    /// Existing managers beyond `master_count`, highest index first: each is demoted (the
    /// swarm's raft shrinks one member at a time, keeping its quorum) before it goes.
    pub retire: Vec<String>,
}

/// The bay's nodes, given its worker nodegroups and the nodes it has. Managers are indexes
/// `0..master_count` (index 0, whose port is the bay's `api_address`, always stays); every group keeps its
/// surviving workers (a scale-down never renames anyone) and grows at the lowest indexes free
/// in the whole bay; the surplus of a group, and every worker of a group that is gone or being
/// removed, is named to remove. `groups` may hold the default groups too; the default worker
/// group's size is the cluster's `node_count`.
pub fn plan(cluster: &Cluster, groups: &[NodeGroup], members: &[Member]) -> Plan {
    let manager_count = cluster.master_count.max(1) as usize;
    let masters = (0..manager_count).map(|i| NodeSpec::new(node_name(cluster, NodeRole::Manager, i), NodeRole::Manager));
    let mut retire: Vec<&Member> = members.iter().filter(|m| m.role == NodeRole::Manager && index_of(&m.name) >= manager_count).collect();
    retire.sort_by_key(|m| std::cmp::Reverse(index_of(&m.name)));
    let retire = retire.into_iter().map(|m| m.name.clone()).collect();
    let existing: Vec<&Member> = members.iter().filter(|m| m.role == NodeRole::Worker).collect();
    let mut wanted = vec![(NodeSpec::new(String::new(), NodeRole::Worker), cluster.node_count.max(0) as usize)];
    for g in groups.iter().filter(|g| g.role == Role::Worker && !g.is_default && g.is_wanted()) {
        let spec = NodeSpec {
            name: String::new(),
            role: NodeRole::Worker,
            group: g.name.clone(),
            image: g.image_id.clone(),
            flavor: g.flavor_id.clone(),
            labels: g.node_labels.clone(),
            taints: g.node_taints.clone(),
        };
        wanted.push((spec, g.node_count.max(0) as usize));
    }
    let mut remove: Vec<String> =
        existing.iter().filter(|m| !wanted.iter().any(|(w, _)| w.group == m.group)).map(|m| m.name.clone()).collect();
    let mut used: std::collections::BTreeSet<usize> = existing.iter().map(|m| index_of(&m.name)).collect();
    let mut workers = vec![];
    for (group, count) in &wanted {
        let members: Vec<String> = existing.iter().filter(|m| m.group == group.group).map(|m| m.name.clone()).collect();
        let surplus = workers_to_remove(&members, *count, &cluster.nodes_to_remove);
        let mut kept: Vec<NodeSpec> =
            members.iter().filter(|n| !surplus.contains(n)).map(|name| NodeSpec { name: name.clone(), ..group.clone() }).collect();
        let mut index = 0;
        while kept.len() < *count {
            if used.insert(index) {
                kept.push(NodeSpec { name: worker_name(cluster, &group.group, index), ..group.clone() });
            }
            index += 1;
        }
        remove.extend(surplus);
        workers.extend(kept);
    }
    workers.sort_by_key(|n| index_of(&n.name));
    Plan { nodes: masters.chain(workers).collect(), remove, retire }
}

fn index_of(name: &str) -> usize {
    name.rsplit('-').next().and_then(|i| i.parse().ok()).unwrap_or(0)
}

/// `nodes` in the batches an upgrade replaces them in: at most `max` each, each within one
/// nodegroup, the masters' group first, then the groups in the order their nodes come. An
/// upgrade never takes nodes of two groups down together.
pub fn batches(nodes: &[NodeSpec], max: usize) -> Vec<Vec<NodeSpec>> {
    let mut groups: Vec<Vec<NodeSpec>> = vec![];
    for n in nodes {
        match groups.iter_mut().find(|g| g[0].group == n.group) {
            Some(g) => g.push(n.clone()),
            None => groups.push(vec![n.clone()]),
        }
    }
    groups.sort_by_key(|g| g[0].role != NodeRole::Manager);
    groups.iter().flat_map(|g| g.chunks(max.max(1)).map(<[NodeSpec]>::to_vec)).collect()
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

    fn defaults(names: &[String]) -> Vec<Member> {
        names.iter().map(|n| Member { name: n.clone(), role: NodeRole::Worker, group: DEFAULT_WORKER.into() }).collect()
    }

    fn names(p: &Plan) -> Vec<&str> {
        p.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn grow_keeps_and_fills_lowest_free_indexes() {
        let p = plan(&cluster(3, &[]), &[], &defaults(&["magnum-4cde7cfd-worker-1".into()]));
        assert_eq!(
            names(&p),
            ["magnum-4cde7cfd-master-0", "magnum-4cde7cfd-worker-0", "magnum-4cde7cfd-worker-1", "magnum-4cde7cfd-worker-2"]
        );
        assert!(p.remove.is_empty());
    }

    #[test]
    fn shrink_removes_the_named_worker_and_keeps_the_rest_by_name() {
        let existing: Vec<String> = (0..4).map(|i| format!("magnum-4cde7cfd-worker-{i}")).collect();
        let p = plan(&cluster(1, &["magnum-4cde7cfd-worker-0"]), &[], &defaults(&existing));
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

    fn group(c: &Cluster, name: &str, count: i64, status: magnum_types::status::ClusterStatus) -> NodeGroup {
        let mut g = NodeGroup::default_for(c, Role::Worker, "i");
        (g.name, g.is_default, g.node_count, g.status, g.image_id) = (name.into(), false, count, status, Some("gpu-image".into()));
        g
    }

    #[test]
    fn groups_take_indexes_free_in_the_whole_bay_and_keep_their_own_image() {
        use magnum_types::status::ClusterStatus::*;
        let c = cluster(2, &[]);
        let existing = defaults(&["magnum-4cde7cfd-worker-0".into(), "magnum-4cde7cfd-worker-1".into()]);
        let p = plan(&c, &[group(&c, "GPU nodes", 2, CreateInProgress)], &existing);
        assert_eq!(
            names(&p),
            [
                "magnum-4cde7cfd-master-0",
                "magnum-4cde7cfd-worker-0",
                "magnum-4cde7cfd-worker-1",
                "magnum-4cde7cfd-gpu-nodes-2",
                "magnum-4cde7cfd-gpu-nodes-3"
            ]
        );
        assert_eq!((p.nodes[3].group.as_str(), p.nodes[3].image.as_deref()), ("GPU nodes", Some("gpu-image")));
        assert_eq!((p.nodes[1].group.as_str(), p.nodes[1].image.as_deref()), (DEFAULT_WORKER, None));
        assert!(p.remove.is_empty());
    }

    #[test]
    fn a_group_being_deleted_or_gone_loses_its_workers_and_others_stay() {
        use magnum_types::status::ClusterStatus::*;
        let c = cluster(1, &[]);
        let mut existing = defaults(&["magnum-4cde7cfd-worker-0".into()]);
        existing.push(Member { name: "magnum-4cde7cfd-gpu-1".into(), role: NodeRole::Worker, group: "gpu".into() });
        existing.push(Member { name: "magnum-4cde7cfd-old-2".into(), role: NodeRole::Worker, group: "old".into() });
        let p = plan(&c, &[group(&c, "gpu", 1, DeleteInProgress)], &existing);
        assert_eq!(names(&p), ["magnum-4cde7cfd-master-0", "magnum-4cde7cfd-worker-0"]);
        assert_eq!(p.remove, ["magnum-4cde7cfd-gpu-1", "magnum-4cde7cfd-old-2"]);
        // Growing the default group meanwhile does not take an index being given up.
        let p = plan(&cluster(2, &[]), &[group(&c, "gpu", 1, DeleteInProgress)], &existing);
        assert_eq!(names(&p)[2], "magnum-4cde7cfd-worker-3");
    }

    #[test]
    fn managers_grow_at_the_next_indexes_and_retire_from_the_highest() {
        let manager =
            |i: usize| Member { name: format!("magnum-4cde7cfd-master-{i}"), role: NodeRole::Manager, group: DEFAULT_MASTER.into() };
        let mut c = cluster(1, &[]);
        c.master_count = 3;
        let p = plan(&c, &[], &[manager(0)]);
        assert_eq!(&names(&p)[..3], ["magnum-4cde7cfd-master-0", "magnum-4cde7cfd-master-1", "magnum-4cde7cfd-master-2"]);
        assert!(p.retire.is_empty() && p.remove.is_empty());
        c.master_count = 1;
        let p = plan(&c, &[], &[manager(0), manager(1), manager(2)]);
        assert_eq!(&names(&p)[..1], ["magnum-4cde7cfd-master-0"]);
        assert_eq!(p.retire, ["magnum-4cde7cfd-master-2", "magnum-4cde7cfd-master-1"]);
        assert!(p.remove.is_empty(), "workers are not touched: {:?}", p.remove);
    }

    #[test]
    fn upgrade_batches_stay_within_a_group_masters_first() {
        let node = |name: &str, role: NodeRole, group: &str| NodeSpec { group: group.to_owned(), ..NodeSpec::new(name.to_owned(), role) };
        let nodes = [
            node("w0", NodeRole::Worker, DEFAULT_WORKER),
            node("g0", NodeRole::Worker, "gpu"),
            node("m0", NodeRole::Manager, DEFAULT_MASTER),
            node("w1", NodeRole::Worker, DEFAULT_WORKER),
            node("w2", NodeRole::Worker, DEFAULT_WORKER),
            node("m1", NodeRole::Manager, DEFAULT_MASTER),
        ];
        let names =
            |b: Vec<Vec<NodeSpec>>| b.iter().map(|b| b.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(",")).collect::<Vec<_>>();
        assert_eq!(names(batches(&nodes, 2)), ["m0,m1", "w0,w1", "w2", "g0"]);
        assert_eq!(names(batches(&nodes, 0)), ["m0", "m1", "w0", "w1", "w2", "g0"], "a batch holds one node at least");
    }
}
