//! The harness of the CLI's tests: a real magnum-server (API + conductor, in-process bus, a
//! fresh SQLite store) on an ephemeral 127.0.0.1 port, and the `magnum` binary run against it
//! as project p1's member.

// Each test binary uses its own share of these helpers.
#![allow(dead_code)]

use serde_json::Value;
use std::process::{Command, Stdio};

pub struct Server {
    pub base: String,
    pub running: magnum_server::Running,
    pub store: magnum_store::testing::TestStore,
    /// What the server was started with (its data directory holds the key that seals the
    /// certificates' keys in the store).
    pub config: magnum_config::Config,
}

impl Server {
    pub async fn stop(self) {
        self.running.stop();
        self.store.finish().await;
    }
}

pub async fn server(docker: bool, keystone: Option<&str>) -> Server {
    // MAGNUM_TEST_LOG=info (or any filter) shows the server's logs while debugging a test.
    if let Ok(filter) = std::env::var("MAGNUM_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let store = magnum_store::testing::sqlite().await;
    let mut config = magnum_config::Config::load(None, Vec::<(String, String)>::new()).expect("config");
    config.api.bind = "127.0.0.1:0".parse().expect("addr");
    config.data_dir = std::env::temp_dir().join(format!("magnum-cli-{}", uuid::Uuid::new_v4().simple()));
    config.conductor.periodic_interval = 1;
    config.conductor.health_interval = 1;
    config.conductor.host = "cli-test".into();
    config.docker.enabled = docker;
    config.docker.node_timeout = 90;
    if let Some(url) = keystone {
        config.auth.strategy = magnum_config::AuthStrategy::Keystone;
        config.auth.auth_url = Some(url.to_owned());
        config.auth.username = Some("magnum".into());
        config.auth.password = Some("magnum-service-test".into());
    }
    // Without an engine the conductors build bays in name only: their creates fail with a reason.
    let mut drivers = magnum_server::drivers(&config);
    if !docker {
        drivers = magnum_test_support::nothing_built(drivers);
    }
    let running = magnum_server::start_with_drivers(
        magnum_server::Mode::All,
        config.clone(),
        store.store.clone(),
        drivers,
        std::future::pending::<()>(),
    )
    .await
    .expect("server");
    let base = format!("http://{}", running.addr.expect("listening"));
    Server { base, running, store, config }
}

fn command(base: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_magnum"));
    cmd.args(args)
        .env_clear()
        .env("OS_ENDPOINT_OVERRIDE", base)
        .env("OS_PROJECT_ID", "p1")
        .env("OS_USER_ID", "u1")
        .env("OS_ROLES", "member");
    cmd
}

fn outcome(out: std::process::Output) -> (i32, String, String) {
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `magnum args...` as project p1's member; (exit code, stdout, stderr).
pub fn magnum(base: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    outcome(command(base, args).envs(env.iter().copied()).output().expect("run magnum"))
}

/// `magnum args...` with `input` on stdin (`--manifest -`).
pub fn magnum_stdin(base: &str, args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = command(base, args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run magnum");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    outcome(child.wait_with_output().expect("magnum ends"))
}

pub fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// The value of a service's variable (`MAGNUM_TEST_*`); when unset, None after a SKIPPED
/// notice, or a panic with MAGNUM_REQUIRE_SERVICES=1 (scripts/test.sh sets it).
pub fn service_var(var: &str, test: &str, start_with: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|u| !u.is_empty()) {
        Some(u) => Some(u),
        None if std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("{test}: {var} is not set but MAGNUM_REQUIRE_SERVICES=1: run {start_with}")
        }
        None => {
            eprintln!("\n*** SKIPPED {test}: {var} is unset. Run scripts/test.sh for the full suite. ***\n");
            None
        }
    }
}
