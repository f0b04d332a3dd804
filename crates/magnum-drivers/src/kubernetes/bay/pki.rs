//! Every certificate a Kubernetes bay's components use, issued by the bay's own CA when a node
//! is first made, and written into the node under /etc/kubernetes/pki, on the node's own volume:
//! a node made again (an upgrade) keeps them, and tokens signed with the master's
//! service-account key stay valid. The CA's key never goes to a
//! node (nothing in the cluster signs certificates: no CSR signer runs), so a node holds only
//! its own identities.
//!
//! | file | subject | used by |
//! |---|---|---|
//! | kubelet | CN=system:node:NAME, O=system:nodes; names NAME and the node's address | kubelet, as client (Node authorizer) and as server |
//! | kube-proxy | CN=system:kube-proxy | kube-proxy (bound to system:node-proxier) |
//! | apiserver | names the master, 127.0.0.1, the publish address, kubernetes.default… and the first service address | the API server |
//! | apiserver-kubelet-client | CN=kube-apiserver-kubelet-client, O=system:masters | the API server talking to kubelets (logs, exec) |
//! | controller-manager, scheduler | CN=system:kube-controller-manager, CN=system:kube-scheduler | the two components |
//! | controller-manager-serving, scheduler-serving | names 127.0.0.1 | their health ports |
//! | sa-key, sa.pub | a key pair, no certificate | service-account tokens |

use super::layout::{Placed, FIRST_SERVICE_IP};
use crate::docker::nodes::NodeFile;
use crate::docker::plan::NodeRole;
use magnum_certs::{issue_in, CaBundle, Purpose};
use magnum_types::Result;

pub const DIR: &str = "/etc/kubernetes/pki";
/// The CA certificate, written last: a node whose volume holds it has all its files.
pub const KEPT_MARK: &str = "/etc/kubernetes/pki/ca.pem";

fn pair(files: &mut Vec<NodeFile>, name: &str, issued: magnum_certs::Issued) {
    files.push(NodeFile::new(format!("{DIR}/{name}.pem"), 0o644, issued.cert_pem));
    files.push(NodeFile::new(format!("{DIR}/{name}-key.pem"), 0o600, issued.key_pem));
}

/// The certificates and keys of `node`; `publish_address` is where the master's API server is
/// published on the engine's host (the conductor and users connect there).
pub fn node_files(ca: &CaBundle, node: &Placed, publish_address: &str) -> Result<Vec<NodeFile>> {
    let name = node.spec.name.as_str();
    let ip = node.ip.to_string();
    let mut files = vec![];
    let kubelet =
        issue_in(ca, &format!("system:node:{name}"), Some("system:nodes"), Purpose::Server { names: vec![name.to_owned(), ip.clone()] })?;
    pair(&mut files, "kubelet", kubelet);
    pair(&mut files, "kube-proxy", issue_in(ca, "system:kube-proxy", None, Purpose::Client)?);
    if node.spec.role == NodeRole::Manager {
        let mut names: Vec<String> = [name, &ip, "127.0.0.1", "localhost", FIRST_SERVICE_IP]
            .into_iter()
            .chain(["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"])
            .map(str::to_owned)
            .collect();
        if !names.iter().any(|n| n == publish_address) {
            names.push(publish_address.to_owned());
        }
        pair(&mut files, "apiserver", issue_in(ca, "kube-apiserver", None, Purpose::Server { names })?);
        pair(
            &mut files,
            "apiserver-kubelet-client",
            issue_in(ca, "kube-apiserver-kubelet-client", Some("system:masters"), Purpose::Client)?,
        );
        pair(&mut files, "controller-manager", issue_in(ca, "system:kube-controller-manager", None, Purpose::Client)?);
        pair(&mut files, "scheduler", issue_in(ca, "system:kube-scheduler", None, Purpose::Client)?);
        // Their health ports' serving certificates: without them each generates an RSA key at
        // start, seconds of CPU on a busy master.
        let local = || Purpose::Server { names: vec!["127.0.0.1".into(), "localhost".into()] };
        pair(&mut files, "controller-manager-serving", issue_in(ca, "kube-controller-manager", None, local())?);
        pair(&mut files, "scheduler-serving", issue_in(ca, "kube-scheduler", None, local())?);
        let (private, public) = magnum_certs::key_pair()?;
        files.push(NodeFile::new(format!("{DIR}/sa-key.pem"), 0o600, private));
        files.push(NodeFile::new(format!("{DIR}/sa.pub"), 0o644, public));
    }
    files.push(NodeFile::new(KEPT_MARK, 0o644, ca.cert_pem.clone()));
    Ok(files)
}
