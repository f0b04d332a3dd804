//! Keystone v3 token validation: `X-Auth-Token` is checked with `GET /v3/auth/tokens` under
//! the service's own token, and the caller's user, project, domain and roles come from the
//! answer. Validated tokens are kept (keyed by their SHA-256, never the token itself) until
//! they expire, in a cache of bounded size, so most requests cost Keystone nothing.
//!
//! Tokens and passwords are never logged: logs name users and projects only.

use magnum_config::AuthConfig;
use magnum_types::context::RequestContext;
use magnum_types::{ErrorKind, MagnumError, Result};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Who a valid token says the caller is.
#[derive(Debug, Clone)]
struct Identity {
    user_id: String,
    project_id: String,
    domain_id: Option<String>,
    roles: Vec<String>,
    expires: SystemTime,
}

/// Longest token we look at (Keystone's fernet tokens are ~200 bytes).
const MAX_TOKEN: usize = 8192;
/// The service token is renewed this long before it expires.
const RENEW_AHEAD: Duration = Duration::from_secs(60);

pub struct KeystoneAuth {
    http: reqwest::Client,
    /// `http://host:5000/v3`
    url: String,
    credentials: Value,
    service_token: tokio::sync::Mutex<Option<(String, SystemTime)>>,
    cache: Mutex<Cache>,
}

struct Cache {
    capacity: usize,
    /// How long a validation is trusted at most (revocations show within it).
    ttl: Duration,
    /// Per token digest: the identity, trusted until when, and its insertion number.
    entries: HashMap<[u8; 32], (Identity, SystemTime, u64)>,
    /// Insertion order, for evicting the oldest when full. A key re-inserted after expiring
    /// appears twice; only the entry with the matching number is evicted.
    order: VecDeque<([u8; 32], u64)>,
    inserted: u64,
}

fn unauthorized(why: &str) -> MagnumError {
    MagnumError::new(ErrorKind::Unauthorized, format!("Authentication required: {why}"))
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn expiry(v: &Value) -> Option<SystemTime> {
    let s = v.as_str()?;
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64))
}

impl KeystoneAuth {
    /// From `[auth]`; refuses a configuration that cannot work.
    pub fn new(c: &AuthConfig) -> Result<KeystoneAuth> {
        let missing = |what: &str| MagnumError::invalid(format!("[auth] strategy = \"keystone\" needs {what}"));
        let url = c.auth_url.clone().ok_or_else(|| missing("auth_url (e.g. http://127.0.0.1:5000/v3)"))?;
        let url = url.trim_end_matches('/').to_owned();
        let url = if url.ends_with("/v3") { url } else { format!("{url}/v3") };
        let username = c.username.clone().ok_or_else(|| missing("username (the service user)"))?;
        let password = c.password.clone().ok_or_else(|| missing("password (the service user's)"))?;
        let credentials = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": username, "domain": {"id": c.user_domain_id}, "password": password}}},
            "scope": {"project": {"name": c.project_name, "domain": {"id": c.project_domain_id}}},
        }});
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // Keystone under uwsgi closes idle connections; a fresh one per call never finds
            // a dead socket. (Validations are cached, so calls are few.)
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()
            .map_err(|e| MagnumError::internal(format!("cannot build the Keystone client: {e}")))?;
        Ok(KeystoneAuth {
            http,
            url,
            credentials,
            service_token: Default::default(),
            cache: Mutex::new(Cache {
                capacity: c.token_cache_size.max(1),
                ttl: Duration::from_secs(c.token_cache_time),
                entries: HashMap::new(),
                order: VecDeque::new(),
                inserted: 0,
            }),
        })
    }

    /// Keystone's address for `WWW-Authenticate: Keystone uri="..."` (without `/v3`).
    pub fn www_authenticate(&self) -> String {
        format!("Keystone uri=\"{}\"", self.url.trim_end_matches("/v3"))
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> MagnumError {
        MagnumError::unavailable(format!("Keystone at {} cannot validate tokens now ({e}). Retry later.", self.url))
    }

    /// The request context of a token, or 401.
    pub async fn context(&self, token: &str, request_id: &str) -> Result<RequestContext> {
        if token.is_empty() || token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(unauthorized("the X-Auth-Token header does not hold a token."));
        }
        let id = self.identity(token).await?;
        Ok(RequestContext {
            user_id: id.user_id,
            project_id: id.project_id,
            domain_id: id.domain_id,
            roles: id.roles,
            request_id: request_id.to_owned(),
        })
    }

    async fn identity(&self, token: &str) -> Result<Identity> {
        let key = digest(token);
        let now = SystemTime::now();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.entries.get(&key) {
                Some((id, until, _)) if *until > now => return Ok(id.clone()),
                Some(_) => {
                    cache.entries.remove(&key);
                }
                None => {}
            }
        }
        let id = self.ask_keystone(token, true).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        while cache.entries.len() >= cache.capacity {
            match cache.order.pop_front() {
                Some((old, n)) => {
                    if cache.entries.get(&old).is_some_and(|e| e.2 == n) {
                        cache.entries.remove(&old);
                    }
                }
                None => break,
            }
        }
        // Stale order entries of removed keys would otherwise pile up between evictions.
        if cache.order.len() > 2 * cache.capacity {
            let live = std::mem::take(&mut cache.order);
            cache.order = live.into_iter().filter(|(k, n)| cache.entries.get(k).is_some_and(|e| e.2 == *n)).collect();
        }
        let until = id.expires.min(now + cache.ttl);
        cache.inserted += 1;
        let n = cache.inserted;
        cache.order.push_back((key, n));
        cache.entries.insert(key, (id.clone(), until, n));
        Ok(id)
    }

    async fn ask_keystone(&self, token: &str, may_renew: bool) -> Result<Identity> {
        let service = self.service_token().await?;
        let r = self
            .http
            .get(format!("{}/auth/tokens", self.url))
            .header("X-Auth-Token", service)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match r.status().as_u16() {
            200 => {}
            // Our own token expired or was revoked: get a new one, once.
            401 if may_renew => {
                *self.service_token.lock().await = None;
                return Box::pin(self.ask_keystone(token, false)).await;
            }
            401 => return Err(self.unreachable("Keystone refuses this service's own credentials")),
            403 => return Err(self.unreachable("the service user may not validate tokens: give it the admin or service role")),
            404 => return Err(unauthorized("the token is invalid or expired.")),
            other => return Err(self.unreachable(format!("HTTP {other}"))),
        }
        let body: Value = r.json().await.map_err(|e| self.unreachable(e))?;
        let t = &body["token"];
        let project_id = t["project"]["id"].as_str().ok_or_else(|| unauthorized("the token is not scoped to a project."))?;
        Ok(Identity {
            user_id: t["user"]["id"].as_str().unwrap_or_default().to_owned(),
            project_id: project_id.to_owned(),
            domain_id: t["user"]["domain"]["id"].as_str().map(str::to_owned),
            roles: t["roles"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect(),
            expires: expiry(&t["expires_at"]).unwrap_or_else(|| SystemTime::now() + Duration::from_secs(60)),
        })
    }

    /// The service's own token, renewed shortly before it expires.
    async fn service_token(&self) -> Result<String> {
        let mut current = self.service_token.lock().await;
        if let Some((token, expires)) = current.as_ref() {
            if *expires > SystemTime::now() + RENEW_AHEAD {
                return Ok(token.clone());
            }
        }
        let r =
            self.http.post(format!("{}/auth/tokens", self.url)).json(&self.credentials).send().await.map_err(|e| self.unreachable(e))?;
        if r.status().as_u16() != 201 {
            return Err(self.unreachable(format!(
                "the service user could not log in (HTTP {}): check [auth] username, password and project_name",
                r.status().as_u16()
            )));
        }
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| self.unreachable("no X-Subject-Token in Keystone's answer"))?;
        let body: Value = r.json().await.map_err(|e| self.unreachable(e))?;
        let expires = expiry(&body["token"]["expires_at"]).unwrap_or_else(|| SystemTime::now() + Duration::from_secs(300));
        tracing::info!(url = %self.url, "obtained the service token for validating callers' tokens");
        *current = Some((token.clone(), expires));
        Ok(token)
    }

    /// Registers this service in Keystone's catalog: a service of type `container-infra`
    /// named `name`, with a public endpoint at `public_url` in `region`. Safe to repeat: an
    /// existing service is kept, its public endpoint in the region updated to `public_url`.
    /// Returns what it did, for the operator.
    pub async fn register(&self, name: &str, public_url: &str, region: &str) -> Result<String> {
        let token = self.service_token().await?;
        let call = |method: reqwest::Method, path: String, body: Option<Value>| {
            let mut req = self.http.request(method, format!("{}{path}", self.url)).header("X-Auth-Token", token.clone());
            if let Some(b) = body {
                req = req.json(&b);
            }
            async move {
                let r = req.send().await.map_err(|e| self.unreachable(e))?;
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if status >= 400 {
                    return Err(MagnumError::invalid(format!("Keystone refused {path} (HTTP {status}): {}", body["error"]["message"])));
                }
                Ok(body)
            }
        };
        let services = call(reqwest::Method::GET, "/services?type=container-infra".into(), None).await?;
        let existing = services["services"].as_array().into_iter().flatten().find(|s| s["name"] == json!(name)).cloned();
        let (service_id, mut done) = match existing {
            Some(s) => (s["id"].as_str().unwrap_or_default().to_owned(), format!("service {name} (container-infra) exists")),
            None => {
                let body = json!({"service": {"name": name, "type": "container-infra", "description": "Container Infrastructure Management Service (magnum-rs)"}});
                let s = call(reqwest::Method::POST, "/services".into(), Some(body)).await?;
                (s["service"]["id"].as_str().unwrap_or_default().to_owned(), format!("service {name} (container-infra) created"))
            }
        };
        let endpoints = call(reqwest::Method::GET, format!("/endpoints?service_id={service_id}&interface=public"), None).await?;
        let in_region = endpoints["endpoints"].as_array().into_iter().flatten().find(|e| e["region_id"] == json!(region)).cloned();
        match in_region {
            Some(e) if e["url"] == json!(public_url) => done.push_str(&format!("; public endpoint {public_url} in {region} exists")),
            Some(e) => {
                let id = e["id"].as_str().unwrap_or_default();
                call(reqwest::Method::PATCH, format!("/endpoints/{id}"), Some(json!({"endpoint": {"url": public_url}}))).await?;
                done.push_str(&format!("; public endpoint in {region} moved to {public_url}"));
            }
            None => {
                let body = json!({"endpoint": {"service_id": service_id, "interface": "public", "region_id": region, "url": public_url}});
                call(reqwest::Method::POST, "/endpoints".into(), Some(body)).await?;
                done.push_str(&format!("; public endpoint {public_url} in {region} created"));
            }
        }
        Ok(done)
    }
}
