//! Assembles the services: the all-in-one process (API + conductor), the API alone, or the
//! conductor alone; joined by the in-process bus, by RabbitMQ (`transport_url = amqp://...`),
//! or (api and conductors without a bus) by the shared database alone. The binary (`main.rs`) only parses arguments and calls here;
//! tests start the same assembly on an ephemeral port.

use anyhow::{bail, Context};
use magnum_api::AppState;
use magnum_conductor::Conductor;
use magnum_config::Config;
use magnum_drivers::docker::nodes::Limits;
use magnum_drivers::kubernetes::bay::KubernetesDriver;
use magnum_drivers::swarm::SwarmDriver;
use magnum_drivers::DriverRegistry;
use magnum_rpc::amqp::{self, AmqpRpc};
use magnum_rpc::{ConductorRpc, Delivery, InProcessBus, StoreSweep};
use magnum_store::Store;
use magnum_types::coe::Coe;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// API + conductor in one process, joined by an in-process bus.
    All,
    /// The REST API alone (run as many as you like against one database).
    Api,
    /// A conductor alone.
    Conductor,
}

/// A started service. Dropping it leaves it running; [`Running::stop`] stops it.
pub struct Running {
    /// Where the API listens (None for a conductor-only process).
    pub addr: Option<SocketAddr>,
    pub store: Store,
    http: Option<JoinHandle<()>>,
    conductor: Option<magnum_conductor::Running>,
    /// The conductor's consumer of the message bus.
    bus: Option<JoinHandle<()>>,
}

impl Running {
    pub fn stop(&self) {
        if let Some(h) = &self.http {
            h.abort();
        }
        if let Some(c) = &self.conductor {
            c.stop();
        }
        if let Some(b) = &self.bus {
            b.abort();
        }
    }

    /// Waits until the HTTP server ends (a conductor-only process waits forever).
    pub async fn wait(self) {
        match self.http {
            Some(h) => {
                let _ = h.await;
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// The key that seals the bays' private keys: read from the key file, or created there (0600)
/// on first start.
pub fn load_cipher(config: &Config) -> anyhow::Result<magnum_certs::KeyCipher> {
    use std::io::Write;
    let path = config.certificate_key_file();
    let key: [u8; 32] = match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} must hold exactly 32 bytes (it is the key that encrypts bay private keys)", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = magnum_certs::KeyCipher::generate_key()?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            // Written aside, then linked into place: processes starting together (an api and
            // conductors sharing a data directory) never read a half-written key, and all end
            // up with the one that was linked first.
            let aside = path.with_extension(format!("new-{}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&aside)
                .with_context(|| format!("creating the certificate key file {}", aside.display()))?;
            f.write_all(&key)?;
            f.sync_all()?;
            let linked = std::fs::hard_link(&aside, &path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "created the certificate encryption key");
                    key
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return load_cipher(config),
                Err(e) => return Err(e).with_context(|| format!("creating the certificate key file {}", path.display())),
            }
        }
        Err(e) => return Err(e).with_context(|| format!("reading the certificate key file {}", path.display())),
    };
    Ok(magnum_certs::KeyCipher::from_bytes(&key)?)
}

/// Upstream's default rules, overridden by `[policy] file` when one is configured.
pub fn load_policy(config: &Config) -> anyhow::Result<magnum_policy::Policy> {
    let Some(path) = &config.policy.file else { return Ok(magnum_policy::Policy::defaults()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the policy file {}", path.display()))?;
    let policy = magnum_policy::Policy::with_overrides(&text).map_err(|e| anyhow::anyhow!("policy file {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "policy rules loaded over the defaults");
    Ok(policy)
}

/// The Docker engine of `[docker]`: local socket, or remote TCP with TLS files.
pub fn engine_access(config: &Config) -> magnum_drivers::docker::EngineAccess {
    let d = &config.docker;
    let tls = match (&d.tls_ca_file, &d.tls_cert_file, &d.tls_key_file) {
        (Some(ca), Some(cert), Some(key)) => Some((ca.clone(), cert.clone(), key.clone())),
        _ => None,
    };
    magnum_drivers::docker::EngineAccess { url: d.url.clone(), tls, publish_address: d.publish_address.clone() }
}

/// The engines this deployment drives bays with.
pub fn drivers(config: &Config) -> DriverRegistry {
    let mut registry = DriverRegistry::empty();
    if config.docker.enabled {
        let flavors: std::collections::HashMap<_, _> =
            config.flavors.iter().map(|f| (f.name.clone(), Limits { vcpus: f.vcpus, ram_mb: f.ram_mb })).collect();
        let mut swarm = SwarmDriver::new(engine_access(config), flavors.clone());
        swarm.node_timeout = std::time::Duration::from_secs(config.docker.node_timeout);
        registry.register(Coe::SwarmMode, Arc::new(swarm));
        let mut kubernetes = KubernetesDriver::new(engine_access(config), flavors);
        kubernetes.node_timeout = std::time::Duration::from_secs(config.docker.node_timeout.max(180));
        registry.register(Coe::Kubernetes, Arc::new(kubernetes));
    }
    // Registered endpoints need no engine of ours.
    registry.register_external(Coe::SwarmMode, Arc::new(magnum_drivers::swarm::external::ExternalSwarm));
    registry.register_external(Coe::Kubernetes, Arc::new(magnum_drivers::kubernetes::external::ExternalKubernetes));
    registry
}

/// Opens the store from the configuration and starts `mode`.
pub async fn start(mode: Mode, config: Config) -> anyhow::Result<Running> {
    let url = config.database_url();
    let store = Store::open(&url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database {}", magnum_store::redact(&url)))?;
    start_with_store(mode, config, store, tokio::signal::ctrl_c()).await
}

/// Starts `mode` on an open store; the HTTP server stops gracefully when `shutdown` resolves.
pub async fn start_with_store<F>(mode: Mode, config: Config, store: Store, shutdown: F) -> anyhow::Result<Running>
where
    F: std::future::Future + Send + 'static,
{
    let drivers = drivers(&config);
    start_with_drivers(mode, config, store, drivers, shutdown).await
}

/// `start_with_store` with the conductor's drivers given (the control-plane tests give theirs).
pub async fn start_with_drivers<F>(
    mode: Mode,
    config: Config,
    store: Store,
    drivers: DriverRegistry,
    shutdown: F,
) -> anyhow::Result<Running>
where
    F: std::future::Future + Send + 'static,
{
    let amqp_url = match &config.transport_url {
        None => None,
        Some(url) if url.starts_with("amqp://") => Some(url.clone()),
        Some(url) => bail!(
            "transport_url {} is not supported: use amqp://USER:PASSWORD@HOST:PORT/VHOST (RabbitMQ), or leave it unset \
             (all-in-one then uses an in-process bus, and separate api and conductor processes coordinate through the database).",
            magnum_types::redact::url(url)
        ),
    };
    // Configuration that cannot work stops the start before anything runs.
    let policy = load_policy(&config)?;
    let cipher = Arc::new(load_cipher(&config)?);
    // A conductor listening on the in-process bus (all-in-one), on RabbitMQ, or on nothing but
    // its sweep of the database.
    let mut conductor_config = config.conductor.clone();
    conductor_config.image_builds_dir = Some(config.image_builds_dir());
    let start_conductor = |commands: Option<tokio::sync::mpsc::UnboundedReceiver<Delivery>>| {
        let conductor = Conductor::with_cipher(store.clone(), drivers.clone(), conductor_config.clone(), Some(cipher.clone()));
        async move {
            // Templates are checked against the engine's images, and bays against what the
            // conductors build: know both before serving.
            conductor.report_images().await;
            conductor.report_builds().await;
            conductor.start(commands)
        }
    };
    let consume = |url: &str| {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let name = format!("magnum-conductor@{}", config.conductor.host);
        (tokio::spawn(amqp::serve(url.to_owned(), config.conductor.topic.clone(), name, tx)), rx)
    };
    let (rpc, conductor, bus): (Arc<dyn ConductorRpc>, _, _) = match (mode, &amqp_url) {
        (Mode::All, None) => {
            let (bus, rx) = InProcessBus::new();
            (Arc::new(bus), Some(start_conductor(Some(rx)).await), None)
        }
        (Mode::All, Some(url)) => {
            let (bus, rx) = consume(url);
            (AmqpRpc::new(url, &config.conductor.topic), Some(start_conductor(Some(rx)).await), Some(bus))
        }
        (Mode::Api, None) => (Arc::new(StoreSweep), None, None),
        (Mode::Api, Some(url)) => (AmqpRpc::new(url, &config.conductor.topic), None, None),
        (Mode::Conductor, url) => {
            let (bus, rx) = match url {
                Some(url) => {
                    let (bus, rx) = consume(url);
                    (Some(bus), Some(rx))
                }
                None => (None, None),
            };
            let c = start_conductor(rx).await;
            return Ok(Running { addr: None, store, http: None, conductor: Some(c), bus });
        }
    };
    tracing::info!(transport = rpc.transport(), "conductor transport");
    let listener = tokio::net::TcpListener::bind(config.api.bind)
        .await
        .with_context(|| format!("binding the API to {} (is another server running there?)", config.api.bind))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(store.clone(), rpc, config, cipher, policy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = magnum_api::router(state);
    let http = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(%addr, ?mode, "magnum API listening");
    Ok(Running { addr: Some(addr), store, http: Some(http), conductor, bus })
}
