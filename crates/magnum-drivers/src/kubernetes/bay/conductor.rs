//! The conductor's own identity on a Kubernetes bay: the user its client certificate names
//! (`system:magnum-conductor:<credential>`, in no group), made cluster admin by one binding,
//! `magnum:conductor`, that names the current certificate's user alone. A credential rotation
//! gives the conductor a new user; the converge that follows binds the role to it, and the old
//! certificate, still signed by the bay's CA, is then authorized for nothing.
//!
//! To write the binding when its own user is not bound yet (a new bay, a rotation), the
//! conductor uses a `system:masters` certificate minted from the bay's CA for this one request
//! and never stored: holding the CA's key, it can make any identity of the bay anyway.

use super::converge::kube_failed;
use crate::docker::EngineError;
use crate::kubernetes::client::KubeClient;
use crate::Credentials;
use magnum_types::external::ClientAuth;
use magnum_types::identity::{KUBERNETES_CONDUCTOR_BINDING, KUBERNETES_MASTERS};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

fn subjects(user: &str) -> Value {
    json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}])
}

/// Binds cluster admin to the conductor's current user alone (nothing to do for a certificate in
/// `system:masters`, what bays made before this binding have), and waits until the API server
/// authorizes it.
pub async fn ensure_bound(kube: &KubeClient, api_address: &str, creds: &Credentials) -> Result<(), EngineError> {
    let (user, groups) = magnum_certs::subject_of(&creds.client.cert_pem)
        .ok_or_else(|| EngineError("the conductor's client certificate cannot be read".into()))?;
    if groups.iter().any(|g| g == KUBERNETES_MASTERS) {
        return Ok(());
    }
    let path = format!("{BINDINGS}/{KUBERNETES_CONDUCTOR_BINDING}");
    // Asked as itself: the usual case, bound already, needs nothing more.
    if let Ok(Some(bound)) = kube.fetch(&path).await {
        if bound.get("subjects") == Some(&subjects(&user)) {
            return Ok(());
        }
    }
    let admin =
        magnum_certs::issue_in(&creds.ca, "system:magnum-conductor-binder", Some(KUBERNETES_MASTERS), magnum_certs::Purpose::Client)
            .map_err(kube_failed)?;
    let admin = KubeClient::new(api_address, &creds.ca.cert_pem, &ClientAuth::Certificate { cert: admin.cert_pem, key: admin.key_pem })
        .map_err(kube_failed)?;
    let what = format!("binding cluster-admin to the conductor's user {user}");
    match admin.fetch(&path).await.map_err(kube_failed)? {
        Some(_) => admin.merge_patch(&path, &json!({"subjects": subjects(&user)}), &what).await.map_err(kube_failed)?,
        None => {
            let binding = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": KUBERNETES_CONDUCTOR_BINDING},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": subjects(&user)
            });
            admin.post(BINDINGS, &binding, &what).await.map_err(kube_failed)?
        }
    };
    tracing::info!(user = %user, "cluster admin bound to the conductor's user alone");
    // The authorizer learns of the binding from a watch: a moment later.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match kube.fetch(&path).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(kube_failed(e)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
