//! What the drivers that build bays on the Docker provider can make, checked by the API before a
//! request is accepted, so a bay that could only fail later in the conductor is refused at once
//! with a 400 naming the field and the limit.

use crate::coe::Coe;
use crate::error::{MagnumError, Result};
use std::collections::BTreeMap;

/// Kubernetes versions the Kubernetes node image carries (the `kube_tag` label may name one).
pub const KUBERNETES_VERSIONS: [&str; 1] = ["v1.20.2"];
/// A single stacked control plane (etcd and the API server on the master).
pub const KUBERNETES_MAX_MASTERS: i64 = 1;
/// One /24 of the pod network per worker, below 10.100.255.0/24.
pub const KUBERNETES_MAX_WORKERS: i64 = 246;
/// Swarm managers have the fixed addresses 2 to 9 of their bay's network.
pub const SWARM_MAX_MASTERS: i64 = 8;

/// A bay of `coe` is built by some conductor of the deployment: `builds` is what the conductors
/// said they build (None when none has said yet: then nothing can be told, and the bay is
/// accepted for whichever conductor comes).
pub fn check_builders(coe: Coe, builds: Option<&[String]>) -> Result<()> {
    let Some(builds) = builds else { return Ok(()) };
    if coe.among(builds) {
        return Ok(());
    }
    Err(MagnumError::invalid(format!(
        "No conductor of this deployment builds {coe} bays (they build: {}). Conductors build swarm and Kubernetes bays \
         on a Docker engine when [docker] enabled = true; start one so, or register an existing cluster as an external bay.",
        if builds.is_empty() { "nothing".to_owned() } else { builds.join(", ") }
    )))
}

/// Labels of a template or bay of `coe`: a `kube_tag` must name a version this deployment has.
pub fn check_labels(coe: Coe, labels: &BTreeMap<String, String>) -> Result<()> {
    let Some(tag) = labels.get("kube_tag").filter(|_| coe == Coe::Kubernetes) else { return Ok(()) };
    let wanted = if tag.starts_with('v') { tag.clone() } else { format!("v{tag}") };
    if KUBERNETES_VERSIONS.contains(&wanted.as_str()) {
        return Ok(());
    }
    Err(MagnumError::invalid(format!(
        "Label kube_tag={tag} names a Kubernetes version this deployment does not have. Available: {}.",
        KUBERNETES_VERSIONS.join(", ")
    )))
}

/// Node counts of a bay of `coe` built by this deployment.
/// A nodegroup added to a bay of `coe`: its labels are held to the bay's rules.
pub fn check_nodegroup(coe: Coe, ng: &crate::nodegroup::NodeGroup) -> Result<()> {
    if coe.is_swarm() && !ng.node_taints.is_empty() {
        return Err(MagnumError::invalid(
            "Invalid node_taints: a swarm has no taints. Give the group node_labels and keep services off its nodes with \
             placement constraints (--constraint node.labels.KEY!=VALUE).",
        ));
    }
    check_labels(coe, &ng.labels)
}

pub fn check_counts(coe: Coe, master_count: i64, node_count: i64) -> Result<()> {
    if coe.is_swarm() && master_count > SWARM_MAX_MASTERS {
        return Err(MagnumError::invalid(format!(
            "master_count {master_count} is too large for a swarm bay: at most {SWARM_MAX_MASTERS} managers \
             (each has a fixed address on the bay's network)."
        )));
    }
    if coe != Coe::Kubernetes {
        return Ok(());
    }
    if master_count > KUBERNETES_MAX_MASTERS {
        return Err(MagnumError::invalid(format!(
            "master_count {master_count} is not supported for Kubernetes bays: this deployment builds a single master \
             (etcd and the control plane on it), so master_count must be {KUBERNETES_MAX_MASTERS}."
        )));
    }
    if node_count > KUBERNETES_MAX_WORKERS {
        return Err(MagnumError::invalid(format!(
            "node_count {node_count} is too large for a Kubernetes bay: at most {KUBERNETES_MAX_WORKERS} workers \
             (one /24 of the pod network 10.100.0.0/16 each)."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bay_is_refused_when_the_conductors_said_they_build_other_coes_only() {
        let said = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_builders(Coe::SwarmMode, None).is_ok(), "nothing said yet: accepted");
        assert!(check_builders(Coe::Swarm, Some(&said(&["kubernetes", "swarm-mode"]))).is_ok(), "swarm and swarm-mode share a driver");
        let e = check_builders(Coe::Kubernetes, Some(&said(&["swarm-mode"]))).expect_err("refused");
        assert!(e.message.contains("No conductor of this deployment builds kubernetes bays (they build: swarm-mode)"), "{}", e.message);
        let e = check_builders(Coe::SwarmMode, Some(&[])).expect_err("refused");
        assert!(e.message.contains("(they build: nothing)") && e.message.contains("[docker] enabled = true"), "{}", e.message);
    }

    #[test]
    fn kube_tag_must_name_an_available_version() {
        let labels = |t: &str| BTreeMap::from([("kube_tag".to_owned(), t.to_owned())]);
        assert!(check_labels(Coe::Kubernetes, &labels("v1.20.2")).is_ok());
        assert!(check_labels(Coe::Kubernetes, &labels("1.20.2")).is_ok());
        let e = check_labels(Coe::Kubernetes, &labels("v1.27.3")).expect_err("refused");
        assert!(e.message.contains("kube_tag=v1.27.3") && e.message.contains("Available: v1.20.2"), "{}", e.message);
        assert!(check_labels(Coe::SwarmMode, &labels("anything")).is_ok());
    }

    #[test]
    fn kubernetes_counts_have_limits() {
        assert!(check_counts(Coe::Kubernetes, 1, 246).is_ok());
        assert!(check_counts(Coe::Kubernetes, 3, 1).is_err_and(|e| e.message.contains("master_count 3")));
        assert!(check_counts(Coe::Kubernetes, 1, 247).is_err_and(|e| e.message.contains("at most 246")));
        assert!(check_counts(Coe::SwarmMode, 3, 500).is_ok());
    }
}
