//! Writes of a cluster on a user's request, re-applied to the cluster as re-read when another
//! writer (the conductor) got in between, and the records written in the same transaction.

use crate::AppState;
use magnum_store::StoredCertificates;
use magnum_types::cluster::Cluster;
use magnum_types::nodegroup::NodeGroup;
use magnum_types::{ErrorKind, MagnumError};

/// Writes `change` applied to the cluster as stored. When another writer got in between (the
/// conductor recording health or progress), the cluster is read again and the change applied
/// again, rules and all: a request loses only to a change that makes it invalid, never to a
/// race it cannot see (a version-checked write alone would answer such a race with a 409).
pub(crate) async fn write_cluster(
    s: &AppState,
    stored: Cluster,
    change: impl FnMut(&mut Cluster) -> Result<(), MagnumError>,
) -> Result<Cluster, MagnumError> {
    write_cluster_with(s, stored, change, With::Nothing).await
}

/// What is written together with the cluster, in its transaction.
#[derive(Clone, Copy)]
pub(crate) enum With<'a> {
    Nothing,
    /// Nothing, but the write changes node counts: it answers to the project's node quota.
    Resize,
    /// A new nodegroup of the cluster.
    NewGroup(&'a NodeGroup),
    /// A changed nodegroup of the cluster.
    Group(&'a NodeGroup),
    /// The cluster's certificates, replaced (CA or credential rotation).
    Certificates(&'a StoredCertificates),
}

/// [`write_cluster`], writing `with` in the same transaction. Returns the cluster as written.
pub(crate) async fn write_cluster_with(
    s: &AppState,
    mut stored: Cluster,
    mut change: impl FnMut(&mut Cluster) -> Result<(), MagnumError>,
    with: With<'_>,
) -> Result<Cluster, MagnumError> {
    let mut attempt = 0;
    loop {
        let mut next = stored.clone();
        change(&mut next)?;
        let written = match with {
            With::Nothing => s.store.update_cluster(&next).await,
            With::Resize => s.store.grow_cluster(&next).await,
            With::NewGroup(ng) => s.store.add_nodegroup(&next, ng).await,
            With::Group(ng) => s.store.update_nodegroup(Some(&next), ng).await.map(|_| next),
            With::Certificates(certs) => s.store.rotate_certificates(&next, certs).await,
        };
        match written {
            Ok(written) => return Ok(written),
            Err(e) if e.kind == ErrorKind::Conflict && attempt < 4 => {
                attempt += 1;
                let uuid = stored.uuid;
                stored = s
                    .store
                    .get_cluster_by_uuid(uuid)
                    .await?
                    .ok_or_else(|| MagnumError::not_found(format!("Cluster {uuid} could not be found.")))?;
            }
            Err(e) => return Err(e),
        }
    }
}
