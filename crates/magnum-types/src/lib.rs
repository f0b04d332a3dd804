//! The vocabulary of magnum-rs: objects (templates, clusters, nodegroups, services, quotas),
//! their statuses and state machine, input validation, microversions and JSON-patch rules.
//!
//! Nothing here performs IO, so every rule can be unit-tested and shared by the API, the
//! conductor, the store and the client without dragging a runtime along.

pub mod attrs;
pub mod buildable;
pub mod cluster;
pub mod coe;
pub mod container;
pub mod context;
pub mod error;
pub mod external;
pub mod identity;
pub mod k8s_object;
pub mod manifest;
pub mod microversion;
pub mod mservice;
pub mod names;
pub mod node;
pub mod node_placement;
pub mod nodegroup;
pub mod pagination;
pub mod patch;
pub mod quota;
pub mod redact;
pub mod status;
pub mod template;
pub mod time;

pub use error::{ErrorKind, MagnumError, Result};
