//! One lock per cluster inside this conductor, so two tasks never drive the same cluster.
//! (Across conductors, ownership is a lease in the store: the scale-out issue's work.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

#[derive(Default)]
pub struct IdLocks {
    map: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl IdLocks {
    fn entry(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Forget locks nobody holds or waits for, so the map stays as small as the work.
        map.retain(|_, m| Arc::strong_count(m) > 1);
        map.entry(id).or_default().clone()
    }

    /// Waits for the cluster's lock.
    pub async fn lock(&self, id: Uuid) -> OwnedMutexGuard<()> {
        self.entry(id).lock_owned().await
    }

    /// The cluster's lock if free now.
    pub fn try_lock(&self, id: Uuid) -> Option<OwnedMutexGuard<()>> {
        self.entry(id).try_lock_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exclusive_per_id() {
        let locks = IdLocks::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let held = locks.lock(a).await;
        assert!(locks.try_lock(a).is_none());
        assert!(locks.try_lock(b).is_some());
        drop(held);
        assert!(locks.try_lock(a).is_some());
    }
}
