//! The decision: which requests to a node's Docker API the engine may carry out.
//!
//! Reads are open. Every other request must match an entry below, and the ones that make
//! workloads or objects are checked field by field (workloads.rs, objects.rs); anything
//! unknown is refused, so a new engine endpoint stays closed until it is judged here. The
//! swarm's membership (joining, leaving, its keys and join tokens, nodes' roles) belongs to the
//! conductor alone: a client certificate whose common name is the conductor's.

mod objects;
mod workloads;

use crate::json::Json;
use crate::route::Route;
pub use workloads::HostNetwork;
use workloads::{refuse, Check};

/// Who may manage the swarm itself.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The common name of the conductor's client certificate.
    pub manager: String,
    /// A bay without TLS authenticates no one: anyone who reaches its API manages it.
    pub anonymous_manages: bool,
}

impl Policy {
    fn manages(&self, user: &str) -> bool {
        user == self.manager || (self.anonymous_manages && user.is_empty())
    }
}

/// One request, as the engine hands it to its authorization plugin.
pub struct Request<'a> {
    pub user: &'a str,
    pub route: Route,
    /// None when the engine did not pass it (not JSON, or over its size limit).
    pub body: Option<&'a [u8]>,
}

fn body(request: &Request) -> Result<Json, String> {
    match request.body {
        Some(b) if !b.is_empty() => Json::parse(b),
        _ => Err(format!(
            "{} {} needs its JSON body checked, and the engine passed none (send it as application/json, under 1 MiB)",
            request.route.method,
            request.route.path()
        )),
    }
}

fn membership(policy: &Policy, request: &Request, what: &str) -> Check {
    if policy.manages(request.user) {
        return Ok(());
    }
    Err(format!("{what} is refused: the swarm's membership and keys are managed by magnum (resize the bay through the Magnum API)"))
}

/// Ok when the engine may carry the request out; Err with the reason it is refused.
pub fn decide(policy: &Policy, request: &Request, host_network: HostNetwork) -> Check {
    let r = &request.route;
    let s: Vec<&str> = r.segments.iter().map(String::as_str).collect();
    let method = r.method.as_str();
    match (method, s.as_slice()) {
        ("GET" | "HEAD", ["swarm"] | ["swarm", "unlockkey"]) => membership(policy, request, "reading the swarm's join tokens and keys"),
        ("GET" | "HEAD", _) => Ok(()),
        ("POST", ["containers", "create"]) => workloads::container_create(&body(request)?, host_network),
        ("POST", ["containers", _, "update"]) => workloads::resources(&body(request)?),
        ("POST", ["containers", _, "exec"]) => workloads::exec_create(&body(request)?),
        ("POST", ["containers", _, "start"]) => match request.body {
            Some(b) if !b.iter().all(u8::is_ascii_whitespace) && b != b"{}" && b != b"null" => {
                refuse("a start request carrying a host configuration")
            }
            _ => Ok(()),
        },
        ("POST", ["containers", _, "stop" | "restart" | "kill" | "pause" | "unpause" | "wait" | "resize" | "rename" | "attach"]) => Ok(()),
        ("PUT", ["containers", _, "archive"]) => Ok(()),
        ("DELETE", ["containers", _]) => Ok(()),
        ("POST", ["exec", _, "start" | "resize"]) => Ok(()),
        ("POST", ["containers" | "images" | "networks" | "volumes" | "build", "prune"]) => Ok(()),
        ("POST", ["images", "create"]) => objects::image_create(r),
        ("POST", ["images", "load"]) => Ok(()),
        ("POST", ["images", .., "tag" | "push"]) if s.len() > 2 => Ok(()),
        ("DELETE", ["images", _, ..]) => Ok(()),
        ("POST", ["commit"] | ["auth"] | ["build", "cancel"]) => Ok(()),
        ("POST", ["build"]) => objects::build(r, host_network),
        ("POST", ["networks", "create"]) => objects::network_create(&body(request)?),
        ("POST", ["networks", network, "connect" | "disconnect"]) => objects::network_connect(network, host_network),
        ("DELETE", ["networks", _]) => Ok(()),
        ("POST", ["volumes", "create"]) => objects::volume_create(&body(request)?),
        ("DELETE", ["volumes", _]) => Ok(()),
        ("POST", ["services", "create"] | ["services", _, "update"]) => workloads::service_spec(&body(request)?, host_network),
        ("DELETE", ["services", _]) => Ok(()),
        ("POST", ["secrets" | "configs", "create"]) => objects::secret_create(&body(request)?),
        ("POST", ["secrets" | "configs", _, "update"]) => Ok(()),
        ("DELETE", ["secrets" | "configs", _]) => Ok(()),
        ("POST", ["swarm", ..]) => membership(policy, request, "changing the swarm (init, join, leave, update, unlock)"),
        ("POST", ["nodes", _, "update"]) | ("DELETE", ["nodes", _]) => membership(policy, request, "changing the swarm's nodes"),
        ("POST", ["session" | "grpc"]) => {
            Err("BuildKit sessions are refused on a bay's nodes: build with the classic builder (DOCKER_BUILDKIT=0)".into())
        }
        (_, ["plugins", ..]) => refuse("installing or changing engine plugins"),
        _ => Err(format!("{method} {} is not allowed on a bay's node", r.path())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> bool {
        name == "host" || (!name.is_empty() && "4f2a9c0d77e1".starts_with(name))
    }

    fn ask(user: &str, method: &str, uri: &str, body: Option<&str>) -> Check {
        let policy = Policy { manager: "Magnum-Conductor".into(), anonymous_manages: false };
        let request = Request { user, route: Route::parse(method, uri), body: body.map(str::as_bytes) };
        decide(&policy, &request, &host)
    }

    #[test]
    fn tenants_use_their_bay() {
        for (m, uri, body) in [
            ("GET", "/v1.41/info", None),
            ("GET", "/v1.41/nodes", None),
            (
                "POST",
                "/v1.41/containers/create?name=web",
                Some(r#"{"Image":"b","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}}"#),
            ),
            ("POST", "/v1.41/containers/abc/start", None),
            ("POST", "/v1.41/containers/abc/exec", Some(r#"{"Cmd":["ls"]}"#)),
            ("POST", "/v1.41/services/create", Some(r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"b"}}}"#)),
            ("POST", "/v1.41/images/magnum/busybox:latest/tag?repo=x", None),
            ("POST", "/v1.41/images/create?fromImage=registry:5000/app&tag=1", None),
            ("POST", "/v1.41/volumes/create", Some(r#"{"Name":"data"}"#)),
            ("POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"overlay","Attachable":true}"#)),
            ("POST", "/v1.41/build?t=app&networkmode=default", None),
            ("DELETE", "/v1.41/services/s", None),
        ] {
            assert_eq!(ask("alice", m, uri, body), Ok(()), "{m} {uri}");
        }
    }

    #[test]
    fn tenants_cannot_leave_the_confinement_or_touch_the_swarm() {
        for (m, uri, body) in [
            ("GET", "/v1.41/swarm", None),
            ("POST", "/v1.41/swarm/leave?force=1", None),
            ("POST", "/v1.41/swarm/join", Some("{}")),
            ("POST", "/v1.41/nodes/x/update?version=3", Some(r#"{"Role":"manager"}"#)),
            ("DELETE", "/v1.41/nodes/x", None),
            ("POST", "/v1.41/plugins/pull?remote=x", None),
            ("POST", "/v1.41/containers/create", None),
            ("POST", "/v1.41/containers/create", Some(r#"{"HostConfig":{"Privileged":true}}"#)),
            ("POST", "/v1.41/containers/abc/exec", Some(r#"{"Cmd":["sh"],"Privileged":true}"#)),
            ("POST", "/v1.41/containers/abc/update", Some(r#"{"Devices":[{"PathOnHost":"/dev/mem"}]}"#)),
            ("POST", "/v1.41/volumes/create", Some(r#"{"Name":"root","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#)),
            ("POST", "/v1.41/networks/create", Some(r#"{"Name":"m","Driver":"macvlan"}"#)),
            ("POST", "/v1.41/networks/4f2a9c/connect", Some(r#"{"Container":"x"}"#)),
            ("POST", "/v1.41/images/create?fromSrc=http://example.invalid/x.tar", None),
            ("POST", "/v1.41/build?networkmode=host", None),
            ("POST", "/v1.41/build?cgroupparent=/", None),
            ("POST", "/v1.41/build?remote=https://example.invalid/ctx.git", None),
            ("POST", "/v1.41/session", None),
            ("POST", "/v1.41/secrets/create", Some(r#"{"Name":"s","Driver":{"Name":"vault"}}"#)),
            ("POST", "/v1.41/containers/abc/checkpoints", None),
            ("POST", "/v1.41/containers/abc/start", Some(r#"{"Privileged":true}"#)),
        ] {
            let verdict = ask("alice", m, uri, body);
            assert!(verdict.is_err(), "{m} {uri} passed");
        }
    }

    #[test]
    fn the_conductor_manages_the_swarm_but_is_confined_like_anyone() {
        assert_eq!(ask("Magnum-Conductor", "POST", "/v1.41/swarm/init", Some("{}")), Ok(()));
        assert_eq!(ask("Magnum-Conductor", "GET", "/v1.41/swarm", None), Ok(()));
        assert!(ask("Magnum-Conductor", "POST", "/v1.41/containers/create", Some(r#"{"HostConfig":{"Privileged":true}}"#)).is_err());
        assert!(ask("", "POST", "/v1.41/swarm/init", Some("{}")).is_err(), "an anonymous caller of a TLS bay is no one");
    }
}
