//! Where the API is and who we are: an endpoint override with a token (`--os-token`), Keystone
//! password authentication from the `OS_*` variables (the endpoint from the catalog's
//! `container-infra` entry), or, for a noauth server, the `OS_PROJECT_ID`/`OS_USER_ID`/
//! `OS_ROLES` headers it believes.

use anyhow::{bail, Context};
use magnum_client::Client;
use serde_json::json;

#[derive(clap::Args, Debug, Clone)]
pub struct AuthArgs {
    /// The Magnum API (skips the catalog), e.g. http://127.0.0.1:9511
    #[arg(long, env = "OS_ENDPOINT_OVERRIDE", global = true)]
    pub os_endpoint_override: Option<String>,
    /// A Keystone token to send as X-Auth-Token.
    #[arg(long, env = "OS_TOKEN", global = true, hide_env_values = true)]
    pub os_token: Option<String>,
    #[arg(long, env = "OS_AUTH_URL", global = true)]
    pub os_auth_url: Option<String>,
    #[arg(long, env = "OS_USERNAME", global = true)]
    pub os_username: Option<String>,
    #[arg(long, env = "OS_PASSWORD", global = true, hide_env_values = true)]
    pub os_password: Option<String>,
    #[arg(long, env = "OS_PROJECT_NAME", global = true)]
    pub os_project_name: Option<String>,
    #[arg(long, env = "OS_USER_DOMAIN_ID", default_value = "default", global = true)]
    pub os_user_domain_id: String,
    #[arg(long, env = "OS_PROJECT_DOMAIN_ID", default_value = "default", global = true)]
    pub os_project_domain_id: String,
    /// Noauth servers: the project, user and roles to act as.
    #[arg(long, env = "OS_PROJECT_ID", global = true)]
    pub os_project_id: Option<String>,
    #[arg(long, env = "OS_USER_ID", global = true)]
    pub os_user_id: Option<String>,
    #[arg(long, env = "OS_ROLES", global = true)]
    pub os_roles: Option<String>,
}

const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9511";

/// A client for the Magnum API, authenticated as the arguments say.
pub async fn connect(a: &AuthArgs) -> anyhow::Result<Client> {
    let (token, catalog) = match (&a.os_token, &a.os_auth_url) {
        (Some(t), _) => (Some(t.clone()), None),
        (None, Some(url)) => {
            let (t, endpoint) = keystone_login(a, url).await?;
            (Some(t), endpoint)
        }
        (None, None) => (None, None),
    };
    let base = a.os_endpoint_override.clone().or(catalog).unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let base = base.trim_end_matches('/').trim_end_matches("/v1").to_owned();
    let mut c = Client::new(&base).microversion("latest");
    if let Some(t) = token {
        c = c.header("X-Auth-Token", &t);
    } else {
        for (h, v) in [("X-Project-Id", &a.os_project_id), ("X-User-Id", &a.os_user_id), ("X-Roles", &a.os_roles)] {
            if let Some(v) = v {
                c = c.header(h, v);
            }
        }
    }
    Ok(c)
}

/// Password login: the token, and the catalog's public container-infra endpoint if any.
async fn keystone_login(a: &AuthArgs, url: &str) -> anyhow::Result<(String, Option<String>)> {
    let (Some(user), Some(password), Some(project)) = (&a.os_username, &a.os_password, &a.os_project_name) else {
        bail!("OS_AUTH_URL is set: also set OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME (or pass --os-token)");
    };
    let url = url.trim_end_matches('/');
    let url = if url.ends_with("/v3") { url.to_owned() } else { format!("{url}/v3") };
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": a.os_user_domain_id}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": a.os_project_domain_id}}}}});
    let ks = Client::new(url.trim_end_matches("/v3")).header("Connection", "close");
    let r = ks.post("/v3/auth/tokens", &body).await.with_context(|| format!("reaching Keystone at {url}"))?;
    if r.status != 201 {
        bail!("Keystone at {url} refused the login of {user} in project {project} (HTTP {})", r.status);
    }
    let token = r.header("x-subject-token").context("Keystone sent no token")?.to_owned();
    let endpoint =
        r.body["token"]["catalog"].as_array().into_iter().flatten().find(|s| s["type"] == json!("container-infra")).and_then(|s| {
            s["endpoints"].as_array()?.iter().find(|e| e["interface"] == json!("public")).and_then(|e| e["url"].as_str()).map(str::to_owned)
        });
    Ok((token, endpoint))
}
