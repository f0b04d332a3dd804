//! Images built offline, from what the host has installed (no registry is ever contacted):
//! - the **swarm node image**: dockerd, containerd, runc, docker-init, docker-proxy,
//!   iptables and ip from the host's Debian docker.io install, the libraries they load,
//!   busybox for a shell, and our entrypoint;
//! - the **workload image**: Debian's busybox-static, for containers on bays and for tests.
//!
//! Both are imported as a root filesystem (`docker import`), so they are one layer each.

use super::{err, EngineError};
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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

/// Started as PID 1 of every node. Docker mounts cgroup hierarchies read-only in unprivileged
/// containers; with CAP_SYS_ADMIN a bind remount makes them writable for the inner dockerd.
/// A node killed uncleanly leaves dockerd's and containerd's pid files behind; dockerd, PID 1
/// again after the restart, would take the stale "1" for a running daemon and refuse to start.
const ENTRYPOINT: &str = r#"#!/bin/sh
for d in /sys/fs/cgroup/*; do
  mount -o remount,bind,rw "$d" 2>/dev/null || true
done
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec dockerd --host=unix:///var/run/docker.sock "$@"
"#;

fn find_program(name: &str) -> Result<PathBuf, EngineError> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(EngineError(format!(
        "{name} is not installed on this host; the node image is built from the host's own packages: \
         run scripts/start-docker.sh (installs docker.io, iptables, busybox-static)"
    )))
}

/// Shared libraries `binary` loads, as `ldd` reports them.
fn libraries(binary: &Path) -> Vec<PathBuf> {
    let Ok(out) = std::process::Command::new("ldd").arg(binary).output() else { return vec![] };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/') && w.contains(".so"))
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// A root filesystem under construction, as a tar archive.
struct Rootfs {
    tar: tar::Builder<Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
}

impl Rootfs {
    fn new() -> Rootfs {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(true);
        Rootfs { tar, dirs: BTreeSet::new() }
    }

    fn dir(&mut self, path: &str) -> Result<(), EngineError> {
        let p = PathBuf::from(path.trim_start_matches('/'));
        let mut acc = PathBuf::new();
        for part in p.components() {
            acc.push(part);
            if self.dirs.insert(acc.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(if acc == Path::new("tmp") { 0o1777 } else { 0o755 });
                h.set_size(0);
                self.tar.append_data(&mut h, &acc, std::io::empty()).map_err(|e| err("building the image", e))?;
            }
        }
        Ok(())
    }

    fn parent(&mut self, path: &str) -> Result<(), EngineError> {
        match Path::new(path).parent().and_then(Path::to_str) {
            Some(p) if p != "/" && !p.is_empty() => self.dir(p),
            _ => Ok(()),
        }
    }

    /// Copies a host file (following links) to `at` in the image.
    fn copy(&mut self, host: &Path, at: &str) -> Result<(), EngineError> {
        self.parent(at)?;
        self.tar.append_path_with_name(host, at.trim_start_matches('/')).map_err(|e| err(&format!("adding {}", host.display()), e))
    }

    fn file(&mut self, at: &str, mode: u32, content: &[u8]) -> Result<(), EngineError> {
        self.parent(at)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(content.len() as u64);
        self.tar.append_data(&mut h, at.trim_start_matches('/'), content).map_err(|e| err(&format!("adding {at}"), e))
    }

    fn link(&mut self, at: &str, target: &str) -> Result<(), EngineError> {
        self.parent(at)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        self.tar.append_link(&mut h, at.trim_start_matches('/'), target).map_err(|e| err(&format!("linking {at}"), e))
    }

    /// busybox with a link per applet, and the basic files a shell expects.
    fn busybox(&mut self) -> Result<(), EngineError> {
        let busybox = find_program("busybox")?;
        self.copy(&busybox, "/bin/busybox")?;
        let out = std::process::Command::new(&busybox).arg("--list").output().map_err(|e| err("running busybox --list", e))?;
        for applet in String::from_utf8_lossy(&out.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
            self.link(&format!("/bin/{applet}"), "busybox")?;
        }
        self.file("/etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")?;
        self.file("/etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")?;
        self.file("/etc/nsswitch.conf", 0o644, b"hosts: files dns\n")?;
        for d in ["/tmp", "/root", "/proc", "/sys", "/dev", "/run", "/var"] {
            self.dir(d)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, EngineError> {
        self.tar.into_inner().map_err(|e| err("finishing the image archive", e))
    }
}

fn node_rootfs() -> Result<Vec<u8>, EngineError> {
    let mut fs = Rootfs::new();
    fs.busybox()?;
    let mut libs = BTreeSet::new();
    for (name, at) in NODE_PROGRAMS {
        let host = find_program(name)?;
        libs.extend(libraries(&host));
        fs.copy(&host, at)?;
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
            libs.extend(libraries(&p));
            let at = p.display().to_string();
            fs.copy(&p, &at)?;
        }
    }
    for lib in libs {
        let at = lib.display().to_string();
        fs.copy(&lib, &at)?;
    }
    for f in ["/etc/protocols", "/etc/services", "/etc/ethertypes", "/etc/os-release"] {
        if Path::new(f).exists() {
            fs.copy(Path::new(f), f)?;
        }
    }
    fs.link("/var/run", "../run")?;
    fs.dir("/var/lib/docker")?;
    fs.dir("/etc/docker")?;
    fs.file("/entrypoint.sh", 0o755, ENTRYPOINT.as_bytes())?;
    fs.finish()
}

fn workload_rootfs() -> Result<Vec<u8>, EngineError> {
    let mut fs = Rootfs::new();
    fs.busybox()?;
    fs.finish()
}

async fn import(docker: &Docker, rootfs: Vec<u8>, image: &str, changes: &[&str]) -> Result<(), EngineError> {
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
