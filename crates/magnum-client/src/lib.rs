//! A small client for the Magnum v1 API: sends JSON, returns status, headers and JSON.
//! Noauth identity headers and the microversion header are set per client.

pub use reqwest::header::HeaderMap;
pub use reqwest::Method;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("request to {url} failed: {source}")]
    Transport { url: String, source: reqwest::Error },
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// The JSON body (`Null` when empty or not JSON; see `text`).
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// `errors[0].detail` of a Magnum error body.
    pub fn error_detail(&self) -> Option<&str> {
        self.body.get("errors")?.get(0)?.get("detail")?.as_str()
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    headers: Vec<(String, String)>,
}

impl Client {
    /// `base`: e.g. `http://127.0.0.1:9511`.
    pub fn new(base: &str) -> Client {
        // The builder fails only where TLS cannot start at all, and Client::new would panic there.
        #[allow(clippy::disallowed_methods)]
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_else(|_| reqwest::Client::new());
        Client { http, base: base.trim_end_matches('/').to_owned(), headers: vec![] }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Adds (or replaces) a header sent with every request.
    pub fn header(mut self, name: &str, value: &str) -> Client {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Acts as `user` of `project` with `roles` (noauth identity headers).
    pub fn as_user(self, project: &str, user: &str, roles: &str) -> Client {
        self.header("X-Project-Id", project).header("X-User-Id", user).header("X-Roles", roles)
    }

    /// Sends `OpenStack-API-Version: container-infra <v>`.
    pub fn microversion(self, v: &str) -> Client {
        self.header("OpenStack-API-Version", &format!("container-infra {v}"))
    }

    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, ClientError> {
        self.send(Method::POST, path, Some(body.to_string())).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Reply, ClientError> {
        self.send(Method::PATCH, path, Some(body.to_string())).await
    }
    pub async fn delete(&self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::DELETE, path, None).await
    }
    /// PUT, as container actions use it (mostly without a body).
    pub async fn put(&self, path: &str, body: Option<&Value>) -> Result<Reply, ClientError> {
        self.send(Method::PUT, path, body.map(Value::to_string)).await
    }

    /// Any method with an optional raw body (tests send malformed JSON this way).
    pub async fn send(&self, method: Method, path: &str, body: Option<String>) -> Result<Reply, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url);
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        let resp = req.send().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|source| ClientError::Transport { url, source })?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, headers, body, text })
    }
}
