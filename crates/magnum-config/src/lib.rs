//! Configuration: one typed struct read from a TOML file and `MAGNUM_*` environment variables
//! (environment wins). Sections mirror magnum.conf's: `[api]`, `[database]`, `[conductor]`,
//! `[quotas]`, `[auth]`, plus our `[[flavors]]` table (the role Nova flavors play upstream).
//!
//! Environment names: `MAGNUM_<SECTION>__<KEY>` (double underscore between section and key),
//! e.g. `MAGNUM_API__BIND=127.0.0.1:9600`, `MAGNUM_DATABASE__CONNECTION=postgres://...`;
//! top-level keys have no section: `MAGNUM_DATA_DIR`, `MAGNUM_TRANSPORT_URL`.
//! The environment is passed in as pairs, so tests never mutate the process environment.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration in {origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the all-in-one server keeps its SQLite file and other state.
    pub data_dir: PathBuf,
    /// `None`: the in-process bus (all-in-one). `amqp://...`: RabbitMQ.
    pub transport_url: Option<String>,
    pub api: ApiConfig,
    pub database: DatabaseConfig,
    pub conductor: ConductorConfig,
    pub quotas: QuotaConfig,
    pub auth: AuthConfig,
    pub docker: DockerConfig,
    pub certificates: CertificatesConfig,
    pub policy: PolicyConfig,
    pub flavors: Vec<Flavor>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// An oslo.policy file (YAML or JSON) whose rules override the built-in defaults.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CertificatesConfig {
    /// 32 random bytes that encrypt the bays' private keys. Unset: `data_dir/certificates.key`,
    /// created on first start. Every API and conductor process of a deployment needs the same one.
    pub key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// Whether conductors build swarm bays on a Docker engine.
    pub enabled: bool,
    /// The engine that hosts bay nodes: `unix:///var/run/docker.sock` or `tcp://HOST:PORT`.
    pub url: String,
    /// Seconds a bay's nodes may take to answer and join before the operation fails.
    pub node_timeout: u64,
    /// For a remote engine (`tcp://HOST:2376`): the CA that signed its certificate, and our
    /// client certificate and key (PEM files), as `docker --tlsverify` uses them.
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The engine host's address that bay nodes publish their APIs on; it is also the host of
    /// every bay's api_address. 127.0.0.1 for a local engine; a remote engine's own address.
    pub publish_address: String,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            enabled: true,
            url: "unix:///var/run/docker.sock".into(),
            node_timeout: 120,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            publish_address: "127.0.0.1".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub bind: SocketAddr,
    /// Largest page a collection returns (`[api]max_limit` upstream).
    pub max_limit: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`. Unset: SQLite under `data_dir`.
    pub connection: Option<String>,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConductorConfig {
    /// Name this conductor reports in `/v1/mservices`.
    pub host: String,
    /// Seconds between heartbeats.
    pub report_interval: u64,
    /// A conductor not heard from for this many seconds is `down`.
    pub service_down_time: i64,
    /// Seconds between reconcile sweeps over in-progress clusters.
    pub periodic_interval: u64,
    /// Seconds between health and node observations of settled clusters.
    pub health_interval: u64,
    /// The message-bus queue conductors consume and APIs publish to (upstream's topic).
    pub topic: String,
    /// Seconds a conductor's lease on a bay lasts unless renewed (it renews every third of
    /// it while working). After a conductor dies, others take its bays over this late.
    pub lease_ttl: u64,
    /// Where image builds in progress on this host announce themselves (one file each: the
    /// image's name, then the builder's pid), so templates naming them are told to wait. Set
    /// from `data_dir` when the service is assembled (`Config::image_builds_dir`).
    #[serde(skip)]
    pub image_builds_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    pub max_clusters_per_project: i64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthStrategy {
    /// No token check: the caller is who its headers say (all-in-one default).
    Noauth,
    /// `X-Auth-Token` validated against Keystone v3 (`[auth] auth_url` and the service's own
    /// credentials).
    Keystone,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub strategy: AuthStrategy,
    /// Noauth: the project of requests that carry no `X-Project-Id`.
    pub noauth_project_id: String,
    /// Noauth: the user of requests that carry no `X-User-Id`.
    pub noauth_user_id: String,
    /// Noauth: the roles of requests that carry no `X-Roles`.
    pub noauth_roles: Vec<String>,
    /// Keystone: the identity API, e.g. `http://127.0.0.1:5000/v3`.
    pub auth_url: Option<String>,
    /// Keystone: the service user that validates tokens (needs the admin or service role).
    pub username: Option<String>,
    pub password: Option<String>,
    pub project_name: String,
    pub user_domain_id: String,
    pub project_domain_id: String,
    /// Keystone: validated tokens kept to spare Keystone a round trip.
    pub token_cache_size: usize,
    /// Keystone: seconds a validation is trusted (or until the token expires, if sooner), so a
    /// revoked token stops working within this time. keystonemiddleware's default, 300.
    pub token_cache_time: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Flavor {
    pub name: String,
    pub vcpus: f64,
    pub ram_mb: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            transport_url: None,
            api: ApiConfig::default(),
            database: DatabaseConfig::default(),
            conductor: ConductorConfig::default(),
            quotas: QuotaConfig::default(),
            auth: AuthConfig::default(),
            docker: DockerConfig::default(),
            certificates: CertificatesConfig::default(),
            policy: PolicyConfig::default(),
            flavors: default_flavors(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { bind: SocketAddr::from(([127, 0, 0, 1], 9511)), max_limit: 1000 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { connection: None, max_connections: 8 }
    }
}

impl Default for ConductorConfig {
    fn default() -> Self {
        ConductorConfig {
            host: hostname(),
            report_interval: 10,
            service_down_time: 180,
            periodic_interval: 5,
            health_interval: 5,
            topic: "magnum-conductor".into(),
            lease_ttl: 30,
            image_builds_dir: None,
        }
    }
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig { max_clusters_per_project: 20 }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            strategy: AuthStrategy::Noauth,
            noauth_project_id: "admin".into(),
            noauth_user_id: "admin".into(),
            noauth_roles: vec!["admin".into(), "member".into(), "reader".into()],
            auth_url: None,
            username: None,
            password: None,
            project_name: "service".into(),
            user_domain_id: "default".into(),
            project_domain_id: "default".into(),
            token_cache_size: 10_000,
            token_cache_time: 300,
        }
    }
}

fn default_flavors() -> Vec<Flavor> {
    [("m1.tiny", 0.5, 512), ("m1.small", 1.0, 1024), ("m1.medium", 1.0, 2048), ("m1.large", 2.0, 4096), ("m1.xlarge", 2.0, 8192)]
        .into_iter()
        .map(|(name, vcpus, ram_mb)| Flavor { name: name.into(), vcpus, ram_mb })
        .collect()
}

/// `$XDG_DATA_HOME/magnum-rs`, else `~/.local/share/magnum-rs`, else `./.data`.
fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("magnum-rs");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/magnum-rs"),
        None => PathBuf::from(".data"),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

const TOP_LEVEL: [&str; 11] =
    ["data_dir", "transport_url", "api", "database", "conductor", "quotas", "auth", "docker", "certificates", "policy", "flavors"];

impl Config {
    /// Reads `file` (if any), then overlays `MAGNUM_*` pairs from `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid { origin: path.display().to_string(), message: e.to_string() })?
            }
            None => toml::Table::new(),
        };
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("MAGNUM_") else { continue };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if !TOP_LEVEL.contains(&path[0].as_str()) {
                continue; // e.g. MAGNUM_TEST_*: not configuration.
            }
            insert(&mut table, &path, env_value(&value), &key)?;
        }
        let origin = file.map(|p| p.display().to_string()).unwrap_or_else(|| "environment".into());
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid { origin, message: e.message().to_owned() })
    }

    pub fn flavor_names(&self) -> Vec<String> {
        self.flavors.iter().map(|f| f.name.clone()).collect()
    }

    /// `data_dir/image-builds`: see [`ConductorConfig::image_builds_dir`].
    pub fn image_builds_dir(&self) -> PathBuf {
        self.data_dir.join("image-builds")
    }

    pub fn certificate_key_file(&self) -> std::path::PathBuf {
        self.certificates.key_file.clone().unwrap_or_else(|| self.data_dir.join("certificates.key"))
    }

    /// The store URL: the configured one, else a SQLite file under `data_dir`.
    pub fn database_url(&self) -> String {
        match &self.database.connection {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("magnum.sqlite").display()),
        }
    }
}

/// Environment values are TOML scalars when they parse as such (`20`, `true`), else strings;
/// a comma list becomes an array for list keys such as `noauth_roles`.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(v) = format!("v = {raw}").parse::<toml::Table>() {
        if let Some(v) = v.get("v") {
            if !matches!(v, toml::Value::Table(_)) {
                return v.clone();
            }
        }
    }
    toml::Value::String(raw.to_owned())
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value, key: &str) -> Result<(), ConfigError> {
    let invalid = |m: &str| ConfigError::Invalid { origin: key.to_owned(), message: m.to_owned() };
    match path {
        [leaf] => {
            let value = match (leaf.as_str(), value) {
                ("noauth_roles", toml::Value::String(s)) => {
                    toml::Value::Array(s.split(',').map(|r| toml::Value::String(r.trim().to_owned())).collect())
                }
                (_, v) => v,
            };
            table.insert(leaf.clone(), value);
            Ok(())
        }
        [section, rest @ ..] => {
            let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let sub = entry.as_table_mut().ok_or_else(|| invalid("is not a section"))?;
            insert(sub, rest, value, key)
        }
        [] => Err(invalid("empty key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, env(&[])).expect("defaults");
        assert_eq!(c.api.bind.to_string(), "127.0.0.1:9511");
        assert_eq!(c.quotas.max_clusters_per_project, 20);
        assert_eq!(c.auth.strategy, AuthStrategy::Noauth);
        assert!(c.flavor_names().contains(&"m1.small".to_owned()));
        assert!(c.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn file_then_environment() {
        let dir = std::env::temp_dir().join(format!("magnum-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let file = dir.join("magnum.toml");
        std::fs::write(&file, "data_dir = \"/srv/m\"\n[api]\nbind = \"127.0.0.1:9600\"\nmax_limit = 50\n").expect("write");
        let c = Config::load(
            Some(&file),
            env(&[
                ("MAGNUM_API__MAX_LIMIT", "10"),
                ("MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT", "3"),
                ("MAGNUM_AUTH__NOAUTH_ROLES", "member,reader"),
                ("MAGNUM_TEST_DATABASE_URL", "ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.data_dir, PathBuf::from("/srv/m"));
        assert_eq!(c.api.bind.port(), 9600);
        assert_eq!(c.api.max_limit, 10, "environment wins over the file");
        assert_eq!(c.quotas.max_clusters_per_project, 3);
        assert_eq!(c.auth.noauth_roles, vec!["member", "reader"]);
    }

    #[test]
    fn mistakes_are_named() {
        let e = Config::load(None, env(&[("MAGNUM_API__BINDD", "x")])).expect_err("unknown key");
        assert!(e.to_string().contains("bindd"), "{e}");
        let e = Config::load(None, env(&[("MAGNUM_API__BIND", "not-an-address")])).expect_err("bad address");
        assert!(e.to_string().contains("invalid"), "{e}");
        let e = Config::load(Some(Path::new("/nonexistent/magnum.toml")), env(&[])).expect_err("missing file");
        assert!(e.to_string().contains("/nonexistent/magnum.toml"), "{e}");
    }
}
