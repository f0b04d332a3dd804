//! The chaos soak's short run (`magnum-bench chaos`, about three minutes of faults): two APIs
//! and two conductors of the debug build over PostgreSQL (the `15/faults` cluster, which the run
//! stops and starts) and RabbitMQ (restarted), on the local Docker engine (restarted too), with
//! swarm and Kubernetes bays, containers, pods, nodegroups and templates in the workload. Passes
//! when the run reports zero invariant violations after injecting faults and answering a real
//! workload. Needs RabbitMQ, the faults PostgreSQL cluster, a Docker engine and the Kubernetes
//! binaries (scripts/test.sh provides all four); without them it SKIPS loudly, or fails under
//! MAGNUM_REQUIRE_SERVICES=1. It restarts shared services: it is alone in its test binary.

use std::path::PathBuf;
use std::process::Command;

fn needed(var: &str, script: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(std::env::var("MAGNUM_REQUIRE_SERVICES").as_deref() != Ok("1"), "{var} is not set: run {script}");
            eprintln!(
                "\n*** SKIPPED docker_amqp_postgres_chaos_soak: {var} is not set ({script}). Run scripts/test.sh for the full suite. ***\n"
            );
            None
        }
    }
}

/// A count the report prints after `label` ("## Faults injected: 17" → 17).
fn figure(report: &str, label: &str) -> usize {
    report
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.trim().split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[test]
fn docker_amqp_postgres_chaos_soak_keeps_every_invariant() {
    let (Some(_), Some(_), Some(kubernetes_bin)) = (
        needed("MAGNUM_TEST_AMQP_URL", "scripts/start-rabbitmq.sh"),
        needed("MAGNUM_TEST_FAULT_POSTGRES_URL", "scripts/start-postgres.sh faults"),
        needed("MAGNUM_TEST_KUBERNETES_BIN", "scripts/build-kubernetes.sh"),
    ) else {
        return;
    };
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_magnum-bench"));
    let server = bench.with_file_name("magnum-server");
    assert!(server.exists(), "{} is missing: build it first (cargo build -p magnum-server; cargo test --workspace does)", server.display());

    // The node images, built on the engine from the host's packages (quick when they exist).
    let built =
        Command::new(&server).args(["node-image", "build", "--kubernetes-bin", &kubernetes_bin]).output().expect("run magnum-server");
    assert!(built.status.success(), "node-image build: {}", String::from_utf8_lossy(&built.stderr));

    let seed = std::env::var("MAGNUM_CHAOS_SEED").unwrap_or_else(|_| "1".into());
    let run = Command::new(&bench)
        .args(["chaos", "--kubernetes", "--soak-seconds", "180", "--fault-interval", "9", "--seed", &seed])
        .arg("--server")
        .arg(&server)
        .output()
        .expect("run magnum-bench chaos");
    let report = String::from_utf8_lossy(&run.stdout);
    println!("{report}");
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the soak found violations (seed {seed}; its report is above)");
    assert!(report.contains("\ninvariant violations: 0"), "{report}");
    // Not a vacuous pass: faults were injected and a real workload was answered.
    assert!(figure(&report, "## Faults injected:") >= 8, "too few faults injected");
    assert!(figure(&report, "## Requests:") >= 300, "too few requests");
    assert!(figure(&report, "## Bays:") >= 5, "too few bays");
}

#[test]
fn report_figures_are_read_as_printed() {
    let report = "# head\n\n## Faults injected: 17\n\n## Requests: 949 (21 unanswered)\n## Bays: 35 accepted (4 Kubernetes)\n";
    assert_eq!(figure(report, "## Faults injected:"), 17);
    assert_eq!(figure(report, "## Requests:"), 949);
    assert_eq!(figure(report, "## Bays:"), 35);
    assert_eq!(figure(report, "## Nothing:"), 0);
}
