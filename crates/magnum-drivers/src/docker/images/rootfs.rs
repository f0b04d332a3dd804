//! A root filesystem assembled from the host's own files, as a tar archive that the engine
//! imports as a one-layer image.

use super::super::{err, EngineError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub fn find_program(name: &str) -> Result<PathBuf, EngineError> {
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
pub fn libraries(binary: &Path) -> Vec<PathBuf> {
    let Ok(out) = std::process::Command::new("ldd").arg(binary).output() else { return vec![] };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/') && w.contains(".so"))
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// A root filesystem under construction, as a tar archive.
pub struct Rootfs {
    tar: tar::Builder<Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
    /// Shared libraries the programs added so far load, copied in by [`Rootfs::finish`].
    libs: BTreeSet<PathBuf>,
}

impl Default for Rootfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Rootfs {
    pub fn new() -> Rootfs {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(true);
        // Docker's importer rejects GNU sparse entries, which freshly linked binaries (holes in
        // their padding) would otherwise become.
        tar.sparse(false);
        Rootfs { tar, dirs: BTreeSet::new(), libs: BTreeSet::new() }
    }

    pub fn dir(&mut self, path: &str) -> Result<(), EngineError> {
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
    pub fn copy(&mut self, host: &Path, at: &str) -> Result<(), EngineError> {
        self.parent(at)?;
        self.tar.append_path_with_name(host, at.trim_start_matches('/')).map_err(|e| err(&format!("adding {}", host.display()), e))
    }

    /// Copies a program (and later the libraries it loads) to `at`.
    pub fn program(&mut self, host: &Path, at: &str) -> Result<(), EngineError> {
        self.libs.extend(libraries(host));
        self.copy(host, at)
    }

    pub fn file(&mut self, at: &str, mode: u32, content: &[u8]) -> Result<(), EngineError> {
        self.parent(at)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(content.len() as u64);
        self.tar.append_data(&mut h, at.trim_start_matches('/'), content).map_err(|e| err(&format!("adding {at}"), e))
    }

    pub fn link(&mut self, at: &str, target: &str) -> Result<(), EngineError> {
        self.parent(at)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        self.tar.append_link(&mut h, at.trim_start_matches('/'), target).map_err(|e| err(&format!("linking {at}"), e))
    }

    /// busybox with a link per applet, and the basic files a shell expects.
    pub fn busybox(&mut self) -> Result<(), EngineError> {
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

    pub fn finish(mut self) -> Result<Vec<u8>, EngineError> {
        for lib in std::mem::take(&mut self.libs) {
            let at = lib.display().to_string();
            self.copy(&lib, &at)?;
        }
        self.tar.into_inner().map_err(|e| err("finishing the image archive", e))
    }
}
