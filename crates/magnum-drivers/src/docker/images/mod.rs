//! Images built offline, from what the host has installed (no registry is ever contacted):
//! - the **swarm node image**: dockerd, containerd, runc, docker-init, docker-proxy,
//!   iptables and ip from the host's Debian docker.io install, the libraries they load,
//!   busybox for a shell, and our entrypoint;
//! - the **workload image**: Debian's busybox-static, for containers on bays and for tests.
//!
//! Both are imported as a root filesystem (`docker import`), so they are one layer each.

mod rootfs;

use super::{err, EngineError};
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
pub use rootfs::{find_program, Rootfs};
use std::path::Path;

pub const NODE_IMAGE: &str = "magnum/swarm-node:latest";
pub const WORKLOAD_IMAGE: &str = "magnum/busybox:latest";

/// Programs a swarm node runs, found on the host's PATH (Debian's docker.io, iptables,
/// iproute2, tini). `docker-init` is tini.
const NODE_PROGRAMS: [(&str, &str); 9] = [
    ("dockerd", "/usr/bin/dockerd"),
    ("containerd", "/usr/bin/containerd"),
    ("containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2"),
    ("runc", "/usr/bin/runc"),
    ("tini-static", "/usr/bin/docker-init"),
    ("docker-proxy", "/usr/bin/docker-proxy"),
    ("xtables-nft-multi", "/usr/sbin/xtables-nft-multi"),
    ("xtables-legacy-multi", "/usr/sbin/xtables-legacy-multi"),
    ("ip", "/usr/sbin/ip"),
];

/// Started as PID 1 of every swarm node. Docker mounts cgroup hierarchies read-only in
/// unprivileged containers; with CAP_SYS_ADMIN a bind remount makes them writable for the inner
/// dockerd. A node killed uncleanly leaves dockerd's and containerd's pid files behind; dockerd,
/// PID 1 again after the restart, would take the stale "1" for a running daemon and refuse to
/// start. The guard (dockerd's authorization plugin) is up before dockerd serves, and is
/// restarted if it ever stops: while it is away dockerd refuses every request, never allows one.
/// A bay without TLS authenticates no one, so there anyone who reaches the API manages the swarm.
/// The node keeps no default route: it reaches its bay's network and nothing beyond it (the
/// engine's published port answers on-link).
const ENTRYPOINT: &str = r#"#!/bin/sh
for d in /sys/fs/cgroup/*; do
  mount -o remount,bind,rw "$d" 2>/dev/null || true
done
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
ip route del default 2>/dev/null || true
guard=""
case " $* " in *" --tls=false "*) guard="--anonymous-manages" ;; esac
( while :; do magnum-node-guard $guard; echo "magnum-node-guard stopped; starting it again" >&2; sleep 1; done ) &
i=0
while [ ! -S /run/docker/plugins/magnum-node-guard.sock ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
exec dockerd --host=unix:///var/run/docker.sock --authorization-plugin=magnum-node-guard \
  --default-cgroupns-mode=private "$@"
"#;

/// The guard binary, built with magnum-server: beside the running program, or (for test
/// binaries in `target/*/deps`) one directory up; `MAGNUM_NODE_GUARD` names it elsewhere.
pub fn node_guard() -> Result<std::path::PathBuf, EngineError> {
    const NAME: &str = "magnum-node-guard";
    if let Ok(p) = std::env::var("MAGNUM_NODE_GUARD") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe().map_err(|e| err("finding the running program", e))?;
    let beside = exe.parent().map(|d| d.join(NAME));
    let above = exe.parent().and_then(Path::parent).map(|d| d.join(NAME));
    [beside, above].into_iter().flatten().find(|p| p.is_file()).ok_or_else(|| {
        EngineError(format!(
            "{NAME} is not beside {}: it is built with magnum-server (cargo build -p magnum-server), or set MAGNUM_NODE_GUARD",
            exe.display()
        ))
    })
}

/// The container engine every node runs (a swarm node's COE; a Kubernetes node's runtime,
/// under kubelet): dockerd and its helpers, iptables with its extensions, ip.
pub fn container_engine(fs: &mut Rootfs) -> Result<(), EngineError> {
    for (name, at) in NODE_PROGRAMS {
        fs.program(&find_program(name)?, at)?;
    }
    fs.link("/usr/bin/tini-static", "docker-init")?;
    for table in ["iptables", "ip6tables"] {
        for suffix in ["", "-save", "-restore"] {
            fs.link(&format!("/usr/sbin/{table}{suffix}"), "xtables-nft-multi")?;
            fs.link(&format!("/usr/sbin/{table}-nft{suffix}"), "xtables-nft-multi")?;
            fs.link(&format!("/usr/sbin/{table}-legacy{suffix}"), "xtables-legacy-multi")?;
        }
    }
    // iptables loads its match and target extensions at run time.
    let xt = Path::new("/usr/lib/x86_64-linux-gnu/xtables");
    if let Ok(entries) = std::fs::read_dir(xt) {
        for e in entries.flatten() {
            let p = e.path();
            let at = p.display().to_string();
            fs.program(&p, &at)?;
        }
    }
    for f in ["/etc/protocols", "/etc/services", "/etc/ethertypes", "/etc/os-release"] {
        if Path::new(f).exists() {
            fs.copy(Path::new(f), f)?;
        }
    }
    fs.link("/var/run", "../run")?;
    fs.dir("/var/lib/docker")?;
    fs.dir("/etc/docker")
}

fn node_rootfs() -> Result<Vec<u8>, EngineError> {
    let mut fs = Rootfs::new();
    fs.busybox()?;
    container_engine(&mut fs)?;
    fs.program(&node_guard()?, "/usr/bin/magnum-node-guard")?;
    fs.file("/entrypoint.sh", 0o755, ENTRYPOINT.as_bytes())?;
    fs.finish()
}

fn workload_rootfs() -> Result<Vec<u8>, EngineError> {
    let mut fs = Rootfs::new();
    fs.busybox()?;
    fs.finish()
}

pub async fn import(docker: &Docker, rootfs: Vec<u8>, image: &str, changes: &[&str]) -> Result<(), EngineError> {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        changes: changes.iter().map(|c| c.to_string()).collect(),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), Some(bollard::body_full(rootfs.into())), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| err(&format!("importing {image}"), e))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(EngineError(format!("importing {image}: {detail}")));
        }
    }
    Ok(())
}

/// Builds both images on `docker`; returns their names and sizes in bytes.
pub async fn build_all(docker: &Docker) -> Result<Vec<(String, i64)>, EngineError> {
    let node = tokio::task::spawn_blocking(node_rootfs).await.map_err(|e| err("building the node image", e))??;
    import(
        docker,
        node,
        NODE_IMAGE,
        &[
            "ENTRYPOINT [\"/entrypoint.sh\"]",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "VOLUME /var/lib/docker",
            "LABEL org.openstack.magnum.image=swarm-node",
        ],
    )
    .await?;
    let workload = tokio::task::spawn_blocking(workload_rootfs).await.map_err(|e| err("building the workload image", e))??;
    import(
        docker,
        workload,
        WORKLOAD_IMAGE,
        &["CMD [\"/bin/sh\"]", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LABEL org.openstack.magnum.image=workload"],
    )
    .await?;
    let mut out = vec![];
    for image in [NODE_IMAGE, WORKLOAD_IMAGE] {
        let size = docker.inspect_image(image).await.map_err(|e| err(&format!("inspecting {image}"), e))?.size.unwrap_or(0);
        out.push((image.to_owned(), size));
    }
    Ok(out)
}

/// Every name and id of the images the engine holds (`repo:tag` and `sha256:…`).
pub async fn names(docker: &Docker) -> Result<Vec<String>, EngineError> {
    let list = docker
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await
        .map_err(|e| err("listing the engine's images", e))?;
    Ok(list.into_iter().flat_map(|i| std::iter::once(i.id).chain(i.repo_tags)).filter(|n| !n.is_empty() && n != "<none>:<none>").collect())
}

/// An image of `engine` as a `docker save` archive, to load into bay nodes (which never pull).
pub async fn export(engine: &Docker, image: &str) -> Result<bytes::Bytes, EngineError> {
    let mut archive = Vec::new();
    let mut stream = engine.export_image(image);
    while let Some(chunk) = stream.next().await {
        archive.extend_from_slice(&chunk.map_err(|e| err(&format!("exporting {image}"), e))?);
    }
    Ok(archive.into())
}

/// Loads an archive from [`export`] into `target`; `what` names it in errors.
pub async fn load(target: &Docker, archive: bytes::Bytes, what: &str) -> Result<(), EngineError> {
    let mut load = target.import_image(bollard::query_parameters::ImportImageOptions::default(), bollard::body_full(archive), None);
    while let Some(item) = load.next().await {
        let info = item.map_err(|e| err(&format!("loading {what}"), e))?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(EngineError(format!("loading {what}: {e}")));
        }
    }
    Ok(())
}
