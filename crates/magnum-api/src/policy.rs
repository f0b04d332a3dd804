//! Policy enforcement: every API rule is checked through the deployment's oslo.policy rules
//! (`magnum-policy`: upstream's reader/member/admin defaults, or a policy file's overrides).
//!
//! The caller's roles are expanded as Keystone's default implied roles are (admin implies
//! member, member implies reader), so noauth callers and tokens behave alike. The target of a
//! check is the resource's own project and user (for lists and creates, the caller's).
//! A denial is 403 `Policy doesn't allow <rule> to be performed.`

use crate::caller::Caller;
use magnum_policy::{Credentials, Target};
use magnum_types::context::RequestContext;
use magnum_types::{MagnumError, Result};
use std::collections::HashMap;

/// The caller as the rules see it.
pub fn credentials(ctx: &RequestContext) -> Credentials {
    let mut roles: Vec<String> = ctx.roles.iter().map(|r| r.to_ascii_lowercase()).collect();
    for (role, implies) in [("admin", "member"), ("member", "reader")] {
        if roles.iter().any(|r| r == role) && !roles.iter().any(|r| r == implies) {
            roles.push(implies.to_owned());
        }
    }
    let mut fields = HashMap::from([
        ("user_id".to_owned(), ctx.user_id.clone()),
        ("project_id".to_owned(), ctx.project_id.clone()),
        ("is_admin".to_owned(), if ctx.is_admin() { "True" } else { "False" }.to_owned()),
    ]);
    if let Some(d) = &ctx.domain_id {
        fields.insert("domain_id".to_owned(), d.clone());
    }
    Credentials { fields, roles }
}

/// Checks `rule` for the caller against a resource of `target_project` (owned, as far as the
/// rule cares, by the caller).
pub fn enforce(rule: &str, caller: &Caller, target_project: &str) -> Result<()> {
    enforce_on(rule, caller, target_project, &caller.ctx.user_id)
}

/// Checks `rule` against a resource of `target_project` created by `target_user`.
pub fn enforce_on(rule: &str, caller: &Caller, target_project: &str, target_user: &str) -> Result<()> {
    let target: Target =
        HashMap::from([("project_id".to_owned(), target_project.to_owned()), ("user_id".to_owned(), target_user.to_owned())]);
    if caller.policy.allows(rule, &credentials(&caller.ctx), &target) {
        Ok(())
    } else {
        tracing::info!(rule, user = %caller.ctx.user_id, project = %caller.ctx.project_id, target = target_project, "policy denied");
        Err(MagnumError::forbidden(format!("Policy doesn't allow {rule} to be performed.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_roles_expand_like_keystone() {
        let ctx = RequestContext {
            user_id: "u".into(),
            project_id: "p".into(),
            domain_id: Some("d".into()),
            roles: vec!["Admin".into()],
            request_id: String::new(),
        };
        let c = credentials(&ctx);
        for r in ["admin", "member", "reader"] {
            assert!(c.roles.iter().any(|have| have == r), "{r} in {:?}", c.roles);
        }
        assert_eq!(c.fields.get("is_admin").map(String::as_str), Some("True"));
        assert_eq!(c.fields.get("domain_id").map(String::as_str), Some("d"));
    }
}
