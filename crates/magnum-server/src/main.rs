//! `magnum-server all | api | conductor`: see `magnum_server` for what each mode starts.

use anyhow::Context;
use clap::{Parser, Subcommand};
use magnum_config::Config;
use magnum_server::Mode;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "magnum-server", version, about = "magnum-rs: OpenStack Magnum's container-infrastructure API, in Rust")]
struct Cli {
    /// TOML configuration file; MAGNUM_<SECTION>__<KEY> environment variables override it.
    #[arg(long, global = true)]
    config_file: Option<PathBuf>,
    /// Where state lives (the SQLite file of the all-in-one mode).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Address the API listens on.
    #[arg(long, global = true)]
    bind: Option<SocketAddr>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// API and conductor in one process: SQLite, in-process bus, noauth. Start here.
    All,
    /// The REST API alone.
    Api,
    /// A conductor alone.
    Conductor,
    /// Images for bays, built offline from this host's packages.
    NodeImage {
        #[command(subcommand)]
        action: NodeImageAction,
    },
    /// Registers the container-infra service and its public endpoint in Keystone, with the
    /// `[auth]` service credentials (idempotent).
    KeystoneRegister {
        /// The API's public URL, e.g. http://127.0.0.1:9511/v1
        #[arg(long)]
        public_url: String,
        #[arg(long, default_value = "RegionOne")]
        region: String,
        /// The service's name in the catalog.
        #[arg(long, default_value = "magnum")]
        name: String,
    },
    /// Removes this deployment's queue (`[conductor] topic`) from the broker of
    /// `transport_url`: when a deployment that shared a RabbitMQ is retired. Refused while its
    /// conductors run or commands wait in it, unless --force (which drops those commands).
    BusRemoveQueue {
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum NodeImageAction {
    /// Builds magnum/swarm-node (from the host's docker.io) and magnum/busybox (busybox-static)
    /// on the configured Docker engine; with --kubernetes-bin, also magnum/pause and
    /// magnum/kubernetes-node (the Kubernetes binaries scripts/build-kubernetes.sh makes).
    Build {
        /// The directory scripts/build-kubernetes.sh prints (kubelet, kube-apiserver, ..., pause).
        #[arg(long)]
        kubernetes_bin: Option<PathBuf>,
    },
    /// Announces that process PID is building IMAGE on this host: until it ends, conductors
    /// sharing this data directory report the image as being built, and templates and bays
    /// naming it are told to wait rather than that it is missing.
    AnnounceBuild {
        #[arg(long)]
        image: String,
        #[arg(long)]
        pid: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("MAGNUM_LOG").unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let mut config = Config::load(cli.config_file.as_deref(), std::env::vars()).context("loading configuration")?;
    if let Some(d) = cli.data_dir {
        config.data_dir = d;
    }
    if let Some(b) = cli.bind {
        config.api.bind = b;
    }
    let mode = match cli.command {
        Command::All => Mode::All,
        Command::Api => Mode::Api,
        Command::Conductor => Mode::Conductor,
        Command::NodeImage { action: NodeImageAction::Build { kubernetes_bin } } => {
            return build_images(&config, kubernetes_bin.as_deref()).await
        }
        Command::NodeImage { action: NodeImageAction::AnnounceBuild { image, pid } } => {
            let dir = config.image_builds_dir();
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let file = dir.join(image.replace(['/', ':'], "_"));
            std::fs::write(&file, format!("{image}\n{pid}\n")).with_context(|| format!("writing {}", file.display()))?;
            return Ok(());
        }
        Command::BusRemoveQueue { force } => {
            let url = config.transport_url.clone().context("transport_url is not set: this deployment uses no message bus")?;
            let dropped = magnum_rpc::amqp::remove_queue(&url, &config.conductor.topic, force).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("queue {} removed ({dropped} waiting commands dropped)", config.conductor.topic);
            return Ok(());
        }
        Command::KeystoneRegister { public_url, region, name } => {
            let keystone = magnum_api::keystone::KeystoneAuth::new(&config.auth).map_err(|e| anyhow::anyhow!("{e}"))?;
            let done = keystone.register(&name, &public_url, &region).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{done}");
            return Ok(());
        }
    };
    if mode != Mode::Conductor && config.auth.strategy == magnum_config::AuthStrategy::Noauth {
        announce_noauth(&config);
    }
    tracing::info!(data_dir = %config.data_dir.display(), database = %magnum_store::redact(&config.database_url()), "starting");
    let running = magnum_server::start(mode, config).await?;
    running.wait().await;
    tracing::info!("stopped");
    Ok(())
}

/// Noauth means anyone who can reach the port is whoever its headers claim: say so loudly.
fn announce_noauth(config: &Config) {
    let a = &config.auth;
    let banner = format!(
        "AUTHENTICATION IS OFF (auth strategy: noauth). Requests act as the project/user/roles in their \
         X-Project-Id / X-User-Id / X-Roles headers; without them as project '{}', user '{}', roles [{}]. \
         Bind only to addresses you trust (now {}).",
        a.noauth_project_id,
        a.noauth_user_id,
        a.noauth_roles.join(","),
        config.api.bind
    );
    eprintln!("\n!!! {banner}\n");
    tracing::warn!("{banner}");
}

async fn build_images(config: &Config, kubernetes_bin: Option<&std::path::Path>) -> anyhow::Result<()> {
    let docker = magnum_server::engine_access(config).connect(600)?;
    let started = std::time::Instant::now();
    tracing::info!(engine = %config.docker.url, "building images from this host's packages");
    let mut built = magnum_drivers::docker::images::build_all(&docker).await?;
    match kubernetes_bin {
        Some(bin) => {
            tracing::info!(binaries = %bin.display(), "building the Kubernetes node image (about 500 MB)");
            built.extend(magnum_drivers::kubernetes::bay::image::build(&docker, bin).await?);
        }
        None => tracing::info!(
            "no --kubernetes-bin: the Kubernetes node image is not built (scripts/build-kubernetes.sh makes the binaries it needs)"
        ),
    }
    for (image, bytes) in built {
        println!("{image}\t{:.1} MB", bytes as f64 / 1e6);
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "images built");
    Ok(())
}
