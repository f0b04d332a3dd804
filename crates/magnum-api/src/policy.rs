//! Policy: who may do what, with upstream's current reader/member/admin defaults.
//!
//! Roles imply one another as Keystone's default implied roles do: admin ⊇ member ⊇ reader.
//! The target of a check is the resource's own project (for lists and creates, the caller's).
//! A denial is 403 `Policy doesn't allow <rule> to be performed.`

use magnum_types::context::RequestContext;
use magnum_types::{MagnumError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Admin,
    /// admin, or reader of the target project.
    Reader,
    /// admin, or member of the target project.
    Member,
}

fn need(rule: &str) -> Need {
    let (resource, action) = rule.split_once(':').unwrap_or((rule, ""));
    if action.ends_with("_all_projects") || action == "publish" {
        return Need::Admin;
    }
    match (resource, action) {
        ("magnum-service", _) => Need::Admin,
        ("quota", "get") => Need::Reader,
        ("quota", _) => Need::Admin,
        ("stats", _) => Need::Reader,
        ("container", "logs") => Need::Reader,
        (_, "get" | "get_all" | "detail") => Need::Reader,
        _ => Need::Member,
    }
}

fn implied(ctx: &RequestContext, role: &str) -> bool {
    match role {
        "reader" => ctx.has_role("reader") || ctx.has_role("member") || ctx.is_admin(),
        "member" => ctx.has_role("member") || ctx.is_admin(),
        other => ctx.has_role(other),
    }
}

/// Checks `rule` for `ctx` against a resource of `target_project`.
pub fn enforce(rule: &str, ctx: &RequestContext, target_project: &str) -> Result<()> {
    let own = ctx.project_id == target_project;
    let ok = ctx.is_admin()
        || match need(rule) {
            Need::Admin => false,
            Need::Reader => own && implied(ctx, "reader"),
            Need::Member => own && implied(ctx, "member"),
        };
    if ok {
        Ok(())
    } else {
        tracing::info!(rule, user = %ctx.user_id, project = %ctx.project_id, target = target_project, "policy denied");
        Err(MagnumError::forbidden(format!("Policy doesn't allow {rule} to be performed.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(project: &str, roles: &[&str]) -> RequestContext {
        RequestContext {
            user_id: "u".into(),
            project_id: project.into(),
            domain_id: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            request_id: String::new(),
        }
    }

    #[test]
    fn defaults() {
        let reader = ctx("p1", &["reader"]);
        let member = ctx("p1", &["member"]);
        let admin = ctx("p9", &["admin"]);
        assert!(enforce("cluster:get", &reader, "p1").is_ok());
        assert!(enforce("cluster:create", &reader, "p1").is_err(), "readers cannot write");
        assert!(enforce("cluster:create", &member, "p1").is_ok());
        assert!(enforce("cluster:delete", &member, "p2").is_err(), "other project");
        assert!(enforce("cluster:get", &member, "p1").is_ok(), "member implies reader");
        assert!(enforce("clustertemplate:publish", &member, "p1").is_err());
        assert!(enforce("clustertemplate:publish", &admin, "p1").is_ok());
        assert!(enforce("magnum-service:get_all", &member, "p1").is_err());
        assert!(enforce("quota:create", &member, "p1").is_err());
        assert!(enforce("quota:get", &reader, "p1").is_ok());
        assert!(enforce("cluster:get_all_all_projects", &member, "p1").is_err());
        assert!(enforce("bay:update", &admin, "p1").is_ok());
        assert!(enforce("container:logs", &reader, "p1").is_ok(), "logs are a read");
        assert!(enforce("container:execute", &reader, "p1").is_err(), "exec is a write");
        assert!(enforce("container:pause", &member, "p1").is_ok());
        assert!(enforce("container:pause", &member, "p2").is_err());
        let e = enforce("bay:update", &ctx("p1", &[]), "p1").expect_err("no role");
        assert_eq!(e.message, "Policy doesn't allow bay:update to be performed.");
    }
}
