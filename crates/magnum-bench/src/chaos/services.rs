//! The shared services the deployment stands on, disturbed for real: the PostgreSQL cluster
//! stopped and started (`pg_ctlcluster`), RabbitMQ restarted and the Docker engine stopped and
//! started (through the project's own scripts, as the fault tests do), a bay's node container
//! killed on the engine.

use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::process::Command;

pub(crate) struct Services {
    /// The project's `scripts/` directory.
    pub scripts: PathBuf,
    /// `pg_ctlcluster`'s version and name of the cluster serving the deployment's database.
    pub pg_cluster: (String, String),
    /// The project label every engine object of the workload's bays carries.
    pub project: String,
}

async fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().await.with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Services {
    pub async fn stop_database(&self) -> anyhow::Result<()> {
        let (v, n) = &self.pg_cluster;
        run(Command::new("pg_ctlcluster").args([v, n, "stop", "-m", "fast"]), "pg_ctlcluster stop").await.map(drop)
    }

    pub async fn start_database(&self) -> anyhow::Result<()> {
        let (v, n) = &self.pg_cluster;
        run(Command::new("pg_ctlcluster").args([v.as_str(), n.as_str(), "start"]), "pg_ctlcluster start").await.map(drop)
    }

    /// Stops and starts the broker; durable queues and persistent messages survive it.
    pub async fn restart_broker(&self) -> anyhow::Result<()> {
        run(Command::new("bash").arg(self.scripts.join("start-rabbitmq.sh")).arg("restart"), "start-rabbitmq.sh restart").await.map(drop)
    }

    /// Stops dockerd (every node container goes down with it) and starts it again.
    pub async fn restart_engine(&self) -> anyhow::Result<()> {
        run(Command::new("pkill").args(["-x", "dockerd"]), "pkill dockerd").await?;
        let started = Instant::now();
        while Command::new("pgrep").args(["-x", "dockerd"]).output().await.is_ok_and(|o| o.status.success()) {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("dockerd did not stop within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        run(Command::new("bash").arg(self.scripts.join("start-docker.sh")), "start-docker.sh").await.map(drop)
    }

    /// Whether the services are all up: the database accepts connections, the broker and the
    /// engine answer.
    pub async fn all_up(&self) -> bool {
        let (v, n) = &self.pg_cluster;
        let pg = Command::new("pg_ctlcluster").args([v, n, "status"]).output().await.is_ok_and(|o| o.status.success());
        let engine = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output().await;
        let broker = Command::new("rabbitmqctl").args(["-n", "rabbit@localhost", "-q", "status"]).output().await;
        pg && engine.is_ok_and(|o| o.status.success()) && broker.is_ok_and(|o| o.status.success())
    }

    /// Names of the running node containers of the workload's bays.
    pub async fn node_containers(&self) -> anyhow::Result<Vec<String>> {
        let filter = format!("label=org.openstack.magnum.project={}", self.project);
        let out = run(Command::new("docker").args(["ps", "--filter", &filter, "--format", "{{.Names}}"]), "docker ps").await?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    pub async fn kill_container(&self, name: &str) -> anyhow::Result<()> {
        run(Command::new("docker").args(["kill", name]), "docker kill").await.map(drop)
    }

    /// Engine objects of `kind` (container, network, volume) carrying the workload's project
    /// label, each as (its name, the bay label it carries).
    pub async fn owned(&self, kind: &str) -> anyhow::Result<Vec<(String, String)>> {
        let filter = format!("label=org.openstack.magnum.project={}", self.project);
        let format = r#"{{.Name}} {{.Label "org.openstack.magnum.bay"}}"#;
        let mut cmd = Command::new("docker");
        cmd.args([kind, "ls", "--filter", &filter, "--format"]);
        if kind == "container" {
            cmd.args([r#"{{.Names}} {{.Label "org.openstack.magnum.bay"}}"#, "--all"]);
        } else {
            cmd.arg(format);
        }
        let out = run(&mut cmd, &format!("docker {kind} ls")).await?;
        Ok(out.lines().filter_map(|l| l.split_once(' ').map(|(n, b)| (n.to_owned(), b.trim().to_owned()))).collect())
    }
}
