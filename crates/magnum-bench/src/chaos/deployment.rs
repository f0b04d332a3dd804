//! The deployment under test: two `magnum-server api` and two `magnum-server conductor`
//! processes over one PostgreSQL database, one RabbitMQ queue of their own and the local Docker
//! engine. Processes can be killed, paused, resumed and started again; an API keeps its port
//! across restarts, so clients keep their address.

use anyhow::{bail, Context};
use magnum_client::Client;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Api,
    Conductor,
}

struct Process {
    role: Role,
    args: Vec<String>,
    child: Option<Child>,
}

pub(crate) struct Deployment {
    binary: PathBuf,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    procs: Mutex<BTreeMap<String, Process>>,
    /// One base URL per API, e.g. `http://127.0.0.1:40123`.
    pub apis: Vec<String>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Deployment {
    /// Starts the four processes and waits until both APIs answer.
    pub async fn start(binary: &Path, db: &str, amqp: &str, lease_ttl: u64) -> anyhow::Result<Deployment> {
        let dir = std::env::temp_dir().join(format!("magnum-chaos-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        let topic = format!("magnum-chaos-{}", uuid::Uuid::new_v4().simple());
        let env: Vec<(String, String)> = [
            ("MAGNUM_LOG", "info"),
            ("MAGNUM_DATABASE__CONNECTION", db),
            ("MAGNUM_TRANSPORT_URL", amqp),
            ("MAGNUM_CONDUCTOR__TOPIC", &topic),
            ("MAGNUM_CONDUCTOR__REPORT_INTERVAL", "1"),
            ("MAGNUM_CONDUCTOR__PERIODIC_INTERVAL", "2"),
            ("MAGNUM_CONDUCTOR__HEALTH_INTERVAL", "2"),
            ("MAGNUM_CONDUCTOR__LEASE_TTL", &lease_ttl.to_string()),
            ("MAGNUM_CONDUCTOR__SERVICE_DOWN_TIME", "5"),
            ("MAGNUM_DOCKER__ENABLED", "true"),
            ("MAGNUM_DOCKER__NODE_TIMEOUT", "120"),
            ("MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT", "1000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let mut procs = BTreeMap::new();
        for name in ["conductor-1", "conductor-2"] {
            let args = vec!["--data-dir".into(), dir.display().to_string(), "conductor".into()];
            procs.insert(name.to_owned(), Process { role: Role::Conductor, args, child: None });
        }
        let mut apis = vec![];
        for name in ["api-1", "api-2"] {
            let port = free_port()?;
            let args = vec!["--data-dir".into(), dir.display().to_string(), "--bind".into(), format!("127.0.0.1:{port}"), "api".into()];
            procs.insert(name.to_owned(), Process { role: Role::Api, args, child: None });
            apis.push(format!("http://127.0.0.1:{port}"));
        }
        let d = Deployment { binary: binary.to_owned(), dir, env, procs: Mutex::new(procs), apis };
        for name in d.names(None) {
            d.spawn(&name)?;
        }
        for base in &d.apis {
            wait_answering(base, Duration::from_secs(20)).await?;
        }
        Ok(d)
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Process>) -> T) -> T {
        let mut procs = self.procs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut procs)
    }

    /// The processes of `role` (all of them for None).
    pub fn names(&self, role: Option<Role>) -> Vec<String> {
        self.with(|p| p.iter().filter(|(_, p)| role.is_none_or(|r| p.role == r)).map(|(n, _)| n.clone()).collect())
    }

    fn spawn(&self, name: &str) -> anyhow::Result<()> {
        let log = OpenOptions::new().create(true).append(true).open(self.dir.join(format!("{name}.log")))?;
        let host = name.to_owned();
        self.with(|procs| {
            let p = procs.get_mut(name).with_context(|| format!("no process {name}"))?;
            let child = Command::new(&self.binary)
                .args(&p.args)
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env("MAGNUM_CONDUCTOR__HOST", &host)
                .stdout(log.try_clone()?)
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", self.binary.display()))?;
            p.child = Some(child);
            Ok(())
        })
    }

    /// SIGKILL: the process gets no chance to finish or release anything.
    pub fn kill(&self, name: &str) {
        self.with(|procs| {
            if let Some(mut child) = procs.get_mut(name).and_then(|p| p.child.take()) {
                let _ = child.kill();
                let _ = child.wait();
            }
        })
    }

    /// Starts a killed process again (nothing when it runs).
    pub fn restart(&self, name: &str) -> anyhow::Result<()> {
        let running = self.with(|procs| procs.get(name).is_some_and(|p| p.child.is_some()));
        if running {
            return Ok(());
        }
        self.spawn(name)
    }

    /// SIGSTOP (`stop`) or SIGCONT: frozen with everything it holds, as a stalled machine is.
    pub fn freeze(&self, name: &str, stop: bool) {
        self.with(|procs| {
            let Some(child) = procs.get(name).and_then(|p| p.child.as_ref()) else { return };
            let signal = if stop { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
        })
    }

    /// What a service manager does: a process that exited by itself (not killed here) is
    /// started again. Returns each such exit, "name: status".
    pub fn supervise(&self) -> anyhow::Result<Vec<String>> {
        let exited: Vec<(String, String)> = self.with(|procs| {
            procs
                .iter_mut()
                .filter_map(|(n, p)| match p.child.as_mut().map(Child::try_wait) {
                    Some(Ok(Some(status))) => {
                        p.child = None;
                        Some((n.clone(), status.to_string()))
                    }
                    _ => None,
                })
                .collect()
        });
        for (name, _) in &exited {
            self.spawn(name)?;
        }
        Ok(exited.into_iter().map(|(n, s)| format!("{n}: {s}")).collect())
    }

    /// Every process running and awake again (the end of the faults).
    pub fn revive_all(&self) -> anyhow::Result<Vec<String>> {
        for name in self.names(None) {
            self.freeze(&name, false);
            self.restart(&name)?;
        }
        self.supervise()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for name in self.names(None) {
            self.freeze(&name, false);
            self.kill(&name);
        }
    }
}

pub(crate) async fn wait_answering(base: &str, limit: Duration) -> anyhow::Result<()> {
    let c = Client::new(base);
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if c.get("/").await.is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{base} did not answer within {limit:?}")
}
