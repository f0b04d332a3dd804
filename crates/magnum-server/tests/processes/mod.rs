//! A deployment of real `magnum-server` processes for scale-out and fault tests: several api
//! and conductor processes sharing one fresh PostgreSQL database, one RabbitMQ (a queue of
//! their own), one data directory (the certificate key) and, optionally, the Docker engine.

#![allow(dead_code)]

use magnum_client::Client;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The broker's URL, or None (with a loud SKIP) when none is configured.
pub fn amqp_url(test: &str) -> Option<String> {
    crate::common::service_url("MAGNUM_TEST_AMQP_URL", test, "scripts/start-rabbitmq.sh")
}

/// The project's scripts directory (the fault tests restart services through it).
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts").join(name)
}

pub struct Deployment {
    pub dir: PathBuf,
    pub db_url: String,
    pub amqp_url: String,
    pub topic: String,
    /// Environment every process gets (tests add their own settings).
    pub env: Vec<(String, String)>,
    procs: Vec<(String, Child)>,
    store: Option<magnum_store::testing::TestStore>,
}

impl Deployment {
    /// A fresh database and queue; None when PostgreSQL or RabbitMQ is not configured.
    pub async fn new(test: &str) -> Option<Deployment> {
        let amqp_url = amqp_url(test)?;
        let store = magnum_store::testing::postgres(test).await?;
        let dir = std::env::temp_dir().join(format!("magnum-deploy-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("data dir");
        let topic = format!("magnum-test-{}", uuid::Uuid::new_v4().simple());
        let env = vec![
            ("MAGNUM_DATABASE__CONNECTION".to_owned(), store.url.clone()),
            ("MAGNUM_TRANSPORT_URL".to_owned(), amqp_url.clone()),
            ("MAGNUM_CONDUCTOR__TOPIC".to_owned(), topic.clone()),
            ("MAGNUM_CONDUCTOR__REPORT_INTERVAL".to_owned(), "1".into()),
            ("MAGNUM_CONDUCTOR__PERIODIC_INTERVAL".to_owned(), "1".into()),
            ("MAGNUM_CONDUCTOR__HEALTH_INTERVAL".to_owned(), "1".into()),
            ("MAGNUM_CONDUCTOR__LEASE_TTL".to_owned(), "4".into()),
            ("MAGNUM_CONDUCTOR__SERVICE_DOWN_TIME".to_owned(), "3".into()),
            ("MAGNUM_DOCKER__ENABLED".to_owned(), "false".into()),
            ("MAGNUM_LOG".to_owned(), "info".into()),
            ("MAGNUM_QUOTAS__MAX_CLUSTERS_PER_PROJECT".to_owned(), "1000".into()),
        ];
        Some(Deployment { dir, db_url: store.url.clone(), amqp_url, topic, env, procs: vec![], store: Some(store) })
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn spawn(&mut self, name: &str, args: &[&str], extra: &[(&str, &str)]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_magnum-server"))
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn magnum-server");
        self.procs.push((name.to_owned(), child));
    }

    /// Starts `magnum-server api` and waits until it answers.
    pub async fn api(&mut self, name: &str) -> Client {
        let port = free_port();
        self.spawn(name, &["--bind", &format!("127.0.0.1:{port}"), "api"], &[]);
        let c = Client::new(&format!("http://127.0.0.1:{port}"));
        for _ in 0..100 {
            if c.get("/").await.is_ok_and(|r| r.status == 200) {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} did not answer: {}", self.log(name));
    }

    /// Starts `magnum-server conductor` reporting as `host`.
    pub fn conductor(&mut self, host: &str) {
        self.spawn(host, &["conductor"], &[("MAGNUM_CONDUCTOR__HOST", host)]);
    }

    /// SIGKILL: no chance to clean up or release anything.
    pub fn kill9(&mut self, name: &str) {
        for (n, child) in &mut self.procs {
            if n == name {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// SIGSTOP (`stop = true`) or SIGCONT: the process freezes with everything it holds, as a
    /// stalled or swapped-out machine does, and later carries on where it was.
    pub fn freeze(&self, name: &str, stop: bool) {
        for (n, child) in &self.procs {
            if n == name {
                let signal = if stop { "-STOP" } else { "-CONT" };
                let ok = Command::new("kill").arg(signal).arg(child.id().to_string()).status().is_ok_and(|s| s.success());
                assert!(ok, "kill {signal} {name} failed");
            }
        }
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    pub async fn finish(mut self) {
        for (_, child) in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(s) = self.store.take() {
            s.finish().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for (_, child) in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
