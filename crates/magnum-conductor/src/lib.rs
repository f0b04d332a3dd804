//! magnum-conductor: the component that does the work.
//!
//! For each cluster with an operation in progress, [`Conductor::reconcile`] asks the driver of
//! the cluster's COE to make the world match what the store says was asked, then records the
//! outcome through the one state machine ([`magnum_types::status::finish`]). Commands from the
//! API trigger it at once; a periodic sweep triggers it for anything a command never reached
//! (a crash, a restart, a lost message). A driver failure becomes `*_FAILED` with a reason;
//! nothing is left hanging in progress. Several conductors may share a store: each bay is
//! driven by the one holding its lease (`leases.rs`), and a dead conductor's bays are taken
//! over when its leases expire.

mod containers;
mod healing;
mod health;
mod heartbeat;
mod kube_objects;
mod leases;
mod locks;
mod placement;
mod reconcile;

use magnum_config::ConductorConfig;
use magnum_drivers::DriverRegistry;
use magnum_rpc::Delivery;
use magnum_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

pub use locks::IdLocks;

/// A periodic tick that never bursts to catch up after a slow round.
pub(crate) fn ticker(seconds: u64) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_secs(seconds.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

pub struct Conductor {
    store: Store,
    drivers: DriverRegistry,
    config: ConductorConfig,
    locks: IdLocks,
    /// Opens the bays' stored private keys for the drivers (None: bays have no certificates).
    cipher: Option<Arc<magnum_certs::KeyCipher>>,
    /// The image list last written to the store, to skip identical reports.
    reported_images: tokio::sync::Mutex<Vec<String>>,
    /// Which node takes each new container.
    placement: placement::Placement,
    /// This process's name on bay leases: unique per start, so a restarted conductor never
    /// mistakes its predecessor's leases for its own.
    holder: String,
}

/// The running conductor's tasks; dropping it does not stop them, [`Running::stop`] does.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Conductor {
    pub fn new(store: Store, drivers: DriverRegistry, config: ConductorConfig) -> Arc<Conductor> {
        Self::with_cipher(store, drivers, config, None)
    }

    pub fn with_cipher(
        store: Store,
        drivers: DriverRegistry,
        config: ConductorConfig,
        cipher: Option<Arc<magnum_certs::KeyCipher>>,
    ) -> Arc<Conductor> {
        let holder = format!("{}/{}", config.host, uuid::Uuid::new_v4().simple());
        Arc::new(Conductor {
            store,
            drivers,
            config,
            locks: IdLocks::default(),
            cipher,
            reported_images: Default::default(),
            placement: Default::default(),
            holder,
        })
    }

    /// Records this conductor's heartbeat, and what it builds, now: an API started beside it
    /// then knows at once which bays the deployment can build.
    pub async fn report_builds(&self) {
        if let Err(e) = self.store.heartbeat(&self.config.host, magnum_types::mservice::CONDUCTOR_BINARY, &self.drivers.coes()).await {
            tracing::warn!(error = %e, "cannot record the heartbeat yet; the heartbeat loop retries");
        }
    }

    /// Starts the heartbeat, the sweep and (when given) the loop that takes commands and calls.
    pub fn start(self: &Arc<Self>, commands: Option<UnboundedReceiver<Delivery>>) -> Running {
        tracing::info!(host = %self.config.host, drivers = ?self.drivers.coes(), "conductor starting");
        let mut tasks = vec![
            tokio::spawn(heartbeat::run(self.store.clone(), self.config.clone(), self.drivers.coes())),
            tokio::spawn(self.clone().sweep_loop()),
            tokio::spawn(self.clone().health_loop()),
        ];
        if let Some(rx) = commands {
            tasks.push(tokio::spawn(self.clone().command_loop(rx)));
        }
        Running { tasks }
    }

    async fn command_loop(self: Arc<Self>, mut rx: UnboundedReceiver<Delivery>) {
        while let Some(delivery) = rx.recv().await {
            let me = self.clone();
            match delivery {
                Delivery::Cast(command) => {
                    tracing::debug!(?command, "command received");
                    tokio::spawn(async move {
                        // Commands for one cluster run one after another (a delete waits for a create).
                        let _guard = me.locks.lock(command.cluster()).await;
                        me.reconcile_logged(command.cluster()).await;
                    });
                }
                Delivery::Call(call, reply) => {
                    tracing::debug!(?call, "call received");
                    tokio::spawn(async move {
                        // The caller may have given up waiting; its answer is then dropped.
                        let _ = reply.send(me.handle_call(call).await);
                    });
                }
            }
        }
    }

    /// Every `periodic_interval`, reconcile in-progress clusters nobody here is working on.
    async fn sweep_loop(self: Arc<Self>) {
        let mut tick = ticker(self.config.periodic_interval);
        loop {
            tick.tick().await;
            let pending = match self.store.clusters_in_progress().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "sweep could not list in-progress clusters; will retry");
                    continue;
                }
            };
            self.spawn_unlocked(pending.iter().map(|c| c.uuid), |me, uuid| async move { me.reconcile_logged(uuid).await });
        }
    }

    /// Runs `work` for each cluster nobody here is working on, each in its own task holding
    /// the cluster's lock (a busy cluster is left for the next tick).
    pub(crate) fn spawn_unlocked<F, Fut>(self: &Arc<Self>, clusters: impl Iterator<Item = uuid::Uuid>, work: F)
    where
        F: Fn(Arc<Self>, uuid::Uuid) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        for uuid in clusters {
            let Some(guard) = self.locks.try_lock(uuid) else { continue };
            let task = work(self.clone(), uuid);
            tokio::spawn(async move {
                let _guard = guard;
                task.await;
            });
        }
    }

    /// Reconciles `uuid` if this conductor gets its lease (else another conductor is on it).
    async fn reconcile_logged(&self, uuid: uuid::Uuid) {
        if let Err(e) = self.reconcile(uuid).await {
            tracing::warn!(cluster = %uuid, error = %e, "reconcile did not finish; the sweep will retry");
        }
    }
}
