//! A built Kubernetes bay as it is now: each node container's state, joined with what the
//! API server says of its Node (registered, Ready and why not), and the API server's own
//! readiness. Unhealthy reasons name the node (or `bay` for the API server).

use super::layout::API_PORT;
use super::{client, KubernetesDriver};
use crate::docker::{nodes, EngineError};
use crate::kubernetes::client::{name_of, ready_condition};
use crate::{Credentials, NodeObservation, Observation};
use magnum_types::cluster::Cluster;
use serde_json::Value;
use std::collections::BTreeMap;

impl KubernetesDriver {
    pub(super) async fn look(
        &self,
        cluster: &Cluster,
        groups: &[magnum_types::nodegroup::NodeGroup],
        credentials: Option<&Credentials>,
    ) -> Result<Observation, EngineError> {
        let docker = self.docker()?;
        let mut api = None;
        let mut seen = vec![];
        for (node, settings) in nodes::survey(&docker, cluster).await? {
            if node.status == "Running" && node.role == "master" {
                api = nodes::published(&settings, &self.engine, API_PORT).map(|a| format!("https://{a}"));
            }
            seen.push(node);
        }
        let mut reasons = BTreeMap::new();
        let listed = match (api, credentials) {
            (None, _) => {
                reasons.insert("bay".to_owned(), "no master node is running, so the Kubernetes API is down".to_owned());
                None
            }
            (Some(address), Some(creds)) => match kubernetes_view(&address, creds).await {
                Ok(nodes) => Some(nodes),
                Err(why) => {
                    reasons.insert("bay".to_owned(), why);
                    None
                }
            },
            (Some(_), None) => {
                reasons.insert("bay".to_owned(), "this conductor cannot read the bay's certificates".to_owned());
                None
            }
        };
        if let Some(listed) = &listed {
            join(&mut seen, listed);
        }
        Ok(Observation::of_bay(cluster, groups, seen, reasons))
    }
}

/// The Node objects, once the API server says it is ready.
async fn kubernetes_view(address: &str, creds: &Credentials) -> Result<Vec<Value>, String> {
    let kube = client(address, creds).map_err(|e| e.message)?;
    match kube.ready().await {
        Ok(true) => {}
        Ok(false) => return Err(format!("the Kubernetes API server at {address} answers but is not ready")),
        Err(e) => return Err(e.message),
    }
    kube.nodes().await.map_err(|e| e.message)
}

/// Running containers take the state Kubernetes gives their Node; Nodes without a container
/// are shown as missing.
fn join(seen: &mut Vec<NodeObservation>, listed: &[Value]) {
    for node in seen.iter_mut().filter(|n| n.status == "Running") {
        match listed.iter().find(|o| name_of(o) == node.name) {
            None => {
                node.status = "NotRegistered".into();
                node.reason = Some("its container runs but its kubelet has not registered it with the API server".into());
            }
            Some(o) => match ready_condition(o) {
                (true, _) => node.status = "Ready".into(),
                (false, why) => {
                    node.status = "NotReady".into();
                    node.reason =
                        Some(format!("Kubernetes reports it not Ready: {}", why.unwrap_or_else(|| "no Ready condition yet".into())));
                }
            },
        }
    }
    for o in listed {
        let name = name_of(o);
        if !seen.iter().any(|n| n.name == name) {
            seen.push(NodeObservation {
                name: name.to_owned(),
                role: if name.contains("-master-") { "master".into() } else { "worker".into() },
                address: None,
                status: "Missing".into(),
                reason: Some("Kubernetes has this node but its container was removed outside magnum".into()),
                image: None,
                nodegroup: None,
            });
        }
    }
}
