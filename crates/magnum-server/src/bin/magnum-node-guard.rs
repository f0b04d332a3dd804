//! `magnum-node-guard`: run inside every swarm node, before its dockerd, which consults it as
//! its authorization plugin. Built with the server so `node-image build` finds it beside itself.
//!
//! Usage: magnum-node-guard [--socket PATH] [--engine PATH] [--manager CN] [--pinned PATH] [--anonymous-manages]

use magnum_node_guard::rules::Policy;
use std::path::PathBuf;

fn main() {
    let mut socket = PathBuf::from("/run/docker/plugins/magnum-node-guard.sock");
    let mut engine = PathBuf::from("/var/run/docker.sock");
    let mut policy = Policy { manager: "Magnum-Conductor".into(), anonymous_manages: false };
    let mut pinned = PathBuf::from(magnum_node_guard::pin::DEFAULT_PATH);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--socket" => socket = args.next().map(PathBuf::from).unwrap_or(socket),
            "--engine" => engine = args.next().map(PathBuf::from).unwrap_or(engine),
            "--manager" => policy.manager = args.next().unwrap_or(policy.manager),
            "--pinned" => pinned = args.next().map(PathBuf::from).unwrap_or(pinned),
            "--anonymous-manages" => policy.anonymous_manages = true,
            other => {
                eprintln!("magnum-node-guard: unknown argument '{other}'; usage: [--socket PATH] [--engine PATH] [--manager CN] [--pinned PATH] [--anonymous-manages]");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = magnum_node_guard::server::serve(&socket, &engine, policy, &pinned) {
        eprintln!("magnum-node-guard: cannot serve on {}: {e}", socket.display());
        std::process::exit(1);
    }
}
