//! Who is calling, at which microversion, through which base URL.
//!
//! Noauth (the all-in-one default): the caller is who its headers say — `X-Project-Id`
//! (or `X-Tenant-Id`), `X-User-Id`, `X-Roles`, `X-Domain-Id` — with configured fallbacks.

use crate::envelope::RequestId;
use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use http::request::Parts;
use magnum_types::context::RequestContext;
use magnum_types::microversion::{Negotiated, Version, MIN};

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
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
        };
        let version = parts.extensions.get::<Negotiated>().map(|n| n.version).unwrap_or(MIN);
        let proto = h("x-forwarded-proto").unwrap_or_else(|| "http".into());
        let host = h("x-forwarded-host").or_else(|| h("host")).unwrap_or_else(|| state.config.api.bind.to_string());
        Ok(Caller { ctx, policy: state.policy.clone(), version, base: format!("{proto}://{host}") })
    }
}
