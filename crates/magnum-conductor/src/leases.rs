//! Leases: a conductor drives a bay only while it holds the bay's lease in the store, so that
//! several conductors never act on one bay at once. The holder renews the lease every third of
//! its time to live while it works; when a conductor dies, its leases expire and the next sweep
//! of any other conductor takes the bay over (drivers converge, so it finishes the operation).
//!
//! A lease is also a fence. A conductor that stalled past its lease (paused, swapped out, cut
//! off from the database) and then wakes up must not undo its successor's work: its driver
//! asks [`Held`] before each change to the engine, and its store writes carry the lease's
//! generation, so both are refused once another conductor has taken the bay.

use crate::Conductor;
use async_trait::async_trait;
use magnum_drivers::{DriverError, Fence};
use magnum_store::{Lease, Store};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A lease this conductor holds while it works on one bay.
pub(crate) struct Held {
    store: Store,
    pub(crate) lease: Lease,
    /// Set once the lease is known lost (or could not be confirmed): the work stops and
    /// records nothing; the bay's new holder, or the next sweep, carries on.
    lost: AtomicBool,
}

impl Held {
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Marks the lease lost and says so once.
    pub(crate) fn lose(&self, why: &str) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::warn!(cluster = %self.lease.cluster, generation = self.lease.generation, "{why}; leaving the bay to its current holder");
        }
    }
}

#[async_trait]
impl Fence for Held {
    async fn check(&self) -> Result<(), DriverError> {
        if self.lost() {
            return Err(DriverError(format!("this conductor no longer holds the lease of bay {}", self.lease.cluster)));
        }
        match self.store.lease_is_current(&self.lease).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.lose("another conductor took the bay's lease over");
                Err(DriverError(format!("another conductor took bay {} over; this one stops", self.lease.cluster)))
            }
            Err(e) => {
                self.lose("cannot confirm the bay's lease");
                Err(DriverError(format!("cannot confirm the lease of bay {} ({}); the next sweep retries", self.lease.cluster, e.message)))
            }
        }
    }
}

impl Conductor {
    fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.config.lease_ttl.max(3))
    }

    /// Runs `work` holding the lease of `cluster`; None (and no work) when another conductor
    /// holds it, or the store cannot say.
    pub(crate) async fn with_lease<T, F, Fut>(&self, cluster: Uuid, work: F) -> Option<T>
    where
        F: FnOnce(Arc<Held>) -> Fut,
        Fut: Future<Output = T>,
    {
        let ttl = self.lease_ttl();
        let lease = match self.store.acquire_lease(cluster, &self.holder, ttl).await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                tracing::debug!(%cluster, "another conductor holds this bay's lease");
                return None;
            }
            Err(e) => {
                tracing::warn!(%cluster, error = %e, "cannot take the bay's lease; will retry");
                return None;
            }
        };
        let held = Arc::new(Held { store: self.store.clone(), lease, lost: AtomicBool::new(false) });
        let renewal = tokio::spawn({
            let held = held.clone();
            async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    match held.store.renew_lease(&held.lease, ttl).await {
                        Ok(true) => {}
                        Ok(false) => return held.lose("lost the bay's lease (it expired and another conductor took it)"),
                        Err(e) => tracing::warn!(%cluster, error = %e, "cannot renew the bay's lease"),
                    }
                }
            }
        });
        let out = work(held.clone()).await;
        renewal.abort();
        if !held.lost() {
            if let Err(e) = self.store.release_lease(&held.lease).await {
                tracing::debug!(%cluster, error = %e, "lease not released; it expires by itself");
            }
        }
        Some(out)
    }
}
