//! Upstream Magnum's current policy defaults (reference §C6: reader/member/admin personas),
//! extended to the 2015 resources this service also serves (containers, pods, rcs, services,
//! nodes), which follow the same reader-reads, member-writes pattern.

/// (rule, check string), in the order a sample file lists them.
pub const BASE: &[(&str, &str)] = &[
    ("context_is_admin", "role:admin"),
    ("admin_or_owner", "is_admin:True or project_id:%(project_id)s"),
    ("admin_api", "rule:context_is_admin"),
    ("admin_or_user", "is_admin:True or user_id:%(user_id)s"),
    ("is_user", "user_id:%(user_id)s"),
    ("cluster_user", "user_id:%(trustee_user_id)s"),
    ("deny_cluster_user", "not domain_id:%(trustee_domain_id)s"),
    ("project_member", "role:member and project_id:%(project_id)s"),
    ("project_reader", "role:reader and project_id:%(project_id)s"),
    ("admin_or_project_reader", "rule:context_is_admin or rule:project_reader"),
    ("admin_or_project_member", "rule:context_is_admin or rule:project_member"),
    ("admin_or_project_member_user", "rule:context_is_admin or (rule:project_member and rule:is_user)"),
    ("admin_or_project_reader_user", "rule:context_is_admin or (rule:project_reader and rule:is_user)"),
    ("project_member_deny_cluster_user", "rule:project_member and rule:deny_cluster_user"),
    ("admin_or_project_member_deny_cluster_user", "rule:context_is_admin or rule:project_member_deny_cluster_user"),
    ("admin_or_project_reader_deny_cluster_user", "rule:context_is_admin or (rule:project_reader and rule:deny_cluster_user)"),
    (
        "admin_or_project_member_user_or_cluster_user",
        "rule:context_is_admin or (rule:project_member and rule:is_user) or rule:cluster_user",
    ),
    ("default", "rule:admin_or_owner"),
];

const MEMBER: &str = "rule:admin_or_project_member";
const READER: &str = "rule:admin_or_project_reader";
const MEMBER_NO_TRUSTEE: &str = "rule:admin_or_project_member_deny_cluster_user";
const READER_NO_TRUSTEE: &str = "rule:admin_or_project_reader_deny_cluster_user";
const ADMIN: &str = "rule:context_is_admin";

/// Every API rule with its default.
pub fn api_rules() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = vec![];
    let mut add = |name: String, check: &'static str| out.push((name, check));
    // Clusters and bays (bays are the same objects under the 2015 name).
    for r in ["cluster", "bay"] {
        for a in ["create", "delete", "update", "resize", "upgrade"] {
            add(format!("{r}:{a}"), MEMBER_NO_TRUSTEE);
        }
        for a in ["get", "get_all", "detail"] {
            add(format!("{r}:{a}"), READER_NO_TRUSTEE);
        }
        add(format!("{r}:update_health_status"), "rule:admin_or_project_member_user_or_cluster_user");
        for a in ["get_all", "detail", "get_one", "get", "update", "delete", "upgrade"] {
            add(format!("{r}:{a}_all_projects"), ADMIN);
        }
    }
    for r in ["clustertemplate", "baymodel"] {
        add(format!("{r}:create"), MEMBER_NO_TRUSTEE);
        add(format!("{r}:update"), MEMBER);
        add(format!("{r}:delete"), MEMBER);
        for a in ["get", "get_all", "detail"] {
            add(format!("{r}:{a}"), READER_NO_TRUSTEE);
        }
        add(format!("{r}:publish"), ADMIN);
        for a in ["get_all", "detail", "get", "update", "delete"] {
            add(format!("{r}:{a}_all_projects"), ADMIN);
        }
    }
    for a in ["get", "get_all"] {
        add(format!("nodegroup:{a}"), READER);
        add(format!("nodegroup:{a}_all_projects"), ADMIN);
    }
    for a in ["create", "update", "delete"] {
        add(format!("nodegroup:{a}"), MEMBER);
    }
    add("certificate:create".into(), "rule:admin_or_project_member_user");
    add("certificate:get".into(), "rule:admin_or_project_reader_user");
    add("certificate:rotate_ca".into(), MEMBER);
    // As upstream: the project's members, not an admin of another project.
    add("credential:rotate".into(), "rule:project_member_deny_cluster_user");
    for a in ["create", "update", "delete", "get_all"] {
        add(format!("quota:{a}"), ADMIN);
    }
    add("quota:get".into(), READER);
    add("stats:get_all".into(), READER);
    add("magnum-service:get_all".into(), ADMIN);
    // The 2015 resources: readers read, members write.
    for r in ["container", "pod", "rc", "service", "node"] {
        for a in ["get", "get_all", "detail"] {
            add(format!("{r}:{a}"), READER);
        }
        for a in ["get_all", "detail"] {
            add(format!("{r}:{a}_all_projects"), ADMIN);
        }
        for a in ["create", "update", "delete"] {
            add(format!("{r}:{a}"), MEMBER);
        }
    }
    add("container:logs".into(), READER);
    for a in ["start", "stop", "reboot", "pause", "unpause", "execute"] {
        add(format!("container:{a}"), MEMBER);
    }
    out
}
