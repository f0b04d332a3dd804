//! The plugin's side of Docker's AuthZ protocol: HTTP/1.1 over a unix socket, one thread per
//! connection (the engine keeps connections open and asks concurrently).

use crate::route::Route;
use crate::rules::{self, Policy};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the engine sends (moby's pkg/authorization Request; only the fields judged here).
#[derive(Deserialize, Default)]
struct AuthzRequest {
    #[serde(rename = "User", default)]
    user: String,
    #[serde(rename = "RequestMethod", default)]
    method: String,
    #[serde(rename = "RequestUri", default)]
    uri: String,
    /// Go encodes a byte slice as base64.
    #[serde(rename = "RequestBody", default)]
    body: Option<String>,
    /// The client's certificate chain, leaf first: each a PEM, base64-encoded.
    #[serde(rename = "RequestPeerCertificates", default)]
    peer_certificates: Vec<String>,
}

#[derive(Serialize)]
struct AuthzResponse {
    #[serde(rename = "Allow")]
    allow: bool,
    #[serde(rename = "Msg", skip_serializing_if = "String::is_empty")]
    msg: String,
}

/// The node's engine, asked which network a reference names: requests may name the node's
/// "host" network by name, by a local or a swarm ID, or by an ID's prefix, and only the engine
/// resolves those as it will when it carries the request out.
struct NodeEngine {
    socket: PathBuf,
    /// Which certificate of the conductor's name is the conductor's.
    pin: crate::pin::Pin,
}

impl NodeEngine {
    /// (status, body) of `GET path` on the engine's own socket.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = UnixStream::connect(&self.socket).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    fn is_host_network(&self, name: &str) -> bool {
        let name = name.trim();
        if name.eq_ignore_ascii_case("host") {
            return true;
        }
        if matches!(name, "" | "bridge" | "none" | "default") || name.starts_with("container:") {
            return false;
        }
        let encoded: String = name
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        match self.get(&format!("/networks/{encoded}")) {
            Some((200, body)) => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                v["Driver"] == "host" || v["Name"] == "host"
            }
            Some((404, _)) => false,
            // When the engine cannot say, the reference counts as the host network.
            _ => true,
        }
    }
}

fn judge(policy: &Policy, engine: &NodeEngine, raw: &[u8]) -> AuthzResponse {
    let request: AuthzRequest = match serde_json::from_slice(raw) {
        Ok(r) => r,
        Err(e) => return AuthzResponse { allow: false, msg: format!("the guard could not read the engine's question ({e})") },
    };
    if !request.user.is_empty() && request.user == policy.manager {
        if let Err(msg) = engine.pin.check(&request.peer_certificates) {
            eprintln!("magnum-node-guard: refused {} {} for '{}': {msg}", request.method, request.uri, request.user);
            return AuthzResponse { allow: false, msg };
        }
    }
    let body = match request.body.as_deref().map(|b| base64::engine::general_purpose::STANDARD.decode(b)) {
        Some(Ok(b)) => Some(b),
        Some(Err(_)) => return AuthzResponse { allow: false, msg: "the request body the engine passed is not base64".into() },
        None => None,
    };
    let route = Route::parse(&request.method, &request.uri);
    let question = rules::Request { user: &request.user, route, body: body.as_deref() };
    match rules::decide(policy, &question, &|n| engine.is_host_network(n)) {
        Ok(()) => AuthzResponse { allow: true, msg: String::new() },
        Err(msg) => {
            eprintln!("magnum-node-guard: refused {} {} for '{}': {msg}", request.method, request.uri, request.user);
            AuthzResponse { allow: false, msg }
        }
    }
}

/// Reads one HTTP request: (path, body). None at the end of the connection.
fn read_request(reader: &mut BufReader<UnixStream>) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some((path, body)))
}

fn serve_connection(stream: UnixStream, policy: &Policy, engine: &NodeEngine) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader)? {
        let answer = match path.as_str() {
            "/Plugin.Activate" => serde_json::json!({"Implements": ["authz"]}).to_string(),
            "/AuthZPlugin.AuthZReq" => serde_json::to_string(&judge(policy, engine, &body)).unwrap_or_default(),
            // Answers are not judged: everything refused was refused before it ran.
            "/AuthZPlugin.AuthZRes" => r#"{"Allow":true}"#.to_owned(),
            _ => r#"{"Err":"unknown call"}"#.to_owned(),
        };
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
    }
    Ok(())
}

/// Serves the plugin on `socket` for the engine whose own API socket is `engine_socket`; the
/// conductor's current certificate is pinned in the file `pinned`.
pub fn serve(socket: &Path, engine_socket: &Path, policy: Policy, pinned: &Path) -> std::io::Result<()> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    let shared = Arc::new((policy, NodeEngine { socket: engine_socket.to_owned(), pin: crate::pin::Pin::new(pinned) }));
    eprintln!("magnum-node-guard: serving on {}", socket.display());
    for stream in listener.incoming() {
        let stream = stream?;
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            if let Err(e) = serve_connection(stream, &shared.0, &shared.1) {
                eprintln!("magnum-node-guard: a connection ended: {e}");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(question: serde_json::Value) -> AuthzResponse {
        let policy = Policy { manager: "Magnum-Conductor".into(), anonymous_manages: false };
        let engine = NodeEngine { socket: PathBuf::from("/nonexistent/docker.sock"), pin: crate::pin::Pin::new("/nonexistent/pin.pem") };
        judge(&policy, &engine, question.to_string().as_bytes())
    }

    fn body(json: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    #[test]
    fn the_engines_question_is_answered_as_the_protocol_says() {
        let allowed = ask(serde_json::json!({"User": "alice", "UserAuthNMethod": "TLS", "RequestMethod": "POST",
            "RequestUri": "/v1.41/containers/create", "RequestBody": body(r#"{"Image":"b","HostConfig":{"NetworkMode":"bridge"}}"#)}));
        assert!(allowed.allow, "{}", allowed.msg);
        let refused = ask(serde_json::json!({"User": "alice", "RequestMethod": "POST", "RequestUri": "/v1.41/containers/create",
            "RequestBody": body(r#"{"Image":"b","HostConfig":{"Privileged":true}}"#)}));
        assert!(!refused.allow && refused.msg.contains("privileged mode"), "{}", refused.msg);
        // A network the engine cannot be asked about counts as the host's.
        let unsure = ask(serde_json::json!({"User": "alice", "RequestMethod": "POST", "RequestUri": "/v1.41/containers/create",
            "RequestBody": body(r#"{"Image":"b","HostConfig":{"NetworkMode":"6uuoz4x2th3y"}}"#)}));
        assert!(!unsure.allow, "{}", unsure.msg);
        let garbage = judge(
            &Policy { manager: String::new(), anonymous_manages: false },
            &NodeEngine { socket: PathBuf::new(), pin: crate::pin::Pin::new("") },
            b"not json",
        );
        assert!(!garbage.allow);
    }
}
