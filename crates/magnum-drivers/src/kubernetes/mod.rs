//! Kubernetes: the object API's contract with drivers (pods, replication controllers and
//! services, created from manifests through a bay's Kubernetes API), the REST client that
//! carries it out, and external Kubernetes bays (an existing cluster registered as a bay).
//!
//! Kubernetes bays built on the Docker provider (`bay/`) implement the same [`KubeObjects`],
//! after loading the images a manifest names into their nodes.

pub mod bay;
pub mod client;
pub mod external;

use crate::containers::Bay;
use async_trait::async_trait;
use magnum_types::manifest::Kind;
use magnum_types::Result;
use serde_json::Value;

/// The Kubernetes objects of one bay, as its API holds them. Every answer is the object as
/// Kubernetes returns it (with status, defaults and the node it runs on).
#[async_trait]
pub trait KubeObjects: Send + Sync {
    async fn create(&self, bay: Bay<'_>, kind: Kind, doc: &Value) -> Result<Value>;
    /// Replaces the object `name` with `doc`.
    async fn replace(&self, bay: Bay<'_>, kind: Kind, name: &str, doc: &Value) -> Result<Value>;
    /// None when Kubernetes has no such object.
    async fn get(&self, bay: Bay<'_>, kind: Kind, name: &str) -> Result<Option<Value>>;
    /// Deleting what is already gone succeeds.
    async fn delete(&self, bay: Bay<'_>, kind: Kind, name: &str) -> Result<()>;
    /// Every object of `kind` in magnum's namespace (the status refresh).
    async fn list(&self, bay: Bay<'_>, kind: Kind) -> Result<Vec<Value>>;
}
