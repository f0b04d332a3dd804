//! External Kubernetes bays: an API server someone else runs, registered with its CA and a
//! client certificate or token. Nothing is built or removed: create checks that the API
//! answers and says who its nodes are, observe reports the nodes' Ready condition, and the
//! object API (pods, services, RCs) runs on it. Delete only forgets it.

use super::client::KubeClient;
use super::KubeObjects;
use crate::containers::Bay;
use crate::{Credentials, Driver, DriverError, Fence, NodeObservation, Observation, Observed};
use async_trait::async_trait;
use magnum_types::cluster::Cluster;
use magnum_types::external::ClientAuth;
use magnum_types::manifest::Kind;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::template::ClusterTemplate;
use magnum_types::{MagnumError, Result};
use serde_json::Value;

#[derive(Default)]
pub struct ExternalKubernetes;

/// The client of a bay's API server with the credentials it was registered with.
fn client(cluster: &Cluster, credentials: Option<&Credentials>) -> Result<KubeClient> {
    let address = cluster
        .api_address
        .as_deref()
        .ok_or_else(|| MagnumError::invalid(format!("External bay {} has no api_address; register it again.", cluster.uuid)))?;
    let c = credentials.ok_or_else(|| {
        MagnumError::unavailable(format!(
            "The credentials of external bay {} cannot be read by this conductor (no deployment key); \
             give the conductor the [certificates] key file the API uses.",
            cluster.uuid
        ))
    })?;
    KubeClient::new(address, &c.ca.cert_pem, &ClientAuth::from_stored(&c.client.cert_pem, &c.client.key_pem))
}

/// A node as the Kubernetes API reports it: control-plane by its role label, Ready by its
/// condition, address its InternalIP.
fn node(n: &Value) -> NodeObservation {
    let labels = n.pointer("/metadata/labels").and_then(Value::as_object);
    let master =
        labels.is_some_and(|l| l.contains_key("node-role.kubernetes.io/master") || l.contains_key("node-role.kubernetes.io/control-plane"));
    let (is_ready, why) = super::client::ready_condition(n);
    let address = n
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP")))
        .and_then(|x| x.get("address"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    NodeObservation {
        name: super::client::name_of(n).to_owned(),
        role: if master { "master".into() } else { "worker".into() },
        address,
        status: if is_ready { "Ready".into() } else { "NotReady".into() },
        reason: (!is_ready)
            .then(|| format!("Kubernetes reports it not Ready: {}", why.as_deref().unwrap_or("no Ready condition reported"))),
        image: n.pointer("/status/nodeInfo/osImage").and_then(Value::as_str).map(str::to_owned),
        nodegroup: None,
    }
}

async fn survey(k: &KubeClient) -> Result<(String, Vec<NodeObservation>)> {
    let version = k.version().await?;
    let nodes = k.nodes().await?.iter().map(node).collect();
    Ok((version, nodes))
}

#[async_trait]
impl Driver for ExternalKubernetes {
    fn name(&self) -> &'static str {
        "external-kubernetes"
    }

    async fn create(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        credentials: Option<&Credentials>,
        _: &dyn Fence,
    ) -> std::result::Result<Observed, DriverError> {
        let fail = |e: MagnumError| DriverError(format!("{}; fix the endpoint and register it again", e.message));
        let k = client(cluster, credentials).map_err(fail)?;
        let (version, nodes) = survey(&k).await.map_err(fail)?;
        let addresses = |role: &str| nodes.iter().filter(|n| n.role == role).filter_map(|n| n.address.clone()).collect();
        Ok(Observed {
            api_address: cluster.api_address.clone(),
            master_addresses: addresses("master"),
            node_addresses: addresses("worker"),
            coe_version: Some(version),
            container_version: None,
        })
    }

    async fn update(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        _: Option<&Credentials>,
        _: &dyn Fence,
    ) -> std::result::Result<Observed, DriverError> {
        Err(DriverError(format!("Cluster {} is an external bay: magnum-rs does not change it.", cluster.uuid)))
    }

    /// Forgetting is the whole delete: the cluster is its owner's.
    async fn delete(&self, _: &Cluster, _: &dyn Fence) -> std::result::Result<(), DriverError> {
        Ok(())
    }

    async fn observe(
        &self,
        cluster: &Cluster,
        _: &ClusterTemplate,
        _: &[NodeGroup],
        credentials: Option<&Credentials>,
    ) -> std::result::Result<Observation, DriverError> {
        let surveyed = match client(cluster, credentials) {
            Ok(k) => survey(&k).await,
            Err(e) => Err(e),
        };
        Ok(match surveyed {
            Ok((_, nodes)) if nodes.is_empty() => {
                Observation::unreachable("the Kubernetes API answers but reports no node, so no pod can run".into())
            }
            Ok((_, nodes)) => Observation::from_nodes(nodes),
            Err(e) => Observation::unreachable(e.message),
        })
    }

    fn kube_objects(&self) -> Option<&dyn KubeObjects> {
        Some(self)
    }
}

#[async_trait]
impl KubeObjects for ExternalKubernetes {
    async fn create(&self, bay: Bay<'_>, kind: Kind, doc: &Value) -> Result<Value> {
        client(bay.cluster, bay.credentials)?.create(kind, doc).await
    }

    async fn replace(&self, bay: Bay<'_>, kind: Kind, name: &str, doc: &Value) -> Result<Value> {
        client(bay.cluster, bay.credentials)?.replace(kind, name, doc).await
    }

    async fn get(&self, bay: Bay<'_>, kind: Kind, name: &str) -> Result<Option<Value>> {
        client(bay.cluster, bay.credentials)?.get(kind, name).await
    }

    async fn delete(&self, bay: Bay<'_>, kind: Kind, name: &str) -> Result<()> {
        client(bay.cluster, bay.credentials)?.delete(kind, name).await
    }

    async fn list(&self, bay: Bay<'_>, kind: Kind) -> Result<Vec<Value>> {
        client(bay.cluster, bay.credentials)?.list(kind).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_are_read_from_their_conditions_and_labels() {
        let ready = json!({"metadata": {"name": "cp-1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}});
        let n = node(&ready);
        assert_eq!(
            (n.name.as_str(), n.role.as_str(), n.status.as_str(), n.address.as_deref()),
            ("cp-1", "master", "Ready", Some("10.0.0.2"))
        );
        let sick = json!({"metadata": {"name": "w-1"}, "status": {"conditions": [{"type": "Ready", "status": "False", "message": "kubelet stopped posting"}]}});
        let n = node(&sick);
        assert_eq!((n.role.as_str(), n.status.as_str()), ("worker", "NotReady"));
        assert!(n.reason.is_some_and(|r| r.contains("kubelet stopped posting")));
    }
}
