//! External bays: an existing cluster's API registered as a bay. magnum-rs builds nothing for
//! them: the conductor checks the endpoint, watches its health, runs the object APIs on it
//! (containers on a swarm, pods, services and RCs on Kubernetes) and, on delete, only forgets
//! it. The endpoint comes in the create body as `external_endpoint`; its private key or token
//! is stored sealed (like a bay CA's key) and never shown.
//!
//! - swarm: `api_address` `tcp://host:port` (a manager's Docker API), with `ca_cert`,
//!   `client_cert` and `client_key` for TLS, or none of them for plain TCP;
//! - kubernetes: `api_address` `https://host[:port]` (the API server), `ca_cert`, and either
//!   `client_cert` + `client_key` or a bearer `token`.

use crate::coe::Coe;
use crate::error::{MagnumError, Result};
use serde_json::Value;

const FIELDS: [&str; 5] = ["api_address", "ca_cert", "client_cert", "client_key", "token"];
/// Ample for a PEM certificate chain or key, or a service-account token.
const MAX_PEM: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEndpoint {
    /// `tcp://host:port` (swarm) or `https://host:port` (Kubernetes).
    pub api_address: String,
    /// The CA and the client's credentials for its TLS; None for a plain-TCP swarm endpoint.
    pub tls: Option<EndpointTls>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointTls {
    pub ca_cert: String,
    pub client: ClientAuth,
}

/// How the conductor proves who it is to the endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Certificate {
        cert: String,
        key: String,
    },
    /// A Kubernetes bearer token (a service account's, say).
    Token(String),
}

impl ClientAuth {
    /// The stored form: the certificate (empty for a token) and the secret to seal (the key,
    /// or the token). [`ClientAuth::from_stored`] reads it back.
    pub fn stored_parts(&self) -> (&str, &str) {
        match self {
            ClientAuth::Certificate { cert, key } => (cert, key),
            ClientAuth::Token(t) => ("", t),
        }
    }

    pub fn from_stored(cert: &str, secret: &str) -> ClientAuth {
        if cert.is_empty() {
            ClientAuth::Token(secret.to_owned())
        } else {
            ClientAuth::Certificate { cert: cert.to_owned(), key: secret.to_owned() }
        }
    }
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::Certificate { .. } => f.write_str("Certificate { key: <redacted> }"),
            ClientAuth::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

fn bad(why: impl std::fmt::Display) -> MagnumError {
    MagnumError::invalid(format!("Invalid external_endpoint: {why}"))
}

/// Reads and checks `external_endpoint` for a bay of `coe`.
pub fn parse(v: &Value, coe: Coe) -> Result<ExternalEndpoint> {
    let obj = v.as_object().ok_or_else(|| bad(format!("expected an object with {}.", FIELDS.join(", "))))?;
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(format!("unknown field {k}; the fields are {}.", FIELDS.join(", "))));
    }
    let text = |k: &str| -> Result<Option<String>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() > MAX_PEM => Err(bad(format!("{k} is longer than {MAX_PEM} bytes."))),
            Some(Value::String(s)) if s.contains('\0') => Err(bad(format!("{k} contains a NUL character."))),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(bad(format!("{k} must be a string."))),
        }
    };
    let kubernetes = coe == Coe::Kubernetes;
    let form = if kubernetes { "https://host:port" } else { "tcp://host:port" };
    let api_address = text("api_address")?.ok_or_else(|| bad(format!("api_address is required ({form}).")))?;
    check_address(&api_address, if kubernetes { "https://" } else { "tcp://" }, form)?;
    let (ca, cert, key, token) = (text("ca_cert")?, text("client_cert")?, text("client_key")?, text("token")?);
    if let Some(c) = &ca {
        pem(c, "ca_cert", "CERTIFICATE")?;
    }
    let client = match (cert, key, token) {
        (None, None, None) => None,
        (Some(cert), Some(key), None) => {
            pem(&cert, "client_cert", "CERTIFICATE")?;
            pem(&key, "client_key", "PRIVATE KEY")?;
            Some(ClientAuth::Certificate { cert, key })
        }
        (None, None, Some(t)) if kubernetes => {
            if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("token must be one word of printable characters."));
            }
            Some(ClientAuth::Token(t))
        }
        (None, None, Some(_)) => return Err(bad("token is for Kubernetes endpoints; a swarm endpoint takes client_cert and client_key.")),
        (_, _, Some(_)) => return Err(bad("give client_cert and client_key, or a token, not both.")),
        _ => return Err(bad("give client_cert and client_key together.")),
    };
    let tls = match (ca, client) {
        (None, None) if !kubernetes => None,
        (Some(ca_cert), Some(client)) => Some(EndpointTls { ca_cert, client }),
        _ if kubernetes => return Err(bad("a Kubernetes endpoint needs ca_cert and either client_cert with client_key, or a token.")),
        _ => return Err(bad("give ca_cert, client_cert and client_key together (TLS), or none of them (plain TCP).")),
    };
    Ok(ExternalEndpoint { api_address, tls })
}

fn check_address(a: &str, scheme: &str, form: &str) -> Result<()> {
    let rest = a.strip_prefix(scheme).ok_or_else(|| bad(format!("api_address {a} must look like {form}.")))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ if scheme == "https://" => (rest, None),
        _ => return Err(bad(format!("api_address {a} has no port."))),
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    if host.is_empty() || host.contains('/') || host.contains('@') || !port_ok {
        return Err(bad(format!("api_address {a} must look like {form}.")));
    }
    Ok(())
}

fn pem(text: &str, field: &str, kind: &str) -> Result<()> {
    let ok = text.starts_with("-----BEGIN ") && text.lines().next().is_some_and(|l| l.contains(kind)) && text.contains("-----END ");
    if ok {
        Ok(())
    } else {
        Err(bad(format!("{field} must be PEM text (-----BEGIN ...{kind}-----).")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";

    #[test]
    fn a_tls_endpoint_with_all_three_pems() {
        let e =
            parse(&json!({"api_address": "tcp://127.0.0.1:2376", "ca_cert": CERT, "client_cert": CERT, "client_key": KEY}), Coe::SwarmMode)
                .expect("valid");
        assert_eq!(e.api_address, "tcp://127.0.0.1:2376");
        assert!(e.tls.is_some());
        assert!(!format!("{e:?}").contains("MIIE"), "the key never reaches logs");
        assert_eq!(parse(&json!({"api_address": "tcp://h:2375"}), Coe::Swarm).expect("plain").tls, None);
    }

    #[test]
    fn a_kubernetes_endpoint_with_a_certificate_or_a_token() {
        let e = parse(
            &json!({"api_address": "https://127.0.0.1:6443", "ca_cert": CERT, "client_cert": CERT, "client_key": KEY}),
            Coe::Kubernetes,
        )
        .expect("certificate");
        assert!(matches!(e.tls.map(|t| t.client), Some(ClientAuth::Certificate { .. })));
        let e = parse(&json!({"api_address": "https://k8s.example", "ca_cert": CERT, "token": "abc.def"}), Coe::Kubernetes).expect("token");
        let client = e.tls.expect("tls").client;
        assert!(!format!("{client:?}").contains("abc"), "the token never reaches logs");
        assert_eq!(client.stored_parts(), ("", "abc.def"));
        assert_eq!(ClientAuth::from_stored("", "abc.def"), client);
    }

    #[test]
    fn every_mistake_is_named() {
        let cases = [
            (json!("tcp://h:1"), Coe::SwarmMode, "expected an object"),
            (json!({}), Coe::SwarmMode, "api_address is required"),
            (json!({"api_address": "http://h:1"}), Coe::SwarmMode, "tcp://host:port"),
            (json!({"api_address": "tcp://h"}), Coe::SwarmMode, "has no port"),
            (json!({"api_address": "tcp://h:0"}), Coe::SwarmMode, "tcp://host:port"),
            (json!({"api_address": "tcp://h:1", "ca_cert": CERT}), Coe::SwarmMode, "together"),
            (
                json!({"api_address": "tcp://h:1", "ca_cert": "x", "client_cert": CERT, "client_key": KEY}),
                Coe::SwarmMode,
                "ca_cert must be PEM",
            ),
            (
                json!({"api_address": "tcp://h:1", "ca_cert": CERT, "client_cert": CERT, "client_key": CERT}),
                Coe::SwarmMode,
                "client_key must be PEM",
            ),
            (json!({"api_address": "tcp://h:1", "ca_cert": CERT, "token": "t"}), Coe::SwarmMode, "token is for Kubernetes"),
            (json!({"api_address": "tcp://h:1", "bearer": "t"}), Coe::SwarmMode, "unknown field bearer"),
            (json!({"api_address": 5}), Coe::SwarmMode, "must be a string"),
            (json!({"api_address": "tcp://h:6443", "ca_cert": CERT, "token": "t"}), Coe::Kubernetes, "https://host:port"),
            (json!({"api_address": "https://h:6443", "token": "t"}), Coe::Kubernetes, "needs ca_cert"),
            (json!({"api_address": "https://h:6443", "ca_cert": CERT}), Coe::Kubernetes, "needs ca_cert"),
            (json!({"api_address": "https://h:6443", "ca_cert": CERT, "token": "a b"}), Coe::Kubernetes, "one word"),
            (
                json!({"api_address": "https://h:6443", "ca_cert": CERT, "client_cert": CERT, "client_key": KEY, "token": "t"}),
                Coe::Kubernetes,
                "not both",
            ),
            (json!({"api_address": "https://u@h:6443", "ca_cert": CERT, "token": "t"}), Coe::Kubernetes, "https://host:port"),
        ];
        for (v, coe, want) in cases {
            let e = parse(&v, coe).expect_err(&v.to_string());
            assert!(e.message.contains(want), "{v}: {}", e.message);
        }
    }
}
