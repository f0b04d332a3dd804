//! Placement: which node of a bay takes a new container. Containers spread: the node with the
//! fewest of them (those recorded in the store plus those being created right now), ties by
//! name. Choices for one bay are made one at a time, so a burst of creates spreads too.

use crate::IdLocks;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

#[derive(Default)]
pub(crate) struct Placement {
    choosing: IdLocks,
    /// Containers chosen a node but not yet recorded, per (bay, node).
    pending: Mutex<HashMap<(Uuid, String), i64>>,
}

/// A node chosen for one container; counts as one of its containers until dropped (after
/// the container is recorded in the store, or failed).
pub(crate) struct Reservation<'a> {
    placement: &'a Placement,
    key: (Uuid, String),
}

impl Reservation<'_> {
    pub fn node(&self) -> &str {
        &self.key.1
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut pending = self.placement.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = pending.get_mut(&self.key) {
            *n -= 1;
            if *n <= 0 {
                pending.remove(&self.key);
            }
        }
    }
}

impl Placement {
    /// Chooses among `nodes` of `bay`; `recorded` gives the containers each already has.
    pub async fn choose<F, Fut>(&self, bay: Uuid, nodes: &[String], recorded: F) -> magnum_types::Result<Option<Reservation<'_>>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = magnum_types::Result<HashMap<String, i64>>>,
    {
        let _one_at_a_time = self.choosing.lock(bay).await;
        let recorded = recorded().await?;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let load = |n: &String| recorded.get(n).copied().unwrap_or(0) + pending.get(&(bay, n.clone())).copied().unwrap_or(0);
        let Some(best) = nodes.iter().min_by(|a, b| (load(a), *a).cmp(&(load(b), *b))).cloned() else { return Ok(None) };
        *pending.entry((bay, best.clone())).or_default() += 1;
        Ok(Some(Reservation { placement: self, key: (bay, best) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spreads_over_recorded_and_pending() {
        let p = Placement::default();
        let bay = Uuid::new_v4();
        let nodes = vec!["w-0".to_owned(), "w-1".to_owned(), "w-2".to_owned()];
        let recorded = HashMap::from([("w-0".to_owned(), 2), ("w-1".to_owned(), 1)]);
        let r = || async { Ok(recorded.clone()) };
        let a = p.choose(bay, &nodes, r).await.expect("ok").expect("a node");
        assert_eq!(a.node(), "w-2", "the empty node first");
        let b = p.choose(bay, &nodes, r).await.expect("ok").expect("a node");
        assert_eq!(b.node(), "w-1", "w-1 and w-2 now hold one each; ties go by name");
        drop(a);
        let c = p.choose(bay, &nodes, r).await.expect("ok").expect("a node");
        assert_eq!(c.node(), "w-2", "a dropped reservation no longer counts");
        assert!(p.choose(bay, &[], r).await.expect("ok").is_none());
    }
}
