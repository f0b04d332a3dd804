//! Who is calling, at which microversion, through which base URL.
//!
//! Keystone: the caller is who its `X-Auth-Token` says (validated by [`crate::keystone`]);
//! without a valid one, 401 with `WWW-Authenticate: Keystone uri="..."`.
//! Noauth (the all-in-one default): the caller is who its headers say — `X-Project-Id`
//! (or `X-Tenant-Id`), `X-User-Id`, `X-Roles`, `X-Domain-Id` — with configured fallbacks.

use crate::envelope::RequestId;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use http::request::Parts;
use magnum_types::context::RequestContext;
use magnum_types::microversion::{Negotiated, Version, MIN};
use magnum_types::{ErrorKind, MagnumError};

pub struct Caller {
    pub ctx: RequestContext,
    /// The deployment's policy, which every check of this request uses.
    pub policy: std::sync::Arc<magnum_policy::Policy>,
    pub version: Version,
    /// `scheme://host[:port]` as the client reached us; links are built from it.
    pub base: String,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let h =
            |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let version = parts.extensions.get::<Negotiated>().map(|n| n.version).unwrap_or(MIN);
        let base = base_url(parts, state);
        if let Some(keystone) = &state.keystone {
            let token = h("x-auth-token").ok_or_else(|| {
                MagnumError::new(ErrorKind::Unauthorized, "Authentication required: send a Keystone token in the X-Auth-Token header.")
            })?;
            let ctx = keystone.context(&token, &request_id).await?;
            return Ok(Caller { ctx, policy: state.policy.clone(), version, base });
        }
        let auth = &state.config.auth;
        let roles = match h("x-roles") {
            Some(r) => r.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
            None => auth.noauth_roles.clone(),
        };
        let ctx = RequestContext {
            user_id: h("x-user-id").unwrap_or_else(|| auth.noauth_user_id.clone()),
            project_id: h("x-project-id").or_else(|| h("x-tenant-id")).unwrap_or_else(|| auth.noauth_project_id.clone()),
            domain_id: h("x-domain-id").or_else(|| h("x-user-domain-id")),
            roles,
            request_id,
        };
        Ok(Caller { ctx, policy: state.policy.clone(), version, base })
    }
}

/// `scheme://host[:port]` as the client reached us (behind a proxy: its forwarded headers).
fn base_url(parts: &Parts, state: &AppState) -> String {
    let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty());
    let proto = h("x-forwarded-proto").unwrap_or("http");
    let host = h("x-forwarded-host").or_else(|| h("host")).map(str::to_owned).unwrap_or_else(|| state.config.api.bind.to_string());
    format!("{proto}://{host}")
}

/// The base URL alone, for the documents that need no token (`/`, `/v1`).
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl(base_url(parts, state)))
    }
}

/// Every 401 tells the client where to authenticate (when Keystone is configured).
pub(crate) async fn challenge(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    if resp.status() == http::StatusCode::UNAUTHORIZED {
        if let Some(k) = &state.keystone {
            if let Ok(v) = http::HeaderValue::from_str(&k.www_authenticate()) {
                resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
            }
        }
    }
    resp
}

/// A single cluster: admins reach every project's, others their own.
pub(crate) fn one_scope(caller: &Caller) -> magnum_store::ClusterScope {
    if caller.ctx.is_admin() {
        magnum_store::ClusterScope::all()
    } else {
        magnum_store::ClusterScope::project(&caller.ctx.project_id)
    }
}
