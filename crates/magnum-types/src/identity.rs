//! The identities certificates from a bay's CA carry, and which of them a user may ask for
//! through `ca-sign`. A node's engine and Kubernetes both take the certificate's subject as the
//! caller's identity, so an identity of the bay's own components must never be signed for a user.

use crate::coe::Coe;

/// The conductor's client certificate, as upstream names it: the one identity that may change a
/// swarm's membership (the node guard checks for it).
pub const CONDUCTOR_CN: &str = "Magnum-Conductor";

/// The conductor's user on a Kubernetes bay: one per credential (a rotation makes a new one),
/// made cluster admin by the bay's [`KUBERNETES_CONDUCTOR_BINDING`] alone, so the binding can
/// take it back. Under `system:`, which ca-sign never signs for a user.
pub fn kubernetes_conductor_user(credential: &str) -> String {
    format!("system:magnum-conductor:{credential}")
}

/// The cluster role binding that makes the conductor's current user a cluster admin.
pub const KUBERNETES_CONDUCTOR_BINDING: &str = "magnum:conductor";

/// Kubernetes' unrestricted group. The control plane holds it (and the conductor of bays made
/// before its users were rotatable); a user's certificate never does.
pub const KUBERNETES_MASTERS: &str = "system:masters";

/// The group a bay owner's admin certificate is signed into instead of `system:masters` (what
/// python-magnumclient's `cluster config` asks for): admin of the bay's `default` namespace,
/// reader of the rest, its pods held to the bay's pod security policy.
pub const KUBERNETES_TENANT_ADMINS: &str = "magnum:tenant-admins";

/// Names Kubernetes reserves for its own components (users, groups, nodes).
pub const KUBERNETES_RESERVED_PREFIX: &str = "system:";

/// What ca-sign refuses and rewrites for a bay of `coe`: (reserved common names, reserved
/// prefix, renamed groups).
pub fn signing_limits(coe: Coe) -> (Vec<String>, Option<String>, Vec<(String, String)>) {
    let names = vec![CONDUCTOR_CN.to_owned()];
    match coe {
        Coe::Kubernetes => {
            (names, Some(KUBERNETES_RESERVED_PREFIX.to_owned()), vec![(KUBERNETES_MASTERS.to_owned(), KUBERNETES_TENANT_ADMINS.to_owned())])
        }
        _ => (names, None, vec![]),
    }
}
