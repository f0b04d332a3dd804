//! What a Kubernetes bay lets its tenant do, made by the conductor before the bay is complete.
//!
//! - One pod security policy, `magnum-restricted`, that every authenticated identity may use
//!   (users, service accounts, and the controllers that make pods for RCs). It is the only one:
//!   no identity can use a more permissive policy because none exists, and only the control
//!   plane and the conductor (`system:masters`) may write policies.
//! - The bay owner's certificate (`cluster-config`; ca-sign signs `system:masters` into
//!   `magnum:tenant-admins` instead) is admin of the `default` namespace and reader of the
//!   cluster. Not of `kube-system`: the controllers' service-account tokens there carry powers
//!   (updating any object, escalating roles) that would let a holder rewrite the policy.

use super::super::client::KubeClient;
use magnum_types::identity::KUBERNETES_TENANT_ADMINS;
use magnum_types::{ErrorKind, MagnumError};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const POLICY: &str = "magnum-restricted";

/// Docker's default confinement, as a pod security policy: no privileged mode, no added
/// capabilities, no host namespaces or ports, no host paths, and the runtime's default seccomp
/// profile (kubelet 1.20 would otherwise run pods unconfined).
fn pod_security_policy() -> Value {
    json!({
        "apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
        "metadata": {"name": POLICY, "annotations": {
            "seccomp.security.alpha.kubernetes.io/allowedProfileNames": "runtime/default,docker/default",
            "seccomp.security.alpha.kubernetes.io/defaultProfileName": "runtime/default"}},
        "spec": {
            "privileged": false, "allowPrivilegeEscalation": true, "allowedCapabilities": [],
            "hostNetwork": false, "hostPID": false, "hostIPC": false,
            "volumes": ["configMap", "secret", "emptyDir", "projected", "downwardAPI", "persistentVolumeClaim", "ephemeral"],
            "runAsUser": {"rule": "RunAsAny"}, "seLinux": {"rule": "RunAsAny"},
            "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"}
        }
    })
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

fn binding(kind: &str, name: &str, role: &str, group: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]
    })
}

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
const REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

/// (collection path, object): created in this order, each left alone when it exists.
fn objects() -> Vec<(String, Value)> {
    let read = json!(["get", "list", "watch"]);
    vec![
        ("/apis/policy/v1beta1/podsecuritypolicies".into(), pod_security_policy()),
        (
            format!("{RBAC}/clusterroles"),
            cluster_role(
                "magnum:restricted-pods",
                json!([{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["use"], "resourceNames": [POLICY]}]),
            ),
        ),
        (
            format!("{RBAC}/clusterrolebindings"),
            binding("ClusterRoleBinding", "magnum:restricted-pods", "magnum:restricted-pods", "system:authenticated"),
        ),
        (
            format!("{RBAC}/clusterroles"),
            cluster_role(
                "magnum:tenant-reader",
                json!([
                    {"apiGroups": [""], "resources": ["nodes", "namespaces", "persistentvolumes"], "verbs": read},
                    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
                    {"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": read}
                ]),
            ),
        ),
        (
            format!("{RBAC}/clusterrolebindings"),
            binding("ClusterRoleBinding", "magnum:tenant-reader", "magnum:tenant-reader", KUBERNETES_TENANT_ADMINS),
        ),
        (
            format!("{RBAC}/namespaces/default/rolebindings"),
            binding("RoleBinding", "magnum:tenant-admin", "admin", KUBERNETES_TENANT_ADMINS),
        ),
    ]
}

/// Makes the policy and the tenant's roles (safe to repeat), and returns once the API server
/// authorizes the owner's group by them.
pub async fn ensure(kube: &KubeClient) -> magnum_types::Result<()> {
    for (path, doc) in objects() {
        let what = format!("creating {} {}", doc["kind"].as_str().unwrap_or("object"), doc["metadata"]["name"].as_str().unwrap_or(""));
        match kube.post(&path, &doc, &what).await {
            Ok(_) => {}
            Err(e) if e.kind == ErrorKind::Conflict => {}
            Err(e) => return Err(MagnumError { kind: e.kind, message: format!("confining the bay's workloads: {}", e.message) }),
        }
    }
    wait_owner_admitted(kube).await
}

/// A review of what the owner's kubeconfig first does: list the pods of `default`.
fn owner_review() -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "admin", "groups": [KUBERNETES_TENANT_ADMINS, "system:authenticated"],
                 "resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}}
    })
}

/// The authorizer learns of new bindings from a watch, which lags by seconds on a loaded
/// machine: the bay is complete only once the owner's kubeconfig is sure to work.
async fn wait_owner_admitted(kube: &KubeClient) -> magnum_types::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let review = kube.post(REVIEWS, &owner_review(), "asking whether the owner's group is authorized").await?;
        if review["status"]["allowed"] == true {
            return Ok(());
        }
        if Instant::now() > deadline {
            let reason = review["status"]["reason"].as_str().unwrap_or("no reason given").to_owned();
            return Err(MagnumError::unavailable(format!(
                "the bay's API server still refuses its owner the default namespace 30 s after the binding was made ({reason})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
