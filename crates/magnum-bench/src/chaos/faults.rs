//! The faults, injected at random while the workload runs: conductors and APIs killed
//! (SIGKILL, started again after a while) or paused (SIGSTOP past the lease, then SIGCONT),
//! RabbitMQ restarted, PostgreSQL stopped and started, the Docker engine restarted, a bay's node
//! container killed. Faults last a while and overlap: a new one may begin while others last.

use super::deployment::{Deployment, Role};
use super::rng::Rng;
use super::services::Services;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fault {
    ConductorKilled,
    ConductorPaused,
    ApiKilled,
    ApiPaused,
    BrokerRestarted,
    DatabaseRestarted,
    EngineRestarted,
    NodeKilled,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::ConductorKilled,
        Fault::ConductorPaused,
        Fault::ApiKilled,
        Fault::ApiPaused,
        Fault::BrokerRestarted,
        Fault::DatabaseRestarted,
        Fault::EngineRestarted,
        Fault::NodeKilled,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Fault::ConductorKilled => "a conductor killed (SIGKILL), started again 1-8 s later",
            Fault::ConductorPaused => "a conductor paused (SIGSTOP) past its lease, 1.5-2.5 leases",
            Fault::ApiKilled => "an API killed (SIGKILL), started again 1-4 s later",
            Fault::ApiPaused => "an API paused (SIGSTOP) 2-6 s",
            Fault::BrokerRestarted => "RabbitMQ restarted",
            Fault::DatabaseRestarted => "PostgreSQL stopped 2-6 s, then started",
            Fault::EngineRestarted => "the Docker engine restarted (every node goes down with it)",
            Fault::NodeKilled => "a bay's node container killed",
        }
    }
}

pub(crate) struct Injector {
    pub deployment: Arc<Deployment>,
    pub services: Arc<Services>,
    pub lease_ttl: u64,
    /// Faults injected, by kind.
    pub counts: Mutex<BTreeMap<Fault, usize>>,
    /// What went wrong injecting or undoing a fault (a service that would not start again).
    pub troubles: Mutex<Vec<String>>,
    /// Processes and services under a fault now: none gets a second one until the first ends.
    busy: Mutex<BTreeSet<String>>,
    started: Instant,
}

impl Injector {
    pub fn new(deployment: Arc<Deployment>, services: Arc<Services>, lease_ttl: u64) -> Injector {
        Injector {
            deployment,
            services,
            lease_ttl,
            counts: Mutex::default(),
            troubles: Mutex::default(),
            busy: Mutex::default(),
            started: Instant::now(),
        }
    }

    fn note(&self, what: String) {
        eprintln!("[chaos {:>4.0} s] {what}", self.started.elapsed().as_secs_f64());
    }

    fn trouble(&self, what: String) {
        self.note(format!("TROUBLE: {what}"));
        if let Ok(mut t) = self.troubles.lock() {
            t.push(what);
        }
    }

    /// Marks `target` busy; false when a fault already holds it.
    fn claim(&self, target: &str) -> bool {
        self.busy.lock().is_ok_and(|mut b| b.insert(target.to_owned()))
    }

    fn release(&self, target: &str) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(target);
        }
    }

    /// Injects a fault every `interval` on average until `until`, then waits for the faults
    /// still lasting to end.
    pub async fn run(self: Arc<Self>, rng: &mut Rng, interval: f64, until: Instant) {
        let mut lasting = vec![];
        while Instant::now() < until {
            let wait = Duration::from_secs_f64(rng.between(0.5 * interval, 1.5 * interval));
            tokio::time::sleep(wait.min(until.saturating_duration_since(Instant::now()))).await;
            if Instant::now() >= until {
                break;
            }
            let Some(fault) = rng.pick(&Fault::ALL).copied() else { continue };
            let (me, mut r) = (self.clone(), rng.fork());
            lasting.push(tokio::spawn(async move { me.inject(fault, &mut r).await }));
        }
        for t in lasting {
            let _ = t.await;
        }
    }

    async fn inject(&self, fault: Fault, rng: &mut Rng) {
        let role = match fault {
            Fault::ConductorKilled | Fault::ConductorPaused => Some(Role::Conductor),
            Fault::ApiKilled | Fault::ApiPaused => Some(Role::Api),
            _ => None,
        };
        let target = match role {
            Some(role) => rng.pick(&self.deployment.names(Some(role))).cloned().unwrap_or_default(),
            None => format!("{fault:?}"),
        };
        if !self.claim(&target) {
            return;
        }
        let injected = self.carry_out(fault, &target, rng).await;
        self.release(&target);
        if injected {
            if let Ok(mut c) = self.counts.lock() {
                *c.entry(fault).or_default() += 1;
            }
        }
    }

    /// Does the fault and undoes it; false when there was nothing to do it to.
    async fn carry_out(&self, fault: Fault, target: &str, rng: &mut Rng) -> bool {
        let d = &self.deployment;
        let secs = |low: f64, high: f64, rng: &mut Rng| Duration::from_secs_f64(rng.between(low, high));
        match fault {
            Fault::ConductorKilled | Fault::ApiKilled => {
                let down = if fault == Fault::ApiKilled { secs(1.0, 4.0, rng) } else { secs(1.0, 8.0, rng) };
                self.note(format!("kill -9 {target}, back in {:.1} s", down.as_secs_f64()));
                d.kill(target);
                tokio::time::sleep(down).await;
                if let Err(e) = d.restart(target) {
                    self.trouble(format!("{target} did not start again: {e:#}"));
                }
            }
            Fault::ConductorPaused | Fault::ApiPaused => {
                let ttl = self.lease_ttl as f64;
                let frozen = if fault == Fault::ApiPaused { secs(2.0, 6.0, rng) } else { secs(1.5 * ttl, 2.5 * ttl, rng) };
                self.note(format!("SIGSTOP {target} for {:.1} s", frozen.as_secs_f64()));
                d.freeze(target, true);
                tokio::time::sleep(frozen).await;
                d.freeze(target, false);
            }
            Fault::BrokerRestarted => {
                self.note("restarting RabbitMQ".into());
                if let Err(e) = self.services.restart_broker().await {
                    self.trouble(format!("RabbitMQ: {e:#}"));
                }
            }
            Fault::DatabaseRestarted => {
                let down = secs(2.0, 6.0, rng);
                self.note(format!("stopping PostgreSQL for {:.1} s", down.as_secs_f64()));
                if let Err(e) = self.services.stop_database().await {
                    self.trouble(format!("PostgreSQL stop: {e:#}"));
                }
                tokio::time::sleep(down).await;
                if let Err(e) = self.services.start_database().await {
                    self.trouble(format!("PostgreSQL start: {e:#}"));
                }
            }
            Fault::EngineRestarted => {
                self.note("restarting the Docker engine".into());
                if let Err(e) = self.services.restart_engine().await {
                    self.trouble(format!("Docker engine: {e:#}"));
                }
            }
            Fault::NodeKilled => {
                let nodes = self.services.node_containers().await.unwrap_or_default();
                let Some(node) = rng.pick(&nodes) else { return false };
                self.note(format!("docker kill {node}"));
                if let Err(e) = self.services.kill_container(node).await {
                    self.note(format!("{node} was not killed: {e:#}"));
                    return false;
                }
            }
        }
        true
    }
}
