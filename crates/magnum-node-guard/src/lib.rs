//! The node guard: the authorization plugin every swarm node's dockerd consults before it
//! carries out a request (Docker's AuthZ plugin protocol, over a unix socket in the node).
//!
//! A bay's owner holds a client certificate for the bay's Docker API (`ca-sign`), and the
//! engine would run whatever that certificate asks: privileged containers, node bind mounts,
//! the node's namespaces. The guard is the enforcement point that keeps tenants' workloads
//! under the engine's default confinement and the swarm's membership with the conductor
//! (docs/SECURITY.md). It sits inside the engine, so no proxy can be bypassed, and it judges
//! the request body the engine itself will decode.

pub mod json;
pub mod pin;
pub mod route;
pub mod rules;
pub mod server;
