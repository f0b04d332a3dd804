//! External bays: an existing swarm's Docker API registered as a bay. magnum-rs builds nothing
//! for them: the conductor checks the endpoint, watches its health, runs the container API on
//! it and, on delete, only forgets it. The endpoint comes in the create body as
//! `external_endpoint`; its private key is stored sealed (like a bay CA's) and never shown.

use crate::coe::Coe;
use crate::error::{MagnumError, Result};
use serde_json::Value;

const FIELDS: [&str; 4] = ["api_address", "ca_cert", "client_cert", "client_key"];
/// Ample for a PEM certificate chain or key.
const MAX_PEM: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEndpoint {
    /// `tcp://host:port`: the swarm manager's Docker API.
    pub api_address: String,
    /// The CA, client certificate and key for its TLS; None for a plain-TCP endpoint.
    pub tls: Option<EndpointTls>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct EndpointTls {
    pub ca_cert: String,
    pub client_cert: String,
    pub client_key: String,
}

impl std::fmt::Debug for EndpointTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointTls").field("client_key", &"<redacted>").finish_non_exhaustive()
    }
}

fn bad(why: impl std::fmt::Display) -> MagnumError {
    MagnumError::invalid(format!("Invalid external_endpoint: {why}"))
}

/// Reads and checks `external_endpoint` for a bay of `coe`.
pub fn parse(v: &Value, coe: Coe) -> Result<ExternalEndpoint> {
    if coe == Coe::Kubernetes {
        return Err(bad(
            "external Kubernetes bays are not supported yet; register a swarm (Docker API) endpoint with a swarm-mode template.",
        ));
    }
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
    let api_address = text("api_address")?.ok_or_else(|| bad("api_address is required (tcp://host:port)."))?;
    check_address(&api_address)?;
    let tls = match (text("ca_cert")?, text("client_cert")?, text("client_key")?) {
        (None, None, None) => None,
        (Some(ca_cert), Some(client_cert), Some(client_key)) => {
            pem(&ca_cert, "ca_cert", "CERTIFICATE")?;
            pem(&client_cert, "client_cert", "CERTIFICATE")?;
            pem(&client_key, "client_key", "PRIVATE KEY")?;
            Some(EndpointTls { ca_cert, client_cert, client_key })
        }
        _ => return Err(bad("give ca_cert, client_cert and client_key together (TLS), or none of them (plain TCP).")),
    };
    Ok(ExternalEndpoint { api_address, tls })
}

fn check_address(a: &str) -> Result<()> {
    let rest = a.strip_prefix("tcp://").ok_or_else(|| bad(format!("api_address {a} must look like tcp://host:port.")))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad(format!("api_address {a} has no port.")))?;
    if host.is_empty() || host.contains('/') || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad(format!("api_address {a} must look like tcp://host:port.")));
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
    fn every_mistake_is_named() {
        let cases = [
            (json!("tcp://h:1"), "expected an object"),
            (json!({}), "api_address is required"),
            (json!({"api_address": "http://h:1"}), "tcp://host:port"),
            (json!({"api_address": "tcp://h"}), "has no port"),
            (json!({"api_address": "tcp://h:0"}), "tcp://host:port"),
            (json!({"api_address": "tcp://h:1", "ca_cert": CERT}), "together"),
            (json!({"api_address": "tcp://h:1", "ca_cert": "x", "client_cert": CERT, "client_key": KEY}), "ca_cert must be PEM"),
            (json!({"api_address": "tcp://h:1", "ca_cert": CERT, "client_cert": CERT, "client_key": CERT}), "client_key must be PEM"),
            (json!({"api_address": "tcp://h:1", "token": "t"}), "unknown field token"),
            (json!({"api_address": 5}), "must be a string"),
        ];
        for (v, want) in cases {
            let e = parse(&v, Coe::SwarmMode).expect_err(&v.to_string());
            assert!(e.message.contains(want), "{v}: {}", e.message);
        }
        let e = parse(&json!({"api_address": "tcp://h:1"}), Coe::Kubernetes).expect_err("k8s");
        assert!(e.message.contains("not supported yet"), "{}", e.message);
    }
}
