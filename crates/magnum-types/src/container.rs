//! Container: a Docker container of the container API, run on one node of a swarm bay.
//!
//! The API stores what was asked (image, command, memory, environment) and the conductor
//! records where it runs (`host`, a node of the bay) and the state the engine last reported.
//! The rules for what a request may say live here: the schema, the memory format, and how a
//! command string becomes an argument vector.

use crate::attrs::{self, opt, req, ro, AttrType, Schema};
use crate::error::{MagnumError, Result};
use crate::patch::PatchRules;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// The statuses upstream's container API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerStatus {
    Running,
    Stopped,
    Paused,
    Error,
    Unknown,
}

impl ContainerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Running => "Running",
            ContainerStatus::Stopped => "Stopped",
            ContainerStatus::Paused => "Paused",
            ContainerStatus::Error => "Error",
            ContainerStatus::Unknown => "Unknown",
        }
    }

    pub fn parse(s: &str) -> Option<ContainerStatus> {
        [Self::Running, Self::Stopped, Self::Paused, Self::Error, Self::Unknown].into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// Internal row id, never shown.
    #[serde(skip)]
    pub id: i64,
    /// Optimistic-concurrency counter for user edits (PATCH).
    #[serde(skip)]
    pub version: i64,
    pub uuid: Uuid,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub bay_uuid: Uuid,
    pub image: String,
    pub command: Option<String>,
    /// As given, e.g. `512m`; [`memory_bytes`] turns it into the engine's limit.
    pub memory: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub status: ContainerStatus,
    pub status_reason: Option<String>,
    /// The bay node it runs on.
    pub host: Option<String>,
    /// Its owner left it running (the last action made it run, and it has not ended by
    /// itself since): started again when its node comes back from a restart. Not shown.
    #[serde(default)]
    pub keep_running: bool,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

static CONTAINER_ATTRS: [attrs::Attr; 15] = [
    opt("uuid", attrs::string(36, 36)),
    opt("name", attrs::string(1, 255)),
    req("image", attrs::string(1, 255)),
    opt("command", attrs::string(1, 4096)),
    opt("memory", attrs::string(1, 32)),
    opt("environment", AttrType::Dict),
    req("bay_uuid", attrs::string(1, 255)),
    ro("status", attrs::string(0, 20)),
    ro("status_reason", AttrType::Any),
    ro("host", AttrType::Any),
    ro("links", AttrType::Any),
    ro("created_at", AttrType::Any),
    ro("updated_at", AttrType::Any),
    ro("project_id", AttrType::Any),
    ro("user_id", AttrType::Any),
];

pub static CONTAINER_SCHEMA: Schema = Schema { resource: "container", attrs: &CONTAINER_ATTRS };

/// Only the name is a user's to change: the rest describes a container that already exists
/// on an engine.
pub static CONTAINER_PATCH_RULES: PatchRules<'static> = PatchRules {
    internal: &["image", "command", "memory", "environment", "bay_uuid", "status", "status_reason", "host"],
    non_removable: &["name"],
};

pub const SORT_KEYS: [&str; 6] = ["uuid", "name", "image", "status", "created_at", "updated_at"];

/// The fields of the list view (upstream's), besides `links`.
pub const SUMMARY: [&str; 7] = ["uuid", "name", "bay_uuid", "image", "command", "status", "memory"];

impl Container {
    /// A container from a checked POST body; `bay` is the resolved bay's uuid. Status starts
    /// `Unknown` until the conductor has created it on a node.
    pub fn from_create(body: &Map<String, Value>, bay: Uuid, project_id: &str, user_id: &str, now: Timestamp) -> Result<Container> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let uuid = match text("uuid") {
            Some(u) => crate::names::parse_uuid(&u)
                .ok_or_else(|| MagnumError::invalid(format!("Expected a uuid but received {u}. Use the canonical lowercase form.")))?,
            None => Uuid::new_v4(),
        };
        let memory = text("memory");
        if let Some(m) = &memory {
            memory_bytes(m)?;
        }
        let command = text("command");
        if let Some(c) = &command {
            split_command(c)?;
        }
        let environment = match body.get("environment") {
            Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect(),
            _ => BTreeMap::new(),
        };
        for key in environment.keys() {
            if key.is_empty() || key.contains('=') {
                return Err(MagnumError::invalid(format!(
                    "Invalid environment variable name '{key}': names must be non-empty and contain no '='."
                )));
            }
        }
        Ok(Container {
            id: 0,
            version: 1,
            uuid,
            name: text("name").unwrap_or_else(|| crate::names::generated_name(&uuid, "container")),
            project_id: project_id.to_owned(),
            user_id: user_id.to_owned(),
            bay_uuid: bay,
            image: text("image").unwrap_or_default(),
            command,
            memory,
            environment,
            status: ContainerStatus::Unknown,
            status_reason: None,
            host: None,
            keep_running: false,
            created_at: now,
            updated_at: None,
        })
    }

    /// The full API document (without links).
    pub fn to_api(&self) -> Map<String, Value> {
        let v = json!({
            "uuid": self.uuid.to_string(),
            "name": self.name,
            "bay_uuid": self.bay_uuid.to_string(),
            "image": self.image,
            "command": self.command,
            "memory": self.memory,
            "environment": self.environment,
            "status": self.status.as_str(),
            "status_reason": self.status_reason,
            "host": self.host,
            "project_id": self.project_id,
            "user_id": self.user_id,
            "created_at": crate::time::to_api(&self.created_at),
            "updated_at": self.updated_at.as_ref().map(crate::time::to_api),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The engine's name for it: its uuid, which never changes (a rename is the API's alone)
    /// and never clashes, while names may repeat (as upstream).
    pub fn engine_name(&self) -> String {
        self.uuid.to_string()
    }

    /// The command as an argument vector (None: the image's default).
    pub fn argv(&self) -> Result<Option<Vec<String>>> {
        self.command.as_deref().map(split_command).transpose()
    }
}

/// Docker's smallest memory limit.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// `512m`, `1g`, `1.5G`, `256MiB`, `1048576` (bytes): Docker's RAM size format, in bytes.
pub fn memory_bytes(s: &str) -> Result<u64> {
    let bad = |why: &str| {
        MagnumError::invalid(format!(
            "Invalid memory '{s}': {why}. Use a number with an optional unit b, k, m or g (e.g. 512m, 1g); at least 6m."
        ))
    };
    let t = s.trim();
    let digits_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let value: f64 = number.parse().map_err(|_| bad("it does not start with a number"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(bad("unknown unit")),
    };
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(bad("too large"));
    }
    let bytes = bytes as u64;
    if bytes < MIN_MEMORY {
        return Err(bad("below Docker's minimum of 6m"));
    }
    Ok(bytes)
}

/// Splits a command line into arguments as a POSIX shell would (quotes and backslashes), so
/// `sh -c 'echo hi'` is three arguments. No expansion is done.
pub fn split_command(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(unterminated(s, '\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('\\' | '"' | '$' | '`')) => cur.push(e),
                            Some('\n') => {}
                            Some(other) => {
                                cur.push('\\');
                                cur.push(other);
                            }
                            None => return Err(unterminated(s, '"')),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(unterminated(s, '"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(e) => cur.push(e),
                    None => return Err(MagnumError::invalid(format!("Invalid command '{s}': it ends with a lone backslash."))),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(MagnumError::invalid("Invalid command: it is empty. Give a program and its arguments, e.g. 'uname -a'."));
    }
    Ok(out)
}

fn unterminated(s: &str, quote: char) -> MagnumError {
    MagnumError::invalid(format!("Invalid command '{s}': a {quote} quote is not closed."))
}

/// A container action of the API (`PUT /v1/containers/{id}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    Start,
    Stop,
    Reboot,
    Pause,
    Unpause,
}

impl ContainerAction {
    pub const ALL: [ContainerAction; 5] = [Self::Start, Self::Stop, Self::Reboot, Self::Pause, Self::Unpause];

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Start => "start",
            ContainerAction::Stop => "stop",
            ContainerAction::Reboot => "reboot",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_formats() {
        assert_eq!(memory_bytes("512m").expect("valid"), 512 << 20);
        assert_eq!(memory_bytes("512M").expect("valid"), 512 << 20);
        assert_eq!(memory_bytes("1g").expect("valid"), 1 << 30);
        assert_eq!(memory_bytes("1.5g").expect("valid"), 3 << 29);
        assert_eq!(memory_bytes("256MiB").expect("valid"), 256 << 20);
        assert_eq!(memory_bytes("64mb").expect("valid"), 64 << 20);
        assert_eq!(memory_bytes("10485760").expect("valid"), 10 << 20);
        for bad in ["", "m", "512x", "-5m", "1m", "512 megabytes", "1e9", "99999999999999999999g"] {
            let e = memory_bytes(bad).expect_err(bad);
            assert!(e.message.contains("Invalid memory"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn commands_split_like_a_shell() {
        let s = |c: &str| split_command(c).expect(c);
        assert_eq!(s("uname -a"), ["uname", "-a"]);
        assert_eq!(s("  sh -c 'echo hello world' "), ["sh", "-c", "echo hello world"]);
        assert_eq!(s(r#"echo "a \"b\" \$c" d\ e"#), ["echo", r#"a "b" $c"#, "d e"]);
        assert_eq!(s("echo ''"), ["echo", ""]);
        for bad in ["", "   ", "echo 'x", "echo \"x", "echo \\"] {
            assert!(split_command(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_body() {
        let bay = Uuid::new_v4();
        let body = CONTAINER_SCHEMA
            .check_create(&json!({"image": "busybox", "bay_uuid": "b", "command": "echo hi", "memory": "64m", "environment": {"A": 1}}))
            .expect("valid");
        let c = Container::from_create(&body, bay, "p", "u", crate::time::now()).expect("valid");
        assert_eq!(c.status, ContainerStatus::Unknown);
        assert_eq!(c.environment.get("A").map(String::as_str), Some("1"));
        assert!(c.name.ends_with("-container"), "generated name {}", c.name);
        assert_eq!(c.argv().expect("valid"), Some(vec!["echo".to_owned(), "hi".to_owned()]));
        for (body, needle) in [
            (json!({"bay_uuid": "b"}), "Mandatory field missing: image"),
            (json!({"image": "i"}), "Mandatory field missing: bay_uuid"),
            (json!({"image": "i", "bay_uuid": "b", "status": "Running"}), "read only"),
            (json!({"image": "i", "bay_uuid": "b", "cpu": 1}), "Unknown attribute"),
            (json!({"image": "i", "bay_uuid": "b", "memory": 512}), "Expected 'str'"),
        ] {
            let e = CONTAINER_SCHEMA.check_create(&body).expect_err("invalid");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
        for (body, needle) in [
            (json!({"image": "i", "bay_uuid": "b", "memory": "lots"}), "Invalid memory"),
            (json!({"image": "i", "bay_uuid": "b", "command": "sh -c 'x"}), "not closed"),
            (json!({"image": "i", "bay_uuid": "b", "uuid": "5D12F6FD-A196-4BF0-AE4C-1F639A523A52"}), "Expected a uuid"),
            (json!({"image": "i", "bay_uuid": "b", "environment": {"A=B": "c"}}), "environment variable"),
        ] {
            let checked = CONTAINER_SCHEMA.check_create(&body).expect("schema-valid");
            let e = Container::from_create(&checked, bay, "p", "u", crate::time::now()).expect_err("invalid");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }
}
