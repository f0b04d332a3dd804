//! Leases: a conductor drives a bay only while it holds the bay's lease in the store, so that
//! several conductors never act on one bay at once. The holder renews the lease every third of
//! its time to live while it works; when a conductor dies, its leases expire and the next sweep
//! of any other conductor takes the bay over (drivers converge, so it finishes the operation).

use crate::Conductor;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

impl Conductor {
    fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.config.lease_ttl.max(3))
    }

    /// Runs `work` holding the lease of `cluster`; None (and no work) when another conductor
    /// holds it, or the store cannot say.
    pub(crate) async fn with_lease<T>(&self, cluster: Uuid, work: impl Future<Output = T>) -> Option<T> {
        let ttl = self.lease_ttl();
        match self.store.acquire_lease(cluster, &self.holder, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(%cluster, "another conductor holds this bay's lease");
                return None;
            }
            Err(e) => {
                tracing::warn!(%cluster, error = %e, "cannot take the bay's lease; will retry");
                return None;
            }
        }
        let (store, holder) = (self.store.clone(), self.holder.clone());
        let renewal = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match store.renew_lease(cluster, &holder, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(%cluster, "lost the bay's lease (it expired and another conductor took it)");
                        return;
                    }
                    Err(e) => tracing::warn!(%cluster, error = %e, "cannot renew the bay's lease"),
                }
            }
        });
        let out = work.await;
        renewal.abort();
        if let Err(e) = self.store.release_lease(cluster, &self.holder).await {
            tracing::debug!(%cluster, error = %e, "lease not released; it expires by itself");
        }
        Some(out)
    }
}
