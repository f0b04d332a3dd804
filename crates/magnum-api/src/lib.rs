//! magnum-api: Magnum's v1 REST API.
//!
//! A handler parses the request, checks the microversion and policy, validates the input with
//! the rules of `magnum-types`, writes the desired state to the store (durably, before it
//! answers), and casts one [`magnum_rpc::ConductorCommand`]. Container operations, which act
//! on an engine at once, are calls ([`magnum_rpc::ConductorCall`]) answered by a conductor.
//! The API never talks to an engine itself.
//!
//! Layout: `envelope` wraps every response (request id, microversion headers, Magnum's error
//! body); `caller` turns headers into a request context; `policy` holds the rules; `views`
//! renders objects in either vocabulary (bay/baymodel or cluster/clustertemplate); `routes/`
//! has one module per resource.

mod caller;
mod envelope;
mod error;
mod input;
pub mod keystone;
mod links;
mod manifest_url;
pub mod openapi;
mod policy;
mod routes;
mod views;

pub use error::ApiError;

use magnum_config::Config;
use magnum_rpc::ConductorRpc;
use magnum_store::Store;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub rpc: Arc<dyn ConductorRpc>,
    pub config: Config,
    pub flavors: Vec<String>,
    /// Seals and opens the bays' private keys.
    pub cipher: Arc<magnum_certs::KeyCipher>,
    /// Who may do what (upstream's defaults, or a policy file's overrides).
    pub policy: Arc<magnum_policy::Policy>,
    /// Token validation when `[auth] strategy = "keystone"` (None: noauth).
    pub keystone: Option<Arc<keystone::KeystoneAuth>>,
}

impl AppState {
    /// The shared state; refuses an `[auth]` section that cannot work.
    pub fn new(
        store: Store,
        rpc: Arc<dyn ConductorRpc>,
        config: Config,
        cipher: Arc<magnum_certs::KeyCipher>,
        policy: magnum_policy::Policy,
    ) -> magnum_types::Result<AppState> {
        let flavors = config.flavor_names();
        let keystone = match config.auth.strategy {
            magnum_config::AuthStrategy::Keystone => Some(Arc::new(keystone::KeystoneAuth::new(&config.auth)?)),
            magnum_config::AuthStrategy::Noauth => None,
        };
        Ok(AppState(Arc::new(Inner { store, rpc, config, flavors, cipher, policy: Arc::new(policy), keystone })))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> axum::Router {
    routes::all()
        .fallback(routes::not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(envelope::panic_response))
        .layer(axum::middleware::from_fn(envelope::envelope))
        // Outside the envelope, which rebuilds every error response.
        .layer(axum::middleware::from_fn_with_state(state.clone(), caller::challenge))
        .with_state(state)
}
