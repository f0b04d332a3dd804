//! Policy: who may do what, in oslo.policy's rule language, with upstream Magnum's current
//! defaults and the operator's overrides from a policy file (JSON, or YAML as
//! `oslopolicy-sample-generator` writes it).
//!
//! A rule is checked with the caller's credentials against a target, the resource's own
//! attributes (its `project_id` and `user_id`; for lists and creates, the caller's). A rule
//! the policy does not name falls back to `default`.

mod check;
mod defaults;
mod file;

pub use check::{parse, Check, Credentials, Target};

use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<String, Check>,
}

impl check::Rules for Policy {
    fn rule(&self, name: &str) -> Option<&Check> {
        self.rules.get(name)
    }
}

impl Policy {
    /// Upstream's defaults.
    pub fn defaults() -> Policy {
        let mut rules = HashMap::new();
        for (name, check) in defaults::BASE {
            rules.insert((*name).to_owned(), parse(check).unwrap_or(Check::Never));
        }
        for (name, check) in defaults::api_rules() {
            rules.insert(name, parse(check).unwrap_or(Check::Never));
        }
        Policy { rules }
    }

    /// The defaults overridden by the rules of a policy file's text (JSON or YAML mapping of
    /// rule name to check string). Errors name the rule that does not parse.
    pub fn with_overrides(text: &str) -> Result<Policy, String> {
        let mut p = Policy::defaults();
        for (name, check) in file::rules(text)? {
            let c = parse(&check).map_err(|e| format!("rule \"{name}\": {e}"))?;
            p.rules.insert(name, c);
        }
        Ok(p)
    }

    /// Whether `rule` allows `creds` to act on `target`.
    pub fn allows(&self, rule: &str, creds: &Credentials, target: &Target) -> bool {
        let check = self.rules.get(rule).or_else(|| self.rules.get("default"));
        check.is_some_and(|c| c.allows(creds, target, self))
    }

    /// Every rule and its check, sorted (for a sample file or a test).
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.rules.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(project: &str, user: &str, roles: &[&str]) -> Credentials {
        Credentials {
            fields: HashMap::from([
                ("project_id".to_owned(), project.to_owned()),
                ("user_id".to_owned(), user.to_owned()),
                ("is_admin".to_owned(), if roles.contains(&"admin") { "True" } else { "False" }.to_owned()),
            ]),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn target(project: &str, user: &str) -> Target {
        HashMap::from([("project_id".to_owned(), project.to_owned()), ("user_id".to_owned(), user.to_owned())])
    }

    #[test]
    fn upstream_defaults() {
        let p = Policy::defaults();
        // Keystone's implied roles are expanded before the check: a member also has reader.
        let reader = creds("p1", "r", &["reader"]);
        let member = creds("p1", "m", &["member", "reader"]);
        let admin = creds("p9", "a", &["admin", "member", "reader"]);
        let own = target("p1", "m");
        assert!(p.allows("cluster:get", &reader, &own));
        assert!(!p.allows("cluster:create", &reader, &own), "readers cannot write");
        assert!(p.allows("cluster:create", &member, &own));
        assert!(!p.allows("cluster:delete", &member, &target("p2", "x")), "another project's");
        assert!(p.allows("cluster:delete", &admin, &target("p2", "x")), "admins act on every project");
        assert!(!p.allows("clustertemplate:publish", &member, &own));
        assert!(p.allows("clustertemplate:publish", &admin, &own));
        assert!(!p.allows("magnum-service:get_all", &member, &own));
        assert!(!p.allows("cluster:get_all_all_projects", &member, &own));
        assert!(p.allows("certificate:create", &member, &own), "the bay's own user signs");
        assert!(!p.allows("certificate:create", &member, &target("p1", "someone-else")), "admin_or_project_member_user");
        assert!(p.allows("container:logs", &reader, &own));
        assert!(!p.allows("container:execute", &reader, &own));
        assert!(!p.allows("cluster:get", &creds("p1", "x", &[]), &own), "no role, no access");
        assert!(p.allows("no:such:rule", &member, &own), "unnamed rules fall back to default (admin_or_owner)");
        assert!(!p.allows("no:such:rule", &member, &target("p2", "m")));
    }

    #[test]
    fn overrides_from_a_file() {
        let p = Policy::with_overrides("# ops\n\"cluster:create\": \"role:admin\"\ncluster:get: '@'\n").expect("valid");
        let member = creds("p1", "m", &["member", "reader"]);
        assert!(!p.allows("cluster:create", &member, &target("p1", "m")), "overridden to admins only");
        assert!(p.allows("cluster:get", &creds("p2", "x", &[]), &target("p1", "m")), "overridden to everyone");
        assert!(p.allows("cluster:delete", &member, &target("p1", "m")), "the rest keep their defaults");
        let p = Policy::with_overrides(r#"{"stats:get_all": "!"}"#).expect("json");
        assert!(!p.allows("stats:get_all", &creds("p1", "m", &["admin"]), &target("p1", "m")));
        let e = Policy::with_overrides("cluster:create: \"role:admin or\"\n").expect_err("bad rule");
        assert!(e.contains("cluster:create"), "{e}");
    }
}
