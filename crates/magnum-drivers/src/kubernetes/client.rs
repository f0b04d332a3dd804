//! A small client of the Kubernetes REST API: the core/v1 objects magnum manages (pods,
//! replication controllers, services) in one namespace, and the cluster's nodes and version.
//!
//! It speaks HTTPS with the bay's CA as the only trusted root and proves itself with a client
//! certificate or a bearer token. Kubernetes' own error (a `Status` object) becomes a
//! [`MagnumError`] of the matching kind, with Kubernetes' message, so a user sees why the
//! cluster refused a manifest.

use magnum_types::external::ClientAuth;
use magnum_types::k8s_object::NAMESPACE;
use magnum_types::manifest::Kind;
use magnum_types::{MagnumError, Result};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Long enough for a loaded API server, short enough that a dead one fails a call quickly.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct KubeClient {
    http: reqwest::Client,
    /// `https://host:port`, without a trailing slash.
    base: String,
    token: Option<String>,
}

impl KubeClient {
    /// A client of the API server at `api_address`, trusting only `ca_pem`.
    pub fn new(api_address: &str, ca_pem: &str, auth: &ClientAuth) -> Result<KubeClient> {
        let bad = |what: &str, e: reqwest::Error| MagnumError::invalid(format!("The bay's {what} cannot be used for TLS: {e}."));
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).map_err(|e| bad("CA certificate", e))?;
        let mut builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .use_rustls_tls()
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        let mut token = None;
        match auth {
            ClientAuth::Certificate { cert, key } => {
                let identity =
                    reqwest::Identity::from_pem(format!("{cert}\n{key}\n").as_bytes()).map_err(|e| bad("client certificate", e))?;
                builder = builder.identity(identity);
            }
            ClientAuth::Token(t) => token = Some(t.clone()),
        }
        let http = builder.build().map_err(|e| MagnumError::internal(format!("cannot build the Kubernetes client: {e}")))?;
        Ok(KubeClient { http, base: api_address.trim_end_matches('/').to_owned(), token })
    }

    fn objects_path(kind: Kind) -> String {
        format!("/api/v1/namespaces/{NAMESPACE}/{}", kind.plural())
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<(StatusCode, Value)> {
        self.send_as(method, path, body, "application/json").await
    }

    async fn send_as(&self, method: Method, path: &str, body: Option<&Value>, content_type: &str) -> Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url).header("Accept", "application/json");
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", content_type).body(b.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            MagnumError::unavailable(format!(
                "The bay's Kubernetes API at {} did not answer {method} {path}: {}. Check that the cluster is up.",
                self.base,
                error_chain(&e)
            ))
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| MagnumError::unavailable(format!("Reading the answer of the Kubernetes API at {} failed: {e}.", self.base)))?;
        let doc = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, doc))
    }

    /// Sends and turns any non-2xx answer into an error naming what was asked.
    async fn expect(&self, method: Method, path: &str, body: Option<&Value>, what: &str) -> Result<Value> {
        let (status, doc) = self.send(method, path, body).await?;
        if status.is_success() {
            Ok(doc)
        } else {
            Err(kube_error(status, &doc, what, &self.base))
        }
    }

    /// Creates the object; answers it as Kubernetes stored it.
    pub async fn create(&self, kind: Kind, doc: &Value) -> Result<Value> {
        let what = format!("creating {} {}", kind.as_str(), name_of(doc));
        self.expect(Method::POST, &Self::objects_path(kind), Some(doc), &what).await
    }

    /// Replaces the object named `name` with `doc` (Kubernetes' update: the whole object).
    pub async fn replace(&self, kind: Kind, name: &str, doc: &Value) -> Result<Value> {
        let path = format!("{}/{name}", Self::objects_path(kind));
        let what = format!("replacing {} {name}", kind.as_str());
        // A replace names the version it replaces; controllers write status all the time
        // (an RC's replica counts), so a version gone stale meanwhile is read again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let current = self.expect(Method::GET, &path, None, &what).await?;
            let mut doc = doc.clone();
            if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("resourceVersion".into(), current.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null));
            }
            // A service keeps the cluster IP it was given (it cannot change).
            if kind == Kind::Service {
                if let (Some(ip), Some(spec)) = (current.pointer("/spec/clusterIP"), doc.get_mut("spec").and_then(Value::as_object_mut)) {
                    spec.entry("clusterIP").or_insert_with(|| ip.clone());
                }
            }
            match self.expect(Method::PUT, &path, Some(&doc), &what).await {
                Err(e) if e.kind == magnum_types::ErrorKind::Conflict && attempt < 5 => continue,
                other => return other,
            }
        }
    }

    pub async fn get(&self, kind: Kind, name: &str) -> Result<Option<Value>> {
        let path = format!("{}/{name}", Self::objects_path(kind));
        let (status, doc) = self.send(Method::GET, &path, None).await?;
        match status {
            s if s.is_success() => Ok(Some(doc)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(kube_error(s, &doc, &format!("reading {} {name}", kind.as_str()), &self.base)),
        }
    }

    /// Deletes it, with what it owns (an RC's pods) removed in the background, as kubectl
    /// does; an object already gone is not an error.
    pub async fn delete(&self, kind: Kind, name: &str) -> Result<()> {
        let path = format!("{}/{name}", Self::objects_path(kind));
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        let (status, doc) = self.send(Method::DELETE, &path, Some(&options)).await?;
        match status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(kube_error(s, &doc, &format!("deleting {} {name}", kind.as_str()), &self.base)),
        }
    }

    /// Every object of `kind` in magnum's namespace.
    pub async fn list(&self, kind: Kind) -> Result<Vec<Value>> {
        let doc = self.expect(Method::GET, &Self::objects_path(kind), None, &format!("listing {}", kind.plural())).await?;
        Ok(items(doc))
    }

    /// Whether the API server says it is ready (`/readyz`); an error when it does not answer.
    pub async fn ready(&self) -> Result<bool> {
        let (status, _) = self.send(Method::GET, "/readyz", None).await?;
        Ok(status.is_success())
    }

    /// Any object by its API path; None when Kubernetes has none there.
    pub async fn fetch(&self, path: &str) -> Result<Option<Value>> {
        let (status, doc) = self.send(Method::GET, path, None).await?;
        match status {
            s if s.is_success() => Ok(Some(doc)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(kube_error(s, &doc, &format!("reading {path}"), &self.base)),
        }
    }

    /// Creates an object under `path`; `what` names it in errors.
    pub async fn post(&self, path: &str, doc: &Value, what: &str) -> Result<Value> {
        self.expect(Method::POST, path, Some(doc), what).await
    }

    /// A JSON merge patch of the object at `path`.
    pub async fn merge_patch(&self, path: &str, patch: &Value, what: &str) -> Result<Value> {
        let (status, doc) = self.send_as(Method::PATCH, path, Some(patch), "application/merge-patch+json").await?;
        if status.is_success() {
            Ok(doc)
        } else {
            Err(kube_error(status, &doc, what, &self.base))
        }
    }

    /// Deletes the object at `path`; one already gone is not an error.
    pub async fn remove(&self, path: &str, what: &str) -> Result<()> {
        let (status, doc) = self.send(Method::DELETE, path, None).await?;
        match status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(kube_error(s, &doc, what, &self.base)),
        }
    }

    pub async fn nodes(&self) -> Result<Vec<Value>> {
        Ok(items(self.expect(Method::GET, "/api/v1/nodes", None, "listing the nodes").await?))
    }

    /// The server's `gitVersion`, e.g. `v1.20.2`.
    pub async fn version(&self) -> Result<String> {
        let doc = self.expect(Method::GET, "/version", None, "reading the server version").await?;
        Ok(doc.get("gitVersion").and_then(Value::as_str).unwrap_or("unknown").to_owned())
    }
}

pub fn items(mut doc: Value) -> Vec<Value> {
    match doc.get_mut("items").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => vec![],
    }
}

/// An object's `metadata.name` ("" when it has none).
pub fn name_of(doc: &Value) -> &str {
    doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

/// The `Ready` condition of a Node object: whether it is True, and its message.
pub fn ready_condition(node: &Value) -> (bool, Option<String>) {
    let conditions = node.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conditions.and_then(|c| c.iter().find(|c| c.get("type").and_then(Value::as_str) == Some("Ready")));
    let is = ready.and_then(|c| c.get("status")).and_then(Value::as_str) == Some("True");
    (is, ready.and_then(|c| c.get("message")).and_then(Value::as_str).map(str::to_owned))
}

/// reqwest's outer message hides the cause (refused, certificate unknown, ...): walk to it.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// Kubernetes' `Status` answer as the error the API shows: its status code where Magnum has
/// the same (400, 404, 409, 422 → 400), a refused credential as the bay's problem (400), and
/// a server failure as unavailable (503).
fn kube_error(status: StatusCode, doc: &Value, what: &str, base: &str) -> MagnumError {
    let message = doc.get("message").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| match doc {
        Value::String(s) if !s.is_empty() => s.chars().take(300).collect(),
        _ => status.to_string(),
    });
    let text = format!("Kubernetes refused {what}: {message}");
    match status {
        StatusCode::NOT_FOUND => MagnumError::not_found(text),
        StatusCode::CONFLICT => MagnumError::conflict(text),
        // An eviction a disruption budget does not allow now.
        StatusCode::TOO_MANY_REQUESTS => MagnumError::unavailable(text),
        StatusCode::FORBIDDEN if message.contains("PodSecurityPolicy") => MagnumError::forbidden(format!(
            "{text}. Workloads on a bay run under its pod security policy: no privileged mode, added capabilities, \
             host namespaces, host paths or unconfined seccomp (docs/SECURITY.md)."
        )),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => MagnumError::invalid(format!(
            "{text} ({status}). The credentials this bay was registered with are not allowed to do this on {base}; \
             register it again with credentials that may manage pods, services and replication controllers."
        )),
        s if s.is_client_error() => MagnumError::invalid(text),
        _ => MagnumError::unavailable(format!("{text} ({status}); retry when the cluster is healthy.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_status_answers_keep_their_meaning() {
        let doc = json!({"kind": "Status", "message": "pods \"web\" already exists", "reason": "AlreadyExists", "code": 409});
        let e = kube_error(StatusCode::CONFLICT, &doc, "creating Pod web", "https://k");
        assert_eq!(e.kind, magnum_types::ErrorKind::Conflict);
        assert!(e.message.contains("already exists"), "{}", e.message);
        let e = kube_error(StatusCode::UNPROCESSABLE_ENTITY, &json!({"message": "spec.containers: Required value"}), "x", "b");
        assert_eq!(e.kind, magnum_types::ErrorKind::Invalid);
        let e = kube_error(StatusCode::FORBIDDEN, &json!({"message": "forbidden"}), "x", "https://k");
        assert!(e.message.contains("register it again"), "{}", e.message);
        let e = kube_error(StatusCode::INTERNAL_SERVER_ERROR, &json!("etcd down"), "x", "b");
        assert_eq!(e.kind, magnum_types::ErrorKind::Unavailable);
        assert!(e.message.contains("etcd down"), "{}", e.message);
    }
}
