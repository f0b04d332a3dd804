#!/usr/bin/env bash
# Builds release binaries, starts what the benchmarks need, and runs one:
#   bash scripts/bench.sh [api] [--seconds 10 --bays 1000]   control plane, SQLite and PostgreSQL
#   bash scripts/bench.sh bays [--rounds 5 --parallel 10]    real swarm bays on the local Docker engine
#   bash scripts/bench.sh containers [--sequential 20 --burst 50]   the container API on a real bay
#   bash scripts/bench.sh kube [--sequential 20]   pods on a real Kubernetes API server (external bay)
#   bash scripts/bench.sh kube-bays [--rounds 3 --parallel 3 --sequential 10]   real Kubernetes bays on the local Docker engine
#   bash scripts/bench.sh scale-out [--clients 4 --bays 1000 --parallel 6]   2 apis + 2 conductors, PostgreSQL, RabbitMQ
#   bash scripts/bench.sh auth [--clients 2 --seconds 10]   what Keystone token validation costs
#   bash scripts/bench.sh guard [--sequential 200]   what the node guard adds to a bay's Docker API
#   bash scripts/bench.sh lifecycle [--rounds 5]   nodegroups added and removed, failed workers auto-healed, managers resized, upgrades
#   bash scripts/bench.sh chaos [--soak-seconds 1800 --fault-interval 10 --seed 1]   a soak under combined faults: 2 apis +
#        2 conductors, swarm and Kubernetes bays, processes killed and paused, PostgreSQL (its 15/faults cluster), RabbitMQ
#        and the Docker engine restarted, node containers killed; prints the invariants, exits 1 on a violation
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
export MAGNUM_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
cargo build --release --quiet -p magnum-server -p magnum-bench
if [ "${1:-api}" = auth ]; then
  export MAGNUM_TEST_KEYSTONE_URL=$(scripts/start-keystone.sh)
fi
if [ "${1:-api}" = kube ]; then
  export MAGNUM_TEST_KUBECONFIG=$(scripts/start-kubernetes.sh)
fi
if [ "${1:-api}" = scale-out ] || [ "${1:-api}" = chaos ]; then
  export MAGNUM_TEST_AMQP_URL=$(scripts/start-rabbitmq.sh)
fi
if [ "${1:-api}" = chaos ]; then
  # The soak stops and starts this cluster: never the one other work uses.
  export MAGNUM_TEST_FAULT_POSTGRES_URL=$(scripts/start-postgres.sh faults)
  scripts/start-docker.sh >/dev/null
  log "building the node images (Kubernetes from Debian's source package the first time: about 10 minutes)"
  target/release/magnum-server node-image build --kubernetes-bin "$(scripts/build-kubernetes.sh)" >/dev/null
  exec target/release/magnum-bench "$@" --kubernetes
fi
if [ "${1:-api}" = bays ] || [ "${1:-api}" = containers ] || [ "${1:-api}" = scale-out ] || [ "${1:-api}" = guard ] || [ "${1:-api}" = lifecycle ]; then
  scripts/start-docker.sh >/dev/null
  target/release/magnum-server node-image build >/dev/null
fi
if [ "${1:-api}" = kube-bays ]; then
  scripts/start-docker.sh >/dev/null
  target/release/magnum-server node-image build --kubernetes-bin "$(scripts/build-kubernetes.sh)" >/dev/null
fi
exec target/release/magnum-bench "$@"
