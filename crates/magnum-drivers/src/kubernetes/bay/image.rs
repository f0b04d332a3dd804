//! The Kubernetes node image and the pod sandbox (pause) image, built offline like the swarm
//! node image: from this host's packages (the container engine, etcd, the CNI plugins,
//! conntrack, the docker client) and the Kubernetes binaries `scripts/build-kubernetes.sh`
//! builds from Debian's `kubernetes` source (kube-apiserver, kube-controller-manager,
//! kube-scheduler, kubelet, kube-proxy, kubectl, pause). One image for both roles: the node's
//! settings say which daemons it runs.

use super::node::{ENTRYPOINT, PAUSE_IMAGE, ROUTES};
use super::VERSION;
use crate::docker::images::{container_engine, export, find_program, import, Rootfs};
use crate::docker::{err, EngineError};
use bollard::Docker;
use std::path::Path;

/// The node image every Kubernetes template names (the documented default).
pub const NODE_IMAGE: &str = "magnum/kubernetes-node:v1.20.2";

const KUBERNETES_PROGRAMS: [&str; 6] = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"];
/// From the host's packages: etcd-server, docker.io (the client kubelet's images are loaded
/// with), conntrack (kube-proxy clears stale UDP entries with it).
const HOST_PROGRAMS: [(&str, &str); 3] = [("etcd", "/usr/bin/etcd"), ("docker", "/usr/bin/docker"), ("conntrack", "/usr/sbin/conntrack")];
/// Debian's containernetworking-plugins.
const CNI_DIR: &str = "/usr/lib/cni";
const CNI_PLUGINS: [&str; 4] = ["bridge", "host-local", "loopback", "portmap"];

fn missing(what: &str, bin: &Path) -> EngineError {
    EngineError(format!(
        "{what} is not in {}: build the Kubernetes binaries with scripts/build-kubernetes.sh (it prints the directory to pass)",
        bin.display()
    ))
}

fn pause_rootfs(bin: &Path) -> Result<Vec<u8>, EngineError> {
    let pause = bin.join("pause");
    if !pause.is_file() {
        return Err(missing("pause", bin));
    }
    let mut fs = Rootfs::new();
    fs.copy(&pause, "/pause")?;
    fs.finish()
}

fn node_rootfs(bin: &Path, pause_archive: &[u8]) -> Result<Vec<u8>, EngineError> {
    let mut fs = Rootfs::new();
    fs.busybox()?;
    container_engine(&mut fs)?;
    for program in KUBERNETES_PROGRAMS {
        let path = bin.join(program);
        if !path.is_file() {
            return Err(missing(program, bin));
        }
        fs.copy(&path, &format!("/usr/local/bin/{program}"))?;
    }
    for (name, at) in HOST_PROGRAMS {
        fs.program(&find_program(name)?, at)?;
    }
    for plugin in CNI_PLUGINS {
        let path = Path::new(CNI_DIR).join(plugin);
        if !path.is_file() {
            return Err(EngineError(format!(
                "{} is not installed: the Kubernetes node image takes Debian's containernetworking-plugins (scripts/build-kubernetes.sh installs it)",
                path.display()
            )));
        }
        fs.program(&path, &path.display().to_string())?;
    }
    fs.file("/opt/magnum/images/pause.tar", 0o644, pause_archive)?;
    fs.file("/usr/local/bin/magnum-kubernetes-node", 0o755, ENTRYPOINT.as_bytes())?;
    fs.file("/usr/local/bin/magnum-routes", 0o755, ROUTES.as_bytes())?;
    for d in ["/etc/kubernetes/pki", "/etc/magnum", "/var/lib/etcd", "/var/lib/kubelet", "/var/log/magnum"] {
        fs.dir(d)?;
    }
    fs.finish()
}

/// Builds the pause image and the Kubernetes node image on `docker` from the binaries in `bin`;
/// returns their names and sizes in bytes.
pub async fn build(docker: &Docker, bin: &Path) -> Result<Vec<(String, i64)>, EngineError> {
    let bin_owned = bin.to_owned();
    let pause = tokio::task::spawn_blocking(move || pause_rootfs(&bin_owned)).await.map_err(|e| err("building the pause image", e))??;
    import(docker, pause, PAUSE_IMAGE, &["ENTRYPOINT [\"/pause\"]", "LABEL org.openstack.magnum.image=pause"]).await?;
    let pause_archive = export(docker, PAUSE_IMAGE).await?;
    let bin_owned = bin.to_owned();
    let node = tokio::task::spawn_blocking(move || node_rootfs(&bin_owned, &pause_archive))
        .await
        .map_err(|e| err("building the Kubernetes node image", e))??;
    let version_label = format!("LABEL org.openstack.magnum.kubernetes={VERSION}");
    import(
        docker,
        node,
        NODE_IMAGE,
        &[
            "ENTRYPOINT [\"/usr/bin/tini-static\", \"-g\", \"--\", \"/usr/local/bin/magnum-kubernetes-node\"]",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "VOLUME /var/lib/docker",
            "LABEL org.openstack.magnum.image=kubernetes-node",
            &version_label,
        ],
    )
    .await?;
    let mut out = vec![];
    for image in [PAUSE_IMAGE, NODE_IMAGE] {
        let size = docker.inspect_image(image).await.map_err(|e| err(&format!("inspecting {image}"), e))?.size.unwrap_or(0);
        out.push((image.to_owned(), size));
    }
    Ok(out)
}
