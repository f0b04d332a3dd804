//! The mixed workload a tenant's tools would send, run by a few independent actors until the
//! soak ends: bays created, resized and deleted on both COEs (each bay changed by the actor that
//! made it, so "the last accepted request" is well defined), containers and pods on ready bays,
//! template changes, and a reader listing and showing everything.

use super::api::Api;
use super::ledger::BayIntent;
use super::rng::Rng;
use magnum_client::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The templates bays are made from (names), made before the soak starts.
#[derive(Clone)]
pub(crate) struct Templates {
    pub swarm: String,
    /// A swarm template labelled `auto_healing_enabled=true`.
    pub swarm_healing: String,
    pub kubernetes: Option<String>,
}

#[derive(Clone)]
pub(crate) struct Workload {
    pub api: Api,
    pub templates: Templates,
    /// Live bays at most, per bay actor, and Kubernetes bays at most in all.
    pub swarm_bays_per_actor: usize,
    pub kube_bays: usize,
    pub until: Instant,
    pub max_requests: usize,
    /// Extra templates made (and renamed, deleted) by the template actor, by uuid.
    extras: Arc<std::sync::Mutex<Vec<String>>>,
    names: Arc<AtomicUsize>,
}

const WORKLOAD_IMAGE: &str = "magnum/busybox:latest";

impl Workload {
    pub fn new(api: Api, templates: Templates, swarm_bays_per_actor: usize, kube_bays: usize, until: Instant, max_requests: usize) -> Self {
        Workload { api, templates, swarm_bays_per_actor, kube_bays, until, max_requests, extras: Arc::default(), names: Arc::default() }
    }

    fn running(&self) -> bool {
        Instant::now() < self.until && self.api.ledger.requests() < self.max_requests
    }

    fn name(&self, kind: &str) -> String {
        format!("{kind}-{}", self.names.fetch_add(1, Ordering::Relaxed))
    }

    async fn pause(&self, rng: &mut Rng, low: f64, high: f64) {
        let left = self.until.saturating_duration_since(Instant::now());
        tokio::time::sleep(Duration::from_secs_f64(rng.between(low, high)).min(left)).await;
    }

    fn extras(&self) -> Vec<String> {
        self.extras.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Runs every actor until the soak ends.
    pub async fn run(self, rng: &mut Rng) {
        let mut tasks = vec![];
        for actor in 0..2 {
            let (w, mut r) = (self.clone(), rng.fork());
            tasks.push(tokio::spawn(async move { w.bay_actor(actor, &mut r).await }));
        }
        let (w, mut r) = (self.clone(), rng.fork());
        tasks.push(tokio::spawn(async move { w.object_actor(&mut r).await }));
        let (w, mut r) = (self.clone(), rng.fork());
        tasks.push(tokio::spawn(async move { w.template_actor(&mut r).await }));
        let (w, mut r) = (self.clone(), rng.fork());
        tasks.push(tokio::spawn(async move { w.reader(&mut r).await }));
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Creates, resizes and deletes its own bays, and adds and removes worker nodegroups on them.
    /// A bay is changed only once it has settled, as a user waiting on its status would; deletes
    /// go at any time.
    async fn bay_actor(&self, actor: usize, rng: &mut Rng) {
        let mut mine: Vec<String> = vec![];
        while self.running() {
            self.pause(rng, 0.5, 2.5).await;
            let bays = self.api.ledger.bays();
            mine.retain(|u| bays.get(u).is_some_and(|b| !b.deleted));
            let kube_live = bays.values().filter(|b| b.kubernetes && !b.deleted).count();
            let roll = rng.below(10);
            if mine.is_empty() || (mine.len() < self.swarm_bays_per_actor && roll < 3) {
                let kube = actor == 0 && kube_live < self.kube_bays && rng.chance(0.4);
                if let Some(uuid) = self.create_bay(rng, kube).await {
                    mine.push(uuid);
                }
                continue;
            }
            let Some(uuid) = rng.pick(&mine).cloned() else { continue };
            let Some(intent) = bays.get(&uuid).cloned() else { continue };
            if roll == 9 || (roll == 8 && mine.len() == self.swarm_bays_per_actor) {
                let r = self.api.send(rng.below(2), Method::DELETE, &format!("/v1/clusters/{uuid}"), None).await;
                if r.is_some_and(|r| r.status == 204) {
                    self.api.ledger.bay_deleted(&uuid);
                }
                continue;
            }
            let Some(shown) = self.api.send(rng.below(2), Method::GET, &format!("/v1/clusters/{uuid}"), None).await else { continue };
            if shown.body["status"].as_str().is_none_or(|s| s.ends_with("_IN_PROGRESS")) {
                continue;
            }
            if roll < 6 {
                self.resize_bay(rng, &uuid, &intent).await;
            } else {
                self.change_groups(rng, &uuid, &intent).await;
            }
        }
    }

    /// Adds a worker nodegroup of one node, or removes one the actor added.
    async fn change_groups(&self, rng: &mut Rng, uuid: &str, intent: &BayIntent) {
        let which = rng.below(2);
        let groups: Vec<String> = intent.groups.keys().cloned().collect();
        match rng.pick(&groups) {
            Some(group) if groups.len() > 1 || rng.chance(0.5) => {
                let r = self.api.send(which, Method::DELETE, &format!("/v1/clusters/{uuid}/nodegroups/{group}"), None).await;
                if r.is_some_and(|r| r.status == 204) {
                    self.api.ledger.group_deleted(uuid, group);
                }
            }
            _ => {
                let name = self.name("group");
                let body = json!({"name": name, "node_count": 1});
                let r = self.api.send(which, Method::POST, &format!("/v1/clusters/{uuid}/nodegroups"), Some(&body)).await;
                if r.is_some_and(|r| r.status == 202) {
                    self.api.ledger.group_added(uuid, &name, 1);
                }
            }
        }
    }

    async fn create_bay(&self, rng: &mut Rng, kube: bool) -> Option<String> {
        let template = match (&self.templates.kubernetes, kube) {
            (Some(k), true) => k.clone(),
            _ if rng.chance(0.15) => rng.pick(&self.extras()).cloned().unwrap_or_else(|| self.templates.swarm.clone()),
            _ if rng.chance(0.5) => self.templates.swarm_healing.clone(),
            _ => self.templates.swarm.clone(),
        };
        let kube = kube && self.templates.kubernetes.is_some();
        let node_count = if kube { 1 } else { 1 + rng.below(2) as i64 };
        let name = self.name("bay");
        let body = json!({"name": name, "cluster_template_id": template, "node_count": node_count});
        let r = self.api.send(rng.below(2), Method::POST, "/v1/clusters", Some(&body)).await?;
        let uuid = r.body["uuid"].as_str().filter(|_| r.status == 202)?.to_owned();
        self.api.ledger.bay_accepted(&uuid, BayIntent { name, kubernetes: kube, node_count, groups: Default::default(), deleted: false });
        Some(uuid)
    }

    /// Another worker count (1 to 3 on swarm, 1 or 2 on Kubernetes), through PATCH or through
    /// the resize action.
    async fn resize_bay(&self, rng: &mut Rng, uuid: &str, intent: &BayIntent) {
        let counts: Vec<i64> = (1..=if intent.kubernetes { 2 } else { 3 }).filter(|n| *n != intent.node_count).collect();
        let Some(n) = rng.pick(&counts).copied() else { return };
        let r = if rng.chance(0.5) {
            let body = json!([{"op": "replace", "path": "/node_count", "value": n}]);
            self.api.send(rng.below(2), Method::PATCH, &format!("/v1/clusters/{uuid}"), Some(&body)).await
        } else {
            let body = json!({"node_count": n});
            self.api.send(rng.below(2), Method::POST, &format!("/v1/clusters/{uuid}/actions/resize"), Some(&body)).await
        };
        if r.is_some_and(|r| r.status == 202) {
            self.api.ledger.bay_resized(uuid, n);
        }
    }

    /// Containers on ready swarm bays, pods on ready Kubernetes bays: made, started, removed.
    async fn object_actor(&self, rng: &mut Rng) {
        while self.running() {
            self.pause(rng, 0.5, 2.0).await;
            let bays: Vec<(String, BayIntent)> = self.api.ledger.bays().into_iter().filter(|(_, b)| !b.deleted).collect();
            let Some((bay, intent)) = rng.pick(&bays).cloned() else { continue };
            let Some(shown) = self.api.send(rng.below(2), Method::GET, &format!("/v1/clusters/{bay}"), None).await else { continue };
            if !shown.body["status"].as_str().is_some_and(|s| s.ends_with("_COMPLETE")) {
                continue;
            }
            let (collection, on_bay) =
                if intent.kubernetes { ("pods", self.api.ledger.pods()) } else { ("containers", self.api.ledger.containers()) };
            let existing: Vec<String> = on_bay.into_iter().filter(|(_, o)| o.bay == bay && !o.deleted).map(|(u, _)| u).collect();
            if existing.len() < 3 && (existing.is_empty() || rng.chance(0.6)) {
                if intent.kubernetes {
                    self.create_pod(rng, &bay).await;
                } else {
                    self.create_container(rng, &bay).await;
                }
            } else if let Some(uuid) = rng.pick(&existing) {
                let r = self.api.send(rng.below(2), Method::DELETE, &format!("/v1/{collection}/{uuid}"), None).await;
                if r.is_some_and(|r| r.status == 204) {
                    self.api.ledger.object_deleted(uuid);
                }
            }
        }
    }

    async fn create_container(&self, rng: &mut Rng, bay: &str) {
        let body = json!({"name": self.name("ctr"), "image": WORKLOAD_IMAGE, "command": "sleep 3600", "bay_uuid": bay, "memory": "32m"});
        let Some(r) = self.api.send(rng.below(2), Method::POST, "/v1/containers", Some(&body)).await else { return };
        let Some(uuid) = r.body["uuid"].as_str().filter(|_| r.status == 201) else { return };
        self.api.ledger.container_accepted(uuid, bay);
        self.api.send(rng.below(2), Method::PUT, &format!("/v1/containers/{uuid}/start"), None).await;
    }

    async fn create_pod(&self, rng: &mut Rng, bay: &str) {
        let manifest = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": self.name("pod")},
            "spec": {"containers": [{"name": "c", "image": WORKLOAD_IMAGE, "command": ["sleep", "3600"]}]}});
        let body = json!({"bay_uuid": bay, "manifest": manifest.to_string()});
        let Some(r) = self.api.send(rng.below(2), Method::POST, "/v1/pods", Some(&body)).await else { return };
        if let Some(uuid) = r.body["uuid"].as_str().filter(|_| r.status == 201) {
            self.api.ledger.pod_accepted(uuid, bay);
        }
    }

    /// Extra swarm templates: made, renamed, relabelled (refused while a bay uses one), deleted
    /// (refused while in use).
    async fn template_actor(&self, rng: &mut Rng) {
        while self.running() {
            self.pause(rng, 2.0, 5.0).await;
            let extras = self.extras();
            let which = rng.below(2);
            match rng.below(4) {
                0 | 1 if extras.len() < 4 => {
                    let name = self.name("template");
                    let body = json!({"name": name, "coe": "swarm-mode", "image_id": "magnum/swarm-node:latest"});
                    let Some(r) = self.api.send(which, Method::POST, "/v1/clustertemplates", Some(&body)).await else { continue };
                    if let Some(uuid) = r.body["uuid"].as_str().filter(|_| r.status == 201) {
                        self.api.ledger.template_accepted(uuid, &name);
                        if let Ok(mut e) = self.extras.lock() {
                            e.push(uuid.to_owned());
                        }
                    }
                }
                0 | 1 => {
                    let Some(uuid) = rng.pick(&extras) else { continue };
                    let name = self.name("template");
                    let body = json!([{"op": "replace", "path": "/name", "value": name}]);
                    let r = self.api.send(which, Method::PATCH, &format!("/v1/clustertemplates/{uuid}"), Some(&body)).await;
                    if r.is_some_and(|r| r.status == 200) {
                        self.api.ledger.template_renamed(uuid, &name);
                    }
                }
                2 => {
                    let Some(uuid) = rng.pick(&extras) else { continue };
                    let body = json!([{"op": "replace", "path": "/labels", "value": {"chaos": rng.below(100).to_string()}}]);
                    self.api.send(which, Method::PATCH, &format!("/v1/clustertemplates/{uuid}"), Some(&body)).await;
                }
                _ => {
                    let Some(uuid) = rng.pick(&extras).cloned() else { continue };
                    let r = self.api.send(which, Method::DELETE, &format!("/v1/clustertemplates/{uuid}"), None).await;
                    if r.is_some_and(|r| r.status == 204) {
                        self.api.ledger.template_deleted(&uuid);
                        if let Ok(mut e) = self.extras.lock() {
                            e.retain(|u| *u != uuid);
                        }
                    }
                }
            }
        }
    }

    /// Lists and shows: what dashboards and clients poll while everything else happens.
    async fn reader(&self, rng: &mut Rng) {
        while self.running() {
            self.pause(rng, 0.1, 0.4).await;
            let bays: Vec<String> = self.api.ledger.bays().into_iter().filter(|(_, b)| !b.deleted).map(|(u, _)| u).collect();
            let bay = rng.pick(&bays).cloned().unwrap_or_default();
            let paths = [
                "/v1/clusters".to_owned(),
                "/v1/clusters/detail?limit=20".to_owned(),
                format!("/v1/clusters/{bay}"),
                format!("/v1/clusters/{bay}/nodegroups"),
                format!("/v1/nodes?cluster_uuid={bay}"),
                "/v1/containers".to_owned(),
                "/v1/pods".to_owned(),
                "/v1/clustertemplates".to_owned(),
                "/v1/clusters?limit=5&sort_key=name".to_owned(),
                "/v1/stats".to_owned(),
            ];
            let path = rng.pick(&paths).cloned().unwrap_or_default();
            self.api.send(rng.below(2), Method::GET, &path, None::<&Value>).await;
        }
    }
}
