//! Pods, replication controllers and services: calls from the API carried out on the bay's
//! Kubernetes API through its driver, and the refresh that keeps each object's recorded state
//! (phase, node, replicas, cluster IP) following Kubernetes, one listing per kind and bay.
//!
//! An object is recorded before Kubernetes is asked to create it and forgotten again if
//! Kubernetes refuses, so a crash in between leaves a record (shown as gone from the bay, and
//! deletable), never an object in the cluster that no record names.

use crate::Conductor;
use magnum_drivers::containers::Bay;
use magnum_drivers::kubernetes::KubeObjects;
use magnum_drivers::{Credentials, Driver};
use magnum_rpc::{CallReply, CallResult, ConductorCall};
use magnum_types::cluster::Cluster;
use magnum_types::coe::Coe;
use magnum_types::k8s_object::{not_kubernetes, KubeObject, LiveState};
use magnum_types::manifest::Kind;
use magnum_types::template::ClusterTemplate;
use magnum_types::{ErrorKind, MagnumError, Result};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// An object's bay with everything its driver needs.
struct KubeBay {
    cluster: Cluster,
    template: ClusterTemplate,
    credentials: Option<Credentials>,
    driver: Arc<dyn Driver>,
}

impl KubeBay {
    fn bay(&self) -> Bay<'_> {
        Bay { cluster: &self.cluster, template: &self.template, credentials: self.credentials.as_ref() }
    }

    fn objects(&self) -> Result<&dyn KubeObjects> {
        self.driver.kube_objects().ok_or_else(|| {
            MagnumError::invalid(format!("The {} driver of bay {} has no Kubernetes API.", self.driver.name(), self.cluster.uuid))
        })
    }
}

/// Seconds a just-recorded object may be missing from Kubernetes before it is shown as gone.
const CREATE_GRACE_SECS: i64 = 120;

fn no_object(uuid: Uuid) -> MagnumError {
    MagnumError::not_found(format!("Object {uuid} could not be found."))
}

fn reply(o: KubeObject) -> CallReply {
    CallReply::KubeObject { object: Box::new(o) }
}

impl Conductor {
    /// Carries out one Kubernetes-object call from the API.
    pub(crate) async fn handle_kube_call(&self, call: ConductorCall) -> CallResult {
        match call {
            ConductorCall::KubeCreate { object, document } => self.kube_create(*object, &document).await.map(reply),
            ConductorCall::KubeShow { uuid } => self.kube_show(uuid).await.map(reply),
            ConductorCall::KubeReplace { uuid, document } => self.kube_replace(uuid, &document).await.map(reply),
            ConductorCall::KubeDelete { uuid } => self.kube_delete(uuid).await.map(|()| CallReply::Done),
            other => Err(MagnumError::internal(format!("not a Kubernetes-object call: {other:?}"))),
        }
    }

    async fn kube_bay(&self, bay: Uuid) -> Result<KubeBay> {
        let cluster =
            self.store.get_cluster_by_uuid(bay).await?.ok_or_else(|| MagnumError::invalid(format!("Bay {bay} could not be found.")))?;
        let template = self.store.get_template_by_uuid(cluster.cluster_template_id).await?;
        let coe = Coe::parse(&template.coe)?;
        if coe != Coe::Kubernetes {
            return Err(not_kubernetes(coe.as_str()));
        }
        let driver = self.drivers.for_cluster(&cluster, coe).ok_or_else(|| {
            MagnumError::invalid(format!("No driver for Kubernetes bays is enabled in this conductor, so bay {bay} cannot be reached."))
        })?;
        let credentials = self.credentials(bay).await?;
        Ok(KubeBay { cluster, template, credentials, driver })
    }

    async fn kube_create(&self, o: KubeObject, document: &Value) -> Result<KubeObject> {
        let kb = self.kube_bay(o.bay_uuid).await?;
        if !kb.cluster.status.is_complete() {
            return Err(MagnumError::invalid(format!(
                "Bay {} is {}: objects can be created on a bay whose status is CREATE_COMPLETE or UPDATE_COMPLETE.",
                o.bay_uuid, kb.cluster.status
            )));
        }
        let objects = kb.objects()?;
        // Intent first (see the module's comment).
        let mut recorded = self.store.insert_kube_object(&o).await?;
        match objects.create(kb.bay(), o.kind, document).await {
            Ok(created) => {
                recorded.state = LiveState::from_kubernetes(o.kind, &created);
                recorded.updated_at = self.store.set_kube_state(o.uuid, &recorded.state).await?;
                tracing::info!(kind = o.kind.as_str(), name = %o.name, bay = %o.bay_uuid, uuid = %o.uuid, "created in Kubernetes");
                Ok(recorded)
            }
            Err(e) => {
                self.store.delete_kube_object(o.uuid).await?;
                Err(e)
            }
        }
    }

    async fn stored_object(&self, uuid: Uuid) -> Result<(KubeObject, KubeBay)> {
        let o = self.store.get_kube_object_by_uuid(uuid).await?.ok_or_else(|| no_object(uuid))?;
        let kb = self.kube_bay(o.bay_uuid).await?;
        Ok((o, kb))
    }

    /// Kubernetes' view now; when the bay does not answer, the last recorded one (a read
    /// should not fail because a cluster is briefly away; its health says so).
    async fn kube_show(&self, uuid: Uuid) -> Result<KubeObject> {
        let (mut o, kb) = self.stored_object(uuid).await?;
        let state = match kb.objects()?.get(kb.bay(), o.kind, &o.name).await {
            Ok(Some(live)) => LiveState::from_kubernetes(o.kind, &live),
            Ok(None) => o.state.gone(o.kind),
            Err(e) if e.kind == ErrorKind::Unavailable => {
                tracing::warn!(uuid = %uuid, bay = %o.bay_uuid, error = %e, "bay unreachable; showing the last recorded state");
                return Ok(o);
            }
            Err(e) => return Err(e),
        };
        if state != o.state {
            o.updated_at = self.store.set_kube_state(uuid, &state).await?.or(o.updated_at);
            o.state = state;
        }
        Ok(o)
    }

    async fn kube_replace(&self, uuid: Uuid, document: &Value) -> Result<KubeObject> {
        let (mut o, kb) = self.stored_object(uuid).await?;
        let replaced = kb.objects()?.replace(kb.bay(), o.kind, &o.name, document).await?;
        o.state = LiveState::from_kubernetes(o.kind, &replaced);
        o.updated_at = self.store.set_kube_state(uuid, &o.state).await?;
        tracing::info!(kind = o.kind.as_str(), name = %o.name, bay = %o.bay_uuid, "replaced in Kubernetes");
        Ok(o)
    }

    async fn kube_delete(&self, uuid: Uuid) -> Result<()> {
        let Some(o) = self.store.get_kube_object_by_uuid(uuid).await? else { return Ok(()) };
        // Without its bay (deleted meanwhile) there is nothing left to delete in Kubernetes.
        if self.store.get_cluster_by_uuid(o.bay_uuid).await?.is_some() {
            let kb = self.kube_bay(o.bay_uuid).await?;
            kb.objects()?.delete(kb.bay(), o.kind, &o.name).await?;
        }
        self.store.delete_kube_object(uuid).await?;
        tracing::info!(kind = o.kind.as_str(), name = %o.name, bay = %o.bay_uuid, "deleted from Kubernetes");
        Ok(())
    }

    /// Brings the recorded state of a bay's objects in line with its Kubernetes API: one list
    /// per kind in use. A state written meanwhile (a create, show or replace) is kept.
    pub(crate) async fn refresh_kube_objects(
        &self,
        cluster: &Cluster,
        template: &ClusterTemplate,
        credentials: Option<&Credentials>,
    ) -> Result<()> {
        let rows = self.store.bay_kube_objects(cluster.uuid).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let Some(driver) = Coe::parse(&template.coe).ok().and_then(|coe| self.drivers.for_cluster(cluster, coe)) else { return Ok(()) };
        let Some(objects) = driver.kube_objects() else { return Ok(()) };
        let bay = Bay { cluster, template, credentials };
        let kinds: BTreeSet<&str> = rows.iter().map(|o| o.kind.as_str()).collect();
        let mut live: HashMap<(Kind, String), Value> = HashMap::new();
        for kind in kinds.into_iter().filter_map(Kind::parse) {
            for obj in objects.list(bay, kind).await? {
                if let Some(name) = obj.pointer("/metadata/name").and_then(Value::as_str) {
                    live.insert((kind, name.to_owned()), obj.clone());
                }
            }
        }
        for o in rows {
            let state = match live.get(&(o.kind, o.name.clone())) {
                Some(obj) => LiveState::from_kubernetes(o.kind, obj),
                // Just recorded and not yet created: the create call is still in flight
                // (unless it has hung for minutes: a conductor died in between).
                None if o.updated_at.is_none() && (magnum_types::time::now() - o.created_at).num_seconds() < CREATE_GRACE_SECS => continue,
                None => o.state.gone(o.kind),
            };
            if state != o.state && self.store.set_kube_state_if_unchanged(&o, &state).await? {
                tracing::info!(kind = o.kind.as_str(), name = %o.name, bay = %o.bay_uuid, "state follows Kubernetes");
            }
        }
        Ok(())
    }
}
